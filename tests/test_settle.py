"""fastconv._settle: the benchmarks wait for other threads' spinning to stop.

The waits are decided on a simulated clock: how long a real wait takes, and whether a real
spinning thread gets enough of a core to be seen, depend on the machine's load (with eight
busy processes on two cores a spinning thread went unseen, and the wait ended early, in half
of the runs), so no assertion here rests on the wall clock.
"""
import threading

import pytest

from fastconv import _settle
from fastconv._settle import wait_until_idle, warm_up


class FakeClock:
    """Stands in for the ``time`` module inside ``_settle``: wall time moves only when
    ``sleep`` is called or ``advance`` says so, and the process's CPU time grows by
    ``cores`` per second while other threads spin (until ``spin_until``)."""

    def __init__(self, spin_until=0.0, cores=1.0):
        self.wall = 0.0
        self.cpu = 0.0
        self.spin_until = spin_until
        self.cores = cores
        self.sleeps = []

    def perf_counter(self):
        return self.wall

    def process_time(self):
        return self.cpu

    def advance(self, dt):
        spinning = max(0.0, min(self.wall + dt, self.spin_until) - self.wall)
        self.cpu += spinning * self.cores
        self.wall += dt

    def sleep(self, dt):
        self.sleeps.append(dt)
        self.advance(dt)


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(_settle, "time", fake)
    return fake


def test_waits_for_a_spinning_thread_to_stop(clock):
    clock.spin_until = 0.15
    assert wait_until_idle(0.0, limit=2.0)
    # the first 10 ms window wholly after the spinning stopped ends the wait
    assert 0.15 <= clock.wall <= 0.15 + 2 * 0.01
    assert clock.sleeps == [0.01] * len(clock.sleeps)


def test_gives_up_at_the_limit(clock):
    clock.spin_until = float("inf")
    assert not wait_until_idle(0.0, limit=0.1)
    assert 0.1 <= clock.wall < 0.1 + 0.01 + 1e-9       # at most one window past the limit


def test_idle_process_returns_after_one_window(clock):
    assert wait_until_idle(0.0)
    assert clock.sleeps == [0.01]


def test_pause_comes_first_and_the_busy_share_decides(clock):
    clock.spin_until, clock.cores = 1.0, 0.05     # 5% of a core: below the 10% threshold
    assert wait_until_idle(0.25)
    assert clock.sleeps == [0.25, 0.01]
    clock.wall, clock.cpu, clock.sleeps, clock.cores = 0.0, 0.0, [], 0.2   # 20%: busy
    assert not wait_until_idle(0.0, limit=0.05)
    assert wait_until_idle(0.0, limit=0.05, busy=0.3)


def test_warm_up_calls_for_the_time_given_and_at_least_once(clock):
    calls = []
    n = warm_up(lambda: (calls.append(1), clock.advance(0.0125)), seconds=0.05)
    assert n == len(calls) == 4 and clock.wall == 0.05
    slow = []
    assert warm_up(lambda: (slow.append(1), clock.advance(0.02)), seconds=0.0) == 1
    assert len(slow) == 1


def test_real_clocks_see_an_idle_process():
    """The real clocks, once: a thread blocked on an event uses no CPU, so the process is
    idle and the wait says so (a loaded machine only makes the process look idler)."""
    stop = threading.Event()
    worker = threading.Thread(target=lambda: stop.wait())
    worker.start()
    try:
        assert wait_until_idle(0.0, limit=5.0)
    finally:
        stop.set()
        worker.join()
