"""The bad-input catalogue (issue 11): every public function, every argument, every backend, generated values.

The promise checked (README, "Bad input raises a ValueError or TypeError that names
the argument, what was expected and what was given … NaN and inf are not checked:
they propagate as IEEE arithmetic does"):

1. ``test_bad_value_<group>`` (:func:`check_bad_value`) — for each row of :data:`GROUPS`
   (a public function, a valid call, and the families of bad values of each argument,
   from ``tests/strategies.py``) and each family, a generated value replaces one
   valid argument, on each backend:
   - the only exceptions are the function's documented ones (``ValueError``,
     ``TypeError``; ``OSError`` subclasses where the argument is a path; a verdict
     such as ``GradcheckError`` or ``NonFiniteLossError`` where it is documented);
   - the message names the argument (for a value that is only wrong beside the
     others, such as a shape that does not fit, naming the other argument will do);
   - a value the function accepts (a huge stride, NaN in the data) gives, on every
     backend, what the reference backend gives;
   - no argument is modified (values, dtype, strides, the writeable flag).
2. :func:`test_layouts_change_nothing` — valid odd arrays (non-contiguous,
   Fortran-ordered, big-endian, read-only, negative strides, float16, long double,
   integer), each in every array argument on every backend, give the numbers a
   plain float64 array with the same values gives, and are not modified.
3. :func:`test_backends_agree_on_odd_geometry` and the pooling twin — stride > kernel,
   1×1, asymmetric pads, H ≠ W, NaN and ±inf inside: numpy and numba (each compiled
   path forced in turn) agree with the reference: same NaN positions, same ±inf
   positions, finite values close.
4. :func:`test_shape_helpers_are_exact` — the shape helpers either refuse an int
   (naming it) or give the exact integer answer, for ints of any size.

Deterministic: the ``ci`` hypothesis profile (``tests/conftest.py``) derandomizes.
Failures print the drawn values and a reproduction blob.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import strategies as S
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import convlab
import convlab.datasets
import convlab.losses as L
from convlab.layers import Activation as ActivationLayer
from convlab.layers import AveragePooling2D, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from convlab.optimizers import SGD, Adam, RMSprop

# NaN, ±inf and huge values are fed in on purpose: NumPy's "overflow/invalid value encountered" warnings
# are those IEEE events being reported, not failures (the values are what is asserted).
# Importing TensorFlow (the bridge group) raises the recursion limit, which hypothesis reports once.
pytestmark = [
    pytest.mark.filterwarnings("ignore:(overflow|invalid value) encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:The recursion limit will not be reset:hypothesis.errors.HypothesisWarning"),
]

BACKENDS = ("reference", "numpy", "numba")

#: Settings of every property here (the profile, tests/conftest.py, makes them deterministic). No "explain"
#: phase: it re-runs a failing example under a tracer, seconds per failure, to say which lines it ran.
QUICK = dict(
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --------------------------------------------------------------------------- valid baselines
def ints(*shape: int, seed: int = 0, lo: int = -3, hi: int = 3) -> np.ndarray:
    """Small integers as float64: every dtype and layout of :data:`strategies.LAYOUTS` holds them exactly."""
    return np.random.default_rng(seed).integers(lo, hi + 1, shape).astype(np.float64)


X4, K4, B4 = ints(1, 5, 5, 3, seed=1), ints(3, 3, 3, 2, seed=2), ints(2, seed=3)
DY_CONV, DY_POOL = ints(1, 3, 3, 2, seed=4), ints(1, 2, 2, 3, seed=5)
IMAGE, K2 = ints(5, 6, seed=6), ints(3, 3, seed=7)
X2, W2, BIAS2, DY2 = ints(2, 3, seed=8), ints(3, 4, seed=9), ints(4, seed=10), ints(2, 4, seed=11)
PROBS = np.array([[0.25, 0.5, 0.25], [0.5, 0.25, 0.25]])
ONEHOT, LABELS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), np.array([0, 1])
P_BIN, T_BIN = np.array([[0.25], [0.75]]), np.array([[0.0], [1.0]])
XM, YM = ints(6, 4, seed=12), np.array([0, 1, 2, 0, 1, 2])


class InDir:
    """A path inside the session's scratch folder, resolved when the call is made."""

    def __init__(self, rel: str) -> None:
        self.rel = rel

    def __repr__(self) -> str:
        return f"<scratch>/{self.rel}"


def seeded(make: Callable[..., Any]) -> Callable[..., Any]:
    """``make`` after ``set_seed(0)``: two calls build the same weights, so their results can be compared."""

    def call(*args: Any, **kwargs: Any) -> Any:
        convlab.set_seed(0)
        return make(*args, **kwargs)

    return call


def _model(compiled: bool = True) -> convlab.Sequential:
    convlab.set_seed(0)
    m = convlab.Sequential([Input((4,)), Dense(3, activation="softmax")])
    if compiled:
        m.compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    return m


def fixed(**values: Any) -> Callable[[], dict[str, Any]]:
    """A baseline of fixed values (the arrays are shared: the catalogue checks that nothing modifies them)."""
    return lambda: dict(values)


def _build(make: Callable[[], Any], input_shape: Any) -> None:
    make().build(input_shape)


def _after_forward(layer: Any, x: np.ndarray) -> Any:
    layer(x)
    return layer


