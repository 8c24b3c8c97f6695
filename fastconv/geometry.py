"""Geometry rules, in one place: argument normalisation and output sizes.

Output size of a convolution or pooling window sliding over ``size`` pixels::

    out = floor((size + pad_total - dilation * (kernel - 1) - 1) / stride) + 1

(the textbook ``(W - F + 2P) / S + 1``). Pooling with ``ceil_mode`` rounds up instead,
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
# pad_h / pad_w are the top / left padding; exclude_pad: pad cells never count in an
# average (padding='same').
PoolGeometry = namedtuple(
    "PoolGeometry",
    "N C H W Ho Wo kh kw stride_h stride_w pad_h pad_w pad_bottom pad_right dil_h dil_w exclude_pad",
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
    if room < 0 and not ceil_mode:
        return None
    # Python's // floors: with ceil_mode a window overhanging the padded input by less
    # than a stride still counts (PyTorch's rule).
    out = (room + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out if out >= 1 else None


def check_elements(shape, op, what="output", limit=MAX_ELEMENTS):
    n = 1
    for d in shape:
        n *= int(d)
    if n >= limit:
        raise ValueError(f"{op}: {what} of shape {tuple(shape)} has {n} elements, "
                         f"beyond the 64-bit indexing limit")


def _side_pair(value, name, op):
    """One axis of per-side padding, ``(before, after)``, as two ints >= 0."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{op}: {name} must be an int, a pair, a pair of (before, after) pairs, "
                         f"'valid' or 'same', got {value!r}")
    return as_int(value[0], name, op), as_int(value[1], name, op)


def explicit_padding(padding, op, name="padding"):
    """An explicit padding as per-side ``((top, bottom), (left, right))``.

    ``padding`` is an int (every side), a pair ``(ph, pw)`` (top = bottom = ph,
    left = right = pw) or ``((top, bottom), (left, right))``. Negative values raise.
    """
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and any(
            isinstance(v, (tuple, list)) for v in padding):
        sides = (_side_pair(padding[0], name, op), _side_pair(padding[1], name, op))
    else:
        ph, pw = pair(padding, name, op)
        sides = ((ph, ph), (pw, pw))
    flat = sides[0] + sides[1]
    if min(flat) < 0:
        shown = (sides[0][0], sides[1][0]) if sides[0][0] == sides[0][1] and sides[1][0] == sides[1][1] \
            else sides
        raise ValueError(f"{op}: {name} must be >= 0, got {shown}")
    _check_int64(flat, name, op)
    return sides


