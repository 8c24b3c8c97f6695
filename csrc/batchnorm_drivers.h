/* The public batch-norm functions of element type T (csrc/batchnorm.c includes this
 * once per type, with T, BN_RELU, SUFFIX and BN_WIDE -- the kernels' suffix on the
 * AVX-512 path: avx512 for float, avx2 for double -- defined, after the kernels of
 * batchnorm_impl.h). */

#define BN_P3_(a, b, c) a##_##b##_##c
#define BN_P3(a, b, c) BN_P3_(a, b, c)
#define BN_PUBLIC(base) BN_P3(fc, base, SUFFIX)
#ifdef FC_BN_HAVE_AVX2
#define BN_RUN(avx, base, args) \
    ((avx) == 2 ? BN_P3(base, SUFFIX, BN_WIDE) args \
     : (avx) ? BN_P3(base, SUFFIX, avx2) args : BN_P3(base, SUFFIX, portable) args)
#else
#define BN_RUN(avx, base, args) BN_P3(base, SUFFIX, portable) args
#endif

/* Scratch for per-unit partial sums (2 per unit) and, in row mode, `nrows`
 * coefficient rows of C * HW elements; NULL when out of memory. */
static void *BN_P3(bn, scratch, SUFFIX)(const bn_split *sp, fc_int C, fc_int HW, int nrows,
                                        T **rows)
{
    size_t part = (size_t)(2 * C * sp->nk) * sizeof(double);
    size_t rowbytes = sp->row_mode ? (size_t)(C * HW) * sizeof(T) : 0;
    char *buf = malloc(part + (size_t)nrows * rowbytes + 1);
    if (buf)
        for (int r = 0; r < nrows; r++) rows[r] = (T *)(buf + part + (size_t)r * rowbytes);
    return buf;
}

/* Expand per-channel values (double) to a row of C * HW elements of T. */
static void BN_P3(bn, expand, SUFFIX)(T *row, const double *v, fc_int vstride, fc_int C, fc_int HW)
{
    for (fc_int c = 0; c < C; c++)
        for (fc_int i = 0; i < HW; i++) row[c * HW + i] = (T)v[c * vstride];
}

/* Row mode's coefficient rows of the apply pass: mean, scale and shift, each
 * expanded to one image (C * HW elements). */
static void BN_P3(bn, apply_rows, SUFFIX)(const bn_split *sp, T *const *rows, const double *mean,
                                          const double *scale, const double *shift, fc_int C,
                                          fc_int HW)
{
    if (!sp->row_mode)
        return;
    BN_P3(bn, expand, SUFFIX)(rows[0], mean, 1, C, HW);
    BN_P3(bn, expand, SUFFIX)(rows[1], scale, 1, C, HW);
    BN_P3(bn, expand, SUFFIX)(rows[2], shift, 1, C, HW);
}

/* The apply pass y = relu?((x - mean) * scale + shift [+ res]), its loop shared
 * out among the threads of the parallel region it is called in (row mode: one
 * image a call, on the rows of bn_apply_rows; else one plane a call). The last
 * thing its region does: no barrier of its own (the region's end is one). */
static void BN_P3(bn, apply_pass, SUFFIX)(const bn_split *sp, int avx, const T *x, fc_int N,
                                          fc_int C, fc_int HW, T *const *rows,
                                          const double *mean, const double *scale,
                                          const double *shift, int relu, const T *res, T *y)
{
    const fc_int L = C * HW;
    (void)avx; /* unused in builds without the AVX2 twin */
    if (sp->row_mode) {
        const fc_int nb = (L + FC_BN_COL_BLOCK - 1) / FC_BN_COL_BLOCK;
#pragma omp for schedule(static) nowait
        for (fc_int i = 0; i < sp->nk * nb; i++) {
            fc_int n0, n1, j0, j1;
            bn_block_of(sp, N, L, nb, i, &n0, &n1, &j0, &j1);
            BN_RUN(avx, bn_block_apply, (x + n0 * L, y + n0 * L, n1 - n0, L, j0, j1, rows[0],
                                         rows[1], rows[2], relu, res ? res + n0 * L : NULL));
        }
    } else {
#pragma omp for schedule(static) nowait
        for (fc_int p = 0; p < N * C; p++) {
            fc_int c = p % C;
            BN_RUN(avx, bn_plane_apply, (x + p * HW, y + p * HW, HW, (T)mean[c], (T)scale[c],
                                         (T)shift[c], relu, res ? res + p * HW : NULL));
        }
    }
}

