"""Lesson 03 — convolution by hand: the slides' 5×5 example, one window at a time.

Slides (seeds/003, "Convolución 2D"): the sharpen kernel
``[[0,-1,0],[-1,5,-1],[0,-1,0]]`` slides over a 5×5 input with stride 1. Each
output number is the sum of the nine products of the window and the kernel,
e.g. ``60*0 + 113*(-1) + 56*0 + 73*(-1) + 121*5 + 54*(-1) + 131*0 + 99*(-1) + 70*0 = 266``.
Without padding the output is 3×3; with one ring of zeros ("Padding") it keeps
the input's 5×5 size.

Run: ``python lessons/03_convolution_by_hand.py [--step] [--out DIR] [--quick]``.
Figures: the input/kernel/output matrices and an animated GIF of the sliding window.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import PillowWriter

import convlab
from convlab import viz
from convlab.lesson import Lesson, print_matrix, product_term

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
SLIDE_FIRST_LINE = "60*0 + 113*(-1) + 56*0 + 73*(-1) + 121*5 + 54*(-1) + 131*0 + 99*(-1) + 70*0 = 266"


def by_hand(x, k, stride=1):
    """Slide the window over ``x`` (already padded); return the output and each step's text."""
    kh, kw = k.shape
    oh, ow = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    out = np.zeros((oh, ow), dtype=int)
    lines = []
    for i in range(oh):
        for j in range(ow):
            window = x[i * stride : i * stride + kh, j * stride : j * stride + kw]
            out[i, j] = int(np.sum(window * k))
            lines.append(" + ".join(product_term(p, q) for p, q in zip(window.ravel(), k.ravel())) + f" = {out[i, j]}")
    return out, lines


# --------------------------------------------------------------------------------------------
lesson.step("The input (5×5) and the kernel (3×3, 'sharpen')")
print_matrix(X)
lesson.say("kernel:")
print_matrix(K)
lesson.say(
    "",
    "Kernel_size K = 3, stride S = 1, no padding → output (5 + 2·0 − 3)/1 + 1 = 3 per side:",
    "  " + convlab.output_size_formula(5, 3, 0, 1),
)
lesson.check("output size without padding", convlab.conv_output_size(5, 3, 0, 1), 3)

# --------------------------------------------------------------------------------------------
lesson.step("The nine windows, one product sum each (stride 1, no padding)")
valid, lines = by_hand(X, K)
for n, line in enumerate(lines):
    i, j = divmod(n, 3)
    lesson.say(f"  out[{i},{j}]: {line}")
lesson.check("first step, written exactly as the slide", lines[0], SLIDE_FIRST_LINE)
lesson.say("", "output:")
print_matrix(valid)
lesson.check("3×3 result by hand", valid, EXPECTED_VALID)

# --------------------------------------------------------------------------------------------
lesson.step("The same with convlab, in every backend")
lesson.say(
    "correlate2d slides the kernel without flipping it — what Keras' Conv2D computes.",
    "The sharpen kernel is symmetric, so the true (flipped) convolution gives the same numbers.",
)
for backend in ("reference", "numpy", "numba"):
    lesson.check(f"correlate2d(X, K), backend={backend!r}", convlab.correlate2d(X, K, backend=backend), EXPECTED_VALID)
    y = convlab.conv2d(X[None, :, :, None], K[:, :, None, None], backend=backend)
    lesson.check(f"conv2d on (1,5,5,1) × (3,3,1,1) → (1,3,3,1), backend={backend!r}", y[0, :, :, 0], EXPECTED_VALID)
lesson.check(
    "convolve2d (flipped kernel) equals correlate2d for this symmetric kernel", convlab.convolve2d(X, K), EXPECTED_VALID
)
lesson.savefig(
    viz.matrices_figure(
        [X, K, valid],
        ["input 5×5", "kernel 3×3", "output 3×3"],
        cmaps=["Greys", "RdBu_r", "Greys"],
        suptitle="Stride 1, no padding",
    ),
    "valid",
)

# --------------------------------------------------------------------------------------------
lesson.step("Why is the output smaller? Zero padding 1 keeps the 5×5 size")
XP = np.pad(X, 1)
lesson.say("Input with one ring of zeros (7×7):")
print_matrix(XP)
lesson.say("  " + convlab.output_size_formula(5, 3, 1, 1))
lesson.check("output size with padding 1", convlab.conv_output_size(5, 3, 1, 1), 5)
padded, plines = by_hand(XP, K)
lesson.say(
    "first window (top-left corner, mostly zeros):",
    "  " + plines[0],
    "last window (bottom-right corner):",
    "  " + plines[-1],
)
lesson.say("output:")
print_matrix(padded)
lesson.check("5×5 result by hand", padded, EXPECTED_PAD1)
lesson.check("the centre 3×3 of the padded result is the unpadded result", padded[1:-1, 1:-1], EXPECTED_VALID)
for backend in ("reference", "numpy", "numba"):
    lesson.check(
        f"correlate2d(X, K, padding=1), backend={backend!r}",
        convlab.correlate2d(X, K, padding=1, backend=backend),
        EXPECTED_PAD1,
    )
lesson.check("padding='same' (stride 1, K=3) is padding 1", convlab.correlate2d(X, K, padding="same"), EXPECTED_PAD1)
lesson.savefig(
    viz.matrices_figure(
        [XP, K, padded],
        ["input with padding 1 (7×7)", "kernel", "output 5×5"],
        cmaps=["Greys", "RdBu_r", "Greys"],
        suptitle="Stride 1, zero padding 1",
    ),
    "padding1",
)

# --------------------------------------------------------------------------------------------
lesson.step("An animation of the window sliding over the numbers")


def save_animation(padding):
    anim, out = viz.sliding_window_animation(X, K, padding=padding)
    expected = EXPECTED_PAD1 if padding else EXPECTED_VALID
    lesson.check(f"animated output (padding={padding}) equals the slide", out, expected)

    lesson.save_file(lambda path: anim.save(path, writer=PillowWriter(fps=1)), f"sliding_window_pad{padding}.gif")
    plt.close("all")  # the animation's figure


save_animation(0)
if lesson.quick:
    lesson.say("(--quick: the 25-frame animation with padding 1 is skipped)")
else:
    save_animation(1)

lesson.finish()
