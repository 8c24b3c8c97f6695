"""fastconv.reference against torch.nn.functional (skipped when torch is not installed).

Every op, forward and backward, in float64 over hypothesis-randomised shapes and options:
stride, padding (ints, pairs, 'same', 'valid'), dilation, ceil_mode, count_include_pad,
batch 1, 1x1 images, kernels as large as the padded input.  Where PyTorch refuses a
geometry the reference must refuse it too (ValueError).
"""
import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from fastconv import reference as ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

RTOL = 1e-10
ATOL = 1e-11
SETTINGS = settings(max_examples=30, deadline=None)


def close(actual, expected, what=""):
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert actual.dtype == np.float64, f"{what}: dtype {actual.dtype}"
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=what)


def leaf(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def _note(label):
    """Record a hypothesis event (shown by --hypothesis-show-statistics) when inside @given."""
    if currently_in_test_context():
        event(label)


def torch_or_error(fn):
    """``(result, None)`` or ``(None, exception)`` for a torch call."""
    try:
        return fn(), None
    except (RuntimeError, ValueError) as exc:
        return None, exc


ints_or_pairs = lambda lo, hi: st.one_of(  # noqa: E731
    st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi)))


# ----------------------------------------------------------------------------- conv2d

@st.composite
def conv_cases(draw):
    N, C, K = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    R, S = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dilation = draw(ints_or_pairs(1, 2))
    padding = draw(st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2)),
                             st.sampled_from(["same", "valid"])))
    stride = 1 if padding == "same" else draw(ints_or_pairs(1, 3))
    bias = draw(st.booleans())
    seed = draw(st.integers(0, 2**31))
    return (N, C, H, W), (K, C, R, S), bias, dict(stride=stride, padding=padding,
                                                  dilation=dilation), seed


def _check_conv(xshape, wshape, use_bias, opts, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xshape)
    w = rng.standard_normal(wshape)
    b = rng.standard_normal(wshape[0]) if use_bias else None
    xt, wt = leaf(x), leaf(w)
    bt = leaf(b) if use_bias else None
    yt, err = torch_or_error(lambda: F.conv2d(xt, wt, bt, **opts))
    _note("refused" if err is not None else "computed")
    if err is not None:
        with pytest.raises(ValueError):
            ref.conv2d(x, w, b, **opts)
        return
    y = ref.conv2d(x, w, b, **opts)
    close(y, yt, "conv2d forward")
    G = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(G))
    gx, gw, gb = ref.conv2d_backward(G, x, w, **opts)
    close(gx, xt.grad, "conv2d grad_x")
    close(gw, wt.grad, "conv2d grad_weight")
    if use_bias:
        close(gb, bt.grad, "conv2d grad_bias")
    else:
        close(gb, G.sum(axis=(0, 2, 3)), "conv2d grad_bias")


@SETTINGS
@given(conv_cases())
def test_conv2d_matches_torch(case):
    _check_conv(*case)


@SETTINGS
@given(H=st.integers(1, 6), W=st.integers(1, 6), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dh=st.integers(1, 2), dw=st.integers(1, 2), C=st.integers(1, 2),
       seed=st.integers(0, 2**31))
def test_conv2d_kernel_fills_padded_input(H, W, ph, pw, dh, dw, C, seed):
    """A (dilated) kernel exactly as large as the padded input: a 1x1 output."""
    assume((H + 2 * ph - 1) % dh == 0 and (W + 2 * pw - 1) % dw == 0)
    R, S = (H + 2 * ph - 1) // dh + 1, (W + 2 * pw - 1) // dw + 1
    opts = dict(stride=1, padding=(ph, pw), dilation=(dh, dw))
    assert ref.conv2d(np.zeros((1, C, H, W)), np.zeros((2, C, R, S)), **opts).shape == (1, 2, 1, 1)
    _check_conv((1, C, H, W), (2, C, R, S), True, opts, seed)
    # one more row of kernel is refused by both
    _check_conv((1, C, H, W), (2, C, R + 1, S), True, opts, seed)


@pytest.mark.parametrize("opts", [dict(padding="same", dilation=d) for d in (1, 2, 3)]
                         + [dict(padding="same", dilation=(1, 2))])
@pytest.mark.parametrize("kshape", [(1, 1), (2, 2), (2, 3), (4, 1), (3, 5)])
def test_conv2d_same_padding_matches_torch(opts, kshape):
    _check_conv((2, 2, 5, 6), (3, 2) + kshape, True, opts, 7)


