"""Exercises 1–3 (output size, correlate2d, zero padding): the graders' cases, their diagnoses, the shared texts.

Each learner solution below is written as a student writes it (loops and NumPy, never convlab).
The correct one must pass; each wrong one must get the diagnosis of its mistake — checked twice:
in-process (the grader's ``cases``/``diagnose`` called directly, fast) and end to end through
``grade_exercise`` (the learner's file run in a subprocess, as ``convlab check N`` does).
"""

from __future__ import annotations

import copy
import textwrap

import numpy as np
import pytest

from convlab.exercises import slides
from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import close
from convlab.exercises.diagnosis import (
    conv_window_text,
    number_text,
    product_sum_text,
    shape_mismatch,
    size_formula_text,
    wrong_element,
)
from convlab.exercises.graders import correlate2d as g02
from convlab.exercises.graders import output_size as g01
from convlab.exercises.graders import zero_pad as g03
from convlab.shapes import conv_output_size
from convlab.teach.exercise_catalogue import get_exercise

GRADERS = {1: g01, 2: g02, 3: g03}


def _plain(text: str) -> str:
    """A formula with its NO-BREAK SPACEs (kept together when the report wraps) as plain spaces."""
    return text.replace("\u00a0", " ")


# ------------------------------------------------------------------------------------------ learner solutions
EX01_CORRECT = """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return (n + stride - 1) // stride
    if padding == "valid":
        padding = 0
    return (n + 2 * padding - kernel_size) // stride + 1
"""

EX01_WRONG = {
    # True division: 3.5 where Keras floors to 3 (and 3.0, a float, where it divides exactly).
    "no_floor": """
import math
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return math.ceil(n / stride)
    if padding == "valid":
        padding = 0
    return (n + 2 * padding - kernel_size) / stride + 1
""",
    # Rounded up instead of down.
    "no_floor:ceil": """
import math
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return math.ceil(n / stride)
    if padding == "valid":
        padding = 0
    return math.ceil((n + 2 * padding - kernel_size) / stride) + 1
""",
    "forgot_plus_one": """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return (n + stride - 1) // stride
    if padding == "valid":
        padding = 0
    return (n + 2 * padding - kernel_size) // stride
""",
    "padding_one_side": """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return (n + stride - 1) // stride
    if padding == "valid":
        padding = 0
    return (n + padding - kernel_size) // stride + 1
""",
    "padding_ignored": """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return (n + stride - 1) // stride
    return (n - kernel_size) // stride + 1
""",
    "stride_ignored": """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return n
    if padding == "valid":
        padding = 0
    return (n + 2 * padding - kernel_size) // stride + 1
""",
    "stride_ignored:int": """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return (n + stride - 1) // stride
    if padding == "valid":
        padding = 0
    return n + 2 * padding - kernel_size + 1
""",
    "same_not_ceil": """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        return n // stride
    if padding == "valid":
        padding = 0
    return (n + 2 * padding - kernel_size) // stride + 1
""",
    "same_padding_formula": """
def output_size(n, kernel_size, padding, stride):
    if padding == "same":
        padding = (kernel_size - 1) // 2
    elif padding == "valid":
        padding = 0
    return (n + 2 * padding - kernel_size) // stride + 1
""",
    # "valid" taken for "same" (both strings go down the same branch).
    "valid_mishandled": """
def output_size(n, kernel_size, padding, stride):
    if isinstance(padding, str):
        return (n + stride - 1) // stride
    return (n + 2 * padding - kernel_size) // stride + 1
""",
}

EX02_CORRECT = """
import numpy as np

def correlate2d(image, kernel):
    H, W = image.shape
    KH, KW = kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            total = 0.0
            for u in range(KH):
                for v in range(KW):
                    total += image[i + u, j + v] * kernel[u, v]
            out[i, j] = total
    return out
"""


