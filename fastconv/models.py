"""Keras-style models: :class:`Sequential`, training (``fit``), and ready-made networks.

Images go in and come out channels-last, ``(N, H, W, C)``, as in Keras.  The model converts
each batch to the engine's NCHW layout once, at its input edge (one copy at most, none for
single-channel float32 images); layers never transpose.  Everything runs in the model's
``dtype`` (float32 by default; float64 for gradient checks).

Determinism: a model created with ``seed=s`` gets the same initial weights, the same dropout
masks and the same shuffling order every time (with the deterministic kernels, the same
training result).  Weights of layer ``i`` come from ``numpy.random.default_rng([s, 0, i])``.

Ctrl-C during :meth:`Sequential.fit` stops training cleanly after the current batch (the
model keeps the weights of the last completed step) and ``fit`` returns the history of the
completed epochs with ``history.interrupted = True``.  A second Ctrl-C stops at once.
"""
import math
import signal
import sys
import threading
import time

import numpy as np

from . import _alloc
from . import layers as _layers
from . import losses as _losses
from . import optimizers as _optimizers
from .layers import Layer, InputLayer, to_internal, to_public, to_internal_shape, to_public_shape
from .progress import ProgressBar, format_values

__all__ = ["Sequential", "Callback", "History", "EarlyStopping", "load_model", "lenet5",
           "cifar_example", "small_cnn", "get_model", "MODELS"]

_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


# --------------------------------------------------------------------------- callbacks

class Callback:
    """Base class of training callbacks (Keras's hooks)."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


class History(Callback):
    """``history.history``: dict metric name -> list of per-epoch values; ``history.epoch``:
    the epoch indices; ``history.interrupted``: True when Ctrl-C ended training early."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.interrupted = False
        self.wall_time = 0.0

    def on_train_begin(self, logs=None):
        self.interrupted = False

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", min_delta=0.0, patience=0, mode="auto"):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"EarlyStopping: mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.min_delta = abs(float(min_delta))
        self.patience = int(patience)
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.best = None
        self.wait = 0
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.stopped_epoch = None, 0, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        better = (self.best is None or
                  (value < self.best - self.min_delta if self.mode == "min"
                   else value > self.best + self.min_delta))
        if better:
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True


# --------------------------------------------------------------------------- helpers

def _positive_int(v, what):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{what} must be a positive integer, got {v!r}")
    if v <= 0:
        raise ValueError(f"{what} must be a positive integer, got {v!r}")
    return int(v)


def _verbose_arg(v):
    if v == "auto":
        return 1
    if isinstance(v, bool) or v not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {v!r}")
    return int(v)


def _as_array(x, what):
    if x is None:
        raise ValueError(f"{what} is required")
    a = np.asarray(x)
    if a.dtype == object:
        raise TypeError(f"{what} must be a numeric array, got an object array")
    if a.dtype.kind not in "fiub":
        raise TypeError(f"{what} must be numeric, got dtype {a.dtype}")
    return a


class _InterruptGuard:
    """Turn the first Ctrl-C (SIGINT) into a flag checked between batches."""

    def __init__(self):
        self.requested = False
        self._previous = None
        self._installed = False

    def _handler(self, signum, frame):
        if self.requested:          # second Ctrl-C: stop now
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                prev = signal.getsignal(signal.SIGINT)
                if prev is signal.default_int_handler:
                    signal.signal(signal.SIGINT, self._handler)
                    self._previous, self._installed = prev, True
            except (ValueError, OSError):  # pragma: no cover - exotic embedding
                pass
        return self

    def __exit__(self, *exc):
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False
        return False


# --------------------------------------------------------------------------- Sequential

