/*
 * conv_forward.c -- forward conv: the direct path (B read straight from the
 * zero-bordered image by the fc_dkr micro-kernel; also run by backward-data
 * with flipped weights) and the im2col GEMM path with its bias + activation
 * epilogue (overview in conv_internal.h); the batched 1x1 path is in
 * conv_forward_1x1.c.
 */
#ifndef FC_T
#include "conv_internal.h"

#define FC_TMPL_SELF "conv_forward.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* Forward B packer: B(p, j) = col(x)[p0 + p][j0 + j], p = (c, r, s),
 * j = output pixel. Each k-row of a micro-panel is assembled from the runs
 * of its pixels that lie on one output row. */
static void FC_SFX(fc_pack_im2col)(void *vctx, fc_int p0, fc_int kc, fc_int j0, fc_int nc,
                                   FC_T *bp)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_conv_geom *g = ctx->g;
    fc_seg *sg = ctx->segs;
    const fc_int RS = g->R * g->S, Wp = ctx->pg.Wp, HWp = ctx->pg.Hp * ctx->pg.Wp;
    const fc_int sw = g->stride_w, dhW = g->dil_h * Wp, dw = g->dil_w;
    fc_int ns = 0;
    for (fc_int jp = 0; jp * FC_NR < nc; ++jp) {
        const fc_int nr = FC_MIN(FC_NR, nc - jp * FC_NR);
        ns += fc_make_segs(g, &ctx->pg, j0 + jp * FC_NR, nr, jp * FC_NR * kc, sg + ns);
        if (nr < FC_NR) {
            sg[ns].base = 0;
            sg[ns].len = FC_NR - nr;
            sg[ns].dst = jp * FC_NR * kc + nr;
            sg[ns].zero = 1;
            ++ns;
        }
    }
    fc_int c = p0 / RS, rs = p0 - c * RS;
    fc_int r = rs / g->S, s = rs - r * g->S;
    for (fc_int kk = 0; kk < kc; ++kk) {
        const FC_T *xk = ctx->xp + c * HWp + r * dhW + s * dw;
        FC_T *bk = bp + kk * FC_NR;
        for (fc_int q = 0; q < ns; ++q) {
            const fc_int len = sg[q].len;
            FC_T *restrict d = bk + sg[q].dst;
            const FC_T *restrict src = xk + sg[q].base;
            if (sg[q].zero) {
                for (fc_int t = 0; t < len; ++t)
                    d[t] = 0;
            } else if (sw == 1) {
                if (len == FC_NR) {
                    for (int t = 0; t < FC_NR; ++t)
                        d[t] = src[t];
                } else {
                    for (fc_int t = 0; t < len; ++t)
                        d[t] = src[t];
                }
            } else {
                for (fc_int t = 0; t < len; ++t)
                    d[t] = src[t * sw];
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

/* Forward epilogue: Y[i, j] = act(Y[i, j] + bias[i] + res[i, j]) on a finished block.
 * Built twice (fc_epi_bias_act below): the common cases are plain loops the compiler
 * vectorises, 4 lanes wide for the baseline ISA, 8 with AVX2 (same bits: adds and a
 * max only, nothing to contract). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_epi_rows)(void *vctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc)
{
    const FC_SFX(fc_conv_ctx) *ctx = (const FC_SFX(fc_conv_ctx) *)vctx;
    const fc_int P = ctx->g->Ho * ctx->g->Wo;
    for (fc_int i = i0; i < i0 + mc; ++i) {
        FC_T *row = ctx->y + i * P + j0;
        if (ctx->bias && !ctx->res && ctx->act == FC_ACT_RELU) {
            /* the common case in one pass over the row: the same (y + b), then ReLU's
             * "v > 0 ? v : 0" (fc_activation_forward's, so NaN gives 0 there too) */
            const FC_T bi = ctx->bias[i];
            for (fc_int j = 0; j < nc; ++j) {
                const FC_T v = row[j] + bi;
                row[j] = v > (FC_T)0 ? v : (FC_T)0;
            }
            continue;
        }
        if (ctx->bias && ctx->res && (ctx->act == FC_ACT_RELU || ctx->act == FC_ACT_NONE)) {
            /* a residual block's output (folded batch norm as the bias): the same
             * (y + b) + r, then ReLU as above, in one pass */
            const FC_T bi = ctx->bias[i];
            const FC_T *rr = ctx->res + i * P + j0;
            if (ctx->act == FC_ACT_RELU) {
                for (fc_int j = 0; j < nc; ++j) {
                    const FC_T v = (row[j] + bi) + rr[j];
                    row[j] = v > (FC_T)0 ? v : (FC_T)0;
                }
            } else {
                for (fc_int j = 0; j < nc; ++j)
                    row[j] = (row[j] + bi) + rr[j];
            }
            continue;
        }
        if (ctx->bias) {
            const FC_T bi = ctx->bias[i];
            for (fc_int j = 0; j < nc; ++j)
                row[j] += bi;
        }
        if (ctx->res) {
            const FC_T *rr = ctx->res + i * P + j0;
            for (fc_int j = 0; j < nc; ++j)
                row[j] += rr[j];
        }
        if (ctx->act != FC_ACT_NONE)
            FC_SFX(fc_activation_forward)(ctx->act, ctx->act_param, row, row, nc);
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
static __attribute__((target("avx2,fma"))) void
FC_SFX(fc_epi_rows_avx2)(void *vctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc)
{
    FC_SFX(fc_epi_rows)(vctx, i0, mc, j0, nc);
}
#endif

void FC_SFX(fc_epi_bias_act)(void *vctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2) {
        FC_SFX(fc_epi_rows_avx2)(vctx, i0, mc, j0, nc);
        return;
    }
#endif
    FC_SFX(fc_epi_rows)(vctx, i0, mc, j0, nc);
}

/* ---------------------------------------------------------------------
 * Direct path: forward conv of geometry dg = pl->dg with B read straight
 * from the zero-bordered image by the fc_dkr micro-kernel. The output
 * pixels are cut into chunks of CW = NR/2 pixels on one output row (the
 * last chunk of a row may be shorter); a micro-tile is two chunks, so a
 * tile's B half-rows are contiguous taps: tap (c, r, s) of chunk t is at
 * xp + cbase[t] + offs[(c, r, s)]. Chunk reads may run up to CW - 1
 * elements past a row (lanes dropped), hence the zeroed slack after xp.
 * Loops: groups of chunks (B and C kept in L2) / K blocks / MC blocks /
 * tiles / MR panels, then the remainder rows of the block by fc_dkn; bias
 * and activation once a group is complete.
 * ap: A = weights (K' x CRS') packed by fc_pack_a_full with pl->kcb.
 * ------------------------------------------------------------------- */
/* The direct path over nimg images, output chunks [t0, t1) and output
 * channels [i0, i1) (i0 a multiple of MR) of each: a team splitting one
 * image runs disjoint ranges, and each output element gets the same
 * arithmetic whichever range holds it. */
static void FC_SFX(fc_conv_direct_range)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                                         const FC_T *ap, const FC_T *bias, const FC_T *res, int act,
                                         FC_T act_param, FC_T *yall, void *work, fc_int t0,
                                         fc_int t1, fc_int i0, fc_int i1)
{
    /* Workspace: packed weights (pl->ap_bytes), image, tap and chunk tables. */
    char *wk = (char *)fc_align_ptr(work) + pl->ap_bytes;
    FC_T *xp = (FC_T *)wk;
    fc_int *ob = (fc_int *)(wk + pl->x_bytes);
    enum { CW = FC_NR / 2 };
    const fc_conv_geom *g = &pl->dg;
    const fc_padgeom *pg = &pl->pg;
    const fc_int sw = g->stride_w, Wr = pl->wrow, HWr = pl->xplane;
    const fc_int m = pl->m, k = pl->k, P = pl->n, nch = pl->nch;
    const fc_int kcb = pl->kcb, mcb = pl->mcb, mpad = fc_roundup(m, FC_MR);
    const fc_int xs = g->C * g->H * g->W;
    fc_int *offs = ob, *cb = ob + k, *cp = cb + nch, *cl = cp + nch;

    FC_DIRECT_OFFSETS(pl, offs);
    FC_SFX(fc_dkn_fn) dkw = FC_SFX(fc_dkw_select)(3);
    FC_SFX(fc_dkn_fn) dkw8 = FC_SFX(fc_dkw_select)(4);
    {
        /* A short last chunk of a row that is the second chunk of its tile
         * (odd t: tiles, dkn groups and thread splits start at even t) is
         * slid back to end at the row's end, overlapping its tile partner:
         * the shared pixels get the same lane-wise sums from both chunks and
         * are stored twice by one kernel call, so no masked store (slow:
         * a third of the kernel's time on 30-pixel 'valid' rows). Only with
         * one K block: an accumulating pass would add the overlap twice.
         * Not on the AVX-512 path when a row has an even number of chunks: there
         * every tile lies within a row, side by side in the image and in y, and the
         * kernels load it whole and store a short second chunk with a (cheap) masked
         * store -- slid back, it would sit apart from its partner. */
        const int whole = dkw != NULL && (pl->flat || ((g->Wo + CW - 1) / CW) % 2 == 0);
        const int slide = k <= kcb && !whole;
        fc_int t = 0;
        for (; pl->flat && t < nch; ++t) {
            /* one row of P pixels (a flat plan's rows are contiguous in x and in y) */
            const fc_int len = FC_MIN(CW, P - t * CW);
            const fc_int back = slide && len < CW && (t & 1) ? CW - len : 0;
            cb[t] = cp[t] = t * CW - back;
            cl[t] = len + back;
        }
        for (fc_int oh = 0; oh < g->Ho && !pl->flat; ++oh) {
            const fc_int rowbase = (oh * g->stride_h - g->pad_top + pg->mt) * Wr;
            for (fc_int ow0 = 0; ow0 < g->Wo; ow0 += CW) {
                const fc_int len = FC_MIN(CW, g->Wo - ow0);
                const fc_int back = slide && len < CW && (t & 1) && ow0 >= CW ? CW - len : 0;
                cb[t] = rowbase + ow0 - back;
                cp[t] = oh * g->Wo + ow0 - back;
                cl[t] = len + back;
                ++t;
            }
        }
    }
    /* An image without border (stride 1, 'valid') is read in place when no
     * chunk read runs past its end (its rows are already Wr apart): the copy
     * was a thirtieth of a 3-channel forward pass. When the reads run a little
     * past it (the short last chunk of a 30-pixel row reads 2 lanes on), every
     * image of the run but the last is still read in place: those lanes are
     * the next image's first values, computed and dropped. Else the border and
     * slack of xp are zeroed once for the whole run of images. */
    int in_place = sw == 1 && pg->mt == 0 && pg->ml == 0 && pg->Hp == g->H && Wr == g->W &&
                   HWr == g->H * g->W && k > 0;
    int in_place_but_last = 0;
    if (in_place) {
        fc_int end = 0, reach = 0;
        for (fc_int t = 0; t < nch; ++t)
            end = FC_MAX(end, cb[t] + CW);
        for (fc_int p = 0; p < k; ++p)
            reach = FC_MAX(reach, end + offs[p]);
        in_place = reach <= xs;
        in_place_but_last = !in_place && reach <= 2 * xs && nimg > 1;
    }
    /* stride 1: each call writes only the bordered rows its chunks read */
    const int rows_only = !in_place && sw == 1 && t1 > t0;
    fc_int b0 = 0, b1 = 0;
    if (rows_only) {
        const fc_int top = pg->mt - g->pad_top;
        b0 = cp[t0] / g->Wo * g->stride_h + top;
        /* the row of the last chunk's last pixel (a flat plan's chunks cross rows) */
        b1 = FC_MIN(pg->Hp, (cp[t1 - 1] + cl[t1 - 1] - 1) / g->Wo * g->stride_h + top +
                                (g->R - 1) * g->dil_h + 1);
    } else if (!in_place) {
        memset(xp, 0, ((size_t)(g->C * HWr) + 2 * CW) * sizeof(FC_T));
    }
    FC_SFX(fc_dkr_fn) dkr = FC_SFX(fc_dkr_select)();
    FC_SFX(fc_dkn_fn) dkn2 = FC_SFX(fc_dkn2_select)(), dkn4 = FC_SFX(fc_dkn4_select)();
    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.bias = bias;
    ctx.act = act;
    ctx.act_param = act_param;
    const fc_int G = fc_roundup(FC_MAX(2, 512 / CW), 2);
    /* Bias and ReLU are applied by the kernels' write-back in the last K
     * block (same arithmetic as the separate pass, with Y still in
     * registers); a residual or another activation keeps the pass. */
    const int fuse = k > 0 && !res && (act == FC_ACT_NONE || act == FC_ACT_RELU);
    const int relu = fuse && act == FC_ACT_RELU;
    /* F(2, 3) along rows (conv_wrows.h) on the same bordered image, the chunks'
     * pixels [wp0, wp1) (t0 is even: never a slid chunk) */
    const int wrows = sizeof(FC_T) == sizeof(float) && fc_wrows_run(pl->wrows) && t1 > t0;
    const fc_int wp0 = wrows ? cp[t0] : 0, wp1 = wrows ? cp[t1 - 1] + cl[t1 - 1] : 0;
    for (fc_int img = 0; img < nimg; ++img) {
    FC_T *y = yall + img * m * P;
    ctx.y = y;
    ctx.res = res ? res + img * m * P : NULL;
    const int here = in_place || (in_place_but_last && img + 1 < nimg);
    const FC_T *xb = here ? x + img * xs : xp;
    if (!here && rows_only) /* the first image copied zeroes the border and slack */
        FC_SFX(fc_fill_rows)(g, pg, Wr, HWr, x + img * xs, xp, b0, b1,
                             img == 0 || in_place_but_last, CW);
    else if (!here && sw == 1)
        FC_SFX(fc_copy_interior)(g, pg, Wr, HWr, x + img * xs, xp);
    else if (!here)
        FC_SFX(fc_pad_image_phased)(g, pl, x + img * xs, xp);
    if (wrows) {
        fc_wrows_image(g, Wr, (const float *)(xb + (pg->mt - g->pad_top) * Wr), offs,
                       (const float *)ap, img > 0, (float *)y, wp0, wp1, i0, i1,
                       fuse ? (const float *)bias : NULL, relu, wk + pl->x_bytes + pl->o_bytes);
        if (!fuse && (bias || res || act != FC_ACT_NONE))
            FC_SFX(fc_epi_bias_act)(&ctx, i0, i1 - i0, wp0, wp1 - wp0);
        continue;
    }
    for (fc_int g0 = t0; g0 < t1; g0 += G) {
        const fc_int g1 = FC_MIN(t1, g0 + G);
        if (k <= 0) {
            for (fc_int t = g0; t < g1; ++t)
                for (fc_int i = i0; i < i1; ++i)
                    memset(y + i * P + cp[t], 0, (size_t)cl[t] * sizeof(FC_T));
        }
        for (fc_int pc = 0; pc < k; pc += kcb) {
            const fc_int kc = FC_MIN(kcb, k - pc);
            const FC_T beta = pc == 0 ? (FC_T)0 : (FC_T)1;
            const int last = pc + kc == k;
            const FC_T *bl = fuse && last && bias ? bias : NULL;
            const int rl = relu && last;
            const fc_int *op = offs + pc;
            for (fc_int ic = i0; ic < i1; ic += mcb) {
                const fc_int mc = FC_MIN(mcb, i1 - ic);
                const FC_T *apc = ap + pc * mpad + ic * kc;
                if (dkw) {
                    /* all mc rows against four tiles (eight chunks) a call, then three;
                     * the last one or two tiles of the group by fc_dkr, not by a call
                     * with idle chunk slots */
                    FC_T *yc = y + ic * P;
                    fc_int t = g0;
                    for (int w = 0; w < 2; ++w) {
                        const int nch = w == 0 ? 8 : 6;
                        FC_SFX(fc_dkn_fn) kern = w == 0 ? dkw8 : dkw;
                        for (; kern && t + nch <= g1; t += nch) {
                            const FC_T *xq[8];
                            FC_T *cq[8];
                            int nq[8];
                            for (int q = 0; q < nch; ++q) {
                                xq[q] = xb + cb[t + q];
                                cq[q] = yc + cp[t + q];
                                nq[q] = (int)cl[t + q];
                            }
                            kern(kc, apc, xq, op, cq, P, beta, (int)mc, nq, bl ? bl + ic : NULL, rl);
                        }
                    }
                    for (; t < g1; t += 2) {
                        const int pair = t + 1 < g1;
                        const fc_int t1 = pair ? t + 1 : t;
                        dkr(kc, apc, xb + cb[t], xb + cb[t1], op, yc + cp[t], yc + cp[t1], P, beta,
                            (int)mc, (int)cl[t], pair ? (int)cl[t1] : 0, bl ? bl + ic : NULL, rl);
                    }
                    continue;
                }
                /* Rows past the last full MR panel (2 or 4 of them, say) go to a
                 * narrow kernel instead of a 6-row tile that is partly idle. */
                const fc_int rem = mc % FC_MR;
                const int narrow = rem >= 1 && rem <= 4;
                const fc_int mtile = narrow ? mc - rem : mc;
                for (fc_int t = g0; t < g1; t += 2) {
                    const FC_T *x0 = xb + cb[t];
                    FC_T *c0 = y + ic * P + cp[t];
                    const int n0 = (int)cl[t];
                    const FC_T *x1 = x0;
                    FC_T *c1 = c0;
                    int n1 = 0;
                    if (t + 1 < g1) {
                        x1 = xb + cb[t + 1];
                        c1 = y + ic * P + cp[t + 1];
                        n1 = (int)cl[t + 1];
                    }
                    if (mtile > 0)
                        dkr(kc, apc, x0, x1, op, c0, c1, P, beta, (int)mtile, n0, n1,
                            bl ? bl + ic : NULL, rl);
                }
                if (narrow) {
                    const int Q = rem <= 2 ? 6 : 2;
                    const FC_SFX(fc_dkn_fn) dkn = rem <= 2 ? dkn2 : dkn4;
                    const FC_T *apr = apc + mtile * kc;
                    FC_T *yr = y + (ic + mtile) * P;
                    for (fc_int t = g0; t < g1; t += Q) {
                        const FC_T *xs[6];
                        FC_T *cs[6];
                        int ns[6];
                        for (int q = 0; q < Q; ++q) {
                            const int live = t + q < g1;
                            const fc_int tq = live ? t + q : t;
                            xs[q] = xb + cb[tq];
                            cs[q] = yr + cp[tq];
                            ns[q] = live ? (int)cl[tq] : 0;
                        }
                        dkn(kc, apr, xs, op, cs, P, beta, (int)rem, ns,
                            bl ? bl + ic + mtile : NULL, rl);
                    }
                }
            }
        }
        if (!fuse && (bias || res || act != FC_ACT_NONE)) {
            const fc_int j0 = cp[g0], j1 = cp[g1 - 1] + cl[g1 - 1];
            FC_SFX(fc_epi_bias_act)(&ctx, i0, i1 - i0, j0, j1 - j0);
        }
    }
    }
}

