"""Layers: shapes, parameter counts (the slides' models), initialisers, gradient checks, weights, config, errors."""

import math

import numpy as np
import pytest
from layer_helpers import EVERY_LAYER, layer_gradcheck

import convlab
from convlab.layers import (
    Activation,
    AveragePooling2D,
    AvgPool2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    Input,
    MaxPool2D,
    MaxPooling2D,
    ReLU,
    Softmax,
    deserialize,
    reset_names,
    serialize,
)


@pytest.fixture(autouse=True)
def _fresh_names():
    reset_names()
    convlab.set_seed(0)
    yield
    reset_names()


# --------------------------------------------------------------------------- shapes and counts
def _model(*layers):
    return convlab.Sequential(list(layers))


def test_slide_param_counts():
    # seeds/003 (reference-numbers.md): 640; 432,650 → 433,290; 649,775; 163,055; seeds/004: 542,230
    m = _model(Conv2D(64, 3, input_shape=(28, 28, 1)), Flatten(), Dense(10))
    assert [l.count_params() for l in m.layers] == [640, 0, 432650]
    assert m.layers[0].output_shape == (None, 26, 26, 64)
    assert m.layers[1].output_shape == (None, 43264)
    assert m.count_params() == 433290
    m = _model(Conv2D(64, 3, input_shape=(28, 28, 1)), Flatten(), Dense(15, activation="tanh"), Dense(10))
    assert m.layers[2].count_params() == 648975 and m.count_params() == 649775
    m = _model(Conv2D(64, 3, input_shape=(28, 28, 1)), MaxPooling2D((2, 2)), Flatten(), Dense(15), Dense(10))
    assert m.layers[1].output_shape == (None, 13, 13, 64)
    assert m.layers[2].output_shape == (None, 10816)
    assert [l.count_params() for l in m.layers] == [640, 0, 0, 162255, 160]
    assert m.count_params() == 163055
    m = _model(
        Input((28, 28, 1)),
        Conv2D(32, (3, 3), activation="relu"),
        MaxPool2D(2, 2),
        Flatten(),
        Dense(100, activation="relu"),
        Dense(10, activation="softmax"),
    )
    assert [l.count_params() for l in m.layers] == [320, 0, 0, 540900, 1010]
    assert m.count_params() == 542230


def test_keras_names_and_summary():
    m = _model(
        Input((28, 28, 1)),
        Conv2D(32, 3),
        MaxPooling2D(),
        Conv2D(8, 3),
        AveragePooling2D(),
        Flatten(),
        Dense(10),
        Dropout(0.5),
        Dense(3),
        ReLU(),
        Softmax(),
        Activation("tanh"),
    )
    assert [l.name for l in m.layers] == [
        "conv2d",
        "max_pooling2d",
        "conv2d_1",
        "average_pooling2d",
        "flatten",
        "dense",
        "dropout",
        "dense_1",
        "re_lu",
        "softmax",
        "activation",
    ]
    assert m.name == "sequential"
    text = m.summary_text(show_formula=True)
    assert 'Model: "sequential"' in text and "conv2d_1 (Conv2D)" in text and "(None, 13, 13, 32)" in text
    assert "32·3·3·1 + 32" in text and f"Total params: {m.count_params():,}" in text
    assert AvgPool2D is AveragePooling2D and MaxPool2D is MaxPooling2D
    assert GlobalAvgPool2D is GlobalAveragePooling2D and GlobalMaxPool2D is GlobalMaxPooling2D


@pytest.mark.parametrize(
    "padding,strides,hw,expect",
    [
        ("valid", 1, (28, 28), (26, 26)),
        ("same", 1, (28, 28), (28, 28)),
        ("same", 2, (28, 28), (14, 14)),
        ("valid", 2, (6, 6), (2, 2)),  # (6 − 3)/2 + 1 floors to 2
        (1, 2, (5, 5), (3, 3)),  # the slides' 5×5, pad 1, stride 2
    ],
)
def test_conv_output_shapes_match_forward(padding, strides, hw, expect):
    layer = Conv2D(2, 3, strides=strides, padding=padding)
    x = np.random.default_rng(0).random((2, *hw, 3), dtype=np.float32)
    y = layer.forward(x)
    assert layer.output_shape == (None, *expect, 2) and y.shape == (2, *expect, 2)
    assert y.dtype == np.float32


