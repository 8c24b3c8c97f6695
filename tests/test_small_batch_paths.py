"""Inference-size paths: batch-1 / small-channel convolutions, the matrix-vector kernel of
``linear`` (a few rows) and the prepared-weight objects (``pack_conv2d_weight``,
``pack_linear_weight``).

Each path must match ``fastconv.reference`` within the parity tolerances, give the same
bits through a packed weight as through the plain array, and not depend on the thread
count; both SIMD paths.
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref

from conftest import assert_close

DTYPES = [np.float32, np.float64]


conv_cases = st.fixed_dictionaries({
    "N": st.integers(1, 3), "C": st.integers(1, 4), "K": st.integers(1, 70),
    "H": st.integers(3, 12), "W": st.integers(3, 19), "R": st.sampled_from([1, 2, 3, 5]),
    "stride": st.sampled_from([1, 2]), "padding": st.sampled_from(["valid", "same", 1]),
    "bias": st.booleans(), "act": st.sampled_from([None, "relu"]),
})


def _conv_inputs(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    R = min(case["R"], case["H"], case["W"])
    x = rng.standard_normal((case["N"], case["C"], case["H"], case["W"])).astype(dtype)
    w = rng.standard_normal((case["K"], case["C"], R, R)).astype(dtype)
    b = rng.standard_normal(case["K"]).astype(dtype) if case["bias"] else None
    stride = 1 if case["padding"] == "same" else case["stride"]
    return x, w, b, stride


@pytest.mark.parametrize("dtype", DTYPES)
@given(case=conv_cases)
def test_small_conv_matches_reference_and_packed_gives_same_bits(simd, dtype, case):
    x, w, b, stride = _conv_inputs(case, dtype)
    pad = case["padding"]
    y = F.conv2d(x, w, b, stride=stride, padding=pad, activation=case["act"])
    expected = ref.conv2d(x, w, b, stride=stride, padding=pad)
    if case["act"] == "relu":
        expected = np.maximum(expected, 0)
    assert_close(y, expected, dtype, terms=w[0].size, what=f"conv2d {case}")
    packed = F.pack_conv2d_weight(w, stride=stride, padding=pad)
    for _ in range(2):  # first call packs, the second reuses the packed buffer
        yp = F.conv2d(x, packed, b, stride=stride, padding=pad, activation=case["act"])
        assert yp.dtype == y.dtype and np.array_equal(yp, y), "packed weight changed the bits"


@pytest.mark.parametrize("dtype", DTYPES)
@given(N=st.integers(1, 9), n_in=st.integers(0, 300), n_out=st.integers(1, 130),
       bias=st.booleans())
def test_small_linear_matches_reference_and_packed_gives_same_bits(simd, dtype, N, n_in, n_out,
                                                                   bias):
    rng = np.random.default_rng(N * 1000 + n_in)
    x = rng.standard_normal((N, n_in)).astype(dtype)
    w = rng.standard_normal((n_out, n_in)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype) if bias else None
    y = F.linear(x, w, b)
    assert_close(y, ref.linear(x, w, b), dtype, terms=n_in, what=f"linear {N}x{n_in}->{n_out}")
    yp = F.linear(x, F.pack_linear_weight(w), b)
    assert np.array_equal(yp, y)  # the packed kernel mirrors the GEMM


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_rows_do_not_depend_on_the_batch(simd, dtype):
    """The packed kernel takes rows in fours: a row's bits must not depend on its
    neighbours or on how many rows the call has (inference at any batch size)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 77)).astype(dtype)
    w = rng.standard_normal((19, 77)).astype(dtype)
    b = rng.standard_normal(19).astype(dtype)
    y = F.linear(x, w, b)
    packed = F.pack_linear_weight(w)
    for i in range(5):
        assert np.array_equal(F.linear(x[i:i + 1], w, b), y[i:i + 1])
        assert np.array_equal(F.linear(x[i:i + 1], packed, b), y[i:i + 1])
    assert np.array_equal(F.linear(x, packed, b), y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_out", [1, 16, 40, 64, 150])
def test_single_row_linear_takes_panels_in_groups(simd, dtype, n_out, restore_threads):
    """At batch 1 the packed kernel runs up to four 16-unit panels at once (groups shared
    among the threads, the last panel partial, inputs in several K blocks): every output
    is bitwise the GEMM's, for 1, 2 and 3 threads."""
    rng = np.random.default_rng(n_out)
    x = rng.standard_normal((1, 1500)).astype(dtype)
    w = rng.standard_normal((n_out, 1500)).astype(dtype)
    b = rng.standard_normal(n_out).astype(dtype)
    packed = F.pack_linear_weight(w)
    want = F.linear(x, w, b)
    for threads in (1, 2, 3):
        fastconv.set_num_threads(threads)
        assert np.array_equal(F.linear(x, packed, b), want)
        assert np.array_equal(F.linear(x, packed), F.linear(x, w))


@pytest.mark.parametrize("dtype", DTYPES)
def test_small_paths_bitwise_independent_of_thread_count(simd, dtype, restore_threads):
    rng = np.random.default_rng(7)
    xc = rng.standard_normal((1, 3, 32, 32)).astype(dtype)
    wc = rng.standard_normal((32, 3, 3, 3)).astype(dtype)
    x16 = rng.standard_normal((1, 16, 32, 32)).astype(dtype)
    w16 = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    x64 = rng.standard_normal((2, 64, 8, 8)).astype(dtype)
    w64 = rng.standard_normal((64, 64, 3, 3)).astype(dtype)
    xl = rng.standard_normal((3, 1024)).astype(dtype)
    wl = rng.standard_normal((600, 1024)).astype(dtype)  # big enough to go parallel
    pc, p64 = F.pack_conv2d_weight(wc), F.pack_conv2d_weight(w64, padding=1)
    pl = F.pack_linear_weight(wl)

    def run():
        return [F.conv2d(xc, wc), F.conv2d(xc, pc), F.conv2d(x16, w16, padding=1),
                F.conv2d(x64, w64, padding=1), F.conv2d(x64, p64, padding=1),
                F.linear(xl, wl), F.linear(xl, pl)]

    fastconv.set_num_threads(1)
    one = run()
    fastconv.set_num_threads(2)
    two = run()
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


def test_packed_conv_weight_is_a_snapshot_and_checks_its_options():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)
    packed = F.pack_conv2d_weight(w, padding=1, x_shape=x.shape)
    before = F.conv2d(x, packed, padding=1)
    w *= 2  # in-place update of the original: the packed copy must not see it
    assert np.array_equal(F.conv2d(x, packed, padding=1), before)
    assert np.array_equal(F.conv2d(x, F.pack_conv2d_weight(w, padding=1), padding=1),
                          F.conv2d(x, w, padding=1))
    with pytest.raises(ValueError, match="packed with"):
        F.conv2d(x, packed, padding=0)
    with pytest.raises(TypeError):
        F.conv2d(x.astype(np.float64), packed, padding=1)
    with pytest.raises(ValueError):
        F.conv2d(x[:, :1], packed, padding=1)  # wrong channel count


def test_packed_conv_weight_serves_other_batch_sizes_and_groups():
    rng = np.random.default_rng(6)
    w = rng.standard_normal((64, 64, 3, 3)).astype(np.float32)
    packed = F.pack_conv2d_weight(w, padding=1)
    for n in (1, 4, 1):
        x = rng.standard_normal((n, 64, 6, 6)).astype(np.float32)
        assert np.array_equal(F.conv2d(x, packed, padding=1), F.conv2d(x, w, padding=1))
    wg = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    xg = rng.standard_normal((2, 6, 7, 7)).astype(np.float32)
    pg = F.pack_conv2d_weight(wg, groups=3)
    assert np.array_equal(F.conv2d(xg, pg, groups=3), F.conv2d(xg, wg, groups=3))


def test_packed_linear_weight_is_a_snapshot():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 10)).astype(np.float64)
    w = rng.standard_normal((3, 10))
    packed = F.pack_linear_weight(w)
    before = F.linear(x, packed)
    w[:] = 0
    assert np.array_equal(F.linear(x, packed), before)
    with pytest.raises(TypeError):
        F.linear(x.astype(np.float32), packed)
    with pytest.raises(ValueError):
        F.linear(x[:, :5], packed)
