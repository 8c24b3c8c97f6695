"""Fusions: chains of plan steps that run as one kernel call.

At inference a batch-normalisation layer is a fixed affine map per channel, so

* ``Conv2D``/``DepthwiseConv2D`` (no activation of its own) -> ``BatchNormalization`` is one
  convolution with the normalisation folded into its weights and bias
  (``w' = w * scale[k]``, ``b' = b * scale + shift``);
* a following ReLU, leaky ReLU, ReLU6, hard sigmoid, hard swish or SiLU -- an
  ``Activation`` layer or the convolution's own -- goes into the kernel's write-back;
* every convolution and Dense layer runs on weights packed once for the kernels;
* a residual ``Add`` (with or without a following ReLU) whose one input is a convolution
  read by nothing else is added in that convolution's write-back (``FusedConvAdd``);
  other adds followed by a ReLU add and clip in one pass;

which removes two full passes over each feature map, the weight packing and the
per-layer overhead from every inference. In training, ``BatchNormalization`` -> ReLU is
one pass of the batch-norm kernel (forward and backward), and a convolution with its own
ReLU followed by max pooling takes its ReLU gradient inside the pooling's backward kernel;
other fusions would change what the backward pass needs. A chain is fused only when each
intermediate result has no other reader and is not a model output.

Folded and packed weights are cached and rebuilt when any layer's weights changed (see
``fastconv.layers.base.weights_version``).
"""
import numpy as np

from .. import _activation, _gemm
from .. import functional as F
from ..config import get_num_threads
from ..functional._checks import _ACT, _ACT_ELU, _ACT_LEAKY_RELU, _ACT_RELU
from ..functional.prepared import activation_code
from ..layers.activations import Activation, INFERENCE_FUSABLE
from ..layers.base import weights_version
from ..layers.conv import Conv2D, DepthwiseConv2D
from ..layers.core import Dense
from ..layers.merging import Add
from ..layers.normalization import BatchNormalization
from ..layers.pooling import MaxPooling2D

__all__ = ["FusedConv", "FusedConvAdd", "PackedDense", "FusedAddReLU", "FusedBNReLU",
           "FusedBNAddReLU", "FusedConvReLUPool", "fuse_inference_steps", "fuse_training_steps"]


def _kernel_activation(act):
    """The (kernel name, option) of an activation a conv kernel can apply, else None."""
    if act.name not in INFERENCE_FUSABLE:
        return None
    return INFERENCE_FUSABLE[act.name], act.opt


def _fusable_activation(layer):
    """The (kernel name, option) of an activation layer a conv kernel can apply, else None."""
    return _kernel_activation(layer._act) if isinstance(layer, Activation) else None


class FusedConv:
    """A convolution with an optional folded batch norm and a fused activation; stands in
    for the chain's steps at inference (it has ``forward`` like a layer)."""

    _multi_input = False

    def __init__(self, conv, bn=None, activation=None):
        self.conv = conv
        self.bn = bn
        self.activation = activation            # (name, option) or None
        self.layers = tuple(l for l in (conv, bn) if l is not None)
        self.name = "+".join(l.name for l in self.layers) + (
            f"+{activation[0]}" if activation else "")
        self._cache = None
        self._version = None
        name, opt = activation if activation is not None else (None, 0.01)
        self._code = activation_code(name, opt if name == "leaky_relu" else 0.01)

    def _weights(self):
        """(packed weight, bias): batch norm folded in, packed once for the kernels, rebuilt
        when any weight changed."""
        version = weights_version()
        if self._version != version:
            conv, bn = self.conv, self.bn
            w, b = conv.params["kernel"], conv.params.get("bias")
            if bn is not None:
                scale, shift = bn.inference_affine()
                w = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(w.dtype)
                b = shift if b is None else (b * scale + shift).astype(w.dtype)
                b = np.ascontiguousarray(b, dtype=w.dtype)
            packed = F.pack_conv2d_weight(w, conv.strides, conv._pad, conv.dilation_rate,
                                          conv._groups)
            self._cache = (packed, b)
            self._version = version
        return self._cache

    def forward(self, x, training=False):
        conv = self.conv
        w, b = self._weights()
        if x.flags.c_contiguous and x.dtype == conv.dtype:   # shapes were checked at build
            return w.run(x, b, *self._code), None
        name, opt = self.activation if self.activation is not None else (None, 0.01)
        y = F.conv2d(x, w, b, conv.strides, conv._pad, conv.dilation_rate, conv._groups,
                     activation=name, negative_slope=opt if name == "leaky_relu" else 0.01)
        return y, None

    def __repr__(self):
        return f"<FusedConv {self.name}>"


