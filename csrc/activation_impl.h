/* Type-generic body of csrc/activation.c: included once per element type with
 * T (the type) and SUFFIX (f32 / f64), EXP, VEXP (an exp the compiler can
 * vectorise), TANH, EXPM1, LOG1P, ERF, FABS defined.
 * Loads are hoisted out of the ?: so the compiler can turn the select into a
 * vector blend; a load inside one arm keeps the branch (and its mispredictions
 * on random signs). */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_NAME(base) FC_CAT(base, SUFFIX)

/* The activations the compiler vectorises at the width of the target it
 * builds for: the piecewise-linear ones (a compare-and-select pass each) and
 * SiLU (its exp is VEXP, branch-free for float). Returns 0 (having done
 * nothing) for any other code. Always inlined, so the AVX2 build below gets
 * its own 256-bit copy. The piecewise-linear ones have no a * b + c that an
 * FMA could fuse, so both builds round them identically; SiLU's may differ in
 * the last bits. */
static inline __attribute__((always_inline)) int
FC_NAME(fc_act_vec_forward)(int act, T param, const T *x, T *y, fc_int n)
{
    fc_int i;
    switch (act) {
    case FC_ACT_RELU:
        for (i = 0; i < n; i++) {
            T v = x[i];
            y[i] = v > (T)0 ? v : (T)0;
        }
        return 1;
    case FC_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) {
            T v = x[i];
            y[i] = v > (T)0 ? v : param * v;
        }
        return 1;
    /* The clamps are written "t < lo ? lo : t" so a NaN passes through, as in
     * PyTorch's clamp. The division by 6 (not a product with 1/6) matches
     * PyTorch's rounding. */
    case FC_ACT_RELU6:
        for (i = 0; i < n; i++) {
            T t = x[i];
            t = t < (T)0 ? (T)0 : t;
            y[i] = t > (T)6 ? (T)6 : t;
        }
        return 1;
    case FC_ACT_HARDSIGMOID:
        for (i = 0; i < n; i++) {
            T t = x[i] + (T)3;
            t = t < (T)0 ? (T)0 : t;
            t = t > (T)6 ? (T)6 : t;
            y[i] = t / (T)6;
        }
        return 1;
    case FC_ACT_HARDSWISH:
        for (i = 0; i < n; i++) {
            T v = x[i], t = v + (T)3;
            t = t < (T)0 ? (T)0 : t;
            t = t > (T)6 ? (T)6 : t;
            y[i] = v * t / (T)6;
        }
        return 1;
    case FC_ACT_SILU:
        /* One exp of -|x| and a select, no branch on the sign (random signs
         * mispredict): s = 1 / (1 + e) for x >= 0, e / (1 + e) below. */
        for (i = 0; i < n; i++) {
            T v = x[i], e = VEXP(-FABS(v)), r = (T)1 / ((T)1 + e), er = e * r;
            y[i] = v * (v >= (T)0 ? r : er);
        }
        return 1;
    default:
        return 0;
    }
}

static inline __attribute__((always_inline)) int
FC_NAME(fc_act_vec_backward)(int act, T param, const T *x, const T *gy, T *gx, fc_int n)
{
    fc_int i;
    switch (act) {
    case FC_ACT_RELU:
        for (i = 0; i < n; i++) {
            T g = gy[i];
            gx[i] = x[i] > (T)0 ? g : (T)0;
        }
        return 1;
    case FC_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) {
            T g = gy[i];
            gx[i] = x[i] > (T)0 ? g : param * g;
        }
        return 1;
    case FC_ACT_RELU6:
        for (i = 0; i < n; i++) {
            T v = x[i], g = gy[i];
            gx[i] = (v > (T)0) & (v < (T)6) ? g : (T)0;
        }
        return 1;
    case FC_ACT_HARDSIGMOID:
        for (i = 0; i < n; i++) {
            T v = x[i], g = gy[i] * (T)(1.0 / 6.0);
            gx[i] = (v > (T)-3) & (v < (T)3) ? g : (T)0;
        }
        return 1;
    case FC_ACT_HARDSWISH:
        /* As PyTorch: 0 up to -3, x/3 + 1/2 strictly between, 1 from 3 on. */
        for (i = 0; i < n; i++) {
            T v = x[i], g = gy[i];
            T mid = g * (v / (T)3 + (T)0.5);
            T hi = v >= (T)3 ? g : mid;
            gx[i] = v <= (T)-3 ? (T)0 : hi;
        }
        return 1;
    case FC_ACT_SILU:
        /* d/dx x s(x) = s (1 + x (1 - s)) */
        for (i = 0; i < n; i++) {
            T v = x[i], e = VEXP(-FABS(v)), r = (T)1 / ((T)1 + e), er = e * r;
            T s = v >= (T)0 ? r : er;
            gx[i] = gy[i] * s * ((T)1 + v * ((T)1 - s));
        }
        return 1;
    default:
        return 0;
    }
}

