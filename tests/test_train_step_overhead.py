"""The training step's Python tier: the fused loss computes what the functional ops compute,
bit for bit, and a training step does not page its buffers in again every time."""
import os
import platform
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastconv
from fastconv import functional as F
from fastconv import losses

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_crossentropy_from_logits_is_the_functional_pair_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    for n, k in ((64, 10), (1, 3), (7, 2)):
        logits = (rng.standard_normal((n, k)) * 6).astype(dtype)
        labels = rng.integers(0, k, n)
        value, grad = losses.crossentropy_from_logits(logits, labels)
        assert value == float(F.cross_entropy(logits, labels))
        assert grad.dtype == dtype
        assert np.array_equal(grad, F.cross_entropy_backward(logits, labels))
        assert losses.crossentropy_from_logits(logits, labels, False) == (value, None)
        one_hot = np.eye(k, dtype=dtype)[labels]
        v2, g2 = losses.crossentropy_from_logits(logits, one_hot)
        assert v2 == float(F.cross_entropy(logits, one_hot))
        assert np.array_equal(g2, F.cross_entropy_backward(logits, one_hot))


def _child(code, **env):
    full = dict(os.environ, PYTHONPATH=ROOT, **env)
    for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES",
              "FASTCONV_KEEP_FREED_BUFFERS"):
        if k not in env:
            full.pop(k, None)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, env=full, cwd=os.path.dirname(ROOT), timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


_STEPS = """
    import resource
    import numpy as np
    import fastconv
    from fastconv import _alloc, losses, models, optimizers
    fastconv.set_num_threads(1)
    model = models.lenet5(input_shape=(28, 28, 1), seed=0)
    model.compile(optimizers.SGD(0.01, momentum=0.9),
                  losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 64)
    for _ in range(10):
        model.train_on_batch(x, y)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(40):
        model.train_on_batch(x, y)
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40
    print(_alloc.keep_freed_buffers(), faults)
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                    reason="the heap thresholds are glibc's")
def test_training_steps_do_not_page_their_buffers_in_again():
    applied, faults = _child(_STEPS).split()
    assert applied == "True"
    # without the thresholds a LeNet-5 step on 28x28 images takes ~450 page faults
    assert float(faults) < 50, f"{faults} page faults per step"


def test_the_heap_thresholds_can_be_switched_off_and_yield_to_the_users():
    code = "from fastconv import _alloc; print(_alloc.keep_freed_buffers())"
    assert _child(code, FASTCONV_KEEP_FREED_BUFFERS="0") == "False"
    assert _child(code, MALLOC_TRIM_THRESHOLD_="1000000") == "False"
