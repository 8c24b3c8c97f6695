"""The inference runners (fastconv.models.fusion): bitwise the unfused layers' results,
and an add that writes into a dead input buffer never touches what a caller can see."""
import numpy as np
import pytest

from fastconv import functional as F
from fastconv import layers, models
from fastconv.models.fusion import FusedAddReLU, PackedDense


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
def test_add_reuses_only_dead_private_buffers(alias):
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


def test_resnet_adds_reuse_a_buffer():
    model = models.resnet20(seed=0) if hasattr(models, "resnet20") else None
    if model is None:
        pytest.skip("no resnet20")
    x = np.random.default_rng(6).random((1, 32, 32, 3), dtype=np.float32)
    model.predict(x)
    adds = [s for s in _infer_steps(model) if type(s.layer) is FusedAddReLU]
    assert len(adds) == 9 and all(s.layer.reuse is not None for s in adds)
