"""Tests of the pure-NumPy reference (fastconv.reference) on its own.

(a) the classic worked example (7x7 binary image, 3x3 feature detector, 2x2 max
    pooling with partial windows, flatten), every number asserted;
(b) central finite-difference checks, in float64, of every backward in the reference;
(c) dtype preservation, dropout behaviour, and refusal of impossible geometry.

Agreement with PyTorch lives in tests/test_reference_torch.py.
"""
import numpy as np
import pytest

from fastconv import reference as ref

# ----------------------------------------------------------------------------- (a)

# The classic "feature detector" illustration: a 7x7 binary input image ...
IMAGE = np.array([
    [0, 0, 0, 0, 0, 0, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0],
    [0, 1, 0, 0, 0, 1, 0],
    [0, 0, 1, 1, 1, 0, 0],
    [0, 0, 0, 0, 0, 0, 0],
], dtype=np.float64)

# ... and a 3x3 feature detector slid over it with stride 1, no padding.
DETECTOR = np.array([
    [0, 0, 1],
    [1, 0, 0],
    [0, 1, 1],
], dtype=np.float64)

# (7 - 3 + 2*0) / 1 + 1 = 5: the 5x5 feature map, worked out by hand.
FEATURE_MAP = np.array([
    [0, 1, 0, 0, 0],
    [0, 1, 1, 1, 0],
    [1, 0, 0, 2, 1],
    [1, 4, 2, 1, 0],
    [0, 0, 1, 2, 1],
], dtype=np.float64)

# 2x2 max pooling, stride 2, ceil_mode: the partial windows on the last row/column count.
POOLED = np.array([
    [1, 1, 0],
    [4, 2, 1],
    [0, 2, 1],
], dtype=np.float64)


def _loop_correlate(image, kernel):
    """The feature map by the definition: multiply-and-sum at every position."""
    H, W = image.shape
    R, S = kernel.shape
    out = np.zeros((H - R + 1, W - S + 1))
    for i in range(H - R + 1):
        for j in range(W - S + 1):
            total = 0.0
            for r in range(R):
                for s in range(S):
                    total += image[i + r, j + s] * kernel[r, s]
            out[i, j] = total
    return out


def _loop_pool(fmap, k, s, reduce):
    """Pooling with partial windows: every window that starts inside the map counts."""
    H, W = fmap.shape
    rows = range(0, H, s)
    cols = range(0, W, s)
    out = np.zeros((len(rows), len(cols)))
    for a, i in enumerate(rows):
        for b, j in enumerate(cols):
            out[a, b] = reduce(fmap[i:i + k, j:j + k])
    return out


def test_worked_example_feature_map():
    fmap = ref.conv2d(IMAGE[None, None], DETECTOR[None, None])
    assert fmap.shape == (1, 1, 5, 5)
    assert fmap.dtype == np.float64
    np.testing.assert_array_equal(_loop_correlate(IMAGE, DETECTOR), FEATURE_MAP)
    np.testing.assert_array_equal(fmap[0, 0], FEATURE_MAP)
    # cross-correlation, not convolution: the flipped kernel gives a different map
    flipped = ref.conv2d(IMAGE[None, None], DETECTOR[::-1, ::-1][None, None].copy())
    assert not np.array_equal(flipped[0, 0], FEATURE_MAP)


def test_worked_example_max_pool_partial_windows():
    pooled = ref.max_pool2d(FEATURE_MAP[None, None], 2, 2, ceil_mode=True)
    assert pooled.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(_loop_pool(FEATURE_MAP, 2, 2, np.max), POOLED)
    np.testing.assert_array_equal(pooled[0, 0], POOLED)
    # stride defaults to the kernel size
    np.testing.assert_array_equal(ref.max_pool2d(FEATURE_MAP[None, None], 2, ceil_mode=True),
                                  pooled)
    # without ceil_mode the partial windows are dropped: 2x2
    np.testing.assert_array_equal(ref.max_pool2d(FEATURE_MAP[None, None], 2)[0, 0],
                                  POOLED[:2, :2])


