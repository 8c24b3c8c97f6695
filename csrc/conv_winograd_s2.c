/*
 * conv_winograd_s2.c -- Winograd F(4x4, 2x2) on the four phases of a stride-2
 * convolution (3x3 or 4x4 filters, undilated; plan field wino_s2), forward
 * (wino_s2 1) and backward-data (wino_s2 2: a transposed convolution's
 * forward pass); and F(2x2, 4x4) for the weight gradient (wino_s2 3).
 *
 * Forward. Split the zero-bordered input xp into its four phases
 * P_ph[i][j] = xp[2i + py][2j + px] (ph = 2 py + px) and each filter into the
 * 2x2 sub-filters g_ph[a][b] = w[2a + py][2b + px] (zero past R or S): then
 *
 *   y[o][o'] = sum over ph, a, b of g_ph[a][b] P_ph[o + a][o' + b],
 *
 * four stride-1 2x2 convolutions summed. Each 4x4 block of outputs is
 *
 *   Y = A^T [ sum over c, ph of (G g_ph G^T) .* (B^T d_ph B) ] A,
 *
 * d_ph the 5x5 patch of P_ph under the block, so the 4 x 4 phases x 25 = 100
 * products per block and channel pair replace 16 x 16 = 256 (a 4x4 filter; 144
 * for 3x3): the phases are 4C channels (cv = ph * C + c) of 25 independent matrix
 * products M[xi] = U[xi] . V[xi], run by the Winograd driver (fc_conv_wino_run,
 * conv_winograd.c) with the F(4x4, 3x3) path's layouts. A 3x3 filter's odd
 * phases have one tap per side instead of two, and row (column) 4 of G reads
 * only the missing one: those phases' weights are zero in 9 of the 25 planes,
 * which skip them (the reduction runs in blocks that never cross a phase,
 * fc_wino_block): 81 products, not 100 ('strided' forward 1.36-1.40 ->
 * 1.28-1.33 ms).
 *
 * Backward-data. The pixels of dX at padded coordinates (2q + py, 2q' + px)
 * -- its phase ph -- receive only the taps w[2a + py][2b + px]: phase ph of dX
 * is a 2x2 correlation of dY (from one row and column before q) with the
 * flipped sub-filter w[2 - 2a + py][2 - 2b + px], so each of its 4x4 blocks
 * is an F(4x4, 2x2) of its own: 4 x 25 = 100 products per block of all four
 * phases (64 pixels of dX) and channel pair, run as 100 matrix products of
 * the filters' reduction; for a 3x3 filter 19 of them have zero weights
 * (fc_wino_s2t_zero_plane) and are not run ('strided' input gradient 1.79-1.82
 * -> 1.62-1.63 ms).
 *
 * Backward-weight (wino_s2 3, conv_winograd_bw.c's driver). Phase ph of the
 * filter, g_ph[a][b] = w[2a + py][2b + px], meets only P_ph: with
 * Dy = A dY A^T (5x5, from each 4x4 block of output gradients) and
 * V_ph = B^T d_ph B,
 *
 *   dg_ph = G^T [ sum over blocks of Dy .* V_ph ] G,
 *
 * the forward's bilinear algorithm transposed, F(2x2, 4x4): 25 matrix products
 * per phase whose reduction runs over the blocks, Dy shared by the four phases,
 * 81 of the 100 for a 3x3 filter (a missing tap's column of G^T reads the one
 * plane row or column that no other tap reads); conv_winograd_bw_finish.c.
 *
 * Interpolation points 0, 1, -1, 2 and infinity:
 *
 *   B^T = [2 -1 -2  1 0;  0 -2 -1  1 0;  0  2 -3  1 0;  0 -1  0  1 0;  0  2 -1 -2 1]
 *   G   = [1/2 0;  -1/2 -1/2;  -1/6 1/6;  1/6 1/3;  0 1]
 *   A^T = [1 1 1 1 0;  0 1 -1 2 0;  0 1 1 4 0;  0 1 -1 8 1]
 *
 * Accuracy: float32 results within about 2e-6 of their magnitude of a direct
 * convolution (F(4x4, 3x3): 1e-6); the weight transform runs in double.
 *
 * The transforms below are the portable ones (any element type, a tile at a
 * time); the AVX-512 build puts a panel's 16 tiles in the vector lanes
 * (conv_winograd_s2_avx512.c) with the same operations in the same order --
 * additions, subtractions and products by powers of two only, so a product
 * the compiler fuses into an add rounds as the pair would: the AVX2 and
 * AVX-512 paths give the same bits. Each output depends only on its
 * own block, summed over channels in a fixed order: results do not depend on
 * the thread split.
 */
