"""Each pass of a stride-2 convolution on Winograd's stride-2 path against the kernels it
replaced, side by side in one run: the geometry's WINOGRAD_S2 / WINOGRAD_S2_DATA /
WINOGRAD_S2_WEIGHT bit set ("winograd-s2") or cleared ("other": the direct kernels, or
the GEMM + col2im input gradient), whatever the size rule says -- the measurements the
rule in ``fastconv.geometry.winograd_s2_wins`` rests on.

    pytest benchmarks/bench_conv_paths.py --benchmark-group-by=group --benchmark-columns=min,median

The stride-2 path's transforms are AVX-512 ones; on other CPUs it runs their portable
twins (correct, slow). CI runs this file once with --benchmark-disable as a smoke test
that also checks both paths agree.
"""
import numpy as np
import pytest

import fastconv
from fastconv import geometry, _conv

# name: (N, C, K, H, R) -- stride 2, padding 1, batch 64 as in the layer benchmark
CASES = {
    "strided": (64, 32, 64, 32, 3),          # the layer set's 'strided'
    "resnet20-32-64": (64, 32, 64, 16, 3),   # ResNet-20's second stride-2 layer
    "resnet20-16-32": (64, 16, 32, 32, 3),   # its first (16 channels: the rule says no)
    "4x4-32-64": (64, 32, 64, 16, 4),        # a 4x4 stride-2 layer (a transposed one's twin)
}
PASSES = {"forward": geometry.WINOGRAD_S2, "input-gradient": geometry.WINOGRAD_S2_DATA,
          "weight-gradient": geometry.WINOGRAD_S2_WEIGHT}


def _setup(name):
    N, C, K, H, R = CASES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H)).astype(np.float32)
    w = (rng.standard_normal((K, C, R, R)) / np.sqrt(C * R * R)).astype(np.float32)
    g = geometry.conv2d_geometry(x.shape, w.shape, 2, 1, 1)
    gy = rng.standard_normal((N, K, g.Ho, g.Wo)).astype(np.float32)
    return x, w, gy, g


def _runner(name, pass_, path):
    x, w, gy, g = _setup(name)
    base = list(geometry.conv_kernel_args(g))
    bit = PASSES[pass_]
    args = tuple(base[:-1] + [base[-1] | bit if path == "winograd-s2" else base[-1] & ~bit])
    nt = fastconv.get_num_threads()
    if pass_ == "forward":
        out = np.empty_like(gy)
        return lambda: (_conv.forward(x, w, None, args, 0, 0.0, out, nt), out)[1], args, 0
    if pass_ == "input-gradient":
        out = np.empty_like(x)
        return lambda: (_conv.backward_data(gy, w, args, out, nt, None, None), out)[1], args, 1
    gw, gb = np.zeros_like(w), np.zeros(w.shape[0], np.float32)

    def weight_gradient():
        gw[...] = 0
        gb[...] = 0
        _conv.backward_weight(x, gy, args, gw, gb, nt)
        return gw
    return weight_gradient, args, 2


@pytest.mark.parametrize("path", ["winograd-s2", "other"])
@pytest.mark.parametrize("pass_", list(PASSES))
@pytest.mark.parametrize("name", list(CASES))
def test_stride2_pass(benchmark, name, pass_, path):
    run, args, op = _runner(name, pass_, path)
    benchmark.group = f"{name} {pass_}"
    benchmark.extra_info["kernels"] = _conv.conv_path(args, op, 4)
    out = benchmark(run)
    # both paths give the same result within float32 rounding of the transforms
    other, _, _ = _runner(name, pass_, "other" if path == "winograd-s2" else "winograd-s2")
    expected = other().copy()
    scale = max(float(np.abs(expected).max()), 1e-6)
    assert np.abs(out - expected).max() <= 1e-4 * scale, (name, pass_, path)
