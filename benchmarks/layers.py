"""The benchmark layer set of DESIGN.md and helpers shared by the benchmarks."""
import numpy as np

# name: (N, C, H, W, K, F, S, P)
LAYERS = {
    "lenet-c1": (64, 1, 28, 28, 6, 5, 1, 0),
    "lenet-c3": (64, 6, 12, 12, 16, 5, 1, 0),
    "cifar-c1": (64, 3, 32, 32, 32, 3, 1, 1),
    "cifar-c2": (64, 32, 16, 16, 64, 3, 1, 1),
    "cifar-c3": (64, 64, 8, 8, 64, 3, 1, 1),
    "resnet-c": (32, 64, 56, 56, 64, 3, 1, 1),
    "strided": (64, 32, 32, 32, 64, 3, 2, 1),
}


def output_hw(H, W, F, S, P):
    return (H + 2 * P - F) // S + 1, (W + 2 * P - F) // S + 1


def forward_flops(layer):
    """2 * N * K * Ho * Wo * C * F^2 (one multiply-add is two flops)."""
    N, C, H, W, K, F, S, P = layer
    Ho, Wo = output_hw(H, W, F, S, P)
    return 2 * N * K * Ho * Wo * C * F * F


def make_inputs(layer, dtype=np.float32, seed=0):
    N, C, H, W, K, F, S, P = layer
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (rng.standard_normal((K, C, F, F)) / np.sqrt(C * F * F)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    Ho, Wo = output_hw(H, W, F, S, P)
    g = rng.standard_normal((N, K, Ho, Wo)).astype(dtype)
    return x, w, b, g
