"""The learner's exercise folder: copying the stubs in, finding it again, remembering the hints shown.

``convlab exercises`` copies one stub per exercise into a folder the learner
owns (default ``./convlab-exercises``). A file that is already there is the
learner's work: it is kept unless ``force`` is given, and even then its old text
is saved beside it as ``<name>.bak`` first. Every file is written to a temporary
name and renamed, so an interrupted copy leaves no half-written exercise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from convlab.teach.exercise_catalogue import EXERCISES, Exercise
from convlab.util.files import atomic_path, check_path

__all__ = [
    "DEFAULT_DIR",
    "STUBS",
    "HINTS_FILE",
    "Copied",
    "stub_text",
    "copy_exercises",
    "find_folder",
    "hints_shown",
    "record_hints_shown",
]

#: Where ``convlab exercises`` puts the files and ``convlab check`` looks for them, unless told otherwise.
DEFAULT_DIR = "convlab-exercises"

#: The folder of the stubs inside the package.
STUBS = Path(__file__).with_name("stubs")

#: In the learner's folder: how many hints of each exercise have been shown (``convlab check N --hint``).
HINTS_FILE = ".convlab-hints.json"


@dataclass(frozen=True)
class Copied:
    """What :func:`copy_exercises` did with one file: ``"created"``, ``"kept"``, ``"unchanged"`` or ``"replaced"``."""

    exercise: Exercise
    path: Path
    action: str
    backup: Path | None = None


def stub_text(exercise: Exercise) -> str:
    """The stub of ``exercise`` as shipped (the text ``convlab exercises`` writes)."""
    return (STUBS / exercise.file_name).read_text(encoding="utf-8")


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def copy_exercises(folder: str | Path, *, force: bool = False) -> list[Copied]:
    """Copy every exercise stub into ``folder`` (created if needed).

    Args:
        folder: the learner's folder.
        force: replace files that differ from the stubs (the learner's work); each old text is
            saved first as ``<name>.bak``.

    Returns:
        One :class:`Copied` per exercise, in order.

    Raises:
        ValueError: ``folder`` is empty.
        NotADirectoryError: ``folder`` exists and is not a folder.
        OSError: the folder or a file cannot be written (the message names it).
    """
    folder = Path(check_path(folder, "--dir"))
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"--dir {str(folder)!r} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise type(e)(e.errno, f"--dir {str(folder)!r} cannot be created: {e.strerror}") from None
    done = []
    for ex in EXERCISES:
        path = folder / ex.file_name
        text = stub_text(ex)
        if not path.exists():
            _write(path, text)
            done.append(Copied(ex, path, "created"))
            continue
        old = path.read_text(encoding="utf-8", errors="replace")
        if old == text:
            done.append(Copied(ex, path, "unchanged"))
        elif not force:
            done.append(Copied(ex, path, "kept"))
        else:
            backup = path.with_name(path.name + ".bak")
            _write(backup, old)
            _write(path, text)
            done.append(Copied(ex, path, "replaced", backup))
    return done


def find_folder(given: str | Path | None) -> Path:
    """The learner's exercise folder: ``given`` if there is one; else ``./convlab-exercises`` if it exists;
    else the current folder when it holds exercise files (the learner ``cd``-ed into it).

    Raises:
        ValueError: ``given`` is empty.
        FileNotFoundError: no such folder (the message says to run ``convlab exercises``).
    """
    if given is not None:
        folder = Path(check_path(given, "--dir"))
        if not folder.is_dir():
            raise FileNotFoundError(
                f"--dir {str(given)!r} is not a folder: run `convlab exercises --dir {given}` to create it"
            )
        return folder
    default = Path(DEFAULT_DIR)
    if default.is_dir():
        return default
    here = Path(".")
    if any((here / ex.file_name).is_file() for ex in EXERCISES):
        return here
    raise FileNotFoundError(
        f"no exercise folder here ({DEFAULT_DIR}/): run `convlab exercises` first, or pass --dir DIR"
    )


def hints_shown(folder: Path, exercise: Exercise) -> int:
    """How many hints of ``exercise`` were shown in ``folder`` so far (0 when none, or the record is unreadable)."""
    try:
        data = json.loads((folder / HINTS_FILE).read_text(encoding="utf-8"))
        return max(0, int(data.get(str(exercise.number), 0)))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def record_hints_shown(folder: Path, exercise: Exercise, count: int) -> None:
    """Remember that ``count`` hints of ``exercise`` have been shown (best effort: a read-only folder is fine)."""
    path = folder / HINTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            data = {}
    except (OSError, ValueError):
        data = {}
    data[str(exercise.number)] = count
    try:
        _write(path, json.dumps(data, indent=1) + "\n")
    except OSError:
        pass
