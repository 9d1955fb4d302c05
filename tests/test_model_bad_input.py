"""The model level refuses bad input as the operations do: ValueError/TypeError naming the argument, never a lie.

One test per rule (convlab.model.layers.validation, convlab.util.checks), parametrized over every
place that follows it: flags are bools, real settings are finite floats in range, sizes and seeds
follow the one int rule, arrays go through the shared array checks (a value the layer's dtype
cannot hold is refused, never a silent inf), targets are checked against the loss before the first
step, and shapes that no array can have are refused when a layer is built.
"""

import re
import warnings

import numpy as np
import pytest

import convlab
from convlab.layers import (
    Activation,
    AveragePooling2D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Input,
    MaxPooling2D,
    deserialize,
    reset_names,
)
from convlab.model import optimizers
from convlab.model.metrics import Metric
from convlab.model.sequential import NonFiniteLossError, Sequential

X = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)
Y = np.array([0, 1, 2, 0, 1, 2])


@pytest.fixture(autouse=True)
def _fresh():
    reset_names()
    convlab.set_seed(0)
    with warnings.catch_warnings():
        # A refused value must be refused, not cast with a RuntimeWarning/ComplexWarning on the way.
        warnings.simplefilter("error")
        yield
    reset_names()


def _model(loss="sparse_categorical_crossentropy", units=3, activation="softmax", metrics=("accuracy",)):
    m = Sequential([Input((4,)), Dense(units, activation=activation)])
    m.compile("sgd", loss, list(metrics))
    return m


def _built(layer, shape):
    layer.build(shape)
    return layer


def _forwarded(layer, x):
    layer.forward(x, training=True)
    return layer


def _raises(exc, words, fn):
    with pytest.raises(exc) as info:
        fn()
    for w in words:
        assert re.search(w, str(info.value)), (w, str(info.value))
    return info.value


# --------------------------------------------------------------------------- flags
FLAG_SITES = {
    "Conv2D(use_bias)": ("use_bias", lambda v: Conv2D(2, 3, use_bias=v)),
    "Dense(use_bias)": ("use_bias", lambda v: Dense(2, use_bias=v)),
    "Dense(trainable)": ("trainable", lambda v: Dense(2, trainable=v)),
    "Flatten(trainable)": ("trainable", lambda v: Flatten(trainable=v)),
    "SGD(nesterov)": ("nesterov", lambda v: optimizers.SGD(momentum=0.9, nesterov=v)),
    "fit(shuffle)": ("shuffle", lambda v: _model().fit(X, Y, shuffle=v, verbose=0)),
    "evaluate(return_dict)": ("return_dict", lambda v: _model().evaluate(X, Y, return_dict=v, verbose=0)),
    "model(training)": ("training", lambda v: _model()(X, training=v)),
    "layer(training)": ("training", lambda v: _built(Dense(2), (None, 4))(X, training=v)),
    "Dropout.forward(training)": ("training", lambda v: Dropout(0.5).forward(X, training=v)),
    "Dense.backward(need_dx)": ("need_dx", lambda v: _forwarded(Dense(2), X).backward(np.ones((6, 2)), need_dx=v)),
    "Input.backward(need_dx)": ("need_dx", lambda v: Input((4,)).backward(X, need_dx=v)),
    "summary(show_formula)": ("show_formula", lambda v: _model().summary(print_fn=lambda s: None, show_formula=v)),
}


@pytest.mark.parametrize("value", ["False", 0, 1, 2.0, None, np.array([True])], ids=repr)
@pytest.mark.parametrize("site", FLAG_SITES)
def test_flags_must_be_bools(site, value):
    """``bool("False")`` is True: a flag given as anything but a bool would silently do the opposite."""
    name, call = FLAG_SITES[site]
    _raises(TypeError, [name, "True or False"], lambda: call(value))


@pytest.mark.parametrize("site", FLAG_SITES)
def test_numpy_bools_are_flags(site):
    _, call = FLAG_SITES[site]
    call(np.bool_(True))


