"""The ONNX operator table: which operators fastconv reads, which attributes each accepts,
and how the attributes are parsed into plain parameters.

One row per operator (``OPS``): the allowed attribute names, a parser ``(attrs, node,
opset) -> params`` and the interpreter kernel (:mod:`fastconv.onnx.kernels`). The same
``params`` feed the backend's interpreter and the importer's layer builders
(:mod:`fastconv.onnx.load`), so both read a node the same way. An operator that is not in
the table, or an attribute a row does not list, raises ``NotImplementedError`` naming it
before anything runs. Resize/Upsample have their own module (:mod:`fastconv.onnx.resize`).
"""
from . import kernels as K
from . import resize as R
from ._proto import Attrs, where

__all__ = ["OPS", "Op", "parse_node", "resolve_pads", "transpose_crop", "MIN_OPSET"]

#: the oldest default-domain opset read (older ones differ in attributes; opset 6's
#: explicit broadcasting of Add/Sub/Mul/Div/Gemm is read, see ``_arith``)
MIN_OPSET = 6


class Op:
    """A row of the table: allowed attributes, parser, kernel, input/output counts."""

    __slots__ = ("allowed", "parse", "run", "inputs", "outputs")

    def __init__(self, allowed, parse, run, inputs=(1, 1), outputs=(1, 1)):
        self.allowed = frozenset(allowed)
        self.parse = parse
        self.run = run
        self.inputs = inputs
        self.outputs = outputs


def _none(A, node, opset):
    return {}


# ----------------------------------------------------------------- convolution / pooling

_AUTO_PAD = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def _window(A, node, kernel_required):
    p = {"kernel_shape": A.ints("kernel_shape", None, 2, lo=1),
         "strides": tuple(A.ints("strides", [1, 1], 2, lo=1)),
         "dilations": tuple(A.ints("dilations", [1, 1], 2, lo=1)),
         "auto_pad": A.string("auto_pad", "NOTSET", _AUTO_PAD),
         "pads": A.ints("pads", None, 4, lo=0)}
    if kernel_required and p["kernel_shape"] is None:
        raise ValueError(f"{where(node)}: attribute 'kernel_shape' is required")
    if p["pads"] is not None and p["auto_pad"] != "NOTSET":
        raise ValueError(f"{where(node)}: 'pads' and auto_pad={p['auto_pad']!r} exclude each "
                         "other")
    return p


def resolve_pads(p, hw, kernel):
    """``((top, bottom), (left, right))`` for an input of spatial size ``hw`` and kernel
    ``kernel`` (ONNX's auto_pad rules: SAME_UPPER puts the odd pixel at the end)."""
    auto = p["auto_pad"]
    if auto == "VALID":
        return ((0, 0), (0, 0))
    if auto == "NOTSET":
        pads = p["pads"] or [0, 0, 0, 0]
        return ((pads[0], pads[2]), (pads[1], pads[3]))
    out = []
    for size, k, s, d in zip(hw, kernel, p["strides"], p["dilations"]):
        total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
        begin = total // 2 if auto == "SAME_UPPER" else total - total // 2
        out.append((begin, total - begin))
    return tuple(out)


def transpose_crop(p, hw, kernel, out_pad):
    """Rows/columns to drop from the full transposed-convolution output per side,
    ``((top, bottom), (left, right))``; a negative value adds zero (bias-only) rows or
    columns instead. The full output of an axis of size ``n`` is ``(n - 1) * s + (k - 1) * d
    + 1``; ONNX's ``output_padding`` extends it at the end, ``pads`` crop it, and
    ``output_shape`` / SAME_* derive the pads from the wanted size (ONNX's rules: SAME_UPPER
    crops the odd pixel at the end, anything else at the beginning)."""
    out = []
    for i, (n, k, s, d, op) in enumerate(zip(hw, kernel, p["strides"], p["dilations"],
                                             out_pad)):
        full = (n - 1) * s + (k - 1) * d + 1
        if p["output_shape"] is not None or p["auto_pad"] in ("SAME_UPPER", "SAME_LOWER"):
            want = p["output_shape"][i] if p["output_shape"] is not None else n * s
            total = full + op - want
            begin = total // 2 if p["auto_pad"] == "SAME_UPPER" else total - total // 2
            end = total - begin
        elif p["auto_pad"] == "VALID" or p["pads"] is None:
            begin, end = 0, 0
        else:
            begin, end = p["pads"][i], p["pads"][i + 2]
        out.append((begin, end - op))
    return tuple(out)


