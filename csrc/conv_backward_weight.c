/*
 * conv_backward_weight.c -- dW and db: the packed-col(x)^T GEMM path (one
 * image), and over a run of images the fc_akr path (K >= 16) and the
 * small-filter direct kernel (AVX2 + portable), overview in conv_internal.h.
 * The 1x1 small-map path is in conv_backward_weight_1x1.c, the small-filter direct
 * kernels in conv_backward_weight_small.c.
 */
#ifndef FC_T
#include "conv_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#include "transpose8_avx2.h"
#endif

/* Lanes of the bias gradient's row sums (fc_bw_bias_body) */
#define FC_BW_BIAS_LANES 32

#ifdef FC_HAVE_X86_AVX2_KERNELS

/* The direct path's B = src^T (K8 rows of P pixels, K8 a multiple of 8: dY, or x for a
 * 1x1 layer's swapped operands) packed as fc_pack_b_t_f32 packs it, and, with db,
 * db[k] += each row's sum in fc_bw_bias's order (lane = pixel mod 32, each lane in pixel
 * order, then the same tree): the same bits from one read of dY instead of two (the
 * separate sum was a tenth of a 64 -> 128 pointwise layer's weight gradient on 16x16
 * maps, every read from L3). */
static __attribute__((target("avx2,fma"))) void
fc_pack_rows_t_avx2(fc_int P, fc_int K8, const float *dy, float *bp, float *db)
{
    const fc_int P8 = P / 8 * 8;
    for (fc_int j0 = 0; j0 < K8; j0 += 8) {
        float *dst = bp + (j0 / FC_NR_F32) * FC_NR_F32 * P + (j0 % FC_NR_F32);
        const float *src = dy + j0 * P;
        __m256 acc[8][4];
        for (int j = 0; j < 8; ++j)
            for (int c = 0; c < 4; ++c)
                acc[j][c] = _mm256_setzero_ps();
        for (fc_int p0 = 0; p0 < P8;) {
            for (int c = 0; c < 4 && p0 < P8; ++c, p0 += 8) {
                __m256 v[8];
                for (int j = 0; j < 8; ++j) {
                    v[j] = _mm256_loadu_ps(src + j * P + p0);
                    acc[j][c] = _mm256_add_ps(acc[j][c], v[j]);
                }
                fc_transpose8x8_ps(v);
                for (int p = 0; p < 8; ++p)
                    _mm256_storeu_ps(dst + (p0 + p) * FC_NR_F32, v[p]);
            }
        }
        for (int j = 0; j < 8; ++j) {
            float sum[FC_BW_BIAS_LANES];
            for (int c = 0; c < 4; ++c)
                _mm256_storeu_ps(sum + 8 * c, acc[j][c]);
            for (fc_int p = P8; p < P; ++p) {
                dst[p * FC_NR_F32 + j] = src[j * P + p];
                sum[p % FC_BW_BIAS_LANES] += src[j * P + p];
            }
            for (int w = FC_BW_BIAS_LANES / 2; w >= 1; w /= 2)
                for (int l = 0; l < w; ++l)
                    sum[l] = sum[l] + sum[l + w];
            if (db)
                db[j0 + j] += sum[0];
        }
    }
}

/* dw (K x T, row stride T) += dwt^T (dwt: T x K): 8 x 8 blocks through registers, the
 * edges element by element. One add per element, as the scalar loop: the same bits.
 * (The scalar loop's strided reads were a twentieth of a transposed layer's weight
 * gradient: once per run of images over 32 K weights.) */
static __attribute__((target("avx2,fma"))) void
fc_add_transposed_avx2(fc_int K, fc_int T, const float *dwt, float *dw)
{
    const fc_int K8 = K / 8 * 8, T8 = T / 8 * 8;
    for (fc_int k0 = 0; k0 < K8; k0 += 8)
        for (fc_int t0 = 0; t0 < T8; t0 += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; ++i)
                v[i] = _mm256_loadu_ps(dwt + (t0 + i) * K + k0);
            fc_transpose8x8_ps(v);
            for (int i = 0; i < 8; ++i) {
                float *d = dw + (k0 + i) * T + t0;
                _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), v[i]));
            }
        }
    for (fc_int k = 0; k < K; ++k)
        for (fc_int t = k < K8 ? T8 : 0; t < T; ++t)
            dw[k * T + t] += dwt[t * K + k];
}

#endif /* FC_HAVE_X86_AVX2_KERNELS */

