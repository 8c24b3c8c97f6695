/* Type-generic body of csrc/pool.c, included once per element type with T and
 * SUFFIX defined. Windows follow PyTorch: clipped to the image for the max
 * (padding never wins), and for the average divisor as fastconv.h states. */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_NAME(base) FC_CAT(base, SUFFIX)

/* Maximum of the window [h0,h1) x [w0,w1) (the window is never empty). NaN
 * counts as the maximum. The loop is a max and an or, with no data-dependent
 * branch: on real data "v > m" is a coin toss, and a branch on it costs more
 * than the whole window. */
static inline T FC_NAME(fc_window_max)(const T *x, fc_int W, fc_int h0, fc_int h1,
                                        fc_int w0, fc_int w1, int *has_nan)
{
    T m = x[h0 * W + w0];
    int nan = 0;
    for (fc_int h = h0; h < h1; h++) {
        const T *row = x + h * W;
        for (fc_int w = w0; w < w1; w++) {
            T v = row[w];
            m = v > m ? v : m;
            nan |= v != v;
        }
    }
    *has_nan = nan;
    return m;
}

/* Index of the element that wins the window, or -1 for an empty window: the
 * first maximum, or the last NaN when there is one (PyTorch's CPU kernel:
 * val > max || isnan(val)). Both updates are bit masks, so no branch depends
 * on the data. */
static inline fc_int FC_NAME(fc_window_argmax)(const T *x, fc_int W, fc_int h0, fc_int h1,
                                                 fc_int w0, fc_int w1)
{
    if (h0 >= h1 || w0 >= w1)
        return -1;
    fc_int best = h0 * W + w0;
    UT mbits;
    memcpy(&mbits, &x[best], sizeof mbits);
    for (fc_int h = h0; h < h1; h++) {
        for (fc_int w = w0; w < w1; w++) {
            fc_int idx = h * W + w;
            T v = x[idx], m;
            UT vbits;
            memcpy(&m, &mbits, sizeof m);
            memcpy(&vbits, &v, sizeof vbits);
            int take = (v > m) | (v != v);
            fc_int imask = -(fc_int)take;
            UT vmask = (UT)0 - (UT)take;
            best = (idx & imask) | (best & ~imask);
            mbits = (vbits & vmask) | (mbits & ~vmask);
        }
    }
    return best;
}

/* The common 2x2, stride 2, unpadded pooling: the windows do not overlap, so
 * the interior (every row, and the columns whose windows lie wholly inside the
 * image) is straight-line code (the AVX2 rows in pool_avx2.c where a row holds
 * a vector of windows: the compiler does not vectorise the stride-2 reads). These return the
 * number of output columns they finished in every row (0 when they do not
 * apply; the general loops then do everything). */
static fc_int FC_NAME(fc_pool_2x2_columns)(const fc_pool_geom *g)
{
    if (g->kh != 2 || g->kw != 2 || g->stride_h != 2 || g->stride_w != 2 || g->pad_h || g->pad_w
        || g->dil_h != 1 || g->dil_w != 1)
        return 0;
    if (g->H / 2 < g->Ho)  /* a ceil_mode row of partial windows */
        return 0;
    return g->W / 2 < g->Wo ? g->W / 2 : g->Wo;
}

static fc_int FC_NAME(fc_max_pool_2x2_forward)(const fc_pool_geom *g, const T *x, T *y)
{
    fc_int cols = FC_NAME(fc_pool_2x2_columns)(g);
#ifdef FC_POOL_HAVE_AVX2
    if (cols && fc_simd_path() >= FC_SIMD_AVX2 &&
        FC_CAT(FC_NAME(fc_max_pool_2x2_fwd_rows), avx2)(g->Ho, cols, g->W, g->Wo, x, y) == cols)
        return cols;
#endif
    for (fc_int oh = 0; cols && oh < g->Ho; oh++) {
        const T *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        T *out = y + oh * g->Wo;
        for (fc_int ow = 0; ow < cols; ow++) {
            T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            T m = b > a ? b : a;
            m = c > m ? c : m;
            m = d > m ? d : m;
            int nan = (a != a) | (b != b) | (c != c) | (d != d);
            out[ow] = nan ? (T)NAN : m;
        }
    }
    return cols;
}

