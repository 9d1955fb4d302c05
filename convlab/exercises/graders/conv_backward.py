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
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "NAMES", "cases", "diagnose"]

HINTS: tuple[str, ...] = (
    N_(
        "Walk the forward pass backwards. Every output number y[n, i, j, o] came from ONE window of the padded "
        "input times filter o, plus bias[o]. Send dy[n, i, j, o] back along the same paths — to the bias, to each "
        "weight and to each pixel of that window — and add up (never overwrite) everything that lands in the same "
        "place. Lesson 07 does it by hand for one channel."
    ),
    N_(
        "With x_p = x padded with P zeros on every side: dbias[o] = Σ over n, i, j of dy[n, i, j, o];  "
        "dkernel[a, b, c, o] = Σ over n, i, j of dy[n, i, j, o] · x_p[n, i·S + a, j·S + b, c];  "
        "dx_p[n, i·S + a, j·S + b, c] gets kernel[a, b, c, o] · dy[n, i, j, o] added for every (i, j, o) "
        "whose window covers it. Shapes: dx like x (N, H, W, C_in), dkernel like the kernel (KH, KW, C_in, C_out), "
        "dbias (C_out,)."
    ),
    N_(
        "Structure: start dkernel, dbias and a dx_p of the PADDED input's shape at zero; for each image n, output "
        "row i, column j and filter o, the window starts at row i·S and column j·S of x_p: add window·dy[n, i, j, o] "
        "to filter o's gradient and filter o's weights·dy[n, i, j, o] onto the window's place in dx_p. At the end "
        "cut the P-wide ring of padding off dx_p: the result has x's shape."
    ),
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
    name = _("random: x {n}×{h}×{w}×{c}, kernel {kh}×{kw}×{c}×{o}, S {s}, P {p}").format(
        n=n, h=h, w=w, c=c, kh=kh, kw=kw, o=o, s=s, p=p
    )
    return _case(name, dy, x, kernel, s, p)


def cases(rng: np.random.Generator) -> list[Case]:
    """Lesson 07's worked gradients first, then the slides' 3-channel example, then random shapes."""
    sharpen = SHARPEN[:, :, None, None]
    out = [
        # The stub's worked example: dbias = [9], dkernel = the 3×3 block sums of the input.
        _case(
            _("lesson 07: 5×5 ⋆ sharpen, dy all ones"),
            np.ones((1, 3, 3, 1)),
            one_image(IMAGE),
            sharpen,
            1,
            0,
            slide=True,
        ),
        _case(_("lesson 07: 5×5 ⋆ sharpen, a mixed dy"), one_image(_DY2), one_image(IMAGE), sharpen, 1, 0, slide=True),
        # The sharpen kernel is symmetric; this one shows whether dx turns the kernel by 180°.
        _case(
            _("lesson 07: diagonal filter [[−1, 0], [0, 1]]"),
            one_image(_DY4),
            one_image(IMAGE),
            DIAGONAL[:, :, None, None],
            1,
            0,
            slide=True,
        ),
        _case(_("lesson 07: stride 2, padding 1"), one_image(_DY3), one_image(IMAGE), sharpen, 2, 1, slide=True),
        _case(
            _("slides: 5×5×3, two filters, P 1, S 2, dy all ones"),
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
    kh, kw = kernel.shape[0], kernel.shape[1]
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
    """``(code, output index, candidate, message)`` for each typical mistake, most telling first.

    A message written for several outputs holds the placeholder ``{what}``: :func:`diagnose` puts in the names of
    the outputs the mistake explains.
    """
    dy, x, kernel, s, p = case.args
    n, h, w, c = x.shape
    kh, kw, o = kernel.shape[0], kernel.shape[1], kernel.shape[3]
    oh, ow = dy.shape[1], dy.shape[2]
    hp, wp = h + 2 * p, w + 2 * p
    canvas = (hp, wp)
    dk_exp = case.expected[1]

    def crop(dxp, top=p):
        return dxp[:, top : top + h, top : top + w, :]

    out = []
    if s > 1:
        msg = _(
            "Stride ignored in {what}: your windows start at row i and column j, but with stride S = {s} window "
            "(i, j) starts at row i·S and column j·S of the padded input (the forward pass's windows). Multiply the "
            "output position by the stride wherever you locate a window (on lesson 07's convolution route: spread "
            "dy out with S − 1 = {zeros} zero(s) between its numbers first)."
        ).format(what="{what}", s=s, zeros=s - 1)
        dxp1, dk1 = _grads(dy, x, kernel, step=1, top=p, canvas=canvas)
        out.append(("stride_ignored", 0, crop(dxp1), msg))
        out.append(("stride_ignored", 1, dk1, msg))
        # The "full convolution" route without spreading dy out (no S − 1 zeros between its numbers): a padded
        # gradient only OH − 1 + KH rows tall, its padding cut as lesson 07 does ([P:−P]) or as x's ([P:P + H]).
        full = (oh - 1 + kh, ow - 1 + kw)  # never taller than the padded input
        msg2 = _(
            "Stride ignored in dx: it looks like the full convolution of dy with the flipped kernel, but with stride "
            "S = {s} dy must first be spread out with S − 1 = {zeros} zero(s) between its numbers (lesson 07, "
            "'dilate'), so each dy[n, i, j, o] lands at row i·S, column j·S."
        ).format(s=s, zeros=s - 1)
        for end in ((full[0] - p, full[1] - p), (min(p + h, full[0]), min(p + w, full[1]))):
            if end[0] > p and end[1] > p:
                out.append(("stride_ignored", 0, dxp1[:, p : end[0], p : end[1], :], msg2))
        # dkernel as correlate(x_p, dy) without spreading dy out: the kernel gradient of a stride-1 layer.
        kh2, kw2 = hp - oh + 1, wp - ow + 1
        if kh2 > 0 and kw2 > 0:
            dk2 = _grads(dy, x, np.zeros((kh2, kw2, c, o)), step=1, top=p, canvas=canvas)[1]
            msg3 = _(
                "Stride ignored in dkernel: it looks like the correlation of the padded input with dy, but with "
                "stride S = {s} the weight (a, b) met the pixels x_p[n, i·S + a, j·S + b] — every S-th one: spread "
                "dy out with S − 1 = {zeros} zero(s) between its numbers first, or step by S."
            ).format(s=s, zeros=s - 1)
            out.append(("stride_ignored", 1, dk2, msg3))
    out.append(
        (
            "dkernel_flipped",
            1,
            dk_exp[::-1, ::-1],
            _(
                "dkernel is turned by 180°: dkernel[a, b] must collect the pixels that weight (a, b) multiplied, "
                "x_p[n, i·S + a, j·S + b] — the window's top-left pixel belongs to weight (0, 0). Check the order of "
                "your indices (or of the arguments of your correlation)."
            ),
        )
    )
    dk_conv = _grads(dy[:, ::-1, ::-1, :], x, kernel, step=s, top=p, canvas=canvas)[1]
    out.append(
        (
            "dkernel_flipped",
            1,
            dk_conv,
            _(
                "dkernel pairs each window with the wrong dy: it looks like a convolution (dy turned by 180°) where a "
                "cross-correlation is needed. dkernel[a, b, c, o] = Σ dy[n, i, j, o] · x_p[n, i·S + a, j·S + b, c]: "
                "the window of output (i, j) goes with dy[n, i, j, o] of the same (i, j)."
            ),
        )
    )
    dxp_flip = _grads(dy, x, kernel, step=s, top=p, canvas=canvas, flip_dx=True)[0]
    out.append(
        (
            "dx_kernel_not_flipped",
            0,
            crop(dxp_flip),
            _(
                "dx uses the kernel the wrong way round: pixel x_p[i·S + a, j·S + b] was multiplied by kernel[a, b], "
                "so it gets kernel[a, b]·dy[i, j] back. Written as a full convolution of dy, that means sliding the "
                "kernel turned by 180° (lesson 07: only the flipped kernel gives the right ∂L/∂x; the sharpen kernel "
                "hides this because it is symmetric)."
            ),
        )
    )
    if p > 0:
        dxp = _grads(dy, x, kernel, step=s, top=p, canvas=canvas)[0]
        out.append(
            (
                "padding_ignored",
                0,
                dxp[:, :h, :w, :],
                _(
                    "Padding mishandled in dx: the windows are placed as if x started at row 0, column 0 of the "
                    "padded input, but with P = {p} zeros on every side x starts at row P and column P, so "
                    "x_p[n, r, q] is x[n, r − {p}, q − {p}]. Cut the {p}-wide ring off ALL four sides of the padded "
                    "gradient (not just the bottom and the right)."
                ).format(p=p),
            )
        )
        dk0 = _grads(dy, x, kernel, step=s, top=0, canvas=canvas)[1]
        out.append(
            (
                "padding_ignored",
                1,
                dk0,
                _(
                    "Padding mishandled in dkernel: the windows are placed as if x started at row 0, column 0 of the "
                    "padded input, but with P = {p} zeros on every side x starts at row P and column P, so "
                    "x_p[n, r, q] is x[n, r − {p}, q − {p}]. Pad x with P zeros on every side before taking the "
                    "windows."
                ).format(p=p),
            )
        )
    if kh > s or kw > s:
        for how in ("last_filter", "all_filters"):
            dxp_a = _grads(dy, x, kernel, step=s, top=p, canvas=canvas, dx_assign=how)[0]
            if how == "last_filter" and o > 1:
                message = _(
                    "dx: a pixel that lies in several windows (here the {kh}×{kw} windows overlap, as the stride is "
                    "{s}) must get the SUM of what every window sends back; your code keeps only the last one (= "
                    "instead of +=). Add the contributions of every filter o too."
                )
            else:
                message = _(
                    "dx: a pixel that lies in several windows (here the {kh}×{kw} windows overlap, as the stride is "
                    "{s}) must get the SUM of what every window sends back; your code keeps only the last one (= "
                    "instead of +=)."
                )
            out.append(("overlap_overwrites", 0, crop(dxp_a), message.format(kh=kh, kw=kw, s=s)))
    dk_a = _grads(dy, x, kernel, step=s, top=p, canvas=canvas, dk_assign=True)[1]
    out.append(
        (
            "dkernel_overwrites",
            1,
            dk_a,
            _(
                "dkernel holds only the last window's contribution: each weight collects the sum over ALL images n "
                "and windows (i, j) of dy[n, i, j, o]·pixel — add (+=), do not assign (=)."
            ),
        )
    )
    if n > 1:
        for b in (0, n - 1):
            dk_b = _grads(dy[b : b + 1], x[b : b + 1], kernel, step=s, top=p, canvas=canvas)[1]
            out.append(
                (
                    "batch_not_summed",
                    1,
                    dk_b,
                    _(
                        "dkernel uses only image {b} of the batch: the same kernel was applied to all N = {n} images, "
                        "so its gradient is the sum over the batch as well as over the windows."
                    ).format(b=b, n=n),
                )
            )
    # dbias: which axes of dy are summed.
    axis_names = (_("batch"), _("rows"), _("columns"), _("filters"))
    for axes in itertools.chain.from_iterable(itertools.combinations(range(4), r) for r in range(5)):
        if axes == (0, 1, 2):
            continue
        cand = dy.sum(axis=axes) if axes else dy
        kept = [axis_names[a] for a in range(4) if a not in axes]
        summed = [axis_names[a] for a in axes]
        message = _(
            "dbias is dy summed over {summed} (shape {shape}, keeping {kept}). bias[o] was added to every output "
            "pixel of filter o in every image, so dbias[o] is the sum of dy[n, i, j, o] over the batch, the rows and "
            "the columns — one number per filter, shape ({o},)."
        ).format(
            summed=", ".join(summed) if summed else _("nothing"),
            shape=shape_text(cand.shape),
            kept=", ".join(kept) or _("no axis"),
            o=o,
        )
        out.append(("dbias_axes", 2, cand, message))
    if n > 1:
        for b in (0, n - 1):
            out.append(
                (
                    "dbias_axes",
                    2,
                    dy[b].sum(axis=(0, 1)),
                    _(
                        "dbias uses only image {b}: sum dy over the batch too (all N = {n} images), as well as over "
                        "the rows and columns."
                    ).format(b=b, n=n),
                )
            )
    if o > 1:
        out.append(
            (
                "dbias_axes",
                2,
                np.full(o, dy.sum()),
                _(
                    "dbias is the sum of ALL of dy, filters included: each filter has its own bias, so dbias[o] sums "
                    "dy[n, i, j, o] over n, i and j only."
                ),
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
        _(
            "dkernel[a, b, c, o] = Σ over n, i, j of dy[n, i, j, o] · x_p[n, i·S + a, j·S + b, c]  (S = {s}; x_p is x "
            "with P = {p} zeros on every side)."
        ).format(s=s, p=p)
    ]
    lines.append(
        _(
            "Weight ({a}, {b}) of channel {c}, filter {o}, multiplied the pixels at rows {a}, {a} + {s}, …, columns "
            "{b}, {b} + {s}, … of x_p:"
        ).format(a=a, b=b, c=c, o=o, s=s)
    )
    total = 0.0
    partial = []
    for n in range(dy.shape[0]):
        touched = xp[n, a : a + (oh - 1) * s + 1 : s, b : b + (ow - 1) * s + 1 : s, c]
        g = dy[n, :, :, o]
        label = _("image {n}:").format(n=n) + " " if dy.shape[0] > 1 else ""
        if touched.size <= 12:
            pad = "    " + " " * len(label)
            lines.append(f"    {label}{product_sum_text(touched, g, width=72 - len(pad), indent=pad)}")
        else:
            lines.append(f"    {label}" + _("pixels touched:"))
            lines.append(window_text(touched, "      "))
            lines.append("    " + _("times dy:"))
            lines.append(window_text(g, "      "))
            lines.append("    " + _("sum of the products = {total}").format(total=number_text(np.sum(touched * g))))
        v = float(np.sum(touched * g))
        partial.append(v)
        total += v
    if len(partial) > 1:
        lines.append(
            "    "
            + _("{sums} = {total} (all images)").format(
                sums=" + ".join(number_text(v, in_sum=True) for v in partial), total=number_text(total)
            )
        )
    return "\n".join(lines)


def _dx_detail(case: Case, idx) -> str:
    dy, x, kernel, s, p = case.args
    n, r, q, c = idx
    kh, kw, o_count = kernel.shape[0], kernel.shape[1], kernel.shape[3]
    lines = [
        _(
            "dx[n, h, w, c] = Σ over every output (i, j, o) whose window covers pixel (h, w) of dy[n, i, j, o] · "
            "kernel[h + P − i·S, w + P − j·S, c, o]  (S = {s}, P = {p})."
        ).format(s=s, p=p)
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
            _(
                "No window covers x[{n}, {r}, {q}] (it lies in rows/columns the stride skips past), so its gradient "
                "is 0."
            ).format(n=n, r=r, q=q)
        )
        return "\n".join(lines)
    shown = terms[:24]
    lines.append(
        _("Pixel ({r}, {q}) is position ({rp}, {qp}) of the padded input; the windows covering it:").format(
            r=r, q=q, rp=r + p, qp=q + p
        )
    )
    for i, j, o, a, b in shown:
        lines.append(
            "    "
            + _("output ({i}, {j}), filter {o}: dy = {dy}, kernel[{a}, {b}, {c}, {o}] = {weight}").format(
                i=i, j=j, o=o, dy=number_text(dy[n, i, j, o]), a=a, b=b, c=c, weight=number_text(kernel[a, b, c, o])
            )
        )
    if len(terms) > len(shown):
        lines.append("    " + _("… and {n} more").format(n=len(terms) - len(shown)))
    dys = [dy[n, t[0], t[1], t[2]] for t in terms]
    ks = [kernel[t[3], t[4], c, t[2]] for t in terms]
    lines.append(f"    {product_sum_text(dys, ks, width=68, indent='    ')}")
    return "\n".join(lines)


def _db_detail(case: Case, idx) -> str:
    dy = case.args[0]
    (o,) = idx
    v = dy[:, :, :, o]
    lines = [_("dbias[o] = Σ over n, i, j of dy[n, i, j, o]: the sum of filter {o}'s dy over every image:").format(o=o)]
    for n in range(dy.shape[0]):
        lines.append(window_text(v[n], "    "))
    lines.append("    " + _("total = {total}").format(total=number_text(v.sum())))
    return "\n".join(lines)


def _shape_why(case: Case, k: int, got_shape) -> str:
    dy, x, kernel, s, p = case.args
    h, w = x.shape[1], x.shape[2]
    kh, kw, o = kernel.shape[0], kernel.shape[1], kernel.shape[3]
    oh, ow = dy.shape[1], dy.shape[2]
    if k == 0:
        why = _("dx is the gradient of x, so it has x's shape (N, H, W, C_in) = {shape}.").format(
            shape=shape_text(x.shape)
        )
        short = ((oh - 1) * s + kh - 2 * p, (ow - 1) * s + kw - 2 * p)
        if len(got_shape) == 4 and tuple(got_shape[1:3]) == short and short != (h, w):
            parts = []
            if short[0] != h:
                parts.append(
                    _("{formula} windows down cover only {covered} of the {total} padded rows").format(
                        formula=size_formula_text(h, kh, p, s), covered=(oh - 1) * s + kh, total=h + 2 * p
                    )
                )
            if short[1] != w:
                parts.append(
                    _("{formula} windows across cover only {covered} of the {total} padded columns").format(
                        formula=size_formula_text(w, kw, p, s, letter="U"), covered=(ow - 1) * s + kw, total=w + 2 * p
                    )
                )
            why += " " + _(
                "Yours stops where the last window ends ({where}): the rows/columns no window reaches still belong "
                "to dx, with gradient 0."
            ).format(where="; ".join(parts))
        return why
    if k == 1:
        why = _(
            "dkernel is the gradient of the kernel, so it has the kernel's shape (KH, KW, C_in, C_out) = {shape}."
        ).format(shape=shape_text(kernel.shape))
        if tuple(got_shape[:2]) == (h + 2 * p - (oh - 1) * s, w + 2 * p - (ow - 1) * s):
            why += " " + _(
                "Yours is as large as the correlation of the whole padded input with the spread-out dy: the "
                "rows/columns no window reaches must be left out (crop x_p to the part the windows cover)."
            )
        return why
    return _("dbias has one number per filter: shape (C_out,) = ({o},).").format(o=o)


def _names_text(names: list[str]) -> str:
    """``["dx", "dkernel"]`` → ``"dx and dkernel"`` (in the language in use)."""
    text = names[0]
    for name in names[1:]:
        text = _("{first} and {second}").format(first=text, second=name)
    return text


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
    x, p = case.args[1], case.args[4]
    wrong = [k for k in range(3) if not close(got[k], case.expected[k], tol)]
    if not wrong:
        return None

    def also(explained):
        rest = [NAMES[k] for k in wrong if k not in explained]
        if not rest:
            return ""
        if len(rest) == 1:
            text = _("({name} is wrong too: fix this first, then check again.)")
        else:
            text = _("({name} are wrong too: fix this first, then check again.)")
        return "\n" + text.format(name=_names_text(rest))

    if 0 in wrong and got[0].shape == _padded_shape(x, p) and p > 0:
        message = _(
            "dx has the padded input's shape {got}; it must have x's shape {shape}. The padding zeros are not "
            "learned: cut the {p}-wide ring (P = {p}) off every side of your padded gradient before returning it."
        )
        return Diagnosis(
            "dx_not_cropped", message.format(got=shape_text(got[0].shape), shape=shape_text(x.shape), p=p) + also({0})
        )
    mistakes = _mistakes(case)
    for code, k, cand, message in mistakes:
        if k in wrong and same_shape_and_close(got[k], cand, tol):
            explained = {
                k2
                for c2, k2, cand2, _message in mistakes
                if c2 == code and k2 in wrong and same_shape_and_close(got[k2], cand2, tol)
            }
            # A message written for several outputs names the ones this mistake explains.
            message = message.replace("{what}", _names_text([NAMES[k2] for k2 in sorted(explained)]))
            return Diagnosis(code, message + also(explained))
    # Right numbers in the wrong arrangement of axes, or a constant factor.
    for k in wrong:
        g, e = got[k], case.expected[k]
        if g.shape != e.shape and g.size == e.size and close(g.reshape(e.shape), e, tol):
            why = _("the numbers are right but the shape is not; {why}").format(why=_shape_why(case, k, g.shape))
            return shape_mismatch(NAMES[k], g.shape, e.shape, why)
        if g.shape == e.shape and np.any(e):
            factor = float(np.vdot(g, e) / np.vdot(e, e))
            if abs(factor - 1) > 1e-9 and factor != 0 and close(g, factor * e, tol):
                if abs(factor) < 1:
                    message = _(
                        "{name} is the right answer times {factor}. Did you average (divide by the batch size or the "
                        "number of windows)? The gradient is a plain sum: dy already holds whatever averaging the "
                        "loss did."
                    )
                else:
                    message = _(
                        "{name} is the right answer times {factor}. The gradient is a plain sum: dy already holds "
                        "whatever averaging the loss did."
                    )
                text = message.format(name=NAMES[k], factor=number_text(factor, digits=4))
                return Diagnosis("scaled", text + also({k}))
    for k in wrong:
        g, e = got[k], case.expected[k]
        if g.shape != e.shape:
            return shape_mismatch(NAMES[k], g.shape, e.shape, _shape_why(case, k, g.shape))
    k = wrong[0]
    idx = first_wrong(got[k], case.expected[k], tol)
    detail = (_dx_detail, _dk_detail, _db_detail)[k](case, idx)
    d = wrong_element(NAMES[k], idx, got[k][idx], case.expected[k][idx], detail)
    return Diagnosis(d.code, d.message + also({k}))
