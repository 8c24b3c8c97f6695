"""Batches smaller than the thread team (batch 1 at inference): the team shares each image's
forward convolution -- its output pixels, Winograd tile rows, output-pixel tiles of the
channel-vector path or output channels cut into one
part per thread -- and its backward: the input gradient as that forward on the transposed
geometry, the weight gradient of one image in fixed parts of whole filters. Every split must
give bitwise the one-thread result (and the reference's values), for each kind of split, both
dtypes and both SIMD paths.
"""
import contextlib

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as R
from fastconv import _conv, geometry as geo

from conftest import SIMD_PATHS

# (C, K, H, kernel, stride, padding, winograd policy): which split each case exercises
# (each above the one-thread work threshold, ~1 MFLOP, so that the team does split)
CASES = [
    (16, 16, 32, 3, 1, 1, "never"),   # direct path, pixel chunks split (each part fills
                                      # only the bordered rows its chunks read)
    (64, 64, 8, 3, 1, 1, "never"),    # direct path, few pixels: output channels split
    (64, 64, 6, 3, 1, 1, "never"),    # channel-vector path, few tiles: channel panels split
    (32, 64, 15, 3, 1, 0, "never"),   # channel-vector path (13-pixel rows): pixel tiles split
    (32, 48, 13, 3, 1, 1, "never"),   # the same, padded: each part fills only its rows
    (3, 24, 61, 5, 2, 0, "never"),    # strided direct, odd sizes
    (32, 32, 16, 3, 1, 1, "always"),  # Winograd, tile rows split
    (64, 70, 8, 3, 1, 1, "always"),   # Winograd, one row block: output channels split
    (64, 48, 20, 1, 1, 0, "never"),   # 1x1 on the channel-vector path, pixel tiles split
    (32, 32, 23, 1, 1, 0, "never"),   # 1x1 direct, chunks across rows split
    (400, 200, 3, 1, 1, 0, "never"),  # 1x1, few pixels: output channels split
]
CHANNEL_VECTOR_CASES = CASES[2:5]


@contextlib.contextmanager
def _case_paths(wino, simd_path, monkeypatch):
    """A case's Winograd policy ("always" or off) and SIMD path, restored afterwards."""
    if wino == "always":
        monkeypatch.setenv("FASTCONV_WINOGRAD", "always")
    else:
        monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    before = fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        yield
    finally:
        fastconv.set_simd_path(before)


def _run(x, w, b, stride, padding, packed):
    weight = F.pack_conv2d_weight(w, stride, padding) if packed else w
    return F.conv2d(x, weight, b, stride, padding, activation="relu")


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_shared_image_is_bitwise_the_one_thread_result(case, dtype, simd_path, restore_threads,
                                                       monkeypatch):
    C, K, H, k, stride, padding, wino = case
    with _case_paths(wino, simd_path, monkeypatch):
        if case in CHANNEL_VECTOR_CASES:
            g = geo.conv2d_geometry((1, C, H, H), (K, C, k, k), stride, padding)
            assert _conv.conv_path(geo.conv_kernel_args(g), 0, 4) == "channel-vector"
        rng = np.random.default_rng(C * 1000 + K)
        x = rng.standard_normal((1, C, H, H)).astype(dtype)
        w = rng.standard_normal((K, C, k, k)).astype(dtype)
        b = rng.standard_normal(K).astype(dtype)
        fastconv.set_num_threads(1)
        ones = [_run(x, w, b, stride, padding, packed) for packed in (False, True)]
        for threads in (2, 3, 4):
            fastconv.set_num_threads(threads)
            for packed, one in zip((False, True), ones):
                got = _run(x, w, b, stride, padding, packed)
                assert got.tobytes() == one.tobytes(), f"{threads} threads, packed={packed}"
        want = R.relu(R.conv2d(x.astype(np.float64), w.astype(np.float64),
                               b.astype(np.float64), stride, padding))
        tol = 1e-4 if dtype == np.float32 else 1e-10
        np.testing.assert_allclose(ones[0], want, rtol=tol, atol=tol * np.abs(want).max())


@settings(max_examples=25, deadline=None)
@given(C=st.integers(1, 40), K=st.integers(1, 40), H=st.integers(1, 20), W=st.integers(1, 20),
       k=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]), N=st.integers(1, 2),
       threads=st.integers(2, 4))
def test_batch_below_team_size_matches_one_thread(C, K, H, W, k, stride, N, threads):
    """Randomised shapes: batches of 1-2 images with 2-4 threads agree bitwise with one
    thread (whichever split the kernels choose)."""
    rng = np.random.default_rng(C + 41 * K + 1681 * H + W)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = rng.standard_normal((K, C, k, k)).astype(np.float32)
    pad = k // 2
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(1)
        one = F.conv2d(x, w, None, stride, pad)
        fastconv.set_num_threads(threads)
        many = F.conv2d(x, w, None, stride, pad)
    finally:
        fastconv.set_num_threads(before)
    assert many.tobytes() == one.tobytes()


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_single_image_backward_is_bitwise_the_one_thread_result(case, dtype, simd_path,
                                                                restore_threads, monkeypatch):
    C, K, H, k, stride, padding, wino = case
    with _case_paths(wino, simd_path, monkeypatch):
        rng = np.random.default_rng(C * 1000 + K + 7)
        x = rng.standard_normal((1, C, H, H)).astype(dtype)
        w = rng.standard_normal((K, C, k, k)).astype(dtype)
        g = rng.standard_normal(F.conv2d(x, w, None, stride, padding).shape).astype(dtype)
        fastconv.set_num_threads(1)
        one = F.conv2d_backward(g, x, w, stride, padding)
        for threads in (2, 3, 4):
            fastconv.set_num_threads(threads)
            got = F.conv2d_backward(g, x, w, stride, padding)
            for name, a, b in zip(("grad_x", "grad_w", "grad_b"), got, one):
                assert a.tobytes() == b.tobytes(), f"{name}, {threads} threads"
        want = R.conv2d_backward(g.astype(np.float64), x.astype(np.float64),
                                 w.astype(np.float64), stride, padding)
        tol = 1e-4 if dtype == np.float32 else 1e-10
        for a, b in zip(one, want):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(b).max())


@settings(max_examples=25, deadline=None)
@given(C=st.integers(1, 40), K=st.integers(1, 70), H=st.integers(1, 20), W=st.integers(1, 20),
       k=st.sampled_from([1, 3]), stride=st.sampled_from([1, 2]), threads=st.integers(2, 4))
def test_single_image_backward_matches_one_thread(C, K, H, W, k, stride, threads):
    """Randomised shapes: one image's gradients with 2-4 threads agree bitwise with one
    thread, and with the reference."""
    rng = np.random.default_rng(C + 41 * K + 1681 * H + W)
    x = rng.standard_normal((1, C, H, W))
    w = rng.standard_normal((K, C, k, k))
    pad = k // 2
    g = rng.standard_normal(R.conv2d(x, w, None, stride, pad).shape)
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(1)
        one = F.conv2d_backward(g, x, w, stride, pad)
        fastconv.set_num_threads(threads)
        many = F.conv2d_backward(g, x, w, stride, pad)
    finally:
        fastconv.set_num_threads(before)
    for a, b, ref in zip(many, one, R.conv2d_backward(g, x, w, stride, pad)):
        assert a.tobytes() == b.tobytes()
        np.testing.assert_allclose(a, ref, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(ref).max()))
