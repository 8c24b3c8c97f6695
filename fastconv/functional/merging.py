"""Ops that merge several arrays of one shape: add, subtract, multiply, average,
concatenate. Each backward returns one gradient per input (a list)."""
import numpy as np

from .. import geometry as geo
from ._checks import _array


def _same_arrays(inputs, op, min_count=2, same_shape=True):
    if not isinstance(inputs, (list, tuple)):
        raise TypeError(f"{op}: inputs must be a list of arrays, got {type(inputs).__name__}")
    if len(inputs) < min_count:
        raise ValueError(f"{op}: needs at least {min_count} inputs, got {len(inputs)}")
    arrays = [_array(a, f"inputs[{i}]", op) for i, a in enumerate(inputs)]
    first = arrays[0]
    for i, a in enumerate(arrays[1:], 1):
        if a.dtype != first.dtype:
            raise TypeError(f"{op}: inputs[{i}] has dtype {a.dtype} but inputs[0] has "
                            f"{first.dtype}")
        if same_shape and a.shape != first.shape:
            raise ValueError(f"{op}: inputs[{i}] has shape {a.shape} but inputs[0] has "
                             f"{first.shape}; the inputs must have the same shape")
    return arrays


def _grad(grad_out, arrays, op):
    g = _array(grad_out, "grad_out", op, dtype=arrays[0].dtype)
    if g.shape != arrays[0].shape:
        raise ValueError(f"{op}: grad_out must have shape {arrays[0].shape}, got {g.shape}")
    return g


def add(inputs):
    """Element-wise sum of a list of arrays of one shape."""
    arrays = _same_arrays(inputs, "add")
    y = arrays[0] + arrays[1]
    for a in arrays[2:]:
        y += a
    return y


def add_backward(grad_out, inputs):
    arrays = _same_arrays(inputs, "add_backward")
    g = _grad(grad_out, arrays, "add_backward")
    return [g.copy() for _ in arrays]


def subtract(inputs):
    """``inputs[0] - inputs[1]`` (exactly two arrays of one shape)."""
    arrays = _same_arrays(inputs, "subtract")
    if len(arrays) != 2:
        raise ValueError(f"subtract: needs exactly 2 inputs, got {len(arrays)}")
    return arrays[0] - arrays[1]


def subtract_backward(grad_out, inputs):
    arrays = _same_arrays(inputs, "subtract_backward")
    if len(arrays) != 2:
        raise ValueError(f"subtract_backward: needs exactly 2 inputs, got {len(arrays)}")
    g = _grad(grad_out, arrays, "subtract_backward")
    return [g.copy(), -g]


def multiply(inputs):
    """Element-wise product of a list of arrays of one shape."""
    arrays = _same_arrays(inputs, "multiply")
    y = arrays[0] * arrays[1]
    for a in arrays[2:]:
        y *= a
    return y


def multiply_backward(grad_out, inputs):
    arrays = _same_arrays(inputs, "multiply_backward")
    g = _grad(grad_out, arrays, "multiply_backward")
    grads = []
    for i in range(len(arrays)):
        gi = g.copy()
        for j, a in enumerate(arrays):
            if j != i:
                gi *= a
        grads.append(gi)
    return grads


def average(inputs):
    """Element-wise mean of a list of arrays of one shape."""
    arrays = _same_arrays(inputs, "average")
    y = add(arrays)
    y *= y.dtype.type(1.0 / len(arrays))
    return y


def average_backward(grad_out, inputs):
    arrays = _same_arrays(inputs, "average_backward")
    g = _grad(grad_out, arrays, "average_backward") * arrays[0].dtype.type(1.0 / len(arrays))
    return [g.copy() for _ in arrays]


def _concat_args(inputs, axis, op):
    arrays = _same_arrays(inputs, op, min_count=1, same_shape=False)
    ndim = arrays[0].ndim
    ax = geo.as_int(axis, "axis", op)
    if not -ndim <= ax < ndim or ax in (0, -ndim):
        raise ValueError(f"{op}: axis must be a non-batch axis of {ndim}-D inputs, got {axis}")
    ax %= ndim
    for i, a in enumerate(arrays):
        if a.ndim != ndim or a.shape[:ax] + a.shape[ax + 1:] != \
                arrays[0].shape[:ax] + arrays[0].shape[ax + 1:]:
            raise ValueError(f"{op}: inputs[{i}] has shape {a.shape}, which differs from "
                             f"inputs[0] {arrays[0].shape} outside axis {ax}")
    return arrays, ax


def concatenate(inputs, axis=1):
    """Join arrays along ``axis`` (default 1: the channels of NCHW maps)."""
    arrays, ax = _concat_args(inputs, axis, "concatenate")
    return np.concatenate(arrays, axis=ax)


def concatenate_backward(grad_out, inputs, axis=1):
    arrays, ax = _concat_args(inputs, axis, "concatenate_backward")
    g = _array(grad_out, "grad_out", "concatenate_backward", dtype=arrays[0].dtype)
    expected = list(arrays[0].shape)
    expected[ax] = sum(a.shape[ax] for a in arrays)
    if g.shape != tuple(expected):
        raise ValueError(f"concatenate_backward: grad_out must have shape {tuple(expected)}, "
                         f"got {g.shape}")
    bounds = np.cumsum([a.shape[ax] for a in arrays])[:-1]
    return [np.ascontiguousarray(p) for p in np.split(g, bounds, axis=ax)]
