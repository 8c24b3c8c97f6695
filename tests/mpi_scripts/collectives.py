"""The public collectives on 2+ ranks; prints one 'ok' line per rank, or fails.

    mpirun -n 2 python collectives.py
"""
import numpy as np

from fastconv import distributed


def main():
    distributed.init()
    distributed.init()
    r, n = distributed.rank(), distributed.size()
    assert n >= 2 and distributed.is_main() == (r == 0)
    s = distributed.allreduce(np.full(3, r + 1, np.float32))
    assert s.dtype == np.float32 and s.tolist() == [n * (n + 1) / 2] * 3, s
    m = distributed.allreduce(np.array([r, 2 * r]), op="mean")
    assert m.dtype == np.float64 and m.tolist() == [(n - 1) / 2, n - 1], m
    b = np.full((2, 2), float(r))[:, :1]          # not contiguous: broadcast must cope
    distributed.broadcast(b, root=1)
    assert b.tolist() == [[1.0], [1.0]], b
    distributed.barrier()
    strategy = distributed.DataParallel()
    # a rank with another list of arrays must fail on every rank, not hang or corrupt
    try:
        strategy.setup([np.zeros(3 if r == 0 else 4)], [], [])
    except ValueError as e:
        assert "differs between ranks" in str(e), e
    else:
        raise AssertionError("setup accepted different arrays on different ranks")
    print(f"ok rank {r} of {n}", flush=True)


if __name__ == "__main__":
    main()
