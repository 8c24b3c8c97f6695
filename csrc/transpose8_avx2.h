/* transpose8_avx2.h -- one 8 x 8 float transpose in AVX2 registers, shared by the
 * packing and transform routines that turn 8 rows into 8 columns, and the Winograd
 * weight gradient's row interleave built on it. Include after fastconv.h from a file
 * compiled for x86-64 with FC_HAVE_X86_AVX2_KERNELS; the functions carry their own
 * target attributes. */
#ifndef FC_TRANSPOSE8_AVX2_H
#define FC_TRANSPOSE8_AVX2_H
#include <immintrin.h>

/* o[j] = column j of the 4 x 4 block in each 128-bit lane of the rows r[0..3]: unpacks
 * pair the rows, shuffles join the pairs (8 shuffles, no lane crossing). */
static inline __attribute__((always_inline, target("avx2,fma"))) void
fc_transpose4x4_lanes_ps(const __m256 r[4], __m256 o[4])
{
    const __m256 p0 = _mm256_unpacklo_ps(r[0], r[1]), p1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 p2 = _mm256_unpacklo_ps(r[2], r[3]), p3 = _mm256_unpackhi_ps(r[2], r[3]);
    o[0] = _mm256_shuffle_ps(p0, p2, 0x44);
    o[1] = _mm256_shuffle_ps(p0, p2, 0xEE);
    o[2] = _mm256_shuffle_ps(p1, p3, 0x44);
    o[3] = _mm256_shuffle_ps(p1, p3, 0xEE);
}

/* v[j] <- (v[0][j], v[1][j], ..., v[7][j]): rows in, columns out. The 4 x 4 blocks of
 * each 128-bit lane transposed, then lane permutes join them. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
fc_transpose8x8_ps(__m256 v[8])
{
    __m256 u[8];
    fc_transpose4x4_lanes_ps(v, u);
    fc_transpose4x4_lanes_ps(v + 4, u + 4);
    for (int j = 0; j < 4; ++j) {
        v[j] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x20);
        v[j + 4] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x31);
    }
}

/* v[j] = column j of the 8 x 8 block rows[k][u .. u + 8) (NULL rows: zeros). The
 * lane-crossing step of the transpose is done by the loads -- a 128-bit insert from
 * memory takes no shuffle port -- leaving two 4 x 4 in-lane transposes: 16 shuffles
 * where loading whole rows and fc_transpose8x8_ps take 24 (the interleave of the
 * Winograd weight gradient's inputs was bound by them). */
static inline __attribute__((always_inline, target("avx2,fma"))) void
fc_load_transpose8x8_ps(const float *const rows[8], fc_int u, __m256 v[8])
{
    __m256 t[8];
    for (int k = 0; k < 4; ++k) {
        const float *a = rows[k], *b = rows[k + 4];
        const __m128 z = _mm_setzero_ps();
        const __m128 a0 = a ? _mm_loadu_ps(a + u) : z, a1 = a ? _mm_loadu_ps(a + u + 4) : z;
        const __m128 b0 = b ? _mm_loadu_ps(b + u) : z, b1 = b ? _mm_loadu_ps(b + u + 4) : z;
        t[k] = _mm256_insertf128_ps(_mm256_castps128_ps256(a0), b0, 1);
        t[k + 4] = _mm256_insertf128_ps(_mm256_castps128_ps256(a1), b1, 1);
    }
    fc_transpose4x4_lanes_ps(t, v);
    fc_transpose4x4_lanes_ps(t + 4, v + 4);
}

/* q[(u % phases)*ts + (u / phases)*ld + k] = rows[k][u] for u < n and the 8 rows (NULL:
 * zeros), by 8x8 transposes in registers: the element-by-element interleave cost as much
 * as the transform it feeds. phases 1: pixel u at q + u*ld; 4 (ld 6): the AVX-512 F(4x4)
 * Dy transform's planes, pixel u of a tile row to plane u % 4, tile u / 4's six filters --
 * lanes 6 and 7 (filters past a panel's six: NULL, zero) spill into the next tile's slot
 * of the plane, which that tile's own store rewrites (stores in increasing u); past the
 * row's last tile they land in the plane's slack, or on a partial tile's missing pixels,
 * zeros either way. */
static inline __attribute__((target("avx2,fma"))) void
fc_wino_interleave8_avx2(const float *const rows[8], fc_int n, float *q, fc_int ld,
                         fc_int ts, const int phases)
{
    fc_int u = 0;
    /* u a multiple of 8: pixel u + j goes to phase j % phases, slot u / phases + j / phases
     * (the signed divisions per store were most of this loop's instructions) */
    float *qu = q;
    for (; u + 8 <= n; u += 8, qu += 8 / phases * ld) {
        __m256 v[8];
        fc_load_transpose8x8_ps(rows, u, v);
        for (int j = 0; j < 8; ++j)
            _mm256_storeu_ps(qu + (j % phases) * ts + (j / phases) * ld, v[j]);
    }
    for (; u < n; ++u)
        for (int k = 0; k < 8; ++k)
            q[(u % phases) * ts + (u / phases) * ld + k] = rows[k] ? rows[k][u] : 0.0f;
}

#endif
