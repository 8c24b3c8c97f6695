/* Type- and target-generic body of csrc/conv_depthwise_small.c, included once
 * per (element type, SIMD path) with T, NAME(base), DWS_ACT and FC_DWS_ATTR
 * defined.
 *
 * Contract of the micro-kernel (dws_conv): buf is a channel-interleaved
 * scratch plane of P->Hp x P->Wp 8-lane vectors whose padding is zero; out
 * (P->Ho x P->Wo vectors) gets, lane by lane, b + sum over taps t = r * S + s
 * (in that order) of wv[t] * buf[(oh * sw + r) * Wp + ow * sw + s]. Lanes never
 * interact, so the value of a channel does not depend on its block neighbours;
 * the AVX2 build fuses each multiply-add. */

/* 8 lanes of T: one ymm (float) or two (double) under target("avx2,fma"). */
typedef T NAME(vec) __attribute__((vector_size(FC_DWS_CB * sizeof(T))));
#define VEC NAME(vec)
/* Integer lanes of the same width: shuffle masks and comparison results. */
typedef DWS_ITYPE NAME(ivec) __attribute__((vector_size(FC_DWS_CB * sizeof(T))));
#define IVEC NAME(ivec)

static inline __attribute__((always_inline)) void
NAME(dws_conv)(const dws_plan *P, const fc_int sw, const fc_int R, const fc_int S, const VEC *buf,
               const VEC *wv, VEC b, int relu, VEC *out)
{
    const fc_int Wp = P->Wp, Ho = P->Ho, Wo = P->Wo;
    for (fc_int oh = 0; oh < Ho; oh++) {
        const VEC *row = buf + oh * sw * Wp;
        VEC *o = out + oh * Wo;
        for (fc_int ow = 0; ow < Wo; ow++) {
            const VEC *p = row + ow * sw;
            VEC a = b;
            for (fc_int r = 0; r < R; r++)
                for (fc_int s = 0; s < S; s++) a += wv[r * S + s] * p[r * Wp + s];
            /* ReLU as the scalar kernel does it (a > 0 ? a : +0, NaN to 0), in the register */
            o[ow] = relu ? (VEC)((IVEC)a & (IVEC)(a > (VEC){0})) : a;
        }
    }
}

/* acc[t] += d * tap t, acc[R * S] += d, over the output pixels in row-major order. */
static inline __attribute__((always_inline)) void
NAME(dws_dot)(const dws_plan *P, const fc_int sw, const fc_int R, const fc_int S, const VEC *buf,
              const VEC *dyb, VEC *acc)
{
    const fc_int Wp = P->Wp, Ho = P->Ho, Wo = P->Wo;
    for (fc_int oh = 0; oh < Ho; oh++) {
        const VEC *row = buf + oh * sw * Wp;
        for (fc_int ow = 0; ow < Wo; ow++) {
            const VEC *p = row + ow * sw, d = dyb[oh * Wo + ow];
            for (fc_int r = 0; r < R; r++)
                for (fc_int s = 0; s < S; s++) acc[r * S + s] += d * p[r * Wp + s];
            acc[R * S] += d;
        }
    }
}

/* Compile-time stride and 3x3 specialisations of the two loops above. */
static inline __attribute__((always_inline)) void
NAME(dws_conv_any)(const dws_plan *P, const VEC *buf, const VEC *wv, VEC b, int relu, VEC *out)
{
    if (P->R == 3 && P->S == 3)
        P->sw == 1 ? NAME(dws_conv)(P, 1, 3, 3, buf, wv, b, relu, out)
                   : NAME(dws_conv)(P, 2, 3, 3, buf, wv, b, relu, out);
    else
        NAME(dws_conv)(P, P->sw, P->R, P->S, buf, wv, b, relu, out);
}

