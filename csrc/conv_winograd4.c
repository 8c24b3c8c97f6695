/*
 * conv_winograd4.c -- Winograd F(4x4, 3x3) (Lavin & Gray, 2016) for the
 * forward and backward-data passes of 3x3, stride 1, undilated convolutions:
 * each 4x4 block of outputs from the 6x6 input patch under it,
 *
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
 *
 * so the 144 multiply-adds per channel of a direct 4x4 block become 36:
 * 4x fewer (F(2x2, 3x3), conv_winograd.c, saves 2.25x). The 36 products summed
 * over channels are 36 independent matrix products M[xi] = U[xi] . V[xi], run
 * by F(2x2)'s driver (fc_conv_wino_run, conv_winograd.c) on the GEMM block
 * kernel with the same packed layouts and plan fields; this file holds the
 * transforms it calls when pl->wino_m == 4. Fewer, larger
 * tiles also mean 1.8x less transformed data per output.
 *
 *   B^T = [4  0 -5  0 1 0;  0 -4 -4  1 1 0;  0  4 -4 -1 1 0;
 *          0 -2 -1  2 1 0;  0  2 -1 -2 1 0;  0  4  0 -5 0 1]
 *   G   = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6;
 *          1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1]
 *   A^T = [1 1 1 1 1 0;  0 1 -1 2 -2 0;  0 1 1 4 4 0;  0 1 -1 8 -8 1]
 *
 * Accuracy: the interpolation points 0, +-1, +-2 make the transforms scale
 * values by up to 8 (A^T) and 5 (B^T), so float32 results differ from a direct
 * convolution by about 1e-6 of the output's magnitude (F(2x2): a few units in
 * the last place); the weight transform runs in double. Checked against the
 * NumPy reference like every path; the size rule (geometry.winograd_tile)
 * decides where it runs.
 *
 * The transforms are two 1-D passes each, written so that every loop runs
 * along a contiguous index with a handful of streams (the compiler vectorises
 * them; the AVX2 build is the same code compiled for AVX2, and since only
 * additions and multiplications by exact small constants appear, written out
 * without fused multiply-adds, both builds give the same bits):
 *   input   B^T along the plane's rows (contiguous columns), gathered per tile,
 *           B along the tiles, straight into the packed GEMM B panels;
 *   output  A^T, then A, along the tiles; scattered into the output rows.
 * Each output depends only on its own tile, summed over channels in a fixed
 * order: results do not depend on the thread split.
 */
#ifndef FC_T
#include <string.h>
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>
#endif
#include "team.h"

#define FC_TMPL_SELF "conv_winograd4.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

#include "conv_winograd_tiles.h"

/* U[xi](k, c) = (G g(k, c) G^T)[xi], xi = 0..35, packed as in
 * fc_wino_pack_weights (flip: the backward-data weights). In double: G's
 * sixths and 24ths would otherwise round twice.
 *
 * Plain weights are transformed at every call, so this is on the training
 * step's path. The elements of a plane that one micro-panel row (MR filters)
 * of one channel block fills are contiguous, channel after channel: they are
 * taken FC_WINO4_PACK_LANES at a time, element innermost, so every loop is a
 * few contiguous streams the compiler vectorises and each of the 36 planes is
 * written in whole runs (element by element, with the planes 4 KiB-aliased,
 * 64 x 64 filters took 136 us; now 23 us on 2 threads); padding filters
 * are zeros. The arithmetic is the same expression for every element, written
 * out without fused multiply-adds, so every build (and the AVX2 twin) gives
 * the same bits. */
#define FC_WINO4_PACK_LANES 32

