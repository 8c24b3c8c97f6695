"""Tests for fastconv.datasets: the bundled digits and the MNIST / CIFAR-10 file readers.

The MNIST and CIFAR-10 tests write small files of the real formats into tmp_path;
nothing is downloaded.
"""
import gzip
import os
import struct
import zipfile

import numpy as np
import pytest

from fastconv import datasets


# ----------------------------------------------------------------------------------------
# bundled digits
# ----------------------------------------------------------------------------------------

def test_digits_file_is_compact_and_pickle_free():
    assert os.path.getsize(datasets.DIGITS_PATH) < 100_000
    with zipfile.ZipFile(datasets.DIGITS_PATH) as zf:
        assert sorted(zf.namelist()) == ["images.npy", "labels.npy"]
    with np.load(datasets.DIGITS_PATH, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    assert images.dtype == np.uint8 and images.shape == (1797, 8, 8)
    assert labels.dtype == np.uint8 and labels.shape == (1797,)
    assert images.max() == 16 and images.min() == 0
    # the class counts of the UCI / scikit-learn digits
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # first image of the data set, a zero (as in sklearn.datasets.load_digits().images[0])
    assert labels[0] == 0
    assert images[0, 0].tolist() == [0, 0, 5, 13, 9, 1, 0, 0]
    assert images[0, 7].tolist() == [0, 0, 6, 13, 10, 0, 0, 0]


def test_digits_shapes_dtypes_range():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    assert x_train.shape == (1438, 8, 8, 1) and x_test.shape == (359, 8, 8, 1)
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    assert y_train.shape == (1438,) and y_test.shape == (359,)
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0
        assert x.flags.c_contiguous
        # values are the raw 0..16 counts divided by 16, exactly
        np.testing.assert_array_equal(x * 16, np.round(x * 16))
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))


def test_digits_split_is_a_partition_of_the_bundled_data():
    (x_train, y_train), (x_test, y_test) = datasets.load_digits()
    with np.load(datasets.DIGITS_PATH, allow_pickle=False) as z:
        images, labels = z["images"], z["labels"]
    key = lambda img, lab: bytes((img.reshape(64) * 16).astype(np.uint8)) + bytes([lab])
    original = sorted(key(i.astype(np.float32) / 16, l) for i, l in zip(images, labels))
    split = sorted([key(i, l) for i, l in zip(x_train, y_train)]
                   + [key(i, l) for i, l in zip(x_test, y_test)])
    assert split == original


