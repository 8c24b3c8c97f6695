"""fastconv.functional against fastconv.reference, forward and backward, over
randomised geometries (hypothesis), both dtypes and both SIMD paths.

Tolerances: see conftest.assert_close (float32 rtol 1e-4, float64 rtol 1e-10, with an
absolute floor that grows with the square root of the reduction length).
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref

from conftest import assert_close, winograd_cases

DTYPES = [np.float32, np.float64]


@st.composite
def conv_cases(draw):
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 5))
    K = draw(st.integers(1, 7))
    R = draw(st.integers(1, 5))
    S = draw(st.integers(1, 5))
    dil = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(["int", "pair", "same", "valid"]))
    if mode == "same":
        stride, padding = 1, "same"
        pt = pb = pl = pr = 0
    else:
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        if mode == "valid":
            padding = "valid"
            ph = pw = 0
        elif mode == "int":
            ph = pw = padding = draw(st.integers(0, 2))
        else:
            ph, pw = padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        pt = pb = ph
        pl = pr = pw
    span_h, span_w = dil[0] * (R - 1) + 1, dil[1] * (S - 1) + 1
    # Images from the smallest that still has an output (kernel as large as the padded
    # input) up to a few pixels more.
    H = max(1, span_h - pt - pb + draw(st.integers(0, 6)))
    W = max(1, span_w - pl - pr + draw(st.integers(0, 6)))
    return dict(shape=(N, C, H, W), wshape=(K, C, R, S), stride=stride, padding=padding,
                dilation=dil, bias=draw(st.booleans()))


def _conv_inputs(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["shape"]).astype(dtype)
    w = rng.standard_normal(case["wshape"]).astype(dtype)
    b = rng.standard_normal(case["wshape"][0]).astype(dtype) if case["bias"] else None
    return x, w, b


def _check_conv_against_reference(dtype, case):
    x, w, b = _conv_inputs(case, dtype)
    opts = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    y = F.conv2d(x, w, b, **opts)
    y_ref = ref.conv2d(x, w, b, **opts)
    terms = np.prod(case["wshape"][1:])
    assert_close(y, y_ref, dtype, terms, "conv2d forward")
    assert y.flags.c_contiguous
    g = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.conv2d_backward(g, x, w, **opts)
    gx_ref, gw_ref, gb_ref = ref.conv2d_backward(g, x, w, **opts)
    assert_close(gx, gx_ref, dtype, case["wshape"][0] * terms, "conv2d grad_x")
    assert_close(gw, gw_ref, dtype, y.size, "conv2d grad_weight")
    assert_close(gb, gb_ref, dtype, y.size, "conv2d grad_bias")


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases())
def test_conv2d_forward_backward_match_reference(simd, dtype, case):
    _check_conv_against_reference(dtype, case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("channels", [8, 9, 10, 13, 14, 16])
@pytest.mark.parametrize("stride,width", [(1, 21), (1, 8), (2, 19)])
def test_conv2d_rows_past_the_last_full_tile(simd, dtype, channels, stride, width):
    # K (forward) and C (backward-data) leave 1-4 rows past the last 6-row tile: the
    # narrow kernels compute them, over whole, partial and missing chunk groups.
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((2, channels, 7, width)).astype(dtype)
    w = rng.standard_normal((channels, channels, 3, 3)).astype(dtype)
    b = rng.standard_normal(channels).astype(dtype)
    y = F.conv2d(x, w, b, stride=stride, padding=1)
    terms = channels * 9
    assert_close(y, ref.conv2d(x, w, b, stride=stride, padding=1), dtype, terms, "forward")
    g = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, _ = F.conv2d_backward(g, x, w, stride=stride, padding=1)
    gx_ref, gw_ref, _ = ref.conv2d_backward(g, x, w, stride=stride, padding=1)
    assert_close(gx, gx_ref, dtype, terms, "grad_x")
    assert_close(gw, gw_ref, dtype, y.size, "grad_weight")


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=winograd_cases())
def test_conv2d_winograd_path_matches_reference(simd, dtype, case, monkeypatch):
    monkeypatch.setenv("FASTCONV_WINOGRAD", "always")   # small shapes too
    _check_conv_against_reference(dtype, case)


def test_winograd_size_policy(monkeypatch):
    """By default Winograd runs only where it was measured to win: >= 64 channels on maps
    of >= 16 tiles (8x8) -- at any batch with weights packed once, else from 128 tiles
    in the batch -- or >= 32 channels and >= 2048 output tiles in the batch, or with the
    AVX-512 kernels >= 16 channels on maps of 32x32 and up; FASTCONV_WINOGRAD=always
    lifts the size rule."""
    from fastconv.geometry import winograd_wins
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    for packed in (False, True):
        assert not winograd_wins(64, 16, 16, 32, 32, packed)  # 16 channels: never
        assert not winograd_wins(1, 32, 32, 16, 16, packed)   # 32 channels, 64 tiles
        assert winograd_wins(64, 32, 64, 16, 16, packed)      # 4096 tiles
        assert not winograd_wins(1, 64, 64, 6, 6, packed)     # 9 tiles an image
        assert not winograd_wins(64, 64, 64, 4, 4, packed)    # 4x4 maps lose at any batch
        assert winograd_wins(512, 32, 32, 4, 4, packed)       # 32 channels: the batch's tiles
        assert winograd_wins(8, 64, 64, 8, 8, packed)         # 128 tiles
    assert winograd_wins(1, 64, 64, 8, 8, packed=True)        # one 8x8 map, weights packed
    assert winograd_wins(1, 128, 64, 7, 7, packed=True)       # 7x7: 16 tiles, partial ones
    assert not winograd_wins(1, 64, 64, 8, 8)                 # the weight transform per call
    assert not winograd_wins(4, 64, 64, 8, 8)                 # 64 tiles
    for n in (1, 64):                                         # AVX-512: 16 channels on 32x32
        assert winograd_wins(n, 16, 16, 32, 32, wide=True)
        assert winograd_wins(n, 16, 16, 32, 32, True, wide=True)
        assert not winograd_wins(n, 16, 16, 16, 16, True, wide=True)
        assert not winograd_wins(n, 8, 16, 32, 32, True, wide=True)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((1, 16, 10, 10)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    default = F.conv2d(x, w, padding=1)
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    direct = F.conv2d(x, w, padding=1)
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD")
    monkeypatch.setenv("FASTCONV_WINOGRAD", "always")
    forced = F.conv2d(x, w, padding=1)
    assert default.tobytes() == direct.tobytes()        # the size rule chose direct
    assert forced.tobytes() != direct.tobytes()         # and "always" really switches


def test_winograd_path_is_taken_and_agrees_with_the_direct_path(monkeypatch):
    monkeypatch.setenv("FASTCONV_WINOGRAD", "always")
    # FASTCONV_NO_WINOGRAD=1 turns the Winograd path off (forward, backward-data and
    # backward-weight): both paths must agree with
    # the reference, and must differ in the last bits (proof that the switch works).
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 32, 12, 12)).astype(np.float32)
    w = rng.standard_normal((24, 32, 3, 3)).astype(np.float32)
    g = rng.standard_normal((3, 24, 12, 12)).astype(np.float32)
    def run(mod):
        y = mod.conv2d(x, w, padding=1)
        gx, gw, _ = mod.conv2d_backward(g, x, w, padding=1)
        return y, gx, gw

    wino = run(F)
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    direct = run(F)
    expected = run(ref)
    terms = (32 * 9, 24 * 9, 3 * 144)
    for a, b, e, n, what in zip(wino, direct, expected, terms, ("forward", "grad_x", "grad_w")):
        assert_close(a, e, np.float32, n, what + " winograd")
        assert_close(b, e, np.float32, n, what + " direct")
        assert not np.array_equal(a, b), what


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh", "elu"])
def test_conv2d_fused_activation_equals_separate_ops(simd, activation):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 9, 9)).astype(np.float32)
    w = rng.standard_normal((5, 4, 3, 3)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    fused = F.conv2d(x, w, b, padding=1, activation=activation, negative_slope=0.1, alpha=0.7)
    z = ref.conv2d(x, w, b, padding=1)
    params = {"leaky_relu": dict(negative_slope=0.1), "elu": dict(alpha=0.7)}.get(activation, {})
    assert_close(fused, getattr(ref, activation)(z, **params), np.float32, 36, activation)


@st.composite
def pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    ceil_mode = draw(st.booleans())
    H = max(1, kh - 2 * ph + draw(st.integers(0, 7)))
    W = max(1, kw - 2 * pw + draw(st.integers(0, 7)))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), H, W)
    return dict(shape=shape, kernel_size=(kh, kw), stride=stride, padding=(ph, pw),
                ceil_mode=ceil_mode)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases(), count_include_pad=st.booleans(), ties=st.booleans())
def test_pooling_matches_reference(dtype, case, count_include_pad, ties):
    rng = np.random.default_rng(0)
    if ties:  # small integers: many equal maxima, the first must win
        x = rng.integers(-2, 3, case["shape"]).astype(dtype)
    else:
        x = rng.standard_normal(case["shape"]).astype(dtype)
    opts = {k: case[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    y = F.max_pool2d(x, **opts)
    assert_close(y, ref.max_pool2d(x, **opts), dtype, 1, "max_pool2d")
    g = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(g, x, **opts), ref.max_pool2d_backward(g, x, **opts),
                 dtype, 16, "max_pool2d_backward")
    ya = F.avg_pool2d(x, **opts, count_include_pad=count_include_pad)
    assert_close(ya, ref.avg_pool2d(x, **opts, count_include_pad=count_include_pad),
                 dtype, 16, "avg_pool2d")
    assert_close(F.avg_pool2d_backward(g, x, **opts, count_include_pad=count_include_pad),
                 ref.avg_pool2d_backward(g, x, **opts, count_include_pad=count_include_pad),
                 dtype, 16, "avg_pool2d_backward")


ACTIVATIONS = [("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("sigmoid", {}),
               ("tanh", {}), ("elu", {"alpha": 1.3})]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,params", ACTIVATIONS)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4), scale=st.sampled_from([1.0, 30.0]))
def test_activations_match_reference(dtype, name, params, shape, scale):
    rng = np.random.default_rng(len(shape))
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    x.flat[0] = 0.0  # the kink: gradient at exactly 0 follows PyTorch
    fwd, bwd = getattr(F, name), getattr(F, name + "_backward")
    assert_close(fwd(x, **params), getattr(ref, name)(x, **params), dtype, 1, name)
    g = rng.standard_normal(shape).astype(dtype)
    assert_close(bwd(g, x, **params), getattr(ref, name + "_backward")(g, x, **params),
                 dtype, 1, name + "_backward")


def test_activations_large_arrays_use_threads_and_match(rng):
    x = rng.standard_normal(300_001).astype(np.float32) * 10
    for name, params in ACTIVATIONS:
        assert_close(getattr(F, name)(x, **params), getattr(ref, name)(x, **params), np.float32,
                     1, name)


@pytest.mark.parametrize("dtype", DTYPES)
@given(N=st.integers(1, 3), groups=st.integers(1, 4), pieces=st.integers(1, 4),
       spatial=st.sampled_from([(), (3,), (2, 5)]), ties=st.booleans())
def test_maxout_matches_reference(dtype, N, groups, pieces, spatial, ties):
    rng = np.random.default_rng(groups)
    shape = (N, groups * pieces) + spatial
    x = (rng.integers(-1, 2, shape) if ties else rng.standard_normal(shape)).astype(dtype)
    y = F.maxout(x, pieces)
    assert_close(y, ref.maxout(x, pieces), dtype, 1, "maxout")
    g = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.maxout_backward(g, x, pieces), ref.maxout_backward(g, x, pieces), dtype, 1,
                 "maxout_backward")


@pytest.mark.parametrize("dtype", DTYPES)
@given(N=st.integers(1, 70), fin=st.integers(1, 90), fout=st.integers(1, 40), bias=st.booleans())
def test_linear_matches_reference(simd, dtype, N, fin, fout, bias):
    rng = np.random.default_rng(N)
    x = rng.standard_normal((N, fin)).astype(dtype)
    w = rng.standard_normal((fout, fin)).astype(dtype)
    b = rng.standard_normal(fout).astype(dtype) if bias else None
    assert_close(F.linear(x, w, b), ref.linear(x, w, b), dtype, fin, "linear")
    g = rng.standard_normal((N, fout)).astype(dtype)
    for got, want, terms, what in zip(F.linear_backward(g, x, w), ref.linear_backward(g, x, w),
                                      (fout, N, N), ("grad_x", "grad_weight", "grad_bias")):
        assert_close(got, want, dtype, terms, "linear " + what)


@pytest.mark.parametrize("dtype", DTYPES)
@given(N=st.integers(1, 9), K=st.integers(2, 12), onehot=st.booleans(), scale=st.sampled_from([1.0, 1e3]))
def test_cross_entropy_matches_reference(dtype, N, K, onehot, scale):
    rng = np.random.default_rng(K)
    logits = (rng.standard_normal((N, K)) * scale).astype(dtype)
    labels = rng.integers(0, K, N)
    target = np.eye(K, dtype=dtype)[labels] if onehot else labels
    loss = F.cross_entropy(logits, target)
    assert np.isfinite(loss)
    assert_close(np.asarray(loss), np.asarray(ref.cross_entropy(logits, target), dtype=dtype),
                 dtype, K, "cross_entropy")
    assert_close(F.cross_entropy_backward(logits, target), ref.cross_entropy_backward(logits, target),
                 dtype, K, "cross_entropy_backward")
    assert_close(F.softmax(logits), ref.softmax(logits), dtype, K, "softmax")


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_matches_reference(dtype, rng):
    x = (rng.standard_normal((4, 3, 5, 6)) * 3 + 1).astype(dtype)
    gamma = rng.standard_normal(3).astype(dtype)
    beta = rng.standard_normal(3).astype(dtype)
    stats = [np.zeros(3, dtype), np.ones(3, dtype)]
    stats_ref = [s.copy() for s in stats]
    for training in (True, False):
        y = F.batch_norm2d(x, gamma, beta, *stats, training=training)
        y_ref = ref.batch_norm2d(x, gamma, beta, *stats_ref, training=training)
        assert_close(y, y_ref, dtype, x.size // 3, f"batch_norm2d training={training}")
        for s, s_ref in zip(stats, stats_ref):
            assert_close(s, s_ref, dtype, x.size // 3, "running statistics")
    g = rng.standard_normal(x.shape).astype(dtype)
    for got, want in zip(F.batch_norm2d_backward(g, x, gamma), ref.batch_norm2d_backward(g, x, gamma)):
        assert_close(got, want, dtype, x.size, "batch_norm2d_backward")


def test_dropout_is_inverted_and_matches_reference_semantics(rng):
    x = rng.standard_normal((50, 40)).astype(np.float32)
    y, mask = F.dropout(x, 0.25, training=True, rng=7)
    kept = mask != 0
    assert 0.65 < kept.mean() < 0.85
    np.testing.assert_allclose(y[kept], x[kept] / 0.75, rtol=1e-6)
    assert np.all(y[~kept] == 0)
    np.testing.assert_array_equal(F.dropout_backward(np.ones_like(x), mask, 0.25), mask)
    y_eval, mask_eval = F.dropout(x, 0.25, training=False)
    np.testing.assert_array_equal(y_eval, x)
    # Same seed, same mask; the reference draws its mask the same way.
    y2, _ = F.dropout(x, 0.25, training=True, rng=7)
    np.testing.assert_array_equal(y, y2)
    y_ref, mask_ref = ref.dropout(x, 0.25, training=True, rng=7)
    np.testing.assert_array_equal(mask_ref != 0, kept)
    np.testing.assert_allclose(y_ref, y, rtol=1e-6)


def test_flatten_is_row_major(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    y = F.flatten(x)
    np.testing.assert_array_equal(y, ref.flatten(x))
    np.testing.assert_array_equal(y[1, :20], x[1, 0].ravel())
    np.testing.assert_array_equal(F.flatten_backward(y, x.shape), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_outputs_are_fresh_contiguous_and_accept_strided_input(dtype, rng):
    base = rng.standard_normal((2, 6, 10, 12)).astype(dtype)
    x = base[:, ::2, :, ::2]  # non-contiguous view
    assert not x.flags.c_contiguous
    w = rng.standard_normal((3, 3, 3, 3)).astype(dtype)
    y = F.conv2d(x, w, padding=1)
    assert y.flags.c_contiguous and y.dtype == dtype
    assert_close(y, ref.conv2d(np.ascontiguousarray(x), w, padding=1), dtype, 27, "strided conv")
    for out in (F.relu(x), F.max_pool2d(x, 2), F.avg_pool2d(x, 2)):
        assert out.flags.c_contiguous and out.dtype == dtype
        assert not np.shares_memory(out, base)


def test_empty_batch_gives_empty_outputs():
    x = np.zeros((0, 2, 5, 5), np.float32)
    w = np.ones((3, 2, 3, 3), np.float32)
    assert F.conv2d(x, w).shape == (0, 3, 3, 3)
    gx, gw, gb = F.conv2d_backward(np.zeros((0, 3, 3, 3), np.float32), x, w)
    assert gx.shape == x.shape and not gw.any() and not gb.any()
    assert F.max_pool2d(x, 2).shape == (0, 2, 2, 2)
