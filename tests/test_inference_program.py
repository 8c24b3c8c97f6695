"""Inference programs (fastconv.models.program): a model's inference pass as one call into
C per run of steps must give bitwise the step-by-step result, never hand a caller memory
it reuses, and follow weight updates."""
import threading

import numpy as np
import pytest

import fastconv
from fastconv import _program, layers, models
from fastconv.models import zoo


def _pair(model, x):
    """(step-by-step outputs, program outputs of three calls) for channels-last x."""
    plan = model._get_plan()
    xs = model._internal([x])
    ref = plan.forward(xs, False)[0]
    got = [plan.infer(xs) for _ in range(3)]   # the first call compiles, the others run C
    return ref, got


def _segments(model):
    return [kind for c in model._get_plan()._programs._compiled.values() if c
            for kind, _, _ in c.segments]


def _run_concurrently(work, n):
    """work(0) .. work(n - 1), each on a thread of its own, all at once."""
    threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


@pytest.mark.parametrize("name", ["lenet5", "tfcnn", "cifar_example", "resnet20", "mobilenet"])
@pytest.mark.parametrize("n", [1, 3])
def test_zoo_models_run_in_one_call_bitwise(name, n):
    model = getattr(zoo, name)(seed=3)
    x = np.random.default_rng(n).random((n,) + tuple(model.inputs[0].shape[1:]),
                                        dtype=np.float32)
    ref, got = _pair(model, x)
    for outs in got:
        assert outs[0].tobytes() == ref[0].tobytes()
    assert _segments(model) == ["program"]


def test_float64_model_and_thread_counts():
    model = zoo.resnet20(seed=0, dtype="float64")
    x = np.random.default_rng(0).random((2, 32, 32, 3))
    before = fastconv.get_num_threads()
    try:
        results = []
        for t in (1, 2, 3):
            fastconv.set_num_threads(t)
            ref, got = _pair(model, x)
            assert got[-1][0].dtype == np.float64
            assert got[-1][0].tobytes() == ref[0].tobytes()
            results.append(got[-1][0])
        assert all(r.tobytes() == results[0].tobytes() for r in results)
    finally:
        fastconv.set_num_threads(before)


