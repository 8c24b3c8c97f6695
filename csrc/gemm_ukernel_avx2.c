/*
 * gemm_ukernel_avx2.c -- AVX2/FMA micro-kernels (contract at the top of
 * gemm_internal.h): 6 x 16 float and 6 x 8 double, i.e. 6 rows x 2 vectors
 * of accumulators (12 ymm) + 2 B vectors + 1 broadcast A.
 *
 * Compiled WITHOUT -mavx2: only these functions are built for AVX2/FMA via
 * the target attribute, and they are only called when fc_simd_path() says
 * the CPU has AVX2 and FMA. On other architectures this file is empty.
 */
#ifndef FC_T
#include "gemm_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#define FC_AVX2_FN __attribute__((target("avx2,fma")))

#define FC_TMPL_SELF "gemm_ukernel_avx2.c"
#include "tmpl_instances.h"

#else
/* Not x86-64: nothing to build (keep the translation unit non-empty). */
typedef int fc_gemm_ukernel_avx2_unused;
#endif

#else /* ------------------------- template body ------------------------- */

#undef FC_V
#undef FC_VL
#undef FC_VZERO
#undef FC_VLOAD
#undef FC_VLOADU
#undef FC_VSTOREU
#undef FC_VBCAST
#undef FC_VFMA
#undef FC_VADD
#undef FC_VMAX
#undef FC_VMASK
#undef FC_VMLOAD
#undef FC_VMSTORE
#if FC_IS_F64
#define FC_V __m256d
#define FC_VL 4
/* lanes j < n of a masked load / store */
#define FC_VMASK(n) _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3))
#define FC_VMLOAD(p, m) _mm256_maskload_pd(p, m)
#define FC_VMSTORE(p, m, v) _mm256_maskstore_pd(p, m, v)
#define FC_VZERO() _mm256_setzero_pd()
#define FC_VLOAD(p) _mm256_load_pd(p)
#define FC_VLOADU(p) _mm256_loadu_pd(p)
#define FC_VSTOREU(p, v) _mm256_storeu_pd(p, v)
#define FC_VBCAST(p) _mm256_broadcast_sd(p)
#define FC_VFMA(a, b, c) _mm256_fmadd_pd(a, b, c)
#define FC_VADD(a, b) _mm256_add_pd(a, b)
/* max(v, 0) is v > 0 ? v : 0 (second operand on NaN and on +-0), as fc_activation_forward */
#define FC_VMAX(a, b) _mm256_max_pd(a, b)
#else
#define FC_V __m256
#define FC_VL 8
#define FC_VMASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define FC_VMLOAD(p, m) _mm256_maskload_ps(p, m)
#define FC_VMSTORE(p, m, v) _mm256_maskstore_ps(p, m, v)
#define FC_VZERO() _mm256_setzero_ps()
#define FC_VLOAD(p) _mm256_load_ps(p)
#define FC_VLOADU(p) _mm256_loadu_ps(p)
#define FC_VSTOREU(p, v) _mm256_storeu_ps(p, v)
#define FC_VBCAST(p) _mm256_broadcast_ss(p)
#define FC_VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define FC_VADD(a, b) _mm256_add_ps(a, b)
#define FC_VMAX(a, b) _mm256_max_ps(a, b)
#endif

#if FC_MR != 6 || FC_NR != 2 * FC_VL
#error "AVX2 micro-kernel is written for a 6 x (2 vectors) tile"
#endif

#define FC_ROW_STORE(i, r0, r1)                                                  \
    do {                                                                         \
        FC_T *ci = cc + (i) * ldcc;                                             \
        if (beta != 0) {                                                         \
            r0 = FC_VADD(FC_VLOADU(ci), r0);                                     \
            r1 = FC_VADD(FC_VLOADU(ci + FC_VL), r1);                             \
        }                                                                        \
        FC_VSTOREU(ci, r0);                                                      \
        FC_VSTOREU(ci + FC_VL, r1);                                              \
    } while (0)