def _ex02(
    body: str, shape: str = "(H - KH + 1, W - KW + 1)", rows: str = "H - KH + 1", cols: str = "W - KW + 1"
) -> str:
    """A loop solution of exercise 2 whose innermost line is ``body``."""
    return f"""
import numpy as np

def correlate2d(image, kernel):
    H, W = image.shape
    KH, KW = kernel.shape
    out = np.zeros({shape})
    for i in range({rows}):
        for j in range({cols}):
            total = 0.0
            for u in range(KH):
                for v in range(KW):
                    {body}
            out[i, j] = total
    return out
"""


EX02_WRONG = {
    # Convolution as the slides define it (kernel flipped).
    "flipped_kernel": _ex02("total += image[i + u, j + v] * kernel[KH - 1 - u, KW - 1 - v]"),
    # The window centred on (i, j): offsets −1 … +1, negative indices wrap around.
    "shifted": _ex02("total += image[i + u - 1, j + v - 1] * kernel[u, v]"),
    # range(H − KH) with the output allocated at the right size: last row and column stay 0.
    "loop_stops_early": _ex02("total += image[i + u, j + v] * kernel[u, v]", rows="H - KH", cols="W - KW"),
    # … and with the output allocated one smaller too.
    "loop_stops_early:small": _ex02(
        "total += image[i + u, j + v] * kernel[u, v]", shape="(H - KH, W - KW)", rows="H - KH", cols="W - KW"
    ),
    # The output made as big as the image.
    "wrong_shape": _ex02("total += image[i + u, j + v] * kernel[u, v]", shape="(H, W)"),
    # The window never moves right: the column offset j is missing.
    "first_wrong": _ex02("total += image[i + u, v] * kernel[u, v]"),
    "kernel_transposed": _ex02("total += image[i + u, j + v] * kernel[v, u]"),
    # The running sum set to zero once, before all the loops.
    "sum_not_reset": """
import numpy as np

def correlate2d(image, kernel):
    H, W = image.shape
    KH, KW = kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    total = 0.0
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            total += np.sum(image[i:i + KH, j:j + KW] * kernel)
            out[i, j] = total
    return out
""",
}

EX03_CORRECT = """
import numpy as np

def zero_pad(x, padding):
    N, H, W, C = x.shape
    out = np.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype=x.dtype)
    for n in range(N):
        for i in range(H):
            for j in range(W):
                out[n, i + padding, j + padding, :] = x[n, i, j, :]
    return out
"""

EX03_WRONG = {
    # P added once: the output is one P too small and x sits at the bottom right.
    "padding_one_side": """
import numpy as np

def zero_pad(x, padding):
    N, H, W, C = x.shape
    out = np.zeros((N, H + padding, W + padding, C), dtype=x.dtype)
    out[:, padding:, padding:, :] = x
    return out
""",
    # The right shape, but x copied into the top-left corner.
    "padding_one_side:corner": """
import numpy as np

def zero_pad(x, padding):
    N, H, W, C = x.shape
    out = np.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype=x.dtype)
    out[:, :H, :W, :] = x
    return out
""",
    # np.pad with one number pads every axis, the batch and the channels too.
    "padded_every_axis": """
import numpy as np

def zero_pad(x, padding):
    return np.pad(x, padding)
""",
    # Padding that repeats the edge pixels instead of zeros.
    "nonzero_padding": """
import numpy as np

def zero_pad(x, padding):
    return np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode="edge")
""",
    # A border of ones.
    "nonzero_padding:ones": """
import numpy as np

def zero_pad(x, padding):
    N, H, W, C = x.shape
    out = np.ones((N, H + 2 * padding, W + 2 * padding, C), dtype=x.dtype)
    out[:, padding:padding + H, padding:padding + W, :] = x
    return out
""",
    # Only the first image, without its batch axis.
    "wrong_shape": """
import numpy as np

def zero_pad(x, padding):
    img = x[0]
    H, W, C = img.shape
    out = np.zeros((H + 2 * padding, W + 2 * padding, C), dtype=x.dtype)
    out[padding:padding + H, padding:padding + W, :] = img
    return out
""",
    "padding_one_axis": """
import numpy as np

def zero_pad(x, padding):
    N, H, W, C = x.shape
    out = np.zeros((N, H + 2 * padding, W, C), dtype=x.dtype)
    out[:, padding:padding + H, :, :] = x
    return out
""",
    "padding_ignored": """
import numpy as np

def zero_pad(x, padding):
    return x.copy()
""",
    # Off by one: x placed one row and column too early.
    "shifted": """
import numpy as np

def zero_pad(x, padding):
    N, H, W, C = x.shape
    out = np.zeros((N, H + 2 * padding, W + 2 * padding, C), dtype=x.dtype)
    start = max(padding - 1, 0)
    out[:, start:start + H, start:start + W, :] = x
    return out
""",
}

