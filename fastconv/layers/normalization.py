"""Normalization layers: BatchNormalization."""
import math

import numpy as np

from .. import _validation as V
from .. import functional as F
from ..functional import normalization as _BN
from ..functional._checks import _FLOATS, same_layout as _same_layout
from .. import initializers
from ..layout import to_public_shape
from .base import Layer, register, weights_changed

__all__ = ["BatchNormalization"]




@register
class BatchNormalization(Layer):
    """Batch normalisation over the channel axis (images) or the feature axis (vectors).

    Keras arguments: ``momentum=0.99`` (weight of the old moving statistics; the functional
    op takes PyTorch's ``1 - momentum``), ``epsilon=1e-3``.  In training the batch statistics
    are used and the moving statistics updated; at inference the moving ones are used.
    A layer with ``trainable=False`` always runs in inference mode (Keras's rule for
    fine-tuning). Weights: ``gamma``, ``beta`` (trainable), ``moving_mean``,
    ``moving_variance``.
    """

    #: the input gradient is a new array, or the output gradient's own when the model's
    #: backward pass says nothing else reads that (``_backward(reuse_grad_out=True)``)
    _fresh_input_grads = True
    _reuses_grad_out = True

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 **kwargs):
        owner = "BatchNormalization"
        if axis not in (-1, 1, 3) or isinstance(axis, bool):
            raise ValueError(f"{owner}: only the channel/feature axis (-1) is supported, "
                             f"got axis={axis!r}")
        self.momentum = V.number_in(momentum, "momentum", owner, 0.0, 1.0)
        if not V.is_number(epsilon):
            raise TypeError(f"{owner}: epsilon must be a number, got {epsilon!r}")
        if not float(epsilon) > 0.0:
            raise ValueError(f"{owner}: epsilon must be > 0, got {epsilon!r}")
        self.center = V.flag(center, "center", owner)
        self.scale = V.flag(scale, "scale", owner)
        self.axis = -1
        self.epsilon = float(epsilon)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        super().__init__(**kwargs)
        self._gamma = self._beta = None
        self._checked_params = None   # _params_checked's arrays and result

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

    def inference_affine(self):
        """``(scale, shift)`` per channel such that inference computes ``x * scale + shift``
        (what a model folds into the preceding convolution)."""
        inv = 1.0 / np.sqrt(self.buffers["moving_variance"].astype(np.float64) + self.epsilon)
        scale = self._gamma * inv
        shift = self._beta - self.buffers["moving_mean"] * scale
        return scale.astype(self.dtype), shift.astype(self.dtype)

    def forward(self, x, training=False, relu=False):
        """``relu=True`` applies a ReLU in the same pass (a model fuses BN -> ReLU this way);
        the context then holds the output, which the backward pass masks with."""
        x4 = x if x.ndim == 4 else x.reshape(x.shape[0], x.shape[1], 1, 1)
        training = bool(training) and self.trainable  # a frozen BN runs in inference mode
        if training:
            weights_changed()   # the moving statistics move
        args = (x4, self._gamma, self._beta, self.buffers["moving_mean"],
                self.buffers["moving_variance"], training, 1.0 - self.momentum, self.epsilon)
        if self._owns_checked(x4, training):
            # the parameters are this layer's own, checked when they were made; in a
            # training step the functional op's checks of them cost more than its Python
            y, mean, invstd = _BN._batch_norm2d_checked(*args, bool(relu), True,
                                                        kernel_update=self._params_checked())
        else:
            y, mean, invstd = F.batch_norm2d(*args, activation="relu" if relu else None,
                                             return_stats=True)
        return (y if x.ndim == 4 else y.reshape(x.shape)), (x4, training, (mean, invstd),
                                                            y if relu else None)

    def _backward(self, grad_out, ctx, input_grad, reuse_grad_out=False):
        """``reuse_grad_out``: the caller is done with ``grad_out`` (no other reference to
        it is read again), so the input gradient may be written over it."""
        x4, training, stats, y = ctx
        g4 = grad_out if grad_out.ndim == 4 else grad_out.reshape(x4.shape)
        if training and self._owns_checked(x4, training) and _same_layout(g4, x4):
            # the ReLU's mask recomputed from x (bitwise y > 0): y is not read again
            gx, gg, gb = _BN._backward("batch_norm2d_backward", g4, x4, self._gamma, *stats,
                                       True, None, None if y is None else self._beta,
                                       out=g4 if reuse_grad_out and input_grad
                                       and g4.flags.writeable else None)
        elif training:
            gx, gg, gb = F.batch_norm2d_backward(
                g4, x4, self._gamma, self.epsilon, stats=stats,
                relu_beta=None if y is None else self._beta)
        else:
            gx, gg, gb = F.batch_norm2d_inference_backward(
                g4, x4, self._gamma, self.buffers["moving_mean"],
                self.buffers["moving_variance"], self.epsilon, y=y)
        if self.scale:
            self._add_grad("gamma", gg)
        if self.center:
            self._add_grad("beta", gb)
        if not input_grad:
            return None
        return gx if grad_out.ndim == 4 else gx.reshape(grad_out.shape)

    def _backward_add_relu(self, grad_out, ctx, y, reuse_grad_out=False):
        """Backward of ``_forward_add_relu``'s step given the gradient of its output ``y``:
        ``(input gradient, the ReLU's masked gradient)`` -- the second is the add's other
        input's -- from one batch-norm backward whose first pass masks and writes it (over
        ``grad_out`` with ``reuse_grad_out``); or None when that does not apply (then the
        caller masks and back-propagates)."""
        x4, training, stats, _ = ctx
        if not (training and self._owns_checked(x4, training) and _same_layout(grad_out, x4)
                and _same_layout(y, x4)):
            return None
        over = grad_out if reuse_grad_out and grad_out.flags.writeable else None
        gx, gg, gb, masked = _BN._backward("batch_norm2d_backward", grad_out, x4, self._gamma,
                                           *stats, True, y, None, True, masked_out=over)
        if self.scale:
            self._add_grad("gamma", gg)
        if self.center:
            self._add_grad("beta", gb)
        return gx, masked

    def _forward_add_relu(self, x, residual):
        """Training: ``(relu(bn(x) + residual), ctx)`` in one pass, ``ctx`` this layer's
        context for ``backward`` of the gradient already masked by the ReLU; or None when
        the pass does not apply (not training mode, or arrays the checks would change)."""
        if not (self.trainable and self._owns_checked(x, True) and _same_layout(residual, x)):
            return None
        weights_changed()   # the moving statistics move
        y, mean, invstd = _BN._batch_norm2d_checked(
            x, self._gamma, self._beta, self.buffers["moving_mean"],
            self.buffers["moving_variance"], True, 1.0 - self.momentum, self.epsilon, True, True,
            residual, self._params_checked())
        return y, (x, True, (mean, invstd), None)

    def _owns_checked(self, x4, training):
        """Whether ``x4`` is what the functional op's checks would pass unchanged (a
        C-contiguous 4-d array of the parameters' dtype and channel count, more than one
        value per channel in training) and this layer's statistics are arrays it can
        update in place."""
        g = self._gamma
        return (type(x4) is np.ndarray and x4.dtype == g.dtype and x4.ndim == 4
                and x4.shape[1] == g.shape[0] and x4.flags.c_contiguous
                and (not training or x4.shape[0] * x4.shape[2] * x4.shape[3] >= 2)
                and math.isfinite(self.epsilon) and self.epsilon > 0
                and self._params_checked() is not None)

    def _params_checked(self):
        """None unless gamma, beta and the moving statistics are arrays the kernels take as
        they are; else whether the statistics are C-contiguous arrays of one dtype (the
        kernels' binding then updates them). Kept until one of the arrays is replaced --
        the checks cost more than the op's Python at every training step."""
        g, b = self._gamma, self._beta
        m, v = self.buffers["moving_mean"], self.buffers["moving_variance"]
        seen = self._checked_params
        if seen is not None and seen[0] is g and seen[1] is b and seen[2] is m and seen[3] is v:
            return seen[4]
        ok = (type(g) is np.ndarray and g.ndim == 1 and type(m) is np.ndarray
              and type(v) is np.ndarray and type(b) is np.ndarray
              and m.dtype in _FLOATS and v.dtype in _FLOATS and m.shape == v.shape == g.shape
              and m.flags.writeable and v.flags.writeable
              and b.dtype == g.dtype and b.shape == g.shape)
        result = (m.dtype == v.dtype and m.flags.c_contiguous and v.flags.c_contiguous
                  if ok else None)
        self._checked_params = (g, b, m, v, result)
        return result

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
