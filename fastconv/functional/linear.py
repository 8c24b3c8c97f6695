"""Fully connected layer: y = x W^T + b, on the packed GEMM."""
import numpy as np

from ..config import get_num_threads
from .. import _gemm
from ._checks import _array, _expect_shape


# ---------------------------------------------------------------- fully connected

def _matmul(a, b, out, beta=0.0):
    _gemm.gemm(a, b, out, beta, get_num_threads())
    return out


class PackedLinearWeight:
    """Fully connected weights prepared once for repeated ``linear`` calls (inference).

    Made by ``pack_linear_weight``; pass it to ``linear`` in place of ``weight``. Holds
    W^T packed for the GEMM micro-kernel's B operand, taken from the weights at packing
    time (re-pack after updating the original). A call then only streams the packed
    weights (no per-call packing of the whole matrix) and gives bitwise the result of
    ``linear`` with the plain array, for any batch size and thread count.
    """

    __slots__ = ("shape", "dtype", "packed", "__weakref__")

    def __init__(self, shape, dtype, packed):
        self.shape = shape
        self.dtype = dtype
        self.packed = packed

    def __repr__(self):
        return f"PackedLinearWeight(shape={self.shape}, dtype={self.dtype})"


def pack_linear_weight(weight):
    """Prepare ``weight`` (out, in) for repeated ``linear`` calls: a ``PackedLinearWeight``."""
    weight = _array(weight, "weight", "pack_linear_weight", 2)
    units, n_in = weight.shape
    nbytes = _gemm.linear_packed_bytes(units, n_in, weight.itemsize)
    raw = np.zeros(nbytes // weight.itemsize + 64 // weight.itemsize, dtype=weight.dtype)
    off = ((-raw.ctypes.data) % 64) // weight.itemsize
    packed = raw[off:off + nbytes // weight.itemsize]
    _gemm.linear_pack(weight, packed)
    return PackedLinearWeight(weight.shape, weight.dtype, packed)


def linear(x, weight, bias=None):
    """x (N, in) @ weight.T (weight is (out, in)) + bias (out,).

    ``weight`` may be a ``PackedLinearWeight`` (``pack_linear_weight``): same bits, no
    per-call packing of the weights.
    """
    op = "linear"
    x = _array(x, "x", op, 2)
    packed = isinstance(weight, PackedLinearWeight)
    if packed:
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
    if packed:
        _gemm.linear_packed(x, weight.packed, weight.shape[0], bias, y, get_num_threads())
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
