/*
 * conv_winograd.c -- 3x3, stride 1, undilated convolutions by Winograd's
 * minimal filtering F(2x2, 3x3) (Lavin & Gray, 2016), the fast path of the
 * forward pass and of backward-data (through the flipped weights); the
 * backward-weight pass in conv_winograd_bw.c, F(4x4, 3x3)'s transforms (the same
 * driver, pl->wino_m == 4) in conv_winograd4.c, stride-2 F(4x4, 2x2)'s in
 * conv_winograd_s2.c, the tile helpers in conv_winograd_tiles.h.
 *
 * Each 2x2 block of outputs (a tile) is computed from the 4x4 input patch
 * d under it as  Y = A^T [ (G g G^T) .* (B^T d B) ] A,  so the 36
 * multiply-adds per channel of a direct 2x2 block become 16 multiply-adds in
 * the transformed domain: 2.25x fewer. The 16 element-wise products summed
 * over channels are 16 independent matrix products
 *
 *   M[xi] (K x T) = U[xi] (K x C) . V[xi] (C x T),   xi = 0..15,
 *
 * with U = G g G^T the filters (transformed once per batch, packed as GEMM A
 * blocks), V = B^T d B the input tiles (T tiles of a block of tile rows,
 * written straight into packed GEMM B panels), M reduced to outputs by A^T M A.
 * The products run on the GEMM block kernel (fc_ukb); the transforms are
 * additions only (an AVX2 build of the same code when the AVX2 path is in
 * force): the input one tile at a time (on the AVX-512 path the tiles of a
 * tile row in the vector lanes, on the AVX2 path 8 of them), the output along
 * the block's tiles.
 * The 16 V and M blocks sit a little more than a power of two apart
 * (wino_vs, wino_ms): at exactly 32 KB apart, the 16 stores of a tile's
 * transform all hit one L1 set and ran 4x slower.
 *
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 *
 * Accuracy: every transform is exact up to one rounding per addition; the
 * outputs differ from a direct convolution by a few units in the last place
 * (checked against the NumPy reference like every other path). Each output
 * depends only on its own tile's products, summed over channels in a fixed
 * order, so results do not depend on how images are split between threads.
 */
#ifndef FC_T
#include "conv_internal.h"
#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>
#endif

#define FC_TMPL_SELF "conv_winograd.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

#include "conv_winograd_tiles.h"

/* U[xi](k, c) = (G g(k, c) G^T)[xi] for the forward weights (flip == 0,
 * g(k, c) = w[k, c]) or the backward-data ones (flip == 1: the plan's
 * geometry has K' = C and C' = K, g'(c, k)(r, s) = w[k, c, 2-r, 2-s]),
 * each U[xi] packed as fc_pack_a_full packs a K' x C' matrix with block
 * size pl->kcb, at ap + xi * pl->wino_a. */
