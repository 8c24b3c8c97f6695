"""Ops that only change an array's shape."""
from .. import geometry as geo
from ._checks import _array


# ---------------------------------------------------------------- flatten

def flatten(x):
    """(N, ...) -> (N, prod(...)) in row-major order, as the notes draw it."""
    x = _array(x, "x", "flatten")
    if x.ndim < 1:
        raise ValueError(f"flatten: x must have a batch axis, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def flatten_backward(grad_out, x_shape):
    op = "flatten_backward"
    grad_out = _array(grad_out, "grad_out", op, 2)
    if not isinstance(x_shape, (tuple, list)):
        raise TypeError(f"{op}: x_shape must be a tuple of ints, got {type(x_shape).__name__} "
                        f"{x_shape!r}")
    x_shape = tuple(geo.as_int(d, "x_shape entry", op) for d in x_shape)
    if len(x_shape) < 1 or any(d < 0 for d in x_shape):
        raise ValueError(f"{op}: x_shape must be (N, ...) with sizes >= 0, got {x_shape}")
    size = 1
    for d in x_shape:
        size *= d
    if size != grad_out.size or x_shape[0] != grad_out.shape[0]:
        raise ValueError(f"{op}: grad_out {grad_out.shape} does not fit x_shape {x_shape}")
    return grad_out.reshape(x_shape)
