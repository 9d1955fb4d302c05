"""Issue 13's layers: Conv2D(dilation_rate, groups), Conv2DTranspose, DepthwiseConv2D, SeparableConv2D,
GlobalAveragePooling2D/GlobalMaxPooling2D, BatchNormalization; initialisers on every layer with a kernel;
non-trainable weights (``layer.state``) through get/set_weights, counts, summary, saving and training."""

import json
import math

import numpy as np
import pytest
from layer_helpers import EVERY_LAYER, layer_gradcheck

import convlab
from convlab.layers import (
    BatchNormalization,
    Conv2D,
    Conv2DTranspose,
    Dense,
    DepthwiseConv2D,
    Flatten,
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
    Input,
    SeparableConv2D,
    UnsupportedArgumentError,
    deserialize,
    reset_names,
    serialize,
)
from convlab.model import optimizers
from convlab.model.layers.keras_arguments import KERAS_ARGUMENTS
from convlab.ops.batch_norm import batch_norm, batch_norm_backward
from convlab.ops.conv import conv2d, conv2d_backward
from convlab.ops.conv_transpose import conv2d_transpose, conv2d_transpose_backward
from convlab.ops.depthwise import (
    depthwise_conv2d,
    depthwise_conv2d_backward,
    separable_conv2d,
    separable_conv2d_backward,
)
from convlab.ops.global_pooling import (
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_max_pool2d,
    global_max_pool2d_backward,
)


@pytest.fixture(autouse=True)
def _fresh_names():
    reset_names()
    convlab.set_seed(0)
    yield
    reset_names()


def _rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _randomise(layer, seed=1):
    """Every weight random (moving variance positive), so the checks below are not of zeros and ones."""
    for i, (key, w) in enumerate(layer.weight_items()):
        v = _rand(*w.shape, seed=seed + i)
        w[...] = np.abs(v) + 0.5 if key == "moving_variance" else v


# --------------------------------------------------------------------------- each layer == its operation
def _op_case(name):
    """(layer, x, forward(x, layer) -> y, backward(dy, x, layer) -> (dx, {grad key: array}))."""
    x = _rand(2, 7, 6, 4, seed=10)
    if name == "conv_dilated":
        layer = Conv2D(3, 3, padding="same", dilation_rate=2, dtype="float64")
        geo = dict(padding="same", dilation_rate=2)
        return (
            layer,
            x,
            lambda x, l: conv2d(x, l.params["kernel"], l.params["bias"], **geo),
            lambda dy, x, l: _kb(conv2d_backward(dy, x, l.params["kernel"], **geo)),
        )
    if name == "conv_grouped":
        layer = Conv2D(6, (3, 2), strides=2, groups=2, dtype="float64")
        geo = dict(strides=2, groups=2)
        return (
            layer,
            x,
            lambda x, l: conv2d(x, l.params["kernel"], l.params["bias"], **geo),
            lambda dy, x, l: _kb(conv2d_backward(dy, x, l.params["kernel"], **geo)),
        )
    if name == "conv_transpose":
        layer = Conv2DTranspose(3, 3, strides=2, padding="same", output_padding=1, dtype="float64")
        geo = dict(strides=2, padding="same", output_padding=1)
        return (
            layer,
            x,
            lambda x, l: conv2d_transpose(x, l.params["kernel"], l.params["bias"], **geo),
            lambda dy, x, l: _kb(conv2d_transpose_backward(dy, x, l.params["kernel"], **geo)),
        )
    if name == "depthwise":
        layer = DepthwiseConv2D(3, depth_multiplier=2, dilation_rate=(1, 2), padding="same", dtype="float64")
        geo = dict(padding="same", dilation_rate=(1, 2))
        return (
            layer,
            x,
            lambda x, l: depthwise_conv2d(x, l.params["kernel"], l.params["bias"], **geo),
            lambda dy, x, l: _kb(depthwise_conv2d_backward(dy, x, l.params["kernel"], **geo)),
        )
    if name == "separable":
        layer = SeparableConv2D(5, 3, strides=2, depth_multiplier=2, dtype="float64")
        geo = dict(strides=2)

        def bwd(dy, x, l):
            dx, ddk, dpk, db = separable_conv2d_backward(
                dy, x, l.params["depthwise_kernel"], l.params["pointwise_kernel"], **geo
            )
            return dx, {"depthwise_kernel": ddk, "pointwise_kernel": dpk, "bias": db}

        return (
            layer,
            x,
            lambda x, l: separable_conv2d(
                x, l.params["depthwise_kernel"], l.params["pointwise_kernel"], l.params["bias"], **geo
            ),
            bwd,
        )
    if name in ("gap", "gmp"):
        fwd, back = (
            (global_avg_pool2d, global_avg_pool2d_backward)
            if name == "gap"
            else (global_max_pool2d, global_max_pool2d_backward)
        )
        layer = (GlobalAveragePooling2D if name == "gap" else GlobalMaxPooling2D)(keepdims=True, dtype="float64")
        return layer, x, lambda x, l: fwd(x, keepdims=True), lambda dy, x, l: (back(dy, x, keepdims=True), {})
    assert name == "batch_norm"
    layer = BatchNormalization(momentum=0.9, epsilon=1e-2, dtype="float64")

    def fwd(x, l):
        mm, mv = l.state["moving_mean"].copy(), l.state["moving_variance"].copy()
        out = batch_norm(
            x, l.params["gamma"], l.params["beta"], moving_mean=mm, moving_variance=mv, training=True, momentum=0.9,
            epsilon=1e-2,
        )  # fmt: skip
        return out.y

    def bwd(dy, x, l):
        dx, dg, db = batch_norm_backward(dy, x, l.params["gamma"], training=True, epsilon=1e-2)
        return dx, {"gamma": dg, "beta": db}

    return layer, x, fwd, bwd


