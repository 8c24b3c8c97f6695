"""Convolution layers."""
import numpy as np

from .. import _validation as V
from .. import functional as F
from ..layout import to_public_shape
from .activations import FUSABLE
from .base import register
from .core import KernelLayer

__all__ = ["Conv2D"]


@register
class Conv2D(KernelLayer):
    """2-D convolution (cross-correlation, as Keras and PyTorch compute it).

    ``filters`` kernels each span the full input depth.  ``padding`` is ``'valid'`` (none),
    ``'same'`` (output size ``ceil(W / S)``, Keras's rule; when the padding needed is odd
    the extra row/column goes at the bottom/right, as in Keras) or explicit ints
    ``p``/``(ph, pw)`` added on both sides.  Output size: ``(W - F + 2P) / S + 1``.
    The kernel is stored as ``(filters, in_channels, kh, kw)``.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format=None, **kwargs):
        owner = "Conv2D"
        self.filters = V.positive_int(filters, "filters", owner)
        self.kernel_size = V.int_pair(kernel_size, "kernel_size", owner)
        self.strides = V.int_pair(strides, "strides", owner)
        self.padding = V.padding_mode(padding, owner)
        self.dilation_rate = V.int_pair(dilation_rate, "dilation_rate", owner)
        super().__init__(owner, activation, use_bias, kernel_initializer, bias_initializer,
                         data_format, **kwargs)
        self._pad = (0, 0)
        self._extra = (0, 0)
        # relu/leaky_relu with a positive slope can be fused into the kernel (the output's
        # sign tells where the pre-activation was positive)
        self._fused = (self.activation in FUSABLE
                       and not (self.activation == "leaky_relu" and not self._act.opt > 0))

    def _geometry(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: Conv2D needs images (height, width, channels), "
                             f"got input shape {to_public_shape(in_shape)}; "
                             "a Dense output cannot feed a convolution")
        C, H, W = in_shape
        pads, extras, outs = [], [], []
        for size, k, s, d, axis in zip((H, W), self.kernel_size, self.strides,
                                       self.dilation_rate, ("height", "width")):
            eff = d * (k - 1) + 1
            if self.padding == "valid":
                p, extra = 0, 0
            elif self.padding == "same":
                target = -(-size // s)
                total = max((target - 1) * s + eff - size, 0)
                p, extra = total // 2, total - 2 * (total // 2)
            else:
                p = self.padding[0] if axis == "height" else self.padding[1]
                extra = 0
            span = size + 2 * p + extra
            if span < eff:
                raise ValueError(
                    f"{self.name}: no valid output along the {axis}: kernel {k}"
                    f"{f' (dilated to {eff})' if d > 1 else ''} is larger than the padded "
                    f"input {size} + 2*{p} = {size + 2 * p}; output size "
                    f"(W - F + 2P)/S + 1 = ({size} - {eff} + {2 * p})/{s} + 1 < 1")
            pads.append(p)
            extras.append(extra)
            outs.append((span - eff) // s + 1)
        return tuple(pads), tuple(extras), (self.filters, outs[0], outs[1])

    def _output_shape(self, in_shape):
        return self._geometry(in_shape)[2]

    def _create_weights(self, in_shape, rng):
        self._pad, self._extra, _ = self._geometry(in_shape)
        C = in_shape[0]
        kh, kw = self.kernel_size
        self._add_kernel_and_bias((self.filters, C, kh, kw), rng, C * kh * kw,
                                  self.filters * kh * kw)

    def forward(self, x, training=False):
        eh, ew = self._extra
        if eh or ew:
            x = np.pad(x, ((0, 0), (0, 0), (0, eh), (0, ew)))
        act = self._act
        if self._fused:
            # activation applied in the kernel's write-back; backward uses the output
            y = F.conv2d(x, self.params["kernel"], self.params.get("bias"), self.strides,
                         self._pad, self.dilation_rate, activation=act.name,
                         negative_slope=act.opt if act.name == "leaky_relu" else 0.01)
            return y, (x, y, None)
        z = F.conv2d(x, self.params["kernel"], self.params.get("bias"), self.strides,
                     self._pad, self.dilation_rate)
        y, act_ctx = act.forward(z)
        return y, (x, None, act_ctx)

    def _backward(self, grad_out, ctx, input_grad):
        y = ctx[1]
        if y is not None:
            if self._act.name == "relu":
                g = F.relu_backward(grad_out, y)
            else:
                g = F.leaky_relu_backward(grad_out, y, self._act.opt)
        else:
            g = self._act.backward(grad_out, ctx[2])
        return self._linear_backward(g, ctx, input_grad)

    def _linear_backward(self, g, ctx, input_grad):
        gx, gw, gb = F.conv2d_backward(g, ctx[0], self.params["kernel"], self.strides,
                                       self._pad, self.dilation_rate, input_grad=input_grad)
        self._store_grads(gw, gb)
        eh, ew = self._extra
        if gx is not None and (eh or ew):
            gx = np.ascontiguousarray(gx[:, :, :gx.shape[2] - eh, :gx.shape[3] - ew])
        return gx

    def param_formula(self):
        if not self.built:
            return ""
        kh, kw = self.kernel_size
        C = self._in[0]
        b = " + 1" if self.use_bias else ""
        return f"{self.filters} x ({kh}x{kw}x{C}{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=list(self.kernel_size),
                   strides=list(self.strides),
                   padding=self.padding if isinstance(self.padding, str) else list(self.padding),
                   dilation_rate=list(self.dilation_rate), **self._kernel_config())
        return cfg
