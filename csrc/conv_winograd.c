/*
 * conv_winograd.c -- 3x3, stride 1, undilated convolutions by Winograd's
 * minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016), the fast path of the
 * forward pass, of backward-data (through the flipped weights) and of
 * backward-weight (the transposed transform, at the end of this file);
 * overview in conv_internal.h.
 *
 * Each 2x2 block of outputs (a tile) is computed from the 4x4 input patch
 * d under it as  Y = A^T [ (G g G^T) .* (B^T d B) ] A,  so the 36
 * multiply-adds per channel of a direct 2x2 block become 16 multiply-adds in
 * the transformed domain: 2.25x fewer. The 16 element-wise products summed
 * over channels are 16 independent matrix products
 *
 *   M[xi] (K x T) = U[xi] (K x C) . V[xi] (C x T),   xi = 0..15,
 *
 * with U = G g G^T the filters (transformed once per batch, packed as GEMM A
 * blocks), V = B^T d B the input tiles (T tiles of a block of tile rows,
 * written straight into packed GEMM B panels), M reduced to outputs by A^T M A.
 * The products run on the GEMM micro-kernel (fc_ukr); the transforms are
 * additions only (an AVX2 build of the same code when the AVX2 path is in
 * force): the input one tile at a time, the output along the block's tiles.
 * The 16 V and M blocks sit a little more than a power of two apart
 * (wino_vs, wino_ms): at exactly 32 KB apart, the 16 stores of a tile's
 * transform all hit one L1 set and ran 4x slower.
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * Accuracy: every transform is exact up to one rounding per addition; the
 * outputs differ from a direct convolution by a few units in the last place
 * (checked against the NumPy reference like every other path). Each output
 * depends only on its own tile's products, summed over channels in a fixed
 * order, so results do not depend on how images are split between threads.
 */
#ifndef FC_T
#include "conv_internal.h"

/* 1 when the transforms' AVX2 builds are to run (the path in force). */
static int fc_wino_avx2(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    return fc_simd_path() == FC_SIMD_AVX2;
#else
    return 0;
#endif
}

/* Workspace layout of the backward-weight run (fc_conv_wino_bw_run): Dy
 * panels, transposed V panels, the 16 Mw accumulators, row buffers. Block
 * strides are a panel past a multiple of 4 KB, off the L1 set aliasing. */
void fc_wino_bw_sizes(const fc_conv_plan *pl, size_t elem, fc_int *astride, fc_int *pstride,
                      fc_int *vstride, size_t *a_bytes, size_t *v_bytes, size_t *m_bytes,
                      size_t *r_bytes)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_conv_geom *d = &pl->dg;
    const fc_int tbp = pl->wino_tbp, tw = pl->wino_tw, th = pl->wino_th;
    /* Dy panels MR x tbp plus 8 elements of slack (fc_wino_dy_body's
     * 8-lane stores run 2 past a 6-row panel). */
    *pstride = mr * tbp + 8;
    *astride = (fc_roundup(d->K, mr) / mr) * *pstride + nr;
    *vstride = fc_roundup(d->C, nr) * tbp + nr;
    *a_bytes = fc_align_up(16 * (size_t)*astride * elem);
    *v_bytes = fc_align_up(16 * (size_t)*vstride * elem);
    *m_bytes = fc_align_up(16 * (size_t)d->K * (size_t)d->C * elem);
    const size_t plane = (2 * (size_t)th + 2) * (2 * (size_t)tw + 2) * (size_t)nr;
    size_t rows = 4 * (size_t)tw * 8;
    rows = rows > 9 * 64 ? rows : 9 * 64; /* the final transform's 9 x FC_WINO_FIN */
    *r_bytes = fc_align_up((plane > rows ? plane : rows) * elem);
}

size_t fc_wino_bw_bytes(const fc_conv_plan *pl, size_t elem)
{
    fc_int as, ps, vs;
    size_t a, v, m, r;
    fc_wino_bw_sizes(pl, elem, &as, &ps, &vs, &a, &v, &m, &r);
    return a + v + m + r + FC_ALIGN;
}

#define FC_TMPL_SET 32
#include "gemm_internal.h"
#include "conv_winograd.c"
#define FC_TMPL_SET 64
#include "gemm_internal.h"
#include "conv_winograd.c"
#define FC_TMPL_SET 0
#include "gemm_internal.h"

#else /* ------------------------- template body ------------------------- */

