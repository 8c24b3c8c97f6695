/*
 * batchnorm.c -- batch normalisation over (N, H, W) per channel of NCHW data
 * (see fastconv.h): training forward (statistics, normalisation, optional
 * fused ReLU), inference forward, and the backward of both.
 *
 * Memory-bound: each pass is a stream over the data, so the aim is few
 * passes and loops the compiler vectorises. Kernels in batchnorm_impl.h,
 * built five times: float / double x AVX2+FMA / portable, and float for
 * AVX-512 with its streaming kernels written out in batchnorm_avx512.h (the
 * same bits as AVX2), chosen per call by fc_simd_path(); the public functions,
 * which share the work out among the threads, in batchnorm_drivers.h.
 *
 * Determinism: reductions are split into fixed units -- channel c of a run of
 * `per` consecutive images, `per` a function of (N, HW) only -- each reduced
 * serially, and the units of a channel merged in order. Threads only decide
 * who computes which unit, so the bits never depend on the thread count.
 *
 * Statistics: each unit is reduced by an exact two-pass (mean, then sum of
 * squared deviations from it) while it sits in L2, and the units are merged
 * with Chan et al.'s pairwise update; accumulation is in double for both
 * element types. This reads the data from memory once and stays accurate when
 * |mean| >> std (no sum-of-squares cancellation).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_BN_HAVE_AVX2 1
#include <immintrin.h>
#endif

/* Elements per reduction unit: 16 Ki (64 KiB of float) stays in L2 between
 * the two passes of bn_unit_moments. */
#define FC_BN_UNIT_ELEMS 16384
/* Planes smaller than this go through the row-mode kernels (a 4x4 or 5x5 plane is
 * too short for the per-plane loops: row mode measured 1.3-1.7x faster there). */
#define FC_BN_ROW_HW 32
#define FC_BN_LANES 16
/* Elements of g masked by a fused ReLU at a time (a multiple of FC_BN_LANES). */
#define FC_BN_BLOCK 256
/* Column-mode units: at most this many columns (channels x HW), and about
 * FC_BN_UNIT_ELEMS elements. */
#define FC_BN_COLS 1024
/* Row mode's elementwise passes go by (image run, block of this many columns): the runs
 * of the reductions, so that a thread reads the images it reduced, and a block's
 * coefficient rows (up to seven) stay in L1 while its images go by. */
#define FC_BN_COL_BLOCK 256

/* Where the backward's ReLU mask comes from: y (the ReLU's output, the unit's or
 * image's part of it), or, with y NULL and xm[0] set, the forward's coefficients
 * (mean, scale, shift) recomputed on x (bn_mask_x); neither: no ReLU. */
typedef struct bn_relu_f32 {
    const float *y;
    const float *xm[3];
} bn_relu_f32;
typedef struct bn_relu_f64 {
    const double *y;
    const double *xm[3];
} bn_relu_f64;

#define T float
#define BN_RELU bn_relu_f32
#define FC_BN_ATTR
#define NAME(base) base##_f32_portable
#include "batchnorm_impl.h"
#undef NAME
#undef FC_BN_ATTR
#ifdef FC_BN_HAVE_AVX2
#define FC_BN_ATTR __attribute__((target("avx2,fma")))
#define FC_BN_CVT_PS_PD 1
#define NAME(base) base##_f32_avx2
#include "batchnorm_impl.h"
#undef NAME
#undef FC_BN_ATTR
#define FC_BN_ATTR __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#define FC_BN_AVX512 1
#define NAME(base) base##_f32_avx512
#include "batchnorm_impl.h"
#undef NAME
#undef FC_BN_AVX512
#undef FC_BN_CVT_PS_PD
#undef FC_BN_ATTR
#endif
#undef T
#undef BN_RELU

#define T double
#define BN_RELU bn_relu_f64
#define FC_BN_ATTR
#define NAME(base) base##_f64_portable
#include "batchnorm_impl.h"
#undef NAME
#undef FC_BN_ATTR
#ifdef FC_BN_HAVE_AVX2
#define FC_BN_ATTR __attribute__((target("avx2,fma")))
#define NAME(base) base##_f64_avx2
#include "batchnorm_impl.h"
#undef NAME
#undef FC_BN_ATTR
#endif
#undef T
#undef BN_RELU

/* The path of the kernels to run: 0 portable, 1 AVX2, 2 AVX-512 (float; double stays
 * on AVX2). */
static inline int bn_simd_path(void)
{
#ifdef FC_BN_HAVE_AVX2
    return fc_simd_path();
#else
    return 0;
#endif
}

