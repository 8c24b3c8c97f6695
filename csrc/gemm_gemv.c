/*
 * gemm_gemv.c -- y = x W^T + b with W^T packed once (fc_linear_pack_*):
 * the fully connected layer at inference, where the packed GEMM would pack
 * all of W^T (the whole weight matrix) on every call to use one row of its
 * 6-row tiles.
 *
 * Packed layout: W^T (in x units) cut into K blocks of kcb = fc_block_size(in,
 * KC, 1) rows (the GEMM's own K blocking), each block a packed B block of
 * ceil(units/NR) zero-padded micro-panels (fc_pack_b_t), the block at
 * column pc at wp + pc * roundup(units, NR).
 *
 * ===================== THE ROW-PANEL KERNEL CONTRACT =====================
 *
 *   fc_lin_<path>_<sfx>(kc, nrows, x, ldx, bp, y, ldy, beta, nr)
 *
 * for r < nrows (1 <= nrows <= 4) and j < nr (<= NR):
 *
 *   y[r*ldy + j] = sum_{p < kc} x[r*ldx + p] * bp[p*NR + j]  + beta * y[..]
 *
 * accumulator from zero, p in increasing order, then y = acc (beta 0, y not
 * read) or y += acc (beta 1): exactly the arithmetic of the GEMM
 * micro-kernel of the same path (fused multiply-adds on AVX2, separate
 * multiply and add in the portable twin) on an element of C. Hence
 * fc_linear_packed gives bitwise what fc_gemm gives for y = x W^T (+ bias
 * preset in y, beta 1), whatever the rows, threads or batch size.
 *
 * One row (batch 1): fc_lin1_<path>_<sfx>(kc, x, bp, pstride, np, y, beta, nr)
 * computes the same elements for np <= 4 panels at once, panel t at
 * bp + t*pstride and in columns t*NR .. of y, nr columns in all. Each
 * element is still one chain of kc multiply-adds, and a chain waits on its
 * previous step: one panel at a time keeps two such chains in flight where
 * the FMA units take eight, which held tfcnn's 1024 -> 64 layer at batch 1
 * to a quarter of their speed.
 */
#ifndef FC_T
#include "gemm_internal.h"
#include "team.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>
#define FC_AVX2_FN __attribute__((target("avx2,fma")))
#endif

#define FC_TMPL_SELF "gemm_gemv.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* Portable twin: the ref micro-kernel's expression, acc += a * b. */
static void FC_SFX(fc_lin_ref)(fc_int kc, int nrows, const FC_T *x, fc_int ldx,
                               const FC_T *bp, FC_T *y, fc_int ldy, FC_T beta, int nr)
{
    for (int r = 0; r < nrows; ++r) {
        FC_T acc[FC_NR];
        for (int j = 0; j < FC_NR; ++j)
            acc[j] = 0;
        const FC_T *xr = x + r * ldx;
        for (fc_int p = 0; p < kc; ++p) {
            const FC_T ai = xr[p];
            const FC_T *b = bp + p * FC_NR;
            for (int j = 0; j < FC_NR; ++j)
                acc[j] += ai * b[j];
        }
        FC_T *yr = y + r * ldy;
        if (beta == 0)
            for (int j = 0; j < nr; ++j)
                yr[j] = acc[j];
        else
            for (int j = 0; j < nr; ++j)
                yr[j] += acc[j];
    }
}

