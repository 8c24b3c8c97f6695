"""The importer's builders for the windowed and spatial operators (Conv, ConvTranspose,
MaxPool, AveragePool, Resize/Upsample, Slice): each ONNX geometry mapped to the Keras-style layer that computes the same
numbers (per-side Conv pads go straight into the layer's ``padding``), with an extra
Cropping2D or :class:`fastconv.onnx.layers.Pooling2D` where the layer's padding rules cannot
express it.

Builders: ``builder(importer, node, params, inputs) -> [outputs]`` (see
:mod:`fastconv.onnx.load`).
"""
import numpy as np

from ._proto import where
from .kernels import slice_window
from .ops import resolve_pads, transpose_crop
from .resize import plan, scales_sizes

__all__ = ["BATCH", "conv", "conv_transpose", "pool", "resize", "slice_"]

# the batch dimension inside folded shape values: arithmetic on it produces a value no
# Reshape accepts, so a shape computed from the batch size is refused, never mis-read
BATCH = -(1 << 40)


def _keras_same(size, k, s, d, pads):
    eff = d * (k - 1) + 1
    total = max((-(-size // s) - 1) * s + eff - size, 0)
    return tuple(pads) == (total // 2, total - total // 2)


def _conv_padding(pads, hw, k, s, d):
    """A convolution layer's padding: symmetric pads as ints, Keras-'same' pads as 'same',
    anything else per side ``((top, bottom), (left, right))``."""
    (t, b), (l, r) = pads
    if (t, l) == (b, r):
        return (t, l)
    if all(_keras_same(n, *a) for n, a in zip(hw, zip(k, s, d, pads))):
        return "same"
    return pads


def conv(im, node, p, xs):
    x = im.image(node, xs[0])
    w = im.const(node, xs[1], "the weight")
    g, c = p["group"], x._shape[0]
    if w.ndim != 4 or w.shape[1] * g != c or w.shape[0] % g:
        raise ValueError(f"{where(node)}: weight {w.shape} does not fit input {x.shape} with "
                         f"group={g}")
    if p["kernel_shape"] is not None and tuple(p["kernel_shape"]) != w.shape[2:]:
        raise ValueError(f"{where(node)}: kernel_shape {p['kernel_shape']} does not match the "
                         f"weight {w.shape}")
    k, s, d = w.shape[2:], p["strides"], p["dilations"]
    padding = _conv_padding(resolve_pads(p, x._shape[1:], k), x._shape[1:], k, s, d)
    bias = xs[2] if len(xs) > 2 else None
    weights = {"kernel": w}
    if bias is not None:
        weights["bias"] = im.const(node, bias, "the bias").reshape(-1)
    geometry = dict(strides=s, padding=padding, dilation_rate=d, use_bias=bias is not None,
                    name=im.name(node))
    if g == c and g > 1:
        # depthwise: the (C * m, 1, kh, kw) kernel is DepthwiseConv2D's layout
        layer = im.L.DepthwiseConv2D(tuple(k), depth_multiplier=w.shape[0] // c, **geometry)
    else:
        layer = im.L.Conv2D(w.shape[0], tuple(k), groups=g, **geometry)
    return [im.apply(node, layer, x, weights)]


def conv_transpose(im, node, p, xs):
    x = im.image(node, xs[0])
    w = im.const(node, xs[1], "the weight")
    if p["group"] != 1:
        raise NotImplementedError(f"{where(node)}: attribute 'group'={p['group']} is not "
                                  "supported on import (Conv2DTranspose has no groups; the "
                                  "backend runs it)")
    if w.ndim != 4 or w.shape[0] != x._shape[0]:
        raise ValueError(f"{where(node)}: weight {w.shape} does not fit input {x.shape} (the "
                         "weight is (C, K, kh, kw))")
    if p["kernel_shape"] is not None and tuple(p["kernel_shape"]) != w.shape[2:]:
        raise ValueError(f"{where(node)}: kernel_shape {p['kernel_shape']} does not match the "
                         f"weight {w.shape}")
    k, s, d = w.shape[2:], p["strides"], p["dilations"]
    crop = transpose_crop(p, x._shape[1:], k, p["output_padding"])
    spans = [(kk - 1) * dd + 1 for kk, dd in zip(k, d)]
    limit = [max(ss, dd) for ss, dd in zip(s, d)]
    # Conv2DTranspose(output_padding=e) crops ks // 2 per side ('same') or nothing
    # ('valid') and then adds e < max(stride, dilation) rows/columns at the end
    same = [sp // 2 for sp in spans]
    if all(begin == h and 0 <= h - end < lim
           for (begin, end), h, lim in zip(crop, same, limit)):
        padding, extra, rest = "same", tuple(h - end for (_, end), h in zip(crop, same)), None
    else:
        padding, extra = "valid", tuple(max(-end, 0) for _, end in crop)
        if any(begin < 0 or e >= lim for (begin, _), e, lim in zip(crop, extra, limit)):
            raise ValueError(
                f"{where(node)}: attributes pads={p['pads']}, output_padding="
                f"{list(p['output_padding'])}, output_shape={p['output_shape']}, auto_pad="
                f"{p['auto_pad']!r} put the output before the start of the full transposed "
                "convolution or a stride or more past its end (inconsistent with the input "
                "size)")
        rest = tuple((begin, max(end, 0)) for begin, end in crop)
    bias = xs[2] if len(xs) > 2 else None
    weights = {"kernel": w}
    if bias is not None:
        weights["bias"] = im.const(node, bias, "the bias").reshape(-1)
    name = im.name(node)
    layer = im.L.Conv2DTranspose(w.shape[1], tuple(k), strides=s, padding=padding,
                                 output_padding=extra, dilation_rate=d,
                                 use_bias=bias is not None, name=name)
    y = im.apply(node, layer, x, weights)
    if rest is not None and rest != ((0, 0), (0, 0)):
        y = im.apply(node, im.L.Cropping2D(rest, name=name + "_crop"), y)
    return [y]


def pool(im, node, p, xs):
    x = im.image(node, xs[0])
    k, s, d, ceil = p["kernel_shape"], p["strides"], p["dilations"], p["ceil_mode"]
    if node.op_type == "AveragePool" and tuple(d) != (1, 1):
        raise NotImplementedError(f"{node.op_type} node {node.name!r}: attribute 'dilations'="
                                  f"{list(d)} has no layer (the ONNX backend runs it)")
    pads = resolve_pads(p, x._shape[1:], k)
    (t, b), (l, r) = pads
    is_max = node.op_type == "MaxPool"
    cip = not is_max and p["count_include_pad"] and (t, b, l, r) != (0, 0, 0, 0)
    keras = d == (1, 1) and not cip      # what Max/AveragePooling2D can express
    if keras and (t, l) == (b, r) and 2 * t <= k[0] and 2 * l <= k[1]:
        padding = (t, l)
    elif keras and not ceil and all(_keras_same(n, kk, ss, 1, pp) for n, kk, ss, pp in zip(
            x._shape[1:], k, s, pads)):
        padding = "same"
    else:
        from .layers import Pooling2D  # noqa: PLC0415
        layer = Pooling2D("max" if is_max else "avg", tuple(k), s, pads, ceil, d, cip,
                          name=im.name(node))
        return [im.apply(node, layer, x)]
    cls = im.L.MaxPooling2D if is_max else im.L.AveragePooling2D
    layer = cls(tuple(k), strides=s, padding=padding, ceil_mode=ceil, name=im.name(node))
    return [im.apply(node, layer, x)]


def resize(im, node, p, xs):
    x = im.image(node, xs[0])
    scales, sizes = scales_sizes(p, [v if v is None else im.const(node, v, "scales/sizes")
                                     if i else v for i, v in enumerate(xs)], node)
    # the batch is dynamic: a sizes input's batch entry is taken as it is, or as any batch
    # when it is the input's own (read with Shape, as exporters write sizes before opset 18)
    batch = 1
    if sizes is not None and p.get("axes") is None:
        sizes = np.array(sizes).reshape(-1)
        if sizes[0] == BATCH:
            sizes[0] = 1
        batch = int(sizes[0])
    kwargs, out, factor = plan(p, (batch,) + tuple(x._shape), scales, sizes, node)
    if factor is not None and not kwargs["align_corners"]:
        layer = im.L.UpSampling2D(factor, interpolation=kwargs["mode"], name=im.name(node))
    else:
        from .layers import Resize2D  # noqa: PLC0415
        layer = Resize2D(kwargs["mode"], size=kwargs.get("size"),
                         scale_factor=kwargs.get("scale_factor"),
                         align_corners=bool(kwargs["align_corners"]), name=im.name(node))
    return [im.apply(node, layer, x)]


def slice_(im, node, p, xs):
    x = im.image(node, xs[0])
    shape = (BATCH,) + tuple(x._shape)
    window = slice_window(p, xs, shape, node,
                          lambda i: None if len(xs) <= i or xs[i] is None
                          else im.const(node, xs[i], "starts/ends/axes/steps"))
    if window[:2] != [(0, n, 1) for n in shape[:2]] or any(st != 1 for _, _, st in window):
        raise NotImplementedError(f"{where(node)}: only a Slice of the height and width with "
                                  "steps 1 is supported (Cropping2D)")
    crop = tuple((b, n - e) for (b, e, _), n in zip(window[2:], shape[2:]))
    if any(e <= b for b, e, _ in window[2:]):
        raise ValueError(f"{where(node)}: the Slice leaves an empty image")
    if crop == ((0, 0), (0, 0)):
        return [x]
    return [im.apply(node, im.L.Cropping2D(crop, name=im.name(node)), x)]
