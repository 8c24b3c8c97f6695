"""Reference pooling over sliding-window views."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import _as, _check_4d, _float_dtype, _pair


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
