/* Element-wise activations and maxout, forward and backward (see fastconv.h).
 * The conv kernels call fc_activation_forward_* on finished output blocks, so
 * this file is the single home of the activation math in C. */
#include <math.h>
#include "fastconv.h"

#define T float
#define SUFFIX f32
#define EXP expf
#define TANH tanhf
#define EXPM1 expm1f
#include "activation_impl.h"
#undef T
#undef SUFFIX
#undef EXP
#undef TANH
#undef EXPM1

#define T double
#define SUFFIX f64
#define EXP exp
#define TANH tanh
#define EXPM1 expm1
#include "activation_impl.h"
