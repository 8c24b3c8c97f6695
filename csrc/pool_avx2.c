/*
 * pool_avx2.c -- AVX2 rows of the 2x2, stride-2 max-pool backward
 * (pool_impl.h: fc_max_pool_2x2_backward), the common case of CNNs.
 *
 * The portable loop reads the window's four elements with stride 2, which
 * the compiler does not vectorise well (2048 planes of 30x30 took 3x
 * PyTorch's indexed scatter). Here a vector of 2*L input columns holds L/2
 * windows side by side, each window's pair of columns in adjacent lanes, so
 * everything is in-lane: the pair's other lane comes from an in-pair swap
 * (vpermilps / vpermilpd), no deinterleave.
 *
 * Contract of fc_max_pool_2x2_bwd_rows_{f32,f64}_avx2: for output rows
 * [0, ho) and output columns [0, cols), gx's 2x2 block of each window is
 * written (all four elements: gradient to the first maximum in the order
 * a b / c d, zero elsewhere), bitwise what the portable loop writes on
 * NaN-free data. A row's last part-vector is redone as the full vector
 * ending at its last window (the overlap is written twice with the same
 * values): masked loads and stores (vmaskmov) are microcoded on AMD Zen and
 * made the kernel slower than the scalar loop. Returns cols; 0 (nothing
 * done) when a row holds fewer windows than a vector; -1 when a window holds
 * NaN (gx then holds garbage in those blocks; the caller zeroes it and runs
 * the sequential NaN rule over the plane).
 *
 * Contract of fc_max_pool_2x2_fwd_rows_{f32,f64}_avx2: y[oh*Wo + ow] for
 * output rows [0, ho) and columns [0, cols), bitwise the portable loop's:
 * the window's maximum taken in the order a, b, c, d keeping the earlier
 * element on ties (so of +0 and -0 the first), NaN (the C library's NAN)
 * where the window holds one. The four elements come deinterleaved (even
 * input columns a / c, odd b / d), a vector of windows at a time; a row's
 * last part-vector is redone as the full vector ending at its last window
 * (float rows of 4 to 7 windows go 4 at a time). Returns cols, or 0 (nothing
 * done) when a row holds fewer than 4 windows.
 */
#include <math.h>
#include <stddef.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#define FC_POOL_AVX2 __attribute__((target("avx2,fma")))

/* Forward: 8 float windows per step (4 on rows of 4 to 7 windows). */
FC_POOL_AVX2 fc_int fc_max_pool_2x2_fwd_rows_f32_avx2(fc_int ho, fc_int cols, fc_int W,
                                                      fc_int Wo, const float *x, float *y)
{
    if (cols < 4)
        return 0;
    const __m256 qnan = _mm256_set1_ps(NAN);
    for (fc_int oh = 0; oh < ho; ++oh) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *out = y + oh * Wo;
        if (cols < 8) {
            for (fc_int ow = 0; ow < cols; ow += 4) {
                const fc_int o = ow + 4 <= cols ? ow : cols - 4;
                const __m128 u0 = _mm_loadu_ps(r0 + 2 * o), u1 = _mm_loadu_ps(r0 + 2 * o + 4);
                const __m128 w0 = _mm_loadu_ps(r1 + 2 * o), w1 = _mm_loadu_ps(r1 + 2 * o + 4);
                const __m128 a = _mm_shuffle_ps(u0, u1, 0x88), b = _mm_shuffle_ps(u0, u1, 0xDD);
                const __m128 c = _mm_shuffle_ps(w0, w1, 0x88), d = _mm_shuffle_ps(w0, w1, 0xDD);
                __m128 m = _mm_max_ps(d, _mm_max_ps(c, _mm_max_ps(b, a)));
                const __m128 nan = _mm_or_ps(_mm_cmpunord_ps(a, b), _mm_cmpunord_ps(c, d));
                _mm_storeu_ps(out + o, _mm_blendv_ps(m, _mm256_castps256_ps128(qnan), nan));
            }
            continue;
        }
        for (fc_int ow = 0; ow < cols; ow += 8) {
            const fc_int o = ow + 8 <= cols ? ow : cols - 8;
            const __m256 u0 = _mm256_loadu_ps(r0 + 2 * o), u1 = _mm256_loadu_ps(r0 + 2 * o + 8);
            const __m256 w0 = _mm256_loadu_ps(r1 + 2 * o), w1 = _mm256_loadu_ps(r1 + 2 * o + 8);
            /* windows in the lane order 0 1 4 5 2 3 6 7, put right by the last permute */
            const __m256 a = _mm256_shuffle_ps(u0, u1, 0x88), b = _mm256_shuffle_ps(u0, u1, 0xDD);
            const __m256 c = _mm256_shuffle_ps(w0, w1, 0x88), d = _mm256_shuffle_ps(w0, w1, 0xDD);
            /* max_ps(v, m) is v > m ? v : m: the earlier element stays on ties */
            __m256 m = _mm256_max_ps(b, a);
            m = _mm256_max_ps(c, m);
            m = _mm256_max_ps(d, m);
            const __m256 nan = _mm256_or_ps(_mm256_cmp_ps(a, b, _CMP_UNORD_Q),
                                            _mm256_cmp_ps(c, d, _CMP_UNORD_Q));
            m = _mm256_blendv_ps(m, qnan, nan);
            m = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(m), 0xD8));
            _mm256_storeu_ps(out + o, m);
        }
    }
    return cols;
}

