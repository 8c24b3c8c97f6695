"""ONNX -> fastconv: PyTorch models exported with torch.onnx load as trainable fastconv
models with PyTorch's predictions; malformed or unsupported files raise errors that name the
node, operator and attribute."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX tests need onnx (pip install 'fastconv[onnx]')")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from fastconv import layers, losses, models, optimizers  # noqa: E402
from fastconv.onnx import Limits, backend, export, load  # noqa: E402


def _assert_close(got, ref):
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5 * max(1.0, np.abs(ref).max()))


# ---------------------------------------------------------------- PyTorch round trips

def _torch_net(torch, head):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.b1 = nn.BatchNorm2d(c)
            self.c2 = nn.Conv2d(c, c, 3, padding=1)
            self.b2 = nn.BatchNorm2d(c)

        def forward(self, x):
            return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1),
                                      nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
            self.block = Block(8)
            self.gap = nn.AdaptiveAvgPool2d(1)
            self.pool = nn.MaxPool2d(2)
            self.drop = nn.Dropout(0.3)
            self.fc = nn.Linear(8 if head == "gap" else 32, 5)

        def forward(self, x):
            x = self.block(self.stem(x))
            if head == "gap":
                x = torch.flatten(self.gap(x), 1)          # GlobalAveragePool + Flatten
            else:
                x = self.pool(x)
                x = x.view(x.size(0), -1)                  # Shape/Gather/Concat + Reshape
            return self.fc(self.drop(x))

    return Net()


@pytest.mark.parametrize("head", ["gap", "view"])
def test_pytorch_model_imports_predicts_and_trains(head, tmp_path):
    torch = pytest.importorskip("torch", reason="the PyTorch round trips need torch")
    torch.manual_seed(0)
    net = _torch_net(torch, head)
    net.train()
    with torch.no_grad():
        for _ in range(3):                       # non-trivial batch-norm statistics
            net(torch.randn(8, 3, 16, 16))
    net.eval()
    x = torch.randn(4, 3, 16, 16)
    path = tmp_path / "net.onnx"
    # PRESERVE keeps BatchNormalization nodes (EVAL would fold them into the convolutions);
    # dynamo=False: the TorchScript exporter needs no extra packages
    torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"BatchNormalization", "Add", "MaxPool", "Gemm"} <= ops
    model = load(path, seed=0)
    kinds = {type(l).__name__ for l in model.layers}
    assert {"Conv2D", "BatchNormalization", "Add", "MaxPooling2D", "Dense"} <= kinds
    with torch.no_grad():
        ref = net(x).numpy()
    _assert_close(model.predict(x.numpy().transpose(0, 2, 3, 1)), ref)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 16, 16, 3)).astype(np.float32)
    # labels the network can learn (the brightest channel) and steps big enough to learn
    # them: with labels i % 5 and Adam(0.001) the evaluated loss (moving batch-norm
    # statistics) of the 'gap' net changed by -0.04..+0.03 over 14 PyTorch seeds (1e-4
    # with the seed above); here it falls by >= 0.43 ('gap'), 0.72 ('view') over 30 seeds
    Y = np.argmax(X.mean(axis=(1, 2)), axis=1)
    model.compile(optimizer=optimizers.Adam(0.01),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(X, Y)
    model.fit(X, Y, epochs=4, batch_size=16, verbose=0)
    assert model.evaluate(X, Y) < before - 0.2


def _export_torch(torch, net, x, path):
    torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE)
    return onnx.load(str(path))


def _settle_bn(torch, net, shape):
    net.train()
    with torch.no_grad():
        for _ in range(3):                       # non-trivial batch-norm statistics
            net(torch.randn(*shape))
    return net.eval()


def test_pytorch_depthwise_block_imports_predicts_and_trains(tmp_path):
    torch = pytest.importorskip("torch", reason="the PyTorch round trips need torch")
    nn = torch.nn
    torch.manual_seed(0)
    # a MobileNet-style block: depthwise (multiplier 1 and 2, stride 2) + pointwise, and a
    # grouped convolution that is not depthwise
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False), nn.BatchNorm2d(8),
        nn.ReLU(), nn.Conv2d(8, 16, 1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, groups=16), nn.ReLU(),
        nn.Conv2d(32, 16, 3, padding=1, groups=4), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 5))
    _settle_bn(torch, net, (8, 3, 12, 12))
    x = torch.randn(4, 3, 12, 12)
    proto = _export_torch(torch, net, x, tmp_path / "dw.onnx")
    groups = sorted(a.i for n in proto.graph.node for a in n.attribute if a.name == "group")
    assert groups[-3:] == [4, 8, 16]
    model = load(tmp_path / "dw.onnx", seed=0)
    dw = [l for l in model.layers if isinstance(l, layers.DepthwiseConv2D)]
    assert sorted(l.depth_multiplier for l in dw) == [1, 2]
    assert [l.groups for l in model.layers if isinstance(l, layers.Conv2D)] == [1, 1, 4]
    with torch.no_grad():
        ref = net(x).numpy()
    _assert_close(model.predict(x.numpy().transpose(0, 2, 3, 1)), ref)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 12, 12, 3)).astype(np.float32)
    Y = np.arange(32) % 5
    model.compile(optimizer="adam", loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(X, Y)
    model.fit(X, Y, epochs=4, batch_size=16, verbose=0)
    assert model.evaluate(X, Y) < before


def test_pytorch_decoder_with_transposed_convolutions_imports_predicts_and_trains(tmp_path):
    torch = pytest.importorskip("torch", reason="the PyTorch round trips need torch")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
        # 'same'-like: output_padding 1 (Conv2DTranspose 'same' with output_padding)
        nn.ConvTranspose2d(8, 6, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        # plain 'valid' (no pads), dilated
        nn.ConvTranspose2d(6, 4, 2, stride=1, dilation=2), nn.ReLU(),
        # pads that Keras's rules cannot express: Cropping2D after the layer
        nn.ConvTranspose2d(4, 2, 4, stride=2, padding=1, bias=False))
    x = torch.randn(4, 3, 10, 10)
    proto = _export_torch(torch, net, x, tmp_path / "dec.onnx")
    assert sum(n.op_type == "ConvTranspose" for n in proto.graph.node) == 3
    model = load(tmp_path / "dec.onnx", seed=0)
    kinds = [type(l).__name__ for l in model.layers[1:]]
    assert kinds.count("Conv2DTranspose") == 3 and "Cropping2D" in kinds
    with torch.no_grad():
        ref = net(x).numpy().transpose(0, 2, 3, 1)
    got = model.predict(x.numpy().transpose(0, 2, 3, 1))
    assert got.shape == ref.shape == (4, 24, 24, 2)
    _assert_close(got, ref)

    # fine-tune through a Flatten head (vector targets: the image-target layout of fit is
    # the trainer's business, not the importer's)
    _export_torch(torch, nn.Sequential(net, nn.Flatten()), x, tmp_path / "flat.onnx")
    model = load(tmp_path / "flat.onnx", seed=0)
    with torch.no_grad():
        _assert_close(model.predict(x.numpy().transpose(0, 2, 3, 1)),
                      net(x).flatten(1).numpy())
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 10, 10, 3)).astype(np.float32)
    T = 0.5 * rng.standard_normal((16, 2 * 24 * 24)).astype(np.float32)
    model.compile(optimizer="adam", loss=losses.MeanSquaredError())
    before = model.evaluate(X, T)
    model.fit(X, T, epochs=5, batch_size=8, verbose=0)
    assert model.evaluate(X, T) < before


# ---------------------------------------------------------------- fastconv round trip

def test_fastconv_export_load_round_trip_is_exact():
    model = models.resnet20(input_shape=(16, 16, 3), seed=1)
    back = load(export(model, channels_first=True).SerializeToString())
    x = np.random.default_rng(0).standard_normal((2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))
    assert back.count_params() == model.count_params()


def test_mobilenet_channels_last_export_loads_back_identically():
    ort = pytest.importorskip("onnxruntime", reason="compares with ONNX Runtime")
    model = models.mobilenet(input_shape=(32, 32, 3), seed=2)
    rng = np.random.default_rng(0)
    for layer in model.layers:          # non-trivial batch-norm statistics
        if isinstance(layer, layers.BatchNormalization):
            c = layer.buffers["moving_mean"].shape[0]
            layer.buffers["moving_mean"][...] = rng.normal(0, 0.5, c)
            layer.buffers["moving_variance"][...] = rng.uniform(0.5, 2.0, c)
    proto = export(model)              # channels-last: Transpose after the input
    assert proto.graph.node[0].op_type == "Transpose"
    back = load(proto.SerializeToString())
    assert back.input_shape == (None, 32, 32, 3)
    assert {type(l).__name__ for l in back.layers} >= {"DepthwiseConv2D", "Conv2D"}
    assert back.count_params() == model.count_params()
    x = rng.standard_normal((3, 32, 32, 3)).astype(np.float32)
    want = model.predict(x)
    np.testing.assert_array_equal(back.predict(x), want)
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    _assert_close(sess.run(None, {sess.get_inputs()[0].name: x})[0], want)


def test_channels_last_image_output_loads_without_transposes():
    model = models.Sequential([layers.Conv2D(4, 3, padding="same", input_shape=(6, 7, 2)),
                               layers.MaxPooling2D(2, padding="same")], seed=0)
    back = load(export(model))          # NHWC in and out
    assert back.output_shape == (None, 3, 4, 4)
    x = np.random.default_rng(0).standard_normal((2, 6, 7, 2)).astype(np.float32)
    np.testing.assert_array_equal(back.predict(x), model.predict(x))


# ---------------------------------------------------------------- hand-made graphs

def _model(nodes, inits, in_shape=(1, 2, 5, 5), out_shape=("N", "c", "h", "w"), opset=17):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + list(
            in_shape[1:]))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@pytest.mark.parametrize("group", [1, 2])
def test_asymmetric_conv_pads_go_into_the_conv_layer(group):
    w = np.random.default_rng(0).standard_normal((2 * group, 2 // group, 2, 2)).astype(
        np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[1, 0, 0, 2],
                            group=group)
    model = load(_model([node], {"w": w}).SerializeToString())
    kind = "Conv2D" if group == 1 else "DepthwiseConv2D"
    assert [type(l).__name__ for l in model.layers[1:]] == [kind]
    assert model.layers[1].explicit_padding == ((1, 0), (0, 2))
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5)).astype(np.float32)
    ref = backend.run_model(_model([node], {"w": w}), [x])[0]
    assert ref.shape == (2, 2 * group, 5, 6)
    _assert_close(model.predict(x.transpose(0, 2, 3, 1)), ref.transpose(0, 2, 3, 1))


def _check_against_backend(proto, in_shape, seed=1):
    """load() and the conformance-tested backend give the same numbers."""
    from fastconv.onnx import backend
    model = load(proto.SerializeToString())
    x = np.random.default_rng(seed).standard_normal(in_shape).astype(np.float32)
    ref = backend.run_model(proto, [x])[0]
    got = model.predict(x.transpose(0, 2, 3, 1))
    _assert_close(got, ref.transpose(0, 2, 3, 1) if ref.ndim == 4 else ref)
    return model


@pytest.mark.parametrize("attrs, crop", [
    (dict(strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1]), False),   # 'same'
    (dict(strides=[2, 1], pads=[0, 2, 1, 0]), True),                           # per side
    (dict(strides=[3, 2], output_shape=[10, 8]), True),         # extends rows, crops a column
    (dict(strides=[2, 2], auto_pad="SAME_UPPER"), True),
    (dict(strides=[2, 2], auto_pad="SAME_LOWER", dilations=[2, 1]), False),
    (dict(strides=[2, 2], output_padding=[1, 0], pads=[2, 0, 0, 1]), True),
])
def test_conv_transpose_attributes_import(attrs, crop):
    w = np.random.default_rng(0).standard_normal((2, 3, 3, 3)).astype(np.float32)
    b = np.arange(3, dtype=np.float32)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="ct", **attrs)
    model = _check_against_backend(_model([node], {"w": w, "b": b}, (1, 2, 3, 4)),
                                   (2, 2, 3, 4))
    kinds = [type(l).__name__ for l in model.layers[1:]]
    assert kinds == ["Conv2DTranspose"] + (["Cropping2D"] if crop else [])


def test_conv_transpose_inconsistent_or_grouped_is_named():
    from fastconv.onnx import backend
    w = np.zeros((2, 3, 3, 3), np.float32)
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="up", strides=[2, 2],
                            output_shape=[12, 12])        # 5 rows past the full output
    proto = _model([node], {"w": w}, (1, 2, 3, 3))
    with pytest.raises(ValueError, match=r"'up' \(ConvTranspose\).*output_shape=\[12, 12\]"):
        load(proto)
    with pytest.raises(ValueError, match=r"'up' \(ConvTranspose\).*stride or more"):
        backend.run_model(proto, [np.zeros((1, 2, 3, 3), np.float32)])
    node = helper.make_node("ConvTranspose", ["x", "w"], ["y"], name="g2", group=2)
    with pytest.raises(NotImplementedError, match=r"'g2' \(ConvTranspose\).*'group'=2"):
        load(_model([node], {"w": np.zeros((2, 1, 3, 3), np.float32)}, (1, 2, 3, 3)))


@pytest.mark.parametrize("op, attrs, kind", [
    ("MaxPool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), "MaxPooling2D"),
    ("MaxPool", dict(kernel_shape=[2, 2], pads=[0, 0, 1, 0], strides=[2, 2]), "MaxPooling2D"),
    ("MaxPool", dict(kernel_shape=[3, 2], pads=[2, 0, 1, 1], strides=[1, 2]), "Pooling2D"),
    ("MaxPool", dict(kernel_shape=[2, 2], dilations=[2, 2], ceil_mode=1), "Pooling2D"),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), "AveragePooling2D"),
    ("AveragePool", dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
     "Pooling2D"),
    ("AveragePool", dict(kernel_shape=[2, 3], pads=[0, 2, 1, 1], strides=[2, 2], ceil_mode=1),
     "Pooling2D"),
])
def test_pooling_geometry_imports(op, attrs, kind):
    node = helper.make_node(op, ["x"], ["y"], name="p", **attrs)
    model = _check_against_backend(_model([node], {}, (1, 2, 7, 6)), (2, 2, 7, 6))
    assert [type(l).__name__ for l in model.layers[1:]] == [kind]


def test_input_normalisation_constants_import_and_save(tmp_path):
    from fastconv.saving import load_model, save_model
    mean = np.array([0.5, -1.0], np.float32).reshape(1, 2, 1, 1)
    std = np.array([2.0, 0.25], np.float32).reshape(1, 2, 1, 1)
    nodes = [helper.make_node("Sub", ["x", "mean"], ["a"], name="sub"),
             helper.make_node("Div", ["a", "std"], ["b"], name="div"),
             helper.make_node("Mul", ["three", "b"], ["c"], name="mul"),
             helper.make_node("Sub", ["one", "c"], ["d"], name="rsub"),
             helper.make_node("Add", ["d", "row"], ["e"], name="add"),
             helper.make_node("LogSoftmax", ["e"], ["y"], name="lsm", axis=1)]
    inits = {"mean": mean, "std": std, "three": np.array(3.0, np.float32),
             "one": np.ones((1,), np.float32), "row": np.arange(5, dtype=np.float32)}
    model = _check_against_backend(_model(nodes, inits, (1, 2, 4, 5)), (3, 2, 4, 5))
    ops = [(l.op, l.shape) for l in model.layers if type(l).__name__ == "ConstantArithmetic"]
    assert ops == [("subtract", (2, 1, 1)), ("divide", (2, 1, 1)), ("multiply", (1, 1, 1)),
                   ("reverse_subtract", (1, 1, 1)), ("add", (1, 1, 5))]
    assert not model.trainable_weights or all(
        w.shape != (2, 1, 1) for w in model.trainable_weights)
    x = np.random.default_rng(3).standard_normal((2, 4, 5, 2)).astype(np.float32)
    save_model(model, tmp_path / "m.fcm")
    np.testing.assert_array_equal(load_model(tmp_path / "m.fcm").predict(x), model.predict(x))
    node = helper.make_node("Div", ["one", "x"], ["y"], name="inv")
    with pytest.raises(NotImplementedError, match=r"'inv' \(Div\).*constant by a tensor"):
        load(_model([node], {"one": np.ones((1,), np.float32)}))
    node = helper.make_node("Add", ["x", "batch"], ["y"], name="wide")
    with pytest.raises(NotImplementedError, match=r"'wide' \(Add\).*batch"):
        load(_model([node], {"batch": np.ones((2, 2, 5, 5), np.float32)}))


def _numeric_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


@pytest.mark.parametrize("make", [
    lambda L: L.LogSoftmax(),
    lambda L: L.ConstantArithmetic("divide", (3, 1, 1)),
    lambda L: L.ConstantArithmetic("reverse_subtract", (1, 1, 4)),
    lambda L: L.Pooling2D("max", (2, 2), (1, 2), ((1, 0), (1, 1)), True, (2, 1)),
    lambda L: L.Pooling2D("avg", (3, 2), (2, 1), ((2, 0), (0, 1)), True, (1, 1), True),
    lambda L: L.Resize2D("bilinear", size=(7, 3), align_corners=True),
    lambda L: L.Resize2D("bilinear", scale_factor=(0.6, 1.5)),
    lambda L: L.Resize2D("nearest", scale_factor=(1.5, 0.75)),
    lambda L: L.GeluTanh(),
    lambda L: L.Clip(-1.5, 2.0),
    lambda L: L.Clip(min_value=0.5),
    lambda L: L.Clip(max_value=-1.0),
    lambda L: L.HardSigmoid(0.2, 0.5),
])
def test_onnx_layers_gradients_match_finite_differences(make):
    from fastconv.onnx import layers as L
    layer = make(L)
    layer.build((5, 4, 3), dtype="float64", rng=np.random.default_rng(0))
    if "constant" in layer.buffers:
        layer.buffers["constant"][...] = np.random.default_rng(1).uniform(
            0.5, 2.0, layer.buffers["constant"].shape)
    rng = np.random.default_rng(2)
    # spread wide enough that the clipping layers see both sides of their kinks (none of
    # these inputs lies within 1e-3 of one: a difference across a kink is no derivative)
    x = rng.standard_normal((2, 3, 5, 4)) * 3
    y, ctx = layer.forward(x, training=True)
    g = rng.standard_normal(y.shape)
    got = layer._backward(g, ctx, True)
    want = _numeric_grad(lambda v: float((layer.forward(v)[0] * g).sum()), x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_clip_and_hardsigmoid_refuse_bad_arguments():
    from fastconv.onnx import layers as L
    with pytest.raises(ValueError, match=r"Clip: min_value 2 is greater than max_value 1"):
        L.Clip(min_value=2, max_value=1)
    with pytest.raises(ValueError, match=r"Clip: min_value must be finite, got nan"):
        L.Clip(min_value=float("nan"))
    with pytest.raises(ValueError, match=r"Clip: max_value must be finite, got inf"):
        L.Clip(max_value=float("inf"))
    with pytest.raises(TypeError, match=r"HardSigmoid: alpha must be a number, got 'x'"):
        L.HardSigmoid(alpha="x")
    with pytest.raises(TypeError, match=r"HardSigmoid: beta must be a number, got True"):
        L.HardSigmoid(beta=True)


def test_clip_and_hardsigmoid_save_and_load(tmp_path):
    from fastconv.onnx import layers as L
    from fastconv.saving import load_model, save_model
    model = models.Sequential([L.Clip(-0.5, None, input_shape=(4, 5, 2)), L.Clip(max_value=0.3),
                               L.HardSigmoid(0.3, -0.1), L.Clip()], seed=0)
    save_model(model, tmp_path / "m.fcm")
    back = load_model(tmp_path / "m.fcm")
    assert [l.get_config() for l in back.layers] == [l.get_config() for l in model.layers]
    assert (back.layers[0].min_value, back.layers[0].max_value) == (-0.5, None)
    assert (back.layers[2].alpha, back.layers[2].beta) == (0.3, -0.1)
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 2)).astype(np.float32) * 3
    want = np.clip(np.minimum(np.maximum(x, -0.5), 0.3) * np.float32(0.3) - np.float32(0.1),
                   0, 1)
    np.testing.assert_array_equal(model.predict(x), want)
    np.testing.assert_array_equal(back.predict(x), want)


def test_nchw_reshape_keeps_onnx_element_order():
    shape = np.array([0, 5, 2, 5], np.int64)
    node = helper.make_node("Reshape", ["x", "s"], ["y"], name="r")
    proto = _model([node], {"s": shape})
    model = load(proto)
    x = np.arange(50, dtype=np.float32).reshape(1, 2, 5, 5)
    np.testing.assert_array_equal(model.predict(x.transpose(0, 2, 3, 1)),
                                  x.reshape(1, 5, 2, 5).transpose(0, 2, 3, 1))


# ---------------------------------------------------------------- untrusted input

def test_unsupported_operator_and_attribute_are_named():
    node = helper.make_node("LRN", ["x"], ["y"], name="norm1", size=3)
    with pytest.raises(NotImplementedError, match=r"'norm1' \(LRN\).*not supported"):
        load(_model([node], {}))
    w = np.zeros((2, 1, 3, 3), np.float32)
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="dw", group=3)
    with pytest.raises(ValueError, match=r"'dw' \(Conv\).*group=3"):
        load(_model([node], {"w": w}))
    node = helper.make_node("Conv", ["x", "w"], ["y"], name="c3", kernel_shape=[3, 3, 3])
    with pytest.raises((NotImplementedError, ValueError), match=r"'c3' \(Conv\).*kernel_shape"):
        load(_model([node], {"w": np.zeros((2, 2, 3, 3), np.float32)}))


def test_nodes_nothing_reads_are_left_out():
    # valid ONNX: nodes no graph output depends on (ONNX Runtime skips them) -- a chain
    # of them, one with an operator fastconv has no layer for -- make no layers at all
    w = np.random.default_rng(0).standard_normal((3, 2, 3, 3)).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w"], ["dead"], name="unused"),
             helper.make_node("Relu", ["dead"], ["dead2"], name="unused_relu"),
             helper.make_node("Erf", ["dead2"], ["dead3"], name="unused_erf"),
             helper.make_node("Relu", ["x"], ["y"], name="r")]
    proto = _model(nodes, {"w": w})
    model = load(proto)
    assert not any(type(layer).__name__ == "Conv2D" for layer in model.layers)
    assert [l.name for l in model.layers if type(l).__name__ == "ReLU"] == ["r"]
    x = np.random.default_rng(1).standard_normal((2, 5, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(model.predict(x), np.maximum(x, 0))
    # the interpreter does not run them either (its Erf would run, its Conv cost time)
    xc = x.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(backend.run_model(proto, [xc])[0], np.maximum(xc, 0))


def test_attribute_of_wrong_type_is_a_value_error():
    node = helper.make_node("LeakyRelu", ["x"], ["y"], name="lr")
    node.attribute.append(helper.make_attribute("alpha", "steep"))
    # the ONNX checker rejects it first; fastconv's own parser guards the backend too
    with pytest.raises(ValueError, match="alpha"):
        load(_model([node], {}).SerializeToString())
    from fastconv.onnx.graph import Graph
    with pytest.raises(ValueError, match=r"'lr' \(LeakyRelu\).*'alpha'.*FLOAT"):
        Graph(_model([node], {}).graph, 17)


def test_external_data_is_refused_by_default(tmp_path):
    w = numpy_helper.from_array(np.zeros((2, 2, 1, 1), np.float32), "w")
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("raw_data")
    entry = w.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                             [1, 2, 3, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT,
                                                             [1, 2, 3, 3])],
                              initializer=[w])
    proto = helper.make_model(graph)
    path = tmp_path / "ext.onnx"
    path.write_bytes(proto.SerializeToString())
    with pytest.raises(ValueError, match="external"):
        load(path)
    with pytest.raises(ValueError, match="relative path inside"):
        load(path, allow_external_data=True)


def test_limits_and_garbage():
    with pytest.raises(ValueError, match="not a valid ONNX model"):
        load(b"\xff\xfe definitely not protobuf")
    w = np.zeros((4, 2, 3, 3), np.float32)
    proto = _model([helper.make_node("Conv", ["x", "w"], ["y"])], {"w": w})
    with pytest.raises(ValueError, match="max_tensor_elements"):
        load(proto, limits=Limits(max_tensor_elements=10))
    with pytest.raises(ValueError, match="max_bytes"):
        load(proto.SerializeToString(), limits=Limits(max_bytes=100))
    two = _model([helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                 {})
    with pytest.raises(ValueError, match="max_nodes"):
        load(two, limits=Limits(max_nodes=1))


def test_weights_computed_at_run_time_are_refused():
    nodes = [helper.make_node("Relu", ["x"], ["w"]),
             helper.make_node("Conv", ["x", "w"], ["y"], name="c")]
    with pytest.raises(NotImplementedError, match=r"'c' \(Conv\).*weight must be a constant"):
        load(_model(nodes, {}, in_shape=(1, 2, 2, 2)))