def test_digits_split_is_deterministic():
    a = datasets.load_digits()
    b = datasets.load_digits()
    for (xa, ya), (xb, yb) in zip(a, b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    # the canonical split is pinned: these first labels must never change
    (_, y_train), (_, y_test) = a
    assert y_train[:10].tolist() == [9, 8, 0, 0, 8, 6, 9, 4, 9, 3]
    assert y_test[:10].tolist() == [4, 2, 3, 3, 3, 2, 0, 7, 2, 3]


def test_digits_split_is_stratified():
    (_, y_train), (_, y_test) = datasets.load_digits()
    total = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    test = np.bincount(y_test, minlength=10)
    assert np.all(np.abs(test - 0.2 * total) <= 0.5 + 1e-9)
    (_, y_train), (_, y_test) = datasets.load_digits(test_fraction=0.5)
    test = np.bincount(y_test, minlength=10)
    assert np.all(np.abs(test - 0.5 * total) <= 0.5 + 1e-9)


def test_digits_sets_are_shuffled_not_sorted_by_class():
    (_, y_train), (_, y_test) = datasets.load_digits()
    # every class appears among the first 100 training labels
    assert len(np.unique(y_train[:100])) == 10
    assert not np.all(np.diff(y_train) >= 0)


def test_digits_options():
    (x_train, _), (x_test, y_test) = datasets.load_digits(test_fraction=0.0)
    assert x_train.shape == (1797, 8, 8, 1) and x_test.shape == (0, 8, 8, 1)
    assert y_test.dtype == np.int64
    (x64, _), _ = datasets.load_digits(dtype=np.float64)
    assert x64.dtype == np.float64
    (_, ya), _ = datasets.load_digits(seed=1)
    (_, yb), _ = datasets.load_digits(seed=0)
    assert not np.array_equal(ya, yb)


@pytest.mark.parametrize("kwargs, exc", [
    ({"test_fraction": 1.0}, ValueError),
    ({"test_fraction": -0.1}, ValueError),
    ({"test_fraction": "0.2"}, TypeError),
    ({"test_fraction": True}, TypeError),
    ({"seed": -1}, ValueError),
    ({"seed": 1.5}, TypeError),
    ({"dtype": np.int32}, TypeError),
])
def test_digits_bad_arguments(kwargs, exc):
    with pytest.raises(exc) as info:
        datasets.load_digits(**kwargs)
    if exc is ValueError:                 # the message names the offending value
        assert repr(next(iter(kwargs.values()))) in str(info.value)


# ----------------------------------------------------------------------------------------
# MNIST / IDX helpers
# ----------------------------------------------------------------------------------------

def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 + array.ndim
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + array.tobytes()


def write(path, data, gz=False):
    if gz:
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def make_mnist(n=5, rows=28, cols=28, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    images[0, 0, 0] = 255
    images[0, 0, 1] = 0
    labels = (np.arange(n) % 10).astype(np.uint8)
    return images, labels


MNIST_NAMES = {"train-images-idx3-ubyte": "train_images", "train-labels-idx1-ubyte": "train_labels",
               "t10k-images-idx3-ubyte": "test_images", "t10k-labels-idx1-ubyte": "test_labels"}


def write_mnist_dir(directory, gz=False, n_train=6, n_test=4):
    directory.mkdir(parents=True, exist_ok=True)
    tr_i, tr_l = make_mnist(n_train, seed=1)
    te_i, te_l = make_mnist(n_test, seed=2)
    arrays = {"train_images": tr_i, "train_labels": tr_l, "test_images": te_i, "test_labels": te_l}
    for name, key in MNIST_NAMES.items():
        write(directory / (name + (".gz" if gz else "")), idx_bytes(arrays[key]), gz=gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_idx_roundtrip(tmp_path, gz):
    images, labels = make_mnist(7)
    ip = write(tmp_path / ("img" + (".gz" if gz else "")), idx_bytes(images), gz)
    lp = write(tmp_path / ("lab" + (".gz" if gz else "")), idx_bytes(labels), gz)
    x, y = datasets.load_mnist_idx(ip, lp)
    assert x.shape == (7, 28, 28, 1) and x.dtype == np.float32
    assert y.shape == (7,) and y.dtype == np.int64
    np.testing.assert_allclose(x[..., 0], images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, labels)
    assert x.min() >= 0.0 and x.max() == 1.0


def test_load_mnist_idx_accepts_str_paths_and_other_sizes(tmp_path):
    images, labels = make_mnist(3, rows=5, cols=7)
    ip = write(tmp_path / "i", idx_bytes(images))
    lp = write(tmp_path / "l", idx_bytes(labels))
    x, y = datasets.load_mnist_idx(str(ip), str(lp), dtype=np.float64)
    assert x.shape == (3, 5, 7, 1) and x.dtype == np.float64


def test_gzip_detected_by_content_without_gz_suffix(tmp_path):
    images, labels = make_mnist(2)
    ip = write(tmp_path / "i", idx_bytes(images), gz=True)
    lp = write(tmp_path / "l", idx_bytes(labels))
    x, _ = datasets.load_mnist_idx(ip, lp)
    np.testing.assert_allclose(x[..., 0] * 255, images, atol=1e-4)


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_directory(tmp_path, gz):
    arrays = write_mnist_dir(tmp_path, gz=gz)
    (x_train, y_train), (x_test, y_test) = datasets.load_mnist(tmp_path)
    assert x_train.shape == (6, 28, 28, 1) and x_test.shape == (4, 28, 28, 1)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_array_equal(y_train, arrays["train_labels"])
    np.testing.assert_array_equal(y_test, arrays["test_labels"])
    np.testing.assert_allclose(x_test[..., 0] * 255, arrays["test_images"], atol=1e-4)


def test_load_mnist_dotted_names(tmp_path):
    arrays = write_mnist_dir(tmp_path)
    for name in MNIST_NAMES:
        os.rename(tmp_path / name, tmp_path / name.replace("-idx", ".idx"))
    (_, y_train), _ = datasets.load_mnist(str(tmp_path))
    np.testing.assert_array_equal(y_train, arrays["train_labels"])


def test_load_mnist_missing_file(tmp_path):
    write_mnist_dir(tmp_path)
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        datasets.load_mnist(tmp_path)


def test_load_mnist_missing_directory(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match="nope"):
        datasets.load_mnist(missing)


def test_load_mnist_idx_missing_file(tmp_path):
    images, _ = make_mnist(2)
    ip = write(tmp_path / "i", idx_bytes(images))
    with pytest.raises(FileNotFoundError, match="labels-not-here"):
        datasets.load_mnist_idx(ip, tmp_path / "labels-not-here")


def _mnist_pair(tmp_path, images_data, labels_data, gz=False):
    ip = write(tmp_path / ("images" + (".gz" if gz else "")), images_data, gz)
    lp = write(tmp_path / ("labels" + (".gz" if gz else "")), labels_data, gz)
    return ip, lp


def test_wrong_magic_images(tmp_path):
    images, labels = make_mnist(2)
    ip, lp = _mnist_pair(tmp_path, idx_bytes(images, magic=0x0000_0903), idx_bytes(labels))
    with pytest.raises(ValueError, match=r"images.*magic number 2307.*expected 2051"):
        datasets.load_mnist_idx(ip, lp)


def test_swapped_files_rejected_by_magic(tmp_path):
    images, labels = make_mnist(2)
    ip, lp = _mnist_pair(tmp_path, idx_bytes(images), idx_bytes(labels))
    with pytest.raises(ValueError, match=r"labels.*magic number 2049.*expected 2051"):
        datasets.load_mnist_idx(lp, ip)


def test_garbage_file_rejected(tmp_path):
    _, labels = make_mnist(2)
    ip, lp = _mnist_pair(tmp_path, b"<html>not found</html>", idx_bytes(labels))
    with pytest.raises(ValueError, match="images.*magic"):
        datasets.load_mnist_idx(ip, lp)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_images(tmp_path, gz):
    images, labels = make_mnist(3)
    data = idx_bytes(images)[:-10]
    ip, lp = _mnist_pair(tmp_path, data, idx_bytes(labels), gz=gz)
    with pytest.raises(ValueError, match=r"images.*truncated.*3 x 28 x 28 = 2352.*2342"):
        datasets.load_mnist_idx(ip, lp)


def test_trailing_bytes(tmp_path):
    images, labels = make_mnist(3)
    ip, lp = _mnist_pair(tmp_path, idx_bytes(images), idx_bytes(labels) + b"\x00")
    with pytest.raises(ValueError, match=r"labels.*trailing.*3 = 3 bytes.*holds 4"):
        datasets.load_mnist_idx(ip, lp)


def test_truncated_header(tmp_path):
    images, labels = make_mnist(3)
    ip, lp = _mnist_pair(tmp_path, idx_bytes(images)[:9], idx_bytes(labels))
    with pytest.raises(ValueError, match=r"images.*truncated header.*16-byte.*9 bytes"):
        datasets.load_mnist_idx(ip, lp)


def test_empty_file(tmp_path):
    _, labels = make_mnist(3)
    ip, lp = _mnist_pair(tmp_path, b"", idx_bytes(labels))
    with pytest.raises(ValueError, match=r"images.*too short.*0 bytes"):
        datasets.load_mnist_idx(ip, lp)


def test_label_out_of_range(tmp_path):
    images, labels = make_mnist(4)
    labels[2] = 10
    ip, lp = _mnist_pair(tmp_path, idx_bytes(images), idx_bytes(labels))
    with pytest.raises(ValueError, match=r"labels.*label 10 at index 2.*0\.\.9"):
        datasets.load_mnist_idx(ip, lp)
    # a larger num_classes accepts it (e.g. other IDX data sets)
    _, y = datasets.load_mnist_idx(ip, lp, num_classes=11)
    assert y[2] == 10


def test_count_mismatch(tmp_path):
    images, labels = make_mnist(4)
    ip, lp = _mnist_pair(tmp_path, idx_bytes(images), idx_bytes(labels[:3]))
    with pytest.raises(ValueError, match=r"count mismatch.*images.*4 images.*labels.*3 labels"):
        datasets.load_mnist_idx(ip, lp)


def test_unsupported_element_type(tmp_path):
    _, labels = make_mnist(4)
    data = struct.pack(">I", 0x00000D03) + struct.pack(">III", 1, 2, 2) + b"\x00" * 16
    ip, lp = _mnist_pair(tmp_path, data, idx_bytes(labels[:1]))
    with pytest.raises(ValueError, match="magic number"):
        datasets.load_mnist_idx(ip, lp)
    with pytest.raises(ValueError, match=r"element type 0x0d \(float\)"):
        datasets.read_idx(ip)


def test_zero_sized_images(tmp_path):
    images = np.zeros((2, 0, 28), dtype=np.uint8)
    ip, lp = _mnist_pair(tmp_path, idx_bytes(images), idx_bytes(np.zeros(2)))
    with pytest.raises(ValueError, match=r"images.*zero-sized.*0 x 28"):
        datasets.load_mnist_idx(ip, lp)


def test_corrupt_gzip(tmp_path):
    images, labels = make_mnist(3)
    good = gzip.compress(idx_bytes(images))
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF          # flip bits in the deflate stream (or its CRC)
    ip = write(tmp_path / "images.gz", bytes(bad))
    lp = write(tmp_path / "labels", idx_bytes(labels))
    with pytest.raises(ValueError, match=r"images\.gz.*gzip"):
        datasets.load_mnist_idx(ip, lp)


def test_truncated_gzip(tmp_path):
    images, labels = make_mnist(3)
    good = gzip.compress(idx_bytes(images))
    ip = write(tmp_path / "images.gz", good[: len(good) // 2])
    lp = write(tmp_path / "labels", idx_bytes(labels))
    with pytest.raises(ValueError, match=r"images\.gz.*gzip"):
        datasets.load_mnist_idx(ip, lp)


def _zeros_gzip(head, n):
    """``head`` then ``n`` zero bytes, gzipped as a stream (never all in memory)."""
    import zlib
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out, chunk = [c.compress(head)], bytes(1 << 20)
    for _ in range(n // len(chunk)):
        out.append(c.compress(chunk))
    out.append(c.compress(bytes(n % len(chunk))))
    return b"".join(out) + c.flush()


def test_gzip_that_inflates_past_its_header_is_refused_as_it_inflates(tmp_path):
    # a 0.2 MB file: an IDX header for 3 x 28 x 28 images, then 256 MB of zeros; it used
    # to be inflated whole (and the size compared afterwards)
    import tracemalloc
    header = struct.pack(">IIII", 0x0803, 3, 28, 28)
    p = write(tmp_path / "images.gz", _zeros_gzip(header, 256 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"images\.gz: the gzip data inflates to more "
                                             r"than 2368 bytes \(the size its header "
                                             r"declares\)"):
            datasets.read_idx(p, expected_ndim=3)
        assert tracemalloc.get_traced_memory()[1] < 16 << 20
    finally:
        tracemalloc.stop()


def test_cifar10_gzip_inflating_past_64_times_its_size_is_refused(tmp_path):
    p = write(tmp_path / "data_batch_1.bin.gz", _zeros_gzip(b"", 3073 * 40000))
    with pytest.raises(ValueError, match=r"inflates to more than \d+ bytes \(64 times the "
                                         r"file's \d+ bytes\)"):
        datasets.read_cifar10_batch(p)


def test_multi_member_and_zero_padded_gzip_read_whole(tmp_path):
    images, _ = make_mnist(4)
    raw = idx_bytes(images)
    p = write(tmp_path / "images.gz", gzip.compress(raw[:700]) + gzip.compress(raw[700:])
              + bytes(16))
    np.testing.assert_array_equal(datasets.read_idx(p, expected_ndim=3), images)


def test_gz_name_without_gzip_content(tmp_path):
    images, labels = make_mnist(3)
    ip = write(tmp_path / "images.gz", idx_bytes(images))
    lp = write(tmp_path / "labels", idx_bytes(labels))
    with pytest.raises(ValueError, match=r"images\.gz.*not gzip"):
        datasets.load_mnist_idx(ip, lp)


def test_mnist_train_test_size_mismatch(tmp_path):
    write_mnist_dir(tmp_path)
    images, _ = make_mnist(4, rows=20, cols=20)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(images))
    with pytest.raises(ValueError, match=r"size mismatch.*28 x 28.*20 x 20"):
        datasets.load_mnist(tmp_path)


# ----------------------------------------------------------------------------------------
# CIFAR-10
# ----------------------------------------------------------------------------------------

def make_cifar(n, seed):
    rng = np.random.default_rng(seed)
    chw = rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    records = np.concatenate([labels[:, None], chw.reshape(n, -1)], axis=1)
    return records.tobytes(), chw, labels


def write_cifar_dir(directory, gz=False, sizes=(3, 2, 1, 2, 3, 4)):
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    parts = []
    directory.mkdir(parents=True, exist_ok=True)
    for i, (name, n) in enumerate(zip(names, sizes)):
        data, chw, labels = make_cifar(n, seed=i)
        write(directory / (name + (".gz" if gz else "")), data, gz)
        parts.append((chw, labels))
    return parts


@pytest.mark.parametrize("gz", [False, True])
def test_load_cifar10(tmp_path, gz):
    parts = write_cifar_dir(tmp_path, gz=gz)
    (x_train, y_train), (x_test, y_test) = datasets.load_cifar10(tmp_path)
    assert x_train.shape == (11, 32, 32, 3) and x_test.shape == (4, 32, 32, 3)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    assert x_train.flags.c_contiguous and x_test.flags.c_contiguous
    chw_train = np.concatenate([p[0] for p in parts[:5]])
    np.testing.assert_array_equal(y_train, np.concatenate([p[1] for p in parts[:5]]))
    np.testing.assert_array_equal(y_test, parts[5][1])
    # channels-last: x[n, h, w, c] == record pixel [c, h, w] / 255
    np.testing.assert_allclose(x_train * 255, chw_train.transpose(0, 2, 3, 1), atol=1e-4)
    np.testing.assert_allclose(x_test * 255, parts[5][0].transpose(0, 2, 3, 1), atol=1e-4)
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0


def test_cifar10_channel_order(tmp_path):
    # one record: red plane all 255, green 128, blue 0; pixel (0, 1) of red set to 0
    chw = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    chw[0, 0] = 255
    chw[0, 1] = 128
    chw[0, 0, 0, 1] = 0
    p = write(tmp_path / "b.bin", bytes([7]) + chw.tobytes())
    x, y = datasets.read_cifar10_batch(p)
    assert y.tolist() == [7]
    np.testing.assert_allclose(x[0, 5, 5], [1.0, 128 / 255, 0.0], rtol=1e-6)
    assert x[0, 0, 1, 0] == 0.0 and x[0, 1, 0, 0] == 1.0
    assert datasets.CIFAR10_CLASSES[7] == "horse"


def test_cifar10_nested_directory(tmp_path):
    write_cifar_dir(tmp_path / "cifar-10-batches-bin")
    (x_train, _), (x_test, _) = datasets.load_cifar10(str(tmp_path))
    assert x_train.shape[0] == 11 and x_test.shape[0] == 4


def test_cifar10_missing_file(tmp_path):
    write_cifar_dir(tmp_path)
    os.remove(tmp_path / "data_batch_3.bin")
    with pytest.raises(FileNotFoundError, match="data_batch_3.bin"):
        datasets.load_cifar10(tmp_path)


def test_cifar10_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="no-cifar-here"):
        datasets.load_cifar10(tmp_path / "no-cifar-here")


def test_cifar10_wrong_size(tmp_path):
    write_cifar_dir(tmp_path)
    data, _, _ = make_cifar(2, seed=9)
    write(tmp_path / "data_batch_2.bin", data[:-1])
    with pytest.raises(ValueError, match=r"data_batch_2\.bin.*6145 bytes.*3073.*1 whole records "
                                         r"and 3072 bytes left over"):
        datasets.load_cifar10(tmp_path)


def test_cifar10_empty_file(tmp_path):
    p = write(tmp_path / "test_batch.bin", b"")
    with pytest.raises(ValueError, match=r"test_batch\.bin.*size 0 bytes"):
        datasets.read_cifar10_batch(p)


def test_cifar10_label_out_of_range(tmp_path):
    data, _, _ = make_cifar(3, seed=0)
    bad = bytearray(data)
    bad[2 * 3073] = 42
    p = write(tmp_path / "test_batch.bin", bytes(bad))
    with pytest.raises(ValueError, match=r"test_batch\.bin.*label 42 in record 2.*0\.\.9"):
        datasets.read_cifar10_batch(p)


def test_cifar10_corrupt_gzip(tmp_path):
    data, _, _ = make_cifar(2, seed=0)
    good = gzip.compress(data)
    p = write(tmp_path / "test_batch.bin.gz", good[:-12])
    with pytest.raises(ValueError, match=r"test_batch\.bin\.gz.*gzip"):
        datasets.read_cifar10_batch(p)


# ----------------------------------------------------------------------------------------
# load_data(spec)
# ----------------------------------------------------------------------------------------

def test_load_data_digits():
    (x_train, y_train), (x_test, y_test) = datasets.load_data("digits")
    (x2, y2), _ = datasets.load_digits()
    np.testing.assert_array_equal(x_train, x2)
    np.testing.assert_array_equal(y_train, y2)
    (x3, _), _ = datasets.load_data("  DIGITS ")
    assert x3.shape == x2.shape


def test_load_data_mnist_and_cifar(tmp_path):
    write_mnist_dir(tmp_path / "m")
    write_cifar_dir(tmp_path / "c")
    (xm, _), _ = datasets.load_data(f"mnist:{tmp_path / 'm'}")
    assert xm.shape == (6, 28, 28, 1)
    (xf, _), _ = datasets.load_data(f"fashion_mnist:{tmp_path / 'm'}")
    assert xf.shape == (6, 28, 28, 1)
    (xc, _), _ = datasets.load_data(f"CIFAR10:{tmp_path / 'c'}")
    assert xc.shape == (11, 32, 32, 3)
    (xc, _), _ = datasets.load_data(f"cifar-10:{tmp_path / 'c'}", dtype=np.float64)
    assert xc.dtype == np.float64


@pytest.mark.parametrize("spec", ["imagenet", "imagenet:/data", "", "mnist", "mnist:",
                                  "cifar10:  ", "digits:/tmp", ":foo"])
def test_load_data_bad_spec(spec):
    with pytest.raises(ValueError, match="spec"):
        datasets.load_data(spec)


def test_load_data_missing_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        datasets.load_data(f"mnist:{tmp_path / 'absent'}")


def test_load_data_not_a_string():
    with pytest.raises(TypeError):
        datasets.load_data(None)


def test_never_unpickles(tmp_path, monkeypatch):
    # an object array (a pickle) in place of the digits file must be refused, not loaded
    fake = tmp_path / "digits.npz"
    np.save(tmp_path / "x.npy", np.array([object()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(fake, "w") as zf:
        zf.write(tmp_path / "x.npy", "images.npy")
        zf.write(tmp_path / "x.npy", "labels.npy")
    monkeypatch.setattr(datasets, "DIGITS_PATH", str(fake))
    with pytest.raises(ValueError, match="[Pp]ickle"):
        datasets.load_digits()
