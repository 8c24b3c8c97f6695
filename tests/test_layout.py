"""The layout change at a model's edges (fastconv/layout.py): channels-last batches in and
out, NCHW inside. Large float batches go through the tiled, threaded C transpose
(fc_transpose_images), the rest through NumPy; either way the result is exactly the
NumPy transpose, a fresh C-contiguous array, and the input is untouched."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import _program
from fastconv.layout import to_internal, to_public

shapes = st.tuples(st.integers(1, 4), st.integers(1, 40), st.integers(1, 40),
                   st.integers(1, 70))


@pytest.fixture
def restore_threads():
    before = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(before)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=60, deadline=None)
@given(shape=shapes, threads=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_round_trip_is_the_numpy_transpose(dtype, shape, threads, seed, restore_threads):
    fastconv.set_num_threads(threads)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)   # (N, H, W, C)
    before = x.copy()
    inside = to_internal(x)
    assert inside.flags.c_contiguous and inside.dtype == dtype
    assert np.array_equal(inside, x.transpose(0, 3, 1, 2))
    back = to_public(inside)
    assert back.flags.c_contiguous and np.array_equal(back, x)
    assert np.array_equal(x, before)


@pytest.mark.parametrize("shape", [(64, 32, 32, 64), (3, 32, 32, 16), (8, 30, 30, 3),
                                   (4, 16, 16, 256), (1, 64, 64, 32)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_batches_take_the_c_transpose_and_match(shape, dtype, monkeypatch):
    calls = []
    real = _program.transpose_images
    monkeypatch.setattr(_program, "transpose_images",
                        lambda *a: calls.append(a[2:4]) or real(*a))
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    inside = to_internal(x)
    back = to_public(inside)
    n, h, w, c = shape
    assert calls == [(h * w, c), (c, h * w)]
    assert np.array_equal(inside, x.transpose(0, 3, 1, 2)) and np.array_equal(back, x)


def test_casts_views_and_other_ranks_keep_the_numpy_path():
    x = np.arange(2 * 40 * 40 * 8, dtype=np.float64).reshape(2, 40, 40, 8)
    got = to_internal(x, np.float32)                      # a cast
    assert got.dtype == np.float32 and np.array_equal(got, x.transpose(0, 3, 1, 2))
    view = x[:, ::2]                                      # not contiguous
    assert np.array_equal(to_internal(view), view.transpose(0, 3, 1, 2))
    ints = np.arange(2 * 40 * 40 * 8).reshape(2, 40, 40, 8)
    assert np.array_equal(to_internal(ints), ints.transpose(0, 3, 1, 2))
    flat = np.ones((5, 7), np.float32)
    assert to_public(flat) is flat


def test_transpose_images_rejects_bad_arguments():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(TypeError, match="float32/float64"):
        _program.transpose_images(x, np.zeros((2, 4, 3), np.float64), 3, 4, 1)
    with pytest.raises(TypeError, match="float32/float64"):
        _program.transpose_images(x.astype(np.int32), np.zeros((2, 4, 3), np.int32), 3, 4, 1)
    with pytest.raises(ValueError, match="elements"):
        _program.transpose_images(x, np.zeros((2, 4, 2), np.float32), 3, 4, 1)
    with pytest.raises(ValueError, match="elements"):
        _program.transpose_images(x, np.zeros((2, 4, 3), np.float32), 5, 4, 1)
    with pytest.raises(ValueError, match="elements"):
        _program.transpose_images(x, np.zeros((2, 4, 3), np.float32), 0, 4, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _program.transpose_images(x, np.zeros((2, 3, 4), np.float32).transpose(0, 2, 1), 3, 4, 1)
    ro = np.zeros((2, 4, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        _program.transpose_images(x, ro, 3, 4, 1)