def test_pool_output_shapes():
    for layer, expect in [
        (MaxPooling2D(2), (13, 13)),
        (MaxPooling2D(3, strides=2), (12, 12)),
        (AveragePooling2D(2, padding="same"), (13, 13)),
        (MaxPooling2D(2, padding="same"), (13, 13)),
    ]:
        y = layer.forward(np.ones((1, 26, 26, 4), np.float32))
        assert y.shape == (1, *expect, 4) == (1,) + layer.output_shape[1:]


def test_glorot_uniform_and_zero_bias():
    conv = Conv2D(32, 3)
    conv.build((None, 28, 28, 1))
    k, b = conv.get_weights()
    limit = math.sqrt(6 / (3 * 3 * 1 + 3 * 3 * 32))
    assert k.shape == (3, 3, 1, 32) and k.dtype == np.float32 and np.abs(k).max() <= limit
    assert np.abs(k).max() > 0.9 * limit  # uses the range
    assert np.all(b == 0) and b.shape == (32,)
    d = Dense(100)
    d.build((None, 5408))
    limit = math.sqrt(6 / (5408 + 100))
    kd = d.params["kernel"]
    assert np.abs(kd).max() <= limit and abs(kd.std() - limit / math.sqrt(3)) < 0.01 * limit


def test_flatten_is_nhwc_channels_fastest():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    f = Flatten()
    y = f.forward(x)
    i, j, c = 1, 2, 3
    assert y[1, (i * 4 + j) * 5 + c] == x[1, i, j, c]
    assert np.array_equal(f.backward(y), x)


# --------------------------------------------------------------------------- gradient checks
def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(filters=3, kernel_size=3, activation="tanh"),
        dict(filters=2, kernel_size=(3, 2), strides=2, padding="same", activation="sigmoid"),
        dict(filters=2, kernel_size=3, strides=2, padding="valid", use_bias=False),  # (7 − 3) % 2 == 0, and 6×… floors
    ],
)
def test_conv2d_gradcheck(kwargs):
    layer = Conv2D(dtype="float64", **kwargs)
    layer.build((None, 7, 6, 2))
    layer.params["kernel"][...] = _rand(*layer.params["kernel"].shape, seed=1)
    if "bias" in layer.params:
        layer.params["bias"][...] = _rand(*layer.params["bias"].shape, seed=2)
    errs = layer_gradcheck(layer, _rand(2, 7, 6, 2))
    assert max(errs.values()) < 1e-6


def test_conv2d_relu_gradcheck_away_from_kinks():
    layer = Conv2D(2, 2, activation="relu", dtype="float64")
    layer.build((None, 4, 4, 1))
    layer.params["kernel"][...] = _rand(2, 2, 1, 2, seed=3)
    x = _rand(1, 4, 4, 1, seed=4)
    z = convlab.conv2d(x, layer.params["kernel"], layer.params["bias"])
    assert np.abs(z).min() > 1e-3  # no pre-activation within h of the kink
    layer_gradcheck(layer, x)


@pytest.mark.parametrize(
    "cls,kwargs",
    [
        (MaxPooling2D, {}),
        (MaxPooling2D, dict(pool_size=3, strides=2, padding="same")),
        (AveragePooling2D, {}),
        (AveragePooling2D, dict(pool_size=3, strides=2, padding="same")),
    ],
)
def test_pooling_gradcheck(cls, kwargs):
    x = np.random.default_rng(5).permutation(5 * 5 * 2).reshape(1, 5, 5, 2) / 10.0  # distinct: no ties
    layer_gradcheck(cls(dtype="float64", **kwargs), x)


