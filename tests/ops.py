"""One table of functional ops (OpInfo style) that the generic tests loop over.

A row says how to draw inputs for an op (a hypothesis strategy per dtype), how to call its
forward and backward in ``fastconv.functional`` and ``fastconv.reference`` (same names),
what its PyTorch twin is, and how many terms each output sums (for the tolerances).
``tests/test_ops_table.py`` runs, for every row: functional vs reference forward and
backward over drawn shapes (both dtypes), float64 finite differences of the backward,
reference vs PyTorch (float64), bitwise determinism across thread counts, and hostile
arguments (a list instead of an array, integer data, a wrong number of dimensions).
A new op costs one row here.
"""
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
from hypothesis import strategies as st


@dataclass
class OpInfo:
    name: str
    #: draw(dtype) -> strategy of (inputs: list of arrays, opts: dict)
    sample: Callable
    #: forward(module, inputs, opts) -> array
    forward: Callable
    #: backward(module, grad_out, inputs, opts) -> list of gradients, one per input
    backward: Callable
    #: torch twin: torch_forward(torch, tensors, opts) -> tensor, or None
    torch_forward: Optional[Callable] = None
    #: indices of the inputs to check by finite differences
    diff_inputs: tuple = (0,)
    #: ndim of the first input (for the hostile-input cases)
    ndim: int = 4
    names: tuple = field(default_factory=tuple)   # public names the row covers
    #: True for element-wise ops, which take arrays of any number of dimensions
    any_ndim: bool = False
    #: tolerance of the reference against PyTorch (float64)
    torch_rtol: float = 1e-10


def _images(min_side=1, max_side=7, max_c=4, max_n=3):
    return st.tuples(st.integers(1, max_n), st.integers(1, max_c),
                     st.integers(min_side, max_side), st.integers(min_side, max_side))


