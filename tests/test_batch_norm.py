"""Batch normalisation (convlab.ops.batch_norm): the formulas, every backend against the reference,
Keras 3's BatchNormalization (forward, moving statistics, GradientTape gradients), gradcheck, bad input.

Parity measured with these tests' inputs (max over backends, shapes (N, H, W, C) and (N, F),
training and inference, center/scale on and off; relative to the largest Keras value):
float64: y, moving statistics, dx, dgamma, dbeta within 2e-15; float32: y 4e-7,
moving statistics 3e-7 (one unit in the last place: TensorFlow sums in float32), dx 3e-7,
dgamma 3e-6, dbeta 4e-7.
"""

import math

import numpy as np
import pytest
from conftest import BACKENDS, DTYPES

from convlab.ops.batch_norm import BatchNormOutput, batch_norm, batch_norm_backward
from convlab.ops.gradcheck import gradcheck

#: Tolerances relative to the largest value: float32 a few units in the last place of sums over M numbers.
RTOL = {np.float32: 1e-5, np.float64: 1e-12}


def _close(a, b, dtype, rtol=None):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(), 1e-30)
    err = np.abs(a - b).max() / scale
    assert err <= (rtol or RTOL[dtype]), f"relative error {err:.3e}"


def _case(rng, shape, dtype, mean=2.0, std=3.0):
    c = shape[-1]
    x = (rng.standard_normal(shape) * std + mean).astype(dtype)
    gamma = (rng.standard_normal(c) + 1.0).astype(dtype)
    beta = rng.standard_normal(c).astype(dtype)
    moving_mean = rng.standard_normal(c).astype(dtype)
    moving_variance = (rng.random(c) + 0.5).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    return x, gamma, beta, moving_mean, moving_variance, dy


# --------------------------------------------------------------------------- the formulas by hand
def test_hand_example_training_and_moving_update():
    x = np.array([[1.0], [2.0], [3.0], [4.0]])  # (N, F) = (4, 1): mean 2.5, biased variance 1.25
    out = batch_norm(x, [2.0], [0.5], moving_mean=[0.0], moving_variance=[1.0], training=True, backend="reference")
    assert isinstance(out, BatchNormOutput)
    assert out.mean.tolist() == [2.5] and out.variance.tolist() == [1.25]  # ÷ M, not M − 1
    expected = 2.0 * (x - 2.5) / math.sqrt(1.25 + 1e-3) + 0.5
    np.testing.assert_allclose(out.y, expected, rtol=1e-15)
    np.testing.assert_allclose(out.moving_mean, [0.0 * 0.99 + 2.5 * (1 - 0.99)], rtol=1e-15)  # 0.025
    np.testing.assert_allclose(out.moving_variance, [1.0 * 0.99 + 1.25 * (1 - 0.99)], rtol=1e-15)  # 1.0025


def test_hand_example_inference_uses_moving_statistics_unchanged():
    x = np.array([[1.0, 10.0], [3.0, 20.0]])
    mm, mv = np.array([1.0, 10.0]), np.array([4.0, 25.0])
    for backend in BACKENDS:
        out = batch_norm(x, moving_mean=mm, moving_variance=mv, epsilon=1e-3, backend=backend)
        np.testing.assert_allclose(out.y, (x - mm) / np.sqrt(mv + 1e-3), rtol=1e-15)
        assert np.array_equal(out.mean, mm) and np.array_equal(out.variance, mv)
        assert np.array_equal(out.moving_mean, mm) and np.array_equal(out.moving_variance, mv)
        assert out.moving_mean is not mm and out.moving_variance is not mv  # fresh arrays


def test_training_without_moving_statistics_returns_none_for_them():
    out = batch_norm(np.arange(12.0).reshape(2, 2, 3), training=True)
    assert out.moving_mean is None and out.moving_variance is None
    np.testing.assert_allclose(out.y.reshape(-1, 3).mean(axis=0), 0.0, atol=1e-12)


def test_statistics_per_channel_over_every_other_axis():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 2)) * [1.0, 10.0] + [0.0, 100.0]
    out = batch_norm(x, training=True)
    np.testing.assert_allclose(out.mean, x.mean(axis=(0, 1, 2)), rtol=1e-13)
    np.testing.assert_allclose(out.variance, x.var(axis=(0, 1, 2)), rtol=1e-13)


