/* Type-generic body of csrc/activation.c: included once per element type with
 * T (the type) and SUFFIX (f32 / f64), EXP, TANH, EXPM1 defined.
 * Loads are hoisted out of the ?: so the compiler can turn the select into a
 * vector blend; a load inside one arm keeps the branch (and its mispredictions
 * on random signs). */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_NAME(base) FC_CAT(base, SUFFIX)

void FC_NAME(fc_activation_forward)(int act, T param, const T *x, T *y, fc_int n)
{
    fc_int i;
    switch (act) {
    case FC_ACT_RELU:
        for (i = 0; i < n; i++) {
            T v = x[i];
            y[i] = v > (T)0 ? v : (T)0;
        }
        break;
    case FC_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) {
            T v = x[i];
            y[i] = v > (T)0 ? v : param * v;
        }
        break;
    case FC_ACT_SIGMOID:
        /* Two branches so exp never overflows. */
        for (i = 0; i < n; i++) {
            T v = x[i];
            if (v >= (T)0) {
                y[i] = (T)1 / ((T)1 + EXP(-v));
            } else {
                T e = EXP(v);
                y[i] = e / ((T)1 + e);
            }
        }
        break;
    case FC_ACT_TANH:
        for (i = 0; i < n; i++) y[i] = TANH(x[i]);
        break;
    case FC_ACT_ELU:
        for (i = 0; i < n; i++) y[i] = x[i] > (T)0 ? x[i] : param * EXPM1(x[i]);
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
    switch (act) {
    case FC_ACT_RELU:
        for (i = 0; i < n; i++) {
            T g = gy[i];
            gx[i] = x[i] > (T)0 ? g : (T)0;
        }
        break;
    case FC_ACT_LEAKY_RELU:
        for (i = 0; i < n; i++) {
            T g = gy[i];
            gx[i] = x[i] > (T)0 ? g : param * g;
        }
        break;
    case FC_ACT_SIGMOID:
        for (i = 0; i < n; i++) {
            T v = x[i], s;
            if (v >= (T)0) {
                s = (T)1 / ((T)1 + EXP(-v));
            } else {
                T e = EXP(v);
                s = e / ((T)1 + e);
            }
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
    default:
        for (i = 0; i < n; i++) gx[i] = gy[i];
        break;
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