void FC_SFX(fc_conv_direct_run)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                                const FC_T *ap, const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                                FC_T *yall, void *work)
{
    if (pl->wino)
        FC_SFX(fc_conv_wino_run)(pl, nimg, x, ap, bias, res, act, act_param, yall, work, 0,
                                 nimg * pl->wino_th, 0, pl->dg.K);
    else if (pl->cvec)
        FC_SFX(fc_conv_cvec_range)(pl, nimg, x, ap, bias, res, act, act_param, yall, work, 0,
                                   pl->n, 0, pl->m);
    else
        FC_SFX(fc_conv_direct_range)(pl, nimg, x, ap, bias, res, act, act_param, yall, work, 0,
                                     pl->nch, 0, pl->m);
}

static void FC_SFX(fc_conv_forward_a)(const fc_conv_plan *pl, const fc_conv_geom *g, const FC_T *x,
                                      const FC_T *ap, const FC_T *bias, const FC_T *res, int act,
                                      FC_T act_param, FC_T *y, void *work);

void FC_SFX(fc_conv2d_forward)(const fc_conv_geom *g, const FC_T *x, const FC_T *w,
                               const FC_T *bias, int act, FC_T act_param, FC_T *y, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    FC_T *ap = (FC_T *)fc_align_ptr(work);
    /* the A panels only (the workspace has no room for the few-pixel 1x1 copy) */
    if (pl.wino)
        FC_SFX(fc_wino_pack_weights)(&pl, w, 0, ap);
    else if (pl.cvec)
        FC_SFX(fc_cvec_pack_weights)(g, &pl, 0, w, ap);
    else
        FC_SFX(fc_pack_a_full)(pl.m, pl.k, pl.kcb, w, pl.k, 1, ap);
    FC_SFX(fc_conv_forward_a)(&pl, g, x, ap, bias, NULL, act, act_param, y, work);
}

