"""Grader of exercise 9: ``max_pool2d_backward(dy, x, pool_size, stride)`` → ``dx``.

Max pooling (Keras ``MaxPooling2D``, valid; slides seeds/003 "Capa de pooling", lesson 06) keeps the
largest number of each ``K×K`` window, window ``(i, j)`` covering rows ``i·S … i·S + K − 1`` and
columns ``j·S … j·S + K − 1`` (``stride`` ``None`` means ``S = K``). Only that number affected the loss,
so backward each ``dy[n, i, j, c]`` goes to ONE pixel of ``x``: the FIRST maximum of its window in
row-major order (TensorFlow's CPU ``MaxPoolGrad`` rule for ties); a pixel that is the chosen maximum of
several overlapping windows (``S < K``) gets the sum of their ``dy``. Every other pixel gets 0.

Shapes: ``dy (N, OH, OW, C)``, ``x (N, H, W, C)`` → ``dx (N, H, W, C)``. Expected answers come from
``convlab.max_pool2d_backward(…, backend="reference")``. Inputs are small integers, so ties happen.
"""

from __future__ import annotations

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import close, first_wrong, same_shape_and_close
from convlab.exercises.diagnosis import (
    number_text,
    shape_mismatch,
    shape_text,
    size_formula_text,
    window_text,
    wrong_element,
)
from convlab.exercises.slides import one_image
from convlab.ops.pooling import max_pool2d_backward
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "cases", "diagnose"]

HINTS: tuple[str, ...] = (
    N_(
        "Max pooling passes on only the largest number of each window, so only that one pixel affected the loss: "
        "each dy[n, i, j, c] goes back to exactly one pixel of x, and the window's other pixels get nothing from it."
    ),
    N_(
        "Window (i, j) covers rows i·S … i·S + K − 1 and columns j·S … j·S + K − 1 of channel c (S = K when stride "
        "is None). When several pixels tie for the maximum, TensorFlow picks the FIRST in reading order (row by row, "
        "left to right) — the position numpy's argmax of the flattened window gives. dx has x's shape (N, H, W, C) "
        "and is 0 wherever no window sends anything."
    ),
    N_(
        "When the stride is smaller than the pool size the windows overlap, and one pixel can be the chosen maximum "
        "of several windows: its gradient is the SUM of their dy values (add, do not overwrite)."
    ),
)

# Lesson 06 (lessons/06_pooling.py): the 4×4 map pooled by hand; 2×2 windows give [[6, 8], [3, 4]] and
# overlapping 3×3 windows with stride 1 give [[7, 8], [7, 8]] (7 is the maximum of two windows).
_A = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
# A readable map full of ties: every window has a repeated maximum.
_TIES = np.array([[3, 1, 2, 2], [3, 0, 2, 1], [1, 1, 0, 4], [0, 1, 4, 4]], dtype=float)
_DY = np.array([[1, 2], [3, 4]], dtype=float)


def _reference(dy, x, k, s):
    return np.asarray(max_pool2d_backward(dy, x, k, s, backend="reference"), dtype=float)


def _case(name, dy, x, k, s, *, slide=False) -> Case:
    dy, x = np.asarray(dy, dtype=float), np.asarray(x, dtype=float)
    return Case(
        name=name,
        function="max_pool2d_backward",
        args=(dy, x, int(k), None if s is None else int(s)),
        expected=_reference(dy, x, k, s),
        slide=slide,
        output_names=("dx",),
        repeat=2,
        context={"pool_size": int(k), "stride": int(k if s is None else s)},
    )


def _random_case(rng, n, h, w, c, k, s, low=0, high=4) -> Case:
    step = k if s is None else s
    oh, ow = (h - k) // step + 1, (w - k) // step + 1
    x = rng.integers(low, high, size=(n, h, w, c))  # few distinct values: ties in most windows
    dy = rng.integers(1, 6, size=(n, oh, ow, c)) * rng.choice([-1, 1], size=(n, oh, ow, c))  # never 0
    if low < 0 and high <= 0:
        name = _("random: x {n}×{h}×{w}×{c}, pool {k}, stride {s}, all negative")
    else:
        name = _("random: x {n}×{h}×{w}×{c}, pool {k}, stride {s}")
    name = name.format(n=n, h=h, w=w, c=c, k=k, s=s)
    return _case(name, dy, x, k, s)


