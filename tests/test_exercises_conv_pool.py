"""Exercises 4 (conv2d) and 5 (max pooling): a correct learner solution passes, each typical mistake is named.

The learner solutions are written as a student writes them (loops + NumPy, never convlab). Most tests run
the learner's function in this process on the grader's cases and ask the grader's ``diagnose`` (fast); a few
run the file end to end through ``grade_exercise``, as ``convlab check 4`` does.
"""

from __future__ import annotations

import copy
import inspect
import re
import textwrap

import numpy as np
import pytest

from convlab.exercises import window_mistakes
from convlab.exercises.compare import same_shape_and_close
from convlab.exercises.grade import SEED, grade_exercise
from convlab.exercises.graders import conv2d as conv_grader
from convlab.exercises.graders import max_pool as pool_grader

# ------------------------------------------------------------------------------ learner solutions: exercise 4
CONV_CORRECT = """
import numpy as np


def conv2d(x, kernel, bias, stride, padding):
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    xp = np.zeros((n, h + 2 * padding, w + 2 * padding, c_in))
    xp[:, padding:padding + h, padding:padding + w, :] = x
    t = (h + 2 * padding - kh) // stride + 1
    u = (w + 2 * padding - kw) // stride + 1
    out = np.zeros((n, t, u, c_out))
    for b in range(n):
        for i in range(t):
            for j in range(u):
                window = xp[b, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
                for f in range(c_out):
                    out[b, i, j, f] = np.sum(window * kernel[:, :, :, f]) + bias[f]
    return out
"""

# The same, one multiplication at a time (the way the slides compute 266 by hand).
CONV_SCALAR = """
import numpy as np


def conv2d(x, kernel, bias, stride, padding):
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    t = (h + 2 * padding - kh) // stride + 1
    u = (w + 2 * padding - kw) // stride + 1
    out = np.zeros((n, t, u, c_out))
    for b in range(n):
        for i in range(t):
            for j in range(u):
                for f in range(c_out):
                    total = 0.0
                    for ch in range(c_in):
                        for r in range(kh):
                            for c in range(kw):
                                total += xp[b, i * stride + r, j * stride + c, ch] * kernel[r, c, ch, f]
                    out[b, i, j, f] = total + bias[f]
    return out
"""


def _edit(source: str, *changes: tuple[str, str]) -> str:
    """``source`` with each ``old`` replaced by ``new`` (each must be there: the test would be void otherwise)."""
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    return source


WINDOW = "window = xp[b, i * stride:i * stride + kh, j * stride:j * stride + kw, :]"

