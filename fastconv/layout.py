"""The edge between the public channels-last layout and the engine's NCHW layout.

Users hand fastconv images as ``(N, height, width, channels)``, as in Keras; every kernel
computes in NCHW.  A model converts a batch once at its input edge and once at its output
edge; layers never transpose.  Per-sample shapes follow the same rule: ``(H, W, C)`` in
public, ``(C, H, W)`` inside; vectors ``(features,)`` are the same in both.
"""
import numpy as np

__all__ = ["to_internal_shape", "to_public_shape", "to_internal", "to_public"]


def to_internal_shape(shape):
    """Per-sample channels-last shape -> internal (NCHW without N) shape."""
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    return tuple(shape)


def to_public_shape(shape):
    """Internal per-sample shape -> channels-last."""
    if len(shape) == 3:
        return (shape[1], shape[2], shape[0])
    return tuple(shape)


def to_internal(x, dtype=None):
    """A channels-last batch (N, H, W, C) -> contiguous NCHW (one copy at most, none for
    single-channel images of the right dtype); (N, features) batches are only made
    contiguous/cast."""
    x = np.asarray(x)
    if x.ndim == 4 and _fast(x, dtype, x.shape[3]):
        n, h, w, c = x.shape
        return _transpose(x, np.empty((n, c, h, w), x.dtype), h * w, c)
    if x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=dtype)


def to_public(y):
    """An NCHW batch -> channels-last (N, H, W, C) (a copy); other ranks unchanged."""
    if y.ndim == 4 and _fast(y, None, y.shape[1]):
        n, c, h, w = y.shape
        return _transpose(y, np.empty((n, h, w, c), y.dtype), c, h * w)
    if y.ndim == 4:
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))
    return y


# Below this many elements NumPy's strided copy is as quick as a call into C.
_FAST_MIN_ELEMENTS = 1 << 14


def _fast(x, dtype, channels):
    """Whether the layout change of ``x`` goes to the tiled, threaded C transpose: a large
    C-contiguous float32/float64 batch of more than one channel, no cast asked (one
    channel needs no transpose: NumPy then copies or casts at most)."""
    return (x.size >= _FAST_MIN_ELEMENTS and x.dtype.char in "fd" and x.flags.c_contiguous
            and (dtype is None or np.dtype(dtype) == x.dtype) and channels > 1)


def _transpose(x, out, a, b):
    from . import _program
    from .config import get_num_threads
    return _program.transpose_images(x, out, a, b, get_num_threads())
