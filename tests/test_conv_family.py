"""The convolution family beyond plain conv2d: per-side padding (conv and pooling, Keras's
'same' rule, pooling dilation and wide padding), grouped and depthwise convolution, and
transposed convolution.

fastconv.functional against fastconv.reference over hypothesis-randomised geometries
(both dtypes, both SIMD paths, forward and backward), the reference against PyTorch
(float64) where PyTorch can express the op, and float64 finite differences.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import geometry as geo
from fastconv import reference as ref

from conftest import assert_close

DTYPES = [np.float32, np.float64]
FEW = settings(max_examples=15)


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _torch():
    return pytest.importorskip("torch")


def _sides(padding):
    """Any explicit padding as ((top, bottom), (left, right))."""
    if isinstance(padding, int):
        return (padding, padding), (padding, padding)
    if isinstance(padding[0], int):
        return (padding[0], padding[0]), (padding[1], padding[1])
    return tuple(map(tuple, padding))


# ------------------------------------------------------------------ per-side padding

@st.composite
def per_side_conv_cases(draw):
    N, C, K = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    H = max(1, dil[0] * (R - 1) + 1 - sum(pads[0]) + draw(st.integers(0, 5)))
    W = max(1, dil[1] * (S - 1) + 1 - sum(pads[1]) + draw(st.integers(0, 5)))
    return dict(shape=(N, C, H, W), wshape=(K, C, R, S), stride=stride, padding=pads,
                dilation=dil)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=per_side_conv_cases())
def test_conv2d_per_side_padding_matches_reference(simd, dtype, case):
    rng = np.random.default_rng(0)
    x, w = _rand(rng, case["shape"], dtype), _rand(rng, case["wshape"], dtype)
    b = _rand(rng, case["wshape"][:1], dtype)
    opts = {k: case[k] for k in ("stride", "padding", "dilation")}
    y = F.conv2d(x, w, b, **opts)
    terms = np.prod(case["wshape"][1:])
    assert_close(y, ref.conv2d(x, w, b, **opts), dtype, terms, "conv2d per-side")
    g = _rand(rng, y.shape, dtype)
    for a, e, what in zip(F.conv2d_backward(g, x, w, **opts), ref.conv2d_backward(g, x, w, **opts),
                          ("grad_x", "grad_weight", "grad_bias")):
        assert_close(a, e, dtype, y.size * terms, what)


@settings(max_examples=25)
@given(case=per_side_conv_cases())
def test_conv2d_per_side_padding_reference_matches_torch(case):
    torch = _torch()
    TF = torch.nn.functional
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal(case["shape"]), rng.standard_normal(case["wshape"])
    (pt, pb), (pl, pr) = case["padding"]
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    yt = TF.conv2d(TF.pad(xt, (pl, pr, pt, pb)), wt, stride=case["stride"],
                   dilation=case["dilation"])
    opts = {k: case[k] for k in ("stride", "padding", "dilation")}
    y = ref.conv2d(x, w, **opts)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-11)
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    gx, gw, _ = ref.conv2d_backward(g, x, w, **opts)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-11)
    np.testing.assert_allclose(gw, wt.grad.numpy(), rtol=1e-10, atol=1e-11)


def test_padding_forms_agree():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 3, 2))
    y = F.conv2d(x, w, padding=(1, 2))
    np.testing.assert_array_equal(y, F.conv2d(x, w, padding=((1, 1), (2, 2))))
    np.testing.assert_array_equal(F.conv2d(x, w, padding="same"),
                                  F.conv2d(x, w, padding=[[1, 1], [0, 1]]))
    assert F.conv2d(x, w, padding=((0, 3), (2, 0))).shape == (1, 3, 8, 7)


@pytest.mark.parametrize("n,k,s,d,expect", [
    (7, 3, 1, 1, (1, 1)), (7, 3, 2, 1, (1, 1)), (8, 3, 2, 1, (0, 1)), (8, 4, 1, 1, (1, 2)),
    (5, 3, 2, 2, (2, 2)), (6, 1, 3, 1, (0, 0)), (2, 5, 1, 1, (2, 2)), (3, 2, 4, 1, (0, 0)),
])
def test_keras_padding_follows_the_keras_rule(n, k, s, d, expect):
    pads = geo.keras_padding((n, 5), (k, 1), (s, 1), (d, 1), "same")
    assert pads[0] == expect
    assert pads[1] == (0, 0)
    out = -(-n // s)
    assert (n + sum(expect) - d * (k - 1) - 1) // s + 1 == out
    assert geo.keras_padding((n, n), k, s, d, "valid") == ((0, 0), (0, 0))


@given(n=st.integers(1, 20), k=st.integers(1, 6), s=st.integers(1, 4), d=st.integers(1, 3))
def test_keras_same_conv_has_ceil_output(n, k, s, d):
    pads = geo.keras_padding((n, n), k, s, d, "SAME")
    x, w = np.ones((1, 1, n, n)), np.ones((1, 1, k, k))
    assert F.conv2d(x, w, stride=s, dilation=d, padding=pads).shape[2:] == (-(-n // s),) * 2


@st.composite
def pool_cases(draw, dilation=True):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) if dilation else (1, 1)
    mode = draw(st.sampled_from(["per-side", "wide", "same"]))
    if mode == "same":
        padding, ceil_mode = "same", False
    else:
        hi = (kh, kw) if mode == "wide" else (kh // 2, kw // 2)
        padding = tuple((draw(st.integers(0, hi[i])), draw(st.integers(0, hi[i]))) for i in range(2))
        ceil_mode = draw(st.booleans())
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W)
    return dict(shape=shape, kernel_size=(kh, kw), stride=stride, padding=padding,
                ceil_mode=ceil_mode, dilation=dil)


def _pool_or_refusal(fn, x, **opts):
    try:
        return fn(x, **opts), None
    except ValueError as exc:
        return None, exc


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), count_include_pad=st.booleans(), ties=st.booleans())
def test_pooling_per_side_same_dilation_match_reference(dtype, case, count_include_pad, ties):
    rng = np.random.default_rng(3)
    x = (rng.integers(-2, 3, case["shape"]) if ties else rng.standard_normal(case["shape"]))
    x = x.astype(dtype)
    opts = {k: case[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    dil = case["dilation"]
    y, err = _pool_or_refusal(F.max_pool2d, x, dilation=dil, **opts)
    y_ref, err_ref = _pool_or_refusal(ref.max_pool2d, x, dilation=dil, **opts)
    assert (err is None) == (err_ref is None), (err, err_ref)
    if err is None:
        assert_close(y, y_ref, dtype, 1, "max_pool2d")
        g = _rand(rng, y.shape, dtype)
        assert_close(F.max_pool2d_backward(g, x, dilation=dil, **opts),
                     ref.max_pool2d_backward(g, x, dilation=dil, **opts), dtype, 16, "max backward")
    opts["count_include_pad"] = count_include_pad
    ya, err = _pool_or_refusal(F.avg_pool2d, x, **opts)
    ya_ref, err_ref = _pool_or_refusal(ref.avg_pool2d, x, **opts)
    assert (err is None) == (err_ref is None), (err, err_ref)
    if err is not None:
        return
    assert_close(ya, ya_ref, dtype, 16, "avg_pool2d")
    ga = _rand(rng, ya.shape, dtype)
    assert_close(F.avg_pool2d_backward(ga, x, **opts), ref.avg_pool2d_backward(ga, x, **opts),
                 dtype, 16, "avg_pool2d_backward")


def test_pooling_same_is_keras_pooling():
    x = np.arange(1.0, 26.0).reshape(1, 1, 5, 5)
    # 5 -> ceil(5/2) = 3 outputs, total pad (3-1)*2 + 2 - 5 = 1, all at the bottom/right
    np.testing.assert_array_equal(F.max_pool2d(x, 2, 2, "same")[0, 0],
                                  [[7, 9, 10], [17, 19, 20], [22, 24, 25]])
    # pad cells are excluded from the average even with count_include_pad=True
    np.testing.assert_array_equal(F.avg_pool2d(np.ones((1, 1, 5, 5)), 3, 2, "same"), 1.0)
    np.testing.assert_array_equal(F.avg_pool2d(x, 2, 2, "same")[0, 0, 2], [21.5, 23.5, 25])
    assert F.max_pool2d(x, 3, 1, "same").shape == (1, 1, 5, 5)
    assert F.max_pool2d(x, 3, 3, "valid").shape == (1, 1, 1, 1)


def test_pooling_accepts_padding_beyond_half_the_window():
    x = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    # kernel 3 with padding 2 on both sides: PyTorch refuses more than half the window
    y = F.avg_pool2d(x, (3, 1), (2, 1), ((2, 2), (0, 0)))
    assert y.shape == (1, 1, 3, 3)
    np.testing.assert_allclose(y[0, 0, :, 0], [1 / 3, 12 / 3, 7 / 3])
    y = F.avg_pool2d(x, (3, 1), (2, 1), ((2, 2), (0, 0)), count_include_pad=False)
    np.testing.assert_allclose(y[0, 0, :, 0], [1, 4, 7])
    np.testing.assert_array_equal(F.max_pool2d(x, 2, 1, ((0, 0), (1, 1))),
                                  ref.max_pool2d(x, 2, 1, ((0, 0), (1, 1))))
    with pytest.raises(ValueError, match="wholly in the padding"):
        F.max_pool2d(x, 2, 1, ((2, 0), (0, 0)))


# ------------------------------------------------------------------ grouped / depthwise

@st.composite
def grouped_cases(draw, depthwise=None):
    G = draw(st.integers(1, 4))
    depthwise = draw(st.booleans()) if depthwise is None else depthwise
    Cg = 1 if depthwise else draw(st.integers(1, 3))
    mult = draw(st.integers(1, 3))
    C, K = G * Cg, G * mult
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    pads = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(2))
    H = max(1, dil[0] * (R - 1) + 1 - sum(pads[0]) + draw(st.integers(0, 9)))
    W = max(1, dil[1] * (S - 1) + 1 - sum(pads[1]) + draw(st.integers(0, 19)))
    return dict(shape=(draw(st.integers(1, 3)), C, H, W), wshape=(K, Cg, R, S), stride=stride,
                padding=pads, dilation=dil, groups=G, bias=draw(st.booleans()))


def _check_grouped(dtype, case, activation=None):
    rng = np.random.default_rng(4)
    x, w = _rand(rng, case["shape"], dtype), _rand(rng, case["wshape"], dtype)
    b = _rand(rng, case["wshape"][:1], dtype) if case["bias"] else None
    opts = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    y = F.conv2d(x, w, b, activation=activation, **opts)
    y_ref = ref.conv2d(x, w, b, **opts)
    if activation == "relu":
        y_ref = ref.relu(y_ref)
    terms = np.prod(case["wshape"][1:])
    assert_close(y, y_ref, dtype, terms, "grouped conv2d")
    g = _rand(rng, y.shape, dtype)
    got = F.conv2d_backward(g, x, w, **opts)
    want = ref.conv2d_backward(g, x, w, **opts)
    for a, e, what in zip(got, want, ("grad_x", "grad_weight", "grad_bias")):
        assert_close(a, e, dtype, y.size * terms, what)
    assert F.conv2d_backward(g, x, w, input_grad=False, **opts)[0] is None


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=grouped_cases())
def test_grouped_conv2d_matches_reference(simd, dtype, case):
    _check_grouped(dtype, case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [1, 2])
@given(case=grouped_cases(depthwise=True))
def test_depthwise_conv2d_matches_reference(simd, dtype, stride, case):
    # strides 1 and 2 run the vectorised rows; the strategy's own strides the general ones
    _check_grouped(dtype, dict(case, stride=stride, dilation=1), activation="relu")


@settings(max_examples=20)
@given(case=grouped_cases())
def test_grouped_conv2d_reference_matches_torch(case):
    torch = _torch()
    TF = torch.nn.functional
    rng = np.random.default_rng(5)
    x, w = rng.standard_normal(case["shape"]), rng.standard_normal(case["wshape"])
    b = rng.standard_normal(case["wshape"][0])
    (pt, pb), (pl, pr) = case["padding"]
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = TF.conv2d(TF.pad(xt, (pl, pr, pt, pb)), wt, bt, stride=case["stride"],
                   dilation=case["dilation"], groups=case["groups"])
    opts = {k: case[k] for k in ("stride", "padding", "dilation", "groups")}
    y = ref.conv2d(x, w, b, **opts)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-11)
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    for a, t in zip(ref.conv2d_backward(g, x, w, **opts), (xt, wt, bt)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-10, atol=1e-11)


def test_depthwise_weight_gradient_is_independent_of_threads():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((11, 6, 17, 19)).astype(np.float32)
    w = rng.standard_normal((12, 1, 3, 3)).astype(np.float32)
    g = rng.standard_normal((11, 12, 9, 10)).astype(np.float32)
    before = fastconv.get_num_threads()
    try:
        out = []
        for nt in (1, 2, 3):
            fastconv.set_num_threads(nt)
            out.append(F.conv2d_backward(g, x, w, stride=2, padding=1, groups=6))
    finally:
        fastconv.set_num_threads(before)
    for other in out[1:]:
        for a, b in zip(out[0], other):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------ transposed convolution

@st.composite
def transpose_cases(draw):
    G = draw(st.integers(1, 3))
    Cin, K = G * draw(st.integers(1, 3)), G * draw(st.integers(1, 3))
    if draw(st.booleans()):       # depthwise-shaped: one output channel per group
        K = G
    R, S = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    out_pad = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dil))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    full = [(n - 1) * s + d * (k - 1) + 1 for n, s, d, k in zip((H, W), stride, dil, (R, S))]
    pads = tuple((draw(st.integers(0, min(2, (f - 1) // 2))), draw(st.integers(0, min(2, (f - 1) // 2))))
                 for f in full)
    if draw(st.booleans()):
        pads = (pads[0][0], pads[1][0])
    return dict(shape=(draw(st.integers(1, 3)), Cin, H, W), wshape=(Cin, K // G, R, S),
                stride=stride, padding=pads, output_padding=out_pad, groups=G, dilation=dil)


def _transpose_opts(case):
    return {k: case[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=transpose_cases())
def test_conv_transpose2d_matches_reference(simd, dtype, case):
    rng = np.random.default_rng(7)
    x, w = _rand(rng, case["shape"], dtype), _rand(rng, case["wshape"], dtype)
    b = _rand(rng, (case["wshape"][1] * case["groups"],), dtype)
    opts = _transpose_opts(case)
    y = F.conv_transpose2d(x, w, b, **opts)
    terms = case["wshape"][0] * case["wshape"][2] * case["wshape"][3]
    assert_close(y, ref.conv_transpose2d(x, w, b, **opts), dtype, terms, "conv_transpose2d")
    g = _rand(rng, y.shape, dtype)
    got = F.conv_transpose2d_backward(g, x, w, **opts)
    for a, e, what in zip(got, ref.conv_transpose2d_backward(g, x, w, **opts),
                          ("grad_x", "grad_weight", "grad_bias")):
        assert_close(a, e, dtype, y.size * terms, what)


# (N, C_in, H, K, kernel, stride, padding): the input-gradient paths a transposed
# convolution runs -- col2im after a GEMM (the 4x4 stride-2 decoder layer), the direct
# kernels, the 1x1 batch GEMM, a shared image on two threads
TRANSPOSE_BIAS_CASES = [(8, 64, 8, 32, 4, 2, 1), (3, 16, 9, 24, 3, 1, 1), (4, 32, 3, 16, 1, 1, 0),
                        (1, 32, 12, 48, 3, 1, 1), (2, 8, 7, 5, 2, 2, 0)]


@pytest.mark.parametrize("case", TRANSPOSE_BIAS_CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_conv_transpose2d_bias_in_the_write_back_is_bitwise_added_after(case, dtype, threads,
                                                                          restore_threads):
    """The bias goes in with the kernels' write-back: bitwise the output without it plus
    the bias, on every path (and for grouped and depthwise-shaped weights)."""
    N, C, H, K, k, stride, pad = case
    rng = np.random.default_rng(N * H)
    fastconv.set_num_threads(threads)
    for groups in (1, 2, C):
        if K % groups or C % groups or (groups == C and K != C):
            continue
        x = _rand(rng, (N, C, H, H), dtype)
        w = _rand(rng, (C, K // groups, k, k), dtype)
        b = _rand(rng, (K,), dtype)
        opts = dict(stride=stride, padding=pad, groups=groups)
        plain = F.conv_transpose2d(x, w, None, **opts)
        got = F.conv_transpose2d(x, w, b, **opts)
        assert got.tobytes() == (plain + b[:, None, None]).astype(dtype).tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(64, 32, 16, 16), (3, 5, 7, 9), (1, 40, 1, 1)])
def test_conv_transpose2d_bias_gradient_is_thread_independent(shape, dtype, restore_threads):
    """The bias gradient runs in C with the channels shared out: the same bits on one
    and two threads, the sums of grad_out over images and pixels."""
    N, K, H, W = shape
    rng = np.random.default_rng(K)
    x, w = _rand(rng, (N, 4, H, W), dtype), _rand(rng, (4, K, 1, 1), dtype)
    g = _rand(rng, shape, dtype)
    got = []
    for threads in (1, 2):
        fastconv.set_num_threads(threads)
        got.append(F.conv_transpose2d_backward(g, x, w)[2])
    assert got[0].tobytes() == got[1].tobytes()
    assert_close(got[0], g.sum(axis=(0, 2, 3)), dtype, N * H * W, "grad_bias")


@settings(max_examples=25)
@given(case=transpose_cases())
def test_conv_transpose2d_reference_matches_torch(case):
    torch = _torch()
    TF = torch.nn.functional
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal(case["shape"]), rng.standard_normal(case["wshape"])
    b = rng.standard_normal(case["wshape"][1] * case["groups"])
    opts = _transpose_opts(case)
    (pt, pb), (pl, pr) = _sides(case["padding"])
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    # torch takes symmetric padding only: run unpadded, then crop the per-side padding
    full = TF.conv_transpose2d(xt, wt, bt, stride=case["stride"], groups=case["groups"],
                               dilation=case["dilation"], output_padding=case["output_padding"])
    y = ref.conv_transpose2d(x, w, b, **opts)
    Ho, Wo = y.shape[2:]
    grow = (max(0, pt + Ho - full.shape[2]), max(0, pl + Wo - full.shape[3]))
    yt = TF.pad(full, (0, grow[1], 0, grow[0]))[:, :, pt:pt + Ho, pl:pl + Wo]
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-11)
    g = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(g))
    for a, t in zip(ref.conv_transpose2d_backward(g, x, w, **opts), (xt, wt, bt)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-10, atol=1e-11)


def test_conv_transpose2d_matches_torch_directly():
    torch = _torch()
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((2, 4, 5, 6)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(6)
    opts = dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2, dilation=(1, 2))
    want = torch.nn.functional.conv_transpose2d(*(torch.tensor(a) for a in (x, w, b)), **opts)
    np.testing.assert_allclose(F.conv_transpose2d(x, w, b, **opts), want.numpy(), rtol=1e-10, atol=1e-12)


def _numeric_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        old = a[i]
        a[i] = old + eps
        hi = f()
        a[i] = old - eps
        lo = f()
        a[i] = old
        g[i] = (hi - lo) / (2 * eps)
    return g


@pytest.mark.parametrize("opts", [
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(1, 2), padding=((0, 1), (1, 0)), groups=2, dilation=(2, 1)),
])
def test_conv_transpose2d_gradients_match_finite_differences(opts):
    rng = np.random.default_rng(10)
    groups = opts.get("groups", 1)
    x, w = rng.standard_normal((2, 4, 3, 3)), rng.standard_normal((4, 1, 2, 3))
    b = rng.standard_normal(groups)
    y = F.conv_transpose2d(x, w, b, **opts)
    G = rng.standard_normal(y.shape)
    loss = lambda: float(np.sum(F.conv_transpose2d(x, w, b, **opts) * G))  # noqa: E731
    gx, gw, gb = F.conv_transpose2d_backward(G, x, w, **opts)
    np.testing.assert_allclose(gx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, _numeric_grad(loss, w), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gb, _numeric_grad(loss, b), rtol=1e-6, atol=1e-7)


def test_grouped_conv2d_gradients_match_finite_differences():
    rng = np.random.default_rng(11)
    x, w = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((6, 2, 3, 2))
    opts = dict(stride=(2, 1), padding=((1, 0), (0, 1)), groups=2)
    G = rng.standard_normal(F.conv2d(x, w, **opts).shape)
    loss = lambda: float(np.sum(F.conv2d(x, w, **opts) * G))  # noqa: E731
    gx, gw, _ = F.conv2d_backward(G, x, w, **opts)
    np.testing.assert_allclose(gx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, _numeric_grad(loss, w), rtol=1e-6, atol=1e-7)
    wd = rng.standard_normal((8, 1, 3, 3))
    Gd = rng.standard_normal(F.conv2d(x, wd, stride=2, padding=1, groups=4).shape)
    loss = lambda: float(np.sum(F.conv2d(x, wd, stride=2, padding=1, groups=4) * Gd))  # noqa: E731
    gx, gw, _ = F.conv2d_backward(Gd, x, wd, stride=2, padding=1, groups=4)
    np.testing.assert_allclose(gx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(gw, _numeric_grad(loss, wd), rtol=1e-6, atol=1e-7)
