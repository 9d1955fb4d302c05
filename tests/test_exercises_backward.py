"""Exercises 8 (convolution backward) and 9 (max-pool backward): graders, diagnoses, end to end.

Each learner solution below is written as a student writes it (loops + numpy, never convlab), saved as
``exNN_<slug>.py`` in a temporary folder and graded by ``grade_exercise`` in a subprocess, exactly as
``convlab check N`` does. A correct solution must pass every case; each typical mistake must fail with
its diagnosis code named.
"""

from __future__ import annotations

import numpy as np
import pytest

from convlab.exercises.case import Diagnosis
from convlab.exercises.grade import build_cases, grade_exercise
from convlab.exercises.graders import conv_backward, max_pool_backward
from convlab.teach.exercise_catalogue import get_exercise


def variant(source: str, old: str, new: str) -> str:
    """``source`` with one mistake put in (the text to replace must be there)."""
    assert old in source, old
    return source.replace(old, new)


def grade(tmp_path, number: int, source: str):
    ex = get_exercise(number)
    (tmp_path / ex.file_name).write_text(source)
    return grade_exercise(number, tmp_path)


def diagnoses(result) -> list[Diagnosis]:
    return [c.diagnosis for c in result.cases if not c.passed]


# ============================================================================ exercise 8: convolution backward

# Scatter style: each output sends dy back to its window (lesson 07's input_gradient_by_hand, generalised).
CONV_SCATTER = """\
import numpy as np


def conv2d_backward(dy, x, kernel, stride, padding):
    N, H, W, C = x.shape
    KH, KW, _, F = kernel.shape
    _, OH, OW, _ = dy.shape
    S, P = stride, padding
    xp = np.pad(x, ((0, 0), (P, P), (P, P), (0, 0)))
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(kernel)
    db = np.zeros(F)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                r, c = i * S, j * S
                for f in range(F):
                    g = dy[n, i, j, f]
                    dk[:, :, :, f] += xp[n, r:r + KH, c:c + KW, :] * g
                    dxp[n, r:r + KH, c:c + KW, :] += kernel[:, :, :, f] * g
                    db[f] += g
    dx = dxp[:, P:P + H, P:P + W, :]
    return dx, dk, db
"""

# Convolution style (lesson 07): spread dy out with S − 1 zeros, correlate the padded input with it for dkernel,
# and run a full convolution of it with the flipped kernel for dx.
CONV_FULL = """\
import numpy as np


def conv2d_backward(dy, x, kernel, stride, padding):
    N, H, W, C = x.shape
    KH, KW, _, F = kernel.shape
    _, OH, OW, _ = dy.shape
    S, P = stride, padding
    xp = np.pad(x, ((0, 0), (P, P), (P, P), (0, 0)))
    dil = np.zeros((N, (OH - 1) * S + 1, (OW - 1) * S + 1, F))
    dil[:, ::S, ::S, :] = dy
    DH, DW = dil.shape[1], dil.shape[2]
    db = dy.sum(axis=(0, 1, 2))
    dk = np.zeros(kernel.shape)
    for a in range(KH):
        for b in range(KW):
            patch = xp[:, a:a + DH, b:b + DW, :]
            dk[a, b] = np.einsum("nhwc,nhwf->cf", patch, dil)
    full = np.pad(dil, ((0, 0), (KH - 1, KH - 1), (KW - 1, KW - 1), (0, 0)))
    flipped = kernel[::-1, ::-1]
    dxp = np.zeros(xp.shape)
    for r in range(DH + KH - 1):
        for q in range(DW + KW - 1):
            win = full[:, r:r + KH, q:q + KW, :]
            dxp[:, r, q, :] = np.einsum("nabf,abcf->nc", win, flipped)
    dx = dxp[:, P:P + H, P:P + W, :]
    return dx, dk, db
"""

# Plain scalar loops, the way a first attempt often looks.
CONV_SCALAR = """\
import numpy as np


def conv2d_backward(dy, x, kernel, stride, padding):
    N, H, W, C = x.shape
    KH, KW, _, F = kernel.shape
    OH, OW = dy.shape[1], dy.shape[2]
    xp = np.zeros((N, H + 2 * padding, W + 2 * padding, C))
    xp[:, padding:padding + H, padding:padding + W, :] = x
    dxp = np.zeros(xp.shape)
    dk = np.zeros(kernel.shape)
    db = np.zeros(F)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for f in range(F):
                    db[f] = db[f] + dy[n, i, j, f]
                    for a in range(KH):
                        for b in range(KW):
                            for ch in range(C):
                                row, col = i * stride + a, j * stride + b
                                dk[a, b, ch, f] += dy[n, i, j, f] * xp[n, row, col, ch]
                                dxp[n, row, col, ch] += dy[n, i, j, f] * kernel[a, b, ch, f]
    return dxp[:, padding:padding + H, padding:padding + W, :], dk, db
"""

