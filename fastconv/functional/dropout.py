"""Inverted dropout."""
import numpy as np

from ._checks import _array, _bool, _expect_shape, _number


# ---------------------------------------------------------------- dropout

def _rate(p, op):
    p = _number(p, "p", op)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{op}: dropout rate p must be in [0, 1), got {p}")
    return p


def dropout(x, p, training=True, rng=None):
    """Inverted dropout: zero each value with probability ``p``, scale the rest by 1/(1-p).

    Returns ``(y, mask)`` where ``mask`` holds 0 or 1/(1-p) per element (so
    ``y = x * mask``); outside training returns ``(x copy, None)``. ``rng`` is a
    ``numpy.random.Generator``, an int seed or None.
    """
    op = "dropout"
    x = _array(x, "x", op)
    p = _rate(p, op)
    if not _bool(training, "training", op) or p == 0.0:
        return x.copy(), None
    if rng is None or isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng must be a numpy Generator, an int seed or None, got {rng!r}")
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    mask = keep * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask


def dropout_backward(grad_out, mask, p):
    """grad_out * mask (mask None means dropout was inactive)."""
    op = "dropout_backward"
    grad_out = _array(grad_out, "grad_out", op)
    _rate(p, op)
    if mask is None:
        return grad_out.copy()
    mask = _array(mask, "mask", op, None, grad_out.dtype)
    _expect_shape(mask, grad_out.shape, "mask", op)
    return grad_out * mask
