/*
 * gemm.c -- BLIS-style blocked GEMM around packing (gemm_pack.c) and the
 * micro-kernels (gemm_ukernel_*.c):
 *
 *   for jc in n step NC:            B panel kc x nc  (L2/L3)
 *     for pc in k step KC:          pack B block
 *       for ic in m step MC:        pack A block mc x kc (L2)
 *         for jr in nc step NR:     B micro-panel (L1)
 *           for ir in mc step MR:   micro-kernel on an MR x NR tile of C
 *
 * fc_gemm_f32/f64 (public) run this with up to nthreads OpenMP threads that
 * pack cooperatively and split the jr or ir loop: never k, so every C tile is
 * computed by the same instruction sequence whatever the thread count.
 * fc_gemm_serial_* (internal, used by conv.c) is the single-threaded driver
 * with caller-provided buffers, custom B packers and epilogues.
 */
#ifndef FC_T
#include <stdlib.h>
#include "gemm_internal.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* A per-thread scratch buffer kept between calls of fc_gemm (which is
 * called repeatedly with similar sizes): avoids page-faulting fresh memory on
 * every call. Grows, never shrinks. */
static __thread void *fc_gemm_tls_buf = NULL;
static __thread size_t fc_gemm_tls_cap = 0;

static void *fc_gemm_scratch(size_t bytes)
{
    if (bytes > fc_gemm_tls_cap) {
        void *p = NULL;
        size_t cap = bytes + bytes / 4;
        cap = fc_align_up(cap);
        if (posix_memalign(&p, FC_ALIGN, cap) != 0)
            return NULL;
        free(fc_gemm_tls_buf);
        fc_gemm_tls_buf = p;
        fc_gemm_tls_cap = cap;
    }
    return fc_gemm_tls_buf;
}

#define FC_TMPL_SELF "gemm.c"
#include "tmpl_instances.h"

#else /* ------------------------- template body ------------------------- */

FC_SFX(fc_ukr_fn) FC_SFX(fc_ukr_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return FC_SFX(fc_ukr_avx2);
#endif
    return FC_SFX(fc_ukr_ref);
}

/* fc_ukb of the paths whose kernels take one tile at a time. */
static void FC_SFX(fc_ukb_loop)(fc_int kc, const FC_T *a, fc_int pstride, const FC_T *b,
                                fc_int bstride, FC_T *c, fc_int ldc, FC_T beta, int mr, int nr)
{
    FC_SFX(fc_ukr_fn) ukr = FC_SFX(fc_ukr_select)();
    for (int j = 0; j < nr; j += FC_NR)
        for (int i = 0; i < mr; i += FC_MR)
            ukr(kc, a + (i / FC_MR) * pstride, b + (j / FC_NR) * bstride,
                c + (fc_int)i * ldc + j, ldc, beta, mr - i < FC_MR ? mr - i : FC_MR,
                nr - j < FC_NR ? nr - j : FC_NR);
}

/* fc_akm of the paths whose kernels take one panel at a time. */
static void FC_SFX(fc_akm_loop)(fc_int kc, const FC_T *const *rows, const fc_int *offs,
                                const FC_T *b, fc_int bstride, FC_T *c, fc_int ldc, FC_T beta,
                                int mr, int nr)
{
    FC_SFX(fc_akr_fn) akr = FC_SFX(fc_akr_select)();
    for (int j = 0; j < nr; j += FC_NR)
        akr(kc, rows, offs, b + (j / FC_NR) * bstride, c + j, ldc, beta, mr,
            nr - j < FC_NR ? nr - j : FC_NR);
}

FC_SFX(fc_akm_fn) FC_SFX(fc_akm_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() == FC_SIMD_AVX512)
        return FC_SFX(fc_akm_avx512);
#endif
    return FC_SFX(fc_akm_loop);
}

FC_SFX(fc_ukb_fn) FC_SFX(fc_ukb_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() == FC_SIMD_AVX512)
        return FC_SFX(fc_ukb_avx512);
#endif
    return FC_SFX(fc_ukb_loop);
}

FC_SFX(fc_dkr_fn) FC_SFX(fc_dkr_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() == FC_SIMD_AVX512)
        return FC_SFX(fc_dkr_avx512);
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return FC_SFX(fc_dkr_avx2);
#endif
    return FC_SFX(fc_dkr_ref);
}

FC_SFX(fc_dkn_fn) FC_SFX(fc_dkn2_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return FC_SFX(fc_dkn2_avx2);
#endif
    return FC_SFX(fc_dkn2_ref);
}

