"""Keras-style layers on top of :mod:`fastconv.functional`.

Public shapes are channels-last, as in Keras: a layer built for ``input_shape=(32, 32, 3)``
takes images of height 32, width 32 and 3 channels, and ``layer.output_shape`` is reported as
``(None, 30, 30, 32)``.  Internally every layer computes in the functional layout, NCHW, with
convolution weights ``(filters, in_channels, kh, kw)`` and dense weights ``(units, in)``.
A :class:`fastconv.models.Sequential` converts its input batch from NHWC to NCHW once, at its
input edge; layers never transpose.

The engine interface of a layer (used by the model, and by gradient checks):

* ``build(input_shape)`` -- creates the weights (Keras shape, batch dimension optional);
* ``call(x, training=False)`` -- forward pass on an NCHW (or ``(N, features)``) batch;
  the layer keeps what its backward pass needs;
* ``backward(grad_out)`` -- gradient w.r.t. the input of the last ``call``; gradients w.r.t.
  the weights are stored in ``layer.grads`` (a dict with the same keys as ``layer.params``).

``layer(x)`` (``__call__``) is the user convenience: it takes a channels-last batch, builds the
layer if needed and returns a channels-last result.

Weights: ``layer.params`` (trainable, name -> ndarray), ``layer.buffers`` (non-trainable
state such as batch-norm moving statistics), ``get_weights()``/``set_weights()`` (params then
buffers, in the internal layout), ``count_params()`` (both, as Keras counts them).
"""
import math
import re

import numpy as np

from . import functional as F
from . import initializers

__all__ = [
    "Layer", "InputLayer", "Input", "Conv2D", "Dense", "Flatten", "MaxPooling2D",
    "AveragePooling2D", "MaxPool2D", "AvgPool2D", "Dropout", "BatchNormalization",
    "Activation", "ReLU", "LeakyReLU", "ELU", "Maxout", "Softmax", "get", "serialize",
    "deserialize", "ACTIVATIONS",
]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_NAME_COUNTS = {}


# --------------------------------------------------------------------------- helpers

def _snake(name):
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    return re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s).lower().replace("2_d", "2d")


def _unique_name(prefix):
    n = _NAME_COUNTS.get(prefix, 0)
    _NAME_COUNTS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _positive_int(v, what, owner):
    if not _is_int(v):
        raise TypeError(f"{owner}: {what} must be a positive integer, got {v!r}")
    if v <= 0:
        raise ValueError(f"{owner}: {what} must be a positive integer, got {v!r}")
    return int(v)


def _int_pair(v, what, owner, minimum=1):
    """An int or a pair of ints -> (a, b), each >= minimum."""
    if _is_int(v):
        pair = (int(v), int(v))
    elif isinstance(v, (tuple, list)) and len(v) == 2 and all(_is_int(t) for t in v):
        pair = (int(v[0]), int(v[1]))
    else:
        raise TypeError(f"{owner}: {what} must be an int or a pair of ints, got {v!r}")
    if pair[0] < minimum or pair[1] < minimum:
        raise ValueError(f"{owner}: {what} must be >= {minimum}, got {v!r}")
    return pair


def _flag(v, what, owner):
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{owner}: {what} must be True or False, got {v!r}")
    return bool(v)


