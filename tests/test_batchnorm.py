"""Batch normalisation on the C kernels (csrc/batchnorm.c): functional vs the NumPy
reference over drawn shapes (both dtypes, both SIMD paths), the fused ReLU forward and
backward, the saved-statistics round trip, the inference-mode backward against finite
differences, numerical stability, and bitwise independence of the thread count.
"""
import platform

import numpy as np
import pytest
from hypothesis import given, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref

from conftest import SIMD_PATHS, assert_close

DTYPES = [np.float32, np.float64]


def _inputs(shape, dtype, seed, offset=1.0):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + offset * rng.standard_normal((1, C, 1, 1))).astype(dtype)
    gamma = rng.standard_normal(C).astype(dtype)
    beta = rng.standard_normal(C).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, g


def _ref64(fn, *arrays, **kw):
    """The reference evaluated in float64 on the same (possibly float32) values."""
    return fn(*(None if a is None else np.asarray(a, np.float64) for a in arrays), **kw)


# shapes: small and odd planes (column mode, HW < 16), large planes, (N, features) as H = W = 1
SHAPES = st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 9), st.integers(1, 9))


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=SHAPES, seed=st.integers(0, 2 ** 16), relu=st.booleans())
def test_training_forward_backward_match_reference(simd, dtype, shape, seed, relu):
    _check_training_against_reference(dtype, shape, seed, relu)


# Small planes (row mode) whose images are longer than one column block of the
# elementwise passes (256), some not a multiple of a vector, with several channel blocks
# per reduction unit and image runs of unequal length.
ROW_MODE_SHAPES = [(9, 150, 3, 5), (6, 256, 4, 4), (3, 700, 1, 1), (5, 97, 2, 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", ROW_MODE_SHAPES)
@pytest.mark.parametrize("relu", [False, True])
def test_row_mode_column_blocks_match_reference(simd, dtype, shape, relu):
    _check_training_against_reference(dtype, shape, 11, relu)


def _check_training_against_reference(dtype, shape, seed, relu):
    N, C, H, W = shape
    M = N * H * W
    if M < 2:
        return
    x, gamma, beta, g = _inputs(shape, dtype, seed)
    rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
    rm_ref, rv_ref = np.zeros(C), np.ones(C)
    act = "relu" if relu else None
    y, mean, invstd = F.batch_norm2d(x, gamma, beta, rm, rv, True, 0.3, 1e-3, activation=act,
                                     return_stats=True)
    z_ref = _ref64(ref.batch_norm2d, x, gamma, beta, None, None, training=True, eps=1e-3)
    ref.batch_norm2d(x.astype(np.float64), None, None, rm_ref, rv_ref, True, 0.3, 1e-3)
    y_ref = np.maximum(z_ref, 0) if relu else z_ref
    assert_close(y, y_ref.astype(dtype), dtype, M, "forward")
    assert_close(rm, rm_ref.astype(dtype), dtype, M, "running_mean")
    assert_close(rv, rv_ref.astype(dtype), dtype, M, "running_var")
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(x64.var(axis=(0, 2, 3)) + 1e-3), rtol=1e-12)

    # backward: through the ReLU (mask y <= 0) when fused, with and without saved stats
    g_eff = np.where(y_ref > 0, g, 0) if relu else g
    want = _ref64(ref.batch_norm2d_backward, g_eff, x, gamma, eps=1e-3)
    yy = y if relu else None
    got_stats = F.batch_norm2d_backward(g, x, gamma, 1e-3, stats=(mean, invstd), y=yy)
    got_plain = F.batch_norm2d_backward(g, x, gamma, 1e-3, y=yy)
    for name, got_w, want_w in zip(("grad_x", "grad_gamma", "grad_beta"), got_stats, want):
        scale = max(1.0, float(np.abs(want_w).max()))
        assert_close(got_w / scale, (want_w / scale).astype(dtype), dtype, M, name)
    for a, b in zip(got_stats, got_plain):   # the same statistics, so the same bits
        assert a.tobytes() == b.tobytes()
    if relu:
        # the mask recomputed from x with the forward's beta: bitwise the y > 0 mask
        for stats in ((mean, invstd), None):
            got_beta = F.batch_norm2d_backward(g, x, gamma, 1e-3, stats=stats, relu_beta=beta)
            for a, b in zip(got_stats, got_beta):
                assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4, 32, 32), (2, 3, 17, 19), (5, 6, 4, 4), (4, 2, 1, 1)])
