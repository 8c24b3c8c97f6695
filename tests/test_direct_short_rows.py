"""The direct forward path on output rows that are not a whole number of chunks, and its
fused write-back (csrc/conv_forward.c, fc_dkr / fc_dkn in csrc/gemm_ukernel_*.c).

A row's short last chunk that is the second chunk of its tile is slid back over its
partner (the shared pixels computed twice with the same sums) instead of stored with
masks, when the reduction is one K block; bias and ReLU are applied in the kernels'
write-back of the last K block. Both must leave every output element's arithmetic as it
was: checked against fastconv.reference, bitwise against the same convolution on a wider
image (whose rows have no short chunk), bitwise against the bias / ReLU applied afterwards
in NumPy, and bitwise across thread counts; both dtypes, both SIMD paths. A 1x1 stride-1
unpadded convolution chunks its plane as one row of pixels (chunks cross rows), so the
1x1 cases' short chunk is the plane's last.
"""
import sys

import numpy as np
import pytest

import fastconv
from fastconv import functional as F
from fastconv import reference as R

from conftest import assert_close

DTYPES = [np.float32, np.float64]

# (C, K, H, W, filter, stride): output widths 30 (the 'valid' tfcnn-c1 rows), 20 (the
# short chunk alternately first and second of its tile), 13, 9, 5 (narrower than a
# chunk); K = 32, 10, 13, 5 exercise the 2-row and 4-row narrow kernels and a partial
# panel; C*R*S = 270 and 300 take two K blocks (masked stores kept).
CASES = [
    (3, 32, 32, 32, 3, 1),
    (3, 10, 22, 22, 3, 1),
    (2, 13, 15, 15, 3, 1),
    (4, 5, 11, 11, 3, 1),
    (1, 7, 9, 7, 3, 1),
    (3, 24, 31, 31, 5, 2),
    (30, 13, 12, 32, 3, 1),
    (12, 10, 14, 34, 5, 1),
    # 1x1: planes of 240, 153 (an odd number of chunks), 196 pixels, and 575 (batch 1
    # splits its chunks between threads, cuts falling inside rows)
    (16, 32, 16, 15, 1, 1),
    (5, 13, 9, 17, 1, 1),
    (24, 8, 14, 14, 1, 1),
    (16, 12, 23, 25, 1, 1),
]


@pytest.fixture
def no_winograd(monkeypatch):
    monkeypatch.setenv("FASTCONV_NO_WINOGRAD", "1")


@pytest.fixture
def restore_threads():
    before = fastconv.get_num_threads()
    yield
    fastconv.set_num_threads(before)


def _inputs(case, dtype, N=2):
    C, K, H, W, f, _ = case
    rng = np.random.default_rng(C * 100 + K * 10 + W)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, f, f)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_reference(case, dtype, simd, no_winograd):
    x, w, b, = _inputs(case, dtype)
    stride = case[5]
    terms = w[0].size
    for act in (None, "relu", "leaky_relu"):
        y = F.conv2d(x, w, b, stride, activation=act)
        want = R.conv2d(x, w, b, stride)
        if act == "relu":
            want = np.maximum(want, 0)
        elif act == "leaky_relu":
            want = np.where(want > 0, want, 0.01 * want)
        assert_close(y, want, dtype, terms, f"forward, activation={act}")


@pytest.mark.parametrize("case", [c for c in CASES if c[5] == 1], ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_short_rows_are_bitwise_the_wide_image_columns(case, dtype, simd, no_winograd):
    """Output pixel (oh, ow) sums the same products in the same order whether its row ends
    in a short chunk or not: the image widened by zeros on the right (more output columns)
    gives bitwise the same values in the original columns."""
    x, w, b = _inputs(case, dtype)
    for extra in (1, 3, 8):
        wide = np.concatenate([x, np.zeros(x.shape[:3] + (extra,), dtype)], axis=3)
        y = F.conv2d(x, w, b, activation="relu")
        yw = F.conv2d(wide, w, b, activation="relu")
        assert y.tobytes() == np.ascontiguousarray(yw[..., :y.shape[3]]).tobytes(), extra


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_bias_relu_is_bitwise_the_separate_pass(case, dtype, simd, no_winograd):
    x, w, b = _inputs(case, dtype)
    stride = case[5]
    plain = F.conv2d(x, w, None, stride)
    biased = plain + b[:, None, None]
    assert F.conv2d(x, w, b, stride).tobytes() == biased.tobytes()
    assert F.conv2d(x, w, b, stride, activation="relu").tobytes() == np.where(biased > 0, biased, 0).tobytes()
    assert F.conv2d(x, w, None, stride, activation="relu").tobytes() == np.where(plain > 0, plain, 0).tobytes()


@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_thread_count_does_not_change_bits(case, dtype, simd, no_winograd, restore_threads):
    """Batch 1 (the team shares the image: chunk or channel splits) and a batch of 5."""
    for N in (1, 5):
        x, w, b = _inputs(case, dtype, N)
        stride = case[5]
        fastconv.set_num_threads(1)
        one = F.conv2d(x, w, b, stride, activation="relu")
        for threads in (2, 3):
            fastconv.set_num_threads(threads)
            got = F.conv2d(x, w, b, stride, activation="relu")
            assert got.tobytes() == one.tobytes(), f"N={N}, {threads} threads"


def _at_page_end(a):
    """A copy of a whose last byte is the last byte before an unreadable page (Linux), so
    that a kernel reading past the array faults instead of reading a neighbour."""
    import ctypes
    import mmap
    page = mmap.PAGESIZE
    span = -(-a.nbytes // page) * page + page
    buf = mmap.mmap(-1, span, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    base = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    assert libc.mprotect(ctypes.c_void_p(base + span - page), page, 0) == 0
    out = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=span - page - a.nbytes).reshape(a.shape)
    out[...] = a
    return out, buf


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through ctypes: Linux only")
@pytest.mark.parametrize("case", [c for c in CASES if c[5] == 1], ids=lambda c: "x".join(map(str, c)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_valid_images_read_in_place_stay_inside_the_batch(case, dtype, simd, no_winograd):
    """'valid' stride-1 images are read in place (no bordered copy) only when no chunk read
    runs past the image: the last image of the batch ends at an unreadable page."""
    x, w, b = _inputs(case, dtype)
    guarded, buf = _at_page_end(x)
    try:
        assert F.conv2d(guarded, w, b, activation="relu").tobytes() == \
            F.conv2d(x, w, b, activation="relu").tobytes()
    finally:
        del guarded
