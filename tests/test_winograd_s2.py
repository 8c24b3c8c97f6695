"""Winograd on the four phases of a stride-2 convolution: F(4x4, 2x2) for its forward
pass and input gradient, F(2x2, 4x4) for its weight gradient (csrc/conv_winograd_s2.c,
conv_winograd_bw.c, their AVX-512 transforms in conv_winograd_s2_avx512.c): against
the NumPy reference over randomised geometries (forced on any shape with
FASTCONV_WINOGRAD=s2), fused bias / activation / residual, the same bits on every SIMD
path and thread count, packed weights, the size rule and the stated accuracy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref
from fastconv import geometry, _conv
from fastconv.functional.prepared import activation_code

from conftest import assert_close, SIMD_PATHS

DTYPES = [np.float32, np.float64]


def _args(N, C, K, H, W, R, padding=1):
    g = geometry.conv2d_geometry((N, C, H, W), (K, C, R, R), 2, padding, 1)
    return geometry.conv_kernel_args(g)


@st.composite
def stride2_cases(draw):
    R = draw(st.sampled_from([3, 4]))
    H = draw(st.integers(R, 21))
    W = draw(st.integers(R, 21))
    pad = draw(st.sampled_from([0, 1, 2, ((1, 0), (2, 1))]))
    return dict(shape=(draw(st.integers(1, 5)), draw(st.integers(1, 9)), H, W),
                K=draw(st.integers(1, 20)), R=R, padding=pad, bias=draw(st.booleans()))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(case=stride2_cases(), act=st.sampled_from([None, "relu", "elu"]))
def test_s2_matches_reference(simd, dtype, case, act, monkeypatch):
    monkeypatch.setenv("FASTCONV_WINOGRAD", "s2")
    N, C, H, W = case["shape"]
    R, K, pad = case["R"], case["K"], case["padding"]
    g = geometry.conv2d_geometry((N, C, H, W), (K, C, R, R), 2, pad, 1)
    if g.Ho < 2 or g.Wo < 2:    # the path needs a 2x2 output at least
        return
    assert _conv.conv_path(geometry.conv_kernel_args(g), 0, 4) == "winograd-s2"
    rng = np.random.default_rng(sum(case["shape"]) + K)
    x = rng.standard_normal(case["shape"]).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if case["bias"] else None
    y = F.conv2d(x, w, b, stride=2, padding=pad, activation=act)
    y_ref = ref.conv2d(x, w, b, stride=2, padding=pad)
    if act == "relu":
        y_ref = np.maximum(y_ref, 0)
    elif act == "elu":
        y_ref = np.where(y_ref > 0, y_ref, np.expm1(np.minimum(y_ref, 0)))
    assert_close(y, y_ref, dtype, C * R * R * 4, "forward")
    # the input gradient (a transposed convolution's forward pass) on the same path
    assert _conv.conv_path(geometry.conv_kernel_args(g), 1, 4) == "winograd-s2"
    gy = rng.standard_normal(y.shape).astype(dtype)
    gx = F.conv2d_backward(gy, x, w, stride=2, padding=pad)[0]
    gx_ref = ref.conv2d_backward(gy, x, w, stride=2, padding=pad)[0]
    assert_close(gx, gx_ref, dtype, K * R * R * 4, "grad_x")


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(case=stride2_cases())
def test_s2_weight_gradient_matches_reference(simd, dtype, case, monkeypatch):
    """The weight gradient's F(2x2, 4x4) on the four phases (csrc/conv_winograd_bw.c),
    with the bias gradient taken from its transformed output gradients."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "s2")
    N, C, H, W = case["shape"]
    R, K, pad = case["R"], case["K"], case["padding"]
    g = geometry.conv2d_geometry((N, C, H, W), (K, C, R, R), 2, pad, 1)
    if g.Ho < 2 or g.Wo < 2:
        return
    args = geometry.conv_kernel_args(g)
    assert _conv.conv_path(args, 2, 4) == "winograd-s2"
    rng = np.random.default_rng(sum(case["shape"]) + 3 * K)
    x = rng.standard_normal(case["shape"]).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    gy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(dtype)
    _, gw, gb = F.conv2d_backward(gy, x, w, stride=2, padding=pad)
    _, gw_ref, gb_ref = ref.conv2d_backward(gy, x, w, stride=2, padding=pad)
    assert_close(gw, gw_ref, dtype, N * g.Ho * g.Wo * 4, "grad_weight")
    assert_close(gb, gb_ref, dtype, N * g.Ho * g.Wo, "grad_bias")


