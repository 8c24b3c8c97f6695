/*
 * conv_forward_1x1.c -- forward 1x1 convolutions of small maps as one GEMM
 * across a run of images (fc_conv2d_forward_1x1_batch; overview in
 * conv_internal.h). Split from conv_forward.c, which had grown past 600 lines.
 */
#ifndef FC_T
#include "conv_internal.h"

/* 1x1 convolutions over a batch whose images have few pixels (the late
 * layers of MobileNet-style networks: 2x2, 4x4 maps): one GEMM over the
 * batch, Y (K x N*P) = W (K x C) . X (C x N*P), column j = image j / P,
 * pixel j % P, instead of one GEMM per image whose NR-wide tiles would be
 * mostly empty. B panels are gathered straight from the NCHW images; each
 * NC block of C is computed into a local buffer and scattered to the
 * images with bias and activation. Every element gets the per-image path's
 * arithmetic (same K blocks, same micro-kernel). */
#ifndef FC_1X1_BATCH_MAX_PIXELS
#define FC_1X1_BATCH_MAX_PIXELS 16
#endif
/* NC block: whole NR panels and whole images (so that each image's rows are
 * finished, and activated, in one piece as on the per-image path). */
static fc_int fc_1x1_batch_ncb(fc_int kcb, size_t elem, fc_int nr, fc_int P)
{
    fc_int unit = nr;
    while (unit % P)
        unit += nr;
    const fc_int target = FC_MIN(384, (fc_int)((384 * 1024) / ((size_t)kcb * elem)));
    return FC_MAX(unit, target / unit * unit);
}

int fc_conv2d_1x1_batch_ok(const fc_conv_geom *g, fc_int nimg)
{
    return fc_is_1x1(g) && nimg > 1 && g->Ho * g->Wo < FC_1X1_BATCH_MAX_PIXELS;
}

size_t fc_conv2d_1x1_batch_workspace_bytes(const fc_conv_geom *g, size_t elem)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32, nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int KC = elem == 8 ? FC_KC_F64 : FC_KC_F32;
    const fc_int kcb = fc_block_size(g->C, KC, 1);
    const fc_int ncb = fc_1x1_batch_ncb(kcb, elem, nr, g->Ho * g->Wo);
    return fc_align_up((size_t)kcb * (size_t)ncb * elem) +
           fc_align_up((size_t)fc_roundup(g->K, mr) * (size_t)ncb * elem) +
           fc_align_up((size_t)ncb * sizeof(fc_int)) + FC_ALIGN;
}

#define FC_TMPL_SELF "conv_forward_1x1.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

typedef struct FC_SFX(fc_1x1_batch_ctx) {
    const fc_conv_geom *g;
    const FC_T *x;
    FC_T *y, *cbuf;
    fc_int j0, ldc;    /* first column of the run; row stride of cbuf */
    fc_int k0;         /* the filter that is row 0 of the GEMM */
    fc_int *src;       /* per column of the NC block: image offset + pixel */
    const FC_T *bias, *res;
    int act;
    FC_T act_param;
} FC_SFX(fc_1x1_batch_ctx);

