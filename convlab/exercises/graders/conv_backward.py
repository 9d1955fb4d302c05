"""Grader of exercise 8: ``conv2d_backward(dy, x, kernel, stride, padding)`` → ``(dx, dkernel, dbias)``.

The forward pass (exercise 4, Keras' cross-correlation; slides seeds/003) is::

    y[n, i, j, o] = Σ_a,b,c x_p[n, i·S + a, j·S + b, c] · kernel[a, b, c, o] + bias[o]

with ``x_p`` the input with ``P`` zeros on every side. The chain rule (lesson 07) gives::

    dbias[o]          = Σ_n,i,j dy[n, i, j, o]
    dkernel[a, b, c, o] = Σ_n,i,j dy[n, i, j, o] · x_p[n, i·S + a, j·S + b, c]
    dx_p[n, i·S + a, j·S + b, c] += kernel[a, b, c, o] · dy[n, i, j, o]     (then the P-wide ring is cut off)

Shapes: ``dy (N, OH, OW, C_out)``, ``x (N, H, W, C_in)``, ``kernel (KH, KW, C_in, C_out)``; ``dx`` has x's
shape, ``dkernel`` the kernel's, ``dbias (C_out,)``. Expected answers come from
``convlab.conv2d_backward(…, backend="reference")``. A wrong answer is compared with what each typical
mistake computes (:func:`_grads` runs the loops above with the mistake switched on).
"""

from __future__ import annotations

import itertools

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import close, first_wrong, same_shape_and_close
from convlab.exercises.diagnosis import (
    number_text,
    product_sum_text,
    shape_mismatch,
    shape_text,
    size_formula_text,
    window_text,
    wrong_element,
)
from convlab.exercises.slides import DIAGONAL, IMAGE, SHARPEN, THREE_CHANNEL_INPUT, THREE_CHANNEL_KERNEL, one_image
from convlab.ops.conv import conv2d_backward
from convlab.util.arrays import pad_nhwc

__all__ = ["HINTS", "NAMES", "cases", "diagnose"]

HINTS: tuple[str, ...] = (
    "Walk the forward pass backwards. Every output number y[n, i, j, o] came from ONE window of the padded "
    "input times filter o, plus bias[o]. Send dy[n, i, j, o] back along the same paths — to the bias, to each "
    "weight and to each pixel of that window — and add up (never overwrite) everything that lands in the same "
    "place. Lesson 07 does it by hand for one channel.",
    "With x_p = x padded with P zeros on every side: dbias[o] = Σ over n, i, j of dy[n, i, j, o];  "
    "dkernel[a, b, c, o] = Σ over n, i, j of dy[n, i, j, o] · x_p[n, i·S + a, j·S + b, c];  "
    "dx_p[n, i·S + a, j·S + b, c] gets kernel[a, b, c, o] · dy[n, i, j, o] added for every (i, j, o) "
    "whose window covers it. Shapes: dx like x (N, H, W, C_in), dkernel like the kernel (KH, KW, C_in, C_out), "
    "dbias (C_out,).",
    "Structure: start dkernel, dbias and a dx_p of the PADDED input's shape at zero; for each image n, output "
    "row i, column j and filter o, the window starts at row i·S and column j·S of x_p: add window·dy[n, i, j, o] "
    "to filter o's gradient and filter o's weights·dy[n, i, j, o] onto the window's place in dx_p. At the end "
    "cut the P-wide ring of padding off dx_p: the result has x's shape.",
)

# Lesson 07's dy matrices (lessons/07_backprop_by_hand.py), for the slides' 5×5 image (see convlab.exercises.slides).
_DY2 = np.array([[1, 2, 0], [0, -1, 3], [1, 0, -2]], dtype=float)
_DY3 = np.array([[1, -1, 2], [0, 3, 1], [-2, 1, 1]], dtype=float)
_DY4 = np.arange(1.0, 17.0).reshape(4, 4)

NAMES = ("dx", "dkernel", "dbias")


