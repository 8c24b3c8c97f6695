"""Training: fit/evaluate/train_on_batch, History, validation, determinism, Ctrl-C,
optimisers (Keras update rules), losses, the progress bar."""
import io
import os
import signal

import numpy as np
import pytest

from fastconv import datasets, layers, losses, models, optimizers
from fastconv.progress import ProgressBar


@pytest.fixture(scope="module")
def digits():
    return datasets.load_digits()


def small(seed=0, **kw):
    m = models.small_cnn((8, 8, 1), 10, seed=seed)
    m.compile(optimizers.Adam(0.002), losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"], **kw)
    return m


def tiny(seed=0, dtype="float32"):
    m = models.Sequential([layers.Conv2D(4, 3, padding="same", activation="relu",
                                         input_shape=(8, 8, 1)),
                           layers.MaxPooling2D(2), layers.Flatten(), layers.Dense(10)],
                          seed=seed, dtype=dtype)
    m.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
    return m


# ------------------------------------------------------------------ fit / evaluate

def test_fit_learns_digits_and_history_keys(digits):
    (x, y), (xt, yt) = digits
    model = small()
    out = io.StringIO()
    hist = model.fit(x, y, epochs=4, batch_size=32, validation_data=(xt, yt), verbose=2,
                     stream=out)
    assert set(hist.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 4 for v in hist.history.values()) and hist.epoch == [0, 1, 2, 3]
    assert hist.history["loss"][-1] < hist.history["loss"][0]
    loss, acc = model.evaluate(xt, yt)
    assert acc > 0.9
    np.testing.assert_allclose([loss, acc], [hist.history["val_loss"][-1],
                                             hist.history["val_accuracy"][-1]], rtol=1e-6)
    text = out.getvalue()
    assert text.count("Epoch ") == 4 and "img/s" in text and "val_accuracy:" in text
    assert model.history is hist and not hist.interrupted


def test_validation_split_takes_the_last_samples(digits):
    (x, y), _ = digits
    x, y = x[:200], y[:200]
    model = tiny()
    hist = model.fit(x, y, epochs=1, validation_split=0.25, verbose=0)
    np.testing.assert_allclose(hist.history["val_loss"][0],
                               model.evaluate(x[150:], y[150:])[0], rtol=1e-6)
    with pytest.raises(ValueError, match="validation_split"):
        model.fit(x, y, validation_split=1.0, verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.fit(x[:1], y[:1], validation_split=0.5, verbose=0)


def test_same_seed_same_training(digits):
    (x, y), _ = digits
    x, y = x[:300], y[:300]
    runs = []
    for _ in range(2):
        m = small(seed=11)
        h = m.fit(x, y, epochs=2, batch_size=16, verbose=0)
        runs.append((h.history, m.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    other = small(seed=12).fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert other.history != runs[0][0]


def test_shuffle_false_uses_data_order(digits):
    (x, y), _ = digits
    x, y = x[:64], y[:64]
    a, b = tiny(seed=1), tiny(seed=1)
    a.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    for i in range(0, 64, 16):
        b.train_on_batch(x[i:i + 16], y[i:i + 16])
    assert all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_train_on_batch_reduces_loss_and_returns_metrics(digits):
    (x, y), _ = digits
    m = tiny()
    m.compile(optimizers.Adam(0.01), losses.SparseCategoricalCrossentropy(from_logits=True),
              ["accuracy"])
    first = m.train_on_batch(x[:32], y[:32])
    assert isinstance(first, list) and len(first) == 2
    for _ in range(30):
        last = m.train_on_batch(x[:32], y[:32])
    assert last[0] < first[0] * 0.5
    d = m.train_on_batch(x[:32], y[:32], return_dict=True)
    assert set(d) == {"loss", "accuracy"}
    m.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(m.train_on_batch(x[:8], y[:8]), float)


def test_evaluate_in_batches_matches_one_batch(digits):
    _, (xt, yt) = digits
    m = tiny()
    a = m.evaluate(xt, yt, batch_size=7)
    b = m.evaluate(xt, yt, batch_size=len(xt))
    np.testing.assert_allclose(a, b, rtol=1e-5)
    assert m.evaluate(xt, yt, return_dict=True).keys() == {"loss", "accuracy"}


def test_one_hot_targets_and_softmax_head(digits):
    (x, y), (xt, yt) = digits
    m = models.Sequential([layers.Flatten(input_shape=(8, 8, 1)),
                           layers.Dense(32, activation="relu"),
                           layers.Dense(10, activation="softmax")], seed=0)
    m.compile("adam", "categorical_crossentropy", ["accuracy"])
    h = m.fit(x, np.eye(10)[y], epochs=5, verbose=0)
    assert h.history["accuracy"][-1] > 0.8
    assert m.evaluate(xt, np.eye(10)[yt])[1] > 0.8
    p = m.predict(xt[:5])
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-5)


def test_augment_hook_is_used(digits):
    (x, y), _ = digits
    from fastconv import augment
    calls = []
    aug = augment.Augmenter(shift=1)

    def spy(batch, rng):
        calls.append(batch.shape)
        return aug(batch, rng)

    m = tiny()
    m.fit(x[:64], y[:64], epochs=1, batch_size=32, augment=spy, verbose=0)
    assert calls == [(32, 8, 8, 1), (32, 8, 8, 1)]


def test_batchnorm_moving_stats_update_in_fit(digits):
    (x, y), _ = digits
    m = models.Sequential([layers.Conv2D(4, 3, input_shape=(8, 8, 1)),
                           layers.BatchNormalization(), layers.Flatten(), layers.Dense(10)],
                          seed=0)
    m.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True))
    bn = m.layers[1]
    before = bn.buffers["moving_mean"].copy()
    m.fit(x[:128], y[:128], epochs=1, verbose=0)
    assert not np.array_equal(before, bn.buffers["moving_mean"])


def test_early_stopping_and_callbacks(digits):
    (x, y), _ = digits
    events = []

    class Recorder(models.Callback):
        def on_epoch_end(self, epoch, logs=None):
            events.append((epoch, sorted(logs)))

    stop = models.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    h = tiny().fit(x[:64], y[:64], epochs=5, verbose=0, callbacks=[Recorder(), stop])
    assert len(h.epoch) == 2 and stop.stopped_epoch == 1
    assert events[0] == (0, ["accuracy", "loss"])
    with pytest.raises(TypeError, match="Callback"):
        tiny().fit(x[:8], y[:8], callbacks=[print], verbose=0)


def test_fit_argument_errors(digits):
    (x, y), _ = digits
    m = tiny()
    with pytest.raises(ValueError, match="batch_size"):
        m.fit(x, y, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="epochs"):
        m.fit(x, y, epochs=-1, verbose=0)
    with pytest.raises(ValueError, match="10 samples in x but 9"):
        m.fit(x[:10], y[:9], verbose=0)
    with pytest.raises(ValueError, match="verbose"):
        m.fit(x[:10], y[:10], verbose=3)
    with pytest.raises(ValueError, match="validation_data"):
        m.fit(x[:10], y[:10], validation_data=x[:5], verbose=0)


# ------------------------------------------------------------------ Ctrl-C

@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler for the test (a shell starts background jobs with
    SIGINT ignored, and fit then leaves it so), put back after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_stops_between_batches(digits, python_sigint):
    (x, y), _ = digits
    m = tiny()
    out = io.StringIO()

    class CtrlC(models.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if self.params and len(self.model.history.epoch) == 1 and batch == 2:
                os.kill(os.getpid(), signal.SIGINT)

    h = m.fit(x[:320], y[:320], epochs=5, batch_size=32, verbose=2, stream=out,
              callbacks=[CtrlC()])
    assert h.interrupted and h.epoch == [0] and len(h.history["loss"]) == 1
    assert m.optimizer.iterations == 10 + 3  # one full epoch, then 3 batches: no partial step
    assert "interrupted" in out.getvalue() and "epoch 2" in out.getvalue()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
    p = m.predict(x[:5])
    assert np.all(np.isfinite(p))
    h2 = m.fit(x[:64], y[:64], epochs=1, verbose=0)  # still trainable
    assert not h2.interrupted and len(h2.epoch) == 1


def test_keyboard_interrupt_exception_is_handled(digits):
    (x, y), _ = digits

    class Boom(models.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                raise KeyboardInterrupt

    out = io.StringIO()
    m = tiny()
    h = m.fit(x[:128], y[:128], epochs=3, verbose=0, stream=out, callbacks=[Boom()])
    assert h.interrupted and h.epoch == []
    assert "interrupted" in out.getvalue()
    assert np.all(np.isfinite(m.predict(x[:4])))


# ------------------------------------------------------------------ optimisers

def _run(opt, p0, grads):
    p = p0.copy()
    for g in grads:
        opt.apply([p], [g])
    return p


def test_sgd_rules():
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(4)]
    # plain
    np.testing.assert_allclose(_run(optimizers.SGD(0.1), p0, grads), p0 - 0.1 * sum(grads))
    # momentum / nesterov, Keras's form
    for nesterov in (False, True):
        p, v = p0.copy(), np.zeros(5)
        for g in grads:
            v = 0.9 * v - 0.1 * g
            p = p + (0.9 * v - 0.1 * g if nesterov else v)
        np.testing.assert_allclose(_run(optimizers.SGD(0.1, 0.9, nesterov), p0, grads), p)
    # decoupled weight decay
    p = p0.copy()
    for g in grads:
        p = p - 0.1 * 0.01 * p
        p = p - 0.1 * g
    np.testing.assert_allclose(_run(optimizers.SGD(0.1, weight_decay=0.01), p0, grads), p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_list_update_is_bitwise_numpys_in_place_rule(dtype, momentum):
    """A list of C-contiguous parameters with matching gradients is updated by one kernel
    call: bitwise NumPy's ``s = g * lr; p -= s`` (with momentum ``v *= m; v -= s;
    p += v``) in the parameter's dtype, whatever the sizes (chunk edges included); a
    strided parameter sends the whole list through the NumPy rule, with the same bits."""
    rng = np.random.default_rng(4)
    shapes = [(7,), (3, 700), (513,), (0,), (2, 2, 3, 3), (300, 111)]  # the last: threads
    p0 = [rng.standard_normal(s).astype(dtype) for s in shapes]
    steps = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(3)]
    want, vel = [p.copy() for p in p0], [np.zeros_like(p) for p in p0]
    for grads in steps:
        for p, v, g in zip(want, vel, grads):
            s = np.multiply(g, 0.05)
            if momentum:
                v *= momentum
                v -= s
                p += v
            else:
                p -= s
    opt = optimizers.SGD(0.05, momentum)
    got = [p.copy() for p in p0]
    for grads in steps:
        opt.apply(got, grads)
    for a, b in zip(got, want):
        assert a.tobytes() == b.tobytes()
    opt = optimizers.SGD(0.05, momentum)
    big = np.zeros((3, 1400), dtype)
    strided = [p.copy() for p in p0]
    big[:, ::2] = strided[1]
    strided[1] = big[:, ::2]
    for grads in steps:
        opt.apply(strided, grads)
    for a, b in zip(strided, want):
        assert np.ascontiguousarray(a).tobytes() == b.tobytes()


def test_sgd_kernel_takes_mixed_dtypes_and_refuses_bad_lists():
    """The one-call SGD kernel: float32 and float64 parameters in one list (each updated in
    its own dtype); a list with any array it cannot take -- a gradient of another shape or
    dtype, an integer array, a strided or read-only parameter -- is left as it was (the
    kernel returns False and the optimiser takes NumPy's rule); lists of unequal length
    are an error."""
    from fastconv import _optim
    p32, p64 = np.ones((2, 3), np.float32), np.ones(5)
    g32, g64 = np.full((2, 3), 2, np.float32), np.full(5, 2.0)
    assert _optim.sgd([p32, p64], [g32, g64], None, 0.25, 0.0, 2) is True
    assert p32.dtype == np.float32 and (p32 == 0.5).all() and (p64 == 0.5).all()
    frozen = np.ones((2, 3), np.float32)
    frozen.flags.writeable = False
    bad = [([p32, p64], [g32, np.ones(4)]), ([p32], [g32.reshape(3, 2)]),
           ([p32], [g32.astype(np.float64)]), ([p32], [np.ones((2, 3), np.int32)]),
           ([np.ones((2, 6), np.float32)[:, ::2]], [g32]), ([frozen], [g32])]
    before = [a.copy() for a in (p32, p64, frozen)]
    for ps, gs in bad:
        assert _optim.sgd(ps, gs, None, 0.1, 0.0, 1) is False
    assert _optim.sgd([p32], [g32], [np.zeros(4, np.float32)], 0.1, 0.9, 1) is False
    for a, b in zip((p32, p64, frozen), before):
        assert a.tobytes() == b.tobytes()
    with pytest.raises(ValueError, match="1 parameters, 2 gradients"):
        _optim.sgd([p32], [g32, g32], None, 0.1, 0.0, 1)
    # the optimiser falls back to NumPy's rule for such a list, with its bits
    opt, p = optimizers.SGD(0.5), np.ones((2, 3), np.float32)
    opt.apply([p], [np.full((2, 3), 2.0)])
    assert p.dtype == np.float32 and (p == 0.0).all() and opt.iterations == 1


def test_adam_matches_keras_formula():
    rng = np.random.default_rng(1)
    p0 = rng.standard_normal((3, 4)).astype(np.float32)
    grads = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(5)]
    opt = optimizers.Adam()
    assert (opt.learning_rate, opt.beta_1, opt.beta_2, opt.epsilon) == (0.001, 0.9, 0.999, 1e-7)
    p, m, v = p0.astype(np.float64), 0.0, 0.0
    for t, g in enumerate(grads, 1):
        m = m + (g - m) * 0.1
        v = v + (g * g - v) * 0.001
        lr_t = 0.001 * np.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        p = p - lr_t * m / (np.sqrt(v) + 1e-7)
    got = _run(opt, p0, grads)
    assert got.dtype == np.float32 and opt.iterations == 5
    np.testing.assert_allclose(got, p, rtol=1e-5)


def test_rmsprop_rule():
    rng = np.random.default_rng(2)
    p0, grads = rng.standard_normal(4), [rng.standard_normal(4) for _ in range(3)]
    p, v = p0.copy(), np.zeros(4)
    for g in grads:
        v = 0.9 * v + 0.1 * g * g
        p = p - 0.001 * g / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(_run(optimizers.RMSprop(), p0, grads), p)


def test_optimizer_lookup_config_and_errors():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("SGD"), optimizers.SGD)
    sgd = optimizers.SGD(0.05, momentum=0.5, nesterov=True, weight_decay=1e-4)
    clone = optimizers.deserialize(optimizers.serialize(sgd))
    assert clone.get_config() == sgd.get_config()
    with pytest.raises(ValueError, match="'adamw'"):
        optimizers.get("adamw")
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(-1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Adam(beta_1=1.0)
    with pytest.raises(TypeError, match="nesterov"):
        optimizers.SGD(nesterov="yes")
    sched = optimizers.SGD(lambda it: 0.1 / (1 + it))
    p = np.ones(2)
    sched.apply([p], [np.ones(2)])
    sched.apply([p], [np.ones(2)])
    np.testing.assert_allclose(p, 1 - 0.1 - 0.05)


# ------------------------------------------------------------------ losses

def test_losses_values_and_gradients():
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((5, 4))
    y = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4)[y]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    ce = -np.log(p[np.arange(5), y]).mean()
    for loss, pred, target in [
        (losses.SparseCategoricalCrossentropy(from_logits=True), logits, y),
        (losses.SparseCategoricalCrossentropy(), p, y),
        (losses.CategoricalCrossentropy(from_logits=True), logits, onehot),
        (losses.CategoricalCrossentropy(), p, onehot),
    ]:
        np.testing.assert_allclose(loss(target, pred), ce, rtol=1e-10)
        g = loss.gradient(target, pred)
        num = np.zeros_like(pred)
        for i in np.ndindex(pred.shape):
            a, b = pred.copy(), pred.copy()
            a[i] += 1e-6
            b[i] -= 1e-6
            num[i] = (loss(target, a) - loss(target, b)) / 2e-6
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8)
    mse = losses.MeanSquaredError()
    np.testing.assert_allclose(mse(onehot, p), ((onehot - p) ** 2).mean())
    np.testing.assert_allclose(mse.gradient(onehot, p), 2 * (p - onehot) / p.size)


