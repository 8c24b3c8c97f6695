"""Reference pooling over sliding-window views."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import _as, _check_4d, _float_dtype, _pair, _sides


# --------------------------------------------------------------------------- pooling

def _pool_out_size(size, k, s, pads, d, ceil_mode, dim, op):
    """PyTorch's pooling output size for one dimension, with per-side ``pads`` and
    dilation ``d`` (raises ValueError when < 1 or when a window misses the input)."""
    before, after = pads
    span = d * (k - 1) + 1
    num = size + before + after - span
    out = (num + (s - 1 if ceil_mode else 0)) // s + 1      # Python // floors, like div_rtn
    if ceil_mode and (out - 1) * s >= size + before:        # last window must start inside
        out -= 1                                            # the image or the left padding
    if out < 1:
        raise ValueError(
            f"{op}: kernel {k} is larger than the padded input {size + before + after} "
            f"({dim} {size} + padding {pads}); output size would be {out}")
    # PyTorch refuses padding beyond half the window; here any padding is defined as long
    # as every window overlaps the input (the first one reaches it, the last starts in it).
    if before >= span or (out - 1) * s - before >= size:
        raise ValueError(f"{op}: padding {pads} leaves a window wholly in the padding "
                         f"({dim} {size}, kernel {k}, stride {s})")
    return out


def _keras_same(size, k, s, d):
    """Keras's 'same' padding of one dimension: ``(before, after)``."""
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _pool_geometry(x_shape, kernel_size, stride, padding, ceil_mode, op, dilation=1):
    """Resolve pooling options: ``(kh, kw), (sh, sw), pads, (Ho, Wo), (dh, dw),
    exclude_pad`` with ``pads = ((top, bottom), (left, right))``."""
    _, _, H, W = x_shape
    kh, kw = _pair(kernel_size, "kernel_size", op)
    if stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0):
        sh, sw = kh, kw
    else:
        sh, sw = _pair(stride, "stride", op)
    dh, dw = _pair(dilation, "dilation", op)
    if kh <= 0 or kw <= 0:
        raise ValueError(f"{op}: kernel_size must be positive, got ({kh}, {kw})")
    if sh <= 0 or sw <= 0:
        raise ValueError(f"{op}: stride must be positive, got ({sh}, {sw})")
    if dh <= 0 or dw <= 0:
        raise ValueError(f"{op}: dilation must be positive, got ({dh}, {dw})")
    exclude_pad = False
    if isinstance(padding, str):
        if padding.lower() == "valid":
            pads = ((0, 0), (0, 0))
        elif padding.lower() == "same":
            if ceil_mode:
                raise ValueError(f"{op}: ceil_mode=True has no meaning with padding='same'")
            pads = (_keras_same(H, kh, sh, dh), _keras_same(W, kw, sw, dw))
            exclude_pad = True
        else:
            raise ValueError(f"{op}: padding must be an int, a pair, per-side pairs, 'valid' "
                             f"or 'same', got {padding!r}")
    else:
        pads = _sides(padding, op)
    Ho = _pool_out_size(H, kh, sh, pads[0], dh, ceil_mode, "height", op)
    Wo = _pool_out_size(W, kw, sw, pads[1], dw, ceil_mode, "width", op)
    return (kh, kw), (sh, sw), pads, (Ho, Wo), (dh, dw), exclude_pad


def _span(kernel, dil):
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dil))


def _padded_shape(x_shape, kernel, stride, pads, out_hw, dil):
    """Shape of ``x`` padded per side plus whatever extra the last (ceil_mode) window
    needs on the bottom/right."""
    return x_shape[:2] + tuple(max((o - 1) * s + e, n + b + a) for o, s, e, n, (b, a)
                               in zip(out_hw, stride, _span(kernel, dil), x_shape[2:], pads))


def _pool_pad(x, kernel, stride, pads, out_hw, dil, fill):
    """``x`` padded with ``fill`` to :func:`_padded_shape` (``pads`` before, the rest after)."""
    shape = _padded_shape(x.shape, kernel, stride, pads, out_hw, dil)
    (pt, _), (pl, _) = pads
    H, W = x.shape[2:]
    return np.pad(x, ((0, 0), (0, 0), (pt, shape[2] - H - pt), (pl, shape[3] - W - pl)),
                  constant_values=fill)


