# %% [markdown]
# # Lesson 06 — pooling: keep the strongest (or the average) response of each window
#
# Why: after a convolution the feature maps are almost as large as the image, and
# the Dense layer after Flatten needs one weight per number. A 2×2 pooling keeps
# one number in four, learns nothing, and gives the same output when a feature
# moves by a pixel inside its window.
#
# Slides (seeds/003, "Capa de pooling", "Pooling", "Capa MaxPooling2D",
# "Resumen"): the pooling layer reduces the size of the convolutional layer's
# output. It is "a convolution with a stride equal to the kernel size" that
# computes a function (max or mean) over the window's pixels; it has no weights.
# The slide's reasons: the smaller size removes part of the noise and keeps the
# more significant values, reduces over-fitting and speeds up the computation.
# After `Conv2D(64, 3)` on 28×28×1 the 26×26×64 maps become 13×13×64 with
# `MaxPooling2D((2,2))`: 43,264 values become 10,816 — 75% fewer — and the
# next `Dense(15)` needs 162,255 parameters instead of 648,975. Here each
# reason is shown with numbers (a one-pixel shift that leaves the max-pooled
# output unchanged, and one that does not), the layers run on a photo
# (convolution → ReLU → pooling), and a closing step recaps the deck's chain
# image → filters → convolution → padding/stride → channels → pooling → dense →
# softmax with the lesson that covers each link.
#
# Run: `python lessons/06_pooling.py [--step] [--out DIR] [--quick] [--lang es]`.

# %%
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle
from skimage import data

import convlab
from convlab import viz
from convlab.lesson import N_, Lesson, _, ngettext
from convlab.teach.lessons import find_lessons, repo_root

lesson = Lesson(__file__, "Pooling: max and average, by hand and on a photo")
lesson.say(
    _(
        "Why it matters: a convolution's feature maps are almost as large as the image, and the Dense layer "
        "after Flatten needs one weight per number. A 2×2 pooling keeps one number in four, learns nothing, and "
        "gives the same output when a feature moves by a pixel inside its window."
    ),
)

BACKENDS = ("reference", "numpy", "numba")


def matrix_lines(m, indent="    "):
    """A matrix as lines, one row per line, columns right-aligned."""
    m = np.asarray(m)
    width = max(len(f"{v:g}") for v in m.ravel())
    return [indent + " ".join(f"{v:>{width}g}" for v in row) for row in m]


def side_by_side(blocks, titles, gap=6):
    """Several matrices' lines next to each other, each under its title."""
    cols = [[t] + matrix_lines(b, "") for b, t in zip(blocks, titles)]
    widths = [max(len(line) for line in col) for col in cols]
    height = max(len(col) for col in cols)
    return [
        "    " + (" " * gap).join(f"{(col[i] if i < len(col) else ''):<{w}}" for col, w in zip(cols, widths)).rstrip()
        for i in range(height)
    ]


def aligned(rows, indent="  "):
    """Rows of (label, text, …) as lines: the labels padded to the longest (in the language shown),
    each row's further texts on lines of their own, under the first."""
    width = max(len(row[0]) for row in rows)
    lines = []
    for label, *texts in rows:
        lines.append(f"{indent}{label:<{width}} {texts[0]}")
        lines += [f"{indent}{'':<{width}} {text}" for text in texts[1:]]
    return lines


