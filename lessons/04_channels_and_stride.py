# %% [markdown]
# # Lesson 04 — several channels, several filters, stride 2: the slides' 5×5×3 example
#
# Why it matters: real images have three channels (R, G, B) and a Conv2D layer has
# many filters. This is the slides' example of what one layer does with both —
# each filter sees every channel at once and gives one output plane — and of how
# a stride of 2 shrinks the output.
#
# Slides (seeds/003, "Convolución 2D con 3 canales"): a 5×5×3 input padded with
# one ring of zeros (7×7×3), two filters W0 and W1 of 3×3×3 with biases
# `b0 = 1` and `b1 = 0` ("Bias b0 (1x1x1)"), stride 2 → an output volume of
# 3×3×2, with `T = (N + 2·P − K)/S + 1 = 3` rows and `U = (M + 2·P − K)/S + 1 = 3`
# columns (both checked).
#
# Each output number is a sum over *all three* channels: the 3×3 window of
# channel 0 times `w[:, :, 0]`, plus that of channel 1 times `w[:, :, 1]`,
# plus channel 2, plus the filter's bias. One filter gives one output plane;
# the number of filters is the number of output channels.
#
# Run: `python lessons/04_channels_and_stride.py [--step] [--out DIR] [--quick] [--lang es]`.
# Figures: the two filters with their biases, and the whole example laid out as
# the slide (input volume, W0 and b0, W1 and b1, output volume).

# %%
import matplotlib.pyplot as plt
import numpy as np

import convlab
from convlab import viz
from convlab.lesson import Lesson, _, product_rows, unbroken

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
kernel = np.stack([w0, w1], axis=-1)  # (K, K, N_c, N_f) = (3, 3, 3, 2)
bias = np.array([1, 0])
EXPECTED = np.stack(
    [
        [[2, 3, 3], [3, 7, 3], [8, 10, -3]],
        [[-8, -8, -3], [-3, 1, 0], [-3, -8, -5]],
    ],
    axis=-1,
)  # (3, 3, 2)
# The slide's summary: Input N × M × N_c, Kernel_size K, Cant_filtros N_f, Padding P, Stride S, Output T × U × N_f.
N, M, N_C, K, N_F, P, S = 5, 5, 3, 3, 2, 1, 2
T, U = 3, 3


def say_side_by_side(blocks, indent="    ", gap=4):
    """Print matrices next to each other, each under its title (as the slides lay out channels)."""
    columns = []
    for title, m in blocks:
        m = np.asarray(m)
        w = max(len(str(int(v))) for v in m.ravel())
        lead = " " * (len(title) - len(title.lstrip("+= ")))  # numbers start under the name, after "+ "
        columns.append([title] + [lead + " ".join(f"{int(v):>{w}}" for v in row) for row in m])
    widths = [max(map(len, col)) for col in columns]
    for r in range(max(map(len, columns))):
        cells = [(col[r] if r < len(col) else "").ljust(w) for col, w in zip(columns, widths)]
        lesson.say((indent + (" " * gap).join(cells)).rstrip())


def signed(v):
    """A term of a sum as the slides write it: negative numbers in parentheses."""
    return f"({v})" if v < 0 else str(v)


def channel(c):
    """The name of input channel ``c`` ("channel 0"), as the sums and the columns of planes call it."""
    return _("channel {c}").format(c=c)


