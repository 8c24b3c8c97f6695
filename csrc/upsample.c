/* Nearest and bilinear upsampling of NCHW planes, forward and backward (see
 * fastconv.h), with PyTorch's index rules (ATen's UpSample.h semantics, which
 * follow OpenCV): a source index and two weights per output row and column,
 * computed once per call into tables, then a pass over every plane.
 *
 * Threads take whole planes, and each plane's gradient is summed by one
 * thread in a fixed order (output rows, then columns), so the backward is
 * bitwise the same for any thread count.
 *
 * This file is compiled once and includes itself once per element type
 * (FC_UP_T defined) for the type-generic part at the end. */
#ifndef FC_UP_T

#include <math.h>
#include <stdlib.h>
#include "fastconv.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Nearest source index of output `o` along an axis of `in` -> `out` pixels.
 * PyTorch's legacy 'nearest' (not 'nearest-exact'): the scale in single
 * precision even for double tensors, floor(o * scale), clipped; sizes equal or
 * exactly doubled are special-cased (there the float product could round
 * across an integer). */
static fc_int fc_nearest_index(fc_int o, fc_int in, fc_int out, double scale)
{
    if (out == in)
        return o;
    if (out == 2 * in)
        return o >> 1;
    float s = scale > 0 ? (float)(1.0 / scale) : (float)in / (float)out;
    fc_int i = (fc_int)floorf((float)o * s);
    return i < in - 1 ? i : in - 1;
}

#define FC_UP_T float
#define FC_UP_SFX(name) name##_f32
#define FC_UP_FLOOR floorf
#include "upsample.c"
#undef FC_UP_T
#undef FC_UP_SFX
#undef FC_UP_FLOOR

#define FC_UP_T double
#define FC_UP_SFX(name) name##_f64
#define FC_UP_FLOOR floor
#include "upsample.c"
#undef FC_UP_T
#undef FC_UP_SFX
#undef FC_UP_FLOOR

#else /* the type-generic part: FC_UP_T, FC_UP_SFX, FC_UP_FLOOR defined */

/* One axis of the tables: output o reads sources i0[o] and i1[o] with weights
 * l0[o] and l1[o] (bilinear), or i0[o] alone (nearest). The weights are
 * computed in the element type, as PyTorch does. */
static void FC_UP_SFX(fc_upsample_axis)(fc_int in, fc_int out, int mode, int align_corners,
                                        double scale, fc_int *i0, fc_int *i1, FC_UP_T *l0,
                                        FC_UP_T *l1)
{
    typedef FC_UP_T T;
    if (mode == FC_UPSAMPLE_NEAREST) {
        for (fc_int o = 0; o < out; o++) {
            i0[o] = i1[o] = fc_nearest_index(o, in, out, scale);
            l0[o] = (T)1;
            l1[o] = (T)0;
        }
        return;
    }
    T ratio;
    if (align_corners)
        ratio = out > 1 ? (T)(in - 1) / (T)(out - 1) : (T)0;
    else
        ratio = scale > 0 ? (T)(1.0 / scale) : (T)in / (T)out;
    for (fc_int o = 0; o < out; o++) {
        if (out == in) { /* a copy, whatever the scale factor said */
            i0[o] = i1[o] = o;
            l0[o] = (T)1;
            l1[o] = (T)0;
            continue;
        }
        T src;
        if (align_corners) {
            src = ratio * (T)o;
        } else {
            /* Pixel centres; a source left of the first centre reads pixel 0. */
            src = ratio * ((T)o + (T)0.5) - (T)0.5;
            src = src < (T)0 ? (T)0 : src;
        }
        fc_int i = (fc_int)FC_UP_FLOOR(src);
        i = i < in - 1 ? i : in - 1;
        T lam = src - (T)i;
        lam = lam < (T)0 ? (T)0 : (lam > (T)1 ? (T)1 : lam);
        i0[o] = i;
        i1[o] = i + (i < in - 1 ? 1 : 0);
        l1[o] = lam;
        l0[o] = (T)1 - lam;
    }
}

/* The tables of both axes in one allocation (freed by the caller), or NULL. */
typedef struct FC_UP_SFX(fc_up_tables) {
    fc_int *h0, *h1, *w0, *w1;
    FC_UP_T *lh0, *lh1, *lw0, *lw1;
} FC_UP_SFX(fc_up_tables);