static void FC_SFX(fc_lin1_ref)(fc_int kc, const FC_T *x, const FC_T *bp, fc_int pstride,
                                int np, FC_T *y, FC_T beta, int nr)
{
    for (int t = 0; t < np; ++t)
        FC_SFX(fc_lin_ref)(kc, 1, x, kc, bp + t * pstride, y + t * FC_NR, FC_NR, beta,
                           FC_MIN(FC_NR, nr - t * FC_NR));
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
#if FC_IS_F64
#define FC_LV __m256d
#define FC_LVL 4
#define FC_LZERO _mm256_setzero_pd
#define FC_LLOAD _mm256_load_pd
#define FC_LBCAST _mm256_broadcast_sd
#define FC_LFMA _mm256_fmadd_pd
#define FC_LSTORE _mm256_store_pd
#else
#define FC_LV __m256
#define FC_LVL 8
#define FC_LZERO _mm256_setzero_ps
#define FC_LLOAD _mm256_load_ps
#define FC_LBCAST _mm256_broadcast_ss
#define FC_LFMA _mm256_fmadd_ps
#define FC_LSTORE _mm256_store_ps
#endif
/* Up to 4 rows x NR columns = 8 accumulators; per p 2 B loads (the panel
 * is 64-byte aligned), one broadcast per row, 2 FMAs per row. */
FC_AVX2_FN static void FC_SFX(fc_lin_avx2)(fc_int kc, int nrows, const FC_T *x, fc_int ldx,
                                           const FC_T *bp, FC_T *y, fc_int ldy, FC_T beta,
                                           int nr)
{
    const FC_T *x0 = x, *x1 = nrows > 1 ? x + ldx : x, *x2 = nrows > 2 ? x + 2 * ldx : x;
    const FC_T *x3 = nrows > 3 ? x + 3 * ldx : x;
    FC_LV c00 = FC_LZERO(), c01 = FC_LZERO(), c10 = FC_LZERO(), c11 = FC_LZERO();
    FC_LV c20 = FC_LZERO(), c21 = FC_LZERO(), c30 = FC_LZERO(), c31 = FC_LZERO();
    for (fc_int p = 0; p < kc; ++p) {
        const FC_LV b0 = FC_LLOAD(bp + p * FC_NR), b1 = FC_LLOAD(bp + p * FC_NR + FC_LVL);
        FC_LV a = FC_LBCAST(x0 + p);
        c00 = FC_LFMA(a, b0, c00);
        c01 = FC_LFMA(a, b1, c01);
        a = FC_LBCAST(x1 + p);
        c10 = FC_LFMA(a, b0, c10);
        c11 = FC_LFMA(a, b1, c11);
        a = FC_LBCAST(x2 + p);
        c20 = FC_LFMA(a, b0, c20);
        c21 = FC_LFMA(a, b1, c21);
        a = FC_LBCAST(x3 + p);
        c30 = FC_LFMA(a, b0, c30);
        c31 = FC_LFMA(a, b1, c31);
    }
    FC_T t[4][FC_NR] __attribute__((aligned(64)));
    FC_LSTORE(t[0], c00);
    FC_LSTORE(t[0] + FC_LVL, c01);
    FC_LSTORE(t[1], c10);
    FC_LSTORE(t[1] + FC_LVL, c11);
    FC_LSTORE(t[2], c20);
    FC_LSTORE(t[2] + FC_LVL, c21);
    FC_LSTORE(t[3], c30);
    FC_LSTORE(t[3] + FC_LVL, c31);
    for (int r = 0; r < nrows; ++r) {
        FC_T *yr = y + r * ldy;
        if (beta == 0)
            for (int j = 0; j < nr; ++j)
                yr[j] = t[r][j];
        else
            for (int j = 0; j < nr; ++j)
                yr[j] += t[r][j];
    }
}
/* One row, NP panels: 2*NP accumulators, two B loads and two FMAs per panel
 * and step against one broadcast. */
static inline __attribute__((always_inline)) FC_AVX2_FN void
FC_SFX(fc_lin1_group)(const int NP, fc_int kc, const FC_T *x, const FC_T *bp, fc_int pstride,
                      FC_T *y, FC_T beta, int nr)
{
    FC_LV c[8];
#pragma GCC unroll 8
    for (int i = 0; i < 2 * NP; ++i)
        c[i] = FC_LZERO();
    for (fc_int p = 0; p < kc; ++p) {
        const FC_LV a = FC_LBCAST(x + p);
#pragma GCC unroll 4
        for (int t = 0; t < NP; ++t) {
            const FC_T *b = bp + t * pstride + p * FC_NR;
            c[2 * t] = FC_LFMA(a, FC_LLOAD(b), c[2 * t]);
            c[2 * t + 1] = FC_LFMA(a, FC_LLOAD(b + FC_LVL), c[2 * t + 1]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NP; ++t) {
        FC_T tile[FC_NR] __attribute__((aligned(64)));
        FC_LSTORE(tile, c[2 * t]);
        FC_LSTORE(tile + FC_LVL, c[2 * t + 1]);
        FC_T *yt = y + t * FC_NR;
        const int n = FC_MIN(FC_NR, nr - t * FC_NR);
        if (beta == 0)
            for (int j = 0; j < n; ++j)
                yt[j] = tile[j];
        else
            for (int j = 0; j < n; ++j)
                yt[j] += tile[j];
    }
}

FC_AVX2_FN static void FC_SFX(fc_lin1_avx2)(fc_int kc, const FC_T *x, const FC_T *bp,
                                            fc_int pstride, int np, FC_T *y, FC_T beta, int nr)
{
    if (np >= 4)
        FC_SFX(fc_lin1_group)(4, kc, x, bp, pstride, y, beta, nr);
    else if (np == 3)
        FC_SFX(fc_lin1_group)(3, kc, x, bp, pstride, y, beta, nr);
    else if (np == 2)
        FC_SFX(fc_lin1_group)(2, kc, x, bp, pstride, y, beta, nr);
    else
        FC_SFX(fc_lin1_group)(1, kc, x, bp, pstride, y, beta, nr);
}
#undef FC_LV
#undef FC_LVL
#undef FC_LZERO
#undef FC_LLOAD
#undef FC_LBCAST
#undef FC_LFMA
#undef FC_LSTORE
#endif

#ifdef FC_HAVE_X86_AVX2_KERNELS
#define FC_AVX512_FN __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#if FC_IS_F64
#define FC_Z __m512d
#define FC_MASKT __mmask8
#define FC_ZZERO _mm512_setzero_pd
#define FC_ZSET1 _mm512_set1_pd
#define FC_ZLOAD _mm512_load_pd
#define FC_ZFMA _mm512_fmadd_pd
#define FC_ZADD _mm512_add_pd
#define FC_ZMLOAD(p, m) _mm512_maskz_loadu_pd(m, p)
#define FC_ZMSTORE(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#else
#define FC_Z __m512
#define FC_MASKT __mmask16
#define FC_ZZERO _mm512_setzero_ps
#define FC_ZSET1 _mm512_set1_ps
#define FC_ZLOAD _mm512_load_ps
#define FC_ZFMA _mm512_fmadd_ps
#define FC_ZADD _mm512_add_ps
#define FC_ZMLOAD(p, m) _mm512_maskz_loadu_ps(m, p)
#define FC_ZMSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#endif
/* Rows x NP panels on AVX-512: 4 * NP accumulators (one register per row and
 * panel), NP panel loads and 4 broadcasts a step. The AVX2 kernel's 8
 * half-width accumulators keep one FMA unit busy at most: 512 -> 512 channels
 * on 2x2 maps at batch 1 ran at a third of the machine's peak. */
static inline __attribute__((always_inline)) FC_AVX512_FN void
FC_SFX(fc_lin_panels_group)(const int NP, fc_int kc, int nrows, const FC_T *x, fc_int ldx,
                            const FC_T *bp, fc_int pstride, FC_T *y, fc_int ldy, FC_T beta,
                            int nr)
{
    FC_Z c[16];
#pragma GCC unroll 16
    for (int i = 0; i < 4 * NP; ++i)
        c[i] = FC_ZZERO();
    const FC_T *x0 = x, *x1 = nrows > 1 ? x + ldx : x, *x2 = nrows > 2 ? x + 2 * ldx : x;
    const FC_T *x3 = nrows > 3 ? x + 3 * ldx : x;
    for (fc_int p = 0; p < kc; ++p) {
        const FC_Z a0 = FC_ZSET1(x0[p]), a1 = FC_ZSET1(x1[p]), a2 = FC_ZSET1(x2[p]);
        const FC_Z a3 = FC_ZSET1(x3[p]);
#pragma GCC unroll 4
        for (int t = 0; t < NP; ++t) {
            const FC_Z b = FC_ZLOAD(bp + t * pstride + p * FC_NR);
            c[4 * t] = FC_ZFMA(a0, b, c[4 * t]);
            c[4 * t + 1] = FC_ZFMA(a1, b, c[4 * t + 1]);
            c[4 * t + 2] = FC_ZFMA(a2, b, c[4 * t + 2]);
            c[4 * t + 3] = FC_ZFMA(a3, b, c[4 * t + 3]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < NP; ++t) {
        const int n = FC_MIN(FC_NR, nr - t * FC_NR);
        const FC_MASKT m = (FC_MASKT)((1u << n) - 1u);
#pragma GCC unroll 4
        for (int r = 0; r < 4; ++r) {
            if (r >= nrows)
                break;
            FC_T *yr = y + r * ldy + t * FC_NR;
            FC_Z v = c[4 * t + r];
            if (beta != 0)
                v = FC_ZADD(FC_ZMLOAD(yr, m), v);
            FC_ZMSTORE(yr, m, v);
        }
    }
}

FC_AVX512_FN static void FC_SFX(fc_lin_panels_avx512)(fc_int kc, int nrows, const FC_T *x,
                                                     fc_int ldx, const FC_T *bp,
                                                     fc_int pstride, int np, FC_T *y,
                                                     fc_int ldy, FC_T beta, int nr)
{
    if (np >= 4)
        FC_SFX(fc_lin_panels_group)(4, kc, nrows, x, ldx, bp, pstride, y, ldy, beta, nr);
    else if (np == 3)
        FC_SFX(fc_lin_panels_group)(3, kc, nrows, x, ldx, bp, pstride, y, ldy, beta, nr);
    else if (np == 2)
        FC_SFX(fc_lin_panels_group)(2, kc, nrows, x, ldx, bp, pstride, y, ldy, beta, nr);
    else
        FC_SFX(fc_lin_panels_group)(1, kc, nrows, x, ldx, bp, pstride, y, ldy, beta, nr);
}
#undef FC_AVX512_FN
#undef FC_Z
#undef FC_MASKT
#undef FC_ZZERO
#undef FC_ZSET1
#undef FC_ZLOAD
#undef FC_ZFMA
#undef FC_ZADD
#undef FC_ZMLOAD
#undef FC_ZMSTORE
#endif

void FC_SFX(fc_lin_panels)(fc_int kc, int nrows, const FC_T *x, fc_int ldx, const FC_T *bp,
                           fc_int pstride, int np, FC_T *y, fc_int ldy, FC_T beta, int nr)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() == FC_SIMD_AVX512) {
        FC_SFX(fc_lin_panels_avx512)(kc, nrows, x, ldx, bp, pstride, np, y, ldy, beta, nr);
        return;
    }
#endif
    const FC_SFX(fc_lin_fn) kr = FC_SFX(fc_lin_select)();
    for (int t = 0; t < np && t * FC_NR < nr; ++t)
        kr(kc, nrows, x, ldx, bp + t * pstride, y + t * FC_NR, ldy, beta,
           FC_MIN(FC_NR, nr - t * FC_NR));
}

size_t FC_SFX(fc_linear_packed_bytes)(fc_int units, fc_int in)
{
    return (size_t)fc_roundup(units, FC_NR) * (size_t)FC_MAX(in, 1) * sizeof(FC_T);
}

void FC_SFX(fc_linear_pack)(fc_int units, fc_int in, const FC_T *w, FC_T *wp)
{
    const fc_int kcb = fc_block_size(in, FC_KC, 1), npad = fc_roundup(units, FC_NR);
    for (fc_int pc = 0; pc < in; pc += kcb)
        FC_SFX(fc_pack_b_t)(FC_MIN(kcb, in - pc), units, w + pc, in, wp + pc * npad);
}

typedef void (*FC_SFX(fc_lin1_fn))(fc_int kc, const FC_T *x, const FC_T *bp, fc_int pstride,
                                   int np, FC_T *y, FC_T beta, int nr);

static FC_SFX(fc_lin1_fn) FC_SFX(fc_lin1_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return FC_SFX(fc_lin1_avx2);
#endif
    return FC_SFX(fc_lin1_ref);
}

FC_SFX(fc_lin_fn) FC_SFX(fc_lin_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return FC_SFX(fc_lin_avx2);
#endif
    return FC_SFX(fc_lin_ref);
}

/* Threads split the NR-column panels (static): no output's arithmetic moves.
 * The team is sized on the flops plus one element visit per weight: at a few
 * rows the call streams the weights (tfcnn's 1024 -> 64 at batch 1: 256 KB,
 * 7 us on one thread) and is worth a second thread long before its flops say so. */
void FC_SFX(fc_linear_packed)(fc_int n, fc_int units, fc_int in, const FC_T *x,
                              const FC_T *wp, const FC_T *bias, FC_T *y, int nthreads)
{
    const fc_int kcb = fc_block_size(in, FC_KC, 1), npad = fc_roundup(units, FC_NR);
    const fc_int np = npad / FC_NR;
    const double weights = (double)units * (double)in;
    const int nt = fc_team_size(nthreads, np,
                                2.0 * (double)n * weights + FC_ELEMENT_WORK * weights);
    fc_int q;
    if (n == 1 && in > 0) {
        /* groups of up to 4 panels, as many groups as threads at least */
        const FC_SFX(fc_lin1_fn) k1 = FC_SFX(fc_lin1_select)();
        const fc_int gsz = FC_MAX(1, FC_MIN(4, (np + nt - 1) / nt)), ng = (np + gsz - 1) / gsz;
        FC_TEAM_FOR(static, nt, q, ng, {
            const fc_int p0 = q * gsz, p1 = FC_MIN(np, p0 + gsz), j0 = p0 * FC_NR;
            const int ncols = (int)(FC_MIN(units, p1 * FC_NR) - j0);
            if (bias)
                for (int j = 0; j < ncols; ++j)
                    y[j0 + j] = bias[j0 + j];
            for (fc_int pc = 0; pc < in; pc += kcb) {
                const fc_int kc = FC_MIN(kcb, in - pc);
                k1(kc, x + pc, wp + pc * npad + p0 * FC_NR * kc, FC_NR * kc, (int)(p1 - p0),
                   y + j0, (bias || pc > 0) ? (FC_T)1 : (FC_T)0, ncols);
            }
        });
        return;
    }
    /* groups of up to 4 panels (fc_lin_panels), as many groups as threads at least */
    const fc_int gsz = FC_MAX(1, FC_MIN(4, (np + nt - 1) / nt)), ng = (np + gsz - 1) / gsz;
    FC_TEAM_FOR(static, nt, q, ng, {
        const fc_int p0 = q * gsz, p1 = FC_MIN(np, p0 + gsz), j0 = p0 * FC_NR;
        const int nr = (int)(FC_MIN(units, p1 * FC_NR) - j0);
        for (fc_int r = 0; r < n; r += 4) {
            const int nrows = (int)FC_MIN(4, n - r);
            FC_T *yr = y + r * units + j0;
            if (bias)
                for (int i = 0; i < nrows; ++i)
                    for (int j = 0; j < nr; ++j)
                        yr[i * units + j] = bias[j0 + j];
            else if (in == 0)
                for (int i = 0; i < nrows; ++i)
                    for (int j = 0; j < nr; ++j)
                        yr[i * units + j] = 0;
            for (fc_int pc = 0; pc < in; pc += kcb) {
                const fc_int kc = FC_MIN(kcb, in - pc);
                const FC_T beta = (bias || pc > 0) ? (FC_T)1 : (FC_T)0;
                FC_SFX(fc_lin_panels)(kc, nrows, x + r * in + pc, in, wp + pc * npad + p0 * FC_NR * kc,
                                      FC_NR * kc, (int)(p1 - p0), yr, units, beta, nr);
            }
        }
    });
}

#endif