CONV_MISTAKES = {
    "flipped_kernel": _edit(CONV_CORRECT, ("kernel[:, :, :, f]", "kernel[::-1, ::-1, :, f]")),
    "kernel_transposed": _edit(CONV_SCALAR, ("kernel[r, c, ch, f]", "kernel[c, r, ch, f]")),
    "bias_missing": _edit(CONV_CORRECT, (" + bias[f]", "")),
    # the bias inside the innermost loop: added KH·KW·C_in times
    "bias_per_pixel": _edit(
        CONV_SCALAR,
        ("* kernel[r, c, ch, f]", "* kernel[r, c, ch, f] + bias[f]"),
        ("out[b, i, j, f] = total + bias[f]", "out[b, i, j, f] = total"),
    ),
    # the window position not multiplied by the stride
    "stride_ignored": _edit(CONV_CORRECT, (WINDOW, "window = xp[b, i:i + kh, j:j + kw, :]")),
    "padding_ignored": _edit(
        CONV_CORRECT,
        ("xp = np.zeros((n, h + 2 * padding, w + 2 * padding, c_in))", "xp = x"),
        ("\n    xp[:, padding:padding + h, padding:padding + w, :] = x", ""),
        ("t = (h + 2 * padding - kh)", "t = (h - kh)"),
        ("u = (w + 2 * padding - kw)", "u = (w - kw)"),
    ),
    "padding_all_axes": _edit(
        CONV_SCALAR, ("np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))", "np.pad(x, padding)")
    ),
    # the image copied into the top-left corner of the zeros: all 2P zeros end up below and to the right
    "padding_one_side": _edit(
        CONV_CORRECT, ("xp[:, padding:padding + h, padding:padding + w, :] = x", "xp[:, :h, :w, :] = x")
    ),
    # the kernel "centred" on the pixel: offsets −1, 0, 1 for a 3×3 kernel
    "shifted": _edit(
        CONV_SCALAR,
        ("xp[b, i * stride + r, j * stride + c, ch]", "xp[b, i * stride + r - kh // 2, j * stride + c - kw // 2, ch]"),
    ),
    "loop_stops_early": _edit(CONV_CORRECT, ("for i in range(t):", "for i in range(t - 1):")),
    # the sum over the channels overwrites instead of adding
    "one_channel_only": _edit(
        CONV_SCALAR,
        (
            "total = 0.0\n                    for ch in range(c_in):",
            "for ch in range(c_in):\n                        total = 0.0",
        ),
    ),
    "batch_ignored": _edit(CONV_CORRECT, ("window = xp[b,", "window = xp[0,")),
    "channels_first": _edit(
        CONV_CORRECT,
        ("out = np.zeros((n, t, u, c_out))", "out = np.zeros((n, c_out, t, u))"),
        ("out[b, i, j, f]", "out[b, f, i, j]"),
    ),
    "rows_columns_swapped": _edit(CONV_CORRECT, ("out[b, i, j, f]", "out[b, j, i, f]")),
    "integer_output": _edit(
        CONV_CORRECT, ("out = np.zeros((n, t, u, c_out))", "out = np.zeros((n, t, u, c_out), dtype=int)")
    ),
    # the columns counted from H instead of W (right on square inputs only)
    "wrong_shape": _edit(CONV_CORRECT, ("u = (w + 2 * padding - kw)", "u = (h + 2 * padding - kw)")),
    # the first filter's bias for every filter
    "first_wrong": _edit(CONV_CORRECT, ("+ bias[f]", "+ bias[0]")),
}

# Variants of the same diagnosis (the message differs, the code is the same).
CONV_VARIANTS = {
    "stride_ignored at stride 1": (
        "stride_ignored",
        _edit(CONV_CORRECT, (WINDOW, "window = xp[b, i:i + kh, j:j + kw, :]"), ("// stride + 1", "+ 1")),
    ),
    "stride only on rows": ("stride_ignored", _edit(CONV_CORRECT, ("j * stride:j * stride + kw", "j:j + kw"))),
    "results stored at the window position": (
        "stride_ignored",
        """
import numpy as np


def conv2d(x, kernel, bias, stride, padding):
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    hp, wp = xp.shape[1], xp.shape[2]
    out = np.zeros((n, hp - kh + 1, wp - kw + 1, c_out))
    for b in range(n):
        for r in range(0, hp - kh + 1, stride):
            for c in range(0, wp - kw + 1, stride):
                for f in range(c_out):
                    out[b, r, c, f] = np.sum(xp[b, r:r + kh, c:c + kw, :] * kernel[:, :, :, f]) + bias[f]
    return out
""",
    ),
    "bias once per channel": (
        "bias_per_pixel",
        _edit(
            CONV_SCALAR,
            ("for ch in range(c_in):\n", "for ch in range(c_in):\n                        total += bias[f]\n"),
            ("out[b, i, j, f] = total + bias[f]", "out[b, i, j, f] = total"),
        ),
    ),
    "padded but the size without 2P": (
        "padding_ignored",
        _edit(
            CONV_CORRECT, ("t = (h + 2 * padding - kh)", "t = (h - kh)"), ("u = (w + 2 * padding - kw)", "u = (w - kw)")
        ),
    ),
    "P counted once in the size": (
        "padding_one_side",
        _edit(
            CONV_CORRECT,
            ("t = (h + 2 * padding - kh)", "t = (h + padding - kh)"),
            ("u = (w + 2 * padding - kw)", "u = (w + padding - kw)"),
        ),
    ),
    "loop range ends one short, output sized by the loop": (
        "loop_stops_early",
        _edit(CONV_CORRECT, ("// stride + 1", "// stride")),
    ),
}