# %%
lesson.step(_("Max and average pooling by hand: 2×2 windows, stride 2"))
lesson.say(
    _(
        "A feature map is what one filter of a convolution produces: an image of where that filter responds. "
        "Pooling cuts it into windows (here 2×2, moving 2 pixels at a time: the stride) and keeps one number "
        "per window: the largest (max pooling) or the mean (average pooling)."
    ),
)
a = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
lesson.say(*matrix_lines(a))
p = 2
oh, ow = a.shape[0] // p, a.shape[1] // p
max_hand, avg_hand = np.zeros((oh, ow)), np.zeros((oh, ow))
for i in range(oh):
    for j in range(ow):
        win = a[i * p : (i + 1) * p, j * p : (j + 1) * p]
        max_hand[i, j], avg_hand[i, j] = win.max(), win.mean()
        lesson.say(
            "  "
            + _("window ({i},{j}), rows {r0}–{r1}, cols {c0}–{c1}: {values}").format(
                i=i, j=j, r0=i * p, r1=i * p + 1, c0=j * p, c1=j * p + 1, values=win.astype(int).tolist()
            ),
            "      "
            + _("max {largest:g}    mean ({terms})/4 = {mean:g}").format(
                largest=max_hand[i, j], terms=" + ".join(f"{v:g}" for v in win.ravel()), mean=avg_hand[i, j]
            ),
        )
lesson.say(*side_by_side([max_hand, avg_hand], [_("max pooling"), _("average pooling")]))
lesson.check(_("max pool by hand"), max_hand, [[6, 8], [3, 4]])
lesson.check(_("average pool by hand"), avg_hand, [[3.25, 5.25], [2, 2]])
lesson.say(
    _(
        "convlab computes each operation in up to three ways, called backends: 'reference' (plain loops, as by "
        "hand), 'numpy' (whole-array NumPy operations) and 'numba' (compiled; the default). All must agree:"
    ),
)
x4 = a[None, :, :, None]  # (batch, height, width, channels) = (1, 4, 4, 1)
for backend in BACKENDS:
    lesson.check(
        f"max_pool2d(pool_size=2), backend={backend!r}",
        convlab.max_pool2d(x4, pool_size=2, backend=backend)[0, :, :, 0],
        max_hand,
    )
    lesson.check(
        f"avg_pool2d(pool_size=2), backend={backend!r}",
        convlab.avg_pool2d(x4, pool_size=2, backend=backend)[0, :, :, 0],
        avg_hand,
    )
lesson.say(_("Overlapping windows are possible too (pool_size=3, strides=1, as in some networks):"))
over = convlab.max_pool2d(x4, pool_size=3, strides=1)[0, :, :, 0]
lesson.say(*matrix_lines(over))
lesson.check(_("3×3 windows, stride 1"), over, [[7, 8], [7, 8]])

WINDOW_COLOURS = ("tab:red", "tab:blue", "tab:green", "tab:orange")
fig, axes = plt.subplots(1, 3, figsize=(9.5, 3.6), gridspec_kw={"width_ratios": [4, 2, 2], "wspace": 0.45})
shade = {"vmin": 0.0, "vmax": float(a.max())}  # one scale for the three: equal numbers, equal greys
viz.draw_matrix(axes[0], a, title=_("input 4×4\n(2×2 windows, stride 2)"), **shade)
viz.draw_matrix(axes[1], max_hand, title=_("max pooling\n2×2 → largest"), **shade)
viz.draw_matrix(axes[2], avg_hand, title=_("average pooling\n2×2 → mean"), **shade)
for k, colour in enumerate(WINDOW_COLOURS):  # each window and the output cell it becomes, in one colour
    i, j = divmod(k, 2)
    axes[0].add_patch(Rectangle((2 * j - 0.45, 2 * i - 0.45), 1.9, 1.9, fill=False, edgecolor=colour, linewidth=2.5))
    for ax in axes[1:]:
        ax.add_patch(Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, edgecolor=colour, linewidth=2.5))
fig.text(
    0.5,
    0.02,
    _("Grey cells: larger = lighter (0 black, 8 white). Each coloured window gives the output cell of its colour."),
    ha="center",
    va="top",
    fontsize=9,
)
lesson.savefig(fig, "pool_by_hand")