def _kb(result):
    dx, dk, db = result
    return dx, {"kernel": dk, "bias": db}


CASES = ["conv_dilated", "conv_grouped", "conv_transpose", "depthwise", "separable", "gap", "gmp", "batch_norm"]


@pytest.mark.parametrize("name", CASES)
def test_layer_forward_and_backward_are_its_operation(name):
    layer, x, fwd, bwd = _op_case(name)
    layer.build((None,) + x.shape[1:])
    _randomise(layer)
    expected = fwd(x, layer)  # before the layer's own forward (BatchNormalization updates its moving stats)
    y = layer.forward(x, training=True)
    assert y.shape == expected.shape == (2,) + layer.output_shape[1:]
    np.testing.assert_array_equal(y, expected)
    dy = _rand(*y.shape, seed=11)
    dx = layer.backward(dy)
    dx_op, grads = bwd(dy, x, layer)
    np.testing.assert_array_equal(dx, dx_op)
    assert list(layer.grads) == list(layer.params)
    for k in layer.params:
        np.testing.assert_array_equal(layer.grads[k], grads[k])


@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2D(2, 3, dilation_rate=2, groups=2, activation="tanh", dtype="float64"),
        lambda: Conv2DTranspose(2, (3, 2), strides=(2, 1), activation="sigmoid", dtype="float64"),
        lambda: DepthwiseConv2D(2, strides=2, dilation_rate=2, depth_multiplier=2, dtype="float64"),
        lambda: SeparableConv2D(3, 2, padding="same", activation="tanh", dtype="float64"),
        lambda: GlobalAveragePooling2D(dtype="float64"),
        lambda: BatchNormalization(dtype="float64"),
        lambda: BatchNormalization(center=False, dtype="float64"),
    ],
)
def test_gradcheck_float64(make):
    layer = make()
    layer.build((None, 6, 5, 4))
    _randomise(layer)
    errs = layer_gradcheck(layer, _rand(2, 6, 5, 4, seed=3))
    assert max(errs.values()) < 1e-6


def test_batch_norm_inference_backward_is_the_affine_map():
    layer = BatchNormalization(dtype="float64")
    x = _rand(3, 4, seed=1)
    layer.build((None, 4))
    _randomise(layer)
    y = layer.forward(x, training=False)
    scale = layer.params["gamma"] / np.sqrt(layer.state["moving_variance"] + layer.epsilon)
    np.testing.assert_allclose(y, (x - layer.state["moving_mean"]) * scale + layer.params["beta"], rtol=1e-12)
    dy = _rand(3, 4, seed=2)
    np.testing.assert_allclose(layer.backward(dy), dy * scale, rtol=1e-12)


