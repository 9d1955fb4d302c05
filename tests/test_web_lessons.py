"""The explorer's lesson links: every page's ``/lessons/<name>`` link opens that lesson; nothing else does.

A request names a lesson, never a path: the name is looked up among the ``NN_name.py`` files in the
repository's ``lessons/`` (:mod:`convlab.web.lessons`). Traversal attempts, backup files and unknown names
are 404 HTML pages that show no file's content; without a lessons folder (a wheel install) the links land on
a 404 page saying how to get the lessons. Flask's test client only: no socket, no training.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from markupsafe import escape

import convlab
from convlab.layers import Conv2D, Dense, Flatten, Input, MaxPool2D
from convlab.web import lessons as web_lessons
from convlab.web.app import CSP, PAGES, create_app

REPO = Path(__file__).resolve().parents[1]
LESSONS = REPO / "lessons"
SETUP_CFG = (REPO / "setup.cfg").read_text(encoding="utf-8")
LINK = re.compile(r'href="(/lessons/[^"]*)"')

pytestmark = pytest.mark.skipif(not LESSONS.is_dir(), reason="needs the source repository's lessons/ folder")


@pytest.fixture(scope="module")
def client():
    """A small untrained model: the lesson pages do not depend on it, but the app is built as served."""
    convlab.set_seed(0)
    model = convlab.Sequential(
        [Input((28, 28, 1)), Conv2D(2, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(10, activation="softmax")]
    )
    return create_app(model=model, classes=[str(d) for d in range(10)]).test_client()


def _html(response) -> str:
    assert response.mimetype == "text/html", response.mimetype
    text = response.get_data(as_text=True)
    assert not text.lstrip().startswith("{"), text[:200]  # an HTML page, not a JSON error
    return text


def _docstring(path: Path) -> tuple[str, str]:
    """(title, the rest) of a lesson's introduction: its first ``# %% [markdown]`` cell (the heading without
    ``# ``, then the markdown, each line without its ``# ``), or its module docstring (first line, the rest)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if "# %% [markdown]" in lines:
        cell = []
        for line in lines[lines.index("# %% [markdown]") + 1 :]:
            if line.startswith("# %%") or not (line == "#" or line.startswith("# ")):
                break
            cell.append(line[2:])
        first, _sep, rest = "\n".join(cell).strip("\n").partition("\n")
        assert first.startswith("# "), f"{path.name}: the first markdown cell does not start with a heading"
        return first[2:].strip(), rest.strip("\n")
    first, _sep, rest = ast.get_docstring(ast.parse("\n".join(lines))).partition("\n")
    return first.strip(), rest.strip("\n")


def test_lesson_folder_is_the_repositorys():
    assert web_lessons.lessons_folder() == LESSONS
    names = list(web_lessons.lesson_paths())
    assert names == sorted(p.stem for p in LESSONS.glob("[0-9][0-9]_*.py"))
    assert "03_convolution_by_hand" in names


@pytest.mark.parametrize("url", list(PAGES))
def test_each_pages_lesson_links_open_the_lesson(client, url):
    page = _html(client.get(url))
    links = LINK.findall(page)
    assert links, f"{url} links to no lesson"
    for href in links:
        name = href.removeprefix("/lessons/")
        path = LESSONS / f"{name}.py"
        assert path.is_file(), f"{url} links to {href}, but there is no {path.name}"
        # the visible text stays the file's name
        assert f'<a href="{href}"><code>lessons/{name}.py</code></a>' in page
        response = client.get(href)
        assert response.status_code == 200, href
        assert response.headers["Content-Security-Policy"] == CSP
        html = _html(response)
        title, body = _docstring(path)
        assert f'<h1 id="lesson-title">{escape(title)}</h1>' in html
        assert str(escape(body)) in html
        assert f"convlab lesson {int(name[:2])} --step" in html
        assert f"python lessons/{name}.py --step" in html
        assert str(escape(path.read_text(encoding="utf-8"))) in html  # the whole source, escaped
        assert "<script>" not in html.split('id="lesson-source"')[1]  # nothing from the file runs


def test_lesson_03_page(client):
    html = _html(client.get("/lessons/03_convolution_by_hand"))
    assert "Lesson 03 — convolution by hand" in html
    assert "60*0 + 113*(-1)" in html  # from the docstring
    assert "convlab lesson 3 --step" in html
    assert "<title>lessons/03_convolution_by_hand.py · convlab explorer</title>" in html
    assert 'href="/static/lesson.css"' in html
    assert "style=" not in html and "onclick" not in html  # the CSP forbids inline styles and handlers


