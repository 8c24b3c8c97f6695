"""Shared fixtures: tolerances, SIMD path switching, random generators."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings, strategies as st

import fastconv

settings.register_profile(
    "fastconv", deadline=None, max_examples=40, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "thorough", deadline=None, max_examples=400,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fastconv"))

# Tolerances the parity tests state: relative, plus an absolute floor per unit of
# sqrt(reduction length) (sums of n products carry about sqrt(n) rounding errors).
RTOL = {np.float32: 1e-4, np.float64: 1e-10}
ATOL = {np.float32: 1e-5, np.float64: 1e-12}


def assert_close(actual, expected, dtype, terms=1, what=""):
    dtype = np.dtype(dtype).type
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype} != {np.dtype(dtype)}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL[dtype],
                               atol=ATOL[dtype] * max(1.0, float(terms)) ** 0.5 * 10, err_msg=what)


SIMD_PATHS = (["portable"] + (["avx2"] if fastconv.get_config_info()["cpu_avx2_fma"] else [])
              + (["avx512"] if fastconv.get_config_info()["cpu_avx512"] else []))


@pytest.fixture(params=SIMD_PATHS)
def simd(request):
    """Run the test once per SIMD path this CPU has, restoring the default after."""
    before = fastconv.simd_path()
    fastconv.set_simd_path(request.param)
    assert fastconv.simd_path().startswith(request.param)
    yield request.param
    fastconv.set_simd_path(before)


@pytest.fixture
def restore_threads():
    """Put the thread count back after a test that changes it."""
    before = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@st.composite
def winograd_cases(draw, min_channels=16, max_size=19):
    """3x3, stride 1, undilated convolutions with >= min_channels on both sides (16: the
    Winograd F(2x2, 3x3) path's floor): odd and even sizes, tiny images, several images
    per tile block, every padding the geometry allows."""
    C = draw(st.integers(min_channels, 40))
    K = draw(st.integers(min_channels, 40))
    padding = draw(st.sampled_from([0, 1, 2, "same", (0, 1), (2, 1)]))
    ph, pw = (padding, padding) if isinstance(padding, int) else (1, 1) if padding == "same" else padding
    H = draw(st.integers(max(1, 4 - 2 * ph), max_size))
    W = draw(st.integers(max(1, 4 - 2 * pw), max_size))
    return dict(shape=(draw(st.integers(1, 5)), C, H, W), wshape=(K, C, 3, 3), stride=1,
                padding=padding, dilation=1, bias=draw(st.booleans()))