CONV_WRONG = {
    # name: (source, the code every failing case must show)
    "stride ignored (window at i, j)": (variant(CONV_SCATTER, "r, c = i * S, j * S", "r, c = i, j"), "stride_ignored"),
    "stride ignored (dy not spread out)": (
        variant(CONV_FULL, "dil[:, ::S, ::S, :] = dy", "dil = dy"),
        "stride_ignored",
    ),
    "dkernel turned by 180°": (
        variant(CONV_SCALAR, "dk[a, b, ch, f] +=", "dk[KH - 1 - a, KW - 1 - b, ch, f] +="),
        "dkernel_flipped",
    ),
    "dkernel from a convolution with dy": (
        variant(
            CONV_SCALAR, "dk[a, b, ch, f] += dy[n, i, j, f]", "dk[a, b, ch, f] += dy[n, OH - 1 - i, OW - 1 - j, f]"
        ),
        "dkernel_flipped",
    ),
    "dx with the unflipped kernel": (
        variant(CONV_FULL, "flipped = kernel[::-1, ::-1]", "flipped = kernel"),
        "dx_kernel_not_flipped",
    ),
    "dx not cropped": (variant(CONV_SCATTER, "dx = dxp[:, P:P + H, P:P + W, :]", "dx = dxp"), "dx_not_cropped"),
    "padding cut off the bottom and right only": (
        variant(CONV_SCATTER, "dx = dxp[:, P:P + H, P:P + W, :]", "dx = dxp[:, :H, :W, :]"),
        "padding_ignored",
    ),
    "dbias not summed over the batch": (
        variant(CONV_FULL, "db = dy.sum(axis=(0, 1, 2))", "db = dy.sum(axis=(1, 2))"),
        "dbias_axes",
    ),
    "dbias summed over the filters too": (variant(CONV_SCATTER, "db[f] += g", "db += g"), "dbias_axes"),
    "dx overwritten where windows overlap": (
        variant(CONV_SCATTER, "dxp[n, r:r + KH, c:c + KW, :] += ", "dxp[n, r:r + KH, c:c + KW, :] = "),
        "overlap_overwrites",
    ),
    "dkernel overwritten": (
        variant(CONV_SCATTER, "dk[:, :, :, f] += ", "dk[:, :, :, f] = "),
        "dkernel_overwrites",
    ),
    "dkernel reset for every image": (
        variant(
            CONV_SCATTER, "    for n in range(N):\n", "    for n in range(N):\n        dk = np.zeros_like(kernel)\n"
        ),
        "batch_not_summed",
    ),
    "gradients averaged over the batch": (
        variant(CONV_SCATTER, "return dx, dk, db", "return dx, dk / N, db / N"),
        "scaled",
    ),
    "dx stops where the last window ends": (
        variant(CONV_FULL, "dxp = np.zeros(xp.shape)", "dxp = np.zeros((N, DH + KH - 1, DW + KW - 1, C))"),
        "wrong_shape",
    ),
    "dbias kept as (1, 1, 1, F)": (
        variant(CONV_FULL, "db = dy.sum(axis=(0, 1, 2))", "db = dy.sum(axis=(0, 1, 2), keepdims=True)"),
        "wrong_shape",
    ),
    "dx always from filter 0": (
        variant(CONV_SCATTER, "+= kernel[:, :, :, f] * g", "+= kernel[:, :, :, 0] * g"),
        "first_wrong",
    ),
}


@pytest.mark.parametrize("source", [CONV_SCATTER, CONV_FULL, CONV_SCALAR], ids=["scatter", "full", "scalar"])
def test_ex08_correct_solutions_pass(tmp_path, source):
    result = grade(tmp_path, 8, source)
    assert result.passed, [(c.case.name, c.diagnosis) for c in result.cases if not c.passed]
    assert len(result.cases) >= 8


@pytest.mark.parametrize("name", list(CONV_WRONG))
def test_ex08_mistakes_are_diagnosed(tmp_path, name):
    source, code = CONV_WRONG[name]
    result = grade(tmp_path, 8, source)
    assert not result.passed
    codes = result.codes()
    assert codes and set(codes) == {code}, codes
    for d in diagnoses(result):
        assert "Traceback" not in d.message


