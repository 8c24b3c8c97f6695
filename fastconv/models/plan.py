"""The execution plan of a model: its graph flattened into steps, run forward and backward.

A plan is made once per graph (when a model is built or its layers change) and reused for
every batch:

* the steps are the graph's nodes in topological order (creation order), each bound to its
  layer with its input and output slots; shapes and geometry were checked when the graph was
  written, so running a step is one call into the layer, without re-validation of the graph;
* forward keeps each step's context for the backward pass in training, and at inference
  drops every intermediate array after its last use, so peak memory is the live set, not
  the whole network; inference runs a second step list in which convolution -> batch norm
  -> ReLU chains are one kernel call (:mod:`fastconv.models.fusion`);
* backward runs the steps in reverse: gradients arriving at a tensor used by several steps
  are summed, a layer used at several places adds up its weight gradients, input gradients
  are computed only where something upstream needs them, and a callback can be told as soon
  as a layer's weight gradients are final (data-parallel training starts their reduction
  while the rest of the backward pass runs).
"""
import numpy as np

from .. import _activation
from ..config import get_num_threads
from ..functional._checks import _ACT_NONE
from .fusion import fuse_inference_steps, fuse_training_steps
from .program import ProgramRunner

__all__ = ["Plan", "Step"]


def _sum_gradients(total, g, in_place):
    """total + g, into total when ``in_place``: the threaded element-wise kernel for
    same-shaped contiguous float arrays (a residual join sums whole feature-map gradients,
    which NumPy would add on one thread), NumPy otherwise. One IEEE addition per element
    either way: the same bits."""
    if (total.shape == g.shape and total.dtype == g.dtype and total.dtype.kind == "f"
            and total.dtype.itemsize in (4, 8) and total.flags.c_contiguous
            and g.flags.c_contiguous):
        out = total if in_place else np.empty_like(total)
        _activation.add_forward(_ACT_NONE, 0.0, total.reshape(-1), g.reshape(-1),
                                out.reshape(-1), get_num_threads())
        return out
    if in_place:
        total += g
        return total
    return total + g


class Step:
    """One node of the graph: ``layer`` applied to slots ``inputs`` -> slot ``output``.
    In a fused step ``layer`` is the runner of several layers and ``owner`` the one whose
    weights it uses (for a plain step both are the layer)."""

    __slots__ = ("layer", "inputs", "output", "listed", "needs_input_grad", "index", "owner")

    def __init__(self, index, layer, inputs, output, listed, needs_input_grad, owner=None):
        self.index = index
        self.layer = layer
        self.inputs = inputs
        self.output = output
        self.listed = listed
        self.needs_input_grad = needs_input_grad
        self.owner = layer if owner is None else owner

    def __repr__(self):
        return f"<Step {self.index} {self.layer.name} {self.inputs}->{self.output}>"


