"""How long an idle kernel thread spins before it sleeps (GNU OpenMP, libgomp).

A thread of an OpenMP team that waits -- at the barrier that ends a parallel loop, or for
the next loop while Python runs between two kernels -- spins before it sleeps: libgomp's
default is 300,000 spins (a pause instruction each: 3.4 ms on the Xeon these figures come
from; several times that on CPUs with a slower pause). That costs nothing while the
process has the cores to itself, and a great deal when it does not: a spinning thread keeps
its core from the thread it waits for. A 2-core machine running ResNet-20's training step
(batch 64, 2 threads) took 38 ms a step alone and 360-750 ms with one busy process beside
it; with 10,000 spins (0.11 ms there, longer than most pauses between the kernels of a
training step: 15-25 us) it takes the same 38 ms alone and 103-124 ms beside the busy process
(``OMP_WAIT_POLICY=passive``: 75-78 ms there, but 4% slower alone).

libgomp reads the setting once, when it is loaded, so :func:`load_runtime` (run by
``import fastconv``) puts ``GOMP_SPINCOUNT`` in the environment just while it loads the
kernels' runtime and takes it out again: child processes, and OpenMP runtimes loaded later
under another name, see the environment as the user left it. It changes nothing when

* the user set ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` (theirs is in force);
* ``FASTCONV_SPINCOUNT=default`` (libgomp's default; ``FASTCONV_SPINCOUNT=n`` sets n spins);
* libgomp was already loaded by another library (then its settings are in force: the
  process has one libgomp), or the kernels were built without OpenMP.

Any library that shares the process's libgomp (PyTorch's wheels carry one of the same name,
which a later ``import torch`` reuses) gets the same count.
"""
import os
import warnings

SPIN_COUNT = 10000
_USER_SETTINGS = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")

_state = {"spin_count": None, "source": "not loaded yet"}


def _libgomp_loaded():
    """Whether this process has mapped a libgomp.so -- the library the kernels would then
    share (a wheel's renamed copy, libgomp-<hash>.so, is another one) -- on Linux; False
    where that cannot be read."""
    try:
        with open("/proc/self/maps", "rb") as f:
            return any(line.rsplit(b"/", 1)[-1].startswith(b"libgomp.so") for line in f)
    except OSError:
        return False


def _requested_count():
    """The spin count to set, or (None, why not)."""
    for name in _USER_SETTINGS:
        if name in os.environ:
            return None, f"{name}={os.environ[name]} (the user's)"
    text = os.environ.get("FASTCONV_SPINCOUNT", "").strip()
    if not text:
        return SPIN_COUNT, None
    if text.lower() == "default":
        return None, "libgomp's default (FASTCONV_SPINCOUNT=default)"
    try:
        count = int(text)
        if count < 0:
            raise ValueError
    except ValueError:
        warnings.warn(f"FASTCONV_SPINCOUNT must be a count of spins >= 0 or 'default', got "
                      f"{text!r}; libgomp's default is in force", RuntimeWarning, stacklevel=3)
        return None, f"libgomp's default (FASTCONV_SPINCOUNT={text!r} is not a count)"
    return count, None


def load_runtime():
    """Load the kernels' OpenMP runtime, with the spin count of this module's rules, once
    (:func:`spin_setting` then says what was done)."""
    if _state["source"] != "not loaded yet":
        return
    count, why_not = _requested_count()
    if count is not None and _libgomp_loaded():
        count, why_not = None, "the settings of the libgomp another library loaded first"
    placed = count is not None
    if placed:
        os.environ["GOMP_SPINCOUNT"] = str(count)
    try:
        from . import _runtime
        openmp = bool(_runtime.openmp_enabled())
    except ImportError:       # not built yet: the kernels load libgomp later, unchanged
        openmp, count, why_not = False, None, "not applied (the kernels are not built)"
    finally:
        if placed:
            del os.environ["GOMP_SPINCOUNT"]
    if not openmp and why_not is None:
        count, why_not = None, "none (serial build)"
    _state["spin_count"] = count
    _state["source"] = f"GOMP_SPINCOUNT={count} (fastconv's)" if count is not None else why_not


def spin_setting():
    """``{"spin_count": n or None, "source": text}``: what fastconv set, or why it did not."""
    return dict(_state)