/* The transforms copy many short runs (a row of a small image, a run of
 * tiles inside a panel); GCC would turn those loops into memcpy / memmove
 * calls that cost more than the copies. */
/* Lanes of the dy transform: MR (6) rounded up to a vector of floats. */
#define FC_DYL 8
#if defined(__GNUC__) && !defined(__clang__)
#define FC_WINO_NOLIB __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define FC_WINO_NOLIB
#endif

/* U[xi](k, c) = (G g(k, c) G^T)[xi] for the forward weights (flip == 0,
 * g(k, c) = w[k, c]) or the backward-data ones (flip == 1: the plan's
 * geometry has K' = C and C' = K, g'(c, k)(r, s) = w[k, c, 2-r, 2-s]),
 * each U[xi] packed as fc_pack_a_full packs a K' x C' matrix with block
 * size pl->kcb, at ap + xi * pl->wino_a. */
void FC_SFX(fc_wino_pack_weights)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *ap)
{
    const fc_int Kp = pl->dg.K, Cp = pl->dg.C, kcb = pl->kcb, mpad = fc_roundup(Kp, FC_MR);
    /* Padding rows of the last micro-panels stay zero. */
    memset(ap, 0, 16 * (size_t)pl->wino_a * sizeof(FC_T));
    for (fc_int kk = 0; kk < Kp; ++kk)
        for (fc_int c = 0; c < Cp; ++c) {
            FC_T g[3][3];
            for (int r = 0; r < 3; ++r)
                for (int s = 0; s < 3; ++s)
                    g[r][s] = flip ? w[((c * Kp + kk) * 3 + (2 - r)) * 3 + (2 - s)]
                                   : w[((kk * Cp + c) * 3 + r) * 3 + s];
            FC_T t[4][3]; /* G g */
            for (int s = 0; s < 3; ++s) {
                t[0][s] = g[0][s];
                t[1][s] = (FC_T)0.5 * ((g[0][s] + g[2][s]) + g[1][s]);
                t[2][s] = (FC_T)0.5 * ((g[0][s] + g[2][s]) - g[1][s]);
                t[3][s] = g[2][s];
            }
            FC_T u[16]; /* (G g) G^T */
            for (int a = 0; a < 4; ++a) {
                u[a * 4 + 0] = t[a][0];
                u[a * 4 + 1] = (FC_T)0.5 * ((t[a][0] + t[a][2]) + t[a][1]);
                u[a * 4 + 2] = (FC_T)0.5 * ((t[a][0] + t[a][2]) - t[a][1]);
                u[a * 4 + 3] = t[a][2];
            }
            /* Element (kk, c) of U[xi] where fc_pack_a_full would put it. */
            const fc_int pc = c / kcb * kcb, kc = FC_MIN(kcb, Cp - pc);
            const fc_int i0 = kk / FC_MR * FC_MR;
            const size_t at = (size_t)(pc * mpad + i0 * kc + (c - pc) * FC_MR + (kk - i0));
            for (int xi = 0; xi < 16; ++xi)
                ap[(size_t)xi * (size_t)pl->wino_a + at] = u[xi];
        }
}

/* A^T m A for nt tiles: m[xi*ms + t] -> y00[t], y01[t], y10[t], y11[t].
 * Separate restrict streams so that the compiler vectorises along t. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_output_tiles)(const FC_T *restrict m, fc_int ms, fc_int nt, FC_T *restrict y00,
                             FC_T *restrict y01, FC_T *restrict y10, FC_T *restrict y11)
{
    const FC_T *restrict m0 = m, *restrict m1 = m + ms, *restrict m2 = m + 2 * ms;
    const FC_T *restrict m3 = m + 3 * ms, *restrict m4 = m + 4 * ms, *restrict m5 = m + 5 * ms;
    const FC_T *restrict m6 = m + 6 * ms, *restrict m7 = m + 7 * ms, *restrict m8 = m + 8 * ms;
    const FC_T *restrict m9 = m + 9 * ms, *restrict m10 = m + 10 * ms;
    const FC_T *restrict m11 = m + 11 * ms, *restrict m12 = m + 12 * ms;
    const FC_T *restrict m13 = m + 13 * ms, *restrict m14 = m + 14 * ms;
    const FC_T *restrict m15 = m + 15 * ms;
    for (fc_int t = 0; t < nt; ++t) {
        /* rows: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 (patch rows a = 0..3) */
        const FC_T s00 = (m0[t] + m4[t]) + m8[t], s10 = (m4[t] - m8[t]) - m12[t];
        const FC_T s01 = (m1[t] + m5[t]) + m9[t], s11 = (m5[t] - m9[t]) - m13[t];
        const FC_T s02 = (m2[t] + m6[t]) + m10[t], s12 = (m6[t] - m10[t]) - m14[t];
        const FC_T s03 = (m3[t] + m7[t]) + m11[t], s13 = (m7[t] - m11[t]) - m15[t];
        y00[t] = (s00 + s01) + s02;
        y01[t] = (s01 - s02) - s03;
        y10[t] = (s10 + s11) + s12;
        y11[t] = (s11 - s12) - s13;
    }
}

