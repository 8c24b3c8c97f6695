"""Layers: argument validation, shapes (Keras's rules), configs, and finite-difference
gradient checks (float64) of every layer's forward/backward."""
import math

import numpy as np
import pytest

from fastconv import functional as F
from fastconv import initializers, layers


# ------------------------------------------------------------------ helpers

def build(layer, shape, dtype="float64", seed=0):
    """Build a layer for a channels-last per-sample shape."""
    layer.build(shape, dtype=dtype, rng=np.random.default_rng(seed))
    return layer


def internal_input(layer, n, rng, dtype=np.float64):
    return rng.standard_normal((n,) + tuple(layer._in)).astype(dtype)


def numeric_grad(f, a, eps=1e-6):
    """Central differences of the scalar f() w.r.t. every entry of the array a (in place)."""
    g = np.zeros_like(a)
    flat, gflat = a.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        fp = f()
        flat[i] = old - eps
        fm = f()
        flat[i] = old
        gflat[i] = (fp - fm) / (2 * eps)
    return g


def gradcheck(layer, x, training=True, reset=None, rtol=1e-5, atol=1e-7):
    """Check layer.backward against finite differences of sum(G * layer.call(x))."""
    rng = np.random.default_rng(99)
    if reset:
        reset()
    y = layer.call(x, training)
    G = rng.standard_normal(y.shape)

    def loss():
        if reset:
            reset()
        return float(np.sum(G * layer.call(x, training)))

    if reset:
        reset()
    layer.call(x, training)
    gx = layer.backward(G.astype(x.dtype))
    grads = {k: v.copy() for k, v in layer.grads.items()}
    np.testing.assert_allclose(gx, numeric_grad(loss, x), rtol=rtol, atol=atol,
                               err_msg=f"{layer.name}: input gradient")
    for name, p in layer.params.items():
        np.testing.assert_allclose(grads[name], numeric_grad(loss, p), rtol=rtol, atol=atol,
                                   err_msg=f"{layer.name}: gradient of {name}")
    return gx


# ------------------------------------------------------------------ validation

@pytest.mark.parametrize("make, exc, words", [
    (lambda: layers.Conv2D(0, 3), ValueError, "filters"),
    (lambda: layers.Conv2D(-4, 3), ValueError, "-4"),
    (lambda: layers.Conv2D(2.5, 3), TypeError, "2.5"),
    (lambda: layers.Conv2D(True, 3), TypeError, "filters"),
    (lambda: layers.Conv2D(8, (3, 0)), ValueError, "kernel_size"),
    (lambda: layers.Conv2D(8, (3, 3, 3)), TypeError, "kernel_size"),
    (lambda: layers.Conv2D(8, 3, strides=0), ValueError, "strides"),
    (lambda: layers.Conv2D(8, 3, padding="full"), ValueError, "'full'"),
    (lambda: layers.Conv2D(8, 3, padding=-1), ValueError, "padding"),
    (lambda: layers.Conv2D(8, 3, dilation_rate=0), ValueError, "dilation_rate"),
    (lambda: layers.Conv2D(8, 3, activation="mish"), ValueError, "'mish'"),
    (lambda: layers.Conv2D(8, 3, activation=5), TypeError, "5"),
    (lambda: layers.Conv2D(8, 3, use_bias="yes"), TypeError, "use_bias"),
    (lambda: layers.Conv2D(8, 3, kernel_initializer="nope"), ValueError, "'nope'"),
    (lambda: layers.Conv2D(8, 3, data_format="channels_first"), ValueError, "channels_first"),
    (lambda: layers.Conv2D(8, 3, input_shape=(32, 32)), ValueError, "input_shape"),
    (lambda: layers.Conv2D(8, 3, bogus=1), TypeError, "bogus"),
    (lambda: layers.Dense(0), ValueError, "units"),
    (lambda: layers.Dense("10"), TypeError, "'10'"),
    (lambda: layers.Dense(10, activation="selu"), ValueError, "'selu'"),
    (lambda: layers.MaxPooling2D(0), ValueError, "pool_size"),
    (lambda: layers.MaxPooling2D(2, strides=-1), ValueError, "strides"),
    (lambda: layers.MaxPooling2D(2, padding="full"), ValueError, "'full'"),
    (lambda: layers.MaxPooling2D(2, padding=2), ValueError, "padding 2"),
    (lambda: layers.AveragePooling2D(2, padding="same", ceil_mode=True), ValueError, "ceil_mode"),
    (lambda: layers.Dropout(1.0), ValueError, "1.0"),
    (lambda: layers.Dropout(-0.1), ValueError, "-0.1"),
    (lambda: layers.Dropout("half"), TypeError, "'half'"),
    (lambda: layers.Dropout(0.5, seed=1.5), TypeError, "1.5"),
    (lambda: layers.BatchNormalization(axis=1.5), ValueError, "1.5"),
    (lambda: layers.BatchNormalization(momentum=1.5), ValueError, "1.5"),
    (lambda: layers.BatchNormalization(epsilon=0), ValueError, "epsilon"),
    (lambda: layers.Activation("mish"), ValueError, "'mish'"),
    (lambda: layers.LeakyReLU(-0.1), ValueError, "-0.1"),
    (lambda: layers.LeakyReLU("a"), TypeError, "'a'"),
    (lambda: layers.ELU(float("nan")), ValueError, "nan"),
    (lambda: layers.Maxout(0), ValueError, "pieces"),
    (lambda: layers.Softmax(axis=1), ValueError, "axis=1"),
    (lambda: layers.Flatten(name=""), TypeError, "name"),
    (lambda: layers.Dense(3, dtype="int32"), ValueError, "int32"),
])
def test_init_validates_arguments(make, exc, words):
    with pytest.raises(exc) as info:
        make()
    assert words in str(info.value)


