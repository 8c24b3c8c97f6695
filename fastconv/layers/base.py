"""The layer protocol, symbolic tensors and the graph nodes layers record.

The layer protocol (what models use, and what a custom layer implements)
-----------------------------------------------------------------------
Every layer computes in the engine's layout: images NCHW, vectors ``(N, features)``;
per-sample shapes inside are ``(C, H, W)`` or ``(features,)`` (``layer._in``/``layer._out``),
public shapes are channels-last (``layer.input_shape``/``layer.output_shape``).

* ``__init__(...)`` validates every argument (``TypeError``/``ValueError`` naming it).
* ``build(input_shape)`` creates the weights for a channels-last input shape; models call
  ``_build_internal(shape, dtype, rng)`` with the internal shape and a seeded generator.
  ``_output_shape(in_shape)`` gives the output shape and rejects a wrong input shape; it is
  called when the layer is first called on a symbolic tensor, so a graph with mismatched
  shapes fails where it is written, not at the first batch.
* ``forward(x, training=False) -> (y, ctx)``: the output, and what the backward pass needs
  (``ctx``, opaque). ``x`` is one array, or a list for layers that merge several inputs.
  A layer keeps no per-call state, so one layer may be called at several places of a graph.
* ``backward(grad_out, ctx, input_grad=True) -> grad_x``: the gradient w.r.t. the input(s)
  (``None`` when ``input_grad`` is False); the weight gradients are stored in
  ``layer.grads`` (same keys as ``layer.params``), added to what is there when the model
  asks for accumulation (a layer shared by several nodes). Subclasses implement
  ``_backward(grad_out, ctx, input_grad)``.
* ``params`` (trainable arrays), ``buffers`` (state such as moving statistics),
  ``get_weights()``/``set_weights()``, ``count_params()``.
* ``get_config()``/``from_config()`` round-trip the constructor arguments.

``layer.call(x, training)`` and ``layer.backward(grad)`` without a ``ctx`` keep the context
of the last ``call`` for interactive use and gradient checks; ``layer(x)`` on arrays takes
and returns channels-last batches; ``layer(t)`` on symbolic tensors records a graph node.
"""
import contextlib
import itertools
import math
import re
import threading

import numpy as np

from .. import _validation as V
from ..functional.prepared import prepared_cache
from ..layout import to_internal, to_internal_shape, to_public, to_public_shape

__all__ = ["Layer", "InputLayer", "Input", "KerasTensor", "Node", "register", "serialize",
           "deserialize", "get"]

_NAME_COUNTS = {}
_REGISTRY = {}
_LAST_CALL = object()   # backward() without a ctx: use the context of the last call()
_WEIGHTS_VERSION = [0]
_BUDGET = threading.local()   # weight_budget's count of values still allowed (this thread)


def weights_version():
    """A counter that moves whenever any layer's weights change through the API (an
    optimizer step, ``set_weights``, a training pass updating moving statistics, loading).
    Caches of derived weights (batch norm folded into a convolution) compare it."""
    return _WEIGHTS_VERSION[0]


def weights_changed():
    """Declare that weights changed (needed only after writing into weight arrays
    directly, e.g. ``layer.params['kernel'][...] = ...``)."""
    _WEIGHTS_VERSION[0] += 1


@contextlib.contextmanager
def weight_budget(values):
    """Within this block, layers built on this thread may create at most ``values`` weight
    values in all: creating more raises ``ValueError`` before anything is allocated. A
    model read from a file (``load_model``) is built under the count of values the file
    holds -- a larger architecture cannot be the one it holds, and an edited file must
    not make the loader allocate and initialise gigabytes first."""
    before = getattr(_BUDGET, "left", None)
    _BUDGET.left = int(values)
    try:
        yield
    finally:
        _BUDGET.left = before


def _snake(name):
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s).lower().replace("2_d", "2d")


def unique_name(prefix):
    """``prefix``, then ``prefix_1``, ``prefix_2``... (Keras's automatic names)."""
    n = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def _fmt_shape(shape):
    if isinstance(shape, list):
        return "[" + ", ".join(_fmt_shape(s) for s in shape) + "]"
    return str((None,) + to_public_shape(shape))


# --------------------------------------------------------------------------- graph

