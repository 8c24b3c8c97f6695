"""The Winograd F(4x4, 3x3) path (csrc/conv_winograd4.c for the forward and
input-gradient passes, csrc/conv_winograd_bw.c for the weight gradient): against the
NumPy reference over randomised geometries (forced on small shapes with
FASTCONV_WINOGRAD=f4), fused bias / activation / residual, thread count independence,
the size rules, and the stated accuracy."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref
from fastconv import geometry, _conv

from conftest import assert_close, winograd_cases

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(case=winograd_cases(min_channels=1, max_size=21),   # any channel count: forced
       act=st.sampled_from([None, "relu", "elu"]))
def test_f4_matches_reference(simd, dtype, case, act, monkeypatch):
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    rng = np.random.default_rng(sum(case["shape"]))
    x = rng.standard_normal(case["shape"]).astype(dtype)
    w = rng.standard_normal(case["wshape"]).astype(dtype)
    b = rng.standard_normal(case["wshape"][0]).astype(dtype) if case["bias"] else None
    pad = case["padding"]
    y = F.conv2d(x, w, b, padding=pad, activation=act)
    y_ref = ref.conv2d(x, w, b, padding=pad)
    if act == "relu":
        y_ref = np.maximum(y_ref, 0)
    elif act == "elu":
        y_ref = np.where(y_ref > 0, y_ref, np.expm1(np.minimum(y_ref, 0)))
    terms = case["wshape"][1] * 9
    assert_close(y, y_ref, dtype, terms, "forward")
    g = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.conv2d_backward(g, x, w, padding=pad)
    gx_ref, gw_ref, _ = ref.conv2d_backward(g, x, w, padding=pad)
    assert_close(gx, gx_ref, dtype, case["wshape"][0] * 9, "grad_x")
    assert_close(gw, gw_ref, dtype, y.size, "grad_weight")


def _geometry_args(N, C, K, H, W):
    g = geometry.conv2d_geometry((N, C, H, W), (K, C, 3, 3), 1, 1, 1)
    return geometry.conv_kernel_args(g)


def test_size_rule_and_the_path_it_picks(monkeypatch):
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD", raising=False)
    assert geometry.winograd4_wins(64, 32, 32, 16, 16)      # ResNet-20's middle stage
    assert geometry.winograd4_wins(64, 64, 64, 8, 8)        # and its last
    assert not geometry.winograd4_wins(64, 16, 16, 32, 32)  # 16 channels: F(2x2) or direct
    assert not geometry.winograd4_wins(1, 64, 64, 8, 8)     # 4 tiles: too little work
    assert not geometry.winograd4_wins(2, 64, 64, 8, 8)     # 8 tiles: half a panel
    assert geometry.winograd4_wins(4, 64, 64, 8, 8)         # 16 tiles of 8x8 maps
    assert not geometry.winograd4_wins(16, 64, 64, 4, 4)    # 4x4 maps: from 32 tiles
    assert geometry.winograd4_wins(32, 64, 64, 4, 4)
    # a single image from 16 tiles, weights packed once (inference) or not
    assert geometry.winograd4_wins(1, 32, 32, 16, 16)       # one 16x16 map
    assert geometry.winograd4_wins(1, 32, 64, 13, 13)       # tfcnn's 'valid' layer
    assert not geometry.winograd4_wins(1, 32, 32, 12, 12)   # 9 tiles
    assert not geometry.winograd4_wins(1, 16, 16, 32, 32)   # 16 channels, 64 tiles
    # 16 channels on 32x32 maps: F(4x4) with the AVX-512 kernels from 256 tiles
    wide16 = "winograd-f4" if fastconv.simd_path() == "avx512" else "direct"
    assert geometry.winograd4_wins(64, 16, 16, 32, 32, wide=True)
    assert geometry.winograd4_wins(2, 16, 16, 32, 32, wide=True)       # 128 tiles
    assert not geometry.winograd4_wins(1, 16, 16, 32, 32, wide=True)   # 64 tiles
    assert not geometry.winograd4_wins(64, 8, 16, 32, 32, wide=True)   # 8 channels
    # weights packed once (inference): from one panel of 16 tiles, as with more channels
    assert geometry.winograd4_wins(1, 16, 16, 32, 32, wide=True, packed=True)
    assert geometry.winograd4_wins(1, 16, 16, 16, 16, wide=True, packed=True)
    assert not geometry.winograd4_wins(1, 16, 16, 8, 8, wide=True, packed=True)  # 4 tiles
    assert not geometry.winograd4_wins(1, 16, 16, 32, 32, packed=True)  # AVX2: F(2x2)
    for N, C, H, expected in ((64, 32, 16, "winograd-f4"), (64, 64, 8, "winograd-f4"),
                              (64, 16, 32, wide16), (1, 64, 8, "direct"),
                              (1, 32, 16, "winograd-f4"), (8, 64, 8, "winograd-f4"),
                              (2, 64, 8, "direct")):
        args = _geometry_args(N, C, C, H, H)
        assert _conv.conv_path(args, 0, 4) == expected, (N, C, H)
        assert _conv.conv_path(args, 1, 4) == expected, (N, C, H)   # input gradient too
    for N, C, H, expected in ((1, 64, 8, "winograd"), (1, 32, 16, "winograd-f4")):
        g = geometry.conv2d_geometry((N, C, H, H), (C, C, 3, 3), 1, 1, 1)
        args = geometry.conv_kernel_args(g, packed=True)
        assert _conv.conv_path(args, 0, 4) == expected, (N, C, H)
    # the weight gradient's own rule: from 8 channels, >= 256 4x4 tiles; with the
    # AVX-512 kernels from 16 channels and 8 tiles
    assert geometry.winograd4_weight_wins(64, 16, 16, 32, 32)
    assert geometry.winograd4_weight_wins(64, 64, 64, 8, 8)
    assert not geometry.winograd4_weight_wins(64, 3, 16, 32, 32)   # padding lanes
    assert not geometry.winograd4_weight_wins(8, 32, 32, 16, 16)   # 128 tiles
    assert geometry.winograd4_weight_wins(8, 32, 32, 16, 16, wide=True)
    assert geometry.winograd4_weight_wins(8, 64, 64, 4, 4, wide=True)       # 8 tiles
    assert not geometry.winograd4_weight_wins(4, 64, 64, 4, 4, wide=True)   # 4 tiles
    assert not geometry.winograd4_weight_wins(8, 8, 8, 8, 8, wide=True)     # 8 channels
    wide = fastconv.simd_path() == "avx512"
    for N, C, H, expected in ((64, 16, 32, "winograd-f4"), (64, 64, 8, "winograd-f4"),
                              (8, 32, 16, "winograd-f4" if wide else "other"),
                              (8, 64, 8, "winograd-f4" if wide else "winograd"),
                              (4, 64, 8, "winograd-f4" if wide else "other")):
        assert _conv.conv_path(_geometry_args(N, C, C, H, H), 2, 4) == expected, (N, C, H)
    with pytest.raises(ValueError, match="op"):
        _conv.conv_path(_geometry_args(1, 8, 8, 8, 8), 3, 4)
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")                   # forced: any channels
    assert _conv.conv_path(_geometry_args(1, 3, 5, 7, 7), 0, 4) == "winograd-f4"
    assert _conv.conv_path(_geometry_args(1, 8, 5, 7, 7), 2, 4) == "winograd-f4"
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")                 # off wins over forced
    assert _conv.conv_path(_geometry_args(64, 32, 32, 16, 16), 0, 4) == "direct"


def test_weight_gradient_follows_its_own_rule(monkeypatch):
    """The weight gradient takes F(4x4) by winograd4_weight_wins alone: turning the
    forward's rule off leaves it bit for bit unchanged, turning its own rule off changes
    it (to F(2x2)), and both agree with the reference; so does the bias gradient (summed
    in the same runs of images as the weight gradient: F(4x4) takes fewer, longer runs,
    so its bits may differ from F(2x2)'s)."""
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 32, 16, 16)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    g = rng.standard_normal((64, 32, 16, 16)).astype(np.float32)
    _, gw_default, gb_default = F.conv2d_backward(g, x, w, padding=1, input_grad=False)
    monkeypatch.setattr(geometry, "winograd4_wins", lambda *a: False)
    monkeypatch.setattr(geometry, "_KERNEL_ARGS", {})   # the rules' memo
    _, gw_fwd_off, gb_fwd_off = F.conv2d_backward(g, x, w, padding=1, input_grad=False)
    monkeypatch.setattr(geometry, "winograd4_weight_wins", lambda *a: False)
    monkeypatch.setattr(geometry, "_KERNEL_ARGS", {})
    _, gw_f2, gb_f2 = F.conv2d_backward(g, x, w, padding=1, input_grad=False)
    assert gw_default.tobytes() == gw_fwd_off.tobytes()
    assert gw_default.tobytes() != gw_f2.tobytes()
    assert gb_default.tobytes() == gb_fwd_off.tobytes()
    _, gw_ref, gb_ref = ref.conv2d_backward(g.astype(np.float64), x.astype(np.float64),
                                            w.astype(np.float64), padding=1)
    for gw in (gw_default, gw_f2):
        assert np.abs(gw - gw_ref).max() < 2e-5 * np.abs(gw_ref).max()
    for gb in (gb_default, gb_f2):
        assert np.abs(gb - gb_ref).max() < 1e-5 * np.abs(gb_ref).max()


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradient_alone_on_f4(simd, dtype, monkeypatch):
    """16 channels at 32x32, batch 4: the forward pass runs the direct kernels (F(4x4)
    with the AVX-512 ones), the weight gradient F(4x4) (its workspace sized for it, not for the
    forward's plan)."""
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    args = _geometry_args(4, 16, 16, 32, 32)
    assert _conv.conv_path(args, 0, 4) == ("winograd-f4" if simd == "avx512" else "direct")
    assert _conv.conv_path(args, 2, 4) == "winograd-f4"
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 16, 32, 32)).astype(dtype)
    w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    g = rng.standard_normal((4, 16, 32, 32)).astype(dtype)
    _, gw, gb = F.conv2d_backward(g, x, w, padding=1)
    _, gw_ref, gb_ref = ref.conv2d_backward(g, x, w, padding=1)
    assert_close(gw, gw_ref, dtype, g.size, "grad_weight")
    assert_close(gb, gb_ref, dtype, g.size, "grad_bias")


