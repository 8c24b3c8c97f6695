/*
 * conv_backward_data.c -- dx from dy and the weights: stride 1 (and C filling
 * the MR rows) runs the forward direct path on dy with the flipped,
 * transposed weights (fc_conv_direct_run); otherwise dcol = W^T . dY block by
 * block into a scratch tile, scattered (col2im) into a zero-bordered
 * accumulator and cropped into dx (overview in conv_internal.h).
 */
#ifndef FC_T
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>
#endif

#ifdef FC_HAVE_X86_AVX2_KERNELS
/* AVX2 has no cheap masked store on AMD (vmaskmovps is microcoded): whole
 * vectors for every full group of 4 (2 doubles) whose 8 (4) destination lanes
 * end before `limit`, the odd ones written back unchanged -- the accumulator
 * is the calling thread's own, so past the row's end they are its border or
 * next row -- and plain scalar adds for the rest. Same adds, same bits. (A
 * transposed convolution's 8-pixel rows left half their adds scalar.) */
static inline __attribute__((target("avx2,fma"))) void
fc_add_stride2_avx2_f32(float *d, const float *s, fc_int n, const float *limit)
{
    const __m256i spread = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    fc_int t = 0;
    for (; t + 4 <= n && d + 2 * t + 8 <= limit; t += 4) {
        const __m256 sv = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(s + t)),
                                                   spread);
        const __m256 dv = _mm256_loadu_ps(d + 2 * t);
        _mm256_storeu_ps(d + 2 * t, _mm256_blend_ps(dv, _mm256_add_ps(dv, sv), 0x55));
    }
    for (; t < n; ++t)
        d[2 * t] += s[t];
}

/* d[2t] += a[t], d[2t + 1] += b[t] for t < n: a and b interleaved into whole
 * vectors (a stride-2 row pair), the same limit rule as above. */
static inline __attribute__((target("avx2,fma"))) void
fc_add_stride2_pair_avx2_f32(float *d, const float *a, const float *b, fc_int n,
                             const float *limit)
{
    fc_int t = 0;
    for (; t + 4 <= n && d + 2 * t + 8 <= limit; t += 4) {
        const __m128 va = _mm_loadu_ps(a + t), vb = _mm_loadu_ps(b + t);
        const __m256 ab = _mm256_set_m128(_mm_unpackhi_ps(va, vb), _mm_unpacklo_ps(va, vb));
        _mm256_storeu_ps(d + 2 * t, _mm256_add_ps(_mm256_loadu_ps(d + 2 * t), ab));
    }
    for (; t < n; ++t) {
        d[2 * t] += a[t];
        d[2 * t + 1] += b[t];
    }
}

static inline __attribute__((target("avx2,fma"))) void
fc_add_stride2_pair_avx2_f64(double *d, const double *a, const double *b, fc_int n,
                             const double *limit)
{
    fc_int t = 0;
    for (; t + 2 <= n && d + 2 * t + 4 <= limit; t += 2) {
        const __m128d va = _mm_loadu_pd(a + t), vb = _mm_loadu_pd(b + t);
        const __m256d ab = _mm256_set_m128d(_mm_unpackhi_pd(va, vb), _mm_unpacklo_pd(va, vb));
        _mm256_storeu_pd(d + 2 * t, _mm256_add_pd(_mm256_loadu_pd(d + 2 * t), ab));
    }
    for (; t < n; ++t) {
        d[2 * t] += a[t];
        d[2 * t + 1] += b[t];
    }
}

static inline __attribute__((target("avx2,fma"))) void
fc_add_stride2_avx2_f64(double *d, const double *s, fc_int n, const double *limit)
{
    fc_int t = 0;
    for (; t + 2 <= n && d + 2 * t + 4 <= limit; t += 2) {
        const __m256d sv = _mm256_permute4x64_pd(_mm256_castpd128_pd256(_mm_loadu_pd(s + t)),
                                                 _MM_SHUFFLE(1, 1, 0, 0));
        const __m256d dv = _mm256_loadu_pd(d + 2 * t);
        _mm256_storeu_pd(d + 2 * t, _mm256_blend_pd(dv, _mm256_add_pd(dv, sv), 0x5));
    }
    for (; t < n; ++t)
        d[2 * t] += s[t];
}
#endif

#define FC_TMPL_SELF "conv_backward_data.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

#ifdef FC_HAVE_X86_AVX2_KERNELS
/* The AVX-512 stride-2 adds, one body per element type through these names:
 * a vector FC_ZV of 2 * FC_ZH elements, half-vector loads of FC_ZH. */
