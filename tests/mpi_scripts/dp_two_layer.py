"""A tiny two-layer network trained with plain SGD on fastconv.functional ops, with or
without :class:`fastconv.distributed.DataParallel` (the strategy tested without the model
API, calling it the way the trainer does).

    mpirun -n 2 python dp_two_layer.py OUT_DIR BATCH_SIZE DTYPE

writes ``OUT_DIR/rank{r}.npz`` (final weights and the per-epoch loss sums) on every rank;
tests/test_distributed.py compares them with ``train(None, ...)`` run in one process.
"""
import os
import sys

import numpy as np

from fastconv import functional as F

N, FEATURES, HIDDEN, CLASSES, EPOCHS, LR = 37, 6, 16, 3, 3, 0.5


def data(dtype):
    rng = np.random.default_rng(123)
    x = rng.standard_normal((N, FEATURES)).astype(dtype)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def initial_weights(dtype, seed):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((HIDDEN, FEATURES)) * 0.5).astype(dtype),
            np.zeros(HIDDEN, dtype), (rng.standard_normal((CLASSES, HIDDEN)) * 0.5).astype(dtype),
            np.zeros(CLASSES, dtype)]


def train(strategy, batch_size, dtype=np.float32, init_seed=0):
    """Returns (weights, per-epoch [loss sum, sample count])."""
    x, y = data(dtype)
    w1, b1, w2, b2 = weights = initial_weights(dtype, init_seed)
    grads = [np.zeros_like(w) for w in weights]
    if strategy is not None:
        strategy.setup(weights, [], [])
    order_rng = np.random.default_rng(7)  # the same permutation on every rank
    sums = []
    for _ in range(EPOCHS):
        order = order_rng.permutation(N)
        epoch = np.zeros(2)
        for lo in range(0, N, batch_size):
            hi = min(lo + batch_size, N)
            lo_r, hi_r = strategy.shard(lo, hi) if strategy is not None else (lo, hi)
            if strategy is not None:
                strategy.begin_step(hi_r - lo_r, hi - lo)
            gw1, gb1, gw2, gb2 = grads
            loss = 0.0
            if hi_r > lo_r:
                idx = order[lo_r:hi_r]
                xb, yb = x[idx], y[idx]
                h = F.linear(xb, w1, b1)
                a = F.relu(h)
                logits = F.linear(a, w2, b2)
                loss = float(F.cross_entropy(logits, yb))
                g = F.cross_entropy_backward(logits, yb)
                ga, gw2[...], gb2[...] = F.linear_backward(g, a, w2)
            if strategy is not None:  # layer by layer, last layer first, as backward does
                strategy.grads_ready([gw2, gb2])
            if hi_r > lo_r:
                gh = F.relu_backward(ga, h)
                _, gw1[...], gb1[...] = F.linear_backward(gh, xb, w1)
            if strategy is not None:
                strategy.grads_ready([gw1, gb1])
                strategy.finish_gradients()
            for w, gr in zip(weights, grads):
                w -= dtype(LR) * gr
            part = [loss * (hi_r - lo_r), hi_r - lo_r]
            epoch += strategy.reduce_sums(part) if strategy is not None else part
        sums.append(epoch)
    return weights, np.array(sums)


def main(out_dir, batch_size, dtype):
    from fastconv import distributed
    strategy = distributed.DataParallel(bucket_mb=200 / 2 ** 20)  # ~200 B: several buckets
    strategy.install_abort_handler()
    # every rank but 0 starts from other weights: setup() must replace them with rank 0's
    weights, sums = train(strategy, batch_size, np.dtype(dtype).type,
                          init_seed=0 if strategy.is_main else 99)
    np.savez(os.path.join(out_dir, f"rank{strategy.rank}.npz"), *weights, sums=sums,
             size=np.array(strategy.size))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
