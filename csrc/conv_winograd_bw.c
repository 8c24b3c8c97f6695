/*
 * conv_winograd_bw.c -- the backward-weight pass by the transposed Winograd
 * transform: of 3x3, stride-1, undilated convolutions F(2x2, 3x3) or
 * F(4x4, 3x3) after the plan's tile pl->wino_m, of stride-2 3x3 / 4x4 ones
 * F(2x2, 4x4) on the four phases (pl->wino_s2; conv_winograd_s2.c). The
 * forward and backward-data passes are in conv_winograd.c, conv_winograd4.c
 * and conv_winograd_s2.c, the last step in conv_winograd_bw_finish.c;
 * overview in conv_internal.h.
 */
#ifndef FC_T
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include "transpose8_avx2.h"
#endif

/* A plane of the AVX-512 F(4x4) Dy transform's input (fc_wino4_dy_avx512_f32): the
 * block's tiles' six filters, 8 floats of slack for the last tile's spilled lanes, the
 * rest of 16 for the last vector's reads. */
#define FC_WINO4_DY_PLANE(tbp) (6 * (tbp) + 16)

/* Workspace layout of the backward-weight run (fc_conv_wino_bw_run): Dy
 * panels, transposed V panels, the Mw accumulators (K x fc_wino_bw_cols, one
 * per transformed plane), the input's
 * channel-last plane, the output gradient's rows. Block strides are a panel
 * past a multiple of 4 KB, off the L1 set aliasing. */
void fc_wino_bw_sizes(const fc_conv_plan *pl, size_t elem, fc_int *astride, fc_int *pstride,
                      fc_int *vstride, size_t *a_bytes, size_t *v_bytes, size_t *m_bytes,
                      size_t *p_bytes, size_t *r_bytes)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_conv_geom *d = &pl->dg;
    const fc_int tbp = pl->wino_tbp, tw = pl->wino_tw, th = pl->wino_th, m = pl->wino_m;
    /* stride 2: 25 planes of the four phases' channels, each phase nr-aligned */
    const fc_int s2 = pl->wino_s2 != 0, step = s2 ? 2 * m : m, cols = fc_wino_bw_cols(pl, nr);
    const size_t nx = s2 ? 25 : (size_t)(m + 2) * (size_t)(m + 2);
    /* Dy panels MR x tbp plus 8 elements of slack (fc_wino_dy_body's
     * 8-lane stores run 2 past a 6-row panel). */
    *pstride = mr * tbp + 8;
    *astride = (fc_roundup(d->K, mr) / mr) * *pstride + nr;
    *vstride = fc_roundup(cols, nr) * tbp + nr;
    *a_bytes = fc_align_up(nx * (size_t)*astride * elem);
    *v_bytes = fc_align_up(nx * (size_t)*vstride * elem);
    *m_bytes = fc_align_up(nx * (size_t)d->K * (size_t)cols * elem);
    const size_t plane = (step * (size_t)th + 2) * (step * (size_t)tw + 2) * (size_t)nr;
    size_t rows = m * (m * (size_t)tw) * 8; /* fc_wino_dy_body's m interleaved rows */
    if (m == 4 && elem == 4)
        rows = FC_MAX(rows, 16 * (size_t)FC_WINO4_DY_PLANE(tbp)); /* its AVX-512 planes */
    rows = rows > 9 * 64 ? rows : 9 * 64; /* the final transform's 9 x FC_WINO_FIN */
    *p_bytes = fc_align_up(plane * elem);
    *r_bytes = fc_align_up(rows * elem);
}

size_t fc_wino_bw_bytes(const fc_conv_plan *pl, size_t elem)
{
    fc_int as, ps, vs;
    size_t a, v, m, p, r;
    fc_wino_bw_sizes(pl, elem, &as, &ps, &vs, &a, &v, &m, &p, &r);
    return a + v + m + p + r + FC_ALIGN;
}

#define FC_TMPL_SELF "conv_winograd_bw.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

#include "conv_winograd_tiles.h"
#include "conv_winograd_s2_tiles.h"

