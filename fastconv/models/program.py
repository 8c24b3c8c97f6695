"""Inference programs: a plan's inference steps run as one call into C per batch.

Called layer by layer from Python, each step of a planned model costs a few microseconds
before its kernel starts (the Python call, argument checks, fused-type dispatch, buffer
acquisition, a fresh output array) -- at batch 1 that is more than many kernels take.
A program removes it: the first batch of a given shape runs the ordinary steps once,
which fixes every intermediate shape; then the steps the C tier can run (convolutions
with their fused batch norm, activation and residual add, depthwise convolutions,
pooling, global average pooling, Dense layers, adds, flattening) become ``fc_op``
structs over numbered buffers (``csrc/program.c``). Later batches of that shape are one
C call per run of such steps; any other step (a softmax head, a custom layer) runs in
Python between the runs, with its inputs and output as ordinary arrays.

* The C side calls the same batch drivers the layers' own bindings call, so a program's
  outputs are bitwise those of the step-by-step path. With several threads the whole run
  is one team whose threads share out each op's loop (no team started per op); the
  caller runs the ops itself and never waits for a thread that has not joined
  (``csrc/program_pool.c``).
* Intermediate buffers are allocated once per batch shape and reused as soon as their
  last reader has run (the plan's liveness), by any later map that fits (the smallest
  free buffer that does), so memory stays near the live set; outputs are fresh arrays
  each call. A small arena is a fast one: its maps are still in the last-level cache
  when the next op or the next batch reads them (MobileNet at batch 64: 12.8 MB
  against 24 MB with buffers reused only by maps of their own size, inference 5%
  faster). A buffer a Python step reads is never reused (its output may be
  a view of it).
* Large batches may run in chunks of images (every op over the first chunk, then every
  op over the next): an image's activations then move between ops while still in cache
  instead of a whole batch's going through memory. Which is faster depends on the
  network, the cache sizes and the batch (on a CPU with 512 KB of L2 per core a ResNet's
  big early maps gained; with 2 MB none of the benchmark networks does), so the first
  program of such a batch shape times both ways and keeps chunks only when they win by
  5%. The bits are the same. The choice is remembered per batch shape and thread count,
  so a program rebuilt for a shape seen before (more shapes in use than are kept) does
  not time the two ways again.
* A program is rebuilt when weights change (``weights_version``) or the Winograd switch
  changes, and the programs of the few batch shapes used last are kept. Two threads
  predicting with one model at once do not share buffers: the second runs the
  step-by-step path.
"""
import threading
import time

import numpy as np

from .. import _program
from ..config import get_num_threads
from ..functional._checks import _ACT_NONE, _ACT_RELU
from ..functional.conv import _winograd_env
from ..layers.base import weights_version
from ..layout import to_internal
from ..layers.core import Flatten, Identity
from ..layers.merging import Add
from ..layers.pooling import AveragePooling2D, GlobalAveragePooling2D, MaxPooling2D
from ..layers.regularization import Dropout
from .fusion import FusedAddReLU, FusedConv, FusedConvAdd, PackedDense

__all__ = ["ProgramRunner", "takes_public"]

_CONV, _DEPTHWISE, _MAX_POOL, _AVG_POOL, _PLANE_MEANS, _LINEAR, _ADD, _TO_NCHW = (
    _program.OPS[k] for k in ("conv", "depthwise", "max_pool", "avg_pool", "plane_means",
                              "linear", "add", "to_nchw"))

# batch shapes kept per model (training batch, its remainder, batch 1, ...)
_PROGRAMS_KEPT = 4
# chunked-or-whole choices remembered per model (batch shape and thread count)
_CHOICES_KEPT = 64
# images per chunk when a batch runs in chunks (batches of at least twice this try it)
_CHUNK_IMAGES = 16


