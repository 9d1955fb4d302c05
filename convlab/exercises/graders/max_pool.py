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

from collections.abc import Iterator

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import first_wrong
from convlab.exercises.diagnosis import (
    number_text,
    shape_mismatch,
    size_formula_text,
    window_place_text,
    window_text,
    wrong_element,
)
from convlab.exercises.slides import IMAGE, SHARPEN_OUTPUT, one_image
from convlab.exercises.window_mistakes import (
    Candidate,
    first_match,
    integer_output,
    layout_problem,
    offset_mistakes,
    stride_mistakes,
    top_left_part,
)
from convlab.ops.pooling import avg_pool2d as _avg_pool2d
from convlab.ops.pooling import max_pool2d as _max_pool2d
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "cases", "diagnose"]

HINTS: tuple[str, ...] = (
    N_(
        "Pooling is a convolution without weights: a K×K window slides over each channel on its own, and instead "
        "of a sum of products it keeps the largest number. stride=None means the window jumps by its own size K "
        "(Keras' default)."
    ),
    N_(
        "out has shape (N, T, U, C) with T = (H − K)/S + 1 and U = (W − K)/S + 1, floored (slides' formula with "
        "P = 0): windows that would run past the edge are dropped. out[n, i, j, c] = the largest of "
        "x[n, i·S … i·S + K − 1, j·S … j·S + K − 1, c]."
    ),
    N_(
        "Loop over images, output rows i and output columns j (and channels, or keep the channel axis): the "
        "window's top-left corner is at row i·S, column j·S. Take the maximum over the window's rows and columns "
        "only — every channel keeps its own. Start from the window's own numbers, not from 0: they can all be "
        "negative."
    ),
)


def _stride(case: Case) -> int:
    """The stride the case means: ``None`` is the pool size (Keras)."""
    k, s = case.args[1], case.args[2]
    return k if s is None else s


