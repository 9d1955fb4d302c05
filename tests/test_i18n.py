"""convlab in Spanish: the language choice, the catalogs' completeness, and the whole tour in Spanish.

Issue 16: every lesson, the tour, the command line, the exercises and the explorer in Spanish and English;
the numbers and checks identical in both.
"""

import os
import re
import subprocess
import sys

import pytest
from i18n_helpers import ROOT, lesson_catalog

from convlab.teach import catalogs
from convlab.util import i18n

LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
FIELD = re.compile(r"\{([^{}]*)\}")


pytestmark = pytest.mark.usefixtures("english_afterwards")


# ------------------------------------------------------------------------------ choosing the language
@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, "en"),
        ({"LANG": "es_ES.UTF-8"}, "es"),
        ({"LANG": "es_AR.UTF-8"}, "es"),
        ({"LANG": "en_GB.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LC_ALL": "es_MX.UTF-8", "LANG": "en_US.UTF-8"}, "es"),  # LC_ALL overrides LANG (POSIX)
        ({"LC_ALL": "en_US.UTF-8", "LANG": "es_ES.UTF-8"}, "en"),
        ({"LC_ALL": "", "LANG": "es_ES.UTF-8"}, "es"),  # an empty variable does not count
        ({"LC_MESSAGES": "es_ES.UTF-8", "LANG": "en_US.UTF-8"}, "es"),
        ({"CONVLAB_LANG": "en", "LANG": "es_ES.UTF-8"}, "en"),  # set by a convlab parent process
        ({"CONVLAB_LANG": "fr", "LANG": "es_ES.UTF-8"}, "es"),  # not a language convlab speaks: ignored
    ],
)
def test_the_language_comes_from_the_locale(environ, expected):
    assert i18n.language_from_environment(environ) == expected


def test_a_language_convlab_does_not_speak_is_refused_by_name():
    with pytest.raises(ValueError, match=r"lang must be one of 'en', 'es', got 'fr'"):
        i18n.set_language("fr")
    assert i18n.language_in_argv(["--quick", "--lang", "es"]) == "es"
    assert i18n.language_in_argv(["--lang=es"]) == "es"
    assert i18n.language_in_argv(["--lang", "fr"]) is None  # left for the parser to refuse


def test_messages_follow_the_language_and_children_inherit_it():
    assert i18n.set_language("es") == "es"
    assert i18n._("--- Step {where}: {title}") == "--- Parte {where}: {title}"
    assert i18n.ngettext("{n} check passed", "{n} checks passed", 1) == "{n} comprobación superada"
    assert i18n.ngettext("{n} check passed", "{n} checks passed", 27) == "{n} comprobaciones superadas"
    assert i18n._("a sentence no catalog has") == "a sentence no catalog has"
    assert os.environ[i18n.LANG_VARIABLE] == "es"
    i18n.set_language("en")
    assert i18n._("--- Step {where}: {title}") == "--- Step {where}: {title}"


def test_the_command_line_speaks_the_locale_language(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "CONVLAB_LANG")}
    for lang, words in (("es_ES.UTF-8", "salida: 3 × 3"), ("C.UTF-8", "output: 3 × 3")):
        proc = subprocess.run(
            [sys.executable, "-m", "convlab", "size", "5", "3", "--padding", "1", "--stride", "2"],
            capture_output=True,
            text=True,
            env={**env, "LANG": lang},
            cwd=tmp_path,
        )
        assert proc.returncode == 0 and words in proc.stdout, proc.stdout + proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "convlab", "tour", "--help", "--lang", "es"], capture_output=True, text=True, env=env
    )
    assert "uso: convlab tour" in proc.stdout and "opciones:" in proc.stdout, proc.stdout
    assert "Ejecuta cada lessons/NN_*.py en orden" in " ".join(proc.stdout.split())


# ------------------------------------------------------------------------------ the catalogs
DOMAINS = catalogs.domains()


@pytest.mark.parametrize("domain", DOMAINS, ids=[d.name for d in DOMAINS])
def test_every_message_is_translated(domain):
    """The catalog completeness check: every message the sources mark (extracted with Babel as
    ``python -m convlab.teach.catalogs check`` does) has a Spanish translation that is not fuzzy."""
    left = catalogs.missing(domain, "es")
    assert not left, f"{domain.po('es')}: {len(left)} untranslated, e.g. {left[:5]}"


@pytest.mark.parametrize("domain", DOMAINS, ids=[d.name for d in DOMAINS])
def test_translations_keep_every_placeholder(domain):
    """``_("{n} images").format(n=…)``: a translation with another field name would raise KeyError."""
    from babel.messages.pofile import read_po

    with domain.po("es").open("rb") as f:
        for m in read_po(f):
            ids = m.id if isinstance(m.id, tuple) else (m.id,)
            strings = m.string if isinstance(m.string, tuple) else (m.string,)
            if not ids[0] or "{" not in "".join(ids) + "".join(strings):
                continue
            want = sorted(set(FIELD.findall(ids[-1])))
            for s in strings:
                assert sorted(set(FIELD.findall(s))) == want, f"{domain.name}: {ids[0]!r} → {s!r}"


def test_every_lesson_has_its_catalog_and_percent_cells():
    for path in LESSONS:
        assert lesson_catalog(path.stem).is_file(), path.name
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# %% [markdown]\n# # Lesson "), f"{path.name}: first cell is not its markdown"
        assert "\n# %%\n" in text, path.name
