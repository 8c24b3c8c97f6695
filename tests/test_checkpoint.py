"""fastconv.checkpoint: per-epoch checkpoints, fallback past damaged files, exact resume."""
import io
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastconv
from fastconv import datasets, losses, models, optimizers, train
from fastconv.checkpoint import (CheckpointError, ModelCheckpoint, checkpoint_state,
                                 latest_checkpoint, list_checkpoints, restore, restore_state,
                                 save_checkpoint)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = datasets.load_data("digits")
    return x[:160], y[:160]


def make(name="small", optimizer="adam", seed=3):
    model = models.get_model(name, (8, 8, 1), classes=10, seed=seed)
    opt = optimizers.Adam(0.002) if optimizer == "adam" else optimizers.SGD(0.05, momentum=0.9)
    model.compile(optimizer=opt, loss=losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def fit(model, data, epochs, initial_epoch=0, callbacks=None):
    model.fit(*data, batch_size=32, epochs=epochs, initial_epoch=initial_epoch, verbose=0,
              callbacks=callbacks)
    return model


def same_weights(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_round_trip_resumes_exactly(tmp_path, digits):
    # 'small' has dropout: resuming needs the dropout and shuffling generators too
    cb = ModelCheckpoint(tmp_path)
    first = fit(make(), digits, 1, callbacks=[cb])
    assert cb.last_path == str(tmp_path / "ckpt-000001.npz")
    resumed = make()
    assert not same_weights(first, resumed)
    assert restore(resumed, latest_checkpoint(tmp_path, resumed)) == 1
    assert same_weights(first, resumed)
    assert resumed.optimizer.iterations == first.optimizer.iterations == 5
    for k, v in first.optimizer.get_state().items():
        assert np.array_equal(resumed.optimizer.get_state()[k], v), k
    assert checkpoint_state(resumed) == checkpoint_state(first)
    fit(first, digits, 3, initial_epoch=1)
    fit(resumed, digits, 3, initial_epoch=1)
    assert same_weights(first, resumed)


def test_sgd_momentum_state_and_keep(tmp_path, digits):
    fit(make(optimizer="sgd"), digits, 3, callbacks=[ModelCheckpoint(tmp_path, keep=2)])
    assert [e for e, _ in list_checkpoints(tmp_path)] == [3, 2]
    assert sorted(os.listdir(tmp_path)) == ["ckpt-000002.npz", "ckpt-000003.npz"]
    model = make(optimizer="sgd")
    assert restore(model, tmp_path / "ckpt-000003.npz") == 3
    assert len(model.optimizer.slots["momentum"]) == len(model.trainable_weights)


def test_a_stale_temporary_file_is_ignored_and_removed(tmp_path, digits):
    stale = tmp_path / ".ckpt-abc.tmp"
    stale.write_bytes(b"PK half written")
    assert latest_checkpoint(tmp_path) is None
    fit(make(), digits, 1, callbacks=[ModelCheckpoint(tmp_path)])
    assert os.listdir(tmp_path) == ["ckpt-000001.npz"]


@pytest.fixture(scope="module")
def trained_directory(tmp_path_factory, digits):
    directory = tmp_path_factory.mktemp("trained")
    fit(make(), digits, 2, callbacks=[ModelCheckpoint(directory)])
    return directory


@pytest.fixture
def two_checkpoints(tmp_path, trained_directory):
    """A fresh copy of two checkpoint files (each test damages the newest)."""
    for name in ("ckpt-000001.npz", "ckpt-000002.npz"):
        shutil.copyfile(trained_directory / name, tmp_path / name)
    return tmp_path, str(tmp_path / "ckpt-000001.npz"), str(tmp_path / "ckpt-000002.npz")


def _latest(directory, model=None):
    err = io.StringIO()
    return latest_checkpoint(directory, model, stream=err), err.getvalue()


def _resave(path, **changes):
    """Rewrite a checkpoint with some entries changed but its meta and sha256 kept."""
    with np.load(path, allow_pickle=False) as z:
        entries = {k: z[k] for k in z.files}
    entries.update(changes)
    with open(path, "wb") as f:
        np.savez(f, **entries)


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage", "edited weight",
                                    "dropped entry", "pickled object", "compressed",
                                    "bad meta json"])
