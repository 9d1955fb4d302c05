"""Lesson 02 — spatial filters: small kernels that bring out edges, directions and detail.

Slides (seeds/003, "Filtros en el dominio espacial", "Convolución 2D"): a filter
relates each pixel to its neighbours through a small matrix, the *kernel*:
edges ``[[-1,-1,-1],[-1,8,-1],[-1,-1,-1]]``, horizontal edges
``[[1,1,1],[0,0,0],[-1,-1,-1]]``, diagonals ``[[-1,0],[0,1]]`` and
``[[0,-1],[1,0]]``; and the sharpen kernel ``[[0,-1,0],[-1,5,-1],[0,-1,0]]`` of
the worked example. The slides define convolution with the kernel *flipped*
(``g[x − n1, y − n2]``); Keras' Conv2D does not flip (cross-correlation). For a
kernel that is not symmetric the two differ — the horizontal-edge kernel flips
its sign.

The photo is scikit-image's bundled ``camera()``; results are checked against
``scipy.ndimage.correlate`` / ``convolve``.

Run: ``python lessons/02_spatial_filters.py [--step] [--out DIR] [--quick]``.
"""

import numpy as np
from scipy import ndimage, signal
from skimage import data

import convlab
from convlab import viz
from convlab.lesson import Lesson

lesson = Lesson(__file__, "Spatial filters: edges, directions, sharpening")

KERNELS = {
    "edges": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    "horizontal edges": np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    "diagonal \\": np.array([[-1, 0], [0, 1]]),
    "diagonal /": np.array([[0, -1], [1, 0]]),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
}


def show(m, indent="    "):
    m = np.asarray(m)
    width = max(len(f"{v:g}") for v in m.ravel())
    for row in m:
        print(indent + " ".join(f"{v:>{width}g}" for v in row))


# --------------------------------------------------------------------------------------------
lesson.step("The photo and the slides' kernels")
photo = data.camera().astype(np.float64)
lesson.say(f"skimage.data.camera() as float64: shape {photo.shape}, values {photo.min():g} … {photo.max():g}")
for name, k in KERNELS.items():
    lesson.say(f"{name} {k.shape}:")
    show(k)
    lesson.say(
        f"    sum of the weights = {k.sum()}"
        + ("  (flat regions → 0: only changes survive)" if k.sum() == 0 else "  (flat regions keep their value)")
    )
lesson.check(
    "edge-detection kernels sum to 0",
    [int(KERNELS[n].sum()) for n in ("edges", "horizontal edges", "diagonal \\", "diagonal /")],
    [0, 0, 0, 0],
)
lesson.check("the sharpen kernel sums to 1", KERNELS["sharpen"].sum(), 1)

# --------------------------------------------------------------------------------------------
lesson.step("Apply every kernel with convlab.correlate2d (what Keras computes)")
filtered = {}
for name, k in KERNELS.items():
    y = convlab.correlate2d(photo, k)  # padding="valid": the output shrinks by K − 1
    filtered[name] = y
    lesson.say(f"  {name:17s} {k.shape} → {y.shape}, values {y.min():8.1f} … {y.max():7.1f}")
    expected = tuple(convlab.conv_output_size(n, k.shape[0]) for n in photo.shape)
    lesson.check(f"{name}: output shape {expected} = (512 − {k.shape[0]})/1 + 1", y.shape, expected)
lesson.check(
    "a flat region gives 0 with the edge kernel",
    convlab.correlate2d(np.full((5, 5), 137.0), KERNELS["edges"]),
    np.zeros((3, 3)),
)
fig = viz.grid_figure([photo] + list(filtered.values()), ["camera()"] + list(filtered), ncols=3, panel_inches=3.6)
for ax in fig.axes[1:]:
    im = ax.images[0]
    lim = np.percentile(np.abs(im.get_array()), 99)
    im.set_cmap("RdBu_r")
    im.set_clim(-lim, lim)
fig.axes[-1].images[0].set_cmap("gray")  # sharpen: a photo again
fig.axes[-1].images[0].set_clim(0, 255)
lesson.savefig(fig, "filters_on_camera")

# --------------------------------------------------------------------------------------------
lesson.step("Check against scipy.ndimage (and mind where scipy puts the kernel's centre)")
lesson.say(
    "scipy.ndimage.correlate returns an image of the input's size: it centres the kernel on each",
    "pixel, padding with zeros (mode='constant'). For a 3×3 kernel convlab's 'valid' output is",
    "scipy's result without its border ring: scipy[1:-1, 1:-1].",
    "For an even (2×2) kernel there is no centre pixel: scipy uses index size//2 = 1 as the centre",
    "(origin=0), so its out[i, j] = Σ k[u, v]·x[i+u−1, j+v−1], while convlab's valid out[i, j] =",
    "Σ k[u, v]·x[i+u, j+v]: convlab = scipy[1:, 1:], or equivalently scipy with origin=-1, [:-1, :-1].",
)
for name, k in KERNELS.items():
    ref = ndimage.correlate(photo, k.astype(float), mode="constant", cval=0.0)
    if k.shape == (3, 3):
        lesson.check(f"{name}: correlate2d = ndimage.correlate[1:-1, 1:-1]", filtered[name], ref[1:-1, 1:-1])
        lesson.check(
            f"{name}: correlate2d(padding=1) = ndimage.correlate (same size)",
            convlab.correlate2d(photo, k, padding=1),
            ref,
        )
    else:
        lesson.check(f"{name}: correlate2d = ndimage.correlate[1:, 1:]", filtered[name], ref[1:, 1:])
        ref_m1 = ndimage.correlate(photo, k.astype(float), mode="constant", origin=-1)
        lesson.check(f"{name}: correlate2d = ndimage.correlate(origin=-1)[:-1, :-1]", filtered[name], ref_m1[:-1, :-1])

