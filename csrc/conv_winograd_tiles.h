/*
 * conv_winograd_tiles.h -- what the forward (conv_winograd.c) and the
 * backward-weight (conv_winograd_bw.c) Winograd transforms share: the SIMD
 * path switch, the input planes, the per-tile input transform V = B^T d B,
 * F(4x4)'s G and 1-D transforms, and the output rows' residual and activation.
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
/* F(4x4, 3x3)'s G (6 x 3), in double: its sixths and 24ths would round. */
static const double fc_wino4_G[6][3] = {{0.25, 0, 0},
                                        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                        {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                        {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                        {0, 0, 1}};
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

/* F(4x4, 3x3)'s 1-D transforms (conv_winograd4.c, conv_winograd_bw.c). */
/* o[0..5][j] = (B^T i)[.][j] for n columns, i[a] = in + a*is, o[q] = out + q*os.
 * The six outputs as sums of differences that keep the constants exact:
 *   o0 = 4 i0 - 5 i2 + i4          o3 = (i4 - i2) - 2 (i1 - i3)
 *   o1 = (i4 - 4 i2) - (4 i1 - i3)  o4 = (i4 - i2) + 2 (i1 - i3)
 *   o2 = (i4 - 4 i2) + (4 i1 - i3)  o5 = 4 i1 - 5 i3 + i5            */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_bt)(const FC_T *restrict in, fc_int is, FC_T *restrict out, fc_int os, fc_int n)
{
    const FC_T *restrict i0 = in, *restrict i1 = in + is, *restrict i2 = in + 2 * is;
    const FC_T *restrict i3 = in + 3 * is, *restrict i4 = in + 4 * is, *restrict i5 = in + 5 * is;
    FC_T *restrict o0 = out, *restrict o1 = out + os, *restrict o2 = out + 2 * os;
    FC_T *restrict o3 = out + 3 * os, *restrict o4 = out + 4 * os, *restrict o5 = out + 5 * os;
    for (fc_int j = 0; j < n; ++j) {
        const FC_T a = i4[j] - (FC_T)4 * i2[j], b = (FC_T)4 * i1[j] - i3[j];
        const FC_T c = i4[j] - i2[j], d = (FC_T)2 * (i1[j] - i3[j]);
        o0[j] = ((FC_T)4 * i0[j] - (FC_T)5 * i2[j]) + i4[j];
        o1[j] = a - b;
        o2[j] = a + b;
        o3[j] = c - d;
        o4[j] = c + d;
        o5[j] = ((FC_T)4 * i1[j] - (FC_T)5 * i3[j]) + i5[j];
    }
}

/* o[0..3][j] = (A^T i)[.][j]: o0 = (i1 + i2) + (i3 + i4) + i0, o1 = (i1 - i2) + 2 (i3 - i4),
 * o2 = (i1 + i2) + 4 (i3 + i4), o3 = (i1 - i2) + 8 (i3 - i4) + i5. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino4_at)(const FC_T *restrict in, fc_int is, FC_T *restrict out, fc_int os, fc_int n)
{
    const FC_T *restrict i0 = in, *restrict i1 = in + is, *restrict i2 = in + 2 * is;
    const FC_T *restrict i3 = in + 3 * is, *restrict i4 = in + 4 * is, *restrict i5 = in + 5 * is;
    FC_T *restrict o0 = out, *restrict o1 = out + os, *restrict o2 = out + 2 * os;
    FC_T *restrict o3 = out + 3 * os;
    for (fc_int j = 0; j < n; ++j) {
        const FC_T sp = i1[j] + i2[j], sm = i1[j] - i2[j];
        const FC_T tp = i3[j] + i4[j], tm = i3[j] - i4[j];
        o0[j] = (sp + tp) + i0[j];
        o1[j] = sm + (FC_T)2 * tm;
        o2[j] = sp + (FC_T)4 * tp;
        o3[j] = (sm + (FC_T)8 * tm) + i5[j];
    }
}

#ifdef FC_HAVE_X86_AVX2_KERNELS
#undef FC_V4
#undef FC_V4L
#undef FC_V4LD
#undef FC_V4ST
#undef FC_V4ADD
#undef FC_V4SUB
#undef FC_V4MUL
#undef FC_V4SET
#if FC_IS_F64
#define FC_V4 __m256d
#define FC_V4L 4
#define FC_V4LD _mm256_loadu_pd
#define FC_V4ST _mm256_storeu_pd
#define FC_V4ADD _mm256_add_pd
#define FC_V4SUB _mm256_sub_pd
#define FC_V4MUL _mm256_mul_pd
#define FC_V4SET _mm256_set1_pd
#else
#define FC_V4 __m256
#define FC_V4L 8
#define FC_V4LD _mm256_loadu_ps
#define FC_V4ST _mm256_storeu_ps
#define FC_V4ADD _mm256_add_ps
#define FC_V4SUB _mm256_sub_ps
#define FC_V4MUL _mm256_mul_ps
#define FC_V4SET _mm256_set1_ps
#endif

/* fc_wino4_bt and fc_wino4_at on AVX2 vectors: the same operations in the same
 * order (multiplies and adds kept apart: no fused multiply-add), the same bits;
 * the tail through the portable loop. (GCC left the portable loops scalar.) */
static inline __attribute__((target("avx2"))) void
FC_SFX(fc_wino4_bt_avx2)(const FC_T *in, fc_int is, FC_T *out, fc_int os, fc_int n)
{
    const FC_V4 c2 = FC_V4SET((FC_T)2), c4 = FC_V4SET((FC_T)4), c5 = FC_V4SET((FC_T)5);
    fc_int j = 0;
    for (; j + FC_V4L <= n; j += FC_V4L) {
        const FC_V4 i0 = FC_V4LD(in + j), i1 = FC_V4LD(in + is + j), i2 = FC_V4LD(in + 2 * is + j);
        const FC_V4 i3 = FC_V4LD(in + 3 * is + j), i4 = FC_V4LD(in + 4 * is + j);
        const FC_V4 i5 = FC_V4LD(in + 5 * is + j);
        const FC_V4 a = FC_V4SUB(i4, FC_V4MUL(c4, i2)), b = FC_V4SUB(FC_V4MUL(c4, i1), i3);
        const FC_V4 c = FC_V4SUB(i4, i2), d = FC_V4MUL(c2, FC_V4SUB(i1, i3));
        FC_V4ST(out + j, FC_V4ADD(FC_V4SUB(FC_V4MUL(c4, i0), FC_V4MUL(c5, i2)), i4));
        FC_V4ST(out + os + j, FC_V4SUB(a, b));
        FC_V4ST(out + 2 * os + j, FC_V4ADD(a, b));
        FC_V4ST(out + 3 * os + j, FC_V4SUB(c, d));
        FC_V4ST(out + 4 * os + j, FC_V4ADD(c, d));
        FC_V4ST(out + 5 * os + j, FC_V4ADD(FC_V4SUB(FC_V4MUL(c4, i1), FC_V4MUL(c5, i3)), i5));
    }
    if (j < n)
        FC_SFX(fc_wino4_bt)(in + j, is, out + j, os, n - j);
}

static inline __attribute__((target("avx2"))) void
FC_SFX(fc_wino4_at_avx2)(const FC_T *in, fc_int is, FC_T *out, fc_int os, fc_int n)
{
    const FC_V4 c2 = FC_V4SET((FC_T)2), c4 = FC_V4SET((FC_T)4), c8 = FC_V4SET((FC_T)8);
    fc_int j = 0;
    for (; j + FC_V4L <= n; j += FC_V4L) {
        const FC_V4 i1 = FC_V4LD(in + is + j), i2 = FC_V4LD(in + 2 * is + j);
        const FC_V4 i3 = FC_V4LD(in + 3 * is + j), i4 = FC_V4LD(in + 4 * is + j);
        const FC_V4 sp = FC_V4ADD(i1, i2), sm = FC_V4SUB(i1, i2);
        const FC_V4 tp = FC_V4ADD(i3, i4), tm = FC_V4SUB(i3, i4);
        FC_V4ST(out + j, FC_V4ADD(FC_V4ADD(sp, tp), FC_V4LD(in + j)));
        FC_V4ST(out + os + j, FC_V4ADD(sm, FC_V4MUL(c2, tm)));
        FC_V4ST(out + 2 * os + j, FC_V4ADD(sp, FC_V4MUL(c4, tp)));
        FC_V4ST(out + 3 * os + j,
                FC_V4ADD(FC_V4ADD(sm, FC_V4MUL(c8, tm)), FC_V4LD(in + 5 * is + j)));
    }
    if (j < n)
        FC_SFX(fc_wino4_at)(in + j, is, out + j, os, n - j);
}
#define FC_W4BT(v, ...) ((v) ? FC_SFX(fc_wino4_bt_avx2)(__VA_ARGS__) : FC_SFX(fc_wino4_bt)(__VA_ARGS__))
#define FC_W4AT(v, ...) ((v) ? FC_SFX(fc_wino4_at_avx2)(__VA_ARGS__) : FC_SFX(fc_wino4_at)(__VA_ARGS__))
#else
#define FC_W4BT(v, ...) FC_SFX(fc_wino4_bt)(__VA_ARGS__)
#define FC_W4AT(v, ...) FC_SFX(fc_wino4_at)(__VA_ARGS__)
#endif

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