def test_relu_mask_from_x_is_bitwise_the_mask_from_y(simd, dtype, shape):
    """Planes past one masking block (1024 elements), odd ones, row-mode ones; values
    with many outputs at exactly 0 (beta cancelling the normalised value) included."""
    x, gamma, beta, g = _inputs(shape, dtype, 5, offset=0.0)
    x[:, :, ::3] = 0.0                       # normalised value = -mean * scale: ties at beta
    C = shape[1]
    y, mean, invstd = F.batch_norm2d(x, gamma, beta, np.zeros(C, dtype), np.ones(C, dtype), True,
                                     activation="relu", return_stats=True)
    beta = (-(0 - mean) * gamma * invstd).astype(dtype)   # outputs at 0 where x == 0
    y, mean, invstd = F.batch_norm2d(x, gamma, beta, np.zeros(C, dtype), np.ones(C, dtype), True,
                                     activation="relu", return_stats=True)
    want = F.batch_norm2d_backward(g, x, gamma, stats=(mean, invstd), y=y)
    got = F.batch_norm2d_backward(g, x, gamma, stats=(mean, invstd), relu_beta=beta)
    for a, b in zip(want, got):
        assert a.tobytes() == b.tobytes()
    premasked = F.batch_norm2d_backward(np.where(y > 0, g, 0).astype(dtype), x, gamma,
                                        stats=(mean, invstd))
    for a, b in zip(want, premasked):
        assert a.tobytes() == b.tobytes()


def test_relu_beta_is_validated():
    x, gamma, beta, g = _inputs((2, 3, 4, 4), np.float32, 1)
    y = F.batch_norm2d(x, gamma, beta, np.zeros(3, np.float32), np.ones(3, np.float32), True,
                       activation="relu")
    with pytest.raises(ValueError, match="not both"):
        F.batch_norm2d_backward(g, x, gamma, y=y, relu_beta=beta)
    with pytest.raises(ValueError, match="relu_beta"):
        F.batch_norm2d_backward(g, x, gamma, relu_beta=beta[:2])


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=SHAPES, seed=st.integers(0, 2 ** 16), relu=st.booleans())
def test_inference_forward_and_backward_match_reference(simd, dtype, shape, seed, relu):
    x, gamma, beta, g = _inputs(shape, dtype, seed)
    C = shape[1]
    rng = np.random.default_rng(seed + 1)
    rm = rng.standard_normal(C).astype(dtype)
    rv = (rng.random(C) + 0.2).astype(dtype)
    rm0, rv0 = rm.copy(), rv.copy()
    act = "relu" if relu else None
    y = F.batch_norm2d(x, gamma, beta, rm, rv, False, eps=1e-4, activation=act)
    z_ref = _ref64(ref.batch_norm2d, x, gamma, beta, rm, rv, training=False, eps=1e-4)
    y_ref = np.maximum(z_ref, 0) if relu else z_ref
    assert_close(y, y_ref.astype(dtype), dtype, 1, "inference forward")
    assert rm.tobytes() == rm0.tobytes() and rv.tobytes() == rv0.tobytes()
    gx, gg, gb = F.batch_norm2d_inference_backward(g, x, gamma, rm, rv, 1e-4,
                                                   y=y if relu else None)
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    if relu:
        g64 = np.where(y_ref > 0, g64, 0)
    inv = 1 / np.sqrt(rv.astype(np.float64) + 1e-4)
    xhat = (x64 - rm.astype(np.float64)[:, None, None]) * inv[:, None, None]
    M = shape[0] * shape[2] * shape[3]
    assert_close(gx, (g64 * (gamma * inv)[:, None, None]).astype(dtype), dtype, 1, "grad_x")
    assert_close(gg, (g64 * xhat).sum(axis=(0, 2, 3)).astype(dtype), dtype, M, "grad_gamma")
    assert_close(gb, g64.sum(axis=(0, 2, 3)).astype(dtype), dtype, M, "grad_beta")