/* gx must be zero outside the windows' blocks on entry; each window's gradient goes to its first maximum
 * (in the order a b / c d). Written as masks on equality with the maximum so
 * that the compiler vectorises it; the AVX2 path (pool_avx2.c) does the
 * columns that fill whole vectors. A window holding NaN sends the plane to
 * the general loop (gx zeroed again), whose NaN rule (last NaN wins) needs
 * the sequential scan: the check rides along with the work instead of a
 * separate pass over the plane. */
static fc_int FC_NAME(fc_max_pool_2x2_backward)(const fc_pool_geom *g, const T *x, const T *gy, T *gx)
{
    fc_int cols = FC_NAME(fc_pool_2x2_columns)(g);
    if (!cols)
        return 0;
    /* Hoisted: a store through gx could alias *g as far as the compiler knows. */
    const fc_int W = g->W, Wo = g->Wo, Ho = g->Ho;
#ifdef FC_POOL_HAVE_AVX2
    if (fc_simd_path() >= FC_SIMD_AVX2) {
        const fc_int r = FC_CAT(FC_NAME(fc_max_pool_2x2_bwd_rows), avx2)(Ho, cols, W, Wo, x, gy, gx);
        if (r < 0) {
            memset(gx, 0, (size_t)(g->H * W) * sizeof(T));
            return 0;
        }
        if (r == cols)
            return cols;
    }
#endif
    int nan = 0;
    for (fc_int oh = 0; oh < Ho; oh++) {
        const T *r0 = x + 2 * oh * W, *r1 = r0 + W;
        T *g0 = gx + 2 * oh * W, *g1 = g0 + W;
        const T *grad = gy + oh * Wo;
        for (fc_int ow = 0; ow < cols; ow++) {
            T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
            nan |= (a != a) | (b != b) | (c != c) | (d != d);
            T m = b > a ? b : a;
            m = c > m ? c : m;
            m = d > m ? d : m;
            int ea = a == m, eb = (b == m) & !ea, ec = (c == m) & !ea & !eb;
            int ed = !ea & !eb & !ec;
            T v = grad[ow];
            g0[2 * ow] = ea ? v : (T)0;
            g0[2 * ow + 1] = eb ? v : (T)0;
            g1[2 * ow] = ec ? v : (T)0;
            g1[2 * ow + 1] = ed ? v : (T)0;
        }
    }
    if (nan) {
        memset(gx, 0, (size_t)(g->H * W) * sizeof(T));
        return 0;
    }
    return cols;
}

/* The window of output index o along one axis, clipped to the image [0, size). */
static inline void FC_NAME(fc_clip_window)(fc_int o, fc_int stride, fc_int pad, fc_int k,
                                           fc_int size, fc_int *lo, fc_int *hi)
{
    fc_int a = o * stride - pad, b = a + k;
    *lo = a < 0 ? 0 : a;
    *hi = b > size ? size : b;
}

/* The taps of a dilated window along one axis that fall inside the image:
 * positions a + i*dil for i in [*i0, *i1). */
static inline void FC_NAME(fc_dilated_taps)(fc_int o, fc_int stride, fc_int pad, fc_int k,
                                            fc_int dil, fc_int size, fc_int *i0, fc_int *i1)
{
    fc_int a = o * stride - pad;
    fc_int lo = a < 0 ? (-a + dil - 1) / dil : 0;        /* first tap at or after 0 */
    fc_int hi = a >= size ? 0 : (size - 1 - a) / dil + 1; /* taps before size */
    *i0 = lo;
    *i1 = hi < k ? hi : k;
}

/* Max pooling with dilation: the same rules (first maximum, last NaN) over the
 * window's taps in row-major order; an empty window gives -inf / no gradient. */
