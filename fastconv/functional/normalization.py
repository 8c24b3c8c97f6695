"""Batch normalisation: training and inference forward (optionally fused with ReLU) and
their backward, on the C kernels of csrc/batchnorm.c.

Statistics are accumulated in float64 for both dtypes (per channel: blocked exact two-pass,
blocks merged in a fixed order), so results are bitwise the same for any thread count.
"""
import numpy as np

from .. import _norm
from ..config import get_num_threads
from ._checks import _ACT_NONE, _ACT_RELU, _FLOATS, _activation_code, _array, _bool, _expect_shape, _number

_F64 = np.dtype(np.float64)


def _f64(a):
    return np.ascontiguousarray(a, dtype=_F64)


def _eps(eps, op):
    eps = _number(eps, "eps", op)
    if eps <= 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    return eps


def _relu_flag(activation, op):
    code = _activation_code(activation, op)
    if code not in (_ACT_NONE, _ACT_RELU):
        raise ValueError(f"{op}: activation must be None, 'linear' or 'relu', got {activation!r}")
    return code == _ACT_RELU


def _channel_stats(a, name, op, C, need_writeable=False):
    if not isinstance(a, np.ndarray) or a.dtype not in _FLOATS:
        raise TypeError(f"{op}: {name} must be a float32/float64 numpy.ndarray, got {a!r:.60}")
    _expect_shape(a, (C,), name, op)
    if need_writeable and not a.flags.writeable:
        raise ValueError(f"{op}: {name} is read-only, but training updates it in place")
    return a


def _relu_output(y, x, op):
    """The fused ReLU's output ``y`` checked against ``x`` (None: no ReLU)."""
    if y is None:
        return None
    y = _array(y, "y", op, 4, x.dtype)
    _expect_shape(y, x.shape, "y", op)
    return y


def _view3(a):
    return a.reshape(a.shape[0], a.shape[1], a.shape[2] * a.shape[3])


# ---------------------------------------------------------------- forward

def batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5,
                 *, activation=None, return_stats=False):
    """Batch normalisation over (N, H, W) per channel of ``x`` (N, C, H, W).

    In training, normalises with the batch's (biased) variance and updates
    ``running_mean`` / ``running_var`` in place (unbiased variance), as PyTorch does;
    otherwise normalises with the running statistics. ``activation='relu'`` applies
    max(., 0) to the output in the same pass (see ``batch_norm2d_backward(y=...)``).

    Returns ``y``; with ``return_stats=True``, ``(y, mean, invstd)``: the per-channel mean
    and ``1 / sqrt(var + eps)`` it normalised with (float64, shape (C,); the batch's in
    training, the running ones otherwise), to hand to ``batch_norm2d_backward(stats=...)``.
    """
    op = "batch_norm2d"
    x = _array(x, "x", op, 4)
    C = x.shape[1]
    gamma = _array(gamma, "gamma", op, 1, x.dtype)
    beta = _array(beta, "beta", op, 1, x.dtype)
    for name, a in (("gamma", gamma), ("beta", beta)):
        _expect_shape(a, (C,), name, op)
    training = _bool(training, "training", op)
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        _channel_stats(a, name, op, C)
    momentum = _number(momentum, "momentum", op)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum}")
    eps = _eps(eps, op)
    if training:
        for name, a in (("running_mean", running_mean), ("running_var", running_var)):
            _channel_stats(a, name, op, C, need_writeable=True)
    relu = _relu_flag(activation, op)
    return_stats = _bool(return_stats, "return_stats", op)
    if training and x.shape[0] * x.shape[2] * x.shape[3] < 2:
        raise ValueError(f"{op}: training needs more than 1 value per channel, got input {x.shape}")

    return _batch_norm2d_checked(x, gamma, beta, running_mean, running_var, training, momentum,
                                 eps, relu, return_stats)


def _batch_norm2d_checked(x, gamma, beta, running_mean, running_var, training, momentum, eps,
                          relu, return_stats, residual=None, kernel_update=None):
    """``batch_norm2d`` on arguments that passed its checks (a layer that owns validated
    parameters enters here after checking ``x``). ``residual`` (training only: a
    C-contiguous array like ``x``) is added to the normalised value before the ReLU, as
    a separate add would (a ResNet block's end in one pass). ``kernel_update``: whether
    the running statistics are C-contiguous arrays of one dtype, which the kernels'
    binding updates in the same call (None: look)."""
    C = x.shape[1]
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if training:
        if kernel_update is None:
            kernel_update = (running_mean.dtype == running_var.dtype
                             and running_mean.flags.c_contiguous
                             and running_var.flags.c_contiguous)
        unbias = count / (count - 1)
        if x.size:
            # one call: the output and the (3, C) statistics made by the kernels' binding,
            # and the running statistics updated with NumPy's arithmetic where it can
            y, (mean, var, invstd) = _norm.train_forward(
                x, gamma, beta, eps, relu, get_num_threads(), residual,
                *((running_mean, running_var, momentum, unbias) if kernel_update else ()))
        else:   # no channel: nothing to normalise or update
            y, mean, var, invstd = np.empty_like(x), np.empty(C), np.empty(C), np.empty(C)
        if not kernel_update:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * unbias
    else:
        y = np.empty_like(x)
        mean = _f64(running_mean)
        invstd = 1.0 / np.sqrt(_f64(running_var) + eps)
        if x.size:
            _norm.forward_inference(_view3(x), mean, _f64(gamma) * invstd, _f64(beta), relu,
                                    _view3(y), get_num_threads())
    return (y, mean, invstd) if return_stats else y


