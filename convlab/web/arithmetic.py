"""The numbers of the convolution-arithmetic page: output sizes with the slide's formula, and the slide's 5×5 example.

:func:`size_explanation` answers "what size is the output?" for one axis — ``N``,
``K``, ``P`` (an int, ``"valid"`` or ``"same"``) and ``S`` as the page's query
string gives them — with the engine's own helpers (:mod:`convlab.shapes`): the
formula with the numbers substituted, the pads, and where each window starts,
which the page's animation draws (as Dumoulin & Visin's conv_arithmetic
figures). Impossible combinations raise the engine's own error, unchanged.

:func:`sharpen_example` is the slides' worked example (seeds/003, "Convolución
2D"; ``lessons/03_convolution_by_hand.py``; ``../shared/reference-numbers.md``):
the sharpen kernel over a 5×5 input, with and without one ring of zero padding,
every output number written as the slides write it.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from convlab.ops.conv import correlate2d
from convlab.shapes.sizes import conv_output_size, output_size_formula, resolve_padding
from convlab.teach.lesson import product_term
from convlab.util.i18n import N_, _

__all__ = ["size_explanation", "sharpen_example", "SHARPEN_INPUT", "SHARPEN_KERNEL", "MAX_POSITIONS"]

#: The slides' 5×5 input (seeds/003, "Convolución 2D"; lessons/03_convolution_by_hand.py;
#: ../shared/reference-numbers.md).
SHARPEN_INPUT = (
    (60, 113, 56, 139, 85),
    (73, 121, 54, 84, 128),
    (131, 99, 70, 129, 127),
    (80, 57, 115, 69, 134),
    (104, 126, 123, 95, 130),
)
#: The slides' sharpen kernel (same sources).
SHARPEN_KERNEL = ((0, -1, 0), (-1, 5, -1), (0, -1, 0))

#: The most window positions :func:`size_explanation` lists (the animation draws each one).
MAX_POSITIONS = 4096

_INT_TEXT = re.compile(r"[+-]?\d{1,60}")  # longer is no size anyone types; the engine refuses > 2**63 - 1

#: Each argument's query name and what the page calls it, for messages (translated when shown).
_NAMES = {"n": N_("n (the input size N)"), "k": N_("k (the kernel size K)"), "s": N_("s (the stride S)")}


def _int_arg(value: Any, key: str) -> Any:
    """A query string that holds a whole number → int; anything else is passed on for the engine to judge.

    Raises ValueError naming the parameter for a string that is not a whole number
    (``"abc"``, ``"1.5"``, ``""``): the engine would call it a type error, but on the page
    it is a value typed in a box.
    """
    if isinstance(value, str):
        text = value.strip()
        if not _INT_TEXT.fullmatch(text):
            raise ValueError(
                _("{name} must be a whole number, got {value}").format(name=_(_NAMES[key]), value=repr(value[:40]))
            )
        return int(text)
    return value


def _padding_arg(value: Any) -> Any:
    """``p``: ``"valid"``/``"same"`` (any case), a whole-number string → int; other values go to the engine."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("valid", "same"):
            return text.lower()
        if _INT_TEXT.fullmatch(text):
            return int(text)
        raise ValueError(
            _('p (the padding P) must be a whole number, "valid" or "same", got {value}').format(value=repr(value[:40]))
        )
    return value


