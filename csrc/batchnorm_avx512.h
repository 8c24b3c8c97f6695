/* The AVX-512 twins (float) of batchnorm_impl.h's streaming kernels, included at the
 * end of it in the build that defines FC_BN_AVX512 (T float, FC_BN_ATTR an AVX-512
 * target); that file's generic versions of these eight are left out of that build.
 *
 * Why by hand: the generic loops, compiled for this target, carry a run-time alias
 * check (y may be x), a scalar peel to an aligned address and a scalar tail per
 * call; on an 8x8 plane (64 elements) those cost more than the arithmetic. Here a
 * plane is whole 16-float vectors and one masked one. The masked-off lanes load
 * zeros and contribute nothing a sum could see (a masked multiply-add keeps the
 * accumulator), so every value is what the generic kernels give:
 *   - reductions keep FC_BN_LANES (16) double lanes, lane = element index % 16 within
 *     its plane (or block), summed in the same order: the same bits;
 *   - elementwise results use the generic expressions' contraction, (x - m) * s + b as
 *     one multiply-add and a * g + ((x - m) * d + e) as two.
 */
#if FC_BN_LANES != 16
#error "batchnorm_avx512.h keeps 16 lanes: two vectors of 8 doubles"
#endif

/* Lanes [0, min(n, 16)) of a 16-lane vector (n >= 0): the vector at i of a run of n
 * elements is bn_tail(n - i). */
FC_BN_ATTR static inline __mmask16 NAME(bn_tail)(fc_int n)
{
    return n >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << n) - 1u);
}

/* The 16 lanes as two vectors of double: lanes 0-7, 8-15. */
#define BN_LO(v) _mm512_cvtps_pd(_mm512_castps512_ps256(v))
#define BN_HI(v) _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)))

/* Sum of the 16 double lanes held in (lo, hi), in bn_lanes_sum's order. */
FC_BN_ATTR static inline double NAME(bn_vec_sum)(__m512d lo, __m512d hi)
{
    double a[16];
    _mm512_storeu_pd(a, lo);
    _mm512_storeu_pd(a + 8, hi);
    return NAME(bn_lanes_sum)(a);
}

FC_BN_ATTR static void NAME(bn_unit_moments)(const T *x, fc_int nplanes, fc_int stride,
                                             fc_int HW, double *mean_out, double *m2_out)
{
    const fc_int full = HW & ~(fc_int)15;
    const __mmask16 kt = NAME(bn_tail)(HW - full);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (fc_int n = 0; n < nplanes; n++) {
        const T *p = x + n * stride;
        const T *next = n + 1 < nplanes ? p + stride : NULL;   /* see bn_prefetch_next */
        for (fc_int i = 0; i < full; i += 16) {
            NAME(bn_prefetch_next)(next, i);
            const __m512 v = _mm512_loadu_ps(p + i);
            lo = _mm512_add_pd(lo, BN_LO(v));
            hi = _mm512_add_pd(hi, BN_HI(v));
        }
        if (kt) {
            const __m512 v = _mm512_maskz_loadu_ps(kt, p + full);
            lo = _mm512_add_pd(lo, BN_LO(v));
            hi = _mm512_add_pd(hi, BN_HI(v));
        }
    }
    const double mean = NAME(bn_vec_sum)(lo, hi) / (double)(nplanes * HW);
    const __m512d mv = _mm512_set1_pd(mean);
    const __mmask8 klo = (__mmask8)(kt & 0xff), khi = (__mmask8)(kt >> 8);
    lo = _mm512_setzero_pd();
    hi = _mm512_setzero_pd();
    for (fc_int n = 0; n < nplanes; n++) {
        const T *p = x + n * stride;
        for (fc_int i = 0; i < full; i += 16) {
            const __m512 v = _mm512_loadu_ps(p + i);
            const __m512d dl = _mm512_sub_pd(BN_LO(v), mv), dh = _mm512_sub_pd(BN_HI(v), mv);
            lo = _mm512_fmadd_pd(dl, dl, lo);
            hi = _mm512_fmadd_pd(dh, dh, hi);
        }
        if (kt) {
            const __m512 v = _mm512_maskz_loadu_ps(kt, p + full);
            const __m512d dl = _mm512_sub_pd(BN_LO(v), mv), dh = _mm512_sub_pd(BN_HI(v), mv);
            lo = _mm512_mask3_fmadd_pd(dl, dl, lo, klo);
            hi = _mm512_mask3_fmadd_pd(dh, dh, hi, khi);
        }
    }
    *mean_out = mean;
    *m2_out = NAME(bn_vec_sum)(lo, hi);
}