def _arrays(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def _merge_sample(count_lo=2, count_hi=4):
    def sample(dtype):
        return st.builds(
            lambda shape, k, seed: (_arrays([shape] * k, dtype, seed), {}),
            _images(), st.integers(count_lo, count_hi), st.integers(0, 2 ** 16))
    return sample


def _merge_row(name, torch_fn, count_hi=4):
    return OpInfo(
        name=name, sample=_merge_sample(2, count_hi),  # inputs: 2..count_hi arrays
        forward=lambda m, xs, o: getattr(m, name)(xs),
        backward=lambda m, g, xs, o: getattr(m, name + "_backward")(g, xs),
        torch_forward=torch_fn, diff_inputs=(0, 1),
        names=(name, name + "_backward"))


def _concat_sample(dtype):
    @st.composite
    def draw(d):
        n, _, h, w = d(_images())
        widths = d(st.lists(st.integers(1, 4), min_size=2, max_size=4))
        seed = d(st.integers(0, 2 ** 16))
        return _arrays([(n, c, h, w) for c in widths], dtype, seed), {"axis": 1}
    return draw()


def _pad_sample(dtype, crop=False):
    @st.composite
    def draw(d):
        shape = d(_images(min_side=3 if crop else 1))
        if crop:
            t = d(st.integers(0, (shape[2] - 1) // 2))
            b = d(st.integers(0, shape[2] - 1 - t - 1))
            l = d(st.integers(0, (shape[3] - 1) // 2))
            r = d(st.integers(0, shape[3] - 1 - l - 1))
        else:
            t, b, l, r = (d(st.integers(0, 3)) for _ in range(4))
        form = d(st.sampled_from(["sides", "pair", "int"]))
        sides = ((t, b), (l, r)) if form == "sides" else (t, l) if form == "pair" else t
        if crop and form != "sides":   # the symmetric forms must still leave a pixel
            th, tw = (t, l) if form == "pair" else (t, t)
            if 2 * th >= shape[2] or 2 * tw >= shape[3]:
                sides = ((t, b), (l, r))
        return _arrays([shape], dtype, d(st.integers(0, 2 ** 16))), {"sides": sides}
    return draw()


def _torch_pad(torch, ts, o):
    s = o["sides"]
    (t, b), (l, r) = (s if isinstance(s[0], tuple) else ((s[0], s[0]), (s[1], s[1])))\
        if isinstance(s, tuple) else ((s, s), (s, s))
    return torch.nn.functional.pad(ts[0], (l, r, t, b))


def _torch_crop(torch, ts, o):
    s = o["sides"]
    (t, b), (l, r) = (s if isinstance(s[0], tuple) else ((s[0], s[0]), (s[1], s[1])))\
        if isinstance(s, tuple) else ((s, s), (s, s))
    x = ts[0]
    return x[:, :, t:x.shape[2] - b, l:x.shape[3] - r]


def _stack_reduce(fn):
    return lambda torch, ts, o: fn(torch, torch.stack(ts))


def _elementwise_row(name, torch_fn, torch_rtol=1e-10, **opts):
    """An activation f(x, **opts) with f_backward(grad_out, x, **opts)."""
    def sample(dtype):
        # values away from the kinks (0, +-3, 6), where finite differences are meaningless
        def away(shape, seed):
            x = _arrays([shape], dtype, seed)[0] * 4
            for k in (0.0, 3.0, -3.0, 6.0):
                near = np.abs(x - k) < 1e-3
                x[near] += 2e-3
            return [x], dict(opts)
        return st.builds(away, _images(), st.integers(0, 2 ** 16))
    return OpInfo(
        name=name, sample=sample,
        forward=lambda m, xs, o: getattr(m, name)(xs[0], **o),
        backward=lambda m, g, xs, o: [getattr(m, name + "_backward")(g, xs[0], **o)],
        torch_forward=torch_fn, names=(name, name + "_backward"), any_ndim=True,
        torch_rtol=torch_rtol)


def _tf(fn_name, **kw):
    return lambda torch, ts, o: getattr(torch.nn.functional, fn_name)(ts[0], **kw)


OPS = [
    _elementwise_row("relu", _tf("relu")),
    _elementwise_row("leaky_relu", _tf("leaky_relu", negative_slope=0.1), negative_slope=0.1),
    _elementwise_row("sigmoid", lambda torch, ts, o: torch.sigmoid(ts[0])),
    _elementwise_row("tanh", lambda torch, ts, o: torch.tanh(ts[0])),
    _elementwise_row("elu", _tf("elu", alpha=0.7), alpha=0.7),
    _elementwise_row("relu6", _tf("relu6")),
    # PyTorch's hardsigmoid backward multiplies by a float32 1/6 even in float64
    _elementwise_row("hardsigmoid", _tf("hardsigmoid"), torch_rtol=1e-7),
    _elementwise_row("hardswish", _tf("hardswish")),
    _elementwise_row("silu", _tf("silu")),
    _elementwise_row("gelu", _tf("gelu")),
    _elementwise_row("softplus", _tf("softplus", beta=2.0, threshold=10.0), beta=2.0,
                     threshold=10.0),
    _merge_row("add", _stack_reduce(lambda torch, s: s.sum(0))),
    _merge_row("subtract", lambda torch, ts, o: ts[0] - ts[1], count_hi=2),
    _merge_row("multiply", _stack_reduce(lambda torch, s: s.prod(0))),
    _merge_row("average", _stack_reduce(lambda torch, s: s.mean(0))),
    OpInfo(name="concatenate", sample=_concat_sample,
           forward=lambda m, xs, o: m.concatenate(xs, **o),
           backward=lambda m, g, xs, o: m.concatenate_backward(g, xs, **o),
           torch_forward=lambda torch, ts, o: torch.cat(ts, dim=o["axis"]),
           diff_inputs=(0, 1), names=("concatenate", "concatenate_backward")),
    OpInfo(name="global_avg_pool2d",
           sample=lambda dtype: st.builds(lambda s, seed: (_arrays([s], dtype, seed), {}),
                                          _images(), st.integers(0, 2 ** 16)),
           forward=lambda m, xs, o: m.global_avg_pool2d(xs[0]),
           backward=lambda m, g, xs, o: [m.global_avg_pool2d_backward(g, xs[0])],
           torch_forward=lambda torch, ts, o: ts[0].mean(dim=(2, 3)),
           names=("global_avg_pool2d", "global_avg_pool2d_backward")),
    OpInfo(name="global_max_pool2d",
           sample=lambda dtype: st.builds(lambda s, seed: (_arrays([s], dtype, seed), {}),
                                          _images(), st.integers(0, 2 ** 16)),
           forward=lambda m, xs, o: m.global_max_pool2d(xs[0]),
           backward=lambda m, g, xs, o: [m.global_max_pool2d_backward(g, xs[0])],
           torch_forward=lambda torch, ts, o: ts[0].amax(dim=(2, 3)),
           names=("global_max_pool2d", "global_max_pool2d_backward")),
    OpInfo(name="zero_pad2d", sample=lambda dtype: _pad_sample(dtype),
           forward=lambda m, xs, o: m.zero_pad2d(xs[0], o["sides"]),
           backward=lambda m, g, xs, o: [m.zero_pad2d_backward(g, xs[0], o["sides"])],
           torch_forward=_torch_pad, names=("zero_pad2d", "zero_pad2d_backward")),
    OpInfo(name="crop2d", sample=lambda dtype: _pad_sample(dtype, crop=True),
           forward=lambda m, xs, o: m.crop2d(xs[0], o["sides"]),
           backward=lambda m, g, xs, o: [m.crop2d_backward(g, xs[0], o["sides"])],
           torch_forward=_torch_crop, names=("crop2d", "crop2d_backward")),
]

#: every public functional name some row covers
COVERED = {n for op in OPS for n in op.names}
