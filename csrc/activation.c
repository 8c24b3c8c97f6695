/* Element-wise activations and maxout, forward and backward (see fastconv.h).
 * The conv kernels call fc_activation_forward_* on finished output blocks, so
 * this file is the single home of the activation math in C. */
#include <math.h>
#include "fastconv.h"

/* The AVX2 builds of the piecewise-linear activations need GCC/Clang target
 * attributes on x86-64; elsewhere the portable loops do everything. */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define FC_ACT_AVX2 1
#endif

#define T float
#define SUFFIX f32
#define EXP expf
#define TANH tanhf
#define EXPM1 expm1f
#define LOG1P log1pf
#define ERF erff
#define FABS fabsf
#include "activation_impl.h"
#undef T
#undef SUFFIX
#undef EXP
#undef TANH
#undef EXPM1
#undef LOG1P
#undef ERF
#undef FABS

#define T double
#define SUFFIX f64
#define EXP exp
#define TANH tanh
#define EXPM1 expm1
#define LOG1P log1p
#define ERF erf
#define FABS fabs
#include "activation_impl.h"