def _reference(dy, x, kernel, stride, padding):
    dx, dk, db = conv2d_backward(dy, x, kernel, strides=stride, padding=padding, backend="reference")
    return (np.asarray(dx, dtype=float), np.asarray(dk, dtype=float), np.asarray(db, dtype=float))


def _case(name, dy, x, kernel, stride, padding, *, slide=False) -> Case:
    dy, x, kernel = (np.array(a, dtype=float) for a in (dy, x, kernel))  # copies: the slides' numbers are read-only
    return Case(
        name=name,
        function="conv2d_backward",
        args=(dy, x, kernel, int(stride), int(padding)),
        expected=_reference(dy, x, kernel, stride, padding),
        slide=slide,
        output_names=NAMES,
        repeat=2,
        context={"stride": int(stride), "padding": int(padding)},
    )


def _random_case(rng, n, h, w, c, kh, kw, o, s, p) -> Case:
    oh = (h + 2 * p - kh) // s + 1
    ow = (w + 2 * p - kw) // s + 1
    # Small integers keep the explanations readable (product sums like 2·(−1) + 3·1 = 1).
    x = rng.integers(-3, 4, size=(n, h, w, c))
    kernel = rng.integers(-3, 4, size=(kh, kw, c, o))
    dy = rng.integers(-3, 4, size=(n, oh, ow, o))
    name = f"random: x {n}×{h}×{w}×{c}, kernel {kh}×{kw}×{c}×{o}, S {s}, P {p}"
    return _case(name, dy, x, kernel, s, p)


def cases(rng: np.random.Generator) -> list[Case]:
    """Lesson 07's worked gradients first, then the slides' 3-channel example, then random shapes."""
    sharpen = SHARPEN[:, :, None, None]
    out = [
        # The stub's worked example: dbias = [9], dkernel = the 3×3 block sums of the input.
        _case(
            "lesson 07: 5×5 ⋆ sharpen, dy all ones", np.ones((1, 3, 3, 1)), one_image(IMAGE), sharpen, 1, 0, slide=True
        ),
        _case("lesson 07: 5×5 ⋆ sharpen, a mixed dy", one_image(_DY2), one_image(IMAGE), sharpen, 1, 0, slide=True),
        # The sharpen kernel is symmetric; this one shows whether dx turns the kernel by 180°.
        _case(
            "lesson 07: diagonal filter [[−1, 0], [0, 1]]",
            one_image(_DY4),
            one_image(IMAGE),
            DIAGONAL[:, :, None, None],
            1,
            0,
            slide=True,
        ),
        _case("lesson 07: stride 2, padding 1", one_image(_DY3), one_image(IMAGE), sharpen, 2, 1, slide=True),
        _case(
            "slides: 5×5×3, two filters, P 1, S 2, dy all ones",
            np.ones((1, 3, 3, 2)),
            one_image(THREE_CHANNEL_INPUT),
            THREE_CHANNEL_KERNEL,
            2,
            1,
            slide=True,
        ),
    ]
    shapes = [
        # n, h, w, c, kh, kw, o, s, p
        (2, 6, 7, 2, 3, 2, 3, 1, 0),  # H ≠ W, KH ≠ KW, batch of 2
        (1, 7, 7, 3, 3, 3, 2, 2, 1),
        (2, 8, 6, 1, 2, 3, 2, 2, 0),  # (6 − 3) is not a multiple of 2: the last column gets no gradient
        (1, 9, 10, 2, 3, 4, 2, 3, 1),  # (9 + 2 − 3) % 3 = 2: two rows no window reaches
        (2, 5, 5, 2, 5, 5, 1, 1, 2),  # "same"-size output
        (1, 10, 8, 2, 4, 3, 3, 2, 2),
        (2, 4, 6, 1, 2, 2, 2, 1, 1),
    ]
    out += [_random_case(rng, *s) for s in shapes]
    return out


# --------------------------------------------------------------------------------------------------------------
# What the mistakes compute


