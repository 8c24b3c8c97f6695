"""The hostile-input table of tests/test_validation.py, functional ops: ``CASES`` holds
(id, thunk, exception type, message regex, needs) and ``case`` adds a row; the test file
adds the layer-API rows and runs the table in child interpreters. Kept apart so that
neither file outgrows a screenful of topics."""
import importlib.util

import numpy as np
import fastconv  # noqa: F401 - a missing build fails here, which the test file reports

from fastconv import functional as F

def _have(module):
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


HAVE_LAYERS = _have("fastconv.layers") and _have("fastconv.models")

f32, f64 = np.float32, np.float64


def z(*shape, dtype=f32):
    return np.zeros(shape, dtype)


def r(*shape, dtype=f32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def X():   # the standard image batch: N=2, C=3, 8x8
    return r(2, 3, 8, 8)


def Wt():  # the standard weight: K=4 filters of 3x3x3
    return r(4, 3, 3, 3, seed=1)


def readonly(a):
    a.setflags(write=False)
    return a


CASES = []


def case(cid, exc, pattern, thunk, needs=None):
    assert all(c[0] != cid for c in CASES), cid
    CASES.append((cid, thunk, exc, pattern, needs))


BIG = 2 ** 70                 # beyond int64
HUGE_PAD = 2 ** 40            # output (2**41 + 4)^2 elements: beyond 2**62

# ------------------------------------------------------------------ conv2d
case("conv2d/x-3d", ValueError, r"x must have 4 dimensions.*\(3, 8, 8\)",
     lambda: F.conv2d(z(3, 8, 8), Wt()))
case("conv2d/weight-5d", ValueError, r"weight must have 4 dimensions.*\(4, 3, 3, 3, 1\)",
     lambda: F.conv2d(X(), z(4, 3, 3, 3, 1)))
case("conv2d/channel-mismatch", ValueError, r"5 input channels.*x has 3",
     lambda: F.conv2d(X(), z(4, 5, 3, 3)))
case("conv2d/kernel-larger-than-input", ValueError, r"kernel 7x7.*padded input 4x4",
     lambda: F.conv2d(z(1, 3, 4, 4), z(2, 3, 7, 7)))
case("conv2d/kernel-larger-than-padded-input", ValueError, r"kernel 7x7.*padded input 6x6",
     lambda: F.conv2d(z(1, 3, 4, 4), z(2, 3, 7, 7), padding=1))
case("conv2d/dilated-kernel-too-large", ValueError, r"spanning 11x11.*8x8",
     lambda: F.conv2d(X(), Wt(), dilation=5))
case("conv2d/stride-zero", ValueError, r"stride must be positive, got \(0, 0\)",
     lambda: F.conv2d(X(), Wt(), stride=0))
case("conv2d/stride-negative", ValueError, r"stride must be positive, got \(-2, 1\)",
     lambda: F.conv2d(X(), Wt(), stride=(-2, 1)))
case("conv2d/dilation-zero", ValueError, r"dilation must be positive, got \(0, 0\)",
     lambda: F.conv2d(X(), Wt(), dilation=0))
case("conv2d/kernel-height-zero", ValueError, r"kernel height must be positive, got 0",
     lambda: F.conv2d(X(), z(4, 3, 0, 3)))
case("conv2d/no-filters", ValueError, r"number of filters must be positive, got 0",
     lambda: F.conv2d(X(), z(0, 3, 3, 3)))
case("conv2d/empty-image", ValueError, r"height must be positive, got 0",
     lambda: F.conv2d(z(2, 3, 0, 8), Wt()))
case("conv2d/padding-negative", ValueError, r"padding must be >= 0, got \(-1, -1\)",
     lambda: F.conv2d(X(), Wt(), padding=-1))
case("conv2d/padding-unknown-string", ValueError, r"'full'",
     lambda: F.conv2d(X(), Wt(), padding="full"))
case("conv2d/padding-float", TypeError, r"padding.*1\.5",
     lambda: F.conv2d(X(), Wt(), padding=1.5))
case("conv2d/padding-triple", ValueError, r"padding.*\(1, 1, 1\)",
     lambda: F.conv2d(X(), Wt(), padding=(1, 1, 1)))
case("conv2d/padding-none", TypeError, r"padding.*None",
     lambda: F.conv2d(X(), Wt(), padding=None))
case("conv2d/same-with-stride", ValueError, r"'same' needs stride 1.*\(2, 2\)",
     lambda: F.conv2d(X(), Wt(), stride=2, padding="same"))
case("conv2d/bias-wrong-length", ValueError, r"bias must have shape \(4,\), got \(5,\)",
     lambda: F.conv2d(X(), Wt(), z(5)))
case("conv2d/bias-2d", ValueError, r"bias must have 1 dimensions.*\(4, 1\)",
     lambda: F.conv2d(X(), Wt(), z(4, 1)))
case("conv2d/complex-input", TypeError, r"x must be float32 or float64.*complex64",
     lambda: F.conv2d(X().astype(np.complex64), Wt()))
case("conv2d/object-input", TypeError, r"x must be float32 or float64.*object",
     lambda: F.conv2d(X().astype(object), Wt()))
case("conv2d/int-input", TypeError, r"x must be float32 or float64.*int32",
     lambda: F.conv2d(X().astype(np.int32), Wt()))
case("conv2d/float16-weight", TypeError, r"weight must be float32 or float64.*float16",
     lambda: F.conv2d(X(), Wt().astype(np.float16)))
case("conv2d/mixed-float32-float64", TypeError, r"weight has dtype float64.*float32",
     lambda: F.conv2d(X(), Wt().astype(f64)))
case("conv2d/bias-mixed-dtype", TypeError, r"bias has dtype float64",
     lambda: F.conv2d(X(), Wt(), z(4, dtype=f64)))
case("conv2d/list-input", TypeError, r"x must be a numpy.ndarray, got list",
     lambda: F.conv2d(X().tolist(), Wt()))
case("conv2d/none-input", TypeError, r"x must be a numpy.ndarray, got NoneType",
     lambda: F.conv2d(None, Wt()))
case("conv2d/string-weight", TypeError, r"weight must be a numpy.ndarray, got str",
     lambda: F.conv2d(X(), "3x3"))
case("conv2d/bias-list", TypeError, r"bias must be a numpy.ndarray, got list",
     lambda: F.conv2d(X(), Wt(), [0.0] * 4))
case("conv2d/stride-bool", TypeError, r"stride must be an int, got bool True",
     lambda: F.conv2d(X(), Wt(), stride=True))
case("conv2d/stride-string", TypeError, r"stride must be an int.*'2'",
     lambda: F.conv2d(X(), Wt(), stride="2"))
case("conv2d/dilation-float", TypeError, r"dilation must be an int.*2\.0",
     lambda: F.conv2d(X(), Wt(), dilation=2.0))
case("conv2d/activation-unknown", ValueError, r"unknown activation 'swish'",
     lambda: F.conv2d(X(), Wt(), activation="swish"))
case("conv2d/activation-not-a-name", TypeError, r"activation.*\b3\b",
     lambda: F.conv2d(X(), Wt(), activation=3))
case("conv2d/negative-slope-nan", ValueError, r"negative_slope must be finite, got nan",
     lambda: F.conv2d(X(), Wt(), activation="leaky_relu", negative_slope=float("nan")))
case("conv2d/alpha-inf", ValueError, r"alpha must be finite, got inf",
     lambda: F.conv2d(X(), Wt(), activation="elu", alpha=float("inf")))
case("conv2d/padding-overflows-int64-indexing", ValueError,
     rf"{2 * HUGE_PAD + 4}.*64-bit",
     lambda: F.conv2d(z(1, 1, 4, 4), z(1, 1, 1, 1), padding=HUGE_PAD))
case("conv2d/padding-beyond-int64", ValueError, rf"{BIG}|64-bit",
     lambda: F.conv2d(z(1, 1, 4, 4), z(1, 1, 1, 1), padding=BIG))
case("conv2d/stride-beyond-int64", ValueError, rf"stride.*{BIG}",
     lambda: F.conv2d(z(1, 1, 4, 4), z(1, 1, 1, 1), stride=BIG))
case("conv2d/dilation-beyond-int64", ValueError, rf"dilation.*{BIG}",
     lambda: F.conv2d(z(1, 1, 4, 4), z(1, 1, 1, 1), dilation=BIG))
# Passes the 64-bit checks; the output alone would be ~1.1e15 bytes.
case("conv2d/output-beyond-memory", MemoryError, r"16777217",
     lambda: F.conv2d(z(1, 1, 1, 1), z(1, 1, 1, 1), padding=2 ** 23))
# A 2x2 output, but the zero-bordered copy of the image needs ~16 TB of workspace.
case("conv2d/workspace-beyond-memory", MemoryError, r"conv2d.*\d{12,} bytes",
     lambda: F.conv2d(z(2, 1, 1, 1), z(1, 1, 1, 1), padding=2 ** 20, stride=2 ** 21))

# ------------------------------------------------------------------ conv2d_backward
GO = lambda: r(2, 4, 6, 6, seed=2)  # noqa: E731  grad_out of conv2d(X(), Wt())
case("conv2d_backward/grad-out-shape", ValueError,
     r"grad_out must have shape \(2, 4, 6, 6\), got \(2, 4, 5, 5\)",
     lambda: F.conv2d_backward(z(2, 4, 5, 5), X(), Wt()))
case("conv2d_backward/grad-out-dtype", TypeError, r"grad_out has dtype float64",
     lambda: F.conv2d_backward(GO().astype(f64), X(), Wt()))
case("conv2d_backward/grad-out-list", TypeError, r"grad_out must be a numpy.ndarray, got list",
     lambda: F.conv2d_backward(GO().tolist(), X(), Wt()))
case("conv2d_backward/channel-mismatch", ValueError, r"2 input channels.*x has 3",
     lambda: F.conv2d_backward(GO(), X(), z(4, 2, 3, 3)))
case("conv2d_backward/stride-zero", ValueError, r"stride must be positive, got \(0, 0\)",
     lambda: F.conv2d_backward(GO(), X(), Wt(), stride=0))
case("conv2d_backward/input-grad-not-bool", TypeError, r"input_grad must be a bool.*'yes'",
     lambda: F.conv2d_backward(GO(), X(), Wt(), input_grad="yes"))
case("conv2d_backward/padding-string", ValueError, r"'half'",
     lambda: F.conv2d_backward(GO(), X(), Wt(), padding="half"))

# ------------------------------------------------------------------ groups / conv_transpose2d
case("conv2d/groups-not-dividing", ValueError, r"groups=2 must divide.*input channels 3",
     lambda: F.conv2d(X(), z(4, 1, 3, 3), groups=2))
case("conv2d/groups-zero", ValueError, r"groups must be positive, got 0",
     lambda: F.conv2d(X(), Wt(), groups=0))
case("conv2d/groups-float", TypeError, r"groups must be an int.*1\.0",
     lambda: F.conv2d(X(), Wt(), groups=1.0))
case("conv2d/groups-weight-channels", ValueError, r"weight expects 6 input channels \(2 per group x 3",
     lambda: F.conv2d(X(), z(3, 2, 3, 3), groups=3))
case("conv2d_backward/groups-bool", TypeError, r"groups must be an int, got bool",
     lambda: F.conv2d_backward(GO(), X(), Wt(), groups=True))
XT = lambda: r(2, 4, 5, 5)  # noqa: E731  conv_transpose2d input
WT = lambda: r(4, 3, 3, 3, seed=1)  # noqa: E731  its weight (C_in, K / groups, R, S)
case("conv_transpose2d/x-3d", ValueError, r"x must have 4 dimensions",
     lambda: F.conv_transpose2d(z(4, 5, 5), WT()))
case("conv_transpose2d/channel-mismatch", ValueError, r"weight expects 3 input channels but x has 4",
     lambda: F.conv_transpose2d(XT(), z(3, 3, 3, 3)))
case("conv_transpose2d/output-padding-too-large", ValueError,
     r"output_padding \(2, 2\) must be smaller than the stride \(2, 2\)",
     lambda: F.conv_transpose2d(XT(), WT(), stride=2, output_padding=2))
case("conv_transpose2d/output-padding-negative", ValueError, r"output_padding must be >= 0",
     lambda: F.conv_transpose2d(XT(), WT(), stride=2, output_padding=-1))
case("conv_transpose2d/padding-eats-output", ValueError, r"leaves no output",
     lambda: F.conv_transpose2d(z(1, 4, 1, 1), WT(), padding=2))
case("conv_transpose2d/padding-string", TypeError, r"padding must be an int.*'same'",
     lambda: F.conv_transpose2d(XT(), WT(), padding="same"))
case("conv_transpose2d/groups-not-dividing", ValueError, r"groups=3 must divide the input channels 4",
     lambda: F.conv_transpose2d(XT(), WT(), groups=3))
case("conv_transpose2d/bias-wrong-length", ValueError, r"bias must have shape \(3,\), got \(4,\)",
     lambda: F.conv_transpose2d(XT(), WT(), z(4)))
case("conv_transpose2d/mixed-dtype", TypeError, r"weight has dtype float64",
     lambda: F.conv_transpose2d(XT(), WT().astype(f64)))
case("conv_transpose2d/stride-zero", ValueError, r"stride must be positive",
     lambda: F.conv_transpose2d(XT(), WT(), stride=0))
case("conv_transpose2d/output-beyond-int64", ValueError, r"64-bit",
     lambda: F.conv_transpose2d(z(1, 4, 1, 1), WT(), stride=2 ** 40, dilation=2 ** 40))
case("conv_transpose2d_backward/grad-out-shape", ValueError,
     r"grad_out must have shape \(2, 3, 7, 7\), got \(2, 3, 5, 5\)",
     lambda: F.conv_transpose2d_backward(z(2, 3, 5, 5), XT(), WT()))
case("conv_transpose2d_backward/grad-out-list", TypeError, r"grad_out must be a numpy.ndarray",
     lambda: F.conv_transpose2d_backward([1.0], XT(), WT()))

# ------------------------------------------------------------------ pooling
for _op in ("max_pool2d", "avg_pool2d"):
    _f = getattr(F, _op)
    case(f"{_op}/kernel-zero", ValueError, r"kernel_size must be positive, got \(0, 0\)",
         lambda _f=_f: _f(X(), 0))
    case(f"{_op}/kernel-negative", ValueError, r"kernel_size must be positive, got \(-2, 2\)",
         lambda _f=_f: _f(X(), (-2, 2)))
    case(f"{_op}/stride-zero", ValueError, r"stride must be positive, got \(0, 0\)",
         lambda _f=_f: _f(X(), 2, 0))
    case(f"{_op}/padding-window-wholly-in-padding", ValueError,
         r"padding \(3, 3\) leaves a window wholly in the padding",
         lambda _f=_f: _f(X(), 3, 1, 3))
    case(f"{_op}/per-side-padding-last-window-in-padding", ValueError,
         r"padding \(\(0, 5\), \(0, 0\)\) leaves a window wholly in the padding along the rows",
         lambda _f=_f: _f(X(), 2, 2, ((0, 5), (0, 0))))
    case(f"{_op}/per-side-padding-negative", ValueError, r"padding must be >= 0.*-1",
         lambda _f=_f: _f(X(), 2, 2, ((0, -1), (0, 0))))
    case(f"{_op}/per-side-padding-triple", ValueError, r"padding.*\(1, 2, 3\)",
         lambda _f=_f: _f(X(), 2, 2, ((1, 2, 3), (0, 0))))
    case(f"{_op}/same-with-ceil-mode", ValueError, r"ceil_mode=True has no meaning with padding='same'",
         lambda _f=_f: _f(X(), 3, 2, "same", True))
    case(f"{_op}/padding-unknown-string", ValueError, r"'full'",
         lambda _f=_f: _f(X(), 3, 2, "full"))
    case(f"{_op}/padding-negative", ValueError, r"padding must be >= 0, got \(-1, 0\)",
         lambda _f=_f: _f(X(), 2, 2, (-1, 0)))
    case(f"{_op}/kernel-larger-than-padded-input", ValueError, r"kernel 5x5.*padded input 5x5|"
         r"kernel 7x7.*padded input 5x5",
         lambda _f=_f: _f(z(1, 1, 3, 3), 7, 1, 1))
    case(f"{_op}/ceil-mode-string", TypeError, r"ceil_mode must be a bool.*'yes'",
         lambda _f=_f: _f(X(), 2, ceil_mode="yes"))
    case(f"{_op}/kernel-float", TypeError, r"kernel_size must be an int.*2\.0",
         lambda _f=_f: _f(X(), 2.0))
    case(f"{_op}/kernel-none", TypeError, r"kernel_size must be an int.*None",
         lambda _f=_f: _f(X(), None))
    case(f"{_op}/x-2d", ValueError, r"x must have 4 dimensions.*\(8, 8\)",
         lambda _f=_f: _f(z(8, 8), 2))
    case(f"{_op}/int-input", TypeError, r"int64",
         lambda _f=_f: _f(z(1, 1, 4, 4, dtype=np.int64), 2))
    case(f"{_op}/stride-beyond-int64", ValueError, rf"stride.*{BIG}",
         lambda _f=_f: _f(z(1, 1, 4, 4), 2, BIG))
    # A 2**40 window half padded: the padded plane (2**40 + 1)^2 would overflow int64 sums.
    case(f"{_op}/padded-plane-overflows-int64", ValueError, r"64-bit",
         lambda _f=_f: _f(z(1, 1, 1, 1), 2 ** 40, 1, 2 ** 39))
    case(f"{_op}_backward/grad-out-shape", ValueError,
         r"grad_out must have shape \(2, 3, 4, 4\), got \(2, 3, 3, 3\)",
         lambda _op=_op: getattr(F, _op + "_backward")(z(2, 3, 3, 3), X(), 2))
    case(f"{_op}_backward/grad-out-dtype", TypeError, r"grad_out has dtype float64",
         lambda _op=_op: getattr(F, _op + "_backward")(z(2, 3, 4, 4, dtype=f64), X(), 2))
    case(f"{_op}_backward/grad-out-none", TypeError, r"grad_out must be a numpy.ndarray, got NoneType",
         lambda _op=_op: getattr(F, _op + "_backward")(None, X(), 2))
case("max_pool2d/dilation-zero", ValueError, r"dilation must be positive, got \(0, 0\)",
     lambda: F.max_pool2d(X(), 2, dilation=0))
case("max_pool2d/dilation-float", TypeError, r"dilation must be an int.*1\.5",
     lambda: F.max_pool2d(X(), 2, dilation=1.5))
case("max_pool2d_backward/dilation-bool", TypeError, r"dilation must be an int, got bool",
     lambda: F.max_pool2d_backward(z(2, 3, 4, 4), X(), 2, dilation=True))
case("conv2d/per-side-padding-negative", ValueError, r"padding must be >= 0.*-2",
     lambda: F.conv2d(X(), Wt(), padding=((1, 1), (-2, 0))))
case("conv2d/per-side-padding-float", TypeError, r"padding must be an int.*0\.5",
     lambda: F.conv2d(X(), Wt(), padding=((1, 0.5), (0, 0))))
case("conv2d/per-side-padding-one-side", ValueError, r"padding.*\(1,\)",
     lambda: F.conv2d(X(), Wt(), padding=((1,), (0, 0))))
case("conv2d/per-side-padding-beyond-int64", ValueError, rf"{BIG}|64-bit",
     lambda: F.conv2d(z(1, 1, 4, 4), z(1, 1, 1, 1), padding=((0, BIG), (0, 0))))
case("keras_padding/mode-unknown", ValueError, r"mode must be 'same' or 'valid', got 'full'",
     lambda: fastconv.geometry.keras_padding((8, 8), 3, 1, 1, "full"))
case("keras_padding/stride-zero", ValueError, r"stride must be positive",
     lambda: fastconv.geometry.keras_padding((8, 8), 3, 0, 1, "same"))
case("avg_pool2d/count-include-pad-string", TypeError, r"count_include_pad must be a bool.*'no'",
     lambda: F.avg_pool2d(X(), 2, count_include_pad="no"))
case("avg_pool2d_backward/count-include-pad-none", TypeError, r"count_include_pad must be a bool.*None",
     lambda: F.avg_pool2d_backward(z(2, 3, 4, 4), X(), 2, count_include_pad=None))

# ------------------------------------------------------------------ activations
for _name in ("relu", "sigmoid", "tanh", "leaky_relu", "elu"):
    _f, _b = getattr(F, _name), getattr(F, _name + "_backward")
    case(f"{_name}/list", TypeError, r"x must be a numpy.ndarray, got list",
         lambda _f=_f: _f([1.0, -1.0]))
    case(f"{_name}/complex", TypeError, r"complex128", lambda _f=_f: _f(np.ones(3, complex)))
    case(f"{_name}_backward/shape-mismatch", ValueError,
         r"grad_out must have shape \(3, 4\), got \(4, 3\)",
         lambda _b=_b: _b(z(4, 3), z(3, 4)))
    case(f"{_name}_backward/mixed-dtype", TypeError, r"grad_out has dtype float64.*float32",
         lambda _b=_b: _b(z(3, 4, dtype=f64), z(3, 4)))
for _name in ("relu6", "hardsigmoid", "hardswish", "silu", "gelu", "softplus"):
    _f, _b = getattr(F, _name), getattr(F, _name + "_backward")
    case(f"{_name}/list", TypeError, r"x must be a numpy.ndarray, got list",
         lambda _f=_f: _f([1.0, -1.0]))
    case(f"{_name}/int", TypeError, r"int64", lambda _f=_f: _f(np.arange(4)))
    case(f"{_name}_backward/shape-mismatch", ValueError,
         r"grad_out must have shape \(3, 4\), got \(4, 3\)",
         lambda _b=_b: _b(z(4, 3), z(3, 4)))
    case(f"{_name}_backward/mixed-dtype", TypeError, r"grad_out has dtype float64.*float32",
         lambda _b=_b: _b(z(3, 4, dtype=f64), z(3, 4)))
case("gelu/approximate-unknown", ValueError, r"approximate must be 'none' or 'tanh', got 'erf'",
     lambda: F.gelu(z(3), approximate="erf"))
case("gelu/approximate-none-object", TypeError, r"approximate must be.*NoneType None",
     lambda: F.gelu(z(3), approximate=None))
case("gelu_backward/approximate-bool", TypeError, r"approximate must be.*bool True",
     lambda: F.gelu_backward(z(3), z(3), approximate=True))
case("softplus/beta-zero", ValueError, r"beta must be nonzero, got 0", lambda: F.softplus(z(3), 0))
case("softplus/beta-nan", ValueError, r"beta must be finite, got nan",
     lambda: F.softplus(z(3), float("nan")))
case("softplus/threshold-string", TypeError, r"threshold must be a number.*'20'",
     lambda: F.softplus(z(3), 1.0, "20"))
case("softplus_backward/threshold-inf", ValueError, r"threshold must be finite, got inf",
     lambda: F.softplus_backward(z(3), z(3), 1.0, float("inf")))
case("conv2d/activation-gelu-not-fused", ValueError, r"unknown activation 'gelu'",
     lambda: F.conv2d(X(), Wt(), activation="gelu"))
case("relu/none", TypeError, r"got NoneType", lambda: F.relu(None))
case("relu/object", TypeError, r"object", lambda: F.relu(np.array([1.0, None])))
case("sigmoid/int", TypeError, r"int64", lambda: F.sigmoid(np.arange(4)))
case("tanh/bool", TypeError, r"dtype bool", lambda: F.tanh(np.ones(3, bool)))
case("relu/string", TypeError, r"got str", lambda: F.relu("1.0"))
case("leaky_relu/slope-nan", ValueError, r"negative_slope must be finite, got nan",
     lambda: F.leaky_relu(z(3), float("nan")))
case("leaky_relu/slope-inf", ValueError, r"negative_slope must be finite, got -inf",
     lambda: F.leaky_relu(z(3), -np.inf))
case("leaky_relu/slope-string", TypeError, r"negative_slope must be a number.*'0.1'",
     lambda: F.leaky_relu(z(3), "0.1"))
case("leaky_relu/slope-array", TypeError, r"negative_slope must be a number.*ndarray",
     lambda: F.leaky_relu(z(3), np.array([0.1, 0.2])))
case("leaky_relu_backward/slope-nan", ValueError, r"negative_slope must be finite, got nan",
     lambda: F.leaky_relu_backward(z(3), z(3), np.float32("nan")))
case("elu/alpha-nan", ValueError, r"alpha must be finite, got nan",
     lambda: F.elu(z(3), float("nan")))
case("elu/alpha-none", TypeError, r"alpha must be a number.*None", lambda: F.elu(z(3), None))
case("elu_backward/alpha-complex", TypeError, r"alpha must be a number.*complex",
     lambda: F.elu_backward(z(3), z(3), 1j))

# ------------------------------------------------------------------ maxout
case("maxout/pieces-zero", ValueError, r"pieces must be >= 1, got 0", lambda: F.maxout(X(), 0))
case("maxout/pieces-negative", ValueError, r"pieces must be >= 1, got -3",
     lambda: F.maxout(X(), -3))
case("maxout/pieces-not-dividing", ValueError, r"3 channels.*pieces=2", lambda: F.maxout(X(), 2))
case("maxout/pieces-float", TypeError, r"pieces must be an int.*1\.5", lambda: F.maxout(X(), 1.5))
case("maxout/pieces-bool", TypeError, r"pieces must be an int, got bool", lambda: F.maxout(X(), True))
case("maxout/x-1d", ValueError, r"x must have \(2, 3, 4\) dimensions.*\(6,\)",
     lambda: F.maxout(z(6), 3))
case("maxout/x-int", TypeError, r"int64", lambda: F.maxout(np.ones((2, 4), np.int64), 2))
case("maxout_backward/grad-out-shape", ValueError,
     r"grad_out must have shape \(2, 1, 8, 8\), got \(2, 3, 8, 8\)",
     lambda: F.maxout_backward(X(), X(), 3))

# ------------------------------------------------------------------ linear
case("linear/x-1d", ValueError, r"x must have 2 dimensions.*\(5,\)", lambda: F.linear(z(5), z(3, 5)))
case("linear/weight-3d", ValueError, r"weight must have 2 dimensions.*\(3, 5, 1\)",
     lambda: F.linear(z(2, 5), z(3, 5, 1)))
case("linear/feature-mismatch", ValueError, r"expects 4 input features but x \(2, 5\) has 5",
     lambda: F.linear(z(2, 5), z(3, 4)))
case("linear/bias-shape", ValueError, r"bias must have shape \(3,\), got \(5,\)",
     lambda: F.linear(z(2, 5), z(3, 5), z(5)))
case("linear/mixed-dtype", TypeError, r"weight has dtype float64",
     lambda: F.linear(z(2, 5), z(3, 5, dtype=f64)))
case("linear/int-input", TypeError, r"int64", lambda: F.linear(np.ones((2, 5), np.int64), z(3, 5)))
case("linear/tuple-input", TypeError, r"got tuple", lambda: F.linear((1.0, 2.0), z(3, 2)))
case("linear_backward/grad-out-shape", ValueError, r"grad_out must have shape \(2, 3\), got \(2, 4\)",
     lambda: F.linear_backward(z(2, 4), z(2, 5), z(3, 5)))
case("linear_backward/feature-mismatch", ValueError, r"expects 4 input features",
     lambda: F.linear_backward(z(2, 3), z(2, 5), z(3, 4)))

# ------------------------------------------------------------------ softmax and loss
case("softmax/list", TypeError, r"got list", lambda: F.softmax([[1.0, 2.0]]))
case("log_softmax/complex", TypeError, r"complex", lambda: F.log_softmax(np.ones((2, 2), complex)))
LOGITS = lambda: r(4, 5)  # noqa: E731
for _op in ("cross_entropy", "cross_entropy_backward"):
    _f = getattr(F, _op)
    case(f"{_op}/label-out-of-range", ValueError, r"label 5 is out of range for 5 classes",
         lambda _f=_f: _f(LOGITS(), np.array([0, 1, 5, 2])))
    case(f"{_op}/label-negative", ValueError, r"label -1 is out of range",
         lambda _f=_f: _f(LOGITS(), np.array([0, -1, 3, 2])))
    case(f"{_op}/label-float", TypeError, r"integer dtype, got float64",
         lambda _f=_f: _f(LOGITS(), np.array([0.0, 1.0, 2.0, 3.0])))
    case(f"{_op}/label-count", ValueError, r"3 labels for 4 rows",
         lambda _f=_f: _f(LOGITS(), np.array([0, 1, 2])))
    case(f"{_op}/one-hot-shape", ValueError, r"one-hot target must have shape \(4, 5\), got \(4, 6\)",
         lambda _f=_f: _f(LOGITS(), z(4, 6)))
    case(f"{_op}/target-list", TypeError, r"target must be a numpy.ndarray, got list",
         lambda _f=_f: _f(LOGITS(), [0, 1, 2, 3]))
case("cross_entropy/target-3d", ValueError, r"shape \(4, 5, 1\)",
     lambda: F.cross_entropy(LOGITS(), z(4, 5, 1)))
case("cross_entropy/logits-1d", ValueError, r"logits must have 2 dimensions.*\(5,\)",
     lambda: F.cross_entropy(z(5), np.array([1])))
case("cross_entropy/empty-batch", ValueError, r"empty batch",
     lambda: F.cross_entropy(z(0, 5), np.zeros(0, np.int64)))
case("cross_entropy/logits-int", TypeError, r"logits must be float32 or float64.*int64",
     lambda: F.cross_entropy(np.ones((2, 3), np.int64), np.array([0, 1])))
case("cross_entropy/one-hot-object", TypeError, r"object",
     lambda: F.cross_entropy(r(2, 3), np.zeros((2, 3), object)))
case("cross_entropy/label-bool", TypeError, r"integer dtype, got bool",
     lambda: F.cross_entropy(r(2, 3), np.array([True, False])))
case("cross_entropy/label-huge-uint64", ValueError, r"label 18446744073709551615 is out of range",
     lambda: F.cross_entropy(r(2, 3), np.array([0, 2 ** 64 - 1], np.uint64)))

# ------------------------------------------------------------------ dropout
case("dropout/p-one", ValueError, r"dropout rate p must be in \[0, 1\), got 1\.0",
     lambda: F.dropout(z(4), 1.0))
case("dropout/p-negative", ValueError, r"got -0\.1", lambda: F.dropout(z(4), -0.1))
case("dropout/p-nan", ValueError, r"p must be finite, got nan", lambda: F.dropout(z(4), float("nan")))
case("dropout/p-string", TypeError, r"p must be a number.*'0.5'", lambda: F.dropout(z(4), "0.5"))
case("dropout/p-none", TypeError, r"p must be a number.*None", lambda: F.dropout(z(4), None))
case("dropout/training-string", TypeError, r"training must be a bool.*'yes'",
     lambda: F.dropout(z(4), 0.5, training="yes"))
case("dropout/rng-string", TypeError, r"rng must be.*'abc'", lambda: F.dropout(z(4), 0.5, rng="abc"))
case("dropout/x-list", TypeError, r"got list", lambda: F.dropout([1.0, 2.0], 0.5))
case("dropout_backward/mask-shape", ValueError, r"mask must have shape \(4,\), got \(5,\)",
     lambda: F.dropout_backward(z(4), z(5), 0.5))
case("dropout_backward/p-above-one", ValueError, r"got 1\.5", lambda: F.dropout_backward(z(4), z(4), 1.5))
case("dropout_backward/mask-int", TypeError, r"mask must be float32 or float64.*int64",
     lambda: F.dropout_backward(z(4), np.ones(4, np.int64), 0.5))

# ------------------------------------------------------------------ batch norm
C3 = lambda: np.ones(3, f32)  # noqa: E731
case("batch_norm2d/gamma-shape", ValueError, r"gamma must have shape \(3,\), got \(4,\)",
     lambda: F.batch_norm2d(X(), z(4), C3(), C3(), C3(), True))
case("batch_norm2d/beta-list", TypeError, r"beta must be a numpy.ndarray, got list",
     lambda: F.batch_norm2d(X(), C3(), [0.0] * 3, C3(), C3(), True))
case("batch_norm2d/running-mean-list", TypeError, r"running_mean must be a float32/float64",
     lambda: F.batch_norm2d(X(), C3(), C3(), [0.0] * 3, C3(), True))
case("batch_norm2d/running-var-int", TypeError, r"running_var must be a float32/float64",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), np.ones(3, np.int64), True))
case("batch_norm2d/running-var-shape", ValueError, r"running_var must have shape \(3,\), got \(2,\)",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), np.ones(2, f32), True))
case("batch_norm2d/eps-zero", ValueError, r"eps must be positive, got 0", 
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), True, eps=0))
case("batch_norm2d/eps-nan", ValueError, r"eps must be finite, got nan",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), True, eps=float("nan")))
case("batch_norm2d/momentum-nan", ValueError, r"momentum must be finite, got nan",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), True, momentum=float("nan")))
case("batch_norm2d/momentum-out-of-range", ValueError, r"momentum must be in \[0, 1\], got 1\.5",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), True, momentum=1.5))
case("batch_norm2d/training-string", TypeError, r"training must be a bool.*'train'",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), "train"))
case("batch_norm2d/x-2d", ValueError, r"x must have 4 dimensions.*\(2, 3\)",
     lambda: F.batch_norm2d(z(2, 3), C3(), C3(), C3(), C3(), True))