static inline __attribute__((always_inline)) void
NAME(dws_dot_any)(const dws_plan *P, const VEC *buf, const VEC *dyb, VEC *acc)
{
    if (P->R == 3 && P->S == 3)
        P->sw == 1 ? NAME(dws_dot)(P, 1, 3, 3, buf, dyb, acc) : NAME(dws_dot)(P, 2, 3, 3, buf, dyb, acc);
    else
        NAME(dws_dot)(P, P->sw, P->R, P->S, buf, dyb, acc);
}


/* v[j][l] <-> v[l][j]: three rounds of exchanging half-blocks (4x4, 2x2, 1x1).
 * Written out on named values, no loops: the loop form left v[] on the stack
 * (every round a store and a reload, the stores split in halves). */
#define DWS_SHUF(a, b, ...) __builtin_shuffle(a, b, (IVEC){__VA_ARGS__})
#define DWS_X4(a, b) do { VEC t_ = DWS_SHUF(a, b, 0, 1, 2, 3, 8, 9, 10, 11); \
        b = DWS_SHUF(a, b, 4, 5, 6, 7, 12, 13, 14, 15); a = t_; } while (0)
#define DWS_X2(a, b) do { VEC t_ = DWS_SHUF(a, b, 0, 1, 8, 9, 4, 5, 12, 13); \
        b = DWS_SHUF(a, b, 2, 3, 10, 11, 6, 7, 14, 15); a = t_; } while (0)
#define DWS_X1(a, b) do { VEC t_ = DWS_SHUF(a, b, 0, 8, 2, 10, 4, 12, 6, 14); \
        b = DWS_SHUF(a, b, 1, 9, 3, 11, 5, 13, 7, 15); a = t_; } while (0)
static inline __attribute__((always_inline)) void NAME(dws_tr8)(VEC *v)
{
    VEC a0 = v[0], a1 = v[1], a2 = v[2], a3 = v[3], a4 = v[4], a5 = v[5], a6 = v[6], a7 = v[7];
    DWS_X4(a0, a4); DWS_X4(a1, a5); DWS_X4(a2, a6); DWS_X4(a3, a7);
    DWS_X2(a0, a2); DWS_X2(a1, a3); DWS_X2(a4, a6); DWS_X2(a5, a7);
    DWS_X1(a0, a1); DWS_X1(a2, a3); DWS_X1(a4, a5); DWS_X1(a6, a7);
    v[0] = a0, v[1] = a1, v[2] = a2, v[3] = a3, v[4] = a4, v[5] = a5, v[6] = a6, v[7] = a7;
}
#undef DWS_X1
#undef DWS_X2
#undef DWS_X4
#undef DWS_SHUF

