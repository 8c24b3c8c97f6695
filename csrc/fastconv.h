/*
 * fastconv.h -- the whole C interface of fastconv's kernels.
 *
 * Plain C99, no Python headers. Every array is C-contiguous unless a stride
 * argument says otherwise. Sizes and indices are fc_int (64-bit).
 * No function here validates its arguments: the Python tier
 * (fastconv/functional.py) has checked shapes, dtypes and geometry before any
 * of these run. Functions ending in _f32 / _f64 are the float / double twins.
 *
 * Threading: unless a function says otherwise it is serial and re-entrant, so
 * the Cython tier may call it from inside an OpenMP prange loop. The few
 * functions that take an `nthreads` argument open their own OpenMP region and
 * must not be called from inside one.
 */
#ifndef FASTCONV_H
#define FASTCONV_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t fc_int;

/* ------------------------------------------------------------------ */
/* CPU features and kernel dispatch (csrc/cpu.c)                       */
/* ------------------------------------------------------------------ */

enum fc_simd_path {
    FC_SIMD_PORTABLE = 0, /* plain C, any CPU */
    FC_SIMD_AVX2 = 1,     /* AVX2 + FMA, x86-64 */
    FC_SIMD_AVX512 = 2    /* the AVX2 path, with AVX-512 (F, VL, DQ) GEMM and
                             convolution micro-kernels giving the same bits */
};

/* 1 if the CPU (and OS) supports AVX2 and FMA, else 0. */
int fc_cpu_has_avx2_fma(void);
/* 1 if the CPU (and OS) supports AVX-512 F, VL and DQ besides AVX2 and FMA. */
int fc_cpu_has_avx512(void);
/* The SIMD path in use. Chosen on first call: the widest the CPU has, unless
 * the environment variable FASTCONV_SIMD (portable or avx2) narrows it. A
 * path's kernels are those of the path below it where it has none of its own,
 * so tests of a path compare against these. */
int fc_simd_path(void);
/* Force a path (FC_SIMD_PORTABLE, FC_SIMD_AVX2 or FC_SIMD_AVX512). Returns the
 * path actually in force: one the CPU lacks falls back to the widest below it. */
int fc_set_simd_path(int path);
const char *fc_simd_path_name(int path);

/* ------------------------------------------------------------------ */
/* Activations (csrc/activation.c)                                     */
/* ------------------------------------------------------------------ */

enum fc_activation {
    FC_ACT_NONE = 0,
    FC_ACT_RELU = 1,
    FC_ACT_LEAKY_RELU = 2, /* param = negative_slope */
    FC_ACT_SIGMOID = 3,
    FC_ACT_TANH = 4,
    FC_ACT_ELU = 5,        /* param = alpha */
    FC_ACT_RELU6 = 6,      /* min(max(x, 0), 6) */
    FC_ACT_HARDSIGMOID = 7,/* relu6(x + 3) / 6 (PyTorch; = Keras 3 hard_sigmoid) */
    FC_ACT_HARDSWISH = 8,  /* x * relu6(x + 3) / 6 */
    FC_ACT_SILU = 9,       /* x * sigmoid(x) */
    FC_ACT_GELU = 10,      /* x * Phi(x), exact (erf) */
    FC_ACT_GELU_TANH = 11  /* GELU, tanh approximation */
};

/* y[i] = act(x[i]) for i < n. y may alias x (in place). Any code above may
 * be passed as the `act` of the conv forward functions below (the write-back
 * then applies it). Gradients at the kinks follow PyTorch: relu6' is 0 at 0
 * and 6, hardsigmoid' is 0 at -3 and 3, hardswish' is 0 at -3 and 1 at 3.
 * The piecewise-linear codes (RELU .. LEAKY_RELU, RELU6 .. HARDSWISH) and SILU
 * run an AVX2 build on the AVX2 path; for the piecewise-linear ones it is
 * bitwise equal to the portable build (nothing in them can be contracted to an
 * FMA). SILU's float exp is a polynomial within 2 ulp of expf. */
void fc_activation_forward_f32(int act, float param, const float *x, float *y, fc_int n);
void fc_activation_forward_f64(int act, double param, const double *x, double *y, fc_int n);
/* gx[i] = gy[i] * act'(x[i]), where x is the forward's INPUT. */
void fc_activation_backward_f32(int act, float param, const float *x, const float *gy, float *gx, fc_int n);
void fc_activation_backward_f64(int act, double param, const double *x, const double *gy, double *gx, fc_int n);