def test_lesson_index_lists_every_lesson(client):
    html = _html(client.get("/lessons/"))
    for path in LESSONS.glob("[0-9][0-9]_*.py"):
        assert f'href="/lessons/{path.stem}"' in html
    assert client.get("/lessons").status_code in (301, 308)  # → /lessons/


@pytest.mark.parametrize(
    "url",
    [
        "/lessons/../setup.cfg",
        "/lessons/%2e%2e%2fsetup.cfg",
        "/lessons/..%2fsetup.cfg",
        "/lessons/%2e%2e/%2e%2e/setup.cfg",
        "/lessons/nope",
        "/lessons/03_convolution_by_hand.py",
        "/lessons/03_convolution_by_hand.py.bak",
        "/lessons/03_convolution_by_hand/",
        "/lessons/./03_convolution_by_hand",
        "/lessons//etc/passwd",
        "/lessons/%00",
        "/lessons/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/lessons/" + "x" * 5000,
    ],
)
def test_no_request_names_a_path(client, url):
    response = client.get(url, follow_redirects=True)  # Werkzeug merges "//" with a redirect first
    assert response.status_code == 404, url
    html = _html(response)
    assert "[metadata]" not in html and SETUP_CFG[:60] not in html  # setup.cfg's content never shows
    assert "root:" not in html
    assert 'id="lesson-source"' not in html
    assert "Traceback" not in html
    assert "<script>alert" not in html  # the name is escaped
    assert len(html) < 20_000  # the name is cut, not echoed whole


def test_unknown_lesson_lists_the_lessons(client):
    html = _html(client.get("/lessons/nope"))
    assert "There is no lesson called" in html and "nope" in html
    assert 'href="/lessons/03_convolution_by_hand"' in html


def test_a_backup_file_or_a_link_out_of_the_folder_is_not_a_lesson(tmp_path, monkeypatch, client):
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "01_ok.py").write_text('"""Lesson 01 — ok.\n\nThe body <b>escaped</b>.\n"""\nprint(1)\n')
    (folder / "02_ok.py.bak").write_text("secret backup")
    (folder / "notes.py").write_text("secret notes")
    (tmp_path / "outside.py").write_text("secret outside")
    (folder / "03_link.py").symlink_to(tmp_path / "outside.py")
    monkeypatch.setattr(web_lessons, "lessons_folder", lambda: folder)
    assert list(web_lessons.lesson_paths()) == ["01_ok"]
    html = _html(client.get("/lessons/01_ok"))
    assert "Lesson 01 — ok." in html and "&lt;b&gt;escaped&lt;/b&gt;" in html and "<b>escaped" not in html
    for name in ("02_ok.py.bak", "02_ok", "notes", "03_link", "outside"):
        response = client.get(f"/lessons/{name}")
        assert response.status_code == 404, name
        assert "secret" not in _html(response)


def test_a_lesson_that_does_not_parse_still_shows_its_source(tmp_path, monkeypatch, client):
    folder = tmp_path / "lessons"
    folder.mkdir()
    (folder / "01_broken.py").write_bytes(b'"""Lesson 01\n\nunterminated\ndef (:\n\xff\n')
    monkeypatch.setattr(web_lessons, "lessons_folder", lambda: folder)
    response = client.get("/lessons/01_broken")
    assert response.status_code == 200
    html = _html(response)
    assert '<h1 id="lesson-title">lessons/01_broken.py</h1>' in html and "def (:" in html


def test_no_lessons_folder_says_how_to_get_them(tmp_path, monkeypatch, client):
    monkeypatch.setattr(web_lessons, "lessons_folder", lambda: tmp_path / "nowhere")
    with pytest.raises(web_lessons.LessonsMissingError, match="pip install -e"):
        web_lessons.lesson_paths()
    for url in ("/lessons/03_convolution_by_hand", "/lessons/", "/lessons/nope"):
        response = client.get(url)
        assert response.status_code == 404, url
        html = _html(response)
        assert "pip install -e ." in html and "source repository" in html
        assert str(tmp_path) not in html  # the page does not show where the server looked
    # the pages themselves still render, with their links (which land on that message)
    page = client.get("/inside")
    assert page.status_code == 200 and 'href="/lessons/03_convolution_by_hand"' in page.get_data(as_text=True)


def test_lesson_pages_are_get_only(client):
    response = client.post("/lessons/03_convolution_by_hand")
    assert response.status_code == 405
