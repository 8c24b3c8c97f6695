/*
 * conv_pad.c -- the zero-bordered image copies the conv paths read their taps
 * from (layout in conv_internal.h: fc_padgeom, fc_plane_stride): the whole
 * bordered image (GEMM paths), its interior into a kept border (runs of
 * images), the rows one part of an image needs (fc_fill_rows: a thread
 * sharing an image copies its share, not all of it), and the phase-split
 * copy of strided convolutions.
 */
#ifndef FC_T
#include <string.h>
#include "conv_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

/* The even and odd columns of a row of n elements: ev[t] = src[2t] (t < (n+1)/2),
 * od[t] = src[2t+1] (t < n/2); either may be NULL (not wanted). Sixteen floats
 * (eight doubles) per step: two loads, two shuffles, two lane permutes. */
static __attribute__((target("avx2,fma"))) void
fc_deinterleave2_avx2_f32(const float *src, fc_int n, float *ev, float *od)
{
    fc_int t = 0;
    for (; 2 * t + 16 <= n; t += 8) {
        const __m256 a = _mm256_loadu_ps(src + 2 * t), b = _mm256_loadu_ps(src + 2 * t + 8);
        if (ev)
            _mm256_storeu_ps(ev + t, _mm256_castpd_ps(_mm256_permute4x64_pd(
                _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                _MM_SHUFFLE(3, 1, 2, 0))));
        if (od)
            _mm256_storeu_ps(od + t, _mm256_castpd_ps(_mm256_permute4x64_pd(
                _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))),
                _MM_SHUFFLE(3, 1, 2, 0))));
    }
    for (; 2 * t < n; ++t) {
        if (ev)
            ev[t] = src[2 * t];
        if (od && 2 * t + 1 < n)
            od[t] = src[2 * t + 1];
    }
}

/* The same, 32 floats per step on AVX-512: two loads, two two-source permutes. */
static __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
fc_deinterleave2_avx512_f32(const float *src, fc_int n, float *ev, float *od)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    fc_int t = 0;
    for (; 2 * t + 32 <= n; t += 16) {
        const __m512 a = _mm512_loadu_ps(src + 2 * t), b = _mm512_loadu_ps(src + 2 * t + 16);
        if (ev)
            _mm512_storeu_ps(ev + t, _mm512_permutex2var_ps(a, ie, b));
        if (od)
            _mm512_storeu_ps(od + t, _mm512_permutex2var_ps(a, io, b));
    }
    fc_deinterleave2_avx2_f32(src + 2 * t, n - 2 * t, ev ? ev + t : NULL, od ? od + t : NULL);
}

static __attribute__((target("avx2,fma"))) void
fc_deinterleave2_avx2_f64(const double *src, fc_int n, double *ev, double *od)
{
    fc_int t = 0;
    for (; 2 * t + 8 <= n; t += 4) {
        const __m256d a = _mm256_loadu_pd(src + 2 * t), b = _mm256_loadu_pd(src + 2 * t + 4);
        if (ev)
            _mm256_storeu_pd(ev + t, _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b),
                                                           _MM_SHUFFLE(3, 1, 2, 0)));
        if (od)
            _mm256_storeu_pd(od + t, _mm256_permute4x64_pd(_mm256_unpackhi_pd(a, b),
                                                           _MM_SHUFFLE(3, 1, 2, 0)));
    }
    for (; 2 * t < n; ++t) {
        if (ev)
            ev[t] = src[2 * t];
        if (od && 2 * t + 1 < n)
            od[t] = src[2 * t + 1];
    }
}

/* One row of fc_scatter_strided_plane at stride 2 (float): d[2j] = s[j] (+ a[2j]),
 * d[2j + 1] = 0 (+ a[2j + 1]) for the n8 (a multiple of 8) first j; 0 + a, as the
 * general loop adds it, where a row has no values (s NULL). */
