"""Plain-NumPy reference implementation of the fastconv functional contract.

Every function here has the same name, signature and defaults as its counterpart in
:mod:`fastconv.functional` (and, where one exists, in ``torch.nn.functional``).  The code
is written to be *obviously correct* rather than fast: each op is a direct transcription
of its mathematical definition, vectorised with NumPy (shifted strided slices plus
``tensordot`` for convolution, ``sliding_window_view`` for pooling windows) so that it is
still usable as a yardstick on realistic layer sizes.

Conventions
-----------
* Layout is NCHW; convolution weights are ``(K, C, R, S)``; linear weights ``(out, in)``.
* Computation happens in the floating dtype of the inputs (float32 or float64; anything
  else is promoted to float64) and results are returned in that dtype.
* Every forward ``f(x, ...)`` has a backward ``f_backward(grad_out, <forward inputs>,
  <options>)`` that returns the gradient(s) with respect to the forward's array inputs.
* Semantics follow PyTorch exactly: cross-correlation (no kernel flip), ``padding='same'``
  with the extra pixel on the right/bottom, pooling ``ceil_mode`` partial windows, the
  ``count_include_pad`` divisor, first-maximum tie breaking in max pooling, ``relu'(0) = 0``.

This package imports NumPy and nothing else, in particular nothing from the rest of fastconv.
"""

from .conv import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from .pooling import max_pool2d, max_pool2d_backward, avg_pool2d, avg_pool2d_backward
from .activations import relu, relu_backward, leaky_relu, leaky_relu_backward, sigmoid, sigmoid_backward, tanh, tanh_backward, elu, elu_backward, maxout, maxout_backward
from .activations import relu6, relu6_backward, hardsigmoid, hardsigmoid_backward, hardswish, hardswish_backward, silu, silu_backward, gelu, gelu_backward, softplus, softplus_backward
from .linear import linear, linear_backward
from .loss import log_softmax, softmax, softmax_backward, cross_entropy, cross_entropy_backward
from .dropout import dropout, dropout_backward
from .normalization import batch_norm2d, batch_norm2d_backward
from .merging import add, add_backward, subtract, subtract_backward, multiply, multiply_backward, average, average_backward, concatenate, concatenate_backward
from .global_pooling import global_avg_pool2d, global_avg_pool2d_backward, global_max_pool2d, global_max_pool2d_backward
from .shape import flatten, flatten_backward, zero_pad2d, zero_pad2d_backward, crop2d, crop2d_backward
from .upsampling import interpolate, interpolate_backward

__all__ = [
    "conv2d",
    "conv2d_backward",
    "conv_transpose2d",
    "conv_transpose2d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "avg_pool2d",
    "avg_pool2d_backward",
    "relu",
    "relu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "tanh",
    "tanh_backward",
    "elu",
    "elu_backward",
    "maxout",
    "maxout_backward",
    "relu6",
    "relu6_backward",
    "hardsigmoid",
    "hardsigmoid_backward",
    "hardswish",
    "hardswish_backward",
    "silu",
    "silu_backward",
    "gelu",
    "gelu_backward",
    "softplus",
    "softplus_backward",
    "linear",
    "linear_backward",
    "softmax",
    "softmax_backward",
    "log_softmax",
    "cross_entropy",
    "cross_entropy_backward",
    "dropout",
    "dropout_backward",
    "batch_norm2d",
    "batch_norm2d_backward",
    "flatten",
    "flatten_backward",
    "add",
    "add_backward",
    "subtract",
    "subtract_backward",
    "multiply",
    "multiply_backward",
    "average",
    "average_backward",
    "concatenate",
    "concatenate_backward",
    "global_avg_pool2d",
    "global_avg_pool2d_backward",
    "global_max_pool2d",
    "global_max_pool2d_backward",
    "zero_pad2d",
    "zero_pad2d_backward",
    "crop2d",
    "crop2d_backward",
    "interpolate",
    "interpolate_backward",
]