def _nonnegative_number(v, what, owner):
    """A finite float >= 0 (LeakyReLU's slope, ELU's alpha)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {what} must be a number, got {v!r}")
    if not (math.isfinite(float(v)) and float(v) >= 0):
        raise ValueError(f"{owner}: {what} must be a finite number >= 0, got {v!r}")
    return float(v)


def _padding_arg(v, owner):
    """'valid' | 'same' | int | (ph, pw) -> 'valid' | 'same' | (ph, pw)."""
    if isinstance(v, str):
        p = v.strip().lower()
        if p not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid', 'same' or explicit ints, "
                             f"got {v!r}")
        return p
    return _int_pair(v, "padding", owner, minimum=0)


def _dtype_arg(dtype, owner):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{owner}: dtype must be float32 or float64, got {dtype!r}") from None
    if dt not in _FLOAT_DTYPES:
        raise ValueError(f"{owner}: dtype must be float32 or float64, got {dtype!r}")
    return dt


def _shape_tuple(shape, what, owner):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{owner}: {what} must be a tuple of ints, got {shape!r}") from None
    return shape


def _strip_batch(shape, owner):
    """A Keras shape with or without the batch dimension -> per-sample shape.

    Per-sample shapes are (features,) or (height, width, channels); a leading None, or a
    length of 2 or 4, marks a batch dimension."""
    shape = _shape_tuple(shape, "input shape", owner)
    if shape and shape[0] is None:
        shape = shape[1:]
    elif len(shape) in (2, 4):
        shape = shape[1:]
    if len(shape) not in (1, 3) or not all(_is_int(s) and s > 0 for s in shape):
        raise ValueError(f"{owner}: input shape must be (features,) or (height, width, "
                         f"channels) of positive ints, got {shape!r}")
    return tuple(int(s) for s in shape)


def to_internal_shape(shape):
    """Per-sample channels-last shape -> internal (NCHW without N) shape."""
    if len(shape) == 3:
        return (shape[2], shape[0], shape[1])
    return tuple(shape)


def to_public_shape(shape):
    """Internal per-sample shape -> channels-last."""
    if len(shape) == 3:
        return (shape[1], shape[2], shape[0])
    return tuple(shape)


def to_internal(x, dtype=None):
    """A channels-last batch (N, H, W, C) -> contiguous NCHW (one copy at most);
    (N, features) batches are only made contiguous/cast."""
    x = np.asarray(x)
    if x.ndim == 4:
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=dtype)


def to_public(y):
    """An NCHW batch -> channels-last (N, H, W, C) (a copy); other ranks unchanged."""
    if y.ndim == 4:
        return np.ascontiguousarray(y.transpose(0, 2, 3, 1))
    return y


# --------------------------------------------------------------------------- activations

ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "elu", "leaky_relu", "softmax")


def _activation_arg(v, owner):
    if v is None:
        return None
    if not isinstance(v, str):
        raise TypeError(f"{owner}: activation must be a name such as 'relu' or None, got {v!r}")
    name = v.strip().lower()
    if name == "linear":
        return None
    if name not in ACTIVATIONS:
        raise ValueError(f"{owner}: unknown activation {v!r}; known: {list(ACTIVATIONS)}")
    return name


class _Act:
    """A fused activation of a Conv2D/Dense/Activation layer (channel axis 1).

    ``forward(z)`` keeps what ``backward`` needs (z, or the output for softmax)."""

    __slots__ = ("name", "opt", "_z", "_y")

    def __init__(self, name, opt=None):
        self.name = name
        self.opt = opt
        self._z = self._y = None

    def forward(self, z):
        name = self.name
        self._z = z
        if name is None:
            return z
        if name == "relu":
            return F.relu(z)
        if name == "sigmoid":
            return F.sigmoid(z)
        if name == "tanh":
            return F.tanh(z)
        if name == "elu":
            return F.elu(z, self.opt)
        if name == "leaky_relu":
            return F.leaky_relu(z, self.opt)
        if name == "softmax":
            y = F.softmax(z, axis=1)
            self._y = y
            return y
        raise AssertionError(name)

    def backward(self, g):
        name, z = self.name, self._z
        if name is None:
            return g
        if name == "relu":
            return F.relu_backward(g, z)
        if name == "sigmoid":
            return F.sigmoid_backward(g, z)
        if name == "tanh":
            return F.tanh_backward(g, z)
        if name == "elu":
            return F.elu_backward(g, z, self.opt)
        if name == "leaky_relu":
            return F.leaky_relu_backward(g, z, self.opt)
        if name == "softmax":
            y = self._y
            return y * (g - (g * y).sum(axis=1, keepdims=True))
        raise AssertionError(name)

    def clear(self):
        self._z = self._y = None


# The option used when an activation is given by name (Keras 3 defaults).
_ACT_DEFAULT_OPT = {"elu": 1.0, "leaky_relu": 0.2}
# activations that the convolution kernel can apply in its write-back
_FUSABLE = ("relu", "leaky_relu")


# --------------------------------------------------------------------------- base class

class Layer:
    """Base class of all layers.  See the module docstring for the protocol."""

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
            name = _unique_name(_snake(owner))
        elif not isinstance(name, str) or not name:
            raise TypeError(f"{owner}: name must be a non-empty string, got {name!r}")
        self.name = name
        if input_shape is not None:
            shape = _shape_tuple(input_shape, "input_shape", owner)
            if len(shape) not in (1, 3) or not all(_is_int(s) and s > 0 for s in shape):
                raise ValueError(f"{owner}: input_shape must be (features,) or (height, width, "
                                 f"channels) of positive ints, got {input_shape!r}")
            input_shape = tuple(int(s) for s in shape)
        self._input_shape_arg = input_shape
        self.trainable = _flag(trainable, "trainable", owner)
        self.dtype = _dtype_arg(dtype, owner)
        self.params = {}
        self.buffers = {}
        self.grads = {}
        self.built = False
        #: False for the first layer of a model: its input gradient is never needed
        self._need_input_grad = True
        self._in = None     # internal per-sample input shape
        self._out = None    # internal per-sample output shape
        self._rng = None    # generator for stochastic layers (dropout)

    # ------------------------------------------------------------ shapes
    @property
    def input_shape(self):
        """Keras-style input shape, ``(None, H, W, C)`` or ``(None, features)``."""
        if self._in is None:
            if self._input_shape_arg is not None:
                return (None,) + self._input_shape_arg
            raise AttributeError(f"layer {self.name!r} is not built, it has no input shape yet")
        return (None,) + to_public_shape(self._in)

    @property
    def output_shape(self):
        """Keras-style output shape, ``(None, H, W, C)`` or ``(None, features)``."""
        if self._out is None:
            raise AttributeError(f"layer {self.name!r} is not built, it has no output shape yet")
        return (None,) + to_public_shape(self._out)

    def compute_output_shape(self, input_shape):
        """Keras-style: the output shape (batch dimension None) for an input shape."""
        shape = to_internal_shape(_strip_batch(input_shape, self.name))
        return (None,) + to_public_shape(self._output_shape(shape))

    def _output_shape(self, in_shape):
        """Internal per-sample output shape; validates the input shape. Override."""
        return tuple(in_shape)

    # ------------------------------------------------------------ build
    def build(self, input_shape, dtype=None, rng=None):
        """Create the weights for a channels-last ``input_shape`` (batch dim optional)."""
        shape = _strip_batch(input_shape, self.name)
        self._build_internal(to_internal_shape(shape), dtype=dtype, rng=rng)

    def _build_internal(self, in_shape, dtype=None, rng=None):
        in_shape = tuple(int(s) for s in in_shape)
        dt = _dtype_arg(dtype, self.name) or self.dtype or np.dtype(np.float32)
        if self.built:
            if in_shape != self._in:
                raise ValueError(f"layer {self.name!r} was built for input shape "
                                 f"{to_public_shape(self._in)}, cannot use it on "
                                 f"{to_public_shape(in_shape)}")
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
        self.built = True

    def _create_weights(self, in_shape, rng):
        """Create ``self.params``/``self.buffers``. Override in layers with weights."""

    def _add_weight(self, name, shape, initializer, rng, fan_in=None, fan_out=None,
                    trainable=True):
        value = initializer(shape, self.dtype, rng, fan_in, fan_out)
        (self.params if trainable else self.buffers)[name] = value
        return value

    def _set_rng(self, rng):
        """Give a stochastic layer its generator (the model does this, seeded)."""
        if self._rng is None or not getattr(self, "_own_seed", False):
            self._rng = rng

    # ------------------------------------------------------------ compute
    def call(self, x, training=False):
        """Forward pass on an internal-layout batch. Override."""
        raise NotImplementedError

    def backward(self, grad_out):
        """Gradient w.r.t. the input of the last ``call``; weight gradients go to
        ``self.grads``. Override."""
        raise NotImplementedError

    def __call__(self, x, training=False):
        """Channels-last convenience: ``layer(x_nhwc)`` -> channels-last output."""
        x = np.asarray(x)
        if not self.built:
            dt = self.dtype or (x.dtype if x.dtype in _FLOAT_DTYPES else np.float32)
            self.build(x.shape, dtype=dt)
        expected = (None,) + to_public_shape(self._in)
        if tuple(x.shape[1:]) != expected[1:]:
            raise ValueError(f"layer {self.name!r} expects input shape {expected}, "
                             f"got {x.shape}")
        return to_public(self.call(to_internal(x, self.dtype), training=training))

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

    def count_params(self):
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet, so its weights do not "
                             "exist; build it (or give the model an input_shape) first")
        return int(sum(w.size for w in self.weights.values()))

    def param_formula(self):
        """How the notes count this layer's parameters (a short string)."""
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
        """Drop references kept for the backward pass."""

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}{' built' if self.built else ''}>"