int BN_PUBLIC(batchnorm_forward_training)(const T *x, fc_int N, fc_int C, fc_int HW,
                                          const double *gamma, const double *beta, double eps,
                                          int relu, const T *res, T *y, double *mean,
                                          double *var, double *invstd, int nthreads)
{
    bn_split sp = bn_make_split(N, C, HW);
    T *rows[3] = {NULL, NULL, NULL};
    double *part = BN_P3(bn, scratch, SUFFIX)(&sp, C, HW, 3, rows);
    if (!part)
        return -1;
    const int avx = bn_simd_path();
    (void)avx; /* unused in builds without the AVX2 twin */
    (void)nthreads; /* unused in serial builds */
    const fc_int L = C * HW;
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
#pragma omp for schedule(static)
        for (fc_int i = 0; i < sp.units; i++) {
            const fc_int u = bn_unit(&sp, C, i);
            if (sp.row_mode) {
                fc_int c0 = u / sp.nk * sp.cpb, nc = c0 + sp.cpb < C ? sp.cpb : C - c0;
                fc_int k = u % sp.nk, n0 = k * sp.per, n1 = n0 + sp.per < N ? n0 + sp.per : N;
                BN_RUN(avx, bn_cols_moments, (x + n0 * L + c0 * HW, n1 - n0, L, HW, nc,
                                              &part[2 * (c0 * sp.nk + k)], 2 * sp.nk));
            } else {
                fc_int c = u / sp.nk, n0 = (u % sp.nk) * sp.per;
                fc_int n1 = n0 + sp.per < N ? n0 + sp.per : N;
                BN_RUN(avx, bn_unit_moments, (x + n0 * L + c * HW, n1 - n0, L, HW,
                                              &part[2 * u], &part[2 * u + 1]));
            }
        }
#pragma omp single
        {
            bn_merge_moments(&sp, part, N, C, HW, mean, var);
            for (fc_int c = 0; c < C; c++) {
                invstd[c] = 1.0 / sqrt(var[c] + eps);
                /* part is free now: keep the scale there for the apply pass (gamma is
                 * not read for the statistics alone) */
                if (y)
                    part[c] = gamma[c] * invstd[c];
            }
            if (y)
                BN_P3(bn, apply_rows, SUFFIX)(&sp, rows, mean, part, beta, C, HW);
        }
        if (y)
            BN_P3(bn, apply_pass, SUFFIX)(&sp, avx, x, N, C, HW, rows, mean, part, beta, relu,
                                          res, y);
    }
    free(part);
    return 0;
}

int BN_PUBLIC(batchnorm_forward_inference)(const T *x, fc_int N, fc_int C, fc_int HW,
                                           const double *mean, const double *scale,
                                           const double *shift, int relu, T *y, int nthreads)
{
    bn_split sp = bn_make_split(N, C, HW);
    T *rows[3] = {NULL, NULL, NULL};
    void *buf = BN_P3(bn, scratch, SUFFIX)(&sp, C, HW, 3, rows);
    if (!buf)
        return -1;
    const int avx = bn_simd_path();
    (void)nthreads; /* unused in serial builds */
    BN_P3(bn, apply_rows, SUFFIX)(&sp, rows, mean, scale, shift, C, HW);
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    BN_P3(bn, apply_pass, SUFFIX)(&sp, avx, x, N, C, HW, rows, mean, scale, shift, relu, NULL, y);
    free(buf);
    return 0;
}

