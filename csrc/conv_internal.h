/*
 * conv_internal.h -- one image's 2-D cross-correlation and its gradients as
 * implicit GEMMs on the packed GEMM machinery (gemm_internal.h). All serial: the
 * caller (Cython prange over images) owns the threads; each call uses only
 * its own workspace `work` (fc_conv2d_workspace_bytes), any alignment
 * (aligned up to 64 bytes internally; the size includes the slack).
 *
 *   forward:   Y (K x P) = W (K x CRS) . col(x) (CRS x P), P = Ho*Wo.
 *              Direct path (every non-1x1 conv): col(x) is never packed,
 *              the fc_dkr micro-kernel loads its B rows straight from the
 *              zero-bordered (for stride_w > 1 phase-split) image, two
 *              chunks of NR/2 pixels of an output row per tile; the 1-4
 *              rows past the last full MR panel go to the narrow fc_dkn
 *              kernels (2 x 6 or 4 x 2 chunks) instead of a part-idle tile;
 *              bias + activation applied to each finished group of Y.
 *              3x3 stride-1 undilated with >= 16 channels in and out:
 *              Winograd F(2x2, 3x3) instead (conv_winograd.c), 16 GEMMs on
 *              transformed tiles, 2.25x fewer multiply-adds. Stride-2 4x4
 *              (the caller's policy): F(4x4, 2x2) on the input's four phases
 *              (conv_winograd_s2.c), 100 products where the direct path does
 *              256.
 *   bwd data:  stride 1 (and C filling the MR rows): the forward direct
 *              (or Winograd) path run on dy with the flipped, transposed
 *              weights. Stride-2 4x4 (the caller's policy): F(4x4, 2x2) on
 *              each of dx's four phases (conv_winograd_s2.c).
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
 *              3x3 stride-1 geometries the caller's policy marks (its own
 *              F(4x4) bit, or the forward's F(2x2) one): the transposed
 *              F(4x4, 3x3) or F(2x2, 3x3) transform over the run
 *              (fc_conv_wino_bw_run); with few tiles and many channel
 *              pairs the batch split by filters instead, every tile in
 *              each part and the accumulators finished block by block in
 *              cache (fc_conv_wino_bw_filters).
 * Weights are packed once per batch (fc_conv2d_pack_weights) and shared
 * read-only; the *_batch entry points run a run of images with the tables
 * and zero borders set up once.
 * 1x1 / stride 1 / no padding convolutions skip the im2col machinery.
 *
 * Files (one pass each; float and double from one template body, each file
 * instantiating both by including itself, see gemm_internal.h):
 *   conv_internal.h        shared types, padding geometry, declarations
 *   conv.c                 plans and workspace sizing, weight packing
 *   conv_winograd_plan.c   which geometries run Winograd; those plans' blocks
 *   conv_pad.c             the zero-bordered image copies
 *   conv_forward.c         forward: im2col GEMM path and the direct path
 *   conv_forward_1x1.c     forward 1x1 of small maps, one GEMM over a batch
 *   conv_forward_cvec.c    the output-channel-vector direct path (short or
 *                          ragged output rows; plan field cvec)
 *   conv_forward_wrows.c   F(2, 3) along rows, few-channel 3x3 layers (AVX-512; wrows)
 *   conv_winograd.c        the Winograd F(2x2, 3x3) path of forward and
 *                          backward-data (plan field wino)
 *   conv_winograd_bw.c     its backward-weight (the transposed transform)
 *   conv_winograd4.c       F(4x4, 3x3) for forward and backward-data
 *                          (plan field wino_m == 4); conv_winograd_bw.c
 *                          runs both tiles' backward-weight
 *   conv_winograd4_filters.c  the same split by filters, weights transformed
 *                          block by block (few tiles, many channel pairs)
 *   conv_winograd_tiles.h  the input planes and tile transform both share
 *   conv_winograd_avx512.c the AVX-512 (float) transforms with a panel's 16
 *                          tiles in the vector lanes: F(4x4)'s input and
 *                          output, F(2x2)'s output on whole-panel tile rows
 *   conv_winograd_avx512.h the vector helpers both AVX-512 transform files share
 *   conv_winograd_s2.c     stride-2 F(4x4, 2x2), forward and backward-data
 *                          (plan field wino_s2); its AVX-512 (float)
 *                          transforms in conv_winograd_s2_avx512.c
 *   conv_backward_data.c   backward-data: direct (flipped weights) / col2im
 *   conv_backward_weight.c backward-weight: packed-col, fc_akr batch and
 *                          small-filter direct (AVX2 + portable) paths
 * Functions shared between the files carry the fc_ prefix and are declared
 * here (never in fastconv.h).
 */
#ifndef FC_CONV_INTERNAL_H
#define FC_CONV_INTERNAL_H
#include "gemm_internal.h"
#include "conv_part.h"
#include "conv_wrows.h"