#define FC_TMPL_SELF "conv_backward_weight.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* Backward-weight B packer: B(p, j) = col(x)[j0 + j][p0 + p], p = output
 * pixel, j = (c, r, s). Written row by row (one pixel = NR taps). */
static void FC_SFX(fc_pack_im2col_t)(void *vctx, fc_int p0, fc_int kc, fc_int j0, fc_int nc,
                                     FC_T *bp)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_conv_geom *g = ctx->g;
    fc_seg *sg = ctx->segs;
    const fc_int RS = g->R * g->S, Wp = ctx->pg.Wp, HWp = ctx->pg.Hp * ctx->pg.Wp;
    const fc_int sw = g->stride_w, dhW = g->dil_h * Wp, dw = g->dil_w;
    const fc_int ns = fc_make_segs(g, &ctx->pg, p0, kc, 0, sg);
    fc_int c = j0 / RS, rs = j0 - c * RS;
    fc_int r = rs / g->S, s = rs - r * g->S;
    fc_int offs[FC_NR];
    for (fc_int jp = 0; jp * FC_NR < nc; ++jp) {
        const fc_int nr = FC_MIN(FC_NR, nc - jp * FC_NR);
        FC_T *dst = bp + jp * FC_NR * kc;
        for (fc_int j = 0; j < nr; ++j) {
            offs[j] = c * HWp + r * dhW + s * dw;
            if (++s == g->S) {
                s = 0;
                if (++r == g->R) {
                    r = 0;
                    ++c;
                }
            }
        }
        for (fc_int q = 0; q < ns; ++q) {
            const fc_int len = sg[q].len;
            const FC_T *src = ctx->xp + sg[q].base;
            FC_T *d = dst + sg[q].dst * FC_NR;
            if (nr == FC_NR) {
                for (fc_int t = 0; t < len; ++t) {
                    const FC_T *st = src + t * sw;
                    for (int j = 0; j < FC_NR; ++j)
                        d[j] = st[offs[j]];
                    d += FC_NR;
                }
            } else {
                for (fc_int t = 0; t < len; ++t) {
                    const FC_T *st = src + t * sw;
                    fc_int j = 0;
                    for (; j < nr; ++j)
                        d[j] = st[offs[j]];
                    for (; j < FC_NR; ++j)
                        d[j] = 0;
                    d += FC_NR;
                }
            }
        }
    }
}

/* Row sums of dY into db (db[k] += ...), fixed order: FC_BW_BIAS_LANES lanes (lane =
 * pixel mod 32, each summed in pixel order), then a fixed tree -- lanes the compiler
 * turns into vectors of any width with the same sums. Scalar chains ran about a pixel
 * a cycle (an eighth to a fifth of a biased 1x1 convolution's weight gradient), 16
 * lanes were 4 add-latency-bound SSE chains (a tenth of a 64 x 128 x 16 x 16 pointwise
 * layer's); 32 are 8 SSE or 4 AVX2 chains. The AVX2 twin is the same code: same bits. */

