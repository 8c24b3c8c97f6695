"""Losses (Keras names).  A loss is called as ``loss(y_true, y_pred)`` -> float (the mean over
the batch) and ``loss.gradient(y_true, y_pred)`` -> d loss / d y_pred.

* ``SparseCategoricalCrossentropy(from_logits=False)`` -- integer labels ``(N,)`` (or ``(N, 1)``);
* ``CategoricalCrossentropy(from_logits=False)`` -- one-hot (or soft) targets ``(N, K)``;
* ``MeanSquaredError()``.

With ``from_logits=True`` the prediction is raw scores and the loss is the numerically stable
softmax + cross-entropy of :func:`fastconv.functional.cross_entropy`.  With
``from_logits=False`` the prediction is probabilities (clipped to ``[1e-7, 1 - 1e-7]`` as
Keras does).  When a model ends in a softmax and its loss is a cross-entropy on
probabilities, :class:`fastconv.models.Sequential` fuses the two and differentiates the
stable logits form instead.
"""
import numpy as np

from . import _validation as V

from . import functional as F
from ._registry import Configurable, Registry

__all__ = ["Loss", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
           "MeanSquaredError", "get", "serialize", "deserialize"]

_EPS = 1e-7


_flag = V.flag


def crossentropy_from_logits(logits, target, with_grad=True):
    """``(mean softmax cross-entropy, its gradient w.r.t. the logits or None)`` for a batch,
    by the functional ops (the one home of that arithmetic)."""
    value = float(F.cross_entropy(logits, target))
    return value, (F.cross_entropy_backward(logits, target) if with_grad else None)


class Loss(Configurable):
    name = "loss"
    #: True for the cross-entropies, which a final softmax can be fused with
    is_crossentropy = False
    from_logits = False

    def __call__(self, y_true, y_pred):
        raise NotImplementedError

    def gradient(self, y_true, y_pred):
        raise NotImplementedError

    def prepare_targets(self, y, n_classes=None):
        """Validate and convert targets once (the model does this before batching)."""
        return np.asarray(y)


