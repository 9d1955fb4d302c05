"""Exercise 4: multi-channel convolution (cross-correlation) with stride, zero padding and bias.

The learner writes ``conv2d(x, kernel, bias, stride, padding)``: ``x (N, H, W, C_in)``,
``kernel (KH, KW, C_in, C_out)``, ``bias (C_out,)``, ``stride`` an int ``S``, ``padding`` an int ``P``
(``P`` zeros on every side) → ``(N, T, U, C_out)`` with the slides' ``T = (H + 2P − KH)/S + 1``,
``U = (W + 2P − KW)/S + 1`` (floored, as Keras). It is what Keras' ``Conv2D`` computes; the answers come
from ``convlab.conv2d(..., backend="reference")``.

The first case is the slides' worked example (seeds/003): a 5×5×3 input, zero padding 1, stride 2,
two 3×3×3 filters with biases 1 and 0 → the 3×3×2 output ``o``. A wrong answer is compared with what
each typical mistake would give (flipped kernel, stride or padding ignored, bias missing or added per
product, windows shifted by one, …); the first mistake that reproduces it is named.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import first_wrong, same_shape_and_close
from convlab.exercises.diagnosis import conv_window_text, shape_mismatch, shape_text, size_formula_text, wrong_element
from convlab.ops.conv import conv2d as _conv2d

__all__ = ["HINTS", "cases", "diagnose", "layout_problem"]

HINTS: tuple[str, ...] = (
    "Build it from exercises 2 and 3: zero-pad every image by P on each side (rows and columns only, not the "
    "batch or channel axes), then compute each output pixel from one window that spans all input channels. "
    "Keras' Conv2D does not flip the kernel, and the stride moves the window, not the output.",
    "out has shape (N, T, U, C_out) with T = (H + 2P − KH)/S + 1 and U = (W + 2P − KW)/S + 1, floored "
    "(slides). out[n, i, j, f] = the sum over r, c and channel ch of x_padded[n, i·S + r, j·S + c, ch] · "
    "kernel[r, c, ch, f], plus bias[f].",
    "Loop over images, output rows i, output columns j and filters f. The window's top-left corner is at row "
    "i·S and column j·S of the padded image; multiply the KH×KW×C_in window by filter f element by element, "
    "add up all the products, then add bias[f] once — after the sum, not inside it.",
)

# The slides' three-channel example (seeds/003; /work/shared/reference-numbers.md), channel planes row by row.
_SLIDE_X = (
    ((0, 0, 1, 0, 2), (1, 0, 2, 0, 1), (1, 0, 2, 2, 0), (2, 0, 0, 2, 0), (2, 1, 2, 2, 0)),
    ((2, 1, 2, 1, 1), (2, 1, 2, 0, 1), (0, 2, 1, 0, 1), (1, 2, 2, 2, 2), (0, 1, 2, 0, 1)),
    ((2, 1, 1, 2, 0), (1, 0, 0, 1, 0), (0, 1, 0, 0, 0), (1, 0, 2, 1, 0), (2, 2, 1, 1, 1)),
)
_SLIDE_W0 = (
    ((-1, 0, 1), (0, 0, 1), (1, -1, 1)),
    ((-1, 0, 1), (1, -1, 1), (0, 1, 0)),
    ((-1, 1, 1), (1, 1, 0), (0, -1, 0)),
)
_SLIDE_W1 = (
    ((0, 1, -1), (0, -1, 0), (0, -1, 1)),
    ((-1, 0, 0), (1, -1, 0), (1, -1, 0)),
    ((-1, 1, -1), (0, -1, -1), (1, 0, 0)),
)
# The slides' one-channel example: the 5×5 image and the sharpen kernel.
_SHARPEN_IMAGE = (
    (60, 113, 56, 139, 85),
    (73, 121, 54, 84, 128),
    (131, 99, 70, 129, 127),
    (80, 57, 115, 69, 134),
    (104, 126, 123, 95, 130),
)
_SHARPEN = ((0, -1, 0), (-1, 5, -1), (0, -1, 0))


def _reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, stride: int, padding) -> np.ndarray:
    """``convlab.conv2d`` on the reference backend; ``padding`` an int or ``((top, bottom), (left, right))``."""
    return _conv2d(x, kernel, bias, strides=stride, padding=padding, backend="reference")


def _case(name: str, x, kernel, bias, stride: int, padding: int, *, slide: bool = False) -> Case:
    x = np.asarray(x, dtype=np.float64)
    kernel = np.asarray(kernel, dtype=np.float64)
    bias = np.asarray(bias, dtype=np.float64)
    return Case(
        name=name,
        function="conv2d",
        args=(x, kernel, bias, int(stride), int(padding)),
        expected=_reference(x, kernel, bias, stride, padding),
        slide=slide,
    )


def _values(rng: np.random.Generator, shape: tuple[int, ...], integers: bool) -> np.ndarray:
    """Readable random numbers: small integers, or one-decimal floats in [−2, 2] (non-integers catch int outputs)."""
    if integers:
        return rng.integers(-3, 4, size=shape).astype(np.float64)
    return np.round(rng.uniform(-2.0, 2.0, size=shape), 1)


def _bias(rng: np.random.Generator, c_out: int, integers: bool) -> np.ndarray:
    """A bias with no zero entry, so a missing bias always shows."""
    b = _values(rng, (c_out,), integers)
    b[b == 0] = 1.0
    return b


def cases(rng: np.random.Generator) -> list[Case]:
    """The slides' 5×5×3 example, the sharpen example with padding 1, then random shapes, strides and paddings.

    Random cases keep to batch ≤ 2, sides ≤ 10 and channels ≤ 3 (pure-Python loops must be fast), and include
    H ≠ W, KH ≠ KW and sizes where ``H + 2P − KH`` is not a multiple of ``S`` (the floor matters).
    """
    slide_x = np.transpose(np.array(_SLIDE_X), (1, 2, 0))[None]  # (1, 5, 5, 3)
    slide_k = np.stack([np.transpose(np.array(w), (1, 2, 0)) for w in (_SLIDE_W0, _SLIDE_W1)], axis=-1)
    out = [
        _case("slide: 5×5×3 input, 2 filters 3×3×3, padding 1, stride 2", slide_x, slide_k, [1, 0], 2, 1, slide=True),
        _case(
            "slide: 5×5 image ⋆ sharpen kernel, padding 1",
            np.array(_SHARPEN_IMAGE)[None, :, :, None],
            np.array(_SHARPEN)[:, :, None, None],
            [0],
            1,
            1,
            slide=True,
        ),
    ]
    # (N, H, W, C_in, C_out, KH, KW, S, P, integer values)
    shapes = (
        (1, 6, 6, 1, 1, 3, 3, 1, 0, True),
        (2, 7, 5, 2, 3, 3, 2, 2, 1, False),  # W: (5 + 2 − 2)/2 not whole
        (1, 8, 6, 3, 2, 2, 3, 3, 2, False),  # both floors
        (2, 5, 9, 1, 2, 3, 3, 1, 2, True),
        (1, 10, 10, 3, 1, 4, 4, 2, 0, False),
        (2, 6, 7, 2, 2, 5, 3, 2, 1, False),
        (1, 9, 8, 3, 3, 3, 3, 3, 1, True),
    )
    for n, h, w, c_in, c_out, kh, kw, s, p, integers in shapes:
        x = _values(rng, (n, h, w, c_in), integers)
        kernel = _values(rng, (kh, kw, c_in, c_out), integers)
        bias = _bias(rng, c_out, integers)
        filters = f"{c_out} filter{'s' if c_out > 1 else ''} {kh}×{kw}"
        name = f"random: {n}×{h}×{w}×{c_in} input, {filters}, stride {s}, padding {p}"
        out.append(_case(name, x, kernel, bias, s, p))
    return out


# ------------------------------------------------------------------------------ what mistakes produce
def _pad(x: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


def _at(full: np.ndarray, rows, cols) -> np.ndarray | None:
    """The stride-1 output ``full`` (no bias) at the given window positions; ``None`` if one is off the edge."""
    rows, cols = list(rows), list(cols)
    if not rows or not cols or min(rows + cols) < 0 or max(rows) >= full.shape[1] or max(cols) >= full.shape[2]:
        return None
    return full[:, rows][:, :, cols]


def _candidates(case: Case) -> Iterator[tuple[str, str, Callable[[], np.ndarray | None]]]:
    """``(code, message, what that mistake outputs)`` for each typical mistake, most specific first."""
    x, kernel, bias, s, p = case.args
    expected = case.expected
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    t, u = expected.shape[1], expected.shape[2]
    xp = _pad(x, p, p, p, p)
    # The stride-1, bias-free correlation of the padded input, with one extra ring of S + 1 zeros so that
    # windows shifted off by a row or a column can be read too: full[r + e, c + e] is the window at (r, c).
    e = s + 1
    full = _reference(_pad(xp, e, e, e, e), kernel, None, 1, 0)
    rows = [i * s + e for i in range(t)]
    cols = [j * s + e for j in range(u)]
    nobias = _at(full, rows, cols)

    def corr(xq: np.ndarray, kern: np.ndarray, stride: int = s) -> np.ndarray:
        return _reference(xq, kern, bias, stride, 0)

    yield (
        "flipped_kernel",
        "Your output is the true convolution: the kernel flipped upside down and left to right (rotated 180°). "
        "Keras' Conv2D — and this exercise — computes cross-correlation: multiply window[r, c] by kernel[r, c] "
        "at the same position, without flipping the kernel.",
        lambda: corr(xp, kernel[::-1, ::-1]),
    )
    if kh == kw:
        yield (
            "kernel_transposed",
            "Your output is what the kernel gives with its rows and columns swapped: you read kernel[c, r] where "
            "kernel[r, c] belongs. The kernel's first axis goes down the rows of the window, its second across "
            "the columns (shape (KH, KW, C_in, C_out)).",
            lambda: corr(xp, kernel.transpose(1, 0, 2, 3)),
        )
    yield (
        "bias_missing",
        "Your output is right except that the bias is missing: add bias[f] to every output pixel of filter f "
        "(once per pixel, after summing the window's products).",
        lambda: nobias,
    )
    times: dict[int, list[str]] = {}
    for m, how in (
        (kh * kw * c_in, f"every product of the window (KH·KW·C_in = {kh}·{kw}·{c_in})"),
        (c_in, f"every input channel (C_in = {c_in})"),
        (kh * kw, f"every pixel position of the window (KH·KW = {kh}·{kw})"),
        (kh, f"every row of the window (KH = {kh})"),
        (kw, f"every column of the window (KW = {kw})"),
    ):
        if m > 1 and how not in times.get(m, []):
            times.setdefault(m, []).append(how)
    for m, hows in times.items():
        yield (
            "bias_per_pixel",
            f"Your output has the bias added {m} times — once for {' or '.join(hows)} — instead of once per output "
            "pixel. The bias is added once, after the whole sum over the window and all channels: move it out of "
            "the inner loops.",
            lambda m=m: nobias + m * bias,
        )

    # Stride: every window at stride 1; the output index used as the window position; the stride on one axis only.
    def full1() -> np.ndarray | None:
        return _at(full, range(e, e + xp.shape[1] - kh + 1), range(e, e + xp.shape[2] - kw + 1))

    if s > 1:
        stride_fix = (
            f"With stride S = {s} the window of output pixel (i, j) starts at row i·S and column j·S of the padded "
            f"input, and the output has T = {t} rows and U = {u} columns."
        )
        yield (
            "stride_ignored",
            f"Your output is the convolution at stride 1 (every window position): the stride is ignored. {stride_fix}",
            lambda: None if full1() is None else full1() + bias,
        )
        yield (
            "stride_ignored",
            "Your output holds the windows at rows 0, 1, 2, … and columns 0, 1, 2, … of the padded input: the "
            "output's top-left block at stride 1. The output has the right size, but the window's position was not "
            f"multiplied by the stride. {stride_fix}",
            lambda: _plus_bias(_at(full, [i + e for i in range(t)], [j + e for j in range(u)]), bias),
        )
        yield (
            "stride_ignored",
            "Your rows are right but your columns are not: along the columns the window moves by 1 instead of by "
            f"the stride. {stride_fix}",
            lambda: _plus_bias(_at(full, rows, [j + e for j in range(u)]), bias),
        )
        yield (
            "stride_ignored",
            "Your columns are right but your rows are not: down the rows the window moves by 1 instead of by "
            f"the stride. {stride_fix}",
            lambda: _plus_bias(_at(full, [i + e for i in range(t)], cols), bias),
        )

        def sparse() -> np.ndarray | None:
            f1 = full1()
            if f1 is None:
                return None
            out = np.zeros_like(f1)
            out[:, ::s, ::s] = expected  # T = ⌈(Hp − KH + 1)/S⌉ rows land on every S-th row
            return out

        yield (
            "stride_ignored",
            "Your output is as big as at stride 1, with the right numbers at every S-th row and column and zeros "
            "in between: you stored each result at the window's position (i·S, j·S) instead of at (i, j). "
            f"{stride_fix}",
            sparse,
        )

    if p > 0:
        t0, u0 = (h - kh) // s + 1, (w - kw) // s + 1
        yield (
            "padding_ignored",
            f"Your output is the convolution without padding: it has {shape_text((n, t0, u0, c_out))} instead of "
            f"{shape_text(expected.shape)}. Pad every image with P = {p} rows of zeros above and below and "
            f"P = {p} columns left and right before sliding the window.",
            lambda: _reference(x, kernel, bias, s, 0) if h >= kh and w >= kw else None,
        )
        yield (
            "padding_all_axes",
            "Your output is what comes out when the batch and channel axes are padded with zeros too: padding "
            "every axis of x (N, H, W, C) shifts the images and the channels. Pad only the rows (axis 1) and "
            "the columns (axis 2), P on each side.",
            lambda: _reference(np.pad(x, p)[:n, :, :, :c_in], kernel, bias, s, 0)[:, :t, :u],
        )
        sides = (
            ((0, p), (0, p), "only below and to the right"),
            ((2 * p, 0), (2 * p, 0), f"all above and to the left (2P = {2 * p})"),
            ((0, 2 * p), (0, 2 * p), f"all below and to the right (2P = {2 * p})"),
        )
        for (top, bottom), (left, right), where in sides:
            code, message = (
                "padding_one_side",
                f"Your output is what the convolution gives with the zeros padded {where}. The slides pad "
                f"P = {p} on every side: P rows above and P below, P columns left and P right.",
            )
            if top + bottom == 2 * p and p in (1, s):
                # 2P zeros on one side put every window P pixels off: the same output as a window offset off by P.
                off = _offset_text(p if bottom else -p, p if right else -p)
                code, message = (
                    "shifted",
                    f"Your output is shifted: every window starts {off} — which is also what "
                    f"zeros padded {where} give. Either the window's offset is off (output pixel (i, j) uses the "
                    "window whose top-left corner is at row i·S, column j·S of the padded input, counting from 0), "
                    f"or the padding is on one side only (the slides pad P = {p} on every side).",
                )
            yield (
                code,
                message,
                lambda top=top, bottom=bottom, left=left, right=right: _reference(
                    x, kernel, bias, s, ((top, bottom), (left, right))
                ),
            )

    # Windows off by one (or by one stride) in the row and/or column offset, and outputs written one place off.
    offsets = sorted({-s, -1, 1, s} - {0})
    for dr in [0, *offsets]:
        for dc in [0, *offsets]:
            if dr == dc == 0:
                continue
            what = _offset_text(dr, dc)
            yield (
                "shifted",
                f"Your output is shifted: each window starts {what}. An off-by-one in the "
                "window's offset — output pixel (i, j) uses the window whose top-left corner is at row i·S, "
                "column j·S of the padded input (counting from 0).",
                lambda dr=dr, dc=dc: _plus_bias(_at(full, [r + dr for r in rows], [c + dc for c in cols]), bias),
            )
    rolls = ((1, 1, "one row down"), (1, -1, "one row up"), (2, 1, "one column right"), (2, -1, "one column left"))
    for axis, step, direction in rolls:
        yield (
            "shifted",
            f"Your output is shifted {direction}, wrapping around at the edge: each result is stored one place away "
            "from where it belongs. The window for output pixel (i, j) goes into out at that same (i, j).",
            lambda axis=axis, step=step: np.roll(expected, step, axis=axis),
        )

    # A loop that stops one window early (range(T − 1), or range(0, H + 2P − K, S) over window positions) in an
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

    if c_in > 1:
        for ch, which in ((c_in - 1, "last"), (0, "first")):
            yield (
                "one_channel_only",
                f"Your output only counts the {which} input channel: the products of the other channels are lost "
                "(a sum over the channels that overwrites with = instead of adding with +=?). Each output pixel "
                "adds the products of all C_in channels, then the bias.",
                lambda ch=ch: _reference(xp[:, :, :, ch : ch + 1], kernel[:, :, ch : ch + 1], bias, s, 0),
            )
    if n > 1:
        yield (
            "batch_ignored",
            "Every image of your output is the output of the first image: use image n of the batch for out[n].",
            lambda: np.broadcast_to(expected[:1], expected.shape),
        )


def _plus_bias(a: np.ndarray | None, bias: np.ndarray) -> np.ndarray | None:
    return None if a is None else a + bias


def _offset_text(dr: int, dc: int) -> str:
    parts = []
    if dr:
        parts.append(f"{abs(dr)} row{'s' if abs(dr) > 1 else ''} too {'low' if dr > 0 else 'high'}")
    if dc:
        parts.append(f"{abs(dc)} column{'s' if abs(dc) > 1 else ''} too far {'right' if dc > 0 else 'left'}")
    return " and ".join(parts)


def _top_left_part(case: Case, got: np.ndarray) -> Diagnosis | None:
    """Right numbers in too small an output (its top-left part): a slip in the output size, named when known."""
    x, kernel, _, s, p = case.args
    expected = case.expected
    h, w = x.shape[1], x.shape[2]
    kh, kw = kernel.shape[0], kernel.shape[1]
    t, u = expected.shape[1], expected.shape[2]
    if got.ndim != 4 or got.shape[0] != expected.shape[0] or got.shape[3] != expected.shape[3]:
        return None
    t2, u2 = got.shape[1], got.shape[2]
    if not (0 < t2 <= t and 0 < u2 <= u) or (t2, u2) == (t, u):
        return None
    if not same_shape_and_close(got, expected[:, :t2, :u2], case.tolerance):
        return None
    slips = (
        ("padding_ignored", "without the padding (P = 0)", lambda n, k: (n - k) // s + 1),
        (
            "padding_one_side",
            "with the padding counted on one side only (P where the slides have 2·P, or zeros padded only above "
            "and to the left)",
            lambda n, k: (n + p - k) // s + 1,
        ),
        ("loop_stops_early", "without the + 1", lambda n, k: (n + 2 * p - k) // s),
        (
            "loop_stops_early",
            "from a loop that stops before the last window (range's end is excluded)",
            lambda n, k: len(range(0, n + 2 * p - k, s)),
        ),
    )
    if p == 0:
        slips = slips[2:]
    # A loop slip may be in one of the two loops only; a padding slip shows on both axes.
    found = [
        (code, what)
        for code, what, size in slips
        if (size(h, kh), size(w, kw)) == (t2, u2)
        or (code == "loop_stops_early" and t2 in (t, size(h, kh)) and u2 in (u, size(w, kw)))
    ]
    message = (
        f"out has shape {shape_text(got.shape)}; expected {shape_text(expected.shape)}. Your numbers are right, but "
        f"your output has only {t2}×{u2} of the {t}×{u} output pixels (its top-left part): your output size is too "
        f"small. The slides' formula: {size_formula_text(h, kh, p, s)} rows and {size_formula_text(w, kw, p, s, 'U')} "
        "columns."
    )
    if not found:
        return Diagnosis("wrong_shape", message)
    whats = list(dict.fromkeys(what for _, what in found))
    return Diagnosis(found[0][0], message + f" {t2}×{u2} is what it gives {', or '.join(whats)}.")


def _shape_note(case: Case, got_shape: tuple[int, ...]) -> str:
    """Which slip gives the learner's (wrong) number of rows/columns: no padding, no stride, no floor, no +1."""
    x, kernel, _, s, p = case.args
    h, w = x.shape[1], x.shape[2]
    kh, kw = kernel.shape[0], kernel.shape[1]
    if len(got_shape) != 4:
        return ""
    slips = (
        ("without the padding (P = 0)", lambda n, k: (n - k) // s + 1),
        ("at stride 1", lambda n, k: n + 2 * p - k + 1),
        ("without padding and at stride 1", lambda n, k: n - k + 1),
        ("rounding up instead of down", lambda n, k: -(-(n + 2 * p - k) // s) + 1),
        ("without the + 1", lambda n, k: (n + 2 * p - k) // s),
        ("with P counted once instead of on both sides", lambda n, k: (n + p - k) // s + 1),
    )
    for what, size in slips:
        if (got_shape[1], got_shape[2]) == (size(h, kh), size(w, kw)):
            return f" Your rows and columns are what the formula gives {what}."
    return ""


def layout_problem(got: np.ndarray, expected: np.ndarray, tolerance: float, channels: str = "C") -> Diagnosis | None:
    """The right numbers in the wrong layout: channels first (PyTorch's, CS231n's), or rows and columns swapped.

    ``expected`` is ``(N, T, U, channels)``; also used by the pooling grader.
    """
    if got.ndim != 4:
        return None
    if same_shape_and_close(got, expected.transpose(0, 3, 1, 2), tolerance):
        return Diagnosis(
            "channels_first",
            f"Your numbers are right but laid out as (N, {channels}, T, U) = {shape_text(got.shape)}: this course uses "
            f"Keras' layout, channels last — out has shape (N, T, U, {channels}) = {shape_text(expected.shape)}.",
        )
    if same_shape_and_close(got, expected.transpose(0, 2, 1, 3), tolerance):
        return Diagnosis(
            "rows_columns_swapped",
            "Your numbers are right but with rows and columns swapped: out[n, i, j] belongs to the window whose "
            "top-left corner is at row i·S and column j·S — i counts down the rows (T of them), j across the "
            f"columns (U of them); out has shape (N, T, U, {channels}) = {shape_text(expected.shape)}.",
        )
    return None


def diagnose(case: Case, got) -> Diagnosis | None:
    """Name the mistake that reproduces ``got``; else the wrong shape with the formula, or the first wrong pixel."""
    if not isinstance(got, np.ndarray):
        return None
    x, kernel, bias, s, p = case.args
    expected = case.expected
    n, h, w, c_in = x.shape
    kh, kw, _, c_out = kernel.shape
    tol = case.tolerance
    layout = layout_problem(got, expected, tol, "C_out")
    if layout is not None:
        return layout
    whole = bool(np.all(expected == np.round(expected)))
    if got.shape == expected.shape and np.issubdtype(got.dtype, np.integer) and not whole:
        return Diagnosis(
            "integer_output",
            f"Your output array holds integers (dtype {got.dtype}), so every sum was cut to a whole number when "
            "you stored it. Make the output array a float array (the dtype of x).",
        )
    top_left = _top_left_part(case, got)
    if top_left is not None:
        return top_left
    for code, message, make in _candidates(case):
        try:
            candidate = make()
        except ValueError:  # this mistake cannot happen with these shapes (the window would not fit)
            continue
        if candidate is not None and same_shape_and_close(got, candidate, tol):
            return Diagnosis(code, message)
    if got.shape != expected.shape:
        why = (
            f"(N, T, U, C_out) with N = {n} images, {size_formula_text(h, kh, p, s)} rows, "
            f"{size_formula_text(w, kw, p, s, 'U')} columns and C_out = {c_out} filters (kernel.shape[3])."
        )
        d = shape_mismatch("out", got.shape, expected.shape, why)
        return Diagnosis(d.code, d.message + _shape_note(case, got.shape))
    idx = first_wrong(got, expected, tol)
    if idx is None:
        return None
    b, i, j, co = idx
    xp = _pad(x, p, p, p, p)
    where = f"Image {b}, filter {co}. " if n > 1 else f"Filter {co}. " if c_out > 1 else ""
    detail = where + conv_window_text(xp[b], kernel, bias, i, j, co, s, show_window=True)
    return wrong_element("out", idx, got[idx], expected[idx], detail)
