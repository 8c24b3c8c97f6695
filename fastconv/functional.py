"""The public functional API: stateless CNN ops on NCHW arrays, float32 or float64.

Every function checks its arguments (raising ``TypeError`` / ``ValueError`` that name the
offending value) before any kernel runs, allocates its outputs (fresh C-contiguous arrays
of the input dtype), and dispatches to the C/Cython kernels with the GIL released.
Names, signatures and semantics follow ``torch.nn.functional``; ``fastconv.reference``
holds the same functions in plain NumPy.

Every forward ``f`` has ``f_backward(grad_out, <the forward's inputs>, <its options>)``.
"""
import numpy as np

from . import geometry as geo
from .config import get_num_threads
from . import _activation, _conv, _gemm, _pool

__all__ = [
    "conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d",
    "avg_pool2d_backward", "relu", "relu_backward", "leaky_relu", "leaky_relu_backward",
    "sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "elu", "elu_backward",
    "maxout", "maxout_backward", "linear", "linear_backward", "softmax", "log_softmax",
    "cross_entropy", "cross_entropy_backward", "dropout", "dropout_backward",
    "batch_norm2d", "batch_norm2d_backward", "flatten", "flatten_backward",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

# Activation codes of csrc/fastconv.h (enum fc_activation).
_ACT_NONE, _ACT_RELU, _ACT_LEAKY_RELU, _ACT_SIGMOID, _ACT_TANH, _ACT_ELU = range(6)
_ACTIVATIONS = {None: _ACT_NONE, "linear": _ACT_NONE, "relu": _ACT_RELU,
                "leaky_relu": _ACT_LEAKY_RELU, "sigmoid": _ACT_SIGMOID, "tanh": _ACT_TANH,
                "elu": _ACT_ELU}


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


# ---------------------------------------------------------------- convolution

def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, *,
           activation=None, negative_slope=0.01, alpha=1.0):
    """2-D cross-correlation of ``x`` (N, C, H, W) with ``weight`` (K, C, R, S), plus bias (K,).

    ``padding`` is an int, a pair, ``'valid'`` or ``'same'``. The keyword ``activation``
    ('relu', 'leaky_relu', 'sigmoid', 'tanh', 'elu') is applied in the kernel's write-back,
    which saves a pass over the output; ``conv2d_backward`` then expects the gradient with
    respect to the pre-activation output (for ReLU, ``relu_backward(g, y)`` with the
    activated output ``y`` gives it, since y > 0 exactly where the pre-activation is).
    Returns (N, K, Ho, Wo).

    3x3 stride-1 undilated convolutions with at least 16 input and 16 output channels run
    Winograd's F(2x2, 3x3) algorithm (forward and both gradients): 2.25x fewer
    multiply-adds, results equal to the direct computation up to float rounding (a few
    units in the last place). The environment variable ``FASTCONV_NO_WINOGRAD=1`` selects
    the direct kernels instead.
    """
    op = "conv2d"
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    g = geo.conv2d_geometry(x.shape, weight.shape, stride, padding, dilation, op)
    if bias is not None:
        bias = _array(bias, "bias", op, 1, x.dtype)
        _expect_shape(bias, (g.K,), "bias", op)
    act = _activation_code(activation, op)
    param = (_number(negative_slope, "negative_slope", op) if act == _ACT_LEAKY_RELU else
             _number(alpha, "alpha", op) if act == _ACT_ELU else 0.0)
    x, weight = _contiguous(x), _contiguous(weight)
    y = np.empty((g.N, g.K, g.Ho, g.Wo), dtype=x.dtype)
    if g.N:
        _conv.forward(x, weight, bias, geo.conv_kernel_args(g), act, param, y, get_num_threads())
    return y