SOLUTIONS = {1: (EX01_CORRECT, EX01_WRONG), 2: (EX02_CORRECT, EX02_WRONG), 3: (EX03_CORRECT, EX03_WRONG)}
WRONG = [(n, name) for n, (_, wrongs) in SOLUTIONS.items() for name in wrongs]


def _code(name: str) -> str:
    """The diagnosis code a wrong solution stands for: its name up to a ``:`` (``no_floor:ceil`` → ``no_floor``)."""
    return name.split(":")[0]


# ------------------------------------------------------------------------------------------ in-process grading
def _load(source: str, number: int):
    namespace: dict = {}
    exec(compile(textwrap.dedent(source), f"ex{number:02d}_learner.py", "exec"), namespace)
    return namespace[get_exercise(number).function_names[0]]


def _right(case: Case, got) -> bool:
    if isinstance(case.expected, int):
        return type(got) is int and got == case.expected
    got = np.asarray(got)
    return got.shape == case.expected.shape and close(got, case.expected, case.tolerance)


def _grade_in_process(number: int, source: str) -> list[tuple[Case, Diagnosis | None, str | None]]:
    """``(case, diagnosis, exception)`` for every case the solution fails (the framework's job, simplified)."""
    fn = _load(source, number)
    grader = GRADERS[number]
    failures = []
    for case in grader.cases(np.random.default_rng(1000 + number)):
        try:
            got = fn(*copy.deepcopy(case.args))
        except Exception as exc:  # a wrong solution may fail on some shapes; the framework reports it
            failures.append((case, None, type(exc).__name__))
            continue
        if not _right(case, got):
            failures.append((case, grader.diagnose(case, got), None))
    return failures


@pytest.mark.parametrize("number", [1, 2, 3])
def test_correct_solution_passes_in_process(number):
    assert _grade_in_process(number, SOLUTIONS[number][0]) == []


@pytest.mark.parametrize(("number", "name"), WRONG)
def test_wrong_solution_diagnosed_in_process(number, name):
    failures = _grade_in_process(number, SOLUTIONS[number][1][name])
    codes = [d.code for _, d, _ in failures if d is not None]
    assert _code(name) in codes, [(c.name, d and d.code, d and d.message, e) for c, d, e in failures]
    for _, d, _ in failures:
        if d is not None:
            assert d.message.strip() and "Traceback" not in d.message


# ------------------------------------------------------------------------------------------ cases
@pytest.mark.parametrize("number", [1, 2, 3])
def test_cases_are_deterministic_small_and_slides_first(number):
    grader = GRADERS[number]
    a = grader.cases(np.random.default_rng(5))
    b = grader.cases(np.random.default_rng(5))
    assert [c.name for c in a] == [c.name for c in b]
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x.expected), np.asarray(y.expected))
    slides = [c.slide for c in a]
    assert slides[0] and slides == sorted(slides, reverse=True), "slide cases come first"
    assert 6 <= len(a) <= 14
    fn = get_exercise(number).function_names[0]
    assert all(c.function == fn for c in a)
    for c in a:
        for arg in c.args:
            if isinstance(arg, np.ndarray):
                assert arg.size <= 200 and max(arg.shape) <= 10
    assert 2 <= len(grader.HINTS) <= 3