FC_SFX(fc_dkn_fn) FC_SFX(fc_dkw_select)(int tiles)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() == FC_SIMD_AVX512)
        return tiles == 4 ? FC_SFX(fc_dkw8_avx512) : FC_SFX(fc_dkw_avx512);
#endif
    (void)tiles;
    return NULL;
}

FC_SFX(fc_dkn_fn) FC_SFX(fc_dkn4_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return FC_SFX(fc_dkn4_avx2);
#endif
    return FC_SFX(fc_dkn4_ref);
}

FC_SFX(fc_akr_fn) FC_SFX(fc_akr_select)(void)
{
#ifdef FC_HAVE_X86_AVX2_KERNELS
    if (fc_simd_path() >= FC_SIMD_AVX2)
        return FC_SFX(fc_akr_avx2);
#endif
    return FC_SFX(fc_akr_ref);
}

/* Multiply a packed mc x kc A block by the B micro-panels [jp0, jp1) of a
 * packed kc x nc B block, A micro-panels [ip0, ip1). c points at C(ic, jc). */
static inline void FC_SFX(fc_macro_kernel)(FC_SFX(fc_ukb_fn) ukb, fc_int mc, fc_int nc,
                                           fc_int kc, const FC_T *ap, const FC_T *bp,
                                           FC_T *c, fc_int ldc, FC_T beta, fc_int jp0,
                                           fc_int jp1, fc_int ip0, fc_int ip1)
{
    const fc_int ir = ip0 * FC_MR, jr = jp0 * FC_NR;
    const int mr = (int)(FC_MIN(ip1 * FC_MR, mc) - ir);
    const int nr = (int)(FC_MIN(jp1 * FC_NR, nc) - jr);
    if (mr <= 0 || nr <= 0)
        return;
    ukb(kc, ap + ir * kc, FC_MR * kc, bp + jr * kc, FC_NR * kc, c + ir * ldc + jr, ldc, beta,
        mr, nr);
}

void FC_SFX(fc_gemm_serial)(const FC_SFX(fc_gemm_job) *job)
{
    const fc_int m = job->m, n = job->n, k = job->k;
    if (m <= 0 || n <= 0)
        return;
    FC_SFX(fc_ukb_fn) ukb = FC_SFX(fc_ukb_select)();
    const fc_int kcb = job->kcb, mcb = job->mcb, ncb = job->ncb;
    const fc_int mpad = job->a_mpad ? job->a_mpad : fc_roundup(m, FC_MR);
    for (fc_int jc = 0; jc < n; jc += ncb) {
        const fc_int nc = FC_MIN(ncb, n - jc);
        FC_T *cj = job->c_local ? job->c : job->c + jc;
        if (k <= 0) {
            /* C = beta * C. */
            if (job->beta == 0)
                for (fc_int i = 0; i < m; ++i)
                    memset(cj + i * job->ldc, 0, (size_t)nc * sizeof(FC_T));
            if (job->epi)
                job->epi(job->epi_ctx, 0, m, jc, nc);
            continue;
        }
        for (fc_int pc = 0; pc < k; pc += kcb) {
            const fc_int kc = FC_MIN(kcb, k - pc);
            const FC_T beta = pc == 0 ? job->beta : (FC_T)1;
            const int last = pc + kc >= k;
            if (job->packb)
                job->packb(job->packb_ctx, pc, kc, jc, nc, job->bbuf);
            else
                FC_SFX(fc_pack_b)(kc, nc, job->b + pc * job->rsb + jc * job->csb, job->rsb,
                                  job->csb, job->bbuf);
            for (fc_int ic = 0; ic < m; ic += mcb) {
                const fc_int mc = FC_MIN(mcb, m - ic);
                const FC_T *ap;
                if (job->ap_full) {
                    ap = job->ap_full + pc * mpad + (job->a_row0 + ic) * kc;
                } else {
                    FC_SFX(fc_pack_a)(mc, kc, job->a + ic * job->rsa + pc * job->csa, job->rsa,
                                      job->csa, job->abuf);
                    ap = job->abuf;
                }
                FC_SFX(fc_macro_kernel)(ukb, mc, nc, kc, ap, job->bbuf, cj + ic * job->ldc,
                                        job->ldc, beta, 0, (nc + FC_NR - 1) / FC_NR, 0,
                                        (mc + FC_MR - 1) / FC_MR);
                if (last && job->epi)
                    job->epi(job->epi_ctx, ic, mc, jc, nc);
            }
        }
    }
}

