"""Lesson 07 — backpropagation through a convolution, by hand, on the slides' 5×5 example.

The forward pass (lesson 03) slid the sharpen kernel over the 5×5 input::

    y[i, j] = Σ_u Σ_v x[i + u, j + v] · k[u, v]        (stride 1, no padding → 3×3)

Training needs the gradient of a loss ``L`` with respect to the kernel (to
update it) and to the input (to pass further back). Given ``dy = ∂L/∂y``, the
chain rule sums over every output number that used a weight or a pixel::

    ∂L/∂k[u, v] = Σ_i Σ_j x[i + u, j + v] · dy[i, j]      ← cross-correlation of x with dy
    ∂L/∂x[p, q] = Σ_i Σ_j k[p − i, q − j] · dy[i, j]      ← "full" convolution of dy with k

Both are convolutions again: the kernel gradient slides ``dy`` over the input
like a 3×3 filter; the input gradient pads ``dy`` with ``K − 1 = 2`` zeros and
slides the *flipped* kernel over it (a true convolution, as the slides define
it). This lesson prints every number, computes each gradient both ways, checks
them against ``convlab.conv2d_backward`` and finally against a numerical
gradient (``convlab.gradcheck``).

Run: ``python lessons/07_backprop_by_hand.py [--step] [--out DIR] [--quick]``.
Figure: input, dy, ∂L/∂k and ∂L/∂x side by side.
"""

import matplotlib.pyplot as plt
import numpy as np

import convlab
from convlab.lesson import Lesson

lesson = Lesson(__file__, "Backpropagation by hand: the gradient of the slides' convolution")

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


def show(m, indent="    "):
    """Print a matrix of integer values, one row per line, aligned."""
    m = np.asarray(m)
    width = max(len(f"{v:g}") for v in m.ravel())
    for row in m:
        print(indent + " ".join(f"{v:>{width}g}" for v in row))


def term(p, q):
    """One product as the slides write it: negative factors in parentheses."""
    a = f"{p:g}" if p >= 0 else f"({p:g})"
    b = f"{q:g}" if q >= 0 else f"({q:g})"
    return f"{a}*{b}"


def as_nhwc(image):
    return np.asarray(image, dtype=float)[None, :, :, None]


def as_kernel(k):
    return np.asarray(k, dtype=float)[:, :, None, None]


def library_gradients(dy, stride=1, padding="valid"):
    """``(dx, dk)`` from convlab.conv2d_backward (reference loops), as 2-D matrices."""
    dx, dk, _ = convlab.conv2d_backward(
        as_nhwc(dy), as_nhwc(X), as_kernel(K), strides=stride, padding=padding, backend="reference"
    )
    return dx[0, :, :, 0], dk[:, :, 0, 0]


def kernel_gradient_by_hand(dy, verbose=True):
    """∂L/∂k[u, v] = Σ_ij x[i+u, j+v]·dy[i, j], printing each of the 9 sums."""
    oh, ow = dy.shape
    dk = np.zeros_like(K)
    for u in range(K.shape[0]):
        for v in range(K.shape[1]):
            patch = X[u : u + oh, v : v + ow]  # the pixels that weight (u, v) touched
            dk[u, v] = np.sum(patch * dy)
            if verbose:
                text = " + ".join(term(p, q) for p, q in zip(patch.ravel(), dy.ravel()))
                print(f"    dk[{u},{v}] = {text} = {dk[u, v]:g}")
    return dk


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


# ------------------------------------------------------------------------------------------
lesson.step("The forward pass we differentiate (lesson 03)")
lesson.say("input x (5×5):")
show(X)
lesson.say("kernel k (3×3, sharpen):")
show(K)
Y = convlab.correlate2d(X, K)
lesson.say("y = x ⋆ k (stride 1, no padding):")
show(Y)
lesson.check("forward output equals the slide", Y, Y_SLIDES)
lesson.say(
    "",
    "A loss L depends on y; backpropagation hands us dy = ∂L/∂y, one number per output (3×3).",
    "For L = Σ y (the sum of the outputs), dy is all ones.",
)

