/*
 * conv_depthwise_flat.c -- stride-1 depthwise convolution whose output has
 * the input's size ('same' padding), on the AVX-512 path; see fastconv.h.
 *
 * Why: the row and small-plane kernels (conv_depthwise_rows.c,
 * conv_depthwise_small.c) first copy every plane into a zero-padded scratch,
 * or transpose 8 planes into a channel-interleaved one; on MobileNet's maps
 * that copy cost as much as the taps. With Ho == H and Wo == W, output pixel
 * p = oh * W + ow and tap (dr, ds) reads input pixel p + dr * W + ds whenever
 * (oh + dr, ow + ds) lies inside the plane, and zero otherwise. So VL
 * consecutive outputs of a plane (one vector) take each tap as ONE masked
 * load at a fixed offset from their own flat index, straight from the image:
 * the lanes whose source is padding (or another row, or past the plane) are
 * masked off, which reads nothing and gives zero. The masks depend on the
 * geometry only: a table per call, a row per vector of a plane.
 *
 * Every kernel keeps four vectors (four independent chains of multiply-adds)
 * in flight to cover the FMA latency. Any filter up to 5x5 and padding
 * (conv_depthwise_flat_impl.h): four vectors of one plane with its weights in
 * registers (planes of 4+ vectors), of consecutive planes with each tap's
 * weight broadcast by the FMA (1-3 vectors), or of four images for planes
 * smaller than a vector (VL / HW channels of an image to a vector, per-lane
 * weights made by one permute per vector position). 3x3 with padding 1, the
 * common case, has compile-time offsets: rows of whole vectors take the table
 * only on the first and last rows and mask the row ends otherwise; planes
 * narrower than a vector are loaded whole and each tap is a lane shift of the
 * vectors in registers (valignd) under its mask. The stride-2 3x3 forward
 * (conv_depthwise_flat_s2.h) keeps the even lanes of the stride-1 vectors of
 * even rows, or, for float rows of 16 and 8x8 planes, takes each tap of the
 * outputs alone as a lane permute of input rows in registers; the weight
 * gradient (conv_depthwise_flat_bw.h) multiplies each tap's masked load by the
 * dy vector into the tap's own accumulator.
 *
 * Forward: y = bias + taps in (r, s) order; backward-data: the same over dy
 * with the filter turned 180 degrees; the chain of fused multiply-adds of the
 * AVX2 kernels, so the paths agree bit for bit (tests/test_depthwise_flat.py).
 */
#include <stdint.h>
#include <string.h>
#include "fastconv.h"
#include "team.h"

#define FC_DWF_MAXTAP 25
/* Largest plane (pixels): the mask table of a call is (pixels / VL) x taps. */
#define FC_DWF_MAXPIX 4096

/* A pass over same-size planes: taps k in the order they are summed, each an
 * offset dr * W + ds from the output's flat index and a weight index. */
typedef struct dwf_plan {
    fc_int N, C, H, W, HW;
    fc_int vl;      /* lanes */
    fc_int packed;  /* 1: HW < vl, vl / HW channels per vector */
    fc_int nv;      /* vectors per plane (packed: per image) */
    int k3;         /* 3x3 filter, padding 1 on every side */
    int flip;       /* backward-data: the filter turned 180 degrees */
    int s2;         /* stride 2 (3x3, padding 1): the forward as the stride-1 plan of the
                       input plane, whose even rows and columns are the Ho x Wo output;
                       with flip, the input gradient of dwf_bd_s2 */
    fc_int Ho, Wo;
    int ntap;
    fc_int off[FC_DWF_MAXTAP];
    int widx[FC_DWF_MAXTAP];
    int dr[FC_DWF_MAXTAP], ds[FC_DWF_MAXTAP];
} dwf_plan;

