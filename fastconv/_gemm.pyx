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


def _set_simd_path(int path):
    return fc_set_simd_path(path)
