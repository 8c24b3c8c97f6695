"""The trainer every model shares: compile, fit, evaluate, predict, train_on_batch.

It works on the model's execution plan (:mod:`fastconv.models.plan`) and on lists of
internal-layout arrays, one per model input/output, so a graph with several inputs or
outputs trains exactly like a stack of layers. Several outputs share the compiled loss;
the total loss is the sum over outputs (Keras's rule) and accuracy is that of the first
output.

Ctrl-C during :meth:`Trainer.fit` stops training cleanly after the current batch (the model
keeps the weights of the last completed step) and ``fit`` returns the history of the
completed epochs with ``history.interrupted = True``.  A second Ctrl-C stops at once.
"""
import signal
import sys
import threading
import time

import numpy as np

from .. import _alloc
from .. import _validation as V
from .. import losses as _losses
from .. import optimizers as _optimizers
from ..layers.base import weights_changed
from ..layout import to_internal, to_public, to_public_shape
from ..progress import ProgressBar, format_values
from .callbacks import Callback, History
from .program import takes_public

__all__ = ["Trainer"]

_ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy")


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


def _take(xs, index):
    return [x[index] for x in xs]


class Trainer:
    """Training and inference on top of a model's plan. Mixed into :class:`Model`."""

    # ------------------------------------------------------------ compile
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, distribute=None):
        """Choose the optimiser, the loss and the metrics (only accuracy is available).

        ``distribute``: a data-parallel strategy such as
        :class:`fastconv.distributed.DataParallel` (training over MPI ranks), or None."""
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
            names = names[:1]
        if distribute is not None:
            for attr in ("shard", "grads_ready", "finish_gradients", "reduce_sums", "setup"):
                if not hasattr(distribute, attr):
                    raise TypeError(f"distribute must be a data-parallel strategy such as "
                                    f"fastconv.distributed.DataParallel(), got {distribute!r}")
        self.distribute = distribute
        self._accuracy_name = names[0] if names else None
        self.metrics_names = ["loss"] + names
        self.compiled = True

    def _check_compiled(self):
        if not self.compiled:
            raise RuntimeError(f"model {self.name!r} must be compiled before training or "
                               "evaluating: call model.compile(optimizer, loss, metrics)")

    # ------------------------------------------------------------ data at the edge
    def _prepare_y(self, y, n, what="y"):
        """Targets -> a list with one array per output (checked against the outputs)."""
        if y is None:
            raise ValueError(f"{what} (the targets) is required")
        n_out = len(self._output_shapes())
        if n_out == 1:
            ys = [y]
        else:
            if not isinstance(y, (list, tuple)) or len(y) != n_out:
                raise ValueError(f"model {self.name!r} has {n_out} outputs: {what} must be a "
                                 f"list of {n_out} target arrays")
            ys = list(y)
        out = []
        for shape, yk in zip(self._output_shapes(), ys):
            classes = shape[0] if len(shape) == 1 else None
            yk = self.loss.prepare_targets(yk, classes)
            if len(shape) == 3 and yk.ndim == 4:
                # image targets come channels-last, as the inputs: compare in NCHW
                if yk.shape[1:] != to_public_shape(shape):
                    raise ValueError(f"{what} has images of shape {yk.shape[1:]}, the model "
                                     f"outputs {to_public_shape(shape)}")
                yk = to_internal(yk)
            if yk.shape[0] != n:
                raise ValueError(f"{n} samples in x but {yk.shape[0]} in {what}")
            out.append(yk)
        return out

    def _internal(self, xs):
        return [to_internal(x, self.dtype) for x in xs]

    # ------------------------------------------------------------ core passes
    def _loss_and_grads(self, plan, outs, ctxs, ys, with_grad):
        """(summed loss, {output slot: (gradient, w.r.t. logits)})."""
        loss = self.loss
        total, grads = 0.0, {}
        for slot, out, y in zip(plan.output_slots, outs, ys):
            step = plan.producer(slot)
            fused = (loss.is_crossentropy and not loss.from_logits and step is not None
                     and step.layer._ends_in_softmax)
            if loss.is_crossentropy and (loss.from_logits or fused):
                logits = step.layer._logits(ctxs[step.index]) if fused else out
                value, grad = _losses.crossentropy_from_logits(logits, y, with_grad)
            else:
                value = loss(y, out)
                grad = loss.gradient(y, out) if with_grad else None
            total += float(value)
            if with_grad:
                grads[slot] = (grad, fused)
        return total, grads

    @staticmethod
    def _correct(out, y):
        if out.ndim != 2:
            return 0
        pred = out.argmax(axis=1)
        truth = y if y.ndim == 1 else y.argmax(axis=1)
        return int(np.count_nonzero(pred == truth))

    def _trainable_pairs(self):
        params, grads = [], []
        for layer in self.layers:
            if layer.trainable and layer.params:
                lg = layer.grads
                for k, p in layer.params.items():
                    g = lg.get(k)
                    params.append(p)
                    grads.append(g if g is not None else np.zeros_like(p))
        return params, grads

    def _apply_gradients(self):
        params, grads = self._trainable_pairs()
        if params:
            self.optimizer.apply(params, grads)
            weights_changed()

    def _layer_done_hook(self):
        dist = self.distribute
        if dist is None:
            return None

        def done(layer):
            if layer.trainable and layer.params:
                dist.grads_ready([layer.grads[k] for k in layer.params])
        return done

    def _train_step(self, xs, ys, global_n=None):
        """One optimisation step on internal-layout batches; returns (loss, n_correct)."""
        plan = self._get_plan()
        dist = self.distribute
        n = xs[0].shape[0]
        if dist is not None:
            dist.begin_step(n, n if global_n is None else global_n)
        if n == 0:   # a data-parallel rank with no sample in a tiny last batch
            hook = self._layer_done_hook()
            for layer in sorted(plan.layers, key=lambda l: -plan._first_step[id(l)]):
                layer.grads = {k: np.zeros_like(p) for k, p in layer.params.items()}
                if hook is not None:
                    hook(layer)
            value, correct = 0.0, 0
        else:
            outs, ctxs = plan.forward(xs, True, keep_ctx=True)
            value, grads = self._loss_and_grads(plan, outs, ctxs, ys, True)
            plan.backward(ctxs, grads, on_layer_done=self._layer_done_hook())
            correct = self._correct(outs[0], ys[0]) if self._accuracy_name else 0
        if dist is not None:
            dist.finish_gradients()
        self._apply_gradients()
        return value, correct

    def _forward(self, xs, training=False):
        if not training:
            return self._get_plan().infer(xs)
        outs, _ = self._get_plan().forward(xs, training)
        return outs

    def _infer_same_batch(self, x):
        """predict's (and an inference call's) result for the array ``x`` when it is one
        batch of the shape and dtype the compiled program last ran (so the input checks
        have passed for it), else None: at batch 1 the checks cost as much as a layer."""
        plan = self._plan
        if plan is None:
            return None
        outs = plan._programs.run_same_public(x)
        if outs is None:
            return None
        outs = [to_public(y) for y in outs]
        return outs[0] if len(outs) == 1 else outs

    def _infer_public(self, xs):
        """Inference outputs (internal layout) for checked channels-last inputs ``xs``: one
        contiguous image batch of the model's dtype goes to the compiled program as it is
        (its layout change is the program's first op), anything else through to_internal."""
        if takes_public(xs, self.dtype):
            return self._get_plan().infer(xs, public=True)
        return self._forward(self._internal(xs), False)

    # ------------------------------------------------------------ public training API
    def train_on_batch(self, x, y, return_dict=False):
        """One gradient step on one batch; returns the loss, or [loss, accuracy] when the
        model was compiled with metrics (a dict with ``return_dict=True``)."""
        self._check_compiled()
        xs = self._check_x(x)
        ys = self._prepare_y(y, xs[0].shape[0])
        value, correct = self._train_step(self._internal(xs), ys)
        return self._result(value, correct / max(xs[0].shape[0], 1), return_dict)

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

        ``x``: an array (one input) or a list of arrays (one per input), channels-last.
        ``augment``: optional callable ``augment(x_batch, rng) -> x_batch`` applied to each
        channels-last training batch of a single-input model (e.g. a
        :class:`fastconv.augment.Augmenter`), with the model's seeded generator.
        ``stream``: where the progress bar goes (stdout).
        """
        self._check_compiled()
        verbose = V.verbose_arg(verbose)
        batch_size = 32 if batch_size is None else V.positive_int(batch_size, "batch_size")
        for what, v in (("epochs", epochs), ("initial_epoch", initial_epoch)):
            if not V.is_int(v) or v < 0:
                raise ValueError(f"{what} must be a non-negative integer, got {v!r}")
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be a callable augment(x_batch, rng), got {augment!r}")
        xs = self._check_x(x)
        if augment is not None and len(xs) != 1:
            raise ValueError("augment works on models with one input")
        ys = self._prepare_y(y, xs[0].shape[0])
        if not V.is_number(validation_split) or not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be a number in [0, 1), got "
                             f"{validation_split!r}")
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            xv = self._check_x(validation_data[0], "validation x")
            val = (xv, self._prepare_y(validation_data[1], xv[0].shape[0], "validation y"))
        elif validation_split > 0.0:
            split_at = int(xs[0].shape[0] * (1.0 - float(validation_split)))
            if split_at == xs[0].shape[0] or split_at == 0:
                raise ValueError(f"validation_split={validation_split} of {xs[0].shape[0]} "
                                 "samples leaves an empty training or validation set")
            # the last samples, before shuffling (Keras)
            val = (_take(xs, slice(split_at, None)), _take(ys, slice(split_at, None)))
            xs, ys = _take(xs, slice(None, split_at)), _take(ys, slice(None, split_at))
        n = xs[0].shape[0]
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
        dist = self.distribute
        if dist is not None:
            self._get_plan()
            self.optimizer._ensure_state(self._trainable_pairs()[0])
            slots = self.optimizer.get_state()
            dist.setup([w for l in self.layers for w in l.params.values()],
                       [w for l in self.layers for w in l.buffers.values()],
                       [slots[k] for k in sorted(slots) if k != "iterations"])
            dist.install_abort_handler()
            if dist.size > 1:
                # dropout masks differ per rank, deterministically
                for i, layer in enumerate(self.layers):
                    if layer._rng is not None and not getattr(layer, "_own_seed", False):
                        layer._rng = np.random.default_rng([self._seed, 1, i, dist.seed_offset])
            if not dist.is_main:
                verbose = 0
        out = sys.stdout if stream is None else stream
        rng = self._fit_rng
        # augmentation draws per local batch: each rank gets its own generator, so that the
        # shared shuffling generator stays in step on every rank
        aug_rng = rng if dist is None or dist.size == 1 else np.random.default_rng(
            [self._seed, 3, dist.seed_offset])
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
                        glo, ghi = lo, hi
                        if dist is not None:
                            lo, hi = dist.shard(lo, hi)
                        idx = order[lo:hi] if order is not None else slice(lo, hi)
                        xb, yb = _take(xs, idx), _take(ys, idx)
                        if augment is not None:
                            xb = [np.asarray(augment(xb[0], aug_rng))]
                        loss, correct = self._train_step(self._internal(xb), yb, ghi - glo)
                        m = hi - lo
                        if dist is not None:
                            loss, correct, m = dist.reduce_sums(
                                np.array([loss * m, correct, m], dtype=np.float64))
                            loss, correct, m = loss / max(m, 1), int(round(correct)), int(m)
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

    def _evaluate_internal(self, xs, ys, batch_size):
        """(summed loss * n, correct, n) over a data set; split over ranks when training
        data-parallel (each rank takes a contiguous part, the sums are combined)."""
        plan = self._get_plan()
        n = xs[0].shape[0]
        lo_all, hi_all = 0, n
        dist = self.distribute
        if dist is not None:
            lo_all, hi_all = dist.shard(0, n)
        total, correct = 0.0, 0
        for lo in range(lo_all, hi_all, batch_size):
            hi = min(lo + batch_size, hi_all)
            sl = slice(lo, hi)
            outs, ctxs = plan.forward(self._internal(_take(xs, sl)), False)
            value, _ = self._loss_and_grads(plan, outs, ctxs, _take(ys, sl), False)
            total += value * (hi - lo)
            correct += self._correct(outs[0], ys[0][sl])
        if dist is not None:
            total, correct, _ = dist.reduce_sums(
                np.array([total, correct, hi_all - lo_all], dtype=np.float64))
            correct = int(round(correct))
        return total, correct, n

    def evaluate(self, x=None, y=None, batch_size=None, verbose=0, return_dict=False):
        """Loss (and accuracy) over a data set, in batches; inference mode."""
        self._check_compiled()
        verbose = V.verbose_arg(verbose)
        batch_size = 32 if batch_size is None else V.positive_int(batch_size, "batch_size")
        xs = self._check_x(x)
        ys = self._prepare_y(y, xs[0].shape[0])
        if xs[0].shape[0] == 0:
            raise ValueError("cannot evaluate on an empty data set")
        t0 = time.perf_counter()
        total, correct, n = self._evaluate_internal(xs, ys, batch_size)
        result = self._result(total / n, correct / n, True)
        if verbose and (self.distribute is None or self.distribute.is_main):
            dt = time.perf_counter() - t0
            print(f"{n}/{n} - {dt:.1f}s {n / max(dt, 1e-9):,.0f} img/s{format_values(result)}")
        if return_dict:
            return result
        return list(result.values()) if self._accuracy_name else result["loss"]

    def predict(self, x, batch_size=None, verbose=0):
        """Model outputs for ``x`` in batches (channels-last if an output is an image);
        a list of arrays for a model with several outputs."""
        if batch_size is None:
            batch_size = 32
        elif type(batch_size) is not int or batch_size <= 0:
            batch_size = V.positive_int(batch_size, "batch_size")
        if type(x) is np.ndarray and x.ndim and 0 < x.shape[0] <= batch_size:
            outs = self._infer_same_batch(x)
            if outs is not None:
                return outs
        xs = self._check_x(x)
        n = xs[0].shape[0]
        if 0 < n <= batch_size:      # one batch: the plan's outputs are the result
            outs = [to_public(y) for y in self._infer_public(xs)]
            return outs[0] if len(outs) == 1 else outs
        shapes = self._output_shapes()
        results = [np.empty((n,) + to_public_shape(s), dtype=self.dtype) for s in shapes]
        for lo in range(0, n, batch_size):
            hi = min(lo + batch_size, n)
            outs = self._infer_public(_take(xs, slice(lo, hi)))
            for r, y in zip(results, outs):
                r[lo:hi] = to_public(y) if y.ndim == 4 else y
        return results[0] if len(results) == 1 else results

    def profile(self, x, repeats=20, verbose=1):
        """Where an inference on the batch ``x`` spends its time: a list of
        ``(layers, milliseconds)``, one entry per op of the compiled inference program (a
        fused chain such as convolution + batch norm + ReLU + pooling is one entry, named
        after its layers), the minimum over ``repeats`` runs; with ``verbose`` also printed
        as a table, slowest first."""
        repeats = V.positive_int(repeats, "repeats")
        xs = self._internal(self._check_x(x))
        timings = self._get_plan()._programs.profile(xs, repeats)
        if timings is None:
            raise ValueError(f"model {self.name!r}: no step runs in the compiled inference "
                             f"program for inputs of this dtype/shape")
        result = [(label, seconds * 1e3) for label, seconds in timings]
        if verbose:
            total = sum(ms for _, ms in result) or 1.0
            width = max(len(label) for label, _ in result)
            print(f"{'layers':<{width}}  {'ms':>9}  {'share':>6}")
            for label, ms in sorted(result, key=lambda r: -r[1]):
                print(f"{label:<{width}}  {ms:9.3f}  {100 * ms / total:5.1f}%")
            print(f"{'total':<{width}}  {total:9.3f}")
        return result

    def predict_on_batch(self, x):
        xs = self._check_x(x)
        return self.predict(x, batch_size=max(xs[0].shape[0], 1))

    def __call__(self, x, training=False):
        """Forward pass of one batch (channels-last in and out)."""
        if not training and type(x) is np.ndarray and x.ndim and x.shape[0]:
            outs = self._infer_same_batch(x)
            if outs is not None:
                return outs
        xs = self._check_x(x)
        if training:
            outs = self._forward(self._internal(xs), True)
        else:
            outs = self._infer_public(xs) if xs[0].shape[0] else self._forward(
                self._internal(xs), False)
        outs = [to_public(y) for y in outs]
        return outs[0] if len(outs) == 1 else outs

    def layer_outputs(self, x, training=False):
        """Every layer call's output for ``x``: a list of ``(layer, array)`` in execution
        order, arrays channels-last (``(N, H, W, C)`` for feature maps, ``(N, features)``
        after Flatten/Dense). ``x`` is a batch, or a single sample (then N is 1)."""
        if not isinstance(x, (list, tuple)):
            x = V.numeric_array(x, "x")
            shapes = self._input_shapes_public()
            if len(shapes) == 1 and shapes[0] is not None and x.shape == tuple(shapes[0]):
                x = x[None]
        xs = self._check_x(x)
        outs = []

        def record(step, y):
            outs.append((step.layer, to_public(y) if y.ndim == 4 else y.copy()))
        self._get_plan().forward(self._internal(xs), bool(training), record=record)
        return outs

    def gradient_wrt_input(self, x, y):
        """d loss / d x for a batch (channels-last), e.g. for saliency maps; inference mode
        (dropout off, batch norm with its moving statistics). Weights are not changed."""
        self._check_compiled()
        xs = self._check_x(x)
        ys = self._prepare_y(y, xs[0].shape[0])
        plan = self._get_plan()
        saved = [dict(l.grads) for l in plan.layers]
        outs, ctxs = plan.forward(self._internal(xs), False, keep_ctx=True)
        _, grads = self._loss_and_grads(plan, outs, ctxs, ys, True)
        gs = plan.backward(ctxs, grads, input_grad=True)
        for l, g in zip(plan.layers, saved):
            l.grads = g
        gs = [to_public(g) if g.ndim == 4 else g for g in gs]
        return gs[0] if len(gs) == 1 else gs
