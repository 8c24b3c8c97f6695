"""``Sequential``: a linear stack of layers, the simplest graph :class:`Model`."""
from .. import _validation as V
from .. import layers as _layers
from ..layers.base import InputLayer, KerasTensor, Layer, input_layer_of
from .model import Model

__all__ = ["Sequential"]


class Sequential(Model):
    """A linear stack of layers (Keras's ``Sequential``).

    ``Sequential(layers=None, name=None, seed=None, dtype='float32')``.  The model is built as
    soon as its input shape is known (an ``input_shape=`` on the first layer, a
    ``layers.Input(shape)`` first in the list, :meth:`build`, or the first batch it sees);
    from then on each added layer is checked against the output of the one before.
    """

    _is_sequential = True

    def __init__(self, layers=None, name=None, seed=None, dtype="float32"):
        self._init_common(name, seed, dtype, "sequential")
        self._input_shape = None      # per-sample, channels-last
        self._input_name = None
        if layers is not None:
            if isinstance(layers, (Layer, KerasTensor)):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # ------------------------------------------------------------ construction
    def add(self, layer):
        """Append a layer (checking its input shape at once when the model's is known)."""
        if isinstance(layer, KerasTensor):
            source = input_layer_of(layer)
            if source is None:
                raise TypeError("Sequential.add takes layers (and layers.Input(shape) first), "
                                f"got the symbolic output {layer!r}")
            layer = source
        if isinstance(layer, InputLayer):
            if self.layers or self._input_shape is not None:
                raise ValueError("an Input layer can only come first in a Sequential model")
            self._input_shape = layer._input_shape_arg
            self._input_name = layer.name
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add needs a Layer instance, got {layer!r}")
        if layer._multi_input:
            raise ValueError(f"layer {layer.name!r} ({type(layer).__name__}) merges several "
                             "inputs and cannot be part of a Sequential model; build a graph "
                             "with models.Model(inputs, outputs)")
        if any(l is layer for l in self.layers):
            raise ValueError(f"layer {layer.name!r} is already in the model")
        if any(l.name == layer.name for l in self.layers):
            raise ValueError(f"the model already has a layer named {layer.name!r}; layer names "
                             "must be unique")
        if not self.layers and self._input_shape is None and layer._input_shape_arg is not None:
            self._input_shape = layer._input_shape_arg
        self.layers.append(layer)
        if self._input_shape is not None:
            try:
                self._link()
            except Exception:
                self.layers.pop()
                if not self.layers and layer._input_shape_arg is not None:
                    self._input_shape = None
                if self.layers:
                    self._link()
                else:
                    self._inputs, self._outputs, self._nodes = [], [], []
                raise

    def pop(self):
        if not self.layers:
            raise TypeError("there are no layers in the model")
        layer = self.layers.pop()
        if self.layers and self._input_shape is not None:
            self._link()
        else:
            self._inputs, self._outputs, self._nodes, self._plan = [], [], [], None
        return layer

    def _link(self):
        """(Re)write the graph input -> layer 0 -> ... -> layer n-1 and build new layers."""
        t = _layers.Input(self._input_shape, name=self._input_name, dtype=self.dtype)
        inputs = [t]
        nodes = []
        for layer in self.layers:
            t = layer._call_symbolic([t], False)
            nodes.append(t.node)
        self._inputs, self._outputs, self._nodes = inputs, [t], nodes
        self._build_layers()

    def build(self, input_shape=None):
        """Build every layer for ``input_shape`` (channels-last, batch dimension optional)."""
        if input_shape is not None:
            shape = V.sample_shape(input_shape, self.name)
            if self._input_shape is not None and shape != self._input_shape:
                raise ValueError(f"model {self.name!r} expects input shape "
                                 f"{self._input_shape}, got {shape}")
            self._input_shape = shape
        if self._input_shape is None:
            raise ValueError(f"model {self.name!r} has no input shape: pass input_shape= to its "
                             "first layer, add layers.Input(shape), or call build(shape)")
        if not self.layers:
            raise ValueError(f"model {self.name!r} has no layers")
        self._link()

    @property
    def built(self):
        # the graph exists only once every layer was built for it (see _link)
        return bool(self._nodes)

    def _ensure_built(self, x_shape=None):
        if self.built:
            return
        if self._input_shape is None and x_shape is not None:
            if len(x_shape) not in (2, 4):
                raise ValueError(f"x must be a batch of images (N, H, W, C) or of vectors "
                                 f"(N, features), got shape {tuple(x_shape)}")
            self.build(tuple(x_shape[1:]))
        else:
            self.build()

    @property
    def input_shape(self):
        if self._input_shape is None:
            raise AttributeError(f"model {self.name!r} has no input shape yet")
        return (None,) + tuple(self._input_shape)

    def _input_shapes_public(self):
        return [self._input_shape]

    # ------------------------------------------------------------ config
    def get_config(self):
        return {
            "class_name": "Sequential",
            "name": self.name,
            "seed": self.seed,
            "dtype": self.dtype.name,
            "input_shape": None if self._input_shape is None else list(self._input_shape),
            "layers": [_layers.serialize(l) for l in self.layers],
        }

    @classmethod
    def from_config(cls, config):
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("a Sequential config must be a dict with a 'layers' list")
        model = cls(name=config.get("name"), seed=config.get("seed"),
                    dtype=config.get("dtype", "float32"))
        if config.get("input_shape") is not None:
            model._input_shape = V.sample_shape(tuple(config["input_shape"]), model.name)
        for lc in config["layers"]:
            model.add(_layers.deserialize(lc))
        return model