# --------------------------------------------------------------------------- input

class InputLayer(Layer):
    """Declares the model's input shape (channels-last); does nothing else.

    ``Sequential([layers.Input((28, 28, 1)), ...])`` is the same as passing
    ``input_shape=(28, 28, 1)`` to the first layer."""

    def __init__(self, input_shape=None, shape=None, name=None, **kwargs):
        if shape is not None and input_shape is not None:
            raise TypeError("InputLayer: give shape or input_shape, not both")
        shape = shape if shape is not None else input_shape
        if shape is None:
            raise TypeError("InputLayer: the input shape is required, e.g. shape=(28, 28, 1)")
        super().__init__(name=name, input_shape=shape, **kwargs)

    def call(self, x, training=False):
        return x

    def backward(self, grad_out):
        return grad_out


def Input(shape, name=None, dtype=None):
    """Keras-style ``Input(shape=(H, W, C))`` for :class:`Sequential`."""
    return InputLayer(shape=shape, name=name, dtype=dtype)


# --------------------------------------------------------------------------- kernel layers

class _KernelLayer(Layer):
    """What Conv2D and Dense share: a kernel, an optional bias, an activation applied to
    the output (``_act``, its pre-activation kept for a fused softmax + cross-entropy)."""

    def __init__(self, owner, activation, use_bias, kernel_initializer, bias_initializer,
                 data_format=None, **kwargs):
        self.activation = _activation_arg(activation, owner)
        self.use_bias = _flag(use_bias, "use_bias", owner)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported (the "
                             f"model converts to NCHW internally), got {data_format!r}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        super().__init__(**kwargs)
        self._act = _Act(self.activation, _ACT_DEFAULT_OPT.get(self.activation))
        self._ends_in_softmax = self.activation == "softmax"
        self._x = None

    def _add_kernel_and_bias(self, shape, rng, fan_in, fan_out):
        self._add_weight("kernel", shape, self.kernel_initializer, rng,
                         fan_in=fan_in, fan_out=fan_out)
        if self.use_bias:
            self._add_weight("bias", (shape[0],), self.bias_initializer, rng,
                             fan_in=fan_in, fan_out=fan_out)

    def _store_grads(self, gw, gb):
        self.grads["kernel"] = gw
        if self.use_bias:
            self.grads["bias"] = gb

    def _backward_from_logits(self, grad_logits):
        saved = self._act.name
        self._act.name = None
        try:
            return self.backward(grad_logits)
        finally:
            self._act.name = saved

    def _logits(self):
        return self._act._z

    def _clear_cache(self):
        self._x = None
        self._act.clear()

    def _kernel_config(self):
        return dict(activation=self.activation, use_bias=self.use_bias,
                    kernel_initializer=initializers.serialize(self.kernel_initializer),
                    bias_initializer=initializers.serialize(self.bias_initializer))


# --------------------------------------------------------------------------- convolution

class Conv2D(_KernelLayer):
    """2-D convolution (cross-correlation, as Keras and PyTorch compute it).

    ``filters`` kernels each span the full input depth.  ``padding`` is ``'valid'`` (none),
    ``'same'`` (output size ``ceil(W / S)``, Keras's rule; when the padding needed is odd
    the extra row/column goes at the bottom/right, as in Keras) or explicit ints
    ``p``/``(ph, pw)`` added on both sides.  Output size: ``(W - F + 2P) / S + 1``.
    The kernel is stored as ``(filters, in_channels, kh, kw)``.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 dilation_rate=(1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 data_format=None, **kwargs):
        owner = "Conv2D"
        self.filters = _positive_int(filters, "filters", owner)
        self.kernel_size = _int_pair(kernel_size, "kernel_size", owner)
        self.strides = _int_pair(strides, "strides", owner)
        self.padding = _padding_arg(padding, owner)
        self.dilation_rate = _int_pair(dilation_rate, "dilation_rate", owner)
        super().__init__(owner, activation, use_bias, kernel_initializer, bias_initializer,
                         data_format, **kwargs)
        self._y = None
        self._pad = (0, 0)
        self._extra = (0, 0)
        # relu/leaky_relu with a positive slope can be fused into the kernel (the output's
        # sign tells where the pre-activation was positive)
        self._unfuse = self.activation == "leaky_relu" and not self._act.opt > 0

    def _geometry(self, in_shape):
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: Conv2D needs images (height, width, channels), "
                             f"got input shape {to_public_shape(in_shape)}; "
                             "a Dense output cannot feed a convolution")
        C, H, W = in_shape
        pads, extras, outs = [], [], []
        for size, k, s, d, axis in zip((H, W), self.kernel_size, self.strides,
                                       self.dilation_rate, ("height", "width")):
            eff = d * (k - 1) + 1
            if self.padding == "valid":
                p, extra = 0, 0
            elif self.padding == "same":
                target = -(-size // s)
                total = max((target - 1) * s + eff - size, 0)
                p, extra = total // 2, total - 2 * (total // 2)
            else:
                p = self.padding[0] if axis == "height" else self.padding[1]
                extra = 0
            span = size + 2 * p + extra
            if span < eff:
                raise ValueError(
                    f"{self.name}: no valid output along the {axis}: kernel {k}"
                    f"{f' (dilated to {eff})' if d > 1 else ''} is larger than the padded "
                    f"input {size} + 2*{p} = {size + 2 * p}; output size "
                    f"(W - F + 2P)/S + 1 = ({size} - {eff} + {2 * p})/{s} + 1 < 1")
            pads.append(p)
            extras.append(extra)
            outs.append((span - eff) // s + 1)
        return tuple(pads), tuple(extras), (self.filters, outs[0], outs[1])

    def _output_shape(self, in_shape):
        return self._geometry(in_shape)[2]

    def _create_weights(self, in_shape, rng):
        self._pad, self._extra, _ = self._geometry(in_shape)
        C = in_shape[0]
        kh, kw = self.kernel_size
        self._add_kernel_and_bias((self.filters, C, kh, kw), rng, C * kh * kw,
                                  self.filters * kh * kw)

    def call(self, x, training=False):
        eh, ew = self._extra
        if eh or ew:
            x = np.pad(x, ((0, 0), (0, 0), (0, eh), (0, ew)))
        self._x = x
        act = self._act
        if act.name in _FUSABLE and not self._unfuse:
            # activation applied in the kernel's write-back; backward uses the output
            y = F.conv2d(x, self.params["kernel"], self.params.get("bias"), self.strides,
                         self._pad, self.dilation_rate, activation=act.name,
                         negative_slope=act.opt if act.name == "leaky_relu" else 0.01)
            self._y = y
            return y
        self._y = None
        z = F.conv2d(x, self.params["kernel"], self.params.get("bias"), self.strides,
                     self._pad, self.dilation_rate)
        return act.forward(z)

    def backward(self, grad_out):
        act = self._act
        if self._y is not None:
            if act.name == "relu":
                g = F.relu_backward(grad_out, self._y)
            else:
                g = F.leaky_relu_backward(grad_out, self._y, act.opt)
        else:
            g = act.backward(grad_out)
        need_gx = self._need_input_grad
        gx, gw, gb = F.conv2d_backward(g, self._x, self.params["kernel"], self.strides,
                                       self._pad, self.dilation_rate, input_grad=need_gx)
        self._store_grads(gw, gb)
        eh, ew = self._extra
        if gx is not None and (eh or ew):
            gx = np.ascontiguousarray(gx[:, :, :gx.shape[2] - eh, :gx.shape[3] - ew])
        return gx

    def _clear_cache(self):
        super()._clear_cache()
        self._y = None

    def param_formula(self):
        if not self.built:
            return ""
        kh, kw = self.kernel_size
        C = self._in[0]
        b = " + 1" if self.use_bias else ""
        return f"{self.filters} x ({kh}x{kw}x{C}{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=list(self.kernel_size),
                   strides=list(self.strides),
                   padding=self.padding if isinstance(self.padding, str) else list(self.padding),
                   dilation_rate=list(self.dilation_rate), **self._kernel_config())
        return cfg


# --------------------------------------------------------------------------- dense

class Dense(_KernelLayer):
    """Fully connected layer: ``y = activation(x W^T + b)``, W stored as ``(units, in)``."""

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        owner = "Dense"
        self.units = _positive_int(units, "units", owner)
        super().__init__(owner, activation, use_bias, kernel_initializer, bias_initializer,
                         **kwargs)

    def _output_shape(self, in_shape):
        if len(in_shape) != 1:
            raise ValueError(f"{self.name}: Dense needs a flat input (features,), got input "
                             f"shape {to_public_shape(in_shape)}; add a Flatten layer first")
        return (self.units,)

    def _create_weights(self, in_shape, rng):
        n_in = in_shape[0]
        self._add_kernel_and_bias((self.units, n_in), rng, n_in, self.units)

    def call(self, x, training=False):
        self._x = x
        z = F.linear(x, self.params["kernel"], self.params.get("bias"))
        return self._act.forward(z)

    def backward(self, grad_out):
        g = self._act.backward(grad_out)
        gx, gw, gb = F.linear_backward(g, self._x, self.params["kernel"])
        self._store_grads(gw, gb)
        return gx

    def param_formula(self):
        if not self.built:
            return ""
        b = " + 1" if self.use_bias else ""
        return f"{self.units} x ({self._in[0]}{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, **self._kernel_config())
        return cfg


# --------------------------------------------------------------------------- flatten

class Flatten(Layer):
    """Flatten each sample to a vector.  The internal layout is NCHW, so the vector is
    channel after channel, each channel row after row (the order the notes draw)."""

    def __init__(self, data_format=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        super().__init__(**kwargs)
        self._shape = None

    def _output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)

    def call(self, x, training=False):
        self._shape = x.shape
        return F.flatten(x)

    def backward(self, grad_out):
        return F.flatten_backward(grad_out, self._shape)


# --------------------------------------------------------------------------- pooling

class _Pooling2D(Layer):
    _kind = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", ceil_mode=False,
                 data_format=None, **kwargs):
        owner = type(self).__name__
        self.pool_size = _int_pair(pool_size, "pool_size", owner)
        self.strides = (self.pool_size if strides is None
                        else _int_pair(strides, "strides", owner))
        self.padding = _padding_arg(padding, owner)
        self.ceil_mode = _flag(ceil_mode, "ceil_mode", owner)
        if self.ceil_mode and self.padding == "same":
            raise ValueError(f"{owner}: ceil_mode=True cannot be combined with padding='same'")
        if not isinstance(self.padding, str):
            for p, k in zip(self.padding, self.pool_size):
                if 2 * p > k:
                    raise ValueError(f"{owner}: padding {p} must be at most half the pool "
                                     f"size {k}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        super().__init__(**kwargs)
        self._x = None
        self._pad = (0, 0)
        self._ceil = self.ceil_mode

    @staticmethod
    def _out_size(size, k, s, p, ceil_mode):
        span = size + 2 * p - k
        if span < 0:
            return 0
        o = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (o - 1) * s >= size + p:
            o -= 1  # the last window must start inside the input or the left padding
        return o

    def _geometry(self, in_shape):
        owner = type(self).__name__
        if len(in_shape) != 3:
            raise ValueError(f"{self.name}: {owner} needs images (height, width, channels), "
                             f"got input shape {to_public_shape(in_shape)}")
        C, H, W = in_shape
        if self.padding == "same":
            # Keras: output ceil(W / S), padding split with the extra at the end.  Symmetric
            # padding total//2 plus ceil_mode gives exactly the same windows; padded cells
            # never win a max and are not counted by the average.
            pads, outs, ceils = [], [], []
            for size, k, s in zip((H, W), self.pool_size, self.strides):
                target = -(-size // s)
                total = max((target - 1) * s + k - size, 0)
                p = total // 2
                for c in (False, True):
                    if self._out_size(size, k, s, p, c) == target:
                        break
                else:  # pragma: no cover - cannot happen, see the derivation in the docs
                    raise ValueError(f"{self.name}: cannot express 'same' pooling of {size} "
                                     f"with pool {k} and stride {s}")
                pads.append(p)
                outs.append(target)
                ceils.append(c)
            if ceils[0] != ceils[1]:
                # ceil_mode is shared by both axes: with ceil on, an axis that needed floor
                # gets the same count (floor==ceil there when the padding total is even).
                ceil = True
                for size, k, s, p, o in zip((H, W), self.pool_size, self.strides, pads, outs):
                    if self._out_size(size, k, s, p, True) != o:
                        ceil = None
                if ceil is None:  # pragma: no cover
                    raise ValueError(f"{self.name}: cannot express 'same' pooling of "
                                     f"{H}x{W}")
                ceils = [True, True]
            return tuple(pads), ceils[0], (C, outs[0], outs[1])
        pads = (0, 0) if self.padding == "valid" else self.padding
        outs = []
        for size, k, s, p, axis in zip((H, W), self.pool_size, self.strides, pads,
                                       ("height", "width")):
            o = self._out_size(size, k, s, p, self.ceil_mode)
            if o < 1:
                raise ValueError(
                    f"{self.name}: no valid output along the {axis}: pool size {k} is larger "
                    f"than the padded input {size} + 2*{p} = {size + 2 * p}; output size "
                    f"(W - F + 2P)/S + 1 = ({size} - {k} + {2 * p})/{s} + 1 < 1")
            outs.append(o)
        return tuple(pads), self.ceil_mode, (C, outs[0], outs[1])

    def _output_shape(self, in_shape):
        return self._geometry(in_shape)[2]

    def _create_weights(self, in_shape, rng):
        self._pad, self._ceil, _ = self._geometry(in_shape)

    def _clear_cache(self):
        self._x = None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=list(self.pool_size), strides=list(self.strides),
                   padding=self.padding if isinstance(self.padding, str) else list(self.padding),
                   ceil_mode=self.ceil_mode)
        return cfg


class MaxPooling2D(_Pooling2D):
    """Max pooling over ``pool_size`` windows (default 2x2, stride = pool size).
    With ``ceil_mode=True`` a last partial window still counts (5x5 -> 3x3 for 2x2/2)."""

    def call(self, x, training=False):
        self._x = x
        return F.max_pool2d(x, self.pool_size, self.strides, self._pad, self._ceil)

    def backward(self, grad_out):
        return F.max_pool2d_backward(grad_out, self._x, self.pool_size, self.strides,
                                     self._pad, self._ceil)


class AveragePooling2D(_Pooling2D):
    """Average pooling; padded cells are not counted in the average (Keras's rule)."""

    def call(self, x, training=False):
        self._x = x
        return F.avg_pool2d(x, self.pool_size, self.strides, self._pad, self._ceil, False)

    def backward(self, grad_out):
        return F.avg_pool2d_backward(grad_out, self._x, self.pool_size, self.strides,
                                     self._pad, self._ceil, False)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


# --------------------------------------------------------------------------- dropout

class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the
    rest by ``1 / (1 - rate)``; identity at inference."""

    def __init__(self, rate, seed=None, **kwargs):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)):
            raise TypeError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        if seed is not None and not _is_int(seed):
            raise TypeError(f"Dropout: seed must be an int or None, got {seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        super().__init__(**kwargs)
        self._own_seed = seed is not None
        self._rng = np.random.default_rng(seed) if seed is not None else None
        self._mask = None

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            self._mask = None
            return x
        if self._rng is None:
            self._rng = np.random.default_rng()
        y, self._mask = F.dropout(x, self.rate, True, self._rng)
        return y

    def backward(self, grad_out):
        if self._mask is None:
            return grad_out
        return F.dropout_backward(grad_out, self._mask, self.rate)

    def _clear_cache(self):
        self._mask = None

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


# --------------------------------------------------------------------------- batch norm

class BatchNormalization(Layer):
    """Batch normalisation over the channel axis (images) or the feature axis (vectors).

    Keras arguments: ``momentum=0.99`` (weight of the old moving statistics; the functional
    op takes PyTorch's ``1 - momentum``), ``epsilon=1e-3``.  In training the batch statistics
    are used and the moving statistics updated; at inference the moving ones are used.
    Weights: ``gamma``, ``beta`` (trainable), ``moving_mean``, ``moving_variance``.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        owner = "BatchNormalization"
        if axis not in (-1, 1, 3) or isinstance(axis, bool):
            raise ValueError(f"{owner}: only the channel/feature axis (-1) is supported, "
                             f"got axis={axis!r}")
        for what, v in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise TypeError(f"{owner}: {what} must be a number, got {v!r}")
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"{owner}: momentum must be in [0, 1], got {momentum!r}")
        if not float(epsilon) > 0.0:
            raise ValueError(f"{owner}: epsilon must be > 0, got {epsilon!r}")
        self.center = _flag(center, "center", owner)
        self.scale = _flag(scale, "scale", owner)
        self.axis = -1
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        super().__init__(**kwargs)
        self._x4 = None
        self._training = False
        self._gamma = self._beta = None

    def _output_shape(self, in_shape):
        if len(in_shape) not in (1, 3):
            raise ValueError(f"{self.name}: BatchNormalization needs (features,) or images, "
                             f"got {to_public_shape(in_shape)}")
        return tuple(in_shape)

    def _create_weights(self, in_shape, rng):
        c = in_shape[0]
        if self.scale:
            self._add_weight("gamma", (c,), self.gamma_initializer, rng)
        if self.center:
            self._add_weight("beta", (c,), self.beta_initializer, rng)
        self._add_weight("moving_mean", (c,), self.moving_mean_initializer, rng, trainable=False)
        self._add_weight("moving_variance", (c,), self.moving_variance_initializer, rng,
                         trainable=False)
        self._gamma = self.params["gamma"] if self.scale else np.ones(c, self.dtype)
        self._beta = self.params["beta"] if self.center else np.zeros(c, self.dtype)

    def call(self, x, training=False):
        x4 = x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)
        self._x4 = x4
        training = bool(training) and self.trainable  # a frozen BN runs in inference mode
        self._training = training
        y = F.batch_norm2d(x4, self._gamma, self._beta, self.buffers["moving_mean"],
                           self.buffers["moving_variance"], bool(training),
                           1.0 - self.momentum, self.epsilon)
        return y if x.ndim == 4 else y.reshape(x.shape)

    def backward(self, grad_out):
        g4 = grad_out if grad_out.ndim == 4 else grad_out.reshape(self._x4.shape)
        if self._training:
            gx, gg, gb = F.batch_norm2d_backward(g4, self._x4, self._gamma, self.epsilon)
        else:
            # inference mode: an affine map with the moving statistics
            inv = 1.0 / np.sqrt(self.buffers["moving_variance"] + self.epsilon)
            xhat = (self._x4 - self.buffers["moving_mean"][:, None, None]) * inv[:, None, None]
            gx = g4 * (self._gamma * inv)[:, None, None]
            gg = (g4 * xhat).sum(axis=(0, 2, 3))
            gb = g4.sum(axis=(0, 2, 3))
        if self.scale:
            self.grads["gamma"] = gg
        if self.center:
            self.grads["beta"] = gb
        return gx if grad_out.ndim == 4 else gx.reshape(grad_out.shape)

    def _clear_cache(self):
        self._x4 = None

    def param_formula(self):
        if not self.built:
            return ""
        return f"4 x {self._in[0]} (gamma, beta, moving mean/var)"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(axis=self.axis, momentum=self.momentum, epsilon=self.epsilon,
                   center=self.center, scale=self.scale,
                   beta_initializer=initializers.serialize(self.beta_initializer),
                   gamma_initializer=initializers.serialize(self.gamma_initializer),
                   moving_mean_initializer=initializers.serialize(self.moving_mean_initializer),
                   moving_variance_initializer=initializers.serialize(
                       self.moving_variance_initializer))
        return cfg


# --------------------------------------------------------------------------- activations

class Activation(Layer):
    """An activation by name: 'relu', 'sigmoid', 'tanh', 'elu', 'leaky_relu', 'softmax',
    'linear'.  Softmax is taken over the channels (images) or features (vectors)."""

    def __init__(self, activation, **kwargs):
        name = _activation_arg(activation, "Activation")
        self.activation = "linear" if name is None else name
        super().__init__(**kwargs)
        self._act = _Act(name, self._opt())
        self._ends_in_softmax = name == "softmax"

    def _opt(self):
        """The activation's option: the subclass's own argument, else the default."""
        if self._option is not None:
            return getattr(self, self._option)
        return _ACT_DEFAULT_OPT.get(self.activation)

    def call(self, x, training=False):
        return self._act.forward(x)

    def backward(self, grad_out):
        return self._act.backward(grad_out)

    def _backward_from_logits(self, grad_logits):
        return grad_logits

    def _logits(self):
        return self._act._z

    def _clear_cache(self):
        self._act.clear()

    #: None: the activation is an argument; a tuple: a subclass with a fixed activation,
    #: configured by these attributes instead
    _config_args = None
    #: the attribute holding the activation's option (slope, alpha) in such a subclass
    _option = None

    def get_config(self):
        cfg = super().get_config()
        if self._config_args is None:
            cfg["activation"] = self.activation
        else:
            cfg.update((k, getattr(self, k)) for k in self._config_args)
        return cfg


class ReLU(Activation):
    """max(0, x)."""

    _config_args = ()

    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)