static __attribute__((target("avx2,fma"))) void
fc_scatter2_row_avx2_f32(const float *s, const float *a, fc_int n8, float *d)
{
    const __m256 z = _mm256_setzero_ps();
    for (fc_int j = 0; j < n8; j += 8) {
        __m256 lo = z, hi = z;
        if (s) {
            const __m256 v = _mm256_loadu_ps(s + j);
            const __m256 l = _mm256_unpacklo_ps(v, z), h = _mm256_unpackhi_ps(v, z);
            lo = _mm256_permute2f128_ps(l, h, 0x20);
            hi = _mm256_permute2f128_ps(l, h, 0x31);
        }
        if (a) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(a + 2 * j));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(a + 2 * j + 8));
        }
        _mm256_storeu_ps(d + 2 * j, lo);
        _mm256_storeu_ps(d + 2 * j + 8, hi);
    }
}
#endif

#define FC_TMPL_SELF "conv_pad.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* Copy x (C, H, W) into the zero-bordered buffer xp (C, Hp, Wp). */
void FC_SFX(fc_pad_image)(const fc_conv_geom *g, const fc_padgeom *pg, const FC_T *x, FC_T *xp)
{
    const fc_int H = g->H, W = g->W, Hp = pg->Hp, Wp = pg->Wp, mt = pg->mt, ml = pg->ml;
    for (fc_int c = 0; c < g->C; ++c) {
        FC_T *d = xp + c * Hp * Wp;
        const FC_T *s = x + c * H * W;
        memset(d, 0, (size_t)(mt * Wp) * sizeof(FC_T));
        for (fc_int h = 0; h < H; ++h) {
            FC_T *dr = d + (h + mt) * Wp;
            for (fc_int w = 0; w < ml; ++w)
                dr[w] = 0;
            memcpy(dr + ml, s + h * W, (size_t)W * sizeof(FC_T));
            for (fc_int w = ml + W; w < Wp; ++w)
                dr[w] = 0;
        }
        memset(d + (H + mt) * Wp, 0, (size_t)((Hp - H - mt) * Wp) * sizeof(FC_T));
    }
}

/* Copy x's interior into a zero-bordered buffer whose border is already
 * zero (runs of images reuse it: nothing else ever writes the border).
 * Short rows are copied inline: a libc call per 8-pixel row costs more than
 * the copy. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
void FC_SFX(fc_copy_interior)(const fc_conv_geom *g, const fc_padgeom *pg, fc_int wrow,
                              fc_int plane, const FC_T *x, FC_T *xp)
{
    const fc_int H = g->H, W = g->W, mt = pg->mt, ml = pg->ml;
    if (wrow == W) {   /* rows without border: a plane is one run (ml is then 0) */
        for (fc_int c = 0; c < g->C; ++c)
            memcpy(xp + c * plane + mt * wrow, x + c * H * W, (size_t)(H * W) * sizeof(FC_T));
        return;
    }
    for (fc_int c = 0; c < g->C; ++c) {
        for (fc_int h = 0; h < H; ++h) {
            const FC_T *restrict src = x + (c * H + h) * W;
            FC_T *restrict d = xp + c * plane + (h + mt) * wrow + ml;
            for (fc_int w = 0; w < W; ++w)
                d[w] = src[w];
        }
    }
}

/* Zero-bordered image with each padded row split into stride_w phases:
 * padded column u goes to row position (u % sw) * wq + u / sw, so that the
 * taps of consecutive output pixels are contiguous in every phase. */