#ifndef FC_T
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>
#endif
#include "team.h"

#define FC_TMPL_SELF "conv_winograd_s2.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

#include "conv_winograd_s2_tiles.h"

#ifndef FC_WINO_S2_ONCE
#define FC_WINO_S2_ONCE
/* Weight elements transformed together: a run of one packed panel's elements. */
#define FC_WINO_S2_PACK_LANES 32
#endif

/* G v of n vector pairs (v0, v1), in double. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_g)(const double *restrict v0, const double *restrict v1, fc_int n,
                     double *restrict o0, double *restrict o1, double *restrict o2,
                     double *restrict o3, double *restrict o4)
{
    for (fc_int e = 0; e < n; ++e) {
        o0[e] = v0[e] * 0.5;
        o1[e] = (v0[e] + v1[e]) * -0.5;
        o2[e] = (v1[e] - v0[e]) * (1.0 / 6);
        o3[e] = (v0[e] + v1[e] * 2.0) * (1.0 / 6);
        o4[e] = v1[e];
    }
}

/* One unit of the packed U: channel block pc of the reduction and micro-panel
 * row i0 (MR rows), its planes' elements e = (cv - pc) * MR + (f - i0)
 * contiguous (fc_wino4_pack_block's layout), FC_WINO_S2_PACK_LANES at a time
 * so that every loop is a few contiguous streams the compiler vectorises.
 * Forward (wino_s2 1): row f = filter k, reduction cv = 4c + ph, sub-filter
 * w[k, c][2a + py][2b + px]. Backward-data (wino_s2 2, dg the transposed
 * geometry): row f = input channel c, reduction cv = filter k, and each phase
 * ph its own 25 planes (ph * 25 + xi) of the flipped sub-filter
 * w[k, c][2 - 2a + py][2 - 2b + px]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_pack_block)(const fc_conv_plan *pl, const FC_T *w, FC_T *ap, fc_int pc,
                              fc_int kc, fc_int i0)
{
    const fc_conv_geom *g = &pl->dg;
    const int tr = pl->wino_s2 == 2;
    const fc_int F = g->K, C = g->C, R = g->R, S = g->S;
    const fc_int mpad = fc_roundup(F, FC_MR), n = kc * FC_MR;
    const size_t plane = (size_t)pl->wino_a, base = (size_t)(pc * mpad + i0 * kc);
    for (int ph = 0; ph < (tr ? 4 : 1); ++ph)
        for (fc_int e0 = 0; e0 < n; e0 += FC_WINO_S2_PACK_LANES) {
            const fc_int ne = FC_MIN(FC_WINO_S2_PACK_LANES, n - e0);
            double gv[4][FC_WINO_S2_PACK_LANES], t[5][2][FC_WINO_S2_PACK_LANES];
            fc_int cv = pc + e0 / FC_MR, f = i0 + e0 % FC_MR;
            for (fc_int e = 0; e < ne; ++e) {
                const int q = tr ? ph : (int)(cv / C), py = q >> 1, px = q & 1;
                /* w[k, c]: (k, c) = (f, cv % C) forward, (cv, f) backward-data */
                const FC_T *wk = tr ? w + (cv * F + f) * R * S : w + (f * C + cv % C) * R * S;
                for (int ab = 0; ab < 4; ++ab) {
                    const int a = ab >> 1, b = ab & 1;
                    const fc_int r = 2 * (tr ? 1 - a : a) + py, s = 2 * (tr ? 1 - b : b) + px;
                    gv[ab][e] = f < F && r < R && s < S ? (double)wk[r * S + s] : 0.0;
                }
                if (++f == i0 + FC_MR) {
                    f = i0;
                    ++cv;
                }
            }
            /* G down each column b, then G along each row a */
            for (int b = 0; b < 2; ++b)
                FC_SFX(fc_wino_s2_g)(gv[b], gv[2 + b], ne, t[0][b], t[1][b], t[2][b], t[3][b],
                                     t[4][b]);
            FC_T *restrict d = ap + base + (size_t)e0 + (size_t)ph * 25 * plane;
            for (int a = 0; a < 5; ++a) {
                double u[5][FC_WINO_S2_PACK_LANES];
                FC_SFX(fc_wino_s2_g)(t[a][0], t[a][1], ne, u[0], u[1], u[2], u[3], u[4]);
                for (int b = 0; b < 5; ++b)
                    for (fc_int e = 0; e < ne; ++e)
                        d[(size_t)(a * 5 + b) * plane + (size_t)e] = (FC_T)u[b][e];
            }
        }
}

