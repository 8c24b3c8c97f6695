"""Generic tests over the op table of tests/ops.py: every row, both dtypes.

* functional vs reference, forward and backward, over hypothesis-drawn inputs;
* float64 finite differences of the functional backward;
* reference vs PyTorch forward and backward (float64; skipped without torch);
* bitwise the same results with 1, 2 and 3 threads;
* hostile arguments raise TypeError/ValueError naming the argument, never crash.
"""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import fastconv
from fastconv import functional as F
from fastconv import reference as R

from conftest import assert_close
from ops import OPS

DTYPES = [np.float32, np.float64]
IDS = [op.name for op in OPS]


def _grad_out(y, seed=7):
    return np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)


@pytest.mark.parametrize("op", OPS, ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_matches_reference(op, dtype):
    @settings(max_examples=25)
    @given(op.sample(dtype))
    def check(case):
        xs, opts = case
        y = op.forward(F, xs, opts)
        y_ref = op.forward(R, xs, opts)
        assert_close(y, y_ref.astype(dtype), dtype, what=f"{op.name} forward")
        g = _grad_out(y)
        gs = op.backward(F, g, xs, opts)
        gs_ref = op.backward(R, g, xs, opts)
        assert len(gs) == len(xs)
        for i, (a, b) in enumerate(zip(gs, gs_ref)):
            assert_close(np.asarray(a), np.asarray(b).astype(dtype), dtype,
                         what=f"{op.name} grad {i}")
    check()


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_backward_matches_finite_differences(op):
    @settings(max_examples=6)
    @given(op.sample(np.float64))
    def check(case):
        xs, opts = case
        y = op.forward(F, xs, opts)
        g = _grad_out(y)
        grads = op.backward(F, g, xs, opts)
        eps = 1e-6
        for i in op.diff_inputs:
            if i >= len(xs):
                continue
            x = xs[i]
            numeric = np.zeros_like(x)
            flat = x.reshape(-1)
            for j in range(min(flat.size, 40)):
                old = flat[j]
                flat[j] = old + eps
                fp = float(np.sum(g * op.forward(F, xs, opts)))
                flat[j] = old - eps
                fm = float(np.sum(g * op.forward(F, xs, opts)))
                flat[j] = old
                numeric.reshape(-1)[j] = (fp - fm) / (2 * eps)
            n = min(flat.size, 40)
            np.testing.assert_allclose(np.asarray(grads[i]).reshape(-1)[:n],
                                       numeric.reshape(-1)[:n], rtol=1e-6, atol=1e-8,
                                       err_msg=f"{op.name}: input {i}")
    check()


@pytest.mark.parametrize("op", [o for o in OPS if o.torch_forward], ids=lambda o: o.name)
def test_reference_matches_torch(op):
    torch = pytest.importorskip("torch")

    @settings(max_examples=10)
    @given(op.sample(np.float64))
    def check(case):
        xs, opts = case
        ts = [torch.tensor(x, requires_grad=True) for x in xs]
        yt = op.torch_forward(torch, ts, opts)
        y = op.forward(R, xs, opts)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=op.torch_rtol, atol=1e-12)
        g = _grad_out(y)
        yt.backward(torch.tensor(g))
        for i, (a, t) in enumerate(zip(op.backward(R, g, xs, opts), ts)):
            np.testing.assert_allclose(a, t.grad.numpy(), rtol=op.torch_rtol, atol=1e-12,
                                       err_msg=f"{op.name}: grad {i}")
    check()


@pytest.mark.parametrize("op", OPS, ids=IDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_bitwise_independent_of_thread_count(op, dtype):
    before = fastconv.get_num_threads()
    rng_shape = [(5, 6, 17, 19)]
    xs = [(np.random.default_rng(i).standard_normal(rng_shape[0]) * 3).astype(dtype)
          for i in range(2 if op.name in ("add", "subtract", "multiply", "average",
                                          "concatenate") else 1)]
    opts = {"sides": ((1, 2), (2, 1))} if op.name in ("zero_pad2d", "crop2d") else (
        {"axis": 1} if op.name == "concatenate" else {})
    try:
        results = []
        for threads in (1, 2, 3):
            fastconv.set_num_threads(threads)
            y = op.forward(F, xs, opts)
            gs = op.backward(F, _grad_out(y), xs, opts)
            results.append([y.tobytes()] + [np.asarray(g).tobytes() for g in gs])
        assert results[0] == results[1] == results[2]
    finally:
        fastconv.set_num_threads(before)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_hostile_arguments_raise_clear_errors(op):
    @settings(max_examples=3)
    @given(op.sample(np.float32))
    def check(case):
        xs, opts = case
        listed = [x.tolist() for x in xs]
        with pytest.raises(TypeError, match="numpy.ndarray"):
            op.forward(F, listed, opts)
        ints = [x.astype(np.int64) for x in xs]
        with pytest.raises(TypeError, match="float32 or float64"):
            op.forward(F, ints, opts)
        if op.name not in ("add", "subtract", "multiply", "average") and not op.any_ndim:
            with pytest.raises(ValueError):
                op.forward(F, [x.reshape(-1) for x in xs], opts)
        y = op.forward(F, xs, opts)
        with pytest.raises(ValueError):
            op.backward(F, np.zeros((1,) + y.shape, y.dtype), xs, opts)
        if len(xs) > 1:
            with pytest.raises(TypeError, match="dtype"):
                op.forward(F, [xs[0].astype(np.float64)] + xs[1:], opts)
    check()