/* Lanes of the dy transform: MR (6) rounded up to a vector of floats. */
#ifndef FC_DYL
#define FC_DYL 8
#endif

/* ---------------------------------------------------------------------
 * Backward-weight by the forward transform, transposed: with Dy = A dY A^T
 * (n x n, n = m + 2, from each m x m block of output gradients) and
 * V = B^T d B (from the n x n input patch under it),
 *
 *   Mw[xi] (K x C) = sum over tiles of Dy[xi] (K x T) . V[xi]^T (T x C),
 *   dW(k, c) = G^T Mw(k, c) G   (n x n -> 3 x 3),
 *
 * n^2 GEMMs (16 for F(2x2), 36 for F(4x4)) whose reduction runs over the
 * tiles of the run of images (in blocks of tile rows, in order: the sum
 * depends on the geometry and the run only). Dy goes straight into packed A
 * panels (k rows, tiles along the reduction), V into transposed B panels
 * (channels as columns). F(4x4) does 2.25 products per output gradient
 * instead of F(2x2)'s 4 (direct: 9); its transforms scale values by up to
 * 8 per dimension, so float32 gradients carry about 1e-5 of their magnitude
 * in rounding (F(2x2): a few units in the last place); the final transform
 * runs in double. On the AVX-512 path (float, F(4x4)) both transforms run on
 * 16-lane vectors (conv_winograd_avx512.c): V with a channel group in the
 * lanes, Dy with a filter panel's (tile, filter) pairs -- its pixels first
 * split into 16 planes -- so each of the 36 results of a vector is one store.
 * ------------------------------------------------------------------- */

/* F(4x4)'s V = B^T d B of one tile for NR channels interleaved channel-last
 * (p: the 6 x 6 patch's top-left pixel, rows wr*NR apart); V[xi] goes to
 * d[xi*vstride + 0..NR). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_tile_in_t)(const FC_T *p, fc_int wr, FC_T *d, fc_int vstride, const int vec)
{
    FC_T t[6][6][FC_NR]; /* B^T d: t[a][b] */
    for (int b = 0; b < 6; ++b)
        FC_W4BT(vec, p + b * FC_NR, wr * FC_NR, t[0][b], 6 * FC_NR, FC_NR);
    for (int a = 0; a < 6; ++a)
        FC_W4BT(vec, t[a][0], FC_NR, d + a * 6 * vstride, vstride, FC_NR);
}

