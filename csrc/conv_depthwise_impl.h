/* Type- and target-generic body of csrc/conv_depthwise.c, included once per
 * (element type, SIMD path) with T, NAME(base) and FC_DW_ATTR defined.
 *
 * Every loop runs along an output row with the stride a compile-time constant
 * (1, 2, or the general value), so the compiler vectorises the stride-1 and
 * stride-2 rows: under FC_DW_ATTR = target("avx2,fma") with 8-wide FMAs, in
 * the portable twin with the baseline SIMD. Both paths add in the same order
 * (the AVX2 build may fuse a multiply and an add). */

/* Output columns [lo, hi) whose tap at input column ow * sw + off is inside [0, W). */
static inline __attribute__((always_inline)) void
NAME(dw_cols)(fc_int off, fc_int sw, fc_int W, fc_int Wo, fc_int *lo, fc_int *hi)
{
    fc_int a = off < 0 ? (-off + sw - 1) / sw : 0;
    fc_int b = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
    *lo = a;
    *hi = b < Wo ? b : Wo;
}

static inline __attribute__((always_inline)) void
NAME(dw_fwd_rows)(const fc_conv_geom *g, const fc_int sw, const T *x, const T *w, T b, T *y)
{
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        T *yr = y + oh * g->Wo;
        for (fc_int ow = 0; ow < g->Wo; ow++) yr[ow] = b;
        for (fc_int r = 0; r < g->R; r++) {
            fc_int ih = oh * g->stride_h - g->pad_top + r * g->dil_h;
            if (ih < 0 || ih >= g->H) continue;
            const T *xr = x + ih * g->W;
            for (fc_int s = 0; s < g->S; s++) {
                fc_int off = s * g->dil_w - g->pad_left, lo, hi;
                NAME(dw_cols)(off, sw, g->W, g->Wo, &lo, &hi);
                const T wv = w[r * g->S + s];
                const T *xs = xr + off;
                for (fc_int ow = lo; ow < hi; ow++) yr[ow] += wv * xs[ow * sw];
            }
        }
    }
}

FC_DW_ATTR static void NAME(dw_generic_forward)(const fc_conv_geom *g, const T *x, const T *w, T b, T *y)
{
    if (g->stride_w == 1)
        NAME(dw_fwd_rows)(g, 1, x, w, b, y);
    else if (g->stride_w == 2)
        NAME(dw_fwd_rows)(g, 2, x, w, b, y);
    else
        NAME(dw_fwd_rows)(g, g->stride_w, x, w, b, y);
}

/* dx (H, W) += the transposed depthwise conv of `mult` dy planes with their filters. */
static inline __attribute__((always_inline)) void
NAME(dw_bwd_rows)(const fc_conv_geom *g, const fc_int sw, fc_int mult, const T *dy,
                  const T *w, T *dx)
{
    const fc_int P = g->Ho * g->Wo, RS = g->R * g->S;
    for (fc_int j = 0; j < mult; j++) {
        for (fc_int oh = 0; oh < g->Ho; oh++) {
            const T *dr = dy + j * P + oh * g->Wo;
            for (fc_int r = 0; r < g->R; r++) {
                fc_int ih = oh * g->stride_h - g->pad_top + r * g->dil_h;
                if (ih < 0 || ih >= g->H) continue;
                T *xr = dx + ih * g->W;
                for (fc_int s = 0; s < g->S; s++) {
                    fc_int off = s * g->dil_w - g->pad_left, lo, hi;
                    NAME(dw_cols)(off, sw, g->W, g->Wo, &lo, &hi);
                    const T wv = w[j * RS + r * g->S + s];
                    T *xs = xr + off;
                    for (fc_int ow = lo; ow < hi; ow++) xs[ow * sw] += wv * dr[ow];
                }
            }
        }
    }
}

FC_DW_ATTR static void NAME(dw_generic_backward_data)(const fc_conv_geom *g, fc_int mult, const T *dy,
                                              const T *w, T *dx)
{
    memset(dx, 0, (size_t)(g->H * g->W) * sizeof(T));
    if (g->stride_w == 1)
        NAME(dw_bwd_rows)(g, 1, mult, dy, w, dx);
    else if (g->stride_w == 2)
        NAME(dw_bwd_rows)(g, 2, mult, dy, w, dx);
    else
        NAME(dw_bwd_rows)(g, g->stride_w, mult, dy, w, dx);
}

