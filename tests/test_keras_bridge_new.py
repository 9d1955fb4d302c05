"""The Keras bridge for issue 13's layers: dilated and grouped Conv2D, Conv2DTranspose, DepthwiseConv2D,
SeparableConv2D, GlobalAveragePooling2D / GlobalMaxPooling2D and BatchNormalization.

For each layer: a convlab → Keras → convlab round trip is bit-for-bit (settings, initialiser names and
every weight, BatchNormalization's moving statistics included); its output equals Keras' in inference
mode and its weight gradients and updated moving statistics equal Keras' in training mode
(:func:`convlab.compare_with_keras`); a Keras model using every new layer converts and computes Keras'
numbers; ``copy_weights`` copies the moving statistics both ways; what convlab or Keras lacks is refused
with an error naming the layer and the setting.
"""

import re

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
pytestmark = pytest.mark.tf

import convlab
from convlab.bridge import keras as kb
from convlab.layers import Conv2D, Dense, Flatten, Input
from convlab.model.layers.batch_norm import BatchNormalization
from convlab.model.layers.conv_transpose import Conv2DTranspose
from convlab.model.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from convlab.model.layers.global_pooling import GlobalAveragePooling2D, GlobalMaxPooling2D

# The bridge is what is tested here; the backends are compared with the reference elsewhere. numpy needs no
# compilation, which keeps this module fast on a machine where numba's cache is cold.
BACKEND = "numpy"


@pytest.fixture
def rng():
    """The same random data for a test whatever other tests ran before it."""
    return np.random.default_rng(20260413)


def _randomise(model, rng):
    """Non-trivial values for every weight: biases and BN's beta/moving mean ≠ 0, gamma/moving variance ≠ 1.

    So a swapped, missing or reset weight shows (Glorot kernels are kept).
    """
    ws = []
    for layer in model.layers:
        for key, w in layer.weight_items():
            if key in ("bias", "beta", "moving_mean"):
                w = rng.standard_normal(w.shape) * 0.3
            elif key == "gamma":
                w = 1.0 + rng.standard_normal(w.shape) * 0.3
            elif key == "moving_variance":
                w = rng.uniform(0.5, 2.0, w.shape)
            ws.append(np.asarray(w, dtype=layer.dtype))
    model.set_weights(ws)
    return model