def _grads(
    dy,
    x,
    kernel,
    *,
    step,
    top,
    canvas,
    flip_dx=False,
    dx_assign=None,
    dk_assign=False,
):
    """The backward loops, with a mistake switched on; returns ``(dx_canvas, dkernel)``.

    Args:
        step: the window step in the loops (the stride; 1 when the stride is ignored).
        top: where x sits in the zero canvas (P when padded right; 0 when the padding is ignored).
        canvas: ``(Hc, Wc)`` of the zero canvas ``x_p`` (at least as large as the windows reach).
        flip_dx: use the kernel turned by 180° for dx (unflipped kernel in a full convolution).
        dx_assign: ``None`` (add), ``"last_filter"`` (``=`` per filter) or ``"all_filters"`` (``=`` of the sum
            over filters): windows that overlap overwrite each other's gradient.
        dk_assign: ``=`` instead of ``+=`` for dkernel (only the last window counts).
    """
    n, h, w, c = x.shape
    kh, kw, _, o = kernel.shape
    xp = np.zeros((n, canvas[0], canvas[1], c))
    xp[:, top : top + h, top : top + w, :] = x
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(kernel, dtype=float)
    kd = kernel[::-1, ::-1] if flip_dx else kernel
    for b in range(dy.shape[0]):
        for i in range(dy.shape[1]):
            for j in range(dy.shape[2]):
                r, q = i * step, j * step
                win = xp[b, r : r + kh, q : q + kw, :]
                g = dy[b, i, j, :]
                if dk_assign:
                    dk[...] = win[:, :, :, None] * g
                else:
                    dk += win[:, :, :, None] * g
                if dx_assign == "last_filter":
                    dxp[b, r : r + kh, q : q + kw, :] = kd[:, :, :, -1] * g[-1]
                elif dx_assign == "all_filters":
                    dxp[b, r : r + kh, q : q + kw, :] = kd @ g
                else:
                    dxp[b, r : r + kh, q : q + kw, :] += kd @ g
    return dxp, dk


def _padded_shape(x, p):
    n, h, w, c = x.shape
    return (n, h + 2 * p, w + 2 * p, c)


