"""Sequential: the classic Keras snippet, Keras parameter counts, summary, ready-made models, the
channels-last edge, layer outputs, configs, and a whole-model finite-difference check."""
import io
import json

import numpy as np
import pytest

from fastconv import layers, losses, models


def numeric_grad(f, a, eps=1e-6, limit=None, rng=None):
    """Central differences of scalar f() w.r.t. entries of a (all, or `limit` random ones)."""
    flat = a.reshape(-1)
    idx = np.arange(flat.size)
    if limit is not None and flat.size > limit:
        idx = (rng or np.random.default_rng(0)).choice(flat.size, limit, replace=False)
    out = []
    for i in idx:
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        out.append((fp - fm) / (2 * eps))
    return idx, np.array(out)


def keras_tutorial_model():
    # the classic Keras tutorial code, unchanged
    model = models.Sequential()
    model.add(layers.Conv2D(32, (3, 3), activation='relu', input_shape=(32, 32, 3)))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Conv2D(64, (3, 3), activation='relu'))
    model.add(layers.MaxPooling2D((2, 2)))
    model.add(layers.Dropout(0.2))
    model.add(layers.Flatten())
    model.add(layers.Dense(10))
    model.compile(optimizer='adam',
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    return model


def test_keras_snippet_runs_and_counts_params_like_keras():
    model = keras_tutorial_model()
    # Keras's count for the same stack, by hand:
    conv1 = 3 * 3 * 3 * 32 + 32            # 896
    conv2 = 3 * 3 * 32 * 64 + 64           # 18496  (30 -> 15 -> 13 -> 6)
    dense = (6 * 6 * 64) * 10 + 10         # 23050
    assert (conv1, conv2, dense) == (896, 18496, 23050)
    assert model.count_params() == conv1 + conv2 + dense == 42442
    assert [l.count_params() for l in model.layers] == [896, 0, 18496, 0, 0, 0, 23050]
    shapes = [l.output_shape for l in model.layers]
    assert shapes == [(None, 30, 30, 32), (None, 15, 15, 32), (None, 13, 13, 64),
                      (None, 6, 6, 64), (None, 6, 6, 64), (None, 2304), (None, 10)]
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    loss, acc = model.train_on_batch(x, np.array([0, 1, 2, 3]))
    assert np.isfinite(loss) and 0.0 <= acc <= 1.0
    assert model.predict(x).shape == (4, 10)


def test_summary_prints_volumes_and_param_formulas():
    model = keras_tutorial_model()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    for piece in ["(None, 30, 30, 32)", "(None, 6, 6, 64)", "(None, 2304)", "896", "18,496",
                  "23,050", "Total params: 42,442", "Trainable params: 42,442",
                  "Non-trainable params: 0", "32 x (3x3x3 + 1)", "10 x (2304 + 1)"]:
        assert piece in text, piece
    m = models.Sequential([layers.Conv2D(1, 5, input_shape=(32, 32, 3))])
    lines = []
    m.summary(print_fn=lines.append)
    assert any("76" in l and "1 x (5x5x3 + 1)" in l for l in lines)  # 75 weights + 1 bias
    bn = models.Sequential([layers.Dense(4, input_shape=(3,)), layers.BatchNormalization()])
    lines = []
    bn.summary(print_fn=lines.append)
    assert "Non-trainable params: 8" in "\n".join(lines)


def test_lenet5_28x28_geometry_and_params():
    model = models.lenet5(input_shape=(28, 28, 1), classes=10, seed=0)
    shapes = [l.output_shape for l in model.layers]
    assert shapes == [(None, 24, 24, 6), (None, 12, 12, 6), (None, 8, 8, 16), (None, 4, 4, 16),
                      (None, 256), (None, 120), (None, 84), (None, 10)]
    expected = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (256 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)
    assert model.count_params() == expected == 44426


def test_lenet5_small_inputs_use_same_padding():
    model = models.lenet5(input_shape=(8, 8, 1), classes=10, seed=0)
    assert model.layers[0].padding == "same" and model.layers[2].padding == "same"
    assert [l.output_shape for l in model.layers[:5]] == [
        (None, 8, 8, 6), (None, 4, 4, 6), (None, 4, 4, 16), (None, 2, 2, 16), (None, 64)]
    x = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    assert model.predict(x).shape == (3, 10)
    with pytest.raises(ValueError, match="input_shape"):
        models.lenet5(input_shape=(28, 28))


def test_cifar_example_is_the_classic_pipeline():
    model = models.cifar_example()
    kinds = [type(l).__name__ for l in model.layers]
    assert kinds == ["Conv2D", "ReLU", "MaxPooling2D", "Flatten", "Dense"]
    assert model.input_shape == (None, 32, 32, 3)
    assert [l.output_shape for l in model.layers] == [
        (None, 32, 32, 12), (None, 32, 32, 12), (None, 16, 16, 12), (None, 3072), (None, 10)]
    assert model.count_params() == (12 * 27 + 12) + (3072 * 10 + 10)


def test_seed_gives_deterministic_weights():
    a = models.lenet5(seed=3).get_weights()
    b = models.lenet5(seed=3).get_weights()
    c = models.lenet5(seed=4).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def test_model_dtype_float64_and_default_float32():
    assert all(w.dtype == np.float32 for w in models.lenet5(seed=0).get_weights())
    m = models.lenet5(seed=0, dtype="float64")
    assert all(w.dtype == np.float64 for w in m.get_weights())
    assert m.predict(np.zeros((1, 28, 28, 1))).dtype == np.float64
    with pytest.raises(ValueError, match="float16"):
        models.Sequential(dtype="float16")


def test_channels_last_edge_converts_once():
    # C == 1 float32: the NHWC -> NCHW conversion is a view (no copy at all)
    from fastconv.layers import to_internal
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    assert np.shares_memory(to_internal(x, np.float32), x)
    x3 = np.random.default_rng(0).random((2, 5, 5, 3), dtype=np.float32)
    xi = to_internal(x3, np.float32)
    assert xi.flags.c_contiguous and xi.shape == (2, 3, 5, 5)
    np.testing.assert_array_equal(xi, x3.transpose(0, 3, 1, 2))

    # every layer receives C-contiguous NCHW arrays; no layer sees the NHWC batch
    seen = []

    class Spy(layers.Layer):
        def call(self, x, training=False):
            seen.append((x.shape, x.flags.c_contiguous))
            return x

        def backward(self, g):
            return g

    model = models.Sequential([Spy(input_shape=(5, 5, 3)), layers.Conv2D(2, 3), Spy(),
                               layers.Flatten(), layers.Dense(2)])
    model.predict(x3)
    assert seen == [((2, 3, 5, 5), True), ((2, 2, 3, 3), True)]


def test_predict_matches_single_batch_and_is_channels_last():
    rng = np.random.default_rng(1)
    model = models.Sequential([layers.Conv2D(3, 3, padding="same", input_shape=(6, 6, 2)),
                               layers.BatchNormalization(), layers.Dropout(0.5)], seed=0)
    x = rng.random((10, 6, 6, 2), dtype=np.float32)
    y = model.predict(x, batch_size=3)
    assert y.shape == (10, 6, 6, 3)
    np.testing.assert_array_equal(y, model(x))
    np.testing.assert_array_equal(y, model.predict(x, batch_size=10))
    np.testing.assert_array_equal(model.predict(x), model.predict(x))  # dropout inactive


def test_layer_outputs_for_visualisation():
    model = models.lenet5(input_shape=(8, 8, 1), seed=0)
    image = np.random.default_rng(0).random((8, 8, 1), dtype=np.float32)
    outs = model.layer_outputs(image)  # a single image
    assert [l for l, _ in outs] == model.layers
    assert [a.shape for _, a in outs] == [(1,) + l.output_shape[1:] for l in model.layers]
    np.testing.assert_allclose(outs[-1][1], model.predict(image[None]), rtol=1e-6)
    # channels-last feature maps: channel k of the first conv = relu(conv with filter k)
    conv = model.layers[0]
    fmap = outs[0][1]
    manual = conv(image[None])
    np.testing.assert_array_equal(fmap, manual)


def test_build_later_and_input_layer():
    m = models.Sequential([layers.Dense(4), layers.Dense(2)])
    assert not m.built
    with pytest.raises(ValueError, match="not built"):
        m.count_params()
    m.predict(np.zeros((3, 5), np.float32))  # builds from the data
    assert m.built and m.input_shape == (None, 5) and m.count_params() == 5 * 4 + 4 + 4 * 2 + 2
    m2 = models.Sequential([layers.Input((8, 8, 1)), layers.Conv2D(2, 3)])
    assert m2.built and len(m2.layers) == 1 and m2.output_shape == (None, 6, 6, 2)
    m3 = models.Sequential()
    m3.add(layers.Dense(3))
    m3.build((None, 7))
    assert m3.count_params() == 24


def test_model_errors_are_clear():
    model = keras_tutorial_model()
    with pytest.raises(ValueError, match=r"expects input of shape"):
        model.predict(np.zeros((2, 28, 28, 3), np.float32))
    with pytest.raises(ValueError, match="batch axis"):
        model.predict(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="channel axis"):
        models.lenet5().predict(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(RuntimeError, match="compile"):
        models.lenet5().fit(np.zeros((2, 28, 28, 1)), np.zeros(2, int))
    m = models.Sequential([layers.Dense(3, name="d", input_shape=(4,))])
    with pytest.raises(ValueError, match="named 'd'"):
        m.add(layers.Dense(3, name="d"))
    with pytest.raises(TypeError, match="Layer"):
        m.add("dense")
    with pytest.raises(ValueError, match="Flatten"):
        models.Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1)), layers.Dense(3)])
    conv = models.Sequential([layers.Conv2D(2, 3, input_shape=(5, 5, 1))])
    with pytest.raises(ValueError, match="kernel 7"):
        conv.add(layers.Conv2D(2, 7))
    assert len(conv.layers) == 1  # the failed layer was not kept
    with pytest.raises(ValueError, match="label 10 is out of range"):
        model.train_on_batch(np.zeros((1, 32, 32, 3), np.float32), np.array([10]))
    with pytest.raises(ValueError, match="unknown metric"):
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["f1"])
    with pytest.raises(ValueError, match="loss"):
        model.compile("adam")


