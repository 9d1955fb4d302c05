"""``lessons/README.md`` stays true to the lessons: every step its coverage table names exists,
with that number and that title, and every lesson appears in it.

A reference is written `` `NN·k` title `` (lesson NN, step k); the title is compared with the
k-th ``lesson.step(...)`` call of ``lessons/NN_*.py`` — its English title, marked ``_("…")`` for the
catalogs (for a title built with an f-string or ``.format``, its text up to the first ``{``).
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "lessons" / "README.md"
REF = re.compile(r"`(\d\d)·(\d+)` ([^<|]+?)\s*(?=<br>|\|)")


def step_titles(path: Path) -> list[str]:
    """The literal titles of a lesson's steps, in order (an f-string: its text before the first field)."""
    calls = [
        node
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "step"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "lesson"
    ]
    titles = []
    for call in sorted(calls, key=lambda c: c.lineno):
        arg = call.args[0]
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "format":
            arg = arg.func.value  # _("… {n} …").format(n=…)
        if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id in ("_", "ngettext"):
            arg = arg.args[0]  # lesson.step(_("title")): the English title the catalog translates
        if isinstance(arg, ast.Constant) and "{" in arg.value:
            arg = ast.Constant(arg.value.split("{")[0])
        if isinstance(arg, ast.Constant):
            titles.append(arg.value)
        else:  # JoinedStr: the constant parts before the first formatted value
            head = ""
            for part in getattr(arg, "values", []):
                if not isinstance(part, ast.Constant):
                    break
                head += part.value
            titles.append(head)
    return titles


def test_every_referenced_step_exists_with_its_title():
    lessons = {p.stem[:2]: p for p in (ROOT / "lessons").glob("[0-9][0-9]_*.py")}
    text = README.read_text(encoding="utf-8")
    refs = REF.findall(text)
    assert len(refs) > 40, "the coverage table should name the lessons' steps"
    for number, k, title in refs:
        assert number in lessons, f"`{number}·{k}`: no lesson {number}"
        titles = step_titles(lessons[number])
        assert 1 <= int(k) <= len(titles), f"`{number}·{k}`: lesson {number} has {len(titles)} steps"
        want = titles[int(k) - 1]
        assert title.startswith(want) if "{" not in want else title.startswith(want.split("{")[0]), (
            f"`{number}·{k}` says {title!r}, the lesson's step {k} is {want!r}"
        )
    named = {number for number, _, _ in refs}
    assert named >= set(lessons), f"lessons the tables do not name: {sorted(set(lessons) - named)}"
    for number in lessons:  # every lesson is listed in the table of lessons
        assert f"`{lessons[number].name}`" in text, lessons[number].name