/* The stride-2 path's (pl->wino_s2): a tile row's V blocks from the plane, the four
 * phases' 5x5 patches of tile tj's 10x10 window at p + 8 tj (rows wr apart); phase ph's
 * V[xi] of lane cc at d + tj*NR + ph*ps + xi*vstride + cc -- but the blocks no product
 * reads (fc_wino_s2_zero_phase; zr / zc: 3-tap filter sides) on the AVX-512 path. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_tiles_in_t)(const FC_T *p, fc_int wr, fc_int tw, FC_T *d, fc_int ps,
                              fc_int vstride, int zr, int zc, const int vec)
{
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    if (vec == 2) {
        fc_wino_s2_tiles_in_t_avx512_f32(p, wr, tw, d, ps, vstride, zr, zc);
        return;
    }
#endif
    (void)vec, (void)zr, (void)zc;
    for (fc_int tj = 0; tj < tw; ++tj)
        for (int ph = 0; ph < 4; ++ph)
            for (int cc = 0; cc < FC_NR; ++cc) {
                FC_T win[5][5];
                for (int i = 0; i < 5; ++i)
                    for (int j = 0; j < 5; ++j)
                        win[i][j] = p[((2 * i + (ph >> 1)) * wr + 8 * tj + 2 * j + (ph & 1)) *
                                          FC_NR + cc];
                FC_SFX(fc_wino_s2_in_tile)(win, d + tj * FC_NR + ph * ps + cc, vstride);
            }
}

/* The input transform into backward-weight's transposed panels, V[xi](tau,
 * c) at vt + xi*vstride + (c / NR)*tbp*NR + tau*NR + c % NR: NR channels at
 * a time from their planes interleaved channel-last in rowbuf, so that one
 * tile's transform is NR-wide vector arithmetic and each of its n^2 stores a
 * whole panel row. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_input_t_body)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                             FC_T *vt, fc_int vstride, FC_T *rowbuf, const int vec)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    /* stride 2 (pl->wino_s2): tiles 8 pixels apart, 10x10 windows (the phases' 5x5) */
    const fc_int m = pl->wino_m, tbp = pl->wino_tbp, s2 = pl->wino_s2 != 0;
    const fc_int step = s2 ? 2 * m : m, wr = step * tw + 2, hr = step * th + 2;
    /* the columns of phase ph start at ph * cols / 4 (fc_wino_bw_cols) */
    const fc_int pt = g->pad_top, pleft = g->pad_left, ps = fc_wino_bw_cols(pl, FC_NR) / 4 * tbp;
    const int zr = g->R <= 3, zc = g->S <= 3;
    FC_T *plane = rowbuf;
    const fc_int v0 = FC_MAX(0, pt), v1 = FC_MIN(hr, pt + H);
    const fc_int u0 = FC_MAX(0, pleft), u1 = FC_MIN(wr, pleft + W);
    /* the plane was zeroed once for the run: its border is never written, and the
     * lanes past C of the last group hold zeros or an earlier group's channels, whose
     * products land in the columns of Mw the GEMMs drop */
    /* channel groups outer: each of the nx streams of a group's panels is then
     * written tile after tile (the streams of all groups did not stay in L1) */
    for (fc_int cg = 0; cg < C; cg += FC_NR) {
        const fc_int nc = FC_MIN(FC_NR, C - cg);
        fc_int lr = 0;
        while (lr < nrows) {
            const fc_int gr = gr0 + lr, img = gr / th, ti0 = gr - img * th;
            const fc_int nr = FC_MIN(nrows - lr, th - ti0);
            const fc_int va = FC_MAX(v0, step * ti0), vz = FC_MIN(v1, step * (ti0 + nr) + 2);
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
            if (vec && FC_NR % 8 == 0 && u1 > u0) {
                for (fc_int v = va; v < vz; ++v)
                    for (fc_int c8 = 0; c8 < FC_NR; c8 += 8) {
                        const FC_T *rows[8];
                        for (int k = 0; k < 8; ++k)
                            rows[k] = c8 + k < nc ? x + ((img * C + cg + c8 + k) * H + v - pt) * W +
                                                        u0 - pleft
                                                  : NULL;
                        fc_wino_interleave8_avx2(rows, u1 - u0,
                                                 plane + (v * wr + u0) * FC_NR + c8, FC_NR, 0,
                                                 1);
                    }
            } else
#endif
            for (fc_int cc = 0; cc < nc; ++cc)
                FC_SFX(fc_wino_plane_rows)(x + (img * C + cg + cc) * H * W, W, pt, pleft, va,
                                           vz, u0, u1, wr, FC_NR, plane + cc);
            FC_T *vg = vt + (cg / FC_NR) * tbp * FC_NR;
            for (fc_int ti = ti0; ti < ti0 + nr; ++ti) {
                const fc_int taub = (lr + ti - ti0) * tw;
                if (s2) {
                    FC_SFX(fc_wino_s2_tiles_in_t)(plane + step * ti * wr * FC_NR, wr, tw,
                                                  vg + taub * FC_NR, ps, vstride, zr, zc, vec);
                    continue;
                }
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
                if (vec == 2 && m == 4) {
                    fc_wino4_tiles_in_t_avx512_f32(plane + 4 * ti * wr * FC_NR, wr, tw,
                                                   vg + taub * FC_NR, vstride);
                    continue;
                }
#endif
                for (fc_int tj = 0; tj < tw; ++tj)
                    if (m == 4)
                        FC_SFX(fc_wino4_tile_in_t)(plane + (4 * ti * wr + 4 * tj) * FC_NR, wr,
                                                   vg + (taub + tj) * FC_NR, vstride, vec);
                    else
                        FC_SFX(fc_wino_tile_in)(plane + (2 * ti * wr + 2 * tj) * FC_NR, wr,
                                                FC_NR, vg + (taub + tj) * FC_NR, vstride);
            }
            lr += nr;
        }
    }
}

