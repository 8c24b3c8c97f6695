"""Kernel paths added for speed: each against fastconv.reference, on both SIMD paths.

2x2 stride-2 max-pool backward (csrc/pool_avx2.c): whole vectors of windows, the
overlapping last vector of a row (cols not a multiple of the vector), rows too
short for a vector (scalar loop), odd H / W (general loop on the leftovers), ties
between window elements (first maximum wins), signed zeros and NaN (the plane
falls back to the sequential rule). Its forward (same file): vectors of 8 (float) or 4
(double) windows, the overlapping last vector, ties kept in the order a b / c d (the
first of -0.0 / 0.0), NaN windows. Max pooling does no arithmetic, so every
comparison is bitwise.
"""
import numpy as np
import pytest
from hypothesis import assume, given, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref
from fastconv import _conv, geometry as geo

DTYPES = [np.float32, np.float64]


def _pool_inputs(dtype, N, C, H, W, ties, seed):
    rng = np.random.default_rng(seed)
    if ties:
        # Few distinct values: most windows hold equal maxima, including -0.0 / 0.0.
        x = rng.choice(np.array([-1.0, -0.0, 0.0, 1.0], dtype), size=(N, C, H, W))
    else:
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Ho, Wo = H // 2, W // 2
    gy = rng.standard_normal((N, C, Ho, Wo)).astype(dtype)
    return x, gy


def _same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


pool_cases = st.fixed_dictionaries({
    "N": st.integers(1, 3), "C": st.integers(1, 5),
    "H": st.integers(2, 21), "W": st.integers(2, 41),
    "ties": st.booleans(), "seed": st.integers(0, 2**16),
})


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases)
def test_max_pool_2x2_backward_matches_reference_bitwise(simd, dtype, case):
    x, gy = _pool_inputs(dtype, **case)
    got = F.max_pool2d_backward(gy, x, 2)
    want = ref.max_pool2d_backward(gy, x, 2)
    assert _same_bits(got, want.astype(dtype)), (case, np.argwhere(got != want)[:5])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("W", [2, 6, 7, 8, 9, 14, 16, 30, 31])