/* relu?(fma(x - m, s, b) [+ r]) of one vector. */
FC_BN_ATTR static inline __m512 NAME(bn_apply_vec)(__m512 x, __m512 m, __m512 s, __m512 b,
                                                   int relu, const T *r, __mmask16 k)
{
    __m512 v = _mm512_fmadd_ps(_mm512_sub_ps(x, m), s, b);
    if (r)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(k, r));
    return relu ? _mm512_max_ps(v, _mm512_setzero_ps()) : v;
}

FC_BN_ATTR static void NAME(bn_plane_apply)(const T *x, T *y, fc_int HW, T m, T s, T b, int relu,
                                            const T *r)
{
    const __m512 mv = _mm512_set1_ps(m), sv = _mm512_set1_ps(s), bv = _mm512_set1_ps(b);
    fc_int i = 0;
    for (; i + 16 <= HW; i += 16)
        _mm512_storeu_ps(y + i, NAME(bn_apply_vec)(_mm512_loadu_ps(x + i), mv, sv, bv, relu,
                                                   r ? r + i : NULL, 0xffff));
    if (i < HW) {
        const __mmask16 k = NAME(bn_tail)(HW - i);
        _mm512_mask_storeu_ps(y + i, k, NAME(bn_apply_vec)(_mm512_maskz_loadu_ps(k, x + i), mv,
                                                           sv, bv, relu, r ? r + i : NULL, k));
    }
}

FC_BN_ATTR static void NAME(bn_row_apply)(const T *x, T *y, fc_int L, const T *m, const T *s,
                                          const T *b, int relu, const T *r)
{
    fc_int i = 0;
    for (; i + 16 <= L; i += 16)
        _mm512_storeu_ps(y + i, NAME(bn_apply_vec)(_mm512_loadu_ps(x + i), _mm512_loadu_ps(m + i),
                                                   _mm512_loadu_ps(s + i), _mm512_loadu_ps(b + i),
                                                   relu, r ? r + i : NULL, 0xffff));
    if (i < L) {
        const __mmask16 k = NAME(bn_tail)(L - i);
        _mm512_mask_storeu_ps(
            y + i, k,
            NAME(bn_apply_vec)(_mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, m + i),
                               _mm512_maskz_loadu_ps(k, s + i), _mm512_maskz_loadu_ps(k, b + i),
                               relu, r ? r + i : NULL, k));
    }
}

/* g masked by the fused ReLU for one vector (lanes in k): y > 0, or the forward's
 * pre-activation fma(x - m, s, b) > 0 recomputed (bn_affine's contraction). */
FC_BN_ATTR static inline __m512 NAME(bn_mask_vec)(__m512 g, __m512 x, const T *y, __m512 m,
                                                  __m512 s, __m512 b, int xmask, __mmask16 k)
{
    __m512 v;
    if (y)
        v = _mm512_maskz_loadu_ps(k, y);
    else if (xmask)
        v = _mm512_fmadd_ps(_mm512_sub_ps(x, m), s, b);
    else
        return g;
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), g);
}

