"""Graph models (Keras's functional API): construction, checks at construction, training,
gradients through residual / multi-branch / shared layers (float64 finite differences),
several inputs and outputs, summary, config and save/load, ResNet-20."""
import numpy as np
import pytest

from fastconv import layers, losses, models

SCCE = losses.SparseCategoricalCrossentropy(from_logits=True)


def issue_snippet(seed=0):
    inputs = layers.Input((32, 32, 3))
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    y = layers.Conv2D(16, 3, padding="same")(x)
    x = layers.ReLU()(layers.Add()([x, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return models.Model(inputs, layers.Dense(10)(x), seed=seed)


def test_the_keras_snippet_builds_and_trains():
    model = issue_snippet()
    assert model.output_shape == (None, 10)
    # conv 3*3*3*16, BN 4*16, conv 3*3*16*16 + 16, dense 16*10 + 10
    assert model.count_params() == 432 + 64 + 2320 + 170
    rng = np.random.default_rng(0)
    x = rng.random((32, 32, 32, 3), dtype=np.float32)
    # a label the network can learn (random labels made the fall depend on the draw:
    # 0.05-0.9 over seeds): the brightest channel picks class 0, 3 or 6
    y = 3 * np.argmax(x.mean(axis=(1, 2)), axis=1)
    model.compile("adam", SCCE, ["accuracy"])
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    # the training loss falls (evaluate would use moving BN statistics that lag behind);
    # the fall was 0.59-1.37 over 14 seeds
    assert history.history["loss"][-1] < history.history["loss"][0] - 0.3
    assert model.predict(x[:3]).shape == (3, 10)


def test_symbolic_tensors_check_shapes_where_the_graph_is_written():
    a = layers.Input((8, 8, 3))
    b = layers.Conv2D(4, 3)(a)                      # 6x6x4
    with pytest.raises(ValueError, match=r"Add.*\(None, 8, 8, 3\).*\(None, 6, 6, 4\)"):
        layers.Add()([a, b])
    with pytest.raises(ValueError, match="Concatenate"):
        layers.Concatenate()([a, b])
    with pytest.raises(ValueError, match="Dense needs a flat input"):
        layers.Dense(3)(a)
    shared = layers.Conv2D(2, 3)
    shared(a)
    with pytest.raises(ValueError, match="shares its weights"):
        shared(b)
    assert b.shape == (None, 6, 6, 4)


def test_construction_errors_name_the_layers():
    a = layers.Input((4,), name="in_a")
    other = layers.Input((4,), name="in_other")
    y = layers.Add(name="plus")([layers.Dense(4)(a), layers.Dense(4)(other)])
    with pytest.raises(ValueError, match="in_other"):
        models.Model(a, y)                          # an input not among the model's inputs
    with pytest.raises(ValueError, match="not connected"):
        models.Model([a, layers.Input((4,), name="dangling")], layers.Dense(2)(a))
    with pytest.raises(TypeError, match="symbolic tensors"):
        models.Model(a, np.zeros(3))
    with pytest.raises(ValueError, match="layers.Input"):
        models.Model(layers.Dense(2)(a), y)
    with pytest.raises(TypeError, match="inputs and outputs"):
        models.Model()


def _numeric(f, a, idx, eps=1e-6):
    flat = a.reshape(-1)
    out = []
    for i in idx:
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        out.append((fp - fm) / (2 * eps))
    return np.array(out)


def _loss(model, xs, ys):
    plan = model._get_plan()
    outs, ctxs = plan.forward(xs, True, keep_ctx=True)
    value, grads = model._loss_and_grads(plan, outs, ctxs, model._prepare_y(ys, len(xs[0])),
                                         True)
    return value, plan, ctxs, grads


def _gradcheck(model, xs, ys, rng):
    """Weight and input gradients of a float64 model against central differences."""
    value, plan, ctxs, grads = _loss(model, xs, ys)
    gin = plan.backward(ctxs, grads, input_grad=True)
    for layer in model.layers:
        for k, p in layer.params.items():
            g = layer.grads[k].copy()
            idx = rng.choice(p.size, min(p.size, 8), replace=False)
            num = _numeric(lambda: _loss(model, xs, ys)[0], p, idx)
            np.testing.assert_allclose(g.reshape(-1)[idx], num, rtol=1e-5, atol=1e-8,
                                       err_msg=f"{layer.name}.{k}")
    for j, x in enumerate(xs):
        idx = rng.choice(x.size, min(x.size, 12), replace=False)
        num = _numeric(lambda: _loss(model, xs, ys)[0], x, idx)
        np.testing.assert_allclose(gin[j].reshape(-1)[idx], num, rtol=1e-5, atol=1e-8,
                                   err_msg=f"input {j}")


def test_gradients_through_residual_concat_and_shared_layers():
    """fan-out (x feeds three layers), a layer used twice (weight gradients accumulated),
    Add/Subtract/Multiply/Average/Concatenate, padding, cropping, global pooling."""
    rng = np.random.default_rng(3)
    inp = layers.Input((6, 6, 2))
    x = layers.Conv2D(3, 3, padding="same", activation="tanh")(inp)
    shared = layers.Conv2D(3, 3, padding="same")
    a = shared(x)
    b = shared(layers.ReLU()(a))                    # the same weights, twice
    m = layers.Multiply()([a, layers.Activation("sigmoid")(b)])
    s = layers.Subtract()([m, x])
    av = layers.Average()([s, x, b])
    c = layers.Concatenate()([av, layers.Cropping2D(((1, 0), (0, 1)))(
        layers.ZeroPadding2D(((0, 1), (1, 0)))(x))])
    g1 = layers.GlobalAveragePooling2D()(c)
    g2 = layers.GlobalMaxPooling2D()(layers.BatchNormalization()(c))
    h = layers.Concatenate()([g1, g2])
    out = layers.Dense(4)(layers.Reshape((12,))(h))
    model = models.Model(inp, out, seed=0, dtype="float64")
    model.compile("sgd", SCCE)
    xs = [rng.standard_normal((5, 2, 6, 6))]
    _gradcheck(model, xs, np.array([0, 1, 2, 3, 1]), rng)
    assert len([l for l in model.layers if l is shared]) == 1


def test_two_inputs_two_outputs():
    rng = np.random.default_rng(4)
    img = layers.Input((5, 5, 1), name="image")
    vec = layers.Input((3,), name="meta")
    f = layers.Flatten()(layers.Conv2D(2, 3, activation="relu")(img))   # 18 features
    h = layers.Concatenate()([f, layers.Dense(4)(vec)])
    out1 = layers.Dense(3, name="head1")(h)
    out2 = layers.Dense(2, activation="softmax", name="head2")(h)
    model = models.Model([img, vec], [out1, out2], seed=1, dtype="float64")
    assert model.output_shape == [(None, 3), (None, 2)]
    assert model.input_shape == [(None, 5, 5, 1), (None, 3)]
    model.compile("sgd", losses.SparseCategoricalCrossentropy())
    xi, xv = rng.standard_normal((4, 5, 5, 1)), rng.standard_normal((4, 3))
    y1, y2 = np.array([0, 1, 2, 0]), np.array([1, 0, 1, 1])
    p1, p2 = model.predict([xi, xv])
    assert p1.shape == (4, 3) and p2.shape == (4, 2)
    np.testing.assert_allclose(p2.sum(axis=1), 1.0)
    xs = [np.ascontiguousarray(xi.transpose(0, 3, 1, 2)), xv]
    _gradcheck(model, xs, [y1, y2], rng)
    with pytest.raises(ValueError, match="2 inputs"):
        model.predict(xi)
    with pytest.raises(ValueError, match="2 outputs"):
        model.fit([xi, xv], y1, verbose=0)
    model.fit([xi, xv], [y1, y2], epochs=2, verbose=0)


def test_summary_has_the_connected_to_column():
    model = issue_snippet()
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Connected to" in text
    add_row = next(l for l in lines if "(Add)" in l)
    names = [l.name for l in model.layers]
    relu, conv = names[3], names[4]
    assert relu in add_row and conv in add_row
    assert f"Total params: {model.count_params():,}" in text


def test_config_round_trip_and_save_load_bitwise(tmp_path):
    model = issue_snippet()
    model.compile("adam", SCCE, ["accuracy"])
    rng = np.random.default_rng(1)
    x = rng.random((8, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    clone = models.Model.from_config(model.get_config())
    assert [type(l) for l in clone.layers] == [type(l) for l in model.layers]
    assert clone.count_params() == model.count_params()
    path = tmp_path / "graph.fcm"
    model.save(path)
    loaded = models.load_model(path)
    assert isinstance(loaded, models.Model) and not isinstance(loaded, models.Sequential)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert model.predict(x).tobytes() == loaded.predict(x).tobytes()
    # training resumes identically: optimizer state and generators came back too
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=4, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_shared_layer_survives_save_and_load(tmp_path):
    inp = layers.Input((4,))
    d = layers.Dense(4, activation="tanh")
    out = layers.Dense(2)(d(d(inp)))
    model = models.Model(inp, out, seed=3)
    path = tmp_path / "shared.fcm"
    model.save(path)
    loaded = models.load_model(path)
    assert len(loaded.layers) == 3
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    assert model.predict(x).tobytes() == loaded.predict(x).tobytes()


def test_resnet20_matches_the_keras_count_and_trains():
    model = models.resnet20(seed=0)
    # The same network written in Keras, counted by hand: conv weights (no bias) and
    # 4 per channel for each BatchNormalization (Keras counts the moving statistics).
    def conv(c_in, c_out, k):
        return k * k * c_in * c_out
    stem = conv(3, 16, 3) + 4 * 16
    stage1 = 3 * (2 * conv(16, 16, 3) + 2 * 4 * 16)
    stage2 = (conv(16, 32, 3) + conv(32, 32, 3) + 2 * 4 * 32 + conv(16, 32, 1) + 4 * 32
              + 2 * (2 * conv(32, 32, 3) + 2 * 4 * 32))
    stage3 = (conv(32, 64, 3) + conv(64, 64, 3) + 2 * 4 * 64 + conv(32, 64, 1) + 4 * 64
              + 2 * (2 * conv(64, 64, 3) + 2 * 4 * 64))
    head = 64 * 10 + 10
    assert model.count_params() == stem + stage1 + stage2 + stage3 + head == 274042
    assert sum(l.__class__ is layers.Add for l in model.layers) == 9
    rng = np.random.default_rng(0)
    x = rng.random((16, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, 16)
    model.compile("adam", SCCE)
    before = model.evaluate(x, y, batch_size=16)
    model.fit(x, y, epochs=4, batch_size=8, verbose=0)
    # training mode BN statistics differ from the moving ones early on: compare train loss
    assert model.history.history["loss"][-1] < model.history.history["loss"][0]
    assert np.isfinite(before)


def test_sequential_is_a_model_and_layer_outputs_follow_the_plan():
    seq = models.Sequential([layers.Dense(3, input_shape=(4,)), layers.ReLU()], seed=0)
    assert isinstance(seq, models.Model)
    x = np.random.default_rng(0).random((2, 4), dtype=np.float32)
    outs = seq.layer_outputs(x)
    assert [l for l, _ in outs] == seq.layers
    np.testing.assert_array_equal(outs[-1][1], seq.predict(x))


def test_results_do_not_depend_on_the_thread_count():
    import fastconv
    before = fastconv.get_num_threads()
    rng = np.random.default_rng(2)
    x = rng.random((8, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 10, 8)
    weights = []
    try:
        for threads in (1, 2):
            fastconv.set_num_threads(threads)
            model = models.resnet20(seed=5)
            model.compile("sgd", SCCE)
            model.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
            weights.append(model.get_weights())
    finally:
        fastconv.set_num_threads(before)
    for a, b in zip(*weights):
        assert a.tobytes() == b.tobytes()


def test_inference_folds_batch_norm_and_relu_into_the_convolution():
    from fastconv.models.fusion import FusedConv
    model = models.resnet20(seed=1, dtype="float64")
    rng = np.random.default_rng(0)
    for layer in model.layers:          # moving statistics far from the identity
        if isinstance(layer, layers.BatchNormalization):
            c = layer.buffers["moving_mean"].shape[0]
            layer.set_weights([rng.uniform(0.5, 2, c), rng.normal(0, 1, c),
                               rng.normal(0, 0.5, c), rng.uniform(0.5, 2, c)])
    x = rng.random((3, 32, 32, 3))
    fused = model.predict(x)
    plan = model._get_plan()
    steps, _ = plan._inference_steps()
    runners = [s.layer for s in steps if isinstance(s.layer, FusedConv)]
    # each residual block's last conv + BN, its add and its ReLU are one step
    assert len(runners) == 12 and sum(r.activation is not None for r in runners) == 10
    assert sum(type(s.layer).__name__ == "FusedConvAdd" for s in steps) == 9
    assert len(steps) == 12 + 9 + 2          # + global pooling and the dense head
    assert not any(isinstance(s.layer, layers.BatchNormalization) for s in steps)
    # the unfused steps (layer by layer, as a training-mode plan runs them) give the same
    unfused = [y for l, y in model.layer_outputs(x)][-1]
    np.testing.assert_allclose(fused, unfused, rtol=1e-10, atol=1e-12)
    # changing a weight through the API invalidates the folded copy
    bn = next(l for l in model.layers if isinstance(l, layers.BatchNormalization))
    w = bn.get_weights()
    w[0] = w[0] * 3
    bn.set_weights(w)
    np.testing.assert_allclose(model.predict(x), [y for l, y in model.layer_outputs(x)][-1],
                               rtol=1e-10, atol=1e-12)
    assert np.abs(model.predict(x) - fused).max() > 1e-6


def _encoder_decoder(up):
    """Conv -> MaxPool -> (Conv2DTranspose | UpSampling2D) -> Concatenate skip -> Conv: a
    U-Net in miniature, mapping 8x8x1 images to 8x8x1 maps."""
    inp = layers.Input((8, 8, 1))
    e = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    d = layers.MaxPooling2D(2)(e)
    d = layers.Conv2D(8, 3, padding="same", activation="relu")(d)
    if up == "transpose":
        d = layers.Conv2DTranspose(8, 2, strides=2, padding="same")(d)
    else:
        d = layers.Conv2D(8, 1)(layers.UpSampling2D(2, interpolation=up)(d))
    x = layers.Concatenate()([e, d])
    out = layers.Conv2D(1, 1)(layers.Conv2D(8, 3, padding="same", activation="relu")(x))
    return models.Model(inp, out, seed=0)


@pytest.mark.parametrize("up", ["transpose", "nearest", "bilinear"])
def test_encoder_decoder_trains(up):
    """Per-pixel regression (a blurred copy of the input) with mean squared error: the
    loss falls, and predictions are channels-last maps."""
    if up != "transpose" and not hasattr(layers, "UpSampling2D"):
        pytest.skip("UpSampling2D is not available")
    model = _encoder_decoder(up)
    rng = np.random.default_rng(0)
    x = rng.random((32, 8, 8, 1), dtype=np.float32)
    blur = (x + np.roll(x, 1, axis=1) + np.roll(x, 1, axis=2)) / 3.0
    model.compile("adam", "mse")
    history = model.fit(x, blur, epochs=20, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert model.predict(x[:2]).shape == (2, 8, 8, 1)
    with pytest.raises(ValueError, match="images of shape"):
        model.fit(x, blur[:, :4], verbose=0)


def _residual_model(dtype="float64"):
    inp = layers.Input((6, 6, 2))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(3, 3, padding="same")(inp)))
    y = layers.BatchNormalization()(layers.Conv2D(3, 3, padding="same")(x))
    x = layers.ReLU()(layers.Add()([x, layers.ReLU()(y)]))
    out = layers.Dense(3)(layers.GlobalAveragePooling2D()(x))
    model = models.Model(inp, out, seed=4, dtype=dtype)
    model.compile("sgd", SCCE)
    return model


def test_training_fuses_batch_norm_and_relu_and_gradients_stay_exact():
    from fastconv.models.fusion import FusedAddReLU, FusedBNReLU
    rng = np.random.default_rng(8)
    model = _residual_model()
    plan = model._get_plan()
    assert sum(isinstance(s.layer, FusedBNReLU) for s in plan.train_steps) == 2
    assert sum(isinstance(s.layer, FusedAddReLU) for s in plan.train_steps) == 1
    _gradcheck(model, [rng.standard_normal((5, 2, 6, 6))], np.array([0, 1, 2, 1, 0]), rng)


def _resnet_blocks(dtype="float64", frozen=False):
    """Two ResNet blocks: an identity shortcut (batch norm -> add -> ReLU with the block's
    input) and a projection (both inputs of the add are batch norms); ``frozen``: the
    second block's last batch norm does not train (it runs in inference mode)."""
    inp = layers.Input((6, 6, 3))
    x = layers.ReLU()(layers.BatchNormalization()(layers.Conv2D(3, 3, padding="same")(inp)))
    y = layers.BatchNormalization()(layers.Conv2D(3, 3, padding="same")(x))
    x = layers.ReLU()(layers.Add()([y, x]))
    y = layers.Conv2D(4, 3, strides=2, padding="same")(x)
    bn = layers.BatchNormalization()
    bn.trainable = not frozen
    y = bn(y)
    s = layers.BatchNormalization()(layers.Conv2D(4, 1, strides=2)(x))
    x = layers.ReLU()(layers.Add()([s, y]))
    out = layers.Dense(3)(layers.GlobalAveragePooling2D()(x))
    model = models.Model(inp, out, seed=6, dtype=dtype)
    model.compile("sgd", SCCE)
    return model


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("frozen", [False, True])
def test_batch_norm_add_relu_in_one_pass_is_bitwise_the_unfused(dtype, frozen, monkeypatch):
    """Training runs each ResNet block's batch norm -> add -> ReLU as one step (one pass:
    the batch norm's output is never written), which changes no bit of a training step --
    losses, weights, moving statistics -- against the layer-by-layer steps, a frozen batch
    norm (inference mode, the unfused ops inside the step) included; and its gradients
    match central differences."""
    from fastconv.models import plan as plan_module
    from fastconv.models.fusion import FusedBNAddReLU
    rng = np.random.default_rng(10)
    x = rng.standard_normal((5, 6, 6, 3)).astype(dtype)
    y = rng.integers(0, 3, 5)
    fused = _resnet_blocks(dtype, frozen)
    assert sum(isinstance(s.layer, FusedBNAddReLU) for s in fused._get_plan().train_steps) == 2
    if dtype == "float64" and not frozen:
        _gradcheck(_resnet_blocks(dtype), [rng.standard_normal((4, 3, 6, 6))],
                   np.array([0, 1, 2, 1]), rng)
    monkeypatch.setattr(plan_module, "fuse_training_steps", lambda steps, outs, make: steps)
    plain = _resnet_blocks(dtype, frozen)
    for _ in range(3):
        assert fused.train_on_batch(x, y) == plain.train_on_batch(x, y)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_training_steps_are_bitwise_the_unfused(dtype, monkeypatch):
    """Batch norm -> ReLU and add -> ReLU as one step each change no bit of a training
    step: losses, weights and input gradients equal those of the layer-by-layer steps."""
    from fastconv.models import plan as plan_module
    rng = np.random.default_rng(9)
    x = rng.standard_normal((7, 6, 6, 2)).astype(dtype)
    y = rng.integers(0, 3, 7)
    from fastconv.models.fusion import FusedAddReLU
    fused = _residual_model(dtype)
    assert any(isinstance(s.layer, FusedAddReLU) for s in fused._get_plan().train_steps)
    monkeypatch.setattr(plan_module, "fuse_training_steps", lambda steps, outs, make: steps)
    plain = _residual_model(dtype)
    assert not any(isinstance(s.layer, FusedAddReLU) for s in plain._get_plan().train_steps)
    for _ in range(3):
        assert fused.train_on_batch(x, y) == plain.train_on_batch(x, y)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_residual_joins_sum_in_the_convolution_bitwise(dtype, monkeypatch):
    """Where a block's input feeds a convolution and a shortcut, the backward pass hands
    the shortcut's gradient to the convolution, which adds it as it writes the input
    gradient: no separate sum runs, and no bit of a training step changes."""
    from fastconv.layers.conv import _ConvBase
    from fastconv.models import plan as plan_module
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 6, 6, 3)).astype(dtype)
    y = rng.integers(0, 3, 5)
    sums = []
    real_sum = plan_module._sum_gradients
    monkeypatch.setattr(plan_module, "_sum_gradients",
                        lambda *a, **k: sums.append(1) or real_sum(*a, **k))
    joined = _resnet_blocks(dtype)
    losses_joined = [joined.train_on_batch(x, y) for _ in range(3)]
    assert not sums
    monkeypatch.setattr(_ConvBase, "_adds_input_grad", False)
    plain = _resnet_blocks(dtype)
    assert [plain.train_on_batch(x, y) for _ in range(3)] == losses_joined
    assert sums    # the joins summed separately
    for a, b in zip(joined.get_weights(), plain.get_weights()):
        assert a.tobytes() == b.tobytes()