class FusedConvAdd:
    """A residual block's tail: ``act(conv(x) + shortcut)`` (convolution with its folded
    batch norm, the ``Add``, and an optional ReLU after it) in one kernel pass, the
    shortcut added in the convolution's write-back. Inputs ``[x, shortcut]``. Bitwise the
    unfused steps: the kernel rounds ``conv + bias`` first, then adds the shortcut."""

    _multi_input = True

    def __init__(self, conv_runner, add, relu=None):
        self.runner = conv_runner
        self.layers = conv_runner.layers + tuple(l for l in (add, relu) if l is not None)
        self.name = "+".join(l.name for l in self.layers)
        self._code = activation_code("relu" if relu is not None else None, 0.01)

    def forward(self, xs, training=False):
        x, shortcut = xs
        w, b = self.runner._weights()
        dtype = self.runner.conv.dtype
        if not x.flags.c_contiguous or x.dtype != dtype:
            x = np.ascontiguousarray(x, dtype=dtype)
        if not shortcut.flags.c_contiguous or shortcut.dtype != dtype:
            shortcut = np.ascontiguousarray(shortcut, dtype=dtype)
        return w.run(x, b, *self._code, residual=shortcut), None

    def __repr__(self):
        return f"<FusedConvAdd {self.name}>"


# Dense activations applied in place by the element-wise kernel F.<name> uses: (code, option)
# -> bitwise what the layer's own F.<name> call returns
_DENSE_INPLACE = {name: (_ACT[code], None) for name, code in (
    ("relu", "relu"), ("sigmoid", "sigmoid"), ("tanh", "tanh"), ("relu6", "relu6"),
    ("hard_sigmoid", "hardsigmoid"), ("hard_swish", "hardswish"), ("silu", "silu"),
    ("gelu", "gelu"))}
_DENSE_INPLACE.update(elu=(_ACT_ELU, "opt"), leaky_relu=(_ACT_LEAKY_RELU, "opt"))


class PackedDense:
    """A Dense layer at inference with its weight matrix packed once for the kernels
    (repacked when any weight changed)."""

    _multi_input = False

    def __init__(self, dense):
        self.dense = dense
        self.layers = (dense,)
        self.name = dense.name
        self._cache = None
        self._version = None
        act = dense._act
        code = _DENSE_INPLACE.get(act.name)
        self._act_code = None if code is None else (
            code[0], 0.0 if code[1] is None else float(act.opt))

    def _weights(self):
        version = weights_version()
        if self._version != version:
            dense = self.dense
            bias = dense.params.get("bias")
            if bias is not None:
                bias = np.ascontiguousarray(bias, dtype=dense.dtype)
            self._cache = (F.pack_linear_weight(dense.params["kernel"]), bias)
            self._version = version
        return self._cache

    def forward(self, x, training=False):
        w, bias = self._weights()
        if not (x.flags.c_contiguous and x.dtype == w.dtype and x.ndim == 2):
            z = F.linear(x, w, bias)
            return self.dense._act.forward(z)[0], None
        # the graph checked the feature count; the same kernels as F.linear and F.<act>
        units = w.shape[0]
        y = np.empty((x.shape[0], units), dtype=x.dtype)
        nt = get_num_threads()
        _gemm.linear_packed(x, w.packed, units, bias, y, nt)
        code = self._act_code
        if code is None:
            return self.dense._act.forward(y)[0], None
        flat = y.reshape(-1)
        _activation.forward(code[0], code[1], flat, flat, nt)
        return y, None

    def __repr__(self):
        return f"<PackedDense {self.name}>"


