"""Hostile input: every public function refuses bad arguments with the right exception
type and a message that names the offending value -- and never crashes.

The table ``CASES`` (tests/hostile_cases.py, the functional ops' rows; the layer API's
are added here) holds (id, thunk, exception type, message regex). All cases run in a
child interpreter (``python -X faulthandler``) before any test function runs; the child
logs ``START i`` before case i and ``DONE i <verdict>`` after it, so a segfault or abort
is attributed to the case that was running, and the remaining cases continue in a fresh
child. Each case is then one pytest test that reports its verdict. One child for the
whole table keeps the file well under a second when nothing crashes.

Layer-API cases (fastconv.layers / fastconv.models) are at the end; they are skipped
when that API is not there.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import fastconv
import pytest

from ops import COVERED

try:  # the table is only defined in terms of this; a missing build skips the file
    from fastconv import functional as F
    from hostile_cases import CASES, HAVE_LAYERS, case, f32, f64, r, readonly
except ImportError as exc:  # pragma: no cover - kernels not built yet
    pytest.skip(f"fastconv.functional does not import: {exc}", allow_module_level=True)


# ------------------------------------------------------------------ layer API (if present)
def _layers():
    from fastconv import layers
    return layers


def _models():
    from fastconv import models
    return models


def _small_model():
    L, M = _layers(), _models()
    model = M.Sequential(seed=0)
    model.add(L.Conv2D(4, (3, 3), activation="relu", input_shape=(8, 8, 1)))
    model.add(L.MaxPooling2D((2, 2)))
    model.add(L.Flatten())
    model.add(L.Dense(3))
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _xy(n=6):
    return r(n, 8, 8, 1), np.arange(n) % 3


L_ = "layers"
case("Conv2D/filters-zero", ValueError, r"filters.*\b0\b", lambda: _layers().Conv2D(0, 3), L_)
case("Conv2D/filters-float", TypeError, r"filters.*2\.5", lambda: _layers().Conv2D(2.5, 3), L_)
case("Conv2D/kernel-negative", ValueError, r"kernel_size.*-3", lambda: _layers().Conv2D(4, -3), L_)
case("Conv2D/strides-zero", ValueError, r"strides.*\b0\b", lambda: _layers().Conv2D(4, 3, strides=0), L_)
case("Conv2D/padding-unknown", ValueError, r"'full'", lambda: _layers().Conv2D(4, 3, padding="full"), L_)
case("Conv2D/activation-unknown", ValueError, r"'mish'",
     lambda: _layers().Conv2D(4, 3, activation="mish"), L_)
case("Dense/units-negative", ValueError, r"units.*-1", lambda: _layers().Dense(-1), L_)
case("Dense/units-string", TypeError, r"units.*'10'", lambda: _layers().Dense("10"), L_)
case("Dropout/rate-one", ValueError, r"rate.*1(\.0)?\b", lambda: _layers().Dropout(1.0), L_)
case("Dropout/rate-negative", ValueError, r"rate.*-0\.2", lambda: _layers().Dropout(-0.2), L_)
case("Dropout/rate-nan", ValueError, r"rate.*nan", lambda: _layers().Dropout(float("nan")), L_)
case("MaxPooling2D/pool-zero", ValueError, r"pool_size.*\b0\b",
     lambda: _layers().MaxPooling2D((0, 2)), L_)
case("MaxPooling2D/padding-unknown", ValueError, r"'full'",
     lambda: _layers().MaxPooling2D(2, padding="full"), L_)
case("Sequential/kernel-larger-than-input", ValueError, r"\b9\b.*\b8\b|\b8\b.*\b9\b",
     lambda: _models().Sequential([_layers().Conv2D(2, 9, input_shape=(8, 8, 1))]).build(), L_)
case("fit/x-wrong-shape", ValueError, r"\(6, 8, 8, 2\)|8, 8, 2",
     lambda: _small_model().fit(r(6, 8, 8, 2), np.arange(6) % 3, epochs=1, verbose=0), L_)
case("fit/labels-out-of-range", ValueError, r"\b3\b",
     lambda: _small_model().fit(r(6, 8, 8, 1), np.array([0, 1, 2, 3, 0, 1]), epochs=1, verbose=0), L_)
case("fit/labels-negative", ValueError, r"-1",
     lambda: _small_model().fit(r(6, 8, 8, 1), np.array([0, 1, -1, 2, 0, 1]), epochs=1, verbose=0), L_)
# Known defects, reported to their owners: id -> reason. A case listed here is a strict
# xfail (a fix turns it red, so the entry gets removed). Empty: all fixed.
KNOWN = {}
case("fit/labels-float", (TypeError, ValueError), r"float|0\.5",
     lambda: _small_model().fit(r(6, 8, 8, 1), np.array([0, 1, 0.5, 2, 0, 1]), epochs=1, verbose=0), L_)
case("fit/sample-count-mismatch", ValueError, r"\b6\b.*\b5\b",
     lambda: _small_model().fit(r(6, 8, 8, 1), np.arange(5) % 3, epochs=1, verbose=0), L_)
case("fit/x-object", TypeError, r"object",
     lambda: _small_model().fit(np.empty((6, 8, 8, 1), object), np.arange(6) % 3, epochs=1, verbose=0), L_)
case("fit/batch-size-zero", ValueError, r"batch_size.*\b0\b",
     lambda: _small_model().fit(*_xy(), batch_size=0, epochs=1, verbose=0), L_)
case("fit/epochs-negative", ValueError, r"epochs.*-1",
     lambda: _small_model().fit(*_xy(), epochs=-1, verbose=0), L_)
case("predict/x-none", (TypeError, ValueError), r"None|required",
     lambda: _small_model().predict(None), L_)
case("predict/x-complex", TypeError, r"complex",
     lambda: _small_model().predict(np.ones((2, 8, 8, 1), complex)), L_)
case("predict/x-wrong-shape", ValueError, r"8, 8, 1|\(2, 7, 7, 1\)",
     lambda: _small_model().predict(r(2, 7, 7, 1)), L_)


# Self-test of the runner (only in a child started by test_a_crash_is_charged_to_its_case):
# a case that segfaults, then one that must still run and pass.
if os.environ.get("FASTCONV_VALIDATION_SELFTEST") == "1":
    def _segfault():
        import ctypes
        ctypes.string_at(0)
    case("selftest/segfault", ValueError, r"never", _segfault)
    case("selftest/after-the-crash", ValueError, r"invalid literal", lambda: int("x"))


# ------------------------------------------------------------------ the runner

def _run_case(i):
    """Run case i in this process; return (verdict, detail)."""
    cid, thunk, exc, pattern, needs = CASES[i]
    try:
        thunk()
    except BaseException as e:  # noqa: BLE001 - we judge every exception here
        msg = f"{type(e).__name__}: {e}"
        if not isinstance(e, exc):
            names = exc.__name__ if isinstance(exc, type) else "/".join(t.__name__ for t in exc)
            return "fail", f"raised {msg[:500]} -- expected {names}"
        if not re.search(pattern, str(e)):
            return "fail", f"message {str(e)[:500]!r} does not match {pattern!r}"
        return "ok", msg[:300]
    return "fail", "no exception: the bad input was silently accepted"


def _child_main(start, log_path):
    """Entry point of the child interpreter: run cases start.. and log each verdict."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    for i in range(start, len(CASES)):
        if CASES[i][4] == L_ and not HAVE_LAYERS:
            os.write(fd, (json.dumps({"i": i, "verdict": "skip"}) + "\n").encode())
            continue
        os.write(fd, (json.dumps({"i": i, "start": True}) + "\n").encode())
        verdict, detail = _run_case(i)
        os.write(fd, (json.dumps({"i": i, "verdict": verdict, "detail": detail}) + "\n").encode())
    os.close(fd)


