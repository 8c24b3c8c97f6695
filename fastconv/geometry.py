"""Geometry rules, in one place: argument normalisation and output sizes.

Output size of a convolution or pooling window sliding over ``size`` pixels::

    out = floor((size + pad_total - dilation * (kernel - 1) - 1) / stride) + 1

(the notes' ``(W - F + 2P) / S + 1``). Pooling with ``ceil_mode`` rounds up instead,
and, as in PyTorch, drops a last window that would start in the right padding.
Every impossible geometry raises ``ValueError`` naming the numbers.
"""
import operator
from collections import namedtuple

from numpy import bool_ as np_bool

# Indices and sizes go to C as 64-bit integers; refuse anything near that limit.
MAX_ELEMENTS = 2 ** 62
# Buffers sized in bytes (the kernels' zero-bordered image copies) must fit a size_t
# even at 8 bytes per element.
MAX_BUFFER_ELEMENTS = MAX_ELEMENTS // 8

ConvGeometry = namedtuple(
    "ConvGeometry",
    "N C H W K R S Ho Wo stride_h stride_w pad_top pad_left pad_bottom pad_right dil_h dil_w",
)
PoolGeometry = namedtuple(
    "PoolGeometry", "N C H W Ho Wo kh kw stride_h stride_w pad_h pad_w"
)


def as_int(value, name, op):
    """``value`` as a Python int; TypeError for bools, floats and non-numbers."""
    if isinstance(value, bool):
        raise TypeError(f"{op}: {name} must be an int, got bool {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}") from None


