"""The inference runners (fastconv.models.fusion): bitwise the unfused layers' results,
and an add that writes into a dead input buffer never touches what a caller can see."""
import numpy as np
import pytest

from fastconv import functional as F
from fastconv import layers, models
from fastconv.models.fusion import FusedAddReLU, FusedConvAdd, PackedDense


def _infer_steps(model):
    return model._get_plan()._inference_steps()[0]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reuse", [None, 0, 1])
def test_fused_add_relu_is_bitwise_add_then_relu(dtype, reuse):
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((2, 3, 5, 4)).astype(dtype) for _ in range(3)]
    xs[0][0, 0, 0, :2] = np.nan
    for n in (2, 3):
        expect = F.relu(F.add(xs[:n]))
        runner = FusedAddReLU(layers.Add(), layers.ReLU())
        runner.reuse = reuse
        args = [x.copy() for x in xs[:n]]
        y, _ = runner.forward(args)
        assert y.tobytes() == expect.tobytes()
        if reuse is not None:
            assert y is args[reuse]
        else:
            for a, x in zip(args, xs):
                assert a.tobytes() == x.tobytes()


def test_fused_add_relu_does_not_write_into_a_view():
    x = np.random.default_rng(1).standard_normal((1, 2, 4, 4)).astype(np.float32)
    base = np.concatenate([x, x])
    view = base[:1]
    runner = FusedAddReLU(layers.Add(), layers.ReLU())
    runner.reuse = 0
    before = base.copy()
    y, _ = runner.forward([view, x])
    assert y is not view and np.array_equal(base, before)
    assert y.tobytes() == F.relu(view + x).tobytes()


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "elu", "leaky_relu",
                                        "relu6", "hard_sigmoid", "hard_swish", "silu", "gelu",
                                        "softplus", "softmax"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_packed_dense_is_bitwise_the_dense_layer(activation, dtype):
    inp = layers.Input((7,))
    dense = layers.Dense(5, activation=activation)
    model = models.Model(inp, dense(inp), seed=3, dtype=dtype)
    x = np.random.default_rng(2).standard_normal((3, 7)).astype(dtype)
    expect, _ = dense.forward(x)
    got, _ = PackedDense(dense).forward(x)
    assert got.tobytes() == expect.tobytes()
    # a non-contiguous input takes the validating path, with the same result
    xt = np.asfortranarray(x)
    assert PackedDense(dense).forward(xt)[0].tobytes() == expect.tobytes()
    assert model.predict(x).shape == (3, 5)


def _residual(alias=None):
    """conv -> conv -> add(skip) -> relu; ``alias``: where a layer passing its input on
    (Identity) reads a buffer the add could otherwise overwrite."""
    inp = layers.Input((6, 6, 4))
    a = layers.Conv2D(4, 3, padding="same")(inp)
    b = layers.Conv2D(4, 3, padding="same")(layers.ReLU()(a))
    outs = []
    if alias == "branch":
        keep = layers.Identity()(b)
        outs.append(layers.Conv2D(2, 1)(keep))
    y = layers.ReLU()(layers.Add()([a, b]))
    if alias == "skip_output":
        outs.append(a)
    if alias == "model_input":
        y = layers.ReLU()(layers.Add()([inp, y]))
    out = layers.Conv2D(3, 1)(y)
    return models.Model(inp, [out] + outs if outs else out, seed=1)


@pytest.mark.parametrize("alias", [None, "branch", "skip_output", "model_input"])
def test_add_reuses_only_dead_private_buffers(alias, monkeypatch):
    from fastconv.models import fusion
    # the adds stay separate steps here (not folded into the convolutions' write-back)
    monkeypatch.setattr(fusion, "_fuse_residual_adds", lambda steps, outputs, make: steps)
    model = _residual(alias)
    x = np.random.default_rng(4).standard_normal((2, 6, 6, 4)).astype(np.float32)
    x_before = x.copy()
    fused = model.predict(x)
    fused = fused if isinstance(fused, list) else [fused]
    assert np.array_equal(x, x_before)
    steps = _infer_steps(model)
    plan = model._get_plan()
    adds = [s for s in steps if type(s.layer) is FusedAddReLU]
    assert adds
    for s in adds:
        if s.layer.reuse is not None:
            slot = s.inputs[s.layer.reuse]
            assert slot not in plan.input_slots and slot not in plan.output_slots
    if alias == "branch":     # b is read later through the Identity: the add must not reuse it
        assert all(s.inputs[s.layer.reuse] != s.inputs[1] for s in adds
                   if s.layer.reuse is not None)
    if alias is None:
        assert adds[0].layer.reuse is not None
    # layer by layer (no fusion, no reuse): the same outputs
    unfused = model.layer_outputs(x)
    assert np.array_equal(x, x_before)
    if len(fused) == 1:
        np.testing.assert_allclose(fused[0], unfused[-1][1], rtol=1e-5, atol=1e-5)
    # repeated predictions are stable (no buffer carried over between calls)
    again = model.predict(x)
    again = again if isinstance(again, list) else [again]
    for a, b in zip(fused, again):
        assert np.array_equal(a, b)


