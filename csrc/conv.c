/*
 * conv.c -- one image's 2-D cross-correlation and its gradients as implicit
 * GEMMs on the packed GEMM machinery (gemm_internal.h). All serial: the
 * caller (Cython prange over images) owns the threads; each call uses only
 * its own workspace `work` (fc_conv2d_workspace_bytes), any alignment
 * (aligned up to 64 bytes internally; the size includes the slack).
 *
 *   forward:   Y (K x P) = W (K x CRS) . col(x) (CRS x P), P = Ho*Wo.
 *              Direct path (every non-1x1 conv): col(x) is never packed,
 *              the fc_dkr micro-kernel loads its B rows straight from the
 *              zero-bordered (for stride_w > 1 phase-split) image, two
 *              chunks of NR/2 pixels of an output row per tile;
 *              bias + activation applied to each finished group of Y.
 *   bwd data:  stride 1 (and C filling the MR rows): the forward direct
 *              path run on dy with the flipped, transposed weights.
 *              Otherwise dcol (CRS x P) = W^T . dY, computed block by block
 *              into a scratch tile and scattered (col2im) into dx.
 *   bwd weight: K >= 16: dW^T (CRS x K) = col(x) . dY^T over a run of
 *              images, col(x) broadcast from the image by the fc_akr
 *              micro-kernel (fc_conv2d_backward_weight_batch). Otherwise
 *              dW (K x CRS) += dY (K x P) . col(x)^T, col(x)^T packed
 *              straight from the image. db += row sums of dY.
 *              Small filters (float, stride 1, CRS <= 32 or C <= 3, and not
 *              the K >= 16 fc_akr case): direct kernel, 8-lane accumulators
 *              per (k, c, r, s) fed by unaligned loads of dy rows and of the
 *              zero-bordered image (fc_bw_small_run), AVX2 or portable C.
 * Weights are packed once per batch (fc_conv2d_pack_weights) and shared
 * read-only; the *_batch entry points run a run of images with the tables
 * and zero borders set up once.
 * 1x1 / stride 1 / no padding convolutions skip the im2col machinery.
 */
#ifndef FC_T
#include <stdlib.h>
#include "gemm_internal.h"

/* Images are first copied into a zero-bordered buffer (Hp x Wp per
 * channel, the border wide enough for every tap), so the packers and col2im
 * run without bounds checks. Input pixel (c, ih, iw) sits at
 * c*Hp*Wp + (ih + mt)*Wp + (iw + ml). */
typedef struct fc_padgeom {
    fc_int mt, ml, Hp, Wp;
} fc_padgeom;

static void fc_pad_geom(const fc_conv_geom *g, fc_padgeom *pg)
{
    pg->mt = FC_MAX(g->pad_top, 0);
    pg->ml = FC_MAX(g->pad_left, 0);
    const fc_int ihmax = (g->Ho - 1) * g->stride_h - g->pad_top + (g->R - 1) * g->dil_h;
    const fc_int iwmax = (g->Wo - 1) * g->stride_w - g->pad_left + (g->S - 1) * g->dil_w;
    pg->Hp = pg->mt + FC_MAX(g->H, ihmax + 1);
    pg->Wp = pg->ml + FC_MAX(g->W, iwmax + 1);
}

/* A run of output pixels on one output row: tap (c, r, s) of its t-th pixel
 * is at padded offset c*Hp*Wp + r*dil_h*Wp + s*dil_w + base + t*stride_w;
 * `dst` says where the run goes (meaning depends on the user). zero != 0
 * marks a run of zero padding instead. */
typedef struct fc_seg {
    fc_int base, len, dst, zero;
} fc_seg;

/* Segments for the pixel run [p0, p0 + n), dst = dbase + position in run. */
static fc_int fc_make_segs(const fc_conv_geom *g, const fc_padgeom *pg, fc_int p0, fc_int n,
                           fc_int dbase, fc_seg *sg)
{
    fc_int ns = 0, off = 0;
    fc_int oh = p0 / g->Wo, ow = p0 - oh * g->Wo;
    while (off < n) {
        fc_int len = FC_MIN(n - off, g->Wo - ow);
        sg[ns].base = (oh * g->stride_h - g->pad_top + pg->mt) * pg->Wp +
                      (ow * g->stride_w - g->pad_left + pg->ml);
        sg[ns].len = len;
        sg[ns].dst = dbase + off;
        sg[ns].zero = 0;
        ++ns;
        off += len;
        ow = 0;
        ++oh;
    }
    return ns;
}

enum { FC_OP_FWD = 0, FC_OP_BWD_DATA = 1, FC_OP_BWD_WEIGHT = 2 };

