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

#if !defined(DWF_DOUBLE)
/* The stride-2 output pixels only, for rows of 16 and of 8 (float): each tap of a
 * vector of outputs is one two-source lane permute of input rows already in
 * registers (lanes whose source is padding zeroed by its mask), so the
 * multiply-adds are the outputs' own -- the kernels above compute the odd columns
 * too and drop them (16x16: 102 -> 52 us, 8x8 (the small-plane kernels before):
 * 80 -> 43 us on MobileNet's 64 and 128 channels, batch 64, 2 threads). Same
 * chain as every forward kernel: bias, then the taps in (r, s) order. */

/* W = 16: output rows r and r + 1 (8 lanes each) from input rows 2r + i - 1 and
 * 2r + i + 1 per filter row i. */
DWF_INLINE void DWF_NAME(dwf_s2_w16)(const dwf_plan *P, fc_int q0, fc_int q1, const DWF_T *src,
                                     const DWF_T *w, const DWF_T *bias, int relu, DWF_T *dst)
{
    const fc_int H = P->H, Ho = P->Ho;
    DWF_ITYPE ix[3][VL];
    for (int j = 0; j < 3; j++)
        for (int l = 0; l < VL; l++) {
            const int col = 2 * (l % 8) + j - 1;
            ix[j][l] = (DWF_ITYPE)(col < 0 ? 0 : col + (l >= 8 ? VL : 0));
        }
    const DWF_IVEC i0 = DWF_ILOAD(ix[0]), i1 = DWF_ILOAD(ix[1]), i2 = DWF_ILOAD(ix[2]);
    const unsigned left = 0xFEFEu; /* column -1 of either row: padding */
    V wv[9];
    for (fc_int q = q0; q < q1; q++) {
        const fc_int c = q % P->C;
        for (int k = 0; k < 9; k++) wv[k] = SET1(w[c * 9 + P->widx[k]]);
        const V bv = bias ? SET1(bias[c]) : ZERO;
        const DWF_T *s = src + q * H * 16;
        DWF_T *d = dst + q * Ho * 8;
        for (fc_int r = 0; r < Ho; r += 2) {
            const int two = r + 1 < Ho;
            V a = bv;
#pragma GCC unroll 3
            for (int i = 0; i < 3; i++) {
                const fc_int ra = 2 * r + i - 1;
                const V A = ra >= 0 ? LD(s + ra * 16) : ZERO;
                const V B = two ? LD(s + (ra + 2) * 16) : ZERO;
                a = FMA(DWF_PERMUTE2(left, A, i0, B), wv[3 * i], a);
                a = FMA(DWF_PERMUTE2(FULL, A, i1, B), wv[3 * i + 1], a);
                a = FMA(DWF_PERMUTE2(FULL, A, i2, B), wv[3 * i + 2], a);
            }
            DWF_NAME(dwf_put)(relu, two ? FULL : 0xFFu, d + r * 8, a);
        }
    }
}

/* 8x8 planes: the 4x4 output (lane 4r + c) in one vector. The plane's even rows
 * [0 2 | 4 6] and odd rows [1 3 | 5 7] are two pairs of vectors (128-bit lane
 * shuffles of its four); filter row 1 reads the even rows, rows 0 and 2 the odd
 * rows (row 0 one row back, output row 0 on the padding). Two planes at a time:
 * two independent chains. */
DWF_INLINE V DWF_NAME(dwf_s2_8x8_plane)(const DWF_T *s, const V *wv, V bv, const DWF_IVEC *ix,
                                        const unsigned *mk)
{
    const V z0 = LD(s), z1 = LD(s + 16), z2 = LD(s + 32), z3 = LD(s + 48);
    const V elo = _mm512_shuffle_f32x4(z0, z1, 0x44), ehi = _mm512_shuffle_f32x4(z2, z3, 0x44);
    const V olo = _mm512_shuffle_f32x4(z0, z1, 0xEE), ohi = _mm512_shuffle_f32x4(z2, z3, 0xEE);
    V a = bv;
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) {
        const int i = k / 3;
        const V lo = i == 1 ? elo : olo, hi = i == 1 ? ehi : ohi;
        a = FMA(DWF_PERMUTE2(mk[k], lo, ix[k], hi), wv[k], a);
    }
    return a;
}

DWF_INLINE void DWF_NAME(dwf_s2_8x8)(const dwf_plan *P, fc_int q0, fc_int q1, const DWF_T *src,
                                     const DWF_T *w, const DWF_T *bias, int relu, DWF_T *dst)
{
    DWF_ITYPE idx[9][VL];
    unsigned mk[9];
    for (int k = 0; k < 9; k++) {
        const int i = k / 3, j = k % 3;
        mk[k] = FULL;
        for (int l = 0; l < VL; l++) {
            const int r = l / 4, c = l % 4, row = i == 0 ? r - 1 : r, col = 2 * c + j - 1;
            const int pad = row < 0 || col < 0;
            idx[k][l] = (DWF_ITYPE)(pad ? 0 : 8 * row + col);
            if (pad)
                mk[k] &= ~(1u << l);
        }
    }
    DWF_IVEC ix[9];
    for (int k = 0; k < 9; k++) ix[k] = DWF_ILOAD(idx[k]);
    V wa[9], wb[9];
    fc_int q = q0;
    for (; q + 2 <= q1; q += 2) {
        const fc_int ca = q % P->C, cb = (q + 1) % P->C;
        for (int k = 0; k < 9; k++) {
            wa[k] = SET1(w[ca * 9 + P->widx[k]]);
            wb[k] = SET1(w[cb * 9 + P->widx[k]]);
        }
        const V a = DWF_NAME(dwf_s2_8x8_plane)(src + q * 64, wa, bias ? SET1(bias[ca]) : ZERO,
                                               ix, mk);
        const V b = DWF_NAME(dwf_s2_8x8_plane)(src + (q + 1) * 64, wb,
                                               bias ? SET1(bias[cb]) : ZERO, ix, mk);
        DWF_NAME(dwf_put)(relu, FULL, dst + q * 16, a);
        DWF_NAME(dwf_put)(relu, FULL, dst + (q + 1) * 16, b);
    }
    for (; q < q1; q++) {
        const fc_int c = q % P->C;
        for (int k = 0; k < 9; k++) wa[k] = SET1(w[c * 9 + P->widx[k]]);
        DWF_NAME(dwf_put)(relu, FULL, dst + q * 16,
                          DWF_NAME(dwf_s2_8x8_plane)(src + q * 64, wa,
                                                     bias ? SET1(bias[c]) : ZERO, ix, mk));
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
#if !defined(DWF_DOUBLE)
    if (P->W == 16) {
        DWF_NAME(dwf_s2_w16)(P, i0, i1, src, w, bias, relu, dst);
        return;
    }
    if (P->W == 8 && P->H == 8) {
        DWF_NAME(dwf_s2_8x8)(P, i0, i1, src, w, bias, relu, dst);
        return;
    }
#endif
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
