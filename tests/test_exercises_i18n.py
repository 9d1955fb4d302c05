"""The exercises in Spanish and English (issue 16): the stubs ``convlab exercises`` writes, and everything
``convlab check`` says — verdicts, diagnoses, hints — in the language chosen, with the same numbers.

The words come from the ``exercises`` catalog (``convlab/locale/es/LC_MESSAGES/exercises.po``); the stubs in
the package are English and are translated paragraph by paragraph as they are copied. A Spanish run must
print no English sentence of that catalog, and the same numbers as the English run.
"""

from __future__ import annotations

import ast
import copy
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from exercise_solutions import CORRELATE2D
from i18n_helpers import catalog_sentences, numbers

import convlab.exercises
from convlab.cli import main
from convlab.exercises import report, workspace
from convlab.exercises.grade import build_cases, grade_exercise, grader_module
from convlab.exercises.report import CODE_LABELS, render_hints, render_result
from convlab.exercises.workspace import STUBS, copy_exercises, stub_text
from convlab.teach import catalogs
from convlab.teach.exercise_catalogue import EXERCISES, get_exercise
from convlab.util import i18n

PO = Path(i18n.LOCALE_DIR) / "es" / "LC_MESSAGES" / "exercises.po"
SOURCES = Path(convlab.exercises.__file__).parent


ENGLISH = catalog_sentences(PO)


@pytest.fixture(autouse=True)
def _english_afterwards(monkeypatch):
    """Each test starts in English with no CONVLAB_LANG from an earlier test, and leaves the process in English."""
    monkeypatch.setenv(i18n.LANG_VARIABLE, "en")
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    i18n.set_language("en")
    yield
    i18n.set_language("en")


def spanish_problems(text: str) -> list[str]:
    """English sentences of the exercises catalog found in a Spanish text."""
    flat = " ".join(text.split())
    return [s for s in ENGLISH if s in flat]


def in_language(lang: str, fn, *args, **kw):
    i18n.set_language(lang)
    try:
        return fn(*args, **kw)
    finally:
        i18n.set_language("en")


# ------------------------------------------------------------------------------ the stubs
def _code_only(source: str) -> str:
    """A stub's code without its docstrings and the NotImplementedError message: what must not change."""
    tree = ast.parse(source)
    for node in [tree, *ast.walk(tree)]:
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                first.value.value = "<doc>"
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            node.exc.args = []
    return ast.dump(tree)


def test_the_catalog_translates_every_stub_paragraph():
    assert catalogs.missing(next(d for d in catalogs.domains() if d.name == "exercises"), "es") == []


@pytest.mark.parametrize("number", [ex.number for ex in EXERCISES])
def test_a_spanish_stub_is_the_english_code_with_spanish_text(number):
    ex = get_exercise(number)
    english = (STUBS / ex.file_name).read_text(encoding="utf-8")
    assert stub_text(ex, "en") == english
    spanish = stub_text(ex, "es")
    compile(spanish, ex.file_name, "exec")
    assert _code_only(spanish) == _code_only(english)  # names, signatures, imports, code: unchanged
    doc = ast.get_docstring(ast.parse(spanish))
    assert doc.startswith(f"Ejercicio {number} — ")
    assert f"convlab check {number} --lang es" in doc.splitlines()[-1]
    assert "Argumentos:" in spanish and "Devuelve:" in spanish and "Args:" not in spanish
    assert f'NotImplementedError("ejercicio {number}: escribe' in spanish
    assert not spanish_problems(spanish)
    assert numbers(spanish) == numbers(english)
    # Nothing that hands over the answer in the Spanish text either (see tests/test_exercise_stubs.py).
    for word in ("np.pad", "einsum", "np.max", ".max(", "argmax", "reshape", "transpose", "range(", "keepdims"):
        assert word not in spanish
    assert not re.search(r"\bfor \w+ in\b", spanish)


def test_translating_a_stub_keeps_its_layout():
    """Each paragraph is replaced where it stands: the identity gives the file back, byte for byte."""
    for ex in EXERCISES:
        source = (STUBS / ex.file_name).read_text(encoding="utf-8")
        assert workspace.translate_stub(source, str) == source
        marked = workspace.translate_stub(source, lambda text: text.upper())
        assert marked.count('"""') == source.count('"""')
        assert len(marked.splitlines()) == len(source.splitlines())