PATH = (
    S.Family("wrong_type", S.values_of(None, 1, b"model.npz", ["model.npz"], object())),
    S.Family("missing", S.values_of(InDir("missing.npz"), InDir("no/such/folder/m.npz"), InDir("nul\x00.npz"))),
    S.Family("not_a_model", S.values_of(InDir(""), InDir("notes.txt"), InDir("random.npz"), InDir("empty.npz"))),
)
#: A splitter shuffles any array: only malformed ones are wrong (any dtype, any trailing shape is data).
ANY_DATA = tuple(f if f.name not in ("exotic_dtype", "empty") else S.Family(f.name, f.make, S.EITHER) for f in S.ARRAY)
SEQ_LAYERS = (S.Family("bad_layers", S.values_of("abc", [1], [Dense], [Dense(2), "relu"], 3, [None])),)
OPTIMIZER = (S.Family("bad_optimizer", S.values_of("adamw", "", 1, None, object(), {"name": "adam"}, SGD)),)
LOSS = (S.Family("bad_loss", S.values_of("nll", "", 1, None, object(), ["mse"], print)),)
METRICS = (S.Family("bad_metrics", S.values_of(["nope"], 1, {"accuracy"}, [1], ["accuracy", None], object())),)
VERBOSE = (S.Family("bad_verbose", S.values_of(3, -1, "1", 1.5, None, [1])),)
VALIDATION = (
    S.Family(
        "bad_validation_data",
        S.values_of("abc", (XM,), (XM, YM, YM), XM, (XM[:, :2], YM), (XM, YM[:2]), (XM, np.array(["a"] * 6))),
    ),
)
AXIS = (S.Family("bad_axis", S.values_of(1.5, math.nan, 5, -5, 2**70, "a", [0], True)),)
WRT = (S.Family("bad_wrt", S.values_of(["y"], 1, [1], [["x"]], object())),)
LOSS_NAME = (S.Family("bad_name", S.values_of("nll", "", 1, None, object(), ["mse"])),)
WEIGHTS = (
    S.Family(
        "bad_weights",
        S.values_of(
            "abc",
            None,
            np.ones(3),
            [np.ones((3, 3, 3, 2))],
            [np.ones((3, 3, 3, 2)), np.ones(3)],
            [np.ones((3, 3, 3, 2)), np.ones(2), np.ones(2)],
            [np.ones((3, 3, 3, 2), dtype=complex), np.ones(2)],
            [[[1.0], [2.0, 3.0]], np.ones(2)],
        ),
    ),
)
TEST_SIZE = (
    S.BOOLS,
    S.Family("wrong_type", S.values_of("0.2", None, [0.2], 1j, object())),
    S.Family("out_of_range", S.values_of(0, 6, -1, 0.0, 1.0, 1.5, -0.2, math.nan, math.inf, 2**70)),
)
EPOCHS = (S.BOOLS, S.FLOATS, S.NONPOSITIVE, S.NOT_AN_INT, S.ZERO_D)  # no huge values: they would train for ages


# --------------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Fn:
    """A public function: how to call it, a valid call, and the kind of each argument.

    ``args`` maps each argument to its families of bad values; ``backend`` says
    whether it takes ``backend=`` (then every case runs on each backend);
    ``raises`` are the documented exception types; ``names`` the words that
    count as naming an argument (default: its own name).
    """

    name: str
    call: Callable[..., Any]
    baseline: Callable[[], dict[str, Any]]
    args: dict[str, tuple[S.Family, ...]]
    backend: bool = False
    raises: tuple[type[BaseException], ...] = (ValueError, TypeError)
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Documented exceptions that report a result, not an argument (GradcheckError, NonFiniteLossError).
    verdicts: tuple[type[BaseException], ...] = ()


def _conv_args(**extra: Any) -> dict[str, tuple[S.Family, ...]]:
    return dict(x=S.ARRAY, kernel=S.ARRAY, strides=S.SIZE, padding=S.PADDING, **extra)


def _pool_args(**extra: Any) -> dict[str, tuple[S.Family, ...]]:
    return dict(**extra, x=S.ARRAY, pool_size=S.SIZE, strides=S.SIZE, padding=S.PADDING)


_ACT_BACKWARD = [
    (convlab.relu_backward, convlab.relu),
    (convlab.sigmoid_backward, convlab.sigmoid),
    (convlab.tanh_backward, convlab.tanh),
    (convlab.softmax_backward, convlab.softmax),
    (convlab.linear_backward, lambda x: x),
]
_LOSSES = [
    (L.categorical_crossentropy, ONEHOT, PROBS, S.LOSS_ARRAY),
    (L.categorical_crossentropy_backward, ONEHOT, PROBS, S.LOSS_ARRAY),
    (L.sparse_categorical_crossentropy, LABELS, PROBS, S.LABELS),
    (L.sparse_categorical_crossentropy_backward, LABELS, PROBS, S.LABELS),
    (L.binary_crossentropy, T_BIN, P_BIN, S.PROBABILITY_TARGETS),
    (L.binary_crossentropy_backward, T_BIN, P_BIN, S.PROBABILITY_TARGETS),
    (L.mean_squared_error, T_BIN, P_BIN, S.LOSS_ARRAY),
    (L.mean_squared_error_backward, T_BIN, P_BIN, S.LOSS_ARRAY),
]
_FLOAT_POS = S.float_param(0, math.inf, lo_open=True)
_FLOAT_NONNEG = S.float_param(0, math.inf)
_UNIT = S.float_param(0, 1, hi_open=True)
_LAYER_COMMON = dict(name=S.NAME, dtype=S.DTYPE, input_shape=S.SHAPE)

