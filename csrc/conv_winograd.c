/*
 * conv_winograd.c -- 3x3, stride 1, undilated convolutions by Winograd's
 * minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016), the fast path of the
 * forward pass and, through the flipped weights, of backward-data
 * (overview in conv_internal.h).
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
 * additions only, vectorised by the compiler (an AVX2 build of the same code
 * when the AVX2 path is in force).
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

static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_copy_row)(const FC_T *restrict src, fc_int n, FC_T *restrict dst)
{
    for (fc_int u = 0; u < n; ++u)
        dst[u] = src[u];
}

/* B^T d on whole rows: s[a*slen + u] from the 4 input rows of a tile row. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_combine_rows)(const FC_T *restrict r0, const FC_T *restrict r1,
                             const FC_T *restrict r2, const FC_T *restrict r3, fc_int n,
                             FC_T *restrict s, fc_int slen)
{
    FC_T *restrict s0 = s, *restrict s1 = s + slen, *restrict s2 = s + 2 * slen;
    FC_T *restrict s3 = s + 3 * slen;
    for (fc_int u = 0; u < n; ++u) {
        s0[u] = r0[u] - r2[u];
        s1[u] = r1[u] + r2[u];
        s2[u] = r2[u] - r1[u];
        s3[u] = r1[u] - r3[u];
    }
}

/* (.) B along a combined row: virtual tile v at column 2v -> o[b*os + v]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_row_tiles)(const FC_T *restrict sa, fc_int nv, FC_T *restrict o, fc_int os)
{
    FC_T *restrict o0 = o, *restrict o1 = o + os, *restrict o2 = o + 2 * os;
    FC_T *restrict o3 = o + 3 * os;
    for (fc_int v = 0; v < nv; ++v) {
        const FC_T e0 = sa[2 * v], e1 = sa[2 * v + 1], e2 = sa[2 * v + 2], e3 = sa[2 * v + 3];
        o0[v] = e0 - e2;
        o1[v] = e1 + e2;
        o2[v] = e2 - e1;
        o3[v] = e1 - e3;
    }
}

/* Input transform of the tile rows [gr0, gr0 + nrows) of the run (global
 * tile row gr = image * th + ti) into the packed B panels vb: V[xi](c, tau)
 * at vb + xi*vstride + (tau / NR)*C*NR + c*NR + tau % NR, tau = local tile.
 * Per channel: B^T d first, on whole input rows (4 rows -> 4 combined rows,
 * contiguous, for every tile row of the block one after the other, each
 * segment 2*tw + 2 long), then d B along the combined rows with the tiles
 * of all the block's tile rows in one strided loop: a "virtual" tile v sits
 * at column 2v, so tile tj of block row lr is v = lr*(tw + 1) + tj and
 * v = lr*(tw + 1) + tw is a junk tile spanning two segments, never stored. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_input_body)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                           FC_T *vb, FC_T *rowbuf)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, vstride = C * tbp, wr = 2 * tw + 2;
    const fc_int pt = g->pad_top, pleft = g->pad_left;
    const fc_int nv = nrows * (tw + 1), slen = nrows * wr + 4;
    FC_T *rows = rowbuf;              /* 4 input rows, wr each */
    FC_T *st = rows + 4 * wr;         /* 4 combined rows, slen each */
    FC_T *out = st + 4 * slen;        /* 16 x nv transformed values */
    /* Columns u of a padded row that hold input pixels: [u0, u1). */
    const fc_int u0 = FC_MAX(0, pleft), u1 = FC_MIN(wr, pleft + W);
    FC_T *zrow = out + 16 * nv; /* a row of zeros: input rows outside the image */
    for (int a = 0; a < 4; ++a)
        for (fc_int u = nrows * wr; u < slen; ++u)
            st[a * slen + u] = 0;
    /* The border columns of the 4 row buffers are zero once for all. */
    for (fc_int u = 0; u < 4 * wr; ++u)
        rows[u] = 0;
    for (fc_int u = 0; u < wr; ++u)
        zrow[u] = 0;
    for (fc_int c = 0; c < C; ++c) {
        for (fc_int lr = 0; lr < nrows; ++lr) {
            const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            const FC_T *xc = x + (img * C + c) * H * W;
            const FC_T *r[4];
            for (int a = 0; a < 4; ++a) {
                const fc_int ih = 2 * ti - pt + a;
                if (ih < 0 || ih >= H) {
                    r[a] = zrow;
                } else {
                    FC_T *rr = rows + a * wr;
                    FC_SFX(fc_wino_copy_row)(xc + ih * W - pleft + u0, u1 - u0, rr + u0);
                    r[a] = rr;
                }
            }
            FC_SFX(fc_wino_combine_rows)(r[0], r[1], r[2], r[3], wr, st + lr * wr, slen);
        }
        for (int a = 0; a < 4; ++a)
            FC_SFX(fc_wino_row_tiles)(st + a * slen, nv, out + (a * 4) * nv, nv);
        for (int xi = 0; xi < 16; ++xi) {
            FC_T *vx = vb + xi * vstride + c * FC_NR;
            const FC_T *o = out + xi * nv;
            for (fc_int lr = 0; lr < nrows; ++lr) {
                const FC_T *ol = o + lr * (tw + 1);
                fc_int tau = lr * tw, tj = 0;
                while (tj < tw) {
                    /* a run of tiles inside one NR panel: contiguous lanes */
                    const fc_int lane = tau % FC_NR, n = FC_MIN(tw - tj, FC_NR - lane);
                    FC_SFX(fc_wino_copy_row)(ol + tj, n, vx + (tau / FC_NR) * C * FC_NR + lane);
                    tj += n;
                    tau += n;
                }
            }
        }
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
                            const FC_T *bias, int act, FC_T act_param, FC_T *y, FC_T *rowbuf)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, mstride = K * tbp, nt = nrows * tw;
    FC_T *y00 = rowbuf, *y01 = y00 + tbp, *y10 = y01 + tbp, *y11 = y10 + tbp;
    const fc_int wfull = Wo / 2; /* tiles whose two columns are both inside */
    for (fc_int k = 0; k < K; ++k) {
        FC_SFX(fc_wino_output_tiles)(mb + k * tbp, mstride, nt, y00, y01, y10, y11);
        const FC_T bk = bias ? bias[k] : (FC_T)0;
        for (fc_int lr = 0; lr < nrows; ++lr) {
            const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            for (int a = 0; a < 2; ++a) {
                const fc_int oh = 2 * ti + a;
                if (oh >= Ho)
                    break;
                FC_T *yr = y + ((img * K + k) * Ho + oh) * Wo;
                FC_SFX(fc_wino_put_row)((a ? y10 : y00) + lr * tw, (a ? y11 : y01) + lr * tw,
                                        wfull, Wo & 1, bk, yr);
                if (act != FC_ACT_NONE)
                    FC_SFX(fc_activation_forward)(act, act_param, yr, yr, Wo);
            }
        }
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
                            const FC_T *bias, int act, FC_T act_param, FC_T *y, FC_T *rowbuf)
{
    FC_SFX(fc_wino_output_body)(pl, mb, gr0, nrows, bias, act, act_param, y, rowbuf);
}
#endif

