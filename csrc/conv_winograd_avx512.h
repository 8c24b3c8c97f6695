/*
 * conv_winograd_avx512.h -- vector helpers the AVX-512 (float) Winograd output
 * transforms share (conv_winograd_avx512.c, conv_winograd_s2_avx512.c);
 * included where immintrin.h and FC_W_AVX512 are defined.
 */
#ifndef FC_CONV_WINOGRAD_AVX512_H
#define FC_CONV_WINOGRAD_AVX512_H

/* "v > 0 ? v : 0" on a vector (NaN and -0 go to +0, as the scalar expression). */
static inline __attribute__((always_inline)) FC_W_AVX512 __m512 fc_relu_avx512_f32(__m512 v)
{
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), v);
}

/* Row i of a panel's 16 tiles, the lanes of o[0..3] (o[j]: column j of each tile), as
 * four runs of 16 consecutive output pixels (tiles 4q .. 4q + 3 of the panel, one tile
 * row): a 4 x 4 transpose inside each 128-bit lane, then one of the 128-bit lanes.
 * v[q] = (tile 4q: j = 0..3, tile 4q + 1: j = 0..3, ...). */
static inline __attribute__((always_inline)) FC_W_AVX512 void
fc_wino4_rows16_f32(const __m512 o[4], __m512 v[4])
{
    const __m512 a0 = _mm512_unpacklo_ps(o[0], o[1]), a1 = _mm512_unpackhi_ps(o[0], o[1]);
    const __m512 a2 = _mm512_unpacklo_ps(o[2], o[3]), a3 = _mm512_unpackhi_ps(o[2], o[3]);
    /* t[r], 128-bit lane q: tile 4q + r's four columns */
    const __m512 t0 = _mm512_shuffle_ps(a0, a2, 0x44), t1 = _mm512_shuffle_ps(a0, a2, 0xEE);
    const __m512 t2 = _mm512_shuffle_ps(a1, a3, 0x44), t3 = _mm512_shuffle_ps(a1, a3, 0xEE);
    const __m512 u0 = _mm512_shuffle_f32x4(t0, t1, 0x44), u1 = _mm512_shuffle_f32x4(t2, t3, 0x44);
    const __m512 u2 = _mm512_shuffle_f32x4(t0, t1, 0xEE), u3 = _mm512_shuffle_f32x4(t2, t3, 0xEE);
    v[0] = _mm512_shuffle_f32x4(u0, u1, 0x88);
    v[1] = _mm512_shuffle_f32x4(u0, u1, 0xDD);
    v[2] = _mm512_shuffle_f32x4(u2, u3, 0x88);
    v[3] = _mm512_shuffle_f32x4(u2, u3, 0xDD);
}

#endif /* FC_CONV_WINOGRAD_AVX512_H */
