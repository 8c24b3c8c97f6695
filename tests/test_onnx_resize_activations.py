"""Resize/Upsample, the newer activations, Slice/Sum/Mean and per-side conv pads through
fastconv.onnx: every model the exporter writes loads back with the same predictions (and
ONNX Runtime agrees), a PyTorch U-Net imports and fine-tunes, and what fastconv cannot
express is refused by name."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the ONNX tests need onnx (pip install 'fastconv[onnx]')")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from fastconv import layers, models  # noqa: E402
from fastconv.onnx import backend, export, load  # noqa: E402


def _assert_close(got, ref, rtol=1e-5):
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol * max(1.0, np.abs(ref).max()))


def _everything(seed):
    """Every layer kind whose ONNX form needs Slice, Sum, Mean, Resize, the NHWC Reshape
    or one of the newer activations."""
    x = layers.Input((10, 9, 3))
    a = layers.Conv2D(6, 3, padding=((1, 0), (2, 1)), activation="relu6")(x)
    a = layers.Cropping2D(((1, 0), (0, 2)))(a)
    b = layers.SeparableConv2D(6, 3, padding="same", activation="hard_swish")(a)
    c = layers.Activation("silu")(a)
    d = layers.Activation("gelu")(b)
    s = layers.Add()([b, c, d])                              # Sum of 3
    m = layers.Average()([s, layers.Activation("softplus")(c)])
    m = layers.Activation("hard_sigmoid")(m)
    r = layers.Reshape((4, 16, 6))(m)                        # channels-last element order
    u = layers.UpSampling2D(2)(r)
    v = layers.UpSampling2D((2, 1), interpolation="bilinear")(r)
    v = layers.Conv2DTranspose(6, 2, strides=(1, 2))(v)
    v = layers.Cropping2D(((0, 1), (0, 0)))(v)
    y = layers.Concatenate()([u, v])
    y = layers.DepthwiseConv2D(3, padding=((0, 1), (1, 1)), activation="silu")(y)
    return models.Model(x, layers.Conv2D(2, 1)(y), seed=seed)


@pytest.mark.parametrize("opset, channels_first", [(17, False), (20, True), (13, False)])
def test_every_exported_layer_loads_back(opset, channels_first):
    ort = pytest.importorskip("onnxruntime", reason="compares with ONNX Runtime")
    model = _everything(seed=4)
    proto = export(model, opset=opset, channels_first=channels_first)
    ops = {n.op_type for n in proto.graph.node}
    assert {"Slice", "Sum", "Mean", "Resize", "Clip", "HardSigmoid", "Softplus"} <= ops
    assert ("Gelu" in ops) == (opset >= 20) and ("Erf" in ops) == (opset < 20)
    assert ("HardSwish" in ops) == (opset >= 14)
    back = load(proto.SerializeToString())
    kinds = {type(l).__name__ for l in back.layers}
    assert {"UpSampling2D", "Cropping2D", "Add", "Average", "Reshape"} <= kinds
    assert "ZeroPadding2D" not in kinds            # per-side pads stay in the conv layers
    gelus = [l for l in back.layers if getattr(l, "activation", None) == "gelu"]
    assert len(gelus) == 1                          # the erf chain became one layer
    assert back.count_params() == model.count_params()
    x = np.random.default_rng(0).standard_normal((3, 10, 9, 3)).astype(np.float32)
    want = model.predict(x)
    _assert_close(back.predict(x), want, 1e-6)      # predict is channels-last either way
    feed = x.transpose(0, 3, 1, 2) if channels_first else x
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(None, {sess.get_inputs()[0].name: feed})[0]
    _assert_close(ref.transpose(0, 2, 3, 1) if channels_first else ref, want)
    # the backend runs the exported graph too
    ours = backend.run_model(proto, [feed])[0]
    _assert_close(ours.transpose(0, 2, 3, 1) if channels_first else ours, want)


def _model(nodes, inits, in_shape=(1, 2, 4, 5), opset=17, out_shape=("N", "c", "h", "w")):
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                   ["N"] + list(in_shape[1:]))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))],
        initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _check(proto, in_shape, layer_kind):
    model = load(proto.SerializeToString())
    assert layer_kind in {type(l).__name__ for l in model.layers}
    x = np.random.default_rng(1).standard_normal(in_shape).astype(np.float32)
    ref = backend.run_model(proto, [x * 4])[0]
    _assert_close(model.predict((x * 4).transpose(0, 2, 3, 1)), ref.transpose(0, 2, 3, 1),
                  1e-6)
    return ref


@pytest.mark.parametrize("attrs, scales, sizes, kind, out_hw", [
    (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
     [1, 1, 2, 3], None, "UpSampling2D", (8, 15)),
    (dict(mode="nearest"), [1, 1, 3, 2], None, "UpSampling2D", (12, 10)),  # half_pixel
    (dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
     None, [2, 2, 7, 3], "Resize2D", (7, 3)),
    (dict(mode="linear"), [1, 1, 0.6, 1.5], None, "Resize2D", (2, 7)),
    (dict(mode="linear", coordinate_transformation_mode="align_corners"), None,
     [2, 2, 7, 9], "Resize2D", (7, 9)),
    (dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"),
     [1, 1, 2, 2], None, "UpSampling2D", (8, 10)),
])
def test_resize_imports_as_upsampling(attrs, scales, sizes, kind, out_hw):
    inits = {"s": np.array(scales, np.float32)} if scales else {"z": np.array(sizes, np.int64)}
    inputs = ["x", "", "s"] if scales else ["x", "", "", "z"]
    node = helper.make_node("Resize", inputs, ["y"], name="rs", **attrs)
    ref = _check(_model([node], inits), (2, 2, 4, 5), kind)
    assert ref.shape[2:] == out_hw


def test_upsample_opset9_and_resize_opset10_import():
    s = np.array([1, 1, 2, 2], np.float32)
    for op, opset in (("Upsample", 9), ("Resize", 10)):
        node = helper.make_node(op, ["x", "s"], ["y"], name="up", mode="nearest")
        ref = _check(_model([node], {"s": s}, opset=opset), (1, 2, 4, 5), "UpSampling2D")
        assert ref.shape == (1, 2, 8, 10)
    node = helper.make_node("Upsample", ["x"], ["y"], name="up7", scales=[1.0, 1.0, 2.0, 3.0])
    assert _check(_model([node], {}, opset=7), (1, 2, 4, 5), "UpSampling2D").shape[3] == 15


@pytest.mark.parametrize("attrs, scales, pattern", [
    (dict(mode="cubic"), [1, 1, 2, 2], r"'rs' \(Resize\).*'mode'='cubic'"),
    (dict(mode="linear", coordinate_transformation_mode="asymmetric"), [1, 1, 2, 2],
     r"'rs' \(Resize\).*'coordinate_transformation_mode'='asymmetric'"),
    (dict(mode="nearest", nearest_mode="ceil"), [1, 1, 2, 2], r"'nearest_mode'='ceil'"),
    (dict(mode="nearest"), [1, 1, 1.5, 2], r"'half_pixel'.*whole upsampling"),
    (dict(mode="linear", antialias=1), [1, 1, 0.5, 0.5], r"'antialias'=1"),
    (dict(mode="nearest", coordinate_transformation_mode="tf_crop_and_resize"),
     [1, 1, 2, 2], r"'tf_crop_and_resize'"),
    (dict(mode="linear"), [1, 2, 2, 2], r"batch or channel"),
])
def test_inexpressible_resize_is_refused_by_name(attrs, scales, pattern):
    proto = _model([helper.make_node("Resize", ["x", "", "s"], ["y"], name="rs", **attrs)],
                   {"s": np.array(scales, np.float32)}, opset=19)
    with pytest.raises(NotImplementedError, match=pattern):
        load(proto)
    with pytest.raises(NotImplementedError, match=pattern):
        backend.run_model(proto, [np.zeros((1, 2, 4, 5), np.float32)])


def test_huge_resize_is_refused_before_allocating():
    proto = _model([helper.make_node("Resize", ["x", "", "s"], ["y"], name="big",
                                     mode="nearest")], {"s": np.array([1, 1, 1e5, 1e5],
                                                                      np.float32)})
    with pytest.raises(ValueError, match=r"'big' \(Resize\).*max_tensor_elements"):
        load(proto)
    with pytest.raises(ValueError, match=r"'big' \(Resize\).*max_tensor_elements"):
        backend.run_model(proto, [np.zeros((1, 2, 4, 5), np.float32)])


def test_activations_import_and_unsupported_forms_are_named():
    cases = [("HardSigmoid", dict(alpha=1 / 6, beta=0.5), "Activation"),
             ("HardSwish", {}, "Activation"), ("Softplus", {}, "Activation"),
             ("Gelu", {}, "Activation"), ("Gelu", dict(approximate="tanh"), "GeluTanh")]
    for op, attrs, kind in cases:
        node = helper.make_node(op, ["x"], ["y"], name="a", **attrs)
        _check(_model([node], {}, opset=20), (2, 2, 4, 5), kind)
    clip = helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="c6")
    two = {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}
    relu6 = _check(_model([clip], two), (2, 2, 4, 5), "ReLU")
    assert relu6.max() <= 6.0
    # other alpha/beta and bounds have layers of their own
    node = helper.make_node("HardSigmoid", ["x"], ["y"], name="hs", alpha=0.2, beta=0.5)
    hard = _check(_model([node], {}), (2, 2, 4, 5), "HardSigmoid")
    assert hard.min() == 0.0 and hard.max() == 1.0
    two["hi"] = np.array(5, np.float32)
    assert _check(_model([clip], two), (2, 2, 4, 5), "Clip").max() == 5.0
    # min > max is valid ONNX (every value becomes max) but no Clip layer
    two["lo"] = np.array(7, np.float32)
    with pytest.raises(NotImplementedError, match=r"'c6' \(Clip\).*Clip\(7.0, 5.0\).*greater"):
        load(_model([clip], two))


@pytest.mark.parametrize("op, inputs, attrs, kind, settings", [
    ("Clip", ["x", "lo", "hi"], {}, "Clip", dict(min_value=-1.0, max_value=1.0)),
    ("Clip", ["x", "lo"], {}, "Clip", dict(min_value=-1.0, max_value=None)),
    ("Clip", ["x", "", "hi"], {}, "Clip", dict(min_value=None, max_value=1.0)),
    ("Clip", ["x", "zero", "inf"], {}, "ReLU", dict(max_value=None)),   # inf: no bound
    ("HardSigmoid", ["x"], dict(alpha=0.2, beta=0.5), "HardSigmoid", dict(alpha=0.2,
                                                                           beta=0.5)),
])
def test_general_clip_and_hardsigmoid_import_as_onnx_runtime_computes(op, inputs, attrs, kind,
                                                                      settings):
    ort = pytest.importorskip("onnxruntime", reason="compares with ONNX Runtime")
    inits = {"lo": np.array(-1, np.float32), "hi": np.array(1, np.float32),
             "zero": np.array(0, np.float32), "inf": np.array(np.inf, np.float32)}
    node = helper.make_node(op, inputs, ["y"], name="act", **attrs)
    proto = _model([node], {k: v for k, v in inits.items() if k in inputs})
    model = load(proto)
    layer = model.layers[1]
    assert type(layer).__name__ == kind
    assert {k: getattr(layer, k) for k in settings} == pytest.approx(settings)
    x = np.random.default_rng(3).standard_normal((2, 2, 4, 5)).astype(np.float32) * 4
    x[0, 0, 0, :3] = [-1.0, 1.0, 0.0]                  # the bounds themselves
    if kind != "ReLU":
        x[0, 0, 0, 3] = np.nan                         # stays NaN
    got = model.predict(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, backend.run_model(proto, [x])[0])      # bitwise
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(got, sess.run(None, {"x": x})[0], rtol=1e-6, atol=1e-7)
    assert np.isnan(got[0, 0, 0, 3]) == (kind != "ReLU")


def test_slice_sum_mean_import():
    nodes = [helper.make_node("Slice", ["x", "st", "en", "ax"], ["a"], name="crop"),
             helper.make_node("Relu", ["a"], ["b"], name="r"),
             helper.make_node("Sum", ["a", "b", "a"], ["c"], name="s3"),
             helper.make_node("Mean", ["c", "b"], ["y"], name="m2")]
    inits = {"st": np.array([1, -4], np.int64), "en": np.array([4, 100], np.int64),
             "ax": np.array([2, -1], np.int64)}
    ref = _check(_model(nodes, inits, (1, 2, 5, 6)), (3, 2, 5, 6), "Cropping2D")
    assert ref.shape == (3, 2, 3, 4)
    step = {"st": np.array([0], np.int64), "en": np.array([1], np.int64),
            "ax": np.array([1], np.int64)}
    node = helper.make_node("Slice", ["x", "st", "en", "ax"], ["y"], name="chan")
    with pytest.raises(NotImplementedError, match=r"'chan' \(Slice\).*height and width"):
        load(_model([node], step))


def test_pytorch_unet_imports_predicts_and_trains(tmp_path):
    torch = pytest.importorskip("torch", reason="the PyTorch round trip needs torch")
    nn = torch.nn

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU())
            self.enc2 = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 12, 3, padding=1),
                                      nn.BatchNorm2d(12), nn.Hardswish())
            self.mid = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(12, 12, 3, padding=1),
                                     nn.ReLU6())
            self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
            self.dec1 = nn.Sequential(nn.Conv2d(24, 8, 3, padding=1), nn.ReLU6())
            self.up2 = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.dec2 = nn.Sequential(nn.Conv2d(16, 8, 3, padding=1), nn.Hardswish(),
                                      nn.Conv2d(8, 2, 1))

        def forward(self, x):
            e1 = self.enc1(x)
            e2 = self.enc2(e1)
            m = self.mid(e2)
            d1 = self.dec1(torch.cat([self.up1(m), e2], 1))
            return self.dec2(torch.cat([self.up2(d1), e1], 1))

    torch.manual_seed(0)
    net = UNet()
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(torch.randn(4, 3, 16, 16))
    net.eval()
    x = torch.randn(2, 3, 16, 16)
    path = tmp_path / "unet.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}},
                      training=torch.onnx.TrainingMode.PRESERVE)
    ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert {"Resize", "HardSwish", "Clip", "Concat", "BatchNormalization"} <= ops
    model = load(str(path), seed=0)
    kinds = [type(l).__name__ for l in model.layers]
    assert kinds.count("UpSampling2D") == 2 and "BatchNormalization" in kinds
    with torch.no_grad():
        want = net(x).numpy().transpose(0, 2, 3, 1)
    xs = x.numpy().transpose(0, 2, 3, 1)
    _assert_close(model.predict(xs), want)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((16, 16, 16, 3)).astype(np.float32)
    target = rng.standard_normal((16, 16, 16, 2)).astype(np.float32)   # channels-last
    model.compile(optimizer="adam", loss="mse")
    before = model.evaluate(images, target, verbose=0)
    model.fit(images, target, epochs=4, batch_size=8, verbose=0)
    after = model.evaluate(images, target, verbose=0)
    before, after = (float(np.ravel(v)[0]) for v in (before, after))
    assert after < before


def test_pytorch_interpolate_to_a_size_imports(tmp_path):
    # before opset 18 PyTorch writes Resize's sizes as Concat(Slice(Shape(x)), (h, w)):
    # the batch entry is the input's own, whatever it is at run time
    torch = pytest.importorskip("torch", reason="the PyTorch export needs torch")

    class Resizes(torch.nn.Module):
        def forward(self, x):
            f = torch.nn.functional
            y = f.interpolate(x, size=(7, 3), mode="bilinear", align_corners=True)
            return f.interpolate(y, size=(9, 4), mode="nearest")

    torch.manual_seed(0)     # the input independent of the tests that ran before
    x = torch.randn(3, 2, 4, 5)
    path = tmp_path / "resize.onnx"
    torch.onnx.export(Resizes(), (x,), str(path), dynamo=False, opset_version=13,
                      input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
    assert "Shape" in {n.op_type for n in onnx.load(str(path)).graph.node}
    model = load(str(path))
    assert [type(l).__name__ for l in model.layers[1:]] == ["Resize2D", "Resize2D"]
    with torch.no_grad():
        want = Resizes()(x).numpy().transpose(0, 2, 3, 1)
    _assert_close(model.predict(x.numpy().transpose(0, 2, 3, 1)), want, 1e-6)


def _tanh_gelu_graph(kappa=0.044715, tanh_read_twice=False):
    """0.5 x (1 + tanh(sqrt(2 / pi) (x + kappa x^3))) in PyTorch's order (before opset 20)."""
    c = {"k": np.array(kappa, np.float32), "b": np.array(np.sqrt(2 / np.pi), np.float32),
         "one": np.array(1.0, np.float32), "h": np.array(0.5, np.float32)}
    n = helper.make_node
    nodes = [n("Mul", ["x", "x"], ["sq"], name="sq"), n("Mul", ["sq", "x"], ["cu"], name="cu"),
             n("Mul", ["k", "cu"], ["kc"], name="kc"), n("Add", ["x", "kc"], ["in"], name="in"),
             n("Mul", ["b", "in"], ["s"], name="s"), n("Mul", ["x", "h"], ["xh"], name="xh"),
             n("Tanh", ["s"], ["t"], name="t"), n("Add", ["one", "t"], ["u"], name="u"),
             n("Mul", ["xh", "u"], ["g"], name="g")]
    if tanh_read_twice:
        nodes.append(n("Add", ["g", "t"], ["y"], name="y"))
    else:
        nodes.append(n("Relu", ["g"], ["y"], name="y"))
    return _model(nodes, c)


