"""Plain-NumPy reference implementation of the fastconv functional contract.

Every function here has the same name, signature and defaults as its counterpart in
:mod:`fastconv.functional` (and, where one exists, in ``torch.nn.functional``).  The code
is written to be *obviously correct* rather than fast: each op is a direct transcription
of its mathematical definition, vectorised with NumPy (shifted strided slices plus
``tensordot`` for convolution, ``sliding_window_view`` for pooling windows) so that it is
still usable as a yardstick on realistic layer sizes.

Conventions
-----------
* Layout is NCHW; convolution weights are ``(K, C, R, S)``; linear weights ``(out, in)``.
* Computation happens in the floating dtype of the inputs (float32 or float64; anything
  else is promoted to float64) and results are returned in that dtype.
* Every forward ``f(x, ...)`` has a backward ``f_backward(grad_out, <forward inputs>,
  <options>)`` that returns the gradient(s) with respect to the forward's array inputs.
* Semantics follow PyTorch exactly: cross-correlation (no kernel flip), ``padding='same'``
  with the extra pixel on the right/bottom, pooling ``ceil_mode`` partial windows, the
  ``count_include_pad`` divisor, first-maximum tie breaking in max pooling, ``relu'(0) = 0``.

This module imports NumPy and nothing else, in particular nothing from fastconv.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "conv2d", "conv2d_backward",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "relu", "relu_backward", "leaky_relu", "leaky_relu_backward",
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "elu", "elu_backward",
    "maxout", "maxout_backward",
    "linear", "linear_backward",
    "softmax", "softmax_backward", "log_softmax",
    "cross_entropy", "cross_entropy_backward",
    "dropout", "dropout_backward",
    "batch_norm2d", "batch_norm2d_backward",
    "flatten", "flatten_backward",
]


# --------------------------------------------------------------------------- helpers

def _float_dtype(*arrays):
    """The dtype to compute in: float32 if every array is float32, else float64."""
    dt = np.result_type(*[np.asarray(a).dtype for a in arrays if a is not None])
    if dt == np.float32 or dt == np.float64:
        return dt
    return np.dtype(np.float64)


def _as(a, dtype):
    """``a`` as an ndarray of ``dtype`` (no copy when it already is one)."""
    return None if a is None else np.asarray(a, dtype=dtype)


def _pair(value, name, op):
    """Normalise an int or a 2-sequence of ints to a ``(h, w)`` tuple of Python ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    try:
        items = tuple(value)
    except TypeError:
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                                  for v in items):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}")
    return int(items[0]), int(items[1])


def _check_4d(x, op, name="x"):
    if x.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D (N, C, H, W), got shape {x.shape}")


# --------------------------------------------------------------------------- conv2d

