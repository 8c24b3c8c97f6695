"""Datasets: the bundled 8x8 digits, and readers for MNIST (IDX) and CIFAR-10 (binary) files.

Every loader returns channels-last images, as the Keras-style API expects them::

    ((x_train, y_train), (x_test, y_test))

with ``x`` of shape ``(n, H, W, C)`` and float dtype (float32 by default), scaled to
``[0, 1]``, and ``y`` int64 class labels.

* :func:`load_digits` -- the 1,797 8x8 UCI optical handwritten digits bundled with fastconv
  (E. Alpaydin & C. Kaynak, 1998; UCI Machine Learning Repository; CC BY 4.0), split into
  train and test sets by a fixed, stratified split that is the same on every call and machine.
* :func:`load_mnist` / :func:`load_mnist_idx` -- MNIST (or Fashion-MNIST, which uses the
  same format) from the standard IDX files, plain or gzipped, that the user has downloaded.
* :func:`load_cifar10` -- CIFAR-10 from its "binary version" batches.
* :func:`load_data` -- parse a spec such as ``'digits'``, ``'mnist:~/data/mnist'`` or
  ``'cifar10:/data/cifar-10-batches-bin'`` (the CLI's ``--data`` option).

Nothing here downloads anything, and nothing unpickles: CIFAR-10's Python version (pickles)
is deliberately not read. Malformed files raise :class:`ValueError` with a message naming the
file and the numbers that disagree; missing files raise :class:`FileNotFoundError`.

This module depends on NumPy and the standard library only.
"""
import math
import os
import zlib

import numpy as np

__all__ = [
    "load_digits", "load_mnist", "load_mnist_idx", "read_idx", "load_cifar10",
    "read_cifar10_batch", "load_data", "CIFAR10_CLASSES", "DIGITS_PATH",
]

DIGITS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "digits.npz")

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")

_GZIP_MAGIC = b"\x1f\x8b"
# Decompressed bytes read first to learn a file's declared size (an IDX header is at most
# 4 + 4 * 255 bytes), and how far a file without a header may inflate: MNIST's gzipped
# images 4.8x, CIFAR-10's batches about 1.1x; a stream of zeros 1000x.
_HEAD_BYTES = 1024
_MAX_GZIP_RATIO = 64
_IDX_DTYPES = {0x08: "unsigned byte"}           # the only element type MNIST uses
_IDX_OTHER_TYPES = {0x09: "signed byte", 0x0B: "short", 0x0C: "int",
                    0x0D: "float", 0x0E: "double"}
_IDX_IMAGES_MAGIC = 0x00000803                   # 2051: unsigned byte, 3 dimensions
_IDX_LABELS_MAGIC = 0x00000801                   # 2049: unsigned byte, 1 dimension

_CIFAR_SIDE = 32
_CIFAR_IMAGE_BYTES = 3 * _CIFAR_SIDE * _CIFAR_SIDE     # 3072, stored C, H, W
_CIFAR_RECORD_BYTES = 1 + _CIFAR_IMAGE_BYTES           # 3073: label byte + image
_CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR_TEST_FILE = "test_batch.bin"


# ----------------------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------------------

