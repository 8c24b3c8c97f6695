"""Import an ONNX model as a trainable fastconv :class:`~fastconv.models.Model`.

Each ONNX node becomes a fastconv layer (Conv -> Conv2D, Gemm -> Dense, ...) through the
builders in ``_BUILDERS`` (one per operator, reading the same parsed attributes as the
backend). Nodes whose inputs are all constants -- the Shape/Gather/Unsqueeze/Concat chains
exporters put in front of a Reshape, Constant nodes, weight transposes -- are folded at
import with the interpreter kernels. ONNX's NCHW is fastconv's internal layout, so the
imported model's ``predict`` takes channels-last images ``(N, H, W, C)`` and gives the
ONNX model's numbers (image outputs channels-last too).
"""
import re

import numpy as np

from ._proto import Limits, read_model, require_onnx, where
from .graph import Graph, default_opset
from .fuse import gelu_chains
from .kernels import _scalar, is_torch_hardsigmoid, legacy_operand, target_shape
from .load_window import BATCH as _BATCH, conv, conv_transpose, pool, resize, slice_

__all__ = ["load"]


class _Nhwc:
    """A channels-last view of an image tensor ``t`` (a Transpose(perm=[0, 2, 3, 1]) in the
    middle of the graph): only Reshape and the Transpose back read it (fastconv's Reshape,
    which works in channels-last order, as exported)."""

    def __init__(self, t):
        self.t = t


