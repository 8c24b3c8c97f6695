"""Threads and the GIL: the kernels release the GIL, so Python threads run while a kernel
computes, and several Python threads calling the ops at once get exactly (bitwise) the
results a single thread gets -- no shared scratch, no races.
"""
import gc
import sys
import threading

import numpy as np
import pytest

import fastconv
from fastconv import functional as F


@pytest.fixture
def threads(request):
    """Set fastconv's OpenMP thread count for the test, restoring it afterwards."""
    before = fastconv.get_num_threads()
    yield lambda n: fastconv.set_num_threads(n)
    fastconv.set_num_threads(before)


def _workload(seed, dtype):
    """One thread's ops on its own data; returns every output in a fixed order."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4, 12, 12)).astype(dtype)
    w = rng.standard_normal((6, 4, 3, 3)).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    xl = rng.standard_normal((17, 30)).astype(dtype)
    wl = rng.standard_normal((9, 30)).astype(dtype)
    bl = rng.standard_normal(9).astype(dtype)
    y = F.conv2d(x, w, b, stride=1, padding=1)
    g = rng.standard_normal(y.shape).astype(dtype)
    gx, gw, gb = F.conv2d_backward(g, x, w, padding=1)
    ys = F.conv2d(x, w, None, stride=2, padding="valid", activation="relu")
    p = F.max_pool2d(y, 2)
    gp = F.max_pool2d_backward(np.ones_like(p), y, 2)
    a = F.avg_pool2d(y, 3, 2, 1, ceil_mode=True)
    ga = F.avg_pool2d_backward(np.ones_like(a), y, 3, 2, 1, ceil_mode=True)
    r = F.relu(y)
    gr = F.relu_backward(g, y)
    t = F.tanh(y)
    m = F.maxout(y, 2)
    yl = F.linear(xl, wl, bl)
    gl = F.linear_backward(np.ones_like(yl), xl, wl)
    return [y, gx, gw, gb, ys, p, gp, a, ga, r, gr, t, m, yl, *gl]


def _run_threads(target, n):
    errors = []
    barrier = threading.Barrier(n)

    def wrapped(i):
        try:
            barrier.wait()
            target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((i, e))

    ts = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert not any(t.is_alive() for t in ts), "a worker thread hung"
    assert not errors, errors


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("omp_threads", [1, 2])
def test_concurrent_python_threads_get_the_serial_results(dtype, omp_threads, threads):
    """4 Python threads x 5 rounds of every kernel, each on its own data, nested with
    fastconv's own OpenMP threads: each result is bitwise the serial one."""
    threads(omp_threads)
    n, rounds = 4, 5
    expected = [_workload(i, dtype) for i in range(n)]
    got = {}

    def work(i):
        for k in range(rounds):
            got[i, k] = _workload(i, dtype)

    _run_threads(work, n)
    for (i, k), outs in got.items():
        for j, (a, e) in enumerate(zip(outs, expected[i])):
            assert a.dtype == e.dtype and a.shape == e.shape
            assert np.array_equal(a, e, equal_nan=True), f"thread {i} round {k} output {j} differs"


def test_threads_sharing_read_only_inputs(threads):
    """Many threads reading the same input arrays (the common inference case)."""
    threads(2)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 8, 16, 16)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    x.setflags(write=False)
    w.setflags(write=False)
    want = F.conv2d(x, w, padding=1)
    want_g = F.conv2d_backward(want, x, w, padding=1)
    results = {}

    def work(i):
        for k in range(4):
            y = F.conv2d(x, w, padding=1)
            results[i, k] = (y, F.conv2d_backward(y, x, w, padding=1))

    _run_threads(work, 3)
    for y, g in results.values():
        assert np.array_equal(y, want)
        for a, e in zip(g, want_g):
            assert np.array_equal(a, e)


def _main_thread_ran_inside_a_call(call, calls):
    """Whether the main thread got to run while a new thread was inside ``call``.

    Decided by the order of events, not by timing: the switch interval is set far beyond
    the test's length, so no thread is made to hand the GIL over. The new thread takes it
    when it starts (the main thread blocks in ``start()`` until then) and keeps it through
    its Python code; the main thread, woken by the start, can run only when ``call`` releases
    the GIL in C. If ``call`` never does, the main thread runs after the new thread ended.
    The new thread stops calling once the main thread has run (it may take the GIL back
    first if a call ends before the main thread is scheduled: it then calls again)."""
    events = []
    main_ran = threading.Event()

    def worker():
        for i in range(calls):
            events.append(("call", i))
            call()
            events.append(("return", i))
            if main_ran.is_set():
                break

    before = sys.getswitchinterval()
    sys.setswitchinterval(1000.0)
    gc_was_on = gc.isenabled()
    gc.disable()            # a finalizer run by the collector could release the GIL
    try:
        t = threading.Thread(target=worker)
        t.start()
        events.append("main")
        main_ran.set()
        t.join()
    finally:
        sys.setswitchinterval(before)
        if gc_was_on:
            gc.enable()
    k = events.index("main")
    return (0 < k < len(events) - 1 and events[k - 1][0] == "call"
            and events[k + 1] == ("return", events[k - 1][1]))


def _needs_a_gil():
    if not getattr(sys, "_is_gil_enabled", lambda: True)():
        pytest.skip("this Python runs without a GIL")


def test_the_gil_check_sees_a_call_that_holds_the_gil():
    """The control: pure Python code holds the GIL (nothing asks for it here), so the main
    thread runs only after every call."""
    _needs_a_gil()
    assert not _main_thread_ran_inside_a_call(lambda: sum(i * i for i in range(2000)), 20)


@pytest.mark.parametrize("op", ["conv2d", "conv2d_backward"])
def test_python_thread_runs_while_a_long_kernel_runs(op, threads):
    """A Python thread runs while a kernel computes: the kernel released the GIL.

    fastconv runs on 1 OpenMP thread, leaving a core for the other thread. The check is
    the order of events, not a counter's progress against its free-running rate: on a
    loaded machine that rate changes from one moment to the next."""
    _needs_a_gil()
    threads(1)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 32, 32, 32)).astype(np.float32)
    w = rng.standard_normal((32, 32, 3, 3)).astype(np.float32)
    g = rng.standard_normal((2, 32, 32, 32)).astype(np.float32)

    # only the kernel releases the GIL in these calls: the weights packed beforehand for
    # the forward, no input gradient (whose weight packing runs without the GIL too)
    # for the backward -- so the check is on the kernel, not on a packing step
    packed = F.pack_conv2d_weight(w, padding=1, x_shape=x.shape)
    F.conv2d(x, packed, padding=1)

    def call():
        if op == "conv2d":
            F.conv2d(x, packed, padding=1)
        else:
            F.conv2d_backward(g, x, w, padding=1, input_grad=False)

    assert _main_thread_ran_inside_a_call(call, 200), f"{op} seems to hold the GIL"