/* G v for n vectors v = (v0, v1, v2) at once (G's zeros, ones and shared
 * terms written out: 12 operations per vector instead of 30). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_g_rows)(const double *restrict v0, const double *restrict v1,
                        const double *restrict v2, fc_int n, double *restrict o0,
                        double *restrict o1, double *restrict o2, double *restrict o3,
                        double *restrict o4, double *restrict o5)
{
    for (fc_int e = 0; e < n; ++e) {
        const double p = v0[e] + v2[e];
        const double q = v0[e] * (1.0 / 24) + v2[e] * (1.0 / 6), r = v1[e] * (1.0 / 12);
        o0[e] = v0[e] * 0.25;
        o1[e] = (p + v1[e]) * (-1.0 / 6);
        o2[e] = (p - v1[e]) * (-1.0 / 6);
        o3[e] = q + r;
        o4[e] = q - r;
        o5[e] = v2[e];
    }
}

static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_pack_block)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *dst,
                            size_t plane, fc_int pc, fc_int i0)
{
    const fc_int Kp = pl->dg.K, Cp = pl->dg.C;
    const fc_int kc = FC_MIN(pl->kcb, Cp - pc), n = kc * FC_MR;
    for (fc_int e0 = 0; e0 < n; e0 += FC_WINO4_PACK_LANES) {
        const fc_int ne = FC_MIN(FC_WINO4_PACK_LANES, n - e0);
        double g[9][FC_WINO4_PACK_LANES], t[6][3][FC_WINO4_PACK_LANES];
        for (fc_int e = 0; e < ne; ++e) {
            /* element e0 + e: channel pc + (e0 + e) / MR, filter i0 + (e0 + e) % MR */
            const fc_int c = pc + (e0 + e) / FC_MR, kk = i0 + (e0 + e) % FC_MR;
            for (int rs = 0; rs < 9; ++rs)
                g[rs][e] = kk >= Kp ? 0.0
                           : flip   ? (double)w[(c * Kp + kk) * 9 + (8 - rs)]
                                    : (double)w[(kk * Cp + c) * 9 + rs];
        }
        for (int s = 0; s < 3; ++s)
            FC_SFX(fc_wino4_g_rows)(g[s], g[3 + s], g[6 + s], ne, t[0][s], t[1][s], t[2][s],
                                    t[3][s], t[4][s], t[5][s]);
        FC_T *restrict d = dst + (size_t)e0;
        for (int a = 0; a < 6; ++a) {
            double u[6][FC_WINO4_PACK_LANES];
            FC_SFX(fc_wino4_g_rows)(t[a][0], t[a][1], t[a][2], ne, u[0], u[1], u[2], u[3], u[4],
                                    u[5]);
            for (int b = 0; b < 6; ++b)
                for (fc_int e = 0; e < ne; ++e)
                    d[(size_t)(a * 6 + b) * plane + (size_t)e] = (FC_T)u[b][e];
        }
    }
}

/* Filter rows [i0, i1) (i0 a multiple of MR) of the channel block at pc into the
 * panels at d, planes `plane` apart: the whole pack takes one micro-panel row at a time
 * into its planes, fc_conv2d_forward_filters_part a block of rows into its buffer. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_pack_rows_body)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *d,
                                size_t plane, fc_int pc, fc_int i0, fc_int i1)
{
    const fc_int kc = FC_MIN(pl->kcb, pl->dg.C - pc);
    for (fc_int i = i0; i < i1; i += FC_MR)
        FC_SFX(fc_wino4_pack_block)(pl, w, flip, d + (i - i0) * kc, plane, pc, i);
}

static void FC_SFX(fc_wino4_pack_rows_portable)(const fc_conv_plan *pl, const FC_T *w, int flip,
                                                FC_T *d, size_t plane, fc_int pc, fc_int i0,
                                                fc_int i1)
{
    FC_SFX(fc_wino4_pack_rows_body)(pl, w, flip, d, plane, pc, i0, i1);
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
/* avx2 without fma: no contraction, the portable build's bits */
__attribute__((target("avx2"))) static void
FC_SFX(fc_wino4_pack_rows_avx2)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *d,
                                size_t plane, fc_int pc, fc_int i0, fc_int i1)
{
    FC_SFX(fc_wino4_pack_rows_body)(pl, w, flip, d, plane, pc, i0, i1);
}
#endif

