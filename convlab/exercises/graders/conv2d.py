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

from collections.abc import Iterator

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import first_wrong
from convlab.exercises.diagnosis import conv_window_text, shape_mismatch, shape_text, size_formula_text, wrong_element
from convlab.exercises.slides import (
    IMAGE,
    SHARPEN,
    THREE_CHANNEL_BIAS,
    THREE_CHANNEL_INPUT,
    THREE_CHANNEL_KERNEL,
    one_image,
)
from convlab.exercises.window_mistakes import (
    Candidate,
    first_match,
    integer_output,
    layout_problem,
    offset_mistakes,
    offset_text,
    stride_mistakes,
    top_left_part,
)
from convlab.ops.conv import conv2d as _conv2d
from convlab.util.arrays import pad_nhwc
from convlab.util.i18n import N_, _, ngettext

__all__ = ["HINTS", "cases", "diagnose"]

HINTS: tuple[str, ...] = (
    N_(
        "Build it from exercises 2 and 3: zero-pad every image by P on each side (rows and columns only, not the "
        "batch or channel axes), then compute each output pixel from one window that spans all input channels. "
        "Keras' Conv2D does not flip the kernel, and the stride moves the window, not the output."
    ),
    N_(
        "out has shape (N, T, U, C_out) with T = (H + 2P − KH)/S + 1 and U = (W + 2P − KW)/S + 1, floored "
        "(slides). out[n, i, j, f] = the sum over r, c and channel ch of x_padded[n, i·S + r, j·S + c, ch] · "
        "kernel[r, c, ch, f], plus bias[f]."
    ),
    N_(
        "Loop over images, output rows i, output columns j and filters f. The window's top-left corner is at row "
        "i·S and column j·S of the padded image; multiply the KH×KW×C_in window by filter f element by element, "
        "add up all the products, then add bias[f] once — after the sum, not inside it."
    ),
)


def _reference(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, stride: int, padding) -> np.ndarray:
    """``convlab.conv2d`` on the reference backend; ``padding`` an int or ``((top, bottom), (left, right))``."""
    return _conv2d(x, kernel, bias, strides=stride, padding=padding, backend="reference")


