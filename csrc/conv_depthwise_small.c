/*
 * conv_depthwise_small.c -- depthwise convolution on small planes (late
 * MobileNet layers, 32x32 .. 2x2), vectorised across channels; see fastconv.h.
 *
 * Why: on a plane of up to ~1000 pixels the per-plane work of the buffered
 * path (conv_depthwise.c: building short padded rows, picking a layout,
 * copying rows of 2 .. 8 elements) costs more than the arithmetic. Here 8
 * channel planes of one image are transposed into one channel-interleaved,
 * zero-padded scratch plane ((Hp, Wp, 8): one 8-lane vector per pixel), so
 * every output pixel of the 8 channels is R*S vector multiply-adds with the
 * per-channel weights pre-interleaved into vectors, and no lane ever needs an
 * edge test. The padding of the scratch plane is written once per call and
 * stays zero, since each block writes the same interior positions.
 *
 * Forward: y = bias + sum of taps (tap order r, s) at output (oh, ow) reading
 * scratch (oh * sw + r, ow * sw + s). Backward-data: the same kernel with
 * stride 1 over dy zero-upsampled by the stride, padded by R-1-pt / S-1-pl,
 * with the filter turned 180 degrees. Backward-weight: per-tap 8-lane
 * accumulators, one lane per channel, summed over images and output pixels in
 * order -- the order depends on the geometry and on the caller's image run
 * only, so results are bitwise independent of the thread count.
 *
 * Body in conv_depthwise_small_impl.h, built four times: float / double x
 * AVX2+FMA / portable, chosen per call by fc_simd_path(). The 8-lane vector is
 * one ymm for float, two for double (two / four xmm in the portable twin).
 */
#include <string.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_DWS_HAVE_AVX2 1
#endif

/* Channels per block: lanes of one vector. */
#define FC_DWS_CB 8
/* Largest padded scratch plane (pixels), largest source and output planes and
 * taps: bounds the stack scratch (32x32 planes padded by 1: 1156 + 1024
 * vectors, 70 KB of floats / 140 KB of doubles). */
#define FC_DWS_MAXPIX 1156
#define FC_DWS_MAXOUT 1024
#define FC_DWS_MAXTAP 25
/* Largest input plane (H * W) that takes this path: above it, the buffered
 * path of conv_depthwise.c keeps its rows in L1 and the scratch here would not. */
#define FC_DWS_MAX_PLANE 1024

/* Scratch geometry shared by all passes: a source plane of Hs x Ws is written
 * at rows top + i * up, columns left + j * up of an Hp x Wp scratch plane; the
 * output (Ho, Wo) reads scratch (oh * sw + r, ow * sw + s). */
typedef struct dws_plan {
    fc_int Hs, Ws, up, top, left, Hp, Wp, Ho, Wo, sw, R, S;
} dws_plan;

static inline fc_int dws_max(fc_int a, fc_int b) { return a > b ? a : b; }

static int dws_make(dws_plan *P, fc_int Hs, fc_int Ws, fc_int up, fc_int top, fc_int left,
                    fc_int Ho, fc_int Wo, fc_int sw, fc_int R, fc_int S)
{
    if (top < 0 || left < 0 || Ho < 1 || Wo < 1 || Hs < 1 || Ws < 1) return 0;
    P->Hs = Hs, P->Ws = Ws, P->up = up, P->top = top, P->left = left;
    P->Ho = Ho, P->Wo = Wo, P->sw = sw, P->R = R, P->S = S;
    P->Hp = dws_max(top + (Hs - 1) * up + 1, (Ho - 1) * sw + R);
    P->Wp = dws_max(left + (Ws - 1) * up + 1, (Wo - 1) * sw + S);
    return P->Hp * P->Wp <= FC_DWS_MAXPIX && Ho * Wo <= FC_DWS_MAXOUT && Hs * Ws <= FC_DWS_MAXOUT;
}

/* The geometry of one pass (0 forward, 1 backward-data, 2 backward-weight), or 0. */
static int dws_plan_for(const fc_conv_geom *g, int pass, dws_plan *P)
{
    if (g->K != g->C || g->stride_h != g->stride_w || (g->stride_w != 1 && g->stride_w != 2) ||
        g->dil_h != 1 || g->dil_w != 1 || g->R * g->S > FC_DWS_MAXTAP ||
        g->H * g->W > FC_DWS_MAX_PLANE || g->pad_top < 0 || g->pad_left < 0 ||
        g->pad_top >= g->R || g->pad_left >= g->S)
        return 0;
    if (pass == 1)
        return dws_make(P, g->Ho, g->Wo, g->stride_w, g->R - 1 - g->pad_top, g->S - 1 - g->pad_left,
                        g->H, g->W, 1, g->R, g->S);
    return dws_make(P, g->H, g->W, 1, g->pad_top, g->pad_left, g->Ho, g->Wo, g->stride_w, g->R,
                    g->S);
}