# ------------------------------------------------------------------------------ learner solutions: exercise 5
POOL_CORRECT = """
import numpy as np


def max_pool2d(x, pool_size, stride):
    if stride is None:
        stride = pool_size
    n, h, w, c = x.shape
    t = (h - pool_size) // stride + 1
    u = (w - pool_size) // stride + 1
    out = np.zeros((n, t, u, c))
    for b in range(n):
        for i in range(t):
            for j in range(u):
                window = x[b, i * stride:i * stride + pool_size, j * stride:j * stride + pool_size, :]
                out[b, i, j, :] = np.max(window, axis=(0, 1))
    return out
"""

# One number at a time, with a running maximum.
POOL_SCALAR = """
import numpy as np


def max_pool2d(x, pool_size, stride):
    if stride is None:
        stride = pool_size
    n, h, w, c = x.shape
    t = (h - pool_size) // stride + 1
    u = (w - pool_size) // stride + 1
    out = np.zeros((n, t, u, c))
    for b in range(n):
        for ch in range(c):
            for i in range(t):
                for j in range(u):
                    best = x[b, i * stride, j * stride, ch]
                    for r in range(pool_size):
                        for s in range(pool_size):
                            v = x[b, i * stride + r, j * stride + s, ch]
                            if v > best:
                                best = v
                    out[b, i, j, ch] = best
    return out
"""

POOL_WINDOW = "window = x[b, i * stride:i * stride + pool_size, j * stride:j * stride + pool_size, :]"

POOL_MISTAKES = {
    "average_instead_of_max": _edit(POOL_CORRECT, ("np.max(window, axis=(0, 1))", "np.mean(window, axis=(0, 1))")),
    "max_starts_at_zero": _edit(POOL_SCALAR, ("best = x[b, i * stride, j * stride, ch]", "best = 0")),
    "max_over_channels": _edit(POOL_CORRECT, ("np.max(window, axis=(0, 1))", "np.max(window)")),
    # stride None read as "no stride": every window position
    "stride_ignored": _edit(
        POOL_CORRECT,
        ("    if stride is None:\n        stride = pool_size\n", "    if stride is None:\n        stride = 1\n"),
    ),
    "pool_stride_swapped": _edit(
        POOL_CORRECT,
        ("def max_pool2d(x, pool_size, stride):", "def max_pool2d(x, stride, pool_size):"),
        (
            "    if stride is None:\n        stride = pool_size\n",
            "    if pool_size is None:\n        pool_size = stride\n",
        ),
    ),
    # out sized with a ceil: NumPy slicing cuts the last windows short instead of failing
    "partial_windows": _edit(
        POOL_CORRECT,
        ("t = (h - pool_size) // stride + 1", "t = -(-(h - pool_size) // stride) + 1"),
        ("u = (w - pool_size) // stride + 1", "u = -(-(w - pool_size) // stride) + 1"),
    ),
    "shifted": _edit(POOL_CORRECT, ("i * stride:i * stride + pool_size", "i * stride + 1:i * stride + 1 + pool_size")),
    "loop_stops_early": _edit(POOL_CORRECT, ("for j in range(u):", "for j in range(u - 1):")),
    "channels_first": _edit(
        POOL_CORRECT,
        ("out = np.zeros((n, t, u, c))", "out = np.zeros((n, c, t, u))"),
        ("out[b, i, j, :]", "out[b, :, i, j]"),
    ),
    "integer_output": _edit(POOL_CORRECT, ("out = np.zeros((n, t, u, c))", "out = np.zeros((n, t, u, c), dtype=int)")),
    "rows_columns_swapped": _edit(
        POOL_CORRECT,
        ("out = np.zeros((n, t, u, c))", "out = np.zeros((n, u, t, c))"),
        ("out[b, i, j, :]", "out[b, j, i, :]"),
    ),
    # one channel in mind (as in exercise 2): no channel axis, one maximum over all channels
    "wrong_shape": _edit(
        POOL_CORRECT,
        ("out = np.zeros((n, t, u, c))", "out = np.zeros((n, t, u))"),
        ("out[b, i, j, :] = np.max(window, axis=(0, 1))", "out[b, i, j] = np.max(window)"),
    ),
    # the window's columns start at i·S instead of j·S
    "first_wrong": _edit(POOL_CORRECT, ("j * stride:j * stride + pool_size", "i * stride:i * stride + pool_size")),
}