/* One output row: columns 2tj and 2tj + 1 from e[tj] and o[tj], + bias. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_put_row)(const FC_T *restrict e, const FC_T *restrict o, fc_int wfull, int odd,
                        FC_T bk, FC_T *restrict yr)
{
    for (fc_int tj = 0; tj < wfull; ++tj) {
        yr[2 * tj] = e[tj] + bk;
        yr[2 * tj + 1] = o[tj] + bk;
    }
    if (odd)
        yr[2 * wfull] = e[wfull] + bk;
}

/* Output transform: Y = A^T M A per tile, + bias, activation; tiles of the
 * tile rows [gr0, gr0 + nrows), M[xi](k, tau) at mb + xi*mstride + k*tbp + tau.
 * A^T . A over all the block's tiles at once (contiguous in tau), then the
 * 2 x 2 outputs interleaved into the output rows. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_output_body)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                            fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                            FC_T *y, FC_T *rowbuf)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, mstride = pl->wino_ms, nt = nrows * tw;
    FC_T *y00 = rowbuf, *y01 = y00 + tbp, *y10 = y01 + tbp, *y11 = y10 + tbp;
    const fc_int wfull = Wo / 2; /* tiles whose two columns are both inside */
    for (fc_int k = k0; k < k1; ++k) {
        FC_SFX(fc_wino_output_tiles)(mb + k * tbp, mstride, nt, y00, y01, y10, y11);
        const FC_T bk = bias ? bias[k] : (FC_T)0;
        for (fc_int lr = 0; lr < nrows; ++lr) {
            const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            for (int a = 0; a < 2; ++a) {
                const fc_int oh = 2 * ti + a;
                if (oh >= Ho)
                    break;
                const fc_int at = ((img * K + k) * Ho + oh) * Wo;
                FC_T *yr = y + at;
                FC_SFX(fc_wino_put_row)((a ? y10 : y00) + lr * tw, (a ? y11 : y01) + lr * tw,
                                        wfull, Wo & 1, bk, yr);
                if (res)
                    for (fc_int ow = 0; ow < Wo; ++ow)
                        yr[ow] += res[at + ow];
                if (act != FC_ACT_NONE)
                    FC_SFX(fc_activation_forward)(act, act_param, yr, yr, Wo);
            }
        }
    }
}

/* The input side shared by the forward and the backward-weight transforms:
 * zero-bordered (image, channel) planes of (2*th + 2) x (2*tw + 2) pixels,
 * `lanes` channels interleaved channel-last (pixel (v, u) of lane cc at
 * plane[(v*wr + u)*lanes + cc]; lanes = 1 for one channel). */

