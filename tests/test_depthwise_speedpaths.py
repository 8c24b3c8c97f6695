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