def test_geometry_errors_name_the_numbers():
    conv = layers.Conv2D(4, 5)
    with pytest.raises(ValueError) as info:
        conv.build((3, 3, 1))
    msg = str(info.value)
    assert "kernel 5" in msg and "3" in msg and "(W - F + 2P)/S + 1" in msg
    with pytest.raises(ValueError, match="pool size 4"):
        layers.MaxPooling2D(4).build((3, 3, 2))
    with pytest.raises(ValueError, match="Flatten"):
        layers.Dense(3).build((4, 4, 2))
    with pytest.raises(ValueError, match="divisible by 3"):
        layers.Maxout(3).build((4, 4, 4))
    with pytest.raises(ValueError, match="Conv2D needs images"):
        layers.Conv2D(2, 3).build((10,))


# ------------------------------------------------------------------ shapes

def keras_conv_out(size, k, s, d, padding):
    eff = d * (k - 1) + 1
    if padding == "same":
        return math.ceil(size / s)
    return (size - eff) // s + 1


@pytest.mark.parametrize("size, k, s, d, padding", [
    (32, 3, 1, 1, "valid"), (32, 3, 1, 1, "same"), (32, 4, 1, 1, "same"),
    (32, 3, 2, 1, "same"), (31, 3, 2, 1, "same"), (28, 5, 1, 1, "valid"),
    (9, 3, 2, 1, "valid"), (10, 3, 1, 2, "same"), (10, 2, 3, 1, "same"), (7, 5, 1, 1, "same"),
])
def test_conv_output_shape_follows_keras(size, k, s, d, padding):
    conv = build(layers.Conv2D(5, k, strides=s, dilation_rate=d, padding=padding),
                 (size, size + 1, 2))
    expected = (keras_conv_out(size, k, s, d, padding), keras_conv_out(size + 1, k, s, d, padding))
    assert conv.output_shape == (None,) + expected + (5,)
    x = np.random.default_rng(0).standard_normal((2, size, size + 1, 2))
    assert conv(x).shape == (2,) + expected + (5,)


