/*
 * conv_backward_weight_1x1.c -- the weight gradient of 1x1 convolutions on small
 * maps as one GEMM across the batch's pixels (fc_conv2d_backward_weight_1x1_part;
 * overview in conv_internal.h at FC_1X1_BW_MAX_PIXELS). Split from
 * conv_backward_weight.c, which had grown past 600 lines.
 */
#ifndef FC_T
#include "conv_internal.h"

#ifdef FC_HAVE_X86_AVX2_KERNELS
#include <immintrin.h>

#include "transpose8_avx2.h"

/* Columns [0, n4) (n4 a multiple of 4) of nr <= width rows (row i at src + i*ld) into
 * rows of `width` floats (width 6 or 16: the MR and NR panels), d[j*width + i] =
 * src[i*ld + j], rows nr .. width-1 zero: 8 x 8 register transposes (a last 8 x 4 as
 * two 4 x 4), each result row stored whole (6-wide rows as 4 + 2, never past the row). */
static __attribute__((target("avx2,fma"))) void
fc_gather_t_avx2(const float *src, fc_int ld, int nr, int width, fc_int n4, float *d)
{
    for (int h = 0; h < width; h += 8) {
        const int rows = nr - h < 8 ? nr - h : 8, tail = width - h < 8 ? width - h - 4 : 4;
        fc_int j = 0;
        for (; j + 8 <= n4; j += 8) {
            __m256 v[8];
            for (int i = 0; i < 8; ++i)
                v[i] = i < rows ? _mm256_loadu_ps(src + (h + i) * ld + j) : _mm256_setzero_ps();
            fc_transpose8x8_ps(v);
            float *o = d + j * width + h;
            for (int k = 0; k < 8; ++k) {
                _mm_storeu_ps(o + k * width, _mm256_castps256_ps128(v[k]));
                const __m128 hi = _mm256_extractf128_ps(v[k], 1);
                if (tail == 4)
                    _mm_storeu_ps(o + k * width + 4, hi);
                else   /* width 6: lanes 4, 5 */
                    _mm_storel_pi((__m64 *)(o + k * width + 4), hi);
            }
        }
        if (j < n4) {   /* four columns */
            __m128 a[8];
            for (int i = 0; i < 8; ++i)
                a[i] = i < rows ? _mm_loadu_ps(src + (h + i) * ld + j) : _mm_setzero_ps();
            _MM_TRANSPOSE4_PS(a[0], a[1], a[2], a[3]);
            _MM_TRANSPOSE4_PS(a[4], a[5], a[6], a[7]);
            float *o = d + j * width + h;
            for (int k = 0; k < 4; ++k) {
                _mm_storeu_ps(o + k * width, a[k]);
                if (tail == 4)
                    _mm_storeu_ps(o + k * width + 4, a[4 + k]);
                else
                    _mm_storel_pi((__m64 *)(o + k * width + 4), a[4 + k]);
            }
        }
    }
}

#endif /* FC_HAVE_X86_AVX2_KERNELS */

#define FC_TMPL_SELF "conv_backward_weight_1x1.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

/* The 1x1 small-map path (fc_conv2d_backward_weight_1x1_ok): both GEMM operands
 * are gathered from image-major tensors t (n, rows, P), column col = image
 * col / P, pixel col % P. Writes rows [r0, r1) of t over columns col0 ..
 * col0 + kc - 1 as packed panels of `width` rows (MR for A, NR for B; panel q
 * at dst + q * width * kc, rows past r1 zero). */