/* Rows [va, vz) of channel xc's plane, columns [u0, u1) (the rest of the
 * plane is border, zero). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_plane_rows)(const FC_T *xc, fc_int W, fc_int pt, fc_int pleft, fc_int va,
                           fc_int vz, fc_int u0, fc_int u1, fc_int wr, const int lanes,
                           FC_T *plane)
{
    for (fc_int v = va; v < vz; ++v) {
        const FC_T *restrict src = xc + (v - pt) * W - pleft;
        FC_T *restrict dst = plane + v * wr * lanes;
        for (fc_int u = u0; u < u1; ++u)
            dst[u * lanes] = src[u];
    }
}

/* V = B^T d B of one tile for `lanes` channels: p points at the patch's
 * top-left pixel in the plane (rows wr*lanes apart); V[xi] of lane cc goes
 * to d[xi*vstride + cc]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_tile_in)(const FC_T *restrict p, fc_int wr, const int lanes, FC_T *restrict d,
                        fc_int vstride)
{
    const FC_T *restrict p1 = p + wr * lanes, *restrict p2 = p1 + wr * lanes;
    const FC_T *restrict p3 = p2 + wr * lanes;
    FC_T t[4][4][FC_NR]; /* B^T d, one lanes-wide vector per entry */
    for (int b = 0; b < 4; ++b)
        for (int cc = 0; cc < lanes; ++cc) {
            const FC_T e0 = p[b * lanes + cc], e1 = p1[b * lanes + cc];
            const FC_T e2 = p2[b * lanes + cc], e3 = p3[b * lanes + cc];
            t[0][b][cc] = e0 - e2;
            t[1][b][cc] = e1 + e2;
            t[2][b][cc] = e2 - e1;
            t[3][b][cc] = e1 - e3;
        }
    for (int a = 0; a < 4; ++a)
        for (int cc = 0; cc < lanes; ++cc) {
            d[(a * 4 + 0) * vstride + cc] = t[a][0][cc] - t[a][2][cc];
            d[(a * 4 + 1) * vstride + cc] = t[a][1][cc] + t[a][2][cc];
            d[(a * 4 + 2) * vstride + cc] = t[a][2][cc] - t[a][1][cc];
            d[(a * 4 + 3) * vstride + cc] = t[a][1][cc] - t[a][3][cc];
        }
}

/* Input transform of the tile rows [gr0, gr0 + nrows) of the run (global
 * tile row gr = image * th + ti) into the packed B panels vb: V[xi](c, tau)
 * at vb + xi*pl->wino_vs + (tau / NR)*C*NR + c*NR + tau % NR, tau = local
 * tile. Tile by tile from each (image, channel) plane in rowbuf. (Row-wise variants vectorised along tiles lost to this on every
 * layer of the benchmark set: their loops are a few tiles long.) */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_input_body)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0,
                                 fc_int nrows, FC_T *vb, FC_T *rowbuf)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vstride = pl->wino_vs, wr = 2 * tw + 2, hr = 2 * th + 2;
    const fc_int pt = g->pad_top, pleft = g->pad_left;
    FC_T *plane = rowbuf;
    /* Rows / columns of the plane that hold input pixels. */
    const fc_int v0 = FC_MAX(0, pt), v1 = FC_MIN(hr, pt + H);
    const fc_int u0 = FC_MAX(0, pleft), u1 = FC_MIN(wr, pleft + W);
    for (fc_int i = 0; i < hr * wr; ++i)
        plane[i] = 0; /* the border stays zero: only the interior is rewritten */
    fc_int lr = 0;
    while (lr < nrows) {
        const fc_int gr = gr0 + lr, img = gr / th, ti0 = gr - img * th;
        const fc_int nr = FC_MIN(nrows - lr, th - ti0); /* tile rows of this image */
        /* plane rows the block's tile rows read */
        const fc_int va = FC_MAX(v0, 2 * ti0), vz = FC_MIN(v1, 2 * (ti0 + nr) + 2);
        for (fc_int c = 0; c < C; ++c) {
            FC_SFX(fc_wino_plane_rows)(x + (img * C + c) * H * W, W, pt, pleft, va, vz, u0, u1,
                                       wr, 1, plane);
            FC_T *vc = vb + c * FC_NR;
            for (fc_int ti = ti0; ti < ti0 + nr; ++ti) {
                const fc_int taub = (lr + ti - ti0) * tw;
                for (fc_int tj = 0; tj < tw; ++tj) {
                    const fc_int tau = taub + tj;
                    FC_SFX(fc_wino_tile_in)(plane + 2 * ti * wr + 2 * tj, wr, 1,
                                            vc + (tau / FC_NR) * C * FC_NR + tau % FC_NR,
                                            vstride);
                }
            }
        }
        lr += nr;
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_input_avx2)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                           FC_T *vb, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_body)(pl, x, gr0, nrows, vb, rowbuf);
}

__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_output_avx2)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                            fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                            FC_T *y, FC_T *rowbuf)
{
    FC_SFX(fc_wino_output_body)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y, rowbuf);
}
#endif

FC_WINO_NOLIB static void FC_SFX(fc_wino_input_ref)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0,
                                      fc_int nrows, FC_T *vb, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_body)(pl, x, gr0, nrows, vb, rowbuf);
}

