/*
 * gemm_gemv.c -- y = x W^T + b for a handful of rows x (matrix-vector
 * products): the fully connected layer at inference batch sizes.
 *
 * The packed GEMM pays for packing W^T (the whole weight matrix) on every
 * call and then runs 6 x 16 tiles of which one row is live; at N <= a few
 * rows the product is memory-bound on W, so the best plan is to stream W
 * once in its natural (units, in) layout and keep the few x rows in L1.
 *
 * ===================== THE ROW-DOT KERNEL CONTRACT =======================
 *
 *   fc_gemv_<path>_<sfx>(n, in, x, ldx, w, j0, j1, bias, y, ldy)
 *
 * computes, for r < n (1 <= n <= FC_GEMV_MAX_ROWS) and j0 <= j < j1,
 *
 *   y[r*ldy + j] = dot(x[r*ldx : + in], w[j*in : + in]) (+ bias[j])
 *
 * where dot sums element i into lane i % VL (VL = 8 floats / 4 doubles,
 * both paths) in increasing i, then adds the lanes in a fixed tree
 * ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)) for float, (l0+l2)+(l1+l3) for double,
 * and then the bias. So an output depends only on its row, its weights
 * and the path, never on j0/j1 or on how threads split the outputs. The AVX2
 * path fuses each multiply-add (FMA); the portable path rounds twice.
 * x, w, y: any alignment. in >= 0 (in == 0 gives y = bias or 0).
 */
#ifndef FC_T
#include "gemm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>
#define FC_AVX2_FN __attribute__((target("avx2,fma")))
#endif

/* Rows x per call of the kernel (more rows: several passes over W). */
#define FC_GEMV_MAX_ROWS 4

/* --------------------------------------------------------- portable twin */
#define FC_GEMV_REF(T, S, VL)                                                             \
    static void fc_gemv_ref_##S(fc_int n, fc_int in, const T *x, fc_int ldx, const T *w,  \
                                fc_int j0, fc_int j1, const T *bias, T *y, fc_int ldy)    \
    {                                                                                     \
        for (fc_int j = j0; j < j1; ++j) {                                                \
            const T *wj = w + j * in;                                                     \
            for (fc_int r = 0; r < n; ++r) {                                              \
                const T *xr = x + r * ldx;                                                \
                T l[VL] = {0};                                                            \
                for (fc_int i = 0; i < in; ++i)                                           \
                    l[i % VL] += xr[i] * wj[i];                                           \
                T s = fc_gemv_tree_##S(l);                                                \
                y[r * ldy + j] = bias ? s + bias[j] : s;                                  \
            }                                                                             \
        }                                                                                 \
    }

static inline float fc_gemv_tree_f32(const float *l)
{
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}
static inline double fc_gemv_tree_f64(const double *l)
{
    return (l[0] + l[2]) + (l[1] + l[3]);
}
FC_GEMV_REF(float, f32, 8)
FC_GEMV_REF(double, f64, 4)

#ifdef FC_HAVE_X86_AVX2_KERNELS
/* ----------------------------------------------------------- AVX2 kernel
 * 4 output units x up to 2 rows of x per pass: 8 accumulators, per VL
 * inputs 2 x loads + 4 W loads + 8 FMAs. The last in % VL inputs are read
 * with a masked load (zeros beyond in), so every lane sees the same
 * sequence as the portable twin's lane. */
static const int32_t fc_gemv_mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                             0,  0,  0,  0,  0,  0,  0,  0};