GROUPS: dict[str, list[Fn]] = {}
GROUPS["operations"] = [
    Fn(
        "conv2d",
        convlab.conv2d,
        lambda: dict(x=X4, kernel=K4, bias=B4, strides=1, padding="valid"),
        _conv_args(bias=S.ARRAY),
        backend=True,
    ),
    Fn(
        "conv2d_backward",
        convlab.conv2d_backward,
        lambda: dict(dy=DY_CONV, x=X4, kernel=K4, strides=1, padding="valid", need_dx=True),
        dict(dy=S.ARRAY, **_conv_args(need_dx=S.FLAG)),
        backend=True,
    ),
    *[
        Fn(
            f.__name__,
            f,
            lambda: dict(image=IMAGE, kernel=K2, padding="valid", strides=1),
            dict(image=S.ARRAY, kernel=S.ARRAY, padding=S.PADDING, strides=S.SIZE),
            backend=True,
        )
        for f in (convlab.correlate2d, convlab.convolve2d)
    ],
    Fn(
        "im2col",
        convlab.im2col,
        lambda: dict(x=X4, kernel_size=3, strides=1, padding="valid"),
        dict(x=S.ARRAY, kernel_size=S.SIZE, strides=S.SIZE, padding=S.PADDING),
    ),
    *[
        Fn(f.__name__, f, lambda: dict(x=X4, pool_size=2, strides=None, padding="valid"), _pool_args(), backend=True)
        for f in (convlab.max_pool2d, convlab.avg_pool2d)
    ],
    *[
        Fn(
            f.__name__,
            f,
            lambda: dict(dy=DY_POOL, x=X4, pool_size=2, strides=None, padding="valid"),
            _pool_args(dy=S.ARRAY),
            backend=True,
        )
        for f in (convlab.max_pool2d_backward, convlab.avg_pool2d_backward)
    ],
]
GROUPS["activations_dense"] = [
    *[
        Fn(f.__name__, f, lambda: dict(x=X2), dict(x=S.ANY_ARRAY))
        for f in (convlab.relu, convlab.sigmoid, convlab.tanh)
    ],
    Fn("softmax", convlab.softmax, lambda: dict(x=X2, axis=-1), dict(x=S.ANY_ARRAY, axis=AXIS)),
    *[
        Fn(
            b.__name__,
            b,
            fixed(dy=X2 + 1, x=X2, y=np.asarray(f(X2))),
            dict(dy=S.ARRAY, x=S.ARRAY, y=S.ARRAY),
        )
        for b, f in _ACT_BACKWARD
    ],
    Fn(
        "dense", convlab.dense, lambda: dict(x=X2, kernel=W2, bias=BIAS2), dict(x=S.ARRAY, kernel=S.ARRAY, bias=S.ARRAY)
    ),
    Fn(
        "dense_backward",
        convlab.dense_backward,
        lambda: dict(dy=DY2, x=X2, kernel=W2),
        dict(dy=S.ARRAY, x=S.ARRAY, kernel=S.ARRAY),
    ),
]
GROUPS["losses"] = [
    *[
        Fn(
            f"losses.{f.__name__}",
            f,
            fixed(y_true=t, y_pred=p, from_logits=False),
            dict(y_true=targets, y_pred=S.LOSS_ARRAY, from_logits=S.FLAG),
        )
        for f, t, p, targets in _LOSSES
    ],
    Fn(
        "softmax_crossentropy",
        convlab.softmax_crossentropy,
        lambda: dict(y_true=LABELS, logits=PROBS, sparse=True),
        dict(y_true=S.LABELS, logits=S.LOSS_ARRAY, sparse=S.FLAG),
    ),
    Fn(
        "sigmoid_binary_crossentropy",
        convlab.sigmoid_binary_crossentropy,
        lambda: dict(y_true=T_BIN, logits=P_BIN),
        dict(y_true=S.PROBABILITY_TARGETS, logits=S.LOSS_ARRAY),
    ),
    Fn("losses.get", L.get, lambda: dict(name="mse"), dict(name=LOSS_NAME), names=dict(name=("loss",))),
]
GROUPS["gradcheck_shapes"] = [
    Fn(
        "gradcheck",
        convlab.gradcheck,
        lambda: dict(
            forward=lambda x: 2 * x,
            backward=lambda dy, x: 2 * dy,
            inputs={"x": ints(3)},
            dy=ints(3, seed=1),
            h=1e-5,
            tol=1e-6,
            seed=0,
        ),
        dict(
            forward=S.CALLABLE,
            backward=S.CALLABLE,
            inputs=S.MAPPING,
            wrt=WRT,
            dy=S.ARRAY,
            h=_FLOAT_POS,
            tol=_FLOAT_NONNEG,
            floor=_FLOAT_NONNEG,
            scale=_FLOAT_NONNEG,
            seed=S.NONNEG,
        ),
        verdicts=(convlab.GradcheckError,),
    ),
    Fn(
        "numeric_gradient",
        convlab.numeric_gradient,
        lambda: dict(f=lambda x: 2 * x, x=ints(3), dy=ints(3, seed=1), h=1e-5),
        dict(f=S.CALLABLE, x=S.ANY_ARRAY, dy=S.ARRAY, h=_FLOAT_POS),
    ),
    Fn(
        "rel_error",
        convlab.rel_error,
        lambda: dict(analytic=ints(3), numeric=ints(3, seed=1), floor=1e-8, scale=1e-3),
        dict(analytic=S.ANY_ARRAY, numeric=S.ARRAY, floor=_FLOAT_NONNEG, scale=_FLOAT_NONNEG),
    ),
    # shape arithmetic (exact integers: a huge value may be computed, see test_shape_helpers_are_exact)
    *[
        Fn(
            f.__name__,
            f,
            fixed(n=5, **{w: 3}, padding=0, stride=1),
            {"n": S.NONNEG, w: S.SIZE, "padding": S.PADDING, "stride": S.SIZE},
        )
        for f, w in (
            (convlab.conv_output_size, "kernel_size"),
            (convlab.pool_output_size, "pool_size"),
            (convlab.output_size_formula, "kernel_size"),
        )
    ],
    Fn(
        "conv2d_param_count",
        convlab.conv2d_param_count,
        lambda: dict(filters=2, kernel_size=3, in_channels=3),
        dict(filters=S.COUNT, kernel_size=S.SIZE, in_channels=S.COUNT),
    ),
    Fn(
        "dense_param_count",
        convlab.dense_param_count,
        lambda: dict(units=2, in_features=3),
        dict(units=S.COUNT, in_features=S.COUNT),
    ),
    Fn(
        "resolve_padding",
        convlab.resolve_padding,
        lambda: dict(input_hw=(5, 6), kernel_hw=(3, 3), padding="same", strides=2),
        dict(input_hw=S.NONNEG, kernel_hw=S.SIZE, padding=S.PADDING, strides=S.SIZE),
        names=dict(input_hw=("input_hw", "input size")),
    ),
]
GROUPS["layers"] = [
    Fn(
        "layers.Conv2D",
        Conv2D,
        lambda: dict(filters=2, kernel_size=3, strides=1, padding="valid", activation="relu", use_bias=True),
        dict(
            filters=S.COUNT,
            kernel_size=S.SIZE,
            strides=S.SIZE,
            padding=S.PADDING,
            activation=S.ACTIVATION,
            use_bias=S.FLAG,
            **_LAYER_COMMON,
        ),
    ),
    *[
        Fn(
            f"layers.{cls.__name__}",
            cls,
            lambda: dict(pool_size=2, strides=None, padding="valid"),
            dict(pool_size=S.SIZE, strides=S.SIZE, padding=S.PADDING, **_LAYER_COMMON),
        )
        for cls in (MaxPooling2D, AveragePooling2D)
    ],
    Fn(
        "layers.Dense",
        Dense,
        lambda: dict(units=2, activation=None),
        dict(units=S.COUNT, activation=S.ACTIVATION, use_bias=S.FLAG, **_LAYER_COMMON),
    ),
    Fn("layers.Dropout", Dropout, lambda: dict(rate=0.5, seed=1), dict(rate=_UNIT, seed=S.NONNEG, **_LAYER_COMMON)),
    Fn("layers.Activation", ActivationLayer, lambda: dict(activation="tanh"), dict(activation=S.ACTIVATION)),
    Fn("layers.Input", Input, lambda: dict(shape=(5, 5, 3)), dict(shape=S.SHAPE, name=S.NAME, dtype=S.DTYPE)),
    *[
        Fn(
            f"layers.{cls.__name__}.build",
            functools.partial(_build, make),
            lambda: dict(input_shape=(None, 5, 5, 3)),
            dict(input_shape=S.SHAPE),
        )
        for cls, make in (
            (Conv2D, lambda: Conv2D(2, 3)),
            (MaxPooling2D, lambda: MaxPooling2D(2)),
            (Flatten, Flatten),
            (Dense, lambda: Dense(2)),
        )
    ],
    Fn(
        "layers.Conv2D.__call__",
        seeded(lambda x, training: Conv2D(2, 3, input_shape=(5, 5, 3))(x, training)),
        lambda: dict(x=X4, training=False),
        dict(x=S.ARRAY, training=S.FLAG),
    ),
    Fn("layers.Dense.__call__", seeded(lambda x: Dense(4, input_shape=(3,))(x)), lambda: dict(x=X2), dict(x=S.ARRAY)),
    Fn(
        "layers.Conv2D.backward",
        seeded(lambda dy: _after_forward(Conv2D(2, 3, input_shape=(5, 5, 3)), X4).backward(dy)),
        lambda: dict(dy=DY_CONV),
        dict(dy=S.ARRAY),
    ),
    Fn(
        "layers.Conv2D.set_weights",
        lambda weights: _after_forward(Conv2D(2, 3, input_shape=(5, 5, 3)), X4).set_weights(weights),
        lambda: dict(weights=[K4, B4]),
        dict(weights=WEIGHTS),
        names=dict(weights=("weight", "weights")),
    ),
]
GROUPS["training"] = [
    Fn(
        "optimizers.SGD",
        SGD,
        lambda: dict(learning_rate=0.01, momentum=0.5),
        dict(learning_rate=_FLOAT_POS, momentum=_UNIT, nesterov=S.FLAG),
    ),
    Fn(
        "optimizers.Adam",
        Adam,
        lambda: dict(learning_rate=0.01),
        dict(learning_rate=_FLOAT_POS, beta_1=_UNIT, beta_2=_UNIT, epsilon=_FLOAT_POS),
    ),
    Fn(
        "optimizers.RMSprop",
        RMSprop,
        lambda: dict(learning_rate=0.01),
        dict(learning_rate=_FLOAT_POS, rho=_UNIT, epsilon=_FLOAT_POS),
    ),
    Fn("set_seed", convlab.set_seed, lambda: dict(seed=0), dict(seed=S.NONNEG)),
    # Sequential
    Fn(
        "Sequential",
        convlab.Sequential,
        lambda: dict(layers=[Input((4,)), Dense(3)], name="m"),
        dict(layers=SEQ_LAYERS, name=S.NAME, backend=S.BACKEND),
        names=dict(layers=("layers", "layer")),
    ),
    Fn(
        "Sequential.compile",
        lambda **kw: _model(compiled=False).compile(**kw),
        lambda: dict(optimizer="sgd", loss="mse", metrics=None),
        dict(optimizer=OPTIMIZER, loss=LOSS, metrics=METRICS),
        names=dict(metrics=("metrics", "metric")),
    ),
    Fn(
        "Sequential.fit",
        lambda **kw: _model().fit(**kw).history,
        lambda: dict(x=XM, y=YM, epochs=1, batch_size=4, verbose=0, validation_split=0.0, seed=None, shuffle=True),
        dict(
            x=S.ARRAY,
            y=S.LABELS,
            epochs=EPOCHS,
            batch_size=S.COUNT,
            verbose=VERBOSE,
            validation_split=_UNIT,
            validation_data=VALIDATION,
            seed=S.NONNEG,
            shuffle=S.FLAG,
        ),
        names=dict(y=("y", "y_true")),
        verdicts=(convlab.NonFiniteLossError,),
    ),
    Fn(
        "Sequential.predict",
        lambda **kw: _model().predict(**kw),
        lambda: dict(x=XM, batch_size=4),
        dict(x=S.ARRAY, batch_size=S.COUNT),
    ),
    Fn(
        "Sequential.evaluate",
        lambda **kw: _model().evaluate(**kw),
        lambda: dict(x=XM, y=YM, batch_size=4, verbose=0),
        dict(x=S.ARRAY, y=S.LABELS, batch_size=S.COUNT, return_dict=S.FLAG),
        names=dict(y=("y", "y_true")),
    ),
    Fn(
        "load_model",
        convlab.load_model,
        lambda: dict(path=InDir("model.npz"), backend=None),
        dict(path=PATH, backend=S.BACKEND),
        raises=(ValueError, TypeError, OSError),
    ),
    # data sets (arguments only; file contents: tests/test_bad_files.py)
    Fn(
        "datasets.train_test_split",
        convlab.datasets.train_test_split,
        lambda: dict(x=XM, y=YM, test_size=2, seed=0),
        dict(x=ANY_DATA, y=ANY_DATA, test_size=TEST_SIZE, seed=S.NONNEG),
    ),
    Fn(
        "datasets.load_mnist",
        convlab.datasets.load_mnist,
        lambda: dict(path=None),
        dict(
            path=tuple(
                f if f.name != "wrong_type" else S.Family("wrong_type", S.values_of(1, b"m.npz", [""])) for f in PATH
            )
        ),
        raises=(ValueError, TypeError, OSError),
    ),
]