def draw_filters(fig, grid, col0, lim):
    """Filter f's three slices in column ``col0 + f``, one row per channel, its bias under them."""
    for f in range(N_F):
        for c in range(N_C):
            ax = fig.add_subplot(grid[c, col0 + f])
            title = (_("Filter W{f}\n(3×3×3)").format(f=f) + "\n" if c == 0 else "") + f"w{f}[:, :, {c}]"
            viz.draw_matrix(ax, kernel[:, :, c, f], title=title, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax = fig.add_subplot(grid[N_C, col0 + f])
        title = _("Bias b{f}\n(1×1×1)").format(f=f)
        viz.draw_matrix(ax, [[bias[f]]], title=title, cmap="RdBu_r", vmin=-lim, vmax=lim)


lesson.say(
    _(
        "Why it matters: real images have three channels (R, G, B) and a Conv2D layer has many filters. "
        "This is what one layer does with both: each filter sees every channel at once and gives one output "
        "plane; a stride of 2 shrinks the output."
    )
)

# %%
lesson.step(_("The input volume 5×5×3, padded with one ring of zeros → 7×7×3"))
xp = np.pad(x, ((P, P), (P, P), (0, 0)))
lesson.say(
    _(
        "A colour image is a volume: one plane of numbers per channel (R, G, B). Here {volume}, stored as "
        "{shape} = (N, M, N_c), Keras' (height, width, channels), as the slides' library does. Padding "
        "{padding} adds a ring of zeros around each plane (lesson 03): padded shape {padded}."
    ).format(
        volume=unbroken(f"N × M × N_c = {N} × {M} × {N_C}"),
        shape=unbroken(f"x.shape = {x.shape}"),
        padding=unbroken(f"P = {P}"),
        padded=unbroken(str(xp.shape)),
    ),
    "",
)
say_side_by_side([(_("x[:, :, {c}] (+pad {p})").format(c=c, p=P), xp[:, :, c]) for c in range(N_C)])
lesson.check(_("input volume N × M × N_c = 5 × 5 × 3 (the slide's)"), x.shape, (N, M, N_C))
lesson.check(_("padded input volume is 7×7×3"), xp.shape, (N + 2 * P, M + 2 * P, N_C))

# %%
lesson.step(_("Two filters of 3×3×3 and their biases"))
lesson.say(
    _(
        "A filter has one 3×3 slice per input channel ({size}), so it looks at all three channels at once. "
        "Its bias is one number added after the sum (the slide's 'Bias b0 (1x1x1)'); weights and biases are "
        "what training learns. {filters} filters:"
    ).format(size=unbroken(f"K × K × N_c = {K} × {K} × {N_C}"), filters=unbroken(f"N_f = {N_F}")),
    "",
)
for f in range(N_F):
    say_side_by_side([(f"w{f}[:, :, {c}]", kernel[:, :, c, f]) for c in range(N_C)] + [(f"b{f}", [[bias[f]]])])
    lesson.say("")
lesson.say(
    _("Keras stores them together:"),
    f"  kernel.shape = (K, K, N_c, N_f) = {kernel.shape}",
    "  " + _("{code} (one per filter)").format(code=f"bias.shape   = (N_f,) = {bias.shape}"),
    _(
        "Each filter holds 3·3·3 = 27 weights and 1 bias, so the layer has {formula} parameters (lesson 05 "
        "counts them for whole networks):"
    ).format(formula=unbroken("N_f·K·K·N_c + N_f")),
    "  N_f·K·K·N_c + N_f = 2·3·3·3 + 2 = 56",
)
lesson.check(_("kernel layout (K, K, N_c, N_f)"), kernel.shape, (K, K, N_C, N_F))
lesson.check(_("one bias per filter: (N_f,)"), bias.shape, (N_F,))
lesson.check(_("slide's biases b0 = 1, b1 = 0"), bias, [1, 0])
lesson.check(
    _("56 parameters = kernel.size + bias.size = conv2d_param_count(2, 3, 3)"),
    [kernel.size + bias.size, convlab.conv2d_param_count(N_F, K, N_C)],
    [56, 56],
)
fig = plt.figure(figsize=(3.6, 7.0), layout="constrained")
lim = float(max(np.abs(kernel).max(), np.abs(bias).max()))
draw_filters(fig, fig.add_gridspec(N_C + 1, N_F, height_ratios=[3, 3, 3, 1]), 0, lim)
fig.suptitle(_("Filters and biases (blue < 0 < red)"))
lesson.savefig(fig, "filters")

# %%
lesson.step(_("Output size: T = (N + 2·P − K)/S + 1, U = (M + 2·P − K)/S + 1"))
starts = list(range(0, N + 2 * P - K + 1, S))  # top rows of the windows in the padded input
lesson.say(
    _(
        "Stride {stride}: the window jumps two pixels at a time. In the 7 padded rows a window 3 rows tall "
        "starts at rows {starts} — three positions, so three output rows:"
    ).format(stride=unbroken(f"S = {S}"), starts=", ".join(map(str, starts))),
    "  " + convlab.output_size_formula(N, K, P, S),
    "  " + convlab.output_size_formula(M, K, P, S, symbol="U"),
    _("Output volume {volume}: one plane per filter (a feature map, the filter's response at each position).").format(
        volume=unbroken(f"T × U × N_f = {T} × {U} × {N_F}")
    ),
)
lesson.check(_("T (rows)"), convlab.conv_output_size(N, K, P, S), T)
lesson.check(_("U (columns)"), convlab.conv_output_size(M, K, P, S), U)
lesson.check(_("window positions counted = T"), len(starts), T)
lesson.check(
    _("conv2d's output shape = T × U × N_f = 3 × 3 × 2 (the slide's)"),
    convlab.conv2d(x[None], kernel, bias, strides=S, padding=P).shape[1:],
    (T, U, N_F),
)

# %%
lesson.step(_("Each output value = channel 0 + channel 1 + channel 2 + bias"))
win = xp[0:K, 0:K, :]  # the 3×3×3 window of o[0,0]
parts0 = [int(np.sum(win[:, :, c] * w0[:, :, c])) for c in range(N_C)]
lesson.say(
    _(
        "The first value, o0[0,0], in full: the top-left 3×3 window of each channel times w0's slice for that "
        "channel (no flip, as in lesson 03), then b0:"
    )
)
labels = [channel(c) + ": " for c in range(N_C)]
label_w = max(map(len, labels))
for c in range(N_C):
    lesson.say(*product_rows(win[:, :, c], w0[:, :, c], parts0[c], label="  " + labels[c].ljust(label_w)))
lesson.say(f"  o0[0,0] = {' + '.join(map(signed, parts0))} + b0 = {sum(parts0) + bias[0]}")
lesson.check(_("o0[0,0] = channel sums + b0 = 2 (the slide's)"), sum(parts0) + bias[0], EXPECTED[0, 0, 0])
lesson.say(
    "",
    _(
        "Every value the same way. The window of o[i,j] covers rows {s}i…{s}i+2 and columns {s}j…{s}j+2 of "
        "the padded input (stride {s}):"
    ).format(s=S),
)
by_hand = np.zeros((T, U, N_F), dtype=int)
for f, (w, b) in enumerate(zip((w0, w1), bias)):
    lesson.say("", _("Filter w{f} (bias b{f} = {b}): channel 0 + channel 1 + channel 2 + b{f}").format(f=f, b=b))
    for i in range(T):
        for j in range(U):
            win = xp[i * S : i * S + K, j * S : j * S + K, :]  # the 3×3×3 window at (i·S, j·S)
            parts = [int(np.sum(win[:, :, c] * w[:, :, c])) for c in range(N_C)]
            by_hand[i, j, f] = sum(parts) + b
            text = f"  o{f}[{i},{j}] = {' + '.join(map(signed, parts))} + {b} = {by_hand[i, j, f]}"
            where = _("rows {r0}…{r1}, cols {c0}…{c1}").format(r0=i * S, r1=i * S + K - 1, c0=j * S, c1=j * S + K - 1)
            lesson.say(f"{text:<42}{where}")
lesson.say("")
say_side_by_side([("o[:, :, 0]", by_hand[:, :, 0]), ("o[:, :, 1]", by_hand[:, :, 1])])
lesson.check(_("o0 by hand = slide [[2,3,3],[3,7,3],[8,10,-3]]"), by_hand[:, :, 0], EXPECTED[:, :, 0])
lesson.check(_("o1 by hand = slide [[-8,-8,-3],[-3,1,0],[-3,-8,-5]]"), by_hand[:, :, 1], EXPECTED[:, :, 1])

# %%
lesson.step(_("The same with convlab: plane by plane, then in one call"))
lesson.say(
    _(
        "correlate2d (one channel, no flip: lesson 03) gives each channel's sums as a whole 3×3 plane; the "
        "three planes plus the bias are the output plane:"
    ),
    "",
)
for f, (w, b) in enumerate(zip((w0, w1), bias)):
    planes = [convlab.correlate2d(x[:, :, c], w[:, :, c], padding=P, strides=S) for c in range(N_C)]
    total = planes[0] + planes[1] + planes[2] + b
    lesson.say(_("Filter w{f}, one plane per channel:").format(f=f))
    say_side_by_side(
        [(channel(0), planes[0]), ("+ " + channel(1), planes[1]), ("+ " + channel(2), planes[2])]
        + [(f"+ b{f}", [[b]]), (f"= o[:, :, {f}]", total)],
        gap=3,
    )
    lesson.check(_("o{f} = plane 0 + plane 1 + plane 2 + b{f}").format(f=f), total, EXPECTED[:, :, f])
    lesson.say("")
lesson.say(
    _(
        "conv2d does all of it in one call, on Keras' layouts (a batch of images {batch}, the kernel "
        "{kernel}). convlab has interchangeable backends — the same maths in different code: 'reference' "
        "(plain loops), 'numpy' (whole arrays at once), 'numba' (compiled, the default). All must give the "
        "slide's:"
    ).format(batch=unbroken(str(x[None].shape)), kernel=unbroken(str(kernel.shape)))
)
for backend in ("reference", "numpy", "numba"):
    y = convlab.conv2d(x[None], kernel, bias, strides=S, padding=P, backend=backend)
    lesson.check(f"conv2d(x, kernel, bias, strides=2, padding=1), {backend}", y[0], EXPECTED)
lesson.say(
    "",
    _("Keras' padding='same' with stride 2 on this odd 5×5 input also pads 1 on each side:"),
    *("  " + part for part in convlab.output_size_formula(N, K, "same", S).split("   ", 1)),
)
lesson.check(
    _("padding='same' gives the same volume here"),
    convlab.conv2d(x[None], kernel, bias, strides=S, padding="same")[0],
    EXPECTED,
)

# The slide's picture: input volume | W0 and b0 | W1 and b1 | output volume.
fig = plt.figure(figsize=(8.0, 11.5), layout="constrained")
grid = fig.add_gridspec(N_C + 1, 4, width_ratios=[7, 3, 3, 3], height_ratios=[7, 7, 7, 2])
for c in range(N_C):
    ax = fig.add_subplot(grid[c, 0])
    title = (_("Input Volume (+pad 1) (7×7×3)") + "\n" if c == 0 else "") + f"x[:, :, {c}]"
    viz.draw_matrix(ax, xp[:, :, c], title=title, vmin=0, vmax=int(x.max()))
draw_filters(fig, grid, 1, lim)
for f in range(N_F):
    ax = fig.add_subplot(grid[f, 3])
    title = (_("Output Volume\n(3×3×2)") + "\n" if f == 0 else "") + f"o[:, :, {f}]"
    viz.draw_matrix(ax, EXPECTED[:, :, f], title=title, vmin=int(EXPECTED.min()), vmax=int(EXPECTED.max()))
ax = fig.add_subplot(grid[N_C, 0])
ax.axis("off")
ax.text(
    0.0,
    0.5,
    f"N × M × N_c = {N} × {M} × {N_C}\nK × K × N_c = {K} × {K} × {N_C}\nN_f = {N_F},  P = {P},  S = {S}",
    fontsize=10,
    va="center",
)
fig.suptitle(
    _(
        "5×5×3 input (padded) → 2 filters, stride 2 → 3×3×2 output\n"
        "grey: lighter = larger; filters and biases: blue < 0 < red"
    )
)
lesson.savefig(fig, "volume")

lesson.finish()
