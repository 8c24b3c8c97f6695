"""Keep freed activation buffers in the C heap between training steps (glibc only).

Every functional op returns a fresh NumPy array, so one training step allocates and frees
the same large buffers (feature maps and their gradients, hundreds of KB to a few MB) over
and over.  glibc's default, *dynamic* thresholds hand such blocks back to the kernel as
soon as they are freed (``munmap``, or trimming the top of the heap), and the next step
pays a page fault for every 4 KB page it touches again: about 450 faults, a quarter of a
LeNet-5 step on 28x28 images.

:func:`keep_freed_buffers` (called once, when a model makes its execution plan) fixes
the thresholds at the values glibc's own heuristic ends at after a 32 MB block has been
freed: blocks below 32 MB come from the heap, and up to 64 MB of free heap top is kept for
reuse.  Memory is still returned to the system above that.  It does nothing when:

* the C library is not glibc, or ``mallopt`` cannot be found;
* the user chose the allocator settings (``MALLOC_MMAP_THRESHOLD_``,
  ``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES`` in the environment);
* ``FASTCONV_KEEP_FREED_BUFFERS=0`` is set.
"""
import os
import platform

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")

_state = {"done": False, "applied": False}


def keep_freed_buffers():
    """Apply the heap thresholds once per process; returns True when they are in force."""
    if _state["done"]:
        return _state["applied"]
    _state["done"] = True
    if os.environ.get("FASTCONV_KEEP_FREED_BUFFERS", "1").strip() == "0":
        return False
    if any(k in os.environ for k in _USER_SETTINGS):
        return False
    try:
        if platform.libc_ver()[0] != "glibc":
            return False
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, ValueError):  # pragma: no cover - exotic platforms
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    _state["applied"] = ok
    return ok