def _conv_geometry(x_shape, w_shape, stride, padding, dilation, op="conv2d"):
    """Resolve conv2d options.

    Returns ``(sh, sw), (dh, dw), ((pt, pb), (pl, pr)), (Ho, Wo)``.
    """
    N, C, H, W = x_shape
    K, Cw, R, S = w_shape
    if Cw != C:
        raise ValueError(f"{op}: weight has {Cw} input channels but x has {C} "
                         f"(x shape {tuple(x_shape)}, weight shape {tuple(w_shape)})")
    if R <= 0 or S <= 0:
        raise ValueError(f"{op}: kernel size must be positive, got {R}x{S}")
    sh, sw = _pair(stride, "stride", op)
    dh, dw = _pair(dilation, "dilation", op)
    if sh <= 0 or sw <= 0:
        raise ValueError(f"{op}: stride must be positive, got ({sh}, {sw})")
    if dh <= 0 or dw <= 0:
        raise ValueError(f"{op}: dilation must be positive, got ({dh}, {dw})")
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            pads = ((0, 0), (0, 0))
        elif mode == "same":
            if (sh, sw) != (1, 1):
                raise ValueError(f"{op}: padding='same' requires stride 1, got stride ({sh}, {sw})")
            th, tw = dh * (R - 1), dw * (S - 1)   # total padding, extra pixel on the right
            pads = ((th // 2, th - th // 2), (tw // 2, tw - tw // 2))
        else:
            raise ValueError(f"{op}: padding must be an int, a pair, 'same' or 'valid', "
                             f"got {padding!r}")
    else:
        ph, pw = _pair(padding, "padding", op)
        if ph < 0 or pw < 0:
            raise ValueError(f"{op}: padding must be non-negative, got ({ph}, {pw})")
        pads = ((ph, ph), (pw, pw))
    Hp = H + pads[0][0] + pads[0][1]
    Wp = W + pads[1][0] + pads[1][1]
    eh = dh * (R - 1) + 1                         # extent of the dilated kernel
    ew = dw * (S - 1) + 1
    if eh > Hp or ew > Wp:
        raise ValueError(
            f"{op}: dilated kernel {eh}x{ew} (kernel {R}x{S}, dilation ({dh}, {dw})) is larger "
            f"than the padded input {Hp}x{Wp} (input {H}x{W}, padding {pads})")
    Ho = (Hp - eh) // sh + 1
    Wo = (Wp - ew) // sw + 1
    return (sh, sw), (dh, dw), pads, (Ho, Wo)


def _tap(r, s, stride, dilation, out_hw):
    """Slices of the padded input read by kernel tap ``(r, s)`` for every output pixel."""
    (sh, sw), (dh, dw), (Ho, Wo) = stride, dilation, out_hw
    return (slice(r * dh, r * dh + sh * (Ho - 1) + 1, sh),
            slice(s * dw, s * dw + sw * (Wo - 1) + 1, sw))


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution (cross-correlation, no kernel flip), like ``torch.nn.functional.conv2d``.

    ``y[n, k, i, j] = bias[k] + sum_{c, r, s} weight[k, c, r, s] *
    xpad[n, c, i*sh + r*dh, j*sw + s*dw]`` where ``xpad`` is ``x`` zero-padded.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    weight : ndarray (K, C, R, S)
    bias : ndarray (K,) or None
    stride, dilation : int or (h, w)
    padding : int, (ph, pw), ``'valid'`` (no padding) or ``'same'`` (stride 1 only; total
        padding ``d*(k-1)`` per dimension, ``total // 2`` on the top/left and the rest on
        the bottom/right, as PyTorch does).

    Returns
    -------
    ndarray (N, K, Ho, Wo) with ``Ho = (H + pt + pb - dh*(R-1) - 1) // sh + 1``.

    Implementation: for each kernel tap ``(r, s)`` the strided slice of the padded input
    that the tap sees, a ``(C, N*Ho*Wo)`` matrix, is multiplied by ``weight[:, :, r, s]``
    ``(K, C)`` and accumulated (one GEMM per tap; memory stays O(input + output), unlike a
    materialised im2col).
    """
    dtype = _float_dtype(x, weight, bias)
    x, weight, bias = _as(x, dtype), _as(weight, dtype), _as(bias, dtype)
    _check_4d(x, "conv2d")
    _check_4d(weight, "conv2d", "weight")
    stride, dilation, pads, out_hw = _conv_geometry(x.shape, weight.shape, stride, padding,
                                                    dilation)
    K, C, R, S = weight.shape
    if bias is not None and bias.shape != (K,):
        raise ValueError(f"conv2d: bias must have shape ({K},), got {bias.shape}")
    N = x.shape[0]
    # channel-major padded input (C, N, Hp, Wp): each tap's slice reshapes to (C, N*Ho*Wo)
    xpt = np.pad(x, ((0, 0), (0, 0)) + pads).transpose(1, 0, 2, 3)
    out = np.zeros((K, N * out_hw[0] * out_hw[1]), dtype=dtype)
    for r in range(R):
        for s in range(S):
            hs, ws = _tap(r, s, stride, dilation, out_hw)
            out += weight[:, :, r, s] @ xpt[:, :, hs, ws].reshape(C, -1)
    if bias is not None:
        out += bias[:, None]
    return np.ascontiguousarray(out.reshape((K, N) + out_hw).transpose(1, 0, 2, 3))


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1):
    """Gradients of :func:`conv2d` with respect to ``x``, ``weight`` and ``bias``.

    Returns ``(grad_x, grad_weight, grad_bias)`` with the shapes of ``x`` (N, C, H, W),
    ``weight`` (K, C, R, S) and ``(K,)``.  ``grad_bias`` is always returned (the sum of
    ``grad_out`` over N, Ho, Wo); ignore it if the forward had no bias.
    """
    dtype = _float_dtype(grad_out, x, weight)
    g, x, weight = _as(grad_out, dtype), _as(x, dtype), _as(weight, dtype)
    _check_4d(x, "conv2d_backward")
    _check_4d(weight, "conv2d_backward", "weight")
    stride, dilation, pads, out_hw = _conv_geometry(x.shape, weight.shape, stride, padding,
                                                    dilation, op="conv2d_backward")
    N, C, H, W = x.shape
    K, _, R, S = weight.shape
    if g.shape != (N, K) + out_hw:
        raise ValueError(f"conv2d_backward: grad_out must have shape {(N, K) + out_hw}, "
                         f"got {g.shape}")
    # channel-major layouts: padded input (C, N, Hp, Wp), grad_out as a (K, N*Ho*Wo) matrix
    xpt = np.pad(x, ((0, 0), (0, 0)) + pads).transpose(1, 0, 2, 3)
    g2 = g.transpose(1, 0, 2, 3).reshape(K, -1)
    gxpt = np.zeros(xpt.shape, dtype=dtype)
    gw = np.zeros_like(weight)
    for r in range(R):
        for s in range(S):
            hs, ws = _tap(r, s, stride, dilation, out_hw)
            # data: every output pixel sends grad * weight back to the input it read
            gxpt[:, :, hs, ws] += (weight[:, :, r, s].T @ g2).reshape((C, N) + out_hw)
            # weights: correlate grad_out with the input slice this tap saw
            gw[:, :, r, s] = g2 @ xpt[:, :, hs, ws].reshape(C, -1).T
    (pt, _), (pl, _) = pads
    gx = np.ascontiguousarray(gxpt[:, :, pt:pt + H, pl:pl + W].transpose(1, 0, 2, 3))
    gb = g.sum(axis=(0, 2, 3))
    return gx, gw, gb


# --------------------------------------------------------------------------- pooling

def _pool_out_size(size, k, s, p, ceil_mode, dim, op):
    """PyTorch's pooling output size for one dimension (raises ValueError when < 1)."""
    num = size + 2 * p - k
    out = (num + (s - 1 if ceil_mode else 0)) // s + 1      # Python // floors, like div_rtn
    if ceil_mode and (out - 1) * s >= size + p:             # last window must start inside
        out -= 1                                            # the image or the left padding
    if out < 1:
        raise ValueError(
            f"{op}: kernel {k} is larger than the padded input {size + 2 * p} "
            f"({dim} {size} + 2*padding {p}); output size would be {out}")
    return out


def _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode, op):
    """Resolve pooling options: ``(kh, kw), (sh, sw), (ph, pw), (Ho, Wo)``."""
    _, _, H, W = x_shape
    kh, kw = _pair(kernel_size, "kernel_size", op)
    if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0):
        sh, sw = kh, kw
    else:
        sh, sw = _pair(stride, "stride", op)
    ph, pw = _pair(padding, "padding", op)
    if kh <= 0 or kw <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got ({kh}, {kw})")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"{op}: stride must be positive, got ({sh}, {sw})")
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got ({ph}, {pw})")
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"{op}: padding ({ph}, {pw}) must be at most half the kernel size "
                         f"({kh}, {kw})")
    Ho = _pool_out_size(H, kh, sh, ph, ceil_mode, "height", op)
    Wo = _pool_out_size(W, kw, sw, pw, ceil_mode, "width", op)
    return (kh, kw), (sh, sw), (ph, pw), (Ho, Wo)


