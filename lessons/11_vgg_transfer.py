# %% [markdown]
# # Lesson 11 — Pretrained networks: VGG16 and its kin, the slides' prediction walk-through, transfer learning
#
# Why it matters: training a deep CNN takes millions of labelled images; a network
# already trained on ImageNet can be reused. Keep its convolutional base, which turns
# a photo into useful features, and train only a small classifier on your own few
# hundred images — how most image classifiers are built in practice.
#
# Course material, in the deck's order (seeds/003, "Modelos pre-entrenados" to the
# end): a convolutional base and a classifier; ImageNet and ILSVRC; the pretrained
# networks Keras offers — VGG16, InceptionV3, Xception, ResNet50, MobileNet — built
# with `weights=None` and their parameter counts and input sizes checked; VGG16's
# design (why stacked 3×3 convolutions); the slides' VGG16 walk-through on one photo
# (`load_img` → 224×224×3 → a batch 1×224×224×3 → `preprocess_input`, RGB → BGR
# minus the ImageNet means, printed for one pixel → `predict` → 1×1000 →
# `decode_predictions`); and the slides' fine-tuning recipe (add a classifier,
# freeze the base and train, then train both together). seeds/000 builds VGG16 from
# scratch for 3 classes; seeds/002 keeps VGG16's convolutions frozen under
# `Flatten → Dense(128, relu) → Dropout(0.4) → Dense(3, softmax)` and prints a
# classification report.
#
# Keras 3 on TensorFlow does the training here (`convlab.vgg` is a thin wrapper),
# on a GPU when TensorFlow sees one and on the CPU otherwise. Without TensorFlow the
# lesson is skipped. Nothing is downloaded and nothing big is written: the images
# ship with scikit-image (`chelsea`, a cat, for the walk-through; `lfw_subset`,
# faces and non-faces, for training, in a temporary folder), the frozen base gets
# the from-scratch model's convolutions in memory, and ImageNet weights are used
# only when you give a local file: without them the walk-through runs the untrained
# network and says what the slide's "tiger 0.9202" needs.
#
# Your own data and weights:
# ```
# python lessons/11_vgg_transfer.py --weights vgg16_weights_tf_dim_ordering_tf_kernels.h5 \
#     --photo tigre.jpg --data my_images/ --image-size 224 --epochs 20 --image my_face.jpg \
#     --save emotions.keras
# ```
#
# `--weights`: Keras' ImageNet file for VGG16, fetched by hand (the lesson prints
# the address Keras itself would use, `WEIGHTS_PATH` in Keras' `vgg16` module). The
# file with the classifier (`..._kernels.h5`, 528 MiB) gives the walk-through's real
# prediction and the frozen base; the one without (`..._kernels_notop.h5`) only the
# base. The slide's "tiger 0.9202" also needs the slide's own photo (the deck's
# `tigre.jpg`, `--photo`), and the class names need Keras' class list already at
# `~/.keras/models/imagenet_class_index.json`: the lesson reads that file itself
# (`decode_predictions` would download it when missing) and otherwise prints class
# numbers. `my_images/` holds one sub-folder per class, as Keras'
# `image_dataset_from_directory` reads. `--save` writes the trained transfer
# model (`.keras`, class names included) for `convlab serve --model`.
#
# Run: `python lessons/11_vgg_transfer.py [--step] [--out DIR] [--quick] [--lang es]`.
# `--quick`: 32×32 training images, 8 per class, 1 epoch — counts and shapes are
# checked, not accuracy.

# %%
import gc
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

import convlab
from convlab import viz
from convlab.images import make_photo_folder, read_image_folder
from convlab.lesson import Lesson, _, int_at_least, ngettext

#: The deck's five pretrained networks: name, default input side, Keras' count_params() with the classifier.
NETWORKS = (
    ("VGG16", 224, 138_357_544),
    ("InceptionV3", 299, 23_851_784),
    ("Xception", 299, 22_910_480),
    ("ResNet50", 224, 25_636_712),
    ("MobileNet", 224, 4_253_864),
)
#: ILSVRC's classes: the length of every ImageNet classifier's output.
ILSVRC_CLASSES = 1000
#: What vgg16.preprocess_input subtracts from the B, G and R channels (ImageNet's channel means).
IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)
#: The slide's top five for its tiger photo with the ImageNet weights: decode_predictions' tuples, each
#: with its class number in the standard ILSVRC-2012 order (imagenet_class_index.json's keys).
SLIDE_TOP5 = (
    (292, "n02129604", "tiger", 0.92024356),
    (282, "n02123159", "tiger_cat", 0.07646653),
    (290, "n02128925", "jaguar", 0.0027824175),
    (287, "n02127052", "lynx", 0.00025741145),
    (288, "n02128385", "leopard", 0.0001807782),
)
#: Keras' class list for decode_predictions and the MD5 Keras checks it against (a mismatch re-downloads);
#: the lesson reads it itself, and only when it is there with that MD5.
CLASS_INDEX_FILE = "imagenet_class_index.json"
CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"


def extra_args(parser):
    parser.add_argument(
        "--weights",
        metavar="PATH",
        help=_(
            "a local VGG16 ImageNet weights file, never downloaded: vgg16_weights_tf_dim_ordering_tf_kernels.h5 "
            "(with the classifier: the walk-through's real prediction and the frozen base) or ..._notop.h5 (the "
            "base only); the slide's tiger needs this file and --photo"
        ),
    )
    parser.add_argument(
        "--photo", metavar="PATH", help=_("the photo of the prediction walk-through (default: scikit-image's cat)")
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        help=_("your folder-per-class images (default: faces vs non-faces from scikit-image)"),
    )
    parser.add_argument(
        "--image",
        metavar="PATH",
        help=_("an image for the transfer model to classify (default: one test image)"),
    )
    parser.add_argument(
        "--image-size",
        metavar="N",
        type=int_at_least("--image-size", 32),
        default=None,
        help=_("side in pixels (default 32; ≥ 32)"),
    )
    parser.add_argument(
        "--epochs",
        metavar="N",
        type=int_at_least("--epochs", 1),
        default=None,
        help=_("epochs per model (default 3; 1 with --quick)"),
    )
    parser.add_argument(
        "--save",
        metavar="PATH",
        help=_("write the trained transfer model there (a .keras file, class names included)"),
    )


lesson = Lesson(__file__, "Pretrained networks, VGG16 and transfer learning", extra_args=extra_args)
args = lesson.args
for option, value in (("--weights", args.weights), ("--photo", args.photo), ("--image", args.image)):
    if value and not Path(value).is_file():
        raise SystemExit(
            _("{option} {value!r}: no such file (the lesson never downloads anything)").format(
                option=option, value=value
            )
        )
if args.save and not args.save.lower().endswith(".keras"):
    raise SystemExit(_("--save {path!r}: the file name must end in .keras").format(path=args.save))
size = args.image_size or 32
epochs = args.epochs or (1 if lesson.quick else 3)

import matplotlib.pyplot as plt  # after Lesson(): it chooses the headless backend

lesson.say(
    _(
        "Why it matters: training a deep CNN takes millions of labelled images. A network already trained on "
        "ImageNet can be reused: keep its convolutional base, which turns a photo into useful features, and train "
        "only a small classifier on your own few hundred images. That is how the deck ends, and how most image "
        "classifiers are built in practice."
    )
)

try:
    from convlab.bridge.optional import import_keras

    keras = import_keras("lesson 11")
except ImportError as exc:
    lesson.skip(str(exc))
from convlab import vgg