# ------------------------------------------------------------------------------------------
lesson.step("∂L/∂k with dy = all ones: each weight collects the pixels it multiplied")
DY1 = np.ones((3, 3))
lesson.say("dy:")
show(DY1)
lesson.say("Weight k[u, v] multiplied x[i+u, j+v] in output (i, j), so ∂L/∂k[u, v] = Σ_ij x[i+u, j+v]·dy[i, j]:")
dk1 = kernel_gradient_by_hand(DY1)
lesson.say("∂L/∂k:")
show(dk1)
dx_lib, dk_lib = library_gradients(DY1)
lesson.check("by hand == convlab.conv2d_backward (kernel)", dk1, dk_lib)
dk1_corr = convlab.correlate2d(X, DY1)
lesson.say(
    "",
    "That is the cross-correlation of the input with dy — dy slides over x like a 3×3 filter:",
    "convlab.correlate2d(x, dy) =",
)
show(dk1_corr)
lesson.check("∂L/∂k == correlate2d(x, dy)", dk1_corr, dk1)

# ------------------------------------------------------------------------------------------
lesson.step("∂L/∂x with dy = all ones: each output sends k·dy back to its window")
dx1 = input_gradient_by_hand(DY1)
lesson.say(
    "Adding k·dy[i, j] onto window (i, j) for the 9 outputs gives ∂L/∂x (how many times,",
    "and with which weight, each pixel was used):",
)
show(dx1)
lesson.check("by hand == convlab.conv2d_backward (input)", dx1, dx_lib)
full1, dy1_pad = full_convolution(DY1, K)
lesson.say("", "The same as a 'full' convolution: pad dy with K − 1 = 2 zeros on every side …")
show(dy1_pad)
lesson.say("… and slide the flipped kernel k[::-1, ::-1] over it (output 7 − 3 + 1 = 5):")
show(K[::-1, ::-1])
lesson.say("=")
show(full1)
lesson.check("∂L/∂x == full convolution of dy with k", full1, dx1)
lesson.check(
    "== convlab.convolve2d(padded dy, k) (the slides' convolution flips k)", convlab.convolve2d(dy1_pad, K), dx1
)

# ------------------------------------------------------------------------------------------
lesson.step("A less symmetric upstream gradient")
DY2 = np.array([[1, 2, 0], [0, -1, 3], [1, 0, -2]], dtype=float)
lesson.say("dy:")
show(DY2)
lesson.say("∂L/∂k[u, v] = Σ_ij x[i+u, j+v]·dy[i, j]:")
dk2 = kernel_gradient_by_hand(DY2)
show(dk2)
dx2 = input_gradient_by_hand(DY2)
full2, dy2_pad = full_convolution(DY2, K)
lesson.say("∂L/∂x by scatter-add of k·dy[i, j]:")
show(dx2)
lesson.say("∂L/∂x as the full convolution (dy padded with 2 zeros, flipped kernel):")
show(full2)
dx_lib2, dk_lib2 = library_gradients(DY2)
lesson.check(
    "∂L/∂k: by hand == correlate2d(x, dy) == conv2d_backward",
    np.stack([dk2, convlab.correlate2d(X, DY2)]),
    np.stack([dk_lib2, dk_lib2]),
)
lesson.check(
    "∂L/∂x: scatter-add == full convolution == conv2d_backward", np.stack([dx2, full2]), np.stack([dx_lib2, dx_lib2])
)
p, q = 2, 2
terms = [(K[p - i, q - j], DY2[i, j]) for i in range(3) for j in range(3) if 0 <= p - i < 3 and 0 <= q - j < 3]
lesson.say(
    "",
    f"For example the centre pixel x[2,2] = {X[2, 2]:g} sits in all 9 windows, at kernel position (2−i, 2−j):",
    "    ∂L/∂x[2,2] = " + " + ".join(term(a, b) for a, b in terms) + f" = {dx2[p, q]:g}",
)
lesson.check("∂L/∂x[2,2] by the formula", sum(a * b for a, b in terms), dx2[2, 2])
lesson.say("Note the kernel index p − i runs backwards as i runs forwards: that is the flip.")
lesson.say(
    "",
    "The sharpen kernel is symmetric, so its flip is itself. The slides' diagonal filter",
    "[[-1, 0], [0, 1]] is not: there only the flipped kernel gives the right ∂L/∂x.",
)
KD = np.array([[-1, 0], [0, 1]], dtype=float)
DY4 = np.arange(1.0, 17.0).reshape(4, 4)  # the 5×5 input with a 2×2 kernel gives a 4×4 output
dx_diag = convlab.conv2d_backward(as_nhwc(DY4), as_nhwc(X), as_kernel(KD), backend="reference")[0][0, :, :, 0]
flipped, _ = full_convolution(DY4, KD)
unflipped = convlab.correlate2d(np.pad(DY4, 1), KD)
lesson.say("dy (4×4):")
show(DY4)
lesson.say("full convolution with the flipped kernel [[1, 0], [0, -1]]:")
show(flipped)
lesson.say("without the flip (wrong):")
show(unflipped)
lesson.check("flipped == conv2d_backward", flipped, dx_diag)
lesson.check_true("unflipped != conv2d_backward", not np.array_equal(unflipped, dx_diag))