# --------------------------------------------------------------------------- shapes, counts, errors
@pytest.mark.parametrize(
    "make,shape,out,count",
    [
        (lambda: Conv2D(8, 3, dilation_rate=2), (9, 9, 3), (5, 5, 8), 8 * 9 * 3 + 8),  # 9 − 2·2 = 5
        (lambda: Conv2D(8, 3, padding="same", dilation_rate=(2, 3)), (9, 9, 3), (9, 9, 8), 224),
        (lambda: Conv2D(8, 3, groups=4), (6, 6, 16), (4, 4, 8), 8 * 9 * 4 + 8),
        (lambda: Conv2DTranspose(5, 3, strides=2), (4, 4, 6), (9, 9, 5), 9 * 5 * 6 + 5),  # 4·2 + 1
        (lambda: Conv2DTranspose(5, 3, strides=2, padding="same"), (4, 4, 6), (8, 8, 5), 275),
        (
            lambda: Conv2DTranspose(5, 4, strides=2, padding="same", output_padding=1),
            (4, 4, 6),
            (7, 7, 5),
            485,
        ),  # 3·2 + 4 − 4 + 1
        (lambda: Conv2DTranspose(2, 3, dilation_rate=2, use_bias=False), (4, 4, 1), (8, 8, 2), 18),
        (lambda: DepthwiseConv2D(3), (10, 10, 32), (8, 8, 32), 320),
        (lambda: DepthwiseConv2D(3, strides=2, depth_multiplier=3, padding="same"), (9, 9, 4), (5, 5, 12), 120),
        (lambda: SeparableConv2D(64, 3), (10, 10, 32), (8, 8, 64), 2400),
        (lambda: GlobalAveragePooling2D(), (5, 7, 3), (3,), 0),
        (lambda: GlobalMaxPooling2D(keepdims=True), (5, 7, 3), (1, 1, 3), 0),
        (lambda: BatchNormalization(), (6, 6, 32), (6, 6, 32), 128),
        (lambda: BatchNormalization(scale=False), (10,), (10,), 30),
    ],
)
def test_output_shapes_and_counts(make, shape, out, count):
    layer = make()
    layer.build((None, *shape))
    assert layer.output_shape == (None, *out)
    assert layer.count_params() == count
    y = layer.forward(np.ones((2, *shape), np.float32))
    assert y.shape == (2, *out) and y.dtype == np.float32


def test_trainable_and_non_trainable_counts_split_as_keras():
    bn = BatchNormalization()
    bn.build((None, 4, 4, 32))
    assert (bn.count_params(), bn.count_params(trainable=True), bn.count_params(trainable=False)) == (128, 64, 64)
    assert len(bn.trainable_weights) == 2 and len(bn.non_trainable_weights) == 2
    frozen = Conv2D(2, 3, trainable=False)
    frozen.build((None, 5, 5, 1))
    assert frozen.count_params(trainable=True) == 0 and frozen.count_params(trainable=False) == 20
    with pytest.raises(TypeError, match="trainable"):
        bn.count_params(trainable=1)
    m = convlab.Sequential([Input((6, 6, 3)), Conv2D(4, 3), BatchNormalization(trainable=False), GlobalMaxPool2D()])
    assert m.count_params() == 112 + 16
    assert (m.count_params(trainable=True), m.count_params(trainable=False)) == (112, 16)
    text = m.summary_text()
    assert "Total params: 128 (512.00 B)" in text
    assert "Trainable params: 112 (448.00 B)" in text and "Non-trainable params: 16 (64.00 B)" in text
    assert GlobalAvgPool2D is GlobalAveragePooling2D and GlobalMaxPool2D is GlobalMaxPooling2D


def test_keras_wording_for_dilation_with_strides_and_groups():
    with pytest.raises(ValueError) as info:
        Conv2D(4, 3, strides=2, dilation_rate=2)
    assert str(info.value) == (
        "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
        "Received: strides=(2, 2) and dilation_rate=(2, 2)"
    )
    with pytest.raises(ValueError, match="strides > 1"):
        Conv2DTranspose(4, 3, strides=(1, 2), dilation_rate=(2, 1))
    DepthwiseConv2D(3, strides=2, dilation_rate=2)  # Keras' DepthwiseConv2D accepts it (so does tf.nn)
    with pytest.raises(ValueError, match=r"filters must be evenly divisible .* groups=3, filters=4"):
        Conv2D(4, 3, groups=3)
    with pytest.raises(ValueError, match=r"conv2d.*input channels .* groups=2, but the input has 3 channels"):
        Conv2D(4, 3, groups=2).build((None, 5, 5, 3))
    with pytest.raises(ValueError, match=r"dilation_rate \(3, 3\) \(it spans 7×7\)"):
        Conv2D(4, 3, dilation_rate=3).build((None, 6, 6, 1))
    with pytest.raises(ValueError, match="output_padding must be strictly less than strides"):
        Conv2DTranspose(4, 3, strides=2, output_padding=2)