void FC_SFX(fc_conv2d_forward_packed_batch)(const fc_conv_geom *g, fc_int nimg, const FC_T *x,
                                            const void *packed, const FC_T *bias, const FC_T *res, int act,
                                            FC_T act_param, FC_T *y, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    if (pl.direct) {
        FC_SFX(fc_conv_direct_run)(&pl, nimg, x, (const FC_T *)packed, bias, res, act, act_param, y,
                                   work);
        return;
    }
    if (FC_SFX(fc_conv_1x1_tiles)(&pl, g, nimg, x, (const FC_T *)packed, bias, res, act, y))
        return;
    const fc_int xs = g->C * g->H * g->W, ys = g->K * g->Ho * g->Wo;
    for (fc_int n = 0; n < nimg; ++n)
        FC_SFX(fc_conv2d_forward_packed)(g, x + n * xs, packed, bias, res ? res + n * ys : NULL,
                                         act, act_param, y + n * ys,
                                         work);
}

/* The GEMM path (1x1 convolutions) on output rows [i0, i1) (i0 a multiple of
 * MR) and pixels [j0, j1) (j0 a multiple of NR when not 0): the whole-image
 * call's arithmetic on each element (same K blocks, same micro-kernel). */
static void FC_SFX(fc_conv_gemm_range)(const fc_conv_plan *pl, const fc_conv_geom *g,
                                       const FC_T *x, const FC_T *ap, const FC_T *bias, const FC_T *res,
                                       int act, FC_T act_param, FC_T *y, void *work,
                                       fc_int i0, fc_int i1, fc_int j0, fc_int j1)
{
    FC_T *ap_unused, *bb, *tmp, *xp;
    fc_seg *segs;
    FC_SFX(fc_conv_carve)(pl, work, &ap_unused, &bb, &tmp, &segs, &xp);
    const fc_int P = pl->n;

    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.pg = pl->pg;
    ctx.xp = xp;
    ctx.segs = segs;
    if (!pl->one_by_one)
        FC_SFX(fc_pad_image)(g, &pl->pg, x, xp);
    /* The epilogue sees block coordinates relative to (i0, j0). */
    ctx.y = y + i0 * P + j0;
    ctx.bias = bias ? bias + i0 : NULL;
    ctx.res = res ? res + i0 * P + j0 : NULL;
    ctx.act = act;
    ctx.act_param = act_param;

    FC_SFX(fc_gemm_job) job;
    memset(&job, 0, sizeof(job));
    job.m = i1 - i0;
    job.n = j1 - j0;
    job.k = pl->k;
    job.kcb = pl->kcb;
    job.mcb = pl->mcb;
    job.ncb = pl->ncb;
    job.ap_full = ap;
    job.a_mpad = fc_roundup(pl->m, FC_MR);
    job.a_row0 = i0;
    if (pl->one_by_one) {
        job.b = x + j0;
        job.rsb = P;
        job.csb = 1;
    } else {
        job.packb = FC_SFX(fc_pack_im2col);
        job.packb_ctx = &ctx;
    }
    job.c = y + i0 * P + j0;
    job.ldc = P;
    job.beta = 0;
    if (bias || res || act != FC_ACT_NONE) {
        job.epi = FC_SFX(fc_epi_bias_act);
        job.epi_ctx = &ctx;
    }
    job.bbuf = bb;
    FC_SFX(fc_gemm_serial)(&job);
}