int fc_depthwise_small_fits(const fc_conv_geom *g, int pass)
{
    dws_plan P;
    return dws_plan_for(g, pass, &P);
}

fc_int fc_depthwise_small_blocks(const fc_conv_geom *g) { return (g->C + FC_DWS_CB - 1) / FC_DWS_CB; }

#pragma GCC diagnostic ignored "-Wpsabi"
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#define T float
#define DWS_ITYPE int
#define DWS_ACT fc_activation_forward_f32
#define FC_DWS_ATTR
#define NAME(base) base##_f32_portable
#include "conv_depthwise_small_impl.h"
#undef NAME
#undef FC_DWS_ATTR
#define NAME(base) base##_f32_avx2
#define FC_DWS_ATTR __attribute__((target("avx2,fma")))
#ifdef FC_DWS_HAVE_AVX2
#include "conv_depthwise_small_impl.h"
#endif
#undef NAME
#undef FC_DWS_ATTR
#undef T
#undef DWS_ITYPE
#undef DWS_ACT

#define T double
#define DWS_ITYPE long long
#define DWS_ACT fc_activation_forward_f64
#define FC_DWS_ATTR
#define NAME(base) base##_f64_portable
#include "conv_depthwise_small_impl.h"
#undef NAME
#undef FC_DWS_ATTR
#define NAME(base) base##_f64_avx2
#define FC_DWS_ATTR __attribute__((target("avx2,fma")))
#ifdef FC_DWS_HAVE_AVX2
#include "conv_depthwise_small_impl.h"
#endif
#undef NAME
#undef FC_DWS_ATTR
#undef T
#undef DWS_ITYPE
#undef DWS_ACT

static inline int dws_avx2(void)
{
#ifdef FC_DWS_HAVE_AVX2
    return fc_simd_path() >= FC_SIMD_AVX2;
#else
    return 0;
#endif
}

#ifdef FC_DWS_HAVE_AVX2
#define DWS_CALL(fn, ty, ...) \
    (dws_avx2() ? fn##_##ty##_avx2(__VA_ARGS__) : fn##_##ty##_portable(__VA_ARGS__))
#else
#define DWS_CALL(fn, ty, ...) fn##_##ty##_portable(__VA_ARGS__)
#endif

void fc_depthwise_small_forward_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                    const float *x, const float *w, const float *bias, int act,
                                    float act_param, float *y)
{
    dws_plan P;
    if (dws_plan_for(g, 0, &P)) DWS_CALL(dws_forward, f32, g, &P, N, i0, i1, x, w, bias, act, act_param, y);
}

void fc_depthwise_small_forward_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                    const double *x, const double *w, const double *bias, int act,
                                    double act_param, double *y)
{
    dws_plan P;
    if (dws_plan_for(g, 0, &P)) DWS_CALL(dws_forward, f64, g, &P, N, i0, i1, x, w, bias, act, act_param, y);
}

void fc_depthwise_small_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                          const float *dy, const float *w, float *dx)
{
    dws_plan P;
    if (dws_plan_for(g, 1, &P)) DWS_CALL(dws_backward_data, f32, g, &P, N, i0, i1, dy, w, dx);
}

void fc_depthwise_small_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                          const double *dy, const double *w, double *dx)
{
    dws_plan P;
    if (dws_plan_for(g, 1, &P)) DWS_CALL(dws_backward_data, f64, g, &P, N, i0, i1, dy, w, dx);
}

void fc_depthwise_small_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, fc_int blk,
                                            const float *x, const float *dy, fc_int part,
                                            float *out)
{
    dws_plan P;
    if (dws_plan_for(g, 2, &P)) DWS_CALL(dws_backward_weight, f32, g, &P, nimg, blk, x, dy, part, out);
}

void fc_depthwise_small_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, fc_int blk,
                                            const double *x, const double *dy, fc_int part,
                                            double *out)
{
    dws_plan P;
    if (dws_plan_for(g, 2, &P)) DWS_CALL(dws_backward_weight, f64, g, &P, nimg, blk, x, dy, part, out);
}
