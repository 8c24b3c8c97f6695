/*
 * gemm_ukernel_avx512.c -- AVX-512 micro-kernels (contracts at the top of
 * gemm_internal.h): the packed block kernel (fc_ukb), the direct-B kernels
 * (fc_dkr: A panels against one tile; fc_dkw: one A panel against three
 * tiles) and the direct-A kernel over several B micro-panels (fc_akm).
 *
 * The tile is the AVX2 one -- MR = 6 rows of NR = 16 floats / 8 doubles --
 * and so is every packed buffer: one B micro-panel row is exactly one zmm
 * register. One panel alone would give 6 accumulators, too few to cover the
 * FMA latency at two FMAs per cycle, so a call runs up to three A panels
 * (18 rows) against the same B vector: 18 accumulators + 1 B of the 32
 * registers, A broadcast straight from memory by the FMA.
 *
 * Every element is the AVX2 kernel's: products of p = 0, 1, ... fused into
 * one accumulator from zero, then + C (beta 1), + bias, max(., 0). FMA rounds
 * once per element whatever the vector width, so the two paths give the same
 * bits and packed buffers never depend on the path.
 *
 * Compiled without -mavx512f: only these functions carry the target
 * attribute, and they run only when fc_simd_path() is FC_SIMD_AVX512.
 */
#ifndef FC_T
#include "gemm_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#define FC_AVX512_FN __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))

#define FC_TMPL_SET 32
#include "gemm_internal.h"
#include "gemm_ukernel_avx512.c"
#define FC_TMPL_SET 64
#include "gemm_internal.h"
#include "gemm_ukernel_avx512.c"
#define FC_TMPL_SET 0
#include "gemm_internal.h"

#else
typedef int fc_gemm_ukernel_avx512_unused;
#endif

#else /* ------------------------- template body ------------------------- */

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

/* NP panels (NP*MR accumulators, LAST rows of the last panel computed) of the
 * packed kernel: rows i < mr of C. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_ukm_group)(const int NP, const int LAST, fc_int kc, const FC_T *restrict a,
                     fc_int pstride, const FC_T *restrict b, FC_T *restrict c, fc_int ldc,
                     int accumulate, int mr, int nr)
{
    FC_Z acc[3 * FC_MR];
#pragma GCC unroll 18
    for (int i = 0; i < NP * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *a0 = a, *a1 = a + pstride, *a2 = a + 2 * pstride;
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        const FC_Z bv = FC_ZLOAD(b + p * FC_NR);
        for (int i = 0; i < (NP == 1 ? LAST : FC_MR); ++i)
            acc[i] = FC_ZFMA(FC_ZSET1(a0[p * FC_MR + i]), bv, acc[i]);
        if (NP > 1) {
            for (int i = 0; i < (NP == 2 ? LAST : FC_MR); ++i)
                acc[FC_MR + i] = FC_ZFMA(FC_ZSET1(a1[p * FC_MR + i]), bv, acc[FC_MR + i]);
        }
        if (NP > 2) {
#pragma GCC unroll 6
            for (int i = 0; i < LAST; ++i)
                acc[2 * FC_MR + i] = FC_ZFMA(FC_ZSET1(a2[p * FC_MR + i]), bv, acc[2 * FC_MR + i]);
        }
    }
    /* Rows: i < mr of this group, the row i of panel i / MR. */
    if (nr == FC_NR) {
#pragma GCC unroll 18
        for (int i = 0; i < NP * FC_MR; ++i) {
            if (i >= mr)
                break;
            FC_T *ci = c + (fc_int)i * ldc;
            FC_Z v = acc[i];
            if (accumulate)
                v = FC_ZADD(FC_ZLOADU(ci), v);
            FC_ZSTOREU(ci, v);
        }
    } else {
        const FC_MASKT m = (FC_MASKT)((1u << nr) - 1u);
#pragma GCC unroll 18
        for (int i = 0; i < NP * FC_MR; ++i) {
            if (i >= mr)
                break;
            FC_T *ci = c + (fc_int)i * ldc;
            FC_Z v = acc[i];
            if (accumulate)
                v = FC_ZADD(FC_ZMLOAD(ci, m), v);
            FC_ZMSTORE(ci, m, v);
        }
    }
}