def test_conv_same_padding_matches_keras_asymmetric_rule():
    # Keras 'same' with an even kernel or stride > 1 pads the extra row/column at the
    # bottom/right: check against an explicit zero pad + 'valid' convolution.
    rng = np.random.default_rng(1)
    for size, k, s in [(7, 4, 1), (8, 3, 2), (9, 2, 2), (6, 4, 3)]:
        conv = build(layers.Conv2D(3, k, strides=s, padding="same"), (size, size, 2))
        x = rng.standard_normal((2, 2, size, size))
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        top = total // 2
        xp = np.pad(x, ((0, 0), (0, 0), (top, total - top), (top, total - top)))
        expected = F.conv2d(xp, conv.params["kernel"], conv.params["bias"], s, 0)
        np.testing.assert_allclose(conv.call(x), expected, rtol=1e-12, atol=1e-12)


def test_conv_is_cross_correlation_channels_last():
    # one 2x2 filter on one channel, no flip: y[i,j] = sum w[r,s] x[i+r, j+s]
    conv = build(layers.Conv2D(1, 2, use_bias=False), (3, 3, 1))
    w = np.array([[1.0, 2.0], [3.0, 4.0]])
    conv.set_weights([w[None, None]])
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    y = conv(x)[0, :, :, 0]
    expected = np.array([[0 + 2 + 9 + 16, 1 + 4 + 12 + 20], [3 + 8 + 18 + 28, 4 + 10 + 21 + 32]])
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N, C, H, K, R, stride, groups", [
    (4, 16, 32, 32, 1, 1, 1),     # pointwise on a large map
    (5, 32, 4, 64, 1, 1, 1),      # pointwise on a few pixels (filters split)
    (3, 8, 9, 12, 3, 1, 1),       # direct / GEMM weight gradient, runs of images
    (2, 32, 8, 32, 3, 1, 1),      # Winograd
    (1, 8, 8, 64, 3, 1, 1),       # one image, filters split
    (2, 16, 8, 16, 3, 2, 16),     # depthwise
])
def test_conv_without_bias_skips_the_bias_gradient_and_keeps_the_weight_gradient(
        dtype, N, C, H, K, R, stride, groups):
    from fastconv.functional.prepared import PreparedConv2d
    rng = np.random.default_rng(5)
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((K, C // groups, R, R)).astype(dtype)
    pad = R // 2
    prep = PreparedConv2d(x.shape, w.shape, dtype, (stride, stride), ((pad, pad), (pad, pad)),
                          (1, 1), groups, None, 0.01)
    g = rng.standard_normal(prep.out_shape).astype(dtype)
    gx, gw, gb = prep.backward(g, x, w, True, bias_grad=False)
    assert gb is None
    want = F.conv2d_backward(g, x, w, stride, pad, 1, groups)
    assert gx.tobytes() == want[0].tobytes()
    assert gw.tobytes() == want[1].tobytes()


@pytest.mark.parametrize("cls", [layers.MaxPooling2D, layers.AveragePooling2D])
@pytest.mark.parametrize("size, k, s", [(5, 2, 2), (6, 2, 2), (7, 3, 2), (8, 3, 3), (5, 2, 3),
                                        (4, 3, 1), (9, 2, 4)])
def test_pool_same_matches_keras(cls, size, k, s):
    rng = np.random.default_rng(2)
    pool = build(cls(k, strides=s, padding="same"), (size, size, 3))
    out = -(-size // s)
    assert pool.output_shape == (None, out, out, 3)
    x = rng.standard_normal((2, 3, size, size))
    y = pool.call(x)
    total = max((out - 1) * s + k - size, 0)
    top = total // 2
    expected = np.empty((2, 3, out, out))
    for i in range(out):
        for j in range(out):
            r0, c0 = i * s - top, j * s - top
            win = x[:, :, max(r0, 0):min(r0 + k, size), max(c0, 0):min(c0 + k, size)]
            expected[:, :, i, j] = (win.max(axis=(2, 3)) if cls is layers.MaxPooling2D
                                    else win.mean(axis=(2, 3)))
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)


def test_pool_ceil_mode_counts_partial_window():
    pool = build(layers.MaxPooling2D(2, ceil_mode=True), (5, 5, 1))
    assert pool.output_shape == (None, 3, 3, 1)
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    np.testing.assert_array_equal(pool(x)[0, :, :, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    assert build(layers.MaxPooling2D(2), (5, 5, 1)).output_shape == (None, 2, 2, 1)


def test_flatten_uses_nchw_row_order():
    flat = build(layers.Flatten(), (2, 3, 4))
    x = np.arange(2 * 2 * 3 * 4, dtype=np.float64).reshape(2, 2, 3, 4)  # NHWC
    y = flat(x)
    np.testing.assert_array_equal(y, x.transpose(0, 3, 1, 2).reshape(2, -1))
    assert flat.output_shape == (None, 24)


def test_layer_call_is_channels_last_and_builds():
    rng = np.random.default_rng(3)
    conv = layers.Conv2D(4, 3, padding="same", activation="relu")
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32)
    y = conv(x)
    assert conv.built and conv.dtype == np.float32 and y.dtype == np.float32
    assert y.shape == (2, 6, 5, 4) and conv.input_shape == (None, 6, 5, 3)
    expected = F.relu(F.conv2d(np.ascontiguousarray(x.transpose(0, 3, 1, 2)),
                               conv.params["kernel"], conv.params["bias"], 1, 1))
    np.testing.assert_array_equal(y, expected.transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match="expects input shape"):
        conv(rng.standard_normal((2, 6, 6, 3)).astype(np.float32))


def test_count_params_per_filter_plus_bias():
    conv = build(layers.Conv2D(1, 5), (32, 32, 3))
    assert conv.count_params() == 5 * 5 * 3 + 1
    assert conv.param_formula() == "1 x (5x5x3 + 1)"
    conv12 = build(layers.Conv2D(12, 3, use_bias=False), (32, 32, 3))
    assert conv12.count_params() == 12 * 27
    dense = build(layers.Dense(10), (100,))
    assert dense.count_params() == 1010 and dense.param_formula() == "10 x (100 + 1)"
    bn = build(layers.BatchNormalization(), (4, 4, 8))
    assert bn.count_params() == 32 and len(bn.params) == 2 and len(bn.buffers) == 2
    with pytest.raises(ValueError, match="not built"):
        layers.Dense(3).count_params()


def test_weight_layouts_and_keras_names():
    conv = build(layers.Conv2D(7, (3, 2)), (9, 9, 5))
    assert conv.params["kernel"].shape == (7, 5, 3, 2) and conv.params["bias"].shape == (7,)
    dense = build(layers.Dense(4), (6,))
    assert dense.params["kernel"].shape == (4, 6)
    assert layers.LeakyReLU().name.startswith("leaky_re_lu")
    assert layers.MaxPooling2D().name.startswith("max_pooling2d")
    assert layers.BatchNormalization().name.startswith("batch_normalization")


def test_set_weights_checks_shapes_and_copies_in_place():
    dense = build(layers.Dense(2), (3,))
    kernel = dense.params["kernel"]
    dense.set_weights([np.ones((2, 3)), np.zeros(2)])
    assert dense.params["kernel"] is kernel and np.all(kernel == 1)
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        dense.set_weights([np.ones((3, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="2 weight arrays"):
        dense.set_weights([np.ones((2, 3))])


def test_dropout_inverted_and_only_in_training():
    drop = build(layers.Dropout(0.5, seed=0), (1000,))
    x = np.ones((4, 1000))
    assert drop.call(x, training=False) is x
    y = drop.call(x, training=True)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert 0.4 < np.mean(y == 0) < 0.6
    np.testing.assert_allclose(y.mean(), 1.0, atol=0.1)
    g = drop.backward(np.ones_like(x))
    np.testing.assert_array_equal(g, y)  # same mask


def test_batchnorm_training_and_inference():
    rng = np.random.default_rng(4)
    bn = build(layers.BatchNormalization(momentum=0.9, epsilon=1e-5), (3, 3, 2))
    x = rng.standard_normal((8, 2, 3, 3)) * 3 + 5
    y = bn.call(x, training=True)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-10)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-4)
    # Keras momentum 0.9 = keep 90% of the old moving mean
    np.testing.assert_allclose(bn.buffers["moving_mean"], 0.1 * x.mean(axis=(0, 2, 3)))
    y_inf = bn.call(x, training=False)
    mm, mv = bn.buffers["moving_mean"], bn.buffers["moving_variance"]
    np.testing.assert_allclose(y_inf, (x - mm[:, None, None]) / np.sqrt(mv[:, None, None] + 1e-5))
    frozen = build(layers.BatchNormalization(trainable=False), (4,))
    before = frozen.buffers["moving_mean"].copy()
    frozen.call(rng.standard_normal((5, 4)) + 3, training=True)
    np.testing.assert_array_equal(frozen.buffers["moving_mean"], before)


def test_maxout_and_softmax_values():
    m = build(layers.Maxout(2), (4,))
    x = np.array([[1.0, 3.0, -2.0, -5.0]])
    np.testing.assert_array_equal(m(x), [[3.0, -2.0]])
    assert m.output_shape == (None, 2)
    mi = build(layers.Maxout(3), (2, 2, 6))
    assert mi.output_shape == (None, 2, 2, 2)
    s = build(layers.Softmax(), (3,))
    p = s(np.array([[1000.0, 1000.0, 1000.0]]))
    np.testing.assert_allclose(p, 1 / 3)


def test_activation_strings():
    x = np.linspace(-3, 3, 13)[None]
    expected = {
        "relu": np.maximum(x, 0), "sigmoid": 1 / (1 + np.exp(-x)), "tanh": np.tanh(x),
        "elu": np.where(x > 0, x, np.expm1(x)), "leaky_relu": np.where(x > 0, x, 0.2 * x),
        "linear": x,
    }
    for name, want in expected.items():
        layer = build(layers.Activation(name), (13,))
        np.testing.assert_allclose(layer(x), want, rtol=1e-12, atol=1e-15, err_msg=name)
    np.testing.assert_allclose(build(layers.LeakyReLU(0.1), (13,))(x), np.maximum(0.1 * x, x))
    dense = build(layers.Dense(13, activation="softmax"), (13,))
    np.testing.assert_allclose(dense(x).sum(), 1.0)


# ------------------------------------------------------------------ configs

ALL_LAYERS = [
    (lambda: layers.Conv2D(3, (3, 2), strides=(2, 1), padding="same", dilation_rate=1,
                           activation="tanh", use_bias=False, kernel_initializer="he_normal"),
     (7, 6, 2)),
    (lambda: layers.Conv2D(2, 3, padding=(1, 2), activation="leaky_relu"), (5, 5, 2)),
    (lambda: layers.Dense(4, activation="elu", kernel_initializer=initializers.HeUniform(seed=3)),
     (6,)),
    (lambda: layers.Flatten(), (3, 3, 2)),
    (lambda: layers.MaxPooling2D((2, 3), strides=(1, 2), padding="valid", ceil_mode=True),
     (6, 7, 2)),
    (lambda: layers.AveragePooling2D(3, strides=2, padding="same"), (7, 7, 2)),
    (lambda: layers.Dropout(0.3, seed=5), (4,)),
    (lambda: layers.BatchNormalization(momentum=0.8, epsilon=1e-4, center=False), (3, 3, 2)),
    (lambda: layers.Activation("sigmoid"), (5,)),
    (lambda: layers.ReLU(), (3, 3, 2)),
    (lambda: layers.LeakyReLU(negative_slope=0.1), (5,)),
    (lambda: layers.ELU(alpha=0.5), (5,)),
    (lambda: layers.Softmax(), (5,)),
    (lambda: layers.Maxout(pieces=2), (3, 3, 4)),
    (lambda: layers.Conv2D(4, 3, padding="same", groups=2, activation="relu"), (5, 6, 2)),
    (lambda: layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2),
     (7, 6, 3)),
    (lambda: layers.DepthwiseConv2D((3, 2), activation="tanh"), (5, 5, 2)),
    (lambda: layers.SeparableConv2D(4, 3, padding="same", activation="elu"), (5, 4, 3)),
    (lambda: layers.Conv2DTranspose(3, 3, strides=2, padding="same"), (3, 4, 2)),
    (lambda: layers.Conv2DTranspose(2, 2, strides=3, padding="valid"), (3, 2, 2)),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=1,
                                    activation="sigmoid"), (3, 3, 2)),
    (lambda: layers.GlobalAveragePooling2D(), (4, 3, 2)),
    (lambda: layers.GlobalMaxPooling2D(keepdims=True), (4, 3, 2)),
    (lambda: layers.ZeroPadding2D(((1, 0), (2, 1))), (3, 4, 2)),
    (lambda: layers.Cropping2D(((1, 0), (0, 2))), (4, 5, 2)),
    (lambda: layers.Reshape((3, 2, 2)), (2, 6, 1)),
    (lambda: layers.Identity(), (4,)),
    (lambda: layers.BatchNormalization(), (5,)),
    (lambda: layers.UpSampling2D((2, 3)), (3, 2, 2)),
    (lambda: layers.Conv2D(2, 3, padding=((0, 2), (1, 0))), (4, 4, 2)),
    (lambda: layers.DepthwiseConv2D(3, padding=((1, 0), (0, 1))), (4, 4, 2)),
    (lambda: layers.UpSampling2D(2, interpolation="bilinear"), (3, 4, 2)),
    (lambda: layers.ReLU(max_value=6), (3, 3, 2)),
    (lambda: layers.Activation("hard_swish"), (5,)),
    (lambda: layers.Activation("swish"), (5,)),
    (lambda: layers.Activation("gelu"), (5,)),
    (lambda: layers.Activation("softplus"), (5,)),
    (lambda: layers.Activation("hard_sigmoid"), (5,)),
    (lambda: layers.Dense(3, activation="silu"), (4,)),
    (lambda: layers.Conv2D(2, 3, activation="hard_swish"), (5, 5, 1)),
]


@pytest.mark.parametrize("make, shape", [c for c in ALL_LAYERS
                                         if "Dropout" not in c[0]().__class__.__name__])
def test_every_layer_gradient_by_finite_differences(make, shape):
    layer = build(make(), shape)
    x = internal_input(layer, 3, np.random.default_rng(1))
    gradcheck(layer, x, training=True)


def test_keras_output_sizes_of_the_new_convolutions():
    def out(layer, shape):
        return build(layer, shape).output_shape
    assert out(layers.Conv2DTranspose(4, 3, strides=2, padding="same"), (5, 7, 1)) == \
        (None, 10, 14, 4)
    assert out(layers.Conv2DTranspose(4, 3, strides=2, padding="valid"), (5, 7, 1)) == \
        (None, 11, 15, 4)
    assert out(layers.Conv2DTranspose(4, 2, strides=3, padding="valid"), (5, 7, 1)) == \
        (None, 15, 21, 4)
    assert out(layers.Conv2DTranspose(4, 3, strides=2, padding="same", output_padding=1),
               (5, 7, 1)) == (None, 10, 14, 4)
    assert out(layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=3),
               (9, 8, 2)) == (None, 5, 4, 6)
    assert out(layers.SeparableConv2D(5, 3), (9, 8, 2)) == (None, 7, 6, 5)
    assert build(layers.Conv2D(6, 3, groups=3), (5, 5, 3)).params["kernel"].shape == \
        (6, 1, 3, 3)
    with pytest.raises(ValueError, match="groups=4 must divide filters=6"):
        layers.Conv2D(6, 3, groups=4)
    with pytest.raises(ValueError, match="must divide the input channels"):
        build(layers.Conv2D(6, 3, groups=2), (5, 5, 3))
    with pytest.raises(ValueError, match="output_padding"):
        layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)


