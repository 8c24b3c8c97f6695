/* Type- and target-generic kernels of csrc/batchnorm.c, included once per (element
 * type, SIMD target) with T, NAME(base) and FC_BN_ATTR defined; the public functions,
 * which split the work over OpenMP threads and pick a target, are in
 * batchnorm_drivers.h. */
/* The kernels are serial. A "unit" is channel c of planes n0 <= n < n1 of
 * x (N, C, HW): the caller passes x already offset to plane (n0, c), and the
 * unit's planes are `nplanes` segments of HW contiguous elements, `stride`
 * (= C * HW) apart.
 *
 * Reductions accumulate in double in FC_BN_LANES independent lanes (lane =
 * position within a group of FC_BN_LANES consecutive elements of a segment),
 * summed in a fixed order at the end: the compiler can keep the lanes in
 * vector registers without reassociating anything, and the result depends on
 * the data and HW only. */

/* Pairwise sum of the FC_BN_LANES (16) lanes: a fixed order. */
FC_BN_ATTR static inline double NAME(bn_lanes_sum)(const double *a)
{
    double h[8];
    for (int k = 0; k < 8; k++) h[k] = a[k] + a[k + 8];
    return ((h[0] + h[4]) + (h[2] + h[6])) + ((h[1] + h[5]) + (h[3] + h[7]));
}

/* Four lanes of double and of T: the vector types of the reductions. */
typedef double NAME(v4d) __attribute__((vector_size(4 * sizeof(double))));
typedef T NAME(v4t) __attribute__((vector_size(4 * sizeof(T))));

/* The reductions walk a unit's planes (or a column block's segments) one image apart,
 * a page or more, where the hardware prefetchers stop and start over: while one plane is
 * summed, the lines of the next one (`next`, NULL for none) are asked for -- element i's
 * line at step i of a vector loop over the plane (a step of FC_BN_LANES floats is one
 * 64-byte line), or the whole next segment of n elements up front where the loop goes
 * through block helpers. ResNet-20's batch norm backward on 64 x 16 x 32x32, inside a
 * training step: 503-524 -> 443-448 us. */
FC_BN_ATTR static inline void NAME(bn_prefetch_next)(const T *next, fc_int i)
{
    if (next)
        __builtin_prefetch(next + i, 0, 3);
}

FC_BN_ATTR static inline void NAME(bn_prefetch_segment)(const T *next, fc_int n)
{
    for (fc_int i = 0; next && i < n; i += FC_BN_LANES)
        __builtin_prefetch(next + i, 0, 3);
}

/* dst = four elements at p, in double (a function returning the vector would
 * change the ABI in the portable build, as GCC warns). The AVX2 float build converts
 * with one 4-wide vcvtps2pd: from the generic form GCC 12 made two 2-wide conversions,
 * two 8-byte loads and a lane insert, which held the reductions to half speed. */
FC_BN_ATTR static inline __attribute__((always_inline)) void NAME(bn_load4)(const T *p,
                                                                           NAME(v4d) *dst)
{
#ifdef FC_BN_CVT_PS_PD
    *dst = (NAME(v4d))_mm256_cvtps_pd(_mm_loadu_ps(p));
#else
    NAME(v4t) v;
    memcpy(&v, p, sizeof v);
    *dst = __builtin_convertvector(v, NAME(v4d));
#endif
}

#ifndef FC_BN_AVX512
/* Mean of the unit and sum of squared deviations from that mean (exact two
 * passes; the unit is sized to stay in cache, so the second pass costs little
 * memory traffic). Lanes as FC_BN_LANES doubles, on vectors of four: left to the
 * vectoriser they ran partly in scalar pieces through the stack. */
