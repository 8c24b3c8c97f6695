"""Winograd F(2, 3) along output rows (csrc/conv_forward_wrows.c): the float forward pass
(and the input gradient, the forward pass of the transposed layer) of 3x3 stride-1
convolutions whose 9C taps fit one reduction block, with 4 or more filters and output
rows of 17-32 pixels (tfcnn's and the CIFAR networks' first layers) or of more whose
last vector of tiles is nearly full, on the AVX-512 path; the AVX2 and
portable paths, float64 and FASTCONV_NO_WINOGRAD keep the direct kernels.

Checked: which geometries take it; values against fastconv.reference (float64) and
PyTorch over random shapes, and against the direct kernels of the other paths; every cut
of a shared image and every thread count bit for bit (a row cut between two parts is
computed whole by both, each storing its pixels); the write-back's bias and ReLU against
the separate pass; residual adds and pooling fused after it against the unfused steps."""
import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import fastconv
from fastconv import _conv, geometry as geo, layers, models
from fastconv import functional as F
from fastconv import reference as R

from conftest import SIMD_PATHS
from test_inference_program import _assert_program_bits_as_steps

HAS_ROWS = "avx512" in SIMD_PATHS
needs_avx512 = pytest.mark.skipif(not HAS_ROWS, reason="the CPU has no AVX-512")


def _path(N, C, K, H, W, padding, itemsize=4, stride=1, k=3):
    g = geo.conv2d_geometry((N, C, H, W), (K, C, k, k), stride, padding)
    return _conv.conv_path(geo.conv_kernel_args(g), 0, itemsize)


@pytest.fixture
def simd_paths():
    before = fastconv.simd_path()
    yield
    fastconv.set_simd_path(before)


@pytest.mark.parametrize("case, taken", [
    # N, C, K, H, W, padding
    ((64, 3, 32, 32, 32, 0), True),     # tfcnn's first layer: 30-pixel rows
    ((64, 3, 32, 32, 32, 1), True),     # the CIFAR example's: 32-pixel rows
    ((2, 28, 16, 9, 26, 0), True),      # 252 taps: still one block
    ((2, 29, 16, 9, 26, 0), False),     # 261 taps: two blocks
    ((2, 3, 3, 32, 32, 0), False),      # fewer than 4 filters
    ((2, 1, 4, 28, 28, 1), True),       # 1 channel, 4 filters
    ((2, 3, 32, 18, 18, 0), False),     # 16-pixel rows: half a vector of tiles idle
    ((2, 3, 32, 18, 35, 0), False),     # 33-pixel rows: 17 tiles, the second vector's 1 of 16
    ((2, 3, 32, 18, 40, 0), False),     # 38 pixels: 19 tiles in 32 lanes
    ((2, 3, 16, 10, 64, 1), True),      # 64 pixels: two full vectors
    ((1, 8, 24, 6, 224, 1), True),      # 224 pixels: seven
    ((1, 3, 16, 6, 127, 1), True),      # 127 pixels: 64 tiles, the last one's second dropped
])
def test_which_geometries_take_the_rows(case, taken, simd_paths, monkeypatch):
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD", raising=False)
    for path in SIMD_PATHS:
        fastconv.set_simd_path(path)
        want = "winograd-rows" if taken and path == "avx512" else "direct"
        assert _path(*case) == want, path
        assert _path(*case, itemsize=8) == "direct"
        assert _path(*case, stride=2) != "winograd-rows"
    fastconv.set_simd_path(SIMD_PATHS[-1])
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    assert _path(*case) == "direct"


@st.composite
def row_cases(draw):
    padding = draw(st.sampled_from([0, 1]))
    Wo = draw(st.integers(17, 32) | st.sampled_from([63, 64, 95, 96, 223, 224]))
    Ho = draw(st.integers(1, 12 if Wo <= 32 else 3))
    C = draw(st.integers(1, 28))
    K = draw(st.integers(4, 40))
    N = draw(st.integers(1, 3))
    act = draw(st.sampled_from([None, "relu", "leaky_relu"]))
    bias = draw(st.booleans())
    H, W = Ho + 2 - 2 * padding, Wo + 2 - 2 * padding
    # with 64 taps or more, rows of few tiles can go to the channel-vector path first
    assume(_takes_rows(N, C, K, H, W, padding))
    return N, C, K, H, W, padding, act, bias


