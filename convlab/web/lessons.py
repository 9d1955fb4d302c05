"""The lessons the explorer's pages link to: finding them, and reading one for ``GET /lessons/<name>``.

Each page names the lesson that covers it (``lessons/03_convolution_by_hand.py``) and links to
``/lessons/03_convolution_by_hand``, which shows that lesson's title, docstring, how to run it and its
source. The lessons are the scripts ``lessons/NN_name.py`` of convlab's source repository, next to the
``convlab`` package (an editable install, ``pip install -e .`` from a clone); a wheel install has no
``lessons/`` folder, and the pages then say how to get them.

Safety (issue 12: "no request can name a path on the server"): a request gives a lesson *name*, which is
looked up in the set of files that exist in the lessons folder (:func:`lesson_paths`, a whitelist); it is
never joined to a path. Anything else — ``../setup.cfg``, ``03_convolution_by_hand.py.bak``, a name that
is not there — is :class:`UnknownLessonError`. Only regular files directly inside the folder are listed
(a symlink leading out of it is not).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from convlab.teach.lessons import LESSON_GLOB, find_lessons, repo_root
from convlab.web.errors import shown

__all__ = [
    "HOW_TO_GET",
    "LESSON_GLOB",
    "MAX_SOURCE_BYTES",
    "Lesson",
    "LessonsMissingError",
    "UnknownLessonError",
    "lessons_folder",
    "lesson_paths",
    "read_lesson",
    "run_commands",
]

#: The most of a lesson's source a page shows (the lessons are 6–15 kB; this only bounds a stray huge file).
MAX_SOURCE_BYTES = 1024 * 1024
#: What the pages say where there is no lessons folder (a wheel install).
HOW_TO_GET = (
    "The lessons ship with convlab's source repository, not with the installed package. Clone the "
    "repository, install it with `pip install -e .` from the clone and start `convlab serve` again: "
    "the lesson pages then show each lesson, and `convlab lesson 3 --step` runs one."
)


class LessonsMissingError(FileNotFoundError):
    """There is no lessons folder (an installed wheel); the message says how to get the lessons."""


class UnknownLessonError(LookupError):
    """No lesson has the name a request gave; ``available`` lists the names there are."""

    def __init__(self, message: str, available: list[str]) -> None:
        super().__init__(message)
        self.available = available


@dataclass(frozen=True)
class Lesson:
    """One lesson script, read for its page.

    Attributes:
        name: the file's stem, e.g. ``"03_convolution_by_hand"`` (the URL's last part).
        number: its two leading digits as an int, e.g. ``3``.
        filename: ``"lessons/03_convolution_by_hand.py"``, as the pages and the lessons write it.
        title: the docstring's first line (``"Lesson 03 — convolution by hand: …"``), or ``filename``.
        docstring: the rest of the docstring (dedented, leading blank lines dropped), or ``""``.
        source: the script's text (UTF-8; undecodable bytes replaced), at most ``MAX_SOURCE_BYTES``.
        truncated: whether ``source`` was cut at ``MAX_SOURCE_BYTES``.
    """

    name: str
    number: int
    filename: str
    title: str
    docstring: str
    source: str
    truncated: bool = False


def lessons_folder() -> Path:
    """The repository's ``lessons/`` next to the ``convlab`` package (it may not exist: a wheel install).

    The folder ``convlab lesson N`` uses (:func:`convlab.teach.lessons.lessons_dir`), found the same way; this
    function does not raise, so the pages can say how to get the lessons when it is missing.
    """
    return repo_root() / "lessons"


def lesson_paths(folder: Path | None = None) -> dict[str, Path]:
    """The lessons there are: ``{name: path}`` for every ``NN_name.py`` file in ``folder``, sorted by name.

    Args:
        folder: the lessons folder; ``None`` for :func:`lessons_folder`.

    Returns:
        e.g. ``{"01_image_as_matrix": Path(".../lessons/01_image_as_matrix.py"), ...}``; only regular files
        that really are inside ``folder`` (a symlink to elsewhere is left out).

    Raises:
        LessonsMissingError: ``folder`` is not a directory (the message is :data:`HOW_TO_GET`).
    """
    folder = lessons_folder() if folder is None else Path(folder)
    if not folder.is_dir():
        raise LessonsMissingError(f"There is no lessons folder at {folder}. {HOW_TO_GET}")
    real = folder.resolve()
    found = {}
    for path in find_lessons(folder):  # the scripts `convlab lesson N` runs
        # resolve(): a link named like a lesson must not make a file outside the folder readable
        if path.resolve().parent == real:
            found[path.stem] = path
    return found


def _docstring(source: str) -> str:
    """The module docstring of ``source``, or ``""`` (none, or a script that does not parse)."""
    try:
        return ast.get_docstring(ast.parse(source)) or ""
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return ""  # a lesson being edited: its page still shows the source


def read_lesson(name: str, folder: Path | None = None) -> Lesson:
    """The lesson called ``name`` (``"03_convolution_by_hand"``), read for its page.

    ``name`` is only ever a key into :func:`lesson_paths`: it never becomes part of a path.

    Raises:
        LessonsMissingError: there is no lessons folder (see :func:`lesson_paths`).
        UnknownLessonError: no lesson is called ``name`` (the error lists those there are).
    """
    paths = lesson_paths(folder)
    path = paths.get(name) if isinstance(name, str) else None
    if path is None:
        raise UnknownLessonError(
            f"There is no lesson called {shown(name, 60)}. The lessons are named like "
            f"03_convolution_by_hand (the file lessons/03_convolution_by_hand.py without .py).",
            list(paths),
        )
    with path.open("rb") as f:
        data = f.read(MAX_SOURCE_BYTES + 1)
    truncated = len(data) > MAX_SOURCE_BYTES
    source = data[:MAX_SOURCE_BYTES].decode("utf-8", errors="replace")
    doc = _docstring(source) if not truncated else ""
    first, _, rest = doc.partition("\n")
    filename = f"lessons/{path.name}"
    return Lesson(
        name=name,
        number=int(name[:2]),
        filename=filename,
        title=first.strip() or filename,
        docstring=rest.strip("\n"),
        source=source,
        truncated=truncated,
    )


def run_commands(lesson: Lesson, names: list[str] | None = None) -> list[str]:
    """How to run ``lesson`` step by step: ``["convlab lesson 3 --step", "python lessons/03_….py --step"]``.

    ``convlab lesson N`` takes the number when only one lesson has it (``names``: all the lessons' names;
    ``None`` means it is unique), else the full name.
    """
    same_number = [n for n in (names or []) if n[:2] == lesson.name[:2]]
    token = str(lesson.number) if len(same_number) <= 1 else lesson.name
    return [f"convlab lesson {token} --step", f"python {lesson.filename} --step"]
