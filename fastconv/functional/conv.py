"""Convolution: forward and backward, dispatched to the C kernels."""

import numpy as np

from .. import geometry as geo
from ..config import get_num_threads
from .. import _conv, _depthwise
from ._checks import _ACT_ELU, _ACT_NONE, _ACT_LEAKY_RELU, _activation_code, _array, _bool, _contiguous, _expect_shape, _number


# ---------------------------------------------------------------- convolution

def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           activation=None, negative_slope=0.01, alpha=1.0):
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (K, C / groups, R, S), plus bias (K,).

    ``padding`` is an int, a pair, per-side ``((top, bottom), (left, right))``, ``'valid'``
    or ``'same'`` (PyTorch's: stride 1, the extra pixel at the bottom/right).
    ``groups`` as in PyTorch: group g's K/groups filters see only its C/groups input
    channels. ``groups == C`` (depthwise, any K = multiplier * C) runs a dedicated
    memory-bound kernel; other groups run the dense kernels once per group. The keyword ``activation``
    ('relu', 'leaky_relu', 'sigmoid', 'tanh', 'elu') is applied in the kernel's write-back,
    which saves a pass over the output; ``conv2d_backward`` then expects the gradient with
    respect to the pre-activation output (for ReLU, ``relu_backward(g, y)`` with the
    activated output ``y`` gives it, since y > 0 exactly where the pre-activation is).
    Returns (N, K, Ho, Wo).

    ``weight`` may be a ``PackedConv2dWeight`` (``pack_conv2d_weight``): the call must then
    pass the options it was packed with. Its result is bitwise the same as with the plain
    weight array it was packed from, except where packing changes the algorithm: weights
    transformed once let a few images take Winograd's F(2x2) path (an 8x8+ map with 64+
    channels), which plain weights, transformed at every call, take only from larger
    batches; those outputs agree within Winograd's accuracy below.

    3x3 stride-1 undilated convolutions big enough to gain run Winograd's algorithm
    (``geometry.winograd_wins``, ``winograd4_wins``, ``winograd4_weight_wins``): F(2x2, 3x3),
    2.25x fewer multiply-adds, results equal to the direct computation up to float
    rounding (a few units in the last place); F(4x4, 3x3), 4x fewer, float32 results
    within about 1e-5 of their magnitude. The environment variable
    ``FASTCONV_NO_WINOGRAD=1`` selects the direct kernels instead.
    """
    op = "conv2d"
    if isinstance(weight, PackedConv2dWeight):
        return weight._conv2d(x, bias, (stride, padding, dilation, groups), activation,
                              negative_slope, alpha)
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    g = geo.conv2d_geometry(x.shape, weight.shape, stride, padding, dilation, op, groups)
    groups = geo.as_int(groups, "groups", op)
    if bias is not None:
        bias = _array(bias, "bias", op, 1, x.dtype)
        _expect_shape(bias, (g.K,), "bias", op)
    act = _activation_code(activation, op)
    param = (_number(negative_slope, "negative_slope", op) if act == _ACT_LEAKY_RELU else
             _number(alpha, "alpha", op) if act == _ACT_ELU else 0.0)
    x, weight = _contiguous(x), _contiguous(weight)
    y = np.empty((g.N, g.K, g.Ho, g.Wo), dtype=x.dtype)
    if not g.N:
        return y
    _forward(x, weight, bias, g, groups, act, param, y)
    return y


# Memoised geometries / packed buffers per packed weight: a few input shapes at most.
_PACKED_CACHE_LIMIT = 8


def _winograd_env():
    """The environment switches of the Winograd policy (Python side and C side), which
    decide the packed layout: packed buffers are cached per value."""
    return _conv.winograd_env()


class PackedConv2dWeight:
    """Convolution weights prepared once for repeated forward passes (inference).

    Made by ``pack_conv2d_weight``; pass it to ``conv2d`` in place of ``weight``. It
    holds a private copy of the weights taken at packing time, so later in-place updates
    of the original array do NOT reach it: pack again after every update. Per input shape
    it remembers the validated geometry and (groups == 1) the weights packed for the
    forward kernels, so a call skips geometry checks and weight packing. The packed
    layout depends on the input shape only through the kernel choice (Winograd or
    direct), hence one packed buffer per distinct choice, at most a few.
    """

    __slots__ = ("weight", "options", "_geoms", "_bufs", "__weakref__")

    def __init__(self, weight, options):
        self.weight = weight
        self.options = options
        self._geoms = {}
        self._bufs = {}

    @property
    def shape(self):
        return self.weight.shape

    @property
    def dtype(self):
        return self.weight.dtype

    def __repr__(self):
        st, pd, dl, gr = self.options
        return (f"PackedConv2dWeight(shape={self.weight.shape}, dtype={self.weight.dtype}, "
                f"stride={st!r}, padding={pd!r}, dilation={dl!r}, groups={gr!r})")

    def _plan(self, x_shape, op):
        """(geometry, kernel args, packed bytes or None) for input shape x_shape."""
        key = (x_shape, _winograd_env())
        hit = self._geoms.get(key)
        if hit is not None:
            return hit
        st, pd, dl, gr = self.options
        g = geo.conv2d_geometry(x_shape, self.weight.shape, st, pd, dl, op, gr)
        args = geo.conv_kernel_args(g, packed=geo.as_int(gr, "groups", op) == 1)
        buf = None
        if geo.as_int(gr, "groups", op) == 1:
            bkey = (args, key[1])
            buf = self._bufs.get(bkey)
            if buf is None:
                nbytes = _conv.packed_weights_bytes(args, self.weight.itemsize)
                raw = np.empty(nbytes + 64, dtype=np.uint8)
                off = (-raw.ctypes.data) % 64
                buf = raw[off:off + nbytes] if nbytes else raw[off:off + 64]
                _conv.pack_weights(self.weight, args, buf)
                if len(self._bufs) >= _PACKED_CACHE_LIMIT:
                    self._bufs.clear()
                self._bufs[bkey] = buf
        if len(self._geoms) >= _PACKED_CACHE_LIMIT:
            self._geoms.clear()
        hit = self._geoms[key] = (g, args, buf)
        return hit

    def run(self, x, bias, act, param, residual=None):
        """The forward pass for a caller that guarantees what ``conv2d`` checks: ``x`` a
        C-contiguous array of the packed dtype with the right channels, ``bias`` None or
        ``(K,)``, ``act``/``param`` an activation code and its option (a model's planned
        inference steps, whose shapes were checked when the graph was built).
        ``residual`` (groups == 1 only): None, or a C-contiguous array shaped like the
        output, added before the activation -- ``act(conv(x) + bias + residual)``."""
        g, args, buf = self._plan(x.shape, "conv2d")
        y = np.empty((g.N, g.K, g.Ho, g.Wo), dtype=x.dtype)
        if g.N:
            if buf is not None:
                _conv.forward_packed(x, buf, bias, args, act, param, y, get_num_threads(),
                                     residual)
            else:
                _forward(x, self.weight, bias, g, geo.as_int(self.options[3], "groups",
                                                             "conv2d"), act, param, y)
        return y

    def _conv2d(self, x, bias, options, activation, negative_slope, alpha):
        op = "conv2d"
        if options != self.options:
            raise ValueError(f"{op}: the weight was packed with (stride, padding, dilation, "
                             f"groups) = {self.options!r} but the call passes {options!r}")
        x = _array(x, "x", op, 4, self.weight.dtype, contiguous=False)
        g, args, buf = self._plan(x.shape, op)
        if bias is not None:
            bias = _array(bias, "bias", op, 1, x.dtype)
            _expect_shape(bias, (g.K,), "bias", op)
        act = _activation_code(activation, op)
        param = (_number(negative_slope, "negative_slope", op) if act == _ACT_LEAKY_RELU else
                 _number(alpha, "alpha", op) if act == _ACT_ELU else 0.0)
        x = _contiguous(x)
        y = np.empty((g.N, g.K, g.Ho, g.Wo), dtype=x.dtype)
        if not g.N:
            return y
        if buf is not None:
            _conv.forward_packed(x, buf, bias, args, act, param, y, get_num_threads())
        else:
            _forward(x, self.weight, bias, g, geo.as_int(self.options[3], "groups", op), act,
                     param, y)
        return y


def pack_conv2d_weight(weight, stride=1, padding=0, dilation=1, groups=1, *, x_shape=None):
    """Prepare ``weight`` (K, C / groups, R, S) for repeated ``conv2d`` calls with these options.

    Returns a ``PackedConv2dWeight`` to pass to ``conv2d`` as its ``weight`` (with the same
    ``stride``, ``padding``, ``dilation`` and ``groups``). The weights are copied now:
    re-pack after changing them. Packing for the kernels happens at the first call per
    input shape, or now for ``x_shape`` (N, C, H, W) if given. Results are bitwise those
    of ``conv2d`` with the plain array where both take the same algorithm; for a few
    images packed weights may take Winograd's path where plain ones do not (see
    ``conv2d``), and agree with them within its accuracy.
    """
    op = "pack_conv2d_weight"
    weight = _array(weight, "weight", op, 4, contiguous=False)
    packed = PackedConv2dWeight(np.array(weight, order="C", copy=True),
                                (stride, padding, dilation, groups))
    geo.as_int(groups, "groups", op)
    if x_shape is not None:
        packed._plan(tuple(int(v) for v in x_shape), op)
    return packed


def _forward(x, weight, bias, g, groups, act, param, y, args=None):
    """The forward pass of a (grouped) convolution of geometry g into y (``args``: g's
    ``conv_kernel_args`` where the caller keeps them)."""
    nt = get_num_threads()
    if groups == 1:
        _conv.forward(x, weight, bias, args or geo.conv_kernel_args(g), act, param, y, nt)
    elif groups == g.C:
        _depthwise.depthwise_forward(x, weight, bias, geo.conv_kernel_args(g), act, param, y,
                                     nt)
    else:
        gg, Cg, Kg = _group_geometry(g, groups)
        for i in range(groups):
            yg = np.empty((g.N, Kg, g.Ho, g.Wo), dtype=x.dtype)
            _conv.forward(np.ascontiguousarray(x[:, i * Cg:(i + 1) * Cg]), weight[i * Kg:(i + 1) * Kg],
                          None if bias is None else bias[i * Kg:(i + 1) * Kg], gg, act, param, yg, nt)
            y[:, i * Kg:(i + 1) * Kg] = yg


def _backward_data(grad_out, weight, g, groups, grad_x, bias=None, addend=None):
    """The input gradient of a (grouped) convolution of geometry g into grad_x, plus
    ``bias`` (C,) per channel where given (a transposed convolution's), plus ``addend``
    (C-contiguous, like grad_x: another gradient of the same input) where given -- in the
    kernels' write-back for an ungrouped convolution, bitwise the sum taken after."""
    nt = get_num_threads()
    if groups == 1 and bias is None and _strided_pointwise(g):
        # the compact gradient (the 1x1 layer at stride 1 on the sampled pixels), then
        # spread into grad_x in one write, with the addend: the general path zeroed a
        # bordered accumulator, scattered into it and copied it out (ResNet-20's 16 -> 32
        # projection shortcut at batch 64, with the addend: 458 -> 263 us; same bits)
        compact = g._replace(H=g.Ho, W=g.Wo, stride_h=1, stride_w=1)
        dx = np.empty((g.N, g.C, g.Ho, g.Wo), dtype=grad_x.dtype)
        _conv.backward_data(grad_out, weight, geo.conv_kernel_args(compact), dx, nt, None, None)
        _conv.scatter_strided(dx, g.stride_h, g.stride_w, grad_x, addend, nt)
        return
    if groups == 1:
        _conv.backward_data(grad_out, weight, geo.conv_kernel_args(g), grad_x, nt, bias, addend)
        return
    if groups == g.C:
        _depthwise.depthwise_backward_data(grad_out, weight, geo.conv_kernel_args(g), grad_x, nt)
        if bias is not None:
            grad_x += bias[:, None, None]
    else:
        gg, Cg, Kg = _group_geometry(g, groups)
        for i in range(groups):
            gx = np.empty((g.N, Cg, g.H, g.W), dtype=grad_x.dtype)
            _conv.backward_data(np.ascontiguousarray(grad_out[:, i * Kg:(i + 1) * Kg]),
                                weight[i * Kg:(i + 1) * Kg], gg, gx, nt,
                                None if bias is None else bias[i * Cg:(i + 1) * Cg])
            grad_x[:, i * Cg:(i + 1) * Cg] = gx
    if addend is not None:
        np.add(grad_x, addend, out=grad_x)


def _strided_pointwise(g):
    """A 1x1 convolution with a stride above 1 and no padding (its output samples x)."""
    return (g.R == 1 and g.S == 1 and (g.stride_h > 1 or g.stride_w > 1)
            and g.pad_top == g.pad_left == g.pad_bottom == g.pad_right == 0)


def _backward_weight(x, grad_out, g, groups, grad_w, grad_b):
    """The weight and bias gradients of a (grouped) convolution of geometry g (overwritten)."""
    nt = get_num_threads()
    if groups == 1:
        _conv.backward_weight(x, grad_out, geo.conv_kernel_args(g), grad_w, grad_b, nt)
    elif groups == g.C:
        _depthwise.depthwise_backward_weight(x, grad_out, geo.conv_kernel_args(g), grad_w, grad_b,
                                             nt)
    else:
        gg, Cg, Kg = _group_geometry(g, groups)
        for i in range(groups):
            ks = slice(i * Kg, (i + 1) * Kg)
            _conv.backward_weight(np.ascontiguousarray(x[:, i * Cg:(i + 1) * Cg]),
                                  np.ascontiguousarray(grad_out[:, ks]), gg, grad_w[ks],
                                  None if grad_b is None else grad_b[ks], nt)


def _backward_both(grad_out, x, weight, g, groups, grad_w, grad_b, grad_x, addend=None,
                   args=None):
    """The weight and bias gradients, then the input gradient into ``grad_x`` where it is
    not None (plus ``addend``, as _backward_data takes it). An ungrouped convolution gets
    both in one pass over runs of images where its kernels allow (each run's grad_out
    read back from memory once), with the bits of the two separate passes. ``args``: g's
    ``conv_kernel_args`` where the caller keeps them."""
    if grad_x is not None and groups == 1 and not _strided_pointwise(g):
        if not _conv.backward_weight(x, grad_out, args or geo.conv_kernel_args(g), grad_w,
                                     grad_b, get_num_threads(), weight, grad_x, addend):
            _backward_data(grad_out, weight, g, groups, grad_x, None, addend)
        return
    _backward_weight(x, grad_out, g, groups, grad_w, grad_b)
    if grad_x is not None:
        _backward_data(grad_out, weight, g, groups, grad_x, None, addend)


def _group_geometry(g, groups):
    """Kernel geometry of one group's convolution, its input and output channel counts."""
    Cg, Kg = g.C // groups, g.K // groups
    return geo.conv_kernel_args(g._replace(C=Cg, K=Kg)), Cg, Kg


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1, *,
                    input_grad=True):
    """Gradients of ``conv2d`` given ``grad_out`` (N, K, Ho, Wo).

    Returns ``(grad_x, grad_weight, grad_bias)``; ``grad_x`` is None when
    ``input_grad=False`` (the first layer of a network needs no input gradient).
    ``grad_weight`` sums images in a fixed order: it is bitwise the same for any
    thread count.
    """
    op = "conv2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g = geo.conv2d_geometry(x.shape, weight.shape, stride, padding, dilation, op, groups)
    groups = geo.as_int(groups, "groups", op)
    _expect_shape(grad_out, (g.N, g.K, g.Ho, g.Wo), "grad_out", op)
    input_grad = _bool(input_grad, "input_grad", op)
    x, weight, grad_out = _contiguous(x), _contiguous(weight), _contiguous(grad_out)
    # Every kernel below overwrites its output (an empty batch: zero gradients).
    alloc = np.empty if g.N else np.zeros
    grad_w = alloc(weight.shape, dtype=x.dtype)
    grad_b = alloc((g.K,), dtype=x.dtype)
    grad_x = np.empty(x.shape, dtype=x.dtype) if input_grad else None
    if not g.N:
        return grad_x, grad_w, grad_b
    _backward_both(grad_out, x, weight, g, groups, grad_w, grad_b, grad_x)
    return grad_x, grad_w, grad_b