def _mistakes(case: Case):
    """``(code, output index, candidate, message)`` for each typical mistake, most telling first."""
    dy, x, kernel, s, p = case.args
    n, h, w, c = x.shape
    kh, kw, _, o = kernel.shape
    oh, ow = dy.shape[1], dy.shape[2]
    hp, wp = h + 2 * p, w + 2 * p
    canvas = (hp, wp)
    dx_exp, dk_exp, db_exp = case.expected

    def crop(dxp, top=p):
        return dxp[:, top : top + h, top : top + w, :]

    out = []
    if s > 1:
        msg = (
            f"Stride ignored in {{what}}: your windows start at row i and column j, but with stride S = {s} "
            f"window (i, j) starts at row i·S and column j·S of the padded input (the forward pass's windows). "
            f"Multiply the output position by the stride wherever you locate a window (on lesson 07's "
            f"convolution route: spread dy out with S − 1 = {s - 1} zero(s) between its numbers first)."
        )
        dxp1, dk1 = _grads(dy, x, kernel, step=1, top=p, canvas=canvas)
        out.append(("stride_ignored", 0, crop(dxp1), msg))
        out.append(("stride_ignored", 1, dk1, msg))
        # The "full convolution" route without spreading dy out (no S − 1 zeros between its numbers): a padded
        # gradient only OH − 1 + KH rows tall, its padding cut as lesson 07 does ([P:−P]) or as x's ([P:P + H]).
        full = (oh - 1 + kh, ow - 1 + kw)  # never taller than the padded input
        msg2 = (
            f"Stride ignored in dx: it looks like the full convolution of dy with the flipped kernel, but "
            f"with stride S = {s} dy must first be spread out with S − 1 = {s - 1} zero(s) between its numbers "
            f"(lesson 07, 'dilate'), so each dy[n, i, j, o] lands at row i·S, column j·S."
        )
        for end in ((full[0] - p, full[1] - p), (min(p + h, full[0]), min(p + w, full[1]))):
            if end[0] > p and end[1] > p:
                out.append(("stride_ignored", 0, dxp1[:, p : end[0], p : end[1], :], msg2))
        # dkernel as correlate(x_p, dy) without spreading dy out: the kernel gradient of a stride-1 layer.
        kh2, kw2 = hp - oh + 1, wp - ow + 1
        if kh2 > 0 and kw2 > 0:
            _, dk2 = _grads(dy, x, np.zeros((kh2, kw2, c, o)), step=1, top=p, canvas=canvas)
            msg3 = (
                f"Stride ignored in dkernel: it looks like the correlation of the padded input with dy, but with "
                f"stride S = {s} the weight (a, b) met the pixels x_p[n, i·S + a, j·S + b] — every S-th one: "
                f"spread dy out with S − 1 = {s - 1} zero(s) between its numbers first, or step by S."
            )
            out.append(("stride_ignored", 1, dk2, msg3))
    out.append(
        (
            "dkernel_flipped",
            1,
            dk_exp[::-1, ::-1],
            "dkernel is turned by 180°: dkernel[a, b] must collect the pixels that weight (a, b) multiplied, "
            "x_p[n, i·S + a, j·S + b] — the window's top-left pixel belongs to weight (0, 0). "
            "Check the order of your indices (or of the arguments of your correlation).",
        )
    )
    _, dk_conv = _grads(dy[:, ::-1, ::-1, :], x, kernel, step=s, top=p, canvas=canvas)
    out.append(
        (
            "dkernel_flipped",
            1,
            dk_conv,
            "dkernel pairs each window with the wrong dy: it looks like a convolution (dy turned by 180°) where "
            "a cross-correlation is needed. dkernel[a, b, c, o] = Σ dy[n, i, j, o] · x_p[n, i·S + a, j·S + b, c]: "
            "the window of output (i, j) goes with dy[n, i, j, o] of the same (i, j).",
        )
    )
    dxp_flip, _ = _grads(dy, x, kernel, step=s, top=p, canvas=canvas, flip_dx=True)
    out.append(
        (
            "dx_kernel_not_flipped",
            0,
            crop(dxp_flip),
            "dx uses the kernel the wrong way round: pixel x_p[i·S + a, j·S + b] was multiplied by "
            "kernel[a, b], so it gets kernel[a, b]·dy[i, j] back. Written as a full convolution of dy, that means "
            "sliding the kernel turned by 180° (lesson 07: only the flipped kernel gives the right ∂L/∂x; the "
            "sharpen kernel hides this because it is symmetric).",
        )
    )
    if p > 0:
        dxp, _ = _grads(dy, x, kernel, step=s, top=p, canvas=canvas)
        msg = (
            f"Padding mishandled in {{what}}: the windows are placed as if x started at row 0, column 0 of the "
            f"padded input, but with P = {p} zeros on every side x starts at row P and column P, so x_p[n, r, q] "
            f"is x[n, r − {p}, q − {p}]. {{fix}}"
        )
        out.append(
            (
                "padding_ignored",
                0,
                dxp[:, :h, :w, :],
                msg.format(
                    what="dx",
                    fix=f"Cut the {p}-wide ring off ALL four sides of the padded gradient (not just the bottom and "
                    "the right).",
                ),
            )
        )
        _, dk0 = _grads(dy, x, kernel, step=s, top=0, canvas=canvas)
        out.append(
            (
                "padding_ignored",
                1,
                dk0,
                msg.format(what="dkernel", fix="Pad x with P zeros on every side before taking the windows."),
            )
        )
    if kh > s or kw > s:
        for how in ("last_filter", "all_filters"):
            dxp_a, _ = _grads(dy, x, kernel, step=s, top=p, canvas=canvas, dx_assign=how)
            out.append(
                (
                    "overlap_overwrites",
                    0,
                    crop(dxp_a),
                    f"dx: a pixel that lies in several windows (here the {kh}×{kw} windows overlap, as the stride "
                    f"is {s}) must get the SUM of what every window sends back; your code keeps only the last one "
                    "(= instead of +=)."
                    + (" Add the contributions of every filter o too." if how == "last_filter" and o > 1 else ""),
                )
            )
    _, dk_a = _grads(dy, x, kernel, step=s, top=p, canvas=canvas, dk_assign=True)
    out.append(
        (
            "dkernel_overwrites",
            1,
            dk_a,
            "dkernel holds only the last window's contribution: each weight collects the sum over ALL images n "
            "and windows (i, j) of dy[n, i, j, o]·pixel — add (+=), do not assign (=).",
        )
    )
    if n > 1:
        for b in (0, n - 1):
            _, dk_b = _grads(dy[b : b + 1], x[b : b + 1], kernel, step=s, top=p, canvas=canvas)
            out.append(
                (
                    "batch_not_summed",
                    1,
                    dk_b,
                    f"dkernel uses only image {b} of the batch: the same kernel was applied to all N = {n} "
                    "images, so its gradient is the sum over the batch as well as over the windows.",
                )
            )
    # dbias: which axes of dy are summed.
    for axes in itertools.chain.from_iterable(itertools.combinations(range(4), r) for r in range(5)):
        if axes == (0, 1, 2):
            continue
        cand = dy.sum(axis=axes) if axes else dy
        kept = [("batch", "rows", "columns", "filters")[a] for a in range(4) if a not in axes]
        summed = [("batch", "rows", "columns", "filters")[a] for a in axes]
        what = "summed over " + (", ".join(summed) if summed else "nothing")
        out.append(
            (
                "dbias_axes",
                2,
                cand,
                f"dbias is dy {what} (shape {shape_text(cand.shape)}, keeping {', '.join(kept) or 'no axis'}). "
                f"bias[o] was added to every output pixel of filter o in every image, so dbias[o] is the sum of "
                f"dy[n, i, j, o] over the batch, the rows and the columns — one number per filter, shape ({o},).",
            )
        )
    if n > 1:
        for b in (0, n - 1):
            out.append(
                (
                    "dbias_axes",
                    2,
                    dy[b].sum(axis=(0, 1)),
                    f"dbias uses only image {b}: sum dy over the batch too (all N = {n} images), "
                    "as well as over the rows and columns.",
                )
            )
    if o > 1:
        out.append(
            (
                "dbias_axes",
                2,
                np.full(o, dy.sum()),
                "dbias is the sum of ALL of dy, filters included: each filter has its own bias, so "
                "dbias[o] sums dy[n, i, j, o] over n, i and j only.",
            )
        )
    return out


