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

#define FC_W_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#include "conv_winograd_avx512.h"

/* fc_wino_s2_bt on five vectors. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino_s2_bt_avx512(const __m512 d0, const __m512 d1, const __m512 d2, const __m512 d3,
                     const __m512 d4, __m512 o[5])
{
    /* products by 2 are exact: fused or not, the portable build's bits */
    const __m512 c2 = _mm512_set1_ps(2.0f);
    const __m512 t31 = _mm512_sub_ps(d3, d1), t32 = _mm512_sub_ps(d3, d2);
    o[0] = _mm512_fmadd_ps(_mm512_sub_ps(d0, d2), c2, t31);
    o[1] = _mm512_fnmadd_ps(d1, c2, t32);
    o[2] = _mm512_fmadd_ps(_mm512_sub_ps(d1, d2), c2, t32);
    o[3] = t31;
    o[4] = _mm512_fnmadd_ps(t31, c2, _mm512_sub_ps(d4, d2));
}

/* fc_wino_s2_at on five vectors: o[0..3]. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino_s2_at_avx512(const __m512 m0, const __m512 m1, const __m512 m2, const __m512 m3,
                     const __m512 m4, __m512 o[4])
{
    const __m512 p = _mm512_add_ps(m1, m2), q = _mm512_sub_ps(m1, m2);
    o[0] = _mm512_add_ps(_mm512_add_ps(m0, p), m3);
    o[1] = _mm512_add_ps(q, _mm512_mul_ps(m3, _mm512_set1_ps(2.0f)));
    o[2] = _mm512_add_ps(p, _mm512_mul_ps(m3, _mm512_set1_ps(4.0f)));
    o[3] = _mm512_add_ps(_mm512_add_ps(q, _mm512_mul_ps(m3, _mm512_set1_ps(8.0f))), m4);
}

/* The four phases' V blocks of one channel from its tiles' 10x10 input windows
 * (phase ph's 5x5 patch at rows py, py + 2, .., columns px, px + 2, ..): B^T down,
 * B along, 25 full stores each at d + (ph*pstride + xi*vs) -- but for the blocks whose
 * weights are zero (fc_wino_s2_zero_phase: row 4 of the odd-py phases when zr, column
 * 4 of the odd-px ones when zc), which no product reads. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino_s2_in_panel(__m512 win[10][10], float *d, fc_int pstride, fc_int vs, int zr, int zc)
{
    for (int ph = 0; ph < 4; ++ph) {
        const int py = ph >> 1, px = ph & 1;
        __m512 t[5][5];
        for (int b = 0; b < 5; ++b) {
            const int u = 2 * b + px;
            __m512 o[5];
            fc_wino_s2_bt_avx512(win[py][u], win[2 + py][u], win[4 + py][u], win[6 + py][u],
                                 win[8 + py][u], o);
            for (int a = 0; a < 5; ++a)
                t[a][b] = o[a];
        }
        float *dp = d + ph * pstride;
        const int zrow = zr && py ? 4 : 5, zcol = zc && px ? 4 : 5;
        for (int a = 0; a < 5; ++a) {
            __m512 o[5];
            fc_wino_s2_bt_avx512(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], o);
            for (int b = 0; b < 5; ++b)
                if (a != zrow && b != zcol)
                    _mm512_storeu_ps(dp + (a * 5 + b) * vs, o[b]);
        }
    }
}

/* The weight gradient's (conv_winograd_bw.c): a tile row's 10x10 windows read from a
 * zero-bordered plane of 16 channels interleaved channel-last, the channels in the
 * lanes -- one full load a pixel, no gathers. */
FC_W_AVX512 void fc_wino_s2_tiles_in_t_avx512_f32(const float *p, fc_int wr, fc_int tw, float *d,
                                                  fc_int phstride, fc_int vs, int zr, int zc)
{
    __m512 win[10][10];
    for (fc_int tj = 0; tj < tw; ++tj) {
        const float *pt = p + 8 * tj * FC_NR_F32;
        for (int v = 0; v < 10; ++v)
            for (int u = 0; u < 10; ++u)
                win[v][u] = _mm512_loadu_ps(pt + (v * wr + u) * FC_NR_F32);
        fc_wino_s2_in_panel(win, d + tj * FC_NR_F32, phstride, vs, zr, zc);
    }
}