case("batch_norm2d/single-value-per-channel", ValueError, r"more than 1 value.*\(1, 3, 1, 1\)",
     lambda: F.batch_norm2d(z(1, 3, 1, 1), C3(), C3(), C3(), C3(), True))
case("batch_norm2d/running-mean-readonly", ValueError, r"running_mean.*read-only",
     lambda: F.batch_norm2d(X(), C3(), C3(), readonly(C3()), C3(), True))
case("batch_norm2d_backward/grad-out-shape", ValueError,
     r"grad_out must have shape \(2, 3, 8, 8\), got \(2, 3, 8, 7\)",
     lambda: F.batch_norm2d_backward(z(2, 3, 8, 7), X(), C3()))
case("batch_norm2d_backward/eps-negative", ValueError, r"eps must be positive, got -1e-05",
     lambda: F.batch_norm2d_backward(X(), X(), C3(), eps=-1e-5))
case("batch_norm2d_backward/gamma-dtype", TypeError, r"gamma has dtype float64",
     lambda: F.batch_norm2d_backward(X(), X(), np.ones(3)))
case("batch_norm2d/activation-unknown", ValueError, r"activation must be None, 'linear' or 'relu'.*'tanh'",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), True, activation="tanh"))
case("batch_norm2d/activation-int", TypeError, r"activation must be None or a name, got 1",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), True, activation=1))
case("batch_norm2d/return-stats-string", TypeError, r"return_stats must be a bool.*'yes'",
     lambda: F.batch_norm2d(X(), C3(), C3(), C3(), C3(), True, return_stats="yes"))
