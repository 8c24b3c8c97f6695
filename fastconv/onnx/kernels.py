"""Interpreter kernels of the ONNX backend: one function per operator, on NCHW arrays.

``kernel(params, inputs, node) -> [outputs]``; ``inputs`` holds ``None`` for an omitted
optional input. Every operator that fastconv has a functional op for computes with it (the
C kernels: convolutions, transposed convolutions and pooling take ONNX's per-side pads
directly); NumPy is used only for pure data movement (reshape, transpose, non-zero Pad, the
frame of a transposed convolution whose output_shape reaches a stride or more past the
full output), broadcasting arithmetic that the functional ops do not do, shape arithmetic, and
HardSigmoid with other than PyTorch's alpha/beta, Clip with other bounds than (0, inf) / (0, 6),
Slice, and Sum/Mean of tensors of different shapes. (The importer's HardSigmoid and Clip layers
compute those two the same way, so import and backend agree bitwise.)
"""
import numpy as np

from .. import functional as F
from ._proto import where

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float(x, node, what="input"):
    if x.dtype not in _FLOATS:
        raise NotImplementedError(f"{where(node)}: {what} has element type {x.dtype}; only "
                                  "float32/float64 are computed")
    return x


def _rank(x, ranks, node, what="input"):
    if x.ndim not in ranks:
        raise NotImplementedError(f"{where(node)}: {what} of shape {x.shape} is not supported "
                                  f"(rank {' or '.join(map(str, ranks))} only)")
    return x


def _same_dtype(a, b, node):
    if a.dtype != b.dtype:
        raise ValueError(f"{where(node)}: inputs have types {a.dtype} and {b.dtype}")


# ----------------------------------------------------------------- convolution / pooling

def _pads(p, x, kernel):
    from .ops import resolve_pads   # ops imports this module
    return resolve_pads(p, x.shape[2:], kernel)


def _weight(p, x, w, node):
    _rank(_float(x, node), (4,), node)
    _rank(w, (4,), node, "weight")
    _same_dtype(x, w, node)
    if p["kernel_shape"] is not None and tuple(p["kernel_shape"]) != w.shape[2:]:
        raise ValueError(f"{where(node)}: kernel_shape {p['kernel_shape']} does not match the "
                         f"weight {w.shape}")


def conv(p, xs, node):
    x, w, b = xs[0], xs[1], xs[2] if len(xs) > 2 else None
    _weight(p, x, w, node)
    g = p["group"]
    if x.shape[1] != w.shape[1] * g or w.shape[0] % g:
        raise ValueError(f"{where(node)}: input {x.shape} and weight {w.shape} do not fit "
                         f"group={g}")
    return [F.conv2d(x, w, b, p["strides"], _pads(p, x, w.shape[2:]), p["dilations"], g)]


def conv_transpose(p, xs, node):
    from .ops import transpose_crop   # ops imports this module
    x, w, b = xs[0], xs[1], xs[2] if len(xs) > 2 else None
    _weight(p, x, w, node)
    g = p["group"]
    if x.shape[1] != w.shape[0] or x.shape[1] % g:
        raise ValueError(f"{where(node)}: input {x.shape} and weight {w.shape} do not fit "
                         f"group={g} (the weight is (C, K / group, kh, kw))")
    s, d = p["strides"], p["dilations"]
    crop = transpose_crop(p, x.shape[2:], w.shape[2:], p["output_padding"])
    if not all(begin >= 0 and -end < max(ss, dd) for (begin, end), ss, dd in zip(crop, s, d)):
        # ONNX Runtime refuses these too: output_shape / pads / output_padding inconsistent
        # with the input size
        raise ValueError(f"{where(node)}: attributes pads={p['pads']}, output_padding="
                         f"{list(p['output_padding'])}, output_shape={p['output_shape']}, "
                         f"auto_pad={p['auto_pad']!r} put the output before the start of the "
                         "full transposed convolution or a stride or more past its end")
    # the kernel crops each side and extends the end by less than the stride
    pads = tuple((begin, max(end, 0)) for begin, end in crop)
    extra = tuple(max(-end, 0) for _, end in crop)
    return [F.conv_transpose2d(x, w, b, s, pads, extra, g, d)]