void FC_SFX(fc_wino_pack_weights)(const fc_conv_plan *pl, const FC_T *w, int flip, FC_T *ap)
{
    const fc_int Kp = pl->dg.K, Cp = pl->dg.C, kcb = pl->kcb, mpad = fc_roundup(Kp, FC_MR);
    if (pl->wino_s2) { /* either pass: its layout holds the flip */
        FC_SFX(fc_wino_s2_pack_weights)(pl, w, ap);
        return;
    }
    if (pl->wino_m == 4) {
        FC_SFX(fc_wino4_pack_weights)(pl, w, flip, ap);
        return;
    }
    /* Padding rows of the last micro-panels stay zero. */
    memset(ap, 0, 16 * (size_t)pl->wino_a * sizeof(FC_T));
    for (fc_int kk = 0; kk < Kp; ++kk)
        for (fc_int c = 0; c < Cp; ++c) {
            FC_T g[3][3];
            for (int r = 0; r < 3; ++r)
                for (int s = 0; s < 3; ++s)
                    g[r][s] = flip ? w[((c * Kp + kk) * 3 + (2 - r)) * 3 + (2 - s)]
                                   : w[((kk * Cp + c) * 3 + r) * 3 + s];
            FC_T t[4][3]; /* G g */
            for (int s = 0; s < 3; ++s) {
                t[0][s] = g[0][s];
                t[1][s] = (FC_T)0.5 * ((g[0][s] + g[2][s]) + g[1][s]);
                t[2][s] = (FC_T)0.5 * ((g[0][s] + g[2][s]) - g[1][s]);
                t[3][s] = g[2][s];
            }
            FC_T u[16]; /* (G g) G^T */
            for (int a = 0; a < 4; ++a) {
                u[a * 4 + 0] = t[a][0];
                u[a * 4 + 1] = (FC_T)0.5 * ((t[a][0] + t[a][2]) + t[a][1]);
                u[a * 4 + 2] = (FC_T)0.5 * ((t[a][0] + t[a][2]) - t[a][1]);
                u[a * 4 + 3] = t[a][2];
            }
            /* Element (kk, c) of U[xi] where fc_pack_a_full would put it. */
            const fc_int pc = c / kcb * kcb, kc = FC_MIN(kcb, Cp - pc);
            const fc_int i0 = kk / FC_MR * FC_MR;
            const size_t at = (size_t)(pc * mpad + i0 * kc + (c - pc) * FC_MR + (kk - i0));
            for (int xi = 0; xi < 16; ++xi)
                ap[(size_t)xi * (size_t)pl->wino_a + at] = u[xi];
        }
}

/* A^T m A for nt tiles: m[xi*ms + t] -> y00[t], y01[t], y10[t], y11[t].
 * Separate restrict streams so that the compiler vectorises along t. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_output_tiles)(const FC_T *restrict m, fc_int ms, fc_int nt, FC_T *restrict y00,
                             FC_T *restrict y01, FC_T *restrict y10, FC_T *restrict y11)
{
    const FC_T *restrict m0 = m, *restrict m1 = m + ms, *restrict m2 = m + 2 * ms;
    const FC_T *restrict m3 = m + 3 * ms, *restrict m4 = m + 4 * ms, *restrict m5 = m + 5 * ms;
    const FC_T *restrict m6 = m + 6 * ms, *restrict m7 = m + 7 * ms, *restrict m8 = m + 8 * ms;
    const FC_T *restrict m9 = m + 9 * ms, *restrict m10 = m + 10 * ms;
    const FC_T *restrict m11 = m + 11 * ms, *restrict m12 = m + 12 * ms;
    const FC_T *restrict m13 = m + 13 * ms, *restrict m14 = m + 14 * ms;
    const FC_T *restrict m15 = m + 15 * ms;
    for (fc_int t = 0; t < nt; ++t) {
        /* rows: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 (patch rows a = 0..3) */
        const FC_T s00 = (m0[t] + m4[t]) + m8[t], s10 = (m4[t] - m8[t]) - m12[t];
        const FC_T s01 = (m1[t] + m5[t]) + m9[t], s11 = (m5[t] - m9[t]) - m13[t];
        const FC_T s02 = (m2[t] + m6[t]) + m10[t], s12 = (m6[t] - m10[t]) - m14[t];
        const FC_T s03 = (m3[t] + m7[t]) + m11[t], s13 = (m7[t] - m11[t]) - m15[t];
        y00[t] = (s00 + s01) + s02;
        y01[t] = (s01 - s02) - s03;
        y10[t] = (s10 + s11) + s12;
        y11[t] = (s11 - s12) - s13;
    }
}