/* Images are first copied into a zero-bordered buffer (Hp x Wp per
 * channel, the border wide enough for every tap), so the packers and col2im
 * run without bounds checks. Input pixel (c, ih, iw) sits at
 * c*Hp*Wp + (ih + mt)*Wp + (iw + ml). */
typedef struct fc_padgeom {
    fc_int mt, ml, Hp, Wp;
} fc_padgeom;

static inline void fc_pad_geom(const fc_conv_geom *g, fc_padgeom *pg)
{
    pg->mt = FC_MAX(g->pad_top, 0);
    pg->ml = FC_MAX(g->pad_left, 0);
    const fc_int ihmax = (g->Ho - 1) * g->stride_h - g->pad_top + (g->R - 1) * g->dil_h;
    const fc_int iwmax = (g->Wo - 1) * g->stride_w - g->pad_left + (g->S - 1) * g->dil_w;
    pg->Hp = pg->mt + FC_MAX(g->H, ihmax + 1);
    pg->Wp = pg->ml + FC_MAX(g->W, iwmax + 1);
}

/* Elements between the channel planes of the direct path's bordered image:
 * the plane size, or a cache line more when planes a multiple of 1 KB apart
 * would put more channels' pixels in one L1 set (64 sets of 64 B on the x86
 * cores this runs on) than it has ways (8 or more). A 16-channel 1x1 over a
 * 32x32 map read all 16 of its B rows through one set: 1.4x slower in
 * MobileNet than with the padded copy. */
static inline fc_int fc_plane_stride(fc_int plane, fc_int C, size_t elem)
{
    const size_t bytes = (size_t)plane * elem;
    size_t g = 4096;
    while (g > 64 && bytes % g)
        g /= 2;
    if (bytes % 64 || C <= 8 * (fc_int)(4096 / g))
        return plane;
    return plane + (fc_int)(64 / elem);
}

/* Tap offsets of the direct paths (fc_conv_direct_range, fc_conv_cvec_range) in
 * plan pl's bordered image: tap p = (c, r, s) of an output pixel at base b is at
 * b + offs[p] (rows split into stride_w phases, planes pl->xplane apart). */
#define FC_DIRECT_OFFSETS(pl, offs)                                                    \
    do {                                                                               \
        const fc_conv_geom *dg_ = &(pl)->dg;                                           \
        const fc_int sw_ = dg_->stride_w;                                              \
        fc_int i_ = 0;                                                                 \
        for (fc_int c_ = 0; c_ < dg_->C; ++c_)                                         \
            for (fc_int r_ = 0; r_ < dg_->R; ++r_)                                     \
                for (fc_int s_ = 0; s_ < dg_->S; ++s_) {                               \
                    const fc_int v_ = s_ * dg_->dil_w + (pl)->pg.ml - dg_->pad_left;   \
                    (offs)[i_++] = c_ * (pl)->xplane + r_ * dg_->dil_h * (pl)->wrow +   \
                                   (v_ % sw_) * (pl)->wq + v_ / sw_;                   \
                }                                                                      \
    } while (0)

/* A run of output pixels on one output row: tap (c, r, s) of its t-th pixel
 * is at padded offset c*Hp*Wp + r*dil_h*Wp + s*dil_w + base + t*stride_w;
 * `dst` says where the run goes (meaning depends on the user). zero != 0
 * marks a run of zero padding instead. */
typedef struct fc_seg {
    fc_int base, len, dst, zero;
} fc_seg;

/* Segments for the pixel run [p0, p0 + n), dst = dbase + position in run. */
static inline fc_int fc_make_segs(const fc_conv_geom *g, const fc_padgeom *pg, fc_int p0,
                                  fc_int n, fc_int dbase, fc_seg *sg)
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

/* Elements past a Winograd input plane in the row buffer (zeroed with it): the
 * AVX2 input transform loads whole vectors that may run past the last row. */
#define FC_WINO_PLANE_SLACK 8

