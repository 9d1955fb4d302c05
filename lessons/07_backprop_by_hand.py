# %% [markdown]
# # Lesson 07 — backpropagation through a convolution, by hand, on the slides' 5×5 example
#
# Why it matters: the slides say the filters are *trained* with the rest of the
# network. Training moves each kernel weight a little against its gradient
# `∂L/∂k` (`k ← k − η·∂L/∂k`), so the loss `L` goes down; and `∂L/∂x`
# carries the signal on to the layers before. This lesson computes both, number
# by number, for the convolution of lesson 03.
#
# The forward pass (lesson 03) slid the sharpen kernel over the 5×5 input:
#
# ```
# y[i, j] = Σ_u Σ_v x[i + u, j + v] · k[u, v]        (stride 1, no padding → 3×3)
# ```
#
# Given the upstream gradient `dy = ∂L/∂y` (what the layers after this one
# hand back), the chain rule sums over every output number that used a weight or
# a pixel:
#
# ```
# ∂L/∂k[u, v] = Σ_i Σ_j x[i + u, j + v] · dy[i, j]      ← cross-correlation of x with dy
# ∂L/∂x[p, q] = Σ_i Σ_j k[p − i, q − j] · dy[i, j]      ← "full" convolution of dy with k
# ```
#
# Both are convolutions again: the kernel gradient slides `dy` over the input
# like a 3×3 filter; the input gradient pads `dy` with `K − 1 = 2` zeros and
# slides the *flipped* kernel over it (a true convolution, as the slides define
# it). The lesson prints every number, computes each gradient both ways, takes
# one gradient-descent step, handles stride 2 with padding 1 (dilated `dy`),
# and checks everything against `convlab.conv2d_backward` and finally against
# central differences in float64 (`convlab.gradcheck`) — and shows why float32
# is not precise enough for that check.
#
# Run: `python lessons/07_backprop_by_hand.py [--step] [--out DIR] [--quick] [--lang es]`.
# Figure `gradients.png`: input, dy, ∂L/∂k and ∂L/∂x side by side (input grey,
# larger = lighter; the three gradients blue negative, white 0, red positive).

# %%
import matplotlib.pyplot as plt
import numpy as np

import convlab
from convlab import viz
from convlab.lesson import N_, Lesson, _, product_rows

lesson = Lesson(__file__, "Backpropagation by hand: the slides' convolution")
lesson.say(
    _(
        "Why it matters: the slides' filters are trained. Training moves each kernel weight a little against "
        "its gradient ∂L/∂k (how much the loss L grows per unit of that weight), so L goes down. Here we "
        "compute ∂L/∂k — and ∂L/∂x, which carries the signal further back — number by number."
    )
)

X = np.array(
    [
        [60, 113, 56, 139, 85],
        [73, 121, 54, 84, 128],
        [131, 99, 70, 129, 127],
        [80, 57, 115, 69, 134],
        [104, 126, 123, 95, 130],
    ],
    dtype=float,
)
K = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype=float)
Y_SLIDES = np.array([[266, -61, -30], [116, -47, 295], [-135, 256, -128]])


def show(m, indent="    ", fmt="g"):
    """Print a matrix one row per line, columns right-aligned."""
    m = np.asarray(m)
    cells = [[format(v, fmt) for v in row] for row in m]
    width = max(len(c) for row in cells for c in row)
    lesson.say(*(indent + " ".join(c.rjust(width) for c in row) for row in cells))


def product_block(name, a, b, total):
    """``name = Σ a·b`` laid out as the slides write a window's sum: one row of products per line,
    columns aligned, ``= total`` at the end (:func:`convlab.lesson.product_rows`)."""
    return ["    " + line for line in product_rows(a, b, total, label=f"{name} = ")]


def as_nhwc(image):
    return np.asarray(image, dtype=float)[None, :, :, None]


def as_kernel(k):
    return np.asarray(k, dtype=float)[:, :, None, None]


def library_gradients(dy, stride=1, padding="valid"):
    """``(dx, dk)`` from convlab.conv2d_backward (reference loops), as 2-D matrices."""
    dx, dk, _db = convlab.conv2d_backward(
        as_nhwc(dy), as_nhwc(X), as_kernel(K), strides=stride, padding=padding, backend="reference"
    )
    return dx[0, :, :, 0], dk[:, :, 0, 0]