/* One output row: columns 2tj and 2tj + 1 from e[tj] and o[tj], + bias. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_put_row)(const FC_T *restrict e, const FC_T *restrict o, fc_int wfull, int odd,
                        FC_T bk, FC_T *restrict yr)
{
    for (fc_int tj = 0; tj < wfull; ++tj) {
        yr[2 * tj] = e[tj] + bk;
        yr[2 * tj + 1] = o[tj] + bk;
    }
    if (odd)
        yr[2 * wfull] = e[wfull] + bk;
}

/* Output transform: Y = A^T M A per tile, + bias, activation; tiles of the
 * tile rows [gr0, gr0 + nrows), M[xi](k, tau) at mb + xi*mstride + k*tbp + tau.
 * A^T . A over all the block's tiles at once (contiguous in tau), then the
 * 2 x 2 outputs interleaved into the output rows. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_output_body)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                            fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                            FC_T *y, FC_T *rowbuf)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, Ho = g->Ho, Wo = g->Wo, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int tbp = pl->wino_tbp, mstride = pl->wino_ms, nt = nrows * tw;
    FC_T *y00 = rowbuf, *y01 = y00 + tbp, *y10 = y01 + tbp, *y11 = y10 + tbp;
    const fc_int wfull = Wo / 2; /* tiles whose two columns are both inside */
    for (fc_int k = k0; k < k1; ++k) {
        FC_SFX(fc_wino_output_tiles)(mb + k * tbp, mstride, nt, y00, y01, y10, y11);
        const FC_T bk = bias ? bias[k] : (FC_T)0;
        for (fc_int lr = 0; lr < nrows; ++lr) {
            const fc_int gr = gr0 + lr, img = gr / th, ti = gr - img * th;
            for (int a = 0; a < 2; ++a) {
                const fc_int oh = 2 * ti + a;
                if (oh >= Ho)
                    break;
                const fc_int at = ((img * K + k) * Ho + oh) * Wo;
                FC_T *yr = y + at;
                FC_SFX(fc_wino_put_row)((a ? y10 : y00) + lr * tw, (a ? y11 : y01) + lr * tw,
                                        wfull, Wo & 1, bk, yr);
                FC_SFX(fc_wino_row_epilogue)(yr, res ? res + at : NULL, Wo, act, act_param);
            }
        }
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
#undef FC_WZ
#undef FC_WMASK
#undef FC_WLOAD
#undef FC_WSTORE
#undef FC_WADD
#undef FC_WSUB
#if FC_IS_F64
#define FC_WZ __m512d
#define FC_WMASK __mmask8
#define FC_WLOAD(m, p) _mm512_maskz_loadu_pd(m, p)
#define FC_WSTORE(p, m, v) _mm512_mask_storeu_pd(p, m, v)
#define FC_WADD _mm512_add_pd
#define FC_WSUB _mm512_sub_pd
#else
#define FC_WZ __m512
#define FC_WMASK __mmask16
#define FC_WLOAD(m, p) _mm512_maskz_loadu_ps(m, p)
#define FC_WSTORE(p, m, v) _mm512_mask_storeu_ps(p, m, v)
#define FC_WADD _mm512_add_ps
#define FC_WSUB _mm512_sub_ps
#endif

/* ev[t] = src[2t], od[t] = src[2t + 1] for the n elements of src, 2*NR of
 * them a step through two masked loads and two lane permutes (the rows of a
 * small image are shorter than the AVX2 helper's 16-element step). */
static inline __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_wino_split_row)(const FC_T *src, fc_int n, FC_T *ev, FC_T *od)
{
#if FC_IS_F64
    const __m512i ie = _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14);
    const __m512i io = _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15);
#define FC_WPERM _mm512_permutex2var_pd
#else
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
#define FC_WPERM _mm512_permutex2var_ps
#endif
    for (fc_int i = 0; i < n; i += 2 * FC_NR) {
        const fc_int left = n - i;
        const int nlo = (int)FC_MIN(FC_NR, left), nhi = (int)FC_MIN(FC_NR, FC_MAX(0, left - FC_NR));
        const FC_WZ lo = FC_WLOAD((FC_WMASK)((1u << nlo) - 1u), src + i);
        const FC_WZ hi = FC_WLOAD((FC_WMASK)((1u << nhi) - 1u), src + i + FC_NR);
        const int ne = (nlo + nhi + 1) / 2, no = (nlo + nhi) / 2;
        FC_WSTORE(ev + i / 2, (FC_WMASK)((1u << ne) - 1u), FC_WPERM(lo, ie, hi));
        FC_WSTORE(od + i / 2, (FC_WMASK)((1u << no) - 1u), FC_WPERM(lo, io, hi));
    }
#undef FC_WPERM
}