FC_AVX2_FN
void FC_SFX(fc_ukr_avx2)(fc_int kc, const FC_T *restrict a, const FC_T *restrict b,
                         FC_T *restrict c, fc_int ldc, FC_T beta, int mr, int nr)
{
    FC_V c00 = FC_VZERO(), c01 = FC_VZERO();
    FC_V c10 = FC_VZERO(), c11 = FC_VZERO();
    FC_V c20 = FC_VZERO(), c21 = FC_VZERO();
    FC_V c30 = FC_VZERO(), c31 = FC_VZERO();
    FC_V c40 = FC_VZERO(), c41 = FC_VZERO();
    FC_V c50 = FC_VZERO(), c51 = FC_VZERO();

    const int full = (mr == FC_MR && nr == FC_NR);
    if (full) {
        for (int i = 0; i < FC_MR; ++i)
            _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
    }

#pragma GCC unroll 4
    for (fc_int p = 0; p < kc; ++p) {
        const FC_V b0 = FC_VLOAD(b);
        const FC_V b1 = FC_VLOAD(b + FC_VL);
        FC_V av;
        av = FC_VBCAST(a + 0);
        c00 = FC_VFMA(av, b0, c00);
        c01 = FC_VFMA(av, b1, c01);
        av = FC_VBCAST(a + 1);
        c10 = FC_VFMA(av, b0, c10);
        c11 = FC_VFMA(av, b1, c11);
        av = FC_VBCAST(a + 2);
        c20 = FC_VFMA(av, b0, c20);
        c21 = FC_VFMA(av, b1, c21);
        av = FC_VBCAST(a + 3);
        c30 = FC_VFMA(av, b0, c30);
        c31 = FC_VFMA(av, b1, c31);
        av = FC_VBCAST(a + 4);
        c40 = FC_VFMA(av, b0, c40);
        c41 = FC_VFMA(av, b1, c41);
        av = FC_VBCAST(a + 5);
        c50 = FC_VFMA(av, b0, c50);
        c51 = FC_VFMA(av, b1, c51);
        a += FC_MR;
        b += FC_NR;
    }

    FC_T tile[FC_MR * FC_NR] __attribute__((aligned(64)));
    FC_T *cc;
    fc_int ldcc;
    FC_T beta_t;
    if (full) {
        cc = c;
        ldcc = ldc;
        beta_t = beta;
    } else {
        cc = tile;
        ldcc = FC_NR;
        beta_t = 0;
    }
    {
        const FC_T beta = beta_t; /* shadows: the tile is never read */
        FC_ROW_STORE(0, c00, c01);
        FC_ROW_STORE(1, c10, c11);
        FC_ROW_STORE(2, c20, c21);
        FC_ROW_STORE(3, c30, c31);
        FC_ROW_STORE(4, c40, c41);
        FC_ROW_STORE(5, c50, c51);
    }
    if (!full) {
        if (beta == 0) {
            for (int i = 0; i < mr; ++i)
                for (int j = 0; j < nr; ++j)
                    c[i * ldc + j] = tile[i * FC_NR + j];
        } else {
            for (int i = 0; i < mr; ++i)
                for (int j = 0; j < nr; ++j)
                    c[i * ldc + j] += tile[i * FC_NR + j];
        }
    }
}

#undef FC_ROW_STORE

/* Direct-A kernel (contract in gemm_internal.h): A element (i, p) is
 * broadcast from rows[i] + offs[p]; B packed as for fc_ukr. */
