/*
 * conv.c -- one image's 2-D cross-correlation and its gradients as implicit
 * GEMMs on the packed GEMM machinery (gemm_internal.h). All serial: the
 * caller (Cython prange over images) owns the threads; each call uses only
 * its own workspace `work` (fc_conv2d_workspace_bytes), any alignment
 * (aligned up to 64 bytes internally; the size includes the slack).
 *
 *   forward:   Y (K x P) = W (K x CRS) . col(x) (CRS x P), P = Ho*Wo,
 *              the B panels of col(x) packed straight from the image;
 *              bias + activation applied to each finished block of Y.
 *   bwd data:  dcol (CRS x P) = W^T . dY, computed block by block into a
 *              scratch tile and scattered (col2im) into dx right away.
 *   bwd weight: dW (K x CRS) += dY (K x P) . col(x)^T, col(x)^T packed
 *              straight from the image; db += row sums of dY.
 * 1x1 / stride 1 / no padding convolutions skip the im2col machinery.
 */
#ifndef FC_T
#include <stdlib.h>
#include "gemm_internal.h"

/* A run of output pixels on one output row: input row ih0 + r*dil_h,
 * input column iw0 + s*dil_w + t*stride_w for t < len; `dst` is where the
 * run goes in the destination (meaning depends on the user). A segment with
 * ih0 == FC_SEG_ZERO stands for zero padding. */
typedef struct fc_seg {
    fc_int ih0, iw0, len, dst;
} fc_seg;
#define FC_SEG_ZERO (-((fc_int)1 << 60))

/* [lo, hi) = the t in [0, len) with 0 <= iw0 + t*sw < W. */
static inline void fc_valid_range(fc_int iw0, fc_int sw, fc_int W, fc_int len, fc_int *lo,
                                  fc_int *hi)
{
    fc_int l = 0, h;
    if (iw0 < 0)
        l = (-iw0 + sw - 1) / sw;
    if (iw0 >= W)
        h = 0;
    else
        h = (W - iw0 + sw - 1) / sw;
    if (h > len)
        h = len;
    if (l > h)
        l = h;
    *lo = l;
    *hi = h;
}

/* Build segments for the pixel run [p0, p0 + n): one per output row piece.
 * dst = base + offset of the pixel within the run. Returns the count. */
static fc_int fc_make_segs(const fc_conv_geom *g, fc_int p0, fc_int n, fc_int base, fc_seg *sg)
{
    fc_int ns = 0, off = 0, p = p0;
    fc_int oh = p0 / g->Wo, ow = p0 - oh * g->Wo;
    while (off < n) {
        fc_int len = FC_MIN(n - off, g->Wo - ow);
        sg[ns].ih0 = oh * g->stride_h - g->pad_top;
        sg[ns].iw0 = ow * g->stride_w - g->pad_left;
        sg[ns].len = len;
        sg[ns].dst = base + off;
        ++ns;
        off += len;
        p += len;
        ow = 0;
        ++oh;
    }
    return ns;
}

enum { FC_OP_FWD = 0, FC_OP_BWD_DATA = 1, FC_OP_BWD_WEIGHT = 2 };

typedef struct fc_conv_plan {
    int one_by_one;        /* 1x1, stride 1, no padding: col(x) == x */
    fc_int m, n, k;
    fc_int kcb, mcb, ncb;
    size_t ap_bytes, b_bytes, t_bytes, s_bytes, a_bytes; /* a: per-block A (unused) */
    size_t total;
} fc_conv_plan;

static int fc_is_1x1(const fc_conv_geom *g)
{
    return g->R == 1 && g->S == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
           g->pad_left == 0 && g->Ho == g->H && g->Wo == g->W;
}

/* Byte budgets that set the NC block of the conv GEMMs (B block kc x nc kept
 * in L2 with the C block; scratch tile of bwd data likewise). */
#define FC_CONV_B_BYTES (384 * 1024)
#define FC_CONV_T_BYTES (256 * 1024)

