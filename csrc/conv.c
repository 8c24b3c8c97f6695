/*
 * conv.c -- plans and workspace sizing of the conv passes and the weight
 * packing (overview in conv_internal.h); the zero-bordered image copies are in
 * conv_pad.c.
 */
#ifndef FC_T
#include <stdlib.h>
#include "conv_internal.h"
#include "team.h"

/* Byte budgets that set the NC block of the conv GEMMs (B block kc x nc kept
 * in L2 with the C block; scratch tile of bwd data likewise). */
#define FC_CONV_B_BYTES (384 * 1024)
#define FC_CONV_T_BYTES (256 * 1024)
#ifndef FC_DIRECT_KC
#define FC_DIRECT_KC 256
#endif

/* Direct path (B read straight from the zero-bordered image by the fc_dkr
 * micro-kernel, no im2col packing): forward whenever output pixels along a
 * row are contiguous taps (stride_w == 1). Backward-data with stride 1 is
 * the forward conv of dy (zero-bordered) with the flipped, transposed
 * weights w'(c, k, R-1-r, S-1-s), run when C fills the MR rows well enough.
 * A 1x1 convolution is a plain GEMM whose B is the image itself; with few
 * input channels (k = C short) packing B costs as much as the multiply-adds
 * it feeds, so up to FC_1X1_DIRECT_MAX_C channels the direct kernel reads it
 * in place (maps of 64+ pixels; smaller ones have the batched 1x1 paths).
 * Measured on MobileNet's 16->32 @32x32 and 32->64 @16x16 layers: 1.1-1.4x;
 * with the AVX-512 kernels (2 threads, batch 64, same process, switching
 * paths call by call) 64->64 @16x16 1.06x, 64->128 @8x8 1.11x, 128->128
 * @8x8 1.09x, level at batch 1; from 256 channels the packed GEMM is level
 * or better (256->256 @8x8, one image: 71 against 82 us). */
#ifndef FC_1X1_DIRECT_MAX_C
#define FC_1X1_DIRECT_MAX_C 128
#endif
static int fc_fwd_direct_ok(const fc_conv_geom *g)
{
    return !fc_is_1x1(g) || (g->C <= FC_1X1_DIRECT_MAX_C && g->Ho * g->Wo >= 64);
}

static int fc_bwd_direct_ok(const fc_conv_geom *g, size_t elem)
{
    if (!(g->stride_h == 1 && g->stride_w == 1 && g->C >= 4 && !fc_is_1x1(g)))
        return 0;
    /* Useful share of the direct path's multiply-adds: taps landing on dy's
     * zero border (large kernels on 'valid' convs), unused MR rows (C) and
     * unused lanes of the last chunk of a row (W). The im2col path instead
     * suffers from its short K loop (k = K) when K is small. */
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32, cw = (elem == 8 ? FC_NR_F64 : FC_NR_F32) / 2;
    double useful = (double)(g->Ho * g->Wo) / (double)(g->H * g->W);
    if (useful > 1)
        useful = 1;
    useful *= (double)g->C / (double)fc_roundup(g->C, mr);
    useful *= (double)g->W / (double)fc_roundup(g->W, cw);
    return useful >= 0.5 || g->K < 12;
}

void fc_bwd_data_geom(const fc_conv_geom *g, fc_conv_geom *t)
{
    t->C = g->K;
    t->H = g->Ho;
    t->W = g->Wo;
    t->K = g->C;
    t->R = g->R;
    t->S = g->S;
    t->Ho = g->H;
    t->Wo = g->W;
    t->stride_h = t->stride_w = 1;
    t->pad_top = g->dil_h * (g->R - 1) - g->pad_top;
    t->pad_left = g->dil_w * (g->S - 1) - g->pad_left;
    t->dil_h = g->dil_h;
    t->dil_w = g->dil_w;
    t->winograd = g->winograd;
}