/* One image with the A panels packed at ap (the path of plan pl). */
static void FC_SFX(fc_conv_forward_a)(const fc_conv_plan *pl, const fc_conv_geom *g, const FC_T *x,
                                      const FC_T *ap, const FC_T *bias, const FC_T *res, int act,
                                      FC_T act_param, FC_T *y, void *work)
{
    if (pl->direct)
        FC_SFX(fc_conv_direct_run)(pl, 1, x, ap, bias, res, act, act_param, y, work);
    else
        FC_SFX(fc_conv_gemm_range)(pl, g, x, ap, bias, res, act, act_param, y, work, 0, pl->m, 0,
                                   pl->n);
}

void FC_SFX(fc_conv2d_forward_packed)(const fc_conv_geom *g, const FC_T *x, const void *packed,
                                      const FC_T *bias, const FC_T *res, int act, FC_T act_param, FC_T *y,
                                      void *work)
{
    fc_conv_plan pl;
    if (fc_1x1_rows_ok(g)) {
        FC_SFX(fc_conv_1x1_rows)(g, x, packed, bias, res, act, act_param, y, work, 0,
                                 fc_1x1_rows_panels(g, sizeof(FC_T)));
        return;
    }
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    FC_SFX(fc_conv_forward_a)(&pl, g, x, (const FC_T *)packed, bias, res, act, act_param, y, work);
}

