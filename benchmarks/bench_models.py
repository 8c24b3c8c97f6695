"""Whole networks: a training step at batch 64 and inference at batch 64 and 1, fastconv
against PyTorch and ONNX Runtime (each skipped when not installed), one benchmark group
per network and task.

    pytest benchmarks/bench_models.py --benchmark-group-by=group \
        --benchmark-columns=median,ops,rounds

The networks, weights and inputs are those of ``python -m fastconv bench --models`` (see
``fastconv.bench_models`` and benchmarks/README.md): the peers run a PyTorch twin holding
fastconv's weights, and every peer test first checks that the twin's logits agree with
fastconv's.  Networks that need graph models are skipped until fastconv has them.  CI
runs this file once with --benchmark-disable as a smoke test (each case runs once).

For a side-by-side table that holds up better on a busy machine (the engines alternate in
rounds in one process), use ``python -m fastconv bench --models``.
"""
import numpy as np
import pytest

import fastconv
from fastconv import bench_models as bm

PEERS = bm.available_peers(log=lambda *_: None)
_SETUPS = {}


def _setup(name):
    """One prepared network per session: building, exporting to ONNX and checking
    agreement cost more than a smoke run of the timed call itself."""
    if name not in _SETUPS:
        try:
            _SETUPS[name] = bm.prepare(name, fastconv.get_num_threads(), PEERS)
        except bm.NeedsGraphModels as e:
            _SETUPS[name] = e
    setup = _SETUPS[name]
    if isinstance(setup, Exception):
        pytest.skip(f"{name}: needs graph models ({setup})")
    return setup


def _finite(out):
    if isinstance(out, list):  # ONNX Runtime returns a list of outputs
        out = out[0]
    if hasattr(out, "numpy"):
        out = out.numpy()
    return bool(np.isfinite(np.asarray(out)).all())


CASES = [(name, task, engine) for name in bm.MODEL_SET for task in bm.TASKS
         for engine in bm.ENGINES if not (task.startswith("train") and engine == "onnxruntime")]


@pytest.mark.parametrize("name,task,engine", CASES,
                         ids=[f"{n}-{t.replace(' ', '_')}-{e}" for n, t, e in CASES])
def test_model(benchmark, name, task, engine):
    if engine != "fastconv" and engine not in PEERS:
        pytest.skip(f"{engine} is not installed")
    setup = _setup(name)
    benchmark.group = f"{name} {task}"
    if engine != "fastconv":
        # the peer runs the same network: its logits agree with fastconv's
        assert setup["agreement"][engine] <= bm.AGREE_RTOL, setup["agreement"]
    out = benchmark(setup["tasks"][task][engine])
    assert _finite(out)
    benchmark.extra_info["threads"] = fastconv.get_num_threads()
