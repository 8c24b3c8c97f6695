# cython: language_level=3
"""Optimiser updates over a whole list of parameters in one call (fastconv/optimizers.py).

Per element the operations, in the order and with the rounding, of the NumPy expressions
they replace: a product is stored (a chunk at a time) before it is added, so no compiler
fuses the two into one multiply-add. Nothing is validated here: the caller passes
C-contiguous arrays of one dtype, each gradient (and velocity) shaped like its parameter.
"""
from cython cimport floating
from cython.parallel cimport prange

cdef enum:
    CHUNK = 512


cdef inline void _sgd_chunk(floating *p, const floating *g, Py_ssize_t m,
                            floating lr) noexcept nogil:
    # p -= g * lr
    cdef floating s[CHUNK]
    cdef Py_ssize_t i
    for i in range(m):
        s[i] = g[i] * lr
    for i in range(m):
        p[i] = p[i] - s[i]


cdef inline void _sgd_momentum_chunk(floating *p, const floating *g, floating *v, Py_ssize_t m,
                                     floating lr, floating momentum) noexcept nogil:
    # v *= momentum; v -= g * lr; p += v
    cdef floating s[CHUNK]
    cdef Py_ssize_t i
    for i in range(m):
        s[i] = g[i] * lr
    for i in range(m):
        v[i] = v[i] * momentum
    for i in range(m):
        v[i] = v[i] - s[i]
        p[i] = p[i] + v[i]


cdef inline void _sgd_piece(floating *p, const floating *g, floating *v, Py_ssize_t n,
                            Py_ssize_t c, floating lr, floating momentum) noexcept nogil:
    # chunk c of the tensor
    cdef Py_ssize_t i0 = c * CHUNK
    cdef Py_ssize_t m = n - i0 if n - i0 < CHUNK else CHUNK
    if v == NULL:
        _sgd_chunk(p + i0, g + i0, m, lr)
    else:
        _sgd_momentum_chunk(p + i0, g + i0, v + i0, m, lr, momentum)


cdef void _sgd_all(floating *p, const floating *g, floating *v, Py_ssize_t n, floating lr,
                   floating momentum, int nt) noexcept nogil:
    cdef Py_ssize_t c, chunks = (n + CHUNK - 1) // CHUNK
    # elementwise: any split gives the same bits; a team only where it pays (most of a
    # model's tensors -- biases, batch-norm scales -- take one thread, with no team)
    if chunks < 64 or nt <= 1:
        for c in range(chunks):
            _sgd_piece(p, g, v, n, c, lr, momentum)
        return
    for c in prange(chunks, num_threads=nt, schedule="static"):
        _sgd_piece(p, g, v, n, c, lr, momentum)


def _run_sgd(floating[::1] p, const floating[::1] g, double lr, int nt):
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n:
        raise ValueError("sgd: a gradient differs in size from its parameter")
    if n:
        with nogil:
            _sgd_all(&p[0], &g[0], NULL, n, <floating>lr, 0, nt)


def _run_sgd_momentum(floating[::1] p, const floating[::1] g, floating[::1] v, double lr,
                      double momentum, int nt):
    cdef Py_ssize_t n = p.shape[0]
    if g.shape[0] != n or v.shape[0] != n:
        raise ValueError("sgd: a gradient or velocity differs in size from its parameter")
    if n:
        with nogil:
            _sgd_all(&p[0], &g[0], &v[0], n, <floating>lr, <floating>momentum, nt)


def sgd(list params, list grads, list velocities, double lr, double momentum,
        int num_threads=1):
    """Plain SGD (velocities None: p -= g * lr) or SGD with momentum (v = v * momentum -
    g * lr; p += v) over the parameters in order; lr and momentum rounded to each
    parameter's dtype first, as NumPy rounds a Python float against a float32 array."""
    cdef Py_ssize_t i
    cdef int nt = num_threads if num_threads > 0 else 1
    for i in range(len(params)):
        if velocities is None:
            _run_sgd(params[i].reshape(-1), grads[i].reshape(-1), lr, nt)
        else:
            _run_sgd_momentum(params[i].reshape(-1), grads[i].reshape(-1),
                              velocities[i].reshape(-1), lr, momentum, nt)