#: The Keras bridge (imports TensorFlow on first call): what a call with a non-model says.
NOT_A_MODEL = (S.Family("not_a_model", S.values_of(None, 3, "model.keras", [Dense(2)], object())),)
GROUPS["bridge"] = [
    Fn("to_keras", convlab.to_keras, fixed(model=None), dict(model=NOT_A_MODEL)),
    Fn("from_keras", convlab.from_keras, fixed(keras_model=None), dict(keras_model=NOT_A_MODEL)),
    Fn(
        "copy_weights",
        convlab.copy_weights,
        lambda: dict(source=_model(), target=_model()),
        dict(source=NOT_A_MODEL, target=NOT_A_MODEL),
    ),
    Fn(
        "compare_with_keras",
        convlab.compare_with_keras,
        fixed(model=None, x=XM, y=YM),
        dict(model=NOT_A_MODEL),
    ),
]
TABLE = [fn for group in GROUPS.values() for fn in group]
BY_NAME = {fn.name: fn for fn in TABLE}
assert len(BY_NAME) == len(TABLE), "two rows of TABLE share a name"


def cases(group: str) -> list[Any]:
    """One test per (function, argument, family) of a group, by name (hypothesis prints these when one fails)."""
    return [
        pytest.param(fn.name, arg, fam.name, id=f"{fn.name}-{arg}-{fam.name}")
        for fn in GROUPS[group]
        for arg, families in fn.args.items()
        for fam in families
        if fam.applies(fn.baseline().get(arg))
    ]


