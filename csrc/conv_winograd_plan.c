/*
 * conv_winograd_plan.c -- which direct-path geometries run a Winograd
 * algorithm, and the block sizes and workspace of those plans (the F(2x2, 3x3)
 * and F(4x4, 3x3) paths of conv_winograd.c / conv_winograd4.c, the stride-2
 * F(4x4, 2x2) of conv_winograd_s2.c); split from conv.c, whose plans call them.
 */
#include "conv_internal.h"
#include <string.h>

/* Winograd F(2x2, 3x3) instead of the direct path: 3x3, stride 1, no
 * dilation, and enough channels on both sides for the 16 products (K' x C'
 * by tiles) to run the micro-kernel well; below that the transforms cost
 * more than the 2.25x fewer multiply-adds save. */
#ifndef FC_WINO_MIN_CHANNELS
#define FC_WINO_MIN_CHANNELS 16
#endif
#ifndef FC_WINO_TILES
#define FC_WINO_TILES 128
#endif
/* F(4x4, 3x3) blocks: 36 transformed copies of every tile (F(2x2): 16), so
 * fewer tiles keep V and M near the caches. */
#ifndef FC_WINO4_TILES
#define FC_WINO4_TILES 32
#endif
/* Stride-2 F(4x4, 2x2) blocks (100, or 25 of four phase channels, transformed
 * copies of every tile; with the weights' they stay in L2). */
#ifndef FC_WINO_S2_TILES
#define FC_WINO_S2_TILES 16
#endif
/* F(4x4) backward-weight blocks: the tiles are the GEMMs' reduction, and each
 * block reads and writes the 36 K x C accumulators once. */
#ifndef FC_WINO4_BW_TILES
#define FC_WINO4_BW_TILES 64
#endif
/* Stride-2 backward-weight blocks: its 25 planes of four phases' channels. */
#ifndef FC_WINO_S2_BW_TILES
#define FC_WINO_S2_BW_TILES 32
#endif
/* Whether this geometry's forward (pass FC_OP_FWD), backward-data or backward-weight
 * pass runs Winograd on the four stride-2 phases (F(4x4, 2x2), conv_winograd_s2.c; the
 * weight gradient's F(2x2, 4x4), conv_winograd_bw.c): 3x3 or 4x4 filters, undilated,
 * by the caller's size policy (FC_WINOGRAD_S2, FC_WINOGRAD_S2_DATA,
 * FC_WINOGRAD_S2_WEIGHT) or FASTCONV_WINOGRAD=s2. */
int fc_wino_s2_ok(const fc_conv_geom *d, int op)
{
    const int bit = op == FC_OP_FWD        ? FC_WINOGRAD_S2
                    : op == FC_OP_BWD_DATA ? FC_WINOGRAD_S2_DATA
                                           : FC_WINOGRAD_S2_WEIGHT;
    return d->stride_h == 2 && d->stride_w == 2 && d->R >= 3 && d->R <= 4 && d->S >= 3 &&
           d->S <= 4 && d->dil_h == 1 && d->dil_w == 1 && d->Ho >= 2 && d->Wo >= 2 &&
           ((d->winograd & bit) || fc_winograd_s2_forced()) && fc_winograd_enabled();
}

/* The Winograd tile this geometry runs: 4 (F(4x4, 3x3), conv_winograd4.c),
 * 2 (F(2x2, 3x3)) or 0 (the direct kernels). */
static int fc_wino_tile(const fc_conv_geom *d)
{
    if (!(d->R == 3 && d->S == 3 && d->stride_h == 1 && d->stride_w == 1 && d->dil_h == 1 &&
          d->dil_w == 1 && d->Ho >= 2 && d->Wo >= 2 && fc_winograd_enabled()))
        return 0;
    if ((d->winograd & FC_WINOGRAD_F4) || fc_winograd4_forced())
        return 4;
    if (((d->winograd & FC_WINOGRAD_F2) || fc_winograd_forced()) &&
        d->C >= FC_WINO_MIN_CHANNELS && d->K >= FC_WINO_MIN_CHANNELS)
        return 2;
    return 0;
}

