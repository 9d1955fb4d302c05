"""Lesson 05 — how big is the output, and how many parameters does a layer have?

Slides (seeds/003, "¿Cuál es el tamaño del resultado?", "MNIST"):

* output size ``T = (N + 2·P − K)/S + 1`` — e.g. ``(5 + 2·1 − 3)/2 + 1 = 3`` and
  ``(28 + 0 − 3)/1 + 1 = 26``; when the division is not exact Keras floors it;
* Conv2D parameters ``N_f·K·K·N_c + N_f`` (``64·3·3·1 + 64 = 640``); Flatten has
  none but produces ``N_f·T·U`` values (``64·26·26 = 43,264``); Dense has
  ``inputs·units + units`` (``43264·10 + 10 = 432,650``).

The summaries below are computed with ``convlab.shapes`` (no framework needed)
and, when TensorFlow is installed and ``--no-keras`` is not given,
compared with Keras' own ``model.summary()`` and ``count_params()``.

Run: ``python lessons/05_output_sizes_and_parameters.py [--step] [--out DIR] [--quick] [--no-keras]``.
"""

import os
import textwrap

import numpy as np

import convlab
from convlab.lesson import Lesson
from convlab.shapes import format_summary, resolve_padding


def extra_args(parser):
    parser.add_argument("--no-keras", action="store_true", help="skip the comparison with Keras' model.summary()")


lesson = Lesson(__file__, "Output sizes and parameter counts", extra_args=extra_args)

# --------------------------------------------------------------------------------------------
lesson.step("The slides' formula: T = (N + 2·P − K)/S + 1")
for n, k, p, s, expected in [(5, 3, 1, 2, 3), (28, 3, 0, 1, 26)]:
    text = convlab.output_size_formula(n, k, p, s)
    lesson.say(f"  N={n}, K={k}, P={p}, S={s}:  {text}")
    lesson.check(f"conv_output_size({n}, {k}, padding={p}, stride={s})", convlab.conv_output_size(n, k, p, s), expected)
    lesson.check_true(f"the formula text ends with '= {expected}'", text.endswith(f"= {expected}"))
y = convlab.conv2d(np.zeros((1, 28, 28, 1)), np.zeros((3, 3, 1, 64)))
lesson.say(f"  conv2d on (1, 28, 28, 1) with a (3, 3, 1, 64) kernel → {y.shape}: 28×28 images give 26×26 maps")
lesson.check("conv2d output shape (slide: (None, 26, 26, 64))", y.shape, (1, 26, 26, 64))

# --------------------------------------------------------------------------------------------
lesson.step("When (N + 2·P − K) is not a multiple of S, Keras floors")
text = convlab.output_size_formula(28, 3, 0, 2)
lesson.say("  " + text)
lesson.check("conv_output_size(28, 3, 0, 2)", convlab.conv_output_size(28, 3, 0, 2), 13)
x = np.arange(28 * 28, dtype=float).reshape(1, 28, 28, 1)
y = convlab.conv2d(x, np.ones((3, 3, 1, 1)), strides=2)
lesson.say(f"  windows start at rows 0, 2, …, 24 and cover rows 0…26; row 27 is never used → output {y.shape[1:3]}")
lesson.check("conv2d agrees: (1, 13, 13, 1)", y.shape, (1, 13, 13, 1))
lesson.check(
    "the last row and column do not change the result",
    convlab.conv2d(x[:, :27, :27], np.ones((3, 3, 1, 1)), strides=2),
    y,
)

# --------------------------------------------------------------------------------------------
lesson.step("padding='same': the output is ceil(N/S), and the pads may be unequal")
lesson.say(
    "TensorFlow's rule: pad_total = max((ceil(N/S) − 1)·S + K − N, 0); pad_before = pad_total // 2,",
    "the odd pixel goes after (bottom/right).",
)
cases = [
    (28, 3, 1, (1, 1), 28),
    (28, 3, 2, (0, 1), 14),
    (5, 3, 2, (1, 1), 3),
    (28, 2, 1, (0, 1), 28),
    (7, 5, 3, (2, 2), 3),
]
for n, k, s, pads, expected in cases:
    top, bottom, _, _ = resolve_padding((n, n), k, "same", s)
    lesson.say(f"  N={n:2d}, K={k}, S={s}: {convlab.output_size_formula(n, k, 'same', s)}")
    lesson.check(f"'same' pads for N={n}, K={k}, S={s}", (top, bottom), pads)
    lesson.check(
        f"'same' output for N={n}, K={k}, S={s} = ceil({n}/{s})", convlab.conv_output_size(n, k, "same", s), expected
    )
