"""Random graph models, built from the layer set the way a user writes them: the compiled
inference program must give the plan's step-by-step forward bit for bit (on 1 and 2
threads, compiled and cached), and the ONNX export run by ONNX Runtime the same values.

Written after two bugs that only some layer orders showed: a depthwise convolution with a
depth multiplier fused into the next convolution's op, and a Python step reading a Flatten
of another Python step on the second ``predict`` of a batch shape."""
import random

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import layers as L, models

ACTIVATIONS = [None, None, "relu", "sigmoid", "tanh", "elu", "leaky_relu", "relu6",
               "hard_swish", "silu", "softmax"]


def _layer(rng, shape):
    """One random layer for a channels-last sample ``shape``."""
    H, W, C = shape
    kind = rng.choice(["conv", "conv", "conv", "depthwise", "separable", "transposed", "bn",
                       "relu", "activation", "max_pool", "avg_pool", "dropout", "pad",
                       "crop", "upsample"])
    act = rng.choice(ACTIVATIONS[:-1])
    if kind == "conv":
        strides = rng.choice([1, 1, 2])
        groups = 2 if C % 2 == 0 and rng.random() < 0.3 else 1
        return L.Conv2D(rng.choice([2, 4, 8]) * groups, rng.choice([1, 2, 3, 5]),
                        strides=strides, padding=rng.choice(["same", "valid", 1]),
                        dilation_rate=rng.choice([1, 2]) if strides == 1 else 1,
                        groups=groups, activation=act, use_bias=rng.random() < 0.7)
    if kind == "depthwise":
        return L.DepthwiseConv2D(rng.choice([3, 5]), strides=rng.choice([1, 2]),
                                 padding=rng.choice(["same", "valid", 1]),
                                 depth_multiplier=rng.choice([1, 1, 2]), activation=act)
    if kind == "separable":
        return L.SeparableConv2D(rng.choice([4, 8]), 3, padding="same", activation=act)
    if kind == "transposed":
        return L.Conv2DTranspose(rng.choice([2, 4]), rng.choice([2, 3]), strides=2,
                                 padding=rng.choice(["same", "valid"]))
    if kind == "bn":
        return L.BatchNormalization()
    if kind == "relu":
        return L.ReLU()
    if kind == "activation":
        return L.Activation(rng.choice([a for a in ACTIVATIONS if a]))
    if kind in ("max_pool", "avg_pool"):
        pool = L.MaxPooling2D if kind == "max_pool" else L.AveragePooling2D
        return pool(rng.choice([2, 3]), strides=rng.choice([None, 1, 2]),
                    padding=rng.choice(["valid", "same"]))
    if kind == "dropout":
        return L.Dropout(0.3)
    if kind == "pad":
        return L.ZeroPadding2D(rng.choice([1, (1, 2)]))
    if kind == "crop":
        return L.Cropping2D(1) if min(H, W) > 4 else L.Identity()
    return L.UpSampling2D(2, interpolation=rng.choice(["nearest", "bilinear"])) \
        if max(H, W) <= 16 else L.Identity()


def random_model(seed, dtype="float32", dropout=True):
    """A random graph model (maybe with skips, concatenations and a dense head), its
    batch-norm statistics and biases random too (so that no pre-activation sits exactly
    on a ReLU's kink), and a batch for it."""
    rng = random.Random(seed)
    nr = np.random.default_rng(seed)
    inp = L.Input((rng.randint(6, 16), rng.randint(6, 16), rng.choice([1, 3, 4, 8])))
    x, tensors = inp, [inp]
    for _ in range(rng.randint(2, 7)):
        shape = tuple(x.shape[1:])
        if len(shape) != 3 or min(shape[:2]) < 3:
            break
        try:
            r = rng.random()
            same = [t for t in tensors if t is not x and tuple(t.shape[1:]) == shape]
            rows = [t for t in tensors if t is not x and tuple(t.shape[1:3]) == shape[:2]]
            if r < 0.15 and same:
                x = rng.choice([L.Add(), L.Multiply(), L.Subtract(), L.Average()])(
                    [x, rng.choice(same)])
            elif r < 0.25 and rows:
                x = L.Concatenate()([x, rng.choice(rows)])
            elif r < 0.35:         # a MobileNet block: depthwise, then pointwise
                x = L.DepthwiseConv2D(3, strides=rng.choice([1, 2]), padding="same",
                                      depth_multiplier=rng.choice([1, 2]),
                                      activation=rng.choice(["relu", None]))(x)
                x = L.Conv2D(rng.choice([4, 8]), 1, activation="relu")(x)
            else:
                layer = _layer(rng, shape)
                if isinstance(layer, L.Dropout) and not dropout:
                    layer = L.Identity()
                x = layer(x)
        except ValueError:     # a geometry the input is too small for: draw another
            continue
        tensors.append(x)
    if rng.random() < 0.5:
        x = rng.choice([L.GlobalAveragePooling2D(), L.GlobalMaxPooling2D(), L.Flatten()])(x)
        x = L.Dense(rng.choice([3, 10]), activation=rng.choice([None, "relu", "softmax"]))(x)
    model = models.Model(inp, x, seed=seed, dtype=dtype)
    for layer in model.layers:
        for name, p in layer.params.items():
            if name in ("bias", "beta", "gamma"):
                p[...] = nr.standard_normal(p.shape) * 0.5
        if "moving_variance" in layer.buffers:
            c = layer.buffers["moving_mean"].shape
            layer.buffers["moving_mean"][...] = nr.standard_normal(c)
            layer.buffers["moving_variance"][...] = nr.uniform(0.5, 2.0, c)
        layer._weights_changed()
    x = nr.standard_normal((rng.choice([1, 2, 5]),) + tuple(model.input_shape[1:]))
    return model, x.astype(dtype)