def keras_padding(in_hw, kernel, stride=1, dilation=1, mode="same"):
    """Keras's ``'valid'`` / ``'same'`` padding as per-side ``((top, bottom), (left, right))``.

    Keras's 'same' (any stride): ``out = ceil(in / stride)``, total padding
    ``max((out - 1) * stride + (kernel - 1) * dilation + 1 - in, 0)``, ``total // 2`` at the
    top/left and the rest at the bottom/right. 'valid' is no padding. The result goes
    straight to ``conv2d`` / pooling as their ``padding`` (no padded copy of the input).
    """
    op = "keras_padding"
    if not isinstance(mode, str) or mode.lower() not in ("same", "valid"):
        raise ValueError(f"{op}: mode must be 'same' or 'valid', got {mode!r}")
    hw = pair(in_hw, "in_hw", op)
    ks = pair(kernel, "kernel", op)
    ss = pair(stride, "stride", op)
    ds = pair(dilation, "dilation", op)
    for name, v in (("in_hw", hw), ("kernel", ks), ("stride", ss), ("dilation", ds)):
        _check_positive(v, name, op)
    if mode.lower() == "valid":
        return (0, 0), (0, 0)
    sides = []
    for n, k, s, d in zip(hw, ks, ss, ds):
        out = -(-n // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
        sides.append((total // 2, total - total // 2))
    return tuple(sides)


def conv_padding(padding, kernel, stride, dilation, op):
    """conv2d's ``padding`` argument as per-side ``((top, bottom), (left, right))``.

    int, pair, per-side pairs, 'valid', or 'same' (as in PyTorch: stride 1 only, total
    ``d*(k-1)`` per axis, the extra pixel of an even kernel at the bottom/right).
    """
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            if tuple(stride) != (1, 1):
                raise ValueError(f"{op}: padding='same' needs stride 1, got stride {tuple(stride)}")
            th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return (th // 2, th - th // 2), (tw // 2, tw - tw // 2)
        raise ValueError(f"{op}: padding must be an int, a pair, a pair of (before, after) pairs, "
                         f"'valid' or 'same', got {padding!r}")
    return explicit_padding(padding, op)


# Geometries already validated, by their exact arguments: a small batch's convolution
# spent as long checking its options as computing (one 16x16 image, 32 -> 64 channels:
# ~10 us of 50). Only plain ints, strings and tuples of them are keys (True == 1 must not
# reuse stride 1's answer); the table is emptied when full.
_GEOMETRIES = {}
_GEOMETRIES_MAX = 512


def _plain(v):
    t = type(v)
    return t is int or t is str or (t is tuple and all(_plain(e) for e in v))


def conv2d_geometry(x_shape, w_shape, stride=1, padding=0, dilation=1, op="conv2d", groups=1):
    """Validate a convolution's geometry; return a ConvGeometry.

    x_shape (N, C, H, W), w_shape (K, C / groups, R, S). padding: see ``conv_padding``.
    With ``groups`` > 1 the geometry's C is the full input channel count; K must be a
    multiple of groups too.
    """
    key = (x_shape, w_shape, stride, padding, dilation, op, groups)
    g = _GEOMETRIES.get(key) if _plain(key) else None
    if g is None:
        g = _conv2d_geometry(x_shape, w_shape, stride, padding, dilation, op, groups)
        if _plain(key):
            if len(_GEOMETRIES) >= _GEOMETRIES_MAX:
                _GEOMETRIES.clear()
            _GEOMETRIES[key] = g
    return g


def _conv2d_geometry(x_shape, w_shape, stride, padding, dilation, op, groups):
    N, C, H, W = x_shape
    K, Cw, R, S = w_shape
    groups = as_int(groups, "groups", op)
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    if C % groups or K % groups:
        raise ValueError(f"{op}: groups={groups} must divide both the input channels {C} and "
                         f"the number of filters {K} (x shape {tuple(x_shape)}, weight shape "
                         f"{tuple(w_shape)})")
    if Cw * groups != C:
        raise ValueError(f"{op}: weight expects {Cw * groups} input channels ({Cw} per group x "
                         f"{groups} groups) but x has {C} "
                         f"(x shape {tuple(x_shape)}, weight shape {tuple(w_shape)})"
                         if groups > 1 else
                         f"{op}: weight expects {Cw} input channels but x has {C} "
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
    (pt, pb), (pl, pr) = conv_padding(padding, (R, S), (sh, sw), (dh, dw), op)
    check_elements((N, C, H + pt + pb, W + pl + pr), op, "padded input", MAX_BUFFER_ELEMENTS)
    Ho = output_size(H, R, sh, pt + pb, dh)
    Wo = output_size(W, S, sw, pl + pr, dw)
    if Ho is None or Wo is None:
        raise ValueError(
            f"{op}: kernel {R}x{S} (dilation {(dh, dw)}, spanning {dh * (R - 1) + 1}x{dw * (S - 1) + 1}) "
            f"is larger than the padded input {H + pt + pb}x{W + pl + pr} "
            f"(input {H}x{W}, padding {(pt, pl) if (pt, pl) == (pb, pr) else ((pt, pb), (pl, pr))}): "
            f"no valid output")
    check_elements((N, K, Ho, Wo), op)
    check_elements((C * R * S, Ho * Wo), op, "im2col matrix")
    return ConvGeometry(N, C, H, W, K, R, S, Ho, Wo, sh, sw, pt, pl, pb, pr, dh, dw)


def winograd_wins(N, C, K, Ho, Wo, packed=False, wide=False):
    """Whether a 3x3 stride-1 convolution should take the Winograd F(2x2, 3x3) path.

    Winograd trades 2.25x fewer multiply-adds for input/output transforms whose cost per
    2x2 output tile grows with C + K while the saving grows with C * K, plus a weight
    transform per call unless the weights were packed once (``packed``: inference, a
    ``PackedConv2dWeight``). Measured on AVX2 (one thread): with 16 channels it always
    loses (0.5-0.8x of the direct kernels, even at 16384 tiles; 0.97-1.03x on an
    AVX-512 CPU running the AVX2 kernels) -- except with the AVX-512 kernels (``wide``),
    whose transforms run 16 lanes wide: there 16 channels win on maps of 32x32 and up
    (256 tiles an image; 2 threads: one 32x32 image, weights packed, 21.8 -> 19.6 us; a
    batch of 64, 1.10x packed, 1.06x forward and 1.13x input gradient with plain
    weights; 64x64 maps 1.07-1.12x) and lose on 16x16 (0.8x at batch 1, 0.97x at 64).
    With 32 it breaks even
    near 1000 tiles and wins from ~4000 (1.2x). With 64 channels or more it needs maps of
    at least 8x8 (16 tiles an image; on 4x4 maps it loses at every batch: 64 channels
    0.5x at batch 1, 0.8x at batch 16), and then, weights packed, wins at any batch
    (2 threads, AVX-512: 64 channels on one 8x8 map 27 -> 23 us, 128 channels 79 -> 49
    us); transforming the weights at every call costs more than a few images save (64
    channels on 8x8 maps: 0.6x at batch 1, 0.8x at 2, level at 8, 1.1x at 16; 128
    channels 1.04x at 8): there it needs 128 tiles.
    The kernels read the environment: ``FASTCONV_WINOGRAD=always`` lifts this size rule
    (they still need >= 16 channels), ``FASTCONV_NO_WINOGRAD=1`` turns the path off.
    """
    per_image = ((Ho + 1) // 2) * ((Wo + 1) // 2)
    m = min(C, K)
    return ((m >= 64 and per_image >= 16 and (packed or N * per_image >= 128))
            or (m >= 32 and N * per_image >= 2048)
            or (wide and m >= 16 and per_image >= 256))


# The geometry's Winograd bits, as csrc/fastconv.h's FC_WINOGRAD_F2 / F4 / F4_WEIGHT / S2 /
# S2_DATA / S2_WEIGHT.
WINOGRAD_F2, WINOGRAD_F4, WINOGRAD_F4_WEIGHT, WINOGRAD_S2, WINOGRAD_S2_DATA = 1, 2, 4, 8, 16
WINOGRAD_S2_WEIGHT = 32


def _tiles4(N, Ho, Wo):
    """4x4 output tiles of a batch (F(4x4, 3x3)'s unit of work)."""
    return N * ((Ho + 3) // 4) * ((Wo + 3) // 4)


def winograd4_wins(N, C, K, Ho, Wo, wide=False, packed=False):
    """Whether a 3x3 stride-1 convolution's forward and input-gradient passes should take
    the Winograd F(4x4, 3x3) path (4x fewer multiply-adds than the direct kernels, 1.8x
    fewer than F(2x2); outputs within about 1e-6 of their magnitude in float32).

    Measured on AVX2 at batch 64 (2 threads, the same process): 64 channels on 8x8 maps
    and 32 channels on 16x16 run 1.2-1.4x faster than F(2x2); with 16 channels the
    transforms still cost more than the products save. The weights' transform (36 values
    per filter, in double) runs at every call unless they were packed once (inference),
    but at ~6 ns a filter it does not move the break-even, so packed and plain weights
    share this rule. The
    products run on panels of 16 tiles, so what counts is whether the batch fills one
    (runs of images are cut to whole panels): measured on AVX-512 (2 threads, the same
    process, forward and input gradient alike), a single 16x16 image (16 tiles) gains
    (32 -> 64 channels: 53 -> 40 us forward, 71 -> 42 us input gradient; 64 channels 84
    -> 61 us), 8x8 maps (4 tiles) gain from 4 images (64 channels: level at 4, 1.5x
    F(2x2) at 8, 1.8x at 64) and 4x4 maps (one tile) from 32 (1.3x the channel-vector
    kernels; 0.8x at 16). Maps whose tiles are mostly padding (5x5: 39% of a 2x2-tile
    area) keep the rule measured before the panels were filled: 256 tiles. With 16-31
    channels the AVX-512 kernels (``wide``) gain from 256 tiles too (16 channels at batch
    64: 32x32 maps 1.09x F(2x2), 16x16 maps 1.4x the direct kernels); since the AVX-512
    transforms, measured again (2 threads, the same process, 16 channels against F(2x2)):
    with weights packed once (``packed``: inference) from one panel of tiles as with more
    channels (a 32x32 image 17.3 -> 13.8 us, a 16x16 one 9.3 -> 6.7 us, 4 32x32 images
    51 -> 38 us: ResNet-20's first stage at batch 1), with plain weights, transformed at
    every call, from 128 tiles (2 32x32 images 36 -> 35 us, 8 110 -> 91 us; one 26 against
    21 us). The weight gradient has its own rule (:func:`winograd4_weight_wins`).
    ``FASTCONV_WINOGRAD=f4`` forces F(4x4) on every 3x3 stride-1 convolution.
    """
    m = min(C, K)
    if m < 16 or (m < 32 and not wide):
        return False
    if m < 32 and not packed:
        return _tiles4(N, Ho, Wo) >= 128
    per_image = _tiles4(1, Ho, Wo)
    if 2 * Ho * Wo < 16 * per_image:
        need = 256
    else:
        need = 16 if per_image >= 4 else 32
    return _tiles4(N, Ho, Wo) >= need


def winograd4_weight_wins(N, C, K, Ho, Wo, wide=False):
    """Whether a 3x3 stride-1 convolution's weight gradient should take the Winograd
    F(4x4, 3x3) path (2.25 products per output gradient and filter pair instead of 9;
    gradients within about 1e-5 of their magnitude in float32).

    Measured on AVX2 (2 threads, the same process), against the path it replaces:
    1.2-1.9x the direct kernels with 8 or 16 channels (16 channels on 32x32 maps at batch
    64: 2.0 -> 1.4 ms), 1.1-2x F(2x2) with 32-128 channels, from ~256 4x4 tiles;
    below that the per-thread accumulators (36 K x C blocks, zeroed and transformed once
    a call) cost more than the products save (0.6-0.9x). With fewer than 8 channels the
    transforms, NR (16) channels wide, are mostly padding (0.35-0.5x). With the AVX-512
    kernels (``wide``) and 16 channels or more it wins from 8 tiles: 1.3-2.2x in
    isolation (64 channels on 4x4 maps at batch 8 to 64, 16-128 channels), and inside
    training steps ResNet-20 at batch 8 runs 1.11x faster, at 16 1.05x, tfcnn (its 4x4
    last layer) 1.01-1.03x.
    """
    t = _tiles4(N, Ho, Wo)
    return min(C, K) >= 8 and (t >= 256 or (wide and min(C, K) >= 16 and t >= 8))


def winograd_s2_wins(N, C, K, R, S, Ho, Wo, sh, sw, dh, dw, wide=False, data=False,
                     weight=False):
    """Whether a stride-2 convolution's forward pass (``data``: its input gradient, a
    transposed convolution's forward pass; ``weight``: its weight gradient, below) should
    take Winograd's F(4x4, 2x2) on the four phases of its input (forward) or of its output
    (input gradient)
    (``csrc/conv_winograd_s2.c``): 100 products per 4x4 block and channel pair where a
    4x4 filter takes 256 directly and a 3x3 one 144; float32 results within about 2e-6
    of their magnitude. Only with the AVX-512 kernels (``wide``), whose transforms put
    16 tiles in the vector lanes.

    Measured (2 threads, plain weights transformed at every call, batch 64 unless said).
    4x4 filters, against the direct kernels (forward) and the GEMM + col2im path (input
    gradient): from 16 channels and 32 4x4 output blocks (32 -> 64 channels on 16x16 maps
    forward 0.93 -> 0.51 ms, input gradient of the transposed layer 64 -> 32 channels,
    8x8 -> 16x16, 1.4-1.7x; batch 8 1.05-1.3x, batch 4 0.7-0.95x; 16 channels 1.1-1.7x,
    8 level). 3x3 filters save 1.44x of the products, most of which the transforms take
    back: forward 1.12x for 32 -> 64 channels on 32x32 maps, 1.17x for 64 -> 128 on
    16x16, 1.02x at 16 -> 32, but 0.79x at 128 -> 256 (the transformed weights outgrow
    L2) and 0.74x at batch 8. A 3x3 filter's odd phases have zero sub-filter taps, whose
    products are skipped (81 of the 100), which made its input gradient win from 16
    channels and 256 blocks: 1.07-1.30x against the GEMM + col2im path for 16 -> 16 up to
    32 -> 64 channels on 16x16 and 32x32 maps at batch 32-128 (ResNet-20's 16 -> 32 layer
    1.11x, its 32 -> 64 1.19x), level at 128 blocks, 0.85x at 64, 0.99x for 64 -> 128
    channels.

    ``weight``: the weight gradient's F(2x2, 4x4) on the four phases
    (``csrc/conv_winograd_bw.c``): 81 products per 4x4 block of output gradients and
    channel pair for a 3x3 filter where the direct kernels take 144, 100 for a 4x4 one
    where they take 256; float32 gradients within about 2e-6 of their magnitude.
    Measured (2 threads, batch 64 unless said, against the direct kernels): 4x4 filters
    1.16-1.84x from 64 blocks (16 -> 16 up to 128 -> 256 channels on 8x8 to 32x32 maps),
    level at 32 (taken up to 32768 channel pairs, as far as measured); 3x3 filters 1.05-1.14x for 32 -> 64 channels (32x32 maps at batch
    8 and 64, 16x16 maps), but 0.86-0.99x with 16 channels and 0.87-1.10x for 64 -> 128
    (``benchmarks/bench_conv_paths.py`` times every pass on both paths).
    ``FASTCONV_WINOGRAD=s2`` forces it on all three passes of every stride-2 3x3 or 4x4
    convolution.
    """
    if not (wide and sh == sw == 2 and dh == dw == 1 and R == S and R in (3, 4)):
        return False
    m, tiles = min(C, K), _tiles4(N, Ho, Wo)
    if R == 4:   # the weight gradient's 25 K x 4C accumulators: as far as measured
        return m >= 16 and tiles >= 32 and (not weight or C * K <= 32768)
    if weight:
        return m >= 32 and C * K <= 2048 and tiles >= 128
    if data:
        return m >= 16 and C * K <= 2048 and tiles >= 256
    return m >= 32 and C * K <= 8192 and tiles >= 256


_config = []


def _simd_path():
    if not _config:   # config imports the compiled runtime: not at this module's load time
        from . import config
        _config.append(config)
    return _config[0].simd_path()


def conv_kernel_args(g, packed=False):
    """The geometry tuple the Cython conv bindings take (with the Winograd size policy:
    WINOGRAD_F2, F(2x2, 3x3) allowed; WINOGRAD_F4, F(4x4, 3x3) for the forward and
    input-gradient passes; WINOGRAD_F4_WEIGHT, F(4x4, 3x3) for the weight gradient;
    WINOGRAD_S2 / WINOGRAD_S2_DATA, F(4x4, 2x2) on the phases of a stride-2 forward /
    input-gradient pass; WINOGRAD_S2_WEIGHT, F(2x2, 4x4) for its weight gradient).
    ``packed``: a forward pass whose weights are packed once for many calls. The rules
    depend on the kernels' SIMD path in force (``fastconv.simd_path()``)."""
    path = _simd_path()
    key = (g, bool(packed), path)
    args = _KERNEL_ARGS.get(key)
    if args is None:
        args = _conv_kernel_args(g, packed, path == "avx512")
        if len(_KERNEL_ARGS) >= _GEOMETRIES_MAX:
            _KERNEL_ARGS.clear()
        _KERNEL_ARGS[key] = args
    return args


_KERNEL_ARGS = {}


def _conv_kernel_args(g, packed, wide):
    s2 = (g.N, g.C, g.K, g.R, g.S, g.Ho, g.Wo, g.stride_h, g.stride_w, g.dil_h, g.dil_w)
    flags = (WINOGRAD_F2 if winograd_wins(g.N, g.C, g.K, g.Ho, g.Wo, packed, wide) else 0) | \
            (WINOGRAD_F4 if winograd4_wins(g.N, g.C, g.K, g.Ho, g.Wo, wide, packed) else 0) | \
            (WINOGRAD_F4_WEIGHT if winograd4_weight_wins(g.N, g.C, g.K, g.Ho, g.Wo, wide) else 0) | \
            (WINOGRAD_S2 if winograd_s2_wins(*s2, wide) else 0) | \
            (WINOGRAD_S2_DATA if winograd_s2_wins(*s2, wide, data=True) else 0) | \
            (WINOGRAD_S2_WEIGHT if winograd_s2_wins(*s2, wide, weight=True) else 0)
    return (g.C, g.H, g.W, g.K, g.R, g.S, g.Ho, g.Wo,
            g.stride_h, g.stride_w, g.pad_top, g.pad_left, g.dil_h, g.dil_w, flags)


def pool2d_geometry(x_shape, kernel_size, stride=None, padding=0, ceil_mode=False, op="pool2d",
                    dilation=1):
    """Validate a pooling geometry; return a PoolGeometry.

    PyTorch's rules, extended:

    * ``padding`` is an int, a pair, per-side ``((top, bottom), (left, right))``, 'valid'
      or 'same'. 'same' is Keras's pooling rule: ``out = ceil(in / stride)``, total
      padding ``max((out - 1) * stride + span - in, 0)`` (span = dilation * (k - 1) + 1),
      the extra pixel at the bottom/right, and pad cells excluded from averages
      (``PoolGeometry.exclude_pad``); ceil_mode must then be False.
    * Explicit padding may exceed half the window (PyTorch refuses that; ONNX models use
      it) as long as every window overlaps the input: a window lying wholly in the
      padding raises ValueError.
    * ``dilation`` spaces the window's taps (max pooling).
    """
    N, C, H, W = x_shape
    kh, kw = pair(kernel_size, "kernel_size", op)
    _check_positive((kh, kw), "kernel_size", op)
    if stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0):
        sh, sw = kh, kw
    else:
        sh, sw = pair(stride, "stride", op)
        _check_positive((sh, sw), "stride", op)
    dh, dw = pair(dilation, "dilation", op)
    _check_positive((dh, dw), "dilation", op)
    if not isinstance(ceil_mode, (bool, np_bool)) and not (
            type(ceil_mode) is int and ceil_mode in (0, 1)):
        raise TypeError(f"{op}: ceil_mode must be a bool, got {type(ceil_mode).__name__} {ceil_mode!r}")
    for name, v in (("channels", C), ("height", H), ("width", W)):
        if v <= 0:
            raise ValueError(f"{op}: {name} must be positive, got {v} (x shape {tuple(x_shape)})")
    span_h, span_w = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    exclude_pad = False
    if isinstance(padding, str):
        mode = padding.lower()
        if mode not in ("valid", "same"):
            raise ValueError(f"{op}: padding must be an int, a pair, a pair of (before, after) "
                             f"pairs, 'valid' or 'same', got {padding!r}")
        if mode == "same" and ceil_mode:
            raise ValueError(f"{op}: ceil_mode=True has no meaning with padding='same' "
                             f"(the output is ceil(input / stride) already)")
        (pt, pb), (pl, pr) = keras_padding((H, W), (kh, kw), (sh, sw), (dh, dw), mode)
        exclude_pad = mode == "same"
    else:
        (pt, pb), (pl, pr) = explicit_padding(padding, op)
    # Window sums and divisors (up to the padded plane's size) are int64 in C.
    check_elements((H + pt + pb, W + pl + pr), op, "padded plane")
    Ho = output_size(H, kh, sh, pt + pb, dh, bool(ceil_mode), pt)
    Wo = output_size(W, kw, sw, pl + pr, dw, bool(ceil_mode), pl)
    if Ho is None or Wo is None or Ho <= 0 or Wo <= 0:
        raise ValueError(f"{op}: kernel {kh}x{kw} is larger than the padded input "
                         f"{H + pt + pb}x{W + pl + pr} (input {H}x{W}, padding "
                         f"{_show_padding(pt, pb, pl, pr)}): no valid output")
    # Windows start at o * stride - pad_begin: the first must reach the image and the
    # last must start inside it (starts increase, so then every window overlaps it).
    for size, span, s, p, out, axis in ((H, span_h, sh, pt, Ho, "rows"),
                                        (W, span_w, sw, pl, Wo, "columns")):
        if p >= span or (out - 1) * s - p >= size:
            raise ValueError(f"{op}: padding {_show_padding(pt, pb, pl, pr)} leaves a window "
                             f"wholly in the padding along the {axis} (kernel {kh}x{kw}, stride "
                             f"{(sh, sw)}, input {H}x{W}): every window must overlap the input")
    check_elements((N, C, Ho, Wo), op)
    return PoolGeometry(N, C, H, W, Ho, Wo, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, exclude_pad)


def _show_padding(pt, pb, pl, pr):
    return (pt, pl) if (pt, pl) == (pb, pr) else ((pt, pb), (pl, pr))


def pool_kernel_args(g):
    """The geometry tuple the Cython pooling bindings take."""
    return (g.H, g.W, g.Ho, g.Wo, g.kh, g.kw, g.stride_h, g.stride_w, g.pad_h, g.pad_w,
            g.pad_bottom, g.pad_right, g.dil_h, g.dil_w)


def conv_transpose2d_geometry(x_shape, w_shape, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1, op="conv_transpose2d"):
    """Validate a transposed convolution (PyTorch rules); return ``(g, out_shape)``.

    x_shape (N, C_in, H, W), w_shape (C_in, K / groups, R, S). Output size per axis::

        out = (in - 1) * stride - pad_before - pad_after + dilation * (k - 1) + output_padding + 1

    ``g`` is the ConvGeometry of the convolution this op is the transpose of: its input is
    the (N, K, out_h, out_w) output, its output the (N, C_in, H, W) input, its weight the
    same array. ``padding``: int, pair or per-side pairs; ``output_padding`` (extra rows /
    columns at the bottom / right) must be smaller than the stride or the dilation.
    """
    N, Cin, H, W = x_shape
    Cw, Kg, R, S = w_shape
    groups = as_int(groups, "groups", op)
    if groups <= 0:
        raise ValueError(f"{op}: groups must be positive, got {groups}")
    if Cw != Cin:
        raise ValueError(f"{op}: weight expects {Cw} input channels but x has {Cin} "
                         f"(x shape {tuple(x_shape)}, weight shape {tuple(w_shape)})")
    if Cin % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels {Cin}")
    for name, v in (("input channels", Cin), ("height", H), ("width", W),
                    ("output channels per group", Kg), ("kernel height", R), ("kernel width", S)):
        if v <= 0:
            raise ValueError(f"{op}: {name} must be positive, got {v} "
                             f"(x shape {tuple(x_shape)}, weight shape {tuple(w_shape)})")
    sh, sw = pair(stride, "stride", op)
    _check_positive((sh, sw), "stride", op)
    dh, dw = pair(dilation, "dilation", op)
    _check_positive((dh, dw), "dilation", op)
    (pt, pb), (pl, pr) = explicit_padding(padding, op)
    oph, opw = pair(output_padding, "output_padding", op)
    if oph < 0 or opw < 0:
        raise ValueError(f"{op}: output_padding must be >= 0, got {(oph, opw)}")
    if oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ValueError(f"{op}: output_padding {(oph, opw)} must be smaller than the stride "
                         f"{(sh, sw)} or the dilation {(dh, dw)}")
    _check_int64((R, S, H, W), "size", op)
    Ho = (H - 1) * sh - pt - pb + dh * (R - 1) + oph + 1
    Wo = (W - 1) * sw - pl - pr + dw * (S - 1) + opw + 1
    if Ho <= 0 or Wo <= 0:
        raise ValueError(f"{op}: padding {_show_padding(pt, pb, pl, pr)} leaves no output "
                         f"(output size {Ho}x{Wo} for input {H}x{W}, kernel {R}x{S}, stride "
                         f"{(sh, sw)})")
    K = Kg * groups
    check_elements((N, K, Ho, Wo), op)
    check_elements((N, K, Ho + pt + pb, Wo + pl + pr), op, "padded output", MAX_BUFFER_ELEMENTS)
    check_elements((Kg * R * S, H * W), op, "im2col matrix")
    g = ConvGeometry(N, K, Ho, Wo, Cin, R, S, H, W, sh, sw, pt, pl, pb, pr, dh, dw)
    return g, (N, K, Ho, Wo)
