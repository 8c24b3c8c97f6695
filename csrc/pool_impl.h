/* Type-generic body of csrc/pool.c, included once per element type with T and
 * SUFFIX defined. Windows follow PyTorch: clipped to the image for the max
 * (padding never wins), and for the average divisor as fastconv.h states. */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_NAME(base) FC_CAT(base, SUFFIX)

/* Index of the first maximum of the window (NaN counts as the maximum, the
 * first NaN wins), or -1 for an empty window. */
static inline fc_int FC_NAME(fc_window_argmax)(const T *x, fc_int W, fc_int h0, fc_int h1,
                                                 fc_int w0, fc_int w1)
{
    fc_int best = -1;
    T m = (T)0;
    for (fc_int h = h0; h < h1; h++) {
        const T *row = x + h * W;
        for (fc_int w = w0; w < w1; w++) {
            T v = row[w];
            if (best < 0 || v > m || (v != v && m == m)) {
                m = v;
                best = h * W + w;
            }
        }
    }
    return best;
}

void FC_NAME(fc_max_pool2d_forward)(const fc_pool_geom *g, const T *x, T *y)
{
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        fc_int h0 = oh * g->stride_h - g->pad_h, h1 = h0 + g->kh;
        if (h0 < 0) h0 = 0;
        if (h1 > g->H) h1 = g->H;
        for (fc_int ow = 0; ow < g->Wo; ow++) {
            fc_int w0 = ow * g->stride_w - g->pad_w, w1 = w0 + g->kw;
            if (w0 < 0) w0 = 0;
            if (w1 > g->W) w1 = g->W;
            fc_int best = FC_NAME(fc_window_argmax)(x, g->W, h0, h1, w0, w1);
            y[oh * g->Wo + ow] = best < 0 ? (T)(-INFINITY) : x[best];
        }
    }
}

void FC_NAME(fc_max_pool2d_backward)(const fc_pool_geom *g, const T *x, const T *gy, T *gx)
{
    for (fc_int i = 0; i < g->H * g->W; i++) gx[i] = (T)0;
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        fc_int h0 = oh * g->stride_h - g->pad_h, h1 = h0 + g->kh;
        if (h0 < 0) h0 = 0;
        if (h1 > g->H) h1 = g->H;
        for (fc_int ow = 0; ow < g->Wo; ow++) {
            fc_int w0 = ow * g->stride_w - g->pad_w, w1 = w0 + g->kw;
            if (w0 < 0) w0 = 0;
            if (w1 > g->W) w1 = g->W;
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
    if (he > g->H + g->pad_h) he = g->H + g->pad_h;
    if (we > g->W + g->pad_w) we = g->W + g->pad_w;
    fc_int padded_count = (he - hs) * (we - ws);
    if (hs < 0) hs = 0;
    if (ws < 0) ws = 0;
    if (he > g->H) he = g->H;
    if (we > g->W) we = g->W;
    *h0 = hs; *h1 = he; *w0 = ws; *w1 = we;
    fc_int count = g->count_include_pad ? padded_count : (he - hs) * (we - ws);
    return count > 0 ? (T)count : (T)1;
}

void FC_NAME(fc_avg_pool2d_forward)(const fc_pool_geom *g, const T *x, T *y)
{
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        for (fc_int ow = 0; ow < g->Wo; ow++) {
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
    for (fc_int i = 0; i < g->H * g->W; i++) gx[i] = (T)0;
    for (fc_int oh = 0; oh < g->Ho; oh++) {
        for (fc_int ow = 0; ow < g->Wo; ow++) {
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
