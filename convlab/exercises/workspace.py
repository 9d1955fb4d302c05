"""The learner's exercise folder: copying the stubs in, finding it again, remembering the hints shown.

``convlab exercises`` copies one stub per exercise into a folder the learner
owns (default ``./convlab-exercises``). A file that is already there is the
learner's work: it is kept unless ``force`` is given, and even then its old text
is saved beside it as ``<name>.bak`` first. Every file is written to a temporary
name and renamed, so an interrupted copy leaves no half-written exercise.

The stubs in the package are written in English; in another language (``convlab exercises --lang es``)
each paragraph of their docstrings, their ``NotImplementedError`` message and their comments are
translated through the ``exercises`` catalog as the file is copied (the code, names and signatures
stay as they are). A file that is still one of the blank stubs, in any language, is not the learner's
work: it is never kept or backed up as such.
"""

from __future__ import annotations

import ast
import gettext as _gettext
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convlab.teach.catalogs import paragraphs
from convlab.teach.exercise_catalogue import EXERCISES, Exercise
from convlab.util.files import atomic_path, check_path
from convlab.util.i18n import LANGUAGES, LOCALE_DIR, N_, _, catalog_path, get_language, load_catalog, resolve_language

__all__ = [
    "DEFAULT_DIR",
    "STUBS",
    "HINTS_FILE",
    "Copied",
    "stub_text",
    "translate_stub",
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


#: The stubs' ``raise NotImplementedError("exercise N: write FUNCTION here")``, translated with the docstrings.
_NOT_IMPLEMENTED = re.compile(r'NotImplementedError\("exercise (\d+): write (\w+) here"\)')
_NOT_IMPLEMENTED_TEXT = N_("exercise {number}: write {function} here")

#: The comments of the stubs (a whole line, ``# text``), translated with the docstrings.
_STUB_COMMENTS = (N_("your own functions of exercises 4–9, from the files next to this one"),)
_COMMENT = re.compile(r"^(\s*)# (.+)$", re.M)


@dataclass(frozen=True)
class Copied:
    """What :func:`copy_exercises` did with one file: ``"created"``, ``"kept"``, ``"unchanged"``, ``"replaced"``
    or ``"translated"`` (a blank stub in another language, rewritten in this one)."""

    exercise: Exercise
    path: Path
    action: str
    backup: Path | None = None


def _catalog_gettext(lang: str) -> Callable[[str], str]:
    """The ``exercises`` catalog's translation function for ``lang`` (the identity for English or no catalog)."""
    if lang == LANGUAGES[0]:
        return str
    path = catalog_path(LOCALE_DIR, lang, "exercises")
    translations = load_catalog(path) if path.is_file() else _gettext.NullTranslations()
    return translations.gettext


def stub_text(exercise: Exercise, lang: str | None = None) -> str:
    """The stub of ``exercise`` as ``convlab exercises`` writes it in ``lang`` (default: the language in use).

    English is the file shipped in the package; another language is that file with its docstrings,
    ``NotImplementedError`` message and comments translated (:func:`translate_stub`).

    Raises:
        ValueError: ``lang`` is not a language convlab speaks.
    """
    lang = get_language() if lang is None else resolve_language(lang)
    text = (STUBS / exercise.file_name).read_text(encoding="utf-8")
    if lang == LANGUAGES[0]:
        return text
    return translate_stub(text, _catalog_gettext(lang))


def _docstring_translated(inner: str, gettext: Callable[[str], str]) -> str:
    """A docstring's text as written between its quotes, each paragraph replaced by ``gettext(paragraph)``.

    The paragraphs are those the catalogs extract (:func:`convlab.teach.catalogs.paragraphs` of the cleaned
    docstring); each is found in the source form (lines after the docstring's first indented by its margin)
    and replaced in place, so the indentation, the blank lines and the closing quotes' line stay as written.
    """
    lines = inner.split("\n")
    margin = min((len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()), default=0)

    def as_written(text: str, starts_docstring: bool) -> str:
        rows = text.split("\n")
        return "\n".join(
            row if (n == 0 and starts_docstring) or not row else " " * margin + row for n, row in enumerate(rows)
        )

    out, pos = inner, 0
    starts = not inner.startswith("\n")
    for number, para in enumerate(paragraphs(inspect.cleandoc(inner))):
        first = starts and number == 0
        old = as_written(para, first)
        translated = gettext(para)
        at = out.find(old, pos)
        if at < 0 or '"""' in translated or "\\" in translated:
            continue  # not where expected, or a translation that would end or change the string: keep it
        new = as_written(translated, first)
        out = out[:at] + new + out[at + len(old) :]
        pos = at + len(new)
    return out


def translate_stub(source: str, gettext: Callable[[str], str]) -> str:
    """A stub's source with the text a learner reads translated by ``gettext``; the code unchanged.

    Translated: every paragraph of the docstrings (module, functions, classes — the paragraphs the
    ``exercises`` catalog holds), the message of ``raise NotImplementedError("exercise N: write F here")``
    and the comment lines listed in ``_STUB_COMMENTS``. ``gettext`` returning its argument gives
    ``source`` back unchanged.
    """
    tree = ast.parse(source)
    spans = []
    for node in [tree, *ast.walk(tree)]:
        if not isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or not node.body:
            continue
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            spans.append(first.value)
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(lineno: int, col: int) -> int:  # ast's columns count UTF-8 bytes
        return starts[lineno - 1] + len(lines[lineno - 1].encode("utf-8")[:col].decode("utf-8"))

    out = source
    for node in sorted(spans, key=lambda n: (n.lineno, n.col_offset), reverse=True):  # from the end: offsets hold
        begin, end = offset(node.lineno, node.col_offset), offset(node.end_lineno, node.end_col_offset)
        literal = out[begin:end]
        if len(literal) < 6 or not (literal.startswith('"""') and literal.endswith('"""')) or "\\" in literal:
            continue  # only plain triple-quoted docstrings, as the stubs write them
        out = out[:begin] + '"""' + _docstring_translated(literal[3:-3], gettext) + '"""' + out[end:]

    def message(m: re.Match) -> str:
        try:
            text = gettext(_NOT_IMPLEMENTED_TEXT).format(number=m.group(1), function=m.group(2))
        except (KeyError, IndexError, ValueError):  # a translation with other placeholders: keep the English
            return m.group(0)
        return m.group(0) if '"' in text or "\\" in text else f'NotImplementedError("{text}")'

    def comment(m: re.Match) -> str:
        text = m.group(2)
        return f"{m.group(1)}# {gettext(text)}" if text in _STUB_COMMENTS else m.group(0)

    return _COMMENT.sub(comment, _NOT_IMPLEMENTED.sub(message, out))


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def copy_exercises(folder: str | Path, *, force: bool = False, lang: str | None = None) -> list[Copied]:
    """Copy every exercise stub into ``folder`` (created if needed), in ``lang`` (default: the language in use).

    Args:
        folder: the learner's folder.
        force: replace files that differ from the stubs (the learner's work); each old text is
            saved first as ``<name>.bak``.
        lang: the language of the stubs' text (:func:`stub_text`). A file equal to the blank stub in
            another language is not the learner's work: it is rewritten in ``lang`` (``"translated"``).

    Returns:
        One :class:`Copied` per exercise, in order.

    Raises:
        ValueError: ``folder`` is empty, or ``lang`` is not a language convlab speaks.
        NotADirectoryError: ``folder`` exists and is not a folder.
        OSError: the folder or a file cannot be written (the message names it).
    """
    lang = get_language() if lang is None else resolve_language(lang)
    folder = Path(check_path(folder, "--dir"))
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(_("--dir {folder} is a file, not a folder").format(folder=repr(str(folder))))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        message = _("--dir {folder} cannot be created: {reason}").format(folder=repr(str(folder)), reason=e.strerror)
        raise type(e)(e.errno, message) from None
    done = []
    for ex in EXERCISES:
        path = folder / ex.file_name
        stubs = {language: stub_text(ex, language) for language in LANGUAGES}
        text = stubs[lang]
        if not path.exists():
            _write(path, text)
            done.append(Copied(ex, path, "created"))
            continue
        old = path.read_text(encoding="utf-8", errors="replace")
        if old == text:
            done.append(Copied(ex, path, "unchanged"))
        elif old in stubs.values():  # still a blank stub, in another language: nothing of the learner's to keep
            _write(path, text)
            done.append(Copied(ex, path, "translated"))
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
                _("--dir {folder} is not a folder: run `convlab exercises --dir {given}` to create it").format(
                    folder=repr(str(given)), given=given
                )
            )
        return folder
    default = Path(DEFAULT_DIR)
    if default.is_dir():
        return default
    here = Path(".")
    if any((here / ex.file_name).is_file() for ex in EXERCISES):
        return here
    raise FileNotFoundError(
        _("no exercise folder here ({folder}/): run `convlab exercises` first, or pass --dir DIR").format(
            folder=DEFAULT_DIR
        )
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
