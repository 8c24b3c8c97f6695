/*
 * conv_wrows.h -- Winograd F(2, 3) along output rows for 3x3 stride-1 float
 * convolutions with few input channels (conv_forward_wrows.c), run inside the
 * direct path (fc_conv_direct_range) on its bordered image.
 *
 * Each pair of neighbouring outputs of a row, y[2j] and y[2j + 1], is a tile:
 * per (channel, filter row) four products U_t . G_t where the direct path
 * makes six, so 3x3 filters take 36 multiply-adds per tile and channel, not
 * 54. The input transform U (d0 - d2, d1 + d2, d2 - d1, d1 - d3 of the tile's
 * four input pixels) is made once per image row and channel and shared by
 * every filter; the weights' (g0, (g0 + g1 + g2) / 2, (g0 - g1 + g2) / 2,
 * g2) once per call. The kernels hold a row's tiles in the vector lanes and
 * several filters' four accumulators in registers, then write y[2j] =
 * (M0 + M1) + M2 and y[2j + 1] = (M1 - M2) - M3 interleaved into the row,
 * + bias, max(., 0).
 *
 * Where the direct path's kernels are about all multiply-adds (3-channel
 * inputs: 27 taps) this is what is left to win. AVX-512 only: with 8 tiles a
 * vector and 12 registers of accumulators an AVX2 kernel spent as much on the
 * write-back and the weight broadcasts as it saved (1.5x slower than the AVX2
 * direct kernels on tfcnn's first layer). The plan marks the geometries
 * (fc_wrows_ok); fc_conv_direct_range runs them here while fc_simd_path() is
 * FC_SIMD_AVX512, else on the direct kernels (the packed weights are the
 * direct path's A panels either way).
 */
#ifndef FC_CONV_WROWS_H
#define FC_CONV_WROWS_H
#include "fastconv.h"

/* Output rows of more than FC_WROWS_MIN_WO pixels (16: a vector of tiles at least
 * half full), at most FC_WROWS_MAX_WO (the U block's size grows with them). */
#ifndef FC_WROWS_MIN_WO
#define FC_WROWS_MIN_WO 16
#endif
#ifndef FC_WROWS_MAX_WO
#define FC_WROWS_MAX_WO 1024
#endif
/* Output rows whose input rows are transformed together (the U block), at most. */
#define FC_WROWS_ROWS 8

/* Whether the direct plan of float (elem 4) geometry g -- a forward pass (op 0),
 * or the transposed layer's forward pass that is a stride-1 input gradient (op
 * 1) -- which reduces over k = 9C taps in one block of kcb, runs F(2, 3) rows. */
int fc_wrows_ok(const fc_conv_geom *g, int op, size_t elem, fc_int k, fc_int kcb);

/* Whether a plan marked for the rows (its wrows field) runs them now: on the
 * AVX-512 path (else the direct kernels). */
static inline int fc_wrows_run(int planned)
{
    return planned && fc_simd_path() == FC_SIMD_AVX512;
}

/* Workspace bytes: the transformed weights and one U block. */
size_t fc_wrows_bytes(const fc_conv_geom *g);

/* Output pixels [p0, p1) (any cut: a row shared by two calls gets the same
 * bits in each) and filters [i0, i1) of one image of the direct plan's
 * geometry g, on the AVX-512 kernels (the caller's check). xr: output row 0's
 * first input row in the bordered image (the image plus (mt - pad_top) rows),
 * offs: its tap offsets (tap (c, 0, 0) at offs[9c], rows wrow apart); ap: the
 * direct plan's packed A panels (MR = 6 rows each, k = 9C long, one K block);
 * work: fc_wrows_bytes,
 * 64-byte aligned. wt_ready: the weights of [i0, i1) are already at work
 * (an earlier image of the same call). */
void fc_wrows_image(const fc_conv_geom *g, fc_int wrow, const float *xr, const fc_int *offs,
                   const float *ap, int wt_ready, float *y, fc_int p0, fc_int p1, fc_int i0,
                   fc_int i1, const float *bias, int relu, void *work);

#endif /* FC_CONV_WROWS_H */