/* One B panel against the A panels of mr rows, up to three A panels a pass. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_ukm_rows)(fc_int kc, const FC_T *restrict a, fc_int pstride, const FC_T *restrict b,
                    FC_T *restrict c, fc_int ldc, int accumulate, int mr, int nr)
{
    int panels = (mr + FC_MR - 1) / FC_MR;
    while (panels > 0) {
        const int np = FC_SFX(fc_z_group)(panels);
        const int rows = mr < np * FC_MR ? mr : np * FC_MR;
#define FC_UKM(NP, LAST) \
    FC_SFX(fc_ukm_group)(NP, LAST, kc, a, pstride, b, c, ldc, accumulate, rows, nr)
        FC_Z_DISPATCH(FC_UKM);
#undef FC_UKM
        a += np * pstride;
        c += (fc_int)rows * ldc;
        mr -= rows;
        panels -= np;
    }
}

/* One A panel (LIVE of its rows computed) against NB B panels: the row
 * broadcasts of a k step feed every panel, 6*NB accumulators. Nine loads per
 * 18 FMAs where the A-panel groups above need nineteen: on Zen 5 the loads,
 * not the FMAs, set the pace of those (~15% slower in L1). A is a packed
 * panel, or with DIRECT_A (fc_akm) element (i, p) is at rows[i][offs[p]]. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_ukn_group)(const int NB, const int LIVE, const int DIRECT_A, fc_int kc,
                     const FC_T *restrict a, const FC_T *const *rows, const fc_int *restrict offs,
                     const FC_T *restrict b, fc_int bstride, FC_T *restrict c, fc_int ldc,
                     int accumulate, int mr, int nr)
{
    FC_Z acc[3 * FC_MR];
#pragma GCC unroll 18
    for (int i = 0; i < NB * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *b0 = b, *b1 = b + bstride, *b2 = b + 2 * bstride;
    const FC_T *r[FC_MR];
    if (DIRECT_A)
        for (int i = 0; i < FC_MR; ++i)
            r[i] = rows[i];
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        FC_Z av[FC_MR];
        if (DIRECT_A) {
            const fc_int o = offs[p];
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                av[i] = FC_ZSET1(r[i][o]);
        } else {
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                av[i] = FC_ZSET1(a[p * FC_MR + i]);
        }
        FC_Z bv = FC_ZLOAD(b0 + p * FC_NR);
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[i] = FC_ZFMA(av[i], bv, acc[i]);
        if (NB > 1) {
            bv = FC_ZLOAD(b1 + p * FC_NR);
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                acc[FC_MR + i] = FC_ZFMA(av[i], bv, acc[FC_MR + i]);
        }
        if (NB > 2) {
            bv = FC_ZLOAD(b2 + p * FC_NR);
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                acc[2 * FC_MR + i] = FC_ZFMA(av[i], bv, acc[2 * FC_MR + i]);
        }
    }
#pragma GCC unroll 3
    for (int q = 0; q < NB; ++q) {
        const int nq = nr - q * FC_NR < FC_NR ? nr - q * FC_NR : FC_NR;
        const FC_MASKT m = (FC_MASKT)((1u << nq) - 1u);
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i) {
            if (i >= mr)
                break;
            FC_T *ci = c + (fc_int)i * ldc + q * FC_NR;
            FC_Z v = acc[q * FC_MR + i];
            if (nq == FC_NR) {
                if (accumulate)
                    v = FC_ZADD(FC_ZLOADU(ci), v);
                FC_ZSTOREU(ci, v);
            } else {
                if (accumulate)
                    v = FC_ZADD(FC_ZMLOAD(ci, m), v);
                FC_ZMSTORE(ci, m, v);
            }
        }
    }
}

/* Packed block kernel (contract in gemm_internal.h). One B panel: A panels
 * grouped by three (fc_ukm_group); several: each A panel against B panels
 * grouped by three (fc_ukn_group). */
