"""Convolution layers: Conv2D (with groups), DepthwiseConv2D, SeparableConv2D,
Conv2DTranspose.

Keras's ``padding='same'`` is turned into per-side padding (``geometry.keras_padding``:
``out = ceil(in / stride)``, the odd pixel at the bottom/right) and handed to the kernels,
which pad on the fly: no padded copy of the input, no cropped gradient.
"""
from .. import _validation as V
from .. import functional as F
from .. import geometry as geo
from ..functional._checks import same_layout
from ..functional.prepared import PreparedConv2d
from .. import initializers
from ..layout import to_public_shape
from .activations import FUSABLE
from .base import register
from .core import KernelLayer

__all__ = ["Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose"]


def _image(layer, in_shape):
    if len(in_shape) != 3:
        raise ValueError(f"{layer.name}: {type(layer).__name__} needs images (height, width, "
                         f"channels), got input shape {to_public_shape(in_shape)}; a Dense "
                         "output cannot feed a convolution")
    return in_shape


def _conv_out(layer, in_shape, kernel, strides, dilation, padding):
    """Per-side padding and output (height, width) of a convolution layer, with an error
    that shows the output-size formula when the kernel does not fit."""
    C, H, W = in_shape
    if isinstance(padding, str):
        pads = geo.keras_padding((H, W), kernel, strides, dilation, padding)
    elif isinstance(padding[0], tuple):
        pads = padding
    else:
        pads = ((padding[0], padding[0]), (padding[1], padding[1]))
    outs = []
    for size, k, s, d, (pb, pa), axis in zip((H, W), kernel, strides, dilation, pads,
                                             ("height", "width")):
        o = geo.output_size(size, k, s, pb + pa, d)
        if o is None:
            eff = d * (k - 1) + 1
            raise ValueError(
                f"{layer.name}: no valid output along the {axis}: kernel {k}"
                f"{f' (dilated to {eff})' if d > 1 else ''} is larger than the padded "
                f"input {size} + {pb + pa} = {size + pb + pa}; output size "
                f"(W - F + 2P)/S + 1 = ({size} - {eff} + {pb + pa})/{s} + 1 < 1")
        outs.append(o)
    return pads, tuple(outs)


