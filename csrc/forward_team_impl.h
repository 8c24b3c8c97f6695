/* Type-generic body of csrc/forward_team.c: included once per element type
 * with T (the type) and SUFFIX (f32 / f64) defined. */
#define FC_CAT_(a, b) a##_##b
#define FC_CAT(a, b) FC_CAT_(a, b)
#define FC_NAME(base) FC_CAT(base, SUFFIX)

static inline void FC_NAME(pool_plane)(const fc_pool_geom *g, int max, const T *x, T *y)
{
    if (max)
        FC_NAME(fc_max_pool2d_forward)(g, x, y);
    else
        FC_NAME(fc_avg_pool2d_forward)(g, x, y);
}

void FC_NAME(fc_conv2d_forward_team)(const fc_conv_geom *g, fc_int N, const T *x,
                                     const void *packed, const T *bias, const T *res, int act,
                                     T act_param, T *y, int nthreads, char *work)
{
    fc_conv_team t = conv_team(g, N, nthreads, sizeof(T));
    const fc_int xs = g->C * g->H * g->W, ys = g->K * g->Ho * g->Wo;
    const fc_int nt = t.nt;
    fc_int i;
    if (N <= 0)
        return;
    if (t.mode == FC_CONV_TEAM_1X1_ROWS) {
        /* every thread all the images, a fixed share of the filters (whole
         * 18-row groups of the AVX-512 kernels where there are enough) */
        const fc_int unit = g->K >= 18 * nt ? 18 : 6;
        const fc_int units = (g->K + unit - 1) / unit;
        FC_TEAM_FOR(static, nt, i, nt, {
            fc_int k0 = units * i / nt * unit, k1 = units * (i + 1) / nt * unit;
            k0 = k0 < g->K ? k0 : g->K;
            k1 = k1 < g->K ? k1 : g->K;
            if (k1 > k0)
                FC_NAME(fc_conv2d_forward_1x1_batch_rows)(g, 0, N, k0, k1, x, packed, bias, res,
                                                          act, act_param, y,
                                                          work + t.ws * (size_t)FC_THREAD_ID());
        });
    } else if (t.mode == FC_CONV_TEAM_1X1_BATCH) {
        const fc_int nruns = image_runs(N, (int)nt, 1);
        FC_TEAM_FOR(static, nt, i, nruns, {
            FC_NAME(fc_conv2d_forward_1x1_batch)(g, i * N / nruns, (i + 1) * N / nruns, x, packed,
                                                 bias, res, act, act_param, y,
                                                 work + t.ws * (size_t)FC_THREAD_ID());
        });
    } else if (t.mode == FC_CONV_TEAM_SPLIT) {
        /* each image cut into nt disjoint shares of its output, one task each */
        FC_TEAM_FOR(static, nt, i, N * nt, {
            const fc_int n = i / nt;
            FC_NAME(fc_conv2d_forward_packed_part)(g, x + n * xs, packed, bias,
                                                   res ? res + n * ys : NULL, act, act_param,
                                                   y + n * ys, work + t.ws * (size_t)FC_THREAD_ID(),
                                                   (int)(i % nt), (int)nt);
        });
    } else {
        const fc_int per = fc_conv2d_run_images(g, FC_CONV_FORWARD, sizeof(T));
        const fc_int nchunks = image_runs(N, (int)nt, per);
        FC_TEAM_FOR(static, nt, i, nchunks, {
            const fc_int n = run_start(i, nchunks, N, per), n1 = run_start(i + 1, nchunks, N, per);
            FC_NAME(fc_conv2d_forward_packed_batch)(g, n1 - n, x + n * xs, packed, bias,
                                                    res ? res + n * ys : NULL, act, act_param,
                                                    y + n * ys,
                                                    work + t.ws * (size_t)FC_THREAD_ID());
        });
    }
}

