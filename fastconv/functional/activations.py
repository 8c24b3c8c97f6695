"""Element-wise activations (and maxout), forward and backward."""
import numpy as np

from .. import geometry as geo
from ..config import get_num_threads
from .. import _activation
from ._checks import _ACT, _ACT_ELU, _ACT_LEAKY_RELU, _ACT_RELU, _ACT_SIGMOID, _ACT_TANH, _array, _expect_shape, _number


# ---------------------------------------------------------------- activations

def _act_forward(x, code, param, op):
    x = _array(x, "x", op)
    y = np.empty_like(x)
    _activation.forward(code, param, x.reshape(-1), y.reshape(-1), get_num_threads())
    return y


def _act_backward(grad_out, x, code, param, op):
    x = _array(x, "x", op)
    grad_out = _array(grad_out, "grad_out", op, None, x.dtype)
    _expect_shape(grad_out, x.shape, "grad_out", op)
    grad_x = np.empty_like(x)
    _activation.backward(code, param, x.reshape(-1), grad_out.reshape(-1), grad_x.reshape(-1),
                         get_num_threads())
    return grad_x


def relu(x):
    """max(0, x), element-wise."""
    return _act_forward(x, _ACT_RELU, 0.0, "relu")


def relu_backward(grad_out, x):
    """grad_out where x > 0, else 0 (the gradient at 0 is 0, as in PyTorch)."""
    return _act_backward(grad_out, x, _ACT_RELU, 0.0, "relu_backward")


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    return _act_forward(x, _ACT_LEAKY_RELU, _number(negative_slope, "negative_slope", "leaky_relu"),
                        "leaky_relu")


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    op = "leaky_relu_backward"
    return _act_backward(grad_out, x, _ACT_LEAKY_RELU, _number(negative_slope, "negative_slope", op), op)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for any x."""
    return _act_forward(x, _ACT_SIGMOID, 0.0, "sigmoid")


def sigmoid_backward(grad_out, x):
    return _act_backward(grad_out, x, _ACT_SIGMOID, 0.0, "sigmoid_backward")


def tanh(x):
    return _act_forward(x, _ACT_TANH, 0.0, "tanh")


def tanh_backward(grad_out, x):
    return _act_backward(grad_out, x, _ACT_TANH, 0.0, "tanh_backward")


def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return _act_forward(x, _ACT_ELU, _number(alpha, "alpha", "elu"), "elu")


def elu_backward(grad_out, x, alpha=1.0):
    op = "elu_backward"
    return _act_backward(grad_out, x, _ACT_ELU, _number(alpha, "alpha", op), op)


# The activations below follow torch.nn.functional (names, options, the gradient at the
# kinks). relu6, hardsigmoid, hardswish and silu can also be fused into conv2d
# (activation='relu6', ...); conv2d_backward then expects the gradient with respect to
# the pre-activation output, which ``<name>_backward(g, z)`` gives from the
# pre-activation ``z`` (for relu6 and hardsigmoid the activated output does not tell
# the flat ends from the kinks, so keep ``z``).

def relu6(x):
    """min(max(0, x), 6), element-wise (a NaN stays NaN)."""
    return _act_forward(x, _ACT["relu6"], 0.0, "relu6")


def relu6_backward(grad_out, x):
    """grad_out where 0 < x < 6, else 0 (0 at both kinks, as in PyTorch)."""
    return _act_backward(grad_out, x, _ACT["relu6"], 0.0, "relu6_backward")


def hardsigmoid(x):
    """relu6(x + 3) / 6: 0 below -3, 1 above 3, linear between.

    This is PyTorch's hardsigmoid, and also Keras 3's ``hard_sigmoid`` (which is
    defined as relu6(x + 3) / 6; Keras 2 used the slope 0.2 instead of 1/6).
    """
    return _act_forward(x, _ACT["hardsigmoid"], 0.0, "hardsigmoid")


def hardsigmoid_backward(grad_out, x):
    """grad_out / 6 where -3 < x < 3, else 0."""
    return _act_backward(grad_out, x, _ACT["hardsigmoid"], 0.0, "hardsigmoid_backward")


def hardswish(x):
    """x * relu6(x + 3) / 6 (Keras 3: ``hard_silu`` / ``hard_swish``)."""
    return _act_forward(x, _ACT["hardswish"], 0.0, "hardswish")


def hardswish_backward(grad_out, x):
    """0 up to -3, grad_out * (x / 3 + 1/2) strictly between, grad_out from 3 on (PyTorch's
    values at the kinks)."""
    return _act_backward(grad_out, x, _ACT["hardswish"], 0.0, "hardswish_backward")


def silu(x):
    """x * sigmoid(x) (also called swish), without overflow for any x."""
    return _act_forward(x, _ACT["silu"], 0.0, "silu")


def silu_backward(grad_out, x):
    """grad_out * s * (1 + x * (1 - s)) with s = sigmoid(x)."""
    return _act_backward(grad_out, x, _ACT["silu"], 0.0, "silu_backward")


def _gelu_code(approximate, op):
    if not isinstance(approximate, str):
        raise TypeError(f"{op}: approximate must be 'none' or 'tanh', got "
                        f"{type(approximate).__name__} {approximate!r}")
    if approximate not in ("none", "tanh"):
        raise ValueError(f"{op}: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _ACT["gelu_tanh"] if approximate == "tanh" else _ACT["gelu"]


def gelu(x, approximate="none"):
    """x * Phi(x), Phi the standard normal CDF (erf); with ``approximate='tanh'``
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as PyTorch."""
    return _act_forward(x, _gelu_code(approximate, "gelu"), 0.0, "gelu")


def gelu_backward(grad_out, x, approximate="none"):
    """grad_out * (Phi(x) + x phi(x)), or the derivative of the tanh form."""
    op = "gelu_backward"
    return _act_backward(grad_out, x, _gelu_code(approximate, op), 0.0, op)


def _softplus_args(beta, threshold, op):
    beta = _number(beta, "beta", op)
    if beta == 0:
        raise ValueError(f"{op}: beta must be nonzero, got {beta}")
    return beta, _number(threshold, "threshold", op)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's
    switch to the identity, where the two agree to working precision)."""
    op = "softplus"
    beta, threshold = _softplus_args(beta, threshold, op)
    x = _array(x, "x", op)
    y = np.empty_like(x)
    _activation.softplus_forward(beta, threshold, x.reshape(-1), y.reshape(-1), get_num_threads())
    return y