lesson.say(
    "",
    "One call of convlab.conv2d applies the three 3×3 kernels at once: kernel (3, 3, 1, 3) on",
    "x (1, 512, 512, 1) → (1, 510, 510, 3), one feature map per filter.",
)
names3 = ["edges", "horizontal edges", "sharpen"]
stack = np.stack([KERNELS[n] for n in names3], axis=-1)[:, :, None, :]  # (KH, KW, C_in=1, C_out=3)
maps = convlab.conv2d(photo[None, :, :, None], stack)
lesson.check("conv2d output shape", maps.shape, (1, 510, 510, 3))
for f, n in enumerate(names3):
    lesson.check(f"conv2d channel {f} = correlate2d with '{n}'", maps[0, :, :, f], filtered[n])

crop = photo[180 : 180 + (24 if lesson.quick else 64), 160 : 160 + (24 if lesson.quick else 64)]
for backend in ("reference", "numpy"):
    lesson.check(
        f"on a {crop.shape[0]}×{crop.shape[1]} crop, backend={backend!r} = numba",
        convlab.conv2d(crop[None, :, :, None], stack, backend=backend),
        convlab.conv2d(crop[None, :, :, None], stack, backend="numba"),
        atol=1e-9,
    )

# --------------------------------------------------------------------------------------------
lesson.step("Convolution vs cross-correlation: a kernel that is not symmetric")
lesson.say(
    "True convolution (the slides' definition) flips the kernel in both directions before sliding it.",
    "Flipping [[1,1,1],[0,0,0],[-1,-1,-1]] gives [[-1,-1,-1],[0,0,0],[1,1,1]] = −kernel, so the",
    "convolution is minus the cross-correlation. Edges and sharpen are symmetric: no difference.",
)
step = np.array([[200] * 5] * 3 + [[50] * 5] * 3, dtype=float)  # bright above, dark below
lesson.say("A tiny image, bright above and dark below:")
show(step)
corr_small = convlab.correlate2d(step, KERNELS["horizontal edges"])
conv_small = convlab.convolve2d(step, KERNELS["horizontal edges"])
lesson.say("correlate2d (Keras):")
show(corr_small)
lesson.say("convolve2d (slides' definition, flipped kernel):")
show(conv_small)
lesson.check("correlate2d at the edge: 3·200 − 3·50 = 450", corr_small[1, 0], 450.0)
lesson.check("convolve2d flips the sign", conv_small, -corr_small)

for name, k in KERNELS.items():
    conv = convlab.convolve2d(photo, k)
    symmetric = np.array_equal(k, k[::-1, ::-1])
    if symmetric:
        lesson.check(f"{name} (symmetric): convolve2d = correlate2d", conv, filtered[name])
    else:
        lesson.check(f"{name}: convolve2d = correlate2d with the kernel flipped = −correlate2d", conv, -filtered[name])
    lesson.check(
        f"{name}: convolve2d = scipy.signal.convolve2d(mode='valid')", conv, signal.convolve2d(photo, k, mode="valid")
    )
    ref = ndimage.convolve(photo, k.astype(float), mode="constant")
    sl = (slice(1, -1), slice(1, -1)) if k.shape == (3, 3) else (slice(None, -1), slice(None, -1))
    lesson.check(
        f"{name}: convolve2d = ndimage.convolve{'[1:-1, 1:-1]' if k.shape == (3, 3) else '[:-1, :-1]'}", conv, ref[sl]
    )
lesson.say(
    "(For the 2×2 kernels scipy's convolve keeps its centre at index 1 of the flipped kernel, so the",
    "matching slice is [:-1, :-1] — the opposite corner from correlate.)",
)

k = KERNELS["horizontal edges"]
corr, conv = filtered["horizontal edges"], convlab.convolve2d(photo, k)
lim = np.percentile(np.abs(corr), 99)
fig = viz.grid_figure(
    [corr, conv],
    ["correlate2d (Keras): bright above → +", "convolve2d (flipped): sign flips"],
    cmap="RdBu_r",
    panel_inches=4.5,
    colorbar=True,
)
for ax in fig.axes[:2]:
    ax.images[0].set_clim(-lim, lim)
lesson.savefig(fig, "convolution_vs_correlation")

lesson.finish()
