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
    cdef fc_pool_geom g = make_pool_geom(geometry, False)
    cdef Py_ssize_t C = x.shape[1], planes = x.shape[0] * x.shape[1], p
    for p in prange(planes, nogil=True, schedule='static',
                   num_threads=_team(&g, planes, num_threads)):
        if floating is float:
            fc_max_pool2d_forward_f32(&g, &x[p // C, p % C, 0, 0], &y[p // C, p % C, 0, 0])
        else:
            fc_max_pool2d_forward_f64(&g, &x[p // C, p % C, 0, 0], &y[p // C, p % C, 0, 0])


def max_backward(const floating[:, :, :, ::1] grad_out, const floating[:, :, :, ::1] x, tuple geometry,
                 floating[:, :, :, ::1] grad_x, int num_threads):
    cdef fc_pool_geom g = make_pool_geom(geometry, False)
    cdef Py_ssize_t C = x.shape[1], planes = x.shape[0] * x.shape[1], p
    for p in prange(planes, nogil=True, schedule='static',
                   num_threads=_team(&g, planes, num_threads)):
        if floating is float:
            fc_max_pool2d_backward_f32(&g, &x[p // C, p % C, 0, 0], &grad_out[p // C, p % C, 0, 0],
                                       &grad_x[p // C, p % C, 0, 0])
        else:
            fc_max_pool2d_backward_f64(&g, &x[p // C, p % C, 0, 0], &grad_out[p // C, p % C, 0, 0],
                                       &grad_x[p // C, p % C, 0, 0])


def avg_forward(const floating[:, :, :, ::1] x, tuple geometry, bint count_include_pad,
                floating[:, :, :, ::1] y, int num_threads):
    cdef fc_pool_geom g = make_pool_geom(geometry, count_include_pad)
    cdef Py_ssize_t C = x.shape[1], planes = x.shape[0] * x.shape[1], p
    for p in prange(planes, nogil=True, schedule='static',
                   num_threads=_team(&g, planes, num_threads)):
        if floating is float:
            fc_avg_pool2d_forward_f32(&g, &x[p // C, p % C, 0, 0], &y[p // C, p % C, 0, 0])
        else:
            fc_avg_pool2d_forward_f64(&g, &x[p // C, p % C, 0, 0], &y[p // C, p % C, 0, 0])


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
    close to it above."""
    cdef Py_ssize_t rows = x.shape[0], n = x.shape[1], r, j, j8
    cdef int nt = team_size(num_threads, rows, <double> ELEMENT_WORK * rows * n)
    cdef floating s0, s1, s2, s3, s4, s5, s6, s7, total
    cdef floating scale = <floating> (1.0 / n) if n else <floating> 0
    cdef const floating *row
    if rows == 0:
        return
    j8 = n - n % 8
    with nogil:
        for r in prange(rows, schedule='static', num_threads=nt):
            row = &x[r, 0]
            if n < 8:
                total = 0
                for j in range(n):
                    total = total + row[j]
            else:
                s0 = row[0]; s1 = row[1]; s2 = row[2]; s3 = row[3]
                s4 = row[4]; s5 = row[5]; s6 = row[6]; s7 = row[7]
                for j in range(8, j8, 8):
                    s0 = s0 + row[j]; s1 = s1 + row[j + 1]; s2 = s2 + row[j + 2]
                    s3 = s3 + row[j + 3]; s4 = s4 + row[j + 4]; s5 = s5 + row[j + 5]
                    s6 = s6 + row[j + 6]; s7 = s7 + row[j + 7]
                total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
                for j in range(j8, n):
                    total = total + row[j]
            y[r] = total * scale