/* Softplus log(1 + exp(beta x)) / beta, linear (x) where beta x > threshold,
 * and its gradient gx = gy * sigmoid(beta x) (gy where beta x > threshold):
 * PyTorch's softplus. beta != 0. y may alias x. */
void fc_softplus_forward_f32(float beta, float threshold, const float *x, float *y, fc_int n);
void fc_softplus_forward_f64(double beta, double threshold, const double *x, double *y, fc_int n);
void fc_softplus_backward_f32(float beta, float threshold, const float *x, const float *gy,
                              float *gx, fc_int n);
void fc_softplus_backward_f64(double beta, double threshold, const double *x, const double *gy,
                              double *gx, fc_int n);

/* Maxout over groups of `pieces` consecutive channels of one image
 * x: (C, HW), y: (C / pieces, HW). First maximum wins ties. */
void fc_maxout_forward_f32(const float *x, float *y, fc_int C, fc_int HW, fc_int pieces);
void fc_maxout_forward_f64(const double *x, double *y, fc_int C, fc_int HW, fc_int pieces);
/* gx: (C, HW), overwritten. */
void fc_maxout_backward_f32(const float *x, const float *gy, float *gx, fc_int C, fc_int HW, fc_int pieces);
void fc_maxout_backward_f64(const double *x, const double *gy, double *gx, fc_int C, fc_int HW, fc_int pieces);

/* ------------------------------------------------------------------ */
/* GEMM (csrc/gemm.c, csrc/gemm_pack.c, csrc/gemm_ukernel_*.c)          */
/* ------------------------------------------------------------------ */

/* C[m,n] = A[m,k] . B[k,n] + beta * C[m,n]   (beta is 0 or 1)
 * A element (i,p) is a[i*rsa + p*csa]; B element (p,j) is b[p*rsb + j*csb];
 * C is row-major with leading dimension ldc. With beta == 0, C is not read
 * (it may hold NaN). Runs on up to `nthreads` OpenMP threads; the result is
 * bitwise the same for any thread count (threads split m and n, never k). */
void fc_gemm_f32(fc_int m, fc_int n, fc_int k,
                 const float *a, fc_int rsa, fc_int csa,
                 const float *b, fc_int rsb, fc_int csb,
                 float beta, float *c, fc_int ldc, int nthreads);
void fc_gemm_f64(fc_int m, fc_int n, fc_int k,
                 const double *a, fc_int rsa, fc_int csa,
                 const double *b, fc_int rsb, fc_int csb,
                 double beta, double *c, fc_int ldc, int nthreads);

/* Fully connected layer with W^T packed once (csrc/gemm_gemv.c):
 * fc_linear_pack_* packs w (units, in) row-major into wp (64-byte aligned,
 * fc_linear_packed_bytes_* bytes); fc_linear_packed_* computes
 * y (n, units) = x (n, in) . w^T + bias (units, or NULL), all contiguous,
 * bitwise what fc_gemm gives for it (bias preset in y, beta 1), for any n
 * and thread count; no packing per call. */
size_t fc_linear_packed_bytes_f32(fc_int units, fc_int in);
size_t fc_linear_packed_bytes_f64(fc_int units, fc_int in);
void fc_linear_pack_f32(fc_int units, fc_int in, const float *w, float *wp);
void fc_linear_pack_f64(fc_int units, fc_int in, const double *w, double *wp);
void fc_linear_packed_f32(fc_int n, fc_int units, fc_int in, const float *x, const float *wp,
                          const float *bias, float *y, int nthreads);
void fc_linear_packed_f64(fc_int n, fc_int units, fc_int in, const double *x, const double *wp,
                          const double *bias, double *y, int nthreads);

/* ------------------------------------------------------------------ */
/* Convolution (csrc/conv.c): one image per call                       */
/* ------------------------------------------------------------------ */

/* Geometry of one image's cross-correlation.
 * Output pixel (k, oh, ow) reads input (c, oh*stride_h - pad_top + r*dil_h,
 * ow*stride_w - pad_left + s*dil_w), zero outside the image. Ho and Wo are
 * given (computed by the Python tier), so asymmetric padding ('same' with an
 * even kernel) needs nothing more. */
typedef struct fc_conv_geom {
    fc_int C, H, W;    /* input channels and size */
    fc_int K, R, S;    /* filters: K filters of C x R x S */
    fc_int Ho, Wo;     /* output size */
    fc_int stride_h, stride_w;
    fc_int pad_top, pad_left;
    fc_int dil_h, dil_w;
    int winograd;      /* the caller's size policy for the convolutions big enough for
                          Winograd to win (see geometry.py), FC_WINOGRAD_* bits */
} fc_conv_geom;

