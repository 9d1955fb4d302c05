"""A lesson as a Jupyter notebook: ``convlab notebook N [--lang es] [--out DIR]``.

The lessons are written in jupytext's percent format (``# %% [markdown]`` cells for the explanations,
``# %%`` before each step), so a lesson script *is* a notebook: jupytext reads it cell for cell. The
notebook written here adds what a notebook needs and a script does not:

1. a first cell that installs convlab where it is missing (Colab, a fresh Jupyter) with ``%pip``;
2. a setup cell: the options a script gets on its command line (``--lang``, ``--quick``), through
   :func:`convlab.teach.lesson.notebook_options`; figures then show under the cell that draws them, and
   ``--step``'s pauses are the cell boundaries;
3. a heading (markdown) before each step's cell, with the step's title;
4. in Spanish (``lang="es"``), the lesson's words already translated in the cells: each ``_("…")``
   literal and each markdown paragraph is replaced by its translation from the lesson's catalog, so
   the notebook reads in Spanish and needs no catalog of its own.
"""

from __future__ import annotations

import ast
import gettext
import os
import pprint
import textwrap
from pathlib import Path

from convlab._version import __version__
from convlab.teach.catalogs import translate_paragraphs
from convlab.util.files import atomic_path
from convlab.util.i18n import LANGUAGES, LOCALE_DIR, N_, catalog_path, load_catalog, resolve_language

__all__ = ["lesson_notebook", "write_notebook", "translate_source", "INSTALL_CELL"]

#: The first cell: install convlab when this runtime lacks it. ``convlab`` on PyPI is another project (a
#: dialogue toolkit), so the test is ``convlab.lesson``, and the spec is this version or the course's own.
INSTALL_CELL = """\
# {comment}
try:
    import convlab.lesson
except ImportError:
    %pip install --quiet {spec}
"""

_SETUP_CELL = """\
from convlab.lesson import notebook_options

notebook_options(lang={lang!r}, quick={quick!r}, steps={steps}{messages})
__file__ = {file!r}  # {comment}
"""

_INSTALL_COMMENT = N_("convlab is installed here when this runtime does not have it (Colab, a fresh Jupyter).")
_FILE_COMMENT = N_("the lesson's name: its figures go to convlab-output/{stem}/")

# The calls whose string literal arguments are the lesson's messages: name -> positions of the literals.
# N_ is not among them: its literal is data until it is shown (a dictionary key, say), so it stays English
# and the notebook's setup cell carries its translation (notebook_options(messages=…)).
_MESSAGE_ARGS = {"_": (0,), "gettext": (0,), "ngettext": (0, 1), "Lesson": (1,)}


class _Translator:
    """The translations of one lesson: its own catalog, then the package's (the harness's words)."""

    def __init__(self, lesson: Path, lang: str) -> None:
        self.chain = gettext.NullTranslations()
        self.found = False
        if lang != LANGUAGES[0]:
            own = [catalog_path(lesson.parent / "locale", lang, lesson.stem)]
            for path in own + sorted((LOCALE_DIR / lang / "LC_MESSAGES").glob("*.po")):
                if path.is_file():
                    self.chain.add_fallback(load_catalog(path))
                    self.found = True

    def gettext(self, message: str) -> str:
        return self.chain.gettext(message)

    def ngettext(self, singular: str, plural: str) -> tuple[str, str]:
        """The two forms a Spanish text needs: for 1, and for any other count."""
        return self.chain.ngettext(singular, plural, 1), self.chain.ngettext(singular, plural, 2)


def _literal(text: str, indent: int) -> str:
    """``text`` as Python source: one literal, or adjacent literals over several lines when it is long."""
    if len(text) <= 90:
        return repr(text)
    pieces = textwrap.wrap(text, 88, drop_whitespace=False, replace_whitespace=False, break_long_words=False)
    if "".join(pieces) != text:  # wrap() never loses characters with these options, but be sure
        return repr(text)
    return ("\n" + " " * indent).join(repr(p) for p in pieces)


