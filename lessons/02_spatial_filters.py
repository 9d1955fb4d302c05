# %% [markdown]
# # Lesson 02 — spatial filters: small kernels that bring out edges, directions and detail
#
# Why it matters: every filter a CNN learns is a small kernel like these. Before a
# network learns its own, see what hand-made kernels do to a photo: find edges,
# pick a direction, sharpen.
#
# Slides (seeds/003, "Filtros en el dominio espacial", "Convolución 2D"): a filter
# relates each pixel to its neighbours through a small matrix, the *kernel*:
# edges `[[-1,-1,-1],[-1,8,-1],[-1,-1,-1]]`, horizontal edges
# `[[1,1,1],[0,0,0],[-1,-1,-1]]`, diagonals `[[-1,0],[0,1]]` and
# `[[0,-1],[1,0]]`; and the sharpen kernel `[[0,-1,0],[-1,5,-1],[0,-1,0]]` of
# the worked example. The slides define convolution with the kernel *flipped*
# (`g[x − n1, y − n2]`); Keras' Conv2D does not flip (cross-correlation). For a
# kernel that is not symmetric the two differ — the horizontal-edge kernel flips
# its sign. Lessons write cross-correlation `x ⋆ k` and true convolution `x ∗ k`.
#
# The figures draw a photo in grey (larger = lighter) and a filter's signed
# response in blue (negative), white (0) and red (positive).
#
# The photo is scikit-image's bundled `camera()`; results are checked against
# `scipy.ndimage.correlate` / `convolve`.
#
# Run: `python lessons/02_spatial_filters.py [--step] [--out DIR] [--quick] [--lang es]`.

# %%
import numpy as np
from scipy import ndimage, signal
from skimage import data

import convlab
from convlab import viz
from convlab.lesson import N_, Lesson, _

lesson = Lesson(__file__, "Spatial filters: edges, directions, sharpening")

# The slides' kernels, by name: the names are the keys (English), shown translated with _(name).
KERNELS = {
    N_("edges"): np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]),
    N_("horizontal edges"): np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]]),
    N_("diagonal \\"): np.array([[-1, 0], [0, 1]]),
    N_("diagonal /"): np.array([[0, -1], [1, 0]]),
    N_("sharpen"): np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
}


def matrix_lines(m, indent="    "):
    """A small matrix as the slides write it: one row per line, right-aligned columns."""
    m = np.asarray(m)
    width = max(len(f"{v:g}") for v in m.ravel())
    return [indent + " ".join(f"{v:>{width}g}" for v in row) for row in m]


lesson.say(
    _(
        "Why it matters: every filter a CNN learns is a small kernel like the ones below. Before a "
        "network learns its own, see what hand-made kernels do to a photo: find edges, pick a "
        "direction, sharpen."
    )
)

# %%
lesson.step(_("The photo and the slides' kernels"))
photo = data.camera().astype(np.float64)
lesson.say(
    _(
        "A spatial filter computes each new pixel from the pixels around it (slide 'Filtros en el "
        "dominio espacial'), weighting them with a small matrix, the kernel."
    ),
    _("skimage.data.camera() as float64: shape {shape}, values {lo:g} … {hi:g}.").format(
        shape=photo.shape, lo=photo.min(), hi=photo.max()
    ),
    _(
        "float64 numbers have a sign and a fractional part; the photo's uint8 (whole numbers "
        "0 … 255) could not hold the negative and large sums the kernels produce."
    ),
    _("The slides' kernels:"),
)
for name, k in KERNELS.items():
    lesson.say(f"{_(name)} {k.shape}:", *matrix_lines(k))
    if k.sum() == 0:
        total = _("    sum of the weights = {total}  (flat regions → 0: only changes survive)")
    else:
        total = _("    sum of the weights = {total}  (flat regions keep their value)")
    lesson.say(total.format(total=k.sum()))
lesson.check(
    _("edge-detection kernels sum to 0"),
    [int(KERNELS[n].sum()) for n in ("edges", "horizontal edges", "diagonal \\", "diagonal /")],
    [0, 0, 0, 0],
)
lesson.check(_("the sharpen kernel sums to 1"), KERNELS["sharpen"].sum(), 1)

# %%
lesson.step(_("Apply every kernel with convlab.correlate2d (as Keras does)"))
lesson.say(
    _(
        "correlate2d slides the kernel over the photo and writes, at each position, the sum of "
        "the window's pixels times the kernel's weights: cross-correlation, what Keras' Conv2D "
        "computes. With padding='valid' (no zeros added around the photo) the window must fit "
        "inside it, so a K×K kernel has fewer positions than the photo has pixels:"
    ),
    _("    output side = N − K + 1 = 512 − K + 1    (N: input side, K: kernel size)"),
)
filtered = {}
name_width = max(len(_(name)) for name in KERNELS)  # the names' column, in the language shown
for name, k in KERNELS.items():
    y = convlab.correlate2d(photo, k)  # padding="valid": the output shrinks by K − 1
    filtered[name] = y
    lesson.say(
        _("  {name} {kernel} → {output}, values {lo:8.1f} … {hi:7.1f}").format(
            name=_(name).ljust(name_width), kernel=k.shape, output=y.shape, lo=y.min(), hi=y.max()
        )
    )
    expected = tuple(convlab.conv_output_size(n, k.shape[0]) for n in photo.shape)
    lesson.check(
        _("{name}: output shape {shape} = (512 − {k})/1 + 1").format(name=_(name), shape=expected, k=k.shape[0]),
        y.shape,
        expected,
    )