class Plan:
    """Steps of a graph. ``input_slots``: the model inputs' slots (0..k-1);
    ``output_slots``: the model outputs' slots, in order."""

    def __init__(self, input_tensors, output_tensors, nodes):
        slot = {id(t): i for i, t in enumerate(input_tensors)}
        self.input_slots = list(range(len(input_tensors)))
        requires_grad = [False] * len(input_tensors)
        steps = []
        for node in nodes:
            ins = [slot[id(t)] for t in node.inputs]
            out = len(requires_grad)
            slot[id(node.output)] = out
            layer = node.layer
            upstream = any(requires_grad[i] for i in ins)
            requires_grad.append(upstream or bool(layer.params and layer.trainable))
            steps.append(Step(len(steps), layer, ins, out, node.listed, upstream))
        self.steps = steps
        self.n_slots = len(requires_grad)
        self.output_slots = [slot[id(t)] for t in output_tensors]
        self._producer = {s.output: s for s in steps}
        # the last step that reads each slot (inference frees a slot after it)
        self._free_after = self._liveness(steps)
        # training runs BN -> ReLU as one step; a layer's weight gradients are final after
        # its earliest step runs backward
        def make(index, runner, inputs, output, listed):
            return Step(index, runner, inputs, output, listed,
                        self.steps[index].needs_input_grad, runner.layers[0])
        self.train_steps = fuse_training_steps(steps, self.output_slots, make)
        self._train_free_after = self._liveness(self.train_steps)
        self._first_step = {}
        for s in self.train_steps:
            self._first_step.setdefault(id(s.owner), s.index)
        # what the backward loop asks of each step, in its order (fixed by the graph and
        # the layers' classes): looked up once, not at every step of every batch
        self._backward_table = [
            (s, s.layer, s.owner, id(s.owner), self._first_step[id(s.owner)] == s.index,
             bool(getattr(s.layer, "_stateful", False)),
             not s.listed and bool(getattr(s.layer, "_adds_input_grad", False)),
             not s.listed and bool(getattr(s.layer, "_fresh_input_grads", False)),
             bool(getattr(s.layer, "_reuses_grad_out", False)))
            for s in reversed(self.train_steps)]
        self._output_steps = {self._producer[o].index for o in self.output_slots
                              if o in self._producer}
        self._infer = None     # the fused step list for inference, made on first use
        self._programs = ProgramRunner(self)
        self.layers = []
        seen = set()
        for s in steps:
            if id(s.layer) not in seen:
                seen.add(id(s.layer))
                self.layers.append(s.layer)

    def _liveness(self, steps):
        """For each step (by position), the slots whose last reader it is."""
        last_use = {}
        for pos, s in enumerate(steps):
            for i in s.inputs:
                last_use[i] = pos
        keep = set(self.output_slots)
        free_after = [[] for _ in steps]
        for i, at in last_use.items():
            if i not in keep:
                free_after[at].append(i)
        return free_after

    def _inference_steps(self):
        if self._infer is None:
            def make(index, runner, inputs, output, listed):
                return Step(index, runner, inputs, output, listed, False)
            steps = fuse_inference_steps(self.steps, self.output_slots, make)
            self._infer = (steps, self._liveness(steps))
        return self._infer

    def producer(self, slot):
        """The step that writes ``slot`` (None for a model input)."""
        return self._producer.get(slot)

    # ------------------------------------------------------------ forward
    def forward(self, inputs, training=False, keep_ctx=False, record=None):
        """Run the steps on internal-layout ``inputs`` (one array per model input).

        Returns ``(outputs, state)``; ``state`` holds the contexts the backward pass needs
        when ``keep_ctx`` (else only those of the output steps, for a fused loss).
        ``record(step, y)`` is called after each step (``Model.layer_outputs``)."""
        vals = [None] * self.n_slots
        vals[:len(inputs)] = inputs
        ctxs = [None] * len(self.steps)
        if record is not None:
            steps, free_after = self.steps, self._free_after
        elif training or keep_ctx:
            steps, free_after = self.train_steps, self._train_free_after
        else:
            steps, free_after = self._inference_steps()
        out_steps = self._output_steps
        for pos, s in enumerate(steps):
            if s.listed:
                x = [vals[i] for i in s.inputs]
            else:
                x = vals[s.inputs[0]]
            y, ctx = s.layer.forward(x, training)
            vals[s.output] = y
            if keep_ctx or s.index in out_steps:
                ctxs[s.index] = ctx
            if record is not None:
                record(s, y)
            if not keep_ctx:
                for i in free_after[pos]:
                    vals[i] = None
        return [vals[o] for o in self.output_slots], ctxs

    def infer(self, inputs, public=False):
        """The outputs of an inference pass over internal-layout ``inputs`` (bitwise
        ``forward(inputs)[0]``), through the compiled programs of
        :mod:`fastconv.models.program`: one call into C per run of steps it can lower.
        ``public``: ``inputs`` is one channels-last image batch, contiguous, of the
        model's dtype (its layout change then runs in C too)."""
        return self._programs.run(inputs, public)

    # ------------------------------------------------------------ backward
    def backward(self, ctxs, output_grads, input_grad=False, on_layer_done=None):
        """Back-propagate ``output_grads`` (dict output slot -> (gradient, w.r.t. logits)).

        ``w.r.t. logits`` means the gradient is already taken through the output layer's
        softmax (a fused softmax + cross-entropy). Weight gradients end up in each layer's
        ``grads``; returns the gradients w.r.t. the model inputs when ``input_grad``."""
        grads = [None] * self.n_slots
        # whether grads[i] is an array nothing else refers to (a sum made here, or a new
        # array from a layer that says so): it may be added to, or written over, in place
        owned = [False] * self.n_slots
        logit_slots = set()
        for slot, (g, wrt_logits) in output_grads.items():
            grads[slot] = g
            if wrt_logits:
                logit_slots.add(slot)
        seen = set()
        for (s, layer, owner, key, first, stateful, adds_input_grad, fresh,
             reuses) in self._backward_table:
            out = s.output
            g = grads[out]
            grads[out] = None
            if g is None:     # nothing downstream of this step reaches the loss
                ctxs[s.index] = None
                if first:
                    if key not in seen:
                        owner.grads = zero_grads_for(owner)
                    if on_layer_done is not None:
                        on_layer_done(owner)
                continue
            need = s.needs_input_grad or input_grad
            owner._accumulate = key in seen
            seen.add(key)
            joined = None   # the input slot whose gradients the layer sums itself
            if out in logit_slots:
                gin = layer._backward_from_logits(g, ctxs[s.index], need)
            elif stateful:
                gin = layer.backward(g)
            elif need and adds_input_grad and grads[s.inputs[0]] is not None:
                # the other branches' gradient of this input, added in the kernels'
                # write-back (a residual block's input: no pass over both afterwards)
                joined = s.inputs[0]
                gin = layer._backward(g, ctxs[s.index], True, addend=grads[joined])
            elif reuses and owned[out]:
                # g is read by no one after this step: its input gradient may take g's memory
                gin = layer._backward(g, ctxs[s.index], need, reuse_grad_out=True)
            else:
                gin = layer.backward(g, ctxs[s.index], need)
            owner._accumulate = False
            ctxs[s.index] = None
            if first and on_layer_done is not None:
                on_layer_done(owner)
            if not need:
                continue
            if joined is not None:
                grads[joined], owned[joined] = gin, True
                continue
            for i, gi in zip(s.inputs, gin if s.listed else (gin,)):
                if gi is None:
                    continue
                if grads[i] is None:
                    grads[i], owned[i] = gi, fresh
                else:
                    # add in place only into an array nothing else refers to (owned)
                    grads[i] = _sum_gradients(grads[i], gi, in_place=owned[i])
                    owned[i] = True
        if input_grad:
            return [grads[i] for i in self.input_slots]
        return None



def zero_grads_for(layer):
    """Zero gradients for a layer the backward pass did not reach (unused branch)."""
    return {k: np.zeros_like(p) for k, p in layer.params.items()}