def _case(name: str, x, kernel, bias, stride: int, padding: int, *, slide: bool = False) -> Case:
    x = np.array(x, dtype=np.float64)  # copies: the slides' numbers are read-only
    kernel = np.array(kernel, dtype=np.float64)
    bias = np.array(bias, dtype=np.float64)
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
    out = [
        _case(
            _("slide: 5×5×3 input, 2 filters 3×3×3, padding 1, stride 2"),
            one_image(THREE_CHANNEL_INPUT),
            THREE_CHANNEL_KERNEL,
            THREE_CHANNEL_BIAS,
            2,
            1,
            slide=True,
        ),
        _case(
            _("slide: 5×5 image ⋆ sharpen kernel, padding 1"),
            one_image(IMAGE),
            SHARPEN[:, :, None, None],
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
        name = ngettext(
            "random: {n}×{h}×{w}×{c} input, {filters} filter {kh}×{kw}, stride {s}, padding {p}",
            "random: {n}×{h}×{w}×{c} input, {filters} filters {kh}×{kw}, stride {s}, padding {p}",
            c_out,
        ).format(n=n, h=h, w=w, c=c_in, filters=c_out, kh=kh, kw=kw, s=s, p=p)
        out.append(_case(name, x, kernel, bias, s, p))
    return out


# ------------------------------------------------------------------------------ what mistakes produce
def _at(full: np.ndarray, rows, cols) -> np.ndarray | None:
    """The stride-1 output ``full`` (no bias) at the given window positions; ``None`` if one is off the edge."""
    rows, cols = list(rows), list(cols)
    if not rows or not cols or min(rows + cols) < 0 or max(rows) >= full.shape[1] or max(cols) >= full.shape[2]:
        return None
    return full[:, rows][:, :, cols]


def _candidates(case: Case) -> Iterator[Candidate]:
    """``(code, message, what that mistake outputs)`` for each typical mistake, most specific first."""
    x, kernel, bias, s, p = case.args
    expected = case.expected
    n, h, w, c_in = x.shape
    kh, kw, c_out = kernel.shape[0], kernel.shape[1], kernel.shape[3]
    t, u = expected.shape[1], expected.shape[2]
    xp = pad_nhwc(x, (p, p, p, p))
    # The stride-1, bias-free correlation of the padded input, with one extra ring of S + 1 zeros so that
    # windows shifted off by a row or a column can be read too: full[r + e, c + e] is the window at (r, c).
    e = s + 1
    full = _reference(pad_nhwc(xp, (e, e, e, e)), kernel, None, 1, 0)
    nobias = _at(full, [i * s + e for i in range(t)], [j * s + e for j in range(u)])

    def at(rows, cols) -> np.ndarray | None:
        """The output (bias included) of the windows with top-left corners ``rows`` × ``cols`` of ``xp``."""
        return _plus_bias(_at(full, [r + e for r in rows], [c + e for c in cols]), bias)

    def corr(xq: np.ndarray, kern: np.ndarray, stride: int = s) -> np.ndarray:
        return _reference(xq, kern, bias, stride, 0)

    yield (
        "flipped_kernel",
        _(
            "Your output is the true convolution: the kernel flipped upside down and left to right (rotated 180°). "
            "Keras' Conv2D — and this exercise — computes cross-correlation: multiply window[r, c] by kernel[r, c] "
            "at the same position, without flipping the kernel."
        ),
        lambda: corr(xp, kernel[::-1, ::-1]),
    )
    if kh == kw:
        yield (
            "kernel_transposed",
            _(
                "Your output is what the kernel gives with its rows and columns swapped: you read kernel[c, r] where "
                "kernel[r, c] belongs. The kernel's first axis goes down the rows of the window, its second across "
                "the columns (shape (KH, KW, C_in, C_out))."
            ),
            lambda: corr(xp, kernel.transpose(1, 0, 2, 3)),
        )
    yield (
        "bias_missing",
        _(
            "Your output is right except that the bias is missing: add bias[f] to every output pixel of filter f "
            "(once per pixel, after summing the window's products)."
        ),
        lambda: nobias,
    )
    times: dict[int, list[str]] = {}
    for m, how in (
        (
            kh * kw * c_in,
            _("every product of the window (KH·KW·C_in = {kh}·{kw}·{c})").format(kh=kh, kw=kw, c=c_in),
        ),
        (c_in, _("every input channel (C_in = {c})").format(c=c_in)),
        (kh * kw, _("every pixel position of the window (KH·KW = {kh}·{kw})").format(kh=kh, kw=kw)),
        (kh, _("every row of the window (KH = {kh})").format(kh=kh)),
        (kw, _("every column of the window (KW = {kw})").format(kw=kw)),
    ):
        if m > 1 and how not in times.get(m, []):
            times.setdefault(m, []).append(how)
    for m, hows in times.items():
        either = hows[0]
        for how in hows[1:]:
            either = _("{first} or {second}").format(first=either, second=how)
        yield (
            "bias_per_pixel",
            _(
                "Your output has the bias added {m} times — once for {how} — instead of once per output pixel. The "
                "bias is added once, after the whole sum over the window and all channels: move it out of the inner "
                "loops."
            ).format(m=m, how=either),
            lambda m=m: nobias + m * bias,
        )

    yield from stride_mistakes(
        at,
        expected,
        s,
        (xp.shape[1] - kh + 1, xp.shape[2] - kw + 1),
        operation=N_("the convolution"),
        result=N_("result"),
        of_input=N_(" of the padded input"),
        fix=_(
            "With stride S = {s} the window of output pixel (i, j) starts at row i·S and column j·S of the padded "
            "input, and the output has T = {t} rows and U = {u} columns."
        ).format(s=s, t=t, u=u),
    )

    if p > 0:
        t0, u0 = (h - kh) // s + 1, (w - kw) // s + 1
        yield (
            "padding_ignored",
            _(
                "Your output is the convolution without padding: it has {got} instead of {expected}. Pad every image "
                "with P = {p} rows of zeros above and below and P = {p} columns left and right before sliding the "
                "window."
            ).format(got=shape_text((n, t0, u0, c_out)), expected=shape_text(expected.shape), p=p),
            lambda: _reference(x, kernel, bias, s, 0) if h >= kh and w >= kw else None,
        )
        yield (
            "padding_all_axes",
            _(
                "Your output is what comes out when the batch and channel axes are padded with zeros too: padding "
                "every axis of x (N, H, W, C) shifts the images and the channels. Pad only the rows (axis 1) and "
                "the columns (axis 2), P on each side."
            ),
            lambda: _reference(np.pad(x, p)[:n, :, :, :c_in], kernel, bias, s, 0)[:, :t, :u],
        )
        sides = (
            ((0, p), (0, p), _("only below and to the right")),
            ((2 * p, 0), (2 * p, 0), _("all above and to the left (2P = {pp})").format(pp=2 * p)),
            ((0, 2 * p), (0, 2 * p), _("all below and to the right (2P = {pp})").format(pp=2 * p)),
        )
        for (top, bottom), (left, right), where in sides:
            code, message = (
                "padding_one_side",
                _(
                    "Your output is what the convolution gives with the zeros padded {where}. The slides pad P = {p} "
                    "on every side: P rows above and P below, P columns left and P right."
                ).format(where=where, p=p),
            )
            if top + bottom == 2 * p and p in (1, s):
                # 2P zeros on one side put every window P pixels off: the same output as a window offset off by P.
                off = offset_text(p if bottom else -p, p if right else -p)
                code, message = (
                    "shifted",
                    _(
                        "Your output is shifted: every window starts {offset} — which is also what zeros padded "
                        "{where} give. Either the window's offset is off (output pixel (i, j) uses the window whose "
                        "top-left corner is at row i·S, column j·S of the padded input, counting from 0), or the "
                        "padding is on one side only (the slides pad P = {p} on every side)."
                    ).format(offset=off, where=where, p=p),
                )
            yield (
                code,
                message,
                lambda top=top, bottom=bottom, left=left, right=right: _reference(
                    x, kernel, bias, s, ((top, bottom), (left, right))
                ),
            )

    yield from offset_mistakes(at, expected, s, result=N_("result"), of_input=N_(" of the padded input"))

    if c_in > 1:
        only = (
            (
                c_in - 1,
                N_(
                    "Your output only counts the last input channel: the products of the other channels are lost (a "
                    "sum over the channels that overwrites with = instead of adding with +=?). Each output pixel adds "
                    "the products of all C_in channels, then the bias."
                ),
            ),
            (
                0,
                N_(
                    "Your output only counts the first input channel: the products of the other channels are lost (a "
                    "sum over the channels that overwrites with = instead of adding with +=?). Each output pixel adds "
                    "the products of all C_in channels, then the bias."
                ),
            ),
        )
        for ch, message in only:
            yield (
                "one_channel_only",
                _(message),
                lambda ch=ch: _reference(xp[:, :, :, ch : ch + 1], kernel[:, :, ch : ch + 1], bias, s, 0),
            )
    if n > 1:
        yield (
            "batch_ignored",
            _("Every image of your output is the output of the first image: use image n of the batch for out[n]."),
            lambda: np.broadcast_to(expected[:1], expected.shape),
        )


def _plus_bias(a: np.ndarray | None, bias: np.ndarray) -> np.ndarray | None:
    return None if a is None else a + bias


def _top_left_part(case: Case, got: np.ndarray) -> Diagnosis | None:
    """Right numbers in too small an output (its top-left part): a slip in the output size, named when known."""
    x, kernel, s, p = case.args[0], case.args[1], case.args[3], case.args[4]
    h, w = x.shape[1], x.shape[2]
    kh, kw = kernel.shape[0], kernel.shape[1]
    slips = (
        ("padding_ignored", N_("without the padding (P = 0)"), lambda n, k: (n - k) // s + 1),
        (
            "padding_one_side",
            N_(
                "with the padding counted on one side only (P where the slides have 2·P, or zeros padded only above "
                "and to the left)"
            ),
            lambda n, k: (n + p - k) // s + 1,
        ),
        ("loop_stops_early", N_("without the + 1"), lambda n, k: (n + 2 * p - k) // s),
        (
            "loop_stops_early",
            N_("from a loop that stops before the last window (range's end is excluded)"),
            lambda n, k: len(range(0, n + 2 * p - k, s)),
        ),
    )
    if p == 0:
        slips = slips[2:]
    formula = _("{t} rows and {u} columns").format(
        t=size_formula_text(h, kh, p, s), u=size_formula_text(w, kw, p, s, "U")
    )
    sizes = [(code, what, (size(h, kh), size(w, kw))) for code, what, size in slips]
    return top_left_part(got, case.expected, case.tolerance, sizes, formula)


def _shape_note(case: Case, got_shape: tuple[int, ...]) -> str:
    """Which slip gives the learner's (wrong) number of rows/columns: no padding, no stride, no floor, no +1."""
    x, kernel, s, p = case.args[0], case.args[1], case.args[3], case.args[4]
    h, w = x.shape[1], x.shape[2]
    kh, kw = kernel.shape[0], kernel.shape[1]
    if len(got_shape) != 4:
        return ""
    slips = (
        (N_("without the padding (P = 0)"), lambda n, k: (n - k) // s + 1),
        (N_("at stride 1"), lambda n, k: n + 2 * p - k + 1),
        (N_("without padding and at stride 1"), lambda n, k: n - k + 1),
        (N_("rounding up instead of down"), lambda n, k: -(-(n + 2 * p - k) // s) + 1),
        (N_("without the + 1"), lambda n, k: (n + 2 * p - k) // s),
        (N_("with P counted once instead of on both sides"), lambda n, k: (n + p - k) // s + 1),
    )
    for what, size in slips:
        if (got_shape[1], got_shape[2]) == (size(h, kh), size(w, kw)):
            return " " + _("Your rows and columns are what the formula gives {slip}.").format(slip=_(what))
    return ""


def diagnose(case: Case, got) -> Diagnosis | None:
    """Name the mistake that reproduces ``got``; else the wrong shape with the formula, or the first wrong pixel."""
    if not isinstance(got, np.ndarray):
        return None
    x, kernel, bias, s, p = case.args
    expected = case.expected
    n, h, w, c_in = x.shape
    kh, kw, c_out = kernel.shape[0], kernel.shape[1], kernel.shape[3]
    tol = case.tolerance
    named = (
        layout_problem(got, expected, tol, "C_out")
        or integer_output(got, expected, N_("sum"))
        or _top_left_part(case, got)
        or first_match(got, _candidates(case), tol)
    )
    if named is not None:
        return named
    if got.shape != expected.shape:
        why = _(
            "(N, T, U, C_out) with N = {n} images, {t} rows, {u} columns and C_out = {c} filters (kernel.shape[3])."
        ).format(n=n, t=size_formula_text(h, kh, p, s), u=size_formula_text(w, kw, p, s, "U"), c=c_out)
        d = shape_mismatch("out", got.shape, expected.shape, why)
        return Diagnosis(d.code, d.message + _shape_note(case, got.shape))
    idx = first_wrong(got, expected, tol)
    if idx is None:
        return None
    b, i, j, co = idx
    xp = pad_nhwc(x, (p, p, p, p))
    if n > 1:
        where = _("Image {image}, filter {filter}.").format(image=b, filter=co) + " "
    elif c_out > 1:
        where = _("Filter {filter}.").format(filter=co) + " "
    else:
        where = ""
    detail = where + conv_window_text(xp[b], kernel, bias, i, j, co, s, show_window=True)
    return wrong_element("out", idx, got[idx], expected[idx], detail)
