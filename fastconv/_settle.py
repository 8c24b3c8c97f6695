"""Waiting for the thread pools of the engine timed before to go quiet.

Engines keep their worker threads spinning for a while after a call (ONNX Runtime's for
50-70 ms on this project's machine, OpenBLAS's up to ~0.1 s, OpenMP runtimes less). In one
process on a small machine a spinning worker takes a core from the engine timed next:
fastconv's batch-1 inference measured 1.75x slower when it started 20 ms after an ONNX
Runtime round than when it started 100 ms after. The benchmarks therefore start each timed
block only once the process's own CPU use has dropped, as if each engine ran alone.
"""
import time


def wait_until_idle(pause, limit=1.0, window=0.01, busy=0.1):
    """Sleep ``pause`` seconds, then until this process uses less than ``busy`` of a core
    over a ``window``-second interval (its other threads have stopped spinning), at most
    ``limit`` seconds more. Returns True when the process went idle, False on the limit."""
    if pause > 0:
        time.sleep(pause)
    end = time.perf_counter() + limit
    while True:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        time.sleep(window)
        wall = time.perf_counter() - wall0
        if (time.process_time() - cpu0) < busy * wall:
            return True
        if time.perf_counter() >= end:
            return False
