/*
 * conv_depthwise.c -- depthwise convolution (groups == C, K = mult * C filters
 * of 1 x R x S; output channel k reads input channel k / mult), see fastconv.h.
 *
 * Memory-bound (about 2 flops per byte): the goal is one streaming read of the
 * input and one write of the output. Stride 1 / 2 without dilation copy each
 * plane into a small zero-padded buffer whose rows share their zero gaps, laid
 * out so that every tap of every output is a plain load at a fixed offset from
 * the output's flat index (stride 2: even and odd columns deinterleaved into
 * two halves, so the loads stay contiguous). A whole padded plane is then one
 * long vector loop with no edge cases; small planes (late MobileNet layers,
 * 8x8 .. 2x2) of several images with the same filter are stacked in one
 * buffer fill, so the per-plane cost is a few row copies. The lanes that land
 * on gap columns are computed and dropped. Backward-data is the same kernel on
 * dy (zero-upsampled for stride 2) with the filter turned 180 degrees;
 * backward-weight runs the same taps as dot products against dy laid out at
 * the flat output positions (zeros elsewhere), accumulated in vector lanes
 * whose assignment depends only on the geometry -- so the result is the same
 * for any thread count. Every other geometry (dilation, stride > 2, unequal
 * strides, depth multiplier > 1 in backward-data) runs the plain loops.
 *
 * Body in conv_depthwise_impl.h, built four times: float / double x AVX2+FMA /
 * portable, chosen per call by fc_simd_path(). A lane's operations do not
 * depend on the path's vector width, but the AVX2 build fuses multiply-adds.
 */
#include <string.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_DW_HAVE_AVX2 1
#endif

/* Up to 7x7 filters take the buffered path; two buffers of this many bytes
 * live on the stack of each call (L1/L2-resident). */
#define FC_DW_MAXTAP 49
#define FC_DW_BUF_BYTES (24 * 1024)

/* The padded-buffer layout of one plane (see the file comment). A padded row
 * is Z zeros, the source row, zeros up to Wp; a plane is Hs rows, the first Zr
 * zero. Source rows / columns are spread `up` apart (zero-upsampled dy) into a
 * virtual Hv x Wv input. With sw == 2 the buffer holds the even columns (E)
 * and the odd ones (O) of each row in two halves. Output (oh, ow) of a plane
 * has flat index oh * Wp + ow and tap t reads (odd[t] ? O : E)[index + off[t]]. */
typedef struct dw_layout {
    fc_int sw, up, Hs_src, Ws, Hv, Wv, Ho, Wo, R, S, pt, pl;
    fc_int Z, Zr, Wp, Hs, ntap;
    fc_int off[FC_DW_MAXTAP];
    unsigned char odd[FC_DW_MAXTAP];
} dw_layout;

static inline fc_int dw_max(fc_int a, fc_int b) { return a > b ? a : b; }

/* 0 if the geometry does not fit the buffered path. */
static int dw_plan(dw_layout *L, fc_int sw, fc_int up, fc_int Hsrc, fc_int Wsrc, fc_int Ho,
                   fc_int Wo, fc_int R, fc_int S, fc_int pt, fc_int pl)
{
    if ((sw != 1 && sw != 2) || (up != 1 && up != 2) || (sw == 2 && up != 1) ||
        R * S > FC_DW_MAXTAP || pt < 0 || pl < 0 || pt >= R || pl >= S || Ho < 1 || Wo < 1 ||
        Hsrc < 1 || Wsrc < 1)
        return 0;
    L->sw = sw, L->up = up, L->Hs_src = Hsrc, L->Ws = Wsrc;
    L->Hv = (Hsrc - 1) * up + 1, L->Wv = (Wsrc - 1) * up + 1;
    L->Ho = Ho, L->Wo = Wo, L->R = R, L->S = S, L->pt = pt, L->pl = pl;
    L->Z = pl + (sw == 2 ? (pl & 1) : 0);
    L->Zr = pt;
    L->Wp = dw_max(L->Z + L->Wv, (Wo - 1) * sw + S - pl);
    L->Wp += L->Wp % sw;
    L->Hs = dw_max(L->Zr + L->Hv, (Ho - 1) * sw + R - pt);
    L->Hs += L->Hs % sw;
    L->ntap = R * S;
    for (fc_int r = 0; r < R; r++)
        for (fc_int s = 0; s < S; s++) {
            fc_int t = r * S + s, m = L->Z - pl + s;
            if (sw == 1) {
                L->off[t] = (r + L->Zr - pt) * L->Wp + m;
                L->odd[t] = 0;
            } else {
                L->off[t] = (r + L->Zr - pt) * (L->Wp / 2) + m / 2;
                L->odd[t] = (unsigned char)(m & 1);
            }
        }
    return 1;
}

#pragma GCC diagnostic ignored "-Wpsabi"
/* The buffer rows are a few elements long: GCC must not turn their copy and
 * zero loops into memcpy / memset calls, which cost more than the copy. */
#pragma GCC optimize("no-tree-loop-distribute-patterns")

#define T float
#define DW_ACT fc_activation_forward_f32
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
#undef DW_ACT

#define T double
#define DW_ACT fc_activation_forward_f64
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
#undef DW_ACT

#define FC_DW_DISPATCH(call_avx2, call_portable) \
    do {                                          \
        if (avx2_path()) { call_avx2; }           \
        else { call_portable; }                   \
    } while (0)

static inline int avx2_path(void)
{
#ifdef FC_DW_HAVE_AVX2
    return fc_simd_path() >= FC_SIMD_AVX2;
#else
    return 0;
#endif
}

#ifndef FC_DW_HAVE_AVX2
/* Never called: avx2_path() is 0 without the AVX2 build. */
#define dw_forward_range_f32_avx2 dw_forward_range_f32_portable
#define dw_forward_range_f64_avx2 dw_forward_range_f64_portable
#define dw_backward_data_range_f32_avx2 dw_backward_data_range_f32_portable
#define dw_backward_data_range_f64_avx2 dw_backward_data_range_f64_portable
#define dw_backward_weight_f32_avx2 dw_backward_weight_f32_portable
#define dw_backward_weight_f64_avx2 dw_backward_weight_f64_portable
#endif

void fc_depthwise_forward_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1, const float *x,
                              const float *w, const float *bias, int act, float act_param, float *y)
{
    FC_DW_DISPATCH(dw_forward_range_f32_avx2(g, N, q0, q1, x, w, bias, act, act_param, y),
                   dw_forward_range_f32_portable(g, N, q0, q1, x, w, bias, act, act_param, y));
}

void fc_depthwise_forward_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1, const double *x,
                              const double *w, const double *bias, int act, double act_param,
                              double *y)
{
    FC_DW_DISPATCH(dw_forward_range_f64_avx2(g, N, q0, q1, x, w, bias, act, act_param, y),
                   dw_forward_range_f64_portable(g, N, q0, q1, x, w, bias, act, act_param, y));
}

void fc_depthwise_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                    const float *dy, const float *w, float *dx)
{
    FC_DW_DISPATCH(dw_backward_data_range_f32_avx2(g, N, q0, q1, dy, w, dx),
                   dw_backward_data_range_f32_portable(g, N, q0, q1, dy, w, dx));
}

void fc_depthwise_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                    const double *dy, const double *w, double *dx)
{
    FC_DW_DISPATCH(dw_backward_data_range_f64_avx2(g, N, q0, q1, dy, w, dx),
                   dw_backward_data_range_f64_portable(g, N, q0, q1, dy, w, dx));
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