FC_WINO_NOLIB static void FC_SFX(fc_wino_output_ref)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0,
                                       fc_int nrows, fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res,
                                       int act, FC_T act_param, FC_T *y, FC_T *rowbuf)
{
    FC_SFX(fc_wino_output_body)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y, rowbuf);
}

/* Forward conv of geometry pl->dg over nimg images (x: nimg x C x H x W,
 * y: nimg x K x Ho x Wo) with the transformed weights ap
 * (fc_wino_pack_weights). Workspace: V and M blocks, row buffers. */
void FC_SFX(fc_conv_wino_run)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                              const FC_T *ap, const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                              FC_T *y, void *work, fc_int row0, fc_int row1, fc_int k0,
                              fc_int k1)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, C = g->C, tw = pl->wino_tw, tbp = pl->wino_tbp;
    const fc_int mpad = fc_roundup(K, FC_MR), kcb = pl->kcb;
    /* The workspace starts with room for packed weights (see fc_conv_plan). */
    char *wk = (char *)fc_align_ptr(work) + pl->ap_bytes;
    FC_T *vb = (FC_T *)wk;
    FC_T *mb = (FC_T *)(wk + pl->wino_v_bytes);
    FC_T *rowbuf = (FC_T *)(wk + pl->wino_v_bytes + pl->wino_m_bytes);
    FC_SFX(fc_ukr_fn) ukr = FC_SFX(fc_ukr_select)();
    const int avx2 = fc_wino_avx2();
    const fc_int total_rows = FC_MIN(row1, nimg * pl->wino_th);
    for (fc_int gr0 = row0; gr0 < total_rows; gr0 += pl->wino_rows) {
        const fc_int nrows = FC_MIN(pl->wino_rows, total_rows - gr0);
        const fc_int ntile = nrows * tw;
        /* Lanes past the last tile of a short block: zero, never garbage. */
        if (ntile < tbp)
            for (int xi = 0; xi < 16; ++xi)
                for (fc_int tau = ntile; tau < fc_roundup(ntile, FC_NR); ++tau)
                    for (fc_int c = 0; c < C; ++c)
                        vb[xi * pl->wino_vs + (tau / FC_NR) * C * FC_NR + c * FC_NR + tau % FC_NR] = 0;
#ifdef FC_HAVE_X86_AVX2_KERNELS
        if (avx2)
            FC_SFX(fc_wino_input_avx2)(pl, x, gr0, nrows, vb, rowbuf);
        else
#endif
            FC_SFX(fc_wino_input_ref)(pl, x, gr0, nrows, vb, rowbuf);
        const fc_int npan = (ntile + FC_NR - 1) / FC_NR;
        for (int xi = 0; xi < 16; ++xi) {
            const FC_T *ax = ap + (size_t)xi * (size_t)pl->wino_a;
            const FC_T *vx = vb + xi * pl->wino_vs;
            FC_T *mx = mb + xi * pl->wino_ms;
            for (fc_int pc = 0; pc < C; pc += kcb) {
                const fc_int kc = FC_MIN(kcb, C - pc);
                const FC_T beta = pc == 0 ? (FC_T)0 : (FC_T)1;
                const FC_T *apc = ax + pc * mpad;
                for (fc_int q = 0; q < npan; ++q) {
                    const FC_T *bq = vx + q * C * FC_NR + pc * FC_NR;
                    for (fc_int ir = k0; ir < k1; ir += FC_MR)
                        ukr(kc, apc + ir * kc, bq, mx + ir * tbp + q * FC_NR, tbp, beta,
                            (int)FC_MIN(FC_MR, k1 - ir), FC_NR);
                }
            }
        }
#ifdef FC_HAVE_X86_AVX2_KERNELS
        if (avx2)
            FC_SFX(fc_wino_output_avx2)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y,
                                        rowbuf);
        else
#endif
            FC_SFX(fc_wino_output_ref)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y,
                                       rowbuf);
    }
}


/* ---------------------------------------------------------------------
 * Backward-weight by the same transform, transposed: with Dy = A dY A^T
 * (4 x 4 from each 2 x 2 block of output gradients) and V = B^T d B,
 *
 *   Mw[xi] (K x C) = sum over tiles of Dy[xi] (K x T) . V[xi]^T (T x C),
 *   dW(k, c) = G^T Mw(k, c) G   (4 x 4 -> 3 x 3),
 *
 * 16 GEMMs whose reduction runs over the tiles of the run of images (in
 * blocks of tile rows, in order: the sum depends on the geometry and the
 * run only). Dy goes straight into packed A panels (k rows, tiles along
 * the reduction), V into transposed B panels (channels as columns).
 * ------------------------------------------------------------------- */