/* F(2x2)'s Dy = A dY A^T (4 x 4) of one tile for FC_DYL filters: q0 / q1
 * its two rows of output gradients (pixels FC_DYL apart), o[xi][kk]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_tile_dy)(const FC_T *restrict q0, const FC_T *restrict q1, FC_T o[16][FC_DYL])
{
    for (int kk = 0; kk < FC_DYL; ++kk) {
        const FC_T y00 = q0[kk], y01 = q0[FC_DYL + kk];
        const FC_T y10 = q1[kk], y11 = q1[FC_DYL + kk];
        /* t = A dY (4 x 2), then D = t A^T (4 x 4) */
        const FC_T t[4][2] = {{y00, y01}, {y00 + y10, y01 + y11},
                              {y00 - y10, y01 - y11}, {-y10, -y11}};
        for (int a = 0; a < 4; ++a) {
            o[a * 4 + 0][kk] = t[a][0];
            o[a * 4 + 1][kk] = t[a][0] + t[a][1];
            o[a * 4 + 2][kk] = t[a][0] - t[a][1];
            o[a * 4 + 3][kk] = -t[a][1];
        }
    }
}

/* F(4x4)'s A (6 x 4) on FC_DYL lanes: z = A y for y[i] = in + i*is, z[a] at
 * out + a*os:  z0 = y0, z1 = (y0 + y2) + (y1 + y3), z2 = (y0 + y2) - (y1 + y3),
 * z3 = (y0 + 4 y2) + 2 (y1 + 4 y3), z4 = (y0 + 4 y2) - 2 (y1 + 4 y3), z5 = y3. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_a)(const FC_T *restrict in, fc_int is, FC_T *restrict out, fc_int os)
{
    for (int kk = 0; kk < FC_DYL; ++kk) {
        const FC_T y0 = in[kk], y1 = in[is + kk], y2 = in[2 * is + kk], y3 = in[3 * is + kk];
        const FC_T e = y0 + y2, o = y1 + y3;
        const FC_T e4 = y0 + (FC_T)4 * y2, o4 = (FC_T)2 * (y1 + (FC_T)4 * y3);
        out[kk] = y0;
        out[os + kk] = e + o;
        out[2 * os + kk] = e - o;
        out[3 * os + kk] = e4 + o4;
        out[4 * os + kk] = e4 - o4;
        out[5 * os + kk] = y3;
    }
}

/* Dy[xi](k, tau) at ad + xi*astride + (k / MR)*pstride + tau*MR + k % MR, for
 * the tiles of the tile rows [gr0, gr0 + nrows). rowbuf: m rows of m*tw. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_dy_body)(const fc_conv_plan *pl, const FC_T *dy, fc_int gr0, fc_int nrows,
                        FC_T *ad, fc_int astride, fc_int pstride, FC_T *rowbuf, const int vec)
{
    /* Per MR filters: their m dy rows interleaved filter-last, FC_DYL
     * lanes per pixel (q[(a*m*tw + u)*FC_DYL + kk], zero past Wo / Ho / K),
     * then each tile's transform is FC_DYL-wide vector arithmetic whose
     * stores spill FC_DYL - MR lanes into the next tile's slot: written again
     * by that tile, or landing in the slack of pstride. */
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int m = pl->wino_m, nx = (m + 2) * (m + 2), wr = m * tw;
    const int s2 = pl->wino_s2 != 0;
    FC_T *q = rowbuf;
    /* AVX-512 (float, F(4x4)): the panel's tiles as 16 pixel planes ts floats apart,
     * transformed once all its tile rows are in (fc_wino4_dy_avx512_f32). q was zeroed
     * once for the run: a pixel past Wo is never written */
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    const int planes = vec == 2 && m == 4 && FC_MR == 6;
#else
    const int planes = 0;
