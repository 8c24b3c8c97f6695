"""``Model``: a directed acyclic graph of layers (Keras's functional API).

::

    inputs = layers.Input((32, 32, 3))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    y = layers.Conv2D(16, 3, padding="same")(x)
    x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    model = models.Model(inputs, layers.Dense(10)(x))

Calling a layer on symbolic tensors records the graph and checks shapes there and then;
``Model(inputs, outputs)`` checks that the outputs are computed from the given inputs,
creates the weights (seeded: layer ``i`` of ``model.layers`` draws from
``numpy.random.default_rng([seed, 0, i])``, its dropout from ``[seed, 1, i]``, shuffling from
``[seed, 2]``) and flattens the graph into an execution plan. :class:`Sequential` is the
linear case of the same class; both share one trainer (:mod:`fastconv.models.training`).

Images go in and come out channels-last, ``(N, H, W, C)``; the model converts each batch to
the engine's NCHW layout once, at its input edge. Everything runs in the model's ``dtype``
(float32 by default; float64 for gradient checks).
"""
import numpy as np

from .. import _alloc
from .. import _validation as V
from ..layers.base import InputLayer, KerasTensor, input_layer_of, unique_name
from ..layout import to_public_shape
from .plan import Plan
from .training import Trainer

__all__ = ["Model"]


def _tensor_list(value, what, owner):
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        raise ValueError(f"{owner}: {what} must not be empty")
    for t in items:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"{owner}: {what} must be symbolic tensors (layers.Input(...) or a "
                            f"layer's output), got {type(t).__name__} {t!r}")
    return items