def test_plan_inputs_and_outputs_are_not_overwritten():
    model = _residual("skip_output")
    plan = model._get_plan()
    x = np.random.default_rng(5).standard_normal((1, 4, 6, 6)).astype(np.float32)
    x_before = x.copy()
    outs, _ = plan.forward([x])
    copies = [o.copy() for o in outs]
    assert np.array_equal(x, x_before)
    outs2, _ = plan.forward([x])
    for o, c, o2 in zip(outs, copies, outs2):
        assert np.array_equal(o, c) and np.array_equal(o2, c)


def test_resnet_adds_run_in_the_convolution_write_back():
    model = models.resnet20(seed=0)
    x = np.random.default_rng(6).random((2, 32, 32, 3), dtype=np.float32)
    fused = model.predict(x)
    steps = _infer_steps(model)
    assert sum(type(s.layer) is FusedConvAdd for s in steps) == 9
    assert not any(type(s.layer) in (FusedAddReLU, layers.Add) for s in steps)
    unfused = model.layer_outputs(x)[-1][1]
    np.testing.assert_allclose(fused, unfused, rtol=1e-5, atol=1e-6)


def _conv_add_model(shortcut_first, relu, seed=3):
    """conv -> BN -> add(shortcut) [-> relu], the shortcut a 1x1 conv made before or after
    the main branch (so the fused step must wait for it)."""
    inp = layers.Input((8, 8, 4))
    def main():
        return layers.BatchNormalization()(layers.Conv2D(6, 3, padding="same")(inp))
    def short():
        return layers.Conv2D(6, 1, strides=1)(inp)
    if shortcut_first:
        s = short(); m = main()
    else:
        m = main(); s = short()
    y = layers.Add()([m, s] if seed % 2 else [s, m])
    if relu:
        y = layers.ReLU()(y)
    out = layers.Dense(3)(layers.Flatten()(y))
    return models.Model(inp, out, seed=seed)


@pytest.mark.parametrize("shortcut_first", [False, True])
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("seed", [3, 4])
@pytest.mark.parametrize("batch", [1, 5])
def test_conv_add_fusion_is_bitwise_the_unfused_steps(shortcut_first, relu, seed, batch,
                                                      monkeypatch):
    from fastconv.models import fusion
    x = np.random.default_rng(seed).standard_normal((batch, 8, 8, 4)).astype(np.float32)
    model = _conv_add_model(shortcut_first, relu, seed)
    for layer in model.layers:          # statistics away from the identity
        if isinstance(layer, layers.BatchNormalization):
            rng = np.random.default_rng(seed)
            layer.set_weights([rng.uniform(0.5, 2, 6), rng.normal(0, 1, 6),
                               rng.normal(0, 0.5, 6), rng.uniform(0.5, 2, 6)])
    fused = model.predict(x, batch_size=batch)
    assert sum(type(s.layer) is FusedConvAdd for s in _infer_steps(model)) == 1
    monkeypatch.setattr(fusion, "_fuse_residual_adds", lambda steps, outputs, make: steps)
    plain = _conv_add_model(shortcut_first, relu, seed)
    plain.set_weights(model.get_weights())
    assert not any(type(s.layer) is FusedConvAdd for s in _infer_steps(plain))
    assert fused.tobytes() == plain.predict(x, batch_size=batch).tobytes()


def test_conv_add_is_not_fused_when_the_conv_output_is_read_elsewhere():
    inp = layers.Input((6, 6, 3))
    c = layers.Conv2D(3, 3, padding="same")(inp)
    y = layers.Add()([c, inp])
    out = layers.Concatenate()([y, c])     # c has a second reader
    model = models.Model(inp, out, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    fused = model.predict(x)
    assert not any(type(s.layer) is FusedConvAdd for s in _infer_steps(model))
    np.testing.assert_allclose(fused, model.layer_outputs(x)[-1][1], rtol=1e-6, atol=1e-6)
