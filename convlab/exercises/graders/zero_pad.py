"""Grader of exercise 3: ``zero_pad(x, padding)``: P zeros around the rows and columns of every image.

``x (N, H, W, C)`` (Keras' NHWC) → ``(N, H + 2P, W + 2P, C)``, x in the middle, zeros around: the
slides' "Convolución 2D - Padding" (seeds/003) surround the 5×5 input with one ring of zeros.
Expected values: :func:`convlab.util.arrays.pad_nhwc` (what every convlab operation pads with), of x's
dtype; only the values are graded, so a float answer for integer or float32 x passes too (the stub
allows either: ``np.zeros`` without a dtype is the natural first try and its numbers are right).
"""

from __future__ import annotations

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import first_wrong, format_index, same_shape_and_close
from convlab.exercises.diagnosis import number_text, shape_mismatch, shape_text, wrong_element
from convlab.exercises.slides import IMAGE, THREE_CHANNEL_INPUT, one_image
from convlab.util.arrays import pad_nhwc
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "cases", "diagnose"]

FUNCTION = "zero_pad"

HINTS: tuple[str, ...] = (
    N_(
        "The answer is a new, bigger array full of zeros, with x copied into its middle. Only the rows and the "
        "columns grow; the batch and the channels stay as they are."
    ),
    N_(
        "x has shape (N, H, W, C); the result has shape (N, H + 2P, W + 2P, C): P zeros on top, P at the bottom, "
        "P on the left and P on the right. x's pixel (i, j) lands at (i + P, j + P)."
    ),
    N_(
        "Make an array of zeros of that shape and of x's dtype, then copy x into the block of rows P … P + H − 1 "
        "and columns P … P + W − 1 (all images, all channels)."
    ),
)


def _reference(x: np.ndarray, p: int) -> np.ndarray:
    return np.array(pad_nhwc(x, (p, p, p, p)), copy=True)


def _case(name: str, x: np.ndarray, p: int, *, slide: bool = False) -> Case:
    return Case(name=name, function=FUNCTION, args=(x, p), expected=_reference(x, p), slide=slide)


def cases(rng: np.random.Generator) -> list[Case]:
    """The slides' 5×5 image and 5×5×3 input padded by 1, then random batches, channels, P and dtypes."""

    def nonzero(shape, dtype):
        if np.issubdtype(dtype, np.integer):
            return (rng.integers(1, 10, shape) * rng.choice([-1, 1], shape)).astype(dtype)
        v = rng.standard_normal(shape)
        return np.where(np.abs(v) < 0.1, 0.5, v).astype(dtype)

    return [
        _case(_("slide: the 5×5 image with P = 1"), one_image(IMAGE), 1, slide=True),
        _case(_("slide: the 5×5×3 input with P = 1"), one_image(THREE_CHANNEL_INPUT), 1, slide=True),
        _case(_("2 images 3×4×2, P = 2"), nonzero((2, 3, 4, 2), np.float64), 2),
        _case(_("1 image 4×2×3, float32, P = 1"), nonzero((1, 4, 2, 3), np.float32), 1),
        _case(_("2 images 2×3×1, integers, P = 3"), nonzero((2, 2, 3, 1), np.int64), 3),
        _case(_("2 images 5×3×3, P = 1"), nonzero((2, 5, 3, 3), np.float64), 1),
        _case(_("1 image 3×3×2, P = 0 (an equal copy)"), nonzero((1, 3, 3, 2), np.float64), 0),
    ]


def _expected_text(x_shape: tuple[int, ...], p: int) -> str:
    n, h, w, c = x_shape
    return _(
        "(N, H + 2P, W + 2P, C) = ({n}, {h} + 2·{p}, {w} + 2·{p}, {c}) = ({n}, {hp}, {wp}, {c}): P = {p} zeros on "
        "each side of the rows and of the columns, none on the batch or channel axes"
    ).format(n=n, h=h, w=w, c=c, p=p, hp=h + 2 * p, wp=w + 2 * p)


def _placement(g: np.ndarray, x: np.ndarray, p: int, tol: float) -> tuple[int, int] | None:
    """The offset ``(a, b)`` at which ``x`` sits inside ``g`` (same N and C), or ``None``."""
    h, w = x.shape[1], x.shape[2]
    for a in range(g.shape[1] - h + 1):
        for b in range(g.shape[2] - w + 1):
            if same_shape_and_close(g[:, a : a + h, b : b + w, :], x, tol):
                return a, b
    return None


