"""Layers that pad, crop or upsample feature maps: ZeroPadding2D, Cropping2D, UpSampling2D."""
from .. import _validation as V
from .. import functional as F
from ..layout import to_public_shape
from .base import Layer, register

__all__ = ["ZeroPadding2D", "Cropping2D", "UpSampling2D"]


class _Border(Layer):
    _arg = None

    def __init__(self, value, data_format=None, **kwargs):
        owner = type(self).__name__
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        setattr(self, self._arg, V.pair_of_pairs(value, self._arg, owner))
        super().__init__(**kwargs)

    def _sides(self):
        return getattr(self, self._arg)

    def _check_image(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: {type(self).__name__} needs images (height, width, "
                             f"channels), got input shape {to_public_shape(in_shape)}")

    def get_config(self):
        cfg = super().get_config()
        cfg[self._arg] = [list(p) for p in self._sides()]
        return cfg


@register
class ZeroPadding2D(_Border):
    """Rows and columns of zeros around each map: ``padding`` is an int, ``(h, w)`` or
    ``((top, bottom), (left, right))`` (Keras's argument)."""
    _arg = "padding"

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)

    def _output_shape(self, in_shape):
        self._check_image(in_shape)
        (t, b), (l, r) = self.padding
        return (in_shape[0], in_shape[1] + t + b, in_shape[2] + l + r)

    def forward(self, x, training=False):
        return F.zero_pad2d(x, self.padding), None

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        (t, b), (l, r) = self.padding
        return grad_out[:, :, t:grad_out.shape[2] - b, l:grad_out.shape[3] - r]


@register
class Cropping2D(_Border):
    """Remove rows and columns from the borders: ``cropping`` as ZeroPadding2D's padding."""
    _arg = "cropping"

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)

    def _output_shape(self, in_shape):
        self._check_image(in_shape)
        (t, b), (l, r) = self.cropping
        c, h, w = in_shape
        if t + b >= h or l + r >= w:
            raise ValueError(f"{self.name}: cropping {self.cropping} leaves nothing of a "
                             f"{h}x{w} input")
        return (c, h - t - b, w - l - r)

    def forward(self, x, training=False):
        return F.crop2d(x, self.cropping), x

    def _backward(self, grad_out, ctx, input_grad):
        return F.crop2d_backward(grad_out, ctx, self.cropping) if input_grad else None


@register
class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times (``interpolation='nearest'``) or interpolate
    between neighbours (``'bilinear'``, pixel centres aligned as in Keras and PyTorch's
    ``align_corners=False``): (None, H, W, C) -> (None, H * sh, W * sw, C)."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        owner = "UpSampling2D"
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        self.size = V.int_pair(size, "size", owner)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{owner}: interpolation must be 'nearest' or 'bilinear', got "
                             f"{interpolation!r}")
        self.interpolation = interpolation
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: UpSampling2D needs images (height, width, "
                             f"channels), got input shape {to_public_shape(in_shape)}")
        c, h, w = in_shape
        return (c, h * self.size[0], w * self.size[1])

    def _args(self, x):
        return dict(size=(x.shape[2] * self.size[0], x.shape[3] * self.size[1]),
                    mode=self.interpolation,
                    align_corners=False if self.interpolation == "bilinear" else None)

    def forward(self, x, training=False):
        return F.interpolate(x, **self._args(x)), x

    def _backward(self, grad_out, ctx, input_grad):
        return F.interpolate_backward(grad_out, ctx, **self._args(ctx)) if input_grad else None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(size=list(self.size), interpolation=self.interpolation)
        return cfg