def _pool_pad(x, kernel, stride, pad, out_hw, fill):
    """Pad ``x`` by ``pad`` on each side plus whatever extra the last (ceil_mode) window
    needs on the bottom/right, with ``fill``."""
    (kh, kw), (sh, sw), (ph, pw), (Ho, Wo) = kernel, stride, pad, out_hw
    H, W = x.shape[2:]
    extra_h = max(0, (Ho - 1) * sh + kh - (H + 2 * ph))
    extra_w = max(0, (Wo - 1) * sw + kw - (W + 2 * pw))
    return np.pad(x, ((0, 0), (0, 0), (ph, ph + extra_h), (pw, pw + extra_w)),
                  constant_values=fill)


def _pool_windows(xp, kernel, stride, out_hw):
    """View ``(N, C, Ho, Wo, kh, kw)`` of the pooling windows of the padded input."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    win = sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return win[:, :, ::sh, ::sw][:, :, :Ho, :Wo]


def _window_valid(size, k, s, p, out):
    """Boolean ``(out, k)``: does window ``o``'s element ``i`` fall inside the image?"""
    pos = np.arange(out)[:, None] * s - p + np.arange(k)[None, :]
    return (pos >= 0) & (pos < size)


def _scatter_windows(gwin, shape_padded, kernel, stride, out_hw, dtype):
    """Adjoint of :func:`_pool_windows`: add ``gwin (N, C, Ho, Wo, kh, kw)`` back into a
    zero array of ``shape_padded``."""
    (kh, kw), (sh, sw), (Ho, Wo) = kernel, stride, out_hw
    gp = np.zeros(shape_padded, dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            gp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += gwin[..., i, j]
    return gp


def _max_pool_argmax(x, kernel, stride, pad, out_hw):
    """Flat in-window index (``i*kw + j``) of the element each max-pooling window picks.

    Padding never wins; among equal maxima the first in row-major scan order wins; if the
    window holds NaN, the last NaN wins (PyTorch's CPU kernel: ``val > max || isnan(val)``).
    """
    H, W = x.shape[2:]
    (kh, kw), (sh, sw), (ph, pw), (Ho, Wo) = kernel, stride, pad, out_hw
    win = _pool_windows(_pool_pad(x, kernel, stride, pad, out_hw, -np.inf),
                        kernel, stride, out_hw)
    win = win.reshape(win.shape[:4] + (kh * kw,))
    valid = (_window_valid(H, kh, sh, ph, Ho)[:, None, :, None]
             & _window_valid(W, kw, sw, pw, Wo)[None, :, None, :]).reshape(Ho, Wo, kh * kw)
    m = win.max(axis=-1, keepdims=True)
    first = np.argmax((win == m) & valid, axis=-1)          # first valid maximum (also -inf)
    nan = np.isnan(win) & valid
    last_nan = kh * kw - 1 - np.argmax(nan[..., ::-1], axis=-1)
    return np.where(nan.any(axis=-1), last_nan, first), win


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """2-D max pooling, like ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``.  ``padding`` (at most half the kernel) is
    implicit negative infinity: it never wins a maximum.  The output size per dimension is
    ``floor((H + 2p - k) / s) + 1`` (``ceil`` with ``ceil_mode``, in which case a window
    that would start in the right padding is dropped), so with ``ceil_mode`` the last
    partial window of a row or column still counts: a 5x5 map pooled 2x2 stride 2 is 3x3.
    """
    dtype = _float_dtype(x)
    x = _as(x, dtype)
    _check_4d(x, "max_pool2d")
    kernel, stride, pad, out_hw = _pool_geometry(x.shape, kernel_size, stride, padding,
                                                 ceil_mode, "max_pool2d")
    idx, win = _max_pool_argmax(x, kernel, stride, pad, out_hw)
    return np.ascontiguousarray(np.take_along_axis(win, idx[..., None], axis=-1)[..., 0])


def _pool_backward_args(grad_out, x, kernel_size, stride, padding, ceil_mode, op):
    """The common inputs of the pooling backwards: arrays in one float dtype, the
    geometry, and grad_out checked against the output shape."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    _check_4d(x, op)
    kernel, stride, pad, out_hw = _pool_geometry(x.shape, kernel_size, stride, padding,
                                                 ceil_mode, op)
    if g.shape != x.shape[:2] + out_hw:
        raise ValueError(f"{op}: grad_out must have shape {x.shape[:2] + out_hw}, got {g.shape}")
    return g, x, dtype, kernel, stride, pad, out_hw


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Gradient of :func:`max_pool2d` w.r.t. ``x``: each window's gradient goes entirely to
    the element that won its maximum (the first maximum in scan order on ties); elements
    that win several overlapping windows accumulate."""
    g, x, dtype, kernel, stride, pad, out_hw = _pool_backward_args(
        grad_out, x, kernel_size, stride, padding, ceil_mode, "max_pool2d_backward")
    idx, _ = _max_pool_argmax(x, kernel, stride, pad, out_hw)
    kh, kw = kernel
    onehot = (idx[..., None] == np.arange(kh * kw)).reshape(idx.shape + (kh, kw))
    gwin = np.where(onehot, g[..., None, None], dtype.type(0))
    padded_shape = x.shape[:2] + tuple(
        max((o - 1) * s + k, n + 2 * p)
        for o, s, k, n, p in zip(out_hw, stride, kernel, x.shape[2:], pad))
    gp = _scatter_windows(gwin, padded_shape, kernel, stride, out_hw, dtype)
    (ph, pw), (H, W) = pad, x.shape[2:]
    return np.ascontiguousarray(gp[:, :, ph:ph + H, pw:pw + W])


def _avg_divisor(size, k, s, p, out, count_include_pad):
    """Divisor of each window along one dimension (PyTorch's ``pool_size`` factor)."""
    start = np.arange(out) * s - p
    end = np.minimum(start + k, size + p)          # windows are clipped to [-p, size + p)
    if not count_include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, size)   # ... or to the image
    return end - start


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """2-D average pooling, like ``torch.nn.functional.avg_pool2d``.

    Geometry as :func:`max_pool2d`; padding is zeros.  Each window's sum is divided by the
    window size clipped to ``[-p, H + p)`` (``count_include_pad=True``: padding counts but
    the ``ceil_mode`` overhang does not) or clipped to the image ``[0, H)``
    (``count_include_pad=False``), per dimension.
    """
    dtype = _float_dtype(x)
    x = _as(x, dtype)
    _check_4d(x, "avg_pool2d")
    kernel, stride, pad, out_hw = _pool_geometry(x.shape, kernel_size, stride, padding,
                                                 ceil_mode, "avg_pool2d")
    win = _pool_windows(_pool_pad(x, kernel, stride, pad, out_hw, 0), kernel, stride, out_hw)
    div = _avg_divisor_2d(x.shape[2:], kernel, stride, pad, out_hw, count_include_pad, dtype)
    return np.ascontiguousarray(win.sum(axis=(-2, -1)) / div)


