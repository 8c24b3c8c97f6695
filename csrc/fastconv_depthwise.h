/*
 * fastconv_depthwise.h -- the depthwise convolution kernels' C API (part of
 * fastconv.h, which includes it; the drivers that share them among threads are
 * declared there).
 */
#ifndef FASTCONV_DEPTHWISE_H
#define FASTCONV_DEPTHWISE_H

/* Depthwise convolution (csrc/conv_depthwise.c): groups == C, K = mult * C
 * filters of 1 x R x S (weight (K, 1, R, S)); output channel k reads input
 * channel k / mult. x (N, C, H, W), y (N, K, Ho, Wo), C and K the full channel
 * counts. The forward and backward-data calls do the planes q in [q0, q1)
 * numbered channel-major (q = k * N + n), so a caller splits [0, N * K) (or
 * [0, N * C)) among threads; serial, and no result depends on the split. */
/* y[n, k] = act(bias[k] (or 0 if bias is NULL) + conv of x[n, k / mult] with w[k]). */
void fc_depthwise_forward_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1, const float *x,
                              const float *w, const float *bias, int act, float act_param, float *y);
void fc_depthwise_forward_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1, const double *x,
                              const double *w, const double *bias, int act, double act_param,
                              double *y);
/* dx[n, c] (N, C, H, W), overwritten for q = c * N + n in [q0, q1): the input
 * gradient from the mult planes dy[n, c*mult .. c*mult + mult - 1]. */
void fc_depthwise_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                    const float *dy, const float *w, float *dx);
void fc_depthwise_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                    const double *dy, const double *w, double *dx);
/* dw (R, S) += weight gradient of one filter over nimg images (plane of image
 * n at x + n * x_stride, dy + n * dy_stride) in an order fixed by the geometry
 * and nimg; *db += the sum of those dy planes (db may be NULL). Stride 1 / 2
 * geometries multiply every x of a buffer fill, including ones no output
 * reads, by dy or by 0: an inf or NaN in x can make a tap's gradient NaN where
 * the exact sum is finite. */
void fc_depthwise_backward_weight_plane_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                            fc_int x_stride, const float *dy, fc_int dy_stride,
                                            float *dw, float *db);
void fc_depthwise_backward_weight_plane_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                            fc_int x_stride, const double *dy, fc_int dy_stride,
                                            double *dw, double *db);

/* Depthwise convolution on small planes (csrc/conv_depthwise_small.c), vectorised
 * across blocks of 8 channels: K == C, stride 1 or 2, no dilation, H * W <= 1024.
 * fc_depthwise_small_fits(g, pass) is 1 when pass (0 forward, 1 backward-data,
 * 2 backward-weight) takes this path; a call for a geometry that does not fit
 * does nothing. Work items i = n * nblk + blk (nblk = fc_depthwise_small_blocks(g))
 * are channels 8 blk .. min(8 blk + 8, C) - 1 of image n; forward and
 * backward-data do the items in [i0, i1) with the meaning of the calls above
 * (dx overwritten), serial, and no result depends on the split. */
int fc_depthwise_small_fits(const fc_conv_geom *g, int pass);
fc_int fc_depthwise_small_blocks(const fc_conv_geom *g);
void fc_depthwise_small_forward_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                    const float *x, const float *w, const float *bias, int act,
                                    float act_param, float *y);
void fc_depthwise_small_forward_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                    const double *x, const double *w, const double *bias, int act,
                                    double act_param, double *y);
void fc_depthwise_small_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                          const float *dy, const float *w, float *dx);
void fc_depthwise_small_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                          const double *dy, const double *w, double *dx);
/* Weight gradient of channel block blk over nimg images starting at x, dy
 * (whole images: x (nimg, C, H, W), dy (nimg, C, Ho, Wo)), summed image by
 * image, pixel by pixel in row-major order: out[l * part + t] (t < R * S) =
 * tap t of channel 8 blk + l, out[l * part + R * S] = its dy sum (overwritten). */
void fc_depthwise_small_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, fc_int blk,
                                            const float *x, const float *dy, fc_int part,
                                            float *out);
void fc_depthwise_small_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, fc_int blk,
                                            const double *x, const double *dy, fc_int part,
                                            double *out);

