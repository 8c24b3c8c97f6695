"""A checked ONNX graph: every node parsed through the operator table, every reference
resolved, every initializer read under the size limits -- before anything is computed.

Shared by the backend's interpreter (:class:`Graph.run`) and the importer.
"""
import numpy as np

from ._proto import Limits, require_onnx, to_array, where
from .ops import MIN_OPSET, parse_node

__all__ = ["Graph", "default_opset"]

# element types a graph input may declare (what the kernels and shape folding read)
_INPUT_TYPES = {1: np.float32, 11: np.float64, 7: np.int64, 6: np.int32, 9: np.bool_}


def default_opset(model):
    """The default-domain opset of a ModelProto, checked against what fastconv reads."""
    onnx = require_onnx()
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if not versions:
        raise ValueError("the model imports no default-domain opset")
    v = int(versions[0])
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= v <= newest:
        raise NotImplementedError(f"opset {v} is not supported (supported: {MIN_OPSET}.."
                                  f"{newest})")
    return v


def _tensor_type(value_info, what):
    onnx = require_onnx()
    t = value_info.type
    if t.WhichOneof("value") != "tensor_type":
        raise NotImplementedError(f"{what} {value_info.name!r} is not a tensor (it is a "
                                  f"{t.WhichOneof('value')}); only tensors are supported")
    elem = t.tensor_type.elem_type
    if elem not in _INPUT_TYPES:
        name = onnx.TensorProto.DataType.Name(elem) \
            if elem in onnx.TensorProto.DataType.values() else elem
        raise NotImplementedError(f"{what} {value_info.name!r} has element type {name}; "
                                  "supported: float, double, int64, int32, bool")
    dims = None
    if t.tensor_type.HasField("shape"):
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in t.tensor_type.shape.dim]
    return np.dtype(_INPUT_TYPES[elem]), dims


class Graph:
    """``Graph(graph_proto, opset, limits=None)``: the checked graph.

    Attributes: ``inputs`` (list of ``(name, dtype, dims)`` for the inputs that are not
    initializers), ``outputs`` (names), ``constants`` (initializer name -> array),
    ``nodes`` (list of ``(node, row, params)`` in execution order), ``dead`` (ids of the
    nodes no output depends on, which are not run).
    """

    def __init__(self, graph, opset, limits=None):
        limits = limits or Limits()
        self.opset = opset
        if len(graph.sparse_initializer):
            raise NotImplementedError("sparse initializers are not supported")
        self.constants = {}
        for t in graph.initializer:
            if not t.name or t.name in self.constants:
                raise ValueError(f"initializer {t.name!r} is unnamed or given twice")
            self.constants[t.name] = to_array(t, f"initializer {t.name!r}", limits)
        defined = set(self.constants)
        self.inputs = []
        for vi in graph.input:
            if vi.name in self.constants:
                continue      # an initializer listed as an input (IR < 4): a constant
            if not vi.name or vi.name in defined:
                raise ValueError(f"graph input {vi.name!r} is unnamed or defined twice")
            dtype, dims = _tensor_type(vi, "graph input")
            self.inputs.append((vi.name, dtype, dims))
            defined.add(vi.name)
        self.nodes = []
        for node in graph.node:
            row, params = parse_node(node, opset, limits)
            for name in node.input:
                if name and name not in defined:
                    raise ValueError(f"{where(node)}: input {name!r} is not defined before "
                                     "this node (unknown name, or the nodes are not in "
                                     "topological order)")
            for name in node.output:
                if name in defined:
                    raise ValueError(f"{where(node)}: output {name!r} is already defined")
                if name:
                    defined.add(name)
            self.nodes.append((node, row, params))
        self.outputs = []
        for vi in graph.output:
            if vi.name not in defined:
                raise ValueError(f"graph output {vi.name!r} is not computed by any node")
            _tensor_type(vi, "graph output")
            self.outputs.append(vi.name)
        self.dead = self._dead_nodes()

    def _dead_nodes(self):
        """ids of the nodes no graph output depends on: ONNX Runtime never runs them, and
        neither do the interpreter and the importer (whatever their operator)."""
        producer = {out: node for node, _, _ in self.nodes for out in node.output if out}
        live, stack = set(), [producer[n] for n in self.outputs if n in producer]
        while stack:
            node = stack.pop()
            if id(node) not in live:
                live.add(id(node))
                stack.extend(producer[n] for n in node.input if n in producer)
        return frozenset(id(node) for node, _, _ in self.nodes) - live

    def check_feeds(self, feeds):
        """``feeds`` (a list in input order or a dict by name) -> dict of checked arrays."""
        if isinstance(feeds, dict):
            missing = [n for n, _, _ in self.inputs if n not in feeds]
            if missing:
                raise ValueError(f"missing graph input(s) {missing}")
            values = [feeds[n] for n, _, _ in self.inputs]
        else:
            values = list(feeds)
            if len(values) != len(self.inputs):
                raise ValueError(f"the graph has {len(self.inputs)} inputs "
                                 f"{[n for n, _, _ in self.inputs]}, got {len(values)} arrays")
        env = {}
        for (name, dtype, dims), v in zip(self.inputs, values):
            v = np.asarray(v)
            if v.dtype != dtype:
                raise TypeError(f"graph input {name!r} must have dtype {dtype}, got {v.dtype}")
            if dims is not None and (len(dims) != v.ndim or any(
                    d is not None and d != s for d, s in zip(dims, v.shape))):
                raise ValueError(f"graph input {name!r} must have shape "
                                 f"{['?' if d is None else d for d in dims]}, got {v.shape}")
            env[name] = v
        return env

    def run(self, feeds):
        """Run every node on fastconv's kernels; returns the outputs in graph order."""
        env = dict(self.constants)
        env.update(self.check_feeds(feeds))
        for node, row, params in self.nodes:
            if id(node) in self.dead:
                continue
            xs = [env[n] if n else None for n in node.input]
            try:
                ys = row.run(params, xs, node)
            except (TypeError, ValueError) as exc:
                msg = str(exc)
                raise type(exc)(msg if msg.startswith("node ") else f"{where(node)}: {msg}") \
                    from None
            for name, y in zip(node.output, ys):
                if name:
                    env[name] = y
        return [env[n] for n in self.outputs]
