/*
 * conv_depthwise_flat_impl.h -- body of conv_depthwise_flat.c for one element
 * type (DWF_T float or double), AVX-512: a vector is 16 floats / 8 doubles.
 */
#undef V
#undef MASKT
#undef VL
#undef FULL
#undef ZERO
#undef SET1
#undef LDZ
#undef FMA
#undef MAX
#undef ST
#undef MST
#undef SFX
#undef DWF_NAME
#undef DWF_CAT
#undef DWF_CAT2
#undef DWF_ACT
#undef LD
#undef ALIGNR
#undef ADDV
#undef DWF_REDUCE
#undef DWF_ITYPE
#undef DWF_IVEC
#undef DWF_ILOAD
#undef DWF_PERMUTE2
#undef DWF_BLEND

#define DWF_CAT2(a, b) a##_##b
#define DWF_CAT(a, b) DWF_CAT2(a, b)

#if defined(DWF_DOUBLE)
#define SFX f64
#define V __m512d
#define MASKT __mmask8
#define VL 8
#define FULL 0xFF
#define ZERO _mm512_setzero_pd()
#define SET1 _mm512_set1_pd
#define LDZ(m, p) _mm512_maskz_loadu_pd((MASKT)(m), (p))
#define FMA _mm512_fmadd_pd
#define ADDV _mm512_add_pd
#define DWF_REDUCE _mm512_reduce_add_pd
#define MAX _mm512_max_pd
#define ST _mm512_storeu_pd
#define MST(p, m, a) _mm512_mask_storeu_pd((p), (MASKT)(m), (a))
#define DWF_ACT fc_activation_forward_f64
#define LD _mm512_loadu_pd
#define DWF_ITYPE int64_t
#define DWF_IVEC __m512i
#define DWF_ILOAD(p) _mm512_loadu_si512(p)
#define DWF_PERMUTE2(m, lo, iv, hi) _mm512_maskz_permutex2var_pd((MASKT)(m), (lo), (iv), (hi))
#define DWF_BLEND(m, a, b) _mm512_mask_blend_pd((MASKT)(m), (a), (b))
#define ALIGNR(m, hi, lo, n) _mm512_castsi512_pd(_mm512_maskz_alignr_epi64( \
    (MASKT)(m), _mm512_castpd_si512(hi), _mm512_castpd_si512(lo), (n)))
#else
#define SFX f32
#define V __m512
#define MASKT __mmask16
#define VL 16
#define FULL 0xFFFF
#define ZERO _mm512_setzero_ps()
#define SET1 _mm512_set1_ps
#define LDZ(m, p) _mm512_maskz_loadu_ps((MASKT)(m), (p))
#define FMA _mm512_fmadd_ps
#define ADDV _mm512_add_ps
#define DWF_REDUCE _mm512_reduce_add_ps
#define MAX _mm512_max_ps
#define ST _mm512_storeu_ps
#define MST(p, m, a) _mm512_mask_storeu_ps((p), (MASKT)(m), (a))
#define DWF_ACT fc_activation_forward_f32
#define LD _mm512_loadu_ps
#define DWF_ITYPE int32_t
#define DWF_IVEC __m512i
#define DWF_ILOAD(p) _mm512_loadu_si512(p)
#define DWF_PERMUTE2(m, lo, iv, hi) _mm512_maskz_permutex2var_ps((MASKT)(m), (lo), (iv), (hi))
#define DWF_BLEND(m, a, b) _mm512_mask_blend_ps((MASKT)(m), (a), (b))
#define ALIGNR(m, hi, lo, n) _mm512_castsi512_ps(_mm512_maskz_alignr_epi32( \
    (MASKT)(m), _mm512_castps_si512(hi), _mm512_castps_si512(lo), (n)))
#endif
#define DWF_NAME(base) DWF_CAT(base, SFX)
/* A mask straight from the table into a mask register (kmov from memory: a
 * load, not a general-register move on the port the multiply-adds use). */
#undef DWF_KLOAD
#define DWF_KLOAD(p) _load_mask16((__mmask16 *)(p))

/* The lane indices of packed vectors (lane l: channel l / HW of the vector's first):
 * idx[l] = that channel's first weight, ch[l] = the channel. The same for every vector
 * position: made once per call. */
