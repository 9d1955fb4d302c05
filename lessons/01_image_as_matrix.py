# %% [markdown]
# # Lesson 01 — a digital image is a matrix of numbers
#
# Why it matters: a CNN never sees a picture, only numbers. Every filter,
# convolution and pooling step of the next lessons is arithmetic on the matrices
# this lesson shows, so it pays to know what those numbers are.
#
# Slides (seeds/003, "Imagen digital" … "Cargando una imagen"): a greyscale
# image is an `M × N` matrix of pixel intensities (0 = black … 255 = white for
# 8-bit images; the slide's 22 × 16 grid of numbers is a handwritten 8); a colour
# (RGB) image is three such matrices, one per channel, `(H, W, 3)`, and larger
# values in all three channels make the colour lighter. Combining the three
# channels gives a grey image: `GRIS = (R + G + B)/3`, or weights closer to the
# eye's sensitivity, `GRIS = 0.3·R + 0.59·G + 0.11·B`. scikit-image's
# `rgb2gray` uses the ITU-R BT.709 weights `0.2125·R + 0.7154·G + 0.0721·B`
# (skimage.color docs). `io.imread(file, as_gray=True)` loads a photo already
# grey: `(H, W, 3)` becomes `(H, W)`.
#
# The figures draw every grid of numbers as the photo would: grey cells, a larger
# value lighter (0 = black, 255 = white), the convention of all lessons.
#
# The photos are the ones bundled with scikit-image (`skimage.data.camera()`,
# `skimage.data.chelsea()`): nothing is downloaded.
#
# Run: `python lessons/01_image_as_matrix.py [--step] [--out DIR] [--quick] [--lang es]`.

# %%
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from skimage import color, data, io

from convlab import viz
from convlab.lesson import WIDTH, Lesson, _

lesson = Lesson(__file__, "A digital image is a matrix of numbers")

# The slide "Imagen en tonos de grises" (seeds/003): a handwritten digit, one number per pixel.
SLIDE_DIGIT = np.array(
    [
        [0, 2, 15, 0, 0, 11, 10, 0, 0, 0, 0, 9, 9, 0, 0, 0],
        [0, 0, 0, 4, 60, 157, 236, 255, 255, 177, 95, 61, 32, 0, 0, 29],
        [0, 10, 16, 119, 238, 255, 244, 245, 243, 250, 249, 255, 222, 103, 10, 0],
        [0, 14, 170, 255, 255, 244, 254, 255, 253, 245, 255, 249, 253, 251, 124, 1],
        [2, 98, 255, 228, 255, 251, 254, 211, 141, 116, 122, 215, 251, 238, 255, 49],
        [13, 217, 243, 255, 155, 33, 226, 52, 2, 0, 10, 13, 232, 255, 255, 36],
        [16, 229, 252, 254, 49, 12, 0, 0, 7, 7, 0, 70, 237, 252, 235, 62],
        [6, 141, 245, 255, 212, 25, 11, 9, 3, 0, 115, 236, 243, 255, 137, 0],
        [0, 87, 252, 250, 248, 215, 60, 0, 1, 121, 252, 255, 248, 144, 6, 0],
        [0, 13, 113, 255, 255, 245, 255, 182, 181, 248, 252, 242, 208, 36, 0, 19],
        [1, 0, 5, 117, 251, 255, 241, 255, 247, 255, 241, 162, 17, 0, 7, 0],
        [0, 0, 0, 4, 58, 251, 255, 246, 254, 253, 255, 120, 11, 0, 1, 0],
        [0, 0, 4, 97, 255, 255, 255, 248, 252, 255, 244, 255, 182, 10, 0, 4],
        [0, 22, 206, 252, 246, 251, 241, 100, 24, 113, 255, 245, 255, 194, 9, 0],
        [0, 111, 255, 242, 255, 158, 24, 0, 0, 6, 39, 255, 232, 230, 56, 0],
        [0, 218, 251, 250, 137, 7, 11, 0, 0, 0, 2, 62, 255, 250, 125, 3],
        [0, 173, 255, 255, 101, 9, 20, 0, 13, 3, 13, 182, 251, 245, 61, 0],
        [0, 107, 251, 241, 255, 230, 98, 55, 19, 118, 217, 248, 253, 255, 52, 4],
        [0, 18, 146, 250, 255, 247, 255, 255, 255, 249, 255, 240, 255, 129, 0, 5],
        [0, 0, 23, 113, 215, 255, 250, 248, 255, 255, 248, 248, 118, 14, 12, 0],
        [0, 0, 6, 1, 0, 52, 153, 233, 255, 252, 147, 37, 0, 0, 4, 1],
        [0, 0, 5, 5, 0, 0, 0, 0, 0, 14, 1, 0, 6, 6, 0, 0],
    ]
)