/* The input transform into backward-weight's transposed panels, V[xi](tau,
 * c) at vt + xi*vstride + (c / NR)*tbp*NR + tau*NR + c % NR: NR channels at
 * a time from their planes interleaved channel-last in rowbuf, so that one
 * tile's transform is NR-wide vector arithmetic and each of its 16 stores a
 * whole panel row. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_input_t_body)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                             FC_T *vt, fc_int vstride, FC_T *rowbuf)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, wr = 2 * tw + 2, hr = 2 * th + 2;
    const fc_int pt = g->pad_top, pleft = g->pad_left;
    FC_T *plane = rowbuf;
    const fc_int v0 = FC_MAX(0, pt), v1 = FC_MIN(hr, pt + H);
    const fc_int u0 = FC_MAX(0, pleft), u1 = FC_MIN(wr, pleft + W);
    for (fc_int i = 0; i < hr * wr * FC_NR; ++i)
        plane[i] = 0; /* border, and the channels past C of the last group */
    fc_int lr = 0;
    while (lr < nrows) {
        const fc_int gr = gr0 + lr, img = gr / th, ti0 = gr - img * th;
        const fc_int nr = FC_MIN(nrows - lr, th - ti0);
        const fc_int va = FC_MAX(v0, 2 * ti0), vz = FC_MIN(v1, 2 * (ti0 + nr) + 2);
        for (fc_int cg = 0; cg < C; cg += FC_NR) {
            const fc_int nc = FC_MIN(FC_NR, C - cg);
            for (fc_int cc = 0; cc < nc; ++cc)
                FC_SFX(fc_wino_plane_rows)(x + (img * C + cg + cc) * H * W, W, pt, pleft, va,
                                           vz, u0, u1, wr, FC_NR, plane + cc);
            FC_T *vg = vt + (cg / FC_NR) * tbp * FC_NR;
            for (fc_int ti = ti0; ti < ti0 + nr; ++ti) {
                const fc_int taub = (lr + ti - ti0) * tw;
                for (fc_int tj = 0; tj < tw; ++tj)
                    FC_SFX(fc_wino_tile_in)(plane + (2 * ti * wr + 2 * tj) * FC_NR, wr, FC_NR,
                                            vg + (taub + tj) * FC_NR, vstride);
            }
        }
        lr += nr;
    }
}

/* Dy[xi](k, tau) at ad + xi*astride + (k / MR)*MR*tbp + tau*MR + k % MR, for
 * the tiles of the tile rows [gr0, gr0 + nrows). rowbuf: 2 rows of 2*tw. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_dy_body)(const fc_conv_plan *pl, const FC_T *dy, fc_int gr0, fc_int nrows,
                        FC_T *ad, fc_int astride, fc_int pstride, FC_T *rowbuf)
{
    /* Per MR filters: their two dy rows interleaved filter-last, FC_DYL
     * lanes per pixel (q[(a*2tw + u)*FC_DYL + kk], zero past Wo / Ho / K),
     * then each tile's transform is FC_DYL-wide vector arithmetic whose
     * stores spill FC_DYL - MR lanes into the next tile's slot: written again
     * by that tile, or landing in the slack of pstride. */
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int wr = 2 * tw;
    FC_T *q = rowbuf;
    for (fc_int u = 0; u < 2 * wr * FC_DYL; ++u)
        q[u] = 0;
    for (fc_int lr = 0; lr < nrows; ++lr) {
        const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
        const fc_int oh = 2 * ti, nrow = FC_MIN(2, Ho - oh);
        for (fc_int i0 = 0; i0 < K; i0 += FC_MR) {
            const fc_int nk = FC_MIN(FC_MR, K - i0);
            for (fc_int kk = 0; kk < FC_MR; ++kk) {
                const FC_T *dk = dy + ((img * K + i0 + kk) * Ho + oh) * Wo;
                for (fc_int a = 0; a < 2; ++a)
                    if (kk < nk && a < nrow)
                        for (fc_int u = 0; u < Wo; ++u)
                            q[(a * wr + u) * FC_DYL + kk] = dk[a * Wo + u];
                    else
                        for (fc_int u = 0; u < Wo; ++u)
                            q[(a * wr + u) * FC_DYL + kk] = 0;
            }
            FC_T *ap = ad + (i0 / FC_MR) * pstride + lr * tw * FC_MR;
            for (fc_int tj = 0; tj < tw; ++tj) {
                const FC_T *restrict q0 = q + 2 * tj * FC_DYL, *restrict q1 = q0 + wr * FC_DYL;
                FC_T *restrict d = ap + tj * FC_MR;
                FC_T o[16][FC_DYL];
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
                for (int xi = 0; xi < 16; ++xi)
                    for (int kk = 0; kk < FC_DYL; ++kk)
                        d[xi * astride + kk] = o[xi][kk];
            }
        }
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_dy_avx2)(const fc_conv_plan *pl, const FC_T *dy, fc_int gr0, fc_int nrows,
                        FC_T *ad, fc_int astride, fc_int pstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_dy_body)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf);
}
#endif

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_input_t_avx2)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                             FC_T *vt, fc_int vstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_t_body)(pl, x, gr0, nrows, vt, vstride, rowbuf);
}
#endif

