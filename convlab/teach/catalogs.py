"""The translation catalogs: which source files feed which catalog, extraction with Babel, and the check.

A catalog (gettext *domain*) per area, so that each can be translated on its own:

- ``convlab`` — the command line, the lesson harness, the figures' helpers (``convlab/locale/``);
- ``web`` — the explorer's pages, their Python, templates and scripts (``convlab/locale/``);
- ``exercises`` — the graded exercises' texts and feedback (``convlab/locale/``);
- one per lesson, named after the script (``lessons/locale/es/LC_MESSAGES/03_convolution_by_hand.po``).

Messages are found the gettext way: calls to ``_``, ``N_``, ``ngettext`` (singular and plural) and the
title given to ``Lesson(__file__, title)``, in Python (Babel's extractor), Jinja templates (Jinja's) and
JavaScript (Babel's); and, in a lesson, each paragraph of its ``# %% [markdown]`` cells (jupytext's
percent format), which the notebooks and the explorer's lesson pages show.

Maintainers run ``python -m convlab.teach.catalogs update`` after changing text (new messages arrive
untranslated, removed ones are dropped, translations are kept) and ``… check`` to list what still needs
translating; ``tests/test_i18n.py`` runs the check.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from convlab.teach.lessons import find_lessons, repo_root
from convlab.util.files import atomic_path
from convlab.util.i18n import LANGUAGES, catalog_path

__all__ = [
    "KEYWORDS",
    "Domain",
    "domains",
    "extract",
    "docstrings",
    "markdown_cells",
    "paragraphs",
    "translate_paragraphs",
    "missing",
    "update",
]

#: The marking functions and which arguments hold the text (Babel's keyword specification).
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "Lesson": (2,)}

_CELL = re.compile(r"^# %%(.*)$")


@dataclass(frozen=True)
class Domain:
    """One catalog: its name, its folder (``…/locale``) and the source files it is extracted from."""

    name: str
    locale: Path
    sources: tuple[Path, ...]

    def po(self, lang: str) -> Path:
        """The catalog file for ``lang``."""
        return catalog_path(self.locale, lang, self.name)


def domains(root: Path | None = None) -> list[Domain]:
    """Every catalog of the repository at ``root`` (default: this checkout), package ones first."""
    root = repo_root() if root is None else root
    pkg = root / "convlab"
    web = sorted((pkg / "web").rglob("*.py")) + sorted((pkg / "web" / "templates").glob("*.html"))
    web += sorted((pkg / "web" / "static").glob("*.js"))
    exercises = sorted((pkg / "exercises").rglob("*.py"))
    skip = {pkg / "web", pkg / "exercises"}
    core = sorted(p for p in pkg.rglob("*.py") if not any(d in p.parents for d in skip))
    locale = pkg / "locale"
    found = [
        Domain("convlab", locale, tuple(core)),
        Domain("web", locale, tuple(web)),
        Domain("exercises", locale, tuple(exercises)),
    ]
    lessons = root / "lessons"
    if lessons.is_dir():
        found += [Domain(p.stem, lessons / "locale", (p,)) for p in find_lessons(lessons)]
    return found


def markdown_cells(source: str) -> list[tuple[int, str]]:
    """The ``# %% [markdown]`` cells of a percent-format script: ``(first line number, markdown text)``.

    A cell's lines are comment lines (``# text`` or a bare ``#``) up to the next ``# %%`` marker or the
    first line that is not a comment; the ``# `` prefix is removed.
    """
    cells: list[tuple[int, str]] = []
    lines = source.splitlines()
    n = 0
    while n < len(lines):
        marker = _CELL.match(lines[n])
        if marker and "[markdown]" in marker.group(1):
            body: list[str] = []
            start = n + 2
            n += 1
            while n < len(lines) and not _CELL.match(lines[n]) and (lines[n] == "#" or lines[n].startswith("# ")):
                body.append(lines[n][2:])
                n += 1
            cells.append((start, "\n".join(body).strip("\n")))
        else:
            n += 1
    return cells


def paragraphs(markdown: str) -> list[str]:
    """``markdown`` split at blank lines: the units translated one by one (line breaks inside kept)."""
    return [p.strip("\n") for p in re.split(r"\n\s*\n", markdown) if p.strip()]


def translate_paragraphs(markdown: str, translations) -> str:
    """``markdown`` with each of its :func:`paragraphs` replaced by ``translations.gettext(paragraph)``
    (any object with a gettext method: a catalog, a chain): the same units the catalogs hold."""
    return "\n\n".join(translations.gettext(p) for p in paragraphs(markdown))


def extract(path: Path) -> Iterator[tuple[int, str | tuple[str, str]]]:
    """The messages of one source file: ``(line number, msgid)``, or ``(line, (singular, plural))``."""
    from babel.messages.extract import extract as babel_extract

    suffix = path.suffix
    method = {".py": "python", ".js": "javascript", ".html": "jinja2.ext:babel_extract"}[suffix]
    data = path.read_bytes()
    options = {"extensions": "jinja2.ext.i18n"} if suffix == ".html" else {}
    for lineno, message, _comments, _context in babel_extract(
        method, io.BytesIO(data), keywords=KEYWORDS, options=options
    ):
        yield lineno, message
    if suffix == ".py" and path.parent.name == "lessons":
        for start, text in markdown_cells(data.decode("utf-8")):
            for para in paragraphs(text):
                yield start, para
    if suffix == ".py" and path.parent.name == "stubs":  # the exercises' texts: the learner's files' docstrings
        for start, text in docstrings(data.decode("utf-8")):
            for para in paragraphs(text):
                yield start, para


def docstrings(source: str) -> list[tuple[int, str]]:
    """The docstrings of a module and of its functions and classes: ``(line number, text)`` (dedented)."""
    import ast

    tree = ast.parse(source)
    found = []
    for node in [tree, *ast.walk(tree)]:
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            text = ast.get_docstring(node)
            if text and node.body:
                found.append((node.body[0].lineno, text))
    return list(dict.fromkeys(found))


def _template(domain: Domain, root: Path):  # -> babel Catalog
    from babel.messages.catalog import Catalog

    template = Catalog(project="convlab", domain=domain.name, charset="utf-8")
    for path in domain.sources:
        for lineno, message in extract(path):
            if message:
                template.add(message, locations=[(path.relative_to(root).as_posix(), lineno)])
    return template


def update(domain: Domain, lang: str = "es", root: Path | None = None) -> int:
    """Bring ``domain``'s ``lang`` catalog up to date with its sources; return how many entries lack a translation.

    New messages are added untranslated, vanished ones removed, existing translations kept (Babel's
    ``Catalog.update`` without fuzzy matching: a guessed translation is worse than none). Written
    atomically.
    """
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import read_po, write_po

    root = repo_root() if root is None else root
    template = _template(domain, root)
    path = domain.po(lang)
    if path.is_file():
        with path.open("rb") as f:
            catalog = read_po(f, locale=lang, domain=domain.name)
    else:
        catalog = Catalog(locale=lang, domain=domain.name, project="convlab", charset="utf-8")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    catalog.fuzzy = False  # the header: a fuzzy header would hide the plural rule from gettext
    catalog.header_comment = (
        f"# convlab's {domain.name!r} messages in {lang!r}. Extracted with Babel by\n"
        f"# `python -m convlab.teach.catalogs update`; translations follow docs/glosario.md.\n"
        "# Distributed under convlab's licence (MIT).\n#"
    )
    catalog.last_translator = "convlab maintainers"
    catalog.language_team = "convlab"
    for message in catalog:
        if isinstance(message.string, tuple) and all(message.string[:2]):
            # Babel's Spanish plural rule has a third form (for millions): it takes the plural text.
            message.string = tuple(form or message.string[1] for form in message.string)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=False, ignore_obsolete=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())
    return len(missing(domain, lang, root))


def missing(domain: Domain, lang: str = "es", root: Path | None = None) -> list[str]:
    """The messages of ``domain``'s sources that its ``lang`` catalog does not translate (or marks fuzzy)."""
    from babel.messages.pofile import read_po

    root = repo_root() if root is None else root
    template = _template(domain, root)
    path = domain.po(lang)
    translated: dict[str, object] = {}
    if path.is_file():
        with path.open("rb") as f:
            for m in read_po(f):
                key = m.id[0] if isinstance(m.id, tuple) else m.id
                done = all(m.string) if isinstance(m.string, tuple) else bool(m.string)
                if key and done and not m.fuzzy:
                    translated[key] = m.string
    out = []
    for m in template:
        key = m.id[0] if isinstance(m.id, tuple) else m.id
        if key and key not in translated:
            out.append(key)
    return out