# %%
lesson.step(_("Sizes: a window with stride = pool size, and no weights"))
lesson.say(
    _(
        "The output size is the convolution's formula with K = S = the pool size (MaxPooling2D's strides "
        "default to pool_size):"
    ),
    "  " + convlab.output_size_formula(26, 2, 0, 2),
)
lesson.check("pool_output_size(26, 2)", convlab.pool_output_size(26, 2), 13)
feat = np.random.default_rng(0).standard_normal((1, 26, 26, 64)).astype(np.float32)
pooled = convlab.max_pool2d(feat, pool_size=(2, 2))
before, after = feat[0].size, pooled[0].size
lesson.say(
    _("The slide 'Capa MaxPooling2D': Conv2D(64, 3) → MaxPooling2D((2,2)). Each channel is pooled on its own:"),
    f"  (None, 26, 26, 64) → (None, {pooled.shape[1]}, {pooled.shape[2]}, {pooled.shape[3]})",
    "  "
    + _("{before:,} → {after:,} values, {fewer:.0f}% fewer").format(
        before=before, after=after, fewer=100 * (1 - after / before)
    ),
)
lesson.check(_("max_pool2d output shape"), pooled.shape, (1, 13, 13, 64))
lesson.check(_("values to flatten: 26·26·64 → 13·13·64"), (before, after), (43_264, 10_816))
lesson.check(_("75% fewer"), 1 - after / before, 0.75)
lesson.check(
    _("channel 5 pooled on its own equals channel 5 of the volume"),
    convlab.max_pool2d(feat[:, :, :, 5:6])[..., 0],
    pooled[..., 5],
)

lesson.say(
    "",
    _(
        "An odd size: 27×27 with 2×2 windows gives floor(25/2) + 1 = 13 (the last row and column are dropped); "
        "with padding='same' it gives ceil(27/2) = 14, and the padded cells count as −∞ for max pooling, so "
        "they never win:"
    ),
)
for text in (convlab.output_size_formula(27, 2, 0, 2), convlab.output_size_formula(27, 2, "same", 2)):
    for cut in ("   [", "  ("):  # the formula, then its note on a line of its own
        text = text.replace(cut, "\n      " + cut.strip(), 1)
    lesson.say("  " + text)
lesson.check(_("27 → 13 (valid)"), convlab.pool_output_size(27, 2), 13)
lesson.check(_("27 → 14 (same)"), convlab.pool_output_size(27, 2, "same"), 14)
neg = -np.arange(1, 10, dtype=float).reshape(1, 3, 3, 1)  # all negative
same = convlab.max_pool2d(neg, 2, padding="same")[0, :, :, 0]
lesson.say(*side_by_side([neg[0, :, :, 0], same], [_("input 3×3"), "max_pool2d(…, 2, padding='same')"]))
lesson.check(_("'same' max pooling pads with −∞, never 0 (all results negative)"), same, [[-1, -3], [-7, -9]])

# %%
lesson.step(_("Why pool? The slides' reasons, with numbers"))
lesson.say(
    _(
        "The slide 'Pooling': the smaller size removes part of the noise and keeps the more significant "
        "values; it reduces over-fitting and speeds up the computation."
    ),
    "",
    _(
        "1. Fewer values, so fewer parameters after Flatten (slide 'Capa MaxPooling2D'). Flatten lays the maps "
        "out as one row of numbers, and a Dense layer has one weight per number and unit, plus a bias per unit:"
    ),
)
dense_without = convlab.dense_param_count(15, 26 * 26 * 64)
dense_with = convlab.dense_param_count(15, 13 * 13 * 64)
lesson.say(
    *aligned(
        [
            (
                _("without pooling:"),
                _("Flatten {product} = {count:,} values").format(product="26·26·64", count=26 * 26 * 64),
                _("Dense(15): {formula} = {count:,} parameters").format(formula="43264·15 + 15", count=dense_without),
            ),
            (
                _("with pooling:"),
                _("Flatten {product} = {count:,} values").format(product="13·13·64", count=13 * 13 * 64),
                _("Dense(15): {formula} = {count:,} parameters").format(formula="10816·15 + 15", count=dense_with),
            ),
        ]
    )
)
lesson.check(_("Dense(15) parameters: 648,975 → 162,255"), (dense_without, dense_with), (648_975, 162_255))
lesson.check(
    _("model totals (slides): 649,775 → 163,055"),
    (
        convlab.conv2d_param_count(64, 3, 1) + dense_without + convlab.dense_param_count(10, 15),
        convlab.conv2d_param_count(64, 3, 1) + dense_with + convlab.dense_param_count(10, 15),
    ),
    (649_775, 163_055),
)