@pytest.mark.parametrize("relu", [False, True])
def test_inference_backward_finite_differences(relu):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 3, 2))
    gamma, beta = rng.standard_normal(4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.random(4) + 0.5
    G = rng.standard_normal(x.shape)
    act = "relu" if relu else None

    def loss(x_, g_, b_):
        return np.sum(F.batch_norm2d(x_, g_, b_, rm, rv, False, eps=1e-3, activation=act) * G)

    y = F.batch_norm2d(x, gamma, beta, rm, rv, False, eps=1e-3, activation=act)
    gx, gg, gb = F.batch_norm2d_inference_backward(G, x, gamma, rm, rv, 1e-3,
                                                   y=y if relu else None)
    h = 1e-6
    for which, grad in ((0, gx), (1, gg), (2, gb)):
        args = [x, gamma, beta]
        num = np.zeros_like(args[which])
        for i in np.ndindex(*num.shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[which][i] += h
            minus[which][i] -= h
            num[i] = (loss(*plus) - loss(*minus)) / (2 * h)
        np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-7, err_msg=f"input {which}")


def test_training_backward_finite_differences_through_fused_relu():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 3, 2, 3))
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    G = rng.standard_normal(x.shape)

    def loss(x_):
        rm, rv = np.zeros(3), np.ones(3)
        return np.sum(F.batch_norm2d(x_, gamma, beta, rm, rv, True, activation="relu") * G)

    y, m, s = F.batch_norm2d(x, gamma, beta, np.zeros(3), np.ones(3), True, activation="relu",
                             return_stats=True)
    gx = F.batch_norm2d_backward(G, x, gamma, stats=(m, s), y=y)[0]
    h = 1e-6
    num = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        num[i] = (loss(xp) - loss(xm)) / (2 * h)
    np.testing.assert_allclose(gx, num, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_statistics_stay_accurate_far_from_zero(dtype):
    """|mean| >> std: no sum-of-squares cancellation (float32 data, float64 accumulation)."""
    rng = np.random.default_rng(2)
    x = (1e4 + rng.standard_normal((16, 2, 16, 16))).astype(dtype)
    _, mean, invstd = F.batch_norm2d(x, np.ones(2, dtype), np.zeros(2, dtype), np.zeros(2),
                                     np.ones(2), True, eps=1e-5, return_stats=True)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(mean, x64.mean(axis=(0, 2, 3)), rtol=1e-14)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(x64.var(axis=(0, 2, 3)) + 1e-5), rtol=1e-10)


