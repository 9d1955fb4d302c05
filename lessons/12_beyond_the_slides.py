# %% [markdown]
# # Lesson 12 — beyond the slides: dilated, transposed, 1×1, depthwise separable and grouped convolutions
#
# Why it matters: the pretrained networks the slides list after VGG16
# (InceptionV3, Xception, ResNet50, MobileNet) and the networks that make images
# larger (segmentation, generators) are built from variants of the slides'
# convolution. Each is still a sum of products with an output-size formula, so
# each can be computed by hand.
#
# The slides' convolution has one kernel size, a stride and zero padding. Modern
# networks vary it in four ways (in the slides' notation: `N` input side, `K` kernel
# size, `P` padding, `S` stride, `T` output side, `N_c` channels, `N_f` filters; `D` is the
# dilation rate):
#
# * **Dilation** (`dilation_rate=D`): the K taps (weights) lie D pixels apart, so
#   the same 9 weights of a 3×3 kernel see a 5×5 patch when D = 2; output size
#   `T = (N + 2P − D·(K − 1) − 1)/S + 1`. Stacking 3×3 layers with D = 1, 2, 4
#   gives a 15×15 receptive field with the weights of three plain 3×3 layers (7×7).
#   Sources: Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep
#   learning" §5.1 (relationship 15); Yu & Koltun 2016, "Multi-scale context
#   aggregation by dilated convolutions".
#
# * **Transposed convolution** (`Conv2DTranspose`): every input pixel stamps the
#   kernel, scaled, onto the output (overlaps add) — upsampling with learned
#   weights; `T = S·(N − 1) + K − 2P (+ A)`. It is the input gradient of a
#   convolution, i.e. the transpose `Cᵀ` of the convolution's matrix `C`.
#   Sources: d2l.ai §14.10 "Transposed Convolution" (the 2×2 example);
#   Dumoulin & Visin 2016 §4 (relationship 13–14, §4.1 the matrix `C`); Keras'
#   `Conv2DTranspose` output-size rule.
#
# * **1×1 convolutions**: a Dense layer applied at every pixel, across channels —
#   how networks change their channel count (Lin et al. 2013 "Network in Network";
#   He et al. 2016's ResNet bottleneck; MobileNet's pointwise step).
#
# * **Depthwise separable convolutions**: one 3×3 filter per channel, then a 1×1
#   convolution; `SeparableConv2D(64, 3)` on 32 channels has 2,400 parameters
#   against `Conv2D(64, 3)`'s 18,496, and costs `1/N_f + 1/K²` of its
#   multiply-adds (Howard et al. 2017, "MobileNets", eq. 5, where it reads
#   `1/N + 1/D_K²`; Chollet 2017, "Xception").
#   **Grouped convolutions** (`Conv2D(groups=G)`) lie in between: G = 1 is the
#   ordinary convolution, G = N_c (one channel per group) the depthwise one
#   (Krizhevsky et al. 2012; Xie et al. 2017, "ResNeXt").
#
# Every number is computed by hand first, then checked against convlab's
# operations in all three backends and, when TensorFlow is installed, against Keras.
#
# Run: `python lessons/12_beyond_the_slides.py [--step] [--out DIR] [--quick] [--lang es] [--no-keras] [--keras]`.
# `--quick` skips the comparison with Keras (importing TensorFlow takes longer than
# the rest of the lesson); `--keras` runs it anyway; without TensorFlow the
# lesson says so in one line and runs the rest.
#
# Figures (number grids in grey, larger = lighter; signed kernels in blue/red):
# the dilated window (PNG and an animated GIF in the style of Dumoulin & Visin's
# conv_arithmetic), receptive fields, the transposed convolution by hand (PNG and
# GIF), the matrix `C` and `Cᵀ`, and MobileNet's savings.

# %%
import textwrap
from fractions import Fraction

import matplotlib.pyplot as plt
import numpy as np

import convlab
from convlab import viz
from convlab.bridge.optional import import_keras
from convlab.lesson import Lesson, _, product_rows, unbroken
from convlab.shapes import effective_kernel_size


def extra_args(parser):
    parser.add_argument("--no-keras", action="store_true", help=_("skip the comparison with Keras"))
    parser.add_argument("--keras", action="store_true", help=_("compare with Keras even under --quick"))


lesson = Lesson(__file__, "Dilated, transposed, 1×1, separable, grouped convolutions", extra_args=extra_args)
BACKENDS = ("reference", "numpy", "numba")
GIF_DPI = 80


lesson.say(
    _(
        "Why it matters: the pretrained networks the slides list after VGG16 (InceptionV3, Xception, ResNet50, "
        "MobileNet) and networks that make images larger are built from variants of the slides' "
        "convolution. Each is still a sum of products with an output-size formula: you can compute "
        "each by hand."
    ),
    _("Notation as in the slides: {n}, {k}, {p}, {s}, {t}, {n_c}, {n_f}; D is new here (the dilation rate).").format(
        n=unbroken(_("N input side")),
        k=unbroken(_("K kernel size")),
        p=unbroken(_("P padding")),
        s=unbroken(_("S stride")),
        t=unbroken(_("T output side")),
        n_c=unbroken(_("N_c channels")),
        n_f=unbroken(_("N_f filters")),
    ),
)


def matrix_lines(m, zero=None, blank=None):
    """A matrix as aligned text lines.

    ``zero``: the text for exact zeros (e.g. ``"·"``); ``blank``: a boolean mask of cells printed as ``·``.
    """
    m = np.asarray(m)
    hide = np.zeros(m.shape, bool) if blank is None else np.asarray(blank)
    cells = [
        [("·" if h else zero if zero is not None and v == 0 else f"{v:g}") for v, h in zip(row, hrow)]
        for row, hrow in zip(m, hide)
    ]
    width = max(len(c) for row in cells for c in row)
    return [" ".join(f"{c:>{width}}" for c in row) for row in cells]


def show(m, indent="    ", zero=None, blank=None):
    """Print a matrix one row per line, aligned."""
    lesson.say(*(indent + line for line in matrix_lines(m, zero, blank)))


def prose(text):
    """Print one paragraph (one translated message; lesson.say wraps it at 80 columns).

    A formula inside it is a named placeholder filled with :func:`unbroken` text, so that the
    wrapping never splits it, in either language."""
    lesson.say(text)


_last_notes = []  # the previous formula's notes: two formulas in a row often share one


def formula(text, indent="  "):
    """Print a formula from convlab.shapes, each bracketed note on a line of its own below it
    (a note the formula just before printed is not repeated)."""
    first, *notes = text.split("   [")
    lesson.say(indent + first)
    for note in notes:  # continuation lines under the note's text, not under its bracket
        if note in _last_notes:
            continue
        lesson.say(*textwrap.wrap(f"[{note}", 80, initial_indent=indent + "    ", subsequent_indent=indent + "     "))
    _last_notes[:] = notes


def show_side(mats, titles, indent="    ", gap="     "):
    """Print matrices side by side, each under its title."""
    blocks = [[t] + matrix_lines(m) for m, t in zip(mats, titles)]
    widths = [max(len(line) for line in b) for b in blocks]
    for r in range(max(len(b) for b in blocks)):
        cells = [(b[r] if r < len(b) else "").ljust(w) for b, w in zip(blocks, widths)]
        lesson.say(indent + gap.join(cells).rstrip())