FC_BN_ATTR static void NAME(bn_unit_grad_sums)(const T *g, const T *x, const BN_RELU *relu,
                                               T *gout, fc_int nplanes, fc_int stride, fc_int HW,
                                               double mean, double *sg_out, double *sgx_out)
{
    const int xmask = relu->y == NULL && relu->xm[0] != NULL;
    const __m512 mm = xmask ? _mm512_set1_ps(relu->xm[0][0]) : _mm512_setzero_ps();
    const __m512 ms = xmask ? _mm512_set1_ps(relu->xm[1][0]) : _mm512_setzero_ps();
    const __m512 mb = xmask ? _mm512_set1_ps(relu->xm[2][0]) : _mm512_setzero_ps();
    const __m512d mv = _mm512_set1_pd(mean);
    __m512d sgl = _mm512_setzero_pd(), sgh = _mm512_setzero_pd();
    __m512d sxl = _mm512_setzero_pd(), sxh = _mm512_setzero_pd();
    for (fc_int n = 0; n < nplanes; n++) {
        const T *gp = g + n * stride, *xp = x + n * stride;
        const T *yp = relu->y ? relu->y + n * stride : NULL;
        const int ahead = n + 1 < nplanes;   /* see bn_prefetch_next */
        for (fc_int i = 0; i < HW; i += 16) {
            if (ahead) {
                NAME(bn_prefetch_next)(gp + stride, i);
                NAME(bn_prefetch_next)(xp + stride, i);
                NAME(bn_prefetch_next)(yp ? yp + stride : NULL, i);
            }
            const __mmask16 k = NAME(bn_tail)(HW - i);
            const __m512 xv = _mm512_maskz_loadu_ps(k, xp + i);
            const __m512 gv = NAME(bn_mask_vec)(_mm512_maskz_loadu_ps(k, gp + i), xv,
                                                yp ? yp + i : NULL, mm, ms, mb, xmask, k);
            if (gout)
                _mm512_mask_storeu_ps(gout + n * stride + i, k, gv);
            const __m512d gl = BN_LO(gv), gh = BN_HI(gv);
            sgl = _mm512_add_pd(sgl, gl);
            sgh = _mm512_add_pd(sgh, gh);
            /* masked-off lanes: g = 0 and x = 0, so 0 * (0 - mean) = -0 or +0 is added:
             * the accumulator is unchanged */
            sxl = _mm512_fmadd_pd(gl, _mm512_sub_pd(BN_LO(xv), mv), sxl);
            sxh = _mm512_fmadd_pd(gh, _mm512_sub_pd(BN_HI(xv), mv), sxh);
        }
    }
    *sg_out = NAME(bn_vec_sum)(sgl, sgh);
    *sgx_out = NAME(bn_vec_sum)(sxl, sxh);
}

/* gx = a * g' + ((x - m) * d + e) (affine_only: a * g') for one vector. */
FC_BN_ATTR static inline __m512 NAME(bn_grad_vec)(__m512 g, __m512 x, __m512 a, __m512 m,
                                                  __m512 d, __m512 e, int affine_only)
{
    if (affine_only)
        return _mm512_mul_ps(a, g);
    return _mm512_fmadd_ps(a, g, _mm512_fmadd_ps(_mm512_sub_ps(x, m), d, e));
}

FC_BN_ATTR static void NAME(bn_plane_grad)(const T *g, const T *x, const BN_RELU *relu,
                                           fc_int off, T *gx, fc_int HW, T a, T m, T d, T e,
                                           int affine_only)
{
    const int xmask = relu->y == NULL && relu->xm[0] != NULL;
    const __m512 mm = xmask ? _mm512_set1_ps(relu->xm[0][0]) : _mm512_setzero_ps();
    const __m512 ms = xmask ? _mm512_set1_ps(relu->xm[1][0]) : _mm512_setzero_ps();
    const __m512 mb = xmask ? _mm512_set1_ps(relu->xm[2][0]) : _mm512_setzero_ps();
    const __m512 av = _mm512_set1_ps(a), mv = _mm512_set1_ps(m);
    const __m512 dv = _mm512_set1_ps(d), ev = _mm512_set1_ps(e);
    const T *y = relu->y ? relu->y + off : NULL;
    for (fc_int i = 0; i < HW; i += 16) {
        const __mmask16 k = NAME(bn_tail)(HW - i);
        const __m512 xv = _mm512_maskz_loadu_ps(k, x + i);
        const __m512 gv = NAME(bn_mask_vec)(_mm512_maskz_loadu_ps(k, g + i), xv,
                                            y ? y + i : NULL, mm, ms, mb, xmask, k);
        _mm512_mask_storeu_ps(gx + i, k, NAME(bn_grad_vec)(gv, xv, av, mv, dv, ev, affine_only));
    }
}