FC_BN_ATTR static void NAME(bn_unit_moments)(const T *x, fc_int nplanes, fc_int stride,
                                             fc_int HW, double *mean_out, double *m2_out)
{
    enum { Q = FC_BN_LANES / 4 };
    NAME(v4d) acc[Q];
    double tot[FC_BN_LANES];
    memset(acc, 0, sizeof acc);
    for (fc_int n = 0; n < nplanes; n++) {
        const T *p = x + n * stride, *next = n + 1 < nplanes ? p + stride : NULL;
        fc_int i = 0;
        for (; i + FC_BN_LANES <= HW; i += FC_BN_LANES) {
            NAME(bn_prefetch_next)(next, i);
#pragma GCC unroll 4
            for (int q = 0; q < Q; q++) {
                NAME(v4d) v;
                NAME(bn_load4)(p + i + 4 * q, &v);
                acc[q] += v;
            }
        }
        for (int k = 0; i < HW; i++, k++) acc[k / 4][k % 4] += (double)p[i];
    }
    memcpy(tot, acc, sizeof tot);
    double mean = NAME(bn_lanes_sum)(tot) / (double)(nplanes * HW);
    const NAME(v4d) mv = {mean, mean, mean, mean};
    memset(acc, 0, sizeof acc);
    for (fc_int n = 0; n < nplanes; n++) {
        const T *p = x + n * stride;
        fc_int i = 0;
        for (; i + FC_BN_LANES <= HW; i += FC_BN_LANES) {
#pragma GCC unroll 4
            for (int q = 0; q < Q; q++) {
                NAME(v4d) d;
                NAME(bn_load4)(p + i + 4 * q, &d);
                d -= mv;
                acc[q] += d * d;
            }
        }
        for (int k = 0; i < HW; i++, k++) {
            double d = (double)p[i] - mean;
            acc[k / 4][k % 4] += d * d;
        }
    }
    memcpy(tot, acc, sizeof tot);
    *mean_out = mean;
    *m2_out = NAME(bn_lanes_sum)(tot);
}
#endif

/* The training forward's normalised value before its ReLU: one expression for the
 * forward pass and for the backward's recomputed mask, so both compile to the same
 * operations (the same contraction into a multiply-add) and agree bit for bit. */
FC_BN_ATTR static inline T NAME(bn_affine)(T x, T m, T s, T b)
{
    return (x - m) * s + b;
}

/* out = g where y > 0, else 0: the fused ReLU's mask. Both operands are
 * loaded before the select, so it compiles to a vector blend (no branch to
 * mispredict on random signs). */
FC_BN_ATTR static inline void NAME(bn_mask)(const T *g, const T *y, T *out, fc_int n)
{
    for (fc_int i = 0; i < n; i++) {
        T gv = g[i], yv = y[i];
        out[i] = yv > (T)0 ? gv : (T)0;
    }
}

/* The same mask recomputed from the forward's input x and its coefficients (m, s, b):
 * bn_affine(x) > 0 exactly where y > 0. Rows of coefficients (one value per element)
 * in row mode (step 1), else one value each (step 0). */
FC_BN_ATTR static inline void NAME(bn_mask_x)(const T *g, const T *x, T *out, fc_int n,
                                              const T *m, const T *s, const T *b, int step)
{
    if (step) {
        for (fc_int i = 0; i < n; i++) {
            T gv = g[i];
            out[i] = NAME(bn_affine)(x[i], m[i], s[i], b[i]) > (T)0 ? gv : (T)0;
        }
    } else {
        const T mv = m[0], sv = s[0], bv = b[0];
        for (fc_int i = 0; i < n; i++) {
            T gv = g[i];
            out[i] = NAME(bn_affine)(x[i], mv, sv, bv) > (T)0 ? gv : (T)0;
        }
    }
}

/* out = g of n elements masked by the fused ReLU: y (offset off) or the recomputed
 * mask on single coefficients. */
FC_BN_ATTR static inline void NAME(bn_relu_mask)(const BN_RELU *r, const T *g, const T *x,
                                                 fc_int off, T *out, fc_int n)
{
    if (r->y)
        NAME(bn_mask)(g, r->y + off, out, n);
    else
        NAME(bn_mask_x)(g, x, out, n, r->xm[0], r->xm[1], r->xm[2], 0);
}