case("batch_norm2d_backward/stats-not-pair", TypeError, r"stats must be a pair \(mean, invstd\)",
     lambda: F.batch_norm2d_backward(X(), X(), C3(), stats=C3()))
case("batch_norm2d_backward/stats-shape", ValueError, r"stats invstd must have shape \(3,\), got \(4,\)",
     lambda: F.batch_norm2d_backward(X(), X(), C3(), stats=(C3(), z(4))))
case("batch_norm2d_backward/stats-int", TypeError, r"stats mean must be a float32/float64",
     lambda: F.batch_norm2d_backward(X(), X(), C3(), stats=(np.ones(3, np.int64), C3())))
case("batch_norm2d_backward/y-shape", ValueError, r"y must have shape \(2, 3, 8, 8\), got \(2, 3, 8, 7\)",
     lambda: F.batch_norm2d_backward(X(), X(), C3(), y=z(2, 3, 8, 7)))
case("batch_norm2d_backward/y-dtype", TypeError, r"y has dtype float64",
     lambda: F.batch_norm2d_backward(X(), X(), C3(), y=X().astype(f64)))
case("batch_norm2d_inference_backward/running-var-shape", ValueError,
     r"running_var must have shape \(3,\), got \(2,\)",
     lambda: F.batch_norm2d_inference_backward(X(), X(), C3(), C3(), np.ones(2, f32)))
