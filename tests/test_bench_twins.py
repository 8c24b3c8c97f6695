"""The model benchmark's PyTorch twins and the copy of fastconv's weights into them."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fastconv import bench_models, layers as L  # noqa: E402
from fastconv import _twins  # noqa: E402


def test_tfcnn_twin_computes_what_fastconv_computes():
    setup = bench_models.prepare("tfcnn", 1, peers=("torch",))
    assert setup["agreement"]["torch"] <= 1e-4
    assert setup["agreement"]["torch first loss"] <= 1e-4
    assert setup["warnings"] == []
    # 32 -> 30 -> 15 -> 13 -> 6 -> 4: the dense layer sees 64 * 4 * 4 features
    assert setup["params"] == _twins.count_params(_twins.make_twin("tfcnn")) == 122570


def test_copy_refuses_a_different_network():
    model = bench_models.build_model("lenet5")
    with pytest.raises(_twins.StructureMismatch, match="no layer matching"):
        _twins.copy_weights(model, _twins.make_twin("resnet20"))
    model = bench_models.build_model("cifar_example")
    with pytest.raises(_twins.StructureMismatch, match="no layer matching"):
        _twins.copy_weights(model, _twins.make_twin("tfcnn"))


class _Graph:
    """A stand-in for a graph model: only ``layers``, in creation order."""

    def __init__(self, layers):
        self.layers = layers


def _built(layer, shape, rng):
    layer.build(shape)
    for w in layer.weights.values():
        w[...] = rng.standard_normal(w.shape)
    return layer


def _resnet20_layers(rng, shortcut_first):
    """ResNet-20's weighted layers as a builder might create them, with Keras 'same'
    padding (which pads a stride-2 3x3 conv only at the bottom/right)."""
    conv = lambda k, f, s, shape: _built(L.Conv2D(k, f, s, padding="same", use_bias=False),  # noqa
                                         shape, rng)
    bn = lambda shape: _built(L.BatchNormalization(), shape, rng)  # noqa: E731
    out = [conv(16, 3, 1, (32, 32, 3)), bn((32, 32, 16))]
    size, cin = 32, 16
    for stage, width in enumerate((16, 32, 64)):
        for b in range(3):
            stride = 2 if stage and not b else 1
            new = size // stride
            main = [conv(width, 3, stride, (size, size, cin)), bn((new, new, width)),
                    conv(width, 3, 1, (new, new, width)), bn((new, new, width))]
            short = []
            if stride != 1 or cin != width:
                short = [conv(width, 1, stride, (size, size, cin)), bn((new, new, width))]
            out += short + main if shortcut_first else main + short
            size, cin = new, width
    return out + [_built(L.Dense(10), (64,), rng)]


@pytest.mark.parametrize("shortcut_first", [False, True])
def test_resnet20_copy_pairs_each_layer_with_its_twin(shortcut_first):
    ours = _resnet20_layers(np.random.default_rng(0), shortcut_first)
    twin = _twins.copy_weights(_Graph(ours), _twins.make_twin("resnet20"))
    by_kernel = {id(l): l for l in ours}
    assert len(by_kernel) == 2 + 9 * 4 + 2 * 2 + 1
    block = twin.blocks[3]  # first block of stage 2: stride 2, projection shortcut
    i = next(i for i, l in enumerate(ours) if l.weights.get("kernel", np.zeros(1)).shape
             == (32, 16, 1, 1))
    np.testing.assert_array_equal(block.shortcut[0].weight.detach().numpy(),
                                  ours[i].weights["kernel"])
    np.testing.assert_array_equal(block.shortcut[1].running_var.numpy(),
                                  ours[i + 1].weights["moving_variance"])
    j = next(i for i, l in enumerate(ours) if l.weights.get("kernel", np.zeros(1)).shape
             == (32, 16, 3, 3))
    np.testing.assert_array_equal(block.conv1.weight.detach().numpy(), ours[j].weights["kernel"])
    np.testing.assert_array_equal(block.bn1.weight.detach().numpy(), ours[j + 1].weights["gamma"])
    # Keras 'same' at stride 2 on 32x32 pads one row/column, at the bottom/right
    assert block.conv1.pre_pad == (0, 1, 0, 1) and block.conv1.padding == (0, 0)
    assert twin.blocks[0].conv1.pre_pad is None and twin.blocks[0].conv1.bias is None
    assert twin.bn.eps == pytest.approx(1e-3)  # Keras's default, taken from fastconv


def test_resnet20_copy_refuses_a_missing_block():
    ours = _resnet20_layers(np.random.default_rng(0), False)
    with pytest.raises(_twins.StructureMismatch, match="lacks"):
        _twins.copy_weights(_Graph(ours[:-7] + ours[-1:]), _twins.make_twin("resnet20"))


def test_twins_have_the_stated_shapes():
    resnet = _twins.make_twin("resnet20")
    # 0.27M parameters (the paper's count) plus the two projection shortcuts
    assert _twins.count_params(resnet) == 272474
    mobilenet = _twins.make_twin("mobilenet")
    depthwise = [m for m in mobilenet.modules() if isinstance(m, torch.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 13 and depthwise[0].groups == 16
    assert mobilenet.fc.in_features == 512
    with torch.no_grad():
        x = torch.zeros(2, 3, 32, 32)
        assert resnet(x).shape == mobilenet(x).shape == (2, 10)
        assert mobilenet.features(x).shape == (2, 512, 2, 2)