FC_WINO_NOLIB static void FC_SFX(fc_wino_input_ref)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0,
                                      fc_int nrows, FC_T *vb, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_body)(pl, x, gr0, nrows, vb, rowbuf);
}

FC_WINO_NOLIB static void FC_SFX(fc_wino_output_ref)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0,
                                       fc_int nrows, const FC_T *bias, int act, FC_T act_param,
                                       FC_T *y, FC_T *rowbuf)
{
    FC_SFX(fc_wino_output_body)(pl, mb, gr0, nrows, bias, act, act_param, y, rowbuf);
}

/* Forward conv of geometry pl->dg over nimg images (x: nimg x C x H x W,
 * y: nimg x K x Ho x Wo) with the transformed weights ap
 * (fc_wino_pack_weights). Workspace: V and M blocks, row buffers. */
void FC_SFX(fc_conv_wino_run)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                              const FC_T *ap, const FC_T *bias, int act, FC_T act_param,
                              FC_T *y, void *work)
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
#ifdef FC_HAVE_X86_AVX2_KERNELS
    const int avx2 = fc_simd_path() == FC_SIMD_AVX2;
#else
    const int avx2 = 0;
#endif
    const fc_int total_rows = nimg * pl->wino_th;
    for (fc_int gr0 = 0; gr0 < total_rows; gr0 += pl->wino_rows) {
        const fc_int nrows = FC_MIN(pl->wino_rows, total_rows - gr0);
        const fc_int ntile = nrows * tw;
        /* Lanes past the last tile of a short block: zero, never garbage. */
        if (ntile < tbp)
            for (int xi = 0; xi < 16; ++xi)
                for (fc_int tau = ntile; tau < fc_roundup(ntile, FC_NR); ++tau)
                    for (fc_int c = 0; c < C; ++c)
                        vb[xi * C * tbp + (tau / FC_NR) * C * FC_NR + c * FC_NR + tau % FC_NR] = 0;
#ifdef FC_HAVE_X86_AVX2_KERNELS
        if (avx2)
            FC_SFX(fc_wino_input_avx2)(pl, x, gr0, nrows, vb, rowbuf);
        else
#endif
            FC_SFX(fc_wino_input_ref)(pl, x, gr0, nrows, vb, rowbuf);
        const fc_int npan = (ntile + FC_NR - 1) / FC_NR;
        for (int xi = 0; xi < 16; ++xi) {
            const FC_T *ax = ap + (size_t)xi * (size_t)pl->wino_a;
            const FC_T *vx = vb + xi * C * tbp;
            FC_T *mx = mb + xi * K * tbp;
            for (fc_int pc = 0; pc < C; pc += kcb) {
                const fc_int kc = FC_MIN(kcb, C - pc);
                const FC_T beta = pc == 0 ? (FC_T)0 : (FC_T)1;
                const FC_T *apc = ax + pc * mpad;
                for (fc_int q = 0; q < npan; ++q) {
                    const FC_T *bq = vx + q * C * FC_NR + pc * FC_NR;
                    for (fc_int ir = 0; ir < K; ir += FC_MR)
                        ukr(kc, apc + ir * kc, bq, mx + ir * tbp + q * FC_NR, tbp, beta,
                            (int)FC_MIN(FC_MR, K - ir), FC_NR);
                }
            }
        }
#ifdef FC_HAVE_X86_AVX2_KERNELS
        if (avx2)
            FC_SFX(fc_wino_output_avx2)(pl, mb, gr0, nrows, bias, act, act_param, y, rowbuf);
        else
#endif
            FC_SFX(fc_wino_output_ref)(pl, mb, gr0, nrows, bias, act, act_param, y, rowbuf);
    }
}

#endif
