"""Exercises 6 (relu, softmax) and 7 (flatten, dense): correct solutions pass, typical mistakes are named.

Every learner solution below is written as a student writes it (loops and NumPy, never convlab), saved as
``ex06_activations.py`` / ``ex07_dense.py`` in a temporary folder and graded in a child process, as
``convlab check 6`` does. Each exercise has two functions; a solution file gets one of them wrong and the
other right, so the codes named belong to the wrong one.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import convlab
from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.grade import build_cases, grade_exercise
from convlab.exercises.graders import activations, dense
from convlab.exercises.report import render_result
from convlab.teach.exercise_catalogue import get_exercise

# ----------------------------------------------------------------------------------- exercise 6
RELU_OK = """
def relu(x):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        if x[i] > 0:
            out[i] = x[i]
    return out
"""

SOFTMAX_OK = """
def softmax(z):
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        m = max(row)
        e = np.exp(row - m)
        out[idx] = e / e.sum()
    return out
"""

RELU_WRONG = {
    "relu_mask": """
def relu(x):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        if x[i] > 0:
            out[i] = 1
    return out
""",
    "leaky_relu": """
def relu(x):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        out[i] = x[i] if x[i] > 0 else 0.01 * x[i]
    return out
""",
    # `==` where `=` was meant: the negatives are never replaced.
    "keeps_negatives": """
def relu(x):
    out = x.copy()
    for i in np.ndindex(x.shape):
        if out[i] < 0:
            out[i] == 0
    return out
""",
    "min_instead_of_max": """
def relu(x):
    return np.minimum(x, 0)
""",
    "absolute_value": """
def relu(x):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        out[i] = abs(x[i])
    return out
""",
    "wrong_shape": """
def relu(x):
    return np.array([max(v, 0.0) for v in x.flatten()])
""",
    # A threshold at 1 instead of 0: numbers in (0, 1] are lost.
    "first_wrong": """
def relu(x):
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        if x[i] > 1:
            out[i] = x[i]
    return out
""",
    "modified_input": """
def relu(x):
    x[x < 0] = 0
    return x
""",
}

SOFTMAX_WRONG = {
    "unstable_softmax": """
def softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
""",
    "global_max": """
def softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum(axis=-1, keepdims=True)
""",
    "wrong_axis": """
def softmax(z):
    e = np.exp(z - z.max(axis=0))
    return e / e.sum(axis=0)
""",
    "keepdims_missing": """
def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1)
""",
    "missing_exp": """
def softmax(z):
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        out[idx] = z[idx] / z[idx].sum()
    return out
""",
    "not_normalised": """
def softmax(z):
    return np.exp(z - z.max(axis=-1, keepdims=True))
""",
    "log_softmax": """
def softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))
""",
    # Written for one vector of scores: the batch is flattened into one long row.
    "wrong_shape": """
def softmax(z):
    v = z.reshape(-1)
    e = np.exp(v - v.max())
    return e / e.sum()
""",
    # e rounded to 2.718: every probability a little off.
    "first_wrong": """
def softmax(z):
    s = z - z.max(axis=-1, keepdims=True)
    e = 2.718 ** s
    return e / e.sum(axis=-1, keepdims=True)
""",
}

# ----------------------------------------------------------------------------------- exercise 7
FLATTEN_OK = """
def flatten(x):
    n, h, w, c = x.shape
    out = np.zeros((n, h * w * c))
    for b in range(n):
        k = 0
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    out[b, k] = x[b, i, j, ch]
                    k += 1
    return out
"""

DENSE_OK = """
def dense(x, kernel, bias):
    n, d = x.shape
    u = kernel.shape[1]
    out = np.zeros((n, u))
    for i in range(n):
        for k in range(u):
            s = 0.0
            for j in range(d):
                s += x[i, j] * kernel[j, k]
            out[i, k] = s + bias[k]
    return out
