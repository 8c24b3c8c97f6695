"""The main job: ``python -m fastconv train``."""
import gzip
import io
import os
import re
import struct
import subprocess
import sys
import types

import numpy as np
import pytest

import fastconv
from fastconv import models, train

LAST_LINE = re.compile(r"^test accuracy: (0\.\d{4}|1\.0000)$")
# The directory holding the fastconv package under test (installed or built in place).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


def run(*argv):
    out = io.StringIO()
    status = train.main(list(argv), stdout=out)
    return status, out.getvalue()


def last_accuracy(text):
    last = text.rstrip("\n").splitlines()[-1]
    m = LAST_LINE.match(last)
    assert m, f"last line is {last!r}"
    return float(m.group(1))


def test_short_run_prints_accuracy_last():
    status, text = run("--epochs", "2", "--verbose", "2")
    assert status == 0
    acc = last_accuracy(text)
    assert acc > 0.8
    assert text.count("Epoch ") == 2 and "img/s" in text and "loss:" in text
    assert "1,438 training and 359 test images of 8x8x1" in text


def test_same_seed_same_result():
    a = run("--epochs", "2", "--verbose", "0", "--seed", "5")[1]
    b = run("--epochs", "2", "--verbose", "0", "--seed", "5")[1]
    c = run("--epochs", "2", "--verbose", "0", "--seed", "6")[1]
    strip = lambda t: [l for l in t.splitlines() if not l.startswith("trained ")]
    assert strip(a) == strip(b)
    assert strip(a) != strip(c)


def test_save_option_writes_a_loadable_model(tmp_path):
    path = tmp_path / "digits.fcm"
    status, text = run("--epochs", "1", "--verbose", "0", "--save", str(path), "--model",
                       "lenet5")
    assert status == 0 and f"saved model to {path}" in text
    acc = last_accuracy(text)
    from fastconv import datasets
    _, (xt, yt) = datasets.load_digits()
    model = models.load_model(path)
    assert abs(model.evaluate(xt, yt)[1] - acc) < 1e-4


def test_threads_option(monkeypatch):
    calls = []
    monkeypatch.setattr(fastconv, "set_num_threads", lambda n: calls.append(n), raising=False)
    status, _ = run("--epochs", "1", "--verbose", "0", "--threads", "1")
    assert status == 0 and calls == [1]


def test_tiny_images_default_to_one_thread_and_restore_the_count():
    before = fastconv.get_num_threads()
    fastconv.set_num_threads(2)
    try:
        status, text = run("--epochs", "1", "--verbose", "0")
        assert status == 0 and "1 thread (tiny images" in text.splitlines()[0]
        assert fastconv.get_num_threads() == 2  # main() leaves the process as it was
        status, text = run("--epochs", "1", "--verbose", "0", "--threads", "2")
        assert "2 threads" in text.splitlines()[0]
    finally:
        fastconv.set_num_threads(before)


def test_plots_option_calls_visualize(monkeypatch, tmp_path):
    seen = {}
    fake = types.ModuleType("fastconv.visualize")

    def save_training_plots(model, history, image, directory):
        seen.update(model=model, history=history, image=image, directory=directory)
        return [os.path.join(directory, "curves.png")]

    fake.save_training_plots = save_training_plots
    monkeypatch.setitem(sys.modules, "fastconv.visualize", fake)
    monkeypatch.setattr(fastconv, "visualize", fake, raising=False)
    status, text = run("--epochs", "1", "--verbose", "0", "--plots", str(tmp_path / "p"))
    assert status == 0 and "saved 1 plot file(s)" in text
    assert isinstance(seen["model"], models.Sequential)
    assert seen["history"].history["loss"] and seen["image"].shape == (8, 8, 1)
    last_accuracy(text)

    empty = types.ModuleType("fastconv.visualize")
    monkeypatch.setitem(sys.modules, "fastconv.visualize", empty)
    monkeypatch.setattr(fastconv, "visualize", empty, raising=False)
    status, text = run("--epochs", "1", "--verbose", "0", "--plots", str(tmp_path / "q"))
    assert status == 0 and "plots unavailable" in text
    last_accuracy(text)


def test_bad_options_exit_with_message(capsys):
    with pytest.raises(SystemExit) as e:
        train.main(["--data", "imagenet"])
    assert e.value.code == 1 and "imagenet" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        train.main(["--epochs", "0"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        train.main(["--model", "resnet"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        train.main(["--data", "mnist:/nonexistent/dir"])
    assert e.value.code == 1 and "nonexistent" in capsys.readouterr().err


def _write_idx(path, array, gz=False):
    dims = array.shape
    header = struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def test_mnist_files(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 96), ("t10k", 40)):
        y = rng.integers(0, 10, n)
        x = np.zeros((n, 28, 28), np.uint8)
        for i, label in enumerate(y):  # a learnable pattern: a bright bar per class
            x[i, 2 + 2 * label:4 + 2 * label, 4:24] = 255
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", x, gz=True)
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", y)
    status, text = run("--data", f"mnist:{tmp_path}", "--model", "lenet5", "--epochs", "1",
                       "--verbose", "0", "--batch-size", "16")
    assert status == 0 and "28x28x1" in text
    last_accuracy(text)


def test_cifar10_files(tmp_path):
    rng = np.random.default_rng(1)

    def batch(path, n):
        rec = np.zeros((n, 3073), np.uint8)
        rec[:, 0] = rng.integers(0, 10, n)
        rec[:, 1:] = rng.integers(0, 256, (n, 3072))
        path.write_bytes(rec.tobytes())

    for i in range(1, 6):
        batch(tmp_path / f"data_batch_{i}.bin", 8)
    batch(tmp_path / "test_batch.bin", 8)
    status, text = run("--data", f"cifar10:{tmp_path}", "--model", "cifar_example",
                       "--epochs", "1", "--verbose", "0")
    assert status == 0 and "32x32x3" in text
    last_accuracy(text)


def test_python_dash_m_default_job_reaches_target(tmp_path):
    """The README's first command, as a user runs it (defaults: >= 0.97 test accuracy)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, "-m", "fastconv", "train"], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert last_accuracy(proc.stdout) >= 0.97
    assert proc.stdout.count("Epoch ") == train.DEFAULTS["epochs"]