/* Forward: 4 double windows per step. */
FC_POOL_AVX2 fc_int fc_max_pool_2x2_fwd_rows_f64_avx2(fc_int ho, fc_int cols, fc_int W,
                                                      fc_int Wo, const double *x, double *y)
{
    if (cols < 4)
        return 0;
    const __m256d qnan = _mm256_set1_pd((double)NAN);
    for (fc_int oh = 0; oh < ho; ++oh) {
        const double *r0 = x + 2 * oh * W, *r1 = r0 + W;
        double *out = y + oh * Wo;
        for (fc_int ow = 0; ow < cols; ow += 4) {
            const fc_int o = ow + 4 <= cols ? ow : cols - 4;
            const __m256d u0 = _mm256_loadu_pd(r0 + 2 * o), u1 = _mm256_loadu_pd(r0 + 2 * o + 4);
            const __m256d w0 = _mm256_loadu_pd(r1 + 2 * o), w1 = _mm256_loadu_pd(r1 + 2 * o + 4);
            /* windows in the lane order 0 2 1 3 */
            const __m256d a = _mm256_unpacklo_pd(u0, u1), b = _mm256_unpackhi_pd(u0, u1);
            const __m256d c = _mm256_unpacklo_pd(w0, w1), d = _mm256_unpackhi_pd(w0, w1);
            __m256d m = _mm256_max_pd(b, a);
            m = _mm256_max_pd(c, m);
            m = _mm256_max_pd(d, m);
            const __m256d nan = _mm256_or_pd(_mm256_cmp_pd(a, b, _CMP_UNORD_Q),
                                             _mm256_cmp_pd(c, d, _CMP_UNORD_Q));
            m = _mm256_blendv_pd(m, qnan, nan);
            _mm256_storeu_pd(out + o, _mm256_permute4x64_pd(m, 0xD8));
        }
    }
    return cols;
}

