"""Argument checkers of the Keras-style API (layers, models, training).

Each raises ``TypeError`` for a value of the wrong kind and ``ValueError`` for a value out
of range, with a message that names the owner, the argument and the value.  The functional
tier has its own checks (``fastconv.functional._checks``): it validates arrays, this module
validates configuration.
"""
import math

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def is_number(v):
    return (isinstance(v, (int, float, np.integer, np.floating))
            and not isinstance(v, (bool, np.bool_)))


def positive_int(v, what, owner=None):
    where = f"{owner}: " if owner else ""
    if not is_int(v):
        raise TypeError(f"{where}{what} must be a positive integer, got {v!r}")
    if v <= 0:
        raise ValueError(f"{where}{what} must be a positive integer, got {v!r}")
    return int(v)


def nonnegative_int(v, what, owner=None):
    where = f"{owner}: " if owner else ""
    if not is_int(v):
        raise TypeError(f"{where}{what} must be a non-negative integer, got {v!r}")
    if v < 0:
        raise ValueError(f"{where}{what} must be a non-negative integer, got {v!r}")
    return int(v)


def int_pair(v, what, owner, minimum=1):
    """An int or a pair of ints -> (a, b), each >= minimum."""
    if is_int(v):
        pair = (int(v), int(v))
    elif isinstance(v, (tuple, list)) and len(v) == 2 and all(is_int(t) for t in v):
        pair = (int(v[0]), int(v[1]))
    else:
        raise TypeError(f"{owner}: {what} must be an int or a pair of ints, got {v!r}")
    if pair[0] < minimum or pair[1] < minimum:
        raise ValueError(f"{owner}: {what} must be >= {minimum}, got {v!r}")
    return pair


def pair_of_pairs(v, what, owner):
    """Keras's cropping/padding argument: int, (sym_h, sym_w) or ((top, bottom), (left,
    right)), each >= 0 -> ((top, bottom), (left, right))."""
    if is_int(v):
        v = (v, v)
    if isinstance(v, (tuple, list)) and len(v) == 2:
        out = []
        for t in v:
            if is_int(t):
                out.append((int(t), int(t)))
            elif isinstance(t, (tuple, list)) and len(t) == 2 and all(is_int(u) for u in t):
                out.append((int(t[0]), int(t[1])))
            else:
                break
        else:
            if any(u < 0 for p in out for u in p):
                raise ValueError(f"{owner}: {what} must be >= 0, got {v!r}")
            return tuple(out)
    raise TypeError(f"{owner}: {what} must be an int, a pair of ints or a pair of pairs "
                    f"((top, bottom), (left, right)), got {v!r}")


def flag(v, what, owner):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{owner}: {what} must be True or False, got {v!r}")
    return bool(v)


def nonnegative_number(v, what, owner):
    """A finite float >= 0 (LeakyReLU's slope, ELU's alpha)."""
    if not is_number(v):
        raise TypeError(f"{owner}: {what} must be a number, got {v!r}")
    if not (math.isfinite(float(v)) and float(v) >= 0):
        raise ValueError(f"{owner}: {what} must be a finite number >= 0, got {v!r}")
    return float(v)


def finite_number(v, what, owner, lo=None, hi=None, lo_open=False, hi_open=False):
    """A finite float, optionally within [lo, hi] (open ends with ``lo_open``/``hi_open``)."""
    if not is_number(v):
        raise TypeError(f"{owner}: {what} must be a number, got {v!r}")
    v = float(v)
    if not math.isfinite(v):
        raise ValueError(f"{owner}: {what} must be finite, got {v!r}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{owner}: {what} must be {'>' if lo_open else '>='} {lo}, got {v!r}")
    if hi is not None and (v > hi or (hi_open and v == hi)):
        raise ValueError(f"{owner}: {what} must be {'<' if hi_open else '<='} {hi}, got {v!r}")
    return v


def number_in(v, what, owner, lo, hi, hi_open=False):
    if not is_number(v):
        raise TypeError(f"{owner}: {what} must be a number, got {v!r}")
    x = float(v)
    if not (lo <= x and (x < hi if hi_open else x <= hi)):
        raise ValueError(f"{owner}: {what} must be in [{lo}, {hi}{')' if hi_open else ']'}, "
                         f"got {v!r}")
    return x


def padding_mode(v, owner, per_side=False):
    """'valid' | 'same' | int | (ph, pw) -> 'valid' | 'same' | (ph, pw); with ``per_side``
    also ((top, bottom), (left, right)), returned as such."""
    if isinstance(v, str):
        p = v.strip().lower()
        if p not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid', 'same' or explicit ints, "
                             f"got {v!r}")
        return p
    if per_side and isinstance(v, (tuple, list)) and len(v) == 2 and all(
            isinstance(t, (tuple, list)) for t in v):
        return pair_of_pairs(v, "padding", owner)
    return int_pair(v, "padding", owner, minimum=0)


def float_dtype(dtype, owner):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in FLOAT_DTYPES:
        raise ValueError(f"{owner}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def shape_tuple(shape, what, owner):
    if is_int(shape):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{owner}: {what} must be a tuple of ints, got {shape!r}") from None
    return shape


def sample_shape(shape, owner):
    """A Keras shape with or without the batch dimension -> per-sample shape.

    Per-sample shapes are (features,) or (height, width, channels); a leading None, or a
    length of 2 or 4, marks a batch dimension."""
    shape = shape_tuple(shape, "input shape", owner)
    if shape and shape[0] is None:
        shape = shape[1:]
    elif len(shape) in (2, 4):
        shape = shape[1:]
    if len(shape) not in (1, 3) or not all(is_int(s) and s > 0 for s in shape):
        raise ValueError(f"{owner}: input shape must be (features,) or (height, width, "
                         f"channels) of positive ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def seed_arg(seed, owner):
    if seed is not None and (not is_int(seed) or seed < 0):
        raise ValueError(f"{owner}: seed must be a non-negative int or None, got {seed!r}")
    return None if seed is None else int(seed)


def verbose_arg(v):
    if v == "auto":
        return 1
    if isinstance(v, bool) or v not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {v!r}")
    return int(v)


def numeric_array(x, what):
    if x is None:
        raise ValueError(f"{what} is required")
    a = x if type(x) is np.ndarray else np.asarray(x)
    kind = a.dtype.kind
    if kind not in "fiub":
        if kind == "O":
            raise TypeError(f"{what} must be a numeric array, got an object array")
        raise TypeError(f"{what} must be numeric, got dtype {a.dtype}")
    return a
