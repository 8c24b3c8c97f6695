"""Export of the layers in :mod:`fastconv.onnx.layers` to the ONNX operators they stand for,
so an imported model that needed them exports again (after fine-tuning, say).

Inside the exported graph every tensor is NCHW (fastconv's internal layout), whatever the
exporter's ``channels_first``: only the graph's inputs and outputs are transposed. So the
layers here write their ONNX operator on the internal layout directly.
"""
import numpy as np

from . import layers as OL

__all__ = ["export_onnx_layer"]

_ARITH_OPS = {"add": "Add", "subtract": "Sub", "reverse_subtract": "Sub",
              "multiply": "Mul", "divide": "Div"}


def _pooling(w, layer, x):
    (t, b), (l, r) = layer.padding
    attrs = dict(kernel_shape=list(layer.pool_size), strides=list(layer.strides),
                 pads=[t, l, b, r], ceil_mode=int(layer.ceil_mode))
    if layer.mode == "max":
        return w.node("MaxPool", [x], layer.name, dilations=list(layer.dilation), **attrs)
    return w.node("AveragePool", [x], layer.name,
                  count_include_pad=int(layer.count_include_pad), **attrs)


def _constant_arithmetic(w, layer, x, in_shape):
    c = layer.buffers["constant"]
    # leading ones up to the batch axis: the constant broadcasts over (N, C, H, W) as over
    # the sample, and reads back as the same layer
    c = w.weight(f"{layer.name}_constant",
                 c.reshape((1,) * (len(in_shape) + 1 - c.ndim) + c.shape))
    inputs = [c, x] if layer.op == "reverse_subtract" else [x, c]
    return w.node(_ARITH_OPS[layer.op], inputs, layer.name)


def _resize(w, layer, x, in_shape, out_shape):
    """``functional.interpolate`` as Resize: nearest is ``floor(o * in / out)``, i.e.
    'asymmetric' + 'floor'; bilinear is 'half_pixel' or 'align_corners'."""
    name = layer.name
    if layer.mode == "nearest":
        attrs = dict(mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")
    else:
        attrs = dict(mode="linear", coordinate_transformation_mode="align_corners"
                     if layer.align_corners else "half_pixel")
    # aligned corners depend on the sizes only; elsewhere a scale factor also places the
    # source pixels, so it must stay a scale
    if layer.scale_factor is not None and not layer.align_corners:
        scales = np.array((1.0, 1.0) + layer.scale_factor, np.float32)
        # ONNX's output size is floor(n * scale), exact (in double) for the float32 scale
        sizes = [int(np.floor(n * float(s))) for n, s in zip(in_shape[1:], scales[2:])]
        if tuple(sizes) != tuple(out_shape[1:]):
            raise NotImplementedError(
                f"layer {name!r} (Resize2D): scale_factor {layer.scale_factor} rounded to "
                f"ONNX's float32 scales gives {tuple(sizes)} instead of "
                f"{tuple(out_shape[1:])} for {tuple(in_shape[1:])}")
        return w.node("Resize", [x, "", w.const(f"{name}_scales", scales)], name, **attrs)
    hw = w.ints(f"{name}_hw", out_shape[1:])
    if w.opset >= 18:
        return w.node("Resize", [x, "", "", hw], name, axes=[2, 3], **attrs)
    # before opset 18 sizes name every axis: the (dynamic) batch and channels from the input
    shape = w.node("Shape", [x], f"{name}_shape")
    nc = w.node("Slice", [shape, w.ints(f"{name}_start", [0]), w.ints(f"{name}_end", [2])],
                f"{name}_nc")
    sizes = w.node("Concat", [nc, hw], f"{name}_sizes", axis=0)
    return w.node("Resize", [x, "", "", sizes], name, **attrs)


def _gelu_tanh(w, layer, x):
    base = layer.name
    if w.opset >= 20:
        return w.node("Gelu", [x], base, approximate="tanh")
    # 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))), as PyTorch writes it before Gelu
    cube = w.node("Mul", [x, w.node("Mul", [x, x], f"{base}_square")], f"{base}_cube")
    inner = w.node("Add", [x, w.node("Mul", [cube, w.weight(f"{base}_kappa", 0.044715)],
                                     f"{base}_kappa_cube")], f"{base}_inner")
    t = w.node("Mul", [inner, w.weight(f"{base}_beta", np.sqrt(2 / np.pi))], f"{base}_scaled")
    t = w.node("Add", [w.node("Tanh", [t], f"{base}_tanh"), w.weight(f"{base}_one", 1.0)],
               f"{base}_one_plus")
    return w.node("Mul", [w.node("Mul", [x, t], f"{base}_times_x"),
                          w.weight(f"{base}_half", 0.5)], base)


def _clip(w, layer, x):
    lo, hi = layer.min_value, layer.max_value
    inputs = [x]
    if lo is not None or hi is not None:
        inputs.append("" if lo is None else w.weight(f"{layer.name}_min", lo))  # "": absent
    if hi is not None:
        inputs.append(w.weight(f"{layer.name}_max", hi))
    return w.node("Clip", inputs, layer.name)


def export_onnx_layer(w, layer, x, in_shape, out_shape):
    """The ONNX value of ``layer`` (one of :mod:`fastconv.onnx.layers`) applied to ``x``,
    written with the writer ``w`` of :mod:`fastconv.onnx.export`; None for other layers."""
    if isinstance(layer, OL.ChannelsFirstReshape):     # ONNX's Reshape is NCHW order
        return w.node("Reshape", [x, w.ints(f"{layer.name}_shape",
                                            (0,) + layer.target_shape)], layer.name)
    if isinstance(layer, OL.Pooling2D):
        return _pooling(w, layer, x)
    if isinstance(layer, OL.LogSoftmax):
        return w.node("LogSoftmax", [x], layer.name, axis=1)
    if isinstance(layer, OL.ConstantArithmetic):
        return _constant_arithmetic(w, layer, x, in_shape)
    if isinstance(layer, OL.Resize2D):
        return _resize(w, layer, x, in_shape, out_shape)
    if isinstance(layer, OL.GeluTanh):
        return _gelu_tanh(w, layer, x)
    if isinstance(layer, OL.Clip):
        return _clip(w, layer, x)
    if isinstance(layer, OL.HardSigmoid):
        return w.node("HardSigmoid", [x], layer.name, alpha=layer.alpha, beta=layer.beta)
    return None
