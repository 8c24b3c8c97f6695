"""The idle-spin setting ``import fastconv`` gives the kernels' OpenMP runtime (libgomp).

Each case starts a fresh interpreter (libgomp reads its settings once, when loaded) with
``OMP_DISPLAY_ENV=verbose``, so that libgomp itself prints the spin count it took.
"""
import os
import re
import subprocess
import sys

import pytest

import fastconv

pytestmark = pytest.mark.skipif(not fastconv.openmp_enabled(), reason="serial build")

_PROBE = """
import os, fastconv
from fastconv import _openmp_env
s = _openmp_env.spin_setting()
print("COUNT", s["spin_count"])
print("SOURCE", s["source"])
print("ENV", os.environ.get("GOMP_SPINCOUNT"))
print("INFO", fastconv.get_config_info()["openmp_spin"])
"""


# the fastconv this test imported (installed or built in place), not the source tree's
PKG_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


def _run(tmp_path, **env_changes):
    env = {k: v for k, v in os.environ.items()
           if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "FASTCONV_SPINCOUNT")}
    env.update(env_changes, OMP_DISPLAY_ENV="verbose",
               PYTHONPATH=PKG_ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = dict(line.split(" ", 1) for line in r.stdout.splitlines() if " " in line)
    shown = re.search(r"GOMP_SPINCOUNT = '(\d+)'", r.stderr)
    if shown is None:
        pytest.skip("this OpenMP runtime does not print GOMP_SPINCOUNT")
    return out, int(shown.group(1)), r.stderr


def test_default_sets_the_short_spin_and_leaves_the_environment_alone(tmp_path):
    out, shown, _ = _run(tmp_path)
    assert shown == 10000
    assert out["COUNT"] == "10000"
    assert out["ENV"] == "None"       # taken out again once libgomp had read it
    assert "10000" in out["INFO"]


@pytest.mark.parametrize("name,value", [("GOMP_SPINCOUNT", "1234"),
                                        ("OMP_WAIT_POLICY", "passive")])
def test_the_users_setting_wins(tmp_path, name, value):
    out, shown, _ = _run(tmp_path, **{name: value})
    assert shown != 10000
    if name == "GOMP_SPINCOUNT":
        assert shown == 1234 and out["ENV"] == "1234"
    assert out["COUNT"] == "None"
    assert name in out["SOURCE"] and "user" in out["SOURCE"]


def test_fastconv_spincount_sets_another_count(tmp_path):
    out, shown, _ = _run(tmp_path, FASTCONV_SPINCOUNT="2500")
    assert shown == 2500 and out["COUNT"] == "2500" and out["ENV"] == "None"


def test_fastconv_spincount_default_keeps_libgomps(tmp_path):
    out, shown, _ = _run(tmp_path, FASTCONV_SPINCOUNT="default")
    assert shown != 10000 and out["COUNT"] == "None"
    assert "default" in out["SOURCE"]


@pytest.mark.parametrize("bad", ["-3", "lots", "1e4"])
def test_a_bad_fastconv_spincount_warns_and_changes_nothing(tmp_path, bad):
    out, shown, err = _run(tmp_path, FASTCONV_SPINCOUNT=bad)
    assert "RuntimeWarning" in err and repr(bad) in err
    assert shown != 10000 and out["COUNT"] == "None"