class _Crossentropy(Loss):
    """What the two cross-entropies share: ``from_logits``, the checks of a batch, and the
    logits form (:func:`fastconv.functional.cross_entropy`).  Subclasses give the targets'
    word (``_targets``), ``prepare_targets`` and the probabilities form (``_value_probs``,
    ``_gradient_probs``)."""

    is_crossentropy = True
    _targets = "targets"

    def __init__(self, from_logits=False):
        self.from_logits = _flag(from_logits, "from_logits", type(self).__name__)

    def _check(self, y_true, y_pred):
        if y_pred.ndim != 2:
            raise ValueError(f"{type(self).__name__} needs predictions of shape (N, classes), "
                             f"got {y_pred.shape}")
        y = self.prepare_targets(y_true, y_pred.shape[1])
        if y.shape[0] != y_pred.shape[0]:
            raise ValueError(f"{type(self).__name__}: {y.shape[0]} {self._targets} for "
                             f"{y_pred.shape[0]} predictions")
        return y

    def __call__(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        y = self._check(y_true, y_pred)
        if self.from_logits:
            return float(F.cross_entropy(y_pred, y))
        return self._value_probs(y, y_pred)

    def gradient(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        y = self._check(y_true, y_pred)
        if self.from_logits:
            return F.cross_entropy_backward(y_pred, y)
        return self._gradient_probs(y, y_pred)

    def get_config(self):
        return {"from_logits": self.from_logits}


class SparseCategoricalCrossentropy(_Crossentropy):
    name = "sparse_categorical_crossentropy"
    sparse = True
    _targets = "labels"

    def prepare_targets(self, y, n_classes=None):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"{type(self).__name__} needs integer class labels of shape (N,), "
                             f"got shape {y.shape}; use CategoricalCrossentropy for one-hot "
                             "targets")
        if y.dtype.kind == "f":
            bad = ~np.isfinite(y) | (y != np.round(y))
            if np.any(bad):
                i = int(np.argmax(bad))
                raise ValueError(f"{type(self).__name__}: labels must be whole numbers (class "
                                 f"indices), got {float(y[i])!r} at index {i} (dtype {y.dtype})")
        elif y.dtype.kind not in "iub":
            raise TypeError(f"{type(self).__name__}: labels must be integers, got dtype "
                            f"{y.dtype}")
        y = y.astype(np.int64, copy=False)
        if y.size:
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or (n_classes is not None and hi >= n_classes):
                bad = lo if lo < 0 else hi
                raise ValueError(f"{type(self).__name__}: label {bad} is out of range for "
                                 f"{n_classes} classes (labels must be 0..{n_classes - 1})"
                                 if n_classes is not None else
                                 f"{type(self).__name__}: label {bad} is negative")
        return y

    def _value_probs(self, y, y_pred):
        p = np.clip(y_pred[np.arange(y.shape[0]), y], _EPS, 1 - _EPS)
        return float(-np.log(p).mean())

    def _gradient_probs(self, y, y_pred):
        n = y.shape[0]
        g = np.zeros_like(y_pred)
        rows = np.arange(n)
        p = y_pred[rows, y]
        inside = (p > _EPS) & (p < 1 - _EPS)
        g[rows, y] = np.where(inside, -1.0 / np.where(inside, p, 1.0), 0.0) / n
        return g


class CategoricalCrossentropy(_Crossentropy):
    name = "categorical_crossentropy"
    sparse = False

    def prepare_targets(self, y, n_classes=None):
        y = np.asarray(y)
        if y.ndim != 2:
            raise ValueError(f"{type(self).__name__} needs one-hot targets of shape "
                             f"(N, classes), got shape {y.shape}; use "
                             "SparseCategoricalCrossentropy for integer labels")
        if n_classes is not None and y.shape[1] != n_classes:
            raise ValueError(f"{type(self).__name__}: targets have {y.shape[1]} classes, the "
                             f"model outputs {n_classes}")
        if y.dtype.kind not in "fiub":
            raise TypeError(f"{type(self).__name__}: targets must be numbers, got {y.dtype}")
        return y

    def _check(self, y_true, y_pred):
        return super()._check(y_true, y_pred).astype(y_pred.dtype, copy=False)

    def _value_probs(self, y, y_pred):
        p = np.clip(y_pred, _EPS, 1 - _EPS)
        return float(-(y * np.log(p)).sum() / y_pred.shape[0])

    def _gradient_probs(self, y, y_pred):
        inside = (y_pred > _EPS) & (y_pred < 1 - _EPS)
        safe = np.where(inside, y_pred, 1.0)
        return (np.where(inside, -y / safe, 0.0) / y_pred.shape[0]).astype(y_pred.dtype)


class MeanSquaredError(Loss):
    name = "mean_squared_error"

    def prepare_targets(self, y, n_classes=None):
        y = np.asarray(y)
        if y.dtype.kind not in "fiub":
            raise TypeError(f"MeanSquaredError: targets must be numbers, got {y.dtype}")
        return y

    def _check(self, y_true, y_pred):
        y = np.asarray(y_true)
        if y.shape != y_pred.shape:
            raise ValueError(f"MeanSquaredError: targets of shape {y.shape} for predictions "
                             f"of shape {y_pred.shape}")
        return y.astype(y_pred.dtype, copy=False)

    def __call__(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        d = y_pred - self._check(y_true, y_pred)
        return float((d * d).mean())

    def gradient(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        d = y_pred - self._check(y_true, y_pred)
        return (2.0 / d.size) * d


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
}
_BY_CLASS = {c.__name__: c for c in (SparseCategoricalCrossentropy, CategoricalCrossentropy,
                                     MeanSquaredError)}
_REGISTRY = Registry("loss", Loss, _BY_NAME, _BY_CLASS)


def get(identifier):
    """A loss from a name ('sparse_categorical_crossentropy', ...; Keras's from_logits=False),
    a config dict, or a :class:`Loss` (returned as is)."""
    return _REGISTRY.get(identifier)


def serialize(loss):
    return _REGISTRY.serialize(loss)


def deserialize(config):
    return _REGISTRY.deserialize(config)