static void fc_conv_plan_make(const fc_conv_geom *g, int op, size_t elem, fc_conv_plan *pl)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int KC = elem == 8 ? FC_KC_F64 : FC_KC_F32;
    const fc_int MC = elem == 8 ? FC_MC_F64 : FC_MC_F32;
    const fc_int P = g->Ho * g->Wo, CRS = g->C * g->R * g->S;
    memset(pl, 0, sizeof(*pl));
    pl->one_by_one = fc_is_1x1(g);
    if (op == FC_OP_FWD) {
        pl->m = g->K; pl->n = P; pl->k = CRS;
    } else if (op == FC_OP_BWD_DATA) {
        pl->m = CRS; pl->n = P; pl->k = g->K;
    } else {
        pl->m = g->K; pl->n = CRS; pl->k = P;
    }
    const fc_int mpad = fc_roundup(pl->m, mr);
    pl->kcb = fc_block_size(pl->k, KC, 1);
    pl->mcb = fc_block_size(pl->m, MC, mr);
    fc_int ncmax = (fc_int)(FC_CONV_B_BYTES / ((size_t)pl->kcb * elem)) / nr * nr;
    if (op == FC_OP_BWD_DATA && !pl->one_by_one) {
        fc_int t = (fc_int)(FC_CONV_T_BYTES / ((size_t)mpad * elem)) / nr * nr;
        ncmax = FC_MIN(ncmax, t);
    }
    ncmax = FC_MAX(ncmax, nr);
    ncmax = FC_MIN(ncmax, 8192);
    pl->ncb = fc_block_size(pl->n, ncmax, nr);
    pl->ap_bytes = fc_align_up((size_t)mpad * (size_t)FC_MAX(pl->k, 1) * elem);
    pl->b_bytes = fc_align_up((size_t)pl->kcb * (size_t)pl->ncb * elem);
    if (op == FC_OP_BWD_DATA && !pl->one_by_one)
        pl->t_bytes = fc_align_up((size_t)mpad * (size_t)pl->ncb * elem);
    pl->s_bytes = fc_align_up((size_t)(FC_MAX(pl->kcb, pl->ncb) + pl->ncb / nr + 8) * sizeof(fc_seg));
    pl->total = pl->ap_bytes + pl->b_bytes + pl->t_bytes + pl->s_bytes + FC_ALIGN;
}

size_t fc_conv2d_workspace_bytes(const fc_conv_geom *g, size_t elem)
{
    size_t best = 0;
    for (int op = 0; op < 3; ++op) {
        fc_conv_plan pl;
        fc_conv_plan_make(g, op, elem, &pl);
        if (pl.total > best)
            best = pl.total;
    }
    return best;
}

#define FC_TMPL_SET 32
#include "gemm_internal.h"
#include "conv.c"
#define FC_TMPL_SET 64
#include "gemm_internal.h"
#include "conv.c"
#define FC_TMPL_SET 0
#include "gemm_internal.h"

#else /* ------------------------- template body ------------------------- */

typedef struct FC_SFX(fc_conv_ctx) {
    const fc_conv_geom *g;
    const FC_T *x;     /* image being packed (forward / bwd weight) */
    fc_seg *segs;
    /* epilogues */
    FC_T *y;
    const FC_T *bias;
    int act;
    FC_T act_param;
    FC_T *tmp;         /* bwd data: C block scratch, ldc = ldt */
    fc_int ldt;
    FC_T *dx;
} FC_SFX(fc_conv_ctx);

/* Forward B packer: B(p, j) = col(x)[p0 + p][j0 + j], p = (c, r, s),
 * j = output pixel. Each k-row of a micro-panel is assembled from the runs
 * of its pixels that lie on one output row. */
