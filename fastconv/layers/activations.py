"""Activation layers (ReLU, LeakyReLU, ELU, Softmax, Activation by name, Maxout) and the
activation that Conv2D and Dense apply to their output."""
from .. import _validation as V
from .. import functional as F
from .base import Layer, register

__all__ = ["ACTIVATIONS", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Maxout"]

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "elu", "leaky_relu", "softmax", "relu6",
               "hard_sigmoid", "hard_swish", "silu", "gelu", "softplus")
# Keras's and PyTorch's other names for the same functions
_ALIASES = {"swish": "silu", "hardsigmoid": "hard_sigmoid", "hardswish": "hard_swish"}

# The option used when an activation is given by name (Keras 3 defaults).
_DEFAULT_OPTION = {"elu": 1.0, "leaky_relu": 0.2}
# Activations the convolution kernel can apply in its write-back in training: the output
# alone tells where the pre-activation was positive, so the backward pass needs nothing else.
FUSABLE = ("relu", "leaky_relu")
# ... and at inference, where no backward pass follows (the kernels' codes for them)
INFERENCE_FUSABLE = {"relu": "relu", "leaky_relu": "leaky_relu", "relu6": "relu6",
                     "hard_sigmoid": "hardsigmoid", "hard_swish": "hardswish", "silu": "silu"}
# name -> (functional forward, backward); Keras 3's hard_sigmoid is relu6(x + 3) / 6, the
# same function as PyTorch's hardsigmoid; gelu is the exact (erf) form, as Keras's default
_ELEMENTWISE = {
    "relu": ("relu", "relu_backward"), "sigmoid": ("sigmoid", "sigmoid_backward"),
    "tanh": ("tanh", "tanh_backward"), "relu6": ("relu6", "relu6_backward"),
    "hard_sigmoid": ("hardsigmoid", "hardsigmoid_backward"),
    "hard_swish": ("hardswish", "hardswish_backward"), "silu": ("silu", "silu_backward"),
    "gelu": ("gelu", "gelu_backward"), "softplus": ("softplus", "softplus_backward"),
}


def activation_arg(v, owner):
    """An activation name -> canonical name, None for 'linear'/None."""
    if v is None:
        return None
    if not isinstance(v, str):
        raise TypeError(f"{owner}: activation must be a name such as 'relu' or None, got {v!r}")
    name = v.strip().lower()
    name = _ALIASES.get(name, name)
    if name == "linear":
        return None
    if name not in ACTIVATIONS:
        raise ValueError(f"{owner}: unknown activation {v!r}; known: {list(ACTIVATIONS)}")
    return name


class Act:
    """An activation function on channel axis 1, stateless: ``forward(z) -> (y, ctx)``,
    ``backward(g, ctx)``; ``ctx`` is the pre-activation ((output, pre-activation) for
    softmax)."""

    __slots__ = ("name", "opt")

    def __init__(self, name, opt=None):
        self.name = name
        self.opt = opt if opt is not None else _DEFAULT_OPTION.get(name)

    def forward(self, z):
        name = self.name
        if name is None:
            return z, None
        if name in _ELEMENTWISE:
            return getattr(F, _ELEMENTWISE[name][0])(z), z
        if name == "elu":
            return F.elu(z, self.opt), z
        if name == "leaky_relu":
            return F.leaky_relu(z, self.opt), z
        if name == "softmax":
            y = F.softmax(z, axis=1)
            return y, (y, z)   # z: the logits of a fused softmax + cross-entropy
        raise AssertionError(name)

    def backward(self, g, ctx):
        name, z = self.name, ctx
        if name is None:
            return g
        if name in _ELEMENTWISE:
            return getattr(F, _ELEMENTWISE[name][1])(g, z)
        if name == "elu":
            return F.elu_backward(g, z, self.opt)
        if name == "leaky_relu":
            return F.leaky_relu_backward(g, z, self.opt)
        if name == "softmax":
            y = ctx[0]
            return y * (g - (g * y).sum(axis=1, keepdims=True))
        raise AssertionError(name)