FC_BN_ATTR static void NAME(bn_row_grad)(const T *g, const T *x, const BN_RELU *relu,
                                         fc_int off, T *gx, fc_int L, const T *a, const T *m,
                                         const T *d, const T *e, int affine_only)
{
    /* coefficient rows are one image long (offset 0), y is offset by the image */
    const T *y = relu->y ? relu->y + off : NULL;
    const T *rm = relu->xm[0], *rs = relu->xm[1], *rb = relu->xm[2];
    const int xmask = y == NULL && rm != NULL;
    const __m512 z = _mm512_setzero_ps();
    for (fc_int i = 0; i < L; i += 16) {
        const __mmask16 k = NAME(bn_tail)(L - i);
        const __m512 xv = _mm512_maskz_loadu_ps(k, x + i);
        const __m512 gv = NAME(bn_mask_vec)(
            _mm512_maskz_loadu_ps(k, g + i), xv, y ? y + i : NULL,
            xmask ? _mm512_maskz_loadu_ps(k, rm + i) : z, xmask ? _mm512_maskz_loadu_ps(k, rs + i) : z,
            xmask ? _mm512_maskz_loadu_ps(k, rb + i) : z, xmask, k);
        const __m512 r = NAME(bn_grad_vec)(
            gv, xv, _mm512_maskz_loadu_ps(k, a + i), _mm512_maskz_loadu_ps(k, m + i),
            affine_only ? z : _mm512_maskz_loadu_ps(k, d + i),
            affine_only ? z : _mm512_maskz_loadu_ps(k, e + i), affine_only);
        _mm512_mask_storeu_ps(gx + i, k, r);
    }
}


/* ---- Column mode of the reductions (planes under FC_BN_ROW_HW elements) ----
 * The generic kernels add each image into per-column sums kept in memory, and mask the
 * gradient through a buffer: a load and a store of the sums per element, and the masked
 * values written and read back. Here BN_COLS_IMGS images go into the sums of a
 * 16-column vector (as two vectors of double) between its load and its store, each
 * column's additions still image by image, and the mask stays in registers (bn_mask_vec,
 * the plane kernels' own); each image's columns are read as one contiguous run, which
 * the hardware prefetches. MobileNet's batch norm on 64 x 256 x 4x4 (1 MB) went
 * 0.105 -> 0.062 ms forward and 0.185 -> 0.092 ms backward, in cache, 2 threads (the row
 * passes by column blocks, batchnorm_drivers.h, count in both). */

/* Images a column sum takes between its loads from and stores to memory. */
#define BN_COLS_IMGS 4

/* bn_cols_moments of batchnorm_impl.h: same contract, each column's sums image by image. */
FC_BN_ATTR static void NAME(bn_cols_moments)(const T *x, fc_int N, fc_int L, fc_int HW,
                                             fc_int nc, double *part, fc_int ps)
{
    double acc[FC_BN_COLS], mrow[FC_BN_COLS];
    const fc_int w = nc * HW, wr = (w + 15) & ~(fc_int)15;
    for (int pass = 0; pass < 2; pass++) {
        for (fc_int j = 0; j < wr; j++) acc[j] = 0.0;
        for (fc_int n0 = 0; n0 < N; n0 += BN_COLS_IMGS) {
            const fc_int nn = N - n0 < BN_COLS_IMGS ? N - n0 : BN_COLS_IMGS;
            const T *p = x + n0 * L;
            for (fc_int j = 0; j < w; j += 16) {
                const __mmask16 k = NAME(bn_tail)(w - j);
                __m512d lo = _mm512_loadu_pd(acc + j), hi = _mm512_loadu_pd(acc + j + 8);
                const __m512d ml = pass ? _mm512_loadu_pd(mrow + j) : _mm512_setzero_pd();
                const __m512d mh = pass ? _mm512_loadu_pd(mrow + j + 8) : _mm512_setzero_pd();
                for (fc_int t = 0; t < nn; t++) {
                    const __m512 v = _mm512_maskz_loadu_ps(k, p + t * L + j);
                    if (!pass) {
                        lo = _mm512_add_pd(lo, BN_LO(v));
                        hi = _mm512_add_pd(hi, BN_HI(v));
                    } else {
                        const __m512d dl = _mm512_sub_pd(BN_LO(v), ml);
                        const __m512d dh = _mm512_sub_pd(BN_HI(v), mh);
                        lo = _mm512_fmadd_pd(dl, dl, lo);
                        hi = _mm512_fmadd_pd(dh, dh, hi);
                    }
                }
                _mm512_storeu_pd(acc + j, lo);
                _mm512_storeu_pd(acc + j + 8, hi);
            }
        }
        NAME(bn_cols_totals)(acc, nc, HW, part + pass, ps);
        if (!pass) {
            for (fc_int c = 0; c < nc; c++) {
                const double mean = part[c * ps] / (double)(N * HW);
                part[c * ps] = mean;
                for (fc_int i = 0; i < HW; i++) mrow[c * HW + i] = mean;
            }
            for (fc_int j = w; j < wr; j++) mrow[j] = 0.0;
        }
    }
}