def test_conv2d_one_by_one_image():
    _check_conv((1, 3, 1, 1), (4, 3, 1, 1), True, dict(), 0)
    _check_conv((1, 3, 1, 1), (4, 3, 3, 3), True, dict(padding=1), 1)
    _check_conv((1, 3, 1, 1), (4, 3, 3, 3), True, dict(padding="same"), 2)


# ----------------------------------------------------------------------------- pooling

@st.composite
def pool_cases(draw, allow_bad_padding=False):
    N, C = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    extra = 1 if allow_bad_padding else 0
    ph, pw = draw(st.integers(0, kh // 2 + extra)), draw(st.integers(0, kw // 2 + extra))
    kernel = kh if kh == kw and draw(st.booleans()) else (kh, kw)
    padding = ph if ph == pw and draw(st.booleans()) else (ph, pw)
    stride = draw(st.one_of(st.none(), ints_or_pairs(1, 4)))
    opts = dict(kernel_size=kernel, stride=stride, padding=padding,
                ceil_mode=draw(st.booleans()))
    ties = draw(st.booleans())
    seed = draw(st.integers(0, 2**31))
    return (N, C, H, W), opts, ties, seed


def _emulated_pool(kind, xt, opts):
    """``(y, None)``: pooling with any per-side padding built from torch ops that take no
    padding (explicit F.pad, then a sum or max over windows, divisors from a mask), when
    the reference defines the geometry; ``(None, ValueError)`` when it does not. Keras's
    'same' needs ``opts['padding']`` already resolved to per-side pairs."""
    x = xt.detach().numpy()
    try:   # the reference's output size (and its refusal) is what is being emulated
        y_ref = getattr(ref, kind + "_pool2d")(x, **opts)
    except ValueError as exc:
        return None, exc
    k = opts["kernel_size"]
    kh, kw = (k, k) if isinstance(k, int) else k
    st = opts.get("stride") or (kh, kw)
    sh, sw = (st, st) if isinstance(st, int) else st
    d = opts.get("dilation", 1)
    dh, dw = (d, d) if isinstance(d, int) else d
    p = opts.get("padding", 0)
    if isinstance(p, int):
        p = (p, p)
    (pt, pb), (pl, pr) = (p if isinstance(p[0], (tuple, list)) else ((p[0], p[0]), (p[1], p[1])))
    H, W = x.shape[2:]
    Ho, Wo = y_ref.shape[2:]
    eb = max(pb, (Ho - 1) * sh + dh * (kh - 1) + 1 - H - pt)   # room for ceil_mode windows
    er = max(pr, (Wo - 1) * sw + dw * (kw - 1) + 1 - W - pl)
    kwargs = dict(kernel_size=(kh, kw), stride=(sh, sw))
    if kind == "max":
        xp = F.pad(xt, (pl, er, pt, eb), value=-float("inf"))
        return F.max_pool2d(xp, dilation=(dh, dw), **kwargs)[:, :, :Ho, :Wo], None
    mask = torch.zeros((1, 1, H + pt + eb, W + pl + er), dtype=torch.float64)
    if opts.get("count_include_pad", True):
        mask[:, :, :H + pt + pb, :W + pl + pr] = 1
    else:
        mask[:, :, pt:pt + H, pl:pl + W] = 1
    total = F.avg_pool2d(F.pad(xt, (pl, er, pt, eb)), **kwargs)[:, :, :Ho, :Wo]
    return total / F.avg_pool2d(mask, **kwargs)[:, :, :Ho, :Wo], None


def _pool_input(shape, ties, seed):
    rng = np.random.default_rng(seed)
    if ties:   # few distinct values: ties in most windows, first maximum must win
        return rng.integers(-2, 2, size=shape).astype(np.float64), rng
    return rng.standard_normal(shape), rng


def _check_max_pool(shape, opts, ties, seed):
    x, rng = _pool_input(shape, ties, seed)
    xt = leaf(x)
    yt, err = torch_or_error(lambda: F.max_pool2d(xt, **opts))
    _note("refused" if err is not None else "computed")
    if err is not None and "at most half" in str(err):
        # Beyond PyTorch: defined when every window overlaps the input (pad-then-pool).
        yt, err = _emulated_pool("max", xt, opts)
    if err is not None:
        with pytest.raises(ValueError):
            ref.max_pool2d(x, **opts)
        return
    y = ref.max_pool2d(x, **opts)
    close(y, yt, "max_pool2d forward")
    G = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(G))
    close(ref.max_pool2d_backward(G, x, **opts), xt.grad, "max_pool2d backward")


def _check_avg_pool(shape, opts, seed):
    x, rng = _pool_input(shape, False, seed)
    xt = leaf(x)
    yt, err = torch_or_error(lambda: F.avg_pool2d(xt, **opts))
    if err is not None and "at most half" in str(err):
        yt, err = _emulated_pool("avg", xt, opts)
    if err is not None:
        with pytest.raises(ValueError):
            ref.avg_pool2d(x, **opts)
        return
    y = ref.avg_pool2d(x, **opts)
    close(y, yt, "avg_pool2d forward")
    G = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(G))
    close(ref.avg_pool2d_backward(G, x, **opts), xt.grad, "avg_pool2d backward")


