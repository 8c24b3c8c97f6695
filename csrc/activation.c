/* Element-wise activations and maxout, forward and backward (see fastconv.h).
 * The conv kernels call fc_activation_forward_* on finished output blocks, so
 * this file is the single home of the activation math in C. */
/* The selects of these loops (x > 0 ? a : b) vectorise only if the compiler
 * may evaluate both arms and the comparison unconditionally, which GCC's
 * default -ftrapping-math forbids (either might raise an FP exception flag).
 * Nothing in fastconv reads those flags, and no value changes, so this file
 * is built without the guarantee. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fastconv.h"

/* The AVX2 builds of the vectorisable activations need GCC/Clang target
 * attributes on x86-64; elsewhere the portable loops do everything. */
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define FC_ACT_AVX2 1
#endif

/* exp(x) for float with no branch and no library call, so loops over it
 * vectorise (libm's expf does not): x = n ln2 + r with |r| <= ln2 / 2, then
 * 2^n (bits of the exponent field) times the Taylor polynomial of e^r to
 * degree 7 (truncation below r^8 / 8! < 6e-9 relative, under one float ulp).
 * Inputs are clamped to [-87.3, 88.3], where 2^n stays a normal float: below,
 * the result is about 1e-38 instead of a denormal or 0; above, 2e38 instead of
 * inf (callers here only take exp of -|x|). A NaN stays NaN. */
static inline __attribute__((always_inline)) float fc_vexpf(float x)
{
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -87.3f ? -87.3f : x;
    x = x > 88.3f ? 88.3f : x;
    float t = x * 1.44269504088896341f + shifter;
    float n = t - shifter;
    /* ln 2 in two parts, the first with few bits so n * hi is exact */
    float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    /* n read off t's low mantissa bits (no float -> int conversion, which a NaN
     * would make undefined); unsigned, so any bits wrap harmlessly. */
    uint32_t tbits, bits;
    memcpy(&tbits, &t, sizeof tbits);
    bits = (tbits - 0x4B400000u + 127u) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#define T float
#define SUFFIX f32
#define VEXP fc_vexpf
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
#undef VEXP
#undef TANH
#undef EXPM1
#undef LOG1P
#undef ERF
#undef FABS

#define T double
#define SUFFIX f64
#define VEXP exp
#define EXP exp
#define TANH tanh
#define EXPM1 expm1
#define LOG1P log1p
#define ERF erf
#define FABS fabs
#include "activation_impl.h"
