"""The Keras bridge: the same network in convlab and in Keras 3 — layers, weights, numbers, training.

Parity shown here (float32, random inputs):
- every layer's output equals Keras' (max relative difference ≤ 1e-5) for models
  mixing Conv2D stride 1/2, padding valid/same on odd and even sizes, max and
  average pooling valid/same, Dense, Dropout at inference and every activation;
- the loss and every weight gradient equal Keras' (GradientTape) within 1e-5
  relative, for every loss, including saturated softmax/sigmoid outputs (Keras
  uses the kept logits there);
- the optimisers' update rules (SGD with momentum/Nesterov, Adam, RMSprop) give
  Keras' weights on identical gradients (1e-7), and two ``train_on_batch``
  steps on both sides give the same weights (1e-6; Adam 2e-5, see OPTIMIZERS);
- three epochs of ``fit`` with shuffling off follow the same loss curve (1e-4 relative);
- round trips are bit-for-bit; bad input raises errors naming the layer and
  leaves the target unchanged.
"""

import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf

import convlab
from convlab.bridge import keras as kb
from convlab.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    ReLU,
    Softmax,
)

RNG = np.random.default_rng(20260404)


@pytest.fixture(autouse=True)
def _fresh_rng():
    """The same random data for a test whatever other tests ran before it (``-k``, ``-x``, reordering)."""
    global RNG
    RNG = np.random.default_rng(20260404)


# --------------------------------------------------------------------------- models
def model_odd():
    """Odd sizes: stride 2 'same' conv, 'same' max pool, valid even kernel, Dropout, sigmoid/softmax."""
    return convlab.Sequential(
        [
            Input((9, 9, 2)),
            Conv2D(4, 3, strides=2, padding="same", activation="relu"),
            MaxPooling2D(2, padding="same"),
            Conv2D(3, 2, padding="valid", activation="tanh"),
            Flatten(),
            Dropout(0.5),
            Dense(5, activation="sigmoid"),
            Dense(4, activation="softmax"),
        ]
    )


def model_even():
    """Even sizes: stride 1 'same' linear conv, 'same' average pool (3, stride 2), ReLU layer, stride 2 valid."""
    return convlab.Sequential(
        [
            Input((8, 10, 3)),
            Conv2D(4, 3, padding="same"),
            AveragePooling2D(3, strides=2, padding="same"),
            ReLU(),
            Conv2D(5, (2, 3), strides=2, padding="valid", activation="sigmoid"),
            MaxPooling2D((1, 2), padding="valid"),
            Flatten(),
            Dense(6, activation="tanh"),
            Dense(3),
            Softmax(),
        ]
    )


def model_even_kernel():
    """Even kernel, stride 2 'same' on an even input (asymmetric pads), valid average pool, Activation layers."""
    return convlab.Sequential(
        [
            Input((12, 12, 1)),
            Conv2D(3, 4, strides=2, padding="same", activation="softmax"),
            AveragePooling2D(3, strides=2, padding="valid"),
            Flatten(),
            Dense(4, activation="linear"),
            Activation("tanh"),
            Dense(2),
            Activation("sigmoid"),
        ]
    )


MODELS = {"odd": model_odd, "even": model_even, "even_kernel": model_even_kernel}


def _x(model, n=6):
    return RNG.standard_normal((n,) + model.input_shape[1:]).astype(np.float32)


def _with_random_biases(model):
    """Glorot kernels and non-zero biases, so a swapped or missing bias shows."""
    model.set_weights(
        [w if w.ndim > 1 else RNG.standard_normal(w.shape).astype(w.dtype) * 0.3 for w in model.get_weights()]
    )
    return model


# --------------------------------------------------------------------------- forward
@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_layer_output_matches_keras(name, capsys):
    convlab.set_seed(1)
    model = _with_random_biases(MODELS[name]())
    report = convlab.compare_with_keras(model, _x(model), verbose=True)
    printed = capsys.readouterr().out
    assert [r.layer for r in report.rows] == [l.name for l in model.layers]
    assert all(r.kind == "activation" for r in report.rows) and report.loss is None
    assert report.max_rel("activation") <= 1e-5, report.table()
    assert report.max_abs("activation") <= 1e-5, report.table()
    for layer in model.layers:
        assert layer.name in printed
    assert "max rel" in printed