typedef struct fc_conv_plan {
    int one_by_one;        /* 1x1, stride 1, no padding: col(x) == x */
    int direct;            /* direct-B path (see fc_conv_direct_run) on geometry dg */
    int cvec;              /* direct: run by the output-channel-vector kernels instead
                              (conv_forward_cvec.c); ap then holds B panels */
    fc_conv_geom dg;       /* direct: the forward geometry actually run */
    fc_int nch;            /* direct: output chunks of CW pixels */
    int flat;              /* direct: a 1x1, stride 1, unpadded plane chunked as one row
                              of n pixels (else row by row, each row's last chunk short) */
    fc_int wq, wrow;       /* direct: phase width ceil(Wp/stride_w), row length stride_w*wq */
    fc_int xplane;         /* direct: elements between channel planes of the bordered
                              image (Hp*wrow, or a cache line more: fc_plane_stride) */
    int wrows;             /* direct: F(2, 3) along rows (conv_wrows.h) on the AVX-512
                              path; its workspace (fc_wrows_bytes) after o_bytes */
    fc_int m, n, k;
    fc_int kcb, mcb, ncb;
    fc_padgeom pg;
    size_t ap_bytes, b_bytes, t_bytes, s_bytes, x_bytes, o_bytes;
    size_t total;
    /* Winograd F(2x2, 3x3) (conv_winograd.c), chosen over the direct path
     * for 3x3 stride-1 geometries dg with enough channels: */
    int wino;
    int wino_m;               /* output tile: 2 (F(2x2, 3x3)) or 4 (F(4x4, 3x3),
                                 conv_winograd4.c; (m + 2)^2 blocks below, not 16) */
    int wino_s2;              /* with wino_m 4: F(4x4, 2x2) on the four phases of a
                                 stride-2 geometry (conv_winograd_s2.c): 1 forward (25
                                 blocks, 4C phase channels where C is written below),
                                 2 backward-data (100 blocks), 3 backward-weight
                                 (F(2x2, 4x4), 25 blocks; conv_winograd_bw.c) */
    fc_int wino_q0[2][2], wino_nq[2][2]; /* wino_s2 2, [rows / columns][phase p]: dX's
                                 pixels at padded coordinate 2q + p, q from wino_q0 on,
                                 wino_nq of them (the tiles cover the longer phase) */
    fc_int wino_th, wino_tw;  /* tiles per image: ceil(Ho/m) x ceil(Wo/m) */
    fc_int wino_rows;         /* tile rows per block */
    fc_int wino_tbp;          /* tiles per block, rounded up to NR */
    fc_int wino_a;            /* elements of one packed U[xi]: mpad * C */
    fc_int wino_vs, wino_ms;  /* elements between V[xi] / M[xi] blocks: C or K
                                 times wino_tbp, plus NR so that the 16 blocks
                                 do not all map to the same cache sets */
    size_t wino_v_bytes, wino_m_bytes, wino_r_bytes;
} fc_conv_plan;

static inline int fc_is_1x1(const fc_conv_geom *g)
{
    return g->R == 1 && g->S == 1 && g->stride_h == 1 && g->stride_w == 1 && g->pad_top == 0 &&
           g->pad_left == 0 && g->Ho == g->H && g->Wo == g->W;
}

/* The GEMM / direct plan of pass op (FC_OP_*) for element size elem: block
 * sizes and workspace layout (conv.c). */
void fc_conv_plan_make(const fc_conv_geom *g, int op, size_t elem, fc_conv_plan *pl);
/* What fc_conv_plan_make and fc_conv2d_workspace_bytes keep per thread
 * (conv_plan_memo.c) are made by these (conv.c). */
void fc_conv_plan_build(const fc_conv_geom *g, int op, size_t elem, fc_conv_plan *pl);
size_t fc_conv2d_workspace_bytes_make(const fc_conv_geom *g, size_t elem);

/* Output-channel-vector direct path (conv_forward_cvec.c): the direct path's
 * GEMM transposed, Y^T (P x K) = col(x)^T . W^T, on the fc_akr micro-kernel:
 * MR output pixels (any pixels: one row pointer each) broadcast from the
 * bordered image against NR output channels of packed W^T, the MR x NR tile
 * written back transposed. The row-vector kernels fill NR/2 lanes with
 * pixels of one output row, so a 13-pixel row fills 13 of 16 and a 4-pixel
 * row 4 of 8; here only P mod MR and K mod NR are idle. fc_cvec_plan sets
 * pl->cvec (and the packed-weight and table sizes) on a direct plan that is
 * not Winograd when the useful share of the lanes is enough higher. */
void fc_cvec_plan(fc_conv_plan *pl, size_t elem);

/* Winograd plans (conv_winograd_plan.c): whether g's pass op (forward or
 * backward-data) runs the stride-2 F(4x4, 2x2); that backward-data plan; the Winograd
 * plan of direct plan pl of pass op where its geometry runs one (1; else 0, pl
 * untouched). */
int fc_wino_s2_ok(const fc_conv_geom *g, int op);
void fc_wino_s2_bwd_data_plan(const fc_conv_geom *g, size_t elem, fc_conv_plan *pl);
int fc_wino_plan_direct(fc_conv_plan *pl, int op, size_t elem);

/* Whether plane xi (phase xi / 25, transformed row a and column b of its 5x5) of the
 * stride-2 backward-data weights is zero for filters of dg (the transposed geometry):
 * a 3-tap filter side gives the odd phase's flipped sub-filter a missing first tap
 * (filter row or column 3), and row 0 of G = [1/2 0; ...] reads that tap alone. Its
 * products are zero whatever dY holds: 19 of the 100 for a 3x3 filter. */