def test_max_pool_2x2_backward_same_bits_on_both_simd_paths(dtype, W):
    x, gy = _pool_inputs(dtype, 2, 3, 10, W, ties=True, seed=W)
    before = fastconv.simd_path()
    try:
        fastconv.set_simd_path("portable")
        portable = F.max_pool2d_backward(gy, x, 2)
        fastconv.set_simd_path("avx2")
        fast = F.max_pool2d_backward(gy, x, 2)
    finally:
        fastconv.set_simd_path(before)
    assert _same_bits(portable, fast)
    # Every gradient value lands exactly once per window.
    np.testing.assert_allclose(fast.sum(axis=(2, 3)), gy.sum(axis=(2, 3)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=pool_cases)
def test_max_pool_2x2_forward_matches_reference_bitwise(simd, dtype, case):
    x, _ = _pool_inputs(dtype, **case)
    got = F.max_pool2d(x, 2)
    assert _same_bits(got, ref.max_pool2d(x, 2).astype(dtype)), case


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("W", [7, 8, 9, 12, 13, 15, 16, 17, 30, 31, 33, 48])
def test_max_pool_2x2_forward_same_bits_on_both_simd_paths(dtype, W):
    """Signed zeros tie in most windows: the first one in the order a b / c d is kept."""
    x, _ = _pool_inputs(dtype, 2, 3, 10, W, ties=True, seed=W)
    before = fastconv.simd_path()
    try:
        fastconv.set_simd_path("portable")
        portable = F.max_pool2d(x, 2)
        fastconv.set_simd_path("avx2")
        fast = F.max_pool2d(x, 2)
    finally:
        fastconv.set_simd_path(before)
    assert _same_bits(portable, fast)
    assert np.signbit(fast[fast == 0]).any() and not np.signbit(fast[fast == 0]).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", [(0, 0), (0, 1), (1, 0), (1, 1), (5, 17), (11, 25), (3, 26)])
def test_max_pool_2x2_forward_nan_windows(simd, dtype, where):
    """A NaN in any of a window's four places (or in the overlapping last vector, or the
    column the windows leave out) gives exactly the reference's output."""
    x, _ = _pool_inputs(dtype, 2, 2, 12, 35, ties=False, seed=2)
    x[1, 0, where[0], where[1]] = np.nan
    got = F.max_pool2d(x, 2)
    want = ref.max_pool2d(x, 2).astype(dtype)
    assert _same_bits(got, want)
    assert np.isnan(got).sum() == (where[1] < 34)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("where", ["first", "last_vector", "tail", "outside"])
def test_max_pool_2x2_backward_nan_follows_reference(simd, dtype, where):
    x, gy = _pool_inputs(dtype, 2, 2, 12, 27, ties=False, seed=1)
    h, w = {"first": (0, 1), "last_vector": (5, 17), "tail": (11, 25), "outside": (3, 26)}[where]
    x[1, 1, h, w] = np.nan
    x[1, 1, h ^ 1, w] = np.nan  # two NaNs in one window: the last one wins
    got = F.max_pool2d_backward(gy, x, 2)
    want = ref.max_pool2d_backward(gy, x, 2).astype(dtype)
    assert _same_bits(got, want)
    # Planes without NaN are untouched by the fallback.
    assert _same_bits(got[0], ref.max_pool2d_backward(gy[:1], x[:1], 2).astype(dtype)[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_2x2_backward_bitwise_for_1_2_3_threads(simd, dtype, restore_threads):
    x, gy = _pool_inputs(dtype, 7, 5, 30, 30, ties=True, seed=3)
    outs = []
    for t in (1, 2, 3):
        fastconv.set_num_threads(t)
        outs.append(F.max_pool2d_backward(gy, x, 2))
    assert _same_bits(outs[0], outs[1]) and _same_bits(outs[0], outs[2])
    assert _same_bits(outs[0], ref.max_pool2d_backward(gy, x, 2).astype(dtype))


# Strided convolutions copy into the zero-bordered image only the rows and column phases
# some tap reads (csrc/conv_forward.c, fc_pad_image_phased): a 1x1 with stride 2 reads one
# row in two and one phase in two; a kernel narrower than its stride skips rows too. Every
# image of a run must still see only its own pixels.
strided_cases = st.fixed_dictionaries({
    "N": st.integers(1, 4), "C": st.integers(1, 40), "K": st.integers(1, 20),
    "H": st.integers(1, 19), "W": st.integers(1, 19),
    "R": st.integers(1, 3), "S": st.integers(1, 3),
    "stride": st.tuples(st.integers(1, 4), st.integers(2, 4)),
    "pad": st.integers(0, 1), "dil": st.integers(1, 2), "seed": st.integers(0, 2**16),
})


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=strided_cases)
def test_strided_conv_forward_matches_reference(simd, dtype, case):
    c = dict(case)
    R, S, dil, pad = c["R"], c["S"], c["dil"], c["pad"]
    assume(c["H"] + 2 * pad - dil * (R - 1) >= 1 and c["W"] + 2 * pad - dil * (S - 1) >= 1)
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal((c["N"], c["C"], c["H"], c["W"])).astype(dtype)
    w = rng.standard_normal((c["K"], c["C"], R, S)).astype(dtype)
    b = rng.standard_normal(c["K"]).astype(dtype)
    got = F.conv2d(x, w, b, c["stride"], pad, dil)
    want = ref.conv2d(x, w, b, c["stride"], pad, dil)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(c["C"] * R * S))


# The direct path's bordered image keeps a cache line between channel planes that are a
# multiple of 1 KB apart when more channels than an L1 set has ways would share a set
# (csrc/conv_internal.h, fc_plane_stride): read in place, a 16-channel 1x1 over a 32x32
# map is then copied instead. Each case is one that takes the padded copy, against the
# reference and in both dtypes.
plane_cases = [
    # N, C, K, H, W, R, stride, padding
    (2, 16, 32, 32, 32, 1, 1, 0),     # 4 KB planes (8 KB in float64): the MobileNet layer
    (3, 17, 7, 16, 32, 1, 1, 0),      # 2 KB planes, 17 channels over two sets
    (2, 16, 8, 32, 32, 1, 2, 0),      # strided: the phase-split copy
    (2, 40, 12, 16, 16, 3, 1, 0),     # 3x3 'valid' on 1 KB planes, 40 channels
    (1, 24, 6, 32, 16, 3, 1, 0),      # 2 KB planes, batch 1
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", plane_cases)
def test_conv_forward_with_padded_channel_planes_matches_reference(simd, dtype, case):
    N, C, K, H, W, R, stride, pad = case
    rng = np.random.default_rng(C * H + K)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    got = F.conv2d(x, w, b, stride, pad)
    want = ref.conv2d(x, w, b, stride, pad)
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(C * R * R))
    gy = rng.standard_normal(got.shape).astype(dtype)
    gx, gw, gb = F.conv2d_backward(gy, x, w, stride, pad)
    wx, ww, wb = ref.conv2d_backward(gy, x, w, stride, pad)
    np.testing.assert_allclose(gx, wx, rtol=tol, atol=tol * np.sqrt(K * R * R))
    np.testing.assert_allclose(gw, ww, rtol=tol, atol=tol * np.sqrt(N * got.shape[2] * got.shape[3]))
    np.testing.assert_allclose(gb, wb, rtol=tol, atol=tol * np.sqrt(N * got.shape[2] * got.shape[3]))


# Output rows that leave many of the row-vector kernels' lanes idle (13 or 4 pixels for 8
# lanes) take the output-channel-vector path (csrc/conv_forward_cvec.c): MR output pixels
# broadcast from the bordered image against NR output channels, the tile written back
# transposed with the bias, residual and ReLU. Forward with each write-back (fused ReLU,
# another activation by the epilogue pass, none), the gradients (backward-data takes the
# same path on its flipped weights), partial tiles in both directions, strided and padded.
cvec_cases = [
    # N, C, K, H, W, R, stride, padding
    (1, 15, 64, 15, 15, 3, 1, 0),     # tfcnn's second conv at batch 1, fewer channels (15:
                                      # from 16 packed weights take F(4x4) on AVX-512)
    (3, 64, 64, 6, 6, 3, 1, 0),       # 4-pixel rows
    (2, 24, 40, 9, 11, 3, 2, 1),      # strided, 40 channels (a partial NR panel)
    (1, 16, 48, 5, 5, 5, 1, 2),       # 5x5 filters, 5-pixel rows (a partial MR tile)
    (2, 70, 32, 5, 5, 3, 1, 1),       # 70 input channels, 25 pixels
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cvec_cases)
@pytest.mark.parametrize("activation", [None, "relu", "tanh"])
def test_channel_vector_conv_matches_reference(simd, dtype, case, activation):
    N, C, K, H, W, R, stride, pad = case
    g = geo.conv2d_geometry((N, C, H, W), (K, C, R, R), stride, pad)
    if dtype == np.float32:   # (float64 rows are 4 lanes: some of these fill them)
        assert _conv.conv_path(geo.conv_kernel_args(g), 0, 4) == "channel-vector"
    rng = np.random.default_rng(C * H + K)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    got = F.conv2d(x, w, b, stride, pad, activation=activation)
    want = ref.conv2d(x, w, b, stride, pad)
    want = {None: want, "relu": np.maximum(want, 0), "tanh": np.tanh(want)}[activation]
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(C * R * R))
    packed = F.pack_conv2d_weight(w, stride, pad)
    yp = F.conv2d(x, packed, b, stride, pad, activation=activation)
    size = np.dtype(dtype).itemsize
    assert (_conv.conv_path(geo.conv_kernel_args(g, packed=True), 0, size)
            == _conv.conv_path(geo.conv_kernel_args(g), 0, size))
    assert yp.tobytes() == got.tobytes()
    if activation is not None:
        return
    if case in cvec_cases[3:]:   # their input gradient takes the path too (flipped weights)
        assert _conv.conv_path(geo.conv_kernel_args(g), 1, np.dtype(dtype).itemsize) == \
            "channel-vector"
    gy = rng.standard_normal(got.shape).astype(dtype)
    gx, gw, gb = F.conv2d_backward(gy, x, w, stride, pad)
    wx, ww, wb = ref.conv2d_backward(gy, x, w, stride, pad)
    np.testing.assert_allclose(gx, wx, rtol=tol, atol=tol * np.sqrt(K * R * R))
    np.testing.assert_allclose(gw, ww, rtol=tol, atol=tol * np.sqrt(N * got.shape[2] * got.shape[3]))


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("batch", [1, 4])
def test_channel_vector_conv_with_residual_matches_the_unfused_steps(simd, relu, batch):
    """A residual block on 5x5 maps: the inference program adds the shortcut (and applies
    ReLU) in the channel-vector write-back; the layer-by-layer outputs add it after."""
    from fastconv import layers, models
    g = geo.conv2d_geometry((batch, 32, 5, 5), (32, 32, 3, 3), 1, 1)
    assert _conv.conv_path(geo.conv_kernel_args(g), 0, 4) == "channel-vector"
    inp = layers.Input((5, 5, 32))
    y = layers.Conv2D(32, 3, padding="same")(inp)
    y = layers.Add()([y, inp])
    if relu:
        y = layers.ReLU()(y)
    model = models.Model(inp, layers.Conv2D(8, 1)(y), seed=1)
    x = np.random.default_rng(batch).standard_normal((batch, 5, 5, 32)).astype(np.float32)
    fused = model.predict(x, batch_size=batch)
    unfused = model.layer_outputs(x)[-1][1]
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-5)