# --------------------------------------------------------------------------- real settings
FLOAT_SITES = {
    "Dropout(rate)": ("rate", lambda v: Dropout(v)),
    "SGD(learning_rate)": ("learning_rate", lambda v: optimizers.SGD(v)),
    "SGD(momentum)": ("momentum", lambda v: optimizers.SGD(momentum=v)),
    "Adam(beta_1)": ("beta_1", lambda v: optimizers.Adam(beta_1=v)),
    "Adam(beta_2)": ("beta_2", lambda v: optimizers.Adam(beta_2=v)),
    "Adam(epsilon)": ("epsilon", lambda v: optimizers.Adam(epsilon=v)),
    "RMSprop(rho)": ("rho", lambda v: optimizers.RMSprop(rho=v)),
    "RMSprop(epsilon)": ("epsilon", lambda v: optimizers.RMSprop(epsilon=v)),
    "learning_rate=": ("learning_rate", lambda v: setattr(optimizers.Adam(), "learning_rate", v)),
    "fit(validation_split)": ("validation_split", lambda v: _model().fit(X, Y, validation_split=v, verbose=0)),
}
BAD_FLOATS = [
    (10**400, ValueError),  # float() of it would raise OverflowError
    (float("nan"), ValueError),
    (float("inf"), ValueError),
    (-1.0, ValueError),
    ("0.1", TypeError),
    (True, TypeError),
    (None, TypeError),
    (0.1 + 0j, TypeError),
    ([0.1], TypeError),
]