@pytest.mark.parametrize(
    "make,exc,match",
    [
        (lambda: Conv2D(2, 3, dilation_rate=0), ValueError, "dilation_rate"),
        (lambda: Conv2D(2, 3, groups=0), ValueError, "groups"),
        (lambda: Conv2D(2, 3, groups=1.5), TypeError, "groups"),
        (lambda: Conv2D(2, 3, kernel_initializer="glorot"), ValueError, "kernel_initializer.*unknown"),
        (lambda: Dense(2, bias_initializer=3), TypeError, "bias_initializer"),
        (lambda: DepthwiseConv2D(3, depth_multiplier=0), ValueError, "depth_multiplier"),
        (lambda: SeparableConv2D(0, 3), ValueError, "filters"),
        (lambda: SeparableConv2D(2, 3, pointwise_initializer="nope"), ValueError, "pointwise_initializer"),
        (lambda: Conv2DTranspose(2, 3, output_padding=-1), ValueError, "output_padding"),
        (lambda: GlobalAveragePooling2D(keepdims="yes"), TypeError, "keepdims"),
        (lambda: BatchNormalization(momentum=1.5), ValueError, "momentum"),
        (lambda: BatchNormalization(epsilon=0), ValueError, "epsilon"),
        (lambda: BatchNormalization(center=1), TypeError, "center"),
        (lambda: BatchNormalization(axis=1), UnsupportedArgumentError, "axis=1 is not supported"),
    ],
)
def test_bad_arguments_name_the_argument(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_input_shapes_name_the_layer():
    with pytest.raises(ValueError, match="global_average_pooling2d.*4-D"):
        GlobalAveragePooling2D().build((None, 10))
    with pytest.raises(ValueError, match="conv2d_transpose.*4-D"):
        Conv2DTranspose(2, 3).build((None, 10))
    with pytest.raises(ValueError, match="depthwise_conv2d.*larger than the padded input"):
        DepthwiseConv2D(5).build((None, 3, 3, 1))
    bn = BatchNormalization()
    bn.build((None, 3))
    with pytest.raises(ValueError, match=r"batch_normalization: x must have shape \(None, 3\)"):
        bn.forward(np.zeros((2, 4)))


@pytest.mark.parametrize(
    "cls,argument,value",
    [
        ("Conv2DTranspose", "data_format", "channels_first"),
        ("Conv2DTranspose", "kernel_regularizer", "l2"),
        ("DepthwiseConv2D", "depthwise_regularizer", "l2"),
        ("DepthwiseConv2D", "depthwise_constraint", "non_neg"),
        ("SeparableConv2D", "pointwise_constraint", "non_neg"),
        ("SeparableConv2D", "data_format", "channels_first"),
        ("GlobalAveragePooling2D", "data_format", "channels_first"),
        ("GlobalMaxPooling2D", "data_format", "channels_first"),
        ("BatchNormalization", "renorm", True),
        ("BatchNormalization", "synchronized", True),
        ("BatchNormalization", "gamma_regularizer", "l2"),
    ],
)
def test_keras_arguments_convlab_lacks_are_refused(cls, argument, value):
    with pytest.raises(UnsupportedArgumentError) as info:
        EVERY_LAYER[cls](**{argument: value})
    assert f"{cls}: {argument}={value!r} is not supported by convlab" in str(info.value)


def test_keras_arguments_at_convlabs_values_and_unknown_ones():
    plain = BatchNormalization(name="a").get_config()
    same = BatchNormalization(
        name="a", renorm=False, renorm_clipping=None, renorm_momentum=0.5, synchronized=False, beta_constraint=None
    ).get_config()
    assert plain == same
    for cls, make in EVERY_LAYER.items():
        assert make().keras_class == cls and cls in KERAS_ARGUMENTS
        with pytest.raises(TypeError, match=rf"Unrecognized keyword arguments passed to {cls}: \{{'nope': 1\}}"):
            make(nope=1)
    assert KERAS_ARGUMENTS["Conv2D"].settings[4:6] == ("dilation_rate", "groups")


# --------------------------------------------------------------------------- weights: order, initialisers
def test_weight_order_is_keras():
    def names(layer, shape):
        layer.build(shape)
        return [k for k, _ in layer.weight_items()], [w.shape for w in layer.get_weights()]

    assert names(BatchNormalization(), (None, 3, 3, 8)) == (
        ["gamma", "beta", "moving_mean", "moving_variance"],
        [(8,)] * 4,
    )
    assert names(BatchNormalization(center=False), (None, 5))[0] == ["gamma", "moving_mean", "moving_variance"]
    assert names(BatchNormalization(scale=False), (None, 5))[0] == ["beta", "moving_mean", "moving_variance"]
    assert names(SeparableConv2D(6, 3, depth_multiplier=2), (None, 5, 5, 4)) == (
        ["depthwise_kernel", "pointwise_kernel", "bias"],
        [(3, 3, 4, 2), (1, 1, 8, 6), (6,)],
    )
    assert names(DepthwiseConv2D(3, depth_multiplier=2), (None, 5, 5, 4)) == (["kernel", "bias"], [(3, 3, 4, 2), (8,)])
    assert names(Conv2DTranspose(6, 3), (None, 5, 5, 4)) == (["kernel", "bias"], [(3, 3, 6, 4), (6,)])
    assert names(Conv2D(6, 3, groups=2, use_bias=False), (None, 5, 5, 4)) == (["kernel"], [(3, 3, 2, 6)])


def test_set_weights_covers_the_moving_statistics_checked_before_anything_changes():
    bn = BatchNormalization(name="bn")
    bn.build((None, 3))
    before = bn.get_weights()
    assert [w.tolist() for w in before] == [[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]]  # Keras' initial values
    with pytest.raises(ValueError, match=r"bn: expected 4 weight arrays \(gamma, beta, moving_mean, moving_variance\)"):
        bn.set_weights(before[:2])
    with pytest.raises(ValueError, match=r"bn: weight 'moving_variance' must have shape \(3,\)"):
        bn.set_weights(before[:3] + [np.ones(4)])
    for a, b in zip(before, bn.get_weights()):
        assert np.array_equal(a, b)
    bn.set_weights([np.full(3, 2.0), np.zeros(3), np.arange(3), np.full(3, 4.0)])
    assert bn.state["moving_mean"].tolist() == [0, 1, 2] and bn.state["moving_mean"].dtype == np.float32
    y = bn.forward(np.array([[2.0, 1.0, 2.0]]))  # inference: (x − mm)/sqrt(mv + ε)·γ
    np.testing.assert_allclose(y, [[2 * 2 / math.sqrt(4.001), 0, 0]], rtol=1e-6)


def test_initializers_by_keras_name_and_function():
    conv = Conv2D(4, 3, kernel_initializer="Zeros", bias_initializer="ones")
    conv.build((None, 5, 5, 2))
    assert not conv.params["kernel"].any() and np.all(conv.params["bias"] == 1)
    assert conv.get_config()["kernel_initializer"] == "zeros" and conv.get_config()["bias_initializer"] == "ones"
    he = Dense(400, kernel_initializer="he_uniform")
    he.build((None, 300))
    limit = math.sqrt(6 / 300)
    assert np.abs(he.params["kernel"]).max() <= limit and abs(he.params["kernel"].std() - limit / math.sqrt(3)) < 0.01
    # Keras' add_weight: an initialiser of None is Glorot uniform, for a bias too.
    d = Dense(50, bias_initializer=None)
    d.build((None, 50))
    assert d.params["bias"].any() and d.bias_initializer == "glorot_uniform"
    bn = BatchNormalization(
        gamma_initializer="zeros", moving_variance_initializer={"class_name": "Constant", "config": {"value": 2.0}}
    )
    bn.build((None, 3))
    assert not bn.params["gamma"].any() and np.all(bn.state["moving_variance"] == 2)

    def halves(shape, dtype):
        return np.full(shape, 0.5, dtype)

    sep = SeparableConv2D(3, 2, pointwise_initializer=halves)
    sep.build((None, 4, 4, 2))
    assert np.all(sep.params["pointwise_kernel"] == 0.5) and sep.params["pointwise_kernel"].dtype == np.float32
    assert sep.get_config()["pointwise_initializer"] is halves
    assert deserialize(serialize(sep)).get_config() == sep.get_config()  # in memory: the function itself


def test_the_same_seed_gives_the_same_weights():
    def weights():
        reset_names()
        convlab.set_seed(7)
        m = convlab.Sequential([Input((6, 6, 2)), SeparableConv2D(3, 3), Conv2DTranspose(2, 2), Flatten(), Dense(2)])
        return m.get_weights()

    for a, b in zip(weights(), weights()):
        assert np.array_equal(a, b)


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "make",
    [
        lambda: Conv2D(4, 3, padding="same", dilation_rate=(2, 1), groups=2, kernel_initializer="he_normal"),
        lambda: Conv2DTranspose(
            3, (3, 2), strides=2, padding="same", output_padding=(1, 0), activation="relu", bias_initializer="ones"
        ),
        lambda: Conv2DTranspose(3, 3, dilation_rate=2, use_bias=False, input_shape=(5, 5, 1)),
        lambda: DepthwiseConv2D(3, 2, "same", 3, dilation_rate=1, depthwise_initializer="lecun_normal"),
        lambda: SeparableConv2D(
            8, 3, depth_multiplier=2, dilation_rate=2, activation="tanh", pointwise_initializer="glorot_normal"
        ),
        lambda: GlobalAveragePooling2D(keepdims=True),
        lambda: GlobalMaxPooling2D(name="gmp"),
        lambda: BatchNormalization(
            momentum=0.9, epsilon=1e-5, center=False, moving_mean_initializer="ones", trainable=False
        ),
        lambda: Dense(3, kernel_initializer="random_normal", bias_initializer="random_uniform"),
        lambda: Conv2D(2, 3, kernel_initializer={"class_name": "VarianceScaling", "config": {"scale": 3.0}}),
    ],
)
def test_config_round_trip_every_new_argument(make):
    a = make()
    spec = json.loads(json.dumps(serialize(a)))
    b = deserialize(spec)
    assert type(b) is type(a) and b.get_config() == a.get_config()
    assert b.get_config() == spec["config"]


