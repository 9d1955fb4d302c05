"""Text the graders share when they explain a wrong answer: formulas, windows, product sums.

Everything here is written the way the slides (seeds/003) write it: the output
size ``T = (N + 2·P − K)/S + 1`` with the numbers substituted, and one output
pixel as the sum of the window's products, ``60·0 + 113·(−1) + … = 266``.
Negative numbers are written with a true minus and in parentheses inside a sum.

The report wraps long lines at spaces (``textwrap``, 79 columns), so a formula joins its terms with
NO-BREAK SPACEs (U+00A0, which ``textwrap`` does not break at) and may break only after an ``=``;
a product sum too long for one line comes back already broken at its ``+`` signs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convlab.exercises.case import Diagnosis
from convlab.exercises.compare import format_index, format_matrix, format_number
from convlab.util.i18n import _

__all__ = [
    "number_text",
    "size_formula_text",
    "product_sum_text",
    "window_text",
    "window_place_text",
    "conv_window_text",
    "shape_text",
    "shape_mismatch",
    "wrong_element",
]

MINUS = "−"
NBSP = "\u00a0"  # NO-BREAK SPACE: textwrap breaks only at ASCII whitespace
# The room a detail line has in the report: 79 columns less the report's 6-space indent of a diagnosis.
_REPORT_WIDTH = 79 - 6


def number_text(v: Any, *, in_sum: bool = False, digits: int | None = None) -> str:
    """A number as the slides write it: ``266``, ``−61``, ``0.25``; in a sum a negative one in parentheses: ``(−1)``.

    ``digits`` (optional) rounds a non-integer to that many significant digits (product sums of random
    floats stay readable); integers are always exact.
    """
    v = float(v)
    if digits is not None and np.isfinite(v) and v != round(v):
        text = f"{v:.{digits}g}"
    else:
        text = format_number(v)
    if text.startswith("-"):
        text = MINUS + text[1:]
        if in_sum:
            text = f"({text})"
    return text


def _pad_text(p: int | tuple[int, int]) -> str:
    if isinstance(p, tuple):
        top, bottom = p
        return f"2·{top}" if top == bottom else f"{top} + {bottom}"
    return f"2·{p}"


def size_formula_text(n: int, k: int, p: int | tuple[int, int] | None, s: int, letter: str = "T") -> str:
    """The slides' output size with the numbers put in: ``T = (5 + 2·1 − 3)/2 + 1 = 3``.

    Source: course slides (seeds/003), ``T = (N + 2·P − K)/S + 1``, floored as Keras does
    (``conv_utils.conv_output_length``). When ``N + 2P − K`` is not a multiple of ``S`` the floor
    is shown: ``T = ⌊(6 + 2·0 − 3)/2⌋ + 1 = ⌊3/2⌋ + 1 = 2``. The spaces inside each side of an ``=``
    are NO-BREAK SPACEs (:data:`NBSP`), so a wrapped line never splits ``(5 + 2·1 − 3)/2 + 1``.

    Args:
        n: input length ``N``; k: window length ``K``; s: stride ``S``.
        p: pad on each side ``P``, or ``(before, after)`` when they differ ("same" with an even window);
            ``None`` for an operation without padding (pooling): ``T = (5 − 2)/2 + 1 = 2``.
        letter: the name of the result (``"T"`` rows, ``"U"`` columns).
    """
    total_pad = 0 if p is None else sum(p) if isinstance(p, tuple) else 2 * p
    span = n + total_pad - k
    out = span // s + 1
    inner = f"({n} − {k})/{s}" if p is None else f"({n} + {_pad_text(p)} − {k})/{s}"
    if span % s == 0:
        steps = [f"{inner} + 1 = {out}"]
    else:
        steps = [f"⌊{inner}⌋ + 1", f"⌊{number_text(span)}/{s}⌋ + 1 = {out}"]
    # A wrapped report line may break after an "=", never inside an expression.
    return f"{letter}{NBSP}= " + " = ".join(step.replace(" ", NBSP) for step in steps)


def product_sum_text(window: Any, weights: Any, *, digits: int = 4, width: int = 68, indent: str = "") -> str:
    """The slide-style sum: the window's numbers times the weights, summed, in row-major order.

    ``product_sum_text([[60, 113], [73, 121]], [[0, -1], [-1, 5]])`` →
    ``"60·0 + 113·(−1) + 73·(−1) + 121·5 = 419"`` (slides, seeds/003: ``60*0 + 113*(-1) + … = 266``).
    Non-integers are shown to ``digits`` significant digits; the total is computed exactly.

    A sum longer than ``width`` characters is broken at its ``" + "`` into several lines, each at most
    ``width`` long (unless one product alone is longer), the first starting as the one-line form does
    and each further one with ``indent + "  + "``: the report prints indented lines as they are, so
    the caller keeps them inside its 79 columns (``width`` = the room after the caller's prefix).

    Args:
        window: the input numbers the kernel covers, any shape; weights: the same shape.
        width: the longest line (68: the report's 79 columns less its 6-space indent, a 4-space indent
            and one to spare); indent: put before each continuation line (the caller's own indent).
    """
    w = np.asarray(window, dtype=float).ravel()
    k = np.asarray(weights, dtype=float).ravel()
    if w.shape != k.shape:
        raise ValueError(f"window has {w.size} numbers but weights have {k.size}")
    terms = [
        f"{number_text(a, in_sum=True, digits=digits)}·{number_text(b, in_sum=True, digits=digits)}"
        for a, b in zip(w, k)
    ]
    total = float(np.dot(w, k)) if w.size else 0.0
    ending = f" = {number_text(total)}"
    one_line = f"{' + '.join(terms) or '0'}{ending}"
    if len(one_line) <= width or not terms:
        return one_line
    lines = [terms[0]]
    for term in terms[1:]:
        if len(lines[-1]) + 3 + len(term) <= width:
            lines[-1] += " + " + term
        else:
            lines.append("  + " + term)
    if len(lines[-1]) + len(ending) > width:
        # Not "= 266" alone on a line: the last product goes down with it, unless it is alone already.
        head, sep, last = lines[-1].rpartition(" + ")
        if sep and head.strip():
            lines[-1:] = [head, "  + " + last]
        else:
            lines.append(" ")
    lines[-1] += ending
    return "\n".join(lines[:1] + [indent + line for line in lines[1:]])


def window_text(window: Any, indent: str = "    ") -> str:
    """A small matrix of the window's numbers (rows of :func:`format_matrix`)."""
    return format_matrix(window, indent)


def window_place_text(i: int, j: int, kh: int, kw: int, stride: int = 1) -> str:
    """Where the window of output pixel ``(i, j)`` lies: ``"rows 2–4 and columns 0–2 (stride 2: starting at row
    2·1 = 2, column 2·0 = 0)"`` (its top-left corner at row ``i·S``, column ``j·S``; the stride part only when S ≠ 1).
    """
    r0, c0 = i * stride, j * stride
    if stride == 1:
        where = _("rows {r0}–{r1} and columns {c0}–{c1}")
    else:
        where = _(
            "rows {r0}–{r1} and columns {c0}–{c1} (stride {s}: starting at row {s}·{i} = {r0}, column {s}·{j} = {c0})"
        )
    return where.format(r0=r0, r1=r0 + kh - 1, c0=c0, c1=c0 + kw - 1, s=stride, i=i, j=j)


def conv_window_text(
    x_padded_image: Any,
    kernel: Any,
    bias: Any,
    i: int,
    j: int,
    co: int,
    stride: int = 1,
    *,
    show_window: bool | None = None,
    indent: str = "    ",
) -> str:
    """How output pixel ``(i, j)`` of filter ``co`` is computed, as the slides do it by hand.

    Names the window (rows ``i·S … i·S + KH − 1`` and columns ``j·S … j·S + KW − 1`` of the padded
    input), writes one product-sum line per input channel, then adds the channels and the bias:
    ``3 + 2 + (−1) + bias 1 = 5``. With one channel (or ``show_window=True``) the window's numbers are
    shown as a small matrix first.

    Args:
        x_padded_image: ``(Hp, Wp, C)`` — one image, already padded (or ``(Hp, Wp)``, one channel).
        kernel: ``(KH, KW, C, C_out)`` (or ``(KH, KW)``, one channel and one filter).
        bias: ``(C_out,)``, or ``None`` when the operation has none.
        i, j: output row and column; co: the filter; stride: ``S``.
    """
    x = np.asarray(x_padded_image, dtype=float)
    if x.ndim == 2:
        x = x[:, :, None]
    w = np.asarray(kernel, dtype=float)
    if w.ndim == 2:
        w = w[:, :, None, None]
    kh, kw, c = w.shape[0], w.shape[1], w.shape[2]
    r0, c0 = i * stride, j * stride
    win = x[r0 : r0 + kh, c0 : c0 + kw, :]
    show = (c == 1) if show_window is None else show_window
    where = window_place_text(i, j, kh, kw, stride)
    if c > 1 or bias is not None:
        lines = [_("The window covers {where} of the padded input.").format(where=where)]
    else:
        lines = [_("The window covers {where} of the input.").format(where=where)]
    partial = []
    for ch in range(c):
        label = _("channel {channel}:").format(channel=ch) + " " if c > 1 else ""
        if show:
            if c > 1:
                lines.append(indent + _("channel {channel} window:").format(channel=ch))
            lines.append(window_text(win[:, :, ch], indent + "  "))
        room = _REPORT_WIDTH - len(indent) - len(label)
        lines.append(
            f"{indent}{label}"
            + product_sum_text(win[:, :, ch], w[:, :, ch, co], width=room, indent=indent + " " * len(label))
        )
        partial.append(float(np.sum(win[:, :, ch] * w[:, :, ch, co])))
    total = sum(partial)
    if bias is not None:
        b = float(np.asarray(bias, dtype=float).reshape(-1)[co])
        total += b
        channels = " + ".join(number_text(v, in_sum=True, digits=6) for v in partial)
        text = _("{sums} + bias {bias} = {total}").format(
            sums=channels, bias=number_text(b, in_sum=True), total=number_text(total)
        )
        lines.append(indent + text)
    elif c > 1:
        channels = " + ".join(number_text(v, in_sum=True, digits=6) for v in partial)
        lines.append(f"{indent}{channels} = {number_text(total)}")
    return "\n".join(lines)


def shape_text(shape: Any) -> str:
    """``(1, 3, 3, 2)``; a one-axis shape as ``(3,)``."""
    shape = tuple(int(d) for d in shape)
    return str(shape)


def shape_mismatch(name: str, got_shape: Any, expected_shape: Any, why: str) -> Diagnosis:
    """A ``wrong_shape`` diagnosis: ``"out has shape (1, 4, 4, 2); expected (1, 3, 3, 2): T = … = 3 rows …"``.

    ``why`` explains the expected shape with the formula's numbers (see :func:`size_formula_text`).
    """
    message = (
        _("{name} has shape {got}; expected {expected}: {why}")
        if why
        else _("{name} has shape {got}; expected {expected}")
    )
    return Diagnosis(
        "wrong_shape",
        message.format(name=name, got=shape_text(got_shape), expected=shape_text(expected_shape), why=why),
    )


def wrong_element(
    name: str, index: tuple[int, ...], got_value: Any, expected_value: Any, detail: str = ""
) -> Diagnosis:
    """A ``first_wrong`` diagnosis: ``"out[0, 1] is 12 but should be −61."`` then ``detail`` (a window, a sum)."""
    idx = format_index(name, tuple(int(v) for v in index))
    message = _("{index} is {got} but should be {expected} (the first wrong number).").format(
        index=idx, got=number_text(got_value), expected=number_text(expected_value)
    )
    if detail:
        message += "\n" + detail
    return Diagnosis("first_wrong", message)
