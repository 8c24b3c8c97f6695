/*
 * conv_forward_cvec.c -- the output-channel-vector direct path (plan field
 * cvec; overview in conv_internal.h): Y^T (P x K) = col(x)^T . W^T with the
 * fc_akr micro-kernel broadcasting MR output pixels' taps straight from the
 * direct path's bordered image against NR output channels of packed W^T.
 * Run by forward (and by backward-data on its flipped weights) where the
 * row-vector kernels would leave many lanes idle: output rows shorter than,
 * or just past a multiple of, NR/2 pixels (a 'valid' 3x3 over 15x15 gives
 * 13-pixel rows, over 6x6 4-pixel ones).
 */
#ifndef FC_T
#include <string.h>
#include "conv_internal.h"

/* Chosen when its useful share of the multiply-adds is at least this much
 * higher than the row-vector path's (lanes of each row's last chunk idle),
 * and the reduction is long enough that the transposed write-back of each
 * MR x NR tile is a small part of the tile's work. */
#ifndef FC_CVEC_GAIN
#define FC_CVEC_GAIN 1.1
#endif
#ifndef FC_CVEC_MIN_K
#define FC_CVEC_MIN_K 64
#endif
/* Output-channel panels per AVX-512 kernel call (the tile buffer's width):
 * 128 channels of B, k long, stay in L2 while the pixel tiles stream by. */
#ifndef FC_CVEC_PANELS
#define FC_CVEC_PANELS 8
#endif

void fc_cvec_plan(fc_conv_plan *pl, size_t elem)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int P = pl->n, m = pl->m, k = pl->k;
    if (k < FC_CVEC_MIN_K || m < nr || P <= 0 || pl->nch <= 0)
        return;
    /* Judged against row-by-row chunks even where the direct path would chunk a flat
     * plane: on 1x1 maps of 14x14 and 28x28 neither path won everywhere (flat chunks
     * took 0.89-1.19x the output-channel vectors' time, by shape and batch), so these
     * shapes keep the path they had before flat chunks. */
    const fc_int row_chunks = pl->dg.Ho * ((pl->dg.Wo + nr / 2 - 1) / (nr / 2));
    const double rows = (double)P / (double)(row_chunks * (nr / 2));
    const double cvec = (double)P / (double)fc_roundup(P, mr) * (double)m / (double)fc_roundup(m, nr);
    if (cvec < FC_CVEC_GAIN * rows)
        return;
    pl->cvec = 1;
    pl->ap_bytes = fc_align_up((size_t)fc_roundup(m, nr) * (size_t)k * elem);
    pl->o_bytes = FC_MAX(pl->o_bytes, fc_align_up(((size_t)k + (size_t)P) * sizeof(fc_int)));
    pl->total = pl->ap_bytes + pl->x_bytes + pl->o_bytes + FC_ALIGN;
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

/* The write-back of a full float tile (MR = 6 pixels x NR = 16 channels, row i
 * = pixel i at tile + i*ts) to y (channel rows P apart): bias added and ReLU applied across
 * the channel lanes, the residual (rows P apart, like y) after the 8 x 8
 * transposes that turn each 8-channel half into 8 rows of 6 pixels; the same
 * operations in the same order as the portable write-back (y + b, + r, then
 * "v > 0 ? v : 0", which max(v, 0) is: second operand on NaN and on +-0).
 * Pixels 4-5 move as one 64-bit integer lane (no alignment asked of them). */