/* The input transform on the AVX-512 path, the tiles of tile row r0 in the
 * vector lanes. Its plane is built phase-split -- row v's column u at
 * v*wr + (u % 2)*half + u/2, half = tw + 1 -- so that columns 2tj .. 2tj + 3
 * of up to NR consecutive tiles are four contiguous vectors per plane row
 * (even[tj], odd[tj], even[tj + 1], odd[tj + 1]); tiles are NR-contiguous in
 * the packed panels, so each of the 16 results is one masked store. The same
 * additions in the same order as fc_wino_tile_in: the same bits. (A transform
 * per tile took 11% of a tfcnn training step.) */
static inline __attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) void
FC_SFX(fc_wino_row_in_avx512)(const FC_T *r0, fc_int wr, fc_int tw, fc_int taub, fc_int C,
                              FC_T *vc, fc_int vstride)
{
    const fc_int half = tw + 1;
    const FC_T *r1 = r0 + wr, *r2 = r1 + wr, *r3 = r2 + wr;
    for (fc_int tj = 0; tj < tw;) {
        const fc_int tau = taub + tj, lane = tau % FC_NR;
        const int L = (int)FC_MIN(FC_NR - lane, tw - tj);
        const FC_WMASK m = (FC_WMASK)((1u << L) - 1u);
        FC_T *d = vc + (tau / FC_NR) * C * FC_NR + lane;
        FC_WZ t[4][4]; /* B^T d, lane = tile */
        for (int b = 0; b < 4; ++b) {
            const fc_int at = (b & 1) * half + tj + (b >> 1);
            const FC_WZ e0 = FC_WLOAD(m, r0 + at), e1 = FC_WLOAD(m, r1 + at);
            const FC_WZ e2 = FC_WLOAD(m, r2 + at), e3 = FC_WLOAD(m, r3 + at);
            t[0][b] = FC_WSUB(e0, e2);
            t[1][b] = FC_WADD(e1, e2);
            t[2][b] = FC_WSUB(e2, e1);
            t[3][b] = FC_WSUB(e1, e3);
        }
        for (int a = 0; a < 4; ++a) {
            FC_WSTORE(d + (a * 4 + 0) * vstride, m, FC_WSUB(t[a][0], t[a][2]));
            FC_WSTORE(d + (a * 4 + 1) * vstride, m, FC_WADD(t[a][1], t[a][2]));
            FC_WSTORE(d + (a * 4 + 2) * vstride, m, FC_WSUB(t[a][2], t[a][1]));
            FC_WSTORE(d + (a * 4 + 3) * vstride, m, FC_WSUB(t[a][1], t[a][3]));
        }
        tj += L;
    }
}

#undef FC_YV
#undef FC_YLOAD
#undef FC_YSTORE
#undef FC_YADD
#undef FC_YSUB
#undef FC_YVL
#if FC_IS_F64
#define FC_YV __m256d
#define FC_YVL 4
#define FC_YLOAD _mm256_loadu_pd
#define FC_YSTORE _mm256_storeu_pd
#define FC_YADD _mm256_add_pd
#define FC_YSUB _mm256_sub_pd
#else
#define FC_YV __m256
#define FC_YVL 8
#define FC_YLOAD _mm256_loadu_ps
#define FC_YSTORE _mm256_storeu_ps
#define FC_YADD _mm256_add_ps
#define FC_YSUB _mm256_sub_ps
#endif

/* ev[t] = src[2t], od[t] = src[2t + 1] for the n elements of src (AVX2: two
 * vectors a step, evens and odds by shuffle + cross-lane permute; the scalar
 * loop it replaces, an index computed per element, cost more than the transform). */