def _hybrid_model():
    """Ops the C tier runs, with Python steps between them: a tanh, a dropout, a softmax."""
    inp = layers.Input((12, 12, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.Activation("tanh")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.5)(x)
    y = layers.Conv2D(8, 3, padding="same")(x)
    x = layers.Add()([x, y])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(16, activation="relu")(x)
    return models.Model(inp, layers.Dense(5, activation="softmax")(x), seed=6)


def test_python_steps_between_programs():
    model = _hybrid_model()
    x = np.random.default_rng(1).random((4, 12, 12, 3), dtype=np.float32)
    ref, got = _pair(model, x)
    for outs in got:
        assert outs[0].tobytes() == ref[0].tobytes()
    kinds = _segments(model)
    assert "python" in kinds and "program" in kinds
    np.testing.assert_allclose(model.predict(x).sum(axis=1), 1.0, rtol=1e-5)


def test_outputs_are_fresh_and_intermediate_outputs_kept():
    """Two outputs, one an intermediate map that later steps read, one behind a flatten."""
    inp = layers.Input((8, 8, 2))
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(4, 3, padding="same")(a)
    flat = layers.Flatten()(layers.MaxPooling2D(2)(b))
    out = layers.Dense(3)(flat)
    model = models.Model(inp, [a, flat, out], seed=3)
    x = np.random.default_rng(2).random((2, 8, 8, 2), dtype=np.float32)
    first = model.predict(x)
    kept = [o.copy() for o in first]
    second = model.predict(x * 2)
    third = model.predict(x)
    for f, k, t in zip(first, kept, third):
        assert f.tobytes() == k.tobytes()        # a later call did not write into it
        assert t.tobytes() == k.tobytes()
    assert not np.array_equal(second[2], first[2])
    assert not any(np.shares_memory(f, s) for f, s in zip(first, second))


def test_weight_updates_reach_the_program():
    model = zoo.lenet5(seed=0)
    x = np.random.default_rng(3).random((1, 28, 28, 1), dtype=np.float32)
    y0 = model.predict(x)
    model.predict(x)
    w = model.get_weights()
    model.set_weights([v * 1.5 for v in w])
    y1 = model.predict(x)
    assert not np.array_equal(y0, y1)
    ref = model._get_plan().forward(model._internal([x]), False)[0][0]
    assert y1.tobytes() == ref.tobytes()


def test_training_between_predictions():
    model = zoo.small_cnn(seed=0)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(4).random((8, 8, 8, 1), dtype=np.float32)
    y = np.arange(8) % 10
    for _ in range(3):
        model.predict(x)
        model.train_on_batch(x, y)
        got = model.predict(x)
        ref = model._get_plan().forward(model._internal([x]), False)[0][0]
        assert got.tobytes() == ref.tobytes()


def test_concurrent_predictions_do_not_share_buffers():
    model = zoo.resnet20(seed=1)
    rng = np.random.default_rng(5)
    xs = [rng.random((2, 32, 32, 3), dtype=np.float32) for _ in range(4)]
    expect = [model.predict(x) for x in xs]
    errors = []

    def work(k):
        for _ in range(5):
            if not np.array_equal(model.predict(xs[k]), expect[k]):
                errors.append(k)
    _run_concurrently(work, 4)
    assert errors == []


def test_concurrent_programs_of_different_models():
    """Programs of several models running at once: one has the program pool, the
    others run on OpenMP teams of their own; every result is the serial one."""
    models_ = [zoo.tfcnn(seed=k) for k in range(3)]
    rng = np.random.default_rng(8)
    xs = [rng.random((n, 32, 32, 3), dtype=np.float32) for n in (1, 3, 1)]
    expect = [m.predict(x, batch_size=len(x)) for m, x in zip(models_, xs)]
    errors = []

    def work(k):
        for _ in range(30):
            got = models_[k].predict(xs[k], batch_size=len(xs[k]))
            if got.tobytes() != expect[k].tobytes():
                errors.append(k)
    _run_concurrently(work, 3)
    assert errors == []


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="no fork() here")
def test_program_pool_in_a_forked_child():
    """A child forked after the pool started has none of its threads: its programs
    start a pool of their own and give the parent's results."""
    import multiprocessing as mp
    _FORKED["model"] = zoo.tfcnn(seed=2)
    _FORKED["x"] = np.random.default_rng(9).random((1, 32, 32, 3), dtype=np.float32)
    expect = _predict_forked()     # the pool is running in the parent now
    with mp.get_context("fork").Pool(1) as pool:
        got = pool.apply(_predict_forked)
    _FORKED.clear()
    assert got.tobytes() == expect.tobytes()


_FORKED = {}


def _predict_forked():
    return _FORKED["model"].predict(_FORKED["x"], batch_size=1)


def test_intermediate_buffers_are_reused():
    model = zoo.resnet20(seed=0)
    x = np.random.default_rng(6).random((2, 32, 32, 3), dtype=np.float32)
    model.predict(x)
    model.predict(x)
    (compiled,) = model._get_plan()._programs._compiled.values()
    arenas = [k for k in compiled.kinds if k[0] == "arena"]
    steps = len(model._get_plan()._inference_steps()[0])
    # three per map size, the pooled vector and the input in NCHW (predict hands the
    # program the channels-last batch: its layout change is the first op)
    assert 0 < len(arenas) <= 11 < steps
    assert compiled.segments[0][1].nops == steps + 1
    assert compiled.segments[0][2][0] == "input layout"


def test_a_freed_buffer_takes_any_later_map_that_fits():
    # after MobileNet's widest pair of maps every map fits a freed buffer: 3 arena buffers
    model = zoo.mobilenet(seed=0)
    x = np.random.default_rng(7).random((4, 32, 32, 3), dtype=np.float32)
    expect = model.predict(x, batch_size=4)
    (compiled,) = model._get_plan()._programs._compiled.values()
    arenas = sorted(k[1] for k in compiled.kinds if k[0] == "arena")
    plane = 4 * 32 * 32 * 4
    assert arenas == [3 * plane, 16 * plane, 32 * plane]
    assert model.predict(x, batch_size=4).tobytes() == expect.tobytes()
    assert np.allclose(expect, model(x), rtol=1e-5, atol=1e-6)


