/*
 * conv_winograd4_filters.c -- F(4x4, 3x3) forward (and backward-data, on flipped
 * weights) of few tiles and many channel pairs, split by filters, the weights
 * transformed block by block as the products need them (fc_conv2d_forward_filters_*).
 *
 * The batch path transforms every weight once a call into nx = 36 planes of K x C
 * (fc_wino_pack_weights) before the products: 36 values per filter and channel pair,
 * 37.7 MB for 512 x 512 channels, written to memory and read back by every run of
 * images -- on a batch of a few 7x7 maps (ResNet's last stage) that traffic took half
 * the pass. Here each part (filters [k0, k1)) transforms the whole batch's input
 * tiles once, then for each block of FC_WINO4_KB filters and each channel block
 * transforms just those weights into an L2-sized buffer and runs the 36 products on
 * them. Every output element is the batch path's: the same transformed weights, the
 * same channel blocks summed in the same order by the same kernel.
 */
#ifndef FC_T
#include <string.h>
#include "conv_internal.h"

/* Filters per weight block: 36 x FC_WINO4_KB x kcb transformed weights in cache. */
#ifndef FC_WINO4_KB
#define FC_WINO4_KB 24
#endif
_Static_assert(FC_WINO4_KB % 6 == 0, "FC_WINO4_KB: a multiple of MR (6)");
/* Taken up to this many 4x4 tiles in the batch from this many bytes of transformed
 * weights, twice the tiles from FC_WINO4_FILTERS_WIDE_BYTES. Measured (AVX-512, 2
 * threads, float forward with plain weights, the same process), batch path ->
 * filters: 512 channels on 7x7 maps at batch 8 (32 tiles) 10.7 -> 5.7 ms, on 14x14 at
 * 4 (64 tiles) 14.7 -> 9.2, at 32 on 7x7 (128 tiles) 1.34x; 256 channels on 7x7 at 8
 * 1.27x, at 16 1.10x, 192 and 160 channels at 8 1.27x, 1.15x; 256 channels at 128 tiles
 * 0.97-1.00x, 512 at 256 tiles 0.96x; 128 channels (2.4 MB) level. */
#ifndef FC_WINO4_FILTERS_TILES
#define FC_WINO4_FILTERS_TILES 64
#endif
#ifndef FC_WINO4_FILTERS_MIN_BYTES
#define FC_WINO4_FILTERS_MIN_BYTES (4u << 20)
#endif
#ifndef FC_WINO4_FILTERS_WIDE_BYTES
#define FC_WINO4_FILTERS_WIDE_BYTES (16u << 20)
#endif

/* g's forward plan with every tile of the batch in one block, or 0 where the split does
 * not apply. */
static int fc_wino4_filters_plan(const fc_conv_geom *g, fc_int nimg, size_t elem,
                                 fc_conv_plan *pl)
{
    if (nimg < 1)
        return 0;
    fc_conv_plan_make(g, FC_OP_FWD, elem, pl);
    if (!pl->wino || pl->wino_m != 4 || pl->wino_s2)
        return 0;
    const fc_int rows = nimg * pl->wino_th, tiles = rows * pl->wino_tw;
    const size_t bytes = 36 * (size_t)g->K * (size_t)g->C * elem;
    const fc_int most = bytes >= FC_WINO4_FILTERS_WIDE_BYTES ? 2 * FC_WINO4_FILTERS_TILES
                                                            : FC_WINO4_FILTERS_TILES;
    /* at least two blocks of filters: two threads' parts */
    if (tiles > most || bytes < FC_WINO4_FILTERS_MIN_BYTES || g->K < 2 * FC_WINO4_KB)
        return 0;
    fc_wino_plan_rows(pl, elem, 4, 0, pl->wino_th, pl->wino_tw, rows);
    return 1;
}

/* The transformed weights of one block: 36 planes of FC_WINO4_KB x kcb. */
static size_t fc_wino4_filters_a_bytes(const fc_conv_plan *pl, size_t elem)
{
    return fc_align_up(36 * (size_t)FC_WINO4_KB * (size_t)pl->kcb * elem);
}

int fc_conv2d_forward_filters_ok(const fc_conv_geom *g, fc_int nimg, size_t elem)
{
    fc_conv_plan pl;
    return fc_wino4_filters_plan(g, nimg, elem, &pl)
               ? (int)FC_MIN(g->K / FC_WINO4_KB, 1 << 20) : 0;
}

size_t fc_conv2d_forward_filters_bytes(const fc_conv_geom *g, fc_int nimg, size_t elem)
{
    fc_conv_plan pl;
    if (!fc_wino4_filters_plan(g, nimg, elem, &pl))
        return 0;
    return fc_wino4_filters_a_bytes(&pl, elem) + pl.wino_v_bytes + pl.wino_m_bytes +
           pl.wino_r_bytes + FC_ALIGN;
}

#define FC_TMPL_SELF "conv_winograd4_filters.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

void FC_SFX(fc_conv2d_forward_filters_part)(const fc_conv_geom *g, fc_int nimg, const FC_T *x,
                                            const FC_T *w, int flip, const FC_T *bias,
                                            const FC_T *res, int act, FC_T act_param, FC_T *y,
                                            int part, int nparts, void *work)
{
    fc_conv_plan pl;
    if (!fc_wino4_filters_plan(g, nimg, sizeof(FC_T), &pl))
        return;
    fc_int k0, k1;
    fc_split_range(g->K, FC_MR, part, nparts, &k0, &k1);
    if (k1 <= k0)
        return;
    const fc_int tbp = pl.wino_tbp, rows = nimg * pl.wino_th, ntile = rows * pl.wino_tw;
    const fc_int npan = (ntile + FC_NR - 1) / FC_NR, C = g->C;
    char *wk = (char *)fc_align_ptr(work);
    FC_T *ab = (FC_T *)wk;
    wk += fc_wino4_filters_a_bytes(&pl, sizeof(FC_T));
    FC_T *vb = (FC_T *)wk;
    FC_T *mb = (FC_T *)(wk + pl.wino_v_bytes);
    FC_T *rowbuf = (FC_T *)(wk + pl.wino_v_bytes + pl.wino_m_bytes);
    FC_SFX(fc_ukb_fn) ukb = FC_SFX(fc_ukb_select)();
    FC_SFX(fc_wino4_input)(&pl, x, 0, rows, vb, rowbuf);
    for (fc_int kb = k0; kb < k1; kb += FC_WINO4_KB) {
        const fc_int kn = FC_MIN(FC_WINO4_KB, k1 - kb);
        for (fc_int blk = 0, pc, kc; blk < fc_wino_nblocks(&pl); ++blk) {
            fc_wino_block(&pl, blk, &pc, &kc);
            const size_t plane = (size_t)FC_WINO4_KB * (size_t)kc;
            FC_SFX(fc_wino4_pack_rows)(&pl, w, flip, ab, plane, pc, kb,
                                       FC_MIN(fc_roundup(k1, FC_MR), kb + FC_WINO4_KB));
            const FC_T beta = blk ? (FC_T)1 : (FC_T)0;
            for (int xi = 0; xi < 36; ++xi)
                ukb(kc, ab + (size_t)xi * plane, FC_MR * kc, vb + xi * pl.wino_vs + pc * FC_NR,
                    C * FC_NR, mb + xi * pl.wino_ms + kb * tbp, tbp, beta, (int)kn,
                    (int)(npan * FC_NR));
        }
    }
    FC_SFX(fc_wino4_output)(&pl, mb, 0, rows, k0, k1, bias, res, act, act_param, y, rowbuf);
}

#endif
