# cython: language_level=3
"""Batch normalisation kernels (csrc/batchnorm.c) on C-contiguous (N, C, H, W) batches.
The training passes take a batch, its parameters in its own dtype and the statistics in
float64 (length C), and make their outputs here: one call a pass, which a layer makes at
every training step. Shapes are checked; values are not (fastconv.functional.normalization
does that). The kernels split their work into fixed units, so the thread count never
changes a result."""
from cython cimport floating
from libc.stdlib cimport malloc, free
from fastconv._capi cimport *

import numpy as np
from fastconv._runtime cimport ELEMENT_WORK, team_size


cdef inline int _threads(int requested, Py_ssize_t C, Py_ssize_t n) noexcept nogil:
    return team_size(requested, C if C > 1 else 2, ELEMENT_WORK * n)


cdef inline void _check(int status) except *:
    if status != 0:
        raise MemoryError("batch norm: out of memory for the kernels' scratch")


ctypedef fused stat_t:
    float
    double


cdef int _update_running(stat_t[::1] running_mean, stat_t[::1] running_var,
                         const double *mean, const double *var, double momentum,
                         double unbias) except -1:
    """running = running * (1 - momentum) + momentum * batch statistic (var: times unbias),
    with NumPy's arithmetic for ``running *= 1 - momentum; running += momentum * stat``:
    the first product in the running statistics' type, the sum in float64, rounded back
    (bit for bit where the compiler keeps a product and a sum apart, as x86-64's baseline
    instruction set, without multiply-adds, does). mean and var: C values each."""
    cdef Py_ssize_t c, C = running_mean.shape[0]
    cdef stat_t keep = <stat_t>(1.0 - momentum)
    for c in range(C):
        running_mean[c] = <stat_t>(<double>(running_mean[c] * keep) + momentum * mean[c])
        running_var[c] = <stat_t>(<double>(running_var[c] * keep)
                                  + (momentum * var[c]) * unbias)
    return 0


def forward_inference(const floating[:, :, ::1] x, const double[::1] mean, const double[::1] scale,
                      const double[::1] shift, bint relu, floating[:, :, ::1] y, int num_threads):
    """y = relu?((x - mean) * scale + shift)."""
    cdef fc_int N = x.shape[0], C = x.shape[1], HW = x.shape[2]
    cdef int nt = _threads(num_threads, N, N * C * HW), status
    with nogil:
        if floating is float:
            status = fc_batchnorm_forward_inference_f32(&x[0, 0, 0], N, C, HW, &mean[0], &scale[0],
                                                        &shift[0], relu, &y[0, 0, 0], nt)
        else:
            status = fc_batchnorm_forward_inference_f64(&x[0, 0, 0], N, C, HW, &mean[0], &scale[0],
                                                        &shift[0], relu, &y[0, 0, 0], nt)
    _check(status)


cdef inline bint _same4(const Py_ssize_t *a, const Py_ssize_t *b) noexcept:
    # two 4-d memoryviews' shapes
    return a[0] == b[0] and a[1] == b[1] and a[2] == b[2] and a[3] == b[3]


cdef tuple _shape4(const Py_ssize_t *s):
    return (s[0], s[1], s[2], s[3])


cdef const floating *_batch_like(object a, const floating[:, :, :, ::1] x,
                                 str what) except NULL:
    # the data of a C-contiguous array shaped like x, of its dtype (the caller holds a)
    cdef const floating[:, :, :, ::1] v = a
    if not _same4(v.shape, x.shape):
        raise ValueError(f"batch norm: {what}'s shape {_shape4(v.shape)} differs from "
                         f"x's {_shape4(x.shape)}")
    return &v[0, 0, 0, 0]


cdef double *_f64_copy(const floating[::1] a, Py_ssize_t C) except NULL:
    # the per-channel parameters in float64 (exact, as NumPy's astype), for the kernels
    cdef double *out = <double *>malloc(max(C, 1) * sizeof(double))
    cdef Py_ssize_t c
    if out == NULL:
        raise MemoryError("batch norm: out of memory")
    for c in range(C):
        out[c] = a[c]
    return out


