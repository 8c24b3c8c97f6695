/*
 * gemm_ukernel_ref.c -- portable reference micro-kernels (contract at the
 * top of gemm_internal.h). Plain C; the compiler vectorises what it can for
 * the baseline ISA.
 */
#ifndef FC_T
#include "gemm_internal.h"

#define FC_TMPL_SELF "gemm_ukernel_ref.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* The tile is computed in column strips of FC_RSTRIP, small enough for the
 * accumulators to stay in registers on a baseline ISA (6 x 8 floats = 12 SSE
 * registers); a 6 x 16 block of accumulators would spill on every k step
 * (3 GFLOP/s instead of ~15). Each element still sums p in increasing order. */
#define FC_RSTRIP (32 / (int)sizeof(FC_T))
void FC_SFX(fc_ukr_ref)(fc_int kc, const FC_T *restrict a, const FC_T *restrict b,
                        FC_T *restrict c, fc_int ldc, FC_T beta, int mr, int nr)
{
    for (int j0 = 0; j0 < FC_NR; j0 += FC_RSTRIP) {
        if (j0 >= nr)
            break;
        FC_T acc[FC_MR][FC_RSTRIP];
        for (int i = 0; i < FC_MR; ++i)
            for (int j = 0; j < FC_RSTRIP; ++j)
                acc[i][j] = 0;
        for (fc_int p = 0; p < kc; ++p) {
            const FC_T *ap = a + p * FC_MR;
            const FC_T *bp = b + p * FC_NR + j0;
            for (int i = 0; i < FC_MR; ++i) {
                const FC_T ai = ap[i];
                for (int j = 0; j < FC_RSTRIP; ++j)
                    acc[i][j] += ai * bp[j];
            }
        }
        const int jn = nr - j0 < FC_RSTRIP ? nr - j0 : FC_RSTRIP;
        if (beta == 0) {
            for (int i = 0; i < mr; ++i)
                for (int j = 0; j < jn; ++j)
                    c[i * ldc + j0 + j] = acc[i][j];
        } else {
            for (int i = 0; i < mr; ++i)
                for (int j = 0; j < jn; ++j)
                    c[i * ldc + j0 + j] += acc[i][j];
        }
    }
}
#undef FC_RSTRIP

