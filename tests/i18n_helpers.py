"""Comparing a lesson's English and Spanish runs: the numbers of each step, and English left behind.

Shared by ``tests/test_i18n.py`` (the Spanish tour) and ``tests/test_notebooks.py`` (Spanish notebooks).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]

# A number as the lessons print it; one followed by a unit of time, a speed-up ratio, a rate (GFLOP/s) or
# a share of the machine's peak is a measurement of this run (it differs between two runs in one language
# too) and is left out.
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?")
_MEASURED = re.compile(r"-?\d+(?:\.\d+)?\s?(?:s|ms|µs|us|ns|min|×|x|GFLOP/s|%\s(?:of\speak|del\spico))(?![\w])")
_PATH = re.compile(r"\S*/\S*")
#: A step's first line in either language ("--- Step 3 of 7: …", "--- Parte 3 de 7: …").
STEP = re.compile(r"^--- ")


def step_numbers(text: str) -> list[Counter]:
    """The numbers printed in each step of one lesson's output (before step 1 first), as multisets:
    word order differs between languages, the numbers must not."""
    blocks: list[Counter] = [Counter()]
    for line in text.splitlines():
        if STEP.match(line):
            blocks.append(Counter())
        line = _PATH.sub(" ", _MEASURED.sub(" ", line))  # a path is the run's folder, not a number computed
        blocks[-1].update(_NUMBER.findall(line))
    return blocks


def number_differences(english: str, spanish: str) -> list[str]:
    """Where the two outputs of one lesson print different numbers: one line per differing step."""
    en, es = step_numbers(english), step_numbers(spanish)
    if len(en) != len(es):
        return [f"{len(en) - 1} steps in English, {len(es) - 1} in Spanish"]
    found = []
    for k, (a, b) in enumerate(zip(en, es)):
        if a != b:
            found.append(f"step {k}: only in English {dict(a - b)}, only in Spanish {dict(b - a)}")
    return found


def catalog_sentences(po: Path) -> list[str]:
    """The English sentences of a catalog that a Spanish output must not show: per translated message, its
    run of text between placeholders and line breaks with the most plain words, when it has at least four
    (a formula or a line of code — a stub's ``"conv_kernel" (3, 3, 1, F), …`` — is not a sentence)."""
    found = []
    with po.open("rb") as f:
        for m in read_po(f):
            msgid = m.id[0] if isinstance(m.id, tuple) else m.id
            msgstr = m.string[0] if isinstance(m.string, tuple) else m.string
            if not msgid or msgstr == msgid:
                continue
            pieces = [" ".join(p.split()) for p in re.split(r"\{[^}]*\}|\n", msgid)]
            best = max(pieces, key=lambda p: sum(w.isalpha() for w in p.split()))
            if sum(w.isalpha() for w in best.split()) >= 4:
                found.append(best)
    return found


def numbers(text: str) -> Counter:
    """Every number a text prints, paths (the run's folders) left out."""
    return Counter(_NUMBER.findall(_PATH.sub(" ", text)))


def english_left(spanish_output: str, po: Path) -> list[str]:
    """The catalog's English sentences found in a Spanish output (spaces and line breaks folded)."""
    flat = " ".join(spanish_output.split())
    return [s for s in catalog_sentences(po) if s in flat]


def lesson_catalog(stem: str) -> Path:
    return ROOT / "lessons" / "locale" / "es" / "LC_MESSAGES" / f"{stem}.po"