case("batch_norm2d_inference_backward/running-mean-list", TypeError, r"running_mean must be a float32/float64",
     lambda: F.batch_norm2d_inference_backward(X(), X(), C3(), [0.0] * 3, C3()))
case("batch_norm2d_inference_backward/x-3d", ValueError, r"x must have 4 dimensions.*\(3, 8, 8\)",
     lambda: F.batch_norm2d_inference_backward(z(3, 8, 8), z(3, 8, 8), C3(), C3(), C3()))
case("batch_norm2d_inference_backward/eps-zero", ValueError, r"eps must be positive, got 0",
     lambda: F.batch_norm2d_inference_backward(X(), X(), C3(), C3(), C3(), eps=0))
case("batch_norm2d_inference_backward/grad-out-int", TypeError, r"grad_out must be float32 or float64.*int32",
     lambda: F.batch_norm2d_inference_backward(X().astype(np.int32), X(), C3(), C3(), C3()))

# ------------------------------------------------------------------ global pooling
case("global_avg_pool2d_backward/x-empty-maps", ValueError, r"empty maps.*\(2, 3, 0, 4\)",
     lambda: F.global_avg_pool2d_backward(z(2, 3), z(2, 3, 0, 4)))
case("global_avg_pool2d_backward/grad-out-shape", ValueError, r"grad_out must have shape",
     lambda: F.global_avg_pool2d_backward(z(2, 4), z(2, 3, 2, 2)))