class _Importer:
    def __init__(self, graph, dtype):
        from .. import layers as L  # noqa: PLC0415
        self.L = L
        self.graph = graph
        self.dtype = dtype
        self.env = dict(graph.constants)
        self.weights = []           # (layer, {weight name: array}) set after building
        self.dense_from_matmul = {}  # output name -> Dense whose bias an Add may fill
        self.static_batch = None
        self.nhwc_inputs = set()    # graph inputs given channels-last (N, H, W, C)
        self.opset = graph.opset
        self.names = set()
        self.uses = {}
        for node, _, _ in graph.nodes:
            for n in node.input:
                self.uses[n] = self.uses.get(n, 0) + 1
        for n in graph.outputs:
            self.uses[n] = self.uses.get(n, 0) + 1

    # ------------------------------------------------------------ helpers
    def sym(self, v):
        return isinstance(v, self.L.KerasTensor)

    def name(self, node):
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", node.name or node.output[0]) or node.op_type
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def const(self, node, v, what):
        if v is None or self.sym(v):
            raise NotImplementedError(f"{where(node)}: {what} must be a constant (an "
                                      "initializer or folded subgraph), not computed at run time")
        return v

    def image(self, node, x):
        if not self.sym(x) or len(x._shape) != 3:
            raise NotImplementedError(f"{where(node)}: needs an NCHW image tensor, got "
                                      f"{'a constant' if not self.sym(x) else x.shape}")
        return x

    def apply(self, node, layer, x, weights=None):
        if weights:
            self.weights.append((layer, weights))
        try:
            return layer(x)
        except ValueError as exc:
            raise ValueError(f"{where(node)}: {exc}") from None

    # ------------------------------------------------------------ inputs
    def _channels_last(self, name):
        """True when every consumer of graph input ``name`` is a Transpose NHWC -> NCHW (a
        channels-last export, such as fastconv's default)."""
        users = [(node, params) for node, _, params in self.graph.nodes if name in node.input]
        return bool(users) and all(
            node.op_type == "Transpose" and list(node.input) == [name]
            and params["perm"] is not None and list(params["perm"]) == [0, 3, 1, 2]
            for node, params in users)

    def inputs(self):
        out = []
        for name, dtype, dims in self.graph.inputs:
            if dtype.kind != "f":
                raise NotImplementedError(f"graph input {name!r} has dtype {dtype}; only float "
                                          "inputs become model inputs")
            if dims is None or len(dims) not in (2, 4) or any(
                    d is None or d < 1 for d in dims[1:]):
                raise NotImplementedError(f"graph input {name!r} must be (N, C, H, W) or "
                                          f"(N, features) with static sizes, got {dims}")
            if dims[0] is not None:
                self.static_batch = dims[0]
            shape = dims[1:]
            if len(shape) == 3 and self._channels_last(name):
                self.nhwc_inputs.add(name)
                public = tuple(shape)
            else:
                public = (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)
            t = self.L.Input(public, name=self._input_name(name))
            self.env[name] = t
            out.append(t)
        return out

    def _input_name(self, name):
        base = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "input"
        self.names.add(base)
        return base

    # ------------------------------------------------------------ run
    def build(self, name, seed):
        from ..models import Model  # noqa: PLC0415
        inputs = self.inputs()
        chains = gelu_chains(self.graph)      # first node -> (x, nodes, last node, kind)
        skip, gelu_at = set(self.graph.dead), {}
        for node, row, params in self.graph.nodes:
            chain = chains.get(id(node))
            if chain is not None and self.sym(self.env[chain[0]]):
                skip.update(id(n) for n in chain[1])
                gelu_at[id(chain[2])] = chain[0], chain[3]
            if id(node) in skip:
                continue
            if id(node) in gelu_at:      # the chain's last node: one GELU layer
                x, kind = gelu_at[id(node)]
                if kind == "tanh":
                    from .layers import GeluTanh  # noqa: PLC0415
                    layer = GeluTanh(name=self.name(node))
                else:
                    layer = self.L.Activation("gelu", name=self.name(node))
                self.env[node.output[0]] = self.apply(node, layer, self.env[x])
                continue
            xs = [self.env[n] if n else None for n in node.input]
            if not any(self.sym(x) or isinstance(x, _Nhwc) for x in xs):
                ys = row.run(params, xs, node)        # constant folding
            elif node.op_type not in ("Reshape", "Transpose") and any(
                    isinstance(x, _Nhwc) for x in xs):
                raise NotImplementedError(f"{where(node)}: reads a channels-last Transpose of "
                                          "an image, which only Reshape supports")
            else:
                builder = _BUILDERS.get(node.op_type)
                if builder is None:
                    raise NotImplementedError(f"{where(node)}: operator {node.op_type!r} is "
                                              "supported on constants only")
                ys = builder(self, node, params, xs)
            for out, y in zip(node.output, ys):
                if out:
                    self.env[out] = y
        outputs = []
        for n in self.graph.outputs:
            if isinstance(self.env[n], _Nhwc):
                raise NotImplementedError(f"graph output {n!r} is a channels-last Transpose "
                                          "inside the graph")
            if not self.sym(self.env[n]):
                raise ValueError(f"graph output {n!r} is a constant")
            outputs.append(self.env[n])
        model = Model(inputs if len(inputs) > 1 else inputs[0],
                      outputs if len(outputs) > 1 else outputs[0],
                      name=name, seed=seed, dtype=self.dtype)
        # every layer made feeds an output (dead nodes make none); a layer the model
        # did not take would get no weights
        held = {id(layer) for layer in model.layers}
        for layer, weights in self.weights:
            if id(layer) not in held:
                continue
            for key, value in weights.items():
                store = layer.params if key in layer.params else layer.buffers
                if store[key].shape != value.shape:   # pragma: no cover - shapes derived
                    raise ValueError(f"layer {layer.name!r}: weight {key!r} {value.shape} "
                                     f"does not fit {store[key].shape}")
                store[key][...] = value
            layer._weights_changed()
        return model


# ---------------------------------------------------------------- builders

def _global_pool(im, node, p, xs):
    cls = im.L.GlobalAveragePooling2D if node.op_type == "GlobalAveragePool" else \
        im.L.GlobalMaxPooling2D
    return [im.apply(node, cls(keepdims=True, name=im.name(node)), im.image(node, xs[0]))]


def _batchnorm(im, node, p, xs):
    x = xs[0]
    if not im.sym(x):   # pragma: no cover - folded before
        raise NotImplementedError(f"{where(node)}: input must be a tensor")
    c = x._shape[0]
    arrays = [im.const(node, a, n) for a, n in zip(xs[1:], ("scale", "B", "mean", "var"))]
    for a, n in zip(arrays, ("scale", "B", "mean", "var")):
        if a.shape != (c,):
            raise ValueError(f"{where(node)}: {n} must have shape ({c},), got {a.shape}")
    # ONNX's momentum is the weight of the old running statistics, as Keras's is
    layer = im.L.BatchNormalization(momentum=p["momentum"], epsilon=p["epsilon"],
                                    name=im.name(node))
    weights = dict(zip(("gamma", "beta", "moving_mean", "moving_variance"), arrays))
    return [im.apply(node, layer, x, weights)]


