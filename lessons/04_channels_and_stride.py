"""Lesson 04 — several channels, several filters, stride 2: the slides' 5×5×3 example.

Slides (seeds/003, "Convolución 2D con 3 canales"): a 5×5×3 input padded with
one ring of zeros (7×7×3), two filters W0 and W1 of 3×3×3 with biases
``b0 = 1`` and ``b1 = 0``, stride 2 → an output volume of 3×3×2.

Each output number is a sum over *all three* channels: the 3×3 window of
channel 0 times ``w[:, :, 0]``, plus that of channel 1 times ``w[:, :, 1]``,
plus channel 2, plus the filter's bias. One filter gives one output plane;
the number of filters is the number of output channels.

Run: ``python lessons/04_channels_and_stride.py [--step] [--out DIR] [--quick]``.
"""

import numpy as np

import convlab
from convlab import viz
from convlab.lesson import Lesson, print_matrix, product_term

lesson = Lesson(__file__, "Several channels and stride: the 5×5×3 example")

# Channel planes exactly as the slides print them (rows top to bottom), before padding.
x = np.stack(
    [
        [[0, 0, 1, 0, 2], [1, 0, 2, 0, 1], [1, 0, 2, 2, 0], [2, 0, 0, 2, 0], [2, 1, 2, 2, 0]],
        [[2, 1, 2, 1, 1], [2, 1, 2, 0, 1], [0, 2, 1, 0, 1], [1, 2, 2, 2, 2], [0, 1, 2, 0, 1]],
        [[2, 1, 1, 2, 0], [1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 0, 2, 1, 0], [2, 2, 1, 1, 1]],
    ],
    axis=-1,
)  # (5, 5, 3): H, W, C as Keras
w0 = np.stack(
    [
        [[-1, 0, 1], [0, 0, 1], [1, -1, 1]],
        [[-1, 0, 1], [1, -1, 1], [0, 1, 0]],
        [[-1, 1, 1], [1, 1, 0], [0, -1, 0]],
    ],
    axis=-1,
)  # (3, 3, 3)
w1 = np.stack(
    [
        [[0, 1, -1], [0, -1, 0], [0, -1, 1]],
        [[-1, 0, 0], [1, -1, 0], [1, -1, 0]],
        [[-1, 1, -1], [0, -1, -1], [1, 0, 0]],
    ],
    axis=-1,
)
kernel = np.stack([w0, w1], axis=-1)  # (KH, KW, C_in, C_out) = (3, 3, 3, 2)
bias = np.array([1, 0])
EXPECTED = np.stack(
    [
        [[2, 3, 3], [3, 7, 3], [8, 10, -3]],
        [[-8, -8, -3], [-3, 1, 0], [-3, -8, -5]],
    ],
    axis=-1,
)  # (3, 3, 2)
P, S = 1, 2


# --------------------------------------------------------------------------------------------
lesson.step("The input volume 5×5×3, padded with one ring of zeros → 7×7×3")
xp = np.pad(x, ((P, P), (P, P), (0, 0)))
lesson.say(f"x.shape = {x.shape} (H, W, C); padded: {xp.shape}")
for c in range(3):
    lesson.say(f"x[:, :, {c}] (+pad {P}):")
    print_matrix(xp[:, :, c])
lesson.check("padded input volume is 7×7×3", xp.shape, (7, 7, 3))

# --------------------------------------------------------------------------------------------
lesson.step("Two filters of 3×3×3 and their biases")
for f, (w, b) in enumerate(zip((w0, w1), bias)):
    for c in range(3):
        lesson.say(f"w{f}[:, :, {c}]:")
        print_matrix(w[:, :, c])
    lesson.say(f"b{f} = {b}")
lesson.say(
    f"Keras stores them together: kernel.shape = {kernel.shape} = (KH, KW, C_in, C_out), bias.shape = {bias.shape}"
)
lesson.check("kernel layout (KH, KW, C_in, C_out)", kernel.shape, (3, 3, 3, 2))
lesson.savefig(
    viz.kernels_figure(kernel, suptitle="Filters W0 (top) and W1 (bottom), one column per channel"), "filters"
)