static int dwf_geometry_ok(const fc_conv_geom *g)
{
    return g->K == g->C && g->stride_h == 1 && g->stride_w == 1 && g->dil_h == 1 &&
           g->dil_w == 1 && g->Ho == g->H && g->Wo == g->W && g->R * g->S <= FC_DWF_MAXTAP &&
           g->pad_top >= 0 && g->pad_left >= 0 && g->pad_top < g->R && g->pad_left < g->S &&
           g->H >= 1 && g->W >= 1 && g->H * g->W <= FC_DWF_MAXPIX;
}

/* Stride 2, 3x3, padding 1 on even planes (Ho = H / 2, Wo = W / 2: no tap reaches the
 * bottom or right border), in the plane shapes conv_depthwise_flat_s2.h takes: rows of
 * NC whole vectors with whole groups of four stride-1 vectors (NC 1: Ho a multiple of 4;
 * NC 2: of 2; NC a multiple of 4), or (float) rows of 16 of any height, 8x8 and 4x4
 * planes. (8x8 planes as whole stride-1 results in registers measured slower than the
 * AVX2 kernels, 73 -> 97 us on MobileNet's 128 channels; their outputs alone, 40 us.) */
static int dwf_stride2_ok(const fc_conv_geom *g, size_t elem)
{
    const fc_int vl = elem == 8 ? 8 : 16, nc = g->W / vl;
    if (!(g->K == g->C && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 &&
          g->dil_w == 1 && g->R == 3 && g->S == 3 && g->pad_top == 1 && g->pad_left == 1 &&
          g->H % 2 == 0 && g->W % 2 == 0 && g->Ho == g->H / 2 && g->Wo == g->W / 2 &&
          g->H >= 2 && g->H * g->W <= FC_DWF_MAXPIX))
        return 0;
    if (elem == 4 && (g->W == 16 || (g->W == 8 && g->H == 8)))
        return 1;   /* the outputs-only kernels (dwf_s2_w16, dwf_s2_8x8) */
    if (g->W % vl == 0)
        return (nc == 1 && g->Ho % 4 == 0) || (nc == 2 && g->Ho % 2 == 0) || nc % 4 == 0;
    return elem == 4 && g->W == 4 && g->H == 4;
}

/* The stride-2 input and weight gradients (conv_depthwise_flat_s2.h's dwf_bd_s2,
 * conv_depthwise_flat_bw.h's dwf_bw_s2): 3x3, padding 1 at the top and left, even
 * planes whose rows are whole vectors (two, for the weight gradient). */
static int dwf_stride2_data_ok(const fc_conv_geom *g, int pass, size_t elem)
{
    const fc_int vl = elem == 8 ? 8 : 16;
    /* The weight gradient wants whole output chunks: on half-vector ones (64 channels at
     * 16x16, batch 64) the AVX2 kernels' full channel-interleaved lanes won (151 against
     * 219 us). Rows under a vector lost or tied both ways (8x8, 4x4). */
    const fc_int unit = pass == 2 ? 2 * vl : vl;
    return g->K == g->C && g->stride_h == 2 && g->stride_w == 2 && g->dil_h == 1 &&
           g->dil_w == 1 && g->R == 3 && g->S == 3 && g->pad_top == 1 && g->pad_left == 1 &&
           g->H % 2 == 0 && g->W % unit == 0 && g->H >= 2 && g->Ho == g->H / 2 &&
           g->Wo == g->W / 2;
}

/* Planes the weight gradient takes whole in registers (conv_depthwise_flat_bw.h's
 * dwf_bw_reg): packed 2x2, or W + 1 < VL with HW a multiple of VL -- W 4 with 1, 2 or 4
 * vectors, W 8 (float) with 2 or 4. */
static int dwf_bw_reg_ok(const dwf_plan *P)
{
    if (P->packed)
        return P->W == 2 && P->H == 2;
    if (P->HW % P->vl || P->W + 1 >= P->vl)
        return 0;
    return (P->W == 4 && (P->nv == 1 || P->nv == 2 || P->nv == 4)) ||
           (P->vl == 16 && P->W == 8 && (P->nv == 2 || P->nv == 4));
}

/* Pass 0 forward, 1 backward-data, 2 weight gradient; elem the element size. 0 if it
 * does not fit. */
