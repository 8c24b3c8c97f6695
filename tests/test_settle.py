"""fastconv._settle: the benchmarks wait for other threads' spinning to stop."""
import threading
import time

from fastconv._settle import wait_until_idle, warm_up


def _spin(stop):
    while not stop.is_set():
        pass


def test_waits_for_a_spinning_thread_to_stop():
    stop = threading.Event()
    worker = threading.Thread(target=_spin, args=(stop,))
    worker.start()
    threading.Timer(0.15, stop.set).start()
    t0 = time.perf_counter()
    try:
        assert wait_until_idle(0.0, limit=2.0)
    finally:
        stop.set()
        worker.join()
    assert time.perf_counter() - t0 >= 0.14


def test_gives_up_at_the_limit():
    stop = threading.Event()
    worker = threading.Thread(target=_spin, args=(stop,))
    worker.start()
    try:
        t0 = time.perf_counter()
        assert not wait_until_idle(0.0, limit=0.1)
        assert 0.1 <= time.perf_counter() - t0 < 1.0
    finally:
        stop.set()
        worker.join()


def test_idle_process_returns_at_once():
    t0 = time.perf_counter()
    assert wait_until_idle(0.0)
    assert time.perf_counter() - t0 < 0.5


def test_warm_up_calls_for_the_time_given_and_at_least_once():
    calls = []
    t0 = time.perf_counter()
    n = warm_up(lambda: calls.append(1), seconds=0.05)
    assert time.perf_counter() - t0 >= 0.05
    assert n == len(calls) > 1
    slow = []
    assert warm_up(lambda: (slow.append(1), time.sleep(0.02)), seconds=0.0) == 1
    assert len(slow) == 1
