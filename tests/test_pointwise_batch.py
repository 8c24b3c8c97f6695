"""1x1 convolutions on small maps (2x2, 3x3: the late pointwise layers of MobileNet-style
networks) run as one GEMM across the batch's pixels; on maps one micro-tile wide (4x4), a
run's images are the tiles of one kernel call. Each image's result must be bitwise the
one it gets alone (the per-image path), for every fused activation, both dtypes, any thread
count, and equal to the reference.
"""
import numpy as np
import pytest

import fastconv
from fastconv import functional as F
from fastconv import reference as R
from fastconv.functional.prepared import activation_code

from conftest import SIMD_PATHS

# The last two have more filters than pixels in the batch and enough work for a team: the
# threads split the filters (each reads its weights once) instead of runs of images.
# Then maps of exactly one micro-tile's width (4x4 float, 2x4 double: 16 and 8 pixels), run
# three images to a call of the wide kernel with the leftover images alone: two K blocks
# (300 channels), two filter blocks (200 filters), and a double-width 2x4 map.
SHAPES = [(5, 7, 9, 2, 2), (12, 64, 70, 3, 3), (3, 300, 20, 1, 1), (17, 33, 50, 3, 1),
          (2, 5, 600, 2, 3), (4, 256, 700, 1, 1), (16, 96, 250, 2, 2),
          (7, 300, 20, 4, 4), (4, 24, 200, 4, 4), (8, 33, 70, 2, 4)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", [None, "relu", "silu", "hardswish"])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_batched_pointwise_is_bitwise_per_image(shape, dtype, activation, simd_path):
    N, C, K, H, W = shape
    rng = np.random.default_rng(N * C + K)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 1, 1)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    threads, path = fastconv.get_num_threads(), fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        fastconv.set_num_threads(1)
        alone = np.concatenate([F.conv2d(x[i:i + 1], w, b, activation=activation)
                                for i in range(N)])
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            for weight in (w, F.pack_conv2d_weight(w)):
                got = F.conv2d(x, weight, b, activation=activation)
                assert got.tobytes() == alone.tobytes(), f"{t} threads"
    finally:
        fastconv.set_num_threads(threads)
        fastconv.set_simd_path(path)
    if activation in (None, "relu"):
        want = R.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
        if activation:
            want = R.relu(want)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(alone, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
@pytest.mark.parametrize("shape", [(300, 520, 2, 2), (7, 20, 3, 3), (64, 17, 1, 1)],
                         ids=lambda s: "x".join(map(str, s)))
def test_single_image_few_pixels_as_rows_is_bitwise_the_batch(dtype, simd_path, shape):
    """Batch 1 with fewer than 16 pixels runs y^T = x^T W^T (the output channels across the
    kernel's lanes, split between threads): bitwise the batched GEMM's result, residual
    and activation included."""
    C, K, H, W = shape
    rng = np.random.default_rng(C + K)
    x = rng.standard_normal((2, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 1, 1)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    res = rng.standard_normal((2, K, H, W)).astype(dtype)
    pw = F.pack_conv2d_weight(w)
    act, param = activation_code("relu")
    threads, path = fastconv.get_num_threads(), fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        fastconv.set_num_threads(1)
        batch = pw.run(x, b, act, param, residual=res)
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            for i in range(2):
                one = pw.run(np.ascontiguousarray(x[i:i + 1]), b, act, param,
                             residual=np.ascontiguousarray(res[i:i + 1]))
                assert one.tobytes() == batch[i:i + 1].tobytes(), f"{t} threads, image {i}"
    finally:
        fastconv.set_num_threads(threads)
        fastconv.set_simd_path(path)
    want = R.relu(R.conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64))
                  + res)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(batch, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("shape", [(9, 7, 13, 2, 2), (70, 20, 40, 4, 4), (5, 3, 600, 8, 8),
                                   (3, 64, 6, 3, 3), (130, 1, 1, 1, 1)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_small_map_pointwise_backward(shape, dtype, simd_path):
    """Backward of 1x1 convolutions on maps of up to 64 pixels: the weight gradient (maps of
    up to 49 pixels) over all images at once with the filters split between threads, the
    input gradient as one GEMM across the batch (maps of 16 pixels and multiples: the
    forward of the transposed layer). Bitwise the same for any thread count, equal to the
    reference (groups of images across the 256-column reduction blocks included: 70 images
    of 16 pixels)."""
    N, C, K, H, W = shape
    rng = np.random.default_rng(N + C * K)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 1, 1)).astype(dtype)
    g = rng.standard_normal((N, K, H, W)).astype(dtype)
    threads, path = fastconv.get_num_threads(), fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        results = []
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            results.append(F.conv2d_backward(g, x, w))
    finally:
        fastconv.set_num_threads(threads)
        fastconv.set_simd_path(path)
    for got in results[1:]:
        for a, b in zip(got, results[0]):
            assert a.tobytes() == b.tobytes()
    want = R.conv2d_backward(g.astype(np.float64), x.astype(np.float64), w.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for a, b in zip(results[0], want):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


@pytest.mark.parametrize("shape", [(6, 16, 20, 8, 8), (5, 24, 28, 9, 9), (4, 40, 24, 10, 7),
                                   (3, 17, 16, 16, 16)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_weight_gradient_on_larger_maps(shape, dtype):
    """1x1 weight gradients from 8x8 maps up run the direct path: the image's channel planes
    are the A rows, dY^T packed per image with the bias's row sums taken in the same read
    (filters not a multiple of 8 or 16, pixels not a multiple of 8 or 32). The bias gradient
    is bitwise the same on every SIMD path (one fixed summation order), both gradients the
    same for any thread count and equal to the reference."""
    N, C, K, H, W = shape
    rng = np.random.default_rng(N * K + H)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 1, 1)).astype(dtype)
    g = rng.standard_normal((N, K, H, W)).astype(dtype)
    threads, path = fastconv.get_num_threads(), fastconv.simd_path()
    results = {}
    try:
        for simd_path in SIMD_PATHS:
            fastconv.set_simd_path(simd_path)
            for t in (1, 2, 3):
                fastconv.set_num_threads(t)
                results[simd_path, t] = F.conv2d_backward(g, x, w, input_grad=False)
    finally:
        fastconv.set_num_threads(threads)
        fastconv.set_simd_path(path)
    for (simd_path, t), (_, gw, gb) in results.items():
        assert gw.tobytes() == results[simd_path, 1][1].tobytes(), (simd_path, t)
        assert gb.tobytes() == results["portable", 1][2].tobytes(), (simd_path, t)
    _, want_w, want_b = R.conv2d_backward(g.astype(np.float64), x.astype(np.float64),
                                          w.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for simd_path in SIMD_PATHS:
        _, gw, gb = results[simd_path, 1]
        np.testing.assert_allclose(gw, want_w, rtol=tol, atol=tol * np.abs(want_w).max())
        np.testing.assert_allclose(gb, want_b, rtol=tol, atol=tol * np.abs(want_b).max())


@pytest.mark.parametrize("shape", [(2, 16, 32, 4, 4), (5, 64, 128, 8, 8), (3, 130, 20, 8, 8),
                                   (4, 16, 32, 16, 16), (3, 7, 300, 4, 8), (2, 33, 17, 32, 32),
                                   (3, 16, 64, 16, 4), (2, 64, 128, 8, 12)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_pointwise_input_gradient_is_the_transposed_forward(shape, dtype, simd_path):
    """The input gradient of a 1x1 convolution over two images or more, on maps of a multiple
    of 16 pixels, is the forward pass of the transposed layer (dy through W^T, packed straight
    from W): bitwise conv2d(dy, W^T) -- with a bias, bitwise conv_transpose2d's -- for any
    thread count (channel counts across the direct path's 128 limit and off the register
    tile; 16x4 and 8x12 maps, whose transposed forward takes the channel-vector kernels), and
    equal to the reference."""
    N, C, K, H, W = shape
    rng = np.random.default_rng(N * C + K * H)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 1, 1)).astype(dtype)
    b = rng.standard_normal(C).astype(dtype)
    g = rng.standard_normal((N, K, H, W)).astype(dtype)
    wt = np.ascontiguousarray(w.transpose(1, 0, 2, 3))
    threads, path = fastconv.get_num_threads(), fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            gx = F.conv2d_backward(g, x, w)[0]
            assert gx.tobytes() == F.conv2d(g, wt).tobytes(), t
            assert (F.conv_transpose2d(g, w, b).tobytes()
                    == F.conv2d(g, wt, b).tobytes()), t
    finally:
        fastconv.set_num_threads(threads)
        fastconv.set_simd_path(path)
    want = R.conv2d_backward(g.astype(np.float64), x.astype(np.float64),
                             w.astype(np.float64))[0]
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(gx, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_input_gradient_with_addend_as_transposed_forward(dtype):
    """A 1x1 layer's input gradient with another branch's gradient of the same input added in
    the write-back (a residual block's input), on the transposed-forward route: bitwise the
    input gradient plus the addend."""
    from fastconv.functional.prepared import PreparedConv2d
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 24, 8, 8)).astype(dtype)
    w = rng.standard_normal((40, 24, 1, 1)).astype(dtype)
    g = rng.standard_normal((3, 40, 8, 8)).astype(dtype)
    extra = rng.standard_normal(x.shape).astype(dtype)
    prep = PreparedConv2d(x.shape, w.shape, dtype)
    plain = prep.backward(g, x, w)[0]
    joined = prep.backward(g, x, w, addend=extra)[0]
    assert joined.tobytes() == (plain + extra).tobytes()


@pytest.mark.parametrize("shape", [(3, 16, 40, 8, 8), (2, 24, 31, 16, 16), (2, 16, 32, 32, 32),
                                   (4, 9, 20, 9, 7)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_pointwise_weight_gradient_swapped_operands_same_bits(shape, with_bias, dtype,
                                                              simd_path):
    """With fewer input than output channels the 1x1 weight gradient broadcasts dY's rows and
    packs X^T (the smaller operand) instead of the other way round: every product and its
    order are those of the layer with the roles of x and dy exchanged, so dW is bitwise the
    transpose of that layer's (which keeps the operands as they are), with or without a bias
    gradient, for any thread count; and equal to the reference."""
    from fastconv import geometry as geo
    from fastconv.functional import conv as C_
    N, C, K, H, W = shape
    rng = np.random.default_rng(N * C + K + H)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    g = rng.standard_normal((N, K, H, W)).astype(dtype)

    def weight_grad(inp, grad, out_channels):
        gm = geo.conv2d_geometry(inp.shape, (out_channels, inp.shape[1], 1, 1), 1, 0, 1, "t", 1)
        gw = np.empty((out_channels, inp.shape[1], 1, 1), dtype)
        gb = np.empty(out_channels, dtype) if with_bias else None
        C_._backward_weight(inp, grad, gm, 1, gw, gb)
        return gw[:, :, 0, 0]

    threads, path = fastconv.get_num_threads(), fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            swapped = weight_grad(x, g, K)            # C < K
            plain = weight_grad(g, x, C)              # K' = C < C' = K: no swap
            assert swapped.tobytes() == np.ascontiguousarray(plain.T).tobytes(), t
    finally:
        fastconv.set_num_threads(threads)
        fastconv.set_simd_path(path)
    want = np.einsum("nkhw,nchw->kc", g.astype(np.float64), x.astype(np.float64))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(swapped, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("shape", [(4, 16, 32, 32, 32, 2, 2), (3, 32, 64, 16, 16, 2, 2),
                                   (2, 24, 40, 15, 13, 2, 2), (3, 8, 12, 17, 9, 3, 1),
                                   (2, 5, 7, 6, 11, 2, 3)],
                         ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_strided_pointwise_input_gradient_spreads_the_compact_one(shape, dtype, simd_path):
    """A strided, unpadded 1x1 layer's input gradient is its stride-1 gradient on the sampled
    pixels spread into a zero map (with another branch's gradient added in the same write):
    bitwise what the general path (col2im into a zeroed accumulator) gives, for any thread
    count, odd map sizes and unequal strides included; and equal to the reference."""
    from fastconv import geometry as geo, _conv
    from fastconv.functional import conv as C_
    N, C, K, H, W, sh, sw = shape
    rng = np.random.default_rng(N * C + K + H)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, 1, 1)).astype(dtype)
    extra = rng.standard_normal(x.shape).astype(dtype)
    g = geo.conv2d_geometry(x.shape, w.shape, (sh, sw), 0, 1, "t", 1)
    dy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(dtype)
    threads, path = fastconv.get_num_threads(), fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            for addend in (None, extra):
                got, general = np.empty_like(x), np.empty_like(x)
                C_._backward_data(dy, w, g, 1, got, addend=addend)
                _conv.backward_data(dy, w, geo.conv_kernel_args(g), general, t, None, addend)
                assert got.tobytes() == general.tobytes(), (t, addend is None)
    finally:
        fastconv.set_num_threads(threads)
        fastconv.set_simd_path(path)
    want = R.conv2d_backward(dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64),
                             stride=(sh, sw))[0] + extra
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())