def softplus_backward(grad_out, x, beta=1.0, threshold=20.0):
    """grad_out * sigmoid(beta x), and grad_out where beta x > threshold."""
    op = "softplus_backward"
    beta, threshold = _softplus_args(beta, threshold, op)
    x = _array(x, "x", op)
    grad_out = _array(grad_out, "grad_out", op, None, x.dtype)
    _expect_shape(grad_out, x.shape, "grad_out", op)
    grad_x = np.empty_like(x)
    _activation.softplus_backward(beta, threshold, x.reshape(-1), grad_out.reshape(-1),
                                  grad_x.reshape(-1), get_num_threads())
    return grad_x


def _maxout_view(x, pieces, op):
    x = _array(x, "x", op, (2, 3, 4))
    pieces = geo.as_int(pieces, "pieces", op)
    if pieces < 1:
        raise ValueError(f"{op}: pieces must be >= 1, got {pieces}")
    C = x.shape[1]
    if C % pieces:
        raise ValueError(f"{op}: {C} channels are not divisible into groups of pieces={pieces}")
    rest = int(np.prod(x.shape[2:], dtype=np.int64))
    return x, pieces, x.reshape(x.shape[0], C, rest)


def maxout(x, pieces):
    """Max over groups of ``pieces`` consecutive channels (axis 1) of (N, C, ...) input."""
    x, pieces, x3 = _maxout_view(x, pieces, "maxout")
    y = np.empty((x.shape[0], x.shape[1] // pieces) + x.shape[2:], dtype=x.dtype)
    _activation.maxout_forward(x3, pieces, y.reshape(x3.shape[0], -1, x3.shape[2]), get_num_threads())
    return y


def maxout_backward(grad_out, x, pieces):
    """Each grad_out value goes to the first maximum of its group."""
    op = "maxout_backward"
    x, pieces, x3 = _maxout_view(x, pieces, op)
    grad_out = _array(grad_out, "grad_out", op, None, x.dtype)
    _expect_shape(grad_out, (x.shape[0], x.shape[1] // pieces) + x.shape[2:], "grad_out", op)
    grad_x = np.empty_like(x)
    _activation.maxout_backward(x3, grad_out.reshape(x3.shape[0], -1, x3.shape[2]), pieces,
                                grad_x.reshape(x3.shape), get_num_threads())
    return grad_x
