"""The explorer in Spanish and in English (issue 16): every page, the scripts' words, the API's answers.

One small untrained model is served twice in this process, ``create_app(..., lang="es")`` and ``lang="en"``
(an app takes its language back for its own requests). For every page: ``<html lang>`` follows the language,
the Spanish page shows Spanish words of that page and none of the English sentences of its templates'
catalog entries, and both pages have the same elements (a translation keeps every tag and id). The scripts'
messages reach the page translated in the ``#convlab-i18n`` data block. Numbers are the same in both
languages: the JSON answers are identical, but for the explorer's own words (the explanations' texts, whose
numbers are identical too, and its own error messages); the engine's error messages stay English. The lesson
pages read a lesson's first markdown cell (or, for an older script, its docstring) and translate it paragraph
by paragraph through the lesson's own catalog (fake lessons in a temporary folder). Flask's test client only;
the real browser's Spanish check is in ``test_web_browser.py``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po
from markupsafe import escape

import convlab
from convlab.layers import Conv2D, Dense, Flatten, Input, MaxPool2D
from convlab.teach.catalogs import extract
from convlab.util import i18n
from convlab.web import language as web_language
from convlab.web import lessons as web_lessons
from convlab.web.app import PAGES, create_app

WEB = Path(convlab.__file__).resolve().parent / "web"
CATALOG = i18n.catalog_path(i18n.LOCALE_DIR, "es", "web")
NUMBER = re.compile(r"[-−]?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
#: Spanish words each page must show (its own, not only the layout's).
SPANISH = {
    "/": ["Dibuja un dígito", "Lo que ve la red", "Borrar", "Un dígito de prueba real", "La red dice"],
    "/inside": ["Dentro de la red", "Cómo se calculó este número", "mapa de características", "Dibuja el tuyo"],
    "/arithmetic": [
        "Aritmética de la convolución",
        "Tamaño de salida",
        "paso (stride)",
        "relleno (padding)",
        "Avanzar",
    ],
    "/model": ["Tu foto", "El modelo dice", "aprendizaje por transferencia", "Elegir una foto…"],
    "/lessons/": ["Lecciones", "parte por parte"],
    "/lessons/03_convolution_by_hand": ["Ejecútala", "El código", "Todas las lecciones", "--step --lang es"],
}
#: The templates each page is made of (for its catalog entries).
TEMPLATES = {url: [template, "base.html"] for url, (template, _page) in PAGES.items()}
TEMPLATES["/lessons/"] = TEMPLATES["/lessons/03_convolution_by_hand"] = ["lesson.html", "base.html"]
LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"


# --------------------------------------------------------------------------- apps
@pytest.fixture(scope="module", autouse=True)
def _keep_language():
    """The process' language (and CONVLAB_LANG, which set_language writes for child processes) as they were."""
    saved = os.environ.get(i18n.LANG_VARIABLE)
    before = i18n.get_language()
    yield
    i18n.set_language(before)
    if saved is None:
        os.environ.pop(i18n.LANG_VARIABLE, None)
    else:
        os.environ[i18n.LANG_VARIABLE] = saved