FC_W_AVX512 int fc_wino_s2_input_avx512_f32(const fc_conv_plan *pl, const float *x, fc_int gr0,
                                             fc_int nrows, float *vb)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, HW = H * W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vs = pl->wino_vs, Cv = 4 * C, ntile = nrows * tw, img0 = gr0 / th;
    const int zr = g->R <= 3, zc = g->S <= 3;
    if (!fc_wino_reach32(gr0, nrows, th, C, HW))
        return 0;
    const float *xb = x + img0 * C * HW;
    /* Whole panels in runs of four tiles along tile rows (tw a multiple of 4): a run's
     * windows share its ten input rows, 34 columns each, read as four masked vector
     * loads (columns cs .. cs + 31 and cs + 2 .. cs + 33); each (v, u) vector is one
     * lane permute per run and three blends, in place of a gather (the gathers were
     * a quarter of a 3x3 forward pass). */
    const int runs = tw % 4 == 0;
    __m512i pick[10]; /* lanes 4h + r: column 8r + u of the run's (first or shifted) pair */
    for (int u = 0; u < 10; ++u) {
        int32_t ix[16];
        for (int l = 0; l < 16; ++l)
            ix[l] = 8 * (l & 3) + (u < 8 ? u : u - 2);
        pick[u] = _mm512_loadu_si512((const void *)ix);
    }
    __m512 win[10][10];
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR_F32) {
        float *vp = vb + (t0 / FC_NR_F32) * Cv * FC_NR_F32;
        if (runs && t0 + 16 <= ntile) {
            fc_int off[4];
            __mmask16 m[4][4];
            unsigned rowin[4] = {0, 0, 0, 0};
            for (int q = 0; q < 4; ++q) {
                const fc_int tau = t0 + 4 * q, lr = tau / tw, tj = tau - lr * tw;
                const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
                const fc_int rs = 8 * ti - g->pad_top, cs = 8 * tj - g->pad_left;
                for (int h = 0; h < 4; ++h) { /* loads at cs, cs + 16, cs + 2, cs + 18 */
                    const fc_int c0 = cs + (h & 1) * 16 + (h >> 1) * 2;
                    unsigned k = 0;
                    for (int e = 0; e < 16; ++e)
                        k |= (unsigned)(c0 + e >= 0 && c0 + e < W) << e;
                    m[q][h] = (__mmask16)k;
                }
                off[q] = (img - img0) * C * HW + rs * W + cs;
                for (int v = 0; v < 10; ++v)
                    rowin[q] |= (unsigned)(rs + v >= 0 && rs + v < H) << v;
            }
            for (fc_int c = 0; c < C; ++c) {
                const float *xc = xb + c * HW;
                for (int v = 0; v < 10; ++v) {
                    __m512 l[4][4];
                    for (int q = 0; q < 4; ++q)
                        for (int h = 0; h < 4; ++h)
                            l[q][h] = (rowin[q] >> v) & 1
                                          ? _mm512_maskz_loadu_ps(
                                                m[q][h], xc + off[q] + v * W + (h & 1) * 16 +
                                                             (h >> 1) * 2)
                                          : _mm512_setzero_ps();
                    for (int u = 0; u < 10; ++u) {
                        const int p = u < 8 ? 0 : 2;
                        __m512 r = _mm512_permutex2var_ps(l[0][p], pick[u], l[0][p + 1]);
                        for (int q = 1; q < 4; ++q)
                            r = _mm512_mask_blend_ps(
                                (__mmask16)(0xFu << (4 * q)), r,
                                _mm512_permutex2var_ps(l[q][p], pick[u], l[q][p + 1]));
                        win[v][u] = r;
                    }
                }
                fc_wino_s2_in_panel(win, vp + c * FC_NR_F32, C * FC_NR_F32, vs, zr, zc);
            }
            continue;
        }
        unsigned rowok[10], colok[10];
        int32_t off[16];
        fc_wino_panel_tiles(pl, gr0, t0, ntile, C, H, W, g->pad_top, g->pad_left, 8, 10, off,
                            rowok, colok);
        const __m512i idx = _mm512_loadu_si512((const void *)off);
        for (fc_int c = 0; c < C; ++c) {
            fc_wino_gather_window_f32(&win[0][0], 10, rowok, colok, idx, xb + c * HW, W);
            fc_wino_s2_in_panel(win, vp + c * FC_NR_F32, C * FC_NR_F32, vs, zr, zc);
        }
    }
    return 1;
}

