/*
 * conv_depthwise.c -- depthwise convolution (groups == C, K = mult * C filters
 * of 1 x R x S; output channel k reads input channel k / mult), one plane per
 * call (see fastconv.h). Memory-bound (about 2 flops per byte), so it runs
 * straight over the planes instead of through the GEMM machinery: each output
 * row is accumulated tap by tap while it sits in L1. Body in
 * conv_depthwise_impl.h, built four times: float / double x AVX2+FMA /
 * portable, chosen per call by fc_simd_path().
 */
#include <string.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_DW_HAVE_AVX2 1
#endif

#define T float
#define FC_DW_ATTR
#define NAME(base) base##_f32_portable
#include "conv_depthwise_impl.h"
#undef NAME
#undef FC_DW_ATTR
#define NAME(base) base##_f32_avx2
#define FC_DW_ATTR __attribute__((target("avx2,fma")))
#ifdef FC_DW_HAVE_AVX2
#include "conv_depthwise_impl.h"
#endif
#undef NAME
#undef FC_DW_ATTR
#undef T

#define T double
#define FC_DW_ATTR
#define NAME(base) base##_f64_portable
#include "conv_depthwise_impl.h"
#undef NAME
#undef FC_DW_ATTR
#define NAME(base) base##_f64_avx2
#define FC_DW_ATTR __attribute__((target("avx2,fma")))
#ifdef FC_DW_HAVE_AVX2
#include "conv_depthwise_impl.h"
#endif
#undef NAME
#undef FC_DW_ATTR
#undef T

#define FC_DW_DISPATCH(call_avx2, call_portable) \
    do {                                          \
        if (avx2_path()) { call_avx2; }           \
        else { call_portable; }                   \
    } while (0)

static inline int avx2_path(void)
{
#ifdef FC_DW_HAVE_AVX2
    return fc_simd_path() == FC_SIMD_AVX2;
#else
    return 0;
#endif
}

#ifndef FC_DW_HAVE_AVX2
/* Never called: avx2_path() is 0 without the AVX2 build. */
#define dw_forward_f32_avx2 dw_forward_f32_portable
#define dw_forward_f64_avx2 dw_forward_f64_portable
#define dw_backward_data_f32_avx2 dw_backward_data_f32_portable
#define dw_backward_data_f64_avx2 dw_backward_data_f64_portable
#define dw_backward_weight_f32_avx2 dw_backward_weight_f32_portable
#define dw_backward_weight_f64_avx2 dw_backward_weight_f64_portable
#endif

void fc_depthwise_forward_plane_f32(const fc_conv_geom *g, const float *x, const float *w,
                                    const float *bias, int act, float act_param, float *y)
{
    float b = bias ? *bias : 0.0f;
    FC_DW_DISPATCH(dw_forward_f32_avx2(g, x, w, b, y), dw_forward_f32_portable(g, x, w, b, y));
    if (act != FC_ACT_NONE)
        fc_activation_forward_f32(act, act_param, y, y, g->Ho * g->Wo);
}

void fc_depthwise_forward_plane_f64(const fc_conv_geom *g, const double *x, const double *w,
                                    const double *bias, int act, double act_param, double *y)
{
    double b = bias ? *bias : 0.0;
    FC_DW_DISPATCH(dw_forward_f64_avx2(g, x, w, b, y), dw_forward_f64_portable(g, x, w, b, y));
    if (act != FC_ACT_NONE)
        fc_activation_forward_f64(act, act_param, y, y, g->Ho * g->Wo);
}

void fc_depthwise_backward_data_plane_f32(const fc_conv_geom *g, const float *dy, const float *w,
                                          float *dx)
{
    fc_int mult = g->K / g->C;
    FC_DW_DISPATCH(dw_backward_data_f32_avx2(g, mult, dy, w, dx),
                   dw_backward_data_f32_portable(g, mult, dy, w, dx));
}

void fc_depthwise_backward_data_plane_f64(const fc_conv_geom *g, const double *dy, const double *w,
                                          double *dx)
{
    fc_int mult = g->K / g->C;
    FC_DW_DISPATCH(dw_backward_data_f64_avx2(g, mult, dy, w, dx),
                   dw_backward_data_f64_portable(g, mult, dy, w, dx));
}

void fc_depthwise_backward_weight_plane_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                            fc_int x_stride, const float *dy, fc_int dy_stride,
                                            float *dw, float *db)
{
    FC_DW_DISPATCH(dw_backward_weight_f32_avx2(g, nimg, x, x_stride, dy, dy_stride, dw, db),
                   dw_backward_weight_f32_portable(g, nimg, x, x_stride, dy, dy_stride, dw, db));
}

void fc_depthwise_backward_weight_plane_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                            fc_int x_stride, const double *dy, fc_int dy_stride,
                                            double *dw, double *db)
{
    FC_DW_DISPATCH(dw_backward_weight_f64_avx2(g, nimg, x, x_stride, dy, dy_stride, dw, db),
                   dw_backward_weight_f64_portable(g, nimg, x, x_stride, dy, dy_stride, dw, db));
}