/* Stride-1 depthwise convolution with same-size output (csrc/conv_depthwise_flat.c),
 * on the AVX-512 path only: K == C, no dilation, Ho == H, Wo == W, R * S <= 25,
 * H * W <= 4096, planes of at least one vector or a divisor of one (elem: 4 float,
 * 8 double); and the stride-2 forward of 3x3 filters with padding 1 on even planes
 * (Ho = H / 2, Wo = W / 2) whose rows are whole vectors (with whole groups of four
 * stride-1 vectors of even rows) or, for float, of 4x4 planes.
 * fc_depthwise_flat_fits(g, pass, elem) is 1 when pass (0 forward, 1
 * backward-data, 2 backward-weight) takes this path (0 when fc_simd_path() is not FC_SIMD_AVX512); a
 * call that does not fit does nothing. Work items [0, fc_depthwise_flat_items(g, pass, N,
 * elem)): planes n * C + c (image-major), or, for planes smaller than a vector,
 * vector positions u of the images (i = u * N + n); forward and backward-data do
 * the items in [i0, i1) with the meaning of fc_depthwise_forward /
 * fc_depthwise_backward_data (dx overwritten), serial, and no result depends on
 * the split. */
int fc_depthwise_flat_fits(const fc_conv_geom *g, int pass, size_t elem);
/* Pass 2 (weight gradient; stride 1, 3x3 with padding 1, rows of whole vectors,
 * at least 3 rows): channels
 * [k0, k1) of nimg whole images (x and dy (nimg, C, H, W)), out[(k - k0) * part
 * + t] = tap t's gradient (t < R * S), out[(k - k0) * part + R * S] = the dy sum,
 * overwritten; summed in an order fixed by the geometry and nimg. */
void fc_depthwise_flat_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, fc_int k0,
                                           fc_int k1, const float *x, const float *dy,
                                           fc_int part, float *out);
void fc_depthwise_flat_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, fc_int k0,
                                           fc_int k1, const double *x, const double *dy,
                                           fc_int part, double *out);
fc_int fc_depthwise_flat_items(const fc_conv_geom *g, int pass, fc_int N, size_t elem);
void fc_depthwise_flat_forward_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                   const float *x, const float *w, const float *bias, int act,
                                   float act_param, float *y);
void fc_depthwise_flat_forward_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                   const double *x, const double *w, const double *bias, int act,
                                   double act_param, double *y);
void fc_depthwise_flat_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                         const float *dy, const float *w, float *dx);
void fc_depthwise_flat_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                         const double *dy, const double *w, double *dx);

/* Depthwise convolution vectorised along output rows (csrc/conv_depthwise_rows.c):
 * K == C, stride 1 or 2 (backward-data: 1), no dilation, output rows (forward:
 * Wo, backward-data: W) at least 8 wide (backward-weight: Wo >= 32 and
 * H * W <= 1024), padded plane within a small buffer (64x64 with 3x3 filters).
 * fc_depthwise_rows_fits(g, pass) is 1 when pass (0 forward, 1 backward-data,
 * 2 backward-weight) takes this path; a call for a geometry that does not fit
 * does nothing. The planes q = n * C + c (image-major) in [q0, q1) are done
 * with the meaning of fc_depthwise_forward / fc_depthwise_backward_data (dx
 * overwritten), serial, and no result depends on the split. */
int fc_depthwise_rows_fits(const fc_conv_geom *g, int pass);
void fc_depthwise_rows_forward_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                   const float *x, const float *w, const float *bias, int act,
                                   float act_param, float *y);
void fc_depthwise_rows_forward_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                   const double *x, const double *w, const double *bias, int act,
                                   double act_param, double *y);
void fc_depthwise_rows_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                         const float *dy, const float *w, float *dx);
void fc_depthwise_rows_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                         const double *dy, const double *w, double *dx);
/* Weight gradient of one filter over nimg images (plane of image n at
 * x + n * x_stride, dy + n * dy_stride; pass 2 must fit): out[t] (t < R * S) =
 * tap t, out[R * S] = the dy sum, overwritten; summed in an order fixed by the
 * geometry and nimg. */
void fc_depthwise_rows_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                           fc_int x_stride, const float *dy, fc_int dy_stride,
                                           float *out);
void fc_depthwise_rows_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                           fc_int x_stride, const double *dy, fc_int dy_stride,
                                           double *out);

#endif /* FASTCONV_DEPTHWISE_H */