FC_AVX512_FN
void FC_SFX(fc_ukb_avx512)(fc_int kc, const FC_T *restrict a, fc_int pstride,
                           const FC_T *restrict b, fc_int bstride, FC_T *restrict c,
                           fc_int ldc, FC_T beta, int mr, int nr)
{
    const int accumulate = beta != 0;
    const int bpanels = (nr + FC_NR - 1) / FC_NR;
    if (bpanels <= 1) {
        FC_SFX(fc_ukm_rows)(kc, a, pstride, b, c, ldc, accumulate, mr, nr);
        return;
    }
    for (int i0 = 0; i0 < mr; i0 += FC_MR) {
        const int rows = mr - i0 < FC_MR ? mr - i0 : FC_MR;
        const FC_T *ap = a + (i0 / FC_MR) * pstride;
        const FC_T *bj = b;
        FC_T *cj = c + (fc_int)i0 * ldc;
        int cols_left = nr, panels = bpanels;
        while (panels > 0) {
            const int nb = FC_SFX(fc_z_group)(panels);
            const int cols = cols_left < nb * FC_NR ? cols_left : nb * FC_NR;
#define FC_UKN(NB, LIVE) \
    FC_SFX(fc_ukn_group)(NB, LIVE, 0, kc, ap, NULL, NULL, bj, bstride, cj, ldc, accumulate, rows, \
                         cols)
            if (nb == 3) {
                if (rows <= 2) FC_UKN(3, 2); else if (rows <= 4) FC_UKN(3, 4); else FC_UKN(3, 6);
            } else if (nb == 2) {
                if (rows <= 2) FC_UKN(2, 2); else if (rows <= 4) FC_UKN(2, 4); else FC_UKN(2, 6);
            } else {
                if (rows <= 2) FC_UKN(1, 2); else if (rows <= 4) FC_UKN(1, 4); else FC_UKN(1, 6);
            }
#undef FC_UKN
            bj += nb * bstride;
            cj += cols;
            cols_left -= cols;
            panels -= nb;
        }
    }
}

/* Whether a tile's two chunks lie side by side in the image and in C (up to 16
 * pixels of one row, the first chunk full): then one full-width load and one store
 * (masked when n1 < CW) replace two halves, their join and their extracts. */
static inline int FC_SFX(fc_z_side_by_side)(const FC_T *x0, const FC_T *x1, const FC_T *c0,
                                            const FC_T *c1, int n0, int n1)
{
    enum { CW = FC_NR / 2 };
    return n0 == CW && n1 >= 1 && x1 == x0 + CW && c1 == c0 + CW;
}