static inline int fc_wino_s2t_zero_plane(const fc_conv_geom *dg, int xi)
{
    const int ph = xi / 25, a = xi % 25 / 5, b = xi % 5;
    return (a == 0 && 2 + (ph >> 1) >= dg->R) || (b == 0 && 2 + (ph & 1) >= dg->S);
}

/* The stride-2 forward's counterpart: whether phase ph's weights are zero in plane xi
 * (transformed row a = xi / 5, column b = xi % 5): an odd phase of a 3-tap side has no
 * second tap (filter row or column 3), which row 4 of G = [...; 0 1] reads alone. 19 of
 * the 100 (plane, phase) products of a 3x3 filter. */
static inline int fc_wino_s2_zero_phase(const fc_conv_geom *g, int xi, int ph)
{
    return (xi / 5 == 4 && (ph >> 1) && g->R <= 3) || (xi % 5 == 4 && (ph & 1) && g->S <= 3);
}

/* The reduction blocks of a Winograd plan's products: block i of fc_wino_nblocks(pl)
 * starts at channel *pc and has *kc channels, at most kcb; the stride-2 forward's
 * reduction (its 4C phase channels, cv = ph * C + c) in blocks that never cross a
 * phase, so that a plane can skip a phase's blocks. */
static inline fc_int fc_wino_nblocks(const fc_conv_plan *pl)
{
    const fc_int C = pl->dg.C, kcb = pl->kcb;
    return (pl->wino_s2 == 1 ? 4 : 1) * ((C + kcb - 1) / kcb);
}

static inline void fc_wino_block(const fc_conv_plan *pl, fc_int i, fc_int *pc, fc_int *kc)
{
    const fc_int C = pl->dg.C, kcb = pl->kcb, per = (C + kcb - 1) / kcb, ph = i / per;
    *pc = ph * C + i % per * kcb;
    *kc = FC_MIN(kcb, (ph + 1) * C - *pc);
}

/* Backward-weight over a run of images (fc_conv2d_backward_weight_batch):
 * dW^T (CRS x K) = sum over images and pixels of col(x) . dY^T, with col(x)
 * never formed: the fc_akr micro-kernel broadcasts its A elements straight
 * from the zero-bordered image (tap row pointer + pixel offset; a 1x1 layer's
 * image itself), B = dY^T is packed per image, the bias's row sums taken in the
 * same read. Worth it when K fills the NR columns. */
int fc_bw_direct_ok(const fc_conv_geom *g);

typedef struct fc_bw_plan {
    fc_int kcb;
    fc_padgeom pg;
    size_t t_bytes, x_bytes, b_bytes, o_bytes, total;
} fc_bw_plan;

void fc_bw_plan_make(const fc_conv_geom *g, size_t elem, fc_bw_plan *pl);

/* 1x1 backward-weight over a run of images with small maps (P = Ho * Wo <=
 * FC_1X1_BW_MAX_PIXELS, fc_conv2d_backward_weight_1x1_ok): per image the direct
 * path's reduction would be that image's P pixels, and every image another
 * read-modify-write pass over its accumulators. Instead groups of
 * fc_1x1_bw_plan.gimg images make one reduction block of up to 256 columns, dW (K x C)
 * += dY_g (K x gP) . X_g^T, column j of a group = image j / P, pixel j % P, both
 * operands gathered by the packers straight from the NCHW images
 * (conv_backward_weight.c). From 8x8 maps on the direct path is faster (64 -> 128
 * channels 0.44 -> 0.35 ms at batch 64; 7x7 even, 6x6 and below slower). The
 * backward-data twin (fc_conv2d_backward_data_1x1_ok, up to FC_1X1_BD_MAX_PIXELS)
 * is the forward 1x1 batch path on the transposed geometry (fc_bwd_data_geom). */
#define FC_1X1_BW_MAX_PIXELS 49
#define FC_1X1_BD_MAX_PIXELS 64
int fc_conv2d_backward_data_1x1_ok(const fc_conv_geom *g, fc_int nimg);
typedef struct fc_1x1_bw_plan {
    fc_int gimg, mcb, ncb;
    size_t a_bytes, b_bytes, total;
} fc_1x1_bw_plan;
void fc_1x1_bw_plan_make(const fc_conv_geom *g, size_t elem, fc_1x1_bw_plan *pl);
/* The forward geometry whose output is dx: input dy (K, Ho, Wo), K' = C (conv.c). */
void fc_bwd_data_geom(const fc_conv_geom *g, fc_conv_geom *t);

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
int fc_bw_small_ok(const fc_conv_geom *g, size_t elem);
/* Zero-bordered image and 8-lane accumulator sizes of the small-filter path. */
void fc_bw_small_sizes(const fc_conv_geom *g, size_t elem, fc_padgeom *pg, size_t *x_bytes,
                       size_t *v_bytes);