void fc_conv_plan_build(const fc_conv_geom *g, int op, size_t elem, fc_conv_plan *pl)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int KC = elem == 8 ? FC_KC_F64 : FC_KC_F32;
    const fc_int MC = elem == 8 ? FC_MC_F64 : FC_MC_F32;
    const fc_int P = g->Ho * g->Wo, CRS = g->C * g->R * g->S;
    memset(pl, 0, sizeof(*pl));
    if (op == FC_OP_BWD_DATA && fc_wino_s2_ok(g, op)) {
        fc_wino_s2_bwd_data_plan(g, elem, pl);
        return;
    }
    if ((op == FC_OP_FWD && fc_fwd_direct_ok(g)) || (op == FC_OP_BWD_DATA && fc_bwd_direct_ok(g, elem))) {
        const fc_int cw = nr / 2;
        const fc_conv_geom *d = &pl->dg;
        if (op == FC_OP_FWD)
            pl->dg = *g;
        else
            fc_bwd_data_geom(g, &pl->dg);
        pl->direct = 1;
        pl->m = d->K;
        pl->n = d->Ho * d->Wo;
        pl->k = d->C * d->R * d->S;
        pl->kcb = fc_block_size(pl->k, FC_DIRECT_KC, 1);
        pl->mcb = fc_block_size(pl->m, MC, mr);
        pl->ncb = nr;
        fc_pad_geom(d, &pl->pg);
        /* A 1x1 convolution's unpadded stride-1 planes are contiguous in x and in y, so
         * its chunks run across rows: every vector full but the plane's last, where each
         * row's short last chunk left lanes idle and split tiles (batch 64, 2 threads,
         * same process: 64 -> 64 @16x15 1.21x, 32 -> 64 @16x17 1.53x; batch 1: 32 -> 64
         * @28x28 1.30x, 16 -> 32 @17x17 1.24x; rows of a whole number of tiles run
         * the same chunks as before). */
        pl->flat = d->R == 1 && d->S == 1 && d->stride_h == 1 && d->stride_w == 1 &&
                   pl->pg.mt == 0 && pl->pg.ml == 0 && pl->pg.Hp == d->H && pl->pg.Wp == d->W &&
                   d->Ho == d->H && d->Wo == d->W;
        pl->nch = pl->flat ? (pl->n + cw - 1) / cw : d->Ho * ((d->Wo + cw - 1) / cw);
        pl->ap_bytes = fc_align_up((size_t)fc_roundup(pl->m, mr) * (size_t)FC_MAX(pl->k, 1) * elem);
        pl->wq = (pl->pg.Wp + d->stride_w - 1) / d->stride_w;
        pl->wrow = pl->wq * d->stride_w;
        /* A 1x1 convolution with up to 64 filters reads its image in place (no copy)
         * whatever the plane size: the padded plane stride that keeps channel rows off
         * the same cache sets would force a copy, which costs it more than the
         * conflicts (batch 64, 2 threads: 16 -> 32 @32x32 1.07x, 64 -> 64 @16x16
         * 1.02-1.09x). With more filters each tile is read by more weight panels and
         * the conflicts cost more than the copy (64 -> 128 @16x16: 0.93x in place). */
        pl->xplane = fc_is_1x1(d) && d->K <= 64
                         ? pl->pg.Hp * pl->wrow
                         : fc_plane_stride(pl->pg.Hp * pl->wrow, d->C, elem);
        pl->x_bytes = fc_align_up(((size_t)d->C * (size_t)pl->xplane + 2 * (size_t)cw) * elem);
        pl->o_bytes = fc_align_up(((size_t)pl->k + 3 * (size_t)pl->nch) * sizeof(fc_int));
        pl->total = pl->ap_bytes + pl->x_bytes + pl->o_bytes + FC_ALIGN;
        if (!fc_wino_plan_direct(pl, op, elem))
            fc_cvec_plan(pl, elem);
        if (!pl->wino && !pl->cvec && fc_wrows_ok(d, op, elem, pl->k, pl->kcb)) {
            pl->wrows = 1;
            pl->total += fc_wrows_bytes(d);
        }
        return;
    }
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
    fc_pad_geom(g, &pl->pg);
    if (!pl->one_by_one)
        pl->x_bytes = fc_align_up((size_t)g->C * (size_t)pl->pg.Hp * (size_t)pl->pg.Wp * elem);
    pl->total = pl->ap_bytes + pl->b_bytes + pl->t_bytes + pl->s_bytes + pl->x_bytes + FC_ALIGN;
}