def max_pool(p, xs, node):
    x = _rank(_float(xs[0], node), (4,), node)
    k = p["kernel_shape"]
    return [F.max_pool2d(x, k, p["strides"], _pads(p, x, k), p["ceil_mode"],
                         dilation=p["dilations"])]


def avg_pool(p, xs, node):
    x = _rank(_float(xs[0], node), (4,), node)
    k = p["kernel_shape"]
    if tuple(p["dilations"]) != (1, 1):
        return [_dilated_avg_pool(p, x, k, node)]
    return [F.avg_pool2d(x, k, p["strides"], _pads(p, x, k), p["ceil_mode"],
                         p["count_include_pad"])]


def _dilated_avg_pool(p, x, k, node=None):
    """Dilated average pooling on the depthwise convolution kernel: the sum of each window's
    taps, divided by the number of taps counted (all of them, or only those inside the image
    when count_include_pad is 0). ceil_mode is honoured where it adds no partial window."""
    pads, d, s = _pads(p, x, k), tuple(p["dilations"]), p["strides"]
    if p["ceil_mode"]:
        for n, kk, ss, dd, (pb, pa) in zip(x.shape[2:], k, s, d, pads):
            if (n + pb + pa - dd * (kk - 1) - 1) % ss:
                raise NotImplementedError(
                    f"{where(node)}: AveragePool with 'dilations'={list(d)} and ceil_mode=1 "
                    "needs partial windows, which are not supported")
    c = x.shape[1]
    taps = np.ones((c, 1) + tuple(k), dtype=x.dtype)
    total = F.conv2d(np.ascontiguousarray(x), taps, None, s, pads, d, c)
    if p["count_include_pad"]:
        return total / x.dtype.type(k[0] * k[1])
    inside = F.conv2d(np.ones((1, 1) + x.shape[2:], dtype=x.dtype),
                      np.ones((1, 1) + tuple(k), dtype=x.dtype), None, s, pads, d)
    return total / inside


def global_avg_pool(p, xs, node):
    x = _rank(_float(xs[0], node), (4,), node)
    return [F.global_avg_pool2d(x)[:, :, None, None]]


def global_max_pool(p, xs, node):
    x = _rank(_float(xs[0], node), (4,), node)
    return [F.global_max_pool2d(x)[:, :, None, None]]


def batch_norm(p, xs, node):
    x = _rank(_float(xs[0], node), (2, 3, 4), node)
    x4 = x.reshape(x.shape[:2] + x.shape[2:] + (1,) * (4 - x.ndim))
    c = x.shape[1]
    args = []
    for name, a in zip(("scale", "B", "input_mean", "input_var"), xs[1:5]):
        if a.shape != (c,):
            raise ValueError(f"{where(node)}: {name} must have shape ({c},), got {a.shape}")
        args.append(np.ascontiguousarray(a, dtype=x.dtype))
    y = F.batch_norm2d(x4, args[0], args[1], args[2], args[3], False, 1.0 - p["momentum"],
                       p["epsilon"])
    return [y.reshape(x.shape)]


# ----------------------------------------------------------------- activations

def _unary(f):
    def kernel(p, xs, node):
        return [f(_float(xs[0], node))]
    return kernel


relu = _unary(F.relu)
sigmoid = _unary(F.sigmoid)
tanh = _unary(F.tanh)


def leaky_relu(p, xs, node):
    return [F.leaky_relu(_float(xs[0], node), p["alpha"])]


def elu(p, xs, node):
    return [F.elu(_float(xs[0], node), p["alpha"])]


def _softmax_like(f):
    def kernel(p, xs, node):
        x = _float(xs[0], node)
        axis = p["axis"]
        if not -x.ndim <= axis < x.ndim:
            raise ValueError(f"{where(node)}: axis {axis} is out of range for shape {x.shape}")
        axis %= x.ndim
        if p["coerce_2d"]:
            # before opset 13: softmax of the matrix (prod(shape[:axis]), prod(shape[axis:]))
            rows = int(np.prod(x.shape[:axis], dtype=np.int64))
            return [f(x.reshape(rows, -1), axis=1).reshape(x.shape)]
        return [f(x, axis=axis)]
    return kernel


softmax = _softmax_like(F.softmax)
log_softmax = _softmax_like(F.log_softmax)