# ---------------------------------------------------------------- backward

def _backward(op, grad_out, x, gamma, mean, invstd, training, y, relu_beta=None,
              masked=False, out=None, masked_out=None):
    """Shared tail of the two backward functions (arguments already validated; ``gamma``
    and ``relu_beta`` of x's dtype): ``(grad_x, grad_gamma, grad_beta)``, with ``masked``
    (needs ``y``) a fourth array, grad_out masked by y > 0. ``out``: an array like ``x``
    (``grad_out`` itself, when the caller is done with it) that ``grad_x`` is written to;
    ``masked_out`` the same for the masked gradient."""
    if x.size:
        # one call: the gradients (and the masked one) made by the kernels' binding
        return _norm.train_backward(grad_out, x, mean, invstd, gamma, training,
                                    get_num_threads(), y, relu_beta, masked, out,
                                    masked_out)
    C = x.shape[1]
    out = (np.empty_like(x), np.zeros(C, x.dtype), np.zeros(C, x.dtype))
    return out + (np.empty_like(x),) if masked else out


def _grad_inputs(grad_out, x, gamma, op):
    x = _array(x, "x", op, 4)
    gamma = _array(gamma, "gamma", op, 1, x.dtype)
    _expect_shape(gamma, (x.shape[1],), "gamma", op)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype)
    _expect_shape(grad_out, x.shape, "grad_out", op)
    return grad_out, x, gamma


def batch_norm2d_backward(grad_out, x, gamma, eps=1e-5, *, stats=None, y=None, relu_beta=None):
    """Gradients ``(grad_x, grad_gamma, grad_beta)`` of training-mode ``batch_norm2d``.

    ``stats=(mean, invstd)`` -- what ``batch_norm2d(..., return_stats=True)`` returned --
    skips recomputing the batch statistics (``eps`` is then unused). ``y`` is the output of
    a forward with ``activation='relu'``: ``grad_out`` is taken as the gradient of that
    output and masked where ``y <= 0`` in the same pass. ``relu_beta``, instead of ``y``:
    the ``beta`` of that forward (with its ``stats``, or none to recompute them); the mask
    is recomputed from ``x`` with the forward's own arithmetic -- bit for bit ``y > 0`` --
    which spares the two passes over ``y`` (about 40% of this function's memory traffic).
    """
    op = "batch_norm2d_backward"
    grad_out, x, gamma = _grad_inputs(grad_out, x, gamma, op)
    eps = _eps(eps, op)
    C = x.shape[1]
    if stats is not None:
        if not isinstance(stats, (tuple, list)) or len(stats) != 2:
            raise TypeError(f"{op}: stats must be a pair (mean, invstd), got {stats!r:.60}")
        mean, invstd = (_f64(_channel_stats(a, name, op, C))
                        for name, a in zip(("stats mean", "stats invstd"), stats))
    y = _relu_output(y, x, op)
    if relu_beta is not None:
        if y is not None:
            raise ValueError(f"{op}: give y or relu_beta for the ReLU's mask, not both")
        relu_beta = _array(relu_beta, "relu_beta", op, 1, x.dtype)
        _expect_shape(relu_beta, (C,), "relu_beta", op)
    if stats is None and x.size:
        # the batch statistics, through the training forward's own kernel
        _, (mean, var, invstd) = _norm.train_forward(x, None, None, eps, False,
                                                     get_num_threads())
    elif stats is None:
        mean = invstd = None
    return _backward(op, grad_out, x, gamma, mean, invstd, True, y, relu_beta)


def batch_norm2d_inference_backward(grad_out, x, gamma, running_mean, running_var, eps=1e-5,
                                    *, y=None):
    """Gradients ``(grad_x, grad_gamma, grad_beta)`` of inference-mode ``batch_norm2d``,
    ``y = (x - running_mean) * gamma / sqrt(running_var + eps) + beta`` (the statistics are
    constants). ``y`` as in ``batch_norm2d_backward``: the fused ReLU's output.
    """
    op = "batch_norm2d_inference_backward"
    grad_out, x, gamma = _grad_inputs(grad_out, x, gamma, op)
    C = x.shape[1]
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        _channel_stats(a, name, op, C)
    eps = _eps(eps, op)
    y = _relu_output(y, x, op)
    invstd = 1.0 / np.sqrt(_f64(running_var) + eps)
    return _backward(op, grad_out, x, gamma, _f64(running_mean), invstd, False, y)