FC_W_AVX512 int fc_wino_s2_output_avx512_f32(const fc_conv_plan *pl, const float *mb,
                                              fc_int gr0, fc_int nrows, fc_int k0, fc_int k1,
                                              const float *bias, const float *res, int act,
                                              float *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, HWo = Ho * Wo, th = pl->wino_th;
    const fc_int tbp = pl->wino_tbp, ms = pl->wino_ms, ntile = nrows * pl->wino_tw;
    const fc_int img0 = gr0 / th;
    if ((act != FC_ACT_NONE && act != FC_ACT_RELU) ||
        !fc_wino_reach32(gr0, nrows, th, K, HWo))
        return 0;
    const int relu = act == FC_ACT_RELU;
    float *yb = y + img0 * K * HWo;
    const float *rb = res ? res + img0 * K * HWo : NULL;
    const __m512 zero = _mm512_setzero_ps();
    const fc_int tw = pl->wino_tw;
    const int whole = tw % 4 == 0 && Ho % 4 == 0 && Wo % 4 == 0;
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR_F32) {
        if (whole && t0 + 16 <= ntile) {
            /* runs of four tiles along tile rows: each output row of a run is 16
             * consecutive pixels, one vector store after lane shuffles, not four scatters */
            fc_int at[4];
            fc_wino_runs_origin(pl, gr0, t0, K, Ho, Wo, at);
            for (fc_int k = k0; k < k1; ++k) {
                const float *m = mb + k * tbp + t0;
                const __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
                __m512 s[5][4];
                for (int b = 0; b < 5; ++b)
                    fc_wino_s2_at_avx512(_mm512_loadu_ps(m + b * ms),
                                         _mm512_loadu_ps(m + (5 + b) * ms),
                                         _mm512_loadu_ps(m + (10 + b) * ms),
                                         _mm512_loadu_ps(m + (15 + b) * ms),
                                         _mm512_loadu_ps(m + (20 + b) * ms), s[b]);
                for (int i = 0; i < 4; ++i) {
                    __m512 o[4];
                    fc_wino_s2_at_avx512(s[0][i], s[1][i], s[2][i], s[3][i], s[4][i], o);
                    for (int j = 0; j < 4; ++j)
                        o[j] = _mm512_add_ps(o[j], bk);
                    fc_wino4_put_rows16_f32(o, at, k * HWo + i * Wo, rb, relu, yb);
                }
            }
            continue;
        }
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
                    if (relu)
                        v = fc_relu_avx512_f32(v);
                    _mm512_mask_i32scatter_ps(yb + at, mk, idx, v, 4);
                }
            }
        }
    }
    return 1;
}

/* The four phases' V blocks of one filter from its tiles' 6x6 windows (phase ph's
 * patch at rows dr[py], columns dc[px] of the window): B^T down, B along, 25 full
 * stores each at d + (ph*25 + xi)*vs -- but for the planes whose weights are zero
 * (fc_wino_s2t_zero_plane: row 0 of the odd-py phases when zr, column 0 of the
 * odd-px ones when zc), which no product reads. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino_s2t_in_panel(__m512 win[6][6], const int dr[2], const int dc[2], float *d, fc_int vs,
                     int zr, int zc)
{
    for (int ph = 0; ph < 4; ++ph) {
        const int ra = dr[ph >> 1], cb = dc[ph & 1];
        __m512 t[5][5];
        for (int b = 0; b < 5; ++b) {
            __m512 o[5];
            fc_wino_s2_bt_avx512(win[ra][cb + b], win[ra + 1][cb + b], win[ra + 2][cb + b],
                                 win[ra + 3][cb + b], win[ra + 4][cb + b], o);
            for (int a = 0; a < 5; ++a)
                t[a][b] = o[a];
        }
        float *dp = d + (ph * 25) * vs;
        const int zrow = zr && (ph >> 1) ? 0 : 5, zcol = zc && (ph & 1) ? 0 : 5;
        for (int a = 0; a < 5; ++a) {
            __m512 o[5];
            fc_wino_s2_bt_avx512(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], o);
            for (int b = 0; b < 5; ++b)
                if (a != zrow && b != zcol)
                    _mm512_storeu_ps(dp + (a * 5 + b) * vs, o[b]);
        }
    }
}

/* Backward-data (wino_s2 2): the four phases' 5x5 patches of dY lie in one
 * 6x6 window (their origins one row or column apart at most): 36 masked
 * gathers per filter, then each phase's B^T d B into its 25 V blocks. */