# large planes with several reduction units per channel (the last one short), column mode,
# and (N, features); column mode over several column blocks and channel blocks
THREAD_SHAPES = [(33, 3, 32, 32), (70, 7, 3, 5), (257, 9, 1, 1), (5, 2, 64, 70),
                 (9, 150, 3, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_bitwise_same_for_1_2_3_threads(dtype, simd_path, restore_threads):
    before = fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        runs = []
        for nt in (1, 2, 3):
            fastconv.set_num_threads(nt)
            outs = []
            for k, shape in enumerate(THREAD_SHAPES):
                x, gamma, beta, g = _inputs(shape, dtype, k, offset=5.0)
                C = shape[1]
                rm, rv = np.zeros(C, dtype), np.ones(C, dtype)
                y, m, s = F.batch_norm2d(x, gamma, beta, rm, rv, True, activation="relu",
                                         return_stats=True)
                outs += [y, m, s, rm, rv, F.batch_norm2d(x, gamma, beta, rm, rv, True),
                         *F.batch_norm2d_backward(g, x, gamma, stats=(m, s), y=y),
                         *F.batch_norm2d_backward(g, x, gamma),
                         F.batch_norm2d(x, gamma, beta, rm, rv, False),
                         *F.batch_norm2d_inference_backward(g, x, gamma, rm, rv, y=y)]
            runs.append(outs)
        for nt, other in zip((2, 3), runs[1:]):
            for i, (a, b) in enumerate(zip(runs[0], other)):
                assert a.tobytes() == b.tobytes(), f"output {i} differs with {nt} threads"
    finally:
        fastconv.set_simd_path(before)


def test_simd_paths_agree_closely():
    if len(SIMD_PATHS) < 2:
        pytest.skip("this CPU has no AVX2")
    before = fastconv.simd_path()
    x, gamma, beta, g = _inputs((9, 4, 20, 20), np.float32, 3)
    res = {}
    try:
        for path in SIMD_PATHS:
            fastconv.set_simd_path(path)
            y, m, s = F.batch_norm2d(x, gamma, beta, np.zeros(4), np.ones(4), True,
                                     return_stats=True)
            res[path] = (y, *F.batch_norm2d_backward(g, x, gamma, stats=(m, s)))
    finally:
        fastconv.set_simd_path(before)
    for a, b in zip(res["portable"], res["avx2"]):
        assert_close(a, b, np.float32, 3600)


def test_non_contiguous_and_empty_inputs():
    x, gamma, beta, g = _inputs((4, 3, 5, 6), np.float64, 4)
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)  # same values, F-ish
    assert not xt.flags.c_contiguous
    a = F.batch_norm2d(x, gamma, beta, np.zeros(3), np.ones(3), True)
    b = F.batch_norm2d(xt, gamma, beta, np.zeros(3), np.ones(3), True)
    assert a.tobytes() == b.tobytes()
    ga = F.batch_norm2d_backward(g, x, gamma)
    gb = F.batch_norm2d_backward(g[:, :, :, ::-1][:, :, :, ::-1], xt, gamma)
    for u, v in zip(ga, gb):
        assert u.tobytes() == v.tobytes()
    empty = np.zeros((0, 3, 5, 6))
    out = F.batch_norm2d(empty, gamma, beta, np.zeros(3), np.ones(3), False)
    assert out.shape == empty.shape
    gx, gg, gbeta = F.batch_norm2d_inference_backward(empty, empty, gamma, np.zeros(3), np.ones(3))
    assert gx.shape == empty.shape and not gg.any() and not gbeta.any()


def test_float32_running_stats_with_float64_input_and_layer_style_call():
    """Running statistics of either float dtype are updated in place (the layer keeps
    them in its own dtype); positional momentum and eps as the layer passes them."""
    x, gamma, beta, _ = _inputs((6, 2, 4, 4), np.float64, 8)
    rm, rv = np.zeros(2, np.float32), np.ones(2, np.float32)
    F.batch_norm2d(x, gamma, beta, rm, rv, True, 0.01, 1e-3)
    x64 = x.astype(np.float64)
    M = 6 * 16
    np.testing.assert_allclose(rm, 0.01 * x64.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(rv, 0.99 + 0.01 * x64.var(axis=(0, 2, 3)) * M / (M - 1), rtol=1e-6)
    assert rm.dtype == np.float32 and rv.dtype == np.float32


@pytest.mark.parametrize("stat_dtype", DTYPES)
@pytest.mark.parametrize("contiguous", [True, False])
def test_running_statistics_update_is_numpys_arithmetic(stat_dtype, contiguous):
    """The in-place update of the running statistics (one kernel call where both are
    C-contiguous and of one dtype, NumPy's in-place operations otherwise) gives the bits of
    ``running *= 1 - momentum; running += momentum * statistic``."""
    x, gamma, beta, _ = _inputs((5, 7, 3, 4), np.float32, 9)
    rng = np.random.default_rng(3)
    start_m = rng.standard_normal(7 * (1 if contiguous else 2)).astype(stat_dtype)
    start_v = rng.random(7 * (1 if contiguous else 2)).astype(stat_dtype) + 0.5
    rm, rv = start_m.copy(), start_v.copy()
    rm_, rv_ = (rm, rv) if contiguous else (rm[::2], rv[::2])
    _, mean, _ = F.batch_norm2d(x, gamma, beta, rm_, rv_, True, 0.3, 1e-3, return_stats=True)
    var = x.astype(np.float64).var(axis=(0, 2, 3))
    want_m, want_v = (start_m, start_v) if contiguous else (start_m[::2], start_v[::2])
    want_m, want_v = want_m.copy(), want_v.copy()
    count = 5 * 12
    want_m *= 1 - 0.3
    want_m += 0.3 * mean
    want_v *= 1 - 0.3
    want_v += 0.3 * var * (count / (count - 1))
    if platform.machine().lower() in ("x86_64", "amd64"):   # no multiply-add contraction
        assert rm_.tobytes() == want_m.tobytes()
    np.testing.assert_allclose(rm_, want_m, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rv_, want_v, rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True])
def test_layer_fast_path_is_bitwise_the_functional_op(dtype, relu):
    """A BatchNormalization layer given an array the functional checks pass unchanged runs
    the op without re-checking its own parameters: output, statistics, moving statistics
    and gradients bitwise those of the functional op; anything else (here a
    non-contiguous input, a dtype the layer was not built for) takes the checked path."""
    from fastconv.layers import BatchNormalization
    x, _, _, g = _inputs((4, 6, 5, 5), dtype, 11)
    layer = BatchNormalization(momentum=0.9, epsilon=1e-3, dtype=np.dtype(dtype).name)
    layer.build((None, 5, 5, 6))
    rng = np.random.default_rng(5)
    for key in ("gamma", "beta"):
        layer.params[key][...] = rng.standard_normal(6)
    rm0, rv0 = (layer.buffers[k].copy() for k in ("moving_mean", "moving_variance"))
    y, ctx = layer.forward(x, True, relu=relu)
    rm, rv = rm0.copy(), rv0.copy()
    want, mean, invstd = F.batch_norm2d(x, layer.params["gamma"], layer.params["beta"], rm, rv,
                                        True, 1.0 - layer.momentum, 1e-3,
                                        activation="relu" if relu else None,
                                        return_stats=True)
    assert y.tobytes() == want.tobytes()
    assert ctx[2][0].tobytes() == mean.tobytes() and ctx[2][1].tobytes() == invstd.tobytes()
    assert layer.buffers["moving_mean"].tobytes() == rm.tobytes()
    assert layer.buffers["moving_variance"].tobytes() == rv.tobytes()
    gx = layer._backward(g, ctx, True)
    want_g = F.batch_norm2d_backward(g, x, layer.params["gamma"], 1e-3, stats=(mean, invstd),
                                     relu_beta=layer.params["beta"] if relu else None)
    assert gx.tobytes() == want_g[0].tobytes()
    # the checked path: a strided input of the same values gives the same bits
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    for key, a in zip(("moving_mean", "moving_variance"), (rm0, rv0)):
        layer.buffers[key][...] = a
    yt, _ = layer.forward(xt, True, relu=relu)
    assert yt.tobytes() == y.tobytes()
    other = np.float64 if dtype == np.float32 else np.float32
    with pytest.raises(TypeError, match="dtype"):
        layer.forward(x.astype(other), True, relu=relu)


def test_layer_rechecks_its_parameters_when_an_array_is_replaced():
    """The layer keeps its parameter checks until one of its arrays is replaced: moving
    statistics replaced by arrays of two dtypes are updated by NumPy's rule (as the
    functional op does), a read-only one is refused with a clear error and left as it
    was, and a gamma of the wrong length is refused -- never a stale pass into the
    kernels."""
    from fastconv.layers import BatchNormalization
    x, _, _, _ = _inputs((4, 3, 5, 5), np.float32, 2)
    layer = BatchNormalization(momentum=0.9)
    layer.build((None, 5, 5, 3))
    layer.forward(x, True)
    assert layer._checked_params[4] is True
    rm, rv = np.full(3, 0.5), np.full(3, 2.0, np.float32)   # float64 and float32
    layer.buffers["moving_mean"], layer.buffers["moving_variance"] = rm, rv
    y, ctx = layer.forward(x, True)
    assert layer._checked_params[4] is False and layer.buffers["moving_mean"] is rm
    want_m, want_v = np.full(3, 0.5), np.full(3, 2.0, np.float32)
    want, mean, _ = F.batch_norm2d(x, layer.params["gamma"], layer.params["beta"], want_m,
                                   want_v, True, 0.1, 1e-3, return_stats=True)
    assert y.tobytes() == want.tobytes()
    assert rm.tobytes() == want_m.tobytes() and rv.tobytes() == want_v.tobytes()
    frozen = rm.copy()
    frozen.flags.writeable = False
    layer.buffers["moving_mean"] = frozen
    with pytest.raises(ValueError, match="running_mean"):
        layer.forward(x, True)
    assert frozen.tobytes() == rm.tobytes()
    layer.buffers["moving_mean"] = rm
    layer._gamma = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="gamma"):
        layer.forward(x, True)


