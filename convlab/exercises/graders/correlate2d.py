"""Grader of exercise 2: ``correlate2d(image, kernel)``, one channel, valid, stride 1.

``y[i, j] = Σ_u Σ_v image[i + u, j + v] · kernel[u, v]``, shape ``(H − KH + 1, W − KW + 1)``: the
slides' cross-correlation (seeds/003, lessons 02–03; what Keras' Conv2D computes, no flip). The slide
case is the 5×5 image ⋆ sharpen kernel → ``[[266, −61, −30], [116, −47, 295], [−135, 256, −128]]``.
Expected values: :func:`convlab.ops.conv.correlate2d` with ``backend="reference"``.
"""

from __future__ import annotations

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import first_wrong, format_matrix, same_shape_and_close
from convlab.exercises.diagnosis import conv_window_text, shape_mismatch, size_formula_text, wrong_element
from convlab.exercises.slides import DIAGONAL, HORIZONTAL_EDGES, IMAGE, SHARPEN
from convlab.ops.conv import correlate2d as reference_correlate2d
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "cases", "diagnose"]

FUNCTION = "correlate2d"

HINTS: tuple[str, ...] = (
    N_(
        "Each output number comes from one position of the kernel on the image: the window of the image it "
        "covers, multiplied number by number with the kernel, then summed. The kernel must stay inside the image."
    ),
    N_(
        "out[i, j] = Σ_u Σ_v image[i + u, j + v] · kernel[u, v], for i = 0 … H − KH and j = 0 … W − KW, so the "
        "output is (H − KH + 1) × (W − KW + 1). The kernel is not flipped. Slide check: "
        "60·0 + 113·(−1) + 56·0 + 73·(−1) + 121·5 + 54·(−1) + 131·0 + 99·(−1) + 70·0 = 266."
    ),
    N_(
        "Make the output array first, with that shape; then two loops over the output rows and columns; in each, "
        "take the KH × KW window starting at row i, column j, multiply it element-wise by the kernel and sum."
    ),
)