# ---------------------------------------------------------------- transposed convolution

def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution of ``x`` (N, C_in, H, W) with ``weight`` (C_in, K / groups, R, S),
    plus bias (K,), as ``torch.nn.functional.conv_transpose2d``. Returns (N, K, Ho, Wo) with
    ``Ho = (H - 1) * stride - pad_top - pad_bottom + dilation * (R - 1) + output_padding + 1``.

    It is the input gradient of the convolution with the same weight and options (each
    input pixel scatters ``weight * x`` onto a stride-spaced output window), so it runs
    that convolution's backward-data kernels. ``padding`` is an int, a pair or per-side
    pairs (cropped from the full output); ``output_padding`` adds rows / columns at the
    bottom / right and must be smaller than the stride or the dilation.
    """
    op = "conv_transpose2d"
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    g, out_shape = geo.conv_transpose2d_geometry(x.shape, weight.shape, stride, padding,
                                                 output_padding, groups, dilation, op)
    groups = geo.as_int(groups, "groups", op)
    if bias is not None:
        bias = _array(bias, "bias", op, 1, x.dtype)
        _expect_shape(bias, (g.C,), "bias", op)
    x, weight = _contiguous(x), _contiguous(weight)
    y = np.empty(out_shape, dtype=x.dtype)
    if g.N:
        _backward_data(x, weight, g, groups, y, bias)
    return y


def conv_transpose2d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0, groups=1,
                              dilation=1):
    """Gradients of ``conv_transpose2d`` given ``grad_out`` (N, K, Ho, Wo).

    Returns ``(grad_x, grad_weight, grad_bias)``: ``grad_x`` is the convolution of
    ``grad_out`` with the weight (the forward conv's forward pass), ``grad_weight`` that
    convolution's weight gradient with the roles of input and output gradient swapped
    (bitwise the same for any thread count), ``grad_bias`` the sum of ``grad_out`` over
    images and pixels.
    """
    op = "conv_transpose2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g, out_shape = geo.conv_transpose2d_geometry(x.shape, weight.shape, stride, padding,
                                                 output_padding, groups, dilation, op)
    groups = geo.as_int(groups, "groups", op)
    _expect_shape(grad_out, out_shape, "grad_out", op)
    x, weight, grad_out = _contiguous(x), _contiguous(weight), _contiguous(grad_out)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    grad_w = (np.empty if g.N else np.zeros)(weight.shape, dtype=x.dtype)
    grad_b = (np.empty if grad_out.size else np.zeros)((grad_out.shape[1],), dtype=x.dtype)
    if g.N:
        _forward(grad_out, weight, None, g, groups, _ACT_NONE, 0.0, grad_x)
        _backward_weight(grad_out, x, g, groups, grad_w, None)
    if grad_out.size:
        _conv.bias_grad(grad_out, grad_b, get_num_threads())
    return grad_x, grad_w, grad_b
