/*
 * fastconv_program.h -- the inference programs' C API (part of fastconv.h, which
 * includes it): a planned model's forward pass as one call into C.
 */
#ifndef FASTCONV_PROGRAM_H
#define FASTCONV_PROGRAM_H

/* ------------------------------------------------------------------ */
/* Inference programs (csrc/program.c): a model's forward pass as one  */
/* call into C, a list of ops over numbered buffers                    */
/* ------------------------------------------------------------------ */

enum fc_op_kind {
    FC_OP_CONV = 0,        /* y[out] = act(conv(in0) + bias (+ in1 if in1 >= 0)), packed weights;
                              with pool_after, then pooled (pool geometry) */
    FC_OP_DEPTHWISE = 1,   /* y[out] = act(depthwise conv(in0) + bias), plain weights */
    FC_OP_MAX_POOL = 2,    /* pool over `channels` planes per image */
    FC_OP_AVG_POOL = 3,
    FC_OP_PLANE_MEANS = 4, /* `channels` planes of `size` pixels per image -> their means */
    FC_OP_LINEAR = 5,      /* (N, size) . packed W^T (units) + bias, then act in place */
    FC_OP_ADD = 6,         /* act(in0 + in1), `size` elements per image */
    FC_OP_TO_NCHW = 7      /* channels-last images (`size` pixels of `channels`) -> NCHW */
};

/* One op of a program. Buffers are numbered; the caller passes their
 * addresses to each run. The geometry fields are the ones the op's kind
 * names; everything was validated when the program was made. */
typedef struct fc_op {
    int kind, act;
    double act_param;
    int in0, in1, out;       /* buffer numbers; in1 = -1 when unused */
    int pool_after;          /* CONV: 0, or FC_OP_MAX_POOL / FC_OP_AVG_POOL of its output */
    int pre_depthwise;       /* CONV (no residual, no pool_after): 1 when in0 is the input of
                                the depthwise convolution `dw` whose output the conv reads */
    fc_conv_geom dw;         /* that depthwise convolution, its plain weights and bias */
    const void *dw_weight, *dw_bias;
    int dw_act;
    double dw_act_param;
    fc_conv_geom conv;       /* CONV, DEPTHWISE */
    fc_pool_geom pool;       /* MAX_POOL, AVG_POOL, CONV with pool_after */
    fc_int channels;         /* planes per image: pooling, PLANE_MEANS */
    fc_int size;             /* PLANE_MEANS: pixels per plane; LINEAR: input features;
                                ADD: elements per image */
    fc_int units;            /* LINEAR: output features */
    const void *weight;      /* CONV: packed; DEPTHWISE: plain; LINEAR: fc_linear_pack'ed */
    const void *bias;        /* (K) / (units) or NULL */
} fc_op;

/* Scratch bytes a run of the program over N images on nthreads needs (in
 * chunks of `chunk` images when 0 < chunk < N). */
size_t fc_program_workspace_bytes(const fc_op *ops, int nops, fc_int N, fc_int chunk,
                                  int nthreads, size_t elem);
/* Run ops in order over N images: the whole batch op by op, or with 0 < chunk
 * < N every op over images [0, chunk), then every op over the next chunk, and
 * so on (each image's activations then pass between ops while still in
 * cache; every op computes an image the same in any batch, so the results
 * are bitwise the same). work: fc_program_workspace_bytes, 64-byte aligned.
 * seconds: NULL, or nops doubles to which each op's wall time is ADDED. */
void fc_program_run_f32(const fc_op *ops, int nops, void *const *bufs, fc_int N, fc_int chunk,
                        int nthreads, char *work, double *seconds);
void fc_program_run_f64(const fc_op *ops, int nops, void *const *bufs, fc_int N, fc_int chunk,
                        int nthreads, char *work, double *seconds);

/* y (N, B, A) = x (N, A, B): the layout change at a model's edges (NHWC -> NCHW
 * with A = H*W, B = C; back with A = C, B = H*W), in tiles that stay in L1,
 * images and tile rows shared by up to nthreads threads (csrc/program.c). */
void fc_transpose_images_f32(fc_int N, fc_int A, fc_int B, const float *x, float *y,
                             int nthreads);
void fc_transpose_images_f64(fc_int N, fc_int A, fc_int B, const double *x, double *y,
                             int nthreads);

#endif /* FASTCONV_PROGRAM_H */