FC_AVX2_FN
void FC_SFX(fc_akr_avx2)(fc_int kc, const FC_T *const *rows, const fc_int *restrict offs,
                         const FC_T *restrict b, FC_T *restrict c, fc_int ldc, FC_T beta,
                         int mr, int nr)
{
    FC_V c00 = FC_VZERO(), c01 = FC_VZERO();
    FC_V c10 = FC_VZERO(), c11 = FC_VZERO();
    FC_V c20 = FC_VZERO(), c21 = FC_VZERO();
    FC_V c30 = FC_VZERO(), c31 = FC_VZERO();
    FC_V c40 = FC_VZERO(), c41 = FC_VZERO();
    FC_V c50 = FC_VZERO(), c51 = FC_VZERO();
    const FC_T *r0 = rows[0], *r1 = rows[1], *r2 = rows[2];
    const FC_T *r3 = rows[3], *r4 = rows[4], *r5 = rows[5];

#pragma GCC unroll 4
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        const FC_V b0 = FC_VLOAD(b);
        const FC_V b1 = FC_VLOAD(b + FC_VL);
        FC_V av;
        av = FC_VBCAST(r0 + o);
        c00 = FC_VFMA(av, b0, c00);
        c01 = FC_VFMA(av, b1, c01);
        av = FC_VBCAST(r1 + o);
        c10 = FC_VFMA(av, b0, c10);
        c11 = FC_VFMA(av, b1, c11);
        av = FC_VBCAST(r2 + o);
        c20 = FC_VFMA(av, b0, c20);
        c21 = FC_VFMA(av, b1, c21);
        av = FC_VBCAST(r3 + o);
        c30 = FC_VFMA(av, b0, c30);
        c31 = FC_VFMA(av, b1, c31);
        av = FC_VBCAST(r4 + o);
        c40 = FC_VFMA(av, b0, c40);
        c41 = FC_VFMA(av, b1, c41);
        av = FC_VBCAST(r5 + o);
        c50 = FC_VFMA(av, b0, c50);
        c51 = FC_VFMA(av, b1, c51);
        b += FC_NR;
    }

    const int full = (mr == FC_MR && nr == FC_NR);
    FC_T tile[FC_MR * FC_NR] __attribute__((aligned(64)));
    FC_T *cc = full ? c : tile;
    const fc_int ldcc = full ? ldc : FC_NR;
    {
        const FC_T beta_t = full ? beta : (FC_T)0;
#define FC_AROW_STORE(i, q0, q1)                                                 \
    do {                                                                         \
        FC_T *ci = cc + (i) * ldcc;                                              \
        if (beta_t != 0) {                                                       \
            q0 = FC_VADD(FC_VLOADU(ci), q0);                                     \
            q1 = FC_VADD(FC_VLOADU(ci + FC_VL), q1);                             \
        }                                                                        \
        FC_VSTOREU(ci, q0);                                                      \
        FC_VSTOREU(ci + FC_VL, q1);                                              \
    } while (0)
        FC_AROW_STORE(0, c00, c01);
        FC_AROW_STORE(1, c10, c11);
        FC_AROW_STORE(2, c20, c21);
        FC_AROW_STORE(3, c30, c31);
        FC_AROW_STORE(4, c40, c41);
        FC_AROW_STORE(5, c50, c51);
#undef FC_AROW_STORE
    }
    if (!full) {
        for (int i = 0; i < mr; ++i)
            for (int j = 0; j < nr; ++j)
                c[i * ldc + j] = beta == 0 ? tile[i * FC_NR + j] : c[i * ldc + j] + tile[i * FC_NR + j];
    }
}

/* Direct-B kernel (contract in gemm_internal.h): the two B vectors of each
 * k step are unaligned loads from x0 + offs[p] and x1 + offs[p]. */
#define FC_DROW_STORE(i, r0, r1)                                                 \
    do {                                                                         \
        if (beta != 0) {                                                         \
            r0 = FC_VADD(FC_VLOADU(c0 + (i) * ldc), r0);                         \
            r1 = FC_VADD(FC_VLOADU(c1 + (i) * ldc), r1);                         \
        }                                                                        \
        FC_DEPI(i, r0);                                                          \
        FC_DEPI(i, r1);                                                          \
        FC_VSTOREU(c0 + (i) * ldc, r0);                                          \
        FC_VSTOREU(c1 + (i) * ldc, r1);                                          \
    } while (0)
/* The write-back epilogue of the direct kernels (contract in gemm_internal.h). */
#define FC_DEPI(i, r)                                                            \
    do {                                                                         \
        if (bias)                                                                \
            r = FC_VADD(r, FC_VBCAST(bias + (i)));                               \
        if (relu)                                                                \
            r = FC_VMAX(r, FC_VZERO());                                          \
    } while (0)

