"""Tests for fastconv.augment: seeded flips, shifts and crops on (N, H, W, C) batches."""
import numpy as np
import pytest

from fastconv import augment


def batch(n=8, h=6, w=7, c=3, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    # strictly positive values so that zero fill is distinguishable from content
    return (rng.random((n, h, w, c)) + 0.5).astype(dtype)


def shift_by(img, dy, dx):
    """Reference: out[r, c] = img[r - dy, c - dx], zero outside (one image, H, W, C)."""
    h, w = img.shape[:2]
    out = np.zeros_like(img)
    for r in range(h):
        for c in range(w):
            if 0 <= r - dy < h and 0 <= c - dx < w:
                out[r, c] = img[r - dy, c - dx]
    return out


def find_shift(img, out, max_shift):
    """The (dy, dx) for which out == shift_by(img, dy, dx), or None."""
    for dy in range(-max_shift, max_shift + 1):
        for dx in range(-max_shift, max_shift + 1):
            if np.array_equal(out, shift_by(img, dy, dx)):
                return dy, dx
    return None


# ----------------------------------------------------------------------------------------
# random_flip
# ----------------------------------------------------------------------------------------

def test_flip_is_exact_mirror_or_copy():
    x = batch(32)
    y = augment.random_flip(x, np.random.default_rng(1))
    flipped = 0
    for xi, yi in zip(x, y):
        if np.array_equal(yi, xi[:, ::-1, :]):
            flipped += 1
        else:
            np.testing.assert_array_equal(yi, xi)
    assert 0 < flipped < 32
    assert y.dtype == x.dtype and y.shape == x.shape


def test_flip_probability_extremes():
    x = batch(5)
    np.testing.assert_array_equal(augment.random_flip(x, 0, p=1.0), x[:, :, ::-1, :])
    np.testing.assert_array_equal(augment.random_flip(x, 0, p=0.0), x)


def test_flip_twice_with_p1_is_identity():
    x = batch(4)
    y = augment.random_flip(augment.random_flip(x, 3, p=1), 4, p=1)
    np.testing.assert_array_equal(y, x)


# ----------------------------------------------------------------------------------------
# random_shift / random_crop
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_shift", [0, 1, 2, 3])
def test_shift_preserves_content_within_bounds(max_shift):
    x = batch(12, h=6, w=7)
    y = augment.random_shift(x, max_shift, 7)
    assert y.shape == x.shape and y.dtype == x.dtype
    shifts = [find_shift(xi, yi, max_shift) for xi, yi in zip(x, y)]
    assert all(s is not None for s in shifts), shifts
    if max_shift >= 2:
        assert len(set(shifts)) > 1          # per-image offsets, not one for the batch


def test_shift_zero_is_copy():
    x = batch(3)
    y = augment.random_shift(x, 0, 1)
    np.testing.assert_array_equal(y, x)
    assert y is not x


def test_shift_pair_limits_each_axis():
    x = batch(16, h=6, w=7)
    y = augment.random_shift(x, (0, 2), 5)
    for xi, yi in zip(x, y):
        dy, dx = find_shift(xi, yi, 2)
        assert dy == 0 and abs(dx) <= 2


def test_shift_moves_pixels_in_the_stated_direction():
    x = np.zeros((200, 5, 5, 1), dtype=np.float64)
    x[:, 2, 2, 0] = 1.0                      # a single bright pixel in the centre
    y = augment.random_shift(x, 2, 11)
    pos = [tuple(np.argwhere(yi[..., 0] == 1.0)[0]) for yi in y]
    offsets = {(r - 2, c - 2) for r, c in pos}
    assert offsets == {(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)}
    assert np.all(y.sum(axis=(1, 2, 3)) == 1.0)


@pytest.mark.parametrize("padding", [1, 2, 4])
def test_crop_is_a_bounded_shift(padding):
    x = batch(10, h=8, w=8)
    y = augment.random_crop(x, padding, 3)
    for xi, yi in zip(x, y):
        assert find_shift(xi, yi, padding) is not None


def test_crop_with_padding_larger_than_image():
    x = batch(30, h=2, w=2, c=1)
    y = augment.random_crop(x, 3, 0)
    assert y.shape == x.shape
    # every output pixel is either zero fill or one of that image's own pixels
    for xi, yi in zip(x, y):
        assert set(yi.ravel()) <= set(xi.ravel()) | {0.0}
    assert np.any(y == 0) and np.any(y != 0)


def test_crop_zero_padding_is_copy():
    x = batch(3)
    np.testing.assert_array_equal(augment.random_crop(x, 0, 9), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int64])