# --------------------------------------------------------------------------- helpers
@pytest.fixture(scope="session")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a valid model file and a few files that are not convlab models."""
    d = tmp_path_factory.mktemp("catalogue")
    _model().save(d / "model.npz")
    (d / "notes.txt").write_text("not a model\n")
    (d / "random.npz").write_bytes(np.random.default_rng(0).bytes(300))
    np.savez(d / "empty.npz")
    return d


def _resolve(v: Any, scratch: Path) -> Any:
    return str(scratch / v.rel) if isinstance(v, InDir) else v


def snapshot(v: Any) -> Any:
    """What must not change about an argument: an array's bytes, dtype, shape, strides and flags; containers deeply."""
    if isinstance(v, np.ndarray):
        return ("ndarray", v.dtype.str, v.shape, v.strides, v.flags.writeable, v.tobytes())
    if isinstance(v, (list, tuple)):
        return (type(v).__name__, [snapshot(e) for e in v])
    if isinstance(v, dict):
        return ("dict", [(k, snapshot(e)) for k, e in v.items()])
    return ("other", id(v))


def names_argument(message: str, words: tuple[str, ...]) -> bool:
    return any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(w)}(?![A-Za-z0-9_])", message) for w in words)


def same_numbers(a: Any, b: Any, rtol: float = 1e-6) -> str | None:
    """None when ``a`` and ``b`` hold the same numbers (NaN where NaN, ±inf where ±inf, finite close), else why not."""
    if isinstance(a, (tuple, list)):
        if not isinstance(b, (tuple, list)) or len(a) != len(b):
            return f"structure differs: {type(a).__name__}[{len(a)}] vs {b!r:.80}"
        for i, (x, y) in enumerate(zip(a, b)):
            why = same_numbers(x, y, rtol)
            if why:
                return f"[{i}] {why}"
        return None
    if a is None or b is None or isinstance(a, str):
        return None if a == b else f"{a!r:.80} != {b!r:.80}"
    if isinstance(a, dict):
        return same_numbers(list(a.values()), list(b.values()), rtol)
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return f"shapes differ: {a.shape} vs {b.shape}"
    for what, mask in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        if not np.array_equal(mask(a), mask(b)):
            return f"{what} positions differ: {np.argwhere(mask(a) != mask(b))[:5].tolist()}"
    fin = np.isfinite(a)
    if not fin.any():
        return None
    scale = max(float(np.max(np.abs(b[fin]))), 1e-300)
    err = np.abs(a[fin] - b[fin])
    if np.any(err > rtol * scale + 1e-12):
        i = int(np.argmax(err))
        return f"finite values differ by {err[i]:.3g} (scale {scale:.3g}): {a[fin][i]!r} vs {b[fin][i]!r}"
    return None


