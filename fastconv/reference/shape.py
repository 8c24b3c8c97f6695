"""Reference shape ops."""
import numpy as np


# --------------------------------------------------------------------------- flatten

def flatten(x):
    """Row-major flatten of everything but the batch axis: ``(N, ...) -> (N, prod(...))``."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], -1)


def flatten_backward(grad_out, x_shape):
    """Gradient of :func:`flatten`: ``grad_out`` reshaped back to ``x_shape``."""
    return np.asarray(grad_out).reshape(tuple(x_shape))


# --------------------------------------------------------------------------- padding

def _sides(value):
    if isinstance(value, (tuple, list)):
        return tuple(tuple(v) if isinstance(v, (tuple, list)) else (v, v) for v in value)
    return ((value, value), (value, value))


def zero_pad2d(x, padding):
    """``np.pad`` with zeros on the two spatial axes."""
    x = np.asarray(x)
    (t, b), (l, r) = _sides(padding)
    return np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))


def zero_pad2d_backward(grad_out, x, padding):
    """The gradient of the padded cells is dropped."""
    (t, b), (l, r) = _sides(padding)
    g = np.asarray(grad_out)
    return g[:, :, t:g.shape[2] - b, l:g.shape[3] - r].copy()


def crop2d(x, cropping):
    x = np.asarray(x)
    (t, b), (l, r) = _sides(cropping)
    return x[:, :, t:x.shape[2] - b, l:x.shape[3] - r].copy()


def crop2d_backward(grad_out, x, cropping):
    """The cropped cells get zero gradient: the adjoint of cropping is zero padding."""
    (t, b), (l, r) = _sides(cropping)
    return zero_pad2d(grad_out, ((t, b), (l, r))).astype(np.asarray(x).dtype)