def test_ex01_cases_match_the_reference_and_cover_the_forms():
    cs = g01.cases(np.random.default_rng(1001))
    assert [(c.args, c.expected) for c in cs[:2]] == [((5, 3, 1, 2), 3), ((28, 3, 0, 1), 26)]
    for c in cs:
        assert type(c.expected) is int and c.expected == conv_output_size(*c.args)
        assert c.output_names == ("T",)
    paddings = [c.args[2] for c in cs]
    assert "valid" in paddings and "same" in paddings
    floors = [c for c in cs if isinstance(c.args[2], int) and (c.args[0] + 2 * c.args[2] - c.args[1]) % c.args[3]]
    assert floors, "a case where the floor matters"
    assert any(c.args[2] == "same" and c.args[3] > 1 and c.args[0] % c.args[3] for c in cs), "same: ceil ≠ floor"
    assert any(c.args[2] == "same" and c.args[1] % 2 == 0 for c in cs), "same with an even kernel"


def test_ex02_slide_case_is_the_sharpen_example():
    case = g02.cases(np.random.default_rng(1002))[0]
    assert case.slide
    np.testing.assert_array_equal(case.expected, [[266, -61, -30], [116, -47, 295], [-135, 256, -128]])
    shapes = [(c.args[0].shape, c.args[1].shape) for c in g02.cases(np.random.default_rng(1002))]
    assert any(h != w and kh != kw for (h, w), (kh, kw) in shapes)


def test_ex03_cases_pad_only_rows_and_columns_and_keep_the_dtype():
    cs = g03.cases(np.random.default_rng(1003))
    assert cs[0].slide and cs[0].expected.shape == (1, 7, 7, 1)
    assert cs[0].expected[0, 1, 1:6, 0].tolist() == [60, 113, 56, 139, 85]
    assert cs[1].expected.shape == (1, 7, 7, 3)
    dtypes = set()
    for c in cs:
        x, p = c.args
        n, h, w, ch = x.shape
        assert c.expected.shape == (n, h + 2 * p, w + 2 * p, ch) and c.expected.dtype == x.dtype
        np.testing.assert_array_equal(c.expected[:, p : p + h, p : p + w, :], x)
        assert np.isclose(c.expected.sum(), x.sum())
        dtypes.add(x.dtype)
    assert {np.dtype(np.float32), np.dtype(np.int64)} <= dtypes
    assert any(c.args[1] == 0 for c in cs) and any(c.args[1] >= 2 for c in cs)


# ------------------------------------------------------------------------------------------ diagnoses' words
def test_ex02_first_wrong_shows_the_window_and_the_slide_product_sum():
    failures = _grade_in_process(2, EX02_WRONG["first_wrong"])
    case, d, _ = failures[0]
    assert case.slide and d.code == "first_wrong"
    assert "out[0, 1]" in d.message and "−61" in d.message
    # Too long for one report line: broken at a " + ", the continuation indented under the sum.
    assert "    113·0 + 56·(−1) + 139·0 + 121·(−1) + 54·5 + 84·(−1) + 99·0 + 70·(−1)\n      + 129·0 = −61" in d.message
    assert max(len(line) for line in d.message.splitlines()[1:]) <= 79 - 6
    assert "113  56 139" in d.message  # the window as a small matrix
    assert "rows 0–2 and columns 1–3" in d.message


def test_ex01_messages_give_the_formula_with_the_numbers():
    case = g01.cases(np.random.default_rng(0))[0]  # N=5, K=3, P=1, S=2
    d = g01.diagnose(case, 2)
    assert d.code == "forgot_plus_one" and "T = (5 + 2·1 − 3)/2 + 1 = 3" in _plain(d.message)
    d = g01.diagnose(case, 3.0)
    assert d.code == "no_floor" and "3.0" in d.message and "//" in d.message
    d = g01.diagnose(case, np.int64(3))
    assert d.code == "wrong_type"
    floor_case = g01._case(6, 3, 0, 2)
    d = g01.diagnose(floor_case, 2.5)
    assert d.code == "no_floor" and "⌊(6 + 2·0 − 3)/2⌋ + 1 = ⌊3/2⌋ + 1 = 2" in _plain(d.message)
    d = g01.diagnose(floor_case, 17)
    assert d.code == "wrong_value" and "expected 2" in d.message
    same = g01._case(7, 3, "same", 2)
    d = g01.diagnose(same, 7)
    assert d.code == "stride_ignored" and "⌈7/2⌉ = 4" in d.message
    assert g01.diagnose(case, "three") is None