int BN_PUBLIC(batchnorm_backward)(const T *g, const T *x, const T *y, const double *beta,
                                  fc_int N, fc_int C, fc_int HW, const double *mean,
                                  const double *invstd, const double *gamma, int training, T *gx,
                                  T *gmasked, double *grad_gamma, double *grad_beta,
                                  int nthreads)
{
    bn_split sp = bn_make_split(N, C, HW);
    /* rows: the four gx coefficients, then (row mode, mask from x) scale and shift */
    T *rows[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    double *part = BN_P3(bn, scratch, SUFFIX)(&sp, C, HW, 6, rows);
    double *coef = malloc((size_t)(7 * C) * sizeof(double) + 1);
    if (!part || !coef) {
        free(part);
        free(coef);
        return -1;
    }
    const int avx = bn_simd_path();
    (void)avx; /* unused in builds without the AVX2 twin */
    (void)nthreads; /* unused in serial builds */
    const fc_int L = C * HW;
    const double M = (double)(N * HW);
    /* The forward's coefficients in T, as its apply pass had them: mean, gamma * invstd
     * (the same double product), beta; rows of them in row mode. */
    const int xmask = !y && beta && training;
    T *cs = (T *)(coef + 4 * C); /* 3 * C values of T after the 4 * C coefficients */
    if (xmask)
        for (fc_int c = 0; c < C; c++) {
            cs[3 * c] = (T)mean[c];
            cs[3 * c + 1] = (T)(gamma[c] * invstd[c]);
            cs[3 * c + 2] = (T)beta[c];
        }
    if (sp.row_mode) {
        /* rows[1]: the mean, both the gx coefficient m and the mask's */
        BN_P3(bn, expand, SUFFIX)(rows[1], mean, 1, C, HW);
        if (xmask) {
            for (fc_int c = 0; c < C; c++)
                coef[c] = gamma[c] * invstd[c]; /* coef is free until the sums are in */
            BN_P3(bn, expand, SUFFIX)(rows[4], coef, 1, C, HW);
            BN_P3(bn, expand, SUFFIX)(rows[5], beta, 1, C, HW);
        }
    }
    /* Row mode's mask source: y whole, or the coefficient rows (one image long). */
    BN_RELU row_relu = {y, {NULL, NULL, NULL}};
    if (xmask && sp.row_mode) {
        row_relu.xm[0] = rows[1];
        row_relu.xm[1] = rows[4];
        row_relu.xm[2] = rows[5];
    }
#pragma omp parallel num_threads(nthreads) if (nthreads > 1)
    {
#pragma omp for schedule(static)
        for (fc_int i = 0; i < sp.units; i++) {
            const fc_int u = bn_unit(&sp, C, i);
            if (sp.row_mode) {
                fc_int c0 = u / sp.nk * sp.cpb, nc = c0 + sp.cpb < C ? sp.cpb : C - c0;
                fc_int k = u % sp.nk, n0 = k * sp.per, n1 = n0 + sp.per < N ? n0 + sp.per : N;
                fc_int off = n0 * L + c0 * HW;
                BN_RELU relu = row_relu; /* y offset to the run's first image */
                if (relu.y)
                    relu.y += n0 * L;
                BN_RUN(avx, bn_cols_grad_sums, (g + off, x + off, &relu,
                                                gmasked ? gmasked + off : NULL, c0, n1 - n0, L,
                                                HW, nc, mean + c0, &part[2 * (c0 * sp.nk + k)],
                                                2 * sp.nk));
            } else {
                BN_RELU relu = {NULL, {NULL, NULL, NULL}};
                fc_int c = u / sp.nk, n0 = (u % sp.nk) * sp.per;
                fc_int n1 = n0 + sp.per < N ? n0 + sp.per : N;
                fc_int off = n0 * L + c * HW;
                relu.y = y ? y + off : NULL;
                if (xmask)
                    for (int r = 0; r < 3; r++) relu.xm[r] = cs + 3 * c + r;
                BN_RUN(avx, bn_unit_grad_sums, (g + off, x + off, &relu,
                                                gmasked ? gmasked + off : NULL, n1 - n0, L, HW,
                                                mean[c], &part[2 * u], &part[2 * u + 1]));
            }
        }
#pragma omp single
        {
            for (fc_int c = 0; c < C; c++) {
                double sg = 0.0, sgx = 0.0;
                for (fc_int k = 0; k < sp.nk; k++) {
                    sg += part[2 * (c * sp.nk + k)];
                    sgx += part[2 * (c * sp.nk + k) + 1];
                }
                double gg = sgx * invstd[c], a = gamma[c] * invstd[c];
                grad_beta[c] = sg;
                grad_gamma[c] = gg;
                coef[4 * c] = a;
                coef[4 * c + 1] = mean[c];
                coef[4 * c + 2] = training ? -a * invstd[c] * gg / M : 0.0;
                coef[4 * c + 3] = training ? -a * sg / M : 0.0;
            }
            if (gx && sp.row_mode)   /* rows[1] (the mean) is in place already */
                for (int r = 0; r < 4; r++)
                    if (r != 1)
                        BN_P3(bn, expand, SUFFIX)(rows[r], coef + r, 4, C, HW);
        }
        /* with gmasked, the second pass reads the gradient the first one masked */
        const T *g2 = gmasked ? gmasked : g;
        const BN_RELU no_relu = {NULL, {NULL, NULL, NULL}};
        if (gx && sp.row_mode) {
            const fc_int nb = (L + FC_BN_COL_BLOCK - 1) / FC_BN_COL_BLOCK;
#pragma omp for schedule(static) nowait
            for (fc_int i = 0; i < sp.nk * nb; i++) {
                fc_int n0, n1, j0, j1;
                bn_block_of(&sp, N, L, nb, i, &n0, &n1, &j0, &j1);
                BN_RELU relu = gmasked ? no_relu : row_relu; /* y from the run's first image */
                if (relu.y)
                    relu.y += n0 * L;
                BN_RUN(avx, bn_block_grad, (g2 + n0 * L, x + n0 * L, &relu, gx + n0 * L, n1 - n0,
                                            L, j0, j1, rows[0], rows[1], rows[2], rows[3],
                                            !training));
            }
        } else if (gx) {
#pragma omp for schedule(static) nowait
            for (fc_int p = 0; p < N * C; p++) {
                const double *k = coef + 4 * (p % C);
                BN_RELU relu = {NULL, {NULL, NULL, NULL}};
                if (!gmasked) {
                    relu.y = y ? y + p * HW : NULL;
                    if (xmask)
                        for (int r = 0; r < 3; r++) relu.xm[r] = cs + 3 * (p % C) + r;
                }
                BN_RUN(avx, bn_plane_grad, (g2 + p * HW, x + p * HW, &relu, 0, gx + p * HW, HW,
                                            (T)k[0], (T)k[1], (T)k[2], (T)k[3], !training));
            }
        }
    }
    free(part);
    free(coef);
    return 0;
}

#undef BN_RUN
#undef BN_PUBLIC
#undef BN_P3
#undef BN_P3_