/* The forward plan Winograd backward-weight runs on (conv.c): g's, F(2x2) or
 * F(4x4) as for the forward pass, F(4x4) with its own tiles per block; fp->wino
 * when it applies. */
void fc_wino_bw_plan_make(const fc_conv_geom *g, size_t elem, fc_conv_plan *fp);
/* The Winograd fields of plan pl (on pl->dg) for blocks of `rows` tile rows (th x tw
 * tiles an image, tile m, stride-2 mode s2) -- conv_winograd_plan.c. */
void fc_wino_plan_rows(fc_conv_plan *pl, size_t elem, int m, int s2, fc_int th, fc_int tw,
                       fc_int rows);

/* Winograd backward-weight (conv_winograd_bw.c) on the forward plan pl of g
 * (fc_wino_bw_plan_make, when pl->wino): workspace layout and bytes. */
void fc_wino_bw_sizes(const fc_conv_plan *pl, size_t elem, fc_int *astride, fc_int *pstride,
                      fc_int *vstride, size_t *a_bytes, size_t *v_bytes, size_t *m_bytes,
                      size_t *p_bytes, size_t *r_bytes);
size_t fc_wino_bw_bytes(const fc_conv_plan *pl, size_t elem);
/* The weight gradient split by filters (fc_conv_wino_bw_filters): each part sums every
 * tile of the batch, the accumulators of FC_WINO_BW_KB filters x FC_WINO_BW_CB channels
 * at a time. fc_wino_bw_filters_plan makes its plan (all tiles in one block) and
 * returns whether g and nimg take it; its workspace: fc_wino_bw_filters_bytes. */
#ifndef FC_WINO_BW_KB
#define FC_WINO_BW_KB 24
#endif
#ifndef FC_WINO_BW_CB
#define FC_WINO_BW_CB 64
#endif
/* whole MR panels of filters, whole NR panels of channels (both element types) */
_Static_assert(FC_WINO_BW_KB % 6 == 0 && FC_WINO_BW_CB % 16 == 0,
               "FC_WINO_BW_KB: a multiple of MR (6); FC_WINO_BW_CB: of NR (16, 8)");
int fc_wino_bw_filters_plan(const fc_conv_geom *g, fc_int nimg, size_t elem, fc_conv_plan *fp);
size_t fc_wino_bw_filters_m_bytes(const fc_conv_plan *pl, size_t elem);
size_t fc_wino_bw_filters_bytes(const fc_conv_plan *pl, size_t elem);
/* The columns of its accumulators Mw[xi] (K x cols): the channels, or on a stride-2
 * plan (pl->wino_s2) the four phases' channels, each phase nr-aligned
 * (column ph * roundup(C, nr) + c). */
static inline fc_int fc_wino_bw_cols(const fc_conv_plan *pl, fc_int nr)
{
    return pl->wino_s2 ? 4 * fc_roundup(pl->dg.C, nr) : pl->dg.C;
}

/* Per element type T with suffix S: the context of the conv B packers and
 * epilogues, and the templated helpers shared between the conv*.c files. */
