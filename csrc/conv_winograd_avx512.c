/*
 * conv_winograd_avx512.c -- the Winograd transforms of the AVX-512 path
 * (float) that put a packed panel's 16 tiles in the vector lanes (declared in
 * conv_internal.h; their callers, conv_winograd.c and conv_winograd4.c, take
 * them when fc_simd_path() is FC_SIMD_AVX512 and they return 1):
 *   F(4x4) input   each of a tile's 36 pixels one masked gather (or, where the
 *                  panel is runs of four tiles along tile rows, row loads and
 *                  lane permutes), B^T and B on whole vectors, 36 full stores
 *                  into the panel;
 *   F(4x4) output  A^T and A on whole vectors, + bias, + residual, ReLU, one
 *                  masked scatter per output (or row stores after lane shuffles);
 *   F(2x2) output  where tile rows are whole panels: two output rows per
 *                  panel by lane permutes;
 * and two of the F(4x4) weight gradient's (conv_winograd_bw.c), a channel group's
 * 16 channels or a filter panel's (tile, filter) pairs in the lanes.
 * Each gives every element the operations, in the order, of the portable and
 * AVX2 transforms it stands in for, so the paths agree bit for bit
 * (tests/test_avx512_kernels.py).
 */
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#define FC_W_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#include "conv_winograd_avx512.h"
/* A packed panel: NR tiles, one vector of floats. */
#define FC_NR FC_NR_F32

/* The AVX-512 input transform (float), a panel of NR = 16 tiles in the
 * vector lanes: each of a tile's 36 input pixels is one masked gather over the
 * panel's tiles straight from the image (lanes whose pixel is padding, or past
 * the block's last tile, read nothing and hold zero), B^T down and B along run
 * on whole vectors, and each of the 36 results is one full store into the
 * panel. The plane copies, phase splits and gathered runs of the AVX2 path
 * (two thirds of its time, much of it loads waiting for the partial stores
 * before them) are gone. Every element gets the same operations in the same
 * order as fc_wino4_bt: the same bits. 5x is written 4x + x: only products by
 * powers of two remain, so a multiply the compiler fuses into an add rounds
 * as the separate pair would. */

/* fc_wino4_bt on six vectors. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_bt_avx512_f32(const __m512 i0, const __m512 i1, const __m512 i2, const __m512 i3,
                       const __m512 i4, const __m512 i5, __m512 o[6])
{
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f);
    const __m512 f1 = _mm512_mul_ps(c4, i1), f2 = _mm512_mul_ps(c4, i2);
    const __m512 a = _mm512_sub_ps(i4, f2), b = _mm512_sub_ps(f1, i3);
    const __m512 c = _mm512_sub_ps(i4, i2), d = _mm512_mul_ps(c2, _mm512_sub_ps(i1, i3));
    o[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(c4, i0), _mm512_add_ps(f2, i2)), i4);
    o[1] = _mm512_sub_ps(a, b);
    o[2] = _mm512_add_ps(a, b);
    o[3] = _mm512_sub_ps(c, d);
    o[4] = _mm512_add_ps(c, d);
    o[5] = _mm512_add_ps(_mm512_sub_ps(f1, _mm512_add_ps(_mm512_mul_ps(c4, i3), i3)), i5);
}

/* fc_wino4_at on six vectors: o[0..3]. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_at_avx512_f32(const __m512 i0, const __m512 i1, const __m512 i2, const __m512 i3,
                       const __m512 i4, const __m512 i5, __m512 o[4])
{
    const __m512 sp = _mm512_add_ps(i1, i2), sm = _mm512_sub_ps(i1, i2);
    const __m512 tp = _mm512_add_ps(i3, i4), tm = _mm512_sub_ps(i3, i4);
    o[0] = _mm512_add_ps(_mm512_add_ps(sp, tp), i0);
    o[1] = _mm512_add_ps(sm, _mm512_mul_ps(_mm512_set1_ps(2.0f), tm));
    o[2] = _mm512_add_ps(sp, _mm512_mul_ps(_mm512_set1_ps(4.0f), tp));
    o[3] = _mm512_add_ps(_mm512_add_ps(sm, _mm512_mul_ps(_mm512_set1_ps(8.0f), tm)), i5);
}

/* The panel's tiles t0 .. t0 + 15 of the block (tile tau: tile row gr0 +
 * tau / tw, column tau % tw), for gathers and scatters: the offset of each
 * one's first pixel, at row span * ti - pt and column span * tj - pleft of its
 * image (span: 4, or 8 for the input of a stride-2 block), from image
 * img0 = gr0 / th (images planes x H x W apart), and which of its first n
 * rows and n columns lie in the H x W map (none for lanes past the block's
 * ntile tiles). */