/* Units [u0, u1) of (channel block, micro-panel row) pairs; built twice:
 * portable and (GCC) AVX-512 with contraction off, so that no multiply-add
 * joins what the portable build rounds apart -- the same bits. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_pack_units)(const fc_conv_plan *pl, const FC_T *w, FC_T *ap, fc_int u0,
                              fc_int u1)
{
    const fc_int rows = fc_roundup(pl->dg.K, FC_MR) / FC_MR;
    for (fc_int u = u0; u < u1; ++u) {
        fc_int pc, kc;
        fc_wino_block(pl, u / rows, &pc, &kc);
        FC_SFX(fc_wino_s2_pack_block)(pl, w, ap, pc, kc, u % rows * FC_MR);
    }
}

static void FC_SFX(fc_wino_s2_pack_portable)(const fc_conv_plan *pl, const FC_T *w, FC_T *ap,
                                             fc_int u0, fc_int u1)
{
    FC_SFX(fc_wino_s2_pack_units)(pl, w, ap, u0, u1);
}

#if defined(FC_HAVE_X86_AVX2_KERNELS) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target("avx512f,avx512vl,avx512dq,prefer-vector-width=512"),
               optimize("fp-contract=off"))) static void
FC_SFX(fc_wino_s2_pack_avx512)(const fc_conv_plan *pl, const FC_T *w, FC_T *ap, fc_int u0,
                               fc_int u1)
{
    FC_SFX(fc_wino_s2_pack_units)(pl, w, ap, u0, u1);
}
#define FC_WINO_S2_PACK_AVX512 1
#endif

/* U[xi](k, c') = (G g_ph(k, c) G^T)[xi], xi = 0..24, packed for the GEMM
 * (pl->wino_a elements a plane): the transform plain weights pay at every call. */
void FC_SFX(fc_wino_s2_pack_weights)(const fc_conv_plan *pl, const FC_T *w, FC_T *ap)
{
    const fc_int rows = fc_roundup(pl->dg.K, FC_MR) / FC_MR;
    const fc_int units = fc_wino_nblocks(pl) * rows;
    const int parallel = pl->dg.K * pl->dg.C >= 256;
    (void)parallel;
#pragma omp parallel if (parallel)
    {
        fc_int u0, u1;
        fc_omp_share(units, &u0, &u1);
#ifdef FC_WINO_S2_PACK_AVX512
        if (fc_simd_path() == FC_SIMD_AVX512)
            FC_SFX(fc_wino_s2_pack_avx512)(pl, w, ap, u0, u1);
        else
#endif
            FC_SFX(fc_wino_s2_pack_portable)(pl, w, ap, u0, u1);
    }
}

