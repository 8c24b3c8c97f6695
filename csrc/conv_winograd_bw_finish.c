/*
 * conv_winograd_bw_finish.c -- the Winograd weight gradient's last step
 * (fc_conv_wino_bw_run, conv_winograd_bw.c): the filter gradients out of the
 * accumulated products Mw, dW = G^T Mw G, for F(2x2, 3x3), F(4x4, 3x3) and
 * the stride-2 path's four phases (F(2x2, 4x4)), added into dw.
 */
#ifndef FC_T
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>
#endif

#define FC_TMPL_SELF "conv_winograd_bw_finish.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

#include "conv_winograd_tiles.h"

/* dw[e*9 + r*3 + s] += (G^T M_e G)(r, s) for the n elements e of the 16
 * blocks m[xi*n + e]; tmp holds 9 x FC_WINO_FIN elements. */
#define FC_WINO_FIN 64
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino2_bw_finish_body)(const FC_T *m, fc_int n, size_t sn, FC_T *dw, FC_T *tmp)
{
    for (fc_int e0 = 0; e0 < n; e0 += FC_WINO_FIN) {
        const fc_int ne = FC_MIN(FC_WINO_FIN, n - e0);
        const FC_T *restrict q = m + e0;
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


/* F(4x4): dw[e*9 + r*3 + s] += (G^T M_e G)(r, s) for the n elements e of the
 * 36 blocks m[xi*n + e], in double (G's sixths and 24ths), in chunks of
 * FC_WINO_FIN elements with the element innermost: every loop a handful of
 * contiguous streams, each block read once (G's zeros -- G[0][1], G[0][2],
 * G[5][0], G[5][1] -- left out, its ones as plain additions). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_bw_finish_body)(const FC_T *m, fc_int n, size_t sn, FC_T *dw)
{
    const double (*G)[3] = fc_wino4_G;
    for (fc_int e0 = 0; e0 < n; e0 += FC_WINO_FIN) {
        const fc_int ne = FC_MIN(FC_WINO_FIN, n - e0);
        double t[3][6][FC_WINO_FIN]; /* G^T M */
        double o[9][FC_WINO_FIN];    /* (G^T M) G */
        for (int b = 0; b < 6; ++b) {
            /* column b of every element's M: six streams in, three out */
            const FC_T *restrict q0 = m + (size_t)b * sn + (size_t)e0;
            const FC_T *restrict q1 = q0 + 6 * sn, *restrict q2 = q1 + 6 * sn;
            const FC_T *restrict q3 = q2 + 6 * sn, *restrict q4 = q3 + 6 * sn;
            const FC_T *restrict q5 = q4 + 6 * sn;
            double *restrict t0 = t[0][b], *restrict t1 = t[1][b], *restrict t2 = t[2][b];
            for (fc_int e = 0; e < ne; ++e) {
                const double v0 = (double)q0[e], v1 = (double)q1[e], v2 = (double)q2[e];
                const double v3 = (double)q3[e], v4 = (double)q4[e], v5 = (double)q5[e];
                t0[e] = G[0][0] * v0 + G[1][0] * v1 + G[2][0] * v2 + G[3][0] * v3 + G[4][0] * v4;
                t1[e] = G[1][1] * v1 + G[2][1] * v2 + G[3][1] * v3 + G[4][1] * v4;
                t2[e] = G[1][2] * v1 + G[2][2] * v2 + G[3][2] * v3 + G[4][2] * v4 + v5;
            }
        }
        for (int r = 0; r < 3; ++r) {
            const double *restrict u0 = t[r][0], *restrict u1 = t[r][1], *restrict u2 = t[r][2];
            const double *restrict u3 = t[r][3], *restrict u4 = t[r][4], *restrict u5 = t[r][5];
            double *restrict o0 = o[r * 3], *restrict o1 = o[r * 3 + 1], *restrict o2 = o[r * 3 + 2];
            for (fc_int e = 0; e < ne; ++e) {
                o0[e] = u0[e] * G[0][0] + u1[e] * G[1][0] + u2[e] * G[2][0] + u3[e] * G[3][0] +
                        u4[e] * G[4][0];
                o1[e] = u1[e] * G[1][1] + u2[e] * G[2][1] + u3[e] * G[3][1] + u4[e] * G[4][1];
                o2[e] = u1[e] * G[1][2] + u2[e] * G[2][2] + u3[e] * G[3][2] + u4[e] * G[4][2] +
                        u5[e];
            }
        }
        FC_T *restrict d = dw + (size_t)e0 * 9;
        for (fc_int e = 0; e < ne; ++e)
            for (int rs = 0; rs < 9; ++rs)
                d[e * 9 + rs] += (FC_T)o[rs][e];
    }
}