# --------------------------------------------------------------------------- loss and gradients
def _targets(kind, n, k):
    labels = RNG.integers(0, k, n)
    return {
        "sparse": labels,
        "onehot": np.eye(k, dtype=np.float32)[labels],
        "binary": (RNG.random((n, k)) < 0.5).astype(np.float32),
        "real": RNG.standard_normal((n, k)).astype(np.float32),
    }[kind]


LOSS_CASES = [  # loss, output activation, target kind, logit scale (40 saturates the output)
    ("sparse_categorical_crossentropy", "softmax", "sparse", 1.0),
    ("sparse_categorical_crossentropy", "softmax", "sparse", 40.0),
    ("categorical_crossentropy", "softmax", "onehot", 1.0),
    ("categorical_crossentropy", "softmax", "onehot", 40.0),
    ("binary_crossentropy", "sigmoid", "binary", 1.0),
    ("binary_crossentropy", "sigmoid", "binary", 40.0),
    ("mse", "linear", "real", 1.0),
    ("mse", "tanh", "real", 1.0),
]


@pytest.mark.parametrize("loss,act,target,scale", LOSS_CASES)
def test_loss_and_every_weight_gradient_match_keras(loss, act, target, scale):
    convlab.set_seed(2)
    model = convlab.Sequential(
        [
            Input((7, 8, 2)),
            Conv2D(3, 3, strides=2, padding="same", activation="relu"),
            MaxPooling2D(2, padding="same"),
            Flatten(),
            Dropout(0.4),
            Dense(6, activation="tanh"),
            Dense(4, activation=act),
        ]
    )
    _with_random_biases(model)
    last = model.layers[-1]
    last.set_weights([w * scale for w in last.get_weights()])
    model.compile("sgd", loss)
    x = _x(model, 8)
    y = _targets(target, 8, 4)
    before = model.get_weights()
    rate = model.layers[3].rate
    report = convlab.compare_with_keras(model, x, y, verbose=False)
    assert report.loss is not None and np.isfinite(report.loss).all()
    assert report.max_rel("loss") <= 1e-5, report.table()
    grads = [r for r in report.rows if r.kind == "gradient"]
    assert [(r.layer, r.quantity) for r in grads] == [(l.name, k) for l in model.layers for k in l.params]
    assert report.max_rel("gradient") <= 1e-5, report.table()
    assert report.max_rel("activation") <= 1e-5, report.table()
    # the comparison changes nothing: weights and the Dropout rate are restored
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert model.layers[3].rate == rate


