"""The ``.npz`` file of a convlab model: one NumPy archive, architecture as JSON, weights as arrays.

Layout of the archive (``np.savez``, no pickles)::

    __convlab__      a 0-d str array: JSON {"format": "convlab.Sequential", "version": 1,
                     "config": model.get_config(), "compile_config": ..., "backend": ...,
                     "n_weights": n, "n_optimizer_state": m (when saved),
                     "class_names": [...] (when the model names its classes)}
    weight_0000 …    the weights in get_weights() order: trainable and non-trainable
                     (BatchNormalization's moving_mean and moving_variance are saved and loaded
                     with the others, in Keras' order gamma, beta, moving_mean, moving_variance)
    optimizer_0000 … the optimizer's state (moments, step counter), when saved

Files are written through :func:`convlab.util.files.atomic_path`: an
interrupted save never leaves a half-written file. Reading
(:func:`read_npz`) checks the whole file against this layout — the metadata's
keys and types, every declared entry present and no other, the arrays' kinds —
in one place, before anything is built or assigned: a file edited by hand or
written by another program is refused with a ``ValueError`` naming the file
and what is wrong. Files are only ever read here, never modified.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from convlab.util.checks import BACKENDS, is_int
from convlab.util.files import atomic_path, check_path, read_npz_arrays

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "check_npz_path",
    "check_class_names",
    "pack",
    "write_npz",
    "read_npz",
    "check_contents",
    "weights_from",
    "optimizer_state_from",
]

FORMAT = "convlab.Sequential"
FORMAT_VERSION = 1


def check_npz_path(path: str | os.PathLike) -> None:
    """Raise unless ``path`` is a str/PathLike file name ending in ``.npz`` (TypeError / ValueError naming ``path``)."""
    if not check_path(path).endswith(".npz"):
        raise ValueError(f"path must end with '.npz', got {os.fspath(path)!r}")


def pack(
    config: dict[str, Any],
    weights: Sequence[np.ndarray],
    *,
    compile_config: dict[str, Any] | None = None,
    backend: str | None = None,
    optimizer_state: Sequence[np.ndarray] | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """The archive's entries (name → array) for a model's config, weights and, optionally, optimizer state.

    Raises:
        TypeError: the config holds a value JSON cannot write — a layer given a function as an
            initialiser (the message names the layer and the argument).
    """
    _check_json_config(config)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": config,
        "compile_config": compile_config,
        "backend": backend,
        "n_weights": len(weights),
    }
    if class_names is not None:
        meta["class_names"] = list(class_names)
    arrays = {f"weight_{i:04d}": w for i, w in enumerate(weights)}
    if optimizer_state is not None:
        meta["n_optimizer_state"] = len(optimizer_state)
        arrays.update({f"optimizer_{i:04d}": s for i, s in enumerate(optimizer_state)})
    arrays["__convlab__"] = np.array(json.dumps(meta))
    return arrays


def _check_json_config(config: dict[str, Any]) -> None:
    """Raise TypeError naming the layer and the argument when a layer's config holds a function."""
    for spec in config.get("layers", []):
        for key, value in spec.get("config", {}).items():
            if callable(value):
                name = spec["config"].get("name", spec.get("class_name"))
                raise TypeError(
                    f"layer {name!r}: {key} is the function {getattr(value, '__name__', value)!r}, which a file "
                    "cannot hold; give a Keras initialiser name (e.g. 'he_normal') to save the model (the weights "
                    "alone can be kept with np.savez(path, *model.get_weights()))"
                )


def check_class_names(value: Any, n_outputs: int | None = None) -> tuple[str, ...]:
    """``value`` as a tuple of class names, or an error naming ``class_names``.

    Args:
        value: a list or tuple of non-empty str.
        n_outputs: the model's output units, when known: the count must match.

    Raises:
        TypeError: not a list/tuple, or an item that is not a str. ValueError: an empty name,
        or ``len(value) != n_outputs``.
    """
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"class_names must be a list or tuple of str, got {type(value).__name__}")
    for i, name in enumerate(value):
        if not isinstance(name, str):
            raise TypeError(f"class_names[{i}] must be a str, got {name!r}")
        if not name:
            raise ValueError(f"class_names[{i}] must be a non-empty str, got ''")
    if n_outputs is not None and len(value) != n_outputs:
        raise ValueError(f"class_names must have one name per output unit ({n_outputs}), got {len(value)}")
    return tuple(value)


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as one ``.npz`` at ``path``, atomically (a temporary file in the same folder, then a rename).

    Raises:
        OSError: as :func:`convlab.util.files.atomic_path` (``FileNotFoundError``: the folder does not exist;
            ``IsADirectoryError``: ``path`` is a folder; ``PermissionError``: the folder is not writable; …),
            naming ``path``. Nothing is left behind and an earlier file at ``path`` is unchanged.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


