"""Writing files so that nothing is lost or half-written, and reading ``.npz`` archives safely.

Every file convlab writes (a saved model, a figure, a lesson summary, a data
set's images, benchmark results) goes through :func:`atomic_path`: the writer
fills a temporary file in the destination's own folder (same file system, so
the final ``os.replace`` is atomic), and only a complete file replaces the old
one. If the writer raises — a full disk, Ctrl-C — the old file is untouched and
the temporary file is removed.

Every ``.npz`` convlab reads (a saved model, a Keras ``mnist.npz``) goes through
:func:`read_npz_arrays`: the archive is read whole into memory, the file is
closed on every path, and anything that is not a plain NumPy array is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["check_path", "atomic_path", "read_npz_arrays"]


def check_path(path: object, name: str = "path") -> str:
    """``path`` as a ``str`` if it is a usable file name, else raise naming ``name``.

    Raises:
        TypeError: not a ``str`` or ``os.PathLike`` of ``str`` (bytes paths are refused:
            convlab's messages and file names are text).
        ValueError: empty, or holding a NUL character (no file system accepts one; the
            OS functions would say "embedded null byte" without naming the argument).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__}: {path!r}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str or os.PathLike of str, got {type(text).__name__}: {text!r}")
    if not text or "\0" in text:
        raise ValueError(f"{name} must be a file name (not empty, no NUL character), got {text!r}")
    return text


def _as_users_error(exc: OSError, tmp: str, path: Path) -> OSError:
    """``exc`` re-addressed to ``path`` when it names the hidden temporary file ``tmp``, else ``exc`` itself.

    The user never asked for the temporary name, so an error that shows it (a
    ``PermissionError`` from creating it, an ``IsADirectoryError`` from renaming
    it) is re-raised with the same class and errno, naming the user's path.
    """
    names = {exc.filename, exc.filename2}
    if exc.errno is None or tmp not in names:
        return exc
    strerror = exc.strerror or os.strerror(exc.errno)
    try:
        return type(exc)(exc.errno, strerror, str(path))  # same class, same errno
    except TypeError:  # a subclass with another constructor: OSError picks the class from errno
        return OSError(exc.errno, strerror, str(path))


def _umask() -> int:
    """The process' umask (read by setting it and putting it back: there is no other portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        TypeError / ValueError: ``path`` is not a usable file name (:func:`check_path`).
        FileNotFoundError: the destination folder does not exist.
        NotADirectoryError: the destination's "folder" is a file.
        IsADirectoryError: ``path`` is a folder or ends with a path separator.
        PermissionError: the folder is not writable.
        OSError: any other failure of the file system. Every ``OSError`` that
            would name the temporary file names ``path`` instead (same class,
            same ``errno``).
        Whatever the writer raises. In every case the destination is unchanged
        and the temporary file is removed.
    """
    text = check_path(path)
    if text.endswith(("/", os.sep)):  # Path() would drop the slash and write the file "x" for "x/"
        raise IsADirectoryError(errno.EISDIR, "a file name must not end with a path separator", text)
    path = Path(text)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        if folder.exists():
            raise NotADirectoryError(errno.ENOTDIR, f"the folder for {str(path)!r} is not a folder", str(folder))
        raise FileNotFoundError(errno.ENOENT, f"the folder for {str(path)!r} does not exist", str(folder))
    if path.is_dir():  # refused before the writer runs: the rename at the end could only fail
        raise IsADirectoryError(errno.EISDIR, "cannot write a file over a folder", str(path))
    if suffix is None:
        suffix = "".join(path.suffixes)
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp" + suffix)
    except OSError as exc:
        new = _as_users_error(exc, exc.filename, path)  # mkstemp's random name means nothing to the user
        if new is exc:
            raise
        raise new from None  # the chained original would show the temporary name again
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; a saved file reads like any other
        os.replace(tmp, path)
    except OSError as exc:
        new = _as_users_error(exc, tmp, path)
        if new is exc:
            raise
        raise new from None  # the chained original would show the temporary name again
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# Errors the zip and .npy readers raise for bytes that are not what they should be. OSError is among
# them because zipfile seeks to offsets read from the file (a corrupt offset gives EINVAL); the file
# system's own errors (missing file, no permission) come from open(), before these are caught.
_CORRUPT = (
    OSError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    OverflowError,  # a header whose shape does not fit a C size
    MemoryError,  # a header that declares an array larger than memory
    NotImplementedError,  # an unknown zip compression method
    RuntimeError,  # an encrypted zip entry
    struct.error,
    KeyError,
)


def read_npz_arrays(path: str | os.PathLike, *, what: str = ".npz") -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive (``np.savez``), read into memory; the file is always closed.

    Pickled (object) arrays are never unpickled (``allow_pickle=False``).

    Args:
        path: the archive (``str`` or ``os.PathLike``); it is only read.
        what: what the file should be, for messages (``"convlab model"``, ``"Keras mnist.npz"``).

    Returns:
        ``{name: array}`` in the archive's order, names without ``.npy``.

    Raises:
        TypeError / ValueError: ``path`` is not a usable file name (:func:`check_path`).
        FileNotFoundError: no such file. IsADirectoryError: ``path`` is a folder.
        PermissionError, OSError: the file cannot be opened or read (from the OS).
        ValueError: the bytes are not an ``.npz`` of plain arrays — truncated or
            corrupt zip, a ``.npy`` or pickle instead of a zip, an entry that is
            not a ``.npy`` array, an object array, a header that declares more
            data than the entry holds. The message names the file (and the entry).
    """
    name = check_path(path)
    if os.path.isdir(name):
        raise IsADirectoryError(errno.EISDIR, f"path must be a {what} file, not a folder", name)
    if not os.path.exists(name):
        raise FileNotFoundError(errno.ENOENT, f"path: no such {what} file", name)
    arrays: dict[str, np.ndarray] = {}
    # np.load leaves a file it opened itself open when the zip is bad; a handle of ours is closed by `with`
    with open(name, "rb") as fh:
        entry = None
        try:
            loaded = np.load(fh, allow_pickle=False)
            if not isinstance(loaded, np.lib.npyio.NpzFile):
                raise ValueError(f"a single .npy array (shape {np.shape(loaded)}), not an .npz archive")
            with loaded:
                for entry in loaded.files:
                    value = loaded[entry]
                    if not isinstance(value, np.ndarray):  # NpzFile returns raw bytes for a non-.npy member
                        raise ValueError("not a .npy array")
                    arrays[entry] = value
        except _CORRUPT as exc:
            where = f" (entry {entry!r})" if entry is not None else ""
            reason = "it holds pickled Python objects, which convlab never loads" if "pickle" in str(exc) else exc
            raise ValueError(
                f"{name!r} is not a readable {what} file (truncated or corrupt?){where}: {type(exc).__name__}: {reason}"
            ) from exc
    return arrays