class ProgramRunner:
    """Runs a plan's inference steps through compiled programs (see the module doc)."""

    def __init__(self, plan):
        self.plan = plan
        self._compiled = {}
        self._chunks = {}       # key + (threads,) -> the chunk its program chose
        self._version = None
        self._lock = threading.Lock()
        # (shape, dtype char, Winograd switches, program) of the last one-array public
        # run, so that the same batch shape again skips the checks it already passed
        self._last_public = None

    def run_same_public(self, x):
        """The outputs for ``x`` (an ndarray: one channels-last batch) when it has the
        shape and dtype of the last public single-input run and is contiguous, and neither
        the weights nor the Winograd switches changed since: ``run([x], public=True)``
        without the checks that batch shape has passed. Else None (take the full path)."""
        last = self._last_public
        if (last is None or x.shape != last[0] or x.dtype.char != last[1]
                or not x.flags.c_contiguous or weights_version() != self._version
                or _winograd_env() != last[2]):
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return last[3].run((x,))
        finally:
            self._lock.release()

    def run(self, inputs, public=False):
        """The plan's outputs for internal-layout ``inputs`` (bitwise ``plan.forward``);
        with ``public``, one channels-last image batch (contiguous, the model's dtype),
        whose layout change is then the program's first op."""
        if not self._lock.acquire(blocking=False):
            return self.plan.forward(_internal(inputs) if public else inputs, False)[0]
        try:
            version = weights_version()
            if version != self._version:      # programs point into the packed weights
                self._compiled.clear()
                self._last_public = None
                self._version = version
            key = self._key(inputs) + (public,)
            compiled = self._compiled.pop(key, None)
            if compiled is None:
                if len(self._compiled) >= _PROGRAMS_KEPT:    # the least recently used goes
                    self._compiled.pop(next(iter(self._compiled)))
                    self._last_public = None
                choice = key + (get_num_threads(),)
                compiled, outs = _Compiled.make(self.plan, inputs, public,
                                                self._chunks.get(choice))
                self._compiled[key] = compiled
                if compiled:
                    if len(self._chunks) >= _CHOICES_KEPT:
                        self._chunks.pop(next(iter(self._chunks)))
                    self._chunks[choice] = compiled.chunk
                return outs
            self._compiled[key] = compiled                  # now the most recently used
            if not compiled:
                return self.plan.forward(_internal(inputs) if public else inputs, False)[0]
            if public and len(inputs) == 1:
                self._last_public = (inputs[0].shape, inputs[0].dtype.char, key[2], compiled)
            return compiled.run(inputs)
        finally:
            self._lock.release()

    def profile(self, inputs, repeats):
        """[(label, seconds)] per op of an inference on ``inputs``, the minimum over
        ``repeats`` runs (a label names the layers its op runs), or None when no step of
        the plan runs in C."""
        self.run(inputs)                     # compiles for this shape if needed
        with self._lock:
            compiled = self._compiled.get(self._key(inputs) + (False,))
            if not compiled:
                return None
            best = None
            for _ in range(repeats):
                timings = []
                compiled.run(inputs, timings)
                best = timings if best is None else [
                    (label, min(t, b)) for (label, t), (_, b) in zip(timings, best)]
        return best

    @staticmethod
    def _key(inputs):
        if len(inputs) == 1:
            return (inputs[0].shape, inputs[0].dtype.char, _winograd_env())
        return (tuple((x.shape, x.dtype.char) for x in inputs), _winograd_env())


def takes_public(inputs, dtype):
    """Whether ``inputs`` can go to a program as they are (``ProgramRunner.run(public=
    True)``): one contiguous channels-last image batch of ``dtype``."""
    return len(inputs) == 1 and inputs[0].ndim == 4 and _contiguous_float(inputs[0], dtype)


def _internal(inputs):
    return [to_internal(x) for x in inputs]


def _contiguous_float(x, dtype):
    return (isinstance(x, np.ndarray) and x.dtype == dtype and x.flags.c_contiguous
            and x.dtype.itemsize in (4, 8) and x.dtype.kind == "f")