lesson.say(
    "",
    _(
        "2. Small shifts do not matter. Below, the same 4×4 feature map moved one pixel to the right (a zero "
        "comes in on the left). Every window's largest value stays inside its window, so max pooling gives "
        "exactly the same output:"
    ),
)
fmap = np.array([[6, 1, 9, 2], [2, 0, 1, 0], [0, 1, 7, 0], [5, 3, 2, 1]], dtype=float)
right = np.zeros_like(fmap)
right[:, 1:] = fmap[:, :-1]
left = np.zeros_like(fmap)
left[:, :-1] = fmap[:, 1:]


def pool2(m, fn=convlab.max_pool2d):
    return fn(m[None, :, :, None], 2)[0, :, :, 0]


lesson.say(
    *side_by_side(
        [fmap, pool2(fmap), right, pool2(right)],
        [_("feature map"), _("→ max pool"), _("shifted right"), _("→ max pool")],
        gap=4,
    )
)
changed = int((fmap != right).sum())
lesson.say(
    "  "
    + ngettext(
        "{changed} of the {total} input values changed; the max-pooled output did not.",
        "{changed} of the {total} input values changed; the max-pooled output did not.",
        changed,
    ).format(changed=changed, total=fmap.size)
)
lesson.check(_("a 1-pixel shift right: max-pooled output unchanged"), pool2(right), pool2(fmap))
lesson.check(_("… although 15 of its 16 values changed"), changed, 15)
lesson.check_true(
    _("average pooling does change (it keeps every value's share)"),
    not np.array_equal(pool2(right, convlab.avg_pool2d), pool2(fmap, convlab.avg_pool2d)),
)
lesson.say(
    _(
        "Not every shift is forgiven: moved one pixel to the left, the 9 and the 7 (column 2) cross the border "
        "into the left windows, and every output changes. Pooling tolerates shifts that stay inside a window:"
    ),
    *side_by_side([left, pool2(left)], [_("shifted left"), _("→ max pool")], gap=4),
)
lesson.check(  # window (i, j) keeps the max of rows 2i–2i+1, columns 2j–2j+1 of the shifted map
    _("a 1-pixel shift left: [[6, 9], [5, 7]] → [[9, 2], [7, 1]]"),
    [pool2(fmap), pool2(left)],
    [[[6, 9], [5, 7]], [[9, 2], [7, 1]]],
)
lesson.check_true(
    _("the 9 and the 7 now sit in column 1, inside the left windows"), left[0, 1] == 9 and left[2, 1] == 7
)

lesson.say(
    "",
    _(
        "3. Speed and over-fitting. Every number after Flatten costs one multiplication per unit of the "
        "next Dense layer, for every image:"
    ),
)
mults_without, mults_with = 43_264 * 15, 10_816 * 15
lesson.say(
    *aligned(
        [
            (
                _("Dense(15) without pooling:"),
                _("{product} = {count:,} multiplications per image").format(product="43,264·15", count=mults_without),
            ),
            (
                _("Dense(15) with pooling:"),
                _("{product} = {count:,} (4× fewer)").format(product="10,816·15", count=mults_with),
            ),
        ]
    )
)
lesson.check(_("multiplications per image: 4× fewer"), mults_without / mults_with, 4.0)
lesson.say(
    _(
        "Over-fitting is when a network learns its training images by heart, noise included, instead of what "
        "generalises to new ones. With 4× fewer weights to fit it has less room to do that, and keeping only "
        "each window's strongest response drops the weaker, noisier values."
    ),
)

