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

/* The stride-2 pass over planes [i0, i1). */
DWF_INLINE void DWF_NAME(dwf_run_s2)(const dwf_plan *P, uint16_t *mask, uint16_t *smask,
                                     fc_int i0, fc_int i1, const DWF_T *src, const DWF_T *w,
                                     const DWF_T *bias, int relu, DWF_T *dst)
{
    const fc_int nc = P->W / VL;
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
