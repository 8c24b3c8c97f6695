/*
 * gemm_ukernel_avx512.c -- AVX-512 micro-kernels (contracts at the top of
 * gemm_internal.h): the packed block kernel (fc_ukb) and the direct-A kernel
 * over several B micro-panels (fc_akm); the direct-B kernels (fc_dkr, fc_dkw,
 * fc_dkw8) are in gemm_ukernel_avx512_direct.c, the vector macros both use in
 * gemm_avx512_vec.h.
 *
 * The tile is the AVX2 one -- MR = 6 rows of NR = 16 floats / 8 doubles --
 * and so is every packed buffer: one B micro-panel row is exactly one zmm
 * register. One panel alone would give 6 accumulators, too few to cover the
 * FMA latency at two FMAs per cycle, so a call runs up to three A panels
 * (18 rows) against the same B vector: 18 accumulators + 1 B of the 32
 * registers, A broadcast straight from memory by the FMA.
 *
 * Every element is the AVX2 kernel's: products of p = 0, 1, ... fused into
 * one accumulator from zero, then + C (beta 1), + bias, max(., 0). FMA rounds
 * once per element whatever the vector width, so the two paths give the same
 * bits and packed buffers never depend on the path.
 *
 * Compiled without -mavx512f: only these functions carry the target
 * attribute, and they run only when fc_simd_path() is FC_SIMD_AVX512.
 */
#ifndef FC_T
#include "gemm_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#define FC_TMPL_SELF "gemm_ukernel_avx512.c"
#include "tmpl_instances.h"

#else
typedef int fc_gemm_ukernel_avx512_unused;
#endif

#else /* ------------------------- template body ------------------------- */

#include "gemm_avx512_vec.h"
/* NP panels (NP*MR accumulators, LAST rows of the last panel computed) of the
 * packed kernel: rows i < mr of C. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_ukm_group)(const int NP, const int LAST, fc_int kc, const FC_T *restrict a,
                     fc_int pstride, const FC_T *restrict b, FC_T *restrict c, fc_int ldc,
                     int accumulate, int mr, int nr)
{
    FC_Z acc[3 * FC_MR];
#pragma GCC unroll 18
    for (int i = 0; i < NP * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *a0 = a, *a1 = a + pstride, *a2 = a + 2 * pstride;
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        const FC_Z bv = FC_ZLOAD(b + p * FC_NR);
        for (int i = 0; i < (NP == 1 ? LAST : FC_MR); ++i)
            acc[i] = FC_ZFMA(FC_ZSET1(a0[p * FC_MR + i]), bv, acc[i]);
        if (NP > 1) {
            for (int i = 0; i < (NP == 2 ? LAST : FC_MR); ++i)
                acc[FC_MR + i] = FC_ZFMA(FC_ZSET1(a1[p * FC_MR + i]), bv, acc[FC_MR + i]);
        }
        if (NP > 2) {
#pragma GCC unroll 6
            for (int i = 0; i < LAST; ++i)
                acc[2 * FC_MR + i] = FC_ZFMA(FC_ZSET1(a2[p * FC_MR + i]), bv, acc[2 * FC_MR + i]);
        }
    }
    /* Rows: i < mr of this group, the row i of panel i / MR. */
    if (nr == FC_NR) {
#pragma GCC unroll 18
        for (int i = 0; i < NP * FC_MR; ++i) {
            if (i >= mr)
                break;
            FC_T *ci = c + (fc_int)i * ldc;
            FC_Z v = acc[i];
            if (accumulate)
                v = FC_ZADD(FC_ZLOADU(ci), v);
            FC_ZSTOREU(ci, v);
        }
    } else {
        const FC_MASKT m = (FC_MASKT)((1u << nr) - 1u);
#pragma GCC unroll 18
        for (int i = 0; i < NP * FC_MR; ++i) {
            if (i >= mr)
                break;
            FC_T *ci = c + (fc_int)i * ldc;
            FC_Z v = acc[i];
            if (accumulate)
                v = FC_ZADD(FC_ZMLOAD(ci, m), v);
            FC_ZMSTORE(ci, m, v);
        }
    }
}