static inline __attribute__((always_inline)) VEC NAME(dws_ldu)(const T *p)
{
    VEC v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void NAME(dws_stu)(T *p, VEC v)
{
    memcpy(p, &v, sizeof v);
}

/* pos[p] = scratch index of source pixel p (row-major over Hs x Ws). */
static inline void NAME(dws_positions)(const dws_plan *P, int *pos)
{
    for (fc_int i = 0; i < P->Hs; i++)
        for (fc_int j = 0; j < P->Ws; j++)
            pos[i * P->Ws + j] = (int)((P->top + i * P->up) * P->Wp + P->left + j * P->up);
}

/* Scratch pixels pos[p] <- nc (<= 8) source planes src + l * ps, n pixels each;
 * full blocks by 8x8 transposes (lanes >= nc keep what they held: no result reads them). */
static inline __attribute__((always_inline)) void
NAME(dws_load)(const int *pos, fc_int n, const T *src, fc_int ps, fc_int nc, VEC *buf)
{
    fc_int p = 0;
    if (nc == FC_DWS_CB && n < FC_DWS_CB && ps == n) {
        /* Planes shorter than a vector (2x2 maps), 8 of them contiguous: through a
         * staging copy, so that the 8-wide loads stay inside the block. */
        T stage[FC_DWS_CB * (FC_DWS_CB + 1)];
        VEC v[FC_DWS_CB];
        /* the block is n whole vectors; the rest of the stage is zeroed */
        for (fc_int j = 0; j < FC_DWS_CB + 1; j++)
            NAME(dws_stu)(stage + j * FC_DWS_CB, j < n ? NAME(dws_ldu)(src + j * FC_DWS_CB) : (VEC){0});
#pragma GCC unroll 8
        for (int l = 0; l < FC_DWS_CB; l++) v[l] = NAME(dws_ldu)(stage + l * n);
        NAME(dws_tr8)(v);
        for (fc_int j = 0; j < n; j++) buf[pos[j]] = v[j];
        return;
    }
    if (nc == FC_DWS_CB) {
        for (; p + FC_DWS_CB <= n; p += FC_DWS_CB) {
            VEC v[FC_DWS_CB];
#pragma GCC unroll 8
            for (int l = 0; l < FC_DWS_CB; l++) v[l] = NAME(dws_ldu)(src + l * ps + p);
            NAME(dws_tr8)(v);
#pragma GCC unroll 8
            for (int j = 0; j < FC_DWS_CB; j++) buf[pos[p + j]] = v[j];
        }
    }
    for (; p < n; p++)
        for (int l = 0; l < nc; l++) buf[pos[p]][l] = src[l * ps + p];
}

/* nc planes dst + l * ps (n pixels each) <- lanes of v[0 .. n). */
static inline __attribute__((always_inline)) void
NAME(dws_store)(const VEC *v, fc_int n, fc_int nc, T *dst, fc_int ps)
{
    fc_int p = 0;
    if (nc == FC_DWS_CB && n < FC_DWS_CB && ps == n) {
        /* Planes shorter than a vector: each channel's row written 8 wide into a
         * staging copy in channel order (a row's spill into the next channel is
         * overwritten by that channel's row), then the block copied out at once. */
        T stage[FC_DWS_CB * (FC_DWS_CB + 1)];
        VEC t[FC_DWS_CB];
        for (fc_int j = 0; j < FC_DWS_CB; j++) t[j] = j < n ? v[j] : (VEC){0};
        NAME(dws_tr8)(t);
#pragma GCC unroll 8
        for (int l = 0; l < FC_DWS_CB; l++) NAME(dws_stu)(stage + l * n, t[l]);
        for (fc_int j = 0; j < n; j++)
            NAME(dws_stu)(dst + j * FC_DWS_CB, NAME(dws_ldu)(stage + j * FC_DWS_CB));
        return;
    }
    if (nc == FC_DWS_CB) {
        for (; p + FC_DWS_CB <= n; p += FC_DWS_CB) {
            VEC t[FC_DWS_CB];
#pragma GCC unroll 8
            for (int j = 0; j < FC_DWS_CB; j++) t[j] = v[p + j];
            NAME(dws_tr8)(t);
#pragma GCC unroll 8
            for (int l = 0; l < FC_DWS_CB; l++) NAME(dws_stu)(dst + l * ps + p, t[l]);
        }
    }
    for (; p < n; p++)
        for (int l = 0; l < nc; l++) dst[l * ps + p] = v[p][l];
}

/* dws_conv then dws_store for a full block (8 live lanes) of a 3x3 filter whose output
 * rows are whole vectors (Wo % 8 == 0): eight output pixels of a row at a time in
 * registers (each lane's taps in dws_conv's order, so the same bits), transposed and
 * written straight to the 8 planes dst + l * ps. The output buffer's store and reload
 * and its working set (the 32x32 planes' scratch did not fit L1 beside it) are gone,
 * and the eight pixels' multiply-add chains overlap. */
static inline __attribute__((always_inline)) void
NAME(dws_conv_rows8)(const dws_plan *P, const fc_int sw, const VEC *buf, const VEC *wv, VEC b,
                     int relu, T *dst, fc_int ps)
{
    const fc_int Wp = P->Wp, Ho = P->Ho, Wo = P->Wo;
    for (fc_int oh = 0; oh < Ho; oh++) {
        const VEC *row = buf + oh * sw * Wp;
        for (fc_int ow0 = 0; ow0 < Wo; ow0 += FC_DWS_CB) {
            VEC a[FC_DWS_CB];
#pragma GCC unroll 8
            for (int j = 0; j < FC_DWS_CB; j++) a[j] = b;
#pragma GCC unroll 3
            for (int r = 0; r < 3; r++)
#pragma GCC unroll 3
                for (int s = 0; s < 3; s++) {
                    const VEC wt = wv[r * 3 + s];
                    const VEC *q = row + r * Wp + ow0 * sw + s;
#pragma GCC unroll 8
                    for (int j = 0; j < FC_DWS_CB; j++) a[j] += wt * q[j * sw];
                }
            if (relu) {
#pragma GCC unroll 8
                for (int j = 0; j < FC_DWS_CB; j++)
                    a[j] = (VEC)((IVEC)a[j] & (IVEC)(a[j] > (VEC){0}));
            }
            NAME(dws_tr8)(a);
            T *d = dst + oh * Wo + ow0;
#pragma GCC unroll 8
            for (int l = 0; l < FC_DWS_CB; l++) NAME(dws_stu)(d + l * ps, a[l]);
        }
    }
}

/* Interleaved taps of block c0 (flipped: turned 180 degrees) and bias. */
static inline void NAME(dws_weights)(const fc_conv_geom *g, fc_int c0, fc_int nc, const T *w,
                                     const T *bias, int flip, VEC *wv, VEC *bv)
{
    const fc_int RS = g->R * g->S;
    fc_int t0 = 0;
    /* Full blocks: taps 8k .. 8k+7 of the 8 filters (rows of RS, contiguous) by
     * one 8x8 transpose instead of 64 lane inserts -- at batch 1 every block's
     * weights are interleaved once per image. */
    if (nc == FC_DWS_CB)
        for (; t0 + FC_DWS_CB <= RS; t0 += FC_DWS_CB) {
            VEC v[FC_DWS_CB];
#pragma GCC unroll 8
            for (int l = 0; l < FC_DWS_CB; l++) v[l] = NAME(dws_ldu)(w + (c0 + l) * RS + t0);
            NAME(dws_tr8)(v);
#pragma GCC unroll 8
            for (int j = 0; j < FC_DWS_CB; j++) wv[flip ? RS - 1 - t0 - j : t0 + j] = v[j];
        }
    for (fc_int k = t0; k < RS; k++) {
        const fc_int t = flip ? RS - 1 - k : k;
        VEC v = {0};
        for (int l = 0; l < nc; l++) v[l] = w[(c0 + l) * RS + k];
        wv[t] = v;
    }
    VEC b = {0};
    if (bias)
        for (int l = 0; l < nc; l++) b[l] = bias[c0 + l];
    *bv = b;
}

/* Items i in [i0, i1), i = n * nblk + blk: channels 8 blk .. 8 blk + 7 of image n,
 * from source planes (Hs x Ws, C per image) to output planes (Ho x Wo).
 * Image-major, so that a run of items streams through x and y (block-major
 * jumped a whole image between items: 128 ch @8x8 ran 1.25x slower inside a
 * network); the interleaved weights are redone when the block changes. */
FC_DWS_ATTR static void NAME(dws_run)(const fc_conv_geom *g, const dws_plan *P, fc_int N,
                                      fc_int i0, fc_int i1, const T *src, const T *w,
                                      const T *bias, int flip, int act, T act_param, T *dst)
{
    VEC buf[FC_DWS_MAXPIX];
    VEC out[FC_DWS_MAXOUT];
    VEC wv[FC_DWS_MAXTAP], bv = {0};
    const fc_int C = g->C, sp = P->Hs * P->Ws, op = P->Ho * P->Wo;
    int pos[FC_DWS_MAXOUT];
    memset(buf, 0, (size_t)(P->Hp * P->Wp) * sizeof(VEC));
    NAME(dws_positions)(P, pos);
    fc_int cur = -1;
    for (fc_int i = i0; i < i1; i++) {
        const fc_int nblk = (C + FC_DWS_CB - 1) / FC_DWS_CB;
        const fc_int blk = i % nblk, n = i / nblk, c0 = blk * FC_DWS_CB;
        const fc_int nc = C - c0 < FC_DWS_CB ? C - c0 : FC_DWS_CB;
        const int rows8 = nc == FC_DWS_CB && P->R == 3 && P->S == 3 && P->Wo % FC_DWS_CB == 0 &&
                          (P->sw == 1 || P->sw == 2);
        if (blk != cur) {
            NAME(dws_weights)(g, c0, nc, w, bias, flip, wv, &bv);
            cur = blk;
        }
        NAME(dws_load)(pos, sp, src + (n * C + c0) * sp, sp, nc, buf);
        T *d = dst + (n * C + c0) * op;
        if (rows8) {
            if (P->sw == 1)
                NAME(dws_conv_rows8)(P, 1, buf, wv, bv, act == FC_ACT_RELU, d, op);
            else
                NAME(dws_conv_rows8)(P, 2, buf, wv, bv, act == FC_ACT_RELU, d, op);
        } else {
            NAME(dws_conv_any)(P, buf, wv, bv, act == FC_ACT_RELU, out);
            NAME(dws_store)(out, op, nc, d, op);
        }
        /* The block's planes are contiguous: one activation call for all of them. */
        if (act != FC_ACT_NONE && act != FC_ACT_RELU) DWS_ACT(act, act_param, d, d, nc * op);
    }
}

FC_DWS_ATTR static void NAME(dws_forward)(const fc_conv_geom *g, const dws_plan *P, fc_int N,
                                          fc_int i0, fc_int i1, const T *x, const T *w,
                                          const T *bias, int act, T act_param, T *y)
{
    NAME(dws_run)(g, P, N, i0, i1, x, w, bias, 0, act, act_param, y);
}

FC_DWS_ATTR static void NAME(dws_backward_data)(const fc_conv_geom *g, const dws_plan *P, fc_int N,
                                                fc_int i0, fc_int i1, const T *dy, const T *w,
                                                T *dx)
{
    NAME(dws_run)(g, P, N, i0, i1, dy, w, NULL, 1, FC_ACT_NONE, 0, dx);
}

/* out[l * part + t] = weight gradient of tap t of channel 8 blk + l over images
 * 0 .. nimg-1 of x, dy (in order); out[l * part + R * S] = its dy sum. */
FC_DWS_ATTR static void NAME(dws_backward_weight)(const fc_conv_geom *g, const dws_plan *P,
                                                  fc_int nimg, fc_int blk, const T *x,
                                                  const T *dy, fc_int part, T *out)
{
    VEC buf[FC_DWS_MAXPIX];
    VEC dyb[FC_DWS_MAXOUT];
    VEC acc[FC_DWS_MAXTAP + 1];
    const fc_int C = g->C, sp = P->Hs * P->Ws, op = P->Ho * P->Wo, RS = g->R * g->S;
    const fc_int c0 = blk * FC_DWS_CB, nc = C - c0 < FC_DWS_CB ? C - c0 : FC_DWS_CB;
    memset(buf, 0, (size_t)(P->Hp * P->Wp) * sizeof(VEC));
    memset(dyb, 0, (size_t)op * sizeof(VEC));
    int pos[FC_DWS_MAXOUT], id[FC_DWS_MAXOUT];
    NAME(dws_positions)(P, pos);
    for (fc_int p = 0; p < op; p++) id[p] = (int)p;
    for (fc_int t = 0; t <= RS; t++) acc[t] = (VEC){0};
    for (fc_int n = 0; n < nimg; n++) {
        NAME(dws_load)(pos, sp, x + (n * C + c0) * sp, sp, nc, buf);
        NAME(dws_load)(id, op, dy + (n * C + c0) * op, op, nc, dyb);
        NAME(dws_dot_any)(P, buf, dyb, acc);
    }
    for (fc_int l = 0; l < nc; l++)
        for (fc_int t = 0; t <= RS; t++) out[l * part + t] = acc[t][l];
}

#undef VEC
#undef IVEC