static int dwf_plan_make(const fc_conv_geom *g, int pass, size_t elem, fc_int N, dwf_plan *P)
{
    const int s2 = (pass == 0 && dwf_stride2_ok(g, elem)) ||
                   (pass > 0 && dwf_stride2_data_ok(g, pass, elem));
    if ((!dwf_geometry_ok(g) && !s2) || pass < 0 || pass > 2)
        return 0;
    P->N = N, P->C = g->C, P->H = g->H, P->W = g->W, P->HW = g->H * g->W;
    P->s2 = s2, P->Ho = g->Ho, P->Wo = g->Wo;
    P->vl = elem == 8 ? 8 : 16;
    P->packed = P->HW < P->vl;
    if (P->packed && P->vl % P->HW)
        return 0;
    P->nv = P->packed ? (P->C * P->HW + P->vl - 1) / P->vl : (P->HW + P->vl - 1) / P->vl;
    P->ntap = (int)(g->R * g->S);
    P->k3 = g->R == 3 && g->S == 3 && g->pad_top == 1 && g->pad_left == 1;
    /* The weight gradient: 3x3 with padding 1 on rows of whole vectors, or on planes
     * whole in registers (dwf_bw_reg_ok) -- through the mask table (8x8 and 4x4 planes)
     * it measured slower than the AVX2 kernels (MobileNet's 128 channels at 8x8,
     * batch 64: 168 -> 199 us). */
    if (pass == 2 && !s2 && !(P->k3 && ((g->W % P->vl == 0 && g->H > 2) || dwf_bw_reg_ok(P))))
        return 0;
    P->flip = pass == 1;
    for (int k = 0; k < P->ntap; k++) {   /* pass 2 (weight gradient): the forward taps */
        const int t = pass != 1 ? k : P->ntap - 1 - k;
        const int r = t / (int)g->S, s = t % (int)g->S;
        P->dr[k] = pass != 1 ? r - (int)g->pad_top : (int)g->pad_top - r;
        P->ds[k] = pass != 1 ? s - (int)g->pad_left : (int)g->pad_left - s;
        P->off[k] = (fc_int)P->dr[k] * P->W + P->ds[k];
        P->widx[k] = t;
    }
    return 1;
}

/* Table rows v0 .. v1 - 1: for vector v of a plane (packed: the vector position
 * in the pattern, which repeats every vector: row 0 only), mask[v * ntap + k] has
 * lane l set when tap k of output e = v * vl + l reads inside the plane; smask[v]
 * has the lanes that are outputs. A tap's mask is its row offset's lanes and its
 * column offset's lanes. (Partial channel blocks of packed planes are masked by
 * the caller.) */
static void dwf_masks_compute(const dwf_plan *P, fc_int v0, fc_int v1, uint16_t *mask,
                              uint16_t *smask)
{
    for (fc_int v = v0; v < v1; v++) {
        unsigned rows[FC_DWF_MAXTAP], cols[FC_DWF_MAXTAP], sm = 0;
        fc_int p = P->packed ? 0 : v * P->vl, oh = p / P->W, ow = p % P->W;
        for (int k = 0; k < P->ntap; k++) rows[k] = cols[k] = 0;
        for (fc_int l = 0; l < P->vl && p < P->HW; l++) {
            sm |= 1u << l;
            for (int k = 0; k < P->ntap; k++) {
                const fc_int ih = oh + P->dr[k], iw = ow + P->ds[k];
                rows[k] |= (unsigned)(ih >= 0 && ih < P->H) << l;
                cols[k] |= (unsigned)(iw >= 0 && iw < P->W) << l;
            }
            if (++ow == P->W) ow = 0, ++oh;
            if (++p == P->HW && P->packed) p = 0, oh = 0;
        }
        smask[v] = (uint16_t)sm;
        for (int k = 0; k < P->ntap; k++) mask[v * P->ntap + k] = (uint16_t)(rows[k] & cols[k]);
    }
}