def test_ex01_same_right_value_of_the_wrong_type_is_told_to_round_up_not_floor():
    same = g01._case(7, 3, "same", 2)  # ⌈7/2⌉ = 4; np.ceil(7 / 2) is 4.0, a float
    d = g01.diagnose(same, np.float64(4.0))
    assert d.code == "no_floor" and "4.0" in d.message
    assert "//" not in d.message and "floor division" not in d.message
    assert "round N/S up with integer arithmetic" in d.message and "int(...)" in d.message
    d = g01.diagnose(same, np.int64(4))
    assert d.code == "wrong_type" and "int(...)" in d.message and "round N/S up" in d.message
    assert "//" not in d.message


def test_ex02_loop_stops_early_words():
    case = g02.cases(np.random.default_rng(0))[0]  # the slide's 3×3 output
    got = case.expected.copy()
    got[-1, :] = 0
    got[:, -1] = 0
    d = g02.diagnose(case, got)
    assert d.code == "loop_stops_early"
    assert "last row and last column are still zero: your loop stops one step early" in d.message
    assert "should be (3, 3)" not in d.message
    got = case.expected.copy()
    got[:, -1] = 0
    d = g02.diagnose(case, got)
    assert d.code == "loop_stops_early" and "last column is still zero" in d.message
    d = g02.diagnose(case, case.expected[:2, :2])
    assert d.code == "loop_stops_early" and "out has shape (2, 2) and should be (3, 3)" in d.message


def test_ex02_shape_message_names_the_formula():
    case = g02.cases(np.random.default_rng(0))[0]
    d = g02.diagnose(case, np.zeros((5, 5)))
    assert d.code == "wrong_shape"
    assert "(5, 5); expected (3, 3)" in d.message and "T = (5 + 2·0 − 3)/1 + 1 = 3" in _plain(d.message)
    d = g02.diagnose(case, case.expected[None, :, :, None])
    assert d.code == "wrong_shape" and "your numbers are right" in d.message


def test_ex02_flipped_kernel_on_the_horizontal_edge_filter():
    case = next(c for c in g02.cases(np.random.default_rng(0)) if "horizontal" in c.name)
    image, kernel = case.args
    d = g02.diagnose(case, -case.expected)  # flipping this filter negates the result
    assert d.code == "flipped_kernel" and "cross-correlation" in d.message
    assert not np.array_equal(kernel, kernel[::-1, ::-1])


def test_ex03_messages():
    case = g03.cases(np.random.default_rng(0))[2]
    x, p = case.args
    d = g03.diagnose(case, np.pad(x, p))
    assert d.code == "padded_every_axis" and "batch and channel axes" in d.message
    d = g03.diagnose(case, np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=7))
    assert d.code == "nonzero_padding" and "7 everywhere" in d.message
    bad = case.expected.copy()
    bad[1, 0, 0, 1] = 3.0
    d = g03.diagnose(case, bad)
    assert d.code == "first_wrong" and "out[1, 0, 0, 1]" in d.message and "should be 0" in d.message
    bad = case.expected.copy()
    bad[0, p + 1, p + 2, 0] += 1.0
    d = g03.diagnose(case, bad)
    assert d.code == "first_wrong" and f"out[0, {p + 1}, {p + 2}, 0]" in d.message and "x[0, 1, 2, 0]" in d.message