/* One finished row of a whole tile written as one vector (its first nlive lanes:
 * a short second chunk ends the row): + C (accumulate), + *bias, max(., 0) (relu),
 * in the order of the half-width write-back. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_z_put_row)(FC_Z v, FC_T *d, int nlive, int accumulate, const FC_T *bias, int relu)
{
    const FC_MASKT m = (FC_MASKT)((1u << nlive) - 1u);
    const int full = nlive == FC_NR;
    if (accumulate)
        v = FC_ZADD(full ? FC_ZLOADU(d) : FC_ZMLOAD(d, m), v);
    if (bias)
        v = FC_ZADD(v, FC_ZSET1(*bias));
    if (relu)
        v = FC_ZMAX(v, FC_ZZERO());
    if (full)
        FC_ZSTOREU(d, v);
    else
        FC_ZMSTORE(d, m, v);
}

/* NP panels of the direct-B kernel: each B vector joins the CW columns of x0
 * (low half) and of x1 (high half); CONTIG: x1 = x0 + CW and c1 = c0 + CW with
 * the first chunk full, so one load and one (masked if n1 < CW) store do. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_dkm_group)(const int NP, const int LAST, const int CONTIG, fc_int kc,
                     const FC_T *restrict a, const FC_T *x0, const FC_T *x1,
                     const fc_int *restrict offs, FC_T *c0, FC_T *c1, fc_int ldc, int accumulate,
                     int mr, int n0, int n1, const FC_T *bias, int relu)
{
    FC_Z acc[3 * FC_MR];
#pragma GCC unroll 18
    for (int i = 0; i < NP * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *a0 = a, *a1 = a + FC_MR * kc, *a2 = a + 2 * FC_MR * kc;
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        const FC_Z bv = CONTIG ? FC_ZLOADU(x0 + o) : FC_ZJOIN(FC_HLOADU(x0 + o), FC_HLOADU(x1 + o));
        for (int i = 0; i < (NP == 1 ? LAST : FC_MR); ++i)
            acc[i] = FC_ZFMA(FC_ZSET1(a0[p * FC_MR + i]), bv, acc[i]);
        if (NP > 1) {
            for (int i = 0; i < (NP == 2 ? LAST : FC_MR); ++i)
                acc[FC_MR + i] = FC_ZFMA(FC_ZSET1(a1[p * FC_MR + i]), bv, acc[FC_MR + i]);
        }
        if (NP > 2) {
#pragma GCC unroll 6
            for (int i = 0; i < LAST; ++i)
                acc[2 * FC_MR + i] = FC_ZFMA(FC_ZSET1(a2[p * FC_MR + i]), bv, acc[2 * FC_MR + i]);
        }
    }
    enum { CW = FC_NR / 2 };
    const int full = n0 == CW && n1 == CW;
    const __mmask8 m0 = (__mmask8)((1u << n0) - 1u), m1 = (__mmask8)((1u << n1) - 1u);
#pragma GCC unroll 18
    for (int i = 0; i < NP * FC_MR; ++i) {
        if (i >= mr)
            break;
        FC_Z v = acc[i];
        FC_T *d0 = c0 + (fc_int)i * ldc, *d1 = c1 + (fc_int)i * ldc;
        if (CONTIG) {
            FC_SFX(fc_z_put_row)(v, d0, CW + n1, accumulate, bias ? bias + i : NULL, relu);
        } else if (full) {
            FC_H lo = FC_ZLO(v), hi = FC_ZHI(v);
            if (accumulate) {
                lo = FC_HADD(FC_HLOADU(d0), lo);
                hi = FC_HADD(FC_HLOADU(d1), hi);
            }
            v = FC_ZJOIN(lo, hi);
            if (bias)
                v = FC_ZADD(v, FC_ZSET1(bias[i]));
            if (relu)
                v = FC_ZMAX(v, FC_ZZERO());
            FC_HSTOREU(d0, FC_ZLO(v));
            FC_HSTOREU(d1, FC_ZHI(v));
        } else {
            FC_H lo = FC_ZLO(v), hi = FC_ZHI(v);
            if (accumulate) {
                lo = FC_HADD(FC_HMLOAD(d0, m0), lo);
                hi = FC_HADD(FC_HMLOAD(d1, m1), hi);
            }
            v = FC_ZJOIN(lo, hi);
            if (bias)
                v = FC_ZADD(v, FC_ZSET1(bias[i]));
            if (relu)
                v = FC_ZMAX(v, FC_ZZERO());
            FC_HMSTORE(d0, m0, FC_ZLO(v));
            FC_HMSTORE(d1, m1, FC_ZHI(v));
        }
    }
}

/* Direct-B kernel (contract in gemm_internal.h), all mr rows in groups of up
 * to three panels; a partial last panel costs a group slot, not a narrow
 * kernel of its own. */
FC_AVX512_FN
void FC_SFX(fc_dkr_avx512)(fc_int kc, const FC_T *restrict a, const FC_T *x0, const FC_T *x1,
                           const fc_int *restrict offs, FC_T *c0, FC_T *c1, fc_int ldc,
                           FC_T beta, int mr, int n0, int n1, const FC_T *bias, int relu)
{
    const int accumulate = beta != 0;
    const int contig = FC_SFX(fc_z_side_by_side)(x0, x1, c0, c1, n0, n1);
    int panels = (mr + FC_MR - 1) / FC_MR;
    while (panels > 0) {
        const int np = FC_SFX(fc_z_group)(panels);
        const int rows = mr < np * FC_MR ? mr : np * FC_MR;
#define FC_DKM(NP, LAST)                                                                        \
    do {                                                                                       \
        if (contig)                                                                            \
            FC_SFX(fc_dkm_group)(NP, LAST, 1, kc, a, x0, x1, offs, c0, c1, ldc, accumulate, rows, \
                                 n0, n1, bias, relu);                                          \
        else                                                                                   \
            FC_SFX(fc_dkm_group)(NP, LAST, 0, kc, a, x0, x1, offs, c0, c1, ldc, accumulate, rows, \
                                 n0, n1, bias, relu);                                          \
    } while (0)
        FC_Z_DISPATCH(FC_DKM);
#undef FC_DKM
        a += np * FC_MR * kc;
        c0 += (fc_int)rows * ldc;
        c1 += (fc_int)rows * ldc;
        if (bias)
            bias += rows;
        mr -= rows;
        panels -= np;
    }
}