class _ConvBase(KernelLayer):
    """Convolution with per-side padding, optional groups and a fused activation."""

    _groups = 1
    #: ``_backward(..., addend=a)`` returns the input gradient plus ``a`` (another
    #: gradient of the same input, a C-contiguous array like it) summed in the kernels'
    #: write-back: a graph model's backward pass joins two branches' gradients so
    _adds_input_grad = True
    #: ``_backward`` returns the input gradient in a new array nothing else refers to
    #: (the model's backward pass may then let the next step write over it)
    _fresh_input_grads = True

    def __init__(self, owner, kernel_size, strides, padding, dilation_rate, activation,
                 use_bias, kernel_initializer, bias_initializer, data_format, **kwargs):
        self.kernel_size = V.int_pair(kernel_size, "kernel_size", owner)
        self.strides = V.int_pair(strides, "strides", owner)
        self.padding = V.padding_mode(padding, owner, per_side=True)
        self.dilation_rate = V.int_pair(dilation_rate, "dilation_rate", owner)
        super().__init__(owner, activation, use_bias, kernel_initializer, bias_initializer,
                         data_format, **kwargs)
        self._pad = ((0, 0), (0, 0))
        # relu/leaky_relu with a positive slope can be fused into the kernel (the output's
        # sign tells where the pre-activation was positive)
        self._fused = (self.activation in FUSABLE
                       and not (self.activation == "leaky_relu" and not self._act.opt > 0))

    def _geometry(self, in_shape):
        return _conv_out(self, _image(self, in_shape), self.kernel_size, self.strides,
                         self.dilation_rate, self.padding)

    @property
    def explicit_padding(self):
        """The padding of the built layer per side: ``((top, bottom), (left, right))``."""
        if not self.built:
            raise AttributeError(f"layer {self.name!r} is not built yet")
        return self._pad

    @property
    def conv_groups(self):
        """The number of channel groups of the built layer (C for a depthwise one)."""
        return self._groups

    def _prepared(self, x, activation=None, negative_slope=0.01):
        """The convolution prepared for ``x``'s shape (geometry checked once), or None when
        ``x`` is not an array the kernels take as it is (then the public op validates)."""
        w = self.params["kernel"]
        return self._prepared_op(x, (x.shape, activation), lambda: PreparedConv2d(
            x.shape, w.shape, self.dtype, self.strides, self._pad, self.dilation_rate,
            self._groups, activation, negative_slope))

    def _conv(self, x, **act):
        prep = self._prepared(x, **act)
        if prep is not None:
            return prep.forward(x, self.params["kernel"], self.params.get("bias"))
        return F.conv2d(x, self.params["kernel"], self.params.get("bias"), self.strides,
                        self._pad, self.dilation_rate, self._groups, **act)

    def forward(self, x, training=False):
        act = self._act
        if self._fused:
            # activation applied in the kernel's write-back; backward uses the output
            y = self._conv(x, activation=act.name,
                           negative_slope=act.opt if act.name == "leaky_relu" else 0.01)
            return y, (x, y, None)
        y, act_ctx = act.forward(self._conv(x))
        return y, (x, None, act_ctx)

    def _backward(self, grad_out, ctx, input_grad, addend=None):
        y = ctx[1]
        if y is not None:
            if self._act.name == "relu":
                g = F.relu_backward(grad_out, y)
            else:
                g = F.leaky_relu_backward(grad_out, y, self._act.opt)
        else:
            g = self._act.backward(grad_out, ctx[2])
        if addend is None:
            return self._linear_backward(g, ctx, input_grad)
        return self._linear_backward(g, ctx, input_grad, addend)

    def _linear_backward(self, g, ctx, input_grad, addend=None):
        x = ctx[0]
        prep = self._prepared(x)
        if prep is not None and g.dtype == self.dtype and g.shape == prep.out_shape:
            in_kernel = addend is not None and input_grad and same_layout(addend, x)
            gx, gw, gb = prep.backward(g, x, self.params["kernel"], input_grad,
                                       bias_grad=self.use_bias,
                                       addend=addend if in_kernel else None)
            if in_kernel:
                addend = None
        else:
            gx, gw, gb = F.conv2d_backward(g, x, self.params["kernel"], self.strides,
                                           self._pad, self.dilation_rate, self._groups,
                                           input_grad=input_grad)
        self._store_grads(gw, gb)
        if addend is not None and gx is not None:
            gx = gx + addend
        return gx

    def _geometry_config(self):
        p = self.padding
        return dict(kernel_size=list(self.kernel_size), strides=list(self.strides),
                    padding=p if isinstance(p, str) else
                    [list(t) for t in p] if isinstance(p[0], tuple) else list(p),
                    dilation_rate=list(self.dilation_rate))


@register
class Conv2D(_ConvBase):
    """2-D convolution (cross-correlation, as Keras and PyTorch compute it).

    ``filters`` kernels each span ``in_channels / groups`` input channels (all of them by
    default).  ``padding`` is ``'valid'`` (none), ``'same'`` (output size ``ceil(W / S)``,
    Keras's rule; when the padding needed is odd the extra row/column goes at the
    bottom/right, as in Keras), explicit ints ``p``/``(ph, pw)`` added on both sides, or
    per side ``((top, bottom), (left, right))`` (as ONNX models pad). Output size: ``(W - F + 2P) / S + 1``.  The kernel is stored as
    ``(filters, in_channels / groups, kh, kw)``.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format=None, **kwargs):
        owner = "Conv2D"
        self.filters = V.positive_int(filters, "filters", owner)
        self.groups = V.positive_int(groups, "groups", owner)
        if self.filters % self.groups:
            raise ValueError(f"Conv2D: groups={groups} must divide filters={filters}")
        self._groups = self.groups
        super().__init__(owner, kernel_size, strides, padding, dilation_rate, activation,
                         use_bias, kernel_initializer, bias_initializer, data_format, **kwargs)

    def _output_shape(self, in_shape):
        _image(self, in_shape)
        if in_shape[0] % self.groups:
            raise ValueError(f"{self.name}: groups={self.groups} must divide the input "
                             f"channels, got {in_shape[0]}")
        return (self.filters,) + self._geometry(in_shape)[1]

    def _create_weights(self, in_shape, rng):
        self._pad = self._geometry(in_shape)[0]
        cg = in_shape[0] // self.groups
        kh, kw = self.kernel_size
        self._add_kernel_and_bias((self.filters, cg, kh, kw), rng, cg * kh * kw,
                                  self.filters // self.groups * kh * kw)

    def param_formula(self):
        if not self.built:
            return ""
        kh, kw = self.kernel_size
        cg = self._in[0] // self.groups
        b = " + 1" if self.use_bias else ""
        return f"{self.filters} x ({kh}x{kw}x{cg}{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, groups=self.groups, **self._geometry_config(),
                   **self._kernel_config())
        return cfg


@register
class DepthwiseConv2D(_ConvBase):
    """Depthwise convolution: each input channel convolved with its own
    ``depth_multiplier`` filters (output channels ``C * depth_multiplier``), on a dedicated
    direct kernel. The kernel is stored as ``(C * depth_multiplier, 1, kh, kw)``."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format=None, **kwargs):
        owner = "DepthwiseConv2D"
        self.depth_multiplier = V.positive_int(depth_multiplier, "depth_multiplier", owner)
        super().__init__(owner, kernel_size, strides, padding, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, data_format,
                         **kwargs)

    def _output_shape(self, in_shape):
        return (in_shape[0] * self.depth_multiplier,) + self._geometry(in_shape)[1]

    def _create_weights(self, in_shape, rng):
        self._pad = self._geometry(in_shape)[0]
        self._groups = in_shape[0]
        kh, kw = self.kernel_size
        m = self.depth_multiplier
        self._add_kernel_and_bias((in_shape[0] * m, 1, kh, kw), rng, kh * kw, m * kh * kw)

    def param_formula(self):
        if not self.built:
            return ""
        kh, kw = self.kernel_size
        b = " + 1" if self.use_bias else ""
        return f"{self._in[0] * self.depth_multiplier} x ({kh}x{kw}x1{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(depth_multiplier=self.depth_multiplier, **self._geometry_config(),
                   **self._kernel_config())
        cfg["depthwise_initializer"] = cfg.pop("kernel_initializer")
        return cfg