static void FC_SFX(fc_pack_im2col)(void *vctx, fc_int p0, fc_int kc, fc_int j0, fc_int nc,
                                   FC_T *bp)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_conv_geom *g = ctx->g;
    fc_seg *sg = ctx->segs;
    const fc_int H = g->H, W = g->W, HW = g->H * g->W, RS = g->R * g->S;
    const fc_int sw = g->stride_w, dh = g->dil_h, dw = g->dil_w;
    fc_int ns = 0;
    for (fc_int jp = 0; jp * FC_NR < nc; ++jp) {
        const fc_int nr = FC_MIN(FC_NR, nc - jp * FC_NR);
        ns += fc_make_segs(g, j0 + jp * FC_NR, nr, jp * FC_NR * kc, sg + ns);
        if (nr < FC_NR) {
            sg[ns].ih0 = FC_SEG_ZERO;
            sg[ns].iw0 = 0;
            sg[ns].len = FC_NR - nr;
            sg[ns].dst = jp * FC_NR * kc + nr;
            ++ns;
        }
    }
    fc_int c = p0 / RS, rs = p0 - c * RS;
    fc_int r = rs / g->S, s = rs - r * g->S;
    for (fc_int kk = 0; kk < kc; ++kk) {
        const FC_T *xc = ctx->x + c * HW;
        const fc_int rdh = r * dh, sdw = s * dw;
        FC_T *bk = bp + kk * FC_NR;
        for (fc_int q = 0; q < ns; ++q) {
            const fc_int ih = sg[q].ih0 + rdh, len = sg[q].len;
            FC_T *d = bk + sg[q].dst;
            if ((uint64_t)ih >= (uint64_t)H) {
                for (fc_int t = 0; t < len; ++t)
                    d[t] = 0;
                continue;
            }
            const FC_T *row = xc + ih * W;
            const fc_int iw0 = sg[q].iw0 + sdw;
            fc_int lo, hi;
            fc_valid_range(iw0, sw, W, len, &lo, &hi);
            fc_int t = 0;
            for (; t < lo; ++t)
                d[t] = 0;
            if (sw == 1) {
                const FC_T *src = row + iw0;
                for (; t < hi; ++t)
                    d[t] = src[t];
            } else {
                for (; t < hi; ++t)
                    d[t] = row[iw0 + t * sw];
            }
            for (; t < len; ++t)
                d[t] = 0;
        }
        if (++s == g->S) {
            s = 0;
            if (++r == g->R) {
                r = 0;
                ++c;
            }
        }
    }
}

/* Backward-weight B packer: B(p, j) = col(x)[j0 + j][p0 + p], p = output
 * pixel, j = (c, r, s). */
static void FC_SFX(fc_pack_im2col_t)(void *vctx, fc_int p0, fc_int kc, fc_int j0, fc_int nc,
                                     FC_T *bp)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_conv_geom *g = ctx->g;
    fc_seg *sg = ctx->segs;
    const fc_int H = g->H, W = g->W, HW = g->H * g->W, RS = g->R * g->S;
    const fc_int sw = g->stride_w, dh = g->dil_h, dw = g->dil_w;
    const fc_int ns = fc_make_segs(g, p0, kc, 0, sg);
    fc_int c = j0 / RS, rs = j0 - c * RS;
    fc_int r = rs / g->S, s = rs - r * g->S;
    for (fc_int jp = 0; jp * FC_NR < nc; ++jp) {
        const fc_int nr = FC_MIN(FC_NR, nc - jp * FC_NR);
        FC_T *dst = bp + jp * FC_NR * kc;
        for (fc_int j = 0; j < nr; ++j) {
            const FC_T *xc = ctx->x + c * HW;
            const fc_int rdh = r * dh, sdw = s * dw;
            for (fc_int q = 0; q < ns; ++q) {
                const fc_int ih = sg[q].ih0 + rdh, len = sg[q].len;
                FC_T *d = dst + sg[q].dst * FC_NR + j;
                if ((uint64_t)ih >= (uint64_t)H) {
                    for (fc_int t = 0; t < len; ++t)
                        d[t * FC_NR] = 0;
                    continue;
                }
                const FC_T *row = xc + ih * W;
                const fc_int iw0 = sg[q].iw0 + sdw;
                fc_int lo, hi;
                fc_valid_range(iw0, sw, W, len, &lo, &hi);
                fc_int t = 0;
                for (; t < lo; ++t)
                    d[t * FC_NR] = 0;
                for (; t < hi; ++t)
                    d[t * FC_NR] = row[iw0 + t * sw];
                for (; t < len; ++t)
                    d[t * FC_NR] = 0;
            }
            if (++s == g->S) {
                s = 0;
                if (++r == g->R) {
                    r = 0;
                    ++c;
                }
            }
        }
        for (fc_int j = nr; j < FC_NR; ++j)
            for (fc_int kk = 0; kk < kc; ++kk)
                dst[kk * FC_NR + j] = 0;
    }
}