/* Backward: windows per vector: 4 for float (8 lanes), 2 for double (4 lanes). */
FC_POOL_AVX2 fc_int fc_max_pool_2x2_bwd_rows_f32_avx2(fc_int ho, fc_int cols, fc_int W,
                                                      fc_int Wo, const float *x,
                                                      const float *gy, float *gx)
{
    if (cols < 4)
        return 0;
    /* Odd lanes: the second element of a pair; it wins only when the first
     * (even lane) does not. */
    const __m256 odd = _mm256_castsi256_ps(_mm256_setr_epi32(0, -1, 0, -1, 0, -1, 0, -1));
    __m256 nan = _mm256_setzero_ps();
    for (fc_int oh = 0; oh < ho; ++oh) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        float *g0 = gx + 2 * oh * W, *g1 = g0 + W;
        const float *gr = gy + oh * Wo;
        for (fc_int ow = 0; ow < cols; ow += 4) {
            const fc_int o = ow + 4 <= cols ? ow : cols - 4;
            const __m256 v0 = _mm256_loadu_ps(r0 + 2 * o), v1 = _mm256_loadu_ps(r1 + 2 * o);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(v0, v1, _CMP_UNORD_Q));
            __m256 m = _mm256_max_ps(v0, v1);
            m = _mm256_max_ps(m, _mm256_permute_ps(m, 0xB1));
            const __m256 e0 = _mm256_cmp_ps(v0, m, _CMP_EQ_OQ);
            const __m256 e0s = _mm256_permute_ps(e0, 0xB1);
            const __m256 t0 = _mm256_andnot_ps(_mm256_and_ps(e0s, odd), e0);
            const __m256 e1 = _mm256_andnot_ps(_mm256_or_ps(e0, e0s),
                                               _mm256_cmp_ps(v1, m, _CMP_EQ_OQ));
            const __m256 t1 = _mm256_andnot_ps(_mm256_and_ps(_mm256_permute_ps(e1, 0xB1), odd), e1);
            const __m128 g = _mm_loadu_ps(gr + o);
            const __m256 gv = _mm256_set_m128(_mm_unpackhi_ps(g, g), _mm_unpacklo_ps(g, g));
            _mm256_storeu_ps(g0 + 2 * o, _mm256_and_ps(t0, gv));
            _mm256_storeu_ps(g1 + 2 * o, _mm256_and_ps(t1, gv));
        }
    }
    return _mm256_movemask_ps(nan) ? -1 : cols;
}

FC_POOL_AVX2 fc_int fc_max_pool_2x2_bwd_rows_f64_avx2(fc_int ho, fc_int cols, fc_int W,
                                                      fc_int Wo, const double *x,
                                                      const double *gy, double *gx)
{
    if (cols < 2)
        return 0;
    const __m256d odd = _mm256_castsi256_pd(_mm256_setr_epi64x(0, -1, 0, -1));
    __m256d nan = _mm256_setzero_pd();
    for (fc_int oh = 0; oh < ho; ++oh) {
        const double *r0 = x + 2 * oh * W, *r1 = r0 + W;
        double *g0 = gx + 2 * oh * W, *g1 = g0 + W;
        const double *gr = gy + oh * Wo;
        for (fc_int ow = 0; ow < cols; ow += 2) {
            const fc_int o = ow + 2 <= cols ? ow : cols - 2;
            const __m256d v0 = _mm256_loadu_pd(r0 + 2 * o), v1 = _mm256_loadu_pd(r1 + 2 * o);
            nan = _mm256_or_pd(nan, _mm256_cmp_pd(v0, v1, _CMP_UNORD_Q));
            __m256d m = _mm256_max_pd(v0, v1);
            m = _mm256_max_pd(m, _mm256_permute_pd(m, 0x5));
            const __m256d e0 = _mm256_cmp_pd(v0, m, _CMP_EQ_OQ);
            const __m256d e0s = _mm256_permute_pd(e0, 0x5);
            const __m256d t0 = _mm256_andnot_pd(_mm256_and_pd(e0s, odd), e0);
            const __m256d e1 = _mm256_andnot_pd(_mm256_or_pd(e0, e0s),
                                                _mm256_cmp_pd(v1, m, _CMP_EQ_OQ));
            const __m256d t1 = _mm256_andnot_pd(_mm256_and_pd(_mm256_permute_pd(e1, 0x5), odd), e1);
            const __m128d g = _mm_loadu_pd(gr + o);
            const __m256d gv = _mm256_set_m128d(_mm_unpackhi_pd(g, g), _mm_unpacklo_pd(g, g));
            _mm256_storeu_pd(g0 + 2 * o, _mm256_and_pd(t0, gv));
            _mm256_storeu_pd(g1 + 2 * o, _mm256_and_pd(t1, gv));
        }
    }
    return _mm256_movemask_pd(nan) ? -1 : cols;
}
#endif