def test_buffer_table_refuses_a_short_buffer():
    table = _program.BufferTable([64, 16])
    table.bind(0, np.empty(16, np.float32))
    with pytest.raises(ValueError, match="buffer 1: 8 bytes, the program needs 16"):
        table.bind(1, np.empty(2, np.float32))
    with pytest.raises(IndexError):
        table.bind(2, np.empty(4, np.float32))
    with pytest.raises(ValueError, match="not bound"):
        _program.run(_program.Program([(_program.OPS["add"], 0, 0.0, 0, 1, 1, None, None,
                                        0, 4, 0, None, None)], 4, 1), _program.BufferTable([16, 16]),
                     1)
    with pytest.raises(ValueError, match="unknown op kind"):
        _program.Program([(99, 0, 0.0, 0, 1, 1, None, None, 0, 4, 0, None, None)], 4, 1)


def test_read_only_input():
    """A single-channel batch is used as it is (no copy): read-only memory must do."""
    model = zoo.lenet5(seed=0)
    x = np.random.default_rng(7).random((2, 28, 28, 1), dtype=np.float32)
    expect = model.predict(x)
    x.flags.writeable = False
    for _ in range(3):
        assert model.predict(x).tobytes() == expect.tobytes()


def _assert_program_bits_as_steps(plan, xs):
    """The compiled inference equals the plan's step-by-step forward bitwise, on 1 and 2
    threads, run twice each (the second run reuses the compiled program)."""
    before = fastconv.get_num_threads()
    try:
        for t in (1, 2):
            fastconv.set_num_threads(t)
            ref = plan.forward(xs, False)[0]
            for _ in range(2):
                got = plan.infer(xs)
                assert [g.tobytes() for g in got] == [r.tobytes() for r in ref]
    finally:
        fastconv.set_num_threads(before)


@pytest.mark.parametrize("n", [1, 2, 9])
@pytest.mark.parametrize("pool", ["max", "avg"])
def test_conv_then_pooling_is_one_op(n, pool):
    """A convolution read only by the pooling after it is pooled from cache in the same op
    (runs of images per thread) or right after it (a shared image): bitwise either way;
    one read elsewhere too is not fused."""
    Pool = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
    inp = layers.Input((11, 11, 3))
    a = layers.Conv2D(8, 3, activation="relu")(inp)
    x = Pool(3, 2, ceil_mode=True)(a)
    b = layers.Conv2D(16, 3, padding="same")(x)
    y = Pool(2)(b)
    z = layers.Conv2D(16, 1)(y)
    out = layers.Add()([z, Pool(2)(layers.Conv2D(16, 1)(x))])
    model = models.Model(inp, [out, b], seed=n)
    x = np.random.default_rng(n).random((n, 11, 11, 3), dtype=np.float32)
    plan = model._get_plan()
    _assert_program_bits_as_steps(plan, model._internal([x]))
    (compiled,) = plan._programs._compiled.values()
    ops = [spec for kind, prog, _ in compiled.segments if kind == "program"
           for spec in [prog.nops]]
    steps = plan._inference_steps()[0]
    # fused: conv a + pool, conv(1x1) + pool; not: conv b (a model output), conv z (added)
    assert sum(ops) == len(steps) - 2


@pytest.mark.parametrize("n", [1, 2, 9])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_depthwise_then_conv_is_one_op(n, dtype):
    """A depthwise convolution read only by the convolution after it runs in that
    convolution's op (its output per run of images kept in cache): bitwise the
    step-by-step result on 1 and 2 threads, stride 1 and 2, with batch norm and ReLU
    folded in; one also read by an Add is not fused."""
    inp = layers.Input((16, 16, 8))
    a = layers.ReLU()(layers.BatchNormalization()(
        layers.DepthwiseConv2D(3, padding=1, use_bias=False)(inp)))
    b = layers.Conv2D(16, 1, activation="relu")(a)
    c = layers.DepthwiseConv2D(3, strides=2, padding=1, activation="relu")(b)
    d = layers.Conv2D(24, 3, padding="same")(c)          # any convolution may follow
    e = layers.DepthwiseConv2D(3, padding="same")(d)     # read twice: not fused
    out = layers.Add()([layers.Conv2D(24, 1)(e), e])
    model = models.Model(inp, out, seed=5, dtype=dtype)
    x = np.random.default_rng(n).random((n, 16, 16, 8)).astype(dtype)
    plan = model._get_plan()
    _assert_program_bits_as_steps(plan, model._internal([x]))
    (compiled,) = plan._programs._compiled.values()
    assert [kind for kind, _, _ in compiled.segments] == ["program"]
    labels = compiled.segments[0][2]
    fused = [label for label in labels if "depthwise" in label and "+conv2d" in label]
    assert len(fused) == 2 and len(labels) == 4   # + depthwise e, conv + add