@pytest.mark.parametrize("activation", [None, "relu", "sigmoid", "tanh", "softmax"])
def test_dense_gradcheck(activation):
    layer = Dense(4, activation=activation, dtype="float64")
    layer.build((None, 5))
    layer.params["bias"][...] = _rand(4, seed=6)
    x = _rand(3, 5, seed=7)
    if activation == "relu":
        z = x @ layer.params["kernel"] + layer.params["bias"]
        x = x[np.abs(z).min(axis=1) > 1e-3] if np.any(np.abs(z).min(axis=1) > 1e-3) else x
    layer_gradcheck(layer, x)


@pytest.mark.parametrize(
    "layer",
    [
        lambda: Flatten(dtype="float64"),
        lambda: Softmax(dtype="float64"),
        lambda: Activation("tanh", dtype="float64"),
        lambda: Activation("sigmoid", dtype="float64"),
    ],
)
def test_parameterless_gradcheck(layer):
    layer_gradcheck(layer(), _rand(3, 6, seed=8))


def test_flatten_gradcheck_4d():
    layer_gradcheck(Flatten(dtype="float64"), _rand(2, 3, 2, 4, seed=9))


def test_backward_overwrites_not_accumulates():
    layer = Conv2D(2, 3)
    x = np.random.default_rng(0).random((2, 5, 5, 1), dtype=np.float32)
    y = layer.forward(x)
    dy = np.ones_like(y)
    dx1 = layer.backward(dy)
    g1 = {k: v.copy() for k, v in layer.grads.items()}
    dx2 = layer.backward(dy)
    assert np.array_equal(dx1, dx2)
    for k in g1:
        assert np.array_equal(g1[k], layer.grads[k])


# --------------------------------------------------------------------------- dropout
def test_dropout_inverted_scaling_and_inference_identity():
    d = Dropout(0.25, seed=1)
    x = np.ones((200, 50), np.float32)
    assert np.array_equal(d.forward(x, training=False), x)
    y = d.forward(x, training=True)
    kept = y != 0
    assert np.allclose(y[kept], 1 / 0.75)
    assert abs(1 - kept.mean() - 0.25) < 0.02
    dy = np.full_like(y, 2.0)
    assert np.array_equal(d.backward(dy), np.where(kept, 2 / 0.75, 0).astype(np.float32))


def test_dropout_seed_repeats():
    x = np.ones((4, 10), np.float32)
    a = Dropout(0.5, seed=3).forward(x, training=True)
    b = Dropout(0.5, seed=3).forward(x, training=True)
    assert np.array_equal(a, b)


# --------------------------------------------------------------------------- weights and config
def test_get_set_weights_checked_and_atomic():
    layer = Dense(3, input_shape=(4,), name="head")
    layer.build((None, 4))
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"head.*'bias'.*\(3,\).*\(4,\)"):
        layer.set_weights([np.zeros((4, 3)), np.zeros(4)])
    with pytest.raises(ValueError, match="head: expected 2 weight arrays"):
        layer.set_weights([np.zeros((4, 3))])
    for a, b in zip(before, layer.get_weights()):
        assert np.array_equal(a, b)
    layer.set_weights([np.ones((4, 3)), np.arange(3)])
    assert layer.params["bias"].dtype == np.float32 and layer.params["bias"][2] == 2
    w = layer.get_weights()
    w[0][0, 0] = 99  # a copy
    assert layer.params["kernel"][0, 0] == 1


