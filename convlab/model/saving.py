"""The ``.npz`` file of a convlab model: one NumPy archive, architecture as JSON, weights as arrays.

Layout of the archive (``np.savez``, no pickles)::

    __convlab__      a 0-d str array: JSON {"format": "convlab.Sequential", "version": 1,
                     "config": model.get_config(), "compile_config": ..., "backend": ...,
                     "n_weights": n, "n_optimizer_state": m (when saved)}
    weight_0000 …    the weights in get_weights() order
    optimizer_0000 … the optimizer's state (moments, step counter), when saved

Files are written through :func:`convlab.util.files.atomic_path`: an
interrupted save never leaves a half-written file. Reading checks every entry
before anything is built or assigned.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Sequence
from typing import Any

import numpy as np

from convlab.util.files import atomic_path

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "check_npz_path",
    "pack",
    "write_npz",
    "read_npz",
    "weights_from",
    "optimizer_state_from",
]

FORMAT = "convlab.Sequential"
FORMAT_VERSION = 1


def check_npz_path(path: str | os.PathLike) -> None:
    """Raise unless ``path`` is a str/PathLike ending in ``.npz`` (TypeError / ValueError naming ``path``)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
    if not os.fspath(path).endswith(".npz"):
        raise ValueError(f"path must end with '.npz', got {os.fspath(path)!r}")


def pack(
    config: dict[str, Any],
    weights: Sequence[np.ndarray],
    *,
    compile_config: dict[str, Any] | None = None,
    backend: str | None = None,
    optimizer_state: Sequence[np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The archive's entries (name → array) for a model's config, weights and, optionally, optimizer state."""
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "config": config,
        "compile_config": compile_config,
        "backend": backend,
        "n_weights": len(weights),
    }
    arrays = {f"weight_{i:04d}": w for i, w in enumerate(weights)}
    if optimizer_state is not None:
        meta["n_optimizer_state"] = len(optimizer_state)
        arrays.update({f"optimizer_{i:04d}": s for i, s in enumerate(optimizer_state)})
    arrays["__convlab__"] = np.array(json.dumps(meta))
    return arrays


def write_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as one ``.npz`` at ``path``, atomically (a temporary file in the same folder, then a rename).

    Raises:
        FileNotFoundError: the folder does not exist.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def read_npz(path: str | os.PathLike, what: str = "model") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a convlab model file, every array read into memory.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a truncated or corrupt archive, not a convlab file, or an unreadable architecture entry.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no such file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as exc:
        raise ValueError(f"{path!r} is not a readable convlab {what} file (truncated or corrupt?): {exc}") from exc
    if "__convlab__" not in arrays:
        raise ValueError(f"{path!r} is not a convlab {what} file (no '__convlab__' entry)")
    try:
        meta = json.loads(str(arrays.pop("__convlab__")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path!r}: its architecture entry is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a convlab Sequential file (format {meta.get('format')!r})")
    return meta, arrays


def weights_from(meta: dict[str, Any], arrays: dict[str, np.ndarray], path: str | os.PathLike) -> list[np.ndarray]:
    """The weights of a file read by :func:`read_npz`, in ``get_weights`` order.

    Raises:
        ValueError: entries missing (naming the file).
    """
    n = meta.get("n_weights")
    keys = [f"weight_{i:04d}" for i in range(n if isinstance(n, int) else 0)]
    missing = [k for k in keys if k not in arrays]
    if not isinstance(n, int) or missing:
        raise ValueError(f"{os.fspath(path)!r}: weights missing from the file ({missing[:3]}…)")
    return [arrays[k] for k in keys]


def optimizer_state_from(
    meta: dict[str, Any], arrays: dict[str, np.ndarray], path: str | os.PathLike
) -> list[np.ndarray] | None:
    """The optimizer state of a file read by :func:`read_npz` (``None`` when none was saved).

    Raises:
        ValueError: entries missing (naming the file).
    """
    n = meta.get("n_optimizer_state")
    if not n:
        return None
    keys = [f"optimizer_{i:04d}" for i in range(n)]
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise ValueError(f"{os.fspath(path)!r}: optimizer state missing from the file ({missing[:3]}…)")
    return [arrays[k] for k in keys]