/* A^T on one column of five: o[0..3]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_at)(FC_T m0, FC_T m1, FC_T m2, FC_T m3, FC_T m4, FC_T o[4])
{
    const FC_T p = m1 + m2, q = m1 - m2;
    o[0] = (m0 + p) + m3;
    o[1] = q + m3 * (FC_T)2;
    o[2] = p + m3 * (FC_T)4;
    o[3] = (q + m3 * (FC_T)8) + m4;
}

/* Y = A^T M A of one tile, M[xi] at m[xi * ms] (A^T down each column, then along
 * each row, as the AVX-512 twins do): y[i][j]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_out_tile)(const FC_T *m, fc_int ms, FC_T y[4][4])
{
    FC_T s[5][4];
    for (int b = 0; b < 5; ++b)
        FC_SFX(fc_wino_s2_at)(m[b * ms], m[(5 + b) * ms], m[(10 + b) * ms], m[(15 + b) * ms],
                              m[(20 + b) * ms], s[b]);
    for (int i = 0; i < 4; ++i)
        FC_SFX(fc_wino_s2_at)(s[0][i], s[1][i], s[2][i], s[3][i], s[4][i], y[i]);
}

/* The n x n window of an H x W plane from (h0, w0) into win (rows n apart), zero
 * outside the plane: a portable transform's input patch. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_window)(const FC_T *plane, fc_int H, fc_int W, fc_int h0, fc_int w0, int n,
                          FC_T *win)
{
    for (int v = 0; v < n; ++v)
        for (int u = 0; u < n; ++u) {
            const fc_int h = h0 + v, w = w0 + u;
            win[v * n + u] = h >= 0 && h < H && w >= 0 && w < W ? plane[h * W + w] : (FC_T)0;
        }
}

/* The input transform of tile rows [gr0, gr0 + nrows) into the V panels, a
 * tile at a time: V[xi](ph*C + c, tau) at vb + xi*wino_vs + (tau / NR)*4C*NR +
 * (ph*C + c)*NR + tau % NR (the lanes past the block's last tile: the driver's). */
static void FC_SFX(fc_wino_s2_input_ref)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0,
                                         fc_int nrows, FC_T *vb)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vs = pl->wino_vs, Cv = 4 * C, ntile = nrows * tw;
    for (fc_int tau = 0; tau < ntile; ++tau) {
        FC_T *vt = vb + (tau / FC_NR) * Cv * FC_NR + tau % FC_NR;
        const fc_int lr = tau / tw, tj = tau - lr * tw, gr = gr0 + lr, img = gr / th;
        const fc_int ti = gr - img * th, h0 = 8 * ti - g->pad_top, w0 = 8 * tj - g->pad_left;
        for (fc_int c = 0; c < C; ++c) {
            const FC_T *xc = x + (img * C + c) * H * W;
            FC_T win[10][10];
            FC_SFX(fc_wino_s2_window)(xc, H, W, h0, w0, 10, &win[0][0]);
            for (int ph = 0; ph < 4; ++ph) {
                const int py = ph >> 1, px = ph & 1;
                FC_T d[5][5];
                for (int a = 0; a < 5; ++a)
                    for (int b = 0; b < 5; ++b)
                        d[a][b] = win[2 * a + py][2 * b + px];
                FC_SFX(fc_wino_s2_in_tile)(d, vt + (ph * C + c) * FC_NR, vs);
            }
        }
    }
}

/* The output transform of the block's tiles for output channels [k0, k1), a
 * tile at a time: Y = A^T M A, + bias, + residual, activation. */
