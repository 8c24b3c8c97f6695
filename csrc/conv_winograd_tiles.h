/*
 * conv_winograd_tiles.h -- what the forward (conv_winograd.c) and the
 * backward-weight (conv_winograd_bw.c) Winograd transforms share: the SIMD
 * path switch, the input planes, the per-tile input transform V = B^T d B and
 * the output rows' residual and activation.
 * Included once per element type inside each file's template body (the
 * template helpers are instantiated per FC_T); the rest only once.
 */
#ifndef FC_CONV_WINOGRAD_TILES_ONCE
#define FC_CONV_WINOGRAD_TILES_ONCE
/* 1 when the transforms' AVX2 builds are to run (the path in force). */
static int fc_wino_avx2(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    return fc_simd_path() >= FC_SIMD_AVX2;
#else
    return 0;
#endif
}

/* The transforms copy many short runs (a row of a small image, a run of
 * tiles inside a panel); GCC would turn those loops into memcpy / memmove
 * calls that cost more than the copies. */
#if defined(__GNUC__) && !defined(__clang__)
#define FC_WINO_NOLIB __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define FC_WINO_NOLIB
#endif
#endif /* FC_CONV_WINOGRAD_TILES_ONCE */

/* Per element type (included again for each FC_T): the input side shared by the forward and the backward-weight transforms:
 * zero-bordered (image, channel) planes of (2*th + 2) x (2*tw + 2) pixels,
 * `lanes` channels interleaved channel-last (pixel (v, u) of lane cc at
 * plane[(v*wr + u)*lanes + cc]; lanes = 1 for one channel). */

/* Rows [va, vz) of channel xc's plane, columns [u0, u1) (the rest of the
 * plane is border, zero). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_plane_rows)(const FC_T *xc, fc_int W, fc_int pt, fc_int pleft, fc_int va,
                           fc_int vz, fc_int u0, fc_int u1, fc_int wr, const int lanes,
                           FC_T *plane)
{
    for (fc_int v = va; v < vz; ++v) {
        const FC_T *restrict src = xc + (v - pt) * W - pleft;
        FC_T *restrict dst = plane + v * wr * lanes;
        for (fc_int u = u0; u < u1; ++u)
            dst[u * lanes] = src[u];
    }
}

/* V = B^T d B of one tile for `lanes` channels: p points at the patch's
 * top-left pixel in the plane (rows wr*lanes apart); V[xi] of lane cc goes
 * to d[xi*vstride + cc]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_tile_in)(const FC_T *restrict p, fc_int wr, const int lanes, FC_T *restrict d,
                        fc_int vstride)
{
    const FC_T *restrict p1 = p + wr * lanes, *restrict p2 = p1 + wr * lanes;
    const FC_T *restrict p3 = p2 + wr * lanes;
    FC_T t[4][4][FC_NR]; /* B^T d, one lanes-wide vector per entry */
    for (int b = 0; b < 4; ++b)
        for (int cc = 0; cc < lanes; ++cc) {
            const FC_T e0 = p[b * lanes + cc], e1 = p1[b * lanes + cc];
            const FC_T e2 = p2[b * lanes + cc], e3 = p3[b * lanes + cc];
            t[0][b][cc] = e0 - e2;
            t[1][b][cc] = e1 + e2;
            t[2][b][cc] = e2 - e1;
            t[3][b][cc] = e1 - e3;
        }
    for (int a = 0; a < 4; ++a)
        for (int cc = 0; cc < lanes; ++cc) {
            d[(a * 4 + 0) * vstride + cc] = t[a][0][cc] - t[a][2][cc];
            d[(a * 4 + 1) * vstride + cc] = t[a][1][cc] + t[a][2][cc];
            d[(a * 4 + 2) * vstride + cc] = t[a][2][cc] - t[a][1][cc];
            d[(a * 4 + 3) * vstride + cc] = t[a][1][cc] - t[a][3][cc];
        }
}

/* The output side both share: one finished output row yr (Wo pixels, bias
 * added) + the residual row rr (may be NULL), then the activation. ReLU inline
 * with the residual (a call per output row cost a tenth of an 8x8 map's conv;
 * fc_activation_forward's "v > 0 ? v : 0"). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_row_epilogue)(FC_T *restrict yr, const FC_T *restrict rr, fc_int Wo, int act,
                             FC_T act_param)
{
    if (act == FC_ACT_RELU) {
        for (fc_int ow = 0; ow < Wo; ++ow) {
            const FC_T v = rr ? yr[ow] + rr[ow] : yr[ow];
            yr[ow] = v > (FC_T)0 ? v : (FC_T)0;
        }
        return;
    }
    if (rr)
        for (fc_int ow = 0; ow < Wo; ++ow)
            yr[ow] += rr[ow];
    if (act != FC_ACT_NONE)
        FC_SFX(fc_activation_forward)(act, act_param, yr, yr, Wo);
}
