"""Waiting for the thread pools of the engine timed before to go quiet.

Engines keep their worker threads spinning for a while after a call (ONNX Runtime's for
50-70 ms on this project's machine, OpenBLAS's up to ~0.1 s, OpenMP runtimes less). In one
process on a small machine a spinning worker takes a core from the engine timed next:
fastconv's batch-1 inference measured 1.75x slower when it started 20 ms after an ONNX
Runtime round than when it started 100 ms after. The benchmarks therefore start each timed
block only once the process's own CPU use has dropped, as if each engine ran alone.

After that pause an engine's own workers are asleep, and waking them is not over with the
first call. On this project's 2-vCPU virtual machine a 0.1 ms convolution (the benchmark's
lenet-c3 forward, 2 threads) took 0.4-0.6 ms for 0.1 s or more after such a pause in 3-6
blocks in 10 when one untimed call preceded the timed ones -- PyTorch's kernels, in the
same process and OpenMP runtime, in 4 in 10 -- and in none in 20 after 30 ms of untimed
calls. A thread-placement effect of short spinning (fastconv's default,
``fastconv._openmp_env``): with the threads pinned (``OMP_PROC_BIND=true``) it went away
(0 in 30), with libgomp's long default spin nearly (1 in 30), with no spin at all it hit 26
in 30. :func:`warm_up` makes those calls.
"""
import time

# Untimed calls an engine makes after the pause, before its timed ones.
WARM_UP_SECONDS = 0.03


def warm_up(fn, seconds=WARM_UP_SECONDS):
    """Call ``fn`` until ``seconds`` have passed, at least once: the engine's thread pool
    awake and settled, as a caller making calls back to back has it. Returns the count."""
    end = time.perf_counter() + seconds
    calls = 0
    while True:
        fn()
        calls += 1
        if time.perf_counter() >= end:
            return calls


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
