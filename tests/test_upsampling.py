"""interpolate / interpolate_backward (nearest, bilinear): functional against reference
(both dtypes, both SIMD paths, randomised sizes and scales), reference against
torch.nn.functional.interpolate (float64, forward and backward), finite differences,
thread-count independence of the backward.
"""
import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref

from conftest import assert_close

DTYPES = [np.float32, np.float64]


@st.composite
def cases(draw):
    """A shape, an output spec (size, or an int / float / pair scale) and a mode."""
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    mode = draw(st.sampled_from(["nearest", "bilinear"]))
    align = None if mode == "nearest" else draw(st.sampled_from([None, False, True]))
    kind = draw(st.sampled_from(["size", "size-pair", "int", "float", "pair"]))
    H, W = shape[2:]
    if kind == "size":
        spec = dict(size=draw(st.integers(1, 12)))
    elif kind == "size-pair":
        spec = dict(size=(draw(st.integers(1, 12)), draw(st.integers(1, 12))))
    else:
        # floats that keep the output non-empty: at least 1/H (1/W) of the way
        scale = st.one_of(st.integers(1, 4), st.sampled_from([0.5, 0.75, 1.3, 1.5, 2.25, 2.7, 3.9]))
        if kind == "int":
            spec = dict(scale_factor=draw(st.integers(1, 4)))
        elif kind == "float":
            s = draw(scale)
            spec = dict(scale_factor=s if min(H, W) * s >= 1 else 1.5)
        else:
            sh, sw = draw(scale), draw(scale)
            spec = dict(scale_factor=(sh if H * sh >= 1 else 2, sw if W * sw >= 1 else 2))
    return shape, dict(spec, mode=mode, align_corners=align)


# Fixed examples, so each rule is exercised whatever hypothesis draws: a non-integer scale
# placing the sources, sizes that neither match nor double, corners aligned, shrinking.
EXAMPLES = [
    ((2, 3, 5, 4), dict(scale_factor=1.7, mode="bilinear", align_corners=None)),
    ((1, 2, 7, 3), dict(scale_factor=(2.7, 0.75), mode="nearest", align_corners=None)),
    ((1, 2, 7, 3), dict(size=(9, 11), mode="nearest", align_corners=None)),
    ((2, 1, 4, 6), dict(size=(11, 5), mode="bilinear", align_corners=True)),
    ((1, 1, 9, 12), dict(size=(4, 5), mode="bilinear", align_corners=False)),
]


def _with_examples(test):
    for case in EXAMPLES:
        test = example(case=case, seed=0)(test)
    return test


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40)
@given(case=cases(), seed=st.integers(0, 2 ** 16))
@_with_examples
def test_matches_reference(simd, dtype, case, seed):
    shape, kw = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    y = F.interpolate(x, **kw)
    assert_close(y, ref.interpolate(x, **kw), dtype, 4, f"interpolate {kw}")
    assert y.flags.c_contiguous
    g = rng.standard_normal(y.shape).astype(dtype)
    # a plane pixel receives at most ceil(out / in)^2 * 4 contributions
    terms = 4 * (-(-y.shape[2] // shape[2])) * (-(-y.shape[3] // shape[3]))
    assert_close(F.interpolate_backward(g, x, **kw), ref.interpolate_backward(g, x, **kw), dtype,
                 terms, f"interpolate_backward {kw}")


@settings(max_examples=60)
@given(case=cases(), seed=st.integers(0, 2 ** 16))
@_with_examples
def test_reference_matches_torch(case, seed):
    torch = pytest.importorskip("torch")
    shape, kw = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, **kw)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(ref.interpolate(x, **kw), yt.detach().numpy(), rtol=1e-12,
                               atol=1e-13, err_msg=str(kw))
    np.testing.assert_allclose(ref.interpolate_backward(g, x, **kw), xt.grad.numpy(), rtol=1e-12,
                               atol=1e-12, err_msg=str(kw))


@pytest.mark.parametrize("H,out", [(7, 9), (5, 13), (3, 10), (10, 3), (9, 7), (6, 12), (4, 4)])
def test_nearest_float32_indices_match_torch(H, out):
    """PyTorch picks nearest pixels with single-precision index arithmetic even for
    float64; the functional op must pick the same pixels, both dtypes."""
    torch = pytest.importorskip("torch")
    x = np.arange(H * H, dtype=np.float64).reshape(1, 1, H, H)
    for spec in (dict(size=out), dict(scale_factor=out / H)):
        expected = torch.nn.functional.interpolate(torch.tensor(x), **spec).numpy()
        for dtype in DTYPES:
            np.testing.assert_array_equal(F.interpolate(x.astype(dtype), **spec), expected,
                                          err_msg=str(spec))


def test_scale_factor_places_sources_like_torch():
    """With a scale factor the positions use the scale itself, not in/out: 5 * 1.7 -> 8
    rows, sources at (o + 0.5) / 1.7 - 0.5, not at (o + 0.5) * 5/8 - 0.5."""
    x = np.arange(5.0).reshape(1, 1, 5, 1)
    y = F.interpolate(x, scale_factor=(1.7, 1), mode="bilinear")[0, 0, :, 0]
    o = np.arange(8)
    np.testing.assert_allclose(y, np.clip((o + 0.5) / 1.7 - 0.5, 0, 4), rtol=1e-12)
    # and a scale that rounds back to the input size copies
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 3))
    for mode in ("nearest", "bilinear"):
        assert F.interpolate(x, scale_factor=1.2, mode=mode).tobytes() == x.tobytes()


