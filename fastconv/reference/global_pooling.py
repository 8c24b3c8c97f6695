"""Reference global pooling: the mean or maximum of each channel's map."""
import numpy as np

from ._checks import _as, _check_4d, _float_dtype


def global_avg_pool2d(x):
    x = _as(x, _float_dtype(x))
    _check_4d(x, "global_avg_pool2d")
    return x.mean(axis=(2, 3))


def global_avg_pool2d_backward(grad_out, x):
    """Every pixel of a map receives 1/(H*W) of its channel's gradient."""
    x = _as(x, _float_dtype(x))
    g = np.asarray(grad_out, dtype=x.dtype)
    return np.broadcast_to(g[:, :, None, None] / (x.shape[2] * x.shape[3]), x.shape).copy()


def global_max_pool2d(x):
    x = _as(x, _float_dtype(x))
    _check_4d(x, "global_max_pool2d")
    return x.max(axis=(2, 3))


def global_max_pool2d_backward(grad_out, x):
    """The gradient goes to the first maximum of each map, in row-major order."""
    x = _as(x, _float_dtype(x))
    g = np.asarray(grad_out, dtype=x.dtype)
    gx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            i, j = np.unravel_index(np.argmax(x[n, c]), x.shape[2:])
            gx[n, c, i, j] = g[n, c]
    return gx