def main(argv: list[str] | None = None) -> int:
    """``python -m convlab.teach.catalogs update|check [DOMAIN …] [--lang es]``."""
    parser = argparse.ArgumentParser(prog="python -m convlab.teach.catalogs", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("update", "check"))
    parser.add_argument("domain", nargs="*", help="catalogs to handle (default: all): convlab, web, exercises, 03_…")
    parser.add_argument("--lang", default="es", choices=[x for x in LANGUAGES if x != LANGUAGES[0]])
    args = parser.parse_args(argv)
    chosen = [d for d in domains() if not args.domain or d.name in args.domain or d.name[:2] in args.domain]
    unknown = set(args.domain) - {d.name for d in chosen} - {d.name[:2] for d in chosen}
    if unknown:
        parser.error(f"no catalog named {', '.join(sorted(unknown))}")
    status = 0
    for d in chosen:
        if args.action == "update":
            left = update(d, args.lang)
            print(f"{d.po(args.lang)}: {left} untranslated")
        else:
            left_out = missing(d, args.lang)
            print(f"{d.name}: {len(left_out)} untranslated")
            for msg in left_out:
                print("   ", msg.replace("\n", "\\n")[:150])
            status |= bool(left_out)
    return status


if __name__ == "__main__":
    sys.exit(main())
