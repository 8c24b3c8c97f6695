/* 1x1 convolution of one image with few pixels as y^T = x^T W^T (contract in
 * conv_internal.h): per K block, x^T's block is transposed into the workspace,
 * each output-channel panel accumulates into y^T there with the row kernel of
 * fc_linear_packed, and the finished panels are written to y (K, P) with the
 * GEMM path's epilogue (bias, then residual, then the activation over each
 * output row). */
#ifndef FC_T
#include "conv_internal.h"
#include "gemm_internal.h"

size_t fc_1x1_rows_weight_offset(const fc_conv_geom *g, size_t elem)
{
    fc_conv_plan pl;
    fc_conv_plan_make(g, FC_OP_FWD, elem, &pl);
    return fc_align_up(pl.ap_bytes);
}

size_t fc_1x1_rows_weight_bytes(const fc_conv_geom *g, size_t elem)
{
    return elem == 8 ? fc_linear_packed_bytes_f64(g->K, g->C)
                     : fc_linear_packed_bytes_f32(g->K, g->C);
}

fc_int fc_1x1_rows_panels(const fc_conv_geom *g, size_t elem)
{
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    return (g->K + nr - 1) / nr;
}

size_t fc_1x1_rows_workspace_bytes(const fc_conv_geom *g, size_t elem)
{
    const fc_int nr = elem == 8 ? FC_NR_F64 : FC_NR_F32;
    const fc_int kc = elem == 8 ? FC_KC_F64 : FC_KC_F32;
    const size_t P = (size_t)(g->Ho * g->Wo);
    return fc_align_up(P * (size_t)FC_MIN(g->C, kc) * elem) +
           fc_align_up(P * (size_t)fc_roundup(g->K, nr) * elem) + FC_ALIGN;
}

#define FC_TMPL_SELF "conv_pointwise_rows.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

void FC_SFX(fc_conv_1x1_rows)(const fc_conv_geom *g, const FC_T *x, const void *packed,
                              const FC_T *bias, const FC_T *res, int act, FC_T act_param,
                              FC_T *y, void *work, fc_int q0, fc_int q1)
{
    const fc_int P = g->Ho * g->Wo, C = g->C, K = g->K;
    const fc_int kcb = fc_block_size(C, FC_KC, 1), npad = fc_roundup(K, FC_NR);
    const FC_T *wl = (const FC_T *)((const char *)packed +
                                    fc_1x1_rows_weight_offset(g, sizeof(FC_T)));
    FC_T *xt = (FC_T *)fc_align_ptr(work);
    FC_T *yt = (FC_T *)((char *)xt + fc_align_up((size_t)P * (size_t)kcb * sizeof(FC_T)));
    for (fc_int pc = 0; pc < C; pc += kcb) {
        const fc_int kc = FC_MIN(kcb, C - pc);
        const FC_T beta = pc > 0 ? (FC_T)1 : (FC_T)0;
        for (fc_int c = 0; c < kc; ++c)
            for (fc_int p = 0; p < P; ++p)
                xt[p * kc + c] = x[(pc + c) * P + p];
        /* up to four panels a call: each row's broadcasts feed them all */
        for (fc_int q = q0; q < q1; q += 4) {
            const fc_int j0 = q * FC_NR;
            const int np = (int)FC_MIN(4, q1 - q);
            const int nr = (int)FC_MIN((fc_int)np * FC_NR, K - j0);
            for (fc_int r = 0; r < P; r += 4)
                FC_SFX(fc_lin_panels)(kc, (int)FC_MIN(4, P - r), xt + r * kc, kc,
                                      wl + pc * npad + q * FC_NR * kc, FC_NR * kc, np,
                                      yt + r * npad + j0, npad, beta, nr);
        }
    }
    for (fc_int k = q0 * FC_NR; k < FC_MIN(K, q1 * FC_NR); ++k) {
        FC_T *row = y + k * P;
        for (fc_int p = 0; p < P; ++p)
            row[p] = yt[p * npad + k];
        if (bias) {
            const FC_T bk = bias[k];
            for (fc_int p = 0; p < P; ++p)
                row[p] += bk;
        }
        if (res) {
            const FC_T *rr = res + k * P;
            for (fc_int p = 0; p < P; ++p)
                row[p] += rr[p];
        }
        if (act != FC_ACT_NONE)
            FC_SFX(fc_activation_forward)(act, act_param, row, row, P);
    }
}

#endif