static inline __attribute__((target("avx2,fma"))) void
FC_SFX(fc_wino_split_row_avx2)(const FC_T *restrict src, fc_int n, FC_T *restrict ev,
                               FC_T *restrict od)
{
    fc_int i = 0;
    for (; i + 2 * FC_YVL <= n; i += 2 * FC_YVL) {
        const FC_YV a = FC_YLOAD(src + i), b = FC_YLOAD(src + i + FC_YVL);
#if FC_IS_F64
        const __m256d e = _mm256_permute4x64_pd(_mm256_unpacklo_pd(a, b), _MM_SHUFFLE(3, 1, 2, 0));
        const __m256d o = _mm256_permute4x64_pd(_mm256_unpackhi_pd(a, b), _MM_SHUFFLE(3, 1, 2, 0));
#else
        const __m256 e = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
            _MM_SHUFFLE(3, 1, 2, 0)));
        const __m256 o = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))),
            _MM_SHUFFLE(3, 1, 2, 0)));
#endif
        FC_YSTORE(ev + i / 2, e);
        FC_YSTORE(od + i / 2, o);
    }
    for (; i + 1 < n; i += 2) {
        ev[i / 2] = src[i];
        od[i / 2] = src[i + 1];
    }
    if (i < n)
        ev[i / 2] = src[i];
}

/* The first L < FC_YVL lanes of v to d: halves, pairs, singles (a vector
 * spilled to the stack and read back lane by lane stalls store forwarding). */
static inline __attribute__((target("avx2,fma"))) void
FC_SFX(fc_wino_store_lanes)(FC_T *d, FC_YV v, fc_int L)
{
#if FC_IS_F64
    __m128d h = _mm256_castpd256_pd128(v);
    if (L >= 2) {
        _mm_storeu_pd(d, h);
        d += 2;
        L -= 2;
        h = _mm256_extractf128_pd(v, 1);
    }
    if (L >= 1)
        _mm_store_sd(d, h);
#else
    __m128 h = _mm256_castps256_ps128(v);
    if (L >= 4) {
        _mm_storeu_ps(d, h);
        d += 4;
        L -= 4;
        h = _mm256_extractf128_ps(v, 1);
    }
    if (L >= 2) {
        _mm_storel_pi((__m64 *)d, h);
        d += 2;
        L -= 2;
        h = _mm_movehl_ps(h, h);
    }
    if (L >= 1)
        _mm_store_ss(d, h);
#endif
}

/* The AVX2 input transform: AVX-512's scheme (the tiles of tile row r0 in the
 * lanes, from the phase-split plane) with 8 (4) lanes. A run of tiles that
 * fills a vector inside one NR panel (every run where the map is 16 or 32 wide)
 * is stored whole; shorter runs in halves, pairs and singles (AVX2's masked
 * stores are microcoded on AMD). Loads run up to a vector past a plane row: the row buffer
 * has that slack, zeroed. The same additions in the same order as
 * fc_wino_tile_in: the same bits. (Tile by tile, the transform took a third of
 * a 64-channel backward-data pass.) */
static inline __attribute__((target("avx2,fma"))) void
FC_SFX(fc_wino_row_in_avx2)(const FC_T *r0, fc_int wr, fc_int tw, fc_int taub, fc_int C,
                            FC_T *vc, fc_int vstride)
{
    const fc_int half = tw + 1;
    const FC_T *r1 = r0 + wr, *r2 = r1 + wr, *r3 = r2 + wr;
    for (fc_int tj = 0; tj < tw;) {
        const fc_int tau = taub + tj, lane = tau % FC_NR;
        const fc_int L = FC_MIN(FC_MIN((fc_int)FC_YVL, FC_NR - lane), tw - tj);
        FC_T *d = vc + (tau / FC_NR) * C * FC_NR + lane;
        FC_YV t[4][4]; /* B^T d, lane = tile */
        for (int b = 0; b < 4; ++b) {
            const fc_int at = (b & 1) * half + tj + (b >> 1);
            const FC_YV e0 = FC_YLOAD(r0 + at), e1 = FC_YLOAD(r1 + at);
            const FC_YV e2 = FC_YLOAD(r2 + at), e3 = FC_YLOAD(r3 + at);
            t[0][b] = FC_YSUB(e0, e2);
            t[1][b] = FC_YADD(e1, e2);
            t[2][b] = FC_YSUB(e2, e1);
            t[3][b] = FC_YSUB(e1, e3);
        }
        for (int a = 0; a < 4; ++a) {
            const FC_YV v[4] = {FC_YSUB(t[a][0], t[a][2]), FC_YADD(t[a][1], t[a][2]),
                                FC_YSUB(t[a][2], t[a][1]), FC_YSUB(t[a][1], t[a][3])};
            for (int q = 0; q < 4; ++q) {
                FC_T *dq = d + (a * 4 + q) * vstride;
                if (L == FC_YVL)
                    FC_YSTORE(dq, v[q]);
                else
                    FC_SFX(fc_wino_store_lanes)(dq, v[q], L);
            }
        }
        tj += L;
    }
}
#endif

