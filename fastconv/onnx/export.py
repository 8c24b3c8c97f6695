"""Export a fastconv model (Sequential or graph) to ONNX, in inference form.

The ONNX graph takes what ``model.predict`` takes: channels-last images ``(N, H, W, C)``
(a Transpose to NCHW follows the input, and image outputs are transposed back), or NCHW
with ``channels_first=True``. The batch dimension is dynamic. Dropout disappears, batch
normalisation becomes BatchNormalization with the moving statistics, and Keras 'same'
padding becomes explicit (asymmetric when the total is odd) ``pads``. The layers the importer
adds (:mod:`fastconv.onnx.layers`) export to the operators they stand for
(:mod:`fastconv.onnx.export_layers`).
"""
import numpy as np

from ._proto import require_onnx
from .export_layers import export_onnx_layer

__all__ = ["export", "DEFAULT_OPSET"]

#: opset written by default: understood by every current runtime
DEFAULT_OPSET = 17
_MIN_OPSET = 13      # Softmax along an axis, Pad/Slice/Unsqueeze with tensor inputs

_ACTIVATION_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "elu": "Elu",
                   "leaky_relu": "LeakyRelu", "softmax": "Softmax"}


class _Writer:
    """Collects nodes and initializers with unique names."""

    def __init__(self, onnx, dtype, opset):
        self.onnx = onnx
        self.opset = opset
        self.helper = onnx.helper
        self.dtype = dtype
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, base):
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base, array):
        name = self.name(base)
        self.inits.append(self.onnx.numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def weight(self, base, array):
        return self.const(base, np.asarray(array, self.dtype))

    def ints(self, base, values):
        return self.const(base, np.asarray(values, np.int64))

    def node(self, op, inputs, base, **attrs):
        out = self.name(base)
        self.nodes.append(self.helper.make_node(op, list(inputs), [out], name=out, **attrs))
        return out


def _composite(w, name, x, base):
    """The activations written as ONNX ops other than one of the same name (None if the
    activation is not one of them)."""
    if name == "relu6":
        return w.node("Clip", [x, w.weight(f"{base}_min", 0.0), w.weight(f"{base}_max", 6.0)],
                      f"{base}_relu6")
    if name == "hard_sigmoid":
        return w.node("HardSigmoid", [x], f"{base}_hard_sigmoid", alpha=1.0 / 6, beta=0.5)
    if name == "hard_swish":
        if w.opset >= 14:
            return w.node("HardSwish", [x], f"{base}_hard_swish")
        gate = w.node("HardSigmoid", [x], f"{base}_hard_sigmoid", alpha=1.0 / 6, beta=0.5)
        return w.node("Mul", [x, gate], f"{base}_hard_swish")
    if name == "silu":
        return w.node("Mul", [x, w.node("Sigmoid", [x], f"{base}_sigmoid")], f"{base}_silu")
    if name == "gelu":
        if w.opset >= 20:
            return w.node("Gelu", [x], f"{base}_gelu")
        # x * 0.5 * (1 + erf(x / sqrt(2))), as PyTorch writes it (read back as one GELU)
        t = w.node("Div", [x, w.weight(f"{base}_sqrt2", np.sqrt(2.0))], f"{base}_div")
        t = w.node("Erf", [t], f"{base}_erf")
        t = w.node("Add", [t, w.weight(f"{base}_one", 1.0)], f"{base}_add")
        t = w.node("Mul", [x, t], f"{base}_mul")
        return w.node("Mul", [t, w.weight(f"{base}_half", 0.5)], f"{base}_gelu")
    if name == "softplus":
        return w.node("Softplus", [x], f"{base}_softplus")
    return None


def _activation(w, name, act, x, base):
    if name is None:
        return x
    y = _composite(w, name, x, base)
    if y is not None:
        return y
    op = _ACTIVATION_OPS.get(name)
    if op is None:
        raise NotImplementedError(f"layer {base!r}: activation {name!r} cannot be exported")
    attrs = {}
    if name in ("leaky_relu", "elu"):
        attrs["alpha"] = float(act.opt)
    if name == "softmax":
        attrs["axis"] = 1          # the channels (NCHW) or the features
    return w.node(op, [x], f"{base}_{name}", **attrs)


def _same_pads(size, k, s, d=1):
    """Keras 'same': output ceil(size / s), the odd pixel at the end."""
    eff = d * (k - 1) + 1
    total = max((-(-size // s) - 1) * s + eff - size, 0)
    return total // 2, total - total // 2


def _conv(w, layer, x, in_shape):
    from .. import layers as L  # noqa: F401,PLC0415
    kernel = layer.params["kernel"]
    inputs = [x, w.weight(f"{layer.name}_kernel", kernel)]
    if layer.use_bias:
        inputs.append(w.weight(f"{layer.name}_bias", layer.params["bias"]))
    (t, b), (l, r) = layer.explicit_padding
    y = w.node("Conv", inputs, layer.name, kernel_shape=list(kernel.shape[2:]),
               strides=list(layer.strides), dilations=list(layer.dilation_rate),
               pads=[t, l, b, r], group=int(layer.conv_groups))
    return _activation(w, layer._act.name, layer._act, y, layer.name)


def _pool(w, layer, x, in_shape, op):
    _, H, W = in_shape
    attrs = dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides))
    if layer.padding == "same":
        (t, b), (l, r) = (_same_pads(H, layer.pool_size[0], layer.strides[0]),
                          _same_pads(W, layer.pool_size[1], layer.strides[1]))
        attrs["pads"] = [t, l, b, r]
    else:
        ph, pw = layer._pad
        attrs["pads"] = [ph, pw, ph, pw]
        attrs["ceil_mode"] = int(layer._ceil)
    if op == "AveragePool":
        attrs["count_include_pad"] = 0     # Keras's rule: padded cells are not counted
    return w.node(op, [x], layer.name, **attrs)


def _batchnorm(w, layer, x):
    c = layer.buffers["moving_mean"].shape[0]
    gamma = layer.params.get("gamma", np.ones(c))
    beta = layer.params.get("beta", np.zeros(c))
    inputs = [x] + [w.weight(f"{layer.name}_{n}", a) for n, a in (
        ("gamma", gamma), ("beta", beta), ("mean", layer.buffers["moving_mean"]),
        ("var", layer.buffers["moving_variance"]))]
    return w.node("BatchNormalization", inputs, layer.name, epsilon=float(layer.epsilon),
                  momentum=float(layer.momentum))


def _reshape(w, layer, x, in_shape, out_shape):
    # fastconv's Reshape works in channels-last order (as Keras): go through NHWC
    if len(in_shape) == 3:
        x = w.node("Transpose", [x], f"{layer.name}_nhwc", perm=[0, 2, 3, 1])
    public = out_shape if len(out_shape) != 3 else (out_shape[1], out_shape[2], out_shape[0])
    y = w.node("Reshape", [x, w.ints(f"{layer.name}_shape", (0,) + tuple(public))], layer.name)
    if len(out_shape) == 3:
        y = w.node("Transpose", [y], f"{layer.name}_nchw", perm=[0, 3, 1, 2])
    return y


def _layer(w, node, xs):
    """The ONNX value computed by one graph node of the fastconv model."""
    from .. import layers as L  # noqa: PLC0415
    layer = node.layer
    in_shape = node.inputs[0]._shape
    x = xs[0]
    if isinstance(layer, (L.Conv2D, L.DepthwiseConv2D)):
        return _conv(w, layer, x, in_shape)
    if isinstance(layer, L.SeparableConv2D):
        (t, b), (l, r) = layer.explicit_padding
        p = layer.params
        d = w.node("Conv", [x, w.weight(f"{layer.name}_depthwise", p["depthwise_kernel"])],
                   f"{layer.name}_depthwise", kernel_shape=list(layer.kernel_size),
                   strides=list(layer.strides), dilations=list(layer.dilation_rate),
                   pads=[t, l, b, r], group=int(layer.conv_groups))
        inputs = [d, w.weight(f"{layer.name}_pointwise", p["pointwise_kernel"])]
        if layer.use_bias:
            inputs.append(w.weight(f"{layer.name}_bias", p["bias"]))
        y = w.node("Conv", inputs, layer.name, kernel_shape=[1, 1])
        return _activation(w, layer._act.name, layer._act, y, layer.name)
    if isinstance(layer, L.Conv2DTranspose):
        (t, b), (l, r) = layer.explicit_padding
        inputs = [x, w.weight(f"{layer.name}_kernel", layer.params["kernel"])]
        if layer.use_bias:
            inputs.append(w.weight(f"{layer.name}_bias", layer.params["bias"]))
        y = w.node("ConvTranspose", inputs, layer.name,
                   kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                   dilations=list(layer.dilation_rate), pads=[t, l, b, r],
                   output_padding=list(layer.transpose_output_padding))
        return _activation(w, layer._act.name, layer._act, y, layer.name)
    if isinstance(layer, L.Dense):
        inputs = [x, w.weight(f"{layer.name}_kernel", layer.params["kernel"])]
        if layer.use_bias:
            inputs.append(w.weight(f"{layer.name}_bias", layer.params["bias"]))
        y = w.node("Gemm", inputs, layer.name, transB=1)
        return _activation(w, layer._act.name, layer._act, y, layer.name)
    if isinstance(layer, L.MaxPooling2D):
        return _pool(w, layer, x, in_shape, "MaxPool")
    if isinstance(layer, L.AveragePooling2D):
        return _pool(w, layer, x, in_shape, "AveragePool")
    if isinstance(layer, (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)):
        op = "GlobalAveragePool" if isinstance(layer, L.GlobalAveragePooling2D) else \
            "GlobalMaxPool"
        y = w.node(op, [x], layer.name)
        return y if layer.keepdims else w.node("Flatten", [y], f"{layer.name}_flat", axis=1)
    if isinstance(layer, L.BatchNormalization):
        return _batchnorm(w, layer, x)
    if isinstance(layer, L.Flatten):
        return w.node("Flatten", [x], layer.name, axis=1)
    if isinstance(layer, L.Reshape):
        return _reshape(w, layer, x, in_shape, node.output._shape)
    if isinstance(layer, (L.Dropout, L.Identity)):
        return x                                     # inference form: no node at all
    if isinstance(layer, L.Activation):
        return _activation(w, layer._act.name, layer._act, x, layer.name) \
            if layer._act.name is not None else x
    if isinstance(layer, L.ZeroPadding2D):
        (t, b), (l, r) = layer.padding
        return w.node("Pad", [x, w.ints(f"{layer.name}_pads", [0, 0, t, l, 0, 0, b, r])],
                      layer.name, mode="constant")
    if isinstance(layer, L.Cropping2D):
        (t, b), (l, r) = layer.cropping
        _, H, W = in_shape
        return w.node("Slice", [x, w.ints(f"{layer.name}_starts", [t, l]),
                                w.ints(f"{layer.name}_ends", [H - b, W - r]),
                                w.ints(f"{layer.name}_axes", [2, 3])], layer.name)
    if isinstance(layer, L.UpSampling2D):
        sh, sw = layer.size
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor") if layer.interpolation == "nearest" else \
            dict(mode="linear", coordinate_transformation_mode="half_pixel")
        scales = w.const(f"{layer.name}_scales", np.array([1, 1, sh, sw], np.float32))
        return w.node("Resize", [x, "", scales], layer.name, **attrs)
    if isinstance(layer, L.Concatenate):
        return w.node("Concat", xs, layer.name,
                      axis=layer._internal_axis(len(in_shape)))
    if isinstance(layer, (L.Add, L.Multiply, L.Subtract, L.Average)):
        op = {L.Add: "Sum", L.Multiply: "Mul", L.Subtract: "Sub", L.Average: "Mean"}[type(layer)]
        if op == "Mul":
            y = xs[0]
            for i, other in enumerate(xs[1:]):
                y = w.node("Mul", [y, other], f"{layer.name}_{i}" if i else layer.name)
            return y
        if op == "Sum" and len(xs) == 2:
            op = "Add"
        return w.node(op, xs, layer.name)
    y = export_onnx_layer(w, layer, x, in_shape, node.output._shape)
    if y is not None:
        return y
    raise NotImplementedError(f"layer {layer.name!r} ({type(layer).__name__}) cannot be "
                              "exported to ONNX yet")


def _value_info(helper, name, elem, shape):
    return helper.make_tensor_value_info(name, elem, ["N"] + list(shape))


def export(model, path=None, opset=None, channels_first=False):
    """Write ``model`` to ``path`` as ONNX (and return the ``onnx.ModelProto``).

    ``opset``: the default-domain opset (default :data:`DEFAULT_OPSET`, at least 13).
    ``channels_first=False``: the ONNX input is channels-last, like ``model.predict``;
    ``True``: NCHW in and out. The result passes ``onnx.checker.check_model``.
    """
    onnx = require_onnx()
    from ..models import Model  # noqa: PLC0415
    if not isinstance(model, Model):
        raise TypeError(f"export needs a fastconv model, got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"model {model.name!r} is not built: give it an input shape first")
    opset = DEFAULT_OPSET if opset is None else opset
    if isinstance(opset, bool) or not isinstance(opset, int) or \
            not _MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset must be an int in [{_MIN_OPSET}, "
                         f"{onnx.defs.onnx_opset_version()}], got {opset!r}")
    if not isinstance(channels_first, bool):
        raise TypeError(f"channels_first must be a bool, got {channels_first!r}")
    model._get_plan()
    dtype = np.dtype(model.dtype)
    elem = onnx.helper.np_dtype_to_tensor_dtype(dtype)
    w = _Writer(onnx, dtype, opset)
    values, graph_inputs = {}, []
    for i, t in enumerate(model._inputs):
        name = "input" if len(model._inputs) == 1 else f"input_{i}"
        shape = t._shape
        nhwc = len(shape) == 3 and not channels_first
        graph_inputs.append(_value_info(onnx.helper, name, elem,
                                        (shape[1], shape[2], shape[0]) if nhwc else shape))
        values[id(t)] = w.node("Transpose", [name], "input_nchw", perm=[0, 3, 1, 2]) \
            if nhwc else name
    for node in model._nodes:
        xs = [values[id(t)] for t in node.inputs]
        values[id(node.output)] = _layer(w, node, xs)
    graph_outputs = []
    for i, t in enumerate(model._outputs):
        name = "output" if len(model._outputs) == 1 else f"output_{i}"
        shape = t._shape
        nhwc = len(shape) == 3 and not channels_first
        src = values[id(t)]
        if nhwc:
            w.nodes.append(onnx.helper.make_node("Transpose", [src], [name], name=name,
                                                 perm=[0, 2, 3, 1]))
        else:
            w.nodes.append(onnx.helper.make_node("Identity", [src], [name], name=name))
        graph_outputs.append(_value_info(onnx.helper, name, elem,
                                         (shape[1], shape[2], shape[0]) if nhwc else shape))
    graph = onnx.helper.make_graph(w.nodes, model.name, graph_inputs, graph_outputs,
                                   initializer=w.inits)
    proto = onnx.helper.make_model(graph, producer_name="fastconv",
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    proto.ir_version = min(proto.ir_version, 8 if opset <= 17 else proto.ir_version)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save(proto, path)
    return proto
