"""Build configuration and run-time settings: threads and the SIMD path.

The thread count lives here, in one place; every kernel call receives it explicitly.
"""
import os
import platform
import sys

from . import __version__, _openmp_env

_state = {"num_threads": None, "simd_path": None}

# Modules that carry their own copy of the C dispatch state (the kernels are
# linked statically into each extension), so a forced path must reach each.
_SIMD_MODULES = ("_runtime", "_conv", "_depthwise", "_gemm", "_norm", "_pool", "_activation",
                 "_program", "_upsample")
_SIMD_CODES = {"portable": 0, "avx2": 1, "avx2-fma": 1, "avx512": 2}


def _runtime():
    from . import _runtime
    return _runtime


def openmp_enabled():
    """True when the kernels were built with OpenMP (parallel), False for a serial build."""
    return _runtime().openmp_enabled()


def get_num_threads():
    """Number of OpenMP threads the kernels use (default: OMP_NUM_THREADS or all cores)."""
    if _state["num_threads"] is None:
        _state["num_threads"] = max(1, int(_runtime().max_threads()))
    return _state["num_threads"]


def set_num_threads(n):
    """Set the number of threads every kernel uses. Returns the previous value.

    Raises TypeError for a non-integer and ValueError for n < 1. On a build without
    OpenMP the value is kept but the kernels run on one thread.
    """
    if isinstance(n, bool) or not isinstance(n, (int,)) and not hasattr(n, "__index__"):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__} {n!r}")
    n = int(n.__index__())
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    previous = get_num_threads()
    _state["num_threads"] = n
    return previous


def simd_path():
    """Name of the SIMD path the kernels use: 'avx512', 'avx2-fma' or 'portable'.

    'avx512' is the AVX2 path with AVX-512 GEMM and convolution micro-kernels, which give
    the same bits as their AVX2 twins."""
    if _state["simd_path"] is None:
        _state["simd_path"] = _runtime().simd_path()
    return _state["simd_path"]


def set_simd_path(name):
    """Force the kernels' SIMD path: 'portable', 'avx2' or 'avx512' (or a name
    ``simd_path()`` returned). Returns the path now in force.

    A path the CPU lacks falls back to the widest one below it. The environment variable
    FASTCONV_SIMD (portable or avx2) narrows the default at import time.
    """
    if not isinstance(name, str) or name.lower() not in _SIMD_CODES:
        raise ValueError(f"set_simd_path: expected 'portable', 'avx2' or 'avx512', got {name!r}")
    from importlib import import_module
    code = _SIMD_CODES[name.lower()]
    for mod in _SIMD_MODULES:
        import_module(f"fastconv.{mod}")._set_simd_path(code)
    _state["simd_path"] = _runtime().simd_path()
    return simd_path()


def get_config_info():
    """The build and run-time configuration as a dict."""
    rt = _runtime()
    import numpy
    return {
        "version": __version__,
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "openmp": bool(rt.openmp_enabled()),
        "openmp_version": rt.openmp_version(),
        "num_threads": get_num_threads(),
        "num_procs": rt.num_procs(),
        "cpu_avx2_fma": bool(rt.cpu_has_avx2_fma()),
        "cpu_avx512": bool(rt.cpu_has_avx512()),
        "simd_path": rt.simd_path(),
        "simd_env": os.environ.get("FASTCONV_SIMD", ""),
        "winograd": bool(rt.winograd_enabled()),
        "openmp_spin": _openmp_env.spin_setting()["source"],
    }


def show_config(file=None):
    """Print the version, OpenMP on/off, threads and the SIMD path in use."""
    info = get_config_info()
    omp = (f"on (OpenMP {info['openmp_version']})" if info["openmp"]
           else "OFF (serial build: the compiler lacked OpenMP)")
    lines = [
        f"fastconv {info['version']}",
        f"  python       {info['python']}  numpy {info['numpy']}",
        f"  platform     {info['platform']}",
        f"  openmp       {omp}",
        f"  threads      {info['num_threads']} (of {info['num_procs']} processors)",
        f"  idle spin    {info['openmp_spin']}",
        f"  cpu avx2+fma {'yes' if info['cpu_avx2_fma'] else 'no'}"
        f"  avx512 {'yes' if info['cpu_avx512'] else 'no'}",
        f"  simd path    {info['simd_path']}"
        + (f"  (FASTCONV_SIMD={info['simd_env']})" if info["simd_env"] else ""),
        "  winograd     " + ("on (3x3 stride-1 convolutions with >= 64 channels, or >= 32 "
                             "and >= 2048 output tiles;\n               F(4x4) with >= 32 "
                             "channels and a batch of >= 16 4x4 tiles (13x13 maps and up;\n"
                             "               32 tiles on 4x4 maps; AVX-512: 16 channels from 256);\n"
                             "               weight gradient F(4x4) with >= 8 channels and >= 256 "
                             "4x4 tiles;\n               AVX-512: stride-2 passes on the four "
                             "phases, F(4x4, 2x2) forward and input\n               gradient, "
                             "F(2x2, 4x4) weight gradient: 4x4 filters with >= 16 channels and\n"
                             "               >= 32 4x4 tiles; 3x3 from 32 / 16 / 32 channels, "
                             "256 / 256 / 128 tiles,\n               up to 8192 / 2048 / 2048 "
                             "channel pairs; the 4x4 weight gradient up to 32768)"
                             if info["winograd"] else "OFF (FASTCONV_NO_WINOGRAD is set)"),
    ]
    print("\n".join(lines), file=file if file is not None else sys.stdout)