"""

FLATTEN_WRONG = {
    # PyTorch's habit: channel by channel.
    "flatten_order": """
def flatten(x):
    n, h, w, c = x.shape
    out = np.zeros((n, h * w * c))
    for b in range(n):
        k = 0
        for ch in range(c):
            for i in range(h):
                for j in range(w):
                    out[b, k] = x[b, i, j, ch]
                    k += 1
    return out
""",
    "wrong_shape": """
def flatten(x):
    return x.flatten()
""",
    # The row stride uses H instead of W: right only for square images.
    "first_wrong": """
def flatten(x):
    n, h, w, c = x.shape
    out = np.zeros((n, h * w * c))
    for b in range(n):
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    p = (i * h + j) * c + ch
                    if p < h * w * c:
                        out[b, p] = x[b, i, j, ch]
    return out
""",
}

DENSE_WRONG = {
    "kernel_transposed": DENSE_OK.replace("kernel[j, k]", "kernel[k, j]"),
    "bias_missing": DENSE_OK.replace("out[i, k] = s + bias[k]", "out[i, k] = s"),
    "bias_per_pixel": DENSE_OK.replace("s += x[i, j] * kernel[j, k]", "s += x[i, j] * kernel[j, k] + bias[k]").replace(
        "out[i, k] = s + bias[k]", "out[i, k] = s"
    ),
    "activation_applied": DENSE_OK.replace("out[i, k] = s + bias[k]", "out[i, k] = max(s + bias[k], 0.0)"),
    "wrong_shape": DENSE_OK.replace("np.zeros((n, u))", "np.zeros((u, n))").replace("out[i, k] =", "out[k, i] ="),
    # The last feature is never added.
    "first_wrong": DENSE_OK.replace("for j in range(d):", "for j in range(d - 1):"),
}


def _write(tmp_path, number: int, *functions: str):
    name = get_exercise(number).file_name
    (tmp_path / name).write_text("import numpy as np\n" + "".join(textwrap.dedent(f) for f in functions))
    return grade_exercise(number, tmp_path)


def _failing(result, function: str) -> list[str]:
    return [c.diagnosis.code for c in result.cases if not c.passed and c.case.function == function]


# ------------------------------------------------------------------------------ end to end
def test_ex06_correct_solution_passes_and_shows_the_slide_numbers(tmp_path):
    r = _write(tmp_path, 6, RELU_OK, SOFTMAX_OK)
    assert r.passed, [(c.case.name, c.diagnosis) for c in r.cases if not c.passed]
    assert {c.case.function for c in r.cases} == {"relu", "softmax"}
    text = render_result(r)
    assert "266" in text and "295" in text  # the slides' convolution output through ReLU


def test_ex07_correct_solution_passes(tmp_path):
    r = _write(tmp_path, 7, FLATTEN_OK, DENSE_OK)
    assert r.passed, [(c.case.name, c.diagnosis) for c in r.cases if not c.passed]
    assert {c.case.function for c in r.cases} == {"flatten", "dense"}
    lesson = next(c for c in r.cases if c.case.slide and c.case.function == "dense")
    assert np.array_equal(lesson.got[0], [6, -2])  # lesson 12: out[0, 0] = [6, −2]


def test_ex06_vectorised_solution_passes(tmp_path):
    r = _write(
        tmp_path,
        6,
        "def relu(x):\n    return np.maximum(x, 0)\n",
        "def softmax(z):\n    e = np.exp(z - z.max(axis=-1, keepdims=True))\n"
        "    return e / e.sum(axis=-1, keepdims=True)\n",
    )
    assert r.passed, r.codes()


@pytest.mark.parametrize("code", sorted(RELU_WRONG))
def test_ex06_relu_mistakes_are_named(tmp_path, code):
    r = _write(tmp_path, 6, RELU_WRONG[code], SOFTMAX_OK)
    assert not r.passed
    codes = _failing(r, "relu")
    assert codes and set(codes) == {code}, codes
    assert _failing(r, "softmax") == []


@pytest.mark.parametrize("code", sorted(SOFTMAX_WRONG))
def test_ex06_softmax_mistakes_are_named(tmp_path, code):
    r = _write(tmp_path, 6, RELU_OK, SOFTMAX_WRONG[code])
    assert not r.passed
    codes = _failing(r, "softmax")
    assert code in codes, codes
    assert _failing(r, "relu") == []
    if code == "keepdims_missing":  # non-square batches cannot even broadcast
        assert set(codes) == {code, "exception"}, codes
    elif code != "unstable_softmax":  # the unstable formula is right on moderate logits
        assert set(codes) == {code}, codes


def test_unstable_softmax_fails_only_on_large_logits_and_says_subtract_the_max(tmp_path):
    r = _write(tmp_path, 6, RELU_OK, SOFTMAX_WRONG["unstable_softmax"])
    failed = [c for c in r.cases if not c.passed]
    assert failed and all(c.diagnosis.code == "unstable_softmax" for c in failed)
    assert all(np.max(np.abs(c.case.args[0])) > 700 for c in failed)
    large = next(c for c in failed if "1000" in c.case.name)
    assert "subtract the max" in large.diagnosis.message.lower()
    assert "inf" in large.diagnosis.message and "1000" in large.diagnosis.message


@pytest.mark.parametrize("code", sorted(FLATTEN_WRONG))
def test_ex07_flatten_mistakes_are_named(tmp_path, code):
    r = _write(tmp_path, 7, FLATTEN_WRONG[code], DENSE_OK)
    codes = _failing(r, "flatten")
    assert codes and set(codes) == {code}, codes
    assert _failing(r, "dense") == []


@pytest.mark.parametrize("code", sorted(DENSE_WRONG))
def test_ex07_dense_mistakes_are_named(tmp_path, code):
    r = _write(tmp_path, 7, FLATTEN_OK, DENSE_WRONG[code])
    codes = _failing(r, "dense")
    assert code in codes, codes
    assert _failing(r, "flatten") == []
    if code == "kernel_transposed":  # D ≠ U: kernel[k, j] runs out of range
        assert set(codes) == {code, "exception"}, codes
    else:
        assert set(codes) == {code}, codes


def test_messages_explain_in_words(tmp_path):
    r = _write(tmp_path, 7, FLATTEN_WRONG["flatten_order"], DENSE_WRONG["kernel_transposed"])
    flat = next(c for c in r.cases if not c.passed and c.case.function == "flatten")
    assert "channels-first" in flat.diagnosis.message and "(h·W + w)·C + c" in flat.diagnosis.message
    dense_fail = next(c for c in r.cases if c.diagnosis and c.diagnosis.code == "kernel_transposed")
    assert "kernel[d, u]" in dense_fail.diagnosis.message

    r = _write(tmp_path, 7, FLATTEN_WRONG["wrong_shape"], DENSE_WRONG["wrong_shape"])
    flat = next(c for c in r.cases if not c.passed and c.case.function == "flatten")
    assert "whole batch" in flat.diagnosis.message or "batch axis" in flat.diagnosis.message
    assert "(N, H·W·C)" in flat.diagnosis.message
    dense_fail = next(c for c in r.cases if not c.passed and c.case.function == "dense")
    assert "transposed" in dense_fail.diagnosis.message and "one row per sample" in dense_fail.diagnosis.message


# ------------------------------------------------------------------------------ in process
@pytest.mark.parametrize("number", [6, 7])
def test_cases_are_small_fixed_and_match_the_reference(number):
    cases = build_cases(get_exercise(number))
    again = build_cases(get_exercise(number))
    assert [c.name for c in cases] == [c.name for c in again]
    for c, d in zip(cases, again):
        assert all(np.array_equal(a, b) for a, b in zip(c.args, d.args))
    functions = get_exercise(number).function_names
    for fn in functions:  # readable / slide cases come first for each function
        mine = [c for c in cases if c.function == fn]
        assert mine and mine[0].slide
    assert all(c.expected.dtype == np.float64 for c in cases)


def test_reference_numbers_of_the_first_cases():
    relu_slide, *_ = build_cases(get_exercise(6))
    assert relu_slide.expected.tolist() == [[266, 0, 0], [116, 0, 295], [0, 256, 0]]
    sm = next(c for c in build_cases(get_exercise(6)) if c.function == "softmax")
    assert np.allclose(sm.expected[0], [0.0900306, 0.2447285, 0.6652410])
    flat = build_cases(get_exercise(7))[0]
    assert flat.expected[0, :6].tolist() == [0, 1, 10, 11, 20, 21]
    big = build_cases(get_exercise(7))[1]
    assert big.expected.shape == (1, 43_264)


def test_diagnose_has_nothing_to_say_about_a_right_answer_and_survives_odd_ones():
    for grader, number in ((activations, 6), (dense, 7)):
        for c in build_cases(get_exercise(number)):
            assert grader.diagnose(c, c.expected) is None
            d = grader.diagnose(c, np.zeros((1,)))
            assert d is None or isinstance(d, Diagnosis)
    assert all(activations.explain_not_finite(c, c.expected) is None for c in build_cases(get_exercise(6)))


def test_explain_not_finite_only_blames_softmax_for_large_logits():
    z = np.array([[1.0, 2.0], [3.0, 4.0]])
    case = Case("moderate", "softmax", (z,), convlab.softmax(z))
    assert activations.explain_not_finite(case, np.array([[np.nan, 1.0], [0.5, 0.5]])) is None
    relu_case = Case("r", "relu", (z,), convlab.relu(z))
    assert activations.explain_not_finite(relu_case, np.full((2, 2), np.nan)) is None


def test_hints_give_no_code():
    for grader in (activations, dense):
        assert 2 <= len(grader.HINTS) <= 3
        for hint in grader.HINTS:
            assert "np." not in hint and "return" not in hint and "def " not in hint


def test_softmax_over_the_whole_array_is_a_wrong_axis(tmp_path):
    whole = """