@pytest.mark.parametrize(
    "layer",
    [
        lambda: Conv2D(4, (3, 2), strides=(2, 1), padding="same", activation="relu", use_bias=False, name="c"),
        lambda: MaxPooling2D(3, strides=2, padding="same"),
        lambda: AveragePooling2D((2, 3)),
        lambda: Dense(7, activation="softmax", input_shape=(12,)),
        lambda: Dropout(0.3, seed=2),
        lambda: Flatten(),
        lambda: Activation("sigmoid"),
        lambda: ReLU(),
        lambda: Softmax(),
    ],
)
def test_config_round_trip(layer):
    a = layer()
    spec = serialize(a)
    import json

    b = deserialize(json.loads(json.dumps(spec)))
    assert type(b) is type(a) and b.get_config() == a.get_config()


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: Conv2D(0, 3), ValueError, "filters"),
        (lambda: Conv2D(2.5, 3), TypeError, "filters"),
        (lambda: Conv2D(2, "3"), TypeError, "kernel_size"),
        (lambda: Conv2D(2, 3, strides=0), ValueError, "strides"),
        (lambda: Conv2D(2, 3, padding="full"), ValueError, "padding"),
        (lambda: Conv2D(2, 3, activation="swish"), ValueError, "activation"),
        (lambda: Dense(-1), ValueError, "units"),
        (lambda: Dense(3, input_shape=(None,)), ValueError, "input_shape"),
        (lambda: Dropout(1.0), ValueError, "rate"),
        (lambda: Dropout("a"), TypeError, "rate"),
        (lambda: MaxPooling2D(0), ValueError, "pool_size"),
        (lambda: Input((28, 0, 1)), ValueError, "shape"),
        (lambda: Dense(3, dtype="int32"), ValueError, "dtype"),
    ],
)
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_input_shapes_name_the_layer():
    with pytest.raises(ValueError, match="dense.*Flatten"):
        Dense(3).build((None, 4, 4, 1))
    with pytest.raises(ValueError, match="conv2d.*4-D"):
        Conv2D(3, 3).build((None, 10))
    with pytest.raises(ValueError, match="larger than the padded input"):
        Conv2D(3, 5).build((None, 3, 3, 1))
    c = Conv2D(3, 3)
    c.build((None, 8, 8, 1))
    with pytest.raises(ValueError, match=r"conv2d.*: x must have shape \(None, 8, 8, 1\)"):
        c.forward(np.zeros((1, 8, 8, 2)))
    with pytest.raises(TypeError, match="x must be a real numeric"):
        c.forward(np.array([["a"]]))
    with pytest.raises(ValueError, match="before forward"):
        Dense(2).backward(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="count_params"):
        Dense(2).count_params()


# --------------------------------------------------------------------------- Keras-strict arguments
def test_a_typo_is_a_type_error_worded_as_keras():
    with pytest.raises(TypeError) as info:
        Conv2D(32, 3, activaton="relu")
    assert str(info.value) == "Unrecognized keyword arguments passed to Conv2D: {'activaton': 'relu'}"


@pytest.mark.parametrize("cls", sorted(EVERY_LAYER))
def test_every_layer_refuses_unknown_arguments(cls):
    reset_names()
    with pytest.raises(TypeError, match=rf"Unrecognized keyword arguments passed to {cls}: \{{'nope': 1\}}"):
        EVERY_LAYER[cls](nope=1)
    assert not EVERY_LAYER[cls]().name.endswith("_1")  # a refused layer takes no automatic name


@pytest.mark.parametrize(
    "cls,argument,value",
    [
        ("Conv2D", "data_format", "channels_first"),
        ("Conv2D", "kernel_regularizer", "l2"),
        ("Conv2D", "bias_regularizer", "l1"),
        ("Conv2D", "activity_regularizer", "l2"),
        ("Conv2D", "kernel_constraint", "non_neg"),
        ("Conv2D", "bias_constraint", "non_neg"),
        ("Conv2D", "input_dim", 3),
        ("Conv2D", "autocast", False),
        ("Conv2D", "lora_rank", 4),
        ("MaxPooling2D", "data_format", "channels_first"),
        ("AveragePooling2D", "data_format", "channels_first"),
        ("Flatten", "data_format", "channels_first"),
        ("Dense", "kernel_regularizer", "l2"),
        ("Dense", "kernel_constraint", "max_norm"),
        ("Dense", "lora_rank", 4),
        ("Dense", "lora_alpha", 8),
        ("Dense", "quantization_config", "int8"),
        ("Dropout", "noise_shape", (None, 1)),
        ("ReLU", "max_value", 6.0),
        ("ReLU", "negative_slope", 0.1),
        ("ReLU", "threshold", 1.0),
        ("Softmax", "axis", 1),
    ],
)
def test_keras_arguments_convlab_lacks_are_refused_naming_argument_and_value(cls, argument, value):
    with pytest.raises(convlab.layers.UnsupportedArgumentError) as info:
        EVERY_LAYER[cls](**{argument: value})
    assert isinstance(info.value, ValueError)
    assert f"{cls}: {argument}={value!r} is not supported by convlab" in str(info.value)