void FC_SFX(fc_akr_ref)(fc_int kc, const FC_T *const *rows, const fc_int *restrict offs,
                        const FC_T *restrict b, FC_T *restrict c, fc_int ldc, FC_T beta, int mr,
                        int nr)
{
    FC_T acc[FC_MR][FC_NR];
    for (int i = 0; i < FC_MR; ++i)
        for (int j = 0; j < FC_NR; ++j)
            acc[i][j] = 0;
    for (fc_int p = 0; p < kc; ++p) {
        const FC_T *bp = b + p * FC_NR;
        const fc_int o = offs[p];
        for (int i = 0; i < FC_MR; ++i) {
            const FC_T ai = rows[i][o];
            for (int j = 0; j < FC_NR; ++j)
                acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < mr; ++i)
        for (int j = 0; j < nr; ++j)
            c[i * ldc + j] = beta == 0 ? acc[i][j] : c[i * ldc + j] + acc[i][j];
}

/* The write-back epilogue of the direct kernels (contract in gemm_internal.h). */
static inline FC_T FC_SFX(fc_dk_epi)(FC_T v, const FC_T *bias, int i, int relu)
{
    if (bias)
        v += bias[i];
    if (relu)
        v = v > (FC_T)0 ? v : (FC_T)0;
    return v;
}

static void FC_SFX(fc_dkr_ref_panel)(fc_int kc, const FC_T *restrict a, const FC_T *x0,
                                     const FC_T *x1, const fc_int *restrict offs, FC_T *c0,
                                     FC_T *c1, fc_int ldc, FC_T beta, int mr, int n0, int n1,
                                     const FC_T *bias, int relu)
{
    enum { CW = FC_NR / 2 };
    FC_T acc[FC_MR][FC_NR];
    for (int i = 0; i < FC_MR; ++i)
        for (int j = 0; j < FC_NR; ++j)
            acc[i][j] = 0;
    for (fc_int p = 0; p < kc; ++p) {
        const FC_T *ap = a + p * FC_MR;
        const FC_T *b0 = x0 + offs[p], *b1 = x1 + offs[p];
        FC_T bp[FC_NR];
        for (int j = 0; j < CW; ++j) {
            bp[j] = b0[j];
            bp[CW + j] = b1[j];
        }
        for (int i = 0; i < FC_MR; ++i) {
            const FC_T ai = ap[i];
            for (int j = 0; j < FC_NR; ++j)
                acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < mr; ++i) {
        FC_T *d0 = c0 + i * ldc, *d1 = c1 + i * ldc;
        for (int j = 0; j < n0; ++j)
            d0[j] = FC_SFX(fc_dk_epi)(beta == 0 ? acc[i][j] : d0[j] + acc[i][j], bias, i, relu);
        for (int j = 0; j < n1; ++j)
            d1[j] = FC_SFX(fc_dk_epi)(beta == 0 ? acc[i][CW + j] : d1[j] + acc[i][CW + j], bias, i,
                                      relu);
    }
}

void FC_SFX(fc_dkr_ref)(fc_int kc, const FC_T *restrict a, const FC_T *x0, const FC_T *x1,
                        const fc_int *restrict offs, FC_T *c0, FC_T *c1, fc_int ldc, FC_T beta,
                        int mr, int n0, int n1, const FC_T *bias, int relu)
{
    for (int i = 0; i < mr; i += FC_MR)
        FC_SFX(fc_dkr_ref_panel)(kc, a + i * kc, x0, x1, offs, c0 + i * ldc, c1 + i * ldc, ldc,
                                 beta, mr - i < FC_MR ? mr - i : FC_MR, n0, n1,
                                 bias ? bias + i : NULL, relu);
}

/* Narrow direct-B kernels: R rows x Q chunks (contract in gemm_internal.h).
 * The arithmetic of fc_dkr_ref, element by element. */
static inline void FC_SFX(fc_dkn_ref)(const int R, const int Q, fc_int kc,
                                      const FC_T *restrict a, const FC_T *const *xs,
                                      const fc_int *restrict offs, FC_T *const *cs, fc_int ldc,
                                      FC_T beta, int mr, const int *ns, const FC_T *bias,
                                      int relu)
{
    enum { CW = FC_NR / 2 };
    FC_T acc[4][6 * CW];
    for (int i = 0; i < R; ++i)
        for (int j = 0; j < Q * CW; ++j)
            acc[i][j] = 0;
    for (fc_int p = 0; p < kc; ++p) {
        const FC_T *ap = a + p * FC_MR;
        FC_T bp[6 * CW];
        for (int q = 0; q < Q; ++q)
            for (int j = 0; j < CW; ++j)
                bp[q * CW + j] = xs[q][offs[p] + j];
        for (int i = 0; i < R; ++i) {
            const FC_T ai = ap[i];
            for (int j = 0; j < Q * CW; ++j)
                acc[i][j] += ai * bp[j];
        }
    }
    for (int i = 0; i < mr; ++i)
        for (int q = 0; q < Q; ++q) {
            FC_T *d = cs[q] + i * ldc;
            const FC_T *t = acc[i] + q * CW;
            for (int j = 0; j < ns[q]; ++j)
                d[j] = FC_SFX(fc_dk_epi)(beta == 0 ? t[j] : d[j] + t[j], bias, i, relu);
        }
}

void FC_SFX(fc_dkn2_ref)(fc_int kc, const FC_T *a, const FC_T *const *xs, const fc_int *offs,
                         FC_T *const *cs, fc_int ldc, FC_T beta, int mr, const int *ns,
                         const FC_T *bias, int relu)
{
    FC_SFX(fc_dkn_ref)(2, 6, kc, a, xs, offs, cs, ldc, beta, mr, ns, bias, relu);
}

void FC_SFX(fc_dkn4_ref)(fc_int kc, const FC_T *a, const FC_T *const *xs, const fc_int *offs,
                         FC_T *const *cs, fc_int ldc, FC_T beta, int mr, const int *ns,
                         const FC_T *bias, int relu)
{
    FC_SFX(fc_dkn_ref)(4, 2, kc, a, xs, offs, cs, ldc, beta, mr, ns, bias, relu);
}

#endif