@pytest.mark.parametrize("value,exc", BAD_FLOATS, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("site", FLOAT_SITES)
def test_real_settings_are_finite_floats_in_range(site, value, exc):
    name, call = FLOAT_SITES[site]
    _raises(exc, [name], lambda: call(value))


def test_validation_split_takes_numpy_floats():
    """np.float32(0.5) was refused while np.float64(0.5) was accepted."""
    for v in (np.float32(0.5), np.float64(0.5), 0.5):
        assert "val_loss" in _model().fit(X, Y, validation_split=v, verbose=0).history


def test_learning_rate_is_checked_when_changed_and_the_optimizer_keeps_working():
    opt = optimizers.SGD(0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = float("nan")
    assert opt.learning_rate == 0.1
    opt.learning_rate = np.float32(0.5)
    assert opt.learning_rate == 0.5 and type(opt.learning_rate) is float


# --------------------------------------------------------------------------- ints and shapes
INT_SITES = {
    "set_seed": ("seed", lambda v: convlab.set_seed(v)),
    "fit(seed)": ("seed", lambda v: _model().fit(X, Y, seed=v, verbose=0)),
    "Dropout(seed)": ("seed", lambda v: Dropout(0.5, seed=v)),
    "Input(shape)": ("shape", lambda v: Input((v,))),
    "Dense(input_shape)": ("input_shape", lambda v: Dense(2, input_shape=(v,))),
    "Dense.build": ("input_shape", lambda v: Dense(2).build((None, v))),
    "Sequential.build": ("input_shape", lambda v: Sequential([Dense(2)]).build((None, v))),
}


@pytest.mark.parametrize(
    "value,exc",
    [(2**63, ValueError), (2**70, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError), ("3", TypeError)],
    ids=repr,
)
@pytest.mark.parametrize("site", INT_SITES)
def test_sizes_and_seeds_follow_the_one_int_rule(site, value, exc):
    """Ints from their minimum up to 2**63 - 1 (check_int); NumPy's "Maximum allowed dimension exceeded" never."""
    name, call = INT_SITES[site]
    _raises(exc, [name], lambda: call(value))


def test_the_largest_seed_is_accepted():
    convlab.set_seed(2**63 - 1)
    Dropout(0.5, seed=np.int64(2**63 - 1))


@pytest.mark.parametrize(
    "build,words",
    [
        (lambda: Flatten().build((None, 2**40, 2**40, 2**40)), ["flatten", "output", "2\\*\\*63"]),
        # np.prod wrapped this one around to 0: the layer claimed an output of shape (None, 0)
        (lambda: Flatten().build((None, 2**31, 2**31, 4)), ["flatten", "18446744073709551616"]),
        (lambda: Dense(2**40).build((None, 2**30)), ["dense", "kernel", "more than any array"]),
        (lambda: Conv2D(2, 3, padding=2**40).build((None, 5, 5, 1)), ["conv2d", "output", "more than any array"]),
        (lambda: MaxPooling2D(2, padding=(2**40, 2**40)).build((None, 5, 5, 1)), ["max_pooling2d|padding"]),
    ],
)
def test_shapes_no_array_can_have_are_refused_at_build(build, words):
    _raises(ValueError, words, build)


def test_flatten_counts_exactly():
    f = Flatten()
    f.build((None, 2**20, 2**20, 4))
    assert f.output_shape == (None, 2**42)


# --------------------------------------------------------------------------- arrays
BIG = np.full((6, 4), 1e300)  # finite in float64, inf in float32


def _set_first_weight(m, w):
    ws = m.get_weights()
    ws[0] = w
    m.set_weights(ws)


ARRAY_SITES = {
    "fit(x)": ("x", lambda a: _model().fit(a, Y, verbose=0)),
    "predict(x)": ("x", lambda a: _model().predict(a)),
    "evaluate(x)": ("x", lambda a: _model().evaluate(a, Y, verbose=0)),
    "model(x)": ("x", lambda a: _model()(a)),
    "fit(validation_data)": ("validation_data\\[0\\]", lambda a: _model().fit(X, Y, validation_data=(a, Y), verbose=0)),
    "layer.forward(x)": ("dense: x", lambda a: Dense(2, name="dense").forward(a)),
    "set_weights": ("kernel", lambda a: _set_first_weight(_model(), a[:4, :3] if isinstance(a, np.ndarray) else a)),
    "apply_gradients": ("gradient", lambda a: optimizers.SGD().apply_gradients([(a, np.zeros((6, 4), np.float32))])),
}


@pytest.mark.parametrize("site", ARRAY_SITES)
def test_a_value_the_dtype_cannot_hold_is_refused_not_made_inf(site):
    name, call = ARRAY_SITES[site]
    _raises(ValueError, [name, "beyond the range of float32"], lambda: call(BIG))


@pytest.mark.parametrize(
    "value,exc,words",
    [
        ([[1.0, 2.0], [1.0]], ValueError, ["ragged"]),
        (np.ones((6, 4), complex), TypeError, ["real"]),
        (np.array([["a"] * 4] * 6), TypeError, ["real"]),
    ],
    ids=["ragged", "complex", "str"],
)
@pytest.mark.parametrize("site", ["apply_gradients", "set_weights", "layer.forward(x)"])
def test_arrays_go_through_the_shared_checks(site, value, exc, words):
    name, call = ARRAY_SITES[site]
    _raises(exc, [name, *words], lambda: call(value))


@pytest.mark.parametrize(
    "call,words",
    [
        (lambda: Sequential([Dense(2)]).predict(np.ones((2, 0))), ["x", "non-empty", r"\(2, 0\)"]),
        (lambda: Dense(2).forward(np.ones(3)), ["dense: x", r"\(N, \.\.\.\)"]),
        (lambda: Dense(2).forward(np.ones((2, 0))), ["dense: x", "non-empty"]),
        (lambda: Sequential().predict(X), ["no layers", "x"]),
        (lambda: Dense(4, input_shape=(3,), name="d")(np.ones((1, 1))), [r"d: x must have shape \(None, 3\)"]),
        (lambda: Conv2D(2, 3, name="c")(np.ones((1, 1, 1, 1))), [r"c: x of shape \(1, 1, 1, 1\)", "kernel 3×3"]),
        (lambda: _model().fit(X[:1], Y, verbose=0), [r"y must have one entry per example of x \(1\)"]),
    ],
)
def test_the_input_is_named_not_the_shape_it_would_build(call, words):
    """An unbuilt model or layer used to say "input_shape must contain positive ints" for an empty x."""
    _raises(ValueError, words, call)


def test_inputs_are_not_modified_and_read_only_arrays_are_fine():
    x, y = X.copy(), Y.copy()
    x.flags.writeable = False
    y.flags.writeable = False
    m = _model()
    m.fit(x, y, epochs=2, batch_size=4, validation_split=0.3, verbose=0)
    m.evaluate(x, y, verbose=0)
    m.train_on_batch(x, y)
    assert np.array_equal(x, X) and np.array_equal(y, Y)


# --------------------------------------------------------------------------- targets against the loss
@pytest.mark.parametrize(
    "labels,exc,words",
    [
        (np.array([0, 1, 2, 0, 1, 3]), ValueError, [r"y must hold class indices in \[0, 2\]", "got 3 at \\[5\\]"]),
        (np.array([0, 1, 2, 0, 1, -1]), ValueError, ["y must hold class indices", "got -1"]),
        (np.array([0, 1, 2, 0, 1, 1e20]), ValueError, ["y must hold class indices", r"1e\+20"]),
        (np.array([0, 1, 2, 0, 1, 2**64 - 1], np.uint64), ValueError, ["18446744073709551615"]),
        (np.array([0, 1, 2, 0, 1, 0.5]), TypeError, ["y must hold integer class indices", "0.5"]),
        (np.array([0, 1, 2, 0, 1, np.nan]), TypeError, ["y must hold integer class indices", "nan"]),
        (np.eye(3)[Y], ValueError, ["y must hold one class index per example", "categorical_crossentropy"]),
    ],
    ids=["3", "-1", "1e20", "uint64", "0.5", "nan", "one-hot"],
)
def test_sparse_labels_are_checked_before_the_first_step(labels, exc, words):
    """A bad label in the last batch used to be found after the first batches had changed the weights."""
    m = _model()
    before = m.get_weights()
    _raises(exc, words, lambda: m.fit(X, labels, batch_size=2, verbose=0))
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))
    _raises(exc, words, lambda: m.train_on_batch(X, labels))
    _raises(exc, words, lambda: m.evaluate(X, labels, verbose=0))
    _raises(
        exc,
        [w.replace("y ", "validation_data\\[1\\] ") for w in words[:1]],
        lambda: m.fit(X, Y, validation_data=(X, labels), verbose=0),
    )
    assert all(np.array_equal(a, b) for a, b in zip(before, m.get_weights()))