def _call(fn: Fn, kwargs: dict[str, Any]) -> tuple[Any, BaseException | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in exp etc.: IEEE results, not errors
        try:
            return fn.call(**kwargs), None
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return None, exc


def _shows(value: Any) -> bool:
    """Whether a message can be expected to quote this value (short scalars)."""
    return isinstance(value, (bool, int, float, str, np.generic)) and len(repr(value)) < 40


# --------------------------------------------------------------------------- 1. bad values
def check_bad_value(name: str, arg: str, family_name: str, data: st.DataObject, scratch: Path) -> None:
    """One generated bad value for one argument, on every backend: a documented exception naming the
    argument, or (a value the function may accept) the reference backend's numbers on every backend."""
    fn = BY_NAME[name]
    family = next(f for f in fn.args[arg] if f.name == family_name)
    kwargs = {k: _resolve(v, scratch) for k, v in fn.baseline().items()}
    value = data.draw(family.make(kwargs.get(arg)), label=arg)
    kwargs[arg] = _resolve(value, scratch)
    call = f"{fn.name}({arg}={value!r:.200})"
    backends = BACKENDS if fn.backend and arg != "backend" else (None,)
    expected = None
    for backend in backends:  # the reference first: the others are compared with it
        where = f"{call}" + (f" on {backend}" if backend else "")
        args = kwargs if backend is None else {**kwargs, "backend": backend}
        before = {k: snapshot(v) for k, v in args.items()}

        result, exc = _call(fn, args)

        if exc is not None and family.outcome == S.ACCEPT:
            raise AssertionError(f"{where} refused a valid value: {type(exc).__name__}: {exc!s:.300}")
        if exc is not None and isinstance(exc, fn.verdicts):
            assert family.outcome == S.EITHER, f"{where} gave a verdict, not an argument error: {exc!r:.300}"
        elif exc is not None:
            assert isinstance(exc, fn.raises), (
                f"{where} raised {type(exc).__module__}.{type(exc).__name__}: {exc!s:.300} "
                f"— documented: {[t.__name__ for t in fn.raises]}"
            )
            words = fn.names.get(arg, (arg,)) + ((args[arg],) if isinstance(args[arg], str) and args[arg] else ())
            if family.outcome == S.EITHER:
                # A value that is only wrong beside the others (a shape that does not fit, a mode that
                # reads the targets otherwise): naming the argument it clashes with is as good.
                words += tuple(w for other in fn.args for w in fn.names.get(other, (other,)))
            assert names_argument(str(exc), words), (
                f"{where}: the message does not name {arg!r}: {type(exc).__name__}: {exc!s:.300}"
            )
        else:
            assert family.outcome != S.REFUSE, (
                f"{where} was accepted (returned {type(result).__name__}); expected a "
                f"{' or '.join(t.__name__ for t in fn.raises)} naming {arg!r}"
            )
        if backend == "reference":
            expected = (result, exc)
        elif backend is not None:
            ref_result, ref_exc = expected
            assert (exc is None) == (ref_exc is None), f"{where}: {exc!r:.200}, but the reference gave {ref_exc!r:.200}"
            if exc is None:
                why = same_numbers(result, ref_result)
                assert why is None, f"{where}: {why}"
        for k, v in args.items():
            assert snapshot(v) == before[k], f"{where} modified its argument {k!r}"


def bad_value_test(group: str, needs: str | None = None) -> Callable[..., None]:
    """The property of :func:`check_bad_value` for every case of one group of :data:`GROUPS`.

    One test function per group, not one for the whole table: hypothesis' pytest plugin wraps a
    parametrized test's settings once per case (hypothesis 6.155), and a chain of a thousand
    wrappers overflows the recursion limit.
    """

    @pytest.mark.parametrize("name,arg,family", cases(group))
    @settings(max_examples=6, **QUICK)
    @given(data=st.data())
    def test(name: str, arg: str, family: str, data: st.DataObject, scratch: Path) -> None:
        if needs:
            pytest.importorskip(needs)
        check_bad_value(name, arg, family, data, scratch)

    test.__name__ = test.__qualname__ = f"test_bad_value_{group}"
    return test


test_bad_value_operations = bad_value_test("operations")
test_bad_value_activations_dense = bad_value_test("activations_dense")
test_bad_value_losses = bad_value_test("losses")
test_bad_value_gradcheck_shapes = bad_value_test("gradcheck_shapes")
test_bad_value_layers = bad_value_test("layers")
test_bad_value_training = bad_value_test("training")
test_bad_value_bridge = pytest.mark.tf(bad_value_test("bridge", needs="tensorflow"))


# --------------------------------------------------------------------------- 2. odd layouts change nothing
LAYOUT_CASES = [
    pytest.param(fn.name, arg, id=f"{fn.name}-{arg}")
    for group, fns in GROUPS.items()
    if group != "bridge"  # its baselines are not models (a call would build Keras models)
    for fn in fns
    for arg, value in fn.baseline().items()
    if isinstance(value, np.ndarray) and value.dtype.kind == "f"
]


@pytest.mark.parametrize("name,arg", LAYOUT_CASES)
def test_layouts_change_nothing(name: str, arg: str, scratch: Path) -> None:
    """Every layout of :data:`strategies.LAYOUTS` (a finite set: all of them, on every backend)."""
    fn = BY_NAME[name]
    base = {k: _resolve(v, scratch) for k, v in fn.baseline().items()}
    for backend in BACKENDS if fn.backend else (None,):
        kwargs = base if backend is None else {**base, "backend": backend}
        for layout, transform in S.LAYOUTS.items():
            where = f"{fn.name}({arg}=<{layout} array>)" + (f" on {backend}" if backend else "")
            odd = transform(kwargs[arg])
            # The same values as a plain float64 array (float16 rounds the baseline's non-integers).
            expected, exc = _call(fn, {**kwargs, arg: np.array(odd, dtype=np.float64)})
            assert exc is None, f"{fn.name}: the valid baseline call raised {exc!r}"
            before = snapshot(odd)
            result, exc = _call(fn, {**kwargs, arg: odd})
            assert exc is None, f"{where} raised {type(exc).__name__}: {exc}"
            assert snapshot(odd) == before, f"{where} modified its argument"
            why = same_numbers(result, expected, rtol=1e-5)
            assert why is None, f"{where}: {why}"


# --------------------------------------------------------------------------- 3. backends agree on odd geometry
@contextlib.contextmanager
def numba_path(path: str):
    """Force one of the numba convolution's paths (convlab.kernels.conv's thresholds decide, by size)."""
    from convlab.kernels import conv as kc

    names = ("DIRECT_MACS", "SERIAL_MACS", "WINOGRAD_MIN_C")
    missing = [n for n in names if not hasattr(kc, n)]
    assert not missing, f"convlab.kernels.conv no longer has {missing}: update numba_path"
    big = 10**18
    forced = {
        "direct": (big, big, big),
        "tiled_serial": (0, big, big),
        "tiled_parallel": (0, 0, big),
        "winograd": (0, 0, 1),
    }[path]
    saved = [getattr(kc, n) for n in names]
    try:
        for n, v in zip(names, forced):
            setattr(kc, n, v)
        yield
    finally:
        for n, v in zip(names, saved):
            setattr(kc, n, v)


@st.composite
def sprinkled(draw: Any, shape: tuple[int, ...], dtype: Any, *, nonfinite: bool) -> np.ndarray:
    """Small integers, and (``nonfinite``) a few NaN / ±inf / one huge finite value at drawn positions."""
    seed = draw(st.integers(0, 2**16))
    a = ints(*shape, seed=seed).astype(dtype)
    if nonfinite:
        flat = a.reshape(-1)
        big = np.finfo(dtype).max / 4  # finite, but overflows when a few are added
        for _ in range(draw(st.integers(1, 3))):
            flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        if draw(st.booleans()):
            flat[draw(st.integers(0, flat.size - 1))] = big
    return a


def _odd_layout(draw: Any, a: np.ndarray) -> np.ndarray:
    return S.LAYOUTS[draw(st.sampled_from(["noncontiguous", "fortran", "big_endian", "readonly", "negative_strides"]))](
        a
    )


@st.composite
def geometry(draw: Any, *, window_max: int = 4, square: bool = False) -> dict[str, Any]:
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh = draw(st.integers(1, window_max))
    kw = kh if square else draw(st.integers(1, window_max))
    strides = draw(st.sampled_from([1, 2, 3, 5])), draw(st.sampled_from([1, 2, 3, 5]))
    padding = draw(
        st.one_of(
            st.sampled_from(["valid", "same"]),
            st.integers(0, 2),
            st.tuples(st.integers(0, 2), st.integers(0, 2)),
            st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.tuples(st.integers(0, 3), st.integers(0, 3))),
        )
    )
    t, b, l, r = convlab.resolve_padding((h, w), (kh, kw), padding, strides)
    if h + t + b < kh or w + l + r < kw:
        padding = ((kh, kh), (kw, kw))  # always large enough: the window fits
    return dict(n=draw(st.integers(1, 2)), h=h, w=w, kh=kh, kw=kw, strides=strides, padding=padding)


