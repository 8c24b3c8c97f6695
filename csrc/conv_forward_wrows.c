/*
 * conv_forward_wrows.c -- Winograd F(2, 3) along output rows (conv_wrows.h), on the
 * AVX-512 path: the weight transform (plain C), the input transform (8 tiles a
 * step), the kernel (a vector of 16 tiles of a row, up to 6 filters: 24
 * accumulators) and the driver that walks a call's rows in blocks.
 *
 * Kernel contract: for filters [k0, k0 + nf) and one output row, M_t (t = 0..3)
 * start at zero and take, in the order c = 0..C-1, kh = 0..2, one fused
 * multiply-add G_t[k, c, kh] * U_t[c, row + kh]; then y[2j] = (M0 + M1) + M2,
 * y[2j + 1] = (M1 - M2) - M3, + bias[k] (if any), max(., 0) (if relu), each
 * pixel of [lo, hi) of the row stored.
 */
#include "conv_internal.h"
#include "conv_wrows.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

/* Tiles per U row: a whole number of vectors. */
static fc_int wrows_tw(const fc_conv_geom *g)
{
    return fc_roundup((g->Wo + 1) / 2, 16);
}

/* Output rows a block: its U (C * (rows + 2) rows of 4 * tw floats) within about 24 KB
 * (L1), at least two. */
static fc_int wrows_block_rows(const fc_conv_geom *g)
{
    const fc_int per_row = g->C * 4 * wrows_tw(g) * (fc_int)sizeof(float);
    return FC_MAX(2, FC_MIN(FC_WROWS_ROWS, 24576 / per_row - 2));
}

int fc_wrows_ok(const fc_conv_geom *g, int op, size_t elem, fc_int k, fc_int kcb)
{
    /* Rows of 17-32 pixels (one vector of tiles, at least half full) or of more tiles
     * whose last vector is nearly full: where it is not, the idle lanes cost more than
     * the products saved (3 channels, batch 64 or 32, 2 threads, against the direct
     * kernels: 17-30-pixel rows 1.14-1.46x, 64 1.33x, 128 1.24-1.32x, 224 1.44x; 38
     * 0.94x, 42 1.06x, 48 0.99x). At least 4 filters share each transformed input row
     * (3 channels on 32x32, batch 64: 4 filters 1.12x, 6 1.18x, 8 1.23x, 12 1.26x, 16
     * 1.28x, 32 1.47x). The input gradient of a stride-1 layer is the forward pass of
     * the transposed layer, its weights flipped into the same A panels (backward, input
     * and weight gradients, 12 -> 12 channels on 32x32 1.13x, 16 -> 8 1.16x, 8 -> 16
     * 1.07x). */
    const fc_int tiles = (g->Wo + 1) / 2;
    const int lanes = tiles <= 16 || 100 * tiles >= 85 * fc_roundup(tiles, 16);
    return (op == 0 || op == 1) && elem == sizeof(float) && fc_winograd_enabled() && g->R == 3 &&
           g->S == 3 && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 && g->dil_w == 1 &&
           k <= kcb &&
           g->K >= 4 && g->C >= 1 && g->Ho >= 1 && g->Wo > FC_WROWS_MIN_WO &&
           g->Wo <= FC_WROWS_MAX_WO && lanes;
}

static size_t wrows_weight_floats(const fc_conv_geom *g)
{
    return (size_t)fc_roundup(g->K * 12 * g->C, 16);
}

size_t fc_wrows_bytes(const fc_conv_geom *g)
{
    return fc_align_up((wrows_weight_floats(g) +
                        (size_t)(g->C * (wrows_block_rows(g) + 2) * 4 * wrows_tw(g))) *
                       sizeof(float));
}

/* Filters a kernel call at most: 4 x 6 accumulators. */
#define WR_NF 6

/* n filters in groups of at most WR_NF, as even as can be: group q's size. */
static int wrows_group(fc_int n, fc_int q)
{
    const fc_int ng = (n + WR_NF - 1) / WR_NF;
    return (int)(n / ng + (q < n % ng));
}

/* G_t of filters [i0, i1) from the A panels (filter kk's tap p at
 * ap[(kk - kk % MR) * k + p * MR + kk % MR]), group by group: a group of nf
 * filters from k0 at wt + (k0 - i0) * 12C, element ((c * 3 + kh) * 4 + t) * nf + f. */
