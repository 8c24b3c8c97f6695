# cython: language_level=3
"""Batch loops around the depthwise (groups == C) convolution kernels of csrc/conv_depthwise*.c:
which kernel family a geometry takes, the forward pass, the input gradient and the
weight gradient (fixed runs of images summed into partials, added in run order)."""
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset

from fastconv._capi cimport *
from fastconv._conv cimport make_geom, _scratch, _times, WEIGHT_GRAD_CHUNKS
from fastconv._runtime cimport give_scratch, team_size, depthwise_work


def depthwise_small_path(tuple geometry, int pass_):
    """Whether pass_ (0 forward, 1 backward-data, 2 backward-weight) of a depthwise conv
    fits the channel-interleaved small-plane kernels (csrc/conv_depthwise_small.c); the
    row kernels (depthwise_rows_path) take precedence where both fit."""
    cdef fc_conv_geom g = make_geom(geometry)
    return bool(fc_depthwise_small_fits(&g, pass_))


def depthwise_flat_path(tuple geometry, int pass_, itemsize=4):
    """Whether pass_ (0 forward, 1 backward-data) of a depthwise conv runs the AVX-512
    flat-plane kernels (csrc/conv_depthwise_flat.c) for elements of itemsize bytes;
    they take precedence over the row and small-plane kernels."""
    cdef fc_conv_geom g = make_geom(geometry)
    return bool(fc_depthwise_flat_fits(&g, pass_, itemsize))


def depthwise_rows_path(tuple geometry, int pass_):
    """Whether pass_ (0 forward, 1 backward-data, 2 backward-weight) of a depthwise conv
    runs the row-vectorised kernels (csrc/conv_depthwise_rows.c); they take precedence."""
    cdef fc_conv_geom g = make_geom(geometry)
    return bool(fc_depthwise_rows_fits(&g, pass_))


def depthwise_forward(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] w,
                      const floating[::1] bias, tuple geometry, int activation, double act_param,
                      floating[:, :, :, ::1] y, int num_threads):
    """y[n, k] = act(conv(x[n, k // mult], w[k, 0]) + bias[k]) (csrc/forward_team.c)."""
    cdef fc_conv_geom g = make_geom(geometry)
    cdef const floating *bptr = NULL
    if bias is not None:
        bptr = &bias[0]
    with nogil:
        if floating is float:
            fc_depthwise_forward_team_f32(&g, x.shape[0], &x[0, 0, 0, 0], &w[0, 0, 0, 0], bptr,
                                          activation, <float> act_param, &y[0, 0, 0, 0],
                                          num_threads)
        else:
            fc_depthwise_forward_team_f64(&g, x.shape[0], &x[0, 0, 0, 0], &w[0, 0, 0, 0], bptr,
                                          activation, act_param, &y[0, 0, 0, 0], num_threads)


def depthwise_backward_data(const floating[:, :, :, ::1] grad_out, const floating[:, :, :, ::1] w,
                            tuple geometry, floating[:, :, :, ::1] grad_x, int num_threads):
    """grad_x[n, c] from the mult output planes of channel c (csrc/forward_team.c: the
    forward's kernel choice and team rule)."""
    cdef fc_conv_geom g = make_geom(geometry)
    with nogil:
        if floating is float:
            fc_depthwise_backward_data_team_f32(&g, grad_out.shape[0], &grad_out[0, 0, 0, 0],
                                                &w[0, 0, 0, 0], &grad_x[0, 0, 0, 0], num_threads)
        else:
            fc_depthwise_backward_data_team_f64(&g, grad_out.shape[0], &grad_out[0, 0, 0, 0],
                                                &w[0, 0, 0, 0], &grad_x[0, 0, 0, 0], num_threads)