def cases(rng: np.random.Generator) -> list[Case]:
    """Lesson 06's hand-pooled map first, then a map of ties, then random shapes (small integers)."""
    out = [
        _case(_("lesson 06: 4×4 map, pool 2, stride 2"), one_image(_DY), one_image(_A), 2, 2, slide=True),
        _case(
            _("lesson 06: 4×4 map, pool 3, stride 1 (overlapping)"),
            one_image(_DY),
            one_image(_A),
            3,
            1,
            slide=True,
        ),
        _case(
            _("ties: a 4×4 map of tied maxima, pool 2"),
            one_image(_DY),
            one_image(_TIES),
            2,
            2,
        ),
    ]
    shapes = [
        # n, h, w, c, k, s
        (2, 6, 6, 2, 2, 2),
        (1, 8, 5, 3, 3, 2),  # overlapping windows; (8 − 3) % 2 = 1: the last row belongs to no window
        (2, 5, 6, 1, 2, 1),  # overlapping, stride 1
        (1, 9, 8, 2, 3, 3),  # (8 − 3) % 3 = 2: the last two columns belong to no window
        (1, 6, 7, 2, 2, None),  # stride None → 2; the last column belongs to no window
        (2, 4, 4, 2, 4, 1),  # one window per channel: ties among 16 numbers
    ]
    out += [_random_case(rng, *s) for s in shapes]
    out.append(_random_case(rng, 1, 5, 5, 2, 2, 1, low=-4, high=0))  # a maximum below 0 is still a maximum
    return out


# --------------------------------------------------------------------------------------------------------------
# What the mistakes compute


def _grad(dy, x, k, step, *, rule="first", assign=None):
    """The backward loops with a mistake switched on.

    Args:
        rule: who gets a window's dy: ``"first"`` (TensorFlow), ``"last"`` or ``"every"`` tied maximum,
            ``"split"`` (dy shared equally among the ties), ``"window"`` (every pixel of the window),
            ``"mean"`` (dy / K² to every pixel, average pooling's gradient).
        assign: ``None`` (add), ``"pixel"`` (``=`` on the chosen pixels) or ``"window"`` (``=`` on the whole
            window, zeros included): overlapping windows overwrite each other.
    """
    dx = np.zeros_like(x, dtype=float)
    for n in range(dy.shape[0]):
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                for c in range(dy.shape[3]):
                    r, q = i * step, j * step
                    win = x[n, r : r + k, q : q + k, c]
                    flat = win.ravel()
                    ties = flat == flat.max()
                    mask = np.zeros(flat.size)
                    if rule == "first":
                        mask[np.argmax(ties)] = 1
                    elif rule == "last":
                        mask[flat.size - 1 - np.argmax(ties[::-1])] = 1
                    elif rule == "every":
                        mask[ties] = 1
                    elif rule == "split":
                        mask[ties] = 1 / ties.sum()
                    elif rule == "window":
                        mask[:] = 1
                    elif rule == "mean":
                        mask[:] = 1 / flat.size
                    g = (mask * dy[n, i, j, c]).reshape(win.shape)
                    region = dx[n, r : r + k, q : q + k, c]
                    if assign == "window":
                        region[...] = g
                    elif assign == "pixel":
                        region[mask.reshape(win.shape) != 0] = g[mask.reshape(win.shape) != 0]
                    else:
                        region += g
    return dx


