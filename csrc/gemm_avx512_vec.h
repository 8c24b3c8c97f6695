/*
 * gemm_avx512_vec.h -- the vector vocabulary of the AVX-512 micro-kernels
 * (gemm_ukernel_avx512.c, gemm_ukernel_avx512_direct.c): FC_Z*, a zmm of the
 * element type, FC_H*, its half, and how MR-row panels group (fc_z_group,
 * FC_Z_DISPATCH). Included in a template body (FC_T, FC_SFX, FC_MR, FC_NR,
 * FC_IS_F64 set by gemm_internal.h), once per element type.
 */
/* Only these kernels carry the AVX-512 target: the files are compiled without it. */
#ifndef FC_AVX512_FN
#define FC_AVX512_FN __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#endif
#undef FC_Z
#undef FC_H
#undef FC_Z_DISPATCH
#undef FC_ZZERO
#undef FC_ZLOAD
#undef FC_ZLOADU
#undef FC_ZMLOAD
#undef FC_ZSTOREU
#undef FC_ZMSTORE
#undef FC_ZSET1
#undef FC_ZFMA
#undef FC_ZADD
#undef FC_ZMAX
#undef FC_ZJOIN
#undef FC_ZLO
#undef FC_ZHI
#undef FC_HLOADU
#undef FC_HMLOAD
#undef FC_HSTOREU
#undef FC_HMSTORE
#undef FC_HADD
#undef FC_MASKT
#if FC_IS_F64
#define FC_Z __m512d
#define FC_H __m256d
#define FC_MASKT __mmask8
#define FC_ZZERO() _mm512_setzero_pd()
#define FC_ZLOAD(p) _mm512_load_pd(p)
#define FC_ZLOADU(p) _mm512_loadu_pd(p)
#define FC_ZMLOAD(p, m) _mm512_maskz_loadu_pd(m, p)
#define FC_ZSTOREU(p, v) _mm512_storeu_pd(p, v)
#define FC_ZMSTORE(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define FC_ZSET1(x) _mm512_set1_pd(x)
#define FC_ZFMA(a, b, c) _mm512_fmadd_pd(a, b, c)
#define FC_ZADD(a, b) _mm512_add_pd(a, b)
#define FC_ZMAX(a, b) _mm512_max_pd(a, b)
#define FC_ZJOIN(lo, hi) _mm512_insertf64x4(_mm512_castpd256_pd512(lo), hi, 1)
#define FC_ZLO(v) _mm512_castpd512_pd256(v)
#define FC_ZHI(v) _mm512_extractf64x4_pd(v, 1)
#define FC_HLOADU(p) _mm256_loadu_pd(p)
#define FC_HMLOAD(p, m) _mm256_maskz_loadu_pd(m, p)
#define FC_HSTOREU(p, v) _mm256_storeu_pd(p, v)
#define FC_HMSTORE(p, m, v) _mm256_mask_storeu_pd(p, m, v)
#define FC_HADD(a, b) _mm256_add_pd(a, b)
#else
#define FC_Z __m512
#define FC_H __m256
#define FC_MASKT __mmask16
#define FC_ZZERO() _mm512_setzero_ps()
#define FC_ZLOAD(p) _mm512_load_ps(p)
#define FC_ZLOADU(p) _mm512_loadu_ps(p)
#define FC_ZMLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define FC_ZSTOREU(p, v) _mm512_storeu_ps(p, v)
#define FC_ZMSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define FC_ZSET1(x) _mm512_set1_ps(x)
#define FC_ZFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define FC_ZADD(a, b) _mm512_add_ps(a, b)
#define FC_ZMAX(a, b) _mm512_max_ps(a, b)
#define FC_ZJOIN(lo, hi) _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1)
#define FC_ZLO(v) _mm512_castps512_ps256(v)
#define FC_ZHI(v) _mm512_extractf32x8_ps(v, 1)
#define FC_HLOADU(p) _mm256_loadu_ps(p)
#define FC_HMLOAD(p, m) _mm256_maskz_loadu_ps(m, p)
#define FC_HSTOREU(p, v) _mm256_storeu_ps(p, v)
#define FC_HMSTORE(p, m, v) _mm256_mask_storeu_ps(p, m, v)
#define FC_HADD(a, b) _mm256_add_ps(a, b)
#endif

#if FC_MR != 6 || FC_NR != (FC_IS_F64 ? 8 : 16)
#error "AVX-512 micro-kernels are written for a 6 x (one zmm) tile"
#endif

/* Panels per group: 3 while at least 5 remain (a lone panel would be latency
 * bound), 4 left go as 2 + 2. */
static inline int FC_SFX(fc_z_group)(int panels_left)
{
    return panels_left == 4 ? 2 : (panels_left < 3 ? panels_left : 3);
}

/* A group of np panels whose last one has rows - (np-1)*MR live rows: the
 * instance whose last panel runs 2, 4 or 6 rows (the fewest even count that
 * covers them), so 16 or 32 filters do not pay for the padding rows of their
 * last panel (16 = 6 + 6 + 4: 16 FMAs a k step, not 18). */
#define FC_Z_DISPATCH(GROUP)                                                     \
    do {                                                                         \
        const int live = rows - (np - 1) * FC_MR;                                \
        if (np == 3) {                                                           \
            if (live <= 2) GROUP(3, 2); else if (live <= 4) GROUP(3, 4); else GROUP(3, 6); \
        } else if (np == 2) {                                                    \
            if (live <= 2) GROUP(2, 2); else if (live <= 4) GROUP(2, 4); else GROUP(2, 6); \
        } else {                                                                 \
            if (live <= 2) GROUP(1, 2); else if (live <= 4) GROUP(1, 4); else GROUP(1, 6); \
        }                                                                        \
    } while (0)