DWF_INLINE void DWF_NAME(dwf_lane_index)(const dwf_plan *P, const int ntap, DWF_ITYPE *idx,
                                         DWF_ITYPE *ch)
{
    for (fc_int l = 0; l < VL; l++)
        ch[l] = (DWF_ITYPE)(l / P->HW), idx[l] = (DWF_ITYPE)(l / P->HW * ntap);
}

/* The per-lane weights of a packed vector whose lanes hold channels c0 ..
 * (lane l: channel c0 + ch[l]; only the lanes in lm): wv[k] = w[c * ntap +
 * widx[k]], *bv = bias[c] (0 without bias). Each is one lane permute of the
 * weights as they lie (no gathers: those are microcoded and slow on CPUs with
 * the gather-data-sampling fix), or, when a vector's channels span more than
 * two vectors of weights, built lane by lane. */
DWF_INLINE void DWF_NAME(dwf_lane_weights)(const dwf_plan *P, const int ntap, const DWF_ITYPE *idx,
                                           const DWF_ITYPE *ch, fc_int c0, unsigned lm,
                                           const DWF_T *w, const DWF_T *bias, V *wv, V *bv)
{
    const fc_int cg = VL / P->HW, total = P->C * ntap, nb = P->C - c0;
    if ((cg - 1) * ntap < 2 * VL) {
        const DWF_IVEC iv = DWF_ILOAD(idx);
        for (int k = 0; k < ntap; k++) {
            const fc_int at = c0 * ntap + P->widx[k], avail = total - at;
            const unsigned m0 = avail >= VL ? FULL : (1u << avail) - 1u;
            const unsigned m1 = avail >= 2 * VL ? FULL : avail > VL ? (1u << (avail - VL)) - 1u : 0u;
            wv[k] = DWF_PERMUTE2(lm, LDZ(m0, w + at), iv, LDZ(m1, w + at + VL));
        }
    } else {
        DWF_T lane[VL] __attribute__((aligned(64)));
        for (int k = 0; k < ntap; k++) {
            for (int l = 0; l < VL; l++)
                lane[l] = lm >> l & 1u ? w[(c0 + ch[l]) * ntap + P->widx[k]] : (DWF_T)0;
            wv[k] = LD(lane);
        }
    }
    *bv = ZERO;
    if (bias)   /* cg <= VL channels from c0: one permute of the bias as it lies */
        *bv = DWF_PERMUTE2(lm, LDZ(nb >= VL ? FULL : (1u << nb) - 1u, bias + c0), DWF_ILOAD(ch), ZERO);
}

DWF_INLINE void DWF_NAME(dwf_put)(int relu, unsigned sm,
                                  DWF_T *d, V a)
{
    if (relu)
        a = MAX(a, ZERO);
    if (sm == FULL)
        ST(d, a);
    else
        MST(d, sm, a);
}

/* Vectors v0 .. v0 + G - 1 of one plane (s, d its input and output), the
 * plane's weights in registers. */
DWF_INLINE void DWF_NAME(dwf_plane_vecs)(const int G, const int ntap, const fc_int *off,
                                         const uint16_t *mask, const uint16_t *smask,
                                         const DWF_T *s, DWF_T *d, fc_int v0, const V *wv, V bv,
                                         int relu)
{
    V a[4];
    const uint16_t *m = mask + v0 * ntap;
    const DWF_T *x = s + v0 * VL;
    for (int i = 0; i < G; i++) a[i] = bv;
#pragma GCC unroll 25
    for (int k = 0; k < ntap; k++)
#pragma GCC unroll 4
        for (int i = 0; i < G; i++)
            a[i] = FMA(LDZ(DWF_KLOAD(m + i * ntap + k), x + i * VL + off[k]), wv[k], a[i]);
    for (int i = 0; i < G; i++)
        DWF_NAME(dwf_put)(relu, smask[v0 + i], d + (v0 + i) * VL, a[i]);
}