#if defined(FC_HAVE_X86_AVX2_KERNELS) && defined(__GNUC__) && !defined(__clang__)
/* Eight doubles a vector; contraction off, so that no multiply-add joins a product and
 * a sum the other builds round apart: the same bits. (GCC only: clang contracts within
 * an expression unless told per statement, so it keeps the AVX2 twin.) A single image's
 * 32 -> 64-channel layer spent a fifth of its forward + backward packing weights. */
__attribute__((target("avx512f,avx512vl,avx512dq,prefer-vector-width=512"),
               optimize("fp-contract=off"))) static void
FC_SFX(fc_wino4_pack_rows_avx512)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *d,
                                  size_t plane, fc_int pc, fc_int i0, fc_int i1)
{
    FC_SFX(fc_wino4_pack_rows_body)(pl, w, flip, d, plane, pc, i0, i1);
}
#define FC_WINO4_PACK_AVX512 1
#endif

void FC_SFX(fc_wino4_pack_rows)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *d,
                                size_t plane, fc_int pc, fc_int i0, fc_int i1)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    const int avx2 = fc_wino_avx2();
#ifdef FC_WINO4_PACK_AVX512
    if (avx2 && fc_simd_path() == FC_SIMD_AVX512) {
        FC_SFX(fc_wino4_pack_rows_avx512)(pl, w, flip, d, plane, pc, i0, i1);
        return;
    }
#endif
    if (avx2) {
        FC_SFX(fc_wino4_pack_rows_avx2)(pl, w, flip, d, plane, pc, i0, i1);
        return;
    }
#endif
    FC_SFX(fc_wino4_pack_rows_portable)(pl, w, flip, d, plane, pc, i0, i1);
}

void FC_SFX(fc_wino4_pack_weights)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *ap)
{
    const fc_int Cp = pl->dg.C, rows = fc_roundup(pl->dg.K, FC_MR) / FC_MR, mpad = rows * FC_MR;
    /* units: (channel block, micro-panel row) pairs */
    const fc_int units = (Cp + pl->kcb - 1) / pl->kcb * rows;
    /* a second thread pays from ~1000 filters (a few microseconds each) */
    const int parallel = pl->dg.K * Cp >= 1024;
    (void)parallel;
#pragma omp parallel if (parallel)
    {
        fc_int u0, u1;
        fc_omp_share(units, &u0, &u1);
        for (fc_int u = u0; u < u1; ++u) {
            const fc_int pc = u / rows * pl->kcb, i0 = u % rows * FC_MR;
            const fc_int kc = FC_MIN(pl->kcb, Cp - pc);
            FC_SFX(fc_wino4_pack_rows)(pl, w, flip, ap + pc * mpad + i0 * kc,
                                       (size_t)pl->wino_a, pc, i0, i0 + FC_MR);
        }
    }
}

