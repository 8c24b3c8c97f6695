"""Hypothesis searches the corners of the geometry space for out-of-bounds reads and
parity breaks: small images, kernels as large as the padded input, strides larger than
the kernel, dilation, padding at its maximum, ceil_mode's partial edge windows.

Every input array is a C-contiguous slab cut out of a larger buffer whose other elements
are NaN (``_guarded``), so a kernel that reads one element before or after its input
turns its result into NaN and the comparison with fastconv.reference fails even without
a sanitizer; under tools/sanitize.sh the same search runs with AddressSanitizer, each
input in an allocation of its own (red zones on both sides).
Both dtypes, both SIMD paths (when the CPU has AVX2), forward and backward.
"""
import os

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref

from conftest import SIMD_PATHS, assert_close

DTYPES = [np.float32, np.float64]


SANITIZED = os.environ.get("FASTCONV_SANITIZED_RUN") == "1"


def _guarded(a, pad=64):
    """A copy of ``a`` that is a C-contiguous view into a NaN-filled buffer, with ``pad``
    NaN elements on either side. Under the sanitizer run, a copy in an allocation of its
    own instead, so that AddressSanitizer's red zones border it."""
    if SANITIZED:
        return np.array(a, copy=True, order="C")
    buf = np.full(a.size + 2 * pad, np.nan, dtype=a.dtype)
    view = buf[pad:pad + a.size].reshape(a.shape)
    view[...] = a
    assert view.flags.c_contiguous and not view.flags.owndata
    return view


class _simd_path:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        self.before = fastconv.simd_path()
        fastconv.set_simd_path(self.name)

    def __exit__(self, *exc):
        fastconv.set_simd_path(self.before)