def term(p, q):
    """One product as the slides write it: negative factors in parentheses."""
    a = f"{p:g}" if p >= 0 else f"({p:g})"
    b = f"{q:g}" if q >= 0 else f"({q:g})"
    return f"{a}*{b}"


def sum_rows(label, window, kernel, total):
    """A window·kernel sum as the slides lay it out (:func:`convlab.lesson.product_rows`): one kernel
    row per line, ``label = `` before the first, ``= total`` at the end. The caller prints the lines
    and can check their text."""
    return product_rows(window, kernel, total, label=f"{label} = ")


def say_product_rows(lines, note):
    """Print sum_rows' lines indented, with ``note`` to the right of the first one."""
    width = max(len(line) for line in lines[:-1] + [lines[-1].rsplit(" = ", 1)[0]])
    lesson.say("  " + lines[0].ljust(width) + "   " + note, *("  " + line for line in lines[1:]))


def labelled(rows, indent="  "):
    """Lines ``label text`` with the texts aligned after the longest label (labels differ by language)."""
    width = max(len(label) for label, _text in rows)
    return [f"{indent}{label:<{width}} {text}" for label, text in rows]


def nhwc(image):
    """A 2-D image as a batch of one single-channel image ``(1, H, W, 1)``."""
    return np.asarray(image, dtype=float)[None, :, :, None]


def k4(k):
    """A 2-D kernel as a one-in, one-out kernel ``(KH, KW, 1, 1)``."""
    return np.asarray(k, dtype=float)[:, :, None, None]


def grids_figure(mats, titles, signed=(), suptitle=None, cell_inches=0.45, gaps=None, limits=None):
    """Matrices side by side with their numbers (:func:`convlab.viz.matrices_figure`): number grids
    in viz's grey (larger = lighter), the indices in ``signed`` (kernels) in RdBu_r centred on 0
    (blue negative, white 0, red positive).

    ``gaps``: ``{index: boolean mask}`` of cells drawn as a pale ``·`` instead of a number (a dilated
    kernel's gaps, which hold no weight; a matrix's zeros where the text prints them as ``·``).
    ``limits``: ``(vmin, vmax)`` shared by every grey grid, so that one number has one shade in
    all of them (default: each grid its own range)."""
    cmaps = ["RdBu_r" if i in signed else viz.GRID_CMAP for i in range(len(mats))]
    shared = [None if i in signed else limits for i in range(len(mats))]
    fig = viz.matrices_figure(mats, titles, cmaps=cmaps, suptitle=suptitle, cell_inches=cell_inches, limits=shared)
    for i, mask in (gaps or {}).items():
        ax = fig.axes[i]
        for r, c in np.argwhere(mask):
            # covers the cell's colour and its number (zorder above draw_matrix's text), keeps its border
            ax.add_patch(
                plt.Rectangle((c - 0.5, r - 0.5), 1, 1, facecolor="0.9", edgecolor="0.6", linewidth=0.5, zorder=4)
            )
            ax.text(c, r, "·", ha="center", va="center", fontsize=16, color="0.35", zorder=5)
    fig.tight_layout()  # keeps a two-line suptitle clear of the panels' titles
    return fig


def save_gif(anim, name):
    lesson.save_file(lambda path: viz.save_gif(anim, path, fps=1, dpi=GIF_DPI), name)
    plt.close("all")  # the animation's figure


# %%
lesson.step(_("Dilation: the same 9 weights, a 5×5 view"))
X = np.array(
    [
        [4, 5, 7, 9, 0, 1, 8],
        [9, 2, 3, 8, 4, 2, 8],
        [2, 4, 6, 5, 0, 0, 8],
        [7, 8, 5, 8, 3, 4, 7],
        [1, 3, 1, 4, 9, 1, 3],
        [4, 9, 2, 5, 2, 0, 7],
        [0, 2, 4, 4, 1, 9, 7],
    ],
    dtype=float,
)
SOBEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
DILATED_OUT = np.array([[0, 14, -7], [15, 17, -14], [-15, 1, -9]])
# out[0,0] as the slides write a product sum: one kernel row per line.
FIRST_DILATED_LINES = [
    "out[0,0] = 4*1 + 7*0 + 0*(-1) +",
    "           2*2 + 6*0 + 0*(-2) +",
    "           1*1 + 1*0 + 9*(-1) = 0",
]
prose(
    _(
        "A 3×3 kernel: Sobel's vertical-edge detector (lesson 02's horizontal-edge kernel turned "
        "90°, with its middle row doubled):"
    )
)
show(SOBEL)
D = 2
K5 = np.zeros((5, 5))
K5[::D, ::D] = SOBEL
prose(
    _(
        "To dilate a kernel is to spread its weights apart ('taps': the input pixels the weights "
        "multiply). With dilation_rate {rate} the taps lie {d} pixels apart: the kernel reads a 5×5 "
        "patch, as if it were this 5×5 kernel with gaps (·) between the weights — gaps that are never "
        "stored or multiplied:"
    ).format(rate=unbroken(f"D = {D}"), d=D)
)
GAPS = np.ones((5, 5), bool)
GAPS[::D, ::D] = False
show(K5, blank=GAPS)
span = effective_kernel_size(3, D)
lesson.say("  " + _("span = D·(K − 1) + 1 = {d}·(3 − 1) + 1 = {span} pixels per side").format(d=D, span=span))
lesson.check(_("a 3×3 kernel dilated by 2 spans 5×5"), span, 5)
lesson.check(
    _("… with the same parameters as the undilated one: 3·3·1·1 + 1 = 10"),
    convlab.conv2d_param_count(1, 3, 1),
    10,
)
lesson.say("")
prose(
    _("Output size: the effective window {window} takes K's place in the slides' formula:").format(
        window=unbroken("D·(K − 1) + 1")
    )
)
formula(convlab.output_size_formula(7, 3, 0, 1, dilation=D))
formula(convlab.output_size_formula(7, 3, "same", 1, dilation=D))
lesson.check(_("7×7 input, 3×3 kernel, D = 2, valid → 3"), convlab.conv_output_size(7, 3, 0, 1, dilation=D), 3)
lesson.check(_("… 'same' → 7 (padding 2 each side)"), convlab.conv_output_size(7, 3, "same", 1, dilation=D), 7)
lesson.check(
    _("conv2d(dilation_rate=2, padding='same') keeps 7×7"),
    convlab.conv2d(nhwc(X), k4(SOBEL), dilation_rate=D, padding="same").shape,
    (1, 7, 7, 1),
)

# %%
lesson.step(_("The dilated convolution by hand: 7×7 input, D = 2"))
lesson.say(_("input x (7×7):"))
show(X)
prose(
    _(
        "Each output multiplies the kernel with every second pixel of a 5×5 window (the rows and "
        "columns on the right), one kernel row per line:"
    )
)
by_hand = np.zeros((3, 3))
written = {}
for i in range(3):
    for j in range(3):
        rows, cols = [i + D * u for u in range(3)], [j + D * v for v in range(3)]
        window = X[np.ix_(rows, cols)]
        by_hand[i, j] = np.sum(window * SOBEL)
        written[i, j] = sum_rows(f"out[{i},{j}]", window, SOBEL, by_hand[i, j])
        where = _("rows {rows} × cols {cols}").format(rows=", ".join(map(str, rows)), cols=", ".join(map(str, cols)))
        say_product_rows(written[i, j], where)
