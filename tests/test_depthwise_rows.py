"""The row-vectorised depthwise kernels (csrc/conv_depthwise_rows.c).

Output rows at least 32 wide, or 8 to 31 wide on planes too large for the
channel-interleaved small-plane path (forward and backward-weight: Wo,
backward-data: W, at stride 1 only), run 8 output pixels of one channel per vector from a
zero-padded plane buffer, stride 2 from even / odd column halves; the weight
gradient keeps one vector accumulator per tap. Checked against
fastconv.reference on both dtypes and SIMD paths, with odd widths (a partial
last vector), every padding the path takes, filters other than 3x3, fused
activations, and for bitwise independence of the thread count.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref
from fastconv import _depthwise, geometry as geo

from conftest import assert_close

DTYPES = [np.float32, np.float64]


def _rows_path(shape, R, S, stride, padding):
    g = geo.conv2d_geometry(shape, (shape[1], 1, R, S), stride, padding, 1, groups=shape[1])
    return [_depthwise.depthwise_rows_path(geo.conv_kernel_args(g), p) for p in range(3)]


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


@st.composite
def row_cases(draw):
    C = draw(st.sampled_from([1, 2, 5]))
    R, S = draw(st.sampled_from([(3, 3), (3, 3), (3, 3), (1, 1), (2, 3), (5, 5)]))
    pads = draw(st.sampled_from([0, 1, ((1, 0), (0, 1)), ((0, 1), (0, 1)), ((0, 2), (2, 1)),
                                 ((R - 1, R - 1), (S - 1, 0))]))
    stride = draw(st.sampled_from([1, 2]))
    (pt, pb), (pl, pr) = ((pads, pads), (pads, pads)) if isinstance(pads, int) else pads
    H = max(1, R - pt - pb, draw(st.integers(1, 40)))
    W = max(1, S - pl - pr, draw(st.integers(8 * stride, 66)))
    return dict(shape=(draw(st.integers(1, 4)), C, H, W), wshape=(C, 1, R, S),
                stride=stride, padding=pads, bias=draw(st.booleans()))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=50, deadline=None)
@given(case=row_cases())
def test_row_kernels_match_reference(simd, dtype, case):
    _check(dtype, case)


@pytest.mark.parametrize("shape,stride,taken", [
    ((64, 16, 32, 32), 1, [True, True, True]), ((64, 32, 32, 32), 2, [False, False, False]),
    ((64, 64, 16, 16), 1, [False, False, False]), ((64, 64, 16, 16), 2, [False, False, False]),
    ((64, 128, 8, 8), 1, [False, False, False]), ((64, 128, 8, 8), 2, [False, False, False]),
    ((4, 8, 70, 16), 1, [True, True, False]), ((4, 8, 130, 16), 2, [True, False, False]),
    ((64, 256, 4, 4), 1, [False, False, False]), ((8, 8, 64, 64), 1, [True, True, False]),
    ((2, 8, 112, 112), 1, [False, False, False]), ((2, 8, 7, 7), 1, [False, False, False]),
    ((2, 8, 15, 66), 2, [True, False, True]), ((2, 8, 31, 33), 1, [True, True, True]),
])
def test_row_path_is_taken_on_mobilenet_shapes(shape, stride, taken):
    assert _rows_path(shape, 3, 3, stride, 1) == taken


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,stride,padding", [
    ((3, 4, 32, 32), 1, 1), ((2, 3, 64, 32), 2, ((0, 1), (0, 1))), ((3, 5, 70, 16), 2, 1),
    ((2, 3, 130, 8), 1, 1), ((2, 3, 80, 13), 1, 1), ((2, 2, 40, 31), 2, 1), ((2, 2, 70, 17), 2, 0),
    ((1, 2, 64, 64), 1, 1), ((2, 3, 130, 8), 1, ((0, 2), (2, 0))), ((2, 2, 40, 35), 2, ((1, 1), (0, 1))),
])
def test_row_kernels_on_fixed_shapes_match_reference(simd, dtype, shape, stride, padding):
    assert _rows_path(shape, 3, 3, stride, padding)[0]
    _check(dtype, dict(shape=shape, wshape=(shape[1], 1, 3, 3), stride=stride, padding=padding,
                       bias=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,stride,padding", [
    ((3, 4, 32, 32), 1, 1), ((2, 3, 30, 34), 1, 1), ((2, 2, 15, 66), 2, 1),
    ((2, 3, 9, 35), 1, ((0, 2), (2, 0))), ((2, 2, 12, 65), 2, 0),
])
def test_row_weight_gradient_matches_reference(simd, dtype, shape, stride, padding):
    assert _rows_path(shape, 3, 3, stride, padding)[2]
    _check(dtype, dict(shape=shape, wshape=(shape[1], 1, 3, 3), stride=stride, padding=padding,
                       bias=True))


@pytest.mark.parametrize("act", ["relu", "relu6"])
@pytest.mark.parametrize("stride", [1, 2])
def test_row_kernels_fused_activation_matches_reference(simd, act, stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 60, 19)).astype(np.float32) * 4
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    assert _rows_path(x.shape, 3, 3, stride, 1)[0]
    y = F.conv2d(x, w, b, stride=stride, padding=1, groups=6, activation=act)
    want = ref.conv2d(x, w, b, stride=stride, padding=1, groups=6)
    want = np.maximum(want, 0) if act == "relu" else np.clip(want, 0, 6)
    assert (y == 0).any() and (act == "relu" or (y == 6).any())
    assert_close(y, want, np.float32, 9)


# Each job is big enough (> 1 Mflop) that fastconv wakes a second and third thread.
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,stride", [((40, 16, 32, 32), 1), ((30, 10, 40, 31), 2),
                                          ((60, 8, 15, 66), 2),
                                          ((12, 16, 70, 16), 1), ((16, 33, 130, 8), 1)])
def test_row_kernels_do_not_depend_on_thread_count(simd, dtype, shape, stride):
    assert _rows_path(shape, 3, 3, stride, 1)[0]
    case = dict(shape=shape, wshape=(shape[1], 1, 3, 3), stride=stride, padding=1, bias=True)
    before = fastconv.get_num_threads()
    try:
        runs = []
        for nt in (1, 2, 3, 1):
            fastconv.set_num_threads(nt)
            _, _, _, _, _, y, grads = _run(dtype, case, seed=7)
            runs.append((y,) + tuple(grads))
    finally:
        fastconv.set_num_threads(before)
    for other in runs[1:]:
        for a, e in zip(runs[0], other):
            np.testing.assert_array_equal(a, e)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "relu6"])
def test_row_kernels_inline_activation_is_bitwise_the_activation_kernel(simd, dtype, act):
    # ReLU / ReLU6 are applied in registers before the store: bitwise the
    # separate activation pass, NaN (relu6 keeps it, relu makes it 0) and -0 included.
    rng = np.random.default_rng(9)
    x = (rng.standard_normal((2, 5, 70, 17)) * 5).astype(dtype)
    x[0, 1, 3, 4] = np.nan
    w = rng.standard_normal((5, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    w[2] = 0
    b[2] = -0.0
    assert _rows_path(x.shape, 3, 3, 1, 1)[0]
    fused = F.conv2d(x, w, b, padding=1, groups=5, activation=act)
    plain = F.conv2d(x, w, b, padding=1, groups=5)
    want = F.relu(plain) if act == "relu" else F.relu6(plain)
    assert np.isnan(want).any() == (act == "relu6")
    np.testing.assert_array_equal(fused.view(np.uint8), want.view(np.uint8))
