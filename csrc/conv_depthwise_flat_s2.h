/*
 * conv_depthwise_flat_s2.h -- the stride-2 forward of conv_depthwise_flat.c
 * (3x3, padding 1, even planes: Ho = H / 2, Wo = W / 2), included by
 * conv_depthwise_flat_impl.h once per element type.
 *
 * The output is the stride-1 'same' result at the even rows and columns of
 * the input plane. Groups of four stride-1 vectors of even rows are computed
 * as the stride-1 kernels compute them (so each output is the same chain of
 * multiply-adds as in the AVX2 stride-2 kernels: the same bits) and compressed
 * to two output vectors by even-lane permutes. Half the multiply-adds are for
 * odd columns and dropped; in exchange every load is a plain contiguous
 * vector, with no deinterleaved copy of the plane.
 */

/* The even lanes of a, then those of b. */
DWF_INLINE V DWF_NAME(dwf_evens)(V a, V b)
{
    DWF_ITYPE idx[VL];
    for (int l = 0; l < VL; l++) idx[l] = (DWF_ITYPE)(2 * l);
    return DWF_PERMUTE2(FULL, a, DWF_ILOAD(idx), b);
}

/* The odd lanes of a, then those of b. */
DWF_INLINE V DWF_NAME(dwf_odds)(V a, V b)
{
    DWF_ITYPE idx[VL];
    for (int l = 0; l < VL; l++) idx[l] = (DWF_ITYPE)(2 * l + 1);
    return DWF_PERMUTE2(FULL, a, DWF_ILOAD(idx), b);
}

/* Planes [q0, q1) whose rows are whole vectors (W = nc * VL). */
DWF_INLINE void DWF_NAME(dwf_s2_rows)(const int NC, const dwf_plan *P, const uint16_t *mask,
                                      fc_int q0, fc_int q1, const DWF_T *src, const DWF_T *w,
                                      const DWF_T *bias, int relu, DWF_T *dst)
{
    const fc_int nc = P->W / VL, ncv = NC ? NC : nc, Ho = P->Ho, Wo = P->Wo;
    const int M = NC == 1 || NC == 2 ? NC : 4;
    V wv[9];
    for (fc_int q = q0; q < q1; q++) {
        const fc_int c = q % P->C;
        for (int k = 0; k < 9; k++) wv[k] = SET1(w[c * 9 + P->widx[k]]);
        const V bv = bias ? SET1(bias[c]) : ZERO;
        const DWF_T *s = src + q * P->HW;
        DWF_T *d = dst + q * Ho * Wo;
        for (fc_int er = 0; er < Ho; er += 4 / M)
            for (fc_int cc = 0; cc < ncv; cc += M) {
                V a[4];
                /* four stride-1 vectors of even rows 2 er, ... (the group of row 0
                 * reaches the top padding: masks from the table) */
                if (er == 0)
                    DWF_NAME(dwf_rows_group)(NC, M, 1, nc, mask, s, cc, wv, bv, a);
                else
                    DWF_NAME(dwf_rows_group)(NC, M, 0, nc, mask, s, 2 * er * ncv + cc, wv, bv, a);
                DWF_T *o = d + er * Wo + cc * VL / 2;
                DWF_NAME(dwf_put)(relu, FULL, o, DWF_NAME(dwf_evens)(a[0], a[1]));
                DWF_NAME(dwf_put)(relu, FULL, o + VL, DWF_NAME(dwf_evens)(a[2], a[3]));
            }
    }
}

#if !defined(DWF_DOUBLE)
/* Planes [q0, q1) of 4x4 (2x2 outputs, four planes to an output vector), whole in
 * registers as in dwf_reg_planes. (8x8 planes this way measured slower than the
 * AVX2 kernels: see dwf_stride2_ok.) */
