"""Element-wise activations (and maxout), forward and backward."""
import numpy as np

from .. import geometry as geo
from ..config import get_num_threads
from .. import _activation
from ._checks import _ACT_ELU, _ACT_LEAKY_RELU, _ACT_RELU, _ACT_SIGMOID, _ACT_TANH, _array, _expect_shape, _number


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
    """x where x > 0, else negative_slope * x (the course notes use 0.1)."""
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