@pytest.mark.parametrize("mode,align", [("nearest", None), ("bilinear", False), ("bilinear", True)])
def test_backward_matches_finite_differences(mode, align):
    """Directional derivative of <g, interpolate(x)> along v, float64, against
    <interpolate_backward(g), v> (the map is linear: the difference quotient is exact up
    to rounding)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 5, 7))
    v = rng.standard_normal(x.shape)
    kw = dict(scale_factor=(2.3, 1.6), mode=mode, align_corners=align)
    g = rng.standard_normal(F.interpolate(x, **kw).shape)
    h = 1e-3
    numeric = (np.vdot(g, F.interpolate(x + h * v, **kw)) -
               np.vdot(g, F.interpolate(x - h * v, **kw))) / (2 * h)
    np.testing.assert_allclose(np.vdot(F.interpolate_backward(g, x, **kw), v), numeric, rtol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_is_bitwise_thread_count_independent(dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 8, 33, 30)).astype(dtype)
    before = fastconv.get_num_threads()
    try:
        out = []
        for nt in (1, 2, 3):
            fastconv.set_num_threads(nt)
            for kw in (dict(scale_factor=2.5, mode="bilinear"), dict(size=(70, 41)),
                       dict(size=(70, 41), mode="bilinear", align_corners=True)):
                y = F.interpolate(x, **kw)
                out.append((nt, y, F.interpolate_backward(np.cos(y), x, **kw)))
    finally:
        fastconv.set_num_threads(before)
    first = [o for o in out if o[0] == 1]
    for nt in (2, 3):
        for a, b in zip(first, [o for o in out if o[0] == nt]):
            assert a[1].tobytes() == b[1].tobytes() and a[2].tobytes() == b[2].tobytes()


def test_awkward_but_valid_input():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 6, 8)).astype(np.float32)
    strided = x[:, :, ::2, ::2]
    assert_close(F.interpolate(strided, scale_factor=2, mode="bilinear"),
                 ref.interpolate(strided, scale_factor=2, mode="bilinear"), np.float32, 4)
    frozen = x.copy()
    frozen.setflags(write=False)  # read-only input (np.load(mmap_mode='r')) is valid
    y = F.interpolate(frozen, size=(5, 9), mode="bilinear")
    gy = F.interpolate(frozen, size=(5, 9), mode="bilinear")
    gy.setflags(write=False)
    assert_close(F.interpolate_backward(gy, frozen, size=(5, 9), mode="bilinear"),
                 ref.interpolate_backward(y, x, size=(5, 9), mode="bilinear"), np.float32, 16)
    empty = np.zeros((0, 3, 4, 4))
    assert F.interpolate(empty, size=7).shape == (0, 3, 7, 7)
    assert F.interpolate_backward(np.zeros((0, 3, 7, 7)), empty, size=7).shape == (0, 3, 4, 4)
    one = np.full((1, 1, 1, 1), 2.5)
    np.testing.assert_array_equal(F.interpolate(one, size=(3, 2), mode="bilinear"),
                                  np.full((1, 1, 3, 2), 2.5))
    np.testing.assert_array_equal(F.interpolate_backward(np.ones((1, 1, 3, 2)), one, size=(3, 2),
                                                         mode="bilinear"), [[[[6.0]]]])
