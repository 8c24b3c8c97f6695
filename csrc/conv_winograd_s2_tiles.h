/*
 * conv_winograd_s2_tiles.h -- the stride-2 F(4x4, 2x2) path's portable input-side
 * transforms, shared by its forward (conv_winograd_s2.c) and its weight gradient
 * (conv_winograd_bw.c): B^T on five points and V = B^T d B of a 5x5 patch.
 * Included per element type inside each file's template body.
 */

/* B^T on one column of five (the AVX-512 twin: fc_wino_s2_bt_avx512). */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_bt)(FC_T d0, FC_T d1, FC_T d2, FC_T d3, FC_T d4, FC_T o[5])
{
    const FC_T t31 = d3 - d1, t32 = d3 - d2;
    o[0] = (d0 - d2) * (FC_T)2 + t31;
    o[1] = t32 - d1 * (FC_T)2;
    o[2] = (d1 - d2) * (FC_T)2 + t32;
    o[3] = t31;
    o[4] = (d4 - d2) - t31 * (FC_T)2;
}

/* V = B^T d B of one 5x5 patch (B^T down each column b, then along each row a, as the
 * AVX-512 twins do), V[a*5 + b] to dst[(a*5 + b)*vs]. */
static inline __attribute__((always_inline)) void
FC_SFX(fc_wino_s2_in_tile)(const FC_T d[5][5], FC_T *dst, fc_int vs)
{
    FC_T t[5][5], o[5];
    for (int b = 0; b < 5; ++b) {
        FC_SFX(fc_wino_s2_bt)(d[0][b], d[1][b], d[2][b], d[3][b], d[4][b], o);
        for (int a = 0; a < 5; ++a)
            t[a][b] = o[a];
    }
    for (int a = 0; a < 5; ++a) {
        FC_SFX(fc_wino_s2_bt)(t[a][0], t[a][1], t[a][2], t[a][3], t[a][4], o);
        for (int b = 0; b < 5; ++b)
            dst[(a * 5 + b) * vs] = o[b];
    }
}
