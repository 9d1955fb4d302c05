# %% [markdown]
# # Lesson 03 — convolution by hand: the slides' 5×5 example, one window at a time
#
# Why it matters: every Conv2D layer of the slides (and of Keras) does only this —
# multiply a small window of pixels by a kernel and add the products up. Worked
# once by hand, the output sizes, parameter counts and gradients of the later
# lessons become bookkeeping.
#
# Slides (seeds/003, "Convolución 2D"): the sharpen kernel
# `[[0,-1,0],[-1,5,-1],[0,-1,0]]` slides over a 5×5 input with stride 1. Each
# output number is the sum of the nine products of the window and the kernel,
# written as the slide does, one kernel row per line:
#
#     60*0 + 113*(-1) + 56*0 +
#     73*(-1) + 121*5 + 54*(-1) +
#     131*0 + 99*(-1) + 70*0 = 266
#
# Why the output is smaller (3×3: a 3-wide window fits only N − K + 1 = 3 times
# per side, and the border pixels are never a window's centre), and how one ring
# of zeros ("Padding") keeps the input's 5×5 size. What is computed is
# cross-correlation ⋆ (the kernel slides as it is, as in Keras); the slides'
# formula is the true convolution ∗, which flips the kernel first — the same
# numbers for this symmetric kernel, not for the slide's diagonal one.
#
# Run: `python lessons/03_convolution_by_hand.py [--step] [--out DIR] [--quick] [--lang es]`.
# Figures: the input/kernel/output matrices and an animated GIF of the sliding window.

# %%
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import PillowWriter

import convlab
from convlab import viz
from convlab.lesson import Lesson, _, print_matrix, product_rows, unbroken

lesson = Lesson(__file__, "Convolution by hand: the slides' 5×5 example")

X = np.array(
    [
        [60, 113, 56, 139, 85],
        [73, 121, 54, 84, 128],
        [131, 99, 70, 129, 127],
        [80, 57, 115, 69, 134],
        [104, 126, 123, 95, 130],
    ]
)
K = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
EXPECTED_VALID = np.array([[266, -61, -30], [116, -47, 295], [-135, 256, -128]])
EXPECTED_PAD1 = np.array(
    [
        [114, 328, -26, 470, 158],
        [53, 266, -61, -30, 344],
        [403, 116, -47, 295, 244],
        [108, -135, 256, -128, 344],
        [314, 346, 279, 153, 421],
    ]
)
# The slide's first sum, its three lines (the slide's spaces around * dropped, as everywhere in convlab).
SLIDE_FIRST_ROWS = ["60*0 + 113*(-1) + 56*0 +", "73*(-1) + 121*5 + 54*(-1) +", "131*0 + 99*(-1) + 70*0 = 266"]
# The slide's 2×2 diagonal edge kernel ("Filtro de detección de bordes diagonal"): not symmetric.
DIAGONAL = np.array([[-1, 0], [0, 1]])


def say_sum(label, rows):
    """``label`` before the first row, the other rows under it."""
    lesson.say(*(("  " + (label if n == 0 else " " * len(label)) + row) for n, row in enumerate(rows)))