class FusedAddReLU:
    """``relu(a + b + ...)`` (training and inference): two inputs in one multithreaded pass
    of the add kernel with the ReLU applied as it writes, more through NumPy's sum and the
    ReLU kernel in place -- either way bitwise the unfused steps' result (the same sums,
    the same ReLU). The backward masks the gradient once by the output (``y > 0`` exactly
    where the sum is) and hands it to every input.

    ``reuse`` (set by the inference fusion, which knows the plan's liveness) is the
    position of an input whose buffer no later step reads and no caller sees: the sum is
    written into it instead of a fresh array (one allocation and a cold page walk less per
    step)."""

    _multi_input = True

    def __init__(self, add, relu):
        self.layers = (add, relu)
        self.name = f"{add.name}+{relu.name}"
        self.reuse = None

    def forward(self, xs, training=False):
        a, b = xs[0], xs[1]
        r = self.reuse
        out = xs[r] if r is not None else None
        if out is not None and not (out.flags.c_contiguous and out.flags.writeable
                                    and out.flags.owndata and out.dtype == a.dtype
                                    and out.shape == a.shape == b.shape):
            out = None
        if (len(xs) == 2 and a.shape == b.shape and a.dtype == b.dtype
                and a.dtype.kind == "f" and a.dtype.itemsize in (4, 8)
                and a.flags.c_contiguous and b.flags.c_contiguous):
            y = np.empty_like(a) if out is None else out
            _activation.add_forward(_ACT_RELU, 0.0, a.reshape(-1), b.reshape(-1),
                                    y.reshape(-1), get_num_threads())
            return y, (y, 2)
        y = np.add(a, b, out=out)
        for x in xs[2:]:
            y += x
        if y.flags.c_contiguous and y.dtype.kind == "f" and y.dtype.itemsize in (4, 8):
            flat = y.reshape(-1)
            _activation.forward(_ACT_RELU, 0.0, flat, flat, get_num_threads())
        else:
            y = F.relu(y)
        return y, (y, len(xs))

    def backward(self, grad_out, ctx, input_grad=True):
        if not input_grad:
            return None
        y, n = ctx
        g = F.relu_backward(grad_out, y)
        return [g] * n

    def __repr__(self):
        return f"<FusedAddReLU {self.name}>"


class FusedBNReLU:
    """Batch norm -> ReLU as one pass (training and inference): the ReLU is applied by the
    batch-norm kernel and its backward masks with the output inside the same passes."""

    _multi_input = False
    _stateful = False
    _fresh_input_grads = True     # as BatchNormalization's
    _reuses_grad_out = True

    def __init__(self, bn, relu):
        self.bn = bn
        self.layers = (bn, relu)
        self.name = f"{bn.name}+{relu.name}"

    def forward(self, x, training=False):
        return self.bn.forward(x, training, relu=True)

    def backward(self, grad_out, ctx, input_grad=True):
        return self.bn.backward(grad_out, ctx, input_grad)

    def _backward(self, grad_out, ctx, input_grad, reuse_grad_out=False):
        return self.bn._backward(grad_out, ctx, input_grad, reuse_grad_out)

    def __repr__(self):
        return f"<FusedBNReLU {self.name}>"