def _pool_windows(xp, kernel, stride, out_hw, dil=(1, 1)):
    """View ``(N, C, Ho, Wo, kh, kw)`` of the (dilated) pooling windows of the padded input."""
    (sh, sw), (Ho, Wo), (dh, dw) = stride, out_hw, dil
    win = sliding_window_view(xp, _span(kernel, dil), axis=(2, 3))
    return win[:, :, ::sh, ::sw][:, :, :Ho, :Wo, ::dh, ::dw]


def _window_valid(size, k, s, p, out, d=1):
    """Boolean ``(out, k)``: does window ``o``'s element ``i`` fall inside the image?"""
    pos = np.arange(out)[:, None] * s - p + np.arange(k)[None, :] * d
    return (pos >= 0) & (pos < size)


def _scatter_windows(gwin, shape_padded, kernel, stride, out_hw, dtype, dil=(1, 1)):
    """Adjoint of :func:`_pool_windows`: add ``gwin (N, C, Ho, Wo, kh, kw)`` back into a
    zero array of ``shape_padded``."""
    (kh, kw), (sh, sw), (Ho, Wo), (dh, dw) = kernel, stride, out_hw, dil
    gp = np.zeros(shape_padded, dtype=dtype)
    for i in range(kh):
        for j in range(kw):
            gp[:, :, i * dh:i * dh + sh * (Ho - 1) + 1:sh,
               j * dw:j * dw + sw * (Wo - 1) + 1:sw] += gwin[..., i, j]
    return gp


def _max_pool_argmax(x, kernel, stride, pads, out_hw, dil):
    """Flat in-window index (``i*kw + j``) of the element each max-pooling window picks.

    Padding never wins; among equal maxima the first in row-major scan order wins; if the
    window holds NaN, the last NaN wins (PyTorch's CPU kernel: ``val > max || isnan(val)``).
    """
    H, W = x.shape[2:]
    (kh, kw), (sh, sw), ((pt, _), (pl, _)), (Ho, Wo), (dh, dw) = kernel, stride, pads, out_hw, dil
    win = _pool_windows(_pool_pad(x, kernel, stride, pads, out_hw, dil, -np.inf),
                        kernel, stride, out_hw, dil)
    win = win.reshape(win.shape[:4] + (kh * kw,))
    valid = (_window_valid(H, kh, sh, pt, Ho, dh)[:, None, :, None]
             & _window_valid(W, kw, sw, pl, Wo, dw)[None, :, None, :]).reshape(Ho, Wo, kh * kw)
    m = win.max(axis=-1, keepdims=True)
    first = np.argmax((win == m) & valid, axis=-1)          # first valid maximum (also -inf)
    nan = np.isnan(win) & valid
    last_nan = kh * kw - 1 - np.argmax(nan[..., ::-1], axis=-1)
    return np.where(nan.any(axis=-1), last_nan, first), win


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, *, dilation=1):
    """2-D max pooling, like ``torch.nn.functional.max_pool2d``.

    ``stride`` defaults to ``kernel_size``.  ``padding`` is implicit negative infinity: it
    never wins a maximum.  The output size per dimension is
    ``floor((H + pt + pb - d*(k-1) - 1) / s) + 1`` (``ceil`` with ``ceil_mode``, in which
    case a window that would start in the bottom/right padding is dropped), so with
    ``ceil_mode`` the last partial window of a row or column still counts: a 5x5 map pooled
    2x2 stride 2 is 3x3.  ``dilation`` (keyword-only) spaces the taps as in PyTorch.

    ``padding``: int, ``(ph, pw)``, per-side ``((top, bottom), (left, right))``, ``'valid'``
    or ``'same'`` (Keras: output ``ceil(H / s)``, total padding
    ``max((out-1)*s + d*(k-1) + 1 - H, 0)``, extra pixel at the bottom/right; not with
    ``ceil_mode``).  PyTorch allows at most half the window of padding; here any padding is
    defined as long as every window overlaps the input (else ValueError).
    """
    dtype = _float_dtype(x)
    x = _as(x, dtype)
    _check_4d(x, "max_pool2d")
    kernel, stride, pads, out_hw, dil, _ = _pool_geometry(x.shape, kernel_size, stride, padding,
                                                          ceil_mode, "max_pool2d", dilation)
    idx, win = _max_pool_argmax(x, kernel, stride, pads, out_hw, dil)
    return np.ascontiguousarray(np.take_along_axis(win, idx[..., None], axis=-1)[..., 0])