/* Of the n pixels of an axis padded by pad, those at padded coordinates 2q + p
 * (phase p): q from *q0 on, *nq of them. */
static void fc_s2_phase(fc_int n, fc_int pad, int p, fc_int *q0, fc_int *nq)
{
    const fc_int lo = (pad - p + 1) >> 1, hi = (n - 1 + pad - p) >> 1;
    *q0 = lo;
    *nq = hi >= lo ? hi - lo + 1 : 0;
}

/* Winograd plan on the direct plan's geometry pl->dg: tile rows per block
 * chosen to fill whole NR panels of tiles (at most FC_WINO_TILES tiles). */
static void fc_wino_plan(fc_conv_plan *pl, size_t elem, int m, fc_int ntiles, int s2)
{
    const fc_conv_geom *d = &pl->dg;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    /* s2 2 (backward-data): tiles over the longer phase of each axis */
    fc_int th = (d->Ho + m - 1) / m, tw = (d->Wo + m - 1) / m;
    if (s2 == 2) {
        th = tw = 0;
        for (int p = 0; p < 2; ++p) {
            fc_s2_phase(d->Ho, d->pad_top, p, &pl->wino_q0[0][p], &pl->wino_nq[0][p]);
            fc_s2_phase(d->Wo, d->pad_left, p, &pl->wino_q0[1][p], &pl->wino_nq[1][p]);
            th = FC_MAX(th, (pl->wino_nq[0][p] + 3) / 4);
            tw = FC_MAX(tw, (pl->wino_nq[1][p] + 3) / 4);
        }
    }
    fc_int best = 1;
    double best_fill = 0;
    for (fc_int rb = 1; rb * tw <= ntiles || rb == 1; ++rb) {
        const double fill = (double)(rb * tw) / (double)fc_roundup(rb * tw, nr);
        if (fill >= best_fill) {
            best_fill = fill;
            best = rb;
        }
        if (rb * tw >= ntiles)
            break;
    }
    fc_wino_plan_rows(pl, elem, m, s2, th, tw, best);
}

/* The Winograd plan fields of pl->dg for blocks of `best` tile rows (th x tw tiles an
 * image). */
void fc_wino_plan_rows(fc_conv_plan *pl, size_t elem, int m, int s2, fc_int th, fc_int tw,
                       fc_int best)
{
    const fc_conv_geom *d = &pl->dg;
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int KC = elem == 8 ? FC_KC_F64 : FC_KC_F32;
    const fc_int nx = s2 == 2 ? 100 : s2 ? 25 : (m + 2) * (m + 2), Cg = s2 == 1 ? 4 * d->C : d->C;
    pl->wino = 1;
    pl->wino_m = m;
    pl->wino_s2 = s2;
    pl->wino_th = th;
    pl->wino_tw = tw;
    pl->wino_rows = best;
    pl->wino_tbp = fc_roundup(best * tw, nr);
    pl->kcb = fc_block_size(s2 == 1 ? d->C : Cg, KC, 1);   /* s2 1: per phase */
    pl->wino_a = fc_roundup(d->K, mr) * Cg;
    pl->ap_bytes = fc_align_up(nx * (size_t)pl->wino_a * elem);
    pl->wino_vs = Cg * pl->wino_tbp + nr;
    pl->wino_ms = d->K * pl->wino_tbp + nr;
    pl->wino_v_bytes = fc_align_up(nx * (size_t)pl->wino_vs * elem);
    pl->wino_m_bytes = fc_align_up(nx * (size_t)pl->wino_ms * elem);
    if (s2) {
        pl->wino_r_bytes = 0; /* its transforms work in registers */
    } else if (m == 4) {
        /* input: the phase-split plane, 6 rows of B^T per tile row, 36 gathered rows
         * of block tiles; output: 24 + 16 rows of block tiles */
        const fc_int wr = 4 * fc_roundup(tw + 1, 2), plane = (4 * th + 2) * wr;
        const size_t in = (size_t)fc_roundup(plane, 16) + (size_t)fc_roundup(best * 6 * wr, 16) +
                          36 * (size_t)pl->wino_tbp;
        const size_t out = 40 * (size_t)pl->wino_tbp + 4; /* + fc_wino4_put_row_sse's overreach */
        pl->wino_r_bytes = fc_align_up((in > out ? in : out) * elem);
    } else {
        /* input: one zero-bordered plane; output: 4 rows of block tiles */
        const size_t plane = (2 * (size_t)th + 2) * (2 * (size_t)tw + 2) + FC_WINO_PLANE_SLACK;
        const size_t out = 4 * (size_t)pl->wino_tbp;
        pl->wino_r_bytes = fc_align_up((plane > out ? plane : out) * elem);
    }
    pl->total = pl->ap_bytes + pl->wino_v_bytes + pl->wino_m_bytes + pl->wino_r_bytes + FC_ALIGN;
}