@pytest.mark.parametrize(
    "labels", [Y, Y[:, None], Y.astype(float), Y.astype(np.uint8)], ids=["int", "N1", "float", "u8"]
)
def test_valid_sparse_labels_still_train(labels):
    assert np.isfinite(_model().fit(X, labels, verbose=0).history["loss"][0])


def test_targets_are_never_reshaped_onto_the_wrong_outputs():
    """mse with outputs (N, 6) and targets (N, 3, 2) used to be silently reshaped (any same-size y was)."""
    m = Sequential([Input((4,)), Dense(6)])
    m.compile("sgd", "mse")
    _raises(
        ValueError,
        ["y must have the outputs' shape", r"\(6, 6\)", r"\(6, 3, 2\)"],
        lambda: m.fit(X, np.ones((6, 3, 2)), verbose=0),
    )
    # Keras' rule is kept: a trailing axis of 1 is squeezed or added.
    a = m.evaluate(X, np.ones((6, 6)), verbose=0)
    b = m.evaluate(X, np.ones((6, 6, 1)), verbose=0)
    assert a == b


def test_binary_targets_are_checked_before_training():
    m = _model("binary_crossentropy", units=1, activation="sigmoid", metrics=["accuracy"])
    _raises(ValueError, ["y must hold targets in \\[0, 1\\]"], lambda: m.fit(X, np.full(6, 2.0), verbose=0))
    assert np.isfinite(m.fit(X, np.full(6, 0.5), verbose=0).history["loss"][0])


