"""Keras-style layers on top of :mod:`fastconv.functional`, one family per module.

Public shapes are channels-last, as in Keras: a layer built for ``input_shape=(32, 32, 3)``
takes images of height 32, width 32 and 3 channels, and ``layer.output_shape`` is reported as
``(None, 30, 30, 32)``.  Internally every layer computes in the functional layout, NCHW, with
convolution weights ``(filters, in_channels, kh, kw)`` and dense weights ``(units, in)``; a
model converts its input batch from NHWC to NCHW once, at its input edge.

The layer protocol that models use (build, forward, backward, weights, config) is
documented in :mod:`fastconv.layers.base`.
"""
from ..layout import to_internal, to_internal_shape, to_public, to_public_shape
from .base import (Layer, InputLayer, Input, KerasTensor, Node, register, serialize,
                   deserialize, get)
from .activations import ACTIVATIONS, Activation, ReLU, LeakyReLU, ELU, Softmax, Maxout
from .core import Dense, Flatten, Reshape, Identity
from .conv import Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose
from .pooling import (MaxPooling2D, AveragePooling2D, MaxPool2D, AvgPool2D,
                      GlobalAveragePooling2D, GlobalMaxPooling2D)
from .merging import Add, Subtract, Multiply, Average, Concatenate
from .reshaping import ZeroPadding2D, Cropping2D, UpSampling2D
from .normalization import BatchNormalization
from .regularization import Dropout

__all__ = [
    "Layer", "InputLayer", "Input", "KerasTensor", "Conv2D", "DepthwiseConv2D",
    "SeparableConv2D", "Conv2DTranspose", "Dense", "Flatten", "Reshape",
    "Identity", "MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Add", "Subtract", "Multiply", "Average",
    "Concatenate", "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Dropout", "BatchNormalization",
    "Activation", "ReLU", "LeakyReLU", "ELU", "Maxout", "Softmax", "register", "get",
    "serialize", "deserialize", "ACTIVATIONS",
]