class FusedBNAddReLU:
    """Training: batch norm -> add -> ReLU (a ResNet block's end) as one pass: the
    normalised value plus the other input, through the ReLU, written once -- the batch
    norm's own output is neither written nor read back. Backward: the ReLU's mask by the
    output, the masked gradient to the other input and back through the batch norm -- the
    mask applied and written by the batch norm's first pass, which sums it anyway. Bitwise
    the unfused steps; anything the one pass does not take (inference mode, arrays the
    checks would copy) runs them as they are."""

    _multi_input = True
    _stateful = False
    _reuses_grad_out = True      # the masked gradient is written over the output's

    def __init__(self, bn, add, relu):
        self.bn = bn
        self.add_relu = FusedAddReLU(add, relu)
        self.layers = (bn, add, relu)
        self.name = f"{bn.name}+{add.name}+{relu.name}"

    def forward(self, xs, training=False):
        x, other = xs
        fused = self.bn._forward_add_relu(x, other) if training else None
        if fused is not None:
            y, bn_ctx = fused
            return y, (bn_ctx, y)
        z, bn_ctx = self.bn.forward(x, training)
        y, _ = self.add_relu.forward([z, other], training)
        return y, (bn_ctx, y)

    def backward(self, grad_out, ctx, input_grad=True):
        return self._backward(grad_out, ctx, input_grad)

    def _backward(self, grad_out, ctx, input_grad, reuse_grad_out=False):
        bn_ctx, y = ctx
        both = (self.bn._backward_add_relu(grad_out, bn_ctx, y, reuse_grad_out)
                if input_grad else None)
        if both is not None:
            return list(both)
        g = F.relu_backward(grad_out, y)
        gx = self.bn.backward(g, bn_ctx, input_grad)
        return [gx, g] if input_grad else None

    def __repr__(self):
        return f"<FusedBNAddReLU {self.name}>"


class FusedConvReLUPool:
    """Training: a convolution with its own ReLU (applied in the kernel's write-back), then
    max pooling of its output -- the classic conv -> ReLU -> pool. Forward: the two layers'
    own passes. Backward: the pooling kernel sends each gradient to its window's maximum
    and masks the plane with the ReLU's ``y > 0`` while it is still in cache, so the
    full-size map is not read and written once more by a separate ReLU pass (4% of
    TFCNN's training step); the convolution's backward starts from that gradient.
    Bitwise the unfused steps' result."""

    _multi_input = False
    _stateful = False

    def __init__(self, conv, pool):
        self.conv, self.pool = conv, pool
        self.layers = (conv, pool)
        self.name = f"{conv.name}+{pool.name}"

    def forward(self, x, training=False):
        y, conv_ctx = self.conv.forward(x, training)
        z, pool_ctx = self.pool.forward(y, training)
        return z, (conv_ctx, pool_ctx)

    def backward(self, grad_out, ctx, input_grad=True):
        conv_ctx, pool_ctx = ctx
        g = self.pool._backward_through_relu(grad_out, pool_ctx)
        return self.conv._linear_backward(g, conv_ctx, input_grad)

    def __repr__(self):
        return f"<FusedConvReLUPool {self.name}>"


def _conv_relu_then_pool(step, nxt, outputs):
    """Whether ``step`` (a convolution) and ``nxt`` (its only reader) fuse for training."""
    conv = step.layer
    return (type(conv) is Conv2D and not conv._stateful and conv._fused
            and conv._act.name == "relu" and nxt is not None
            and type(nxt.layer) is MaxPooling2D and not nxt.layer._stateful
            and nxt.output not in outputs)


def _readers(steps, output_slots):
    readers = {}
    for s in steps:
        for i in s.inputs:
            readers.setdefault(i, []).append(s)
    outputs = set(output_slots)

    def only_reader(step):
        """The one step reading ``step``'s output, if it is the only one and the output is
        not a model output."""
        r = readers.get(step.output, [])
        return r[0] if len(r) == 1 and step.output not in outputs else None
    return only_reader, outputs