class _Compiled:
    """The program of one batch shape: segments of ops and the Python steps between."""

    @classmethod
    def make(cls, plan, inputs, public=False, chunk=None):
        """(compiled program or False when nothing would run in C, this batch's outputs);
        ``public``: ``inputs`` is one channels-last image batch (see ProgramRunner.run);
        ``chunk``: the chunk a program of this batch shape chose before (None: time the
        two ways)."""
        steps, _ = plan._inference_steps()
        given = inputs
        if public:
            inputs = _internal(inputs)
        vals = [None] * plan.n_slots
        vals[:len(inputs)] = inputs
        for s in steps:
            x = [vals[i] for i in s.inputs] if s.listed else vals[s.inputs[0]]
            vals[s.output] = s.layer.forward(x, False)[0]
        outs = [vals[o] for o in plan.output_slots]
        dtype = inputs[0].dtype if inputs else None
        if (not inputs or not all(_contiguous_float(x, dtype) for x in inputs)
                or set(plan.output_slots) & set(plan.input_slots) or inputs[0].shape[0] == 0):
            return False, outs
        if public and not takes_public(given, dtype):
            return False, outs
        self = cls()
        if not self._build(plan, steps, vals, dtype, public):
            return False, outs
        if chunk is None:
            self._choose_chunk(given)
        else:
            self._set_chunk(chunk)
        return self, outs

    def _choose_chunk(self, inputs):
        """Whole-batch or chunked runs of the programs, whichever these inputs run faster.

        The two ways use different threads (a whole-batch run the program pool, a chunked
        one the OpenMP team), and a thread that has gone idle can take milliseconds to run
        again on a virtual machine: timed back to back, the first ~3 ms of whole-batch runs
        after chunked ones ran on one thread, and chunks were kept where they lose. So each
        way first runs untimed for 10 ms, then is timed.
        """
        self.chunk = 0
        if self.n < 2 * _CHUNK_IMAGES or not any(k == "program" for k, _, _ in self.segments):
            return
        best = {}
        for chunk in (0, _CHUNK_IMAGES, _CHUNK_IMAGES, 0):
            self._set_chunk(chunk)
            start = t0 = time.perf_counter()
            while t0 - start < 0.01:
                self.run(inputs)
                t1 = time.perf_counter()
                last, t0 = t1 - t0, t1
            # short runs are noisy: time several (~2 ms of runs, 2 to 16; one for runs
            # of 20 ms and more, so a big batch's first call costs about 8 runs)
            timed = 1 if last >= 0.02 else max(2, min(16, int(2e-3 / max(last, 1e-6))))
            for _ in range(timed):
                t0 = time.perf_counter()
                self.run(inputs)
                best[chunk] = min(best.get(chunk, np.inf), time.perf_counter() - t0)
        self._set_chunk(_CHUNK_IMAGES if best[_CHUNK_IMAGES] < 0.95 * best[0] else 0)

    def _set_chunk(self, chunk):
        """Every program of this batch shape runs in chunks of ``chunk`` images (0: whole)."""
        self.chunk = chunk
        for kind, program, _ in self.segments:
            if kind == "program":
                program.chunk = chunk

    # ------------------------------------------------------------ building
    def _build(self, plan, steps, vals, dtype, public=False):
        self.dtype = dtype
        self.public = public
        self.n = vals[0].shape[0]
        self.input_slots = list(plan.input_slots)
        self.output_slots = list(plan.output_slots)
        lowered = [_lower(s, vals, dtype) for s in steps]
        if not any(op is not None and op != "alias" for op in lowered):
            return False
        outputs = set(plan.output_slots)
        # a flattening that is a model output is left to Python (it must return a copy)
        lowered = [None if op == "alias" and s.output in outputs else op
                   for op, s in zip(lowered, steps)]
        reads = _fuse_conv_pool(steps, lowered, outputs)
        _fuse_depthwise_conv(steps, lowered, outputs, reads)
        last_read = {}
        for pos, ins in enumerate(reads):
            for i in ins:
                last_read[i] = pos
        # buffers: ("input", k) | ("output", slot) | ("python", slot) | ("arena", nbytes)
        kinds, slot_buf = [], {}
        free, pinned, users = {}, set(), {}
        # an alias step's output slot: (its input slot, its shape), for Python steps
        self.aliases = aliases = {}
        items, labels, fused_label = [], [], None
        if public:
            # buffer 0 is the caller's channels-last batch; the model input is an arena
            # buffer the first op writes (reused once its last reader has run)
            x = vals[plan.input_slots[0]]
            kinds.append(("input", 0))
            slot_buf[plan.input_slots[0]] = 1
            kinds.append(("arena", x.nbytes))
            users[1] = {plan.input_slots[0]}
            items.append(("op", (_TO_NCHW, _ACT_NONE, 0.0, 0, -1, 1, None, None, x.shape[1],
                                 x.shape[2] * x.shape[3], 0, None, None)))
            labels.append("input layout")
        else:
            for k, slot in enumerate(plan.input_slots):
                slot_buf[slot] = len(kinds)
                kinds.append(("input", k))

        def arena(nbytes):
            # a free buffer of this size, else the smallest larger one, else a new one
            fits = [size for size, pool in free.items() if pool and size >= nbytes]
            if fits:
                return free[min(fits)].pop()
            kinds.append(("arena", nbytes))
            return len(kinds) - 1

        for pos, (s, op) in enumerate(zip(steps, lowered)):
            y = vals[s.output]
            if op == "fused":       # its op runs inside the next step's
                fused_label = s.layer.name
                continue
            if op is None:
                for i in s.inputs:
                    pinned.add(slot_buf[i])
                slot_buf[s.output] = len(kinds)
                kinds.append(("python", s.output))
                items.append(("python", s))
            elif op == "alias":
                slot_buf[s.output] = slot_buf[s.inputs[0]]
                aliases[s.output] = (s.inputs[0], y.shape)
            else:
                if s.output in outputs:
                    slot_buf[s.output] = len(kinds)
                    kinds.append(("output", s.output))
                else:
                    slot_buf[s.output] = arena(y.nbytes)
                ins = [slot_buf[i] for i in reads[pos]]
                items.append(("op", op[:3] + (ins[0], ins[1] if len(ins) > 1 else -1,
                                              slot_buf[s.output]) + op[3:]))
                labels.append(s.layer.name if fused_label is None
                              else f"{fused_label}+{s.layer.name}")
                fused_label = None
            users.setdefault(slot_buf[s.output], set()).add(s.output)
            # hand back the arena buffers whose every slot has had its last reader
            for i in set(reads[pos]) | {s.output}:
                b = slot_buf[i]
                if kinds[b][0] != "arena" or b in pinned or i in outputs:
                    continue
                if last_read.get(i, -1) <= pos:
                    users[b].discard(i)
                    if not users[b]:
                        free.setdefault(kinds[b][1], []).append(b)
        self.kinds = kinds
        self.slot_buf = slot_buf
        needs = []
        for kind in kinds:
            if kind[0] == "arena":
                needs.append(kind[1])
            elif kind[0] == "input":
                needs.append(vals[plan.input_slots[kind[1]]].nbytes)
            else:
                needs.append(vals[kind[1]].nbytes)
        self.table = _program.BufferTable(needs)
        # arena memory, 64-byte aligned, bound once; each slot's array is a view of it
        arena = {}
        for b, kind in enumerate(kinds):
            if kind[0] == "arena":
                raw = np.empty(kind[1] + 64, dtype=np.uint8)
                off = (-raw.ctypes.data) % 64
                arena[b] = raw[off:off + kind[1]]
                self.table.bind(b, arena[b])
        self.views = {}
        for slot, b in slot_buf.items():
            if kinds[b][0] == "arena":
                v = vals[slot]
                self.views[slot] = arena[b][:v.nbytes].view(v.dtype).reshape(v.shape)
        # per call: the inputs' buffers, and the outputs' (fresh arrays where an op writes)
        self.in_bufs = [0] if public else [slot_buf[s] for s in self.input_slots]
        self.fresh_outputs = [(slot, slot_buf[slot], vals[slot].shape)
                              for slot in self.output_slots if kinds[slot_buf[slot]][0] == "output"]
        # consecutive ops form one program; Python steps in between: (kind, item, labels)
        self.segments = []
        run, names = [], iter(labels)
        for kind, item in items + [("python", None)]:
            if kind == "op":
                run.append(item)
                continue
            if run:
                self.segments.append(("program", _program.Program(run, dtype.itemsize, self.n),
                                      [next(names) for _ in run]))
                run = []
            if item is not None:
                self.segments.append(("python", item, [item.layer.name]))
        self.has_python = any(kind == "python" for kind, _, _ in self.segments)
        # Python steps' outputs that later ops read are bound per call
        self.bind_after = {slot: b for slot, b in slot_buf.items() if kinds[b][0] == "python"}
        return True

    # ------------------------------------------------------------ running
    def _value(self, vals, slot):
        """``vals[slot]``; an alias step's output (a reshape of a buffer no op wrote in
        its shape: a Python step's output, a model input) made from its input on first
        use -- the arena's views cover the others."""
        v = vals.get(slot)
        if v is None:
            src, shape = self.aliases[slot]
            v = vals[slot] = self._value(vals, src).reshape(shape)
        return v

    def run(self, inputs, timings=None):
        """This batch's outputs; ``timings`` (a list) receives (label, seconds) per op."""
        table = self.table
        for b, x in zip(self.in_bufs, inputs):
            table.bind(b, x, False)
        fresh = {}
        for slot, b, shape in self.fresh_outputs:
            y = fresh[slot] = np.empty(shape, dtype=self.dtype)
            table.bind(b, y)
        nt = get_num_threads()
        if not self.has_python and timings is None:        # the common case: all in C
            for _, program, _ in self.segments:
                _program.run(program, table, nt)
            return [fresh[slot] for slot in self.output_slots]
        vals = dict(self.views)
        if not self.public:
            vals.update(zip(self.input_slots, inputs))
        vals.update(fresh)
        for kind, item, labels in self.segments:
            if kind == "program":
                seconds = None if timings is None else np.zeros(item.nops)
                _program.run(item, table, nt, seconds)
                if timings is not None:
                    timings.extend(zip(labels, seconds.tolist()))
                continue
            s = item
            x = [self._value(vals, i) for i in s.inputs] if s.listed else \
                self._value(vals, s.inputs[0])
            t0 = time.perf_counter()
            y = s.layer.forward(x, False)[0]
            if timings is not None:
                timings.append((labels[0], time.perf_counter() - t0))
            b = self.bind_after.get(s.output)
            if b is not None:
                if not _contiguous_float(y, self.dtype):
                    y = np.ascontiguousarray(y, dtype=self.dtype)
                table.bind(b, y)
            vals[s.output] = y
        outs = []
        for slot in self.output_slots:
            y = self._value(vals, slot)
            if self.kinds[self.slot_buf[slot]][0] == "python" and y.base is not None:
                y = y.copy()      # a view (of an arena buffer, maybe): the caller owns it
            outs.append(y)
        return outs