void FC_SFX(fc_gemm)(fc_int m, fc_int n, fc_int k, const FC_T *a, fc_int rsa, fc_int csa,
                     const FC_T *b, fc_int rsb, fc_int csb, FC_T beta, FC_T *c, fc_int ldc,
                     int nthreads)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        if (beta == 0)
            for (fc_int i = 0; i < m; ++i)
                memset(c + i * ldc, 0, (size_t)n * sizeof(FC_T));
        return;
    }
    FC_SFX(fc_ukb_fn) ukb = FC_SFX(fc_ukb_select)();
    const fc_int kcb = fc_block_size(k, FC_KC, 1);
    const fc_int mcb = fc_block_size(m, FC_MC, FC_MR);
    const fc_int ncb = fc_block_size(n, FC_NC, FC_NR);

    int nt = nthreads < 1 ? 1 : nthreads;
    /* Small products are not worth waking threads for. */
    {
        const double work = (double)m * (double)n * (double)k;
        fc_int maxt = (fc_int)(work / (32.0 * 32.0 * 64.0));
        if (maxt < 1)
            maxt = 1;
        if (nt > maxt)
            nt = (int)maxt;
    }
#ifndef _OPENMP
    nt = 1;
#endif

    const size_t bsz = fc_align_up((size_t)kcb * (size_t)ncb * sizeof(FC_T));
    const size_t asz = fc_align_up((size_t)kcb * (size_t)mcb * sizeof(FC_T));
    char *buf = (char *)fc_gemm_scratch(bsz + 2 * asz);
    if (!buf)
        abort(); /* out of memory for a few MiB of scratch: nothing sane to do */
    FC_T *const bbuf = (FC_T *)buf;
    FC_T *const abuf0 = (FC_T *)(buf + bsz);
    FC_T *const abuf1 = (FC_T *)(buf + bsz + asz);

#ifdef _OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1)
#endif
    {
#ifdef _OPENMP
        const int tid = omp_get_thread_num();
        const int nth = omp_get_num_threads();
#define FC_BARRIER()                                                                     \
    do {                                                                                 \
        if (nth > 1) {                                                                   \
            _Pragma("omp barrier")                                                       \
        }                                                                                \
    } while (0)
#else
        const int tid = 0, nth = 1;
#define FC_BARRIER() ((void)0)
#endif
        long iter = 0;
        for (fc_int jc = 0; jc < n; jc += ncb) {
            const fc_int nc = FC_MIN(ncb, n - jc);
            const fc_int njp = (nc + FC_NR - 1) / FC_NR;
            for (fc_int pc = 0; pc < k; pc += kcb) {
                const fc_int kc = FC_MIN(kcb, k - pc);
                const FC_T beta_p = pc == 0 ? beta : (FC_T)1;
                /* Everyone is done with the previous B block. */
                FC_BARRIER();
                {
                    const fc_int q0 = njp * tid / nth, q1 = njp * (tid + 1) / nth;
                    if (q1 > q0)
                        FC_SFX(fc_pack_b)(kc, FC_MIN(nc - q0 * FC_NR, (q1 - q0) * FC_NR),
                                          b + pc * rsb + (jc + q0 * FC_NR) * csb, rsb, csb,
                                          bbuf + q0 * FC_NR * kc);
                }
                for (fc_int ic = 0; ic < m; ic += mcb) {
                    const fc_int mc = FC_MIN(mcb, m - ic);
                    const fc_int nip = (mc + FC_MR - 1) / FC_MR;
                    /* Double-buffered A: the barrier below (after packing
                     * block t) also guarantees that nobody still reads the
                     * buffer of block t-1 when block t+1 is packed into it. */
                    FC_T *ab = (iter++ & 1) ? abuf1 : abuf0;
                    {
                        const fc_int q0 = nip * tid / nth, q1 = nip * (tid + 1) / nth;
                        if (q1 > q0)
                            FC_SFX(fc_pack_a)(FC_MIN(mc - q0 * FC_MR, (q1 - q0) * FC_MR), kc,
                                              a + (ic + q0 * FC_MR) * rsa + pc * csa, rsa, csa,
                                              ab + q0 * FC_MR * kc);
                    }
                    FC_BARRIER(); /* A block and (first time) B block are packed */
                    fc_int jp0 = 0, jp1 = njp, ip0 = 0, ip1 = nip;
                    if (njp >= nip || njp >= 4 * nth) {
                        jp0 = njp * tid / nth;
                        jp1 = njp * (tid + 1) / nth;
                    } else {
                        ip0 = nip * tid / nth;
                        ip1 = nip * (tid + 1) / nth;
                    }
                    FC_SFX(fc_macro_kernel)(ukb, mc, nc, kc, ab, bbuf, c + ic * ldc + jc, ldc,
                                            beta_p, jp0, jp1, ip0, ip1);
                }
            }
        }
#undef FC_BARRIER
    }
}

#endif