def _relu_forward(shape, dtype, seed):
    """(x, gamma, beta, g, y, mean, invstd) of a training forward with the fused ReLU, or
    None for a batch with one value per channel (which training refuses)."""
    x, gamma, beta, g = _inputs(shape, dtype, seed)
    if shape[0] * shape[2] * shape[3] < 2:
        return None
    y, m, s = F.batch_norm2d(x, gamma, beta, np.zeros(shape[1], dtype),
                             np.ones(shape[1], dtype), True, activation="relu",
                             return_stats=True)
    return x, gamma, beta, g, y, m, s


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 12),
                       st.integers(1, 12)), seed=st.integers(0, 2**16))
def test_backward_writes_the_masked_gradient_bitwise(simd, dtype, shape, seed):
    """``masked``: the backward's first pass writes the gradient it masks by the ReLU's
    output (what a ResNet block's end hands to its shortcut), bitwise relu_backward(g, y),
    and the input gradient made from it is bitwise the plain masked backward's -- small
    planes (row mode) and large ones, on every SIMD path."""
    from fastconv.functional.normalization import _backward
    fwd = _relu_forward(shape, dtype, seed)
    if fwd is None:
        return
    x, gamma, beta, g, y, m, s = fwd
    *got, masked = _backward("t", g, x, gamma, m, s, True, y, None, True)
    assert masked.tobytes() == F.relu_backward(g, y).tobytes()
    want = F.batch_norm2d_backward(g, x, gamma, stats=(m, s), y=y)
    for a, b in zip(got, want):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask", ["none", "y", "x"])