def test_keras_aliases_deserialize():
    assert type(deserialize({"class_name": "GlobalAvgPool2D", "config": {}})) is GlobalAveragePooling2D
    assert type(deserialize({"class_name": "GlobalMaxPool2D", "config": {"keepdims": True}})) is GlobalMaxPooling2D


# --------------------------------------------------------------------------- model: modes, training, files
@pytest.fixture(scope="module")
def digits():
    """400 real 8×8 digits (scikit-learn), pixels /16, NHWC."""
    x, y = convlab.datasets.load_digits()
    return (x[:400, :, :, None] / 16.0).astype(np.float32), y[:400]


def mobile_net(**bn):
    return convlab.Sequential(
        [
            Input((8, 8, 1)),
            Conv2D(8, 3, padding="same", dilation_rate=2, activation="relu"),
            BatchNormalization(**bn),
            DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
            SeparableConv2D(16, 3, padding="same", activation="relu"),
            GlobalAveragePooling2D(),
            Dense(10, activation="softmax"),
        ],
        backend="numpy",
    )


def test_small_mobile_net_trains_on_real_digits_and_bn_stats_move_only_in_training(digits):
    x, y = digits
    m = mobile_net(momentum=0.8)  # moving statistics that catch up within a few epochs
    m.compile(optimizers.Adam(0.01), "sparse_categorical_crossentropy", ["accuracy"])
    bn = m.layers[1]
    initial = [w.copy() for w in bn.state.values()]
    before = m.evaluate(x, y, verbose=0)
    m.predict(x[:50])
    m(x[:50])
    for a, b in zip(initial, bn.state.values()):  # inference: nothing moved
        assert np.array_equal(a, b)
    h = m.fit(x, y, epochs=4, batch_size=32, verbose=0)
    after = m.evaluate(x, y, verbose=0)  # inference mode: the moving statistics
    assert h.history["loss"][-1] < h.history["loss"][0] < before[0]
    assert after[0] < 0.5 * before[0] and after[1] > 0.6
    moved = [w.copy() for w in bn.state.values()]
    assert not np.array_equal(moved[0], initial[0]) and not np.array_equal(moved[1], initial[1])
    m.evaluate(x, y, verbose=0)
    m.predict(x)
    for a, b in zip(moved, bn.state.values()):
        assert np.array_equal(a, b)