def train_forward(const floating[:, :, :, ::1] x, gamma, beta, double eps, bint relu,
                  int num_threads, residual=None, running_mean=None, running_var=None,
                  double momentum=0.0, double unbias=1.0):
    """Training forward of a non-empty (N, C, H, W) batch on parameters of its dtype
    (checked by the caller): returns ``(y, stats)``, ``y = relu?((x - mean) * gamma *
    invstd + beta [+ residual])`` a new array and ``stats`` a new (3, C) float64 array of
    the batch mean, biased variance and invstd. gamma None: the statistics only (y None).
    With ``running_mean`` and ``running_var`` (C-contiguous, one float dtype): those
    updated in place, ``running = running * (1 - momentum) + momentum * stat`` (the
    variance's stat times ``unbias``) with NumPy's roundings (_update_running)."""
    cdef fc_int N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3]
    cdef const floating[::1] gv, bv
    cdef int want_y = gamma is not None
    if want_y:
        gv, bv = gamma, beta
        if gv.shape[0] != C or bv.shape[0] != C:
            raise ValueError(f"batch norm: gamma / beta have {gv.shape[0]} / {bv.shape[0]} "
                             f"values for {C} channels")
    cdef int nt = _threads(num_threads, C, N * C * HW), status
    cdef const floating *rp = NULL
    if residual is not None:
        rp = _batch_like(residual, x, "the residual")
    y_arr = None
    cdef floating[:, :, :, ::1] y
    cdef floating *yp = NULL
    if want_y:
        y_arr = np.empty((N, C, x.shape[2], x.shape[3]),
                         dtype=np.float32 if floating is float else np.float64)
        y = y_arr
        yp = &y[0, 0, 0, 0]
    stats_arr = np.empty((3, C))
    cdef double[:, ::1] st = stats_arr
    cdef double *g64 = NULL
    cdef double *b64 = NULL
    try:
        if want_y:
            g64 = _f64_copy(gv, C)
            b64 = _f64_copy(bv, C)
        with nogil:
            if floating is float:
                status = fc_batchnorm_forward_training_f32(&x[0, 0, 0, 0], N, C, HW, g64, b64,
                                                           eps, relu, rp, yp, &st[0, 0],
                                                           &st[1, 0], &st[2, 0], nt)
            else:
                status = fc_batchnorm_forward_training_f64(&x[0, 0, 0, 0], N, C, HW, g64, b64,
                                                           eps, relu, rp, yp, &st[0, 0],
                                                           &st[1, 0], &st[2, 0], nt)
    finally:
        free(g64)
        free(b64)
    _check(status)
    if running_mean is not None:
        if running_var.shape != (C,) or running_mean.shape != (C,):
            raise ValueError("batch norm: running statistics and batch statistics differ "
                             "in length")
        if running_mean.dtype == np.float32:
            _update_running[float](running_mean, running_var, &st[0, 0], &st[1, 0],
                                   momentum, unbias)
        else:
            _update_running[double](running_mean, running_var, &st[0, 0], &st[1, 0],
                                    momentum, unbias)
    return y_arr, stats_arr