/* Planes of 4+ vectors: q = n * C + c in [q0, q1), four vectors at a time. */
DWF_INLINE void DWF_NAME(dwf_planes)(const int ntap, const dwf_plan *P, const uint16_t *mask,
                                     const uint16_t *smask, fc_int q0, fc_int q1,
                                     const DWF_T *src, const DWF_T *w, const DWF_T *bias,
                                     int relu, DWF_T *dst)
{
    const fc_int HW = P->HW, nv = P->nv, C = P->C;
    V wv[FC_DWF_MAXTAP];
    for (fc_int q = q0; q < q1; q++) {
        const fc_int c = q % C;
        for (int k = 0; k < ntap; k++) wv[k] = SET1(w[c * ntap + P->widx[k]]);
        const V bv = bias ? SET1(bias[c]) : ZERO;
        const DWF_T *s = src + q * HW;
        DWF_T *d = dst + q * HW;
        fc_int v = 0;
        for (; v + 4 <= nv; v += 4)
            DWF_NAME(dwf_plane_vecs)(4, ntap, P->off, mask, smask, s, d, v, wv, bv, relu);
        for (; v < nv; v++)
            DWF_NAME(dwf_plane_vecs)(1, ntap, P->off, mask, smask, s, d, v, wv, bv, relu);
    }
}

/* Planes of 1-3 vectors: the run of vectors j = q * nv + v over planes
 * [q0, q1), G at a time, each with its own plane's weights (broadcast from
 * memory by the multiply-add). */
DWF_INLINE void DWF_NAME(dwf_stream_vecs)(const int G, const int ntap, const dwf_plan *P,
                                          const uint16_t *mask, const uint16_t *smask, fc_int j,
                                          const DWF_T *src, const DWF_T *w, const DWF_T *bias,
                                          int relu, DWF_T *dst)
{
    const DWF_T *s[4], *wp[4];
    fc_int v[4];
    V a[4];
    for (int i = 0; i < G; i++) {
        const fc_int q = (j + i) / P->nv, c = q % P->C;
        v[i] = (j + i) % P->nv;
        s[i] = src + q * P->HW + v[i] * VL;
        wp[i] = w + c * ntap;
        a[i] = bias ? SET1(bias[c]) : ZERO;
    }
    for (int k = 0; k < ntap; k++)
        for (int i = 0; i < G; i++)
            a[i] = FMA(LDZ(mask[v[i] * ntap + k], s[i] + P->off[k]), SET1(wp[i][P->widx[k]]), a[i]);
    for (int i = 0; i < G; i++)
        DWF_NAME(dwf_put)(relu, smask[v[i]], dst + (s[i] - src), a[i]);
}

DWF_INLINE void DWF_NAME(dwf_stream)(const int ntap, const dwf_plan *P, const uint16_t *mask,
                                     const uint16_t *smask, fc_int q0, fc_int q1,
                                     const DWF_T *src, const DWF_T *w, const DWF_T *bias,
                                     int relu, DWF_T *dst)
{
    const fc_int j1 = q1 * P->nv;
    fc_int j = q0 * P->nv;
    for (; j + 4 <= j1; j += 4)
        DWF_NAME(dwf_stream_vecs)(4, ntap, P, mask, smask, j, src, w, bias, relu, dst);
    for (; j < j1; j++)
        DWF_NAME(dwf_stream_vecs)(1, ntap, P, mask, smask, j, src, w, bias, relu, dst);
}

/* Vector e0 / VL of images n .. n + G - 1, packed planes. */
DWF_INLINE void DWF_NAME(dwf_packed_vecs)(const int G, const int ntap, const dwf_plan *P,
                                          const unsigned *m, unsigned lm, const V *wv, V bv,
                                          fc_int n, fc_int e0, const DWF_T *src, int relu,
                                          DWF_T *dst)
{
    const fc_int img = P->C * P->HW;
    const DWF_T *s = src + n * img + e0;
    V a[4];
    for (int g = 0; g < G; g++) a[g] = bv;
#pragma GCC unroll 25
    for (int k = 0; k < ntap; k++)
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
            a[g] = FMA(LDZ(m[k], s + g * img + P->off[k]), wv[k], a[g]);
    for (int g = 0; g < G; g++) DWF_NAME(dwf_put)(relu, lm, dst + (n + g) * img + e0, a[g]);
}

DWF_INLINE void DWF_NAME(dwf_reg_units)(const int W, const int G, const int NV, const int flip,
                                        const int shared, const uint16_t *mask, const DWF_T *s,
                                        DWF_T *d, fc_int ustride, const DWF_T *w, fc_int q,
                                        fc_int C, const DWF_T *bias, const V *wv, V bvp,
                                        unsigned sm, int relu);