void FC_SFX(fc_pad_image_phased)(const fc_conv_geom *g, const fc_conv_plan *pl, const FC_T *x,
                                 FC_T *xp)
{
    const fc_int sw = g->stride_w, wq = pl->wq, wrow = pl->wrow, plane = pl->xplane;
    const fc_int mt = pl->pg.mt, ml = pl->pg.ml, H = g->H, W = g->W;
    /* Phase ph holds the columns w with (w + ml) % sw == ph: the first is w0,
     * written at row position ph*wq + (w0 + ml)/sw. Worked out once, not per
     * row (two integer divisions per row and phase cost a fifth of a strided
     * forward pass). */
    enum { PH_MAX = 16 };
    fc_int w0[PH_MAX], d0[PH_MAX];
    const fc_int nph = FC_MIN(sw, PH_MAX);
    for (fc_int ph = 0; ph < nph; ++ph) {
        w0[ph] = ((ph - ml) % sw + sw) % sw;
        d0[ph] = ph * wq + (w0[ph] + ml) / sw;
    }
    /* Rows and phases no tap reads (a strided 1x1 reads one row in sh, one
     * phase in sw) are not copied: they stay zero. */
    enum { ROWS_MAX = 4096 };
    unsigned char row_used[ROWS_MAX];
    int ph_used[PH_MAX];
    const int skip = H <= ROWS_MAX;
    for (fc_int ph = 0; ph < nph; ++ph)
        ph_used[ph] = 0;
    for (fc_int s2 = 0; s2 < g->S; ++s2) {
        const fc_int v = s2 * g->dil_w + ml - g->pad_left;
        if ((v % sw) < nph)
            ph_used[v % sw] = 1;
    }
    if (skip)
        for (fc_int h = 0; h < H; ++h) {
            /* output row oh's tap r reads input row h when u == oh * stride_h + r * dil_h */
            const fc_int u = h + g->pad_top;
            int used = 0;
            for (fc_int r = 0; r < g->R && !used; ++r) {
                const fc_int d = u - r * g->dil_h;
                used = d >= 0 && d % g->stride_h == 0 && d / g->stride_h < g->Ho;
            }
            row_used[h] = (unsigned char)used;
        }
#ifdef FC_HAVE_X86_AVX2_KERNELS
    /* 2: the AVX-512 deinterleave (float) */
    const int avx2 = fc_simd_path() == FC_SIMD_AVX512 ? 2 : fc_simd_path() >= FC_SIMD_AVX2;
#endif
    for (fc_int c = 0; c < g->C; ++c) {
        for (fc_int h = 0; h < H; ++h) {
            const FC_T *restrict src = x + (c * H + h) * W;
            FC_T *dr = xp + c * plane + (h + mt) * wrow;
            if (skip && !row_used[h])
                continue;
#ifdef FC_HAVE_X86_AVX2_KERNELS
            if (sw == 2 && avx2) {
                /* phase ph holds the columns w0[ph], w0[ph] + 2, ...: the even ones
                 * when w0[ph] is 0, else the odd ones */
                FC_T *e = ph_used[0] ? dr + d0[0] : NULL, *o = ph_used[1] ? dr + d0[1] : NULL;
#if !FC_IS_F64
                if (avx2 == 2) {
                    if (w0[0] == 0)
                        fc_deinterleave2_avx512_f32(src, W, e, o);
                    else
                        fc_deinterleave2_avx512_f32(src, W, o, e);
                    continue;
                }
#endif
                if (w0[0] == 0)
                    FC_SFX(fc_deinterleave2_avx2)(src, W, e, o);
                else
                    FC_SFX(fc_deinterleave2_avx2)(src, W, o, e);
                continue;
            }
#endif
            if (sw == 2) {
                FC_T *restrict e = dr + d0[0], *restrict o = dr + d0[1];
                const FC_T *restrict se = src + w0[0], *restrict so = src + w0[1];
                const fc_int ne = (W - w0[0] + 1) / 2, no = (W - w0[1] + 1) / 2;
                if (ph_used[0])
                    for (fc_int t = 0; t < ne; ++t)
                        e[t] = se[2 * t];
                if (ph_used[1])
                    for (fc_int t = 0; t < no; ++t)
                        o[t] = so[2 * t];
                continue;
            }
            for (fc_int ph = 0; ph < sw; ++ph) {
                if (ph < nph && !ph_used[ph])
                    continue;
                const fc_int ws = ph < nph ? w0[ph] : ((ph - ml) % sw + sw) % sw;
                FC_T *restrict d = dr + (ph < nph ? d0[ph] : ph * wq + (ws + ml) / sw);
                for (fc_int w = ws; w < W; w += sw)
                    *d++ = src[w];
            }
        }
    }
}