def _run_table(tmp_dir, start=0, stop=None, extra_env=None):
    """Run cases start..stop-1 in child interpreters; a crash is charged to the running
    case and the rest continue in a new child."""
    stop = len(CASES) if stop is None else stop
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env = dict(os.environ, **(extra_env or {}))
    env["PYTHONPATH"] = os.pathsep.join([pkg_root, os.path.dirname(os.path.abspath(__file__))]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    results, attempt = {}, 0
    while start < stop:
        attempt += 1
        log = os.path.join(tmp_dir, f"validation_{attempt}.log")
        code = f"import test_validation as t; t._child_main({start}, {log!r})"
        try:
            proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], env=env, cwd=tmp_dir,
                                  capture_output=True, text=True, timeout=300)
            rc, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as e:
            rc, stderr = "timeout", (e.stderr or b"").decode(errors="replace") if isinstance(
                e.stderr, bytes) else (e.stderr or "")
        running = None
        if os.path.exists(log):
            with open(log) as fh:
                for line in fh:
                    rec = json.loads(line)
                    if rec.get("start"):
                        running = rec["i"]
                    else:
                        results[rec["i"]] = (rec["verdict"], rec.get("detail", ""))
                        running = None
        if running is not None:
            results[running] = ("crash", f"the child interpreter died (exit {rc}) in this case:\n"
                                         f"{stderr[-3000:]}")
            start = running + 1
        elif rc != 0:
            missing = [i for i in range(start, stop) if i not in results]
            for i in missing:
                results[i] = ("crash", f"child failed before the case ran (exit {rc}):\n{stderr[-3000:]}")
            break
        else:
            break
    return results


