"""Reference inverted dropout."""
import numpy as np

from ._checks import _as, _float_dtype


# --------------------------------------------------------------------------- dropout

def dropout(x, p, training=True, rng=None):
    """Inverted dropout.  Returns ``(y, mask)`` with ``y = x * mask``.

    In training (and ``p > 0``), ``mask`` has the dtype and shape of ``x`` and holds ``0``
    (dropped, with probability ``p``) or ``1 / (1 - p)`` (kept): element ``i`` is kept iff
    ``u[i] >= p`` where ``u = rng.random(x.shape, dtype=x.dtype)``, the same draw as
    :func:`fastconv.functional.dropout`, so equal seeds give equal masks.  With ``p == 1``
    everything is dropped and the mask is all zeros (PyTorch allows ``p = 1``).
    Outside training, or with ``p == 0``, the op is the identity: ``(x.copy(), None)``.

    ``rng`` is a ``numpy.random.Generator``, an int seed, or None (fresh entropy); it is
    passed to ``numpy.random.default_rng``.
    """
    x = _as(x, _float_dtype(x))
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x.copy(), None
    rng = np.random.default_rng(rng)
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=x.dtype)
    else:
        mask = keep * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask


def dropout_backward(grad_out, mask, p):
    """Gradient of :func:`dropout`: ``grad_out * mask``; with ``mask=None`` (evaluation
    mode) a copy of ``grad_out``.  ``p`` is accepted for symmetry with the forward."""
    g = _as(grad_out, _float_dtype(grad_out))
    if mask is None:
        return g.copy()
    return g * _as(mask, g.dtype)