@SETTINGS
@given(pool_cases())
def test_max_pool2d_matches_torch(case):
    _check_max_pool(*case)


@SETTINGS
@given(pool_cases(), st.booleans())
def test_avg_pool2d_matches_torch(case, count_include_pad):
    shape, opts, _, seed = case
    _check_avg_pool(shape, dict(opts, count_include_pad=count_include_pad), seed)


@SETTINGS
@given(pool_cases(allow_bad_padding=True), st.booleans())
def test_pool_refuses_what_torch_refuses(case, count_include_pad):
    shape, opts, ties, seed = case
    _check_max_pool(shape, opts, ties, seed)
    _check_avg_pool(shape, dict(opts, count_include_pad=count_include_pad), seed)


@pytest.mark.parametrize("shape,opts", [
    ((1, 1, 6, 6), dict(kernel_size=2, stride=4, padding=1, ceil_mode=True)),  # window dropped
    ((1, 1, 5, 5), dict(kernel_size=2, stride=2, ceil_mode=True)),             # 5x5 -> 3x3 with ceil_mode
    ((1, 1, 1, 1), dict(kernel_size=1)),
    ((1, 1, 1, 1), dict(kernel_size=2, padding=1)),
    ((1, 1, 1, 1), dict(kernel_size=3, padding=1, stride=1)),
    ((1, 1, 2, 2), dict(kernel_size=3, stride=2, ceil_mode=True)),  # torch allows this one
    ((2, 1, 3, 4), dict(kernel_size=(3, 4))),                       # kernel == input
    ((2, 1, 3, 4), dict(kernel_size=(5, 6), padding=(1, 1))),       # kernel == padded input
    ((1, 2, 7, 7), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)),
])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_pool_edge_cases_match_torch(shape, opts, count_include_pad):
    _check_max_pool(shape, opts, False, 3)
    _check_max_pool(shape, opts, True, 4)
    _check_avg_pool(shape, dict(opts, count_include_pad=count_include_pad), 5)


# ----------------------------------------------------------------------------- activations

@st.composite
def activation_inputs(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    seed = draw(st.integers(0, 2**31))
    scale = draw(st.sampled_from([1.0, 10.0, 1000.0]))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * scale
    x[rng.random(shape) < 0.2] = 0.0                      # exact zeros: the kinks
    return x, rng.standard_normal(shape)


ACTS = [
    ("relu", {}, lambda t, kw: F.relu(t)),
    ("leaky_relu", {}, lambda t, kw: F.leaky_relu(t)),
    ("leaky_relu", {"negative_slope": 0.1}, lambda t, kw: F.leaky_relu(t, **kw)),
    ("leaky_relu", {"negative_slope": 1.7}, lambda t, kw: F.leaky_relu(t, **kw)),
    ("sigmoid", {}, lambda t, kw: torch.sigmoid(t)),
    ("tanh", {}, lambda t, kw: torch.tanh(t)),
    ("elu", {}, lambda t, kw: F.elu(t)),
    ("elu", {"alpha": 0.3}, lambda t, kw: F.elu(t, **kw)),
    ("elu", {"alpha": 2.5}, lambda t, kw: F.elu(t, **kw)),
]


@pytest.mark.parametrize("name,kw,tfn", ACTS, ids=[f"{a}{b}" for a, b, _ in ACTS])
@settings(max_examples=15, deadline=None)      # x9 parametrisations
@given(data=activation_inputs())
def test_activation_matches_torch(name, kw, tfn, data):
    x, G = data
    xt = leaf(x)
    yt = tfn(xt, kw)
    close(getattr(ref, name)(x, **kw), yt, f"{name} forward")
    yt.backward(torch.tensor(G))
    close(getattr(ref, name + "_backward")(G, x, **kw), xt.grad, f"{name} backward")


@SETTINGS
@given(N=st.integers(1, 3), groups=st.integers(1, 3), pieces=st.integers(1, 4),
       spatial=st.sampled_from([(), (1, 1), (2, 3)]), seed=st.integers(0, 2**31))
def test_maxout_matches_torch(N, groups, pieces, spatial, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, groups * pieces) + spatial)
    xt = leaf(x)
    yt = xt.reshape((N, groups, pieces) + spatial).max(dim=2).values
    close(ref.maxout(x, pieces), yt, "maxout forward")
    G = rng.standard_normal(yt.shape)
    yt.backward(torch.tensor(G))
    close(ref.maxout_backward(G, x, pieces), xt.grad, "maxout backward")