@pytest.mark.parametrize("multiplier", [2, 3])
def test_depthwise_with_a_depth_multiplier_before_a_conv_runs_unfused(multiplier):
    # the fused op handles one output per input channel; predict raised "depthwise output
    # 6x8x8 is not the conv input 6x8x8" on this model
    model = models.Sequential([
        layers.DepthwiseConv2D(3, depth_multiplier=multiplier, padding="same",
                               input_shape=(8, 8, 3)),
        layers.Conv2D(4, 1, activation="relu")], seed=1)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    plan = model._get_plan()
    _assert_program_bits_as_steps(plan, model._internal([x]))
    assert model.predict(x).shape == (2, 8, 8, 4)


@pytest.mark.parametrize("before", ["conv_transpose", "separable"])
def test_softmax_dense_reading_a_flattening_of_a_python_step(before):
    # conv -> (a layer the programs leave to Python) -> Flatten -> Dense(softmax): the
    # Flatten is an alias in the program (no op) and the softmax Dense a Python step; the
    # second predict of a batch shape ran the compiled program and raised KeyError
    inp = layers.Input((5, 5, 2))
    x = layers.Conv2D(3, 3, padding="same")(inp)
    x = (layers.Conv2DTranspose(2, 2, strides=2) if before == "conv_transpose"
         else layers.SeparableConv2D(2, 3, padding="same"))(x)
    out = layers.Dense(4, activation="softmax")(layers.Flatten()(x))
    model = models.Model(inp, out, seed=2)
    x = np.random.default_rng(0).standard_normal((3, 5, 5, 2)).astype(np.float32)
    first = model.predict(x)
    np.testing.assert_array_equal(model.predict(x), first)
    _assert_program_bits_as_steps(model._get_plan(), model._internal([x]))
    assert _segments(model)[-2:] == ["python", "python"]


@pytest.mark.parametrize("n", [1, 4])
def test_dropout_and_identity_are_aliases_at_inference(n):
    # the main job's network: its two dropouts split the program in three Python-joined
    # segments (batch-1 predict 19.4-19.9 us; one program: 16.4-17.2)
    model = zoo.small_cnn(seed=0)
    x = np.random.default_rng(n).standard_normal((n, 8, 8, 1)).astype(np.float32)
    _assert_program_bits_as_steps(model._get_plan(), model._internal([x]))
    np.testing.assert_array_equal(model.predict(x), model.predict(x))
    assert _one_program_each(model)
    inp = layers.Input((6, 6, 2))
    out = layers.Identity()(layers.Conv2D(3, 3)(layers.Dropout(0.5)(inp)))
    model = models.Model(inp, layers.Dense(2)(layers.Flatten()(out)), seed=1)
    x = np.random.default_rng(0).standard_normal((n, 6, 6, 2)).astype(np.float32)
    _assert_program_bits_as_steps(model._get_plan(), model._internal([x]))
    assert _one_program_each(model)


def _one_program_each(model):
    """Whether every compiled program of the model (one per batch shape and input form)
    is a single program segment, no Python step between."""
    compiled = [c for c in model._get_plan()._programs._compiled.values() if c]
    return bool(compiled) and all([k for k, _, _ in c.segments] == ["program"]
                                  for c in compiled)