static inline int NAME(bn_relu_on)(const BN_RELU *r)
{
    return r->y != NULL || r->xm[0] != NULL;
}

/* Adds g and g * (x - mean) of n elements into the lanes (lane = i % LANES), each
 * lane's operations in the scalar order. Written on vectors of four lanes: left to
 * the vectoriser (lanes behind pointers that may alias g and x under
 * -fno-strict-aliasing) it ran in scalar pieces through the stack, at half the speed. */
FC_BN_ATTR static inline void NAME(bn_acc_grad)(const T *g, const T *x, fc_int n, double mean,
                                                double *sg_io, double *sgx_io)
{
    NAME(v4d) sg[FC_BN_LANES / 4], sgx[FC_BN_LANES / 4];
    const NAME(v4d) mv = {mean, mean, mean, mean};
    memcpy(sg, sg_io, sizeof sg);
    memcpy(sgx, sgx_io, sizeof sgx);
    fc_int i = 0;
    for (; i + FC_BN_LANES <= n; i += FC_BN_LANES) {
#pragma GCC unroll 4
        for (int q = 0; q < FC_BN_LANES / 4; q++) {
            NAME(v4d) gd, xd;
            NAME(bn_load4)(g + i + 4 * q, &gd);
            NAME(bn_load4)(x + i + 4 * q, &xd);
            sg[q] += gd;
            sgx[q] += gd * (xd - mv);
        }
    }
    memcpy(sg_io, sg, sizeof sg);
    memcpy(sgx_io, sgx, sizeof sgx);
    for (int k = 0; i < n; i++, k++) {
        double gd = (double)g[i];
        sg_io[k] += gd;
        sgx_io[k] += gd * ((double)x[i] - mean);
    }
}

#ifndef FC_BN_AVX512
/* sum(g') and sum(g' * (x - mean)) over the unit, where g' = g, or g masked
 * to 0 where a fused ReLU's output was not positive (bn_relu_mask). The masked
 * values go through a small buffer in blocks of FC_BN_BLOCK (a multiple of the
 * lane count, so both cases fill the lanes alike): a select between a float and
 * a double lane did not vectorise. gout (offset as g; may be NULL): receives g'
 * where there is a mask. */
FC_BN_ATTR static void NAME(bn_unit_grad_sums)(const T *g, const T *x, const BN_RELU *relu,
                                               T *gout, fc_int nplanes, fc_int stride, fc_int HW,
                                               double mean, double *sg_out, double *sgx_out)
{
    double sg[FC_BN_LANES] = {0}, sgx[FC_BN_LANES] = {0};
    T buf[FC_BN_BLOCK];
    for (fc_int n = 0; n < nplanes; n++) {
        const T *gp = g + n * stride, *xp = x + n * stride;
        NAME(bn_prefetch_segment)(n + 1 < nplanes ? gp + stride : NULL, HW);
        NAME(bn_prefetch_segment)(n + 1 < nplanes ? xp + stride : NULL, HW);
        if (!NAME(bn_relu_on)(relu)) {
            NAME(bn_acc_grad)(gp, xp, HW, mean, sg, sgx);
            continue;
        }
        for (fc_int i = 0; i < HW; i += FC_BN_BLOCK) {
            fc_int len = HW - i < FC_BN_BLOCK ? HW - i : FC_BN_BLOCK;
            T *masked = gout ? gout + n * stride + i : buf;
            NAME(bn_relu_mask)(relu, gp + i, xp + i, n * stride + i, masked, len);
            NAME(bn_acc_grad)(masked, xp + i, len, mean, sg, sgx);
        }
    }
    *sg_out = NAME(bn_lanes_sum)(sg);
    *sgx_out = NAME(bn_lanes_sum)(sgx);
}
#endif