static void wrows_pack(const fc_conv_geom *g, const float *ap, fc_int i0, fc_int i1, float *wt)
{
    const fc_int C = g->C, k = 9 * C, n = i1 - i0;
    fc_int k0 = i0;
    for (fc_int q = 0; k0 < i1; ++q) {
        const int nf = wrows_group(n, q);
        float *wg = wt + (k0 - i0) * 12 * C;
        for (int f = 0; f < nf; ++f) {
            const fc_int kk = k0 + f;
            const float *a = ap + (kk - kk % FC_MR_F32) * k + kk % FC_MR_F32;
            for (fc_int c = 0; c < C; ++c)
                for (int kh = 0; kh < 3; ++kh) {
                    const fc_int p = c * 9 + kh * 3;
                    const float g0 = a[p * FC_MR_F32], g1 = a[(p + 1) * FC_MR_F32],
                                g2 = a[(p + 2) * FC_MR_F32];
                    float *o = wg + (c * 3 + kh) * 4 * nf + f;
                    o[0] = g0;
                    o[nf] = (g0 + g1 + g2) * 0.5f;
                    o[2 * nf] = (g0 - g1 + g2) * 0.5f;
                    o[3 * nf] = g2;
                }
        }
        k0 += nf;
    }
}

#define WR_AVX512 __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))

/* Pixels q .. q + 7 of a row of n (those past n read as zero, never touched). */
static inline __attribute__((always_inline)) WR_AVX512 __m256
wrows_load8(const float *s, fc_int q, fc_int n)
{
    const fc_int left = FC_MAX(FC_MIN(n - q, 8), 0);
    return _mm256_maskz_loadu_ps((__mmask8)((1u << left) - 1u), s + q);
}

