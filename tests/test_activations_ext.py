"""The activations after the first five (relu6, hardsigmoid, hardswish, silu, gelu,
softplus): functional against reference (both dtypes, both SIMD paths, randomised shapes),
reference against PyTorch (float64, the kinks included), float64 finite differences, the
fused conv2d write-back, and the activation codes against the C enum.
"""
import os
import re

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as ref
from fastconv import _activation

from conftest import SIMD_PATHS, assert_close

DTYPES = [np.float32, np.float64]

# (name, options): every new op, each option set that changes the math
ACTS = [
    ("relu6", {}),
    ("hardsigmoid", {}),
    ("hardswish", {}),
    ("silu", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("softplus", {}),
    ("softplus", {"beta": 2.5, "threshold": 3.0}),
    ("softplus", {"beta": -0.5, "threshold": 1.0}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in kw.items()) for name, kw in ACTS]
PIECEWISE = ["relu", "leaky_relu", "relu6", "hardsigmoid", "hardswish"]
KINKS = [-3.0, 0.0, 3.0, 6.0, -6.0]


def _inputs(shape, scale, dtype, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    flat = x.reshape(-1)
    flat[: len(KINKS)] = KINKS[: flat.size]  # the kinks: gradients follow PyTorch there
    return x, rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------- the C enum

def test_codes_are_the_c_enum():
    """_activation.CODES is compiled from fastconv.h; check it against the header text so a
    renumbering there cannot go unnoticed by the Python tier."""
    header = os.path.join(os.path.dirname(__file__), os.pardir, "csrc", "fastconv.h")
    if not os.path.exists(header):
        pytest.skip("no csrc/ next to the tests")
    body = re.search(r"enum fc_activation \{(.*?)\};", open(header).read(), re.S).group(1)
    enum = {m.group(1).lower(): int(m.group(2)) for m in re.finditer(r"FC_ACT_(\w+) = (\d+)", body)}
    assert enum == _activation.CODES
    from fastconv.functional import _checks
    assert _checks._ACTIVATIONS["relu6"] == enum["relu6"]
    assert _checks._ACT_ELU == enum["elu"]


# ---------------------------------------------------------------- functional vs reference

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", ACTS, ids=IDS)
@settings(max_examples=15)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       scale=st.sampled_from([1.0, 4.0, 30.0]), seed=st.integers(0, 2 ** 16))
def test_matches_reference(simd, dtype, name, kw, shape, scale, seed):
    x, g = _inputs(shape, scale, dtype, seed)
    fwd, bwd = getattr(F, name), getattr(F, name + "_backward")
    y = fwd(x, **kw)
    assert_close(y, getattr(ref, name)(x, **kw), dtype, 1, name)
    assert y.flags.c_contiguous
    assert_close(bwd(g, x, **kw), getattr(ref, name + "_backward")(g, x, **kw), dtype, 1,
                 name + "_backward")


@pytest.mark.parametrize("name,kw", ACTS, ids=IDS)
def test_large_arrays_use_threads_and_match(name, kw, rng):
    x = (rng.standard_normal(300_001) * 5).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    assert_close(getattr(F, name)(x, **kw), getattr(ref, name)(x, **kw), np.float32, 1, name)
    assert_close(getattr(F, name + "_backward")(g, x, **kw),
                 getattr(ref, name + "_backward")(g, x, **kw), np.float32, 1, name)


@pytest.mark.skipif(len(SIMD_PATHS) < 2, reason="the CPU has no AVX2")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", PIECEWISE)
def test_piecewise_linear_simd_paths_are_bitwise_equal(dtype, name, rng):
    """Their AVX2 build has nothing an FMA could fuse: both paths round the same."""
    x, g = _inputs((1001,), 5.0, dtype, 7)
    out = {}
    before = fastconv.simd_path()
    try:
        for path in SIMD_PATHS:
            fastconv.set_simd_path(path)
            out[path] = (getattr(F, name)(x), getattr(F, name + "_backward")(g, x))
    finally:
        fastconv.set_simd_path(before)
    for a, b in zip(out["portable"], out["avx2"]):
        assert a.tobytes() == b.tobytes()


def test_values_at_the_kinks():
    """The gradients at the kinks, spelled out (PyTorch's choices)."""
    x = np.array([-3.0, 0.0, 3.0, 6.0])
    g = np.ones(4)
    np.testing.assert_array_equal(F.relu6_backward(g, x), [0, 0, 1, 0])
    np.testing.assert_array_equal(F.hardsigmoid_backward(g, x), [0, 1 / 6, 0, 0])
    np.testing.assert_array_equal(F.hardswish_backward(g, x), [0, 0.5, 1, 1])
    np.testing.assert_array_equal(F.relu6(np.array([-1.0, 7.0, np.nan]))[:2], [0, 6])
    assert np.isnan(F.relu6(np.array([np.nan]))[0])
    # Keras 3's hard_sigmoid is relu6(x + 3) / 6: the same function
    xs = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(F.hardsigmoid(xs), F.relu6(xs + 3) / 6, rtol=0, atol=1e-15)


def test_silu_float32_is_accurate_to_a_few_ulp(simd):
    """float32 SiLU uses its own vectorisable exp: within 1e-6 relative of the float64
    reference wherever the result is a normal float, and ~0 where exp underflows."""
    x = np.concatenate([np.linspace(-80, 80, 200_001), [-87.2, -87.4, -100, -1e4, 1e4]])
    x32 = x.astype(np.float32)
    exact = ref.silu(x32.astype(np.float64))
    grad_exact = ref.silu_backward(np.ones_like(exact), x32.astype(np.float64))
    y = F.silu(x32)
    g = F.silu_backward(np.ones_like(x32), x32)
    normal = np.abs(exact) > 1e-30
    np.testing.assert_allclose(y[normal], exact[normal], rtol=1e-6)
    np.testing.assert_array_less(np.abs(y[~normal]), 1e-30)
    # the gradient crosses 0 near x = -1.28 (cancellation in 1 + x (1 - s)): absolute there
    np.testing.assert_allclose(g, grad_exact, rtol=1e-6, atol=1e-7)
    assert np.isnan(F.silu(np.array([np.nan], np.float32)))[0]


def test_extreme_inputs_stay_finite():
    x = np.array([-1e30, -100.0, 100.0, 1e30], np.float32)
    for name, kw in ACTS:
        y = getattr(F, name)(x, **kw)
        gx = getattr(F, name + "_backward")(np.ones_like(x), x, **kw)
        assert np.isfinite(gx).all(), (name, kw, gx)
        assert np.isfinite(y).all(), (name, kw, y)


# ---------------------------------------------------------------- fused into conv2d

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu6", "hardsigmoid", "hardswish", "silu"])
def test_conv2d_fused_activation_equals_separate_ops(simd, dtype, activation):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 4, 9, 9)) * 2).astype(dtype)
    w = rng.standard_normal((5, 4, 3, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    fused = F.conv2d(x, w, b, padding=1, activation=activation)
    z = ref.conv2d(x, w, b, padding=1)
    assert_close(fused, getattr(ref, activation)(z), dtype, 36, activation)
    # the Winograd path (3x3, stride 1, >= 16 channels) applies it in its own write-back
    xw = rng.standard_normal((2, 16, 6, 7)).astype(dtype)
    ww = rng.standard_normal((16, 16, 3, 3)).astype(dtype) * 0.3
    fused = F.conv2d(xw, ww, padding=1, activation=activation)
    assert_close(fused, getattr(ref, activation)(ref.conv2d(xw, ww, padding=1)), dtype, 144,
                 activation + " winograd")


def test_conv2d_refuses_unfused_activations():
    x, w = np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 1, 1))
    for name in ("gelu", "softplus", "swish"):
        with pytest.raises(ValueError, match="unknown activation"):
            F.conv2d(x, w, activation=name)