def _check_float_dtype(dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be a floating-point dtype, got {dtype!r}") from exc
    if dt.kind != "f":
        raise TypeError(f"dtype must be a floating-point dtype such as float32, got {dt.name!r}")
    return dt


def _scale(raw, max_value, dtype):
    """uint8 array -> float ``dtype`` in [0, 1]."""
    out = raw.astype(dtype, order="C")
    out *= dtype.type(1.0 / max_value)
    return out


def _read_bytes(path, limit=None):
    """Read a whole file, transparently gunzipping it. Corrupt gzip -> ValueError.

    ``limit(head)``, given the first ``_HEAD_BYTES`` decompressed bytes, returns how many
    bytes the whole decompressed file may have (None: no more than the head): the data is
    inflated only that far, so a small file that expands to gigabytes is refused as it
    inflates, not after. Without ``limit`` a gzipped file may expand to at most
    ``_MAX_GZIP_RATIO`` times its size."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"expected a file but found a directory: {path!r}")
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == _GZIP_MAGIC:
        if limit is None:
            cap = _MAX_GZIP_RATIO * len(data)
            why = f"{_MAX_GZIP_RATIO} times the file's {len(data)} bytes"
        else:
            head = _gunzip(data, path, _HEAD_BYTES, partial=True)
            cap, why = limit(head), "the size its header declares"
            if cap is None:
                cap, why = len(head), "no complete header"
        return _gunzip(data, path, cap, why=why)
    if path.endswith(".gz"):
        raise ValueError(f"{path}: the name ends in .gz but the file is not gzip data "
                         f"(first bytes {data[:2].hex() or 'none, the file is empty'})")
    return data


def _gunzip(data, path, cap, partial=False, why=""):
    """The gzip ``data`` (one or more members) inflated, at most ``cap`` bytes of it: with
    ``partial`` the first ``cap`` bytes, else ``ValueError`` once it would pass ``cap``
    (``why`` says where the cap comes from). Corrupt or truncated data -> ValueError."""
    out, size, rest = [], 0, data
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = d.decompress(rest, cap + 1 - size)
        except zlib.error as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data ({exc})") from None
        out.append(chunk)
        size += len(chunk)
        if size > cap:
            if partial:
                return b"".join(out)[:cap]
            raise ValueError(f"{path}: the gzip data inflates to more than {cap} bytes "
                             f"({why}); refused as it inflated")
        if not d.eof:
            if partial:
                return b"".join(out)
            raise ValueError(f"{path}: corrupt or truncated gzip data (the stream ends early)")
        rest = d.unused_data
        if not rest.strip(b"\0"):   # the end, or the zero padding some tools append
            return b"".join(out)
        if rest[:2] != _GZIP_MAGIC:
            raise ValueError(f"{path}: corrupt gzip data (trailing bytes after the last member)")


def _splitmix64(values):
    """The SplitMix64 finaliser on a uint64 array (wrapping arithmetic).

    Used for the digits split so that it does not depend on NumPy's random streams, which
    NumPy does not promise to keep stable across versions.
    """
    with np.errstate(over="ignore"):
        z = values + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _fixed_permutation(n, seed, stream=0):
    """A permutation of range(n) that depends only on (n, seed, stream), on any machine."""
    with np.errstate(over="ignore"):
        base = (np.uint64(seed) * np.uint64(0x100000001B3)
                + _splitmix64(np.array([stream], dtype=np.uint64))[0])
        keys = _splitmix64(np.arange(n, dtype=np.uint64) + base)
    return np.argsort(keys, kind="stable")


# ----------------------------------------------------------------------------------------
# bundled digits
# ----------------------------------------------------------------------------------------

def _load_digits_raw():
    """The bundled digits as stored: images uint8 (1797, 8, 8) in 0..16, labels uint8."""
    if not os.path.exists(DIGITS_PATH):
        raise FileNotFoundError(f"the bundled digits file is missing: {DIGITS_PATH!r} "
                                "(is fastconv installed with its package data?)")
    with np.load(DIGITS_PATH, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    if images.shape != (1797, 8, 8) or labels.shape != (1797,):
        raise ValueError(f"{DIGITS_PATH}: unexpected shapes images {images.shape}, "
                         f"labels {labels.shape}; expected (1797, 8, 8) and (1797,)")
    return images, labels


def load_digits(test_fraction=0.2, seed=0, dtype=np.float32):
    """The bundled 8x8 handwritten digits (1,797 images, classes 0-9), split train/test.

    The split is stratified (each class contributes ``round(test_fraction * n_class)``
    images to the test set) and fixed: the same ``test_fraction`` and ``seed`` give the
    same split on every call, machine and NumPy version. Both sets are in a fixed shuffled
    order. With the defaults the test set has 359 images and the training set 1,438.

    Parameters
    ----------
    test_fraction : float in [0, 1)
        Fraction of each class held out for testing; 0 gives an empty test set.
    seed : int >= 0
        Selects the (fixed) permutation; keep the default for the canonical split.
    dtype : floating dtype
        dtype of the images (default float32).

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        ``x`` has shape ``(n, 8, 8, 1)``, values in [0, 1] (the raw 0..16 counts / 16);
        ``y`` is int64.
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float, np.number)):
        raise TypeError(f"test_fraction must be a number, got {test_fraction!r}")
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative integer, got {seed!r}")
    if not 0 <= int(seed) < 2 ** 63:
        raise ValueError(f"seed must be a non-negative integer below 2**63, got {seed!r}")
    dt = _check_float_dtype(dtype)

    images, labels = _load_digits_raw()
    order = _fixed_permutation(len(labels), int(seed))
    train_idx, test_idx = [], []
    for c in range(10):
        members = order[labels[order] == c]            # this class, in permuted order
        n_test = int(round(float(test_fraction) * len(members)))
        test_idx.append(members[:n_test])
        train_idx.append(members[n_test:])
    # put each set in a fixed shuffled order, independent of the one that chose the split
    # (else the start of the training set would lack the classes whose test share came first)
    rank = np.empty_like(order)
    rank[_fixed_permutation(len(labels), int(seed), stream=1)] = np.arange(len(order))
    train_idx = np.concatenate(train_idx)
    test_idx = np.concatenate(test_idx)
    train_idx = train_idx[np.argsort(rank[train_idx], kind="stable")]
    test_idx = test_idx[np.argsort(rank[test_idx], kind="stable")]

    def take(idx):
        x = _scale(images[idx], 16.0, dt).reshape(len(idx), 8, 8, 1)
        return x, labels[idx].astype(np.int64)

    return take(train_idx), take(test_idx)