lesson.check(
    _("a flat region gives 0 with the edge kernel"),
    convlab.correlate2d(np.full((5, 5), 137.0), KERNELS["edges"]),
    np.zeros((3, 3)),
)
lesson.say(
    _(
        "In the figure the photo and the sharpened photo are grey, black for 0 and white for 255; the "
        "edge responses are signed: blue negative, white 0, red positive (colours saturate at the "
        "99th percentile of |response|, so a few extreme pixels do not wash out the rest)."
    )
)
fig = viz.grid_figure(
    [photo] + list(filtered.values()),
    ["camera()"] + [_(name) for name in filtered],
    ncols=3,
    panel_inches=3.6,
    suptitle=_("grey: larger = lighter · edges: blue < 0 < red"),
)
for ax, y in zip(fig.axes[1:], filtered.values()):
    lim = np.percentile(np.abs(y), 99)  # the plain array: the image's own data is masked, which percentile ignores
    ax.images[0].set_cmap("RdBu_r")
    ax.images[0].set_clim(-lim, lim)
fig.axes[-1].images[0].set_cmap(viz.GRID_CMAP)  # sharpen: a photo again
fig.axes[-1].images[0].set_clim(0, 255)
# Room between the rows: the second row's titles would otherwise touch the first row's photos.
fig.set_size_inches(fig.get_size_inches() + (0, 0.4))
fig.tight_layout(h_pad=1.2)
lesson.savefig(fig, "filters_on_camera")

# %%
lesson.step(_("Check against scipy.ndimage: where is the kernel's centre?"))
lesson.say(
    _(
        "scipy.ndimage.correlate returns an image of the input's size: it centres the kernel on "
        "each pixel, padding with zeros (mode='constant'). For a 3×3 kernel convlab's 'valid' "
        "output is scipy's result without its border ring:"
    ),
    "    convlab = scipy[1:-1, 1:-1]",
    _(
        "An even (2×2) kernel has no centre pixel: scipy takes index size//2 = 1 as the centre "
        "(origin=0), so the two differ by one pixel:"
    ),
    "    scipy   out[i, j] = Σ k[u, v]·x[i+u−1, j+v−1]",
    "    convlab out[i, j] = Σ k[u, v]·x[i+u, j+v]        ('valid')",
    _("so convlab = scipy[1:, 1:], or equally scipy(origin=-1)[:-1, :-1]."),
)
for name, k in KERNELS.items():
    ref = ndimage.correlate(photo, k.astype(float), mode="constant", cval=0.0)
    if k.shape == (3, 3):
        lesson.check(f"{_(name)}: correlate2d = ndimage.correlate[1:-1, 1:-1]", filtered[name], ref[1:-1, 1:-1])
        lesson.check(
            _("{name}: correlate2d(padding=1) = ndimage.correlate (same size)").format(name=_(name)),
            convlab.correlate2d(photo, k, padding=1),
            ref,
        )
    else:
        lesson.check(f"{_(name)}: correlate2d = ndimage.correlate[1:, 1:]", filtered[name], ref[1:, 1:])
        ref_m1 = ndimage.correlate(photo, k.astype(float), mode="constant", origin=-1)
        lesson.check(
            f"{_(name)}: correlate2d = ndimage.correlate(origin=-1)[:-1, :-1]", filtered[name], ref_m1[:-1, :-1]
        )

lesson.say(
    "",
    _(
        "One call of convlab.conv2d applies the three 3×3 kernels at once, giving one feature map "
        "per filter (a feature map is the image of one filter's responses):"
    ),
    _("    x (1, 512, 512, 1) with kernel (3, 3, 1, 3) → (1, 510, 510, 3)"),
)
names3 = [N_("edges"), N_("horizontal edges"), N_("sharpen")]
stack = np.stack([KERNELS[n] for n in names3], axis=-1)[:, :, None, :]  # (K, K, N_c=1, N_f=3)
maps = convlab.conv2d(photo[None, :, :, None], stack)
lesson.check(_("conv2d output shape"), maps.shape, (1, 510, 510, 3))
for f, n in enumerate(names3):
    lesson.check(
        _("conv2d channel {f} = correlate2d with '{name}'").format(f=f, name=_(n)), maps[0, :, :, f], filtered[n]
    )

crop = photo[180 : 180 + (24 if lesson.quick else 64), 160 : 160 + (24 if lesson.quick else 64)]
lesson.say(
    _(
        "convlab has three backends, interchangeable implementations of the same operation: "
        "'reference' (plain loops that read like the slides), 'numpy' (vectorised) and 'numba' "
        "(compiled, the fast default). They must give the same numbers:"
    )
)
for backend in ("reference", "numpy"):
    lesson.check(
        _("on a {h}×{w} crop, backend={backend} = numba").format(
            h=crop.shape[0], w=crop.shape[1], backend=repr(backend)
        ),
        convlab.conv2d(crop[None, :, :, None], stack, backend=backend),
        convlab.conv2d(crop[None, :, :, None], stack, backend="numba"),
        atol=1e-9,
    )