@settings(max_examples=60)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_program_is_bitwise_the_steps_and_predict_repeats(seed):
    model, x = random_model(seed)
    plan = model._get_plan()
    xs = model._internal([x])
    before = fastconv.get_num_threads()
    try:
        for threads in (1, 2):
            fastconv.set_num_threads(threads)
            ref = plan.forward(xs, False)[0]
            for _ in range(2):       # the first call compiles, the second runs the program
                got = plan.infer(xs)
                assert [g.tobytes() for g in got] == [r.tobytes() for r in ref]
    finally:
        fastconv.set_num_threads(before)
    first = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), first)


@settings(max_examples=15)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_onnx_export_runs_the_same_in_onnx_runtime(seed):
    ort = pytest.importorskip("onnxruntime")
    export = pytest.importorskip("fastconv.onnx").export
    model, x = random_model(seed)
    proto = export(model)
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    theirs = session.run(None, {session.get_inputs()[0].name: x})[0]
    ours = model.predict(x)
    scale = float(np.max(np.abs(theirs))) + 1e-3
    assert np.max(np.abs(ours - theirs)) <= 1e-3 * scale


@settings(max_examples=20)
@given(seed=st.integers(0, 2 ** 31 - 1))
def test_training_gradients_match_finite_differences(seed):
    """Training mode (batch statistics, the training-time fusions), float64: the gradient
    of sum(output * r) w.r.t. sampled input values and one sampled value of every weight,
    against central differences."""
    model, x = random_model(seed, "float64", dropout=False)
    rng = np.random.default_rng(seed)
    plan = model._get_plan()
    xs = model._internal([x])
    outs, ctxs = plan.forward(xs, True, keep_ctx=True)
    r = [rng.standard_normal(o.shape) for o in outs]
    grad_x = plan.backward(ctxs, {s: (g, False) for s, g in zip(plan.output_slots, r)},
                           input_grad=True)[0]
    weights = [(layer, name, p, np.array(layer.grads[name])) for layer in plan.layers
               for name, p in layer.params.items() if name in layer.grads]

    def loss():
        return sum(float(np.sum(o * g)) for o, g in zip(plan.forward(xs, True)[0], r))

    def central(array, index, owner=None):
        old = array[index]
        values = []
        for step in (1e-6, -1e-6):
            array[index] = old + step
            if owner is not None:
                owner._weights_changed()
            values.append(loss())
        array[index] = old
        if owner is not None:
            owner._weights_changed()
        return (values[0] - values[1]) / 2e-6

    checks = []
    for _ in range(4):
        i = tuple(rng.integers(0, d) for d in xs[0].shape)
        checks.append(("input", central(xs[0], i), grad_x[i]))
    for layer, name, p, g in weights:
        i = tuple(rng.integers(0, d) for d in p.shape)
        checks.append((f"{layer.name}.{name}", central(p, i, layer), g[i]))
    for what, numeric, analytic in checks:
        assert abs(numeric - analytic) <= 1e-5 * max(1.0, abs(numeric)), (what, numeric,
                                                                            analytic)