def _reference(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return np.asarray(reference_correlate2d(image, kernel, backend="reference"), dtype=np.float64)


def _case(name: str, image: np.ndarray, kernel: np.ndarray, *, slide: bool = False) -> Case:
    image = np.array(image, dtype=np.float64)  # a copy: the slides' numbers are read-only
    kernel = np.array(kernel, dtype=np.float64)
    return Case(
        name=name,
        function=FUNCTION,
        args=(image, kernel),
        expected=_reference(image, kernel),
        slide=slide,
    )


def _kernel(rng: np.random.Generator, kh: int, kw: int, ints: bool) -> np.ndarray:
    """A random kernel that differs from its flips and its transpose (so those mistakes show)."""
    while True:
        k = rng.integers(-3, 4, (kh, kw)).astype(np.float64) if ints else rng.standard_normal((kh, kw))
        flips = [k[::-1, ::-1]] if kh > 1 and kw > 1 else []
        flips += ([k[::-1, :]] if kh > 1 else []) + ([k[:, ::-1]] if kw > 1 else []) + ([k.T] if kh == kw > 1 else [])
        if np.any(k != 0) and not np.allclose(k, 1) and all(not np.allclose(k, f) for f in flips):
            return k


def _image(rng: np.random.Generator, h: int, w: int, ints: bool) -> np.ndarray:
    return rng.integers(-9, 10, (h, w)).astype(np.float64) if ints else rng.standard_normal((h, w))


def cases(rng: np.random.Generator) -> list[Case]:
    """The slides' 5×5 ⋆ sharpen first, then the slides' other filters and random shapes (H ≠ W, KH ≠ KW)."""
    out = [
        _case(_("slide: 5×5 image ⋆ sharpen kernel"), IMAGE, SHARPEN, slide=True),
        _case(_("slide's image ⋆ horizontal-edge filter"), IMAGE, HORIZONTAL_EDGES),
        _case(_("slide's image ⋆ 2×2 diagonal filter"), IMAGE, DIAGONAL),
    ]
    shapes = [
        ((6, 8), (2, 3), True),
        ((7, 5), (3, 2), False),
        ((9, 4), (4, 1), True),
        ((4, 6), (1, 1), True),
        ((3, 4), (3, 4), False),
        ((8, 7), (3, 3), False),
    ]
    for (h, w), (kh, kw), ints in shapes:
        if ints:
            name = _("{h}×{w} image ⋆ {kh}×{kw} kernel (small integers)").format(h=h, w=w, kh=kh, kw=kw)
        else:
            name = _("{h}×{w} image ⋆ {kh}×{kw} kernel").format(h=h, w=w, kh=kh, kw=kw)
        out.append(_case(name, _image(rng, h, w, ints), _kernel(rng, kh, kw, ints)))
    return out


def _sizes_text(h: int, w: int, kh: int, kw: int) -> str:
    t = size_formula_text(h, kh, 0, 1, "T")
    u = size_formula_text(w, kw, 0, 1, "U")
    return _("{t} rows and {u} columns (valid, stride 1: the kernel stays inside the image)").format(t=t, u=u)


def _matches(got: np.ndarray, candidate: np.ndarray, expected: np.ndarray, tol: float) -> bool:
    """``got`` is what the mistake gives, and the mistake does change the answer of this case."""
    return same_shape_and_close(got, candidate, tol) and not same_shape_and_close(candidate, expected, tol)


def _loop_stops_early(g: np.ndarray, e: np.ndarray, tol: float) -> str | None:
    """What a loop over ``range(H − KH)`` instead of ``range(H − KH + 1)`` (rows and/or columns) left out.

    ``"small"`` when the output was also made one row/column smaller (its numbers right), else the part
    left at zero in a right-sized output: ``"last row"``, ``"last column"`` or ``"last row and last column"``.
    """
    oh, ow = e.shape
    gh, gw = g.shape
    if (gh, gw) != (oh, ow):
        smaller = (gh, gw) in {(oh - 1, ow - 1), (oh - 1, ow), (oh, ow - 1)}
        return "small" if smaller and gh * gw > 0 and same_shape_and_close(g, e[:gh, :gw], tol) else None
    for rows, cols, what in (
        (oh - 1, ow - 1, "last row and last column"),  # names, not text: diagnose words each case
        (oh - 1, ow, "last row"),
        (oh, ow - 1, "last column"),
    ):
        if rows < 0 or cols < 0:
            continue
        cand = np.zeros_like(e)
        cand[:rows, :cols] = e[:rows, :cols]
        if _matches(g, cand, e, tol):
            return what
    return None


def _shift(g: np.ndarray, e: np.ndarray, tol: float) -> tuple[int, int] | None:
    """``(dr, dc)`` with ``g[i, j] == e[i + dr, j + dc]`` wherever both exist (≥ 2 such numbers), else ``None``."""
    oh, ow = e.shape
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            if (dr, dc) == (0, 0):
                continue
            gi = slice(max(0, -dr), oh - max(0, dr))
            gj = slice(max(0, -dc), ow - max(0, dc))
            ei = slice(max(0, dr), oh - max(0, -dr))
            ej = slice(max(0, dc), ow - max(0, -dc))
            gpart, epart = g[gi, gj], e[ei, ej]
            if gpart.size < 2:
                continue
            if same_shape_and_close(gpart, epart, tol) and not same_shape_and_close(gpart, e[gi, gj], tol):
                return dr, dc
    return None


def _direction(dr: int, dc: int) -> str:
    parts = []
    if dr:
        parts.append(_("one row down") if dr < 0 else _("one row up"))
    if dc:
        parts.append(_("one column right") if dc < 0 else _("one column left"))
    if len(parts) == 2:
        return _("{rows} and {columns}").format(rows=parts[0], columns=parts[1])
    return parts[0]


def diagnose(case: Case, got) -> Diagnosis | None:
    """Loop stopping early, flipped/transposed kernel, window off by one, sum not reset, else the first wrong number."""
    image, kernel = case.args
    e = np.asarray(case.expected, dtype=np.float64)
    g = np.asarray(got, dtype=np.float64)
    tol = case.tolerance
    h, w = image.shape
    kh, kw = kernel.shape
    oh, ow = e.shape

    if g.ndim != 2:
        why = _sizes_text(h, w, kh, kw)
        if g.size == e.size and same_shape_and_close(g.reshape(e.shape), e, tol):
            why = _("{sizes}; your numbers are right, but the answer must be a 2-D array of shape {shape}").format(
                sizes=why, shape=e.shape
            )
        return shape_mismatch("out", g.shape, e.shape, why)

    missed = _loop_stops_early(g, e, tol)
    if missed is not None:
        last = _(
            "The kernel's last position starts at row H − KH = {row} and column W − KW = {column}, so there are "
            "H − KH + 1 = {oh} rows and W − KW + 1 = {ow} columns: a loop over range(H − KH) stops one position too "
            "early (range's end is excluded: count the first position too)."
        ).format(row=h - kh, column=w - kw, oh=oh, ow=ow)
        if missed == "small":
            message = _(
                "Your output misses the last row and/or column: out has shape {got} and should be {expected}, and "
                "the numbers you have are right. {last}"
            )
        elif missed == "last row":
            message = _(
                "Your output's last row is still zero: your loop stops one step early, before the kernel's last "
                "position (the numbers before it are right). {last}"
            )
        elif missed == "last column":
            message = _(
                "Your output's last column is still zero: your loop stops one step early, before the kernel's last "
                "position (the numbers before it are right). {last}"
            )
        else:
            message = _(
                "Your output's last row and last column are still zero: your loop stops one step early, before the "
                "kernel's last position (the numbers before it are right). {last}"
            )
        return Diagnosis("loop_stops_early", message.format(got=g.shape, expected=e.shape, last=last))

    if g.shape != e.shape:
        why = _sizes_text(h, w, kh, kw)
        if g.shape == e.shape[::-1] and same_shape_and_close(g.T, e, tol):
            why = _(
                "{sizes}; your numbers are right but rows and columns are swapped (i runs over rows, j over columns)"
            ).format(sizes=why)
        elif g.shape[0] >= oh and g.shape[1] >= ow and same_shape_and_close(g[:oh, :ow], e, tol):
            why = _("{sizes}; your first {oh}×{ow} numbers are right, the rest should not exist").format(
                sizes=why, oh=oh, ow=ow
            )
        return shape_mismatch("out", g.shape, e.shape, why)

    flips = [
        (kernel[::-1, ::-1], "flipped_kernel", N_("the kernel flipped (rows and columns reversed)")),
        (kernel[::-1, :], "flipped_kernel", N_("the kernel's rows reversed")),
        (kernel[:, ::-1], "flipped_kernel", N_("the kernel's columns reversed")),
    ]
    for k_alt, code, what in flips:
        if _matches(g, _reference(image, k_alt), e, tol):
            message = _(
                "Your output is the image correlated with {what}: a convolution as the slides define it (lesson 02), "
                "not the cross-correlation ⋆ that Keras' Conv2D computes. Multiply image[i + u, j + v] by "
                "kernel[u, v] with the same u and v: no flipping, no reversed indices."
            )
            return Diagnosis(code, message.format(what=_(what)))
    if kh == kw and _matches(g, _reference(image, kernel.T), e, tol):
        return Diagnosis(
            "kernel_transposed",
            _(
                "Your output is the image correlated with the kernel's transpose: rows and columns of the kernel are "
                "swapped. The kernel's row u goes with the image's row i + u, its column v with the image's column "
                "j + v."
            ),
        )

    shift = _shift(g, e, tol)
    if shift is not None:
        dr, dc = shift
        message = _(
            "Your output is the right one moved {direction}: the window's offset is off by one. The window of "
            "out[i, j] starts at image[i, j] (its top-left corner, not its centre) and covers rows i … i + KH − 1 and "
            "columns j … j + KW − 1."
        )
        return Diagnosis("shifted", message.format(direction=_direction(dr, dc)))

    flat = e.ravel()
    if _matches(g, np.cumsum(flat).reshape(e.shape), e, tol) or _matches(g, np.cumsum(e, axis=1), e, tol):
        return Diagnosis(
            "sum_not_reset",
            _(
                "Each of your numbers is the sum of the right ones so far: the running sum is not set back to zero "
                "before each new output position, so every window adds on top of the previous ones."
            ),
        )

    idx = first_wrong(g, e, tol)
    if idx is None:
        return None
    i, j = idx
    detail = conv_window_text(image, kernel, None, i, j, 0, 1)
    detail += "\n" + _("The kernel is") + "\n" + format_matrix(kernel)
    return wrong_element("out", idx, g[idx], e[idx], detail)