@pytest.mark.parametrize("make, shape", ALL_LAYERS)
def test_config_round_trip(make, shape):
    layer = make()
    build(layer, shape)
    cfg = layer.get_config()
    import json
    json.dumps(cfg)  # JSON-serialisable
    clone = layers.deserialize(json.loads(json.dumps(layers.serialize(layer))))
    assert type(clone) is type(layer)
    assert clone.get_config() == cfg
    build(clone, shape)
    assert clone.output_shape == layer.output_shape
    clone.set_weights(layer.get_weights())
    x = internal_input(layer, 3, np.random.default_rng(0))
    np.testing.assert_array_equal(clone.call(x, False), layer.call(x, False))


def test_deserialize_rejects_unknown():
    with pytest.raises(ValueError, match="Conv3D"):
        layers.deserialize({"class_name": "Conv3D", "config": {}})
    with pytest.raises(ValueError, match="class_name"):
        layers.deserialize(["Dense"])


# ------------------------------------------------------------------ initializers

def test_initializers_seeded_and_scaled():
    rng = np.random.default_rng
    a = initializers.get("he_normal")((64, 32, 3, 3), "float64", rng(0), 288, 576)
    b = initializers.get("he_normal")((64, 32, 3, 3), "float64", rng(0), 288, 576)
    np.testing.assert_array_equal(a, b)
    assert abs(a.std() - math.sqrt(2 / 288)) / math.sqrt(2 / 288) < 0.05
    assert np.abs(a).max() <= 2 * math.sqrt(2 / 288) / 0.87962566103423978 + 1e-12
    g = initializers.GlorotUniform()((200, 300), "float32", rng(1), 300, 200)
    assert g.dtype == np.float32 and np.abs(g).max() <= math.sqrt(6 / 500)
    assert np.abs(g).max() > 0.95 * math.sqrt(6 / 500)
    hu = initializers.HeUniform()((100, 50), "float64", rng(2), 50, 100)
    assert np.abs(hu).max() <= math.sqrt(6 / 50)
    gn = initializers.GlorotNormal()((300, 300), "float64", rng(3), 300, 300)
    assert abs(gn.std() - math.sqrt(2 / 600)) / math.sqrt(2 / 600) < 0.05
    own = initializers.HeNormal(seed=7)
    np.testing.assert_array_equal(own((5, 5), rng=rng(1)), own((5, 5), rng=rng(2)))
    assert repr(initializers.get({"class_name": "HeNormal", "config": {"seed": 7}})) == \
        "HeNormal(seed=7)"
    with pytest.raises(ValueError, match="'bogus'"):
        initializers.get("bogus")
    with pytest.raises(TypeError, match="seed"):
        initializers.HeNormal(seed="x")


