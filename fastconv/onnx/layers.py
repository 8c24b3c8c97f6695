"""Layers the importer needs that the Keras-style set does not have.

* ``ChannelsFirstReshape``: ONNX's Reshape of an NCHW tensor takes the elements in NCHW
  order; fastconv's :class:`~fastconv.layers.Reshape` follows Keras and takes them in
  channels-last order, so an imported image reshape needs this one.
* ``Pooling2D``: max/average pooling with ONNX's full geometry (per-side pads, dilations,
  ``count_include_pad``), for the pools that MaxPooling2D/AveragePooling2D cannot express.
* ``LogSoftmax``: log-softmax over the channels / features.
* ``ConstantArithmetic``: ``x + c``, ``x - c``, ``c - x``, ``x * c``, ``x / c`` with a
  constant ``c`` (input normalisation), kept as a non-trainable buffer.
* ``Resize2D``: ``functional.interpolate`` to a fixed size or by non-whole scale factors, or
  bilinear with aligned corners (what ``UpSampling2D``'s whole factors cannot express).
* ``GeluTanh``: the tanh approximation of GELU (``Activation('gelu')`` is the erf form).
* ``Clip``: ``min(max(x, min_value), max_value)`` with any finite bounds, either optional
  (``ReLU`` covers only (0, inf) and (0, 6)).
* ``HardSigmoid``: ``clip(alpha x + beta, 0, 1)`` with any ``alpha``, ``beta`` (ONNX's
  default 0.2, 0.5 is Keras 2's; ``Activation('hard_sigmoid')`` is PyTorch's 1/6, 0.5).

They are registered, so a saved model that uses them loads again once ``fastconv.onnx`` has
been imported, and :func:`fastconv.onnx.export` writes each as the ONNX operator it stands for.
"""
import numpy as np

from .. import _validation as V
from .. import functional as F
from .. import geometry as geo
from .. import initializers
from ..layers.base import Layer, register
from .kernels import clip_of, hard_sigmoid_of

__all__ = ["ChannelsFirstReshape", "Pooling2D", "LogSoftmax", "ConstantArithmetic", "Resize2D",
           "GeluTanh", "Clip", "HardSigmoid"]


@register
class ChannelsFirstReshape(Layer):
    """Reshape each sample to ``target_shape`` given in the internal layout (``(C, H, W)``
    or ``(features,)``), taking the elements in NCHW order (ONNX/PyTorch semantics)."""

    def __init__(self, target_shape, **kwargs):
        shape = V.shape_tuple(target_shape, "target_shape", "ChannelsFirstReshape")
        if len(shape) not in (1, 3) or not all(V.is_int(s) and s > 0 for s in shape):
            raise ValueError(f"ChannelsFirstReshape: target_shape must be (features,) or "
                             f"(channels, height, width) of positive ints, got {target_shape!r}")
        self.target_shape = tuple(int(s) for s in shape)
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        if int(np.prod(in_shape)) != int(np.prod(self.target_shape)):
            raise ValueError(f"{self.name}: cannot reshape {tuple(in_shape)} to "
                             f"{self.target_shape}")
        return self.target_shape

    def forward(self, x, training=False):
        return np.ascontiguousarray(x.reshape((x.shape[0],) + self.target_shape)), x.shape

    def _backward(self, grad_out, ctx, input_grad):
        return grad_out.reshape(ctx) if input_grad else None

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = list(self.target_shape)
        return cfg


def _pairs(v, owner):
    try:
        (t, b), (l, r) = v
        out = tuple((int(a), int(c)) for a, c in ((t, b), (l, r)))
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: padding must be ((top, bottom), (left, right)), "
                         f"got {v!r}") from None
    if not all(V.is_int(a) and a >= 0 for pair in v for a in pair):
        raise ValueError(f"{owner}: padding must be non-negative ints, got {v!r}")
    return out


def _image(layer, in_shape):
    if len(in_shape) != 3:
        raise ValueError(f"{layer.name}: {type(layer).__name__} needs images, got a sample "
                         f"shape {tuple(in_shape)}")


