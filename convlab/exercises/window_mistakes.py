"""Mistakes any sliding-window operation invites, shared by the conv2d and max_pool graders.

A convolution (exercise 4) and a max pool (exercise 5) place their windows the same way: the window of
output pixel ``(i, j)`` has its top-left corner at row ``i·S`` and column ``j·S`` of the (padded) input,
and the output has ``T = (H + 2P − K)/S + 1`` rows, floored (slides, seeds/003). So the same slips show
in both: the stride ignored, windows off by one, results stored one place away, loops that stop before
the last window, the right numbers in the wrong layout or in too small an output.

A grader describes its operation by ``at(rows, cols)``: what it outputs — ``(N, len(rows), len(cols), C)``
— for the windows whose top-left corners are at ``rows`` × ``cols`` of the padded input, or ``None``
where a learner's code would have failed instead (a window off the edge). Each mistake is a *candidate*
``(code, message, make)``: ``make()`` computes what the mistake outputs (``None``, or ``ValueError``,
where it cannot happen with these shapes); :func:`first_match` names the first one that reproduces the
learner's output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np

from convlab.exercises.case import Diagnosis
from convlab.exercises.compare import same_shape_and_close
from convlab.exercises.diagnosis import shape_text
from convlab.util.i18n import N_, _, ngettext

__all__ = [
    "Candidate",
    "WindowsAt",
    "first_match",
    "layout_problem",
    "integer_output",
    "top_left_part",
    "stride_mistakes",
    "offset_mistakes",
    "offset_text",
]

#: ``(code, message, make)``: ``make()`` is what the mistake outputs.
Candidate = tuple[str, str, Callable[[], "np.ndarray | None"]]
#: ``at(rows, cols)``: the operation's output for the windows with top-left corners ``rows`` × ``cols``.
WindowsAt = Callable[[Sequence[int], Sequence[int]], "np.ndarray | None"]


def first_match(got: np.ndarray, candidates: Iterable[Candidate], tolerance: float) -> Diagnosis | None:
    """The diagnosis of the first candidate whose output ``got`` is; ``None`` if none is."""
    for code, message, make in candidates:
        try:
            candidate = make()
        except ValueError:  # this mistake cannot happen with these shapes (a window would not fit)
            continue
        if candidate is not None and same_shape_and_close(got, candidate, tolerance):
            return Diagnosis(code, message)
    return None


def layout_problem(got: np.ndarray, expected: np.ndarray, tolerance: float, channels: str = "C") -> Diagnosis | None:
    """The right numbers in the wrong layout: channels first (PyTorch's, CS231n's), or rows and columns swapped.

    ``expected`` is ``(N, T, U, channels)``.
    """
    if got.ndim != 4:
        return None
    if same_shape_and_close(got, expected.transpose(0, 3, 1, 2), tolerance):
        message = _(
            "Your numbers are right but laid out as (N, {channels}, T, U) = {got}: this course uses Keras' layout, "
            "channels last — out has shape (N, T, U, {channels}) = {expected}."
        )
        return Diagnosis(
            "channels_first",
            message.format(channels=channels, got=shape_text(got.shape), expected=shape_text(expected.shape)),
        )
    if same_shape_and_close(got, expected.transpose(0, 2, 1, 3), tolerance):
        message = _(
            "Your numbers are right but with rows and columns swapped: out[n, i, j] belongs to the window whose "
            "top-left corner is at row i·S and column j·S — i counts down the rows (T of them), j across the "
            "columns (U of them); out has shape (N, T, U, {channels}) = {expected}."
        )
        return Diagnosis("rows_columns_swapped", message.format(channels=channels, expected=shape_text(expected.shape)))
    return None


def integer_output(got: np.ndarray, expected: np.ndarray, result: str) -> Diagnosis | None:
    """An integer output array where the answer has fractions: each ``result`` (a sum, a maximum) was cut.

    ``result`` is a noun marked for the catalogs, ``N_("sum")``: it is translated here."""
    whole = bool(np.all(expected == np.round(expected)))
    if got.shape == expected.shape and np.issubdtype(got.dtype, np.integer) and not whole:
        message = _(
            "Your output array holds integers (dtype {dtype}), so every {result} was cut to a whole number when you "
            "stored it. Make the output array a float array (the dtype of x)."
        )
        return Diagnosis("integer_output", message.format(dtype=got.dtype, result=_(result)))
    return None


def top_left_part(
    got: np.ndarray,
    expected: np.ndarray,
    tolerance: float,
    slips: Iterable[tuple[str, str, tuple[int, int]]],
    formula: str,
) -> Diagnosis | None:
    """Right numbers in too small an output (its top-left part): a slip in the output size, named when known.

    Args:
        slips: ``(code, what, (rows, cols))``: the output size a slip in the size gives, e.g.
            ``("loop_stops_early", N_("without the + 1"), (2, 3))`` (``what`` marked for the catalogs, translated
            here). A ``loop_stops_early`` slip may be in one of the two loops only; any other shows on both axes.
        formula: the right sizes in words, ``"T = … rows and U = … columns"`` (already translated).
    """
    t, u = expected.shape[1], expected.shape[2]
    if got.ndim != 4 or got.shape[0] != expected.shape[0] or got.shape[3] != expected.shape[3]:
        return None
    t2, u2 = got.shape[1], got.shape[2]
    if not (0 < t2 <= t and 0 < u2 <= u) or (t2, u2) == (t, u):
        return None
    if not same_shape_and_close(got, expected[:, :t2, :u2], tolerance):
        return None
    found = [
        (code, what)
        for code, what, (rows, cols) in slips
        if (rows, cols) == (t2, u2) or (code == "loop_stops_early" and t2 in (t, rows) and u2 in (u, cols))
    ]
    message = _(
        "out has shape {got}; expected {expected}. Your numbers are right, but your output has only {t2}×{u2} of "
        "the {t}×{u} output pixels (its top-left part): your output size is too small. The slides' formula: "
        "{formula}."
    ).format(got=shape_text(got.shape), expected=shape_text(expected.shape), t2=t2, u2=u2, t=t, u=u, formula=formula)
    if not found:
        return Diagnosis("wrong_shape", message)
    whats = list(dict.fromkeys(_(what) for _code, what in found))
    either = whats[0]
    for what in whats[1:]:
        either = _("{first}, or {second}").format(first=either, second=what)
    gives = _("{t2}×{u2} is what it gives {slips}.").format(t2=t2, u2=u2, slips=either)
    return Diagnosis(found[0][0], message + " " + gives)


def stride_mistakes(
    at: WindowsAt,
    expected: np.ndarray,
    stride: int,
    stride1_size: tuple[int, int],
    *,
    operation: str,
    result: str,
    of_input: str,
    fix: str,
) -> Iterator[Candidate]:
    """The stride ignored (nothing when ``stride`` is 1): every window at stride 1, the output index used as the
    window's position (on both axes or one), every result stored at its window's position.

    Args:
        stride1_size: ``(rows, cols)`` of the output at stride 1 (``Hp − KH + 1``, ``Wp − KW + 1``).
        operation: ``N_("the convolution")``, ``N_("max pooling")``; result: what one window gives
            (``N_("result")``, ``N_("maximum")``); of_input: where the windows lie (``N_(" of the padded input")``,
            or ``""``): marked for the catalogs, translated here.
        fix: what the stride means, with this case's numbers (already translated).
    """
    s = stride
    if s <= 1:
        return
    t, u = expected.shape[1], expected.shape[2]
    rows = [i * s for i in range(t)]
    cols = [j * s for j in range(u)]
    where = _(of_input) if of_input else ""
    yield (
        "stride_ignored",
        _("Your output is {operation} at stride 1 (every window position): the stride is ignored. {fix}").format(
            operation=_(operation), fix=fix
        ),
        lambda: at(range(stride1_size[0]), range(stride1_size[1])),
    )
    yield (
        "stride_ignored",
        _(
            "Your output holds the windows at rows 0, 1, 2, … and columns 0, 1, 2, …{of_input}: the output's top-left "
            "block at stride 1. The output has the right size, but the window's position was not multiplied by the "
            "stride. {fix}"
        ).format(of_input=where, fix=fix),
        lambda: at(range(t), range(u)),
    )
    yield (
        "stride_ignored",
        _(
            "Your rows are right but your columns are not: across the columns the window moves by 1 instead of by "
            "the stride. {fix}"
        ).format(fix=fix),
        lambda: at(rows, range(u)),
    )
    yield (
        "stride_ignored",
        _(
            "Your columns are right but your rows are not: down the rows the window moves by 1 instead of by the "
            "stride. {fix}"
        ).format(fix=fix),
        lambda: at(range(t), cols),
    )

    def sparse() -> np.ndarray:
        out = np.zeros((expected.shape[0], *stride1_size, expected.shape[3]))
        out[:, ::s, ::s] = expected  # T = ⌈(Hp − KH + 1)/S⌉ rows land on every S-th row
        return out

    yield (
        "stride_ignored",
        _(
            "Your output is as big as at stride 1, with the right numbers at every S-th row and column and zeros in "
            "between: you stored each {result} at the window's position (i·S, j·S) instead of at (i, j). {fix}"
        ).format(result=_(result), fix=fix),
        sparse,
    )


def offset_mistakes(
    at: WindowsAt, expected: np.ndarray, stride: int, *, result: str, of_input: str
) -> Iterator[Candidate]:
    """Windows off by one (or by one stride), results stored one place off, loops that stop before the last
    window (in an output sized by the formula: its last row and/or column stays zero). Arguments as in
    :func:`stride_mistakes`; an output *sized* by such a loop is :func:`top_left_part`'s."""
    s = stride
    t, u = expected.shape[1], expected.shape[2]
    rows = [i * s for i in range(t)]
    cols = [j * s for j in range(u)]
    offsets = sorted({-s, -1, 1, s})
    where = _(of_input) if of_input else ""
    for dr in [0, *offsets]:
        for dc in [0, *offsets]:
            if dr == dc == 0:
                continue
            yield (
                "shifted",
                _(
                    "Your output is shifted: each window starts {offset} — an off-by-one in the window's offset. "
                    "Output pixel (i, j) uses the window whose top-left corner is at row i·S, column j·S{of_input} "
                    "(counting from 0)."
                ).format(offset=offset_text(dr, dc), of_input=where),
                lambda dr=dr, dc=dc: at([r + dr for r in rows], [c + dc for c in cols]),
            )
    rolls = (
        (1, 1, N_("one row down")),
        (1, -1, N_("one row up")),
        (2, 1, N_("one column right")),
        (2, -1, N_("one column left")),
    )
    for axis, step, direction in rolls:
        yield (
            "shifted",
            _(
                "Your output is shifted {direction}, wrapping around at the edge: each {result} is stored one place "
                "away from where it belongs. The window for output pixel (i, j) goes into out at that same (i, j)."
            ).format(direction=_(direction), result=_(result)),
            lambda axis=axis, step=step: np.roll(expected, step, axis=axis),
        )

    # range(T − 1) over output pixels, or range(0, H + 2P − K, S) over window positions.
    loop_fix = _(
        "The last window starts at row (T − 1)·S = {row} and column (U − 1)·S = {column}: a loop over output "
        "pixels goes up to T − 1 and U − 1, and one over window positions must include those (range's end is "
        "excluded: go one further)."
    ).format(row=(t - 1) * s, column=(u - 1) * s)
    still_zero = (
        (1, 0, N_("Your output's last row is still zero: your loops stop before the last window. {fix}")),
        (0, 1, N_("Your output's last column is still zero: your loops stop before the last window. {fix}")),
        (
            1,
            1,
            N_("Your output's last row and last column are still zero: your loops stop before the last window. {fix}"),
        ),
    )
    for cut_rows, cut_cols, message in still_zero:
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
            _(message).format(fix=loop_fix),
            zeros_at_end,
        )


def offset_text(dr: int, dc: int) -> str:
    """``"1 row too low and 2 columns too far left"``: a window offset by ``dr`` rows and ``dc`` columns."""
    parts = []
    if dr > 0:
        parts.append(ngettext("{n} row too low", "{n} rows too low", dr).format(n=dr))
    elif dr < 0:
        parts.append(ngettext("{n} row too high", "{n} rows too high", -dr).format(n=-dr))
    if dc > 0:
        parts.append(ngettext("{n} column too far right", "{n} columns too far right", dc).format(n=dc))
    elif dc < 0:
        parts.append(ngettext("{n} column too far left", "{n} columns too far left", -dc).format(n=-dc))
    if len(parts) == 2:
        return _("{rows} and {columns}").format(rows=parts[0], columns=parts[1])
    return parts[0] if parts else ""