def diagnose(case: Case, got) -> Diagnosis | None:
    """Padding on one side, on every axis or one axis, none, a non-zero border, x misplaced; else the first wrong."""
    x, p = case.args
    x = np.asarray(x)
    e = np.asarray(case.expected)
    g = np.asarray(got)
    tol = case.tolerance
    n, h, w, c = x.shape
    why = _expected_text(x.shape, p)

    if g.ndim != 4:
        return shape_mismatch("out", g.shape, e.shape, _("{why} (keep all four axes)").format(why=why))

    if g.shape != e.shape:
        gn, gh, gw, gc = g.shape
        if (gh, gw) == (h + 2 * p, w + 2 * p) and (gn, gc) != (n, c) and gn in (n, n + 2 * p) and gc in (c, c + 2 * p):
            if gn != n and gc != c:
                message = _(
                    "out has shape {got}; expected {expected}: you also padded the batch and channel axes. Zero "
                    "padding surrounds each image's rows and columns only: adding images or channels of zeros changes "
                    "what the batch is. Expected {why}."
                )
            elif gn != n:
                message = _(
                    "out has shape {got}; expected {expected}: you also padded the batch axis. Zero padding surrounds "
                    "each image's rows and columns only: adding images or channels of zeros changes what the batch "
                    "is. Expected {why}."
                )
            else:
                message = _(
                    "out has shape {got}; expected {expected}: you also padded the channel axis. Zero padding "
                    "surrounds each image's rows and columns only: adding images or channels of zeros changes what "
                    "the batch is. Expected {why}."
                )
            return Diagnosis(
                "padded_every_axis", message.format(got=shape_text(g.shape), expected=shape_text(e.shape), why=why)
            )
        if (gn, gc) == (n, c) and (gh, gw) == (h + p, w + p):
            message = _(
                "out has shape {got}; expected {expected}: you added P = {p} rows and P columns once, on one side "
                "only. The zeros go on BOTH sides — P on top and P at the bottom, P on the left and P on the right — "
                "so each side grows by 2·P. Expected {why}."
            )
            return Diagnosis(
                "padding_one_side",
                message.format(got=shape_text(g.shape), expected=shape_text(e.shape), p=p, why=why),
            )
        if (gn, gc) == (n, c) and (gh, gw) in {(h + 2 * p, w), (h, w + 2 * p)}:
            if gh != h:
                message = _(
                    "out has shape {got}; expected {expected}: you padded the rows but not the columns. Both grow by "
                    "2·P. Expected {why}."
                )
            else:
                message = _(
                    "out has shape {got}; expected {expected}: you padded the columns but not the rows. Both grow by "
                    "2·P. Expected {why}."
                )
            return Diagnosis(
                "padding_one_axis", message.format(got=shape_text(g.shape), expected=shape_text(e.shape), why=why)
            )
        if p > 0 and g.shape == x.shape:
            message = _(
                "out has the shape of x, {got}: no padding was added. With P = {p} it must be {expected}: {why}."
            )
            return Diagnosis(
                "padding_ignored", message.format(got=shape_text(g.shape), p=p, expected=shape_text(e.shape), why=why)
            )
        return shape_mismatch("out", g.shape, e.shape, why)

    gf = g.astype(np.float64)
    inner = gf[:, p : p + h, p : p + w, :]
    border = gf[~_inner_mask(g.shape, p, h, w)]
    # A whole border of non-zeros is a padding rule (ones, edge copies); a stray number is a plain wrong element.
    if same_shape_and_close(inner, x, tol) and np.count_nonzero(border) * 2 >= border.size:
        values = np.unique(border)
        edge = np.pad(x.astype(np.float64), ((0, 0), (p, p), (p, p), (0, 0)), mode="edge")
        if same_shape_and_close(gf, edge, tol):
            what = _("copies of x's edge pixels")
        elif values.size == 1:
            what = _("{value} everywhere").format(value=number_text(values[0]))
        else:
            what = _("numbers that are not 0")
        message = _(
            "x sits in the right place, but the border holds {what}. Zero padding fills the P = {p} rows and columns "
            "around each image with 0: the pixels outside the image contribute nothing to a convolution."
        )
        return Diagnosis("nonzero_padding", message.format(what=what, p=p))

    where = _placement(gf, x.astype(np.float64), p, tol)
    if where is not None and where != (p, p):
        a, b = where
        if p > 0 and (a in (0, 2 * p) or b in (0, 2 * p)):
            sides = []
            if a in (0, 2 * p):
                sides.append(_("all 2·P rows at the bottom") if a == 0 else _("all 2·P rows on top"))
            if b in (0, 2 * p):
                sides.append(_("all 2·P columns on the right") if b == 0 else _("all 2·P columns on the left"))
            detail = sides[0] if len(sides) == 1 else _("{rows} and {columns}").format(rows=sides[0], columns=sides[1])
            message = _(
                "out has the right shape, but x starts at row {a}, column {b} instead of row {p}, column {p}: the "
                "zeros are on one side only ({detail}). Put P = {p} on each side, so x's pixel (i, j) lands at "
                "(i + P, j + P)."
            )
            return Diagnosis("padding_one_side", message.format(a=a, b=b, p=p, detail=detail))
        message = _(
            "out has the right shape, but x starts at row {a}, column {b} instead of row {p}, column {p}: it is "
            "shifted. x's pixel (i, j) lands at (i + P, j + P), with P = {p} zeros above and to the left."
        )
        return Diagnosis("shifted", message.format(a=a, b=b, p=p))

    idx = first_wrong(gf, e, tol)
    if idx is None:
        return None
    i, j = idx[1], idx[2]
    if p <= i < p + h and p <= j < p + w:
        src = format_index("x", (idx[0], i - p, j - p, idx[3]))
        place = _("It is inside the image: it should be {source}.").format(source=src)
    else:
        place = _("It is in the border: it should be 0.")
    return wrong_element("out", idx, gf[idx], e[idx], place)


def _inner_mask(shape: tuple[int, ...], p: int, h: int, w: int) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    mask[:, p : p + h, p : p + w, :] = True
    return mask