/* The even and the odd lanes of a (low half) then b. */
static inline __attribute__((always_inline)) WR_AVX512 __m256 wrows_even(__m256 a, __m256 b)
{
    const __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

static inline __attribute__((always_inline)) WR_AVX512 __m256 wrows_odd(__m256 a, __m256 b)
{
    const __m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* U of input rows [r0, r0 + nr) (output-row numbering: row r feeds output rows
 * r - 2 .. r) of every channel: u + (c * nr + r - r0) * 4 * tw + t * tw + j, eight
 * tiles a step: d0..d3 of tile j are the even and odd pixels from 2j and from
 * 2j + 2. A row's pixels past Wo + 1 read as zero (only lanes whose outputs are
 * dropped see them). */
static inline __attribute__((always_inline)) WR_AVX512 void
wrows_transform_tw(const fc_conv_geom *g, const fc_int tw, fc_int wrow, const float *xr,
                   const fc_int *offs, fc_int r0, fc_int nr, float *u)
{
    const fc_int n = g->Wo + 2;
    for (fc_int c = 0; c < g->C; ++c)
        for (fc_int r = 0; r < nr; ++r) {
            const float *s = xr + (r0 + r) * wrow + offs[9 * c];
            float *o = u + (c * nr + r) * 4 * tw;
            for (fc_int h = 0; h < tw / 8; ++h) {
                const fc_int q = 16 * h;
                const __m256 a = wrows_load8(s, q, n), b = wrows_load8(s, q + 8, n);
                const __m256 a2 = wrows_load8(s, q + 2, n), b2 = wrows_load8(s, q + 10, n);
                const __m256 d0 = wrows_even(a, b), d1 = wrows_odd(a, b);
                const __m256 d2 = wrows_even(a2, b2), d3 = wrows_odd(a2, b2);
                _mm256_store_ps(o + 8 * h, _mm256_sub_ps(d0, d2));
                _mm256_store_ps(o + tw + 8 * h, _mm256_add_ps(d1, d2));
                _mm256_store_ps(o + 2 * tw + 8 * h, _mm256_sub_ps(d2, d1));
                _mm256_store_ps(o + 3 * tw + 8 * h, _mm256_sub_ps(d1, d3));
            }
        }
}

static WR_AVX512 void wrows_transform(const fc_conv_geom *g, fc_int wrow, const float *xr,
                                    const fc_int *offs, fc_int r0, fc_int nr, float *u)
{
    const fc_int tw = wrows_tw(g);
    if (tw == 16) /* the loop over a row's tiles unrolled */
        wrows_transform_tw(g, 16, wrow, xr, offs, r0, nr, u);
    else
        wrows_transform_tw(g, tw, wrow, xr, offs, r0, nr, u);
}

/* The contract above, 16 tiles (32 pixels from y) a vector; u at the vector's
 * tiles in the row's first U row (channel 0, kh 0), U rows 4 * tw apart, C
 * channels nr rows apart. */
static inline __attribute__((always_inline)) WR_AVX512 void
wrows_row512(const int NF, fc_int C, fc_int nr, fc_int tw, const float *u, const float *w,
             const float *bias, int relu, float *y, fc_int P, __mmask16 mlo, __mmask16 mhi)
{
    __m512 acc[24];
#pragma GCC unroll 24
    for (int i = 0; i < 4 * NF; ++i)
        acc[i] = _mm512_setzero_ps();
    for (fc_int c = 0; c < C; ++c)
        for (int kh = 0; kh < 3; ++kh) {
            const float *uc = u + (c * nr + kh) * 4 * tw;
            const float *wc = w + (c * 3 + kh) * 4 * NF;
#pragma GCC unroll 4
            for (int t = 0; t < 4; ++t) {
                const __m512 v = _mm512_load_ps(uc + t * tw);
#pragma GCC unroll 6
                for (int f = 0; f < NF; ++f)
                    acc[t * NF + f] =
                        _mm512_fmadd_ps(_mm512_set1_ps(wc[t * NF + f]), v, acc[t * NF + f]);
            }
        }
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi =
        _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
#pragma GCC unroll 6
    for (int f = 0; f < NF; ++f) {
        __m512 y0 = _mm512_add_ps(_mm512_add_ps(acc[f], acc[NF + f]), acc[2 * NF + f]);
        __m512 y1 = _mm512_sub_ps(_mm512_sub_ps(acc[NF + f], acc[2 * NF + f]), acc[3 * NF + f]);
        if (bias) {
            const __m512 b = _mm512_set1_ps(bias[f]);
            y0 = _mm512_add_ps(y0, b);
            y1 = _mm512_add_ps(y1, b);
        }
        if (relu) {
            y0 = _mm512_max_ps(y0, _mm512_setzero_ps());
            y1 = _mm512_max_ps(y1, _mm512_setzero_ps());
        }
        _mm512_mask_storeu_ps(y + f * P, mlo, _mm512_permutex2var_ps(y0, ilo, y1));
        _mm512_mask_storeu_ps(y + f * P + 16, mhi, _mm512_permutex2var_ps(y0, ihi, y1));
    }
}

/* Wider rows: each filter count its own function (inlined into the loop over
 * vectors, the 5-filter kernel lost accumulators to register moves). */
#define WR_ROW512(N)                                                                  \
    static __attribute__((noinline)) WR_AVX512 void wrows_row512_##N(                 \
        fc_int C, fc_int nr, fc_int tw, const float *u, const float *w,              \
        const float *bias, int relu, float *y, fc_int P, __mmask16 mlo, __mmask16 mhi) \
    {                                                                                 \
        wrows_row512(N, C, nr, tw, u, w, bias, relu, y, P, mlo, mhi);                  \
    }
WR_ROW512(1) WR_ROW512(2) WR_ROW512(3) WR_ROW512(4) WR_ROW512(5) WR_ROW512(6)
#undef WR_ROW512

/* The store masks of pixels [a, b) of a vector's 32 (two halves of 16). */
static inline void wrows_masks(fc_int a, fc_int b, __mmask16 *mlo, __mmask16 *mhi)
{
    const uint32_t m = (uint32_t)((((uint64_t)1 << b) - 1) & ~(((uint64_t)1 << a) - 1));
    *mlo = (__mmask16)(m & 0xffffu);
    *mhi = (__mmask16)(m >> 16);
}