/* Plans of the backward-weight batch paths (contracts in conv_internal.h). */
int fc_bw_direct_ok(const fc_conv_geom *g)
{
    return g->K >= 16 && g->C * g->R * g->S >= 16;
}

void fc_bw_plan_make(const fc_conv_geom *g, size_t elem, fc_bw_plan *pl)
{
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int P = g->Ho * g->Wo, CRS = g->C * g->R * g->S;
    memset(pl, 0, sizeof(*pl));
    fc_pad_geom(g, &pl->pg);
    pl->kcb = fc_block_size(P, 256, 1);
    pl->t_bytes = fc_align_up((size_t)CRS * (size_t)g->K * elem);
    pl->x_bytes = fc_align_up((size_t)g->C * (size_t)pl->pg.Hp * (size_t)pl->pg.Wp * elem);
    pl->b_bytes = fc_align_up((size_t)fc_roundup(g->K, nr) * (size_t)P * elem);
    /* pixel offsets, then row offsets: CRS of them, or K (a 1x1 layer's swapped operands) */
    pl->o_bytes = fc_align_up(((size_t)P + (size_t)FC_MAX(CRS, g->K)) * sizeof(fc_int));
    pl->total = pl->t_bytes + pl->x_bytes + pl->b_bytes + pl->o_bytes + FC_ALIGN;
}

int fc_conv2d_backward_data_as_forward(const fc_conv_geom *g, size_t elem, fc_conv_geom *t)
{
    fc_conv_plan pl;
    if (g->R * g->S <= 1)
        return 0;
    fc_conv_plan_make(g, FC_OP_BWD_DATA, elem, &pl);
    if (!pl.direct || pl.wino_s2) /* the stride-2 Winograd's dg is no forward geometry */
        return 0;
    *t = pl.dg;
    return 1;
}

/* Winograd's products run on panels of NR tiles: a run of one 8x8 image (four
 * 4x4 tiles) padded its panel to 16 and did 4x the work (64 channels at batch 8 on
 * 2 threads, runs of one image each: 246 us, against 131 us on one thread). */
fc_int fc_conv2d_run_images(const fc_conv_geom *g, int which, size_t elem)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, which == FC_CONV_BACKWARD_DATA ? FC_OP_BWD_DATA : FC_OP_FWD, elem, &pl);
    if (!pl.wino)
        return 1;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32, per = pl.wino_th * pl.wino_tw;
    return per >= nr ? 1 : (nr + per - 1) / per;
}

int fc_conv2d_backward_weight_1x1_ok(const fc_conv_geom *g, fc_int nimg)
{
    return fc_is_1x1(g) && nimg > 1 && g->Ho * g->Wo <= FC_1X1_BW_MAX_PIXELS && g->K > 0 &&
           g->C > 0;
}

int fc_conv2d_backward_data_1x1_as_forward(const fc_conv_geom *g, fc_int nimg, fc_conv_geom *t)
{
    if (!fc_is_1x1(g) || nimg < 2 || g->C < 1 || g->K < 1 || (g->Ho * g->Wo) % 16 != 0)
        return 0;
    fc_bwd_data_geom(g, t);
    return 1;
}

int fc_conv2d_backward_data_1x1_ok(const fc_conv_geom *g, fc_int nimg)
{
    return fc_is_1x1(g) && nimg > 1 && g->Ho * g->Wo <= FC_1X1_BD_MAX_PIXELS && g->K > 0 &&
           g->C > 0;
}

void fc_1x1_bw_plan_make(const fc_conv_geom *g, size_t elem, fc_1x1_bw_plan *pl)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32, nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int MC = elem == 8 ? FC_MC_F64 : FC_MC_F32, P = FC_MAX(1, g->Ho * g->Wo);
    const fc_int kmax = FC_MAX(P, 256 / P * P);
    pl->gimg = kmax / P;
    pl->mcb = fc_block_size(g->K, MC, mr);
    pl->ncb = fc_block_size(g->C, FC_MAX(nr, (fc_int)(FC_CONV_B_BYTES / ((size_t)kmax * elem)) / nr * nr), nr);
    pl->a_bytes = fc_align_up((size_t)fc_roundup(g->K, mr) * (size_t)kmax * elem);
    pl->b_bytes = fc_align_up((size_t)kmax * (size_t)fc_roundup(pl->ncb, nr) * elem);
    pl->total = pl->a_bytes + pl->b_bytes + FC_ALIGN;
}