static void FC_NAME(fc_max_pool_dilated)(const fc_pool_geom *g, const T *x, const T *gy,
                                         T *y, T *gx)
{
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        fc_int ih0, ih1;
        FC_NAME(fc_dilated_taps)(oh, g->stride_h, g->pad_h, g->kh, g->dil_h, g->H, &ih0, &ih1);
        for (fc_int ow = 0; ow < g->Wo; ow++) {
            fc_int iw0, iw1;
            FC_NAME(fc_dilated_taps)(ow, g->stride_w, g->pad_w, g->kw, g->dil_w, g->W, &iw0, &iw1);
            fc_int best = -1;
            T m = (T)(-INFINITY);
            for (fc_int i = ih0; i < ih1; i++) {
                fc_int h = oh * g->stride_h - g->pad_h + i * g->dil_h;
                for (fc_int j = iw0; j < iw1; j++) {
                    fc_int idx = h * g->W + ow * g->stride_w - g->pad_w + j * g->dil_w;
                    T v = x[idx];
                    if (best < 0 || v > m || v != v) {
                        best = idx;
                        m = v;
                    }
                }
            }
            if (y) y[oh * g->Wo + ow] = m;
            if (gx && best >= 0) gx[best] += gy[oh * g->Wo + ow];
        }
    }
}

void FC_NAME(fc_max_pool2d_forward)(const fc_pool_geom *g, const T *x, T *y)
{
    if (g->dil_h != 1 || g->dil_w != 1) {
        FC_NAME(fc_max_pool_dilated)(g, x, NULL, y, NULL);
        return;
    }
    /* Columns [0, done) of every row are finished by the fast path. */
    fc_int done = FC_NAME(fc_max_pool_2x2_forward)(g, x, y);
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        fc_int h0, h1;
        FC_NAME(fc_clip_window)(oh, g->stride_h, g->pad_h, g->kh, g->H, &h0, &h1);
        for (fc_int ow = done; ow < g->Wo; ow++) {
            fc_int w0, w1;
            FC_NAME(fc_clip_window)(ow, g->stride_w, g->pad_w, g->kw, g->W, &w0, &w1);
            T v = (T)(-INFINITY);
            if (h0 < h1 && w0 < w1) {
                int nan;
                v = FC_NAME(fc_window_max)(x, g->W, h0, h1, w0, w1, &nan);
                if (nan) v = (T)NAN;
            }
            y[oh * g->Wo + ow] = v;
        }
    }
}

void FC_NAME(fc_max_pool2d_backward)(const fc_pool_geom *g, const T *x, const T *gy, T *gx)
{
    /* The 2x2 fast path writes every element of its windows (and zeroes the
     * plane itself when it gives up), so a plane it tiles exactly needs no
     * zeroing first. */
    const fc_int cols = g->dil_h == 1 && g->dil_w == 1 ? FC_NAME(fc_pool_2x2_columns)(g) : 0;
    if (!(cols && 2 * g->Ho == g->H && 2 * cols == g->W))
        memset(gx, 0, (size_t)(g->H * g->W) * sizeof(T));
    if (g->dil_h != 1 || g->dil_w != 1) {
        FC_NAME(fc_max_pool_dilated)(g, x, gy, NULL, gx);
        return;
    }
    fc_int done = FC_NAME(fc_max_pool_2x2_backward)(g, x, gy, gx);
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        fc_int h0, h1;
        FC_NAME(fc_clip_window)(oh, g->stride_h, g->pad_h, g->kh, g->H, &h0, &h1);
        for (fc_int ow = done; ow < g->Wo; ow++) {
            fc_int w0, w1;
            FC_NAME(fc_clip_window)(ow, g->stride_w, g->pad_w, g->kw, g->W, &w0, &w1);
            fc_int best = FC_NAME(fc_window_argmax)(x, g->W, h0, h1, w0, w1);
            if (best >= 0) gx[best] += gy[oh * g->Wo + ow];
        }
    }
}