static __attribute__((target("avx2,fma"))) void
fc_cvec_store_avx2_f32(const float *tile, fc_int ts, const float *bias, const float *res,
                       int relu, float *y, fc_int P)
{
    const __m256 zero = _mm256_setzero_ps();
    for (int h = 0; h < 2; ++h) {
        __m256 v[8];
        const __m256 b = bias ? _mm256_loadu_ps(bias + 8 * h) : zero;
        for (int i = 0; i < 6; ++i) {
            v[i] = _mm256_loadu_ps(tile + i * ts + 8 * h);
            if (bias)
                v[i] = _mm256_add_ps(v[i], b);
            if (relu && !res)
                v[i] = _mm256_max_ps(v[i], zero);
        }
        v[6] = v[7] = zero;
        const __m256 t0 = _mm256_unpacklo_ps(v[0], v[1]), t1 = _mm256_unpackhi_ps(v[0], v[1]);
        const __m256 t2 = _mm256_unpacklo_ps(v[2], v[3]), t3 = _mm256_unpackhi_ps(v[2], v[3]);
        const __m256 t4 = _mm256_unpacklo_ps(v[4], v[5]), t5 = _mm256_unpackhi_ps(v[4], v[5]);
        const __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 s4 = _mm256_shuffle_ps(t4, zero, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 s5 = _mm256_shuffle_ps(t4, zero, _MM_SHUFFLE(3, 2, 3, 2));
        const __m256 s6 = _mm256_shuffle_ps(t5, zero, _MM_SHUFFLE(1, 0, 1, 0));
        const __m256 s7 = _mm256_shuffle_ps(t5, zero, _MM_SHUFFLE(3, 2, 3, 2));
        /* channel c of this half: pixels 0-3 in the low lane of s(c%4) (c < 4) or the
         * high lane (c >= 4), pixels 4-5 likewise in s(4 + c%4) */
        const __m256 lo[4] = {s0, s1, s2, s3}, hi[4] = {s4, s5, s6, s7};
        for (int c = 0; c < 8; ++c) {
            __m128 a = c < 4 ? _mm256_castps256_ps128(lo[c]) : _mm256_extractf128_ps(lo[c - 4], 1);
            __m128 e = c < 4 ? _mm256_castps256_ps128(hi[c]) : _mm256_extractf128_ps(hi[c - 4], 1);
            float *yo = y + (fc_int)(8 * h + c) * P;
            if (res) {
                const float *ro = res + (fc_int)(8 * h + c) * P;
                a = _mm_add_ps(a, _mm_loadu_ps(ro));
                e = _mm_add_ps(e, _mm_castsi128_ps(_mm_loadl_epi64((const __m128i *)(ro + 4))));
                if (relu) {
                    a = _mm_max_ps(a, _mm_setzero_ps());
                    e = _mm_max_ps(e, _mm_setzero_ps());
                }
            }
            _mm_storeu_ps(yo, a);
            _mm_storel_epi64((__m128i *)(yo + 4), _mm_castps_si128(e));
        }
    }
}
#endif

#define FC_TMPL_SELF "conv_forward_cvec.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* B = A^T in NR-wide micro-panels (panel q at bp + q*NR*k, zero past m), A the
 * matrix the row-vector direct path packs: forward, W (K x CRS); backward-data
 * (flip), A(c, (k, r', s')) = w[k, c, R-1-r', S-1-s']. */
void FC_SFX(fc_cvec_pack_weights)(const fc_conv_geom *g, const fc_conv_plan *pl, int flip,
                                  const FC_T *w, FC_T *bp)
{
    const fc_int R = g->R, S = g->S, RS = R * S, CRS = g->C * RS;
    const fc_int m = pl->m, k = pl->k;
    for (fc_int j0 = 0; j0 < m; j0 += FC_NR)
        for (fc_int p = 0; p < k; ++p) {
            const FC_T *src = w + p;
            fc_int step = k;
            if (flip) {
                const fc_int kk = p / RS, rs = p - kk * RS, r = rs / S, s = rs - r * S;
                src = w + kk * CRS + (R - 1 - r) * S + (S - 1 - s);
                step = RS;
            }
            for (fc_int j = j0; j < j0 + FC_NR; ++j)
                *bp++ = j < m ? src[j * step] : (FC_T)0;
        }
}

void FC_SFX(fc_conv_cvec_range)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                                const FC_T *bp, const FC_T *bias, const FC_T *res, int act,
                                FC_T act_param, FC_T *yall, void *work, fc_int p0, fc_int p1,
                                fc_int j0, fc_int j1)
{
    /* Workspace as the row-vector direct path's: (packed weights,) image, tables. */
    char *wk = (char *)fc_align_ptr(work) + pl->ap_bytes;
    FC_T *xp = (FC_T *)wk;
    fc_int *offs = (fc_int *)(wk + pl->x_bytes), *pbase = offs + pl->k;
    const fc_conv_geom *g = &pl->dg;
    const fc_padgeom *pg = &pl->pg;
    const fc_int Wr = pl->wrow, HWr = pl->xplane;
    const fc_int m = pl->m, k = pl->k, P = pl->n;
    const fc_int xs = g->C * g->H * g->W;
    FC_DIRECT_OFFSETS(pl, offs);
    for (fc_int p = p0; p < p1; ++p) {
        const fc_int oh = p / g->Wo, ow = p - oh * g->Wo;
        pbase[p] = (oh * g->stride_h - g->pad_top + pg->mt) * Wr + ow;
    }
    /* Broadcasts read exactly the taps, so a borderless image is read in place. */
    const int in_place = g->stride_w == 1 && pg->mt == 0 && pg->ml == 0 && pg->Hp == g->H &&
                         Wr == g->W && HWr == g->H * g->W;
    const int rows_only = !in_place && g->stride_w == 1 && p1 > p0;
    fc_int b0 = 0, b1 = 0;
    if (rows_only) {   /* only the bordered rows these pixels read */
        const fc_int top = pg->mt - g->pad_top;
        b0 = p0 / g->Wo * g->stride_h + top;
        b1 = FC_MIN(pg->Hp, (p1 - 1) / g->Wo * g->stride_h + top + (g->R - 1) * g->dil_h + 1);
    } else if (!in_place) {
        memset(xp, 0, (size_t)(g->C * HWr) * sizeof(FC_T));
    }
    FC_SFX(fc_akr_fn) akr = FC_SFX(fc_akr_select)();
    /* The AVX-512 kernel takes up to FC_CVEC_PANELS NR-wide output-channel panels
     * at once, one set of pixel broadcasts feeding two or three of them (the
     * AVX2 kernel's 6 x 16 tile runs at half the width), into a tile of rows
     * ts apart; every element is the same chain of multiply-adds either way. */
    FC_SFX(fc_akm_fn) akm = NULL;
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() == FC_SIMD_AVX512)
        akm = FC_SFX(fc_akm_select)();