static void *FC_UP_SFX(fc_up_make_tables)(const fc_upsample_geom *g, FC_UP_SFX(fc_up_tables) *t)
{
    const fc_int n = g->Ho + g->Wo;
    char *buf = (char *)malloc((size_t)n * 2 * (sizeof(fc_int) + sizeof(FC_UP_T)));
    if (!buf)
        return NULL;
    t->h0 = (fc_int *)buf;
    t->h1 = t->h0 + g->Ho;
    t->w0 = t->h1 + g->Ho;
    t->w1 = t->w0 + g->Wo;
    t->lh0 = (FC_UP_T *)(t->w1 + g->Wo);
    t->lh1 = t->lh0 + g->Ho;
    t->lw0 = t->lh1 + g->Ho;
    t->lw1 = t->lw0 + g->Wo;
    FC_UP_SFX(fc_upsample_axis)(g->H, g->Ho, g->mode, g->align_corners, g->scale_h, t->h0,
                                t->h1, t->lh0, t->lh1);
    FC_UP_SFX(fc_upsample_axis)(g->W, g->Wo, g->mode, g->align_corners, g->scale_w, t->w0,
                                t->w1, t->lw0, t->lw1);
    return buf;
}

static void FC_UP_SFX(fc_up_plane_forward)(const fc_upsample_geom *g,
                                           const FC_UP_SFX(fc_up_tables) *t, const FC_UP_T *x,
                                           FC_UP_T *y)
{
    typedef FC_UP_T T;
    const fc_int W = g->W, Wo = g->Wo;
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        const T *r0 = x + t->h0[oh] * W, *r1 = x + t->h1[oh] * W;
        T *out = y + oh * Wo;
        if (g->mode == FC_UPSAMPLE_NEAREST) {
            for (fc_int ow = 0; ow < Wo; ow++) out[ow] = r0[t->w0[ow]];
            continue;
        }
        const T a0 = t->lh0[oh], a1 = t->lh1[oh];
        for (fc_int ow = 0; ow < Wo; ow++) {
            const fc_int c0 = t->w0[ow], c1 = t->w1[ow];
            const T b0 = t->lw0[ow], b1 = t->lw1[ow];
            out[ow] = a0 * (b0 * r0[c0] + b1 * r0[c1]) + a1 * (b0 * r1[c0] + b1 * r1[c1]);
        }
    }
}

static void FC_UP_SFX(fc_up_plane_backward)(const fc_upsample_geom *g,
                                            const FC_UP_SFX(fc_up_tables) *t, const FC_UP_T *gy,
                                            FC_UP_T *gx)
{
    typedef FC_UP_T T;
    const fc_int W = g->W, Wo = g->Wo;
    for (fc_int i = 0; i < g->H * W; i++) gx[i] = (T)0;
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        T *r0 = gx + t->h0[oh] * W, *r1 = gx + t->h1[oh] * W;
        const T *in = gy + oh * Wo;
        if (g->mode == FC_UPSAMPLE_NEAREST) {
            for (fc_int ow = 0; ow < Wo; ow++) r0[t->w0[ow]] += in[ow];
            continue;
        }
        const T a0 = t->lh0[oh], a1 = t->lh1[oh];
        for (fc_int ow = 0; ow < Wo; ow++) {
            const fc_int c0 = t->w0[ow], c1 = t->w1[ow];
            const T b0 = t->lw0[ow], b1 = t->lw1[ow], v = in[ow];
            /* Sequential updates: c0 == c1 or r0 == r1 at the borders. */
            r0[c0] += a0 * b0 * v;
            r0[c1] += a0 * b1 * v;
            r1[c0] += a1 * b0 * v;
            r1[c1] += a1 * b1 * v;
        }
    }
}

int FC_UP_SFX(fc_upsample2d_forward)(const fc_upsample_geom *g, fc_int planes, const FC_UP_T *x,
                                     FC_UP_T *y, int nthreads)
{
    FC_UP_SFX(fc_up_tables) t;
    void *buf = FC_UP_SFX(fc_up_make_tables)(g, &t);
    if (!buf)
        return -1;
    const fc_int in_plane = g->H * g->W, out_plane = g->Ho * g->Wo;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
#endif
    for (fc_int p = 0; p < planes; p++)
        FC_UP_SFX(fc_up_plane_forward)(g, &t, x + p * in_plane, y + p * out_plane);
    free(buf);
    return 0;
}

int FC_UP_SFX(fc_upsample2d_backward)(const fc_upsample_geom *g, fc_int planes,
                                      const FC_UP_T *gy, FC_UP_T *gx, int nthreads)
{
    FC_UP_SFX(fc_up_tables) t;
    void *buf = FC_UP_SFX(fc_up_make_tables)(g, &t);
    if (!buf)
        return -1;
    const fc_int in_plane = g->H * g->W, out_plane = g->Ho * g->Wo;
    (void)nthreads;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) num_threads(nthreads) if (nthreads > 1)
#endif
    for (fc_int p = 0; p < planes; p++)
        FC_UP_SFX(fc_up_plane_backward)(g, &t, gy + p * out_plane, gx + p * in_plane);
    free(buf);
    return 0;
}

#endif /* FC_UP_T */
