"""Reading untrusted ONNX protobufs: the lazy ``onnx`` import, size limits, tensors and
typed attributes.

Nothing here executes anything from a model: protobuf messages are parsed by the ``onnx``
package's generated code, and every value this module hands on has been checked (type,
range, shape, dtype, size) first. Errors name the node, its operator and the attribute.
"""
import os

import numpy as np

__all__ = ["require_onnx", "Limits", "read_model", "to_array", "Attrs", "where"]

_INSTALL_HINT = 'fastconv.onnx needs the onnx package: pip install "fastconv[onnx]"'


def require_onnx():
    """The ``onnx`` module, or ImportError with the install command."""
    try:
        import onnx  # noqa: PLC0415 - imported lazily: core fastconv needs numpy only
    except ImportError as exc:  # pragma: no cover - onnx is installed in CI
        raise ImportError(_INSTALL_HINT) from exc
    return onnx


class Limits:
    """Size limits for untrusted files: bytes of the model file, elements of one tensor,
    number of nodes. The defaults fit any CNN that fastconv can train on a CPU."""

    def __init__(self, max_bytes=1 << 30, max_tensor_elements=1 << 28, max_nodes=100_000):
        for name, v in (("max_bytes", max_bytes), ("max_tensor_elements", max_tensor_elements),
                        ("max_nodes", max_nodes)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Limits: {name} must be a positive int, got {v!r}")
        self.max_bytes = max_bytes
        self.max_tensor_elements = max_tensor_elements
        self.max_nodes = max_nodes


def where(node):
    """``node 'name' (Op)`` for error messages."""
    if node is None:
        return "the graph"
    name = node.name or (node.output[0] if len(node.output) else "?")
    return f"node {name!r} ({node.op_type})"


def _check_external(model, allow_external_data, base_dir):
    onnx = require_onnx()
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors.extend(a.t for a in node.attribute if a.type == onnx.AttributeProto.TENSOR)
    for t in tensors:
        if t.data_location != onnx.TensorProto.EXTERNAL:
            continue
        if not allow_external_data:
            raise ValueError(f"tensor {t.name!r} keeps its data in an external file; external "
                             "data is refused by default (pass allow_external_data=True for "
                             "a file you trust)")
        if base_dir is None:
            raise ValueError(f"tensor {t.name!r} has external data, which needs a model file "
                             "path (not bytes) to be resolved")
        location = {e.key: e.value for e in t.external_data}.get("location", "")
        norm = os.path.normpath(location)
        if not location or os.path.isabs(location) or norm.startswith(os.pardir):
            raise ValueError(f"tensor {t.name!r}: external data location {location!r} must be "
                             "a relative path inside the model's directory")


def read_model(source, allow_external_data=False, limits=None):
    """A ``ModelProto`` from a path, bytes or a ``ModelProto``; sizes limited, external data
    refused unless ``allow_external_data`` (then resolved inside the model's directory)."""
    onnx = require_onnx()
    limits = limits or Limits()
    base_dir = None
    if isinstance(source, onnx.ModelProto):
        model = source
        size = model.ByteSize()
    else:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
        elif isinstance(source, (str, os.PathLike)):
            path = os.fspath(source)
            size = os.path.getsize(path)
            if size > limits.max_bytes:
                raise ValueError(f"{path}: {size} bytes is more than the limit "
                                 f"{limits.max_bytes} (Limits.max_bytes)")
            with open(path, "rb") as f:
                data = f.read(limits.max_bytes + 1)
            base_dir = os.path.dirname(os.path.abspath(path))
        else:
            raise TypeError(f"expected a path, bytes or onnx.ModelProto, got "
                            f"{type(source).__name__}")
        size = len(data)
        if size > limits.max_bytes:
            raise ValueError(f"the model has {size} bytes, more than the limit "
                             f"{limits.max_bytes} (Limits.max_bytes)")
        model = onnx.ModelProto()
        try:
            model.ParseFromString(data)
        except Exception as exc:  # protobuf raises its own DecodeError
            raise ValueError(f"not a valid ONNX model: {exc}") from None
    if size > limits.max_bytes:
        raise ValueError(f"the model has {size} bytes, more than the limit {limits.max_bytes}")
    if len(model.graph.node) > limits.max_nodes:
        raise ValueError(f"the graph has {len(model.graph.node)} nodes, more than the limit "
                         f"{limits.max_nodes} (Limits.max_nodes)")
    _check_external(model, allow_external_data, base_dir)
    if allow_external_data and base_dir is not None:
        from onnx.external_data_helper import load_external_data_for_model  # noqa: PLC0415
        load_external_data_for_model(model, base_dir)
    return model


# ONNX element types accepted from a file -> NumPy dtype. Floats are what fastconv computes
# in; the integer/bool types appear in shape subgraphs and index inputs.
_DTYPES = {1: np.float32, 11: np.float64, 10: np.float16, 6: np.int32, 7: np.int64,
           9: np.bool_, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 12: np.uint32,
           13: np.uint64}


def to_array(tensor, what, limits=None):
    """A checked NumPy copy of a ``TensorProto`` (its shape, dtype and element count)."""
    onnx = require_onnx()
    limits = limits or Limits()
    if tensor.data_type not in _DTYPES:
        name = onnx.TensorProto.DataType.Name(tensor.data_type) \
            if tensor.data_type in onnx.TensorProto.DataType.values() else tensor.data_type
        raise NotImplementedError(f"{what}: tensor {tensor.name!r} has element type {name}, "
                                  "which fastconv does not read")
    dims = list(tensor.dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"{what}: tensor {tensor.name!r} has a negative dimension {dims}")
    n = 1
    for d in dims:
        n *= d
        if n > limits.max_tensor_elements:
            raise ValueError(f"{what}: tensor {tensor.name!r} of shape {dims} has more than "
                             f"{limits.max_tensor_elements} elements (Limits.max_tensor_elements)")
    if tensor.data_location == onnx.TensorProto.EXTERNAL and not tensor.raw_data:
        raise ValueError(f"{what}: tensor {tensor.name!r} has external data that was not loaded")
    dtype = np.dtype(_DTYPES[tensor.data_type])
    if tensor.HasField("raw_data") and len(tensor.raw_data) != n * dtype.itemsize:
        raise ValueError(f"{what}: tensor {tensor.name!r} of shape {dims} and type {dtype} "
                         f"needs {n * dtype.itemsize} bytes, has {len(tensor.raw_data)}")
    try:
        array = onnx.numpy_helper.to_array(tensor)
    except Exception as exc:
        raise ValueError(f"{what}: tensor {tensor.name!r} cannot be read: {exc}") from None
    if array.size != n:
        raise ValueError(f"{what}: tensor {tensor.name!r} of shape {dims} holds {array.size} "
                         "values")
    return np.array(array, dtype=dtype).reshape(dims)


class Attrs:
    """The attributes of one node, read with type and range checks.

    ``Attrs(node, allowed)``: an attribute not in ``allowed`` raises NotImplementedError
    naming it (a newer opset's option fastconv does not implement must not be ignored).
    Every getter checks the attribute's protobuf type. ``check_done()`` is not needed:
    unknown names are rejected up front.
    """

    def __init__(self, node, allowed, limits=None):
        onnx = require_onnx()
        self._A = onnx.AttributeProto
        self.node = node
        self.limits = limits
        self._by_name = {}
        for a in node.attribute:
            if a.name in self._by_name:
                raise ValueError(f"{where(node)}: attribute {a.name!r} is given twice")
            if a.name not in allowed:
                raise NotImplementedError(f"{where(node)}: attribute {a.name!r} is not "
                                          f"supported (supported: {sorted(allowed)})")
            if a.ref_attr_name:
                raise NotImplementedError(f"{where(node)}: attribute {a.name!r} refers to a "
                                          "function attribute; functions are not supported")
            self._by_name[a.name] = a

    def __contains__(self, name):
        return name in self._by_name

    def _get(self, name, kind):
        a = self._by_name.get(name)
        if a is None:
            return None
        if a.type != kind:
            raise ValueError(f"{where(self.node)}: attribute {name!r} must be of type "
                             f"{self._A.AttributeType.Name(kind)}, got "
                             f"{self._A.AttributeType.Name(a.type) if a.type in self._A.AttributeType.values() else a.type}")
        return a

    def int(self, name, default=None, lo=None, hi=None):
        a = self._get(name, self._A.INT)
        v = default if a is None else int(a.i)
        if a is not None:
            if (lo is not None and v < lo) or (hi is not None and v > hi):
                raise ValueError(f"{where(self.node)}: attribute {name!r} must be in "
                                 f"[{lo}, {hi}], got {v}")
        return v

    def float(self, name, default=None):
        a = self._get(name, self._A.FLOAT)
        if a is None:
            return default
        v = float(a.f)
        if not np.isfinite(v):
            raise ValueError(f"{where(self.node)}: attribute {name!r} must be finite, got {v}")
        return v

    def ints(self, name, default=None, length=None, lo=None):
        a = self._get(name, self._A.INTS)
        if a is None:
            return default
        v = [int(i) for i in a.ints]
        if length is not None and len(v) != length:
            raise NotImplementedError(f"{where(self.node)}: attribute {name!r} has {len(v)} "
                                      f"values {v}; only {length} (2-D images) are supported")
        if lo is not None and any(i < lo for i in v):
            raise ValueError(f"{where(self.node)}: attribute {name!r} must be >= {lo}, got {v}")
        return v

    def floats(self, name, default=None):
        a = self._get(name, self._A.FLOATS)
        return default if a is None else [float(f) for f in a.floats]

    def string(self, name, default=None, choices=None):
        a = self._get(name, self._A.STRING)
        if a is None:
            return default
        try:
            v = a.s.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{where(self.node)}: attribute {name!r} is not UTF-8") from None
        if choices is not None and v not in choices:
            raise NotImplementedError(f"{where(self.node)}: attribute {name!r}={v!r} is not "
                                      f"supported (supported: {list(choices)})")
        return v

    def tensor(self, name):
        a = self._get(name, self._A.TENSOR)
        return None if a is None else to_array(a.t, f"{where(self.node)} attribute {name!r}",
                                               self.limits)