/* Packed planes: items i = u * N + n in [i0, i1) -- vector u of image n, whose
 * lanes hold channels u * VL / HW onwards. The per-lane weights and masks are
 * made once per u, then the images go four at a time: through the mask table, or
 * with RW (a 3x3 filter with padding 1 on planes RW wide) whole in registers
 * (dwf_reg_units). */
DWF_INLINE void DWF_NAME(dwf_packed)(const int ntap, const int RW, const dwf_plan *P,
                                     const uint16_t *mask, fc_int i0, fc_int i1, const DWF_T *src,
                                     const DWF_T *w, const DWF_T *bias, int relu, DWF_T *dst)
{
    const fc_int N = P->N, HW = P->HW, img = P->C * HW;
    V wv[FC_DWF_MAXTAP], bv;
    unsigned m[FC_DWF_MAXTAP];
    DWF_ITYPE idx[VL], ch[VL];
    DWF_NAME(dwf_lane_index)(P, ntap, idx, ch);
    for (fc_int i = i0; i < i1;) {
        const fc_int u = i / N, n0 = i % N, n1 = n0 + (i1 - i) < N ? n0 + (i1 - i) : N;
        const fc_int e0 = u * VL, c0 = e0 / HW, nl = img - e0 < VL ? img - e0 : VL;
        const unsigned lm = nl == VL ? FULL : (1u << nl) - 1u;
        DWF_NAME(dwf_lane_weights)(P, ntap, idx, ch, c0, lm, w, bias, wv, &bv);
        for (int k = 0; k < ntap; k++) m[k] = mask[k] & lm;
        /* B images at a time, B a compile-time constant: 4, then 1 */
#define DWF_PACKED_STEP(B)                                                                 \
    do {                                                                                   \
        if (RW)                                                                            \
            DWF_NAME(dwf_reg_units)(RW, B, 1, 0, 1, mask, src + n * img + e0,              \
                                    dst + n * img + e0, img, NULL, 0, 1, NULL, wv, bv, lm, \
                                    relu);                                                 \
        else                                                                               \
            DWF_NAME(dwf_packed_vecs)(B, ntap, P, m, lm, wv, bv, n, e0, src, relu, dst);   \
    } while (0)
        fc_int n = n0;
        for (; n + 4 <= n1; n += 4)
            DWF_PACKED_STEP(4);
        for (; n < n1; n++)
            DWF_PACKED_STEP(1);
#undef DWF_PACKED_STEP
        i += n1 - n0;
    }
}

/* ---- 3x3 filters with padding 1 (P->k3): every offset a compile-time constant ----
 * Tap k reads flat offset (k / 3 - 1) * W + k % 3 - 1 in both passes (backward-data
 * turns the filter: the same offsets with weight 8 - k). */

/* Lanes [d, d + VL) of the run prev | cur | next (0 < |d| < VL), the lanes clear in m zero. */
DWF_INLINE V DWF_NAME(dwf_shift)(const int d, MASKT m, V prev, V cur, V next)
{
    switch (d) {
#define DWF_SH(n) \
    case n: return ALIGNR(m, next, cur, n); \
    case -(n): return ALIGNR(m, cur, prev, VL - (n));
    DWF_SH(1) DWF_SH(2) DWF_SH(3) DWF_SH(4) DWF_SH(5) DWF_SH(6) DWF_SH(7)
#if !defined(DWF_DOUBLE)
    DWF_SH(8) DWF_SH(9) DWF_SH(10) DWF_SH(11) DWF_SH(12) DWF_SH(13) DWF_SH(14) DWF_SH(15)
#endif
#undef DWF_SH
    default: return cur;
    }
}

/* The outputs a[g][v] of G units of NV vectors each, unit g at s + g * ustride --
 * planes narrower than a vector (W + 1 < VL), or the images of one packed vector
 * position -- whole in registers: each unit's vectors are loaded once and every tap
 * is made from them by lane shifts (valignd), the lanes outside the plane zeroed by
 * the tap's mask (mask[v * 9 + k]). Weights: plane q + g's own (channel (q + g) % C,
 * broadcast), or with `shared` the per-lane wv and bvp (packed). sm: the lanes of
 * the last vector that belong to the units. */