#ifdef FC_ACT_AVX2
__attribute__((target("avx2,fma"))) static int
FC_NAME(fc_act_vec_forward_avx2)(int act, T param, const T *x, T *y, fc_int n)
{
    return FC_NAME(fc_act_vec_forward)(act, param, x, y, n);
}

__attribute__((target("avx2,fma"))) static int
FC_NAME(fc_act_vec_backward_avx2)(int act, T param, const T *x, const T *gy, T *gx, fc_int n)
{
    return FC_NAME(fc_act_vec_backward)(act, param, x, gy, gx, n);
}
#endif

/* Logistic function without overflow for any v. */
static inline T FC_NAME(fc_sigmoid1)(T v)
{
    if (v >= (T)0)
        return (T)1 / ((T)1 + EXP(-v));
    T e = EXP(v);
    return e / ((T)1 + e);
}

/* sqrt(2 / pi) and 1 / sqrt(2 pi), the constants of GELU and its gradient. */
#define FC_GELU_BETA ((T)0.7978845608028654)
#define FC_GELU_KAPPA ((T)0.044715)
#define FC_INV_SQRT_2PI ((T)0.3989422804014327)

void FC_NAME(fc_activation_forward)(int act, T param, const T *x, T *y, fc_int n)
{
    fc_int i;
#ifdef FC_ACT_AVX2
    if (fc_simd_path() >= FC_SIMD_AVX2) {
        if (FC_NAME(fc_act_vec_forward_avx2)(act, param, x, y, n))
            return;
    } else
#endif
    if (FC_NAME(fc_act_vec_forward)(act, param, x, y, n))
        return;
    switch (act) {
    case FC_ACT_SIGMOID:
        for (i = 0; i < n; i++) y[i] = FC_NAME(fc_sigmoid1)(x[i]);
        break;
    case FC_ACT_TANH:
        for (i = 0; i < n; i++) y[i] = TANH(x[i]);
        break;
    case FC_ACT_ELU:
        for (i = 0; i < n; i++) y[i] = x[i] > (T)0 ? x[i] : param * EXPM1(x[i]);
        break;
    case FC_ACT_GELU:
        for (i = 0; i < n; i++) {
            T v = x[i];
            y[i] = (T)0.5 * v * ((T)1 + ERF(v * (T)M_SQRT1_2));
        }
        break;
    case FC_ACT_GELU_TANH:
        for (i = 0; i < n; i++) {
            T v = x[i];
            T inner = FC_GELU_BETA * (v + FC_GELU_KAPPA * v * v * v);
            y[i] = (T)0.5 * v * ((T)1 + TANH(inner));
        }
        break;
    default:
        if (y != x)
            for (i = 0; i < n; i++) y[i] = x[i];
        break;
    }
}