def kernel_gradient_by_hand(dy):
    """∂L/∂k[u, v] = Σ_ij x[i+u, j+v]·dy[i, j], and the patch of x each weight met."""
    oh, ow = dy.shape
    dk = np.zeros_like(K)
    patches = {}
    for u in range(K.shape[0]):
        for v in range(K.shape[1]):
            patch = X[u : u + oh, v : v + ow]  # the pixels that weight (u, v) touched
            dk[u, v] = np.sum(patch * dy)
            patches[u, v] = patch
    return dk, patches


def input_gradient_by_hand(dy):
    """∂L/∂x: every output (i, j) sends k·dy[i, j] back to the window it read (scatter-add)."""
    dx = np.zeros_like(X)
    for i in range(dy.shape[0]):
        for j in range(dy.shape[1]):
            dx[i : i + K.shape[0], j : j + K.shape[1]] += K * dy[i, j]
    return dx


def full_convolution(dy, k):
    """Pad dy with K−1 zeros on every side, then slide the FLIPPED kernel: a true convolution."""
    pad = k.shape[0] - 1
    dy_pad = np.pad(dy, pad)
    return convlab.correlate2d(dy_pad, k[::-1, ::-1]), dy_pad


# %%
lesson.step(_("The forward pass we differentiate (lesson 03)"))
lesson.say(_("input x (5×5):"))
show(X)
lesson.say(_("kernel k (3×3, sharpen):"))
show(K)
Y = convlab.correlate2d(X, K)
lesson.say(_("y = x ⋆ k (stride 1, no padding):"))
show(Y)
lesson.check(_("forward output equals the slide"), Y, Y_SLIDES)
lesson.say(
    "",
    _(
        "⋆ is cross-correlation: the kernel slides over x as it is (what lesson 03 and Keras compute). "
        "∗ is the slides' true convolution: it flips the kernel (rows and columns reversed) first."
    ),
    "",
    _(
        "The loss L is one number saying how wrong the network's answer is; training makes it smaller. "
        "Backpropagation computes its gradients from the loss backwards, layer by layer, with the chain "
        "rule."
    ),
    _(
        "So this layer receives the upstream gradient dy = ∂L/∂y: how much L changes per unit change "
        "of each output y[i, j], already computed by the layers after this one (3×3, one per output)."
    ),
    _("For L = Σ y (the sum of the outputs), dy is all ones."),
)

# %%
lesson.step(_("∂L/∂k with dy = all ones: each weight sums the pixels it met"))
DY1 = np.ones((3, 3))
lesson.say("dy:")
show(DY1)
lesson.say(
    _(
        "Weight k[u, v] multiplied x[i+u, j+v] in output (i, j). The chain rule adds up its effect on L "
        "through every output it touched:"
    ),
    "    " + _("∂L/∂k[u, v] = Σ_ij x[i+u, j+v]·dy[i, j]       (dk for short)"),
    _("With dy = 1 each product is just the pixel: dk[u, v] is the sum of the 3×3 patch of x that weight (u, v) met."),
)
dk1, patches1 = kernel_gradient_by_hand(DY1)
for (u, v), patch in patches1.items():
    lesson.say(f"    dk[{u},{v}] = " + " + ".join(f"{p:g}" for p in patch.ravel()) + f" = {dk1[u, v]:g}")
lesson.say("∂L/∂k:")
show(dk1)
dx_lib, dk_lib = library_gradients(DY1)
lesson.check(_("by hand == convlab.conv2d_backward (kernel)"), dk1, dk_lib)
dk1_corr = convlab.correlate2d(X, DY1)
lesson.say(
    "",
    _("That is the cross-correlation of the input with dy — dy slides over x like a 3×3 filter:"),
    "convlab.correlate2d(x, dy) =",
)
show(dk1_corr)
lesson.check("∂L/∂k == correlate2d(x, dy)", dk1_corr, dk1)