POOL_VARIANTS = {
    "window position not multiplied by the stride": (
        "stride_ignored",
        _edit(POOL_CORRECT, (POOL_WINDOW, "window = x[b, i:i + pool_size, j:j + pool_size, :]")),
    ),
    "no + 1 in the size": ("loop_stops_early", _edit(POOL_CORRECT, ("// stride + 1", "// stride"))),
    "output sized by range(0, H − K, S)": (
        "loop_stops_early",
        _edit(POOL_CORRECT, ("t = (h - pool_size) // stride + 1", "t = len(range(0, h - pool_size, stride))")),
    ),
}


# ------------------------------------------------------------------------------ in-process grading
def _codes(grader, number: int, source: str, function: str) -> list[str | None]:
    """Per case: ``None`` when the learner's answer is right, else the diagnosis code ("error" for an exception)."""
    namespace: dict = {}
    exec(compile(textwrap.dedent(source), f"ex{number:02d}_learner.py", "exec"), namespace)
    fn = namespace[function]
    out: list[str | None] = []
    for case in grader.cases(np.random.default_rng(SEED + number)):
        try:
            got = fn(*copy.deepcopy(case.args))
        except Exception:
            out.append("error")
            continue
        if same_shape_and_close(got, case.expected, case.tolerance):
            out.append(None)
            continue
        d = grader.diagnose(case, np.asarray(got))
        out.append(d.code if d is not None else "undiagnosed")
    return out


# Mistakes that give the very same output on some sizes: an output cut to its top-left part is what a size
# without the padding, with P once or without the + 1 gives (often all three at once); 2P zeros on one side put
# every window P pixels off, as an offset off by one does when P = 1.
SAME_OUTPUT = {
    "padding_ignored": {"padding_one_side", "loop_stops_early"},
    "padding_one_side": {"padding_ignored", "loop_stops_early", "shifted"},
    "loop_stops_early": {"padding_ignored", "padding_one_side"},
    "shifted": {"padding_one_side"},
    "wrong_shape": {"padding_ignored", "padding_one_side", "loop_stops_early"},
}


def _check_mistake(codes: list[str | None], code: str) -> None:
    assert code in codes, codes
    wrong = [c for c in codes if c not in (None, "error")]
    # a realistic mistake may also raise on some sizes or pass where it does no harm, but it is never named as
    # another mistake (apart from the generic first_wrong / wrong_shape where its own pattern cannot show, and
    # the mistakes that give the same output on that case)
    assert set(wrong) <= {code, "first_wrong", "wrong_shape", *SAME_OUTPUT.get(code, ())}, codes