@pytest.mark.parametrize("path", ["direct", "tiled_serial", "tiled_parallel", "winograd"])
@settings(max_examples=20, **QUICK)
@given(data=st.data())
def test_backends_agree_on_odd_geometry(path: str, data: st.DataObject) -> None:
    """conv2d and conv2d_backward (dx, dkernel, dbias): numpy and each numba path against the reference."""
    g = data.draw(geometry(), label="geometry")
    if path == "winograd":
        g.update(kh=3, kw=3, strides=(1, 1))
        t, b, l, r = convlab.resolve_padding((g["h"], g["w"]), (3, 3), g["padding"], 1)
        if g["h"] + t + b < 3 or g["w"] + l + r < 3:
            g["padding"] = 1
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    c_in, c_out = data.draw(st.integers(1, 9), label="C_in"), data.draw(st.integers(1, 5), label="C_out")
    nonfinite = data.draw(st.booleans(), label="non-finite values")
    x = data.draw(sprinkled((g["n"], g["h"], g["w"], c_in), dtype, nonfinite=nonfinite), label="x")
    k = data.draw(sprinkled((g["kh"], g["kw"], c_in, c_out), dtype, nonfinite=nonfinite), label="kernel")
    bias = data.draw(sprinkled((c_out,), dtype, nonfinite=nonfinite), label="bias")
    geo = dict(strides=g["strides"], padding=g["padding"])
    expected = convlab.conv2d(x, k, bias, **geo, backend="reference")
    dy = data.draw(sprinkled(expected.shape, dtype, nonfinite=nonfinite), label="dy")
    expected_grads = convlab.conv2d_backward(dy, x, k, **geo, backend="reference")
    odd = {name: _odd_layout(data.draw, a) for name, a in dict(x=x, k=k, bias=bias, dy=dy).items()}
    before = {name: snapshot(a) for name, a in odd.items()}
    for backend in ("numpy", "numba"):
        with numba_path(path) if backend == "numba" else contextlib.nullcontext(), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            y = convlab.conv2d(odd["x"], odd["k"], odd["bias"], **geo, backend=backend)
            grads = convlab.conv2d_backward(odd["dy"], odd["x"], odd["k"], **geo, backend=backend)
        where = f"{backend}{'/' + path if backend == 'numba' else ''}"
        assert y.dtype == expected.dtype
        why = same_numbers(y, expected, rtol=1e-4 if dtype == np.float32 else 1e-10)
        assert why is None, f"conv2d on {where}: {why}"
        for name, got, want in zip(("dx", "dkernel", "dbias"), grads, expected_grads):
            why = same_numbers(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10)
            assert why is None, f"conv2d_backward {name} on {where}: {why}"
    assert {name: snapshot(a) for name, a in odd.items()} == before, "an input was modified"


