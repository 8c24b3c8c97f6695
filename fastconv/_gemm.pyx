# cython: language_level=3
"""C = A @ B (+ C when beta == 1) with fastconv's own packed GEMM, any strides."""
from cython cimport floating
from fastconv._capi cimport *


def gemm(const floating[:, :] a, const floating[:, :] b, floating[:, ::1] c, double beta, int num_threads):
    cdef fc_int m = a.shape[0], k = a.shape[1], n = b.shape[1]
    cdef fc_int isz = sizeof(floating)
    if m == 0 or n == 0:
        return
    with nogil:
        if floating is float:
            fc_gemm_f32(m, n, k, &a[0, 0] if k else NULL, a.strides[0] // isz, a.strides[1] // isz,
                        &b[0, 0] if k else NULL, b.strides[0] // isz, b.strides[1] // isz,
                        <float> beta, &c[0, 0], c.strides[0] // isz, num_threads)
        else:
            fc_gemm_f64(m, n, k, &a[0, 0] if k else NULL, a.strides[0] // isz, a.strides[1] // isz,
                        &b[0, 0] if k else NULL, b.strides[0] // isz, b.strides[1] // isz,
                        beta, &c[0, 0], c.strides[0] // isz, num_threads)



def linear_packed_bytes(Py_ssize_t units, Py_ssize_t inp, size_t itemsize):
    """Bytes of W^T packed by linear_pack (a 64-byte aligned buffer)."""
    if itemsize == 4:
        return fc_linear_packed_bytes_f32(units, inp)
    return fc_linear_packed_bytes_f64(units, inp)


def linear_pack(const floating[:, ::1] w, floating[::1] out):
    """Pack w (units, in) into out (64-byte aligned, linear_packed_bytes // itemsize elements)."""
    cdef fc_int units = w.shape[0], inp = w.shape[1]
    if units == 0 or inp == 0:
        return
    with nogil:
        if floating is float:
            fc_linear_pack_f32(units, inp, &w[0, 0], &out[0])
        else:
            fc_linear_pack_f64(units, inp, &w[0, 0], &out[0])


def linear_packed(const floating[:, ::1] x, const floating[::1] wp, Py_ssize_t units,
                  const floating[::1] bias, floating[:, ::1] y, int num_threads):
    """y = x @ w.T (+ bias) with w packed by linear_pack: bitwise gemm's result."""
    cdef fc_int n = x.shape[0], inp = x.shape[1]
    cdef const floating *bp = NULL
    if n == 0 or units == 0:
        return
    if bias is not None:
        bp = &bias[0]
    with nogil:
        if floating is float:
            fc_linear_packed_f32(n, units, inp, &x[0, 0] if inp else NULL, &wp[0], bp,
                                 &y[0, 0], num_threads)
        else:
            fc_linear_packed_f64(n, units, inp, &x[0, 0] if inp else NULL, &wp[0], bp,
                                 &y[0, 0], num_threads)


def _set_simd_path(int path):
    return fc_set_simd_path(path)