def matrix_lines(block, indent="    "):
    """A block of pixel values as the slide writes it: one row per line, right-aligned columns."""
    return [indent + " ".join(f"{int(v):>3}" for v in row) for row in block]


def labelled_lines(label, text, indent="  ", column=20):
    """``label`` in a column of ``column`` characters, ``text`` beside it, wrapped under itself."""
    lines = textwrap.wrap(text, WIDTH - len(indent) - column)
    return [indent + (label if n == 0 else "").ljust(column) + line for n, line in enumerate(lines)]


lesson.say(
    _(
        "Why it matters: a CNN never sees a picture, only numbers. Every filter, convolution and "
        "pooling step of the next lessons is arithmetic on the matrices shown here."
    )
)

# %%
lesson.step(_("A greyscale photo is one matrix (H, W)"))
grey = data.camera()
lesson.say(
    _("skimage.data.camera(): shape {shape}, dtype {dtype}, values {lo} … {hi}.").format(
        shape=grey.shape, dtype=grey.dtype, lo=grey.min(), hi=grey.max()
    ),
    _(
        "The dtype is how each number is stored: uint8 means unsigned 8-bit integers, whole numbers "
        "0 … 255, one byte per pixel (0 = black, 255 = white)."
    ),
)
lesson.check(_("greyscale shape is (H, W)"), grey.shape, (512, 512))
lesson.check(_("8-bit pixels"), str(grey.dtype), "uint8")
r0, c0, bh, bw = 200, 180, 10, 12  # a block across an edge of the photographer's coat
block = grey[r0 : r0 + bh, c0 : c0 + bw]
lesson.say(
    _("The {bh}×{bw} block of pixel values at rows {r0}…{r1}, columns {c0}…{c1}:").format(
        bh=bh, bw=bw, r0=r0, r1=r0 + bh - 1, c0=c0, c1=c0 + bw - 1
    )
)
lesson.say(*matrix_lines(block))
lesson.say(_("One pixel: grey[{r}, {c}] = {value} (row first, then column).").format(r=r0, c=c0, value=grey[r0, c0]))
lesson.check(_("the block is part of the matrix"), block[0, 0], grey[r0, c0])

fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1, 1.3]})
axes[0].imshow(grey, cmap=viz.GRID_CMAP, vmin=0, vmax=255)
axes[0].add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), bw, bh, fill=False, edgecolor="red", linewidth=1.5))
axes[0].set_title(_("camera() {shape} uint8 — the red box is the block").format(shape=grey.shape))
axes[0].axis("off")
cells = viz.draw_matrix(axes[1], block, vmin=0, vmax=255, fontsize=8, title=_("pixel / intensity values"))
lesson.say(
    _(
        "The figure draws the block's numbers in grey cells, each as light as its pixel: every "
        "grid of numbers in these lessons is drawn this way (a larger value is lighter)."
    )
)
lesson.check(_("in the figure 0 is drawn black"), cells.to_rgba(0)[:3], (0.0, 0.0, 0.0))
lesson.check(_("and 255 white"), cells.to_rgba(255)[:3], (1.0, 1.0, 1.0))
lesson.savefig(fig, "greyscale_block")