/* One A panel (LIVE rows computed) against the six chunks of three tiles:
 * B vector q joins chunks 2q (low half) and 2q + 1 (high half); CONTIG: every
 * tile's chunks side by side in x and in C, the first full (one load, one store). */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_dkw_group)(const int NT, const int LIVE, const int CONTIG, fc_int kc, const FC_T *restrict a,
                     const FC_T *const *xs,
                     const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, int accumulate,
                     int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_Z acc[4 * FC_MR];
#pragma GCC unroll 24
    for (int i = 0; i < NT * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3], *x4 = xs[4], *x5 = xs[5];
    const FC_T *x6 = NT > 3 ? xs[6] : x0, *x7 = NT > 3 ? xs[7] : x0;
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        FC_Z av[FC_MR];
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            av[i] = FC_ZSET1(a[p * FC_MR + i]);
        FC_Z bv = CONTIG ? FC_ZLOADU(x0 + o) : FC_ZJOIN(FC_HLOADU(x0 + o), FC_HLOADU(x1 + o));
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[i] = FC_ZFMA(av[i], bv, acc[i]);
        bv = CONTIG ? FC_ZLOADU(x2 + o) : FC_ZJOIN(FC_HLOADU(x2 + o), FC_HLOADU(x3 + o));
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[FC_MR + i] = FC_ZFMA(av[i], bv, acc[FC_MR + i]);
        bv = CONTIG ? FC_ZLOADU(x4 + o) : FC_ZJOIN(FC_HLOADU(x4 + o), FC_HLOADU(x5 + o));
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[2 * FC_MR + i] = FC_ZFMA(av[i], bv, acc[2 * FC_MR + i]);
        if (NT > 3) {
            bv = CONTIG ? FC_ZLOADU(x6 + o) : FC_ZJOIN(FC_HLOADU(x6 + o), FC_HLOADU(x7 + o));
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                acc[3 * FC_MR + i] = FC_ZFMA(av[i], bv, acc[3 * FC_MR + i]);
        }
    }
    enum { CW = FC_NR / 2 };
    /* Whole tiles, every row live, nothing to add from C: the write-back as
     * straight-line code (with a short K -- 16 input channels -- the general
     * one's per-row tests cost a third of the call). Same operations. */
    if (CONTIG && !accumulate && mr >= LIVE && ns[1] == CW && ns[3] == CW && ns[5] == CW &&
        (NT < 4 || ns[7] == CW)) {
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i) {
            const FC_Z bi = bias ? FC_ZSET1(bias[i]) : FC_ZZERO();
#pragma GCC unroll 4
            for (int q = 0; q < NT; ++q) {
                FC_Z v = acc[q * FC_MR + i];
                if (bias)
                    v = FC_ZADD(v, bi);
                if (relu)
                    v = FC_ZMAX(v, FC_ZZERO());
                FC_ZSTOREU(cs[2 * q] + (fc_int)i * ldc, v);
            }
        }
        return;
    }
#pragma GCC unroll 4
    for (int q = 0; q < NT; ++q) {
        const int na = ns[2 * q], nb = ns[2 * q + 1];
        if (na == 0 && nb == 0)
            continue;
        const int full = na == CW && nb == CW;
        const __mmask8 ma = (__mmask8)((1u << na) - 1u), mb = (__mmask8)((1u << nb) - 1u);
        FC_T *ca = cs[2 * q], *cb = cs[2 * q + 1];
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i) {
            if (i >= mr)
                break;
            FC_Z v = acc[q * FC_MR + i];
            FC_T *d0 = ca + (fc_int)i * ldc, *d1 = cb + (fc_int)i * ldc;
            if (CONTIG) {
                FC_SFX(fc_z_put_row)(v, d0, CW + nb, accumulate, bias ? bias + i : NULL,
                                     relu);
                continue;
            }
            FC_H lo = FC_ZLO(v), hi = FC_ZHI(v);
            if (accumulate) {
                lo = FC_HADD(full ? FC_HLOADU(d0) : FC_HMLOAD(d0, ma), lo);
                hi = FC_HADD(full ? FC_HLOADU(d1) : FC_HMLOAD(d1, mb), hi);
            }
            v = FC_ZJOIN(lo, hi);
            if (bias)
                v = FC_ZADD(v, FC_ZSET1(bias[i]));
            if (relu)
                v = FC_ZMAX(v, FC_ZZERO());
            if (full) {
                FC_HSTOREU(d0, FC_ZLO(v));
                FC_HSTOREU(d1, FC_ZHI(v));
            } else {
                FC_HMSTORE(d0, ma, FC_ZLO(v));
                FC_HMSTORE(d1, mb, FC_ZHI(v));
            }
        }
    }
}