#undef FC_ZV
#undef FC_ZM
#undef FC_ZH
#undef FC_ZHLOAD
#undef FC_ZLOAD
#undef FC_ZSTORE
#undef FC_ZADD
#undef FC_ZMADD
#undef FC_ZPERM
#undef FC_ZPERM2
#undef FC_ZSHIFT2
#undef FC_ZSPREAD
#undef FC_ZINTER
#undef FC_ZEVEN
#undef FC_ZALL
#undef FC_ZZERO
#if FC_IS_F64
#define FC_ZZERO _mm512_setzero_pd
#define FC_ZV __m512d
#define FC_ZM __mmask8
#define FC_ZH 4
#define FC_ZHLOAD(m, p) _mm512_castpd256_pd512(_mm256_maskz_loadu_pd(m, p))
#define FC_ZLOAD _mm512_maskz_loadu_pd
#define FC_ZSTORE _mm512_mask_storeu_pd
#define FC_ZADD _mm512_add_pd
#define FC_ZMADD _mm512_mask_add_pd
#define FC_ZPERM _mm512_permutexvar_pd
#define FC_ZPERM2 _mm512_permutex2var_pd
/* lanes shifted up by two, the two lowest from the top of lo */
#define FC_ZSHIFT2(v, lo) \
    _mm512_castsi512_pd(_mm512_alignr_epi64(_mm512_castpd_si512(v), _mm512_castpd_si512(lo), 6))
#define FC_ZSPREAD _mm512_setr_epi64(0, 0, 1, 1, 2, 2, 3, 3)
#define FC_ZINTER _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11)
#define FC_ZEVEN 0x55u
#define FC_ZALL 0xFFu
#else
#define FC_ZZERO _mm512_setzero_ps
#define FC_ZV __m512
#define FC_ZM __mmask16
#define FC_ZH 8
#define FC_ZHLOAD(m, p) _mm512_castps256_ps512(_mm256_maskz_loadu_ps(m, p))
#define FC_ZLOAD _mm512_maskz_loadu_ps
#define FC_ZSTORE _mm512_mask_storeu_ps
#define FC_ZADD _mm512_add_ps
#define FC_ZMADD _mm512_mask_add_ps
#define FC_ZPERM _mm512_permutexvar_ps
#define FC_ZPERM2 _mm512_permutex2var_ps
#define FC_ZSHIFT2(v, lo) \
    _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(v), _mm512_castps_si512(lo), 14))
#define FC_ZSPREAD _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)
#define FC_ZINTER _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23)
#define FC_ZEVEN 0x5555u
#define FC_ZALL 0xFFFFu
#endif

/* d[2t] += s[t] for t < n, a vector at a time: s spread to the even lanes, the
 * sum kept in the even lanes only (an odd lane of d is not touched: + 0 would
 * turn -0 into +0), masked loads and stores so nothing past d[2n - 2] is read
 * or written. One rounding per element, as the scalar loop. */
static inline __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_add_stride2_avx512)(FC_T *d, const FC_T *s, fc_int n)
{
    const __m512i spread = FC_ZSPREAD;
    for (fc_int t = 0; t < n; t += FC_ZH) {
        const int k = (int)(n - t < FC_ZH ? n - t : FC_ZH);
        const FC_ZV sv = FC_ZPERM(spread, FC_ZHLOAD((__mmask8)((1u << k) - 1u), s + t));
        const FC_ZM md = (FC_ZM)((1u << (2 * k - 1)) - 1u);
        const FC_ZV dv = FC_ZLOAD(md, d + 2 * t);
        FC_ZSTORE(d + 2 * t, (FC_ZM)(md & FC_ZEVEN), FC_ZADD(dv, sv));
    }
}

/* The taps of a filter row at stride 2 (a transposed convolution doubling the size,
 * the input gradient of a strided layer): d[2t + s] += a_s[t] for t < n, s < ntaps (a
 * 4-wide row: 4; a 3-wide row: 3; the first two taps of a wider one: 2). Taps 0 and 1 are
 * interleaved into one vector, 2 and 3 into another added two lanes further on (its
 * last two lanes carried into the next vector, after that one's taps 0 and 1; tap 3's
 * lanes left out of a 3-wide row), so each element of d is loaded and stored once for all
 * the taps instead of once per tap -- and gets its taps in row order, as a pass per tap
 * would add them. A tap at a time was half a transposed convolution's time; a 3-wide
 * row's third tap in a pass of its own, a seventh of a strided layer's input gradient.
 * `ntaps` is a constant in each of the instances below. */