void fc_wino_bw_plan_make(const fc_conv_geom *g, size_t elem, fc_conv_plan *fp)
{
    if (fc_wino_s2_ok(g, FC_OP_BWD_WEIGHT)) { /* the four phases' F(2x2, 4x4) */
        memset(fp, 0, sizeof(*fp));
        fp->dg = *g;
        fc_wino_plan(fp, elem, 4, FC_WINO_S2_BW_TILES, 3);
        return;
    }
    /* the forward plan with backward-weight's own F(4x4) bit in place of the
     * forward's */
    fc_conv_geom g2 = *g;
    g2.winograd = (g->winograd & FC_WINOGRAD_F2) |
                  (g->winograd & FC_WINOGRAD_F4_WEIGHT ? FC_WINOGRAD_F4 : 0);
    fc_conv_plan_make(&g2, FC_OP_FWD, elem, fp);
    if (fp->wino && fp->wino_m == 4)
        fc_wino_plan(fp, elem, 4, FC_WINO4_BW_TILES, 0);
}

/* The weight gradient split by filters (fc_conv_wino_bw_filters) where the run path's
 * nx K x C accumulators per run of images -- zeroed, added to and transformed back
 * through memory, then summed over the runs -- cost more than its products: F(4x4)
 * plans of few 4x4 tiles (each part transforms the whole batch's Dy and V once and
 * rereads them for every block of filters) against many channel pairs (the
 * accumulators' bytes). Measured
 * (AVX-512, 2 threads, float, weight gradient alone, the same process), run path ->
 * filters: 512 channels on 7x7 maps at batch 8 (32 tiles) 18.1 -> 7.6 ms, 4x4 maps 11.9
 * -> 3.1, 256 channels on 7x7 at 8 3.4 -> 1.5, 128 channels 1.29x; at 128 tiles
 * 1.03-1.18x (128 -> 512 channels), at 256 1.04-1.08x with 256 or 512 channels but
 * 0.84x with 128, at 512 0.63-1.07x; 64 channels (0.6 MB of accumulators) 0.82-1.0x. */