/* Part pt (fc_conv_part_make) of one image's forward pass under plan pl. */
static void FC_SFX(fc_conv_part_run)(const fc_conv_plan *pl, const fc_conv_part *pt,
                                     const fc_conv_geom *g, const FC_T *x, const void *packed,
                                     const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                                     FC_T *y, void *work)
{
    const FC_T *ap = (const FC_T *)packed;
    if (pt->t0 >= pt->t1 || pt->i0 >= pt->i1)
        return;
    switch (pt->path) {
    case FC_PART_1X1_ROWS:
        FC_SFX(fc_conv_1x1_rows)(g, x, packed, bias, res, act, act_param, y, work, pt->i0, pt->i1);
        break;
    case FC_PART_WINO:
        FC_SFX(fc_conv_wino_run)(pl, 1, x, ap, bias, res, act, act_param, y, work, pt->t0, pt->t1,
                                 pt->i0, pt->i1);
        break;
    case FC_PART_CVEC:
        FC_SFX(fc_conv_cvec_range)(pl, 1, x, ap, bias, res, act, act_param, y, work, pt->t0,
                                   pt->t1, pt->i0, pt->i1);
        break;
    case FC_PART_DIRECT:
        FC_SFX(fc_conv_direct_range)(pl, 1, x, ap, bias, res, act, act_param, y, work, pt->t0,
                                     pt->t1, pt->i0, pt->i1);
        break;
    default:
        FC_SFX(fc_conv_gemm_range)(pl, g, x, ap, bias, res, act, act_param, y, work, pt->i0,
                                   pt->i1, pt->t0, pt->t1);
    }
}

