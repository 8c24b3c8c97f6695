/*
 * conv_backward_weight_small.c -- the weight gradient of small filters (float,
 * stride 1, CRS <= 32 or C <= 3, K < 16 or CRS < 16: fc_bw_small_ok) by a direct
 * kernel: 8-lane accumulators per (filter, tap), lane j taking the pixels ow with ow %
 * 8 == j, fed by unaligned loads of dy rows and of the zero-bordered image; AVX-512
 * (two filters a vector), AVX2 and portable C, all with the same bits. Split from
 * conv_backward_weight.c, which had grown past 600 lines.
 */
#ifndef FC_T
#include <string.h>
#include "conv_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

/* KB (<= 4) filters x SN (<= 6) taps; v: dwv of (k0, tap s0), filter k0 + i
 * at v + i*vk, consecutive taps 8 floats apart. dy: dy of filter k0, filter
 * k0 + i at dy + i*P. xr: x row of (c, r) at oh = 0, tap s0. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
fc_bws_blk_avx2(const int KB, const int SN, const float *dy, fc_int P, const float *xr,
                fc_int Wp, fc_int dilw, fc_int Ho, fc_int Wo, float *v, fc_int vk)
{
    __m256 a[4][6];
    const fc_int nf = Wo / 8, rem = Wo - nf * 8;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int i = 0; i < KB; ++i)
        for (int s = 0; s < SN; ++s)
            a[i][s] = _mm256_loadu_ps(v + i * vk + 8 * s);
    for (fc_int oh = 0; oh < Ho; ++oh) {
        const float *d = dy + oh * Wo, *x = xr + oh * Wp;
        fc_int ow = 0;
        for (fc_int q = 0; q < nf; ++q, ow += 8) {
            __m256 e[4];
            for (int i = 0; i < KB; ++i)
                e[i] = _mm256_loadu_ps(d + i * P + ow);
            for (int s = 0; s < SN; ++s) {
                const __m256 xv = _mm256_loadu_ps(x + ow + s * dilw);
                for (int i = 0; i < KB; ++i)
                    a[i][s] = _mm256_fmadd_ps(e[i], xv, a[i][s]);
            }
        }
        if (rem) {
            __m256 e[4];
            for (int i = 0; i < KB; ++i)
                e[i] = _mm256_maskload_ps(d + i * P + ow, mask);
            for (int s = 0; s < SN; ++s) {
                const __m256 xv = _mm256_maskload_ps(x + ow + s * dilw, mask);
                for (int i = 0; i < KB; ++i)
                    a[i][s] = _mm256_fmadd_ps(e[i], xv, a[i][s]);
            }
        }
    }
    for (int i = 0; i < KB; ++i)
        for (int s = 0; s < SN; ++s)
            _mm256_storeu_ps(v + i * vk + 8 * s, a[i][s]);
}

#define FC_BWS_CASE(KB, SN)                                                           \
    case SN:                                                                          \
        fc_bws_blk_avx2(KB, SN, dyk, P, xr, Wp, dilw, Ho, Wo, v, vk);                  \
        break;
/* Only the (kb, sn) pairs kbmax allows are built (kb 3: sn <= 4, kb 4: sn <= 2). */
#define FC_BWS_SWITCH2(KB)                                                            \
    switch (sn) { FC_BWS_CASE(KB, 1) FC_BWS_CASE(KB, 2) }
#define FC_BWS_SWITCH4(KB)                                                            \
    switch (sn) { FC_BWS_CASE(KB, 1) FC_BWS_CASE(KB, 2) FC_BWS_CASE(KB, 3)            \
                  FC_BWS_CASE(KB, 4) }
/* All six tap-block widths of a block kernel's CASE(X, SN) (AVX2 and AVX-512 alike). */
#define FC_BWS_SN6(CASE, X)                                                           \
    switch (sn) { CASE(X, 1) CASE(X, 2) CASE(X, 3) CASE(X, 4) CASE(X, 5) CASE(X, 6) }