DWF_INLINE void DWF_NAME(dwf_s2_small)(const dwf_plan *P, const uint16_t *mask, fc_int q0,
                                       fc_int q1, const DWF_T *src, const DWF_T *w,
                                       const DWF_T *bias, int relu, DWF_T *dst)
{
    /* lanes 0-7 and 8-15 alike: the outputs (even rows and columns) of two planes */
    DWF_ITYPE idx[VL];
    for (int l = 0; l < VL; l++) {
        const int j = l % 8;
        idx[l] = (DWF_ITYPE)(j % 2 * 2 + j % 4 / 2 * 8 + j / 4 * 16);
    }
    const DWF_IVEC iv = DWF_ILOAD(idx);
    fc_int q = q0;
    for (; q + 4 <= q1; q += 4) {
        V a[4][4];
        DWF_NAME(dwf_reg_compute)(4, 4, 1, 0, 0, mask, src + q * 16, 16, w, q, P->C, bias, NULL,
                                  ZERO, FULL, a);
        const V lo = DWF_PERMUTE2(FULL, a[0][0], iv, a[1][0]);
        const V hi = DWF_PERMUTE2(FULL, a[2][0], iv, a[3][0]);
        DWF_NAME(dwf_put)(relu, FULL, dst + q * 4, DWF_BLEND(0xFF00, lo, hi));
    }
    for (; q < q1; q++) {
        V a[4][4];
        DWF_NAME(dwf_reg_compute)(4, 1, 1, 0, 0, mask, src + q * 16, 16, w, q, P->C, bias, NULL,
                                  ZERO, FULL, a);
        DWF_NAME(dwf_put)(relu, 0xF, dst + q * 4, DWF_PERMUTE2(FULL, a[0][0], iv, a[0][0]));
    }
}
#endif

/* ---- The input gradient of the stride-2 3x3 filter with padding 1 (even planes) ----
 * Input pixel (ih, iw) takes dy[oh][ow] * w[r][s] wherever ih = 2 oh - 1 + r and
 * iw = 2 ow - 1 + s: even columns 2j tap s = 1 (ow = j), odd columns 2j + 1 tap s = 2
 * (ow = j) and s = 0 (ow = j + 1); even rows 2i tap r = 1 (oh = i), odd rows 2i + 1
 * tap r = 2 (oh = i) and r = 0 (oh = i + 1). So a chunk of dy row i (D, VL
 * columns) and its left shift Dn (dy[i][j + 1]) make the even and odd columns of
 * input rows 2i and 2i + 1 with two to four multiply-adds each, and a lane
 * interleave writes them: no zero-stuffed copy of dy, no taps on zeros. Each input
 * pixel sums its taps in the AVX2 kernels' order (the filter turned 180 degrees:
 * r, then s, descending), from zero, so the bits agree. */

/* Lanes of the even (E) and odd (O) columns, interleaved: columns 2j0 .. 2j0 + VL - 1
 * (lo) and the next VL (hi). */
DWF_INLINE void DWF_NAME(dwf_interleave)(V E, V O, V *lo, V *hi)
{
    DWF_ITYPE il[VL], ih[VL];
    for (int l = 0; l < VL; l++) {
        il[l] = (DWF_ITYPE)(l / 2 + (l % 2) * VL);
        ih[l] = (DWF_ITYPE)(VL / 2 + l / 2 + (l % 2) * VL);
    }
    *lo = DWF_PERMUTE2(FULL, E, DWF_ILOAD(il), O);
    *hi = DWF_PERMUTE2(FULL, E, DWF_ILOAD(ih), O);
}

/* Columns j0 .. j0 + VL - 1 of dy row `row` (lanes past Wo zero) and their left shift. */
DWF_INLINE void DWF_NAME(dwf_bd_chunk)(const DWF_T *row, fc_int j0, fc_int Wo, V *D, V *Dn)
{
    const fc_int live = Wo - j0;
    *D = live >= VL ? LD(row + j0) : LDZ((1u << live) - 1u, row + j0);
    const V next = live > VL ? LDZ(1u, row + j0 + VL) : ZERO;
    *Dn = ALIGNR(FULL, next, *D, 1);
}