int fc_bw_small_ok(const fc_conv_geom *g, size_t elem)
{
    const fc_int CRS = g->C * g->R * g->S;
    return elem == 4 && g->stride_h == 1 && g->stride_w == 1 && !fc_is_1x1(g) &&
           (CRS <= 32 || g->C <= 3) && (g->K < 16 || CRS < 16);
}

void fc_bw_small_sizes(const fc_conv_geom *g, size_t elem, fc_padgeom *pg,
                       size_t *x_bytes, size_t *v_bytes)
{
    fc_pad_geom(g, pg);
    *x_bytes = fc_align_up((size_t)g->C * (size_t)pg->Hp * (size_t)pg->Wp * elem);
    *v_bytes = fc_align_up((size_t)g->K * (size_t)(g->C * g->R * g->S) * 8 * elem);
}

size_t fc_conv2d_workspace_bytes_make(const fc_conv_geom *g, size_t elem)
{
    size_t best = 0;
    if (fc_bw_small_ok(g, elem)) {
        fc_padgeom pg;
        size_t xb, vb;
        fc_bw_small_sizes(g, elem, &pg, &xb, &vb);
        best = xb + vb + FC_ALIGN;
    }
    if (fc_bw_direct_ok(g) && !fc_bw_small_ok(g, elem)) {
        fc_bw_plan bp;
        fc_bw_plan_make(g, elem, &bp);
        best = bp.total;
    }
    if (fc_conv2d_backward_weight_1x1_ok(g, 2)) {
        fc_1x1_bw_plan bp;
        fc_1x1_bw_plan_make(g, elem, &bp);
        best = FC_MAX(best, bp.total);
    }
    if (fc_conv2d_backward_data_1x1_ok(g, 2)) {
        fc_conv_geom t;
        fc_bwd_data_geom(g, &t);
        best = FC_MAX(best, fc_conv2d_1x1_batch_workspace_bytes(&t, elem));
    }
    for (int op = 0; op < 3; ++op) {
        fc_conv_plan pl;
        fc_conv_plan_make(g, op, elem, &pl);
        if (pl.total > best)
            best = pl.total;
        if (op == FC_OP_FWD && fc_1x1_rows_ok(g)) {
            const size_t rb = fc_1x1_rows_workspace_bytes(g, elem);
            if (rb > best)
                best = rb;
        }
    }
    {
        /* backward-weight's own plan: it may run Winograd where the forward
         * pass does not (its own F(4x4) bit) */
        fc_conv_plan bp;
        fc_wino_bw_plan_make(g, elem, &bp);
        if (bp.wino) {
            const size_t wb = fc_wino_bw_bytes(&bp, elem);
            if (wb > best)
                best = wb;
        }
    }
    return best;
}

size_t fc_conv2d_packed_weights_bytes(const fc_conv_geom *g, int op, size_t elem)
{
    fc_conv_plan pl;
    fc_conv_geom t;
    if (op != FC_CONV_BACKWARD_DATA && fc_1x1_rows_ok(g))
        return fc_1x1_rows_weight_offset(g, elem) + fc_1x1_rows_weight_bytes(g, elem);
    fc_conv_plan_make(g, op == FC_CONV_BACKWARD_DATA ? FC_OP_BWD_DATA : FC_OP_FWD, elem, &pl);
    /* a batch's backward-data may pack for the transposed forward instead: the bound asks
     * for the smallest batch that route takes (its only condition on the count) */
    enum { FC_ANY_BATCH = 2 };
    if (op == FC_CONV_BACKWARD_DATA && fc_conv2d_backward_data_1x1_as_forward(g, FC_ANY_BATCH, &t))
        return FC_MAX(pl.ap_bytes, fc_conv2d_packed_weights_bytes(&t, FC_CONV_FORWARD, elem));
    return pl.ap_bytes;
}

