# cython: language_level=3
"""Batch normalisation kernels over C-contiguous (N, C, HW) views (csrc/batchnorm.c).
Nothing is validated here (fastconv.functional.normalization does that); per-channel
arrays are float64 of length C. The kernels split their work into fixed units, so the
thread count never changes a result."""
from cython cimport floating
from fastconv._capi cimport *
from fastconv._runtime cimport ELEMENT_WORK, team_size


cdef inline int _threads(int requested, Py_ssize_t C, Py_ssize_t n) noexcept nogil:
    return team_size(requested, C if C > 1 else 2, ELEMENT_WORK * n)


cdef inline void _check(int status) except *:
    if status != 0:
        raise MemoryError("batch norm: out of memory for the kernels' scratch")


def forward_training(const floating[:, :, ::1] x, const double[::1] gamma, const double[::1] beta,
                     double eps, bint relu, y, double[::1] mean, double[::1] var,
                     double[::1] invstd, int num_threads, residual=None):
    """y = relu?((x - mean) * gamma * invstd + beta [+ residual]); fills mean, var (biased),
    invstd. y None: the statistics only. residual: None or an array shaped like x."""
    cdef fc_int N = x.shape[0], C = x.shape[1], HW = x.shape[2]
    cdef int nt = _threads(num_threads, C, N * C * HW), status
    cdef floating[:, :, ::1] yv
    cdef const floating[:, :, ::1] rv
    cdef floating *yp = NULL
    cdef const floating *rp = NULL
    if y is not None:
        yv = y
        yp = &yv[0, 0, 0]
    if residual is not None:
        rv = residual
        if rv.shape[0] != N or rv.shape[1] != C or rv.shape[2] != HW:
            raise ValueError("batch norm: the residual's shape differs from the input's")
        rp = &rv[0, 0, 0]
    with nogil:
        if floating is float:
            status = fc_batchnorm_forward_training_f32(&x[0, 0, 0], N, C, HW, &gamma[0], &beta[0],
                                                       eps, relu, rp, yp, &mean[0], &var[0],
                                                       &invstd[0], nt)
        else:
            status = fc_batchnorm_forward_training_f64(&x[0, 0, 0], N, C, HW, &gamma[0], &beta[0],
                                                       eps, relu, rp, yp, &mean[0], &var[0],
                                                       &invstd[0], nt)
    _check(status)


def update_running(floating[::1] running_mean, floating[::1] running_var,
                   const double[::1] mean, const double[::1] var, double momentum,
                   double unbias):
    """running = running * (1 - momentum) + momentum * batch statistic (var: times unbias),
    with NumPy's arithmetic for ``running *= 1 - momentum; running += momentum * stat``:
    the first product in the running statistics' type, the sum in float64, rounded back
    (bit for bit where the compiler keeps a product and a sum apart, as x86-64's baseline
    instruction set, without multiply-adds, does)."""
    cdef Py_ssize_t c, C = running_mean.shape[0]
    cdef floating keep = <floating>(1.0 - momentum)
    if running_var.shape[0] != C or mean.shape[0] != C or var.shape[0] != C:
        raise ValueError("batch norm: running statistics and batch statistics differ in length")
    for c in range(C):
        running_mean[c] = <floating>(<double>(running_mean[c] * keep) + momentum * mean[c])
        running_var[c] = <floating>(<double>(running_var[c] * keep)
                                    + (momentum * var[c]) * unbias)


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


def backward(const floating[:, :, ::1] grad_out, const floating[:, :, ::1] x, y,
             const double[::1] mean, const double[::1] invstd, const double[::1] gamma,
             bint training, floating[:, :, ::1] grad_x, double[::1] grad_gamma,
             double[::1] grad_beta, int num_threads, beta=None, masked_out=None):
    """Fills grad_x, grad_gamma, grad_beta; y (the fused ReLU's output) may be None.
    With y None, a beta (float64, C) and training, the ReLU mask is recomputed from x.
    masked_out (shaped like x; needs y): filled with grad_out masked by y > 0."""
    cdef fc_int N = x.shape[0], C = x.shape[1], HW = x.shape[2]
    cdef int nt = _threads(num_threads, C, N * C * HW), status
    cdef const floating[:, :, ::1] yv
    cdef const floating *yp = NULL
    cdef const double[::1] bv
    cdef const double *bp = NULL
    cdef floating[:, :, ::1] mv
    cdef floating *mp = NULL
    if y is not None:
        yv = y
        yp = &yv[0, 0, 0]
    elif beta is not None:
        bv = beta
        if bv.shape[0] != C:
            raise ValueError(f"batch norm backward: beta has {bv.shape[0]} values for {C} channels")
        bp = &bv[0]
    if masked_out is not None:
        mv = masked_out
        if mv.shape[0] != N or mv.shape[1] != C or mv.shape[2] != HW:
            raise ValueError("batch norm backward: masked_out's shape differs from x's")
        if yp == NULL:
            raise ValueError("batch norm backward: masked_out needs y, the ReLU's output")
        mp = &mv[0, 0, 0]
    with nogil:
        if floating is float:
            status = fc_batchnorm_backward_f32(&grad_out[0, 0, 0], &x[0, 0, 0], yp, bp, N, C, HW,
                                               &mean[0], &invstd[0], &gamma[0], training,
                                               &grad_x[0, 0, 0], mp, &grad_gamma[0],
                                               &grad_beta[0], nt)
        else:
            status = fc_batchnorm_backward_f64(&grad_out[0, 0, 0], &x[0, 0, 0], yp, bp, N, C, HW,
                                               &mean[0], &invstd[0], &gamma[0], training,
                                               &grad_x[0, 0, 0], mp, &grad_gamma[0],
                                               &grad_beta[0], nt)
    _check(status)


def simd_path_code():
    """The SIMD path (0 portable, 1 AVX2) this module's kernels use."""
    return fc_simd_path()


def _set_simd_path(int path):
    """Force path 0 (portable) or 1 (AVX2) in this module; returns the code in force."""
    return fc_set_simd_path(path)