DWF_INLINE void DWF_NAME(dwf_reg_compute)(const int W, const int G, const int NV, const int flip,
                                          const int shared, const uint16_t *mask,
                                          const DWF_T *s, fc_int ustride, const DWF_T *w,
                                          fc_int q, fc_int C, const DWF_T *bias, const V *wv,
                                          V bvp, unsigned sm, V a[4][4])
{
    V X[4][4], wk[4];
#pragma GCC unroll 4
    for (int g = 0; g < G; g++) {
        const fc_int c = shared ? 0 : (q + g) % C;
        const V b = shared ? bvp : bias ? SET1(bias[c]) : ZERO;
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            const DWF_T *p = s + g * ustride + v * VL;
            X[g][v] = v == NV - 1 && sm != FULL ? LDZ(sm, p) : LD(p);
            a[g][v] = b;
        }
    }
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) {
        const int dk = (k / 3 - 1) * W + k % 3 - 1;
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
            wk[g] = shared ? wv[k] : SET1(w[((q + g) % C) * 9 + (flip ? 8 - k : k)]);
#pragma GCC unroll 4
        for (int g = 0; g < G; g++)
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                const V x = k == 4 ? X[g][v]
                                   : DWF_NAME(dwf_shift)(dk, (MASKT)DWF_KLOAD(mask + v * 9 + k),
                                                         v ? X[g][v - 1] : ZERO, X[g][v],
                                                         v + 1 < NV ? X[g][v + 1] : ZERO);
                a[g][v] = FMA(x, wk[g], a[g][v]);
            }
    }
}

/* dwf_reg_compute, stored (with ReLU) at d + g * ustride. */
DWF_INLINE void DWF_NAME(dwf_reg_units)(const int W, const int G, const int NV, const int flip,
                                        const int shared, const uint16_t *mask, const DWF_T *s,
                                        DWF_T *d, fc_int ustride, const DWF_T *w, fc_int q,
                                        fc_int C, const DWF_T *bias, const V *wv, V bvp,
                                        unsigned sm, int relu)
{
    V a[4][4];
    DWF_NAME(dwf_reg_compute)(W, G, NV, flip, shared, mask, s, ustride, w, q, C, bias, wv, bvp, sm,
                              a);
#pragma GCC unroll 4
    for (int g = 0; g < G; g++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++)
            DWF_NAME(dwf_put)(relu, v == NV - 1 ? sm : FULL, d + g * ustride + v * VL, a[g][v]);
}

/* Planes [q0, q1) of NV vectors (W + 1 < VL), 4 / NV planes at a time. */
DWF_INLINE void DWF_NAME(dwf_reg_planes)(const int W, const int NV, const int flip,
                                         const dwf_plan *P, const uint16_t *mask, fc_int q0,
                                         fc_int q1, const DWF_T *src, const DWF_T *w,
                                         const DWF_T *bias, int relu, DWF_T *dst)
{
    const int G = 4 / NV;
    const fc_int HW = P->HW, C = P->C;
    fc_int q = q0;
    for (; q + G <= q1; q += G)
        DWF_NAME(dwf_reg_units)(W, G, NV, flip, 0, mask, src + q * HW, dst + q * HW, HW, w, q, C,
                                bias, NULL, ZERO, FULL, relu);
    for (; q < q1; q++)
        DWF_NAME(dwf_reg_units)(W, 1, NV, flip, 0, mask, src + q * HW, dst + q * HW, HW, w, q, C,
                                bias, NULL, ZERO, FULL, relu);
}

/* Four vectors of a plane whose rows are nc = W / VL whole vectors (NC: nc when it is
 * 1, 2 or 4, making the masks compile-time; else 0): v0 + i % M + (i / M) * 2 * nc, i < 4
 * (M = 4: four consecutive vectors; M < 4: the stride-2 groups of even rows). Every
 * tap a load at its offset: with `border` masked from the table (rows that reach the
 * padding), else only at the row ends (the vectors' rows and their neighbours inside
 * the plane). */
