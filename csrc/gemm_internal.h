/*
 * gemm_internal.h -- the internal contract between fastconv's GEMM parts:
 * packing (gemm_pack.c), micro-kernels (gemm_ukernel_ref.c,
 * gemm_ukernel_avx2.c), the blocking drivers (gemm.c) and their users
 * (conv.c). Not part of the public interface (fastconv.h).
 *
 * ===================== THE MICRO-KERNEL CONTRACT ========================
 *
 *   void fc_ukr_<path>_<sfx>(fc_int kc, const T *a, const T *b,
 *                            T *c, fc_int ldc, T beta, int mr, int nr);
 *
 * computes, for i < mr and j < nr,
 *
 *   c[i*ldc + j] = sum_{p < kc} a[p*MR + i] * b[p*NR + j]  + beta * c[i*ldc + j]
 *
 * summing p in increasing order (so a given tile is bitwise reproducible
 * whoever computes it).
 *   - a: ONE packed A micro-panel, MR x kc, stored column by column
 *        (a[p*MR + i]); rows i >= mr of a partial panel are zero-filled by
 *        the packer. Needs only sizeof(T) alignment (it is broadcast).
 *   - b: ONE packed B micro-panel, kc x NR, stored row by row
 *        (b[p*NR + j]); columns j >= nr are zero-filled. MUST be 64-byte
 *        aligned (NR*sizeof(T) == 64 for both types, so every row is).
 *   - c: row-major C tile, leading dimension ldc, any alignment. Only the
 *        mr x nr corner is touched. 1 <= mr <= MR, 1 <= nr <= NR; full tiles
 *        are stored straight from registers, edge tiles go through a local
 *        buffer.
 *   - beta is exactly 0 or 1. With beta == 0, c is NEVER read (it may hold
 *        NaN / uninitialised memory). With beta == 1, c += A.B.
 *   - kc >= 0 (kc == 0 gives c = beta*c, with c not read when beta == 0).
 * Tile shape: float MR x NR = 6 x 16, double 6 x 8, for BOTH the portable
 * and the AVX2 kernel, so packed buffers do not depend on the SIMD path.
 *
 * ===================== THE PACKED BLOCK KERNEL ===========================
 *
 *   void fc_ukb_<path>_<sfx>(fc_int kc, const T *a, fc_int pstride, const T *b,
 *                            fc_int bstride, T *c, fc_int ldc, T beta, int mr, int nr);
 *
 * fc_ukr over an mr x nr block of C (mr, nr >= 1, either may exceed the
 * tile): rows i0..i0+MR-1 (i0 a multiple of MR) come from the packed A
 * micro-panel at a + (i0/MR)*pstride, columns j0..j0+NR-1 (j0 a multiple of
 * NR) from the packed B micro-panel at b + (j0/NR)*bstride; C(i, j) at
 * c[i*ldc + j]. Every element is the one fc_ukr of the same path computes,
 * and C is written only where fc_ukr would write it. The AVX-512 kernel
 * registers-blocks across panels (three A panels against one B panel, or one
 * A panel against up to three B panels); other paths loop fc_ukr, B panels
 * outer.
 *
 * ===================== THE DIRECT-B MICRO-KERNEL CONTRACT ===============
 *
 *   void fc_dkr_<path>_<sfx>(fc_int kc, const T *a, const T *x0, const T *x1,
 *                            const fc_int *offs, T *c0, T *c1, fc_int ldc,
 *                            T beta, int mr, int n0, int n1,
 *                            const T *bias, int relu);
 *
 * The same MR x NR tile, but B is not packed: its two halves of CW = NR/2
 * columns (one SIMD vector each) are read straight from memory (an image):
 *
 *   c0[i*ldc + j] = sum_{p < kc} a[p*MR + i] * x0[offs[p] + j] + beta*c0[..]
 *   c1[i*ldc + j] = sum_{p < kc} a[p*MR + i] * x1[offs[p] + j] + beta*c1[..]
 *
 * for i < mr, j < n0 (c0) and j < n1 (c1), p summed in increasing order.
 * mr >= 1 may exceed MR: rows i0..i0+MR-1 (i0 a multiple of MR) then come
 * from the packed A micro-panel at a + i0*kc, as fc_pack_a_full lays them.
 * 0 <= n0, n1 <= CW. x0[offs[p] + j] and x1[offs[p] + j] are READ for every
 * j < CW whatever n0 / n1 (the caller keeps that memory readable; lanes
 * beyond n0 / n1 are computed and dropped). With n1 == 0, pass x1 = x0.
 * a as for fc_ukr (packed A micro-panel). beta 0 or 1 as for fc_ukr.
 * Write-back epilogue (the last K block of a forward conv, so that Y is
 * finished while in registers): with bias != NULL, bias[i] is added to row
 * i after the sum above (beta term included); with relu != 0, then
 * v > 0 ? v : 0. Bitwise the separate pass row[j] += bias[i]; relu(row).
 *
 * ===================== THE NARROW DIRECT-B MICRO-KERNELS =================
 *
 *   void fc_dkn<R>_<path>_<sfx>(fc_int kc, const T *a, const T *const *xs,
 *                               const fc_int *offs, T *const *cs, fc_int ldc,
 *                               T beta, int mr, const int *ns,
 *                               const T *bias, int relu);
 *
 * For the last rows of a direct product whose row count is not a multiple
 * of MR (fc_dkr would run 6 rows to use 2 or 4): R rows x Q chunks of CW
 * columns. R = 2, Q = 6 (fc_dkn2, 12 accumulators like fc_dkr) and R = 4,
 * Q = 2 (fc_dkn4, 8). For q < Q, i < mr, j < ns[q]:
 *
 *   cs[q][i*ldc + j] = sum_{p < kc} a[p*MR + i] * xs[q][offs[p] + j] + beta*cs[q][..]
 *
 * 1 <= mr <= R; 0 <= ns[q] <= CW. a is a packed A micro-panel (MR rows, as
 * for fc_dkr; rows >= R are not read). xs[q][offs[p] + j] is READ for every
 * j < CW and q < Q (pass xs[q] = xs[0], ns[q] = 0 for a missing chunk).
 * Same products summed in the same order as fc_dkr, same epilogue (bias,
 * relu): an element of C is bitwise the same whichever kernel computes it.
 *
 * ===================== THE WIDE DIRECT-B KERNEL ==========================
 *
 *   void fc_dkw_<path>_<sfx>(fc_int kc, const T *a, const T *const *xs,
 *                            const fc_int *offs, T *const *cs, fc_int ldc, T beta,
 *                            int mr, const int *ns, const T *bias, int relu);
 *
 * fc_dkn's form with Q = 6 chunks (three fc_dkr tiles: chunks 2q and 2q + 1
 * are a tile's two halves) and any mr >= 1 rows, rows i0..i0+MR-1 from the
 * packed A micro-panel at a + i0*kc as for fc_dkr. Same products, order and
 * epilogue as fc_dkr: an element is bitwise the one fc_dkr computes. AVX-512
 * only (fc_dkw_select(3) gives NULL on other paths): one A panel's broadcasts
 * feed the three tiles. fc_dkw8 (fc_dkw_select(4)) is the same with Q = 8
 * chunks, four tiles: 24 accumulators, 6 broadcasts and 4 loads per 24 FMAs
 * (an 8x8 map's four tiles in one call, not three and a lone one).
 *
 * ===================== THE DIRECT-A MICRO-KERNEL CONTRACT ===============
 *
 *   void fc_akr_<path>_<sfx>(fc_int kc, const T *const *rows, const fc_int *offs,
 *                            const T *b, T *c, fc_int ldc, T beta, int mr, int nr);
 *
 *   c[i*ldc + j] = sum_{p < kc} rows[i][offs[p]] * b[p*NR + j] + beta*c[..]
 *
 * for i < mr, j < nr, p in increasing order: A is not packed, element (i, p)
 * is read (broadcast) from row pointer i at offset offs[p]. rows has MR
 * entries, all readable at every offs[p] (pass rows[0] for i >= mr). b and c
 * as for fc_ukr (b a packed, 64-byte aligned B micro-panel).
 *
 * ===================== THE MULTI-PANEL DIRECT-A KERNEL ==================
 *
 *   void fc_akm_<path>_<sfx>(fc_int kc, const T *const *rows, const fc_int *offs,
 *                            const T *b, fc_int bstride, T *c, fc_int ldc, T beta,
 *                            int mr, int nr);
 *
 * fc_akr over nr >= 1 columns of C (nr may exceed NR): columns j0..j0+NR-1
 * (j0 a multiple of NR) from the packed B micro-panel at b + (j0/NR)*bstride,
 * all against the same MR rows. Every element is fc_akr's of the same path.
 * The AVX-512 kernel feeds up to three panels from one set of broadcasts.
 *
 * ===================== PACKED BUFFERS ===================================
 * Packed A block (mc x kc): ceil(mc/MR) micro-panels, panel q at ap + q*MR*kc.
 * Packed B block (kc x nc): ceil(nc/NR) micro-panels, panel q at bp + q*NR*kc.
 * A "full" prepacked A (m x k, see fc_pack_a_full) holds the K-blocks one
 * after the other: the block starting at column pc (a multiple of the block
 * size kcb) is a packed A block of mpad x kc at ap + pc*mpad, where
 * mpad = roundup(m, MR).
 *
 * K blocking: k is cut into ceil(k/KC) blocks of equal size (the last may be
 * shorter): fc_block_size(k, KC, 1). The blocking depends on k only, never
 * on thread count, so results are bitwise identical for any thread count.
 *
 * Templates: the code for float and double is written once. A .c file
 * defines FC_TMPL_SET to 32 or 64 and includes this header again: that
 * defines FC_T (element type), FC_SFX(name) (name##_f32 / _f64), FC_MR,
 * FC_NR, FC_KC, FC_MC, FC_NC, FC_IS_F64; FC_TMPL_SET 0 undefines them.
 * tmpl_instances.h does the three steps for a template file.
 */