def test_nan_in_the_data_is_named_in_the_non_finite_loss_error():
    """The loss of a NaN input is NaN (IEEE): the error says so, instead of blaming the learning rate."""
    x = X.copy()
    x[3, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        err = _raises(
            NonFiniteLossError, ["x holds nan", "from the data"], lambda: _model().fit(x, Y, shuffle=False, verbose=0)
        )
    assert "learning_rate" not in str(err)


# --------------------------------------------------------------------------- compile, verbose, summary, structure
def mean_squared_error(y_true, y_pred):  # a user's function that shares convlab's loss name
    return 0.0


@pytest.mark.parametrize(
    "kwargs,exc,words",
    [
        (dict(loss=mean_squared_error), TypeError, ["loss", "convlab.losses"]),
        (dict(loss="mse", metrics=["accuracy", "accuracy"]), ValueError, ["metrics", "'accuracy'"]),
        (dict(loss="mse", metrics=[np.mean, np.mean]), ValueError, ["metrics", "'mean'"]),
        (dict(loss="mse", metrics=[convlab.losses.mean_squared_error]), None, []),
    ],
    ids=["user-fn-named-like-a-loss", "duplicate-name", "duplicate-function", "loss-fn-as-metric"],
)
def test_compile_refuses_what_it_would_silently_misuse(kwargs, exc, words):
    m = Sequential([Input((4,)), Dense(3)])
    if exc is None:
        m.compile("sgd", **kwargs)
    else:
        _raises(exc, words, lambda: m.compile("sgd", **kwargs))


@pytest.mark.parametrize(
    "value,exc", [(3, ValueError), (-1, ValueError), (True, TypeError), (1.0, TypeError), ("1", TypeError)], ids=repr
)
@pytest.mark.parametrize("method", ["fit", "evaluate", "predict"])
def test_verbose_is_0_1_2_or_auto(method, value, exc):
    m = _model()
    args = (X,) if method == "predict" else (X, Y)
    _raises(exc, ["verbose"], lambda: getattr(m, method)(*args, verbose=value))
    getattr(m, method)(*args, verbose="auto" if method == "predict" else 0)


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: Sequential(5), TypeError, ["layers", "int"]),
        (lambda: Sequential({}), TypeError, ["layers", "dict"]),
        (lambda: Sequential(Dense(2)), TypeError, ["layers", "Dense"]),
        (lambda: _model().summary(print_fn=3), TypeError, ["print_fn"]),
        (lambda: _model().set_weights(5), TypeError, ["weights"]),
        (lambda: setattr(Dense(2), "backend", "cuda"), ValueError, ["backend"]),
        (lambda: _model().fit(X, Y, validation_data="ab", verbose=0), ValueError, ["validation_data", "str"]),
        (lambda: _model().fit(X, Y, validation_data=(X,), verbose=0), ValueError, ["validation_data", "1 items"]),
    ],
)
def test_model_arguments_are_named(call, exc, words):
    _raises(exc, words, call)


# --------------------------------------------------------------------------- metrics
def _returns(value):
    def custom(y_true, y_pred):
        return value

    return custom


@pytest.mark.parametrize(
    "result,exc",
    [
        ("x", TypeError),
        ([[1.0], [1.0, 2.0]], ValueError),
        (np.ones(6, complex), TypeError),
        (np.ones(5), ValueError),
    ],
    ids=["str", "ragged", "complex", "wrong-length"],
)
def test_a_user_metric_must_return_numbers_per_example_or_one(result, exc):
    m = Sequential([Input((4,)), Dense(3, activation="softmax")])
    m.compile("sgd", "sparse_categorical_crossentropy", [_returns(result)])
    _raises(exc, ["metric 'custom'"], lambda: m.fit(X, Y, verbose=0))