# --------------------------------------------------------------------------------------------
lesson.step("Output size: T = (N + 2·P − K)/S + 1")
lesson.say(
    "  " + convlab.output_size_formula(5, 3, P, S),
    "  " + convlab.output_size_formula(5, 3, P, S, symbol="U"),
    "  output volume T × U × N_f = 3 × 3 × 2 (one plane per filter)",
)
lesson.check("T", convlab.conv_output_size(5, 3, P, S), 3)

# --------------------------------------------------------------------------------------------
lesson.step("Every output value = (channel 0 sum) + (channel 1 sum) + (channel 2 sum) + bias")
by_hand = np.zeros((3, 3, 2), dtype=int)
for f, (w, b) in enumerate(zip((w0, w1), bias)):
    lesson.say(f"Filter w{f} (bias b{f} = {b}):")
    for i in range(3):
        for j in range(3):
            win = xp[i * S : i * S + 3, j * S : j * S + 3, :]  # the 3×3×3 window at (i·S, j·S)
            parts = [int(np.sum(win[:, :, c] * w[:, :, c])) for c in range(3)]
            by_hand[i, j, f] = sum(parts) + b
            txt = " + ".join(f"({p})" if p < 0 else str(p) for p in parts)
            lesson.say(
                f"  o{f}[{i},{j}] = {txt} + {b} = {by_hand[i, j, f]}"
                f"   (window rows {i * S}…{i * S + 2}, cols {j * S}…{j * S + 2} of the padded input)"
            )
            if f == 0 and i == 0 and j == 0:
                for c in range(3):
                    lesson.say(
                        f"      channel {c}: "
                        + " + ".join(product_term(p, q) for p, q in zip(win[:, :, c].ravel(), w[:, :, c].ravel()))
                        + f" = {parts[c]}"
                    )
lesson.say("o[:, :, 0]:")
print_matrix(by_hand[:, :, 0])
lesson.say("o[:, :, 1]:")
print_matrix(by_hand[:, :, 1])
lesson.check("o0 by hand = slide [[2,3,3],[3,7,3],[8,10,-3]]", by_hand[:, :, 0], EXPECTED[:, :, 0])
lesson.check("o1 by hand = slide [[-8,-8,-3],[-3,1,0],[-3,-8,-5]]", by_hand[:, :, 1], EXPECTED[:, :, 1])

# --------------------------------------------------------------------------------------------
lesson.step("The same with convlab: per-channel planes, then the whole volume in one call")
lesson.say("correlate2d on each channel gives the three per-channel sums as whole 3×3 planes:")
for f, (w, b) in enumerate(zip((w0, w1), bias)):
    planes = [convlab.correlate2d(x[:, :, c], w[:, :, c], padding=P, strides=S) for c in range(3)]
    for c, pl in enumerate(planes):
        lesson.say(f"  w{f}, channel {c}: {pl.astype(int).tolist()}")
    lesson.check(f"o{f} = plane 0 + plane 1 + plane 2 + b{f}", planes[0] + planes[1] + planes[2] + b, EXPECTED[:, :, f])
for backend in ("reference", "numpy", "numba"):
    y = convlab.conv2d(x[None], kernel, bias, strides=S, padding=P, backend=backend)
    lesson.check(
        f"conv2d(x (1,5,5,3), kernel (3,3,3,2), bias, strides=2, padding=1), backend={backend!r}", y[0], EXPECTED
    )
lesson.say(
    "Keras' padding='same' with stride 2 on this odd 5×5 input also pads 1 on each side:",
    "  " + convlab.output_size_formula(5, 3, "same", 2),
)
lesson.check(
    "padding='same' gives the same volume here",
    convlab.conv2d(x[None], kernel, bias, strides=S, padding="same")[0],
    EXPECTED,
)

mats = [xp[:, :, c] for c in range(3)] + [EXPECTED[:, :, 0], EXPECTED[:, :, 1]]
lesson.savefig(
    viz.matrices_figure(
        mats,
        [f"x[:, :, {c}] (+pad 1)" for c in range(3)] + ["o[:, :, 0]", "o[:, :, 1]"],
        cmaps=["Reds", "Greens", "Blues", "Greys", "Greys"],
        suptitle="5×5×3 input (padded) → stride 2 → 3×3×2 output",
    ),
    "volume",
)

lesson.finish()