@pytest.mark.parametrize(
    "cls,arguments",
    [
        (
            "Conv2D",
            dict(
                data_format="channels_last",
                dilation_rate=1,
                groups=1,
                kernel_initializer="glorot_uniform",
                bias_initializer="zeros",
                kernel_regularizer=None,
                bias_regularizer=None,
                activity_regularizer=None,
                kernel_constraint=None,
                bias_constraint=None,
            ),
        ),
        (
            "Conv2D",
            dict(
                data_format=None,
                dilation_rate=(1, 1),
                kernel_initializer=None,
                bias_initializer="Zeros",
                input_dim=None,
                autocast=True,
            ),
        ),
        ("Conv2D", dict(kernel_initializer="GlorotUniform", dilation_rate=[1, 1], data_format="CHANNELS_LAST")),
        ("MaxPooling2D", dict(data_format="channels_last")),
        ("AveragePooling2D", dict(data_format=None)),
        ("Flatten", dict(data_format="channels_last")),
        (
            "Dense",
            dict(
                kernel_initializer="glorot_uniform",
                bias_initializer="zeros",
                kernel_regularizer=None,
                bias_regularizer=None,
                activity_regularizer=None,
                kernel_constraint=None,
                bias_constraint=None,
                lora_rank=None,
                lora_alpha=None,
                quantization_config=None,
            ),
        ),
        ("Dropout", dict(noise_shape=None)),
        ("ReLU", dict(max_value=None, negative_slope=0.0, threshold=0)),
        ("Softmax", dict(axis=-1)),
    ],
)
def test_keras_arguments_at_convlabs_values_are_accepted(cls, arguments):
    reset_names()
    plain = EVERY_LAYER[cls]()
    reset_names()
    layer = EVERY_LAYER[cls](**arguments)
    assert layer.get_config() == plain.get_config()


def test_every_layer_follows_a_row_of_the_one_table():
    from convlab.model.layers.keras_arguments import KERAS_ARGUMENTS

    assert set(EVERY_LAYER) == set(KERAS_ARGUMENTS)
    for cls, make in EVERY_LAYER.items():
        assert make().keras_class == cls
    assert MaxPool2D is MaxPooling2D and AvgPool2D is AveragePooling2D


# --------------------------------------------------------------------------- need_dx
def test_need_dx_false_skips_conv_input_gradient_only():
    layer = Conv2D(3, 3, padding="same", activation="relu")
    x = np.random.default_rng(1).standard_normal((2, 6, 6, 2)).astype(np.float32)
    dy = np.random.default_rng(2).standard_normal(layer.forward(x, training=True).shape).astype(np.float32)
    dx = layer.backward(dy)
    grads = {k: v.copy() for k, v in layer.grads.items()}
    assert dx.shape == x.shape
    assert layer.backward(dy, need_dx=False) is None
    for k in grads:
        assert np.array_equal(grads[k], layer.grads[k])
    assert np.array_equal(layer.backward(dy, need_dx=True), dx)  # nothing remembered between calls
    assert not hasattr(layer, "compute_input_grad")


@pytest.mark.parametrize("cls", sorted(EVERY_LAYER))
def test_every_layer_takes_need_dx(cls):
    layer = EVERY_LAYER[cls]()
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 2)).astype(np.float32)
    if cls == "Dense":
        x = x.reshape(2, -1)
    y = layer.forward(x, training=True)
    layer.backward(np.ones_like(y), need_dx=False)
    dx = layer.backward(np.ones_like(y), need_dx=True)
    assert dx.shape == x.shape