/* Rows [b0, b1) of every channel plane of the direct paths' bordered image
 * (rows wrow apart, planes `plane` apart), stride_w 1: the image's rows copied
 * in, and with `borders` the zero border of those rows written too, plus zeros
 * over the reads a row's last chunk may make past it (up to `over` elements,
 * lanes the kernels drop: zero, never stale bits). Without `borders` only the
 * interior is written (later images of a run: the border is already there).
 * A thread sharing one image thus writes the rows its output needs, where each
 * used to clear and fill the whole buffer (the clear and the copy were 7% of
 * ResNet-20's batch-1 kernel time in a profile). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
void FC_SFX(fc_fill_rows)(const fc_conv_geom *g, const fc_padgeom *pg, fc_int wrow, fc_int plane,
                          const FC_T *x, FC_T *xp, fc_int b0, fc_int b1, int borders,
                          fc_int over)
{
    const fc_int H = g->H, W = g->W, mt = pg->mt, ml = pg->ml;
    for (fc_int c = 0; c < g->C; ++c) {
        FC_T *pc = xp + c * plane;
        for (fc_int b = b0; b < b1; ++b) {
            FC_T *dr = pc + b * wrow;
            const fc_int h = b - mt;
            if (h < 0 || h >= H) {
                if (borders)
                    memset(dr, 0, (size_t)wrow * sizeof(FC_T));
                continue;
            }
            if (borders) {
                for (fc_int w = 0; w < ml; ++w)
                    dr[w] = 0;
                for (fc_int w = ml + W; w < wrow; ++w)
                    dr[w] = 0;
            }
            const FC_T *restrict src = x + (c * H + h) * W;
            FC_T *restrict d = dr + ml;
            for (fc_int w = 0; w < W; ++w)   /* inline: a libc call per short row costs more */
                d[w] = src[w];
        }
        if (borders && b1 > b0)
            memset(pc + b1 * wrow, 0, (size_t)over * sizeof(FC_T));
    }
}

/* dst (H x W) = src (Ho x Wo) spread sh x sw apart -- src[i][j] at dst[i*sh][j*sw],
 * zero between -- plus addend (H x W) where given, as upsample-then-add would give it.
 * The input gradient of a strided, unpadded 1x1 convolution is its compact gradient
 * spread this way: one write of dx, where the col2im path zeroed a bordered
 * accumulator, scattered into it and copied it out (ResNet's projection
 * shortcuts). */
void FC_SFX(fc_scatter_strided_plane)(const FC_T *src, fc_int Ho, fc_int Wo, fc_int sh,
                                      fc_int sw, const FC_T *addend, fc_int H, fc_int W,
                                      FC_T *dst)
{
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    /* whole vectors of pairs first, the rest of each row by the loops below */
    const fc_int n8 = sw == 2 && fc_simd_path() >= FC_SIMD_AVX2 ? FC_MIN(Wo, W / 2) / 8 * 8 : 0;
#endif
    for (fc_int h = 0; h < H; ++h) {
        FC_T *restrict d = dst + h * W;
        const FC_T *restrict a = addend ? addend + h * W : NULL;
        const fc_int i = h / sh;
        const int hit = h % sh == 0 && i < Ho;
        fc_int w = 0;
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
        if (n8) {
            fc_scatter2_row_avx2_f32(hit ? src + i * Wo : NULL, a, n8, d);
            w = 2 * n8;
        }
#endif
        if (!hit) {
            for (; w < W; ++w)
                d[w] = a ? (FC_T)0 + a[w] : (FC_T)0;
            continue;
        }
        const FC_T *restrict sr = src + i * Wo;
        const fc_int n = FC_MIN(Wo, (W - 1) / sw + 1);
        if (sw == 2) {   /* pairs (value, zero) */
            fc_int j = w / 2;
            for (; j < n && 2 * j + 1 < W; ++j) {
                d[2 * j] = a ? sr[j] + a[2 * j] : sr[j];
                d[2 * j + 1] = a ? (FC_T)0 + a[2 * j + 1] : (FC_T)0;
            }
            w = 2 * j;
        }
        for (; w < W; ++w) {
            const FC_T v = w % sw == 0 && w / sw < n ? sr[w / sw] : (FC_T)0;
            d[w] = a ? v + a[w] : v;
        }
    }
}

#endif