class KerasTensor:
    """A symbolic tensor: what ``Input(shape)`` returns and what a layer called on symbolic
    tensors returns. It has a shape (``(None, H, W, C)`` or ``(None, features)``) and a
    dtype, and remembers the node that produced it; it holds no data."""

    __slots__ = ("_shape", "dtype", "node", "name")

    def __init__(self, shape, dtype, node=None, name=None):
        self._shape = tuple(shape)
        self.dtype = dtype
        self.node = node
        self.name = name

    @property
    def shape(self):
        return (None,) + to_public_shape(self._shape)

    @property
    def ndim(self):
        return len(self._shape) + 1

    def __repr__(self):
        src = self.node.layer.name if self.node is not None else "?"
        return f"<KerasTensor shape={self.shape} from {src!r}>"

    def __array__(self, *args, **kwargs):
        raise TypeError("a symbolic tensor (layers.Input or a layer's output in a graph) has "
                        "no values; build a models.Model(inputs, outputs) and call predict")


class Node:
    """One call of a layer inside a graph: its input tensors and its output tensor.
    Nodes are numbered in creation order, which is always a topological order."""

    _ids = itertools.count()

    def __init__(self, layer, inputs, output, listed):
        self.id = next(Node._ids)
        self.layer = layer
        self.inputs = list(inputs)
        self.output = output
        self.listed = listed      # the layer was given a list (merging layers)
        output.node = self

    def __repr__(self):
        return f"<Node {self.id} {self.layer.name}>"


def _symbolic_inputs(x):
    """The list of KerasTensors in ``x`` (None when ``x`` holds none)."""
    if isinstance(x, KerasTensor):
        return [x]
    if isinstance(x, (list, tuple)) and x and any(isinstance(t, KerasTensor) for t in x):
        if not all(isinstance(t, KerasTensor) for t in x):
            raise TypeError("cannot mix symbolic tensors and arrays in one layer call: got "
                            f"{[type(t).__name__ for t in x]}")
        return list(x)
    return None


# --------------------------------------------------------------------------- Layer