@given(shape=st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 12),
                       st.integers(1, 12)), seed=st.integers(0, 2**16))
def test_backward_written_over_grad_out_is_bitwise_the_fresh_one(simd, dtype, mask, shape,
                                                                 seed):
    """``out=grad_out``: the input gradient written over the output gradient (what a model's
    backward pass does when nothing else reads that gradient) is bitwise the gradient in a
    new array -- row mode and plane mode, each ReLU mask source, every SIMD path."""
    from fastconv.functional.normalization import _backward
    fwd = _relu_forward(shape, dtype, seed)
    if fwd is None:
        return
    x, gamma, beta, g, y, m, s = fwd
    args = {"none": (None, None), "y": (y, None), "x": (None, beta)}[mask]
    want = _backward("t", g, x, gamma, m, s, True, *args)
    g_over = g.copy()
    got = _backward("t", g_over, x, gamma, m, s, True, *args, out=g_over)
    assert got[0] is g_over
    for a, b in zip(got, want):
        assert a.tobytes() == b.tobytes()
    if mask == "y":   # a ResNet block's end: the masked gradient written over grad_out
        want = _backward("t", g, x, gamma, m, s, True, y, None, True)
        g_over = g.copy()
        got = _backward("t", g_over, x, gamma, m, s, True, y, None, True, masked_out=g_over)
        assert got[3] is g_over
        for a, b in zip(got, want):
            assert a.tobytes() == b.tobytes()


def test_backward_out_is_checked():
    """``out`` must be a writable array shaped like x, of its dtype, and not given with
    ``masked``: ValueError naming it, before any kernel runs."""
    from fastconv import _norm
    x = np.ones((2, 3, 4, 4), np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    y, st = _norm.train_forward(x, g, b, 1e-3, True, 1)
    with pytest.raises(ValueError, match="out's shape"):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, out=np.empty((2, 3, 4, 3),
                                                                            np.float32))
    with pytest.raises(ValueError):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, out=np.empty(x.shape))
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, out=ro)
    with pytest.raises(ValueError, match="out and masked"):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, y, None, True,
                             out=np.empty_like(x))
    with pytest.raises(ValueError, match="masked_out needs masked"):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, y, masked_out=np.empty_like(x))
    with pytest.raises(ValueError, match="masked_out's shape"):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, y, None, True,
                             masked_out=np.empty((2, 3, 4, 3), np.float32))


def test_training_bindings_refuse_mismatched_shapes():
    """The one-call batch-norm bindings check every batch-shaped argument against x (a
    kernel would otherwise read past the smaller one): ValueError naming it."""
    from fastconv import _norm
    x = np.ones((2, 3, 4, 4), np.float32)
    g, b = np.ones(3, np.float32), np.zeros(3, np.float32)
    y, st = _norm.train_forward(x, g, b, 1e-3, True, 1)
    short = np.ones((2, 3, 4, 3), np.float32)
    with pytest.raises(ValueError, match="residual"):
        _norm.train_forward(x, g, b, 1e-3, True, 1, short)
    with pytest.raises(ValueError, match="gamma"):
        _norm.train_forward(x, np.ones(2, np.float32), b, 1e-3, True, 1)
    with pytest.raises(ValueError, match="grad_out"):
        _norm.train_backward(short, x, st[0], st[2], g, True, 1)
    with pytest.raises(ValueError, match="y's shape"):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, short)
    with pytest.raises(ValueError, match="needs y"):
        _norm.train_backward(x, x, st[0], st[2], g, True, 1, None, None, True)
    with pytest.raises(ValueError, match="per-channel"):
        _norm.train_backward(x, x, st[0][:2], st[2], g, True, 1)
