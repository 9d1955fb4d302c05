"""Global average and max pooling: every backend equals the reference loops; forward and backward
equal Keras' GlobalAveragePooling2D / GlobalMaxPooling2D (TensorFlow's reduce_mean / reduce_max
gradients) — including the max's rule on ties (shared equally) and on NaN and inf; gradcheck.
"""

from __future__ import annotations

import numpy as np
import pytest

from convlab.ops.global_pooling import (
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_max_pool2d,
    global_max_pool2d_backward,
)
from convlab.ops.gradcheck import gradcheck

BACKENDS = ["reference", "numpy", "numba"]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-6, np.float64: 1e-13}  # max |error| / max |reference|
SHAPES = [(1, 1, 1, 1), (2, 5, 7, 3), (3, 4, 4, 16), (1, 13, 2, 5)]
OPS = {
    "avg": (global_avg_pool2d, global_avg_pool2d_backward),
    "max": (global_max_pool2d, global_max_pool2d_backward),
}


def _close(actual, expected, dtype):
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    err = float(np.max(np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64)))) / scale
    assert err <= TOL[dtype], f"max |error| / scale = {err:.3g}"


def _ties(shape, dtype, seed=0):
    """Small integers: many tied maxima per channel."""
    return np.random.default_rng(seed).integers(-2, 3, shape).astype(dtype)


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", sorted(OPS))
def test_backends_equal_reference(op, shape, dtype, keepdims):
    forward, backward = OPS[op]
    rng = np.random.default_rng(1)
    for x in (rng.standard_normal(shape).astype(dtype), _ties(shape, dtype)):
        n, _, _, c = shape
        out_shape = (n, 1, 1, c) if keepdims else (n, c)
        dy = rng.standard_normal(out_shape).astype(dtype)
        y_ref = forward(x, keepdims=keepdims, backend="reference")
        dx_ref = backward(dy, x, keepdims=keepdims, backend="reference")
        assert y_ref.shape == out_shape and y_ref.dtype == dtype
        assert dx_ref.shape == shape and dx_ref.dtype == dtype
        for backend in ("numpy", "numba"):
            y = forward(x, keepdims=keepdims, backend=backend)
            dx = backward(dy, x, keepdims=keepdims, backend=backend)
            assert y.shape == out_shape and y.dtype == dtype and dx.shape == shape and dx.dtype == dtype
            _close(y, y_ref, dtype)
            _close(dx, dx_ref, dtype)