class Model(Trainer):
    """A graph of layers from ``inputs`` (tensors made by :func:`fastconv.layers.Input`) to
    ``outputs``: ``Model(inputs, outputs, name=None, seed=None, dtype='float32')``.

    Several inputs and outputs are given as lists; ``predict`` then takes and returns lists.
    """

    def __init__(self, inputs=None, outputs=None, name=None, seed=None, dtype="float32"):
        self._init_common(name, seed, dtype, "model")
        if inputs is None or outputs is None:
            if type(self) is Model:
                raise TypeError("Model needs inputs and outputs: Model(inputs, outputs); for a "
                                "stack of layers use models.Sequential")
            return
        self._set_graph(inputs, outputs)

    def _init_common(self, name, seed, dtype, prefix):
        owner = type(self).__name__
        if name is None:
            name = unique_name(prefix)
        elif not isinstance(name, str) or not name:
            raise TypeError(f"{owner}: name must be a non-empty string, got {name!r}")
        self.name = name
        self.seed = V.seed_arg(seed, owner)
        self._seed = (self.seed if self.seed is not None
                      else int(np.random.SeedSequence().entropy % (2 ** 63)))
        dt = V.float_dtype(dtype, owner)
        self.dtype = dt if dt is not None else np.dtype(np.float32)
        self.layers = []
        self._fit_rng = np.random.default_rng([self._seed, 2])
        self.optimizer = None
        self.loss = None
        self.metrics_names = []
        self.compiled = False
        self.stop_training = False
        self.history = None
        self.distribute = None
        self._accuracy_name = None
        self._inputs = []
        self._outputs = []
        self._nodes = []
        self._plan = None

    # ------------------------------------------------------------ the graph
    def _set_graph(self, inputs, outputs):
        owner = f"Model {self.name!r}"
        inputs = _tensor_list(inputs, "inputs", owner)
        outputs = _tensor_list(outputs, "outputs", owner)
        input_ids = {id(t) for t in inputs}
        if len(input_ids) != len(inputs):
            raise ValueError(f"{owner}: an input tensor is listed twice")
        for t in inputs:
            if t.node is not None or input_layer_of(t) is None:
                src = t.node.layer.name if t.node is not None else "?"
                raise ValueError(f"{owner}: inputs must be tensors made by layers.Input(); "
                                 f"{t!r} is the output of layer {src!r}")
        # walk back from the outputs; every source must be one of the inputs
        nodes, state = {}, {}
        used_inputs = set()
        for out in outputs:
            stack = [(out, False)]
            while stack:
                t, done = stack.pop()
                key = id(t)
                if t.node is None:
                    if key not in input_ids:
                        layer = input_layer_of(t)
                        raise ValueError(
                            f"{owner}: output {out!r} depends on the input "
                            f"{layer.name if layer else t!r} {t.shape}, which is not among the "
                            f"model's inputs {[input_layer_of(i).name for i in inputs]}")
                    used_inputs.add(key)
                    continue
                if done:
                    state[key] = 2
                    continue
                if state.get(key) == 2:
                    continue
                if state.get(key) == 1:
                    raise ValueError(f"{owner}: the graph has a cycle through layer "
                                     f"{t.node.layer.name!r}")
                state[key] = 1
                nodes[t.node.id] = t.node
                stack.append((t, True))
                for src in t.node.inputs:
                    stack.append((src, False))
        unused = [input_layer_of(t).name for t in inputs if id(t) not in used_inputs]
        if unused:
            raise ValueError(f"{owner}: input(s) {unused} are not connected to any output")
        ordered = [nodes[k] for k in sorted(nodes)]
        layers, seen, names = [], set(), {}
        for t in inputs:
            layers.append(input_layer_of(t))
        for node in ordered:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                layers.append(node.layer)
        for layer in layers:
            other = names.setdefault(layer.name, layer)
            if other is not layer:
                raise ValueError(f"{owner}: two different layers are named {layer.name!r}; "
                                 "layer names must be unique in a model")
        self._inputs, self._outputs, self._nodes = inputs, outputs, ordered
        self.layers = layers
        self._build_layers()

    def _build_layers(self):
        """Create the weights of layers not built yet, seeded by their index."""
        first_input = {}
        for node in self._nodes:
            if id(node.layer) not in first_input:
                shapes = [t._shape for t in node.inputs]
                first_input[id(node.layer)] = shapes if node.layer._multi_input else shapes[0]
        for i, layer in enumerate(self.layers):
            if isinstance(layer, InputLayer):
                continue
            init_rng, run_rng = self._layer_rngs(i)
            layer._build_internal(first_input[id(layer)], dtype=self.dtype, rng=init_rng)
            layer._set_rng(run_rng)
        self._plan = None

    def _layer_rngs(self, i):
        return (np.random.default_rng([self._seed, 0, i]),
                np.random.default_rng([self._seed, 1, i]))

    def _get_plan(self):
        if self._plan is None:
            self._ensure_built()
            self._plan = Plan(self._inputs, self._outputs, self._nodes)
            # every run allocates the same feature-map buffers: keep freed ones in the heap
            # so the next run reuses them without page faults (see fastconv._alloc)
            _alloc.keep_freed_buffers()
        return self._plan

    def _ensure_built(self, x_shapes=None):
        if not self._nodes:
            raise ValueError(f"model {self.name!r} has no layers")

    @property
    def built(self):
        return bool(self._nodes)

    # ------------------------------------------------------------ shapes
    @property
    def inputs(self):
        return list(self._inputs)

    @property
    def outputs(self):
        return list(self._outputs)

    def _input_shapes_public(self):
        return [to_public_shape(t._shape) for t in self._inputs]

    def _output_shapes(self):
        return [t._shape for t in self._outputs]

    @property
    def input_shape(self):
        shapes = [(None,) + s for s in self._input_shapes_public()]
        if not shapes:
            raise AttributeError(f"model {self.name!r} has no input shape yet")
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError(f"model {self.name!r} is not built yet")
        shapes = [(None,) + to_public_shape(s) for s in self._output_shapes()]
        return shapes[0] if len(shapes) == 1 else shapes

    def _check_x(self, x, what="x"):
        """Channels-last input(s) -> a list of arrays, one per input, shapes checked."""
        if not self.built:
            self._ensure_built(None if isinstance(x, (list, tuple)) else np.shape(x))
        expected = self._input_shapes_public()
        if len(expected) == 1:
            xs = [V.numeric_array(x, what)]
        else:
            if not isinstance(x, (list, tuple)) or len(x) != len(expected):
                raise ValueError(f"model {self.name!r} has {len(expected)} inputs: {what} must "
                                 f"be a list of {len(expected)} arrays")
            xs = [V.numeric_array(a, f"{what}[{i}]") for i, a in enumerate(x)]
        for i, (a, shape) in enumerate(zip(xs, expected)):
            if a.shape[1:] != tuple(shape):
                hint = ""
                if a.shape == tuple(shape):
                    hint = " (a single sample? add a batch axis: x[None])"
                elif a.ndim == len(shape) and a.shape[1:] == tuple(shape)[:-1]:
                    hint = " (add the channel axis: x[..., None])"
                label = "input" if len(xs) == 1 else f"{what}[{i}]"
                raise ValueError(f"model {self.name!r} expects {label} of shape (N,) + "
                                 f"{tuple(shape)}, got {a.shape}{hint}")
        if len(xs) > 1 and len({a.shape[0] for a in xs}) != 1:
            raise ValueError(f"the inputs have different numbers of samples: "
                             f"{[a.shape[0] for a in xs]}")
        return xs

    # ------------------------------------------------------------ weights
    def count_params(self):
        if not self.built:
            raise ValueError(f"model {self.name!r} is not built yet: give the first layer an "
                             "input_shape or call build(input_shape)")
        return int(sum(l.count_params() for l in self.layers))

    @property
    def trainable_weights(self):
        return [w for l in self.layers for w in l.trainable_weights]

    @property
    def non_trainable_weights(self):
        return [w for l in self.layers for w in l.non_trainable_weights]

    def get_weights(self):
        """All weights, layer by layer (each layer's params then buffers), as copies."""
        return [w for l in self.layers for w in l.get_weights()]

    def set_weights(self, weights):
        self._ensure_built()
        weights = list(weights)
        total = sum(len(l.weights) for l in self.layers)
        if len(weights) != total:
            raise ValueError(f"model {self.name!r} has {total} weight arrays, got {len(weights)}")
        i = 0
        for l in self.layers:
            k = len(l.weights)
            l.set_weights(weights[i:i + k])
            i += k

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for l in self.layers:
            if l.name == name:
                return l
        raise ValueError(f"no layer named {name!r}; layers: {[l.name for l in self.layers]}")

    # ------------------------------------------------------------ summary
    def summary(self, print_fn=None, line_length=None):
        """Print each layer's output shape (channels-last, as Keras shows it), parameter
        count, how it is counted (a 5x5x3 filter = 75 weights + 1 bias) and, for a graph,
        the layers each one is connected to."""
        from .summary import print_summary
        self._ensure_built()
        print_summary(self, print_fn or print, line_length)

    # ------------------------------------------------------------ config / saving
    def get_config(self):
        """The architecture as JSON-ready data: layers, and which layer outputs feed which
        (Keras's ``inbound_nodes``)."""
        from .graph_config import graph_config
        return graph_config(self)

    @classmethod
    def from_config(cls, config):
        from .graph_config import model_from_config
        return model_from_config(config)

    def save(self, path, include_optimizer=True):
        """Save architecture, weights (and optimizer state) to one file, atomically."""
        from .saving import save_model
        save_model(self, path, include_optimizer=include_optimizer)

    # ------------------------------------------------------------ generator state
    def random_state(self):
        """The states of the model's random generators (shuffling; each layer's dropout), so
        that a saved and reloaded model resumes training exactly."""
        def state(g):
            st = g.bit_generator.state if isinstance(g, np.random.Generator) else None
            return st if st is not None and st.get("bit_generator") == "PCG64" else None
        return {"fit": state(self._fit_rng), "layers": [state(l._rng) for l in self.layers]}

    def set_random_state(self, state):
        """Restore what :meth:`random_state` returned (entries that are None are skipped).
        Every state is checked before anything changes."""
        fit, gens = self._generators_from(state)
        if fit is not None:
            self._fit_rng = fit
        for layer, g in zip(self.layers, gens):
            if g is not None:
                layer._rng = g

    def check_random_state(self, state):
        """Raise ValueError if ``state`` cannot be restored into this model."""
        self._generators_from(state)

    def _generators_from(self, state):
        def gen(s):
            if s is None:
                return None
            if not isinstance(s, dict) or s.get("bit_generator") != "PCG64":
                raise ValueError(f"a generator state must be a PCG64 state dict, got {s!r}")
            g = np.random.Generator(np.random.PCG64())
            try:
                g.bit_generator.state = s
            except (TypeError, ValueError, KeyError) as exc:
                raise ValueError(f"bad generator state: {exc}") from None
            return g
        if not isinstance(state, dict):
            raise ValueError(f"the random state must be a dict, got {type(state).__name__}")
        layer_states = state.get("layers") or []
        if not isinstance(layer_states, list) or len(layer_states) not in (0, len(self.layers)):
            raise ValueError(f"random state for {len(layer_states)} layers, the model has "
                             f"{len(self.layers)}")
        return gen(state.get("fit")), [gen(s) for s in layer_states]

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r} layers={len(self.layers)}>"