typedef struct fc_conv_plan {
    int one_by_one;        /* 1x1, stride 1, no padding: col(x) == x */
    int direct;            /* direct-B path (see fc_conv_direct_run) on geometry dg */
    fc_conv_geom dg;       /* direct: the forward geometry actually run */
    fc_int nch;            /* direct: output chunks of CW pixels */
    fc_int wq, wrow;       /* direct: phase width ceil(Wp/stride_w), row length stride_w*wq */
    fc_int m, n, k;
    fc_int kcb, mcb, ncb;
    fc_padgeom pg;
    size_t ap_bytes, b_bytes, t_bytes, s_bytes, x_bytes, o_bytes;
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
#ifndef FC_DIRECT_KC
#define FC_DIRECT_KC 256
#endif

/* Direct path (B read straight from the zero-bordered image by the fc_dkr
 * micro-kernel, no im2col packing): forward whenever output pixels along a
 * row are contiguous taps (stride_w == 1). Backward-data with stride 1 is
 * the forward conv of dy (zero-bordered) with the flipped, transposed
 * weights w'(c, k, R-1-r, S-1-s), run when C fills the MR rows well enough. */
static int fc_fwd_direct_ok(const fc_conv_geom *g)
{
    return !fc_is_1x1(g);
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

/* The forward geometry whose output is dx: input dy (K, Ho, Wo), K' = C. */
static void fc_bwd_data_geom(const fc_conv_geom *g, fc_conv_geom *t)
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
}

static void fc_conv_plan_make(const fc_conv_geom *g, int op, size_t elem, fc_conv_plan *pl)
{
    const fc_int mr = elem == 8 ? FC_MR_F64 : FC_MR_F32;
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int KC = elem == 8 ? FC_KC_F64 : FC_KC_F32;
    const fc_int MC = elem == 8 ? FC_MC_F64 : FC_MC_F32;
    const fc_int P = g->Ho * g->Wo, CRS = g->C * g->R * g->S;
    memset(pl, 0, sizeof(*pl));
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
        pl->nch = d->Ho * ((d->Wo + cw - 1) / cw);
        pl->ap_bytes = fc_align_up((size_t)fc_roundup(pl->m, mr) * (size_t)FC_MAX(pl->k, 1) * elem);
        pl->wq = (pl->pg.Wp + d->stride_w - 1) / d->stride_w;
        pl->wrow = pl->wq * d->stride_w;
        pl->x_bytes = fc_align_up(((size_t)d->C * (size_t)pl->pg.Hp * (size_t)pl->wrow + 2 * (size_t)cw) * elem);
        pl->o_bytes = fc_align_up(((size_t)pl->k + 3 * (size_t)pl->nch) * sizeof(fc_int));
        pl->total = pl->ap_bytes + pl->x_bytes + pl->o_bytes + FC_ALIGN;
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

/* Backward-weight over a run of images (fc_conv2d_backward_weight_batch):
 * dW^T (CRS x K) = sum over images and pixels of col(x) . dY^T, with col(x)
 * never formed: the fc_akr micro-kernel broadcasts its A elements straight
 * from the zero-bordered image (tap row pointer + pixel offset), B = dY^T is
 * packed per image. Worth it when K fills the NR columns. */
static int fc_bw_direct_ok(const fc_conv_geom *g)
{
    return g->K >= 16 && g->C * g->R * g->S >= 16 && !fc_is_1x1(g);
}

typedef struct fc_bw_plan {
    fc_int kcb;
    fc_padgeom pg;
    size_t t_bytes, x_bytes, b_bytes, o_bytes, total;
} fc_bw_plan;

static void fc_bw_plan_make(const fc_conv_geom *g, size_t elem, fc_bw_plan *pl)
{
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int P = g->Ho * g->Wo, CRS = g->C * g->R * g->S;
    memset(pl, 0, sizeof(*pl));
    fc_pad_geom(g, &pl->pg);
    pl->kcb = fc_block_size(P, 256, 1);
    pl->t_bytes = fc_align_up((size_t)CRS * (size_t)g->K * elem);
    pl->x_bytes = fc_align_up((size_t)g->C * (size_t)pl->pg.Hp * (size_t)pl->pg.Wp * elem);
    pl->b_bytes = fc_align_up((size_t)fc_roundup(g->K, nr) * (size_t)P * elem);
    pl->o_bytes = fc_align_up(((size_t)P + (size_t)CRS) * sizeof(fc_int));
    pl->total = pl->t_bytes + pl->x_bytes + pl->b_bytes + pl->o_bytes + FC_ALIGN;
}

/* Small-filter backward-weight (fc_conv2d_backward_weight_batch, float,
 * stride 1): dW (K x CRS) is only K rows deep, so the GEMM paths spend their
 * time packing col(x) for a handful of multiply-adds per element. Instead,
 * per image, for each filter pair (k, k+1), tap row (c, r) and up to 6 taps s,
 * 8-lane accumulators dwv[(k, c, r, s)][0:8] take
 *   dy[k][oh][ow:ow+8] * x[c][oh + r*dil_h][ow + s*dil_w : +8]
 * over oh and 8-pixel chunks of an output row (the last chunk masked), read
 * straight from the zero-bordered image. The lanes are summed (fixed tree)
 * into dw at the end of the run, so the order depends on g and nimg only.
 * Chosen by measurement (1 thread, AVX2) over the im2col / fc_akr paths:
 * CRS <= 32 or C <= 3, unless the fc_akr path applies (K >= 16 and
 * CRS >= 16), which stays faster there (3x32 5x5 32x32: 3.6 vs 6.1 ms). */
static int fc_bw_small_ok(const fc_conv_geom *g, size_t elem)
{
    const fc_int CRS = g->C * g->R * g->S;
    return elem == 4 && g->stride_h == 1 && g->stride_w == 1 && !fc_is_1x1(g) &&
           (CRS <= 32 || g->C <= 3) && (g->K < 16 || CRS < 16);
}

static void fc_bw_small_sizes(const fc_conv_geom *g, size_t elem, fc_padgeom *pg,
                              size_t *x_bytes, size_t *v_bytes)
{
    fc_pad_geom(g, pg);
    *x_bytes = fc_align_up((size_t)g->C * (size_t)pg->Hp * (size_t)pg->Wp * elem);
    *v_bytes = fc_align_up((size_t)g->K * (size_t)(g->C * g->R * g->S) * 8 * elem);
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

/* KB (<= 4) filters x SN (<= 6) taps; v: dwv of (k0, tap s0), filter k0 + i
 * at v + i*vk, consecutive taps 8 floats apart. dy: dy of filter k0, filter
 * k0 + i at dy + i*P. xr: x row of (c, r) at oh = 0, tap s0. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
fc_bws_blk_avx2(const int KB, const int SN, const float *dy, fc_int P, const float *xr,
                fc_int Wp, fc_int dilw, fc_int Ho, fc_int Wo, float *v, fc_int vk)
{
    __m256 a[4][6];
    const fc_int nf = Wo / 8, rem = Wo - nf * 8;
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int i = 0; i < KB; ++i)
        for (int s = 0; s < SN; ++s)
            a[i][s] = _mm256_loadu_ps(v + i * vk + 8 * s);
    for (fc_int oh = 0; oh < Ho; ++oh) {
        const float *d = dy + oh * Wo, *x = xr + oh * Wp;
        fc_int ow = 0;
        for (fc_int q = 0; q < nf; ++q, ow += 8) {
            __m256 e[4];
            for (int i = 0; i < KB; ++i)
                e[i] = _mm256_loadu_ps(d + i * P + ow);
            for (int s = 0; s < SN; ++s) {
                const __m256 xv = _mm256_loadu_ps(x + ow + s * dilw);
                for (int i = 0; i < KB; ++i)
                    a[i][s] = _mm256_fmadd_ps(e[i], xv, a[i][s]);
            }
        }
        if (rem) {
            __m256 e[4];
            for (int i = 0; i < KB; ++i)
                e[i] = _mm256_maskload_ps(d + i * P + ow, mask);
            for (int s = 0; s < SN; ++s) {
                const __m256 xv = _mm256_maskload_ps(x + ow + s * dilw, mask);
                for (int i = 0; i < KB; ++i)
                    a[i][s] = _mm256_fmadd_ps(e[i], xv, a[i][s]);
            }
        }
    }
    for (int i = 0; i < KB; ++i)
        for (int s = 0; s < SN; ++s)
            _mm256_storeu_ps(v + i * vk + 8 * s, a[i][s]);
}

#define FC_BWS_CASE(KB, SN)                                                           \
    case SN:                                                                          \
        fc_bws_blk_avx2(KB, SN, dyk, P, xr, Wp, dilw, Ho, Wo, v, vk);                  \
        break;
/* Only the (kb, sn) pairs kbmax allows are built (kb 3: sn <= 4, kb 4: sn <= 2). */
#define FC_BWS_SWITCH2(KB)                                                            \
    switch (sn) { FC_BWS_CASE(KB, 1) FC_BWS_CASE(KB, 2) }
#define FC_BWS_SWITCH4(KB)                                                            \
    switch (sn) { FC_BWS_CASE(KB, 1) FC_BWS_CASE(KB, 2) FC_BWS_CASE(KB, 3)            \
                  FC_BWS_CASE(KB, 4) }
#define FC_BWS_SWITCH(KB)                                                             \
    switch (sn) {                                                                     \
        FC_BWS_CASE(KB, 1) FC_BWS_CASE(KB, 2) FC_BWS_CASE(KB, 3)                      \
        FC_BWS_CASE(KB, 4) FC_BWS_CASE(KB, 5) FC_BWS_CASE(KB, 6)                      \
    }

/* One image (xp: zero-bordered, dy: K x Ho x Wo) into dwv. Filters in
 * blocks of kb (as many as the 16 ymm registers hold with the tap block). */
static __attribute__((target("avx2,fma"))) void
fc_bws_image_avx2_f32(const fc_conv_geom *g, const fc_padgeom *pg, const float *xp,
                      const float *dy, float *dwv)
{
    const fc_int K = g->K, C = g->C, R = g->R, S = g->S, CRS = C * R * S;
    const fc_int Ho = g->Ho, Wo = g->Wo, Wp = pg->Wp, HWp = pg->Hp * pg->Wp, P = Ho * Wo;
    const fc_int dilw = g->dil_w, vk = CRS * 8;
    const int sfull = (int)FC_MIN(6, S);
    const int kbmax = sfull >= 5 ? 2 : sfull >= 3 ? 3 : 4;
    for (fc_int k0 = 0; k0 < K; k0 += kbmax) {
        const int kb = (int)FC_MIN(kbmax, K - k0);
        const float *dyk = dy + k0 * P;
        for (fc_int c = 0; c < C; ++c)
            for (fc_int r = 0; r < R; ++r)
                for (fc_int s0 = 0; s0 < S; s0 += 6) {
                    const int sn = (int)FC_MIN(6, S - s0);
                    const float *xr = xp + c * HWp + (r * g->dil_h - g->pad_top + pg->mt) * Wp +
                                      (s0 * dilw - g->pad_left + pg->ml);
                    float *v = dwv + (k0 * CRS + (c * R + r) * S + s0) * 8;
                    switch (kb) {
                    case 1: FC_BWS_SWITCH(1) break;
                    case 2: FC_BWS_SWITCH(2) break;
                    case 3: FC_BWS_SWITCH4(3) break;
                    default: FC_BWS_SWITCH2(4) break;
                    }
                }
    }
}
#undef FC_BWS_SWITCH
#undef FC_BWS_SWITCH2
#undef FC_BWS_SWITCH4
#undef FC_BWS_CASE
#endif /* FC_HAVE_X86_AVX2_KERNELS */

size_t fc_conv2d_workspace_bytes(const fc_conv_geom *g, size_t elem)
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
    for (int op = 0; op < 3; ++op) {
        fc_conv_plan pl;
        fc_conv_plan_make(g, op, elem, &pl);
        if (pl.total > best)
            best = pl.total;
    }
    return best;
}

size_t fc_conv2d_packed_weights_bytes(const fc_conv_geom *g, int op, size_t elem)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, op == FC_CONV_BACKWARD_DATA ? FC_OP_BWD_DATA : FC_OP_FWD, elem, &pl);
    return pl.ap_bytes;
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
    fc_padgeom pg;
    const FC_T *xp;    /* zero-bordered image (forward / bwd weight) */
    fc_seg *segs;
    /* epilogues */
    FC_T *y;
    const FC_T *bias;
    int act;
    FC_T act_param;
    FC_T *tmp;         /* bwd data: C block scratch, ldc = ldt */
    fc_int ldt;
    FC_T *dxp;         /* bwd data: zero-bordered dx accumulator */
} FC_SFX(fc_conv_ctx);