def conv2d_backward(grad_out, x, weight, stride=1, padding=0, dilation=1, *, input_grad=True):
    """Gradients of ``conv2d`` given ``grad_out`` (N, K, Ho, Wo).

    Returns ``(grad_x, grad_weight, grad_bias)``; ``grad_x`` is None when
    ``input_grad=False`` (the first layer of a network needs no input gradient).
    ``grad_weight`` sums images in a fixed order: it is bitwise the same for any
    thread count.
    """
    op = "conv2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    weight = _array(weight, "weight", op, 4, x.dtype, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g = geo.conv2d_geometry(x.shape, weight.shape, stride, padding, dilation, op)
    _expect_shape(grad_out, (g.N, g.K, g.Ho, g.Wo), "grad_out", op)
    input_grad = _bool(input_grad, "input_grad", op)
    x, weight, grad_out = _contiguous(x), _contiguous(weight), _contiguous(grad_out)
    args = geo.conv_kernel_args(g)
    nt = get_num_threads()
    grad_w = np.empty(weight.shape, dtype=x.dtype)
    grad_b = np.empty((g.K,), dtype=x.dtype)
    grad_x = None
    if g.N:
        _conv.backward_weight(x, grad_out, args, grad_w, grad_b, nt)
    else:
        grad_w.fill(0)
        grad_b.fill(0)
    if input_grad:
        grad_x = np.empty(x.shape, dtype=x.dtype)
        if g.N:
            _conv.backward_data(grad_out, weight, args, grad_x, nt)
    return grad_x, grad_w, grad_b


# ---------------------------------------------------------------- pooling

def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max pooling of ``x`` (N, C, H, W); ``stride`` defaults to ``kernel_size``.

    Padding never wins (it counts as -inf), and with ``ceil_mode`` a last partial
    window at the end of a row or column still counts.
    """
    op = "max_pool2d"
    x = _array(x, "x", op, 4, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op)
    x = _contiguous(x)
    y = np.empty((g.N, g.C, g.Ho, g.Wo), dtype=x.dtype)
    if g.N:
        _pool.max_forward(x, geo.pool_kernel_args(g), y, get_num_threads())
    return y


def max_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Gradient of ``max_pool2d``: each grad_out value goes to the first maximum of its window."""
    op = "max_pool2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op)
    _expect_shape(grad_out, (g.N, g.C, g.Ho, g.Wo), "grad_out", op)
    x, grad_out = _contiguous(x), _contiguous(grad_out)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    if g.N:
        _pool.max_backward(grad_out, x, geo.pool_kernel_args(g), grad_x, get_num_threads())
    return grad_x


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling of ``x`` (N, C, H, W), PyTorch's divisor rules."""
    op = "avg_pool2d"
    x = _array(x, "x", op, 4, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op)
    cip = _bool(count_include_pad, "count_include_pad", op)
    x = _contiguous(x)
    y = np.empty((g.N, g.C, g.Ho, g.Wo), dtype=x.dtype)
    if g.N:
        _pool.avg_forward(x, geo.pool_kernel_args(g), cip, y, get_num_threads())
    return y


def avg_pool2d_backward(grad_out, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True):
    """Gradient of ``avg_pool2d``."""
    op = "avg_pool2d_backward"
    x = _array(x, "x", op, 4, contiguous=False)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype, contiguous=False)
    g = geo.pool2d_geometry(x.shape, kernel_size, stride, padding, ceil_mode, op)
    cip = _bool(count_include_pad, "count_include_pad", op)
    _expect_shape(grad_out, (g.N, g.C, g.Ho, g.Wo), "grad_out", op)
    grad_out = _contiguous(grad_out)
    grad_x = np.empty(x.shape, dtype=x.dtype)
    if g.N:
        _pool.avg_backward(grad_out, geo.pool_kernel_args(g), cip, grad_x, get_num_threads())
    return grad_x


# ---------------------------------------------------------------- activations

def _act_forward(x, code, param, op):
    x = _array(x, "x", op)
    y = np.empty_like(x)
    _activation.forward(code, param, x.reshape(-1), y.reshape(-1), get_num_threads())
    return y


def _act_backward(grad_out, x, code, param, op):
    x = _array(x, "x", op)
    grad_out = _array(grad_out, "grad_out", op, None, x.dtype)
    _expect_shape(grad_out, x.shape, "grad_out", op)
    grad_x = np.empty_like(x)
    _activation.backward(code, param, x.reshape(-1), grad_out.reshape(-1), grad_x.reshape(-1),
                         get_num_threads())
    return grad_x


def relu(x):
    """max(0, x), element-wise."""
    return _act_forward(x, _ACT_RELU, 0.0, "relu")


def relu_backward(grad_out, x):
    """grad_out where x > 0, else 0 (the gradient at 0 is 0, as in PyTorch)."""
    return _act_backward(grad_out, x, _ACT_RELU, 0.0, "relu_backward")


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x (the course notes use 0.1)."""
    return _act_forward(x, _ACT_LEAKY_RELU, _number(negative_slope, "negative_slope", "leaky_relu"),
                        "leaky_relu")


def leaky_relu_backward(grad_out, x, negative_slope=0.01):
    op = "leaky_relu_backward"
    return _act_backward(grad_out, x, _ACT_LEAKY_RELU, _number(negative_slope, "negative_slope", op), op)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for any x."""
    return _act_forward(x, _ACT_SIGMOID, 0.0, "sigmoid")