# ---------------------------------------------------------------- lowering
def _reader_counts(steps):
    """How many steps read each slot."""
    readers = {}
    for s in steps:
        for i in s.inputs:
            readers[i] = readers.get(i, 0) + 1
    return readers


def _fuse_conv_pool(steps, lowered, outputs):
    """Merge each convolution whose only reader is the pooling right after it into that
    pooling's op (the feature map is pooled from cache, never stored whole): the pooling
    step gets the conv op with the pool geometry and ``pool_after``, the conv step is
    marked "fused". Returns the slots each step's op reads."""
    reads = [list(s.inputs) for s in steps]
    readers = _reader_counts(steps)
    for pos in range(len(steps) - 1):
        conv, pool = lowered[pos], lowered[pos + 1]
        s, t = steps[pos], steps[pos + 1]
        if (type(s.layer) is FusedConv and isinstance(conv, tuple) and conv[0] == _CONV
                and isinstance(pool, tuple) and pool[0] in (_MAX_POOL, _AVG_POOL)
                and t.inputs == [s.output] and readers.get(s.output) == 1
                and s.output not in outputs):
            lowered[pos + 1] = conv[:4] + (pool[4],) + conv[5:] + (pool[0],)
            lowered[pos] = "fused"
            reads[pos + 1] = reads[pos]
            reads[pos] = []
    return reads