#define FC_BWS_SWITCH(KB) FC_BWS_SN6(FC_BWS_CASE, KB)

/* One (filter block, channel, filter row, tap block) of the image: kb <= 4 filters
 * (as many as the 16 ymm registers hold with the tap block), sn <= 6 taps. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
fc_bws_block_avx2(int kb, int sn, const float *dyk, fc_int P, const float *xr, fc_int Wp,
                  fc_int dilw, fc_int Ho, fc_int Wo, float *v, fc_int vk)
{
    switch (kb) {
    case 1: FC_BWS_SWITCH(1) break;
    case 2: FC_BWS_SWITCH(2) break;
    case 3: FC_BWS_SWITCH4(3) break;
    default: FC_BWS_SWITCH2(4) break;
    }
}
#undef FC_BWS_SWITCH
#undef FC_BWS_SWITCH2
#undef FC_BWS_SWITCH4
#undef FC_BWS_CASE

/* The AVX-512 twin of fc_bws_blk_avx2 with the same bits: a 16-lane vector holds two
 * filters' 8-lane accumulators (filter 2j in the low half, 2j + 1 in the high), the x
 * row's 8 pixels broadcast to both halves, so each lane takes the same fused
 * multiply-adds in the same order as on AVX2, two filters an instruction. NP (<= 4)
 * filter pairs, the last one single when `odd` (its high half neither read nor
 * stored), SN (<= 6) taps. */
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
fc_bws_blk_avx512(const int NP, const int SN, const int odd, const float *dy, fc_int P,
                  const float *xr, fc_int Wp, fc_int dilw, fc_int Ho, fc_int Wo, float *v,
                  fc_int vk)
{
    __m512 a[4][6];
    const fc_int nf = Wo / 8, rem = Wo - nf * 8;
    const __mmask8 mk = (__mmask8)((1u << rem) - 1u);
    for (int j = 0; j < NP; ++j) {
        const int hi = !(odd && j == NP - 1);
        for (int s = 0; s < SN; ++s) {
            const float *lo = v + 2 * j * vk + 8 * s;
            a[j][s] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(lo)),
                                         hi ? _mm256_loadu_ps(lo + vk) : _mm256_setzero_ps(), 1);
        }
    }
    for (fc_int oh = 0; oh < Ho; ++oh) {
        const float *d = dy + oh * Wo, *x = xr + oh * Wp;
        fc_int ow = 0;
        for (fc_int q = 0; q <= nf; ++q, ow += 8) {
            const __mmask8 m = q < nf ? (__mmask8)0xff : mk;
            if (!m)
                break;
            __m512 e[4];
            for (int j = 0; j < NP; ++j) {
                const int hi = !(odd && j == NP - 1);
                const float *dl = d + 2 * j * P + ow;
                e[j] = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_maskz_loadu_ps(m, dl)),
                                          hi ? _mm256_maskz_loadu_ps(m, dl + P)
                                             : _mm256_setzero_ps(), 1);
            }
            for (int s = 0; s < SN; ++s) {
                const __m512 xv =
                    _mm512_broadcast_f32x8(_mm256_maskz_loadu_ps(m, x + ow + s * dilw));
                for (int j = 0; j < NP; ++j)
                    a[j][s] = _mm512_fmadd_ps(e[j], xv, a[j][s]);
            }
        }
    }
    for (int j = 0; j < NP; ++j) {
        const int hi = !(odd && j == NP - 1);
        for (int s = 0; s < SN; ++s) {
            float *lo = v + 2 * j * vk + 8 * s;
            _mm256_storeu_ps(lo, _mm512_castps512_ps256(a[j][s]));
            if (hi)
                _mm256_storeu_ps(lo + vk, _mm512_extractf32x8_ps(a[j][s], 1));
        }
    }
}