static void FC_SFX(fc_1x1_bw_gather)(const FC_T *t, fc_int rows, fc_int P, fc_int r0, fc_int r1,
                                     int width, fc_int col0, fc_int kc, FC_T *dst)
{
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
    /* register transposes (element by element, the two gathers were 40% of a
     * 64 x 128 x 8 x 8 pointwise layer's weight gradient) */
    const int avx2 = (width == 6 || width == 16) && fc_simd_path() >= FC_SIMD_AVX2;
#else
    const int avx2 = 0;
#endif
    for (fc_int i0 = r0; i0 < r1; i0 += width) {
        const fc_int nr = FC_MIN(width, r1 - i0);
        FC_T *d = dst + (i0 - r0) * kc;
        for (fc_int p = 0; p < kc;) {
            /* the columns of one image: rows contiguous along them */
            const fc_int col = col0 + p, n = col / P, q = col - n * P;
            const fc_int len = FC_MIN(P - q, kc - p);
            const FC_T *src = t + (n * rows + i0) * P + q;
            fc_int j = 0;
#if !FC_IS_F64 && defined(FC_HAVE_X86_AVX2_KERNELS)
            if (avx2 && len >= 4) {
                j = len / 4 * 4;
                fc_gather_t_avx2(src, P, (int)nr, width, j, d + p * width);
            }
#else
            (void)avx2;
#endif
            for (; j < len; ++j) {
                FC_T *dj = d + (p + j) * width;
                fc_int i = 0;
                for (; i < nr; ++i)
                    dj[i] = src[i * P + j];
                for (; i < width; ++i)
                    dj[i] = 0;
            }
            p += len;
        }
    }
}

typedef struct FC_SFX(fc_1x1_bw_ctx) {
    const fc_conv_geom *g;
    const FC_T *x;
    fc_int j0;   /* the group's first column */
} FC_SFX(fc_1x1_bw_ctx);

/* B = X_g^T: rows pc .. pc + kc - 1 of the group, channels jc .. jc + nc - 1. */
static void FC_SFX(fc_1x1_bw_pack_b)(void *vctx, fc_int pc, fc_int kc, fc_int jc, fc_int nc,
                                     FC_T *bp)
{
    const FC_SFX(fc_1x1_bw_ctx) *ctx = (const FC_SFX(fc_1x1_bw_ctx) *)vctx;
    FC_SFX(fc_1x1_bw_gather)(ctx->x, ctx->g->C, ctx->g->Ho * ctx->g->Wo, jc, jc + nc, FC_NR,
                             ctx->j0 + pc, kc, bp);
}

void FC_SFX(fc_conv2d_backward_weight_1x1_part)(const fc_conv_geom *g, fc_int nimg,
                                                const FC_T *x, const FC_T *dy, FC_T *dw,
                                                FC_T *db, int part, int nparts, void *work)
{
    const fc_int K = g->K, P = g->Ho * g->Wo;
    fc_int k0, k1;
    fc_split_range(K, FC_MR, part, nparts, &k0, &k1);
    if (k1 <= k0)
        return;
    fc_1x1_bw_plan pl;
    fc_1x1_bw_plan_make(g, sizeof(FC_T), &pl);
    char *wk = (char *)fc_align_ptr(work);
    FC_T *ap = (FC_T *)wk, *bb = (FC_T *)(wk + pl.a_bytes);
    if (db)
        FC_SFX(fc_bias_grad_part)(nimg, K, P, dy, db, k0, k1);
    FC_SFX(fc_1x1_bw_ctx) ctx = {g, x, 0};
    FC_SFX(fc_gemm_job) job;
    memset(&job, 0, sizeof(job));
    job.m = k1 - k0;
    job.n = g->C;
    job.mcb = pl.mcb;
    job.ncb = pl.ncb;
    job.ap_full = ap;
    job.packb = FC_SFX(fc_1x1_bw_pack_b);
    job.packb_ctx = &ctx;
    job.c = dw + k0 * g->C;
    job.ldc = g->C;
    job.bbuf = bb;
    for (fc_int n0 = 0; n0 < nimg; n0 += pl.gimg) {
        const fc_int n1 = FC_MIN(nimg, n0 + pl.gimg);
        ctx.j0 = n0 * P;
        job.k = job.kcb = (n1 - n0) * P;
        job.beta = n0 > 0;
        FC_SFX(fc_1x1_bw_gather)(dy, K, P, k0, k1, FC_MR, ctx.j0, job.k, ap);  /* A = dY_g */
        FC_SFX(fc_gemm_serial)(&job);
    }
}

#endif