/* Input transform of the tile rows [gr0, gr0 + nrows) of the run (global
 * tile row gr = image * th + ti) into the packed B panels vb: V[xi](c, tau)
 * at vb + xi*pl->wino_vs + (tau / NR)*C*NR + c*NR + tau % NR, tau = local
 * tile. Tile by tile from each (image, channel) plane in rowbuf (row-wise AVX2
 * variants vectorised along tiles lost to this on every layer of the benchmark
 * set: their loops are a few tiles long), or, with split (AVX-512: masks make the
 * short runs cheap), a tile row at a time from a phase-split plane. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_input_body)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                           FC_T *vb, FC_T *rowbuf, const int split)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int C = g->C, H = g->H, W = g->W, th = pl->wino_th, tw = pl->wino_tw;
    const fc_int vstride = pl->wino_vs, wr = 2 * tw + 2, hr = 2 * th + 2;
    const fc_int pt = g->pad_top, pleft = g->pad_left;
    FC_T *plane = rowbuf;
    /* Rows / columns of the plane that hold input pixels. */
    const fc_int v0 = FC_MAX(0, pt), v1 = FC_MIN(hr, pt + H);
    const fc_int u0 = FC_MAX(0, pleft), u1 = FC_MIN(wr, pleft + W);
    for (fc_int i = 0; i < hr * wr + FC_WINO_PLANE_SLACK; ++i)
        plane[i] = 0; /* the border stays zero: only the interior is rewritten */
    fc_int lr = 0;
    while (lr < nrows) {
        const fc_int gr = gr0 + lr, img = gr / th, ti0 = gr - img * th;
        const fc_int nr = FC_MIN(nrows - lr, th - ti0); /* tile rows of this image */
        /* plane rows the block's tile rows read */
        const fc_int va = FC_MAX(v0, 2 * ti0), vz = FC_MIN(v1, 2 * (ti0 + nr) + 2);
        for (fc_int c = 0; c < C; ++c) {
            const FC_T *xc = x + (img * C + c) * H * W;
            FC_T *vc = vb + c * FC_NR;
#ifdef FC_HAVE_X86_AVX2_KERNELS
            if (split) { /* 1: AVX-512, 2: AVX2 */
                const fc_int half = tw + 1;
                for (fc_int v = va; u1 > u0 && v < vz; ++v) {
                    const FC_T *src = xc + (v - pt) * W + (u0 - pleft);
                    FC_T *ev = plane + v * wr + (u0 % 2) * half + u0 / 2;
                    FC_T *od = plane + v * wr + ((u0 + 1) % 2) * half + (u0 + 1) / 2;
                    if (split == 1)
                        FC_SFX(fc_wino_split_row)(src, u1 - u0, ev, od);
                    else
                        FC_SFX(fc_wino_split_row_avx2)(src, u1 - u0, ev, od);
                }
                for (fc_int ti = ti0; ti < ti0 + nr; ++ti) {
                    const FC_T *r0 = plane + 2 * ti * wr;
                    const fc_int taub = (lr + ti - ti0) * tw;
                    if (split == 1)
                        FC_SFX(fc_wino_row_in_avx512)(r0, wr, tw, taub, C, vc, vstride);
                    else
                        FC_SFX(fc_wino_row_in_avx2)(r0, wr, tw, taub, C, vc, vstride);
                }
                continue;
            }
#endif
            FC_SFX(fc_wino_plane_rows)(xc, W, pt, pleft, va, vz, u0, u1, wr, 1, plane);
            for (fc_int ti = ti0; ti < ti0 + nr; ++ti) {
                const fc_int taub = (lr + ti - ti0) * tw;
                for (fc_int tj = 0; tj < tw; ++tj) {
                    const fc_int tau = taub + tj;
                    FC_SFX(fc_wino_tile_in)(plane + 2 * ti * wr + 2 * tj, wr, 1,
                                            vc + (tau / FC_NR) * C * FC_NR + tau % FC_NR,
                                            vstride);
                }
            }
        }
        lr += nr;
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_input_avx2)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                           FC_T *vb, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_body)(pl, x, gr0, nrows, vb, rowbuf, 2);
}