# ------------------------------------------------------------------------------------------ shared helpers
def test_size_formula_text():
    assert _plain(size_formula_text(5, 3, 1, 2)) == "T = (5 + 2·1 − 3)/2 + 1 = 3"
    assert _plain(size_formula_text(28, 3, 0, 1, "U")) == "U = (28 + 2·0 − 3)/1 + 1 = 26"
    assert _plain(size_formula_text(6, 3, 0, 2)) == "T = ⌊(6 + 2·0 − 3)/2⌋ + 1 = ⌊3/2⌋ + 1 = 2"
    assert _plain(size_formula_text(6, 4, (1, 2), 1)) == "T = (6 + 1 + 2 − 4)/1 + 1 = 6"


def test_size_formula_text_is_not_broken_inside_an_expression_when_wrapped():
    # The report wraps long lines with textwrap at 79 columns: only after an "=" may a formula break.
    assert size_formula_text(5, 3, 1, 2) == "T\u00a0= (5\u00a0+\u00a02·1\u00a0−\u00a03)/2\u00a0+\u00a01\u00a0=\u00a03"
    floor = size_formula_text(6, 3, 0, 2)
    assert floor.count(" ") == 3  # after "T =" and around the floor's "=" (a line may end or start with it)
    line = "out has shape (1, 4, 4, 2); expected (1, 3, 3, 2): " + floor + " rows and " + floor + " columns"
    for width in range(30, 80):
        pieces = textwrap.wrap(line, width)
        for piece in pieces:
            for expression in (
                "⌊(6\u00a0+\u00a02·0\u00a0−\u00a03)/2⌋\u00a0+\u00a01",
                "⌊3/2⌋\u00a0+\u00a01\u00a0=\u00a02",
            ):
                if expression[:4] in piece:
                    assert expression in piece, (width, pieces)


def test_product_sum_text_breaks_a_long_sum_at_its_plus_signs():
    rng = np.random.default_rng(3)
    window, weights = rng.standard_normal(20), rng.standard_normal(20)
    one = product_sum_text(window[:2], weights[:2])
    assert "\n" not in one
    text = product_sum_text(window, weights, width=50, indent="    ")
    lines = text.splitlines()
    assert len(lines) > 2 and not lines[0].startswith(" ")
    assert all(line.startswith("    " + "  + ") for line in lines[1:-1])
    assert lines[-1].startswith("    ") and " = " in lines[-1]
    assert all(len(line) <= 50 + 4 for line in lines)
    # The same sum once the breaks are joined again.
    joined = " ".join(line.strip() for line in lines)
    assert joined == product_sum_text(window, weights, width=10_000)


def test_conv_window_text_keeps_report_lines_short():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((7, 7, 3))
    kernel = rng.standard_normal((3, 3, 3, 2))
    text = conv_window_text(x, kernel, rng.standard_normal(2), 1, 1, 1, 2, show_window=True)
    indented = [line for line in text.splitlines() if line.startswith(" ")]
    assert max(len(line) for line in indented) <= 79 - 6  # the report prints them after a 6-space indent
    assert any(line.lstrip().startswith("+ ") for line in indented)  # a channel's sum did need breaking


def test_product_sum_text_as_the_slides_write_it():
    text = product_sum_text(slides.IMAGE[:3, :3], slides.SHARPEN, width=100)
    assert text == "60·0 + 113·(−1) + 56·0 + 73·(−1) + 121·5 + 54·(−1) + 131·0 + 99·(−1) + 70·0 = 266"
    # 82 characters: too long for a report line at the default width, so broken at a " + ".
    assert product_sum_text(slides.IMAGE[:3, :3], slides.SHARPEN) == (
        "60·0 + 113·(−1) + 56·0 + 73·(−1) + 121·5 + 54·(−1) + 131·0 + 99·(−1)\n  + 70·0 = 266"
    )
    assert product_sum_text([[-1.5, 2]], [[2, 0.25]]) == "(−1.5)·2 + 2·0.25 = −2.5"
    assert number_text(-61) == "−61" and number_text(-61, in_sum=True) == "(−61)"
    with pytest.raises(ValueError):
        product_sum_text([1, 2], [1])


