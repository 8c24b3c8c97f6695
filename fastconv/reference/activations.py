"""Reference element-wise activations (and maxout)."""
import numpy as np

from ._checks import _as, _float_dtype


# --------------------------------------------------------------------------- activations

def relu(x):
    """``max(x, 0)`` elementwise."""
    x = _as(x, _float_dtype(x))
    return np.maximum(x, x.dtype.type(0))


def relu_backward(grad_out, x):
    """``grad_out * (x > 0)``; the derivative at 0 is taken as 0, like PyTorch."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    return np.where(x > 0, g, dtype.type(0))


def leaky_relu(x, negative_slope=0.01):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    x = _as(x, _float_dtype(x))
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    """``grad_out`` where ``x > 0``, else ``negative_slope * grad_out`` (slope at 0 too)."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    return np.where(x > 0, g, g * dtype.type(negative_slope))


def sigmoid(x):
    """Logistic ``1 / (1 + exp(-x))``, evaluated without overflow for any ``|x|``:
    ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` for ``x < 0``, with ``e = exp(-|x|)``."""
    x = _as(x, _float_dtype(x))
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def sigmoid_backward(grad_out, x):
    """``grad_out * s * (1 - s)`` with ``s = sigmoid(x)``."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    s = sigmoid(x)
    return g * s * (dtype.type(1) - s)


def tanh(x):
    """Hyperbolic tangent."""
    x = _as(x, _float_dtype(x))
    return np.tanh(x)


def tanh_backward(grad_out, x):
    """``grad_out * (1 - tanh(x)**2)``."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    t = np.tanh(x)
    return g * (dtype.type(1) - t * t)


def elu(x, alpha=1.0):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    x = _as(x, _float_dtype(x))
    neg = x.dtype.type(alpha) * np.expm1(np.minimum(x, x.dtype.type(0)))
    return np.where(x > 0, x, neg)


def elu_backward(grad_out, x, alpha=1.0):
    """``grad_out`` where ``x > 0``, else ``grad_out * alpha * exp(x)`` (so ``alpha`` at 0,
    like PyTorch)."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    neg = g * dtype.type(alpha) * np.exp(np.minimum(x, dtype.type(0)))
    return np.where(x > 0, g, neg)


def _maxout_groups(x, pieces, op):
    x = _as(x, _float_dtype(x))
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have a channel axis 1, got shape {x.shape}")
    if isinstance(pieces, bool) or not isinstance(pieces, (int, np.integer)) or pieces <= 0:
        raise ValueError(f"{op}: pieces must be a positive int, got {pieces!r}")
    C = x.shape[1]
    if C % pieces:
        raise ValueError(f"{op}: {C} channels are not divisible into groups of {pieces}")
    return x, x.reshape((x.shape[0], C // pieces, int(pieces)) + x.shape[2:])


def maxout(x, pieces):
    """Maxout over the channel axis 1: output channel ``j`` is the maximum of input channels
    ``j*pieces ... j*pieces + pieces - 1``.  Works for ``(N, F)`` and ``(N, C, H, W)``
    (any rank >= 2); the output has ``C // pieces`` channels."""
    _, grouped = _maxout_groups(x, pieces, "maxout")
    return grouped.max(axis=2)


def maxout_backward(grad_out, x, pieces):
    """Gradient of :func:`maxout` w.r.t. ``x``: each output's gradient goes to the first
    maximal channel of its group."""
    x, grouped = _maxout_groups(x, pieces, "maxout_backward")
    g = _as(grad_out, _float_dtype(grad_out, x))
    if g.shape != grouped.shape[:2] + grouped.shape[3:]:
        raise ValueError(f"maxout_backward: grad_out must have shape "
                         f"{grouped.shape[:2] + grouped.shape[3:]}, got {g.shape}")
    idx = np.expand_dims(np.argmax(grouped, axis=2), 2)
    onehot = idx == np.arange(pieces).reshape((1, 1, pieces) + (1,) * (x.ndim - 2))
    gx = np.where(onehot, np.expand_dims(g, 2), g.dtype.type(0))
    return gx.reshape(x.shape)
