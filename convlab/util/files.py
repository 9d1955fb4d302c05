"""Writing files so that nothing is lost or half-written: a temporary file, then a rename.

Every file convlab writes (a saved model, a figure, a lesson summary, a data
set's images, benchmark results) goes through :func:`atomic_path`: the writer
fills a temporary file in the destination's own folder (same file system, so
the final ``os.replace`` is atomic), and only a complete file replaces the old
one. If the writer raises — a full disk, Ctrl-C — the old file is untouched and
the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; on a clean exit, rename it onto ``path``.

    Args:
        path: the destination file. Its folder must exist.
        suffix: the temporary name's ending; default: all of ``path``'s suffixes
            (``.npz``, ``.weights.h5``), because some writers pick the format
            from the name (NumPy appends ``.npz``, Keras insists on
            ``.weights.h5``, matplotlib reads ``.png``).

    Yields:
        ``str``: the temporary file's path (the file exists and is empty).

    Raises:
        FileNotFoundError: the destination folder does not exist.
        Whatever the writer raises; the destination is then unchanged.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder for {str(path)!r} does not exist: {str(folder)!r}")
    if suffix is None:
        suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp" + suffix)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; a saved file should read like any other
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
