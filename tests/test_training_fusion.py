"""Training fusions of the classic conv -> ReLU -> max-pool block: the pooling kernel takes
the ReLU's gradient (``relu_mask``), bitwise the two separate steps, and a model's training
step with the fused block changes no bit and keeps exact gradients. Batch norm's input
gradient written over its output gradient: only where nothing else reads that gradient,
bitwise the same training."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv.functional as F
from fastconv import _pool, geometry as geo, layers, losses, models
from fastconv.models.fusion import FusedConvReLUPool


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(2, 11), w=st.integers(2, 11),
       k=st.integers(1, 3), s=st.integers(1, 3), pad=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]), seed=st.integers(0, 2**16))
def test_relu_mask_is_bitwise_relu_backward_of_max_pool_backward(n, c, h, w, k, s, pad, dtype,
                                                                  seed):
    k, pad = min(k, h, w), (k // 2 if pad else 0)
    rng = np.random.default_rng(seed)
    # a ReLU's output: zeros (ties, windows with no positive value) and positives
    x = np.maximum(rng.standard_normal((n, c, h, w)), 0).astype(dtype)
    x[rng.random(x.shape) < 0.1] = 0.0
    y = F.max_pool2d(x, k, s, pad)
    g = rng.standard_normal(y.shape).astype(dtype)
    expected = F.relu_backward(F.max_pool2d_backward(g, x, k, s, pad), x)
    got = np.empty_like(x)
    geom = geo.pool2d_geometry(x.shape, k, s, pad, False, "max_pool2d")
    for threads in (1, 2):
        _pool.max_backward(g, x, geo.pool_kernel_args(geom), got, threads, True)
        assert got.tobytes() == expected.tobytes()


def _block_model(dtype="float32", seed=0):
    """conv(ReLU) -> 2x2 pool (the AVX2 fast path), conv(ReLU) -> 3x3/2 'same' pool
    (overlapping windows: the general path), then a classifier."""
    return models.Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(10, 10, 2)),
        layers.MaxPooling2D(2),
        layers.Conv2D(5, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(3, strides=2, padding="same"),
        layers.Flatten(),
        layers.Dense(3),
    ], seed=seed, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_conv_relu_pool_training_step_is_bitwise_the_unfused(dtype, monkeypatch):
    from fastconv.models import fusion
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 10, 10, 2)).astype(dtype)
    y = rng.integers(0, 3, 6)
    opt = dict(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    fused = _block_model(dtype)
    fused.compile(**opt)
    steps = fused._get_plan().train_steps
    assert sum(isinstance(s.layer, FusedConvReLUPool) for s in steps) == 2
    monkeypatch.setattr(fusion, "_conv_relu_then_pool", lambda *a: False)
    plain = _block_model(dtype)
    plain.compile(**opt)
    assert not any(isinstance(s.layer, FusedConvReLUPool) for s in plain._get_plan().train_steps)
    for _ in range(3):
        assert fused.train_on_batch(x, y) == plain.train_on_batch(x, y)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_conv_relu_pool_gradients_match_finite_differences():
    """Weight and input gradients of the fused block (float64) against central differences."""
    rng = np.random.default_rng(4)
    model = _block_model("float64", seed=1)
    model.compile(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    xs = [rng.standard_normal((3, 2, 10, 10))]          # internal layout (N, C, H, W)
    ys = model._prepare_y(np.array([0, 2, 1]), 3)
    plan = model._get_plan()
    assert any(isinstance(s.layer, FusedConvReLUPool) for s in plan.train_steps)

    def loss():
        outs, ctxs = plan.forward(xs, True, keep_ctx=True)
        return model._loss_and_grads(plan, outs, ctxs, ys, True)

    outs, ctxs = plan.forward(xs, True, keep_ctx=True)
    value, grads = model._loss_and_grads(plan, outs, ctxs, ys, True)
    gin = plan.backward(ctxs, grads, input_grad=True)
    checks = [(f"{layer.name}.{k}", p, layer.grads[k].copy())
              for layer in model.layers for k, p in layer.params.items()]
    checks.append(("input", xs[0], gin[0]))
    for what, p, analytic in checks:
        flat = p.reshape(-1)
        for i in rng.choice(flat.size, min(flat.size, 8), replace=False):
            old = flat[i]
            flat[i] = old + 1e-6
            up = loss()[0]
            flat[i] = old - 1e-6
            down = loss()[0]
            flat[i] = old
            np.testing.assert_allclose(analytic.reshape(-1)[i], (up - down) / 2e-6, rtol=1e-5,
                                       atol=1e-8, err_msg=what)


def _bn_models(dtype):
    """A MobileNet-style chain (every batch norm's output gradient a convolution's new
    array), a graph whose batch norm -> ReLU feeds an Add: the Add hands the same
    gradient array to its other input, which reads it after the batch norm's step, and
    a ResNet block's end (batch norm -> add -> ReLU, one fused step) below a convolution,
    whose masked gradient goes to the shortcut."""
    chain = models.Sequential([
        layers.Conv2D(4, 3, padding="same", use_bias=False, input_shape=(8, 8, 3)),
        layers.BatchNormalization(), layers.ReLU(),
        layers.DepthwiseConv2D(3, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.ReLU(),
        layers.Conv2D(6, 1, use_bias=False), layers.BatchNormalization(),
        layers.GlobalAveragePooling2D(), layers.Dense(3),
    ], seed=5, dtype=dtype)
    inputs = layers.Input((8, 8, 3))
    c = layers.Conv2D(4, 1)(inputs)      # first made, so its backward step runs last
    a = layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs)
    b = layers.ReLU()(layers.BatchNormalization()(a))
    x = layers.Add()([b, c])
    graph = models.Model(inputs, layers.Dense(3)(layers.GlobalAveragePooling2D()(x)), seed=6,
                         dtype=dtype)
    inputs = layers.Input((8, 8, 3))
    c = layers.Conv2D(4, 1)(inputs)
    a = layers.BatchNormalization()(layers.Conv2D(4, 3, padding="same", use_bias=False)(inputs))
    x = layers.Conv2D(5, 3, padding="same")(layers.ReLU()(layers.Add()([a, c])))
    block = models.Model(inputs, layers.Dense(3)(layers.GlobalAveragePooling2D()(x)), seed=8,
                         dtype=dtype)
    return chain, graph, block


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_norm_writes_over_its_output_gradient_only_when_no_one_else_reads_it(
        dtype, monkeypatch):
    from fastconv.layers.normalization import BatchNormalization
    from fastconv.models.fusion import FusedBNAddReLU, FusedBNReLU
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 8, 8, 3)).astype(dtype)
    y = rng.integers(0, 3, 5)
    opt = dict(optimizer="sgd", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    calls = []
    original = BatchNormalization._backward

    def spy(self, grad_out, ctx, input_grad, reuse_grad_out=False):
        calls.append((self.name, reuse_grad_out))
        return original(self, grad_out, ctx, input_grad, reuse_grad_out)

    original_add = BatchNormalization._backward_add_relu

    def spy_add(self, grad_out, ctx, y, reuse_grad_out=False):
        calls.append((self.name, reuse_grad_out))
        return original_add(self, grad_out, ctx, y, reuse_grad_out)

    monkeypatch.setattr(BatchNormalization, "_backward", spy)
    monkeypatch.setattr(BatchNormalization, "_backward_add_relu", spy_add)
    reusing = _bn_models(dtype)
    for m in reusing:
        m.compile(**opt)
        m.train_on_batch(x, y)
    assert sum(isinstance(s.layer, FusedBNAddReLU) for s in reusing[2]._get_plan().train_steps)
    chain_calls, graph_calls, block_calls = calls[:3], calls[3:4], calls[4:]
    # the chain's two batch norms below a convolution take its gradient's memory; the
    # last one's gradient comes from global pooling, which does not say it is new
    assert [r for _, r in chain_calls] == [False, True, True]
    assert graph_calls and not any(r for _, r in graph_calls)   # the Add's shared gradient
    assert [r for _, r in block_calls] == [True]    # the block end's masked gradient

    for cls in (BatchNormalization, FusedBNReLU, FusedBNAddReLU):
        monkeypatch.setattr(cls, "_reuses_grad_out", False)
    plain = _bn_models(dtype)
    for m, p in zip(reusing, plain):
        p.compile(**opt)
        p.train_on_batch(x, y)
        for _ in range(2):
            assert m.train_on_batch(x, y) == p.train_on_batch(x, y)
        for a, b in zip(m.get_weights(), p.get_weights()):
            assert a.tobytes() == b.tobytes()
