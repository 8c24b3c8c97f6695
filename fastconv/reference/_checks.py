"""Helpers shared by the reference ops."""
import numpy as np


# --------------------------------------------------------------------------- helpers

def _float_dtype(*arrays):
    """The dtype to compute in: float32 if every array is float32, else float64."""
    dt = np.result_type(*[np.asarray(a).dtype for a in arrays if a is not None])
    if dt == np.float32 or dt == np.float64:
        return dt
    return np.dtype(np.float64)


def _as(a, dtype):
    """``a`` as an ndarray of ``dtype`` (no copy when it already is one)."""
    return None if a is None else np.asarray(a, dtype=dtype)


def _pair(value, name, op):
    """Normalise an int or a 2-sequence of ints to a ``(h, w)`` tuple of Python ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  for v in items):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def _check_4d(x, op, name="x"):
    if x.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D (N, C, H, W), got shape {x.shape}")


def _sides(padding, op, name="padding"):
    """An explicit padding (int, ``(ph, pw)`` or ``((top, bottom), (left, right))``) as
    per-side ``((top, bottom), (left, right))`` of Python ints, each >= 0."""
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and any(
            isinstance(v, (tuple, list)) for v in padding):
        sides = tuple(_pair(v, name, op) for v in padding)
    else:
        ph, pw = _pair(padding, name, op)
        sides = ((ph, ph), (pw, pw))
    if min(sides[0] + sides[1]) < 0:
        raise ValueError(f"{op}: {name} must be non-negative, got {padding!r}")
    return sides