@register
class Activation(Layer):
    """An activation by name: 'relu', 'sigmoid', 'tanh', 'elu', 'leaky_relu', 'softmax',
    'relu6', 'hard_sigmoid', 'hard_swish', 'silu' (or 'swish'), 'gelu', 'softplus', 'linear'.
    Softmax is taken over the channels (images) or features (vectors)."""

    #: None: the activation is an argument; a tuple: a subclass with a fixed activation,
    #: configured by these attributes instead
    _config_args = None
    #: the attribute holding the activation's option (slope, alpha) in such a subclass
    _option = None

    def __init__(self, activation, **kwargs):
        name = activation_arg(activation, "Activation")
        self.activation = "linear" if name is None else name
        super().__init__(**kwargs)
        self._act = Act(name, getattr(self, self._option) if self._option else None)
        self._ends_in_softmax = name == "softmax"

    def forward(self, x, training=False):
        return self._act.forward(x)

    def _backward(self, grad_out, ctx, input_grad):
        return self._act.backward(grad_out, ctx) if input_grad else None

    # fused softmax + cross-entropy: the loss works on the logits, which are our input
    def _logits(self, ctx):
        return ctx[1]

    def _backward_from_logits(self, grad_logits, ctx, input_grad=True):
        return grad_logits

    def get_config(self):
        cfg = super().get_config()
        if self._config_args is None:
            cfg["activation"] = self.activation
        else:
            cfg.update((k, getattr(self, k)) for k in self._config_args)
        return cfg


@register
class ReLU(Activation):
    """max(0, x); ``ReLU(max_value=6)`` is ReLU6 (MobileNet v2's), min(max(0, x), 6)."""

    _config_args = ("max_value",)

    def __init__(self, max_value=None, **kwargs):
        if max_value is not None and (not V.is_number(max_value) or float(max_value) != 6.0):
            raise ValueError(f"ReLU: max_value must be None or 6 (ReLU6), got {max_value!r}")
        self.max_value = None if max_value is None else 6.0
        super().__init__("relu" if max_value is None else "relu6", **kwargs)


@register
class LeakyReLU(Activation):
    """max(negative_slope * x, x); Keras's default slope is 0.3."""

    _config_args = ("negative_slope",)
    _option = "negative_slope"

    def __init__(self, negative_slope=0.3, **kwargs):
        self.negative_slope = V.nonnegative_number(negative_slope, "negative_slope",
                                                   "LeakyReLU")
        super().__init__("leaky_relu", **kwargs)


@register
class ELU(Activation):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    _config_args = ("alpha",)
    _option = "alpha"

    def __init__(self, alpha=1.0, **kwargs):
        self.alpha = V.nonnegative_number(alpha, "alpha", "ELU")
        super().__init__("elu", **kwargs)


@register
class Softmax(Activation):
    """Softmax over the last (channels-last) axis: the classes of a Dense output."""

    _config_args = ("axis",)

    def __init__(self, axis=-1, **kwargs):
        if axis != -1 or isinstance(axis, bool):
            raise ValueError(f"Softmax: only axis=-1 (the channel/feature axis) is supported, "
                             f"got axis={axis!r}")
        self.axis = -1
        super().__init__("softmax", **kwargs)


@register
class Maxout(Layer):
    """Maxout: the max over groups of ``pieces`` consecutive channels (images) or units
    (vectors); the output has ``channels / pieces`` channels."""

    def __init__(self, pieces, **kwargs):
        self.pieces = V.positive_int(pieces, "pieces", "Maxout")
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        c = in_shape[0]
        if c % self.pieces:
            what = "channels" if len(in_shape) == 3 else "units"
            raise ValueError(f"{self.name}: Maxout with pieces={self.pieces} needs a number of "
                             f"{what} divisible by {self.pieces}, got {c}")
        return (c // self.pieces,) + tuple(in_shape[1:])

    def forward(self, x, training=False):
        x4 = x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)
        y = F.maxout(x4, self.pieces)
        return (y if x.ndim == 4 else y.reshape(y.shape[0], y.shape[1])), x4

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        g4 = grad_out if grad_out.ndim == 4 else grad_out.reshape(
            grad_out.shape[0], grad_out.shape[1], 1, 1)
        gx = F.maxout_backward(g4, ctx, self.pieces)
        return gx if grad_out.ndim == 4 else gx.reshape(gx.shape[0], gx.shape[1])

    def get_config(self):
        cfg = super().get_config()
        cfg["pieces"] = self.pieces
        return cfg