def _activation(make):
    def build(im, node, p, xs):
        x = xs[0]
        return [im.apply(node, make(im, node, p, x), x)]
    return build


def _softmax(im, node, p, x):
    rank = len(x._shape) + 1
    axis = p["axis"] % rank if -rank <= p["axis"] < rank else None
    if axis != 1 or (p["coerce_2d"] and rank != 2):
        raise NotImplementedError(f"{where(node)}: {node.op_type} along axis {p['axis']} of a "
                                  f"rank-{rank} tensor is not supported (only the channel "
                                  "axis 1)")
    if node.op_type == "LogSoftmax":
        from .layers import LogSoftmax  # noqa: PLC0415
        return LogSoftmax(name=im.name(node))
    return im.L.Activation("softmax", name=im.name(node))


def _clip(im, node, p, x):
    if "min" in p:
        lo, hi = p["min"], p["max"]
    else:
        lo, hi = [None if v is None else float(_scalar(im.const(node, v, what), node, what))
                  for v, what in ((node_input(im, node, 1), "min"),
                                  (node_input(im, node, 2), "max"))]
    lo = None if lo == -np.inf else lo       # an infinite bound is no bound
    hi = None if hi == np.inf else hi
    if lo == 0.0 and hi is None:
        return im.L.ReLU(name=im.name(node))
    if lo == 0.0 and hi == 6.0:
        return im.L.ReLU(max_value=6, name=im.name(node))
    from .layers import Clip  # noqa: PLC0415
    return _layer_for(node, f"Clip({lo}, {hi})", lambda: Clip(lo, hi, name=im.name(node)))


def _layer_for(node, what, make):
    """The layer ``make()`` builds; a setting it refuses that is valid ONNX (a NaN bound,
    min > max, ...) is unsupported, named after the node."""
    try:
        return make()
    except (TypeError, ValueError) as exc:
        raise NotImplementedError(f"{where(node)}: {what} is not supported ({exc})") from None


def node_input(im, node, i):
    return im.env[node.input[i]] if len(node.input) > i and node.input[i] else None


def _hardsigmoid(im, node, p, x):
    if is_torch_hardsigmoid(p["alpha"], p["beta"]):
        return im.L.Activation("hard_sigmoid", name=im.name(node))
    from .layers import HardSigmoid  # noqa: PLC0415
    return _layer_for(node, f"HardSigmoid(alpha={p['alpha']}, beta={p['beta']})",
                      lambda: HardSigmoid(p["alpha"], p["beta"], name=im.name(node)))


def _gelu(im, node, p, x):
    if p["approximate"] == "tanh":
        from .layers import GeluTanh  # noqa: PLC0415
        return GeluTanh(name=im.name(node))
    return im.L.Activation("gelu", name=im.name(node))


def _named(activation):
    return _activation(lambda im, n, p, x: im.L.Activation(activation, name=im.name(n)))


def _variadic(im, node, p, xs):
    if not all(im.sym(x) for x in xs) or any(x._shape != xs[0]._shape for x in xs):
        raise NotImplementedError(f"{where(node)}: {node.op_type} is supported for tensors of "
                                  "one shape only")
    if len(xs) == 1:
        return [xs[0]]
    cls = im.L.Add if node.op_type == "Sum" else im.L.Average
    return [im.apply(node, cls(name=im.name(node)), list(xs))]


def _gemm(im, node, p, xs):
    x, b = xs[0], im.const(node, xs[1], "B")
    if p["transA"] or not im.sym(x) or len(x._shape) != 1:
        raise NotImplementedError(f"{where(node)}: only Gemm(x, W) with x of shape (N, "
                                  "features) and transA=0 is supported")
    kernel = (b if p["transB"] else b.T) * b.dtype.type(p["alpha"])
    if kernel.ndim != 2 or kernel.shape[1] != x._shape[0]:
        raise ValueError(f"{where(node)}: B {b.shape} does not fit input {x.shape}")
    units = kernel.shape[0]
    weights = {"kernel": np.ascontiguousarray(kernel)}
    c = xs[2] if len(xs) > 2 else None
    if c is not None:
        c = im.const(node, c, "C") * p["beta"]
        try:
            weights["bias"] = np.broadcast_to(c, (1, units)).reshape(units)
        except ValueError:
            raise NotImplementedError(f"{where(node)}: C of shape {c.shape} is not a bias of "
                                      f"{units} units") from None
    layer = im.L.Dense(units, use_bias=c is not None, name=im.name(node))
    return [im.apply(node, layer, x, weights)]


