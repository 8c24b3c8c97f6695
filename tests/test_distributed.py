"""fastconv.distributed: the single-process API, and DataParallel on 2 MPI ranks (mpirun)."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import fastconv
from fastconv import distributed
from fastconv.distributed import comm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi_scripts")
LAUNCH_VARS = comm._LAUNCH_VARS


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def mpirun(*args, n=2, timeout=60):
    """Run ``mpirun -n N python ARGS`` (skipping the test when there is no mpirun)."""
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    exe = here if os.access(here, os.X_OK) else shutil.which("mpirun")
    if exe is None:
        pytest.skip("mpirun not found next to the Python interpreter or on PATH; "
                    "install it with: pip install 'fastconv[mpi]'")
    pytest.importorskip("mpi4py", reason="mpi4py is not installed (pip install 'fastconv[mpi]')")
    env = _clean_env()
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    cmd = [exe, "-n", str(n), "--oversubscribe", "-x", "PYTHONPATH", "-x", "OMP_NUM_THREADS",
           sys.executable] + [str(a) for a in args]
    t0 = time.monotonic()
    # a neutral working directory: the source tree must not shadow the installed package
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                       cwd=tempfile.gettempdir())
    return p, time.monotonic() - t0


# --------------------------------------------------------------------------- one process

def test_import_does_not_load_mpi4py_outside_mpi():
    code = ("import sys, numpy as np, fastconv, fastconv.distributed as d\n"
            "d.init(); d.barrier()\n"
            "s = d.DataParallel(); s.setup([np.ones(2)], [], []); s.install_abort_handler()\n"
            "print(d.size(), d.rank(), d.is_main(), 'mpi4py' in sys.modules)\n")
    p = subprocess.run([sys.executable, "-c", code], env=_clean_env(), cwd=tempfile.gettempdir(),
                       capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1", "0", "True", "False"]


def test_single_process_collectives_are_identities():
    distributed.init()
    distributed.init()  # idempotent
    assert (distributed.size(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    s = distributed.allreduce(a)
    assert s is not a and s.dtype == np.float32 and np.array_equal(s, a)
    m = distributed.allreduce(np.array([1, 2, 3]), op="mean")
    assert m.dtype == np.float64 and np.array_equal(m, [1.0, 2.0, 3.0])
    assert distributed.allreduce(np.array([True, False])).tolist() == [1, 0]
    assert distributed.broadcast(a) is a


@pytest.mark.parametrize("call, error, words", [
    (lambda: distributed.allreduce([1.0, 2.0]), TypeError, "list"),
    (lambda: distributed.allreduce(np.array(["a"])), TypeError, "<U1"),
    (lambda: distributed.allreduce(np.ones(2), op="max"), ValueError, "'max'"),
    (lambda: distributed.broadcast(np.ones(2), root=1), ValueError, "root"),
    (lambda: distributed.broadcast(np.ones(2), root=True), ValueError, "True"),
    (lambda: distributed.broadcast(np.ones(2), root="0"), ValueError, "'0'"),
    (lambda: distributed.broadcast(np.ones(2), root=0.5), ValueError, "0.5"),
    (lambda: distributed.DataParallel(bucket_mb=0), ValueError, "0"),
    (lambda: distributed.DataParallel(bucket_mb="4"), TypeError, "'4'"),
    (lambda: distributed.DataParallel(sync_batchnorm=1), TypeError, "1"),
    (lambda: distributed.DataParallel(sync_batchnorm=True), NotImplementedError, "per rank"),
    (lambda: distributed.DataParallel().setup(np.ones(2), [], []), TypeError, "params"),
    (lambda: distributed.DataParallel().setup([np.ones(2), [1.0]], [], []), TypeError,
     "params[1]"),
    (lambda: distributed.DataParallel().shard(3, 2), ValueError, "lo=3, hi=2"),
    (lambda: distributed.DataParallel().shard(0, 2.0), TypeError, "2.0"),
    (lambda: distributed.DataParallel().begin_step(5, 4), ValueError, "local_n=5"),
    (lambda: distributed.DataParallel().grads_ready([np.ones(2)]), RuntimeError, "begin_step"),
    (lambda: distributed.DataParallel().finish_gradients(), RuntimeError, "begin_step"),
    (lambda: distributed.DataParallel().reduce_sums(["x"]), TypeError, "'x'"),
])
def test_invalid_arguments_are_named(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


def test_read_only_arrays_are_refused():
    ro = np.ones(3)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="writable"):
        distributed.broadcast(ro)
    with pytest.raises(ValueError, match=r"buffers\[0\] is read-only"):
        distributed.DataParallel().setup([], [ro], [])


@pytest.mark.parametrize("n, lo, hi, expected", [
    (2, 0, 8, [(0, 4), (4, 8)]),
    (2, 32, 37, [(32, 35), (35, 37)]),          # uneven: the remainder to the first ranks
    (3, 10, 21, [(10, 14), (14, 18), (18, 21)]),
    (4, 36, 38, [(36, 37), (37, 38), (38, 38), (38, 38)]),  # tiny last batch: empty parts
])
def test_shard_splits_the_global_batch(monkeypatch, n, lo, hi, expected):
    parts = []
    for r in range(n):
        monkeypatch.setattr(comm, "size", lambda: n)
        monkeypatch.setattr(comm, "rank", lambda r=r: r)
        parts.append(distributed.DataParallel().shard(lo, hi))
    assert parts == expected


def test_single_process_step_leaves_gradients_unchanged():
    s = distributed.DataParallel()
    assert (s.rank, s.size, s.is_main, s.seed_offset) == (0, 1, True, 0)
    g = [np.full(3, 2.0, np.float32), np.ones((2, 2))]
    s.begin_step(4, 4)
    s.grads_ready(g)
    s.finish_gradients()
    assert g[0].tolist() == [2.0] * 3 and g[1].tolist() == [[1.0, 1.0]] * 2
    assert s.reduce_sums([1.5, 2, 3]).tolist() == [1.5, 2.0, 3.0]


# --------------------------------------------------------------------------- 2 MPI ranks

def _load_script(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, os.path.join(SCRIPTS, name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# batch 8: 37 samples end with a batch of 5, split 3 + 2; batch 12 ends with a batch of 1,
# so rank 1's part is empty
@pytest.mark.parametrize("batch_size, dtype", [(8, "float32"), (12, "float32"),
                                               (12, "float64")])
def test_data_parallel_matches_one_process(tmp_path, batch_size, dtype):
    p, _ = mpirun(os.path.join(SCRIPTS, "dp_two_layer.py"), tmp_path, batch_size, dtype)
    assert p.returncode == 0, p.stdout + p.stderr
    script = _load_script("dp_two_layer")
    want, want_sums = script.train(None, batch_size, np.dtype(dtype).type)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    ranks = [np.load(tmp_path / f"rank{r}.npz") for r in range(2)]
    for r, got in enumerate(ranks):
        assert int(got["size"]) == 2
        for i, w in enumerate(want):
            assert got[f"arr_{i}"].dtype == w.dtype
            np.testing.assert_allclose(got[f"arr_{i}"], w, err_msg=f"rank {r} weight {i}",
                                       **tol)
        np.testing.assert_allclose(got["sums"], want_sums, rtol=1e-6)
    for i in range(len(want)):  # the ranks stay bit-identical (rank 1 started elsewhere)
        assert np.array_equal(ranks[0][f"arr_{i}"], ranks[1][f"arr_{i}"])
    assert not np.allclose(want[0], script.initial_weights(np.dtype(dtype).type, 0)[0])


@pytest.mark.parametrize("how", ["raise", "sigterm"])
def test_failure_on_one_rank_aborts_the_job(how):
    # without the abort rank 0 waits in its collective for ever: the timeout (a watchdog,
    # ~20x the 1.5 s the job takes) fails the test then, with no claim on how fast it ran
    p, _ = mpirun(os.path.join(SCRIPTS, "abort.py"), how, timeout=30)
    assert p.returncode != 0
    assert "rank 0 was not stopped" not in p.stdout
    assert "rank 1 of 2" in p.stderr and "aborting the MPI job" in p.stderr


def test_collectives_on_two_ranks():
    p, _ = mpirun(os.path.join(SCRIPTS, "collectives.py"), timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    assert sorted(p.stdout.split("\n"))[-2:] == ["ok rank 0 of 2", "ok rank 1 of 2"]


def test_cli_under_mpirun_reproduces_one_process(tmp_path):
    """2 ranks with --batch-size B train the same weights as one process with B (lenet5 has
    no dropout), with one log, one saved model and one set of checkpoints."""
    import subprocess
    from fastconv import models
    args = ["-m", "fastconv", "train", "--model", "lenet5", "--epochs", "2", "--batch-size",
            "32", "--verbose", "2", "--threads", "1"]
    p, _ = mpirun(*args, "--checkpoint", tmp_path / "ckpt", "--save", tmp_path / "m.fcm",
                  timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "data parallel over 2 processes" in p.stdout
    assert p.stdout.count("test accuracy:") == 1 and p.stdout.count("Epoch 2/2") == 1
    assert (tmp_path / "m.fcm").exists()
    single = subprocess.run([sys.executable] + args + ["--save", str(tmp_path / "one.fcm")],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=dict(os.environ, PYTHONPATH=ROOT))
    assert single.returncode == 0, single.stderr
    two = models.load_model(tmp_path / "m.fcm").get_weights()
    one = models.load_model(tmp_path / "one.fcm").get_weights()
    assert len(two) == len(one)
    for a, b in zip(two, one):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["ckpt-000001.npz", "ckpt-000002.npz"]


def test_two_ranks_killed_and_resumed_end_with_the_same_weights(tmp_path):
    """mpirun -n 2 ... --checkpoint: SIGKILL the whole job mid-epoch, resume with --resume:
    the same weights as an uninterrupted 2-rank run."""
    import signal
    args = ["-m", "fastconv", "train", "--model", "lenet5", "--epochs", "2", "--batch-size",
            "4", "--verbose", "0", "--threads", "1"]
    p, _ = mpirun(*args, "--save", tmp_path / "full.fcm", timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    here = os.path.join(os.path.dirname(sys.executable), "mpirun")
    exe = here if os.access(here, os.X_OK) else shutil.which("mpirun")
    env = _clean_env()
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    ckpt = tmp_path / "ckpt"
    cmd = [exe, "-n", "2", "--oversubscribe", "-x", "PYTHONPATH", "-x", "OMP_NUM_THREADS",
           sys.executable] + args + ["--checkpoint", str(ckpt)]
    job = subprocess.Popen(cmd, env=env, cwd=tempfile.gettempdir(), start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not (ckpt / "ckpt-000001.npz").exists():
            assert job.poll() is None, "the job ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            time.sleep(0.01)
        os.killpg(job.pid, signal.SIGKILL)      # mpirun and both ranks, no clean-up
        job.wait(timeout=30)
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()
    assert not (ckpt / "ckpt-000002.npz").exists(), "the job finished before the kill"
    p, _ = mpirun(*args, "--checkpoint", ckpt, "--resume", "--save", tmp_path / "resumed.fcm",
                  timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "resumed from" in p.stdout
    from fastconv import models
    a = models.load_model(tmp_path / "full.fcm").get_weights()
    b = models.load_model(tmp_path / "resumed.fcm").get_weights()
    for u, v in zip(a, b):
        assert u.tobytes() == v.tobytes()
