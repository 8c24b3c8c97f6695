"""No leaks, and exhaustion is an exception: thousands of calls of every op leave the
process's memory flat, and a request the machine cannot satisfy raises MemoryError
(the process stays usable) instead of crashing.
"""
import gc
import os
import resource
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastconv
from fastconv import functional as F

PAGE = os.sysconf("SC_PAGE_SIZE")
SANITIZED = os.environ.get("FASTCONV_SANITIZED_RUN") == "1" or "asan" in os.environ.get("LD_PRELOAD", "")


def rss_bytes():
    """Current resident set size (from /proc/self/statm; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * PAGE
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _op_calls(dtype):
    """One call of every op (forward and backward) per entry, sized so a per-call leak
    of an output, an input copy or a kernel workspace is tens of KB."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8, 16, 16)).astype(dtype)
    xs = x[:, :, ::2, ::2]  # non-contiguous: exercises the copy path
    w = rng.standard_normal((8, 8, 3, 3)).astype(dtype)
    b = rng.standard_normal(8).astype(dtype)
    y = F.conv2d(x, w, b, padding=1)
    p = F.max_pool2d(x, 2)
    xl = rng.standard_normal((16, 128)).astype(dtype)
    wl = rng.standard_normal((32, 128)).astype(dtype)
    yl = F.linear(xl, wl)
    labels = rng.integers(0, 32, 16)
    gamma, beta = np.ones(8, dtype), np.zeros(8, dtype)
    rm, rv = np.zeros(8, dtype), np.ones(8, dtype)
    d, mask = F.dropout(x, 0.5, rng=1)
    ym = F.maxout(x, 2)
    return [
        lambda: F.conv2d(x, w, b, padding=1),
        lambda: F.conv2d(xs, w, None, stride=2, activation="relu"),
        lambda: F.conv2d_backward(y, x, w, padding=1),
        lambda: F.conv2d_backward(y, x, w, padding=1, input_grad=False),
        lambda: F.max_pool2d(x, 2),
        lambda: F.max_pool2d_backward(p, x, 2),
        lambda: F.avg_pool2d(x, 2),
        lambda: F.avg_pool2d_backward(p, x, 2),
        lambda: F.relu(x), lambda: F.relu_backward(x, x),
        lambda: F.leaky_relu(x, 0.1), lambda: F.leaky_relu_backward(x, x, 0.1),
        lambda: F.sigmoid(x), lambda: F.sigmoid_backward(x, x),
        lambda: F.tanh(x), lambda: F.tanh_backward(x, x),
        lambda: F.elu(x), lambda: F.elu_backward(x, x),
        lambda: F.maxout(x, 2), lambda: F.maxout_backward(ym, x, 2),
        lambda: F.linear(xl, wl, None), lambda: F.linear_backward(yl, xl, wl),
        lambda: F.softmax(yl), lambda: F.log_softmax(yl),
        lambda: F.cross_entropy(yl, labels), lambda: F.cross_entropy_backward(yl, labels),
        lambda: F.dropout(x, 0.5, rng=3), lambda: F.dropout_backward(d, mask, 0.5),
        lambda: F.batch_norm2d(x, gamma, beta, rm, rv, True),
        lambda: F.batch_norm2d_backward(x, x, gamma),
        lambda: F.flatten(x), lambda: F.flatten_backward(F.flatten(x), x.shape),
    ]


def _bad_calls():
    """Error paths must not leak either (an exception after an allocation)."""
    x = np.zeros((2, 3, 8, 8), np.float32)
    w = np.zeros((4, 3, 3, 3), np.float32)

    def call(f, *a, **k):
        try:
            f(*a, **k)
        except (TypeError, ValueError):
            pass

    return [
        lambda: call(F.conv2d, x, np.zeros((4, 2, 3, 3), np.float32)),
        lambda: call(F.conv2d_backward, np.zeros((2, 4, 5, 5), np.float32), x, w),
        lambda: call(F.max_pool2d, x, 3, 1, 2),
        lambda: call(F.cross_entropy, np.zeros((2, 3), np.float32), np.array([0, 3])),
    ]


@pytest.fixture
def restore_threads():
    before = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(before)


def _rounds(calls, n, budget_s=None):
    """Up to n rounds of every call, stopping early after budget_s seconds (all n rounds
    when budget_s is None)."""
    import time
    end = float("inf") if budget_s is None else time.perf_counter() + budget_s
    done = 0
    for done in range(1, n + 1):
        for c in calls:
            c()
        if time.perf_counter() > end:
            break
    return done


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_thousands_of_calls_leave_memory_flat(dtype, restore_threads):
    """1000 calls of every op on one OpenMP thread, then up to 300 more on two (bounded by time) (the
    per-thread workspaces); resident memory must not grow."""
    if SANITIZED:
        pytest.skip("RSS is meaningless under AddressSanitizer's quarantine")
    calls = _op_calls(dtype) + _bad_calls()
    fastconv.set_num_threads(2)
    _rounds(calls, 20, 1.0)
    fastconv.set_num_threads(1)
    _rounds(calls, 100, 5.0)   # warm-up: caches, arenas, lazily built state
    gc.collect()
    before = peak = rss_bytes()
    done = 0
    for _ in range(10):
        done += _rounds(calls, 100)     # all of them, however slow the machine
        peak = max(peak, rss_bytes())
    fastconv.set_num_threads(2)
    done2 = 0
    for _ in range(3):  # two threads are slow on a loaded machine: bounded by time
        done2 += _rounds(calls, 100, 0.7)
        peak = max(peak, rss_bytes())
    gc.collect()
    after = rss_bytes()
    peak = max(peak, after)
    total = (done + done2) * len(calls)
    # A leak of one 8 KB output per call would be ~0.3 GB here; allow 8 MB of noise
    # (allocator arenas, numpy caches).
    assert after - before < 8 << 20, (
        f"RSS grew by {(after - before) / 2**20:.1f} MB over {total} calls")
    assert peak - before < 16 << 20, f"peak RSS rose {(peak - before) / 2**20:.1f} MB"


