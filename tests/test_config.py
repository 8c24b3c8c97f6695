"""Build configuration: OpenMP present, SIMD dispatch, thread settings."""
import io
import os

import numpy as np
import pytest

import fastconv


def test_openmp_was_not_silently_lost():
    # A build whose compiler probe failed builds serial kernels with a warning; that
    # is allowed only when asked for (FASTCONV_ALLOW_NO_OPENMP=1), never by accident.
    if os.environ.get("FASTCONV_ALLOW_NO_OPENMP") == "1":
        pytest.skip("serial build explicitly allowed")
    assert fastconv.openmp_enabled(), "fastconv was built without OpenMP"


def test_show_config_reports_everything():
    buf = io.StringIO()
    fastconv.show_config(file=buf)
    text = buf.getvalue()
    assert fastconv.__version__ in text
    assert "openmp" in text and "threads" in text and "simd path" in text
    info = fastconv.get_config_info()
    assert info["simd_path"] in ("avx512", "avx2-fma", "portable")
    assert (" on " in text) == info["openmp"]


def test_default_simd_path_follows_cpu_and_env():
    info = fastconv.get_config_info()
    env = os.environ.get("FASTCONV_SIMD")
    if env == "portable" or not info["cpu_avx2_fma"]:
        assert info["simd_path"] == "portable"
    elif env == "avx2" or not info["cpu_avx512"]:
        assert info["simd_path"] == "avx2-fma"
    else:
        assert info["simd_path"] == "avx512"


def test_set_simd_path_switches_and_validates():
    before = fastconv.simd_path()
    try:
        assert fastconv.set_simd_path("portable") == "portable"
        if fastconv.get_config_info()["cpu_avx2_fma"]:
            assert fastconv.set_simd_path("avx2") == "avx2-fma"
        # A path the CPU lacks falls back to the widest below it.
        widest = ("avx512" if fastconv.get_config_info()["cpu_avx512"] else
                  "avx2-fma" if fastconv.get_config_info()["cpu_avx2_fma"] else "portable")
        assert fastconv.set_simd_path("avx512") == widest
        assert fastconv.set_simd_path(widest) == widest
    finally:
        fastconv.set_simd_path(before)
    with pytest.raises(ValueError, match="sse9"):
        fastconv.set_simd_path("sse9")


def test_thread_count_round_trip_and_validation():
    before = fastconv.get_num_threads()
    try:
        assert fastconv.set_num_threads(1) == before
        assert fastconv.get_num_threads() == 1
    finally:
        fastconv.set_num_threads(before)
    with pytest.raises(ValueError, match="0"):
        fastconv.set_num_threads(0)
    with pytest.raises(TypeError, match="2.5"):
        fastconv.set_num_threads(2.5)
    with pytest.raises(TypeError):
        fastconv.set_num_threads(True)


def test_winograd_switch_is_reported(monkeypatch):
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD", raising=False)
    assert fastconv.get_config_info()["winograd"] is True
    buf = io.StringIO()
    fastconv.show_config(file=buf)
    assert "winograd     on" in buf.getvalue()
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "0")  # "0" means: keep it on
    assert fastconv.get_config_info()["winograd"] is True
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    assert fastconv.get_config_info()["winograd"] is False
    buf = io.StringIO()
    fastconv.show_config(file=buf)
    assert "winograd     OFF" in buf.getvalue()


def test_winograd_switches_reach_a_geometry_already_planned(monkeypatch):
    """Each thread keeps the convolution plans it made, but the Winograd switches are
    part of what a kept plan is looked up by: flipping them between calls on the same
    geometry changes the path, and flipping them back restores it."""
    from fastconv import _conv, geometry as geo
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD", raising=False)
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    args = geo.conv_kernel_args(geo.conv2d_geometry((64, 64, 16, 16), (64, 64, 3, 3), 1, 1, 1))
    small = geo.conv_kernel_args(geo.conv2d_geometry((1, 16, 6, 6), (16, 16, 3, 3), 1, 1, 1))
    first = _conv.conv_path(args, 0, 4)
    assert first.startswith("winograd")
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    assert not _conv.conv_path(args, 0, 4).startswith("winograd")
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD")
    assert _conv.conv_path(args, 0, 4) == first
    before = _conv.conv_path(small, 0, 4)
    assert not before.startswith("winograd")
    monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")
    assert _conv.conv_path(small, 0, 4) == "winograd-f4"
    monkeypatch.delenv("FASTCONV_WINOGRAD")
    assert _conv.conv_path(small, 0, 4) == before


def test_workspace_bound_follows_the_winograd_switches(monkeypatch):
    """A thread also keeps the workspace bounds it computed, looked up like the plans
    (switches included): with FASTCONV_NO_WINOGRAD set a 3x3 layer needs a smaller
    workspace, and once the switch is off again the next call must get the Winograd
    path's larger bound, not the one kept from before (it would be overrun). Each flip
    on a geometry already run, each result against the reference."""
    from fastconv import _conv, geometry as geo
    from fastconv import reference as ref
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD", raising=False)
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 16, 6, 6)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    args = geo.conv_kernel_args(geo.conv2d_geometry(x.shape, w.shape, 1, 1, 1))
    want = ref.conv2d(x.astype(np.float64), w.astype(np.float64), None, 1, 1)
    bounds = []
    for off in (True, False, True, False):
        if off:
            monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
            monkeypatch.setenv("FASTCONV_WINOGRAD", "f4")   # overruled by the first
        else:
            monkeypatch.delenv("FASTCONV_NO_WINOGRAD")
        assert _conv.conv_path(args, 0, 4).startswith("winograd") != off
        bounds.append(_conv.workspace_bytes(args, 4))
        np.testing.assert_allclose(fastconv.functional.conv2d(x, w, padding=1), want,
                                   rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert bounds[0] == bounds[2] < bounds[1] == bounds[3]


def test_winograd_switch_values_read_per_call(monkeypatch):
    """The switches are read at every call, with getenv's meaning: FASTCONV_NO_WINOGRAD
    "" or "0" leaves Winograd on, any other value turns it off; FASTCONV_WINOGRAD "f4"
    forces F(4x4), other values ("", "no") change nothing."""
    from fastconv import _conv, geometry as geo
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD", raising=False)
    monkeypatch.delenv("FASTCONV_WINOGRAD", raising=False)
    args = geo.conv_kernel_args(geo.conv2d_geometry((64, 64, 16, 16), (64, 64, 3, 3), 1, 1, 1))
    small = geo.conv_kernel_args(geo.conv2d_geometry((1, 16, 6, 6), (16, 16, 3, 3), 1, 1, 1))
    on, small_default = _conv.conv_path(args, 0, 4), _conv.conv_path(small, 0, 4)
    assert on.startswith("winograd") and not small_default.startswith("winograd")
    for value, winograd in (("", True), ("0", True), ("1", False), ("yes", False), ("0", True)):
        monkeypatch.setenv("FASTCONV_NO_WINOGRAD", value)
        assert _conv.conv_path(args, 0, 4).startswith("winograd") == winograd, value
    monkeypatch.delenv("FASTCONV_NO_WINOGRAD")
    for value, path in (("f4", "winograd-f4"), ("", small_default), ("no", small_default),
                        ("f4", "winograd-f4")):
        monkeypatch.setenv("FASTCONV_WINOGRAD", value)
        assert _conv.conv_path(small, 0, 4) == path, value
