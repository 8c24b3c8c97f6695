/* transpose8_avx2.h -- one 8 x 8 float transpose in AVX2 registers, shared by the
 * packing and transform routines that turn 8 rows into 8 columns. Include from a
 * file compiled for x86-64 with FC_HAVE_X86_AVX2_KERNELS; the function carries its
 * own target attribute. */
#ifndef FC_TRANSPOSE8_AVX2_H
#define FC_TRANSPOSE8_AVX2_H
#include <immintrin.h>

/* v[j] <- (v[0][j], v[1][j], ..., v[7][j]): rows in, columns out. Unpacks pair the
 * rows, shuffles make 4 x 4 blocks in each 128-bit lane, lane permutes join them. */
static inline __attribute__((always_inline, target("avx2,fma"))) void
fc_transpose8x8_ps(__m256 v[8])
{
    __m256 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(v[k], v[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(v[k], v[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        u[k] = _mm256_shuffle_ps(t[k], t[k + 2], 0x44);
        u[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], 0xEE);
        u[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0x44);
        u[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], 0xEE);
    }
    for (int j = 0; j < 4; ++j) {
        v[j] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x20);
        v[j + 4] = _mm256_permute2f128_ps(u[j], u[j + 4], 0x31);
    }
}

#endif