static inline __attribute__((always_inline)) FC_AVX2_FN void
FC_SFX(fc_dkr_panel)(fc_int kc, const FC_T *restrict a, const FC_T *x0, const FC_T *x1,
                     const fc_int *restrict offs, FC_T *c0, FC_T *c1, fc_int ldc,
                     FC_T beta, int mr, int n0, int n1, const FC_T *bias, int relu)
{
    FC_V c00 = FC_VZERO(), c01 = FC_VZERO();
    FC_V c10 = FC_VZERO(), c11 = FC_VZERO();
    FC_V c20 = FC_VZERO(), c21 = FC_VZERO();
    FC_V c30 = FC_VZERO(), c31 = FC_VZERO();
    FC_V c40 = FC_VZERO(), c41 = FC_VZERO();
    FC_V c50 = FC_VZERO(), c51 = FC_VZERO();

#pragma GCC unroll 4
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        const FC_V b0 = FC_VLOADU(x0 + o);
        const FC_V b1 = FC_VLOADU(x1 + o);
        FC_V av;
        av = FC_VBCAST(a + 0);
        c00 = FC_VFMA(av, b0, c00);
        c01 = FC_VFMA(av, b1, c01);
        av = FC_VBCAST(a + 1);
        c10 = FC_VFMA(av, b0, c10);
        c11 = FC_VFMA(av, b1, c11);
        av = FC_VBCAST(a + 2);
        c20 = FC_VFMA(av, b0, c20);
        c21 = FC_VFMA(av, b1, c21);
        av = FC_VBCAST(a + 3);
        c30 = FC_VFMA(av, b0, c30);
        c31 = FC_VFMA(av, b1, c31);
        av = FC_VBCAST(a + 4);
        c40 = FC_VFMA(av, b0, c40);
        c41 = FC_VFMA(av, b1, c41);
        av = FC_VBCAST(a + 5);
        c50 = FC_VFMA(av, b0, c50);
        c51 = FC_VFMA(av, b1, c51);
        a += FC_MR;
    }

    if (mr == FC_MR && n0 == FC_VL && n1 == FC_VL) {
        FC_DROW_STORE(0, c00, c01);
        FC_DROW_STORE(1, c10, c11);
        FC_DROW_STORE(2, c20, c21);
        FC_DROW_STORE(3, c30, c31);
        FC_DROW_STORE(4, c40, c41);
        FC_DROW_STORE(5, c50, c51);
        return;
    }
    /* Short chunks (the last of a row whose width is not a multiple of VL) and
     * missing rows: masked stores, lane for lane the values above. A bounce
     * through a stack tile and scalar copies cost half the kernel's time on
     * 'valid' 30-pixel rows, where every second tile has a short chunk. */
    const FC_V rows0[FC_MR] = {c00, c10, c20, c30, c40, c50};
    const FC_V rows1[FC_MR] = {c01, c11, c21, c31, c41, c51};
    const __m256i m0 = FC_VMASK(n0), m1 = FC_VMASK(n1);
    for (int i = 0; i < mr; ++i) {
        FC_V r0 = rows0[i], r1 = rows1[i];
        FC_T *d0 = c0 + i * ldc, *d1 = c1 + i * ldc;
        if (beta != 0) {
            r0 = FC_VADD(FC_VMLOAD(d0, m0), r0);
            r1 = FC_VADD(FC_VMLOAD(d1, m1), r1);
        }
        FC_DEPI(i, r0);
        FC_DEPI(i, r1);
        FC_VMSTORE(d0, m0, r0);
        FC_VMSTORE(d1, m1, r1);
    }
}

/* All the MR panels of mr rows in one call: with a reduction as short as
 * 3x3x3 taps, a call per panel spent a sixth of the time in call overhead. */
FC_AVX2_FN
void FC_SFX(fc_dkr_avx2)(fc_int kc, const FC_T *restrict a, const FC_T *x0, const FC_T *x1,
                         const fc_int *restrict offs, FC_T *c0, FC_T *c1, fc_int ldc,
                         FC_T beta, int mr, int n0, int n1, const FC_T *bias, int relu)
{
    for (int i = 0; i < mr; i += FC_MR)
        FC_SFX(fc_dkr_panel)(kc, a + i * kc, x0, x1, offs, c0 + i * ldc, c1 + i * ldc, ldc, beta,
                             mr - i < FC_MR ? mr - i : FC_MR, n0, n1, bias ? bias + i : NULL,
                             relu);
}

#undef FC_DROW_STORE

/* Write-back of the narrow direct-B kernels: acc[i*Q + q] is row i of
 * chunk q. Full chunks straight from the register, partial ones through a
 * local vector. */
static inline __attribute__((always_inline)) FC_AVX2_FN void
FC_SFX(fc_dkn_store)(const int Q, const FC_V *acc, FC_T *const *cs, fc_int ldc, int beta,
                     int mr, const int *ns, const FC_T *bias, int relu)
{
    for (int i = 0; i < mr; ++i)
        for (int q = 0; q < Q; ++q) {
            FC_T *d = cs[q] + i * ldc;
            FC_V v = acc[i * Q + q];
            if (ns[q] == FC_VL) {
                if (beta != 0)
                    v = FC_VADD(FC_VLOADU(d), v);
                FC_DEPI(i, v);
                FC_VSTOREU(d, v);
            } else if (ns[q] > 0) {
                const __m256i m = FC_VMASK(ns[q]);
                if (beta != 0)
                    v = FC_VADD(FC_VMLOAD(d, m), v);
                FC_DEPI(i, v);
                FC_VMSTORE(d, m, v);
            }
        }
}