def _avg_divisor_2d(hw, kernel, stride, pad, out_hw, count_include_pad, dtype):
    dh = _avg_divisor(hw[0], kernel[0], stride[0], pad[0], out_hw[0], count_include_pad)
    dw = _avg_divisor(hw[1], kernel[1], stride[1], pad[1], out_hw[1], count_include_pad)
    return (dh[:, None] * dw[None, :]).astype(dtype)


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of :func:`avg_pool2d` w.r.t. ``x``: each window spreads
    ``grad / divisor`` over its elements; the part landing on padding is dropped."""
    g, x, dtype, kernel, stride, pad, out_hw = _pool_backward_args(
        grad_out, x, kernel_size, stride, padding, ceil_mode, "avg_pool2d_backward")
    div = _avg_divisor_2d(x.shape[2:], kernel, stride, pad, out_hw, count_include_pad, dtype)
    share = g / div
    kh, kw = kernel
    gwin = np.broadcast_to(share[..., None, None], share.shape + (kh, kw))
    padded_shape = x.shape[:2] + tuple(
        max((o - 1) * s + k, n + 2 * p)
        for o, s, k, n, p in zip(out_hw, stride, kernel, x.shape[2:], pad))
    gp = _scatter_windows(gwin, padded_shape, kernel, stride, out_hw, dtype)
    (ph, pw), (H, W) = pad, x.shape[2:]
    return np.ascontiguousarray(gp[:, :, ph:ph + H, pw:pw + W])


# --------------------------------------------------------------------------- activations

def relu(x):
    """``max(x, 0)`` elementwise."""
    x = _as(x, _float_dtype(x))
    return np.maximum(x, x.dtype.type(0))


def relu_backward(grad_out, x):
    """``grad_out * (x > 0)``; the derivative at 0 is taken as 0, like PyTorch."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    return np.where(x > 0, g, dtype.type(0))


