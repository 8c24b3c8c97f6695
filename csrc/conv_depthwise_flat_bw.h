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

/* Vector v of a plane (x at s, dy at g) into the taps' accumulators; border: masks
 * from the table, else the row-end masks of a 3x3 filter with rows of NC vectors. */
DWF_INLINE void DWF_NAME(dwf_bw_vec)(const int ntap, const int k3rows, const int NC, fc_int nc,
                                     const dwf_plan *P, const uint16_t *mask,
                                     const uint16_t *smask, const DWF_T *s, const DWF_T *g,
                                     fc_int v, V *acc, V *accb)
{
    const V dy = smask[v] == FULL ? LD(g + v * VL) : LDZ(smask[v], g + v * VL);
    const DWF_T *p = s + v * VL;
    if (k3rows) {
        const fc_int ncv = NC ? NC : nc, W = ncv * VL, cc = v % ncv;
        const unsigned ml = cc == 0 ? FULL & ~1u : FULL, mr = cc == ncv - 1 ? FULL >> 1 : FULL;
#pragma GCC unroll 9
        for (int k = 0; k < 9; k++) {
            const fc_int off = (k / 3 - 1) * W + k % 3 - 1;
            const V x = k % 3 == 0 ? LDZ(ml, p + off) : k % 3 == 2 ? LDZ(mr, p + off) : LD(p + off);
            acc[k] = FMA(x, dy, acc[k]);
        }
    } else {
        const uint16_t *m = mask + v * ntap;
#pragma GCC unroll 25
        for (int k = 0; k < ntap; k++)
            acc[k] = FMA(LDZ(DWF_KLOAD(m + k), p + P->off[k]), dy, acc[k]);
    }
    *accb = ADDV(*accb, dy);
}

/* Channels [k0, k1) over nimg whole images: out[(k - k0) * part + t] = tap t's
 * gradient (filter order), out[(k - k0) * part + R * S] = the dy sum. */
DWF_INLINE void DWF_NAME(dwf_bw_run)(const int ntap, const int NC, const dwf_plan *P,
                                     const uint16_t *mask, const uint16_t *smask, fc_int nimg,
                                     fc_int k0, fc_int k1, const DWF_T *x, const DWF_T *dy,
                                     fc_int part, DWF_T *out)
{
    const fc_int HW = P->HW, nv = P->nv, img = P->C * HW, nc = P->W / VL;
    const int k3rows = P->k3 && P->W % VL == 0 && P->H > 2;
    const fc_int in0 = k3rows ? nc : nv, in1 = k3rows ? nv - nc : nv;
    for (fc_int c = k0; c < k1; c++) {
        V acc[FC_DWF_MAXTAP], accb = ZERO;
        for (int k = 0; k < ntap; k++) acc[k] = ZERO;
        for (fc_int n = 0; n < nimg; n++) {
            const DWF_T *s = x + n * img + c * HW, *g = dy + n * img + c * HW;
            fc_int v = 0;
            for (; v < in0; v++)
                DWF_NAME(dwf_bw_vec)(ntap, 0, NC, nc, P, mask, smask, s, g, v, acc, &accb);
            for (; v < in1; v++)
                DWF_NAME(dwf_bw_vec)(ntap, 1, NC, nc, P, mask, smask, s, g, v, acc, &accb);
            for (; v < nv; v++)
                DWF_NAME(dwf_bw_vec)(ntap, 0, NC, nc, P, mask, smask, s, g, v, acc, &accb);
        }
        DWF_T *o = out + (c - k0) * part;
        for (int k = 0; k < ntap; k++) o[P->widx[k]] = DWF_REDUCE(acc[k]);
        o[ntap] = DWF_REDUCE(accb);
    }
}

DWF_ATTR static void DWF_NAME(dwf_backward_weight)(const dwf_plan *P, fc_int nimg, fc_int k0,
                                                   fc_int k1, const DWF_T *x, const DWF_T *dy,
                                                   fc_int part, DWF_T *out)
{
    uint16_t mask[(FC_DWF_MAXPIX / VL) * FC_DWF_MAXTAP], smask[FC_DWF_MAXPIX / VL];
    const fc_int nc = P->W / VL, nv = P->nv;
    if (P->k3 && P->W % VL == 0 && P->H > 2) {   /* the table's first and last rows */
        dwf_masks(P, 0, nc, mask, smask);
        dwf_masks(P, nv - nc, nv, mask, smask);
        for (fc_int v = nc; v < nv - nc; v++) smask[v] = FULL;
        if (nc == 1)
            DWF_NAME(dwf_bw_run)(9, 1, P, mask, smask, nimg, k0, k1, x, dy, part, out);
        else if (nc == 2)
            DWF_NAME(dwf_bw_run)(9, 2, P, mask, smask, nimg, k0, k1, x, dy, part, out);
        else if (nc == 4)
            DWF_NAME(dwf_bw_run)(9, 4, P, mask, smask, nimg, k0, k1, x, dy, part, out);
        else
            DWF_NAME(dwf_bw_run)(9, 0, P, mask, smask, nimg, k0, k1, x, dy, part, out);
        return;
    }
    dwf_masks(P, 0, nv, mask, smask);
    if (P->ntap == 9)
        DWF_NAME(dwf_bw_run)(9, 0, P, mask, smask, nimg, k0, k1, x, dy, part, out);
    else
        DWF_NAME(dwf_bw_run)(P->ntap, 0, P, mask, smask, nimg, k0, k1, x, dy, part, out);
}