def test_worked_example_avg_pool_partial_windows():
    pooled = ref.avg_pool2d(FEATURE_MAP[None, None], 2, ceil_mode=True)
    # partial windows average over the cells they cover
    expected = np.array([[0.5, 0.5, 0.0],
                         [1.5, 1.25, 0.5],
                         [0.0, 1.5, 1.0]])
    np.testing.assert_array_equal(_loop_pool(FEATURE_MAP, 2, 2, np.mean), expected)
    np.testing.assert_array_equal(pooled[0, 0], expected)


def test_worked_example_flatten():
    pooled = POOLED[None, None]
    flat = ref.flatten(pooled)
    assert flat.shape == (1, 9)
    np.testing.assert_array_equal(flat[0], [1, 1, 0, 4, 2, 1, 0, 2, 1])
    np.testing.assert_array_equal(ref.flatten_backward(flat, pooled.shape), pooled)


def test_worked_example_pipeline_gradient_routes_to_winners():
    """Backward through flatten -> max pool: each pooled value's gradient lands on the
    feature-map cell that won it (the first maximum on ties)."""
    fmap = FEATURE_MAP[None, None]
    g = ref.flatten_backward(np.arange(1.0, 10.0)[None], (1, 1, 3, 3))
    gmap = ref.max_pool2d_backward(g, fmap, 2, 2, 0, True)[0, 0]
    expected = np.zeros((5, 5))
    # window (0,0) covers rows 0-1, cols 0-1: values 0 1 / 0 1, first maximum at (0,1)
    winners = {(0, 0): (0, 1), (0, 1): (1, 2), (0, 2): (0, 4),
               (1, 0): (3, 1), (1, 1): (2, 3), (1, 2): (2, 4),
               (2, 0): (4, 0), (2, 1): (4, 3), (2, 2): (4, 4)}
    for (a, b), (i, j) in winners.items():
        assert FEATURE_MAP[i, j] == POOLED[a, b]
        expected[i, j] += g[0, 0, a, b]
    np.testing.assert_array_equal(gmap, expected)


# ----------------------------------------------------------------------------- (b)

EPS = 1e-6
RTOL = 1e-6
ATOL = 1e-8


def numgrad(f, x, eps=EPS):
    """Central-difference gradient of the scalar function ``f`` at ``x`` (float64)."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f(x)
        flat[i] = old - eps
        fm = f(x)
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return grad


def check(analytic, f, x):
    np.testing.assert_allclose(analytic, numgrad(f, x), rtol=RTOL, atol=ATOL)


def distinct(rng, shape, spacing=0.05):
    """Random values whose pairwise gaps are at least ``spacing`` (no ties, no kinks
    inside the finite-difference step)."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * spacing - n * spacing / 2 + 0.01).reshape(shape)


def away_from_zero(rng, shape, gap=0.1):
    x = rng.standard_normal(shape)
    return np.where(x >= 0, x + gap, x - gap)


CONV_CASES = [
    dict(stride=1, padding=0, dilation=1),
    dict(stride=2, padding=1, dilation=1),
    dict(stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(stride=1, padding="same", dilation=1),
    dict(stride=1, padding="same", dilation=2),
    dict(stride=3, padding="valid", dilation=1),
]


@pytest.mark.parametrize("opts", CONV_CASES, ids=str)
@pytest.mark.parametrize("kshape", [(3, 3), (2, 3), (1, 1)])
def test_conv2d_backward_finite_differences(opts, kshape):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 6, 7))
    w = rng.standard_normal((3, 2) + kshape)
    b = rng.standard_normal(3)
    y = ref.conv2d(x, w, b, **opts)
    G = rng.standard_normal(y.shape)
    gx, gw, gb = ref.conv2d_backward(G, x, w, **opts)
    assert gx.shape == x.shape and gw.shape == w.shape and gb.shape == b.shape
    check(gx, lambda v: np.sum(ref.conv2d(v, w, b, **opts) * G), x)
    check(gw, lambda v: np.sum(ref.conv2d(x, v, b, **opts) * G), w)
    check(gb, lambda v: np.sum(ref.conv2d(x, w, v, **opts) * G), b)