class _BadFile(ValueError):
    """A file that does not follow the layout; caught and re-raised as a ValueError naming the file."""


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expect(ok: bool, what: str, value: Any) -> None:
    if not ok:
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise _BadFile(f"{what}, found {_kind(value)} {shown}")


def _count(meta: dict[str, Any], key: str, n_entries: int) -> int:
    """``meta[key]``: an int in 0 … ``n_entries`` (a bigger count cannot be stored; checked before any loop)."""
    n = meta[key]
    _expect(is_int(n) and n >= 0, f"{key!r} must be an int >= 0", n)
    if n > n_entries:
        raise _BadFile(f"{key!r} declares {n} entries but the archive holds {n_entries} arrays in all")
    return int(n)


def _check_config(config: Any) -> None:
    _expect(isinstance(config, dict), "'config' must be a JSON object", config)
    _expect(
        config.get("name") is None or isinstance(config.get("name"), str),
        "config 'name' must be a string",
        config.get("name"),
    )
    layers = config.get("layers")
    _expect(isinstance(layers, list), "config 'layers' must be a list", layers)
    for i, spec in enumerate(layers):
        _expect(isinstance(spec, dict), f"config layer {i} must be a JSON object", spec)
        _expect(
            isinstance(spec.get("class_name"), str),
            f"config layer {i} 'class_name' must be a string",
            spec.get("class_name"),
        )
        _expect(
            isinstance(spec.get("config"), dict), f"config layer {i} 'config' must be a JSON object", spec.get("config")
        )
        if spec["class_name"] == "InputLayer":
            shape = spec["config"].get("shape")
            _expect(isinstance(shape, list), f"config layer {i} (InputLayer) 'shape' must be a list", shape)
    shape = config.get("build_input_shape")
    _expect(
        shape is None or (isinstance(shape, list) and all(d is None or is_int(d) for d in shape)),
        "config 'build_input_shape' must be null or a list of ints and nulls",
        shape,
    )


def _check_compile_config(cc: Any) -> None:
    _expect(cc is None or isinstance(cc, dict), "'compile_config' must be null or a JSON object", cc)
    if cc is None:
        return
    _expect("optimizer" in cc, "'compile_config' must have an 'optimizer'", cc)
    opt = cc["optimizer"]
    _expect(isinstance(opt, dict), "compile_config 'optimizer' must be a JSON object", opt)
    _expect(isinstance(opt.get("class_name"), str), "optimizer 'class_name' must be a string", opt.get("class_name"))
    _expect(isinstance(opt.get("config", {}), dict), "optimizer 'config' must be a JSON object", opt.get("config"))
    _expect(isinstance(cc.get("loss"), str), "compile_config 'loss' must be a loss name (string)", cc.get("loss"))
    metrics = cc.get("metrics", [])
    _expect(
        isinstance(metrics, list) and all(isinstance(m, str) for m in metrics),
        "compile_config 'metrics' must be a list of names",
        metrics,
    )


def _check_arrays(arrays: dict[str, np.ndarray], prefix: str, n: int) -> None:
    """Entries ``prefix_0000`` … ``prefix_{n-1}`` present, each a real floating-point array."""
    missing = [f"{prefix}_{i:04d}" for i in range(n) if f"{prefix}_{i:04d}" not in arrays]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise _BadFile(f"the metadata declares {n} {prefix} entries but {shown} missing from the archive")
    for i in range(n):
        key = f"{prefix}_{i:04d}"
        a = arrays[key]
        if prefix == "optimizer" and i == 0:  # the step counter
            _expect(
                a.ndim == 0 and a.dtype.kind in "iu" and int(a) >= 0,
                f"{key} (the optimizer's step count) must be a 0-d int array >= 0",
                a,
            )
        elif a.dtype.kind != "f":
            raise _BadFile(f"{key} must hold floating-point numbers (convlab saves float32), found dtype {a.dtype}")