static WR_AVX512 void wrows_rows512(int nf, fc_int C, fc_int nr, fc_int tw, const float *u,
                                    const float *w, const float *bias, int relu, float *y,
                                    fc_int P, fc_int lo, fc_int hi)
{
    if (tw == 16) {
        /* rows of up to 32 pixels: one vector, the kernels inlined here with a
         * constant U row stride (a call per row and filter group cost 1.05x) */
        __mmask16 mlo, mhi;
        wrows_masks(lo, hi, &mlo, &mhi);
        switch (nf) {
#define WR_CASE(N)                                                                   \
    case N:                                                                          \
        wrows_row512(N, C, nr, 16, u, w, bias, relu, y, P, mlo, mhi);                 \
        break;
            WR_CASE(1) WR_CASE(2) WR_CASE(3) WR_CASE(4) WR_CASE(5) WR_CASE(6)
#undef WR_CASE
        }
        return;
    }
    for (fc_int v = 0; v < tw / 16; ++v) {
        /* pixels [lo, hi) among the vector's 32: a..b-1 */
        const fc_int base = 32 * v, a = FC_MAX(lo - base, 0), b = FC_MIN(hi - base, 32);
        if (a >= b)
            continue;
        __mmask16 mlo, mhi;
        wrows_masks(a, b, &mlo, &mhi);
        const float *uv = u + 16 * v;
        float *yv = y + base;
        switch (nf) {
#define WR_CASE(N)                                                                   \
    case N:                                                                          \
        wrows_row512_##N(C, nr, tw, uv, w, bias, relu, yv, P, mlo, mhi);              \
        break;
            WR_CASE(1) WR_CASE(2) WR_CASE(3) WR_CASE(4) WR_CASE(5) WR_CASE(6)
#undef WR_CASE
        }
    }
}

void fc_wrows_image(const fc_conv_geom *g, fc_int wrow, const float *xr, const fc_int *offs,
                   const float *ap, int wt_ready, float *y, fc_int p0, fc_int p1, fc_int i0,
                   fc_int i1, const float *bias, int relu, void *work)
{
    const fc_int C = g->C, Wo = g->Wo, P = g->Ho * Wo, n = i1 - i0;
    float *wt = (float *)work, *u = wt + wrows_weight_floats(g);
    if (p0 >= p1 || n <= 0)
        return;
    if (!wt_ready)
        wrows_pack(g, ap, i0, i1, wt);
    const fc_int rows = wrows_block_rows(g), tw = wrows_tw(g);
    const fc_int ra = p0 / Wo, rb = (p1 - 1) / Wo + 1;
    for (fc_int r0 = ra; r0 < rb; r0 += rows) {
        const fc_int nrow = FC_MIN(rows, rb - r0), nr = nrow + 2;
        wrows_transform(g, wrow, xr, offs, r0, nr, u);
        fc_int k0 = i0;
        for (fc_int q = 0; k0 < i1; ++q) {
            const int nf = wrows_group(n, q);
            const float *wg = wt + (k0 - i0) * 12 * C;
            const float *bg = bias ? bias + k0 : NULL;
            for (fc_int r = 0; r < nrow; ++r) {
                const fc_int oh = r0 + r;
                const fc_int lo = FC_MAX(p0 - oh * Wo, 0), hi = FC_MIN(p1 - oh * Wo, Wo);
                float *yr = y + k0 * P + oh * Wo;
                const float *ur = u + r * 4 * tw;
                wrows_rows512(nf, C, nr, tw, ur, wg, bg, relu, yr, P, lo, hi);
            }
            k0 += nf;
        }
    }
}

#else /* no x86 SIMD kernels: the direct kernels run everything */

int fc_wrows_ok(const fc_conv_geom *g, int op, size_t elem, fc_int k, fc_int kcb)
{
    (void)g, (void)op, (void)elem, (void)k, (void)kcb;
    return 0;
}

size_t fc_wrows_bytes(const fc_conv_geom *g)
{
    (void)g;
    return 0;
}

void fc_wrows_image(const fc_conv_geom *g, fc_int wrow, const float *xr, const fc_int *offs,
                   const float *ap, int wt_ready, float *y, fc_int p0, fc_int p1, fc_int i0,
                   fc_int i1, const float *bias, int relu, void *work)
{
    (void)g, (void)wrow, (void)xr, (void)offs, (void)ap, (void)wt_ready, (void)y, (void)p0;
    (void)p1, (void)i0, (void)i1, (void)bias, (void)relu, (void)work;
}
#endif