POOL_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=2, stride=2, padding=0, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 1)),
    dict(kernel_size=3, stride=1, padding=1),            # overlapping windows
    dict(kernel_size=(5, 6), stride=3),                  # kernel as large as the input
    dict(kernel_size=4, stride=3, padding=2, ceil_mode=True),
]


@pytest.mark.parametrize("opts", POOL_CASES, ids=str)
def test_max_pool2d_backward_finite_differences(opts):
    rng = np.random.default_rng(1)
    x = distinct(rng, (2, 2, 5, 6))
    y = ref.max_pool2d(x, **opts)
    G = rng.standard_normal(y.shape)
    gx = ref.max_pool2d_backward(G, x, **opts)
    check(gx, lambda v: np.sum(ref.max_pool2d(v, **opts) * G), x)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("opts", POOL_CASES, ids=str)
def test_avg_pool2d_backward_finite_differences(opts, count_include_pad):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 5, 6))
    opts = dict(opts, count_include_pad=count_include_pad)
    y = ref.avg_pool2d(x, **opts)
    G = rng.standard_normal(y.shape)
    gx = ref.avg_pool2d_backward(G, x, **opts)
    check(gx, lambda v: np.sum(ref.avg_pool2d(v, **opts) * G), x)


ACTIVATIONS = [
    ("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("leaky_relu", {}),
    ("sigmoid", {}), ("tanh", {}), ("elu", {}), ("elu", {"alpha": 0.7}),
]


@pytest.mark.parametrize("name,kw", ACTIVATIONS, ids=lambda v: str(v))
def test_activation_backward_finite_differences(name, kw):
    rng = np.random.default_rng(3)
    x = away_from_zero(rng, (2, 3, 4, 3)) * 2
    f, fb = getattr(ref, name), getattr(ref, name + "_backward")
    G = rng.standard_normal(x.shape)
    check(fb(G, x, **kw), lambda v: np.sum(f(v, **kw) * G), x)


@pytest.mark.parametrize("shape,pieces", [((3, 6), 2), ((3, 6), 3), ((2, 4, 3, 2), 2),
                                          ((2, 3, 2, 2), 1), ((2, 4, 2, 3), 4)])
def test_maxout_backward_finite_differences(shape, pieces):
    rng = np.random.default_rng(4)
    x = distinct(rng, shape)
    y = ref.maxout(x, pieces)
    assert y.shape == (shape[0], shape[1] // pieces) + shape[2:]
    G = rng.standard_normal(y.shape)
    check(ref.maxout_backward(G, x, pieces), lambda v: np.sum(ref.maxout(v, pieces) * G), x)


@pytest.mark.parametrize("xshape", [(4, 5), (2, 3, 5)])
def test_linear_backward_finite_differences(xshape):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xshape)
    w = rng.standard_normal((3, 5))
    b = rng.standard_normal(3)
    G = rng.standard_normal(xshape[:-1] + (3,))
    gx, gw, gb = ref.linear_backward(G, x, w)
    check(gx, lambda v: np.sum(ref.linear(v, w, b) * G), x)
    check(gw, lambda v: np.sum(ref.linear(x, v, b) * G), w)
    check(gb, lambda v: np.sum(ref.linear(x, w, v) * G), b)


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_softmax_backward_finite_differences(axis):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 2))
    G = rng.standard_normal(x.shape)
    check(ref.softmax_backward(G, x, axis), lambda v: np.sum(ref.softmax(v, axis) * G), x)