# (N, C, H, W, K, kernel, stride, padding, groups): a Winograd 3x3, the batched 1x1 on a
# small map, a strided 3x3 and a strided 1x1 (col2im), a single image (the forward team
# on the flipped weights), a depthwise and a grouped convolution (the sum after).
_ADDEND_CASES = [(4, 64, 10, 10, 64, 3, 1, 1, 1), (5, 16, 3, 3, 24, 1, 1, 0, 1),
                 (3, 8, 9, 9, 16, 3, 2, 1, 1), (3, 8, 9, 9, 16, 1, 2, 0, 1),
                 (1, 32, 12, 12, 32, 3, 1, 1, 1), (4, 8, 7, 7, 8, 3, 1, 1, 8),
                 (2, 8, 6, 6, 8, 3, 1, 1, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", _ADDEND_CASES)
def test_conv_backward_data_adds_the_addend_in_the_write_back_bitwise(simd, dtype, case):
    """PreparedConv2d.backward(addend=a): the input gradient plus another gradient of the
    same input, summed as the kernels write it (what a graph model's residual join
    uses) -- bitwise grad_x + a, on every path and both element types."""
    from fastconv.functional.prepared import PreparedConv2d
    N, C, H, W, K, R, S, P, groups = case
    rng = np.random.default_rng(sum(case))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, R)).astype(dtype)
    prep = PreparedConv2d(x.shape, w.shape, dtype, S, P, 1, groups)
    g = rng.standard_normal(prep.out_shape).astype(dtype)
    a = rng.standard_normal(x.shape).astype(dtype)
    gx, gw, gb = prep.backward(g, x, w)
    gxa, gwa, gba = prep.backward(g, x, w, addend=a)
    assert gxa.tobytes() == (gx + a).tobytes()
    assert gwa.tobytes() == gw.tobytes() and gba.tobytes() == gb.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N", [1, 3])