def test_tanh_gelu_formula_imports_as_one_layer():
    """The tanh GELU as PyTorch writes it before opset 20 (and fastconv's export does):
    one GeluTanh layer, the ONNX backend's values; a different constant or an intermediate
    read elsewhere leaves the ops as they are."""
    fused = _check(_tanh_gelu_graph(), (2, 2, 4, 5), "GeluTanh")
    assert fused.shape == (2, 2, 4, 5)
    for proto in (_tanh_gelu_graph(kappa=0.05), _tanh_gelu_graph(tanh_read_twice=True)):
        kinds = {type(l).__name__ for l in load(proto).layers}
        assert "GeluTanh" not in kinds and "Multiply" in kinds
        x = np.random.default_rng(1).standard_normal((2, 2, 4, 5)).astype(np.float32)
        want = backend.run_model(proto, [x])[0]
        _assert_close(load(proto).predict(x.transpose(0, 2, 3, 1)), want.transpose(0, 2, 3, 1))


def test_pytorch_tanh_gelu_imports_as_one_layer(tmp_path):
    torch = pytest.importorskip("torch", reason="the PyTorch round trip needs torch")
    torch.manual_seed(0)     # weights and input independent of the tests that ran before
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1),
                              torch.nn.GELU(approximate="tanh"), torch.nn.Conv2d(4, 2, 1)).eval()
    x = torch.randn(2, 3, 6, 5)
    path = tmp_path / "gelu.onnx"
    torch.onnx.export(net, (x,), str(path), dynamo=False, opset_version=17,
                      input_names=["x"], output_names=["y"])
    assert "Tanh" in {n.op_type for n in onnx.load(str(path)).graph.node}
    model = load(str(path))
    assert [type(l).__name__ for l in model.layers].count("GeluTanh") == 1
    with torch.no_grad():
        want = net(x).numpy().transpose(0, 2, 3, 1)
    _assert_close(model.predict(x.numpy().transpose(0, 2, 3, 1)), want)