void FC_NAME(fc_conv2d_pool_forward_team)(const fc_conv_geom *g, const fc_pool_geom *pg, int max,
                                          fc_int N, const T *x, const void *packed, const T *bias,
                                          int act, T act_param, T *y, int nthreads, char *work)
{
    fc_conv_team t = conv_team(g, N, nthreads, sizeof(T));
    const fc_int xs = g->C * g->H * g->W, ys = g->K * g->Ho * g->Wo;
    const fc_int pin = g->Ho * g->Wo, pout = pg->Ho * pg->Wo;
    if (N <= 0)
        return;
    if (!conv_pool_fused(&t)) {
        T *full = (T *)work;
        char *cwork = work + round64((size_t)ys * (size_t)N * sizeof(T));
        if (t.mode == FC_CONV_TEAM_SPLIT && fc_conv2d_split_pools(g, pg, (int)t.nt, sizeof(T))) {
            /* each part pools the rows it wrote, on the thread that wrote them (from
             * the other core's cache they cost a batch-1 inference as much as the
             * pooling itself) */
            const fc_int nt = t.nt;
            fc_int i;
            FC_TEAM_FOR(static, nt, i, N * nt, {
                const fc_int n = i / nt;
                FC_NAME(fc_conv2d_forward_pool_part)(g, pg, max, x + n * xs, packed, bias, act,
                                                     act_param, full + n * ys,
                                                     y + n * g->K * pout,
                                                     cwork + t.ws * (size_t)FC_THREAD_ID(),
                                                     (int)(i % nt), (int)nt);
            });
            return;
        }
        FC_NAME(fc_conv2d_forward_team)(g, N, x, packed, bias, NULL, act, act_param, full,
                                        nthreads, cwork);
        FC_NAME(fc_pool2d_forward_team)(pg, max, N * g->K, full, y, nthreads);
        return;
    }
    FC_SCRATCH_RUNS(g, ys, {
        FC_NAME(fc_conv2d_forward_packed_batch)(g, m, x + n * xs, packed, bias, NULL, act,
                                                act_param, scratch, mine);
        for (fc_int p = 0; p < m * g->K; p++)
            FC_NAME(pool_plane)(pg, max, scratch + p * pin, y + (n * g->K + p) * pout);
    });
}

/* Work items [q0, q1) of the depthwise kernel `kind` (depthwise_kind) over N images. */
static void FC_NAME(depthwise_items)(int kind, const fc_conv_geom *g, fc_int N, fc_int q0,
                                     fc_int q1, const T *x, const T *w, const T *bias, int act,
                                     T act_param, T *y)
{
    if (kind == FC_DW_FLAT)
        FC_NAME(fc_depthwise_flat_forward)(g, N, q0, q1, x, w, bias, act, act_param, y);
    else if (kind == FC_DW_ROWS)
        FC_NAME(fc_depthwise_rows_forward)(g, N, q0, q1, x, w, bias, act, act_param, y);
    else if (kind == FC_DW_SMALL)
        FC_NAME(fc_depthwise_small_forward)(g, N, q0, q1, x, w, bias, act, act_param, y);
    else
        FC_NAME(fc_depthwise_forward)(g, N, q0, q1, x, w, bias, act, act_param, y);
}

void FC_NAME(fc_depthwise_forward_team)(const fc_conv_geom *g, fc_int N, const T *x, const T *w,
                                        const T *bias, int act, T act_param, T *y, int nthreads)
{
    /* Each thread one static run of the work items (see depthwise_kind). */
    fc_int P, i;
    const int kind = depthwise_kind(g, 0, N, sizeof(T), &P);
    const int nt = fc_team_size(nthreads, P, fc_depthwise_work(g, N));
    FC_TEAM_FOR(static, nt, i, nt, {
        FC_NAME(depthwise_items)(kind, g, N, i * P / nt, (i + 1) * P / nt, x, w, bias, act,
                                 act_param, y);
    });
}

