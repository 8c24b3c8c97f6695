"""Model files: bitwise round trip, optimizer state, atomic writes, and refusal of
truncated, foreign and tampered files."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

from fastconv import datasets, layers, losses, models, optimizers, saving


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits()


def trained(digits, seed=0):
    (x, y), _ = digits
    m = models.Sequential([
        layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.BatchNormalization(),
        layers.MaxPooling2D(2),
        layers.Dropout(0.2),
        layers.Flatten(),
        layers.Dense(16, activation="elu"),
        layers.Dense(10, activation="softmax"),
    ], seed=seed)
    m.compile(optimizers.Adam(0.003), "sparse_categorical_crossentropy", ["accuracy"])
    m.fit(x[:256], y[:256], epochs=2, verbose=0)
    return m


def test_round_trip_is_bitwise(tmp_path, digits):
    _, (xt, yt) = digits
    m = trained(digits)
    path = tmp_path / "model.fcm"
    m.save(path)
    loaded = models.load_model(path)
    assert loaded.get_config() == m.get_config()
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    np.testing.assert_array_equal(loaded.predict(xt), m.predict(xt))
    assert loaded.compiled and loaded.metrics_names == ["loss", "accuracy"]
    assert loaded.evaluate(xt, yt) == m.evaluate(xt, yt)
    assert isinstance(loaded.loss, losses.SparseCategoricalCrossentropy)


def test_resume_training_identically(tmp_path, digits):
    (x, y), _ = digits
    m = trained(digits)
    m.save(tmp_path / "m.fcm")
    loaded = models.load_model(tmp_path / "m.fcm")
    assert loaded.optimizer.iterations == m.optimizer.iterations
    for _ in range(3):
        m.train_on_batch(x[:32], y[:32])
        loaded.train_on_batch(x[:32], y[:32])
    for a, b in zip(m.get_weights(), loaded.get_weights()):
        assert np.array_equal(a, b)


def test_uncompiled_and_float64_models(tmp_path):
    m = models.lenet5(input_shape=(8, 8, 1), seed=0, dtype="float64")
    m.save(str(tmp_path / "lenet"))
    assert os.path.exists(tmp_path / "lenet")  # the exact path, no suffix added
    loaded = models.load_model(tmp_path / "lenet")
    assert not loaded.compiled and loaded.dtype == np.float64
    x = np.random.default_rng(0).random((2, 8, 8, 1))
    np.testing.assert_array_equal(loaded.predict(x), m.predict(x))
    m2 = trained_small = models.cifar_example(seed=1)
    trained_small.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    m2.save(tmp_path / "c.fcm", include_optimizer=False)
    assert models.load_model(tmp_path / "c.fcm").optimizer.get_config() == \
        optimizers.RMSprop().get_config()


def test_unbuilt_model_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="not built"):
        models.Sequential([layers.Dense(3)]).save(tmp_path / "x")


def test_write_is_atomic(tmp_path, monkeypatch, digits):
    m = trained(digits)
    path = tmp_path / "model.fcm"
    m.save(path)
    original = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        models.lenet5(seed=9).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == original  # the old model is intact
    assert sorted(os.listdir(tmp_path)) == ["model.fcm"]  # no temporary file left
    m.save(path)  # overwrite works and leaves nothing else behind
    assert sorted(os.listdir(tmp_path)) == ["model.fcm"]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's private 0o600


def _rewrite(path, out, change):
    """Copy a model archive, letting change(name, bytes) -> bytes edit members."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, change(info.filename, zin.read(info.filename)))


@pytest.fixture
def saved(tmp_path, digits):
    m = trained(digits)
    path = tmp_path / "good.fcm"
    m.save(path)
    return path


def test_truncated_file_is_refused(saved, tmp_path):
    data = saved.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"cut{cut}.fcm"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cannot load model"):
            models.load_model(bad)


def test_foreign_files_are_refused(tmp_path):
    npz = tmp_path / "other.npz"
    np.savez(npz, a=np.zeros(3))
    with pytest.raises(ValueError, match="no fastconv header"):
        models.load_model(npz)
    npy = tmp_path / "array.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="not a fastconv model file"):
        models.load_model(npy)
    txt = tmp_path / "notes.txt"
    txt.write_text("hello")
    with pytest.raises(ValueError, match="not a fastconv model file"):
        models.load_model(txt)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="not a fastconv model file"):
        models.load_model(empty)
    with pytest.raises(FileNotFoundError):
        models.load_model(tmp_path / "missing.fcm")


def test_pickled_content_is_never_loaded(tmp_path, saved):
    evil = tmp_path / "evil.fcm"
    buf = io.BytesIO()
    np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)

    def change(name, data):
        return buf.getvalue() if name == "w0000.npy" else data

    _rewrite(saved, evil, change)
    with pytest.raises(ValueError, match="cannot load model"):
        models.load_model(evil)


def test_tampered_weights_are_refused(saved, tmp_path):
    bad = tmp_path / "bad.fcm"

    def change(name, data):
        if name == "w0002.npy":
            data = bytearray(data)
            data[-1] ^= 0x01  # flip one bit of the last weight
            data = bytes(data)
        return data

    _rewrite(saved, bad, change)
    with pytest.raises(ValueError, match="checksum"):
        models.load_model(bad)


