"""The public functional API: stateless CNN ops on NCHW arrays, float32 or float64.

Every function checks its arguments (raising ``TypeError`` / ``ValueError`` that name the
offending value) before any kernel runs, allocates its outputs (fresh C-contiguous arrays
of the input dtype), and dispatches to the C/Cython kernels with the GIL released.
Names, signatures and semantics follow ``torch.nn.functional``; ``fastconv.reference``
holds the same functions in plain NumPy.

Every forward ``f`` has ``f_backward(grad_out, <the forward's inputs>, <its options>)``.
"""

from .conv import conv2d, conv2d_backward, conv_transpose2d, conv_transpose2d_backward
from .conv import PackedConv2dWeight, pack_conv2d_weight  # prepared weights (inference)
from .pooling import max_pool2d, max_pool2d_backward, avg_pool2d, avg_pool2d_backward
from .activations import relu, relu_backward, leaky_relu, leaky_relu_backward, sigmoid, sigmoid_backward, tanh, tanh_backward, elu, elu_backward, maxout, maxout_backward
from .activations import relu6, relu6_backward, hardsigmoid, hardsigmoid_backward, hardswish, hardswish_backward, silu, silu_backward, gelu, gelu_backward, softplus, softplus_backward
from .linear import linear, linear_backward
from .linear import PackedLinearWeight, pack_linear_weight  # prepared weights (inference)
from .loss import log_softmax, softmax, cross_entropy, cross_entropy_backward
from .dropout import dropout, dropout_backward
from .normalization import batch_norm2d, batch_norm2d_backward, batch_norm2d_inference_backward
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
    "log_softmax",
    "cross_entropy",
    "cross_entropy_backward",
    "dropout",
    "dropout_backward",
    "batch_norm2d",
    "batch_norm2d_backward",
    "batch_norm2d_inference_backward",
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