def check_contents(meta: Any, arrays: dict[str, np.ndarray]) -> None:
    """Check a decoded file against the layout in this module's docstring; build nothing.

    Raises:
        ValueError: the first thing that differs, saying what was expected and what was found.
    """
    _expect(isinstance(meta, dict), "the '__convlab__' entry must be a JSON object", meta)
    _expect(
        meta.get("format") == FORMAT, f"'format' must be {FORMAT!r} (not a convlab Sequential file)", meta.get("format")
    )
    version = meta.get("version")
    _expect(is_int(version) and version >= 1, "'version' must be an int >= 1", version)
    if version > FORMAT_VERSION:
        raise _BadFile(f"written by a newer convlab (format version {version}; this convlab reads {FORMAT_VERSION})")
    for key in ("config", "n_weights"):
        _expect(key in meta, f"the metadata must have {key!r}", sorted(meta))
    _check_config(meta["config"])
    _check_compile_config(meta.get("compile_config"))
    backend = meta.get("backend")
    _expect(backend is None or backend in BACKENDS, f"'backend' must be null or one of {list(BACKENDS)}", backend)
    if meta.get("class_names") is not None:
        try:
            check_class_names(meta["class_names"])
        except (TypeError, ValueError) as exc:
            raise _BadFile(f"'class_names' is not a list of names: {exc}") from exc
    n_weights = _count(meta, "n_weights", len(arrays))
    _check_arrays(arrays, "weight", n_weights)
    n_state = 0
    if meta.get("n_optimizer_state") is not None:
        n_state = _count(meta, "n_optimizer_state", len(arrays))
        _check_arrays(arrays, "optimizer", n_state)
    declared = {f"weight_{i:04d}" for i in range(n_weights)} | {f"optimizer_{i:04d}" for i in range(n_state)}
    extra = sorted(set(arrays) - declared)
    if extra:
        raise _BadFile(f"entries the metadata does not declare: {extra[:5]}")


def read_npz(path: str | os.PathLike, what: str = "model") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a convlab model file, every array read into memory and the whole file checked.

    The file is only read. Its metadata and entries are checked by :func:`check_contents`
    before anything is returned, so a caller builds nothing from a bad file.

    Args:
        path: the ``.npz`` file.
        what: ``"model"`` or ``"weights"``, for messages.

    Returns:
        ``meta`` (the decoded ``__convlab__`` JSON object) and ``arrays`` (the other entries).

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike``.
        FileNotFoundError, IsADirectoryError, PermissionError (``OSError``): the file cannot be opened.
        ValueError: a truncated or corrupt archive, a pickle, not a convlab file, or metadata
            or entries that do not follow the layout — the message names the file and what is wrong.
    """
    arrays = read_npz_arrays(path, what=f"convlab {what}")
    path = os.fspath(path)
    if "__convlab__" not in arrays:
        raise ValueError(f"{path!r} is not a convlab {what} file (no '__convlab__' entry; has {sorted(arrays)[:5]})")
    raw = arrays.pop("__convlab__")
    if raw.ndim != 0 or raw.dtype.kind != "U":
        raise ValueError(f"{path!r}: the '__convlab__' entry must be a 0-d string array, found {raw.dtype} {raw.shape}")
    try:
        meta = json.loads(str(raw))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an int too long to convert, nesting too deep
        raise ValueError(f"{path!r}: its '__convlab__' metadata is not valid JSON: {exc}") from exc
    try:
        check_contents(meta, arrays)
    except _BadFile as exc:
        raise ValueError(f"{path!r} is not a valid convlab {what} file: {exc}") from None
    return meta, arrays


def weights_from(meta: dict[str, Any], arrays: dict[str, np.ndarray], path: str | os.PathLike) -> list[np.ndarray]:
    """The weights of a file read (and checked) by :func:`read_npz`, in ``get_weights`` order."""
    return [arrays[f"weight_{i:04d}"] for i in range(meta["n_weights"])]


def optimizer_state_from(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], path: str | os.PathLike
) -> list[np.ndarray] | None:
    """The optimizer state of a file read (and checked) by :func:`read_npz` (``None`` when none was saved)."""
    n = meta.get("n_optimizer_state")
    if not n:
        return None
    return [arrays[f"optimizer_{i:04d}"] for i in range(n)]