/* 1 unless the environment variable FASTCONV_NO_WINOGRAD (not "" or "0")
 * turns off the Winograd F(2x2, 3x3) path of 3x3 stride-1 convolutions with
 * >= 16 channels in and out (then the direct kernels run). */
int fc_winograd_enabled(void);
/* 1 when FASTCONV_WINOGRAD=always: Winograd wherever the kernels can run it (>= 16
 * channels), whatever the caller's size policy (fc_conv_geom.winograd) says. */
int fc_winograd_forced(void);
/* 1 when FASTCONV_WINOGRAD=f4: F(4x4, 3x3) for every pass of every 3x3
 * stride-1 convolution, whatever the size policy says. */
int fc_winograd4_forced(void);
/* 1 when FASTCONV_WINOGRAD=s2: Winograd on the phases of every stride-2 3x3 or 4x4
 * convolution (F(4x4, 2x2) forward and backward-data, F(2x2, 4x4) backward-weight),
 * whatever the size policy says. */
int fc_winograd_s2_forced(void);

/* fc_conv_geom.winograd: F(2x2, 3x3) allowed (every pass); F(4x4, 3x3) for the
 * forward and backward-data passes; F(4x4, 3x3) for the backward-weight pass
 * (F(4x4) takes precedence over F(2x2) where both are set); F(4x4, 2x2) on the
 * phases of a stride-2 3x3 or 4x4 forward pass; the same for its backward-data pass. */
enum {
    FC_WINOGRAD_F2 = 1,
    FC_WINOGRAD_F4 = 2,
    FC_WINOGRAD_F4_WEIGHT = 4,
    FC_WINOGRAD_S2 = 8,
    FC_WINOGRAD_S2_DATA = 16,
    FC_WINOGRAD_S2_WEIGHT = 32
};

/* Bytes of scratch one call of any conv function below needs for geometry g
 * and element size elem (4 or 8). Each concurrent caller needs its own. */
size_t fc_conv2d_workspace_bytes(const fc_conv_geom *g, size_t elem);

/* y (K, Ho, Wo) = act(conv(x (C,H,W), w (K,C,R,S)) + bias (K or NULL)). */
void fc_conv2d_forward_f32(const fc_conv_geom *g, const float *x, const float *w,
                           const float *bias, int act, float act_param,
                           float *y, void *work);
void fc_conv2d_forward_f64(const fc_conv_geom *g, const double *x, const double *w,
                           const double *bias, int act, double act_param,
                           double *y, void *work);

/* dx (C, H, W) = gradient of the conv w.r.t. x, given dy (K, Ho, Wo).
 * dx is overwritten. */
void fc_conv2d_backward_data_f32(const fc_conv_geom *g, const float *dy, const float *w,
                                 float *dx, void *work);
void fc_conv2d_backward_data_f64(const fc_conv_geom *g, const double *dy, const double *w,
                                 double *dx, void *work);

/* Weights packed once per batch, shared read-only by every thread: the
 * packed layout depends on the geometry, the element type and the op
 * (FC_CONV_FORWARD for the forward, FC_CONV_BACKWARD_DATA for backward-data).
 * `packed` holds fc_conv2d_packed_weights_bytes(g, op, elem) bytes, 64-byte
 * aligned. The *_packed calls give bitwise the same results as the plain
 * calls (which pack into their workspace and run the same code). */
enum fc_conv_op {
    FC_CONV_FORWARD = 0,
    FC_CONV_BACKWARD_DATA = 1,
    FC_CONV_BACKWARD_WEIGHT = 2 /* fc_conv2d_path only */
};
size_t fc_conv2d_packed_weights_bytes(const fc_conv_geom *g, int op, size_t elem);
/* Which kernels run op (FC_CONV_FORWARD, FC_CONV_BACKWARD_DATA) of one image of g
 * for element size elem: "winograd" (F(2x2, 3x3)), "winograd-f4" (F(4x4, 3x3)),
 * "winograd-s2" (the stride-2 phases), "channel-vector" (conv_forward_cvec.c),
 * "winograd-rows" (F(2, 3) along rows, conv_forward_wrows.c), "direct", "1x1-rows"
 * or "gemm"; for FC_CONV_BACKWARD_WEIGHT "winograd",
 * "winograd-f4", "winograd-s2" or "other" (for tests and tuning; a static string). */
