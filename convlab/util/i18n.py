"""The language convlab's own words are printed in: English or Spanish, through gettext catalogs.

The course convlab grows from is written in Spanish (``../shared/seeds``); convlab speaks English by
default and Spanish on request. Text is marked in the code the standard gettext way —
``_("…")`` for a message, ``ngettext(singular, plural, n)`` for a count, ``N_("…")`` for a message
stored now and translated when printed — and extracted with Babel into ``.po`` catalogs
(``convlab/locale/es/LC_MESSAGES/*.po`` for the package, ``lessons/locale/es/LC_MESSAGES/NN_name.po``
for each lesson). The catalogs are read from their ``.po`` sources directly (Babel parses them and
compiles them in memory), so there is no build step to forget and no compiled file to go stale.

What is not translated: numbers, check results, file names, and the engine's error messages
(``ValueError`` texts are API and stay English).

The language is chosen once per process: :func:`set_language` with ``"en"`` or ``"es"`` (the
``--lang`` options of ``convlab`` and of each lesson), otherwise from the locale — the first set of
``LC_ALL``, ``LC_MESSAGES`` and ``LANG`` (POSIX's order); a value starting with ``es`` (``es_ES.UTF-8``,
``es_AR``) means Spanish, anything else English. :func:`set_language` also writes the choice to the
environment variable ``CONVLAB_LANG``, read before the locale, so that the processes convlab starts
(a lesson run by the tour, a learner's code under ``convlab check``) speak the same language.
"""

from __future__ import annotations

import functools
import gettext as _gettext
import io
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "LANGUAGES",
    "LANG_VARIABLE",
    "LOCALE_DIR",
    "N_",
    "_",
    "add_catalog",
    "add_messages",
    "catalog_path",
    "get_language",
    "gettext",
    "language_from_environment",
    "language_in_argv",
    "load_catalog",
    "ngettext",
    "resolve_language",
    "set_language",
]

#: The languages convlab speaks; the first is the default.
LANGUAGES = ("en", "es")

#: Set by :func:`set_language` for child processes; read before the locale variables.
LANG_VARIABLE = "CONVLAB_LANG"

#: The package's catalogs: ``LOCALE_DIR/<lang>/LC_MESSAGES/<domain>.po``.
LOCALE_DIR = Path(__file__).resolve().parents[1] / "locale"

# The locale variables that choose the language of messages, in POSIX's order of precedence.
_LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


class _State:
    language: str | None = None
    translations: _gettext.NullTranslations = _gettext.NullTranslations()
    extra: tuple[tuple[Path, str], ...] = ()
    messages: dict[str, dict[str, str]] = {}


