/*
 * conv_part.c -- how a team sharing one image cuts its forward convolution
 * (fc_conv2d_forward_packed_part): which of the plan's ranges each part runs,
 * and which block of the output that is, so that a pooling layer after the
 * convolution can pool each part's rows on the thread that wrote them.
 */
#include "conv_internal.h"

/* A team sharing one image splits its pixels when each part gets at least
 * this many chunks of NR/2 pixels, else its output channels. */
#ifndef FC_SPLIT_MIN_CHUNKS
#define FC_SPLIT_MIN_CHUNKS 16
#endif

/* ... and on the output-channel-vector path when each part gets this many
 * tiles of MR pixels, else its output channels. */
#ifndef FC_CVEC_SPLIT_MIN_TILES
#define FC_CVEC_SPLIT_MIN_TILES 4
#endif

void fc_split_range(fc_int n, fc_int align, int part, int nparts, fc_int *lo, fc_int *hi)
{
    const fc_int units = (n + align - 1) / align;
    *lo = FC_MIN(n, units * part / nparts * align);
    *hi = FC_MIN(n, units * (part + 1) / nparts * align);
}

/* The smallest multiple of `align` that is also a multiple of a band of
 * `rows` whole rows (of `row` units each) -- or `align` itself when that would
 * leave a part of n without work. */
static fc_int row_align(fc_int n, fc_int align, fc_int row, fc_int rows, int nparts)
{
    if (rows <= 1 || row <= 0)
        return align;
    const fc_int band = row * rows;
    fc_int a = align;
    while (a % band && a <= n)
        a += align;
    return a % band == 0 && a * nparts <= n ? a : align;
}

/* The part's output block from a pixel range [p0, p1) of rows `row` pixels
 * long (out of n): whole rows or no block. */
static void pixel_block(fc_conv_part *pt, fc_int p0, fc_int p1, fc_int row, fc_int n, fc_int K)
{
    if (p0 % row == 0 && (p1 % row == 0 || p1 == n)) {
        pt->r0 = p0 / row;
        pt->r1 = (p1 + row - 1) / row;
        pt->k0 = 0;
        pt->k1 = K;
    } else {
        pt->r0 = -1;
    }
}

