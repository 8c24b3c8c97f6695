"""Convolution: forward and backward, dispatched to the C kernels."""
import numpy as np

from .. import geometry as geo
from ..config import get_num_threads
from .. import _conv
from ._checks import _ACT_ELU, _ACT_LEAKY_RELU, _activation_code, _array, _bool, _contiguous, _expect_shape, _number


# ---------------------------------------------------------------- convolution

def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *,
           activation=None, negative_slope=0.01, alpha=1.0):
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (K, C, R, S), plus bias (K,).

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'``. The keyword ``activation``
    ('relu', 'leaky_relu', 'sigmoid', 'tanh', 'elu') is applied in the kernel's write-back,
    which saves a pass over the output; ``conv2d_backward`` then expects the gradient with
    respect to the pre-activation output (for ReLU, ``relu_backward(g, y)`` with the
    activated output ``y`` gives it, since y > 0 exactly where the pre-activation is).
    Returns (N, K, Ho, Wo).

    3x3 stride-1 undilated convolutions with at least 16 input and 16 output channels run
    Winograd's F(2x2, 3x3) algorithm (forward and both gradients): 2.25x fewer
    multiply-adds, results equal to the direct computation up to float rounding (a few
    units in the last place). The environment variable ``FASTCONV_NO_WINOGRAD=1`` selects
    the direct kernels instead.
    """
    op = "conv2d"
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    g = geo.conv2d_geometry(x.shape, weight.shape, stride, padding, dilation, op)
    if bias is not None:
        bias = _array(bias, "bias", op, 1, x.dtype)
        _expect_shape(bias, (g.K,), "bias", op)
    act = _activation_code(activation, op)
    param = (_number(negative_slope, "negative_slope", op) if act == _ACT_LEAKY_RELU else
             _number(alpha, "alpha", op) if act == _ACT_ELU else 0.0)
    x, weight = _contiguous(x), _contiguous(weight)
    y = np.empty((g.N, g.K, g.Ho, g.Wo), dtype=x.dtype)
    if g.N:
        _conv.forward(x, weight, bias, geo.conv_kernel_args(g), act, param, y, get_num_threads())
    return y


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, *, input_grad=True):
    """Gradients of ``conv2d`` given ``grad_out`` (N, K, Ho, Wo).

    Returns ``(grad_x, grad_weight, grad_bias)``; ``grad_x`` is None when
    ``input_grad=False`` (the first layer of a network needs no input gradient).
    ``grad_weight`` sums images in a fixed order: it is bitwise the same for any
    thread count.
    """
    op = "conv2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g = geo.conv2d_geometry(x.shape, weight.shape, stride, padding, dilation, op)
    _expect_shape(grad_out, (g.N, g.K, g.Ho, g.Wo), "grad_out", op)
    input_grad = _bool(input_grad, "input_grad", op)
    x, weight, grad_out = _contiguous(x), _contiguous(weight), _contiguous(grad_out)
    args = geo.conv_kernel_args(g)
    nt = get_num_threads()
    grad_w = np.empty(weight.shape, dtype=x.dtype)
    grad_b = np.empty((g.K,), dtype=x.dtype)
    grad_x = None
    if g.N:
        _conv.backward_weight(x, grad_out, args, grad_w, grad_b, nt)
    else:
        grad_w.fill(0)
        grad_b.fill(0)
    if input_grad:
        grad_x = np.empty(x.shape, dtype=x.dtype)
        if g.N:
            _conv.backward_data(grad_out, weight, args, grad_x, nt)
    return grad_x, grad_w, grad_b