def _bn_add_relu(step, only_reader, outputs):
    """``(add step, relu step)`` when ``step`` is a batch norm read only by a two-input add
    (of another tensor) that only a ReLU reads, whose output is no model output; else
    ``(None, None)``."""
    if type(step.layer) is not BatchNormalization or step.layer._stateful:
        return None, None
    add = only_reader(step)
    if (add is None or type(add.layer) is not Add or len(add.inputs) != 2
            or add.inputs[0] == add.inputs[1]):
        return None, None
    relu = only_reader(add)
    act = _fusable_activation(relu.layer) if relu is not None else None
    if act is None or act[0] != "relu" or relu.output in outputs:
        return None, None
    return add, relu


def fuse_training_steps(steps, output_slots, make_step):
    """The step list for training: BatchNormalization -> Add -> ReLU as one
    :class:`FusedBNAddReLU` step, BatchNormalization -> ReLU pairs as one
    :class:`FusedBNReLU` step, Add -> ReLU as one :class:`FusedAddReLU`, a convolution with
    its own ReLU -> max pooling as one :class:`FusedConvReLUPool` (other steps unchanged)."""
    only_reader, outputs = _readers(steps, output_slots)
    absorbed, fused = set(), {}
    for s in steps:
        add, relu = _bn_add_relu(s, only_reader, outputs)
        if add is not None and add.index not in fused:   # (both inputs may be batch norms)
            # placed where the add was, so that its other input exists when it runs
            other = add.inputs[1] if add.inputs[0] == s.output else add.inputs[0]
            absorbed.update((s.index, relu.index))
            fused[add.index] = make_step(add.index, FusedBNAddReLU(s.layer, add.layer, relu.layer),
                                         [s.inputs[0], other], relu.output, True)
    for s in steps:
        if s.index in absorbed or s.index in fused:
            continue
        kind = type(s.layer)
        if kind is Conv2D:
            nxt = only_reader(s)
            if _conv_relu_then_pool(s, nxt, outputs):
                absorbed.add(nxt.index)
                fused[s.index] = make_step(s.index, FusedConvReLUPool(s.layer, nxt.layer),
                                           s.inputs, nxt.output, False)
            continue
        if kind not in (BatchNormalization, Add):
            continue
        nxt = only_reader(s)
        act = _fusable_activation(nxt.layer) if nxt is not None else None
        if act is None or act[0] != "relu" or nxt.output in outputs:
            continue
        absorbed.add(nxt.index)
        if kind is Add:
            fused[s.index] = make_step(s.index, FusedAddReLU(s.layer, nxt.layer), s.inputs,
                                       nxt.output, True)
        else:
            fused[s.index] = make_step(s.index, FusedBNReLU(s.layer, nxt.layer), s.inputs,
                                       nxt.output, False)
    return [fused.get(s.index, s) for s in steps if s.index not in absorbed]


def fuse_inference_steps(steps, output_slots, make_step):
    """The step list for inference: conv -> [bn] -> [activation] chains replaced by one
    :class:`FusedConv` step, add -> relu by :class:`FusedAddReLU` (steps made by
    ``make_step(index, runner, inputs, output, listed)``)."""
    only_reader, outputs = _readers(steps, output_slots)
    absorbed, fused = set(), {}
    for s in steps:
        layer = s.layer
        if s.index in absorbed:
            continue
        if type(layer) is Add:
            nxt = only_reader(s)
            act = _fusable_activation(nxt.layer) if nxt is not None else None
            if act is not None and act[0] == "relu" and nxt.output not in outputs:
                absorbed.add(nxt.index)
                fused[s.index] = make_step(s.index, FusedAddReLU(layer, nxt.layer), s.inputs,
                                           nxt.output, True)
            continue
        if type(layer) is Dense:
            if not layer._stateful and not (layer._ends_in_softmax and s.output in outputs):
                fused[s.index] = make_step(s.index, PackedDense(layer), s.inputs, s.output,
                                           False)
            continue
        if type(layer) not in (Conv2D, DepthwiseConv2D):
            continue
        if layer._stateful:
            continue
        if layer.activation is not None:
            # the layer's own activation: fused at inference even where training cannot
            # (silu, hard_swish: the backward pass would need the pre-activation)
            act = _kernel_activation(layer._act)
            if act is not None:
                fused[s.index] = make_step(s.index, FusedConv(layer, None, act), s.inputs,
                                           s.output, False)
            continue
        chain, bn, act = [s], None, None
        nxt = only_reader(s)
        if nxt is not None and type(nxt.layer) is BatchNormalization:
            bn = nxt.layer
            chain.append(nxt)
            nxt = only_reader(nxt)
        if nxt is not None and _fusable_activation(nxt.layer) is not None:
            act = _fusable_activation(nxt.layer)
            chain.append(nxt)
        if chain[-1].output in outputs:
            chain, bn, act = [s], None, None
        # a lone convolution too: its weights are then packed once, not at every call
        absorbed.update(c.index for c in chain[1:])
        fused[s.index] = make_step(s.index, FusedConv(layer, bn, act), s.inputs,
                                   chain[-1].output, False)
    result = [fused.get(s.index, s) for s in steps if s.index not in absorbed]
    result = _fuse_residual_adds(result, outputs, make_step)
    _mark_reusable_add_inputs(result, outputs)
    return result