def _multiplier_one(args):
    """Whether the conv_kernel_args tuple ``args`` (C, H, W, K, ...) has as many outputs
    as inputs (a depthwise convolution of depth multiplier 1)."""
    C, _, _, K = args[:4]
    return K == C


def _fuse_depthwise_conv(steps, lowered, outputs, reads):
    """Merge each depthwise convolution whose only reader is the convolution right after
    it (no residual, no pooling: MobileNet's depthwise-separable blocks) into that
    convolution's op, which then runs both per run of images with the depthwise output
    kept in cache: the conv step's op gets ``(depthwise geometry, weight, bias, act,
    act_param)`` as its 15th field and the depthwise step is marked "fused". Only a
    depthwise convolution of depth multiplier 1 (as many outputs as inputs: the fused op's
    kernel has no other) fuses."""
    readers = _reader_counts(steps)
    for pos in range(len(steps) - 1):
        dw, conv = lowered[pos], lowered[pos + 1]
        s, t = steps[pos], steps[pos + 1]
        if (isinstance(dw, tuple) and dw[0] == _DEPTHWISE and _multiplier_one(dw[3])
                and type(t.layer) is FusedConv
                and isinstance(conv, tuple) and conv[0] == _CONV and len(conv) == 10
                and conv[4] is None and t.inputs == [s.output]
                and readers.get(s.output) == 1 and s.output not in outputs):
            lowered[pos + 1] = conv + (0, (dw[3], dw[8], dw[9], dw[1], dw[2]))
            lowered[pos] = "fused"
            reads[pos + 1] = reads[pos]
            reads[pos] = []


