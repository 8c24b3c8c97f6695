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
 * from the table; the others mask the row ends. Planes narrower than a vector
 * (dwf_reg_compute's family) and packed 2x2 planes are loaded whole instead, each
 * tap a lane shift of the vectors in registers under its mask, as the forward does:
 * MobileNet's 4x4 and 2x2 planes had gone to the AVX2 small-plane kernels, which
 * first transpose 8 planes into a channel-interleaved scratch. The order depends
 * on the geometry and the image count only.
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

/* Sums of the HW-lane groups of a (HW 1, 2 or 4; packed planes), each into lane 0 of its
 * group: pairs, then pairs of pairs (fixed order). */
DWF_INLINE V DWF_NAME(dwf_group_sums)(fc_int HW, V a)
{
#if defined(DWF_DOUBLE)
    if (HW >= 2)
        a = ADDV(a, _mm512_permutex_pd(a, 0xB1));
    if (HW >= 4)
        a = ADDV(a, _mm512_permutex_pd(a, 0x4E));
#else
    if (HW >= 2)
        a = ADDV(a, _mm512_permute_ps(a, 0xB1));
    if (HW >= 4)
        a = ADDV(a, _mm512_permute_ps(a, 0x4E));
#endif
    return a;
}

/* Channels [k0, k1) of planes in registers: units of NV vectors (a plane, W + 1 < VL)
 * or one packed vector (VL / HW channels; NV 1), over nimg whole images. Tap k of
 * output lane p reads x[p + dk] (dwf_shift under the tap's mask, as in
 * dwf_reg_compute), times dy[p] into acc[k]; out as dwf_bw_run's. */
DWF_INLINE void DWF_NAME(dwf_bw_reg)(const int W, const int NV, const dwf_plan *P,
                                     const uint16_t *mask, fc_int nimg, fc_int k0, fc_int k1,
                                     const DWF_T *x, const DWF_T *dy, fc_int part, DWF_T *out)
{
    const fc_int HW = P->HW, img = P->C * HW, cpu = P->packed ? VL / HW : 1;
    const fc_int ustride = P->packed ? VL : HW;
    DWF_T lanes[VL] __attribute__((aligned(64)));
    for (fc_int u = k0 / cpu; u * cpu < k1; u++) {
        const fc_int e0 = u * ustride, nl = img - e0 < VL ? img - e0 : VL;
        const unsigned sm = NV == 1 && nl < VL ? (1u << nl) - 1u : FULL;
        V acc[9], accb = ZERO;
        for (int k = 0; k < 9; k++) acc[k] = ZERO;
        for (fc_int n = 0; n < nimg; n++) {
            const DWF_T *s = x + n * img + e0, *g = dy + n * img + e0;
            V X[4], D[4];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                X[v] = sm != FULL ? LDZ(sm, s + v * VL) : LD(s + v * VL);
                D[v] = sm != FULL ? LDZ(sm, g + v * VL) : LD(g + v * VL);
            }
#pragma GCC unroll 9
            for (int k = 0; k < 9; k++) {
                const int dk = (k / 3 - 1) * W + k % 3 - 1;
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) {
                    const V xs = k == 4 ? X[v]
                                        : DWF_NAME(dwf_shift)(dk, (MASKT)DWF_KLOAD(mask + v * 9 + k),
                                                              v ? X[v - 1] : ZERO, X[v],
                                                              v + 1 < NV ? X[v + 1] : ZERO);
                    acc[k] = FMA(xs, D[v], acc[k]);
                }
            }
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) accb = ADDV(accb, D[v]);
        }
        if (!P->packed) {
            DWF_T *o = out + (u - k0) * part;
            for (int k = 0; k < 9; k++) o[P->widx[k]] = DWF_REDUCE(acc[k]);
            o[9] = DWF_REDUCE(accb);
            continue;
        }
        for (int k = 0; k < 10; k++) {
            ST(lanes, DWF_NAME(dwf_group_sums)(HW, k < 9 ? acc[k] : accb));
            for (fc_int j = 0; j < cpu && u * cpu + j < k1; j++)
                out[(u * cpu + j - k0) * part + (k < 9 ? P->widx[k] : 9)] = lanes[j * HW];
        }
    }
}