lesson.say(
    "",
    "The trap: stride 2 on an even input. padding=1 gives the same 14×14 shape as 'same', but",
    "different numbers — 'same' pads 0 rows above and 1 below, so every window sits one pixel lower.",
)
k3 = np.arange(9, dtype=float).reshape(3, 3, 1, 1)
same = convlab.conv2d(x, k3, strides=2, padding="same")
sym = convlab.conv2d(x, k3, strides=2, padding=1)
explicit = convlab.conv2d(x, k3, strides=2, padding=((0, 1), (0, 1)))
lesson.check("'same' and padding=1 have the same shape", same.shape, sym.shape)
lesson.check_true("… but not the same numbers", not np.array_equal(same, sym))
lesson.check("'same' = explicit pads ((0, 1), (0, 1))", same, explicit)

# --------------------------------------------------------------------------------------------
lesson.step("Parameters of the slides' MNIST models, with the formula of each number")

# A layer list in the slides' order: ("conv", filters, kernel) | ("pool", size) | ("flatten",) | ("dense", units, act)
MODELS = {
    "Conv2D(64,3) → Flatten → Dense(10)": ([("conv", 64, 3, "relu"), ("flatten",), ("dense", 10, "softmax")], 433_290),
    "… with Dense(15, tanh) before Dense(10)": (
        [("conv", 64, 3, "relu"), ("flatten",), ("dense", 15, "tanh"), ("dense", 10, "softmax")],
        649_775,
    ),
    "… with MaxPooling2D((2,2)) after the conv": (
        [("conv", 64, 3, "relu"), ("pool", 2), ("flatten",), ("dense", 15, "tanh"), ("dense", 10, "softmax")],
        163_055,
    ),
    "seeds/004: Conv2D(32,3) → MaxPool2D(2) → Flatten → Dense(100) → Dense(10)": (
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
            formula = f"N_f·K·K·N_c + N_f = {f}·{k}·{k}·{shape[2]} + {f}"
            shape = (h2, w2, f)
        elif kind == "pool":
            p = layer[1]
            before = shape
            shape = (convlab.pool_output_size(shape[0], p), convlab.pool_output_size(shape[1], p), shape[2])
            params, formula = 0, f"no weights; floor({before[0]}/{p}) = {shape[0]}"
        elif kind == "flatten":
            n = int(np.prod(shape))
            formula = f"no weights; {shape[0]}·{shape[1]}·{shape[2]} = {n:,} values"
            shape, params = (n,), 0
        else:
            units = layer[1]
            params = convlab.dense_param_count(units, shape[0])
            formula = f"inputs·units + units = {shape[0]}·{units} + {units}"
            shape = (units,)
        rows.append((name, typ, (None,) + shape, params, formula))
    return rows


all_rows = {}
for title, (spec, total) in MODELS.items():
    rows = summary_rows(spec)
    all_rows[title] = rows
    lesson.say("", title)
    lesson.say(format_summary(rows, show_formula=True))
    lesson.check(f"total = {total:,}", sum(r[3] for r in rows), total)

first, second, pooled, seed4 = (all_rows[t] for t in MODELS)
lesson.check("Conv2D(64, 3) on 28×28×1: 64·3·3·1 + 64 = 640", first[0][3], 640)
lesson.check("its output (None, 26, 26, 64)", first[0][2], (None, 26, 26, 64))
lesson.check("Flatten: 64·26·26 = 43,264 values", first[1][2], (None, 43_264))
lesson.check("Dense(10): 43264·10 + 10 = 432,650", first[2][3], 432_650)
lesson.check(
    "Dense(15): 43264·15 + 15 = 648,975; Dense(10): 15·10 + 10 = 160", [second[2][3], second[3][3]], [648_975, 160]
)
lesson.check("MaxPooling2D((2,2)) output (None, 13, 13, 64)", pooled[1][2], (None, 13, 13, 64))
lesson.check("Flatten after pooling: 13·13·64 = 10,816 values", pooled[2][2], (None, 10_816))
lesson.check("Dense(15) after pooling: 10816·15 + 15 = 162,255", pooled[3][3], 162_255)
lesson.check("pooling leaves 25% of the values to flatten (75% fewer)", pooled[2][2][1] / first[1][2][1], 0.25)
lesson.check("seeds/004: 320 + 540,900 + 1,010", [seed4[0][3], seed4[3][3], seed4[4][3]], [320, 540_900, 1_010])

lesson.say("", "Where are the parameters? Almost all of them sit in the first Dense layer after Flatten:")
for title, rows in all_rows.items():
    total = sum(r[3] for r in rows)
    biggest = max(rows, key=lambda r: r[3])
    lesson.say(f"  {title}: {biggest[0]} holds {biggest[3]:,} of {total:,} ({100 * biggest[3] / total:.1f}%)")

import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, len(all_rows), figsize=(4.2 * len(all_rows), 3.8), sharey=True)
for ax, (title, rows) in zip(axes, all_rows.items()):
    ax.bar(range(len(rows)), [max(r[3], 0.8) for r in rows], color=["tab:blue" if r[3] else "0.8" for r in rows])
    ax.set_xticks(range(len(rows)), [r[1] for r in rows], rotation=35, ha="right", fontsize=8)
    ax.set_yscale("log")
    ax.set_title(textwrap.fill(title, 44) + f"\ntotal {sum(r[3] for r in rows):,}", fontsize=8)
    for i, r in enumerate(rows):
        ax.text(i, max(r[3], 0.8), f"{r[3]:,}", ha="center", va="bottom", fontsize=7)
axes[0].set_ylabel("parameters (log scale)")
fig.tight_layout()
lesson.savefig(fig, "parameters_per_layer")

# --------------------------------------------------------------------------------------------
lesson.step("The same arithmetic on VGG16 (slides: 'Total params: 138,357,544')")
vgg_blocks = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]
h, c, total, lines = 224, 3, 0, []
for filters, convs in vgg_blocks:
    for _ in range(convs):
        p = convlab.conv2d_param_count(filters, 3, c)
        lines.append(f"  Conv2D({filters}, 3, 'same') on {h}×{h}×{c}: {filters}·3·3·{c} + {filters} = {p:,}")
        total, c = total + p, filters
        h = convlab.conv_output_size(h, 3, "same")
    h = convlab.pool_output_size(h, 2)
    lines.append(f"  MaxPooling2D(2) → {h}×{h}×{c}")
