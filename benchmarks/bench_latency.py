"""Inference latency of single layers: batch 1 (and the batch-64 small-channel case),
fastconv with plain and prepared (packed) weights, and PyTorch when installed.

    pytest benchmarks/bench_latency.py --benchmark-group-by=group --benchmark-columns=median,ops

Shapes: tfcnn's first convolution (3 -> 32, 3x3 valid on 32x32) at batch 1 and 64,
(1,16,32,32) x 16 3x3 pad 1, (1,64,8,8) x 64 3x3 pad 1, and linear 1024 -> 64 at 1 and 64
rows. Smoke-runnable with ``--benchmark-disable``: every engine's output is checked
against the NumPy reference first.
"""
import numpy as np
import pytest

from fastconv import functional as F
from fastconv import reference as ref

try:
    import torch
    torch.set_num_threads(int(__import__("fastconv").get_num_threads()))
except ImportError:  # PyTorch is an optional comparison
    torch = None

ENGINES = ["fastconv", "fastconv-packed"] + (["torch"] if torch is not None else [])

# name: (x shape, weight shape, padding)
CONVS = {
    "tfcnn-c1-b1": ((1, 3, 32, 32), (32, 3, 3, 3), "valid"),
    "tfcnn-c1-b64": ((64, 3, 32, 32), (32, 3, 3, 3), "valid"),
    "c16-32x32-b1": ((1, 16, 32, 32), (16, 16, 3, 3), 1),
    "c64-8x8-b1": ((1, 64, 8, 8), (64, 64, 3, 3), 1),
}
LINEARS = {"linear-1x1024-64": (1, 1024, 64), "linear-64x1024-64": (64, 1024, 64)}


def _conv_fn(engine, x, w, b, pad):
    if engine == "torch":
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
        tpad = 0 if pad == "valid" else pad

        def run():
            with torch.no_grad():
                return torch.nn.functional.conv2d(tx, tw, tb, padding=tpad).numpy()
        return run
    if engine == "fastconv-packed":
        packed = F.pack_conv2d_weight(w, padding=pad, x_shape=x.shape)
        return lambda: F.conv2d(x, packed, b, padding=pad)
    return lambda: F.conv2d(x, w, b, padding=pad)


def _linear_fn(engine, x, w, b):
    if engine == "torch":
        tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))

        def run():
            with torch.no_grad():
                return torch.nn.functional.linear(tx, tw, tb).numpy()
        return run
    if engine == "fastconv-packed":
        packed = F.pack_linear_weight(w)
        return lambda: F.linear(x, packed, b)
    return lambda: F.linear(x, w, b)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(CONVS))
def test_conv_latency(benchmark, name, engine):
    xs, ws, pad = CONVS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = rng.standard_normal(ws).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    fn = _conv_fn(engine, x, w, b, pad)
    np.testing.assert_allclose(fn(), ref.conv2d(x, w, b, padding=pad), rtol=1e-4, atol=1e-3)
    benchmark.group = name
    benchmark(fn)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", list(LINEARS))
def test_linear_latency(benchmark, name, engine):
    n, n_in, n_out = LINEARS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, n_in)).astype(np.float32)
    w = rng.standard_normal((n_out, n_in)).astype(np.float32)
    b = rng.standard_normal(n_out).astype(np.float32)
    fn = _linear_fn(engine, x, w, b)
    np.testing.assert_allclose(fn(), ref.linear(x, w, b), rtol=1e-4, atol=1e-3)
    benchmark.group = name
    benchmark(fn)
