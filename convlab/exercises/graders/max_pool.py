"""Exercise 5: max pooling, forward (Keras' ``MaxPooling2D`` with ``padding="valid"``).

The learner writes ``max_pool2d(x, pool_size, stride)``: ``x (N, H, W, C)``, ``pool_size`` an int ``K``
(K×K windows), ``stride`` an int ``S`` or ``None`` (then ``S = K``, Keras' default) →
``(N, T, U, C)`` with ``T = (H − K)/S + 1`` and ``U = (W − K)/S + 1``, floored: a window that would run
past the edge is dropped. Each channel keeps its own maximum. The answers come from
``convlab.max_pool2d(..., backend="reference")``.

The slides (seeds/003) describe pooling as "a convolution with a stride equal to the kernel size that
computes the function over all the pixels"; the first cases use the slides' numbers: the 5×5 image of the
sharpen example pooled 2×2, and the 3×3 feature map the sharpen kernel makes of it pooled 2×2 at stride 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import first_wrong, same_shape_and_close
from convlab.exercises.diagnosis import number_text, shape_mismatch, shape_text, window_text, wrong_element
from convlab.exercises.graders.conv2d import layout_problem
from convlab.ops.pooling import avg_pool2d as _avg_pool2d
from convlab.ops.pooling import max_pool2d as _max_pool2d

__all__ = ["HINTS", "cases", "diagnose"]

HINTS: tuple[str, ...] = (
    "Pooling is a convolution without weights: a K×K window slides over each channel on its own, and instead "
    "of a sum of products it keeps the largest number. stride=None means the window jumps by its own size K "
    "(Keras' default).",
    "out has shape (N, T, U, C) with T = (H − K)/S + 1 and U = (W − K)/S + 1, floored (slides' formula with "
    "P = 0): windows that would run past the edge are dropped. out[n, i, j, c] = the largest of "
    "x[n, i·S … i·S + K − 1, j·S … j·S + K − 1, c].",
    "Loop over images, output rows i and output columns j (and channels, or keep the channel axis): the "
    "window's top-left corner is at row i·S, column j·S. Take the maximum over the window's rows and columns "
    "only — every channel keeps its own. Start from the window's own numbers, not from 0: they can all be "
    "negative.",
)

# The slides' 5×5 image and what the sharpen kernel makes of it (valid, stride 1), seeds/003.
_SHARPEN_IMAGE = (
    (60, 113, 56, 139, 85),
    (73, 121, 54, 84, 128),
    (131, 99, 70, 129, 127),
    (80, 57, 115, 69, 134),
    (104, 126, 123, 95, 130),
)
_SHARPEN_MAP = ((266, -61, -30), (116, -47, 295), (-135, 256, -128))


def _stride(case: Case) -> int:
    """The stride the case means: ``None`` is the pool size (Keras)."""
    _, k, s = case.args
    return k if s is None else s


def _case(name: str, x, pool_size: int, stride: int | None, *, slide: bool = False) -> Case:
    x = np.asarray(x, dtype=np.float64)
    return Case(
        name=name,
        function="max_pool2d",
        args=(x, int(pool_size), None if stride is None else int(stride)),
        expected=_max_pool2d(x, pool_size, stride, backend="reference"),
        slide=slide,
    )


def cases(rng: np.random.Generator) -> list[Case]:
    """The slides' numbers first (a 2×2 pool, then an overlapping one), then random sizes and strides.

    Random inputs are one-decimal floats in [−2, 2] (some windows all negative: a maximum started at 0
    shows), batch ≤ 2, sides ≤ 10, channels ≤ 3; strides below, equal to and above the pool size, ``None``,
    H ≠ W, and sizes where ``H − K`` is not a multiple of ``S`` (the floor drops the last pixels).
    """
    out = [
        _case(
            "slide: the 5×5 image, 2×2 max pool (stride None = 2)",
            np.array(_SHARPEN_IMAGE)[None, :, :, None],
            2,
            None,
            slide=True,
        ),
        _case(
            "slide: the sharpen example's 3×3 feature map, 2×2 max pool, stride 1",
            np.array(_SHARPEN_MAP)[None, :, :, None],
            2,
            1,
            slide=True,
        ),
    ]
    # (N, H, W, C, K, S, shift): shift moves every value (−3: a case where most windows are all negative)
    shapes = (
        (1, 6, 6, 1, 2, None, 0.0),
        (2, 7, 5, 2, 3, 2, 0.0),  # overlapping windows
        (1, 8, 6, 3, 2, 3, 0.0),  # gaps between windows; (6 − 2)/3 not whole
        (2, 5, 9, 3, 3, None, 0.0),
        (1, 9, 7, 2, 3, 1, 0.0),
        (2, 10, 10, 1, 4, None, 0.0),  # (10 − 4)/4 not whole
        (1, 6, 8, 2, 2, 2, -3.0),
    )
    for n, h, w, c, k, s, shift in shapes:
        x = np.round(rng.uniform(-2.0, 2.0, size=(n, h, w, c)), 1) + shift
        stride = "None" if s is None else str(s)
        out.append(_case(f"random: {n}×{h}×{w}×{c} input, pool {k}, stride {stride}", x, k, s))
    return out


# ------------------------------------------------------------------------------ what mistakes produce
def _windows(x: np.ndarray, k: int, rows, cols, reduce=np.max) -> np.ndarray | None:
    """``reduce`` over the K×K windows with top-left corners ``rows`` × ``cols``, cut short at the edge as NumPy
    slicing cuts them (a learner's ``x[:, r:r + K]`` past the edge is smaller, not an error); ``None`` where a
    learner's code would have failed instead (a negative start, an empty window, no window at all)."""
    rows, cols = list(rows), list(cols)
    h, w = x.shape[1], x.shape[2]
    if not rows or not cols or min(rows + cols) < 0 or max(rows) >= h or max(cols) >= w:
        return None
    out = np.empty((x.shape[0], len(rows), len(cols), x.shape[3]))
    for a, r in enumerate(rows):
        for b, c in enumerate(cols):
            out[:, a, b, :] = reduce(x[:, r : r + k, c : c + k, :], axis=(1, 2))
    return out


def _size_text(n: int, k: int, s: int, letter: str) -> str:
    """The slides' size with P = 0: ``T = (5 − 2)/2 + 1``, floored (shown when it matters) → ``= ⌊3/2⌋ + 1 = 2``."""
    span = n - k
    if span % s == 0:
        return f"{letter} = ({n} − {k})/{s} + 1 = {span // s + 1}"
    return f"{letter} = ⌊({n} − {k})/{s}⌋ + 1 = ⌊{span}/{s}⌋ + 1 = {span // s + 1}"


def _candidates(case: Case) -> Iterator[tuple[str, str, Callable[[], np.ndarray | None]]]:
    """``(code, message, what that mistake outputs)`` for each typical mistake, most specific first."""
    x, k, given = case.args
    s = _stride(case)
    expected = case.expected
    h, w = x.shape[1], x.shape[2]
    t, u = expected.shape[1], expected.shape[2]
    rows = [i * s for i in range(t)]
    cols = [j * s for j in range(u)]

    yield (
        "average_instead_of_max",
        "Your output is the average of each window, not its maximum: that is average pooling. Max pooling "
        "keeps the largest number of the window.",
        lambda: _avg_pool2d(x, k, s, backend="reference"),
    )
    yield (
        "max_starts_at_zero",
        "Your output is right except where a whole window is negative: there you give 0. Your maximum starts "
        "at 0 (0 is larger than every negative number); start it from the window's first number (or −infinity).",
        lambda: np.maximum(expected, 0.0),
    )
    if x.shape[3] > 1:
        yield (
            "max_over_channels",
            "Your output has the same number in every channel: you took the maximum over the window's channels "
            "too. Pooling works on each channel on its own: the maximum goes over the window's rows and columns "
            "only (axes 1 and 2), one maximum per channel.",
            lambda: np.broadcast_to(expected.max(axis=3, keepdims=True), expected.shape),
        )
    if s > 1:
        why = (
            f"stride=None means the window jumps by the pool size, S = K = {k} (Keras' default)"
            if given is None
            else f"the window jumps by the stride S = {s}"
        )
        fix = f"The window of output pixel (i, j) starts at row i·S, column j·S: {why}."
        full_rows, full_cols = range(h - k + 1), range(w - k + 1)
        yield (
            "stride_ignored",
            f"Your output is max pooling at stride 1 (every window position): the stride is ignored. {fix}",
            lambda: _windows(x, k, full_rows, full_cols),
        )
        yield (
            "stride_ignored",
            "Your output holds the windows at rows 0, 1, 2, … and columns 0, 1, 2, …: the right size, but the "
            f"window's position was not multiplied by the stride. {fix}",
            lambda: _windows(x, k, range(t), range(u)),
        )
        yield (
            "stride_ignored",
            f"Your rows are right but your columns are not: across the columns the window moves by 1. {fix}",
            lambda: _windows(x, k, rows, range(u)),
        )
        yield (
            "stride_ignored",
            f"Your columns are right but your rows are not: down the rows the window moves by 1. {fix}",
            lambda: _windows(x, k, range(t), cols),
        )

        def sparse() -> np.ndarray:
            out = np.zeros((x.shape[0], h - k + 1, w - k + 1, x.shape[3]))
            out[:, ::s, ::s] = expected
            return out

        yield (
            "stride_ignored",
            "Your output is as big as at stride 1, with the right numbers at every S-th row and column and zeros in "
            f"between: you stored each maximum at the window's position (i·S, j·S) instead of at (i, j). {fix}",
            sparse,
        )
    if given is not None and given != k:
        yield (
            "pool_stride_swapped",
            f"Your output is pooling with {given}×{given} windows at stride {k}: pool_size and stride are swapped. "
            f"The window is pool_size × pool_size = {k}×{k}, and it moves by stride = {given}.",
            lambda: _windows(x, given, range(0, h - given + 1, k), range(0, w - given + 1, k)),
        )

    # Windows past the edge kept (NumPy slicing silently cuts them short): a ceil instead of the floor.
    for t2, u2, how in (
        (-(-(h - k) // s) + 1, -(-(w - k) // s) + 1, "rounding (H − K)/S up instead of down"),
        (-(-h // s), -(-w // s), "ceil(H/S) (that is padding='same', not 'valid')"),
    ):
        if (t2, u2) != (t, u):
            yield (
                "partial_windows",
                f"Your output has {t2}×{u2} pixels instead of {t}×{u}: it keeps windows that run past the edge of the "
                f"image (NumPy cuts such a window short without an error) — from {how}. Valid pooling drops them: "
                f"{_size_text(h, k, s, 'T')} and {_size_text(w, k, s, 'U')}.",
                lambda t2=t2, u2=u2: _windows(x, k, [i * s for i in range(t2)], [j * s for j in range(u2)]),
            )

    # Windows off by one (or by one stride), and results written one place off.
    offsets = sorted({-s, -1, 1, s})
    for dr in [0, *offsets]:
        for dc in [0, *offsets]:
            if dr == dc == 0:
                continue
            yield (
                "shifted",
                f"Your output is shifted: each window starts {_offset_text(dr, dc)} — an "
                "off-by-one in the window's offset. Output pixel (i, j) uses the window whose top-left corner is at "
                "row i·S, column j·S (counting from 0).",
                lambda dr=dr, dc=dc: _windows(x, k, [r + dr for r in rows], [c + dc for c in cols]),
            )
    for axis, step, direction in (
        (1, 1, "one row down"),
        (1, -1, "one row up"),
        (2, 1, "one column right"),
        (2, -1, "one column left"),
    ):
        yield (
            "shifted",
            f"Your output is shifted {direction}, wrapping around at the edge: each maximum is stored one place "
            "away from where it belongs. The window for output pixel (i, j) goes into out at that same (i, j).",
            lambda axis=axis, step=step: np.roll(expected, step, axis=axis),
        )

    # A loop that stops one window early (range(T − 1), or range(0, H − K, S) over window positions) in an
    # output sized by the formula: its last row and/or column stays zero. (An output sized by such a loop is the
    # top-left part: see _top_left_part.)
    loop_fix = (
        f"The last window starts at row (T − 1)·S = {(t - 1) * s} and column (U − 1)·S = {(u - 1) * s}: a loop "
        "over output pixels goes up to T − 1 and U − 1, and one over window positions must include those (range's "
        "end is excluded: go one further)."
    )
    for cut_rows, cut_cols, what in ((1, 0, "last row"), (0, 1, "last column"), (1, 1, "last row and last column")):
        if (cut_rows and t < 2) or (cut_cols and u < 2):
            continue

        def zeros_at_end(cut_rows: int = cut_rows, cut_cols: int = cut_cols) -> np.ndarray:
            out = expected.copy()
            if cut_rows:
                out[:, t - 1] = 0.0
            if cut_cols:
                out[:, :, u - 1] = 0.0
            return out

        yield (
            "loop_stops_early",
            f"Your output's {what} is still zero: your loops stop before the last window. {loop_fix}",
            zeros_at_end,
        )


def _offset_text(dr: int, dc: int) -> str:
    parts = []
    if dr:
        parts.append(f"{abs(dr)} row{'s' if abs(dr) > 1 else ''} too {'low' if dr > 0 else 'high'}")
    if dc:
        parts.append(f"{abs(dc)} column{'s' if abs(dc) > 1 else ''} too far {'right' if dc > 0 else 'left'}")
    return " and ".join(parts)


def _top_left_part(case: Case, got: np.ndarray) -> Diagnosis | None:
    """Right numbers in too small an output (its top-left part): a slip in the output size, named when known."""
    x, k, _ = case.args
    s = _stride(case)
    expected = case.expected
    h, w = x.shape[1], x.shape[2]
    t, u = expected.shape[1], expected.shape[2]
    if got.ndim != 4 or got.shape[0] != expected.shape[0] or got.shape[3] != expected.shape[3]:
        return None
    t2, u2 = got.shape[1], got.shape[2]
    if not (0 < t2 <= t and 0 < u2 <= u) or (t2, u2) == (t, u):
        return None
    if not same_shape_and_close(got, expected[:, :t2, :u2], case.tolerance):
        return None
    message = (
        f"out has shape {shape_text(got.shape)}; expected {shape_text(expected.shape)}. Your numbers are right, but "
        f"your output has only {t2}×{u2} of the {t}×{u} output pixels (its top-left part): your output size is too "
        f"small. The slides' formula: {_size_text(h, k, s, 'T')} rows and {_size_text(w, k, s, 'U')} columns."
    )
    slips = (
        ("without the + 1", lambda n: (n - k) // s),
        ("from a loop that stops before the last window (range's end is excluded)", lambda n: len(range(0, n - k, s))),
    )
    # a slip may be in one of the two loops (or sizes) only
    found = [what for what, size in slips if t2 in (t, size(h)) and u2 in (u, size(w))]
    if not found:
        return Diagnosis("wrong_shape", message)
    return Diagnosis("loop_stops_early", message + f" {t2}×{u2} is what it gives {', or '.join(found)}.")


def diagnose(case: Case, got) -> Diagnosis | None:
    """Name the mistake that reproduces ``got``; else the wrong shape with the formula, or the first wrong pixel."""
    if not isinstance(got, np.ndarray):
        return None
    x, k, given = case.args
    s = _stride(case)
    expected = case.expected
    n, h, w, c = x.shape
    tol = case.tolerance
    layout = layout_problem(got, expected, tol)
    if layout is not None:
        return layout
    whole = bool(np.all(expected == np.round(expected)))
    if got.shape == expected.shape and np.issubdtype(got.dtype, np.integer) and not whole:
        return Diagnosis(
            "integer_output",
            f"Your output array holds integers (dtype {got.dtype}), so every maximum was cut to a whole number when "
            "you stored it. Make the output array a float array (the dtype of x).",
        )
    top_left = _top_left_part(case, got)
    if top_left is not None:
        return top_left
    for code, message, make in _candidates(case):
        try:
            candidate = make()
        except ValueError:  # the mistake cannot happen with these sizes
            continue
        if candidate is not None and same_shape_and_close(got, candidate, tol):
            return Diagnosis(code, message)
    if got.shape != expected.shape:
        stride = f"S = {s}" + (" (stride None means S = K)" if given is None else "")
        why = (
            f"(N, T, U, C) with N = {n} images, {_size_text(h, k, s, 'T')} rows and {_size_text(w, k, s, 'U')} "
            f"columns (K = {k}, {stride}), and C = {c} channels, each pooled on its own."
        )
        return shape_mismatch("out", got.shape, expected.shape, why)
    idx = first_wrong(got, expected, tol)
    if idx is None:
        return None
    b, i, j, ch = idx
    r0, c0 = i * s, j * s
    window = x[b, r0 : r0 + k, c0 : c0 + k, ch]
    where = f"rows {r0}–{r0 + k - 1} and columns {c0}–{c0 + k - 1}"
    if s != 1:
        where += f" (stride {s}: starting at row {s}·{i} = {r0}, column {s}·{j} = {c0})"
    image = f"image {b}, " if n > 1 else ""
    detail = (
        f"The window covers {where} of {image}channel {ch}:\n{window_text(window)}\n"
        f"its largest number is {number_text(window.max())}."
    )
    return wrong_element("out", idx, got[idx], expected[idx], detail)
