"""Upsampling (``interpolate``): nearest and bilinear, forward and backward, NCHW."""
import math

import numpy as np

from .. import geometry as geo
from ..config import get_num_threads
from .. import _upsample
from ._checks import _array, _bool, _contiguous, _expect_shape, _number

_MODES = {"nearest": _upsample.NEAREST, "bilinear": _upsample.BILINEAR}


def _scale_pair(scale_factor, op):
    if isinstance(scale_factor, (tuple, list)):
        if len(scale_factor) != 2:
            raise ValueError(f"{op}: scale_factor must be a number or a pair of numbers, "
                             f"got {scale_factor!r}")
        scales = tuple(_number(s, "scale_factor", op) for s in scale_factor)
    else:
        scales = (_number(scale_factor, "scale_factor", op),) * 2
    if min(scales) <= 0:
        raise ValueError(f"{op}: scale_factor must be positive, got {scale_factor!r}")
    return scales


def _geometry(x_shape, size, scale_factor, mode, align_corners, op):
    """(Ho, Wo, mode code, align_corners, scale_h, scale_w) for the kernels, PyTorch's rules:
    the output is ``size``, or ``floor(in * scale_factor)`` per axis; a given scale factor
    also places the source pixels (``recompute_scale_factor=None``), 0 stands for none."""
    if not isinstance(mode, str):
        raise TypeError(f"{op}: mode must be 'nearest' or 'bilinear', got "
                        f"{type(mode).__name__} {mode!r}")
    if mode not in _MODES:
        raise ValueError(f"{op}: unknown mode {mode!r}; expected 'nearest' or 'bilinear'")
    if mode == "nearest":
        if align_corners is not None:
            raise ValueError(f"{op}: align_corners can only be set with mode 'bilinear', "
                             f"got align_corners={align_corners!r} with mode 'nearest'")
        align = False
    else:
        align = False if align_corners is None else _bool(align_corners, "align_corners", op)
    if (size is None) == (scale_factor is None):
        raise ValueError(f"{op}: give exactly one of size and scale_factor, got size={size!r} "
                         f"and scale_factor={scale_factor!r}")
    H, W = x_shape[2], x_shape[3]
    if H <= 0 or W <= 0:
        raise ValueError(f"{op}: the input planes must be non-empty, got x of shape {x_shape}")
    if size is not None:
        Ho, Wo = geo.pair(size, "size", op)
        if Ho <= 0 or Wo <= 0:
            raise ValueError(f"{op}: size must be positive, got {size!r}")
        sh = sw = 0.0
    else:
        sh, sw = _scale_pair(scale_factor, op)
        outs = []
        for n, s in ((H, sh), (W, sw)):
            o = n * s
            if not math.isfinite(o) or o >= geo.MAX_ELEMENTS:
                raise ValueError(f"{op}: scale_factor {scale_factor!r} makes an output beyond "
                                 f"the 64-bit indexing limit for x of shape {x_shape}")
            outs.append(math.floor(o))
        Ho, Wo = outs
        if Ho <= 0 or Wo <= 0:
            raise ValueError(f"{op}: scale_factor {scale_factor!r} gives an empty output "
                             f"{Ho}x{Wo} for a {H}x{W} input")
    geo.check_elements((x_shape[0], x_shape[1], Ho, Wo), op)
    return Ho, Wo, _MODES[mode], int(align), sh, sw


def interpolate(x, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize the planes of ``x`` (N, C, H, W) to ``size`` or by ``scale_factor``.

    As ``torch.nn.functional.interpolate`` (``recompute_scale_factor=None``):
    ``size`` is an int or a pair; ``scale_factor`` a positive number or pair, giving
    ``floor(H * scale)`` rows (and columns likewise) and placing the source pixels by the
    scale itself. ``mode='nearest'`` takes pixel ``floor(o * in / out)`` (PyTorch's legacy
    'nearest', index arithmetic in single precision as there); ``'bilinear'`` weights the
    four neighbours, pixel centres aligned (``align_corners=False``, the default) or the
    corner pixels aligned (``True``). ``align_corners`` must be None with 'nearest'.
    """
    op = "interpolate"
    x = _array(x, "x", op, 4, contiguous=False)
    geom = _geometry(x.shape, size, scale_factor, mode, align_corners, op)
    x = _contiguous(x)
    y = np.empty((x.shape[0], x.shape[1], geom[0], geom[1]), dtype=x.dtype)
    _upsample.forward(x, geom, y, get_num_threads())
    return y


def interpolate_backward(grad_out, x, size=None, scale_factor=None, mode="nearest",
                         align_corners=None):
    """Gradient of ``interpolate`` w.r.t. ``x``: each output's gradient goes back to the
    pixels it was read from, with the same weights. Bitwise the same for any thread count
    (each plane is summed by one thread in a fixed order)."""
    op = "interpolate_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    geom = _geometry(x.shape, size, scale_factor, mode, align_corners, op)
    _expect_shape(grad_out, (x.shape[0], x.shape[1], geom[0], geom[1]), "grad_out", op)
    grad_out = _contiguous(grad_out)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    _upsample.backward(grad_out, geom, grad_x, get_num_threads())
    return grad_x
