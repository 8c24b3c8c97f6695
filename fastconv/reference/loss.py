"""Reference softmax, log-softmax and cross-entropy."""
import numpy as np

from ._checks import _as, _float_dtype


# --------------------------------------------------------------------------- softmax / loss

def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, shifted by the maximum for stability."""
    x = _as(x, _float_dtype(x))
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the maximum for stability."""
    x = _as(x, _float_dtype(x))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(grad_out, x, axis=-1):
    """Gradient of :func:`softmax` w.r.t. ``x``: ``s * (g - sum(g * s))`` along ``axis``."""
    dtype = _float_dtype(grad_out, x)
    g = _as(grad_out, dtype)
    s = softmax(_as(x, dtype), axis=axis)
    return s * (g - np.sum(g * s, axis=axis, keepdims=True))


def _ce_target(logits, target, op):
    """Return ``(logits, target_matrix)``: integer labels become one-hot rows."""
    dtype = _float_dtype(logits)
    logits = _as(logits, dtype)
    if logits.ndim != 2:
        raise ValueError(f"{op}: logits must be 2-D (N, K), got shape {logits.shape}")
    N, K = logits.shape
    target = np.asarray(target)
    if target.ndim == 1:
        if not np.issubdtype(target.dtype, np.integer):
            raise ValueError(f"{op}: 1-D targets must be integer class labels, "
                             f"got dtype {target.dtype}")
        if target.shape != (N,):
            raise ValueError(f"{op}: labels must have shape ({N},), got {target.shape}")
        if N and (target.min() < 0 or target.max() >= K):
            raise ValueError(f"{op}: labels must lie in [0, {K}), got range "
                             f"[{target.min()}, {target.max()}]")
        t = np.zeros((N, K), dtype=dtype)
        t[np.arange(N), target] = 1
        return logits, t
    if target.shape != (N, K):
        raise ValueError(f"{op}: targets must be labels ({N},) or one-hot/probabilities "
                         f"({N}, {K}), got shape {target.shape}")
    return logits, target.astype(dtype, copy=False)


def cross_entropy(logits, target):
    """Mean softmax cross-entropy over the batch, like ``torch.nn.functional.cross_entropy``.

    ``logits`` is ``(N, K)``; ``target`` is integer labels ``(N,)`` or one-hot /
    class-probability rows ``(N, K)``.  Loss ``= -(1/N) sum_n sum_k t[n, k] *
    log_softmax(logits)[n, k]`` with a stable log-softmax.  Returns a NumPy scalar of the
    logits' dtype.
    """
    logits, t = _ce_target(logits, target, "cross_entropy")
    N = logits.shape[0]
    loss = -np.sum(t * log_softmax(logits, axis=1)) / logits.dtype.type(N)
    return logits.dtype.type(loss)


def cross_entropy_backward(logits, target):
    """Gradient of the mean :func:`cross_entropy` w.r.t. ``logits``:
    ``(softmax(logits) * sum_k t[n, k] - t) / N`` (``(softmax - onehot) / N`` for labels)."""
    logits, t = _ce_target(logits, target, "cross_entropy_backward")
    N = logits.shape[0]
    s = softmax(logits, axis=1)
    return (s * t.sum(axis=1, keepdims=True) - t) / logits.dtype.type(N)