def test_binary_crossentropy_with_one_output_and_flat_labels():
    convlab.set_seed(3)
    model = convlab.Sequential([Input((6,)), Dense(5, activation="relu"), Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    x = RNG.standard_normal((10, 6)).astype(np.float32)
    y = (RNG.random(10) < 0.5).astype(np.float32)  # (N,) against an (N, 1) output, as Keras allows
    report = convlab.compare_with_keras(model, x, y, verbose=False)
    assert report.max_rel() <= 1e-5, report.table()


def test_float64_models_agree_to_float64_precision():
    convlab.set_seed(4)
    model = convlab.Sequential(
        [
            Input((6, 6, 1), dtype="float64"),
            Conv2D(2, 3, activation="relu", dtype="float64"),
            Flatten(dtype="float64"),
            Dense(3, activation="softmax", dtype="float64"),
        ]
    )
    model.compile("sgd", "sparse_categorical_crossentropy")
    km = convlab.to_keras(model)
    assert km.layers[0].kernel.dtype == "float64"
    report = convlab.compare_with_keras(
        model, RNG.standard_normal((4, 6, 6, 1)), RNG.integers(0, 3, 4), keras_model=km, verbose=False
    )
    assert report.dtype == "float64"
    assert report.max_rel() <= 1e-12, report.table()


# --------------------------------------------------------------------------- optimizer steps and training
def _small_classifier(seed):
    convlab.set_seed(seed)
    return convlab.Sequential(
        [
            Input((8, 8, 1)),
            Conv2D(4, 3, activation="relu"),
            MaxPooling2D(2),
            Flatten(),
            Dense(10, activation="relu"),
            Dense(3, activation="softmax"),
        ]
    )


OPTIMIZERS = {
    "sgd_momentum": (lambda: convlab.optimizers.SGD(0.1, momentum=0.9), 1e-6),
    "sgd_nesterov": (lambda: convlab.optimizers.SGD(0.05, momentum=0.5, nesterov=True), 1e-6),
    "rmsprop": (lambda: convlab.optimizers.RMSprop(0.01), 1e-6),
    # Adam divides each gradient element by its own root-mean-square: a gradient element 1e-5 of the largest
    # one, whose float32 rounding differs by 2e-9 between the libraries, moves by up to ~5e-6 (measured 4.6e-6
    # with lr=0.01). The update rule itself agrees to 1e-8 on identical gradients (test below).
    "adam": (lambda: convlab.optimizers.Adam(0.01), 2e-5),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_update_rule_matches_keras_on_identical_gradients(name):
    make, _ = OPTIMIZERS[name]
    ours = make()
    cfg = ours.get_config()
    cfg.pop("name")
    theirs = getattr(keras.optimizers, type(ours).__name__)(**cfg)
    shapes = [(3, 3, 1, 4), (4,), (36, 5)]
    params = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    kvars = [keras.Variable(p.copy()) for p in params]
    for step in range(3):
        grads = [(RNG.standard_normal(s) * 10.0 ** RNG.integers(-8, 1, s)).astype(np.float32) for s in shapes]
        ours.apply_gradients(zip(grads, params))
        theirs.apply_gradients(zip([tf.constant(g) for g in grads], kvars))
        for p, v in zip(params, kvars):
            np.testing.assert_allclose(p, v.numpy(), rtol=0, atol=1e-7, err_msg=f"{name} step {step + 1}")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_two_train_on_batch_steps_give_keras_weights(name):
    make, atol = OPTIMIZERS[name]
    model = _small_classifier(5)
    _with_random_biases(model)
    model.compile(make(), "sparse_categorical_crossentropy")
    km = convlab.to_keras(model)
    assert type(km.optimizer).__name__ == type(model.optimizer).__name__
    x = RNG.standard_normal((16, 8, 8, 1)).astype(np.float32)
    y = RNG.integers(0, 3, 16)
    start = model.get_weights()
    for step in range(2):
        ours = model.train_on_batch(x, y)
        theirs = km.train_on_batch(x, y)
        assert abs(ours - float(theirs)) <= 1e-5 * abs(float(theirs))
        for a, b in zip(model.get_weights(), km.get_weights()):
            np.testing.assert_allclose(a, b, rtol=0, atol=atol, err_msg=f"step {step + 1}")
    assert not np.array_equal(start[0], model.get_weights()[0])


def test_a_few_epochs_follow_the_keras_loss_curve():
    model = _small_classifier(6)
    model.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    km = convlab.to_keras(model)
    x = RNG.standard_normal((96, 8, 8, 1)).astype(np.float32)
    y = (x[:, :4].sum(axis=(1, 2, 3)) > 0).astype(np.int64) + (x[:, 4:].mean(axis=(1, 2, 3)) > 0.1)
    ours = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    theirs = km.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-4)
    np.testing.assert_allclose(ours["accuracy"], theirs["accuracy"], atol=1e-9)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
    ev = model.evaluate(x, y, verbose=0)
    kev = km.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(ev, kev, rtol=1e-5)


# --------------------------------------------------------------------------- round trips and carried settings
def test_convlab_keras_convlab_round_trip_is_exact():
    convlab.set_seed(7)
    model = _with_random_biases(model_odd())
    model.compile(convlab.optimizers.RMSprop(0.002, rho=0.8), "sparse_categorical_crossentropy", ["accuracy"])
    model.layers[0].trainable = False
    km = convlab.to_keras(model)
    assert km.name == model.name
    assert [l.name for l in km.layers] == [l.name for l in model.layers]
    assert [type(l).__name__ for l in km.layers] == [type(l).__name__ for l in model.layers]
    assert km.layers[0].trainable is False
    assert km.layers[0].get_config()["strides"] == (2, 2) and km.layers[0].get_config()["padding"] == "same"
    assert km.layers[0].get_config()["activation"] == "relu"
    assert km.layers[4].get_config()["rate"] == 0.5
    assert km.get_compile_config()["loss"] == "sparse_categorical_crossentropy"
    kopt = km.optimizer.get_config()
    assert type(km.optimizer).__name__ == "RMSprop" and kopt["rho"] == 0.8
    np.testing.assert_allclose(kopt["learning_rate"], 0.002, rtol=1e-7)
    back = convlab.from_keras(km)
    assert [l.get_config() for l in back.layers] == [l.get_config() for l in model.layers]
    assert back.input_shape == model.input_shape and back.name == model.name
    for a, b in zip(model.get_weights(), back.get_weights()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert type(back.optimizer).__name__ == "RMSprop" and back.optimizer.rho == 0.8
    assert back.loss.name == "sparse_categorical_crossentropy" and [m.name for m in back.metrics] == ["accuracy"]


def test_keras_convlab_keras_round_trip_is_exact():
    km = keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="tanh", name="c1"),
            keras.layers.AveragePooling2D(2, padding="same", name="p1"),
            keras.layers.Conv2D(2, 1, use_bias=False, name="c2"),
            keras.layers.Flatten(name="f"),
            keras.layers.Dropout(0.25, seed=3, name="d"),
            keras.layers.Dense(3, name="out"),
            keras.layers.Activation("softmax", name="act"),
        ],
        name="kmodel",
    )
    km.layers[0].set_weights([km.layers[0].kernel.numpy(), RNG.standard_normal(4).astype(np.float32)])
    km.compile(
        keras.optimizers.SGD(0.03, momentum=0.7, nesterov=True),
        keras.losses.CategoricalCrossentropy(),
        metrics=["accuracy"],
    )
    model = convlab.from_keras(km)
    assert model.name == "kmodel" and [l.name for l in model.layers] == ["c1", "p1", "c2", "f", "d", "out", "act"]
    assert model.layers[2].use_bias is False and model.layers[4].seed == 3
    assert isinstance(model.optimizer, convlab.optimizers.SGD) and model.optimizer.nesterov
    assert model.loss.name == "categorical_crossentropy"
    again = convlab.to_keras(model)
    for a, b in zip(km.get_weights(), again.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in km.layers]
    x = RNG.standard_normal((3, 10, 10, 3)).astype(np.float32)
    np.testing.assert_array_equal(km.predict(x, verbose=0), again.predict(x, verbose=0))