const char *fc_conv2d_path(const fc_conv_geom *g, int op, size_t elem);
void fc_conv2d_pack_weights_f32(const fc_conv_geom *g, int op, const float *w, void *packed);
void fc_conv2d_pack_weights_f64(const fc_conv_geom *g, int op, const double *w, void *packed);
/* The same for batches of nimg images only: leaves out what only a single image
 * reads (a few-pixel 1x1 layer's W^T), which fc_conv2d_pack_weights packs too. */
void fc_conv2d_pack_weights_batch_f32(const fc_conv_geom *g, int op, const float *w,
                                      void *packed, fc_int nimg);
void fc_conv2d_pack_weights_batch_f64(const fc_conv_geom *g, int op, const double *w,
                                      void *packed, fc_int nimg);
void fc_conv2d_forward_packed_f32(const fc_conv_geom *g, const float *x, const void *packed,
                                  const float *bias, const float *res, int act, float act_param,
                                  float *y, void *work);
void fc_conv2d_forward_packed_f64(const fc_conv_geom *g, const double *x, const void *packed,
                                  const double *bias, const double *res, int act, double act_param,
                                  double *y, void *work);
/* The same over nimg consecutive images (x, y / dy, dx contiguous batches):
 * per-run set-up (tables, zero border) done once. Bitwise the same as nimg
 * single-image calls. */
void fc_conv2d_forward_packed_batch_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                        const void *packed, const float *bias, const float *res, int act,
                                        float act_param, float *y, void *work);
void fc_conv2d_forward_packed_batch_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                        const void *packed, const double *bias, const double *res, int act,
                                        double act_param, double *y, void *work);
/* res (all the forward entry points above and below): NULL, or an array
 * shaped like y added to the convolution before the activation (a residual
 * connection fused into the convolution: y = act(conv(x) + bias + res)). */
/* Part `part` (0 <= part < nparts) of ONE image's forward pass, for a team
 * of threads sharing an image (batch smaller than the team): each part writes
 * a disjoint share of y (pixel chunks, Winograd tile rows, or for 1x1 the
 * pixels or, with few pixels, the output channels); together they give
 * bitwise the fc_conv2d_forward_packed_batch result. work: each part its own
 * fc_conv2d_workspace_bytes. */
void fc_conv2d_forward_packed_part_f32(const fc_conv_geom *g, const float *x, const void *packed,
                                       const float *bias, const float *res, int act, float act_param, float *y,
                                       void *work, int part, int nparts);
void fc_conv2d_forward_packed_part_f64(const fc_conv_geom *g, const double *x,
                                       const void *packed, const double *bias, const double *res, int act,
                                       double act_param, double *y, void *work, int part,
                                       int nparts);
/* 1x1 convolution (stride 1, no padding) over images [n0, n1) of a batch
 * as one GEMM across the images' pixels, for maps of few pixels (chosen
 * when fc_conv2d_1x1_batch_ok): bitwise the per-image result. x and y are
 * the whole batch; work: fc_conv2d_1x1_batch_workspace_bytes. */
int fc_conv2d_1x1_batch_ok(const fc_conv_geom *g, fc_int nimg);
size_t fc_conv2d_1x1_batch_workspace_bytes(const fc_conv_geom *g, size_t elem);
void fc_conv2d_forward_1x1_batch_f32(const fc_conv_geom *g, fc_int n0, fc_int n1, const float *x,
                                     const void *packed, const float *bias, const float *res, int act,
                                     float act_param, float *y, void *work);
void fc_conv2d_forward_1x1_batch_f64(const fc_conv_geom *g, fc_int n0, fc_int n1,
                                     const double *x, const void *packed, const double *bias, const double *res,
                                     int act, double act_param, double *y, void *work);
/* The same for filters [k0, k1) only (k0 a multiple of 6, the packed panel
 * height): a team whose images are few pixels against many weights splits the
 * filters, so each weight is read once, not once per run of images. */
void fc_conv2d_forward_1x1_batch_rows_f32(const fc_conv_geom *g, fc_int n0, fc_int n1, fc_int k0,
                                          fc_int k1, const float *x, const void *packed,
                                          const float *bias, const float *res, int act,
                                          float act_param, float *y, void *work);
void fc_conv2d_forward_1x1_batch_rows_f64(const fc_conv_geom *g, fc_int n0, fc_int n1, fc_int k0,
                                          fc_int k1, const double *x, const void *packed,
                                          const double *bias, const double *res, int act,
                                          double act_param, double *y, void *work);
/* The input gradient of images [0, nimg) (packed: FC_CONV_BACKWARD_DATA), plus
 * bias (C,) per channel and res (shaped like dx: another gradient of the same
 * input) where not NULL, added in the write-back: bitwise the sums added after. */