# %%
lesson.step(_("What ∂L/∂k is for: one step of gradient descent"))
ETA = 1e-5
L0 = float(np.sum(Y * DY1))
K_NEW = K - ETA * dk1
L1 = float(np.sum(convlab.correlate2d(X, K_NEW) * DY1))
lesson.say(
    _("Gradient descent moves every weight against its gradient, by a small step η (the learning rate):"),
    f"    k ← k − η·∂L/∂k,   η = {ETA:g}",
    _("new kernel:"),
)
show(K_NEW, fmt=".5f")
lesson.say(
    _("L = Σ y before: {before:g}   after: {after:.4f}   (down by η·Σ dk² = {drop:.4f})").format(
        before=L0, after=L1, drop=ETA * np.sum(dk1**2)
    ),
    _(
        "Every dk is positive here (all pixels are), so every weight decreases a little (k − η·dk, dk > 0) "
        "and L drops. Here L is linear in k, so the drop is exactly η·Σ dk²; for a real loss (lesson 08's "
        "cross-entropy) it is so only for small η, and training repeats this step thousands of times over "
        "many images."
    ),
)
lesson.check(_("L before = the sum of the slide's outputs"), L0, int(Y_SLIDES.sum()))
lesson.check(_("L after = L − η·Σ dk²"), L1, L0 - ETA * np.sum(dk1**2), atol=1e-9)
lesson.check_true(_("every weight decreased, and the step lowered L"), bool((K_NEW < K).all()) and L1 < L0)

# %%
lesson.step(_("∂L/∂x with dy = all ones: each output sends k·dy back"))
dx1 = input_gradient_by_hand(DY1)
lesson.say(
    _(
        "Output (i, j) used the window of x starting at (i, j), so it sends k·dy[i, j] back onto that "
        "window. This is a scatter-add: each output adds (+=) its 3×3 contribution onto x's grid, and "
        "pixels covered by several windows collect the sum. For the 9 outputs that gives ∂L/∂x (how many "
        "times, and with which weight, each pixel was used):"
    ),
)
show(dx1)
lesson.check(_("by hand == convlab.conv2d_backward (input)"), dx1, dx_lib)
full1, dy1_pad = full_convolution(DY1, K)
lesson.say(
    "",
    _(
        "The same as a 'full' convolution: pad dy with K − 1 = 2 zeros on every side (so every partial "
        "overlap of kernel and dy counts) …"
    ),
)
show(dy1_pad)
lesson.say(_("… and slide the flipped kernel k[::-1, ::-1] over it (output 7 − 3 + 1 = 5):"))
show(K[::-1, ::-1])
lesson.say("=")
show(full1)
lesson.check(_("∂L/∂x == full convolution of dy with k"), full1, dx1)
lesson.check(
    _("== convlab.convolve2d(padded dy, k) (the slides' convolution flips k)"), convlab.convolve2d(dy1_pad, K), dx1
)

# %%
lesson.step(_("A less symmetric upstream gradient"))
DY2 = np.array([[1, 2, 0], [0, -1, 3], [1, 0, -2]], dtype=float)
lesson.say("dy:")
show(DY2)
lesson.say(_("∂L/∂k[u, v] = Σ_ij x[i+u, j+v]·dy[i, j], one row of dy per line:"))
dk2, patches2 = kernel_gradient_by_hand(DY2)
for (u, v), patch in patches2.items():
    lesson.say(*product_block(f"dk[{u},{v}]", patch, DY2, dk2[u, v]))