@pytest.mark.parametrize("returned", ["dx", "dx, dk, None", "[dx, dk]"])
def test_ex08_wrong_type_is_left_to_the_framework(tmp_path, returned):
    result = grade(tmp_path, 8, variant(CONV_SCATTER, "return dx, dk, db", f"return {returned}"))
    assert set(result.codes()) == {"wrong_type"}, result.codes()


def test_ex08_accumulating_solution_is_caught(tmp_path):
    source = variant(CONV_SCATTER, "    db = np.zeros(F)\n", "    db = DB.setdefault(F, np.zeros(F))\n")
    source = variant(source, "import numpy as np\n", "import numpy as np\n\nDB = {}\n")
    result = grade(tmp_path, 8, source)
    assert result.codes()[0] == "accumulates"


def test_ex08_cases_cover_the_shapes_that_matter():
    cases = build_cases(get_exercise(8))
    assert cases[0].slide and all(c.repeat == 2 and c.output_names == ("dx", "dkernel", "dbias") for c in cases)
    random = [c for c in cases if not c.slide]
    assert 5 <= len(random) <= 8
    strides, pads, leftover, rect = set(), set(), False, False
    for c in cases:
        dy, x, kernel, s, p = c.args
        strides.add(s)
        pads.add(p)
        leftover |= (x.shape[1] + 2 * p - kernel.shape[0]) % s != 0 or (x.shape[2] + 2 * p - kernel.shape[1]) % s != 0
        rect |= x.shape[1] != x.shape[2] and kernel.shape[0] != kernel.shape[1]
        assert x.shape[0] <= 2 and max(x.shape[1:3]) <= 10 and x.shape[3] <= 3
    assert {1, 2, 3} <= strides and {0, 1, 2} <= pads and leftover and rect


def case_named(number: int, start: str):
    return next(c for c in build_cases(get_exercise(number)) if c.name.startswith(start))


def test_ex08_lesson_cases_are_lesson_07s_numbers():
    # the stub's worked example: dy all ones → dbias = [9], dkernel = the 3×3 block sums of the input
    dx, dk, db = case_named(8, "lesson 07: 5×5 ⋆ sharpen, dy all ones").expected
    assert db.tolist() == [9.0]
    assert dk[:, :, 0, 0].tolist() == [[777, 865, 872], [800, 798, 910], [905, 883, 992]]
    assert dx[0, :2, :, 0].tolist() == [[0, -1, -1, -1, 0], [-1, 3, 2, 3, -1]]
    # lesson 07's mixed dy = [[1, 2, 0], [0, −1, 3], [1, 0, −2]]
    case = case_named(8, "lesson 07: 5×5 ⋆ sharpen, a mixed dy")
    dx, dk, db = case.expected
    x, dy = case.args[1][0, :, :, 0], case.args[0][0, :, :, 0]
    assert db.tolist() == [4.0] and dk[0, 0, 0, 0] == pytest.approx(np.sum(x[0:3, 0:3] * dy))


def test_ex08_first_wrong_names_the_formula():
    case = case_named(8, "slides: 5×5×3")  # the slides' 3-channel example, stride 2, padding 1
    dx, dk, db = case.expected
    wrong_dk = dk.copy()
    wrong_dk[1, 2, 0, 1] += 1
    d = conv_backward.diagnose(case, (dx, wrong_dk, db))
    assert d.code == "first_wrong"
    assert "dkernel[1, 2, 0, 1]" in d.message and "x_p[n, i·S + a, j·S + b, c]" in d.message
    assert "S = 2" in d.message and "P = 1" in d.message
    wrong_dx = dx.copy()
    wrong_dx[0, 2, 1, 2] -= 3
    d = conv_backward.diagnose(case, (wrong_dx, dk, db))
    assert d.code == "first_wrong" and "dx[0, 2, 1, 2]" in d.message and "kernel[" in d.message
    wrong_db = db + np.array([0.0, 1.0])
    d = conv_backward.diagnose(case, (dx, dk, wrong_db))
    assert d.code == "first_wrong" and "dbias[1]" in d.message and "total = 9" in d.message


def test_ex08_wrong_shape_explains_uncovered_rows(tmp_path):
    source, _ = CONV_WRONG["dx stops where the last window ends"]
    result = grade(tmp_path, 8, source)
    messages = [d.message for d in diagnoses(result)]
    assert any("no window reaches" in m and "gradient 0" in m for m in messages), messages