void fc_wino_panel_tiles(const fc_conv_plan *pl, fc_int gr0, fc_int t0, fc_int ntile,
                         fc_int planes, fc_int H, fc_int W, fc_int pt, fc_int pleft, int span,
                         int n, int32_t off[16], unsigned *rowok, unsigned *colok)
{
    const fc_int th = pl->wino_th, tw = pl->wino_tw, img0 = gr0 / th;
    for (int l = 0; l < 16; ++l)
        off[l] = 0;
    for (int a = 0; a < n; ++a)
        rowok[a] = colok[a] = 0;
    for (int l = 0; l < 16 && t0 + l < ntile; ++l) {
        const fc_int tau = t0 + l, lr = tau / tw, tj = tau - lr * tw;
        const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
        const fc_int ih0 = span * ti - pt, iw0 = span * tj - pleft;
        off[l] = (int32_t)((img - img0) * planes * H * W + ih0 * W + iw0);
        for (int a = 0; a < n; ++a) {
            if (ih0 + a >= 0 && ih0 + a < H)
                rowok[a] |= 1u << l;
            if (iw0 + a >= 0 && iw0 + a < W)
                colok[a] |= 1u << l;
        }
    }
}

/* B^T d B of one channel's 16 tiles, in[a][b] the tiles' input pixel (a, b): B^T down
 * each column b, then B along each row, V[a*6 + b] stored at d + (a*6 + b)*vstride. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_in_panel_f32(const __m512 in[6][6], float *d, fc_int vstride)
{
    __m512 t[6][6]; /* B^T d: t[a][b] */
    for (int b = 0; b < 6; ++b) {
        __m512 o[6];
        fc_wino4_bt_avx512_f32(in[0][b], in[1][b], in[2][b], in[3][b], in[4][b], in[5][b], o);
        for (int a = 0; a < 6; ++a)
            t[a][b] = o[a];
    }
    for (int a = 0; a < 6; ++a) {
        __m512 o[6];
        fc_wino4_bt_avx512_f32(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], t[a][5], o);
        for (int b = 0; b < 6; ++b)
            _mm512_storeu_ps(d + (a * 6 + b) * vstride, o[b]);
    }
}

/* The backward-weight input transform's tiles (fc_wino4_tile_in_t, conv_winograd_bw.c)
 * on whole vectors: NR = 16 channels interleaved channel-last in the lanes, the
 * ntiles tiles of one tile row (patches 4 pixels apart in p, rows wr pixels apart),
 * tile tj's V[xi] to d + tj*NR + xi*vstride. Half the instructions of the AVX2
 * version's two 8-lane halves, and no stack round trip between B^T and B. */
FC_W_AVX512 void fc_wino4_tiles_in_t_avx512_f32(const float *p, fc_int wr, fc_int ntiles,
                                                float *d, fc_int vstride)
{
    for (fc_int tj = 0; tj < ntiles; ++tj) {
        const float *pt = p + 4 * tj * FC_NR;
        __m512 in[6][6];
        for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b)
                in[a][b] = _mm512_loadu_ps(pt + (a * wr + b) * FC_NR);
        fc_wino4_in_panel_f32(in, d + tj * FC_NR, vstride);
    }
}