class Layer:
    """Base class of all layers; see the module docstring for the protocol."""

    #: True for layers that take a list of inputs (Add, Concatenate, ...)
    _multi_input = False
    #: whether the layer's output can be "un-softmaxed" for a fused softmax+cross-entropy
    _ends_in_softmax = False

    def __init__(self, name=None, input_shape=None, trainable=True, dtype=None, **kwargs):
        owner = type(self).__name__
        if "batch_input_shape" in kwargs:
            if input_shape is None:
                input_shape = tuple(kwargs["batch_input_shape"])[1:]
            kwargs.pop("batch_input_shape")
        if kwargs:
            raise TypeError(f"{owner}: unexpected keyword argument(s) {sorted(kwargs)}")
        if name is None:
            name = unique_name(_snake(owner))
        elif not isinstance(name, str) or not name:
            raise TypeError(f"{owner}: name must be a non-empty string, got {name!r}")
        self.name = name
        if input_shape is not None:
            shape = V.shape_tuple(input_shape, "input_shape", owner)
            if len(shape) not in (1, 3) or not all(V.is_int(s) and s > 0 for s in shape):
                raise ValueError(f"{owner}: input_shape must be (features,) or (height, width, "
                                 f"channels) of positive ints, got {input_shape!r}")
            input_shape = tuple(int(s) for s in shape)
        self._input_shape_arg = input_shape
        self.trainable = V.flag(trainable, "trainable", owner)
        self.dtype = V.float_dtype(dtype, owner)
        self.params = {}
        self.buffers = {}
        self.grads = {}
        self.built = False
        #: set by a model while it runs a backward pass through a layer used at several
        #: places: the weight gradients of each use are added up
        self._accumulate = False
        #: False for the first layer of a model: its input gradient is never needed
        self._need_input_grad = True
        self._in = None         # internal per-sample input shape (a list for merging layers)
        self._out = None        # internal per-sample output shape
        self._pending_in = None  # input shape seen in a graph before the weights exist
        self._rng = None        # generator for stochastic layers (dropout)
        self._ctx = _LAST_CALL  # context of the last call() (interactive use only)
        self._prep = None       # ops prepared per input shape (see _prepared_op)

    # ------------------------------------------------------------ shapes
    @property
    def input_shape(self):
        """Keras-style input shape, ``(None, H, W, C)`` or ``(None, features)`` (a list of
        them for merging layers)."""
        shape = self._in if self._in is not None else self._pending_in
        if shape is None:
            if self._input_shape_arg is not None:
                return (None,) + self._input_shape_arg
            raise AttributeError(f"layer {self.name!r} is not built, it has no input shape yet")
        if isinstance(shape, list):
            return [(None,) + to_public_shape(s) for s in shape]
        return (None,) + to_public_shape(shape)

    @property
    def output_shape(self):
        """Keras-style output shape, ``(None, H, W, C)`` or ``(None, features)``."""
        if self._out is None:
            if self._pending_in is not None:
                return (None,) + to_public_shape(self._output_shape(self._pending_in))
            raise AttributeError(f"layer {self.name!r} is not built, it has no output shape yet")
        return (None,) + to_public_shape(self._out)

    def compute_output_shape(self, input_shape):
        """Keras-style: the output shape (batch dimension None) for an input shape."""
        if self._multi_input:
            shape = [to_internal_shape(V.sample_shape(s, self.name)) for s in input_shape]
        else:
            shape = to_internal_shape(V.sample_shape(input_shape, self.name))
        return (None,) + to_public_shape(self._output_shape(shape))

    def _output_shape(self, in_shape):
        """Internal per-sample output shape; validates the input shape. Override."""
        return tuple(in_shape)

    # ------------------------------------------------------------ build
    def build(self, input_shape, dtype=None, rng=None):
        """Create the weights for a channels-last ``input_shape`` (batch dim optional)."""
        if self._multi_input:
            shape = [to_internal_shape(V.sample_shape(s, self.name)) for s in input_shape]
        else:
            shape = to_internal_shape(V.sample_shape(input_shape, self.name))
        self._build_internal(shape, dtype=dtype, rng=rng)

    def _build_internal(self, in_shape, dtype=None, rng=None):
        if isinstance(in_shape, list):
            in_shape = [tuple(int(s) for s in shp) for shp in in_shape]
        else:
            in_shape = tuple(int(s) for s in in_shape)
        dt = V.float_dtype(dtype, self.name) or self.dtype or np.dtype(np.float32)
        if self.built:
            if in_shape != self._in:
                raise ValueError(f"layer {self.name!r} was built for input shape "
                                 f"{_fmt_shape(self._in)}, cannot use it on "
                                 f"{_fmt_shape(in_shape)}")
            if dt != self.dtype:
                raise ValueError(f"layer {self.name!r} was built with dtype {self.dtype}, "
                                 f"cannot use it with {dt}")
            return
        out = self._output_shape(in_shape)
        self.dtype = dt
        if rng is None:
            rng = np.random.default_rng()
        self.params, self.buffers, self.grads = {}, {}, {}
        self._create_weights(in_shape, rng)
        self._in, self._out = in_shape, tuple(out)
        self._pending_in = None
        self.built = True

    def _create_weights(self, in_shape, rng):
        """Create ``self.params``/``self.buffers``. Override in layers with weights."""

    def _add_weight(self, name, shape, initializer, rng, fan_in=None, fan_out=None,
                    trainable=True):
        left = getattr(_BUDGET, "left", None)
        if left is not None:
            need = math.prod(int(d) for d in shape)
            if need > left:
                raise ValueError(f"layer {self.name!r}: weight {name!r} of shape "
                                 f"{tuple(shape)} needs {need} values, more than the "
                                 f"file holds for it ({left} left)")
            _BUDGET.left = left - need
        value = initializer(shape, self.dtype, rng, fan_in, fan_out)
        (self.params if trainable else self.buffers)[name] = value
        return value

    def _set_rng(self, rng):
        """Give a stochastic layer its generator (the model does this, seeded)."""
        if self._rng is None or not getattr(self, "_own_seed", False):
            self._rng = rng

    # ------------------------------------------------------------ compute
    def forward(self, x, training=False):
        """``(y, ctx)`` for an internal-layout batch. Override.

        A layer written against the older protocol (it overrides ``call(x, training)`` and
        ``backward(grad_out)`` and keeps its own state) still works: its ``call`` runs here
        and the model calls its ``backward(grad_out)``; such a layer can be used at one place
        of a graph only."""
        if type(self).call is not Layer.call:
            return type(self).call(self, x, training), _LAST_CALL
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    @property
    def _stateful(self):
        """True for a layer written against the older call/backward protocol."""
        return type(self).forward is Layer.forward and type(self).call is not Layer.call

    def _backward(self, grad_out, ctx, input_grad):
        """Gradient w.r.t. the input(s); weight gradients through ``_add_grad``. Override."""
        raise NotImplementedError(f"{type(self).__name__} does not implement backward()")

    def backward(self, grad_out, ctx=_LAST_CALL, input_grad=None):
        """Gradient w.r.t. the input(s) of the forward pass that returned ``ctx`` (default:
        the last ``call``); weight gradients go to ``self.grads``."""
        if ctx is _LAST_CALL:
            ctx = self._ctx
            if ctx is _LAST_CALL:
                raise RuntimeError(f"layer {self.name!r}: backward() needs the context of a "
                                   "forward pass; call(x, training=True) first")
        if input_grad is None:
            input_grad = self._need_input_grad
        return self._backward(grad_out, ctx, bool(input_grad))

    def call(self, x, training=False):
        """Forward pass on an internal-layout batch, keeping the context for ``backward``."""
        y, self._ctx = self.forward(x, training)
        return y

    def _prepared_op(self, x, key, make):
        """The op ``make()`` prepared for ``x`` (geometry checked once, cached under ``key``),
        or None when ``x`` is not an array the kernels take as it is (a C-contiguous NCHW
        batch of the layer's dtype): the public, validating functional op then runs."""
        if not (isinstance(x, np.ndarray) and x.dtype == self.dtype and x.ndim == 4
                and x.flags.c_contiguous):
            return None
        if self._prep is None:
            self._prep = {}
        return prepared_cache(self._prep, key, make)

    def _add_grad(self, name, g):
        if self._accumulate and name in self.grads:
            self.grads[name] += g
        else:
            self.grads[name] = g

    def __call__(self, x, training=False):
        """On symbolic tensors: record a graph node and return its output tensor.
        On arrays: a channels-last convenience, ``layer(x_nhwc)`` -> channels-last output."""
        sym = _symbolic_inputs(x)
        if sym is not None:
            return self._call_symbolic(sym, isinstance(x, (list, tuple)))
        if self._multi_input:
            if not isinstance(x, (list, tuple)):
                raise TypeError(f"layer {self.name!r} takes a list of inputs, got "
                                f"{type(x).__name__}")
            xs = [np.asarray(a) for a in x]
            if not self.built:
                dt = self.dtype or (xs[0].dtype if xs[0].dtype in V.FLOAT_DTYPES
                                    else np.float32)
                self.build([a.shape for a in xs], dtype=dt)
            return to_public(self.call([to_internal(a, self.dtype) for a in xs], training))
        x = np.asarray(x)
        if not self.built:
            dt = self.dtype or (x.dtype if x.dtype in V.FLOAT_DTYPES else np.float32)
            self.build(x.shape, dtype=dt)
        expected = (None,) + to_public_shape(self._in)
        if tuple(x.shape[1:]) != expected[1:]:
            raise ValueError(f"layer {self.name!r} expects input shape {expected}, "
                             f"got {x.shape}")
        return to_public(self.call(to_internal(x, self.dtype), training=training))

    def _call_symbolic(self, tensors, listed):
        if self._multi_input:
            if not listed or len(tensors) < 2:
                raise ValueError(f"layer {self.name!r} ({type(self).__name__}) merges several "
                                 f"inputs: call it on a list of at least 2 tensors, got "
                                 f"{tensors if listed else tensors[0]}")
            in_shape = [t._shape for t in tensors]
        else:
            if len(tensors) != 1:
                raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes one input, "
                                 f"got a list of {len(tensors)} tensors")
            in_shape = tensors[0]._shape
        known = self._in if self.built else self._pending_in
        if known is not None and known != in_shape:
            raise ValueError(f"layer {self.name!r} is used with input shape "
                             f"{_fmt_shape(known)} and again with {_fmt_shape(in_shape)}: a "
                             "layer called at several places shares its weights, so every "
                             "call needs the same input shape")
        try:
            out_shape = self._output_shape(in_shape)
        except ValueError as exc:
            raise ValueError(f"{exc} (layer {self.name!r} called on "
                             f"{', '.join(repr(t) for t in tensors)})") from None
        if not self.built:
            self._pending_in = in_shape
        dtypes = {t.dtype for t in tensors}
        dtype = self.dtype or (dtypes.pop() if len(dtypes) == 1 else np.dtype(np.float64))
        out = KerasTensor(out_shape, dtype)
        Node(self, tensors, out, listed)
        return out

    # ------------------------------------------------------------ weights
    @property
    def weights(self):
        """All weights, trainable first: a dict name -> ndarray (internal layout)."""
        out = dict(self.params)
        out.update(self.buffers)
        return out

    @property
    def trainable_weights(self):
        return list(self.params.values()) if self.trainable else []

    @property
    def non_trainable_weights(self):
        return (list(self.buffers.values()) if self.trainable
                else list(self.params.values()) + list(self.buffers.values()))

    def get_weights(self):
        return [w.copy() for w in self.weights.values()]

    def set_weights(self, weights):
        """Copy values into the existing arrays (shapes must match exactly)."""
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built; build it before set_weights")
        names = list(self.weights)
        weights = list(weights)
        if len(weights) != len(names):
            raise ValueError(f"layer {self.name!r} has {len(names)} weight arrays {names}, "
                             f"got {len(weights)}")
        current = self.weights
        for n, w in zip(names, weights):
            w = np.asarray(w)
            if w.shape != current[n].shape:
                raise ValueError(f"layer {self.name!r}: weight {n!r} has shape "
                                 f"{current[n].shape}, got {w.shape}")
            current[n][...] = w
        self._weights_changed()

    def _weights_changed(self):
        """Weights were overwritten: caches of derived weights must be rebuilt."""
        weights_changed()

    def count_params(self):
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet, so its weights do not "
                             "exist; build it (or give the model an input_shape) first")
        return int(sum(w.size for w in self.weights.values()))

    def param_formula(self):
        """How the parameters are counted, e.g. ``6 x (5x5x1 + 1)`` (a short string)."""
        return ""

    # ------------------------------------------------------------ config
    def get_config(self):
        cfg = {"name": self.name, "trainable": self.trainable}
        if self.dtype is not None:
            cfg["dtype"] = self.dtype.name
        if self._input_shape_arg is not None:
            cfg["input_shape"] = list(self._input_shape_arg)
        return cfg

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "input_shape" in config and config["input_shape"] is not None:
            config["input_shape"] = tuple(config["input_shape"])
        return cls(**config)

    def _clear_cache(self):
        """Drop the context kept by the last ``call``."""
        self._ctx = _LAST_CALL

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}{' built' if self.built else ''}>"