def test_damaged_newest_falls_back_with_a_warning(two_checkpoints, damage):
    directory, older, newest = two_checkpoints
    data = open(newest, "rb").read()
    if damage == "truncate":
        open(newest, "wb").write(data[:len(data) // 2])
    elif damage == "empty":
        open(newest, "wb").close()
    elif damage == "garbage":
        open(newest, "wb").write(np.random.default_rng(0).bytes(4000))
    elif damage == "edited weight":  # a valid archive whose checksum no longer matches
        with np.load(newest) as z:
            w = z["w000000"].copy()
        w.flat[0] += 1
        _resave(newest, w000000=w)
    elif damage == "dropped entry":
        with np.load(newest) as z:
            entries = {k: z[k] for k in z.files if k != "w000001"}
        np.savez(newest, **entries)
    elif damage == "pickled object":
        _resave(newest, w000000=np.array([{"x": 1}], dtype=object))
    elif damage == "compressed":
        with np.load(newest) as z:
            entries = {k: z[k] for k in z.files}
        np.savez_compressed(newest, **entries)
    else:
        _resave(newest, meta=np.frombuffer(b"{not json", np.uint8))
    path, warning = _latest(directory)
    assert path == older
    assert newest in warning and "skipping" in warning
    model = make()
    before = model.get_weights()
    with pytest.raises(CheckpointError, match="ckpt-000002"):
        restore(model, newest)
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_flipped_bytes_and_truncations_never_crash(two_checkpoints):
    directory, older, newest = two_checkpoints
    data = open(newest, "rb").read()
    rng = np.random.default_rng(1)
    for pos in list(rng.integers(0, len(data), 25)) + [10, len(data) - 10]:
        bad = bytearray(data)
        bad[pos] ^= 0xFF
        open(newest, "wb").write(bytes(bad))
        path, warning = _latest(directory)
        # a flip in an unchecked zip field (a timestamp) may leave the file valid
        assert path in (older, newest)
        assert (path == older) == (newest in warning)
    for cut in (1, 30, len(data) // 3, len(data) - 1):
        open(newest, "wb").write(data[:cut])
        assert _latest(directory)[0] == older


def test_wrong_shapes_fall_back_and_all_bad_gives_none(tmp_path, digits, capsys):
    fit(make(), digits, 1, callbacks=[ModelCheckpoint(tmp_path)])
    other = make("lenet5")
    save_checkpoint(other, tmp_path, 2)     # valid file, but of another network
    path, warning = _latest(tmp_path, make())
    assert path == str(tmp_path / "ckpt-000001.npz")
    assert "ckpt-000002.npz" in warning and "weight" in warning
    assert _latest(tmp_path)[0] == str(tmp_path / "ckpt-000002.npz")  # without a model: ok
    with pytest.raises(CheckpointError, match="weight arrays|weight 0"):
        restore(make(), tmp_path / "ckpt-000002.npz")
    sgd = make(optimizer="sgd")
    with pytest.raises(CheckpointError, match="Adam"):
        restore(sgd, tmp_path / "ckpt-000001.npz")
    open(tmp_path / "ckpt-000001.npz", "wb").write(b"PK")
    assert latest_checkpoint(tmp_path, make()) is None
    err = capsys.readouterr().err
    assert "ckpt-000001.npz" in err and "ckpt-000002.npz" in err  # warnings go to stderr


def test_restore_state_checks_before_changing(digits):
    model = make()
    state = checkpoint_state(model)
    assert state["fit"]["bit_generator"] == "PCG64" and len(state["layers"]) == 8
    restore_state(model, state)
    with pytest.raises(ValueError, match="random state for 7 layers"):
        restore_state(model, {"fit": None, "layers": state["layers"][:-1]})
    bad = dict(state, fit={"bit_generator": "os.system"})
    with pytest.raises(ValueError, match="'os.system'"):
        restore_state(model, bad)
    assert checkpoint_state(model) == state


@pytest.mark.parametrize("call, error, words", [
    (lambda d: ModelCheckpoint(3), TypeError, "3"),
    (lambda d: ModelCheckpoint(d, keep=0), ValueError, "keep"),
    (lambda d: ModelCheckpoint(d, keep=True), ValueError, "True"),
    (lambda d: save_checkpoint(make(), d, -1), ValueError, "-1"),
    (lambda d: restore_state(make(), "x"), ValueError, "'x'"),
])
def test_invalid_arguments_are_named(tmp_path, call, error, words):
    with pytest.raises(error, match=words):
        call(tmp_path)


def test_missing_directory_has_no_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path / "nowhere") is None
    assert list_checkpoints(tmp_path / "nowhere") == []


# --------------------------------------------------------------------------- the CLI

def test_cli_resume_flags(tmp_path):
    with pytest.raises(SystemExit):
        train.main(["--resume"], stdout=io.StringIO())
    out = io.StringIO()
    assert train.main(["--epochs", "1", "--verbose", "0", "--checkpoint", str(tmp_path),
                       "--resume"], stdout=out) == 0
    assert "no checkpoint in" in out.getvalue()
    assert [e for e, _ in list_checkpoints(tmp_path)] == [1]
    out = io.StringIO()
    assert train.main(["--epochs", "2", "--verbose", "0", "--checkpoint", str(tmp_path),
                       "--resume"], stdout=out) == 0
    assert "resumed from" in out.getvalue() and "trained 1 epoch(s)" in out.getvalue()


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return [sys.executable, "-m", "fastconv", "train", "--model", "lenet5", "--epochs", "3",
            "--batch-size", "2", "--verbose", "0", "--threads", "1"] + list(args), env


def test_killed_job_resumes_to_the_same_weights(tmp_path):
    full = tmp_path / "full.fcm"
    cmd, env = _cli("--save", str(full))
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr

    ckpt = tmp_path / "ckpt"
    cmd, env = _cli("--checkpoint", str(ckpt))
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while not (ckpt / "ckpt-000001.npz").exists():
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)   # mid-epoch 2: no chance to clean up
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert not (ckpt / "ckpt-000003.npz").exists(), "the job finished before the kill"

    resumed = tmp_path / "resumed.fcm"
    cmd, env = _cli("--checkpoint", str(ckpt), "--resume", "--save", str(resumed))
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120,
                           cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "resumed from" in again.stdout
    a, b = models.load_model(full), models.load_model(resumed)
    assert same_weights(a, b)
    assert again.stdout.splitlines()[-1] == done.stdout.splitlines()[-1]
