/* Max and average pooling of one (H, W) plane, forward and backward (see fastconv.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fastconv.h"

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
