"""Lesson 01 — a digital image is a matrix of numbers.

Slides (seeds/003, "Imagen digital" … "RGB a escala de grises"): a greyscale
image is an ``M × N`` matrix of pixel intensities (0 = black … 255 = white for
8-bit images); a colour (RGB) image is three such matrices, one per channel,
``(H, W, 3)``. Combining the three channels gives a grey image:
``GRIS = (R + G + B)/3``, or weights closer to the eye's sensitivity,
``GRIS = 0.3·R + 0.59·G + 0.11·B``. scikit-image's ``rgb2gray`` uses the
ITU-R BT.709 weights ``0.2125·R + 0.7154·G + 0.0721·B`` (skimage.color docs).

The photos are the ones bundled with scikit-image (``skimage.data.camera()``,
``skimage.data.chelsea()``): nothing is downloaded.

Run: ``python lessons/01_image_as_matrix.py [--step] [--out DIR] [--quick]``.
"""

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from skimage import color, data, io

from convlab import viz
from convlab.lesson import Lesson

lesson = Lesson(__file__, "A digital image is a matrix of numbers")


def show_block(block, indent="    "):
    """Print a block of pixel values as the slide does: one row per line."""
    for row in block:
        print(indent + " ".join(f"{int(v):>3}" for v in row))


# --------------------------------------------------------------------------------------------
lesson.step("A greyscale photo is one matrix (H, W)")
grey = data.camera()
lesson.say(
    f"skimage.data.camera(): shape {grey.shape}, dtype {grey.dtype}, "
    f"values {grey.min()} … {grey.max()} (0 = black, 255 = white)"
)
lesson.check("greyscale shape is (H, W)", grey.shape, (512, 512))
lesson.check("8-bit pixels", str(grey.dtype), "uint8")
r0, c0, bh, bw = 200, 180, 10, 12  # a block across an edge of the photographer's coat
block = grey[r0 : r0 + bh, c0 : c0 + bw]
lesson.say(f"The {bh}×{bw} block of pixel values at rows {r0}…{r0 + bh - 1}, columns {c0}…{c0 + bw - 1}:")
show_block(block)
lesson.say(f"One pixel: grey[{r0}, {c0}] = {grey[r0, c0]} (row first, then column).")
lesson.check("the block is part of the matrix", block[0, 0], grey[r0, c0])

fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1, 1.3]})
axes[0].imshow(grey, cmap="gray", vmin=0, vmax=255)
axes[0].add_patch(plt.Rectangle((c0 - 0.5, r0 - 0.5), bw, bh, fill=False, edgecolor="red", linewidth=1.5))
axes[0].set_title(f"camera() {grey.shape} uint8 — the red box is the block")
axes[0].axis("off")
viz.draw_matrix(axes[1], block, cmap="gray", vmin=0, vmax=255, fontsize=8, title="pixel / intensity values")
lesson.savefig(fig, "greyscale_block")

# --------------------------------------------------------------------------------------------
lesson.step("A colour photo is three matrices (H, W, 3): R, G and B")
rgb = data.chelsea()
h, w, c = rgb.shape
lesson.say(
    f"skimage.data.chelsea(): shape {rgb.shape}, dtype {rgb.dtype}",
    f"rgb[:, :, 0] is the red plane {rgb[:, :, 0].shape}, rgb[:, :, 1] green, rgb[:, :, 2] blue.",
)
lesson.check("colour shape is (H, W, 3)", rgb.shape, (300, 451, 3))
lesson.check("each channel is an (H, W) matrix", rgb[:, :, 1].shape, (300, 451))
pr, pc = 150, 200
lesson.say(
    f"One pixel has three numbers: rgb[{pr}, {pc}] = {tuple(int(v) for v in rgb[pr, pc])} (R, G, B).",
    "Larger values in all three channels make the colour lighter (slides: 'Modelo RGB').",
)
for p, name in enumerate("RGB"):
    lesson.say(f"  {name}: mean {rgb[:, :, p].mean():.2f}, min {rgb[:, :, p].min()}, max {rgb[:, :, p].max()}")
lesson.savefig(
    viz.channels_figure(rgb, suptitle="chelsea(): the three channels in Reds, Greens, Blues"), "rgb_channels"
)

# --------------------------------------------------------------------------------------------
lesson.step("Three ways to turn RGB into grey")
x = rgb.astype(np.float64) / 255.0  # scale to 0…1, the scale rgb2gray returns
R, G, B = x[:, :, 0], x[:, :, 1], x[:, :, 2]
WEIGHTS = {
    "(R+G+B)/3": (1 / 3, 1 / 3, 1 / 3),
    "0.3R+0.59G+0.11B": (0.3, 0.59, 0.11),
    "rgb2gray": (0.2125, 0.7154, 0.0721),
}
g_mean = (R + G + B) / 3
g_slide = 0.3 * R + 0.59 * G + 0.11 * B
g_sk = color.rgb2gray(rgb)
for name, wts in WEIGHTS.items():
    lesson.check(f"weights of {name} add up to 1 (white stays white)", sum(wts), 1.0, atol=1e-12)