@pytest.mark.parametrize("dtype", DTYPES)
def test_f4_is_thread_count_independent(simd, dtype, restore_threads, monkeypatch):
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((5, 24, 13, 18)).astype(dtype)
    w = rng.standard_normal((20, 24, 3, 3)).astype(dtype)
    b = rng.standard_normal(20).astype(dtype)
    g = rng.standard_normal((5, 20, 13, 18)).astype(dtype)
    runs = []
    for nt in (2, 1, 3):
        fastconv.set_num_threads(nt)
        y = F.conv2d(x, w, b, padding=1, activation="relu")
        gx, gw, _ = F.conv2d_backward(g, x, w, padding=1)
        runs.append((y.tobytes(), gx.tobytes(), gw.tobytes()))
    assert runs[0] == runs[1] == runs[2]


def test_f4_weight_gradient_runs_do_not_depend_on_threads(restore_threads):
    """By its own rule (and with fewer runs of images than the other paths: each run
    must hold enough 4x4 tiles), the F(4x4) weight gradient is bitwise the same for 1, 2
    and 3 threads and agrees with the reference."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((64, 8, 8, 8)).astype(np.float32)
    w = rng.standard_normal((12, 8, 3, 3)).astype(np.float32)
    g = rng.standard_normal((64, 12, 8, 8)).astype(np.float32)
    assert _conv.conv_path(_geometry_args(64, 8, 12, 8, 8), 2, 4) == "winograd-f4"
    runs = []
    for nt in (2, 1, 3):
        fastconv.set_num_threads(nt)
        runs.append(F.conv2d_backward(g, x, w, padding=1, input_grad=False)[1])
    assert runs[0].tobytes() == runs[1].tobytes() == runs[2].tobytes()
    gw_ref = ref.conv2d_backward(g, x, w, padding=1)[1]
    assert_close(runs[0], gw_ref, np.float32, g.size, "grad_weight")


def test_f4_float32_accuracy_is_as_documented(monkeypatch):
    """float32 outputs and weight gradients within 2e-5 of their largest element
    (measured: ~6e-6 and ~4e-6 for 64 channels), against the float64 reference."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    rng = np.random.default_rng(11)
    for C, H in ((32, 16), (64, 8), (128, 8)):
        x = rng.standard_normal((4, C, H, H))
        w = rng.standard_normal((C, C, 3, 3)) / np.sqrt(9 * C)
        y = F.conv2d(x.astype(np.float32), w.astype(np.float32), padding=1)
        y_ref = ref.conv2d(x, w, padding=1)
        err = np.abs(y - y_ref).max() / np.abs(y_ref).max()
        assert err < 2e-5, (C, H, err)
        g = rng.standard_normal(y_ref.shape)
        _, gw, _ = F.conv2d_backward(g.astype(np.float32), x.astype(np.float32),
                                     w.astype(np.float32), padding=1, input_grad=False)
        gw_ref = ref.conv2d_backward(g, x, w, padding=1)[1]
        err = np.abs(gw - gw_ref).max() / np.abs(gw_ref).max()
        assert err < 2e-5, (C, H, "grad_weight", err)