def test_backward_simplified_form_by_hand():
    rng = np.random.default_rng(2)
    x, gamma, _, mm, mv, dy = _case(rng, (6, 3), np.float64)
    m = x.shape[0]
    mu, var = x.mean(0), x.var(0)
    sigma = np.sqrt(var + 1e-3)
    xhat = (x - mu) / sigma
    dx_expected = gamma / (m * sigma) * (m * dy - dy.sum(0) - xhat * (dy * xhat).sum(0))  # CS231n
    dx, dgamma, dbeta = batch_norm_backward(dy, x, gamma, backend="reference")
    np.testing.assert_allclose(dx, dx_expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dgamma, (dy * xhat).sum(0), rtol=1e-12)
    np.testing.assert_allclose(dbeta, dy.sum(0), rtol=1e-12)
    dx, _, _ = batch_norm_backward(dy, x, gamma, training=False, moving_mean=mm, moving_variance=mv)
    np.testing.assert_allclose(dx, dy * gamma / np.sqrt(mv + 1e-3), rtol=1e-14)
    # the training-mode dx of one channel sums to 0: shifting a channel's inputs changes nothing
    np.testing.assert_allclose(batch_norm_backward(dy, x, gamma)[0].sum(0), 0.0, atol=1e-12)


# --------------------------------------------------------------------------- every backend == reference
SHAPES = [(2, 3, 5, 4), (3, 7, 1, 3), (1, 1, 1, 5), (5, 2), (1, 3), (4, 3, 2)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_backends_equal_reference(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    x, gamma, beta, mm, mv, dy = _case(rng, shape, dtype, mean=5.0)
    for training in (True, False):
        for g, b in ((gamma, beta), (None, beta), (gamma, None), (None, None)):
            kw = dict(moving_mean=mm, moving_variance=mv, training=training, momentum=0.9, epsilon=1e-2)
            ref = batch_norm(x, g, b, backend="reference", **kw)
            ref_back = batch_norm_backward(
                dy, x, g, training=training, moving_mean=mm, moving_variance=mv, epsilon=1e-2, backend="reference"
            )
            for backend in ("numpy", "numba"):
                out = batch_norm(x, g, b, backend=backend, **kw)
                for got, want in zip(out, ref):
                    assert got.dtype == dtype and got.shape == want.shape
                    _close(got, want, dtype)
                back = batch_norm_backward(
                    dy, x, g, training=training, moving_mean=mm, moving_variance=mv, epsilon=1e-2, backend=backend
                )
                for got, want in zip(back, ref_back):
                    assert got.dtype == dtype and got.shape == want.shape
                    _close(got, want, dtype)


def test_numpy_and_numba_agree_to_a_few_units_in_the_last_place_on_a_larger_batch():
    rng = np.random.default_rng(3)
    for dtype in DTYPES:
        x, gamma, beta, mm, mv, dy = _case(rng, (16, 9, 9, 7), dtype)  # 1,296 rows: several chunks
        a = batch_norm(x, gamma, beta, moving_mean=mm, moving_variance=mv, training=True, backend="numpy")
        b = batch_norm(x, gamma, beta, moving_mean=mm, moving_variance=mv, training=True, backend="numba")
        for u, v in zip(a, b):
            _close(u, v, dtype, rtol=32 * np.finfo(dtype).eps)
        for u, v in zip(batch_norm_backward(dy, x, gamma, backend="numpy"), batch_norm_backward(dy, x, gamma)):
            _close(u, v, dtype, rtol=64 * np.finfo(dtype).eps)


def test_float32_statistics_use_float64_sums():
    """A float32 running sum over 10⁵ numbers near 1e3 would lose ~1e-3 of the variance; float64 sums do not."""
    rng = np.random.default_rng(4)
    x = (1000.0 + rng.standard_normal((100_000, 2))).astype(np.float32)
    exact_mean, exact_var = x.astype(np.float64).mean(0), x.astype(np.float64).var(0)
    for backend in ("numpy", "numba"):
        out = batch_norm(x, training=True, backend=backend)
        assert out.mean.dtype == out.variance.dtype == np.float32
        np.testing.assert_allclose(out.mean, exact_mean, rtol=1e-7)
        np.testing.assert_allclose(out.variance, exact_var, rtol=1e-6)


def test_nan_stays_in_its_channel():
    x = np.ones((4, 3))
    x[1, 0] = np.nan
    x[:, 1] = [1.0, 2.0, 3.0, 4.0]
    for backend in BACKENDS:
        out = batch_norm(x, training=True, backend=backend)
        assert np.isnan(out.mean[0]) and np.isnan(out.y[:, 0]).all()
        assert np.isfinite(out.y[:, 1:]).all()
        assert np.isnan(batch_norm_backward(np.ones_like(x), x, backend=backend)[0][:, 0]).all()
        # a moving variance below −ε has no square root: NaN, as IEEE sqrt, on every backend (no exception)
        mm, mv = np.zeros(3), np.array([-1.0, 1.0, -1e-3])
        y = batch_norm(x, moving_mean=mm, moving_variance=mv, backend=backend).y
        assert np.isnan(y[:, 0]).all() and np.isfinite(y[:, 1]).all()
        assert np.isinf(y[:, 2]).all()  # 1 ÷ sqrt(−ε + ε) = 1 ÷ 0: inf
        dx = batch_norm_backward(x, x, training=False, moving_mean=mm, moving_variance=mv, backend=backend)[0]
        assert np.isnan(dx[:, 0]).all() and np.isfinite(dx[:, 1]).all()


def test_integer_input_is_float64():
    out = batch_norm([[1, 2], [3, 4]], training=True)
    assert out.y.dtype == np.float64


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_gradcheck_float64(training):
    rng = np.random.default_rng(5)
    for shape in ((3, 4, 2, 3), (7, 4)):
        x, gamma, beta, mm, mv, _ = _case(rng, shape, np.float64)
        for backend in BACKENDS:
            stats = dict(moving_mean=mm, moving_variance=mv, epsilon=1e-3, backend=backend)

            def fwd(x, gamma, beta, stats=stats):
                return batch_norm(x, gamma, beta, training=training, **stats).y

            def bwd(dy, x, gamma, beta, stats=stats):
                return batch_norm_backward(dy, x, gamma, training=training, **stats)

            errors = gradcheck(fwd, bwd, {"x": x, "gamma": gamma, "beta": beta})
            assert max(errors.values()) < 1e-7, errors


# --------------------------------------------------------------------------- Keras 3
@pytest.fixture(scope="module")
def tf_keras():
    tf = pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    return tf, keras


def _keras_bn(keras, shape, dtype, weights, **kw):
    layer = keras.layers.BatchNormalization(dtype=np.dtype(dtype).name, **kw)
    layer.build(shape)
    layer.set_weights(weights)
    return layer


@pytest.mark.tf
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(4, 5, 7, 3), (16, 6)], ids=["NHWC", "NF"])
@pytest.mark.parametrize("training", [True, False], ids=["training", "inference"])
def test_forward_and_gradients_equal_keras(tf_keras, shape, dtype, training):
    tf, keras = tf_keras
    rng = np.random.default_rng(6)
    for center, scale in ((True, True), (False, True), (True, False)):
        x, gamma, beta, mm, mv, dy = _case(rng, shape, dtype)
        weights = ([gamma] if scale else []) + ([beta] if center else []) + [mm, mv]
        layer = _keras_bn(keras, shape, dtype, weights, momentum=0.9, epsilon=1e-3, center=center, scale=scale)
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=training)
            loss = tf.reduce_sum(y * dy)
        grads = [g.numpy() for g in tape.gradient(loss, [xt, *layer.trainable_variables])]
        keras_mm, keras_mv = layer.get_weights()[-2:]
        g, b = (gamma if scale else None), (beta if center else None)
        for backend in ("numpy", "numba"):
            out = batch_norm(
                x, g, b, moving_mean=mm, moving_variance=mv, training=training, momentum=0.9, backend=backend
            )
            _close(out.y, y.numpy(), dtype)
            _close(out.moving_mean, keras_mm, dtype)
            _close(out.moving_variance, keras_mv, dtype)
            dx, dgamma, dbeta = batch_norm_backward(
                dy, x, g, training=training, moving_mean=mm, moving_variance=mv, backend=backend
            )
            expected = iter(grads)
            _close(dx, next(expected), dtype)
            if scale:
                _close(dgamma, next(expected), dtype)
            if center:
                _close(dbeta, next(expected), dtype)