static inline __attribute__((always_inline, target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_add_stride2_taps_avx512)(FC_T *d, const FC_T *a0, const FC_T *a1, const FC_T *a2,
                                   const FC_T *a3, fc_int n, const int ntaps)
{
    const __m512i inter = FC_ZINTER;
    FC_ZV prev = FC_ZZERO();
    for (fc_int t = 0; t < n; t += FC_ZH) {
        const int k = (int)(n - t < FC_ZH ? n - t : FC_ZH);
        const __mmask8 mk = (__mmask8)((1u << k) - 1u);
        const FC_ZM md = (FC_ZM)((1u << (2 * k)) - 1u);
        const FC_ZV v01 = FC_ZPERM2(FC_ZHLOAD(mk, a0 + t), inter, FC_ZHLOAD(mk, a1 + t));
        FC_ZV x = FC_ZADD(FC_ZLOAD(md, d + 2 * t), v01);
        if (ntaps > 2) {
            const FC_ZV v23 = FC_ZPERM2(FC_ZHLOAD(mk, a2 + t), inter,
                                        ntaps == 4 ? FC_ZHLOAD(mk, a3 + t) : FC_ZZERO());
            const FC_ZM m23 = (FC_ZM)((t ? FC_ZALL : FC_ZALL & ~3u) &
                                      (ntaps == 4 ? FC_ZALL : FC_ZEVEN));
            x = FC_ZMADD(x, (FC_ZM)(md & m23), x, FC_ZSHIFT2(v23, prev));
            prev = v23;
        }
        FC_ZSTORE(d + 2 * t, md, x);
    }
    if (ntaps > 2 && n > 0) {
        d[2 * n] += a2[n - 1];
        if (ntaps == 4)
            d[2 * n + 1] += a3[n - 1];
    }
}

/* d[t] += s[t] for t < n (stride 1: a tap's run of a row), whole vectors, the last one
 * masked. Same adds. Runs of one vector or less stay scalar: the next tap's run
 * overlaps this one shifted by an element, and a masked load of what a masked store
 * just wrote is not forwarded (LeNet's 8-pixel rows: 0.20 -> 0.37 ms). */
static __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_add_run_avx512)(FC_T *d, const FC_T *s, fc_int n)
{
    for (fc_int t = 0; t < n; t += 2 * FC_ZH) {
        const unsigned k = (unsigned)(n - t < 2 * FC_ZH ? n - t : 2 * FC_ZH);
        const FC_ZM m = (FC_ZM)((1u << k) - 1u);
        FC_ZSTORE(d + t, m, FC_ZADD(FC_ZLOAD(m, d + t), FC_ZLOAD(m, s + t)));
    }
}

/* The instances the col2im epilogue calls (it is not compiled for AVX-512). */
static __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_add_stride2_quad_avx512)(FC_T *d, const FC_T *a0, const FC_T *a1, const FC_T *a2,
                                   const FC_T *a3, fc_int n)
{
    FC_SFX(fc_add_stride2_taps_avx512)(d, a0, a1, a2, a3, n, 4);
}

static __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_add_stride2_triple_avx512)(FC_T *d, const FC_T *a0, const FC_T *a1, const FC_T *a2,
                                     fc_int n)
{
    FC_SFX(fc_add_stride2_taps_avx512)(d, a0, a1, a2, NULL, n, 3);
}

static __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_add_stride2_pair_avx512)(FC_T *d, const FC_T *a0, const FC_T *a1, fc_int n)
{
    FC_SFX(fc_add_stride2_taps_avx512)(d, a0, a1, NULL, NULL, n, 2);
}
#endif

/* Backward-data epilogue: col2im of the finished dcol block
 * rows [i0, i0+mc) (= (c, r, s)) x pixels [j0, j0+nc), held in tmp,
 * added into the zero-bordered accumulator dxp. */