static void FC_SFX(fc_wino_s2_output_ref)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0,
                                          fc_int nrows, fc_int k0, fc_int k1, const FC_T *bias,
                                          const FC_T *res, int act, FC_T act_param, FC_T *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, ms = pl->wino_ms, ntile = nrows * tw;
    const int relu = act == FC_ACT_RELU, other = act != FC_ACT_NONE && !relu;
    for (fc_int k = k0; k < k1; ++k) {
        const FC_T bk = bias ? bias[k] : (FC_T)0;
        for (fc_int tau = 0; tau < ntile; ++tau) {
            const fc_int lr = tau / tw, tj = tau - lr * tw, gr = gr0 + lr, img = gr / th;
            const fc_int ti = gr - img * th;
            const FC_T *m = mb + k * tbp + tau;
            FC_T yt[4][4];
            FC_SFX(fc_wino_s2_out_tile)(m, ms, yt);
            for (int i = 0; i < 4 && 4 * ti + i < Ho; ++i) {
                const FC_T *o = yt[i];
                const fc_int at = ((img * K + k) * Ho + 4 * ti + i) * Wo + 4 * tj;
                for (int j = 0; j < 4 && 4 * tj + j < Wo; ++j) {
                    FC_T v = o[j] + bk;
                    if (res)
                        v = v + res[at + j];
                    y[at + j] = relu ? (v > (FC_T)0 ? v : (FC_T)0) : v;
                }
            }
        }
        if (other) /* every row of the block's tile rows is whole now */
            for (fc_int lr = 0; lr < nrows; ++lr) {
                const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
                for (fc_int oh = 4 * ti; oh < FC_MIN(Ho, 4 * ti + 4); ++oh) {
                    FC_T *yr = y + ((img * K + k) * Ho + oh) * Wo;
                    FC_SFX(fc_activation_forward)(act, act_param, yr, yr, Wo);
                }
            }
    }
}

/* Backward-data (wino_s2 2; dg the transposed geometry: dY of C = K filters,
 * H x W, in; dX of K = C channels, Ho x Wo, out). Phase (py, px) of dX holds
 * the pixels at padded coordinates (2q + py, 2q' + px), q from pl->wino_q0
 * first; its tile (ti, tj) is the 4x4 run of q from 4ti on, a 2x2 correlation
 * of dY's 5x5 patch one row and column before it with the flipped sub-filter:
 * V[ph*25 + xi](k, tau) = (B^T d B)[xi], a tile at a time. */
static void FC_SFX(fc_wino_s2t_input_ref)(const fc_conv_plan *pl, const FC_T *dy, fc_int gr0,
                                          fc_int nrows, FC_T *vb)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vs = pl->wino_vs, ntile = nrows * tw;
    const fc_int(*q0)[2] = pl->wino_q0;
    for (fc_int tau = 0; tau < ntile; ++tau) {
        FC_T *vt = vb + (tau / FC_NR) * C * FC_NR + tau % FC_NR;
        const fc_int lr = tau / tw, tj = tau - lr * tw, gr = gr0 + lr, img = gr / th;
        const fc_int ti = gr - img * th;
        for (int ph = 0; ph < 4; ++ph) {
            const fc_int h0 = q0[0][ph >> 1] + 4 * ti - 1, w0 = q0[1][ph & 1] + 4 * tj - 1;
            for (fc_int k = 0; k < C; ++k) {
                const FC_T *yk = dy + (img * C + k) * H * W;
                FC_T d[5][5];
                FC_SFX(fc_wino_s2_window)(yk, H, W, h0, w0, 5, &d[0][0]);
                FC_SFX(fc_wino_s2_in_tile)(d, vt + (ph * 25) * vs + k * FC_NR, vs);
            }
        }
    }
}

/* Backward-data's output transform: each phase's 4x4 blocks to their pixels,
 * + bias, + residual, activation. */
