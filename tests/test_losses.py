"""Losses: values and gradients equal Keras 3's (``keras.losses.*`` + ``tf.GradientTape``)."""

from __future__ import annotations

import numpy as np
import pytest

import convlab as cl
from convlab import losses as L

RNG = np.random.default_rng(2024)
N, K = 6, 4


def _probs(saturate=False):
    p = RNG.dirichlet(np.ones(K), size=N)
    if saturate:  # probabilities beyond the clip range [1e-7, 1 − 1e-7]
        p[0] = [1e-12, 1 - 2e-12, 1e-12, 0.0]
        p[1] = [0.5, 0.5 - 1e-9, 1e-9, 0.0]
    return p


def _onehot():
    labels = RNG.integers(0, K, N)
    labels[0], labels[1] = 0, 3  # true classes whose probability is clipped
    return labels, np.eye(K)[labels]


# --------------------------------------------------------------------------- hand values
def test_known_values():
    # Keras' docstring example: categorical_crossentropy per sample [0.10536, 0.11653, 0.06188].
    t = np.eye(3)
    p = np.array([[0.9, 0.05, 0.05], [0.05, 0.89, 0.06], [0.05, 0.01, 0.94]])
    assert L.categorical_crossentropy(t, p) == pytest.approx(np.mean([0.10536, 0.11653, 0.06188]), abs=1e-5)
    assert L.sparse_categorical_crossentropy([0, 1, 2], p) == pytest.approx(L.categorical_crossentropy(t, p))
    assert L.mean_squared_error([[0.0, 1.0]], [[1.0, 1.0]]) == 0.5
    assert L.binary_crossentropy([1.0, 0.0], [0.5, 0.5]) == pytest.approx(np.log(2))
    loss, dz = L.softmax_crossentropy([0, 3], np.zeros((2, 4)))
    assert loss == pytest.approx(np.log(4))
    np.testing.assert_allclose(dz, (np.full((2, 4), 0.25) - np.eye(4)[[0, 3]]) / 2)


def test_fused_forms_are_stable_and_equal_the_from_logits_forms():
    z = np.array([[1000.0, 0.0, -1000.0], [-5.0, 3.0, 2.0]])
    labels = np.array([2, 1])
    loss, dz = L.softmax_crossentropy(labels, z)
    assert np.isfinite(loss) and np.all(np.isfinite(dz))
    assert loss == pytest.approx((2000.0 + (np.log(np.exp(-8) + 1 + np.exp(-1)))) / 2)
    assert loss == pytest.approx(L.sparse_categorical_crossentropy(labels, z, from_logits=True))
    np.testing.assert_allclose(dz, L.sparse_categorical_crossentropy_backward(labels, z, from_logits=True))
    loss2, dz2 = L.softmax_crossentropy(np.eye(3)[labels], z, sparse=False)
    assert loss2 == pytest.approx(loss) and np.allclose(dz2, dz)
    np.testing.assert_allclose(dz.sum(axis=1), 0, atol=1e-15)  # softmax − onehot sums to 0

    zb = np.array([[800.0], [-800.0], [0.3]])
    tb = np.array([[0.0], [1.0], [1.0]])
    lb, dzb = L.sigmoid_binary_crossentropy(tb, zb)
    assert lb == pytest.approx((800 + 800 + np.log1p(np.exp(-0.3))) / 3)
    np.testing.assert_allclose(dzb, (np.array([[1.0], [0.0], [1 / (1 + np.exp(-0.3))]]) - tb) / 3)
    assert lb == pytest.approx(L.binary_crossentropy(tb, zb, from_logits=True))
    lb1, _ = L.sigmoid_binary_crossentropy(tb[:, 0], zb)  # (N,) targets against (N, 1), as Keras
    assert lb1 == lb


def test_get_and_backward_attribute():
    for name, fn in [
        ("categorical_crossentropy", L.categorical_crossentropy),
        ("sparse_categorical_crossentropy", L.sparse_categorical_crossentropy),
        ("binary_crossentropy", L.binary_crossentropy),
        ("mse", L.mean_squared_error),
        ("MEAN_SQUARED_ERROR", L.mean_squared_error),
    ]:
        assert L.get(name) is fn
        assert L.get(fn) is fn
        assert L.get_backward(name) is fn.backward
    with pytest.raises(ValueError, match="loss must be one of"):
        L.get("hinge")


