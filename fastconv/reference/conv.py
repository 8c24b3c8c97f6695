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


# --------------------------------------------------------------------------- conv_transpose2d

def _transpose_geometry(x_shape, w_shape, stride, padding, output_padding, groups, dilation, op):
    """Resolve conv_transpose2d options: ``(sh, sw), (dh, dw), pads, (oph, opw), G, out_hw``."""
    N, Cin, H, W = x_shape
    Cw, Kg, R, S = w_shape
    if Cw != Cin:
        raise ValueError(f"{op}: weight has {Cw} input channels but x has {Cin}")
    G = _groups(groups, Cin, Cin, op)
    sh, sw = _pair(stride, "stride", op)
    dh, dw = _pair(dilation, "dilation", op)
    oph, opw = _pair(output_padding, "output_padding", op)
    if min(sh, sw, dh, dw) <= 0:
        raise ValueError(f"{op}: stride and dilation must be positive, got {(sh, sw)}, {(dh, dw)}")
    if min(oph, opw) < 0 or oph >= max(sh, dh) or opw >= max(sw, dw):
        raise ValueError(f"{op}: output_padding {(oph, opw)} must be >= 0 and smaller than the "
                         f"stride or the dilation")
    pads = _sides(padding, op)
    Ho = (H - 1) * sh - sum(pads[0]) + dh * (R - 1) + oph + 1
    Wo = (W - 1) * sw - sum(pads[1]) + dw * (S - 1) + opw + 1
    if Ho <= 0 or Wo <= 0:
        raise ValueError(f"{op}: padding {pads} leaves no output ({Ho}x{Wo})")
    return (sh, sw), (dh, dw), pads, (oph, opw), G, (Ho, Wo)


def _full_size(hw, kernel, stride, dil, out_pad):
    """Size of the uncropped transposed output: every tap of every input pixel lands in it."""
    return tuple((n - 1) * s + d * (k - 1) + 1 + o
                 for n, k, s, d, o in zip(hw, kernel, stride, dil, out_pad))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    """Transposed convolution, like ``torch.nn.functional.conv_transpose2d``.

    Scatter form: input pixel ``(n, c, i, j)`` adds ``x[n, c, i, j] * weight[c, k', r, s]``
    to output ``(n, g*K/G + k', i*sh + r*dh - pt, j*sw + s*dw - pl)`` for every tap, where
    ``g`` is c's group; outputs outside ``[0, Ho) x [0, Wo)`` are dropped.
    ``weight`` is (C_in, K / groups, R, S); ``Ho = (H-1)*sh - pt - pb + dh*(R-1) + oph + 1``.
    """
    op = "conv_transpose2d"
    dtype = _float_dtype(x, weight, bias)
    x, weight, bias = _as(x, dtype), _as(weight, dtype), _as(bias, dtype)
    _check_4d(x, op)
    _check_4d(weight, op, "weight")
    stride, dil, pads, out_pad, G, out_hw = _transpose_geometry(
        x.shape, weight.shape, stride, padding, output_padding, groups, dilation, op)
    N, Cin, H, W = x.shape
    _, Kg, R, S = weight.shape
    Cg = Cin // G
    full = np.zeros((N, Kg * G) + _full_size((H, W), (R, S), stride, dil, out_pad), dtype=dtype)
    for g in range(G):
        xs = x[:, g * Cg:(g + 1) * Cg]
        for r in range(R):
            for s in range(S):
                rows = slice(r * dil[0], r * dil[0] + stride[0] * (H - 1) + 1, stride[0])
                cols = slice(s * dil[1], s * dil[1] + stride[1] * (W - 1) + 1, stride[1])
                full[:, g * Kg:(g + 1) * Kg, rows, cols] += np.einsum(
                    "nchw,ck->nkhw", xs, weight[g * Cg:(g + 1) * Cg, :, r, s])
    (pt, _), (pl, _) = pads
    y = full[:, :, pt:pt + out_hw[0], pl:pl + out_hw[1]]
    if y.shape[2:] != out_hw:   # padding after < output_padding: the extra rows stay zero
        y = np.pad(y, ((0, 0), (0, 0), (0, out_hw[0] - y.shape[2]), (0, out_hw[1] - y.shape[3])))
    if bias is not None:
        if bias.shape != (Kg * G,):
            raise ValueError(f"{op}: bias must have shape ({Kg * G},), got {bias.shape}")
        y = y + bias[:, None, None]
    return np.ascontiguousarray(y)


def conv_transpose2d_backward(grad_out, x, weight, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1):
    """Gradients of :func:`conv_transpose2d`: ``(grad_x, grad_weight, grad_bias)``.

    The adjoint of the scatter: each input pixel gathers ``grad_out`` from the outputs it
    was added to (zero outside the cropped output), weighted by the tap's weight.
    """
    op = "conv_transpose2d_backward"
    dtype = _float_dtype(grad_out, x, weight)
    gy, x, weight = _as(grad_out, dtype), _as(x, dtype), _as(weight, dtype)
    _check_4d(x, op)
    _check_4d(weight, op, "weight")
    stride, dil, pads, out_pad, G, out_hw = _transpose_geometry(
        x.shape, weight.shape, stride, padding, output_padding, groups, dilation, op)
    N, Cin, H, W = x.shape
    _, Kg, R, S = weight.shape
    if gy.shape != (N, Kg * G) + out_hw:
        raise ValueError(f"{op}: grad_out must have shape {(N, Kg * G) + out_hw}, got {gy.shape}")
    fh, fw = _full_size((H, W), (R, S), stride, dil, out_pad)
    (pt, _), (pl, _) = pads
    full = np.zeros((N, Kg * G, max(fh, pt + out_hw[0]), max(fw, pl + out_hw[1])), dtype=dtype)
    full[:, :, pt:pt + out_hw[0], pl:pl + out_hw[1]] = gy
    Cg = Cin // G
    gx = np.zeros_like(x)
    gw = np.zeros_like(weight)
    for g in range(G):
        cs, ks = slice(g * Cg, (g + 1) * Cg), slice(g * Kg, (g + 1) * Kg)
        for r in range(R):
            for s in range(S):
                rows = slice(r * dil[0], r * dil[0] + stride[0] * (H - 1) + 1, stride[0])
                cols = slice(s * dil[1], s * dil[1] + stride[1] * (W - 1) + 1, stride[1])
                tap = full[:, ks, rows, cols]
                gx[:, cs] += np.einsum("nkhw,ck->nchw", tap, weight[cs, :, r, s])
                gw[cs, :, r, s] = np.einsum("nchw,nkhw->ck", x[:, cs], tap)
    return gx, gw, gy.sum(axis=(0, 2, 3))
