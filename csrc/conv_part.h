/*
 * conv_part.h -- a forward convolution and the pooling after it, one part of a
 * team sharing an image at a time (conv_part.c makes the cut; the pass is in
 * conv_forward.c; forward_team.c's conv -> pooling driver runs it).
 */
#ifndef FC_CONV_PART_H
#define FC_CONV_PART_H
#include "fastconv.h"

/* Part `part` of nparts of one image's forward pass (bias and activation, no
 * residual) into `full`, then the pooling pg (max or average) of the rows it
 * wrote into y: bitwise the two passes, where fc_conv2d_split_pools says every
 * part writes whole bands of pooling rows (no padding in h, windows no taller
 * than their stride). */
int fc_conv2d_split_pools(const fc_conv_geom *g, const fc_pool_geom *pg, int nparts, size_t elem);
#define FC_POOL_PART_DECLARE(T, S)                                                           \
    void fc_conv2d_forward_pool_part_##S(const fc_conv_geom *g, const fc_pool_geom *pg, int max, \
                                         const T *x, const void *packed, const T *bias,     \
                                         int act, T act_param, T *full, T *y, void *work,   \
                                         int part, int nparts);
FC_POOL_PART_DECLARE(float, f32)
FC_POOL_PART_DECLARE(double, f64)

#endif /* FC_CONV_PART_H */