def _fuse_residual_adds(steps, outputs, make_step):
    """``FusedConv`` (no activation, groups 1) whose only reader is a two-input add (with
    or without its ReLU) -> one :class:`FusedConvAdd` at the add's place, so the shortcut
    (which may be computed after the convolution in step order) exists when it runs."""
    readers = {}
    for s in steps:
        for i in s.inputs:
            readers.setdefault(i, []).append(s)
    producer = {s.output: s for s in steps}
    dropped, replaced = set(), {}
    for s in steps:
        if type(s.layer) is FusedAddReLU:
            add, relu = s.layer.layers
        elif type(s.layer) is Add:
            add, relu = s.layer, None
        else:
            continue
        if len(s.inputs) != 2 or s.inputs[0] == s.inputs[1]:
            continue
        for k in (0, 1):
            p = producer.get(s.inputs[k])
            if (p is None or type(p.layer) is not FusedConv or p.layer.activation is not None
                    or p.layer.conv._groups != 1 or p.output in outputs
                    or len(readers[p.output]) != 1 or id(p) in dropped):
                continue
            runner = FusedConvAdd(p.layer, add, relu)
            replaced[id(s)] = make_step(s.index, runner, [p.inputs[0], s.inputs[1 - k]],
                                        s.output, True)
            dropped.add(id(p))
            break
    return [replaced.get(id(s), s) for s in steps if id(s) not in dropped]


# Runners whose output is always a fresh array of their own, never a view of an input,
# a weight or a cached buffer: another step may overwrite it once nothing reads it, and
# reading an array through them never hands it on
_FRESH_OUTPUT = (FusedConv, FusedConvAdd, FusedAddReLU, PackedDense)


def _mark_reusable_add_inputs(steps, outputs):
    """Give each FusedAddReLU an input it may overwrite: one made by a fresh-output runner,
    not a model output (a model input has no producer, so it never qualifies), read once
    by this step and by no later one, and read earlier only by fresh-output runners (a
    layer such as Identity or Flatten could pass the array on under another slot)."""
    producer = {s.output: s for s in steps}
    readers = {}
    for pos, s in enumerate(steps):
        for i in s.inputs:
            readers.setdefault(i, []).append(pos)
    for pos, s in enumerate(steps):
        if type(s.layer) is not FusedAddReLU:
            continue
        s.layer.reuse = None
        for k, i in enumerate(s.inputs):
            p = producer.get(i)
            others = [steps[r] for r in readers[i] if r != pos]
            if (p is not None and isinstance(p.layer, _FRESH_OUTPUT) and i not in outputs
                    and readers[i][-1] == pos and s.inputs.count(i) == 1
                    and all(isinstance(o.layer, _FRESH_OUTPUT) for o in others)):
                s.layer.reuse = k
                break