void fc_conv2d_backward_data_packed_batch_f32(const fc_conv_geom *g, fc_int nimg, const float *dy,
                                              const void *packed, const float *bias,
                                              const float *res, float *dx, void *work);
void fc_conv2d_backward_data_packed_batch_f64(const fc_conv_geom *g, fc_int nimg, const double *dy,
                                              const void *packed, const double *bias,
                                              const double *res, double *dx, void *work);
void fc_conv2d_backward_data_packed_f32(const fc_conv_geom *g, const float *dy,
                                        const void *packed, const float *bias, float *dx,
                                        void *work);
void fc_conv2d_backward_data_packed_f64(const fc_conv_geom *g, const double *dy,
                                        const void *packed, const double *bias, double *dx,
                                        void *work);

/* dw (K,C,R,S) += gradient w.r.t. w; db (K) += sum of dy over pixels (db may
 * be NULL). ACCUMULATES, so a caller sums images into one buffer in a fixed
 * order. */
void fc_conv2d_backward_weight_f32(const fc_conv_geom *g, const float *x, const float *dy,
                                   float *dw, float *db, void *work);
void fc_conv2d_backward_weight_f64(const fc_conv_geom *g, const double *x, const double *dy,
                                   double *dw, double *db, void *work);

/* dw += sum over nimg images (x: nimg x (C,H,W), dy: nimg x (K,Ho,Wo),
 * contiguous) of the weight gradient; db likewise (or NULL). The images are
 * summed in order, with a summation order that depends on g and nimg only
 * (not on threads), so a caller that cuts a batch into fixed runs gets
 * bitwise reproducible results. Same workspace as above. */
void fc_conv2d_backward_weight_batch_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                         const float *dy, float *dw, float *db, void *work);
void fc_conv2d_backward_weight_batch_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                         const double *dy, double *dw, double *db, void *work);

/* 1 when the backward-data pass of g is the forward direct (or Winograd) path
 * run on dy with the flipped, transposed weights: then *t is that forward
 * geometry (input dy, output dx), and fc_conv2d_forward_team on t with the
 * FC_CONV_BACKWARD_DATA-packed weights of g computes dx bitwise as
 * fc_conv2d_backward_data_packed_batch does -- with the team sharing one
 * image when the batch is smaller than the team. */
int fc_conv2d_backward_data_as_forward(const fc_conv_geom *g, size_t elem, fc_conv_geom *t);

/* 1 when the backward-data pass of g -- a 1x1, stride-1, unpadded convolution -- over a
 * batch of nimg images runs as the forward pass of *t, the transposed geometry (input dy
 * with K channels, output dx with C): fc_conv2d_forward_team on t with the
 * FC_CONV_BACKWARD_DATA-packed weights of g for those nimg images (W^T, packed for that
 * forward) computes dx. Its direct and per-image GEMM paths read dy in place where the
 * backward-data paths pack it. Maps a multiple of 16 pixels, two images or more (batch
 * 64, 2 threads, AVX-512: 64 -> 128 channels on 8x8 maps 269 -> 170 us, 128 -> 128 on
 * 8x8 480 -> 344, 16 -> 32 on 32x32 362 -> 297, 256 -> 256 on 4x4 373 -> 326; level on
 * 16x16 maps; maps of 25-49 pixels 0.91-0.94x and single images 0.74-1.6x keep their
 * paths). */
int fc_conv2d_backward_data_1x1_as_forward(const fc_conv_geom *g, fc_int nimg, fc_conv_geom *t);

/* dst (H x W) = src (Ho x Wo) spread sh x sw apart (src[i][j] at dst[i*sh][j*sw], zero
 * between), plus addend (H x W, or NULL): the input gradient of a strided, unpadded 1x1
 * convolution from its compact one (fastconv.functional.conv). */
void fc_scatter_strided_plane_f32(const float *src, fc_int Ho, fc_int Wo, fc_int sh, fc_int sw,
                                  const float *addend, fc_int H, fc_int W, float *dst);
void fc_scatter_strided_plane_f64(const double *src, fc_int Ho, fc_int Wo, fc_int sh, fc_int sw,
                                  const double *addend, fc_int H, fc_int W, double *dst);

/* The fewest images a run of pass `which` (FC_CONV_FORWARD, FC_CONV_BACKWARD_DATA) should
 * hold: on Winograd's path enough for a whole panel of tiles, else 1. */
fc_int fc_conv2d_run_images(const fc_conv_geom *g, int which, size_t elem);

#include "fastconv_parts.h"
#include "fastconv_depthwise.h"

/* ------------------------------------------------------------------ */
/* Pooling (csrc/pool.c): one (H, W) plane per call                    */
/* ------------------------------------------------------------------ */

