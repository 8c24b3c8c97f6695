"""fastconv.visualize: feature maps as arrays, and the three pictures as valid PNG files."""
import builtins
import os
import re
import struct
import sys

import numpy as np
import pytest

from fastconv import datasets, layers, losses, models, reference, visualize

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_WIDTH = 600


def png_size(path):
    """(width, height) from the IHDR chunk of a PNG file; asserts the file is a PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG file"
    length, kind = struct.unpack(">I4s", head[8:16])
    assert kind == b"IHDR" and length == 13, f"{path}: first chunk is {kind!r}, not IHDR"
    return struct.unpack(">II", head[16:24])


def assert_png(path, min_width=MIN_WIDTH):
    assert os.path.isfile(path), f"{path} was not written"
    w, h = png_size(path)
    assert w >= min_width, f"{path} is {w} px wide, expected at least {min_width}"
    assert h >= 150, f"{path} is only {h} px high"
    return w, h


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def digits():
    (x, y), (xt, yt) = datasets.load_digits()
    return x[:240], y[:240], xt[:60], yt[:60]


def tiny_model(seed=0):
    return models.Sequential([
        layers.Conv2D(4, (3, 3), padding="same", activation="relu", input_shape=(8, 8, 1)),
        layers.MaxPooling2D((2, 2)),
        layers.Conv2D(6, (3, 3), activation="relu"),
        layers.Dropout(0.1),
        layers.Flatten(),
        layers.Dense(10),
    ], seed=seed)


@pytest.fixture(scope="module")
def trained(digits):
    """A tiny CNN trained for one epoch on a slice of the digits, and its History."""
    x, y, xt, yt = digits
    model = tiny_model()
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    history = model.fit(x, y, batch_size=32, epochs=1, validation_data=(xt, yt), verbose=0)
    return model, history


@pytest.fixture
def image(digits):
    return digits[2][0]


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


# --------------------------------------------------------------------------- feature_maps

def test_feature_maps_shapes_match_summary(trained, image):
    model, _ = trained
    maps = visualize.feature_maps(model, image)
    # every convolution and pooling layer, in order; not Dropout/Flatten/Dense
    assert list(maps) == [model.layers[i].name for i in (0, 1, 2)]
    lines = []
    model.summary(print_fn=lines.append)
    stated = {}
    for line in lines:
        m = re.match(r"\s*(\S+) \(\w+\)\s+(\(None[^)]*\))", line)
        if m:
            stated[m.group(1)] = tuple(int(v) for v in m.group(2)[1:-1].split(",")[1:])
    for name, a in maps.items():
        layer = model.get_layer(name)
        assert a.shape == tuple(layer.output_shape[1:]) == stated[name], name
        assert a.dtype == model.dtype
    assert maps[model.layers[0].name].shape == (8, 8, 4)
    assert maps[model.layers[1].name].shape == (4, 4, 4)
    assert maps[model.layers[2].name].shape == (2, 2, 6)


def test_feature_maps_values_are_the_convolution(trained, image):
    """The first map is ReLU(conv(image)) computed by the NumPy reference, channels-last."""
    model, _ = trained
    conv = model.layers[0]
    maps = visualize.feature_maps(model, image)
    x = np.asarray(image, np.float64).transpose(2, 0, 1)[None]
    want = reference.relu(reference.conv2d(x, conv.params["kernel"].astype(np.float64),
                                           conv.params["bias"].astype(np.float64),
                                           padding=1))[0].transpose(1, 2, 0)
    np.testing.assert_allclose(maps[conv.name], want, rtol=1e-4, atol=1e-5)
    pooled = want.reshape(4, 2, 4, 2, 4).max(axis=(1, 3))
    np.testing.assert_allclose(maps[model.layers[1].name], pooled, rtol=1e-4, atol=1e-5)


def test_feature_maps_accepts_2d_and_batch_of_one(trained, image):
    model, _ = trained
    a = visualize.feature_maps(model, image)
    b = visualize.feature_maps(model, image[:, :, 0])
    c = visualize.feature_maps(model, image[None])
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_array_equal(a[k], c[k])


def test_feature_maps_include(trained, image):
    model, _ = trained
    convs = visualize.feature_maps(model, image, include=("conv",))
    assert list(convs) == [model.layers[0].name, model.layers[2].name]
    with pytest.raises(ValueError, match="include"):
        visualize.feature_maps(model, image, include=("dense",))


def test_feature_maps_shows_relu_layers_of_the_cifar_example():
    """CONV (no activation) -> RELU -> POOL: all three volumes are reported."""
    model = models.cifar_example(input_shape=(8, 8, 3), seed=0)
    img = np.random.default_rng(0).random((8, 8, 3)).astype(np.float32)
    maps = visualize.feature_maps(model, img)
    kinds = [type(model.get_layer(n)).__name__ for n in maps]
    assert kinds == ["Conv2D", "ReLU", "MaxPooling2D"]
    conv, relu, _ = maps.values()
    assert conv.min() < 0 and relu.min() >= 0
    np.testing.assert_array_equal(relu, np.maximum(conv, 0))


# --------------------------------------------------------------------------- validation

def test_image_shape_must_match_the_model(trained):
    model, _ = trained
    with pytest.raises(ValueError, match=r"\(28, 28, 1\).*\(8, 8, 1\)"):
        visualize.feature_maps(model, np.zeros((28, 28, 1)))
    with pytest.raises(ValueError, match="ONE image"):
        visualize.feature_maps(model, np.zeros((5, 8, 8, 1)))
    with pytest.raises(ValueError, match="channels-last"):
        models_3 = models.cifar_example(input_shape=(8, 8, 3), seed=0)
        visualize.feature_maps(models_3, np.zeros((3, 8, 8)))
    with pytest.raises(TypeError, match="numeric"):
        visualize.feature_maps(model, np.array([["a"] * 8] * 8))
    with pytest.raises(TypeError, match="None"):
        visualize.feature_maps(model, None)
    with pytest.raises(ValueError, match="NaN"):
        visualize.feature_maps(model, np.full((8, 8, 1), np.nan))


def test_model_without_convolution_is_refused(image, tmp_path):
    model = models.Sequential([layers.Flatten(input_shape=(8, 8, 1)), layers.Dense(10)])
    with pytest.raises(ValueError, match="no Conv2D layer"):
        visualize.feature_maps(model, image)
    with pytest.raises(ValueError, match="no Conv2D layer"):
        visualize.plot_filters(model, str(tmp_path / "f.png"))


def test_unbuilt_model_is_refused(image, tmp_path):
    model = models.Sequential([layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(10)])
    assert not model.built
    with pytest.raises(ValueError, match="not built"):
        visualize.feature_maps(model, image)
    with pytest.raises(ValueError, match="not built"):
        visualize.plot_filters(model, str(tmp_path / "f.png"))


def test_not_a_model_is_refused(image):
    with pytest.raises(TypeError, match="Sequential"):
        visualize.feature_maps("model", image)


def test_bad_paths_are_refused(trained, image, tmp_path, mpl):
    model, history = trained
    missing = tmp_path / "no" / "such" / "dir" / "x.png"
    with pytest.raises(ValueError, match="does not exist"):
        visualize.plot_filters(model, missing)
    with pytest.raises(ValueError, match="is a directory"):
        visualize.plot_history(history, tmp_path)
    with pytest.raises(TypeError, match="file path"):
        visualize.plot_feature_maps(model, image, 42)
    with pytest.raises(ValueError, match="unsupported picture format"):
        visualize.plot_history(history, tmp_path / "curves.xyz")
    with pytest.raises(ValueError, match="Conv2D layer named 'nope'"):
        visualize.plot_filters(model, tmp_path / "f.png", layer="nope")
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        visualize.save_training_plots(model, history, image, a_file)
    assert not missing.exists() and sorted(os.listdir(tmp_path)) == ["file.txt"]


def test_bad_histories_are_refused(tmp_path, mpl):
    with pytest.raises(TypeError, match="History"):
        visualize.plot_history([0.5, 0.4], tmp_path / "h.png")
    with pytest.raises(ValueError, match="empty"):
        visualize.plot_history({}, tmp_path / "h.png")
    with pytest.raises(ValueError, match="no 'loss'"):
        visualize.plot_history({"accuracy": [0.5]}, tmp_path / "h.png")
    with pytest.raises(TypeError, match="list of numbers"):
        visualize.plot_history({"loss": ["high", "low"]}, tmp_path / "h.png")


# --------------------------------------------------------------------------- pictures

def test_plot_feature_maps_writes_a_png(trained, image, tmp_path, mpl):
    model, _ = trained
    path = visualize.plot_feature_maps(model, image, tmp_path / "maps.png")
    assert path == str(tmp_path / "maps.png")
    assert_png(path)
    assert os.path.getsize(path) < 300_000


def test_plot_feature_maps_layer_scale_and_few_maps(trained, image, tmp_path, mpl):
    model, _ = trained
    path = visualize.plot_feature_maps(model, image, str(tmp_path / "maps"), scale="layer",
                                       max_maps=2, columns=2)
    assert_png(path)          # no extension: still a PNG
    with pytest.raises(ValueError, match="scale"):
        visualize.plot_feature_maps(model, image, tmp_path / "m.png", scale="global")
    with pytest.raises(ValueError, match="max_maps"):
        visualize.plot_feature_maps(model, image, tmp_path / "m.png", max_maps=0)


def test_plot_filters_writes_a_png(trained, tmp_path, mpl):
    model, _ = trained
    assert_png(visualize.plot_filters(model, tmp_path / "filters.png"))
    # a named, deeper layer: 6 filters over 4 input channels
    assert_png(visualize.plot_filters(model, tmp_path / "f2.png", layer=model.layers[2].name))


def test_plot_filters_colour_input(tmp_path, mpl):
    model = models.cifar_example(input_shape=(8, 8, 3), seed=0)   # built, untrained
    assert_png(visualize.plot_filters(model, tmp_path / "rgb.png"))


def test_plot_history_writes_a_png(tmp_path, mpl):
    # a plain dict, several epochs, no validation and no accuracy (a History object is
    # drawn by test_save_training_plots)
    assert_png(visualize.plot_history({"loss": [2.0, 1.1, 0.7, 0.5]}, tmp_path / "h2.png"))


def test_save_training_plots(trained, image, tmp_path, mpl):
    mpl.use("Agg")
    import matplotlib.pyplot as plt
    before = plt.get_fignums()
    model, history = trained
    out = tmp_path / "plots" / "run1"               # created, parents too
    paths = visualize.save_training_plots(model, history, image, out)
    assert [os.path.basename(p) for p in paths] == ["feature_maps.png", "filters.png",
                                                    "history.png"]
    assert paths.filters == str(out / "filters.png")
    for p in paths:
        assert os.path.dirname(p) == str(out)
        assert_png(p)
    assert plt.get_fignums() == before              # no figure left open in pyplot


# --------------------------------------------------------------------------- no matplotlib

@pytest.fixture
def no_matplotlib(monkeypatch):
    """Make every `import matplotlib...` fail, as if it were not installed."""
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_missing_matplotlib_gives_a_clear_message(trained, image, tmp_path, no_matplotlib):
    model, history = trained
    calls = [
        lambda: visualize.plot_feature_maps(model, image, tmp_path / "m.png"),
        lambda: visualize.plot_filters(model, tmp_path / "f.png"),
        lambda: visualize.plot_history(history, tmp_path / "h.png"),
        lambda: visualize.save_training_plots(model, history, image, tmp_path / "plots"),
    ]
    for call in calls:
        with pytest.raises(ImportError, match=re.escape("pip install 'fastconv[plot]'")):
            call()
    assert os.listdir(tmp_path) == []                 # nothing written, no directory made
    # the arrays need no matplotlib
    assert len(visualize.feature_maps(model, image)) == 3
