"""ONNX's own conformance cases (``onnx.backend.test``) run against fastconv's ONNX backend.

The cases of the supported operators are included by name; a case is excluded only when it
tests something outside fastconv's scope (a different opset's semantics, non-2-D images,
non-float data, training mode) or an operator whose fastconv kernel has not landed yet
(``# until <op> lands``: re-enable those when the kernel is merged).
"""
import pytest

pytest.importorskip("onnx", reason="the ONNX tests need onnx (pip install 'fastconv[onnx]')")

import onnx.backend.test  # noqa: E402

import fastconv.onnx.backend as backend  # noqa: E402

backend_test = onnx.backend.test.BackendTest(backend, __name__)

_OPERATORS = [
    "conv", "basic_conv", "maxpool", "averagepool", "globalaveragepool", "globalmaxpool",
    "batchnorm", "relu", "leakyrelu", "elu", "sigmoid", "tanh", "softmax", "logsoftmax",
    "hardsigmoid", "hardswish", "clip", "gemm", "matmul", "flatten", "reshape", "transpose",
    "add", "sub", "mul", "div", "concat", "constant_pad", "resize", "upsample", "dropout",
    "identity", "constant", "convtranspose", "gelu", "softplus",
]
for _op in _OPERATORS:
    backend_test.include(rf"^test_{_op}(_.*)?_cpu$")
# the PyTorch-converted cases of the same operators (2-D ones; the 1-D/3-D ones excluded
# below): grouped and depthwise Conv, ConvTranspose2d, pooling with padding and dilation
_TORCH = ["Conv2d", "ConvTranspose2d", "MaxPool2d", "AvgPool2d", "BatchNorm2d", "ReLU",
          "LeakyReLU", "Softmax", "LogSoftmax", "Linear", "operator_conv",
          "operator_convtranspose", "operator_maxpool"]
for _op in _TORCH:
    backend_test.include(rf"^test_{_op}(_.*)?_cpu$")

_EXCLUDED = [
    # "_expanded" cases run the operator's function body (Where, CastLike, ReduceMax, Exp...),
    # i.e. they test those other operators, not this one
    r"_expanded(_ver18)?_cpu$",
    # integer data: fastconv computes in float32/float64
    r"^test_(add|sub|mul|div)_u?int(8|16|32|64)(_trunc)?_cpu$",
    r"^test_clip_default_int8_",
    r"^test_maxpool_2d_uint8_cpu$",
    # 1-D and 3-D pooling / convolution: fastconv's kernels are 2-D (images)
    r"^test_(averagepool|maxpool|convtranspose)_(1d|3d)_",
    r"^test_operator_maxpool_cpu$",
    # N-D and vector MatMul: the operator is supported for 2-D matrices only
    r"^test_matmul_(1d_1d|1d_3d|3d|4d|4d_1d|bcast)_cpu$",
    # the Indices output of MaxPool is not supported
    r"^test_maxpool_with_argmax_",
    # training-mode batch norm (running statistics as outputs): inference only
    r"^test_batchnorm_.*_training_mode_cpu$",
    # optional / sequence types: only tensors are supported
    r"^test_identity_(opt|sequence)_cpu$",
    # Resize: fastconv's interpolate is PyTorch's nearest (floor(o * in / out)) and bilinear
    # (half-pixel or align-corners); these cases need another filter or sampling rule.
    # cubic filters:
    r"^test_resize_.*cubic",
    # antialiasing filters (linear downsampling with a widened kernel):
    r"^test_resize_.*_antialias_cpu$",
    # tf_crop_and_resize (a region of interest) and half_pixel_symmetric coordinates:
    r"^test_resize_tf_crop_and_resize",
    r"^test_resize_.*_half_pixel_symmetric_cpu$",
    # keep_aspect_ratio_policy not_larger / not_smaller:
    r"^test_resize_.*_not_(larger|smaller)_cpu$",
    # nearest with rounding rules that are not floor(o * in / out): half_pixel +
    # round_prefer_floor at non-whole factors (downsampling by 0.6, upsampling 2x2 -> 7x8),
    # align_corners + floor, asymmetric + round_prefer_ceil, half_pixel + ceil
    r"^test_resize_downsample_(scales|sizes)_nearest_cpu$",
    r"^test_resize_upsample_sizes_nearest(_axes_2_3|_axes_3_2)?_cpu$",
    r"^test_resize_upsample_sizes_nearest_(floor_align_corners|round_prefer_ceil_asymmetric|"
    r"ceil_half_pixel)_cpu$",
    # align_corners with scales whose sizes are not whole (2x4 * 0.6): ONNX aligns the
    # corners of the unrounded 1.2x2.4 output, PyTorch those of the rounded 1x2
    r"^test_resize_downsample_scales_linear_align_corners_cpu$",
    # pytorch_half_pixel with an output width of 1: ONNX samples pixel 0 where PyTorch's
    # interpolate (and fastconv's) samples the centre
    r"^test_resize_downsample_sizes_linear_pytorch_half_pixel_cpu$",
]
for _pattern in _EXCLUDED:
    backend_test.exclude(_pattern)

globals().update(backend_test.test_cases)


def test_prepare_refuses_unsupported_operator_before_running():
    from onnx import TensorProto, helper
    node = helper.make_node("LpNormalization", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 2])])
    model = helper.make_model(graph)
    with pytest.raises(NotImplementedError, match="LpNormalization"):
        backend.prepare(model)


def test_graph_check_refuses_unknown_attribute():
    # the ONNX checker in prepare() rejects it too; this tests fastconv's own check, which
    # also guards load()
    from onnx import TensorProto, helper
    from fastconv.onnx.graph import Graph
    node = helper.make_node("Relu", ["x"], ["y"], name="r1", bogus=3)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 2])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, 2])])
    with pytest.raises(NotImplementedError, match=r"'r1' \(Relu\).*'bogus'"):
        Graph(graph, 17)


def test_supports_cpu_only():
    assert backend.supports_device("CPU")
    assert not backend.supports_device("CUDA")