def test_conv_fans_use_receptive_field():
    conv = layers.Conv2D(16, 3, kernel_initializer="he_uniform")
    build(conv, (8, 8, 32))
    limit = math.sqrt(6 / (32 * 9))
    k = conv.params["kernel"]
    assert np.abs(k).max() <= limit and np.abs(k).max() > 0.9 * limit


# ------------------------------------------------------------------ gradient checks

GRAD_CASES = [
    ("conv valid", lambda: layers.Conv2D(3, 3), (5, 6, 2)),
    ("conv same even", lambda: layers.Conv2D(2, (2, 4), padding="same"), (5, 6, 2)),
    ("conv stride 2 same", lambda: layers.Conv2D(2, 3, strides=2, padding="same"), (6, 7, 2)),
    ("conv dilated", lambda: layers.Conv2D(2, 2, dilation_rate=2, padding=1), (5, 5, 2)),
    ("conv relu", lambda: layers.Conv2D(3, 3, padding="same", activation="relu"), (4, 4, 2)),
    ("conv leaky", lambda: layers.Conv2D(3, 3, activation="leaky_relu"), (4, 5, 2)),
    ("conv sigmoid", lambda: layers.Conv2D(2, 3, activation="sigmoid"), (4, 4, 2)),
    ("conv tanh", lambda: layers.Conv2D(2, 3, activation="tanh", use_bias=False), (4, 4, 2)),
    ("conv elu", lambda: layers.Conv2D(2, 3, activation="elu"), (4, 4, 2)),
    ("conv softmax", lambda: layers.Conv2D(3, 1, activation="softmax"), (3, 3, 2)),
    ("dense", lambda: layers.Dense(4), (5,)),
    ("dense relu", lambda: layers.Dense(4, activation="relu"), (5,)),
    ("dense softmax", lambda: layers.Dense(4, activation="softmax"), (5,)),
    ("dense sigmoid", lambda: layers.Dense(3, activation="sigmoid", use_bias=False), (5,)),
    ("dense tanh", lambda: layers.Dense(3, activation="tanh"), (5,)),
    ("dense elu", lambda: layers.Dense(3, activation="elu"), (5,)),
    ("dense leaky", lambda: layers.Dense(3, activation="leaky_relu"), (5,)),
    ("maxpool", lambda: layers.MaxPooling2D(2), (4, 6, 2)),
    ("maxpool same", lambda: layers.MaxPooling2D(3, strides=2, padding="same"), (5, 6, 2)),
    ("maxpool ceil", lambda: layers.MaxPooling2D(2, ceil_mode=True), (5, 5, 2)),
    ("avgpool", lambda: layers.AveragePooling2D(2), (4, 4, 2)),
    ("avgpool same", lambda: layers.AveragePooling2D(2, padding="same"), (5, 5, 2)),
    ("avgpool overlap", lambda: layers.AveragePooling2D(3, strides=1, padding=1), (4, 5, 2)),
    ("flatten", lambda: layers.Flatten(), (3, 4, 2)),
    ("bn images", lambda: layers.BatchNormalization(), (3, 3, 2)),
    ("bn vectors", lambda: layers.BatchNormalization(center=False), (4,)),
    ("relu", lambda: layers.ReLU(), (3, 3, 2)),
    ("leaky", lambda: layers.LeakyReLU(0.1), (5,)),
    ("elu", lambda: layers.ELU(0.7), (3, 3, 2)),
    ("sigmoid", lambda: layers.Activation("sigmoid"), (5,)),
    ("tanh", lambda: layers.Activation("tanh"), (3, 3, 2)),
    ("softmax", lambda: layers.Softmax(), (5,)),
    ("softmax act", lambda: layers.Activation("softmax"), (2, 2, 3)),
    ("maxout images", lambda: layers.Maxout(2), (3, 3, 4)),
    ("maxout vectors", lambda: layers.Maxout(3), (6,)),
]


