"""Seeded data augmentation for channels-last image batches ``(N, H, W, C)``.

Functions (each returns a new array of the input's shape and dtype; the input is never
modified, and every image draws its own random choice)::

    random_flip(x, rng, p=0.5)          # mirror left-right with probability p
    random_shift(x, max_shift, rng)     # move by whole pixels, zero fill
    random_crop(x, padding, rng)        # zero-pad by `padding`, crop back at a random offset

Transform objects, and :class:`Augmenter` (also :func:`compose`) to chain them into the
callable a training loop takes, ``aug(x_batch, rng) -> x_batch_augmented``::

    from fastconv import augment
    aug = augment.compose(augment.RandomCrop(4), augment.RandomFlip())
    aug = augment.Augmenter(flip=True, crop=4)          # the same, by keywords
    xb = aug(x_batch, rng)                              # rng: numpy Generator or int seed

``rng`` is a :class:`numpy.random.Generator` (advanced by the call) or an int seed (the
same seed gives the same result), or None for fresh OS entropy.

This module depends on NumPy and the standard library only.
"""
import numbers

import numpy as np

__all__ = [
    "random_flip", "random_shift", "random_crop",
    "RandomFlip", "RandomShift", "RandomCrop", "Augmenter", "compose",
]


# ----------------------------------------------------------------------------------------
# argument checking
# ----------------------------------------------------------------------------------------

def _as_rng(rng):
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, numbers.Integral):
        raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, "
                        f"got {rng!r} of type {type(rng).__name__}")
    if rng < 0:
        raise ValueError(f"rng seed must be non-negative, got {rng!r}")
    return np.random.default_rng(int(rng))


def _as_batch(x, name="x"):
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:   # ragged lists and the like
            raise TypeError(f"{name} must be an array of shape (N, H, W, C), "
                            f"got {type(x).__name__}: {exc}") from None
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold numbers (bool, int or float), got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be a channels-last batch of shape (N, H, W, C), "
                         f"got an array of shape {x.shape} ({x.ndim} dimensions)")
    return x


def _nonneg_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative int, got {value!r} "
                        f"of type {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return int(value)


