"""Core layers: Dense, Flatten, Reshape, Identity, and what Dense and Conv2D share."""
import numpy as np

from .. import _validation as V
from .. import functional as F
from .. import initializers
from ..layout import to_public_shape, to_internal_shape
from .activations import Act, activation_arg
from .base import Layer, register

__all__ = ["Dense", "Flatten", "Reshape", "Identity"]


class KernelLayer(Layer):
    """What Conv2D and Dense share: a kernel, an optional bias and an activation applied to
    the output. Their ``ctx`` is ``(x, y_fused, act_ctx)``: the input, the output when the
    kernel applied the activation itself (else None) and the activation's context."""

    def __init__(self, owner, activation, use_bias, kernel_initializer, bias_initializer,
                 data_format=None, **kwargs):
        self.activation = activation_arg(activation, owner)
        self.use_bias = V.flag(use_bias, "use_bias", owner)
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{owner}: only data_format='channels_last' is supported (the "
                             f"model converts to NCHW internally), got {data_format!r}")
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        super().__init__(**kwargs)
        self._act = Act(self.activation)
        self._ends_in_softmax = self.activation == "softmax"

    def _add_kernel_and_bias(self, shape, rng, fan_in, fan_out):
        self._add_weight("kernel", shape, self.kernel_initializer, rng,
                         fan_in=fan_in, fan_out=fan_out)
        if self.use_bias:
            self._add_weight("bias", (shape[0],), self.bias_initializer, rng,
                             fan_in=fan_in, fan_out=fan_out)

    def _store_grads(self, gw, gb):
        self._add_grad("kernel", gw)
        if self.use_bias:
            self._add_grad("bias", gb)

    def _logits(self, ctx):
        return ctx[2][1]

    def _backward_from_logits(self, grad_logits, ctx, input_grad=True):
        return self._linear_backward(grad_logits, ctx, input_grad)

    def _backward(self, grad_out, ctx, input_grad):
        return self._linear_backward(self._act.backward(grad_out, ctx[2]), ctx, input_grad)

    def _kernel_config(self):
        return dict(activation=self.activation, use_bias=self.use_bias,
                    kernel_initializer=initializers.serialize(self.kernel_initializer),
                    bias_initializer=initializers.serialize(self.bias_initializer))


@register
class Dense(KernelLayer):
    """Fully connected layer: ``y = activation(x W^T + b)``, W stored as ``(units, in)``."""

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", **kwargs):
        owner = "Dense"
        self.units = V.positive_int(units, "units", owner)
        super().__init__(owner, activation, use_bias, kernel_initializer, bias_initializer,
                         **kwargs)

    def _output_shape(self, in_shape):
        if len(in_shape) != 1:
            raise ValueError(f"{self.name}: Dense needs a flat input (features,), got input "
                             f"shape {to_public_shape(in_shape)}; add a Flatten or a "
                             "GlobalAveragePooling2D layer first")
        return (self.units,)

    def _create_weights(self, in_shape, rng):
        n_in = in_shape[0]
        self._add_kernel_and_bias((self.units, n_in), rng, n_in, self.units)

    def forward(self, x, training=False):
        z = F.linear(x, self.params["kernel"], self.params.get("bias"))
        y, act_ctx = self._act.forward(z)
        return y, (x, None, act_ctx)

    def _linear_backward(self, g, ctx, input_grad):
        gx, gw, gb = F.linear_backward(g, ctx[0], self.params["kernel"])
        self._store_grads(gw, gb)
        return gx if input_grad else None

    def param_formula(self):
        if not self.built:
            return ""
        b = " + 1" if self.use_bias else ""
        return f"{self.units} x ({self._in[0]}{b})"

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, **self._kernel_config())
        return cfg


@register
class Flatten(Layer):
    """Flatten each sample to a vector.  The internal layout is NCHW, so the vector is
    channel after channel, each channel row after row."""

    def __init__(self, data_format=None, **kwargs):
        if data_format not in (None, "channels_last"):
            raise ValueError(f"Flatten: only data_format='channels_last' is supported, "
                             f"got {data_format!r}")
        super().__init__(**kwargs)

    def _output_shape(self, in_shape):
        return (int(np.prod(in_shape)),)

    def forward(self, x, training=False):
        return F.flatten(x), x.shape

    def _backward(self, grad_out, ctx, input_grad):
        return F.flatten_backward(grad_out, ctx) if input_grad else None


@register
class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (channels-last, without the batch axis; one
    entry may be -1). Like Keras, the elements are taken in channels-last order, so a
    ``Reshape`` moves data between layouts only when it changes an image's shape."""

    def __init__(self, target_shape, **kwargs):
        shape = V.shape_tuple(target_shape, "target_shape", "Reshape")
        if not shape or not all(V.is_int(s) and (s > 0 or s == -1) for s in shape) \
                or sum(1 for s in shape if s == -1) > 1:
            raise ValueError(f"Reshape: target_shape must be positive ints with at most one "
                             f"-1, got {target_shape!r}")
        if len(shape) not in (1, 3):
            raise ValueError(f"Reshape: target_shape must be (features,) or (height, width, "
                             f"channels), got {target_shape!r}")
        self.target_shape = tuple(int(s) for s in shape)
        super().__init__(**kwargs)

    def _public_target(self, in_shape):
        n = int(np.prod(in_shape))
        shape = list(self.target_shape)
        if -1 in shape:
            known = int(np.prod([s for s in shape if s != -1]))
            if n % known:
                raise ValueError(f"{self.name}: cannot reshape {to_public_shape(in_shape)} "
                                 f"({n} values) to {self.target_shape}")
            shape[shape.index(-1)] = n // known
        if int(np.prod(shape)) != n:
            raise ValueError(f"{self.name}: cannot reshape {to_public_shape(in_shape)} ({n} "
                             f"values) to {tuple(shape)} ({int(np.prod(shape))} values)")
        return tuple(shape)

    def _output_shape(self, in_shape):
        return to_internal_shape(self._public_target(in_shape))

    def forward(self, x, training=False):
        out = self._output_shape(x.shape[1:])
        n = x.shape[0]
        # Keras reshapes channels-last data: go through that layout when either side is an
        # image; vectors and same-shape reshapes need no copy.
        xp = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
        y = xp.reshape((n,) + to_public_shape(out))
        if y.ndim == 4:
            y = y.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(y), x.shape

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        n = grad_out.shape[0]
        gp = grad_out.transpose(0, 2, 3, 1) if grad_out.ndim == 4 else grad_out
        gx = gp.reshape((n,) + to_public_shape(ctx[1:]))
        if gx.ndim == 4:
            gx = gx.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(gx)

    def get_config(self):
        cfg = super().get_config()
        cfg["target_shape"] = list(self.target_shape)
        return cfg


@register
class Identity(Layer):
    """Returns its input unchanged (a placeholder in a graph)."""

    def forward(self, x, training=False):
        return x, None

    def _backward(self, grad_out, ctx, input_grad):
        return grad_out if input_grad else None