# ----------------------------------------------------------------------------------------
# MNIST (IDX format)
# ----------------------------------------------------------------------------------------

def _idx_size(head):
    """The byte count an IDX file's header (in ``head``) declares for the whole file, or
    None when ``head`` holds no complete header (read_idx then says what is wrong)."""
    if len(head) < 4 or len(head) < 4 + 4 * head[3]:
        return None
    ndim = head[3]
    return 4 + 4 * ndim + math.prod(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big")
                                    for i in range(ndim))


def read_idx(path, expected_ndim=None):
    """Read one IDX file (plain or gzipped) of unsigned bytes as a uint8 array.

    Checks the magic number (two zero bytes, element type 0x08, number of dimensions),
    that no dimension is zero-sized where that makes no sense, and that the data size
    matches the dimensions exactly.
    """
    path = os.fspath(path)
    data = _read_bytes(path, _idx_size)
    if len(data) < 4:
        raise ValueError(f"{path}: too short to be an IDX file ({len(data)} bytes, "
                         "the magic number alone takes 4)")
    magic = int.from_bytes(data[:4], "big")
    zero, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if expected_ndim is not None:
        expected_magic = 0x0800 + expected_ndim
        if magic != expected_magic:
            what = {1: "a labels", 3: "an images"}.get(expected_ndim, f"a {expected_ndim}-D")
            raise ValueError(
                f"{path}: bad magic number {magic} (0x{magic:08x}); expected {expected_magic} "
                f"(0x{expected_magic:08x}) for {what} IDX file of unsigned bytes")
    if zero != 0:
        raise ValueError(f"{path}: bad magic number {magic} (0x{magic:08x}); an IDX file "
                         "starts with two zero bytes")
    if type_code not in _IDX_DTYPES:
        kind = _IDX_OTHER_TYPES.get(type_code, "unknown")
        raise ValueError(f"{path}: IDX element type 0x{type_code:02x} ({kind}) is not "
                         "supported; only unsigned bytes (0x08) are")
    if ndim == 0:
        raise ValueError(f"{path}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated header: {ndim} dimensions need a {header}-byte "
                         f"header but the file has {len(data)} bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(dims)
    actual = len(data) - header
    if actual != expected:
        shape = " x ".join(str(d) for d in dims)
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise ValueError(f"{path}: {problem}: the header says {shape} = {expected} bytes of "
                         f"data but the file holds {actual} bytes after the {header}-byte "
                         "header")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def load_mnist_idx(images_path, labels_path, num_classes=10, dtype=np.float32):
    """Read one MNIST-style pair of IDX files (images idx3, labels idx1), plain or gzipped.

    Returns ``(x, y)``: ``x`` of shape ``(n, rows, cols, 1)`` scaled to [0, 1] (pixel / 255),
    ``y`` int64 of shape ``(n,)``. Labels must lie in ``[0, num_classes)``.
    """
    dt = _check_float_dtype(dtype)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) \
            or num_classes < 1 or num_classes > 256:
        raise ValueError(f"num_classes must be an integer in 1..256, got {num_classes!r}")
    images_path, labels_path = os.fspath(images_path), os.fspath(labels_path)
    images = read_idx(images_path, expected_ndim=3)
    labels = read_idx(labels_path, expected_ndim=1)
    n, rows, cols = images.shape
    if rows == 0 or cols == 0:
        raise ValueError(f"{images_path}: images have a zero-sized dimension "
                         f"({rows} x {cols} pixels)")
    if labels.shape[0] != n:
        raise ValueError(f"count mismatch: {images_path} holds {n} images but "
                         f"{labels_path} holds {labels.shape[0]} labels")
    if labels.size and int(labels.max()) >= num_classes:
        bad = int(np.argmax(labels >= num_classes))
        raise ValueError(f"{labels_path}: label {int(labels[bad])} at index {bad} is out of "
                         f"range; expected 0..{num_classes - 1}")
    x = _scale(images, 255.0, dt).reshape(n, rows, cols, 1)
    return x, labels.astype(np.int64)


