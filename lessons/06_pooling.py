"""Lesson 06 — pooling: keep the strongest (or the average) response of each window.

Slides (seeds/003, "Capa de pooling", "Capa MaxPooling2D"): the pooling layer
reduces the size of the convolutional layer's output. It is "a convolution with
a stride equal to the kernel size" that computes a function (max or mean) over
the window's pixels; it has no weights. After ``Conv2D(64, 3)`` on 28×28×1 the
26×26×64 maps become 13×13×64 with ``MaxPooling2D((2,2))``: 43,264 values
become 10,816 — 75% fewer.

Run: ``python lessons/06_pooling.py [--step] [--out DIR] [--quick]``.
"""

import numpy as np
from skimage import data

import convlab
from convlab import viz
from convlab.lesson import Lesson

lesson = Lesson(__file__, "Pooling: max and average, by hand and on a photo")

BACKENDS = ("reference", "numpy", "numba")


def show(m, indent="    "):
    m = np.asarray(m)
    width = max(len(f"{v:g}") for v in m.ravel())
    for row in m:
        print(indent + " ".join(f"{v:>{width}g}" for v in row))


# --------------------------------------------------------------------------------------------
lesson.step("Max and average pooling by hand: a 4×4 map, 2×2 windows, stride 2")
a = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=float)
show(a)
p = 2
oh, ow = a.shape[0] // p, a.shape[1] // p
max_hand, avg_hand = np.zeros((oh, ow)), np.zeros((oh, ow))
for i in range(oh):
    for j in range(ow):
        win = a[i * p : (i + 1) * p, j * p : (j + 1) * p]
        max_hand[i, j], avg_hand[i, j] = win.max(), win.mean()
        lesson.say(
            f"  window ({i},{j}) rows {i * p}…{i * p + 1}, cols {j * p}…{j * p + 1}: {win.astype(int).tolist()}"
            f"  → max {max_hand[i, j]:g}, mean ({' + '.join(f'{v:g}' for v in win.ravel())})/4 = "
            f"{avg_hand[i, j]:g}"
        )
lesson.say("max pooling:")
show(max_hand)
lesson.say("average pooling:")
show(avg_hand)
lesson.check("max pool by hand", max_hand, [[6, 8], [3, 4]])
lesson.check("average pool by hand", avg_hand, [[3.25, 5.25], [2, 2]])
x4 = a[None, :, :, None]  # (N, H, W, C) = (1, 4, 4, 1)
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
lesson.say("Overlapping windows are possible too (pool_size=3, strides=1, as in some networks):")
over = convlab.max_pool2d(x4, pool_size=3, strides=1)[0, :, :, 0]
show(over)
lesson.check("3×3 windows, stride 1", over, [[7, 8], [7, 8]])
lesson.savefig(
    viz.matrices_figure(
        [a, max_hand, avg_hand],
        ["input 4×4", "max pool 2×2", "average pool 2×2"],
        cmaps=["Greys", "Oranges", "Purples"],
    ),
    "pool_by_hand",
)

# --------------------------------------------------------------------------------------------
lesson.step("Sizes: pooling is a window with stride = pool size, and it has no weights")
lesson.say("  " + convlab.output_size_formula(26, 2, 0, 2), "  (MaxPooling2D's strides default to pool_size)")
lesson.check("pool_output_size(26, 2)", convlab.pool_output_size(26, 2), 13)
feat = np.random.default_rng(0).standard_normal((1, 26, 26, 64)).astype(np.float32)
pooled = convlab.max_pool2d(feat, pool_size=(2, 2))
before, after = feat[0].size, pooled[0].size
lesson.say(
    f"  (None, 26, 26, 64) → (None, {pooled.shape[1]}, {pooled.shape[2]}, {pooled.shape[3]}): "
    f"{before:,} → {after:,} values, {100 * (1 - after / before):.0f}% fewer; channels are pooled separately"
)
lesson.check("max_pool2d output shape", pooled.shape, (1, 13, 13, 64))
lesson.check("values to flatten: 26·26·64 → 13·13·64", (before, after), (43_264, 10_816))
lesson.check("75% fewer", 1 - after / before, 0.75)
lesson.check(
    "channel 5 pooled on its own equals channel 5 of the volume",
    convlab.max_pool2d(feat[:, :, :, 5:6])[..., 0],
    pooled[..., 5],
)