def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()
"""
    r = _write(tmp_path, 6, RELU_OK, whole)
    failed = [c for c in r.cases if not c.passed]
    assert {c.diagnosis.code for c in failed} <= {"wrong_axis", "global_max"}
    assert any("whole array" in c.diagnosis.message for c in failed if c.diagnosis.code == "wrong_axis")


# ------------------------------------------------------------------------- shifts and float32
# Subtracting the row's minimum or mean is as right as the maximum on paper, and on rows of close numbers.
SOFTMAX_SHIFTED = {
    "minimum": """
def softmax(z):
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        e = np.exp(row - min(row))
        out[idx] = e / e.sum()
    return out
""",
    "mean": """
def softmax(z):
    e = np.exp(z - z.mean(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
""",
}

# Right, but computed in float32 (the learner converts z first).
SOFTMAX_FLOAT32 = """
def softmax(z):
    z = z.astype(np.float32)
    out = np.zeros_like(z)
    for idx in np.ndindex(z.shape[:-1]):
        row = z[idx]
        e = np.exp(row - max(row))
        out[idx] = e / e.sum()
    return out
"""


@pytest.mark.parametrize("word", sorted(SOFTMAX_SHIFTED))
def test_softmax_shifted_by_the_row_min_or_mean_fails_on_wide_rows(tmp_path, word):
    r = _write(tmp_path, 6, RELU_OK, SOFTMAX_SHIFTED[word])
    failed = [c for c in r.cases if not c.passed]
    assert [c.case.name.split(":")[0] for c in failed] == ["wide rows"], [c.case.name for c in failed]
    d = failed[0].diagnosis
    assert d.code == "unstable_softmax"
    assert f"each row's {word}" in d.message and "MAXIMUM" in d.message
    assert "e^2000" in d.message if word == "minimum" else "e^1000" in d.message


def test_wide_rows_expect_the_last_class():
    wide = next(c for c in build_cases(get_exercise(6)) if c.name.startswith("wide rows"))
    z = wide.args[0]
    # e^(max − min) and e^(max − mean) overflow float64 (beyond e^709.78) in every row.
    assert (z.max(axis=-1) - z.min(axis=-1)).min() > 709.78 and (z.max(axis=-1) - z.mean(axis=-1)).min() > 709.78
    assert np.array_equal(wide.expected, [[0, 0, 1], [0, 0, 1]])


def test_softmax_without_exp_divides_by_a_zero_row_sum(tmp_path):
    r = _write(tmp_path, 6, RELU_OK, SOFTMAX_WRONG["missing_exp"])
    wide = next(c for c in r.cases if c.case.name.startswith("wide rows"))
    assert wide.diagnosis.code == "missing_exp" and "sums to 0" in wide.diagnosis.message


def test_correct_float32_softmax_passes(tmp_path):
    r = _write(tmp_path, 6, RELU_OK, SOFTMAX_FLOAT32)
    assert r.passed, [(c.case.name, c.diagnosis) for c in r.cases if not c.passed]
    for c in build_cases(get_exercise(6)):  # the inputs lose nothing in float32
        if c.function == "softmax":
            assert np.array_equal(c.args[0].astype(np.float32), c.args[0])


def _learner_function(source: str, name: str):
    namespace = {"np": np}
    exec(textwrap.dedent(source), namespace)  # the test's own learner solution, run in-process
    return namespace[name]


def test_float32_rounding_of_the_inputs_is_named_not_shown_as_a_wrong_number():
    # Logits near ±800 that float32 cannot hold: converting them moves z by up to 3e-5.
    z = np.random.default_rng(0).standard_normal((2, 6)) * 3 + [[800.0], [-800.0]]
    case = Case("near ±800", "softmax", (z,), convlab.softmax(z))
    got = _learner_function(SOFTMAX_FLOAT32, "softmax")(z)
    assert got.dtype == np.float32
    d = activations.diagnose(case, got)
    assert d.code == "float32_precision"
    assert "float32" in d.message and "float64" in d.message and "right" in d.message
    shown = d.message.split(":")[0]  # "out[0, 5] is 0.219336 but should be 0.219338"
    got_text, expected_text = shown.split(" is ")[1].split(" but should be ")
    assert got_text != expected_text


def test_a_float32_mistake_is_still_named():
    z = np.random.default_rng(1).standard_normal((3, 4)) * 3 + 800.0
    case = Case("near 800", "softmax", (z,), convlab.softmax(z))
    no_sum = "def softmax(z):\n    z = np.float32(z)\n    return np.exp(z - z.max(axis=-1, keepdims=True))\n"
    assert activations.diagnose(case, _learner_function(no_sum, "softmax")(z)).code == "not_normalised"


def test_first_wrong_shows_enough_digits_to_differ():
    z = np.array([[0.3, 0.1, -0.2]])
    case = Case("close", "softmax", (z,), convlab.softmax(z))
    got = case.expected.copy()
    got[0, 1] += 3e-6
    d = activations.diagnose(case, got)
    assert d.code == "first_wrong"
    got_text, expected_text = d.message.split(" (the first")[0].split(" is ")[1].split(" but should be ")
    assert got_text != expected_text


def test_unstable_float32_softmax_speaks_of_float32(tmp_path):
    naive32 = (
        "def softmax(z):\n    z = np.float32(z)\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n"
    )
    r = _write(tmp_path, 6, RELU_OK, naive32)
    failed = [c for c in r.cases if not c.passed]
    assert failed and {c.diagnosis.code for c in failed} == {"unstable_softmax"}
    assert all("largest float32" in c.diagnosis.message for c in failed)