def train_backward(const floating[:, :, :, ::1] grad_out, const floating[:, :, :, ::1] x,
                   const double[::1] mean, const double[::1] invstd,
                   const floating[::1] gamma, bint training, int num_threads, y=None,
                   relu_beta=None, bint masked=False, out=None, masked_out=None):
    """``backward`` on a non-empty (N, C, H, W) batch with parameters of its dtype, the
    outputs made here: returns ``(grad_x, grad_gamma, grad_beta[, masked_out])``, the
    parameter gradients rounded to the batch's dtype (as ``astype``). ``relu_beta`` (the
    forward's beta, with y None): the ReLU's mask recomputed from x; ``masked`` (needs y):
    also the gradient masked by y > 0, written by the pass that sums it. ``out`` (without
    ``masked``): a C-contiguous array shaped like x, of its dtype, that grad_x is written
    to and returned as -- ``grad_out`` itself when the caller no longer needs it: each
    element of grad_out is read before grad_x's element at the same place is written, and
    writing over data already in cache spares a fresh buffer's memory traffic.
    ``masked_out`` (with ``masked``): the same for the masked gradient -- the second pass
    reads that one instead of grad_out."""
    cdef fc_int N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3]
    cdef Py_ssize_t c
    if not _same4(grad_out.shape, x.shape):
        raise ValueError(f"batch norm: grad_out's shape {_shape4(grad_out.shape)} differs "
                         f"from x's {_shape4(x.shape)}")
    if gamma.shape[0] != C or mean.shape[0] != C or invstd.shape[0] != C:
        raise ValueError(f"batch norm backward: per-channel arrays of {C} values expected")
    cdef int nt = _threads(num_threads, C, N * C * HW), status
    cdef const floating *yp = NULL
    cdef floating *mp = NULL
    cdef floating[:, :, :, ::1] mv
    dtype = np.float32 if floating is float else np.float64
    if y is not None:
        yp = _batch_like(y, x, "y")
    masked_arr = None
    if masked_out is not None and not masked:
        raise ValueError("batch norm backward: masked_out needs masked")
    if masked:
        if yp == NULL:
            raise ValueError("batch norm backward: the masked gradient needs y, the ReLU's output")
        if masked_out is None:
            masked_arr = np.empty((N, C, x.shape[2], x.shape[3]), dtype=dtype)
        else:
            masked_arr = masked_out
            _batch_like(masked_arr, x, "masked_out")
        mv = masked_arr
        mp = &mv[0, 0, 0, 0]
    if out is None:
        gx_arr = np.empty((N, C, x.shape[2], x.shape[3]), dtype=dtype)
    elif masked:
        raise ValueError("batch norm backward: out and masked exclude each other")
    else:
        gx_arr = out
        _batch_like(gx_arr, x, "out")
    cdef floating[:, :, :, ::1] gx = gx_arr
    cdef double *sums = <double *>malloc(2 * max(C, 1) * sizeof(double))
    cdef double *g64 = NULL
    cdef double *b64 = NULL
    cdef floating[::1] gg, gb
    cdef const floating[::1] bv
    if sums == NULL:
        raise MemoryError("batch norm backward: out of memory")
    try:
        g64 = _f64_copy(gamma, C)
        if relu_beta is not None and yp == NULL:
            bv = relu_beta
            if bv.shape[0] != C:
                raise ValueError(f"batch norm backward: beta has {bv.shape[0]} values for {C} "
                                 f"channels")
            b64 = _f64_copy(bv, C)
        with nogil:
            if floating is float:
                status = fc_batchnorm_backward_f32(&grad_out[0, 0, 0, 0], &x[0, 0, 0, 0], yp, b64,
                                                   N, C, HW, &mean[0], &invstd[0], g64, training,
                                                   &gx[0, 0, 0, 0], mp, sums, sums + C, nt)
            else:
                status = fc_batchnorm_backward_f64(&grad_out[0, 0, 0, 0], &x[0, 0, 0, 0], yp, b64,
                                                   N, C, HW, &mean[0], &invstd[0], g64, training,
                                                   &gx[0, 0, 0, 0], mp, sums, sums + C, nt)
        _check(status)
        gg_arr, gb_arr = np.empty(C, dtype=dtype), np.empty(C, dtype=dtype)
        gg, gb = gg_arr, gb_arr
        for c in range(C):
            gg[c] = <floating>sums[c]
            gb[c] = <floating>sums[C + c]
    finally:
        free(sums)
        free(g64)
        free(b64)
    if masked:
        return gx_arr, gg_arr, gb_arr, masked_arr
    return gx_arr, gg_arr, gb_arr


def simd_path_code():
    """The SIMD path (0 portable, 1 AVX2) this module's kernels use."""
    return fc_simd_path()


def _set_simd_path(int path):
    """Force path 0 (portable) or 1 (AVX2) in this module; returns the code in force."""
    return fc_set_simd_path(path)