class LeakyReLU(Activation):
    """max(negative_slope * x, x); Keras's default slope is 0.3, the notes use 0.1."""

    _config_args = ("negative_slope",)
    _option = "negative_slope"

    def __init__(self, negative_slope=0.3, **kwargs):
        self.negative_slope = _nonnegative_number(negative_slope, "negative_slope", "LeakyReLU")
        super().__init__("leaky_relu", **kwargs)


class ELU(Activation):
    """x if x > 0 else alpha * (exp(x) - 1)."""

    _config_args = ("alpha",)
    _option = "alpha"

    def __init__(self, alpha=1.0, **kwargs):
        self.alpha = _nonnegative_number(alpha, "alpha", "ELU")
        super().__init__("elu", **kwargs)


class Softmax(Activation):
    """Softmax over the last (channels-last) axis: the classes of a Dense output."""

    _config_args = ("axis",)

    def __init__(self, axis=-1, **kwargs):
        if axis != -1 or isinstance(axis, bool):
            raise ValueError(f"Softmax: only axis=-1 (the channel/feature axis) is supported, "
                             f"got axis={axis!r}")
        self.axis = -1
        super().__init__("softmax", **kwargs)


class Maxout(Layer):
    """Maxout: the max over groups of ``pieces`` consecutive channels (images) or units
    (vectors); the output has ``channels / pieces`` channels."""

    def __init__(self, pieces, **kwargs):
        self.pieces = _positive_int(pieces, "pieces", "Maxout")
        super().__init__(**kwargs)
        self._x = None

    def _output_shape(self, in_shape):
        c = in_shape[0]
        if c % self.pieces:
            what = "channels" if len(in_shape) == 3 else "units"
            raise ValueError(f"{self.name}: Maxout with pieces={self.pieces} needs a number of "
                             f"{what} divisible by {self.pieces}, got {c}")
        return (c // self.pieces,) + tuple(in_shape[1:])

    def call(self, x, training=False):
        x4 = x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)
        self._x = x4
        y = F.maxout(x4, self.pieces)
        return y if x.ndim == 4 else y.reshape(y.shape[0], y.shape[1])

    def backward(self, grad_out):
        g4 = grad_out if grad_out.ndim == 4 else grad_out.reshape(
            grad_out.shape[0], grad_out.shape[1], 1, 1)
        gx = F.maxout_backward(g4, self._x, self.pieces)
        return gx if grad_out.ndim == 4 else gx.reshape(gx.shape[0], gx.shape[1])

    def _clear_cache(self):
        self._x = None

    def get_config(self):
        cfg = super().get_config()
        cfg["pieces"] = self.pieces
        return cfg


# --------------------------------------------------------------------------- registry

_REGISTRY = {cls.__name__: cls for cls in (
    InputLayer, Conv2D, Dense, Flatten, MaxPooling2D, AveragePooling2D, Dropout,
    BatchNormalization, Activation, ReLU, LeakyReLU, ELU, Softmax, Maxout)}


def register(cls):
    """Register a custom Layer subclass so that models using it can be loaded."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register() needs a Layer subclass, got {cls!r}")
    _REGISTRY[cls.__name__] = cls
    return cls


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
    return _REGISTRY[name].from_config(cfg)


def get(identifier):
    """A layer from a layer instance or a ``{'class_name', 'config'}`` dict."""
    if isinstance(identifier, Layer):
        return identifier
    return deserialize(identifier)