/* Rows shorter than the lanes (maps under 32 pixels: MobileNet's 4x4 and 2x2) hold one
 * pixel a lane and zeros past P, which the tree adds to nothing: only its pairs below P
 * are summed, P - 1 additions a row where the whole tree took 31 (0.43 of a 256 -> 512
 * pointwise layer's 1.2 ms backward on 2x2 maps, batch 64). Same bits: a lane is never
 * -0 (it starts at +0), so adding a zero lane changes nothing. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_bw_bias_short)(fc_int K, fc_int P, const FC_T *dyn, FC_T *db)
{
    enum { L = FC_BW_BIAS_LANES };
    for (fc_int kk = 0; kk < K; ++kk) {
        const FC_T *row = dyn + kk * P;
        FC_T s[L];
        for (fc_int l = 0; l < P; ++l)
            s[l] = (FC_T)0 + row[l];
        for (fc_int w = L / 2; w >= 1; w /= 2)
            for (fc_int l = 0; l < w && l + w < P; ++l)
                s[l] = s[l] + s[l + w];
        db[kk] += s[0];
    }
}

static inline __attribute__((always_inline)) void
FC_SFX(fc_bw_bias_body)(fc_int K, fc_int P, const FC_T *dyn, FC_T *db)
{
    enum { L = FC_BW_BIAS_LANES };
    if (P < L) {
        FC_SFX(fc_bw_bias_short)(K, P, dyn, db);
        return;
    }
    for (fc_int kk = 0; kk < K; ++kk) {
        const FC_T *row = dyn + kk * P;
        FC_T s[L] = {0};
        fc_int p = 0;
        for (; p + L <= P; p += L) {
#pragma GCC unroll 32
            for (int l = 0; l < L; ++l)
                s[l] += row[p + l];
        }
        for (int l = 0; p < P; ++p, ++l)
            s[l] += row[p];
        for (int w = L / 2; w >= 1; w /= 2)
            for (int l = 0; l < w; ++l)
                s[l] = s[l] + s[l + w];
        db[kk] += s[0];
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2"))) static void
FC_SFX(fc_bw_bias_avx2)(fc_int K, fc_int P, const FC_T *dyn, FC_T *db)
{
    FC_SFX(fc_bw_bias_body)(K, P, dyn, db);
}
#endif

void FC_SFX(fc_bw_bias)(fc_int K, fc_int P, const FC_T *dyn, FC_T *db)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2) {
        FC_SFX(fc_bw_bias_avx2)(K, P, dyn, db);
        return;
    }
#endif
    FC_SFX(fc_bw_bias_body)(K, P, dyn, db);
}

void FC_SFX(fc_bias_grad_part)(fc_int N, fc_int K, fc_int P, const FC_T *dy, FC_T *db, fc_int k0,
                               fc_int k1)
{
    if (k1 <= k0)
        return;
    memset(db + k0, 0, (size_t)(k1 - k0) * sizeof(FC_T));
    for (fc_int n = 0; n < N; ++n)
        FC_SFX(fc_bw_bias)(k1 - k0, P, dy + (n * K + k0) * P, db + k0);
}

void FC_SFX(fc_conv2d_backward_weight)(const fc_conv_geom *g, const FC_T *x, const FC_T *dy,
                                       FC_T *dw, FC_T *db, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_BWD_WEIGHT, sizeof(FC_T), &pl);
    FC_T *ap, *bb, *tmp, *xp;
    fc_seg *segs;
    FC_SFX(fc_conv_carve)(&pl, work, &ap, &bb, &tmp, &segs, &xp);
    const fc_int K = pl.m, CRS = pl.n, P = pl.k;

    if (db)
        FC_SFX(fc_bw_bias)(K, P, dy, db);

    /* A = dY (K x P). */
    FC_SFX(fc_pack_a_full)(K, P, pl.kcb, dy, P, 1, ap);

    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.pg = pl.pg;
    ctx.xp = xp;
    ctx.segs = segs;
    if (!pl.one_by_one)
        FC_SFX(fc_pad_image)(g, &pl.pg, x, xp);

    FC_SFX(fc_gemm_job) job;
    memset(&job, 0, sizeof(job));
    job.m = K;
    job.n = CRS;
    job.k = P;
    job.kcb = pl.kcb;
    job.mcb = pl.mcb;
    job.ncb = pl.ncb;
    job.ap_full = ap;
    if (pl.one_by_one) {
        /* col(x)^T (P x C) = x^T. */
        job.b = x;
        job.rsb = 1;
        job.csb = P;
    } else {
        job.packb = FC_SFX(fc_pack_im2col_t);
        job.packb_ctx = &ctx;
    }
    job.c = dw;
    job.ldc = CRS;
    job.beta = 1;
    job.bbuf = bb;
    FC_SFX(fc_gemm_serial)(&job);
}

void FC_SFX(fc_conv2d_backward_weight_filters_part)(const fc_conv_geom *g, fc_int nimg,
                                                    const FC_T *x, const FC_T *dy, FC_T *dw,
                                                    FC_T *db, int part, int nparts, void *work)
{
    fc_conv_plan fp;
    if (!fc_wino_bw_filters_plan(g, nimg, sizeof(FC_T), &fp))
        return;
    fc_int k0, k1;
    fc_split_range(g->K, FC_MR, part, nparts, &k0, &k1);
    FC_SFX(fc_conv_wino_bw_filters)(&fp, nimg, x, dy, dw, db, k0, k1, work);
}