lesson.say("∂L/∂k:")
show(dk2)
dx2 = input_gradient_by_hand(DY2)
full2, dy2_pad = full_convolution(DY2, K)
lesson.say(_("∂L/∂x by scatter-add of k·dy[i, j]:"))
show(dx2)
lesson.say(_("∂L/∂x as the full convolution (dy padded with 2 zeros, flipped kernel):"))
show(full2)
dx_lib2, dk_lib2 = library_gradients(DY2)
lesson.check(
    _("∂L/∂k: by hand == correlate2d(x, dy) == conv2d_backward"),
    np.stack([dk2, convlab.correlate2d(X, DY2)]),
    np.stack([dk_lib2, dk_lib2]),
)
lesson.check(
    _("∂L/∂x: scatter-add == full convolution == conv2d_backward"),
    np.stack([dx2, full2]),
    np.stack([dx_lib2, dx_lib2]),
)
p, q = 2, 2
# x[2,2] sits in window (i, j) at kernel position (2 − i, 2 − j): the flipped kernel, row by row.
K_AT_CENTRE = np.array([[K[p - i, q - j] for j in range(3)] for i in range(3)])
lesson.say(
    "",
    _("For example the centre pixel x[2,2] = {value:g} sits in all 9 windows, at kernel position (2−i, 2−j):").format(
        value=X[2, 2]
    ),
)
lesson.say(*product_block("∂L/∂x[2,2]", K_AT_CENTRE, DY2, dx2[p, q]))
lesson.check(_("∂L/∂x[2,2] by the formula"), np.sum(K_AT_CENTRE * DY2), dx2[2, 2])
lesson.check(_("the kernel numbers used are k flipped"), K_AT_CENTRE, K[::-1, ::-1])
lesson.say(
    _("The kernel index 2 − i runs backwards as i runs forwards: that is the flip."),
    "",
    _(
        "The sharpen kernel is symmetric, so its flip is itself. The slides' diagonal filter "
        "[[-1, 0], [0, 1]] is not: there only the flipped kernel gives the right ∂L/∂x."
    ),
)
KD = np.array([[-1, 0], [0, 1]], dtype=float)
DY4 = np.arange(1.0, 17.0).reshape(4, 4)  # the 5×5 input with a 2×2 kernel gives a 4×4 output
dx_diag = convlab.conv2d_backward(as_nhwc(DY4), as_nhwc(X), as_kernel(KD), backend="reference")[0][0, :, :, 0]
flipped, _dy4_pad = full_convolution(DY4, KD)
unflipped = convlab.correlate2d(np.pad(DY4, 1), KD)
lesson.say("dy (4×4):")
show(DY4)
lesson.say(
    _("the flipped kernel [[1, 0], [0, -1]] slid over the padded dy (=\u00a0the full convolution dy\u00a0∗\u00a0k):")
)
show(flipped)
lesson.say(_("without the flip (wrong):"))
show(unflipped)
lesson.check(_("flipped == conv2d_backward"), flipped, dx_diag)
lesson.check_true(_("unflipped != conv2d_backward"), not np.array_equal(unflipped, dx_diag))

# %%
lesson.step(_("Stride 2 and padding 1, as in the slides' 3-channel example"))
lesson.say(
    _(
        "With stride S the outputs read every S-th window. Backward, dilate dy first — spread it out "
        "with S − 1 zeros between its numbers, so each number sits where its window started — and the "
        "same two convolutions work on the padded input; the padding ring is cropped from ∂L/∂x at the end."
    ),
)
DY3 = np.array([[1, -1, 2], [0, 3, 1], [-2, 1, 1]], dtype=float)
X_pad = np.pad(X, 1)
dil = np.zeros((5, 5))
dil[::2, ::2] = DY3
lesson.say(_("dy (3×3 — the output of the 5×5 input with padding 1, stride 2):"))
show(DY3)
lesson.check(_("output size (5 + 2·1 − 3)/2 + 1 = 3"), convlab.conv_output_size(5, 3, 1, 2), DY3.shape[0])
lesson.say(_("dilated dy (5×5):"))
show(dil)
dk3 = convlab.correlate2d(X_pad, dil)
dx3_pad, _dil_pad = full_convolution(dil, K)  # 7×7: the padded input's size
dx3 = dx3_pad[1:-1, 1:-1]
lesson.say(_("∂L/∂k = correlate2d(padded x, dilated dy):"))
show(dk3)
lesson.say(_("∂L/∂x = full convolution of dilated dy with k (7×7), padding ring cropped → 5×5:"))
show(dx3)
dx_lib3, dk_lib3 = library_gradients(DY3, stride=2, padding=1)
lesson.check(_("stride 2, padding 1: ∂L/∂k == conv2d_backward"), dk3, dk_lib3)
lesson.check(_("stride 2, padding 1: ∂L/∂x == conv2d_backward"), dx3, dx_lib3)

# %%
lesson.step(_("Gradient check: compare with central differences"))
H = 1e-5
lesson.say(
    _(
        "Central differences estimate a derivative without any calculus: nudge one number θ by ±h and "
        "measure how L changes,"
    ),
    "    " + _("∂L/∂θ ≈ [L(θ + h) − L(θ − h)] / 2h       (error about h², for smooth L)"),
    _(
        "We do it in float64: numbers with 64 bits, about 16 significant digits (float32, what networks "
        "usually train in, keeps about 7)."
    ),
    "",
    _("By hand, for k[1,1] with the dy of step 5 (L = Σ y·dy, h = {h:g}):").format(h=H),
)