def sigmoid_backward(grad_out, x):
    return _act_backward(grad_out, x, _ACT_SIGMOID, 0.0, "sigmoid_backward")


def tanh(x):
    return _act_forward(x, _ACT_TANH, 0.0, "tanh")


def tanh_backward(grad_out, x):
    return _act_backward(grad_out, x, _ACT_TANH, 0.0, "tanh_backward")


def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return _act_forward(x, _ACT_ELU, _number(alpha, "alpha", "elu"), "elu")


def elu_backward(grad_out, x, alpha=1.0):
    op = "elu_backward"
    return _act_backward(grad_out, x, _ACT_ELU, _number(alpha, "alpha", op), op)


def _maxout_view(x, pieces, op):
    x = _array(x, "x", op, (2, 3, 4))
    pieces = geo.as_int(pieces, "pieces", op)
    if pieces < 1:
        raise ValueError(f"{op}: pieces must be >= 1, got {pieces}")
    C = x.shape[1]
    if C % pieces:
        raise ValueError(f"{op}: {C} channels are not divisible into groups of pieces={pieces}")
    rest = int(np.prod(x.shape[2:], dtype=np.int64))
    return x, pieces, x.reshape(x.shape[0], C, rest)


def maxout(x, pieces):
    """Max over groups of ``pieces`` consecutive channels (axis 1) of (N, C, ...) input."""
    x, pieces, x3 = _maxout_view(x, pieces, "maxout")
    y = np.empty((x.shape[0], x.shape[1] // pieces) + x.shape[2:], dtype=x.dtype)
    _activation.maxout_forward(x3, pieces, y.reshape(x3.shape[0], -1, x3.shape[2]), get_num_threads())
    return y


def maxout_backward(grad_out, x, pieces):
    """Each grad_out value goes to the first maximum of its group."""
    op = "maxout_backward"
    x, pieces, x3 = _maxout_view(x, pieces, op)
    grad_out = _array(grad_out, "grad_out", op, None, x.dtype)
    _expect_shape(grad_out, (x.shape[0], x.shape[1] // pieces) + x.shape[2:], "grad_out", op)
    grad_x = np.empty_like(x)
    _activation.maxout_backward(x3, grad_out.reshape(x3.shape[0], -1, x3.shape[2]), pieces,
                                grad_x.reshape(x3.shape), get_num_threads())
    return grad_x


# ---------------------------------------------------------------- fully connected

def _matmul(a, b, out, beta=0.0):
    _gemm.gemm(a, b, out, beta, get_num_threads())
    return out


def linear(x, weight, bias=None):
    """x (N, in) @ weight.T (weight is (out, in)) + bias (out,)."""
    op = "linear"
    x = _array(x, "x", op, 2)
    weight = _array(weight, "weight", op, 2, x.dtype)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"{op}: weight {weight.shape} expects {weight.shape[1]} input features "
                         f"but x {x.shape} has {x.shape[1]}")
    y = np.empty((x.shape[0], weight.shape[0]), dtype=x.dtype)
    if bias is not None:
        bias = _array(bias, "bias", op, 1, x.dtype)
        _expect_shape(bias, (weight.shape[0],), "bias", op)
        y[...] = bias
        return _matmul(x, weight.T, y, 1.0)
    return _matmul(x, weight.T, y)


def linear_backward(grad_out, x, weight):
    """Returns (grad_x, grad_weight, grad_bias) of ``linear``."""
    op = "linear_backward"
    x = _array(x, "x", op, 2)
    weight = _array(weight, "weight", op, 2, x.dtype)
    grad_out = _array(grad_out, "grad_out", op, 2, x.dtype)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"{op}: weight {weight.shape} expects {weight.shape[1]} input features "
                         f"but x {x.shape} has {x.shape[1]}")
    _expect_shape(grad_out, (x.shape[0], weight.shape[0]), "grad_out", op)
    grad_x = _matmul(grad_out, weight, np.empty(x.shape, dtype=x.dtype))
    grad_w = _matmul(grad_out.T, x, np.empty(weight.shape, dtype=x.dtype))
    grad_b = grad_out.sum(axis=0)
    return grad_x, grad_w, grad_b


# ---------------------------------------------------------------- softmax and loss

def log_softmax(x, axis=-1):
    """log(softmax(x)) computed stably (the max is subtracted first)."""
    x = _array(x, "x", "log_softmax")
    shifted = x - x.max(axis=axis, keepdims=True)
    shifted -= np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    return shifted


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, stable for large inputs."""
    x = _array(x, "x", "softmax")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _target(logits, target, op):
    """Targets as class probabilities (N, K) in the logits' dtype."""
    N, K = logits.shape
    if not isinstance(target, np.ndarray):
        raise TypeError(f"{op}: target must be a numpy.ndarray, got {type(target).__name__}")
    if target.ndim == 1:
        if target.dtype.kind not in "iu":
            raise TypeError(f"{op}: integer labels must have an integer dtype, got {target.dtype}")
        if target.shape[0] != N:
            raise ValueError(f"{op}: {target.shape[0]} labels for {N} rows of logits")
        if N and (target.min() < 0 or target.max() >= K):
            bad = target[(target < 0) | (target >= K)][0]
            raise ValueError(f"{op}: label {bad} is out of range for {K} classes")
        probs = np.zeros((N, K), dtype=logits.dtype)
        probs[np.arange(N), target] = 1
        return probs
    if target.ndim == 2:
        if target.dtype.kind not in "fiub":
            raise TypeError(f"{op}: target must be numeric, got dtype {target.dtype}")
        _expect_shape(target, logits.shape, "one-hot target", op)
        return np.asarray(target, dtype=logits.dtype)
    raise ValueError(f"{op}: target must be labels (N,) or one-hot (N, K), got shape {target.shape}")


def cross_entropy(logits, target):
    """Mean over the batch of -sum(target * log_softmax(logits)).

    ``target`` is integer labels (N,) or one-hot / probability rows (N, K).
    """
    op = "cross_entropy"
    logits = _array(logits, "logits", op, 2)
    probs = _target(logits, target, op)
    if logits.shape[0] == 0:
        raise ValueError(f"{op}: empty batch")
    return logits.dtype.type(-(probs * log_softmax(logits)).sum() / logits.shape[0])


def cross_entropy_backward(logits, target):
    """Gradient of the mean cross-entropy with respect to the logits."""
    op = "cross_entropy_backward"
    logits = _array(logits, "logits", op, 2)
    probs = _target(logits, target, op)
    if logits.shape[0] == 0:
        raise ValueError(f"{op}: empty batch")
    grad = softmax(logits) * probs.sum(axis=1, keepdims=True) - probs
    grad /= logits.shape[0]
    return grad


# ---------------------------------------------------------------- dropout

def _rate(p, op):
    p = _number(p, "p", op)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"{op}: dropout rate p must be in [0, 1), got {p}")
    return p


def dropout(x, p, training=True, rng=None):
    """Inverted dropout: zero each value with probability ``p``, scale the rest by 1/(1-p).

    Returns ``(y, mask)`` where ``mask`` holds 0 or 1/(1-p) per element (so
    ``y = x * mask``); outside training returns ``(x copy, None)``. ``rng`` is a
    ``numpy.random.Generator``, an int seed or None.
    """
    op = "dropout"
    x = _array(x, "x", op)
    p = _rate(p, op)
    if not _bool(training, "training", op) or p == 0.0:
        return x.copy(), None
    if rng is None or isinstance(rng, (int, np.integer)):
        rng = np.random.default_rng(rng)
    elif not isinstance(rng, np.random.Generator):
        raise TypeError(f"{op}: rng must be a numpy Generator, an int seed or None, got {rng!r}")
    keep = rng.random(x.shape, dtype=x.dtype) >= p
    mask = keep * x.dtype.type(1.0 / (1.0 - p))
    return x * mask, mask


def dropout_backward(grad_out, mask, p):
    """grad_out * mask (mask None means dropout was inactive)."""
    op = "dropout_backward"
    grad_out = _array(grad_out, "grad_out", op)
    _rate(p, op)
    if mask is None:
        return grad_out.copy()
    mask = _array(mask, "mask", op, None, grad_out.dtype)
    _expect_shape(mask, grad_out.shape, "mask", op)
    return grad_out * mask


# ---------------------------------------------------------------- batch normalisation

def batch_norm2d(x, gamma, beta, running_mean, running_var, training, momentum=0.1, eps=1e-5):
    """Batch normalisation over (N, H, W) per channel of ``x`` (N, C, H, W).

    In training, normalises with the batch's (biased) variance and updates
    ``running_mean`` / ``running_var`` in place (unbiased variance), as PyTorch does;
    otherwise normalises with the running statistics.
    """
    op = "batch_norm2d"
    x = _array(x, "x", op, 4)
    C = x.shape[1]
    gamma = _array(gamma, "gamma", op, 1, x.dtype)
    beta = _array(beta, "beta", op, 1, x.dtype)
    for name, a in (("gamma", gamma), ("beta", beta)):
        _expect_shape(a, (C,), name, op)
    for name, a in (("running_mean", running_mean), ("running_var", running_var)):
        if not isinstance(a, np.ndarray) or a.dtype not in _FLOATS:
            raise TypeError(f"{op}: {name} must be a float32/float64 numpy.ndarray, got {a!r:.60}")
        _expect_shape(a, (C,), name, op)
    training = _bool(training, "training", op)
    momentum = _number(momentum, "momentum", op)
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{op}: momentum must be in [0, 1], got {momentum}")
    eps = _number(eps, "eps", op)
    if eps <= 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    if training:
        for name, a in (("running_mean", running_mean), ("running_var", running_var)):
            if not a.flags.writeable:
                raise ValueError(f"{op}: {name} is read-only, but training updates it in place")
    if training:
        count = x.shape[0] * x.shape[2] * x.shape[3]
        if count < 2:
            raise ValueError(f"{op}: training needs more than 1 value per channel, got input {x.shape}")
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))
        running_mean *= 1 - momentum
        running_mean += momentum * mean
        running_var *= 1 - momentum
        running_var += momentum * var * (count / (count - 1))
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
    scale = (gamma / np.sqrt(var + x.dtype.type(eps))).astype(x.dtype, copy=False)
    shift = (beta - mean * scale).astype(x.dtype, copy=False)
    return x * scale[None, :, None, None] + shift[None, :, None, None]