def translate_source(source: str, translate: _Translator) -> str:
    """``source`` with the literal argument of each message call (``_("…")``, ``ngettext(…)``, the
    ``Lesson`` title) replaced by its translation; everything else unchanged."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line.encode("utf-8")))
    edits: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        positions = _MESSAGE_ARGS.get(node.func.id)
        if positions is None:
            continue
        args = [node.args[k] if k < len(node.args) else None for k in positions]
        if not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args):
            continue
        if node.func.id == "ngettext":
            new = translate.ngettext(args[0].value, args[1].value)
        else:
            new = (translate.gettext(args[0].value),)
        for arg, text in zip(args, new):
            if text != arg.value:
                begin = starts[arg.lineno - 1] + arg.col_offset
                end = starts[arg.end_lineno - 1] + arg.end_col_offset
                edits.append((begin, end, _literal(text, arg.col_offset)))
    data = source.encode("utf-8")
    for begin, end, text in sorted(edits, reverse=True):
        data = data[:begin] + text.encode("utf-8") + data[end:]
    return data.decode("utf-8")


def deferred_messages(source: str, translate: _Translator) -> dict[str, str]:
    """The ``N_("…")`` literals of ``source`` that have a translation: English → translated."""
    found = {}
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "N_"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            text = translate.gettext(node.args[0].value)
            if text != node.args[0].value:
                found[node.args[0].value] = text
    return found


def _step_title(cell_source: str) -> str | None:
    """The literal title of the ``lesson.step(...)`` call a code cell makes at its top level, if any."""
    try:
        tree = ast.parse(cell_source)
    except SyntaxError:
        return None
    for node in tree.body:
        call = node.value if isinstance(node, ast.Expr) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "step"
            and call.args
        ):
            arg = call.args[0]
            if isinstance(arg, ast.Call) and arg.args:  # _("title")
                arg = arg.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                return arg.value
            return ""
    return None


def lesson_notebook(
    lesson: str | os.PathLike, *, lang: str | None = None, quick: bool = False, install: str | None = None
):
    """The notebook of one lesson script, as an ``nbformat`` notebook object.

    Args:
        lesson: the lesson script (``lessons/03_convolution_by_hand.py``), in jupytext's percent format.
        lang: ``"en"``, ``"es"`` or ``None`` (the locale's): the language of its words and of convlab's.
        quick: the notebook runs the lesson's ``--quick`` version.
        install: what the first cell gives ``%pip install`` when convlab is missing (default
            ``convlab==<this version>``; a course can give its wheel's path or URL, or a git URL).

    Returns:
        ``nbformat.NotebookNode`` (version 4), with a Python 3 kernel.

    Raises:
        ValueError: ``lang`` is not a language convlab speaks.
        FileNotFoundError: no file at ``lesson``.
    """
    import jupytext
    import nbformat

    path = Path(lesson)
    lang = resolve_language(lang)
    translate = _Translator(path.resolve(), lang)
    source = path.read_text(encoding="utf-8")
    deferred = deferred_messages(source, translate) if translate.found else {}
    source = translate_source(source, translate) if translate.found else source
    nb = jupytext.reads(source, fmt="py:percent")
    cells = [
        nbformat.v4.new_code_cell(
            INSTALL_CELL.format(comment=translate.gettext(_INSTALL_COMMENT), spec=install or f"convlab=={__version__}")
        ),
    ]
    steps = 0
    body = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            body.append(nbformat.v4.new_markdown_cell(translate_paragraphs(cell.source, translate)))
            continue
        title = _step_title(cell.source)
        if title is not None:
            steps += 1
            body.append(nbformat.v4.new_markdown_cell(f"## {steps}. {title}".rstrip(". ")))
        body.append(nbformat.v4.new_code_cell(cell.source))
    cells.append(
        nbformat.v4.new_code_cell(
            _SETUP_CELL.format(
                lang=lang,
                quick=bool(quick),
                steps=steps,
                file=path.name,
                comment=translate.gettext(_FILE_COMMENT).format(stem=path.stem),
                messages=f", messages={pprint.pformat(deferred, width=100)}" if deferred else "",
            ).rstrip()
        )
    )
    cells += body
    out = nbformat.v4.new_notebook(cells=cells)
    out.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    out.metadata["language_info"] = {"name": "python"}
    return out


def write_notebook(
    lesson: str | os.PathLike,
    out_dir: str | os.PathLike = ".",
    *,
    lang: str | None = None,
    quick: bool = False,
    install: str | None = None,
) -> Path:
    """Write :func:`lesson_notebook` as ``out_dir/<lesson stem>.ipynb`` (atomically); return its path.

    Raises:
        ValueError: ``lang`` is not a language convlab speaks.
        FileNotFoundError: no file at ``lesson``.
        OSError: ``out_dir`` cannot be created or written.
    """
    import nbformat

    nb = lesson_notebook(lesson, lang=lang, quick=quick, install=install)
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{Path(lesson).stem}.ipynb"
    with atomic_path(target) as tmp:
        nbformat.write(nb, tmp)
    return target