#if defined(FC_TMPL_SET)
/* ---------------- template parameter (re)definition ---------------- */
#undef FC_T
#undef FC_SFX
#undef FC_MR
#undef FC_NR
#undef FC_KC
#undef FC_MC
#undef FC_NC
#undef FC_IS_F64
#if FC_TMPL_SET == 32
#define FC_T float
#define FC_SFX(name) name##_f32
#define FC_MR FC_MR_F32
#define FC_NR FC_NR_F32
#define FC_KC FC_KC_F32
#define FC_MC FC_MC_F32
#define FC_NC FC_NC_F32
#define FC_IS_F64 0
#elif FC_TMPL_SET == 64
#define FC_T double
#define FC_SFX(name) name##_f64
#define FC_MR FC_MR_F64
#define FC_NR FC_NR_F64
#define FC_KC FC_KC_F64
#define FC_MC FC_MC_F64
#define FC_NC FC_NC_F64
#define FC_IS_F64 1
#endif
#undef FC_TMPL_SET

#else /* normal include */

#ifndef FC_GEMM_INTERNAL_H
#define FC_GEMM_INTERNAL_H

#include <stddef.h>
#include <string.h>
#include "fastconv.h"

#if defined(__x86_64__) || defined(_M_X64)
#define FC_HAVE_X86_AVX2_KERNELS 1
#endif