/* Forward epilogue: Y[i, j] = act(Y[i, j] + bias[i]) on a finished block. */
static void FC_SFX(fc_epi_bias_act)(void *vctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_int P = ctx->g->Ho * ctx->g->Wo;
    for (fc_int i = i0; i < i0 + mc; ++i) {
        FC_T *row = ctx->y + i * P + j0;
        if (ctx->bias) {
            const FC_T bi = ctx->bias[i];
            for (fc_int j = 0; j < nc; ++j)
                row[j] += bi;
        }
        if (ctx->act != FC_ACT_NONE)
            FC_SFX(fc_activation_forward)(ctx->act, ctx->act_param, row, row, nc);
    }
}

/* Backward-data epilogue: col2im of the finished dcol block
 * rows [i0, i0+mc) (= (c, r, s)) x pixels [j0, j0+nc), held in tmp. */
static void FC_SFX(fc_epi_col2im)(void *vctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_conv_geom *g = ctx->g;
    fc_seg *sg = ctx->segs;
    const fc_int H = g->H, W = g->W, HW = g->H * g->W, RS = g->R * g->S;
    const fc_int sw = g->stride_w, dh = g->dil_h, dw = g->dil_w;
    const fc_int ns = fc_make_segs(g, j0, nc, 0, sg);
    fc_int c = i0 / RS, rs = i0 - c * RS;
    fc_int r = rs / g->S, s = rs - r * g->S;
    for (fc_int i = i0; i < i0 + mc; ++i) {
        const FC_T *src = ctx->tmp + i * ctx->ldt;
        FC_T *dxc = ctx->dx + c * HW;
        const fc_int rdh = r * dh, sdw = s * dw;
        for (fc_int q = 0; q < ns; ++q) {
            const fc_int ih = sg[q].ih0 + rdh;
            if ((uint64_t)ih >= (uint64_t)H)
                continue;
            FC_T *row = dxc + ih * W;
            const fc_int iw0 = sg[q].iw0 + sdw;
            const FC_T *sq = src + sg[q].dst;
            fc_int lo, hi;
            fc_valid_range(iw0, sw, W, sg[q].len, &lo, &hi);
            if (sw == 1) {
                FC_T *dr = row + iw0;
                for (fc_int t = lo; t < hi; ++t)
                    dr[t] += sq[t];
            } else {
                for (fc_int t = lo; t < hi; ++t)
                    row[iw0 + t * sw] += sq[t];
            }
        }
        if (++s == g->S) {
            s = 0;
            if (++r == g->R) {
                r = 0;
                ++c;
            }
        }
    }
}

/* Carve the workspace for a plan. */
static void FC_SFX(fc_conv_carve)(const fc_conv_plan *pl, void *work, FC_T **ap, FC_T **bb,
                                  FC_T **tmp, fc_seg **segs)
{
    char *w = (char *)fc_align_ptr(work);
    *ap = (FC_T *)w;
    w += pl->ap_bytes;
    *bb = (FC_T *)w;
    w += pl->b_bytes;
    *tmp = (FC_T *)w;
    w += pl->t_bytes;
    *segs = (fc_seg *)w;
}