def is_torch_hardsigmoid(alpha, beta):
    """True for HardSigmoid(alpha=1/6, beta=1/2): ``functional.hardsigmoid`` (PyTorch's)."""
    return np.float32(alpha) == np.float32(1 / 6) and beta == 0.5


def hard_sigmoid_of(x, alpha, beta):
    """``clip(alpha x + beta, 0, 1)`` in x's dtype (shared with the HardSigmoid layer, so
    import and backend agree bitwise)."""
    if is_torch_hardsigmoid(alpha, beta):
        return F.hardsigmoid(x)
    return np.clip(x * x.dtype.type(alpha) + x.dtype.type(beta), 0, 1)


def hard_sigmoid(p, xs, node):
    return [hard_sigmoid_of(_float(xs[0], node), p["alpha"], p["beta"])]


hard_swish = _unary(F.hardswish)
softplus = _unary(F.softplus)


_ERF = np.frompyfunc(__import__("math").erf, 1, 1)


def erf(p, xs, node):
    x = _float(xs[0], node)
    return [_ERF(x).astype(x.dtype)]


def gelu(p, xs, node):
    return [F.gelu(_float(xs[0], node), p["approximate"])]


def _scalar(v, node, what):
    if v is None:
        return None
    v = np.asarray(v)
    if v.size != 1 or v.ndim > 1:
        raise ValueError(f"{where(node)}: {what} must be a scalar, got shape {v.shape}")
    return v.reshape(())


def clip(p, xs, node):
    x = xs[0]
    if "min" in p:
        lo, hi = p["min"], p["max"]
    else:
        lo = _scalar(xs[1] if len(xs) > 1 else None, node, "min")
        hi = _scalar(xs[2] if len(xs) > 2 else None, node, "max")
    if x.dtype in _FLOATS and lo is not None and float(lo) == 0.0:
        if hi is None:
            return [F.relu(x)]
        if float(hi) == 6.0:
            return [F.relu6(x)]
    return [clip_of(x, lo, hi)]


def clip_of(x, lo, hi):
    """A copy of ``x`` bounded below by ``lo`` and above by ``hi`` (either None: no bound)
    in x's dtype; maximum/minimum, not np.clip, so NaN stays NaN (shared with the Clip
    layer, so import and backend agree bitwise)."""
    y = x.copy()
    if lo is not None:
        np.maximum(y, np.asarray(lo, x.dtype), out=y)
    if hi is not None:
        np.minimum(y, np.asarray(hi, x.dtype), out=y)
    return y


# ----------------------------------------------------------------- linear algebra

def gemm(p, xs, node):
    a, b = _float(xs[0], node), xs[1]
    c = xs[2] if len(xs) > 2 else None
    _rank(a, (2,), node, "A")
    _rank(b, (2,), node, "B")
    _same_dtype(a, b, node)
    a = a.T if p["transA"] else a
    weight = b if p["transB"] else b.T          # F.linear takes (out, in)
    if a.shape[1] != weight.shape[1]:
        raise ValueError(f"{where(node)}: A {xs[0].shape} and B {b.shape} do not multiply "
                         f"(transA={int(p['transA'])}, transB={int(p['transB'])})")
    bias = None
    if c is not None and p["beta"] == 1.0 and p["alpha"] == 1.0 and c.shape == (weight.shape[0],):
        bias, c = np.ascontiguousarray(c, a.dtype), None
    y = F.linear(np.ascontiguousarray(a), np.ascontiguousarray(weight), bias)
    if p["alpha"] != 1.0:
        y *= y.dtype.type(p["alpha"])
    if c is not None:
        try:
            y += (c * c.dtype.type(p["beta"])).astype(y.dtype)
        except ValueError:
            raise ValueError(f"{where(node)}: C {c.shape} does not broadcast to "
                             f"{y.shape}") from None
    return [y]


def matmul(p, xs, node):
    a, b = _float(xs[0], node), xs[1]
    _rank(a, (2,), node, "A")
    _rank(b, (2,), node, "B")
    _same_dtype(a, b, node)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"{where(node)}: A {a.shape} and B {b.shape} do not multiply")
    return [F.linear(a, np.ascontiguousarray(b.T))]


# ----------------------------------------------------------------- element-wise