static void FC_SFX(fc_epi_col2im)(void *vctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_conv_geom *g = ctx->g;
    fc_seg *sg = ctx->segs;
    const fc_int RS = g->R * g->S, Wp = ctx->pg.Wp, HWp = ctx->pg.Hp * ctx->pg.Wp;
    const fc_int sw = g->stride_w, dhW = g->dil_h * Wp, dw = g->dil_w;
    const fc_int ns = fc_make_segs(g, &ctx->pg, j0, nc, 0, sg);
    fc_int c = i0 / RS, rs = i0 - c * RS;
    fc_int r = rs / g->S, s = rs - r * g->S;
#ifdef FC_HAVE_X86_AVX2_KERNELS
    const int avx2 = sw == 2 && fc_simd_path() >= FC_SIMD_AVX2;
    const int avx512 = sw == 2 && fc_simd_path() == FC_SIMD_AVX512;
    const int runs512 = sw == 1 && fc_simd_path() == FC_SIMD_AVX512;
    const FC_T *dxend = ctx->dxp + g->C * HWp; /* this thread's accumulator */
#endif
    fc_int taps; /* rows (taps) done by one pass of the loop */
    for (fc_int i = i0; i < i0 + mc; i += taps) {
        const FC_T *src = ctx->tmp + i * ctx->ldt;
        FC_T *dxk = ctx->dxp + c * HWp + r * dhW + s * dw;
        taps = 1;
#ifdef FC_HAVE_X86_AVX2_KERNELS
        if (avx512 && dw == 1 && !(s & 1) && s + 1 < g->S && i + 1 < i0 + mc) {
            /* a 4- or 3-wide row's taps in one pass, else a pair */
            const int whole = s == 0 && (g->S == 4 || g->S == 3) && i + g->S - 1 < i0 + mc;
            const FC_T *a1 = src + ctx->ldt, *a2 = a1 + ctx->ldt, *a3 = a2 + ctx->ldt;
            for (fc_int q = 0; q < ns; ++q) {
                const fc_int o = sg[q].dst;
                if (whole && g->S == 4)
                    FC_SFX(fc_add_stride2_quad_avx512)(dxk + sg[q].base, src + o, a1 + o, a2 + o,
                                                       a3 + o, sg[q].len);
                else if (whole)
                    FC_SFX(fc_add_stride2_triple_avx512)(dxk + sg[q].base, src + o, a1 + o,
                                                         a2 + o, sg[q].len);
                else
                    FC_SFX(fc_add_stride2_pair_avx512)(dxk + sg[q].base, src + o, a1 + o,
                                                       sg[q].len);
            }
            taps = whole ? (int)g->S : 2;
        } else if (avx2 && !avx512 && dw == 1 && !(s & 1) && s + 1 < g->S && i + 1 < i0 + mc) {
            /* taps s and s + 1 fill the even and the odd columns of the same run:
             * one interleaved vector add for both rows, each element still getting
             * its taps in row order */
            for (fc_int q = 0; q < ns; ++q)
                FC_SFX(fc_add_stride2_pair_avx2)(dxk + sg[q].base, src + sg[q].dst,
                                                 src + ctx->ldt + sg[q].dst, sg[q].len, dxend);
            taps = 2;
        }
#endif
        for (fc_int q = 0; taps == 1 && q < ns; ++q) {
            FC_T *restrict d = dxk + sg[q].base;
            const FC_T *restrict sq = src + sg[q].dst;
            const fc_int len = sg[q].len;
            if (sw == 1) {
#ifdef FC_HAVE_X86_AVX2_KERNELS
                if (runs512 && len >= 16) {
                    FC_SFX(fc_add_run_avx512)(d, sq, len);
                    continue;
                }
#endif
                for (fc_int t = 0; t < len; ++t)
                    d[t] += sq[t];
#ifdef FC_HAVE_X86_AVX2_KERNELS
            } else if (avx512) {
                /* stride 2 (transposed convolutions that double the size, the input
                 * gradient of strided layers): the scalar scatter took half the pass
                 * (AVX2's masked stores are slow on AMD: AVX-512 masks where there) */
                FC_SFX(fc_add_stride2_avx512)(d, sq, len);
            } else if (avx2) {
                FC_SFX(fc_add_stride2_avx2)(d, sq, len, dxend);
#endif
            } else {
                for (fc_int t = 0; t < len; ++t)
                    d[t * sw] += sq[t];
            }
        }
        if ((s += taps) == g->S) {
            s = 0;
            if (++r == g->R) {
                r = 0;
                ++c;
            }
        }
    }
}

void FC_SFX(fc_conv2d_backward_data)(const fc_conv_geom *g, const FC_T *dy, const FC_T *w,
                                     FC_T *dx, void *work)
{
    FC_T *ap = (FC_T *)fc_align_ptr(work);
    FC_SFX(fc_conv2d_pack_weights)(g, FC_CONV_BACKWARD_DATA, w, ap);
    FC_SFX(fc_conv2d_backward_data_packed)(g, dy, ap, NULL, dx, work);
}