def _matmul(im, node, p, xs):
    x, b = xs[0], im.const(node, xs[1], "B")
    if not im.sym(x) or len(x._shape) != 1 or b.ndim != 2 or b.shape[0] != x._shape[0]:
        raise NotImplementedError(f"{where(node)}: only MatMul(x, W) with x of shape (N, "
                                  "features) and a constant 2-D W is supported")
    layer = im.L.Dense(b.shape[1], name=im.name(node))
    weights = {"kernel": np.ascontiguousarray(b.T), "bias": np.zeros(b.shape[1], b.dtype)}
    y = im.apply(node, layer, x, weights)
    im.dense_from_matmul[node.output[0]] = weights
    return [y]


_MERGE = {"Add": "Add", "Sub": "Subtract", "Mul": "Multiply"}
# (operator, constant second) -> ConstantArithmetic's op; Div(c, x) has none
_CONST_OP = {("Add", True): "add", ("Add", False): "add", ("Mul", True): "multiply",
             ("Mul", False): "multiply", ("Sub", True): "subtract",
             ("Sub", False): "reverse_subtract", ("Div", True): "divide"}


def _binary(im, node, p, xs):
    a, b = xs
    if im.sym(a) and im.sym(b):
        if a._shape != b._shape or node.op_type not in _MERGE:
            raise NotImplementedError(f"{where(node)}: {node.op_type} of {a.shape} and "
                                      f"{b.shape} is not supported (same shapes only; Div "
                                      "of two tensors has no layer)")
        layer = getattr(im.L, _MERGE[node.op_type])(name=im.name(node))
        return [im.apply(node, layer, [a, b])]
    const_second = im.sym(a)
    x, c = (a, b) if const_second else (b, a)
    sym_name = node.input[0] if const_second else node.input[1]
    weights = im.dense_from_matmul.get(sym_name)
    if node.op_type == "Add" and weights is not None and im.uses.get(sym_name) == 1:
        # MatMul + Add exported from a linear layer: the constant is the Dense bias
        units = weights["bias"].shape[0]
        try:
            weights["bias"] = weights["bias"] + np.broadcast_to(c, (1, units)).reshape(units)
        except ValueError:
            pass
        else:
            return [im.env[sym_name]]
    op = _CONST_OP.get((node.op_type, const_second))
    if op is None:
        raise NotImplementedError(f"{where(node)}: Div of a constant by a tensor is not "
                                  "supported")
    full = (1,) + tuple(x._shape)
    c = np.asarray(c)
    if const_second:
        c = legacy_operand(p, full, c, node)
    if c.ndim > len(full) or (c.ndim == len(full) and c.shape[0] != 1):
        raise NotImplementedError(f"{where(node)}: a constant of shape {c.shape} for a tensor "
                                  f"{x.shape} is not supported (it must not span the batch)")
    c = c.reshape((1,) * (len(full) - c.ndim) + c.shape)[0]
    try:
        fits = np.broadcast_shapes(c.shape, full[1:]) == full[1:]
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{where(node)}: constant of shape {c.shape} does not broadcast to "
                         f"{x.shape}")
    from .layers import ConstantArithmetic  # noqa: PLC0415
    layer = ConstantArithmetic(op, c.shape, name=im.name(node))
    return [im.apply(node, layer, x, {"constant": c.astype(im.dtype)})]


def _flatten(im, node, p, xs):
    x = xs[0]
    rank = len(x._shape) + 1
    axis = p["axis"] + rank if p["axis"] < 0 else p["axis"]
    if axis != 1:
        raise NotImplementedError(f"{where(node)}: Flatten with axis={p['axis']} is not "
                                  "supported (only axis 1: keep the batch)")
    if len(x._shape) == 1:
        return [x]
    return [im.apply(node, im.L.Flatten(name=im.name(node)), x)]


