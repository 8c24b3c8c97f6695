/*
 * conv_winograd_avx512.h -- vector helpers the AVX-512 (float) Winograd output
 * transforms share (conv_winograd_avx512.c, conv_winograd_s2_avx512.c);
 * included where immintrin.h and FC_W_AVX512 are defined.
 */
#ifndef FC_CONV_WINOGRAD_AVX512_H
#define FC_CONV_WINOGRAD_AVX512_H

/* Whether every element of the images of tile rows [gr0, gr0 + nrows) (planes planes
 * of HW elements, from image gr0 / th on) lies within a 32-bit index of the first
 * image's start: the gathers and scatters of the AVX-512 transforms index them so
 * (else the caller falls back to the portable transform). */
static inline int fc_wino_reach32(fc_int gr0, fc_int nrows, fc_int th, fc_int planes, fc_int HW)
{
    return ((gr0 + nrows - 1) / th - gr0 / th + 1) * planes * HW + HW < (fc_int)1 << 30;
}

/* "v > 0 ? v : 0" on a vector (NaN and -0 go to +0, as the scalar expression). */
static inline __attribute__((always_inline)) FC_W_AVX512 __m512 fc_relu_avx512_f32(__m512 v)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
}

/* The 16 outputs v into the lanes m of y (+ the residual there, res; ReLU), as every
 * masked output row of the transforms is written. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_put16_masked_f32(float *y, const float *res, __mmask16 m, int relu, __m512 v)
{
    if (res)
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, res));
    if (relu)
        v = fc_relu_avx512_f32(v);
    _mm512_mask_storeu_ps(y, m, v);
}

/* The same for 8 outputs (rows of 8 pixels or fewer). */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_put8_masked_f32(float *y, const float *res, __mmask8 m, int relu, __m256 v)
{
    if (res)
        v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(m, res));
    if (relu) /* "v > 0 ? v : 0": NaN and -0 to +0 */
        v = _mm256_maskz_mov_ps(_mm256_cmp_ps_mask(v, _mm256_setzero_ps(), _CMP_GT_OQ), v);
    _mm256_mask_storeu_ps(y, m, v);
}

/* Row i of a panel's 16 tiles, the lanes of o[0..3] (o[j]: column j of each tile), as
 * four runs of 16 consecutive output pixels (tiles 4q .. 4q + 3 of the panel, one tile
 * row): a 4 x 4 transpose inside each 128-bit lane, then one of the 128-bit lanes.
 * v[q] = (tile 4q: j = 0..3, tile 4q + 1: j = 0..3, ...). */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_rows16_f32(const __m512 o[4], __m512 v[4])
{
    const __m512 a0 = _mm512_unpacklo_ps(o[0], o[1]), a1 = _mm512_unpackhi_ps(o[0], o[1]);
    const __m512 a2 = _mm512_unpacklo_ps(o[2], o[3]), a3 = _mm512_unpackhi_ps(o[2], o[3]);
    /* t[r], 128-bit lane q: tile 4q + r's four columns */
    const __m512 t0 = _mm512_shuffle_ps(a0, a2, 0x44), t1 = _mm512_shuffle_ps(a0, a2, 0xEE);
    const __m512 t2 = _mm512_shuffle_ps(a1, a3, 0x44), t3 = _mm512_shuffle_ps(a1, a3, 0xEE);
    const __m512 u0 = _mm512_shuffle_f32x4(t0, t1, 0x44), u1 = _mm512_shuffle_f32x4(t2, t3, 0x44);
    const __m512 u2 = _mm512_shuffle_f32x4(t0, t1, 0xEE), u3 = _mm512_shuffle_f32x4(t2, t3, 0xEE);
    v[0] = _mm512_shuffle_f32x4(u0, u1, 0x88);
    v[1] = _mm512_shuffle_f32x4(u0, u1, 0xDD);
    v[2] = _mm512_shuffle_f32x4(u2, u3, 0x88);
    v[3] = _mm512_shuffle_f32x4(u2, u3, 0xDD);
}

/* The first output pixel of each run of four 4x4 tiles of a whole panel (tiles t0 + 4q
 * .., tile rows a multiple of four tiles), from image img0 = gr0 / th, K planes of Ho x Wo
 * an image. */
static inline __attribute__((always_inline)) void
fc_wino_runs_origin(const fc_conv_plan *pl, fc_int gr0, fc_int t0, fc_int K, fc_int Ho,
                    fc_int Wo, fc_int at[4])
{
    const fc_int th = pl->wino_th, tw = pl->wino_tw, img0 = gr0 / th;
    for (int q = 0; q < 4; ++q) {
        const fc_int tau = t0 + 4 * q, lr = tau / tw, tj = tau - lr * tw;
        const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
        at[q] = (img - img0) * K * Ho * Wo + 4 * ti * Wo + 4 * tj;
    }
}