def test_config_round_trip_same_predictions():
    model = keras_tutorial_model()
    cfg = json.loads(json.dumps(model.get_config()))
    clone = models.Sequential.from_config(cfg)
    assert clone.get_config() == model.get_config()
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(2).random((3, 32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(clone.predict(x), model.predict(x))


# ------------------------------------------------------------------ whole-model gradients

def _training_loss(model, x_int, y, seed=0):
    """Loss of a training-mode forward pass, with dropout masks re-drawn identically."""
    for i, l in enumerate(model.layers):
        if isinstance(l, layers.Dropout):
            l._rng = np.random.default_rng([seed, i])
    plan = model._get_plan()
    ys = model._prepare_y(y, x_int.shape[0])
    outs, ctxs = plan.forward([x_int], True, keep_ctx=True)
    value, grads = model._loss_and_grads(plan, outs, ctxs, ys, True)
    return value, (plan, ctxs, grads)


def _training_input_grad(model, x_int, y):
    """Run a training-mode forward and backward; the weight gradients end up in the
    layers' ``grads``; returns the gradient w.r.t. the (internal-layout) input."""
    _, (plan, ctxs, grads) = _training_loss(model, x_int, y)
    return plan.backward(ctxs, grads, input_grad=True)[0]


@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("head", ["logits", "softmax", "categorical"])
def test_whole_model_gradient_check(dropout, head):
    """conv -> relu -> pool -> bn -> dropout -> flatten -> dense -> loss, float64."""
    rng = np.random.default_rng(5)
    stack = [
        layers.Conv2D(3, 3, padding="same", input_shape=(6, 6, 2)),
        layers.ReLU(),
        layers.MaxPooling2D(2),
        layers.BatchNormalization(),
        layers.Dropout(dropout),
        layers.Flatten(),
        layers.Dense(4, activation=None if head == "logits" else "softmax"),
    ]
    model = models.Sequential(stack, seed=1, dtype="float64")
    if head == "logits":
        loss = losses.SparseCategoricalCrossentropy(from_logits=True)
        y = np.array([0, 3, 1, 2, 1])
    elif head == "softmax":
        loss = losses.SparseCategoricalCrossentropy()
        y = np.array([0, 3, 1, 2, 1])
    else:
        loss = losses.CategoricalCrossentropy()
        y = np.eye(4)[[2, 0, 1, 3, 3]]
    model.compile("sgd", loss)
    x = rng.standard_normal((5, 6, 6, 2))
    x_int = np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    gx = _training_input_grad(model, x_int, y)

    def f():
        return _training_loss(model, x_int, y)[0]

    grads = {(i, k): l.grads[k].copy() for i, l in enumerate(model.layers) for k in l.params}
    for (i, k), g in grads.items():
        p = model.layers[i].params[k]
        idx, num = numeric_grad(f, p, limit=20, rng=rng)
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-5, atol=1e-8,
                                   err_msg=f"layer {i} {k}")
    idx, num = numeric_grad(f, x_int, limit=30, rng=rng)
    np.testing.assert_allclose(gx.reshape(-1)[idx], num, rtol=1e-5, atol=1e-8, err_msg="input")


def test_gradient_wrt_input_inference_mode():
    rng = np.random.default_rng(6)
    model = models.Sequential([layers.Conv2D(2, 3, activation="tanh", input_shape=(5, 5, 1)),
                               layers.BatchNormalization(), layers.Flatten(), layers.Dense(3)],
                              seed=0, dtype="float64")
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    model.layers[1].buffers["moving_variance"][...] = [0.5, 2.0]
    x = rng.standard_normal((2, 5, 5, 1))
    y = np.array([2, 0])
    g = model.gradient_wrt_input(x, y)
    assert g.shape == x.shape

    def f():
        return model.evaluate(x, y)

    idx, num = numeric_grad(f, x)
    np.testing.assert_allclose(g.reshape(-1), num, rtol=1e-5, atol=1e-9)


def test_every_layer_type_in_one_model_gradient_check():
    """Finite differences through a model holding every layer type (float64)."""
    rng = np.random.default_rng(11)
    stack = [
        layers.Input((9, 8, 2)),
        layers.Conv2D(4, (2, 3), strides=(1, 2), padding="same", activation="leaky_relu"),
        layers.AveragePooling2D(2, padding="same"),
        layers.Conv2D(6, 2, padding=1, dilation_rate=1, activation="relu"),
        layers.Maxout(2),
        layers.BatchNormalization(),
        layers.ELU(0.5),
        layers.MaxPooling2D(2, ceil_mode=True),
        layers.Activation("tanh"),
        layers.LeakyReLU(0.1),
        layers.ReLU(),
        layers.Dropout(0.3),
        layers.Flatten(),
        layers.Dense(7, activation="sigmoid"),
        layers.Dense(5, activation="elu"),
        layers.Dense(4),
        layers.Softmax(),
    ]
    model = models.Sequential(stack, seed=2, dtype="float64")
    model.compile("sgd", losses.SparseCategoricalCrossentropy())
    x = rng.standard_normal((6, 9, 8, 2))
    y = np.array([0, 1, 2, 3, 1, 2])
    x_int = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    _, (plan, _, grads) = _training_loss(model, x_int, y)
    # the final softmax is fused with the loss: its gradient arrives w.r.t. the logits
    assert [wrt_logits for _, wrt_logits in grads.values()] == [True]
    gx = _training_input_grad(model, x_int, y)

    def f():
        return _training_loss(model, x_int, y)[0]

    grads = {(i, k): l.grads[k].copy() for i, l in enumerate(model.layers) for k in l.params}
    assert len(grads) == 12
    for (i, k), g in grads.items():
        idx, num = numeric_grad(f, model.layers[i].params[k], limit=12, rng=rng)
        np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-5, atol=1e-8,
                                   err_msg=f"layer {i} ({model.layers[i].name}) {k}")
    idx, num = numeric_grad(f, x_int, limit=40, rng=rng)
    np.testing.assert_allclose(gx.reshape(-1)[idx], num, rtol=1e-5, atol=1e-8, err_msg="input")
