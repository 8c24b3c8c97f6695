"""Regularization layers: Dropout."""
import numpy as np

from .. import _validation as V
from .. import functional as F
from .base import Layer, register

__all__ = ["Dropout"]


@register
class Dropout(Layer):
    """Inverted dropout: in training, zero each unit with probability ``rate`` and scale the
    rest by ``1 / (1 - rate)``; identity at inference."""

    def __init__(self, rate, seed=None, **kwargs):
        if not V.is_number(rate):
            raise TypeError(f"Dropout: rate must be a number in [0, 1), got {rate!r}")
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout: rate must be in [0, 1), got {rate!r}")
        if seed is not None and not V.is_int(seed):
            raise TypeError(f"Dropout: seed must be an int or None, got {seed!r}")
        self.rate = float(rate)
        self.seed = None if seed is None else int(seed)
        super().__init__(**kwargs)
        self._own_seed = seed is not None
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def forward(self, x, training=False):
        if not training or self.rate == 0.0:
            return x, None
        if self._rng is None:
            self._rng = np.random.default_rng()
        return F.dropout(x, self.rate, True, self._rng)

    def _backward(self, grad_out, ctx, input_grad):
        if not input_grad:
            return None
        if ctx is None:
            return grad_out
        return F.dropout_backward(grad_out, ctx, self.rate)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg
