"""Global average and max pooling: (N, C, H, W) -> (N, C)."""
import numpy as np

from .. import _pool
from ..config import get_num_threads
from ._checks import _array


def _grad_args(grad_out, x, op):
    x = _array(x, "x", op, 4)
    g = _array(grad_out, "grad_out", op, 2, x.dtype)
    if g.shape != x.shape[:2]:
        raise ValueError(f"{op}: grad_out must have shape {x.shape[:2]}, got {g.shape}")
    return g, x


def global_avg_pool2d(x):
    """The mean of each channel's map: (N, C, H, W) -> (N, C)."""
    x = _array(x, "x", "global_avg_pool2d", 4)
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError(f"global_avg_pool2d: x has empty maps, shape {x.shape}")
    return _avg_pool_maps(x)


def _avg_pool_maps(x):
    """``global_avg_pool2d`` of a checked C-contiguous (N, C, H, W) array with non-empty
    maps (the layers call it directly, without the argument checks)."""
    n, c = x.shape[:2]
    # one pass in C over the contiguous planes (NumPy's reduction over a short trailing
    # axis costs ~10 ns per plane), in a fixed summation order
    y = np.empty((n, c), dtype=x.dtype)
    _pool.plane_means(np.ascontiguousarray(x.reshape(n * c, -1)), y.reshape(-1), get_num_threads())
    return y


def global_avg_pool2d_backward(grad_out, x):
    g, x = _grad_args(grad_out, x, "global_avg_pool2d_backward")
    n, c, h, w = x.shape
    if h * w == 0:
        raise ValueError(f"global_avg_pool2d_backward: x has empty maps, shape {x.shape}")
    gx = np.empty((n, c, h, w), dtype=x.dtype)
    _pool.plane_fill(np.ascontiguousarray(g, dtype=x.dtype).reshape(-1),
                     x.dtype.type(1.0 / (h * w)), gx.reshape(n * c, h * w), get_num_threads())
    return gx


def global_max_pool2d(x):
    """The maximum of each channel's map: (N, C, H, W) -> (N, C)."""
    x = _array(x, "x", "global_max_pool2d", 4)
    if x.shape[2] * x.shape[3] == 0:
        raise ValueError(f"global_max_pool2d: x has empty maps, shape {x.shape}")
    return _max_pool_maps(x)


def _max_pool_maps(x):
    """``global_max_pool2d`` of a checked C-contiguous array with non-empty maps."""
    return x.reshape(x.shape[0], x.shape[1], -1).max(axis=2)


def global_max_pool2d_backward(grad_out, x):
    """The gradient goes to the first maximum of each map (as max pooling breaks ties)."""
    g, x = _grad_args(grad_out, x, "global_max_pool2d_backward")
    n, c = x.shape[:2]
    flat = x.reshape(n, c, -1)
    idx = flat.argmax(axis=2)
    gx = np.zeros_like(flat)
    np.put_along_axis(gx, idx[:, :, None], g[:, :, None], axis=2)
    return gx.reshape(x.shape)