@pytest.fixture(scope="module")
def model():
    convlab.set_seed(0)
    m = convlab.Sequential(
        [Input((28, 28, 1)), Conv2D(3, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(10, activation="softmax")]
    )
    rng = np.random.default_rng(0)  # non-zero biases: an explanation's every number shows
    m.set_weights([w if w.ndim > 1 else rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in m.get_weights()])
    return m


@pytest.fixture(scope="module")
def clients(model):
    classes = [str(d) for d in range(10)]
    es = create_app(model=model, classes=classes, lang="es")
    en = create_app(model=model, classes=classes, lang="en")
    assert (es.config["CONVLAB_LANG"], en.config["CONVLAB_LANG"]) == ("es", "en")
    return {"es": es.test_client(), "en": en.test_client()}


def _get(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


# --------------------------------------------------------------------------- reading pages
class _Page(HTMLParser):
    """A page's visible words (its text outside scripts, styles, preformatted blocks and the lesson's own title
    and introduction, plus the attributes a reader meets: aria-label, alt, title), its start tags in order, and
    its JSON data block."""

    SKIP = {"script", "style", "pre"}
    SAID = ("aria-label", "alt", "title", "placeholder")

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.tags: list[tuple[str, str | None, str | None]] = []
        self.data_block = ""
        self._skip: list[str] = []
        self._in_block = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a.get("id"), a.get("class")))
        self.pieces += [f" {a[k]} " for k in self.SAID if a.get(k)]
        if a.get("id") == "convlab-i18n":
            self._in_block = True
        if tag in self.SKIP or a.get("id") in ("lesson-doc", "lesson-title"):
            self._skip.append(tag)

    def handle_endtag(self, tag):
        if self._skip and self._skip[-1] == tag:
            self._skip.pop()
        if tag == "script":
            self._in_block = False

    def handle_data(self, data):
        if self._in_block:
            self.data_block += data
        elif not self._skip:
            self.pieces.append(data)

    @property
    def text(self) -> str:
        return " ".join("".join(self.pieces).split())


def _catalog() -> dict[str, str]:
    """web.po as {msgid: msgstr} (the first form of plural entries)."""
    with CATALOG.open("rb") as f:
        return {
            (m.id[0] if isinstance(m.id, tuple) else m.id): (m.string[0] if isinstance(m.string, tuple) else m.string)
            for m in read_po(f)
            if m.id
        }


def _sentences(url: str) -> list[str]:
    """The English catalog entries of a page's templates a Spanish page must not show: those the catalog
    translates, without placeholders, and not kept inside a translation (the glossary's "relleno (padding)")."""
    catalog = _catalog()
    translations = " ".join(catalog.values())
    found = []
    for template in TEMPLATES[url]:
        for _line, message in extract(WEB / "templates" / template):
            plain = " ".join(re.sub(r"<[^>]+>", "", message).split())  # the words a reader sees
            if "%(" in message or catalog.get(message, message) == message:
                continue
            if re.search(rf"(?<!\w){re.escape(plain)}(?!\w)", translations):
                continue
            found.append(plain)
    assert found, url
    return found


# --------------------------------------------------------------------------- every page
@pytest.mark.parametrize("url", list(SPANISH))
def test_every_page_in_spanish_and_english(clients, url):
    if url.startswith("/lessons/") and not LESSONS_DIR.is_dir():
        pytest.skip("needs the source repository's lessons/ folder")
    es_html, en_html = _get(clients["es"], url), _get(clients["en"], url)
    assert '<html lang="es">' in es_html and '<html lang="en">' in en_html
    es, en = _Page(es_html), _Page(en_html)
    for words in SPANISH[url]:
        assert words in es.text or words in es_html, f"{url} in Spanish does not say {words!r}"
    # the English sentences of the page's templates (lesson.html's that this page shows): none in Spanish
    patterns = [rf"(?<!\w){re.escape(sentence)}(?!\w)" for sentence in _sentences(url)]
    shown = [p for p in patterns if re.search(p, en.text)]
    assert len(shown) >= 8, f"{url} in English shows only {len(shown)} of its templates' sentences"
    for pattern in shown:
        assert not re.search(pattern, es.text), f"{url} in Spanish still says {pattern!r}"
    # a translation keeps every element: same tags, ids and classes, in the same order
    assert es.tags == en.tags, url
    # the scripts' words: translated in Spanish, none needed in English
    assert json.loads(en.data_block) == {}
    i18n.set_language("es")
    assert json.loads(es.data_block) == web_language.script_translations() != {}