__attribute__((target("avx512f,avx512vl,avx512dq,avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_input_avx512)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0, fc_int nrows,
                             FC_T *vb, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_body)(pl, x, gr0, nrows, vb, rowbuf, 1);
}

__attribute__((target("avx2,fma"))) FC_WINO_NOLIB static void
FC_SFX(fc_wino_output_avx2)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0, fc_int nrows,
                            fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                            FC_T *y, FC_T *rowbuf)
{
    FC_SFX(fc_wino_output_body)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y, rowbuf);
}
#endif

FC_WINO_NOLIB static void FC_SFX(fc_wino_input_ref)(const fc_conv_plan *pl, const FC_T *x, fc_int gr0,
                                      fc_int nrows, FC_T *vb, FC_T *rowbuf)
{
    FC_SFX(fc_wino_input_body)(pl, x, gr0, nrows, vb, rowbuf, 0);
}

FC_WINO_NOLIB static void FC_SFX(fc_wino_output_ref)(const fc_conv_plan *pl, const FC_T *mb, fc_int gr0,
                                       fc_int nrows, fc_int k0, fc_int k1, const FC_T *bias, const FC_T *res,
                                       int act, FC_T act_param, FC_T *y, FC_T *rowbuf)
{
    FC_SFX(fc_wino_output_body)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y, rowbuf);
}

/* Forward conv of geometry pl->dg over nimg images (x: nimg x C x H x W,
 * y: nimg x K x Ho x Wo) with the transformed weights ap
 * (fc_wino_pack_weights). Workspace: V and M blocks, row buffers. */