@pytest.mark.parametrize("shape", [(6, 12, 19, 22), (4, 12, 32, 32)])
def test_s2_same_bits_on_every_simd_path_and_thread_count(shape, restore_threads, monkeypatch):
    """The AVX-512 transforms (16 tiles in the lanes: gathered and scattered, or on 32x32
    maps loaded and stored as rows of four tiles; the weight gradient's with 16 channels
    in the lanes) and the portable ones (a tile at a time, which the AVX2 path runs) give
    the same bits, with a residual and ReLU fused, on 1, 2 and 3 threads, all three
    passes (the portable path's own GEMM kernel sums in another order)."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "s2")
    rng = np.random.default_rng(7)
    x = rng.standard_normal(shape).astype(np.float32)
    results = {}
    relu = activation_code("relu")[0]
    before = fastconv.simd_path()
    try:
        for R in (3, 4):
            w = rng.standard_normal((20, 12, R, R)).astype(np.float32)
            b = rng.standard_normal(20).astype(np.float32)
            y0 = F.conv2d(x, w, b, stride=2, padding=1)
            res = rng.standard_normal(y0.shape).astype(np.float32)
            for path in [p for p in SIMD_PATHS if p != "portable"]:
                fastconv.set_simd_path(path)
                for nt in (1, 2, 3):
                    fastconv.set_num_threads(nt)
                    y = F.conv2d(x, w, b, stride=2, padding=1)
                    results.setdefault(R, set()).add(y.tobytes())
                    assert y.tobytes() == y0.tobytes(), (R, path, nt)
                    packed = F.pack_conv2d_weight(w, stride=2, padding=1, x_shape=x.shape)
                    yr = packed.run(x, b, relu, 0.0, residual=res)
                    np.testing.assert_array_equal(yr, np.maximum(y0 + res, 0), err_msg=str((R, path)))
                    # backward-data (a transposed convolution's forward pass) with a bias,
                    # then with a residual as well: the sum taken after
                    args = _args(shape[0], 12, 20, shape[2], shape[3], R)
                    assert _conv.conv_path(args, 1, 4) == "winograd-s2"
                    t0, t1 = np.empty_like(x), np.empty_like(x)
                    _conv.backward_data(y0, w, args, t0, nt, b[:12])
                    _conv.backward_data(y0, w, args, t1, nt, b[:12], x)
                    results.setdefault(("t", R), set()).add(t0.tobytes())
                    np.testing.assert_array_equal(t1, t0 + x, err_msg=str((R, path)))
                    # the weight and bias gradients
                    gw, gb = np.zeros_like(w), np.zeros_like(b)
                    assert _conv.conv_path(args, 2, 4) == "winograd-s2"
                    _conv.backward_weight(x, y0, args, gw, gb, nt)
                    results.setdefault(("w", R), set()).add(gw.tobytes() + gb.tobytes())
    finally:
        fastconv.set_simd_path(before)
    assert all(len(v) == 1 for v in results.values()) and len(results) == 6


def test_s2_with_packed_weights(monkeypatch):
    """Weights packed once (inference) give the plain weights' result, bit for bit."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "s2")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 16, 16, 16)).astype(np.float32)
    w = rng.standard_normal((24, 16, 4, 4)).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    packed = F.pack_conv2d_weight(w, stride=2, padding=1)
    y = F.conv2d(x, packed, b, stride=2, padding=1, activation="relu")
    assert y.tobytes() == F.conv2d(x, w, b, stride=2, padding=1, activation="relu").tobytes()
    assert_close(y, np.maximum(ref.conv2d(x, w, b, stride=2, padding=1), 0), np.float32,
                 16 * 16 * 4, "packed")


