"""Reference upsampling (``interpolate``), nearest and bilinear.

Resizing is separable and linear: ``y[n, c] = A_h @ x[n, c] @ A_w.T`` with one
interpolation matrix per axis (row ``o`` holds the weights output ``o`` gives the input
pixels), so the gradient is ``A_h.T @ g @ A_w``. The matrices follow PyTorch's index rules.
"""
import math

import numpy as np

from ._checks import _as, _check_4d, _float_dtype


def _output_size(x, size, scale_factor, mode, align_corners, op):
    """(Ho, Wo, scale_h, scale_w): the scales are the given factors, or None."""
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"{op}: unknown mode {mode!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError(f"{op}: align_corners is only for mode 'bilinear'")
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor")
    H, W = x.shape[2:]
    if size is not None:
        Ho, Wo = (size, size) if np.ndim(size) == 0 else size
        scales = (None, None)
    else:
        scales = (scale_factor,) * 2 if np.ndim(scale_factor) == 0 else tuple(scale_factor)
        if not all(math.isfinite(s) and s > 0 for s in scales):
            raise ValueError(f"{op}: scale_factor must be positive and finite, got {scale_factor!r}")
        Ho, Wo = math.floor(H * scales[0]), math.floor(W * scales[1])
    if min(H, W, Ho, Wo) <= 0:
        raise ValueError(f"{op}: input and output sizes must be positive, got {H}x{W} -> {Ho}x{Wo}")
    return int(Ho), int(Wo), scales[0], scales[1]


def _axis_matrix(n_in, n_out, mode, align_corners, scale, dtype):
    """The (n_out, n_in) interpolation matrix of one axis."""
    A = np.zeros((n_out, n_in), dtype)
    o = np.arange(n_out)
    if mode == "nearest":
        # PyTorch's legacy nearest: floor(o * s) with s in float32; equal or doubled sizes
        # are exact special cases.
        if n_out == n_in:
            src = o
        elif n_out == 2 * n_in:
            src = o // 2
        else:
            s = np.float32(1.0 / scale) if scale else np.float32(n_in) / np.float32(n_out)
            src = np.minimum(np.floor(o.astype(np.float32) * s).astype(np.int64), n_in - 1)
        A[o, src] = 1
        return A
    if n_out == n_in:  # a copy, whatever the scale factor said (PyTorch)
        A[o, o] = 1
        return A
    t = dtype.type
    if align_corners:
        ratio = t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)
        src = ratio * o.astype(dtype)
    else:
        ratio = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        # pixel centres; sources left of the first centre read pixel 0
        src = np.maximum(ratio * (o.astype(dtype) + t(0.5)) - t(0.5), t(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0.astype(dtype), t(0), t(1))
    i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
    np.add.at(A, (o, i0), t(1) - lam)
    np.add.at(A, (o, i1), lam)
    return A


def _matrices(x, size, scale_factor, mode, align_corners, op):
    Ho, Wo, sh, sw = _output_size(x, size, scale_factor, mode, align_corners, op)
    align = bool(align_corners)
    return (_axis_matrix(x.shape[2], Ho, mode, align, sh, x.dtype),
            _axis_matrix(x.shape[3], Wo, mode, align, sw, x.dtype))


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Nearest or bilinear resize of the planes of ``x`` (N, C, H, W), as
    ``torch.nn.functional.interpolate`` with ``recompute_scale_factor=None``."""
    x = _as(x, _float_dtype(x))
    _check_4d(x, "interpolate")
    Ah, Aw = _matrices(x, size, scale_factor, mode, align_corners, "interpolate")
    return np.einsum("oh,nchw,pw->ncop", Ah, x, Aw).astype(x.dtype)


def interpolate_backward(grad_out, x, size=None, scale_factor=None, mode="nearest",
                         align_corners=None):
    """Gradient of :func:`interpolate` w.r.t. ``x``: the transposed maps, ``A_h.T g A_w``."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    _check_4d(x, "interpolate_backward")
    Ah, Aw = _matrices(x, size, scale_factor, mode, align_corners, "interpolate_backward")
    if g.shape != x.shape[:2] + (Ah.shape[0], Aw.shape[0]):
        raise ValueError(f"interpolate_backward: grad_out must have shape "
                         f"{x.shape[:2] + (Ah.shape[0], Aw.shape[0])}, got {g.shape}")
    return np.einsum("oh,ncop,pw->nchw", Ah, g, Aw).astype(dtype)