/* fc_wino4_a (conv_winograd_bw.c) on four vectors: the same operations, its only
 * constants 2 and 4, so a multiply fused into an add rounds as the pair would. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_a_avx512_f32(const __m512 y0, const __m512 y1, const __m512 y2, const __m512 y3,
                      __m512 z[6])
{
    const __m512 c2 = _mm512_set1_ps(2.0f), c4 = _mm512_set1_ps(4.0f);
    const __m512 e = _mm512_add_ps(y0, y2), o = _mm512_add_ps(y1, y3);
    const __m512 e4 = _mm512_add_ps(y0, _mm512_mul_ps(c4, y2));
    const __m512 o4 = _mm512_mul_ps(c2, _mm512_add_ps(y1, _mm512_mul_ps(c4, y3)));
    z[0] = y0;
    z[1] = _mm512_add_ps(e, o);
    z[2] = _mm512_sub_ps(e, o);
    z[3] = _mm512_add_ps(e4, o4);
    z[4] = _mm512_sub_ps(e4, o4);
    z[5] = y3;
}

/* The backward-weight Dy = A dY A^T of a filter panel's tiles on whole vectors (F(4x4)'s,
 * or with s2 the stride-2 path's). q holds
 * the 16 pixels of the tiles as 16 planes ts floats apart (plane a*4 + j: pixel (a, j)
 * of every tile, tiles one after another, each its six filters): a lane is one (tile,
 * filter) pair, so the transform is lane-wise over n floats of every plane, and Dy[xi]
 * -- the same (tile, filter) order, the packed A panel's -- goes out as whole vectors to
 * d + xi*astride. n a multiple of 16 (the lanes past the block's tiles are computed and
 * land in the panel's unread columns). */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_dy_body_avx512_f32(const float *q, fc_int ts, fc_int n, float *d, fc_int astride,
                            const int s2)
{
    /* s2: the stride-2 path's A, this one without row 4 -- Dy[a'*5 + b'] of the rest
     * (a compile-time constant here: the loops unroll to fixed stores, t stays in
     * registers) */
    const int nx = s2 ? 5 : 6;
    for (fc_int f = 0; f < n; f += 16) {
        __m512 t[6][4]; /* A dY: t[a][j] */
        for (int j = 0; j < 4; ++j) {
            __m512 z[6];
            fc_wino4_a_avx512_f32(_mm512_loadu_ps(q + j * ts + f),
                                  _mm512_loadu_ps(q + (4 + j) * ts + f),
                                  _mm512_loadu_ps(q + (8 + j) * ts + f),
                                  _mm512_loadu_ps(q + (12 + j) * ts + f), z);
            for (int a = 0; a < 6; ++a)
                t[a][j] = z[a];
        }
#pragma GCC unroll 6
        for (int a = 0; a < 6; ++a) {
            if (s2 && a == 4)
                continue;
            __m512 z[6];
            fc_wino4_a_avx512_f32(t[a][0], t[a][1], t[a][2], t[a][3], z);
#pragma GCC unroll 6
            for (int b = 0; b < 6; ++b)
                if (!(s2 && b == 4))
                    _mm512_storeu_ps(d + ((a - (s2 && a == 5)) * nx + b - (s2 && b == 5)) * astride + f,
                                     z[b]);
        }
    }
}

FC_W_AVX512 void fc_wino4_dy_avx512_f32(const float *q, fc_int ts, fc_int n, float *d,
                                        fc_int astride, int s2)
{
    if (s2)
        fc_wino4_dy_body_avx512_f32(q, ts, n, d, astride, 1);
    else
        fc_wino4_dy_body_avx512_f32(q, ts, n, d, astride, 0);
}

/* fc_wino4_input (conv_winograd4.c) on the AVX-512 path; 0 when the block's images span
 * more elements than a gather's 32-bit index reaches (the caller then takes
 * the AVX2 path). Panels of whole runs of four tiles along tile rows load rows and
 * permute (below); the others gather. */