def test_copy_weights_both_ways_and_sequential_build_without_input():
    km = keras.Sequential(
        [keras.layers.Conv2D(2, 3, name="k"), keras.layers.Flatten(name="fl"), keras.layers.Dense(2, name="dd")]
    )
    km.build((None, 5, 5, 1))
    model = convlab.Sequential([Conv2D(2, 3, input_shape=(5, 5, 1)), Flatten(), Dense(2)])
    convlab.copy_weights(km, model)  # names may differ
    for a, b in zip(km.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()
    model.set_weights([w + 1 for w in model.get_weights()])
    convlab.copy_weights(model, km)
    for a, b in zip(km.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert convlab.from_keras(km).input_shape == (None, 5, 5, 1)


def test_a_square_dense_kernel_keeps_its_orientation():
    """A Dense layer with as many inputs as units: a transposed kernel has the right shape, so only the numbers tell."""

    def keras_square():
        return keras.Sequential(
            [keras.Input((6,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(6, use_bias=False)]
        )

    x = RNG.standard_normal((4, 6)).astype(np.float32)
    km = keras_square()
    model = convlab.from_keras(km)
    for kw, w in zip(km.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(w, kw)  # (inputs, units) on both sides: Keras' order, never transposed
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)

    cm = convlab.Sequential([Input((6,)), Dense(6, activation="tanh"), Dense(6, use_bias=False)])
    np.testing.assert_allclose(convlab.to_keras(cm).predict(x, verbose=0), cm.predict(x), rtol=1e-5, atol=1e-6)
    convlab.copy_weights(km, cm)
    np.testing.assert_allclose(cm.predict(x), km.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    other = keras_square()
    convlab.copy_weights(cm, other)
    for kw, w in zip(other.get_weights(), cm.get_weights()):
        np.testing.assert_array_equal(kw, w)


def test_from_keras_leaves_convlab_random_numbers_alone():
    km = convlab.to_keras(_small_classifier(8))
    convlab.set_seed(9)
    a = convlab.layers.get_rng().random(3)
    convlab.set_seed(9)
    convlab.from_keras(km)
    np.testing.assert_array_equal(convlab.layers.get_rng().random(3), a)


def test_sequential_to_keras_method():
    model = _small_classifier(10)
    km = model.to_keras()
    assert isinstance(km, keras.Sequential)
    for a, b in zip(model.get_weights(), km.get_weights()):
        assert a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------- summary
def _keras_summary_rows(km):
    """(name (type), output shape, params) per row of Keras' printed summary (cells wrapped over lines joined)."""
    out = []
    km.summary(print_fn=lambda s, **kw: out.append(s))
    text = "\n".join(out)
    rows, cells = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            parts = [c.strip() for c in line.split("│")[1:-1]]
            cells = parts if cells is None else [f"{a} {b}".strip() for a, b in zip(cells, parts)]
        elif cells is not None:  # a separator ends the row
            rows.append((cells[0], cells[1], int(cells[2].replace(",", ""))))
            cells = None
    total = int(re.search(r"Total params: ([\d,]+)", text).group(1).replace(",", ""))
    return rows, total


def _convlab_summary_rows(model):
    text = model.summary_text()
    rows = []
    for line in text.splitlines():
        m = re.match(r"^(\S+ \(\w+\))\s+(\(.*?\))\s+([\d,]+)$", line)
        if m:
            rows.append((m.group(1), m.group(2), int(m.group(3).replace(",", ""))))
    total = int(re.search(r"Total params: ([\d,]+)", text).group(1).replace(",", ""))
    return rows, total


@pytest.mark.parametrize("build", [model_odd, model_even, lambda: _small_classifier(11)])
def test_summary_table_matches_keras_row_by_row(build):
    model = build()
    km = convlab.to_keras(model)
    ours, total = _convlab_summary_rows(model)
    theirs, ktotal = _keras_summary_rows(km)
    assert len(ours) == len(model.layers)
    assert ours == theirs
    assert total == ktotal == km.count_params() == model.count_params()


def test_seeds_004_summary_matches_keras():
    model = convlab.Sequential(
        [
            Input((28, 28, 1)),
            Conv2D(32, 3, activation="relu"),
            MaxPooling2D(2),
            Flatten(),
            Dense(100, activation="relu"),
            Dense(10, activation="softmax"),
        ]
    )
    km = convlab.to_keras(model)
    ours, total = _convlab_summary_rows(model)
    assert ours == _keras_summary_rows(km)[0]
    assert total == 542_230


# --------------------------------------------------------------------------- errors
def test_keras_layer_convlab_lacks_is_named():
    km = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, name="c"),
            keras.layers.LayerNormalization(name="bn"),
            keras.layers.Flatten(),
        ]
    )
    with pytest.raises(kb.UnsupportedLayerError, match=r"'bn' \(LayerNormalization\).*not supported"):
        convlab.from_keras(km)


@pytest.mark.parametrize(
    "layer,setting",
    [
        (lambda: keras.layers.GlobalAveragePooling2D(data_format="channels_first", name="bad"), "data_format"),
        (lambda: keras.layers.Conv2D(2, 3, kernel_regularizer="l2", name="bad"), "kernel_regularizer"),
        (lambda: keras.layers.Conv2D(2, 3, activation="gelu", name="bad"), "activation='gelu'"),
        (lambda: keras.layers.MaxPooling2D(2, data_format="channels_first", name="bad"), "data_format"),
        (lambda: keras.layers.ReLU(max_value=6.0, name="bad"), "max_value"),
        (lambda: keras.layers.BatchNormalization(axis=1, name="bad"), "axis=1"),
        (lambda: keras.layers.Conv2D(2, 3, bias_constraint="non_neg", name="bad"), "bias_constraint"),
        (lambda: keras.layers.Dropout(0.5, noise_shape=(None, 1, 1, 2), name="bad"), "noise_shape"),
        (lambda: keras.layers.Softmax(axis=1, name="bad"), "axis=1"),
    ],
)
def test_keras_setting_convlab_lacks_is_named(layer, setting):
    km = keras.Sequential([keras.Input((6, 6, 2)), layer()])
    with pytest.raises(kb.UnsupportedLayerError, match=rf"'bad'.*{re.escape(setting)}"):
        convlab.from_keras(km)


def test_keras_initialisers_do_not_matter_the_weights_are_copied():
    km = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(2, 3, kernel_initializer="he_normal", bias_initializer="ones"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, kernel_initializer="zeros"),
        ]
    )
    model = convlab.from_keras(km)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(km.get_weights(), model.get_weights()))