#ifndef FC_BN_AVX512
/* One plane: y = (x - m) * s + b, + r (a residual, when r is not NULL), then
 * max(y, 0) when relu. y may alias x. The residual is added to the rounded
 * normalised value, as a separate add kernel would. */
FC_BN_ATTR static void NAME(bn_plane_apply)(const T *x, T *y, fc_int HW, T m, T s, T b, int relu,
                                            const T *r)
{
    if (r && relu) {
        for (fc_int i = 0; i < HW; i++) {
            T v = NAME(bn_affine)(x[i], m, s, b);
            v = v + r[i];
            y[i] = v > (T)0 ? v : (T)0;
        }
    } else if (r) {
        for (fc_int i = 0; i < HW; i++) {
            T v = NAME(bn_affine)(x[i], m, s, b);
            y[i] = v + r[i];
        }
    } else if (relu) {
        for (fc_int i = 0; i < HW; i++) {
            T v = NAME(bn_affine)(x[i], m, s, b);
            y[i] = v > (T)0 ? v : (T)0;
        }
    } else {
        for (fc_int i = 0; i < HW; i++) y[i] = NAME(bn_affine)(x[i], m, s, b);
    }
}
#endif

#ifndef FC_BN_AVX512
/* One plane of the input gradient: gx = a * g' + ((x - m) * d + e), with g'
 * as in bn_unit_grad_sums (d = e = 0 for the inference-mode backward, which
 * takes the short loop; off: the plane's offset in the ReLU's y). With a ReLU,
 * g' is first written to gx (the mask pass), then updated in place while it is
 * in L1: the same loop as without one, so the same bits as masking beforehand. */
FC_BN_ATTR static void NAME(bn_plane_grad)(const T *g, const T *x, const BN_RELU *relu,
                                           fc_int off, T *gx, fc_int HW, T a, T m, T d, T e,
                                           int affine_only)
{
    if (NAME(bn_relu_on)(relu)) {
        NAME(bn_relu_mask)(relu, g, x, off, gx, HW);
        g = gx;
    }
    if (affine_only) {
        for (fc_int i = 0; i < HW; i++) gx[i] = a * g[i];
    } else {
        for (fc_int i = 0; i < HW; i++) gx[i] = a * g[i] + ((x[i] - m) * d + e);
    }
}
#endif

/* Per-channel totals of column mode's per-column sums (channel c's HW columns from
 * c * HW), columns in order, to out[c * ps]. */
FC_BN_ATTR static inline void NAME(bn_cols_totals)(const double *acc, fc_int nc, fc_int HW,
                                                   double *out, fc_int ps)
{
    for (fc_int c = 0; c < nc; c++) {
        double t = 0.0;
        for (fc_int i = 0; i < HW; i++) t += acc[c * HW + i];
        out[c * ps] = t;
    }
}

#ifndef FC_BN_AVX512
/* Column mode of the reductions, for small planes (HW < FC_BN_ROW_HW), where a
 * unit's segments would be a few elements each: channels c0 .. c0 + nc - 1 of
 * all N images (x offset to channel c0 of image 0; images L = C * HW apart),
 * accumulated per column (nc * HW <= FC_BN_COLS columns, each its own lane)
 * over the images in order, then per channel over its HW columns in order.
 * Writes (mean, M2) of channel c0 + c to part[c * ps], part[c * ps + 1]: the exact
 * two-pass over the channel's part in these N images. */