FC_W_AVX512 int fc_wino4_input_avx512_f32(const fc_conv_plan *pl, const float *x, fc_int gr0,
                                          fc_int nrows, float *vb)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, HW = H * W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vstride = pl->wino_vs, pt = g->pad_top, pleft = g->pad_left;
    const fc_int ntile = nrows * tw, img0 = gr0 / th;
    if (!fc_wino_reach32(gr0, nrows, th, C, HW))
        return 0;
    const float *xb = x + img0 * C * HW;
    /* Whole panels in runs of four tiles along tile rows: each run's six input rows are
     * two masked vector loads each (columns c0 .. c0 + 15 and c0 + 2 .. c0 + 17, out of
     * the map masked off), and every (a, b) vector is two lane permutes and a blend of
     * the four runs' loads -- in place of 36 gathers per channel. */
    const int runs = tw % 4 == 0;
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR) {
        if (runs && t0 + 16 <= ntile) {
            fc_wino_runs6 rw;
            fc_wino_runs6_setup(&rw, pl, gr0, t0, C, H, W, -pt, -pleft);
            float *vp = vb + (t0 / FC_NR) * C * FC_NR;
            for (fc_int c = 0; c < C; ++c) {
                __m512 in[6][6];
                fc_wino_runs6_window(&rw, xb + c * HW, in);
                fc_wino4_in_panel_f32(in, vp + c * FC_NR, vstride);
            }
            continue;
        }
        unsigned rowok[6], colok[6];
        int32_t off[16];
        fc_wino_panel_tiles(pl, gr0, t0, ntile, C, H, W, pt, pleft, 4, 6, off, rowok, colok);
        const __m512i idx = _mm512_loadu_si512((const void *)off);
        __mmask16 m[6][6];
        for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b)
                m[a][b] = (__mmask16)(rowok[a] & colok[b]);
        float *vp = vb + (t0 / FC_NR) * C * FC_NR;
        for (fc_int c = 0; c < C; ++c) {
            const float *xc = xb + c * HW;
            __m512 in[6][6];
            for (int a = 0; a < 6; ++a)
                for (int b = 0; b < 6; ++b)
                    in[a][b] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m[a][b], idx,
                                                        xc + a * W + b, 4);
            fc_wino4_in_panel_f32(in, vp + c * FC_NR, vstride);
        }
    }
    return 1;
}

/* A^T down the columns of one filter's 36 products over a panel (mk: the first of the
 * blocks, mstride apart): s[b][i]. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_at_cols_f32(const float *mk, fc_int mstride, __m512 s[6][4])
{
    for (int b = 0; b < 6; ++b)
        fc_wino4_at_avx512_f32(_mm512_loadu_ps(mk + b * mstride),
                               _mm512_loadu_ps(mk + (6 + b) * mstride),
                               _mm512_loadu_ps(mk + (12 + b) * mstride),
                               _mm512_loadu_ps(mk + (18 + b) * mstride),
                               _mm512_loadu_ps(mk + (24 + b) * mstride),
                               _mm512_loadu_ps(mk + (30 + b) * mstride), s[b]);
}

/* Output row i of the panel's tiles from s (fc_wino4_at_cols_f32), + bias: o[j]. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_out_row_f32(__m512 s[6][4], int i, __m512 bk, __m512 o[4])
{
    fc_wino4_at_avx512_f32(s[0][i], s[1][i], s[2][i], s[3][i], s[4][i], s[5][i], o);
    for (int j = 0; j < 4; ++j)
        o[j] = _mm512_add_ps(o[j], bk);
}

/* fc_wino4_output (conv_winograd4.c) on the AVX-512 path, the same way round as the
 * input: a panel of 16 tiles in the lanes, A^T then A on whole vectors, + bias,
 * + the residual, ReLU. Where a panel is 16 whole tiles in runs of four along tile rows
 * (tile rows a multiple of 4 tiles, maps a multiple of 4 pixels: 16x16 and 32x32), its
 * rows go out as 16-pixel vector stores after lane shuffles (fc_wino4_rows16_f32) and
 * the residual comes in as vector loads; elsewhere each of the 16 outputs is one masked
 * scatter (and the residual a gather) -- the scatters were most of this transform's
 * time. The same operations per element as fc_wino4_output_body. 0 (nothing done)
 * for other activations, or when a 32-bit index would not reach. */