def by_hand(x, k, stride=1):
    """Slide the window over ``x`` (already padded); return the output and each window's product rows."""
    kh, kw = k.shape
    oh, ow = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    out = np.zeros((oh, ow), dtype=int)
    rows = []
    for i in range(oh):
        for j in range(ow):
            window = x[i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[i, j] = int(np.sum(window * k))
            rows.append(product_rows(window, k, out[i, j]))
    return out, rows


def matrices_figure(x, out, suptitle, x_title, out_title):
    """Input, kernel and output side by side: number grids grey (lighter = larger), the kernel blue < 0 < red."""
    return viz.matrices_figure(
        [x, K, out],
        [x_title, _("kernel\n(blue < 0 < red)"), out_title],
        cmaps=[viz.GRID_CMAP, "RdBu_r", viz.GRID_CMAP],
        suptitle=_("{title} (grey cells: lighter = larger)").format(title=suptitle),
    )


lesson.say(
    _(
        "Why it matters: every Conv2D layer of the slides (and of Keras) does only this — multiply a "
        "small window of pixels by a kernel and add the products up. Worked once by hand, the sizes, "
        "parameter counts and gradients of later lessons are bookkeeping."
    )
)

# %%
lesson.step(_("The input (5×5) and the kernel (3×3, 'sharpen')"))
lesson.say(_("The input: a 5×5 grey image, one number per pixel (N = 5 pixels per side)."))
print_matrix(X)
lesson.say(
    _(
        "The kernel (or filter): a small grid of weights slid over the image. This one, 'sharpen', "
        "takes 5 × the centre pixel minus its four neighbours (K = 3)."
    )
)
print_matrix(K)
lesson.say(
    "",
    _(
        "Stride S = 1: the window moves one pixel at a time. Padding P = 0: nothing is added around "
        "the image. The output side T, by the slides' formula:"
    ),
    "  " + convlab.output_size_formula(5, 3, 0, 1),
)
lesson.check(_("output size without padding"), convlab.conv_output_size(5, 3, 0, 1), 3)

# %%
lesson.step(_("The nine windows, one product sum each (stride 1, no padding)"))
lesson.say(
    _(
        "Lay the kernel on the top-left 3×3 window, multiply each pixel by the weight on top of it "
        "and add the nine products: that is out[0,0]. The slide writes it one kernel row per line:"
    )
)
valid, rows = by_hand(X, K)
slide_form = [" ".join(r.split()) for r in rows[0]]  # the aligned rows below, single-spaced
say_sum("out[0,0]: ", slide_form)
lesson.check(_("out[0,0] written as the slide (three rows, = 266)"), slide_form, SLIDE_FIRST_ROWS)
lesson.say(
    "",
    _(
        "Then the window moves one pixel right (stride 1) for out[0,1], and so on, row by row. All "
        "nine, each product under its kernel column:"
    ),
)
for n, block in enumerate(rows):
    i, j = divmod(n, 3)
    lesson.say("")
    say_sum(f"out[{i},{j}]: ", block)
lesson.say("", _("output:"))
print_matrix(valid)
lesson.check(_("3×3 result by hand"), valid, EXPECTED_VALID)

# %%
lesson.step(_("⋆ or ∗? The same numbers with convlab, in every backend"))
lesson.say(
    _(
        "What you just did is cross-correlation, written x ⋆ k: the kernel slides as it is. It is "
        "what Keras' Conv2D computes, and what 'convolution' means in a CNN. The slides' formula "
        "{formula} is the true convolution ∗: the kernel is flipped (turned 180°) before it slides, "
        "so {identity}."
    ).format(
        formula=unbroken("(f ∗ g)[x, y] = Σ f[n1, n2]·g[x − n1, y − n2]"), identity=unbroken("x ∗ k = x ⋆ flip(k)")
    ),
    "",
    _(
        "The sharpen kernel is symmetric ({symmetric}): both give the numbers above. The slide's 2×2 "
        "diagonal kernel {diagonal} is not: flipped it becomes {flipped}, so every output changes "
        "sign. The first one:"
    ).format(
        symmetric=unbroken("flip(k) = k"),
        diagonal=unbroken("[[-1, 0], [0, 1]]"),
        flipped=unbroken("[[1, 0], [0, -1]] = −k"),
    ),
)
corr, conv = convlab.correlate2d(X, DIAGONAL), convlab.convolve2d(X, DIAGONAL)
say_sum("x ⋆ k: ", product_rows(X[:2, :2], DIAGONAL, int(corr[0, 0])))
say_sum("x ∗ k: ", product_rows(X[:2, :2], np.flip(DIAGONAL), int(conv[0, 0])))
lesson.check(_("x ⋆ k top-left by hand = correlate2d"), int(np.sum(X[:2, :2] * DIAGONAL)), corr[0, 0])
lesson.check(_("x ∗ k = x ⋆ flip(k) (convolve2d, whole output)"), conv, convlab.correlate2d(X, np.flip(DIAGONAL)))
lesson.check(_("x ∗ k = −(x ⋆ k) for this kernel"), conv, -corr)
lesson.check(_("the sharpen kernel is symmetric: flip(k) = k"), np.flip(K), K)
lesson.check(_("convolve2d = correlate2d for the symmetric sharpen kernel"), convlab.convolve2d(X, K), EXPECTED_VALID)
x4, k4 = X[None, :, :, None], K[:, :, None, None]  # Keras' 4-D layouts: one image, one channel, one filter
layouts = [_("images (batch, N, M, N_c)"), _("kernel (K, K, N_c, N_f)")]
layout_width = max(map(len, layouts))
lesson.say(
    "",
    _(
        "convlab computes each operation with interchangeable backends — the same maths in different "
        "code: 'reference' (plain loops, like the slide), 'numpy' (whole arrays at once) and 'numba' "
        "(compiled to machine code, the fast default). They must agree to the last digit. conv2d "
        "takes Keras' layouts, with the batch first (batch: how many images go through together). "
        "Here: 1 image, N_c = 1 channel, N_f = 1 filter:"
    ),
    f"  {layouts[0]:<{layout_width}} = {x4.shape}",
    f"  {layouts[1]:<{layout_width}} = {k4.shape}",
)
lesson.check(_("images (batch, N, M, N_c) = (1, 5, 5, 1)"), x4.shape, (1, 5, 5, 1))
lesson.check(_("kernel (K, K, N_c, N_f) = (3, 3, 1, 1)"), k4.shape, (3, 3, 1, 1))
for backend in ("reference", "numpy", "numba"):
    lesson.check(f"correlate2d(X, K), backend={backend!r}", convlab.correlate2d(X, K, backend=backend), EXPECTED_VALID)
    y = convlab.conv2d(x4, k4, backend=backend)
    lesson.check(
        _("conv2d on (1,5,5,1) ⋆ (3,3,1,1) → (1,3,3,1), backend={backend}").format(backend=repr(backend)),
        y[0, :, :, 0],
        EXPECTED_VALID,
    )
lesson.savefig(matrices_figure(X, valid, _("Stride 1, no padding"), _("input 5×5"), _("output 3×3")), "valid")

# %%
lesson.step(_("Why is the output smaller?"))
starts = [j for j in range(5) if j + 3 <= 5]  # left columns where the 3-wide window still fits
lesson.say(
    _(
        "The window must fit inside the image. Along a row, a 3-wide window can start at columns "
        "{columns} only — one more and it would hang over the edge. So there are {count} positions "
        "per side: 3×3 outputs."
    ).format(columns=", ".join(map(str, starts)), count=unbroken("N − K + 1 = 5 − 3 + 1 = 3"))
)
lesson.check(_("positions counted = N − K + 1 = T"), [len(starts), 5 - 3 + 1], [convlab.conv_output_size(5, 3)] * 2)
centres = np.zeros((5, 5), dtype=bool)
for i in starts:
    for j in starts:
        centres[i + 1, j + 1] = True  # each output belongs to its window's centre pixel
lesson.say(
    "",
    _(
        "Each output value sits where its window's centre is. o = a pixel that is some window's "
        "centre, · = a pixel that never is:"
    ),
)
lesson.say(*("    " + " ".join("o" if c else "·" for c in row) for row in centres))
lesson.say(
    _(
        "The 16 border pixels are never a centre: a 3×3 window centred there would hang one pixel "
        "outside the image. Without padding every 3×3 convolution loses one pixel on each side, and "
        "stacked layers keep shrinking: {sizes}"
    ).format(sizes=unbroken("28 → 26 → 24 …"))
)
lesson.check(_("border pixels never a centre: 5·5 − 3·3 = 16"), int((~centres).sum()), 5 * 5 - 3 * 3)
lesson.check(
    _("two 3×3 layers on 28×28: 28 → 26 → 24"),
    [convlab.conv_output_size(28, 3), convlab.conv_output_size(convlab.conv_output_size(28, 3), 3)],
    [26, 24],
)
lesson.say(_("The fix: add zeros around the image so the border pixels can be centres too — padding, the next step."))

# %%
lesson.step(_("Zero padding 1 keeps the 5×5 size"))
XP = np.pad(X, 1)
lesson.say(_("Padding P = 1: one ring of zeros around the input (7×7):"))
print_matrix(XP)
lesson.say(
    _("A 3-wide window now fits 7 − 3 + 1 = 5 times per side, the slides' formula:"),
    "  " + convlab.output_size_formula(5, 3, 1, 1),
)
lesson.check(_("output size with padding 1"), convlab.conv_output_size(5, 3, 1, 1), 5)
padded, prows = by_hand(XP, K)
lesson.say("", _("First window (top-left corner, mostly zeros; its centre is the pixel 60):"))
say_sum("out[0,0]: ", prows[0])
lesson.say(_("Last window (bottom-right corner, centred on the pixel 130):"))
say_sum("out[4,4]: ", prows[-1])
lesson.say("", _("output:"))
print_matrix(padded)
lesson.check(_("5×5 result by hand = the slide's"), padded, EXPECTED_PAD1)
lesson.check(_("the centre 3×3 of the padded result is the unpadded result"), padded[1:-1, 1:-1], EXPECTED_VALID)
for backend in ("reference", "numpy", "numba"):
    lesson.check(
        f"correlate2d(X, K, padding=1), backend={backend!r}",
        convlab.correlate2d(X, K, padding=1, backend=backend),
        EXPECTED_PAD1,
    )
lesson.say(
    "",
    _(
        "Keras names the two choices: padding='valid' is P = 0; padding='same' picks the P that keeps "
        "the size (for stride 1 and K = 3, P = 1)."
    ),
)
lesson.check(_("padding='same' (stride 1, K=3) is padding 1"), convlab.correlate2d(X, K, padding="same"), EXPECTED_PAD1)
lesson.say(
    _(
        "(In padding1.png the zeros are now the darkest value: each grid's greys run from its own "
        "smallest number to its largest, so the input's {low}, black in valid.png, is grey there.)"
    ).format(low=X.min())
)
lesson.savefig(
    matrices_figure(XP, padded, _("Stride 1, zero padding 1"), _("input with padding 1 (7×7)"), _("output 5×5")),
    "padding1",
)

# %%
lesson.step(_("An animation of the window sliding over the numbers"))


def save_animation(padding):
    anim, out = viz.sliding_window_animation(X, K, padding=padding)
    expected = EXPECTED_PAD1 if padding else EXPECTED_VALID
    lesson.check(_("animated output (padding={padding}) equals the slide").format(padding=padding), out, expected)

    lesson.save_file(lambda path: anim.save(path, writer=PillowWriter(fps=1)), f"sliding_window_pad{padding}.gif")
    plt.close("all")  # the animation's figure


save_animation(0)
if lesson.quick:
    lesson.say(_("(--quick: the 25-frame animation with padding 1 is skipped)"))
else:
    save_animation(1)

lesson.finish()