def test_metric_names_y_true():
    _raises(ValueError, ["y_true", "ragged"], lambda: Metric("accuracy").values([[1], [1, 2]], np.ones((2, 3))))


# --------------------------------------------------------------------------- optimizers
@pytest.mark.parametrize(
    "pairs,exc,words",
    [
        (3, TypeError, ["grads_and_vars", "iterable"]),
        ([np.ones(2)], TypeError, [r"grads_and_vars\[0\]", "pair"]),
        ([(np.ones(2), [0.0, 0.0])], TypeError, ["parameter", "writeable float32/float64", "list"]),
        ([(np.ones(2), np.zeros(2, int))], TypeError, ["parameter", "int64"]),
        ([(np.ones(3), np.zeros(2))], ValueError, ["gradient 0 has shape"]),
    ],
    ids=["not-iterable", "not-a-pair", "list-param", "int-param", "shape"],
)
def test_apply_gradients_names_what_is_wrong(pairs, exc, words):
    _raises(exc, words, lambda: optimizers.Adam().apply_gradients(pairs))


def test_apply_gradients_refuses_a_read_only_parameter():
    w = np.zeros(2)
    w.flags.writeable = False
    _raises(TypeError, ["writeable"], lambda: optimizers.SGD().apply_gradients([(np.ones(2), w)]))


@pytest.mark.parametrize(
    "state,exc,words",
    [
        ([2.5], TypeError, ["iterations", "2.5"]),
        ([-1], ValueError, ["iterations"]),
        ([2**70], ValueError, ["iterations"]),
        (["3"], TypeError, ["iterations"]),
        ([np.array(2.0)], TypeError, ["iterations"]),
        ([np.int64(3), np.ones(2, complex), np.ones(2)], TypeError, [r"state\[1\]", "real"]),
        ([np.int64(3), [[1.0], [1.0, 2.0]], np.ones(2)], ValueError, [r"state\[1\]", "ragged"]),
        ([np.int64(3), np.ones(2), np.full(2, 1e300)], ValueError, [r"state\[2\]", "float32"]),
        ([np.int64(3), np.ones(3), np.ones(2)], ValueError, ["shape"]),
        ([], ValueError, ["iterations"]),
        (3, TypeError, ["state"]),
    ],
    ids=[
        "float-it",
        "neg-it",
        "huge-it",
        "str-it",
        "0d-float-it",
        "complex",
        "ragged",
        "too-big",
        "shape",
        "empty",
        "int",
    ],
)
def test_set_state_checks_everything_before_changing_anything(state, exc, words):
    opt = optimizers.Adam()
    w = np.zeros(2, np.float32)
    opt.apply_gradients([(np.ones(2, np.float32), w)])
    before = opt.get_state()
    _raises(exc, words, lambda: opt.set_state(state, [w]))
    assert opt.iterations == 1 and all(np.array_equal(a, b) for a, b in zip(before, opt.get_state()))


def test_set_state_takes_what_get_state_gives():
    opt = optimizers.Adam()
    w = np.zeros(2, np.float32)
    opt.apply_gradients([(np.ones(2, np.float32), w)])
    other = optimizers.Adam()
    other.set_state(opt.get_state(), [w])
    assert other.iterations == 1


@pytest.mark.parametrize(
    "spec,exc",
    [
        ({"class_name": ["SGD"]}, ValueError),
        ({"class_name": "SGD", "config": [1]}, TypeError),
        ({"class_name": "SGD", "config": None}, TypeError),
        ({"class_name": "SGD", "config": {"foo": 1}}, TypeError),
        ({"class_name": "SGD", "config": {"learning_rate": "x"}}, TypeError),
        ("SGD", ValueError),
    ],
    ids=["class-list", "config-list", "config-none", "unknown-setting", "bad-value", "str"],
)
def test_optimizer_deserialize_names_the_problem(spec, exc):
    _raises(exc, ["SGD|spec|config|learning_rate"], lambda: optimizers.deserialize(spec))