def test_the_bridge_and_the_layers_share_one_table_that_covers_keras_signatures():
    """Every argument of Keras' constructors (and of keras.layers.Layer) is a row entry: none goes unjudged."""
    import inspect

    from convlab.model.layers.keras_arguments import KERAS_ARGUMENTS

    assert kb.SUPPORTED_LAYERS == tuple(KERAS_ARGUMENTS)
    base = set(inspect.signature(keras.layers.Layer.__init__).parameters) - {"self", "kwargs"}
    for cls, row in KERAS_ARGUMENTS.items():
        keras_cls = getattr(keras.layers, cls)
        keras_args = set(inspect.signature(keras_cls.__init__).parameters) - {"self", "kwargs"}
        assert keras_args | base | {"input_shape", "input_dim"} <= row.names(), cls
        # An argument a Keras base class takes through **kwargs counts too (Conv2D → BaseConv's lora_rank).
        inherited = {
            p for k in keras_cls.__mro__ if "__init__" in vars(k) for p in inspect.signature(k.__init__).parameters
        }
        assert row.names() - keras_args - inherited - base <= {"input_shape", "input_dim", "seed"}, cls


def test_convlab_padding_keras_cannot_express_is_named():
    model = convlab.Sequential([Input((5, 5, 1)), Conv2D(2, 3, padding=1, name="padded")])
    with pytest.raises(kb.UnsupportedLayerError, match=r"'padded'.*padding=1"):
        convlab.to_keras(model)