FC_W_AVX512 int fc_wino4_output_avx512_f32(const fc_conv_plan *pl, const float *mb, fc_int gr0,
                                           fc_int nrows, fc_int k0, fc_int k1, const float *bias,
                                           const float *res, int act, float *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, HWo = Ho * Wo, th = pl->wino_th;
    const fc_int tbp = pl->wino_tbp, mstride = pl->wino_ms, ntile = nrows * pl->wino_tw;
    const fc_int img0 = gr0 / th;
    if ((act != FC_ACT_NONE && act != FC_ACT_RELU) ||
        !fc_wino_reach32(gr0, nrows, th, K, HWo))
        return 0;
    const int relu = act == FC_ACT_RELU;
    float *yb = y + img0 * K * HWo;
    const float *rb = res ? res + img0 * K * HWo : NULL;
    const fc_int tw = pl->wino_tw;
    const int whole = tw % 4 == 0 && Ho % 4 == 0 && Wo % 4 == 0;
    for (fc_int t0 = 0; t0 < ntile; t0 += FC_NR) {
        if (whole && t0 + 16 <= ntile) {
            fc_int at[4];
            fc_wino_runs_origin(pl, gr0, t0, K, Ho, Wo, at);
            for (fc_int k = k0; k < k1; ++k) {
                __m512 s[6][4];
                fc_wino4_at_cols_f32(mb + k * tbp + t0, mstride, s);
                for (int i = 0; i < 4; ++i) {
                    __m512 o[4];
                    fc_wino4_out_row_f32(s, i, _mm512_set1_ps(bias ? bias[k] : 0.0f), o);
                    fc_wino4_put_rows16_f32(o, at, k * HWo + i * Wo, rb, relu, yb);
                }
            }
            continue;
        }
        unsigned rowok[6], colok[6];
        int32_t off[16];
        fc_wino_panel_tiles(pl, gr0, t0, ntile, K, Ho, Wo, 0, 0, 4, 4, off, rowok, colok);
        const __m512i idx = _mm512_loadu_si512((const void *)off);
        for (fc_int k = k0; k < k1; ++k) {
            __m512 s[6][4];
            fc_wino4_at_cols_f32(mb + k * tbp + t0, mstride, s);
            for (int i = 0; i < 4; ++i) {
                __m512 o[4];
                fc_wino4_out_row_f32(s, i, _mm512_set1_ps(bias ? bias[k] : 0.0f), o);
                for (int j = 0; j < 4; ++j) {
                    const __mmask16 m = (__mmask16)(rowok[i] & colok[j]);
                    const fc_int at = k * HWo + i * Wo + j;
                    __m512 v = o[j];
                    if (rb)
                        v = _mm512_add_ps(
                            v, _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, rb + at, 4));
                    if (relu)
                        v = fc_relu_avx512_f32(v);
                    _mm512_mask_i32scatter_ps(yb + at, m, idx, v, 4);
                }
            }
        }
    }
    return 1;
}

/* The 2x2 outputs of the 16 tiles of a panel, rows (o[0]: row 0 of each tile, o[1]: row
 * 1) interleaved into tile order: lane 2t + j of lo / hi (tiles 0-7 / 8-15) is output
 * column j of tile t, + bias. */
static inline FC_W_AVX512 void fc_wino_output_panel_avx512(const float *m, fc_int ms, __m512 bk,
                                                          __m512 lo[2], __m512 hi[2])
{
    const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ih =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 v[16];
    for (int xi = 0; xi < 16; ++xi)
        v[xi] = _mm512_loadu_ps(m + xi * ms);
    __m512 s0[4], s1[4]; /* rows: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 */
    for (int b = 0; b < 4; ++b) {
        s0[b] = _mm512_add_ps(_mm512_add_ps(v[b], v[4 + b]), v[8 + b]);
        s1[b] = _mm512_sub_ps(_mm512_sub_ps(v[4 + b], v[8 + b]), v[12 + b]);
    }
    __m512 o[2][2];
    o[0][0] = _mm512_add_ps(_mm512_add_ps(s0[0], s0[1]), s0[2]);
    o[0][1] = _mm512_sub_ps(_mm512_sub_ps(s0[1], s0[2]), s0[3]);
    o[1][0] = _mm512_add_ps(_mm512_add_ps(s1[0], s1[1]), s1[2]);
    o[1][1] = _mm512_sub_ps(_mm512_sub_ps(s1[1], s1[2]), s1[3]);
    for (int i = 0; i < 2; ++i) {
        lo[i] = _mm512_add_ps(_mm512_permutex2var_ps(o[i][0], il, o[i][1]), bk);
        hi[i] = _mm512_add_ps(_mm512_permutex2var_ps(o[i][0], ih, o[i][1]), bk);
    }
}

/* fc_wino_output_avx512_f32 for tile rows of 4 or 8 tiles (7-8 and 15-16 columns: ResNet's
 * last stage at batch 1, its middle one): a panel holds 16 / tw tile rows, each output row
 * one 2 * tw-wide piece of the interleaved vectors, + residual, ReLU, stored masked to
 * Wo. The same operations per element as fc_wino_output_body: the same bits. */