def test_the_formulas_by_hand():
    x = np.zeros((1, 2, 2, 2))
    x[0, :, :, 0] = [[1, 5], [5, 2]]  # two tied maxima
    x[0, :, :, 1] = [[4, 4], [4, 4]]  # four
    for backend in BACKENDS:
        np.testing.assert_array_equal(global_avg_pool2d(x, backend=backend), [[3.25, 4.0]])
        np.testing.assert_array_equal(global_max_pool2d(x, backend=backend), [[5.0, 4.0]])
        np.testing.assert_array_equal(global_max_pool2d(x, keepdims=True, backend=backend), [[[[5.0, 4.0]]]])
        dx = global_max_pool2d_backward([[2.0, 8.0]], x, backend=backend)
        np.testing.assert_array_equal(dx[0, :, :, 0], [[0, 1], [1, 0]])  # ties share: 2 / 2
        np.testing.assert_array_equal(dx[0, :, :, 1], [[2, 2], [2, 2]])  # 8 / 4
        np.testing.assert_array_equal(global_avg_pool2d_backward([[2.0, 8.0]], x, backend=backend)[0, 0, 0], [0.5, 2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_rules(backend):
    """NaN propagates forward; a NaN maximum gives NaN to every pixel of its channel (0/0); a pixel
    that is not a maximum gets 0·dy (NaN for an infinite dy); all −inf is a tie of every pixel."""
    x = np.zeros((1, 2, 2, 3))
    x[0, :, :, 0] = [[1, np.nan], [3, 2]]
    x[0, :, :, 1] = -np.inf
    x[0, :, :, 2] = [[1, 3], [3, 2]]
    y = global_max_pool2d(x, backend=backend)
    np.testing.assert_array_equal(y, [[np.nan, -np.inf, 3]])
    assert np.isnan(global_avg_pool2d(x, backend=backend)[0, 0])
    dx = global_max_pool2d_backward([[1.0, 1.0, np.inf]], x, backend=backend)
    assert np.isnan(dx[0, :, :, 0]).all()
    np.testing.assert_array_equal(dx[0, :, :, 1], np.full((2, 2), 0.25))
    np.testing.assert_array_equal(dx[0, :, :, 2], [[np.nan, np.inf], [np.inf, np.nan]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("op", sorted(OPS))
def test_gradcheck(op, backend):
    forward, backward = OPS[op]
    x = np.random.default_rng(2).permutation(60).reshape(2, 5, 3, 2) / 10.0  # distinct: no ties within h
    for keepdims in (False, True):
        errors = gradcheck(
            lambda x, kd=keepdims: forward(x, keepdims=kd, backend=backend),
            lambda dy, x, kd=keepdims: backward(dy, x, keepdims=kd, backend=backend),
            {"x": x},
        )
        assert errors["x"] < 1e-8, errors


def test_errors_name_the_argument():
    x = np.zeros((2, 3, 3, 4))
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, H, W, C\)"):
        global_avg_pool2d(np.zeros((3, 3, 4)))
    with pytest.raises(TypeError, match="keepdims"):
        global_max_pool2d(x, keepdims=1)
    with pytest.raises(ValueError, match="backend"):
        global_max_pool2d(x, backend="gpu")
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(N, C\) = \(2, 4\)"):
        global_max_pool2d_backward(np.zeros((2, 1, 1, 4)), x)
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(N, 1, 1, C\) = \(2, 1, 1, 4\)"):
        global_avg_pool2d_backward(np.zeros((2, 4)), x, keepdims=True)
    assert global_avg_pool2d(np.arange(8).reshape(1, 2, 2, 2)).dtype == np.float64  # integers → float64


# --------------------------------------------------------------------------- TensorFlow / Keras
def _keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def _keras_grads(layer_cls, x, dy, keepdims):
    import tensorflow as tf

    layer = layer_cls(keepdims=keepdims, dtype=x.dtype.name)  # Keras would compute float64 input in float32
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt)
        loss = tf.reduce_sum(y * dy)
    return y.numpy(), tape.gradient(loss, xt).numpy()


@pytest.mark.tf
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("op", sorted(OPS))
def test_matches_keras(op, dtype, keepdims):
    keras = _keras()
    layer_cls = {"avg": keras.layers.GlobalAveragePooling2D, "max": keras.layers.GlobalMaxPooling2D}[op]
    forward, backward = OPS[op]
    rng = np.random.default_rng(3)
    for x in (rng.standard_normal((3, 7, 5, 4)).astype(dtype), _ties((3, 7, 5, 4), dtype)):
        dy = rng.standard_normal((3, 1, 1, 4) if keepdims else (3, 4)).astype(dtype)
        y_tf, dx_tf = _keras_grads(layer_cls, x, dy, keepdims)
        for backend in BACKENDS:
            _close(forward(x, keepdims=keepdims, backend=backend), y_tf, dtype)
            _close(backward(dy, x, keepdims=keepdims, backend=backend), dx_tf, dtype)


@pytest.mark.tf
def test_max_tie_and_nonfinite_rules_are_tensorflows():
    """The same NaN/inf/tie patterns as TensorFlow's reduce_max gradient (measured, TF 2.21)."""
    keras = _keras()
    x = np.zeros((1, 2, 2, 4), dtype=np.float32)
    x[0, :, :, 0] = [[1, np.nan], [3, 2]]
    x[0, :, :, 1] = -np.inf
    x[0, :, :, 2] = [[1, 3], [3, 2]]
    x[0, :, :, 3] = [[np.inf, np.inf], [1, 0]]
    dy = np.array([[1.0, 1.0, np.inf, 3.0]], dtype=np.float32)
    y_tf, dx_tf = _keras_grads(keras.layers.GlobalMaxPooling2D, x, dy, False)
    for backend in BACKENDS:
        np.testing.assert_array_equal(global_max_pool2d(x, backend=backend), y_tf)
        np.testing.assert_array_equal(global_max_pool2d_backward(dy, x, backend=backend), dx_tf)