/* Register tile. */
#define FC_MR_F32 6
#define FC_NR_F32 16
#define FC_MR_F64 6
#define FC_NR_F64 8

/* Cache blocking (fc_gemm): KC x NR B micro-panel in L1 (32 KiB),
 * MC x KC A block in L2 (1 MiB per core), KC x NC B panel in L2/L3. */
#ifndef FC_KC_F32
#define FC_KC_F32 256
#endif
#ifndef FC_MC_F32
#define FC_MC_F32 144
#endif
#ifndef FC_NC_F32
#define FC_NC_F32 4096
#endif
#ifndef FC_KC_F64
#define FC_KC_F64 256
#endif
#ifndef FC_MC_F64
#define FC_MC_F64 72
#endif
#ifndef FC_NC_F64
#define FC_NC_F64 2048
#endif

#define FC_ALIGN 64

#define FC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define FC_MAX(a, b) ((a) > (b) ? (a) : (b))

static inline fc_int fc_roundup(fc_int n, fc_int m) { return (n + m - 1) / m * m; }
static inline size_t fc_align_up(size_t n) { return (n + FC_ALIGN - 1) & ~(size_t)(FC_ALIGN - 1); }
static inline void *fc_align_ptr(void *p)
{
    return (void *)(((uintptr_t)p + FC_ALIGN - 1) & ~(uintptr_t)(FC_ALIGN - 1));
}