def depthwise_backward_weight(const floating[:, :, :, ::1] x, const floating[:, :, :, ::1] grad_out,
                              tuple geometry, floating[:, :, :, ::1] grad_w, floating[::1] grad_b,
                              int num_threads):
    """grad_w, grad_b of a depthwise conv. Work items are (fixed run of images, filter);
    each sums its run in order into its own partial, and the partials of a filter are
    added in run order: bitwise the same for any thread count."""
    cdef fc_conv_geom g = make_geom(geometry)
    cdef Py_ssize_t N = x.shape[0], K = g.K, mult = g.K // g.C, RS = g.R * g.S
    cdef Py_ssize_t nchunks = min(N, WEIGHT_GRAD_CHUNKS), item, chunk, k, n0, i
    cdef Py_ssize_t part = RS + 1
    cdef Py_ssize_t nblk = fc_depthwise_small_blocks(&g)
    cdef bint flat = fc_depthwise_flat_fits(&g, 2, sizeof(floating))
    cdef bint rows = fc_depthwise_rows_fits(&g, 2) and not flat
    cdef bint small = fc_depthwise_small_fits(&g, 2) and not rows and not flat
    cdef Py_ssize_t fblk = (K + 15) // 16
    cdef int nt = team_size(num_threads, nchunks * (fblk if flat else nblk if small else K),
                            depthwise_work(&g, N))
    cdef floating total
    cdef floating *acc
    cdef floating *dw = &grad_w[0, 0, 0, 0]
    cdef floating *db = NULL
    if grad_b is not None:
        db = &grad_b[0]
    cdef floating *partials = <floating *> _scratch(_times(sizeof(floating), nchunks * K * part),
                                                    "conv2d_backward", "partial weight gradients")
    try:
        with nogil:
            # Small planes: items (image run, 8-channel block), each writing the
            # partials of its 8 filters; the same run-order reduction follows.
            for item in prange(nchunks * nblk if small else 0, schedule='static', num_threads=nt):
                chunk = item // nblk
                n0 = chunk * N // nchunks
                acc = partials + (chunk * K + (item % nblk) * 8) * part
                if floating is float:
                    fc_depthwise_small_backward_weight_f32(
                        &g, (chunk + 1) * N // nchunks - n0, item % nblk, &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, acc)
                else:
                    fc_depthwise_small_backward_weight_f64(
                        &g, (chunk + 1) * N // nchunks - n0, item % nblk, &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, acc)
            # AVX-512, stride-1 'same' planes: items (image run, 16-channel block),
            # each writing the partials of its filters; the same reduction follows.
            for item in prange(nchunks * fblk if flat else 0, schedule='static', num_threads=nt):
                chunk = item // fblk
                k = (item % fblk) * 16
                n0 = chunk * N // nchunks
                if floating is float:
                    fc_depthwise_flat_backward_weight_f32(
                        &g, (chunk + 1) * N // nchunks - n0, k, min(K, k + 16), &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, partials + (chunk * K + k) * part)
                else:
                    fc_depthwise_flat_backward_weight_f64(
                        &g, (chunk + 1) * N // nchunks - n0, k, min(K, k + 16), &x[n0, 0, 0, 0],
                        &grad_out[n0, 0, 0, 0], part, partials + (chunk * K + k) * part)
            # Rows at least one vector wide: items (image run, filter) as below,
            # each writing its filter's partial (taps, dy sum) vectorised along rows.
            for item in prange(nchunks * K if rows else 0, schedule='static', num_threads=nt):
                chunk = item // K
                k = item % K
                n0 = chunk * N // nchunks
                if floating is float:
                    fc_depthwise_rows_backward_weight_f32(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k, 0, 0], g.C * g.H * g.W,
                        &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, partials + item * part)
                else:
                    fc_depthwise_rows_backward_weight_f64(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k, 0, 0], g.C * g.H * g.W,
                        &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, partials + item * part)
            for item in prange(0 if small or rows or flat else nchunks * K, schedule='static',
                               num_threads=nt):
                chunk = item // K
                k = item % K
                acc = partials + item * part
                memset(acc, 0, part * sizeof(floating))
                n0 = chunk * N // nchunks
                if floating is float:
                    fc_depthwise_backward_weight_plane_f32(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k // mult, 0, 0],
                        g.C * g.H * g.W, &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, acc, acc + RS)
                else:
                    fc_depthwise_backward_weight_plane_f64(
                        &g, (chunk + 1) * N // nchunks - n0, &x[n0, k // mult, 0, 0],
                        g.C * g.H * g.W, &grad_out[n0, k, 0, 0], K * g.Ho * g.Wo, acc, acc + RS)
            for k in prange(K, schedule='static', num_threads=nt):
                for i in range(part):
                    total = 0
                    for chunk in range(nchunks):
                        total = total + partials[(chunk * K + k) * part + i]
                    if i < RS:
                        dw[k * RS + i] = total
                    elif db != NULL:
                        db[k] = total
    finally:
        give_scratch(partials)


def _set_simd_path(int path):
    """Force a SIMD path in this module (codes of fc_simd_path); returns the code in force."""
    return fc_set_simd_path(path)
