/*
 * conv_winograd_s2_avx512.c -- the AVX-512 (float) transforms of the stride-2
 * F(4x4, 2x2) path (conv_winograd_s2.c, which takes them when fc_simd_path()
 * is FC_SIMD_AVX512 and they return 1), a packed panel's 16 tiles in the
 * vector lanes:
 *   input   a tile's 10x10 input window holds its four phases' 5x5 patches;
 *           each of the 100 pixels is one masked gather over the panel's tiles
 *           (padding and lanes past the block's tiles read nothing: zero), B^T
 *           and B on whole vectors, 25 full stores per phase channel;
 *   output  A^T and A on whole vectors, + bias, + the residual, ReLU, one
 *           masked scatter per output pixel.
 * The same operations in the same order as the portable transforms: the same
 * bits.
 */
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#define FC_S2_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))

/* fc_wino_s2_bt on five vectors. */
static inline __attribute__((always_inline)) FC_S2_AVX512 void
fc_wino_s2_bt_avx512(const __m512 d0, const __m512 d1, const __m512 d2, const __m512 d3,
                     const __m512 d4, __m512 o[5])
{
    const __m512 c2 = _mm512_set1_ps(2.0f);
    const __m512 d1x2 = _mm512_mul_ps(d1, c2);
    o[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_sub_ps(d0, d2), c2), d1), d3);
    o[1] = _mm512_sub_ps(_mm512_sub_ps(d3, d2), d1x2);
    o[2] = _mm512_add_ps(_mm512_sub_ps(d3, _mm512_add_ps(_mm512_mul_ps(d2, c2), d2)), d1x2);
    o[3] = _mm512_sub_ps(d3, d1);
    o[4] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(_mm512_sub_ps(d1, d3), c2), d2), d4);
}

/* fc_wino_s2_at on five vectors: o[0..3]. */
static inline __attribute__((always_inline)) FC_S2_AVX512 void
fc_wino_s2_at_avx512(const __m512 m0, const __m512 m1, const __m512 m2, const __m512 m3,
                     const __m512 m4, __m512 o[4])
{
    const __m512 p = _mm512_add_ps(m1, m2), q = _mm512_sub_ps(m1, m2);
    o[0] = _mm512_add_ps(_mm512_add_ps(m0, p), m3);
    o[1] = _mm512_add_ps(q, _mm512_mul_ps(m3, _mm512_set1_ps(2.0f)));
    o[2] = _mm512_add_ps(p, _mm512_mul_ps(m3, _mm512_set1_ps(4.0f)));
    o[3] = _mm512_add_ps(_mm512_add_ps(q, _mm512_mul_ps(m3, _mm512_set1_ps(8.0f))), m4);
}

FC_S2_AVX512 int fc_wino_s2_input_avx512_f32(const fc_conv_plan *pl, const float *x, fc_int gr0,
                                             fc_int nrows, float *vb)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, HW = H * W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vs = pl->wino_vs, Cv = 4 * C, ntile = nrows * tw, img0 = gr0 / th;
    if (((gr0 + nrows - 1) / th - img0 + 1) * C * HW + HW >= (fc_int)1 << 30)
        return 0;
    const float *xb = x + img0 * C * HW;
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR_F32) {
        unsigned rowok[10], colok[10];
        int32_t off[16];
        fc_wino_panel_tiles(pl, gr0, t0, ntile, C, H, W, g->pad_top, g->pad_left, 8, 10, off,
                            rowok, colok);
        const __m512i idx = _mm512_loadu_si512((const void *)off);
        float *vp = vb + (t0 / FC_NR_F32) * Cv * FC_NR_F32;
        for (fc_int c = 0; c < C; ++c) {
            const float *xc = xb + c * HW;
            for (int ph = 0; ph < 4; ++ph) {
                const int py = ph >> 1, px = ph & 1;
                __m512 t[5][5];
                for (int b = 0; b < 5; ++b) {
                    const int u = 2 * b + px;
                    __m512 d[5], o[5];
                    for (int a = 0; a < 5; ++a) {
                        const int v = 2 * a + py;
                        d[a] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(),
                                                        (__mmask16)(rowok[v] & colok[u]), idx,
                                                        xc + v * W + u, 4);
                    }
                    fc_wino_s2_bt_avx512(d[0], d[1], d[2], d[3], d[4], o);
                    for (int a = 0; a < 5; ++a)
                        t[a][b] = o[a];
                }
                float *d = vp + (4 * c + ph) * FC_NR_F32;
                for (int a = 0; a < 5; ++a) {
                    __m512 o[5];
                    fc_wino_s2_bt_avx512(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], o);
                    for (int b = 0; b < 5; ++b)
                        _mm512_storeu_ps(d + (a * 5 + b) * vs, o[b]);
                }
            }
        }
    }
    return 1;
}

FC_S2_AVX512 int fc_wino_s2_output_avx512_f32(const fc_conv_plan *pl, const float *mb,
                                              fc_int gr0, fc_int nrows, fc_int k0, fc_int k1,
                                              const float *bias, const float *res, int act,
                                              float *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, HWo = Ho * Wo, th = pl->wino_th;
    const fc_int tbp = pl->wino_tbp, ms = pl->wino_ms, ntile = nrows * pl->wino_tw;
    const fc_int img0 = gr0 / th;
    if ((act != FC_ACT_NONE && act != FC_ACT_RELU) ||
        ((gr0 + nrows - 1) / th - img0 + 1) * K * HWo + HWo >= (fc_int)1 << 30)
        return 0;
    const int relu = act == FC_ACT_RELU;
    float *yb = y + img0 * K * HWo;
    const float *rb = res ? res + img0 * K * HWo : NULL;
    const __m512 zero = _mm512_setzero_ps();
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR_F32) {
        unsigned rowok[4], colok[4];
        int32_t off[16];
        fc_wino_panel_tiles(pl, gr0, t0, ntile, K, Ho, Wo, 0, 0, 4, 4, off, rowok, colok);
        const __m512i idx = _mm512_loadu_si512((const void *)off);
        for (fc_int k = k0; k < k1; ++k) {
            const float *m = mb + k * tbp + t0;
            const __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
            __m512 s[5][4];
            for (int b = 0; b < 5; ++b)
                fc_wino_s2_at_avx512(_mm512_loadu_ps(m + b * ms), _mm512_loadu_ps(m + (5 + b) * ms),
                                     _mm512_loadu_ps(m + (10 + b) * ms),
                                     _mm512_loadu_ps(m + (15 + b) * ms),
                                     _mm512_loadu_ps(m + (20 + b) * ms), s[b]);
            for (int i = 0; i < 4; ++i) {
                __m512 o[4];
                fc_wino_s2_at_avx512(s[0][i], s[1][i], s[2][i], s[3][i], s[4][i], o);
                for (int j = 0; j < 4; ++j) {
                    const __mmask16 mk = (__mmask16)(rowok[i] & colok[j]);
                    const fc_int at = k * HWo + i * Wo + j;
                    __m512 v = _mm512_add_ps(o[j], bk);
                    if (rb)
                        v = _mm512_add_ps(v, _mm512_mask_i32gather_ps(zero, mk, idx, rb + at, 4));
                    if (relu) /* "v > 0 ? v : 0": NaN and -0 to +0 */
                        v = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ), v);
                    _mm512_mask_i32scatter_ps(yb + at, mk, idx, v, 4);
                }
            }
        }
    }
    return 1;
}

#else
typedef int fc_conv_winograd_s2_avx512_unused;
#endif
