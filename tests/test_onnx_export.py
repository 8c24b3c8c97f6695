"""fastconv models -> ONNX: the checker accepts them and ONNX Runtime gives the same
predictions as ``model.predict`` (channels-last in and out, dynamic batch)."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX tests need onnx (pip install 'fastconv[onnx]')")
ort = pytest.importorskip("onnxruntime", reason="the round trips compare with ONNX Runtime "
                                               "(pip install onnxruntime)")

import fastconv  # noqa: E402
from fastconv import layers, models  # noqa: E402
from fastconv.onnx import export  # noqa: E402


def _run_ort(proto, x):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def _assert_close(got, ref):
    # relative 1e-5 in float32; atol scaled to the output's magnitude (sums of many terms)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(ref).max()))


def _randomize_bn(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.buffers["moving_mean"].shape[0]
            layer.buffers["moving_mean"][...] = rng.normal(0, 0.5, c)
            layer.buffers["moving_variance"][...] = rng.uniform(0.5, 2.0, c)
            layer.params["gamma"][...] = rng.uniform(0.5, 1.5, c)
            layer.params["beta"][...] = rng.normal(0, 0.2, c)


def _conv_family(input_shape, seed):
    """Grouped, depthwise, separable and transposed convolutions in one encoder-decoder."""
    x = layers.Input(input_shape)
    e = layers.Conv2D(8, 3, padding="same", groups=1, activation="relu")(x)
    e = layers.Conv2D(8, 3, strides=2, padding="same", groups=4)(e)
    e = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu")(e)
    e = layers.SeparableConv2D(6, 3, padding="same", activation="tanh")(e)
    d = layers.Conv2DTranspose(4, 3, strides=2, padding="same")(e)
    d = layers.Conv2DTranspose(4, 2, strides=1, padding="valid", output_padding=None)(d)
    return models.Model(x, layers.Conv2D(2, 2)(d), seed=seed)


@pytest.mark.parametrize("make, shape", [(models.lenet5, (28, 28, 1)),
                                         (models.resnet20, (32, 32, 3)),
                                         (models.mobilenet, (32, 32, 3)),
                                         (_conv_family, (9, 10, 3))])
def test_zoo_model_matches_onnxruntime(make, shape, tmp_path):
    model = make(input_shape=shape, seed=3)
    _randomize_bn(model)
    path = tmp_path / "m.onnx"
    proto = export(model, path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    for n in (1, 5):       # the batch dimension is dynamic
        x = np.random.default_rng(n).standard_normal((n,) + shape).astype(np.float32)
        _assert_close(_run_ort(proto, x), model.predict(x))
    ops = [node.op_type for node in proto.graph.node]
    assert ops[0] == "Transpose"          # channels-last input, as model.predict
    if make is models.resnet20:
        assert ops.count("BatchNormalization") == 21


def test_same_padding_with_odd_total_becomes_asymmetric_pads():
    x = layers.Input((7, 7, 2))
    y = layers.Conv2D(3, 2, padding="same")(x)
    y = layers.MaxPooling2D(2, strides=2, padding="same")(y)
    model = models.Model(x, y, seed=1)
    proto = export(model)
    conv = next(n for n in proto.graph.node if n.op_type == "Conv")
    pads = next(a for a in conv.attribute if a.name == "pads").ints
    assert list(pads) == [0, 0, 1, 1]     # Keras puts the odd pixel at the bottom/right
    pool = next(n for n in proto.graph.node if n.op_type == "MaxPool")
    assert list(next(a for a in pool.attribute if a.name == "pads").ints) == [0, 0, 1, 1]
    xb = np.random.default_rng(0).standard_normal((2, 7, 7, 2)).astype(np.float32)
    out = _run_ort(proto, xb)
    assert out.shape == (2, 4, 4, 3)      # image output transposed back to channels-last
    _assert_close(out, model.predict(xb))


def test_graph_layers_and_dropout_removed():
    x = layers.Input((9, 9, 3))
    a = layers.Conv2D(4, 3, padding=1, activation="leaky_relu")(x)
    b = layers.Conv2D(4, 1, activation="elu")(x)
    m = layers.Average()([a, b])
    c = layers.Concatenate()([layers.Multiply()([a, b]), layers.Subtract()([a, m])])
    c = layers.ZeroPadding2D(((1, 0), (0, 1)))(c)
    c = layers.Cropping2D(((0, 1), (1, 0)))(c)
    c = layers.AveragePooling2D(2, padding="same")(c)
    c = layers.BatchNormalization()(layers.Dropout(0.5)(c))
    g = layers.GlobalMaxPooling2D()(c)
    r = layers.Reshape((5, 5, 8))(layers.Flatten()(c))
    r = layers.Flatten()(r)
    out = layers.Dense(4, activation="softmax")(layers.Concatenate()([g, r]))
    model = models.Model(x, out, seed=2)
    _randomize_bn(model)
    proto = export(model, opset=13)
    assert "Dropout" not in [n.op_type for n in proto.graph.node]
    xb = np.random.default_rng(0).standard_normal((3, 9, 9, 3)).astype(np.float32)
    _assert_close(_run_ort(proto, xb), model.predict(xb))


def test_channels_first_input():
    model = models.lenet5(input_shape=(8, 8, 1), seed=0)
    proto = export(model, channels_first=True)
    dims = [d.dim_value or d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", 1, 8, 8]
    xb = np.random.default_rng(0).standard_normal((2, 8, 8, 1)).astype(np.float32)
    _assert_close(_run_ort(proto, xb.transpose(0, 3, 1, 2).copy()), model.predict(xb))


def test_float64_model_on_fastconv_backend():
    # ONNX Runtime has no float64 Conv on CPU: run the export on fastconv's own backend
    from fastconv.onnx import backend
    model = models.lenet5(input_shape=(8, 8, 1), seed=0, dtype="float64")
    proto = export(model)
    assert proto.graph.initializer[0].data_type == onnx.TensorProto.DOUBLE
    xb = np.random.default_rng(0).standard_normal((2, 8, 8, 1))
    np.testing.assert_allclose(backend.run_model(proto, [xb])[0], model.predict(xb),
                               rtol=1e-12, atol=1e-12)


def test_errors_name_the_problem():
    model = models.Sequential([layers.Dense(4, input_shape=(6,)), layers.Maxout(2)])
    with pytest.raises(NotImplementedError, match="Maxout"):
        export(model)
    with pytest.raises(ValueError, match="opset"):
        export(models.lenet5(seed=0), opset=9)
    with pytest.raises(TypeError, match="fastconv model"):
        export("model.onnx")


def test_import_fastconv_does_not_import_onnx(tmp_path):
    code = "import sys, fastconv; fastconv.layers; fastconv.models; print('onnx' in sys.modules)"
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastconv.__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=root))
    assert out.stdout.strip() == "False"