/* Row i of a panel's 16 tiles (o[j]: column j of each tile, bias added) stored as the
 * four runs' 16-pixel rows at yb + at[q] + a0, + the residual there (rb), ReLU. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_put_rows16_f32(const __m512 o[4], const fc_int at[4], fc_int a0, const float *rb,
                        int relu, float *yb)
{
    __m512 v[4];
    fc_wino4_rows16_f32(o, v);
    for (int q = 0; q < 4; ++q) {
        const fc_int a = at[q] + a0;
        __m512 w = v[q];
        if (rb)
            w = _mm512_add_ps(w, _mm512_loadu_ps(rb + a));
        if (relu)
            w = fc_relu_avx512_f32(w);
        _mm512_storeu_ps(yb + a, w);
    }
}

/* An n x n window of every tile of a panel, one masked gather a pixel (lane l's pixel
 * (a, b) at src + idx[l] + a*W + b where row a and column b of its window are in the
 * map), into win[a*n + b]. */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino_gather_window_f32(__m512 *win, int n, const unsigned *rowok, const unsigned *colok,
                          __m512i idx, const float *src, fc_int W)
{
    for (int a = 0; a < n; ++a)
        for (int b = 0; b < n; ++b)
            win[a * n + b] = _mm512_mask_i32gather_ps(
                _mm512_setzero_ps(), (__mmask16)(rowok[a] & colok[b]), idx, src + a * W + b, 4);
}

/* 6x6 windows of a panel of 16 whole tiles in runs of four along tile rows (tile
 * rows a multiple of four tiles), tile (ti, tj)'s window at row 4ti + dr and column
 * 4tj + dc of its image: each run's six rows are two masked vector loads (columns
 * c0 .. c0 + 15 and c0 + 2 .. c0 + 17, those outside the W-wide map masked off), and
 * each (a, b) vector is two lane permutes and a blend of the four runs' loads, in
 * place of 36 gathers. fc_wino_runs6 sets up the panel's runs (offsets from image
 * img0 = gr0 / th, planes x H x W apart); fc_wino_runs6_window reads one plane. */
typedef struct fc_wino_runs6 {
    fc_int off[4][6];   /* run q's row a, column c0 */
    __mmask16 m0[4], m1[4];
    unsigned rowin[4];  /* run q's rows in the map */
    __m512i pick[4];    /* lanes 4h + r: element 4r + b of source h & 1 */
} fc_wino_runs6;

static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino_runs6_setup(fc_wino_runs6 *rw, const fc_conv_plan *pl, fc_int gr0, fc_int t0,
                    fc_int planes, fc_int H, fc_int W, fc_int dr, fc_int dc)
{
    const fc_int th = pl->wino_th, tw = pl->wino_tw, img0 = gr0 / th;
    for (int b = 0; b < 4; ++b) {
        int32_t ix[16];
        for (int l = 0; l < 16; ++l)
            ix[l] = 4 * (l & 3) + b + 16 * ((l >> 2) & 1);
        rw->pick[b] = _mm512_loadu_si512((const void *)ix);
    }
    for (int q = 0; q < 4; ++q) {
        const fc_int tau = t0 + 4 * q, lr = tau / tw, tj = tau - lr * tw;
        const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
        const fc_int r0 = 4 * ti + dr, c0 = 4 * tj + dc;
        unsigned k0 = 0, k1 = 0;
        for (int e = 0; e < 16; ++e) {
            k0 |= (unsigned)(c0 + e >= 0 && c0 + e < W) << e;
            k1 |= (unsigned)(c0 + 2 + e >= 0 && c0 + 2 + e < W) << e;
        }
        rw->m0[q] = (__mmask16)k0;
        rw->m1[q] = (__mmask16)k1;
        rw->rowin[q] = 0;
        for (int a = 0; a < 6; ++a) {
            rw->off[q][a] = (img - img0) * planes * H * W + (r0 + a) * W + c0;
            rw->rowin[q] |= (unsigned)(r0 + a >= 0 && r0 + a < H) << a;
        }
    }
}

static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino_runs6_window(const fc_wino_runs6 *rw, const float *src, __m512 win[6][6])
{
    for (int a = 0; a < 6; ++a) {
        __m512 l0[4], l1[4];
        for (int q = 0; q < 4; ++q) {
            const int ok = (rw->rowin[q] >> a) & 1;
            l0[q] = ok ? _mm512_maskz_loadu_ps(rw->m0[q], src + rw->off[q][a])
                       : _mm512_setzero_ps();
            l1[q] = ok ? _mm512_maskz_loadu_ps(rw->m1[q], src + rw->off[q][a] + 2)
                       : _mm512_setzero_ps();
        }
        for (int b = 0; b < 6; ++b) {
            const __m512 *l = b < 4 ? l0 : l1;
            const __m512i pk = rw->pick[b < 4 ? b : b - 2];
            win[a][b] = _mm512_mask_blend_ps((__mmask16)0xff00,
                                             _mm512_permutex2var_ps(l[0], pk, l[1]),
                                             _mm512_permutex2var_ps(l[2], pk, l[3]));
        }
    }
}

#endif /* FC_CONV_WINOGRAD_AVX512_H */