# %%
lesson.step(_("On a photo: convolution → ReLU → 2×2 max pooling"))
lesson.say(
    _(
        "Lesson 05 defines ReLU(x) = max(0, x), the activation of the slides' Conv2D layers. Here two of "
        "lesson 02's kernels (edges, horizontal edges) and the horizontal one negated run over a photo. ReLU "
        "keeps one sign only (the positive responses), so the pair of horizontal filters keeps both kinds of "
        "edge: bright above and dark above. Then 2×2 max pooling halves each side."
    ),
)
photo = data.camera().astype(np.float32) / 255.0
KERNELS = {  # name (shown translated) → kernel
    N_("edges"): [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    N_("horizontal edges (bright above)"): [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    N_("horizontal edges (dark above)"): [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
}
kernel = np.stack([np.array(k, dtype=np.float32) for k in KERNELS.values()], axis=-1)[:, :, None, :]
x = photo[None, :, :, None]
z = convlab.conv2d(x, kernel)  # (1, 510, 510, 3)
r = convlab.relu(z)
m = convlab.max_pool2d(r, pool_size=2)
lesson.say(
    f"  camera() {photo.shape}",
    "  " + _("→ conv2d with {n} filters {shape}").format(n=z.shape[3], shape=z.shape[1:]),
    f"  → relu {r.shape[1:]}",
    f"  → max_pool2d(2) {m.shape[1:]}",
)
lesson.check(_("conv output shape (512 − 3 + 1 = 510)"), z.shape, (1, 510, 510, 3))
lesson.check(_("pooled shape (510 / 2 = 255)"), m.shape, (1, 255, 255, 3))
lesson.check_true(_("ReLU leaves no negative value"), float(r.min()) >= 0.0)
lesson.check("ReLU = max(0, z)", r, np.maximum(z, 0))
neg_share = float((z < 0).mean())
lesson.say("  " + _("{share:.1f}% of the conv outputs were negative and became 0").format(share=100 * neg_share))
lesson.check(
    _("the pair loses nothing: relu(z) − relu(−z) = z (horizontal filters)"),
    r[..., 1] - r[..., 2],
    z[..., 1],
)
blocks = r[0].reshape(255, 2, 255, 2, 3)
lesson.check(_("max pool = the max of each 2×2 block"), m[0], blocks.max(axis=(1, 3)))
lesson.check(
    _("avg pool = the mean of each 2×2 block"), convlab.avg_pool2d(r, 2)[0], blocks.mean(axis=(1, 3)), atol=1e-6
)
crop = r[:, 200:232, 180:212, :] if not lesson.quick else r[:, 200:216, 180:196, :]
for backend in ("reference", "numpy"):
    lesson.check(
        _("on a {h}×{w} crop, backend={backend!r} = numba").format(h=crop.shape[1], w=crop.shape[2], backend=backend),
        convlab.max_pool2d(crop, 2, backend=backend),
        convlab.max_pool2d(crop, 2),
    )
lesson.say(
    "  "
    + _("activations: {before:,} → {after:,} after pooling ({fewer:.0f}% fewer)").format(
        before=r[0].size, after=m[0].size, fewer=100 * (1 - m[0].size / r[0].size)
    ),
    "  " + _("and the edges are still there (figure)"),
)

maps, titles = [], []
for f, name in enumerate(KERNELS):
    maps += [z[0, :, :, f], r[0, :, :, f], m[0, :, :, f]]
    titles += [
        f"conv: {_(name)}\n{z.shape[1]}×{z.shape[2]}",
        f"ReLU\n{r.shape[1]}×{r.shape[2]}",
        _("max pool 2×2\n{h}×{w}").format(h=m.shape[1], w=m.shape[2]),
    ]
fig = viz.grid_figure(
    maps,
    titles,
    ncols=3,
    panel_inches=3.4,
    suptitle=_("conv: blue < 0 < red (white 0)   ·   ReLU and pooling: black 0, lighter = larger"),
)
for k, ax in enumerate(fig.axes[: len(maps)]):
    im = ax.images[0]
    lim = float(np.percentile(np.abs(maps[k]), 99.5)) or 1.0
    if k % 3 == 0:
        im.set_cmap("RdBu_r")
        im.set_clim(-lim, lim)
    else:
        im.set_cmap(viz.GRID_CMAP)
        im.set_clim(0, lim)
lesson.savefig(fig, "conv_relu_pool_camera")

# %%
lesson.step(_("Summary of the slides ('Resumen'): the chain, link by link"))
lesson.say(
    _(
        "The deck's summary: Conv2D layers hold filters that are trained with the rest of the network's "
        "parameters and detect features; one filter gives a T×U×1 feature map (T and U set by padding, "
        "stride and kernel size); a layer of F filters (F\u00a0=\u00a0N_f) gives a new T×U×F 'image'; "
        "pooling layers reduce the size, making training faster and more effective; convolution and pooling "
        "layers alternate until the images are flattened into the feed-forward (Dense) part."
    ),
    "",
)
# (link of the chain, lessons that cover it, a word each lesson's file must contain). The word is
# searched in the lessons' source code, which is English in every language (the Spanish lives in the
# catalogs), so the check does not depend on the language shown or on the other lessons' translations.
CHAIN = [
    (N_("image as a matrix"), ["01_image_as_matrix"], "pixel"),
    (N_("filters (kernels)"), ["02_spatial_filters"], "kernel"),
    (N_("convolution"), ["03_convolution_by_hand"], "conv"),
    (
        N_("padding / stride"),
        ["03_convolution_by_hand", "04_channels_and_stride", "05_output_sizes_and_parameters"],
        "pad",
    ),
    (N_("channels"), ["04_channels_and_stride"], "channel"),
    (N_("pooling"), ["06_pooling"], "max_pool2d"),
    (N_("Flatten → Dense"), ["05_output_sizes_and_parameters", "08_train_cnn"], "Dense"),
    (N_("softmax"), ["05_output_sizes_and_parameters", "08_train_cnn"], "softmax"),
]
width = max(len(_(link)) for link, _stems, _word in CHAIN)  # the links as shown, in the language in use
for k, (link, stems, _word) in enumerate(CHAIN):
    for n, stem in enumerate(stems):  # one file per line, the lesson's number first in its name
        head = f"{'→ ' if k else '  '}{_(link):<{width}}" if n == 0 else " " * (width + 2)
        lesson.say(f"  {head}  lessons/{stem}.py")
# The lesson files: beside this script; in a notebook (whose __file__ is only the lesson's name), the
# lessons/ folder of the repository convlab is installed from. A convlab installed from a package has none.
LESSONS_DIR = Path(__file__).resolve().parent
if not (LESSONS_DIR / "06_pooling.py").is_file():
    LESSONS_DIR = repo_root() / "lessons"
found = {path.stem: path.read_text(encoding="utf-8") for path in find_lessons(LESSONS_DIR)}
if found:
    lesson.check_true(
        _("every lesson named above is a file in lessons/"),
        all(stem in found for _link, stems, _word in CHAIN for stem in stems),
    )
    lesson.check_true(
        _("each file mentions its link (pixel, kernel, conv, pad, channel, …)"),
        all(word in found[stem] for _link, stems, word in CHAIN for stem in stems),
    )
lesson.say(
    "",
    _(
        "After the chain: lesson 07 computes the gradients training needs, 08 trains this kind of network on "
        "MNIST, 09 checks it against Keras number by number, and 11 reuses a pretrained VGG16."
    ),
)
if found:
    lesson.check_true(
        _("lessons 07, 08, 09 and 11 exist"),
        all(any(s.startswith(n + "_") for s in found) for n in ("07", "08", "09", "11")),
    )
else:
    lesson.say(
        _(
            "(The lesson files are not on this machine: convlab was installed as a package, not from its "
            "repository. The checks that read them are left out.)"
        )
    )

lesson.finish()
