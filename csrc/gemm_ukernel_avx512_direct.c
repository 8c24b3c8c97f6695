/*
 * gemm_ukernel_avx512_direct.c -- the AVX-512 direct-B micro-kernels
 * (contracts at the top of gemm_internal.h), which read B straight from an
 * image: fc_dkr (up to three A panels against one tile), fc_dkw / fc_dkw8 (one
 * A panel against three / four tiles). The packed kernels are in
 * gemm_ukernel_avx512.c.
 *
 * Same tile, same packed A panels, same per-element chains (hence the AVX2
 * kernels' bits) as gemm_ukernel_avx512.c describes.
 *
 * Compiled without -mavx512f: only these functions carry the target
 * attribute, and they run only when fc_simd_path() is FC_SIMD_AVX512.
 */
#ifndef FC_T
#include "gemm_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#define FC_TMPL_SELF "gemm_ukernel_avx512_direct.c"
#include "tmpl_instances.h"

#else
typedef int fc_gemm_ukernel_avx512_direct_unused;
#endif

#else /* ------------------------- template body ------------------------- */

#include "gemm_avx512_vec.h"

/* Whether a tile's two chunks lie side by side in the image and in C (up to 16
 * pixels of one row, the first chunk full): then one full-width load and one store
 * (masked when n1 < CW) replace two halves, their join and their extracts. */
static inline int FC_SFX(fc_z_side_by_side)(const FC_T *x0, const FC_T *x1, const FC_T *c0,
                                            const FC_T *c1, int n0, int n1)
{
    enum { CW = FC_NR / 2 };
    return n0 == CW && n1 >= 1 && x1 == x0 + CW && c1 == c0 + CW;
}

/* One finished row of a whole tile written as one vector (its first nlive lanes:
 * a short second chunk ends the row): + C (accumulate), + *bias, max(., 0) (relu),
 * in the order of the half-width write-back. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_z_put_row)(FC_Z v, FC_T *d, int nlive, int accumulate, const FC_T *bias, int relu)
{
    const FC_MASKT m = (FC_MASKT)((1u << nlive) - 1u);
    const int full = nlive == FC_NR;
    if (accumulate)
        v = FC_ZADD(full ? FC_ZLOADU(d) : FC_ZMLOAD(d, m), v);
    if (bias)
        v = FC_ZADD(v, FC_ZSET1(*bias));
    if (relu)
        v = FC_ZMAX(v, FC_ZZERO());
    if (full)
        FC_ZSTOREU(d, v);
    else
        FC_ZMSTORE(d, m, v);
}

/* NP panels of the direct-B kernel: each B vector joins the CW columns of x0
 * (low half) and of x1 (high half); CONTIG: x1 = x0 + CW and c1 = c0 + CW with
 * the first chunk full, so one load and one (masked if n1 < CW) store do. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_dkm_group)(const int NP, const int LAST, const int CONTIG, fc_int kc,
                     const FC_T *restrict a, const FC_T *x0, const FC_T *x1,
                     const fc_int *restrict offs, FC_T *c0, FC_T *c1, fc_int ldc, int accumulate,
                     int mr, int n0, int n1, const FC_T *bias, int relu)
{
    FC_Z acc[3 * FC_MR];
#pragma GCC unroll 18
    for (int i = 0; i < NP * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *a0 = a, *a1 = a + FC_MR * kc, *a2 = a + 2 * FC_MR * kc;
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        const FC_Z bv = CONTIG ? FC_ZLOADU(x0 + o) : FC_ZJOIN(FC_HLOADU(x0 + o), FC_HLOADU(x1 + o));
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
    enum { CW = FC_NR / 2 };
    const int full = n0 == CW && n1 == CW;
    const __mmask8 m0 = (__mmask8)((1u << n0) - 1u), m1 = (__mmask8)((1u << n1) - 1u);
#pragma GCC unroll 18
    for (int i = 0; i < NP * FC_MR; ++i) {
        if (i >= mr)
            break;
        FC_Z v = acc[i];
        FC_T *d0 = c0 + (fc_int)i * ldc, *d1 = c1 + (fc_int)i * ldc;
        if (CONTIG) {
            FC_SFX(fc_z_put_row)(v, d0, CW + n1, accumulate, bias ? bias + i : NULL, relu);
        } else if (full) {
            FC_H lo = FC_ZLO(v), hi = FC_ZHI(v);
            if (accumulate) {
                lo = FC_HADD(FC_HLOADU(d0), lo);
                hi = FC_HADD(FC_HLOADU(d1), hi);
            }
            v = FC_ZJOIN(lo, hi);
            if (bias)
                v = FC_ZADD(v, FC_ZSET1(bias[i]));
            if (relu)
                v = FC_ZMAX(v, FC_ZZERO());
            FC_HSTOREU(d0, FC_ZLO(v));
            FC_HSTOREU(d1, FC_ZHI(v));
        } else {
            FC_H lo = FC_ZLO(v), hi = FC_ZHI(v);
            if (accumulate) {
                lo = FC_HADD(FC_HMLOAD(d0, m0), lo);
                hi = FC_HADD(FC_HMLOAD(d1, m1), hi);
            }
            v = FC_ZJOIN(lo, hi);
            if (bias)
                v = FC_ZADD(v, FC_ZSET1(bias[i]));
            if (relu)
                v = FC_ZMAX(v, FC_ZZERO());
            FC_HMSTORE(d0, m0, FC_ZLO(v));
            FC_HMSTORE(d1, m1, FC_ZHI(v));
        }
    }
}

/* Direct-B kernel (contract in gemm_internal.h), all mr rows in groups of up
 * to three panels; a partial last panel costs a group slot, not a narrow
 * kernel of its own. */