def legacy_operand(p, a_shape, b, node):
    """The second operand of an opset-6 Add/Sub/Mul/Div aligned for NumPy broadcasting:
    ``broadcast=1, axis=k`` puts its dimensions at ``k``; without ``broadcast`` the shapes
    must be equal. Opset 7 and later use NumPy's rules as they are."""
    if "broadcast" not in p:
        return b
    shape = tuple(b.shape)
    if not p["broadcast"]:
        if shape != tuple(a_shape):
            raise ValueError(f"{where(node)}: shapes {tuple(a_shape)} and {shape} differ and "
                             "broadcast=0 (opset 6)")
        return b
    axis = p["axis"]
    if axis is None:
        axis = len(a_shape) - len(shape)
    if axis < 0:
        axis += len(a_shape)
    if not 0 <= axis <= len(a_shape) - len(shape) or any(
            s not in (1, t) for s, t in zip(shape, a_shape[axis:])):
        raise ValueError(f"{where(node)}: shape {shape} does not broadcast to {tuple(a_shape)}"
                         f" at axis {p['axis']}")
    return b.reshape(shape + (1,) * (len(a_shape) - axis - len(shape)))


def _broadcast(f_same, np_op):
    def kernel(p, xs, node):
        a, b = xs[0], legacy_operand(p, xs[0].shape, xs[1], node)
        if a.dtype != b.dtype:
            raise ValueError(f"{where(node)}: inputs have types {a.dtype} and {b.dtype}")
        if f_same is not None and a.shape == b.shape and a.dtype in _FLOATS and a.ndim:
            return [f_same([a, b])]
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            raise ValueError(f"{where(node)}: shapes {a.shape} and {b.shape} do not "
                             "broadcast") from None
        return [np.asarray(np_op(a, b), dtype=a.dtype)]
    return kernel


def _variadic(f_same, np_op, scale):
    """Sum / Mean of one or more tensors (NumPy broadcasting)."""
    def kernel(p, xs, node):
        if any(a is None for a in xs):
            raise ValueError(f"{where(node)}: an input is missing")
        a0 = xs[0]
        if any(a.dtype != a0.dtype for a in xs):
            raise ValueError(f"{where(node)}: inputs have types {[str(a.dtype) for a in xs]}")
        if len(xs) > 1 and a0.dtype in _FLOATS and a0.ndim and \
                all(a.shape == a0.shape for a in xs):
            return [f_same(list(xs))]
        try:
            shape = np.broadcast_shapes(*(a.shape for a in xs))
        except ValueError:
            raise ValueError(f"{where(node)}: shapes {[a.shape for a in xs]} do not "
                             "broadcast") from None
        y = np.zeros(shape, a0.dtype)
        for a in xs:
            y = np_op(y, a)
        if scale and len(xs) > 1:
            y = y / len(xs)
        return [np.asarray(y, dtype=a0.dtype)]
    return kernel


def _divide(a, b):
    if a.dtype.kind in "iu":
        if np.any(b == 0):
            raise ValueError("integer division by zero")
        return np.trunc(a / b)     # ONNX integer division truncates toward zero
    return np.true_divide(a, b)


add = _broadcast(F.add, np.add)
sub = _broadcast(F.subtract, np.subtract)
mul = _broadcast(F.multiply, np.multiply)
div = _broadcast(None, _divide)
sum_ = _variadic(F.add, np.add, False)
mean = _variadic(F.average, np.add, True)


# ----------------------------------------------------------------- shape

def _axis(axis, ndim, node, extra=0):
    if not -(ndim + extra) <= axis < ndim + extra:
        raise ValueError(f"{where(node)}: axis {axis} is out of range for rank {ndim}")
    return axis % (ndim + extra)


def flatten(p, xs, node):
    x = xs[0]
    axis = p["axis"]
    if not -x.ndim <= axis <= x.ndim:     # Flatten accepts [-r, r]
        raise ValueError(f"{where(node)}: axis {axis} is out of range for rank {x.ndim}")
    axis = axis + x.ndim if axis < 0 else axis
    if axis == 1 and x.dtype in _FLOATS:
        return [F.flatten(x)]
    rows = int(np.prod(x.shape[:axis], dtype=np.int64))
    return [x.reshape(rows, -1) if rows else x.reshape(0, int(np.prod(x.shape[axis:])))]