# --------------------------------------------------------------------------------------------------------------
# Explanations of one wrong number


def _dk_detail(case: Case, idx) -> str:
    dy, x, kernel, s, p = case.args
    a, b, c, o = idx
    xp = pad_nhwc(x, (p, p, p, p))
    oh, ow = dy.shape[1], dy.shape[2]
    lines = [
        f"dkernel[a, b, c, o] = Σ over n, i, j of dy[n, i, j, o] · x_p[n, i·S + a, j·S + b, c]"
        f"  (S = {s}; x_p is x with P = {p} zeros on every side)."
    ]
    lines.append(
        f"Weight ({a}, {b}) of channel {c}, filter {o}, multiplied the pixels at rows {a}, {a} + {s}, …, "
        f"columns {b}, {b} + {s}, … of x_p:"
    )
    total = 0.0
    partial = []
    for n in range(dy.shape[0]):
        touched = xp[n, a : a + (oh - 1) * s + 1 : s, b : b + (ow - 1) * s + 1 : s, c]
        g = dy[n, :, :, o]
        label = f"image {n}: " if dy.shape[0] > 1 else ""
        if touched.size <= 12:
            pad = "    " + " " * len(label)
            lines.append(f"    {label}{product_sum_text(touched, g, width=72 - len(pad), indent=pad)}")
        else:
            lines.append(f"    {label}pixels touched:")
            lines.append(window_text(touched, "      "))
            lines.append("    times dy:")
            lines.append(window_text(g, "      "))
            lines.append(f"    sum of the products = {number_text(np.sum(touched * g))}")
        v = float(np.sum(touched * g))
        partial.append(v)
        total += v
    if len(partial) > 1:
        lines.append(
            f"    {' + '.join(number_text(v, in_sum=True) for v in partial)} = {number_text(total)} (all images)"
        )
    return "\n".join(lines)