def test_cross_entropy_backward_finite_differences():
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[labels]
    probs = rng.random((5, 4))
    probs /= probs.sum(axis=1, keepdims=True)
    for target in (labels, onehot, probs):
        check(ref.cross_entropy_backward(logits, target),
              lambda v: ref.cross_entropy(v, target), logits)
    np.testing.assert_allclose(ref.cross_entropy_backward(logits, labels),
                               ref.cross_entropy_backward(logits, onehot), rtol=1e-15)


def test_dropout_backward_finite_differences():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 2, 2))
    _, mask = ref.dropout(x, 0.4, rng=11)
    G = rng.standard_normal(x.shape)
    check(ref.dropout_backward(G, mask, 0.4),
          lambda v: np.sum(ref.dropout(v, 0.4, rng=11)[0] * G), x)


def test_batch_norm2d_backward_finite_differences():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 2, 3, 2)) * 2 + 1
    gamma = rng.standard_normal(2)
    beta = rng.standard_normal(2)
    G = rng.standard_normal(x.shape)

    def f(x_, g_, b_):
        return np.sum(ref.batch_norm2d(x_, g_, b_, None, None, True) * G)

    gx, gg, gb = ref.batch_norm2d_backward(G, x, gamma, 1e-5)
    check(gx, lambda v: f(v, gamma, beta), x)
    check(gg, lambda v: f(x, v, beta), gamma)
    check(gb, lambda v: f(x, gamma, v), beta)


def test_flatten_backward_finite_differences():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 3, 2, 2))
    G = rng.standard_normal((2, 12))
    check(ref.flatten_backward(G, x.shape), lambda v: np.sum(ref.flatten(v) * G), x)


# ----------------------------------------------------------------------------- (c)

def test_flatten_is_row_major():
    x = np.arange(24.0).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(ref.flatten(x), np.arange(24.0).reshape(2, 12))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_op_keeps_dtype(dtype):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 5, 5)).astype(dtype)
    w = rng.standard_normal((3, 4, 3, 3)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    outs = []
    y = ref.conv2d(x, w, b, padding="same")
    outs += [y, *ref.conv2d_backward(y, x, w, 1, "same", 1)]
    for pool in ("max_pool2d", "avg_pool2d"):
        p = getattr(ref, pool)(x, 2, ceil_mode=True)
        outs += [p, getattr(ref, pool + "_backward")(p, x, 2, None, 0, True)]
    for name in ("relu", "leaky_relu", "sigmoid", "tanh", "elu"):
        outs += [getattr(ref, name)(x), getattr(ref, name + "_backward")(x, x)]
    outs += [ref.maxout(x, 2), ref.maxout_backward(ref.maxout(x, 2), x, 2)]
    f = ref.flatten(x)
    lw = rng.standard_normal((7, f.shape[1])).astype(dtype)
    out = ref.linear(f, lw, np.zeros(7, dtype))
    outs += [f, ref.flatten_backward(f, x.shape), out, *ref.linear_backward(out, f, lw)]
    labels = np.array([1, 6])
    outs += [ref.softmax(out), ref.softmax_backward(out, out), ref.log_softmax(out),
             ref.cross_entropy(out, labels), ref.cross_entropy_backward(out, labels)]
    d, mask = ref.dropout(x, 0.5, rng=0)
    outs += [d, mask, ref.dropout_backward(x, mask, 0.5)]
    rm, rv = np.zeros(4, dtype), np.ones(4, dtype)
    bn = ref.batch_norm2d(x, np.ones(4, dtype), np.zeros(4, dtype), rm, rv, True)
    outs += [bn, rm, rv, *ref.batch_norm2d_backward(bn, x, np.ones(4, dtype))]
    for i, o in enumerate(outs):
        assert np.asarray(o).dtype == dtype, f"output {i}: {np.asarray(o).dtype}"


def test_sigmoid_is_stable_for_large_inputs():
    x = np.array([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = ref.sigmoid(x)
        ref.sigmoid_backward(np.ones_like(x), x)
        ref.elu(x)
        ref.elu_backward(np.ones_like(x), x)
    np.testing.assert_array_equal(s[[0, 1, 3, 5, 6]], [0.0, 0.0, 0.5, 1.0, 1.0])
    assert 0 < s[2] < 1e-20 and s[4] == 1.0


def test_activation_values_at_zero():
    z = np.zeros(3)
    g = np.ones(3)
    np.testing.assert_array_equal(ref.relu_backward(g, z), 0.0)           # relu'(0) = 0
    np.testing.assert_array_equal(ref.leaky_relu_backward(g, z, 0.1), 0.1)
    np.testing.assert_array_equal(ref.elu_backward(g, z, 2.0), 2.0)
    np.testing.assert_array_equal(ref.leaky_relu(np.array([-10.0, 3.0]), 0.1), [-1.0, 3.0])
    np.testing.assert_array_equal(ref.leaky_relu(np.array([-100.0])), [-1.0])


def test_cross_entropy_is_stable_and_correct():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]])
    loss = ref.cross_entropy(logits, np.array([0, 2]))
    np.testing.assert_allclose(loss, np.log(3) / 2, rtol=1e-15)
    loss = ref.cross_entropy(logits, np.array([1, 2]))
    np.testing.assert_allclose(loss, (1000 + np.log(3)) / 2, rtol=1e-15)
    s = ref.softmax(logits)
    assert np.all(np.isfinite(s)) and np.allclose(s.sum(axis=1), 1)