@register
class Pooling2D(Layer):
    """Max (``mode='max'``) or average (``'avg'``) pooling with per-side ``padding``
    ``((top, bottom), (left, right))``, ``dilation`` (max only), ``ceil_mode`` and
    ``count_include_pad`` (average only): ONNX's MaxPool / AveragePool on fastconv's
    kernels. Padding may exceed half the window as long as every window overlaps the
    input."""

    def __init__(self, mode, pool_size, strides, padding=((0, 0), (0, 0)), ceil_mode=False,
                 dilation=(1, 1), count_include_pad=False, **kwargs):
        owner = "Pooling2D"
        if mode not in ("max", "avg"):
            raise ValueError(f"{owner}: mode must be 'max' or 'avg', got {mode!r}")
        self.mode = mode
        self.pool_size = V.int_pair(pool_size, "pool_size", owner)
        self.strides = V.int_pair(strides, "strides", owner)
        self.padding = _pairs(padding, owner)
        self.ceil_mode = V.flag(ceil_mode, "ceil_mode", owner)
        self.dilation = V.int_pair(dilation, "dilation", owner)
        self.count_include_pad = V.flag(count_include_pad, "count_include_pad", owner)
        if mode == "avg" and self.dilation != (1, 1):
            raise ValueError(f"{owner}: average pooling has no dilation, got {self.dilation}")
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        _image(self, in_shape)
        g = geo.pool2d_geometry((1,) + tuple(in_shape), self.pool_size, self.strides,
                                self.padding, self.ceil_mode, self.name, self.dilation)
        return (in_shape[0], g.Ho, g.Wo)

    def _args(self):
        return self.pool_size, self.strides, self.padding, self.ceil_mode

    def forward(self, x, training=False):
        if self.mode == "max":
            return F.max_pool2d(x, *self._args(), dilation=self.dilation), x
        return F.avg_pool2d(x, *self._args(), self.count_include_pad), x

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        if self.mode == "max":
            return F.max_pool2d_backward(grad_out, ctx, *self._args(), dilation=self.dilation)
        return F.avg_pool2d_backward(grad_out, ctx, *self._args(), self.count_include_pad)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(mode=self.mode, pool_size=list(self.pool_size), strides=list(self.strides),
                   padding=[list(p) for p in self.padding], ceil_mode=self.ceil_mode,
                   dilation=list(self.dilation), count_include_pad=self.count_include_pad)
        return cfg


@register
class LogSoftmax(Layer):
    """``log(softmax(x))`` over the channels of an image or the features of a vector (ONNX
    LogSoftmax along axis 1)."""

    def forward(self, x, training=False):
        y = F.log_softmax(x, axis=1)
        return y, y

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        return grad_out - np.exp(ctx) * grad_out.sum(axis=1, keepdims=True)


_ARITH = ("add", "subtract", "reverse_subtract", "multiply", "divide")


@register
class ConstantArithmetic(Layer):
    """``x + c`` (``op='add'``), ``x - c`` (``'subtract'``), ``c - x``
    (``'reverse_subtract'``), ``x * c`` (``'multiply'``) or ``x / c`` (``'divide'``) with a
    constant ``c`` of ``shape`` given in the internal sample layout (``(C, 1, 1)`` per
    channel, ``(1, 1, 1)`` scalar for images; ``(features,)`` or ``(1,)`` for vectors) that
    broadcasts to the input without changing its shape. ``c`` is the buffer ``'constant'``
    (not trained; ones until set, e.g. by :func:`fastconv.onnx.load`)."""

    def __init__(self, op, shape, **kwargs):
        owner = "ConstantArithmetic"
        if op not in _ARITH:
            raise ValueError(f"{owner}: op must be one of {list(_ARITH)}, got {op!r}")
        shape = V.shape_tuple(shape, "shape", owner)
        if len(shape) > 3 or not all(V.is_int(s) and s > 0 for s in shape):
            raise ValueError(f"{owner}: shape must be up to 3 positive ints, got {shape!r}")
        self.op = op
        self.shape = tuple(int(s) for s in shape)
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        try:
            out = np.broadcast_shapes(self.shape, tuple(in_shape))
        except ValueError:
            out = None
        if out != tuple(in_shape):
            raise ValueError(f"{self.name}: constant of shape {self.shape} does not broadcast "
                             f"to the sample shape {tuple(in_shape)}")
        return tuple(in_shape)

    def _create_weights(self, in_shape, rng):
        self._add_weight("constant", self.shape, initializers.Ones(), rng, trainable=False)

    def forward(self, x, training=False):
        c = self.buffers["constant"]
        y = {"add": np.add, "subtract": np.subtract, "multiply": np.multiply,
             "divide": np.true_divide}.get(self.op)
        out = np.subtract(c, x) if self.op == "reverse_subtract" else y(x, c)
        return np.ascontiguousarray(out, dtype=x.dtype), None

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        c = self.buffers["constant"]
        if self.op in ("add", "subtract"):
            return grad_out
        if self.op == "reverse_subtract":
            return -grad_out
        if self.op == "multiply":
            return grad_out * c
        return grad_out / c

    def get_config(self):
        cfg = super().get_config()
        cfg.update(op=self.op, shape=list(self.shape))
        return cfg