void FC_SFX(fc_conv2d_backward_weight_batch)(const fc_conv_geom *g, fc_int nimg, const FC_T *x,
                                             const FC_T *dy, FC_T *dw, FC_T *db, void *work)
{
    const fc_int C = g->C, K = g->K, RS = g->R * g->S, CRS = C * RS, P = g->Ho * g->Wo;
    const fc_int xs = C * g->H * g->W;
    if (fc_bw_small_ok(g, sizeof(FC_T))) {
        FC_SFX(fc_bw_small_run)(g, nimg, x, dy, dw, db, work);
        return;
    }
    {
        fc_conv_plan fp;
        fc_wino_bw_plan_make(g, sizeof(FC_T), &fp);
        if (fp.wino) {
            FC_SFX(fc_conv_wino_bw_run)(&fp, nimg, x, dy, dw, db, work);
            return;
        }
    }
    if (!fc_bw_direct_ok(g)) {
        for (fc_int n = 0; n < nimg; ++n)
            FC_SFX(fc_conv2d_backward_weight)(g, x + n * xs, dy + n * K * P, dw, db, work);
        return;
    }
    fc_bw_plan pl;
    fc_bw_plan_make(g, sizeof(FC_T), &pl);
    char *wk = (char *)fc_align_ptr(work);
    FC_T *dwt = (FC_T *)wk;
    FC_T *xp = (FC_T *)(wk + pl.t_bytes);
    FC_T *bpk = (FC_T *)(wk + pl.t_bytes + pl.x_bytes);
    fc_int *poff = (fc_int *)(wk + pl.t_bytes + pl.x_bytes + pl.b_bytes);
    fc_int *toff = poff + P;
    const fc_int Wp = pl.pg.Wp, HWp = pl.pg.Hp * pl.pg.Wp;
    /* A 1x1 layer's rows are x's own channel planes: no zero-bordered copy. With
     * fewer input than output channels it swaps the operands, dW = dY . X^T: dY's rows
     * are broadcast in place and X^T is the one packed -- the smaller operand, whose
     * panels the kernel rereads from L1 (64 -> 128 channels on 16x16 maps: the packing
     * of dY^T was a fifth of the pass). Every product and its order are unchanged
     * (a * b == b * a): the same bits. Measured (AVX-512, 2 threads, batch 64): no
     * bias, 32 -> 64 on 16x16 311 -> 230 us, 16 -> 32 on 32x32 412 -> 388; with a
     * bias the row sums of dY become a pass of their own (the dY^T packing took them
     * along), which still pays on 16x16 maps (312 -> 268 us) but not on 32x32 (412 ->
     * 494): there the operands stay as they are. */
    const int one = fc_is_1x1(g), swap = one && C < K && (!db || P <= 256);
    const fc_int arows = swap ? K : CRS, bcols = swap ? C : K;
    if (one) {
        for (fc_int p = 0; p < P; ++p)
            poff[p] = p;
        for (fc_int c = 0; c < arows; ++c)
            toff[c] = c * P;
    } else {
        fc_int p = 0;
        for (fc_int oh = 0; oh < g->Ho; ++oh)
            for (fc_int ow = 0; ow < g->Wo; ++ow)
                poff[p++] = (oh * g->stride_h - g->pad_top + pl.pg.mt) * Wp +
                            (ow * g->stride_w - g->pad_left + pl.pg.ml);
        fc_int t = 0;
        for (fc_int c = 0; c < C; ++c)
            for (fc_int r = 0; r < g->R; ++r)
                for (fc_int s2 = 0; s2 < g->S; ++s2)
                    toff[t++] = c * HWp + r * g->dil_h * Wp + s2 * g->dil_w;
    }
    memset(dwt, 0, (size_t)(CRS * K) * sizeof(FC_T));
    if (!one)
        memset(xp, 0, (size_t)(C * HWp) * sizeof(FC_T)); /* border: once for the run */
    FC_SFX(fc_akm_fn) akm = FC_SFX(fc_akm_select)();
    /* AVX-512 takes all K filters per call, feeding up to three B panels (NR * P
     * apart in bpk) from one set of row broadcasts; one panel at a time otherwise,
     * which keeps it in L1 while the rows stream. */
    const fc_int jstep = fc_simd_path() == FC_SIMD_AVX512 ? bcols : FC_NR;
    const fc_int kcb = pl.kcb;
    /* Few taps and at most two B panels: the tall kernel takes all the taps of up to
     * tall image rows (channel, filter row) per call, in balanced groups. */
    int tall = 0;
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (!one && g->dil_w == 1 && fc_simd_path() == FC_SIMD_AVX512)
        tall = fc_bwt_max_rows((int)g->S, (int)((K + FC_NR - 1) / FC_NR));
#endif
    const fc_int nrow = C * g->R, ngroup = tall ? (nrow + tall - 1) / tall : 0;
    const fc_int gsize = tall ? (nrow + ngroup - 1) / ngroup : 0;
    for (fc_int n = 0; n < nimg; ++n) {
        const FC_T *dyn = dy + n * K * P, *xr = xp;
        if (one)
            xr = x + n * xs;
        else
            FC_SFX(fc_copy_interior)(g, &pl.pg, Wp, HWp, x + n * xs, xp);
        /* B = dY^T (P x K): element (p, k) at dyn[k*P + p]; swapped, X^T (P x C) */
        const FC_T *bsrc = swap ? xr : dyn, *arow = swap ? dyn : xr;
        FC_T *bdb = swap ? NULL : db;
        if (swap && db)
            FC_SFX(fc_bw_bias)(K, P, dyn, db);
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
        if (fc_simd_path() >= FC_SIMD_AVX2 && bcols >= 8) {
            const fc_int K8 = bcols / 8 * 8;
            fc_pack_rows_t_avx2(P, K8, bsrc, bpk, bdb);
            if (K8 < bcols) {   /* the last panel's columns K8 % NR .. NR - 1 */
                FC_T *d = bpk + K8 / FC_NR * FC_NR * P;
                for (fc_int p = 0; p < P; ++p)
                    for (fc_int j = K8 % FC_NR; j < FC_NR; ++j)
                        d[p * FC_NR + j] = K8 / FC_NR * FC_NR + j < bcols
                                               ? bsrc[(K8 / FC_NR * FC_NR + j) * P + p] : (FC_T)0;
                if (bdb)
                    FC_SFX(fc_bw_bias)(bcols - K8, P, bsrc + K8 * P, bdb + K8);
            }
        } else
#endif
        {
            if (bdb)
                FC_SFX(fc_bw_bias)(bcols, P, bsrc, bdb);
            FC_SFX(fc_pack_b_t)(P, bcols, bsrc, P, bpk);
        }
        for (fc_int pc = 0; pc < P; pc += kcb) {
            const fc_int kc = FC_MIN(kcb, P - pc);
#ifdef FC_HAVE_X86_AVX2_KERNELS
            if (tall) {
                for (fc_int q0 = 0; q0 < nrow; q0 += gsize) {
                    const int nq = (int)FC_MIN(gsize, nrow - q0);
                    const FC_T *rows[9];
                    for (int q = 0; q < nq; ++q)
                        rows[q] = xr + toff[(q0 + q) * g->S];
                    FC_SFX(fc_bwt_avx512)(kc, rows, nq, (int)g->S, poff + pc, bpk + pc * FC_NR,
                                          FC_NR * P, dwt + q0 * g->S * K, K, (int)K);
                }
                continue;
            }
#endif
            for (fc_int j0 = 0; j0 < bcols; j0 += jstep) {
                const int nr = (int)FC_MIN(jstep, bcols - j0);
                const FC_T *bpp = bpk + j0 * P + pc * FC_NR;
                for (fc_int i0 = 0; i0 < arows; i0 += FC_MR) {
                    const int mr = (int)FC_MIN(FC_MR, arows - i0);
                    const FC_T *rows[FC_MR];
                    for (int i = 0; i < FC_MR; ++i)
                        rows[i] = arow + toff[i0 + (i < mr ? i : 0)];
                    akm(kc, rows, poff + pc, bpp, FC_NR * P, dwt + i0 * bcols + j0, bcols,
                        (FC_T)1, mr, nr);
                }
            }
        }
    }
    if (swap) {   /* dwt is dW's own layout (K x C) */
        for (fc_int i = 0; i < K * CRS; ++i)
            dw[i] += dwt[i];
        return;
    }
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    if (fc_simd_path() >= FC_SIMD_AVX2) {
        fc_add_transposed_avx2(K, CRS, dwt, dw);
        return;
    }
#endif
    /* dw += dwt^T, in 16 x 16 blocks (both sides stay in cache lines). */
    for (fc_int k0 = 0; k0 < K; k0 += 16) {
        const fc_int k1 = FC_MIN(K, k0 + 16);
        for (fc_int t0 = 0; t0 < CRS; t0 += 16) {
            const fc_int t1 = FC_MIN(CRS, t0 + 16);
            for (fc_int kk = k0; kk < k1; ++kk)
                for (fc_int t = t0; t < t1; ++t)
                    dw[kk * CRS + t] += dwt[t * K + kk];
        }
    }
}

#endif
