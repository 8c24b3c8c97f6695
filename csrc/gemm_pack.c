/*
 * gemm_pack.c -- packing of A (MR x kc micro-panels) and B (kc x NR
 * micro-panels) for the GEMM micro-kernels; layouts in gemm_internal.h.
 * Edges are zero-padded, so the micro-kernel never needs an edge case in its
 * inner loop.
 */
#ifndef FC_T
#include <string.h>
#include "gemm_internal.h"
#ifdef __SSE2__
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include "transpose8_avx2.h"
/* 8 x 8 float transposes: dst row p (8 floats at dst + p*NR) = column p of
 * the 8 source rows src + j*ld, j < 8. */
__attribute__((target("avx2,fma")))
static void fc_transpose8_avx2(fc_int kc8, const float *src, fc_int ld, float *dst)
{
    for (fc_int p0 = 0; p0 < kc8; p0 += 8) {
        __m256 v[8];
        for (int j = 0; j < 8; ++j)
            v[j] = _mm256_loadu_ps(src + p0 + j * ld);
        fc_transpose8x8_ps(v);
        for (int p = 0; p < 8; ++p)
            _mm256_storeu_ps(dst + (p0 + p) * FC_NR_F32, v[p]);
    }
}
#endif

#define FC_TMPL_SELF "gemm_pack.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

void FC_SFX(fc_pack_a)(fc_int mc, fc_int kc, const FC_T *a, fc_int rsa, fc_int csa, FC_T *ap)
{
    if (rsa == 1 && csa != 1) {
        /* A transposed source (a 1x1 layer's W^T): each step's MR values are
         * contiguous. In blocks of 16 source rows across all the panels: panel by
         * panel, the rows (a multiple of 1 KB apart, sharing a few L1 sets) left
         * the cache before the next panel read the rest of their lines. */
        for (fc_int p0 = 0; p0 < kc; p0 += 16) {
            const fc_int p1 = FC_MIN(kc, p0 + 16);
            for (fc_int i0 = 0; i0 < mc; i0 += FC_MR) {
                const fc_int mr = FC_MIN(FC_MR, mc - i0);
                FC_T *dst = ap + i0 * kc + p0 * FC_MR;
                for (fc_int p = p0; p < p1; ++p, dst += FC_MR) {
                    const FC_T *s = a + i0 + p * csa;
                    if (mr == FC_MR) {
                        memcpy(dst, s, FC_MR * sizeof(FC_T));
                        continue;
                    }
                    fc_int i = 0;
                    for (; i < mr; ++i)
                        dst[i] = s[i];
                    for (; i < FC_MR; ++i)
                        dst[i] = 0;
                }
            }
        }
        return;
    }
    for (fc_int i0 = 0; i0 < mc; i0 += FC_MR) {
        const fc_int mr = FC_MIN(FC_MR, mc - i0);
        const FC_T *src = a + i0 * rsa;
        FC_T *dst = ap + i0 * kc;
        if (mr == FC_MR && csa == 1) {
            const FC_T *r0 = src, *r1 = src + rsa, *r2 = src + 2 * rsa;
            const FC_T *r3 = src + 3 * rsa, *r4 = src + 4 * rsa, *r5 = src + 5 * rsa;
            fc_int p = 0;
#if defined(__SSE2__) && FC_MR == 6
#if FC_IS_F64
            /* 2 x 2 transposes of row pairs. */
            for (; p + 2 <= kc; p += 2) {
                __m128d a0 = _mm_loadu_pd(r0 + p), a1 = _mm_loadu_pd(r1 + p);
                __m128d a2 = _mm_loadu_pd(r2 + p), a3 = _mm_loadu_pd(r3 + p);
                __m128d a4 = _mm_loadu_pd(r4 + p), a5 = _mm_loadu_pd(r5 + p);
                _mm_storeu_pd(dst + 0, _mm_unpacklo_pd(a0, a1));
                _mm_storeu_pd(dst + 2, _mm_unpacklo_pd(a2, a3));
                _mm_storeu_pd(dst + 4, _mm_unpacklo_pd(a4, a5));
                _mm_storeu_pd(dst + 6, _mm_unpackhi_pd(a0, a1));
                _mm_storeu_pd(dst + 8, _mm_unpackhi_pd(a2, a3));
                _mm_storeu_pd(dst + 10, _mm_unpackhi_pd(a4, a5));
                dst += 2 * FC_MR;
            }
#else
            /* 4 x 4 transpose of rows 0-3, 2 x 4 interleave of rows 4-5. */
            for (; p + 4 <= kc; p += 4) {
                __m128 a0 = _mm_loadu_ps(r0 + p), a1 = _mm_loadu_ps(r1 + p);
                __m128 a2 = _mm_loadu_ps(r2 + p), a3 = _mm_loadu_ps(r3 + p);
                __m128 a4 = _mm_loadu_ps(r4 + p), a5 = _mm_loadu_ps(r5 + p);
                _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
                __m128 lo = _mm_unpacklo_ps(a4, a5); /* r4p0 r5p0 r4p1 r5p1 */
                __m128 hi = _mm_unpackhi_ps(a4, a5); /* r4p2 r5p2 r4p3 r5p3 */
                _mm_storeu_ps(dst + 0, a0);
                _mm_storel_pi((__m64 *)(dst + 4), lo);
                _mm_storeu_ps(dst + 6, a1);
                _mm_storeh_pi((__m64 *)(dst + 10), lo);
                _mm_storeu_ps(dst + 12, a2);
                _mm_storel_pi((__m64 *)(dst + 16), hi);
                _mm_storeu_ps(dst + 18, a3);
                _mm_storeh_pi((__m64 *)(dst + 22), hi);
                dst += 4 * FC_MR;
            }
#endif
#endif
            for (; p < kc; ++p) {
                dst[0] = r0[p];
                dst[1] = r1[p];
                dst[2] = r2[p];
                dst[3] = r3[p];
                dst[4] = r4[p];
                dst[5] = r5[p];
                dst += FC_MR;
            }
        } else {
            for (fc_int p = 0; p < kc; ++p) {
                const FC_T *s = src + p * csa;
                fc_int i = 0;
                for (; i < mr; ++i)
                    dst[i] = s[i * rsa];
                for (; i < FC_MR; ++i)
                    dst[i] = 0;
                dst += FC_MR;
            }
        }
    }
}