/* The stride-2 plans (wino_s2 3): the filter gradient of each phase ph = 2 py + px is
 * G^T Mw_ph G, Mw_ph[xi] = Mw[xi](k, ph * cp + c) the products accumulated over the
 * tiles, and lands on the taps w[2a + py][2b + px]: dw += it, in double (G's sixths).
 * A missing tap (a 3-tap side's odd phase) leaves out G's column 1, and column 0 is
 * zero in row 4: the blocks of row (column) 4 -- the products skipped for that phase --
 * are never read. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_bw_finish_body)(const fc_conv_plan *pl, const FC_T *mw, FC_T *dw)
{
    enum { FIN = 64 };
    static const double G[5][2] = {
        {0.5, 0}, {-0.5, -0.5}, {-1.0 / 6, 1.0 / 6}, {1.0 / 6, 1.0 / 3}, {0, 1}};
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, C = g->C, R = g->R, S = g->S, cp = fc_roundup(C, FC_NR);
    const size_t plane = (size_t)K * (size_t)(4 * cp);
    for (fc_int k = 0; k < K; ++k)
        for (int ph = 0; ph < 4; ++ph) {
            const int py = ph >> 1, px = ph & 1;
            const int na = FC_MIN(2, (int)(R - py + 1) / 2), nb = FC_MIN(2, (int)(S - px + 1) / 2);
            const FC_T *mk = mw + (size_t)k * (size_t)(4 * cp) + (size_t)(ph * cp);
            for (fc_int c0 = 0; c0 < C; c0 += FIN) {
                const fc_int ne = FC_MIN(FIN, C - c0);
                double t[2][5][FIN]; /* G^T Mw: t[a'][b] */
                for (int ap = 0; ap < na; ++ap)
                    for (int b = 0; b < 5; ++b) {
                        if (nb == 1 && G[b][0] == 0)
                            continue;
                        for (fc_int e = 0; e < ne; ++e)
                            t[ap][b][e] = 0;
                        for (int a = 0; a < 5; ++a)
                            if (G[a][ap] != 0)
                                for (fc_int e = 0; e < ne; ++e)
                                    t[ap][b][e] += G[a][ap] *
                                                   (double)mk[(size_t)(a * 5 + b) * plane + c0 + e];
                    }
                for (int ap = 0; ap < na; ++ap)
                    for (int bp = 0; bp < nb; ++bp) {
                        double o[FIN];
                        for (fc_int e = 0; e < ne; ++e)
                            o[e] = 0;
                        for (int b = 0; b < 5; ++b)
                            if (G[b][bp] != 0)
                                for (fc_int e = 0; e < ne; ++e)
                                    o[e] += t[ap][b][e] * G[b][bp];
                        FC_T *d = dw + ((size_t)k * C + c0) * R * S + (2 * ap + py) * S + 2 * bp + px;
                        for (fc_int e = 0; e < ne; ++e)
                            d[e * R * S] += (FC_T)o[e];
                    }
            }
        }
}

/* dw += G^T Mw G for plan pl's blocks Mw (tmp: F(2x2)'s 9 x FC_WINO_FIN scratch). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_bw_finish_body)(const fc_conv_plan *pl, const FC_T *mw, FC_T *dw, FC_T *tmp)
{
    const fc_int n = pl->dg.K * pl->dg.C;
    if (pl->wino_s2)
        FC_SFX(fc_wino_s2_bw_finish_body)(pl, mw, dw);
    else if (pl->wino_m == 4)
        FC_SFX(fc_wino4_bw_finish_body)(mw, n, (size_t)n, dw);
    else
        FC_SFX(fc_wino2_bw_finish_body)(mw, n, (size_t)n, dw, tmp);
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
/* AVX2 without FMA: the portable build's roundings, 4 doubles a vector. */
__attribute__((target("avx2"))) static void
FC_SFX(fc_wino_bw_finish_avx2)(const fc_conv_plan *pl, const FC_T *mw, FC_T *dw, FC_T *tmp)
{
    FC_SFX(fc_wino_bw_finish_body)(pl, mw, dw, tmp);
}
#endif

/* dw += G^T M G for n elements of a block of accumulators (planes sn apart) on a
 * stride-1 plan, element e's gradient at dw + 9 e: fc_conv_wino_bw_filters' blocks. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_bw_finish_block_body)(const fc_conv_plan *pl, const FC_T *mw, fc_int n,
                                     fc_int sn, FC_T *dw)
{
    if (pl->wino_m == 4) {
        FC_SFX(fc_wino4_bw_finish_body)(mw, n, (size_t)sn, dw);
    } else {
        FC_T tmp[9 * FC_WINO_FIN];
        FC_SFX(fc_wino2_bw_finish_body)(mw, n, (size_t)sn, dw, tmp);
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2"))) static void
FC_SFX(fc_wino_bw_finish_block_avx2)(const fc_conv_plan *pl, const FC_T *mw, fc_int n, fc_int sn,
                                     FC_T *dw)
{
    FC_SFX(fc_wino_bw_finish_block_body)(pl, mw, n, sn, dw);
}
#endif

void FC_SFX(fc_wino_bw_finish_block)(const fc_conv_plan *pl, const FC_T *mw, fc_int n, fc_int sn,
                                     FC_T *dw)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_wino_avx2()) {
        FC_SFX(fc_wino_bw_finish_block_avx2)(pl, mw, n, sn, dw);
        return;
    }
#endif
    FC_SFX(fc_wino_bw_finish_block_body)(pl, mw, n, sn, dw);
}

/* The same on the SIMD path in force. */
void FC_SFX(fc_wino_bw_finish)(const fc_conv_plan *pl, const FC_T *mw, FC_T *dw, FC_T *tmp)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_wino_avx2()) {
        FC_SFX(fc_wino_bw_finish_avx2)(pl, mw, dw, tmp);
        return;
    }
#endif
    FC_SFX(fc_wino_bw_finish_body)(pl, mw, dw, tmp);
}

#endif