#define FC_CONV_DECLARE(T, S)                                                            \
    typedef struct fc_conv_ctx_##S {                                                     \
        const fc_conv_geom *g;                                                           \
        fc_padgeom pg;                                                                   \
        const T *xp;       /* zero-bordered image (forward / bwd weight) */              \
        fc_seg *segs;                                                                    \
        /* epilogues */                                                                  \
        T *y;                                                                            \
        const T *bias;                                                                   \
        const T *res;      /* residual added before the activation, or NULL */           \
        int act;                                                                         \
        T act_param;                                                                     \
        T *tmp;            /* bwd data: C block scratch, ldc = ldt */                    \
        fc_int ldt;                                                                      \
        T *dxp;            /* bwd data: zero-bordered dx accumulator */                  \
    } fc_conv_ctx_##S;                                                                   \
    /* Copy x (C, H, W) into the zero-bordered buffer xp (C, Hp, Wp) (conv_pad.c). */        \
    void fc_pad_image_##S(const fc_conv_geom *g, const fc_padgeom *pg, const T *x, T *xp); \
    /* Copy x's interior into a zero-bordered buffer (rows wrow, channel planes plane    \
     * elements apart) whose border is already zero (conv_pad.c). */                        \
    void fc_copy_interior_##S(const fc_conv_geom *g, const fc_padgeom *pg, fc_int wrow,   \
                              fc_int plane, const T *x, T *xp);                          \
    /* Rows [b0, b1) of the bordered image of a stride_w 1 direct plan, with or       \
     * without their border (conv_pad.c). */                                        \
    void fc_fill_rows_##S(const fc_conv_geom *g, const fc_padgeom *pg, fc_int wrow,      \
                          fc_int plane, const T *x, T *xp, fc_int b0, fc_int b1,        \
                          int borders, fc_int over);                                    \
    /* The direct path's bordered image of plan pl (rows split into stride_w phases, \
     * planes pl->xplane apart), copying only the rows and phases a tap reads (conv_pad.c). */ \
    void fc_pad_image_phased_##S(const fc_conv_geom *g, const fc_conv_plan *pl, const T *x, \
                                 T *xp);                                                 \
    /* Carve the workspace for a GEMM-path plan (conv.c). */                             \
    void fc_conv_carve_##S(const fc_conv_plan *pl, void *work, T **ap, T **bb, T **tmp,   \
                           fc_seg **segs, T **xp);                                       \
    /* Winograd path over tile rows [row0, row1) of nimg images (row0 a multiple of     \
     * pl->wino_rows) and output channels [k0, k1) (k0 a multiple of MR, or even with    \
     * the AVX-512 kernels), and its weight transform (conv_winograd.c). */              \
    void fc_conv_wino_run_##S(const fc_conv_plan *pl, fc_int nimg, const T *x,           \
                              const T *ap, const T *bias, const T *res, int act,         \
                              T act_param, T *y, void *work, fc_int row0, fc_int row1,   \
                              fc_int k0,                                                 \
                              fc_int k1);                                                \
    void fc_wino_pack_weights_##S(const fc_conv_plan *pl, const T *w, int flip, T *ap);   \
    /* F(4x4, 3x3) (conv_winograd4.c, pl->wino_m == 4): the transforms the driver    \
     * above calls, and the weight transform fc_wino_pack_weights hands over to. */     \
    void fc_wino4_input_##S(const fc_conv_plan *pl, const T *x, fc_int gr0, fc_int nrows, \
                            T *vb, T *rowbuf);                                           \
    void fc_wino4_output_##S(const fc_conv_plan *pl, const T *mb, fc_int gr0,            \
                             fc_int nrows, fc_int k0, fc_int k1, const T *bias,           \
                             const T *res, int act, T act_param, T *y, T *rowbuf);        \
    void fc_wino4_pack_weights_##S(const fc_conv_plan *pl, const T *w, int flip, T *ap);  \
    void fc_wino4_pack_rows_##S(const fc_conv_plan *pl, const T *w, int flip, T *d,      \
                                size_t plane, fc_int pc, fc_int i0, fc_int i1);          \
    /* F(4x4, 2x2) on a stride-2 geometry's phases (conv_winograd_s2.c, pl->wino_s2):    \
     * the same three for the forward pass. */                                          \
    void fc_wino_s2_input_##S(const fc_conv_plan *pl, const T *x, fc_int gr0,            \
                              fc_int nrows, T *vb);                                      \
    void fc_wino_s2_output_##S(const fc_conv_plan *pl, const T *mb, fc_int gr0,          \
                               fc_int nrows, fc_int k0, fc_int k1, const T *bias,         \
                               const T *res, int act, T act_param, T *y);                \
    void fc_wino_s2_pack_weights_##S(const fc_conv_plan *pl, const T *w, T *ap);         \
    void fc_conv_wino_bw_run_##S(const fc_conv_plan *pl, fc_int nimg, const T *x,        \
                                 const T *dy, T *dw, T *db, void *work);                 \
    /* its last step, dw += G^T Mw G (conv_winograd_bw_finish.c) */                      \
    void fc_wino_bw_finish_##S(const fc_conv_plan *pl, const T *mw, T *dw, T *tmp);      \
    /* filters [k0, k1) of it over the whole batch (fc_wino_bw_filters_plan), and the  \
     * last step of one block of those */                                               \
    void fc_conv_wino_bw_filters_##S(const fc_conv_plan *pl, fc_int nimg, const T *x,    \
                                     const T *dy, T *dw, T *db, fc_int k0, fc_int k1,    \
                                     void *work);                                        \
    void fc_wino_bw_finish_block_##S(const fc_conv_plan *pl, const T *mw, fc_int n,      \
                                     fc_int sn, T *dw);                                  \
    /* db[k] += the row sums of dY (K x P) in a fixed order (conv_backward_weight.c),  \
     * and the small-filter weight gradient over a run of images (fc_bw_small_ok,      \
     * conv_backward_weight_small.c). */                                                \
    void fc_bw_bias_##S(fc_int K, fc_int P, const T *dyn, T *db);                        \
    /* The tall direct-A weight-gradient kernel (contract in                            \
     * conv_backward_weight_tall.c). */                                                 \
    void fc_bwt_avx512_##S(fc_int kc, const T *const *rows, int nrows, int taps,         \
                           const fc_int *offs, const T *b, fc_int bstride, T *c,         \
                           fc_int ldc, int nr);                                          \
    void fc_bw_small_run_##S(const fc_conv_geom *g, fc_int nimg, const T *x, const T *dy, \
                             T *dw, T *db, void *work);                                  \
    /* Direct path over nimg images with the workspace work (conv_forward.c). */        \
    void fc_conv_direct_run_##S(const fc_conv_plan *pl, fc_int nimg, const T *x,         \
                                const T *ap, const T *bias, const T *res, int act,       \
                                T act_param, T *yall,                                    \
                                void *work);                                             \
    /* The forward epilogue Y = act(Y + bias + res) on the finished block of rows        \
     * [i0, i0 + mc) and pixels [j0, j0 + nc) of ctx->y (conv_forward.c). */             \
    void fc_epi_bias_act_##S(void *vctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc);     \
    /* The output-channel-vector path (plan field cvec) over pixels [p0, p1) (p0 a       \
     * multiple of MR) and output channels [j0, j1) (j0 a multiple of NR) of nimg        \
     * images, and its weight packing (conv_forward_cvec.c). */                          \
    void fc_conv_cvec_range_##S(const fc_conv_plan *pl, fc_int nimg, const T *x,         \
                                const T *bp, const T *bias, const T *res, int act,       \
                                T act_param, T *yall, void *work, fc_int p0, fc_int p1,  \
                                fc_int j0, fc_int j1);                                   \
    void fc_cvec_pack_weights_##S(const fc_conv_geom *g, const fc_conv_plan *pl,         \
                                  int flip, const T *w, T *bp);