# ------------------------------------------------------------------------------ exercise 4
def test_conv_cases_reproduce_the_slides():
    cases = conv_grader.cases(np.random.default_rng(SEED + 4))
    slide = cases[0]
    assert slide.slide and slide.args[3:] == (2, 1)
    np.testing.assert_array_equal(slide.expected[0, :, :, 0], [[2, 3, 3], [3, 7, 3], [8, 10, -3]])
    np.testing.assert_array_equal(slide.expected[0, :, :, 1], [[-8, -8, -3], [-3, 1, 0], [-3, -8, -5]])
    sharpen = cases[1]
    assert sharpen.slide
    np.testing.assert_array_equal(
        sharpen.expected[0, 1:4, 1:4, 0], [[266, -61, -30], [116, -47, 295], [-135, 256, -128]]
    )
    assert sharpen.expected[0, 0, 0, 0] == 114
    random_cases = [c for c in cases if not c.slide]
    assert 5 <= len(random_cases) <= 8
    shapes = [(c.args[0].shape, c.args[1].shape, c.args[3], c.args[4]) for c in random_cases]
    assert any(x[1] != x[2] for x, _, _, _ in shapes)  # H ≠ W
    assert any(k[0] != k[1] for _, k, _, _ in shapes)  # KH ≠ KW
    assert any((x[1] + 2 * p - k[0]) % s for x, k, s, p in shapes)  # the floor matters
    assert all(x[0] <= 2 and max(x[1:3]) <= 10 and x[3] <= 3 and k[3] <= 3 for x, k, _, _ in shapes)
    assert all(np.all(c.args[2] != 0) for c in random_cases)  # a missing bias always shows


@pytest.mark.parametrize("source", [CONV_CORRECT, CONV_SCALAR], ids=["vectorised_window", "scalar_loops"])
def test_conv_correct_solution_passes_in_process(source):
    assert _codes(conv_grader, 4, source, "conv2d") == [None] * len(conv_grader.cases(np.random.default_rng(SEED + 4)))


@pytest.mark.parametrize("code", sorted(CONV_MISTAKES))
def test_conv_mistake_is_named(code):
    _check_mistake(_codes(conv_grader, 4, CONV_MISTAKES[code], "conv2d"), code)


@pytest.mark.parametrize("variant", sorted(CONV_VARIANTS))
def test_conv_mistake_variant_is_named(variant):
    code, source = CONV_VARIANTS[variant]
    _check_mistake(_codes(conv_grader, 4, source, "conv2d"), code)


def _diagnosis(grader, number: int, index: int, source: str, function: str):
    namespace: dict = {}
    exec(compile(source, "learner.py", "exec"), namespace)
    case = grader.cases(np.random.default_rng(SEED + number))[index]
    return grader.diagnose(case, namespace[function](*copy.deepcopy(case.args)))


def test_conv_first_wrong_shows_the_window_and_the_product_sums():
    d = _diagnosis(conv_grader, 4, 0, CONV_MISTAKES["first_wrong"], "conv2d")
    assert d.code == "first_wrong"
    # filter 1 has bias 0; the learner added bias[0] = 1 to it: the first wrong pixel is out[0, 0, 0, 1] = −8
    assert "out[0, 0, 0, 1] is −7 but should be −8" in d.message
    assert "rows 0–2 and columns 0–2" in d.message
    assert "bias 0 = −8" in d.message
    assert d.message.count("channel ") >= 3


def test_conv_wrong_shape_shows_the_formula():
    cases = conv_grader.cases(np.random.default_rng(SEED + 4))
    index = next(i for i, c in enumerate(cases) if c.args[0].shape[2] > c.args[0].shape[1])
    x, kernel, _, s, p = cases[index].args
    d = _diagnosis(conv_grader, 4, index, CONV_MISTAKES["wrong_shape"], "conv2d")
    assert d.code == "wrong_shape"
    assert str(cases[index].expected.shape) in d.message
    u = (x.shape[2] + 2 * p - kernel.shape[1]) // s + 1
    plain = d.message.replace("\u00a0", " ")  # the formulas' NO-BREAK SPACEs as spaces
    assert f"U = ({x.shape[2]} + 2·{p} − {kernel.shape[1]})/{s} + 1 = {u}" in plain


