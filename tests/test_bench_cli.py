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