/* Image rows one fc_bwt call takes for filters S wide and 1 or 2 B panels (0:
 * not a shape it has). */
int fc_bwt_max_rows(int S, int panels);

FC_CONV_DECLARE(float, f32)
FC_CONV_DECLARE(double, f64)

/* 1x1 convolutions of one image with fewer pixels than a GEMM micro-tile is
 * wide (the 2x2 and 3x3 maps at the end of MobileNet-style networks, batch 1)
 * run as y^T (P x K) = x^T (P x C) . W^T: the pixels are the rows of
 * fc_linear_packed's row kernel and the output channels fill its NR lanes,
 * where the plain GEMM would fill P of them (conv_pointwise_rows.c). The
 * forward-packed weights then hold W^T packed as fc_linear_pack does, after
 * the A panels, at fc_1x1_rows_weight_offset. Every element gets the GEMM
 * path's arithmetic (same K blocks, the micro-kernel's accumulation, then
 * bias, residual and activation in that order), so the results are bitwise
 * the batch paths'. fc_conv_1x1_rows runs the NR-wide output-channel panels
 * [q0, q1) of fc_1x1_rows_panels. */
static inline int fc_1x1_rows_ok(const fc_conv_geom *g)
{
    return fc_is_1x1(g) && g->Ho * g->Wo < 16 && g->C > 0 && g->K > 0;
}
size_t fc_1x1_rows_weight_offset(const fc_conv_geom *g, size_t elem);
size_t fc_1x1_rows_weight_bytes(const fc_conv_geom *g, size_t elem);
size_t fc_1x1_rows_workspace_bytes(const fc_conv_geom *g, size_t elem);
fc_int fc_1x1_rows_panels(const fc_conv_geom *g, size_t elem);
#define FC_1X1_ROWS_DECLARE(T, S)                                                        \
    void fc_conv_1x1_rows_##S(const fc_conv_geom *g, const T *x, const void *packed,     \
                              const T *bias, const T *res, int act, T act_param, T *y,  \
                              void *work, fc_int q0, fc_int q1);
FC_1X1_ROWS_DECLARE(float, f32)
FC_1X1_ROWS_DECLARE(double, f64)

/* 1x1 convolutions of maps of exactly NR pixels (4x4 float maps) on the GEMM
 * path, nimg images at a time (conv_forward_1x1.c): each image is already a
 * packed B micro-panel (channel rows of NR pixels) and its output a C tile, so
 * three images are three tiles of the wide direct-B kernel, whose row
 * broadcasts feed them all, where one image at a time left the packed kernel
 * one B panel against three A panels (a load per FMA). Bitwise the per-image
 * GEMM path (same K blocks, the micro-kernels' element arithmetic, bias and
 * ReLU in the write-back). Returns 0, having done nothing, where it does not
 * apply (no wide kernel on the SIMD path in force, a residual or an activation
 * other than ReLU, fewer than three images). */
#define FC_1X1_TILES_DECLARE(T, S)                                                       \
    int fc_conv_1x1_tiles_##S(const fc_conv_plan *pl, const fc_conv_geom *g, fc_int nimg, \
                              const T *x, const T *ap, const T *bias, const T *res,       \
                              int act, T *y);
FC_1X1_TILES_DECLARE(float, f32)
FC_1X1_TILES_DECLARE(double, f64)

