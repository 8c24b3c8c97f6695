"""Optimisers with Keras's update rules and defaults.  Parameters are updated in place.

``opt.apply(params, grads)`` takes two equally long lists of arrays (the same parameter list,
in the same order, at every step; per-parameter state is kept by position).
``opt.apply_gradients(zip(grads, params))`` is the Keras spelling of the same call.

* ``SGD(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None)``::

      v = momentum * v - lr * g
      p += v                      (nesterov: p += momentum * v - lr * g)

* ``Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None)``::

      m += (1 - beta_1) * (g - m);  v += (1 - beta_2) * (g*g - v)
      p -= lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

* ``RMSprop(learning_rate=0.001, rho=0.9, epsilon=1e-7, weight_decay=None)``::

      v = rho * v + (1 - rho) * g*g;  p -= lr * g / (sqrt(v) + epsilon)

``weight_decay`` is decoupled, as in Keras 3 (and AdamW): before each update
``p -= lr * weight_decay * p``, for every trained parameter.
``learning_rate`` may be a float or a callable ``f(iterations) -> float`` (a schedule).
"""
import math

import numpy as np

from . import _optim
from . import _validation as V

from ._registry import Configurable, Registry
from .config import get_num_threads


__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "get", "serialize", "deserialize"]


_number = V.finite_number