def _conv(A, node, opset):
    p = _window(A, node, False)
    p["group"] = A.int("group", 1, lo=1)
    return p


def _conv_transpose(A, node, opset):
    p = _conv(A, node, opset)
    p["output_padding"] = tuple(A.ints("output_padding", [0, 0], 2, lo=0))
    p["output_shape"] = A.ints("output_shape", None, 2, lo=1)
    if p["output_shape"] is not None and p["pads"] is not None:
        raise NotImplementedError(f"{where(node)}: attributes 'output_shape'="
                                  f"{list(p['output_shape'])} and 'pads'={list(p['pads'])} "
                                  "together are not supported (give one of them)")
    return p


def _pool(A, node, opset):
    p = _window(A, node, True)
    p["ceil_mode"] = bool(A.int("ceil_mode", 0, 0, 1))
    return p


def _maxpool(A, node, opset):
    p = _pool(A, node, opset)
    if A.int("storage_order", 0, 0, 1):
        raise NotImplementedError(f"{where(node)}: attribute 'storage_order'=1 is only "
                                  "meaningful for the Indices output, which is not supported")
    if len(node.output) > 1 and node.output[1]:
        raise NotImplementedError(f"{where(node)}: the Indices output is not supported")
    return p


def _avgpool(A, node, opset):
    p = _pool(A, node, opset)
    p["count_include_pad"] = bool(A.int("count_include_pad", 0, 0, 1))
    return p


def _batchnorm(A, node, opset):
    if A.int("spatial", 1, 0, 1) != 1:
        raise NotImplementedError(f"{where(node)}: attribute 'spatial'=0 is not supported")
    if A.int("training_mode", 0, 0, 1):
        raise NotImplementedError(f"{where(node)}: attribute 'training_mode'=1 is not "
                                  "supported (inference only; fine-tune with fastconv.onnx.load)")
    if sum(1 for o in node.output if o) > 1:
        raise NotImplementedError(f"{where(node)}: the training-mode outputs (running mean / "
                                  "variance) are not supported")
    eps = A.float("epsilon", 1e-5)
    momentum = A.float("momentum", 0.9)
    if not eps > 0:
        raise ValueError(f"{where(node)}: attribute 'epsilon' must be > 0, got {eps}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{where(node)}: attribute 'momentum' must be in [0, 1], got {momentum}")
    return {"epsilon": eps, "momentum": momentum}


# ----------------------------------------------------------------- activations


def _alpha(default):
    def parse(A, node, opset):
        return {"alpha": A.float("alpha", default)}
    return parse


def _hardsigmoid(A, node, opset):
    return {"alpha": A.float("alpha", 0.2), "beta": A.float("beta", 0.5)}


def _softmax(A, node, opset):
    # opset 13 changed Softmax/LogSoftmax from "flatten from axis (default 1)" to "along
    # axis (default -1)"
    return {"axis": A.int("axis", -1 if opset >= 13 else 1), "coerce_2d": opset < 13}


def _gelu(A, node, opset):
    return {"approximate": A.string("approximate", "none", ("none", "tanh"))}


def _clip(A, node, opset):
    if opset < 11:
        return {"min": A.float("min"), "max": A.float("max")}
    return {}


# ----------------------------------------------------------------- linear algebra / shape


def _arith(A, node, opset):
    """Add/Sub/Mul/Div: before opset 7, ``broadcast=1`` (with ``axis``) stretched the second
    operand; without it the shapes had to match."""
    if opset >= 7:
        for name in ("broadcast", "axis"):
            if name in A:
                raise NotImplementedError(f"{where(node)}: attribute {name!r} exists only "
                                          f"before opset 7 (this model is opset {opset})")
        return {}
    return {"broadcast": bool(A.int("broadcast", 0, 0, 1)), "axis": A.int("axis")}


