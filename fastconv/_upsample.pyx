# cython: language_level=3
"""Upsampling over a batch of NCHW planes: one C call per batch, which opens its own
OpenMP region over the N*C planes (the index tables are built once per call).

Arguments are trusted (validated by fastconv.functional). `geometry` is
(Ho, Wo, bilinear, align_corners, scale_h, scale_w), the scales 0 when the size was given.
"""
from cython cimport floating
from fastconv._capi cimport *
from fastconv._runtime cimport ELEMENT_WORK, team_size

NEAREST = FC_UPSAMPLE_NEAREST
BILINEAR = FC_UPSAMPLE_BILINEAR


cdef fc_upsample_geom _geom(Py_ssize_t H, Py_ssize_t W, tuple geometry):
    cdef fc_upsample_geom g
    g.H, g.W = H, W
    (g.Ho, g.Wo, g.mode, g.align_corners, g.scale_h, g.scale_w) = geometry
    return g


def forward(const floating[:, :, :, ::1] x, tuple geometry, floating[:, :, :, ::1] y,
            int num_threads):
    cdef fc_upsample_geom g = _geom(x.shape[2], x.shape[3], geometry)
    cdef Py_ssize_t planes = x.shape[0] * x.shape[1]
    cdef int nt = team_size(num_threads, planes, <double> ELEMENT_WORK * planes * g.Ho * g.Wo)
    cdef int rc
    if planes == 0:
        return
    with nogil:
        if floating is float:
            rc = fc_upsample2d_forward_f32(&g, planes, &x[0, 0, 0, 0], &y[0, 0, 0, 0], nt)
        else:
            rc = fc_upsample2d_forward_f64(&g, planes, &x[0, 0, 0, 0], &y[0, 0, 0, 0], nt)
    if rc:
        raise MemoryError(f"interpolate: no memory for the index tables of a {g.Ho}x{g.Wo} output")


def backward(const floating[:, :, :, ::1] grad_out, tuple geometry, floating[:, :, :, ::1] grad_x,
             int num_threads):
    cdef fc_upsample_geom g = _geom(grad_x.shape[2], grad_x.shape[3], geometry)
    cdef Py_ssize_t planes = grad_x.shape[0] * grad_x.shape[1]
    cdef int nt = team_size(num_threads, planes, <double> ELEMENT_WORK * planes * g.Ho * g.Wo)
    cdef int rc
    if planes == 0:
        return
    with nogil:
        if floating is float:
            rc = fc_upsample2d_backward_f32(&g, planes, &grad_out[0, 0, 0, 0], &grad_x[0, 0, 0, 0], nt)
        else:
            rc = fc_upsample2d_backward_f64(&g, planes, &grad_out[0, 0, 0, 0], &grad_x[0, 0, 0, 0], nt)
    if rc:
        raise MemoryError(f"interpolate_backward: no memory for the index tables of a "
                          f"{g.Ho}x{g.Wo} output")


def _set_simd_path(int path):
    """Force a SIMD path in this module (codes of fc_simd_path); returns the code in force."""
    return fc_set_simd_path(path)