# --------------------------------------------------------------------------- the new layers, one case each
# name → (input shape, layer factory, expected Keras config entries)
CASES = {
    "conv_dilated": (
        (9, 10, 3),
        lambda **kw: Conv2D(4, 3, dilation_rate=2, padding="same", **kw),
        {"dilation_rate": (2, 2)},
    ),
    "conv_dilated_pair": (
        (9, 10, 3),
        lambda **kw: Conv2D(3, (2, 3), dilation_rate=(2, 1), **kw),
        {"dilation_rate": (2, 1)},
    ),
    "conv_grouped": ((7, 7, 6), lambda **kw: Conv2D(4, 3, strides=2, groups=2, padding="same", **kw), {"groups": 2}),
    "conv_depthwise_groups": ((6, 6, 3), lambda **kw: Conv2D(6, 3, groups=3, **kw), {"groups": 3}),
    "tconv_valid": (
        (5, 4, 3),
        lambda **kw: Conv2DTranspose(4, 3, strides=2, **kw),
        {"strides": (2, 2), "output_padding": None},
    ),
    "tconv_same_output_padding": (
        (5, 5, 2),
        lambda **kw: Conv2DTranspose(3, (3, 2), strides=2, padding="same", output_padding=1, **kw),
        {"output_padding": (1, 1), "padding": "same"},
    ),
    "tconv_stride3_valid_output_padding": (
        (4, 3, 2),
        lambda **kw: Conv2DTranspose(2, 2, strides=(3, 2), output_padding=(2, 0), **kw),
        {"output_padding": (2, 0)},
    ),
    "depthwise": (
        (9, 8, 3),
        lambda **kw: DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=2, padding="same", **kw),
        {"depth_multiplier": 2, "dilation_rate": (2, 2)},
    ),
    "depthwise_strided": (
        (9, 9, 2),
        lambda **kw: DepthwiseConv2D(3, strides=2, activation="relu", **kw),
        {"strides": (2, 2)},
    ),
    "separable": (
        (8, 7, 3),
        lambda **kw: SeparableConv2D(5, 3, depth_multiplier=2, padding="same", activation="tanh", **kw),
        {"depth_multiplier": 2, "filters": 5},
    ),
    "separable_dilated_strided": (
        (11, 11, 2),
        lambda **kw: SeparableConv2D(3, 3, strides=2, dilation_rate=2, use_bias=False, **kw),
        {"dilation_rate": (2, 2), "use_bias": False},
    ),
    "gap": ((5, 6, 4), lambda **kw: GlobalAveragePooling2D(**kw), {"keepdims": False}),
    "gap_keepdims": ((5, 6, 4), lambda **kw: GlobalAveragePooling2D(keepdims=True, **kw), {"keepdims": True}),
    "gmp": ((5, 6, 4), lambda **kw: GlobalMaxPooling2D(**kw), {"keepdims": False}),
    "gmp_keepdims": ((5, 6, 4), lambda **kw: GlobalMaxPooling2D(keepdims=True, **kw), {"keepdims": True}),
    "bn": ((5, 5, 3), lambda **kw: BatchNormalization(**kw), {"momentum": 0.99, "epsilon": 1e-3}),
    "bn_settings": (
        (5, 5, 3),
        lambda **kw: BatchNormalization(momentum=0.8, epsilon=1e-2, center=False, **kw),
        {"momentum": 0.8, "epsilon": 1e-2, "center": False, "scale": True},
    ),
    "bn_no_scale": ((5, 5, 3), lambda **kw: BatchNormalization(scale=False, **kw), {"scale": False}),
    "bn_dense": ((7,), lambda **kw: BatchNormalization(momentum=0.5, **kw), {"momentum": 0.5}),
}


def _single(name, rng):
    shape, make, _ = CASES[name]
    model = convlab.Sequential([Input(shape), make()], name=f"m_{name}", backend=BACKEND)
    return _randomise(model, rng)