n = h * h * c
for units in (4096, 4096, 1000):
    p = convlab.dense_param_count(units, n)
    lines.append(f"  Dense({units}) on {n:,} inputs: {n:,}·{units} + {units} = {p:,}")
    total, n = total + p, units
lesson.say(*lines, f"  total: {total:,}")
lesson.check("VGG16 flatten size 7·7·512", 7 * 7 * 512, 25_088)
lesson.check("VGG16 total parameters", total, 138_357_544)

# --------------------------------------------------------------------------------------------
lesson.step("Side by side with Keras' model.summary()")
keras = None
if lesson.args.no_keras:
    lesson.say("(skipped under --no-keras: run without it to compare with Keras)")
else:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras  # TensorFlow is imported only here, only if installed
    except ImportError:
        lesson.say("(TensorFlow/Keras is not installed: pip install -e '.[keras]' to compare)")
if keras is not None:

    def keras_model(spec, input_shape=(28, 28, 1)):
        layers = [keras.Input(shape=input_shape)]
        for layer in spec:
            if layer[0] == "conv":
                layers.append(keras.layers.Conv2D(layer[1], kernel_size=layer[2], activation=layer[3]))
            elif layer[0] == "pool":
                layers.append(keras.layers.MaxPooling2D(pool_size=(layer[1], layer[1])))
            elif layer[0] == "flatten":
                layers.append(keras.layers.Flatten())
            else:
                layers.append(keras.layers.Dense(layer[1], activation=layer[2]))
        return keras.Sequential(layers)

    def side_by_side(left, right, gap="   │   "):
        left, right = left.splitlines(), right.splitlines()
        width = max(len(line) for line in left)
        rows = max(len(left), len(right))
        left += [""] * (rows - len(left))
        right += [""] * (rows - len(right))
        return "\n".join(f"{a:<{width}}{gap}{b}".rstrip() for a, b in zip(left, right))

    for title, (spec, total) in MODELS.items():
        model = keras_model(spec)
        captured = []
        model.summary(print_fn=lambda text, **kw: captured.append(text))
        ours = format_summary(all_rows[title], title=f"convlab.shapes — {title}")
        lesson.say("", side_by_side("".join(captured), ours))
        lesson.check("Keras count_params() = convlab total", model.count_params(), total)
        lesson.check(
            "Keras per-layer params = convlab",
            [ly.count_params() for ly in model.layers],
            [r[3] for r in all_rows[title]],
        )
        lesson.check(
            "Keras output shapes = convlab",
            str([tuple(ly.output.shape) for ly in model.layers]),
            str([r[2] for r in all_rows[title]]),
        )

lesson.finish()