FC_BN_ATTR static void NAME(bn_cols_moments)(const T *x, fc_int N, fc_int L, fc_int HW,
                                             fc_int nc, double *part, fc_int ps)
{
    double acc[FC_BN_COLS], mrow[FC_BN_COLS];
    const fc_int w = nc * HW;
    for (fc_int j = 0; j < w; j++) acc[j] = 0.0;
    for (fc_int n = 0; n < N; n++) {
        const T *p = x + n * L;
        NAME(bn_prefetch_segment)(n + 1 < N ? p + L : NULL, w);
        for (fc_int j = 0; j < w; j++) acc[j] += (double)p[j];
    }
    NAME(bn_cols_totals)(acc, nc, HW, part, ps);
    for (fc_int c = 0; c < nc; c++) {
        double m = part[c * ps] / (double)(N * HW);
        part[c * ps] = m;
        for (fc_int i = 0; i < HW; i++) mrow[c * HW + i] = m;
    }
    for (fc_int j = 0; j < w; j++) acc[j] = 0.0;
    for (fc_int n = 0; n < N; n++) {
        const T *p = x + n * L;
        for (fc_int j = 0; j < w; j++) {
            double d = (double)p[j] - mrow[j];
            acc[j] += d * d;
        }
    }
    NAME(bn_cols_totals)(acc, nc, HW, part + 1, ps);
}

/* Column mode of bn_unit_grad_sums over N images: (sum g', sum g' (x - mean)) of
 * channel c0 + c to part[c * ps], part[c * ps + 1]; g, x (and gout, as there) point
 * at channel c0 of the first image, relu->y (if set) at that image, mean at channel
 * c0's mean. */
FC_BN_ATTR static void NAME(bn_cols_grad_sums)(const T *g, const T *x, const BN_RELU *relu,
                                               T *gout, fc_int c0, fc_int N, fc_int L, fc_int HW,
                                               fc_int nc, const double *mean, double *part,
                                               fc_int ps)
{
    double sg[FC_BN_COLS], sgx[FC_BN_COLS], mrow[FC_BN_COLS];
    const fc_int w = nc * HW;
    for (fc_int c = 0; c < nc; c++)
        for (fc_int i = 0; i < HW; i++) mrow[c * HW + i] = mean[c];
    for (fc_int j = 0; j < w; j++) sg[j] = sgx[j] = 0.0;
    T buf[FC_BN_COLS];
    for (fc_int n = 0; n < N; n++) {
        const T *gp = g + n * L, *xp = x + n * L;
        NAME(bn_prefetch_segment)(n + 1 < N ? gp + L : NULL, w);
        NAME(bn_prefetch_segment)(n + 1 < N ? xp + L : NULL, w);
        if (NAME(bn_relu_on)(relu)) {
            /* the coefficient rows are one image long: offset c0 * HW; y: the element's */
            const fc_int o = c0 * HW;
            T *masked = gout ? gout + n * L : buf;
            if (relu->y)
                NAME(bn_mask)(gp, relu->y + n * L + o, masked, w);
            else
                NAME(bn_mask_x)(gp, xp, masked, w, relu->xm[0] + o, relu->xm[1] + o,
                                relu->xm[2] + o, 1);
            gp = masked;
        }
        for (fc_int j = 0; j < w; j++) {
            double gd = (double)gp[j];
            sg[j] += gd;
            sgx[j] += gd * ((double)xp[j] - mrow[j]);
        }
    }
    NAME(bn_cols_totals)(sg, nc, HW, part, ps);
    NAME(bn_cols_totals)(sgx, nc, HW, part + 1, ps);
}
#endif

#ifndef FC_BN_AVX512
/* Row mode, for small planes (HW < FC_BN_ROW_HW), where a per-plane loop of a
 * few elements would cost more in loop overhead than in arithmetic: one image
 * (L = C * HW contiguous elements) per call, with the per-channel
 * coefficients expanded to rows of length L. Same arithmetic as the plane
 * routines, element by element; the mode depends on HW only. */
FC_BN_ATTR static void NAME(bn_row_apply)(const T *x, T *y, fc_int L, const T *m, const T *s,
                                          const T *b, int relu, const T *r)
{
    if (r && relu) {
        for (fc_int i = 0; i < L; i++) {
            T v = NAME(bn_affine)(x[i], m[i], s[i], b[i]);
            v = v + r[i];
            y[i] = v > (T)0 ? v : (T)0;
        }
    } else if (r) {
        for (fc_int i = 0; i < L; i++) {
            T v = NAME(bn_affine)(x[i], m[i], s[i], b[i]);
            y[i] = v + r[i];
        }
    } else if (relu) {
        for (fc_int i = 0; i < L; i++) {
            T v = NAME(bn_affine)(x[i], m[i], s[i], b[i]);
            y[i] = v > (T)0 ? v : (T)0;
        }
    } else {
        for (fc_int i = 0; i < L; i++) y[i] = NAME(bn_affine)(x[i], m[i], s[i], b[i]);
    }
}
#endif