def test_conv_then_pooling_on_a_shared_image():
    """Batch 1 on two threads: the team shares the image's convolution (into scratch),
    then pools it -- bitwise the step-by-step result, and the 1x1 few-pixel batch path."""
    inp = layers.Input((40, 40, 16))
    x = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(inp))
    x = layers.AveragePooling2D(2)(layers.Conv2D(64, 3, padding="same")(x))
    x = layers.MaxPooling2D(3)(layers.Conv2D(64, 3, padding="same")(x))
    model = models.Model(inp, layers.AveragePooling2D(2)(layers.Conv2D(32, 1)(x)), seed=4)
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(2)
        for n in (1, 3):
            x = np.random.default_rng(n).random((n, 40, 40, 16), dtype=np.float32)
            ref, got = _pair(model, x)
            for outs in got:
                assert outs[0].tobytes() == ref[0].tobytes()
    finally:
        fastconv.set_num_threads(before)
    assert _segments(model) == ["program", "program"]


# (C, K, H, kernel, padding, winograd, pool size, pool stride, pool padding): each way a
# team cuts a shared image's convolution, then a pooling its parts can do on the rows they
# wrote (windows no taller than their stride, no padding) or cannot (the team pools after)
SHARED_POOL_CASES = [
    (3, 32, 32, 3, 0, "never", 2, 2, 0),     # direct, pixel chunks cut in bands of 2 rows
    (3, 32, 35, 3, 0, "never", 3, 3, 0),     # direct, bands of 3 rows, a short last band
    (64, 64, 8, 3, 1, "never", 2, 2, 0),     # direct, few pixels: output channels
    (32, 64, 15, 3, 0, "never", 2, 2, 0),    # channel-vector pixel tiles in whole rows
    (64, 64, 6, 3, 1, "never", 2, 2, 0),     # channel-vector, output-channel panels
    (32, 64, 15, 3, 0, "always", 2, 2, 0),   # Winograd tile rows
    (32, 64, 21, 3, 0, "always", 3, 3, 0),   # Winograd tile rows in bands of 3 rows
    (64, 70, 8, 3, 1, "always", 2, 2, 0),    # Winograd, output channels
    (64, 48, 20, 1, 0, "never", 2, 2, 0),    # 1x1 on the channel-vector path, pixels
    (32, 32, 26, 1, 0, "never", 2, 2, 0),    # 1x1 direct, chunks across rows: bands of 2
    (16, 32, 23, 1, 0, "never", 3, 3, 0),    # the same, cuts inside rows: pooled after
    (16, 32, 32, 3, 0, "never", 3, 2, 0),    # overlapping windows: pooled after
    (16, 32, 32, 3, 0, "never", 2, 2, 1),    # padded pooling: pooled after
]