DWF_INLINE void DWF_NAME(dwf_rows_group)(const int NC, const int M, const int border, fc_int nc,
                                         const uint16_t *mask, const DWF_T *s, fc_int v0,
                                         const V *wv, V bv, V a[4])
{
    const int fixed = NC != 0;
    const fc_int ncv = fixed ? NC : nc, W = ncv * VL;
    const unsigned left = FULL & ~1u, right = FULL >> 1;
    fc_int v[4];
    unsigned ml[4], mr[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
        const fc_int cc = fixed ? i % NC : (v0 + i % M) % ncv;
        v[i] = v0 + i % M + i / M * 2 * ncv;
        ml[i] = cc == 0 ? left : FULL;
        mr[i] = cc == ncv - 1 ? right : FULL;
        a[i] = bv;
    }
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) {
        const fc_int off = (k / 3 - 1) * W + k % 3 - 1;
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            const DWF_T *p = s + v[i] * VL + off;
            const V x = border     ? LDZ(DWF_KLOAD(mask + v[i] * 9 + k), p)
                        : k % 3 == 0 ? LDZ(ml[i], p)
                        : k % 3 == 2 ? LDZ(mr[i], p)
                                     : LD(p);
            a[i] = FMA(x, wv[k], a[i]);
        }
    }
}

/* Vectors v0 .. v0 + 3 of such a plane, all on rows 1 .. H - 2. */
DWF_INLINE void DWF_NAME(dwf_rows4)(const int NC, fc_int nc, const DWF_T *s, DWF_T *d, fc_int v0,
                                    const V *wv, V bv, int relu)
{
    V a[4];
    DWF_NAME(dwf_rows_group)(NC, 4, 0, nc, NULL, s, v0, wv, bv, a);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) DWF_NAME(dwf_put)(relu, FULL, d + (v0 + i) * VL, a[i]);
}

/* Planes [q0, q1) with W = NC * VL: the first and last rows (and a tail of fewer than
 * four interior vectors) through the mask table, the interior four vectors at a time. */
DWF_INLINE void DWF_NAME(dwf_rows_planes)(const int NC, const dwf_plan *P, const uint16_t *mask,
                                          const uint16_t *smask, fc_int q0, fc_int q1,
                                          const DWF_T *src, const DWF_T *w, const DWF_T *bias,
                                          int relu, DWF_T *dst)
{
    const fc_int HW = P->HW, nv = P->nv, C = P->C, nc = P->W / VL;
    const fc_int in0 = P->H > 2 ? nc : nv, in1 = P->H > 2 ? nv - nc : nv;
    V wv[9];
    for (fc_int q = q0; q < q1; q++) {
        const fc_int c = q % C;
        for (int k = 0; k < 9; k++) wv[k] = SET1(w[c * 9 + P->widx[k]]);
        const V bv = bias ? SET1(bias[c]) : ZERO;
        const DWF_T *s = src + q * HW;
        DWF_T *d = dst + q * HW;
        fc_int v = 0;
        for (; v < in0; v++)
            DWF_NAME(dwf_plane_vecs)(1, 9, P->off, mask, smask, s, d, v, wv, bv, relu);
        for (; v + 4 <= in1; v += 4) DWF_NAME(dwf_rows4)(NC, nc, s, d, v, wv, bv, relu);
        for (; v < nv; v++)
            DWF_NAME(dwf_plane_vecs)(1, 9, P->off, mask, smask, s, d, v, wv, bv, relu);
    }
}

/* The 3x3 padding-1 kernels that fit the plan, or 0. */
DWF_INLINE int DWF_NAME(dwf_run_k3)(const dwf_plan *P, uint16_t *mask, uint16_t *smask,
                                    fc_int i0, fc_int i1,
                                    const DWF_T *src, const DWF_T *w, const DWF_T *bias, int relu,
                                    DWF_T *dst)
{
    const fc_int W = P->W, nv = P->nv;
    if (!P->k3)
        return 0;
    if (P->packed) {
        if (W != 2 || P->H != 2)
            return 0;
        dwf_masks(P, 0, 1, mask, smask);
        DWF_NAME(dwf_packed)(9, 2, P, mask, i0, i1, src, w, bias, relu, dst);
        return 1;
    }
    if (W % VL == 0) {
        /* the table rows of dwf_rows_planes: first row, tail of the interior, last row */
        const fc_int nc = W / VL, in0 = P->H > 2 ? nc : nv, in1 = P->H > 2 ? nv - nc : nv;
        dwf_masks(P, 0, in0, mask, smask);
        dwf_masks(P, in0 + (in1 - in0) / 4 * 4, nv, mask, smask);
        if (W == VL)
            DWF_NAME(dwf_rows_planes)(1, P, mask, smask, i0, i1, src, w, bias, relu, dst);
        else if (W == 2 * VL)
            DWF_NAME(dwf_rows_planes)(2, P, mask, smask, i0, i1, src, w, bias, relu, dst);
        else if (W == 4 * VL)
            DWF_NAME(dwf_rows_planes)(4, P, mask, smask, i0, i1, src, w, bias, relu, dst);
        else
            DWF_NAME(dwf_rows_planes)(0, P, mask, smask, i0, i1, src, w, bias, relu, dst);
        return 1;
    }
    if (P->HW % VL || W + 1 >= VL || nv > 4)
        return 0;
    dwf_masks(P, 0, nv, mask, smask);
#define DWF_REG(w_, nv_)                                                                      \
    if (W == w_ && nv == nv_) {                                                               \
        if (P->flip)                                                                          \
            DWF_NAME(dwf_reg_planes)(w_, nv_, 1, P, mask, i0, i1, src, w, bias, relu, dst);   \
        else                                                                                  \
            DWF_NAME(dwf_reg_planes)(w_, nv_, 0, P, mask, i0, i1, src, w, bias, relu, dst);   \
        return 1;                                                                             \
    }
    DWF_REG(4, 1) DWF_REG(4, 2) DWF_REG(4, 4)
#if !defined(DWF_DOUBLE)
    DWF_REG(8, 2) DWF_REG(8, 4)
#endif
#undef DWF_REG
    return 0;
}

