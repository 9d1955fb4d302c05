"""Lesson 11 — VGG16: built from scratch, then used as a frozen base with a new head (transfer learning).

Course material: seeds/000 builds VGG16 from scratch for 3 emoji classes (13 3×3
convolutions in 5 blocks + 3 dense layers, ``block1_conv1`` … ``fc1``, ``fc2``,
``predictions``) and prints the class probabilities of a user's image; seeds/002
keeps VGG16's ImageNet convolutions frozen, adds ``Flatten → Dense(128, relu) →
Dropout(0.4) → Dense(3, softmax)``, trains with augmentation (shifts of 15%,
flips, rescale 1/255) and prints a classification report.

Keras 3 on TensorFlow does the training here (``convlab.vgg`` is a thin wrapper):
on a GPU when TensorFlow sees one — with mixed precision — and on the CPU
otherwise. Nothing is downloaded: the images are real photos that ship with
scikit-image (``lfw_subset``: 100 faces and 100 non-faces, 25×25 greyscale), and
ImageNet weights are used only if you give a local file.

Your own data and weights::

    python lessons/11_vgg_transfer.py --data my_images/ --image-size 224 --epochs 20 \\
        --weights vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 --image my_face.jpg

``my_images/`` holds one sub-folder per class (``Angry/``, ``Happy/``, ``Sad/`` …) as
``flow_from_directory`` reads. The weights file is Keras' ImageNet file without top
(get it once, on a machine with internet, e.g. with
``keras.applications.VGG16(weights="imagenet", include_top=False).save_weights("vgg16_notop.weights.h5")``).
On a machine with a CUDA GPU and ``pip install "tensorflow[and-cuda]"``, the same
command trains on the GPU (the first line of training names the device).

Run: ``python lessons/11_vgg_transfer.py [--step] [--out DIR] [--quick]``.
``--quick``: 32×32 images, 8 per class, 1 epoch — counts and shapes are checked, not accuracy.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter

import numpy as np

import convlab
from convlab.images import make_photo_folder, read_image_folder
from convlab.lesson import Lesson, int_at_least


def extra_args(parser):
    parser.add_argument("--data", help="your folder-per-class images (default: faces vs non-faces from scikit-image)")
    parser.add_argument(
        "--weights",
        help="a local VGG16 weights file for the frozen base, e.g. ImageNet's "
        "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    )
    parser.add_argument("--image", help="an image to classify at the end (default: one test image)")
    parser.add_argument(
        "--image-size", type=int_at_least("--image-size", 32), default=None, help="side in pixels (default 32; ≥ 32)"
    )
    parser.add_argument(
        "--epochs", type=int_at_least("--epochs", 1), default=None, help="epochs per model (default 3; 1 with --quick)"
    )


lesson = Lesson(__file__, "VGG16 from scratch and transfer learning (Keras 3)", extra_args=extra_args)
args = lesson.args
size = args.image_size or 32
epochs = args.epochs or (1 if lesson.quick else 3)

try:
    import keras
except ImportError:
    from convlab.vgg import INSTALL_HINT

    raise SystemExit(INSTALL_HINT) from None
from convlab import vgg

keras.utils.set_random_seed(0)

# --------------------------------------------------------------------------------------------
lesson.step("Why VGG stacks 3×3 convolutions")
lesson.say(
    "Two 3×3 convolutions in a row see a 5×5 window of the input, three see 7×7:",
    "  receptive field of L stacked K×K convs (stride 1) = 1 + L·(K − 1).",
    "With C channels in and out (biases aside) the stack has fewer weights than one big kernel,",
    "and one ReLU per layer instead of one in total (Simonyan & Zisserman 2015, §2.3):",
)
for layers, big in ((2, 5), (3, 7)):
    lesson.check(f"{layers} stacked 3×3 convs see {big}×{big}", 1 + layers * (3 - 1), big)
c = 512
for layers, big in ((2, 5), (3, 7)):
    stacked = layers * convlab.conv2d_param_count(c, 3, c, use_bias=False)
    single = convlab.conv2d_param_count(c, big, c, use_bias=False)
    lesson.say(
        f"  C = {c}: {layers}·(3·3·C²) = {layers * 9}C² = {stacked:,} weights   vs   "
        f"{big}·{big}·C² = {big * big}C² = {single:,}  ({1 - stacked / single:.0%} fewer)"
    )
    lesson.check(f"{layers}·9·{c}² weights", stacked, layers * 9 * c * c)
lesson.check("two 3×3 at C=512", 2 * 9 * 512**2, 4_718_592)
lesson.check("one 5×5 at C=512", 25 * 512**2, 6_553_600)

# --------------------------------------------------------------------------------------------
table_size = 32 if lesson.quick else 224
lesson.step(f"The architecture table at {table_size}×{table_size}×3, 3 classes: convlab and Keras side by side")


def convlab_vgg16(side, classes):
    from convlab.layers import Conv2D, Dense, Flatten, Input, MaxPooling2D

    layers = [Input((side, side, 3))]
    for b, (filters, n) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)), 1):
        layers += [
            Conv2D(filters, 3, padding="same", activation="relu", name=f"block{b}_conv{i}") for i in range(1, n + 1)
        ]
        layers.append(MaxPooling2D(2, strides=2, name=f"block{b}_pool"))
    layers += [
        Flatten(name="flatten"),
        Dense(4096, activation="relu", name="fc1"),
        Dense(4096, activation="relu", name="fc2"),
        Dense(classes, activation="softmax", name="predictions"),
    ]
    return convlab.Sequential(layers, name="vgg16")


ours = convlab_vgg16(table_size, 3)
lesson.say("convlab (computed from the output-size and parameter formulas):")
ours.summary(show_formula=True)
theirs = vgg.vgg16(classes=3, input_shape=(table_size, table_size, 3))
lesson.say("", "Keras (keras.applications.VGG16's layers, via convlab.vgg.vgg16):")
theirs.summary()
rows_ours = [(l.name, tuple(l.output_shape), l.count_params()) for l in ours.layers]
rows_keras = [(l.name, tuple(l.output.shape), l.count_params()) for l in theirs.layers[1:]]
lesson.check("every layer's name, output shape and parameters agree", rows_ours == rows_keras, True)
lesson.check("total parameters agree", ours.count_params(), theirs.count_params())
if table_size == 224:
    lesson.check("VGG16, 3 classes (seeds/000)", theirs.count_params(), 134_272_835)
else:
    fc1 = (table_size // 32) ** 2 * 512 * 4096 + 4096
    lesson.say(
        f"(--quick: at 32×32 the flatten has 1·1·512 inputs, so fc1 has 512·4096 + 4096 = {fc1:,};",
        " at 224×224 it is 25088·4096 + 4096 = 102,764,544 — run without --quick for the full table)",
    )
    lesson.check(
        "32×32: 224×224's 134,272,835 minus the fc1 difference",
        theirs.count_params(),
        134_272_835 - (102_764_544 - fc1),
    )
del ours, theirs

# --------------------------------------------------------------------------------------------
lesson.step("A small real data set: faces vs non-faces (scikit-image's lfw_subset)")
if args.data:
    data_dir = args.data
    lesson.say(f"Your folder: {data_dir}")
else:
    per_class = 8 if lesson.quick else 100
    data_dir = make_photo_folder(lesson.out / "data" / "faces", "faces", per_class=per_class)
    lesson.say(
        f"Wrote {2 * per_class} PNGs (25×25 greyscale crops from the LFW data set) to {data_dir}/face and "
        f"{data_dir}/not_face — the folder-per-class layout of flow_from_directory."
    )
data = read_image_folder(data_dir, (size, size))
lesson.say(f"Read {len(data)} images, resized to {size}×{size}×3: {data.counts()}")
lesson.check("images are (N, H, W, 3)", data.images.shape, (len(data), size, size, 3))
lesson.check_true("pixels are uint8 0–255 (rescaled by 1/255 in the pipeline)", data.images.dtype == np.uint8)
n_classes = len(data.class_names)

# --------------------------------------------------------------------------------------------
lesson.step(f"VGG16 from scratch (seeds/000) on {size}×{size} images, {epochs} epoch(s)")
scratch = vgg.vgg16(classes=n_classes, input_shape=(size, size, 3))
lesson.say(f"{scratch.count_params():,} parameters, all trained from random values.")
lesson.say(
    "Learning rate: seeds/000 used Adam's default 0.001 and stalled at 47% training accuracy (40% on its",
    "test images). Without batch normalisation a 16-layer VGG often 'dies' at that rate: every ReLU",
    "outputs 0 and the loss sticks at ln(classes). A 10× smaller rate, 0.0001, keeps it alive.",
)
res_scratch = vgg.train(scratch, data, epochs=epochs, batch_size=32, learning_rate=1e-4, verbose=2)
per_epoch = res_scratch.epoch_seconds
lesson.say(
    f"seconds per epoch: {', '.join(f'{t:.1f}' for t in per_epoch)}  ({res_scratch.device})",
    "16 layers learn slowly from random values and a few hundred images are far too few —",
    "which is why seeds/002 starts from ImageNet weights.",
)
lesson.check(
    "split sizes add up", len(res_scratch.train) + len(res_scratch.validation) + len(res_scratch.test), len(data)
)
lesson.check("one loss value per epoch", len(res_scratch.history.history["loss"]), epochs)

# --------------------------------------------------------------------------------------------
lesson.step("Transfer learning (seeds/002): frozen base + Flatten → Dense(128) → Dropout(0.4) → Dense(softmax)")
if args.weights:
    base_weights = args.weights
    lesson.say(f"Base weights: your file {base_weights}")
else:
    base_weights = vgg.save_model(scratch, lesson.out / "vgg16_scratch.weights.h5")
    lesson.say(
        "No ImageNet weights ship with convlab (and nothing is downloaded), so the frozen base here",
        f"loads the from-scratch model's convolutions we just saved ({base_weights.name}, written",
        "atomically). Pass --weights vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 for the real thing.",
    )
model = vgg.transfer_model(n_classes, weights=base_weights, input_shape=(size, size, 3))
model.summary()
trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
flat = (size // 32) ** 2 * 512
lesson.check(
    "trainable = the head only: flatten·128 + 128 + 128·classes + classes",
    trainable,
    flat * 128 + 128 + 128 * n_classes + n_classes,
)
lesson.check("base has the same parameters as VGG16 without top", model.layers[0].count_params(), 14_714_688)
if not args.weights:
    lesson.check(
        "block1_conv1 kernel loaded from the file",
        np.array_equal(
            model.layers[0].get_layer("block1_conv1").kernel.numpy(), scratch.get_layer("block1_conv1").kernel.numpy()
        ),
        True,
    )
lesson.say("At 224×224×3 with 3 classes the same model has 17,926,467 parameters, 3,211,779 trainable.")
res = vgg.train(model, data, epochs=epochs, batch_size=32, verbose=2)
lesson.say(f"seconds per epoch: {', '.join(f'{t:.1f}' for t in res.epoch_seconds)}")

# --------------------------------------------------------------------------------------------
lesson.step("Training curves")
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for label, r in (("from scratch", res_scratch), ("transfer", res)):
    h = r.history.history
    ep = np.arange(1, len(h["loss"]) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        ax.plot(ep, h[key], "o-", label=f"{label}: train")
        if f"val_{key}" in h:
            ax.plot(ep, h[f"val_{key}"], "s--", label=f"{label}: validation")
for ax, key in zip(axes, ("categorical cross-entropy", "accuracy")):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.legend(fontsize=8)
fig.suptitle(f"VGG16 on {len(data)} images, {size}×{size}")
fig.tight_layout()
lesson.savefig(fig, "training_curves")

# --------------------------------------------------------------------------------------------
lesson.step("Classification report on the test split (seeds/002's table)")
report = vgg.evaluate_report(model, res, title="Transfer model, test split")
lesson.say(str(report))
lesson.check("confusion matrix is classes × classes", report.confusion.shape, (n_classes, n_classes))
lesson.check("it counts every test image", int(report.confusion.sum()), len(res.test))
lesson.savefig(report.figure, "confusion_matrix")
lesson.say(
    "seeds/002 reached 64% test accuracy (F1 0.33/0.80/0.71) with ImageNet weights and 30 epochs. Here the",
    "base is a few epochs of our own from-scratch VGG and the test split is tiny, so the numbers move from run",
    "to run and machine to machine: no accuracy is checked, the mechanics are the point.",
)

# --------------------------------------------------------------------------------------------
lesson.step("Prediction on one image (seeds/000's printout)")
image = args.image or res.test.paths[0]
lesson.say(f"{image}:")
top = vgg.predict_image(model, image, res.class_names, top=3)
lesson.check("probabilities sum to 1", sum(p for _, p in top), 1.0, atol=1e-4)

# --------------------------------------------------------------------------------------------
lesson.step("Fine-tuning: unfreeze the last block, recompile with a low learning rate")
vgg.unfreeze(model, from_layer="block5_conv1", learning_rate=1e-5)
after = int(sum(np.prod(v.shape) for v in model.trainable_weights))
lesson.say(f"trainable parameters: {trainable:,} → {after:,} (+ block5's three convs, 3·2,359,808)")
lesson.check("block5 adds 3·(512·3·3·512 + 512)", after - trainable, 3 * 2_359_808)
if not lesson.quick:
    res_ft = vgg.train(model, data, epochs=1, batch_size=32, verbose=2)
    lesson.say(f"one fine-tuning epoch: {res_ft.epoch_seconds[0]:.1f} s")

# --------------------------------------------------------------------------------------------
lesson.step("Your own folder, your own ImageNet weights, a GPU")
lesson.say(
    "  python lessons/11_vgg_transfer.py --data my_images/ --image-size 224 --epochs 20 \\",
    "      --weights vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 --image my_face.jpg",
    "In Python:",
    "  from convlab import vgg",
    "  model = vgg.transfer_model(3, weights='vgg16_notop.weights.h5')   # never downloads",
    "  result = vgg.train(model, 'my_images/', epochs=20)               # split 10% test, 20% of rest val",
    "  print(vgg.evaluate_report(model, result))",
    "  vgg.predict_image(model, 'my_face.jpg', result.class_names)",
    "  vgg.save_model(model, 'emotions.keras', class_names=result.class_names)   # atomic",
    "Then classify your photos in the browser: convlab serve --model emotions.keras (the 'Your model' page).",
    "GPU: install TensorFlow with CUDA (pip install 'tensorflow[and-cuda]'); training then runs on the GPU",
    "with mixed precision (float16 compute, float32 outputs). Several GPUs: build the model with",
    "strategy=tf.distribute.MirroredStrategy().",
)
lesson.finish()