def test_the_scripts_messages_are_all_translated(clients):
    clients["es"].get("/")  # the Spanish app's language for what follows
    messages = web_language.script_messages()
    assert "the server is ready" in messages and ("{n} parameter", "{n} parameters") in messages
    given = web_language.script_translations()
    catalog = _catalog()
    for message in messages:
        key = message[0] if isinstance(message, tuple) else message
        assert catalog.get(key), f"web.po does not translate the script message {key!r}"
        if catalog[key] != key:
            assert key in given, key
    assert given["the server is ready"] == "el servidor está listo"
    assert given["{n} parameter"] == ["{n} parámetro", "{n} parámetros"]
    assert given["map {channel}, row {row}, col {col}: {value}"] == "mapa {channel}, fila {row}, col. {col}: {value}"
    clients["en"].get("/")
    assert web_language.script_translations() == {}


def test_catalog_entries_keep_placeholders_tags_and_quotes():
    """Every web.po entry: translated, not fuzzy, the same placeholders ({n}, %(number)s) and HTML tags as the
    English, and no double quote where the English has none (translations go into attributes too)."""
    placeholder = re.compile(r"\{[^{}]*\}|%\(\w+\)s")
    tag = re.compile(r"<[^>]+>")
    with CATALOG.open("rb") as f:
        entries = [m for m in read_po(f) if m.id]
    assert entries
    for m in entries:
        assert not m.fuzzy, m.id
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for s in strings:
            assert s, m.id
            english = ids[0] if s is strings[0] else ids[-1]
            assert set(placeholder.findall(s)) == set(placeholder.findall(english)), (english, s)
            assert sorted(tag.findall(s)) == sorted(tag.findall(english)), (english, s)
            if '"' not in english:
                assert '"' not in s, (english, s)


def test_error_pages_and_messages_in_spanish(clients):
    page = clients["es"].get("/nope")
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "<html lang=es>" in text and "no existe la página: /nope" in text and "volver al explorador" in text
    assert "back to the explorer" in clients["en"].get("/nope").get_data(as_text=True)
    # the explorer's own message is translated…
    es = clients["es"].get("/api/explain?layer=0").get_json()["error"]
    en = clients["en"].get("/api/explain?layer=0").get_json()["error"]
    assert es.startswith("falta input") and en.startswith("input is required")
    # …the engine's stays English, the same in both
    es = clients["es"].get("/api/size?n=2&k=5&p=0&s=1")
    en = clients["en"].get("/api/size?n=2&k=5&p=0&s=1")
    assert es.status_code == en.status_code == 400
    assert es.get_json() == en.get_json()
    # a lesson that does not exist, and an image that is not one
    assert "No hay ninguna lección llamada" in clients["es"].get("/lessons/nope").get_data(as_text=True)
    bad = {"image": (__import__("io").BytesIO(b"not an image"), "x.png")}
    answer = clients["es"].post("/api/predict", data=bad, content_type="multipart/form-data")
    assert answer.status_code == 415
    assert answer.get_json()["error"].startswith("x.png: esta no es una imagen que el explorador pueda leer")


def test_create_app_language_argument(model):
    with pytest.raises(ValueError, match="lang must be one of"):
        create_app(model=model, lang="fr")
    i18n.set_language("es")
    assert create_app(model=model).config["CONVLAB_LANG"] == "es"  # None keeps the language in use
    i18n.set_language("en")
    assert create_app(model=model).config["CONVLAB_LANG"] == "en"


# --------------------------------------------------------------------------- numbers are the same
def _canvas() -> dict:
    """A 56×56 drawing of a "7" (white ink on black), as the page sends it."""
    ink = np.zeros((56, 56), np.uint8)
    ink[10:14, 12:44] = 255
    for r in range(14, 48):
        c = 44 - (r - 14) // 2
        ink[r, c - 3 : c + 1] = 255
    return {"width": 56, "height": 56, "pixels": base64.b64encode(ink.tobytes()).decode("ascii")}