def test_loss_lookup_and_errors():
    assert isinstance(losses.get("sparse_categorical_crossentropy"),
                      losses.SparseCategoricalCrossentropy)
    assert losses.get("categorical_crossentropy").from_logits is False
    with pytest.raises(ValueError, match="'hinge'"):
        losses.get("hinge")
    with pytest.raises(TypeError, match="from_logits"):
        losses.SparseCategoricalCrossentropy(from_logits="yes")
    sce = losses.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(ValueError, match="label -1"):
        sce(np.array([-1, 0]), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="CategoricalCrossentropy"):
        sce(np.eye(3), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="whole numbers"):
        sce(np.array([0.5, 1.0]), np.zeros((2, 3)))
    np.testing.assert_array_equal(sce.prepare_targets(np.array([[1], [2]])), [1, 2])


def test_stable_with_huge_logits():
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    logits = np.array([[1000.0, -1000.0], [-1000.0, 1000.0]])
    assert loss(np.array([0, 1]), logits) == 0.0
    assert np.isfinite(loss(np.array([1, 0]), logits))


def test_fused_softmax_matches_logits_training(digits):
    (x, y), _ = digits
    a = models.Sequential([layers.Flatten(input_shape=(8, 8, 1)), layers.Dense(10)], seed=0,
                          dtype="float64")
    b = models.Sequential([layers.Flatten(input_shape=(8, 8, 1)),
                           layers.Dense(10, activation="softmax")], seed=0, dtype="float64")
    a.compile(optimizers.SGD(0.5), losses.SparseCategoricalCrossentropy(from_logits=True))
    b.compile(optimizers.SGD(0.5), losses.SparseCategoricalCrossentropy())
    for i in range(0, 96, 32):
        la = a.train_on_batch(x[i:i + 32], y[i:i + 32])
        lb = b.train_on_batch(x[i:i + 32], y[i:i + 32])
        np.testing.assert_allclose(la, lb, rtol=1e-12)
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ progress bar