#ifndef FC_WINO_BW_FILTERS_TILES
#define FC_WINO_BW_FILTERS_TILES 128
#endif
#ifndef FC_WINO_BW_FILTERS_MIN_BYTES
#define FC_WINO_BW_FILTERS_MIN_BYTES (2u << 20)
#endif
/* up to twice the tiles from this many bytes of accumulators */
#ifndef FC_WINO_BW_FILTERS_WIDE_BYTES
#define FC_WINO_BW_FILTERS_WIDE_BYTES (8u << 20)
#endif
int fc_wino_bw_filters_plan(const fc_conv_geom *g, fc_int nimg, size_t elem, fc_conv_plan *fp)
{
    fc_wino_bw_plan_make(g, elem, fp);
    /* F(4x4) only: the F(2x2) weight gradient's thresholds were never measured */
    if (!fp->wino || fp->wino_s2 || fp->wino_m != 4 || nimg < 1)
        return 0;
    const fc_int rows = nimg * fp->wino_th, tiles = rows * fp->wino_tw;
    const size_t nx = (size_t)(fp->wino_m + 2) * (size_t)(fp->wino_m + 2);
    const size_t acc = nx * (size_t)g->K * (size_t)g->C * elem;
    const fc_int most = acc >= FC_WINO_BW_FILTERS_WIDE_BYTES ? 2 * FC_WINO_BW_FILTERS_TILES
                                                             : FC_WINO_BW_FILTERS_TILES;
    if (tiles > most || acc < FC_WINO_BW_FILTERS_MIN_BYTES)
        return 0;
    fc_wino_plan_rows(fp, elem, 4, 0, fp->wino_th, fp->wino_tw, rows);
    return 1;
}

size_t fc_wino_bw_filters_m_bytes(const fc_conv_plan *pl, size_t elem)
{
    const size_t nx = (size_t)(pl->wino_m + 2) * (size_t)(pl->wino_m + 2);
    return fc_align_up(nx * FC_WINO_BW_KB * FC_WINO_BW_CB * elem);
}

size_t fc_wino_bw_filters_bytes(const fc_conv_plan *pl, size_t elem)
{
    fc_int as, ps, vs;
    size_t a, v, m, p, r;
    fc_wino_bw_sizes(pl, elem, &as, &ps, &vs, &a, &v, &m, &p, &r);
    return a + v + fc_wino_bw_filters_m_bytes(pl, elem) + p + r + FC_ALIGN;
}

int fc_conv2d_backward_weight_filters_ok(const fc_conv_geom *g, fc_int nimg, size_t elem)
{
    fc_conv_plan fp;
    return fc_wino_bw_filters_plan(g, nimg, elem, &fp)
               ? (int)FC_MAX(1, FC_MIN(g->K / FC_WINO_BW_KB, 1 << 20)) : 0;
}

size_t fc_conv2d_backward_weight_filters_bytes(const fc_conv_geom *g, fc_int nimg, size_t elem)
{
    fc_conv_plan fp;
    return fc_wino_bw_filters_plan(g, nimg, elem, &fp) ? fc_wino_bw_filters_bytes(&fp, elem) : 0;
}

/* dX of g by F(4x4, 2x2) on its four phases (wino_s2 2); dg: dY in (K channels,
 * Ho x Wo), dX out (C channels, H x W), the stride and padding of g. */
void fc_wino_s2_bwd_data_plan(const fc_conv_geom *g, size_t elem, fc_conv_plan *pl)
{
    fc_conv_geom *d = &pl->dg;
    *d = *g;
    d->C = g->K;
    d->K = g->C;
    d->H = g->Ho;
    d->W = g->Wo;
    d->Ho = g->H;
    d->Wo = g->W;
    pl->direct = 1;
    pl->m = d->K;
    pl->n = d->Ho * d->Wo;
    pl->k = d->C * d->R * d->S;
    fc_wino_plan(pl, elem, 4, FC_WINO_S2_TILES, 2);
}

/* The Winograd plan of a direct plan pl of pass op, if its geometry pl->dg runs
 * one: 1, else 0 (pl untouched). */
int fc_wino_plan_direct(fc_conv_plan *pl, int op, size_t elem)
{
    const fc_conv_geom *d = &pl->dg;
    if (op == FC_OP_FWD && fc_wino_s2_ok(d, op)) {
        fc_wino_plan(pl, elem, 4, FC_WINO_S2_TILES, 1);
        return 1;
    }
    const int tile = fc_wino_tile(d);
    if (!tile)
        return 0;
    fc_wino_plan(pl, elem, tile, tile == 4 ? FC_WINO4_TILES : FC_WINO_TILES, 0);
    return 1;
}
