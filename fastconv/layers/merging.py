"""Layers that merge several tensors: Add, Subtract, Multiply, Average, Concatenate."""
from .. import _validation as V
from .. import functional as F
from ..layout import to_public_shape
from .base import Layer, register

__all__ = ["Add", "Subtract", "Multiply", "Average", "Concatenate"]


class _Merge(Layer):
    """Element-wise merge of inputs of one shape."""
    _multi_input = True
    _op = None
    _arity = None   # None: two or more inputs

    def _output_shape(self, in_shape):
        if not isinstance(in_shape, list) or len(in_shape) < 2:
            raise ValueError(f"{self.name}: {type(self).__name__} needs a list of at least 2 "
                             f"inputs, got {in_shape!r}")
        if self._arity is not None and len(in_shape) != self._arity:
            raise ValueError(f"{self.name}: {type(self).__name__} needs exactly "
                             f"{self._arity} inputs, got {len(in_shape)}")
        first = tuple(in_shape[0])
        for shape in in_shape[1:]:
            if tuple(shape) != first:
                shapes = ", ".join(str((None,) + to_public_shape(s)) for s in in_shape)
                raise ValueError(f"{self.name}: {type(self).__name__} needs inputs of one "
                                 f"shape, got {shapes}")
        return first

    def forward(self, x, training=False):
        return getattr(F, self._op)(x), (x if self._op == "multiply" else len(x))

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        if self._op == "multiply":
            return F.multiply_backward(grad_out, ctx)
        if self._op == "subtract":
            return [grad_out, -grad_out]
        if self._op == "average":
            g = grad_out * grad_out.dtype.type(1.0 / ctx)
            return [g] * ctx
        return [grad_out] * ctx   # add: every input receives the same gradient (read-only)


@register
class Add(_Merge):
    """The element-wise sum of its inputs (a residual connection)."""
    _op = "add"


@register
class Subtract(_Merge):
    """``inputs[0] - inputs[1]``."""
    _op = "subtract"
    _arity = 2


@register
class Multiply(_Merge):
    """The element-wise product of its inputs."""
    _op = "multiply"


@register
class Average(_Merge):
    """The element-wise mean of its inputs."""
    _op = "average"


@register
class Concatenate(Layer):
    """Join inputs along ``axis`` (channels-last, default -1: the channels)."""
    _multi_input = True

    def __init__(self, axis=-1, **kwargs):
        if not V.is_int(axis) or axis == 0:
            raise ValueError(f"Concatenate: axis must be a non-batch axis (an int, -1 for the "
                             f"channels), got {axis!r}")
        self.axis = int(axis)
        super().__init__(**kwargs)

    def _internal_axis(self, ndim):
        """Channels-last axis of a per-sample shape -> axis of the internal batch array."""
        ax = self.axis
        if not -ndim <= ax <= ndim or ax == 0:
            raise ValueError(f"{self.name}: axis {self.axis} does not exist for "
                             f"{ndim}-D samples")
        ax = ax % (ndim + 1) if ax < 0 else ax      # 1..ndim in (N, ...) channels-last
        if ndim == 3:
            return {1: 2, 2: 3, 3: 1}[ax]
        return ax

    def _output_shape(self, in_shape):
        if not isinstance(in_shape, list) or len(in_shape) < 2:
            raise ValueError(f"{self.name}: Concatenate needs a list of at least 2 inputs, "
                             f"got {in_shape!r}")
        ndim = len(in_shape[0])
        ax = self._internal_axis(ndim) - 1
        shapes = ", ".join(str((None,) + to_public_shape(s)) for s in in_shape)
        for shape in in_shape:
            if len(shape) != ndim or tuple(shape[:ax]) + tuple(shape[ax + 1:]) != \
                    tuple(in_shape[0][:ax]) + tuple(in_shape[0][ax + 1:]):
                raise ValueError(f"{self.name}: Concatenate along axis {self.axis} needs "
                                 f"inputs that match on every other axis, got {shapes}")
        out = list(in_shape[0])
        out[ax] = sum(s[ax] for s in in_shape)
        return tuple(out)

    def forward(self, x, training=False):
        ax = self._internal_axis(x[0].ndim - 1)
        return F.concatenate(x, axis=ax), [a.shape[ax] for a in x]

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        ax = self._internal_axis(grad_out.ndim - 1)
        out, start = [], 0
        for width in ctx:
            index = [slice(None)] * grad_out.ndim
            index[ax] = slice(start, start + width)
            out.append(grad_out[tuple(index)])
            start += width
        return out

    def get_config(self):
        cfg = super().get_config()
        cfg["axis"] = self.axis
        return cfg