# %%
lesson.step(_("The slide's grid of numbers is a handwritten 8"))
M, N = SLIDE_DIGIT.shape
lesson.say(_("The slide 'Imagen en tonos de grises' prints a {M} × {N} grid (M rows, N columns):").format(M=M, N=N))
lesson.say(*matrix_lines(SLIDE_DIGIT))
lesson.check(_("the slide's grid is M × N = 22 × 16 pixels"), SLIDE_DIGIT.shape, (22, 16))
lesson.check(_("its values fit 8 bits (0 … 255)"), [SLIDE_DIGIT.min(), SLIDE_DIGIT.max()], [0, 255])
lesson.say(
    _(
        "Letters: the slide 'Imagen digital' writes an image as M × N (M rows, N columns), but "
        "the convolution slides write their input as N × M. From lesson 03 on these lessons "
        "follow the convolution slides: N rows, M columns."
    )
)
ring = np.concatenate([SLIDE_DIGIT[0], SLIDE_DIGIT[-1], SLIDE_DIGIT[1:-1, 0], SLIDE_DIGIT[1:-1, -1]])
lesson.say(
    _(
        "Read as light, the small numbers are the dark paper and the large ones the bright pen "
        "stroke: the outer ring of pixels averages {mean:.1f}, and {bright} of the {size} pixels "
        "are above 127, the stroke."
    ).format(mean=ring.mean(), bright=(SLIDE_DIGIT > 127).sum(), size=SLIDE_DIGIT.size)
)
lesson.check_true(_("the border is dark: its mean is below 32 of 255"), ring.mean() < 32)
fig, axes = plt.subplots(1, 2, figsize=(11, 7), gridspec_kw={"width_ratios": [1, 1.6]})
axes[0].imshow(SLIDE_DIGIT, cmap=viz.GRID_CMAP, vmin=0, vmax=255)
axes[0].set_title(_("the slide's numbers as an image"))
axes[0].axis("off")
viz.draw_matrix(
    axes[1], SLIDE_DIGIT, vmin=0, vmax=255, fontsize=6, title=_("the same {M} × {N} numbers").format(M=M, N=N)
)
lesson.savefig(fig, "slide_digit")

# %%
lesson.step(_("A colour photo is three matrices (H, W, 3): R, G and B"))
rgb = data.chelsea()
h, w, c = rgb.shape
lesson.say(
    _("skimage.data.chelsea(): shape {shape}, dtype {dtype}").format(shape=rgb.shape, dtype=rgb.dtype),
    _(
        "Each of the three planes is a channel: rgb[:, :, 0] is the red plane {shape}, rgb[:, :, 1] "
        "the green and rgb[:, :, 2] the blue."
    ).format(shape=rgb[:, :, 0].shape),
)
lesson.check(_("colour shape is (H, W, 3)"), rgb.shape, (300, 451, 3))
lesson.check(_("each channel is an (H, W) matrix"), rgb[:, :, 1].shape, (300, 451))
pr, pc = 150, 200
pixel = rgb[pr, pc].astype(int)
lighter = np.minimum(pixel + 80, 255)
lesson.say(
    _("One pixel has three numbers: rgb[{r}, {c}] = {value} (R, G, B), a brown.").format(
        r=pr, c=pc, value=tuple(pixel.tolist())
    ),
    _(
        "Larger values in all three channels make the colour lighter (slide 'Modelo RGB'): "
        "(0, 0, 0) is black, (255, 255, 255) white, and {lighter} (80 more in each channel) a "
        "lighter brown."
    ).format(lighter=tuple(lighter.tolist())),
)
lesson.check_true(
    _("80 more in each channel is lighter: its grey (rgb2gray) is larger"),
    color.rgb2gray(lighter[None, None].astype(np.uint8))[0, 0] > color.rgb2gray(rgb[pr : pr + 1, pc : pc + 1])[0, 0],
)
lesson.say(_("Each channel's numbers:"))
for p, name in enumerate("RGB"):
    plane = rgb[:, :, p]
    lesson.say(
        _("  {name}: mean {mean:6.2f}, min {lo:3}, max {hi:3}").format(
            name=name, mean=plane.mean(), lo=plane.min(), hi=plane.max()
        )
    )
lesson.say(
    _("The figure draws each plane as the slide 'Visualización' does:"),
    "    C = ['Reds', 'Greens', 'Blues']",
    "    plt.imshow(rgb[:, :, p], cmap=C[p])    # p = 0, 1, 2",
    _(
        "Careful: in these colour maps a larger value is a deeper colour (0 is white), the "
        "opposite of a grey picture; they only tell the planes apart."
    ),
)
lesson.savefig(
    viz.channels_figure(
        rgb,
        titles=[_("image {shape}").format(shape=rgb.shape)] + [f"{n} = rgb[:, :, {p}]" for p, n in enumerate("RGB")],
        suptitle=_("chelsea(): the three channels in Reds, Greens, Blues"),
    ),
    "rgb_channels",
)

