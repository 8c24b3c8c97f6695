"""The buffered depthwise kernels (csrc/conv_depthwise.c): every layout they choose.

Stride 1 and 2 without dilation run through a zero-padded flat buffer: several
small planes of one filter stacked per fill (the fill count depends on the plane
size), large planes cut into bands of rows, stride 2 deinterleaved into even and
odd columns, outputs computed flat or row by row, backward-data on the
zero-upsampled gradient with the filter turned. Each is checked against
fastconv.reference on both dtypes and SIMD paths, and the gradients for
bitwise independence of the thread count.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref

from conftest import assert_close

DTYPES = [np.float32, np.float64]


@st.composite
def depthwise_cases(draw):
    C = draw(st.integers(1, 3))
    mult = draw(st.sampled_from([1, 1, 2]))
    R, S = draw(st.sampled_from([(3, 3), (3, 3), (1, 1), (2, 3), (5, 5)]))
    pads = draw(st.sampled_from([0, 1, ((1, 0), (0, 1)), ((0, 2), (2, 1)), ((R - 1, R - 1), (S - 1, 0))]))
    stride = draw(st.sampled_from([1, 2]))
    (pt, pb), (pl, pr) = ((pads, pads), (pads, pads)) if isinstance(pads, int) else pads
    H = max(1, R - pt - pb, draw(st.integers(1, 20)))
    W = max(1, S - pl - pr, draw(st.integers(1, 40)))
    return dict(shape=(draw(st.integers(1, 5)), C, H, W), wshape=(C * mult, 1, R, S),
                stride=stride, padding=pads, bias=draw(st.booleans()))


def _run(dtype, case, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["shape"]).astype(dtype)
    w = rng.standard_normal(case["wshape"]).astype(dtype)
    b = rng.standard_normal(case["wshape"][0]).astype(dtype) if case["bias"] else None
    opts = dict(stride=case["stride"], padding=case["padding"], groups=case["shape"][1])
    y = F.conv2d(x, w, b, **opts)
    g = rng.standard_normal(y.shape).astype(dtype)
    return x, w, b, g, opts, y, F.conv2d_backward(g, x, w, **opts)


def _check(dtype, case):
    x, w, b, g, opts, y, got = _run(dtype, case)
    terms = case["wshape"][2] * case["wshape"][3]
    assert_close(y, ref.conv2d(x, w, b, **opts), dtype, terms, "forward")
    want = ref.conv2d_backward(g, x, w, **opts)
    for a, e, what in zip(got, want, ("grad_x", "grad_weight", "grad_bias")):
        assert_close(a, e, dtype, y.size * terms, what)


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(case=depthwise_cases())
def test_small_and_odd_planes_match_reference(simd, dtype, case):
    _check(dtype, case)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,stride", [
    ((3, 2, 130, 150), 1),   # one plane larger than the buffer: bands of rows
    ((2, 2, 131, 97), 2),    # banded, deinterleaved, odd sizes
    ((2, 1, 1, 700), 1),     # one long row
    ((70, 3, 2, 2), 1),      # many tiny planes: several buffer fills per filter
    ((70, 3, 4, 4), 2),
    ((9, 4, 33, 31), 2),
])
def test_large_and_many_planes_match_reference(simd, dtype, shape, stride):
    _check(dtype, dict(shape=shape, wshape=(shape[1], 1, 3, 3), stride=stride, padding=1,
                       bias=True))


def test_fused_activation_matches_reference():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4, 8, 9)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y = F.conv2d(x, w, b, stride=2, padding=1, groups=4, activation="relu")
    assert (y >= 0).all() and (y == 0).any()
    assert_close(y, ref.relu(ref.conv2d(x, w, b, stride=2, padding=1, groups=4)), np.float32, 9)


# Each job is big enough (> 1 Mflop) that fastconv wakes a second thread.
@pytest.mark.parametrize("shape,stride", [((40, 8, 30, 31), 1), ((48, 6, 33, 35), 2),
                                          ((256, 64, 2, 2), 1), ((6, 2, 140, 150), 2)])
def test_results_do_not_depend_on_thread_count(shape, stride):
    case = dict(shape=shape, wshape=(shape[1], 1, 3, 3), stride=stride, padding=1, bias=True)
    before = fastconv.get_num_threads()
    try:
        runs = []
        for nt in (1, 2, 3):
            fastconv.set_num_threads(nt)
            _, _, _, _, _, y, grads = _run(np.float32, case, seed=7)
            runs.append((y,) + tuple(grads))
    finally:
        fastconv.set_num_threads(before)
    for other in runs[1:]:
        for a, e in zip(runs[0], other):
            np.testing.assert_array_equal(a, e)


# ---------------------------------------------------------------------------
# Small planes (csrc/conv_depthwise_small.c; H * W <= 1024): blocks of 8 channels of one image,
# interleaved so each pixel is one 8-lane vector; channel counts that do not
# fill the last block, every stride-1/2 padding the path takes, both dtypes and
# SIMD paths.

def _small_path(shape, R, S, stride, padding):
    from fastconv import _depthwise, geometry as geo
    g = geo.conv2d_geometry(shape, (shape[1], 1, R, S), stride, padding, 1, groups=shape[1])
    return [_depthwise.depthwise_small_path(geo.conv_kernel_args(g), p) for p in range(3)]


@st.composite
def small_plane_cases(draw):
    C = draw(st.sampled_from([1, 3, 8, 9, 16, 21]))
    R, S = draw(st.sampled_from([(3, 3), (3, 3), (1, 1), (2, 3), (5, 5)]))
    pads = draw(st.sampled_from([0, 1, ((1, 0), (0, 1)), ((0, 2), (2, 1)), ((R - 1, R - 1), (S - 1, 0))]))
    (pt, pb), (pl, pr) = ((pads, pads), (pads, pads)) if isinstance(pads, int) else pads
    H = max(1, R - pt - pb, draw(st.integers(1, 12)))
    W = max(1, S - pl - pr, draw(st.integers(1, 12)))
    return dict(shape=(draw(st.integers(1, 5)), C, H, W), wshape=(C, 1, R, S),
                stride=draw(st.sampled_from([1, 2])), padding=pads, bias=draw(st.booleans()))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(case=small_plane_cases())
def test_channel_blocked_small_planes_match_reference(simd, dtype, case):
    _check(dtype, case)


@pytest.mark.parametrize("shape,stride,taken", [
    ((64, 128, 4, 4), 1, True), ((64, 128, 4, 4), 2, True), ((64, 256, 2, 2), 1, True),
    ((64, 64, 8, 8), 2, True), ((64, 32, 16, 16), 1, True), ((64, 16, 32, 32), 1, True),
    ((8, 16, 33, 32), 1, False), ((8, 16, 64, 64), 2, False),
])
def test_small_plane_path_is_taken_on_mobilenet_shapes(shape, stride, taken):
    assert _small_path(shape, 3, 3, stride, 1) == [taken] * 3


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,stride", [((6, 20, 4, 4), 1), ((5, 11, 7, 5), 2), ((3, 8, 16, 16), 2),
                                          ((4, 9, 2, 2), 1), ((3, 5, 1, 1), 1), ((2, 17, 32, 32), 1),
                                          ((2, 10, 31, 33), 2)])
def test_small_planes_with_bias_and_partial_blocks_match_reference(simd, dtype, shape, stride):
    assert _small_path(shape, 3, 3, stride, 1) == [True] * 3
    _check(dtype, dict(shape=shape, wshape=(shape[1], 1, 3, 3), stride=stride, padding=1, bias=True))


@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_small_planes_fused_activation_matches_reference(simd, act):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 12, 4, 4)).astype(np.float32) * 4
    w = rng.standard_normal((12, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    y = F.conv2d(x, w, b, padding=1, groups=12, activation=act)
    want = ref.conv2d(x, w, b, padding=1, groups=12)
    want = np.maximum(want, 0) if act == "relu" else np.clip(want, 0, 6)
    assert (y == 0).any() and (act == "relu" or (y == 6).any())
    assert_close(y, want, np.float32, 9)


@pytest.mark.parametrize("shape,stride", [((64, 20, 4, 4), 2), ((48, 128, 4, 4), 1),
                                          ((40, 33, 8, 8), 1)])
def test_small_planes_do_not_depend_on_thread_count(shape, stride):
    assert _small_path(shape, 3, 3, stride, 1) == [True] * 3
    case = dict(shape=shape, wshape=(shape[1], 1, 3, 3), stride=stride, padding=1, bias=True)
    before = fastconv.get_num_threads()
    try:
        runs = []
        for nt in (1, 2, 3):
            fastconv.set_num_threads(nt)
            _, _, _, _, _, y, grads = _run(np.float32, case, seed=11)
            runs.append((y,) + tuple(grads))
    finally:
        fastconv.set_num_threads(before)
    for other in runs[1:]:
        for a, e in zip(runs[0], other):
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,stride", [((5, 16, 2, 2), 1), ((3, 24, 1, 3), 1), ((4, 16, 4, 4), 2),
                                          ((2, 8, 3, 2), 1), ((3, 16, 4, 4), 1)])
def test_small_planes_fused_relu_is_the_separate_relu_bitwise(simd, dtype, shape, stride):
    """The small-plane kernel applies ReLU in its registers (and moves planes shorter than
    a vector through a staging copy): the bits of the separate ReLU kernel, NaN and -0
    included."""
    assert _small_path(shape, 3, 3, stride, 1)[0]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape).astype(dtype)
    x.flat[::7] = np.nan
    x.flat[3::11] = -0.0
    w = rng.standard_normal((shape[1], 1, 3, 3)).astype(dtype)
    b = np.zeros(shape[1], dtype)
    b[::3] = -0.0
    fused = F.conv2d(x, w, b, stride=stride, padding=1, groups=shape[1], activation="relu")
    plain = F.relu(F.conv2d(x, w, b, stride=stride, padding=1, groups=shape[1]))
    assert np.isnan(F.conv2d(x, w, b, stride=stride, padding=1, groups=shape[1])).any()
    assert fused.tobytes() == plain.tobytes()