def _case(name: str, x, pool_size: int, stride: int | None, *, slide: bool = False) -> Case:
    x = np.array(x, dtype=np.float64)
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
            _("slide: the 5×5 image, 2×2 max pool (stride None = 2)"),
            one_image(IMAGE),
            2,
            None,
            slide=True,
        ),
        _case(
            _("slide: the sharpen example's 3×3 feature map, 2×2 max pool, stride 1"),
            one_image(SHARPEN_OUTPUT),
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
        name = _("random: {n}×{h}×{w}×{c} input, pool {k}, stride {s}").format(n=n, h=h, w=w, c=c, k=k, s=stride)
        out.append(_case(name, x, k, s))
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


def _candidates(case: Case) -> Iterator[Candidate]:
    """``(code, message, what that mistake outputs)`` for each typical mistake, most specific first."""
    x, k, given = case.args
    s = _stride(case)
    expected = case.expected
    h, w = x.shape[1], x.shape[2]
    t, u = expected.shape[1], expected.shape[2]

    def at(rows, cols) -> np.ndarray | None:
        return _windows(x, k, rows, cols)

    yield (
        "average_instead_of_max",
        _(
            "Your output is the average of each window, not its maximum: that is average pooling. Max pooling "
            "keeps the largest number of the window."
        ),
        lambda: _avg_pool2d(x, k, s, backend="reference"),
    )
    yield (
        "max_starts_at_zero",
        _(
            "Your output is right except where a whole window is negative: there you give 0. Your maximum starts "
            "at 0 (0 is larger than every negative number); start it from the window's first number (or "
            "−infinity)."
        ),
        lambda: np.maximum(expected, 0.0),
    )
    if x.shape[3] > 1:
        yield (
            "max_over_channels",
            _(
                "Your output has the same number in every channel: you took the maximum over the window's channels "
                "too. Pooling works on each channel on its own: the maximum goes over the window's rows and columns "
                "only (axes 1 and 2), one maximum per channel."
            ),
            lambda: np.broadcast_to(expected.max(axis=3, keepdims=True), expected.shape),
        )
    if given is None:
        fix = _(
            "The window of output pixel (i, j) starts at row i·S, column j·S: stride=None means the window jumps by "
            "the pool size, S = K = {k} (Keras' default)."
        ).format(k=k)
    else:
        fix = _(
            "The window of output pixel (i, j) starts at row i·S, column j·S: the window jumps by the stride S = {s}."
        ).format(s=s)
    yield from stride_mistakes(
        at,
        expected,
        s,
        (h - k + 1, w - k + 1),
        operation=N_("max pooling"),
        result=N_("maximum"),
        of_input="",
        fix=fix,
    )
    if given is not None and given != k:
        yield (
            "pool_stride_swapped",
            _(
                "Your output is pooling with {given}×{given} windows at stride {k}: pool_size and stride are "
                "swapped. The window is pool_size × pool_size = {k}×{k}, and it moves by stride = {given}."
            ).format(given=given, k=k),
            lambda: _windows(x, given, range(0, h - given + 1, k), range(0, w - given + 1, k)),
        )

    # Windows past the edge kept (NumPy slicing silently cuts them short): a ceil instead of the floor.
    for t2, u2, how in (
        (-(-(h - k) // s) + 1, -(-(w - k) // s) + 1, N_("rounding (H − K)/S up instead of down")),
        (-(-h // s), -(-w // s), N_("ceil(H/S) (that is padding='same', not 'valid')")),
    ):
        if (t2, u2) != (t, u):
            yield (
                "partial_windows",
                _(
                    "Your output has {t2}×{u2} pixels instead of {t}×{u}: it keeps windows that run past the edge of "
                    "the image (NumPy cuts such a window short without an error) — from {how}. Valid pooling drops "
                    "them: {rows} and {columns}."
                ).format(
                    t2=t2,
                    u2=u2,
                    t=t,
                    u=u,
                    how=_(how),
                    rows=size_formula_text(h, k, None, s),
                    columns=size_formula_text(w, k, None, s, "U"),
                ),
                lambda t2=t2, u2=u2: _windows(x, k, [i * s for i in range(t2)], [j * s for j in range(u2)]),
            )

    yield from offset_mistakes(at, expected, s, result=N_("maximum"), of_input="")


def _top_left_part(case: Case, got: np.ndarray) -> Diagnosis | None:
    """Right numbers in too small an output (its top-left part): a slip in the output size, named when known."""
    x, k = case.args[0], case.args[1]
    s = _stride(case)
    h, w = x.shape[1], x.shape[2]
    slips = (
        (N_("without the + 1"), lambda n: (n - k) // s),
        (
            N_("from a loop that stops before the last window (range's end is excluded)"),
            lambda n: len(range(0, n - k, s)),
        ),
    )
    sizes = [("loop_stops_early", what, (size(h), size(w))) for what, size in slips]
    return top_left_part(got, case.expected, case.tolerance, sizes, _sizes_text(h, w, k, s))


def _sizes_text(h: int, w: int, k: int, s: int) -> str:
    """The slides' sizes with P = 0: ``"T = (5 − 2)/2 + 1 … rows and U = … columns"`` (floor shown where it acts)."""
    return _("{t} rows and {u} columns").format(
        t=size_formula_text(h, k, None, s), u=size_formula_text(w, k, None, s, "U")
    )


def diagnose(case: Case, got) -> Diagnosis | None:
    """Name the mistake that reproduces ``got``; else the wrong shape with the formula, or the first wrong pixel."""
    if not isinstance(got, np.ndarray):
        return None
    x, k, given = case.args
    s = _stride(case)
    expected = case.expected
    n, h, w, c = x.shape
    tol = case.tolerance
    named = (
        layout_problem(got, expected, tol)
        or integer_output(got, expected, N_("maximum"))
        or _top_left_part(case, got)
        or first_match(got, _candidates(case), tol)
    )
    if named is not None:
        return named
    if got.shape != expected.shape:
        if given is None:
            why = _(
                "(N, T, U, C) with N = {n} images, {sizes} (K = {k}, S = {s} (stride None means S = K)), and C = {c} "
                "channels, each pooled on its own."
            )
        else:
            why = _(
                "(N, T, U, C) with N = {n} images, {sizes} (K = {k}, S = {s}), and C = {c} channels, each pooled on "
                "its own."
            )
        why = why.format(n=n, sizes=_sizes_text(h, w, k, s), k=k, s=s, c=c)
        return shape_mismatch("out", got.shape, expected.shape, why)
    idx = first_wrong(got, expected, tol)
    if idx is None:
        return None
    b, i, j, ch = idx
    window = x[b, i * s : i * s + k, j * s : j * s + k, ch]
    where = window_place_text(i, j, k, k, s)
    if n > 1:
        covers = _("The window covers {where} of image {image}, channel {channel}:")
    else:
        covers = _("The window covers {where} of channel {channel}:")
    largest = _("its largest number is {value}.").format(value=number_text(window.max()))
    detail = covers.format(where=where, image=b, channel=ch) + "\n" + window_text(window) + "\n" + largest
    return wrong_element("out", idx, got[idx], expected[idx], detail)