@register
class SeparableConv2D(_ConvBase):
    """Depthwise-separable convolution: a depthwise convolution (``depth_multiplier``
    filters per channel, no bias) followed by a 1x1 convolution to ``filters`` channels
    (with the bias and the activation). Weights ``depthwise_kernel``
    ``(C * m, 1, kh, kw)``, ``pointwise_kernel`` ``(filters, C * m, 1, 1)``, ``bias``."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 depth_multiplier=1, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", data_format=None, **kwargs):
        owner = "SeparableConv2D"
        self.filters = V.positive_int(filters, "filters", owner)
        self.depth_multiplier = V.positive_int(depth_multiplier, "depth_multiplier", owner)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        super().__init__(owner, kernel_size, strides, padding, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, data_format,
                         **kwargs)
        self._fused = False

    def _output_shape(self, in_shape):
        return (self.filters,) + self._geometry(in_shape)[1]

    def _create_weights(self, in_shape, rng):
        self._pad = self._geometry(in_shape)[0]
        C, m = in_shape[0], self.depth_multiplier
        kh, kw = self.kernel_size
        self._groups = C
        self._add_weight("depthwise_kernel", (C * m, 1, kh, kw), self.kernel_initializer, rng,
                         fan_in=kh * kw, fan_out=m * kh * kw)
        self._add_weight("pointwise_kernel", (self.filters, C * m, 1, 1),
                         self.pointwise_initializer, rng, fan_in=C * m, fan_out=self.filters)
        if self.use_bias:
            self._add_weight("bias", (self.filters,), self.bias_initializer, rng)

    def forward(self, x, training=False):
        p = self.params
        d = F.conv2d(x, p["depthwise_kernel"], None, self.strides, self._pad,
                     self.dilation_rate, self._groups)
        y, act_ctx = self._act.forward(F.conv2d(d, p["pointwise_kernel"], p.get("bias")))
        return y, (x, None, act_ctx, d)

    _adds_input_grad = False   # its _linear_backward takes no addend

    def _linear_backward(self, g, ctx, input_grad):
        x, d, p = ctx[0], ctx[3], self.params
        gd, gpw, gb = F.conv2d_backward(g, d, p["pointwise_kernel"])
        gx, gdw, _ = F.conv2d_backward(gd, x, p["depthwise_kernel"], self.strides, self._pad,
                                       self.dilation_rate, self._groups, input_grad=input_grad)
        self._add_grad("depthwise_kernel", gdw)
        self._add_grad("pointwise_kernel", gpw)
        if self.use_bias:
            self._add_grad("bias", gb)
        return gx

    def param_formula(self):
        if not self.built:
            return ""
        kh, kw = self.kernel_size
        cm = self._in[0] * self.depth_multiplier
        b = " + 1" if self.use_bias else ""
        return f"{cm} x ({kh}x{kw}) + {self.filters} x ({cm}{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, depth_multiplier=self.depth_multiplier,
                   **self._geometry_config(), **self._kernel_config(),
                   pointwise_initializer=initializers.serialize(self.pointwise_initializer))
        cfg["depthwise_initializer"] = cfg.pop("kernel_initializer")
        return cfg


@register
class Conv2DTranspose(_ConvBase):
    """Transposed convolution (the gradient of a convolution; "deconvolution"), for
    upsampling in decoders and generators. Keras's output size: ``'valid'``:
    ``in * s + max(k - s, 0)``; ``'same'``: ``in * s``; with ``output_padding``:
    ``(in - 1) * s + k - 2 * pad + output_padding`` (pad ``k // 2`` for 'same', else 0),
    ``k`` the dilated kernel size. The kernel is stored as ``(in_channels, filters, kh,
    kw)`` (PyTorch's layout)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format=None, **kwargs):
        owner = "Conv2DTranspose"
        self.filters = V.positive_int(filters, "filters", owner)
        if padding not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
        self.output_padding = (None if output_padding is None
                               else V.int_pair(output_padding, "output_padding", owner, 0))
        super().__init__(owner, kernel_size, strides, padding, dilation_rate, activation,
                         use_bias, kernel_initializer, bias_initializer, data_format, **kwargs)
        if self.output_padding is not None:
            for op, s, d in zip(self.output_padding, self.strides, self.dilation_rate):
                if op >= max(s, d):
                    raise ValueError(f"{owner}: output_padding {self.output_padding} must be "
                                     f"smaller than the strides {self.strides}")
        self._fused = False
        self._out_pad = (0, 0)

    def _geometry(self, in_shape):
        """(per-side padding, output_padding, (Ho, Wo)) by Keras's rules."""
        _image(self, in_shape)
        pads, extra, outs = [], [], []
        for n, k, s, d, i in zip(in_shape[1:], self.kernel_size, self.strides,
                                 self.dilation_rate, (0, 1)):
            ks = (k - 1) * d + 1
            base = (n - 1) * s + ks
            if self.output_padding is not None:
                p = ks // 2 if self.padding == "same" else 0
                pads.append((p, p))
                extra.append(self.output_padding[i])
                outs.append(base - 2 * p + self.output_padding[i])
                continue
            target = n * s + max(ks - s, 0) if self.padding == "valid" else n * s
            crop = max(base - target, 0)
            pads.append((crop // 2, crop - crop // 2))
            extra.append(max(target - base, 0))
            outs.append(target)
        if min(outs) < 1:
            raise ValueError(f"{self.name}: no output for input {to_public_shape(in_shape)}")
        return tuple(pads), tuple(extra), tuple(outs)

    def _output_shape(self, in_shape):
        return (self.filters,) + self._geometry(in_shape)[2]

    @property
    def transpose_output_padding(self):
        """Rows/columns added at the bottom/right of the built layer's output (the
        ``output_padding`` of ``conv_transpose2d``)."""
        if not self.built:
            raise AttributeError(f"layer {self.name!r} is not built yet")
        return self._out_pad

    def _create_weights(self, in_shape, rng):
        self._pad, self._out_pad, _ = self._geometry(in_shape)
        kh, kw = self.kernel_size
        C = in_shape[0]
        self._add_weight("kernel", (C, self.filters, kh, kw), self.kernel_initializer, rng,
                         fan_in=self.filters * kh * kw, fan_out=C * kh * kw)
        if self.use_bias:   # the bias has one entry per output channel, not per kernel row
            self._add_weight("bias", (self.filters,), self.bias_initializer, rng)

    def _conv(self, x, **act):
        return F.conv_transpose2d(x, self.params["kernel"], self.params.get("bias"),
                                  self.strides, self._pad, self._out_pad, 1, self.dilation_rate)

    _adds_input_grad = False   # its _linear_backward takes no addend

    def _linear_backward(self, g, ctx, input_grad):
        gx, gw, gb = F.conv_transpose2d_backward(g, ctx[0], self.params["kernel"], self.strides,
                                                 self._pad, self._out_pad, 1,
                                                 self.dilation_rate)
        self._store_grads(gw, gb)
        return gx if input_grad else None

    def param_formula(self):
        if not self.built:
            return ""
        kh, kw = self.kernel_size
        b = " + 1" if self.use_bias else ""
        return f"{self.filters} x ({kh}x{kw}x{self._in[0]}{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, output_padding=None if self.output_padding is None
                   else list(self.output_padding), **self._geometry_config(),
                   **self._kernel_config())
        return cfg