_MNIST_STEMS = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find_mnist_file(directory, key):
    tried = []
    for stem in _MNIST_STEMS[key]:
        for name in (stem, stem + ".gz"):
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate):
                return candidate
            tried.append(candidate)
    raise FileNotFoundError(f"MNIST file not found: {tried[0]!r} (also tried "
                            + ", ".join(repr(t) for t in tried[1:]) + ")")


def load_mnist(directory, num_classes=10, dtype=np.float32):
    """Read MNIST (or Fashion-MNIST) from a directory holding the four standard IDX files.

    The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each optionally gzipped
    (``.gz``) and also accepted with a dot before ``idx`` (``train-images.idx3-ubyte``).

    Returns ``((x_train, y_train), (x_test, y_test))`` with ``x`` of shape
    ``(n, 28, 28, 1)`` float32 in [0, 1] and ``y`` int64.
    """
    directory = os.path.expanduser(os.fspath(directory))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"MNIST directory not found: {directory!r}")
    paths = {key: _find_mnist_file(directory, key) for key in _MNIST_STEMS}
    train = load_mnist_idx(paths["train_images"], paths["train_labels"], num_classes, dtype)
    test = load_mnist_idx(paths["test_images"], paths["test_labels"], num_classes, dtype)
    if train[0].shape[1:] != test[0].shape[1:]:
        raise ValueError(f"image size mismatch: {paths['train_images']} has "
                         f"{train[0].shape[1]} x {train[0].shape[2]} images but "
                         f"{paths['test_images']} has {test[0].shape[1]} x {test[0].shape[2]}")
    return train, test


# ----------------------------------------------------------------------------------------
# CIFAR-10 (binary version)
# ----------------------------------------------------------------------------------------

def _read_cifar10_raw(path):
    """One CIFAR-10 binary batch as (uint8 pixels (n, 32, 32, 3) view, uint8 labels)."""
    path = os.fspath(path)
    data = _read_bytes(path)
    if len(data) == 0 or len(data) % _CIFAR_RECORD_BYTES:
        n, rest = divmod(len(data), _CIFAR_RECORD_BYTES)
        raise ValueError(f"{path}: size {len(data)} bytes is not a positive multiple of the "
                         f"{_CIFAR_RECORD_BYTES}-byte CIFAR-10 record (1 label + 3072 pixels): "
                         f"{n} whole records and {rest} bytes left over")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD_BYTES)
    labels = records[:, 0]
    if int(labels.max()) > 9:
        bad = int(np.argmax(labels > 9))
        raise ValueError(f"{path}: label {int(labels[bad])} in record {bad} is out of range; "
                         "expected 0..9 (is this the CIFAR-100 binary format?)")
    pixels = records[:, 1:].reshape(-1, 3, _CIFAR_SIDE, _CIFAR_SIDE).transpose(0, 2, 3, 1)
    return pixels, labels