def pair(value, name, op):
    """An int or a pair of ints as a 2-tuple of ints."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
        return as_int(value[0], name, op), as_int(value[1], name, op)
    v = as_int(value, name, op)
    return v, v


def _check_positive(values, name, op):
    for v in values:
        if v <= 0:
            raise ValueError(f"{op}: {name} must be positive, got {values if len(values) > 1 else v}")
    _check_int64(values, name, op)


def _check_int64(values, name, op):
    """Geometry parameters go to C as int64; products of them must not overflow there."""
    for v in values:
        if abs(v) >= MAX_ELEMENTS:
            raise ValueError(f"{op}: {name} {v} is beyond the 64-bit indexing limit "
                             f"(must be below 2**62)")


def output_size(size, kernel, stride, pad_total, dilation=1, ceil_mode=False, pad_begin=0):
    """Number of window positions along one axis (None if there is none)."""
    span = dilation * (kernel - 1) + 1
    room = size + pad_total - span
    if room < 0:
        return None
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


def check_elements(shape, op, what="output", limit=MAX_ELEMENTS):
    n = 1
    for d in shape:
        n *= int(d)
    if n >= limit:
        raise ValueError(f"{op}: {what} of shape {tuple(shape)} has {n} elements, "
                         f"beyond the 64-bit indexing limit")


def conv2d_geometry(x_shape, w_shape, stride=1, padding=0, dilation=1, op="conv2d"):
    """Validate a convolution's geometry; return a ConvGeometry.

    x_shape (N, C, H, W), w_shape (K, C, R, S). padding: int, pair, 'valid' or 'same'
    ('same' as in PyTorch: stride 1 only, total d*(k-1) per axis, the extra pixel of
    an even kernel at the bottom/right).
    """
    N, C, H, W = x_shape
    K, Cw, R, S = w_shape
    if Cw != C:
        raise ValueError(f"{op}: weight expects {Cw} input channels but x has {C} "
                         f"(x shape {tuple(x_shape)}, weight shape {tuple(w_shape)})")
    for name, v in (("input channels", C), ("height", H), ("width", W),
                    ("number of filters", K), ("kernel height", R), ("kernel width", S)):
        if v <= 0:
            raise ValueError(f"{op}: {name} must be positive, got {v} "
                             f"(x shape {tuple(x_shape)}, weight shape {tuple(w_shape)})")
    sh, sw = pair(stride, "stride", op)
    _check_positive((sh, sw), "stride", op)
    dh, dw = pair(dilation, "dilation", op)
    _check_positive((dh, dw), "dilation", op)
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            pt = pb = pl = pr = 0
        elif mode == "same":
            if (sh, sw) != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {(sh, sw)}")
            th, tw = dh * (R - 1), dw * (S - 1)
            pt, pl = th // 2, tw // 2
            pb, pr = th - pt, tw - pl
        else:
            raise ValueError(f"{op}: padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    else:
        ph, pw = pair(padding, "padding", op)
        if ph < 0 or pw < 0:
            raise ValueError(f"{op}: padding must be >= 0, got {(ph, pw)}")
        _check_int64((ph, pw), "padding", op)
        pt = pb = ph
        pl = pr = pw
    check_elements((N, C, H + pt + pb, W + pl + pr), op, "padded input", MAX_BUFFER_ELEMENTS)
    Ho = output_size(H, R, sh, pt + pb, dh)
    Wo = output_size(W, S, sw, pl + pr, dw)
    if Ho is None or Wo is None:
        raise ValueError(
            f"{op}: kernel {R}x{S} (dilation {(dh, dw)}, spanning {dh * (R - 1) + 1}x{dw * (S - 1) + 1}) "
            f"is larger than the padded input {H + pt + pb}x{W + pl + pr} "
            f"(input {H}x{W}, padding {(pt, pl)}): no valid output")
    check_elements((N, K, Ho, Wo), op)
    check_elements((C * R * S, Ho * Wo), op, "im2col matrix")
    return ConvGeometry(N, C, H, W, K, R, S, Ho, Wo, sh, sw, pt, pl, pb, pr, dh, dw)


def conv_kernel_args(g):
    """The geometry tuple the Cython conv bindings take."""
    return (g.C, g.H, g.W, g.K, g.R, g.S, g.Ho, g.Wo,
            g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dil_h, g.dil_w)


def pool2d_geometry(x_shape, kernel_size, stride=None, padding=0, ceil_mode=False, op="pool2d"):
    """Validate a pooling geometry (PyTorch rules); return a PoolGeometry."""
    N, C, H, W = x_shape
    kh, kw = pair(kernel_size, "kernel_size", op)
    _check_positive((kh, kw), "kernel_size", op)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        sh, sw = kh, kw
    else:
        sh, sw = pair(stride, "stride", op)
        _check_positive((sh, sw), "stride", op)
    ph, pw = pair(padding, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be >= 0, got {(ph, pw)}")
    if 2 * ph > kh or 2 * pw > kw:
        raise ValueError(f"{op}: padding {(ph, pw)} must be at most half the kernel size {(kh, kw)}")
    if not isinstance(ceil_mode, (bool, np_bool)) and not (
            type(ceil_mode) is int and ceil_mode in (0, 1)):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {type(ceil_mode).__name__} {ceil_mode!r}")
    for name, v in (("channels", C), ("height", H), ("width", W)):
        if v <= 0:
            raise ValueError(f"{op}: {name} must be positive, got {v} (x shape {tuple(x_shape)})")
    # Window sums and divisors (up to the padded plane's size) are int64 in C.
    check_elements((H + 2 * ph, W + 2 * pw), op, "padded plane")
    Ho = output_size(H, kh, sh, 2 * ph, 1, bool(ceil_mode), ph)
    Wo = output_size(W, kw, sw, 2 * pw, 1, bool(ceil_mode), pw)
    if Ho is None or Wo is None or Ho <= 0 or Wo <= 0:
        raise ValueError(f"{op}: kernel {kh}x{kw} is larger than the padded input "
                         f"{H + 2 * ph}x{W + 2 * pw} (input {H}x{W}, padding {(ph, pw)}): no valid output")
    check_elements((N, C, Ho, Wo), op)
    return PoolGeometry(N, C, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw)


def pool_kernel_args(g):
    """The geometry tuple the Cython pooling bindings take."""
    return (g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w)
