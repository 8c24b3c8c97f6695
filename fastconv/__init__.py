"""fastconv: a CPU engine for convolutional neural networks.

Tiers (each imports only the one below it):

* ``fastconv.functional`` -- stateless ops (NCHW), accelerated by C/Cython/OpenMP kernels;
* ``fastconv.reference``  -- the same ops in plain NumPy, the yardstick for every kernel;
* ``fastconv.layers``, ``models``, ``losses``, ``optimizers`` -- the Keras-style API;
* ``fastconv.onnx`` (optional ``onnx`` package) and ``fastconv.distributed`` (optional
  ``mpi4py``) -- interchange and scale-out.

Submodules are imported lazily, so ``import fastconv`` is cheap.
"""
from importlib import import_module as _import_module

__version__ = "0.1.0"

_SUBMODULES = (
    "functional", "reference", "geometry", "layers", "models", "losses", "optimizers",
    "initializers", "datasets", "augment", "visualize", "saving", "progress", "layout",
    "checkpoint", "distributed",
)
_RUNTIME_NAMES = ("show_config", "get_config_info", "set_num_threads", "get_num_threads",
                  "simd_path", "set_simd_path", "openmp_enabled")

__all__ = list(_SUBMODULES) + list(_RUNTIME_NAMES) + ["__version__"]

# The kernels' OpenMP runtime, loaded now with a short spin before idle threads sleep (see
# fastconv._openmp_env: a busy core elsewhere no longer stalls every kernel).
_import_module(f"{__name__}._openmp_env").load_runtime()


def __getattr__(name):
    if name in _SUBMODULES:
        module = _import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in _RUNTIME_NAMES:
        value = getattr(_import_module(f"{__name__}.config"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fastconv' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