def test_conv_output_cut_short_names_the_size_slips():
    d = _diagnosis(conv_grader, 4, 0, CONV_VARIANTS["P counted once in the size"][1], "conv2d")
    plain = d.message.replace("\u00a0", " ")  # the formulas' NO-BREAK SPACEs as spaces
    assert "only 2×2 of the 3×3" in d.message and "T = (5 + 2·1 − 3)/2 + 1 = 3" in plain
    assert "without the padding" in d.message and "one side only" in d.message and "without the + 1" in d.message


def test_conv_bias_per_pixel_says_how_often():
    d = _diagnosis(conv_grader, 4, 0, CONV_MISTAKES["bias_per_pixel"], "conv2d")
    assert d.code == "bias_per_pixel" and "27 times — once for every product of the window" in d.message
    d = _diagnosis(conv_grader, 4, 0, CONV_VARIANTS["bias once per channel"][1], "conv2d")
    assert d.code == "bias_per_pixel" and "3 times — once for every input channel (C_in = 3)" in d.message


def test_conv_stride_variants_are_told_apart():
    d = _diagnosis(conv_grader, 4, 0, CONV_MISTAKES["stride_ignored"], "conv2d")
    assert d.code == "stride_ignored" and "not multiplied by the stride" in d.message
    d = _diagnosis(conv_grader, 4, 0, CONV_VARIANTS["stride_ignored at stride 1"][1], "conv2d")
    assert d.code == "stride_ignored" and "at stride 1 (every window position)" in d.message


def test_conv_diagnose_leaves_other_types_to_the_framework():
    case = conv_grader.cases(np.random.default_rng(SEED + 4))[0]
    assert conv_grader.diagnose(case, [[1, 2]]) is None


# ------------------------------------------------------------------------------ exercise 5
def test_pool_cases_reproduce_the_slides():
    cases = pool_grader.cases(np.random.default_rng(SEED + 5))
    assert cases[0].slide and cases[0].args[1:] == (2, None)
    np.testing.assert_array_equal(cases[0].expected[0, :, :, 0], [[121, 139], [131, 129]])
    assert cases[1].slide
    np.testing.assert_array_equal(cases[1].expected[0, :, :, 0], [[266, 295], [256, 295]])
    random_cases = [c for c in cases if not c.slide]
    assert 5 <= len(random_cases) <= 8
    assert any(c.args[2] is None for c in random_cases)
    assert any(c.args[2] is not None and c.args[2] < c.args[1] for c in random_cases)  # overlapping windows
    assert any(c.args[2] is not None and c.args[2] > c.args[1] for c in random_cases)  # gaps
    assert any(c.args[0].shape[1] != c.args[0].shape[2] for c in random_cases)
    assert any(np.all(c.args[0] < 0) for c in random_cases)


@pytest.mark.parametrize("source", [POOL_CORRECT, POOL_SCALAR], ids=["vectorised_window", "scalar_loops"])
def test_pool_correct_solution_passes_in_process(source):
    assert _codes(pool_grader, 5, source, "max_pool2d") == [None] * len(
        pool_grader.cases(np.random.default_rng(SEED + 5))
    )


@pytest.mark.parametrize("code", sorted(POOL_MISTAKES))
def test_pool_mistake_is_named(code):
    _check_mistake(_codes(pool_grader, 5, POOL_MISTAKES[code], "max_pool2d"), code)


@pytest.mark.parametrize("variant", sorted(POOL_VARIANTS))
def test_pool_mistake_variant_is_named(variant):
    code, source = POOL_VARIANTS[variant]
    _check_mistake(_codes(pool_grader, 5, source, "max_pool2d"), code)


def test_pool_first_wrong_shows_the_window():
    d = _diagnosis(pool_grader, 5, 0, POOL_MISTAKES["first_wrong"], "max_pool2d")
    assert d.code == "first_wrong"
    assert "out[0, 0, 1, 0] is 121 but should be 139" in d.message
    assert "rows 0–1 and columns 2–3" in d.message
    assert "56 139" in d.message and "its largest number is 139" in d.message