/* Planes [q0, q1) of dx (H x W, W a multiple of VL) from dy (Ho x Wo = H/2 x W/2). */
DWF_INLINE void DWF_NAME(dwf_bd_s2)(const dwf_plan *P, fc_int q0, fc_int q1, const DWF_T *dy,
                                    const DWF_T *w, DWF_T *dx)
{
    const fc_int H = P->H, W = P->W, Ho = P->Ho, Wo = P->Wo;
    for (fc_int q = q0; q < q1; q++) {
        const DWF_T *f = w + (q % P->C) * 9;
        V wk[9];
        for (int k = 0; k < 9; k++) wk[k] = SET1(f[k]);
        const DWF_T *g = dy + q * Ho * Wo;
        DWF_T *d = dx + q * H * W;
        for (fc_int j0 = 0; j0 < Wo; j0 += VL) {
            const int two = Wo - j0 > VL / 2;   /* the chunk reaches the second output vector */
            V D, Dn, D1 = ZERO, Dn1 = ZERO;
            DWF_NAME(dwf_bd_chunk)(g, j0, Wo, &D, &Dn);
            for (fc_int i = 0; i < Ho; i++) {
                const int below = i + 1 < Ho;
                if (below)
                    DWF_NAME(dwf_bd_chunk)(g + (i + 1) * Wo, j0, Wo, &D1, &Dn1);
                V E, O, lo, hi;
                /* row 2i: r = 1 */
                E = FMA(wk[4], D, ZERO);
                O = FMA(wk[3], Dn, FMA(wk[5], D, ZERO));
                DWF_NAME(dwf_interleave)(E, O, &lo, &hi);
                DWF_T *o = d + 2 * i * W + 2 * j0;
                ST(o, lo);
                if (two)
                    ST(o + VL, hi);
                /* row 2i + 1: r = 2 (row i), then r = 0 (row i + 1) */
                E = FMA(wk[7], D, ZERO);
                O = FMA(wk[6], Dn, FMA(wk[8], D, ZERO));
                if (below) {
                    E = FMA(wk[1], D1, E);
                    O = FMA(wk[0], Dn1, FMA(wk[2], D1, O));
                }
                DWF_NAME(dwf_interleave)(E, O, &lo, &hi);
                o += W;
                ST(o, lo);
                if (two)
                    ST(o + VL, hi);
                D = D1, Dn = Dn1;
            }
        }
    }
}

/* The stride-2 pass over planes [i0, i1). */
DWF_INLINE void DWF_NAME(dwf_run_s2)(const dwf_plan *P, uint16_t *mask, uint16_t *smask,
                                     fc_int i0, fc_int i1, const DWF_T *src, const DWF_T *w,
                                     const DWF_T *bias, int relu, DWF_T *dst)
{
    const fc_int nc = P->W / VL;
    if (P->flip) {
        DWF_NAME(dwf_bd_s2)(P, i0, i1, src, w, dst);
        return;
    }
    if (P->W % VL == 0) {
        /* the table rows of the border group (dwf_rows_group's v0 = 0) */
        const int M = nc == 1 || nc == 2 ? (int)nc : 4;
        dwf_masks(P, 0, M == 4 ? nc : 3 % M + 3 / M * 2 * nc + 1, mask, smask);
#define DWF_S2_ROWS(NC) DWF_NAME(dwf_s2_rows)(NC, P, mask, i0, i1, src, w, bias, relu, dst)
        DWF_BY_NC(nc, DWF_S2_ROWS);
#undef DWF_S2_ROWS
        return;
    }
#if !defined(DWF_DOUBLE)
    dwf_masks(P, 0, P->nv, mask, smask);
    DWF_NAME(dwf_s2_small)(P, mask, i0, i1, src, w, bias, relu, dst);
#endif
}