FC_AVX512_FN
void FC_SFX(fc_dkr_avx512)(fc_int kc, const FC_T *restrict a, const FC_T *x0, const FC_T *x1,
                           const fc_int *restrict offs, FC_T *c0, FC_T *c1, fc_int ldc,
                           FC_T beta, int mr, int n0, int n1, const FC_T *bias, int relu)
{
    const int accumulate = beta != 0;
    const int contig = FC_SFX(fc_z_side_by_side)(x0, x1, c0, c1, n0, n1);
    int panels = (mr + FC_MR - 1) / FC_MR;
    while (panels > 0) {
        const int np = FC_SFX(fc_z_group)(panels);
        const int rows = mr < np * FC_MR ? mr : np * FC_MR;
#define FC_DKM(NP, LAST)                                                                        \
    do {                                                                                       \
        if (contig)                                                                            \
            FC_SFX(fc_dkm_group)(NP, LAST, 1, kc, a, x0, x1, offs, c0, c1, ldc, accumulate, rows, \
                                 n0, n1, bias, relu);                                          \
        else                                                                                   \
            FC_SFX(fc_dkm_group)(NP, LAST, 0, kc, a, x0, x1, offs, c0, c1, ldc, accumulate, rows, \
                                 n0, n1, bias, relu);                                          \
    } while (0)
        FC_Z_DISPATCH(FC_DKM);
#undef FC_DKM
        a += np * FC_MR * kc;
        c0 += (fc_int)rows * ldc;
        c1 += (fc_int)rows * ldc;
        if (bias)
            bias += rows;
        mr -= rows;
        panels -= np;
    }
}

/* One A panel (LIVE rows computed) against the six chunks of three tiles:
 * B vector q joins chunks 2q (low half) and 2q + 1 (high half); CONTIG: every
 * tile's chunks side by side in x and in C, the first full (one load, one store). */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_dkw_group)(const int NT, const int LIVE, const int CONTIG, fc_int kc, const FC_T *restrict a,
                     const FC_T *const *xs,
                     const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, int accumulate,
                     int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_Z acc[4 * FC_MR];
#pragma GCC unroll 24
    for (int i = 0; i < NT * FC_MR; ++i)
        acc[i] = FC_ZZERO();
    const FC_T *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3], *x4 = xs[4], *x5 = xs[5];
    const FC_T *x6 = NT > 3 ? xs[6] : x0, *x7 = NT > 3 ? xs[7] : x0;
#pragma GCC unroll 2
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        FC_Z av[FC_MR];
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            av[i] = FC_ZSET1(a[p * FC_MR + i]);
        FC_Z bv = CONTIG ? FC_ZLOADU(x0 + o) : FC_ZJOIN(FC_HLOADU(x0 + o), FC_HLOADU(x1 + o));
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[i] = FC_ZFMA(av[i], bv, acc[i]);
        bv = CONTIG ? FC_ZLOADU(x2 + o) : FC_ZJOIN(FC_HLOADU(x2 + o), FC_HLOADU(x3 + o));
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[FC_MR + i] = FC_ZFMA(av[i], bv, acc[FC_MR + i]);
        bv = CONTIG ? FC_ZLOADU(x4 + o) : FC_ZJOIN(FC_HLOADU(x4 + o), FC_HLOADU(x5 + o));
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i)
            acc[2 * FC_MR + i] = FC_ZFMA(av[i], bv, acc[2 * FC_MR + i]);
        if (NT > 3) {
            bv = CONTIG ? FC_ZLOADU(x6 + o) : FC_ZJOIN(FC_HLOADU(x6 + o), FC_HLOADU(x7 + o));
#pragma GCC unroll 6
            for (int i = 0; i < LIVE; ++i)
                acc[3 * FC_MR + i] = FC_ZFMA(av[i], bv, acc[3 * FC_MR + i]);
        }
    }
    enum { CW = FC_NR / 2 };
    /* Whole tiles, every row live, nothing to add from C: the write-back as
     * straight-line code (with a short K -- 16 input channels -- the general
     * one's per-row tests cost a third of the call). Same operations. */
    if (CONTIG && !accumulate && mr >= LIVE && ns[1] == CW && ns[3] == CW && ns[5] == CW &&
        (NT < 4 || ns[7] == CW)) {
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i) {
            const FC_Z bi = bias ? FC_ZSET1(bias[i]) : FC_ZZERO();
#pragma GCC unroll 4
            for (int q = 0; q < NT; ++q) {
                FC_Z v = acc[q * FC_MR + i];
                if (bias)
                    v = FC_ZADD(v, bi);
                if (relu)
                    v = FC_ZMAX(v, FC_ZZERO());
                FC_ZSTOREU(cs[2 * q] + (fc_int)i * ldc, v);
            }
        }
        return;
    }