#endif
    const fc_int ts = planes ? FC_WINO4_DY_PLANE(pl->wino_tbp) : 0;
    (void)ts; /* read by the AVX-512 path only */
    /* filter panels outer: each of the nx streams of a panel is then written
     * tile after tile, instead of a few tiles of every panel in turn (the
     * streams of all panels did not stay in L1) */
    for (fc_int i0 = 0; i0 < K; i0 += FC_MR) {
        const fc_int nk = FC_MIN(FC_MR, K - i0);
        for (fc_int lr = 0; lr < nrows; ++lr) {
            const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            const fc_int oh = m * ti, nrow = FC_MIN(m, Ho - oh);
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
            if (vec && FC_DYL == 8 && FC_MR <= 8) {
                for (int a = 0; a < m; ++a) {
                    const FC_T *rows[8];
                    for (int kk = 0; kk < 8; ++kk)
                        rows[kk] = kk < nk && a < nrow
                                       ? dy + ((img * K + i0 + kk) * Ho + oh + a) * Wo
                                       : NULL;
                    if (planes)
                        fc_wino_interleave8_avx2(rows, Wo, q + 4 * a * ts + lr * tw * 6, 6, ts, 4);
                    else
                        fc_wino_interleave8_avx2(rows, Wo, q + a * wr * FC_DYL, FC_DYL, 0, 1);
                }
                if (planes)
                    continue;
            } else
#endif
            for (fc_int kk = 0; kk < FC_MR; ++kk) {
                const FC_T *dk = dy + ((img * K + i0 + kk) * Ho + oh) * Wo;
                for (fc_int a = 0; a < m; ++a)
                    if (kk < nk && a < nrow)
                        for (fc_int u = 0; u < Wo; ++u)
                            q[(a * wr + u) * FC_DYL + kk] = dk[a * Wo + u];
                    else
                        for (fc_int u = 0; u < Wo; ++u)
                            q[(a * wr + u) * FC_DYL + kk] = 0;
            }
            FC_T *ap = ad + (i0 / FC_MR) * pstride + lr * tw * FC_MR;
            for (fc_int tj = 0; tj < tw; ++tj) {
                FC_T *restrict d = ap + tj * FC_MR;
                if (m == 4) {
                    /* A dY (t[a][j]), then each row's A^T straight into its six
                     * panels: Dy[a*6 + b] at d + (a*6 + b)*astride. The stride-2
                     * path's A (5 x 4) is F(4x4)'s without row 4 (point -2): its
                     * Dy[a'*5 + b'] are the other five rows and columns. */
                    const int n = s2 ? 5 : 6;
                    FC_T t[6][4][FC_DYL];
                    const FC_T *q0 = q + 4 * tj * FC_DYL;
                    for (int j = 0; j < 4; ++j)
                        FC_SFX(fc_wino4_a)(q0 + j * FC_DYL, wr * FC_DYL, t[0][j], 4 * FC_DYL);
                    for (int a = 0; a < 6; ++a) {
                        if (s2 && a == 4)
                            continue;
                        FC_T o[6][FC_DYL];
                        FC_SFX(fc_wino4_a)(t[a][0], FC_DYL, o[0], FC_DYL);
                        for (int b = 0; b < 6; ++b) {
                            if (s2 && b == 4)
                                continue;
                            const int xi = (a - (s2 && a == 5)) * n + b - (s2 && b == 5);
                            for (int kk = 0; kk < FC_DYL; ++kk)
                                d[xi * astride + kk] = o[b][kk];
                        }
                    }
                    continue;
                }
                FC_T o[16][FC_DYL];
                const FC_T *q0 = q + 2 * tj * FC_DYL;
                FC_SFX(fc_wino_tile_dy)(q0, q0 + wr * FC_DYL, o);
                for (fc_int xi = 0; xi < nx; ++xi)
                    for (int kk = 0; kk < FC_DYL; ++kk)
                        d[xi * astride + kk] = o[xi][kk];
            }
        }
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
        if (planes)
            fc_wino4_dy_avx512_f32(q, ts, fc_roundup(nrows * tw * 6, 16),
                                   ad + (i0 / FC_MR) * pstride, astride, s2);
#endif
    }
}

