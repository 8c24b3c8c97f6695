/*
 * conv_depthwise_rows.c -- depthwise convolution vectorised along output rows
 * (MobileNet's 64x64 .. 8x8 maps), see fastconv.h.
 *
 * Why: the channel-interleaved small-plane path (conv_depthwise_small.c)
 * spends most of its time transposing 8 planes in and out of its scratch, and
 * its scratch (up to 70 KB of float) does not stay in L1. Once an output row
 * is at least one vector wide, 8 neighbouring output pixels of one channel
 * are one vector: each tap is an unaligned load of a shifted input row and one
 * multiply-add, with no transposes. The plane is first copied into a small
 * zero-padded buffer (a few KB, L1-resident) so that no lane needs an edge
 * test; the padding is written once per call and stays zero because every
 * plane writes the same interior positions. Stride 2 deinterleaves each row
 * into its even and odd columns during that copy, so the taps stay contiguous
 * loads (tap s reads half s & 1 at ow + s / 2). Backward-data (stride 1
 * only) is the same kernel over dy, padded by R-1-pt / S-1-pl, with the filter
 * turned 180 degrees; the fill can zero-upsample (up == 2) but that pass is
 * not taken (see dwr_plan_for). Backward-weight fills x the forward way and
 * runs the taps as dot products against dy, one vector accumulator per tap.
 *
 * Each plane is computed alone, lanes in a fixed order: results do not depend
 * on the thread split. Body in conv_depthwise_rows_impl.h, built four times:
 * float / double x AVX2+FMA / portable, chosen per call by fc_simd_path().
 */
#include <string.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_DWR_HAVE_AVX2 1
#endif

/* Output pixels per vector. */
#define FC_DWR_VL 8
/* Largest filter. */
#define FC_DWR_MAXTAP 49
/* Largest padded buffer (elements, on the stack of each call: 24 KB of float,
 * 48 KB of double), enough for 64x64 planes with 3x3 filters. */
#define FC_DWR_MAXBUF 6144
/* Narrowest output row that takes this path (narrower maps: the
 * channel-interleaved small path, whose vectors are full there). */
#define FC_DWR_MIN_WO 8
/* Below this row width the channel-interleaved path is preferred where it fits. */
#define FC_DWR_PREFER_WO 32

/* Padded-plane geometry of one pass: source pixel (i, j) of an Hs x Ws plane
 * sits at padded (top + i * up, left + j * up); output (oh, ow) tap (r, s)
 * reads padded (oh * sw + r, ow * sw + s). The buffer has Hb rows of Wb
 * elements; sw == 2 keeps padded column c of a row at (c & 1) * (Wb / 2) + c / 2. */
typedef struct dwr_plan {
    fc_int Hs, Ws, up, top, left, Ho, Wo, sw, R, S, Hb, Wb, nv;
} dwr_plan;

static inline fc_int dwr_max(fc_int a, fc_int b) { return a > b ? a : b; }

static int dwr_make(dwr_plan *P, fc_int Hs, fc_int Ws, fc_int up, fc_int top, fc_int left,
                    fc_int Ho, fc_int Wo, fc_int sw, fc_int R, fc_int S)
{
    if (top < 0 || left < 0 || Ho < 1 || Wo < FC_DWR_MIN_WO || Hs < 1 || Ws < 1) return 0;
    P->Hs = Hs, P->Ws = Ws, P->up = up, P->top = top, P->left = left;
    P->Ho = Ho, P->Wo = Wo, P->sw = sw, P->R = R, P->S = S;
    P->nv = (Wo + FC_DWR_VL - 1) / FC_DWR_VL;
    /* Every column the fill writes and every column a full vector of taps reads. */
    if (sw == 1)
        P->Wb = dwr_max(left + (Ws - 1) * up + 1, P->nv * FC_DWR_VL + S - 1);
    else
        P->Wb = 2 * dwr_max((left + (Ws - 1) * up) / 2 + 1, P->nv * FC_DWR_VL + (S - 1) / 2);
    P->Hb = dwr_max(top + (Hs - 1) * up + 1, (Ho - 1) * sw + R);
    return P->Hb * P->Wb <= FC_DWR_MAXBUF;
}

/* The geometry of one pass (0 forward, 1 backward-data, 2 backward-weight: the
 * forward layout of x, read against dy), or 0. */