def test_one_step_updates_moving_stats_by_keras_rule_and_the_optimizer_leaves_them_alone(digits):
    x, y = digits
    x, y = x[:16], y[:16]
    bn = BatchNormalization(momentum=0.8, input_shape=(8, 8, 1))
    m = convlab.Sequential([bn, Flatten(), Dense(10, activation="softmax")], backend="numpy")
    m.compile(optimizers.SGD(0.5), "sparse_categorical_crossentropy")  # a large rate: any update would show
    bn.set_weights([np.ones(1), np.zeros(1), np.full(1, 0.3), np.full(1, 2.0)])
    m.train_on_batch(x, y)
    mean, var = float(x.astype(np.float64).mean()), float(x.astype(np.float64).var())
    np.testing.assert_allclose(bn.state["moving_mean"], [0.3 * 0.8 + mean * 0.2], rtol=1e-5)
    np.testing.assert_allclose(bn.state["moving_variance"], [2.0 * 0.8 + var * 0.2], rtol=1e-5)
    assert not np.array_equal(bn.params["gamma"], np.ones(1))  # gamma did learn
    # compute_gradients runs in training mode but changes nothing
    state = [w.copy() for w in bn.state.values()]
    loss, grads = m.compute_gradients(x, y)
    assert [g.shape for g in grads] == [(1,), (1,), (64, 10), (10,)]  # gamma, beta, kernel, bias: no state
    for a, b in zip(state, bn.state.values()):
        assert np.array_equal(a, b)


