/* Max and average pooling of one (H, W) plane, forward and backward (see fastconv.h). */
#include <math.h>
#include "fastconv.h"

#define T float
#define SUFFIX f32
#include "pool_impl.h"
#undef T
#undef SUFFIX

#define T double
#define SUFFIX f64
#include "pool_impl.h"