def _dx_detail(case: Case, idx) -> str:
    dy, x, kernel, s, p = case.args
    n, r, q, c = idx
    kh, kw, _, o_count = kernel.shape
    lines = [
        f"dx[n, h, w, c] = Σ over every output (i, j, o) whose window covers pixel (h, w) of "
        f"dy[n, i, j, o] · kernel[h + P − i·S, w + P − j·S, c, o]  (S = {s}, P = {p})."
    ]
    terms = []
    for i in range(dy.shape[1]):
        for j in range(dy.shape[2]):
            a, b = r + p - i * s, q + p - j * s
            if 0 <= a < kh and 0 <= b < kw:
                for o in range(o_count):
                    terms.append((i, j, o, a, b))
    if not terms:
        lines.append(
            f"No window covers x[{n}, {r}, {q}] (it lies in rows/columns the stride skips past), so its gradient is 0."
        )
        return "\n".join(lines)
    shown = terms[:24]
    lines.append(f"Pixel ({r}, {q}) is position ({r + p}, {q + p}) of the padded input; the windows covering it:")
    for i, j, o, a, b in shown:
        lines.append(
            f"    output ({i}, {j}), filter {o}: dy = {number_text(dy[n, i, j, o])}, "
            f"kernel[{a}, {b}, {c}, {o}] = {number_text(kernel[a, b, c, o])}"
        )
    if len(terms) > len(shown):
        lines.append(f"    … and {len(terms) - len(shown)} more")
    dys = [dy[n, i, j, o] for i, j, o, _, _ in terms]
    ks = [kernel[a, b, c, o] for _, _, o, a, b in terms]
    lines.append(f"    {product_sum_text(dys, ks, width=68, indent='    ')}")
    return "\n".join(lines)


def _db_detail(case: Case, idx) -> str:
    dy = case.args[0]
    (o,) = idx
    v = dy[:, :, :, o]
    lines = [f"dbias[o] = Σ over n, i, j of dy[n, i, j, o]: the sum of filter {o}'s dy over every image:"]
    for n in range(dy.shape[0]):
        lines.append(window_text(v[n], "    "))
    lines.append(f"    total = {number_text(v.sum())}")
    return "\n".join(lines)


def _shape_why(case: Case, k: int, got_shape) -> str:
    dy, x, kernel, s, p = case.args
    n, h, w, c = x.shape
    kh, kw, _, o = kernel.shape
    oh, ow = dy.shape[1], dy.shape[2]
    if k == 0:
        why = f"dx is the gradient of x, so it has x's shape (N, H, W, C_in) = {shape_text(x.shape)}."
        short = ((oh - 1) * s + kh - 2 * p, (ow - 1) * s + kw - 2 * p)
        if len(got_shape) == 4 and tuple(got_shape[1:3]) == short and short != (h, w):
            parts = []
            if short[0] != h:
                parts.append(
                    f"{size_formula_text(h, kh, p, s)} windows down cover only {(oh - 1) * s + kh} of the "
                    f"{h + 2 * p} padded rows"
                )
            if short[1] != w:
                parts.append(
                    f"{size_formula_text(w, kw, p, s, letter='U')} windows across cover only {(ow - 1) * s + kw} "
                    f"of the {w + 2 * p} padded columns"
                )
            why += (
                f" Yours stops where the last window ends ({'; '.join(parts)}): the rows/columns no window "
                "reaches still belong to dx, with gradient 0."
            )
        return why
    if k == 1:
        why = (
            "dkernel is the gradient of the kernel, so it has the kernel's shape (KH, KW, C_in, C_out) = "
            f"{shape_text(kernel.shape)}."
        )
        if tuple(got_shape[:2]) == (h + 2 * p - (oh - 1) * s, w + 2 * p - (ow - 1) * s):
            why += (
                " Yours is as large as the correlation of the whole padded input with the spread-out dy: the "
                "rows/columns no window reaches must be left out (crop x_p to the part the windows cover)."
            )
        return why
    return f"dbias has one number per filter: shape (C_out,) = ({o},)."


