"""The AVX-512 micro-kernels (csrc/gemm_ukernel_avx512.c) give the same bits as the AVX2
ones: every element is the same chain of fused multiply-adds from zero, then + C, + bias,
max(., 0), only more of them run per instruction. So the 'avx512' path is checked against
the 'avx2' path bitwise, over the geometries that reach each kernel: the direct
convolution with partial last panels (K not a multiple of 6), short and sliding last
chunks, bias and ReLU in the write-back, strides; Winograd forward and weight gradient
(>= 64 channels); the blocked GEMM behind Dense and 1x1 convolutions."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import fastconv
import fastconv.functional as F
from fastconv import reference
from fastconv.functional.prepared import activation_code

pytestmark = pytest.mark.skipif(not fastconv.get_config_info()["cpu_avx512"],
                                reason="the CPU has no AVX-512")


def _on_both_paths(fn):
    before = fastconv.simd_path()
    try:
        out = {}
        for path in ("avx2", "avx512"):
            assert fastconv.set_simd_path(path).startswith(path)
            out[path] = fn()
    finally:
        fastconv.set_simd_path(before)
    return out["avx2"], out["avx512"]


def _assert_same_bits(a, b, what):
    for i, (x, y) in enumerate(zip(a, b)):
        if x is None:
            assert y is None
            continue
        assert x.dtype == y.dtype and x.shape == y.shape, what
        assert x.tobytes() == y.tobytes(), f"{what}: output {i} differs by {np.abs(x - y).max()}"


@st.composite
def conv_cases(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    R = draw(st.sampled_from([1, 3, 5]))
    stride = draw(st.sampled_from([1, 1, 2]))
    pad = draw(st.integers(0, R // 2))
    H = draw(st.integers(max(1, R - 2 * pad), 14))
    W = draw(st.integers(max(1, R - 2 * pad), 40))
    winograd = R == 3 and stride == 1 and draw(st.booleans())
    C = draw(st.integers(64, 80)) if winograd else draw(st.integers(1, 40))
    K = draw(st.integers(64, 80)) if winograd else draw(st.integers(1, 40))
    N = draw(st.integers(1, 3))
    act = draw(st.sampled_from([None, "relu"]))
    bias = draw(st.booleans())
    return dtype, N, C, K, H, W, R, stride, pad, act, bias


@given(conv_cases(), st.integers(0, 2 ** 31 - 1))
def test_conv2d_forward_and_backward_same_bits_as_avx2(case, seed):
    dtype, N, C, K, H, W, R, stride, pad, act, bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype) if bias else None
    Ho, Wo = (H + 2 * pad - R) // stride + 1, (W + 2 * pad - R) // stride + 1
    g = rng.standard_normal((N, K, Ho, Wo)).astype(dtype)

    def run():
        y = F.conv2d(x, w, b, stride=stride, padding=pad, activation=act)
        return (y,) + tuple(F.conv2d_backward(g, x, w, stride=stride, padding=pad))

    # the same algorithms on both paths: the weight gradient's F(4x4) rule reaches
    # further with the AVX-512 kernels
    from fastconv import geometry
    rule, memo = geometry.winograd4_weight_wins, geometry._KERNEL_ARGS
    geometry.winograd4_weight_wins = lambda N, C, K, Ho, Wo, wide=False: rule(N, C, K, Ho, Wo)
    geometry._KERNEL_ARGS = {}    # the rules' memo, without the patched rule's answers after
    try:
        with pytest.MonkeyPatch.context() as mp:
            if max(C, K) < 64:
                # the direct kernels, not the AVX-512 path's own F(2, 3) rows (forward or
                # input gradient; no other Winograd rule reaches these channel counts here)
                mp.setenv("FASTCONV_NO_WINOGRAD", "1")
            _assert_same_bits(*_on_both_paths(run), what=str(case))
    finally:
        geometry.winograd4_weight_wins, geometry._KERNEL_ARGS = rule, memo


@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 150), st.integers(1, 300),
       st.integers(1, 90), st.integers(0, 2 ** 31 - 1))
def test_linear_forward_and_backward_same_bits_as_avx2(dtype, M, K, U, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, K)).astype(dtype)
    w = rng.standard_normal((U, K)).astype(dtype)
    b = rng.standard_normal(U).astype(dtype)
    g = rng.standard_normal((M, U)).astype(dtype)

    def run():
        return (F.linear(x, w, b),) + tuple(F.linear_backward(g, x, w))

    _assert_same_bits(*_on_both_paths(run), what=f"{dtype.__name__} {M}x{K} -> {U}")


def test_both_paths_can_be_forced_and_agree_on_a_partial_last_panel():
    """Each path can be put in force by name (else the comparisons above would compare
    a path with itself), and a conv with 16 filters -- whose last panel the AVX2 path
    sends to a narrow kernel and the AVX-512 path computes as 4 live rows -- agrees."""
    before = fastconv.simd_path()
    try:
        assert fastconv.set_simd_path("avx512") == "avx512"
        assert fastconv.set_simd_path("avx2") == "avx2-fma"
    finally:
        fastconv.set_simd_path(before)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    a, b = _on_both_paths(lambda: (F.conv2d(x, w, padding=1),))
    _assert_same_bits(a, b, "16 filters")


@pytest.mark.parametrize("R,stride,W", [(3, 1, 32), (3, 1, 16), (1, 1, 32), (3, 2, 64),
                                        (5, 1, 48), (3, 1, 40), (1, 2, 32), (3, 1, 30),
                                        (3, 1, 15), (1, 1, 13), (3, 2, 61), (5, 1, 27)])
@pytest.mark.parametrize("K", [16, 20, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_direct_kernels_on_side_by_side_chunks_same_bits_as_avx2(R, stride, W, K, dtype,
                                                                  monkeypatch):
    """Output rows a multiple of 16 wide hand the direct kernels tiles whose two 8-pixel
    chunks lie side by side (the full-width load and store variant); rows of an even
    number of chunks with a short last one (30, 15, 13, 31, 27 wide) end in a side-by-side
    tile with a masked store; 40-wide rows mix such tiles with split ones. Partial panels
    (K = 7, 20), bias, ReLU, both strides. (The AVX-512 path's F(2, 3) rows off.)"""
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    rng = np.random.default_rng(K * 1000 + W + R + stride)
    C, N = 12, 3
    x = rng.standard_normal((N, C, W // 2, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    pad = R // 2
    Ho = (W // 2 + 2 * pad - R) // stride + 1
    Wo = (W + 2 * pad - R) // stride + 1
    g = rng.standard_normal((N, K, Ho, Wo)).astype(dtype)

    def run():
        y = F.conv2d(x, w, b, stride=stride, padding=pad, activation="relu")
        return (y,) + tuple(F.conv2d_backward(g, x, w, stride=stride, padding=pad))

    _assert_same_bits(*_on_both_paths(run), what=f"R={R} s={stride} W={W} K={K}")


@pytest.mark.parametrize("N,C,K,H,W,R,stride,pad", [
    (2, 24, 64, 15, 15, 3, 1, 0),     # 13-pixel rows, four 16-filter panels (2 + 2)
    (3, 64, 64, 6, 6, 3, 1, 0),       # 4-pixel rows
    (1, 24, 150, 6, 6, 3, 1, 0),      # 150 filters: two calls of up to 8 panels, partial last
    (2, 24, 40, 9, 11, 3, 2, 1),      # strided, 40 filters (three panels, the last partial)
    (2, 70, 32, 5, 5, 3, 1, 1),       # 25 pixels: a partial last 6-pixel tile
])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_vector_path_same_bits_as_avx2(N, C, K, H, W, R, stride, pad, activation, dtype):
    """The output-channel-vector path (short output rows) runs several 16-filter panels
    per AVX-512 call where the AVX2 path runs one: forward with each write-back, and the
    input gradient, which takes the same path on the flipped weights. (Float64 rows of
    4-pixel chunks fill their vectors: some of these take the row-vector path there.)"""
    from fastconv import _conv, geometry
    g = geometry.conv2d_geometry((N, C, H, W), (K, C, R, R), stride, pad, 1)
    if dtype == np.float32:
        assert _conv.conv_path(geometry.conv_kernel_args(g), 0, 4) == "channel-vector"
    rng = np.random.default_rng(N * C * K + H)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    gy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(dtype)

    def run():
        y = F.conv2d(x, w, b, stride=stride, padding=pad, activation=activation)
        return (y, F.conv2d_backward(gy, x, w, stride=stride, padding=pad)[0])

    _assert_same_bits(*_on_both_paths(run), what=f"{N, C, K, H, W, R, stride, pad}")


@pytest.mark.parametrize("N,C,K,H,pad", [(1, 32, 32, 16, 1), (2, 40, 48, 15, 0),
                                         (1, 64, 70, 21, 1), (3, 33, 32, 13, 1),
                                         (16, 32, 40, 16, 1), (1, 32, 33, 35, 1),
                                         (4, 32, 32, 32, 1), (2, 32, 40, 16, 1)])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_f4_same_bits_as_avx2(N, C, K, H, pad, activation, dtype):
    """F(4x4, 3x3) (its 36 products on the AVX-512 block kernel, its transforms shared
    with AVX2): the forward pass with packed weights (single images take it) with each
    write-back (and with a residual added before the activation), and the input
    gradient (plain weights take it from a 13x13 map too); tile counts that leave
    part-panels, panels that span tile rows and images, and panels of whole tiles in runs
    of four along tile rows (16x16 and 32x32 maps: stored as rows, not scattered)."""
    from fastconv import _conv, geometry
    g = geometry.conv2d_geometry((N, C, H, H), (K, C, 3, 3), 1, pad, 1)
    assert _conv.conv_path(geometry.conv_kernel_args(g, packed=True), 0, 4) == "winograd-f4"
    assert _conv.conv_path(geometry.conv_kernel_args(g), 1, 4) == "winograd-f4"
    rng = np.random.default_rng(C * K + H)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((K, C, 3, 3)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    gy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(dtype)

    res = rng.standard_normal(gy.shape).astype(dtype)
    code, param = activation_code(activation or "linear")

    def run():
        packed = F.pack_conv2d_weight(w, padding=pad, x_shape=x.shape)
        y = F.conv2d(x, packed, b, padding=pad, activation=activation)
        with_res = packed.run(x, b, code, param, residual=res)
        return (y, with_res, F.conv2d_backward(gy, x, w, padding=pad)[0])

    _assert_same_bits(*_on_both_paths(run), what=f"{N, C, K, H, pad}")


@pytest.mark.parametrize("N,C,K,H,pad", [(4, 16, 16, 32, 1), (16, 32, 32, 16, 1),
                                         (64, 64, 64, 8, 1), (16, 33, 20, 13, 1),
                                         (16, 40, 48, 15, 0), (4, 16, 24, 35, 1)])
@pytest.mark.parametrize("threads", [1, 2])
def test_winograd_f4_weight_gradient_same_bits_as_avx2(N, C, K, H, pad, threads,
                                                       restore_threads):
    """F(4x4)'s weight gradient: the input transform into the transposed V panels runs
    a channel group's 16 lanes as one vector on AVX-512 (two halves on AVX2), the same
    operations unfused on both; ResNet's stage shapes, channel counts that leave part
    panels, 'valid' padding, a map that leaves part tiles."""
    from fastconv import geometry
    g = geometry.conv2d_geometry((N, C, H, H), (K, C, 3, 3), 1, pad, 1)
    for wide in (False, True):   # both paths take F(4x4) for it
        assert geometry._conv_kernel_args(g, False, wide)[-1] & geometry.WINOGRAD_F4_WEIGHT
    fastconv.set_num_threads(threads)
    rng = np.random.default_rng(C * K + H)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(np.float32)
    _assert_same_bits(*_on_both_paths(lambda: F.conv2d_backward(gy, x, w, padding=pad)[1:2]),
                      what=f"{N, C, K, H, pad}")


@pytest.mark.parametrize("N,C,K,H,W,pad", [(1, 16, 16, 32, 32, 1), (2, 16, 20, 31, 31, 1),
                                           (3, 17, 20, 13, 33, 0), (1, 16, 24, 9, 64, 1),
                                           (1, 64, 70, 9, 9, 1), (1, 64, 64, 8, 8, 1),
                                           (2, 17, 20, 7, 7, 1), (3, 16, 16, 16, 8, 1),
                                           (2, 16, 18, 9, 15, 1), (1, 20, 16, 18, 16, 1)])
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_winograd_f2_same_bits_as_avx2(N, C, K, H, W, pad, activation, monkeypatch):
    """F(2x2, 3x3) (forced on both paths: the size rule differs between them): the
    forward pass with each write-back and with a residual, and the input gradient; maps
    whose tile rows are whole panels (16 or 32 tiles, even and odd widths), maps whose
    panels hold two or four tile rows (15-16 and 7-8 columns, odd heights, panels across
    images) and maps whose are neither."""
    from fastconv import _conv, geometry
    monkeypatch.setenv("FASTCONV_WINOGRAD", "always")
    # F(4x4) takes precedence where its rule allows it (packed weights of 16 channels on
    # AVX-512): kept off, so that both paths run F(2x2)
    monkeypatch.setattr(geometry, "winograd4_wins", lambda *args, **kwargs: False)
    monkeypatch.setattr(geometry, "_KERNEL_ARGS", {})
    g = geometry.conv2d_geometry((N, C, H, W), (K, C, 3, 3), 1, pad, 1)
    rng = np.random.default_rng(C * K + H)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    gy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(np.float32)
    res = rng.standard_normal(gy.shape).astype(np.float32)
    code, param = activation_code(activation or "linear")

    def run():
        assert _conv.conv_path(geometry.conv_kernel_args(g), 0, 4) == "winograd"
        packed = F.pack_conv2d_weight(w, padding=pad, x_shape=x.shape)
        return (F.conv2d(x, w, b, padding=pad, activation=activation),
                packed.run(x, b, code, param, residual=res),
                F.conv2d_backward(gy, x, w, padding=pad)[0])

    _assert_same_bits(*_on_both_paths(run), what=f"{N, C, K, H, W, pad}")


@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 3), st.integers(1, 20),
       st.integers(1, 20), st.integers(2, 19), st.sampled_from([3, 4]), st.integers(0, 2),
       st.integers(0, 1), st.integers(0, 2 ** 31 - 1))
def test_stride2_col2im_same_bits_as_avx2(dtype, N, C, K, H, R, pad, out_pad, seed):
    """The input gradient of a stride-2 layer (a transposed convolution doubling the
    size) adds each filter row's taps into every other output column: with AVX-512 the
    four taps of a 4-wide row in one pass, two vectors interleaved (the last two lanes
    carried into the next vector), a 3-wide row's three likewise (the fourth tap's lanes
    masked off). Every element
    still gets its taps in row order, so the bits are the AVX2 path's, over row lengths
    that end inside a vector and ones that fill it."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, H + 5)).astype(dtype)
    w = rng.standard_normal((C, K, R, R)).astype(dtype)
    a, b = _on_both_paths(lambda: (
        F.conv_transpose2d(x, w, stride=2, padding=pad, output_padding=out_pad),))
    _assert_same_bits(a, b, f"{dtype.__name__} {C}->{K} {R}x{R} on {H}x{H + 5}")


@pytest.mark.parametrize("C,K,H,W,R,pad", [(1, 6, 28, 28, 5, 0), (3, 7, 13, 21, 3, 1),
                                            (2, 15, 9, 8, 3, 1), (3, 1, 6, 5, 5, 2),
                                            (1, 9, 17, 40, 7, 3)])
@pytest.mark.parametrize("threads", [1, 2])
def test_small_filter_weight_gradient_same_bits_as_avx2(C, K, H, W, R, pad, threads,
                                                        restore_threads):
    """Small filters' weight gradients (LeNet's first layer: 1 -> 6 channels, 5x5) run a
    direct kernel whose AVX-512 form holds two filters' 8-lane accumulators in one vector
    (the x row broadcast to both halves): every lane gets AVX2's multiply-adds in AVX2's
    order. Odd filter counts (a last single filter), filter blocks of 8 + 7, rows shorter
    than and not a multiple of 8, filters wider than 6 taps."""
    fastconv.set_num_threads(threads)
    rng = np.random.default_rng(C * K + H * W + R)
    x = rng.standard_normal((3, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, R, R)).astype(np.float32)
    g = rng.standard_normal(F.conv2d(x, w, padding=pad).shape).astype(np.float32)
    a, b = _on_both_paths(lambda: F.conv2d_backward(g, x, w, padding=pad, input_grad=False))
    _assert_same_bits(a, b, f"{C}->{K} {R}x{R} on {H}x{W} pad {pad}")


@pytest.mark.parametrize("C,K,R,stride,dilation", [
    (3, 16, 3, 1, 1), (3, 32, 3, 1, 1), (2, 17, 3, 1, 1), (4, 27, 3, 2, 1), (5, 20, 3, 1, (2, 1)),
    (1, 16, 5, 1, 1), (6, 16, 5, 1, 1), (3, 31, 5, 2, 1), (7, 24, 3, 1, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_tall_weight_gradient_kernel_same_bits_as_avx2(C, K, R, stride, dilation, dtype,
                                                       threads, restore_threads):
    """Layers with few taps and 16-32 filters (an image network's first layer, 3 -> 16 or
    32 channels, 3x3) take their weight gradient on AVX-512 from a kernel holding every
    tap of up to nine image rows against one or two B panels: one filter short of a
    panel (17, 31), row groups balanced (C * R rows over several calls), 5-wide filters,
    stride 2, a dilated filter row, float and double, with the bias gradient: AVX2's
    bits, on one thread or two."""
    fastconv.set_num_threads(threads)
    rng = np.random.default_rng(C * K + R + stride)
    x = rng.standard_normal((3, C, 19, 23)).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    pad = R // 2
    y = F.conv2d(x, w, stride=stride, padding=pad, dilation=dilation)
    g = rng.standard_normal(y.shape).astype(dtype)
    a, b = _on_both_paths(lambda: F.conv2d_backward(g, x, w, stride=stride, padding=pad,
                                                    dilation=dilation, input_grad=False))
    _assert_same_bits(a, b, f"{dtype.__name__} {C}->{K} {R}x{R} stride {stride}")
    ref = reference.conv2d_backward(g, x, w, stride=stride, padding=pad, dilation=dilation)
    for got, want in zip(b[1:], ref[1:]):
        np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                                   atol=1e-3 if dtype == np.float32 else 1e-9)


@pytest.mark.parametrize("W", [31, 32, 33, 64, 71])
@pytest.mark.parametrize("pad", [0, 1])
@pytest.mark.parametrize("R", [1, 3])
def test_stride2_phase_split_of_wide_rows_same_bits_as_avx2(W, pad, R):
    """A stride-2 layer's input is split into its even and odd columns before the direct
    kernels read it; on AVX-512 (float) 32 columns a step with two-source permutes, the
    rest of a row as on AVX2. Rows of 31 to 71 columns, both phase orders (pad 0: the
    even columns first, pad 1: the odd ones), a 1x1 layer reading one phase: the same
    bits as the AVX2 path, forward and backward."""
    if R == 1:
        pad = 0
    rng = np.random.default_rng(W + 7 * pad + R)
    x = rng.standard_normal((2, 5, 9, W)).astype(np.float32)
    w = rng.standard_normal((16, 5, R, R)).astype(np.float32)

    def run():
        y = F.conv2d(x, w, stride=2, padding=pad)
        return (y,) + F.conv2d_backward(np.ones_like(y), x, w, stride=2, padding=pad)
    _assert_same_bits(*_on_both_paths(run), what=f"W {W} pad {pad} {R}x{R}")


@pytest.mark.parametrize("K", [8, 14, 20, 32, 33, 38, 64])
@pytest.mark.parametrize("C,H", [(32, 16), (64, 8)])
def test_single_image_winograd_split_inside_panels_same_bits(K, C, H, restore_threads):
    """One image with packed weights takes Winograd, and two or three threads share it by
    output channels: with the AVX-512 kernels in whole pairs, so a part may start inside a
    6-row panel of the packed weights (32 channels: 16 + 16). Any split gives the one-thread
    bits, and the AVX2 path's (whole panels)."""
    rng = np.random.default_rng(K * 100 + C)
    x = rng.standard_normal((1, C, H, H)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32)
    pw = F.pack_conv2d_weight(w, padding=1, x_shape=x.shape)
    outs = []
    for nt in (1, 2, 3):
        fastconv.set_num_threads(nt)
        outs.append(_on_both_paths(lambda: (F.conv2d(x, pw, b, padding=1, activation="relu"),)))
    for avx2, avx512 in outs:
        _assert_same_bits(outs[0][1], avx512, f"{K} filters")
        _assert_same_bits(avx2, avx512, f"{K} filters, AVX2")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
@given(C=st.integers(1, 600), K=st.integers(1, 300), H=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_few_pixel_1x1_panels_same_bits_as_avx2(C, K, H, seed, dtype, threads, restore_threads):
    """One image of a few pixels under a 1x1 convolution (MobileNet's 2x2 maps at batch
    1): the row kernel runs up to four weight panels a call on AVX-512, each element still
    the AVX2 kernel's chain of fused multiply-adds."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, C, H, H)).astype(dtype)
    w = rng.standard_normal((K, C, 1, 1)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    fastconv.set_num_threads(threads)
    a, z = _on_both_paths(lambda: [F.conv2d(x, w, b, activation="relu")])
    _assert_same_bits(a, z, "1x1 conv of a few pixels")


@pytest.mark.parametrize("N", [4, 5, 7, 9, 64])
@pytest.mark.parametrize("K", [20, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_4x4_map_1x1_image_groups_same_bits_as_avx2(N, K, dtype):
    """A 1x1 convolution on 4x4 maps (one 16-pixel tile an image): the wide kernel takes
    four images a call on AVX-512 (24 accumulators), then three, the rest one by one;
    each element still the AVX2 kernel's chain of fused multiply-adds, bias, ReLU."""
    rng = np.random.default_rng(N * K)
    x = rng.standard_normal((N, 40, 4, 4)).astype(dtype)
    w = rng.standard_normal((K, 40, 1, 1)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    a, z = _on_both_paths(lambda: [F.conv2d(x, w, b, activation="relu"),
                                   F.conv2d(x, F.pack_conv2d_weight(w, x_shape=x.shape), b)])
    _assert_same_bits(a, z, f"{N} images, {K} filters")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(n=st.integers(2, 9), inputs=st.integers(1, 700), units=st.integers(1, 130),
       seed=st.integers(0, 2**16))
def test_packed_linear_panels_same_bits_as_avx2(n, inputs, units, seed, dtype):
    """A Dense layer with packed weights at batch > 1: on AVX-512 up to four weight
    panels a call for four rows at a time, each element the AVX2 kernel's chain."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, inputs)).astype(dtype)
    w = rng.standard_normal((units, inputs)).astype(dtype)
    b = rng.standard_normal(units).astype(dtype)
    a, z = _on_both_paths(lambda: [F.linear(x, F.pack_linear_weight(w), b)])
    _assert_same_bits(a, z, "packed linear")


@given(n=st.integers(1, 6), c=st.integers(1, 9), h=st.integers(1, 19), w=st.integers(1, 19),
       seed=st.integers(0, 2**16))
def test_batch_norm_kernels_same_bits(n, c, h, w, seed):
    """csrc/batchnorm_avx512.h: whole 16-float vectors and one masked one per plane or
    image row, on every pass (statistics, apply with ReLU and residual, backward with
    the mask from y or recomputed from x, inference), planes short (row mode) and long."""
    from fastconv.functional.normalization import _batch_norm2d_checked
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, h, w)) * 2 + 0.3).astype(np.float32)
    g, res = (rng.standard_normal((n, c, h, w)).astype(np.float32) for _ in range(2))
    gamma, beta = (rng.standard_normal(c).astype(np.float32) for _ in range(2))

    def passes():
        rm, rv = np.zeros(c, np.float32), np.ones(c, np.float32)
        y, m, s = F.batch_norm2d(x, gamma, beta, rm, rv, True, activation="relu",
                                 return_stats=True)
        return [y, m, s, rm, rv, F.batch_norm2d(x, gamma, beta, rm, rv, True),
                *F.batch_norm2d_backward(g, x, gamma, stats=(m, s), y=y),
                *F.batch_norm2d_backward(g, x, gamma, stats=(m, s), relu_beta=beta),
                *F.batch_norm2d_backward(g, x, gamma),
                F.batch_norm2d(x, gamma, beta, rm, rv, False, activation="relu"),
                *F.batch_norm2d_inference_backward(g, x, gamma, rm, rv, y=y),
                _batch_norm2d_checked(x, gamma, beta, rm.copy(), rv.copy(), True, 0.9, 1e-3,
                                      True, False, res)]

    if n * h * w < 2:
        return
    _assert_same_bits(*_on_both_paths(passes), f"batch norm {(n, c, h, w)}")
