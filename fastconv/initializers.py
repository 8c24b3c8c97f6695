"""Weight initialisers (Keras names and formulas), seeded.

An initialiser is called as ``init(shape, dtype, rng, fan_in, fan_out)`` and returns a new
array.  ``fan_in``/``fan_out`` are passed by the layer because the internal weight layout
(``(K, C, R, S)`` for convolutions, ``(out, in)`` for dense layers) is not Keras's:

* convolution: ``fan_in = C * R * S``, ``fan_out = K * R * S``;
* dense:       ``fan_in = in``,        ``fan_out = out``.

``rng`` is a :class:`numpy.random.Generator`.  If the initialiser was created with its own
``seed``, that seed wins over the generator the model passes in, so a layer with
``kernel_initializer=HeNormal(seed=3)`` always gets the same weights.

Formulas (as in Keras):

* ``GlorotUniform``: U(-l, l), ``l = sqrt(6 / (fan_in + fan_out))``
* ``GlorotNormal``:  truncated normal (cut at 2 sd), ``sd = sqrt(2 / (fan_in + fan_out))``
* ``HeUniform``:     U(-l, l), ``l = sqrt(6 / fan_in)``
* ``HeNormal``:      truncated normal (cut at 2 sd), ``sd = sqrt(2 / fan_in)``
"""
import math

import numpy as np

from ._registry import Configurable, Registry

__all__ = ["Initializer", "Zeros", "Ones", "Constant", "RandomUniform", "RandomNormal",
           "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "get", "serialize"]

# A normal truncated at +-2 sd has sd 0.87962566103423978 of the untruncated one; Keras
# divides by this so that the truncated distribution has the requested variance.
_TRUNC_CORRECTION = 0.87962566103423978


class Initializer(Configurable):
    """Base class.  Subclasses implement ``_sample(shape, rng, fan_in, fan_out)``."""

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be an int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)

    def __call__(self, shape, dtype="float32", rng=None, fan_in=None, fan_out=None):
        shape = tuple(int(s) for s in shape)
        if fan_in is None or fan_out is None:
            fi, fo = _default_fans(shape)
            fan_in = fi if fan_in is None else fan_in
            fan_out = fo if fan_out is None else fan_out
        if self.seed is not None:
            rng = np.random.default_rng(self.seed)
        elif rng is None:
            rng = np.random.default_rng()
        out = self._sample(shape, rng, max(int(fan_in), 1), max(int(fan_out), 1))
        return np.ascontiguousarray(out, dtype=np.dtype(dtype))

    def _sample(self, shape, rng, fan_in, fan_out):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self):
        return {"seed": self.seed}


def _default_fans(shape):
    """Fans for the internal layouts: (out, in) or (K, C, R, S)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _truncated_normal(rng, shape, sd):
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():  # resample the tails, as tf.random.truncated_normal does
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * sd


class Zeros(Initializer):
    def __init__(self):
        super().__init__(None)

    def _sample(self, shape, rng, fan_in, fan_out):
        return np.zeros(shape)

    def get_config(self):
        return {}


class Ones(Zeros):
    def _sample(self, shape, rng, fan_in, fan_out):
        return np.ones(shape)


class Constant(Initializer):
    def __init__(self, value=0.0):
        super().__init__(None)
        self.value = float(value)

    def _sample(self, shape, rng, fan_in, fan_out):
        return np.full(shape, self.value)

    def get_config(self):
        return {"value": self.value}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        if not float(minval) < float(maxval):
            raise ValueError(f"RandomUniform needs minval < maxval, got {minval} and {maxval}")
        self.minval, self.maxval = float(minval), float(maxval)

    def _sample(self, shape, rng, fan_in, fan_out):
        return rng.uniform(self.minval, self.maxval, shape)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        if not float(stddev) >= 0:
            raise ValueError(f"RandomNormal needs stddev >= 0, got {stddev}")
        self.mean, self.stddev = float(mean), float(stddev)

    def _sample(self, shape, rng, fan_in, fan_out):
        return self.mean + self.stddev * rng.standard_normal(shape)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class GlorotUniform(Initializer):
    def _sample(self, shape, rng, fan_in, fan_out):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, shape)


class GlorotNormal(Initializer):
    def _sample(self, shape, rng, fan_in, fan_out):
        sd = math.sqrt(2.0 / (fan_in + fan_out)) / _TRUNC_CORRECTION
        return _truncated_normal(rng, shape, sd)


class HeUniform(Initializer):
    def _sample(self, shape, rng, fan_in, fan_out):
        limit = math.sqrt(6.0 / fan_in)
        return rng.uniform(-limit, limit, shape)


class HeNormal(Initializer):
    def _sample(self, shape, rng, fan_in, fan_out):
        sd = math.sqrt(2.0 / fan_in) / _TRUNC_CORRECTION
        return _truncated_normal(rng, shape, sd)


_BY_NAME = {
    "zeros": Zeros, "ones": Ones, "constant": Constant,
    "random_uniform": RandomUniform, "random_normal": RandomNormal,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal,
    "xavier_uniform": GlorotUniform, "xavier_normal": GlorotNormal,
    "he_uniform": HeUniform, "he_normal": HeNormal,
}
_BY_CLASS = {cls.__name__: cls for cls in (Zeros, Ones, Constant, RandomUniform, RandomNormal,
                                           GlorotUniform, GlorotNormal, HeUniform, HeNormal)}


_REGISTRY = Registry("initializer", Initializer, _BY_NAME, _BY_CLASS)


def get(identifier):
    """An initialiser from a name ('he_normal', 'GlorotUniform', ...), a config dict
    ``{'class_name': ..., 'config': {...}}``, or an :class:`Initializer` (returned as is)."""
    return _REGISTRY.get(identifier)


def serialize(init):
    return _REGISTRY.serialize(init)