def test_residual_network_agrees_with_the_direct_kernels(monkeypatch):
    """ResNet-20's fused convolution + batch norm + residual + ReLU steps on F(4x4):
    inference within float32 rounding of the direct kernels' result."""
    from fastconv import bench_models as bm
    model = bm.build_model("resnet20")
    bm.randomise_batch_norm(model)
    x = bm.make_data("resnet20", 6)[0]
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    y4 = model.predict(x, batch_size=6)
    monkeypatch.delenv("FASTCONV_WINOGRAD")
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    y0 = model.predict(x, batch_size=6)
    assert y4.tobytes() != y0.tobytes()                 # the switch really switched
    np.testing.assert_allclose(y4, y0, rtol=1e-3, atol=1e-4 * np.abs(y0).max())


def _split(N, C, K, H, W, dtype=np.float32):
    return _conv.weight_grad_split(_geometry_args(N, C, K, H, W), N, np.dtype(dtype).itemsize)


def test_weight_gradient_split_by_filters_rule(monkeypatch):
    """Few 4x4 tiles against many channel pairs: the F(4x4) weight gradient is split by
    filters (every tile of the batch in each part); many tiles, or few channel pairs, keep
    the runs of images."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    assert _split(8, 512, 512, 7, 7) == "winograd-filters"        # 32 tiles
    assert _split(3, 128, 121, 13, 11) == "winograd-filters"      # 36 tiles, 2.2 MB
    assert _split(16, 256, 256, 14, 14) == "winograd-filters"     # 256 tiles, 9 MB
    assert _split(64, 128, 128, 8, 8) == "image-runs"             # 256 tiles, 2.2 MB
    assert _split(32, 256, 256, 14, 14) == "image-runs"           # 512 tiles
    assert _split(16, 64, 64, 8, 8) == "image-runs"               # 0.6 MB
    assert _split(3, 96, 96, 13, 11, np.float64) == "winograd-filters"   # 2.6 MB in double
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    assert _split(8, 512, 512, 7, 7) == "image-runs"
    with pytest.raises(ValueError, match="N must be >= 1"):
        _conv.weight_grad_split(_geometry_args(8, 512, 512, 7, 7), 0, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 128, 121, 13, 11), (2, 100, 150, 5, 9), (1, 130, 125, 8, 8)])
def test_weight_gradient_split_by_filters(simd, dtype, shape, restore_threads, monkeypatch):
    """The split by filters against the reference (weights and bias), bitwise the same for
    1, 2 and 3 threads (each filter's sums never depend on the part it falls in), and
    every element written (the output arrays start out as NaN-filled garbage)."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    N, C, K, H, W = shape
    assert _split(N, C, K, H, W, dtype) == "winograd-filters"
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    g = rng.standard_normal((N, K, H, W)).astype(dtype)
    args = _geometry_args(N, C, K, H, W)
    runs = []
    for nt in (2, 1, 3):
        fastconv.set_num_threads(nt)
        gw = np.full((K, C, 3, 3), np.nan, dtype)
        gb = np.full(K, np.nan, dtype)
        _conv.backward_weight(x, g, args, gw, gb, nt)
        runs.append((gw.tobytes(), gb.tobytes()))
    assert runs[0] == runs[1] == runs[2]
    _, gw_ref, gb_ref = ref.conv2d_backward(g, x, w, padding=1)
    assert_close(gw, gw_ref, dtype, g.size, "grad_weight")
    assert_close(gb, gb_ref, dtype, g.size, "grad_bias")
    _, gw2, gb2 = F.conv2d_backward(g, x, w, padding=1, input_grad=False)
    assert gw2.tobytes() == runs[0][0] and gb2.tobytes() == runs[0][1]


def test_forward_split_by_filters_rule(monkeypatch):
    """Few 4x4 tiles against many channel pairs: the F(4x4) forward (and input gradient)
    split by filters, the weights transformed block by block; many tiles or few channel
    pairs keep the batch path."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")

    def taken(N, C, K, H, W, dtype=np.float32):
        return _conv.forward_split_by_filters(_geometry_args(N, C, K, H, W), N,
                                              np.dtype(dtype).itemsize)
    assert taken(8, 512, 512, 7, 7)          # 32 tiles, 36 MB of transformed weights
    assert taken(32, 512, 512, 7, 7)         # 128 tiles, from 16 MB
    assert taken(3, 200, 150, 9, 6)          # 18 tiles, 4.1 MB
    assert not taken(32, 256, 256, 7, 7)     # 128 tiles, 9 MB
    assert not taken(64, 512, 512, 7, 7)     # 256 tiles
    assert not taken(8, 128, 128, 7, 7)      # 2.2 MB
    assert taken(2, 140, 110, 5, 11, np.float64)   # 4.4 MB in double
    with pytest.raises(ValueError, match="N must be >= 1"):
        _conv.forward_split_by_filters(_geometry_args(8, 512, 512, 7, 7), 0, 4)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 200, 150, 9, 6), (2, 300, 100, 5, 11), (1, 180, 170, 7, 7)])
def test_forward_split_by_filters(simd, dtype, shape, restore_threads, monkeypatch):
    """Forward with bias and ReLU bitwise the batch path's (weights packed once), and
    with the input gradient (plus a residual) against the reference; bitwise the same
    for 1, 2 and 3 threads."""
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    N, C, K, H, W = shape
    args = _geometry_args(N, C, K, H, W)
    assert _conv.forward_split_by_filters(args, N, np.dtype(dtype).itemsize)
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    g = rng.standard_normal((N, K, H, W)).astype(dtype)
    r = rng.standard_normal((N, C, H, W)).astype(dtype)
    runs = []
    for nt in (2, 1, 3):
        fastconv.set_num_threads(nt)
        y = F.conv2d(x, w, b, padding=1, activation="relu")
        gx = np.full_like(x, np.nan)
        _conv.backward_data(g, w, args, gx, nt, residual=r)
        runs.append((y.tobytes(), gx.tobytes()))
    assert runs[0] == runs[1] == runs[2]
    packed = F.pack_conv2d_weight(w, padding=1, x_shape=x.shape)
    assert packed._conv2d(x, b, (1, 1, 1, 1), "relu", 0.01, 1.0).tobytes() == runs[0][0]
    y_ref = np.maximum(ref.conv2d(x, w, b, padding=1), 0)
    assert_close(y, y_ref, dtype, C * 9, "forward")
    gx_ref = ref.conv2d_backward(g, x, w, padding=1)[0] + r
    assert_close(gx, gx_ref, dtype, K * 9, "grad_x")