lesson.check(_("out[0,0] written out, row by row"), written[0, 0], FIRST_DILATED_LINES)
lesson.say(_("output (3×3):"))
show(by_hand)
lesson.check(_("3×3 result by hand"), by_hand, DILATED_OUT)
prose(
    _(
        "convlab computes each operation with three interchangeable backends (implementations): "
        "'reference' (plain loops that read like the slides), 'numpy' (vectorised) and 'numba' "
        "(compiled). All three must give the hand result:"
    )
)
for backend in BACKENDS:
    got = convlab.conv2d(nhwc(X), k4(SOBEL), dilation_rate=D, backend=backend)[0, :, :, 0]
    lesson.check(f"conv2d(dilation_rate=2), backend={backend!r}", got, DILATED_OUT)
lesson.check(
    _("= an ordinary convolution with the 5×5 zero-filled kernel"),
    convlab.conv2d(nhwc(X), k4(K5))[0, :, :, 0],
    DILATED_OUT,
)
lesson.savefig(
    grids_figure(
        [X, SOBEL, K5, by_hand],
        [_("input 7×7"), "kernel 3×3", _("as read with D = 2\n(· = gap, no weight)"), _("output 3×3")],
        signed=(1, 2),
        suptitle=_(
            "Dilation 2: nine weights spread over a 5×5 patch\n"
            "(grey: larger = lighter; kernels: blue negative, red positive)"
        ),
        gaps={2: GAPS},
    ),
    "dilation_by_hand",
)
anim, out = viz.conv_arithmetic_animation(X, SOBEL, dilation=D)
lesson.check(_("the animation's output equals the hand computation"), out, DILATED_OUT)
save_gif(anim, "dilation_d2.gif")

# %%
lesson.step(_("Receptive field: stacked 3×3 layers with D = 1, 2, 4 see 15×15"))
prose(
    _(
        "An output's receptive field is the patch of the input it depends on. Each 3×3 layer with "
        "dilation D widens it by {growth} pixels:"
    ).format(growth=unbroken("D·(K − 1)"))
)
lesson.say("  " + _("RF = 1 + Σ_layers D·(K − 1)"))
rf_rows, rf_lines = {}, []
for name, label, rates in (
    ("plain", _("plain 3×3"), (1, 1, 1, 1)),
    ("dilated", _("dilated 3×3"), (1, 2, 4, 8)),
):
    rf, steps = 1, []
    for d in rates:
        rf += d * (3 - 1)
        steps.append(rf)
    rf_rows[name] = steps
    rf_lines.append((label, _("D = {rates}: after 1…4 layers {steps}").format(rates=rates, steps=steps)))
