"""Batch normalisation."""
import numpy as np

from ._checks import _FLOATS, _array, _bool, _expect_shape, _number


# ---------------------------------------------------------------- batch normalisation

def batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, H, W) per channel of ``x`` (N, C, H, W).

    In training, normalises with the batch's (biased) variance and updates
    ``running_mean`` / ``running_var`` in place (unbiased variance), as PyTorch does;
    otherwise normalises with the running statistics.
    """
    op = "batch_norm2d"
    x = _array(x, "x", op, 4)
    C = x.shape[1]
    gamma = _array(gamma, "gamma", op, 1, x.dtype)
    beta = _array(beta, "beta", op, 1, x.dtype)
    for name, a in (("gamma", gamma), ("beta", beta)):
        _expect_shape(a, (C,), name, op)
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if not isinstance(a, np.ndarray) or a.dtype not in _FLOATS:
            raise TypeError(f"{op}: {name} must be a float32/float64 numpy.ndarray, got {a!r:.60}")
        _expect_shape(a, (C,), name, op)
    training = _bool(training, "training", op)
    momentum = _number(momentum, "momentum", op)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum}")
    eps = _number(eps, "eps", op)
    if eps <= 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    if training:
        for name, a in (("running_mean", running_mean), ("running_var", running_var)):
            if not a.flags.writeable:
                raise ValueError(f"{op}: {name} is read-only, but training updates it in place")
    if training:
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if count < 2:
            raise ValueError(f"{op}: training needs more than 1 value per channel, got input {x.shape}")
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (count / (count - 1))
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
    scale = (gamma / np.sqrt(var + x.dtype.type(eps))).astype(x.dtype, copy=False)
    shift = (beta - mean * scale).astype(x.dtype, copy=False)
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def batch_norm2d_backward(grad_out, x, gamma, eps=1e-5):
    """Gradients (grad_x, grad_gamma, grad_beta) of training-mode ``batch_norm2d``."""
    op = "batch_norm2d_backward"
    x = _array(x, "x", op, 4)
    gamma = _array(gamma, "gamma", op, 1, x.dtype)
    _expect_shape(gamma, (x.shape[1],), "gamma", op)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype)
    _expect_shape(grad_out, x.shape, "grad_out", op)
    eps = _number(eps, "eps", op)
    if eps <= 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    axes = (0, 2, 3)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + x.dtype.type(eps))
    x_hat = (x - mean) * inv_std
    grad_beta = grad_out.sum(axis=axes)
    grad_gamma = (grad_out * x_hat).sum(axis=axes)
    g = gamma[None, :, None, None] * inv_std
    grad_x = g * (grad_out - (grad_beta[None, :, None, None]
                              + x_hat * grad_gamma[None, :, None, None]) / count)
    return grad_x.astype(x.dtype, copy=False), grad_gamma, grad_beta