# %%
lesson.step(_("Convolution vs cross-correlation: a non-symmetric kernel"))
lesson.say(
    _("The slides define true convolution as"),
    "    (f ∗ g)[x, y] = Σ Σ f[n1, n2]·g[x − n1, y − n2]",
    _(
        "The minus signs flip the kernel in both directions before it slides; cross-correlation, "
        "what Keras computes, does not flip. The lessons write them:"
    ),
    "    x ∗ k   " + _("convolution: the kernel flipped (the slides' definition)"),
    "    x ⋆ k   " + _("cross-correlation: the kernel as it is (Keras' Conv2D)"),
    _("Flipping the horizontal-edge kernel (k[::-1, ::-1]) gives minus the kernel:"),
)
k_h = KERNELS["horizontal edges"]
flipped_arrow = _("flipped →")
middle = ["", flipped_arrow, ""]
mid_width = len(flipped_arrow) + 4
lesson.say(
    *[
        f"{row}{mid:^{mid_width}}{flipped}{'   = −kernel' if mid else ''}"
        for row, mid, flipped in zip(matrix_lines(k_h), middle, matrix_lines(k_h[::-1, ::-1], indent=""))
    ]
)
lesson.say(
    _(
        "so its convolution is minus its cross-correlation; the two diagonal kernels flip to "
        "minus themselves too. Edges and sharpen are symmetric (the same after flipping): no "
        "difference."
    )
)
# What the text above says each kernel becomes when flipped: +1 itself (symmetric), −1 minus itself.
FLIP_SIGN = {"edges": 1, "horizontal edges": -1, "diagonal \\": -1, "diagonal /": -1, "sharpen": 1}
for name, k in KERNELS.items():
    flipped_is = _("{name}: flipped = −kernel") if FLIP_SIGN[name] < 0 else _("{name}: flipped = kernel")
    lesson.check(flipped_is.format(name=_(name)), k[::-1, ::-1], FLIP_SIGN[name] * k)
step = np.array([[200] * 5] * 3 + [[50] * 5] * 3, dtype=float)  # bright above, dark below
lesson.say(_("A tiny image, bright above and dark below:"), *matrix_lines(step))
corr_small = convlab.correlate2d(step, KERNELS["horizontal edges"])
conv_small = convlab.convolve2d(step, KERNELS["horizontal edges"])
lesson.say(_("correlate2d, x ⋆ k (Keras):"), *matrix_lines(corr_small))
lesson.say(_("convolve2d, x ∗ k (slides' definition, flipped kernel):"), *matrix_lines(conv_small))
lesson.check(_("correlate2d at the edge: 3·200 − 3·50 = 450"), corr_small[1, 0], 450.0)
lesson.check(_("convolve2d flips the sign"), conv_small, -corr_small)

for name, k in KERNELS.items():
    conv = convlab.convolve2d(photo, k)
    if FLIP_SIGN[name] > 0:
        lesson.check(_("{name} (symmetric): convolve2d = correlate2d").format(name=_(name)), conv, filtered[name])
    else:
        lesson.check(
            _("{name}: convolve2d = −correlate2d (flipped kernel = −kernel)").format(name=_(name)),
            conv,
            -filtered[name],
        )
    lesson.check(
        f"{_(name)}: convolve2d = scipy.signal.convolve2d(mode='valid')",
        conv,
        signal.convolve2d(photo, k, mode="valid"),
    )
    ref = ndimage.convolve(photo, k.astype(float), mode="constant")
    sl = (slice(1, -1), slice(1, -1)) if k.shape == (3, 3) else (slice(None, -1), slice(None, -1))
    lesson.check(
        f"{_(name)}: convolve2d = ndimage.convolve{'[1:-1, 1:-1]' if k.shape == (3, 3) else '[:-1, :-1]'}",
        conv,
        ref[sl],
    )
lesson.say(
    _(
        "(For the 2×2 kernels scipy's convolve keeps its centre at index 1 of the flipped kernel, "
        "so the matching slice is [:-1, :-1], the opposite corner from correlate.)"
    ),
    _("In the figure blue is negative, red positive: the same edge comes out red with ⋆ and blue with ∗."),
)

k = KERNELS["horizontal edges"]
corr, conv = filtered["horizontal edges"], convlab.convolve2d(photo, k)
lim = np.percentile(np.abs(corr), 99)
fig = viz.grid_figure(
    [corr, conv],
    [_("correlate2d x ⋆ k (Keras): bright above → +"), _("convolve2d x ∗ k (flipped): sign flips")],
    cmap="RdBu_r",
    panel_inches=4.5,
    colorbar=True,
)
for ax in fig.axes[:2]:
    ax.images[0].set_clim(-lim, lim)
lesson.savefig(fig, "convolution_vs_correlation")

lesson.finish()