@register
class Resize2D(Layer):
    """Resize images with :func:`fastconv.functional.interpolate`: ``mode`` 'nearest' or
    'bilinear' (``align_corners`` for bilinear), to ``size`` (height, width) or by
    ``scale_factor`` (height, width) (output ``floor(H * s)``, source pixels placed by the
    scale itself, as ONNX's Resize with scales)."""

    def __init__(self, mode="nearest", size=None, scale_factor=None, align_corners=False,
                 **kwargs):
        owner = "Resize2D"
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"{owner}: mode must be 'nearest' or 'bilinear', got {mode!r}")
        if (size is None) == (scale_factor is None):
            raise ValueError(f"{owner}: give exactly one of size and scale_factor")
        self.mode = mode
        self.size = None if size is None else V.int_pair(size, "size", owner)
        self.scale_factor = None
        if scale_factor is not None:
            try:
                sh, sw = (float(v) for v in scale_factor)
            except (TypeError, ValueError):
                raise ValueError(f"{owner}: scale_factor must be a pair of numbers, got "
                                 f"{scale_factor!r}") from None
            if not (sh > 0 and sw > 0 and np.isfinite(sh) and np.isfinite(sw)):
                raise ValueError(f"{owner}: scale_factor must be positive, got {scale_factor!r}")
            self.scale_factor = (sh, sw)
        self.align_corners = V.flag(align_corners, "align_corners", owner)
        if mode == "nearest" and self.align_corners:
            raise ValueError(f"{owner}: align_corners needs mode 'bilinear'")
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        _image(self, in_shape)
        if self.size is not None:
            return (in_shape[0],) + self.size
        out = tuple(int(np.floor(n * s)) for n, s in zip(in_shape[1:], self.scale_factor))
        if min(out) < 1:
            raise ValueError(f"{self.name}: scale_factor {self.scale_factor} gives an empty "
                             f"output for {tuple(in_shape)}")
        return (in_shape[0],) + out

    def _args(self):
        return dict(size=self.size, scale_factor=self.scale_factor, mode=self.mode,
                    align_corners=self.align_corners if self.mode == "bilinear" else None)

    def forward(self, x, training=False):
        return F.interpolate(x, **self._args()), x

    def _backward(self, grad_out, ctx, input_grad):
        return F.interpolate_backward(grad_out, ctx, **self._args()) if input_grad else None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(mode=self.mode, size=None if self.size is None else list(self.size),
                   scale_factor=None if self.scale_factor is None else list(self.scale_factor),
                   align_corners=self.align_corners)
        return cfg


@register
class GeluTanh(Layer):
    """GELU's tanh approximation, ``0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))``
    (ONNX Gelu with ``approximate='tanh'``)."""

    def forward(self, x, training=False):
        return F.gelu(x, "tanh"), x

    def _backward(self, grad_out, ctx, input_grad):
        return F.gelu_backward(grad_out, ctx, "tanh") if input_grad else None


@register
class Clip(Layer):
    """``min(max(x, min_value), max_value)`` (ONNX Clip): either bound may be None (no
    bound on that side), both finite with ``min_value <= max_value``. The gradient passes
    where ``min_value <= x <= max_value`` (bounds included, as PyTorch's clamp). NaN stays
    NaN."""

    def __init__(self, min_value=None, max_value=None, **kwargs):
        owner = "Clip"
        self.min_value = None if min_value is None else \
            V.finite_number(min_value, "min_value", owner)
        self.max_value = None if max_value is None else \
            V.finite_number(max_value, "max_value", owner)
        if None not in (self.min_value, self.max_value) and self.min_value > self.max_value:
            raise ValueError(f"{owner}: min_value {min_value!r} is greater than max_value "
                             f"{max_value!r}")
        super().__init__(**kwargs)

    def _bounds(self, dtype):
        return [None if v is None else np.asarray(v, dtype)
                for v in (self.min_value, self.max_value)]

    def forward(self, x, training=False):
        return clip_of(x, self.min_value, self.max_value), x

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        lo, hi = self._bounds(ctx.dtype)
        inside = np.ones(ctx.shape, bool)
        if lo is not None:
            inside &= ctx >= lo
        if hi is not None:
            inside &= ctx <= hi
        return np.where(inside, grad_out, grad_out.dtype.type(0))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(min_value=self.min_value, max_value=self.max_value)
        return cfg


@register
class HardSigmoid(Layer):
    """``clip(alpha x + beta, 0, 1)`` (ONNX HardSigmoid; its defaults alpha=0.2, beta=0.5
    are Keras 2's), computed in x's dtype as the ONNX backend does. The gradient is
    ``alpha`` where ``0 < alpha x + beta < 1``, else 0."""

    def __init__(self, alpha=0.2, beta=0.5, **kwargs):
        self.alpha = V.finite_number(alpha, "alpha", "HardSigmoid")
        self.beta = V.finite_number(beta, "beta", "HardSigmoid")
        super().__init__(**kwargs)

    def forward(self, x, training=False):
        return hard_sigmoid_of(x, self.alpha, self.beta), x

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        alpha = ctx.dtype.type(self.alpha)
        z = ctx * alpha + ctx.dtype.type(self.beta)
        return np.where((z > 0) & (z < 1), grad_out * alpha, grad_out.dtype.type(0))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(alpha=self.alpha, beta=self.beta)
        return cfg