void FC_NAME(fc_depthwise_backward_data_team)(const fc_conv_geom *g, fc_int N, const T *dy,
                                              const T *w, T *dx, int nthreads)
{
    /* the forward's team rule over the input gradient's work items */
    fc_int P, i;
    const int kind = depthwise_kind(g, 1, N, sizeof(T), &P);
    const int nt = fc_team_size(nthreads, P, fc_depthwise_work(g, N));
    FC_TEAM_FOR(static, nt, i, nt, {
        const fc_int q0 = i * P / nt, q1 = (i + 1) * P / nt;
        if (kind == FC_DW_FLAT)
            FC_NAME(fc_depthwise_flat_backward_data)(g, N, q0, q1, dy, w, dx);
        else if (kind == FC_DW_ROWS)
            FC_NAME(fc_depthwise_rows_backward_data)(g, N, q0, q1, dy, w, dx);
        else if (kind == FC_DW_SMALL)
            FC_NAME(fc_depthwise_small_backward_data)(g, N, q0, q1, dy, w, dx);
        else
            FC_NAME(fc_depthwise_backward_data)(g, N, q0, q1, dy, w, dx);
    });
}

void FC_NAME(fc_depthwise_conv_forward_team)(const fc_conv_geom *gd, const T *wd, const T *bd,
                                             int actd, T actd_param, const fc_conv_geom *g,
                                             fc_int N, const T *x, const void *packed,
                                             const T *bias, int act, T act_param, T *y,
                                             int nthreads, char *work)
{
    fc_conv_team t = conv_team(g, N, nthreads, sizeof(T));
    const fc_int xs = gd->C * gd->H * gd->W, ds = gd->K * gd->Ho * gd->Wo;
    const fc_int ys = g->K * g->Ho * g->Wo;
    if (N <= 0)
        return;
    if (!conv_pool_fused(&t)) {
        T *mid = (T *)work;
        char *cwork = work + round64((size_t)ds * (size_t)N * sizeof(T));
        FC_NAME(fc_depthwise_forward_team)(gd, N, x, wd, bd, actd, actd_param, mid, nthreads);
        FC_NAME(fc_conv2d_forward_team)(g, N, mid, packed, bias, NULL, act, act_param, y,
                                        nthreads, cwork);
        return;
    }
    FC_SCRATCH_RUNS(gd, ds, {
        fc_int items;
        const int kind = depthwise_kind(gd, 0, m, sizeof(T), &items);
        FC_NAME(depthwise_items)(kind, gd, m, 0, items, x + n * xs, wd, bd, actd, actd_param,
                                 scratch);
        FC_NAME(fc_conv2d_forward_packed_batch)(g, m, scratch, packed, bias, NULL, act,
                                                act_param, y + n * ys, mine);
    });
}

void FC_NAME(fc_pool2d_forward_team)(const fc_pool_geom *g, int max, fc_int planes, const T *x,
                                     T *y, int nthreads)
{
    const fc_int in = g->H * g->W, out = g->Ho * g->Wo;
    const int nt = fc_team_size(nthreads, planes, (double)FC_ELEMENT_WORK * planes * in);
    fc_int p;
    FC_TEAM_FOR(static, nt, p, planes, {
        FC_NAME(pool_plane)(g, max, x + p * in, y + p * out);
    });
}

void FC_NAME(fc_plane_means_team)(fc_int rows, fc_int n, const T *x, T *y, int nthreads)
{
    /* 8 running sums over the elements j = i (mod 8), added pairwise, then the
     * short tail: the order NumPy's pairwise summation uses for up to 128
     * elements, and close to it above; fixed whatever the thread count. */
    const int nt = fc_team_size(nthreads, rows, (double)FC_ELEMENT_WORK * rows * n);
    const T scale = n ? (T)(1.0 / (double)n) : (T)0;
    const fc_int j8 = n - n % 8;
    fc_int r;
    FC_TEAM_FOR(static, nt, r, rows, {
        const T *row = x + r * n;
        T total = 0;
        fc_int j;
        if (n < 8) {
            for (j = 0; j < n; j++)
                total = total + row[j];
        } else {
            T s0 = row[0], s1 = row[1], s2 = row[2], s3 = row[3];
            T s4 = row[4], s5 = row[5], s6 = row[6], s7 = row[7];
            for (j = 8; j < j8; j += 8) {
                s0 = s0 + row[j]; s1 = s1 + row[j + 1]; s2 = s2 + row[j + 2];
                s3 = s3 + row[j + 3]; s4 = s4 + row[j + 4]; s5 = s5 + row[j + 5];
                s6 = s6 + row[j + 6]; s7 = s7 + row[j + 7];
            }
            total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
            for (j = j8; j < n; j++)
                total = total + row[j];
        }
        y[r] = total * scale;
    });
}