def _gemm(A, node, opset):
    if opset >= 7 and "broadcast" in A:
        raise NotImplementedError(f"{where(node)}: attribute 'broadcast' exists only before "
                                  f"opset 7 (this model is opset {opset})")
    A.int("broadcast", 0, 0, 1)    # opset 6: C broadcasts either way (NumPy rules below)
    return {"alpha": A.float("alpha", 1.0), "beta": A.float("beta", 1.0),
            "transA": bool(A.int("transA", 0, 0, 1)), "transB": bool(A.int("transB", 0, 0, 1))}


def _axis(default):
    def parse(A, node, opset):
        a = A.int("axis", default)
        if a is None:
            raise ValueError(f"{where(node)}: attribute 'axis' is required")
        return {"axis": a}
    return parse


def _reshape(A, node, opset):
    return {"allowzero": bool(A.int("allowzero", 0, 0, 1))}


def _transpose(A, node, opset):
    return {"perm": A.ints("perm")}


def _pad(A, node, opset):
    mode = A.string("mode", "constant", ("constant", "reflect", "edge", "wrap"))
    if mode != "constant":
        raise NotImplementedError(f"{where(node)}: attribute 'mode'={mode!r} is not supported "
                                  "(only 'constant')")
    if opset < 11:
        return {"pads": A.ints("pads"), "value": A.float("value", 0.0)}
    return {}


def _dropout(A, node, opset):
    A.int("seed")      # read for its type check; inference ignores it
    if A.int("is_test", 1, 0, 1) == 0:
        raise NotImplementedError(f"{where(node)}: attribute 'is_test'=0 (training) is not "
                                  "supported")
    return {"ratio": A.float("ratio", 0.5)}


def _constant(A, node, opset):
    given = [a.name for a in node.attribute]
    if len(given) != 1:
        raise ValueError(f"{where(node)}: needs exactly one value attribute, got {given}")
    return {"value": K.constant_value(A, given[0])}


def _shape(A, node, opset):
    return {"start": A.int("start", 0), "end": A.int("end")}


def _unsqueeze(A, node, opset):
    return {"axes": A.ints("axes") if opset < 13 else None}


def _slice(A, node, opset):
    if opset < 10:
        starts, ends = A.ints("starts"), A.ints("ends")
        if starts is None or ends is None:
            raise ValueError(f"{where(node)}: attributes 'starts' and 'ends' are required")
        return {"starts": starts, "ends": ends, "axes": A.ints("axes")}
    return {}


def _cast(A, node, opset):
    to = A.int("to")
    if to not in K.CAST_TYPES:
        raise NotImplementedError(f"{where(node)}: attribute 'to'={to} (element type) is not "
                                  "supported (float, double, int32, int64, bool)")
    return {"to": to}


_WINDOW = ("auto_pad", "dilations", "kernel_shape", "pads", "strides")
_ARITH = ("broadcast", "axis")     # opset 6 only