def test_impossible_allocation_raises_memory_error_and_the_process_survives():
    """~1.1e15 bytes of output: passes the 64-bit checks, no machine has it."""
    x = np.zeros((1, 1, 1, 1), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    with pytest.raises(MemoryError):
        F.conv2d(x, w, padding=2 ** 23)
    # an impossible kernel workspace (a 2x2 output whose zero-bordered image copy is ~35 TB)
    with pytest.raises(MemoryError, match=r"cannot allocate \d+ bytes"):
        F.conv2d(np.zeros((2, 1, 1, 1), np.float32), w, padding=2 ** 20, stride=2 ** 21)
    # still working afterwards
    y = F.conv2d(np.ones((1, 1, 3, 3), np.float32), w, padding=1)
    assert y.shape == (1, 1, 5, 5) and y.sum() == 9


_RLIMIT_CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from fastconv import functional as F
    F.conv2d(np.ones((1, 1, 4, 4), np.float32), np.ones((1, 1, 3, 3), np.float32))  # warm up
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = {limit}
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    outcomes = []
    # 1. the output alone is ~4 GB (2 x 1 x 32769 x 32769 float32)
    try:
        F.conv2d(np.zeros((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32),
                 padding=2 ** 14 * 1 + 2 ** 14)
        outcomes.append("output: no error")
    except MemoryError as e:
        outcomes.append("output: MemoryError")
    # 2. a small output, but the kernel's padded-image workspace is ~4 GB
    try:
        F.conv2d(np.zeros((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32),
                 padding=2 ** 15, stride=2 ** 16)
        outcomes.append("workspace: no error")
    except MemoryError as e:
        outcomes.append("workspace: MemoryError " + str(e)[:80])
    # 3. backward with an impossible workspace
    try:
        F.conv2d_backward(np.ones((1, 1, 2, 2), np.float32), np.zeros((1, 1, 1, 1), np.float32),
                          np.ones((1, 1, 1, 1), np.float32), padding=2 ** 15, stride=2 ** 16)
        outcomes.append("backward: no error")
    except MemoryError as e:
        outcomes.append("backward: MemoryError")
    # 4. still usable under the limit
    y = F.conv2d(np.ones((2, 3, 16, 16), np.float32), np.ones((4, 3, 3, 3), np.float32), padding=1)
    outcomes.append("usable" if y.shape == (2, 4, 16, 16) and y[0, 0, 5, 5] == 27 else "broken")
    print("|".join(outcomes))
""")


@pytest.mark.skipif(SANITIZED, reason="ASan reserves terabytes of address space: no RLIMIT_AS")
def test_memory_error_under_an_address_space_limit(tmp_path):
    """With the address space capped at +1 GB, outputs and kernel workspaces of ~4 GB
    raise MemoryError in a child process, which then carries on computing."""
    with open("/proc/self/statm") as fh:
        vm = int(fh.read().split()[0]) * PAGE
    code = _RLIMIT_CHILD.format(limit=vm + (1 << 30))
    pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    env = dict(os.environ, PYTHONPATH=pkg_root + os.pathsep + os.environ.get("PYTHONPATH", ""),
               OMP_NUM_THREADS="2")
    proc = subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"child crashed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    out = proc.stdout.strip().split("|")
    assert out[0] == "output: MemoryError", out
    assert out[1].startswith("workspace: MemoryError"), out
    assert out[2] == "backward: MemoryError", out
    assert out[3] == "usable", out


def test_conv_scratch_is_reused_and_bounded():
    # The conv bindings keep up to four workspaces between calls (no fresh mmap and
    # page faults per call); the cache holds at most those four and can be released.
    from fastconv import _runtime
    import fastconv.functional as F
    _runtime.release_scratch()
    assert _runtime.scratch_cached_bytes() == 0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    first = F.conv2d(x, w, padding=1)
    held = _runtime.scratch_cached_bytes()
    assert held > 0
    for _ in range(20):
        again = F.conv2d(x, w, padding=1)
        F.conv2d_backward(again, x, w, padding=1)
    assert again.tobytes() == first.tobytes()
    assert _runtime.scratch_cached_bytes() <= 4 * max(held, 1 << 20) * 4
    _runtime.release_scratch()
    assert _runtime.scratch_cached_bytes() == 0
