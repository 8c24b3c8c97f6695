"""The inference programs a model keeps per batch shape (fastconv.models.program): the
programs of the few shapes used last are kept, and a shape seen before is not timed again
(whole batch or chunks) when its program is rebuilt -- a caller cycling through more
shapes than are kept paid that timing, tens of milliseconds, at every call."""
import numpy as np

import fastconv
from fastconv.models import program, zoo


def _batch_sizes(model):
    """Batch sizes of the kept programs, least recently used first."""
    return [key[0][0] for key in model._get_plan()._programs._compiled]


def test_the_least_recently_used_shape_is_dropped():
    model = zoo.cifar_example(seed=0)
    x = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32)
    assert program._PROGRAMS_KEPT == 4
    for n in (1, 2, 3, 4):
        model.predict(x[:n], batch_size=n, verbose=0)
    model.predict(x[:1], batch_size=1, verbose=0)      # batch 1 used again
    model.predict(x[:5], batch_size=5, verbose=0)      # a fifth shape: batch 2's goes
    assert _batch_sizes(model) == [3, 4, 1, 5]


def test_a_rebuilt_program_keeps_its_chunk_choice(monkeypatch, restore_threads):
    timed = []
    choose = program._Compiled._choose_chunk

    def counting(self, inputs):
        timed.append(self.n)
        choose(self, inputs)

    monkeypatch.setattr(program._Compiled, "_choose_chunk", counting)
    fastconv.set_num_threads(2)
    model = zoo.cifar_example(seed=0)
    x = np.random.default_rng(1).random((40, 32, 32, 3), dtype=np.float32)
    sizes = (32, 33, 34, 35, 36, 37)       # more shapes than are kept, each timed
    first = {n: model.predict(x[:n], batch_size=n, verbose=0) for n in sizes}
    chosen = {}
    for n in sizes:
        assert model.predict(x[:n], batch_size=n, verbose=0).tobytes() == first[n].tobytes()
        (compiled,) = [c for key, c in model._get_plan()._programs._compiled.items()
                       if key[0][0] == n]
        chosen[n] = compiled.chunk
        assert all(p.chunk == compiled.chunk for kind, p, _ in compiled.segments
                   if kind == "program")
    assert sorted(timed) == list(sizes)    # rebuilt six times, timed only the first time
    assert set(chosen.values()) <= {0, program._CHUNK_IMAGES}
    fastconv.set_num_threads(1)            # another thread count: timed again
    model.predict(x[:32], batch_size=32, verbose=0)
    assert timed[-1] == 32 and len(timed) == len(sizes) + 1