lesson.say(*labelled(rf_lines))
lesson.check(_("three plain 3×3 layers: 1 + 2 + 2 + 2 = 7"), rf_rows["plain"][2], 7)
lesson.check(_("three dilated 3×3 layers (1, 2, 4): 1 + 2 + 4 + 8 = 15"), rf_rows["dilated"][2], 15)
prose(
    _("Linear growth against exponential growth (Yu & Koltun 2016), with the same {weights} weights.").format(
        weights=unbroken("3·9 = 27")
    )
)
lesson.say("")
prose(
    _(
        "Measured: push one bright pixel through three layers of all-ones kernels ('same' padding); "
        "the pixels it reaches are the receptive field of the centre output (the all-ones kernels "
        "are symmetric, so reaching and being seen are the same):"
    )
)
size = 17
delta = np.zeros((size, size))
delta[size // 2, size // 2] = 1
maps = {}
for name, rates in (("plain", (1, 1, 1)), ("dilated", (1, 2, 4))):
    m = nhwc(delta)
    for d in rates:
        m = convlab.conv2d(m, np.ones((3, 3, 1, 1)), padding="same", dilation_rate=d)
    maps[name] = m[0, :, :, 0]
stack = {"plain": _("plain"), "dilated": _("dilated")}
for name, expected, measured in (
    ("plain", 7, _("plain stack: measured receptive field {n}×{n}")),
    ("dilated", 15, _("dilated stack: measured receptive field {n}×{n}")),
):
    rows = np.flatnonzero(maps[name].any(axis=1))
    extent = rows[-1] - rows[0] + 1
    lesson.say(
        "  "
        + _("{stack}: rows {first}…{last} reached → {n}×{n}").format(
            stack=stack[name], first=rows[0], last=rows[-1], n=extent
        )
    )
    lesson.check(measured.format(n=expected), extent, expected)
lesson.say(
    _("Paths from each input pixel to the centre, along the centre row:"),
    *labelled(
        [
            (stack["plain"] + ":", maps["plain"][size // 2, 5:12].astype(int).tolist()),
            (stack["dilated"] + ":", maps["dilated"][size // 2, 1:16].astype(int).tolist()),
        ]
    ),
)
lesson.check(
    _("plain: [1, 3, 6, 7, 6, 3, 1] · 7 along the centre row"), maps["plain"][8, 5:12], [7, 21, 42, 49, 42, 21, 7]
)
lesson.check_true(
    _("dilated 1, 2, 4: every pixel of the 15×15 is reached (no gaps)"), np.all(maps["dilated"][1:16, 1:16] > 0)
)
lesson.check(
    _("… by 1 to 3 paths: the ways to add offsets from {-1,0,1}, {-2,0,2}, {-4,0,4}"),
    maps["dilated"][size // 2, 1:16],
    np.convolve(np.convolve([1, 1, 1], [1, 0, 1, 0, 1]), [1, 0, 0, 0, 1, 0, 0, 0, 1]),
)
ternary = nhwc(np.pad(delta, 6))
for d in (1, 3, 9):
    ternary = convlab.conv2d(ternary, np.ones((3, 3, 1, 1)), padding="same", dilation_rate=d)
prose(
    _(
        "With D = 1, 3, 9 the 27 tap offsets are the numbers −13…13, each written exactly one way "
        "as {sum} with a, b, c in {digits} (base 3 with digits −1, 0, 1): a 27×27 receptive field "
        "in which every pixel is reached exactly once."
    ).format(sum=unbroken("a·9 + b·3 + c"), digits=unbroken("{−1, 0, 1}"))
)
lesson.check(_("D = 1, 3, 9: one path to each pixel of the 27×27"), ternary[0, 1:28, 1:28, 0], np.ones((27, 27)))
lesson.check(_("… nothing outside it"), ternary.sum(), 27 * 27)
lesson.savefig(
    viz.grid_figure(
        [maps["plain"], maps["dilated"]],
        ["3 × Conv 3×3, D = 1, 1, 1: 7×7", "3 × Conv 3×3, D = 1, 2, 4: 15×15"],
        cmap=viz.GRID_CMAP,
        colorbar=True,
        suptitle=_(
            "Paths from each input pixel to the centre output (17×17 input)\n(black: not reached; lighter: more paths)"
        ),
    ),
    "receptive_fields",
)


# %%
def transposed_by_hand(x, k, stride, verbose=True):
    """Scatter: input pixel x[i, j] times the whole kernel, added at (i·S, j·S). Returns (y, parts)."""
    n, kk = x.shape[0], k.shape[0]
    t = stride * (n - 1) + kk
    y, parts = np.zeros((t, t)), []
    for i in range(n):
        for j in range(n):
            part = np.zeros((t, t))
            part[i * stride : i * stride + kk, j * stride : j * stride + kk] = x[i, j] * k
            parts.append(part)
            y += part
            if verbose:
                r0, c0 = i * stride, j * stride
                lesson.say(
                    "  "
                    + _("x[{i},{j}] = {v:g} → {v:g}·K added at rows {r0}…{r1}, cols {c0}…{c1}:").format(
                        i=i, j=j, v=x[i, j], r0=r0, r1=r0 + kk - 1, c0=c0, c1=c0 + kk - 1
                    )
                )
                show(part, indent="      ")
    return y, parts


lesson.step(_("Transposed convolution: each input pixel stamps the kernel"))
X2 = np.array([[0, 1], [2, 3]], dtype=float)
K2 = np.array([[0, 1], [2, 3]], dtype=float)
D2L_STRIDE1 = np.array([[0, 0, 1], [0, 4, 6], [4, 12, 9]])
D2L_STRIDE2 = np.array([[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]])
prose(
    _(
        "A transposed convolution makes an image larger (upsampling) with learned weights: networks "
        "that segment images (label every pixel) or generate them use it. The example of Dive into Deep "
        "Learning (d2l.ai §14.10): input X (2×2) and kernel K (2×2), stride 1, no padding:"
    )
)
show_side([X2, K2], ["X", "K"])
prose(
    _(
        "A convolution reads a window and writes one number; a transposed convolution reads one "
        "number and writes a window: {stamp}, added into the output where the window sits:"
    ).format(stamp=unbroken("x[i, j]·K"))
)
y1, parts1 = transposed_by_hand(X2, K2, 1)
lesson.say(_("sum of the four stamps (overlaps add):"))
show(y1)
lesson.check(_("2×2 → 3×3 by hand (d2l's result)"), y1, D2L_STRIDE1)
for backend in BACKENDS:
    got = convlab.conv2d_transpose(nhwc(X2), k4(K2), backend=backend)[0, :, :, 0]
    lesson.check(f"conv2d_transpose, backend={backend!r}", got, D2L_STRIDE1)
formula(convlab.conv_transpose_output_formula(2, 2))
lesson.check("conv_transpose_output_size(2, 2) = 3", convlab.conv_transpose_output_size(2, 2), 3)
prose(
    _(
        "It undoes the shape of a convolution (not its numbers): a 2×2 kernel shrinks 3×3 to 2×2, "
        "the transposed one grows 2×2 back to 3×3."
    )
)
lesson.check(_("conv2d of a 3×3 with a 2×2 kernel is 2×2"), convlab.conv2d(nhwc(y1), k4(K2)).shape, (1, 2, 2, 1))
lesson.savefig(
    grids_figure(
        parts1 + [y1],
        ["x[0,0]·K", "x[0,1]·K", "x[1,0]·K", "x[1,1]·K", _("sum = output")],
        suptitle=_(
            "Transposed convolution, stride 1: every input pixel stamps the scaled kernel\n"
            "(grey: larger = lighter, one scale for all five: 0 black, {top:g} white)"
        ).format(top=y1.max()),
        limits=(0, y1.max()),
    ),
    "transposed_by_hand",
)

# %%
lesson.step(_("Stride 2, padding and the output size S·(N − 1) + K − 2P + A"))
prose(_("Stride 2: the stamps move 2 pixels per input pixel, so the output grows twice as fast:"))
y2, _stamps = transposed_by_hand(X2, K2, 2, verbose=False)
for i, j in np.ndindex(2, 2):
    lesson.say(
        "  "
        + _("x[{i},{j}] = {v:g} → stamp at rows {r0}…{r1}, cols {c0}…{c1}").format(
            i=i, j=j, v=X2[i, j], r0=2 * i, r1=2 * i + 1, c0=2 * j, c1=2 * j + 1
        )
    )
lesson.say(_("sum:"))
show(y2)
lesson.check(_("stride 2: 2×2 → 4×4 by hand (d2l's result)"), y2, D2L_STRIDE2)
for backend in BACKENDS:
    got = convlab.conv2d_transpose(nhwc(X2), k4(K2), strides=2, backend=backend)[0, :, :, 0]
    lesson.check(f"conv2d_transpose(strides=2), backend={backend!r}", got, D2L_STRIDE2)
formula(convlab.conv_transpose_output_formula(2, 2, "valid", 2))
lesson.say("")
prose(
    _(
        "Padding P works the other way round: it names the pads of the convolution this one is the "
        "transpose of, so it is cropped from the output. Stride 1, {p} keeps only the centre of 3×3:"
    ).format(p=unbroken("P = 1"))
)
formula(convlab.conv_transpose_output_formula(2, 2, 1, 1))
cropped = convlab.conv2d_transpose(nhwc(X2), k4(K2), padding=1)[0, :, :, 0]
show(cropped)
lesson.check(_("padding=1 crops one ring: [[4]] (d2l)"), cropped, [[4]])

K3 = np.arange(9, dtype=float).reshape(3, 3)
lesson.say("")
prose(_("With a 3×3 kernel and stride 2 the stamps overlap: row and column 2 add two or four stamps."))
y3, _stamps = transposed_by_hand(X2, K3, 2, verbose=False)
show_side([X2, K3, y3], ["X", "K3", _("output 5×5")])
lesson.check(
    _("3×3 kernel, stride 2: 2×2 → 5×5, by hand == conv2d_transpose"),
    y3,
    convlab.conv2d_transpose(nhwc(X2), k4(K3), strides=2)[0, :, :, 0],
)
lesson.check(_("the centre pixel sums four stamps: 0·8 + 1·6 + 2·2 + 3·0 = 10"), y3[2, 2], 10)
anim, out = viz.conv_arithmetic_animation(X2, K3, strides=2, transposed=True)
prose(
    _(
        "Dumoulin & Visin (2016, 'A guide to convolution arithmetic for deep learning') draw it as "
        "an ordinary convolution: the input stretched with {zeros} zero between pixels "
        "(lesson 07 called this spreading 'dilating' dy; it is not the dilation of step 1), padded "
        "by {pad}, scanned by the kernel flipped (rotated by 180°) — the same numbers:"
    ).format(zeros=unbroken("S − 1 = 1"), pad=unbroken("K − 1 − P = 2"))
)
lesson.check(_("the stretched-input animation gives the 5×5 above"), out, y3)
save_gif(anim, "transposed_s2.gif")

lesson.say("")
prose(
    _(
        "Output sizes, Keras' rule (convlab.conv_transpose_output_size), and the check that a "
        "convolution with the same K, S, P maps the output back to N. A is Keras' output_padding, "
        "extra rows and columns at the bottom and right (why, after the table):"
    )
)
SIZE_CASES = [  # N, K, S, padding, output_padding, expected
    (2, 2, 1, "valid", None, 3),
    (2, 2, 2, "valid", None, 4),
    (2, 3, 2, "valid", None, 5),
    (2, 3, 2, 1, None, 3),
    (2, 3, 2, 1, 1, 4),
    (16, 3, 2, "valid", None, 33),
    (16, 3, 2, "same", None, 32),
    (16, 3, 2, "same", 1, 32),
    (7, 1, 2, "valid", None, 14),
]
for n, k, s, p, a, expected in SIZE_CASES:
    text = convlab.conv_transpose_output_formula(n, k, p, s, output_padding=a)
    t = convlab.conv_transpose_output_size(n, k, p, s, output_padding=a)
    lesson.say(f"  N={n}, K={k}, S={s}, padding={p!r}, output_padding={a}:")
    formula(text, indent="    ")
    op = convlab.conv2d_transpose(
        np.zeros((1, n, n, 1)), np.zeros((k, k, 1, 1)), strides=s, padding=p, output_padding=a
    )
    back = convlab.conv_output_size(t, k, p, s)
    lesson.check(
        _("T = {expected}; conv2d_transpose's output is {t}×{t}; a convolution maps {t} back to {n}").format(
            expected=expected, t=t, n=n
        ),
        (t, op.shape[1], back),
        (expected, expected, n),
    )
    if p != "same" and not (a is None and k < s):
        pad = 0 if p == "valid" else p
        lesson.check(
            f"  = S·(N − 1) + K − 2P + A = {s}·{n - 1} + {k} − {2 * pad} + {a or 0}",
            t,
            s * (n - 1) + k - 2 * pad + (a or 0),
        )
prose(
    _(
        "A stride-2 convolution maps both 3 and 4 pixels to 2 (floor); output_padding A chooses which "
        "one the transposed convolution returns (rows 4–5 of the table)."
    )
)

# %%
lesson.step(_("Why 'transposed': it is the gradient of a convolution"))
prose(
    _(
        "For {forward}, backpropagation (lesson 07) starts from {dy}, the upstream "
        "gradient: how much the loss L changes with each output, handed back by the layers after this "
        "one. It sends dy back to the input:"
    ).format(forward=unbroken("y = conv2d(x, k)"), dy=unbroken("dy = ∂L/∂y"))
)
lesson.say("  ∂L/∂x[p, q] = Σ_ij dy[i, j] · k[p − i·S, q − j·S]")
prose(
    _(
        "— each {dy} stamps k onto its window: the transposed convolution of dy with the same kernel. "
        "A stride-2 convolution of a 5×5 input with K3 gives 2×2; with {x}, conv2d_backward's dx is "
        "the 5×5 above:"
    ).format(dy=unbroken("dy[i, j]"), x=unbroken("dy = X"))
)
x5 = np.arange(25, dtype=float).reshape(5, 5)
dx, _dk, _db = convlab.conv2d_backward(nhwc(X2), nhwc(x5), k4(K3), strides=2)
show(dx[0, :, :, 0])
lesson.check(_("conv2d_backward's dx == the transposed convolution above"), dx[0, :, :, 0], y3)
rng = np.random.default_rng(12)
xr = rng.standard_normal((2, 6, 6, 2))
kr = rng.standard_normal((3, 3, 2, 3))  # conv: (K, K, N_c=2, N_f=3) = transposed: (K, K, its N_f=2, its N_c=3)
lesson.say("")
prose(
    _(
        "With channels, on a batch of {b} random images (shapes {shape}): a Conv2D kernel "
        "{kernel} is, unchanged, the Conv2DTranspose kernel read as {read} — Keras stores it "
        "the other way round for exactly this reason. A valid stride-2 convolution maps 6 (and 5) pixels "
        "to 2; output_padding {a} picks 6 (Dumoulin & Visin, relationship 14). "
        "'same' maps 6 to 3 and back."
    ).format(
        b=unbroken("B = 2"),
        shape=unbroken("(B, N, M, N_c)"),
        kernel=unbroken("(K, K, N_c, N_f) = (3, 3, 2, 3)"),
        read=unbroken(_("(K, K, its N_f = 2, its N_c = 3)")),
        a=unbroken("A = (N + 2P − K) mod S = (6 − 3) mod 2 = 1"),
    )
)
for padding, a in (("valid", (6 - 3) % 2), ("same", None)):
    y = convlab.conv2d(xr, kr, strides=2, padding=padding)
    dyr = rng.standard_normal(y.shape)
    dx, _dk, _db = convlab.conv2d_backward(dyr, xr, kr, strides=2, padding=padding)
    t = convlab.conv2d_transpose(dyr, kr, strides=2, padding=padding, output_padding=a)
    lesson.say(f"  padding={padding!r}: x {xr.shape} → y {y.shape}", f"    conv2d_transpose(dy) → {t.shape}")
    lesson.check(
        _("dx of conv2d == conv2d_transpose(dy, kernel), padding={padding!r}").format(padding=padding),
        t,
        dx,
        atol=1e-12,
    )
    # The other way round: the transposed convolution's input gradient is the convolution.
    tdx, _dk, _db = convlab.conv2d_transpose_backward(xr, dyr, kr, strides=2, padding=padding, output_padding=a)
    lesson.check(_("… and the transposed convolution's dx is conv2d itself"), tdx, y, atol=1e-12)

# %%
lesson.step(_("A convolution as a matrix: y = C·x; the transposed one is Cᵀ"))
W = np.arange(1, 10, dtype=float).reshape(3, 3)
prose(
    _(
        "Dumoulin & Visin §4.1: flatten a 4×4 input to 16 numbers and the 2×2 output to 4: a 3×3 "
        "convolution (stride 1, valid) is a 4×16 matrix C. Row (i, j) holds the kernel where window "
        "(i, j) sits; the kernel here is {w}, so each entry names its weight (· = 0):"
    ).format(w=unbroken("W = 1…9"))
)
show(W)
lesson.say("C:")
C = np.zeros((4, 16))
for i in range(2):
    for j in range(2):
        for u in range(3):
            for v in range(3):
                C[i * 2 + j, (i + u) * 4 + (j + v)] = W[u, v]
show(C, zero="·")
lesson.check(_("C has 4 rows × 9 weights = 36 non-zeros of 64"), np.count_nonzero(C), 36)
x16 = np.arange(16, dtype=float).reshape(4, 4)
lesson.say(_("C · x for x = 0…15 (a 4×4): {values}").format(values=(C @ x16.ravel()).astype(int).tolist()))
lesson.check("C · x == conv2d(x, W)", (C @ x16.ravel()).reshape(2, 2), convlab.conv2d(nhwc(x16), k4(W))[0, :, :, 0])
columns = np.stack([convlab.conv2d(nhwc(e.reshape(4, 4)), k4(W)).ravel() for e in np.eye(16)], axis=1)
lesson.check(_("column j of C is conv2d of the j-th unit image (C *is* the convolution)"), columns, C)
prose(
    _("Its transpose Cᵀ (rows and columns swapped, 16×4) maps 4 numbers to 16: applied to {x} it gives a 4×4:").format(
        x=unbroken("X = [[0, 1], [2, 3]]")
    )
)
ct = (C.T @ X2.ravel()).reshape(4, 4)
show(ct)
lesson.check("Cᵀ · X == conv2d_transpose(X, W)", ct, convlab.conv2d_transpose(nhwc(X2), k4(W))[0, :, :, 0])
lesson.savefig(
    grids_figure(
        [C, C.T],
        ["C (4×16): y = C·x", "Cᵀ (16×4)"],
        suptitle=_("A 3×3 convolution on 4×4 as a matrix, and its transpose\n(grey: larger = lighter; · = 0)"),
        cell_inches=0.32,
        gaps={0: C == 0, 1: C.T == 0},
        limits=(0, W.max()),
    ),
    "conv_matrix",
)

# %%
lesson.step(_("1×1 convolutions: a Dense layer at every pixel"))
x1 = np.array([[[1, 2, 0], [0, 1, 3]], [[2, 2, 1], [1, 0, 0]]], dtype=float)[None]  # (1, 2, 2, 3)
W1 = np.array([[1, -1], [2, 0], [0, 3]], dtype=float)  # (N_c=3, N_f=2)
b1 = np.array([1.0, -1.0])
prose(_("A 1×1 kernel sees one pixel, but all its channels:"))
lesson.say("  out[i, j, f] = Σ_c x[i, j, c]·W[c, f] + b[f]")
prose(
    _(
        "x is {shape}: a batch of one 2×2 image with {n_c} channels; {n_f} filters, so W is "
        "{w} and {b}. Pixel {pixel} holds {values}:"
    ).format(
        shape=unbroken(str(x1.shape)),
        n_c=unbroken("N_c = 3"),
        n_f=unbroken("N_f = 2"),
        w=unbroken("(3, 2)"),
        b=unbroken(f"b = {b1.tolist()}"),
        pixel=unbroken("(0, 0)"),
        values=unbroken(str(x1[0, 0, 0].tolist())),
    )
)
for f in range(2):
    terms = " + ".join(term(x1[0, 0, 0, c], W1[c, f]) for c in range(3))
    value = x1[0, 0, 0] @ W1[:, f] + b1[f]
    bias = f"{b1[f]:g}" if b1[f] >= 0 else f"({b1[f]:g})"
    lesson.say(f"  out[0,0,{f}] = {terms} + {bias} = {value:g}")
one = convlab.conv2d(x1, W1[None, None], b1)
lesson.check(_("out[0, 0] by hand"), one[0, 0, 0], [6, -2])
lesson.check(_("conv2d with a (1, 1, 3, 2) kernel == x @ W + b at every pixel"), one, x1 @ W1 + b1)
lesson.check(
    _("== convlab.dense on the pixels as rows (B·N·M rows of N_c; B = batch size)"),
    one.reshape(-1, 2),
    convlab.dense(x1.reshape(-1, 3), W1, b1),
)
formula(convlab.output_size_formula(56, 1))
lesson.check(_("a 1×1 convolution never changes the image's size N × M"), convlab.conv_output_size(56, 1), 56)
lesson.check(
    _("parameters N_c·N_f + N_f = 3·2 + 2 = 8, as Dense(2) on 3 inputs"),
    convlab.conv2d_param_count(2, 1, 3),
    convlab.dense_param_count(2, 3),
)
lesson.say("")
prose(
    _(
        "So networks use 1×1 convolutions to change the channel count cheaply. ResNet's bottleneck "
        "(He et al. 2016) on 56×56×256: 1×1 down to 64 → 3×3 at 64 → 1×1 back up to 256, instead "
        "of a 3×3 convolution at 256 channels (weights without biases: ResNet follows each "
        "convolution with a batch normalization, lesson 13, whose β does the bias's job):"
    )
)
bottleneck = [
    ("1×1, 256 → 64", convlab.conv2d_param_count(64, 1, 256, use_bias=False), 256 * 64),
    ("3×3, 64 → 64", convlab.conv2d_param_count(64, 3, 64, use_bias=False), 9 * 64 * 64),
    ("1×1, 64 → 256", convlab.conv2d_param_count(256, 1, 64, use_bias=False), 64 * 256),
]
for name, count, expected in bottleneck:
    lesson.check("  " + _("{name}: {expected:,} weights").format(name=name, expected=expected), count, expected)
total_b = sum(count for _name, count, _expected in bottleneck)
plain = convlab.conv2d_param_count(256, 3, 256, use_bias=False)
lesson.say(
    "  "
    + _("bottleneck {total:,} weights; one 3×3, 256 → 256: {plain:,} ({ratio:.1f}× more)").format(
        total=total_b, plain=plain, ratio=plain / total_b
    )
)
lesson.check(_("bottleneck: 69,632 weights; plain 3×3: 589,824"), (total_b, plain), (69_632, 589_824))

# %%
lesson.step(_("Depthwise, then pointwise: a separable convolution by hand"))
xs = np.array(
    [
        [[1, 0], [2, 1], [0, 2], [1, 1]],
        [[0, 1], [1, 3], [2, 0], [3, 1]],
        [[2, 2], [0, 1], [1, 1], [0, 0]],
        [[1, 0], [3, 2], [0, 1], [2, 3]],
    ],
    dtype=float,
)[None]  # (1, 4, 4, 2)
dk = np.stack([[[1, 0, -1], [1, 0, -1], [1, 0, -1]], [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]], axis=-1)
dk = dk.astype(float)[:, :, :, None]  # (3, 3, N_c=2, depth_multiplier=1)
pk = np.array([[1, 2, 0], [-1, 1, 1]], dtype=float)[None, None]  # (1, 1, 2, N_f=3)
prose(
    _(
        "An ordinary 3×3 convolution mixes space and channels at once. MobileNet (Howard et al. 2017) "
        "splits it: a depthwise 3×3 filter per channel (no mixing), then a pointwise 1×1 (mixing only). "
        "{x} is one 4×4 image with {n_c} channels; the depthwise kernel {dk} holds "
        "one 3×3 filter per channel:"
    ).format(x=unbroken("x (1, 4, 4, 2)"), n_c=unbroken("N_c = 2"), dk=unbroken("(3, 3, 2, 1)"))
)
show_side(
    [xs[0, :, :, 0], xs[0, :, :, 1], dk[:, :, 0, 0], dk[:, :, 1, 0]],
    ["x[..., 0]", "x[..., 1]", "dk[:, :, 0, 0]", "dk[:, :, 1, 0]"],
)
dw = np.zeros((2, 2, 2))
for c in range(2):
    for i in range(2):
        for j in range(2):
            window = xs[0, i : i + 3, j : j + 3, c]
            dw[i, j, c] = np.sum(window * dk[:, :, c, 0])
    say_product_rows(
        sum_rows(f"dw[0,0,{c}]", xs[0, 0:3, 0:3, c], dk[:, :, c, 0], dw[0, 0, c]),
        _("(channel {c} only)").format(c=c),
    )
lesson.say(_("depthwise output (2×2 per channel):"))
show_side([dw[:, :, 0], dw[:, :, 1]], ["dw[..., 0]", "dw[..., 1]"])
for backend in BACKENDS:
    lesson.check(f"depthwise_conv2d, backend={backend!r}", convlab.depthwise_conv2d(xs, dk, backend=backend)[0], dw)
prose(
    _(
        "Keras' depth_multiplier gives each channel several filters of its own; with 2 the depthwise "
        "step has 4 output channels, channel c's filter m at position {position}:"
    ).format(position=unbroken("c·2 + m"))
)
dk2 = np.concatenate([dk, -2 * dk], axis=3)  # depth_multiplier 2
dw2 = np.zeros((2, 2, 4))
for c in range(2):
    for m in range(2):
        for i in range(2):
            for j in range(2):
                dw2[i, j, c * 2 + m] = np.sum(xs[0, i : i + 3, j : j + 3, c] * dk2[:, :, c, m])
lesson.check(
    _("depth_multiplier 2: 4 output channels in the order c·2 + m (as Keras)"),
    convlab.depthwise_conv2d(xs, dk2)[0],
    dw2,
)
prose(
    _("pointwise kernel {pk}: each of the {n_f} outputs mixes the 2 depthwise channels:").format(
        pk=unbroken("(1, 1, 2, 3)"), n_f=unbroken("N_f = 3")
    )
)
show(pk[0, 0])
sep = np.zeros((2, 2, 3))
for f in range(3):
    for i in range(2):
        for j in range(2):
            sep[i, j, f] = sum(dw[i, j, c] * pk[0, 0, c, f] for c in range(2))
for f in range(3):
    prods = " + ".join(term(dw[0, 0, c], pk[0, 0, c, f]) for c in range(2))
    lesson.say(f"  out[0,0,{f}] = dw[0,0,0]·pk[0,{f}] + dw[0,0,1]·pk[1,{f}] = {prods} = {sep[0, 0, f]:g}")
for backend in BACKENDS:
    lesson.check(
        f"separable_conv2d, backend={backend!r}", convlab.separable_conv2d(xs, dk, pk, backend=backend)[0], sep
    )
lesson.check("== conv2d(depthwise_conv2d(x), pointwise)", convlab.conv2d(convlab.depthwise_conv2d(xs, dk), pk)[0], sep)
full = dk[:, :, :, 0, None] * pk[0, 0][None, None]  # W[u, v, c, f] = dk[u, v, c]·pk[c, f]
prose(
    _("It is an ordinary Conv2D whose kernel is forced to factorise, {w}: {counts} numbers instead of {full}.").format(
        w=unbroken("W[u, v, c, f] = dk[u, v, c]·pk[c, f]"),
        counts=unbroken(f"{dk.size} + {pk.size} = {dk.size + pk.size}"),
        full=unbroken(f"3·3·2·3 = {full.size}"),
    )
)
lesson.check(_("conv2d(x, factorised W) == separable_conv2d"), convlab.conv2d(xs, full)[0], sep, atol=1e-12)

# %%
lesson.step(_("MobileNet's savings: parameters and multiply-adds"))
# In the slides' letters; Howard et al. 2017 (eq. 5) write D_F for T, M for N_c, N for N_f, D_K for K.
T, NC, NF, K = 56, 32, 64, 3
standard = convlab.conv2d_param_count(NF, K, NC)
depthwise = convlab.depthwise_conv2d_param_count(K, NC, use_bias=False)
separable = convlab.separable_conv2d_param_count(NF, K, NC)
lesson.say(
    _("A 'same' layer on {t}×{t}×{nc} (N_c = {nc}) with N_f = {nf} filters of {k}×{k}:").format(t=T, nc=NC, nf=NF, k=K),
    f"  Conv2D({NF}, {K}):          K·K·N_c·N_f + N_f = {K}·{K}·{NC}·{NF} + {NF} = {standard:,}",
    f"  SeparableConv2D({NF}, {K}): K·K·N_c + N_c·N_f + N_f = {K}·{K}·{NC} + {NC}·{NF} + {NF} = {separable:,}",
    "    "
    + _("(depthwise {depthwise:,} + pointwise {pointwise:,}; the depthwise step has no bias)").format(
        depthwise=depthwise, pointwise=NC * NF + NF
    ),
)
lesson.check(_("Conv2D(64, 3) on 32 channels: 18,496 parameters"), standard, 18_496)
lesson.check(_("SeparableConv2D(64, 3) on 32 channels: 2,400 parameters"), separable, 2_400)
lesson.check(_("DepthwiseConv2D(3) on 32 channels (with bias): 320"), convlab.depthwise_conv2d_param_count(3, 32), 320)
lesson.check(_("separable = depthwise + pointwise"), separable, depthwise + convlab.conv2d_param_count(NF, 1, NC))
out_size = convlab.conv_output_size(T, K, "same")
cost_std = K * K * NC * NF * out_size * out_size
cost_dw = K * K * NC * out_size * out_size
cost_pw = NC * NF * out_size * out_size
lesson.say(
    "",
    _(
        "The cost is counted in multiply-adds: one product added to a running sum. Each output "
        "value costs one per kernel weight it uses; the output is T×T = {t}×{t}:"
    ).format(t=out_size),
    *labelled(
        [
            (_("standard"), f"{'K·K·N_c·N_f·T·T':15} = {K}·{K}·{NC}·{NF}·{T}·{T} = {cost_std:,}"),
            (_("depthwise"), f"{'K·K·N_c·T·T':15} = {K}·{K}·{NC}·{T}·{T} = {cost_dw:,}"),
            (_("pointwise"), f"{'N_c·N_f·T·T':15} = {NC}·{NF}·{T}·{T} = {cost_pw:,}"),
        ]
    ),
)
ratio = Fraction(cost_dw + cost_pw, cost_std)
first = "  " + _("ratio = (depthwise + pointwise)/standard = {num:,}/{den:,}").format(
    num=cost_dw + cost_pw, den=cost_std
)
under = " " * first.index("=")  # the next lines' "=" and "→" under the first one
lesson.say(
    first,
    f"{under}= {ratio} ≈ {float(ratio):.4f} = 1/N_f + 1/K² = 1/{NF} + 1/{K * K}",
    f"{under}→ " + _("{factor:.1f}× fewer multiply-adds").format(factor=1 / float(ratio)),
    "  " + _("(Howard et al.'s eq. 5 writes 1/N + 1/D_K²: their N is N_f, their D_K is K)"),
)
lesson.check(_("standard: 57,802,752 multiply-adds"), cost_std, 57_802_752)
lesson.check("separable: 903,168 + 6,422,528 = 7,325,696", cost_dw + cost_pw, 7_325_696)
lesson.check(_("ratio = 1/N_f + 1/K² exactly (eq. 5)"), ratio, Fraction(1, NF) + Fraction(1, K * K))
big = np.random.default_rng(5).standard_normal((1, T, T, NC))
shape_std = convlab.conv2d(big, np.zeros((K, K, NC, NF)), padding="same").shape
shape_sep = convlab.separable_conv2d(big, np.zeros((K, K, NC, 1)), np.zeros((1, 1, NC, NF)), padding="same").shape
lesson.check(_("both give (1, 56, 56, 64)"), (shape_std, shape_sep), ((1, 56, 56, 64),) * 2)
lesson.say("")
prose(_("For 3×3 kernels the ratio tends to 1/9 as N_f grows ('8 to 9 times less computation'):"))
ratios = {n: Fraction(1, n) + Fraction(1, 9) for n in (32, 64, 128, 256, 512, 1024)}
for n, r in ratios.items():
    lesson.say(
        "  "
        + _("N_f = {n:4d}: 1/{n} + 1/9 = {ratio:.4f} → {factor:.2f}× fewer").format(
            n=n, ratio=float(r), factor=1 / float(r)
        )
    )
lesson.check_true(
    _("every ratio lies between 1/9 and 1/9 + 1/32"),
    all(Fraction(1, 9) < r <= Fraction(41, 288) for r in ratios.values()),
)
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
for ax, title, values in (
    (axes[0], _("parameters on 56×56×32: {standard:,} vs {separable:,}"), [standard, depthwise, NC * NF + NF]),
    (axes[1], _("multiply-adds on 56×56×32: {standard:,} vs {separable:,}"), [cost_std, cost_dw, cost_pw]),
):
    ax.bar([0], [values[0]], color="tab:blue", label="Conv2D(64, 3)")
    ax.bar([1], [values[1]], color="tab:cyan", label=_("depthwise 3×3"))
    ax.bar([1], [values[2]], bottom=[values[1]], color="tab:green", label=_("pointwise 1×1"))
    ax.set_xticks([0, 1], ["Conv2D(64, 3)", "SeparableConv2D(64, 3)"])
    ax.set_title(title.format(standard=values[0], separable=values[1] + values[2]), fontsize=9)
    ax.text(1, values[1] + values[2], f"{(values[1] + values[2]) / values[0]:.1%}", ha="center", va="bottom")
axes[0].legend(fontsize=8)
fig.tight_layout()
lesson.savefig(fig, "mobilenet_savings")

# %%
lesson.step(_("Grouped convolution: from ordinary (groups=1) to depthwise"))
prose(
    _(
        "Conv2D(groups=G) splits the N_c input channels into G groups of N_c/G; each group has N_f/G "
        "filters that see only its channels. The kernel is {kernel}: G times fewer weights."
    ).format(kernel=unbroken("(K, K, N_c/G, N_f)"))
)
xg = np.random.default_rng(7).integers(-3, 4, (1, 5, 5, 4)).astype(float)
kg = np.random.default_rng(8).integers(-2, 3, (3, 3, 2, 4)).astype(float)  # groups=2: N_c/G = 2, N_f = 4
two = convlab.conv2d(xg, kg, groups=2)
halves = np.concatenate([convlab.conv2d(xg[..., :2], kg[..., :2]), convlab.conv2d(xg[..., 2:], kg[..., 2:])], axis=-1)
prose(
    _("A 5×5 image with {n_c} channels and {n_f} filters, groups=2:").format(
        n_c=unbroken("N_c = 4"), n_f=unbroken("N_f = 4")
    )
)
lesson.check(_("groups=2 == two convolutions on the channel halves, concatenated"), two, halves)
block = np.zeros((3, 3, 4, 4))  # an ordinary kernel whose cross-group weights are zero
block[:, :, :2, :2], block[:, :, 2:, 2:] = kg[..., :2], kg[..., 2:]
lesson.check(_("… == an ordinary convolution, cross-group weights set to 0"), convlab.conv2d(xg, block), two)
kd = np.random.default_rng(9).integers(-2, 3, (3, 3, 1, 8)).astype(float)  # groups=N_c=4, N_f=8: 2 per channel
prose(
    _(
        "{groups} with {n_f}: each channel alone, 2 filters each — a depthwise convolution with depth_multiplier 2:"
    ).format(groups=unbroken("groups = N_c = 4"), n_f=unbroken("N_f = 8"))
)
for backend in BACKENDS:
    lesson.check(
        _("groups=4 == depthwise_conv2d, kernel as (3, 3, 4, 2), backend={backend!r}").format(backend=backend),
        convlab.conv2d(xg, kd, groups=4, backend=backend),
        convlab.depthwise_conv2d(xg, kd.reshape(3, 3, 4, 2), backend=backend),
    )
lesson.say(
    "",
    _("Parameters of Conv2D(64, 3) on 32 channels, by groups ({formula}):").format(
        formula=unbroken("K·K·(N_c/G)·N_f + N_f")
    ),
)
counts = {}
for g in (1, 2, 4, 8, 16, 32):
    counts[g] = convlab.conv2d_param_count(64, 3, 32, groups=g)
    lesson.say(f"  groups={g:2d}: 3·3·{32 // g:2d}·64 + 64 = {counts[g]:,}")
lesson.check(_("groups=1: the ordinary 18,496"), counts[1], 18_496)
lesson.check(
    "groups=32 = DepthwiseConv2D(3, depth_multiplier=2): 640",
    counts[32],
    convlab.depthwise_conv2d_param_count(3, 32, 2),
)

# %%
lesson.step(_("Keras computes the same numbers"))
keras = None
if lesson.args.no_keras:
    lesson.say(_("(skipped under --no-keras)"))
elif lesson.quick and not lesson.args.keras:
    lesson.say(_("(--quick: skipped, as starting TensorFlow takes longer than this lesson; run without --quick)"))
else:
    try:
        keras = import_keras("lesson 12's comparison with Keras")  # engine message: stays English
    except ImportError as exc:
        lesson.say(_("(no comparison: {reason})").format(reason=exc))
if keras is not None:
    f32 = np.float32
    prose(
        _(
            "Keras computes in float32 (32-bit numbers, about 7 significant digits), convlab in float64 "
            "(about 16): the two agree up to a tolerance, {atol} for these values of at most 35."
        ).format(atol=unbroken("atol = 1e-4"))
    )

    def keras_layer(layer, x, weights):
        layer.build(x.shape)
        layer.set_weights([np.asarray(w, f32) for w in weights])
        return np.asarray(layer(x.astype(f32)))

    def keras_check(what, got, expected):
        lesson.check(what, got, expected, atol=1e-4, show_tolerance=True)

    got = keras_layer(keras.layers.Conv2D(1, 3, dilation_rate=2, use_bias=False), nhwc(X), [k4(SOBEL)])
    keras_check(_("Keras Conv2D(1, 3, dilation_rate=2) on the 7×7"), got[0, :, :, 0], DILATED_OUT)
    for stride, expected in ((1, D2L_STRIDE1), (2, D2L_STRIDE2)):
        got = keras_layer(keras.layers.Conv2DTranspose(1, 2, strides=stride, use_bias=False), nhwc(X2), [k4(K2)])
        keras_check(
            _("Keras Conv2DTranspose(1, 2, strides={stride}) on d2l's X").format(stride=stride),
            got[0, :, :, 0],
            expected,
        )
    got = keras_layer(keras.layers.Conv2DTranspose(1, 3, strides=2, use_bias=False), nhwc(X2), [k4(K3)])
    keras_check(_("Keras Conv2DTranspose(1, 3, strides=2): the 5×5"), got[0, :, :, 0], y3)
    for n, k, stride, pad, a, expected in SIZE_CASES:
        if isinstance(pad, str):
            layer = keras.layers.Conv2DTranspose(1, k, strides=stride, padding=pad, output_padding=a)
            lesson.check(
                _("Keras Conv2DTranspose size: N={n}, K={k}, S={s}, {pad!r}, A={a} → {t}").format(
                    n=n, k=k, s=stride, pad=pad, a=a, t=expected
                ),
                tuple(layer.compute_output_shape((1, n, n, 1))),
                (1, expected, expected, 1),
            )
    got = keras_layer(keras.layers.SeparableConv2D(3, 3, use_bias=False), xs, [dk, pk])
    keras_check(_("Keras SeparableConv2D(3, 3) on the 4×4×2 example"), got[0], sep)
    got = keras_layer(keras.layers.Conv2D(4, 3, groups=2, use_bias=False), xg, [kg])
    keras_check("Keras Conv2D(4, 3, groups=2)", got, two)
    for name, layer, expected in (
        ("Conv2D(64, 3)", keras.layers.Conv2D(64, 3), 18_496),
        ("SeparableConv2D(64, 3)", keras.layers.SeparableConv2D(64, 3), 2_400),
        ("DepthwiseConv2D(3)", keras.layers.DepthwiseConv2D(3), 320),
        ("Conv2D(64, 3, groups=32)", keras.layers.Conv2D(64, 3, groups=32), 640),
    ):
        layer.build((None, 56, 56, 32))
        lesson.check(
            _("Keras {name} on 32 channels: count_params() = {expected:,}").format(name=name, expected=expected),
            layer.count_params(),
            expected,
        )

lesson.finish()