/* Eight independent partial sums per tap: the compiler vectorises them without
 * reassociating, so the result is the same on every thread count. */
#ifndef FC_DW_LANES
#define FC_DW_LANES 8
#endif

static inline __attribute__((always_inline)) T NAME(dw_lane_sum)(const T *a)
{
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

static inline __attribute__((always_inline)) void
NAME(dw_bw_rows)(const fc_conv_geom *g, const fc_int sw, fc_int nimg, const T *x, fc_int xs,
                 const T *dy, fc_int dys, T *dw, T *db)
{
    for (fc_int r = 0; r < g->R; r++) {
        for (fc_int s = 0; s < g->S; s++) {
            T acc[FC_DW_LANES] = {0};
            fc_int off = s * g->dil_w - g->pad_left, lo, hi;
            NAME(dw_cols)(off, sw, g->W, g->Wo, &lo, &hi);
            for (fc_int n = 0; n < nimg; n++) {
                for (fc_int oh = 0; oh < g->Ho; oh++) {
                    fc_int ih = oh * g->stride_h - g->pad_top + r * g->dil_h;
                    if (ih < 0 || ih >= g->H) continue;
                    const T *dr = dy + n * dys + oh * g->Wo;
                    const T *xr = x + n * xs + ih * g->W + off;
                    fc_int ow = lo;
                    for (; ow + FC_DW_LANES <= hi; ow += FC_DW_LANES)
                        for (int l = 0; l < FC_DW_LANES; l++)
                            acc[l] += dr[ow + l] * xr[(ow + l) * sw];
                    for (int l = 0; ow < hi; ow++, l++)
                        acc[l] += dr[ow] * xr[ow * sw];
                }
            }
            dw[r * g->S + s] += NAME(dw_lane_sum)(acc);
        }
    }
    if (db) {
        T acc[FC_DW_LANES] = {0};
        const fc_int P = g->Ho * g->Wo;
        for (fc_int n = 0; n < nimg; n++) {
            const T *d = dy + n * dys;
            fc_int i = 0;
            for (; i + FC_DW_LANES <= P; i += FC_DW_LANES)
                for (int l = 0; l < FC_DW_LANES; l++) acc[l] += d[i + l];
            for (int l = 0; i < P; i++, l++) acc[l] += d[i];
        }
        *db += NAME(dw_lane_sum)(acc);
    }
}

FC_DW_ATTR static void NAME(dw_generic_backward_weight)(const fc_conv_geom *g, fc_int nimg, const T *x,
                                                fc_int xs, const T *dy, fc_int dys, T *dw, T *db)
{
    if (g->stride_w == 1)
        NAME(dw_bw_rows)(g, 1, nimg, x, xs, dy, dys, dw, db);
    else if (g->stride_w == 2)
        NAME(dw_bw_rows)(g, 2, nimg, x, xs, dy, dys, dw, db);
    else
        NAME(dw_bw_rows)(g, g->stride_w, nimg, x, xs, dy, dys, dw, db);
}

/* ------------------------------------------------------------------ */
/* Fast path: planes copied into a zero-padded flat buffer (dw_layout) */
/* ------------------------------------------------------------------ */

/* 32-byte GCC vectors: 8 floats / 4 doubles, one ymm under target("avx2,fma")
 * (where `acc += w * v` contracts to an FMA), two xmm in the portable twin. */
typedef T NAME(vec) __attribute__((vector_size(32)));
enum { NAME(VL) = 32 / sizeof(T), NAME(CAP) = FC_DW_BUF_BYTES / sizeof(T) };
#define VEC NAME(vec)
#define VL ((fc_int)NAME(VL))

static inline __attribute__((always_inline)) VEC NAME(ld)(const T *p)
{
    VEC v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline __attribute__((always_inline)) void NAME(st)(T *p, VEC v) { memcpy(p, &v, sizeof v); }

/* Buffer rows [b0, b0 + cnt) from padded rows u0 .. u0 + cnt - 1 of one source plane
 * (each row written whole, so no buffer is ever cleared separately). */
static inline __attribute__((always_inline)) void
NAME(dw_build)(const dw_layout *L, const T *src, fc_int u0, fc_int cnt, T *E, T *O, fc_int b0)
{
    const fc_int Wp = L->Wp, Z = L->Z, W = L->Ws;
    for (fc_int b = 0; b < cnt; b++) {
        fc_int v = u0 + b - L->Zr;
        const T *row = NULL;
        if (src && v >= 0 && v < L->Hv && v % L->up == 0) row = src + (v / L->up) * W;
        if (L->sw == 1) {
            T *restrict d = E + (b0 + b) * Wp;
            fc_int c = 0;
            if (row && L->up == 1) {
                for (; c < Z; c++) d[c] = 0;
                for (fc_int k = 0; k < W; k++) d[Z + k] = row[k];
                c = Z + W;
            } else if (row) {
                for (; c < Wp; c++) d[c] = 0;
                for (fc_int k = 0; k < W; k++) d[Z + 2 * k] = row[k];
            }
            for (; c < Wp; c++) d[c] = 0;
        } else {
            const fc_int Wh = Wp / 2, zh = Z / 2;
            T *restrict e = E + (b0 + b) * Wh, *restrict o = O + (b0 + b) * Wh;
            fc_int k = 0;
            if (row) {
                for (; k < zh; k++) e[k] = o[k] = 0;
                for (fc_int i = 0; i < W / 2; i++) {
                    e[zh + i] = row[2 * i];
                    o[zh + i] = row[2 * i + 1];
                }
                k = zh + W / 2;
                if (W & 1) {
                    e[k] = row[W - 1];
                    o[k] = 0;
                    k++;
                }
            }
            for (; k < Wh; k++) e[k] = o[k] = 0;
        }
    }
}

/* Tap pointers into the buffer (E, or O for odd columns when deinterleaved). */
static inline __attribute__((always_inline)) void
NAME(dw_taps)(const dw_layout *L, const T *E, const T *O, const T **src)
{
    for (fc_int t = 0; t < L->ntap; t++) src[t] = (L->odd[t] ? O : E) + L->off[t];
}

/* out[i] = sum_t wt[t] * src[t][i] for i < n (n a multiple of 2 VL), taps in order. */
static inline __attribute__((always_inline)) void
NAME(dw_run)(fc_int n, const int ntap, const T *const *src, const T *wt, T *out)
{
    for (fc_int i = 0; i < n; i += 2 * VL) {
        VEC a0 = wt[0] * NAME(ld)(src[0] + i), a1 = wt[0] * NAME(ld)(src[0] + i + VL);
        for (int t = 1; t < ntap; t++) {
            a0 += wt[t] * NAME(ld)(src[t] + i);
            a1 += wt[t] * NAME(ld)(src[t] + i + VL);
        }
        NAME(st)(out + i, a0);
        NAME(st)(out + i + VL, a1);
    }
}

/* acc[t] += d[i] * src[t][i], acc[ntap] += d[i] lane by lane, for i < n (a multiple of VL). */
static inline __attribute__((always_inline)) void
NAME(dw_dot)(fc_int n, const int ntap, const T *const *src, const T *d, VEC *acc_io)
{
    VEC acc[FC_DW_MAXTAP + 1];
    for (int t = 0; t <= ntap; t++) acc[t] = acc_io[t];
    for (fc_int i = 0; i < n; i += VL) {
        VEC dv = NAME(ld)(d + i);
        for (int t = 0; t < ntap; t++) acc[t] += dv * NAME(ld)(src[t] + i);
        acc[ntap] += dv;
    }
    for (int t = 0; t <= ntap; t++) acc_io[t] = acc[t];
}

static inline fc_int NAME(dw_round)(fc_int a, fc_int m) { return (a + m - 1) / m * m; }

/* E-space elements past the data that any (garbage) lane may read. */
static inline fc_int NAME(dw_tail)(const dw_layout *L)
{
    return (L->Zr + L->R + 2) * L->Wp + 4 * VL;
}

/* Images per buffer fill (>= 1), or 0 when one plane is too big: then *hb output
 * rows per band of a single plane (0 if not even one row fits). */
static fc_int NAME(dw_group)(const dw_layout *L, fc_int *hb)
{
    const fc_int capE = NAME(CAP) / L->sw, tail = NAME(dw_tail)(L);
    const fc_int perE = L->Hs * L->Wp / L->sw, perO = L->Hs / L->sw * L->Wp;
    fc_int G = (capE - tail) / perE, Go = (NAME(CAP) - 2 * VL - L->Wp) / perO;
    if (Go < G) G = Go;
    *hb = 0;
    if (G >= 1) return G;
    for (fc_int h = L->Ho; h >= 1; h = h / 2) {
        fc_int nb = NAME(dw_round)((h - 1) * L->sw + L->R - L->pt + L->Zr, L->sw);
        if (nb * L->Wp / L->sw + tail <= capE && h * L->Wp + 2 * VL + L->Wp <= NAME(CAP)) {
            *hb = h;
            break;
        }
    }
    return 0;
}

/* Output rows [0, nrow) of the flat output, of which rows j with j % per < nval
 * are wanted: computed flat, or row by row, whichever is fewer vectors. */
static inline __attribute__((always_inline)) void
NAME(dw_conv_rows)(const dw_layout *L, fc_int nrow, fc_int per, fc_int nval, const int ntap,
                   const T *const *src, const T *wt, T *out)
{
    const fc_int flat = NAME(dw_round)(nrow * L->Wp, 2 * VL), rowlen = NAME(dw_round)(L->Wo, 2 * VL);
    if (flat <= (nrow / per) * nval * rowlen + (nrow % per < nval ? nrow % per : nval) * rowlen) {
        NAME(dw_run)(flat, ntap, src, wt, out);
        return;
    }
    const T *s[FC_DW_MAXTAP];
    for (fc_int j = 0; j < nrow; j++) {
        if (j % per >= nval) continue;
        for (int t = 0; t < ntap; t++) s[t] = src[t] + j * L->Wp;
        NAME(dw_run)(rowlen, ntap, s, wt, out + j * L->Wp);
    }
}

/* out plane n (n < nimg, at out + n * os) = b + act(conv of source plane n (at src + n * ss))
 * with the taps wt, through the buffer. */
FC_DW_ATTR static void NAME(dw_fast_conv)(const dw_layout *L, fc_int G, fc_int hb, fc_int nimg,
                                          const T *src, fc_int ss, const T *wt, T b, int act,
                                          T act_param, T *out, fc_int os)
{
    T buf[NAME(CAP)] __attribute__((aligned(32)));
    T tmp[NAME(CAP)] __attribute__((aligned(32)));
    T *E = buf, *O = buf + NAME(CAP) / 2;
    const T *taps[FC_DW_MAXTAP];
    NAME(dw_taps)(L, E, O, taps);
    const fc_int per = L->Hs / L->sw, Wp = L->Wp, tail = NAME(dw_tail)(L);
    for (fc_int n0 = 0; n0 < nimg; n0 += G ? G : 1) {
        const fc_int g = G ? (nimg - n0 < G ? nimg - n0 : G) : 1;
        for (fc_int oh0 = 0; oh0 < L->Ho; oh0 += G ? L->Ho : hb) {
            fc_int nrow, rows0, nval;
            if (G) {
                for (fc_int j = 0; j < g; j++)
                    NAME(dw_build)(L, src + (n0 + j) * ss, 0, L->Hs, E, O, j * L->Hs);
                nrow = g * per;
                rows0 = g * L->Hs;
                nval = L->Ho;
            } else {
                nval = L->Ho - oh0 < hb ? L->Ho - oh0 : hb;
                nrow = nval;
                rows0 = NAME(dw_round)((nval - 1) * L->sw + L->R - L->pt + L->Zr, L->sw);
                NAME(dw_build)(L, src + n0 * ss, oh0 * L->sw, rows0, E, O, 0);
            }
            memset(E + rows0 * Wp / L->sw, 0, (size_t)tail * sizeof(T));
            if (L->sw == 2) memset(O + rows0 * Wp / 2, 0, (size_t)tail * sizeof(T));
            if (L->ntap == 9)
                NAME(dw_conv_rows)(L, nrow, G ? per : nrow + 1, nval, 9, taps, wt, tmp);
            else
                NAME(dw_conv_rows)(L, nrow, G ? per : nrow + 1, nval, L->ntap, taps, wt, tmp);
            const fc_int Wo = L->Wo;
            for (fc_int j = 0; j < g; j++) {
                for (fc_int r = 0; r < nval; r++) {
                    T *restrict yr = out + (n0 + j) * os + (oh0 + r) * Wo;
                    const T *restrict t = tmp + (j * per + r) * Wp;
                    for (fc_int c = 0; c < Wo; c++) yr[c] = t[c] + b;
                }
                if (act != FC_ACT_NONE && oh0 + nval == L->Ho)
                    DW_ACT(act, act_param, out + (n0 + j) * os, out + (n0 + j) * os, L->Ho * L->Wo);
            }
        }
    }
}

/* acc (ntap + 1 lane vectors) += the products of nimg dy planes with the taps of
 * their x planes; planes are stacked G per fill in image order, so the lanes each
 * product lands in depend on the geometry only. */
FC_DW_ATTR static void NAME(dw_fast_dot)(const dw_layout *L, fc_int G, fc_int hb, fc_int nimg,
                                         const T *x, fc_int xs, const T *dy, fc_int dys, VEC *acc)
{
    T buf[NAME(CAP)] __attribute__((aligned(32)));
    T dyb[NAME(CAP)] __attribute__((aligned(32)));
    T *E = buf, *O = buf + NAME(CAP) / 2;
    const T *taps[FC_DW_MAXTAP];
    NAME(dw_taps)(L, E, O, taps);
    const fc_int per = L->Hs / L->sw, Wp = L->Wp, tail = NAME(dw_tail)(L);
    for (fc_int n0 = 0; n0 < nimg; n0 += G ? G : 1) {
        const fc_int g = G ? (nimg - n0 < G ? nimg - n0 : G) : 1;
        for (fc_int oh0 = 0; oh0 < L->Ho; oh0 += G ? L->Ho : hb) {
            fc_int nrow, rows0, nval;
            if (G) {
                for (fc_int j = 0; j < g; j++)
                    NAME(dw_build)(L, x + (n0 + j) * xs, 0, L->Hs, E, O, j * L->Hs);
                nrow = g * per;
                rows0 = g * L->Hs;
                nval = L->Ho;
            } else {
                nval = L->Ho - oh0 < hb ? L->Ho - oh0 : hb;
                nrow = nval;
                rows0 = NAME(dw_round)((nval - 1) * L->sw + L->R - L->pt + L->Zr, L->sw);
                NAME(dw_build)(L, x + n0 * xs, oh0 * L->sw, rows0, E, O, 0);
            }
            memset(E + rows0 * Wp / L->sw, 0, (size_t)tail * sizeof(T));
            if (L->sw == 2) memset(O + rows0 * Wp / 2, 0, (size_t)tail * sizeof(T));
            /* dy rows at the flat output positions, zeros at every other position. */
            const fc_int n = NAME(dw_round)(nrow * Wp, VL);
            const fc_int Wo = L->Wo, rstep = G ? per : 0;
            for (fc_int j = 0; j < g; j++)
                for (fc_int r = 0; r < (G ? per : nval); r++) {
                    T *restrict d = dyb + (j * rstep + r) * Wp;
                    const T *restrict sr = dy + (n0 + j) * dys + (oh0 + r) * Wo;
                    fc_int c = 0;
                    if (r < nval)
                        for (; c < Wo; c++) d[c] = sr[c];
                    for (; c < Wp; c++) d[c] = 0;
                }
            for (fc_int i = nrow * Wp; i < n; i++) dyb[i] = 0;
            if (L->ntap == 9)
                NAME(dw_dot)(n, 9, taps, dyb, acc);
            else
                NAME(dw_dot)(n, L->ntap, taps, dyb, acc);
        }
    }
}

/* Lane sums in a fixed pairwise tree. */
static inline T NAME(dw_hsum)(VEC v)
{
    T a[NAME(VL)];
    memcpy(a, &v, sizeof a);
    for (int h = NAME(VL) / 2; h >= 1; h /= 2)
        for (int i = 0; i < h; i++) a[i] = a[2 * i] + a[2 * i + 1];
    return a[0];
}

static int NAME(dw_fits)(const dw_layout *L, fc_int *G, fc_int *hb)
{
    *G = NAME(dw_group)(L, hb);
    return *G > 0 || *hb > 0;
}

/* Output planes q in [q0, q1), q = k * N + n: runs of images share a filter. */
FC_DW_ATTR static void NAME(dw_forward_range)(const fc_conv_geom *g, fc_int N, fc_int q0, fc_int q1,
                                              const T *x, const T *w, const T *bias, int act,
                                              T act_param, T *y)
{
    const fc_int mult = g->K / g->C, RS = g->R * g->S, xs = g->C * g->H * g->W;
    const fc_int ys = g->K * g->Ho * g->Wo;
    dw_layout L;
    fc_int G = 0, hb = 0;
    int fast = g->stride_h == g->stride_w && g->dil_h == 1 && g->dil_w == 1 &&
               dw_plan(&L, g->stride_w, 1, g->H, g->W, g->Ho, g->Wo, g->R, g->S, g->pad_top,
                       g->pad_left) && NAME(dw_fits)(&L, &G, &hb);
    for (fc_int q = q0; q < q1;) {
        const fc_int k = q / N, n0 = q % N, cnt = N - n0 < q1 - q ? N - n0 : q1 - q;
        const T *xp = x + (n0 * g->C + k / mult) * g->H * g->W;
        T *yp = y + (n0 * g->K + k) * g->Ho * g->Wo;
        const T b = bias ? bias[k] : 0;
        if (fast) {
            NAME(dw_fast_conv)(&L, G, hb, cnt, xp, xs, w + k * RS, b, act, act_param, yp, ys);
        } else {
            for (fc_int j = 0; j < cnt; j++) {
                NAME(dw_generic_forward)(g, xp + j * xs, w + k * RS, b, yp + j * ys);
                if (act != FC_ACT_NONE) DW_ACT(act, act_param, yp + j * ys, yp + j * ys, g->Ho * g->Wo);
            }
        }
        q += cnt;
    }
}

/* Input-gradient planes q in [q0, q1), q = c * N + n. Stride 1 or 2 with one filter
 * per channel: the forward kernel on dy (zero-upsampled for stride 2) with the
 * filter turned 180 degrees. */
FC_DW_ATTR static void NAME(dw_backward_data_range)(const fc_conv_geom *g, fc_int N, fc_int q0,
                                                    fc_int q1, const T *dy, const T *w, T *dx)
{
    const fc_int mult = g->K / g->C, RS = g->R * g->S, xs = g->C * g->H * g->W;
    const fc_int ys = g->K * g->Ho * g->Wo;
    dw_layout L;
    fc_int G = 0, hb = 0;
    int fast = mult == 1 && g->stride_h == g->stride_w && g->dil_h == 1 && g->dil_w == 1 &&
               g->stride_w <= 2 && g->pad_top <= g->R - 1 && g->pad_left <= g->S - 1 &&
               dw_plan(&L, 1, g->stride_w, g->Ho, g->Wo, g->H, g->W, g->R, g->S,
                       g->R - 1 - g->pad_top, g->S - 1 - g->pad_left) && NAME(dw_fits)(&L, &G, &hb);
    T wf[FC_DW_MAXTAP];
    for (fc_int q = q0; q < q1;) {
        const fc_int c = q / N, n0 = q % N, cnt = N - n0 < q1 - q ? N - n0 : q1 - q;
        const T *dyp = dy + (n0 * g->K + c * mult) * g->Ho * g->Wo;
        T *dxp = dx + (n0 * g->C + c) * g->H * g->W;
        if (fast) {
            for (fc_int t = 0; t < RS; t++) wf[t] = w[c * RS + RS - 1 - t];
            NAME(dw_fast_conv)(&L, G, hb, cnt, dyp, ys, wf, 0, FC_ACT_NONE, 0, dxp, xs);
        } else {
            for (fc_int j = 0; j < cnt; j++)
                NAME(dw_generic_backward_data)(g, mult, dyp + j * ys, w + c * mult * RS, dxp + j * xs);
        }
        q += cnt;
    }
}

/* dw (R, S) += one filter's weight gradient over nimg images, *db += the dy sum. */
FC_DW_ATTR static void NAME(dw_backward_weight)(const fc_conv_geom *g, fc_int nimg, const T *x,
                                                fc_int xs, const T *dy, fc_int dys, T *dw, T *db)
{
    dw_layout L;
    fc_int G = 0, hb = 0;
    if (!(g->stride_h == g->stride_w && g->dil_h == 1 && g->dil_w == 1 &&
          dw_plan(&L, g->stride_w, 1, g->H, g->W, g->Ho, g->Wo, g->R, g->S, g->pad_top,
                  g->pad_left) && NAME(dw_fits)(&L, &G, &hb))) {
        NAME(dw_generic_backward_weight)(g, nimg, x, xs, dy, dys, dw, db);
        return;
    }
    VEC acc[FC_DW_MAXTAP + 1];
    for (int t = 0; t <= L.ntap; t++) acc[t] = (VEC){0};
    NAME(dw_fast_dot)(&L, G, hb, nimg, x, xs, dy, dys, acc);
    for (int t = 0; t < L.ntap; t++) dw[t] += NAME(dw_hsum)(acc[t]);
    if (db) *db += NAME(dw_hsum)(acc[L.ntap]);
}

#undef VEC
#undef VL
