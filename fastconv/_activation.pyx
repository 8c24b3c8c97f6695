# cython: language_level=3
"""Element-wise activations over flat C-contiguous buffers, split into equal
blocks across OpenMP threads (order does not matter: no reductions)."""
from cython cimport floating
from cython.parallel cimport prange
from fastconv._capi cimport *
from fastconv._runtime cimport ELEMENT_WORK, team_size


# The C enum fc_activation (csrc/fastconv.h) by lower-case name: the Python tier reads
# the codes from here, so the header is their single definition.
CODES = {
    "none": FC_ACT_NONE,
    "relu": FC_ACT_RELU,
    "leaky_relu": FC_ACT_LEAKY_RELU,
    "sigmoid": FC_ACT_SIGMOID,
    "tanh": FC_ACT_TANH,
    "elu": FC_ACT_ELU,
    "relu6": FC_ACT_RELU6,
    "hardsigmoid": FC_ACT_HARDSIGMOID,
    "hardswish": FC_ACT_HARDSWISH,
    "silu": FC_ACT_SILU,
    "gelu": FC_ACT_GELU,
    "gelu_tanh": FC_ACT_GELU_TANH,
}


cdef inline Py_ssize_t _nblocks(Py_ssize_t n, int num_threads) noexcept nogil:
    return team_size(num_threads, num_threads, ELEMENT_WORK * n)


def forward(int act, double param, const floating[::1] x, floating[::1] y, int num_threads):
    """y = act(x); y may be x (csrc/forward_team.c)."""
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            fc_activation_forward_team_f32(act, <float> param, &x[0], &y[0], x.shape[0],
                                           num_threads)
        else:
            fc_activation_forward_team_f64(act, param, &x[0], &y[0], x.shape[0], num_threads)


def add_forward(int act, double param, const floating[::1] a, const floating[::1] b,
                floating[::1] y, int num_threads):
    """y = act(a + b), element by element (csrc/forward_team.c); y may be a or b."""
    if a.shape[0] != b.shape[0] or y.shape[0] != a.shape[0]:
        raise ValueError(f"add_forward: lengths {a.shape[0]}, {b.shape[0]} and {y.shape[0]} "
                         f"differ")
    if a.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            fc_add_forward_team_f32(&a[0], &b[0], &y[0], a.shape[0], act, <float> param,
                                    num_threads)
        else:
            fc_add_forward_team_f64(&a[0], &b[0], &y[0], a.shape[0], act, param, num_threads)


def backward(int act, double param, const floating[::1] x, const floating[::1] grad_out,
             floating[::1] grad_x, int num_threads):
    """grad_x = grad_out * act'(x)."""
    cdef Py_ssize_t n = x.shape[0], nb = _nblocks(n, num_threads), b, lo, hi
    if n == 0:
        return
    for b in prange(nb, nogil=True, schedule='static', num_threads=nb):
        lo = b * n // nb
        hi = (b + 1) * n // nb
        if floating is float:
            fc_activation_backward_f32(act, <float> param, &x[lo], &grad_out[lo], &grad_x[lo], hi - lo)
        else:
            fc_activation_backward_f64(act, param, &x[lo], &grad_out[lo], &grad_x[lo], hi - lo)


def softplus_forward(double beta, double threshold, const floating[::1] x, floating[::1] y,
                     int num_threads):
    """y = softplus(x) with PyTorch's beta and threshold; y may be x."""
    cdef Py_ssize_t n = x.shape[0], nb = _nblocks(n, num_threads), b, lo, hi
    if n == 0:
        return
    for b in prange(nb, nogil=True, schedule='static', num_threads=nb):
        lo = b * n // nb
        hi = (b + 1) * n // nb
        if floating is float:
            fc_softplus_forward_f32(<float> beta, <float> threshold, &x[lo], &y[lo], hi - lo)
        else:
            fc_softplus_forward_f64(beta, threshold, &x[lo], &y[lo], hi - lo)


def softplus_backward(double beta, double threshold, const floating[::1] x,
                      const floating[::1] grad_out, floating[::1] grad_x, int num_threads):
    cdef Py_ssize_t n = x.shape[0], nb = _nblocks(n, num_threads), b, lo, hi
    if n == 0:
        return
    for b in prange(nb, nogil=True, schedule='static', num_threads=nb):
        lo = b * n // nb
        hi = (b + 1) * n // nb
        if floating is float:
            fc_softplus_backward_f32(<float> beta, <float> threshold, &x[lo], &grad_out[lo],
                                     &grad_x[lo], hi - lo)
        else:
            fc_softplus_backward_f64(beta, threshold, &x[lo], &grad_out[lo], &grad_x[lo], hi - lo)


def maxout_forward(const floating[:, :, ::1] x, Py_ssize_t pieces, floating[:, :, ::1] y,
                   int num_threads):
    """x viewed as (N, C, HW); y (N, C // pieces, HW)."""
    cdef Py_ssize_t N = x.shape[0], n
    for n in prange(N, nogil=True, schedule='static', num_threads=num_threads):
        if floating is float:
            fc_maxout_forward_f32(&x[n, 0, 0], &y[n, 0, 0], x.shape[1], x.shape[2], pieces)
        else:
            fc_maxout_forward_f64(&x[n, 0, 0], &y[n, 0, 0], x.shape[1], x.shape[2], pieces)


def maxout_backward(const floating[:, :, ::1] x, const floating[:, :, ::1] grad_out, Py_ssize_t pieces,
                    floating[:, :, ::1] grad_x, int num_threads):
    cdef Py_ssize_t N = x.shape[0], n
    for n in prange(N, nogil=True, schedule='static', num_threads=num_threads):
        if floating is float:
            fc_maxout_backward_f32(&x[n, 0, 0], &grad_out[n, 0, 0], &grad_x[n, 0, 0],
                                   x.shape[1], x.shape[2], pieces)
        else:
            fc_maxout_backward_f64(&x[n, 0, 0], &grad_out[n, 0, 0], &grad_x[n, 0, 0],
                                   x.shape[1], x.shape[2], pieces)


def _set_simd_path(int path):
    """Force a SIMD path in this module (codes of fc_simd_path); returns the code in force."""
    return fc_set_simd_path(path)