const char *fc_conv2d_path(const fc_conv_geom *g, int op, size_t elem)
{
    fc_conv_plan pl;
    if (op == FC_CONV_BACKWARD_WEIGHT) {
        if (fc_bw_small_ok(g, elem))
            return "other";
        fc_wino_bw_plan_make(g, elem, &pl);
        return pl.wino ? (pl.wino_s2 ? "winograd-s2" : pl.wino_m == 4 ? "winograd-f4" : "winograd")
                       : "other";
    }
    if (op != FC_CONV_BACKWARD_DATA && fc_1x1_rows_ok(g))
        return "1x1-rows";
    fc_conv_plan_make(g, op == FC_CONV_BACKWARD_DATA ? FC_OP_BWD_DATA : FC_OP_FWD, elem, &pl);
    return pl.wino_s2 ? "winograd-s2"
           : pl.wino  ? (pl.wino_m == 4 ? "winograd-f4" : "winograd")
           : pl.cvec  ? "channel-vector"
           : fc_wrows_run(pl.wrows) ? "winograd-rows"
           : pl.direct ? "direct"
                       : "gemm";
}

#define FC_TMPL_SELF "conv.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* Carve the workspace for a plan. */
void FC_SFX(fc_conv_carve)(const fc_conv_plan *pl, void *work, FC_T **ap, FC_T **bb,
                           FC_T **tmp, fc_seg **segs, FC_T **xp)
{
    char *w = (char *)fc_align_ptr(work);
    *ap = (FC_T *)w;
    w += pl->ap_bytes;
    *bb = (FC_T *)w;
    w += pl->b_bytes;
    *tmp = (FC_T *)w;
    w += pl->t_bytes;
    *xp = (FC_T *)w;
    w += pl->x_bytes;
    *segs = (fc_seg *)w;
}

/* Flipped, transposed weights for the direct backward-data path:
 * A'(c, (k, r', s')) = w[k, c, R-1-r', S-1-s'], packed as fc_pack_a_full
 * would pack that C x KRS matrix with block size kcb. */
static void FC_SFX(fc_pack_w_flip)(const fc_conv_geom *g, fc_int kcb, const FC_T *w, FC_T *ap)
{
    const fc_int C = g->C, K = g->K, R = g->R, S = g->S, RS = R * S, CRS = C * RS;
    const fc_int k = K * RS, panels = fc_roundup(C, FC_MR) / FC_MR, mpad = panels * FC_MR;
    /* the panels shared out among a team of its own when the weights are big (512 x 512
     * 3x3 filters: 1.8 ms on one thread, half of a batch-1 input gradient) */
    const int parallel = (double)C * (double)k >= 65536.0;
    (void)parallel;
#pragma omp parallel if (parallel)
    {
        fc_int q0, q1;
        fc_omp_share(panels, &q0, &q1);
        for (fc_int pc = 0; pc < k && q1 > q0; pc += kcb) {
            const fc_int kc = FC_MIN(kcb, k - pc);
            FC_T *blk = ap + pc * mpad;
            for (fc_int i0 = q0 * FC_MR; i0 < q1 * FC_MR; i0 += FC_MR) {
                FC_T *dst = blk + i0 * kc;
                fc_int kk = pc / RS, rs = pc - kk * RS;
                for (fc_int p = 0; p < kc; ++p) {
                    const fc_int r = rs / S, s2 = rs - r * S;
                    const FC_T *src = w + kk * CRS + (R - 1 - r) * S + (S - 1 - s2);
                    for (fc_int i = 0; i < FC_MR; ++i)
                        dst[i] = i0 + i < C ? src[(i0 + i) * RS] : (FC_T)0;
                    dst += FC_MR;
                    if (++rs == RS) {
                        rs = 0;
                        ++kk;
                    }
                }
            }
        }
    }
}

/* fc_pack_a_full with the micro-panels shared out among the threads of a team of
 * its own when the matrix is big (a 512 x 512 1x1 layer's transposed weights,
 * read down the columns: ~180 us on one thread, paid at every training step). */