def _takes_rows(*case):
    before = fastconv.simd_path()
    try:
        fastconv.set_simd_path("avx512")
        return _path(*case) == "winograd-rows"
    finally:
        fastconv.set_simd_path(before)


def _inputs(case, seed):
    N, C, K, H, W, padding, act, bias = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    b = rng.standard_normal(K).astype(np.float32) if bias else None
    return x, w, b


def _expected(x, w, b, padding, act):
    d = lambda a: None if a is None else a.astype(np.float64)
    want = R.conv2d(d(x), d(w), d(b), 1, padding)
    if act == "relu":
        want = np.maximum(want, 0)
    elif act == "leaky_relu":
        want = np.where(want > 0, want, 0.01 * want)
    return want


@needs_avx512
@settings(max_examples=30, deadline=None)
@given(row_cases(), st.integers(0, 2 ** 31 - 1))
def test_matches_reference_and_the_direct_kernels(case, seed):
    """Within float32 rounding of the float64 reference: the largest error relative to
    the output's scale under 2e-6 * sqrt(9C) (9C terms a sum; the direct kernels' error
    is of the same order: these transforms add and halve only). The other paths (the
    direct kernels) agree to the same tolerance."""
    N, C, K, H, W, padding, act, bias = case
    x, w, b = _inputs(case, seed)
    want = _expected(x, w, b, padding, act)
    scale = np.abs(want).max() + 1e-30
    before = fastconv.simd_path()
    try:
        for path in SIMD_PATHS:
            fastconv.set_simd_path(path)
            assert _path(N, C, K, H, W, padding) == ("winograd-rows" if path == "avx512"
                                                     else "direct")
            got = F.conv2d(x, w, b, 1, padding, activation=act)
            assert np.abs(got - want).max() / scale <= 2e-6 * np.sqrt(9 * C), (path, case)
    finally:
        fastconv.set_simd_path(before)


@pytest.mark.parametrize("case", [
    (64, 3, 32, 32, 32, 0, "relu", True),   # tfcnn-c1
    (8, 3, 32, 32, 32, 1, None, True),      # cifar-c1
    (3, 16, 20, 21, 24, 0, None, False),
])
def test_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    N, C, K, H, W, padding, act, bias = case
    x, w, b = _inputs(case, 11)
    got = F.conv2d(x, w, b, 1, padding, activation=act)
    t = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w),
                                   None if b is None else torch.from_numpy(b), 1, padding)
    if act == "relu":
        t = torch.relu(t)
    np.testing.assert_allclose(got, t.numpy(), rtol=1e-4, atol=1e-4)


@needs_avx512
@pytest.mark.parametrize("simd", ["avx512"], indirect=True)
@pytest.mark.parametrize("case", [
    (1, 3, 32, 32, 32, 0, "relu", True),    # one image shared by the team: cuts in rows
    (1, 5, 17, 11, 31, 1, None, True),      # odd rows: the last tile's second pixel dropped
    (1, 3, 16, 9, 127, 1, "relu", True),    # four vectors of tiles a row, cuts inside rows
    (7, 3, 24, 14, 21, 0, "leaky_relu", False),
])
def test_every_cut_and_thread_count_same_bits(simd, case, restore_threads):
    N, C, K, H, W, padding, act, bias = case
    assert _path(N, C, K, H, W, padding) == "winograd-rows"
    x, w, b = _inputs(case, 5)
    packed = F.pack_conv2d_weight(w, 1, padding)
    fastconv.set_num_threads(1)
    one = F.conv2d(x, w, b, 1, padding, activation=act)
    for threads in (2, 3, 4):
        fastconv.set_num_threads(threads)
        for weight in (w, packed):
            got = F.conv2d(x, weight, b, 1, padding, activation=act)
            assert got.tobytes() == one.tobytes(), threads
    # each image as computed alone (runs of images end at different images)
    for i in range(N):
        alone = F.conv2d(x[i:i + 1], w, b, 1, padding, activation=act)
        assert alone.tobytes() == one[i:i + 1].tobytes(), i