@st.composite
def conv_corner_cases(draw):
    N = draw(st.integers(1, 3))
    C = draw(st.integers(1, 4))
    K = draw(st.integers(1, 9))
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    dh, dw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(["explicit", "max-padding", "same", "valid"]))
    if mode == "same":
        stride = 1
        R, S = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        padding = "same"
    else:
        stride = (draw(st.integers(1, 7)), draw(st.integers(1, 7)))  # often > kernel
        if mode == "valid":
            ph = pw = 0
            padding = "valid"
        elif mode == "max-padding":  # padding as large as the kernel span allows usefully
            ph, pw = draw(st.integers(0, 4)), draw(st.integers(0, 4))
            padding = (ph, pw)
        else:
            ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
            padding = (ph, pw)
        # Kernels up to the whole padded input (the largest legal span).
        R = draw(st.integers(1, max(1, (H + 2 * ph - 1) // dh + 1)))
        S = draw(st.integers(1, max(1, (W + 2 * pw - 1) // dw + 1)))
    return dict(shape=(N, C, H, W), wshape=(K, C, R, S), stride=stride, padding=padding,
                dilation=(dh, dw), bias=draw(st.booleans()),
                activation=draw(st.sampled_from([None, None, "relu", "tanh"])))


@settings(max_examples=120)
@given(case=conv_corner_cases(), dtype=st.sampled_from(DTYPES), simd=st.sampled_from(SIMD_PATHS),
       seed=st.integers(0, 3))
def test_conv2d_corners_match_reference(case, dtype, simd, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case["shape"]).astype(dtype)
    w = rng.standard_normal(case["wshape"]).astype(dtype)
    b = rng.standard_normal(case["wshape"][0]).astype(dtype) if case["bias"] else None
    opts = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"])
    try:
        y_ref = ref.conv2d(x, w, b, **opts)
    except ValueError:  # an illegal geometry: fastconv must refuse it too
        with pytest.raises(ValueError):
            F.conv2d(x, w, b, **opts)
        return
    terms = int(np.prod(case["wshape"][1:]))
    act = case["activation"]
    with _simd_path(simd):
        y = F.conv2d(_guarded(x), _guarded(w), None if b is None else _guarded(b), **opts,
                     activation=act)
        want = y_ref if act is None else getattr(ref, act)(y_ref)
        assert_close(y, want, dtype, terms, f"conv2d forward {case}")
        g = rng.standard_normal(y.shape).astype(dtype)
        gx, gw, gb = F.conv2d_backward(_guarded(g), _guarded(x), _guarded(w), **opts)
    gx_ref, gw_ref, gb_ref = ref.conv2d_backward(g, x, w, **opts)
    assert_close(gx, gx_ref, dtype, case["wshape"][0] * terms, f"conv2d grad_x {case}")
    assert_close(gw, gw_ref, dtype, y.size, f"conv2d grad_weight {case}")
    assert_close(gb, gb_ref, dtype, y.size, f"conv2d grad_bias {case}")


@st.composite
def pool_corner_cases(draw):
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    ph = draw(st.sampled_from([0, kh // 2]))  # none, or the most allowed
    pw = draw(st.sampled_from([0, kw // 2]))
    stride = draw(st.one_of(st.none(), st.tuples(st.integers(1, 8), st.integers(1, 8))))
    H = max(1, kh - 2 * ph + draw(st.integers(0, 5)))
    W = max(1, kw - 2 * pw + draw(st.integers(0, 5)))
    return dict(shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), H, W),
                kernel_size=(kh, kw), stride=stride, padding=(ph, pw),
                ceil_mode=draw(st.booleans()))


@settings(max_examples=60)
@given(case=pool_corner_cases(), dtype=st.sampled_from(DTYPES),
       count_include_pad=st.booleans(), ties=st.booleans())
def test_pooling_corners_match_reference(case, dtype, count_include_pad, ties):
    rng = np.random.default_rng(1)
    if ties:
        x = rng.integers(-1, 2, case["shape"]).astype(dtype)
    else:
        x = rng.standard_normal(case["shape"]).astype(dtype)
    opts = {k: case[k] for k in ("kernel_size", "stride", "padding", "ceil_mode")}
    y = F.max_pool2d(_guarded(x), **opts)
    assert_close(y, ref.max_pool2d(x, **opts), dtype, 1, f"max_pool2d {case}")
    g = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.max_pool2d_backward(_guarded(g), _guarded(x), **opts),
                 ref.max_pool2d_backward(g, x, **opts), dtype, 36, f"max_pool2d_backward {case}")
    aopts = dict(opts, count_include_pad=count_include_pad)
    ya = F.avg_pool2d(_guarded(x), **aopts)
    assert_close(ya, ref.avg_pool2d(x, **aopts), dtype, 36, f"avg_pool2d {case}")
    assert_close(F.avg_pool2d_backward(_guarded(g), _guarded(x), **aopts),
                 ref.avg_pool2d_backward(g, x, **aopts), dtype, 36, f"avg_pool2d_backward {case}")


@settings(max_examples=60)
@given(N=st.integers(1, 20), fin=st.integers(1, 40), fout=st.integers(1, 20),
       dtype=st.sampled_from(DTYPES), simd=st.sampled_from(SIMD_PATHS), bias=st.booleans())
def test_linear_edges_match_reference(N, fin, fout, dtype, simd, bias):
    """GEMM edge tiles (m, n, k not multiples of the register tile) read nothing outside."""
    rng = np.random.default_rng(N * 100 + fin)
    x = rng.standard_normal((N, fin)).astype(dtype)
    w = rng.standard_normal((fout, fin)).astype(dtype)
    b = rng.standard_normal(fout).astype(dtype) if bias else None
    g = rng.standard_normal((N, fout)).astype(dtype)
    with _simd_path(simd):
        y = F.linear(_guarded(x), _guarded(w), None if b is None else _guarded(b))
        grads = F.linear_backward(_guarded(g), _guarded(x), _guarded(w))
    assert_close(y, ref.linear(x, w, b), dtype, fin, "linear")
    for got, want, terms in zip(grads, ref.linear_backward(g, x, w), (fout, N, N)):
        assert_close(got, want, dtype, terms, "linear_backward")


@settings(max_examples=40)
@given(N=st.integers(1, 3), groups=st.integers(1, 3), pieces=st.integers(1, 4),
       spatial=st.sampled_from([(), (1,), (3,), (2, 3)]), dtype=st.sampled_from(DTYPES),
       size=st.integers(1, 9))
def test_maxout_and_activations_edges(N, groups, pieces, spatial, dtype, size):
    rng = np.random.default_rng(size)
    x = rng.standard_normal((N, groups * pieces) + spatial).astype(dtype)
    y = F.maxout(_guarded(x), pieces)
    assert_close(y, ref.maxout(x, pieces), dtype, 1, "maxout")
    g = rng.standard_normal(y.shape).astype(dtype)
    assert_close(F.maxout_backward(_guarded(g), _guarded(x), pieces),
                 ref.maxout_backward(g, x, pieces), dtype, 1, "maxout_backward")
    v = rng.standard_normal(size).astype(dtype)
    gv = rng.standard_normal(size).astype(dtype)
    for name in ("relu", "leaky_relu", "sigmoid", "tanh", "elu"):
        assert_close(getattr(F, name)(_guarded(v)), getattr(ref, name)(v), dtype, 1, name)
        assert_close(getattr(F, name + "_backward")(_guarded(gv), _guarded(v)),
                     getattr(ref, name + "_backward")(gv, v), dtype, 1, name + "_backward")


@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_inputs_propagate_like_the_reference(dtype):
    """A NaN counts as the maximum (the first NaN wins) in max pooling and maxout alike,
    forward and backward, as in the reference (NumPy's max/argmax) and PyTorch."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 6, 5, 5)).astype(dtype)
    x[0, 1, 2, 3] = np.nan
    x[1, 4, 0, 0] = np.nan
    x[1, 5, 0, 0] = np.nan
    for pieces in (2, 3):
        y = F.maxout(x, pieces)
        np.testing.assert_array_equal(y, ref.maxout(x, pieces))
        g = rng.standard_normal(y.shape).astype(dtype)
        np.testing.assert_array_equal(F.maxout_backward(g, x, pieces),
                                      ref.maxout_backward(g, x, pieces))
    for opts in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1, ceil_mode=True)):
        y = F.max_pool2d(x, **opts)
        np.testing.assert_array_equal(y, ref.max_pool2d(x, **opts))
        g = rng.standard_normal(y.shape).astype(dtype)
        # overlapping windows sum gradients, in another order than the reference
        assert_close(F.max_pool2d_backward(g, x, **opts), ref.max_pool2d_backward(g, x, **opts),
                     dtype, 9, "max_pool2d_backward with NaN")