def _reshape(im, node, p, xs):
    x, shape = xs[0], im.const(node, xs[1], "the target shape")
    nhwc = isinstance(x, _Nhwc)
    if nhwc:       # Transpose to NHWC -> Reshape: fastconv's (channels-last) Reshape
        x = x.t
        c, h, w = x._shape
        x_public = (h, w, c)
    shape = np.asarray(shape).reshape(-1)
    if shape.dtype.kind not in "iu" or not len(shape):
        raise ValueError(f"{where(node)}: shape must be a non-empty integer tensor")
    first = int(shape[0])
    batch = first == _BATCH or (first == 0 and not p["allowzero"]) or \
        (im.static_batch is not None and first == im.static_batch) or \
        (first == -1 and -1 not in shape[1:].tolist())
    if not batch:
        raise NotImplementedError(f"{where(node)}: Reshape to {shape.tolist()} changes the "
                                  "batch dimension, which is not supported")
    rest = shape[1:].copy()
    if _BATCH in rest.tolist():
        raise ValueError(f"{where(node)}: Reshape moves the batch size into a sample dimension")
    if nhwc:
        out = target_shape(rest, x_public, p["allowzero"], node)
        if len(out) not in (1, 3):
            raise NotImplementedError(f"{where(node)}: Reshape to rank {len(out) + 1} is not "
                                      "supported (images and vectors only)")
        y = im.apply(node, im.L.Reshape(out, name=im.name(node)), x)
        return [_Nhwc(y) if len(out) == 3 else y]
    out = target_shape(rest, x._shape, p["allowzero"], node)
    if out == tuple(x._shape):
        return [x]
    if len(out) == 1 and len(x._shape) == 3:
        return [im.apply(node, im.L.Flatten(name=im.name(node)), x)]
    if len(out) not in (1, 3):
        raise NotImplementedError(f"{where(node)}: Reshape to rank {len(out) + 1} is not "
                                  "supported (images and vectors only)")
    from .layers import ChannelsFirstReshape  # noqa: PLC0415
    return [im.apply(node, ChannelsFirstReshape(out, name=im.name(node)), x)]


def _transpose(im, node, p, xs):
    x = xs[0]
    rank = len((x.t if isinstance(x, _Nhwc) else x)._shape) + 1
    perm = None if p["perm"] is None else list(p["perm"])
    if perm == list(range(rank)):
        return [x]
    if perm == [0, 3, 1, 2] and node.input[0] in im.nhwc_inputs:
        return [x]            # channels-last input: the model's public layout already
    out = node.output[0]
    if isinstance(x, _Nhwc):
        if perm == [0, 3, 1, 2]:
            return [x.t]      # back to NCHW after a channels-last Reshape
        raise NotImplementedError(f"{where(node)}: Transpose with perm {p['perm']} of a "
                                  "channels-last view is not supported")
    if perm == [0, 2, 3, 1] and rank == 4 and out in im.graph.outputs and im.uses[out] == 1:
        return [x]            # channels-last image output: what predict returns anyway
    users = [n for n, _, _ in im.graph.nodes if out in n.input]
    if perm == [0, 2, 3, 1] and rank == 4 and users and out not in im.graph.outputs and all(
            n.op_type == "Reshape" and n.input[0] == out for n in users):
        return [_Nhwc(x)]     # fastconv's Reshape, exported through NHWC
    raise NotImplementedError(f"{where(node)}: Transpose with perm {p['perm']} of a tensor is "
                              "not supported (only on constants, after a channels-last input "
                              "and before an image output)")


def _concat(im, node, p, xs):
    if not all(im.sym(x) for x in xs):
        raise NotImplementedError(f"{where(node)}: Concat of tensors and constants is not "
                                  "supported")
    if len(xs) == 1:
        return [xs[0]]
    rank = len(xs[0]._shape) + 1
    axis = p["axis"] % rank if -rank <= p["axis"] < rank else None
    if axis in (None, 0):
        raise NotImplementedError(f"{where(node)}: Concat along axis {p['axis']} is not "
                                  "supported")
    public = {1: -1, 2: 1, 3: 2}[axis] if rank == 4 else -1
    return [im.apply(node, im.L.Concatenate(axis=public, name=im.name(node)), list(xs))]


