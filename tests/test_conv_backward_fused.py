"""The convolution's two gradients in one pass over runs of images (_conv.backward_weight
with the weights and grad_x): bitwise the weight, bias and input gradients of the two
separate passes, over randomised geometries, batches, thread counts, dtypes and SIMD
paths, with and without an addend; and conv2d_backward still matches the reference."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref
from fastconv import geometry, _conv
from fastconv.functional.conv import _backward_weight, _backward_data

from conftest import assert_close

DTYPES = [np.float32, np.float64]


@st.composite
def backward_cases(draw):
    R = draw(st.sampled_from([1, 1, 3, 3, 5]))
    H = draw(st.integers(R, 20))
    stride = draw(st.sampled_from([1, 1, 2]))
    return dict(N=draw(st.sampled_from([1, 2, 3, 5, 8, 9, 16, 20])),
                C=draw(st.integers(1, 40)), K=draw(st.integers(1, 40)), H=H,
                W=draw(st.integers(R, 20)), R=R, stride=stride,
                padding=draw(st.sampled_from([0, R // 2])), bias=draw(st.booleans()),
                addend=draw(st.booleans()), threads=draw(st.sampled_from([1, 2, 3])))


def _both_ways(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    N, C, K, R = case["N"], case["C"], case["K"], case["R"]
    x = rng.standard_normal((N, C, case["H"], case["W"])).astype(dtype)
    w = rng.standard_normal((K, C, R, R)).astype(dtype)
    g = geometry.conv2d_geometry(x.shape, w.shape, case["stride"], case["padding"], 1)
    dy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(dtype)
    addend = rng.standard_normal(x.shape).astype(dtype) if case["addend"] else None
    outs = []
    for fused in (False, True):
        gw, gx = np.full_like(w, np.nan), np.full_like(x, np.nan)
        gb = np.full(K, np.nan, dtype) if case["bias"] else None
        if fused:
            done = _conv.backward_weight(x, dy, geometry.conv_kernel_args(g), gw, gb,
                                         fastconv.get_num_threads(), w, gx, addend)
            if not done:
                _backward_data(dy, w, g, 1, gx, None, addend)
        else:
            _backward_weight(x, dy, g, 1, gw, gb)
            _backward_data(dy, w, g, 1, gx, None, addend)
        outs.append((gw, gb, gx))
    return outs


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(case=backward_cases())
def test_fused_pass_gives_the_separate_passes_bits(simd, restore_threads, dtype, case):
    fastconv.set_num_threads(case["threads"])
    (gw0, gb0, gx0), (gw1, gb1, gx1) = _both_ways(case, dtype)
    np.testing.assert_array_equal(gw1, gw0)
    np.testing.assert_array_equal(gx1, gx0)
    if case["bias"]:
        np.testing.assert_array_equal(gb1, gb0)


@pytest.mark.parametrize("shape", [(64, 64, 16, 16, 128, 1, 1, 0), (16, 16, 32, 32, 16, 3, 1, 1),
                                   (16, 32, 16, 16, 32, 3, 1, 1), (9, 8, 11, 11, 16, 3, 2, 0)])
def test_fused_pass_runs_on_the_training_layers(restore_threads, shape):
    """The layers it is for take it (so the bitwise test above compares something)."""
    N, C, H, W, K, R, S, P = shape
    g = geometry.conv2d_geometry((N, C, H, W), (K, C, R, R), S, P, 1)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, R, R)).astype(np.float32)
    dy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(np.float32)
    fastconv.set_num_threads(2)
    assert _conv.backward_weight(x, dy, geometry.conv_kernel_args(g), np.empty_like(w), None, 2,
                                 w, np.empty_like(x))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_backward_matches_reference(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((12, 6, 9, 9)).astype(dtype)
    w = rng.standard_normal((10, 6, 3, 3)).astype(dtype)
    dy = rng.standard_normal((12, 10, 9, 9)).astype(dtype)
    got = F.conv2d_backward(dy, x, w, padding=1)
    want = ref.conv2d_backward(dy, x, w, padding=1)
    for a, b in zip(got, want):
        assert_close(a, b, dtype)
