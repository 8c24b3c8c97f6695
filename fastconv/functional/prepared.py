"""Prepared ops: geometry checked once, then repeated calls without re-validation.

A model's plan knows every layer's shapes before the first batch, so it checks a
convolution's or a pooling's geometry once (with the same rules and messages as the public
functions) and keeps the result here; each call then goes straight to the kernels. The
caller promises what the public functions would otherwise check: C-contiguous arrays of
the prepared dtype and shapes (the model guarantees it: its own layers made them). The
public functional API keeps validating every call.

Results are bitwise the same as the public functions' (the same kernels with the same
arguments).
"""
import numpy as np

from .. import geometry as geo
from ..config import get_num_threads
from .. import _pool
from ._checks import _ACTIVATIONS, _ACT_LEAKY_RELU, _ACT_ELU
from .conv import _backward_both, _forward

__all__ = ["PreparedConv2d", "PreparedPool2d", "prepared_cache", "activation_code"]


def activation_code(name, negative_slope=0.01, alpha=1.0):
    """(code, option) of an activation the convolution kernels apply in their write-back,
    for the trusted entry points (``PackedConv2dWeight.run``)."""
    act = _ACTIVATIONS[name]
    return act, (float(negative_slope) if act == _ACT_LEAKY_RELU else
                 float(alpha) if act == _ACT_ELU else 0.0)


class PreparedConv2d:
    """``conv2d`` / ``conv2d_backward`` for one input shape, weight shape and options."""

    __slots__ = ("g", "groups", "out_shape", "dtype", "act", "param", "_args", "_args_path")

    def __init__(self, x_shape, w_shape, dtype, stride=1, padding=0, dilation=1, groups=1,
                 activation=None, negative_slope=0.01, alpha=1.0):
        self.g = geo.conv2d_geometry(tuple(x_shape), tuple(w_shape), stride, padding, dilation,
                                     "conv2d", groups)
        self.groups = int(groups)
        self.out_shape = (self.g.N, self.g.K, self.g.Ho, self.g.Wo)
        self.dtype = np.dtype(dtype)
        self.act, self.param = activation_code(activation, negative_slope, alpha)
        self._args = self._args_path = None

    def _kernel_args(self):
        # the kernels' geometry tuple for the SIMD path in force, kept between calls (its
        # lookup hashes the whole geometry: a few microseconds a call in a training step)
        path = geo._simd_path()
        if path != self._args_path:
            self._args, self._args_path = geo.conv_kernel_args(self.g), path
        return self._args

    def forward(self, x, weight, bias=None):
        y = np.empty(self.out_shape, dtype=self.dtype)
        if self.g.N:
            _forward(x, weight, bias, self.g, self.groups, self.act, self.param, y,
                     self._kernel_args())
        return y

    def backward(self, grad_out, x, weight, input_grad=True, bias_grad=True, addend=None):
        """``(grad_x or None, grad_weight, grad_bias or None)``; ``bias_grad=False`` (a layer
        without bias) skips the bias gradient's pass over ``grad_out``. ``addend`` (a
        C-contiguous array like ``x``, with ``input_grad``: another gradient of the same
        input) is added to ``grad_x`` as the kernels write it -- bitwise ``grad_x +
        addend``, without the pass over both."""
        g = self.g
        alloc = np.empty if g.N else np.zeros
        grad_w = alloc(weight.shape, dtype=self.dtype)
        grad_b = alloc((g.K,), dtype=self.dtype) if bias_grad else None
        grad_x = np.empty(x.shape, dtype=self.dtype) if input_grad else None
        if g.N:
            grad_out = np.ascontiguousarray(grad_out)
            _backward_both(grad_out, x, weight, g, self.groups, grad_w, grad_b, grad_x, addend,
                           self._kernel_args())
        return grad_x, grad_w, grad_b


class PreparedPool2d:
    """``max_pool2d`` / ``avg_pool2d`` and their backward for one input shape."""

    __slots__ = ("g", "args", "out_shape", "dtype", "kind", "cip")

    def __init__(self, kind, x_shape, dtype, kernel_size, stride=None, padding=0,
                 ceil_mode=False, count_include_pad=True):
        self.kind = kind
        self.g = geo.pool2d_geometry(tuple(x_shape), kernel_size, stride, padding, ceil_mode,
                                     f"{kind}_pool2d")
        self.args = geo.pool_kernel_args(self.g)
        self.cip = bool(count_include_pad) and not self.g.exclude_pad
        self.out_shape = (self.g.N, self.g.C, self.g.Ho, self.g.Wo)
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        y = np.empty(self.out_shape, dtype=self.dtype)
        if self.g.N:
            if self.kind == "max":
                _pool.max_forward(x, self.args, y, get_num_threads())
            else:
                _pool.avg_forward(x, self.args, self.cip, y, get_num_threads())
        return y

    def backward(self, grad_out, x, relu_mask=False):
        """``relu_mask`` (max pooling only): ``x`` is a ReLU's output and the gradient also
        goes back through it -- bitwise ``relu_backward(backward(grad_out, x), x)``."""
        if relu_mask and self.kind != "max":
            raise ValueError(f"relu_mask needs max pooling, not {self.kind!r} pooling")
        grad_x = np.empty(x.shape, dtype=self.dtype)
        if self.g.N:
            grad_out = np.ascontiguousarray(grad_out)
            if self.kind == "max":
                _pool.max_backward(grad_out, x, self.args, grad_x, get_num_threads(),
                                   relu_mask)
            else:
                _pool.avg_backward(grad_out, self.args, self.cip, grad_x, get_num_threads())
        return grad_x


def prepared_cache(cache, key, make, limit=8):
    """``cache[key]``, made by ``make()`` on a miss; at most ``limit`` entries (a model sees a
    few batch sizes: the training batch, the last partial one, inference)."""
    item = cache.get(key)
    if item is None:
        if len(cache) >= limit:
            cache.pop(next(iter(cache)))
        item = cache[key] = make()
    return item