#define FC_BWS5_CASE(NP, SN)                                                               \
    case SN:                                                                               \
        if (odd)                                                                           \
            fc_bws_blk_avx512(NP, SN, 1, dyk, P, xr, Wp, dilw, Ho, Wo, v, vk);             \
        else                                                                               \
            fc_bws_blk_avx512(NP, SN, 0, dyk, P, xr, Wp, dilw, Ho, Wo, v, vk);             \
        break;
#define FC_BWS5_SWITCH(NP) FC_BWS_SN6(FC_BWS5_CASE, NP)

/* fc_bws_block_avx2 on AVX-512: kb <= 8 filters (four pairs). */
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
fc_bws_block_avx512(int kb, int sn, const float *dyk, fc_int P, const float *xr, fc_int Wp,
                    fc_int dilw, fc_int Ho, fc_int Wo, float *v, fc_int vk)
{
    const int odd = kb & 1;
    switch ((kb + 1) / 2) {
    case 1: FC_BWS5_SWITCH(1) break;
    case 2: FC_BWS5_SWITCH(2) break;
    case 3: FC_BWS5_SWITCH(3) break;
    default: FC_BWS5_SWITCH(4) break;
    }
}
#undef FC_BWS5_SWITCH
#undef FC_BWS5_CASE
#undef FC_BWS_SN6

typedef void (*fc_bws_block_fn)(int kb, int sn, const float *dyk, fc_int P, const float *xr,
                                fc_int Wp, fc_int dilw, fc_int Ho, fc_int Wo, float *v,
                                fc_int vk);

/* One image (xp: zero-bordered, dy: K x Ho x Wo) into dwv, in blocks of kbmax filters
 * through `block` -- a constant in each wrapper below, which inlines it. */
static inline __attribute__((always_inline)) void
fc_bws_image_body(const fc_conv_geom *g, const fc_padgeom *pg, const float *xp, const float *dy,
                  float *dwv, int kbmax, fc_bws_block_fn block)
{
    const fc_int K = g->K, C = g->C, R = g->R, S = g->S, CRS = C * R * S;
    const fc_int Ho = g->Ho, Wo = g->Wo, Wp = pg->Wp, HWp = pg->Hp * pg->Wp, P = Ho * Wo;
    const fc_int dilw = g->dil_w, vk = CRS * 8;
    for (fc_int k0 = 0; k0 < K; k0 += kbmax) {
        const int kb = (int)FC_MIN(kbmax, K - k0);
        for (fc_int c = 0; c < C; ++c)
            for (fc_int r = 0; r < R; ++r)
                for (fc_int s0 = 0; s0 < S; s0 += 6) {
                    const float *xr = xp + c * HWp + (r * g->dil_h - g->pad_top + pg->mt) * Wp +
                                      (s0 * dilw - g->pad_left + pg->ml);
                    block(kb, (int)FC_MIN(6, S - s0), dy + k0 * P, P, xr, Wp, dilw, Ho, Wo,
                          dwv + (k0 * CRS + (c * R + r) * S + s0) * 8, vk);
                }
    }
}

/* AVX2: filter blocks as many as the 16 ymm registers hold with the tap block. */
static __attribute__((target("avx2,fma"))) void
fc_bws_image_avx2_f32(const fc_conv_geom *g, const fc_padgeom *pg, const float *xp,
                      const float *dy, float *dwv)
{
    const int sfull = (int)FC_MIN(6, g->S);
    fc_bws_image_body(g, pg, xp, dy, dwv, sfull >= 5 ? 2 : sfull >= 3 ? 3 : 4,
                      fc_bws_block_avx2);
}

/* AVX-512: blocks of 8 filters (four pairs). */
static __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
fc_bws_image_avx512_f32(const fc_conv_geom *g, const fc_padgeom *pg, const float *xp,
                        const float *dy, float *dwv)
{
    fc_bws_image_body(g, pg, xp, dy, dwv, 8, fc_bws_block_avx512);
}