/* Columns [u0, u1) of src (indexed by plane column) into the four phases of a
 * plane row: dst[(u % 4)*q + u/4] = src[u]. Whole groups of four columns as
 * four strided streams (vectorised by the compiler), the ends one at a time. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_split_row)(const FC_T *restrict src, fc_int u0, fc_int u1, fc_int q,
                           FC_T *restrict dst)
{
    fc_int u = u0;
    for (; u < u1 && (u & 3); ++u)
        dst[(u & 3) * q + (u >> 2)] = src[u];
    const fc_int g0 = u >> 2, g1 = u1 >> 2;
    FC_T *restrict d0 = dst, *restrict d1 = dst + q, *restrict d2 = dst + 2 * q;
    FC_T *restrict d3 = dst + 3 * q;
    for (fc_int i = g0; i < g1; ++i) {
        d0[i] = src[4 * i];
        d1[i] = src[4 * i + 1];
        d2[i] = src[4 * i + 2];
        d3[i] = src[4 * i + 3];
    }
    for (u = FC_MAX(u, 4 * g1); u < u1; ++u)
        dst[(u & 3) * q + (u >> 2)] = src[u];
}

/* The 36 runs of one tile row: column b of its tiles in B^T row a (phase
 * b % 4, from b / 4) to dst[(a*6 + b)*tbp + tj]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_gather)(const FC_T *restrict rt, fc_int wr, fc_int q, FC_T *restrict dst,
                        fc_int tbp, const fc_int tw)
{
    for (int a = 0; a < 6; ++a)
        for (int b = 0; b < 6; ++b) {
            const FC_T *restrict s = rt + a * wr + (b & 3) * q + (b >> 2);
            FC_T *restrict d = dst + (a * 6 + b) * tbp;
            for (fc_int tj = 0; tj < tw; ++tj)
                d[tj] = s[tj];
        }
}

/* Input transform of the block's tile rows [gr0, gr0 + nrows) into the packed
 * B panels vb (layout as in fc_wino_input_body). Per (image, channel): the
 * zero-bordered plane, its rows split into four phases (column u at
 * (u % 4)*q + u/4, q = tw + 1 rounded up to even: rows of whole vectors) so that column b of every tile of a tile row is
 * one contiguous run; B^T down each tile row's six plane rows (a row
 * operation: the phases do not matter); the runs copied into
 * pg[(a*6 + b)*tbp + tau]; B along b for all the block's tiles at once,
 * written straight into the panels. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_input_body)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                            FC_T *vb, FC_T *rowbuf, const int avx2)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vstride = pl->wino_vs, tbp = pl->wino_tbp, q = fc_roundup(tw + 1, 2), wr = 4 * q;
    const fc_int hr = 4 * th + 2, pt = g->pad_top, pleft = g->pad_left, ntile = nrows * tw;
    FC_T *plane = rowbuf;                                   /* hr x wr */
    FC_T *rows = plane + fc_roundup(hr * wr, 16); /* rows x 6 x wr: B^T of the tile rows */
    FC_T *pg = rows + fc_roundup(pl->wino_rows * 6 * wr, 16); /* 36 x tbp gathered */
    const fc_int v0 = FC_MAX(0, pt), v1 = FC_MIN(hr, pt + H);
    const fc_int u0 = FC_MAX(0, pleft), u1 = FC_MIN(4 * tw + 2, pleft + W);
    const fc_int nv = fc_roundup(ntile, FC_NR); /* <= tbp */
    for (fc_int i = 0; i < hr * wr; ++i)
        plane[i] = 0;
    for (fc_int xi = 0; xi < 36; ++xi) /* lanes past the last tile: zero */
        for (fc_int tau = ntile; tau < nv; ++tau)
            pg[xi * tbp + tau] = 0;
    for (fc_int c = 0; c < C; ++c) {
        fc_int lr = 0;
        while (lr < nrows) {
            const fc_int gr = gr0 + lr, img = gr / th, ti0 = gr - img * th;
            const fc_int nr = FC_MIN(nrows - lr, th - ti0);
            const fc_int va = FC_MAX(v0, 4 * ti0), vz = FC_MIN(v1, 4 * (ti0 + nr) + 2);
            const FC_T *xc = x + (img * C + c) * H * W;
            for (fc_int v = va; v < vz; ++v)
                FC_SFX(fc_wino4_split_row)(xc + (v - pt) * W - pleft, u0, u1, q, plane + v * wr);
            /* all the segment's B^T rows before any is read back: a load right
             * after the vector store it half overlaps waits for the store */
            for (fc_int ti = ti0; ti < ti0 + nr; ++ti)
                FC_W4BT(avx2, plane + 4 * ti * wr, wr, rows + (ti - ti0) * 6 * wr, wr, wr);
            for (fc_int ti = ti0; ti < ti0 + nr; ++ti) {
                FC_T *dst = pg + (lr + ti - ti0) * tw;
                const FC_T *rt = rows + (ti - ti0) * 6 * wr;
                /* constant run lengths for the maps the networks use */
                if (tw == 2)
                    FC_SFX(fc_wino4_gather)(rt, wr, q, dst, tbp, 2);
                else if (tw == 4)
                    FC_SFX(fc_wino4_gather)(rt, wr, q, dst, tbp, 4);
                else if (tw == 8)
                    FC_SFX(fc_wino4_gather)(rt, wr, q, dst, tbp, 8);
                else
                    FC_SFX(fc_wino4_gather)(rt, wr, q, dst, tbp, tw);
            }
            lr += nr;
        }
        /* B along b, a panel (NR tiles) at a time: V[a*6 + b'](c, tau). */
        FC_T *vc = vb + c * FC_NR;
        for (fc_int t0 = 0; t0 < nv; t0 += FC_NR) {
            FC_T *vp = vc + (t0 / FC_NR) * C * FC_NR;
            for (int a = 0; a < 6; ++a)
                FC_W4BT(avx2, pg + a * 6 * tbp + t0, tbp, vp + a * 6 * vstride, vstride, FC_NR);
        }
    }
}