FC_W_AVX512 int fc_wino_s2t_input_avx512_f32(const fc_conv_plan *pl, const float *dy,
                                              fc_int gr0, fc_int nrows, float *vb)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, HW = H * W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vs = pl->wino_vs, ntile = nrows * tw, img0 = gr0 / th;
    const int zr = g->R <= 3, zc = g->S <= 3;   /* fc_wino_s2t_zero_plane's planes */
    if (!fc_wino_reach32(gr0, nrows, th, C, HW))
        return 0;
    const fc_int(*q0)[2] = pl->wino_q0;
    /* window origin (rows, columns) and each phase's patch offset in it */
    const fc_int r0 = FC_MIN(q0[0][0], q0[0][1]) - 1, c0 = FC_MIN(q0[1][0], q0[1][1]) - 1;
    int dr[2], dc[2];
    for (int p = 0; p < 2; ++p) {
        dr[p] = (int)(q0[0][p] - 1 - r0);
        dc[p] = (int)(q0[1][p] - 1 - c0);
    }
    const float *yb = dy + img0 * C * HW;
    /* Whole panels in runs of four tiles along tile rows (tw a multiple of 4): each
     * run's six window rows loaded and permuted (fc_wino_runs6) in place of gathers (a
     * third of this transform's time). */
    const int runs = tw % 4 == 0;
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR_F32) {
        float *vp = vb + (t0 / FC_NR_F32) * C * FC_NR_F32;
        __m512 win[6][6];
        if (runs && t0 + 16 <= ntile) {
            fc_wino_runs6 rw;
            fc_wino_runs6_setup(&rw, pl, gr0, t0, C, H, W, r0, c0);
            for (fc_int k = 0; k < C; ++k) {
                fc_wino_runs6_window(&rw, yb + k * HW, win);
                fc_wino_s2t_in_panel(win, dr, dc, vp + k * FC_NR_F32, vs, zr, zc);
            }
            continue;
        }
        unsigned rowok[6], colok[6];
        int32_t off[16];
        fc_wino_panel_tiles(pl, gr0, t0, ntile, C, H, W, -r0, -c0, 4, 6, off, rowok, colok);
        const __m512i idx = _mm512_loadu_si512((const void *)off);
        for (fc_int k = 0; k < C; ++k) {
            fc_wino_gather_window_f32(&win[0][0], 6, rowok, colok, idx, yb + k * HW, W);
            fc_wino_s2t_in_panel(win, dr, dc, vp + k * FC_NR_F32, vs, zr, zc);
        }
    }
    return 1;
}

/* p[0..7] (lanes: the panel's 16 tiles) to each tile's eight values in a row:
 * r[q] holds tile 4m + (q & 3)'s in its low half and tile 4m + 4 + (q & 3)'s in
 * its high half, m = 0 for q < 4, 8 for q >= 4. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_s2t_transpose8x16(const __m512 p[8], __m512 r[8])
{
    __m512 x[4], y[4]; /* x[t] / y[t], 128-bit lane m: tile 4m + t's p[0..3] / p[4..7] */
    for (int h = 0; h < 2; ++h) {
        const __m512 *q = p + 4 * h;
        const __m512 a0 = _mm512_unpacklo_ps(q[0], q[1]), a1 = _mm512_unpacklo_ps(q[2], q[3]);
        const __m512 b0 = _mm512_unpackhi_ps(q[0], q[1]), b1 = _mm512_unpackhi_ps(q[2], q[3]);
        __m512 *d = h ? y : x;
        d[0] = _mm512_shuffle_ps(a0, a1, 0x44);
        d[1] = _mm512_shuffle_ps(a0, a1, 0xEE);
        d[2] = _mm512_shuffle_ps(b0, b1, 0x44);
        d[3] = _mm512_shuffle_ps(b0, b1, 0xEE);
    }
    for (int t = 0; t < 4; ++t) {
        /* [x lane 0, x lane 1, y lane 0, y lane 1] -> [x0, y0, x1, y1] */
        const __m512 lo = _mm512_shuffle_f32x4(x[t], y[t], 0x44);
        const __m512 hi = _mm512_shuffle_f32x4(x[t], y[t], 0xEE);
        r[t] = _mm512_shuffle_f32x4(lo, lo, 0xD8);
        r[4 + t] = _mm512_shuffle_f32x4(hi, hi, 0xD8);
    }
}

/* Backward-data's output: the two column phases of a row phase interleave into
 * runs of eight pixels (tile tj: columns 8tj .. 8tj + 7 of rows 8ti + 2i + e,
 * e in {0, 1} the row phase's first padded row), so each row of each tile goes
 * out as one masked 8-float store after an 8 x 16 transpose of the panel's
 * vectors: + bias, + residual, ReLU on the way, as fc_wino_s2t_output_ref. */