# --------------------------------------------------------------------------- input

class InputLayer(Layer):
    """The layer behind ``Input(shape)``: declares an input (channels-last) and does nothing.

    ``Sequential([layers.Input((28, 28, 1)), ...])`` is the same as passing
    ``input_shape=(28, 28, 1)`` to the first layer."""

    def __init__(self, input_shape=None, shape=None, name=None, **kwargs):
        if shape is not None and input_shape is not None:
            raise TypeError("InputLayer: give shape or input_shape, not both")
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise TypeError("InputLayer: the input shape is required, e.g. shape=(28, 28, 1)")
        super().__init__(name=name, input_shape=shape, **kwargs)
        internal = to_internal_shape(self._input_shape_arg)
        self._in = self._out = internal
        self.built = True
        self.output = KerasTensor(internal, self.dtype or np.dtype(np.float32), None, self.name)

    def forward(self, x, training=False):
        return x, None

    def _backward(self, grad_out, ctx, input_grad):
        return grad_out


# KerasTensor uses __slots__; the input layer is found through this map instead.
_INPUT_OF = {}


def Input(shape, name=None, dtype=None):
    """A symbolic input of a graph model: ``Input(shape=(H, W, C))`` or ``Input((features,))``
    (no batch dimension). Pass it to ``models.Model(inputs, outputs)`` and call layers on it;
    it may also start a ``Sequential`` list."""
    layer = InputLayer(shape=shape, name=name, dtype=dtype)
    _INPUT_OF[id(layer.output)] = layer
    return layer.output