def test_size_rule_and_the_path_it_picks(monkeypatch):
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD", raising=False)
    wins = geometry.winograd_s2_wins
    t = (4, 4, 8, 8, 2, 2, 1, 1)        # a 4x4 filter, 8x8 output
    assert wins(64, 32, 64, *t, wide=True)           # a transposed layer's input gradient
    assert wins(8, 32, 64, *t, wide=True)            # 32 4x4 blocks
    assert not wins(4, 32, 64, *t, wide=True)        # 16: level
    assert not wins(64, 8, 8, *t, wide=True)         # 8 channels
    assert not wins(64, 32, 64, *t, wide=False)      # AVX2 and portable
    assert not wins(64, 32, 64, 4, 4, 8, 8, 1, 1, 1, 1, wide=True)   # stride 1
    assert wins(64, 32, 64, *t, wide=True, data=True)                # both passes
    # 3x3: the forward from 32 channels, 256 blocks and up to 8192 channel pairs; the
    # input gradient from 16 channels and 256 blocks, up to 2048 pairs
    s = (3, 3, 16, 16, 2, 2, 1, 1)
    assert wins(64, 32, 64, *s, wide=True)                       # the 'strided' layer
    assert wins(64, 32, 64, *s, wide=True, data=True)
    assert wins(64, 32, 64, 3, 3, 8, 8, 2, 2, 1, 1, wide=True)  # ResNet-20's last stage
    assert wins(64, 32, 64, 3, 3, 8, 8, 2, 2, 1, 1, wide=True, data=True)
    assert not wins(32, 32, 64, 3, 3, 8, 8, 2, 2, 1, 1, wide=True, data=True)   # 128 blocks
    assert not wins(64, 64, 128, *s, wide=True, data=True)       # 8192 pairs
    assert not wins(64, 8, 16, *s, wide=True, data=True)         # 8 channels
    assert not wins(64, 16, 32, *s, wide=True)                   # 16 channels
    assert wins(64, 16, 32, *s, wide=True, data=True)
    assert not wins(64, 128, 256, 3, 3, 4, 4, 2, 2, 1, 1, wide=True)   # weights past L2
    assert not wins(8, 64, 128, 3, 3, 8, 8, 2, 2, 1, 1, wide=True)     # 32 blocks
    expected = "winograd-s2" if fastconv.simd_path() == "avx512" else "direct"
    assert _conv.conv_path(_args(64, 32, 64, 16, 16, 4), 0, 4) == expected
    assert _conv.conv_path(_args(64, 32, 64, 32, 32, 3), 0, 4) == expected
    assert _conv.conv_path(_args(64, 16, 32, 32, 32, 3), 0, 4) == "direct"
    # backward-data (a transposed layer's forward pass) too
    assert _conv.conv_path(_args(64, 32, 64, 16, 16, 4), 1, 4) == expected
    assert _conv.conv_path(_args(64, 32, 64, 32, 32, 3), 1, 4) == expected
    assert _conv.conv_path(_args(64, 32, 64, 16, 16, 3), 1, 4) == expected
    assert _conv.conv_path(_args(16, 32, 64, 16, 16, 3), 1, 4) != "winograd-s2"
    # the weight gradient: 4x4 filters as the other passes; 3x3 from 32 channels, 128
    # blocks, up to 2048 channel pairs
    assert wins(64, 32, 64, *t, wide=True, weight=True)
    assert wins(8, 32, 64, *t, wide=True, weight=True)                   # 32 blocks
    assert wins(64, 128, 256, 4, 4, 4, 4, 2, 2, 1, 1, wide=True, weight=True)
    assert not wins(64, 256, 256, 4, 4, 4, 4, 2, 2, 1, 1, wide=True, weight=True)  # unmeasured
    assert wins(64, 256, 256, 4, 4, 4, 4, 2, 2, 1, 1, wide=True)                  # the forward
    assert not wins(4, 32, 64, *t, wide=True, weight=True)
    assert wins(64, 32, 64, *s, wide=True, weight=True)                  # 'strided'
    assert wins(8, 32, 64, 3, 3, 16, 16, 2, 2, 1, 1, wide=True, weight=True)   # 128 blocks
    assert not wins(4, 32, 64, 3, 3, 16, 16, 2, 2, 1, 1, wide=True, weight=True)
    assert not wins(64, 16, 32, *s, wide=True, weight=True)              # 16 channels
    assert not wins(64, 64, 128, *s, wide=True, weight=True)             # 8192 pairs
    assert not wins(64, 32, 64, *s, wide=False, weight=True)
    assert _conv.conv_path(_args(64, 32, 64, 16, 16, 4), 2, 4) == expected.replace("direct", "other")
    assert _conv.conv_path(_args(64, 32, 64, 32, 32, 3), 2, 4) == expected.replace("direct", "other")
    assert _conv.conv_path(_args(64, 16, 32, 32, 32, 3), 2, 4) == "other"
    monkeypatch.setenv("FASTCONV_WINOGRAD", "s2")                  # forced: any channels
    assert _conv.conv_path(_args(1, 3, 5, 9, 9, 3), 0, 4) == "winograd-s2"
    assert _conv.conv_path(_args(1, 3, 5, 9, 9, 3, padding=0), 0, 4) == "winograd-s2"
    assert _conv.conv_path(_args(1, 3, 5, 9, 9, 3, padding=0), 1, 4) == "winograd-s2"
    assert _conv.conv_path(_args(1, 3, 5, 4, 4, 3, padding=0), 0, 4) == "direct"   # a 1x1 output
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")                # off wins over forced
    assert _conv.conv_path(_args(64, 32, 64, 16, 16, 4), 0, 4) == "direct"