@pytest.mark.parametrize("case", SHARED_POOL_CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_shared_image_parts_pool_their_own_rows(case, dtype, monkeypatch):
    """Batch 1 on two threads: each part of the shared convolution pools the rows it
    wrote where the cut allows -- bitwise the step-by-step result, max and average."""
    C, K, H, k, pad, wino, size, stride, ppad = case
    if wino == "always":
        monkeypatch.setenv("FASTCONV_WINOGRAD", "always")
    else:
        monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    inp = layers.Input((H, H, C))
    conv = layers.Conv2D(K, k, padding=pad, activation="relu")(inp)
    outs = [Pool(size, stride, padding=ppad)(conv)
            for Pool in (layers.MaxPooling2D, layers.AveragePooling2D)]
    for pooled in outs:
        model = models.Model(inp, pooled, seed=7, dtype=dtype)
        x = np.random.default_rng(H).standard_normal((1, H, H, C)).astype(dtype)
        _assert_program_bits_as_steps(model._get_plan(), model._internal([x]))


def test_profile_names_every_op():
    model = zoo.tfcnn(seed=0)
    x = np.random.default_rng(8).random((2, 32, 32, 3), dtype=np.float32)
    prof = model.profile(x, repeats=3, verbose=0)
    kinds = ["+".join(part.rstrip("0123456789").rstrip("_") for part in label.split("+"))
             for label, _ in prof]
    # conv + ReLU + pooling fused twice, the last conv, two Dense layers (flatten is free)
    assert kinds == ["conv2d+relu+max_pooling2d", "conv2d+relu+max_pooling2d", "conv2d+relu",
                     "dense", "dense"]
    assert all(ms > 0 for _, ms in prof)
    hybrid = _hybrid_model()
    prof = hybrid.profile(np.zeros((1, 12, 12, 3), np.float32), repeats=2, verbose=0)
    assert prof[-1][0] == hybrid.layers[-1].name       # the softmax head: a Python step
    with pytest.raises(ValueError, match="repeats"):
        model.profile(x, repeats=0)


def _programs(model):
    return [item for c in model._get_plan()._programs._compiled.values() if c
            for kind, item, _ in c.segments if kind == "program"]


@pytest.mark.parametrize("make", [lambda: zoo.resnet20(seed=2), lambda: zoo.mobilenet(seed=2),
                                  lambda: zoo.lenet5(seed=2, dtype="float64"), _hybrid_model],
                         ids=["resnet20", "mobilenet", "lenet5-float64", "hybrid"])
def test_chunked_runs_are_bitwise_the_whole_batch(make):
    """A batch run in chunks of images (every op over one chunk, then the next; 40 images:
    chunks of 16, 16 and 8) gives the step-by-step bits, whichever way the timing chose."""
    model = make()
    dtype = model.dtype
    x = np.random.default_rng(5).random((40,) + tuple(model.inputs[0].shape[1:])).astype(dtype)
    ref, got = _pair(model, x)
    assert got[-1][0].tobytes() == ref[0].tobytes()
    plan, xs = model._get_plan(), model._internal([x])
    programs = _programs(model)
    assert programs
    for chunk in (16, 7, 0, 40, 100):
        for p in programs:
            p.chunk = chunk
        assert plan.infer(xs)[0].tobytes() == ref[0].tobytes(), f"chunk {chunk}"


def test_program_profile_sums_the_chunks():
    model = zoo.cifar_example(seed=1)
    x = np.random.default_rng(2).random((40, 32, 32, 3), dtype=np.float32)
    model.predict(x, batch_size=40)
    for p in _programs(model):
        p.chunk = 16
    timings = model.profile(x, repeats=2, verbose=0)
    assert timings and all(ms > 0 for _, ms in timings)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 5, 40])
def test_predict_changes_the_input_layout_in_c(dtype, n):
    """predict hands a contiguous channels-last batch of the model's dtype to the program,
    whose first op makes it NCHW: the outputs are bitwise the step-by-step path's, and the
    caller's array is left alone. Other inputs (another dtype, a strided view) take the
    Python conversion and agree too."""
    model = zoo.cifar_example(seed=4, dtype=dtype)
    x = np.random.default_rng(n).random((n, 32, 32, 3)).astype(dtype)
    keep = x.copy()
    ref = model._get_plan().forward(model._internal([x]), False)[0][0]
    for _ in range(3):
        assert model.predict(x, batch_size=n).tobytes() == ref.tobytes()
    assert np.array_equal(x, keep)
    assert any(key[-1] is True for key in model._get_plan()._programs._compiled)
    other = x.astype("float64" if dtype == "float32" else "float32")
    np.testing.assert_allclose(model.predict(other, batch_size=n), ref, rtol=1e-5, atol=1e-6)
    wide = np.zeros((n, 32, 64, 3), dtype)
    wide[:, :, ::2] = x
    assert model.predict(wide[:, :, ::2], batch_size=n).tobytes() == ref.tobytes()