FC_WINO_NOLIB static void FC_SFX(fc_wino_input_t_ref)(const fc_conv_plan *pl, const FC_T *x,
                                                      fc_int gr0, fc_int nrows, FC_T *vt,
                                                      fc_int vstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_t_body)(pl, x, gr0, nrows, vt, vstride, rowbuf);
}

FC_WINO_NOLIB static void FC_SFX(fc_wino_dy_ref)(const fc_conv_plan *pl, const FC_T *dy,
                                                 fc_int gr0, fc_int nrows, FC_T *ad,
                                                 fc_int astride, fc_int pstride, FC_T *rowbuf)
{
    FC_SFX(fc_wino_dy_body)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf);
}

/* dw[e*9 + r*3 + s] += (G^T M_e G)(r, s) for the n elements e of the 16
 * blocks m[xi*n + e]; tmp holds 9 x FC_WINO_FIN elements. */
#define FC_WINO_FIN 64
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_bw_finish_body)(const FC_T *m, fc_int n, FC_T *dw, FC_T *tmp)
{
    for (fc_int e0 = 0; e0 < n; e0 += FC_WINO_FIN) {
        const fc_int ne = FC_MIN(FC_WINO_FIN, n - e0);
        const FC_T *restrict q = m + e0;
        const size_t sn = (size_t)n;
        FC_T *restrict o0 = tmp, *restrict o1 = o0 + FC_WINO_FIN, *restrict o2 = o1 + FC_WINO_FIN;
        FC_T *restrict o3 = o2 + FC_WINO_FIN, *restrict o4 = o3 + FC_WINO_FIN;
        FC_T *restrict o5 = o4 + FC_WINO_FIN, *restrict o6 = o5 + FC_WINO_FIN;
        FC_T *restrict o7 = o6 + FC_WINO_FIN, *restrict o8 = o7 + FC_WINO_FIN;
        const FC_T hf = (FC_T)0.5;
        for (fc_int e = 0; e < ne; ++e) {
            /* T = G^T M (3 x 4), column b */
#define FC_WINO_GT(B, T0, T1, T2)                                                        \
    const FC_T T0##_h = hf * (q[(4 + B) * sn + e] + q[(8 + B) * sn + e]);               \
    const FC_T T0 = q[B * sn + e] + T0##_h;                                             \
    const FC_T T1 = hf * (q[(4 + B) * sn + e] - q[(8 + B) * sn + e]);                   \
    const FC_T T2 = T0##_h + q[(12 + B) * sn + e];
            FC_WINO_GT(0, a0, b0, c0)
            FC_WINO_GT(1, a1, b1, c1)
            FC_WINO_GT(2, a2, b2, c2)
            FC_WINO_GT(3, a3, b3, c3)
#undef FC_WINO_GT
            /* dW = T G (3 x 3), row by row */
            const FC_T ha = hf * (a1 + a2), hb = hf * (b1 + b2), hc = hf * (c1 + c2);
            o0[e] = a0 + ha;
            o1[e] = hf * (a1 - a2);
            o2[e] = ha + a3;
            o3[e] = b0 + hb;
            o4[e] = hf * (b1 - b2);
            o5[e] = hb + b3;
            o6[e] = c0 + hc;
            o7[e] = hf * (c1 - c2);
            o8[e] = hc + c3;
        }
        const FC_T *o = tmp;
        FC_T *restrict d = dw + e0 * 9;
        for (fc_int e = 0; e < ne; ++e)
            for (int rs = 0; rs < 9; ++rs)
                d[e * 9 + rs] += o[rs * FC_WINO_FIN + e];
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2,fma"))) static void
FC_SFX(fc_wino_bw_finish_avx2)(const FC_T *m, fc_int n, FC_T *dw, FC_T *tmp)
{
    FC_SFX(fc_wino_bw_finish_body)(m, n, dw, tmp);
}
#endif

static void FC_SFX(fc_wino_bw_finish)(const FC_T *m, fc_int n, FC_T *dw, FC_T *tmp)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_wino_avx2()) {
        FC_SFX(fc_wino_bw_finish_avx2)(m, n, dw, tmp);
        return;
    }
#endif
    FC_SFX(fc_wino_bw_finish_body)(m, n, dw, tmp);
}