static void FC_SFX(fc_wino_s2t_output_ref)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0,
                                           fc_int nrows, fc_int k0, fc_int k1, const FC_T *bias,
                                           const FC_T *res, int act, FC_T act_param, FC_T *y)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, ms = pl->wino_ms, ntile = nrows * tw;
    const int relu = act == FC_ACT_RELU;
    const fc_int(*q0)[2] = pl->wino_q0, (*nq)[2] = pl->wino_nq;
    for (fc_int k = k0; k < k1; ++k) {
        const FC_T bk = bias ? bias[k] : (FC_T)0;
        for (fc_int tau = 0; tau < ntile; ++tau) {
            const fc_int lr = tau / tw, tj = tau - lr * tw, gr = gr0 + lr, img = gr / th;
            const fc_int ti = gr - img * th;
            for (int ph = 0; ph < 4; ++ph) {
                const int py = ph >> 1, px = ph & 1;
                const FC_T *m = mb + (ph * 25) * ms + k * tbp + tau;
                FC_T yt[4][4];
                FC_SFX(fc_wino_s2_out_tile)(m, ms, yt);
                for (int i = 0; i < 4 && 4 * ti + i < nq[0][py]; ++i) {
                    const FC_T *o = yt[i];
                    const fc_int oh = 2 * (q0[0][py] + 4 * ti + i) + py - g->pad_top;
                    const fc_int at = ((img * K + k) * Ho + oh) * Wo;
                    for (int j = 0; j < 4 && 4 * tj + j < nq[1][px]; ++j) {
                        const fc_int ow = 2 * (q0[1][px] + 4 * tj + j) + px - g->pad_left;
                        FC_T v = o[j] + bk;
                        if (res)
                            v = v + res[at + ow];
                        y[at + ow] = relu ? (v > (FC_T)0 ? v : (FC_T)0) : v;
                    }
                }
            }
        }
        if (act != FC_ACT_NONE && !relu)
            for (fc_int lr = 0; lr < nrows; ++lr) {
                const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
                for (int ph = 0; ph < 4; ph += 2) /* the rows of both row phases */
                    for (fc_int i = 4 * ti; i < FC_MIN(nq[0][ph >> 1], 4 * ti + 4); ++i) {
                        const fc_int oh = 2 * (q0[0][ph >> 1] + i) + (ph >> 1) - g->pad_top;
                        FC_T *yr = y + ((img * K + k) * Ho + oh) * Wo;
                        FC_SFX(fc_activation_forward)(act, act_param, yr, yr, Wo);
                    }
            }
    }
}

/* The transforms fc_conv_wino_run calls when pl->wino_s2. */
void FC_SFX(fc_wino_s2_input)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                              FC_T *vb)
{
    if (pl->wino_s2 == 2) {
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
        if (fc_simd_path() == FC_SIMD_AVX512 &&
            fc_wino_s2t_input_avx512_f32(pl, x, gr0, nrows, vb))
            return;
#endif
        FC_SFX(fc_wino_s2t_input_ref)(pl, x, gr0, nrows, vb);
        return;
    }
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
    if (fc_simd_path() == FC_SIMD_AVX512 && fc_wino_s2_input_avx512_f32(pl, x, gr0, nrows, vb))
        return;
#endif
    FC_SFX(fc_wino_s2_input_ref)(pl, x, gr0, nrows, vb);
}

void FC_SFX(fc_wino_s2_output)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                               fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act,
                               FC_T act_param, FC_T *y)
{
    if (pl->wino_s2 == 2) {
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
        if (fc_simd_path() == FC_SIMD_AVX512 &&
            fc_wino_s2t_output_avx512_f32(pl, mb, gr0, nrows, k0, k1, bias, res, act, y))
            return;
#endif
        FC_SFX(fc_wino_s2t_output_ref)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y);
        return;
    }
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
    if (fc_simd_path() == FC_SIMD_AVX512 &&
        fc_wino_s2_output_avx512_f32(pl, mb, gr0, nrows, k0, k1, bias, res, act, y))
        return;
#endif
    FC_SFX(fc_wino_s2_output_ref)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y);
}

#endif