def read_cifar10_batch(path, dtype=np.float32):
    """Read one CIFAR-10 binary batch file (plain or gzipped).

    Each record is 1 label byte (0..9) followed by 3,072 pixel bytes: the 1,024 red, then
    green, then blue values of a 32x32 image in row-major order. Returns ``(x, y)`` with
    ``x`` of shape ``(n, 32, 32, 3)`` scaled to [0, 1] and ``y`` int64.
    """
    dt = _check_float_dtype(dtype)
    pixels, labels = _read_cifar10_raw(path)
    return _scale(pixels, 255.0, dt), labels.astype(np.int64)


def _find_cifar_file(directory, name):
    for candidate in (os.path.join(directory, name), os.path.join(directory, name + ".gz")):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"CIFAR-10 file not found: {os.path.join(directory, name)!r} "
                            "(the binary version: data_batch_1.bin .. data_batch_5.bin and "
                            "test_batch.bin)")


def load_cifar10(directory, dtype=np.float32):
    """Read CIFAR-10 (binary version) from a directory.

    ``directory`` holds ``data_batch_1.bin`` .. ``data_batch_5.bin`` and ``test_batch.bin``
    (each optionally ``.gz``), or is the parent of the ``cifar-10-batches-bin`` folder that
    the official ``cifar-10-binary.tar.gz`` unpacks to.

    Returns ``((x_train, y_train), (x_test, y_test))`` with ``x`` of shape
    ``(n, 32, 32, 3)`` float32 in [0, 1] (50,000 train and 10,000 test images for the full
    data set) and ``y`` int64; class names are in :data:`CIFAR10_CLASSES`.
    """
    directory = os.path.expanduser(os.fspath(directory))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"CIFAR-10 directory not found: {directory!r}")
    nested = os.path.join(directory, "cifar-10-batches-bin")
    if not any(os.path.isfile(os.path.join(directory, n + ext))
               for n in _CIFAR_TRAIN_FILES + (_CIFAR_TEST_FILE,) for ext in ("", ".gz")) \
            and os.path.isdir(nested):
        directory = nested
    train_paths = [_find_cifar_file(directory, n) for n in _CIFAR_TRAIN_FILES]
    test_path = _find_cifar_file(directory, _CIFAR_TEST_FILE)
    dt = _check_float_dtype(dtype)
    parts = [_read_cifar10_raw(p) for p in train_paths]      # uint8: 150 MB for the full set
    pixels = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts]).astype(np.int64)
    del parts
    x_train = _scale(pixels, 255.0, dt)
    del pixels
    return (x_train, y_train), read_cifar10_batch(test_path, dt)


# ----------------------------------------------------------------------------------------
# spec parsing (the CLI's --data option)
# ----------------------------------------------------------------------------------------

_SPEC_HELP = "expected 'digits', 'mnist:PATH' or 'cifar10:PATH'"


def load_data(spec, dtype=np.float32):
    """Load a data set named by a spec string; returns ``((x_train, y_train), (x_test, y_test))``.

    * ``'digits'`` -- the bundled 8x8 digits (:func:`load_digits`, default split);
    * ``'mnist:PATH'`` -- :func:`load_mnist` on the directory PATH (also ``fashion-mnist:``);
    * ``'cifar10:PATH'`` -- :func:`load_cifar10` on the directory PATH (also ``cifar-10:``).

    The name is case-insensitive; only the first ``:`` separates it from the path, so
    Windows paths such as ``mnist:C:\\data\\mnist`` work; ``~`` is expanded.
    """
    if not isinstance(spec, str):
        raise TypeError(f"data spec must be a string ({_SPEC_HELP}), got {spec!r}")
    name, sep, path = spec.strip().partition(":")
    name = name.strip().lower().replace("_", "-")
    path = path.strip()
    if name == "digits":
        if sep:
            raise ValueError(f"data spec {spec!r}: 'digits' takes no path ({_SPEC_HELP})")
        return load_digits(dtype=dtype)
    loaders = {"mnist": load_mnist, "fashion-mnist": load_mnist,
               "cifar10": load_cifar10, "cifar-10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"unknown data spec {spec!r}: {_SPEC_HELP}")
    if not path:
        raise ValueError(f"data spec {spec!r}: missing the directory after '{name}:' "
                         f"({_SPEC_HELP})")
    return loaders[name](path, dtype=dtype)