void FC_SFX(fc_conv2d_forward)(const fc_conv_geom *g, const FC_T *x, const FC_T *w,
                               const FC_T *bias, int act, FC_T act_param, FC_T *y, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    FC_T *ap, *bb, *tmp;
    fc_seg *segs;
    FC_SFX(fc_conv_carve)(&pl, work, &ap, &bb, &tmp, &segs);
    const fc_int CRS = pl.k, P = pl.n;

    FC_SFX(fc_pack_a_full)(pl.m, pl.k, pl.kcb, w, CRS, 1, ap);

    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.x = x;
    ctx.segs = segs;
    ctx.y = y;
    ctx.bias = bias;
    ctx.act = act;
    ctx.act_param = act_param;

    FC_SFX(fc_gemm_job) job;
    memset(&job, 0, sizeof(job));
    job.m = pl.m;
    job.n = pl.n;
    job.k = pl.k;
    job.kcb = pl.kcb;
    job.mcb = pl.mcb;
    job.ncb = pl.ncb;
    job.ap_full = ap;
    if (pl.one_by_one) {
        job.b = x;
        job.rsb = P;
        job.csb = 1;
    } else {
        job.packb = FC_SFX(fc_pack_im2col);
        job.packb_ctx = &ctx;
    }
    job.c = y;
    job.ldc = P;
    job.beta = 0;
    if (bias || act != FC_ACT_NONE) {
        job.epi = FC_SFX(fc_epi_bias_act);
        job.epi_ctx = &ctx;
    }
    job.bbuf = bb;
    FC_SFX(fc_gemm_serial)(&job);
}

void FC_SFX(fc_conv2d_backward_data)(const fc_conv_geom *g, const FC_T *dy, const FC_T *w,
                                     FC_T *dx, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_BWD_DATA, sizeof(FC_T), &pl);
    FC_T *ap, *bb, *tmp;
    fc_seg *segs;
    FC_SFX(fc_conv_carve)(&pl, work, &ap, &bb, &tmp, &segs);
    const fc_int CRS = pl.m, P = pl.n, K = pl.k;

    /* A = W^T: element (crs, k) at w[k*CRS + crs]. */
    FC_SFX(fc_pack_a_full)(CRS, K, pl.kcb, w, 1, CRS, ap);

    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.segs = segs;
    ctx.tmp = tmp;
    ctx.ldt = pl.ncb;
    ctx.dx = dx;

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
        memset(dx, 0, (size_t)(g->C * g->H * g->W) * sizeof(FC_T));
        job.c = tmp;
        job.ldc = pl.ncb;
        job.c_local = 1;
        job.epi = FC_SFX(fc_epi_col2im);
        job.epi_ctx = &ctx;
    }
    FC_SFX(fc_gemm_serial)(&job);
}

void FC_SFX(fc_conv2d_backward_weight)(const fc_conv_geom *g, const FC_T *x, const FC_T *dy,
                                       FC_T *dw, FC_T *db, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_BWD_WEIGHT, sizeof(FC_T), &pl);
    FC_T *ap, *bb, *tmp;
    fc_seg *segs;
    FC_SFX(fc_conv_carve)(&pl, work, &ap, &bb, &tmp, &segs);
    const fc_int K = pl.m, CRS = pl.n, P = pl.k;

    if (db) {
        for (fc_int kk = 0; kk < K; ++kk) {
            const FC_T *row = dy + kk * P;
            FC_T s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            fc_int p = 0;
            for (; p + 4 <= P; p += 4) {
                s0 += row[p];
                s1 += row[p + 1];
                s2 += row[p + 2];
                s3 += row[p + 3];
            }
            for (; p < P; ++p)
                s0 += row[p];
            db[kk] += (s0 + s1) + (s2 + s3);
        }
    }

    /* A = dY (K x P). */
    FC_SFX(fc_pack_a_full)(K, P, pl.kcb, dy, P, 1, ap);

    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.x = x;
    ctx.segs = segs;

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

#endif
