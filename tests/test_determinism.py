"""Determinism: every op's forward and backward are bitwise identical across repeated
runs and across fastconv.set_num_threads(1) vs 2 (no order-dependent reductions), on
both SIMD paths; per-image forward results do not depend on the batch they came in;
training with the same seed gives the same weights.
"""
import numpy as np
import pytest

import fastconv
from fastconv import functional as F

from conftest import SIMD_PATHS
from ops import COVERED

DTYPES = [np.float32, np.float64]


def _all_ops(dtype, seed=0):
    """Every op of fastconv.functional, forward and backward, on fixed data. Returns a
    dict name -> tuple of arrays. Sizes are large enough for the kernels to split work
    across threads (batch >= 4, activations above the parallel threshold)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 5, 13, 11)).astype(dtype)
    w = rng.standard_normal((7, 5, 3, 3)).astype(dtype)
    b = rng.standard_normal(7).astype(dtype)
    out = {}
    for name, opts in (("conv", dict(padding=1)), ("conv-strided", dict(stride=2, dilation=(1, 2))),
                       ("conv-same", dict(padding="same"))):
        y = F.conv2d(x, w, b, **opts)
        g = rng.standard_normal(y.shape).astype(dtype)
        out[name] = (y, *F.conv2d_backward(g, x, w, **opts))
    out["conv-fused-elu"] = (F.conv2d(x, w, b, padding=1, activation="elu", alpha=0.5),)
    # 3x3 stride 1 with >= 16 channels: the Winograd path of all three passes
    xw = rng.standard_normal((6, 16, 9, 10)).astype(dtype)
    ww = rng.standard_normal((17, 16, 3, 3)).astype(dtype)
    yw = F.conv2d(xw, ww, b[:1].repeat(17), padding=1, activation="relu")
    out["conv-winograd"] = (yw, *F.conv2d_backward(rng.standard_normal(yw.shape).astype(dtype),
                                                   xw, ww, padding=1))
    # a big-batch conv, so the weight gradient's fixed chunks are all in use
    xb = rng.standard_normal((19, 3, 9, 9)).astype(dtype)
    wb = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    yb = F.conv2d(xb, wb)
    out["conv-batch19"] = (yb, *F.conv2d_backward(np.cos(yb), xb, wb))
    # groups: depthwise (stride 1 and 2, multiplier 2) and general, and the transpose
    xg = rng.standard_normal((6, 6, 13, 11)).astype(dtype)
    for name, xi, wg, opts in (
            ("conv-depthwise", x, (10, 1, 3, 3), dict(padding=1, groups=5)),
            ("conv-depthwise-s2", x, (5, 1, 3, 3), dict(stride=2, padding=1, groups=5)),
            ("conv-grouped", xg, (6, 2, 3, 2), dict(padding=((1, 0), (0, 1)), groups=3))):
        wgt = rng.standard_normal(wg).astype(dtype)
        y = F.conv2d(xi, wgt, None, **opts)
        out[name] = (y, *F.conv2d_backward(np.cos(y), xi, wgt, **opts))
    wt = rng.standard_normal((5, 2, 3, 3)).astype(dtype)
    topts = dict(stride=2, padding=1, output_padding=1)
    yt = F.conv_transpose2d(x, wt, None, **topts)
    out["conv_transpose"] = (yt, *F.conv_transpose2d_backward(np.cos(yt), x, wt, **topts))
    out["max_pool-dilated-same"] = (F.max_pool2d(x, 3, 2, "same", dilation=2),
                                    F.avg_pool2d(x, 3, 2, ((2, 0), (1, 2))))
    for ceil in (False, True):
        y = F.max_pool2d(x, 3, 2, 1, ceil_mode=ceil)
        out[f"max_pool-{ceil}"] = (y, F.max_pool2d_backward(np.sin(y), x, 3, 2, 1, ceil_mode=ceil))
        for cip in (False, True):
            y = F.avg_pool2d(x, 3, 2, 1, ceil_mode=ceil, count_include_pad=cip)
            out[f"avg_pool-{ceil}-{cip}"] = (y, F.avg_pool2d_backward(
                np.sin(y), x, 3, 2, 1, ceil_mode=ceil, count_include_pad=cip))
    big = (rng.standard_normal(200_003) * 4).astype(dtype)
    gbig = rng.standard_normal(big.shape).astype(dtype)
    for name, kw in (("relu", {}), ("leaky_relu", {"negative_slope": 0.1}), ("sigmoid", {}),
                     ("tanh", {}), ("elu", {"alpha": 0.7}), ("relu6", {}), ("hardsigmoid", {}),
                     ("hardswish", {}), ("silu", {}), ("gelu", {}), ("softplus", {"beta": 2.0})):
        out[name] = (getattr(F, name)(big, **kw), getattr(F, name + "_backward")(gbig, big, **kw))
    out["gelu-tanh"] = (F.gelu(big, approximate="tanh"),
                        F.gelu_backward(gbig, big, approximate="tanh"))
    out["conv-fused-hardswish"] = (F.conv2d(x, w, b, padding=1, activation="hardswish"),)
    xm = rng.standard_normal((8, 6, 40, 40)).astype(dtype)
    ym = F.maxout(xm, 3)
    out["maxout"] = (ym, F.maxout_backward(np.cos(ym), xm, 3))
    xl = rng.standard_normal((67, 301)).astype(dtype)
    wl = rng.standard_normal((45, 301)).astype(dtype)
    bl = rng.standard_normal(45).astype(dtype)
    yl = F.linear(xl, wl, bl)
    out["linear"] = (yl, *F.linear_backward(np.cos(yl), xl, wl))
    logits = rng.standard_normal((33, 10)).astype(dtype) * 5
    labels = rng.integers(0, 10, 33)
    out["softmax"] = (F.softmax(logits), F.log_softmax(logits))
    out["cross_entropy"] = (np.asarray(F.cross_entropy(logits, labels)),
                            F.cross_entropy_backward(logits, labels))
    d, mask = F.dropout(x, 0.3, rng=42)
    out["dropout"] = (d, mask, F.dropout_backward(np.cos(d), mask, 0.3))
    gamma, beta = rng.standard_normal(5).astype(dtype), rng.standard_normal(5).astype(dtype)
    rm, rv = np.zeros(5, dtype), np.ones(5, dtype)
    yb = F.batch_norm2d(x, gamma, beta, rm, rv, True)
    out["batch_norm"] = (yb, rm, rv, F.batch_norm2d(x, gamma, beta, rm, rv, False),
                         *F.batch_norm2d_backward(np.cos(yb), x, gamma))
    # the fused-ReLU forward with saved statistics, its backward, the inference backward,
    # and the column-mode (small plane) kernels: (N, C, 2, 2) and (N, features)
    for name, xx in (("", x), ("-small", rng.standard_normal((40, 5, 2, 2)).astype(dtype)),
                     ("-features", rng.standard_normal((300, 5, 1, 1)).astype(dtype))):
        yr, m, s = F.batch_norm2d(xx, gamma, beta, rm, rv, True, activation="relu", return_stats=True)
        gr = np.cos(yr)
        out["batch_norm-relu" + name] = (
            yr, m, s, *F.batch_norm2d_backward(gr, xx, gamma, stats=(m, s), y=yr),
            *F.batch_norm2d_backward(gr, xx, gamma), *F.batch_norm2d_inference_backward(gr, xx, gamma, rm, rv),
            F.batch_norm2d(xx, gamma, beta, rm, rv, False, activation="relu"))
    fl = F.flatten(x)
    out["flatten"] = (fl, F.flatten_backward(fl, x.shape))
    for mode, kw in (("nearest", dict(scale_factor=2.5)),
                     ("bilinear", dict(size=(30, 17), align_corners=False)),
                     ("bilinear", dict(scale_factor=(1.5, 3), align_corners=True))):
        yu = F.interpolate(xm, mode=mode, **kw)
        out[f"interpolate-{mode}-{len(out)}"] = (yu, F.interpolate_backward(np.cos(yu), xm,
                                                                             mode=mode, **kw))
    return out


def _assert_bitwise(a, b, what):
    assert a.keys() == b.keys()
    for k in a:
        for i, (u, v) in enumerate(zip(a[k], b[k])):
            assert u.dtype == v.dtype and u.shape == v.shape, f"{what}: {k}[{i}]"
            # array_equal with equal_nan compares values; compare the bytes too (signed zeros)
            assert u.tobytes() == v.tobytes(), f"{what}: {k}[{i}] differs"


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_op_is_bitwise_repeatable_and_thread_count_independent(simd, dtype, restore_threads,
                                                                     monkeypatch):
    monkeypatch.setenv("FASTCONV_WINOGRAD", "always")   # the Winograd case is small
    fastconv.set_num_threads(2)
    first = _all_ops(dtype)
    _assert_bitwise(first, _all_ops(dtype), "repeat with 2 threads")
    fastconv.set_num_threads(1)
    _assert_bitwise(first, _all_ops(dtype), "1 thread vs 2 threads")
    fastconv.set_num_threads(3)  # more threads than cores, odd split
    _assert_bitwise(first, _all_ops(dtype), "3 threads vs 2 threads")


def test_every_public_op_is_exercised():
    names = set(F.__all__)
    called = {"conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
              "avg_pool2d_backward", "relu", "relu_backward", "leaky_relu", "leaky_relu_backward",
              "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "elu", "elu_backward",
              "maxout", "maxout_backward", "linear", "linear_backward", "softmax", "log_softmax",
              "cross_entropy", "cross_entropy_backward", "dropout", "dropout_backward",
              "batch_norm2d", "batch_norm2d_backward", "batch_norm2d_inference_backward",
              "flatten", "flatten_backward",
              "conv_transpose2d", "conv_transpose2d_backward",
              "relu6", "relu6_backward", "hardsigmoid", "hardsigmoid_backward", "hardswish",
              "hardswish_backward", "silu", "silu_backward", "gelu", "gelu_backward", "softplus",
              "softplus_backward", "interpolate", "interpolate_backward"}
    called |= COVERED   # rows of tests/ops.py: their thread-count test is in test_ops_table
    assert names <= called, f"not covered by _all_ops: {sorted(names - called)}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("simd_path", SIMD_PATHS)
def test_forward_per_image_does_not_depend_on_batch_composition(dtype, simd_path, restore_threads):
    """conv2d / pooling / activations / linear on a batch give, for each image, the bits
    they give on that image alone or in any other batch (inference by any batch size)."""
    before = fastconv.simd_path()
    fastconv.set_simd_path(simd_path)
    try:
        rng = np.random.default_rng(7)
        x = rng.standard_normal((9, 6, 14, 14)).astype(dtype)
        w = rng.standard_normal((10, 6, 3, 3)).astype(dtype)
        b = rng.standard_normal(10).astype(dtype)
        xl = rng.standard_normal((37, 150)).astype(dtype)
        wl = rng.standard_normal((20, 150)).astype(dtype)
        bl = rng.standard_normal(20).astype(dtype)

        def per_image(xx, xxl):
            y = F.conv2d(xx, w, b, padding=1, activation="relu")
            return (y, F.conv2d(xx, w, b, stride=2), F.max_pool2d(y, 2),
                    F.avg_pool2d(y, 3, 2, 1, ceil_mode=True), F.tanh(y), F.maxout(y, 2),
                    F.linear(xxl, wl, bl))

        for nt in (1, 2):
            fastconv.set_num_threads(nt)
            full = per_image(x, xl)
            splits = [(0, 1), (1, 4), (4, 9)]
            lsplits = [(0, 1), (1, 5), (5, 16), (16, 37)]
            for (i, j), (k, m) in zip(splits + [(8, 9)], lsplits):
                part = per_image(x[i:j], xl[k:m])
                for q, (u, v) in enumerate(zip(full[:-1], part[:-1])):
                    assert u[i:j].tobytes() == v.tobytes(), f"op {q} images {i}:{j}, {nt} threads"
                assert full[-1][k:m].tobytes() == part[-1].tobytes(), f"linear rows {k}:{m}"
            # a shuffled batch gives the same per-image bits
            perm = rng.permutation(9)
            shuffled = per_image(x[perm], xl)
            for u, v in zip(full[:-1], shuffled[:-1]):
                assert u[perm].tobytes() == v.tobytes()
    finally:
        fastconv.set_simd_path(before)


def test_weight_gradient_depends_on_batch_size_only_not_threads(restore_threads):
    """The contract: grad_weight sums images in fixed chunks -- for a given batch the
    bits never change with the thread count, for any batch size."""
    rng = np.random.default_rng(3)
    for N in (1, 2, 3, 7, 8, 9, 17):
        x = rng.standard_normal((N, 3, 8, 8)).astype(np.float32)
        w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
        g = rng.standard_normal((N, 4, 8, 8)).astype(np.float32)
        res = []
        for nt in (1, 2, 4):
            fastconv.set_num_threads(nt)
            res.append(F.conv2d_backward(g, x, w, padding=1))
        for other in res[1:]:
            for u, v in zip(res[0], other):
                assert u.tobytes() == v.tobytes(), f"N={N}"


# ------------------------------------------------------------------ training (layer API)

def _train(seed, nt):
    models = pytest.importorskip("fastconv.models")
    layers = pytest.importorskip("fastconv.layers")
    fastconv.set_num_threads(nt)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((48, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    model = models.Sequential(seed=seed)
    model.add(layers.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Dropout(0.25))
    model.add(layers.Flatten())
    model.add(layers.Dense(3))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=True)
    return model.get_weights()


def test_training_with_the_same_seed_gives_the_same_weights(restore_threads):
    a = _train(seed=11, nt=2)
    b = _train(seed=11, nt=2)
    c = _train(seed=11, nt=1)
    assert len(a) == len(b) == len(c) > 0
    for u, v, t in zip(a, b, c):
        assert u.tobytes() == v.tobytes(), "same seed, same threads: weights differ"
        assert u.tobytes() == t.tobytes(), "same seed, 1 vs 2 threads: weights differ"
    d = _train(seed=12, nt=2)
    assert any(u.tobytes() != v.tobytes() for u, v in zip(a, d)), "the seed has no effect"