/* How fc_conv2d_forward_packed_part cuts one image among nparts (conv_part.c):
 * the path, its pixel range [t0, t1) (tile rows on the Winograd path, chunks on
 * the direct one, pixels else) and output-channel range [i0, i1) (1x1 rows:
 * NR-wide panels); and the block of the output the part writes -- rows
 * [r0, r1) of channels [k0, k1), r0 = -1 when its output is not such a block.
 * With rows > 1 the cuts between parts that share out pixels fall on multiples
 * of `rows` output rows where the path can do so and still give every part
 * work (a pooling layer after the convolution then pools each part's rows on
 * the thread that wrote them). Inner cuts split [0, n) into runs whose
 * boundaries are multiples of `align` (fc_split_range). */
enum { FC_PART_1X1_ROWS = 0, FC_PART_WINO = 1, FC_PART_CVEC = 2, FC_PART_DIRECT = 3,
       FC_PART_GEMM = 4 };
typedef struct fc_conv_part {
    int path;
    fc_int t0, t1, i0, i1;
    fc_int r0, r1, k0, k1;
} fc_conv_part;
void fc_split_range(fc_int n, fc_int align, int part, int nparts, fc_int *lo, fc_int *hi);
void fc_conv_part_make(const fc_conv_geom *g, const fc_conv_plan *pl, size_t elem, int part,
                       int nparts, fc_int rows, fc_conv_part *pt);
/* The pooling rows [*p0, *p1) whose windows lie in part pt's block (pooled over its
 * channels [k0, k1)), or 0 when its block is not whole bands of pooling rows. */
int fc_pool_part_rows(const fc_conv_part *pt, const fc_pool_geom *pg, fc_int *p0, fc_int *p1);

#ifdef FC_HAVE_X86_AVX2_KERNELS
/* The AVX-512 (float) Winograd transforms of conv_winograd_avx512.c, called on
 * that path in place of fc_wino4_input_f32, fc_wino4_output_f32 and the F(2x2)
 * output transform; each returns 0, having done nothing, where it does not
 * apply (a gather's 32-bit index would not reach the block's images; an
 * activation other than ReLU; F(2x2) tile rows that are not whole panels). */
void fc_wino4_tiles_in_t_avx512_f32(const float *p, fc_int wr, fc_int ntiles, float *d,
                                    fc_int vstride);
void fc_wino4_dy_avx512_f32(const float *q, fc_int ts, fc_int n, float *d, fc_int astride,
                            int s2);
int fc_wino4_input_avx512_f32(const fc_conv_plan *pl, const float *x, fc_int gr0, fc_int nrows,
                              float *vb);
int fc_wino4_output_avx512_f32(const fc_conv_plan *pl, const float *mb, fc_int gr0, fc_int nrows,
                               fc_int k0, fc_int k1, const float *bias, const float *res, int act,
                               float *y);
int fc_wino_output_avx512_f32(const fc_conv_plan *pl, const float *mb, fc_int gr0, fc_int nrows,
                              fc_int k0, fc_int k1, const float *bias, const float *res, int act,
                              float *y);
/* A panel's 16 tiles for the gathers and scatters of these transforms (conv_winograd_avx512.c). */
void fc_wino_panel_tiles(const fc_conv_plan *pl, fc_int gr0, fc_int t0, fc_int ntile,
                         fc_int planes, fc_int H, fc_int W, fc_int pt, fc_int pleft, int span,
                         int n, int32_t off[16], unsigned *rowok, unsigned *colok);
/* The stride-2 F(4x4, 2x2) transforms (conv_winograd_s2_avx512.c) in place of
 * fc_wino_s2_input_f32 / fc_wino_s2_output_f32, on the same terms. */
int fc_wino_s2_input_avx512_f32(const fc_conv_plan *pl, const float *x, fc_int gr0,
                                fc_int nrows, float *vb);
int fc_wino_s2_output_avx512_f32(const fc_conv_plan *pl, const float *mb, fc_int gr0,
                                 fc_int nrows, fc_int k0, fc_int k1, const float *bias,
                                 const float *res, int act, float *y);
int fc_wino_s2t_input_avx512_f32(const fc_conv_plan *pl, const float *dy, fc_int gr0,
                                 fc_int nrows, float *vb);
int fc_wino_s2t_output_avx512_f32(const fc_conv_plan *pl, const float *mb, fc_int gr0,
                                  fc_int nrows, fc_int k0, fc_int k1, const float *bias,
                                  const float *res, int act, float *y);
/* The stride-2 weight gradient's input transform of one tile row (conv_winograd_bw.c),
 * 16 channels in the lanes, from the channel-last plane p (rows wr pixels apart): tile
 * tj's four phases' V blocks at d + tj*16 + ph*phstride + xi*vs. */
void fc_wino_s2_tiles_in_t_avx512_f32(const float *p, fc_int wr, fc_int tw, float *d,
                                      fc_int phstride, fc_int vs, int zr, int zc);
#endif

#endif /* FC_CONV_INTERNAL_H */
