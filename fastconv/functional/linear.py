"""Fully connected layer: y = x W^T + b, on the packed GEMM."""
import numpy as np

from ..config import get_num_threads
from .. import _gemm
from ._checks import _array, _expect_shape


# ---------------------------------------------------------------- fully connected

def _matmul(a, b, out, beta=0.0):
    _gemm.gemm(a, b, out, beta, get_num_threads())
    return out


def linear(x, weight, bias=None):
    """x (N, in) @ weight.T (weight is (out, in)) + bias (out,)."""
    op = "linear"
    x = _array(x, "x", op, 2)
    weight = _array(weight, "weight", op, 2, x.dtype)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"{op}: weight {weight.shape} expects {weight.shape[1]} input features "
                         f"but x {x.shape} has {x.shape[1]}")
    y = np.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)
    if bias is not None:
        bias = _array(bias, "bias", op, 1, x.dtype)
        _expect_shape(bias, (weight.shape[0],), "bias", op)
        y[...] = bias
        return _matmul(x, weight.T, y, 1.0)
    return _matmul(x, weight.T, y)


def linear_backward(grad_out, x, weight):
    """Returns (grad_x, grad_weight, grad_bias) of ``linear``."""
    op = "linear_backward"
    x = _array(x, "x", op, 2)
    weight = _array(weight, "weight", op, 2, x.dtype)
    grad_out = _array(grad_out, "grad_out", op, 2, x.dtype)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"{op}: weight {weight.shape} expects {weight.shape[1]} input features "
                         f"but x {x.shape} has {x.shape[1]}")
    _expect_shape(grad_out, (x.shape[0], weight.shape[0]), "grad_out", op)
    grad_x = _matmul(grad_out, weight, np.empty(x.shape, dtype=x.dtype))
    grad_w = _matmul(grad_out.T, x, np.empty(weight.shape, dtype=x.dtype))
    grad_b = grad_out.sum(axis=0)
    return grad_x, grad_w, grad_b