def _pool_backward_args(grad_out, x, kernel_size, stride, padding, ceil_mode, op, dilation=1):
    """The common inputs of the pooling backwards: arrays in one float dtype, the
    geometry, and grad_out checked against the output shape."""
    dtype = _float_dtype(grad_out, x)
    g, x = _as(grad_out, dtype), _as(x, dtype)
    _check_4d(x, op)
    geom = _pool_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op, dilation)
    out_hw = geom[3]
    if g.shape != x.shape[:2] + out_hw:
        raise ValueError(f"{op}: grad_out must have shape {x.shape[:2] + out_hw}, got {g.shape}")
    return (g, x, dtype) + geom


def _crop(gp, pads, hw):
    """The image part of a padded gradient."""
    ((pt, _), (pl, _)), (H, W) = pads, hw
    return np.ascontiguousarray(gp[:, :, pt:pt + H, pl:pl + W])


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False, *,
                        dilation=1):
    """Gradient of :func:`max_pool2d` w.r.t. ``x``: each window's gradient goes entirely to
    the element that won its maximum (the first maximum in scan order on ties); elements
    that win several overlapping windows accumulate."""
    g, x, dtype, kernel, stride, pads, out_hw, dil, _ = _pool_backward_args(
        grad_out, x, kernel_size, stride, padding, ceil_mode, "max_pool2d_backward", dilation)
    idx, _ = _max_pool_argmax(x, kernel, stride, pads, out_hw, dil)
    kh, kw = kernel
    onehot = (idx[..., None] == np.arange(kh * kw)).reshape(idx.shape + (kh, kw))
    gwin = np.where(onehot, g[..., None, None], dtype.type(0))
    gp = _scatter_windows(gwin, _padded_shape(x.shape, kernel, stride, pads, out_hw, dil),
                          kernel, stride, out_hw, dtype, dil)
    return _crop(gp, pads, x.shape[2:])


def _avg_divisor(size, k, s, pads, out, count_include_pad):
    """Divisor of each window along one dimension (PyTorch's ``pool_size`` factor)."""
    before, after = pads
    start = np.arange(out) * s - before
    end = np.minimum(start + k, size + after)      # windows are clipped to [-pt, size + pb)
    if not count_include_pad:
        start, end = np.maximum(start, 0), np.minimum(end, size)   # ... or to the image
    return end - start


def _avg_divisor_2d(hw, kernel, stride, pads, out_hw, count_include_pad, dtype):
    dh = _avg_divisor(hw[0], kernel[0], stride[0], pads[0], out_hw[0], count_include_pad)
    dw = _avg_divisor(hw[1], kernel[1], stride[1], pads[1], out_hw[1], count_include_pad)
    return (dh[:, None] * dw[None, :]).astype(dtype)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """2-D average pooling, like ``torch.nn.functional.avg_pool2d``.

    Geometry as :func:`max_pool2d` (no dilation); padding is zeros.  Each window's sum is
    divided by the window size clipped to ``[-pt, H + pb)`` (``count_include_pad=True``:
    padding counts but the ``ceil_mode`` overhang does not) or clipped to the image
    ``[0, H)`` (``count_include_pad=False``, and always with ``padding='same'``, as Keras
    does), per dimension.
    """
    dtype = _float_dtype(x)
    x = _as(x, dtype)
    _check_4d(x, "avg_pool2d")
    kernel, stride, pads, out_hw, dil, exclude = _pool_geometry(
        x.shape, kernel_size, stride, padding, ceil_mode, "avg_pool2d")
    win = _pool_windows(_pool_pad(x, kernel, stride, pads, out_hw, dil, 0), kernel, stride, out_hw)
    div = _avg_divisor_2d(x.shape[2:], kernel, stride, pads, out_hw,
                          count_include_pad and not exclude, dtype)
    return np.ascontiguousarray(win.sum(axis=(-2, -1)) / div)


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of :func:`avg_pool2d` w.r.t. ``x``: each window spreads
    ``grad / divisor`` over its elements; the part landing on padding is dropped."""
    g, x, dtype, kernel, stride, pads, out_hw, dil, exclude = _pool_backward_args(
        grad_out, x, kernel_size, stride, padding, ceil_mode, "avg_pool2d_backward")
    div = _avg_divisor_2d(x.shape[2:], kernel, stride, pads, out_hw,
                          count_include_pad and not exclude, dtype)
    share = g / div
    kh, kw = kernel
    gwin = np.broadcast_to(share[..., None, None], share.shape + (kh, kw))
    gp = _scatter_windows(gwin, _padded_shape(x.shape, kernel, stride, pads, out_hw, dil),
                          kernel, stride, out_hw, dtype)
    return _crop(gp, pads, x.shape[2:])