void FC_SFX(fc_pack_b)(fc_int kc, fc_int nc, const FC_T *b, fc_int rsb, fc_int csb, FC_T *bp)
{
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    /* A transposed source (the weight gradient of a 1x1 convolution: B = x^T) through
     * the 8 x 8 register transposes of fc_pack_b_t; column by column below, one
     * scalar a step, it cost as much as the products it fed. */
    if (rsb == 1 && csb != 1 && kc >= 8 && fc_simd_path() >= FC_SIMD_AVX2) {
        FC_SFX(fc_pack_b_t)(kc, nc, b, csb, bp);
        return;
    }
#endif
    fc_int j0 = 0;
    if (csb == 1) {
        /* Four full panels at a time: each source row is read as one
         * contiguous 4*NR run, written to four sequential streams. */
        for (; j0 + 4 * FC_NR <= nc; j0 += 4 * FC_NR) {
            const FC_T *src = b + j0;
            FC_T *d0 = bp + j0 * kc;
            FC_T *d1 = d0 + FC_NR * kc, *d2 = d1 + FC_NR * kc, *d3 = d2 + FC_NR * kc;
            for (fc_int p = 0; p < kc; ++p) {
                const FC_T *s = src + p * rsb;
                for (int j = 0; j < FC_NR; ++j)
                    d0[j] = s[j];
                for (int j = 0; j < FC_NR; ++j)
                    d1[j] = s[FC_NR + j];
                for (int j = 0; j < FC_NR; ++j)
                    d2[j] = s[2 * FC_NR + j];
                for (int j = 0; j < FC_NR; ++j)
                    d3[j] = s[3 * FC_NR + j];
                d0 += FC_NR;
                d1 += FC_NR;
                d2 += FC_NR;
                d3 += FC_NR;
            }
        }
    }
    for (; j0 < nc; j0 += FC_NR) {
        const fc_int nr = FC_MIN(FC_NR, nc - j0);
        const FC_T *src = b + j0 * csb;
        FC_T *dst = bp + j0 * kc;
        if (nr == FC_NR && csb == 1) {
            for (fc_int p = 0; p < kc; ++p) {
                const FC_T *s = src + p * rsb;
                for (int j = 0; j < FC_NR; ++j)
                    dst[j] = s[j];
                dst += FC_NR;
            }
        } else if (csb == 1) {
            for (fc_int p = 0; p < kc; ++p) {
                const FC_T *s = src + p * rsb;
                fc_int j = 0;
                for (; j < nr; ++j)
                    dst[j] = s[j];
                for (; j < FC_NR; ++j)
                    dst[j] = 0;
                dst += FC_NR;
            }
        } else {
            /* Column-wise (transposed source: rsb small): walk each source
             * column contiguously, write with stride NR. */
            for (fc_int j = 0; j < nr; ++j) {
                const FC_T *s = src + j * csb;
                FC_T *d = dst + j;
                for (fc_int p = 0; p < kc; ++p)
                    d[p * FC_NR] = s[p * rsb];
            }
            for (fc_int j = nr; j < FC_NR; ++j)
                for (fc_int p = 0; p < kc; ++p)
                    dst[p * FC_NR + j] = 0;
        }
    }
}

void FC_SFX(fc_pack_b_t)(fc_int kc, fc_int nc, const FC_T *b, fc_int csb, FC_T *bp)
{
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    if (fc_simd_path() >= FC_SIMD_AVX2 && kc >= 8) {
        const fc_int kc8 = kc / 8 * 8;
        fc_int j0 = 0;
        /* Full 8-column halves through the transposer, the rest scalar. */
        for (; j0 + 8 <= nc; j0 += 8) {
            FC_T *dst = bp + (j0 / FC_NR) * FC_NR * kc + (j0 % FC_NR);
            fc_transpose8_avx2(kc8, b + j0 * csb, csb, dst);
            for (fc_int p = kc8; p < kc; ++p)
                for (int j = 0; j < 8; ++j)
                    dst[p * FC_NR + j] = b[(j0 + j) * csb + p];
        }
        if (j0 < nc) {
            FC_T *dst = bp + (j0 / FC_NR) * FC_NR * kc;
            const fc_int jo = j0 % FC_NR;
            for (fc_int p = 0; p < kc; ++p) {
                for (fc_int j = 0; j < FC_NR - jo; ++j)
                    dst[p * FC_NR + jo + j] = j0 + j < nc ? b[(j0 + j) * csb + p] : (FC_T)0;
            }
        }
        return;
    }
#endif
    FC_SFX(fc_pack_b)(kc, nc, b, 1, csb, bp);
}

void FC_SFX(fc_pack_a_full)(fc_int m, fc_int k, fc_int kcb, const FC_T *a, fc_int rsa,
                            fc_int csa, FC_T *ap)
{
    const fc_int mpad = fc_roundup(m, FC_MR);
    for (fc_int pc = 0; pc < k; pc += kcb) {
        const fc_int kc = FC_MIN(kcb, k - pc);
        FC_SFX(fc_pack_a)(m, kc, a + pc * csa, rsa, csa, ap + pc * mpad);
    }
}

#endif