# ---------------------------------------------------------------- finite differences

@pytest.mark.parametrize("name,kw", ACTS, ids=IDS)
def test_backward_matches_finite_differences(name, kw):
    """Central differences of each element (the ops are element-wise), float64, away from
    the kinks, functional and reference both."""
    rng = np.random.default_rng(11)
    x = rng.uniform(-8, 8, 400)
    x = x[np.min(np.abs(x[:, None] - np.array(KINKS + [20.0, 1.2, -2.0])[None]), axis=1) > 1e-3]
    g = rng.standard_normal(x.shape)
    h = 1e-6
    for mod in (F, ref):
        f = getattr(mod, name)
        numeric = g * (f(x + h, **kw) - f(x - h, **kw)) / (2 * h)
        analytic = getattr(mod, name + "_backward")(g, x, **kw)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7,
                                   err_msg=f"{mod.__name__}.{name}")


# ---------------------------------------------------------------- reference vs PyTorch

def _torch_fn(name, kw):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    return {
        "relu6": lambda t: tf.relu6(t),
        "hardsigmoid": tf.hardsigmoid,
        "hardswish": tf.hardswish,
        "silu": tf.silu,
        "gelu": lambda t: tf.gelu(t, approximate=kw.get("approximate", "none")),
        "softplus": lambda t: tf.softplus(t, beta=kw.get("beta", 1.0),
                                          threshold=kw.get("threshold", 20.0)),
    }[name]


@pytest.mark.parametrize("name,kw", ACTS, ids=IDS)
@settings(max_examples=15)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3),
       scale=st.sampled_from([1.0, 4.0, 100.0]), seed=st.integers(0, 2 ** 16))
def test_reference_matches_torch(name, kw, shape, scale, seed):
    torch = pytest.importorskip("torch")
    tfn = _torch_fn(name, kw)
    x, g = _inputs(shape, scale, np.float64, seed)
    xt = torch.tensor(x, requires_grad=True)
    yt = tfn(xt)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(getattr(ref, name)(x, **kw), yt.detach().numpy(), rtol=1e-12,
                               atol=1e-14, err_msg=name)
    # PyTorch's CPU hardsigmoid_backward multiplies by 1.0f / 6.0f, a float32 constant even
    # for float64 tensors (relative error 3e-8); we take 1/6 in the working precision.
    rtol = 1e-7 if name == "hardsigmoid" else 1e-12
    np.testing.assert_allclose(getattr(ref, name + "_backward")(g, x, **kw), xt.grad.numpy(),
                               rtol=rtol, atol=1e-14, err_msg=name + "_backward")
