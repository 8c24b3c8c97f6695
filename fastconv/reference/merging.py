"""Reference merging ops: sum, difference, product, mean and concatenation of arrays."""
import numpy as np

from ._checks import _as, _float_dtype


def _arrays(inputs):
    dt = _float_dtype(*inputs)
    return [_as(a, dt) for a in inputs]


def add(inputs):
    """``sum(inputs)``, element by element."""
    return sum(_arrays(inputs)[1:], _arrays(inputs)[0])


def add_backward(grad_out, inputs):
    """Each input receives the whole gradient."""
    return [np.array(grad_out, dtype=a.dtype) for a in _arrays(inputs)]


def subtract(inputs):
    a, b = _arrays(inputs)
    return a - b


def subtract_backward(grad_out, inputs):
    a, _ = _arrays(inputs)
    g = np.asarray(grad_out, dtype=a.dtype)
    return [g.copy(), -g]


def multiply(inputs):
    arrays = _arrays(inputs)
    return np.prod(np.stack(arrays), axis=0)


def multiply_backward(grad_out, inputs):
    """d(prod)/d(x_i) = prod of the other inputs."""
    arrays = _arrays(inputs)
    g = np.asarray(grad_out, dtype=arrays[0].dtype)
    return [g * np.prod(np.stack([a for j, a in enumerate(arrays) if j != i]), axis=0)
            for i in range(len(arrays))]


def average(inputs):
    arrays = _arrays(inputs)
    return np.mean(np.stack(arrays), axis=0).astype(arrays[0].dtype)


def average_backward(grad_out, inputs):
    arrays = _arrays(inputs)
    g = np.asarray(grad_out, dtype=arrays[0].dtype) / len(arrays)
    return [g.astype(arrays[0].dtype) for _ in arrays]


def concatenate(inputs, axis=1):
    return np.concatenate(_arrays(inputs), axis=axis)


def concatenate_backward(grad_out, inputs, axis=1):
    """The slices of ``grad_out`` that each input contributed."""
    arrays = _arrays(inputs)
    g = np.asarray(grad_out, dtype=arrays[0].dtype)
    out, start = [], 0
    for a in arrays:
        index = [slice(None)] * g.ndim
        index[axis] = slice(start, start + a.shape[axis])
        out.append(g[tuple(index)].copy())
        start += a.shape[axis]
    return out