def _lower(step, vals, dtype):
    """The op tuple ``(kind, act, act_param, conv, pool, channels, size, units, weight,
    bias)`` of a step, "alias" for a step that only renames its input's buffer, or None
    for a step left to Python."""
    layer = step.layer
    xs = [vals[i] for i in step.inputs]
    y = vals[step.output]
    if not all(_contiguous_float(a, dtype) for a in xs + [y]):
        return None
    x = xs[0]
    kind = type(layer)
    if kind is FusedConv:
        return _lower_conv(layer, x, layer._code)
    if kind is FusedConvAdd:
        op = _lower_conv(layer.runner, x, layer._code)
        return op if op is not None and op[0] == _CONV else None
    if kind is PackedDense:
        return _lower_dense(layer, x)
    if kind in (MaxPooling2D, AveragePooling2D):
        prep = layer._prepared(x)
        if prep is None:
            return None
        pool = (prep.args, bool(prep.cip))
        return (_MAX_POOL if kind is MaxPooling2D else _AVG_POOL, _ACT_NONE, 0.0, None, pool,
                x.shape[1], 0, 0, None, None)
    if kind is GlobalAveragePooling2D:
        if x.ndim != 4 or x.shape[2] * x.shape[3] == 0:
            return None
        return (_PLANE_MEANS, _ACT_NONE, 0.0, None, None, x.shape[1], x.shape[2] * x.shape[3],
                0, None, None)
    if kind is Flatten or kind in (Dropout, Identity) and y is x:
        # a flattening, and the layers that pass their input on at inference (the main
        # job's network has two dropouts, which split its program in three)
        return "alias"
    if kind in (FusedAddReLU, Add) and len(xs) == 2 and xs[0].shape == xs[1].shape == y.shape:
        act = _ACT_RELU if kind is FusedAddReLU else _ACT_NONE
        return (_ADD, act, 0.0, None, None, 0, x.size // x.shape[0], 0, None, None)
    return None


def _lower_conv(runner, x, code):
    conv = runner.conv
    if x.ndim != 4:
        return None
    w, bias = runner._weights()
    g, args, buf = w._plan(x.shape, "conv2d")
    act, param = code
    if buf is not None:
        return (_CONV, act, param, args, None, 0, 0, 0, buf, bias)
    if conv._groups == g.C and w.weight.flags.c_contiguous and w.weight.dtype == x.dtype:
        return (_DEPTHWISE, act, param, args, None, 0, 0, 0, w.weight, bias)
    return None


def _lower_dense(layer, x):
    w, bias = layer._weights()
    if x.ndim != 2:
        return None
    if layer._act_code is not None:
        act, param = layer._act_code
    elif layer.dense._act.name is None:
        act, param = _ACT_NONE, 0.0
    else:
        return None
    return (_LINEAR, act, param, None, None, 0, x.shape[1], w.shape[0], w.packed, bias)