def test_dtypes_preserved(dtype):
    x = (batch(4) * 10).astype(dtype)
    for y in (augment.random_flip(x, 0), augment.random_shift(x, 1, 0),
              augment.random_crop(x, 2, 0), augment.Augmenter(flip=True, crop=1)(x, 0)):
        assert y.dtype == x.dtype and y.shape == x.shape


def test_empty_batch():
    x = np.zeros((0, 4, 4, 1), dtype=np.float32)
    assert augment.random_flip(x, 0).shape == x.shape
    assert augment.random_shift(x, 1, 0).shape == x.shape
    assert augment.random_crop(x, 1, 0).shape == x.shape
    assert augment.Augmenter(flip=True, shift=1)(x, 0).shape == x.shape


# ----------------------------------------------------------------------------------------
# determinism and input safety
# ----------------------------------------------------------------------------------------

FUNCS = [
    lambda x, rng: augment.random_flip(x, rng),
    lambda x, rng: augment.random_shift(x, 2, rng),
    lambda x, rng: augment.random_crop(x, 2, rng),
    lambda x, rng: augment.Augmenter(flip=True, crop=2)(x, rng),
    lambda x, rng: augment.compose(augment.RandomShift(1), augment.RandomFlip(0.3))(x, rng),
]


@pytest.mark.parametrize("f", FUNCS)
def test_same_seed_same_result(f):
    x = batch(16)
    np.testing.assert_array_equal(f(x, 123), f(x, 123))
    np.testing.assert_array_equal(f(x, np.random.default_rng(5)),
                                  f(x, np.random.default_rng(5)))
    np.testing.assert_array_equal(f(x, 5), f(x, np.random.default_rng(5)))


@pytest.mark.parametrize("f", FUNCS)
def test_different_seeds_differ(f):
    x = batch(16)
    assert not np.array_equal(f(x, 1), f(x, 2))


def test_generator_is_advanced():
    x = batch(16)
    rng = np.random.default_rng(0)
    a = augment.random_shift(x, 2, rng)
    b = augment.random_shift(x, 2, rng)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("f", FUNCS)
def test_input_unchanged_and_output_new(f):
    x = batch(8)
    before = x.copy()
    y = f(x, 0)
    np.testing.assert_array_equal(x, before)
    assert not np.shares_memory(x, y)
    y[...] = -1                           # writing the output must not touch the input
    np.testing.assert_array_equal(x, before)


def test_non_contiguous_and_readonly_input():
    base = batch(8, w=14)
    x = base[:, :, ::2, :]                # non-contiguous view
    x.flags.writeable = False
    for f in FUNCS:
        y = f(x, 4)
        assert y.shape == x.shape
    np.testing.assert_array_equal(augment.random_flip(x, 0, p=1.0), x[:, :, ::-1, :])


def test_list_input_accepted():
    x = batch(2, h=3, w=3, c=1)
    y = augment.random_flip(x.tolist(), 0, p=1.0)
    np.testing.assert_array_equal(y, x[:, :, ::-1, :].astype(np.float64))


# ----------------------------------------------------------------------------------------
# Augmenter / compose
# ----------------------------------------------------------------------------------------

def test_empty_augmenter_returns_copy():
    x = batch(3)
    aug = augment.Augmenter()
    y = aug(x, 0)
    np.testing.assert_array_equal(y, x)
    assert y is not x and not np.shares_memory(x, y)
    assert len(aug) == 0


def test_augmenter_keywords_build_the_chain():
    aug = augment.Augmenter(flip=True, shift=1, crop=(2, 3))
    kinds = [type(t) for t in aug.transforms]
    assert kinds == [augment.RandomCrop, augment.RandomShift, augment.RandomFlip]
    assert aug.transforms[0].padding == (2, 3)
    assert "RandomFlip(p=0.5)" in repr(aug)
    assert len(augment.Augmenter(flip=0.25)) == 1
    assert augment.Augmenter(flip=0.25).transforms[0].p == 0.25
    assert len(augment.Augmenter(flip=False, shift=0, crop=0)) == 0


def test_augmenter_matches_manual_chain():
    x = batch(10)
    aug = augment.compose(augment.RandomCrop(2), augment.RandomFlip())
    rng = np.random.default_rng(42)
    expected = augment.random_flip(augment.random_crop(x, 2, rng), rng)
    np.testing.assert_array_equal(aug(x, 42), expected)
    assert [type(t) for t in augment.Augmenter([augment.RandomFlip()]).transforms] == \
        [augment.RandomFlip]


def test_augmenter_accepts_custom_callables():
    x = batch(4)
    aug = augment.Augmenter(lambda b, rng: b * 2, augment.RandomFlip(p=1.0))
    np.testing.assert_array_equal(aug(x, 0), (x * 2)[:, :, ::-1, :])


