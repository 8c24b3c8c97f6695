"""PyTorch twins of the model benchmark's networks, and the copy of a fastconv model's
weights into its twin.

Imported only by the model benchmark, and only when PyTorch is installed: ``import
fastconv`` never imports torch.  Each twin states the architecture independently of
fastconv's model builders (benchmarks/README.md describes them); ``copy_weights`` then
checks, layer by layer, that the two networks have the same weights, strides and
padding, and raises ``StructureMismatch`` when they do not, so that a drifting builder is
an error rather than a silently different benchmark.
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as TF


class StructureMismatch(ValueError):
    """The fastconv model and the PyTorch twin do not have the same layers."""


class Conv(nn.Conv2d):
    """``nn.Conv2d`` that can also pad unevenly.

    Keras's 'same' padding with stride 2 on an even size pads only the bottom/right,
    which ``nn.Conv2d``'s symmetric ``padding`` cannot express; ``copy_weights`` sets
    ``pre_pad`` (left, right, top, bottom) in that case so that the twin computes what the
    fastconv layer computes.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pre_pad = None

    def forward(self, x):
        if self.pre_pad is not None:
            x = TF.pad(x, self.pre_pad)
        return super().forward(x)


def _global_avg_pool(x):
    return torch.flatten(TF.adaptive_avg_pool2d(x, 1), 1)


# --------------------------------------------------------------------------- the networks