/* Each call used to build its table (two threads, every depthwise layer: 2-3% of
 * MobileNet's batch-1 inference); a thread keeps the tables of the last few plane
 * geometries it ran, whole (rows 0 .. nv - 1), and copies the rows asked for. */
#define FC_DWF_MEMO 8
#define FC_DWF_MEMO_VECS 64
typedef struct dwf_mask_memo {
    fc_int vl, H, W, nv;
    int packed, ntap, used;
    int dr[FC_DWF_MAXTAP], ds[FC_DWF_MAXTAP];
    uint16_t mask[FC_DWF_MEMO_VECS * FC_DWF_MAXTAP], smask[FC_DWF_MEMO_VECS];
} dwf_mask_memo;
static FC_THREAD_LOCAL dwf_mask_memo dwf_memos[FC_DWF_MEMO];
static FC_THREAD_LOCAL unsigned dwf_memo_next;

static void dwf_masks(const dwf_plan *P, fc_int v0, fc_int v1, uint16_t *mask, uint16_t *smask)
{
    /* packed planes: one row, the pattern every vector repeats */
    const fc_int nv = P->packed ? 1 : P->nv;
    if (v1 > nv || nv > FC_DWF_MEMO_VECS) {
        dwf_masks_compute(P, v0, v1, mask, smask);
        return;
    }
    dwf_mask_memo *m = NULL;
    for (int i = 0; i < FC_DWF_MEMO && !m; i++) {
        dwf_mask_memo *e = &dwf_memos[i];
        if (e->used && e->vl == P->vl && e->H == P->H && e->W == P->W && e->nv == nv &&
            e->packed == (int)P->packed && e->ntap == P->ntap &&
            !memcmp(e->dr, P->dr, (size_t)P->ntap * sizeof(int)) &&
            !memcmp(e->ds, P->ds, (size_t)P->ntap * sizeof(int)))
            m = e;
    }
    if (!m) {
        m = &dwf_memos[dwf_memo_next++ % FC_DWF_MEMO];
        m->vl = P->vl, m->H = P->H, m->W = P->W, m->nv = nv, m->ntap = P->ntap;
        m->packed = (int)P->packed;
        memcpy(m->dr, P->dr, sizeof(m->dr));
        memcpy(m->ds, P->ds, sizeof(m->ds));
        dwf_masks_compute(P, 0, nv, m->mask, m->smask);
        m->used = 1;
    }
    memcpy(mask + v0 * P->ntap, m->mask + v0 * P->ntap,
           (size_t)((v1 - v0) * P->ntap) * sizeof(uint16_t));
    memcpy(smask + v0, m->smask + v0, (size_t)(v1 - v0) * sizeof(uint16_t));
}

int fc_depthwise_flat_fits(const fc_conv_geom *g, int pass, size_t elem)
{
#if defined(__x86_64__) || defined(_M_X64)
    dwf_plan P;
    return fc_simd_path() == FC_SIMD_AVX512 && dwf_plan_make(g, pass, elem, 1, &P);
#else
    (void)g, (void)pass, (void)elem;
    return 0;
#endif
}

fc_int fc_depthwise_flat_items(const fc_conv_geom *g, int pass, fc_int N, size_t elem)
{
    dwf_plan P;
    if (!dwf_plan_make(g, pass, elem, N, &P))
        return 0;
    return P.packed ? P.nv * N : N * P.C;
}

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define DWF_ATTR __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma")))
#define DWF_INLINE static inline __attribute__((always_inline)) DWF_ATTR
/* CALL(NC) for a plane row of nc whole vectors: NC a compile-time constant where nc
 * is 1, 2 or 4, else 0 (the kernel reads nc at run time). */
#define DWF_BY_NC(nc, CALL)                                                           \
    do {                                                                              \
        if ((nc) == 1)                                                                \
            CALL(1);                                                                  \
        else if ((nc) == 2)                                                           \
            CALL(2);                                                                  \
        else if ((nc) == 4)                                                           \
            CALL(4);                                                                  \
        else                                                                          \
            CALL(0);                                                                  \
    } while (0)