@pytest.fixture(scope="module")
def table_results(tmp_path_factory):
    return _run_table(str(tmp_path_factory.mktemp("validation")))


@pytest.mark.skipif(os.environ.get("FASTCONV_SANITIZED_RUN") == "1",
                    reason="ASan would log the deliberate segfault as a report")
def test_a_crash_is_charged_to_its_case(tmp_path):
    """The runner itself: a segfaulting case is reported as a crash with faulthandler's
    traceback, and the case after it still runs."""
    n = len(CASES)
    res = _run_table(str(tmp_path), start=n, stop=n + 2,
                     extra_env={"FASTCONV_VALIDATION_SELFTEST": "1"})
    verdict, detail = res[n]
    assert verdict == "crash" and "Segmentation fault" in detail, res[n]
    assert res[n + 1][0] == "ok", res[n + 1]


def test_table_has_at_least_40_functional_cases():
    assert sum(1 for c in CASES if c[4] is None) >= 40


def test_every_public_function_has_a_case():
    covered = {cid.split("/")[0] for cid, *_ in CASES}
    covered |= COVERED   # rows of tests/ops.py get generic hostile cases in test_ops_table
    missing = [name for name in F.__all__ if name not in covered]
    assert not missing, f"no hostile-input case for {missing}"


@pytest.mark.parametrize("index", range(len(CASES)), ids=[c[0] for c in CASES])
def test_hostile_input(index, table_results):
    cid, _, exc, pattern, needs = CASES[index]
    if needs == L_ and not HAVE_LAYERS:
        pytest.skip("fastconv.layers / fastconv.models not available")
    verdict, detail = table_results.get(index, ("missing", "the case did not run"))
    if verdict == "skip":
        pytest.skip("needs the layer API")
    if cid in KNOWN:
        assert verdict != "crash", f"{cid}: {verdict}: {detail}"
        if verdict == "ok":
            pytest.fail(f"{cid} is fixed: remove it from KNOWN")
        pytest.xfail(f"{KNOWN[cid]}: {detail}")
    assert verdict == "ok", f"{cid}: {verdict}: {detail}"


# ------------------------------------------------------------------ valid but awkward input

@pytest.mark.parametrize("dtype", [f32, f64])
def test_readonly_and_strided_inputs_are_accepted(dtype):
    """Read-only arrays (np.load(mmap_mode='r'), broadcast views) are valid input."""
    x = readonly(r(2, 3, 8, 8, dtype=dtype))
    w = readonly(r(4, 3, 3, 3, dtype=dtype, seed=1))
    b = readonly(np.zeros(4, dtype))
    y = F.conv2d(x, w, b, padding=1)
    g = readonly(np.ones_like(y))
    F.conv2d_backward(g, x, w, padding=1)
    for name in ("relu", "sigmoid", "tanh", "leaky_relu", "elu"):
        getattr(F, name)(x)
        getattr(F, name + "_backward")(readonly(np.ones_like(x)), x)
    p = F.max_pool2d(x, 2)
    F.max_pool2d_backward(readonly(np.ones_like(p)), x, 2)
    F.avg_pool2d_backward(readonly(np.ones_like(p)), x, 2)
    F.maxout_backward(readonly(np.ones((2, 1, 8, 8), dtype)), x, 3)
    xb = np.broadcast_to(r(1, 12, dtype=dtype), (5, 12))  # read-only, zero stride
    wl = readonly(r(3, 12, dtype=dtype))
    yl = F.linear(xb, wl, readonly(np.zeros(3, dtype)))
    F.linear_backward(readonly(np.ones_like(yl)), xb, wl)
    np.testing.assert_allclose(yl, np.asarray(xb) @ wl.T, rtol=1e-5)