/* bn_cols_grad_sums of batchnorm_impl.h: same contract, g' masked as bn_mask_vec does. */
FC_BN_ATTR static void NAME(bn_cols_grad_sums)(const T *g, const T *x, const BN_RELU *relu,
                                               T *gout, fc_int c0, fc_int N, fc_int L, fc_int HW,
                                               fc_int nc, const double *mean, double *part,
                                               fc_int ps)
{
    double sg[FC_BN_COLS], sgx[FC_BN_COLS], mrow[FC_BN_COLS];
    const fc_int w = nc * HW, wr = (w + 15) & ~(fc_int)15, o = c0 * HW;
    const T *y = relu->y ? relu->y + o : NULL;
    const T *rm = relu->xm[0], *rs = relu->xm[1], *rb = relu->xm[2];
    const int xmask = y == NULL && rm != NULL;
    const __m512 z = _mm512_setzero_ps();
    for (fc_int c = 0; c < nc; c++)
        for (fc_int i = 0; i < HW; i++) mrow[c * HW + i] = mean[c];
    for (fc_int j = w; j < wr; j++) mrow[j] = 0.0;
    for (fc_int j = 0; j < wr; j++) sg[j] = sgx[j] = 0.0;
    for (fc_int n0 = 0; n0 < N; n0 += BN_COLS_IMGS) {
        const fc_int nn = N - n0 < BN_COLS_IMGS ? N - n0 : BN_COLS_IMGS;
        for (fc_int j = 0; j < w; j += 16) {
            const __mmask16 k = NAME(bn_tail)(w - j);
            const __m512 mm = xmask ? _mm512_maskz_loadu_ps(k, rm + o + j) : z;
            const __m512 ms = xmask ? _mm512_maskz_loadu_ps(k, rs + o + j) : z;
            const __m512 mb = xmask ? _mm512_maskz_loadu_ps(k, rb + o + j) : z;
            const __m512d ml = _mm512_loadu_pd(mrow + j), mh = _mm512_loadu_pd(mrow + j + 8);
            __m512d gl_acc = _mm512_loadu_pd(sg + j), gh_acc = _mm512_loadu_pd(sg + j + 8);
            __m512d xl_acc = _mm512_loadu_pd(sgx + j), xh_acc = _mm512_loadu_pd(sgx + j + 8);
            for (fc_int t = 0; t < nn; t++) {
                const fc_int at = (n0 + t) * L + j;
                const __m512 xv = _mm512_maskz_loadu_ps(k, x + at);
                const __m512 gv = NAME(bn_mask_vec)(_mm512_maskz_loadu_ps(k, g + at), xv,
                                                    y ? y + at : NULL, mm, ms, mb, xmask, k);
                if (gout)
                    _mm512_mask_storeu_ps(gout + at, k, gv);
                /* masked-off columns: g = x = mean = 0, so 0 is added */
                const __m512d gl = BN_LO(gv), gh = BN_HI(gv);
                gl_acc = _mm512_add_pd(gl_acc, gl);
                gh_acc = _mm512_add_pd(gh_acc, gh);
                xl_acc = _mm512_fmadd_pd(gl, _mm512_sub_pd(BN_LO(xv), ml), xl_acc);
                xh_acc = _mm512_fmadd_pd(gh, _mm512_sub_pd(BN_HI(xv), mh), xh_acc);
            }
            _mm512_storeu_pd(sg + j, gl_acc);
            _mm512_storeu_pd(sg + j + 8, gh_acc);
            _mm512_storeu_pd(sgx + j, xl_acc);
            _mm512_storeu_pd(sgx + j + 8, xh_acc);
        }
    }
    NAME(bn_cols_totals)(sg, nc, HW, part, ps);
    NAME(bn_cols_totals)(sgx, nc, HW, part + 1, ps);
}
#undef BN_COLS_IMGS

#undef BN_LO
#undef BN_HI