void FC_SFX(fc_conv2d_backward_data_packed_batch)(const fc_conv_geom *g, fc_int nimg,
                                                  const FC_T *dy, const void *packed,
                                                  const FC_T *bias, const FC_T *res, FC_T *dx,
                                                  void *work)
{
    if (fc_conv2d_backward_data_1x1_ok(g, nimg)) {
        /* dX = W^T . dY: the forward 1x1 on the transposed geometry, whose forward
         * packing is this pass's (A = W^T, K blocks of K). */
        fc_conv_geom t;
        fc_bwd_data_geom(g, &t);
        FC_SFX(fc_conv2d_forward_1x1_batch)(&t, 0, nimg, dy, packed, bias, res, FC_ACT_NONE, 0,
                                            dx, work);
        return;
    }
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_BWD_DATA, sizeof(FC_T), &pl);
    if (pl.direct) {
        FC_SFX(fc_conv_direct_run)(&pl, nimg, dy, (const FC_T *)packed, bias, res, FC_ACT_NONE, 0,
                                   dx, work);
        return;
    }
    /* col2im: res added to each image while it is in cache */
    const fc_int xs = g->C * g->H * g->W, ys = g->K * g->Ho * g->Wo;
    for (fc_int n = 0; n < nimg; ++n) {
        FC_T *d = dx + n * xs;
        FC_SFX(fc_conv2d_backward_data_packed)(g, dy + n * ys, packed, bias, d, work);
        if (res)
            for (fc_int i = 0; i < xs; ++i)
                d[i] += res[n * xs + i];
    }
}

#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
void FC_SFX(fc_conv2d_backward_data_packed)(const fc_conv_geom *g, const FC_T *dy,
                                            const void *packed, const FC_T *bias, FC_T *dx,
                                            void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_BWD_DATA, sizeof(FC_T), &pl);
    const FC_T *ap = (const FC_T *)packed;
    if (pl.direct) {
        FC_SFX(fc_conv_direct_run)(&pl, 1, dy, ap, bias, NULL, FC_ACT_NONE, 0, dx, work);
        return;
    }
    FC_T *ap_unused, *bb, *tmp, *xp;
    fc_seg *segs;
    FC_SFX(fc_conv_carve)(&pl, work, &ap_unused, &bb, &tmp, &segs, &xp);
    const fc_int CRS = pl.m, P = pl.n, K = pl.k;

    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.pg = pl.pg;
    ctx.segs = segs;
    ctx.tmp = tmp;
    ctx.ldt = pl.ncb;
    ctx.dxp = xp;

    FC_SFX(fc_gemm_job) job;
    memset(&job, 0, sizeof(job));
    job.m = CRS;
    job.n = P;
    job.k = K;
    job.kcb = pl.kcb;
    job.mcb = pl.mcb;
    job.ncb = pl.ncb;
    job.ap_full = ap;
    job.b = dy;
    job.rsb = P;
    job.csb = 1;
    job.beta = 0;
    job.bbuf = bb;
    if (pl.one_by_one) {
        job.c = dx;
        job.ldc = P;
    } else {
        memset(xp, 0, (size_t)(g->C * pl.pg.Hp * pl.pg.Wp) * sizeof(FC_T));
        job.c = tmp;
        job.ldc = pl.ncb;
        job.c_local = 1;
        job.epi = FC_SFX(fc_epi_col2im);
        job.epi_ctx = &ctx;
    }
    FC_SFX(fc_gemm_serial)(&job);
    if (!pl.one_by_one) {
        /* Crop the accumulator into dx, plus the bias (a transposed convolution's) */
        const fc_int H = g->H, W = g->W, Hp = pl.pg.Hp, Wp = pl.pg.Wp;
        for (fc_int c = 0; c < g->C; ++c)
            for (fc_int h = 0; h < H; ++h) {
                FC_T *restrict d = dx + (c * H + h) * W;
                const FC_T *restrict s = xp + c * Hp * Wp + (h + pl.pg.mt) * Wp + pl.pg.ml;
                if (bias) {
                    const FC_T b = bias[c];
                    for (fc_int w = 0; w < W; ++w)
                        d[w] = s[w] + b;
                } else {
                    for (fc_int w = 0; w < W; ++w)
                        d[w] = s[w];
                }
            }
    } else if (bias) {
        for (fc_int c = 0; c < g->C; ++c)
            for (fc_int j = 0; j < P; ++j)
                dx[c * P + j] += bias[c];
    }
}

#endif