/* How a (N, C, HW) reduction is cut into units; depends on the shape only.
 * Plane mode: unit u is channel u / nk of images [k * per, min((k + 1) * per,
 * N)), k = u % nk, per at most half the batch. Column mode (row_mode): unit u is channels
 * [b * cpb, min((b + 1) * cpb, C)), b = u / nk, of the same image runs, reduced to one
 * partial per channel and run. */
typedef struct bn_split {
    fc_int per, nk, units, cpb;
    int row_mode;
} bn_split;

static bn_split bn_make_split(fc_int N, fc_int C, fc_int HW)
{
    bn_split s;
    s.row_mode = HW < FC_BN_ROW_HW;
    if (s.row_mode) {
        /* Two runs of images, as in plane mode (see bn_unit). */
        s.per = N > 1 ? (N + 1) / 2 : 1;
        s.nk = (N + s.per - 1) / s.per;
        s.cpb = FC_BN_UNIT_ELEMS / (s.per * HW);
        if (s.cpb > FC_BN_COLS / HW)
            s.cpb = FC_BN_COLS / HW;
        if (s.cpb < 1)
            s.cpb = 1;
        s.units = ((C + s.cpb - 1) / s.cpb) * s.nk;
        return s;
    }
    s.cpb = 1;
    s.per = FC_BN_UNIT_ELEMS / HW;
    /* At least two runs of images, so that the threads can take whole image runs
     * (see BN_UNIT). */
    if (s.per > (N + 1) / 2)
        s.per = (N + 1) / 2;
    if (s.per < 1)
        s.per = 1;
    if (s.per > N)
        s.per = N;
    s.nk = (N + s.per - 1) / s.per;
    s.units = C * s.nk;
    return s;
}

/* Merge the units' (mean, M2) pairs of each channel in order (Chan, Golub and
 * LeVeque's pairwise update); var is the biased variance M2 / (N * HW). */
static void bn_merge_moments(const bn_split *sp, const double *part, fc_int N, fc_int C,
                             fc_int HW, double *mean, double *var)
{
    for (fc_int c = 0; c < C; c++) {
        const double *p = part + 2 * c * sp->nk;
        double na = 0.0, m = 0.0, m2 = 0.0;
        for (fc_int k = 0; k < sp->nk; k++) {
            fc_int n0 = k * sp->per, n1 = n0 + sp->per < N ? n0 + sp->per : N;
            double nb = (double)((n1 - n0) * HW), tot = na + nb;
            double delta = p[2 * k] - m;
            m += delta * (nb / tot);
            m2 += p[2 * k + 1] + delta * delta * (na * nb / tot);
            na = tot;
        }
        mean[c] = m;
        var[c] = m2 / na;
    }
}

/* The unit a reduction loop's i-th iteration reduces: in plane mode the image runs
 * outermost, so that a static schedule gives each thread whole runs of images --
 * the images the convolution before wrote from that thread's core, and the ones
 * its apply pass (image-major) then reads: both from its own L2. (Channel-major,
 * each thread read half of every image, most of it from the other core's cache:
 * MobileNet's training step 1.015-1.02x, ResNet-20's 1.01x, alternating processes.) */
static inline fc_int bn_unit(const bn_split *sp, fc_int C, fc_int i)
{
    const fc_int blocks = sp->row_mode ? (C + sp->cpb - 1) / sp->cpb : C;
    return (i % blocks) * sp->nk + i / blocks;
}

/* Row mode's elementwise pieces: (image run, column block) i of nb blocks a run -- the
 * runs outermost, as in bn_unit -- as images [*n0, *n1) and columns [*j0, *j1). */
static inline void bn_block_of(const bn_split *sp, fc_int N, fc_int L, fc_int nb, fc_int i,
                               fc_int *n0, fc_int *n1, fc_int *j0, fc_int *j1)
{
    *n0 = i / nb * sp->per;
    *n1 = *n0 + sp->per < N ? *n0 + sp->per : N;
    *j0 = i % nb * FC_BN_COL_BLOCK;
    *j1 = *j0 + FC_BN_COL_BLOCK < L ? *j0 + FC_BN_COL_BLOCK : L;
}

#define T float
#define BN_RELU bn_relu_f32
#define SUFFIX f32
#define BN_WIDE avx512
#include "batchnorm_drivers.h"
#undef SUFFIX
#undef BN_WIDE
#undef T
#undef BN_RELU
#define T double
#define BN_RELU bn_relu_f64
#define SUFFIX f64
#define BN_WIDE avx2
#include "batchnorm_drivers.h"
#undef SUFFIX
#undef BN_WIDE
#undef T
#undef BN_RELU