def test_s2_float32_accuracy_is_as_documented(monkeypatch):
    """float32 outputs and weight gradients within 1e-5 of their largest element
    (measured: ~2e-6 with 32 channels), against the float64 reference."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "s2")
    rng = np.random.default_rng(11)
    for C, H, R in ((32, 16, 4), (64, 16, 3), (128, 8, 4)):
        x = rng.standard_normal((4, C, H, H))
        w = rng.standard_normal((C, C, R, R)) / np.sqrt(R * R * C)
        y = F.conv2d(x.astype(np.float32), w.astype(np.float32), stride=2, padding=1)
        y_ref = ref.conv2d(x, w, stride=2, padding=1)
        err = np.abs(y - y_ref).max() / np.abs(y_ref).max()
        assert err < 1e-5, (C, H, R, err)
        # the weight gradient, summed over the batch's tiles (measured: ~1e-6)
        gy = rng.standard_normal(y_ref.shape)
        gw = F.conv2d_backward(gy.astype(np.float32), x.astype(np.float32),
                               w.astype(np.float32), stride=2, padding=1)[1]
        gw_ref = ref.conv2d_backward(gy, x, w, stride=2, padding=1)[1]
        err = np.abs(gw - gw_ref).max() / np.abs(gw_ref).max()
        assert err < 1e-5, (C, H, R, err)


def test_transposed_convolution_gradient_takes_it():
    """A 4x4 stride-2 transposed layer's input gradient is this forward pass: it agrees
    with the reference there too."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal((16, 32, 8, 8)).astype(np.float32)
    w = rng.standard_normal((32, 16, 4, 4)).astype(np.float32)
    g = rng.standard_normal((16, 16, 16, 16)).astype(np.float32)
    gx, gw, _ = F.conv_transpose2d_backward(g, x, w, stride=2, padding=1)
    gx_ref, gw_ref, _ = ref.conv_transpose2d_backward(g, x, w, stride=2, padding=1)
    assert_close(gx, gx_ref, np.float32, 16 * 16 * 4, "grad_x")
    assert_close(gw, gw_ref, np.float32, g.size, "grad_weight")