class Sequential:
    """A linear stack of layers (Keras's ``Sequential``).

    ``Sequential(layers=None, name=None, seed=None, dtype='float32')``.  The model is built as
    soon as its input shape is known (an ``input_shape=`` on the first layer, an
    :func:`fastconv.layers.Input`, :meth:`build`, or the first batch it sees).
    """

    def __init__(self, layers=None, name=None, seed=None, dtype="float32"):
        if name is None:
            name = _layers._unique_name("sequential")
        elif not isinstance(name, str) or not name:
            raise TypeError(f"Sequential: name must be a non-empty string, got {name!r}")
        self.name = name
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or seed < 0):
            raise ValueError(f"Sequential: seed must be a non-negative int or None, got {seed!r}")
        self.seed = None if seed is None else int(seed)
        self._seed = (self.seed if self.seed is not None
                      else int(np.random.SeedSequence().entropy % (2 ** 63)))
        dt = _layers._dtype_arg(dtype, "Sequential")
        self.dtype = dt if dt is not None else np.dtype(np.float32)
        self.layers = []
        self._input_shape = None      # per-sample, channels-last
        self._fit_rng = np.random.default_rng([self._seed, 2])
        self.optimizer = None
        self.loss = None
        self.metrics_names = []
        self.compiled = False
        self.stop_training = False
        self.history = None
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer)

    # ------------------------------------------------------------ construction
    def add(self, layer):
        """Append a layer (building it at once when the input shape is known)."""
        if isinstance(layer, InputLayer):
            if self.layers or self._input_shape is not None:
                raise ValueError("an Input layer can only come first in a Sequential model")
            self._input_shape = layer._input_shape_arg
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add needs a Layer instance, got {layer!r}")
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
                self._build_layer(len(self.layers) - 1)
            except Exception:
                self.layers.pop()
                if not self.layers and layer._input_shape_arg is not None:
                    self._input_shape = None
                raise

    def pop(self):
        if not self.layers:
            raise TypeError("there are no layers in the model")
        return self.layers.pop()

    def _layer_rngs(self, i):
        return (np.random.default_rng([self._seed, 0, i]),
                np.random.default_rng([self._seed, 1, i]))

    def _build_layer(self, i):
        layer = self.layers[i]
        in_shape = (to_internal_shape(self._input_shape) if i == 0
                    else self.layers[i - 1]._out)
        init_rng, run_rng = self._layer_rngs(i)
        layer._build_internal(in_shape, dtype=self.dtype, rng=init_rng)
        layer._set_rng(run_rng)

    def build(self, input_shape=None):
        """Build every layer for ``input_shape`` (channels-last, batch dimension optional)."""
        if input_shape is not None:
            shape = _layers._strip_batch(input_shape, self.name)
            if self._input_shape is not None and shape != self._input_shape:
                raise ValueError(f"model {self.name!r} expects input shape "
                                 f"{self._input_shape}, got {shape}")
            self._input_shape = shape
        if self._input_shape is None:
            raise ValueError(f"model {self.name!r} has no input shape: pass input_shape= to its "
                             "first layer, add layers.Input(shape), or call build(shape)")
        if not self.layers:
            raise ValueError(f"model {self.name!r} has no layers")
        for i in range(len(self.layers)):
            self._build_layer(i)

    @property
    def built(self):
        return bool(self.layers) and self._input_shape is not None and all(
            l.built for l in self.layers)

    def _ensure_built(self, x_shape=None):
        if self.built:
            return
        if self._input_shape is None and x_shape is not None:
            self.build(tuple(x_shape[1:]))
        else:
            self.build()

    @property
    def input_shape(self):
        if self._input_shape is None:
            raise AttributeError(f"model {self.name!r} has no input shape yet")
        return (None,) + tuple(self._input_shape)

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError(f"model {self.name!r} is not built yet")
        return self.layers[-1].output_shape

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        """Choose the optimiser, the loss and the metrics (only accuracy is available)."""
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. "
                             "losses.SparseCategoricalCrossentropy(from_logits=True)")
        self.optimizer = _optimizers.get(optimizer)
        self.loss = _losses.get(loss)
        _alloc.keep_freed_buffers()  # training reuses the same big buffers every step
        names = []
        if metrics is not None:
            if isinstance(metrics, str):
                metrics = [metrics]
            for m in metrics:
                if not isinstance(m, str) or m.strip().lower() not in _ACCURACY_NAMES:
                    raise ValueError(f"unknown metric {m!r}; available: {list(_ACCURACY_NAMES)}")
                name = m.strip().lower()
                if name not in names:
                    names.append(name)
            if len(names) > 1:
                names = names[:1]
        self._accuracy_name = names[0] if names else None
        self.metrics_names = ["loss"] + names
        self.compiled = True

    def _check_compiled(self):
        if not self.compiled:
            raise RuntimeError(f"model {self.name!r} must be compiled before training or "
                               "evaluating: call model.compile(optimizer, loss, metrics)")

    # ------------------------------------------------------------ edge conversion
    def _n_classes(self):
        out = self.layers[-1]._out
        return out[0] if len(out) == 1 else None

    def _check_x(self, x, what="x"):
        x = _as_array(x, what)
        if self._input_shape is None:
            if x.ndim not in (2, 4):
                raise ValueError(f"{what} must be a batch of images (N, H, W, C) or of vectors "
                                 f"(N, features), got shape {x.shape}")
        self._ensure_built(x.shape)
        expected = tuple(self._input_shape)
        if x.shape[1:] != expected:
            hint = ""
            if x.shape == expected:
                hint = " (a single sample? add a batch axis: x[None])"
            elif x.ndim == len(expected) and x.shape[1:] == expected[:-1]:
                hint = " (add the channel axis: x[..., None])"
            raise ValueError(f"model {self.name!r} expects input of shape (N,) + {expected}, "
                             f"got {x.shape}{hint}")
        return x

    def _prepare_y(self, y, n, what="y"):
        if y is None:
            raise ValueError(f"{what} (the targets) is required")
        y = self.loss.prepare_targets(y, self._n_classes())
        if y.shape[0] != n:
            raise ValueError(f"{n} samples in x but {y.shape[0]} in {what}")
        return y

    # ------------------------------------------------------------ core passes
    def _forward(self, x, training):
        for layer in self.layers:
            x = layer.call(x, training)
        return x

    def _fused(self):
        loss = self.loss
        return (loss.is_crossentropy and not loss.from_logits
                and self.layers[-1]._ends_in_softmax)

    def _loss_value(self, out, y, with_grad):
        """(loss, grad w.r.t. the output of layer `start`, start) for a batch."""
        loss = self.loss
        last = len(self.layers) - 1
        if loss.is_crossentropy and (loss.from_logits or self._fused()):
            if loss.from_logits:
                logits, start = out, last
            else:  # softmax + cross-entropy on probabilities: use the stable logits form
                logits, start = self.layers[-1]._logits(), -1
            value, grad = _losses.crossentropy_from_logits(logits, y, with_grad)
            if with_grad and start == -1:
                grad = self.layers[-1]._backward_from_logits(grad)
                start = last - 1
            return value, grad, start
        value = loss(y, out)
        grad = loss.gradient(y, out) if with_grad else None
        return value, grad, last

    def _correct(self, out, y):
        if out.ndim != 2:
            return 0
        pred = out.argmax(axis=1)
        truth = y if y.ndim == 1 else y.argmax(axis=1)
        return int(np.count_nonzero(pred == truth))

    def _backward(self, grad, start, need_input_grad=False):
        layers = self.layers
        for i in range(start, 0, -1):
            grad = layers[i].backward(grad)
        if start >= 0:
            first = layers[0]
            first._need_input_grad = need_input_grad
            try:
                grad = first.backward(grad)
            finally:
                first._need_input_grad = True
        return grad

    def _apply_gradients(self):
        params, grads = [], []
        for layer in self.layers:
            if layer.trainable and layer.params:
                lg = layer.grads
                for k, p in layer.params.items():
                    params.append(p)
                    grads.append(lg[k])
        if params:
            self.optimizer.apply(params, grads)

    def _train_step(self, x, y):
        """One optimisation step on an internal-layout batch; returns (loss, n_correct)."""
        out = self._forward(x, True)
        value, grad, start = self._loss_value(out, y, True)
        self._backward(grad, start)
        self._apply_gradients()
        return value, (self._correct(out, y) if self._accuracy_name else 0)

    # ------------------------------------------------------------ public training API
    def train_on_batch(self, x, y, return_dict=False):
        """One gradient step on one batch; returns the loss, or [loss, accuracy] when the
        model was compiled with metrics (a dict with ``return_dict=True``)."""
        self._check_compiled()
        x = self._check_x(x)
        y = self._prepare_y(y, x.shape[0])
        value, correct = self._train_step(to_internal(x, self.dtype), y)
        return self._result(value, correct / max(x.shape[0], 1), return_dict)

    def _result(self, loss, acc, return_dict):
        if return_dict:
            d = {"loss": loss}
            if self._accuracy_name:
                d[self._accuracy_name] = acc
            return d
        return [loss, acc] if self._accuracy_name else loss

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose=1, callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            augment=None, stream=None):
        """Train for ``epochs`` epochs of mini-batches; returns a :class:`History`.

        ``augment``: optional callable ``augment(x_batch, rng) -> x_batch`` applied to each
        channels-last training batch (e.g. a :class:`fastconv.augment.Augmenter`), with the
        model's seeded generator.  ``stream``: where the progress bar goes (stdout).
        """
        self._check_compiled()
        verbose = _verbose_arg(verbose)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        for what, v in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ValueError(f"{what} must be a non-negative integer, got {v!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be a callable augment(x_batch, rng), got {augment!r}")
        x = self._check_x(x)
        y = self._prepare_y(y, x.shape[0])
        if isinstance(validation_split, bool) or not isinstance(
                validation_split, (int, float, np.integer, np.floating)) \
                or not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be a number in [0, 1), got "
                             f"{validation_split!r}")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            xv = self._check_x(validation_data[0], "validation x")
            val = (xv, self._prepare_y(validation_data[1], xv.shape[0], "validation y"))
        elif validation_split > 0.0:
            split_at = int(x.shape[0] * (1.0 - float(validation_split)))
            if split_at == x.shape[0] or split_at == 0:
                raise ValueError(f"validation_split={validation_split} of {x.shape[0]} samples "
                                 "leaves an empty training or validation set")
            val = (x[split_at:], y[split_at:])  # the last samples, before shuffling (Keras)
            x, y = x[:split_at], y[:split_at]
        n = x.shape[0]
        if n == 0:
            raise ValueError("cannot fit on an empty data set")
        steps = -(-n // batch_size)
        history = History()
        cbs = list(callbacks or [])
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {cb!r}")
        cbs.append(history)
        params = {"batch_size": batch_size, "epochs": epochs, "steps": steps,
                  "samples": n, "verbose": verbose}
        for cb in cbs:
            cb.set_model(self)
            cb.set_params(params)
        self.stop_training = False
        self.history = history
        out = sys.stdout if stream is None else stream
        rng = self._fit_rng
        acc_name = self._accuracy_name
        interrupted, where = False, None
        t_start = time.perf_counter()
        for cb in cbs:
            cb.on_train_begin()
        guard = _InterruptGuard()
        with guard:
            try:
                for epoch in range(initial_epoch, epochs):
                    for cb in cbs:
                        cb.on_epoch_begin(epoch)
                    if verbose:
                        out.write(f"Epoch {epoch + 1}/{epochs}\n")
                    bar = ProgressBar(steps, verbose=verbose, stream=out)
                    order = rng.permutation(n) if shuffle else None
                    total_loss, total_correct, seen = 0.0, 0, 0
                    step = 0
                    for step in range(steps):
                        if guard.requested:
                            break
                        lo, hi = step * batch_size, min((step + 1) * batch_size, n)
                        if order is not None:
                            idx = order[lo:hi]
                            xb, yb = x[idx], y[idx]
                        else:
                            xb, yb = x[lo:hi], y[lo:hi]
                        if augment is not None:
                            xb = np.asarray(augment(xb, rng))
                        loss, correct = self._train_step(to_internal(xb, self.dtype), yb)
                        m = hi - lo
                        total_loss += loss * m
                        total_correct += correct
                        seen += m
                        logs = {"loss": total_loss / seen}
                        if acc_name:
                            logs[acc_name] = total_correct / seen
                        bar.update(step + 1, logs, seen)
                        for cb in cbs:
                            cb.on_train_batch_end(step, logs)
                    else:
                        step = steps
                    if guard.requested:
                        interrupted, where = True, (epoch, step)
                        bar.finish(self._epoch_logs(total_loss, total_correct, seen),
                                   note=" (interrupted)")
                        break
                    logs = self._epoch_logs(total_loss, total_correct, seen)
                    if val is not None:
                        vl, vc, vn = self._evaluate_internal(val[0], val[1], batch_size)
                        logs["val_loss"] = vl / vn
                        if acc_name:
                            logs["val_" + acc_name] = vc / vn
                    bar.finish(logs)
                    for cb in cbs:
                        cb.on_epoch_end(epoch, logs)
                    if self.stop_training:
                        break
            except KeyboardInterrupt:
                interrupted, where = True, None
        history.wall_time = time.perf_counter() - t_start
        if interrupted:
            history.interrupted = True
            done = len(history.epoch)
            if where is not None:
                detail = (f"after {done} complete epoch{'s' if done != 1 else ''} and "
                          f"{where[1]} batch{'es' if where[1] != 1 else ''} of epoch "
                          f"{where[0] + 1}; the model keeps the weights of the last completed "
                          "batch")
            else:
                detail = (f"after {done} complete epoch{'s' if done != 1 else ''}; the last "
                          "batch may have been cut short")
            out.write(f"\nTraining interrupted (Ctrl-C) {detail}. The history of the completed "
                      "epochs is returned.\n")
            out.flush()
        for cb in cbs:
            cb.on_train_end()
        return history

    def _epoch_logs(self, total_loss, total_correct, seen):
        logs = {"loss": total_loss / seen if seen else float("nan")}
        if self._accuracy_name:
            logs[self._accuracy_name] = total_correct / seen if seen else float("nan")
        return logs

    def _evaluate_internal(self, x, y, batch_size):
        total, correct, n = 0.0, 0, x.shape[0]
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            out = self._forward(to_internal(x[lo:hi], self.dtype), False)
            value, _, _ = self._loss_value(out, y[lo:hi], False)
            total += value * (hi - lo)
            correct += self._correct(out, y[lo:hi])
        self._clear_caches()
        return total, correct, n

    def _clear_caches(self):
        """Drop the activations layers keep for a backward pass (after inference)."""
        for layer in self.layers:
            layer._clear_cache()

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, return_dict=False):
        """Loss (and accuracy) over a data set, in batches; inference mode."""
        self._check_compiled()
        verbose = _verbose_arg(verbose)
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        x = self._check_x(x)
        y = self._prepare_y(y, x.shape[0])
        if x.shape[0] == 0:
            raise ValueError("cannot evaluate on an empty data set")
        t0 = time.perf_counter()
        total, correct, n = self._evaluate_internal(x, y, batch_size)
        result = self._result(total / n, correct / n, True)
        if verbose:
            dt = time.perf_counter() - t0
            print(f"{n}/{n} - {dt:.1f}s {n / max(dt, 1e-9):,.0f} img/s{format_values(result)}")
        if return_dict:
            return result
        return list(result.values()) if self._accuracy_name else result["loss"]

    def predict(self, x, batch_size=None, verbose=0):
        """Model outputs for ``x`` in batches (channels-last if the output is an image)."""
        batch_size = 32 if batch_size is None else _positive_int(batch_size, "batch_size")
        x = self._check_x(x)
        n = x.shape[0]
        out_shape = (n,) + to_public_shape(self.layers[-1]._out)
        result = np.empty(out_shape, dtype=self.dtype)
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            y = self._forward(to_internal(x[lo:hi], self.dtype), False)
            result[lo:hi] = to_public(y) if y.ndim == 4 else y
        self._clear_caches()
        return result

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=max(len(x), 1))

    def __call__(self, x, training=False):
        """Forward pass of one batch (channels-last in and out)."""
        x = self._check_x(x)
        y = self._forward(to_internal(x, self.dtype), bool(training))
        return to_public(y)

    def layer_outputs(self, x, training=False):
        """Every layer's output for ``x``: a list of ``(layer, array)``, arrays channels-last
        (``(N, H, W, C)`` for feature maps, ``(N, features)`` after Flatten/Dense).
        ``x`` is a batch, or a single sample (then N is 1)."""
        x = _as_array(x, "x")
        if self._input_shape is not None and x.shape == tuple(self._input_shape):
            x = x[None]
        x = self._check_x(x)
        h = to_internal(x, self.dtype)
        outs = []
        for layer in self.layers:
            h = layer.call(h, bool(training))
            outs.append((layer, to_public(h) if h.ndim == 4 else h.copy()))
        return outs

    def gradient_wrt_input(self, x, y):
        """d loss / d x for a batch (channels-last), e.g. for saliency maps; inference mode
        (dropout off, batch norm with its moving statistics). Weights are not changed."""
        self._check_compiled()
        x = self._check_x(x)
        y = self._prepare_y(y, x.shape[0])
        out = self._forward(to_internal(x, self.dtype), False)
        _, grad, start = self._loss_value(out, y, True)
        g = self._backward(grad, start, need_input_grad=True)
        return to_public(g) if g.ndim == 4 else g

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
        """Print each layer's output volume (channels-last, as Keras shows it) and parameter
        count, with how the notes count them (a 5x5x3 filter = 75 weights + 1 bias)."""
        self._ensure_built()
        if print_fn is None:
            print_fn = print
        cols = (36, 22, 11)
        rows = [("Layer (type)", "Output Shape", "Param #", "Weights (as the notes count them)")]
        total = trainable = 0
        for l in self.layers:
            p = l.count_params()
            total += p
            trainable += sum(w.size for w in l.trainable_weights)
            rows.append((f"{l.name} ({type(l).__name__})", str(l.output_shape), f"{p:,}",
                         l.param_formula()))
        width = line_length or (sum(cols) + 36)

        def fmt(r):
            return (f" {r[0]:<{cols[0] - 1}}{r[1]:<{cols[1]}}{r[2]:>{cols[2] - 2}}  {r[3]}"
                    ).rstrip()

        print_fn(f'Model: "{self.name}"   input: {self.input_shape}')
        print_fn("_" * width)
        print_fn(fmt(rows[0]))
        print_fn("=" * width)
        for i, r in enumerate(rows[1:]):
            print_fn(fmt(r))
            if i < len(rows) - 2:
                print_fn("_" * width)
        print_fn("=" * width)
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn("_" * width)

    # ------------------------------------------------------------ config / saving
    def get_config(self):
        return {
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
            model._input_shape = _layers._strip_batch(tuple(config["input_shape"]), model.name)
        for lc in config["layers"]:
            model.add(_layers.deserialize(lc))
        return model

    def save(self, path, include_optimizer=True):
        """Save architecture, weights (and optimizer state) to one file, atomically."""
        from . import saving
        saving.save_model(self, path, include_optimizer=include_optimizer)

    def __repr__(self):
        return f"<Sequential name={self.name!r} layers={len(self.layers)}>"


def load_model(path, compile=True):
    """Load a model saved with :meth:`Sequential.save` (see :mod:`fastconv.saving`)."""
    from . import saving
    return saving.load_model(path, compile=compile)


# --------------------------------------------------------------------------- ready-made models

def _image_shape(input_shape, owner):
    shape = _layers._shape_tuple(input_shape, "input_shape", owner)
    if len(shape) != 3 or not all(_layers._is_int(s) and s > 0 for s in shape):
        raise ValueError(f"{owner}: input_shape must be (height, width, channels), got "
                         f"{input_shape!r}")
    return tuple(int(s) for s in shape)


def lenet5(input_shape=(28, 28, 1), classes=10, seed=None, dtype="float32"):
    """LeNet-5: CONV(6, 5x5) -> POOL -> CONV(16, 5x5) -> POOL -> FC 120 -> FC 84 -> FC classes,
    ReLU activations, max pooling, He-uniform weights; the last layer outputs logits
    (compile with ``SparseCategoricalCrossentropy(from_logits=True)``).

    Geometry: inputs of at least 16x16 use the classic 'valid' convolutions (28x28 ->
    24 -> 12 -> 8 -> 4, the benchmark's lenet-c1/lenet-c3 layers).  Smaller inputs, such as
    the bundled 8x8 digits, use 'same' padding in both convolutions, so that only pooling
    shrinks the maps (8x8 -> 8 -> 4 -> 4 -> 2).
    """
    H, W, C = _image_shape(input_shape, "lenet5")
    classes = _positive_int(classes, "lenet5: classes")
    pad = "valid" if min(H, W) >= 16 else "same"
    init = "he_uniform"
    return Sequential([
        _layers.Conv2D(6, (5, 5), padding=pad, activation="relu", kernel_initializer=init,
                       input_shape=(H, W, C)),
        _layers.MaxPooling2D((2, 2)),
        _layers.Conv2D(16, (5, 5), padding=pad, activation="relu", kernel_initializer=init),
        _layers.MaxPooling2D((2, 2)),
        _layers.Flatten(),
        _layers.Dense(120, activation="relu", kernel_initializer=init),
        _layers.Dense(84, activation="relu", kernel_initializer=init),
        _layers.Dense(classes),
    ], name=_layers._unique_name("lenet5"), seed=seed, dtype=dtype)


def cifar_example(input_shape=(32, 32, 3), classes=10, seed=None, dtype="float32"):
    """The notes' example: INPUT[32x32x3] -> CONV(12 filters, 3x3, 'same') -> RELU ->
    POOL(2x2) -> FLATTEN -> FC(10).  Outputs logits."""
    shape = _image_shape(input_shape, "cifar_example")
    classes = _positive_int(classes, "cifar_example: classes")
    return Sequential([
        _layers.Conv2D(12, (3, 3), padding="same", input_shape=shape,
                       kernel_initializer="he_uniform"),
        _layers.ReLU(),
        _layers.MaxPooling2D((2, 2)),
        _layers.Flatten(),
        _layers.Dense(classes),
    ], name=_layers._unique_name("cifar_example"), seed=seed, dtype=dtype)


def small_cnn(input_shape=(8, 8, 1), classes=10, seed=None, dtype="float32"):
    """The main job's default: a small CNN that suits 8x8 digits (and works on any size):
    CONV(32, 3x3 same) -> CONV(32, 3x3 same) -> POOL 2x2 -> DROPOUT 0.25 -> FLATTEN ->
    FC 128 -> DROPOUT 0.25 -> FC classes (logits), ReLU, He-uniform weights."""
    shape = _image_shape(input_shape, "small_cnn")
    classes = _positive_int(classes, "small_cnn: classes")
    init = "he_uniform"
    return Sequential([
        _layers.Conv2D(32, (3, 3), padding="same", activation="relu", kernel_initializer=init,
                       input_shape=shape),
        _layers.Conv2D(32, (3, 3), padding="same", activation="relu", kernel_initializer=init),
        _layers.MaxPooling2D((2, 2)),
        _layers.Dropout(0.25),
        _layers.Flatten(),
        _layers.Dense(128, activation="relu", kernel_initializer=init),
        _layers.Dropout(0.25),
        _layers.Dense(classes),
    ], name=_layers._unique_name("small_cnn"), seed=seed, dtype=dtype)


MODELS = {"small": small_cnn, "lenet5": lenet5, "cifar_example": cifar_example}


def get_model(name, input_shape, classes=10, seed=None, dtype="float32"):
    """A ready-made model by name: 'small', 'lenet5' or 'cifar_example'."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return MODELS[name](input_shape=input_shape, classes=classes, seed=seed, dtype=dtype)