#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_dy_avx512)(const fc_conv_plan *pl, const FC_T *dy, fc_int gr0, fc_int nrows,
                          FC_T *ad, fc_int astride, fc_int pstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_dy_body)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf, 2);
}
#endif

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_dy_avx2)(const fc_conv_plan *pl, const FC_T *dy, fc_int gr0, fc_int nrows,
                        FC_T *ad, fc_int astride, fc_int pstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_dy_body)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf, 1);
}
#endif

#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
/* The AVX2 one with F(4x4)'s tiles on 16-lane vectors (the AVX-512 path, float). */
__attribute__((target("avx2"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_input_t_avx512)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                               FC_T *vt, fc_int vstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_t_body)(pl, x, gr0, nrows, vt, vstride, rowbuf, 2);
}
#endif

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_input_t_avx2)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                             FC_T *vt, fc_int vstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_t_body)(pl, x, gr0, nrows, vt, vstride, rowbuf, 1);
}
#endif

FC_WINO_NOLIB static void FC_SFX(fc_wino_input_t_ref)(const fc_conv_plan *pl, const FC_T *x,
                                                      fc_int gr0, fc_int nrows, FC_T *vt,
                                                      fc_int vstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_t_body)(pl, x, gr0, nrows, vt, vstride, rowbuf, 0);
}

FC_WINO_NOLIB static void FC_SFX(fc_wino_dy_ref)(const fc_conv_plan *pl, const FC_T *dy,
                                                 fc_int gr0, fc_int nrows, FC_T *ad,
                                                 fc_int astride, fc_int pstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_dy_body)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf, 0);
}

/* The transforms of one block of tile rows: V^T of x's tiles into vt, Dy of dy's
 * into ad (plane, rowbuf: the run's zero-bordered scratch). */
static void FC_SFX(fc_wino_bw_transform)(const fc_conv_plan *pl, const FC_T *x, const FC_T *dy,
                                         fc_int gr0, fc_int nrows, FC_T *ad, fc_int astride,
                                         fc_int pstride, FC_T *vt, fc_int vstride, FC_T *plane,
                                         FC_T *rowbuf)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_wino_avx2()) {
#if !FC_IS_F64
        if (fc_simd_path() == FC_SIMD_AVX512) {
            FC_SFX(fc_wino_input_t_avx512)(pl, x, gr0, nrows, vt, vstride, plane);
            FC_SFX(fc_wino_dy_avx512)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf);
            return;
        }
#endif
        FC_SFX(fc_wino_input_t_avx2)(pl, x, gr0, nrows, vt, vstride, plane);
        FC_SFX(fc_wino_dy_avx2)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf);
        return;
    }
#endif
    FC_SFX(fc_wino_input_t_ref)(pl, x, gr0, nrows, vt, vstride, plane);
    FC_SFX(fc_wino_dy_ref)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf);
}

/* db[k] (+)= the sum over a block's kc tiles of dY, filters [k0, k1) (add: onto db):
 * Dy's block (1, 1) is each tile's sum (row 1 of every A is all ones), the bias
 * gradient from the transformed panels, not another pass over dY. */
static void FC_SFX(fc_wino_bw_bias)(const fc_conv_plan *pl, const FC_T *ad, fc_int astride,
                                    fc_int pstride, fc_int kc, fc_int k0, fc_int k1, FC_T *db,
                                    int add)
{
    const FC_T *a11 = ad + (pl->wino_s2 ? 6 : pl->wino_m == 4 ? 7 : 5) * astride;
    for (fc_int k = k0; k < k1; ++k) {
        const FC_T *p = a11 + k / FC_MR * pstride + k % FC_MR;
        FC_T sum = 0;
        for (fc_int t = 0; t < kc; ++t)
            sum += p[t * FC_MR];
        db[k] = add ? db[k] + sum : sum;
    }
}