def test_exercises_writes_spanish_stubs_with_lang_es_and_english_without(tmp_path, capsys):
    es, en = tmp_path / "es", tmp_path / "en"
    assert main(["exercises", "--dir", str(es), "--lang", "es"]) == 0
    out = capsys.readouterr().out
    assert "convlab exercises: 10 ejercicios en" in out and "nuevo" in out
    assert "convlab check 2 --dir" in out and "--lang es" in out  # a command to copy, in the same language
    assert not spanish_problems(out)
    i18n.set_language("en")  # as a new `convlab` process would start
    assert main(["exercises", "--dir", str(en)]) == 0
    out_en = capsys.readouterr().out
    assert "convlab exercises: 10 exercises in" in out_en and "--lang" not in out_en
    for ex in EXERCISES:
        assert (es / ex.file_name).read_text(encoding="utf-8") == stub_text(ex, "es")
        assert (en / ex.file_name).read_text(encoding="utf-8") == (STUBS / ex.file_name).read_text(encoding="utf-8")
    assert "Ejercicio 2 — correlación cruzada" in (es / "ex02_correlate2d.py").read_text(encoding="utf-8")
    assert "Exercise 2 — cross-correlation" in (en / "ex02_correlate2d.py").read_text(encoding="utf-8")


def test_the_locale_chooses_the_language_when_lang_is_not_given(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", i18n.LANG_VARIABLE)}
    run = [sys.executable, "-m", "convlab", "exercises", "--dir", "mine"]
    proc = subprocess.run(run, cwd=tmp_path, env={**env, "LANG": "es_ES.UTF-8"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "convlab exercises: 10 ejercicios en mine/" in proc.stdout
    assert "--lang" not in proc.stdout  # the locale already says Spanish: the commands to copy need no option
    assert (tmp_path / "mine" / "ex05_max_pool.py").read_text(encoding="utf-8") == stub_text(get_exercise(5), "es")


def test_a_blank_stub_in_either_language_is_not_the_learners_work(tmp_path):
    """Unchanged, rewritten in the language asked for, never kept or backed up; the learner's work still is."""
    done = copy_exercises(tmp_path, lang="es")
    assert {c.action for c in done} == {"created"}
    assert {c.action for c in copy_exercises(tmp_path, lang="es")} == {"unchanged"}
    work = tmp_path / "ex02_correlate2d.py"
    work.write_text(stub_text(get_exercise(2), "es").replace("raise NotImplementedError", "return image  #"))
    mine = work.read_text(encoding="utf-8")

    done = {c.exercise.number: c for c in copy_exercises(tmp_path, lang="en")}
    assert done[2].action == "kept" and work.read_text(encoding="utf-8") == mine
    assert {c.action for n, c in done.items() if n != 2} == {"translated"}
    assert (tmp_path / "ex03_zero_pad.py").read_text(encoding="utf-8") == stub_text(get_exercise(3), "en")

    done = {c.exercise.number: c for c in copy_exercises(tmp_path, force=True, lang="es")}
    assert done[2].action == "replaced" and (tmp_path / "ex02_correlate2d.py.bak").read_text() == mine
    assert {c.action for n, c in done.items() if n != 2} == {"translated"}
    assert sorted(p.name for p in tmp_path.glob("*.bak")) == ["ex02_correlate2d.py.bak"]
    assert {c.action for c in copy_exercises(tmp_path, force=True, lang="es")} == {"unchanged"}


def test_the_commands_notes_are_spanish(tmp_path, capsys):
    main(["exercises", "--dir", str(tmp_path)])
    capsys.readouterr()
    assert main(["exercises", "--dir", str(tmp_path), "--lang", "es"]) == 0
    out = capsys.readouterr().out
    assert out.count("aún sin empezar: reescrito en este idioma") == len(EXERCISES)
    assert not spanish_problems(out)


# ------------------------------------------------------------------------------ convlab check
CORRECT = CORRELATE2D

# Wrong solutions of exercise 2, each with a different kind of message.
WRONG = {
    "flipped": CORRECT.replace("* kernel)", "* kernel[::-1, ::-1])"),
    "loop_stops_early": CORRECT.replace("range(out.shape[0])", "range(out.shape[0] - 1)"),
    "not_implemented": "def correlate2d(image, kernel):\n    raise NotImplementedError('x')\n",
    "syntax_error": "import numpy as np\n\ndef correlate2d(image, kernel)\n    return image\n",
    "wrong_type": "def correlate2d(image, kernel):\n    return [[1.0]]\n",
    "exception": "import numpy as np\n\ndef correlate2d(image, kernel):\n    return np.sum(image * kernel)\n",
    "modified_input": CORRECT.replace("kh, kw = kernel.shape", "kh, kw = kernel.shape\n    image += 0.5"),
    "missing_function": "def correlate(image, kernel):\n    return image\n",
    "wrong_signature": "def correlate2d(image):\n    return image\n",
    "not_finite": CORRECT.replace("return out", "out[-1, -1] = np.nan\n    return out"),
    "accumulates": CORRECT.replace("out = np.zeros(", "out = SEEN.setdefault(image.shape, np.zeros(")
    .replace("kw + 1))", "kw + 1)))")
    .replace("import numpy as np", "import numpy as np\nSEEN = {}")
    .replace("out[i, j] =", "out[i, j] +="),
    "printed": CORRECT.replace("return out", "print('hello', out.shape)\n    return out"),
}


def _check(tmp_path, capsys, source: str, *extra: str) -> tuple[str, str]:
    """``convlab check 2`` on ``source``, in English then in Spanish: (English output, Spanish output)."""
    (tmp_path / "ex02_correlate2d.py").write_text(textwrap.dedent(source))
    outputs = []
    for lang in ("en", "es"):
        main(["check", "2", "--dir", str(tmp_path), "--lang", lang, *extra])
        outputs.append(capsys.readouterr().out)
        i18n.set_language("en")
    return outputs[0], outputs[1]


def _verdict_lines(text: str) -> str:
    """The report without the case lines and the case named in the heading: names are cut to fit 79 columns,
    at a different place in each language."""
    keep = [
        line
        for line in text.splitlines()
        if not line.startswith(("  ✓ ", "  ✗ ", "  What went wrong", "  Qué ha fallado"))
        and "convlab check" not in line
    ]
    return "\n".join(keep)


def _same_verdict(english: str, spanish: str) -> None:
    assert numbers(_verdict_lines(english)) == numbers(_verdict_lines(spanish)), (english, spanish)
    assert not spanish_problems(spanish), spanish
    assert max(len(line) for line in spanish.splitlines() if "--dir" not in line) < 80, spanish


@pytest.mark.parametrize("mistake", ["flipped", "not_implemented", "wrong_type"])
def test_a_wrong_solution_gets_a_spanish_verdict_with_the_same_numbers(tmp_path, capsys, mistake):
    english, spanish = _check(tmp_path, capsys, WRONG[mistake])
    assert "Exercise 2: cross-correlation of one channel by hand" in english
    assert "Ejercicio 2: correlación cruzada de un canal, a mano" in spanish
    assert "cases pass." in english and "Casos superados:" in spanish
    assert "¿Te has atascado? convlab check 2 --hint --dir" in spanish and spanish.rstrip().endswith("--lang es")
    _same_verdict(english, spanish)
    if mistake == "flipped":
        assert "kernel volteado" in spanish and "Qué ha fallado en «" in spanish
        assert "la correlación cruzada ⋆ que calcula Conv2D de Keras" in " ".join(spanish.split())
    if mistake == "not_implemented":
        flat = " ".join(spanish.split())
        assert "aún sin implementar: ex02_correlate2d.py todavía lanza NotImplementedError" in flat


@pytest.mark.parametrize("mistake", sorted(set(WRONG) - {"flipped", "not_implemented", "wrong_type"}))
def test_every_kind_of_problem_is_told_in_spanish(tmp_path, capsys, mistake):
    english, spanish = _check(tmp_path, capsys, WRONG[mistake])
    _same_verdict(english, spanish)
    assert "Ejercicio 2:" in spanish


def test_a_correct_solution_passes_in_both_languages(tmp_path, capsys):
    english, spanish = _check(tmp_path, capsys, CORRECT)
    assert "exercise 2 passes: all 9 cases" in english and "266 ✓" in english
    assert "ejercicio 2 superado: los 9 casos" in spanish and "266 ✓" in spanish
    assert "diapositiva: imagen 5×5 ⋆ kernel de enfoque" in spanish
    assert numbers(english) == numbers(spanish)
    assert not spanish_problems(spanish)


def test_hints_come_in_spanish(tmp_path, capsys):
    main(["exercises", "--dir", str(tmp_path), "--lang", "es"])
    capsys.readouterr()
    for n in (1, 2):
        assert main(["check", "2", "--dir", str(tmp_path), "--hint", "--lang", "es"]) == 1
        out = capsys.readouterr().out
        i18n.set_language("en")
        assert f"Pista {n} de 3:" in out and "aún sin implementar" in out
        assert "para la siguiente pista" in out and "--lang es" in out
        assert not spanish_problems(out)
    hints = tuple(grader_module(get_exercise(2)).HINTS)
    english = render_hints(get_exercise(2), hints, 3)
    spanish = in_language("es", render_hints, get_exercise(2), hints, 3)
    assert numbers(english) == numbers(spanish) and not spanish_problems(spanish)
    assert "Comprobación con la diapositiva: 60·0 + 113·(−1)" in " ".join(spanish.split())


@pytest.mark.slow
def test_check_all_on_untouched_spanish_stubs(tmp_path, capsys):
    main(["exercises", "--dir", str(tmp_path), "--lang", "es"])
    capsys.readouterr()
    assert main(["check", "all", "--dir", str(tmp_path), "--lang", "es"]) == 1
    out = capsys.readouterr().out
    assert out.count("aún sin implementar") == len(EXERCISES)
    assert "Resumen:" in out and "Ejercicios superados: 0 de 10." in out
    assert not spanish_problems(out)


# ------------------------------------------------------------------------------ every grader's words, in process
def _perturbed(expected):
    """A few wrong answers of the right type: one number off, a scaled answer, a wrong shape."""
    if isinstance(expected, (int, np.integer)):
        return [int(expected) + 1, int(expected) - 1, float(expected) + 0.5, float(expected)]
    if isinstance(expected, np.ndarray):
        off = np.array(expected, dtype=float)
        off.reshape(-1)[min(1, off.size - 1)] += 1.0
        return [off, 2.0 * np.asarray(expected, dtype=float), np.zeros(expected.shape[:-1] + (expected.shape[-1] + 1,))]
    if isinstance(expected, tuple):
        out = []
        for k in range(len(expected)):
            for wrong in _perturbed(expected[k])[:2]:
                out.append(tuple(wrong if i == k else e for i, e in enumerate(expected)))
        return out
    return []


def _mistake_outputs(grader, case):
    """What the grader's own typical mistakes output for ``case`` (their messages are the ones to test)."""
    found = []
    if hasattr(grader, "_candidates"):  # conv2d, max_pool
        for _code, _message, make in grader._candidates(case):
            try:
                got = make()
            except ValueError:
                continue
            if got is not None:
                found.append(np.array(got))
    if hasattr(grader, "_mistakes"):
        for item in grader._mistakes(case):
            if len(item) == 4:  # conv_backward: (code, output index, candidate, message)
                k, cand = item[1], item[2]
                found.append(tuple(cand if i == k else e for i, e in enumerate(case.expected)))
            else:  # max_pool_backward: (code, candidate, message)
                found.append(item[1])
    return found


def _compare_diagnoses(number: int, extra=None) -> int:
    """Diagnose wrong answers of every case of exercise ``number`` in both languages; return how many compared."""
    ex = get_exercise(number)
    grader = grader_module(ex)
    cases = {lang: in_language(lang, build_cases, ex) for lang in ("en", "es")}
    compared = 0
    for case_en, case_es in zip(cases["en"], cases["es"]):
        assert numbers(case_en.name) == numbers(case_es.name), (case_en.name, case_es.name)
        assert not spanish_problems(case_es.name), case_es.name
        if case_en.chain is not None:
            continue
        wrongs = (
            _perturbed(case_en.expected) + _mistake_outputs(grader, case_en) + list((extra or (lambda c: []))(case_en))
        )
        for got in wrongs:
            d_en = grader.diagnose(case_en, copy.deepcopy(got))
            d_es = in_language("es", grader.diagnose, case_es, copy.deepcopy(got))
            assert (d_en is None) == (d_es is None)
            if d_en is None:
                continue
            assert d_en.code == d_es.code
            assert numbers(d_en.message) == numbers(d_es.message), (d_en.message, d_es.message)
            assert not spanish_problems(d_es.message), d_es.message
            compared += 1
    return compared


@pytest.mark.parametrize("number", [1, 2, 3, 5, 6, 7, 9])
def test_every_graders_diagnoses_in_spanish_have_the_same_numbers(number):
    assert _compare_diagnoses(number) > 10


@pytest.mark.slow
@pytest.mark.parametrize("number", [4, 8])
def test_the_larger_graders_diagnoses_in_spanish(number):
    assert _compare_diagnoses(number) > 10


@pytest.mark.slow
def test_the_training_steps_verdicts_in_spanish():
    ex = get_exercise(10)
    grader = grader_module(ex)
    cases = {lang: in_language(lang, build_cases, ex) for lang in ("en", "es")}
    run_en, run_es = cases["en"][-1], cases["es"][-1]
    for losses in ([2.3] * 30, [2.3 + 0.01 * i for i in range(30)], [2.3, 5.0, float("nan")] + [1.0] * 27, [2.3]):
        ok_en, d_en = grader.judge(run_en, losses)
        ok_es, d_es = in_language("es", grader.judge, run_es, losses)
        assert not ok_en and not ok_es and d_en.code == d_es.code
        assert numbers(d_en.message) == numbers(d_es.message) and not spanish_problems(d_es.message)
    step_en, step_es = cases["en"][0], cases["es"][0]
    loss, new = step_en.expected
    params, lr = step_en.args[0], step_en.args[3]
    wrongs = [
        (loss * len(step_en.args[1]), new),
        (-loss, new),
        (loss, {k: 2 * new[k] - params[k] for k in new}),  # the step twice as far
        (loss, {k: params[k] for k in new}),  # not updated
        (loss, {k: params[k] + (new[k] - params[k]) / lr for k in new}),  # no learning rate
        (loss, {**new, "dense_bias": new["dense_bias"][None].repeat(3, axis=0)}),
        (loss, {**new, "dense_kernel": new["dense_kernel"] + 0.01}),
    ]
    for got in wrongs:
        d_en = grader.diagnose(step_en, got)
        d_es = in_language("es", grader.diagnose, step_es, got)
        assert d_en.code == d_es.code
        assert numbers(d_en.message) == numbers(d_es.message), (d_en.message, d_es.message)
        assert not spanish_problems(d_es.message), d_es.message


def test_the_report_speaks_spanish_for_every_code():
    """Each diagnosis code has a label (English: the code's words); the graders' codes are all there."""
    for code, label in CODE_LABELS.items():
        assert label == code.replace("_", " ")
    source = "".join(p.read_text(encoding="utf-8") for p in SOURCES.rglob("*.py") if "stubs" not in p.parts)
    codes = set(re.findall(r'Diagnosis\(\s*"([a-z0-9_]+)"', source))
    codes |= set(re.findall(r'^\s*"([a-z]+(?:_[a-z0-9]+)+)",\s*$', source, re.M)) & set(CODE_LABELS) | {
        "dense_update_wrong",
        "conv_update_wrong",
    }
    assert codes <= set(CODE_LABELS), codes - set(CODE_LABELS)
    spanish = {code: in_language("es", report.code_label, code) for code in CODE_LABELS}
    assert all(spanish[code] != code.replace("_", " ") or code in ("leaky_relu", "log_softmax") for code in spanish)


def test_render_result_heading_and_passes_in_spanish(tmp_path):
    (tmp_path / "ex01_output_size.py").write_text(
        "def output_size(n, kernel_size, padding, stride):\n"
        "    if padding == 'same':\n        return -(-n // stride)\n"
        "    p = 0 if padding == 'valid' else padding\n    return (n + 2 * p - kernel_size) // stride + 1\n"
    )
    result = grade_exercise(1, tmp_path)
    assert result.passed
    text = in_language("es", render_result, result)
    assert text.startswith("Ejercicio 1: el tamaño de salida T = (N + 2P − K)/S + 1")
    assert f"ejercicio 1 superado: los {len(result.cases)} casos (todas las respuestas exactas)" in text


def test_no_underscore_throwaway_hides_gettext():
    """``_`` is gettext in these files: never assigned (``for _ in``, ``a, _ = …``)."""
    for path in SOURCES.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stored = [
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, (ast.Store, ast.Del))
        ]
        assert not stored, f"{path.name}: `_` assigned on line(s) {stored}"


def test_the_childs_placeholders_are_translated_by_the_grader():
    from convlab.exercises import child
    from convlab.exercises.grade import _describe

    got = {child.OPAQUE: "numpy.ndarray", "repr": child.REPR_FAILED, "dtype": "<U3"}
    assert _describe(got) == "a numpy.ndarray of dtype <U3 (<repr failed>)"
    assert in_language("es", _describe, got) == "un numpy.ndarray de dtype <U3 (<falló su repr>)"
    assert inspect.getsource(child).count("import convlab") == 0  # the child still never imports convlab