#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
/* One output row from the row i outputs of its tiles, e_j[tj] = column 4tj + j:
 * four tiles at a time through a 4x4 transpose (16 outputs, four stores), +
 * bias, + residual, ReLU when relu; the same operations per element as the
 * portable loop. Reads up to three tiles past the row (the buffer has room). */
static inline __attribute__((target("avx2"))) void
FC_SFX(fc_wino4_put_row_sse)(const float *e0, const float *e1, const float *e2, const float *e3,
                             fc_int Wo, float bk, const float *rr, int relu, float *yr)
{
    const __m128 b = _mm_set1_ps(bk), z = _mm_setzero_ps();
    for (fc_int ow = 0; ow < Wo; ow += 16) {
        const fc_int tj = ow >> 2;
        __m128 r0 = _mm_loadu_ps(e0 + tj), r1 = _mm_loadu_ps(e1 + tj);
        __m128 r2 = _mm_loadu_ps(e2 + tj), r3 = _mm_loadu_ps(e3 + tj);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        __m128 v[4] = {r0, r1, r2, r3};
        for (int t = 0; t < 4; ++t) {
            const fc_int o = ow + 4 * t;
            if (o >= Wo)
                break;
            if (o + 4 <= Wo) {
                __m128 y = _mm_add_ps(v[t], b);
                if (rr)
                    y = _mm_add_ps(y, _mm_loadu_ps(rr + o));
                if (relu) /* "v > 0 ? v : 0", NaN to 0 like the portable loop */
                    y = _mm_and_ps(_mm_cmpgt_ps(y, z), y);
                _mm_storeu_ps(yr + o, y);
            } else {
                float tmp[4];
                _mm_storeu_ps(tmp, v[t]);
                for (fc_int u = o; u < Wo; ++u) {
                    float y = tmp[u - o] + bk;
                    if (rr)
                        y = y + rr[u];
                    yr[u] = relu ? (y > 0.0f ? y : 0.0f) : y;
                }
            }
        }
    }
}
#endif