def target_shape(shape, in_shape, allowzero, node):
    """ONNX Reshape's target: 0 copies the input's dimension (unless allowzero), one -1 is
    inferred. Returns a tuple of ints."""
    shape = np.asarray(shape)
    if shape.ndim != 1 or shape.dtype.kind not in "iu":
        raise ValueError(f"{where(node)}: shape must be a 1-D integer tensor, got "
                         f"{shape.dtype} {shape.shape}")
    out = [int(s) for s in shape]
    if sum(1 for s in out if s == -1) > 1 or any(s < -1 for s in out):
        raise ValueError(f"{where(node)}: invalid target shape {out}")
    for i, s in enumerate(out):
        if s == 0 and not allowzero:
            if i >= len(in_shape):
                raise ValueError(f"{where(node)}: shape {out} copies dimension {i} of an input "
                                 f"of rank {len(in_shape)}")
            out[i] = in_shape[i]
    n = int(np.prod(in_shape, dtype=np.int64))
    if -1 in out:
        known = int(np.prod([s for s in out if s != -1], dtype=np.int64))
        if known == 0 or n % known:
            raise ValueError(f"{where(node)}: cannot reshape {tuple(in_shape)} to {out}")
        out[out.index(-1)] = n // known
    if int(np.prod(out, dtype=np.int64)) != n:
        raise ValueError(f"{where(node)}: cannot reshape {tuple(in_shape)} to {out}")
    return tuple(out)


def reshape(p, xs, node):
    x = xs[0]
    return [x.reshape(target_shape(xs[1], x.shape, p["allowzero"], node))]


def transpose(p, xs, node):
    x = xs[0]
    perm = p["perm"] if p["perm"] is not None else list(range(x.ndim))[::-1]
    if sorted(perm) != list(range(x.ndim)):
        raise ValueError(f"{where(node)}: perm {perm} is not a permutation of {x.ndim} axes")
    return [np.ascontiguousarray(x.transpose(perm))]


def concat(p, xs, node):
    if any(a is None for a in xs):
        raise ValueError(f"{where(node)}: an input is missing")
    axis = _axis(p["axis"], xs[0].ndim, node)
    if axis and xs[0].dtype in _FLOATS and len(xs) > 1:
        return [F.concatenate(list(xs), axis=axis)]
    try:
        return [np.concatenate(xs, axis=axis)]
    except ValueError as exc:
        raise ValueError(f"{where(node)}: {exc}") from None


def pad(p, xs, node):
    x = xs[0]
    if "pads" in p:
        pads, value, axes = p["pads"], p["value"], None
    else:
        pads = xs[1] if len(xs) > 1 else None
        value = _scalar(xs[2] if len(xs) > 2 else None, node, "constant_value")
        axes = xs[3] if len(xs) > 3 else None
        if pads is None:
            raise ValueError(f"{where(node)}: the pads input is required")
    pads = [int(v) for v in np.asarray(pads).reshape(-1)]
    axes = list(range(x.ndim)) if axes is None else \
        [_axis(int(a), x.ndim, node) for a in np.asarray(axes).reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise ValueError(f"{where(node)}: {len(pads)} pads for {len(axes)} axes")
    value = 0.0 if value is None else value
    begin, end = [0] * x.ndim, [0] * x.ndim
    for i, a in enumerate(axes):
        begin[a], end[a] = pads[i], pads[len(axes) + i]
    if (x.ndim == 4 and x.dtype in _FLOATS and float(value) == 0.0 and min(begin + end) >= 0
            and begin[:2] == [0, 0] and end[:2] == [0, 0]):
        return [F.zero_pad2d(x, ((begin[2], end[2]), (begin[3], end[3])))]
    # negative pads crop
    index = tuple(slice(-b if b < 0 else 0, x.shape[i] + e if e < 0 else None)
                  for i, (b, e) in enumerate(zip(begin, end)))
    x = x[index]
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    return [np.pad(x, widths, constant_values=np.asarray(value, x.dtype))]


def slice_window(p, xs, shape, node, value=None):
    """``[(start, stop, step)]`` per axis of a tensor of ``shape`` for a Slice node
    (ONNX's clamping rules); ``value(i)`` gives the constant input ``i`` (None if absent)."""
    value = value or (lambda i: xs[i] if len(xs) > i else None)
    if "starts" in p:
        starts, ends, axes, steps = p["starts"], p["ends"], p["axes"], None
    else:
        starts, ends, axes, steps = value(1), value(2), value(3), value(4)
        if starts is None or ends is None:
            raise ValueError(f"{where(node)}: the starts and ends inputs are required")
    ints = []
    for name, v in (("starts", starts), ("ends", ends), ("axes", axes), ("steps", steps)):
        if v is not None:
            v = np.asarray(v)
            if v.dtype.kind not in "iu" or v.ndim > 1:
                raise ValueError(f"{where(node)}: {name} must be a 1-D integer tensor")
            v = [int(a) for a in v.reshape(-1)]
        ints.append(v)
    starts, ends, axes, steps = ints
    rank = len(shape)
    axes = list(range(len(starts))) if axes is None else [_axis(a, rank, node) for a in axes]
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps) or len(set(axes)) != len(axes):
        raise ValueError(f"{where(node)}: starts/ends/axes/steps do not match")
    window = [(0, n, 1) for n in shape]
    for a, b, e, st in zip(axes, starts, ends, steps):
        if st == 0:
            raise ValueError(f"{where(node)}: a step is 0")
        n = shape[a]
        b, e = (b + n if b < 0 else b), (e + n if e < 0 else e)
        if st > 0:
            b, e = min(max(b, 0), n), min(max(e, 0), n)
        else:
            b, e = min(max(b, 0), n - 1), min(max(e, -1), n - 1)
        window[a] = (b, e, st)
    return window