/* Row r's n elements written with one value, the same per element for n a
 * compile-time constant (short rows: one store of the value repeated, not a loop). */
#define FC_FILL_ROWS(N_)                                                              \
    FC_TEAM_FOR(static, nt, r, rows, {                                                \
        const T val = v[r] * scale;                                                   \
        T *row = y + r * (N_);                                                        \
        for (fc_int j = 0; j < (N_); j++)                                             \
            row[j] = val;                                                             \
    })

void FC_NAME(fc_plane_fill_team)(fc_int rows, fc_int n, const T *v, T scale, T *y, int nthreads)
{
    /* NumPy's broadcast assignment walked MobileNet's 64 x 512 maps of 2x2 (the global
     * average pooling's gradient) at about a nanosecond an element, 2 threads no faster */
    const int nt = fc_team_size(nthreads, rows, (double)FC_ELEMENT_WORK * rows * n);
    fc_int r;
    switch (n) {
    case 1: FC_FILL_ROWS(1); break;
    case 4: FC_FILL_ROWS(4); break;
    case 16: FC_FILL_ROWS(16); break;
    case 64: FC_FILL_ROWS(64); break;
    default: FC_FILL_ROWS(n); break;
    }
}
#undef FC_FILL_ROWS

/* Elements summed before the activation runs over them: the sums are still in L1
 * when it reads them back (a whole block's sums -- megabytes in a ResNet -- went out
 * to memory and came back). */
#ifndef FC_ELEMENT_PIECE
#define FC_ELEMENT_PIECE 2048
#endif

/* y = act(a + b), or y = act(a) when b is NULL, over equal blocks, one per thread:
 * each block summed piece by piece, the activation kernel over each piece (bitwise a
 * NumPy add followed by fc_activation_forward over the whole array). */
static void FC_NAME(elementwise_team)(const T *a, const T *b, T *y, fc_int n, int act, T param,
                                      int nthreads)
{
    const int nb = fc_team_size(nthreads, nthreads, (double)FC_ELEMENT_WORK * n);
    fc_int blk;
    if (n <= 0)
        return;
    FC_TEAM_FOR(static, nb, blk, nb, {
        const fc_int lo = blk * n / nb, hi = (blk + 1) * n / nb;
        fc_int i, p0, p1;
        if (!b) {
            FC_NAME(fc_activation_forward)(act, param, a + lo, y + lo, hi - lo);
        } else {
            for (p0 = lo; p0 < hi; p0 = p1) {
                p1 = hi - p0 > FC_ELEMENT_PIECE ? p0 + FC_ELEMENT_PIECE : hi;
                for (i = p0; i < p1; i++)
                    y[i] = a[i] + b[i];
                if (act != FC_ACT_NONE)
                    FC_NAME(fc_activation_forward)(act, param, y + p0, y + p0, p1 - p0);
            }
        }
    });
}

void FC_NAME(fc_activation_forward_team)(int act, T param, const T *x, T *y, fc_int n,
                                         int nthreads)
{
    FC_NAME(elementwise_team)(x, NULL, y, n, act, param, nthreads);
}

void FC_NAME(fc_add_forward_team)(const T *a, const T *b, T *y, fc_int n, int act, T param,
                                  int nthreads)
{
    FC_NAME(elementwise_team)(a, b, y, n, act, param, nthreads);
}

#undef FC_CAT_
#undef FC_CAT
#undef FC_NAME