/* Copy x (C, H, W) into the zero-bordered buffer xp (C, Hp, Wp). */
static void FC_SFX(fc_pad_image)(const fc_conv_geom *g, const fc_padgeom *pg, const FC_T *x,
                                 FC_T *xp)
{
    const fc_int H = g->H, W = g->W, Hp = pg->Hp, Wp = pg->Wp, mt = pg->mt, ml = pg->ml;
    for (fc_int c = 0; c < g->C; ++c) {
        FC_T *d = xp + c * Hp * Wp;
        const FC_T *s = x + c * H * W;
        memset(d, 0, (size_t)(mt * Wp) * sizeof(FC_T));
        for (fc_int h = 0; h < H; ++h) {
            FC_T *dr = d + (h + mt) * Wp;
            for (fc_int w = 0; w < ml; ++w)
                dr[w] = 0;
            memcpy(dr + ml, s + h * W, (size_t)W * sizeof(FC_T));
            for (fc_int w = ml + W; w < Wp; ++w)
                dr[w] = 0;
        }
        memset(d + (H + mt) * Wp, 0, (size_t)((Hp - H - mt) * Wp) * sizeof(FC_T));
    }
}

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
    for (fc_int i = i0; i < i0 + mc; ++i) {
        const FC_T *src = ctx->tmp + i * ctx->ldt;
        FC_T *dxk = ctx->dxp + c * HWp + r * dhW + s * dw;
        for (fc_int q = 0; q < ns; ++q) {
            FC_T *restrict d = dxk + sg[q].base;
            const FC_T *restrict sq = src + sg[q].dst;
            const fc_int len = sg[q].len;
            if (sw == 1) {
                for (fc_int t = 0; t < len; ++t)
                    d[t] += sq[t];
            } else {
                for (fc_int t = 0; t < len; ++t)
                    d[t * sw] += sq[t];
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

/* ---------------------------------------------------------------------
 * Direct path: forward conv of geometry dg = pl->dg with B read straight
 * from the zero-bordered image by the fc_dkr micro-kernel. The output
 * pixels are cut into chunks of CW = NR/2 pixels on one output row (the
 * last chunk of a row may be shorter); a micro-tile is two chunks, so a
 * tile's B half-rows are contiguous taps: tap (c, r, s) of chunk t is at
 * xp + cbase[t] + offs[(c, r, s)]. Chunk reads may run up to CW - 1
 * elements past a row (lanes dropped), hence the zeroed slack after xp.
 * Loops: groups of chunks (B and C kept in L2) / K blocks / MC blocks /
 * tiles / MR panels; bias and activation once a group is complete.
 * ap: A = weights (K' x CRS') packed by fc_pack_a_full with pl->kcb.
 * ------------------------------------------------------------------- */
/* Copy x's interior into a zero-bordered buffer whose border is already
 * zero (runs of images reuse it: nothing else ever writes the border).
 * Short rows are copied inline: a libc call per 8-pixel row costs more than
 * the copy. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static void FC_SFX(fc_copy_interior)(const fc_conv_geom *g, const fc_padgeom *pg,
                                     fc_int wrow, const FC_T *x, FC_T *xp)
{
    const fc_int H = g->H, W = g->W, Hp = pg->Hp, mt = pg->mt, ml = pg->ml;
    for (fc_int c = 0; c < g->C; ++c) {
        for (fc_int h = 0; h < H; ++h) {
            const FC_T *restrict src = x + (c * H + h) * W;
            FC_T *restrict d = xp + (c * Hp + h + mt) * wrow + ml;
            for (fc_int w = 0; w < W; ++w)
                d[w] = src[w];
        }
    }
}

/* Zero-bordered image with each padded row split into stride_w phases:
 * padded column u goes to row position (u % sw) * wq + u / sw, so that the
 * taps of consecutive output pixels are contiguous in every phase. */
static void FC_SFX(fc_pad_image_phased)(const fc_conv_geom *g, const fc_conv_plan *pl,
                                        const FC_T *x, FC_T *xp)
{
    const fc_int sw = g->stride_w, wq = pl->wq, wrow = pl->wrow, Hp = pl->pg.Hp;
    const fc_int mt = pl->pg.mt, ml = pl->pg.ml, H = g->H, W = g->W;
    for (fc_int c = 0; c < g->C; ++c) {
        for (fc_int h = 0; h < H; ++h) {
            const FC_T *src = x + (c * H + h) * W;
            FC_T *dr = xp + (c * Hp + h + mt) * wrow;
            for (fc_int ph = 0; ph < sw; ++ph) {
                /* columns w with (w + ml) % sw == ph */
                fc_int w = ((ph - ml) % sw + sw) % sw;
                FC_T *d = dr + ph * wq + (w + ml) / sw;
                for (; w < W; w += sw)
                    *d++ = src[w];
            }
        }
    }
}

static void FC_SFX(fc_conv_direct_run)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                                       const FC_T *ap, const FC_T *bias, int act,
                                       FC_T act_param, FC_T *yall, FC_T *xp, fc_int *ob)
{
    enum { CW = FC_NR / 2 };
    const fc_conv_geom *g = &pl->dg;
    const fc_padgeom *pg = &pl->pg;
    const fc_int sw = g->stride_w, wq = pl->wq, Wr = pl->wrow, HWr = pg->Hp * pl->wrow;
    const fc_int m = pl->m, k = pl->k, P = pl->n, nch = pl->nch;
    const fc_int kcb = pl->kcb, mcb = pl->mcb, mpad = fc_roundup(m, FC_MR);
    const fc_int xs = g->C * g->H * g->W;
    fc_int *offs = ob, *cb = ob + k, *cp = cb + nch, *cl = cp + nch;

    /* Border and slack zeroed once for the whole run of images. */
    memset(xp, 0, ((size_t)(g->C * HWr) + 2 * CW) * sizeof(FC_T));
    {
        fc_int i = 0;
        for (fc_int c = 0; c < g->C; ++c)
            for (fc_int r = 0; r < g->R; ++r)
                for (fc_int s2 = 0; s2 < g->S; ++s2) {
                    const fc_int v = s2 * g->dil_w + pg->ml - g->pad_left;
                    offs[i++] = c * HWr + r * g->dil_h * Wr + (v % sw) * wq + v / sw;
                }
    }
    {
        fc_int t = 0;
        for (fc_int oh = 0; oh < g->Ho; ++oh) {
            const fc_int rowbase = (oh * g->stride_h - g->pad_top + pg->mt) * Wr;
            for (fc_int ow0 = 0; ow0 < g->Wo; ow0 += CW) {
                cb[t] = rowbase + ow0;
                cp[t] = oh * g->Wo + ow0;
                cl[t] = FC_MIN(CW, g->Wo - ow0);
                ++t;
            }
        }
    }
    FC_SFX(fc_dkr_fn) dkr = FC_SFX(fc_dkr_select)();
    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.bias = bias;
    ctx.act = act;
    ctx.act_param = act_param;
    const fc_int G = fc_roundup(FC_MAX(2, 512 / CW), 2);
    for (fc_int img = 0; img < nimg; ++img) {
    FC_T *y = yall + img * m * P;
    ctx.y = y;
    if (sw == 1)
        FC_SFX(fc_copy_interior)(g, pg, Wr, x + img * xs, xp);
    else
        FC_SFX(fc_pad_image_phased)(g, pl, x + img * xs, xp);
    for (fc_int g0 = 0; g0 < nch; g0 += G) {
        const fc_int g1 = FC_MIN(nch, g0 + G);
        if (k <= 0) {
            for (fc_int t = g0; t < g1; ++t)
                for (fc_int i = 0; i < m; ++i)
                    memset(y + i * P + cp[t], 0, (size_t)cl[t] * sizeof(FC_T));
        }
        for (fc_int pc = 0; pc < k; pc += kcb) {
            const fc_int kc = FC_MIN(kcb, k - pc);
            const FC_T beta = pc == 0 ? (FC_T)0 : (FC_T)1;
            const fc_int *op = offs + pc;
            for (fc_int ic = 0; ic < m; ic += mcb) {
                const fc_int mc = FC_MIN(mcb, m - ic);
                const FC_T *apc = ap + pc * mpad + ic * kc;
                for (fc_int t = g0; t < g1; t += 2) {
                    const FC_T *x0 = xp + cb[t];
                    FC_T *c0 = y + ic * P + cp[t];
                    const int n0 = (int)cl[t];
                    const FC_T *x1 = x0;
                    FC_T *c1 = c0;
                    int n1 = 0;
                    if (t + 1 < g1) {
                        x1 = xp + cb[t + 1];
                        c1 = y + ic * P + cp[t + 1];
                        n1 = (int)cl[t + 1];
                    }
                    for (fc_int ir = 0; ir < mc; ir += FC_MR)
                        dkr(kc, apc + ir * kc, x0, x1, op, c0 + ir * P, c1 + ir * P, P, beta,
                            (int)FC_MIN(FC_MR, mc - ir), n0, n1);
                }
            }
        }
        if (bias || act != FC_ACT_NONE) {
            const fc_int j0 = cp[g0], j1 = cp[g1 - 1] + cl[g1 - 1];
            FC_SFX(fc_epi_bias_act)(&ctx, 0, m, j0, j1 - j0);
        }
    }
    }
}

/* Flipped, transposed weights for the direct backward-data path:
 * A'(c, (k, r', s')) = w[k, c, R-1-r', S-1-s'], packed as fc_pack_a_full
 * would pack that C x KRS matrix with block size kcb. */
static void FC_SFX(fc_pack_w_flip)(const fc_conv_geom *g, fc_int kcb, const FC_T *w, FC_T *ap)
{
    const fc_int C = g->C, K = g->K, R = g->R, S = g->S, RS = R * S, CRS = C * RS;
    const fc_int k = K * RS, mpad = fc_roundup(C, FC_MR);
    for (fc_int pc = 0; pc < k; pc += kcb) {
        const fc_int kc = FC_MIN(kcb, k - pc);
        FC_T *blk = ap + pc * mpad;
        for (fc_int i0 = 0; i0 < C; i0 += FC_MR) {
            FC_T *dst = blk + i0 * kc;
            for (fc_int p = 0; p < kc; ++p) {
                const fc_int q = pc + p, kk = q / RS, rs = q - kk * RS;
                const fc_int r = rs / S, s2 = rs - r * S;
                const FC_T *src = w + kk * CRS + (R - 1 - r) * S + (S - 1 - s2);
                for (fc_int i = 0; i < FC_MR; ++i)
                    dst[i] = i0 + i < C ? src[(i0 + i) * RS] : (FC_T)0;
                dst += FC_MR;
            }
        }
    }
}

void FC_SFX(fc_conv2d_pack_weights)(const fc_conv_geom *g, int op, const FC_T *w, void *packed)
{
    fc_conv_plan pl;
    FC_T *ap = (FC_T *)packed;
    if (op == FC_CONV_BACKWARD_DATA) {
        fc_conv_plan_make(g, FC_OP_BWD_DATA, sizeof(FC_T), &pl);
        if (pl.direct)
            FC_SFX(fc_pack_w_flip)(g, pl.kcb, w, ap);
        else /* A = W^T: element (crs, k) at w[k*CRS + crs]. */
            FC_SFX(fc_pack_a_full)(pl.m, pl.k, pl.kcb, w, 1, pl.m, ap);
    } else {
        fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
        FC_SFX(fc_pack_a_full)(pl.m, pl.k, pl.kcb, w, pl.k, 1, ap);
    }
}

void FC_SFX(fc_conv2d_forward)(const fc_conv_geom *g, const FC_T *x, const FC_T *w,
                               const FC_T *bias, int act, FC_T act_param, FC_T *y, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    FC_T *ap = (FC_T *)fc_align_ptr(work);
    FC_SFX(fc_conv2d_pack_weights)(g, FC_CONV_FORWARD, w, ap);
    FC_SFX(fc_conv2d_forward_packed)(g, x, ap, bias, act, act_param, y, work);
}

void FC_SFX(fc_conv2d_forward_packed_batch)(const fc_conv_geom *g, fc_int nimg, const FC_T *x,
                                            const void *packed, const FC_T *bias, int act,
                                            FC_T act_param, FC_T *y, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    if (pl.direct) {
        char *wk = (char *)fc_align_ptr(work) + pl.ap_bytes;
        FC_SFX(fc_conv_direct_run)(&pl, nimg, x, (const FC_T *)packed, bias, act, act_param, y,
                                   (FC_T *)wk, (fc_int *)(wk + pl.x_bytes));
        return;
    }
    const fc_int xs = g->C * g->H * g->W, ys = g->K * g->Ho * g->Wo;
    for (fc_int n = 0; n < nimg; ++n)
        FC_SFX(fc_conv2d_forward_packed)(g, x + n * xs, packed, bias, act, act_param, y + n * ys,
                                         work);
}

void FC_SFX(fc_conv2d_forward_packed)(const fc_conv_geom *g, const FC_T *x, const void *packed,
                                      const FC_T *bias, int act, FC_T act_param, FC_T *y,
                                      void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, sizeof(FC_T), &pl);
    const FC_T *ap = (const FC_T *)packed;
    if (pl.direct) {
        char *wk = (char *)fc_align_ptr(work) + pl.ap_bytes;
        FC_SFX(fc_conv_direct_run)(&pl, 1, x, ap, bias, act, act_param, y, (FC_T *)wk,
                                   (fc_int *)(wk + pl.x_bytes));
        return;
    }
    FC_T *ap_unused, *bb, *tmp, *xp;
    fc_seg *segs;
    FC_SFX(fc_conv_carve)(&pl, work, &ap_unused, &bb, &tmp, &segs, &xp);
    const fc_int P = pl.n;

    FC_SFX(fc_conv_ctx) ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.g = g;
    ctx.pg = pl.pg;
    ctx.xp = xp;
    ctx.segs = segs;
    if (!pl.one_by_one)
        FC_SFX(fc_pad_image)(g, &pl.pg, x, xp);
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
    FC_T *ap = (FC_T *)fc_align_ptr(work);
    FC_SFX(fc_conv2d_pack_weights)(g, FC_CONV_BACKWARD_DATA, w, ap);
    FC_SFX(fc_conv2d_backward_data_packed)(g, dy, ap, dx, work);
}

void FC_SFX(fc_conv2d_backward_data_packed_batch)(const fc_conv_geom *g, fc_int nimg,
                                                  const FC_T *dy, const void *packed, FC_T *dx,
                                                  void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_BWD_DATA, sizeof(FC_T), &pl);
    if (pl.direct) {
        char *wk = (char *)fc_align_ptr(work) + pl.ap_bytes;
        FC_SFX(fc_conv_direct_run)(&pl, nimg, dy, (const FC_T *)packed, NULL, FC_ACT_NONE, 0, dx,
                                   (FC_T *)wk, (fc_int *)(wk + pl.x_bytes));
        return;
    }
    const fc_int xs = g->C * g->H * g->W, ys = g->K * g->Ho * g->Wo;
    for (fc_int n = 0; n < nimg; ++n)
        FC_SFX(fc_conv2d_backward_data_packed)(g, dy + n * ys, packed, dx + n * xs, work);
}

