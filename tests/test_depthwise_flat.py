"""The AVX-512 flat-plane depthwise kernels (csrc/conv_depthwise_flat.c): stride 1 with
an output the input's size, every tap a masked load at a fixed offset from the output's
flat index, or a lane shift of vectors already in registers (3x3 with padding 1 on planes
narrower than a vector, and 2x2 planes packed several channels to a vector); the
stride-2 3x3 forward with padding 1 on even planes, the stride-1 result at even rows and
columns compressed by lane permutes, and its input gradient from dy's rows and their
shifts, interleaved.

They sum every output as the AVX2 kernels do -- bias, then the taps in order, each a fused
multiply-add -- so forward and input gradient are checked bitwise against the AVX2 path,
and against fastconv.reference on every shape family: row-vector planes (W a multiple of
the vector), planes of 1-4 vectors, packed planes, odd sizes through the mask table,
uneven padding, 5x5 filters, fused activations, partial channel blocks."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import _depthwise, functional as F, geometry as geo
from fastconv import reference as ref

from conftest import assert_close

pytestmark = pytest.mark.skipif(not fastconv.get_config_info()["cpu_avx512"],
                                reason="the CPU has no AVX-512")

DTYPES = [np.float32, np.float64]
# planes of every family for float (16 lanes) and double (8 lanes)
PLANES = [(32, 32), (16, 16), (8, 8), (4, 4), (2, 2), (1, 1), (1, 2), (2, 4), (4, 8),
          (7, 7), (14, 14), (9, 31), (3, 5), (64, 48), (2, 16), (1, 16)]


def _flat_path(shape, R, S, padding, pass_, dtype=np.float32):
    g = geo.conv2d_geometry(shape, (shape[1], 1, R, S), 1, padding, 1, groups=shape[1])
    return _depthwise.depthwise_flat_path(geo.conv_kernel_args(g), pass_, np.dtype(dtype).itemsize)


def _on_path(path, fn):
    before = fastconv.simd_path()
    try:
        assert fastconv.set_simd_path(path).startswith(path)
        return fn()
    finally:
        fastconv.set_simd_path(before)


@st.composite
def same_cases(draw):
    H, W = draw(st.sampled_from(PLANES))
    R, S = draw(st.sampled_from([(3, 3), (3, 3), (3, 3), (5, 5), (1, 1), (3, 1), (2, 3)]))
    pt, pl = draw(st.integers(0, R - 1)), draw(st.integers(0, S - 1))
    if draw(st.booleans()) and R % 2 and S % 2:
        pt, pl = R // 2, S // 2
    padding = ((pt, R - 1 - pt), (pl, S - 1 - pl))
    return dict(shape=(draw(st.integers(1, 5)), draw(st.integers(1, 37)), H, W), R=R, S=S,
                padding=padding, bias=draw(st.booleans()),
                act=draw(st.sampled_from([None, "relu", "relu6", "sigmoid"])))


def _run(dtype, case, seed):
    rng = np.random.default_rng(seed)
    N, C, H, W = case["shape"]
    x = rng.standard_normal(case["shape"]).astype(dtype)
    w = rng.standard_normal((C, 1, case["R"], case["S"])).astype(dtype)
    b = rng.standard_normal(C).astype(dtype) if case["bias"] else None
    g = rng.standard_normal(case["shape"]).astype(dtype)
    opts = dict(stride=1, padding=case["padding"], groups=C)

    def run():
        y = F.conv2d(x, w, b, activation=case["act"], **opts)
        return y, F.conv2d_backward(g, x, w, **opts)[0]
    return x, w, b, g, opts, run


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=60, deadline=None)
@given(case=same_cases(), seed=st.integers(0, 2 ** 31 - 1))
def test_flat_kernels_give_the_avx2_bits(dtype, case, seed):
    assert _flat_path(case["shape"], case["R"], case["S"], case["padding"], 0, dtype) == \
        _flat_path(case["shape"], case["R"], case["S"], case["padding"], 1, dtype)
    *_, run = _run(dtype, case, seed)
    y5, dx5 = _on_path("avx512", run)
    y2, dx2 = _on_path("avx2", run)
    assert y5.tobytes() == y2.tobytes(), f"forward differs by {np.abs(y5 - y2).max()}"
    assert dx5.tobytes() == dx2.tobytes(), f"input gradient differs by {np.abs(dx5 - dx2).max()}"


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, deadline=None)
@given(case=same_cases(), seed=st.integers(0, 2 ** 31 - 1))
def test_flat_kernels_match_reference(dtype, case, seed):
    x, w, b, g, opts, run = _run(dtype, case, seed)
    y, dx = _on_path("avx512", run)
    want = ref.conv2d(x, w, b, **opts)
    if case["act"] is not None:
        want = getattr(ref, case["act"])(want)
    terms = case["R"] * case["S"]
    assert_close(y, want, dtype, terms, "forward")
    assert_close(dx, ref.conv2d_backward(g, x, w, **opts)[0], dtype, terms, "grad_x")


@pytest.mark.parametrize("shape,R,padding,taken", [
    ((64, 16, 32, 32), 3, 1, True), ((64, 64, 16, 16), 3, 1, True), ((64, 128, 8, 8), 3, 1, True),
    ((64, 256, 4, 4), 3, 1, True), ((64, 512, 2, 2), 3, 1, True), ((1, 8, 7, 7), 5, 2, True),
    ((2, 8, 3, 3), 3, 1, False),     # 9 pixels: neither a vector's multiple nor its divisor
    ((2, 8, 70, 70), 3, 1, False),   # past 4096 pixels
    ((2, 8, 16, 16), 3, 0, False),   # 'valid': the output is smaller
])
def test_flat_path_is_taken_on_same_size_planes(shape, R, padding, taken):
    before = fastconv.simd_path()
    try:
        fastconv.set_simd_path("avx512")
        assert _flat_path(shape, R, R, padding, 0) == taken
        assert _flat_path(shape, R, R, padding, 1) == taken
        fastconv.set_simd_path("avx2")
        assert not _flat_path(shape, R, R, padding, 0)
    finally:
        fastconv.set_simd_path(before)


@pytest.mark.parametrize("shape", [(5, 16, 32, 32), (7, 128, 8, 8), (9, 256, 4, 4), (9, 37, 2, 2),
                                   (3, 8, 14, 14)])
def test_flat_kernels_do_not_depend_on_thread_count(shape, restore_threads):
    case = dict(shape=shape, R=3, S=3, padding=1, bias=True, act="relu")
    *_, run = _run(np.float32, case, 0)
    outs = []
    for threads in (1, 2, 3):
        fastconv.set_num_threads(threads)
        outs.append(_on_path("avx512", run))
    for y, dx in outs[1:]:
        assert y.tobytes() == outs[0][0].tobytes() and dx.tobytes() == outs[0][1].tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("plane", [(32, 32), (16, 16), (64, 64), (48, 48), (8, 8), (4, 4), (2, 2),
                                   (2, 8), (4, 8), (16, 4), (3, 16), (2, 32)])
@pytest.mark.parametrize("channels", [1, 5, 16, 19])
def test_3x3_padding_1_kernels_on_every_plane_family(dtype, plane, channels):
    """3x3 with padding 1 takes the compile-time kernels (row vectors, whole planes in
    registers, packed planes), with the mask table only at the borders: each family,
    full and partial channel blocks, bitwise the AVX2 path and close to the reference."""
    case = dict(shape=(5, channels) + plane, R=3, S=3, padding=1, bias=True, act="relu")
    x, w, b, g, opts, run = _run(dtype, case, channels)
    assert _flat_path(case["shape"], 3, 3, 1, 0, dtype)
    y5, dx5 = _on_path("avx512", run)
    y2, dx2 = _on_path("avx2", run)
    assert y5.tobytes() == y2.tobytes() and dx5.tobytes() == dx2.tobytes()
    assert_close(y5, ref.relu(ref.conv2d(x, w, b, **opts)), dtype, 9, "forward")
    assert_close(dx5, ref.conv2d_backward(g, x, w, **opts)[0], dtype, 9, "grad_x")


def _stride2_path(shape, dtype):
    g = geo.conv2d_geometry(shape, (shape[1], 1, 3, 3), 2, 1, 1, groups=shape[1])
    return _depthwise.depthwise_flat_path(geo.conv_kernel_args(g), 0, np.dtype(dtype).itemsize)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("plane,taken", [
    ((32, 32), True), ((16, 16), True), ((64, 64), True), ((12, 32), True), ((8, 16), True),
    ((16, 128), True), ((4, 4), "float32"), ((8, 8), True), ((6, 6), False), ((2, 2), False),
    ((10, 16), "float32"),   # 16-wide rows of floats: two output rows a vector, any height
    ((6, 16), "float32"), ((2, 16), "float32"), ((16, 8), "float64"),
])
@pytest.mark.parametrize("channels,act", [(1, None), (5, "relu"), (16, "sigmoid"), (19, "relu")])
def test_stride2_forward_on_every_plane_family(dtype, plane, taken, channels, act):
    """Stride 2, 3x3, padding 1: the planes each family takes (rows of whole vectors in
    groups of four stride-1 vectors; for float32 rows of 16 two output rows to a vector
    and 8x8 planes one, 4x4 planes four to an output vector), bitwise the
    AVX2 path, close to the reference; the others keep the AVX2 kernels."""
    shape = (3, channels) + plane
    fastconv_taken = taken is True or taken == np.dtype(dtype).name
    assert _on_path("avx512", lambda: _stride2_path(shape, dtype)) == fastconv_taken
    rng = np.random.default_rng(channels)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((channels, 1, 3, 3)).astype(dtype)
    b = rng.standard_normal(channels).astype(dtype)
    opts = dict(stride=2, padding=1, groups=channels)
    y5 = _on_path("avx512", lambda: F.conv2d(x, w, b, activation=act, **opts))
    y2 = _on_path("avx2", lambda: F.conv2d(x, w, b, activation=act, **opts))
    assert y5.tobytes() == y2.tobytes()
    want = ref.conv2d(x, w, b, **opts)
    assert_close(y5, getattr(ref, act)(want) if act else want, dtype, 9, "forward")


def _gradients_on_any_thread_count(dy, x, w, opts):
    """conv2d_backward on the AVX-512 path with 1, 2 and 3 threads: the same bits every
    time (fixed runs of images, summed in run order); returns the 1-thread gradients."""
    got = []
    for threads in (1, 2, 3):
        fastconv.set_num_threads(threads)
        got.append(_on_path("avx512", lambda: F.conv2d_backward(dy, x, w, **opts)))
    for other in got[1:]:
        assert all(a.tobytes() == b.tobytes() for a, b in zip(got[0], other))
    return got[0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("plane", [(32, 32), (16, 16), (64, 64), (12, 32), (2, 16), (16, 48),
                                   (8, 8), (4, 4), (6, 6), (10, 24)])
@pytest.mark.parametrize("channels", [1, 5, 19])
def test_stride2_gradients_of_rows_of_whole_vectors(dtype, plane, channels, restore_threads):
    """Stride 2, 3x3, padding 1, even planes whose rows are whole vectors: the input
    gradient (each input pixel's two to four taps from a chunk of a dy row and its shift,
    the columns interleaved) bitwise the AVX2 path (its zero-stuffed copy of dy); the
    weight gradient (rows of two whole vectors: each tap from the even or odd columns of
    an input row) the same bits for any thread count; both close to the reference. Other
    planes keep the AVX2 kernels."""
    shape = (5, channels) + plane
    vl = 64 // np.dtype(dtype).itemsize
    g = geo.conv2d_geometry(shape, (channels, 1, 3, 3), 2, 1, 1, groups=channels)
    for pass_, unit in ((1, vl), (2, 2 * vl)):
        taken = _on_path("avx512", lambda: _depthwise.depthwise_flat_path(
            geo.conv_kernel_args(g), pass_, np.dtype(dtype).itemsize))
        assert taken == (plane[1] % unit == 0)
    rng = np.random.default_rng(channels)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((channels, 1, 3, 3)).astype(dtype)
    dy = rng.standard_normal((5, channels, g.Ho, g.Wo)).astype(dtype)
    opts = dict(stride=2, padding=1, groups=channels)
    got = _gradients_on_any_thread_count(dy, x, w, opts)
    dx2 = _on_path("avx2", lambda: F.conv2d_backward(dy, x, w, **opts)[0])
    assert got[0].tobytes() == dx2.tobytes()
    want = ref.conv2d_backward(dy, x, w, **opts)
    assert_close(got[0], want[0], dtype, 4, "grad_input")
    terms = shape[0] * g.Ho * g.Wo
    assert_close(got[1], want[1], dtype, terms, "grad_weight")
    assert_close(got[2], want[2], dtype, terms, "grad_bias")


def _weight_gradient_taken(plane, vl):
    """dwf_plan_make's rule for the weight gradient (3x3, padding 1): rows of whole
    vectors with more than two rows, planes whole in registers (W 4 with 1, 2 or 4
    vectors, W 8 with 2 or 4 on 16 lanes), or packed 2x2 planes."""
    H, W = plane
    if W % vl == 0:
        return H > 2
    if H * W < vl:
        return plane == (2, 2)
    nv = H * W // vl
    return H * W % vl == 0 and (W == 4 and nv in (1, 2, 4) or vl == 16 and W == 8 and nv in (2, 4))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("plane", [(32, 32), (16, 16), (64, 64), (16, 48), (3, 16), (5, 32),
                                   (8, 8), (16, 128), (4, 4), (2, 2), (8, 4), (16, 4), (4, 8),
                                   (2, 8), (3, 3), (1, 1), (4, 2)])
@pytest.mark.parametrize("channels", [1, 16, 21])
def test_weight_gradient_of_rows_of_whole_vectors(dtype, plane, channels, restore_threads):
    """3x3 with padding 1 on rows of whole vectors, or on planes whole in registers (each
    tap a lane shift; packed 2x2 planes several channels to a vector, summed lane group by
    lane group): the weight gradient (and the bias's) summed vector by vector per tap;
    close to the reference and the same bits for any thread count (16-channel blocks of
    fixed image runs)."""
    shape = (7, channels) + plane
    g = geo.conv2d_geometry(shape, (channels, 1, 3, 3), 1, 1, 1, groups=channels)
    args = geo.conv_kernel_args(g)
    vl = 64 // np.dtype(dtype).itemsize
    taken = _on_path("avx512", lambda: _depthwise.depthwise_flat_path(args, 2,
                                                                 np.dtype(dtype).itemsize))
    assert taken == _weight_gradient_taken(plane, vl)
    rng = np.random.default_rng(channels)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((channels, 1, 3, 3)).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    opts = dict(stride=1, padding=1, groups=channels)
    got = _gradients_on_any_thread_count(dy, x, w, opts)
    want = ref.conv2d_backward(dy, x, w, **opts)
    terms = shape[0] * plane[0] * plane[1]
    assert_close(got[1], want[1], dtype, terms, "grad_weight")
    assert_close(got[2], want[2], dtype, terms, "grad_bias")


def test_mask_tables_kept_per_geometry_are_never_mixed_up():
    """A thread keeps the mask tables of the plane geometries it ran (the last eight):
    planes of one size but other paddings, filter sizes or passes (the input gradient
    turns the taps round) must each get their own table, also once more geometries than
    the table holds have come and gone. Every call checked against the reference."""
    rng = np.random.default_rng(7)
    cases = [((2, 16, 12, 12), 3, 1), ((2, 16, 12, 12), 3, 2), ((2, 16, 12, 12), 5, 2),
             ((2, 16, 12, 12), 3, ((0, 2), (2, 0))), ((2, 16, 12, 12), 3, ((0, 2), (1, 1))),
             ((2, 16, 12, 12), 3, ((1, 1), (0, 2))), ((2, 16, 12, 13), 3, 1),
             ((2, 16, 13, 12), 3, 1), ((2, 16, 9, 9), 3, 1), ((2, 16, 9, 9), 5, 1),
             ((2, 16, 20, 20), 3, 1), ((2, 16, 12, 12), 5, ((1, 3), (3, 1)))]
    for rnd in range(3):
        for shape, R, pad in cases[rnd:] + cases[:rnd]:
            if not _flat_path(shape, R, R, pad, 0):
                continue
            x = rng.standard_normal(shape).astype(np.float32)
            w = rng.standard_normal((shape[1], 1, R, R)).astype(np.float32)
            y = F.conv2d(x, w, padding=pad, groups=shape[1])
            assert_close(y, ref.conv2d(x, w, None, 1, pad, groups=shape[1]), np.float32)
            g = rng.standard_normal(y.shape).astype(np.float32)
            gx = F.conv2d_backward(g, x, w, padding=pad, groups=shape[1])[0]
            assert_close(gx, ref.conv2d_backward(g, x, w, 1, pad, groups=shape[1])[0],
                         np.float32)