static int dwr_plan_for(const fc_conv_geom *g, int pass, dwr_plan *P)
{
    if (g->K != g->C || g->stride_h != g->stride_w || (g->stride_w != 1 && g->stride_w != 2) ||
        g->dil_h != 1 || g->dil_w != 1 || g->R * g->S > FC_DWR_MAXTAP || g->pad_top < 0 ||
        g->pad_left < 0 || g->pad_top >= g->R || g->pad_left >= g->S || pass < 0 || pass > 2)
        return 0;
    /* Backward-data at stride 2 would run on the zero-upsampled gradient: three
     * quarters of its multiply-adds hit zeros and its fill is a scalar scatter,
     * slower than the channel-interleaved and buffered paths. */
    if (pass == 1 && g->stride_w != 1) return 0;
    /* Backward-weight measured faster than the channel-interleaved path only on
     * rows of 32 and more (MobileNet: 1.35x at 32x32, none at 16x16, slower on
     * 8x8, where the per-filter call, fill and lane sums weigh more); larger
     * planes keep the buffered path, against which it was not measured. */
    if (pass == 2 && (g->Wo < 32 || g->H * g->W > 1024)) return 0;
    /* Forward and backward-data on rows under 32 wide go to the channel-interleaved
     * path where it fits: measured (one thread, batch 64) 64 ch @16x16 748 -> 648 us,
     * 32 ch @32x32 stride 2 852 -> 599, 128 ch @8x8 482 -> 338, 64 ch @16x16
     * stride 2 456 -> 246; on 32-wide rows this path stays ahead (630 against 697). */
    if (pass != 2 && (pass == 0 ? g->Wo : g->W) < FC_DWR_PREFER_WO && fc_depthwise_small_fits(g, pass))
        return 0;
    if (pass == 1)
        return dwr_make(P, g->Ho, g->Wo, g->stride_w, g->R - 1 - g->pad_top,
                        g->S - 1 - g->pad_left, g->H, g->W, 1, g->R, g->S);
    return dwr_make(P, g->H, g->W, 1, g->pad_top, g->pad_left, g->Ho, g->Wo, g->stride_w, g->R,
                    g->S);
}

int fc_depthwise_rows_fits(const fc_conv_geom *g, int pass)
{
    dwr_plan P;
    return dwr_plan_for(g, pass, &P);
}

#pragma GCC diagnostic ignored "-Wpsabi"
/* Row copies are a few vectors long: no memcpy / memset calls for them. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#define T float
#define DWR_ITYPE int
#define DWR_ACT fc_activation_forward_f32
#define FC_DWR_ATTR
#define NAME(base) base##_f32_portable
#include "conv_depthwise_rows_impl.h"
#undef NAME
#undef FC_DWR_ATTR
#define NAME(base) base##_f32_avx2
#define FC_DWR_ATTR __attribute__((target("avx2,fma")))
#ifdef FC_DWR_HAVE_AVX2
#include "conv_depthwise_rows_impl.h"
#endif
#undef NAME
#undef FC_DWR_ATTR
#undef T
#undef DWR_ITYPE
#undef DWR_ACT

#define T double
#define DWR_ITYPE long long
#define DWR_ACT fc_activation_forward_f64
#define FC_DWR_ATTR
#define NAME(base) base##_f64_portable
#include "conv_depthwise_rows_impl.h"
#undef NAME
#undef FC_DWR_ATTR
#define NAME(base) base##_f64_avx2
#define FC_DWR_ATTR __attribute__((target("avx2,fma")))
#ifdef FC_DWR_HAVE_AVX2
#include "conv_depthwise_rows_impl.h"
#endif
#undef NAME
#undef FC_DWR_ATTR
#undef T
#undef DWR_ITYPE
#undef DWR_ACT

static inline int dwr_avx2(void)
{
#ifdef FC_DWR_HAVE_AVX2
    return fc_simd_path() >= FC_SIMD_AVX2;
#else
    return 0;
#endif
}

#ifdef FC_DWR_HAVE_AVX2
#define DWR_CALL(fn, ty, ...) \
    (dwr_avx2() ? fn##_##ty##_avx2(__VA_ARGS__) : fn##_##ty##_portable(__VA_ARGS__))
#else
#define DWR_CALL(fn, ty, ...) fn##_##ty##_portable(__VA_ARGS__)
#endif

void fc_depthwise_rows_forward_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                   const float *x, const float *w, const float *bias, int act,
                                   float act_param, float *y)
{
    dwr_plan P;
    if (dwr_plan_for(g, 0, &P)) DWR_CALL(dwr_forward, f32, g, &P, N, q0, q1, x, w, bias, act, act_param, y);
}

void fc_depthwise_rows_forward_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                   const double *x, const double *w, const double *bias, int act,
                                   double act_param, double *y)
{
    dwr_plan P;
    if (dwr_plan_for(g, 0, &P)) DWR_CALL(dwr_forward, f64, g, &P, N, q0, q1, x, w, bias, act, act_param, y);
}

void fc_depthwise_rows_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                         const float *dy, const float *w, float *dx)
{
    dwr_plan P;
    if (dwr_plan_for(g, 1, &P)) DWR_CALL(dwr_backward_data, f32, g, &P, N, q0, q1, dy, w, dx);
}

void fc_depthwise_rows_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                         const double *dy, const double *w, double *dx)
{
    dwr_plan P;
    if (dwr_plan_for(g, 1, &P)) DWR_CALL(dwr_backward_data, f64, g, &P, N, q0, q1, dy, w, dx);
}

void fc_depthwise_rows_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                           fc_int x_stride, const float *dy, fc_int dy_stride,
                                           float *out)
{
    dwr_plan P;
    if (dwr_plan_for(g, 2, &P)) DWR_CALL(dwr_backward_weight, f32, &P, nimg, x, x_stride, dy, dy_stride, out);
}

void fc_depthwise_rows_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                           fc_int x_stride, const double *dy, fc_int dy_stride,
                                           double *out)
{
    dwr_plan P;
    if (dwr_plan_for(g, 2, &P)) DWR_CALL(dwr_backward_weight, f64, &P, nimg, x, x_stride, dy, dy_stride, out);
}