void FC_SFX(fc_conv2d_backward_data_packed)(const fc_conv_geom *g, const FC_T *dy,
                                            const void *packed, FC_T *dx, void *work)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_BWD_DATA, sizeof(FC_T), &pl);
    const FC_T *ap = (const FC_T *)packed;
    if (pl.direct) {
        char *wk = (char *)fc_align_ptr(work) + pl.ap_bytes;
        FC_SFX(fc_conv_direct_run)(&pl, 1, dy, ap, NULL, FC_ACT_NONE, 0, dx, (FC_T *)wk,
                                   (fc_int *)(wk + pl.x_bytes));
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
        /* Crop the accumulator into dx. */
        const fc_int H = g->H, W = g->W, Hp = pl.pg.Hp, Wp = pl.pg.Wp;
        for (fc_int c = 0; c < g->C; ++c)
            for (fc_int h = 0; h < H; ++h)
                memcpy(dx + (c * H + h) * W, xp + c * Hp * Wp + (h + pl.pg.mt) * Wp + pl.pg.ml,
                       (size_t)W * sizeof(FC_T));
    }
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

/* Row sums of dY into db (db[k] += ...), fixed order. */
static void FC_SFX(fc_bw_bias)(fc_int K, fc_int P, const FC_T *dyn, FC_T *db)
{
    for (fc_int kk = 0; kk < K; ++kk) {
        const FC_T *row = dyn + kk * P;
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

/* Portable twin of fc_bws_image_avx2_f32: the same 8-lane accumulators
 * (lane j takes the pixels ow with ow % 8 == j). */
static void FC_SFX(fc_bws_image_ref)(const fc_conv_geom *g, const fc_padgeom *pg,
                                     const FC_T *xp, const FC_T *dy, FC_T *dwv)
{
    const fc_int K = g->K, C = g->C, R = g->R, S = g->S;
    const fc_int Ho = g->Ho, Wo = g->Wo, Wp = pg->Wp, HWp = pg->Hp * pg->Wp, P = Ho * Wo;
    FC_T *v = dwv;
    for (fc_int k = 0; k < K; ++k)
        for (fc_int c = 0; c < C; ++c)
            for (fc_int r = 0; r < R; ++r)
                for (fc_int s = 0; s < S; ++s, v += 8) {
                    const FC_T *xr = xp + c * HWp + (r * g->dil_h - g->pad_top + pg->mt) * Wp +
                                     (s * g->dil_w - g->pad_left + pg->ml);
                    FC_T a[8];
                    for (int j = 0; j < 8; ++j)
                        a[j] = v[j];
                    for (fc_int oh = 0; oh < Ho; ++oh) {
                        const FC_T *restrict d = dy + k * P + oh * Wo;
                        const FC_T *restrict xx = xr + oh * Wp;
                        fc_int ow = 0;
                        for (; ow + 8 <= Wo; ow += 8)
                            for (int j = 0; j < 8; ++j)
                                a[j] += d[ow + j] * xx[ow + j];
                        for (int j = 0; ow + j < Wo; ++j)
                            a[j] += d[ow + j] * xx[ow + j];
                    }
                    for (int j = 0; j < 8; ++j)
                        v[j] = a[j];
                }
}

static void FC_SFX(fc_bw_small_run)(const fc_conv_geom *g, fc_int nimg, const FC_T *x,
                                    const FC_T *dy, FC_T *dw, FC_T *db, void *work)
{
    const fc_int K = g->K, CRS = g->C * g->R * g->S, P = g->Ho * g->Wo;
    const fc_int xs = g->C * g->H * g->W;
    fc_padgeom pg;
    size_t xb, vb;
    fc_bw_small_sizes(g, sizeof(FC_T), &pg, &xb, &vb);
    char *wk = (char *)fc_align_ptr(work);
    FC_T *xp = (FC_T *)wk;
    FC_T *dwv = (FC_T *)(wk + xb);
    memset(xp, 0, (size_t)(g->C * pg.Hp * pg.Wp) * sizeof(FC_T)); /* border: once per run */
    memset(dwv, 0, (size_t)(K * CRS * 8) * sizeof(FC_T));
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    const int avx2 = fc_simd_path() == FC_SIMD_AVX2;
#else
    const int avx2 = 0;
#endif
    for (fc_int n = 0; n < nimg; ++n) {
        const FC_T *dyn = dy + n * K * P;
        if (db)
            FC_SFX(fc_bw_bias)(K, P, dyn, db);
        FC_SFX(fc_copy_interior)(g, &pg, pg.Wp, x + n * xs, xp);
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
        if (avx2) {
            fc_bws_image_avx2_f32(g, &pg, xp, dyn, dwv);
            continue;
        }
#endif
        (void)avx2;
        FC_SFX(fc_bws_image_ref)(g, &pg, xp, dyn, dwv);
    }
    for (fc_int i = 0; i < K * CRS; ++i) {
        const FC_T *v = dwv + i * 8;
        dw[i] += ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]));
    }
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
    {
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
    memset(xp, 0, (size_t)(C * HWp) * sizeof(FC_T)); /* border: once for the run */
    FC_SFX(fc_akr_fn) akr = FC_SFX(fc_akr_select)();
    const fc_int kcb = pl.kcb;
    for (fc_int n = 0; n < nimg; ++n) {
        const FC_T *dyn = dy + n * K * P;
        if (db) {
            for (fc_int kk = 0; kk < K; ++kk) {
                const FC_T *row = dyn + kk * P;
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
        FC_SFX(fc_copy_interior)(g, &pl.pg, Wp, x + n * xs, xp);
        /* B = dY^T (P x K): element (p, k) at dyn[k*P + p]. */
        FC_SFX(fc_pack_b_t)(P, K, dyn, P, bpk);
        for (fc_int pc = 0; pc < P; pc += kcb) {
            const fc_int kc = FC_MIN(kcb, P - pc);
            for (fc_int j0 = 0; j0 < K; j0 += FC_NR) {
                const int nr = (int)FC_MIN(FC_NR, K - j0);
                const FC_T *bpp = bpk + j0 * P + pc * FC_NR;
                for (fc_int i0 = 0; i0 < CRS; i0 += FC_MR) {
                    const int mr = (int)FC_MIN(FC_MR, CRS - i0);
                    const FC_T *rows[FC_MR];
                    for (int i = 0; i < FC_MR; ++i)
                        rows[i] = xp + toff[i0 + (i < mr ? i : 0)];
                    akr(kc, rows, poff + pc, bpp, dwt + i0 * K + j0, K, (FC_T)1, mr, nr);
                }
            }
        }
    }
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