class Optimizer(Configurable):
    """Base class: learning rate (float or schedule), decoupled weight decay, the step count
    ``iterations`` and per-parameter state ``slots`` (name -> list of arrays)."""

    _slot_names = ()

    def __init__(self, learning_rate, weight_decay=None):
        owner = type(self).__name__
        if callable(learning_rate):
            self.learning_rate = learning_rate
        else:
            self.learning_rate = _number(learning_rate, "learning_rate", owner, lo=0.0,
                                         lo_open=True)
        self.weight_decay = (None if weight_decay is None else
                             _number(weight_decay, "weight_decay", owner, lo=0.0))
        self.iterations = 0
        self.slots = {name: [] for name in self._slot_names}
        self._scratch = []

    def _lr(self):
        lr = self.learning_rate
        return float(lr(self.iterations)) if callable(lr) else lr

    def _ensure_state(self, params):
        n = len(params)
        first = self._slot_names[0] if self._slot_names else None
        if first is not None and len(self.slots[first]) == n and all(
                s.shape == p.shape and s.dtype == p.dtype
                for s, p in zip(self.slots[first], params)):
            if len(self._scratch) != n:
                self._scratch = [np.empty_like(p) for p in params]
            return
        if first is not None and self.slots[first] and self.iterations:
            raise ValueError(f"{type(self).__name__}: the parameter list changed after "
                             f"{self.iterations} steps (was {len(self.slots[first])} arrays, "
                             f"now {n}); create a new optimizer")
        for name in self._slot_names:
            self.slots[name] = [np.zeros_like(p) for p in params]
        self._scratch = [np.empty_like(p) for p in params]

    def apply(self, params, grads):
        """Update ``params`` (a list of arrays) in place from ``grads``; one step."""
        if len(params) != len(grads):
            raise ValueError(f"{type(self).__name__}: {len(params)} parameters but "
                             f"{len(grads)} gradients")
        self._ensure_state(params)
        lr = self._lr()
        self.iterations += 1
        wd = self.weight_decay
        for i, (p, g) in enumerate(zip(params, grads)):
            if wd:
                p -= (lr * wd) * p
            self._update(i, p, g, lr)

    def apply_gradients(self, grads_and_vars):
        pairs = list(grads_and_vars)
        self.apply([v for _, v in pairs], [g for g, _ in pairs])

    def _update(self, i, p, g, lr):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ state / config
    def get_state(self):
        """A dict of arrays: the iteration count and every slot (for saving)."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for name in self._slot_names:
            for i, a in enumerate(self.slots[name]):
                state[f"{name}/{i}"] = a
        return state

    def set_state(self, state):
        self.iterations = int(state.get("iterations", 0))
        for name in self._slot_names:
            arrays, i = [], 0
            while f"{name}/{i}" in state:
                arrays.append(np.array(state[f"{name}/{i}"]))
                i += 1
            self.slots[name] = arrays
        self._scratch = []

    def get_config(self):
        if callable(self.learning_rate):
            raise TypeError(f"{type(self).__name__}: a learning-rate schedule (callable) "
                            "cannot be serialized")
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay}

    def _repr_config(self):
        try:
            return self.get_config()
        except TypeError:  # a schedule: show it, although it cannot be serialized
            return {"learning_rate": self.learning_rate}


class SGD(Optimizer):
    _slot_names = ("momentum",)

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        self.momentum = _number(momentum, "momentum", "SGD", lo=0.0, hi=1.0)
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got {nesterov!r}")
        self.nesterov = bool(nesterov)

    def _ensure_state(self, params):
        if self.momentum == 0.0:
            self.slots["momentum"] = []
            return
        super()._ensure_state(params)

    def apply(self, params, grads):
        """Update ``params`` in place from ``grads``; one step. Parameters whose gradient
        (and velocity) match them in dtype and shape, all C-contiguous -- a model's, always
        -- are updated by one kernel call, with the same operations per element (the call
        checks them all first and changes nothing otherwise: NumPy's rule then runs)."""
        if self.weight_decay or self.nesterov or len(params) != len(grads):
            return super().apply(params, grads)
        self._ensure_state(params)
        vel = self.slots["momentum"] if self.momentum else None
        if not _optim.sgd(list(params), list(grads), vel, self._lr(), self.momentum,
                          get_num_threads()):
            return super().apply(params, grads)
        self.iterations += 1

    def _update(self, i, p, g, lr):
        if self.momentum == 0.0:
            s = self._scratch_for(i, p)
            np.multiply(g, lr, out=s)
            p -= s
            return
        v = self.slots["momentum"][i]
        s = self._scratch[i]
        v *= self.momentum
        np.multiply(g, lr, out=s)
        v -= s
        if self.nesterov:
            np.multiply(v, self.momentum, out=s)
            p += s
            np.multiply(g, lr, out=s)
            p -= s
        else:
            p += v

    def _scratch_for(self, i, p):
        if len(self._scratch) <= i or self._scratch[i].shape != p.shape \
                or self._scratch[i].dtype != p.dtype:
            while len(self._scratch) <= i:
                self._scratch.append(None)
            self._scratch[i] = np.empty_like(p)
        return self._scratch[i]

    def get_config(self):
        cfg = super().get_config()
        cfg.update(momentum=self.momentum, nesterov=self.nesterov)
        return cfg


class Adam(Optimizer):
    _slot_names = ("m", "v")

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        self.beta_1 = _number(beta_1, "beta_1", "Adam", lo=0.0, hi=1.0, hi_open=True)
        self.beta_2 = _number(beta_2, "beta_2", "Adam", lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _number(epsilon, "epsilon", "Adam", lo=0.0, lo_open=True)

    def apply(self, params, grads):
        t = self.iterations + 1
        self._lr_t_factor = math.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        super().apply(params, grads)

    def _update(self, i, p, g, lr):
        m, v, s = self.slots["m"][i], self.slots["v"][i], self._scratch[i]
        np.subtract(g, m, out=s)
        s *= 1.0 - self.beta_1
        m += s
        np.multiply(g, g, out=s)
        s -= v
        s *= 1.0 - self.beta_2
        v += s
        np.sqrt(v, out=s)
        s += self.epsilon
        np.divide(m, s, out=s)
        s *= lr * self._lr_t_factor
        p -= s

    def get_config(self):
        cfg = super().get_config()
        cfg.update(beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon)
        return cfg


class RMSprop(Optimizer):
    _slot_names = ("velocity",)

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7, weight_decay=None):
        super().__init__(learning_rate, weight_decay)
        self.rho = _number(rho, "rho", "RMSprop", lo=0.0, hi=1.0, hi_open=True)
        self.epsilon = _number(epsilon, "epsilon", "RMSprop", lo=0.0, lo_open=True)

    def _update(self, i, p, g, lr):
        v, s = self.slots["velocity"][i], self._scratch[i]
        v *= self.rho
        np.multiply(g, g, out=s)
        s *= 1.0 - self.rho
        v += s
        np.sqrt(v, out=s)
        s += self.epsilon
        np.divide(g, s, out=s)
        s *= lr
        p -= s

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rho=self.rho, epsilon=self.epsilon)
        return cfg


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}
_BY_CLASS = {c.__name__: c for c in (SGD, Adam, RMSprop)}


_REGISTRY = Registry("optimizer", Optimizer, _BY_NAME, _BY_CLASS)


def get(identifier):
    """An optimiser from a name ('sgd', 'adam', 'rmsprop'; Keras defaults), a config dict, or
    an :class:`Optimizer` (returned as is)."""
    return _REGISTRY.get(identifier)


def serialize(opt):
    return _REGISTRY.serialize(opt)


def deserialize(config):
    return _REGISTRY.deserialize(config)