def test_augmenter_rejects_shape_changing_transform():
    aug = augment.Augmenter(lambda b, rng: b[:, :2])
    with pytest.raises(ValueError, match=r"returned \(8, 2, 7, 3\).*\(8, 6, 7, 3\)"):
        aug(batch(8), 0)
    aug = augment.Augmenter(lambda b, rng: None)
    with pytest.raises(ValueError, match="NoneType"):
        aug(batch(8), 0)


def test_augmenter_works_in_a_training_loop():
    (x_train, _), _ = _digits_like()
    aug = augment.Augmenter(flip=True, shift=1)
    rng = np.random.default_rng(0)
    seen = []
    for start in range(0, len(x_train), 32):
        xb = aug(x_train[start:start + 32], rng)
        assert xb.shape == x_train[start:start + 32].shape
        seen.append(xb)
    assert np.concatenate(seen).shape == x_train.shape


def _digits_like():
    x = batch(100, h=8, w=8, c=1)
    return (x, np.zeros(100, dtype=np.int64)), None


# ----------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad, exc, text", [
    (np.zeros((4, 4, 3)), ValueError, r"\(N, H, W, C\).*\(4, 4, 3\)"),
    (np.zeros((1, 2, 4, 4, 3)), ValueError, r"\(1, 2, 4, 4, 3\)"),
    (np.array([["a"]]), TypeError, "dtype"),
    (np.zeros((2, 3, 3, 1), dtype=complex), TypeError, "complex"),
])
def test_bad_batches(bad, exc, text):
    for f in (lambda x: augment.random_flip(x, 0), lambda x: augment.random_shift(x, 1, 0),
              lambda x: augment.random_crop(x, 1, 0), lambda x: augment.Augmenter()(x, 0)):
        with pytest.raises(exc, match=text):
            f(bad)


@pytest.mark.parametrize("rng, exc, text", [
    ("seed", TypeError, "'seed'"),
    (1.5, TypeError, "1.5"),
    (True, TypeError, "True"),
    (-3, ValueError, "-3"),
    (np.random.RandomState(0), TypeError, "RandomState"),
])
def test_bad_rng(rng, exc, text):
    x = batch(2)
    for f in FUNCS:
        with pytest.raises(exc, match=text):
            f(x, rng)


def test_rng_none_is_allowed():
    assert augment.random_shift(batch(2), 1, None).shape == (2, 6, 7, 3)
    assert augment.Augmenter(flip=True)(batch(2)).shape == (2, 6, 7, 3)


def test_numpy_integer_seed():
    x = batch(4)
    np.testing.assert_array_equal(augment.random_shift(x, 2, np.int64(3)),
                                  augment.random_shift(x, 2, 3))


@pytest.mark.parametrize("call, exc, text", [
    (lambda x: augment.random_shift(x, -1, 0), ValueError, "max_shift.*-1"),
    (lambda x: augment.random_shift(x, 1.5, 0), TypeError, "max_shift.*1.5"),
    (lambda x: augment.random_shift(x, True, 0), TypeError, "max_shift.*True"),
    (lambda x: augment.random_shift(x, 6, 0), ValueError, r"max_shift \(6, 6\).*6 x 7"),
    (lambda x: augment.random_shift(x, (1, 2, 3), 0), ValueError, r"\(1, 2, 3\)"),
    (lambda x: augment.random_shift(x, (1, -2), 0), ValueError, r"max_shift\[1\].*-2"),
    (lambda x: augment.random_crop(x, -2, 0), ValueError, "padding.*-2"),
    (lambda x: augment.random_crop(x, "4", 0), TypeError, "padding.*'4'"),
    (lambda x: augment.random_flip(x, 0, p=1.5), ValueError, "p.*1.5"),
    (lambda x: augment.random_flip(x, 0, p="half"), TypeError, "'half'"),
])
def test_bad_arguments(call, exc, text):
    with pytest.raises(exc, match=text):
        call(batch(2))


@pytest.mark.parametrize("make, exc, text", [
    (lambda: augment.RandomFlip(p=-0.1), ValueError, "-0.1"),
    (lambda: augment.RandomShift(-1), ValueError, "-1"),
    (lambda: augment.RandomCrop(2.0), TypeError, "2.0"),
    (lambda: augment.Augmenter(shift=-1), ValueError, "shift.*-1"),
    (lambda: augment.Augmenter(crop="big"), TypeError, "crop.*'big'"),
    (lambda: augment.Augmenter(flip=2.0), ValueError, "2.0"),
    (lambda: augment.Augmenter(42), TypeError, "transform 0.*42"),
    (lambda: augment.compose(augment.RandomFlip(), "flip"), TypeError, "transform 1.*'flip'"),
])
def test_bad_construction(make, exc, text):
    with pytest.raises(exc, match=text):
        make()