def batch_norm2d_backward(grad_out, x, gamma, eps=1e-5):
    """Gradients (grad_x, grad_gamma, grad_beta) of training-mode ``batch_norm2d``."""
    op = "batch_norm2d_backward"
    x = _array(x, "x", op, 4)
    gamma = _array(gamma, "gamma", op, 1, x.dtype)
    _expect_shape(gamma, (x.shape[1],), "gamma", op)
    grad_out = _array(grad_out, "grad_out", op, 4, x.dtype)
    _expect_shape(grad_out, x.shape, "grad_out", op)
    eps = _number(eps, "eps", op)
    if eps <= 0:
        raise ValueError(f"{op}: eps must be positive, got {eps}")
    axes = (0, 2, 3)
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean = x.mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + x.dtype.type(eps))
    x_hat = (x - mean) * inv_std
    grad_beta = grad_out.sum(axis=axes)
    grad_gamma = (grad_out * x_hat).sum(axis=axes)
    g = gamma[None, :, None, None] * inv_std
    grad_x = g * (grad_out - (grad_beta[None, :, None, None]
                              + x_hat * grad_gamma[None, :, None, None]) / count)
    return grad_x.astype(x.dtype, copy=False), grad_gamma, grad_beta


# ---------------------------------------------------------------- flatten

def flatten(x):
    """(N, ...) -> (N, prod(...)) in row-major order, as the notes draw it."""
    x = _array(x, "x", "flatten")
    if x.ndim < 1:
        raise ValueError(f"flatten: x must have a batch axis, got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def flatten_backward(grad_out, x_shape):
    op = "flatten_backward"
    grad_out = _array(grad_out, "grad_out", op, 2)
    if not isinstance(x_shape, (tuple, list)):
        raise TypeError(f"{op}: x_shape must be a tuple of ints, got {type(x_shape).__name__} "
                        f"{x_shape!r}")
    x_shape = tuple(geo.as_int(d, "x_shape entry", op) for d in x_shape)
    if len(x_shape) < 1 or any(d < 0 for d in x_shape):
        raise ValueError(f"{op}: x_shape must be (N, ...) with sizes >= 0, got {x_shape}")
    size = 1
    for d in x_shape:
        size *= d
    if size != grad_out.size or x_shape[0] != grad_out.shape[0]:
        raise ValueError(f"{op}: grad_out {grad_out.shape} does not fit x_shape {x_shape}")
    return grad_out.reshape(x_shape)