def leaky_relu(x, negative_slope=0.01):
    """``x`` where ``x > 0``, else ``negative_slope * x``."""
    x = _as(x, _float_dtype(x))
    return np.where(x > 0, x, x * x.dtype.type(negative_slope))


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    """``grad_out`` where ``x > 0``, else ``negative_slope * grad_out`` (slope at 0 too)."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    return np.where(x > 0, g, g * dtype.type(negative_slope))


def sigmoid(x):
    """Logistic ``1 / (1 + exp(-x))``, evaluated without overflow for any ``|x|``:
    ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` for ``x < 0``, with ``e = exp(-|x|)``."""
    x = _as(x, _float_dtype(x))
    e = np.exp(-np.abs(x))
    one = x.dtype.type(1)
    return np.where(x >= 0, one / (one + e), e / (one + e))


def sigmoid_backward(grad_out, x):
    """``grad_out * s * (1 - s)`` with ``s = sigmoid(x)``."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    s = sigmoid(x)
    return g * s * (dtype.type(1) - s)


def tanh(x):
    """Hyperbolic tangent."""
    x = _as(x, _float_dtype(x))
    return np.tanh(x)


def tanh_backward(grad_out, x):
    """``grad_out * (1 - tanh(x)**2)``."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    t = np.tanh(x)
    return g * (dtype.type(1) - t * t)


def elu(x, alpha=1.0):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``."""
    x = _as(x, _float_dtype(x))
    neg = x.dtype.type(alpha) * np.expm1(np.minimum(x, x.dtype.type(0)))
    return np.where(x > 0, x, neg)


def elu_backward(grad_out, x, alpha=1.0):
    """``grad_out`` where ``x > 0``, else ``grad_out * alpha * exp(x)`` (so ``alpha`` at 0,
    like PyTorch)."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    neg = g * dtype.type(alpha) * np.exp(np.minimum(x, dtype.type(0)))
    return np.where(x > 0, g, neg)


def _maxout_groups(x, pieces, op):
    x = _as(x, _float_dtype(x))
    if x.ndim < 2:
        raise ValueError(f"{op}: x must have a channel axis 1, got shape {x.shape}")
    if isinstance(pieces, bool) or not isinstance(pieces, (int, np.integer)) or pieces <= 0:
        raise ValueError(f"{op}: pieces must be a positive int, got {pieces!r}")
    C = x.shape[1]
    if C % pieces:
        raise ValueError(f"{op}: {C} channels are not divisible into groups of {pieces}")
    return x, x.reshape((x.shape[0], C // pieces, int(pieces)) + x.shape[2:])


def maxout(x, pieces):
    """Maxout over the channel axis 1: output channel ``j`` is the maximum of input channels
    ``j*pieces ... j*pieces + pieces - 1``.  Works for ``(N, F)`` and ``(N, C, H, W)``
    (any rank >= 2); the output has ``C // pieces`` channels."""
    _, grouped = _maxout_groups(x, pieces, "maxout")
    return grouped.max(axis=2)


def maxout_backward(grad_out, x, pieces):
    """Gradient of :func:`maxout` w.r.t. ``x``: each output's gradient goes to the first
    maximal channel of its group."""
    x, grouped = _maxout_groups(x, pieces, "maxout_backward")
    g = _as(grad_out, _float_dtype(grad_out, x))
    if g.shape != grouped.shape[:2] + grouped.shape[3:]:
        raise ValueError(f"maxout_backward: grad_out must have shape "
                         f"{grouped.shape[:2] + grouped.shape[3:]}, got {g.shape}")
    idx = np.expand_dims(np.argmax(grouped, axis=2), 2)
    onehot = idx == np.arange(pieces).reshape((1, 1, pieces) + (1,) * (x.ndim - 2))
    gx = np.where(onehot, np.expand_dims(g, 2), g.dtype.type(0))
    return gx.reshape(x.shape)


# --------------------------------------------------------------------------- linear

def linear(x, weight, bias=None):
    """Fully connected layer ``x @ weight.T + bias``; ``x`` is ``(..., in)``, ``weight``
    ``(out, in)``, ``bias`` ``(out,)`` or None."""
    dtype = _float_dtype(x, weight, bias)
    x, weight, bias = _as(x, dtype), _as(weight, dtype), _as(bias, dtype)
    if weight.ndim != 2 or x.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: x {x.shape} and weight {weight.shape} (out, in) "
                         f"do not match")
    y = x @ weight.T
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), "
                             f"got {bias.shape}")
        y = y + bias
    return y


def linear_backward(grad_out, x, weight):
    """Gradients of :func:`linear`: ``(grad_x, grad_weight, grad_bias)`` with
    ``grad_x = grad_out @ weight``, ``grad_weight = grad_out^T x`` (summed over all leading
    axes) and ``grad_bias = grad_out`` summed over all leading axes."""
    dtype = _float_dtype(grad_out, x, weight)
    g, x, weight = _as(grad_out, dtype), _as(x, dtype), _as(weight, dtype)
    g2 = g.reshape(-1, g.shape[-1])
    x2 = x.reshape(-1, x.shape[-1])
    return g @ weight, g2.T @ x2, g2.sum(axis=0)


# --------------------------------------------------------------------------- softmax / loss

def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``, shifted by the maximum for stability."""
    x = _as(x, _float_dtype(x))
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis``, shifted by the maximum for stability."""
    x = _as(x, _float_dtype(x))
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_backward(grad_out, x, axis=-1):
    """Gradient of :func:`softmax` w.r.t. ``x``: ``s * (g - sum(g * s))`` along ``axis``."""
    dtype = _float_dtype(grad_out, x)
    g = _as(grad_out, dtype)
    s = softmax(_as(x, dtype), axis=axis)
    return s * (g - np.sum(g * s, axis=axis, keepdims=True))


def _ce_target(logits, target, op):
    """Return ``(logits, target_matrix)``: integer labels become one-hot rows."""
    dtype = _float_dtype(logits)
    logits = _as(logits, dtype)
    if logits.ndim != 2:
        raise ValueError(f"{op}: logits must be 2-D (N, K), got shape {logits.shape}")
    N, K = logits.shape
    target = np.asarray(target)
    if target.ndim == 1:
        if not np.issubdtype(target.dtype, np.integer):
            raise ValueError(f"{op}: 1-D targets must be integer class labels, "
                             f"got dtype {target.dtype}")
        if target.shape != (N,):
            raise ValueError(f"{op}: labels must have shape ({N},), got {target.shape}")
        if N and (target.min() < 0 or target.max() >= K):
            raise ValueError(f"{op}: labels must lie in [0, {K}), got range "
                             f"[{target.min()}, {target.max()}]")
        t = np.zeros((N, K), dtype=dtype)
        t[np.arange(N), target] = 1
        return logits, t
    if target.shape != (N, K):
        raise ValueError(f"{op}: targets must be labels ({N},) or one-hot/probabilities "
                         f"({N}, {K}), got shape {target.shape}")
    return logits, target.astype(dtype, copy=False)


def cross_entropy(logits, target):
    """Mean softmax cross-entropy over the batch, like ``torch.nn.functional.cross_entropy``.

    ``logits`` is ``(N, K)``; ``target`` is integer labels ``(N,)`` or one-hot /
    class-probability rows ``(N, K)``.  Loss ``= -(1/N) sum_n sum_k t[n, k] *
    log_softmax(logits)[n, k]`` with a stable log-softmax.  Returns a NumPy scalar of the
    logits' dtype.
    """
    logits, t = _ce_target(logits, target, "cross_entropy")
    N = logits.shape[0]
    loss = -np.sum(t * log_softmax(logits, axis=1)) / logits.dtype.type(N)
    return logits.dtype.type(loss)


def cross_entropy_backward(logits, target):
    """Gradient of the mean :func:`cross_entropy` w.r.t. ``logits``:
    ``(softmax(logits) * sum_k t[n, k] - t) / N`` (``(softmax - onehot) / N`` for labels)."""
    logits, t = _ce_target(logits, target, "cross_entropy_backward")
    N = logits.shape[0]
    s = softmax(logits, axis=1)
    return (s * t.sum(axis=1, keepdims=True) - t) / logits.dtype.type(N)


# --------------------------------------------------------------------------- dropout

def dropout(x, p, training=True, rng=None):
    """Inverted dropout.  Returns ``(y, mask)`` with ``y = x * mask``.

    In training (and ``p > 0``), ``mask`` has the dtype and shape of ``x`` and holds ``0``
    (dropped, with probability ``p``) or ``1 / (1 - p)`` (kept): element ``i`` is kept iff
    ``u[i] >= p`` where ``u = rng.random(x.shape, dtype=x.dtype)``, the same draw as
    :func:`fastconv.functional.dropout`, so equal seeds give equal masks.  With ``p == 1``
    everything is dropped and the mask is all zeros (PyTorch allows ``p = 1``).
    Outside training, or with ``p == 0``, the op is the identity: ``(x.copy(), None)``.

    ``rng`` is a ``numpy.random.Generator``, an int seed, or None (fresh entropy); it is
    passed to ``numpy.random.default_rng``.
    """
    x = _as(x, _float_dtype(x))
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x.copy(), None
    rng = np.random.default_rng(rng)
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    if p == 1.0:
        mask = np.zeros(x.shape, dtype=x.dtype)
    else:
        mask = keep * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask


def dropout_backward(grad_out, mask, p):
    """Gradient of :func:`dropout`: ``grad_out * mask``; with ``mask=None`` (evaluation
    mode) a copy of ``grad_out``.  ``p`` is accepted for symmetry with the forward."""
    g = _as(grad_out, _float_dtype(grad_out))
    if mask is None:
        return g.copy()
    return g * _as(mask, g.dtype)


# --------------------------------------------------------------------------- batch norm

def batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum=0.1,
                 eps=1e-5):
    """Batch normalisation over N, H, W for each channel of an NCHW tensor, like
    ``torch.nn.functional.batch_norm``.

    Training: normalise with the batch mean and the *biased* batch variance, and update
    ``running_mean`` / ``running_var`` in place (when not None) as
    ``r = (1 - momentum) * r + momentum * stat`` using the *unbiased* variance.
    Evaluation: normalise with ``running_mean`` and ``running_var``.
    ``y = (x - mean) / sqrt(var + eps) * gamma + beta``; ``gamma`` / ``beta`` of None mean
    1 / 0.  Returns ``y``.
    """
    dtype = _float_dtype(x)
    x = _as(x, dtype)
    _check_4d(x, "batch_norm2d")
    N, C, H, W = x.shape
    gamma = np.ones(C, dtype) if gamma is None else _as(gamma, dtype)
    beta = np.zeros(C, dtype) if beta is None else _as(beta, dtype)
    if gamma.shape != (C,) or beta.shape != (C,):
        raise ValueError(f"batch_norm2d: gamma and beta must have shape ({C},), got "
                         f"{gamma.shape} and {beta.shape}")
    if training:
        M = N * H * W
        if M <= 1:
            raise ValueError(f"batch_norm2d: training needs more than 1 value per channel, "
                             f"got input shape {x.shape}")
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
        if running_var is not None:
            running_var *= 1 - momentum
            running_var += momentum * var * (M / (M - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm2d: evaluation mode needs running_mean and running_var")
        mean = _as(running_mean, dtype)
        var = _as(running_var, dtype)
    scale = gamma / np.sqrt(var + dtype.type(eps))
    return ((x - mean[:, None, None]) * scale[:, None, None]
            + beta[:, None, None]).astype(dtype, copy=False)


def batch_norm2d_backward(grad_out, x, gamma, eps=1e-5):
    """Gradients of training-mode :func:`batch_norm2d` (batch statistics) w.r.t. ``x``,
    ``gamma`` and ``beta``: ``(grad_x, grad_gamma, grad_beta)``.

    With ``xhat = (x - mean) / sqrt(var + eps)`` and ``M = N*H*W``:
    ``grad_beta = sum g``, ``grad_gamma = sum g * xhat`` and
    ``grad_x = gamma / sqrt(var + eps) / M * (M*g - grad_beta - xhat * grad_gamma)``.
    """
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    _check_4d(x, "batch_norm2d_backward")
    N, C, H, W = x.shape
    gamma = np.ones(C, dtype) if gamma is None else _as(gamma, dtype)
    M = N * H * W
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    invstd = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + dtype.type(eps))
    xhat = (x - mean) * invstd
    gb = g.sum(axis=(0, 2, 3))
    gg = (g * xhat).sum(axis=(0, 2, 3))
    gx = (gamma[:, None, None] * invstd / dtype.type(M)
          * (M * g - gb[:, None, None] - xhat * gg[:, None, None]))
    return gx.astype(dtype, copy=False), gg, gb


# --------------------------------------------------------------------------- flatten

def flatten(x):
    """Row-major flatten of everything but the batch axis: ``(N, ...) -> (N, prod(...))``."""
    x = np.asarray(x)
    return x.reshape(x.shape[0], -1)


def flatten_backward(grad_out, x_shape):
    """Gradient of :func:`flatten`: ``grad_out`` reshaped back to ``x_shape``."""
    return np.asarray(grad_out).reshape(tuple(x_shape))