#pragma GCC unroll 4
    for (int q = 0; q < NT; ++q) {
        const int na = ns[2 * q], nb = ns[2 * q + 1];
        if (na == 0 && nb == 0)
            continue;
        const int full = na == CW && nb == CW;
        const __mmask8 ma = (__mmask8)((1u << na) - 1u), mb = (__mmask8)((1u << nb) - 1u);
        FC_T *ca = cs[2 * q], *cb = cs[2 * q + 1];
#pragma GCC unroll 6
        for (int i = 0; i < LIVE; ++i) {
            if (i >= mr)
                break;
            FC_Z v = acc[q * FC_MR + i];
            FC_T *d0 = ca + (fc_int)i * ldc, *d1 = cb + (fc_int)i * ldc;
            if (CONTIG) {
                FC_SFX(fc_z_put_row)(v, d0, CW + nb, accumulate, bias ? bias + i : NULL,
                                     relu);
                continue;
            }
            FC_H lo = FC_ZLO(v), hi = FC_ZHI(v);
            if (accumulate) {
                lo = FC_HADD(full ? FC_HLOADU(d0) : FC_HMLOAD(d0, ma), lo);
                hi = FC_HADD(full ? FC_HLOADU(d1) : FC_HMLOAD(d1, mb), hi);
            }
            v = FC_ZJOIN(lo, hi);
            if (bias)
                v = FC_ZADD(v, FC_ZSET1(bias[i]));
            if (relu)
                v = FC_ZMAX(v, FC_ZZERO());
            if (full) {
                FC_HSTOREU(d0, FC_ZLO(v));
                FC_HSTOREU(d1, FC_ZHI(v));
            } else {
                FC_HMSTORE(d0, ma, FC_ZLO(v));
                FC_HMSTORE(d1, mb, FC_ZHI(v));
            }
        }
    }
}

/* fc_dkw's body for NT = 3 or 4 tiles (2 * NT chunks). */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_dkw_tiles)(const int NT, fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                     const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                     int mr, const int *ns, const FC_T *bias, int relu)
{
    const int accumulate = beta != 0;
    int contig = 1; /* every tile's chunks side by side: the whole-tile variant */
    for (int q = 0; q < NT; ++q)
        contig &= FC_SFX(fc_z_side_by_side)(xs[2 * q], xs[2 * q + 1], cs[2 * q], cs[2 * q + 1],
                                            ns[2 * q], ns[2 * q + 1]);
    for (int i0 = 0; i0 < mr; i0 += FC_MR) {
        const int rows = mr - i0 < FC_MR ? mr - i0 : FC_MR;
        const FC_T *ap = a + (fc_int)i0 * kc;
        FC_T *ci[8];
        for (int q = 0; q < 2 * NT; ++q)
            ci[q] = cs[q] + (fc_int)i0 * ldc;
        const FC_T *bi = bias ? bias + i0 : NULL;
#define FC_DKW(LIVE)                                                                          \
    do {                                                                                     \
        if (contig)                                                                          \
            FC_SFX(fc_dkw_group)(NT, LIVE, 1, kc, ap, xs, offs, ci, ldc, accumulate, rows, ns,  \
                                 bi, relu);                                                  \
        else                                                                                 \
            FC_SFX(fc_dkw_group)(NT, LIVE, 0, kc, ap, xs, offs, ci, ldc, accumulate, rows, ns,  \
                                 bi, relu);                                                  \
    } while (0)
        if (rows <= 2)
            FC_DKW(2);
        else if (rows <= 4)
            FC_DKW(4);
        else
            FC_DKW(6);
#undef FC_DKW
    }
}

/* Wide direct-B kernel (contract in gemm_internal.h): every A panel of mr
 * rows against six chunks (three tiles). Per k step 6 broadcasts and 6 half
 * loads feed 18 FMAs, where fc_dkr's 18-row groups load 20 times. */
FC_AVX512_FN
void FC_SFX(fc_dkw_avx512)(fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                           const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                           int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_SFX(fc_dkw_tiles)(3, kc, a, xs, offs, cs, ldc, beta, mr, ns, bias, relu);
}

/* Its four-tile form (eight chunks): 24 accumulators, 6 broadcasts and 4 loads per 24 FMAs. */
FC_AVX512_FN
void FC_SFX(fc_dkw8_avx512)(fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                            const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                            int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_SFX(fc_dkw_tiles)(4, kc, a, xs, offs, cs, ldc, beta, mr, ns, bias, relu);
}

#endif