# ----------------------------------------------------------------------------- linear

@SETTINGS
@given(lead=st.sampled_from([(1,), (4,), (2, 3)]), fin=st.integers(1, 6),
       fout=st.integers(1, 5), use_bias=st.booleans(), seed=st.integers(0, 2**31))
def test_linear_matches_torch(lead, fin, fout, use_bias, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(lead + (fin,)), rng.standard_normal((fout, fin))
    b = rng.standard_normal(fout) if use_bias else None
    xt, wt = leaf(x), leaf(w)
    bt = leaf(b) if use_bias else None
    yt = F.linear(xt, wt, bt)
    y = ref.linear(x, w, b)
    close(y, yt, "linear forward")
    G = rng.standard_normal(y.shape)
    yt.backward(torch.tensor(G))
    gx, gw, gb = ref.linear_backward(G, x, w)
    close(gx, xt.grad, "linear grad_x")
    close(gw, wt.grad, "linear grad_weight")
    if use_bias:
        close(gb, bt.grad, "linear grad_bias")


# ----------------------------------------------------------------------------- softmax / CE

@SETTINGS
@given(shape=st.sampled_from([(1, 1), (3, 5), (2, 3, 4)]), axis=st.integers(-1, 1),
       scale=st.sampled_from([1.0, 50.0, 1000.0]), seed=st.integers(0, 2**31))
def test_softmax_matches_torch(shape, axis, scale, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * scale
    xt = leaf(x)
    yt = torch.softmax(xt, dim=axis)
    close(ref.softmax(x, axis), yt, "softmax forward")
    close(ref.log_softmax(x, axis), torch.log_softmax(xt, dim=axis), "log_softmax")
    G = rng.standard_normal(shape)
    yt.backward(torch.tensor(G))
    close(ref.softmax_backward(G, x, axis), xt.grad, "softmax backward")


@SETTINGS
@given(N=st.integers(1, 6), K=st.integers(1, 6), kind=st.sampled_from(["labels", "onehot",
                                                                        "probs"]),
       scale=st.sampled_from([1.0, 30.0, 1000.0]), seed=st.integers(0, 2**31))
def test_cross_entropy_matches_torch(N, K, kind, scale, seed):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((N, K)) * scale
    labels = rng.integers(0, K, size=N)
    if kind == "labels":
        target, target_t = labels, torch.tensor(labels)
    else:
        target = np.eye(K)[labels] if kind == "onehot" else rng.dirichlet(np.ones(K), size=N)
        target_t = torch.tensor(target)
    lt = leaf(logits)
    loss_t = F.cross_entropy(lt, target_t)
    loss = ref.cross_entropy(logits, target)
    assert np.ndim(loss) == 0 and np.asarray(loss).dtype == np.float64
    np.testing.assert_allclose(loss, loss_t.item(), rtol=RTOL, atol=ATOL)
    loss_t.backward()
    close(ref.cross_entropy_backward(logits, target), lt.grad, "cross_entropy backward")


# ----------------------------------------------------------------------------- dropout

def test_dropout_uses_torch_scaling_convention():
    x = np.ones((100, 100))
    y_t = F.dropout(torch.tensor(x), p=0.3, training=True).numpy()
    y, mask = ref.dropout(x, 0.3, rng=0)
    assert set(np.unique(y_t)) == set(np.unique(y)) == set(np.unique(mask))
    xt = leaf(x)
    out_t = F.dropout(xt, p=0.3, training=False)
    y_eval, mask_eval = ref.dropout(x, 0.3, training=False)
    assert mask_eval is None
    close(y_eval, out_t, "dropout eval")
    # the backward is grad * mask, as torch's (y = x * mask is linear in x)
    xt = leaf(x)
    (xt * torch.tensor(mask)).backward(torch.tensor(x * 2))
    close(ref.dropout_backward(x * 2, mask, 0.3), xt.grad, "dropout backward")


# ----------------------------------------------------------------------------- batch norm

@SETTINGS
@given(N=st.integers(1, 3), C=st.integers(1, 3), H=st.integers(1, 4), W=st.integers(1, 4),
       momentum=st.sampled_from([0.1, 0.5, 1.0]), eps=st.sampled_from([1e-5, 1e-3]),
       seed=st.integers(0, 2**31))
def test_batch_norm2d_matches_torch(N, C, H, W, momentum, eps, seed):
    assume(N * H * W > 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)) * 3 + rng.standard_normal((1, C, 1, 1))
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    rm, rv = rng.standard_normal(C), rng.random(C) + 0.5
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    xt, gt, bt = leaf(x), leaf(gamma), leaf(beta)
    yt = F.batch_norm(xt, rm_t, rv_t, gt, bt, True, momentum, eps)
    y = ref.batch_norm2d(x, gamma, beta, rm, rv, True, momentum, eps)
    close(y, yt, "batch_norm2d training forward")
    close(rm, rm_t, "running_mean")
    close(rv, rv_t, "running_var")
    G = rng.standard_normal(x.shape)
    yt.backward(torch.tensor(G))
    gx, gg, gb = ref.batch_norm2d_backward(G, x, gamma, eps)
    close(gx, xt.grad, "batch_norm2d grad_x")
    close(gg, gt.grad, "batch_norm2d grad_gamma")
    close(gb, bt.grad, "batch_norm2d grad_beta")
    # evaluation mode: the running statistics, left untouched
    ye_t = F.batch_norm(torch.tensor(x), rm_t, rv_t, torch.tensor(gamma), torch.tensor(beta),
                        False, momentum, eps)
    before = rm.copy(), rv.copy()
    close(ref.batch_norm2d(x, gamma, beta, rm, rv, False, momentum, eps), ye_t,
          "batch_norm2d eval forward")
    np.testing.assert_array_equal(rm, before[0])
    np.testing.assert_array_equal(rv, before[1])


# ----------------------------------------------------------------------------- flatten

@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 2**31))
def test_flatten_matches_torch(shape, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    xt = leaf(x)
    yt = torch.flatten(xt, 1) if x.ndim > 1 else xt.reshape(-1, 1)
    close(ref.flatten(x), yt, "flatten forward")
    G = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(G))
    close(ref.flatten_backward(G, x.shape), xt.grad, "flatten backward")