/* Window (oh, ow) covers rows oh*stride_h - pad_h + i*dil_h (i < kh) and
 * columns likewise, clipped to the image (padding never wins a max; dilation
 * is for max pooling only). pad_h / pad_w are the top / left padding. Ho and
 * Wo are given, so ceil_mode and per-side padding are the Python tier's
 * business. For average pooling the divisor follows PyTorch: with
 * count_include_pad, the window clipped to the padded image
 * [-pad_h, H + pad_bottom) x [-pad_w, W + pad_right); without, the window
 * clipped to the image. */
typedef struct fc_pool_geom {
    fc_int H, W, Ho, Wo;
    fc_int kh, kw, stride_h, stride_w, pad_h, pad_w;
    fc_int pad_bottom, pad_right, dil_h, dil_w;
    int count_include_pad;
} fc_pool_geom;

void fc_max_pool2d_forward_f32(const fc_pool_geom *g, const float *x, float *y);
void fc_max_pool2d_forward_f64(const fc_pool_geom *g, const double *x, double *y);
/* gx (H, W) overwritten: each dy goes to the first maximum of its window. */
void fc_max_pool2d_backward_f32(const fc_pool_geom *g, const float *x, const float *gy, float *gx);
void fc_max_pool2d_backward_f64(const fc_pool_geom *g, const double *x, const double *gy, double *gx);
void fc_avg_pool2d_forward_f32(const fc_pool_geom *g, const float *x, float *y);
void fc_avg_pool2d_forward_f64(const fc_pool_geom *g, const double *x, double *y);
void fc_avg_pool2d_backward_f32(const fc_pool_geom *g, const float *gy, float *gx);
void fc_avg_pool2d_backward_f64(const fc_pool_geom *g, const double *gy, double *gx);

/* ------------------------------------------------------------------ */
/* Upsampling (csrc/upsample.c): a batch of (H, W) planes per call      */
/* ------------------------------------------------------------------ */

enum fc_upsample_mode {
    FC_UPSAMPLE_NEAREST = 0,  /* PyTorch's 'nearest' (floor(o * in / out)) */
    FC_UPSAMPLE_BILINEAR = 1
};

/* Plane (H, W) -> (Ho, Wo), PyTorch's interpolate rules. scale_h / scale_w
 * are the caller's scale factors (they set the source positions, as
 * PyTorch's recompute_scale_factor=None does), or 0 when the output size was
 * given (the positions then use in / out). align_corners: bilinear only. */
typedef struct fc_upsample_geom {
    fc_int H, W, Ho, Wo;
    int mode;
    int align_corners;
    double scale_h, scale_w;
} fc_upsample_geom;

/* y: `planes` planes (Ho, Wo) from x: `planes` planes (H, W), contiguous.
 * Runs on up to `nthreads` OpenMP threads, one plane per thread at a time.
 * Returns 0, or -1 when the index tables (O(Ho + Wo)) cannot be allocated. */
int fc_upsample2d_forward_f32(const fc_upsample_geom *g, fc_int planes, const float *x,
                              float *y, int nthreads);
int fc_upsample2d_forward_f64(const fc_upsample_geom *g, fc_int planes, const double *x,
                              double *y, int nthreads);
/* gx (overwritten) from gy; each plane's sum is one thread's, in a fixed
 * order: bitwise the same for any thread count. Same return values. */
int fc_upsample2d_backward_f32(const fc_upsample_geom *g, fc_int planes, const float *gy,
                               float *gx, int nthreads);
int fc_upsample2d_backward_f64(const fc_upsample_geom *g, fc_int planes, const double *gy,
                               double *gx, int nthreads);

/* ------------------------------------------------------------------ */
/* Batch normalisation (csrc/batchnorm.c)                              */
/* ------------------------------------------------------------------ */

/* x, y, g, gx: (N, C, HW) C-contiguous; per-channel arrays have C doubles.
 * `relu` is 0 or 1 (fused max(., 0) on the output). Each function opens its
 * own OpenMP region on up to `nthreads` threads (do not call from inside
 * one); results are bitwise the same for any thread count. Return 0, or -1
 * when scratch memory could not be allocated (nothing else can fail). */

/* Training: mean and biased var over (N, HW) (double accumulation, stable
 * blocked two-pass), invstd = 1 / sqrt(var + eps), and
 * y = relu?((x - mean) * (gamma * invstd) + beta [+ res]). y may alias x; with
 * y NULL only the statistics are computed (gamma, beta unused); res (NULL or an
 * array like x) is added to the normalised value before the ReLU. */