@pytest.mark.tf
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_moving_statistics_after_several_calls_equal_keras(tf_keras, dtype):
    tf, keras = tf_keras
    rng = np.random.default_rng(7)
    for shape in ((8, 4, 4, 3), (32, 5)):
        c = shape[-1]
        layer = _keras_bn(keras, shape, dtype, [np.ones(c), np.zeros(c), np.zeros(c), np.ones(c)])  # Keras' defaults
        mm, mv = np.zeros(c, dtype), np.ones(c, dtype)
        for _ in range(5):
            x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
            layer(tf.constant(x), training=True)
            out = batch_norm(x, moving_mean=mm, moving_variance=mv, training=True)
            mm, mv = out.moving_mean, out.moving_variance
            keras_mm, keras_mv = layer.get_weights()[-2:]
            _close(mm, keras_mm, dtype)
            _close(mv, keras_mv, dtype)


# --------------------------------------------------------------------------- bad input
def test_errors_name_the_argument():
    x = np.ones((2, 3, 3, 4))
    c4 = np.ones(4)
    moving = dict(moving_mean=c4, moving_variance=c4)
    cases = [
        (dict(gamma=np.ones(3)), ValueError, r"gamma must have shape \(C,\) = \(4,\).*gamma.shape=\(3,\)"),
        (dict(beta=np.ones((4, 1))), ValueError, r"beta must be 1-D"),
        (dict(moving_mean=np.ones(5), moving_variance=c4), ValueError, r"moving_mean must have shape"),
        (dict(moving_mean=c4, moving_variance=np.ones(2)), ValueError, r"moving_variance must have shape"),
        (dict(moving_variance=c4), ValueError, r"moving_mean is required when training=False"),
        (dict(moving_mean=c4), ValueError, r"moving_variance is required when training=False"),
        (dict(epsilon=0.0, **moving), ValueError, r"epsilon must be a finite float > 0, got 0.0"),
        (dict(epsilon=-1e-3, **moving), ValueError, r"epsilon"),
        (dict(epsilon="small", **moving), TypeError, r"epsilon"),
        (dict(momentum=1.5, **moving), ValueError, r"momentum must be a float in \[0, 1\], got 1.5"),
        (dict(momentum=float("nan"), **moving), ValueError, r"momentum"),
        (dict(training="yes"), TypeError, r"training must be True or False, got 'yes'"),
        (dict(training=1), TypeError, r"training must be True or False"),
        (dict(backend="torch", **moving), ValueError, r"backend must be one of"),
        (dict(gamma=np.array(["a"] * 4)), TypeError, r"gamma must be a real numeric array"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            batch_norm(x, **kwargs)
    with pytest.raises(ValueError, match=r"x must be at least 2-D.*got shape \(4,\)"):
        batch_norm(np.ones(4), training=True)
    with pytest.raises(ValueError, match=r"x must not be empty"):
        batch_norm(np.ones((0, 4)), training=True)


def test_backward_errors_name_the_argument():
    x = np.ones((2, 3, 3, 4))
    with pytest.raises(ValueError, match=r"dy must have the shape of x \(2, 3, 3, 4\), got dy.shape=\(2, 3, 3, 3\)"):
        batch_norm_backward(np.ones((2, 3, 3, 3)), x)
    with pytest.raises(ValueError, match=r"gamma must have shape \(C,\) = \(4,\)"):
        batch_norm_backward(x, x, np.ones(2))
    with pytest.raises(ValueError, match=r"moving_variance is required when training=False"):
        batch_norm_backward(x, x, training=False, moving_mean=np.ones(4))
    with pytest.raises(ValueError, match=r"moving_mean is required when training=False"):
        batch_norm_backward(x, x, training=False, moving_variance=np.ones(4))
    with pytest.raises(TypeError, match=r"training must be True or False"):
        batch_norm_backward(x, x, training=None)
    with pytest.raises(ValueError, match=r"epsilon must be a finite float > 0"):
        batch_norm_backward(x, x, epsilon=0)
