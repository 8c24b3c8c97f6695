"""Max and average pooling, forward and backward."""
import numpy as np

from .. import geometry as geo
from ..config import get_num_threads
from .. import _pool
from ._checks import _array, _bool, _contiguous, _expect_shape


# ---------------------------------------------------------------- pooling


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, *, dilation=1):
    """Max pooling of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel_size``.

    Padding never wins (it counts as -inf), and with ``ceil_mode`` a last partial
    window at the end of a row or column still counts. ``dilation`` spaces the window's
    taps as in PyTorch (keyword-only here: the fifth positional argument is ``ceil_mode``).

    ``padding`` is an int, a pair ``(ph, pw)``, per-side ``((top, bottom), (left, right))``,
    ``'valid'`` or ``'same'``. ``'same'`` is Keras's pooling rule: output ``ceil(in / stride)``,
    total padding ``max((out - 1) * stride + kernel - in, 0)`` with the extra pixel at the
    bottom/right; pad cells never win a max and are excluded from an average (whatever
    ``count_include_pad`` says); ``ceil_mode`` must be False. Explicit padding may exceed
    half the window (PyTorch refuses that; ONNX models use it) as long as every window
    overlaps the input.
    """
    op = "max_pool2d"
    x = _array(x, "x", op, 4, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op, dilation)
    x = _contiguous(x)
    y = np.empty((g.N, g.C, g.Ho, g.Wo), dtype=x.dtype)
    if g.N:
        _pool.max_forward(x, geo.pool_kernel_args(g), y, get_num_threads())
    return y


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False, *,
                        dilation=1):
    """Gradient of ``max_pool2d``: each grad_out value goes to the first maximum of its window."""
    op = "max_pool2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op, dilation)
    _expect_shape(grad_out, (g.N, g.C, g.Ho, g.Wo), "grad_out", op)
    x, grad_out = _contiguous(x), _contiguous(grad_out)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    if g.N:
        _pool.max_backward(grad_out, x, geo.pool_kernel_args(g), grad_x, get_num_threads())
    return grad_x


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling of ``x`` (N, C, H, W), PyTorch's divisor rules.

    With ``count_include_pad`` the divisor is the window clipped to the padded image
    (per side: the ceil_mode overhang never counts); without, clipped to the image.

    ``padding`` is an int, a pair ``(ph, pw)``, per-side ``((top, bottom), (left, right))``,
    ``'valid'`` or ``'same'``. ``'same'`` is Keras's pooling rule: output ``ceil(in / stride)``,
    total padding ``max((out - 1) * stride + kernel - in, 0)`` with the extra pixel at the
    bottom/right; pad cells never win a max and are excluded from an average (whatever
    ``count_include_pad`` says); ``ceil_mode`` must be False. Explicit padding may exceed
    half the window (PyTorch refuses that; ONNX models use it) as long as every window
    overlaps the input.
    """
    op = "avg_pool2d"
    x = _array(x, "x", op, 4, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op)
    cip = _bool(count_include_pad, "count_include_pad", op) and not g.exclude_pad
    x = _contiguous(x)
    y = np.empty((g.N, g.C, g.Ho, g.Wo), dtype=x.dtype)
    if g.N:
        _pool.avg_forward(x, geo.pool_kernel_args(g), cip, y, get_num_threads())
    return y


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of ``avg_pool2d``."""
    op = "avg_pool2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op)
    cip = _bool(count_include_pad, "count_include_pad", op) and not g.exclude_pad
    _expect_shape(grad_out, (g.N, g.C, g.Ho, g.Wo), "grad_out", op)
    grad_out = _contiguous(grad_out)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    if g.N:
        _pool.avg_backward(grad_out, geo.pool_kernel_args(g), cip, grad_x, get_num_threads())
    return grad_x