FC_W_AVX512 int fc_wino_s2t_output_avx512_f32(const fc_conv_plan *pl, const float *mb,
                                               fc_int gr0, fc_int nrows, fc_int k0, fc_int k1,
                                               const float *bias, const float *res, int act,
                                               float *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, HWo = Ho * Wo, th = pl->wino_th;
    const fc_int tw = pl->wino_tw, tbp = pl->wino_tbp, ms = pl->wino_ms, ntile = nrows * tw;
    const fc_int img0 = gr0 / th;
    if (act != FC_ACT_NONE && act != FC_ACT_RELU)
        return 0;
    const int relu = act == FC_ACT_RELU;
    const fc_int(*q0)[2] = pl->wino_q0, (*nq)[2] = pl->wino_nq;
    int ep[2][2]; /* [axis][phase]: the first pixel's coordinate, 0 or 1 */
    for (int p = 0; p < 2; ++p) {
        ep[0][p] = (int)(2 * q0[0][p] + p - g->pad_top);
        ep[1][p] = (int)(2 * q0[1][p] + p - g->pad_left);
    }
    float *yb = y + img0 * K * HWo;
    const float *rb = res ? res + img0 * K * HWo : NULL;
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR_F32) {
        const int live = (int)FC_MIN(16, ntile - t0);
        fc_int at[16];             /* tile l's pixel (8ti, 8tj) from yb, channel 0 */
        __mmask8 cols[16];         /* its run's pixels in the map */
        unsigned rows[2][4] = {{0}}; /* [row phase][i]: tiles whose row i is in the map */
        for (int l = 0; l < live; ++l) {
            const fc_int tau = t0 + l, lr = tau / tw, tj = tau - lr * tw;
            const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            at[l] = (img - img0) * K * HWo + 8 * ti * Wo + 8 * tj;
            unsigned cm = 0;
            for (int j = 0; j < 4; ++j)
                for (int px = 0; px < 2; ++px)
                    cm |= (unsigned)(4 * tj + j < nq[1][px]) << (2 * j + ep[1][px]);
            cols[l] = (__mmask8)cm;
            for (int i = 0; i < 4; ++i)
                for (int py = 0; py < 2; ++py)
                    rows[py][i] |= (unsigned)(4 * ti + i < nq[0][py]) << l;
        }
        for (fc_int k = k0; k < k1; ++k) {
            const __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
            for (int py = 0; py < 2; ++py) {
                __m512 o[2][4][4]; /* [column phase][i][j] */
                for (int px = 0; px < 2; ++px) {
                    const float *m = mb + ((2 * py + px) * 25) * ms + k * tbp + t0;
                    __m512 s[5][4];
                    for (int b = 0; b < 5; ++b)
                        fc_wino_s2_at_avx512(_mm512_loadu_ps(m + b * ms),
                                             _mm512_loadu_ps(m + (5 + b) * ms),
                                             _mm512_loadu_ps(m + (10 + b) * ms),
                                             _mm512_loadu_ps(m + (15 + b) * ms),
                                             _mm512_loadu_ps(m + (20 + b) * ms), s[b]);
                    for (int i = 0; i < 4; ++i)
                        fc_wino_s2_at_avx512(s[0][i], s[1][i], s[2][i], s[3][i], s[4][i],
                                             o[px][i]);
                }
                for (int i = 0; i < 4; ++i) {
                    if (!rows[py][i])
                        continue;
                    __m512 p[8], r[8];
                    for (int j = 0; j < 4; ++j)
                        for (int px = 0; px < 2; ++px)
                            p[2 * j + ep[1][px]] = _mm512_add_ps(o[px][i][j], bk);
                    fc_s2t_transpose8x16(p, r);
                    const fc_int row = k * HWo + (2 * i + ep[0][py]) * Wo;
                    for (int l = 0; l < live; ++l) {
                        if (!((rows[py][i] >> l) & 1))
                            continue;
                        const __m512 rl = r[(l & 3) + 4 * (l >> 3)];
                        const __m256 v = (l >> 2) & 1 ? _mm512_extractf32x8_ps(rl, 1)
                                                     : _mm512_castps512_ps256(rl);
                        fc_put8_masked_f32(yb + at[l] + row, rb ? rb + at[l] + row : NULL,
                                           cols[l], relu, v);
                    }
                }
            }
        }
    }
    return 1;
}

#else
typedef int fc_conv_winograd_s2_avx512_unused;
#endif