@pytest.mark.parametrize("label, make, shape", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_gradcheck(label, make, shape):
    layer = build(make(), shape, seed=1)
    rng = np.random.default_rng(7)
    x = internal_input(layer, 3, rng)
    gradcheck(layer, x, training=True)


def test_gradcheck_bn_inference_mode():
    rng = np.random.default_rng(8)
    bn = build(layers.BatchNormalization(), (3, 3, 2))
    bn.buffers["moving_mean"][...] = rng.standard_normal(2)
    bn.buffers["moving_variance"][...] = rng.random(2) + 0.5
    bn.params["gamma"][...] = rng.standard_normal(2)
    gradcheck(bn, internal_input(bn, 3, rng), training=False)


def test_gradcheck_dropout_fixed_mask():
    drop = build(layers.Dropout(0.4), (3, 3, 2))

    def reset():
        drop._rng = np.random.default_rng(5)

    x = internal_input(drop, 4, np.random.default_rng(9))
    gx = gradcheck(drop, x, training=True, reset=reset)
    assert np.any(gx == 0)


def test_first_layer_skips_input_gradient():
    conv = build(layers.Conv2D(2, 3), (5, 5, 1))
    x = internal_input(conv, 2, np.random.default_rng(0))
    conv.call(x, True)
    conv._need_input_grad = False
    assert conv.backward(np.ones((2, 2, 3, 3))) is None
    assert conv.grads["kernel"].shape == (2, 1, 3, 3)


def test_float32_layers_stay_float32():
    rng = np.random.default_rng(0)
    for make, shape in ALL_LAYERS:
        layer = build(make(), shape, dtype="float32")
        x = internal_input(layer, 2, rng, np.float32)
        y = layer.call(x, True)
        assert y.dtype == np.float32, layer.name
        g = layer.backward(np.ones_like(y))
        assert g.dtype == np.float32, layer.name
        for name, gr in layer.grads.items():
            assert gr.dtype == np.float32, (layer.name, name)