lesson.say(
    f"shapes: (R+G+B)/3 {g_mean.shape}, 0.3R+0.59G+0.11B {g_slide.shape}, rgb2gray {g_sk.shape} "
    f"({g_sk.dtype}, values 0…1)"
)
lesson.check("rgb2gray is 0.2125·R + 0.7154·G + 0.0721·B", g_sk, 0.2125 * R + 0.7154 * G + 0.0721 * B, atol=1e-12)
lesson.check("rgb2gray gives one (H, W) matrix", g_sk.shape, (h, w))

# --------------------------------------------------------------------------------------------
lesson.step("How different are they?")
lesson.say(
    "Because every method is a weighted sum, the mean of a difference is the difference of the",
    "weights times the channel means, and |difference| can never exceed the larger of the sums of",
    "the positive and of the negative weight differences (pixels are in 0…1).",
)
means = np.array([R.mean(), G.mean(), B.mean()])
pairs = [("(R+G+B)/3", g_mean), ("0.3R+0.59G+0.11B", g_slide)]
diffs = {}
for name, g in pairs:
    d = g - g_sk
    dw = np.subtract(WEIGHTS[name], WEIGHTS["rgb2gray"])
    bound = max(dw[dw > 0].sum(), -dw[dw < 0].sum())
    lesson.say(
        f"  {name} − rgb2gray: weight differences {np.round(dw, 4).tolist()}",
        f"    max |difference| = {np.abs(d).max():.6f} ({255 * np.abs(d).max():.1f} grey levels of 255), "
        f"mean difference = {d.mean():+.6f} ({255 * d.mean():+.2f} levels), bound {bound:.4f}",
    )
    lesson.check(f"mean({name} − rgb2gray) = Σ Δweight · channel mean", d.mean(), float(dw @ means), atol=1e-12)
    lesson.check_true(f"max |{name} − rgb2gray| ≤ {bound:.4f}", np.abs(d).max() <= bound + 1e-12)
    diffs[name] = d
# The bundled photo is fixed, so these are the numbers every run must print:
lesson.check("max |(R+G+B)/3 − rgb2gray| (of 1)", np.abs(diffs["(R+G+B)/3"]).max(), 0.064513, atol=1e-6)
lesson.check("mean ((R+G+B)/3 − rgb2gray)", diffs["(R+G+B)/3"].mean(), -0.008082, atol=1e-6)
lesson.check("max |0.3R+0.59G+0.11B − rgb2gray|", np.abs(diffs["0.3R+0.59G+0.11B"]).max(), 0.027304, atol=1e-6)
lesson.check("mean (0.3R+0.59G+0.11B − rgb2gray)", diffs["0.3R+0.59G+0.11B"].mean(), 0.008768, atol=1e-6)
lesson.check_true(
    "the slide's eye weights are closer to rgb2gray than the plain average",
    np.abs(diffs["0.3R+0.59G+0.11B"]).mean() < np.abs(diffs["(R+G+B)/3"]).mean(),
)

greys = [g_mean, g_slide, g_sk]
fig = viz.grid_figure(
    greys + [diffs["(R+G+B)/3"], diffs["0.3R+0.59G+0.11B"]],
    ["(R+G+B)/3", "0.3R + 0.59G + 0.11B", "skimage rgb2gray", "(R+G+B)/3 − rgb2gray", "0.3R+0.59G+0.11B − rgb2gray"],
    ncols=3,
    panel_inches=3.6,
)
for ax in fig.axes[:3]:
    ax.images[0].set_clim(0, 1)
for ax in fig.axes[3:5]:
    ax.images[0].set_cmap("RdBu_r")
    ax.images[0].set_clim(-0.07, 0.07)
lesson.savefig(fig, "greyscale_methods")

# --------------------------------------------------------------------------------------------
lesson.step("Loading a photo from a file, in colour or already grey (slides: 'Cargando una imagen')")


def write_png(path):
    Image.fromarray(rgb).save(path, format="PNG")  # lossless: the file holds exactly these numbers


png = lesson.save_file(write_png, "chelsea.png")
img_color = io.imread(png)
img_grey = io.imread(png, as_gray=True)
lesson.say(
    f"io.imread('{png.name}')               → shape {img_color.shape}, dtype {img_color.dtype}",
    f"io.imread('{png.name}', as_gray=True) → shape {img_grey.shape}, dtype {img_grey.dtype}",
)
lesson.check("the file holds the same numbers", img_color, rgb)
lesson.check("as_gray=True gives (H, W)", img_grey.shape, (300, 451))
lesson.check("as_gray=True is rgb2gray", img_grey, g_sk, atol=1e-12)

lesson.finish()