#include "conv_depthwise_flat_s2.h"
#include "conv_depthwise_flat_bw.h"

/* The activations other than ReLU (fused into the kernels' stores), over the outputs
 * of items [i0, i1): contiguous planes, or each packed item's lanes. */
DWF_INLINE void DWF_NAME(dwf_act_items)(const dwf_plan *P, fc_int i0, fc_int i1, int act,
                                        DWF_T act_param, DWF_T *dst)
{
    if (act == FC_ACT_NONE || act == FC_ACT_RELU)
        return;
    if (!P->packed) {
        const fc_int out = P->s2 ? P->Ho * P->Wo : P->HW;
        DWF_ACT(act, act_param, dst + i0 * out, dst + i0 * out, (i1 - i0) * out);
        return;
    }
    const fc_int img = P->C * P->HW;
    for (fc_int i = i0; i < i1; i++) {
        const fc_int e0 = (i / P->N) * VL, nl = img - e0 < VL ? img - e0 : VL;
        DWF_T *d = dst + (i % P->N) * img + e0;
        DWF_ACT(act, act_param, d, d, nl);
    }
}

DWF_ATTR static void DWF_NAME(dwf_run)(const dwf_plan *P, fc_int i0, fc_int i1, const DWF_T *src,
                                       const DWF_T *w, const DWF_T *bias, int act,
                                       DWF_T act_param, DWF_T *dst)
{
    uint16_t mask[(FC_DWF_MAXPIX / VL) * FC_DWF_MAXTAP], smask[FC_DWF_MAXPIX / VL];
    const int relu = act == FC_ACT_RELU;
    if (P->s2) {
        DWF_NAME(dwf_run_s2)(P, mask, smask, i0, i1, src, w, bias, relu, dst);
    } else if (!DWF_NAME(dwf_run_k3)(P, mask, smask, i0, i1, src, w, bias, relu, dst)) {
        dwf_masks(P, 0, P->packed ? 1 : P->nv, mask, smask);
        if (P->packed && P->ntap == 9)
            DWF_NAME(dwf_packed)(9, 0, P, mask, i0, i1, src, w, bias, relu, dst);
        else if (P->packed)
            DWF_NAME(dwf_packed)(P->ntap, 0, P, mask, i0, i1, src, w, bias, relu, dst);
        else if (P->nv >= 4 && P->ntap == 9)
            DWF_NAME(dwf_planes)(9, P, mask, smask, i0, i1, src, w, bias, relu, dst);
        else if (P->nv >= 4)
            DWF_NAME(dwf_planes)(P->ntap, P, mask, smask, i0, i1, src, w, bias, relu, dst);
        else if (P->ntap == 9)
            DWF_NAME(dwf_stream)(9, P, mask, smask, i0, i1, src, w, bias, relu, dst);
        else
            DWF_NAME(dwf_stream)(P->ntap, P, mask, smask, i0, i1, src, w, bias, relu, dst);
    }
    DWF_NAME(dwf_act_items)(P, i0, i1, act, act_param, dst);
}