def _mistakes(case: Case):
    """``(code, candidate, message)`` for each typical mistake, most telling first."""
    dy, x, k = case.args[0], case.args[1], case.args[2]
    s = case.context["stride"]
    out = []
    if s != 1:
        out.append(
            (
                "stride_ignored",
                _grad(dy, x, k, 1),
                _(
                    "Stride ignored: your window (i, j) starts at row i and column j, but with stride S = {s} it "
                    "starts at row i·S and column j·S (the forward pass's windows)."
                ).format(s=s),
            )
        )
    example = _tie_example(dy, x, k, s)
    out += [
        (
            "every_maximum",
            _grad(dy, x, k, s, rule="every"),
            _(
                "Several pixels of a window can share the maximum (here: {example}). Your code sends dy to EVERY "
                "tied maximum; the forward pass took one number, so dy goes to one pixel only: TensorFlow's rule "
                "picks the first maximum in reading order (row by row, left to right)."
            ).format(example=example),
        ),
        (
            "last_maximum",
            _grad(dy, x, k, s, rule="last"),
            _(
                "Several pixels of a window can share the maximum (here: {example}). Your code sends dy to the LAST "
                "tied maximum (a comparison with >= keeps moving to later ties); TensorFlow's rule takes the FIRST "
                "in reading order: move only on a strictly larger number."
            ).format(example=example),
        ),
        (
            "split_among_ties",
            _grad(dy, x, k, s, rule="split"),
            _(
                "Several pixels of a window can share the maximum (here: {example}). Your code shares dy equally "
                "among the tied maxima; TensorFlow's rule gives all of it to the first maximum in reading order (row "
                "by row, left to right)."
            ).format(example=example),
        ),
    ]
    if s < k:
        overwrites = (
            (
                "pixel",
                N_(
                    "With pool size {k} and stride {s} the windows overlap, and one pixel can be the maximum of "
                    "several windows: it must get the SUM of their dy. Your code keeps only the last window's value "
                    "(= instead of +=)."
                ),
            ),
            (
                "window",
                N_(
                    "With pool size {k} and stride {s} the windows overlap, and one pixel can be the maximum of "
                    "several windows: it must get the SUM of their dy. Your code keeps only the last window's values: "
                    "assigning the whole window (zeros included) wipes out what earlier windows sent. Add (+=) "
                    "instead of assigning."
                ),
            ),
        )
        for how, message in overwrites:
            out.append(("overlap_overwrites", _grad(dy, x, k, s, assign=how), _(message).format(k=k, s=s)))
    out += [
        (
            "whole_window",
            _grad(dy, x, k, s, rule="window"),
            _(
                "Your code sends dy to every pixel of the window. Only the maximum reached the output, so only that "
                "one pixel (the first maximum in reading order) gets dy; the others get 0."
            ),
        ),
        (
            "whole_window",
            _grad(dy, x, k, s, rule="mean"),
            _(
                "Your code spreads dy / {kk} over the whole window: that is average pooling's gradient. Max pooling "
                "sends all of dy to the window's first maximum (in reading order) and 0 elsewhere."
            ).format(kk=k * k),
        ),
    ]
    return out


def _tie_example(dy, x, k, s) -> str:
    """The first window with a tied maximum, in words."""
    for n in range(dy.shape[0]):
        for c in range(dy.shape[3]):
            for i in range(dy.shape[1]):
                for j in range(dy.shape[2]):
                    win = x[n, i * s : i * s + k, j * s : j * s + k, c]
                    if np.sum(win == win.max()) > 1:
                        return _(
                            "window ({i}, {j}) of image {n}, channel {c} has {count} pixels equal to {value}"
                        ).format(i=i, j=j, n=n, c=c, count=int(np.sum(win == win.max())), value=number_text(win.max()))
    return _("none in this case")


