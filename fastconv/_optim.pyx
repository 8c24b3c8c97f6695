# cython: language_level=3
"""Optimiser updates over a whole list of parameters in one call (fastconv/optimizers.py).

Per element the operations, in the order and with the rounding, of the NumPy expressions
they replace: a product is stored (a chunk at a time) before it is added, so no compiler
fuses the two into one multiply-add. Nothing is validated here: the caller passes
C-contiguous arrays of one dtype, each gradient (and velocity) shaped like its parameter.
"""
from cython cimport floating
from cython.parallel cimport prange
from cpython.buffer cimport (PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS,
                             PyBUF_FORMAT, PyBUF_WRITABLE)
from cpython.mem cimport PyMem_Malloc, PyMem_Free

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


cdef int _take(object a, Py_buffer *view, int writable) except -1:
    # a C-contiguous buffer of float32 or float64, any number of dimensions (no reshaped
    # array object per parameter: the list is a model's, dozens of small tensors)
    PyObject_GetBuffer(a, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT
                       | (PyBUF_WRITABLE if writable else 0))
    cdef char kind = view.format[0] if view.format != NULL else 0
    if not (view.itemsize == 4 and kind == c'f' or view.itemsize == 8 and kind == c'd') \
            or view.format[1] != 0:
        PyBuffer_Release(view)
        raise TypeError("sgd: parameters, gradients and velocities must be float32 or "
                        "float64 arrays")
    return 0


cdef void _sgd_buffers(Py_buffer *p, Py_buffer *g, Py_buffer *v, double lr, double momentum,
                       int nt) noexcept nogil:
    cdef Py_ssize_t n = p.len // p.itemsize
    if p.itemsize == 4:
        _sgd_all(<float *>p.buf, <const float *>g.buf, <float *>v.buf if v != NULL else NULL,
                 n, <float>lr, <float>momentum, nt)
    else:
        _sgd_all(<double *>p.buf, <const double *>g.buf, <double *>v.buf if v != NULL else NULL,
                 n, lr, momentum, nt)


cdef int _same_shape(Py_buffer *a, Py_buffer *b) noexcept:
    cdef int d
    if a.ndim != b.ndim or a.itemsize != b.itemsize or a.len != b.len:
        return 0
    for d in range(a.ndim):
        if a.shape[d] != b.shape[d]:
            return 0
    return 1


def sgd(list params, list grads, list velocities, double lr, double momentum,
        int num_threads=1):
    """Plain SGD (velocities None: p -= g * lr) or SGD with momentum (v = v * momentum -
    g * lr; p += v) over the parameters in order; lr and momentum rounded to each
    parameter's dtype first, as NumPy rounds a Python float against a float32 array.

    Returns True; or False, having changed nothing, unless every array is a C-contiguous
    float32 or float64 one, each gradient (and velocity) of its parameter's dtype and
    shape, parameters and velocities writable (the caller then takes NumPy's rule)."""
    cdef Py_ssize_t i, n = len(params), taken = 0
    cdef int nt = num_threads if num_threads > 0 else 1
    cdef int has_v = velocities is not None, per = 3 if velocities is not None else 2
    cdef bint ok = True
    cdef Py_buffer *views
    if len(grads) != n or has_v and len(velocities) != n:
        raise ValueError(f"sgd: {n} parameters, {len(grads)} gradients"
                         + (f", {len(velocities)} velocities" if has_v else ""))
    views = <Py_buffer *>PyMem_Malloc(per * max(n, 1) * sizeof(Py_buffer))
    if views == NULL:
        raise MemoryError("sgd: out of memory")
    try:
        # every buffer first: a list the kernel cannot take is left as it was
        for i in range(n):
            try:
                _take(params[i], &views[taken], 1)
                taken += 1
                _take(grads[i], &views[taken], 0)
                taken += 1
                if has_v:
                    _take(velocities[i], &views[taken], 1)
                    taken += 1
            except (TypeError, ValueError, BufferError):
                ok = False
                break
            if not _same_shape(&views[per * i], &views[per * i + 1]) or has_v and not \
                    _same_shape(&views[per * i], &views[per * i + 2]):
                ok = False
                break
        if ok:
            with nogil:
                for i in range(n):
                    _sgd_buffers(&views[per * i], &views[per * i + 1],
                                 &views[per * i + 2] if has_v else NULL, lr, momentum, nt)
    finally:
        for i in range(taken):
            PyBuffer_Release(&views[i])
        PyMem_Free(views)
    return ok