static void FC_SFX(fc_1x1_batch_packb)(void *vctx, fc_int pc, fc_int kc, fc_int jc, fc_int nc,
                                       FC_T *bp)
{
    FC_SFX(fc_1x1_batch_ctx) *ctx = (FC_SFX(fc_1x1_batch_ctx) *)vctx;
    const fc_int C = ctx->g->C, P = ctx->g->Ho * ctx->g->Wo;
    fc_int *src = ctx->src;
    if (P > 1 && FC_NR % P == 0) {
        /* Whole images to a panel (NC blocks are whole images): image by image, its
         * kc channel rows of P pixels are one contiguous run of x, copied P at a time
         * (2x2 maps: a 16-byte move; batch 64, 2 threads, 512 -> 512 channels 672 ->
         * 642 us: the column-by-column gather below was 7% of the layer). Single
         * pixels keep the gather, whose stores are whole panel rows (62 against 72 us
         * for 256 -> 256). */
        const fc_int per = FC_NR / P, n0 = (ctx->j0 + jc) / P;
        for (fc_int q = 0; q < nc; q += FC_NR) {
            const fc_int imgs = FC_MIN(per, (nc - q) / P);
            FC_T *dst = bp + q * kc;
            for (fc_int i = 0; i < imgs; ++i) {
                const FC_T *xs = ctx->x + (n0 + q / P + i) * C * P + pc * P;
                FC_T *d = dst + i * P;
                if (P == 4)
                    for (fc_int p = 0; p < kc; ++p)
                        memcpy(d + p * FC_NR, xs + p * 4, 4 * sizeof(FC_T));
                else
                    for (fc_int p = 0; p < kc; ++p)
                        for (fc_int t = 0; t < P; ++t)
                            d[p * FC_NR + t] = xs[p * P + t];
            }
            for (fc_int p = 0; imgs < per && p < kc; ++p)
                memset(dst + p * FC_NR + imgs * P, 0, (size_t)(FC_NR - imgs * P) * sizeof(FC_T));
        }
        return;
    }
    for (fc_int j = 0; j < nc; ++j) {
        const fc_int col = ctx->j0 + jc + j, n = col / P;
        src[j] = n * C * P + (col - n * P) + pc * P;
    }
    for (fc_int q = 0; q < nc; q += FC_NR) {
        const fc_int nr = FC_MIN(FC_NR, nc - q);
        FC_T *dst = bp + q * kc;
        for (fc_int p = 0; p < kc; ++p) {
            const FC_T *xr = ctx->x + p * P;
            fc_int j = 0;
            for (; j < nr; ++j)
                dst[j] = xr[src[q + j]];
            for (; j < FC_NR; ++j)
                dst[j] = 0;
            dst += FC_NR;
        }
    }
}

/* The epilogue's bias + ReLU pass for PP-pixel images (see fc_1x1_batch_epi), with the
 * pixel count and the two switches known to the compiler where they are constants. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_1x1_batch_out)(const FC_SFX(fc_1x1_batch_ctx) *ctx, const fc_int PP, const int biased,
                         const int relu, fc_int i0, fc_int mc, fc_int jc, fc_int nc)
{
    const fc_int K = ctx->g->K, ldc = ctx->ldc, per = PP < 16 ? 16 / PP : 1;
    for (fc_int j = 0; j < nc; j += per * PP) {
        const fc_int imgs = FC_MIN(per, (nc - j) / PP);
        const fc_int n0 = (ctx->j0 + jc + j) / PP;
        for (fc_int ir = i0; ir < i0 + mc; ++ir) {
            const FC_T *row = ctx->cbuf + ir * ldc + j;
            const FC_T bi = biased ? ctx->bias[ctx->k0 + ir] : (FC_T)0;
            FC_T *yr = ctx->y + (n0 * K + ctx->k0 + ir) * PP;
            for (fc_int i = 0; i < imgs; ++i, yr += K * PP, row += PP)
                for (fc_int t = 0; t < PP; ++t) {
                    FC_T v = row[t];
                    if (biased)
                        v += bi;
                    yr[t] = relu ? (v > (FC_T)0 ? v : (FC_T)0) : v;
                }
        }
    }
}

/* Scatter the finished block C[i0:i0+mc, jc:jc+nc] (local columns) to y.
 * Image by image: an image's rows i0..i0+mc are one contiguous run of y, so
 * each image is written as one stream of mc * P values (row by row, every
 * row visited its 64 images at a stride of K * P values, 8 KB for 512
 * filters on 2x2 maps: a fifth of the layer's time in this scatter). */