keras.utils.set_random_seed(0)
# The faces and the walk-through's photo are inputs, not results: they live in a temporary folder.
scratch_dir = tempfile.TemporaryDirectory(prefix="convlab-11-")


def has_classifier(path):
    """Whether a VGG16 weights file holds the classifier (fc1, fc2, predictions); ``None`` when it cannot tell.

    Asked before loading: a file without the classifier would fill the base and leave the
    top half random, which Keras reports only in warnings.
    """
    if not str(path).lower().endswith((".h5", ".hdf5")):
        return None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            group = f["model_weights"] if "model_weights" in f and "layer_names" not in f.attrs else f
            if "layer_names" in group.attrs:  # Keras 2 files (keras.io's) list their layers by name
                names = {n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["layer_names"]}
                return {"fc1", "fc2", "predictions"} <= names
            if "layers" in f:  # Keras 3 .weights.h5 files name layers by type: the classifier is 3 dense ones
                return sum(name.startswith("dense") for name in f["layers"]) >= 3
    except OSError:  # not an HDF5 file: load_weights says so
        return None
    return None


def keras_table(model, **kwargs):
    """Keras' own model.summary(), drawn to fit 80 columns and printed through the lesson."""
    model.summary(line_length=78, print_fn=lambda text, **_unused: lesson.say(text.rstrip("\n")), **kwargs)