def input_layer_of(tensor):
    """The InputLayer behind a tensor made by ``Input`` (None for other tensors)."""
    layer = _INPUT_OF.get(id(tensor))
    return layer if layer is not None and layer.output is tensor else None


# --------------------------------------------------------------------------- registry

def register(cls):
    """Register a Layer subclass so that models using it can be saved and loaded
    (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register() needs a Layer subclass, got {cls!r}")
    _REGISTRY[cls.__name__] = cls
    return cls


register(InputLayer)


def serialize(layer):
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(config):
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a layer config must be a dict with 'class_name' and 'config', "
                         f"got {config!r}")
    name = config["class_name"]
    if name not in _REGISTRY:
        raise ValueError(f"unknown layer class {name!r}; known: {sorted(_REGISTRY)}")
    cfg = config.get("config", {})
    if not isinstance(cfg, dict):
        raise ValueError(f"the config of a {name} layer must be a dict, got {cfg!r}")
    try:
        return _REGISTRY[name].from_config(cfg)
    except TypeError as exc:
        raise ValueError(f"bad config for a {name} layer: {exc}") from None


def get(identifier):
    """A layer from a layer instance or a ``{'class_name', 'config'}`` dict."""
    if isinstance(identifier, Layer):
        return identifier
    return deserialize(identifier)