/* Block size for cutting n into ceil(n/bmax) nearly equal blocks, rounded
 * up to a multiple of mult (bmax must be a multiple of mult). */
static inline fc_int fc_block_size(fc_int n, fc_int bmax, fc_int mult)
{
    if (n <= 0)
        return mult;
    fc_int nb = (n + bmax - 1) / bmax;
    fc_int b = (n + nb - 1) / nb;
    b = fc_roundup(b, mult);
    return b > bmax ? bmax : b;
}

/* Declarations for one element type T with suffix S. */
#define FC_GEMM_DECLARE(T, S)                                                          \
    typedef void (*fc_ukr_fn_##S)(fc_int kc, const T *a, const T *b, T *c, fc_int ldc, \
                                  T beta, int mr, int nr);                             \
    void fc_ukr_ref_##S(fc_int kc, const T *a, const T *b, T *c, fc_int ldc, T beta,   \
                        int mr, int nr);                                               \
    void fc_ukr_avx2_##S(fc_int kc, const T *a, const T *b, T *c, fc_int ldc, T beta,  \
                         int mr, int nr);                                              \
    /* The kernel of the path in force (fc_simd_path()). */                            \
    fc_ukr_fn_##S fc_ukr_select_##S(void);                                             \
    /* Packed block kernel (contract above). */                                        \
    typedef void (*fc_ukb_fn_##S)(fc_int kc, const T *a, fc_int pstride, const T *b,   \
                                  fc_int bstride, T *c, fc_int ldc, T beta, int mr,    \
                                  int nr);                                             \
    void fc_ukb_avx512_##S(fc_int kc, const T *a, fc_int pstride, const T *b,          \
                           fc_int bstride, T *c, fc_int ldc, T beta, int mr, int nr);  \
    fc_ukb_fn_##S fc_ukb_select_##S(void);                                             \
    /* Direct-B kernel (contract above): B rows read from two image chunks. */         \
    typedef void (*fc_dkr_fn_##S)(fc_int kc, const T *a, const T *x0, const T *x1,     \
                                  const fc_int *offs, T *c0, T *c1, fc_int ldc, T beta, \
                                  int mr, int n0, int n1, const T *bias, int relu);    \
    void fc_dkr_ref_##S(fc_int kc, const T *a, const T *x0, const T *x1,               \
                        const fc_int *offs, T *c0, T *c1, fc_int ldc, T beta, int mr,  \
                        int n0, int n1, const T *bias, int relu);                      \
    void fc_dkr_avx2_##S(fc_int kc, const T *a, const T *x0, const T *x1,              \
                         const fc_int *offs, T *c0, T *c1, fc_int ldc, T beta, int mr, \
                         int n0, int n1, const T *bias, int relu);                     \
    void fc_dkr_avx512_##S(fc_int kc, const T *a, const T *x0, const T *x1,            \
                           const fc_int *offs, T *c0, T *c1, fc_int ldc, T beta,       \
                           int mr, int n0, int n1, const T *bias, int relu);           \
    fc_dkr_fn_##S fc_dkr_select_##S(void);                                             \
    /* Narrow direct-B kernels (contract above): R = 2 x Q = 6, R = 4 x Q = 2. */     \
    typedef void (*fc_dkn_fn_##S)(fc_int kc, const T *a, const T *const *xs,           \
                                  const fc_int *offs, T *const *cs, fc_int ldc, T beta, \
                                  int mr, const int *ns, const T *bias, int relu);     \
    void fc_dkn2_ref_##S(fc_int kc, const T *a, const T *const *xs, const fc_int *offs, \
                         T *const *cs, fc_int ldc, T beta, int mr, const int *ns,       \
                         const T *bias, int relu);                                      \
    void fc_dkn4_ref_##S(fc_int kc, const T *a, const T *const *xs, const fc_int *offs, \
                         T *const *cs, fc_int ldc, T beta, int mr, const int *ns,       \
                         const T *bias, int relu);                                      \
    void fc_dkn2_avx2_##S(fc_int kc, const T *a, const T *const *xs, const fc_int *offs, \
                          T *const *cs, fc_int ldc, T beta, int mr, const int *ns,      \
                          const T *bias, int relu);                                     \
    void fc_dkn4_avx2_##S(fc_int kc, const T *a, const T *const *xs, const fc_int *offs, \
                          T *const *cs, fc_int ldc, T beta, int mr, const int *ns,      \
                          const T *bias, int relu);                                     \
    fc_dkn_fn_##S fc_dkn2_select_##S(void);                                            \
    void fc_dkw_avx512_##S(fc_int kc, const T *a, const T *const *xs, const fc_int *offs, \
                           T *const *cs, fc_int ldc, T beta, int mr, const int *ns,     \
                           const T *bias, int relu);                                    \
    void fc_dkw8_avx512_##S(fc_int kc, const T *a, const T *const *xs, const fc_int *offs, \
                            T *const *cs, fc_int ldc, T beta, int mr, const int *ns,    \
                            const T *bias, int relu);                                   \
    /* The wide direct-B kernel of the path in force on 3 or 4 tiles, or NULL. */      \
    fc_dkn_fn_##S fc_dkw_select_##S(int tiles);                                        \
    fc_dkn_fn_##S fc_dkn4_select_##S(void);                                            \
    /* Direct-A kernel (contract above): A rows broadcast from MR row pointers. */      \
    typedef void (*fc_akr_fn_##S)(fc_int kc, const T *const *rows, const fc_int *offs,  \
                                  const T *b, T *c, fc_int ldc, T beta, int mr, int nr); \
    void fc_akr_ref_##S(fc_int kc, const T *const *rows, const fc_int *offs, const T *b, \
                        T *c, fc_int ldc, T beta, int mr, int nr);                     \
    void fc_akr_avx2_##S(fc_int kc, const T *const *rows, const fc_int *offs,          \
                         const T *b, T *c, fc_int ldc, T beta, int mr, int nr);        \
    fc_akr_fn_##S fc_akr_select_##S(void);                                             \
    /* Multi-panel direct-A kernel (contract above). */                                \
    typedef void (*fc_akm_fn_##S)(fc_int kc, const T *const *rows, const fc_int *offs,  \
                                  const T *b, fc_int bstride, T *c, fc_int ldc, T beta, \
                                  int mr, int nr);                                     \
    void fc_akm_avx512_##S(fc_int kc, const T *const *rows, const fc_int *offs,         \
                           const T *b, fc_int bstride, T *c, fc_int ldc, T beta,       \
                           int mr, int nr);                                            \
    fc_akm_fn_##S fc_akm_select_##S(void);                                             \
    /* Pack A[0:mc, 0:kc] (element (i,p) at a[i*rsa + p*csa]) into ceil(mc/MR)         \
     * zero-padded micro-panels at ap. */                                              \
    void fc_pack_a_##S(fc_int mc, fc_int kc, const T *a, fc_int rsa, fc_int csa, T *ap); \
    /* Pack B[0:kc, 0:nc] (element (p,j) at b[p*rsb + j*csb]) into ceil(nc/NR)         \
     * zero-padded micro-panels at bp. */                                              \
    void fc_pack_b_##S(fc_int kc, fc_int nc, const T *b, fc_int rsb, fc_int csb, T *bp); \
    /* fc_pack_b of a transposed source (rsb == 1): B(p, j) = b[j*csb + p]. */         \
    void fc_pack_b_t_##S(fc_int kc, fc_int nc, const T *b, fc_int csb, T *bp);          \
    /* Pack the whole m x k matrix A, K-blocked by kcb (see top of file). */          \
    void fc_pack_a_full_##S(fc_int m, fc_int k, fc_int kcb, const T *a, fc_int rsa,    \
                            fc_int csa, T *ap);                                        \
    /* Custom B packer: pack B[p0:p0+kc, j0:j0+nc] as fc_pack_b would. */             \
    typedef void (*fc_packb_fn_##S)(void *ctx, fc_int p0, fc_int kc, fc_int j0,        \
                                    fc_int nc, T *bp);                                 \
    /* Epilogue: called once the block C[i0:i0+mc, j0:j0+nc] is complete. */          \
    typedef void (*fc_epi_fn_##S)(void *ctx, fc_int i0, fc_int mc, fc_int j0, fc_int nc); \
    typedef struct fc_gemm_job_##S {                                                   \
        fc_int m, n, k;                                                                \
        fc_int kcb, mcb, ncb; /* block sizes; kcb = fc_block_size(k, KC, 1) if ap_full */ \
        const T *ap_full;     /* prepacked A (fc_pack_a_full with kcb), or NULL: */   \
        fc_int a_mpad, a_row0; /* ap_full: rows it was packed with (0: m rounded up  \
                                  to MR) and the MR-aligned row that is row 0 here */ \
        const T *a;           /* ... then A is packed per block from a, rsa, csa */   \
        fc_int rsa, csa;                                                               \
        fc_packb_fn_##S packb; /* custom B packer, or NULL: pack from b, rsb, csb */  \
        void *packb_ctx;                                                               \
        const T *b;                                                                    \
        fc_int rsb, csb;                                                               \
        T *c;                 /* C(i,j) at c[i*ldc + j], or if c_local: */            \
        fc_int ldc;           /* c[i*ldc + (j - j0)] for the current NC block j0 */   \
        int c_local;                                                                   \
        T beta;               /* 0 or 1, applied on the first K block */              \
        fc_epi_fn_##S epi;    /* or NULL */                                           \
        void *epi_ctx;                                                                 \
        T *abuf;              /* >= mcb*kcb elements, 64-aligned (unused if ap_full) */ \
        T *bbuf;              /* >= kcb*roundup(ncb,NR) elements, 64-aligned */       \
    } fc_gemm_job_##S;                                                                 \
    /* Serial blocked GEMM (no OpenMP): loops jc / pc / ic / jr / ir. */              \
    void fc_gemm_serial_##S(const fc_gemm_job_##S *job);

FC_GEMM_DECLARE(float, f32)
FC_GEMM_DECLARE(double, f64)

/* The row-panel kernel of fc_linear_packed (contract at the top of gemm_gemv.c): up to
 * 4 rows of x against one NR-wide panel of a packed W^T, the arithmetic of the GEMM
 * micro-kernel of the same path on every element; fc_lin_panels: the same against
 * np <= 4 panels at once (panel t at bp + t * pstride, into columns t * NR.. of y,
 * nr columns in all). */
#define FC_LIN_DECLARE(T, S)                                                           \
    typedef void (*fc_lin_fn_##S)(fc_int kc, int nrows, const T *x, fc_int ldx,        \
                                  const T *bp, T *y, fc_int ldy, T beta, int nr);     \
    fc_lin_fn_##S fc_lin_select_##S(void);                                             \
    void fc_lin_panels_##S(fc_int kc, int nrows, const T *x, fc_int ldx, const T *bp,  \
                           fc_int pstride, int np, T *y, fc_int ldy, T beta, int nr);
FC_LIN_DECLARE(float, f32)
FC_LIN_DECLARE(double, f64)

#endif /* FC_GEMM_INTERNAL_H */
#endif /* FC_TMPL_SET */