void FC_NAME(fc_activation_backward)(int act, T param, const T *x, const T *gy, T *gx, fc_int n)
{
    fc_int i;
#ifdef FC_ACT_AVX2
    if (fc_simd_path() >= FC_SIMD_AVX2) {
        if (FC_NAME(fc_act_vec_backward_avx2)(act, param, x, gy, gx, n))
            return;
    } else
#endif
    if (FC_NAME(fc_act_vec_backward)(act, param, x, gy, gx, n))
        return;
    switch (act) {
    case FC_ACT_SIGMOID:
        for (i = 0; i < n; i++) {
            T s = FC_NAME(fc_sigmoid1)(x[i]);
            gx[i] = gy[i] * s * ((T)1 - s);
        }
        break;
    case FC_ACT_TANH:
        for (i = 0; i < n; i++) {
            T t = TANH(x[i]);
            gx[i] = gy[i] * ((T)1 - t * t);
        }
        break;
    case FC_ACT_ELU:
        for (i = 0; i < n; i++) gx[i] = x[i] > (T)0 ? gy[i] : gy[i] * param * EXP(x[i]);
        break;
    case FC_ACT_GELU:
        /* d/dx x Phi(x) = Phi(x) + x phi(x) */
        for (i = 0; i < n; i++) {
            T v = x[i];
            T cdf = (T)0.5 * ((T)1 + ERF(v * (T)M_SQRT1_2));
            T pdf = FC_INV_SQRT_2PI * EXP((T)-0.5 * v * v);
            gx[i] = gy[i] * (cdf + v * pdf);
        }
        break;
    case FC_ACT_GELU_TANH:
        for (i = 0; i < n; i++) {
            T v = x[i], v2 = v * v;
            T t = TANH(FC_GELU_BETA * (v + FC_GELU_KAPPA * v2 * v));
            T dinner = FC_GELU_BETA * ((T)1 + (T)3 * FC_GELU_KAPPA * v2);
            T sech2 = (T)1 - t * t;
            /* Where tanh has saturated the second term is 0, not 0 * inf (huge |x|). */
            T right = sech2 != (T)0 ? (T)0.5 * v * sech2 * dinner : (T)0;
            gx[i] = gy[i] * ((T)0.5 * ((T)1 + t) + right);
        }
        break;
    default:
        for (i = 0; i < n; i++) gx[i] = gy[i];
        break;
    }
}

#undef FC_GELU_BETA
#undef FC_GELU_KAPPA
#undef FC_INV_SQRT_2PI

/* Beyond threshold softplus is x to working precision, and exp(beta x) would
 * soon overflow: PyTorch switches to the identity there, and so do we. */
void FC_NAME(fc_softplus_forward)(T beta, T threshold, const T *x, T *y, fc_int n)
{
    for (fc_int i = 0; i < n; i++) {
        T v = x[i], bv = v * beta;
        y[i] = bv > threshold ? v : LOG1P(EXP(bv)) / beta;
    }
}

void FC_NAME(fc_softplus_backward)(T beta, T threshold, const T *x, const T *gy, T *gx, fc_int n)
{
    for (fc_int i = 0; i < n; i++) {
        T bv = x[i] * beta;
        gx[i] = bv > threshold ? gy[i] : gy[i] * FC_NAME(fc_sigmoid1)(bv);
    }
}

void FC_NAME(fc_maxout_forward)(const T *x, T *y, fc_int C, fc_int HW, fc_int pieces)
{
    fc_int groups = C / pieces;
    for (fc_int g = 0; g < groups; g++) {
        const T *first = x + g * pieces * HW;
        T *out = y + g * HW;
        for (fc_int p = 0; p < HW; p++) out[p] = first[p];
        for (fc_int k = 1; k < pieces; k++) {
            const T *row = first + k * HW;
            /* Strictly greater: the first maximum wins, as the reference's argmax; a NaN
             * counts as the maximum (the first NaN wins), as in max pooling. */
            for (fc_int p = 0; p < HW; p++) {
                T v = row[p], m = out[p];
                out[p] = (v > m || (v != v && m == m)) ? v : m;
            }
        }
    }
}

void FC_NAME(fc_maxout_backward)(const T *x, const T *gy, T *gx, fc_int C, fc_int HW, fc_int pieces)
{
    fc_int groups = C / pieces;
    for (fc_int i = 0; i < C * HW; i++) gx[i] = (T)0;
    for (fc_int g = 0; g < groups; g++) {
        const T *first = x + g * pieces * HW;
        for (fc_int p = 0; p < HW; p++) {
            fc_int best = 0;
            T best_val = first[p];
            for (fc_int k = 1; k < pieces; k++) {
                T v = first[k * HW + p];
                if (v > best_val || (v != v && best_val == best_val)) {
                    best_val = v;
                    best = k;
                }
            }
            gx[(g * pieces + best) * HW + p] = gy[g * HW + p];
        }
    }
}

#undef FC_NAME
#undef FC_CAT
#undef FC_CAT_