def test_frozen_batch_norm_runs_in_inference_mode_and_is_not_trained(digits):
    x, y = digits
    m = mobile_net(trainable=False)
    m.compile("adam", "sparse_categorical_crossentropy")
    bn = m.layers[1]
    before = bn.get_weights()
    m.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0)
    for a, b in zip(before, bn.get_weights()):
        assert np.array_equal(a, b)
    assert m.count_params(trainable=False) == 32 and bn.count_params(trainable=True) == 0


def test_a_non_finite_step_leaves_the_moving_statistics_as_they_were(digits):
    x, y = digits
    m = mobile_net()
    m.compile(optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    bn = m.layers[1]
    state = [w.copy() for w in bn.state.values()]
    bad = x[:8].copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(convlab.NonFiniteLossError):
        m.train_on_batch(bad, y[:8])
    for a, b in zip(state, bn.state.values()):
        assert np.array_equal(a, b)


def test_save_and_load_keep_the_moving_statistics(tmp_path, digits):
    x, y = digits
    m = mobile_net(momentum=0.5)
    m.compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    m.fit(x[:96], y[:96], epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "m.npz"
    m.save(path)
    m2 = convlab.load_model(path)
    for a, b in zip(m.get_weights(), m2.get_weights()):
        assert np.array_equal(a, b)
    assert np.array_equal(m2.layers[1].state["moving_variance"], m.layers[1].state["moving_variance"])
    assert not np.all(m2.layers[1].state["moving_variance"] == 1)
    np.testing.assert_array_equal(m2.predict(x[:40]), m.predict(x[:40]))
    assert m2.summary_text() == m.summary_text()
    assert m2.get_config() == m.get_config()
    m.save_weights(tmp_path / "w.npz")
    m3 = mobile_net(momentum=0.5)
    m3.load_weights(tmp_path / "w.npz")
    assert np.array_equal(m3.layers[1].state["moving_mean"], m.layers[1].state["moving_mean"])


def test_a_function_initializer_cannot_be_saved_and_says_so(tmp_path):
    m = convlab.Sequential([Input((4,)), Dense(2, kernel_initializer=lambda shape, dtype: np.zeros(shape), name="d")])
    with pytest.raises(TypeError, match="layer 'd': kernel_initializer is the function"):
        m.save(tmp_path / "m.npz")
    assert not (tmp_path / "m.npz").exists()


def test_every_backend_gives_the_same_loss_and_gradients_through_the_new_layers():
    def net(backend):
        reset_names()
        convlab.set_seed(0)
        m = convlab.Sequential(
            [
                Input((8, 8, 3)),
                Conv2D(8, 3, padding="same", dilation_rate=2, activation="relu"),
                BatchNormalization(),
                DepthwiseConv2D(3, depth_multiplier=2, activation="relu"),
                SeparableConv2D(16, 3, padding="same", activation="relu"),
                Conv2DTranspose(4, 3, strides=2),
                Conv2D(4, 3, groups=2),
                GlobalMaxPooling2D(),
                Dense(10, activation="softmax"),
            ],
            backend=backend,
        )
        m.compile("sgd", "sparse_categorical_crossentropy")
        return m

    x = np.random.default_rng(0).random((8, 8, 8, 3)).astype(np.float32)
    y = np.arange(8)
    loss_np, grads_np = net("numpy").compute_gradients(x, y)
    loss_nb, grads_nb = net(None).compute_gradients(x, y)  # None: numba
    assert loss_nb == pytest.approx(loss_np, rel=1e-6)
    for a, b in zip(grads_np, grads_nb):
        np.testing.assert_allclose(b, a, atol=1e-5 * np.abs(a).max())


# --------------------------------------------------------------------------- Keras: rows, counts, numbers
def _keras_and_ours(keras):
    """The same model in both (every new layer), with our weights copied into Keras'."""
    keras.backend.clear_session()  # Keras' automatic names start again, as convlab's do (reset_names)
    reset_names()
    ours = convlab.Sequential(
        [
            Input((12, 12, 32)),
            BatchNormalization(),
            DepthwiseConv2D(3),
            SeparableConv2D(64, 3),
            Conv2D(8, 3, groups=2, padding="same"),
            Conv2D(8, 3, dilation_rate=2, padding="same"),
            Conv2DTranspose(6, 3, strides=2, output_padding=1, padding="same"),
            BatchNormalization(center=False, trainable=False),
            GlobalMaxPooling2D(keepdims=True),
            GlobalAveragePooling2D(),
            Dense(3),
        ]
    )
    km = keras.Sequential(
        [
            keras.Input((12, 12, 32)),
            keras.layers.BatchNormalization(),
            keras.layers.DepthwiseConv2D(3),
            keras.layers.SeparableConv2D(64, 3),
            keras.layers.Conv2D(8, 3, groups=2, padding="same"),
            keras.layers.Conv2D(8, 3, dilation_rate=2, padding="same"),
            keras.layers.Conv2DTranspose(6, 3, strides=2, output_padding=1, padding="same"),
            keras.layers.BatchNormalization(center=False, trainable=False),
            keras.layers.GlobalMaxPooling2D(keepdims=True),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    return ours, km


@pytest.mark.tf
def test_summary_rows_and_counts_equal_keras():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    ours, km = _keras_and_ours(keras)
    for a, b in zip(ours.layers, km.layers):
        assert a.name == b.name and a.output_shape == tuple(b.output.shape)
        assert a.count_params() == b.count_params()
        assert a.count_params(trainable=True) == sum(int(np.prod(w.shape)) for w in b.trainable_weights)
        assert [k for k, _ in a.weight_items()] == [w.name for w in b.weights]
    assert [l.count_params() for l in ours.layers[:3]] == [128, 320, 2400]
    lines = []
    km.summary(print_fn=lambda s, **kw: lines.append(s))
    theirs = "\n".join(lines)
    ours_text = ours.summary_text()
    for label in ("Total params", "Trainable params", "Non-trainable params"):
        # Keras 3: " Total params: 23,321 (91.10 KB)" — the same count and size.
        mine = next(line for line in ours_text.splitlines() if line.startswith(label + ":"))
        assert f" {mine}" in theirs, (mine, theirs)


def grads_of(model, grads, layer):
    """``layer``'s gradients from :meth:`Sequential.compute_gradients`'s list (none for a frozen layer:
    Keras' ``trainable_weights`` leaves it out)."""
    i = 0
    for other in model.layers:
        if other is layer:
            return grads[i : i + len(layer.params)] if layer.trainable else []
        i += len(other.params)
    raise AssertionError(layer)


@pytest.mark.tf
def test_numbers_equal_keras_inference_and_one_training_pass():
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    ours, km = _keras_and_ours(keras)
    for a in ours.layers:
        _randomise(a, seed=5)
        for w in a.weights:
            w *= 0.3  # keep the activations moderate through eleven layers
        if "moving_variance" in a.state:
            a.state["moving_variance"][...] = np.abs(a.state["moving_variance"]) + 0.5
    for a, b in zip(ours.layers, km.layers):
        b.set_weights(a.get_weights())
    x = np.random.default_rng(0).standard_normal((4, 12, 12, 32)).astype(np.float32)
    target = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    # gradients of a training-mode pass (batch statistics), before any moving statistic changes
    ours.compile("sgd", "mse")
    loss, grads = ours.compute_gradients(x, target)
    tf = pytest.importorskip("tensorflow")
    with tf.GradientTape() as tape:
        k_loss = keras.losses.MeanSquaredError()(target, km(x, training=True))
    k_grads = tape.gradient(k_loss, km.trainable_weights)
    for a, b in zip(ours.layers, km.layers):  # undo the Keras pass's moving-statistics update
        b.set_weights(a.get_weights())
    assert loss == pytest.approx(float(k_loss), rel=1e-5)
    ours_trainable = [g for layer in ours.layers for k, g in zip(layer.params, grads_of(ours, grads, layer))]
    assert len(ours_trainable) == len(k_grads)
    for g, kg in zip(ours_trainable, k_grads):
        np.testing.assert_allclose(g, kg.numpy(), atol=1e-5 * np.abs(kg.numpy()).max(), rtol=1e-4)
    y = ours.predict(x)
    scale = np.abs(y).max()
    np.testing.assert_allclose(y, km.predict(x, verbose=0), atol=1e-5 * scale, rtol=1e-4)
    y_train = ours(x, training=True)
    k_train = km(x, training=True).numpy()
    np.testing.assert_allclose(y_train, k_train, atol=1e-5 * np.abs(k_train).max(), rtol=1e-4)
    for a, b in zip(ours.layers, km.layers):  # moving statistics updated alike (the frozen one not at all)
        for w, kw in zip(a.get_weights(), b.get_weights()):
            np.testing.assert_allclose(w, kw, rtol=1e-5, atol=1e-6)