int fc_batchnorm_forward_training_f32(const float *x, fc_int N, fc_int C, fc_int HW,
                                      const double *gamma, const double *beta, double eps,
                                      int relu, const float *res, float *y, double *mean,
                                      double *var, double *invstd, int nthreads);
int fc_batchnorm_forward_training_f64(const double *x, fc_int N, fc_int C, fc_int HW,
                                      const double *gamma, const double *beta, double eps,
                                      int relu, const double *res, double *y, double *mean,
                                      double *var, double *invstd, int nthreads);
/* Inference: y = relu?((x - mean) * scale + shift). y may alias x. */
int fc_batchnorm_forward_inference_f32(const float *x, fc_int N, fc_int C, fc_int HW,
                                       const double *mean, const double *scale,
                                       const double *shift, int relu, float *y, int nthreads);
int fc_batchnorm_forward_inference_f64(const double *x, fc_int N, fc_int C, fc_int HW,
                                       const double *mean, const double *scale,
                                       const double *shift, int relu, double *y, int nthreads);
/* Backward of y = (x - mean) * invstd * gamma + beta given g = dL/dy, with
 * g masked to 0 where y <= 0 when y (the fused ReLU's output) is not NULL.
 * With y NULL, beta not NULL and training = 1, the mask is recomputed from x
 * with the training forward's coefficients (mean, gamma * invstd, beta in the
 * element type, the forward's expression): the same mask bit for bit, without
 * reading y (two passes over a full-size map fewer). beta is unused otherwise.
 * grad_beta = sum g, grad_gamma = invstd * sum g * (x - mean). With
 * training = 1, mean / invstd are the batch's and
 * gx = gamma * invstd / M * (M * g - grad_beta - xhat * grad_gamma), M = N * HW;
 * with training = 0 they are constants (running statistics) and
 * gx = gamma * invstd * g. gx may be NULL (not computed). gmasked (NULL: not
 * wanted; else there must be a mask) receives the masked g, written by the pass
 * that sums it and read by the one that makes gx: the gradient a ReLU after an
 * add hands to the add's other input, without a pass of its own. */
int fc_batchnorm_backward_f32(const float *g, const float *x, const float *y,
                              const double *beta, fc_int N, fc_int C, fc_int HW,
                              const double *mean, const double *invstd, const double *gamma,
                              int training, float *gx, float *gmasked,
                              double *grad_gamma, double *grad_beta, int nthreads);
int fc_batchnorm_backward_f64(const double *g, const double *x, const double *y,
                              const double *beta, fc_int N, fc_int C, fc_int HW,
                              const double *mean, const double *invstd, const double *gamma,
                              int training, double *gx, double *gmasked,
                              double *grad_gamma, double *grad_beta, int nthreads);

/* ------------------------------------------------------------------ */
/* Batch drivers (csrc/forward_team.c): a whole batch's forward pass,  */
/* split across an OpenMP team of at most nthreads                     */
/* ------------------------------------------------------------------ */

/* Convolution with weights packed by fc_conv2d_pack_weights (FC_CONV_FORWARD)
 * over N images: one GEMM across small 1x1 maps, each image shared by the
 * team when N < nthreads, else dynamic runs of images. work: at least
 * fc_conv2d_forward_team_workspace_bytes(g, N, nthreads, sizeof(T)) bytes,
 * 64-byte aligned. Bitwise the same whatever nthreads. */
size_t fc_conv2d_forward_team_workspace_bytes(const fc_conv_geom *g, fc_int N, int nthreads,
                                              size_t elem);
void fc_conv2d_forward_team_f32(const fc_conv_geom *g, fc_int N, const float *x,
                                const void *packed, const float *bias, const float *res, int act,
                                float act_param, float *y, int nthreads, char *work);
void fc_conv2d_forward_team_f64(const fc_conv_geom *g, fc_int N, const double *x,
                                const void *packed, const double *bias, const double *res,
                                int act, double act_param, double *y, int nthreads, char *work);
/* The same convolution (no residual) followed by max (max != 0) or average
 * pooling pg of its output, written to y; with runs of images per thread each
 * run's feature maps are pooled from a per-thread scratch while in cache, and
 * a team sharing an image pools each part's rows on the thread that wrote
 * them where the cut allows (fc_conv2d_split_pools). Bitwise the two drivers
 * one after the other. work: at least
 * fc_conv2d_pool_forward_team_workspace_bytes, 64-byte aligned. */
size_t fc_conv2d_pool_forward_team_workspace_bytes(const fc_conv_geom *g, fc_int N,
                                                   int nthreads, size_t elem);
