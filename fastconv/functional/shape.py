"""Ops that only change an array's shape."""
import numpy as np

from .. import geometry as geo
from ._checks import _array


# ---------------------------------------------------------------- flatten

def flatten(x):
    """(N, ...) -> (N, prod(...)) in row-major order (channel by channel for NCHW maps)."""
    x = _array(x, "x", "flatten")
    if x.ndim < 1:
        raise ValueError(f"flatten: x must have a batch axis, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def flatten_backward(grad_out, x_shape):
    op = "flatten_backward"
    grad_out = _array(grad_out, "grad_out", op, 2)
    if not isinstance(x_shape, (tuple, list)):
        raise TypeError(f"{op}: x_shape must be a tuple of ints, got {type(x_shape).__name__} "
                        f"{x_shape!r}")
    x_shape = tuple(geo.as_int(d, "x_shape entry", op) for d in x_shape)
    if len(x_shape) < 1 or any(d < 0 for d in x_shape):
        raise ValueError(f"{op}: x_shape must be (N, ...) with sizes >= 0, got {x_shape}")
    size = 1
    for d in x_shape:
        size *= d
    if size != grad_out.size or x_shape[0] != grad_out.shape[0]:
        raise ValueError(f"{op}: grad_out {grad_out.shape} does not fit x_shape {x_shape}")
    return grad_out.reshape(x_shape)


# ---------------------------------------------------------------- zero padding / cropping

def _sides(value, name, op):
    """int | (h, w) | ((top, bottom), (left, right)) -> ((t, b), (l, r)), each >= 0."""
    def one(v, what):
        if isinstance(v, (tuple, list)) and len(v) == 2:
            return (geo.as_int(v[0], what, op), geo.as_int(v[1], what, op))
        n = geo.as_int(v, what, op)
        return (n, n)
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int, (h, w) or ((top, bottom), "
                             f"(left, right)), got {value!r}")
        sides = (one(value[0], name), one(value[1], name))
    else:
        n = geo.as_int(value, name, op)
        sides = ((n, n), (n, n))
    if any(v < 0 for s in sides for v in s):
        raise ValueError(f"{op}: {name} must be >= 0, got {value!r}")
    return sides


def zero_pad2d(x, padding):
    """Add rows and columns of zeros around each (N, C, H, W) map; ``padding`` is an int,
    ``(h, w)`` (both sides) or ``((top, bottom), (left, right))``."""
    op = "zero_pad2d"
    x = _array(x, "x", op, 4)
    (t, b), (l, r) = _sides(padding, "padding", op)
    n, c, h, w = x.shape
    geo.check_elements((n, c, h + t + b, w + l + r), op)
    y = np.zeros((n, c, h + t + b, w + l + r), dtype=x.dtype)
    y[:, :, t:t + h, l:l + w] = x
    return y


def zero_pad2d_backward(grad_out, x, padding):
    op = "zero_pad2d_backward"
    x = _array(x, "x", op, 4)
    (t, b), (l, r) = _sides(padding, "padding", op)
    n, c, h, w = x.shape
    g = _array(grad_out, "grad_out", op, 4, x.dtype)
    if g.shape != (n, c, h + t + b, w + l + r):
        raise ValueError(f"{op}: grad_out must have shape {(n, c, h + t + b, w + l + r)}, "
                         f"got {g.shape}")
    return np.ascontiguousarray(g[:, :, t:t + h, l:l + w])


def crop2d(x, cropping):
    """Remove rows and columns from the borders of each map; ``cropping`` as the padding
    of :func:`zero_pad2d`. At least one row and one column must remain."""
    op = "crop2d"
    x = _array(x, "x", op, 4)
    (t, b), (l, r) = _sides(cropping, "cropping", op)
    n, c, h, w = x.shape
    if t + b >= h or l + r >= w:
        raise ValueError(f"{op}: cropping {((t, b), (l, r))} leaves nothing of a {h}x{w} map")
    return np.ascontiguousarray(x[:, :, t:h - b, l:w - r])


def crop2d_backward(grad_out, x, cropping):
    op = "crop2d_backward"
    x = _array(x, "x", op, 4)
    (t, b), (l, r) = _sides(cropping, "cropping", op)
    n, c, h, w = x.shape
    if t + b >= h or l + r >= w:
        raise ValueError(f"{op}: cropping {((t, b), (l, r))} leaves nothing of a {h}x{w} map")
    g = _array(grad_out, "grad_out", op, 4, x.dtype)
    if g.shape != (n, c, h - t - b, w - l - r):
        raise ValueError(f"{op}: grad_out must have shape {(n, c, h - t - b, w - l - r)}, "
                         f"got {g.shape}")
    gx = np.zeros_like(x)
    gx[:, :, t:h - b, l:w - r] = g
    return gx