/* The stride-2 filter (3x3, padding 1, even planes whose rows are whole pairs of
 * vectors). Tap (r, s) of output (oh, ow) reads input (2 oh - 1 + r,
 * 2 ow - 1 + s): for a chunk of a dy row, input row 2 oh - 1 + r gives tap s = 1 its
 * even columns, s = 2 its odd ones and s = 0 the odd ones a lane later (the chunk's
 * first from the column before it), each times the chunk into the tap's accumulator;
 * the top padding row is left out. Channels [k0, k1) over nimg whole images; out as
 * dwf_bw_run's. */
DWF_INLINE void DWF_NAME(dwf_bw_s2)(const dwf_plan *P, fc_int nimg, fc_int k0, fc_int k1,
                                    const DWF_T *x, const DWF_T *dy, fc_int part, DWF_T *out)
{
    const fc_int H = P->H, W = P->W, Ho = P->Ho, Wo = P->Wo, C = P->C;
    for (fc_int c = k0; c < k1; c++) {
        V acc[9], accb = ZERO;
        for (int k = 0; k < 9; k++) acc[k] = ZERO;
        for (fc_int n = 0; n < nimg; n++) {
            const DWF_T *s = x + (n * C + c) * H * W, *g = dy + (n * C + c) * Ho * Wo;
            for (fc_int j0 = 0; j0 < Wo; j0 += VL) {
                /* W is a multiple of 2 VL: every chunk a whole vector */
                for (fc_int oh = 0; oh < Ho; oh++) {
                    const V D = LD(g + oh * Wo + j0);
                    accb = ADDV(accb, D);
#pragma GCC unroll 3
                    for (int r = oh ? 0 : 1; r < 3; r++) {
                        const DWF_T *row = s + (2 * oh - 1 + r) * W + 2 * j0;
                        const V A = LD(row), B = LD(row + VL);
                        const V E = DWF_NAME(dwf_evens)(A, B), O = DWF_NAME(dwf_odds)(A, B);
                        const V before = j0 ? SET1(row[-1]) : ZERO;
                        acc[3 * r] = FMA(ALIGNR(FULL, O, before, VL - 1), D, acc[3 * r]);
                        acc[3 * r + 1] = FMA(E, D, acc[3 * r + 1]);
                        acc[3 * r + 2] = FMA(O, D, acc[3 * r + 2]);
                    }
                }
            }
        }
        DWF_T *o = out + (c - k0) * part;
        for (int k = 0; k < 9; k++) o[k] = DWF_REDUCE(acc[k]);
        o[9] = DWF_REDUCE(accb);
    }
}

/* The weight gradient (dwf_plan_make takes pass 2 only for 3x3 with padding 1 on rows
 * of whole vectors with H > 2, on dwf_bw_reg's planes (dwf_bw_reg_ok), or stride 2 on
 * dwf_bw_s2's). */
DWF_ATTR static void DWF_NAME(dwf_backward_weight)(const dwf_plan *P, fc_int nimg, fc_int k0,
                                                   fc_int k1, const DWF_T *x, const DWF_T *dy,
                                                   fc_int part, DWF_T *out)
{
    uint16_t mask[(FC_DWF_MAXPIX / VL) * FC_DWF_MAXTAP], smask[FC_DWF_MAXPIX / VL];
    const fc_int nc = P->W / VL, nv = P->nv;
    if (P->s2) {
        DWF_NAME(dwf_bw_s2)(P, nimg, k0, k1, x, dy, part, out);
        return;
    }
    if (P->packed || P->W % VL) {
        dwf_masks(P, 0, P->packed ? 1 : nv, mask, smask);
#define DWF_BW_REG(w_, nv_) \
        if (P->W == w_ && (P->packed || nv == nv_)) { \
            DWF_NAME(dwf_bw_reg)(w_, nv_, P, mask, nimg, k0, k1, x, dy, part, out); \
            return; \
        }
        DWF_BW_REG(2, 1) DWF_BW_REG(4, 1) DWF_BW_REG(4, 2) DWF_BW_REG(4, 4)
#if !defined(DWF_DOUBLE)
        DWF_BW_REG(8, 2) DWF_BW_REG(8, 4)
#endif
#undef DWF_BW_REG
        return;
    }
    dwf_masks(P, 0, nc, mask, smask);         /* the table's first and last rows */
    dwf_masks(P, nv - nc, nv, mask, smask);
#define DWF_BW_RUN(NC) DWF_NAME(dwf_bw_run)(NC, P, mask, nimg, k0, k1, x, dy, part, out)
    DWF_BY_NC(nc, DWF_BW_RUN);
#undef DWF_BW_RUN
}