def trainable_count(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


def say_training(result, setup=True):
    """The training run in lines that fit 80 columns (Keras' own progress lines are wider).

    ``setup=False`` leaves out the device and the split, already printed for the first run.
    """
    h = result.history.history
    if setup:
        lesson.say(
            _("Trained on {device}").format(device=result.device),
            _("Images: train {train}, validation {validation}, test {test}.").format(
                train=len(result.train), validation=len(result.validation), test=len(result.test)
            ),
        )
    for e in range(len(h["loss"])):
        numbers = {
            "epoch": e + 1,
            "loss": h["loss"][e],
            "accuracy": h["accuracy"][e],
            "seconds": result.epoch_seconds[e],
        }
        if "val_loss" in h:
            line = _(
                "epoch {epoch}: loss {loss:.4f}, accuracy {accuracy:.2f}, validation loss {val_loss:.4f}"
                "  ({seconds:.1f} s)"
            ).format(val_loss=h["val_loss"][e], **numbers)
        else:
            line = _("epoch {epoch}: loss {loss:.4f}, accuracy {accuracy:.2f}  ({seconds:.1f} s)").format(**numbers)
        lesson.say("  " + line)


# %%
lesson.step(_("Pretrained models: a convolutional base from ImageNet"))
lesson.say(
    _(
        "The slides split a CNN in two: the convolutional base (convolutions, pooling and flattening: feature "
        "extraction) and the classifier on top (a dense network). A pretrained model is one whose weights were "
        "already learned on a large data set — in Keras and in the slides, that is ImageNet:"
    ),
    _(
        "- ImageNet: a database for recognising objects in images, 14 million images labelled with the names of "
        "objects from more than 20,000 categories."
    ),
    _(
        "- ILSVRC, the ImageNet Large Scale Visual Recognition Challenge, uses 1,000 of those categories: about "
        "1.2 million training images (about 1,200 per class on average), 50,000 validation and 100,000 test "
        'images. "Pretrained" in Keras means trained on them, so every classifier below ends in 1,000 outputs '
        "(checked next step)."
    ),
    _(
        "Transfer learning keeps the base, with what ImageNet taught it (edges, textures, parts of objects), and "
        "trains a new classifier for your own classes; fine-tuning then adjusts the base a little too."
    ),
)

# %%
lesson.step(_("Five pretrained networks in Keras, built with weights=None"))
lesson.say(
    _(
        "The slides list VGG16, InceptionV3, Xception, ResNet50 and MobileNet. Each can serve as the "
        "convolutional base, with a classifier (a dense network) fitted on top. "
        "keras.applications.X(weights=None) builds a network with random starting weights: nothing is "
        'downloaded. (weights="imagenet" would download the trained ones; convlab never does.) Each is built '
        "and counted, then freed before the next:"
    )
)


def layer_types(model, kind):
    return [layer for layer in model.layers if type(layer).__name__ == kind]


facts = {}
for name, _side, _params in NETWORKS:
    # Only counted, never run: the variables get their shapes but not their random starting
    # values, which would take most of the build time and, for VGG16, 528 MiB of memory.
    with keras.StatelessScope(initialize_variables=False):
        model = getattr(keras.applications, name)(weights=None)
    info = {
        "params": model.count_params(),
        "input": tuple(model.input_shape[1:]),
        "outputs": int(model.output_shape[-1]),
    }
    if name == "VGG16":
        info["weighted"] = len(layer_types(model, "Conv2D")) + len(layer_types(model, "Dense"))
        info["classifier"] = sum(model.get_layer(n).count_params() for n in ("fc1", "fc2", "predictions"))
    elif name == "InceptionV3":
        info["modules"] = [layer.name for layer in model.layers if layer.name.startswith("mixed")]
        info["modules"] = [n for n in info["modules"] if n[5:].isdigit()]
        info["kernels"] = {tuple(layer.kernel_size) for layer in layer_types(model, "Conv2D")}
    elif name == "Xception":
        info["separable"] = len(layer_types(model, "SeparableConv2D"))
        info["sep_layer"] = model.get_layer("block5_sepconv1").count_params()
    elif name == "ResNet50":
        convs = layer_types(model, "Conv2D")
        info["adds"] = len(layer_types(model, "Add"))
        info["shortcut"] = sum(layer.name.endswith("_0_conv") for layer in convs)
        info["weighted"] = len(convs) - info["shortcut"] + len(layer_types(model, "Dense"))
    elif name == "MobileNet":
        info["depthwise"] = len(layer_types(model, "DepthwiseConv2D"))
        info["pair"] = (model.get_layer("conv_dw_1").count_params(), model.get_layer("conv_pw_1").count_params())
    del model
    keras.backend.clear_session()  # frees the layers (and the list of uninitialised variables)
    gc.collect()
    facts[name] = info

# The table's headers, translated; the columns are as wide as the wider of header and values.
heads = (_("network"), _("input"), _("parameters"), _("outputs"))
widths = (max(13, len(heads[0]) + 2), max(14, len(heads[1]) + 2), max(12, len(heads[2])), max(7, len(heads[3])))
lesson.say("", f"  {heads[0]:<{widths[0]}}{heads[1]:<{widths[1]}}{heads[2]:>{widths[2]}}   {heads[3]:>{widths[3]}}")
for name, _side, _params in NETWORKS:
    f = facts[name]
    shape = "×".join(map(str, f["input"]))
    lesson.say(f"  {name:<{widths[0]}}{shape:<{widths[1]}}{f['params']:>{widths[2]},}   {f['outputs']:>{widths[3]},}")
for name, side, expected in NETWORKS:
    got = (facts[name]["params"], *facts[name]["input"])
    lesson.check(
        _("{name}: {params:,} parameters, input {side}×{side}×3").format(name=name, params=expected, side=side),
        got,
        (expected, side, side, 3),
    )
lesson.check(
    _("each ends in {n:,} outputs, one per ILSVRC class").format(n=ILSVRC_CLASSES),
    [facts[n]["outputs"] for n, *_rest in NETWORKS],
    [ILSVRC_CLASSES] * len(NETWORKS),
)

v = facts["VGG16"]
lesson.say(
    "",
    _(
        "- VGG16 (K. Simonyan and A. Zisserman, Oxford; presented at ILSVRC 2014): 16 layers with weights — 13 "
        "convolutions, all 3×3, in 5 blocks, each ending in a 2×2 max-pooling, then 3 dense layers. Simple and "
        "big: {classifier:,} of its {params:,} parameters ({share:.0%}) are in the three dense layers. Why only "
        "3×3 kernels: the step after this one."
    ).format(classifier=v["classifier"], params=v["params"], share=v["classifier"] / v["params"]),
)
lesson.check(_("VGG16: 13 Conv2D + 3 Dense = 16 layers with weights"), v["weighted"], 16)
lesson.check(
    _("its dense layers: 25088·4096 + 4096 + 4096·4096 + 4096 + 4096·1000 + 1000"),
    v["classifier"],
    convlab.dense_param_count(4096, 7 * 7 * 512)
    + convlab.dense_param_count(4096, 4096)
    + convlab.dense_param_count(1000, 4096),
)
modules = facts["InceptionV3"]["modules"]
lesson.say(
    _(
        "- InceptionV3 (Szegedy et al., Google, 2015): built of Inception modules. Each runs convolutions of "
        "different sizes (1×1, 3×3, 5×5; later modules split a 7×7 into 1×7 and 7×1) and a pooling side by side "
        "on the same input and stacks their feature maps (a feature map is the 2-D output of one filter), so the "
        "next layer can use whichever scale helps. Keras names its {n} modules {first} … {last}."
    ).format(n=len(modules), first=modules[0], last=modules[-1]),
)
lesson.check(_("InceptionV3: 11 Inception modules"), len(modules), 11)
lesson.check_true(
    _("InceptionV3 has 1×1, 3×3, 5×5, 1×7 and 7×1 kernels"),
    {(1, 1), (3, 3), (5, 5), (1, 7), (7, 1)} <= facts["InceptionV3"]["kernels"],
)
xf = facts["Xception"]
sep = convlab.separable_conv2d_param_count(728, 3, 728, use_bias=False)
full = convlab.conv2d_param_count(728, 3, 728, use_bias=False)
# One sentence: its formulas start lines of their own (the "\n"), indented by hand.
lesson.say(
    _(
        '- Xception (F. Chollet, Google, 2017: "extreme Inception"): replaces the modules by depthwise separable '
        "convolutions — first one K×K filter for each channel on its own (depthwise), then 1×1 convolutions that "
        "mix the channels (pointwise). It has {n} of them; one from 728 to 728 channels with 3×3 kernels has\n"
        "    3·3·728 + 728·728 = {separable:,} weights; a Conv2D would have\n"
        "    3·3·728·728 = {full:,} ({ratio:.1f}× as many)."
    ).format(n=xf["separable"], separable=sep, full=full, ratio=full / sep),
)
lesson.check(_("Xception: 34 SeparableConv2D layers"), xf["separable"], 34)
lesson.check(_("Keras' block5_sepconv1 = convlab.separable_conv2d_param_count"), xf["sep_layer"], sep)
rf = facts["ResNet50"]
# "\u00a0" (a no-break space) keeps the formula on one line when the text wraps.
lesson.say(
    _(
        "- ResNet50 (K. He et al., Microsoft): 50 layers with weights, trainable at that depth thanks to "
        "residual (skip) connections. The ResNet family won ILSVRC 2015 (with 152 layers; the slide credits the "
        "50-layer one). A block computes y\u00a0=\u00a0ReLU(F(x)\u00a0+\u00a0x): its layers only learn the "
        "correction F, and the + x path gives the gradient (how much the error changes with each weight, which "
        "training follows downhill) a short path back to the first layers. Keras has one Add layer per block, "
        "{adds}; the {shortcut} 1×1 convolutions on the shortcut, where a block changes the shape, are not "
        "counted in the 50."
    ).format(adds=rf["adds"], shortcut=rf["shortcut"]),
)
lesson.check(_("ResNet50: 16 residual blocks (Add layers)"), rf["adds"], 16)
lesson.check(_("ResNet50: 50 layers with weights (shortcut convolutions aside)"), rf["weighted"], 50)
mf = facts["MobileNet"]
dw, pw = (
    convlab.depthwise_conv2d_param_count(3, 32, use_bias=False),
    convlab.conv2d_param_count(64, 1, 32, use_bias=False),
)
conv = convlab.conv2d_param_count(64, 3, 32, use_bias=False)
lesson.say(
    _(
        "- MobileNet (A. Howard et al., Google, 2017): depthwise separable convolutions again, made to run on "
        "phones: {millions:.1f} million parameters, {ratio}× fewer than VGG16. Its {n} depthwise layers each go "
        "with a 1×1; the first pair, on 32 channels to 64:\n"
        "    3·3·32 + 32·64 = {dw:,} + {pw:,} = {pair:,} weights; a Conv2D(64, 3)\n"
        "    without bias (as in MobileNet) has 3·3·32·64 = {conv:,}."
    ).format(
        millions=mf["params"] / 1e6,
        ratio=v["params"] // mf["params"],
        n=mf["depthwise"],
        dw=dw,
        pw=pw,
        pair=dw + pw,
        conv=conv,
    ),
)
lesson.check(_("MobileNet: 13 DepthwiseConv2D layers"), mf["depthwise"], 13)
lesson.check(_("Keras' conv_dw_1 and conv_pw_1 = convlab's formulas"), mf["pair"], (dw, pw))
lesson.check(_("VGG16 / MobileNet parameters, rounded down"), v["params"] // mf["params"], 32)

# %%
lesson.step(_("VGG16's design: why stack 3×3 convolutions"))
lesson.say(
    _(
        "VGG16 uses only 3×3 kernels, two or three in a row. Two 3×3 convolutions in a row see a 5×5 window of the "
        "input, three see 7×7. The receptive field — the patch of the input that one output value depends on — of "
        "n stacked K×K convolutions (stride 1) is 1 + n·(K − 1):"
    )
)
for layers, big in ((2, 5), (3, 7)):
    lesson.check(
        _("{layers} stacked 3×3 convs: 1 + {layers}·(3 − 1) = {size}").format(layers=layers, size=big),
        1 + layers * (3 - 1),
        big,
    )
lesson.say(
    _(
        "With C channels in and out (biases aside) the stack has fewer weights than the one big kernel, and a "
        "ReLU, max(0, x), after each layer instead of one in total (Simonyan & Zisserman 2015, §2.3). "
        "For C = 512:"
    )
)
c = 512
for layers, big, stacked_expected, single_expected in ((2, 5, 4_718_592, 6_553_600), (3, 7, 7_077_888, 12_845_056)):
    stacked = layers * convlab.conv2d_param_count(c, 3, c, use_bias=False)
    single = convlab.conv2d_param_count(c, big, c, use_bias=False)
    stack_label = _("two 3×3:") if layers == 2 else _("three 3×3:")
    big_label = _("one {k}×{k}:").format(k=big)
    width = max(11, len(stack_label) + 1, len(big_label) + 1)
    lesson.say(
        f"  {stack_label:<{width}}{f'{layers}·3·3·C²':>9} = {layers * 9}C² = "
        + _("{count} weights").format(count=f"{stacked:>10,}"),
        f"  {big_label:<{width}}{f'{big}·{big}·C²':>9} = {big * big}C² = "
        + _("{count} weights").format(count=f"{single:>10,}")
        + "  "
        + _("(the stack: {share:.0%} fewer)").format(share=1 - stacked / single),
    )
    if layers == 2:
        lesson.check(_("two 3×3 at C = 512 (convlab.conv2d_param_count)"), stacked, stacked_expected)
    else:
        lesson.check(_("three 3×3 at C = 512 (convlab.conv2d_param_count)"), stacked, stacked_expected)
    lesson.check(_("one {k}×{k} at C = 512").format(k=big), single, single_expected)


# %%
class SlicedGlorotUniform(keras.initializers.Initializer):
    """Keras' default Dense initializer (Glorot uniform: ±√(6 / (fan_in + fan_out))), made in slices of rows.

    Made in one piece, fc1's 25088×4096 kernel (392 MiB) takes two more full-size temporaries in
    TensorFlow, which alone would lift the lesson's peak memory to about 2 GB.
    """

    def __call__(self, shape, dtype=None):
        limit = (6 / (shape[0] + shape[1])) ** 0.5
        rows = range(0, shape[0], 2048)
        parts = [keras.random.uniform((min(2048, shape[0] - r), *shape[1:]), -limit, limit, dtype=dtype) for r in rows]
        return keras.ops.concatenate(parts, axis=0)


def untrained_vgg16():
    """keras.applications.VGG16(weights=None): the same layers and the same kind of random starting values."""
    with keras.StatelessScope(initialize_variables=False):  # shapes only: nothing allocated yet
        layout = keras.applications.VGG16(weights=None)

    def rebuild(layer):
        config = layer.get_config()
        if isinstance(layer, keras.layers.Dense):
            config["kernel_initializer"] = SlicedGlorotUniform()
        return type(layer).from_config(config)

    # A fresh Input with the layout's name: cloned without one, the summary's first row reads "keras_tensor".
    inputs = keras.Input(shape=layout.input_shape[1:], name=layout.layers[0].name)
    model = keras.models.clone_model(layout, input_tensors=inputs, clone_function=rebuild)
    del layout
    keras.backend.clear_session()  # forgets the layout's uninitialised variables (Keras keeps a list)
    gc.collect()
    return model


lesson.step(_("Walk-through 1: load_img → img_to_array → a batch of one"))
lesson.say(
    _(
        "The slides load VGG16 with its ImageNet weights, model = VGG16(), and print model.summary(). Here it is "
        "built with weights=None: the same layers, with random starting weights."
    )
)
vgg16_model = untrained_vgg16()
keras_table(vgg16_model)
n_bytes = v["params"] * 4
mebibytes, megabytes = round(n_bytes / 2**20), round(n_bytes / 1e6)
lesson.say(
    _(
        "At 4 bytes (float32) a weight, the weights fill {params:,}·4 = {bytes:,} bytes: {mib} MiB ({mb} million "
        "bytes; 1 MiB = 2²⁰ bytes, which Keras' summary writes as MB). That is the size of Keras' "
        "vgg16_weights_tf_dim_ordering_tf_kernels.h5, which the slides download by hand into ~/.keras/models."
    ).format(params=v["params"], bytes=n_bytes, mib=mebibytes, mb=megabytes)
)
lesson.check(_("Total params: 138,357,544 (the slide's summary)"), vgg16_model.count_params(), 138_357_544)
lesson.check(_("138,357,544·4 bytes in MiB (2²⁰ bytes)"), mebibytes, 528)
lesson.check(_("138,357,544·4 bytes in millions"), megabytes, 553)
weights_loaded = False
if args.weights and has_classifier(args.weights) is False:
    lesson.say(
        _(
            'Your --weights file has no classifier (fc1, fc2, predictions): a "notop" file, which the frozen '
            "base uses later."
        )
    )
elif args.weights:
    try:
        vgg.load_weights(vgg16_model, args.weights)
        weights_loaded = True
        lesson.say(_("Loaded your weights: {path}").format(path=args.weights))
    except ValueError as exc:
        lesson.say(_("Your --weights file does not fit this VGG16: {reason}").format(reason=str(exc).splitlines()[0]))
WEIGHTS_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
if not weights_loaded:
    try:  # the address Keras' VGG16(weights="imagenet") fetches from; printing it downloads nothing
        from keras.src.applications.vgg16 import WEIGHTS_PATH as weights_url
    except ImportError:  # a Keras that keeps it elsewhere
        weights_url = None
    if weights_url:
        first = _(
            "1. the ImageNet weights with the classifier, {file} (528 MiB), passed with --weights PATH. Keras "
            "itself fetches the file from:"
        )
    else:
        first = _(
            "1. the ImageNet weights with the classifier, {file} (528 MiB), passed with --weights PATH. Keras "
            "itself fetches the file from the address in WEIGHTS_PATH of keras/src/applications/vgg16.py."
        )
    lesson.say(
        _(
            "This VGG16 is untrained. The slide's numbers (tiger 0.9202, tiger_cat 0.0765 …) need three things "
            "the lesson never downloads:"
        ),
        first.format(file=WEIGHTS_FILE),
    )
    if weights_url:
        # The address is longer than a line: split after its last "/", the file name on its own line.
        url_dir, url_file = weights_url.rsplit("/", 1)
        lesson.say(f"     {url_dir}/", f"     {url_file}")
    lesson.say(
        _(
            "2. the slide's own photo (the deck's tigre.jpg), passed with --photo PATH: this run's photo is a "
            "cat, which no weights turn into a tiger;"
        ),
        _(
            "3. Keras' class list, ~/.keras/models/{file}, for the class names (without it the lesson prints "
            "class numbers)."
        ).format(file=CLASS_INDEX_FILE),
    )
elif not args.photo:
    lesson.say(_("(The slide's tiger 0.9202 also needs the slide's photo, --photo PATH; this run's is a cat.)"))

if args.photo:
    photo_path = Path(args.photo)
    lesson.say("", _("The photo: {path}").format(path=photo_path))
else:
    from PIL import Image
    from skimage import data as skdata

    photo_path = Path(scratch_dir.name) / "chelsea.png"
    Image.fromarray(skdata.chelsea()).save(photo_path)
    lesson.say("", _("The photo: scikit-image's chelsea (a cat, 300×451 pixels), written to a PNG."))
lesson.say(
    _("The slides import these from tensorflow.keras.preprocessing.image; in Keras 3 they are keras.utils.*:"),
    f"  {'image = load_img(path, target_size=(224, 224))':<51}# " + _("read and resize"),
    f"  {'image = img_to_array(image)':<51}# " + _("numbers"),
    "  image = image.reshape((1, image.shape[0], image.shape[1], image.shape[2]))",
    _(
        "load_img resizes without cropping: a photo that is not square is stretched or squashed to 224×224 (see "
        "the figure of the next step)."
    ),
)
pil_image = keras.utils.load_img(str(photo_path), target_size=(224, 224))
lesson.say(
    _("  load_img:     an {mode} image of {width}×{height} pixels").format(
        mode=pil_image.mode, width=pil_image.size[0], height=pil_image.size[1]
    )
)
array = keras.utils.img_to_array(pil_image)
lesson.say(
    _("  img_to_array: {dtype} array {shape}, values {low:.0f} … {high:.0f}").format(
        dtype=array.dtype, shape=array.shape, low=array.min(), high=array.max()
    )
)
batch = array.reshape((1, array.shape[0], array.shape[1], array.shape[2]))
lesson.say(_("  reshape:      {shape}, a batch of one image (predict takes batches)").format(shape=batch.shape))
lesson.check(_("load_img's size: 224 × 224"), pil_image.size, (224, 224))
lesson.check("img_to_array: 224 × 224 × 3", array.shape, (224, 224, 3))
lesson.check(_("the batch: 1 × 224 × 224 × 3"), batch.shape, (1, 224, 224, 3))
lesson.check(_("it is what VGG16 takes"), batch.shape[1:], tuple(vgg16_model.input_shape[1:]))

# %%
lesson.step(_("Walk-through 2: preprocess_input (RGB → BGR, means off)"))
from keras.applications.vgg16 import preprocess_input

lesson.say(
    _(
        "VGG16 was trained on images prepared the way of its authors' software (Caffe): channels in B, G, R "
        "order, and each channel centred on zero by subtracting its mean over ImageNet — no scaling. "
        "preprocess_input does the same to our photo. (It changes a NumPy array in place, so it gets a copy.)"
    )
)
x = preprocess_input(batch.copy())
row, col = 112, 112
rgb, bgr = batch[0, row, col], x[0, row, col]
lesson.say(
    _("The pixel at row {row}, column {col} (ringed in the figure):").format(row=row, col=col),
    _("  before, RGB:  R = {r:5.1f}   G = {g:5.1f}   B = {b:5.1f}").format(r=rgb[0], g=rgb[1], b=rgb[2]),
    _("  after, BGR minus the ImageNet means:"),
)
for k, (channel, value, mean) in enumerate(zip("BGR", rgb[::-1], IMAGENET_MEAN_BGR)):
    lesson.say(f"    {channel}: {value:5.1f} − {mean:<7} = {bgr[k]:8.3f}")
by_hand = np.array([rgb[2], rgb[1], rgb[0]], dtype=np.float64) - IMAGENET_MEAN_BGR
lesson.check(_("that pixel, by hand: (B, G, R) − (103.939, 116.779, 123.68)"), bgr, by_hand, atol=1e-4)
lesson.check(
    _("every pixel: the channels reversed, then the means subtracted"),
    x,
    batch[..., ::-1] - np.array(IMAGENET_MEAN_BGR),
    atol=1e-4,
)
lesson.say(
    _("Values now run from {low:.1f} to {high:.1f}: centred, not scaled to 0–1.").format(low=x.min(), high=x.max())
)
lesson.check_true(
    _("within [0 − 123.68, 255 − 103.939]"), -123.68 - 1e-3 <= x.min() and x.max() <= 255 - 103.939 + 1e-3
)

fig, axes = plt.subplots(1, 4, figsize=(13, 3.4))
axes[0].imshow(array.astype(np.uint8))
axes[0].set_title("load_img: 224×224 RGB")
lim = float(np.abs(x).max())
for k, channel in enumerate("BGR"):
    im = axes[k + 1].imshow(x[0, :, :, k], cmap="RdBu_r", vmin=-lim, vmax=lim)
    axes[k + 1].set_title(f"{channel} − {IMAGENET_MEAN_BGR[k]}")
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
    # the pixel whose numbers the text prints
    ax.plot(col, row, "o", ms=11, mfc="none", mec="yellow", mew=1.8)
    ax.plot(col, row, "o", ms=14, mfc="none", mec="black", mew=0.8)
fig.colorbar(im, ax=axes[1:], shrink=0.85, label=_("blue: below the mean · red: above"))
fig.suptitle(
    _("preprocess_input: channels in B, G, R order, ImageNet means subtracted (ringed: pixel {row}, {col})").format(
        row=row, col=col
    )
)
lesson.savefig(fig, "preprocess_input")

# %%
lesson.step(_("Walk-through 3: predict → 1×1000 → decode_predictions"))
lesson.say(
    _(
        "predict returns one row per image: 1,000 numbers, VGG16's softmax over the ILSVRC classes (softmax, "
        "lesson 05, turns scores into probabilities that add up to 1):"
    )
)
probs = vgg16_model.predict(x, verbose=0)
lesson.say(f"  predict_result = model.predict(image)   → {probs.shape}")
lesson.check("1 × 1000", probs.shape, (1, ILSVRC_CLASSES))
lesson.check(_("the probabilities add up to 1 (float32 sums)"), float(probs.sum()), 1.0, atol=1e-5)
top5 = np.argsort(-probs[0], kind="stable")[:5]
lesson.say(
    _("The slides then name the classes:"),
    "  label = decode_predictions(predict_result)",
    _(
        "decode_predictions takes the 5 most probable class numbers (0–999) and looks each up in Keras' class "
        "list, {file}: a class number → (WordNet id, class name). A WordNet id such as n02129604 is ImageNet's "
        "name for a class. When the file is missing, decode_predictions downloads it, so the lesson never calls "
        "it: it reads the file itself, when the file is already there."
    ).format(file=CLASS_INDEX_FILE),
)
# Where Keras' get_file keeps it: KERAS_HOME or ~/.keras, else (not writable) /tmp/.keras.
keras_dir = Path(os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")))
if not os.access(keras_dir, os.W_OK):
    keras_dir = Path("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()) / ".keras"
index_file = keras_dir / "models" / CLASS_INDEX_FILE
# Only the file Keras would accept (its MD5), so the names are the ones decode_predictions gives.
class_index = None
if index_file.is_file() and hashlib.md5(index_file.read_bytes()).hexdigest() == CLASS_INDEX_MD5:
    class_index = json.loads(index_file.read_text(encoding="utf-8"))
if class_index:
    lesson.say(
        _("Read {file}. The 5 most probable, as (class, WordNet id, name, probability):").format(file=index_file)
    )
    for i in top5:
        wnid, cls = class_index[str(i)]
        lesson.say(_("    class {i:>3}  {wnid}  {name:<22} {p:.4f}").format(i=i, wnid=wnid, name=cls, p=probs[0][i]))
    lesson.check(
        _("the slide's classes in that file (tiger = 292 …)"),
        [tuple(class_index[str(i)]) for i, *_rest in SLIDE_TOP5],
        [(wnid, cls) for _i, wnid, cls, _p in SLIDE_TOP5],
    )
else:
    lesson.say(
        _("{file} is not in {folder}, so no names. The 5 most probable, as class numbers (0–999):").format(
            file=CLASS_INDEX_FILE, folder=index_file.parent
        )
    )
    for i in top5:
        lesson.say(_("    class {i:>3}  {p:.4f}").format(i=i, p=probs[0][i]))
if not weights_loaded:
    lesson.say(
        _(
            "The untrained network spreads its guess: every probability lies between {low:.4f} and {high:.4f}, "
            "around 1/1,000 = 0.001."
        ).format(low=probs.min(), high=probs.max())
    )
    lesson.check_true(
        _("the untrained network's probabilities all lie within 0.0002 … 0.005"),
        0.0002 <= probs.min() and probs.max() <= 0.005,
    )
    lesson.say(
        _("The slide's tiger photo with the ImageNet weights (class numbers in the standard ILSVRC-2012 order):")
    )
else:
    lesson.say(_("The slide's tiger photo, for comparison (class numbers in the standard ILSVRC-2012 order):"))
for i, wnid, cls, p in SLIDE_TOP5:
    lesson.say(_("    class {i:>3}  {wnid}  {name:<10} {p:.4f}").format(i=i, wnid=wnid, name=cls, p=p))
# Rounded to 4 decimals the five add up to 1.0000; the slide's full digits show the small rest.
slide_total = sum(p for *_rest, p in SLIDE_TOP5)
lesson.say(
    _(
        "With the slide's full digits ({first} + {second} + …) the five add up to {total:.5f}, just under 1: "
        "softmax shares 1 among all 1,000 classes, and the other 995 get the last {rest:.5f}."
    ).format(first=SLIDE_TOP5[0][3], second=SLIDE_TOP5[1][3], total=slide_total, rest=1 - slide_total)
)
del vgg16_model, facts
keras.backend.clear_session()
gc.collect()


# %%
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


lesson.step(_("seeds/000's VGG16, 3 classes: convlab's counts vs Keras"))
table_size = 32 if lesson.quick else 224
ours = convlab_vgg16(table_size, 3)
lesson.say(
    _(
        "VGG16 for 3 classes on {side}×{side}×3 images. convlab, each count from lesson 05's formulas (Conv2D: "
        "N_f·K·K·N_c + N_f; Dense: inputs·units + units):"
    ).format(side=table_size)
)
heads = (_("layer"), _("output"), _("parameters"), _("formula"))
widths = (max(14, len(heads[0]) + 1), max(14, len(heads[1]) + 1), max(12, len(heads[2])))
lesson.say(f"  {heads[0]:<{widths[0]}}{heads[1]:<{widths[1]}}{heads[2]:>{widths[2]}}  {heads[3]}")
for layer in ours.layers:
    shape = "×".join(str(d) for d in layer.output_shape[1:])
    formula = layer.param_formula() if layer.count_params() else ""
    lesson.say(
        f"  {layer.name:<{widths[0]}}{shape:<{widths[1]}}{layer.count_params():>{widths[2]},}  {formula}".rstrip()
    )
total_word = _("total")
lesson.say(f"  {total_word:<{widths[0] + widths[1]}}{ours.count_params():>{widths[2]},}")
theirs = vgg.vgg16(classes=3, input_shape=(table_size, table_size, 3))
lesson.say(
    "",
    _("Keras (keras.applications.VGG16's layers, via convlab.vgg.vgg16): {n} layers, {params:,} parameters.").format(
        n=len(theirs.layers) - 1, params=theirs.count_params()
    ),
)
rows_ours = [(l.name, tuple(l.output_shape), l.count_params()) for l in ours.layers]
rows_keras = [(l.name, tuple(l.output.shape), l.count_params()) for l in theirs.layers[1:]]
lesson.check(_("every layer's name, output shape and parameters agree"), rows_ours == rows_keras, True)
lesson.check(_("total parameters agree"), ours.count_params(), theirs.count_params())
if table_size == 224:
    lesson.check(_("VGG16, 3 classes (seeds/000)"), theirs.count_params(), vgg.VGG16_PARAMS["3 classes"])
else:
    fc1 = (table_size // 32) ** 2 * 512 * 4096 + 4096
    # No-break spaces ("\u00a0") keep each formula on one line when the text wraps.
    lesson.say(
        _(
            "(--quick: at 32×32 the flatten has 1·1·512 inputs, so fc1 has "
            "512·4096\u00a0+\u00a04096\u00a0=\u00a0{fc1:,} parameters; at 224×224 it has "
            "7·7·512\u00a0=\u00a025,088 inputs and 25088·4096\u00a0+\u00a04096\u00a0=\u00a0102,764,544 — run "
            "without --quick for that table.)"
        ).format(fc1=fc1)
    )
    lesson.check(
        _("32×32: 224×224's 134,272,835 minus the fc1 difference"),
        theirs.count_params(),
        vgg.VGG16_PARAMS["3 classes"] - (102_764_544 - fc1),
    )
# the 13 convolutions' parameters, from convlab's formulas: the base of every VGG16 below
convs_convlab = sum(layer.count_params() for layer in ours.layers if "_conv" in layer.name)
del ours, theirs

# %%
lesson.step(_("A small data set: faces vs non-faces (lfw_subset)"))
if args.data:
    data_dir = args.data
    lesson.say(_("Your folder: {folder}").format(folder=data_dir))
else:
    per_class = 8 if lesson.quick else 100
    data_dir = make_photo_folder(Path(scratch_dir.name) / "faces", "faces", per_class=per_class)
    lesson.say(
        ngettext(
            'Wrote {n} PNG (25×25 greyscale crops from LFW, "Labeled Faces in the Wild") to a temporary folder, '
            "one sub-folder per class (face/, not_face/): the layout Keras' image_dataset_from_directory reads "
            "(flow_from_directory in the Keras 2 of the slides' time).",
            'Wrote {n} PNGs (25×25 greyscale crops from LFW, "Labeled Faces in the Wild") to a temporary folder, '
            "one sub-folder per class (face/, not_face/): the layout Keras' image_dataset_from_directory reads "
            "(flow_from_directory in the Keras 2 of the slides' time).",
            2 * per_class,
        ).format(n=2 * per_class)
    )
data = read_image_folder(data_dir, (size, size))
lesson.say(
    ngettext(
        "Read {n} image, resized to {size}×{size}×3: {counts}",
        "Read {n} images, resized to {size}×{size}×3: {counts}",
        len(data),
    ).format(n=len(data), size=size, counts=data.counts())
)
lesson.check(_("images are (images, H, W, 3)"), data.images.shape, (len(data), size, size, 3))
lesson.check_true(_("pixels are uint8 0–255 (rescaled by 1/255 in the pipeline)"), data.images.dtype == np.uint8)
n_classes = len(data.class_names)

# %%
lesson.step(
    ngettext(
        "VGG16 from scratch (seeds/000), {size}×{size}, {n} epoch",
        "VGG16 from scratch (seeds/000), {size}×{size}, {n} epochs",
        epochs,
    ).format(size=size, n=epochs)
)
scratch = vgg.vgg16(classes=n_classes, input_shape=(size, size, 3))
flat = (size // 32) ** 2 * 512  # what Flatten passes to the first dense layer
lesson.say(
    _(
        "{params:,} parameters, all starting from random values. An epoch is one pass over the training images; "
        "a batch is the group of images behind one update of the weights (32 here). The loss is the number "
        "training makes smaller (categorical cross-entropy: small when the right class gets a high probability); "
        "the validation images are held back from training, to watch for over-fitting (learning the training "
        "images by heart)."
    ).format(params=scratch.count_params()),
)
lesson.check(
    _("lesson 05's formulas: the 13 convolutions + fc1 + fc2 + predictions"),
    scratch.count_params(),
    convs_convlab
    + convlab.dense_param_count(4096, flat)
    + convlab.dense_param_count(4096, 4096)
    + convlab.dense_param_count(n_classes, 4096),
)
lesson.say(
    _(
        "Learning rate (the size of each update): seeds/000 used Adam (the usual variant of gradient descent, "
        "which adapts each weight's step) with its default rate 0.001, and stalled at 47% training accuracy "
        "(40% on its test images). Without batch normalization (rescaling each channel inside the network, "
        "lesson 13) a 16-layer VGG often 'dies' at that rate: every ReLU outputs 0 and the loss sticks at "
        "ln(classes). A 10× smaller rate, 0.0001, keeps it alive."
    )
)
res_scratch = vgg.train(scratch, data, epochs=epochs, batch_size=32, learning_rate=1e-4, verbose=0)
say_training(res_scratch)
guess_loss = float(np.log(n_classes))  # cross-entropy when every class gets 1/classes: a blind guess
last_loss = res_scratch.history.history["loss"][-1]
if abs(last_loss - guess_loss) < 0.01:
    # Too little training looks like a dead network in the loss alone; the ReLUs tell them apart.
    fc2 = keras.Model(scratch.inputs, scratch.get_layer("fc2").output)
    alive = float(np.mean(fc2.predict(res_scratch.train.images.astype("float32") / 255, verbose=0) > 0))
    del fc2
    more = ""
    if lesson.quick and not args.data:
        more = " " + _("A full run (no --quick: 200 images, 3 epochs) brings it down.")
    lesson.say(
        ngettext(
            "({n} epoch on {images} images: the loss has not yet left ln {classes} = {guess:.4f}, the value of a "
            "blind guess. That is too little training, not a dead network: {alive:.0%} of fc2's ReLU outputs on "
            "the training images are above 0, where a dead one has none.{more})",
            "({n} epochs on {images} images: the loss has not yet left ln {classes} = {guess:.4f}, the value of a "
            "blind guess. That is too little training, not a dead network: {alive:.0%} of fc2's ReLU outputs on "
            "the training images are above 0, where a dead one has none.{more})",
            epochs,
        ).format(n=epochs, images=len(res_scratch.train), classes=n_classes, guess=guess_loss, alive=alive, more=more)
    )
    lesson.check_true(_("alive: some of fc2's ReLU outputs are above 0"), alive > 0)
lesson.say(
    _(
        "16 layers learn slowly from random values, and a few hundred images are far too few: that is why "
        "seeds/002 starts from ImageNet weights."
    )
)
lesson.check(
    _("split sizes add up"), len(res_scratch.train) + len(res_scratch.validation) + len(res_scratch.test), len(data)
)
lesson.check(_("one loss value per epoch"), len(res_scratch.history.history["loss"]), epochs)

# %%
lesson.step(_("Fine-tuning 1–2: add a classifier, freeze the base, train"))
lesson.say(
    _(
        "The slides' recipe for fine-tuning a pretrained model, to reuse its base and get a good classifier for "
        "a task of your own:"
    ),
    _("1. add a classifier (a small dense network) on top of the pretrained base;"),
    _("2. freeze the base (its weights are not updated) and train: only the classifier learns;"),
    _("3. train the added classifier and the base together (later in this lesson)."),
    _(
        "seeds/002's classifier: Flatten → Dense(128, relu) → Dropout(0.4) → Dense(classes, softmax). In each "
        "training step Dropout(0.4) sets each of the 128 values to 0 with probability 0.4 (and scales the rest "
        "by 1/0.6), so the classifier cannot lean on any single one."
    ),
)
notop_mib = round(vgg.VGG16_PARAMS["no top"] * 4 / 2**20)  # float32 weights, as for the full file
if args.weights:
    lesson.say(_("Recipe step 1 (the base): VGG16's convolutions with your weights, {path}").format(path=args.weights))
    model = vgg.transfer_model(n_classes, weights=args.weights, input_shape=(size, size, 3))
else:
    lesson.say(
        _(
            "Recipe step 1 (the base): no ImageNet weights ship with convlab (and nothing is downloaded), so the "
            "base here gets the convolutions of the from-scratch model we just trained, copied in memory. For the "
            "real thing pass --weights with either ImageNet file: the full one named in step 4, or the smaller "
            "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 ({mib} MiB, the base only)."
        ).format(mib=notop_mib)
    )
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(size, size, 3))
    for layer in base.layers:
        if layer.weights:
            layer.set_weights(scratch.get_layer(layer.name).get_weights())
    model = vgg.transfer_model(n_classes, base=base, input_shape=(size, size, 3))
keras_table(model)
trainable = trainable_count(model)
lesson.check(
    _("frozen: trainable = flatten·128 + 128 + 128·classes + classes"),
    trainable,
    flat * 128 + 128 + 128 * n_classes + n_classes,
)
lesson.check(_("the base: VGG16 without the top"), model.layers[0].count_params(), vgg.VGG16_PARAMS["no top"])
if not args.weights:
    lesson.check(
        _("block1_conv1's kernel is the from-scratch model's"),
        np.array_equal(
            model.layers[0].get_layer("block1_conv1").kernel.numpy(), scratch.get_layer("block1_conv1").kernel.numpy()
        ),
        True,
    )
head_224 = convlab.dense_param_count(128, 7 * 7 * 512) + convlab.dense_param_count(3, 128)
lesson.say(
    _(
        "At 224×224×3 with 3 classes (seeds/002) the same model has {total:,} parameters, {trainable:,} "
        "trainable: 7·7·512·128 + 128 + 128·3 + 3."
    ).format(total=vgg.VGG16_PARAMS["no top"] + head_224, trainable=head_224)
)
lesson.check("224×224: 14,714,688 + 3,211,779 = 17,926,467", vgg.VGG16_PARAMS["no top"] + head_224, 17_926_467)
lesson.check(_("224×224: the classifier's 3,211,779 trainable"), head_224, 3_211_779)
res_scratch.history.set_model(None)  # the History would keep the whole from-scratch model alive
del scratch
gc.collect()
lesson.say(_("Recipe step 2: train, with the base frozen (same images and device as step 9)."))
res = vgg.train(model, data, epochs=epochs, batch_size=32, verbose=0)
say_training(res, setup=False)
lesson.check_true(
    _("the same train/validation/test split as step 9"),
    [r.paths for r in (res.train, res.validation, res.test)]
    == [r.paths for r in (res_scratch.train, res_scratch.validation, res_scratch.test)],
)

# %%
lesson.step(_("Training curves"))
lesson.say(
    _(
        "The four series are shifted a little sideways, so that equal values (with --quick often all at 0.50 "
        "accuracy) stay visible. The dotted line is a blind guess's loss, ln {classes} = {guess:.4f}."
    ).format(classes=n_classes, guess=guess_loss)
)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
# The transfer model's markers are hollow and larger, so a from-scratch point under one stays visible.
shifts = iter((-0.09, -0.03, 0.03, 0.09))
for label, r, style in (
    (_("from scratch"), res_scratch, {"ms": 5}),
    (_("transfer"), res, {"ms": 10, "mfc": "none", "mew": 1.5}),
):
    h = r.history.history
    ep = np.arange(1, len(h["loss"]) + 1)
    for split, prefix, marker in ((_("train"), "", "o-"), (_("validation"), "val_", "s--")):
        if f"{prefix}loss" not in h:
            continue
        dx = next(shifts)
        for ax, key in zip(axes, ("loss", "accuracy")):
            ax.plot(ep + dx, h[prefix + key], marker, label=f"{label}: {split}", **style)
axes[0].axhline(guess_loss, color="grey", ls=":", lw=1.2, label=_("guessing"))
# At least ±0.05 around the curves: a loss that barely moves should look flat, not like a trend.
low, high = axes[0].get_ylim()
if high - low < 0.1:
    mid = (low + high) / 2
    axes[0].set_ylim(mid - 0.05, mid + 0.05)
axes[1].set_ylim(-0.05, 1.05)  # the whole range, for the same reason
for ax, key in zip(axes, (_("categorical cross-entropy"), _("accuracy"))):
    ax.set_xticks(ep)  # whole epochs only (with one epoch, a default axis shows 0.95 … 1.05)
    ax.set_xlim(0.5, len(ep) + 0.5)
    ax.set_xlabel(_("epoch"))
    ax.set_ylabel(key)
    ax.legend(fontsize=8)
fig.suptitle(
    ngettext("VGG16 on {n} image, {size}×{size}", "VGG16 on {n} images, {size}×{size}", len(data)).format(
        n=len(data), size=size
    )
)
fig.tight_layout()
lesson.savefig(fig, "training_curves")

# %%
lesson.step(_("Classification report on the test split (seeds/002)"))
report = vgg.evaluate_report(model, res, title=_("Transfer model, test split"))
lesson.say(
    _(
        "Precision: of the images predicted as a class, the share that belong to it. Recall: of the images of a "
        "class, the share found. F1 = 2·P·R/(P + R). Support: how many test images the class has."
    ),
    str(report),
)
lesson.check(_("confusion matrix is classes × classes"), report.confusion.shape, (n_classes, n_classes))
lesson.check(_("it counts every test image"), int(report.confusion.sum()), len(res.test))
fig, ax = plt.subplots(figsize=(max(3.5, 0.9 * n_classes + 2),) * 2)
viz.draw_matrix(ax, report.confusion, vmin=0)  # the course's number grid: larger counts lighter
ax.set_xticks(range(n_classes), res.class_names)
ax.set_yticks(range(n_classes), res.class_names)
ax.tick_params(labelbottom=True, labelleft=True)  # draw_matrix hides tick labels; these are the class names
ax.set_xlabel(_("predicted class"))
ax.set_ylabel(_("true class"))
ax.set_title(_("Transfer model, test split (counts)"))
lesson.savefig(fig, "confusion_matrix")
if args.weights:
    lesson.say(
        _(
            "seeds/002 reached 64% test accuracy (F1 0.33/0.80/0.71) with ImageNet weights and 30 epochs. Here "
            "the base has your ImageNet weights, but the data set is small and the test split is tiny, so the "
            "numbers move from run to run and machine to machine: no accuracy is checked, the mechanics are the "
            "point."
        )
    )
else:
    lesson.say(
        ngettext(
            "seeds/002 reached 64% test accuracy (F1 0.33/0.80/0.71) with ImageNet weights and 30 epochs. Here "
            "the base is {n} epoch of our own from-scratch VGG and the test split is tiny, so the numbers move "
            "from run to run and machine to machine: no accuracy is checked, the mechanics are the point.",
            "seeds/002 reached 64% test accuracy (F1 0.33/0.80/0.71) with ImageNet weights and 30 epochs. Here "
            "the base is {n} epochs of our own from-scratch VGG and the test split is tiny, so the numbers move "
            "from run to run and machine to machine: no accuracy is checked, the mechanics are the point.",
            epochs,
        ).format(n=epochs)
    )

# %%
lesson.step(_("Prediction on one image (seeds/000's printout)"))
image = args.image or res.test.paths[0]
if args.image:
    lesson.say(f"{image}:")
else:
    lesson.say(_("A test image, {path}:").format(path=f"{Path(image).parent.name}/{Path(image).name}"))
top = vgg.predict_image(model, image, res.class_names, top=3, verbose=False)
name_width = max(len(n) for n, _p in top) + 1
for cls, p in top:
    lesson.say(f"  {cls + ':':<{name_width}} {p:.2f}   ({p:.1%})")
lesson.check(_("probabilities sum to 1"), sum(p for _n, p in top), 1.0, atol=1e-4)

# %%
lesson.step(_("Fine-tuning 3: train the classifier and the base together"))
lesson.say(
    _(
        'Unfreeze the base — here its last block, block5; from_layer="block1_conv1" would free it all — and '
        "train again with a small learning rate (0.00001), so the pretrained filters move only a little. "
        "Changing what is trainable counts only after compiling again (compile: Keras fixes the optimizer and "
        "the weights it may change), which unfreeze does."
    )
)
vgg.unfreeze(model, from_layer="block5_conv1", learning_rate=1e-5)
after = trainable_count(model)
lesson.say(
    _("trainable parameters: {before:,} → {after:,} (+ block5's three convs, 3·2,359,808)").format(
        before=trainable, after=after
    )
)
lesson.check(_("block5 adds 3·(512·3·3·512 + 512)"), after - trainable, 3 * convlab.conv2d_param_count(512, 3, 512))
if lesson.quick:
    lesson.say(_("(--quick stops here; a full run trains one epoch this way.)"))
else:
    res_ft = vgg.train(model, data, epochs=1, batch_size=32, verbose=0)
    say_training(res_ft, setup=False)
if args.save:
    saved = vgg.save_model(model, args.save, class_names=res.class_names)
    lesson.say(_("Saved the model to {path} ({size:.1f} MB).").format(path=saved, size=saved.stat().st_size / 2**20))

# %%
lesson.step(_("Your own photo, folder and ImageNet weights; GPUs and several machines"))
lesson.say(
    "  python lessons/11_vgg_transfer.py \\",
    "      --weights vgg16_weights_tf_dim_ordering_tf_kernels.h5 --photo tigre.jpg \\",
    "      --data my_images/ --image-size 224 --epochs 20 --image my_face.jpg \\",
    "      --save emotions.keras",
    _("my_images/ holds one sub-folder per class (Angry/, Happy/, Sad/ …). In Python:"),
    "  from convlab import vgg",
    "  model = vgg.transfer_model(3, weights='vgg16_notop.h5')  # " + _("never downloads"),
    "  result = vgg.train(model, 'my_images/', epochs=20)  # " + _("10% test, 20% val"),
    "  print(vgg.evaluate_report(model, result))",
    "  vgg.predict_image(model, 'my_face.jpg', result.class_names)",
    "  vgg.save_model(model, 'emotions.keras', class_names=result.class_names)",
    _("Then classify your photos in the browser: convlab serve --model emotions.keras (the 'Your model' page)."),
    _(
        "GPU: install TensorFlow with CUDA (pip install 'tensorflow[and-cuda]'); training then runs on the GPU "
        "with mixed precision (float16 arithmetic, float32 outputs)."
    ),
)
lesson.say(
    _(
        "Several GPUs, or several machines: TensorFlow's distribution strategies. Make one with "
        "vgg.distribution_strategy() before any other TensorFlow work, build the model under it and train as "
        "before. In each update the batch is split evenly across the replicas (one per GPU, or one per "
        "machine's CPU); each computes the gradient of its share, the gradients are averaged across all of "
        "them, and every replica makes the same update: the one a single machine would make on the whole batch."
    ),
    "  strategy = vgg.distribution_strategy()  # " + _("first of all"),
    "  model = vgg.transfer_model(3, weights='vgg16_notop.h5', strategy=strategy)",
    "  result = vgg.train(model, 'my_images/', epochs=20, batch_size=64)",
    _(
        "batch_size counts the images of one update on all replicas together. One machine with several GPUs "
        "needs nothing more (MirroredStrategy). Several machines run the same script, each with a TF_CONFIG "
        "environment variable that names them all and gives its own index, 0 on the first machine and 1 on "
        "the second (MultiWorkerMirroredStrategy):"
    ),
    """  export TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},""",
    """      "task": {"type": "worker", "index": 0}}'""",
    "  python my_training.py  # " + _("the same script on every machine"),
)
# 2 machines × 2 GPUs share a batch of 64: stand-ins for the 64 images' gradients of 3 weights.
image_grads = np.random.default_rng(11).normal(size=(64, 3))
replica_grads = image_grads.reshape(4, 16, 3).mean(axis=1)
lesson.say(
    _(
        "Why the average of the replicas' gradients is the whole batch's: with 2 machines × 2 GPUs each of the 4 "
        "replicas gets 16 of the 64 images. The loss is a mean over the images, so its gradient is the mean of "
        "the images' gradients, and the mean of 4 means of 16 is the mean of all 64:"
    ),
    _("  average of the 4 replicas' means: {got}").format(got=np.round(replica_grads.mean(axis=0), 6)),
    _("  mean over the 64 images:          {want}").format(want=np.round(image_grads.mean(axis=0), 6)),
)
lesson.check(
    _("average of the replicas' gradients = gradient of the whole batch"),
    replica_grads.mean(axis=0),
    image_grads.mean(axis=0),
    atol=1e-12,
)
scratch_dir.cleanup()
lesson.finish()
