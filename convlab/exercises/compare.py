"""Comparing a learner's output with the reference: errors, matches, the first wrong element.

The relative error is taken against the largest expected magnitude (at least 1),
``max |got − expected| / max(max |expected|, 1)``: an element-wise ratio would
blow up where the expected value is near zero, which a correct float solution
can land on. Integer answers (output sizes) must be exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "relative_error",
    "close",
    "same_shape_and_close",
    "first_wrong",
    "format_index",
    "format_number",
    "format_matrix",
]


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    """``max |got − expected| / max(max |expected|, 1)``; ``inf`` when the shapes differ or ``got`` is not finite."""
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if got.shape != expected.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    diff = np.abs(got - expected)
    if not np.all(np.isfinite(diff)):
        return float("inf")
    scale = max(float(np.max(np.abs(expected))), 1.0)
    return float(np.max(diff)) / scale


def close(got: Any, expected: Any, tolerance: float) -> bool:
    """Whether ``got`` matches ``expected`` (same shape, relative error within ``tolerance``)."""
    return relative_error(got, expected) <= tolerance


def same_shape_and_close(got: Any, candidate: Any, tolerance: float = 1e-6) -> bool:
    """Whether ``got`` is what a given mistake would produce (``candidate``); ``False`` on any shape mismatch."""
    try:
        g = np.asarray(got, dtype=float)
        c = np.asarray(candidate, dtype=float)
    except (TypeError, ValueError):
        return False
    return g.shape == c.shape and close(g, c, tolerance)


def first_wrong(got: np.ndarray, expected: np.ndarray, tolerance: float) -> tuple[int, ...] | None:
    """The index (row-major order) of the first element off by more than the tolerance; ``None`` if none is.

    ``got`` and ``expected`` must have the same shape.
    """
    got = np.asarray(got, dtype=float)
    expected = np.asarray(expected, dtype=float)
    scale = max(float(np.max(np.abs(expected))), 1.0) if expected.size else 1.0
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(got - expected) <= tolerance * scale)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))


def format_index(name: str, index: tuple[int, ...]) -> str:
    """``format_index("out", (0, 1, 2, 0))`` → ``"out[0, 1, 2, 0]"``."""
    return f"{name}[{', '.join(str(i) for i in index)}]"


def format_number(v: Any) -> str:
    """A number as a learner reads it: ``266``, ``-61``, ``0.25``, ``1.2346e-07``, ``nan``."""
    v = float(v)
    if np.isfinite(v) and v == round(v) and abs(v) < 1e15:
        return str(int(round(v)))
    return f"{v:.6g}"


def format_matrix(m: Any, indent: str = "    ") -> str:
    """A 2-D array as right-aligned rows of :func:`format_number`, one line per row."""
    m = np.atleast_2d(np.asarray(m, dtype=float))
    cells = [[format_number(v) for v in row] for row in m]
    width = max((len(c) for row in cells for c in row), default=1)
    return "\n".join(indent + " ".join(c.rjust(width) for c in row) for row in cells)