# ------------------------------------------------------------------------------------------
lesson.step("Stride 2 and padding 1 (the slides' 3-channel example uses these)")
lesson.say(
    "With stride S the outputs read every S-th window. Backward, spread dy out with S − 1 zeros",
    "between its numbers ('dilate') and the same two convolutions work; the padding rows are cropped.",
)
DY3 = np.array([[1, -1, 2], [0, 3, 1], [-2, 1, 1]], dtype=float)
X_pad = np.pad(X, 1)
dil = np.zeros((5, 5))
dil[::2, ::2] = DY3
lesson.say("dy (3×3 — the output of the 5×5 input with padding 1, stride 2):")
show(DY3)
lesson.say("dilated dy (5×5):")
show(dil)
dk3 = convlab.correlate2d(X_pad, dil)
dx3_pad, _ = full_convolution(dil, K)  # 7×7: the padded input's size
dx3 = dx3_pad[1:-1, 1:-1]
lesson.say("∂L/∂k = correlate2d(padded x, dilated dy):")
show(dk3)
lesson.say("∂L/∂x = full convolution of dilated dy with k (7×7), padding ring cropped → 5×5:")
show(dx3)
dx_lib3, dk_lib3 = library_gradients(DY3, stride=2, padding=1)
lesson.check("stride 2, padding 1: ∂L/∂k == conv2d_backward", dk3, dk_lib3)
lesson.check("stride 2, padding 1: ∂L/∂x == conv2d_backward", dx3, dx_lib3)

# ------------------------------------------------------------------------------------------
lesson.step("Gradient check: compare with central differences")
lesson.say(
    "Nudge each number by ±h (h = 1e-5, float64) and measure how L = Σ y·dy changes:",
    "    ∂L/∂θ ≈ [L(θ + h) − L(θ − h)] / 2h",
    "relative error = max |analytic − numeric| / (|analytic| + |numeric|)  (< 1e-7: correct;",
    "see convlab.gradcheck for the exact formula and thresholds)",
)
for name, dy, stride, padding in [
    ("dy all ones", DY1, 1, "valid"),
    ("chosen dy", DY2, 1, "valid"),
    ("stride 2, padding 1", DY3, 2, 1),
]:
    errors = convlab.gradcheck(
        lambda x, kernel: convlab.conv2d(x, kernel, strides=stride, padding=padding, backend="reference"),
        lambda g, x, kernel: convlab.conv2d_backward(
            g, x, kernel, strides=stride, padding=padding, backend="reference"
        )[:2],
        {"x": as_nhwc(X), "kernel": as_kernel(K)},
        dy=as_nhwc(dy),
    )
    lesson.say(f"  {name}: relative error ∂L/∂x {errors['x']:.1e}, ∂L/∂k {errors['kernel']:.1e}")
    lesson.check_true(f"gradient check passes ({name})", max(errors.values()) < 1e-7)

fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
for ax, (title, m) in zip(
    axes, [("input x", X), ("upstream dy", DY2), ("∂L/∂k = x ⋆ dy", dk2), ("∂L/∂x = dy ∗ k (full)", dx2)]
):
    ax.imshow(m, cmap="coolwarm" if m.min() < 0 else "gray")
    for (r, c), v in np.ndenumerate(m):
        ax.text(
            c,
            r,
            f"{v:g}",
            ha="center",
            va="center",
            fontsize=8,
            bbox=dict(facecolor="white", alpha=0.75, edgecolor="none", pad=1),
        )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
lesson.savefig(fig, "gradients")
lesson.finish()