void fc_conv_part_make(const fc_conv_geom *g, const fc_conv_plan *pl, size_t elem, int part,
                       int nparts, fc_int rows, fc_conv_part *pt)
{
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int cw = nr / 2, Ho = g->Ho, K = g->K;
    pt->t0 = pt->i0 = pt->r0 = pt->k0 = 0;
    pt->t1 = pt->i1 = 1;
    pt->r1 = Ho;
    pt->k1 = K;
    if (fc_1x1_rows_ok(g)) {
        /* few pixels: each part its share of the output-channel panels */
        pt->path = FC_PART_1X1_ROWS;
        fc_split_range(fc_1x1_rows_panels(g, elem), 1, part, nparts, &pt->i0, &pt->i1);
        pt->k0 = FC_MIN(K, pt->i0 * nr);
        pt->k1 = FC_MIN(K, pt->i1 * nr);
    } else if (pl->wino && pl->wino_th >= pl->wino_rows * nparts) {
        pt->path = FC_PART_WINO;
        /* tile rows of wino_m output rows: bands of rows / gcd(rows, wino_m) of them */
        fc_int d = FC_MAX(rows, 1), e = pl->wino_m;
        while (e) {
            const fc_int r = d % e;
            d = e;
            e = r;
        }
        const fc_int a = row_align(pl->wino_th, pl->wino_rows, 1, FC_MAX(rows, 1) / d, nparts);
        const int whole = (a * pl->wino_m) % FC_MAX(rows, 1) == 0;
        fc_split_range(pl->wino_th, a, part, nparts, &pt->t0, &pt->t1);
        pt->i1 = K;
        pt->r0 = pt->t0 * pl->wino_m;
        pt->r1 = FC_MIN(Ho, pt->t1 * pl->wino_m);
        if (!whole)
            pt->r0 = -1;
    } else if (pl->wino) {
        /* output channels in whole pairs where the AVX-512 kernels run (32 channels:
         * 16 + 16, not 18 + 14 in 6-row panels), else in whole panels */
        pt->path = FC_PART_WINO;
        pt->t1 = pl->wino_th;
        fc_split_range(K, fc_simd_path() == FC_SIMD_AVX512 ? 2 : mr, part, nparts, &pt->i0,
                       &pt->i1);
        pt->k0 = pt->i0;
        pt->k1 = pt->i1;
    } else if (pl->cvec) {
        /* pixel tiles while each part gets a few, else NR-wide output-channel panels */
        pt->path = FC_PART_CVEC;
        const fc_int tiles = (pl->n + mr - 1) / mr;
        if (tiles >= FC_CVEC_SPLIT_MIN_TILES * nparts) {
            fc_split_range(pl->n, row_align(pl->n, mr, g->Wo, rows, nparts), part, nparts,
                           &pt->t0, &pt->t1);
            pt->i1 = pl->m;
            pixel_block(pt, pt->t0, pt->t1, g->Wo, pl->n, K);
        } else {
            pt->t1 = pl->n;
            fc_split_range(pl->m, nr, part, nparts, &pt->i0, &pt->i1);
            pt->k0 = pt->i0;
            pt->k1 = pt->i1;
        }
    } else if (pl->direct && pl->flat && pl->nch >= FC_SPLIT_MIN_CHUNKS * nparts) {
        /* chunks across rows: the pixels in tile pairs, cut on whole bands of rows where
         * that leaves every part work, the chunks those pixels start */
        fc_int p0, p1;
        pt->path = FC_PART_DIRECT;
        fc_split_range(pl->n, row_align(pl->n, 2 * cw, g->Wo, rows, nparts), part, nparts, &p0,
                       &p1);
        pt->t0 = (p0 + cw - 1) / cw;
        pt->t1 = (p1 + cw - 1) / cw;
        pt->i1 = pl->m;
        pixel_block(pt, p0, p1, g->Wo, pl->n, K);
    } else if (pl->direct && pl->nch >= FC_SPLIT_MIN_CHUNKS * nparts) {
        /* chunks in tile pairs (tiles, kernel groups and splits start at even chunks) */
        const fc_int per_row = (g->Wo + cw - 1) / cw;
        pt->path = FC_PART_DIRECT;
        fc_split_range(pl->nch, row_align(pl->nch, 2, per_row, rows, nparts), part, nparts,
                       &pt->t0, &pt->t1);
        pt->i1 = pl->m;
        pixel_block(pt, pt->t0, pt->t1, per_row, pl->nch, K);
    } else if (pl->direct) {
        /* few pixels: split the output channels (each thread streams half the weights) */
        pt->path = FC_PART_DIRECT;
        pt->t1 = pl->nch;
        fc_split_range(pl->m, mr, part, nparts, &pt->i0, &pt->i1);
        pt->k0 = pt->i0;
        pt->k1 = pt->i1;
    } else if (!pl->one_by_one) {
        /* the im2col GEMM: one part does it all */
        pt->path = FC_PART_GEMM;
        pt->t1 = part == 0 ? pl->n : 0;
        pt->i1 = pl->m;
        if (part != 0)
            pt->r1 = pt->k1 = 0;
    } else if (pl->n >= FC_SPLIT_MIN_CHUNKS * cw * nparts) {
        pt->path = FC_PART_GEMM;
        fc_split_range(pl->n, row_align(pl->n, nr, g->Wo, rows, nparts), part, nparts, &pt->t0,
                       &pt->t1);
        pt->i1 = pl->m;
        pixel_block(pt, pt->t0, pt->t1, g->Wo, pl->n, K);
    } else {
        pt->path = FC_PART_GEMM;
        pt->t1 = pl->n;
        fc_split_range(pl->m, mr, part, nparts, &pt->i0, &pt->i1);
        pt->k0 = pt->i0;
        pt->k1 = pt->i1;
    }
    if (pt->t0 >= pt->t1 || pt->i0 >= pt->i1) {
        /* nothing to run: an empty block */
        pt->t1 = pt->t0;
        pt->r0 = pt->r1 = pt->k0 = pt->k1 = 0;
    }
}

int fc_pool_part_rows(const fc_conv_part *pt, const fc_pool_geom *pg, fc_int *p0, fc_int *p1)
{
    const fc_int sh = pg->stride_h;
    if (pg->pad_h || pg->pad_bottom || pg->dil_h != 1 || pg->kh > sh || pt->r0 < 0)
        return 0;
    if (pt->r0 == pt->r1) {
        *p0 = *p1 = 0;
        return 1;
    }
    if (pt->r0 % sh || (pt->r1 % sh && pt->r1 != pg->H))
        return 0;
    *p0 = FC_MIN(pt->r0 / sh, pg->Ho);
    *p1 = pt->r1 == pg->H ? pg->Ho : FC_MIN(pt->r1 / sh, pg->Ho);
    return 1;
}

int fc_conv2d_split_pools(const fc_conv_geom *g, const fc_pool_geom *pg, int nparts, size_t elem)
{
    fc_conv_plan pl;
    fc_conv_part pt;
    fc_int p0, p1;
    if (pg->H != g->Ho || pg->W != g->Wo)
        return 0;
    fc_conv_plan_make(g, FC_OP_FWD, elem, &pl);
    for (int part = 0; part < nparts; ++part) {
        fc_conv_part_make(g, &pl, elem, part, nparts, pg->stride_h, &pt);
        if (!fc_pool_part_rows(&pt, pg, &p0, &p1))
            return 0;
    }
    return 1;
}