def _pair(value, name):
    """int or (rows, cols) pair of non-negative ints -> (int, int)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (rows, cols) pair, got {value!r}")
        return _nonneg_int(value[0], f"{name}[0]"), _nonneg_int(value[1], f"{name}[1]")
    v = _nonneg_int(value, name)
    return v, v


def _probability(p):
    if isinstance(p, (bool, np.bool_)) or not isinstance(p, numbers.Real):
        raise TypeError(f"p must be a probability (a float in [0, 1]), got {p!r}")
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    return float(p)


# ----------------------------------------------------------------------------------------
# the transforms
# ----------------------------------------------------------------------------------------

def random_flip(x, rng=None, p=0.5):
    """Mirror each image left-right (along W, axis 2) with probability ``p``.

    A flipped image is exactly ``x[i, :, ::-1, :]``; the others are copied unchanged.
    """
    x = _as_batch(x)
    p = _probability(p)
    rng = _as_rng(rng)
    flip = rng.random(x.shape[0]) < p
    out = x.copy()
    out[flip] = x[flip][:, :, ::-1, :]
    return out


def _translate(x, dy, dx, pad_y, pad_x):
    """out[i, r, c] = x[i, r - dy[i], c - dx[i]] (zero outside), |dy| <= pad_y, |dx| <= pad_x."""
    n, h, w, c = x.shape
    padded = np.zeros((n, h + 2 * pad_y, w + 2 * pad_x, c), dtype=x.dtype)
    padded[:, pad_y:pad_y + h, pad_x:pad_x + w, :] = x
    rows = (pad_y - dy)[:, None] + np.arange(h)                 # (n, h)
    cols = (pad_x - dx)[:, None] + np.arange(w)                 # (n, w)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_shift(x, max_shift, rng=None):
    """Move each image by a random whole number of pixels, filling the gap with zeros.

    Each image gets its own offsets ``dy, dx``, drawn uniformly from
    ``-max_shift .. max_shift`` (``max_shift`` is an int or a ``(rows, cols)`` pair); the
    pixel at ``(r, c)`` moves to ``(r + dy, c + dx)`` and what leaves the frame is lost.
    The shift must be smaller than the image (``max_shift < H`` and ``< W``).
    """
    x = _as_batch(x)
    my, mx = _pair(max_shift, "max_shift")
    _, h, w, _ = x.shape
    if my >= h or mx >= w:
        raise ValueError(f"max_shift {(my, mx)} must be smaller than the image size "
                         f"{h} x {w} (a shift that large would leave an empty image)")
    rng = _as_rng(rng)
    dy = rng.integers(-my, my + 1, size=x.shape[0])
    dx = rng.integers(-mx, mx + 1, size=x.shape[0])
    return _translate(x, dy, dx, my, mx)


def random_crop(x, padding, rng=None):
    """Zero-pad each image by ``padding`` pixels on every side and crop back to H x W
    at a random position (per image), as in the usual CIFAR-10 "pad 4, crop 32" recipe.

    ``padding`` is an int or a ``(rows, cols)`` pair. This is a random shift by up to
    ``padding`` pixels; unlike :func:`random_shift`, padding may exceed the image size.
    """
    x = _as_batch(x)
    py, px = _pair(padding, "padding")
    rng = _as_rng(rng)
    oy = rng.integers(0, 2 * py + 1, size=x.shape[0])          # crop offset in padded image
    ox = rng.integers(0, 2 * px + 1, size=x.shape[0])
    return _translate(x, py - oy, px - ox, py, px)


class RandomFlip:
    """Transform object for :func:`random_flip`: ``RandomFlip(p=0.5)(x, rng)``."""

    def __init__(self, p=0.5):
        self.p = _probability(p)

    def __call__(self, x, rng=None):
        return random_flip(x, rng, self.p)

    def __repr__(self):
        return f"RandomFlip(p={self.p})"


class RandomShift:
    """Transform object for :func:`random_shift`: ``RandomShift(max_shift)(x, rng)``."""

    def __init__(self, max_shift):
        self.max_shift = _pair(max_shift, "max_shift")

    def __call__(self, x, rng=None):
        return random_shift(x, self.max_shift, rng)

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift})"


class RandomCrop:
    """Transform object for :func:`random_crop`: ``RandomCrop(padding)(x, rng)``."""

    def __init__(self, padding):
        self.padding = _pair(padding, "padding")

    def __call__(self, x, rng=None):
        return random_crop(x, self.padding, rng)

    def __repr__(self):
        return f"RandomCrop(padding={self.padding})"


class Augmenter:
    """A chain of transforms, callable as ``aug(x_batch, rng) -> new batch``.

    ``Augmenter(*transforms, flip=False, shift=0, crop=0)`` (a single list of transforms is
    also accepted): each transform is any callable
    ``t(x, rng) -> array``; the keywords are shorthands that add, in this order and before
    the positional transforms, ``RandomCrop(crop)`` (if ``crop``), ``RandomShift(shift)``
    (if ``shift``) and ``RandomFlip(flip)`` (if ``flip``; ``True`` means p = 0.5, a float
    is the probability).

    The call turns an int seed into one Generator shared by all the transforms, so the
    same seed gives the same batch; the result is always a new array (a copy when there
    are no transforms), and the input is never modified (a custom transform must not
    modify its argument in place either). A transform that returns
    something other than an array of the input's shape raises ValueError.
    """

    def __init__(self, *transforms, flip=False, shift=0, crop=0):
        chain = []
        if any(_pair(crop, "crop")):
            chain.append(RandomCrop(crop))
        if any(_pair(shift, "shift")):
            chain.append(RandomShift(shift))
        if isinstance(flip, (bool, np.bool_)):
            if flip:
                chain.append(RandomFlip())
        elif flip is not None:
            chain.append(RandomFlip(flip))
        if len(transforms) == 1 and isinstance(transforms[0], (list, tuple)):
            transforms = tuple(transforms[0])          # Augmenter([t1, t2]) works too
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transform {i} must be callable as t(x, rng), got {t!r}")
        self.transforms = tuple(chain) + tuple(transforms)

    def __call__(self, x, rng=None):
        x = _as_batch(x, "x_batch")
        rng = _as_rng(rng)
        out = x
        for t in self.transforms:
            out = t(out, rng)
            if not isinstance(out, np.ndarray) or out.shape != x.shape:
                got = out.shape if isinstance(out, np.ndarray) else type(out).__name__
                raise ValueError(f"transform {t!r} returned {got}; expected an array of "
                                 f"shape {x.shape}")
        if out is x:
            out = x.copy()
        return out

    def __len__(self):
        return len(self.transforms)

    def __repr__(self):
        return "Augmenter(" + ", ".join(repr(t) for t in self.transforms) + ")"


def compose(*transforms):
    """Chain transforms into an :class:`Augmenter`: ``compose(RandomCrop(4), RandomFlip())``."""
    return Augmenter(*transforms)