def _pad(im, node, p, xs):
    x = im.image(node, xs[0])
    if "pads" in p:
        pads, value, axes = p["pads"], p["value"], None
    else:
        pads = im.const(node, node_input(im, node, 1), "pads")
        v = node_input(im, node, 2)
        value = 0.0 if v is None else float(np.asarray(im.const(node, v, "constant_value")))
        a = node_input(im, node, 3)
        axes = None if a is None else [int(i) % 4 for i in np.asarray(im.const(node, a, "axes"))]
    pads = [int(v) for v in np.asarray(pads).reshape(-1)]
    axes = axes if axes is not None else list(range(4))
    if len(pads) != 2 * len(axes) or value != 0.0:
        raise NotImplementedError(f"{where(node)}: only zero padding of the height and width "
                                  "is supported")
    begin, end = [0] * 4, [0] * 4
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[len(axes) + i]
    if begin[:2] != [0, 0] or end[:2] != [0, 0]:
        raise NotImplementedError(f"{where(node)}: padding the batch or channel axis is not "
                                  "supported")
    sides = ((begin[2], end[2]), (begin[3], end[3]))
    if min(begin + end) >= 0:
        return [im.apply(node, im.L.ZeroPadding2D(sides, name=im.name(node)), x)]
    if max(begin + end) <= 0:
        crop = tuple((-a, -b) for a, b in sides)
        return [im.apply(node, im.L.Cropping2D(crop, name=im.name(node)), x)]
    raise NotImplementedError(f"{where(node)}: mixed positive and negative pads")


def _passthrough(im, node, p, xs):
    if len(node.output) > 1 and node.output[1]:
        raise NotImplementedError(f"{where(node)}: the mask output of Dropout is not supported")
    return [xs[0]]


def _shape(im, node, p, xs):
    s = np.array([_BATCH] + list(xs[0]._shape), np.int64)
    end = p["end"] if p["end"] is not None else len(s)
    return [s[p["start"]:end].copy()]


_BUILDERS = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "MaxPool": pool,
    "AveragePool": pool,
    "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool,
    "BatchNormalization": _batchnorm,
    "Relu": _activation(lambda im, n, p, x: im.L.ReLU(name=im.name(n))),
    "LeakyRelu": _activation(lambda im, n, p, x: im.L.LeakyReLU(p["alpha"], name=im.name(n))),
    "Elu": _activation(lambda im, n, p, x: im.L.ELU(p["alpha"], name=im.name(n))),
    "Sigmoid": _activation(lambda im, n, p, x: im.L.Activation("sigmoid", name=im.name(n))),
    "Tanh": _activation(lambda im, n, p, x: im.L.Activation("tanh", name=im.name(n))),
    "Softmax": _activation(_softmax),
    "LogSoftmax": _activation(_softmax),
    "HardSigmoid": _activation(_hardsigmoid),
    "HardSwish": _named("hard_swish"),
    "Softplus": _named("softplus"),
    "Gelu": _activation(_gelu),
    "Resize": resize,
    "Upsample": resize,
    "Slice": slice_,
    "Sum": _variadic,
    "Mean": _variadic,
    "Clip": _activation(_clip),
    "Gemm": _gemm,
    "MatMul": _matmul,
    "Add": _binary,
    "Sub": _binary,
    "Mul": _binary,
    "Div": _binary,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Concat": _concat,
    "Pad": _pad,
    "Dropout": _passthrough,
    "Identity": _passthrough,
    "Shape": _shape,
}


def load(source, allow_external_data=False, limits=None, name=None, seed=None):
    """An ONNX model (a path, bytes or ``onnx.ModelProto``) as a fastconv ``Model``.

    The model takes channels-last images ``(N, H, W, C)`` (ONNX's ``(N, C, H, W)`` input,
    transposed) and trains like any fastconv model (``compile`` + ``fit``). The file is
    untrusted input: sizes are limited by ``limits`` (:class:`fastconv.onnx.Limits`),
    external data is refused unless ``allow_external_data=True``, and anything fastconv
    cannot represent raises ``NotImplementedError`` (unsupported operator or attribute) or
    ``ValueError`` (malformed model), naming the node, operator and attribute.
    """
    onnx = require_onnx()
    limits = limits or Limits()
    proto = read_model(source, allow_external_data, limits)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        raise ValueError(f"invalid ONNX model: {exc}") from None
    graph = Graph(proto.graph, default_opset(proto), limits)
    dtypes = {d for _, d, _ in graph.inputs}
    dtype = "float64" if np.dtype(np.float64) in dtypes else "float32"
    importer = _Importer(graph, np.dtype(dtype))
    for key, array in importer.env.items():
        if array.dtype.kind == "f":
            importer.env[key] = array.astype(dtype)
    return importer.build(name, seed)