@needs_avx512
@pytest.mark.parametrize("simd", ["avx512"], indirect=True)
def test_write_back_bias_and_relu_are_the_separate_passes(simd):
    case = (3, 3, 32, 20, 30, 0, None, True)
    x, w, b = _inputs(case, 8)
    plain = F.conv2d(x, w, None)
    with_bias = F.conv2d(x, w, b)
    assert with_bias.tobytes() == (plain + b[None, :, None, None]).tobytes()
    relu = F.conv2d(x, w, b, activation="relu")
    assert relu.tobytes() == np.maximum(with_bias, 0).tobytes()


@pytest.mark.parametrize("n", [1, 4])
def test_residual_add_and_pooling_fused_after_it_are_the_unfused_steps(n, restore_threads):
    """conv (F(2, 3) rows) -> add of a 1x1 shortcut (the residual in the write-back), and
    conv -> max-pool in one op: the inference program bitwise its steps, 1 and 2 threads."""
    inp = layers.Input((14, 26, 3))
    a = layers.Conv2D(16, 3, padding="same")(inp)
    s = layers.Conv2D(16, 1)(inp)
    y = layers.ReLU()(layers.Add()([a, s]))
    p = layers.MaxPooling2D(2)(layers.Conv2D(24, 3, activation="relu")(y))
    model = models.Model(inp, p, seed=n)
    taken = "winograd-rows" if fastconv.simd_path() == "avx512" else "direct"
    assert _path(n, 3, 16, 14, 26, 1) == _path(n, 16, 24, 14, 26, 0) == taken
    x = np.random.default_rng(n).standard_normal((n, 14, 26, 3)).astype(np.float32)
    _assert_program_bits_as_steps(model._get_plan(), model._internal([x]))
    np.testing.assert_allclose(model.predict(x), model.layer_outputs(x)[-1][1],
                               rtol=1e-5, atol=1e-5)


# (N, C, K, H, W, padding): input gradients whose transposed layer (K channels in, C out,
# rows of W pixels) takes the rows
INPUT_GRADIENT_CASES = [
    (3, 12, 12, 32, 32, 1),
    (2, 8, 16, 20, 30, 0),     # 'valid': the transposed layer pads by 2
    (1, 16, 5, 9, 64, 1),      # one image shared by the team
    (5, 4, 28, 7, 127, 1),     # four vectors of tiles a row, odd width
]


@pytest.mark.parametrize("case", INPUT_GRADIENT_CASES, ids=lambda c: "x".join(map(str, c)))
def test_which_input_gradients_take_the_rows(case, simd_paths, monkeypatch):
    N, C, K, H, W, padding = case
    g = geo.conv2d_geometry((N, C, H, W), (K, C, 3, 3), 1, padding)
    for path in SIMD_PATHS:
        fastconv.set_simd_path(path)
        want = "winograd-rows" if path == "avx512" else "direct"
        assert _conv.conv_path(geo.conv_kernel_args(g), 1, 4) == want, path
        assert _conv.conv_path(geo.conv_kernel_args(g), 1, 8) == "direct"


@needs_avx512
@pytest.mark.parametrize("simd", ["avx512"], indirect=True)
@pytest.mark.parametrize("case", INPUT_GRADIENT_CASES, ids=lambda c: "x".join(map(str, c)))
def test_input_gradient_matches_reference_on_every_cut(simd, case, restore_threads):
    """dx within float32 rounding of the float64 reference (as the forward pass); bitwise
    the same on 1-4 threads (a shared image's parts cut rows); the weight gradient as
    before."""
    N, C, K, H, W, padding = case
    rng = np.random.default_rng(N * 100 + W)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, 3, 3)).astype(np.float32)
    Ho, Wo = H + 2 * padding - 2, W + 2 * padding - 2
    g = rng.standard_normal((N, K, Ho, Wo)).astype(np.float32)
    fastconv.set_num_threads(1)
    one = F.conv2d_backward(g, x, w, 1, padding)
    want = R.conv2d_backward(g.astype(np.float64), x.astype(np.float64),
                             w.astype(np.float64), 1, padding)
    scale = np.abs(want[0]).max()
    assert np.abs(one[0] - want[0]).max() / scale <= 2e-6 * np.sqrt(9 * K)
    np.testing.assert_allclose(one[1], want[1], rtol=1e-4, atol=1e-3)
    for threads in (2, 3, 4):
        fastconv.set_num_threads(threads)
        got = F.conv2d_backward(g, x, w, 1, padding)
        assert got[0].tobytes() == one[0].tobytes(), threads