/* fc_dkw's body for NT = 3 or 4 tiles (2 * NT chunks). */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_dkw_tiles)(const int NT, fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                     const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                     int mr, const int *ns, const FC_T *bias, int relu)
{
    const int accumulate = beta != 0;
    int contig = 1; /* every tile's chunks side by side: the whole-tile variant */
    for (int q = 0; q < NT; ++q)
        contig &= FC_SFX(fc_z_side_by_side)(xs[2 * q], xs[2 * q + 1], cs[2 * q], cs[2 * q + 1],
                                            ns[2 * q], ns[2 * q + 1]);
    for (int i0 = 0; i0 < mr; i0 += FC_MR) {
        const int rows = mr - i0 < FC_MR ? mr - i0 : FC_MR;
        const FC_T *ap = a + (fc_int)i0 * kc;
        FC_T *ci[8];
        for (int q = 0; q < 2 * NT; ++q)
            ci[q] = cs[q] + (fc_int)i0 * ldc;
        const FC_T *bi = bias ? bias + i0 : NULL;
#define FC_DKW(LIVE)                                                                          \
    do {                                                                                     \
        if (contig)                                                                          \
            FC_SFX(fc_dkw_group)(NT, LIVE, 1, kc, ap, xs, offs, ci, ldc, accumulate, rows, ns,  \
                                 bi, relu);                                                  \
        else                                                                                 \
            FC_SFX(fc_dkw_group)(NT, LIVE, 0, kc, ap, xs, offs, ci, ldc, accumulate, rows, ns,  \
                                 bi, relu);                                                  \
    } while (0)
        if (rows <= 2)
            FC_DKW(2);
        else if (rows <= 4)
            FC_DKW(4);
        else
            FC_DKW(6);
#undef FC_DKW
    }
}

/* Wide direct-B kernel (contract in gemm_internal.h): every A panel of mr
 * rows against six chunks (three tiles). Per k step 6 broadcasts and 6 half
 * loads feed 18 FMAs, where fc_dkr's 18-row groups load 20 times. */
FC_AVX512_FN
void FC_SFX(fc_dkw_avx512)(fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                           const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                           int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_SFX(fc_dkw_tiles)(3, kc, a, xs, offs, cs, ldc, beta, mr, ns, bias, relu);
}

/* Its four-tile form (eight chunks): 24 accumulators, 6 broadcasts and 4 loads per 24 FMAs. */
FC_AVX512_FN
void FC_SFX(fc_dkw8_avx512)(fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                            const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                            int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_SFX(fc_dkw_tiles)(4, kc, a, xs, offs, cs, ldc, beta, mr, ns, bias, relu);
}

/* Direct-A kernel over several B micro-panels (contract in gemm_internal.h):
 * fc_ukn_group with the rows broadcast from row pointers. */
FC_AVX512_FN
void FC_SFX(fc_akm_avx512)(fc_int kc, const FC_T *const *rows, const fc_int *restrict offs,
                           const FC_T *restrict b, fc_int bstride, FC_T *restrict c,
                           fc_int ldc, FC_T beta, int mr, int nr)
{
    const int accumulate = beta != 0;
    int panels = (nr + FC_NR - 1) / FC_NR;
    while (panels > 0) {
        const int nb = FC_SFX(fc_z_group)(panels);
        const int cols = nr < nb * FC_NR ? nr : nb * FC_NR;
        if (nb == 3)
            FC_SFX(fc_ukn_group)(3, 6, 1, kc, NULL, rows, offs, b, bstride, c, ldc, accumulate, mr,
                                 cols);
        else if (nb == 2)
            FC_SFX(fc_ukn_group)(2, 6, 1, kc, NULL, rows, offs, b, bstride, c, ldc, accumulate, mr,
                                 cols);
        else
            FC_SFX(fc_ukn_group)(1, 6, 1, kc, NULL, rows, offs, b, bstride, c, ldc, accumulate, mr,
                                 cols);
        b += nb * bstride;
        c += cols;
        nr -= cols;
        panels -= nb;
    }
}

#endif