def _dx_detail(case: Case, idx) -> str:
    dy, x, k = case.args[0], case.args[1], case.args[2]
    s = case.context["stride"]
    n, r, q, c = idx
    lines = [
        _("x[{n}, {r}, {q}, {c}] = {value}. The windows that contain it (pool {k}, stride {s}):").format(
            n=n, r=r, q=q, c=c, value=number_text(x[idx]), k=k, s=s
        )
    ]
    total, sends = 0.0, []
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            r0, q0 = i * s, j * s
            if not (r0 <= r < r0 + k and q0 <= q < q0 + k):
                continue
            win = x[n, r0 : r0 + k, q0 : q0 + k, c]
            a, b = np.unravel_index(int(np.argmax(win)), win.shape)
            mine = (r0 + a, q0 + b) == (r, q)
            g = dy[n, i, j, c]
            lines.append(
                "  "
                + _("window ({i}, {j}): rows {r0}–{r1}, columns {q0}–{q1}:").format(
                    i=i, j=j, r0=r0, r1=r0 + k - 1, q0=q0, q1=q0 + k - 1
                )
            )
            lines.append(window_text(win, "      "))
            ties = int(np.sum(win == win.max()))
            if ties > 1 and mine:
                verdict = _("its first of {ties} maxima {max} is at ({a}, {b}) — this pixel: it gets {dy} = {value}")
            elif ties > 1:
                verdict = _(
                    "its first of {ties} maxima {max} is at ({a}, {b}) — another pixel, so this one gets nothing of "
                    "{dy} = {value}"
                )
            elif mine:
                verdict = _("its maximum {max} is at ({a}, {b}) — this pixel: it gets {dy} = {value}")
            else:
                verdict = _(
                    "its maximum {max} is at ({a}, {b}) — another pixel, so this one gets nothing of {dy} = {value}"
                )
            lines.append(
                "    "
                + verdict.format(
                    ties=ties,
                    max=number_text(win.max()),
                    a=r0 + a,
                    b=q0 + b,
                    dy=f"dy[{n}, {i}, {j}, {c}]",
                    value=number_text(g),
                )
            )
            if mine:
                total += g
                sends.append(g)
    if len(lines) == 1:
        lines.append("  " + _("none: no window reaches this pixel, so its gradient is 0."))
    elif sends:
        terms = " + ".join(number_text(v, in_sum=True) for v in sends)
        # one window: "dx = 4", not "dx = 4 = 4"
        lines.append(f"  dx = {number_text(total)}" if len(sends) == 1 else f"  dx = {terms} = {number_text(total)}")
    else:
        lines.append("  dx = 0")
    return "\n".join(lines)


def diagnose(case: Case, got) -> Diagnosis | None:
    """The most specific explanation of a wrong ``dx``; see the module docstring."""
    tol = case.tolerance
    if not isinstance(got, (np.ndarray, list, tuple)):  # None, a number: the framework's type message says it better
        return None
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return None
    dy, x, k = case.args[0], case.args[1], case.args[2]
    s = case.context["stride"]
    expected = case.expected
    if got.shape != expected.shape:
        h, w = x.shape[1], x.shape[2]
        why = _("dx is the gradient of x, so it has x's shape (N, H, W, C) = {shape}.").format(
            shape=shape_text(x.shape)
        )
        if got.shape == dy.shape:
            why += " " + _(
                "Yours has the pooled output's shape: each dy[n, i, j, c] must be put back at a pixel of its {k}×{k} "
                "window in x."
            ).format(k=k)
        elif got.ndim == 4 and got.shape[1:3] == ((dy.shape[1] - 1) * s + k, (dy.shape[2] - 1) * s + k):
            why += " " + _(
                "Yours stops where the last window ends ({rows} windows down, {columns} across); the rows/columns no "
                "window reaches still belong to dx, with gradient 0."
            ).format(rows=size_formula_text(h, k, 0, s), columns=size_formula_text(w, k, 0, s, letter="U"))
        return shape_mismatch("dx", got.shape, expected.shape, why)
    for code, cand, message in _mistakes(case):
        if same_shape_and_close(got, cand, tol):
            return Diagnosis(code, message)
    if np.any(expected):
        factor = float(np.vdot(got, expected) / np.vdot(expected, expected))
        if abs(factor - 1) > 1e-9 and factor != 0 and close(got, factor * expected, tol):
            message = _(
                "dx is the right answer times {factor}: each window's dy goes to its maximum unchanged (the maximum's "
                "derivative is 1)."
            )
            return Diagnosis("scaled", message.format(factor=number_text(factor, digits=4)))
    idx = first_wrong(got, expected, tol)
    if idx is None:
        return None
    return wrong_element("dx", idx, got[idx], expected[idx], _dx_detail(case, idx))
