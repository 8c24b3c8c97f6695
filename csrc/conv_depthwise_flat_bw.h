/*
 * conv_depthwise_flat_bw.h -- the weight gradient of conv_depthwise_flat.c's
 * stride-1 'same' planes (taken for 3x3 filters with padding 1 on rows of whole
 * vectors: see dwf_plan_make), included by conv_depthwise_flat_impl.h once per
 * element type.
 *
 * dw[c, t] = sum over images and output pixels p of dy[p] * x[p + off_t] (0
 * where tap t of p reads padding): each tap one masked load of x at its fixed
 * offset, multiplied by the vector of dy and added into that tap's own vector
 * accumulator (R*S + 1 independent chains with the dy sum), images in order,
 * vectors in order, the lanes summed at the end. With a 3x3 filter, padding 1
 * and rows of whole vectors, only the first and last rows take their masks
 * from the table; the others mask the row ends. The order depends on the
 * geometry and the image count only.
 */

/* Vector v of a plane (x at s, dy at g; rows of whole vectors, so every vector is
 * full) into the taps' accumulators; border (the first and last rows): masks from
 * the table, else at the row ends only. */
DWF_INLINE void DWF_NAME(dwf_bw_vec)(const int border, const int NC, fc_int nc,
                                     const uint16_t *mask, const DWF_T *s, const DWF_T *g,
                                     fc_int v, V *acc, V *accb)
{
    const V dy = LD(g + v * VL);
    const DWF_T *p = s + v * VL;
    const fc_int ncv = NC ? NC : nc, W = ncv * VL, cc = v % ncv;
    const unsigned ml = cc == 0 ? FULL & ~1u : FULL, mr = cc == ncv - 1 ? FULL >> 1 : FULL;
#pragma GCC unroll 9
    for (int k = 0; k < 9; k++) {
        const fc_int off = (k / 3 - 1) * W + k % 3 - 1;
        const V x = border     ? LDZ(DWF_KLOAD(mask + v * 9 + k), p + off)
                    : k % 3 == 0 ? LDZ(ml, p + off)
                    : k % 3 == 2 ? LDZ(mr, p + off)
                                 : LD(p + off);
        acc[k] = FMA(x, dy, acc[k]);
    }
    *accb = ADDV(*accb, dy);
}

/* Channels [k0, k1) over nimg whole images: out[(k - k0) * part + t] = tap t's
 * gradient (filter order), out[(k - k0) * part + 9] = the dy sum. */
DWF_INLINE void DWF_NAME(dwf_bw_run)(const int NC, const dwf_plan *P, const uint16_t *mask,
                                     fc_int nimg, fc_int k0, fc_int k1, const DWF_T *x,
                                     const DWF_T *dy, fc_int part, DWF_T *out)
{
    const fc_int HW = P->HW, nv = P->nv, img = P->C * HW, nc = P->W / VL;
    for (fc_int c = k0; c < k1; c++) {
        V acc[9], accb = ZERO;
        for (int k = 0; k < 9; k++) acc[k] = ZERO;
        for (fc_int n = 0; n < nimg; n++) {
            const DWF_T *s = x + n * img + c * HW, *g = dy + n * img + c * HW;
            fc_int v = 0;
            for (; v < nc; v++) DWF_NAME(dwf_bw_vec)(1, NC, nc, mask, s, g, v, acc, &accb);
            for (; v < nv - nc; v++) DWF_NAME(dwf_bw_vec)(0, NC, nc, mask, s, g, v, acc, &accb);
            for (; v < nv; v++) DWF_NAME(dwf_bw_vec)(1, NC, nc, mask, s, g, v, acc, &accb);
        }
        DWF_T *o = out + (c - k0) * part;
        for (int k = 0; k < 9; k++) o[P->widx[k]] = DWF_REDUCE(acc[k]);
        o[9] = DWF_REDUCE(accb);
    }
}

/* The weight gradient (dwf_plan_make takes pass 2 only for 3x3, padding 1, W a
 * multiple of VL and H > 2). */
DWF_ATTR static void DWF_NAME(dwf_backward_weight)(const dwf_plan *P, fc_int nimg, fc_int k0,
                                                   fc_int k1, const DWF_T *x, const DWF_T *dy,
                                                   fc_int part, DWF_T *out)
{
    uint16_t mask[(FC_DWF_MAXPIX / VL) * FC_DWF_MAXTAP], smask[FC_DWF_MAXPIX / VL];
    const fc_int nc = P->W / VL, nv = P->nv;
    dwf_masks(P, 0, nc, mask, smask);         /* the table's first and last rows */
    dwf_masks(P, nv - nc, nv, mask, smask);
#define DWF_BW_RUN(NC) DWF_NAME(dwf_bw_run)(NC, P, mask, nimg, k0, k1, x, dy, part, out)
    DWF_BY_NC(nc, DWF_BW_RUN);
#undef DWF_BW_RUN
}