#define DWF_T float
#include "conv_depthwise_flat_impl.h"
#undef DWF_T
#define DWF_T double
#define DWF_DOUBLE 1
#include "conv_depthwise_flat_impl.h"
#undef DWF_DOUBLE
#undef DWF_T

#define DWF_ENTRY(T, SFX)                                                                       \
    void fc_depthwise_flat_forward_##SFX(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,  \
                                         const T *x, const T *w, const T *bias, int act,        \
                                         T act_param, T *y)                                     \
    {                                                                                           \
        dwf_plan P;                                                                             \
        if (fc_simd_path() == FC_SIMD_AVX512 && dwf_plan_make(g, 0, sizeof(T), N, &P))          \
            dwf_run_##SFX(&P, i0, i1, x, w, bias, act, act_param, y);                           \
    }                                                                                           \
    void fc_depthwise_flat_backward_data_##SFX(const fc_conv_geom *g, fc_int N, fc_int i0,      \
                                               fc_int i1, const T *dy, const T *w, T *dx)      \
    {                                                                                           \
        dwf_plan P;                                                                             \
        if (fc_simd_path() == FC_SIMD_AVX512 && dwf_plan_make(g, 1, sizeof(T), N, &P))          \
            dwf_run_##SFX(&P, i0, i1, dy, w, NULL, FC_ACT_NONE, (T)0, dx);                      \
    }
DWF_ENTRY(float, f32)
DWF_ENTRY(double, f64)

#define DWF_BW_ENTRY(T, SFX)                                                                    \
    void fc_depthwise_flat_backward_weight_##SFX(const fc_conv_geom *g, fc_int nimg, fc_int k0, \
                                                 fc_int k1, const T *x, const T *dy,            \
                                                 fc_int part, T *out)                           \
    {                                                                                           \
        dwf_plan P;                                                                             \
        if (fc_simd_path() == FC_SIMD_AVX512 && dwf_plan_make(g, 2, sizeof(T), nimg, &P))       \
            dwf_backward_weight_##SFX(&P, nimg, k0, k1, x, dy, part, out);                      \
    }
DWF_BW_ENTRY(float, f32)
DWF_BW_ENTRY(double, f64)

#else /* no x86: fc_depthwise_flat_fits is 0 and the calls do nothing */
void fc_depthwise_flat_forward_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                   const float *x, const float *w, const float *bias, int act,
                                   float act_param, float *y)
{
    (void)g, (void)N, (void)i0, (void)i1, (void)x, (void)w, (void)bias, (void)act;
    (void)act_param, (void)y;
}
void fc_depthwise_flat_forward_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                   const double *x, const double *w, const double *bias, int act,
                                   double act_param, double *y)
{
    (void)g, (void)N, (void)i0, (void)i1, (void)x, (void)w, (void)bias, (void)act;
    (void)act_param, (void)y;
}
void fc_depthwise_flat_backward_data_f32(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                         const float *dy, const float *w, float *dx)
{
    (void)g, (void)N, (void)i0, (void)i1, (void)dy, (void)w, (void)dx;
}
void fc_depthwise_flat_backward_data_f64(const fc_conv_geom *g, fc_int N, fc_int i0, fc_int i1,
                                         const double *dy, const double *w, double *dx)
{
    (void)g, (void)N, (void)i0, (void)i1, (void)dy, (void)w, (void)dx;
}
void fc_depthwise_flat_backward_weight_f32(const fc_conv_geom *g, fc_int nimg, fc_int k0,
                                           fc_int k1, const float *x, const float *dy,
                                           fc_int part, float *out)
{
    (void)g, (void)nimg, (void)k0, (void)k1, (void)x, (void)dy, (void)part, (void)out;
}
void fc_depthwise_flat_backward_weight_f64(const fc_conv_geom *g, fc_int nimg, fc_int k0,
                                           fc_int k1, const double *x, const double *dy,
                                           fc_int part, double *out)
{
    (void)g, (void)nimg, (void)k0, (void)k1, (void)x, (void)dy, (void)part, (void)out;
}
#endif
