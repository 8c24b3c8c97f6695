"""Ready-made networks: the classic course networks (LeNet-5, the CIFAR-10 example), the
TensorFlow CNN tutorial's network, the bundled-digits default, CIFAR ResNet-20 and
MobileNet v1.

Every function returns an uncompiled model whose last layer outputs logits (compile with
``losses.SparseCategoricalCrossentropy(from_logits=True)``).
"""
from .. import _validation as V
from .. import layers as _layers
from ..layers.base import unique_name
from .model import Model
from .sequential import Sequential

__all__ = ["lenet5", "cifar_example", "small_cnn", "tfcnn", "resnet20", "mobilenet", "MODELS",
           "get_model"]


def _image_shape(input_shape, owner):
    shape = V.shape_tuple(input_shape, "input_shape", owner)
    if len(shape) != 3 or not all(V.is_int(s) and s > 0 for s in shape):
        raise ValueError(f"{owner}: input_shape must be (height, width, channels), got "
                         f"{input_shape!r}")
    return tuple(int(s) for s in shape)


def lenet5(input_shape=(28, 28, 1), classes=10, seed=None, dtype="float32"):
    """LeNet-5: CONV(6, 5x5) -> POOL -> CONV(16, 5x5) -> POOL -> FC 120 -> FC 84 -> FC classes,
    ReLU activations, max pooling, He-uniform weights; the last layer outputs logits
    (compile with ``SparseCategoricalCrossentropy(from_logits=True)``).

    Geometry: inputs of at least 16x16 use the classic 'valid' convolutions (28x28 ->
    24 -> 12 -> 8 -> 4, the benchmark's lenet-c1/lenet-c3 layers).  Smaller inputs, such as
    the bundled 8x8 digits, use 'same' padding in both convolutions, so that only pooling
    shrinks the maps (8x8 -> 8 -> 4 -> 4 -> 2).
    """
    H, W, C = _image_shape(input_shape, "lenet5")
    classes = V.positive_int(classes, "lenet5: classes")
    pad = "valid" if min(H, W) >= 16 else "same"
    init = "he_uniform"
    return Sequential([
        _layers.Conv2D(6, (5, 5), padding=pad, activation="relu", kernel_initializer=init,
                       input_shape=(H, W, C)),
        _layers.MaxPooling2D((2, 2)),
        _layers.Conv2D(16, (5, 5), padding=pad, activation="relu", kernel_initializer=init),
        _layers.MaxPooling2D((2, 2)),
        _layers.Flatten(),
        _layers.Dense(120, activation="relu", kernel_initializer=init),
        _layers.Dense(84, activation="relu", kernel_initializer=init),
        _layers.Dense(classes),
    ], name=unique_name("lenet5"), seed=seed, dtype=dtype)


def cifar_example(input_shape=(32, 32, 3), classes=10, seed=None, dtype="float32"):
    """The classic CIFAR-10 example network: INPUT[32x32x3] -> CONV(12 filters, 3x3, 'same')
    -> RELU -> POOL(2x2) -> FLATTEN -> FC(10).  Outputs logits."""
    shape = _image_shape(input_shape, "cifar_example")
    classes = V.positive_int(classes, "cifar_example: classes")
    return Sequential([
        _layers.Conv2D(12, (3, 3), padding="same", input_shape=shape,
                       kernel_initializer="he_uniform"),
        _layers.ReLU(),
        _layers.MaxPooling2D((2, 2)),
        _layers.Flatten(),
        _layers.Dense(classes),
    ], name=unique_name("cifar_example"), seed=seed, dtype=dtype)


def small_cnn(input_shape=(8, 8, 1), classes=10, seed=None, dtype="float32"):
    """The main job's default: a small CNN that suits 8x8 digits (and works on any size):
    CONV(32, 3x3 same) -> CONV(32, 3x3 same) -> POOL 2x2 -> DROPOUT 0.25 -> FLATTEN ->
    FC 128 -> DROPOUT 0.25 -> FC classes (logits), ReLU, He-uniform weights."""
    shape = _image_shape(input_shape, "small_cnn")
    classes = V.positive_int(classes, "small_cnn: classes")
    init = "he_uniform"
    return Sequential([
        _layers.Conv2D(32, (3, 3), padding="same", activation="relu", kernel_initializer=init,
                       input_shape=shape),
        _layers.Conv2D(32, (3, 3), padding="same", activation="relu", kernel_initializer=init),
        _layers.MaxPooling2D((2, 2)),
        _layers.Dropout(0.25),
        _layers.Flatten(),
        _layers.Dense(128, activation="relu", kernel_initializer=init),
        _layers.Dropout(0.25),
        _layers.Dense(classes),
    ], name=unique_name("small_cnn"), seed=seed, dtype=dtype)