def _numbers(value) -> list:
    """Every number in a JSON answer, strings' digits included, in a canonical order."""
    if isinstance(value, dict):
        return [n for k in sorted(value) for n in _numbers(value[k])]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    if isinstance(value, str):
        return sorted(float(x.replace("−", "-")) for x in NUMBER.findall(value))
    if isinstance(value, bool) or value is None:
        return [value]
    return [value]


def test_json_answers_are_the_same_in_both_languages(clients):
    es, en = clients["es"], clients["en"]
    answers = {}
    for lang, client in clients.items():
        predicted = client.post("/api/predict", json={"canvas": _canvas()}).get_json()
        key = predicted["input_id"]
        layers = client.get(f"/api/layers?input={key}&format=list").get_json()
        explained = [
            client.get(f"/api/explain?input={key}&layer=0&row=5&col=7&channel=1").get_json(),  # conv
            client.get(f"/api/explain?input={key}&layer=1&row=0&col=0&channel=2").get_json(),  # max pooling
            client.get(f"/api/explain?input={key}&layer=3&unit=7&top=5").get_json(),  # dense, softmax
            client.get(f"/api/explain?input={key}&layer=2&unit=100").get_json(),  # flatten
        ]
        answers[lang] = {
            "predict": predicted,
            "layers": layers,
            "explain": explained,
            "size": client.get("/api/size?n=7&k=3&p=same&s=2").get_json(),
            "sharpen": client.get("/api/sharpen").get_json(),
            "status": client.get("/api/status").get_json(),
        }
    for name in ("predict", "layers"):
        assert answers["es"][name] == answers["en"][name], name
    # the formulas are the engine's (convlab.shapes), whose words the package's catalog translates: numbers equal
    es_size, en_size = answers["es"]["size"], answers["en"]["size"]
    assert {k: v for k, v in es_size.items() if k != "formula"} == {k: v for k, v in en_size.items() if k != "formula"}
    assert _numbers(es_size["formula"]) == _numbers(en_size["formula"])
    assert _numbers(answers["es"]["sharpen"]) == _numbers(answers["en"]["sharpen"])
    for a, b in zip(answers["es"]["explain"], answers["en"]["explain"]):
        assert {k: v for k, v in a.items() if k != "text"} == {k: v for k, v in b.items() if k != "text"}
        assert a["text"] != b["text"]  # the explorer's words…
        assert _numbers(a["text"]) == _numbers(b["text"]), (a["text"], b["text"])  # …around the same numbers
    assert "sesgo" in answers["es"]["explain"][0]["text"] and "bias" in answers["en"]["explain"][0]["text"]
    assert _numbers(answers["es"]["status"]) == _numbers(answers["en"]["status"])
    assert es.get("/api/status").get_json()["keras"]["message"].startswith("no hay modelo de Keras")
    assert en.get("/api/status").get_json()["keras"]["message"].startswith("no Keras model")


# --------------------------------------------------------------------------- lesson pages
MARKDOWN_LESSON = """# %% [markdown]
# # Lesson 01 — a fake lesson
#
# Why it matters: the *first* paragraph,
# on two lines with `code`.
#
# ```python
# x = 1  # a block the catalog keeps whole
# ```
#
# A paragraph the catalog lacks.

# %%
from convlab.lesson import Lesson, _

lesson = Lesson(__file__, "A fake lesson")
"""
DOCSTRING_LESSON = '''"""Lesson 02 — an older lesson, with a docstring.

Its body: <b>escaped</b>.
"""
print(2)
'''
TRANSLATED = {
    "# Lesson 01 — a fake lesson": "# Lección 01 — una lección de mentira",
    "Why it matters: the *first* paragraph,\non two lines with `code`.": (
        "Por qué importa: el *primer* párrafo,\nen dos líneas con `code`."
    ),
    "```python\nx = 1  # a block the catalog keeps whole\n```": (
        "```python\nx = 1  # un bloque que el catálogo guarda entero\n```"
    ),
    "Lesson 02 — an older lesson, with a docstring.": "Lección 02 — una lección antigua, con docstring.",
}