def test_ex08_stride_ignored_in_a_too_small_full_convolution(tmp_path):
    source = variant(CONV_FULL, "dil[:, ::S, ::S, :] = dy", "dil = dy")
    source = variant(source, "dxp = np.zeros(xp.shape)", "dxp = np.zeros((N, DH + KH - 1, DW + KW - 1, C))")
    result = grade(tmp_path, 8, source)
    assert set(result.codes()) == {"stride_ignored"}, result.codes()
    messages = [d.message for d in diagnoses(result)]
    assert all("Stride ignored in dx and dkernel" in m and "spread dy out" in m for m in messages), messages


def test_ex08_dkernel_from_the_whole_padded_input_is_a_shape_problem(tmp_path):
    source = variant(
        CONV_FULL, "dk = np.zeros(kernel.shape)", "dk = np.zeros((xp.shape[1] - DH + 1, xp.shape[2] - DW + 1, C, F))"
    )
    source = variant(
        source,
        "    for a in range(KH):\n        for b in range(KW):",
        "    for a in range(dk.shape[0]):\n        for b in range(dk.shape[1]):",
    )
    result = grade(tmp_path, 8, source)
    assert set(result.codes()) == {"wrong_shape"}, result.codes()
    assert all("dkernel has shape" in d.message and "must be left out" in d.message for d in diagnoses(result))


def test_ex08_hints_have_no_code():
    assert 2 <= len(conv_backward.HINTS) <= 3
    for hint in conv_backward.HINTS:
        assert "np." not in hint and "def " not in hint and "range(" not in hint


# ============================================================================ exercise 9: max-pool backward

POOL_ARGMAX = """\
import numpy as np


def max_pool2d_backward(dy, x, pool_size, stride):
    if stride is None:
        stride = pool_size
    K, S = pool_size, stride
    N, H, W, C = x.shape
    _, OH, OW, _ = dy.shape
    dx = np.zeros(x.shape)
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    r, q = i * S, j * S
                    win = x[n, r:r + K, q:q + K, c]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, r + a, q + b, c] += dy[n, i, j, c]
    return dx
"""

# Scalar loops: keep the first maximum by moving only on a strictly larger number.
POOL_SCALAR = """\
import numpy as np


def max_pool2d_backward(dy, x, pool_size, stride):
    if stride is None:
        stride = pool_size
    N, H, W, C = x.shape
    dx = np.zeros_like(x, dtype=float)
    for n in range(N):
        for c in range(C):
            for i in range(dy.shape[1]):
                for j in range(dy.shape[2]):
                    best = -np.inf
                    where = None
                    for a in range(pool_size):
                        for b in range(pool_size):
                            v = x[n, i * stride + a, j * stride + b, c]
                            if v > best:
                                best = v
                                where = (i * stride + a, j * stride + b)
                    dx[n, where[0], where[1], c] += dy[n, i, j, c]
    return dx
"""

_MASK = """\
                    win = x[n, r:r + K, q:q + K, c]
                    a, b = np.unravel_index(np.argmax(win), win.shape)
                    dx[n, r + a, q + b, c] += dy[n, i, j, c]
"""

POOL_WRONG = {
    "every maximum": (
        variant(
            POOL_ARGMAX,
            _MASK,
            "                    win = x[n, r:r + K, q:q + K, c]\n"
            "                    dx[n, r:r + K, q:q + K, c] += (win == win.max()) * dy[n, i, j, c]\n",
        ),
        "every_maximum",
    ),
    "last maximum (>=)": (variant(POOL_SCALAR, "if v > best:", "if v >= best:"), "last_maximum"),
    "split among ties": (
        variant(
            POOL_ARGMAX,
            _MASK,
            "                    win = x[n, r:r + K, q:q + K, c]\n"
            "                    mask = win == win.max()\n"
            "                    dx[n, r:r + K, q:q + K, c] += mask / mask.sum() * dy[n, i, j, c]\n",
        ),
        "split_among_ties",
    ),
    "= instead of += (pixel)": (
        variant(POOL_ARGMAX, "dx[n, r + a, q + b, c] += dy", "dx[n, r + a, q + b, c] = dy"),
        "overlap_overwrites",
    ),
    "= on the whole window": (
        variant(
            POOL_ARGMAX,
            _MASK,
            "                    win = x[n, r:r + K, q:q + K, c]\n"
            "                    a, b = np.unravel_index(np.argmax(win), win.shape)\n"
            "                    g = np.zeros((K, K))\n"
            "                    g[a, b] = dy[n, i, j, c]\n"
            "                    dx[n, r:r + K, q:q + K, c] = g\n",
        ),
        "overlap_overwrites",
    ),
    "dy to the whole window": (
        variant(POOL_ARGMAX, _MASK, "                    dx[n, r:r + K, q:q + K, c] += dy[n, i, j, c]\n"),
        "whole_window",
    ),
    "average pooling's gradient": (
        variant(POOL_ARGMAX, _MASK, "                    dx[n, r:r + K, q:q + K, c] += dy[n, i, j, c] / (K * K)\n"),
        "whole_window",
    ),
    "stride ignored": (variant(POOL_ARGMAX, "r, q = i * S, j * S", "r, q = i, j"), "stride_ignored"),
    "dx only as large as the windows reach": (
        variant(POOL_ARGMAX, "dx = np.zeros(x.shape)", "dx = np.zeros((N, (OH - 1) * S + K, (OW - 1) * S + K, C))"),
        "wrong_shape",
    ),
    "maximum search starts at 0": (
        variant(
            POOL_SCALAR,
            "best = -np.inf\n                    where = None",
            "best = 0\n                    where = (i * stride, j * stride)",
        ),
        "first_wrong",
    ),
}