# ------------------------------------------------------------------ flatten
case("flatten/scalar", ValueError, r"batch axis.*\(\)", lambda: F.flatten(np.zeros((), f32)))
case("flatten/list", TypeError, r"got list", lambda: F.flatten([[1.0]]))
case("flatten_backward/size-mismatch", ValueError, r"\(2, 10\) does not fit x_shape \(2, 3, 4\)",
     lambda: F.flatten_backward(z(2, 10), (2, 3, 4)))
case("flatten_backward/x-shape-float", TypeError, r"x_shape.*2\.5",
     lambda: F.flatten_backward(z(2, 5), (2, 2.5, 2)))
case("flatten_backward/x-shape-empty", ValueError, r"x_shape.*\(\)",
     lambda: F.flatten_backward(z(1, 1), ()))
case("flatten_backward/x-shape-negative", ValueError, r"x_shape.*-1",
     lambda: F.flatten_backward(z(2, 6), (2, -1, -6)))
case("flatten_backward/x-shape-none", TypeError, r"x_shape.*None",
     lambda: F.flatten_backward(z(2, 6), None))
case("flatten_backward/grad-out-3d", ValueError, r"grad_out must have 2 dimensions",
     lambda: F.flatten_backward(z(2, 6, 1), (2, 6)))

# ------------------------------------------------------------------ interpolate
for _op in ("interpolate", "interpolate_backward"):
    if _op == "interpolate":
        _f = F.interpolate
    else:  # a well-shaped grad_out for each spec, so the argument checks are what fail
        _f = lambda x, size=None, scale_factor=None, **kw: F.interpolate_backward(
            z(2, 3, 16, 16), x, size, scale_factor, **kw)
    case(f"{_op}/mode-unknown", ValueError, r"unknown mode 'bicubic'",
         lambda _f=_f: _f(X(), scale_factor=2, mode="bicubic"))
    case(f"{_op}/mode-not-a-string", TypeError, r"mode must be.*int 1",
         lambda _f=_f: _f(X(), scale_factor=2, mode=1))
    case(f"{_op}/size-zero", ValueError, r"size must be positive, got 0", lambda _f=_f: _f(X(), 0))
    case(f"{_op}/size-negative", ValueError, r"size must be positive, got \(4, -2\)",
         lambda _f=_f: _f(X(), (4, -2)))
    case(f"{_op}/size-float", TypeError, r"size must be an int.*2\.5", lambda _f=_f: _f(X(), 2.5))
    case(f"{_op}/size-triple", ValueError, r"size must be an int or a pair.*\(4, 4, 4\)",
         lambda _f=_f: _f(X(), (4, 4, 4)))
    case(f"{_op}/size-and-scale", ValueError, r"exactly one of size and scale_factor.*size=16.*2",
         lambda _f=_f: _f(X(), 16, 2))
    case(f"{_op}/neither-size-nor-scale", ValueError, r"exactly one of size and scale_factor",
         lambda _f=_f: _f(X()))
    case(f"{_op}/scale-nan", ValueError, r"scale_factor must be finite, got nan",
         lambda _f=_f: _f(X(), scale_factor=float("nan")))
    case(f"{_op}/scale-inf-pair", ValueError, r"scale_factor must be finite, got inf",
         lambda _f=_f: _f(X(), scale_factor=(2, float("inf"))))
    case(f"{_op}/scale-zero", ValueError, r"scale_factor must be positive, got 0",
         lambda _f=_f: _f(X(), scale_factor=0))
    case(f"{_op}/scale-negative", ValueError, r"scale_factor must be positive, got \(2, -1\.5\)",
         lambda _f=_f: _f(X(), scale_factor=(2, -1.5)))
    case(f"{_op}/scale-empties-output", ValueError, r"scale_factor 0\.1 gives an empty output 0x0",
         lambda _f=_f: _f(X(), scale_factor=0.1))
    case(f"{_op}/scale-string", TypeError, r"scale_factor must be a number.*'2'",
         lambda _f=_f: _f(X(), scale_factor="2"))
    case(f"{_op}/scale-bool", TypeError, r"scale_factor must be a number.*bool",
         lambda _f=_f: _f(X(), scale_factor=True))
    case(f"{_op}/scale-beyond-int64", ValueError, r"64-bit",
         lambda _f=_f: _f(X(), scale_factor=1e300))
    case(f"{_op}/x-3d", ValueError, r"x must have 4 dimensions.*\(3, 8, 8\)",
         lambda _f=_f: _f(z(3, 8, 8), scale_factor=2))
    case(f"{_op}/x-5d", ValueError, r"x must have 4 dimensions.*\(1, 2, 3, 8, 8\)",
         lambda _f=_f: _f(z(1, 2, 3, 8, 8), scale_factor=2))
    case(f"{_op}/x-empty-plane", ValueError, r"planes must be non-empty.*\(2, 3, 0, 8\)",
         lambda _f=_f: _f(z(2, 3, 0, 8), size=4))
    case(f"{_op}/x-int", TypeError, r"x must be float32 or float64.*int64",
         lambda _f=_f: _f(np.ones((1, 1, 2, 2), np.int64), size=4))
    case(f"{_op}/align-corners-with-nearest", ValueError, r"align_corners.*'bilinear'.*True",
         lambda _f=_f: _f(X(), scale_factor=2, align_corners=True))
    case(f"{_op}/align-corners-string", TypeError, r"align_corners must be a bool.*'yes'",
         lambda _f=_f: _f(X(), scale_factor=2, mode="bilinear", align_corners="yes"))
case("interpolate_backward/grad-out-shape", ValueError,
     r"grad_out must have shape \(2, 3, 16, 16\), got \(2, 3, 15, 16\)",
     lambda: F.interpolate_backward(z(2, 3, 15, 16), X(), scale_factor=2))
case("interpolate_backward/grad-out-dtype", TypeError, r"grad_out has dtype float64",
     lambda: F.interpolate_backward(z(2, 3, 16, 16, dtype=f64), X(), scale_factor=2))
case("interpolate_backward/grad-out-list", TypeError, r"grad_out must be a numpy.ndarray, got list",
     lambda: F.interpolate_backward([[0.0]], X(), scale_factor=2))
