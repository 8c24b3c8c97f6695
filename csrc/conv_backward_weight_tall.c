/*
 * conv_backward_weight_tall.c -- the weight gradient's tall direct-A kernel
 * (AVX-512): every tap of up to nine image rows (channel c, filter row r) against
 * one or two B micro-panels of dY^T, for layers with few taps and at most 2 * NR
 * filters -- an image network's first layer (3 channels x 3x3 = 27 taps, 16 or 32
 * filters), LeNet's second (6 x 5x5).
 *
 * Why not fc_akm: its tile is MR = 6 taps by the filters. With one B panel (16
 * filters) that is 6 accumulators, short of the 8 chains two FMA pipes of latency
 * 4 need, and 8 loads (the pixel's offset, six broadcasts, one B row) per 6 FMAs:
 * those layers ran at 150-200 GFLOP/s. Here one pixel's B row meets the S taps of
 * each row from one offset: 27 accumulators and 29 loads per 27 FMAs (one panel),
 * or 2 x 9 accumulators and 12 loads per 18 FMAs (two panels).
 *
 * Contract (T float or double, NR lanes a vector):
 *
 *   void fc_bwt_avx512_<sfx>(fc_int kc, const T *const *rows, int nrows, int S,
 *                            const fc_int *offs, const T *b, fc_int bstride,
 *                            T *c, fc_int ldc, int nr);
 *
 *   c[(q*S + s)*ldc + j] += sum_{p < kc} rows[q][offs[p] + s] * B(p, j)
 *
 * for q < nrows, s < S, j < nr, with B(p, j) = b[(j / NR)*bstride + p*NR + j % NR]
 * (packed, 64-byte aligned micro-panels). Supported: fc_bwt_fits(S, nr, nrows).
 * Every element is the chain of fused multiply-adds over p in increasing order from
 * zero, then added to C: fc_akm's (and so the AVX2 kernels') bits.
 */
#ifndef FC_T
#include "conv_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#define FC_TMPL_SELF "conv_backward_weight_tall.c"
#include "tmpl_instances.h"

#else
typedef int fc_conv_backward_weight_tall_unused;
#endif

/* Rows one call takes: the accumulators (taps x panels) stay within 28 of the 32
 * vector registers, the rest hold the B rows and a broadcast. */
int fc_bwt_max_rows(int S, int panels)
{
    return (S == 3 || S == 5) && (panels == 1 || panels == 2) ? 28 / panels / S : 0;
}

#else /* ------------------------- template body ------------------------- */

#include "gemm_avx512_vec.h"

static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_bwt_body)(const int S, const int NB, const int ROWS, fc_int kc,
                    const FC_T *const *rows, const fc_int *restrict offs,
                    const FC_T *restrict b, fc_int bstride, FC_T *restrict c, fc_int ldc,
                    int nr)
{
    FC_Z acc[28];
    const FC_T *r[9];
#pragma GCC unroll 28
    for (int i = 0; i < NB * ROWS * S; ++i)
        acc[i] = FC_ZZERO();
#pragma GCC unroll 9
    for (int q = 0; q < ROWS; ++q)
        r[q] = rows[q];
    const FC_T *b1 = b + bstride;
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        const FC_Z bv0 = FC_ZLOAD(b + p * FC_NR);
        const FC_Z bv1 = NB > 1 ? FC_ZLOAD(b1 + p * FC_NR) : bv0;
#pragma GCC unroll 9
        for (int q = 0; q < ROWS; ++q) {
#pragma GCC unroll 5
            for (int s = 0; s < S; ++s) {
                const FC_Z av = FC_ZSET1(r[q][o + s]);
                acc[q * S + s] = FC_ZFMA(av, bv0, acc[q * S + s]);
                if (NB > 1)
                    acc[(ROWS + q) * S + s] = FC_ZFMA(av, bv1, acc[(ROWS + q) * S + s]);
            }
        }
    }
#pragma GCC unroll 2
    for (int h = 0; h < NB; ++h) {
        const int nq = nr - h * FC_NR < FC_NR ? nr - h * FC_NR : FC_NR;
        const FC_MASKT m = (FC_MASKT)((1u << nq) - 1u);
#pragma GCC unroll 28
        for (int t = 0; t < ROWS * S; ++t) {
            FC_T *ct = c + (fc_int)t * ldc + h * FC_NR;
            const FC_Z v = acc[h * ROWS * S + t];
            if (nq == FC_NR)
                FC_ZSTOREU(ct, FC_ZADD(FC_ZLOADU(ct), v));
            else
                FC_ZMSTORE(ct, m, FC_ZADD(FC_ZMLOAD(ct, m), v));
        }
    }
}

#define FC_BWT_CASE(S, NB, ROWS)                                                          \
    case ROWS:                                                                            \
        FC_SFX(fc_bwt_body)(S, NB, ROWS, kc, rows, offs, b, bstride, c, ldc, nr);         \
        return
#define FC_BWT_SWITCH_UPTO2(S, NB) FC_BWT_CASE(S, NB, 1); FC_BWT_CASE(S, NB, 2)
#define FC_BWT_SWITCH_UPTO4(S, NB)                                                        \
    FC_BWT_SWITCH_UPTO2(S, NB); FC_BWT_CASE(S, NB, 3); FC_BWT_CASE(S, NB, 4)
#define FC_BWT_SWITCH_UPTO5(S, NB) FC_BWT_SWITCH_UPTO4(S, NB); FC_BWT_CASE(S, NB, 5)
#define FC_BWT_SWITCH_UPTO9(S, NB)                                                        \
    FC_BWT_SWITCH_UPTO5(S, NB); FC_BWT_CASE(S, NB, 6); FC_BWT_CASE(S, NB, 7);             \
    FC_BWT_CASE(S, NB, 8); FC_BWT_CASE(S, NB, 9)

FC_AVX512_FN
void FC_SFX(fc_bwt_avx512)(fc_int kc, const FC_T *const *rows, int nrows, int S,
                           const fc_int *offs, const FC_T *b, fc_int bstride, FC_T *c,
                           fc_int ldc, int nr)
{
    const int two = nr > FC_NR;
    if (S == 3 && !two) {
        switch (nrows) { FC_BWT_SWITCH_UPTO9(3, 1); }
    } else if (S == 3) {
        switch (nrows) { FC_BWT_SWITCH_UPTO4(3, 2); }
    } else if (S == 5 && !two) {
        switch (nrows) { FC_BWT_SWITCH_UPTO5(5, 1); }
    } else if (S == 5) {
        switch (nrows) { FC_BWT_SWITCH_UPTO2(5, 2); }
    }
}

#undef FC_BWT_CASE
#undef FC_BWT_SWITCH_UPTO2
#undef FC_BWT_SWITCH_UPTO4
#undef FC_BWT_SWITCH_UPTO5
#undef FC_BWT_SWITCH_UPTO9

#endif