#endif
    /* output channels a call: the tile's row stride too */
    const fc_int ts = akm ? FC_CVEC_PANELS * FC_NR : FC_NR;
    /* bias, residual and ReLU in the transposed write-back (the epilogue's order:
     * (y + b) + r, then max); another activation takes the epilogue pass */
    const int fused = act == FC_ACT_NONE || act == FC_ACT_RELU;
    const int relu = act == FC_ACT_RELU;
    FC_T tile[FC_MR * FC_CVEC_PANELS * FC_NR] __attribute__((aligned(64)));
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
    const int avx2 = FC_MR == 6 && FC_NR == 16 && fc_simd_path() >= FC_SIMD_AVX2;
#endif
    for (fc_int img = 0; img < nimg; ++img) {
        FC_T *y = yall + img * m * P;
        const FC_T *r = res ? res + img * m * P : NULL;
        const FC_T *xb = in_place ? x + img * xs : xp;
        if (rows_only)
            FC_SFX(fc_fill_rows)(g, pg, Wr, HWr, x + img * xs, xp, b0, b1, img == 0, 0);
        else if (!in_place)
            FC_SFX(fc_pad_image_phased)(g, pl, x + img * xs, xp);
        for (fc_int jb = j0; jb < j1; jb += ts) {
            const int nrb = (int)FC_MIN(ts, j1 - jb);
            const FC_T *b = bp + (jb / FC_NR) * FC_NR * k;
            for (fc_int p = p0; p < p1; p += FC_MR) {
                const int mr = (int)FC_MIN(FC_MR, p1 - p);
                const FC_T *rows[FC_MR];
                for (int i = 0; i < FC_MR; ++i)
                    rows[i] = xb + pbase[i < mr ? p + i : p];
                if (akm)
                    akm(k, rows, offs, b, FC_NR * k, tile, ts, (FC_T)0, mr, nrb);
                else
                    akr(k, rows, offs, b, tile, ts, (FC_T)0, mr, nrb);
                for (fc_int j = jb; j < jb + nrb; j += FC_NR) {
                    const int nr = (int)FC_MIN(FC_NR, jb + nrb - j);
                    const FC_T *t = tile + (j - jb);
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
                    if (avx2 && fused && mr == FC_MR && nr == FC_NR) {
                        fc_cvec_store_avx2_f32(t, ts, bias ? bias + j : NULL,
                                               r ? r + j * P + p : NULL, relu, y + j * P + p, P);
                        continue;
                    }
#endif
                    for (int jj = 0; jj < nr; ++jj) {
                        FC_T *yo = y + (j + jj) * P + p;
                        if (!fused) {
                            for (int i = 0; i < mr; ++i)
                                yo[i] = t[i * ts + jj];
                            continue;
                        }
                        const FC_T bi = bias ? bias[j + jj] : (FC_T)0;
                        const FC_T *ro = r ? r + (j + jj) * P + p : NULL;
                        for (int i = 0; i < mr; ++i) {
                            FC_T v = t[i * ts + jj];
                            if (bias)
                                v += bi;
                            if (ro)
                                v += ro[i];
                            yo[i] = relu ? (v > (FC_T)0 ? v : (FC_T)0) : v;
                        }
                    }
                }
            }
        }
        if (!fused) {
            FC_SFX(fc_conv_ctx) ctx;
            memset(&ctx, 0, sizeof(ctx));
            ctx.g = g;
            ctx.y = y;
            ctx.bias = bias;
            ctx.res = r;
            ctx.act = act;
            ctx.act_param = act_param;
            FC_SFX(fc_epi_bias_act)(&ctx, j0, j1 - j0, p0, p1 - p0);
        }
    }
}

#endif
