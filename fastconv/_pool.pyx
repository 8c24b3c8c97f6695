# cython: language_level=3
"""Pooling over a batch: OpenMP over the N*C planes, one C kernel call per plane.

Arguments are trusted (validated by fastconv.functional). `geometry` is
(H, W, Ho, Wo, kh, kw, stride_h, stride_w, pad_h, pad_w, pad_bottom, pad_right,
dil_h, dil_w), pad_h / pad_w being the top / left padding.
"""
from cython cimport floating
from cython.parallel cimport prange
from fastconv._capi cimport *
from fastconv._runtime cimport ELEMENT_WORK, team_size


cdef fc_pool_geom make_pool_geom(tuple geometry, bint count_include_pad):
    cdef fc_pool_geom g
    (g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
     g.pad_bottom, g.pad_right, g.dil_h, g.dil_w) = geometry
    g.count_include_pad = count_include_pad
    return g


cdef inline int _team(const fc_pool_geom *g, Py_ssize_t planes, int num_threads) noexcept nogil:
    """Threads for a pass over `planes` planes of the input."""
    return team_size(num_threads, planes, <double> ELEMENT_WORK * planes * g.H * g.W)


def max_forward(const floating[:, :, :, ::1] x, tuple geometry, floating[:, :, :, ::1] y,
                int num_threads):
    _forward_team(x, make_pool_geom(geometry, False), True, y, num_threads)


cdef void _forward_team(const floating[:, :, :, ::1] x, fc_pool_geom g, bint is_max,
                        floating[:, :, :, ::1] y, int num_threads) noexcept:
    """The batch driver of csrc/forward_team.c over the N*C planes."""
    cdef fc_int planes = x.shape[0] * x.shape[1]
    if planes == 0:
        return
    with nogil:
        if floating is float:
            fc_pool2d_forward_team_f32(&g, is_max, planes, &x[0, 0, 0, 0], &y[0, 0, 0, 0],
                                       num_threads)
        else:
            fc_pool2d_forward_team_f64(&g, is_max, planes, &x[0, 0, 0, 0], &y[0, 0, 0, 0],
                                       num_threads)


def max_backward(const floating[:, :, :, ::1] grad_out, const floating[:, :, :, ::1] x, tuple geometry,
                 floating[:, :, :, ::1] grad_x, int num_threads, bint relu_mask=False):
    """relu_mask: x is a ReLU's output and grad_x also goes back through that ReLU
    (kept where x > 0), each plane masked while it is in cache -- bitwise
    relu_backward(max_backward(...), x) without a second pass over the whole map."""
    cdef fc_pool_geom g = make_pool_geom(geometry, False)
    cdef Py_ssize_t C = x.shape[1], planes = x.shape[0] * x.shape[1], p
    cdef fc_int hw = g.H * g.W
    for p in prange(planes, nogil=True, schedule='static',
                   num_threads=_team(&g, planes, num_threads)):
        if floating is float:
            fc_max_pool2d_backward_f32(&g, &x[p // C, p % C, 0, 0], &grad_out[p // C, p % C, 0, 0],
                                       &grad_x[p // C, p % C, 0, 0])
            if relu_mask:
                fc_activation_backward_f32(FC_ACT_RELU, 0, &x[p // C, p % C, 0, 0],
                                           &grad_x[p // C, p % C, 0, 0],
                                           &grad_x[p // C, p % C, 0, 0], hw)
        else:
            fc_max_pool2d_backward_f64(&g, &x[p // C, p % C, 0, 0], &grad_out[p // C, p % C, 0, 0],
                                       &grad_x[p // C, p % C, 0, 0])
            if relu_mask:
                fc_activation_backward_f64(FC_ACT_RELU, 0, &x[p // C, p % C, 0, 0],
                                           &grad_x[p // C, p % C, 0, 0],
                                           &grad_x[p // C, p % C, 0, 0], hw)


def avg_forward(const floating[:, :, :, ::1] x, tuple geometry, bint count_include_pad,
                floating[:, :, :, ::1] y, int num_threads):
    _forward_team(x, make_pool_geom(geometry, count_include_pad), False, y, num_threads)


def avg_backward(const floating[:, :, :, ::1] grad_out, tuple geometry, bint count_include_pad,
                 floating[:, :, :, ::1] grad_x, int num_threads):
    cdef fc_pool_geom g = make_pool_geom(geometry, count_include_pad)
    cdef Py_ssize_t C = grad_x.shape[1], planes = grad_x.shape[0] * grad_x.shape[1], p
    for p in prange(planes, nogil=True, schedule='static',
                   num_threads=_team(&g, planes, num_threads)):
        if floating is float:
            fc_avg_pool2d_backward_f32(&g, &grad_out[p // C, p % C, 0, 0], &grad_x[p // C, p % C, 0, 0])
        else:
            fc_avg_pool2d_backward_f64(&g, &grad_out[p // C, p % C, 0, 0], &grad_x[p // C, p % C, 0, 0])


def plane_means(const floating[:, ::1] x, floating[::1] y, int num_threads):
    """y[i] = mean of row i of x (global average pooling of (N*C, H*W) planes).

    Each row is summed in a fixed order, whatever the thread count: 8 running sums over
    the elements i = j (mod 8), added pairwise at the end, then the short tail -- the
    order NumPy's own pairwise summation uses for a block of up to 128 elements, and
    close to it above (csrc/forward_team.c)."""
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            fc_plane_means_team_f32(x.shape[0], x.shape[1], &x[0, 0], &y[0], num_threads)
        else:
            fc_plane_means_team_f64(x.shape[0], x.shape[1], &x[0, 0], &y[0], num_threads)


def plane_fill(const floating[::1] v, floating scale, floating[:, ::1] y, int num_threads):
    """y[i, :] = v[i] * scale (the gradient of global average pooling over (N*C, H*W)
    planes), the product rounded once as NumPy's ``v * scale`` rounds it."""
    if y.shape[0] != v.shape[0]:
        raise ValueError(f"plane_fill: {v.shape[0]} values for {y.shape[0]} rows")
    if y.shape[0] == 0 or y.shape[1] == 0:
        return
    with nogil:
        if floating is float:
            fc_plane_fill_team_f32(y.shape[0], y.shape[1], &v[0], scale, &y[0, 0], num_threads)
        else:
            fc_plane_fill_team_f64(y.shape[0], y.shape[1], &v[0], scale, &y[0, 0], num_threads)


def _set_simd_path(int path):
    """Force a SIMD path in this module (codes of fc_simd_path); returns the code in force."""
    return fc_set_simd_path(path)