def test_conv_window_text_multi_channel_with_bias():
    # The slides' 5×5×3 example, padded by 1, stride 2: o[0, 0, 0] = 2 (reference-numbers.md).
    x = np.pad(slides.THREE_CHANNEL_INPUT, ((1, 1), (1, 1), (0, 0)))
    w0 = np.stack(
        [[[-1, 0, 1], [0, 0, 1], [1, -1, 1]], [[-1, 0, 1], [1, -1, 1], [0, 1, 0]], [[-1, 1, 1], [1, 1, 0], [0, -1, 0]]],
        axis=-1,
    )
    kernel = np.stack([w0, np.zeros_like(w0)], axis=-1)
    text = conv_window_text(x, kernel, np.array([1.0, 0.0]), 0, 0, 0, 2)
    lines = text.splitlines()
    assert "rows 0–2 and columns 0–2" in lines[0] and "padded" in lines[0]
    sums = [ln.strip().split(":")[0] for ln in lines[1:] if ln.strip().startswith("channel")]
    assert sums == ["channel 0", "channel 1", "channel 2"]
    assert all(len(ln) <= 79 - 6 for ln in lines[1:])
    assert lines[-1].strip().endswith("+ bias 1 = 2")
    text = conv_window_text(x, kernel, np.array([1.0, 0.0]), 1, 2, 0, 2)
    assert "rows 2–4 and columns 4–6" in text and "stride 2" in text


def test_shape_mismatch_and_wrong_element():
    d = shape_mismatch("out", (1, 4, 4, 2), (1, 3, 3, 2), "T = (5 + 2·1 − 3)/2 + 1 = 3 rows")
    assert d == Diagnosis(
        "wrong_shape", "out has shape (1, 4, 4, 2); expected (1, 3, 3, 2): T = (5 + 2·1 − 3)/2 + 1 = 3 rows"
    )
    d = wrong_element("out", (0, 1), 12, -61, "detail")
    assert (
        d.code == "first_wrong"
        and d.message.startswith("out[0, 1] is 12 but should be −61")
        and d.message.endswith("\ndetail")
    )


# ------------------------------------------------------------------------------------------ end to end
def _grade_file(tmp_path, number: int, source: str):
    from convlab.exercises.grade import grade_exercise

    ex = get_exercise(number)
    (tmp_path / ex.file_name).write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    return grade_exercise(number, tmp_path)


@pytest.mark.parametrize("number", [1, 2, 3])
def test_correct_solution_passes_end_to_end(tmp_path, number):
    result = _grade_file(tmp_path, number, SOLUTIONS[number][0])
    assert result.passed, [(c.case.name, c.diagnosis) for c in result.cases if not c.passed]


def test_ex03_float_answer_for_integer_and_float32_input_passes(tmp_path):
    # The stub allows "x's dtype or a float array": np.zeros without a dtype has the right numbers.
    source = EX03_CORRECT.replace(", dtype=x.dtype)", ")")
    assert source != EX03_CORRECT
    assert _grade_in_process(3, source) == []
    result = _grade_file(tmp_path, 3, source)
    assert result.passed, [(c.case.name, c.diagnosis) for c in result.cases if not c.passed]


@pytest.mark.parametrize(("number", "name"), WRONG)
def test_wrong_solution_diagnosed_end_to_end(tmp_path, number, name):
    result = _grade_file(tmp_path, number, SOLUTIONS[number][1][name])
    assert not result.passed
    assert _code(name) in result.codes(), [(c.case.name, c.diagnosis) for c in result.cases if not c.passed]


def test_ex02_slide_failure_end_to_end_names_minus_61(tmp_path):
    result = _grade_file(tmp_path, 2, EX02_WRONG["first_wrong"])
    first = result.cases[0]
    assert first.case.slide and not first.passed and first.diagnosis.code == "first_wrong"
    assert "113·0 + 56·(−1)" in first.diagnosis.message and "= −61" in first.diagnosis.message
