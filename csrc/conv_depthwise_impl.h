/* Type- and target-generic body of csrc/conv_depthwise.c, included once per
 * (element type, SIMD path) with T, NAME(base) and FC_DW_ATTR defined.
 *
 * Every loop runs along an output row with the stride a compile-time constant
 * (1, 2, or the general value), so the compiler vectorises the stride-1 and
 * stride-2 rows: under FC_DW_ATTR = target("avx2,fma") with 8-wide FMAs, in
 * the portable twin with the baseline SIMD. Both paths add in the same order
 * (the AVX2 build may fuse a multiply and an add). */

/* Output columns [lo, hi) whose tap at input column ow * sw + off is inside [0, W). */
static inline __attribute__((always_inline)) void
NAME(dw_cols)(fc_int off, fc_int sw, fc_int W, fc_int Wo, fc_int *lo, fc_int *hi)
{
    fc_int a = off < 0 ? (-off + sw - 1) / sw : 0;
    fc_int b = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
    *lo = a;
    *hi = b < Wo ? b : Wo;
}

static inline __attribute__((always_inline)) void
NAME(dw_fwd_rows)(const fc_conv_geom *g, const fc_int sw, const T *x, const T *w, T b, T *y)
{
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        T *yr = y + oh * g->Wo;
        for (fc_int ow = 0; ow < g->Wo; ow++) yr[ow] = b;
        for (fc_int r = 0; r < g->R; r++) {
            fc_int ih = oh * g->stride_h - g->pad_top + r * g->dil_h;
            if (ih < 0 || ih >= g->H) continue;
            const T *xr = x + ih * g->W;
            for (fc_int s = 0; s < g->S; s++) {
                fc_int off = s * g->dil_w - g->pad_left, lo, hi;
                NAME(dw_cols)(off, sw, g->W, g->Wo, &lo, &hi);
                const T wv = w[r * g->S + s];
                const T *xs = xr + off;
                for (fc_int ow = lo; ow < hi; ow++) yr[ow] += wv * xs[ow * sw];
            }
        }
    }
}

FC_DW_ATTR static void NAME(dw_forward)(const fc_conv_geom *g, const T *x, const T *w, T b, T *y)
{
    if (g->stride_w == 1)
        NAME(dw_fwd_rows)(g, 1, x, w, b, y);
    else if (g->stride_w == 2)
        NAME(dw_fwd_rows)(g, 2, x, w, b, y);
    else
        NAME(dw_fwd_rows)(g, g->stride_w, x, w, b, y);
}

/* dx (H, W) += the transposed depthwise conv of `mult` dy planes with their filters. */
static inline __attribute__((always_inline)) void
NAME(dw_bwd_rows)(const fc_conv_geom *g, const fc_int sw, fc_int mult, const T *dy,
                  const T *w, T *dx)
{
    const fc_int P = g->Ho * g->Wo, RS = g->R * g->S;
    for (fc_int j = 0; j < mult; j++) {
        for (fc_int oh = 0; oh < g->Ho; oh++) {
            const T *dr = dy + j * P + oh * g->Wo;
            for (fc_int r = 0; r < g->R; r++) {
                fc_int ih = oh * g->stride_h - g->pad_top + r * g->dil_h;
                if (ih < 0 || ih >= g->H) continue;
                T *xr = dx + ih * g->W;
                for (fc_int s = 0; s < g->S; s++) {
                    fc_int off = s * g->dil_w - g->pad_left, lo, hi;
                    NAME(dw_cols)(off, sw, g->W, g->Wo, &lo, &hi);
                    const T wv = w[j * RS + r * g->S + s];
                    T *xs = xr + off;
                    for (fc_int ow = lo; ow < hi; ow++) xs[ow * sw] += wv * dr[ow];
                }
            }
        }
    }
}

FC_DW_ATTR static void NAME(dw_backward_data)(const fc_conv_geom *g, fc_int mult, const T *dy,
                                              const T *w, T *dx)
{
    memset(dx, 0, (size_t)(g->H * g->W) * sizeof(T));
    if (g->stride_w == 1)
        NAME(dw_bwd_rows)(g, 1, mult, dy, w, dx);
    else if (g->stride_w == 2)
        NAME(dw_bwd_rows)(g, 2, mult, dy, w, dx);
    else
        NAME(dw_bwd_rows)(g, g->stride_w, mult, dy, w, dx);
}

/* Eight independent partial sums per tap: the compiler vectorises them without
 * reassociating, so the result is the same on every thread count. */
#ifndef FC_DW_LANES
#define FC_DW_LANES 8
#endif

static inline __attribute__((always_inline)) T NAME(dw_lane_sum)(const T *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static inline __attribute__((always_inline)) void
NAME(dw_bw_rows)(const fc_conv_geom *g, const fc_int sw, fc_int nimg, const T *x, fc_int xs,
                 const T *dy, fc_int dys, T *dw, T *db)
{
    for (fc_int r = 0; r < g->R; r++) {
        for (fc_int s = 0; s < g->S; s++) {
            T acc[FC_DW_LANES] = {0};
            fc_int off = s * g->dil_w - g->pad_left, lo, hi;
            NAME(dw_cols)(off, sw, g->W, g->Wo, &lo, &hi);
            for (fc_int n = 0; n < nimg; n++) {
                for (fc_int oh = 0; oh < g->Ho; oh++) {
                    fc_int ih = oh * g->stride_h - g->pad_top + r * g->dil_h;
                    if (ih < 0 || ih >= g->H) continue;
                    const T *dr = dy + n * dys + oh * g->Wo;
                    const T *xr = x + n * xs + ih * g->W + off;
                    fc_int ow = lo;
                    for (; ow + FC_DW_LANES <= hi; ow += FC_DW_LANES)
                        for (int l = 0; l < FC_DW_LANES; l++)
                            acc[l] += dr[ow + l] * xr[(ow + l) * sw];
                    for (int l = 0; ow < hi; ow++, l++)
                        acc[l] += dr[ow] * xr[ow * sw];
                }
            }
            dw[r * g->S + s] += NAME(dw_lane_sum)(acc);
        }
    }
    if (db) {
        T acc[FC_DW_LANES] = {0};
        const fc_int P = g->Ho * g->Wo;
        for (fc_int n = 0; n < nimg; n++) {
            const T *d = dy + n * dys;
            fc_int i = 0;
            for (; i + FC_DW_LANES <= P; i += FC_DW_LANES)
                for (int l = 0; l < FC_DW_LANES; l++) acc[l] += d[i + l];
            for (int l = 0; i < P; i++, l++) acc[l] += d[i];
        }
        *db += NAME(dw_lane_sum)(acc);
    }
}

FC_DW_ATTR static void NAME(dw_backward_weight)(const fc_conv_geom *g, fc_int nimg, const T *x,
                                                fc_int xs, const T *dy, fc_int dys, T *dw, T *db)
{
    if (g->stride_w == 1)
        NAME(dw_bw_rows)(g, 1, nimg, x, xs, dy, dys, dw, db);
    else if (g->stride_w == 2)
        NAME(dw_bw_rows)(g, 2, nimg, x, xs, dy, dys, dw, db);
    else
        NAME(dw_bw_rows)(g, g->stride_w, nimg, x, xs, dy, dys, dw, db);
}