# --------------------------------------------------------------------------- layers: config and backward
@pytest.mark.parametrize(
    "spec,words",
    [
        ({"class_name": ["Dense"], "config": {}}, ["class_name"]),
        ({"class_name": "Dense", "config": 3}, ["config must be a dict"]),
        ({"class_name": "Dense", "config": [1]}, ["config must be a dict"]),
        ({"class_name": "InputLayer", "config": {}}, ["shape"]),
        ({"class_name": "InputLayer", "config": {"shape": [2**70]}}, ["shape", "2\\*\\*63"]),
        ({"class_name": "Dense", "config": {"units": 2, "use_bias": "no"}}, ["use_bias"]),
        ({"class_name": "Dense", "config": {"units": 2, "input_shape": [2.5]}}, ["input_shape"]),
    ],
)
def test_layer_deserialize_is_a_value_error_naming_the_problem(spec, words):
    _raises(ValueError, words, lambda: deserialize(spec))


def test_layer_from_config_needs_a_dict():
    _raises(TypeError, ["config"], lambda: Dense.from_config(3))


@pytest.mark.parametrize(
    "dtype,exc",
    [
        (True, TypeError),
        (3, TypeError),
        ("foo", TypeError),
        (np.float64(2.0), TypeError),
        ([1], TypeError),
        ("int32", ValueError),
        (complex, ValueError),
    ],
    ids=repr,
)
def test_dtype_is_named(dtype, exc):
    _raises(exc, ["dtype"], lambda: Dense(2, dtype=dtype))


def _activation(x):
    a = Activation("relu")
    a.forward(x)
    return a


@pytest.mark.parametrize(
    "call,exc,words",
    [
        (lambda: _activation(X).backward_from_preactivation(np.ones((4, 4))), ValueError, ["activation: dz", "shape"]),
        (lambda: _activation(X).backward_from_preactivation(np.ones((6, 4), complex)), TypeError, ["dz", "real"]),
        (lambda: _forwarded(Dense(2), X).backward_from_preactivation(np.ones((6, 3))), ValueError, ["dense: dz"]),
        (lambda: Input((4,)).backward(np.ones((6, 4), complex)), TypeError, ["dy", "real"]),
        (lambda: Input((4,)).backward([[1.0], [1.0, 2.0]]), ValueError, ["dy", "ragged"]),
        (lambda: Input((4,)).backward(np.ones((6, 5))), ValueError, ["dy", r"\(N, 4\)"]),
    ],
    ids=["act-shape", "act-complex", "dense-dz", "input-complex", "input-ragged", "input-shape"],
)
def test_backward_arguments_are_checked_like_dy(call, exc, words):
    _raises(exc, words, call)


@pytest.mark.parametrize(
    "make,x",
    [
        (Flatten, np.ones((2, 3, 3, 1))),
        (lambda: MaxPooling2D(2), np.arange(32.0).reshape(2, 4, 4, 1)),
        (lambda: AveragePooling2D(2), np.arange(32.0).reshape(2, 4, 4, 1)),
        (lambda: Dropout(0.5, seed=1), np.ones((2, 4))),
    ],
    ids=["flatten", "max", "avg", "dropout"],
)
def test_layers_without_activation_have_z_equal_to_y(make, x):
    """preactivation() returned None (Flatten, Dropout) or the input (pooling); backward_from_preactivation raised
    NotImplementedError. Without an activation z is the output, and both follow."""
    layer = make()
    y = layer.forward(x, training=True)
    assert np.array_equal(layer.preactivation(), y)
    dy = np.random.default_rng(1).standard_normal(y.shape)
    assert np.array_equal(layer.backward_from_preactivation(dy), layer.backward(dy))