/* 2 rows x 6 chunks. The B vector of a chunk is consumed as soon as it is
 * loaded, so 12 accumulators + 2 broadcasts + 1 B fit the 16 registers.
 * beta is turned into an int before the loop: a float kept live across it
 * would take a 17th vector register and spill an accumulator. */
FC_AVX2_FN
void FC_SFX(fc_dkn2_avx2)(fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                          const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                          int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_V c00 = FC_VZERO(), c01 = FC_VZERO(), c02 = FC_VZERO();
    FC_V c03 = FC_VZERO(), c04 = FC_VZERO(), c05 = FC_VZERO();
    FC_V c10 = FC_VZERO(), c11 = FC_VZERO(), c12 = FC_VZERO();
    FC_V c13 = FC_VZERO(), c14 = FC_VZERO(), c15 = FC_VZERO();
    const FC_T *x0 = xs[0], *x1 = xs[1], *x2 = xs[2];
    const FC_T *x3 = xs[3], *x4 = xs[4], *x5 = xs[5];
    const int accumulate = beta != 0;
#pragma GCC unroll 4
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        const FC_V a0 = FC_VBCAST(a), a1 = FC_VBCAST(a + 1);
        FC_V b;
        b = FC_VLOADU(x0 + o);
        c00 = FC_VFMA(a0, b, c00);
        c10 = FC_VFMA(a1, b, c10);
        b = FC_VLOADU(x1 + o);
        c01 = FC_VFMA(a0, b, c01);
        c11 = FC_VFMA(a1, b, c11);
        b = FC_VLOADU(x2 + o);
        c02 = FC_VFMA(a0, b, c02);
        c12 = FC_VFMA(a1, b, c12);
        b = FC_VLOADU(x3 + o);
        c03 = FC_VFMA(a0, b, c03);
        c13 = FC_VFMA(a1, b, c13);
        b = FC_VLOADU(x4 + o);
        c04 = FC_VFMA(a0, b, c04);
        c14 = FC_VFMA(a1, b, c14);
        b = FC_VLOADU(x5 + o);
        c05 = FC_VFMA(a0, b, c05);
        c15 = FC_VFMA(a1, b, c15);
        a += FC_MR;
    }
    const FC_V acc[12] = {c00, c01, c02, c03, c04, c05, c10, c11, c12, c13, c14, c15};
    FC_SFX(fc_dkn_store)(6, acc, cs, ldc, accumulate, mr, ns, bias, relu);
}

/* 4 rows x 2 chunks: 8 accumulators. (4 x 3 would need all 16 registers
 * and GCC then spills accumulators in the loop.) */
FC_AVX2_FN
void FC_SFX(fc_dkn4_avx2)(fc_int kc, const FC_T *restrict a, const FC_T *const *xs,
                          const fc_int *restrict offs, FC_T *const *cs, fc_int ldc, FC_T beta,
                          int mr, const int *ns, const FC_T *bias, int relu)
{
    FC_V c00 = FC_VZERO(), c01 = FC_VZERO();
    FC_V c10 = FC_VZERO(), c11 = FC_VZERO();
    FC_V c20 = FC_VZERO(), c21 = FC_VZERO();
    FC_V c30 = FC_VZERO(), c31 = FC_VZERO();
    const FC_T *x0 = xs[0], *x1 = xs[1];
    const int accumulate = beta != 0;
#pragma GCC unroll 4
    for (fc_int p = 0; p < kc; ++p) {
        const fc_int o = offs[p];
        const FC_V b0 = FC_VLOADU(x0 + o), b1 = FC_VLOADU(x1 + o);
        FC_V av;
        av = FC_VBCAST(a + 0);
        c00 = FC_VFMA(av, b0, c00);
        c01 = FC_VFMA(av, b1, c01);
        av = FC_VBCAST(a + 1);
        c10 = FC_VFMA(av, b0, c10);
        c11 = FC_VFMA(av, b1, c11);
        av = FC_VBCAST(a + 2);
        c20 = FC_VFMA(av, b0, c20);
        c21 = FC_VFMA(av, b1, c21);
        av = FC_VBCAST(a + 3);
        c30 = FC_VFMA(av, b0, c30);
        c31 = FC_VFMA(av, b1, c31);
        a += FC_MR;
    }
    const FC_V acc[8] = {c00, c01, c10, c11, c20, c21, c30, c31};
    FC_SFX(fc_dkn_store)(2, acc, cs, ldc, accumulate, mr, ns, bias, relu);
}
#undef FC_DEPI
#endif
