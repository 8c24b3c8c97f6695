"""Convolution and pooling per layer of the benchmark layer set (benchmarks/README.md):
fastconv, the NumPy reference and (when installed) PyTorch, forward and forward+backward,
grouped per layer.

    pytest benchmarks/bench_conv.py --benchmark-group-by=group --benchmark-columns=median,ops

Each benchmark records GFLOP/s in extra_info (from its median). CI runs this file once
with --benchmark-disable as a smoke test that also checks every engine agrees.
"""
import numpy as np
import pytest

from fastconv import functional as F
from fastconv import reference as ref
from fastconv.bench import LAYERS, forward_flops, make_inputs

try:
    import torch
    torch.set_num_threads(int(__import__("fastconv").get_num_threads()))
except ImportError:  # PyTorch is an optional comparison
    torch = None

ENGINES = ["fastconv", "reference"] + (["torch"] if torch is not None else [])


def _conv_fns(engine, layer):
    N, C, H, W, K, Fk, S, P = layer
    x, w, b, g = make_inputs(layer)
    if engine == "torch":
        tx = torch.from_numpy(x).requires_grad_(True)
        tw = torch.from_numpy(w).requires_grad_(True)
        tb = torch.from_numpy(b).requires_grad_(True)
        tg = torch.from_numpy(g)

        def fwd():
            with torch.no_grad():
                return torch.nn.functional.conv2d(tx, tw, tb, stride=S, padding=P).numpy()

        def fwd_bwd():
            tx.grad = tw.grad = tb.grad = None
            y = torch.nn.functional.conv2d(tx, tw, tb, stride=S, padding=P)
            y.backward(tg)
            return y.detach().numpy(), tw.grad.numpy()
        return fwd, fwd_bwd
    mod = F if engine == "fastconv" else ref

    def fwd():
        return mod.conv2d(x, w, b, stride=S, padding=P)

    def fwd_bwd():
        y = mod.conv2d(x, w, b, stride=S, padding=P)
        _, gw, _ = mod.conv2d_backward(g, x, w, stride=S, padding=P)
        return y, gw
    return fwd, fwd_bwd


def _record(benchmark, flops):
    stats = getattr(benchmark, "stats", None)
    if stats is not None and stats.stats.median > 0:
        benchmark.extra_info["gflops"] = flops / stats.stats.median / 1e9


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(LAYERS))
def test_conv2d_forward(benchmark, name, engine):
    layer = LAYERS[name]
    benchmark.group = f"{name} conv2d forward"
    fwd, _ = _conv_fns(engine, layer)
    y = benchmark(fwd)
    x, w, b, _ = make_inputs(layer)
    if engine != "reference" and name in ("lenet-c1", "cifar-c3"):  # cheap spot check
        np.testing.assert_allclose(y, ref.conv2d(x, w, b, stride=layer[6], padding=layer[7]),
                                   rtol=1e-3, atol=1e-3)
    _record(benchmark, forward_flops(layer))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(LAYERS))
def test_conv2d_forward_backward(benchmark, name, engine):
    layer = LAYERS[name]
    benchmark.group = f"{name} conv2d forward+backward"
    _, fwd_bwd = _conv_fns(engine, layer)
    y, gw = benchmark(fwd_bwd)
    assert np.isfinite(gw).all()
    _record(benchmark, 3 * forward_flops(layer))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", ["lenet-c1", "cifar-c2", "resnet-c"])
def test_max_pool2d(benchmark, name, engine):
    N, C, H, W, K, Fk, S, P = LAYERS[name]
    x = np.random.default_rng(0).standard_normal((N, K, H, W)).astype(np.float32)
    benchmark.group = f"{name} max_pool2d 2x2 forward+backward"
    if engine == "torch":
        tx = torch.from_numpy(x).requires_grad_(True)

        def run():
            tx.grad = None
            y = torch.nn.functional.max_pool2d(tx, 2)
            y.backward(torch.ones_like(y))
            return tx.grad.numpy()
    else:
        mod = F if engine == "fastconv" else ref

        def run():
            y = mod.max_pool2d(x, 2)
            return mod.max_pool2d_backward(np.ones_like(y), x, 2)
    gx = benchmark(run)
    assert gx.sum() == pytest.approx(N * K * (H // 2) * (W // 2))
