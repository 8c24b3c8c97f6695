"""Softmax, log-softmax and cross-entropy."""
import numpy as np

from ._checks import _array, _expect_shape


# ---------------------------------------------------------------- softmax and loss

def log_softmax(x, axis=-1):
    """log(softmax(x)) computed stably (the max is subtracted first)."""
    x = _array(x, "x", "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, stable for large inputs."""
    x = _array(x, "x", "softmax")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _target(logits, target, op):
    """Targets as class probabilities (N, K) in the logits' dtype."""
    N, K = logits.shape
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{op}: target must be a numpy.ndarray, got {type(target).__name__}")
    if target.ndim == 1:
        if target.dtype.kind not in "iu":
            raise TypeError(f"{op}: integer labels must have an integer dtype, got {target.dtype}")
        if target.shape[0] != N:
            raise ValueError(f"{op}: {target.shape[0]} labels for {N} rows of logits")
        if N and (target.min() < 0 or target.max() >= K):
            bad = target[(target < 0) | (target >= K)][0]
            raise ValueError(f"{op}: label {bad} is out of range for {K} classes")
        probs = np.zeros((N, K), dtype=logits.dtype)
        probs[np.arange(N), target] = 1
        return probs
    if target.ndim == 2:
        if target.dtype.kind not in "fiub":
            raise TypeError(f"{op}: target must be numeric, got dtype {target.dtype}")
        _expect_shape(target, logits.shape, "one-hot target", op)
        return np.asarray(target, dtype=logits.dtype)
    raise ValueError(f"{op}: target must be labels (N,) or one-hot (N, K), got shape {target.shape}")


def cross_entropy(logits, target):
    """Mean over the batch of -sum(target * log_softmax(logits)).

    ``target`` is integer labels (N,) or one-hot / probability rows (N, K).
    """
    op = "cross_entropy"
    logits = _array(logits, "logits", op, 2)
    probs = _target(logits, target, op)
    if logits.shape[0] == 0:
        raise ValueError(f"{op}: empty batch")
    return logits.dtype.type(-(probs * log_softmax(logits)).sum() / logits.shape[0])


def cross_entropy_backward(logits, target):
    """Gradient of the mean cross-entropy with respect to the logits."""
    op = "cross_entropy_backward"
    logits = _array(logits, "logits", op, 2)
    probs = _target(logits, target, op)
    if logits.shape[0] == 0:
        raise ValueError(f"{op}: empty batch")
    grad = softmax(logits) * probs.sum(axis=1, keepdims=True) - probs
    grad /= logits.shape[0]
    return grad