class _Messages(_gettext.NullTranslations):
    """Translations given as a mapping (a notebook carries its lesson's in its setup cell)."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        super().__init__()
        self.mapping = dict(mapping)

    def gettext(self, message: str) -> str:
        if message in self.mapping:
            return self.mapping[message]
        return self._fallback.gettext(message) if self._fallback else message


def language_from_environment(environ: Mapping[str, str] | None = None) -> str:
    """``"es"`` when the locale asks for Spanish, else ``"en"``.

    Args:
        environ: the variables to read (default ``os.environ``): ``CONVLAB_LANG`` when it names a
            language (set by a convlab parent process), else the first non-empty of ``LC_ALL``,
            ``LC_MESSAGES``, ``LANG``.
    """
    environ = os.environ if environ is None else environ
    if environ.get(LANG_VARIABLE) in LANGUAGES:
        return environ[LANG_VARIABLE]
    for name in _LOCALE_VARIABLES:
        value = environ.get(name, "")
        if value:
            return "es" if value.lower().startswith("es") else "en"
    return LANGUAGES[0]


def resolve_language(lang: str | None = None) -> str:
    """``lang`` checked (``"en"`` or ``"es"``), or the locale's language when ``lang`` is ``None``.

    Raises:
        ValueError: ``lang`` is not one of :data:`LANGUAGES`.
    """
    if lang is None:
        return language_from_environment()
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(map(repr, LANGUAGES))}, got {lang!r}")
    return lang


def language_in_argv(argv) -> str | None:
    """The value of ``--lang`` in a command line (``--lang es`` or ``--lang=es``) when it names a language.

    Read before the full parse, so that ``--help`` and the parser's own messages are in that language;
    a bad value is left for the parser to refuse.
    """
    argv = list(argv)
    for n, arg in enumerate(argv):
        value = argv[n + 1] if arg == "--lang" and n + 1 < len(argv) else arg[7:] if arg.startswith("--lang=") else None
        if value in LANGUAGES:
            return value
    return None


def catalog_path(folder: str | os.PathLike, lang: str, domain: str) -> Path:
    """Where a catalog lives: ``folder/<lang>/LC_MESSAGES/<domain>.po`` (gettext's layout)."""
    return Path(folder) / lang / "LC_MESSAGES" / f"{domain}.po"


def load_catalog(path: str | os.PathLike) -> _gettext.GNUTranslations:
    """One ``.po`` file as a fresh :class:`gettext.GNUTranslations` (fuzzy and empty entries left out).

    Raises:
        FileNotFoundError: there is no file at ``path``.
    """
    path = Path(path)
    return _gettext.GNUTranslations(io.BytesIO(_compiled(path.resolve(), path.stat().st_mtime_ns)))


@functools.lru_cache(maxsize=64)
def _compiled(path: Path, mtime_ns: int) -> bytes:  # mtime in the key: an edited catalog is read again
    """The ``.po`` file at ``path`` compiled to gettext's ``.mo`` form, in memory."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as f:
        catalog = read_po(f)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # skips fuzzy entries, as msgfmt does
    return buffer.getvalue()


def _build(language: str, extra: tuple[tuple[Path, str], ...]) -> _gettext.NullTranslations:
    """The package's catalogs for ``language``, then the ``extra`` (folder, domain) ones, as gettext fallbacks."""
    chain: _gettext.NullTranslations = _gettext.NullTranslations()
    if language == LANGUAGES[0]:
        return chain  # the messages are written in English
    paths = sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))
    paths += [catalog_path(folder, language, domain) for folder, domain in extra]
    for path in paths:
        if path.is_file():
            chain.add_fallback(load_catalog(path))
    if _State.messages.get(language):
        chain.add_fallback(_Messages(_State.messages[language]))
    return chain


def set_language(lang: str | None = None) -> str:
    """Choose the language of convlab's messages for this process; return it (``"en"``/``"es"``).

    Args:
        lang: ``"en"``, ``"es"``, or ``None`` for the locale's (:func:`language_from_environment`).

    Raises:
        ValueError: ``lang`` is not one of :data:`LANGUAGES`.
    """
    _State.language = resolve_language(lang)
    _State.translations = _build(_State.language, _State.extra)
    os.environ[LANG_VARIABLE] = _State.language  # the processes started from here inherit it
    return _State.language


def add_catalog(folder: str | os.PathLike, domain: str) -> None:
    """Consult one more catalog after the package's: ``folder/<lang>/LC_MESSAGES/<domain>.po``.

    For a lesson's own words (``add_catalog("lessons/locale", "03_convolution_by_hand")``). It applies
    to the language in use and to any set later; a language without that file is not an error.
    """
    key = (Path(folder).resolve(), domain)
    if key not in _State.extra:
        _State.extra = (*_State.extra, key)
    set_language(get_language())


def add_messages(lang: str, mapping: Mapping[str, str]) -> None:
    """Translations for ``lang`` given directly, consulted after every catalog.

    For a notebook away from convlab's repository (Colab): its setup cell carries the translations of
    the messages its cells translate only when they run (those marked ``N_``), taken from the catalogs
    when the notebook was written.

    Raises:
        ValueError: ``lang`` is not one of :data:`LANGUAGES`.
    """
    lang = resolve_language(lang)
    _State.messages = {**_State.messages, lang: {**_State.messages.get(lang, {}), **mapping}}
    set_language(get_language())


def get_language() -> str:
    """The language in use: the one last set, else the locale's."""
    if _State.language is None:
        set_language(None)
    return _State.language  # type: ignore[return-value]


def gettext(message: str) -> str:
    """``message`` in the language in use (itself when the catalogs have no translation)."""
    get_language()
    return _State.translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural form for the count ``n``, in the language in use."""
    get_language()
    return _State.translations.ngettext(singular, plural, n)


def N_(message: str) -> str:  # gettext's name for "mark for extraction, translate later"
    """``message`` unchanged: marks a string for the catalogs where it is stored, to be translated when shown."""
    return message


_ = gettext
