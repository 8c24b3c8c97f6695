/* Max and average pooling of one (H, W) plane, forward and backward (see fastconv.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_POOL_HAVE_AVX2 1
/* 2x2 stride-2 max-pool backward rows (pool_avx2.c, contract there). */
fc_int fc_max_pool_2x2_bwd_rows_f32_avx2(fc_int ho, fc_int cols, fc_int W, fc_int Wo,
                                         const float *x, const float *gy, float *gx);
fc_int fc_max_pool_2x2_bwd_rows_f64_avx2(fc_int ho, fc_int cols, fc_int W, fc_int Wo,
                                         const double *x, const double *gy, double *gx);
/* 2x2 stride-2 max-pool forward rows (pool_avx2.c, contract there). */
fc_int fc_max_pool_2x2_fwd_rows_f32_avx2(fc_int ho, fc_int cols, fc_int W, fc_int Wo,
                                         const float *x, float *y);
fc_int fc_max_pool_2x2_fwd_rows_f64_avx2(fc_int ho, fc_int cols, fc_int W, fc_int Wo,
                                         const double *x, double *y);
#endif

#define T float
#define UT uint32_t
#define SUFFIX f32
#include "pool_impl.h"
#undef T
#undef UT
#undef SUFFIX

#define T double
#define UT uint64_t
#define SUFFIX f64
#include "pool_impl.h"