def test_tampered_architecture_is_refused(saved, tmp_path):
    bad = tmp_path / "bad.fcm"

    def change(name, data):
        if name == "__fastconv__.npy":
            buf = io.BytesIO(data)
            header = json.loads(np.load(buf).tobytes())
            header["model"]["layers"][5]["config"]["activation"] = "relu"
            raw = json.dumps(header).encode()
            out = io.BytesIO()
            np.save(out, np.frombuffer(raw, np.uint8))
            return out.getvalue()
        return data

    _rewrite(saved, bad, change)
    with pytest.raises(ValueError, match="checksum"):
        models.load_model(bad)


def _rewrite_header(path, out, edit):
    """Copy a model archive with edit(header) applied and its checksum made to match: a
    file crafted by someone who knows the format, which the checksum cannot catch."""
    from fastconv.models import saving as S
    header, arrays = S._read_archive(os.fspath(path))
    edit(header)
    header["sha256"] = S._digest(header["model"], header["compile"], header["arrays"], arrays,
                                 header["rng"])
    raw = np.frombuffer(S._canonical(header).encode(), np.uint8)
    np.savez(out, **{S._HEADER_KEY: raw}, **arrays)


def test_architecture_larger_than_its_weights_fails_before_allocating(saved, tmp_path):
    # a 16-unit Dense layer edited to 3 billion units: 4 bytes x 3e9 x 16 inputs to
    # allocate and initialise before the weights' shapes were compared
    import tracemalloc
    bad = tmp_path / "giant.npz"

    def edit(header):
        header["model"]["layers"][5]["config"]["units"] = 3_000_000_000

    _rewrite_header(saved, bad, edit)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"layer 'dense\w*': weight 'kernel' of shape "
                                             r"\(3000000000, \d+\) needs \d+ values, more "
                                             r"than the file holds"):
            models.load_model(bad)
        assert tracemalloc.get_traced_memory()[1] < 50 << 20
    finally:
        tracemalloc.stop()
    # the same file, unedited but re-signed, still loads: the budget is the file's own
    fine = tmp_path / "fine.npz"
    _rewrite_header(saved, fine, lambda header: None)
    assert models.load_model(fine).count_params() == models.load_model(saved).count_params()


@pytest.mark.parametrize("use_bias", [True, False])
def test_transposed_convolution_round_trip_under_the_weight_budget(tmp_path, use_bias):
    # its bias (one per output channel, 3) differs in size from its input channels (5)
    m = models.Sequential([
        layers.Conv2DTranspose(3, 3, strides=2, padding="same", use_bias=use_bias,
                               bias_initializer="random_normal", input_shape=(4, 4, 5)),
        layers.Flatten(), layers.Dense(2)], seed=3)
    m.build()
    path = tmp_path / "t.fcm"
    m.save(path)
    back = models.load_model(path)
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    assert back.layers[0].params["kernel"].shape == (5, 3, 3, 3)
    assert ("bias" in back.layers[0].params) == use_bias


def test_compressed_or_overdeclared_members_are_refused_before_reading(saved, tmp_path):
    # a deflated member inflates to what it likes before the checksum can be computed;
    # a stored one whose .npy header declares more than it holds would be allocated at the
    # declared size
    with zipfile.ZipFile(saved) as z:
        members = {i.filename: z.read(i.filename) for i in z.infolist()}
    packed = tmp_path / "deflated.fcm"
    with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    with pytest.raises(ValueError, match="is compressed"):
        models.load_model(packed)
    over = tmp_path / "over.fcm"

    def change(name, data):
        if name == "w0000.npy":
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                header, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 12,)})
            return header.getvalue() + b"\0" * 64
        return data

    _rewrite(saved, over, change)
    with pytest.raises(ValueError, match=r"'w0000.npy' declares 4000000000000 bytes of data "
                                         r"but holds \d+"):
        models.load_model(over)


def test_extra_or_missing_members_are_refused(saved, tmp_path):
    bad = tmp_path / "extra.fcm"
    _rewrite(saved, bad, lambda n, d: d)
    with zipfile.ZipFile(bad, "a") as z:
        buf = io.BytesIO()
        np.save(buf, np.zeros(2))
        z.writestr("sneaky.npy", buf.getvalue())
    with pytest.raises(ValueError, match="unexpected"):
        models.load_model(bad)


def test_future_version_is_refused(saved, tmp_path):
    bad = tmp_path / "v9.fcm"

    def change(name, data):
        if name == "__fastconv__.npy":
            header = json.loads(np.load(io.BytesIO(data)).tobytes())
            header["version"] = 9
            out = io.BytesIO()
            np.save(out, np.frombuffer(json.dumps(header).encode(), np.uint8))
            return out.getvalue()
        return data

    _rewrite(saved, bad, change)
    with pytest.raises(ValueError, match="version 9"):
        models.load_model(bad)


def test_save_model_function_and_type_check(tmp_path):
    with pytest.raises(TypeError, match="fastconv model"):
        saving.save_model(object(), tmp_path / "x")
    m = models.lenet5(seed=0)
    saving.save_model(m, tmp_path / "f.fcm")
    assert saving.load_model(tmp_path / "f.fcm").count_params() == m.count_params()
