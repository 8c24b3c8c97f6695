"""Smoke test of `python -m fastconv bench`: one small layer, one round, JSON saved."""
import json
import os
import subprocess
import sys

import fastconv

PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


def _bench(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=PKG_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "fastconv", "bench", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_bench_prints_a_table_and_saves_json(tmp_path):
    out = tmp_path / "bench.json"
    proc = _bench(tmp_path, "--layers", "lenet-c3", "--rounds", "1", "--no-torch", "--gemm", "64",
                  "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "lenet-c3" in proc.stdout and "fwd+bwd" in proc.stdout
    data = json.loads(out.read_text())
    row = data["layers"]["lenet-c3"]["fwd+bwd"]
    assert row["fastconv_ms"] > 0 and row["gflops"] > 0 and row["reference_ms"] > 0
    assert data["numpy_matmul_gflops"] > 0
    assert data["gemm"][0]["n"] == 64 and data["gemm"][0]["fastconv_gflops"] > 0


def test_bench_refuses_bad_arguments(tmp_path):
    proc = _bench(tmp_path, "--rounds", "0")
    assert proc.returncode != 0 and "--rounds" in proc.stderr
    proc = _bench(tmp_path, "--threads", "0")
    assert proc.returncode != 0 and "--threads" in proc.stderr
    proc = _bench(tmp_path, "--layers", "alexnet")
    assert proc.returncode != 0 and "alexnet" in proc.stderr


# ----------------------------------------------------------------- the layer set's extra rows

def test_extra_layer_rows_are_skipped_or_timed_with_a_reason():
    from fastconv import bench
    for name in bench.EXTRA_LAYERS:
        missing = bench.missing_op(name)
        assert missing is None or "fastconv.functional" in missing
    # a transposed convolution 8x8 -> 16x16 counts the flops of its input side
    layer, groups, transposed = bench.layer_spec("transposed")
    assert bench.output_hw(layer, transposed) == (16, 16)
    assert bench.forward_flops(layer, groups, transposed) == 2 * 64 * 64 * 8 * 8 * 32 * 16
    layer, groups, _ = bench.layer_spec("depthwise")
    assert bench.forward_flops(layer, groups) == 2 * 64 * 64 * 32 * 32 * 9


# ----------------------------------------------------------------- --models

def _has(module):
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def test_bench_models_prints_a_table_and_saves_json(tmp_path):
    out = tmp_path / "models.json"
    proc = _bench(tmp_path, "--models", "--model-set", "lenet5", "--rounds", "1", "--threads", "1",
                  "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "lenet5" in proc.stdout and "infer b1" in proc.stdout and "load average" in proc.stdout
    data = json.loads(out.read_text())
    net = data["networks"]["lenet5"]
    for task in ("train b64", "infer b64", "infer b1"):
        assert net["tasks"][task]["fastconv_ms"] > 0
    peers = [p for p in ("torch", "onnxruntime") if _has("torch") and _has(p)]
    assert data["engines"] == ["fastconv"] + peers
    for p in peers:
        assert net["tasks"]["infer b1"][f"x_{p}"] > 0
        assert net["agreement"][p] <= 1e-4, net["agreement"]
        assert "WARNING" not in proc.stdout
    if "torch" in peers:
        assert net["tasks"]["train b64"]["torch_ms"] > 0
        assert net["tasks"]["train b64"]["onnxruntime_ms"] is None  # ORT does not train


def test_bench_models_without_graph_models_says_so(tmp_path):
    import fastconv.models
    if hasattr(fastconv.models, "resnet20"):
        import pytest
        pytest.skip("fastconv.models.resnet20 exists: the network is timed, not skipped")
    proc = _bench(tmp_path, "--models", "--model-set", "resnet20", "--no-torch", "--rounds", "1")
    assert proc.returncode == 0, proc.stderr
    assert "resnet20" in proc.stdout and "skipped: needs graph models" in proc.stdout


def test_bench_models_refuses_bad_arguments(tmp_path):
    proc = _bench(tmp_path, "--models", "--model-set", "lenet5,alexnet")
    assert proc.returncode != 0 and "alexnet" in proc.stderr
    proc = _bench(tmp_path, "--model-set", "lenet5")
    assert proc.returncode != 0 and "--models" in proc.stderr


def test_extra_layer_rows_turn_on_with_the_op(monkeypatch):
    from fastconv import bench, functional
    monkeypatch.setattr(functional, "conv2d", lambda x, w, b=None, stride=1, padding=0,
                        groups=1: None)
    monkeypatch.setattr(functional, "conv_transpose2d", lambda *a, **k: None, raising=False)
    assert [bench.missing_op(n) for n in bench.EXTRA_LAYERS] == [None, None, None]
    monkeypatch.delattr(functional, "conv_transpose2d")
    assert "conv_transpose2d" in bench.missing_op("transposed")


def test_extra_layer_inputs_have_pytorchs_shapes():
    import pytest
    pytest.importorskip("torch")
    from fastconv import bench
    for name in bench.EXTRA_LAYERS:
        layer, groups, transposed = bench.layer_spec(name)
        fwd, fwd_bwd = bench.engine_functions("torch", layer, groups, transposed)
        y = fwd()
        assert tuple(y.shape) == layer[:1] + layer[4:5] + bench.output_hw(layer, transposed)
        fwd_bwd()