def _plain(value: Any) -> Any:
    """A value the engine accepted, as plain Python: ints (from NumPy ints or 0-d arrays), str, lists of them."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return int(value)


def _one_axis(value: Any) -> int:
    """A size the engine accepted for one axis: an int, or a pair of two equal ints (→ that int)."""
    value = _plain(value)
    return value[0] if isinstance(value, list) else value


def size_explanation(n: Any, kernel_size: Any, padding: Any, strides: Any) -> dict[str, Any]:
    """One axis of a convolution: the output size, the slide's formula, the pads and the window positions.

    Args:
        n: the input size ``N`` (an int ≥ 0, or a string of one, as the query gives it).
        kernel_size: ``K`` (an int ≥ 1, or a string of one).
        padding: ``P``: an int ≥ 0 (or a string of one), ``"valid"`` or ``"same"`` (any case).
        strides: ``S`` (an int ≥ 1, or a string of one).

    Returns:
        ``{"n", "kernel_size", "padding" (the int, "valid" or "same"; a pair form the engine accepts, as
        lists), "strides" (plain ints: NumPy ints and pairs of two equal ints become the int),
        "output_size": int, "formula": output_size_formula(...)'s text (e.g.
        ``T = (5 + 2·1 − 3)/2 + 1 = 3``), "pads": [before, after], "padded_size": int,
        "positions": [the first padded index of each window, in order] or None when there
        are more than MAX_POSITIONS, "covered": bool (the windows reach the padded input's
        last row: ``(N + P_before + P_after − K)`` is a multiple of ``S``), "uncovered": how many of the
        last rows/columns no window reaches}``.

    Raises:
        ValueError / TypeError: the engine's own (:func:`convlab.shapes.conv_output_size`),
            unchanged — e.g. ``kernel_size 7 is larger than the padded input 5 (n=5,
            padding=0)``; and a ValueError naming ``n``, ``k``, ``p`` or ``s`` for a
            query string that is not a whole number (or ``valid``/``same`` for ``p``).
    """
    n = _int_arg(n, "n")
    k = _int_arg(kernel_size, "k")
    p = _padding_arg(padding)
    s = _int_arg(strides, "s")
    out = conv_output_size(n, k, p, s)  # the engine's checks and messages
    formula = output_size_formula(n, k, p, s)
    # The engine accepted them: NumPy ints, 0-d arrays and pairs of two equal ints (one axis) become the plain
    # ints the page and JSON take (a pair passed on as (k, k) would be read as one malformed kernel size).
    n, k, s, p = _plain(n), _one_axis(k), _one_axis(s), _plain(p)
    before, after, *_cols = (int(v) for v in resolve_padding((n, n), (k, k), p, (s, s)))
    padded = n + before + after
    span = padded - k
    return {
        "n": n,
        "kernel_size": k,
        "padding": p,
        "strides": s,
        "output_size": out,
        "formula": formula,
        "pads": [before, after],
        "padded_size": padded,
        "positions": [i * s for i in range(out)] if out <= MAX_POSITIONS else None,
        "covered": bool(span % s == 0),
        "uncovered": span % s,
    }


def _lines(x: np.ndarray, k: np.ndarray, out: np.ndarray) -> list[list[str]]:
    """Every output number's line, ``60*0 + 113*(-1) + … = 266``, as the slides and lesson 03 write it."""
    kh, kw = k.shape
    lines = []
    for i in range(out.shape[0]):
        row = []
        for j in range(out.shape[1]):
            window = x[i : i + kh, j : j + kw]
            terms = " + ".join(product_term(p, q) for p, q in zip(window.ravel(), k.ravel()))
            row.append(f"{terms} = {int(out[i, j])}")
        lines.append(row)
    return lines


def sharpen_example() -> dict[str, Any]:
    """The slides' 5×5 sharpen example, with no padding and with one ring of zeros (stride 1).

    Returns:
        ``{"input": 5×5 ints, "kernel": 3×3 ints, "source": text, "cases": [{"padding": 0,
        "padded_input": 5×5, "output": 3×3 ints, "lines": 3×3 strings, "formula": text,
        "output_size": 3}, {"padding": 1, "padded_input": 7×7, "output": 5×5 ints,
        "lines": 5×5 strings, "formula": text, "output_size": 5}]}``. ``lines[i][j]`` is
        ``output[i][j]`` written out: the nine products of the window at ``(i, j)`` of the
        padded input and the kernel, e.g. ``60*0 + 113*(-1) + 56*0 + 73*(-1) + 121*5 +
        54*(-1) + 131*0 + 99*(-1) + 70*0 = 266``. Outputs come from
        :func:`convlab.correlate2d` (the reference backend); the slide's numbers are 266,
        −61, −30 / 116, −47, 295 / −135, 256, −128 without padding.
    """
    x = np.array(SHARPEN_INPUT, dtype=np.int64)
    k = np.array(SHARPEN_KERNEL, dtype=np.int64)
    cases = []
    for pad in (0, 1):
        out = np.rint(correlate2d(x, k, pad, backend="reference")).astype(np.int64)
        xp = np.pad(x, pad)
        cases.append(
            {
                "padding": pad,
                "padded_input": xp.tolist(),
                "output": out.tolist(),
                "lines": _lines(xp, k, out),
                "formula": output_size_formula(5, 3, pad, 1),
                "output_size": int(out.shape[0]),
            }
        )
    return {
        "input": x.tolist(),
        "kernel": k.tolist(),
        "source": "the course slides (seeds/003, 'Convolución 2D'); lessons/03_convolution_by_hand.py",
        "cases": cases,
    }