@pytest.mark.parametrize("source", [POOL_ARGMAX, POOL_SCALAR], ids=["argmax", "scalar"])
def test_ex09_correct_solutions_pass(tmp_path, source):
    result = grade(tmp_path, 9, source)
    assert result.passed, [(c.case.name, c.diagnosis) for c in result.cases if not c.passed]


@pytest.mark.parametrize("name", list(POOL_WRONG))
def test_ex09_mistakes_are_diagnosed(tmp_path, name):
    source, code = POOL_WRONG[name]
    result = grade(tmp_path, 9, source)
    assert not result.passed
    codes = result.codes()
    assert codes and set(codes) == {code}, codes


def test_ex09_no_return_is_left_to_the_framework(tmp_path):
    result = grade(tmp_path, 9, variant(POOL_ARGMAX, "    return dx\n", ""))
    assert set(result.codes()) == {"wrong_type"}, result.codes()
    assert "return statement" in result.cases[0].diagnosis.message


def test_ex09_accumulating_solution_is_caught(tmp_path):
    source = variant(
        POOL_ARGMAX, "    dx = np.zeros(x.shape)\n", "    dx = KEPT.setdefault(x.shape, np.zeros(x.shape))\n"
    )
    source = variant(source, "import numpy as np\n", "import numpy as np\n\nKEPT = {}\n")
    result = grade(tmp_path, 9, source)
    assert result.codes()[0] == "accumulates"


def test_ex09_cases_have_ties_overlaps_and_none_stride():
    cases = build_cases(get_exercise(9))
    assert cases[0].slide and all(c.repeat == 2 for c in cases)
    ties = overlaps = none_stride = negative = 0
    for c in cases:
        dy, x, k, s = c.args
        step = k if s is None else s
        none_stride += s is None
        overlaps += step < k
        negative += bool(np.all(x < 0))
        for n, i, j, ch in np.ndindex(*dy.shape):
            win = x[n, i * step : i * step + k, j * step : j * step + k, ch]
            ties += int(np.sum(win == win.max()) > 1)
    assert ties >= 10 and overlaps >= 3 and none_stride >= 1 and negative >= 1


def test_ex09_lesson_cases_follow_lesson_06():
    cases = build_cases(get_exercise(9))
    # 2×2 windows of [[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]]: maxima 6, 8, 3, 4
    assert cases[0].expected[0, :, :, 0].tolist() == [[0, 0, 0, 0], [0, 1, 0, 2], [3, 0, 0, 0], [0, 0, 0, 4]]
    # 3×3 windows, stride 1: 7 is the maximum of two windows (dy 1 + 3), 8 of the other two (2 + 4)
    assert cases[1].expected[0, 1, 2, 0] == 4 and cases[1].expected[0, 1, 3, 0] == 6


def test_ex09_first_wrong_shows_the_windows():
    case = case_named(9, "ties")
    got = case.expected.copy()
    got[0, 1, 0, 0] = 1  # x[0, 1, 0] = 3 ties with x[0, 0, 0] = 3, which comes first
    d = max_pool_backward.diagnose(case, got)
    assert d.code == "first_wrong"
    assert "dx[0, 1, 0, 0]" in d.message and "first of 2 maxima" in d.message and "(0, 0)" in d.message


def test_ex09_hints_have_no_code():
    assert 2 <= len(max_pool_backward.HINTS) <= 3
    for hint in max_pool_backward.HINTS:
        assert "def " not in hint and "+=" not in hint
