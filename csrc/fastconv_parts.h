/*
 * fastconv_parts.h -- the C API of the batch drivers whose threads split the filters,
 * each part over every image (part of fastconv.h, which includes it): no partial sums
 * to merge, the same bits for any number of parts.
 */
#ifndef FASTCONV_PARTS_H
#define FASTCONV_PARTS_H

/* The bias gradient of channels [k0, k1) of dy (N, K, P): db[k] = the sum of
 * its images' row sums, images in order (the weight-gradient passes' row sums):
 * the same bits however the channels are shared out. */
void fc_bias_grad_part_f32(fc_int N, fc_int K, fc_int P, const float *dy, float *db, fc_int k0,
                           fc_int k1);
void fc_bias_grad_part_f64(fc_int N, fc_int K, fc_int P, const double *dy, double *db, fc_int k0,
                           fc_int k1);
/* The F(4x4, 3x3) forward pass of few tiles and many channel pairs split by filters
 * (fc_conv2d_forward_filters_ok; conv_winograd4_filters.c): part `part` of nparts
 * writes the outputs of its filters for every image, transforming the weights w
 * (flip: the backward-data weights of the transposed geometry g, as
 * fc_conv2d_backward_data_as_forward makes it) block by block; the batch path's bits.
 * Workspace fc_conv2d_forward_filters_bytes per concurrent call. _ok returns the
 * blocks of filters (the most parts worth running), 0 where the split is not taken. */
int fc_conv2d_forward_filters_ok(const fc_conv_geom *g, fc_int nimg, size_t elem);
size_t fc_conv2d_forward_filters_bytes(const fc_conv_geom *g, fc_int nimg, size_t elem);
void fc_conv2d_forward_filters_part_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                        const float *w, int flip, const float *bias,
                                        const float *res, int act, float act_param, float *y,
                                        int part, int nparts, void *work);
void fc_conv2d_forward_filters_part_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                        const double *w, int flip, const double *bias,
                                        const double *res, int act, double act_param,
                                        double *y, int part, int nparts, void *work);
/* The Winograd weight gradient of few tiles and many channel pairs split by filters
 * (fc_conv2d_backward_weight_filters_ok): part `part` of nparts writes (not adds) the
 * gradient of its filters over every image, the same bits whatever nparts; workspace
 * fc_conv2d_backward_weight_filters_bytes per concurrent call; _ok returns the blocks of
 * filters (the most parts worth running), 0 where the split is not taken. */
int fc_conv2d_backward_weight_filters_ok(const fc_conv_geom *g, fc_int nimg, size_t elem);
size_t fc_conv2d_backward_weight_filters_bytes(const fc_conv_geom *g, fc_int nimg, size_t elem);
void fc_conv2d_backward_weight_filters_part_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                                const float *dy, float *dw, float *db, int part,
                                                int nparts, void *work);
void fc_conv2d_backward_weight_filters_part_f64(const fc_conv_geom *g, fc_int nimg,
                                                const double *x, const double *dy, double *dw,
                                                double *db, int part, int nparts, void *work);
/* 1x1 convolutions of small maps (stride 1, no padding, Ho * Wo <= 64, nimg >
 * 1): dw (K,C,1,1) and db (K, or NULL) are WRITTEN (not accumulated) from
 * all nimg images at once, the filters split into nparts parts (part of
 * them: filters [k0, k1), k0 a multiple of 6), each its own call: no partial
 * sums to merge, and every element is summed in an order that depends on g
 * and nimg only (images in groups of up to 256 pixel columns, groups in
 * order), whatever nparts. Workspace fc_conv2d_workspace_bytes(g) per concurrent
 * call. */
int fc_conv2d_backward_weight_1x1_ok(const fc_conv_geom *g, fc_int nimg);
void fc_conv2d_backward_weight_1x1_part_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                            const float *dy, float *dw, float *db, int part,
                                            int nparts, void *work);
void fc_conv2d_backward_weight_1x1_part_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                            const double *dy, double *dw, double *db, int part,
                                            int nparts, void *work);

#endif