def test_max_pool_ties_first_maximum_and_padding_never_wins():
    x = np.array([[[[-5.0, -5.0], [-5.0, -5.0]]]])
    y = ref.max_pool2d(x, 2, 1, 1)          # every window contains padding; max is -5
    np.testing.assert_array_equal(y, -5.0)
    g = ref.max_pool2d_backward(np.ones_like(y), x, 2, 1, 1)
    # windows (3x3 of them): each picks its first real element in scan order
    np.testing.assert_array_equal(g, [[[[4.0, 2.0], [2.0, 1.0]]]])
    x = np.full((1, 1, 1, 2), -np.inf)
    g = ref.max_pool2d_backward(np.ones((1, 1, 1, 2)), x, (1, 2), None, (0, 1))
    np.testing.assert_array_equal(g, [[[[1.0, 1.0]]]])


def test_pool_ceil_mode_drops_window_starting_in_padding():
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    # (6 + 2 - 2) / 4 -> ceil 2, + 1 = 3; but window 2 would start at 8 - 1 = 7 >= 6 + 1
    assert ref.max_pool2d(x, 2, 4, 1, ceil_mode=True).shape == (1, 1, 2, 2)
    assert ref.avg_pool2d(x, 2, 4, 1, ceil_mode=True).shape == (1, 1, 2, 2)


def test_avg_pool_divisors():
    x = np.ones((1, 1, 3, 3))
    # 2x2 windows, stride 2, padding 1: with padding counted every window divides by 4
    np.testing.assert_array_equal(ref.avg_pool2d(x, 2, 2, 1)[0, 0], [[0.25, 0.5], [0.5, 1.0]])
    np.testing.assert_array_equal(ref.avg_pool2d(x, 2, 2, 1, count_include_pad=False), 1.0)
    # ceil_mode overhang past the padding is never counted: 3x3 stride 2 on 4x4
    x = np.ones((1, 1, 4, 4))
    np.testing.assert_array_equal(ref.avg_pool2d(x, 3, 2, 0, ceil_mode=True), 1.0)