def test_models_not_built_are_refused():
    with pytest.raises(ValueError, match=r"'unbuilt'.*not built"):
        convlab.to_keras(convlab.Sequential([Dense(3)], name="unbuilt"))
    with pytest.raises(ValueError, match=r"'kunbuilt'.*not built"):
        convlab.from_keras(keras.Sequential([keras.layers.Dense(3)], name="kunbuilt"))
    with pytest.raises(ValueError, match="not built"):
        convlab.compare_with_keras(convlab.Sequential([Dense(3)]), np.zeros((1, 4)))
    with pytest.raises(TypeError, match="keras.Sequential"):
        convlab.from_keras(_small_classifier(12))
    with pytest.raises(TypeError, match="convlab.Sequential"):
        convlab.to_keras(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


def test_incompatible_models_name_the_layer_and_leave_the_target_unchanged():
    model = _small_classifier(13)  # Dense(10) then Dense(3)
    km = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(12, activation="relu", name="wide"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    ours, theirs = model.get_weights(), km.get_weights()
    with pytest.raises(ValueError, match=r"'wide' \(Dense\).*(incompatible shapes|units differs)"):
        convlab.copy_weights(km, model)
    with pytest.raises(ValueError, match=r"'wide' \(Dense\)"):
        convlab.copy_weights(model, km)
    with pytest.raises(ValueError, match=r"'wide'"):
        convlab.compare_with_keras(model, np.zeros((1, 8, 8, 1)), keras_model=km, verbose=False)
    assert all(a.tobytes() == b.tobytes() for a, b in zip(ours, model.get_weights()))
    assert all(a.tobytes() == b.tobytes() for a, b in zip(theirs, km.get_weights()))
    # same weight shapes but another stride: also refused, nothing copied
    a = convlab.Sequential([Input((9, 9, 1)), Conv2D(2, 3, strides=1, name="s")])
    b = keras.Sequential([keras.Input((9, 9, 1)), keras.layers.Conv2D(2, 3, strides=2, name="s2")])
    before = b.get_weights()
    with pytest.raises(ValueError, match=r"'s2' \(Conv2D\).*strides differs"):
        convlab.copy_weights(a, b)
    assert all(x.tobytes() == y.tobytes() for x, y in zip(before, b.get_weights()))
    # another layer count
    c = keras.Sequential([keras.Input((9, 9, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    with pytest.raises(ValueError, match="has 1 layers.*has 2"):
        convlab.copy_weights(a, c)


def test_compare_with_keras_bad_input():
    model = _small_classifier(14)
    with pytest.raises(ValueError, match=r"x must have shape \(N, 8, 8, 1\)"):
        convlab.compare_with_keras(model, np.zeros((2, 8, 8, 3)), verbose=False)
    with pytest.raises(ValueError, match="compile"):
        convlab.compare_with_keras(model, np.zeros((2, 8, 8, 1)), np.zeros(2), verbose=False)
    with pytest.raises(ValueError, match="kind"):
        convlab.compare_with_keras(model, np.zeros((2, 8, 8, 1)), verbose=False).max_rel("weights")


def test_unsupported_keras_optimizer_or_loss_suggests_compile_false():
    km = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    km.compile(keras.optimizers.Adam(amsgrad=True), "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="amsgrad=True.*compile=False"):
        convlab.from_keras(km)
    km.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="loss.*compile=False"):
        convlab.from_keras(km)
    model = convlab.from_keras(km, compile=False)
    assert model.loss is None
    assert all(a.tobytes() == b.tobytes() for a, b in zip(km.get_weights(), model.get_weights()))


def test_install_hint_when_keras_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras", None)  # `import keras` now raises ImportError
    with pytest.raises(ImportError, match=re.escape('pip install -e ".[keras]"')):
        convlab.to_keras(_small_classifier(15))
    with pytest.raises(ImportError, match=re.escape('pip install -e ".[keras]"')):
        convlab.compare_with_keras(_small_classifier(15), np.zeros((1, 8, 8, 1)))


def test_import_and_training_work_without_tensorflow():
    code = textwrap.dedent("""
        import sys
        sys.modules["tensorflow"] = None; sys.modules["keras"] = None   # as if not installed
        import numpy as np, convlab
        from convlab.layers import Input, Dense
        m = convlab.Sequential([Input((3,)), Dense(2, activation="softmax")])
        m.compile("sgd", "sparse_categorical_crossentropy")
        m.fit(np.ones((4, 3)), np.array([0, 1, 0, 1]), epochs=1, verbose=0)
        try:
            convlab.to_keras(m)
        except ImportError as exc:
            print("ImportError:", exc)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ImportError: the Keras bridge needs Keras 3" in out.stdout
    assert 'pip install -e ".[keras]"' in out.stdout


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_one_optimizer_step_with_keras_defaults_gives_keras_weights_to_1e_6(optimizer):
    """The issue's bar: one step from the same weights and batch, Keras' default hyper-parameters."""
    model = _small_classifier(11)
    _with_random_biases(model)
    model.compile(optimizer, "sparse_categorical_crossentropy")
    km = convlab.to_keras(model)
    x = RNG.standard_normal((32, 8, 8, 1)).astype(np.float32)
    y = RNG.integers(0, 3, 32)
    model.train_on_batch(x, y)
    km.train_on_batch(x, y)
    for a, b in zip(model.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