/* The clipped window of output (oh, ow) and its divisor. */
static inline T FC_NAME(fc_avg_window)(const fc_pool_geom *g, fc_int oh, fc_int ow,
                                        fc_int *h0, fc_int *h1, fc_int *w0, fc_int *w1)
{
    fc_int hs = oh * g->stride_h - g->pad_h, ws = ow * g->stride_w - g->pad_w;
    fc_int he = hs + g->kh, we = ws + g->kw;
    if (he > g->H + g->pad_bottom) he = g->H + g->pad_bottom;
    if (we > g->W + g->pad_right) we = g->W + g->pad_right;
    fc_int padded_count = (he - hs) * (we - ws);
    if (hs < 0) hs = 0;
    if (ws < 0) ws = 0;
    if (he > g->H) he = g->H;
    if (we > g->W) we = g->W;
    *h0 = hs; *h1 = he; *w0 = ws; *w1 = we;
    fc_int count = g->count_include_pad ? padded_count : (he - hs) * (we - ws);
    return count > 0 ? (T)count : (T)1;
}

/* 2x2 stride 2 unpadded average: full windows of 4, summed in the general
 * loop's order (0 + a + b + c + d, rows then columns), so results are
 * bitwise those of the general loop; straight-line code that vectorises. */
static fc_int FC_NAME(fc_avg_pool_2x2_forward)(const fc_pool_geom *g, const T *x, T *y)
{
    fc_int cols = FC_NAME(fc_pool_2x2_columns)(g);
    for (fc_int oh = 0; cols && oh < g->Ho; oh++) {
        const T *r0 = x + 2 * oh * g->W, *r1 = r0 + g->W;
        T *out = y + oh * g->Wo;
        for (fc_int ow = 0; ow < cols; ow++) {
            T s = (T)0;
            s += r0[2 * ow];
            s += r0[2 * ow + 1];
            s += r1[2 * ow];
            s += r1[2 * ow + 1];
            out[ow] = s / (T)4;
        }
    }
    return cols;
}

/* gx must be zero on entry (the general loop's 0 + v is kept). */
static fc_int FC_NAME(fc_avg_pool_2x2_backward)(const fc_pool_geom *g, const T *gy, T *gx)
{
    fc_int cols = FC_NAME(fc_pool_2x2_columns)(g);
    for (fc_int oh = 0; cols && oh < g->Ho; oh++) {
        T *g0 = gx + 2 * oh * g->W, *g1 = g0 + g->W;
        const T *grad = gy + oh * g->Wo;
        for (fc_int ow = 0; ow < cols; ow++) {
            T v = (T)0 + grad[ow] / (T)4;
            g0[2 * ow] = v;
            g0[2 * ow + 1] = v;
            g1[2 * ow] = v;
            g1[2 * ow + 1] = v;
        }
    }
    return cols;
}

void FC_NAME(fc_avg_pool2d_forward)(const fc_pool_geom *g, const T *x, T *y)
{
    fc_int done = FC_NAME(fc_avg_pool_2x2_forward)(g, x, y);
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        for (fc_int ow = done; ow < g->Wo; ow++) {
            fc_int h0, h1, w0, w1;
            T div = FC_NAME(fc_avg_window)(g, oh, ow, &h0, &h1, &w0, &w1);
            T s = (T)0;
            for (fc_int h = h0; h < h1; h++)
                for (fc_int w = w0; w < w1; w++) s += x[h * g->W + w];
            y[oh * g->Wo + ow] = s / div;
        }
    }
}

void FC_NAME(fc_avg_pool2d_backward)(const fc_pool_geom *g, const T *gy, T *gx)
{
    memset(gx, 0, (size_t)(g->H * g->W) * sizeof(T));
    fc_int done = FC_NAME(fc_avg_pool_2x2_backward)(g, gy, gx);
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        for (fc_int ow = done; ow < g->Wo; ow++) {
            fc_int h0, h1, w0, w1;
            T div = FC_NAME(fc_avg_window)(g, oh, ow, &h0, &h1, &w0, &w1);
            T v = gy[oh * g->Wo + ow] / div;
            for (fc_int h = h0; h < h1; h++)
                for (fc_int w = w0; w < w1; w++) gx[h * g->W + w] += v;
        }
    }
}

#undef FC_NAME
#undef FC_CAT
#undef FC_CAT_
