"""How much time a planned model spends outside its kernels, per layer, at batch 1.

Every call into a compiled kernel module (``fastconv._conv``, ``_pool``, ``_gemm``,
``_activation`` and the other ``fastconv._*`` extensions) is timed by a thin wrapper while
``model.predict`` runs on one image; the rest of the wall time -- the plan, the layers'
Python, argument handling, allocations, NumPy element-wise work, the layout conversion at
the edges -- divided by the number of plan steps is the overhead per layer. (The wrappers'
own cost is counted as overhead, so the figure errs on the high side.)
"""
import importlib
import time

import numpy as np

__all__ = ["overhead_per_layer"]

_KERNEL_MODULES = ("_conv", "_depthwise", "_pool", "_gemm", "_activation", "_norm", "_upsample",
                   "_program")


def _wrap(fn, acc):
    def timed(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[0] += time.perf_counter() - t
    return timed


def overhead_per_layer(model, x, repeats=200):
    """``(total_us, kernel_us, outside_us_per_step, steps)`` of ``model.predict(x)`` (one
    image), minimum over ``repeats`` calls."""
    acc = [0.0]
    patched = []
    for name in _KERNEL_MODULES:
        try:
            mod = importlib.import_module(f"fastconv.{name}")
        except ImportError:
            continue
        for attr in dir(mod):
            fn = getattr(mod, attr)
            if attr.startswith("_") or not callable(fn) or isinstance(fn, type):
                continue
            patched.append((mod, attr, fn))
            setattr(mod, attr, _wrap(fn, acc))
    try:
        model.predict(x, batch_size=len(x))
        best = None
        for _ in range(repeats):
            acc[0] = 0.0
            t = time.perf_counter()
            model.predict(x, batch_size=len(x))
            total = time.perf_counter() - t
            if best is None or total < best[0]:
                best = (total, acc[0])
    finally:
        for mod, attr, fn in patched:
            setattr(mod, attr, fn)
    steps = len(model._get_plan()._inference_steps()[0])
    total, kernels = best
    return total * 1e6, kernels * 1e6, (total - kernels) * 1e6 / max(steps, 1), steps
