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

import base64
import contextlib
import functools
import io
import json
import math
import re
import struct
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import strategies as S
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image

import convlab
import convlab.datasets
import convlab.losses as L
import convlab.vgg
from convlab.layers import Activation as ActivationLayer
from convlab.layers import AveragePooling2D, Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from convlab.optimizers import SGD, Adam, RMSprop
from convlab.shapes import conv_output_size
from convlab.web.arithmetic import size_explanation
from convlab.web.digits import fit_input, mnist_preprocess
from convlab.web.explain import explain, layer_outputs
from convlab.web.images import MAX_UPLOAD_BYTES, decode_canvas, decode_upload

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


def _checked(ok: Callable[..., bool]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A call whose result must pass ``ok(result, **kwargs)`` (what the docstring promises of an accepted value).

    A result that does not is an AssertionError, which the catalogue reports as an undocumented exception.
    """

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def call(**kwargs: Any) -> Any:
            result = f(**kwargs)
            assert ok(result, **kwargs), (
                f"an accepted call returned what its docstring does not promise: {result!r:.300}"
            )
            return result

        return call

    return wrap


def _set_class_names(class_names: Any) -> Any:
    """``model.class_names = class_names`` on a built model with 3 outputs; what the property then gives back."""
    m = _model(compiled=False)
    m.class_names = class_names
    assert m.class_names == (None if class_names is None else tuple(class_names)), m.class_names
    return m.class_names


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

#: ``.keras`` files as :func:`convlab.vgg.class_names_of` reads them (made by :func:`scratch`): a convlab.json
#: entry that is not what save_model writes, name → its bytes (or a function of them that damages the zip).
BAD_ENTRIES: dict[str, Any] = {
    "json": b"{not json",
    "list": b"[]",
    "number": b"5",
    "null": b"null",
    "string": json.dumps({"class_names": "abc"}),
    "items": json.dumps({"class_names": [1, 2]}),
    "empty_name": json.dumps({"class_names": ["a", ""]}),
    "no_key": b"{}",
    "deep": "[" * 100_000,  # json.loads: RecursionError
    "not_utf8": b"\xff\xfe\x00",
    "crc": json.dumps({"class_names": ["a", "b"]}),  # one byte changed after zipping: Bad CRC-32
    "encrypted": json.dumps({"class_names": ["a", "b"]}),  # the "encrypted" flag set: a password is asked for
}
KERAS_PATH = (
    S.Family("wrong_type", S.values_of(None, 1, b"m.keras", ["m.keras"], object())),
    S.Family(
        "missing",
        S.values_of(InDir("missing.keras"), InDir("no/such/folder/m.keras"), InDir("nul\x00.keras"), InDir("")),
    ),
    S.Family("not_a_zip", S.values_of(InDir("notes.txt"), InDir("random.npz"), InDir("truncated.keras"))),
    *S.families("bad_entry", *[InDir(f"bad_{k}.keras") for k in BAD_ENTRIES]),
    S.Family("readable", S.values_of(InDir("named.keras"), InDir("plain.keras"), InDir("model.npz")), S.ACCEPT),
)


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
            callbacks=S.CALLBACKS,
        ),
        names=dict(y=("y", "y_true")),
        verdicts=(convlab.NonFiniteLossError,),
    ),
    Fn(
        "Sequential.class_names",
        lambda class_names: _set_class_names(class_names),
        lambda: dict(class_names=("a", "b", "c")),
        dict(class_names=S.class_names_families(3)),
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
    # needs no TensorFlow (the archive is read as a zip): here, not in the bridge group
    Fn(
        "vgg.class_names_of",
        _checked(lambda r, path: r is None or (type(r) is tuple and all(type(n) is str and n for n in r)))(
            convlab.vgg.class_names_of
        ),
        lambda: dict(path=InDir("named.keras")),
        dict(path=KERAS_PATH),
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


# --------------------------------------------------------------------------- the web explorer (convlab.web)
def _encode(img: Image.Image, fmt: str = "PNG", **kwargs: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width``×``height`` 8-bit grey pixels and holds none (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")


#: A 12×10 drawing: a grey background, a white stroke and one black pixel (ink whether inverted or not).
DIGIT = np.full((12, 10), 100, np.uint8)
DIGIT[2:10, 5] = 255
DIGIT[3, 3] = 0
UPLOAD = _encode(Image.fromarray(DIGIT))
_IDAT = UPLOAD.index(b"IDAT")
#: Cut anywhere before the middle of the pixel data: a truncated file. (A PNG cut after its pixel data,
#: with no IEND, is one Pillow still reads: that is no bad value.)
_TRUNCATE_BELOW = _IDAT + 4 + struct.unpack(">I", UPLOAD[_IDAT - 4 : _IDAT])[0] // 2


def _transparent_grey() -> bytes:
    return _encode(Image.new("L", (4, 4)), transparency=0)


def _animated() -> bytes:
    frames = [Image.new("L", (4, 4), 0), Image.new("L", (4, 4), 255)]
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:])


#: Files decode_upload refuses by what they are (each documented: a 415 or a 413).
REFUSED_IMAGES = (
    _encode(Image.new("RGBA", (4, 4))),
    _encode(Image.new("LA", (4, 4))),
    _encode(Image.new("P", (4, 4))),
    _encode(Image.new("I;16", (4, 4))),
    _encode(Image.new("F", (4, 4)), "TIFF"),
    _encode(Image.new("CMYK", (4, 4)), "JPEG"),
    _transparent_grey(),
    _animated(),
    _png_header(100_000, 100_000),  # over twice Pillow's MAX_IMAGE_PIXELS: refused from the header
    _png_header(10_000, 10_000),  # between the limit and twice it (Pillow only warns there)
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS: Pillow's plugin would run Ghostscript
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
    b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"/>',
    b"GIF89a" + bytes(20),
)
#: Files decode_upload reads: other formats and kinds of 8-bit images, and the bytes in other containers.
READ_IMAGES = (
    bytearray(UPLOAD),
    memoryview(UPLOAD),
    _encode(Image.fromarray(DIGIT).convert("RGB")),
    _encode(Image.fromarray(DIGIT), "JPEG"),
    _encode(Image.fromarray(DIGIT).convert("1")),
    _encode(Image.fromarray(DIGIT).convert("RGB"), "BMP"),
    _encode(Image.fromarray(DIGIT), "TIFF"),
)


@st.composite
def _bit_flip(draw: Any, base: bytes) -> bytes:
    raw = bytearray(base)
    raw[draw(st.integers(0, len(raw) - 1))] ^= draw(st.integers(1, 255))
    return bytes(raw)


UPLOAD_DATA = (
    *S.families(
        "not_bytes",
        None,
        "abc",
        UPLOAD.decode("latin-1"),
        1,
        [1, 2],
        np.frombuffer(UPLOAD, np.uint8),
        io.BytesIO(UPLOAD),
    ),
    S.Family("garbage", lambda _b: st.binary(max_size=64)),
    S.Family("truncated", lambda base: st.integers(0, _TRUNCATE_BELOW).map(lambda n: base[:n])),
    S.Family("bit_flip", _bit_flip, S.EITHER),
    *S.families("refused_kind", *REFUSED_IMAGES),
    S.Family("too_large", S.values_of(UPLOAD + bytes(MAX_UPLOAD_BYTES))),
    *S.families("readable", *READ_IMAGES, outcome=S.ACCEPT),
)
FILENAME = (
    S.Family("wrong_type", S.values_of(1, b"x.png", ["x.png"], object(), Path("x.png"))),
    S.Family(
        "any_text",
        S._also(
            st.text(max_size=20), "", "../../etc/passwd", "a\x00b.png", "x" * 10_000, "<script>.png", "C:\\x\\y.png"
        ),
        S.ACCEPT,
    ),
)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _decodes_to(text: str, n: int) -> bool:
    try:
        return len(base64.b64decode(text.encode("ascii"), validate=True)) == n
    except (ValueError, UnicodeEncodeError):
        return False


CANVAS = dict(width=3, height=2, pixels=_b64(bytes([0, 255, 10, 20, 30, 40])))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
_SIDE_VALUES = st.one_of(
    st.sampled_from([True, False, 3.0, "3", None, [3], 2**70, 10**400, -1, 0, 1025, np.int64(3), math.nan]),
    st.integers(),
)
CANVAS_PAYLOAD = (
    *S.families("not_an_object", None, "abc", json.dumps(CANVAS), [CANVAS], 3, b"{}", object(), (("width", 3),)),
    S.Family(
        "missing_field",
        lambda base: st.sampled_from(sorted(base)).map(lambda key: {k: v for k, v in base.items() if k != key}),
    ),
    S.Family(
        "bad_side",
        lambda base: (
            st.tuples(st.sampled_from(["width", "height"]), _SIDE_VALUES)
            .filter(lambda kv: type(kv[1]) is not int or kv[1] != base[kv[0]])
            .map(lambda kv: {**base, kv[0]: kv[1]})
        ),
    ),
    S.Family(
        "pixels_not_text",
        lambda base: st.sampled_from([None, b"AAAAAAAA", 1, ["AAAAAAAA"], {"a": 1}, bytearray(6)]).map(
            lambda v: {**base, "pixels": v}
        ),
    ),
    S.Family(
        "bad_base64",
        lambda base: (
            st.one_of(
                st.text(max_size=12),
                st.sampled_from(
                    [
                        base["pixels"][:4] + "\n" + base["pixels"][4:],
                        " " + base["pixels"],
                        "data:application/octet-stream;base64," + base["pixels"],
                        base["pixels"] + "=",
                        base["pixels"].replace("/", "_").replace("+", "-") + "-_",
                        "é" * 8,
                        "A" * 10**6,
                    ]
                ),
            )
            .filter(lambda text: not _decodes_to(text, 6))
            .map(lambda text: {**base, "pixels": text})
        ),
    ),
    S.Family(
        "wrong_length",
        lambda base: st.binary(max_size=40).filter(lambda b: len(b) != 6).map(lambda b: {**base, "pixels": _b64(b)}),
    ),
    S.Family("any_json", lambda _b: st.dictionaries(st.sampled_from(["width", "height", "pixels"]), _JSON), S.EITHER),
    S.Family(
        "valid",
        lambda base: st.sampled_from(
            [
                {**base, "extra": 1},
                dict(reversed(list(base.items()))),
                dict(width=1, height=1, pixels="AA=="),
                dict(width=1024, height=1, pixels=_b64(bytes(range(256)) * 4)),
            ]
        ),
        S.ACCEPT,
    ),
)
INVERT = (
    *S.families("bad_invert", "yes", "False", "None", 0, 1, 2, [], 1.0, np.array(True), np.array([True])),
    S.Family("flag", S.values_of(True, False, np.bool_(True), np.bool_(False), None), S.ACCEPT),
)
INPUT_SHAPE = (
    *S.families(
        "bad_shape",
        (28, 28),
        (28, 28, 1, 1),
        (1, 28, 28, 1),
        (None, None, 28, 1),
        (None, 28, 28),
        "abc",
        None,
        28,
        object(),
        {1: 2},
        [[28], 28, 1],
        (28.0, 28, 1),
        ("28", 28, 1),
        (True, 28, 1),
    ),
    S.Family("bad_channels", S.values_of((28, 28, 2), (28, 28, 4), (28, 28, 0), (8, 8, -1), (None, 28, 28, 2))),
    *S.families(
        "bad_size",
        (0, 28, 1),
        (-1, 28, 1),
        (28, 0, 3),
        (4097, 2, 1),
        (2, 10**6, 3),
        (2**31, 2**31, 3),
        (2**70, 2, 1),
        (10**400, 2, 1),
        (S.INT64_MAX, 1, 1),
    ),
    S.Family("any_size", lambda _b: st.tuples(st.integers(-2, 60), st.integers(-2, 60), st.integers(0, 4)), S.EITHER),
    *S.families(
        "valid",
        (None, 28, 28, 1),
        [28, 28, 1],
        np.array([28, 28, 1]),
        (np.int64(28), 28, np.int8(1)),
        (5, 7, 3),
        (1, 1, 1),
        (64, 3, 1),
        (28, 28, 3),
        (300, 200, 3),
        outcome=S.ACCEPT,
    ),
)


#: For a model that is not MNIST's, a uniform image is an input like any other.
IMAGE_ANY_MODEL = tuple(f if f.name != "blank" else S.Family(f.name, f.make, S.ACCEPT) for f in S.IMAGE)


def _fits(result: Any, image: Any, input_shape: Any) -> bool:
    """fit_input's promise: ``(H_in, W_in, C_in)`` float32, finite, in [0, 1]."""
    shape = tuple(int(v) for v in input_shape if v is not None)
    return _unit_floats(result) and result.shape == shape


def _unit_floats(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == np.float32 and bool(np.all((a >= 0) & (a <= 1)))


@functools.cache
def _explained() -> tuple[convlab.Sequential, np.ndarray, list[dict[str, Any]]]:
    """A small CNN (conv 3×3 → max pool → flatten → dense softmax), one input and its layer outputs."""
    convlab.set_seed(0)
    model = convlab.Sequential(
        [Input((6, 6, 1)), Conv2D(2, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dense(3, activation="softmax")]
    )
    x = ints(6, 6, 1, seed=13)
    return model, x, layer_outputs(model, x)


@functools.cache
def _other_models() -> tuple[Any, ...]:
    """Models explain cannot take with this x: not built, no layers, another input shape."""
    return (convlab.Sequential(), convlab.Sequential([Dense(2)]), _model(compiled=False))


def _bad_outputs(_base: Any) -> list[Any]:
    _, _, outs = _explained()
    first = outs[0]
    return [
        "abc",
        3,
        [],
        [None] * len(outs),
        [{}] * len(outs),
        tuple(outs),
        outs[:-1],
        [dict(o, values=o["values"].tolist()) for o in outs],
        [dict(first, values=first["values"][None]), *outs[1:]],
        [dict(first, values=first["values"].astype(np.int64)), *outs[1:]],
        [dict(first, name="other"), *outs[1:]],
        [{k: v for k, v in first.items() if k != "output_shape"}, *outs[1:]],
        outs[::-1],
    ]


def _other_outputs(_base: Any) -> st.SearchStrategy:
    model, x, outs = _explained()
    return st.sampled_from([outs, list(outs), layer_outputs(model, x * 2)])


EXPLAIN_MODEL = S.split_families("not_a_model", lambda _b: [None, 3, "model", object(), Dense(2), *_other_models()], 8)
OUTPUTS = (*S.split_families("bad_outputs", _bad_outputs, 13), S.Family("outputs", _other_outputs, S.ACCEPT))
TOP = (
    S.BOOLS,
    S.FLOATS,
    S.NONPOSITIVE,
    S.HUGE,
    S.BIG,
    S.NOT_AN_INT_NOR_TEXT,
    S.ZERO_D,
    S.NUMPY_INT,
    S.BAD_TEXT,
    S.Family("out_of_range", S._also(st.integers(1001, 2**62), 1001, "1001", "0", "-3")),
    S.query_text("3", " 3 ", "+3", "1000"),
)


def _explanation(result: Any, **_kwargs: Any) -> bool:
    """explain's promise: a dict of JSON data (no NaN/inf, no NumPy types) with the value recomputed."""
    json.dumps(result, allow_nan=False)
    return isinstance(result, dict) and result["kind"] in ("conv", "max_pool", "avg_pool", "dense", "flatten")


def _outputs_ok(result: Any, model: Any, x: Any) -> bool:
    return len(result) == len(model.layers) and all(
        isinstance(o["values"], np.ndarray) and list(o["values"].shape) == o["output_shape"] for o in result
    )


def _sized(result: dict[str, Any], n: Any, kernel_size: Any, padding: Any, strides: Any) -> bool:
    """size_explanation's promise: the engine's output size, and as many window positions (or None: too many)."""
    json.dumps(result, allow_nan=False)
    out = conv_output_size(result["n"], result["kernel_size"], result["padding"], result["strides"])
    positions = result["positions"]
    return result["output_size"] == out and (positions is None or len(positions) == out)


def _query_int(valid: int, *families: S.Family) -> tuple[S.Family, ...]:
    """An int argument a query string may give: no decimal string among the wrong types; text that is no number."""
    return (*families, S.NOT_AN_INT_NOR_TEXT, S.BAD_TEXT, S.query_text(str(valid), f" {valid} ", f"+{valid}"))


_QUERY_PADDING = (
    S.Family(
        "bad_string",
        S._also(
            st.text(max_size=8).filter(
                lambda s: s.strip().lower() not in ("valid", "same") and not s.strip().lstrip("+-").isdigit()
            ),
            "full",
            "",
            "causal",
            "valid\x00",
            "1.5",
            "-1",
        ),
    ),
    *[f for f in S.PADDING if f.name != "bad_string"],
    S.query_text(" SAME ", "Valid", "2", " 0 "),
)
_SIZE_NOT_STR = (S.BOOLS, S.FLOATS, S.HUGE, S.BIG, S.ZERO_D, S.NUMPY_INT)

GROUPS["web"] = [
    Fn(
        "web.decode_canvas",
        _checked(lambda r, payload: r.dtype == np.uint8 and r.shape == (payload["height"], payload["width"]))(
            decode_canvas
        ),
        lambda: dict(payload=dict(CANVAS)),
        dict(payload=CANVAS_PAYLOAD),
        names=dict(payload=("payload", "canvas")),
    ),
    Fn(
        "web.decode_upload",
        _checked(lambda r, **_: r.dtype == np.uint8 and (r.ndim == 2 or r.shape[2:] == (3,)) and r.flags.c_contiguous)(
            decode_upload
        ),
        lambda: dict(data=UPLOAD, filename="digit.png"),
        dict(data=UPLOAD_DATA, filename=FILENAME),
        names=dict(data=("data", "file", "image")),
    ),
    Fn(
        "web.mnist_preprocess",
        _checked(lambda r, **_: _unit_floats(r) and r.shape == (28, 28))(mnist_preprocess),
        lambda: dict(grey=DIGIT, invert=None),
        dict(grey=S.IMAGE, invert=INVERT),
        names=dict(grey=("grey", "image", "digit")),
    ),
    Fn(
        "web.fit_input",
        _checked(_fits)(fit_input),
        lambda: dict(image=DIGIT, input_shape=(28, 28, 1)),
        dict(image=S.IMAGE, input_shape=INPUT_SHAPE),
        names=dict(image=("image", "digit")),
    ),
    Fn(
        "web.fit_input (RGB model)",
        _checked(_fits)(fit_input),
        lambda: dict(image=DIGIT, input_shape=(8, 6, 3)),
        dict(image=IMAGE_ANY_MODEL),
        names=dict(image=("image", "digit")),
    ),
    Fn(
        "web.layer_outputs",
        _checked(_outputs_ok)(layer_outputs),
        lambda: dict(model=_explained()[0], x=_explained()[1]),
        dict(model=EXPLAIN_MODEL, x=S.ARRAY),
    ),
    Fn(
        "web.explain (conv)",
        _checked(_explanation)(explain),
        lambda: dict(model=_explained()[0], x=_explained()[1], layer=0, row=1, col=2, channel=1),
        dict(
            model=EXPLAIN_MODEL,
            x=S.ARRAY,
            layer=(*S.index_families(0, 3), S.Family("other_layer", S.values_of(1, 2, 3, "3"), S.EITHER)),
            row=S.index_families(1, 3),
            col=S.index_families(2, 3),
            channel=S.index_families(1, 1),
            unit=(S.Family("not_for_maps", S.values_of(0, 1, "0", 1.5, True, -1)),),
            outputs=OUTPUTS,
        ),
    ),
    Fn(
        "web.explain (dense)",
        _checked(_explanation)(explain),
        lambda: dict(model=_explained()[0], x=_explained()[1], layer=3, unit=1, top=3),
        dict(
            unit=S.index_families(1, 2),
            top=TOP,
            **{
                k: (S.Family("not_for_vectors", S.values_of(0, "0", 1.5, True, -1)),) for k in ("row", "col", "channel")
            },
        ),
    ),
    Fn(
        "web.size_explanation",
        _checked(_sized)(size_explanation),
        lambda: dict(n=5, kernel_size=3, padding=1, strides=2),
        dict(
            n=_query_int(5, *_SIZE_NOT_STR, S.NEGATIVE),
            kernel_size=_query_int(
                3,
                *_SIZE_NOT_STR,
                S.NONPOSITIVE,
                S.BAD_PAIR,
                S.Family("too_large", S.values_of(8, 100, "8")),
                S.Family("one_axis_pair", S.values_of((3, 3), [3, 3], (np.int64(3), 3)), S.ACCEPT),
            ),
            padding=(
                *_QUERY_PADDING,
                S.Family("pair_forms", S.values_of((1, 1), ((1, 2), (1, 2)), np.int64(1)), S.ACCEPT),
            ),
            strides=_query_int(
                2,
                *_SIZE_NOT_STR,
                S.NONPOSITIVE,
                S.BAD_PAIR,
                S.Family("one_axis_pair", S.values_of((2, 2), [2, 2]), S.ACCEPT),
            ),
        ),
        names=dict(kernel_size=("kernel_size", "k"), padding=("padding", "p"), strides=("strides", "stride", "s")),
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
    _keras_files(d)
    return d


def _zip(path: Path, entries: dict[str, Any]) -> bytes:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path.read_bytes()


def _keras_files(d: Path) -> None:
    """Stand-ins for ``.keras`` archives (class_names_of reads only the zip): with, without, with a bad convlab.json."""
    model_json = {"model.weights.h5": b"", "config.json": b"{}"}  # what a .keras archive holds besides
    named = _zip(d / "named.keras", {**model_json, "convlab.json": json.dumps({"class_names": ["cat", "dog"]})})
    (d / "truncated.keras").write_bytes(named[: len(named) // 2])
    _zip(d / "plain.keras", model_json)
    for name, entry in BAD_ENTRIES.items():
        path = d / f"bad_{name}.keras"
        raw = bytearray(_zip(path, {**model_json, "convlab.json": entry}))
        if name == "crc":
            at = raw.rfind(b"class_names")
            raw[at] ^= 0x20
        if name == "encrypted":
            # bit 0 of the general-purpose flags, in the entry's local header and in the central directory
            local = raw.rfind(b"PK\x03\x04")
            central = raw.rfind(b"PK\x01\x02")
            raw[local + 6] |= 1
            raw[central + 8] |= 1
        path.write_bytes(bytes(raw))


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
test_bad_value_web = bad_value_test("web")
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
