"""Reference batch normalisation."""
import numpy as np

from ._checks import _as, _check_4d, _float_dtype


# --------------------------------------------------------------------------- batch norm

def batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                 eps=1e-5):
    """Batch normalisation over N, H, W for each channel of an NCHW tensor, like
    ``torch.nn.functional.batch_norm``.

    Training: normalise with the batch mean and the *biased* batch variance, and update
    ``running_mean`` / ``running_var`` in place (when not None) as
    ``r = (1 - momentum) * r + momentum * stat`` using the *unbiased* variance.
    Evaluation: normalise with ``running_mean`` and ``running_var``.
    ``y = (x - mean) / sqrt(var + eps) * gamma + beta``; ``gamma`` / ``beta`` of None mean
    1 / 0.  Returns ``y``.
    """
    dtype = _float_dtype(x)
    x = _as(x, dtype)
    _check_4d(x, "batch_norm2d")
    N, C, H, W = x.shape
    gamma = np.ones(C, dtype) if gamma is None else _as(gamma, dtype)
    beta = np.zeros(C, dtype) if beta is None else _as(beta, dtype)
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"batch_norm2d: gamma and beta must have shape ({C},), got "
                         f"{gamma.shape} and {beta.shape}")
    if training:
        M = N * H * W
        if M <= 1:
            raise ValueError(f"batch_norm2d: training needs more than 1 value per channel, "
                             f"got input shape {x.shape}")
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * (M / (M - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm2d: evaluation mode needs running_mean and running_var")
        mean = _as(running_mean, dtype)
        var = _as(running_var, dtype)
    scale = gamma / np.sqrt(var + dtype.type(eps))
    return ((x - mean[:, None, None]) * scale[:, None, None]
            + beta[:, None, None]).astype(dtype, copy=False)


def batch_norm2d_backward(grad_out, x, gamma, eps=1e-5):
    """Gradients of training-mode :func:`batch_norm2d` (batch statistics) w.r.t. ``x``,
    ``gamma`` and ``beta``: ``(grad_x, grad_gamma, grad_beta)``.

    With ``xhat = (x - mean) / sqrt(var + eps)`` and ``M = N*H*W``:
    ``grad_beta = sum g``, ``grad_gamma = sum g * xhat`` and
    ``grad_x = gamma / sqrt(var + eps) / M * (M*g - grad_beta - xhat * grad_gamma)``.
    """
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    _check_4d(x, "batch_norm2d_backward")
    N, C, H, W = x.shape
    gamma = np.ones(C, dtype) if gamma is None else _as(gamma, dtype)
    M = N * H * W
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    invstd = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + dtype.type(eps))
    xhat = (x - mean) * invstd
    gb = g.sum(axis=(0, 2, 3))
    gg = (g * xhat).sum(axis=(0, 2, 3))
    gx = (gamma[:, None, None] * invstd / dtype.type(M)
          * (M * g - gb[:, None, None] - xhat * gg[:, None, None]))
    return gx.astype(dtype, copy=False), gg, gb