/* dw (K x C x 3 x 3) += the weight gradient of nimg images (x, dy) by
 * Winograd; pl is the forward plan of g (pl->wino set). db is not touched. */
void FC_SFX(fc_conv_wino_bw_run)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                                 const FC_T *dy, FC_T *dw, void *work)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, C = g->C, tw = pl->wino_tw, tbp = pl->wino_tbp;
    fc_int astride, pstride, vstride;
    size_t a_bytes, v_bytes, m_bytes, r_bytes;
    fc_wino_bw_sizes(pl, sizeof(FC_T), &astride, &pstride, &vstride, &a_bytes, &v_bytes,
                     &m_bytes, &r_bytes);
    char *wk = (char *)fc_align_ptr(work);
    FC_T *ad = (FC_T *)wk;
    FC_T *vt = (FC_T *)(wk + a_bytes);
    FC_T *mw = (FC_T *)(wk + a_bytes + v_bytes);
    FC_T *rowbuf = (FC_T *)(wk + a_bytes + v_bytes + m_bytes);
    /* No clearing of ad / vt: the transforms rewrite every element the GEMMs
     * read (rows k >= K of the last Dy panel as zeros; channels c >= C of
     * the last V panel hold stale but finite values whose products land
     * in the columns of Mw the ukr calls drop). */
    memset(mw, 0, 16 * (size_t)K * (size_t)C * sizeof(FC_T));
    FC_SFX(fc_ukr_fn) ukr = FC_SFX(fc_ukr_select)();
    const int avx2 = fc_wino_avx2();
    const fc_int total_rows = nimg * pl->wino_th;
    for (fc_int gr0 = 0; gr0 < total_rows; gr0 += pl->wino_rows) {
        const fc_int nrows = FC_MIN(pl->wino_rows, total_rows - gr0);
        const fc_int kc = nrows * tw;
#ifdef FC_HAVE_X86_AVX2_KERNELS
        if (avx2) {
            FC_SFX(fc_wino_input_t_avx2)(pl, x, gr0, nrows, vt, vstride, rowbuf);
            FC_SFX(fc_wino_dy_avx2)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf);
        } else
#endif
        {
            FC_SFX(fc_wino_input_t_ref)(pl, x, gr0, nrows, vt, vstride, rowbuf);
            FC_SFX(fc_wino_dy_ref)(pl, dy, gr0, nrows, ad, astride, pstride, rowbuf);
        }
        for (int xi = 0; xi < 16; ++xi) {
            const FC_T *ax = ad + xi * astride;
            const FC_T *vx = vt + xi * vstride;
            FC_T *mx = mw + (size_t)xi * (size_t)(K * C);
            for (fc_int j0 = 0; j0 < C; j0 += FC_NR)
                for (fc_int i0 = 0; i0 < K; i0 += FC_MR)
                    ukr(kc, ax + (i0 / FC_MR) * pstride, vx + j0 * tbp, mx + i0 * C + j0, C, (FC_T)1,
                        (int)FC_MIN(FC_MR, K - i0), (int)FC_MIN(FC_NR, C - j0));
        }
    }
    /* dW(k, c) += G^T Mw(k, c) G, in chunks of elements: the transform runs
     * along the elements (16 contiguous streams in, 9 out), then the 9 taps
     * of each element are added into dw. */
    FC_SFX(fc_wino_bw_finish)(mw, (fc_int)K * C, dw, rowbuf);
}

#endif
