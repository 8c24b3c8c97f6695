"""fastconv as an ONNX backend (``onnx.backend.base.Backend``), so that ONNX's own
conformance cases (``onnx.backend.test.BackendTest``) run against fastconv's kernels::

    import fastconv.onnx.backend as backend
    rep = backend.prepare(model)        # checks every node; NotImplementedError if unsupported
    outputs = rep.run([x_nchw])         # node by node on fastconv.functional (NCHW)

``prepare`` parses the whole graph through the same operator table as
:func:`fastconv.onnx.load` and refuses an unsupported operator or attribute before any
computation. CPU only.
"""
from ._proto import Limits, read_model, require_onnx
from .graph import Graph, default_opset

_onnx = require_onnx()
from onnx.backend.base import Backend, BackendRep, Device, DeviceType  # noqa: E402

__all__ = ["FastconvBackend", "FastconvRep", "prepare", "run_model", "run_node",
           "supports_device"]


class FastconvRep(BackendRep):
    """A prepared model: ``run(inputs)`` with a list (graph input order) or a dict."""

    def __init__(self, graph):
        self.graph = graph

    def run(self, inputs, **kwargs):
        if not isinstance(inputs, (list, tuple, dict)):
            inputs = [inputs]
        return tuple(self.graph.run(inputs))


class FastconvBackend(Backend):
    """The ONNX backend interface over fastconv's functional ops."""

    @classmethod
    def supports_device(cls, device):
        return Device(device).type == DeviceType.CPU

    @classmethod
    def prepare(cls, model, device="CPU", allow_external_data=False, limits=None, **kwargs):
        if not cls.supports_device(device):
            raise NotImplementedError(f"device {device!r} is not supported (CPU only)")
        model = read_model(model, allow_external_data, limits)
        _onnx.checker.check_model(model)
        return FastconvRep(Graph(model.graph, default_opset(model), limits or Limits()))

    @classmethod
    def run_model(cls, model, inputs, device="CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device="CPU", outputs_info=None, **kwargs):
        """Run one NodeProto on ``inputs`` (a list, in the node's input order)."""
        if not cls.supports_device(device):
            raise NotImplementedError(f"device {device!r} is not supported (CPU only)")
        helper = _onnx.helper
        import numpy as np  # noqa: PLC0415
        names = [n for n in node.input if n]
        values = [np.asarray(v) for v in inputs]
        if len(values) != len(names):
            raise ValueError(f"node {node.name!r} has {len(names)} inputs, got {len(values)}")
        graph_inputs = [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for n, v in zip(names, values)]
        graph_outputs = [helper.make_tensor_value_info(n, _onnx.TensorProto.FLOAT, None)
                         for n in node.output if n]
        graph = helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        opset = kwargs.get("opset_version", _onnx.defs.onnx_opset_version())
        g = Graph(graph, opset)
        return tuple(g.run(values))


prepare = FastconvBackend.prepare
run_model = FastconvBackend.run_model
run_node = FastconvBackend.run_node
supports_device = FastconvBackend.supports_device