class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_modes():
    quiet = io.StringIO()
    bar = ProgressBar(3, verbose=0, stream=quiet)
    bar.update(1, {"loss": 1.0}, 10)
    bar.finish({"loss": 1.0})
    assert quiet.getvalue() == ""

    pipe = io.StringIO()  # not a terminal: one line per epoch only
    bar = ProgressBar(3, verbose=1, stream=pipe)
    for i in range(3):
        bar.update(i + 1, {"loss": 0.5}, 10 * (i + 1))
    bar.finish({"loss": 0.5, "accuracy": 0.75})
    text = pipe.getvalue()
    assert text.count("\n") == 1 and "\r" not in text
    assert "3/3 [==============================]" in text and "img/s" in text
    assert "loss: 0.5000 - accuracy: 0.7500" in text

    tty = FakeTTY()  # a terminal: the bar is redrawn in place
    bar = ProgressBar(4, verbose=1, stream=tty, interval=0.0)
    for i in range(4):
        bar.update(i + 1, {"loss": 0.1}, 8 * (i + 1))
    bar.finish({"loss": 0.1})
    assert tty.getvalue().count("\r") >= 4 and tty.getvalue().endswith("\n")
    assert "1/4 [======>." in tty.getvalue()


def test_fit_verbose_zero_is_silent(digits, capsys):
    (x, y), _ = digits
    tiny().fit(x[:64], y[:64], epochs=2, verbose=0)
    assert capsys.readouterr().out == ""