# %%
lesson.step(_("Three ways to turn RGB into grey"))
x = rgb.astype(np.float64) / 255.0  # scale to 0…1, the scale rgb2gray returns
lesson.say(
    _(
        "Divided by 255 the pixels become float64 numbers between 0 and 1 (float64: a number with a "
        "fractional part, stored with about 16 significant digits), the scale rgb2gray returns."
    )
)
R, G, B = x[:, :, 0], x[:, :, 1], x[:, :, 2]
WEIGHTS = {
    "(R+G+B)/3": (1 / 3, 1 / 3, 1 / 3),
    "0.3R+0.59G+0.11B": (0.3, 0.59, 0.11),
    "rgb2gray": (0.2125, 0.7154, 0.0721),
}
g_mean = (R + G + B) / 3
g_slide = 0.3 * R + 0.59 * G + 0.11 * B
g_sk = color.rgb2gray(rgb)
lesson.say(
    *labelled_lines("(R+G+B)/3", _("the slide's plain average")),
    *labelled_lines("0.3R+0.59G+0.11B", _("the slide's, closer to the eye (green counts most)")),
    *labelled_lines(
        "rgb2gray",
        _("scikit-image: 0.2125R + 0.7154G + 0.0721B, the weights of ITU-R BT.709, the standard for HD television"),
    ),
)
for name, wts in WEIGHTS.items():
    lesson.check(_("weights of {name} add up to 1 (white stays white)").format(name=name), sum(wts), 1.0, atol=1e-12)
lesson.say(_("Each gives one {shape} matrix of float64 values 0…1.").format(shape=g_sk.shape))
lesson.check(_("rgb2gray is 0.2125·R + 0.7154·G + 0.0721·B"), g_sk, 0.2125 * R + 0.7154 * G + 0.0721 * B, atol=1e-12)
for name, g in (("(R+G+B)/3", g_mean), ("0.3R+0.59G+0.11B", g_slide), ("rgb2gray", g_sk)):
    lesson.check(_("{name} gives one (H, W) matrix").format(name=name), g.shape, (h, w))

# %%
lesson.step(_("How different are they?"))
lesson.say(
    _(
        "Each method is a weighted sum of R, G and B, so the difference d of two methods is one "
        "too, with the differences of their weights ΔR, ΔG, ΔB:"
    ),
    # A formula laid out by hand: the translation keeps the two "=" aligned.
    _("    d      = ΔR·R + ΔG·G + ΔB·B\n    mean d = ΔR·mean(R) + ΔG·mean(G) + ΔB·mean(B)"),
    _(
        "Since pixels lie in 0…1, d can never be larger than the sum of the positive Δs nor "
        "smaller than the sum of the negative ones: the larger of those two sizes is the bound on |d|."
    ),
    "",
)
means = np.array([R.mean(), G.mean(), B.mean()])
pairs = [("(R+G+B)/3", g_mean), ("0.3R+0.59G+0.11B", g_slide)]
# The table's words, and columns wide enough for them in either language.
head_method, head_max, head_mean, head_bound = _("method − rgb2gray"), _("max |d|"), _("mean d"), _("bound")
in_grey = _("  in grey levels")
lw = max(len(head_method), len(in_grey), *(len(name) for name, _g in pairs))
mw, aw, bw = max(10, len(head_max) + 2), max(11, len(head_mean) + 2), max(8, len(head_bound) + 2)
diffs, rows = {}, []
for name, g in pairs:
    d = g - g_sk
    dw = np.subtract(WEIGHTS[name], WEIGHTS["rgb2gray"])
    bound = max(dw[dw > 0].sum(), -dw[dw < 0].sum())
    diffs[name] = (d, dw, bound)
    rows.append(
        f"  {name:<{lw}}{dw[0]:+9.4f}{dw[1]:+9.4f}{dw[2]:+9.4f}"
        f"{np.abs(d).max():{mw}.6f}{d.mean():+{aw}.6f}{bound:{bw}.4f}"
    )
    rows.append(f"  {in_grey:<{lw}}{'':27}{255 * np.abs(d).max():{mw}.1f}{255 * d.mean():+{aw}.2f}")
lesson.say(
    f"  {head_method:<{lw}}{'ΔR':>9}{'ΔG':>9}{'ΔB':>9}{head_max:>{mw}}{head_mean:>{aw}}{head_bound:>{bw}}",
    *rows,
    _("(the grey-level rows are the same differences times 255, the 8-bit scale)"),
)
for name, (d, dw, bound) in diffs.items():
    lesson.check(
        _("{name}: mean d = ΔR·mean(R) + ΔG·mean(G) + ΔB·mean(B)").format(name=name),
        d.mean(),
        float(dw @ means),
        atol=1e-12,
    )
    lesson.check_true(
        _("max |{name} − rgb2gray| ≤ {bound:.4f}").format(name=name, bound=bound), np.abs(d).max() <= bound + 1e-12
    )
