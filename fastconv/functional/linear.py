"""Fully connected layer: y = x W^T + b, on the packed GEMM."""
import numpy as np

from ..config import get_num_threads
from .. import _gemm
from ._checks import _array, _expect_shape


# ---------------------------------------------------------------- fully connected

def _matmul(a, b, out, beta=0.0):
    _gemm.gemm(a, b, out, beta, get_num_threads())
    return out


# Up to this many rows, y = x W^T + b runs the matrix-vector kernel (W streamed once in
# its (out, in) layout, no packing); beyond, the packed GEMM. Measured (1 thread, AVX2,
# 1024 -> 64): the GEMV kernel wins up to ~8 rows.
GEMV_MAX_ROWS = 8


class PackedLinearWeight:
    """Fully connected weights prepared once for repeated ``linear`` calls (inference).

    Made by ``pack_linear_weight``; pass it to ``linear`` in place of ``weight``. Holds a
    private C-contiguous copy of the (out, in) weights taken at packing time (re-pack
    after updating the original). Results are bitwise those of ``linear`` with the plain
    array.
    """

    __slots__ = ("weight", "__weakref__")

    def __init__(self, weight):
        self.weight = weight

    @property
    def shape(self):
        return self.weight.shape

    @property
    def dtype(self):
        return self.weight.dtype

    def __repr__(self):
        return f"PackedLinearWeight(shape={self.weight.shape}, dtype={self.weight.dtype})"


def pack_linear_weight(weight):
    """Prepare ``weight`` (out, in) for repeated ``linear`` calls: a ``PackedLinearWeight``."""
    weight = _array(weight, "weight", "pack_linear_weight", 2, contiguous=False)
    return PackedLinearWeight(np.array(weight, order="C", copy=True))


def linear(x, weight, bias=None):
    """x (N, in) @ weight.T (weight is (out, in)) + bias (out,).

    ``weight`` may be a ``PackedLinearWeight`` (``pack_linear_weight``). Up to
    ``GEMV_MAX_ROWS`` rows run a matrix-vector kernel, more the packed GEMM.
    """
    op = "linear"
    x = _array(x, "x", op, 2)
    if isinstance(weight, PackedLinearWeight):
        weight = weight.weight
        if weight.dtype != x.dtype:
            raise TypeError(f"{op}: weight has dtype {weight.dtype} but the input has dtype "
                            f"{x.dtype}; convert one of them")
    else:
        weight = _array(weight, "weight", op, 2, x.dtype)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"{op}: weight {weight.shape} expects {weight.shape[1]} input features "
                         f"but x {x.shape} has {x.shape[1]}")
    y = np.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)
    if bias is not None:
        bias = _array(bias, "bias", op, 1, x.dtype)
        _expect_shape(bias, (weight.shape[0],), "bias", op)
    if x.shape[0] <= GEMV_MAX_ROWS:
        _gemm.gemv(x, weight, bias, y, get_num_threads())
        return y
    if bias is not None:
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