@pytest.mark.parametrize("hw", [(7, 9), (4, 6), (1, 5), (13, 13)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_input_layout_of_rgb_images_on_every_simd_path(simd, hw, dtype):
    """Three channels take a vectorised layout change (eight pixels at a time): image
    sizes that leave a part-vector (63 pixels), fewer pixels than a vector, and several
    thread parts an image all give exactly the channels-first batch."""
    model = models.Sequential([layers.Conv2D(4, 1, input_shape=hw + (3,)), layers.Flatten()],
                              seed=hw[1], dtype=dtype)
    x = np.random.default_rng(hw[0]).standard_normal((3,) + hw + (3,)).astype(dtype)
    ref = model._get_plan().forward(model._internal([x]), False)[0][0]
    for _ in range(3):
        assert model.predict(x, batch_size=3).tobytes() == ref.tobytes()
    assert any(key[-1] is True for key in model._get_plan()._programs._compiled)


def test_repeated_batch_shape_skips_the_checks_but_not_the_changes(monkeypatch):
    """A second predict (or inference call) of the batch shape and dtype the program last
    ran goes straight to it; anything else -- new weights, a strided or other-dtype array,
    another shape, a wrong one, the Winograd switch -- still takes the checked path."""
    from fastconv import functional
    model = zoo.tfcnn(seed=2)
    x = np.random.default_rng(9).random((1, 32, 32, 3), dtype=np.float32)
    runner = model._get_plan()._programs
    ref = model._get_plan().forward(model._internal([x]), False)[0][0]
    model.predict(x)       # compiles the program
    model.predict(x)       # runs it, and keeps it as the last public run
    assert runner._last_public is not None
    calls = []
    monkeypatch.setattr(type(model), "_check_x",
                        lambda self, a, what="x": calls.append(1) or
                        models.Model._check_x(self, a, what))
    for y in (model.predict(x), model.predict(x, batch_size=1), model(x)):
        assert y.tobytes() == ref.tobytes()
    assert calls == []
    assert model.predict(x.astype(np.float64)).shape == ref.shape and calls == [1]
    wide = np.zeros((1, 32, 64, 3), np.float32)
    wide[:, :, ::2] = x
    assert model.predict(wide[:, :, ::2]).tobytes() == ref.tobytes() and len(calls) == 2
    with pytest.raises(ValueError, match=r"\(N,\) \+ \(32, 32, 3\)"):
        model.predict(np.zeros((1, 32, 30, 3), np.float32))
    model.set_weights([w * 0.5 for w in model.get_weights()])
    changed = model.predict(x)
    want = model._get_plan().forward(model._internal([x]), False)[0][0]
    assert changed.tobytes() == want.tobytes()
    assert not np.array_equal(changed, ref)
    key = functional.conv._winograd_env()
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")
    assert functional.conv._winograd_env() != key
    n = len(calls)
    model.predict(x)
    assert len(calls) == n + 1


@pytest.mark.parametrize("name", ["lenet5", "tfcnn", "cifar_example", "resnet20", "mobilenet"])
@pytest.mark.parametrize("n", [1, 3])
def test_one_team_for_the_whole_program_is_bitwise_one_thread(name, n):
    """With 2-4 threads a program runs all its ops in one OpenMP team that shares each
    op's loop out (and splits even small ops): the bits are the one-thread run's."""
    model = getattr(zoo, name)(seed=5)
    x = np.random.default_rng(n).random((n,) + tuple(model.inputs[0].shape[1:]),
                                        dtype=np.float32)
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(1)
        one = model.predict(x, batch_size=n)
        for t in (2, 3, 4):
            fastconv.set_num_threads(t)
            for _ in range(2):
                assert model.predict(x, batch_size=n).tobytes() == one.tobytes(), t
    finally:
        fastconv.set_num_threads(before)


@pytest.mark.parametrize("name", ["resnet20", "mobilenet"])
def test_parts_handed_out_in_batches_are_bitwise_one_thread(name):
    """Inside a program's team an op's few parts go to their own thread first and to any
    thread that asks once it is done, many parts a batch at a time to whichever thread
    asks (the global pooling of 33 images x 512 channels: thousands of planes): any
    hand-out gives the one-thread bits."""
    model = getattr(zoo, name)(seed=2)
    x = np.random.default_rng(7).random((33,) + tuple(model.inputs[0].shape[1:]),
                                        dtype=np.float32)
    before = fastconv.get_num_threads()
    try:
        fastconv.set_num_threads(1)
        one = model.predict(x, batch_size=33)
        for t in (2, 3):
            fastconv.set_num_threads(t)
            assert model.predict(x, batch_size=33).tobytes() == one.tobytes(), t
        # runs of 5 images: the team reuses its loop slots from one run to the next
        for t in (2, 3):
            fastconv.set_num_threads(t)
            model.predict(x, batch_size=33)
            for p in _programs(model):
                p.chunk = 5
            assert model.predict(x, batch_size=33).tobytes() == one.tobytes(), (t, "chunks")
    finally:
        fastconv.set_num_threads(before)