/* One type: V vector, VL lanes, LOAD/FMA/MLOAD intrinsics, HSUM tree. */
#define FC_GEMV_AVX2(T, S, V, VL, ZERO, LOADU, FMA, MLOAD, MASK, STOREU)                  \
    FC_AVX2_FN static void fc_gemv_avx2_##S(fc_int n, fc_int in, const T *x, fc_int ldx,   \
                                            const T *w, fc_int j0, fc_int j1,             \
                                            const T *bias, T *y, fc_int ldy)              \
    {                                                                                     \
        const fc_int full = in / VL * VL, tail = in - full;                               \
        const __m256i mk = MASK(tail);                                                    \
        for (fc_int r0 = 0; r0 < n; r0 += 2) {                                            \
            const int two = r0 + 1 < n;                                                   \
            const T *xa = x + r0 * ldx, *xb = two ? xa + ldx : xa;                        \
            fc_int j = j0;                                                                \
            for (; j < j1; j += 4) {                                                      \
                const int nj = (int)FC_MIN(4, j1 - j);                                    \
                const T *w0 = w + j * in;                                                 \
                const T *w1 = nj > 1 ? w0 + in : w0, *w2 = nj > 2 ? w0 + 2 * in : w0;     \
                const T *w3 = nj > 3 ? w0 + 3 * in : w0;                                  \
                V a0 = ZERO(), a1 = ZERO(), a2 = ZERO(), a3 = ZERO();                     \
                V b0 = ZERO(), b1 = ZERO(), b2 = ZERO(), b3 = ZERO();                     \
                for (fc_int i = 0; i < full; i += VL) {                                   \
                    const V xva = LOADU(xa + i), xvb = LOADU(xb + i);                     \
                    V wv = LOADU(w0 + i);                                                 \
                    a0 = FMA(xva, wv, a0);                                                \
                    b0 = FMA(xvb, wv, b0);                                                \
                    wv = LOADU(w1 + i);                                                   \
                    a1 = FMA(xva, wv, a1);                                                \
                    b1 = FMA(xvb, wv, b1);                                                \
                    wv = LOADU(w2 + i);                                                   \
                    a2 = FMA(xva, wv, a2);                                                \
                    b2 = FMA(xvb, wv, b2);                                                \
                    wv = LOADU(w3 + i);                                                   \
                    a3 = FMA(xva, wv, a3);                                                \
                    b3 = FMA(xvb, wv, b3);                                                \
                }                                                                         \
                if (tail) {                                                               \
                    const V xva = MLOAD(xa + full, mk), xvb = MLOAD(xb + full, mk);       \
                    V wv = MLOAD(w0 + full, mk);                                          \
                    a0 = FMA(xva, wv, a0);                                                \
                    b0 = FMA(xvb, wv, b0);                                                \
                    wv = MLOAD(w1 + full, mk);                                            \
                    a1 = FMA(xva, wv, a1);                                                \
                    b1 = FMA(xvb, wv, b1);                                                \
                    wv = MLOAD(w2 + full, mk);                                            \
                    a2 = FMA(xva, wv, a2);                                                \
                    b2 = FMA(xvb, wv, b2);                                                \
                    wv = MLOAD(w3 + full, mk);                                            \
                    a3 = FMA(xva, wv, a3);                                                \
                    b3 = FMA(xvb, wv, b3);                                                \
                }                                                                         \
                T l[8][VL] __attribute__((aligned(32)));                                  \
                STOREU(l[0], a0); STOREU(l[1], a1); STOREU(l[2], a2); STOREU(l[3], a3);   \
                STOREU(l[4], b0); STOREU(l[5], b1); STOREU(l[6], b2); STOREU(l[7], b3);   \
                for (int q = 0; q < nj; ++q) {                                            \
                    const T s = fc_gemv_tree_##S(l[q]);                                   \
                    y[r0 * ldy + j + q] = bias ? s + bias[j + q] : s;                     \
                    if (two) {                                                            \
                        const T t = fc_gemv_tree_##S(l[4 + q]);                           \
                        y[(r0 + 1) * ldy + j + q] = bias ? t + bias[j + q] : t;           \
                    }                                                                     \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }

FC_AVX2_FN static inline __m256i fc_gemv_mask32(fc_int tail)
{
    return _mm256_loadu_si256((const __m256i *)(fc_gemv_mask_src + 8 - tail));
}
FC_AVX2_FN static inline __m256i fc_gemv_mask64(fc_int tail)
{
    /* 2 x 32-bit of -1 per double lane. */
    return _mm256_loadu_si256((const __m256i *)(fc_gemv_mask_src + 8 - 2 * tail));
}
FC_AVX2_FN static inline __m256 fc_gemv_mload32(const float *p, __m256i m)
{
    return _mm256_maskload_ps(p, m);
}
FC_AVX2_FN static inline __m256d fc_gemv_mload64(const double *p, __m256i m)
{
    return _mm256_maskload_pd(p, m);
}
FC_GEMV_AVX2(float, f32, __m256, 8, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_fmadd_ps,
             fc_gemv_mload32, fc_gemv_mask32, _mm256_store_ps)
FC_GEMV_AVX2(double, f64, __m256d, 4, _mm256_setzero_pd, _mm256_loadu_pd, _mm256_fmadd_pd,
             fc_gemv_mload64, fc_gemv_mask64, _mm256_store_pd)
#endif

/* ------------------------------------------------------------ the driver
 * Rows of x in groups of FC_GEMV_MAX_ROWS; threads split the outputs in
 * blocks of 16 units (static), which leaves every output's arithmetic alone. */
#define FC_GEMV_DRIVER(T, S)                                                              \
    void fc_gemv_##S(fc_int n, fc_int units, fc_int in, const T *x, const T *w,           \
                     const T *bias, T *y, int nthreads)                                   \
    {                                                                                     \
        void (*kr)(fc_int, fc_int, const T *, fc_int, const T *, fc_int, fc_int,          \
                   const T *, T *, fc_int) = fc_gemv_ref_##S;                             \
        FC_GEMV_PICK_AVX2(S)                                                              \
        const fc_int nb = (units + 15) / 16;                                              \
        int nt = nthreads;                                                                \
        if ((double)n * (double)units * (double)in < (double)(1 << 19) || nt < 1)        \
            nt = 1;                                                                       \
        if (nt > nb)                                                                      \
            nt = (int)nb;                                                                 \
        _Pragma("omp parallel for num_threads(nt) schedule(static) if (nt > 1)")          \
        for (fc_int b = 0; b < nb; ++b) {                                                 \
            const fc_int j0 = b * 16, j1 = FC_MIN(units, j0 + 16);                        \
            for (fc_int r = 0; r < n; r += FC_GEMV_MAX_ROWS)                              \
                kr(FC_MIN(FC_GEMV_MAX_ROWS, n - r), in, x + r * in, in, w, j0, j1, bias,  \
                   y + r * units, units);                                                 \
        }                                                                                 \
    }

#ifdef FC_HAVE_X86_AVX2_KERNELS
#define FC_GEMV_PICK_AVX2(S)                                                              \
    if (fc_simd_path() == FC_SIMD_AVX2)                                                   \
        kr = fc_gemv_avx2_##S;
#else
#define FC_GEMV_PICK_AVX2(S)
#endif

FC_GEMV_DRIVER(float, f32)
FC_GEMV_DRIVER(double, f64)

#endif /* FC_T */