@pytest.fixture
def fake_lessons(tmp_path, monkeypatch):
    """lessons/01_fake.py (percent format, with a Spanish catalog) and 02_old.py (a docstring, no catalog)."""
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "01_fake.py").write_text(MARKDOWN_LESSON, encoding="utf-8")
    (folder / "02_old.py").write_text(DOCSTRING_LESSON, encoding="utf-8")
    catalog = Catalog(locale="es", domain="01_fake")
    for msgid, msgstr in TRANSLATED.items():
        catalog.add(msgid, msgstr)
    catalog.add("A paragraph the catalog lacks.", "")  # untranslated: stays English
    po = i18n.catalog_path(folder / "locale", "es", "01_fake")
    po.parent.mkdir(parents=True)
    with po.open("wb") as f:
        write_po(f, catalog, width=100)
    monkeypatch.setattr(web_lessons, "lessons_folder", lambda: folder)
    return folder


def test_lesson_intro_reads_the_markdown_cell_or_the_docstring():
    title, body = web_lessons.lesson_intro(MARKDOWN_LESSON)
    assert title == "Lesson 01 — a fake lesson"
    assert body.startswith("Why it matters: the *first* paragraph,\non two lines with `code`.\n\n```python\n")
    assert body.endswith("A paragraph the catalog lacks.") and "lesson = Lesson" not in body
    title, body = web_lessons.lesson_intro(DOCSTRING_LESSON)
    assert (title, body) == ("Lesson 02 — an older lesson, with a docstring.", "Its body: <b>escaped</b>.")
    assert web_lessons.lesson_intro("print(1)\n") == ("", "")
    assert web_lessons.lesson_intro("# %% [markdown]\n# # Lesson 09 — heading and text\n# together\n") == (
        "Lesson 09 — heading and text",
        "together",
    )


def test_lesson_pages_translate_each_paragraph(clients, fake_lessons):
    es = _get(clients["es"], "/lessons/01_fake")
    assert '<h1 id="lesson-title">Lección 01 — una lección de mentira</h1>' in es
    assert str(escape("Por qué importa: el *primer* párrafo,\nen dos líneas con `code`.")) in es
    assert "un bloque que el catálogo guarda entero" in es
    assert "A paragraph the catalog lacks." in es  # no translation: as written
    assert "convlab lesson 1 --step --lang es" in es and "python lessons/01_fake.py --step --lang es" in es
    assert str(escape(MARKDOWN_LESSON)) in es  # the source, as it is
    en = _get(clients["en"], "/lessons/01_fake")
    assert '<h1 id="lesson-title">Lesson 01 — a fake lesson</h1>' in en
    assert "Why it matters: the *first* paragraph,\non two lines with `code`." in en
    assert "convlab lesson 1 --step</code>" in en and "--lang" not in en.split('id="lesson-source"')[0]
    # an older lesson: its docstring; no catalog, so the Spanish page shows it as written, escaped
    es = _get(clients["es"], "/lessons/02_old")
    assert '<h1 id="lesson-title">Lesson 02 — an older lesson, with a docstring.</h1>' in es
    assert "Its body: &lt;b&gt;escaped&lt;/b&gt;." in es and "<b>escaped" not in es
    assert "Ejecútala" in es


def test_a_broken_lesson_catalog_leaves_the_english(clients, fake_lessons):
    po = i18n.catalog_path(fake_lessons / "locale", "es", "01_fake")
    po.write_text('msgid "unterminated\n', encoding="utf-8")
    es = _get(clients["es"], "/lessons/01_fake")
    assert '<h1 id="lesson-title">Lesson 01 — a fake lesson</h1>' in es and "Ejecútala" in es