static void FC_SFX(fc_1x1_batch_epi)(void *vctx, fc_int i0, fc_int mc, fc_int jc, fc_int nc)
{
    const FC_SFX(fc_1x1_batch_ctx) *ctx = (const FC_SFX(fc_1x1_batch_ctx) *)vctx;
    const fc_int K = ctx->g->K, P = ctx->g->Ho * ctx->g->Wo, ldc = ctx->ldc;
    if (P == 4 && !ctx->res && (ctx->act == FC_ACT_NONE || ctx->act == FC_ACT_RELU)) {
        /* 2x2 maps: bias and ReLU on the way out, four images at a time -- each row's
         * run of their 16 columns is one cache line of the block, and each image's
         * rows are written in order (bias and ReLU over the block's rows, then the
         * scatter image by image, read the block twice). The same operations as
         * below: the same values. */
        const int biased = ctx->bias != NULL, relu = ctx->act == FC_ACT_RELU;
        if (biased && relu)
            FC_SFX(fc_1x1_batch_out)(ctx, 4, 1, 1, i0, mc, jc, nc);
        else if (biased)
            FC_SFX(fc_1x1_batch_out)(ctx, 4, 1, 0, i0, mc, jc, nc);
        else if (relu)
            FC_SFX(fc_1x1_batch_out)(ctx, 4, 0, 1, i0, mc, jc, nc);
        else
            FC_SFX(fc_1x1_batch_out)(ctx, 4, 0, 0, i0, mc, jc, nc);
        return;
    }
    /* Without a residual the activation runs once over each row, before the
     * scatter (elementwise: the same values). */
    const int act_row = !ctx->res && ctx->act != FC_ACT_NONE;
    for (fc_int ir = i0; ir < i0 + mc; ++ir) {
        FC_T *row = ctx->cbuf + ir * ldc;
        if (ctx->bias) {
            const FC_T bi = ctx->bias[ctx->k0 + ir];
            for (fc_int j = 0; j < nc; ++j)
                row[j] += bi;
        }
        if (act_row)
            FC_SFX(fc_activation_forward)(ctx->act, ctx->act_param, row, row, nc);
    }
    /* jc and nc are whole images (fc_1x1_batch_ncb, image-aligned runs). */
    for (fc_int j = 0; j < nc; j += P) {
        const fc_int at = (((ctx->j0 + jc + j) / P) * K + ctx->k0 + i0) * P;
        FC_T *yr = ctx->y + at;
        const FC_T *src = ctx->cbuf + i0 * ldc + j;
        if (P == 4) {
            for (fc_int ir = 0; ir < mc; ++ir)
                memcpy(yr + ir * 4, src + ir * ldc, 4 * sizeof(FC_T));
        } else if (P == 1) {
            for (fc_int ir = 0; ir < mc; ++ir)
                yr[ir] = src[ir * ldc];
        } else {
            for (fc_int ir = 0; ir < mc; ++ir)
                for (fc_int p = 0; p < P; ++p)
                    yr[ir * P + p] = src[ir * ldc + p];
        }
        if (ctx->res) {
            const FC_T *rr = ctx->res + at;
            for (fc_int q = 0; q < mc * P; ++q)
                yr[q] += rr[q];
        }
        if (ctx->act != FC_ACT_NONE && !act_row)
            FC_SFX(fc_activation_forward)(ctx->act, ctx->act_param, yr, yr, mc * P);
    }
}

void FC_SFX(fc_conv2d_forward_1x1_batch)(const fc_conv_geom *g, fc_int n0, fc_int n1,
                                         const FC_T *x, const void *packed, const FC_T *bias, const FC_T *res,
                                         int act, FC_T act_param, FC_T *y, void *work)
{
    FC_SFX(fc_conv2d_forward_1x1_batch_rows)(g, n0, n1, 0, g->K, x, packed, bias, res, act,
                                             act_param, y, work);
}