void FC_SFX(fc_conv2d_forward_packed_part)(const fc_conv_geom *g, const FC_T *x,
                                           const void *packed, const FC_T *bias, const FC_T *res, int act,
                                           FC_T act_param, FC_T *y, void *work, int part,
                                           int nparts)
{
    fc_conv_plan pl;
    fc_conv_part pt;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    fc_conv_part_make(g, &pl, sizeof(FC_T), part, nparts, 0, &pt);
    FC_SFX(fc_conv_part_run)(&pl, &pt, g, x, packed, bias, res, act, act_param, y, work);
}

void FC_SFX(fc_conv2d_forward_pool_part)(const fc_conv_geom *g, const fc_pool_geom *pg, int max,
                                         const FC_T *x, const void *packed, const FC_T *bias,
                                         int act, FC_T act_param, FC_T *full, FC_T *y,
                                         void *work, int part, int nparts)
{
    fc_conv_plan pl;
    fc_conv_part pt;
    fc_int p0, p1;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    fc_conv_part_make(g, &pl, sizeof(FC_T), part, nparts, pg->stride_h, &pt);
    FC_SFX(fc_conv_part_run)(&pl, &pt, g, x, packed, bias, NULL, act, act_param, full, work);
    if (!fc_pool_part_rows(&pt, pg, &p0, &p1) || p0 >= p1)
        return;
    /* the part's band of rows as a pooling geometry of its own (no padding in h) */
    fc_pool_geom band = *pg;
    band.H = pt.r1 - p0 * pg->stride_h;
    band.Ho = p1 - p0;
    const fc_int pin = g->Ho * g->Wo, pout = pg->Ho * pg->Wo;
    for (fc_int k = pt.k0; k < pt.k1; ++k) {
        const FC_T *src = full + k * pin + p0 * pg->stride_h * g->Wo;
        FC_T *dst = y + k * pout + p0 * pg->Wo;
        if (max)
            FC_SFX(fc_max_pool2d_forward)(&band, src, dst);
        else
            FC_SFX(fc_avg_pool2d_forward)(&band, src, dst);
    }
}

#endif