lesson.say(
    "",
    "An odd size: 27×27 with 2×2 windows → floor(25/2) + 1 = 13 (the last row/column is dropped);",
    "with padding='same' → ceil(27/2) = 14, and the padded cells count as −∞ for max pooling:",
)
lesson.say("  " + convlab.output_size_formula(27, 2, 0, 2), "  " + convlab.output_size_formula(27, 2, "same", 2))
lesson.check("27 → 13 (valid)", convlab.pool_output_size(27, 2), 13)
lesson.check("27 → 14 (same)", convlab.pool_output_size(27, 2, "same"), 14)
neg = -np.arange(1, 10, dtype=float).reshape(1, 3, 3, 1)  # all negative
same = convlab.max_pool2d(neg, 2, padding="same")[0, :, :, 0]
show(neg[0, :, :, 0])
lesson.say("max_pool2d(…, 2, padding='same'):")
show(same)
lesson.check("'same' max pooling pads with −∞, never 0 (all results negative)", same, [[-1, -3], [-7, -9]])

# --------------------------------------------------------------------------------------------
lesson.step("On a photo: convolution → ReLU → 2×2 max pooling")
photo = data.camera().astype(np.float32) / 255.0
KERNELS = {
    "edges": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "horizontal edges (bright above)": [[1, 1, 1], [0, 0, 0], [-1, -1, -1]],
    "horizontal edges (dark above)": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
}
kernel = np.stack([np.array(k, dtype=np.float32) for k in KERNELS.values()], axis=-1)[:, :, None, :]
x = photo[None, :, :, None]
z = convlab.conv2d(x, kernel)  # (1, 510, 510, 3)
r = convlab.relu(z)
m = convlab.max_pool2d(r, pool_size=2)
lesson.say(
    f"camera() {photo.shape} → conv2d with 3 filters {z.shape[1:]} → relu {r.shape[1:]} → max_pool2d(2) {m.shape[1:]}"
)
lesson.check("conv output shape (512 − 3 + 1 = 510)", z.shape, (1, 510, 510, 3))
lesson.check("pooled shape (510 / 2 = 255)", m.shape, (1, 255, 255, 3))
lesson.check_true("ReLU leaves no negative value", float(r.min()) >= 0.0)
lesson.check("ReLU = max(0, z)", r, np.maximum(z, 0))
neg_share = float((z < 0).mean())
lesson.say(f"  {100 * neg_share:.1f}% of the conv outputs were negative and became 0")
lesson.check(
    "the two horizontal filters are opposite: ReLU keeps one side of each edge in each",
    r[..., 1] - r[..., 2],
    z[..., 1],
)
blocks = r[0].reshape(255, 2, 255, 2, 3)
lesson.check("max pool = the max of each 2×2 block", m[0], blocks.max(axis=(1, 3)))
lesson.check("avg pool = the mean of each 2×2 block", convlab.avg_pool2d(r, 2)[0], blocks.mean(axis=(1, 3)), atol=1e-6)
crop = r[:, 200:232, 180:212, :] if not lesson.quick else r[:, 200:216, 180:196, :]
for backend in ("reference", "numpy"):
    lesson.check(
        f"on a {crop.shape[1]}×{crop.shape[2]} crop, backend={backend!r} = numba",
        convlab.max_pool2d(crop, 2, backend=backend),
        convlab.max_pool2d(crop, 2),
    )
lesson.say(
    f"  activations: {r[0].size:,} → {m[0].size:,} after pooling "
    f"({100 * (1 - m[0].size / r[0].size):.0f}% fewer), the edges are still there"
)

names = list(KERNELS)
maps, titles = [], []
for f, name in enumerate(names):
    maps += [z[0, :, :, f], r[0, :, :, f], m[0, :, :, f]]
    titles += [
        f"conv: {name}\n{z.shape[1]}×{z.shape[2]}",
        f"ReLU\n{r.shape[1]}×{r.shape[2]}",
        f"max pool 2×2\n{m.shape[1]}×{m.shape[2]}",
    ]
fig = viz.grid_figure(maps, titles, ncols=3, panel_inches=3.4)
for k, ax in enumerate(fig.axes[: len(maps)]):
    im = ax.images[0]
    lim = float(np.percentile(np.abs(maps[k]), 99.5)) or 1.0
    if k % 3 == 0:
        im.set_cmap("RdBu_r")
        im.set_clim(-lim, lim)
    else:
        im.set_cmap("magma")
        im.set_clim(0, lim)
lesson.savefig(fig, "conv_relu_pool_camera")

lesson.finish()
