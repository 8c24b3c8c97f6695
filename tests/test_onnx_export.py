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


# ---------------------------------------------------------------- the importer's own layers

def _needs_every_onnx_layer():
    """A hand-made ONNX graph (opset 20) whose import needs every layer of
    fastconv.onnx.layers: input normalisation, per-side / dilated / count_include_pad
    pooling, general Clip and HardSigmoid, tanh GELU, Resize to sizes, by non-whole scales
    and with aligned corners, NCHW reshapes (image -> vector -> image) and LogSoftmax."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)

    def f32(a):
        return np.asarray(a, np.float32)

    def node(op, inputs, output, **attrs):
        return helper.make_node(op, inputs, [output], name=output, **attrs)

    nodes = [
        node("Sub", ["x", "mean"], "sub"), node("Div", ["sub", "std"], "div"),
        node("Mul", ["three", "div"], "mul"), node("Sub", ["one", "mul"], "rsub"),
        node("Add", ["rsub", "row"], "add"),
        node("Conv", ["add", "w"], "conv", pads=[1, 1, 1, 1]),
        node("Clip", ["conv", "lo", "hi"], "clip"),
        node("MaxPool", ["clip"], "maxpool", kernel_shape=[3, 2], pads=[2, 0, 1, 1],
             strides=[1, 2], dilations=[1, 2], ceil_mode=1),
        node("HardSigmoid", ["maxpool"], "hsig", alpha=0.2, beta=0.5),
        node("AveragePool", ["hsig"], "avgpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
             count_include_pad=1),
        node("Gelu", ["avgpool"], "gelu", approximate="tanh"),
        node("Resize", ["gelu", "", "", "hw"], "to_size", mode="nearest", axes=[2, 3],
             coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        node("Resize", ["to_size", "", "scales"], "by_scales", mode="linear"),
        node("Resize", ["by_scales", "", "", "hw2"], "aligned", mode="linear", axes=[2, 3],
             coordinate_transformation_mode="align_corners"),
        node("Clip", ["aligned", "", "hi"], "clip_max"),
        node("Reshape", ["clip_max", "flat"], "flatten"),
        node("Gemm", ["flatten", "dense"], "gemm", transB=1),
        node("Add", ["gemm", "bias"], "plus"),
        node("Clip", ["plus", "lo"], "clip_min"),
        node("Reshape", ["clip_min", "image"], "unflatten"),
        node("LogSoftmax", ["unflatten"], "y", axis=1),
    ]
    inits = {"mean": f32([0.5, -1]).reshape(1, 2, 1, 1), "std": f32([2, 0.25]).reshape(
                 1, 2, 1, 1), "three": f32(3), "one": f32([1]), "row": f32(np.arange(5)),
             "w": f32(rng.standard_normal((3, 2, 3, 3)) * 0.3), "lo": f32(-1), "hi": f32(1.5),
             "hw": np.array([7, 3], np.int64), "scales": f32([1, 1, 0.5, 1.5]),
             "hw2": np.array([6, 5], np.int64), "flat": np.array([0, -1], np.int64),
             "dense": f32(rng.standard_normal((12, 90)) * 0.2),
             "bias": f32(rng.standard_normal(12)), "image": np.array([0, 3, 2, 2], np.int64)}
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 6, 5])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 2, 2])],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])


@pytest.mark.parametrize("opset, channels_first", [(13, False), (13, True), (20, False),
                                                   (20, True)])
def test_imported_model_fine_tunes_and_exports_again(opset, channels_first):
    from fastconv.onnx import backend, layers as onnx_layers, load
    source = _needs_every_onnx_layer()
    model = load(source, seed=0)
    kinds = {type(l).__name__ for l in model.layers}
    assert set(onnx_layers.__all__) <= kinds
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 2, 6, 5)).astype(np.float32)         # NCHW
    _assert_close(model.predict(x.transpose(0, 2, 3, 1)),
                  _run_ort(source, x).transpose(0, 2, 3, 1))
    model.compile(optimizer="adam", loss="mse")                       # fine-tune a little
    model.fit(x.transpose(0, 2, 3, 1), rng.standard_normal((4, 2, 2, 3)).astype(np.float32),
              epochs=2, batch_size=2, verbose=0)
    want = model.predict(x.transpose(0, 2, 3, 1))                     # channels-last
    proto = export(model, opset=opset, channels_first=channels_first)
    ops = {n.op_type for n in proto.graph.node}
    assert {"MaxPool", "AveragePool", "Clip", "HardSigmoid", "Resize", "Reshape",
            "LogSoftmax", "Sub", "Div", "Mul", "Add"} <= ops
    assert ("Gelu" in ops) == (opset >= 20) and ("Tanh" in ops) == (opset < 20)
    assert ("Shape" in ops) == (opset < 18)      # Resize sizes with the input's batch
    feed = x if channels_first else x.transpose(0, 2, 3, 1)
    ref = _run_ort(proto, feed)
    _assert_close(ref.transpose(0, 2, 3, 1) if channels_first else ref, want)
    ours = backend.run_model(proto, [feed])[0]
    _assert_close(ours.transpose(0, 2, 3, 1) if channels_first else ours, want)
    back = load(proto)
    back_kinds = {type(l).__name__ for l in back.layers}
    assert set(onnx_layers.__all__) <= back_kinds   # before opset 20 GeluTanh from its formula
    _assert_close(back.predict(x.transpose(0, 2, 3, 1)), want)


@pytest.mark.parametrize("opset", [13, 18])
def test_onnx_layers_built_by_hand_export(opset):
    from fastconv.onnx import layers as L
    model = models.Sequential([
        L.Clip(input_shape=(10, 8, 2)), L.Clip(min_value=-0.5), L.Clip(max_value=1.0),
        L.HardSigmoid(0.25, 0.25), L.Resize2D("nearest", scale_factor=(1.5, 0.75)),
        L.Resize2D("bilinear", scale_factor=(0.5, 1.25), align_corners=True),
        L.Pooling2D("avg", (2, 3), (2, 1), ((1, 0), (0, 2)), ceil_mode=True),
        L.ConstantArithmetic("divide", (1, 1, 1))], seed=0)
    model.layers[-1].buffers["constant"][...] = 0.5
    proto = export(model, opset=opset)
    clips = [list(n.input) for n in proto.graph.node if n.op_type == "Clip"]
    assert [len(c) for c in clips] == [1, 2, 3] and clips[2][1] == ""
    x = np.random.default_rng(0).standard_normal((3, 10, 8, 2)).astype(np.float32) * 2
    want = model.predict(x)
    assert want.shape == (3, 4, 7, 2)
    _assert_close(_run_ort(proto, x), want)
    from fastconv.onnx import load
    np.testing.assert_array_equal(load(proto).predict(x), want)


def test_resize_scale_that_float32_changes_is_refused_by_name():
    from fastconv.onnx import layers as L
    model = models.Sequential([L.Resize2D("bilinear", scale_factor=(0.7, 1.0),
                                          input_shape=(10, 4, 1))], seed=0)
    assert model.output_shape == (None, 7, 4, 1)     # floor(10 * 0.7) in double
    with pytest.raises(NotImplementedError, match=r"'resize2d.*' \(Resize2D\): scale_factor "
                                                  r"\(0.7, 1.0\).*\(6, 4\) instead of \(7, 4\)"):
        export(model)