/* The backward-weight run's workspace (fc_wino_bw_sizes' layout; m_bytes: its Mw
 * accumulators, or the split's block of them). */
typedef struct FC_SFX(fc_wino_bw_work) {
    FC_T *ad, *vt, *mw, *plane, *rowbuf;
    fc_int astride, pstride, vstride;
    size_t zero_bytes; /* plane and rowbuf, zeroed once a call */
} FC_SFX(fc_wino_bw_work);

static FC_SFX(fc_wino_bw_work) FC_SFX(fc_wino_bw_carve)(const fc_conv_plan *pl, void *work,
                                                       int split)
{
    FC_SFX(fc_wino_bw_work) b;
    size_t a_bytes, v_bytes, m_bytes, p_bytes, r_bytes;
    fc_wino_bw_sizes(pl, sizeof(FC_T), &b.astride, &b.pstride, &b.vstride, &a_bytes, &v_bytes,
                     &m_bytes, &p_bytes, &r_bytes);
    if (split)
        m_bytes = fc_wino_bw_filters_m_bytes(pl, sizeof(FC_T));
    char *wk = (char *)fc_align_ptr(work);
    b.ad = (FC_T *)wk;
    b.vt = (FC_T *)(wk + a_bytes);
    b.mw = (FC_T *)(wk + a_bytes + v_bytes);
    b.plane = (FC_T *)(wk + a_bytes + v_bytes + m_bytes);
    b.rowbuf = (FC_T *)(wk + a_bytes + v_bytes + m_bytes + p_bytes);
    b.zero_bytes = p_bytes + r_bytes;
    return b;
}

/* dw (K x C x R x S) += the weight gradient of nimg images (x, dy) by Winograd, and db
 * (unless NULL) += dY's sums; pl is fc_wino_bw_plan_make's plan of g (pl->wino set). */
void FC_SFX(fc_conv_wino_bw_run)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                                 const FC_T *dy, FC_T *dw, FC_T *db, void *work)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, C = g->C, tw = pl->wino_tw, tbp = pl->wino_tbp;
    const int s2 = pl->wino_s2 != 0, nx = s2 ? 25 : (pl->wino_m + 2) * (pl->wino_m + 2);
    const fc_int cols = fc_wino_bw_cols(pl, FC_NR), cp = s2 ? cols / 4 : 0;
    const FC_SFX(fc_wino_bw_work) b = FC_SFX(fc_wino_bw_carve)(pl, work, 0);
    FC_T *ad = b.ad, *vt = b.vt, *mw = b.mw, *plane = b.plane, *rowbuf = b.rowbuf;
    const fc_int astride = b.astride, pstride = b.pstride, vstride = b.vstride;
    /* the transforms' buffers zeroed once for the run (not per block): what the
     * blocks never write -- the plane's border, dY's rows past Wo -- stays zero */
    memset(plane, 0, b.zero_bytes);
    /* No clearing of ad / vt: the transforms rewrite every element the GEMMs
     * read (rows k >= K of the last Dy panel as zeros; channels c >= C of
     * the last V panel hold stale but finite values whose products land
     * in the columns of Mw the ukb calls drop). Nor of mw: the first
     * block's products overwrite it (beta 0). */
    FC_SFX(fc_ukb_fn) ukb = FC_SFX(fc_ukb_select)();
    const fc_int total_rows = nimg * pl->wino_th;
    if (total_rows <= 0)
        return;
    for (fc_int gr0 = 0; gr0 < total_rows; gr0 += pl->wino_rows) {
        const fc_int nrows = FC_MIN(pl->wino_rows, total_rows - gr0);
        const fc_int kc = nrows * tw;
        FC_SFX(fc_wino_bw_transform)(pl, x, dy, gr0, nrows, ad, astride, pstride, vt, vstride,
                                     plane, rowbuf);
        if (db)
            FC_SFX(fc_wino_bw_bias)(pl, ad, astride, pstride, kc, 0, K, db, 1);
        for (int xi = 0; xi < nx; ++xi) {
            const FC_T *ax = ad + xi * astride;
            const FC_T *vx = vt + xi * vstride;
            FC_T *mx = mw + (size_t)xi * (size_t)(K * cols);
            /* stride 2: a product per phase, none where that phase's weights are zero */
            for (int ph = 0; ph < (s2 ? 4 : 1); ++ph)
                if (!s2 || !fc_wino_s2_zero_phase(g, xi, ph))
                    ukb(kc, ax, pstride, vx + ph * cp * tbp, FC_NR * tbp, mx + ph * cp, cols,
                        gr0 ? (FC_T)1 : (FC_T)0, (int)K, (int)C);
        }
    }
    /* dW(k, c) += G^T Mw(k, c) G (conv_winograd_bw_finish.c) */
    FC_SFX(fc_wino_bw_finish)(pl, mw, dw, rowbuf);
}