/* Output transform: Y = A^T M A of the block's tiles for output channels
 * [k0, k1), + bias, + residual, activation, into y. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_output_body)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                             fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act,
                             FC_T act_param, FC_T *y, FC_T *rowbuf, const int avx2)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, mstride = pl->wino_ms, nt = nrows * tw;
    FC_T *s = rowbuf;            /* 6 x 4 x tbp: A^T along a, s[(b*4 + i)*tbp + tau] */
    FC_T *o = s + 24 * (size_t)tbp; /* 4 x 4 x tbp: outputs (i, j) of each tile */
    for (fc_int k = k0; k < k1; ++k) {
        const FC_T *mk = mb + k * tbp;
        for (int b = 0; b < 6; ++b)
            FC_W4AT(avx2, mk + b * mstride, 6 * mstride, s + b * 4 * tbp, tbp, nt);
        for (int i = 0; i < 4; ++i)
            FC_W4AT(avx2, s + i * tbp, 4 * tbp, o + i * 4 * tbp, tbp, nt);
        const FC_T bk = bias ? bias[k] : (FC_T)0;
        for (fc_int lr = 0; lr < nrows; ++lr) {
            const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            for (int i = 0; i < 4; ++i) {
                const fc_int oh = 4 * ti + i;
                if (oh >= Ho)
                    break;
                const fc_int at = ((img * K + k) * Ho + oh) * Wo;
                FC_T *restrict yr = y + at;
                const FC_T *restrict e0 = o + (i * 4 + 0) * tbp + lr * tw;
                const FC_T *restrict e1 = e0 + tbp, *restrict e2 = e1 + tbp, *restrict e3 = e2 + tbp;
                const FC_T *rr = res ? res + at : NULL;
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
                if (avx2) { /* residual and ReLU applied on the way */
                    const int relu = act == FC_ACT_RELU;
                    FC_SFX(fc_wino4_put_row_sse)(e0, e1, e2, e3, Wo, bk, rr, relu, yr);
                    FC_SFX(fc_wino_row_epilogue)(yr, NULL, Wo, relu ? FC_ACT_NONE : act, act_param);
                    continue;
                }
#endif
                const FC_T *ej[4] = {e0, e1, e2, e3};
                for (fc_int ow = 0; ow < Wo; ++ow)
                    yr[ow] = ej[ow & 3][ow >> 2] + bk;
                FC_SFX(fc_wino_row_epilogue)(yr, rr, Wo, act, act_param);
            }
        }
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino4_input_avx2)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                            FC_T *vb, FC_T *rowbuf)
{
    FC_SFX(fc_wino4_input_body)(pl, x, gr0, nrows, vb, rowbuf, 1);
}

__attribute__((target("avx2"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino4_output_avx2)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                             fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act,
                             FC_T act_param, FC_T *y, FC_T *rowbuf)
{
    FC_SFX(fc_wino4_output_body)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y, rowbuf, 1);
}
#endif

FC_WINO_NOLIB static void FC_SFX(fc_wino4_input_ref)(const fc_conv_plan *pl, const FC_T *x,
                                                     fc_int gr0, fc_int nrows, FC_T *vb,
                                                     FC_T *rowbuf)
{
    FC_SFX(fc_wino4_input_body)(pl, x, gr0, nrows, vb, rowbuf, 0);
}

FC_WINO_NOLIB static void FC_SFX(fc_wino4_output_ref)(const fc_conv_plan *pl, const FC_T *mb,
                                                      fc_int gr0, fc_int nrows, fc_int k0,
                                                      fc_int k1, const FC_T *bias, const FC_T *res,
                                                      int act, FC_T act_param, FC_T *y,
                                                      FC_T *rowbuf)
{
    FC_SFX(fc_wino4_output_body)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y, rowbuf, 0);
}

/* The F(4x4) transforms fc_conv_wino_run calls for pl->wino_m == 4: the
 * input of tile rows [gr0, gr0 + nrows) into the V panels (every lane of the
 * block's panels written), the output of M for channels [k0, k1). */
void FC_SFX(fc_wino4_input)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                            FC_T *vb, FC_T *rowbuf)
{
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
    if (fc_simd_path() == FC_SIMD_AVX512 && fc_wino4_input_avx512_f32(pl, x, gr0, nrows, vb))
        return;
#endif
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_wino_avx2()) {
        FC_SFX(fc_wino4_input_avx2)(pl, x, gr0, nrows, vb, rowbuf);
        return;
    }
#endif
    FC_SFX(fc_wino4_input_ref)(pl, x, gr0, nrows, vb, rowbuf);
}

void FC_SFX(fc_wino4_output)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                             fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act,
                             FC_T act_param, FC_T *y, FC_T *rowbuf)
{
#if defined(FC_HAVE_X86_AVX2_KERNELS) && !FC_IS_F64
    if (fc_simd_path() == FC_SIMD_AVX512 &&
        fc_wino4_output_avx512_f32(pl, mb, gr0, nrows, k0, k1, bias, res, act, y))
        return;
#endif
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_wino_avx2()) {
        FC_SFX(fc_wino4_output_avx2)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y,
                                     rowbuf);
        return;
    }
#endif
    FC_SFX(fc_wino4_output_ref)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y, rowbuf);
}

#endif