def diagnose(case: Case, got) -> Diagnosis | None:
    """The most specific explanation of a wrong ``(dx, dkernel, dbias)``; see the module docstring."""
    tol = case.tolerance
    # Not three array-like outputs (a lone array, a None): the framework's type message says it better.
    if not isinstance(got, (tuple, list)) or len(got) != 3 or any(g is None or isinstance(g, str) for g in got):
        return None
    try:
        got = tuple(np.asarray(g, dtype=float) for g in got)
    except (TypeError, ValueError):
        return None
    dy, x, kernel, s, p = case.args
    wrong = [k for k in range(3) if not close(got[k], case.expected[k], tol)]
    if not wrong:
        return None

    def also(explained):
        rest = [NAMES[k] for k in wrong if k not in explained]
        verb = "is" if len(rest) == 1 else "are"
        return f"\n({' and '.join(rest)} {verb} wrong too: fix this first, then check again.)" if rest else ""

    if 0 in wrong and got[0].shape == _padded_shape(x, p) and p > 0:
        return Diagnosis(
            "dx_not_cropped",
            f"dx has the padded input's shape {shape_text(got[0].shape)}; it must have x's shape "
            f"{shape_text(x.shape)}. The padding zeros are not learned: cut the {p}-wide ring (P = {p}) off "
            "every side of your padded gradient before returning it." + also({0}),
        )
    mistakes = _mistakes(case)
    for code, k, cand, message in mistakes:
        if k in wrong and same_shape_and_close(got[k], cand, tol):
            explained = {
                k2
                for c2, k2, cand2, _ in mistakes
                if c2 == code and k2 in wrong and same_shape_and_close(got[k2], cand2, tol)
            }
            # A message written for several outputs names the ones this mistake explains.
            message = message.replace("{what}", " and ".join(NAMES[k2] for k2 in sorted(explained)))
            return Diagnosis(code, message + also(explained))
    # Right numbers in the wrong arrangement of axes, or a constant factor.
    for k in wrong:
        g, e = got[k], case.expected[k]
        if g.shape != e.shape and g.size == e.size and close(g.reshape(e.shape), e, tol):
            why = "the numbers are right but the shape is not; " + _shape_why(case, k, g.shape)
            return shape_mismatch(NAMES[k], g.shape, e.shape, why)
        if g.shape == e.shape and np.any(e):
            factor = float(np.vdot(g, e) / np.vdot(e, e))
            if abs(factor - 1) > 1e-9 and factor != 0 and close(g, factor * e, tol):
                averaged = "Did you average (divide by the batch size or the number of windows)? "
                return Diagnosis(
                    "scaled",
                    f"{NAMES[k]} is the right answer times {number_text(factor, digits=4)}. "
                    f"{averaged if abs(factor) < 1 else ''}"
                    "The gradient is a plain sum: dy already holds whatever averaging the loss did." + also({k}),
                )
    for k in wrong:
        g, e = got[k], case.expected[k]
        if g.shape != e.shape:
            return shape_mismatch(NAMES[k], g.shape, e.shape, _shape_why(case, k, g.shape))
    k = wrong[0]
    idx = first_wrong(got[k], case.expected[k], tol)
    detail = (_dx_detail, _dk_detail, _db_detail)[k](case, idx)
    d = wrong_element(NAMES[k], idx, got[k][idx], case.expected[k][idx], detail)
    return Diagnosis(d.code, d.message + also({k}))