@st.composite
def per_side_pool_cases(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pads = tuple((draw(st.integers(0, k)), draw(st.integers(0, k))) for k in (kh, kw))
    opts = dict(kernel_size=(kh, kw), stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
                padding=pads, ceil_mode=draw(st.booleans()))
    shape = (1, 2, draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    return shape, opts, draw(st.tuples(st.integers(1, 2), st.integers(1, 2))), draw(st.booleans())


@SETTINGS
@given(per_side_pool_cases(), st.booleans())
def test_per_side_wide_and_dilated_pooling_match_torch_pad_then_pool(case, count_include_pad):
    """Per-side padding, padding wider than half the window and max dilation: the
    reference against explicit F.pad followed by unpadded torch pooling."""
    shape, opts, dilation, ties = case
    x, rng = _pool_input(shape, ties, 7)
    for kind, extra in (("max", dict(dilation=dilation)),
                        ("avg", dict(count_include_pad=count_include_pad))):
        o = dict(opts, **extra)
        xt = leaf(x)
        yt, err = _emulated_pool(kind, xt, o)
        if err is not None:
            continue
        y = getattr(ref, kind + "_pool2d")(x, **o)
        close(y, yt, f"{kind}_pool2d per-side")
        G = rng.standard_normal(y.shape)
        yt.backward(torch.tensor(G))
        close(getattr(ref, kind + "_pool2d_backward")(G, x, **o), xt.grad, f"{kind} backward")