void FC_SFX(fc_conv_wino_run)(const fc_conv_plan *pl, fc_int nimg, const FC_T *x,
                              const FC_T *ap, const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                              FC_T *y, void *work, fc_int row0, fc_int row1, fc_int k0,
                              fc_int k1)
{
    const fc_conv_geom *g = &pl->dg;
    const fc_int K = g->K, C = g->C, tw = pl->wino_tw, tbp = pl->wino_tbp;
    const int s2 = pl->wino_s2, f4 = pl->wino_m == 4, nx = s2 == 2 ? 100 : s2 ? 25 : f4 ? 36 : 16;
    /* the products' reduction: the channels, or (stride-2 forward) their four phases each */
    const fc_int Cg = s2 == 1 ? 4 * C : C, mpad = fc_roundup(K, FC_MR);
    /* The workspace starts with room for packed weights (see fc_conv_plan). */
    char *wk = (char *)fc_align_ptr(work) + pl->ap_bytes;
    FC_T *vb = (FC_T *)wk;
    FC_T *mb = (FC_T *)(wk + pl->wino_v_bytes);
    FC_T *rowbuf = (FC_T *)(wk + pl->wino_v_bytes + pl->wino_m_bytes);
    FC_SFX(fc_ukb_fn) ukb = FC_SFX(fc_ukb_select)();
    const int avx2 = fc_wino_avx2(), avx512 = fc_simd_path() == FC_SIMD_AVX512;
    const fc_int total_rows = FC_MIN(row1, nimg * pl->wino_th);
    for (fc_int gr0 = row0; gr0 < total_rows; gr0 += pl->wino_rows) {
        const fc_int nrows = FC_MIN(pl->wino_rows, total_rows - gr0);
        const fc_int ntile = nrows * tw;
        /* Lanes past the last tile of a short block: zero, never garbage (F(4x4)'s
         * input transform writes whole panels; the stride-2 ones only on AVX-512). */
        if ((s2 || !f4) && ntile < tbp)
            for (int xi = 0; xi < nx; ++xi)
                for (fc_int tau = ntile; tau < fc_roundup(ntile, FC_NR); ++tau)
                    for (fc_int c = 0; c < Cg; ++c)
                        vb[xi * pl->wino_vs + (tau / FC_NR) * Cg * FC_NR + c * FC_NR + tau % FC_NR] = 0;
        if (s2)
            FC_SFX(fc_wino_s2_input)(pl, x, gr0, nrows, vb);
        else if (f4)
            FC_SFX(fc_wino4_input)(pl, x, gr0, nrows, vb, rowbuf);
        else
#ifdef FC_HAVE_X86_AVX2_KERNELS
        if (avx512)
            FC_SFX(fc_wino_input_avx512)(pl, x, gr0, nrows, vb, rowbuf);
        else if (avx2)
            FC_SFX(fc_wino_input_avx2)(pl, x, gr0, nrows, vb, rowbuf);
        else
#endif
            FC_SFX(fc_wino_input_ref)(pl, x, gr0, nrows, vb, rowbuf);
        const fc_int npan = (ntile + FC_NR - 1) / FC_NR;
        for (int xi = 0; xi < nx; ++xi) {
            const FC_T *ax = ap + (size_t)xi * (size_t)pl->wino_a;
            const FC_T *vx = vb + xi * pl->wino_vs;
            FC_T *mx = mb + xi * pl->wino_ms;
            if (s2 == 2 && fc_wino_s2t_zero_plane(&pl->dg, xi)) {
                for (fc_int k = k0; k < k1; ++k)   /* U[xi] = 0: what the GEMM would store */
                    memset(mx + k * tbp, 0, (size_t)(npan * FC_NR) * sizeof(FC_T));
                continue;
            }
            for (fc_int blk = 0, first = 1, pc, kc; blk < fc_wino_nblocks(pl); ++blk) {
                fc_wino_block(pl, blk, &pc, &kc);
                if (s2 == 1 && fc_wino_s2_zero_phase(&pl->dg, xi, (int)(pc / C)))
                    continue;   /* a phase's zero weights: products it need not sum */
                const FC_T beta = first ? (FC_T)0 : (FC_T)1;
                first = 0;
                const FC_T *apc = ax + pc * mpad;
                fc_int k = k0;
                if (k0 % FC_MR) {
                    /* a part starting inside an MR panel (even k0, AVX-512 kernels only:
                     * they read no row of a panel past those they compute) */
                    const fc_int r0 = k0 % FC_MR, head = FC_MIN(FC_MR - r0, k1 - k0);
                    ukb(kc, apc + (k0 - r0) * kc + r0, FC_MR * kc, vx + pc * FC_NR, Cg * FC_NR,
                        mx + k0 * tbp, tbp, beta, (int)head, (int)(npan * FC_NR));
                    k += head;
                }
                if (k < k1)
                    ukb(kc, apc + k * kc, FC_MR * kc, vx + pc * FC_NR, Cg * FC_NR, mx + k * tbp,
                        tbp, beta, (int)(k1 - k), (int)(npan * FC_NR));
            }
        }
        if (s2)
            FC_SFX(fc_wino_s2_output)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y);
        else if (f4)
            FC_SFX(fc_wino4_output)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y,
                                    rowbuf);
        else
#ifdef FC_HAVE_X86_AVX2_KERNELS
#if !FC_IS_F64
        if (avx512 && fc_wino_output_avx512_f32(pl, mb, gr0, nrows, k0, k1, bias, res, act, y)) {
            /* done: tile rows of whole panels */
        } else
#endif
        if (avx2)
            FC_SFX(fc_wino_output_avx2)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y,
                                        rowbuf);
        else
#endif
            FC_SFX(fc_wino_output_ref)(pl, mb, gr0, nrows, k0, k1, bias, res, act, act_param, y,
                                       rowbuf);
    }
}


#endif
