"""Reference convolution: one tensordot per kernel tap."""
import numpy as np

from ._checks import _as, _check_4d, _float_dtype, _pair, _sides


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
        pads = _sides(padding, op)
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


def _conv2d_one_group(x, weight, bias, stride, padding, dilation):
    """2-D convolution (cross-correlation, no kernel flip), like ``torch.nn.functional.conv2d``.

    ``y[n, k, i, j] = bias[k] + sum_{c, r, s} weight[k, c, r, s] *
    xpad[n, c, i*sh + r*dh, j*sw + s*dw]`` where ``xpad`` is ``x`` zero-padded.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    weight : ndarray (K, C, R, S)
    bias : ndarray (K,) or None
    stride, dilation : int or (h, w)
    padding : int, (ph, pw), per-side ``((top, bottom), (left, right))``, ``'valid'``
        (no padding) or ``'same'`` (stride 1 only; total
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


def _conv2d_backward_one_group(grad_out, x, weight, stride, padding, dilation):
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


def _groups(groups, C, K, op):
    """``groups`` as an int dividing both channel counts."""
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)):
        raise ValueError(f"{op}: groups must be an int, got {groups!r}")
    groups = int(groups)
    if groups <= 0 or C % groups or K % groups:
        raise ValueError(f"{op}: groups={groups} must be positive and divide both the input "
                         f"channels {C} and the number of filters {K}")
    return groups


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, no kernel flip), like ``torch.nn.functional.conv2d``.

    ``y[n, k, i, j] = bias[k] + sum_{c, r, s} weight[k, c, r, s] *
    xpad[n, g*C/G + c, i*sh + r*dh, j*sw + s*dw]`` where ``xpad`` is ``x`` zero-padded and
    ``g = k // (K/G)`` is filter k's group.

    Parameters
    ----------
    x : ndarray (N, C, H, W)
    weight : ndarray (K, C / groups, R, S)
    bias : ndarray (K,) or None
    stride, dilation : int or (h, w)
    padding : int, (ph, pw), per-side ``((top, bottom), (left, right))``, ``'valid'``
        (no padding) or ``'same'`` (stride 1 only; total padding ``d*(k-1)`` per
        dimension, ``total // 2`` on the top/left and the rest on the bottom/right, as
        PyTorch does).
    groups : int dividing C and K: group g's K/groups filters see only input channels
        ``g*C/groups .. (g+1)*C/groups - 1``. ``groups == C`` is a depthwise convolution.

    Returns
    -------
    ndarray (N, K, Ho, Wo) with ``Ho = (H + pt + pb - dh*(R-1) - 1) // sh + 1``.

    Implementation: each group is an ordinary convolution of its channel slice (one GEMM
    per kernel tap: the tap's strided slice of the padded input, a ``(C, N*Ho*Wo)``
    matrix, times ``weight[:, :, r, s]``), and the groups' outputs are concatenated.
    """
    dtype = _float_dtype(x, weight, bias)
    x, weight, bias = _as(x, dtype), _as(weight, dtype), _as(bias, dtype)
    _check_4d(x, "conv2d")
    _check_4d(weight, "conv2d", "weight")
    G = _groups(groups, x.shape[1], weight.shape[0], "conv2d")
    if G == 1:
        return _conv2d_one_group(x, weight, bias, stride, padding, dilation)
    if weight.shape[1] * G != x.shape[1]:
        raise ValueError(f"conv2d: weight has {weight.shape[1]} input channels per group, "
                         f"{weight.shape[1] * G} for {G} groups, but x has {x.shape[1]}")
    K = weight.shape[0]
    if bias is not None and bias.shape != (K,):
        raise ValueError(f"conv2d: bias must have shape ({K},), got {bias.shape}")
    Cg, Kg = x.shape[1] // G, K // G
    return np.concatenate([
        _conv2d_one_group(x[:, g * Cg:(g + 1) * Cg], weight[g * Kg:(g + 1) * Kg],
                          None if bias is None else bias[g * Kg:(g + 1) * Kg],
                          stride, padding, dilation)
        for g in range(G)], axis=1)


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, groups=1):
    """Gradients of :func:`conv2d` with respect to ``x``, ``weight`` and ``bias``.

    Returns ``(grad_x, grad_weight, grad_bias)`` with the shapes of ``x`` (N, C, H, W),
    ``weight`` (K, C / groups, R, S) and ``(K,)``.  ``grad_bias`` is always returned (the
    sum of ``grad_out`` over N, Ho, Wo); ignore it if the forward had no bias. With
    groups, each group's gradients are those of its own convolution.
    """
    dtype = _float_dtype(grad_out, x, weight)
    g, x, weight = _as(grad_out, dtype), _as(x, dtype), _as(weight, dtype)
    _check_4d(x, "conv2d_backward")
    _check_4d(weight, "conv2d_backward", "weight")
    G = _groups(groups, x.shape[1], weight.shape[0], "conv2d_backward")
    if G == 1:
        return _conv2d_backward_one_group(g, x, weight, stride, padding, dilation)
    if weight.shape[1] * G != x.shape[1]:
        raise ValueError(f"conv2d_backward: weight has {weight.shape[1]} input channels per "
                         f"group but x has {x.shape[1]} for {G} groups")
    Cg, Kg = x.shape[1] // G, weight.shape[0] // G
    if g.ndim != 4 or g.shape[1] != weight.shape[0]:
        raise ValueError(f"conv2d_backward: grad_out must have {weight.shape[0]} channels, "
                         f"got shape {g.shape}")
    parts = [_conv2d_backward_one_group(g[:, i * Kg:(i + 1) * Kg], x[:, i * Cg:(i + 1) * Cg],
                                        weight[i * Kg:(i + 1) * Kg], stride, padding, dilation)
             for i in range(G)]
    return tuple(np.concatenate([p[j] for p in parts], axis=ax) for j, ax in ((0, 1), (1, 0), (2, 0)))