/* The filters [k0, k1) of the weight gradient of nimg images by Winograd, written (not
 * added) to dw and db (unless NULL): pl is fc_wino_bw_filters_plan's plan, all the
 * tiles in one block, so each (filter, channel) pair's products are summed over every
 * tile by one kernel call and turned into its 3x3 gradient while in cache -- blocks of
 * FC_WINO_BW_KB x FC_WINO_BW_CB pairs, not the run's nx K x C accumulators. Every value
 * is the same whatever [k0, k1). */
void FC_SFX(fc_conv_wino_bw_filters)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                                     const FC_T *dy, FC_T *dw, FC_T *db, fc_int k0, fc_int k1,
                                     void *work)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, tbp = pl->wino_tbp, RS = g->R * g->S;
    const int nx = (pl->wino_m + 2) * (pl->wino_m + 2);
    const FC_SFX(fc_wino_bw_work) b = FC_SFX(fc_wino_bw_carve)(pl, work, 1);
    FC_T *ad = b.ad, *vt = b.vt, *mw = b.mw;
    const fc_int astride = b.astride, pstride = b.pstride, vstride = b.vstride;
    if (k1 <= k0)
        return;
    memset(dw + k0 * C * RS, 0, (size_t)(k1 - k0) * (size_t)(C * RS) * sizeof(FC_T));
    const fc_int kc = nimg * pl->wino_th * pl->wino_tw;
    if (kc <= 0) {
        if (db)
            memset(db + k0, 0, (size_t)(k1 - k0) * sizeof(FC_T));
        return;
    }
    memset(b.plane, 0, b.zero_bytes);
    FC_SFX(fc_wino_bw_transform)(pl, x, dy, 0, nimg * pl->wino_th, ad, astride, pstride, vt,
                                 vstride, b.plane, b.rowbuf);
    if (db)
        FC_SFX(fc_wino_bw_bias)(pl, ad, astride, pstride, kc, k0, k1, db, 0);
    FC_SFX(fc_ukb_fn) ukb = FC_SFX(fc_ukb_select)();
    const fc_int ms = FC_WINO_BW_KB * FC_WINO_BW_CB; /* Mw block of one xi */
    for (fc_int c0 = 0; c0 < C; c0 += FC_WINO_BW_CB) {
        const fc_int cn = FC_MIN(FC_WINO_BW_CB, C - c0);
        for (fc_int kb = k0; kb < k1; kb += FC_WINO_BW_KB) {
            const fc_int kn = FC_MIN(FC_WINO_BW_KB, k1 - kb);
            /* kb - k0 is a multiple of MR, and so is k0 (fc_split_range's parts) */
            for (int xi = 0; xi < nx; ++xi)
                ukb(kc, ad + xi * astride + kb / FC_MR * pstride, pstride,
                    vt + xi * vstride + c0 * tbp, FC_NR * tbp, mw + xi * ms, FC_WINO_BW_CB,
                    (FC_T)0, (int)kn, (int)cn);
            for (fc_int k = 0; k < kn; ++k)
                FC_SFX(fc_wino_bw_finish_block)(pl, mw + k * FC_WINO_BW_CB, cn, ms,
                                                dw + ((kb + k) * C + c0) * RS);
        }
    }
}

#endif
