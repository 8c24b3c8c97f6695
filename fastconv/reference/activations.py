"""Reference element-wise activations (and maxout)."""
import math

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


def relu6(x):
    """``min(max(x, 0), 6)`` elementwise."""
    x = _as(x, _float_dtype(x))
    return np.minimum(np.maximum(x, x.dtype.type(0)), x.dtype.type(6))


def relu6_backward(grad_out, x):
    """``grad_out`` where ``0 < x < 6``, else 0 (0 at both kinks, like PyTorch)."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    return np.where((x > 0) & (x < 6), g, dtype.type(0))


def hardsigmoid(x):
    """``relu6(x + 3) / 6`` (PyTorch's hardsigmoid; Keras 3's ``hard_sigmoid`` is the same
    function)."""
    x = _as(x, _float_dtype(x))
    return relu6(x + x.dtype.type(3)) / x.dtype.type(6)


def hardsigmoid_backward(grad_out, x):
    """``grad_out / 6`` where ``-3 < x < 3``, else 0."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    return np.where((x > -3) & (x < 3), g / dtype.type(6), dtype.type(0))


def hardswish(x):
    """``x * relu6(x + 3) / 6``."""
    x = _as(x, _float_dtype(x))
    return x * relu6(x + x.dtype.type(3)) / x.dtype.type(6)


def hardswish_backward(grad_out, x):
    """0 for ``x <= -3``, ``grad_out * (x / 3 + 1/2)`` for ``-3 < x < 3``, ``grad_out`` for
    ``x >= 3`` (PyTorch's values at the kinks)."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    mid = g * (x / dtype.type(3) + dtype.type(0.5))
    return np.where(x <= -3, dtype.type(0), np.where(x < 3, mid, g))


def silu(x):
    """``x * sigmoid(x)``."""
    x = _as(x, _float_dtype(x))
    return x * sigmoid(x)


def silu_backward(grad_out, x):
    """``grad_out * s * (1 + x * (1 - s))`` with ``s = sigmoid(x)`` (the product rule)."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    s = sigmoid(x)
    one = dtype.type(1)
    return g * s * (one + x * (one - s))


# NumPy has no erf: the standard library's, element by element (in float64).
_erf = np.frompyfunc(math.erf, 1, 1)
_GELU_BETA = math.sqrt(2.0 / math.pi)
_GELU_KAPPA = 0.044715


def _check_approximate(approximate, op):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{op}: approximate must be 'none' or 'tanh', got {approximate!r}")


def _normal_cdf(x):
    """``Phi(x) = (1 + erf(x / sqrt(2))) / 2``, in the dtype of ``x``."""
    e = _erf(x.astype(np.float64) / math.sqrt(2.0)).astype(np.float64)
    return (0.5 * (1.0 + e)).astype(x.dtype)


def gelu(x, approximate="none"):
    """``x * Phi(x)`` with ``Phi`` the standard normal CDF; with ``approximate='tanh'``
    ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``."""
    _check_approximate(approximate, "gelu")
    x = _as(x, _float_dtype(x))
    if approximate == "tanh":
        t = np.tanh(x.dtype.type(_GELU_BETA) * (x + x.dtype.type(_GELU_KAPPA) * x ** 3))
        return x.dtype.type(0.5) * x * (x.dtype.type(1) + t)
    return x * _normal_cdf(x)


def gelu_backward(grad_out, x, approximate="none"):
    """``grad_out * (Phi(x) + x * phi(x))`` with ``phi`` the normal density; for the tanh
    form the derivative of ``0.5 x (1 + tanh(u(x)))``, the product and chain rules."""
    _check_approximate(approximate, "gelu_backward")
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    half, one = dtype.type(0.5), dtype.type(1)
    if approximate == "tanh":
        beta, kappa = dtype.type(_GELU_BETA), dtype.type(_GELU_KAPPA)
        t = np.tanh(beta * (x + kappa * x ** 3))
        sech2 = one - t * t
        with np.errstate(over="ignore", invalid="ignore"):
            du = beta * (one + dtype.type(3) * kappa * x * x)
            # where tanh has saturated the term is 0 (not 0 * inf for huge |x|)
            right = np.where(sech2 != 0, half * x * sech2 * du, dtype.type(0))
        return g * (half * (one + t) + right)
    pdf = np.exp(-half * x * x) / dtype.type(math.sqrt(2.0 * math.pi))
    return g * (_normal_cdf(x) + x * pdf)


def softplus(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``, and ``x`` where ``beta * x > threshold``."""
    x = _as(x, _float_dtype(x))
    b, th = x.dtype.type(beta), x.dtype.type(threshold)
    bx = x * b
    # min(): the branch np.where drops must not overflow either
    soft = np.log1p(np.exp(np.minimum(bx, th))) / b
    return np.where(bx > th, x, soft)


def softplus_backward(grad_out, x, beta=1.0, threshold=20.0):
    """``grad_out * sigmoid(beta * x)`` (the derivative of the log1p form), and ``grad_out``
    where ``beta * x > threshold``."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    bx = x * dtype.type(beta)
    return np.where(bx > dtype.type(threshold), g, g * sigmoid(bx))


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