def lenet5(classes=10):
    """28x28x1 -> conv 6 5x5 -> pool 2 -> conv 16 5x5 -> pool 2 -> FC 120 -> FC 84 -> FC."""
    return nn.Sequential(
        Conv(1, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
        Conv(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, classes))


def tfcnn(classes=10):
    """32x32x3 -> conv 32 3x3 -> pool 2 -> conv 64 3x3 -> pool 2 -> conv 64 3x3 -> FC 64
    -> FC, all convolutions 'valid' (32 -> 30 -> 15 -> 13 -> 6 -> 4)."""
    return nn.Sequential(
        Conv(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        Conv(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        Conv(64, 64, 3), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, classes))


def cifar_example(classes=10):
    """32x32x3 -> conv 12 3x3 'same' -> ReLU -> pool 2 -> FC."""
    return nn.Sequential(
        Conv(3, 12, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(12 * 16 * 16, classes))


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN, ReLU between and after the sum; the shortcut is the identity, or
    a 1x1 conv + BN projection where the stride or the width changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        # creation order main path, then shortcut: copy_weights matches by shape anyway
        self.conv1 = Conv(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = Conv(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(Conv(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x):
        y = TF.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return TF.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class ResNet20(nn.Module):
    """CIFAR ResNet-20 (He et al. 2016, section 4.2): conv 16 3x3 + BN + ReLU, three
    stages of three basic blocks of 16/32/64 filters (stride 2 at the start of stages 2
    and 3), global average pooling, FC."""

    def __init__(self, classes=10, blocks_per_stage=3):
        super().__init__()
        self.conv = Conv(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for b in range(blocks_per_stage):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(cin, width, stride))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(TF.relu(self.bn(self.conv(x))))
        return self.fc(_global_avg_pool(x))


# MobileNet v1's 13 depthwise-separable blocks: (pointwise filters at width 1, stride)
MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class MobileNetV1(nn.Module):
    """MobileNet v1 (Howard et al. 2017) for 32x32 inputs: conv 32*alpha 3x3 stride 1 (not
    2: the input is 7x smaller than ImageNet's) + BN + ReLU, the 13 blocks of
    ``MOBILENET_BLOCKS`` (3x3 depthwise + BN + ReLU, then 1x1 conv + BN + ReLU), global
    average pooling, FC.  On 32x32 the maps go 32 -> 16 -> 8 -> 4 -> 2."""

    def __init__(self, classes=10, alpha=0.5):
        super().__init__()
        width = lambda c: max(1, int(c * alpha))  # noqa: E731
        cin = width(32)
        layers = [Conv(3, cin, 3, 1, 1, bias=False), nn.BatchNorm2d(cin), nn.ReLU()]
        for filters, stride in MOBILENET_BLOCKS:
            cout = width(filters)
            layers += [Conv(cin, cin, 3, stride, 1, groups=cin, bias=False),
                       nn.BatchNorm2d(cin), nn.ReLU(),
                       Conv(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        return self.fc(_global_avg_pool(self.features(x)))


TWINS = {"lenet5": lenet5, "tfcnn": tfcnn, "cifar_example": cifar_example,
         "resnet20": ResNet20, "mobilenet": MobileNetV1}


def make_twin(name, classes=10):
    """The PyTorch twin of a benchmark network, in eval mode, freshly initialised."""
    return TWINS[name](classes=classes).eval()


# --------------------------------------------------------------------------- weight copy

def _kind_of_fastconv(layer):
    w = layer.weights
    if "moving_mean" in w:
        return "bn"
    if "kernel" in w:
        return "conv" if w["kernel"].ndim >= 3 else "dense"
    raise StructureMismatch(f"fastconv layer {layer.name!r} ({type(layer).__name__}) has "
                            f"weights {sorted(w)} that the twin copy does not know")


def _kind_of_twin(module):
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "bn"
    return None


def _core_shape(shape):
    # a depthwise kernel may be stored (C, 1, R, S) or (C, R, S): compare without the 1s
    return tuple(int(d) for d in shape if d != 1)


def _units(items):
    """Group a walk's (kind, shape, obj) items into units: a conv or dense layer with the
    batch norm that directly follows it on its channels.  Matching units rather than
    layers keeps each BN with its conv whichever order a builder creates the branches of
    a block in (main path or shortcut first)."""
    units, i = [], 0
    while i < len(items):
        kind, shape, obj = items[i]
        if kind == "bn":
            units.append([items[i]])
            i += 1
            continue
        unit = [items[i]]
        if i + 1 < len(items) and items[i + 1][0] == "bn" and items[i + 1][1] == (shape[0],):
            unit.append(items[i + 1])
            i += 1
        units.append(unit)
        i += 1
    return units


def _signature(unit):
    return tuple((kind, _core_shape(shape)) for kind, shape, _ in unit)


def _describe(sig):
    return " + ".join(f"{k}{list(s)}" for k, s in sig)


def _fastconv_geometry(layer):
    """((H, W), (top, bottom, left, right)) of a fastconv Conv2D's input size and zero
    padding, or None when the layer does not expose Conv2D's geometry attributes."""
    try:
        padding, strides = layer.padding, layer.strides
        kernel, dilation = layer.kernel_size, getattr(layer, "dilation_rate", (1, 1))
        _, H, W, _ = layer.input_shape
    except (AttributeError, ValueError, TypeError):
        return None
    pads = []
    for axis, (size, k, s, d) in enumerate(zip((H, W), kernel, strides, dilation)):
        if padding == "valid":
            pads += [0, 0]
        elif padding == "same":  # Keras's rule: the odd pixel goes at the bottom/right
            total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        else:
            p = padding[axis] if isinstance(padding, (tuple, list)) else padding
            pads += [int(p), int(p)]
    return (H, W), tuple(pads)


def _match_conv_geometry(layer, conv):
    """Check strides and output size; make the twin pad exactly as the fastconv layer."""
    strides = getattr(layer, "strides", None)
    if strides is not None and tuple(strides) != tuple(conv.stride):
        raise StructureMismatch(f"fastconv layer {layer.name!r} has strides {tuple(strides)}, "
                                f"the twin's {conv} has {tuple(conv.stride)}")
    geometry = _fastconv_geometry(layer)
    if geometry is None:
        return
    (H, W), (top, bottom, left, right) = geometry
    ph, pw = conv.padding
    if (top, bottom, left, right) == (ph, ph, pw, pw):
        return

    def out(size, lo, hi, axis):
        eff = conv.dilation[axis] * (conv.kernel_size[axis] - 1) + 1
        return (size + lo + hi - eff) // conv.stride[axis] + 1

    if (out(H, top, bottom, 0), out(W, left, right, 1)) != (out(H, ph, ph, 0), out(W, pw, pw, 1)):
        raise StructureMismatch(
            f"fastconv layer {layer.name!r} pads (top, bottom, left, right) = "
            f"{(top, bottom, left, right)}, the twin's {conv} pads {conv.padding} on each "
            "side: their outputs differ in size")
    # same output size, other alignment (Keras 'same' with stride 2): pad as fastconv does
    conv.pre_pad = (left, right, top, bottom)
    conv.padding = (0, 0)


def _set_bias(module, value):
    # the twin's bias follows fastconv's use_bias, so that the two compute the same sum
    if value is None:
        if module.bias is not None:
            module.bias = None
        return
    if module.bias is None:
        module.bias = nn.Parameter(torch.empty(module.weight.shape[0]))
    module.bias.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def _copy_unit(ours, theirs):
    for (kind, _, layer), (_, _, module) in zip(ours, theirs):
        w = layer.weights
        if kind == "bn":
            module.weight.copy_(torch.from_numpy(w.get("gamma", np.ones(module.num_features))))
            module.bias.copy_(torch.from_numpy(w.get("beta", np.zeros(module.num_features))))
            module.running_mean.copy_(torch.from_numpy(w["moving_mean"]))
            module.running_var.copy_(torch.from_numpy(w["moving_variance"]))
            module.eps = float(getattr(layer, "epsilon", module.eps))
            if hasattr(layer, "momentum"):  # Keras's weight of the old statistics
                module.momentum = 1.0 - float(layer.momentum)
            continue
        # fastconv stores conv kernels (K, C, R, S) and dense kernels (units, in), PyTorch's
        # layouts; a reshape only drops or adds unit axes (checked by the signature)
        module.weight.copy_(torch.from_numpy(w["kernel"].reshape(module.weight.shape)))
        _set_bias(module, w.get("bias"))
        if kind == "conv":
            _match_conv_geometry(layer, module)


def copy_weights(model, twin):
    """Copy every weight of the fastconv ``model`` into the PyTorch ``twin`` (in place).

    Both networks are walked in a deterministic order (``model.layers``; the twin's
    ``modules()``, its order of creation), and their weighted layers grouped into units of
    a conv or dense layer with the batch norm that follows it.  Each fastconv unit takes
    the first unused twin unit of the same kinds and weight shapes, so identical units
    pair up in order.  Raises ``StructureMismatch`` naming the first unit without a
    partner, or the twin's unused units, or a stride/padding the twin does not share.
    """
    ours = []
    for layer in model.layers:
        if not layer.weights:
            continue
        kind = _kind_of_fastconv(layer)
        w = layer.weights["moving_mean" if kind == "bn" else "kernel"]
        ours.append((kind, tuple(w.shape), layer))
    theirs = []
    for m in twin.modules():
        kind = _kind_of_twin(m)
        if kind == "bn":
            theirs.append((kind, (m.num_features,), m))
        elif kind is not None:
            theirs.append((kind, tuple(m.weight.shape), m))
    our_units, their_units = _units(ours), _units(theirs)
    free = list(range(len(their_units)))
    with torch.no_grad():
        for unit in our_units:
            sig = _signature(unit)
            j = next((j for j in free if _signature(their_units[j]) == sig), None)
            if j is None:
                left = sorted({_describe(_signature(their_units[j])) for j in free})
                raise StructureMismatch(
                    f"the twin has no layer matching fastconv's {_describe(sig)} (layer "
                    f"{unit[0][2].name!r}); the twin's unmatched layers: "
                    f"{', '.join(left) or 'none'}")
            free.remove(j)
            _copy_unit(unit, their_units[j])
    if free:
        raise StructureMismatch(
            "the twin has layers the fastconv model lacks: "
            + ", ".join(_describe(_signature(their_units[j])) for j in free))
    return twin


def count_params(twin):
    """Trainable parameters of a twin."""
    return sum(p.numel() for p in twin.parameters() if p.requires_grad)
