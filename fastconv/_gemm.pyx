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



def gemv(const floating[:, ::1] x, const floating[:, ::1] w, const floating[::1] bias,
         floating[:, ::1] y, int num_threads):
    """y = x @ w.T (+ bias) streaming w (units, in) once: for a few rows of x."""
    cdef fc_int n = x.shape[0], units = w.shape[0], inp = w.shape[1]
    cdef const floating *bp = NULL
    if n == 0 or units == 0:
        return
    if bias is not None:
        bp = &bias[0]
    with nogil:
        if floating is float:
            fc_gemv_f32(n, units, inp, &x[0, 0] if inp else NULL, &w[0, 0] if inp else NULL,
                        bp, &y[0, 0], num_threads)
        else:
            fc_gemv_f64(n, units, inp, &x[0, 0] if inp else NULL, &w[0, 0] if inp else NULL,
                        bp, &y[0, 0], num_threads)

def _set_simd_path(int path):
    return fc_set_simd_path(path)