def test_direct_input_gradient_with_big_flipped_weights(simd, dtype, N, restore_threads):
    """Weights big enough for a team to flip and pack them (100 -> 90 channels, 3x3:
    81000 values per channel panel row), on the direct path: against the reference,
    bitwise the same for 1, 2 and 3 threads (each thread packs whole panels)."""
    rng = np.random.default_rng(N)
    x = rng.standard_normal((N, 100, 7, 7)).astype(dtype)
    w = rng.standard_normal((90, 100, 3, 3)).astype(dtype)
    g = rng.standard_normal((N, 90, 7, 7)).astype(dtype)
    args = geo.conv_kernel_args(geo.conv2d_geometry(x.shape, w.shape, 1, 1))
    assert _conv.conv_path(args, 1, np.dtype(dtype).itemsize) == "direct"
    runs = []
    for nt in (2, 1, 3):
        fastconv.set_num_threads(nt)
        runs.append(F.conv2d_backward(g, x, w, padding=1)[0])
    assert runs[0].tobytes() == runs[1].tobytes() == runs[2].tobytes()
    np.testing.assert_allclose(runs[0], ref.conv2d_backward(g, x, w, padding=1)[0],
                               rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-3 if dtype == np.float32 else 1e-10)


# A 'valid' convolution (no border) reads its images in place; where the short last
# chunk of a row reads past an image's end (30-pixel rows: two lanes on), every image of
# a run but the last is still read in place -- those lanes hold the next image's first
# values, computed and dropped -- and the last is copied (csrc/conv_forward.c). So does
# a 1x1 layer whose plane is not a whole number of chunks. 13 images: runs of several
# images for 1, 2 and 3 threads.
valid_overread_cases = [
    # N, C, K, H, W, R; which paths read past an image's end
    (13, 3, 32, 32, 32, 3),   # tfcnn's first layer, 30-pixel rows: AVX-512 (elsewhere
                              # the short chunk slides back over its partner)
    (13, 4, 13, 9, 30, 2),    # 29-pixel rows, a 2x2 kernel: AVX-512
    (13, 16, 20, 14, 14, 5),  # 400 taps, more than one K block (no sliding back): every
                              # path, float (8 + 2) and double (4 + 4 + 2)
    (13, 32, 64, 15, 15, 1),  # 1x1 on 15x15 maps, chunked across rows (225 pixels): AVX-512
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", valid_overread_cases)
def test_valid_conv_images_read_in_place_give_each_images_own_bits(simd, dtype, case,
                                                                   restore_threads,
                                                                   monkeypatch):
    """Each image of the batch bitwise as computed alone (where the one image is copied),
    whatever the thread count (runs of images end at different images), with every other
    image all NaN (a lane of the next image leaking into the sums would show), and
    against the reference."""
    N, C, K, H, W, R = case
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")  # the direct kernels, not F(2, 3) rows
    rng = np.random.default_rng(N * W + C)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    args = geo.conv_kernel_args(geo.conv2d_geometry(x.shape, w.shape, 1, 0))
    assert _conv.conv_path(args, 0, np.dtype(dtype).itemsize) == "direct"
    x_nan = x.copy()
    x_nan[1::2] = np.nan
    alone = [F.conv2d(x[i:i + 1], w, b) for i in range(N)]
    for nt in (1, 2, 3):
        fastconv.set_num_threads(nt)
        got = F.conv2d(x, w, b)
        for i in range(N):
            assert got[i:i + 1].tobytes() == alone[i].tobytes(), (nt, i)
        nan_run = F.conv2d(x_nan, w, b)
        assert nan_run[0::2].tobytes() == got[0::2].tobytes(), nt
        assert np.isnan(nan_run[1::2]).all()
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got, ref.conv2d(x, w, b), rtol=tol, atol=tol * np.sqrt(C * R * R))
