/* Type- and target-generic body of csrc/conv_depthwise_rows.c, included once
 * per (element type, SIMD path) with T, NAME(base), DWR_ITYPE, DWR_ACT and
 * FC_DWR_ATTR defined.
 *
 * Contract of the micro-kernel (dwr_plane): buf is one zero-padded plane in
 * the layout of the plan (see dwr_plan in conv_depthwise_rows.c) whose
 * padding is zero; out (P->Ho x P->Wo, row-major, pitch Wo) gets
 * out[oh, ow] = b + sum over taps t = r * S + s (in that order) of
 * w[t] * padded(oh * sw + r, ow * sw + s). Each output element is computed in
 * one vector lane from the same operands in the same order whatever lane or
 * call it lands in, so the value does not depend on how the caller splits the
 * planes; the AVX2 build fuses each multiply-add. */

/* 8 output pixels of one row: one ymm (float) or two (double) under target("avx2,fma"). */
typedef T NAME(rvec) __attribute__((vector_size(FC_DWR_VL * sizeof(T))));
typedef DWR_ITYPE NAME(rivec) __attribute__((vector_size(FC_DWR_VL * sizeof(T))));
#define VEC NAME(rvec)
#define IVEC NAME(rivec)

static inline __attribute__((always_inline)) VEC NAME(dwr_ld)(const T *p)
{
    VEC v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void NAME(dwr_st)(T *p, VEC v)
{
    memcpy(p, &v, sizeof v);
}

/* One source plane (Hs x Ws, pitch Ws) into the interior of buf. Only interior
 * positions are written -- the same ones for every plane -- so the padding
 * (and, for up == 2, the zero rows / columns between source pixels) written by
 * the caller's one memset stays zero. */
static inline __attribute__((always_inline)) void
NAME(dwr_fill)(const dwr_plan *P, const T *src, T *buf)
{
    const fc_int Ws = P->Ws, Wb = P->Wb;
    for (fc_int i = 0; i < P->Hs; i++) {
        const T *s = src + i * Ws;
        T *row = buf + (P->top + i * P->up) * Wb;
        fc_int j = 0;
        if (P->sw == 1 && P->up == 1) {
            T *d = row + P->left;
            for (; j + FC_DWR_VL <= Ws; j += FC_DWR_VL) NAME(dwr_st)(d + j, NAME(dwr_ld)(s + j));
            for (; j < Ws; j++) d[j] = s[j];
        } else if (P->sw == 1) {
            /* Zero-upsampled gradient (backward-data, stride 2). */
            for (; j < Ws; j++) row[P->left + j * P->up] = s[j];
        } else {
            /* Stride 2: padded column c goes to half c & 1 at c >> 1, so the even
             * and odd source columns are two contiguous runs (deinterleave). */
            const fc_int Wh = Wb / 2, c0 = P->left, pe = c0 & 1;
            T *de = row + pe * Wh + (c0 >> 1), *dodd = row + (1 - pe) * Wh + ((c0 + 1) >> 1);
            for (; j + 2 * FC_DWR_VL <= Ws; j += 2 * FC_DWR_VL) {
                VEC a = NAME(dwr_ld)(s + j), b = NAME(dwr_ld)(s + j + FC_DWR_VL);
                NAME(dwr_st)(de + j / 2, __builtin_shuffle(a, b, (IVEC){0, 2, 4, 6, 8, 10, 12, 14}));
                NAME(dwr_st)(dodd + j / 2, __builtin_shuffle(a, b, (IVEC){1, 3, 5, 7, 9, 11, 13, 15}));
            }
            for (; j < Ws; j++) {
                const fc_int c = c0 + j;
                row[(c & 1) * Wh + (c >> 1)] = s[j];
            }
        }
    }
}

/* ReLU / ReLU6 on a vector, bitwise as fc_activation_forward (csrc/activation_impl.h):
 * relu v > 0 ? v : 0; relu6 t < 0 ? 0 : t, then t > 6 ? 6 : t (a NaN passes relu6,
 * becomes 0 under relu). Applied before the store, it saves a pass (and, on
 * small planes, a call) per plane. */
static inline __attribute__((always_inline)) VEC NAME(dwr_clamp)(int act, VEC v)
{
    const VEC zero = {0}, six = zero + (T)6;
    if (act == FC_ACT_RELU) return (VEC)((IVEC)v & (IVEC)(v > zero));
    v = (VEC)((IVEC)v & ~(IVEC)(v < zero));
    const IVEC m = (IVEC)(v > six);
    return (VEC)(((IVEC)v & ~m) | ((IVEC)six & m));
}

/* Vector i of an output row (pixels ow0 .. ow0 + 7) into o, cut at the row end,
 * after the inline activation (act: FC_ACT_NONE, RELU or RELU6; any other runs
 * over the plane afterwards). */
static inline __attribute__((always_inline)) void NAME(dwr_put)(T *o, fc_int ow0, fc_int Wo,
                                                               int act, VEC a)
{
    if (act != FC_ACT_NONE) a = NAME(dwr_clamp)(act, a);
    if (ow0 + FC_DWR_VL <= Wo)
        NAME(dwr_st)(o + ow0, a);
    else
        for (fc_int l = 0; ow0 + l < Wo; l++) o[ow0 + l] = a[l];
}

/* One tile of the plane computation of the contract above: NR output rows
 * from oh times NV vectors from column v0 * 8, one accumulator each. A lane's
 * R * S multiply-adds are one dependent chain; the NR * NV independent chains
 * of a tile hide the FMA latency, and with sw, R, S, NR, NV compile-time every
 * tap is a load at a constant offset from one of R row pointers (the weights
 * stay in registers). */
static inline __attribute__((always_inline)) void
NAME(dwr_tile)(const dwr_plan *P, const fc_int sw, const fc_int R, const fc_int S, const int NR,
               const int NV, const int act, const T *buf, const VEC *wv, VEC bv, fc_int oh,
               fc_int v0, T *out)
{
    const fc_int Wb = P->Wb, Wh = Wb / 2, Wo = P->Wo;
    const T *in = buf + oh * sw * Wb + v0 * FC_DWR_VL;
    VEC a[4 * 4];
    for (int k = 0; k < NR * NV; k++) a[k] = bv;
    for (fc_int r = 0; r < R; r++)
        for (fc_int s = 0; s < S; s++) {
            const fc_int off = sw == 1 ? r * Wb + s : r * Wb + (s & 1) * Wh + (s >> 1);
            const VEC wt = wv[r * S + s];
            for (int j = 0; j < NR; j++)
                for (int i = 0; i < NV; i++)
                    a[j * NV + i] += wt * NAME(dwr_ld)(in + j * sw * Wb + off + i * FC_DWR_VL);
        }
    for (int j = 0; j < NR; j++)
        for (int i = 0; i < NV; i++)
            NAME(dwr_put)(out + (oh + j) * Wo, (v0 + i) * FC_DWR_VL, Wo, act, a[j * NV + i]);
}

/* The whole plane in tiles of about 4 vectors: 4 rows of a 1-vector map, 2 x 2
 * of a 2-vector one, runs of 4 (then single) vectors along wider rows. */
static inline __attribute__((always_inline)) void
NAME(dwr_conv)(const dwr_plan *P, const fc_int sw, const fc_int R, const fc_int S, const int act,
               const T *buf, const T *w, T b, T *out)
{
    const fc_int Ho = P->Ho, nv = P->nv;
    VEC wv[FC_DWR_MAXTAP];
    for (fc_int t = 0; t < R * S; t++) wv[t] = (VEC){0} + w[t];
    const VEC bv = (VEC){0} + b;
    fc_int oh = 0;
    if (nv == 1) {
        for (; oh + 4 <= Ho; oh += 4) NAME(dwr_tile)(P, sw, R, S, 4, 1, act, buf, wv, bv, oh, 0, out);
    } else if (nv == 2) {
        for (; oh + 2 <= Ho; oh += 2) NAME(dwr_tile)(P, sw, R, S, 2, 2, act, buf, wv, bv, oh, 0, out);
    }
    for (; oh < Ho; oh++) {
        fc_int v = 0;
        for (; v + 4 <= nv; v += 4) NAME(dwr_tile)(P, sw, R, S, 1, 4, act, buf, wv, bv, oh, v, out);
        for (; v < nv; v++) NAME(dwr_tile)(P, sw, R, S, 1, 1, act, buf, wv, bv, oh, v, out);
    }
}

/* Compile-time stride, 3x3 and activation specialisations of dwr_conv. */
static inline __attribute__((always_inline)) void
NAME(dwr_conv_s)(const dwr_plan *P, const fc_int sw, const int act, const T *buf, const T *w, T b,
                 T *out)
{
    if (P->R == 3 && P->S == 3)
        NAME(dwr_conv)(P, sw, 3, 3, act, buf, w, b, out);
    else
        NAME(dwr_conv)(P, sw, P->R, P->S, act, buf, w, b, out);
}

static inline __attribute__((always_inline)) void
NAME(dwr_conv_any)(const dwr_plan *P, int act, const T *buf, const T *w, T b, T *out)
{
    if (act == FC_ACT_RELU6)
        P->sw == 1 ? NAME(dwr_conv_s)(P, 1, FC_ACT_RELU6, buf, w, b, out)
                   : NAME(dwr_conv_s)(P, 2, FC_ACT_RELU6, buf, w, b, out);
    else if (act == FC_ACT_RELU)
        P->sw == 1 ? NAME(dwr_conv_s)(P, 1, FC_ACT_RELU, buf, w, b, out)
                   : NAME(dwr_conv_s)(P, 2, FC_ACT_RELU, buf, w, b, out);
    else
        P->sw == 1 ? NAME(dwr_conv_s)(P, 1, FC_ACT_NONE, buf, w, b, out)
                   : NAME(dwr_conv_s)(P, 2, FC_ACT_NONE, buf, w, b, out);
}

/* Planes q in [q0, q1), q = n * C + c: source plane (n, c) (Hs x Ws, C per
 * image) to output plane (n, c) (Ho x Wo) with filter c (turned 180 degrees
 * if flip), bias c (if bias), then the activation over the plane. Image-major,
 * so a run of planes is one contiguous stream through x and y that the
 * hardware prefetcher follows (channel-major jumps C planes between
 * consecutive planes; at 16x16 that cost the path its lead). */
FC_DWR_ATTR static void NAME(dwr_run)(const fc_conv_geom *g, const dwr_plan *P, fc_int N,
                                      fc_int q0, fc_int q1, const T *src, const T *w,
                                      const T *bias, int flip, int act, T act_param, T *dst)
{
    T buf[FC_DWR_MAXBUF];
    T wf[FC_DWR_MAXTAP];
    const fc_int C = g->C, sp = P->Hs * P->Ws, op = P->Ho * P->Wo, RS = P->R * P->S;
    memset(buf, 0, (size_t)(P->Hb * P->Wb) * sizeof(T));
    for (fc_int q = q0; q < q1; q++) {
        const fc_int n = q / C, c = q % C;
        for (fc_int t = 0; t < RS; t++) wf[t] = w[c * RS + (flip ? RS - 1 - t : t)];
        NAME(dwr_fill)(P, src + (n * C + c) * sp, buf);
        T *d = dst + (n * C + c) * op;
        const int inl = act == FC_ACT_RELU || act == FC_ACT_RELU6;
        NAME(dwr_conv_any)(P, inl ? act : FC_ACT_NONE, buf, wf, bias ? bias[c] : (T)0, d);
        if (act != FC_ACT_NONE && !inl) DWR_ACT(act, act_param, d, d, op);
    }
}

FC_DWR_ATTR static void NAME(dwr_forward)(const fc_conv_geom *g, const dwr_plan *P, fc_int N,
                                          fc_int q0, fc_int q1, const T *x, const T *w,
                                          const T *bias, int act, T act_param, T *y)
{
    NAME(dwr_run)(g, P, N, q0, q1, x, w, bias, 0, act, act_param, y);
}

FC_DWR_ATTR static void NAME(dwr_backward_data)(const fc_conv_geom *g, const dwr_plan *P, fc_int N,
                                                fc_int q0, fc_int q1, const T *dy, const T *w,
                                                T *dx)
{
    NAME(dwr_run)(g, P, N, q0, q1, dy, w, NULL, 1, FC_ACT_NONE, 0, dx);
}

/* Weight gradient of one filter (contract: out[t] = sum over the nimg images,
 * in order, of dy (.) tap t of the padded x plane, t < R * S; out[R * S] = the
 * dy sum; overwritten). Per lane, over the output vectors in row-major order:
 * one accumulator per tap (R * S independent chains), lanes past the row end
 * multiplied by a zero dy. The 8 lanes are added in lane order at the end, so
 * the order depends on the geometry and nimg only, not on the caller's threads. */
static inline __attribute__((always_inline)) void
NAME(dwr_dot)(const dwr_plan *P, const fc_int sw, const fc_int R, const fc_int S, const T *buf,
              const T *dy, VEC *acc)
{
    const fc_int Wb = P->Wb, Wh = Wb / 2, Wo = P->Wo;
    for (fc_int oh = 0; oh < P->Ho; oh++) {
        const T *in = buf + oh * sw * Wb, *d = dy + oh * Wo;
        for (fc_int v = 0; v < P->nv; v++) {
            const fc_int ow0 = v * FC_DWR_VL;
            VEC dv = {0};
            if (ow0 + FC_DWR_VL <= Wo)
                dv = NAME(dwr_ld)(d + ow0);
            else
                for (fc_int l = 0; ow0 + l < Wo; l++) dv[l] = d[ow0 + l];
            for (fc_int r = 0; r < R; r++)
                for (fc_int s = 0; s < S; s++) {
                    const fc_int off = sw == 1 ? r * Wb + s : r * Wb + (s & 1) * Wh + (s >> 1);
                    acc[r * S + s] += dv * NAME(dwr_ld)(in + off + ow0);
                }
            acc[R * S] += dv;
        }
    }
}

FC_DWR_ATTR static void NAME(dwr_backward_weight)(const dwr_plan *P, fc_int nimg, const T *x,
                                                  fc_int x_stride, const T *dy,
                                                  fc_int dy_stride, T *out)
{
    T buf[FC_DWR_MAXBUF];
    VEC acc[FC_DWR_MAXTAP + 1];
    const fc_int RS = P->R * P->S;
    memset(buf, 0, (size_t)(P->Hb * P->Wb) * sizeof(T));
    for (fc_int t = 0; t <= RS; t++) acc[t] = (VEC){0};
    for (fc_int n = 0; n < nimg; n++) {
        NAME(dwr_fill)(P, x + n * x_stride, buf);
        const T *d = dy + n * dy_stride;
        if (P->R == 3 && P->S == 3)
            P->sw == 1 ? NAME(dwr_dot)(P, 1, 3, 3, buf, d, acc) : NAME(dwr_dot)(P, 2, 3, 3, buf, d, acc);
        else
            P->sw == 1 ? NAME(dwr_dot)(P, 1, P->R, P->S, buf, d, acc)
                       : NAME(dwr_dot)(P, 2, P->R, P->S, buf, d, acc);
    }
    for (fc_int t = 0; t <= RS; t++) {
        T sum = acc[t][0];
        for (int l = 1; l < FC_DWR_VL; l++) sum += acc[t][l];
        out[t] = sum;
    }
}

#undef VEC
#undef IVEC