def _batch(model, rng, n=4):
    return rng.standard_normal((n,) + model.input_shape[1:]).astype(model.layers[0].dtype)


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_convlab_keras_convlab_is_exact(name, rng):
    model = _single(name, rng)
    layer = model.layers[0]
    km = convlab.to_keras(model)
    klayer = km.layers[0]
    assert type(klayer).__name__ == type(layer).__name__ and klayer.name == layer.name
    kcfg = klayer.get_config()
    for key, value in CASES[name][2].items():
        assert kcfg[key] == value, (key, kcfg[key])
    # every weight, in Keras' order, bit for bit: the moving statistics too
    assert [v.name for v in klayer.weights] == [k for k, _ in layer.weight_items()]
    for a, b in zip(layer.get_weights(), klayer.get_weights()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()
    assert km.count_params() == model.count_params()
    back = convlab.from_keras(km, backend=BACKEND)
    assert back.layers[0].get_config() == layer.get_config()
    for a, b in zip(model.get_weights(), back.get_weights()):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_gradients_and_moving_statistics_match_keras(name, rng):
    """Inference-mode outputs; training-mode loss, gradients of every weight, updated moving statistics."""
    shape, make, _ = CASES[name]
    convlab.set_seed(13)
    model = convlab.Sequential(
        [Input(shape), make(), Flatten(), Dense(3, activation="softmax")], name=f"g_{name}", backend=BACKEND
    )
    _randomise(model, rng)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = _batch(model, rng, 6), rng.integers(0, 3, 6)
    before = model.get_weights()
    report = convlab.compare_with_keras(model, x, y, verbose=False)
    assert report.max_rel("activation") <= 1e-5, report.table()
    assert report.max_rel("loss") <= 1e-5, report.table()
    grads = [r for r in report.rows if r.kind == "gradient"]
    assert [(r.layer, r.quantity) for r in grads] == [(l.name, k) for l in model.layers for k in l.params]
    assert report.max_rel("gradient") <= 1e-5, report.table()
    states = [(r.layer, r.quantity) for r in report.rows if r.kind == "state"]
    assert states == [(l.name, k) for l in model.layers for k in l.state]
    assert report.max_rel("state") <= 1e-5, report.table()
    # the comparison changes nothing: the training-mode pass updated the moving statistics, then put them back
    assert all(a.tobytes() == b.tobytes() for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_agrees_to_float64_precision(name, rng):
    shape, make, _ = CASES[name]
    model = convlab.Sequential(
        [Input(shape, dtype="float64"), make(dtype="float64"), Flatten(dtype="float64")],
        backend=BACKEND,
    )
    model.add(Dense(2, dtype="float64"))
    _randomise(model, rng)
    model.compile("sgd", "mse")
    x, y = _batch(model, rng, 5), rng.standard_normal((5, 2))
    report = convlab.compare_with_keras(model, x, y, verbose=False)
    assert report.dtype == "float64"
    assert report.max_rel() <= 1e-10, report.table()


def test_batch_norm_table_shows_both_modes(rng):
    model = _single("bn", rng)
    model.add(Flatten())
    model.compile("sgd", "mse")
    report = convlab.compare_with_keras(model, _batch(model, rng), rng.standard_normal((4, 75)), verbose=False)
    text = report.table()
    assert "∂loss/∂gamma" in text and "∂loss/∂beta" in text
    assert "updated moving_mean" in text and "updated moving_variance" in text
    assert "moving statistics" in text.splitlines()[-1]
    with pytest.raises(ValueError, match="'state'"):
        report.max_rel("moving")


# --------------------------------------------------------------------------- a Keras model with every new layer
def _keras_every_layer(rng, dtype="float32"):
    km = keras.Sequential(
        [
            keras.Input((12, 11, 4), dtype=dtype),
            keras.layers.Conv2D(
                6, 3, dilation_rate=2, padding="same", kernel_initializer="he_normal", name="dil", dtype=dtype
            ),
            keras.layers.Conv2D(6, 3, groups=3, activation="relu", bias_initializer="ones", name="grp", dtype=dtype),
            keras.layers.BatchNormalization(momentum=0.9, name="bn1", dtype=dtype),
            keras.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same", name="dw", dtype=dtype),
            keras.layers.SeparableConv2D(5, 3, padding="same", activation="relu", name="sep", dtype=dtype),
            keras.layers.Conv2DTranspose(
                4,
                3,
                strides=2,
                output_padding=1,
                use_bias=False,  # a bias before BatchNormalization has no effect in training (zero gradient)
                kernel_initializer=keras.initializers.RandomNormal(stddev=0.02),
                name="up",
                dtype=dtype,
            ),
            keras.layers.BatchNormalization(center=False, epsilon=1e-2, name="bn2", dtype=dtype),
            keras.layers.ReLU(name="relu", dtype=dtype),
            keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap", dtype=dtype),
            keras.layers.GlobalMaxPooling2D(name="gmp", dtype=dtype),
            keras.layers.Dense(3, activation="softmax", name="out", dtype=dtype),
        ],
        name="every_layer",
    )
    ws = []  # every weight from rng (Keras' own draws are not seeded): the same numbers on every run
    for v in km.weights:
        w = rng.uniform(-0.5, 0.5, v.shape)
        if v.name in ("bias", "beta", "moving_mean"):
            w = rng.standard_normal(w.shape) * 0.3
        elif v.name == "gamma":
            w = 1.0 + rng.standard_normal(w.shape) * 0.3
        elif v.name == "moving_variance":
            w = rng.uniform(0.5, 2.0, w.shape)
        ws.append(np.asarray(w, dtype=dtype))
    km.set_weights(ws)
    return km


@pytest.mark.parametrize(
    "dtype,tol",
    [
        # Ten layers, two batch normalisations in training mode: float32 rounding, amplified by the
        # normalisations' backward pass, reaches ~3e-5 of the largest gradient in the first layers.
        ("float32", {"activation": 1e-5, "loss": 1e-5, "gradient": 1e-4, "state": 1e-5}),
        ("float64", {"activation": 1e-12, "loss": 1e-12, "gradient": 1e-10, "state": 1e-12}),
    ],
)
def test_from_keras_model_using_every_new_layer(dtype, tol, rng):
    km = _keras_every_layer(rng, dtype)
    km.compile("sgd", "sparse_categorical_crossentropy")
    model = convlab.from_keras(km, backend=BACKEND)
    assert [type(l).__name__ for l in model.layers] == [type(l).__name__ for l in km.layers]
    assert [l.name for l in model.layers] == [l.name for l in km.layers]
    assert model.count_params() == km.count_params()
    for a, b in zip(km.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()
    by_name = {l.name: l for l in model.layers}
    assert by_name["dil"].dilation_rate == (2, 2) and by_name["grp"].groups == 3
    assert by_name["dw"].depth_multiplier == 2 and by_name["up"].output_padding == (1, 1)
    assert by_name["bn1"].momentum == 0.9 and by_name["bn2"].center is False and by_name["bn2"].epsilon == 1e-2
    assert by_name["gap"].keepdims is True and by_name["gmp"].keepdims is False
    # initialisers carried: by name, or as Keras' config when they have arguments
    assert by_name["dil"].kernel_initializer == "he_normal" and by_name["grp"].bias_initializer == "ones"
    assert by_name["up"].kernel_initializer == {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": 0.02}}
    x = rng.standard_normal((5, 12, 11, 4)).astype(dtype)
    # km(x), not km.predict(x): Keras' predict casts float64 data to float32 (backend.floatx()) first
    bound = tol["activation"]
    np.testing.assert_allclose(model.predict(x), km(tf.constant(x)).numpy(), rtol=bound, atol=bound)
    report = convlab.compare_with_keras(model, x, rng.integers(0, 3, 5), keras_model=km, verbose=False)
    assert report.dtype == dtype
    for kind, bound in tol.items():
        assert report.max_rel(kind) <= bound, report.table()
    again = convlab.to_keras(model)
    assert [l.get_config() for l in again.layers] == [l.get_config() for l in km.layers]
    for a, b in zip(km.get_weights(), again.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_training_steps_with_batch_norm_give_keras_weights_and_moving_statistics(rng):
    """Two train_on_batch steps: batch statistics in training mode, the momentum rule, the optimizer."""
    convlab.set_seed(21)
    model = convlab.Sequential(
        [
            Input((8, 8, 2)),
            Conv2D(4, 3, dilation_rate=2, use_bias=False),
            BatchNormalization(momentum=0.7),
            DepthwiseConv2D(3, padding="same", activation="relu"),
            GlobalAveragePooling2D(),
            Dense(3, activation="softmax"),
        ],
        backend=BACKEND,
    )
    _randomise(model, rng)
    model.compile(convlab.optimizers.SGD(0.1, momentum=0.9), "sparse_categorical_crossentropy")
    km = convlab.to_keras(model)
    x, y = rng.standard_normal((16, 8, 8, 2)).astype(np.float32), rng.integers(0, 3, 16)
    for step in range(2):
        ours, theirs = model.train_on_batch(x, y), float(km.train_on_batch(x, y))
        assert abs(ours - theirs) <= 1e-5 * abs(theirs), step
        for (key, a), b in zip(model.layers[1].weight_items(), km.layers[1].get_weights()):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=f"{key} step {step + 1}")
        for a, b in zip(model.get_weights(), km.get_weights()):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5, err_msg=f"step {step + 1}")
    np.testing.assert_allclose(model.predict(x), km.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------- copy_weights and moving statistics
def test_copy_weights_both_ways_including_moving_statistics(rng):
    km = _keras_every_layer(rng)
    model = convlab.from_keras(km, compile=False, backend=BACKEND)
    # Keras → convlab: after a Keras training step the moving statistics have moved; copy them over
    km.compile("sgd", "sparse_categorical_crossentropy")
    km.train_on_batch(rng.standard_normal((4, 12, 11, 4)).astype(np.float32), rng.integers(0, 3, 4))
    moved = km.get_layer("bn1").moving_mean.numpy()
    assert not np.array_equal(moved, model.layers[2].state["moving_mean"])
    convlab.copy_weights(km, model)
    for a, b in zip(km.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()
    assert model.layers[2].state["moving_mean"].tobytes() == moved.tobytes()
    # convlab → Keras: new moving statistics in convlab land in Keras
    bn = model.layers[6]
    assert bn.name == "bn2"
    bn.set_weights([bn.params["gamma"], bn.state["moving_mean"] + 1.0, bn.state["moving_variance"] * 3.0])
    convlab.copy_weights(model, km)
    kbn = km.get_layer("bn2")
    assert kbn.moving_mean.numpy().tobytes() == bn.state["moving_mean"].tobytes()
    assert kbn.moving_variance.numpy().tobytes() == bn.state["moving_variance"].tobytes()
    for a, b in zip(km.get_weights(), model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_copy_weights_initialisers_may_differ_settings_may_not(rng):
    a = convlab.Sequential([Input((6, 6, 2)), Conv2D(2, 3, kernel_initializer="he_uniform")], backend=BACKEND)
    b = keras.Sequential([keras.Input((6, 6, 2)), keras.layers.Conv2D(2, 3, kernel_initializer="zeros")])
    convlab.copy_weights(a, b)
    assert a.get_weights()[0].tobytes() == b.get_weights()[0].tobytes()
    cases = [
        (lambda: keras.layers.Conv2D(2, 3, dilation_rate=2), Conv2D(2, 3), "dilation_rate differs"),
        (lambda: keras.layers.BatchNormalization(momentum=0.9), BatchNormalization(), "momentum differs"),
        (lambda: keras.layers.BatchNormalization(center=False), BatchNormalization(), "center differs"),
        (lambda: keras.layers.GlobalAveragePooling2D(keepdims=True), GlobalAveragePooling2D(), "keepdims differs"),
        (lambda: keras.layers.DepthwiseConv2D(3, depth_multiplier=2), DepthwiseConv2D(3), "depth_multiplier"),
    ]
    for make_keras, layer, message in cases:
        k = keras.Sequential([keras.Input((7, 7, 2)), make_keras()])
        c = convlab.Sequential([Input((7, 7, 2)), layer], backend=BACKEND)
        before = c.get_weights()
        with pytest.raises(ValueError, match=message):
            convlab.copy_weights(k, c)
        assert all(x.tobytes() == y.tobytes() for x, y in zip(before, c.get_weights()))


# --------------------------------------------------------------------------- initialisers
def test_initialiser_names_are_carried_both_ways():
    model = convlab.Sequential(
        [
            Input((6, 6, 2)),
            Conv2D(2, 3, kernel_initializer="HeNormal", bias_initializer="ones"),
            SeparableConv2D(2, 3, depthwise_initializer="lecun_uniform", pointwise_initializer="glorot_normal"),
            BatchNormalization(gamma_initializer="random_uniform", moving_variance_initializer="zeros"),
            Flatten(),
            Dense(2, kernel_initializer="random_normal"),
        ],
        backend=BACKEND,
    )
    km = convlab.to_keras(model)

    def kname(layer, key):
        return layer.get_config()[key]["class_name"]

    assert kname(km.layers[0], "kernel_initializer") == "HeNormal" and kname(km.layers[0], "bias_initializer") == "Ones"
    assert kname(km.layers[1], "depthwise_initializer") == "LecunUniform"
    assert kname(km.layers[1], "pointwise_initializer") == "GlorotNormal"
    assert kname(km.layers[2], "gamma_initializer") == "RandomUniform"
    assert kname(km.layers[2], "moving_variance_initializer") == "Zeros"
    assert kname(km.layers[4], "kernel_initializer") == "RandomNormal"
    back = convlab.from_keras(km, backend=BACKEND)
    assert [l.get_config() for l in back.layers] == [l.get_config() for l in model.layers]


def test_function_initialiser_becomes_keras_default():
    model = convlab.Sequential(
        [Input((4,)), Dense(2, kernel_initializer=lambda shape, dtype: np.full(shape, 0.5, dtype))], backend=BACKEND
    )
    km = convlab.to_keras(model)
    assert km.layers[0].get_config()["kernel_initializer"]["class_name"] == "GlorotUniform"
    assert km.get_weights()[0].tobytes() == model.get_weights()[0].tobytes()


def test_keras_initialisers_with_arguments_seeds_or_unknown_to_convlab():
    init = keras.initializers
    km = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(2, kernel_initializer=init.HeNormal(seed=7), bias_initializer=init.Constant(0.25)),
            keras.layers.Dense(2, kernel_initializer=init.VarianceScaling(2.0, "fan_out", "uniform")),
            keras.layers.Dense(2, kernel_initializer=init.Orthogonal(), bias_initializer=init.TruncatedNormal(seed=1)),
        ]
    )
    layers = convlab.from_keras(km, backend=BACKEND).layers
    assert layers[0].kernel_initializer == "he_normal"  # the seed only chose Keras' draw
    assert layers[0].bias_initializer == {"class_name": "Constant", "config": {"value": 0.25}}
    assert layers[1].kernel_initializer == {
        "class_name": "VarianceScaling",
        "config": {"scale": 2.0, "mode": "fan_out", "distribution": "uniform"},
    }
    assert layers[2].kernel_initializer == "glorot_uniform"  # convlab has no Orthogonal: its default
    assert layers[2].bias_initializer == "truncated_normal"
    # a new convlab model of the same configuration draws its weights with them, and gives them back to Keras
    again = convlab.to_keras(convlab.Sequential([Input((4,)), *(_fresh(l) for l in layers)], backend=BACKEND))
    assert again.layers[0].get_config()["bias_initializer"]["config"] == {"value": 0.25}
    assert again.layers[1].get_config()["kernel_initializer"]["config"]["mode"] == "fan_out"


def _fresh(layer):
    """A new layer of the same configuration (the initialisers draw its weights)."""
    config = layer.get_config()
    config.pop("name")
    return type(layer).from_config(config)


# --------------------------------------------------------------------------- what one side lacks
@pytest.mark.parametrize(
    "layer,setting",
    [
        (lambda: keras.layers.GlobalAveragePooling2D(data_format="channels_first", name="bad"), "data_format"),
        (lambda: keras.layers.GlobalMaxPooling2D(data_format="channels_first", name="bad"), "data_format"),
        (lambda: keras.layers.SeparableConv2D(2, 3, data_format="channels_first", name="bad"), "data_format"),
        (lambda: keras.layers.Conv2DTranspose(2, 3, data_format="channels_first", name="bad"), "data_format"),
        (lambda: keras.layers.BatchNormalization(axis=1, name="bad"), "axis=1"),
        (lambda: keras.layers.BatchNormalization(axis=-2, name="bad"), "axis=-2"),
        (lambda: keras.layers.BatchNormalization(renorm=True, name="bad"), "renorm=True"),
        (lambda: keras.layers.BatchNormalization(synchronized=True, name="bad"), "synchronized=True"),
        (lambda: keras.layers.BatchNormalization(gamma_regularizer="l2", name="bad"), "gamma_regularizer"),
        (lambda: keras.layers.BatchNormalization(beta_constraint="non_neg", name="bad"), "beta_constraint"),
        (lambda: keras.layers.DepthwiseConv2D(3, depthwise_regularizer="l2", name="bad"), "depthwise_regularizer"),
        (lambda: keras.layers.SeparableConv2D(2, 3, pointwise_constraint="non_neg", name="bad"), "pointwise_con"),
        (lambda: keras.layers.Conv2DTranspose(2, 3, kernel_regularizer="l1", name="bad"), "kernel_regularizer"),
        (lambda: keras.layers.Conv2DTranspose(2, 3, activation="gelu", name="bad"), "activation='gelu'"),
        (lambda: keras.layers.DepthwiseConv2D(3, dtype="bfloat16", name="bad"), "bfloat16"),
        (lambda: keras.layers.LayerNormalization(name="bad"), "LayerNormalization"),
    ],
)
def test_keras_setting_convlab_lacks_is_named(layer, setting):
    km = keras.Sequential([keras.Input((6, 6, 4)), layer()])
    with pytest.raises(kb.UnsupportedLayerError, match=rf"'bad'.*{re.escape(setting)}"):
        convlab.from_keras(km)


def test_keras_batch_norm_axis_given_by_index_is_the_last_axis():
    km = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.BatchNormalization(axis=3)])
    assert isinstance(convlab.from_keras(km, backend=BACKEND).layers[0], BatchNormalization)
    km = keras.Sequential([keras.Input((5,)), keras.layers.BatchNormalization(axis=1)])
    assert isinstance(convlab.from_keras(km, backend=BACKEND).layers[0], BatchNormalization)
    km = keras.Sequential([keras.layers.Dense(3), keras.layers.BatchNormalization(axis=1)])
    km.build((None, 4))  # no keras.Input: built by build()
    assert isinstance(convlab.from_keras(km, backend=BACKEND).layers[1], BatchNormalization)


@pytest.mark.parametrize(
    "layer,message",
    [
        (lambda: Conv2D(2, 3, strides=2, dilation_rate=2, name="bad"), r"strides=\(2, 2\) with dilation_rate"),
        (lambda: Conv2DTranspose(2, 3, strides=2, dilation_rate=2, name="bad"), "dilation_rate"),
        (lambda: DepthwiseConv2D(3, strides=(2, 1), name="bad"), r"strides=\(2, 1\).*equal strides"),
        (lambda: SeparableConv2D(2, 3, strides=(1, 2), name="bad"), "equal strides"),
        (lambda: Conv2DTranspose(2, 3, padding=1, name="bad"), "padding=1"),
    ],
)
def test_convlab_setting_keras_lacks_is_named(layer, message):
    try:
        made = layer()
    except ValueError as exc:  # convlab itself may not take the setting either: then it says so
        assert re.search(r"strides|dilation|padding", str(exc)), exc
        return
    model = convlab.Sequential([Input((9, 9, 2)), made], backend=BACKEND)
    with pytest.raises(kb.UnsupportedLayerError, match=rf"'bad'.*{message}"):
        convlab.to_keras(model)


def test_convlab_batch_norm_refuses_another_axis():
    with pytest.raises(ValueError, match="axis"):
        BatchNormalization(axis=1)


# --------------------------------------------------------------------------- dilated transposed convolution
def test_dilated_transposed_convolution_is_tensorflows(rng):
    """TensorFlow computes it only on a GPU: the bridge converts it, compare_with_keras says why it cannot run,
    and convlab's layer equals TensorFlow's definition of it — the input-gradient of the dilated convolution
    (what ``tf.nn.conv2d_transpose`` computes on a GPU), measured with GradientTape on the CPU."""
    model = convlab.Sequential([Input((5, 6, 3)), Conv2DTranspose(2, 3, dilation_rate=(2, 3), name="up")])
    _randomise(model, rng)
    km = convlab.to_keras(model)
    assert km.layers[0].get_config()["dilation_rate"] == (2, 3)
    assert tuple(km.output_shape) == model.output_shape
    back = convlab.from_keras(km, backend=BACKEND)
    assert back.layers[0].get_config() == model.layers[0].get_config()
    if not tf.config.list_logical_devices("GPU"):
        with pytest.raises(kb.UnsupportedLayerError, match=r"'up' \(Conv2DTranspose\).*GPU"):
            convlab.compare_with_keras(model, _batch(model, rng), verbose=False)
    kernel, bias = model.layers[0].get_weights()
    x = _batch(model, rng, 3).astype(np.float64)
    z = tf.zeros((3,) + model.output_shape[1:], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(z)
        forward = tf.nn.convolution(z, tf.constant(kernel, tf.float64), strides=1, padding="VALID", dilations=(2, 3))
    expected = tape.gradient(forward, z, output_gradients=tf.constant(x)).numpy() + bias
    np.testing.assert_allclose(back.predict(x.astype(np.float32)), expected, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- frozen batch normalisation
def test_frozen_batch_norm_runs_in_inference_mode_as_in_keras(rng):
    """Keras' rule for fine-tuning: trainable=False makes BatchNormalization use its moving statistics in fit."""
    model = _single("bn", rng)
    model.layers[0].trainable = False
    model.add(Flatten())
    model.add(Dense(2))
    model.compile("sgd", "mse")
    km = convlab.to_keras(model)
    assert km.layers[0].trainable is False
    report = convlab.compare_with_keras(model, _batch(model, rng), rng.standard_normal((4, 2)), verbose=False)
    assert report.max_rel() <= 1e-5, report.table()


# --------------------------------------------------------------------------- summary
def _summary_numbers(text):
    """``[(name (type), output shape, params)]`` and ``(total, trainable, non-trainable)`` of a printed summary."""
    rows = [
        (m.group(1), m.group(2), int(m.group(3).replace(",", "")))
        for m in re.finditer(r"^[│ ]*(\S+ \(\w+\))[│ ]+(\([^)]*\))[│ ]+([\d,]+)[│ ]*$", text, re.MULTILINE)
    ]
    totals = tuple(
        int(re.search(rf"{what} params: ([\d,]+)", text).group(1).replace(",", ""))
        for what in ("Total", "Trainable", "Non-trainable")
    )
    return rows, totals


def test_summary_rows_and_trainable_counts_match_keras(rng):
    km = _keras_every_layer(rng)
    model = convlab.from_keras(km, backend=BACKEND)
    for frozen in (False, True):
        if frozen:  # a frozen layer's weights count as non-trainable, on both sides
            km.get_layer("sep").trainable = model.layers[4].trainable = False
        lines = []
        km.summary(print_fn=lambda s, lines=lines, **kw: lines.append(s))
        theirs = _summary_numbers("\n".join(lines))
        ours = _summary_numbers(model.summary_text())
        assert len(ours[0]) == len(model.layers)
        assert ours == theirs
        assert ours[1][0] == km.count_params() == model.count_params()


def test_a_bias_before_batch_normalization_is_not_a_false_gradient_failure():
    """BatchNormalization cancels the conv bias: its gradient is 0 up to rounding on both sides.

    Each gradient is measured against its layer's largest, so that noise does not read as 100%.
    """
    convlab.set_seed(0)
    m = convlab.Sequential([Input((6, 6, 2)), Conv2D(3, 3), BatchNormalization(), Flatten(), Dense(2)])
    m.compile(loss="mse", optimizer="sgd")
    rng = np.random.default_rng(0)
    x, y = rng.random((4, 6, 6, 2)).astype(np.float32), rng.random((4, 2)).astype(np.float32)
    report = convlab.compare_with_keras(m, x, y, verbose=False)
    bias = next(r for r in report.rows if r.kind == "gradient" and r.quantity == "bias")
    assert bias.max_abs < 1e-5 and report.max_rel("gradient") < 1e-4


def test_a_transposed_layer_tensorflow_cannot_run_is_refused_by_to_keras():
    """'same' + output_padding 0 on an axis with an even kernel: Keras' size, TensorFlow's refusal."""
    m = convlab.Sequential(
        [Input((5, 4, 2)), Conv2DTranspose(3, (3, 2), strides=(2, 3), padding="same", output_padding=(1, 0))]
    )
    with pytest.raises(kb.UnsupportedLayerError, match=r"output_padding=\(1, 0\).*TensorFlow"):
        convlab.to_keras(m)
    ok = convlab.Sequential(
        [Input((5, 4, 2)), Conv2DTranspose(3, (3, 2), strides=(2, 3), padding="same", output_padding=(1, 1))]
    )
    x = np.random.default_rng(0).random((2, 5, 4, 2)).astype(np.float32)
    np.testing.assert_allclose(convlab.to_keras(ok)(x).numpy(), ok.predict(x), rtol=1e-5, atol=1e-5)
