"""One training step (``train_on_batch``) of LeNet-5 on a 28x28x1 batch of 64: fastconv's
layer API against the same network in PyTorch (when installed), one benchmark group.

    pytest benchmarks/bench_train_step.py --benchmark-group-by=group \
        --benchmark-columns=median,ops,rounds

Both sides run the same step: forward, softmax cross-entropy on integer labels, backward,
SGD with momentum 0.9, starting from the same weights (copied from fastconv into PyTorch),
with the same number of threads.  ``extra_info['steps_per_s']`` holds 1 / median;
fastconv's steps/s over PyTorch's is its speed-up.  With --benchmark-disable (CI smoke
run) each test runs once and the two engines are checked to compute the same loss.

Run as a script for an interleaved side-by-side comparison, which holds up better than two
separate benchmarks on a busy machine (rounds of fastconv and PyTorch steps alternate in one
process; medians of the rounds and the per-round ratio are reported):

    python benchmarks/bench_train_step.py --threads 1 2 --rounds 9 --steps 30
"""
import argparse
import statistics
import time

import numpy as np
import pytest

import fastconv
from fastconv import losses, models, optimizers

N, H, W, C, CLASSES = 64, 28, 28, 1, 10
GROUP = "train_step_lenet5_28x28x1_b64"


def _data():
    rng = np.random.default_rng(0)
    x = rng.random((N, H, W, C), dtype=np.float32)
    y = rng.integers(0, CLASSES, N)
    return x, y


def _fastconv_model():
    model = models.lenet5(input_shape=(H, W, C), classes=CLASSES, seed=0)
    model.compile(optimizers.SGD(learning_rate=0.01, momentum=0.9),
                  losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _record(benchmark):
    stats = getattr(benchmark, "stats", None)
    if stats is not None and stats.stats.median > 0:
        benchmark.extra_info["steps_per_s"] = 1.0 / stats.stats.median
    benchmark.extra_info["threads"] = fastconv.get_num_threads()


@pytest.mark.benchmark(group=GROUP)
def test_train_step_fastconv(benchmark):
    x, y = _data()
    model = _fastconv_model()
    model.train_on_batch(x, y)  # warm-up: optimizer state, first-touch allocations
    loss = benchmark(model.train_on_batch, x, y)
    assert np.isfinite(loss)
    _record(benchmark)


def _torch_lenet(torch, model):
    nn = torch.nn
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, CLASSES))
    # same starting weights; fastconv's layouts (K, C, R, S) and (out, in) are PyTorch's
    ours = [l for l in model.layers if l.params]
    theirs = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            b.weight.copy_(torch.from_numpy(a.params["kernel"]))
            b.bias.copy_(torch.from_numpy(a.params["bias"]))
    return net


def _torch_step(torch, model, x, y):
    """PyTorch's training step (a callable returning the loss) on the same network,
    weights, data and optimiser as ``model``."""
    net = _torch_lenet(torch, model)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    tx = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ty = torch.from_numpy(y)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()

    return step


@pytest.mark.benchmark(group=GROUP)
def test_train_step_torch(benchmark):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(int(fastconv.get_num_threads()))
    x, y = _data()
    model = _fastconv_model()
    step = _torch_step(torch, model, x, y)
    # the two engines compute the same first step
    first_torch = step()
    first_ours = model.train_on_batch(x, y)
    assert abs(first_torch - first_ours) < 1e-4 * max(1.0, abs(first_ours))
    loss = benchmark(step)
    assert np.isfinite(loss)
    _record(benchmark)


def side_by_side(threads, rounds=9, steps=30):
    """Alternate rounds of ``steps`` fastconv and PyTorch steps; returns the median step
    times (s) and the median of the per-round ratios torch/fastconv."""
    import torch
    fastconv.set_num_threads(threads)
    torch.set_num_threads(threads)
    x, y = _data()
    model = _fastconv_model()
    engines = {"fastconv": lambda: model.train_on_batch(x, y),
               "torch": _torch_step(torch, model, x, y)}
    for fn in engines.values():  # warm-up
        for _ in range(5):
            fn()
    times = {k: [] for k in engines}
    for _ in range(rounds):
        for k, fn in engines.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                fn()
            times[k].append((time.perf_counter() - t0) / steps)
    ratios = [t / f for f, t in zip(times["fastconv"], times["torch"])]
    return (statistics.median(times["fastconv"]), statistics.median(times["torch"]),
            statistics.median(ratios))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--steps", type=int, default=30)
    args = p.parse_args(argv)
    for t in args.threads:
        f, tt, r = side_by_side(t, args.rounds, args.steps)
        print(f"threads={t}: fastconv {f * 1e3:.2f} ms ({1 / f:.0f} steps/s), "
              f"torch {tt * 1e3:.2f} ms ({1 / tt:.0f} steps/s), ratio {r:.2f}x "
              f"(median of {args.rounds} interleaved rounds of {args.steps} steps)")


if __name__ == "__main__":
    main()