OPS = {
    "Conv": Op(_WINDOW + ("group",), _conv, K.conv, (2, 3)),
    "ConvTranspose": Op(_WINDOW + ("group", "output_padding", "output_shape"),
                        _conv_transpose, K.conv_transpose, (2, 3)),
    "MaxPool": Op(_WINDOW + ("ceil_mode", "storage_order"), _maxpool, K.max_pool, (1, 1), (1, 2)),
    "AveragePool": Op(_WINDOW + ("ceil_mode", "count_include_pad"), _avgpool, K.avg_pool),
    "GlobalAveragePool": Op((), _none, K.global_avg_pool),
    "GlobalMaxPool": Op((), _none, K.global_max_pool),
    "BatchNormalization": Op(("epsilon", "momentum", "training_mode", "spatial", "is_test"),
                             _batchnorm, K.batch_norm, (5, 5), (1, 5)),
    "Relu": Op((), _none, K.relu),
    "LeakyRelu": Op(("alpha",), _alpha(0.01), K.leaky_relu),
    "Elu": Op(("alpha",), _alpha(1.0), K.elu),
    "Sigmoid": Op((), _none, K.sigmoid),
    "Tanh": Op((), _none, K.tanh),
    "Softmax": Op(("axis",), _softmax, K.softmax),
    "LogSoftmax": Op(("axis",), _softmax, K.log_softmax),
    "HardSigmoid": Op(("alpha", "beta"), _hardsigmoid, K.hard_sigmoid),
    "HardSwish": Op((), _none, K.hard_swish),
    "Gelu": Op(("approximate",), _gelu, K.gelu),
    "Softplus": Op((), _none, K.softplus),
    "Erf": Op((), _none, K.erf),     # imported only inside GELU's erf form (load.py)
    "Clip": Op(("min", "max"), _clip, K.clip, (1, 3)),
    "Gemm": Op(("alpha", "beta", "transA", "transB", "broadcast"), _gemm, K.gemm, (2, 3)),
    "MatMul": Op((), _none, K.matmul, (2, 2)),
    "Flatten": Op(("axis",), _axis(1), K.flatten),
    "Reshape": Op(("allowzero",), _reshape, K.reshape, (2, 2)),
    "Transpose": Op(("perm",), _transpose, K.transpose),
    "Add": Op(_ARITH, _arith, K.add, (2, 2)),
    "Sub": Op(_ARITH, _arith, K.sub, (2, 2)),
    "Mul": Op(_ARITH, _arith, K.mul, (2, 2)),
    "Div": Op(_ARITH, _arith, K.div, (2, 2)),
    "Concat": Op(("axis",), _axis(None), K.concat, (1, 1 << 16)),
    "Pad": Op(("mode", "pads", "value"), _pad, K.pad, (1, 4)),
    "Resize": Op(("mode", "coordinate_transformation_mode", "nearest_mode",
                  "cubic_coeff_a", "exclude_outside", "extrapolation_value", "antialias",
                  "axes", "keep_aspect_ratio_policy"), R.parse_resize, K.resize, (1, 4)),
    "Upsample": Op(("mode", "scales"), R.parse_upsample, K.resize, (1, 2)),
    "Sum": Op((), _none, K.sum_, (1, 1 << 16)),
    "Mean": Op((), _none, K.mean, (1, 1 << 16)),
    "Slice": Op(("starts", "ends", "axes"), _slice, K.slice_, (1, 5)),
    "Dropout": Op(("ratio", "seed", "is_test"), _dropout, K.dropout, (1, 3), (1, 2)),
    "Identity": Op((), _none, K.identity),
    "Constant": Op(("value", "value_float", "value_floats", "value_int", "value_ints"),
                   _constant, K.constant, (0, 0)),
    # the shape arithmetic exporters emit in front of a Reshape (folded at import)
    "Shape": Op(("start", "end"), _shape, K.shape),
    "Gather": Op(("axis",), _axis(0), K.gather, (2, 2)),
    "Unsqueeze": Op(("axes",), _unsqueeze, K.unsqueeze, (1, 2)),
    "Cast": Op(("to", "saturate", "round_mode"), _cast, K.cast),
}


def parse_node(node, opset, limits=None):
    """``(row, params)`` for a node: the operator, its domain, the number of inputs and
    outputs and every attribute checked; NotImplementedError for anything unsupported."""
    if node.domain not in ("", "ai.onnx"):
        raise NotImplementedError(f"{where(node)}: operator domain {node.domain!r} is not "
                                  "supported (only the default ONNX domain)")
    row = OPS.get(node.op_type)
    if row is None:
        raise NotImplementedError(f"{where(node)}: operator {node.op_type!r} is not supported; "
                                  f"supported: {sorted(OPS)}")
    lo, hi = row.inputs
    if not lo <= len(node.input) <= hi:
        raise ValueError(f"{where(node)}: takes {lo}..{hi} inputs, got {len(node.input)}")
    if lo and not node.input[0]:
        raise ValueError(f"{where(node)}: the first input is required")
    lo, hi = row.outputs
    if not lo <= len(node.output) <= hi or not node.output[0]:
        raise NotImplementedError(f"{where(node)}: {len(node.output)} outputs are not supported "
                                  f"(expected {lo}..{hi}, the first one named)")
    A = Attrs(node, row.allowed, limits)
    return row, row.parse(A, node, opset)