def test_bad_input_errors():
    with pytest.raises(ValueError, match="y_true must have the shape of y_pred"):
        L.categorical_crossentropy(np.zeros((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\]"):
        L.sparse_categorical_crossentropy([0, 4], np.ones((2, 4)) / 4)
    with pytest.raises(ValueError, match=r"y_true must have shape \(2,\)"):
        L.sparse_categorical_crossentropy([0, 1, 2], np.ones((2, 4)) / 4)
    with pytest.raises(TypeError, match="integer class indices"):
        L.softmax_crossentropy([0.5, 1.0], np.zeros((2, 3)))
    with pytest.raises(TypeError, match="y_pred"):
        L.mean_squared_error([1.0], np.array(["x"]))
    with pytest.raises(ValueError, match="y_pred must not be empty"):
        L.binary_crossentropy([], [])


# --------------------------------------------------------------------------- against Keras
def _keras():
    pytest.importorskip("tensorflow")
    import keras

    return keras


def _keras_value_and_grad(fn, y_true, y_pred, **kw):
    import tensorflow as tf

    yp = tf.constant(y_pred)
    with tf.GradientTape() as tape:
        tape.watch(yp)
        loss = tf.reduce_mean(fn(tf.constant(y_true), yp, **kw))  # "sum_over_batch_size"
    return float(loss), tape.gradient(loss, yp).numpy()


CASES = [
    ("categorical_crossentropy", "onehot", "probs", {}),
    ("categorical_crossentropy", "onehot", "unnormalised", {}),
    ("categorical_crossentropy", "onehot", "logits", {"from_logits": True}),
    ("sparse_categorical_crossentropy", "labels", "probs", {}),
    ("sparse_categorical_crossentropy", "labels", "logits", {"from_logits": True}),
    ("binary_crossentropy", "binary", "probs", {}),
    ("binary_crossentropy", "binary", "logits", {"from_logits": True}),
    ("mean_squared_error", "onehot", "logits", {}),
]


@pytest.mark.tf
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("saturate", [False, True])
@pytest.mark.parametrize("name,target,pred,kw", CASES)
def test_loss_and_gradient_match_keras(name, target, pred, kw, saturate, dtype):
    keras = _keras()
    labels, onehot = _onehot()
    y_true = {"onehot": onehot, "labels": labels, "binary": (RNG.random((N, K)) < 0.5).astype(float)}[target]
    y_pred = {
        "probs": _probs(saturate),
        "unnormalised": _probs(saturate) * 1.7,
        "logits": RNG.standard_normal((N, K)) * (40 if saturate else 3),
    }[pred]
    if target != "labels":
        y_true = y_true.astype(dtype)
    y_pred = y_pred.astype(dtype)
    want_loss, want_grad = _keras_value_and_grad(getattr(keras.losses, name), y_true, y_pred, **kw)
    got_loss = L.get(name)(y_true, y_pred, **kw)
    got_grad = L.get_backward(name)(y_true, y_pred, **kw)
    assert got_grad.shape == y_pred.shape and got_grad.dtype == dtype
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=1e-6)
    np.testing.assert_allclose(got_loss, want_loss, **tol)
    np.testing.assert_allclose(got_grad, want_grad, **tol)


@pytest.mark.tf
@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_keras_uses_the_logits_kept_on_a_softmax_or_sigmoid_output(kind):
    """Keras 3 on TF computes cross-entropy from ``output._keras_logits`` when a softmax/sigmoid made
    the output — the fused convlab form matches it, the clipped probability form does not."""
    keras = _keras()
    import tensorflow as tf

    z = np.array([[30.0, -30.0, 0.0], [2.0, 1.0, -1.0]])
    if kind == "softmax":
        labels = np.array([1, 0])
        y_true = np.eye(3)[labels]
        zt = tf.constant(z)
        with tf.GradientTape() as tape:
            tape.watch(zt)
            probs = keras.activations.softmax(zt)
            assert hasattr(probs, "_keras_logits")
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(tf.constant(y_true), probs))
        fused, dz = L.softmax_crossentropy(labels, z)
        clipped = L.categorical_crossentropy(y_true, cl.softmax(z))
    else:
        y_true = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])
        zt = tf.constant(z)
        with tf.GradientTape() as tape:
            tape.watch(zt)
            probs = keras.activations.sigmoid(zt)
            loss = tf.reduce_mean(keras.losses.binary_crossentropy(tf.constant(y_true), probs))
        fused, dz = L.sigmoid_binary_crossentropy(y_true, z)
        clipped = L.binary_crossentropy(y_true, cl.sigmoid(z))
    np.testing.assert_allclose(fused, float(loss), rtol=1e-12)
    np.testing.assert_allclose(dz, tape.gradient(loss, zt).numpy(), rtol=1e-10, atol=1e-14)
    assert abs(clipped - float(loss)) > 1.0  # the ε-clipped value caps −log p at −log 1e-7 ≈ 16.1


@pytest.mark.tf
def test_keras_model_with_softmax_output_trains_on_the_fused_loss():
    """At model level too: ``Sequential([..., Dense(3, "softmax")])`` + ``evaluate`` gives the fused value."""
    keras = _keras()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5)).astype("float32")
    labels = rng.integers(0, 3, 8)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    w, b = model.get_weights()
    w = (rng.standard_normal(w.shape) * 15).astype("float32")  # saturated probabilities
    model.set_weights([w, b])
    model.compile(loss="sparse_categorical_crossentropy")
    got = model.evaluate(x, labels, verbose=0, batch_size=8)
    z = x.astype(np.float64) @ w + b
    fused, _ = L.softmax_crossentropy(labels, z)
    clipped = L.sparse_categorical_crossentropy(labels, cl.softmax(z))
    assert got == pytest.approx(fused, rel=1e-5)
    assert abs(got - clipped) > 1.0


def test_binary_targets_outside_0_1_are_refused():
    """Swapped arguments (logits first) would otherwise give a plausible-looking number."""
    logits = np.array([[2.5], [-1.0], [0.3]])
    t = np.array([[1.0], [0.0], [1.0]])
    with pytest.raises(ValueError, match=r"y_true must hold targets in \[0, 1\]"):
        L.sigmoid_binary_crossentropy(logits, t)
    with pytest.raises(ValueError, match="y_true"):
        L.binary_crossentropy(np.array([2.0, 0.0]), np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="y_true"):
        L.binary_crossentropy_backward(np.array([-0.5, 0.0]), np.array([0.5, 0.5]))
    L.sigmoid_binary_crossentropy(t, logits)  # the right order still works
