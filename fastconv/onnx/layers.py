"""Layers the importer needs that the Keras-style set does not have.

``ChannelsFirstReshape``: ONNX's Reshape of an NCHW tensor takes the elements in NCHW
order; fastconv's :class:`~fastconv.layers.Reshape` follows Keras and takes them in
channels-last order, so an imported image reshape needs this one.
"""
import numpy as np

from .. import _validation as V
from ..layers.base import Layer, register

__all__ = ["ChannelsFirstReshape"]


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