#ifndef FC_BN_AVX512
FC_BN_ATTR static void NAME(bn_row_grad)(const T *g, const T *x, const BN_RELU *relu,
                                         fc_int off, T *gx, fc_int L, const T *a, const T *m,
                                         const T *d, const T *e, int affine_only)
{
    /* the mask in the same loop as the affine map (gx is written once); coefficient
     * rows are one image long (offset 0), y is offset by the image. The loop is
     * written once per mask source so that each one vectorises. */
#define FC_BN_ROW_GRAD(MASKED)                                                        \
    do {                                                                              \
        if (affine_only)                                                              \
            for (fc_int i = 0; i < L; i++) {                                          \
                const T gi = g[i];                                                    \
                gx[i] = a[i] * (MASKED);                                              \
            }                                                                         \
        else                                                                          \
            for (fc_int i = 0; i < L; i++) {                                          \
                const T gi = g[i];                                                    \
                gx[i] = a[i] * (MASKED) + ((x[i] - m[i]) * d[i] + e[i]);              \
            }                                                                         \
    } while (0)
    const T *y = relu->y ? relu->y + off : NULL;
    const T *mm = relu->xm[0], *ms = relu->xm[1], *mb = relu->xm[2];
    if (y)
        FC_BN_ROW_GRAD(y[i] > (T)0 ? gi : (T)0);
    else if (mm)
        FC_BN_ROW_GRAD(NAME(bn_affine)(x[i], mm[i], ms[i], mb[i]) > (T)0 ? gi : (T)0);
    else
        FC_BN_ROW_GRAD(gi);
#undef FC_BN_ROW_GRAD
}
#endif

#ifdef FC_BN_AVX512
#include "batchnorm_avx512.h"
#endif

/* Row mode by column blocks: columns [j0, j1) of N images (x, y, r, g, gx and the
 * ReLU's y at image 0, images L apart; coefficient rows one image long), each image's
 * part through bn_row_apply / bn_row_grad (this target's). The drivers share the (image
 * run, column block) pieces out among the threads: a block's coefficient rows stay in
 * L1 while its images go by, where a whole image's rows came from L2 (up to seven
 * loads of them per vector of data). */
FC_BN_ATTR static void NAME(bn_block_apply)(const T *x, T *y, fc_int N, fc_int L, fc_int j0,
                                            fc_int j1, const T *m, const T *s, const T *b,
                                            int relu, const T *r)
{
    for (fc_int n = 0; n < N; n++) {
        const fc_int o = n * L + j0;
        NAME(bn_row_apply)(x + o, y + o, j1 - j0, m + j0, s + j0, b + j0, relu,
                           r ? r + o : NULL);
    }
}

FC_BN_ATTR static void NAME(bn_block_grad)(const T *g, const T *x, const BN_RELU *relu, T *gx,
                                           fc_int N, fc_int L, fc_int j0, fc_int j1, const T *a,
                                           const T *m, const T *d, const T *e, int affine_only)
{
    BN_RELU r = *relu;   /* the rows from column j0; y stays at image 0 (offset o) */
    for (int k = 0; k < 3; k++)
        if (r.xm[k])
            r.xm[k] += j0;
    for (fc_int n = 0; n < N; n++) {
        const fc_int o = n * L + j0;
        NAME(bn_row_grad)(g + o, x + o, &r, o, gx + o, j1 - j0, a + j0, m + j0, d + j0,
                          e + j0, affine_only);
    }
}