#endif /* FC_HAVE_X86_AVX2_KERNELS */

#define FC_TMPL_SELF "conv_backward_weight_small.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* Portable twin of fc_bws_image_avx2_f32: the same 8-lane accumulators
 * (lane j takes the pixels ow with ow % 8 == j). */
static void FC_SFX(fc_bws_image_ref)(const fc_conv_geom *g, const fc_padgeom *pg,
                                     const FC_T *xp, const FC_T *dy, FC_T *dwv)
{
    const fc_int K = g->K, C = g->C, R = g->R, S = g->S;
    const fc_int Ho = g->Ho, Wo = g->Wo, Wp = pg->Wp, HWp = pg->Hp * pg->Wp, P = Ho * Wo;
    FC_T *v = dwv;
    for (fc_int k = 0; k < K; ++k)
        for (fc_int c = 0; c < C; ++c)
            for (fc_int r = 0; r < R; ++r)
                for (fc_int s = 0; s < S; ++s, v += 8) {
                    const FC_T *xr = xp + c * HWp + (r * g->dil_h - g->pad_top + pg->mt) * Wp +
                                     (s * g->dil_w - g->pad_left + pg->ml);
                    FC_T a[8];
                    for (int j = 0; j < 8; ++j)
                        a[j] = v[j];
                    for (fc_int oh = 0; oh < Ho; ++oh) {
                        const FC_T *restrict d = dy + k * P + oh * Wo;
                        const FC_T *restrict xx = xr + oh * Wp;
                        fc_int ow = 0;
                        for (; ow + 8 <= Wo; ow += 8)
                            for (int j = 0; j < 8; ++j)
                                a[j] += d[ow + j] * xx[ow + j];
                        for (int j = 0; ow + j < Wo; ++j)
                            a[j] += d[ow + j] * xx[ow + j];
                    }
                    for (int j = 0; j < 8; ++j)
                        v[j] = a[j];
                }
}

void FC_SFX(fc_bw_small_run)(const fc_conv_geom *g, fc_int nimg, const FC_T *x,
                                    const FC_T *dy, FC_T *dw, FC_T *db, void *work)
{
    const fc_int K = g->K, CRS = g->C * g->R * g->S, P = g->Ho * g->Wo;
    const fc_int xs = g->C * g->H * g->W;
    fc_padgeom pg;
    size_t xb, vb;
    fc_bw_small_sizes(g, sizeof(FC_T), &pg, &xb, &vb);
    char *wk = (char *)fc_align_ptr(work);
    FC_T *xp = (FC_T *)wk;
    FC_T *dwv = (FC_T *)(wk + xb);
    memset(xp, 0, (size_t)(g->C * pg.Hp * pg.Wp) * sizeof(FC_T)); /* border: once per run */
    memset(dwv, 0, (size_t)(K * CRS * 8) * sizeof(FC_T));
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    const int avx2 = fc_simd_path() == FC_SIMD_AVX512 ? 2 : fc_simd_path() >= FC_SIMD_AVX2;
#else
    const int avx2 = 0;
#endif
    for (fc_int n = 0; n < nimg; ++n) {
        const FC_T *dyn = dy + n * K * P;
        if (db)
            FC_SFX(fc_bw_bias)(K, P, dyn, db);
        FC_SFX(fc_copy_interior)(g, &pg, pg.Wp, pg.Hp * pg.Wp, x + n * xs, xp);
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
        if (avx2) {
            (avx2 == 2 ? fc_bws_image_avx512_f32 : fc_bws_image_avx2_f32)(g, &pg, xp, dyn, dwv);
            continue;
        }
#endif
        (void)avx2;
        FC_SFX(fc_bws_image_ref)(g, &pg, xp, dyn, dwv);
    }
    for (fc_int i = 0; i < K * CRS; ++i) {
        const FC_T *v = dwv + i * 8;
        dw[i] += ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    }
}

#endif