def test_conv_same_padding_puts_extra_pixel_right():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 0, 0] = 1.0
    w = np.zeros((1, 1, 2, 2))
    w[0, 0, 0, 0] = 1.0                      # picks xpad[i, j]; total pad 1: 0 left, 1 right
    y = ref.conv2d(x, w, padding="same")
    assert y.shape == x.shape
    np.testing.assert_array_equal(y, x)


def test_dropout_semantics():
    x = np.ones((200, 300))
    y, mask = ref.dropout(x, 0.25, rng=np.random.default_rng(3))
    assert set(np.unique(mask)) <= {0.0, 1.0 / 0.75}
    np.testing.assert_array_equal(y, x * mask)
    assert abs((mask == 0).mean() - 0.25) < 0.01
    assert abs(y.mean() - 1.0) < 0.02                    # inverted: expectation preserved
    y2, mask2 = ref.dropout(x, 0.25, rng=3)            # int seed == Generator(seed)
    np.testing.assert_array_equal(mask, mask2)
    np.testing.assert_array_equal(ref.dropout_backward(x * 2, mask, 0.25), 2 * mask)
    ye, me = ref.dropout(x, 0.25, training=False)
    assert me is None and ye is not x
    np.testing.assert_array_equal(ye, x)
    np.testing.assert_array_equal(ref.dropout_backward(x, None, 0.25), x)
    y0, m0 = ref.dropout(x, 0.0, rng=1)
    assert m0 is None
    np.testing.assert_array_equal(y0, x)
    y1, m1 = ref.dropout(x, 1.0, rng=1)
    np.testing.assert_array_equal(y1, 0.0)
    with pytest.raises(ValueError):
        ref.dropout(x, 1.5)


def test_batch_norm2d_running_stats():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((4, 3, 2, 5)) * 3 + 2
    rm, rv = np.zeros(3), np.ones(3)
    y = ref.batch_norm2d(x, np.ones(3), np.zeros(3), rm, rv, True, momentum=0.1, eps=0.0)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-14)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, rtol=1e-12)
    np.testing.assert_allclose(rm, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-14)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * x.var(axis=(0, 2, 3), ddof=1), rtol=1e-14)
    before = (rm.copy(), rv.copy())
    ye = ref.batch_norm2d(x, np.full(3, 2.0), np.full(3, 1.0), rm, rv, False)
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])
    np.testing.assert_allclose(
        ye, 2 * (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5) + 1, rtol=1e-14)
    with pytest.raises(ValueError):
        ref.batch_norm2d(x[:1, :, :1, :1], None, None, None, None, True)


@pytest.mark.parametrize("call,words", [
    (lambda: ref.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 4, 4))), ["4x4", "3x3"]),
    (lambda: ref.conv2d(np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 3, 3)), dilation=2),
     ["5x5", "3x3"]),
    (lambda: ref.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=0), ["0"]),
    (lambda: ref.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding=-1), ["-1"]),
    (lambda: ref.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), stride=2,
                        padding="same"), ["same", "2"]),
    (lambda: ref.conv2d(np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3))), ["3", "2"]),
    (lambda: ref.conv2d(np.zeros((1, 1, 5, 5)), np.zeros((1, 1, 3, 3)), padding="full"),
     ["full"]),
    (lambda: ref.max_pool2d(np.zeros((1, 1, 3, 3)), 4), ["4", "3"]),
    (lambda: ref.avg_pool2d(np.zeros((1, 1, 3, 3)), 2, stride=0), ["0"]),
    (lambda: ref.max_pool2d(np.zeros((1, 1, 5, 5)), 2, padding=2), ["2"]),
    (lambda: ref.maxout(np.zeros((2, 5)), 2), ["5", "2"]),
    (lambda: ref.cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ["3"]),
    (lambda: ref.linear(np.zeros((2, 3)), np.zeros((4, 5))), ["(4, 5)"]),
])
def test_impossible_geometry_raises_with_numbers(call, words):
    with pytest.raises(ValueError) as info:
        call()
    for word in words:
        assert word in str(info.value)