static void FC_SFX(fc_pack_a_full_team)(fc_int m, fc_int k, fc_int kcb, const FC_T *a,
                                        fc_int rsa, fc_int csa, FC_T *ap)
{
    const fc_int panels = fc_roundup(m, FC_MR) / FC_MR, mpad = panels * FC_MR;
    const int parallel = (double)m * (double)k >= 65536.0;
    (void)parallel;
#pragma omp parallel if (parallel)
    {
        fc_int q0, q1;
        fc_omp_share(panels, &q0, &q1);
        const fc_int r0 = q0 * FC_MR, r1 = FC_MIN(m, q1 * FC_MR);
        for (fc_int pc = 0; pc < k && r1 > r0; pc += kcb) {
            const fc_int kc = FC_MIN(kcb, k - pc);
            FC_SFX(fc_pack_a)(r1 - r0, kc, a + r0 * rsa + pc * csa, rsa, csa,
                              ap + pc * mpad + r0 * kc);
        }
    }
}

void FC_SFX(fc_conv2d_pack_weights)(const fc_conv_geom *g, int op, const FC_T *w, void *packed)
{
    FC_SFX(fc_conv2d_pack_weights_batch)(g, op, w, packed, 1);
}

/* W^T for the forward pass of the transposed 1x1 geometry (fc_conv2d_backward_data_1x1_as_forward). */
static void FC_SFX(fc_pack_weights_1x1_transposed)(const fc_conv_geom *g, const FC_T *w,
                                                   void *packed)
{
    /* The forward packers of t read A(i, p) = W^T(i, p) = w[p * C + i]: the channel-vector
     * one through its flipped-and-transposed mode (a flip of a 1x1 filter is none), the
     * A-panel one with swapped strides. */
    fc_conv_geom t;
    fc_conv_plan pl;
    fc_bwd_data_geom(g, &t);
    fc_conv_plan_make(&t, FC_OP_FWD, sizeof(FC_T), &pl);
    if (pl.cvec)
        FC_SFX(fc_cvec_pack_weights)(g, &pl, 1, w, (FC_T *)packed);
    else
        FC_SFX(fc_pack_a_full_team)(pl.m, pl.k, pl.kcb, w, 1, pl.m, (FC_T *)packed);
}

void FC_SFX(fc_conv2d_pack_weights_batch)(const fc_conv_geom *g, int op, const FC_T *w,
                                          void *packed, fc_int nimg)
{
    fc_conv_plan pl;
    FC_T *ap = (FC_T *)packed;
    if (op == FC_CONV_BACKWARD_DATA) {
        fc_conv_geom t;
        if (fc_conv2d_backward_data_1x1_as_forward(g, nimg, &t)) {
            FC_SFX(fc_pack_weights_1x1_transposed)(g, w, packed);
            return;
        }
        fc_conv_plan_make(g, FC_OP_BWD_DATA, sizeof(FC_T), &pl);
        if (pl.wino)
            FC_SFX(fc_wino_pack_weights)(&pl, w, 1, ap);
        else if (pl.cvec)
            FC_SFX(fc_cvec_pack_weights)(g, &pl, 1, w, ap);
        else if (pl.direct)
            FC_SFX(fc_pack_w_flip)(g, pl.kcb, w, ap);
        else /* A = W^T: element (crs, k) at w[k*CRS + crs]. */
            FC_SFX(fc_pack_a_full_team)(pl.m, pl.k, pl.kcb, w, 1, pl.m, ap);
    } else {
        fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
        if (pl.wino)
            FC_SFX(fc_wino_pack_weights)(&pl, w, 0, ap);
        else if (pl.cvec)
            FC_SFX(fc_cvec_pack_weights)(g, &pl, 0, w, ap);
        else
            FC_SFX(fc_pack_a_full_team)(pl.m, pl.k, pl.kcb, w, pl.k, 1, ap);
        /* W^T for the few-pixel 1x1 path of a single image, after the A panels (a
         * batch takes the batched GEMM on the A panels) */
        if (fc_1x1_rows_ok(g) && !fc_conv2d_1x1_batch_ok(g, nimg))
            FC_SFX(fc_linear_pack)(g->K, g->C, w,
                                   (FC_T *)((char *)packed +
                                            fc_1x1_rows_weight_offset(g, sizeof(FC_T))));
    }
}

#endif
