"""The explorer's language: English or Spanish, one per server, through the explorer's gettext catalog.

The explorer speaks the language chosen when it starts (``convlab serve --lang es|en``, else the locale:
:func:`convlab.util.i18n.set_language`); :func:`convlab.web.app.create_app` keeps it for the app. Its words
are in the catalog ``web`` (``convlab/locale/es/LC_MESSAGES/web.po``), extracted with Babel from three
kinds of source (``python -m convlab.teach.catalogs update web``):

- the Python modules here: ``_("…")`` (:mod:`convlab.util.i18n`), translated when a page or an answer is made;
- the Jinja templates: ``{{ _("…") }}`` and ``{% trans %}`` (Jinja's ``jinja2.ext.i18n``, with
  :func:`install` giving it convlab's gettext, called at render time);
- the scripts (``static/*.js``): ``_("…")`` and ``ngettext("…", "…", n)`` of ``static/common.js``, which read
  the translations from the page: the base template writes :func:`script_translations` into a JSON data block
  (``<script type="application/json" id="convlab-i18n">``). The server finds the scripts' messages the way the
  catalog does, with Babel's JavaScript extractor (:func:`script_messages`), so a message added to a script
  needs nothing more than the catalog's update.

Not translated: numbers (written the same in both languages: the JSON answers are identical), the engine's
error messages (the ``ValueError`` texts of :mod:`convlab.shapes`, :mod:`convlab.ops`… reach the page unchanged,
as do the argument checks of the functions here, :func:`convlab.web.explain.explain`'s say), and the names of
layers, classes, files, options and code. Everything else the pages, the API's error answers and the server's
terminal lines say is the explorer's own and translated.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from convlab.util import i18n

__all__ = ["STATIC", "install", "script_messages", "script_translations"]

#: The scripts' folder: every ``*.js`` file in it is read for messages.
STATIC = Path(__file__).resolve().parent / "static"


def install(jinja_env: Any) -> None:
    """Give a Jinja environment gettext: the ``jinja2.ext.i18n`` extension, newstyle (``_("%(n)s", n=3)``
    formats and escapes), calling :mod:`convlab.util.i18n` at render time (the language in use then)."""
    jinja_env.add_extension("jinja2.ext.i18n")
    jinja_env.install_gettext_callables(
        gettext=lambda message: i18n.gettext(message),
        ngettext=lambda singular, plural, n: i18n.ngettext(singular, plural, n),
        newstyle=True,
    )


def script_messages(folder: Path | None = None) -> tuple[str | tuple[str, str], ...]:
    """The messages of the scripts in ``folder`` (default :data:`STATIC`), in order, each once: a message
    (``_("…")``) or a ``(singular, plural)`` pair (``ngettext``). Read again when a script changes."""
    folder = STATIC if folder is None else Path(folder)
    files = tuple((path, path.stat().st_mtime_ns) for path in sorted(folder.glob("*.js")))
    return _extracted(files)


@functools.lru_cache(maxsize=8)
def _extracted(files: tuple[tuple[Path, int], ...]) -> tuple[str | tuple[str, str], ...]:
    from convlab.teach.catalogs import extract  # Babel, as `catalogs update web` reads the same files

    found: dict[str | tuple[str, str], None] = {}
    for path, _mtime in files:
        for _line, message in extract(path):
            if message:
                found[message] = None
    return tuple(found)


def script_translations(folder: Path | None = None) -> dict[str, str | list[str]]:
    """What ``static/common.js`` needs to speak the language in use: ``{message: translation}`` and, for a
    count, ``{singular: [form for 1, form for the others]}`` (the plural rule of English and Spanish).

    Only messages the catalog translates differently are listed: in English, ``{}``.
    """
    if i18n.get_language() == i18n.LANGUAGES[0]:
        return {}
    out: dict[str, str | list[str]] = {}
    for message in script_messages(folder):
        if isinstance(message, tuple):
            singular, plural = message
            forms = [i18n.ngettext(singular, plural, 1), i18n.ngettext(singular, plural, 2)]
            if forms != [singular, plural]:
                out[singular] = forms
        else:
            text = i18n.gettext(message)
            if text != message:
                out[message] = text
    return out