def slice_(p, xs, node):
    x = xs[0]
    window = slice_window(p, xs, x.shape, node)
    index = tuple(slice(b, None if e < 0 else e, st) for b, e, st in window)
    return [np.ascontiguousarray(x[index])]


def resize(p, xs, node):
    from .resize import plan, scales_sizes  # noqa: PLC0415
    x = _float(xs[0], node)
    scales, sizes = scales_sizes(p, xs, node)
    kwargs, _, _ = plan(p, x.shape, scales, sizes, node)
    return [F.interpolate(x, **kwargs)]


def dropout(p, xs, node):
    training = xs[2] if len(xs) > 2 else None
    if training is not None and bool(np.asarray(training).reshape(-1)[0]):
        raise NotImplementedError(f"{where(node)}: training_mode=True is not supported "
                                  "(inference only)")
    x = xs[0]
    return [x.copy(), np.ones(x.shape, dtype=bool)]


def identity(p, xs, node):
    return [xs[0]]


def constant_value(A, name):
    """The value of a Constant node's attribute ``name``."""
    if name == "value":
        return A.tensor("value")
    if name == "value_float":
        return np.array(A.float(name), np.float32)
    if name == "value_floats":
        return np.array(A.floats(name), np.float32)
    if name == "value_int":
        return np.array(A.int(name), np.int64)
    return np.array(A.ints(name), np.int64)


def constant(p, xs, node):
    return [p["value"]]


def shape(p, xs, node):
    s = np.array(xs[0].shape, np.int64)
    end = p["end"] if p["end"] is not None else len(s)
    return [s[p["start"]:end].copy()]


def gather(p, xs, node):
    data, idx = xs
    if idx.dtype.kind not in "iu":
        raise ValueError(f"{where(node)}: indices must be integers, got {idx.dtype}")
    axis = _axis(p["axis"], data.ndim, node)
    n = data.shape[axis]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise ValueError(f"{where(node)}: an index is out of range for size {n}")
    return [np.take(data, np.where(idx < 0, idx + n, idx), axis=axis)]


def unsqueeze(p, xs, node):
    x = xs[0]
    axes = p["axes"] if p["axes"] is not None else \
        [int(a) for a in np.asarray(xs[1] if len(xs) > 1 else []).reshape(-1)]
    if not axes:
        raise ValueError(f"{where(node)}: axes are required")
    rank = x.ndim + len(axes)
    axes = sorted(_axis(a, rank, node) for a in axes)
    if len(set(axes)) != len(axes):
        raise ValueError(f"{where(node)}: repeated axes {axes}")
    for a in axes:
        x = np.expand_dims(x, a)
    return [x]


CAST_TYPES = {1: np.float32, 11: np.float64, 6: np.int32, 7: np.int64, 9: np.bool_}


def cast(p, xs, node):
    return [xs[0].astype(CAST_TYPES[p["to"]])]