static FC_W_AVX512 int fc_wino_output_short_rows_avx512_f32(const fc_conv_plan *pl,
                                                            const float *mb, fc_int gr0,
                                                            fc_int nrows, fc_int k0, fc_int k1,
                                                            const float *bias, const float *res,
                                                            int act, float *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, ms = pl->wino_ms, per = 16 / tw;
    const __mmask16 mrow = (__mmask16)((1u << FC_MIN(Wo, 2 * tw)) - 1u);
    const int relu = act == FC_ACT_RELU;
    for (fc_int k = k0; k < k1; ++k) {
        const __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
        for (fc_int t0 = 0; t0 < nrows * tw; t0 += 16) {
            __m512 lo[2], hi[2];
            fc_wino_output_panel_avx512(mb + k * tbp + t0, ms, bk, lo, hi);
            for (fc_int q = 0; q < per && t0 / tw + q < nrows; ++q) {
                const fc_int gr = gr0 + t0 / tw + q, img = gr / th, ti = gr - img * th;
                for (int i = 0; i < 2 && 2 * ti + i < Ho; ++i) {
                    const fc_int at = ((img * K + k) * Ho + 2 * ti + i) * Wo;
                    const __m512 h = 2 * q < per ? lo[i] : hi[i];
                    const float *r = res ? res + at : NULL;
                    if (tw == 8)
                        fc_put16_masked_f32(y + at, r, mrow, relu, h);
                    else
                        fc_put8_masked_f32(y + at, r, (__mmask8)mrow, relu,
                                           q & 1 ? _mm512_extractf32x8_ps(h, 1)
                                                 : _mm512_castps512_ps256(h));
                }
            }
        }
    }
    return 1;
}

/* fc_wino_output_body (conv_winograd.c) on the AVX-512 path when tile rows are whole
 * panels (tw a multiple of 16: maps of 31-32, 63-64 .. columns): a panel is 16
 * tiles of one tile row, so its two output rows are the lanes of the four
 * results interleaved -- two permutes and two stores per row, + bias,
 * + residual, ReLU on the way -- instead of row-by-row scalar interleaves and
 * epilogues. The same operations per element: the same bits. 0 (nothing
 * done) for other tile rows or activations. */
FC_W_AVX512 int fc_wino_output_avx512_f32(const fc_conv_plan *pl, const float *mb, fc_int gr0,
                                          fc_int nrows, fc_int k0, fc_int k1, const float *bias,
                                          const float *res, int act, float *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, ms = pl->wino_ms;
    if (act != FC_ACT_NONE && act != FC_ACT_RELU)
        return 0;
    if (tw % 16)
        return (tw == 4 || tw == 8) &&
               fc_wino_output_short_rows_avx512_f32(pl, mb, gr0, nrows, k0, k1, bias, res, act, y);
    const int relu = act == FC_ACT_RELU;
    for (fc_int k = k0; k < k1; ++k) {
        const __m512 bk = _mm512_set1_ps(bias ? bias[k] : 0.0f);
        for (fc_int t0 = 0; t0 < nrows * tw; t0 += 16) {
            const fc_int lr = t0 / tw, gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            const fc_int ow0 = 2 * (t0 - lr * tw); /* first output column of the panel */
            __m512 lo[2], hi[2];
            fc_wino_output_panel_avx512(mb + k * tbp + t0, ms, bk, lo, hi);
            /* columns ow0 .. ow0 + 31 of the row, the last ones masked off past Wo */
            const fc_int n0 = FC_MIN(16, FC_MAX(0, Wo - ow0));
            const fc_int n1 = FC_MIN(16, FC_MAX(0, Wo - ow0 - 16));
            const __mmask16 m0 = (__mmask16)((1u << n0) - 1u), m1 = (__mmask16)((1u << n1) - 1u);
            for (int i = 0; i < 2 && 2 * ti + i < Ho; ++i) {
                const fc_int at = ((img * K + k) * Ho + 2 * ti + i) * Wo + ow0;
                fc_put16_masked_f32(y + at, res ? res + at : NULL, m0, relu, lo[i]);
                fc_put16_masked_f32(y + at + 16, res ? res + at + 16 : NULL, m1, relu, hi[i]);
            }
        }
    }
    return 1;
}
#endif /* FC_HAVE_X86_AVX2_KERNELS */