@pytest.mark.parametrize("windows", ["overlapping or padded", "non-overlapping"])
@settings(max_examples=30, **QUICK)
@given(data=st.data())
def test_pooling_backends_agree_on_odd_geometry(windows: str, data: st.DataObject) -> None:
    """max/avg pooling, forward and backward, with NaN and ±inf in x and dy: numpy and numba against the reference.

    Non-overlapping windows without padding take numba's tiled loops; the others its general loop.
    """
    g = data.draw(geometry(window_max=3), label="geometry")
    if windows == "non-overlapping":
        g.update(strides=(g["kh"], g["kw"]), padding="valid", h=max(g["h"], g["kh"]), w=max(g["w"], g["kw"]))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    c = data.draw(st.integers(1, 4), label="C")
    nonfinite = data.draw(st.booleans(), label="non-finite values")
    x = data.draw(sprinkled((g["n"], g["h"], g["w"], c), dtype, nonfinite=nonfinite), label="x")
    if data.draw(st.booleans(), label="a window of -inf"):
        x[:, : g["kh"], : g["kw"], :] = -np.inf
    pool, geo = (g["kh"], g["kw"]), dict(strides=g["strides"], padding=g["padding"])
    t, b, l, r = convlab.resolve_padding((g["h"], g["w"]), pool, g["padding"], g["strides"])
    if max(t, b) >= g["kh"] or max(l, r) >= g["kw"]:
        geo["padding"] = "valid" if g["h"] >= g["kh"] and g["w"] >= g["kw"] else "same"
    for forward, backward in (
        (convlab.max_pool2d, convlab.max_pool2d_backward),
        (convlab.avg_pool2d, convlab.avg_pool2d_backward),
    ):
        try:
            expected = forward(x, pool, **geo, backend="reference")
        except ValueError:
            return  # a geometry pooling refuses (a window wholly in the padding): the error tests cover it
        dy = data.draw(sprinkled(expected.shape, dtype, nonfinite=nonfinite), label="dy")
        expected_dx = backward(dy, x, pool, **geo, backend="reference")
        ox, ody = _odd_layout(data.draw, x), _odd_layout(data.draw, dy)
        for backend in ("numpy", "numba"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                y = forward(ox, pool, **geo, backend=backend)
                dx = backward(ody, ox, pool, **geo, backend=backend)
            why = same_numbers(y, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)
            assert why is None, f"{forward.__name__} on {backend}: {why}"
            why = same_numbers(dx, expected_dx, rtol=1e-5 if dtype == np.float32 else 1e-12)
            assert why is None, f"{backward.__name__} on {backend}: {why}"


# --------------------------------------------------------------------------- 4. exact shape arithmetic
_ANY_INT = st.one_of(st.integers(-3, 40), st.integers(2**62, 2**70), st.just(10**400 + 1))


@settings(max_examples=80, **QUICK)
@given(n=_ANY_INT, k=_ANY_INT, p=_ANY_INT, s=_ANY_INT)
def test_shape_helpers_are_exact(n: int, k: int, p: int, s: int) -> None:
    """Any int is refused naming its argument, or the answer is exact: ``floor((n + 2p − k)/s) + 1``."""
    exact = (n + 2 * p - k) // s + 1 if s > 0 else None
    for f, window in ((convlab.conv_output_size, "kernel_size"), (convlab.output_size_formula, "kernel_size")):
        got, exc = _call(Fn(f.__name__, f, dict, {}), {"n": n, window: k, "padding": p, "stride": s})
        if exc is not None:
            assert isinstance(exc, (ValueError, TypeError)), f"{f.__name__}({n}, {k}, {p}, {s}) raised {exc!r:.300}"
            assert names_argument(str(exc), ("n", "kernel_size", "padding", "stride")), f"{exc!s:.300}"
            continue
        assert n >= 0 and k >= 1 and p >= 0 and s >= 1 and n + 2 * p >= k, f"{f.__name__}({n}, {k}, {p}, {s}) accepted"
        if f is convlab.conv_output_size:
            assert got == exact, f"conv_output_size({n}, {k}, {p}, {s}) = {got}, exactly {exact}"
        else:
            assert str(exact) in got, f"output_size_formula({n}, {k}, {p}, {s}) = {got!r}, exactly {exact}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_relu_keeps_nonfinite(dtype: Any) -> None:
    """relu/relu_backward switch to a compiled loop on big arrays: NaN, ±inf as np.maximum / np.where do."""
    x = np.tile(np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 3e38], dtype), 1 << 14)
    dy = np.roll(x, 1)
    assert same_numbers(convlab.relu(x), np.maximum(x, dtype(0))) is None
    assert same_numbers(convlab.relu_backward(dy, x), np.where(x > 0, dy, dtype(0))) is None