void fc_conv2d_pool_forward_team_f32(const fc_conv_geom *g, const fc_pool_geom *pg, int max,
                                     fc_int N, const float *x, const void *packed,
                                     const float *bias, int act, float act_param, float *y,
                                     int nthreads, char *work);
void fc_conv2d_pool_forward_team_f64(const fc_conv_geom *g, const fc_pool_geom *pg, int max,
                                     fc_int N, const double *x, const void *packed,
                                     const double *bias, int act, double act_param, double *y,
                                     int nthreads, char *work);
/* A depthwise convolution gd (plain weights wd (K, 1, R, S), bias bd, activation
 * actd) whose output is the input of the convolution g (no residual): with runs of
 * images per thread, each run's depthwise output goes through a per-thread scratch
 * while in cache. Bitwise the two drivers one after the other. work: at least
 * fc_depthwise_conv_forward_team_workspace_bytes, 64-byte aligned. */
size_t fc_depthwise_conv_forward_team_workspace_bytes(const fc_conv_geom *gd,
                                                      const fc_conv_geom *g, fc_int N,
                                                      int nthreads, size_t elem);
void fc_depthwise_conv_forward_team_f32(const fc_conv_geom *gd, const float *wd, const float *bd,
                                        int actd, float actd_param, const fc_conv_geom *g,
                                        fc_int N, const float *x, const void *packed,
                                        const float *bias, int act, float act_param, float *y,
                                        int nthreads, char *work);
void fc_depthwise_conv_forward_team_f64(const fc_conv_geom *gd, const double *wd,
                                        const double *bd, int actd, double actd_param,
                                        const fc_conv_geom *g, fc_int N, const double *x,
                                        const void *packed, const double *bias, int act,
                                        double act_param, double *y, int nthreads, char *work);
/* Depthwise convolution (groups == C) with plain weights (K, 1, R, S). */
void fc_depthwise_forward_team_f32(const fc_conv_geom *g, fc_int N, const float *x,
                                   const float *w, const float *bias, int act, float act_param,
                                   float *y, int nthreads);
void fc_depthwise_forward_team_f64(const fc_conv_geom *g, fc_int N, const double *x,
                                   const double *w, const double *bias, int act,
                                   double act_param, double *y, int nthreads);
/* Its input gradient dx (N, C, H, W), overwritten, from dy (N, K, Ho, Wo). */
void fc_depthwise_backward_data_team_f32(const fc_conv_geom *g, fc_int N, const float *dy,
                                         const float *w, float *dx, int nthreads);
void fc_depthwise_backward_data_team_f64(const fc_conv_geom *g, fc_int N, const double *dy,
                                         const double *w, double *dx, int nthreads);
/* Max (max != 0) or average pooling of `planes` consecutive (H, W) planes. */
void fc_pool2d_forward_team_f32(const fc_pool_geom *g, int max, fc_int planes, const float *x,
                                float *y, int nthreads);
void fc_pool2d_forward_team_f64(const fc_pool_geom *g, int max, fc_int planes, const double *x,
                                double *y, int nthreads);
/* y[r] = mean of x[r, 0:n] for each of `rows` rows (global average pooling), in
 * a fixed summation order (NumPy's for up to 128 elements). */
void fc_plane_means_team_f32(fc_int rows, fc_int n, const float *x, float *y, int nthreads);
void fc_plane_means_team_f64(fc_int rows, fc_int n, const double *x, double *y, int nthreads);
/* y[r, 0:n] = v[r] * scale for each of `rows` rows (the gradient of global average
 * pooling). */
void fc_plane_fill_team_f32(fc_int rows, fc_int n, const float *v, float scale, float *y,
                            int nthreads);
void fc_plane_fill_team_f64(fc_int rows, fc_int n, const double *v, double scale, double *y,
                            int nthreads);
/* y = act(x) over n elements (y may be x). */
void fc_activation_forward_team_f32(int act, float param, const float *x, float *y, fc_int n,
                                    int nthreads);
void fc_activation_forward_team_f64(int act, double param, const double *x, double *y, fc_int n,
                                    int nthreads);
/* y = act(a + b) over n elements (y may be a or b). */
void fc_add_forward_team_f32(const float *a, const float *b, float *y, fc_int n, int act,
                             float param, int nthreads);
void fc_add_forward_team_f64(const double *a, const double *b, double *y, fc_int n, int act,
                             double param, int nthreads);

#include "fastconv_program.h"

#ifdef __cplusplus
}
#endif
#endif /* FASTCONV_H */