void FC_SFX(fc_conv2d_forward_1x1_batch_rows)(const fc_conv_geom *g, fc_int n0, fc_int n1,
                                              fc_int k0, fc_int k1, const FC_T *x,
                                              const void *packed, const FC_T *bias,
                                              const FC_T *res, int act, FC_T act_param, FC_T *y,
                                              void *work)
{
    const fc_int j0 = n0 * g->Ho * g->Wo, j1 = n1 * g->Ho * g->Wo;
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    const fc_int ncb = fc_1x1_batch_ncb(pl.kcb, sizeof(FC_T), FC_NR, pl.n);
    char *w = (char *)fc_align_ptr(work);
    FC_T *bbuf = (FC_T *)w;
    w += fc_align_up((size_t)pl.kcb * (size_t)ncb * sizeof(FC_T));
    FC_T *cbuf = (FC_T *)w;
    w += fc_align_up((size_t)fc_roundup(g->K, FC_MR) * (size_t)ncb * sizeof(FC_T));
    FC_SFX(fc_1x1_batch_ctx) ctx;
    ctx.g = g;
    ctx.x = x;
    ctx.y = y;
    ctx.cbuf = cbuf;
    ctx.j0 = j0;
    ctx.ldc = ncb;
    ctx.k0 = k0;
    ctx.src = (fc_int *)w;
    ctx.bias = bias;
    ctx.res = res;
    ctx.act = act;
    ctx.act_param = act_param;

    FC_SFX(fc_gemm_job) job;
    memset(&job, 0, sizeof(job));
    job.m = k1 - k0;
    job.n = j1 - j0;
    job.k = g->C;
    job.kcb = pl.kcb;
    job.mcb = pl.mcb;
    job.ncb = ncb;
    job.ap_full = (const FC_T *)packed;
    job.a_mpad = fc_roundup(g->K, FC_MR);
    job.a_row0 = k0;
    job.packb = FC_SFX(fc_1x1_batch_packb);
    job.packb_ctx = &ctx;
    job.c = cbuf;
    job.ldc = ncb;
    job.c_local = 1;
    job.beta = 0;
    job.epi = FC_SFX(fc_1x1_batch_epi);
    job.epi_ctx = &ctx;
    job.bbuf = bbuf;
    FC_SFX(fc_gemm_serial)(&job);
}

int FC_SFX(fc_conv_1x1_tiles)(const fc_conv_plan *pl, const fc_conv_geom *g, fc_int nimg,
                             const FC_T *x, const FC_T *ap, const FC_T *bias, const FC_T *res,
                             int act, FC_T *y)
{
    enum { CW = FC_NR / 2 };
    const fc_int P = g->Ho * g->Wo, k = pl->k, m = pl->m, kcb = pl->kcb, mcb = pl->mcb;
    FC_SFX(fc_dkn_fn) dkw = FC_SFX(fc_dkw_select)(3);
    if (!fc_is_1x1(g) || pl->direct || P != FC_NR || nimg < 3 || !dkw || res || k <= 0 ||
        m <= 0 || kcb > FC_KC || (act != FC_ACT_NONE && act != FC_ACT_RELU))
        return 0;
    FC_SFX(fc_dkr_fn) dkr = FC_SFX(fc_dkr_select)();
    FC_SFX(fc_dkn_fn) dkw8 = FC_SFX(fc_dkw_select)(4);
    const fc_int xs = k * P, ys = m * P, mpad = fc_roundup(m, FC_MR);
    fc_int offs[FC_KC];
    for (fc_int p = 0; p < kcb; ++p)
        offs[p] = p * P;
    for (fc_int pc = 0; pc < k; pc += kcb) {
        const fc_int kc = FC_MIN(kcb, k - pc);
        const FC_T beta = pc == 0 ? (FC_T)0 : (FC_T)1;
        const int last = pc + kc == k;
        const int rl = last && act == FC_ACT_RELU;
        for (fc_int ic = 0; ic < m; ic += mcb) {
            const fc_int mc = FC_MIN(mcb, m - ic);
            const FC_T *apc = ap + pc * mpad + ic * kc;
            const FC_T *bl = last && bias ? bias + ic : NULL;
            fc_int n = 0;
            /* four images a call, then three (each image one tile: two chunks) */
            for (int w = 0; w < 2; ++w) {
                const int ni = w == 0 ? 4 : 3;
                FC_SFX(fc_dkn_fn) kern = w == 0 ? dkw8 : dkw;
                for (; kern && n + ni <= nimg; n += ni) {
                    const FC_T *xq[8];
                    FC_T *cq[8];
                    int nq[8];
                    for (int q = 0; q < 2 * ni; ++q) {
                        xq[q] = x + (n + q / 2) * xs + pc * P + (q & 1) * CW;
                        cq[q] = y + (n + q / 2) * ys + ic * P + (q & 1) * CW;
                        nq[q] = CW;
                    }
                    kern(kc, apc, xq, offs, cq, P, beta, (int)mc, nq, bl, rl);
                }
            }
            for (; n < nimg; ++n) {
                const FC_T *x0 = x + n * xs + pc * P;
                FC_T *c0 = y + n * ys + ic * P;
                dkr(kc, apc, x0, x0 + CW, offs, c0, c0 + CW, P, beta, (int)mc, CW, CW, bl, rl);
            }
        }
    }
    return 1;
}

#endif