/* One B panel against the A panels of mr rows, up to three A panels a pass. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_ukm_rows)(fc_int kc, const FC_T *restrict a, fc_int pstride, const FC_T *restrict b,
                    FC_T *restrict c, fc_int ldc, int accumulate, int mr, int nr)
{
    int panels = (mr + FC_MR - 1) / FC_MR;
    while (panels > 0) {
        const int np = FC_SFX(fc_z_group)(panels);
        const int rows = mr < np * FC_MR ? mr : np * FC_MR;
#define FC_UKM(NP, LAST) \
    FC_SFX(fc_ukm_group)(NP, LAST, kc, a, pstride, b, c, ldc, accumulate, rows, nr)
        FC_Z_DISPATCH(FC_UKM);
#undef FC_UKM
        a += np * pstride;
        c += (fc_int)rows * ldc;
        mr -= rows;
        panels -= np;
    }
}

/* One A panel (LIVE of its rows computed) against NB B panels: the row
 * broadcasts of a k step feed every panel, 6*NB accumulators. Nine loads per
 * 18 FMAs where the A-panel groups above need nineteen: on Zen 5 the loads,
 * not the FMAs, set the pace of those (~15% slower in L1). A is a packed
 * panel, or with DIRECT_A (fc_akm) element (i, p) is at rows[i][offs[p]]. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_ukn_group)(const int NB, const int LIVE, const int DIRECT_A, fc_int kc,
                     const FC_T *restrict a, const FC_T *const *rows, const fc_int *restrict offs,
                     const FC_T *restrict b, fc_int bstride, FC_T *restrict c, fc_int ldc,
                     int accumulate, int mr, int nr)
{
    FC_Z acc[3 * FC_MR];
#pragma GCC unroll 18
    for (int i = 0; i < NB * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *b0 = b, *b1 = b + bstride, *b2 = b + 2 * bstride;
    const FC_T *r[FC_MR];
    if (DIRECT_A)
        for (int i = 0; i < FC_MR; ++i)
            r[i] = rows[i];
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        FC_Z av[FC_MR];
        if (DIRECT_A) {
            const fc_int o = offs[p];
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                av[i] = FC_ZSET1(r[i][o]);
        } else {
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                av[i] = FC_ZSET1(a[p * FC_MR + i]);
        }
        FC_Z bv = FC_ZLOAD(b0 + p * FC_NR);
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[i] = FC_ZFMA(av[i], bv, acc[i]);
        if (NB > 1) {
            bv = FC_ZLOAD(b1 + p * FC_NR);
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                acc[FC_MR + i] = FC_ZFMA(av[i], bv, acc[FC_MR + i]);
        }
        if (NB > 2) {
            bv = FC_ZLOAD(b2 + p * FC_NR);
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                acc[2 * FC_MR + i] = FC_ZFMA(av[i], bv, acc[2 * FC_MR + i]);
        }
    }
#pragma GCC unroll 3
    for (int q = 0; q < NB; ++q) {
        const int nq = nr - q * FC_NR < FC_NR ? nr - q * FC_NR : FC_NR;
        const FC_MASKT m = (FC_MASKT)((1u << nq) - 1u);
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i) {
            if (i >= mr)
                break;
            FC_T *ci = c + (fc_int)i * ldc + q * FC_NR;
            FC_Z v = acc[q * FC_MR + i];
            if (nq == FC_NR) {
                if (accumulate)
                    v = FC_ZADD(FC_ZLOADU(ci), v);
                FC_ZSTOREU(ci, v);
            } else {
                if (accumulate)
                    v = FC_ZADD(FC_ZMLOAD(ci, m), v);
                FC_ZMSTORE(ci, m, v);
            }
        }
    }
}

/* Packed block kernel (contract in gemm_internal.h). One B panel: A panels
 * grouped by three (fc_ukm_group); several: each A panel against B panels
 * grouped by three (fc_ukn_group). */
FC_AVX512_FN
void FC_SFX(fc_ukb_avx512)(fc_int kc, const FC_T *restrict a, fc_int pstride,
                           const FC_T *restrict b, fc_int bstride, FC_T *restrict c,
                           fc_int ldc, FC_T beta, int mr, int nr)
{
    const int accumulate = beta != 0;
    const int bpanels = (nr + FC_NR - 1) / FC_NR;
    if (bpanels <= 1) {
        FC_SFX(fc_ukm_rows)(kc, a, pstride, b, c, ldc, accumulate, mr, nr);
        return;
    }
    for (int i0 = 0; i0 < mr; i0 += FC_MR) {
        const int rows = mr - i0 < FC_MR ? mr - i0 : FC_MR;
        const FC_T *ap = a + (i0 / FC_MR) * pstride;
        const FC_T *bj = b;
        FC_T *cj = c + (fc_int)i0 * ldc;
        int cols_left = nr, panels = bpanels;
        while (panels > 0) {
            const int nb = FC_SFX(fc_z_group)(panels);
            const int cols = cols_left < nb * FC_NR ? cols_left : nb * FC_NR;
#define FC_UKN(NB, LIVE) \
    FC_SFX(fc_ukn_group)(NB, LIVE, 0, kc, ap, NULL, NULL, bj, bstride, cj, ldc, accumulate, rows, \
                         cols)
            if (nb == 3) {
                if (rows <= 2) FC_UKN(3, 2); else if (rows <= 4) FC_UKN(3, 4); else FC_UKN(3, 6);
            } else if (nb == 2) {
                if (rows <= 2) FC_UKN(2, 2); else if (rows <= 4) FC_UKN(2, 4); else FC_UKN(2, 6);
            } else {
                if (rows <= 2) FC_UKN(1, 2); else if (rows <= 4) FC_UKN(1, 4); else FC_UKN(1, 6);
            }
#undef FC_UKN
            bj += nb * bstride;
            cj += cols;
            cols_left -= cols;
            panels -= nb;
        }
    }
}

/* Direct-A kernel over several B micro-panels (contract in gemm_internal.h):
 * fc_ukn_group with the rows broadcast from row pointers. */
FC_AVX512_FN
void FC_SFX(fc_akm_avx512)(fc_int kc, const FC_T *const *rows, const fc_int *restrict offs,
                           const FC_T *restrict b, fc_int bstride, FC_T *restrict c,
                           fc_int ldc, FC_T beta, int mr, int nr)
{
    const int accumulate = beta != 0;
    int panels = (nr + FC_NR - 1) / FC_NR;
    while (panels > 0) {
        const int nb = FC_SFX(fc_z_group)(panels);
        const int cols = nr < nb * FC_NR ? nr : nb * FC_NR;
        if (nb == 3)
            FC_SFX(fc_ukn_group)(3, 6, 1, kc, NULL, rows, offs, b, bstride, c, ldc, accumulate, mr,
                                 cols);
        else if (nb == 2)
            FC_SFX(fc_ukn_group)(2, 6, 1, kc, NULL, rows, offs, b, bstride, c, ldc, accumulate, mr,
                                 cols);
        else
            FC_SFX(fc_ukn_group)(1, 6, 1, kc, NULL, rows, offs, b, bstride, c, ldc, accumulate, mr,
                                 cols);
        b += nb * bstride;
        c += cols;
        nr -= cols;
        panels -= nb;
    }
}

#endif