def loss(kernel, dtype):
    """L = Σ (x ⋆ kernel)·dy, computed entirely in ``dtype``.

    Written out in a fixed order (no fused multiply-adds, no library reductions), so the
    float32 result is the same on every machine.
    """
    xs, ks, dys = X.astype(dtype), kernel.astype(dtype), DY2.astype(dtype)
    y = np.zeros((3, 3), dtype)
    for u in range(3):
        for v in range(3):
            y = y + xs[u : u + 3, v : v + 3] * ks[u, v]
    total = dtype(0)
    for value in (y * dys).ravel():
        total = total + value
    return total


numeric = {}
for dtype in (np.float64, np.float32):
    k_plus, k_minus = K.astype(dtype), K.astype(dtype)
    k_plus[1, 1] += dtype(H)
    k_minus[1, 1] -= dtype(H)
    l_plus, l_minus = loss(k_plus, dtype), loss(k_minus, dtype)
    numeric[dtype] = float((l_plus - l_minus) / (k_plus[1, 1] - k_minus[1, 1]))
    lesson.say(f"  {dtype.__name__}: L(+h) = {float(l_plus):.6f}  L(−h) = {float(l_minus):.6f}  → {numeric[dtype]:.8f}")
lesson.say("  " + _("analytic (step 5): dk[1,1] = {value:g}").format(value=dk2[1, 1]))
lesson.check(_("float64 central difference == dk[1,1]"), numeric[np.float64], dk2[1, 1], rtol=1e-6, show_tolerance=True)
lesson.say(
    _(
        "(rtol=1e-6 because float64 rounds L ≈ 1197 to about 1e-13, and dividing by 2h\u00a0=\u00a02e-5 makes "
        "that an error below 1e-7 — while a wrong gradient misses by whole units.)"
    )
)
lesson.check(
    _("float32 central difference is only roughly dk[1,1]"),
    numeric[np.float32],
    dk2[1, 1],
    rtol=1e-2,
    show_tolerance=True,
)
lesson.check_true(_("float32 misses the 1e-6 bar"), not np.isclose(numeric[np.float32], dk2[1, 1], rtol=1e-6, atol=0))
lesson.say(
    _(
        "(float32 rounds L ≈ 1197 to steps of about 1e-4; divided by 2h that is an error of units: "
        "gradient checks run in float64.)"
    ),
    "",
    _("convlab.gradcheck does this for every number of x and k and reports the relative error"),
    "    " + _("max |analytic − numeric| / (|analytic| + |numeric|)"),
    _("(ignoring entries far below the largest gradient; see its docstring). Below 1e-7: correct."),
)
for name, dy, stride, padding in [
    (N_("dy all ones"), DY1, 1, "valid"),
    (N_("chosen dy"), DY2, 1, "valid"),
    (N_("stride 2, padding 1"), DY3, 2, 1),
]:
    errors = convlab.gradcheck(
        lambda x, kernel: convlab.conv2d(x, kernel, strides=stride, padding=padding, backend="reference"),
        lambda g, x, kernel: convlab.conv2d_backward(
            g, x, kernel, strides=stride, padding=padding, backend="reference"
        )[:2],
        {"x": as_nhwc(X), "kernel": as_kernel(K)},
        dy=as_nhwc(dy),
        h=H,
    )
    lesson.say(
        "  "
        + _("{name}: relative error ∂L/∂x {dx:.1e}, ∂L/∂k {dk:.1e}").format(
            name=_(name), dx=errors["x"], dk=errors["kernel"]
        )
    )
    lesson.check_true(
        _("gradient check passes, both < 1e-7 ({name})").format(name=_(name)), max(errors.values()) < 1e-7
    )

fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
viz.draw_matrix(axes[0], X, title=_("input x"))  # a number grid: grey, larger = lighter
panels = [(_("upstream dy"), DY2), ("∂L/∂k = x ⋆ dy", dk2), (_("∂L/∂x = dy ∗ k (full)"), dx2)]
for ax, (title, m) in zip(axes[1:], panels):
    # Every gradient is signed in general (even where this one is not): diverging, white = 0, so
    # that a large gradient is never drawn dark as if it were "about 0".
    top = float(np.abs(m).max()) or 1.0
    viz.draw_matrix(ax, m, title=title, cmap="RdBu_r", vmin=-top, vmax=top)
fig.suptitle(_("input x: grey, larger = lighter · gradients: blue negative, white 0, red positive"), fontsize=10)
lesson.savefig(fig, "gradients")
lesson.finish()
