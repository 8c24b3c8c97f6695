"""Argument checks shared by the functional ops (no kernel runs before these pass)."""
import numpy as np

from .. import _activation


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Activation codes of csrc/fastconv.h (enum fc_activation), as the C compiler saw them.
_ACT = _activation.CODES
_ACT_NONE, _ACT_RELU, _ACT_LEAKY_RELU = _ACT["none"], _ACT["relu"], _ACT["leaky_relu"]
_ACT_SIGMOID, _ACT_TANH, _ACT_ELU = _ACT["sigmoid"], _ACT["tanh"], _ACT["elu"]
# The activations the conv kernels apply in their write-back (conv2d(activation=...)).
_ACTIVATIONS = {None: _ACT_NONE, "linear": _ACT_NONE, "relu": _ACT_RELU,
                "leaky_relu": _ACT_LEAKY_RELU, "sigmoid": _ACT_SIGMOID, "tanh": _ACT_TANH,
                "elu": _ACT_ELU, "relu6": _ACT["relu6"], "hardsigmoid": _ACT["hardsigmoid"],
                "hardswish": _ACT["hardswish"], "silu": _ACT["silu"]}


# ---------------------------------------------------------------- argument checks

def _array(x, name, op, ndim=None, dtype=None, contiguous=True):
    """``x`` as a C-contiguous float32/float64 array (copied only if it is not one).

    With ``contiguous=False`` only checked, not copied: ops whose geometry must be
    validated first (a broadcast view may be huge) call ``_contiguous`` afterwards.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: {name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"{op}: {name} must be float32 or float64, got dtype {x.dtype}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{op}: {name} has dtype {x.dtype} but the input has dtype {dtype}; "
                        f"convert one of them")
    if ndim is not None and x.ndim not in ((ndim,) if isinstance(ndim, int) else ndim):
        raise ValueError(f"{op}: {name} must have {ndim} dimensions, got shape {x.shape}")
    return _contiguous(x) if contiguous else x


def _contiguous(x):
    return x if x.flags.c_contiguous else np.ascontiguousarray(x)


def same_layout(a, like):
    """Whether ``a`` is a C-contiguous array of ``like``'s dtype and shape: what the
    kernels take as it is beside ``like`` (a gradient beside its input, a parameter's
    update beside it), no check or copy needed."""
    return (type(a) is np.ndarray and a.dtype == like.dtype and a.shape == like.shape
            and a.flags.c_contiguous)


def _expect_shape(a, shape, name, op):
    if a.shape != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {a.shape}")


def _number(value, name, op):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: {name} must be a number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value}")
    return value


def _bool(value, name, op):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, got {type(value).__name__} {value!r}")
    return bool(value)


def _activation_code(activation, op):
    if activation is not None and not isinstance(activation, str):
        raise TypeError(f"{op}: activation must be None or a name, got {activation!r}")
    key = activation.lower() if isinstance(activation, str) else None
    if key not in _ACTIVATIONS:
        raise ValueError(f"{op}: unknown activation {activation!r}; "
                         f"expected one of {sorted(k for k in _ACTIVATIONS if k)}")
    return _ACTIVATIONS[key]
