"""The lessons the explorer's pages link to: finding them, and reading one for ``GET /lessons/<name>``.

Each page names the lesson that covers it (``lessons/03_convolution_by_hand.py``) and links to
``/lessons/03_convolution_by_hand``, which shows that lesson's title, its introduction, how to run it and its
source. The title and introduction are the script's first ``# %% [markdown]`` cell (jupytext's percent format:
a ``# Lesson 03 — …`` heading, then markdown), or, for a script written before the notebooks, its module
docstring (first line, then the rest). In Spanish each paragraph of it is translated through the lesson's own
catalog (``lessons/locale/es/LC_MESSAGES/03_convolution_by_hand.po``, whose entries are exactly these
paragraphs: :func:`convlab.teach.catalogs.paragraphs`); a paragraph it lacks stays as written.

The lessons are the scripts ``lessons/NN_name.py`` of convlab's source repository, next to the
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
import gettext as _gettext
from dataclasses import dataclass
from pathlib import Path

from convlab.teach.catalogs import markdown_cells, translate_paragraphs
from convlab.teach.lessons import LESSON_GLOB, find_lessons, repo_root
from convlab.util.i18n import LANGUAGES, N_, _, catalog_path, get_language, load_catalog
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
    "lesson_intro",
]

#: The most of a lesson's source a page shows (the lessons are 6–15 kB; this only bounds a stray huge file).
MAX_SOURCE_BYTES = 1024 * 1024
#: What the pages say where there is no lessons folder (a wheel install); shown translated, ``_(HOW_TO_GET)``.
HOW_TO_GET = N_(
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
        title: the heading of the first markdown cell without its ``# `` (``"Lesson 03 — convolution by hand:
            …"``), else the docstring's first line, else ``filename``; in the language in use.
        docstring: the lesson's introduction: the rest of that cell (markdown, shown as written) or of the
            docstring (dedented, leading blank lines dropped), or ``""``; in the language in use.
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


def _introduction(source: str) -> str:
    """The text a lesson's page shows above its source, untranslated: the first ``# %% [markdown]`` cell
    (the first line ``# Lesson NN — …``) or, for a script without one, the module docstring; or ``""``."""
    cells = markdown_cells(source)
    if cells and cells[0][1].strip():
        return cells[0][1]
    return _docstring(source)


def _lesson_catalog(folder: Path, name: str, lang: str) -> _gettext.NullTranslations | None:
    """The lesson's own catalog in ``lang`` (``folder/locale/<lang>/LC_MESSAGES/<name>.po``), or ``None``
    (English, the language the lessons are written in; or no catalog).

    Read directly, not added to the process' catalogs (:func:`convlab.util.i18n.add_catalog`): a lesson's
    paragraphs are looked up only in its own catalog, and viewing pages does not grow the chain every other
    message goes through. A catalog that cannot be read leaves the paragraphs in English (the page still shows).
    """
    if lang == LANGUAGES[0]:
        return None
    path = catalog_path(folder / "locale", lang, name)
    try:
        return load_catalog(path)
    except Exception:  # none (OSError), or one Babel cannot read (PoFileError…): the page shows the English
        return None


def lesson_intro(source: str, translations: _gettext.NullTranslations | None = None) -> tuple[str, str]:
    """``(title, introduction)`` of a lesson's source, each paragraph through ``translations`` (default: as written).

    The title is the first line of the introduction (:func:`_introduction`) without a markdown heading's
    ``#`` marks; the introduction is the rest, leading blank lines dropped. Both ``""`` when there is none.
    Paragraphs are translated whole (as :func:`convlab.teach.catalogs.paragraphs` splits them for the
    catalogs), so a heading that is its own paragraph is one message, and one followed by its text on the
    next line is translated with that text.
    """
    text = _introduction(source)
    if translations is not None:
        text = translate_paragraphs(text, translations)
    first, _sep, rest = text.partition("\n")
    title = first.strip()
    if title.startswith("#"):
        title = title.lstrip("#").strip()
    return title, rest.strip("\n")


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
            _(
                "There is no lesson called {name}. The lessons are named like 03_convolution_by_hand "
                "(the file lessons/03_convolution_by_hand.py without .py)."
            ).format(name=shown(name, 60)),
            list(paths),
        )
    with path.open("rb") as f:
        data = f.read(MAX_SOURCE_BYTES + 1)
    truncated = len(data) > MAX_SOURCE_BYTES
    source = data[:MAX_SOURCE_BYTES].decode("utf-8", errors="replace")
    title, intro = ("", "")
    if not truncated:
        title, intro = lesson_intro(source, _lesson_catalog(path.parent, name, get_language()))
    filename = f"lessons/{path.name}"
    return Lesson(
        name=name,
        number=int(name[:2]),
        filename=filename,
        title=title or filename,
        docstring=intro,
        source=source,
        truncated=truncated,
    )


def run_commands(lesson: Lesson, names: list[str] | None = None, lang: str | None = None) -> list[str]:
    """How to run ``lesson`` step by step: ``["convlab lesson 3 --step", "python lessons/03_….py --step"]``.

    ``convlab lesson N`` takes the number when only one lesson has it (``names``: all the lessons' names;
    ``None`` means it is unique), else the full name. ``lang`` other than English (the explorer's language)
    adds ``--lang es``, so that the lesson speaks the page's language whatever the terminal's locale.
    """
    same_number = [n for n in (names or []) if n[:2] == lesson.name[:2]]
    token = str(lesson.number) if len(same_number) <= 1 else lesson.name
    extra = f" --lang {lang}" if lang and lang != LANGUAGES[0] else ""
    return [f"convlab lesson {token} --step{extra}", f"python {lesson.filename} --step{extra}"]
