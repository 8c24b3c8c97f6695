# Cython view of csrc/fastconv.h: the whole C interface, declared once.
from libc.stdint cimport int64_t

cdef extern from "fastconv.h" nogil:
    ctypedef int64_t fc_int

    int FC_SIMD_PORTABLE
    int FC_SIMD_AVX2
    int FC_SIMD_AVX512
    int fc_cpu_has_avx2_fma()
    int fc_cpu_has_avx512()
    int fc_winograd_enabled()
    int fc_winograd_forced()
    int fc_winograd4_forced()
    int fc_winograd_s2_forced()
    int fc_simd_path()
    int fc_set_simd_path(int path)
    const char *fc_simd_path_name(int path)

    # The values come from the header at C compile time: never re-typed here.
    cdef enum fc_activation:
        FC_ACT_NONE
        FC_ACT_RELU
        FC_ACT_LEAKY_RELU
        FC_ACT_SIGMOID
        FC_ACT_TANH
        FC_ACT_ELU
        FC_ACT_RELU6
        FC_ACT_HARDSIGMOID
        FC_ACT_HARDSWISH
        FC_ACT_SILU
        FC_ACT_GELU
        FC_ACT_GELU_TANH
    void fc_activation_forward_f32(int act, float param, const float *x, float *y, fc_int n)
    void fc_activation_forward_f64(int act, double param, const double *x, double *y, fc_int n)
    void fc_activation_backward_f32(int act, float param, const float *x, const float *gy, float *gx, fc_int n)
    void fc_activation_backward_f64(int act, double param, const double *x, const double *gy, double *gx, fc_int n)
    void fc_softplus_forward_f32(float beta, float threshold, const float *x, float *y, fc_int n)
    void fc_softplus_forward_f64(double beta, double threshold, const double *x, double *y, fc_int n)
    void fc_softplus_backward_f32(float beta, float threshold, const float *x, const float *gy,
                                  float *gx, fc_int n)
    void fc_softplus_backward_f64(double beta, double threshold, const double *x, const double *gy,
                                  double *gx, fc_int n)
    void fc_maxout_forward_f32(const float *x, float *y, fc_int C, fc_int HW, fc_int pieces)
    void fc_maxout_forward_f64(const double *x, double *y, fc_int C, fc_int HW, fc_int pieces)
    void fc_maxout_backward_f32(const float *x, const float *gy, float *gx, fc_int C, fc_int HW, fc_int pieces)
    void fc_maxout_backward_f64(const double *x, const double *gy, double *gx, fc_int C, fc_int HW, fc_int pieces)

    void fc_gemm_f32(fc_int m, fc_int n, fc_int k,
                     const float *a, fc_int rsa, fc_int csa,
                     const float *b, fc_int rsb, fc_int csb,
                     float beta, float *c, fc_int ldc, int nthreads)
    void fc_gemm_f64(fc_int m, fc_int n, fc_int k,
                     const double *a, fc_int rsa, fc_int csa,
                     const double *b, fc_int rsb, fc_int csb,
                     double beta, double *c, fc_int ldc, int nthreads)
    size_t fc_linear_packed_bytes_f32(fc_int units, fc_int inp)
    size_t fc_linear_packed_bytes_f64(fc_int units, fc_int inp)
    void fc_linear_pack_f32(fc_int units, fc_int inp, const float *w, float *wp)
    void fc_linear_pack_f64(fc_int units, fc_int inp, const double *w, double *wp)
    void fc_linear_packed_f32(fc_int n, fc_int units, fc_int inp, const float *x, const float *wp,
                              const float *bias, float *y, int nthreads)
    void fc_linear_packed_f64(fc_int n, fc_int units, fc_int inp, const double *x, const double *wp,
                              const double *bias, double *y, int nthreads)

    ctypedef struct fc_conv_geom:
        fc_int C, H, W
        fc_int K, R, S
        fc_int Ho, Wo
        fc_int stride_h, stride_w
        fc_int pad_top, pad_left
        fc_int dil_h, dil_w
        int winograd
    size_t fc_conv2d_workspace_bytes(const fc_conv_geom *g, size_t elem)
    void fc_conv2d_forward_f32(const fc_conv_geom *g, const float *x, const float *w,
                               const float *bias, int act, float act_param, float *y, void *work)
    void fc_conv2d_forward_f64(const fc_conv_geom *g, const double *x, const double *w,
                               const double *bias, int act, double act_param, double *y, void *work)
    void fc_conv2d_backward_data_f32(const fc_conv_geom *g, const float *dy, const float *w,
                                     float *dx, void *work)
    void fc_conv2d_backward_data_f64(const fc_conv_geom *g, const double *dy, const double *w,
                                     double *dx, void *work)
    int FC_CONV_FORWARD
    int FC_CONV_BACKWARD_DATA
    int FC_CONV_BACKWARD_WEIGHT
    size_t fc_conv2d_packed_weights_bytes(const fc_conv_geom *g, int op, size_t elem)
    const char *fc_conv2d_path(const fc_conv_geom *g, int op, size_t elem)
    void fc_conv2d_pack_weights_f32(const fc_conv_geom *g, int op, const float *w, void *packed)
    void fc_conv2d_pack_weights_f64(const fc_conv_geom *g, int op, const double *w, void *packed)
    void fc_conv2d_pack_weights_batch_f32(const fc_conv_geom *g, int op, const float *w,
                                          void *packed, fc_int nimg)
    void fc_conv2d_pack_weights_batch_f64(const fc_conv_geom *g, int op, const double *w,
                                          void *packed, fc_int nimg)
    void fc_conv2d_forward_packed_f32(const fc_conv_geom *g, const float *x, const void *packed,
                                      const float *bias, const float *res, int act, float act_param, float *y, void *work)
    void fc_conv2d_forward_packed_f64(const fc_conv_geom *g, const double *x, const void *packed,
                                      const double *bias, const double *res, int act, double act_param, double *y, void *work)
    void fc_conv2d_forward_packed_batch_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                            const void *packed, const float *bias, const float *res, int act,
                                            float act_param, float *y, void *work)
    void fc_conv2d_forward_packed_batch_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                            const void *packed, const double *bias, const double *res, int act,
                                            double act_param, double *y, void *work)
    void fc_conv2d_forward_packed_part_f32(const fc_conv_geom *g, const float *x, const void *packed,
                                           const float *bias, const float *res, int act, float act_param, float *y,
                                           void *work, int part, int nparts)
    void fc_conv2d_forward_packed_part_f64(const fc_conv_geom *g, const double *x, const void *packed,
                                           const double *bias, const double *res, int act, double act_param, double *y,
                                           void *work, int part, int nparts)
    int fc_conv2d_1x1_batch_ok(const fc_conv_geom *g, fc_int nimg)
    size_t fc_conv2d_1x1_batch_workspace_bytes(const fc_conv_geom *g, size_t elem)
    void fc_conv2d_forward_1x1_batch_f32(const fc_conv_geom *g, fc_int n0, fc_int n1, const float *x,
                                         const void *packed, const float *bias, const float *res, int act,
                                         float act_param, float *y, void *work)
    void fc_conv2d_forward_1x1_batch_f64(const fc_conv_geom *g, fc_int n0, fc_int n1, const double *x,
                                         const void *packed, const double *bias, const double *res, int act,
                                         double act_param, double *y, void *work)
    void fc_conv2d_backward_data_packed_batch_f32(const fc_conv_geom *g, fc_int nimg, const float *dy,
                                                  const void *packed, const float *bias,
                                                  const float *res, float *dx, void *work)
    void fc_conv2d_backward_data_packed_batch_f64(const fc_conv_geom *g, fc_int nimg, const double *dy,
                                                  const void *packed, const double *bias,
                                                  const double *res, double *dx, void *work)
    void fc_conv2d_backward_data_packed_f32(const fc_conv_geom *g, const float *dy, const void *packed,
                                            const float *bias, float *dx, void *work)
    void fc_conv2d_backward_data_packed_f64(const fc_conv_geom *g, const double *dy, const void *packed,
                                            const double *bias, double *dx, void *work)
    int fc_conv2d_backward_data_as_forward(const fc_conv_geom *g, size_t elem, fc_conv_geom *t)
    int fc_conv2d_backward_data_1x1_as_forward(const fc_conv_geom *g, fc_int nimg, fc_conv_geom *t)
    void fc_scatter_strided_plane_f32(const float *src, fc_int Ho, fc_int Wo, fc_int sh, fc_int sw,
                                      const float *addend, fc_int H, fc_int W, float *dst)
    void fc_scatter_strided_plane_f64(const double *src, fc_int Ho, fc_int Wo, fc_int sh, fc_int sw,
                                      const double *addend, fc_int H, fc_int W, double *dst)
    fc_int fc_conv2d_run_images(const fc_conv_geom *g, int which, size_t elem)
    void fc_bias_grad_part_f32(fc_int N, fc_int K, fc_int P, const float *dy, float *db, fc_int k0,
                               fc_int k1)
    void fc_bias_grad_part_f64(fc_int N, fc_int K, fc_int P, const double *dy, double *db, fc_int k0,
                               fc_int k1)
    int fc_conv2d_forward_filters_ok(const fc_conv_geom *g, fc_int nimg, size_t elem)
    size_t fc_conv2d_forward_filters_bytes(const fc_conv_geom *g, fc_int nimg, size_t elem)
    void fc_conv2d_forward_filters_part_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                            const float *w, int flip, const float *bias,
                                            const float *res, int act, float act_param, float *y,
                                            int part, int nparts, void *work)
    void fc_conv2d_forward_filters_part_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                            const double *w, int flip, const double *bias,
                                            const double *res, int act, double act_param,
                                            double *y, int part, int nparts, void *work)
    int fc_conv2d_backward_weight_filters_ok(const fc_conv_geom *g, fc_int nimg, size_t elem)
    size_t fc_conv2d_backward_weight_filters_bytes(const fc_conv_geom *g, fc_int nimg, size_t elem)
    void fc_conv2d_backward_weight_filters_part_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                                    const float *dy, float *dw, float *db, int part,
                                                    int nparts, void *work)
    void fc_conv2d_backward_weight_filters_part_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                                    const double *dy, double *dw, double *db, int part,
                                                    int nparts, void *work)
    int fc_conv2d_backward_weight_1x1_ok(const fc_conv_geom *g, fc_int nimg)
    void fc_conv2d_backward_weight_1x1_part_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                                const float *dy, float *dw, float *db, int part,
                                                int nparts, void *work)
    void fc_conv2d_backward_weight_1x1_part_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                                const double *dy, double *dw, double *db, int part,
                                                int nparts, void *work)
    void fc_conv2d_backward_weight_batch_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                             const float *dy, float *dw, float *db, void *work)
    void fc_conv2d_backward_weight_batch_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                             const double *dy, double *dw, double *db, void *work)
    void fc_conv2d_backward_weight_f32(const fc_conv_geom *g, const float *x, const float *dy,
                                       float *dw, float *db, void *work)
    void fc_conv2d_backward_weight_f64(const fc_conv_geom *g, const double *x, const double *dy,
                                       double *dw, double *db, void *work)

    void fc_depthwise_forward_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                  const float *x, const float *w, const float *bias, int act,
                                  float act_param, float *y)
    void fc_depthwise_forward_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                  const double *x, const double *w, const double *bias, int act,
                                  double act_param, double *y)
    void fc_depthwise_backward_weight_plane_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                                fc_int x_stride, const float *dy, fc_int dy_stride,
                                                float *dw, float *db)
    void fc_depthwise_backward_weight_plane_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                                fc_int x_stride, const double *dy, fc_int dy_stride,
                                                double *dw, double *db)
    int fc_depthwise_flat_fits(const fc_conv_geom *g, int pass_, size_t elem)
    fc_int fc_depthwise_flat_items(const fc_conv_geom *g, int pass_, fc_int N, size_t elem)
    void fc_depthwise_flat_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, fc_int k0,
                                               fc_int k1, const float *x, const float *dy,
                                               fc_int part, float *out)
    void fc_depthwise_flat_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, fc_int k0,
                                               fc_int k1, const double *x, const double *dy,
                                               fc_int part, double *out)
    int fc_depthwise_rows_fits(const fc_conv_geom *g, int pass_)
    void fc_depthwise_rows_forward_f32(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                       const float *x, const float *w, const float *bias, int act,
                                       float act_param, float *y)
    void fc_depthwise_rows_forward_f64(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                       const double *x, const double *w, const double *bias,
                                       int act, double act_param, double *y)
    void fc_depthwise_rows_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, const float *x,
                                               fc_int x_stride, const float *dy, fc_int dy_stride,
                                               float *out)
    void fc_depthwise_rows_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, const double *x,
                                               fc_int x_stride, const double *dy, fc_int dy_stride,
                                               double *out)
    int fc_depthwise_small_fits(const fc_conv_geom *g, int pass_)
    fc_int fc_depthwise_small_blocks(const fc_conv_geom *g)
    void fc_depthwise_small_forward_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                        const float *x, const float *w, const float *bias, int act,
                                        float act_param, float *y)
    void fc_depthwise_small_forward_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                        const double *x, const double *w, const double *bias,
                                        int act, double act_param, double *y)
    void fc_depthwise_small_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, fc_int blk,
                                                const float *x, const float *dy, fc_int part,
                                                float *out)
    void fc_depthwise_small_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, fc_int blk,
                                                const double *x, const double *dy, fc_int part,
                                                double *out)

    ctypedef struct fc_pool_geom:
        fc_int H, W, Ho, Wo
        fc_int kh, kw, stride_h, stride_w, pad_h, pad_w
        fc_int pad_bottom, pad_right, dil_h, dil_w
        int count_include_pad
    void fc_max_pool2d_forward_f32(const fc_pool_geom *g, const float *x, float *y)
    void fc_max_pool2d_forward_f64(const fc_pool_geom *g, const double *x, double *y)
    void fc_max_pool2d_backward_f32(const fc_pool_geom *g, const float *x, const float *gy, float *gx)
    void fc_max_pool2d_backward_f64(const fc_pool_geom *g, const double *x, const double *gy, double *gx)
    void fc_avg_pool2d_forward_f32(const fc_pool_geom *g, const float *x, float *y)
    void fc_avg_pool2d_forward_f64(const fc_pool_geom *g, const double *x, double *y)
    void fc_avg_pool2d_backward_f32(const fc_pool_geom *g, const float *gy, float *gx)
    void fc_avg_pool2d_backward_f64(const fc_pool_geom *g, const double *gy, double *gx)

    cdef enum fc_upsample_mode:
        FC_UPSAMPLE_NEAREST
        FC_UPSAMPLE_BILINEAR
    ctypedef struct fc_upsample_geom:
        fc_int H, W, Ho, Wo
        int mode
        int align_corners
        double scale_h, scale_w
    int fc_upsample2d_forward_f32(const fc_upsample_geom *g, fc_int planes, const float *x,
                                  float *y, int nthreads)
    int fc_upsample2d_forward_f64(const fc_upsample_geom *g, fc_int planes, const double *x,
                                  double *y, int nthreads)
    int fc_upsample2d_backward_f32(const fc_upsample_geom *g, fc_int planes, const float *gy,
                                   float *gx, int nthreads)
    int fc_upsample2d_backward_f64(const fc_upsample_geom *g, fc_int planes, const double *gy,
                                   double *gx, int nthreads)

    int fc_batchnorm_forward_training_f32(const float *x, fc_int N, fc_int C, fc_int HW,
                                          const double *gamma, const double *beta, double eps,
                                          int relu, const float *res, float *y, double *mean,
                                          double *var, double *invstd, int nthreads)
    int fc_batchnorm_forward_training_f64(const double *x, fc_int N, fc_int C, fc_int HW,
                                          const double *gamma, const double *beta, double eps,
                                          int relu, const double *res, double *y, double *mean,
                                          double *var, double *invstd, int nthreads)
    int fc_batchnorm_forward_inference_f32(const float *x, fc_int N, fc_int C, fc_int HW,
                                           const double *mean, const double *scale,
                                           const double *shift, int relu, float *y, int nthreads)
    int fc_batchnorm_forward_inference_f64(const double *x, fc_int N, fc_int C, fc_int HW,
                                           const double *mean, const double *scale,
                                           const double *shift, int relu, double *y, int nthreads)
    int fc_batchnorm_backward_f32(const float *g, const float *x, const float *y,
                                  const double *beta, fc_int N, fc_int C, fc_int HW,
                                  const double *mean, const double *invstd, const double *gamma,
                                  int training, float *gx, float *gmasked,
                                  double *grad_gamma, double *grad_beta, int nthreads)
    int fc_batchnorm_backward_f64(const double *g, const double *x, const double *y,
                                  const double *beta, fc_int N, fc_int C, fc_int HW,
                                  const double *mean, const double *invstd, const double *gamma,
                                  int training, double *gx, double *gmasked,
                                  double *grad_gamma, double *grad_beta, int nthreads)

    # Batch drivers (csrc/forward_team.c)
    size_t fc_conv2d_forward_team_workspace_bytes(const fc_conv_geom *g, fc_int N, int nthreads,
                                                  size_t elem)
    void fc_conv2d_forward_team_f32(const fc_conv_geom *g, fc_int N, const float *x,
                                    const void *packed, const float *bias, const float *res,
                                    int act, float act_param, float *y, int nthreads, char *work)
    void fc_conv2d_forward_team_f64(const fc_conv_geom *g, fc_int N, const double *x,
                                    const void *packed, const double *bias, const double *res,
                                    int act, double act_param, double *y, int nthreads,
                                    char *work)
    void fc_depthwise_forward_team_f32(const fc_conv_geom *g, fc_int N, const float *x,
                                       const float *w, const float *bias, int act,
                                       float act_param, float *y, int nthreads)
    void fc_depthwise_forward_team_f64(const fc_conv_geom *g, fc_int N, const double *x,
                                       const double *w, const double *bias, int act,
                                       double act_param, double *y, int nthreads)
    void fc_depthwise_backward_data_team_f32(const fc_conv_geom *g, fc_int N, const float *dy,
                                             const float *w, float *dx, int nthreads)
    void fc_depthwise_backward_data_team_f64(const fc_conv_geom *g, fc_int N, const double *dy,
                                             const double *w, double *dx, int nthreads)
    void fc_pool2d_forward_team_f32(const fc_pool_geom *g, int max, fc_int planes,
                                    const float *x, float *y, int nthreads)
    void fc_pool2d_forward_team_f64(const fc_pool_geom *g, int max, fc_int planes,
                                    const double *x, double *y, int nthreads)
    void fc_plane_means_team_f32(fc_int rows, fc_int n, const float *x, float *y, int nthreads)
    void fc_plane_means_team_f64(fc_int rows, fc_int n, const double *x, double *y,
                                 int nthreads)
    void fc_plane_fill_team_f32(fc_int rows, fc_int n, const float *v, float scale, float *y,
                                int nthreads)
    void fc_plane_fill_team_f64(fc_int rows, fc_int n, const double *v, double scale,
                                double *y, int nthreads)
    void fc_activation_forward_team_f32(int act, float param, const float *x, float *y,
                                        fc_int n, int nthreads)
    void fc_activation_forward_team_f64(int act, double param, const double *x, double *y,
                                        fc_int n, int nthreads)
    void fc_add_forward_team_f32(const float *a, const float *b, float *y, fc_int n, int act,
                                 float param, int nthreads)
    void fc_add_forward_team_f64(const double *a, const double *b, double *y, fc_int n, int act,
                                 double param, int nthreads)

    # Inference programs (csrc/program.c)
    cdef enum fc_op_kind:
        FC_OP_CONV
        FC_OP_DEPTHWISE
        FC_OP_MAX_POOL
        FC_OP_AVG_POOL
        FC_OP_PLANE_MEANS
        FC_OP_LINEAR
        FC_OP_ADD
        FC_OP_TO_NCHW
    ctypedef struct fc_op:
        int kind, act
        double act_param
        int in0, in1, out
        int pool_after
        int pre_depthwise
        fc_conv_geom dw
        const void *dw_weight
        const void *dw_bias
        int dw_act
        double dw_act_param
        fc_conv_geom conv
        fc_pool_geom pool
        fc_int channels, size, units
        const void *weight
        const void *bias
    size_t fc_program_workspace_bytes(const fc_op *ops, int nops, fc_int N, fc_int chunk,
                                      int nthreads, size_t elem)
    void fc_program_run_f32(const fc_op *ops, int nops, void *const *bufs, fc_int N,
                            fc_int chunk, int nthreads, char *work, double *seconds)
    void fc_program_run_f64(const fc_op *ops, int nops, void *const *bufs, fc_int N,
                            fc_int chunk, int nthreads, char *work, double *seconds)
    void fc_transpose_images_f32(fc_int N, fc_int A, fc_int B, const float *x, float *y,
                                 int nthreads)
    void fc_transpose_images_f64(fc_int N, fc_int A, fc_int B, const double *x, double *y,
                                 int nthreads)