def tfcnn(input_shape=(32, 32, 3), classes=10, seed=None, dtype="float32"):
    """The TensorFlow CNN tutorial's network: CONV 32 3x3 valid ReLU -> POOL 2 -> CONV 64 3x3
    valid ReLU -> POOL 2 -> CONV 64 3x3 valid ReLU -> FLATTEN -> FC 64 ReLU -> FC classes."""
    shape = _image_shape(input_shape, "tfcnn")
    classes = V.positive_int(classes, "tfcnn: classes")
    return Sequential([
        _layers.Conv2D(32, (3, 3), activation="relu", input_shape=shape),
        _layers.MaxPooling2D((2, 2)),
        _layers.Conv2D(64, (3, 3), activation="relu"),
        _layers.MaxPooling2D((2, 2)),
        _layers.Conv2D(64, (3, 3), activation="relu"),
        _layers.Flatten(),
        _layers.Dense(64, activation="relu"),
        _layers.Dense(classes),
    ], name=unique_name("tfcnn"), seed=seed, dtype=dtype)


def _conv_bn(x, filters, kernel, strides, relu):
    # 3x3 convolutions pad 1 on every side (as the paper's PyTorch and ONNX versions do),
    # 1x1 projections none; batch norm follows, so the convolutions have no bias
    x = _layers.Conv2D(filters, kernel, strides=strides, padding=kernel // 2, use_bias=False,
                       kernel_initializer="he_normal")(x)
    x = _layers.BatchNormalization(momentum=0.9, epsilon=1e-5)(x)
    return _layers.ReLU()(x) if relu else x


def resnet20(input_shape=(32, 32, 3), classes=10, seed=None, dtype="float32"):
    """CIFAR ResNet-20 (He et al. 2016, section 4.2): CONV 16 3x3 + BN + ReLU; three stages
    of three basic blocks (two 3x3 CONV + BN, identity shortcut) with 16, 32 and 64 filters,
    stride 2 at the start of stages 2 and 3, where a 1x1 CONV + BN projects the shortcut;
    global average pooling; FC classes. 274,042 parameters for 10 classes (271,642 of them
    trainable; batch-norm moving statistics are counted too, as Keras counts them)."""
    shape = _image_shape(input_shape, "resnet20")
    classes = V.positive_int(classes, "resnet20: classes")
    inputs = _layers.Input(shape)
    x = _conv_bn(inputs, 16, 3, 1, True)
    channels = 16
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage > 0 and block == 0 else 1
            y = _conv_bn(x, filters, 3, strides, True)
            y = _conv_bn(y, filters, 3, 1, False)
            shortcut = x
            if strides != 1 or channels != filters:
                shortcut = _conv_bn(x, filters, 1, strides, False)
            x = _layers.ReLU()(_layers.Add()([y, shortcut]))
            channels = filters
    x = _layers.GlobalAveragePooling2D()(x)
    outputs = _layers.Dense(classes, kernel_initializer="he_normal")(x)
    return Model(inputs, outputs, name=unique_name("resnet20"), seed=seed, dtype=dtype)


# MobileNet v1's 13 depthwise-separable blocks: (pointwise filters at width 1, stride)
_MOBILENET_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                     (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def mobilenet(input_shape=(32, 32, 3), classes=10, alpha=0.5, seed=None, dtype="float32"):
    """MobileNet v1 (Howard et al. 2017) sized for small images: CONV 32*alpha 3x3 (stride 1,
    not ImageNet's 2) + BN + ReLU, then 13 depthwise-separable blocks (3x3 depthwise + BN +
    ReLU, 1x1 conv + BN + ReLU; pointwise widths 64..1024 times ``alpha``, stride 2 where the
    paper has it: 32x32 maps go 32 -> 16 -> 8 -> 4 -> 2), global average pooling, FC
    classes. 3x3 convolutions pad 1 on every side; no convolution has a bias (batch norm
    follows each)."""
    shape = _image_shape(input_shape, "mobilenet")
    classes = V.positive_int(classes, "mobilenet: classes")
    if not V.is_number(alpha) or not 0 < float(alpha) <= 4:
        raise ValueError(f"mobilenet: alpha must be a number in (0, 4], got {alpha!r}")

    def width(c):
        return max(1, int(c * alpha))

    def bn_relu():
        return [_layers.BatchNormalization(momentum=0.9, epsilon=1e-5), _layers.ReLU()]

    stack = [_layers.Conv2D(width(32), 3, padding=1, use_bias=False,
                            kernel_initializer="he_normal", input_shape=shape)] + bn_relu()
    for filters, stride in _MOBILENET_BLOCKS:
        stack += [_layers.DepthwiseConv2D(3, strides=stride, padding=1, use_bias=False,
                                          depthwise_initializer="he_normal")] + bn_relu()
        stack += [_layers.Conv2D(width(filters), 1, use_bias=False,
                                 kernel_initializer="he_normal")] + bn_relu()
    stack += [_layers.GlobalAveragePooling2D(), _layers.Dense(classes)]
    return Sequential(stack, name=unique_name("mobilenet"), seed=seed, dtype=dtype)


MODELS = {"small": small_cnn, "lenet5": lenet5, "cifar_example": cifar_example,
          "tfcnn": tfcnn, "resnet20": resnet20, "mobilenet": mobilenet}


def get_model(name, input_shape, classes=10, seed=None, dtype="float32"):
    """A ready-made model by name (a key of ``MODELS``)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODELS)}")
    return MODELS[name](input_shape=input_shape, classes=classes, seed=seed, dtype=dtype)