def test_pool_wrong_shape_shows_the_formula():
    cases = pool_grader.cases(np.random.default_rng(SEED + 5))
    index = next(
        i for i, c in enumerate(cases) if c.args[2] is not None and (c.args[0].shape[2] - c.args[1]) % c.args[2]
    )
    x, k, s = cases[index].args
    d = _diagnosis(pool_grader, 5, index, POOL_MISTAKES["wrong_shape"], "max_pool2d")
    assert d.code == "wrong_shape"
    assert f"expected {cases[index].expected.shape}" in d.message
    w = x.shape[2]
    plain = d.message.replace("\u00a0", " ")  # the formulas' NO-BREAK SPACEs as spaces
    assert f"U = ⌊({w} − {k})/{s}⌋ + 1 = ⌊{w - k}/{s}⌋ + 1 = {(w - k) // s + 1}" in plain
    assert f"C = {x.shape[3]} channels" in d.message


def test_pool_stride_none_is_explained():
    d = _diagnosis(pool_grader, 5, 0, POOL_MISTAKES["stride_ignored"], "max_pool2d")
    assert d.code == "stride_ignored" and "stride=None means" in d.message


# ------------------------------------------------------------------------------ end to end (a subprocess per file)
def _grade(tmp_path, number: int, name: str, source: str):
    (tmp_path / name).write_text(textwrap.dedent(source))
    return grade_exercise(number, tmp_path)


@pytest.mark.slow
def test_conv_end_to_end(tmp_path):
    result = _grade(tmp_path, 4, "ex04_conv2d.py", CONV_CORRECT)
    assert result.passed, [(c.case.name, c.diagnosis) for c in result.cases]
    for code in ("flipped_kernel", "stride_ignored", "bias_per_pixel"):
        result = _grade(tmp_path, 4, "ex04_conv2d.py", CONV_MISTAKES[code])
        assert not result.passed and code in result.codes(), result.codes()
        assert result.cases[0].diagnosis.code == code


@pytest.mark.slow
def test_pool_end_to_end(tmp_path):
    result = _grade(tmp_path, 5, "ex05_max_pool.py", POOL_CORRECT)
    assert result.passed, [(c.case.name, c.diagnosis) for c in result.cases]
    for code in ("stride_ignored", "max_over_channels", "max_starts_at_zero"):
        result = _grade(tmp_path, 5, "ex05_max_pool.py", POOL_MISTAKES[code])
        assert not result.passed and code in result.codes(), result.codes()


# ------------------------------------------------------------------------------ every code is tested
def _codes_in(*modules) -> set[str]:
    """The diagnosis codes a grader's source names: snake_case strings alone on a line, or first in a tuple."""
    source = "".join(inspect.getsource(module) for module in modules)
    found = set(re.findall(r'^\s*"([a-z]+(?:_[a-z]+)*)",\s*$', source, re.M))
    found |= set(re.findall(r'\(\s*"([a-z]+(?:_[a-z]+)*)",\s*"', source))  # the size slips
    return found | {"wrong_shape", "first_wrong"}


# The functions of the shared module (its __all__ lists names, not codes).
SHARED = tuple(
    f for f in vars(window_mistakes).values() if inspect.isfunction(f) and f.__module__ == window_mistakes.__name__
)


@pytest.mark.parametrize(
    ("modules", "tested"),
    [
        # each grader with the window mistakes both share (window_mistakes): their codes are tested on both exercises
        ((conv_grader, *SHARED), set(CONV_MISTAKES) | {code for code, _ in CONV_VARIANTS.values()}),
        ((pool_grader, *SHARED), set(POOL_MISTAKES) | {code for code, _ in POOL_VARIANTS.values()}),
    ],
    ids=["conv2d", "max_pool"],
)
def test_every_diagnosis_code_has_a_learner_solution(modules, tested):
    codes = _codes_in(*modules)
    assert "channels_first" in codes or "stride_ignored" in codes  # the scan finds the codes at all
    assert codes <= tested, codes - tested