# The bundled photo is fixed, so these are the numbers every run must print:
d_mean, d_slide = diffs["(R+G+B)/3"][0], diffs["0.3R+0.59G+0.11B"][0]
lesson.check(_("max |(R+G+B)/3 − rgb2gray| (of 1)"), np.abs(d_mean).max(), 0.064513, atol=1e-6)
lesson.check(_("mean ((R+G+B)/3 − rgb2gray)"), d_mean.mean(), -0.008082, atol=1e-6)
lesson.check(_("max |0.3R+0.59G+0.11B − rgb2gray|"), np.abs(d_slide).max(), 0.027304, atol=1e-6)
lesson.check(_("mean (0.3R+0.59G+0.11B − rgb2gray)"), d_slide.mean(), 0.008768, atol=1e-6)
lesson.check_true(
    _("the slide's eye weights are closer to rgb2gray than the plain average"),
    np.abs(d_slide).mean() < np.abs(d_mean).mean(),
)

LIM = 0.07  # the colour range of the difference panels, ±
lesson.say(
    _(
        "In the figure the three grey versions share one scale (0 = black, 1 = white); in the two "
        "difference panels blue means darker than rgb2gray, red lighter, white equal (±{lim} of 1)."
    ).format(lim=LIM)
)
lesson.check_true(
    _("±{lim} holds every difference (no colour is clipped)").format(lim=LIM),
    max(np.abs(d_mean).max(), np.abs(d_slide).max()) <= LIM,
)
fig = viz.grid_figure(
    [g_mean, g_slide, g_sk, d_mean, d_slide],
    ["(R+G+B)/3", "0.3R + 0.59G + 0.11B", "skimage rgb2gray", "(R+G+B)/3 − rgb2gray", "0.3R+0.59G+0.11B − rgb2gray"],
    ncols=3,
    panel_inches=3.6,
)
for ax in fig.axes[:3]:
    ax.images[0].set_clim(0, 1)
for ax in fig.axes[3:5]:
    ax.images[0].set_cmap("RdBu_r")
    ax.images[0].set_clim(-LIM, LIM)
# The empty sixth panel holds the difference panels' colour key.
key = fig.axes[5].inset_axes([0.08, 0.45, 0.84, 0.07])
bar = fig.colorbar(fig.axes[4].images[0], cax=key, orientation="horizontal")
bar.set_ticks([-LIM, 0, LIM])
bar.set_label(_("difference (of 1)\nblue: darker than rgb2gray · red: lighter"), fontsize=9)
lesson.savefig(fig, "greyscale_methods")

# %%
lesson.step(_("Loading a photo from a file, in colour or grey"))


def write_png(path):
    Image.fromarray(rgb).save(path, format="PNG")  # lossless: the file holds exactly these numbers


lesson.say(
    _(
        "The slide 'Cargando una imagen' reads a photo with skimage's io.imread; the lesson writes "
        "chelsea() to a PNG file (lossless: the file keeps every number exactly) and reads it back."
    )
)
png = lesson.save_file(write_png, "chelsea.png")
img_color = io.imread(png)
img_grey = io.imread(png, as_gray=True)
calls = [f"io.imread('{png.name}')", f"io.imread('{png.name}', as_gray=True)"]
cw = max(map(len, calls))
lesson.say(
    f"  {calls[0]:<{cw}} → " + _("shape {shape}, dtype {dtype}").format(shape=img_color.shape, dtype=img_color.dtype),
    f"  {calls[1]:<{cw}} → " + _("shape {shape}, dtype {dtype}").format(shape=img_grey.shape, dtype=img_grey.dtype),
)
lesson.check(_("the file holds the same numbers"), img_color, rgb)
lesson.check(_("as_gray=True gives (H, W)"), img_grey.shape, (300, 451))
lesson.check(_("as_gray=True is rgb2gray"), img_grey, g_sk, atol=1e-12)
SLIDE_COLOR, SLIDE_GREY = (150, 134, 3), (150, 134)  # the slide's tigre.jpg
lesson.say(
    _(
        "The slide's tigre.jpg gives {color} in colour and {grey} with as_gray=True: the same rule, "
        "the height and width kept and the 3 channels merged into one."
    ).format(color=SLIDE_COLOR, grey=SLIDE_GREY)
)
lesson.check(_("as_gray keeps (H, W) of the colour shape: ours"), img_grey.shape, img_color.shape[:2])
lesson.check(_("and the slide's"), SLIDE_GREY, SLIDE_COLOR[:2])

lesson.finish()
