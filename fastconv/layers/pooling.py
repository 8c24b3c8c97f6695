"""Pooling layers: max and average over windows, and global pooling."""
import numpy as np

from .. import _validation as V
from .. import functional as F
from ..functional.global_pooling import _avg_pool_maps, _max_pool_maps
from ..functional.prepared import PreparedPool2d
from ..layout import to_public_shape
from .base import Layer, register

__all__ = ["MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D",
           "GlobalAveragePooling2D", "GlobalMaxPooling2D"]


def _out_size(size, k, s, p, ceil_mode):
    span = size + 2 * p - k
    if span < 0:
        return 0
    o = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (o - 1) * s >= size + p:
        o -= 1  # the last window must start inside the input or the left padding
    return o


class _Pooling2D(Layer):
    _kind = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", ceil_mode=False,
                 data_format=None, **kwargs):
        owner = type(self).__name__
        self.pool_size = V.int_pair(pool_size, "pool_size", owner)
        self.strides = (self.pool_size if strides is None
                        else V.int_pair(strides, "strides", owner))
        self.padding = V.padding_mode(padding, owner)
        self.ceil_mode = V.flag(ceil_mode, "ceil_mode", owner)
        if self.ceil_mode and self.padding == "same":
            raise ValueError(f"{owner}: ceil_mode=True cannot be combined with padding='same'")
        if not isinstance(self.padding, str):
            for p, k in zip(self.padding, self.pool_size):
                if 2 * p > k:
                    raise ValueError(f"{owner}: padding {p} must be at most half the pool "
                                     f"size {k}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        super().__init__(**kwargs)
        self._pad = (0, 0)
        self._ceil = self.ceil_mode

    def _prepared(self, x):
        """The pooling prepared for ``x``'s shape, or None when the public op must check."""
        return self._prepared_op(x, x.shape, lambda: PreparedPool2d(
            self._kind, x.shape, self.dtype, self.pool_size, self.strides, self._pad,
            self._ceil, False))

    def _geometry(self, in_shape):
        owner = type(self).__name__
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: {owner} needs images (height, width, channels), "
                             f"got input shape {to_public_shape(in_shape)}")
        C, H, W = in_shape
        if self.padding == "same":
            # Keras: output ceil(W / S), padding split with the extra at the end.  Symmetric
            # padding total//2 plus ceil_mode gives exactly the same windows; padded cells
            # never win a max and are not counted by the average.
            pads, outs, ceils = [], [], []
            for size, k, s in zip((H, W), self.pool_size, self.strides):
                target = -(-size // s)
                total = max((target - 1) * s + k - size, 0)
                p = total // 2
                for c in (False, True):
                    if _out_size(size, k, s, p, c) == target:
                        break
                else:  # pragma: no cover - cannot happen: ceil covers the odd total
                    raise ValueError(f"{self.name}: cannot express 'same' pooling of {size} "
                                     f"with pool {k} and stride {s}")
                pads.append(p)
                outs.append(target)
                ceils.append(c)
            if ceils[0] != ceils[1]:
                # ceil_mode is shared by both axes: with ceil on, an axis that needed floor
                # gets the same count (floor==ceil there when the padding total is even).
                for size, k, s, p, o in zip((H, W), self.pool_size, self.strides, pads, outs):
                    if _out_size(size, k, s, p, True) != o:  # pragma: no cover
                        raise ValueError(f"{self.name}: cannot express 'same' pooling of "
                                         f"{H}x{W}")
                ceils = [True, True]
            return tuple(pads), ceils[0], (C, outs[0], outs[1])
        pads = (0, 0) if self.padding == "valid" else self.padding
        outs = []
        for size, k, s, p, axis in zip((H, W), self.pool_size, self.strides, pads,
                                       ("height", "width")):
            o = _out_size(size, k, s, p, self.ceil_mode)
            if o < 1:
                raise ValueError(
                    f"{self.name}: no valid output along the {axis}: pool size {k} is larger "
                    f"than the padded input {size} + 2*{p} = {size + 2 * p}; output size "
                    f"(W - F + 2P)/S + 1 = ({size} - {k} + {2 * p})/{s} + 1 < 1")
            outs.append(o)
        return tuple(pads), self.ceil_mode, (C, outs[0], outs[1])

    def _output_shape(self, in_shape):
        return self._geometry(in_shape)[2]

    def _create_weights(self, in_shape, rng):
        self._pad, self._ceil, _ = self._geometry(in_shape)

    def _public_op(self, suffix=""):
        """The validating functional op, for arrays the prepared one cannot take; padded
        cells never count in an average (Keras's rule)."""
        op = getattr(F, f"{self._kind}_pool2d{suffix}")
        extra = () if self._kind == "max" else (False,)
        return lambda *a: op(*a, self.pool_size, self.strides, self._pad, self._ceil, *extra)

    def forward(self, x, training=False):
        prep = self._prepared(x)
        return (prep.forward(x) if prep is not None else self._public_op()(x)), x

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        prep = self._prepared(ctx)
        if prep is not None and grad_out.dtype == self.dtype and grad_out.shape == prep.out_shape:
            return prep.backward(grad_out, ctx)
        return self._public_op("_backward")(grad_out, ctx)

    def _backward_through_relu(self, grad_out, ctx):
        """The input gradient taken on through the ReLU whose output ``ctx`` is (max
        pooling: masked plane by plane inside the pooling kernel, bitwise the two steps)."""
        prep = self._prepared(ctx)
        if (self._kind == "max" and prep is not None and grad_out.dtype == self.dtype
                and grad_out.shape == prep.out_shape):
            return prep.backward(grad_out, ctx, relu_mask=True)
        return F.relu_backward(self._backward(grad_out, ctx, True), ctx)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=list(self.pool_size), strides=list(self.strides),
                   padding=self.padding if isinstance(self.padding, str) else list(self.padding),
                   ceil_mode=self.ceil_mode)
        return cfg


@register
class MaxPooling2D(_Pooling2D):
    """Max pooling over ``pool_size`` windows (default 2x2, stride = pool size).
    With ``ceil_mode=True`` a last partial window still counts (5x5 -> 3x3 for 2x2/2)."""

    _kind = "max"


@register
class AveragePooling2D(_Pooling2D):
    """Average pooling; padded cells are not counted in the average (Keras's rule)."""

    _kind = "avg"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


class _GlobalPooling2D(Layer):
    _op = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        owner = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        self.keepdims = V.flag(keepdims, "keepdims", owner)
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: {type(self).__name__} needs images (height, width, "
                             f"channels), got input shape {to_public_shape(in_shape)}")
        return (in_shape[0], 1, 1) if self.keepdims else (in_shape[0],)

    def forward(self, x, training=False):
        if (type(x) is np.ndarray and x.dtype == self.dtype and x.ndim == 4
                and x.flags.c_contiguous and x.shape[2] * x.shape[3]):
            y = self._maps(x)      # the public op's result without its argument checks
        else:
            y = getattr(F, self._op)(x)
        if self.keepdims:
            y = y.reshape(y.shape + (1, 1))
        return y, x

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        g = grad_out.reshape(grad_out.shape[:2])
        return getattr(F, self._op + "_backward")(g, ctx)

    def get_config(self):
        cfg = super().get_config()
        cfg["keepdims"] = self.keepdims
        return cfg


@register
class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel's map: (None, H, W, C) -> (None, C)."""
    _op = "global_avg_pool2d"
    _maps = staticmethod(_avg_pool_maps)


@register
class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel's map: (None, H, W, C) -> (None, C)."""
    _op = "global_max_pool2d"
    _maps = staticmethod(_max_pool_maps)
