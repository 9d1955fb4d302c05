"""Arrays reused between training steps: the operations' ``out=``, and layers that keep their outputs and gradients."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import convlab
from convlab.model.layers.base import Layer
from convlab.ops import activations
from convlab.ops.dense import dense, dense_backward

RNG = np.random.default_rng(7)


def _x(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- the operations' out=
@pytest.mark.parametrize("backend", [None, "numpy", "reference"])
@pytest.mark.parametrize(
    "shape", [(2, 9, 7, 3, 5, 3, 1, "valid"), (3, 12, 11, 16, 20, 3, 1, "same"), (2, 8, 8, 4, 6, 3, 2, 1)]
)
def test_conv2d_writes_into_out_the_numbers_it_returns_without(backend, shape):
    n, h, w, c, f, k, s, padding = shape
    x, kern, bias = _x(n, h, w, c), _x(k, k, c, f), _x(f)
    want = convlab.conv2d(x, kern, bias, strides=s, padding=padding, backend=backend)
    out = np.full(want.shape, np.nan, np.float32)
    got = convlab.conv2d(x, kern, bias, strides=s, padding=padding, backend=backend, out=out)
    assert got is out
    np.testing.assert_array_equal(got, want)


def test_relu_and_its_gradient_write_into_out():
    for size in (10, 1 << 17):  # NumPy's path and the compiled one
        x, dy = _x(size), _x(size)
        out = np.empty_like(x)
        assert activations.relu(x, out=out) is out
        np.testing.assert_array_equal(out, np.maximum(x, 0))
        assert activations.relu_backward(dy, x, out=out) is out
        np.testing.assert_array_equal(out, np.where(x > 0, dy, 0))
        y = x.copy()
        assert activations.relu(y, out=y) is y  # in place is allowed: element by element
        np.testing.assert_array_equal(y, np.maximum(x, 0))


def test_dense_and_its_gradients_write_into_out():
    x, kern, bias, dy = _x(5, 7), _x(7, 3), _x(3), _x(5, 3)
    out = np.empty((5, 3), np.float32)
    assert dense(x, kern, bias, out=out) is out
    np.testing.assert_allclose(out, x @ kern + bias, rtol=1e-6)
    bufs = (np.empty_like(x), np.empty_like(kern), None)
    dx, dk, db = dense_backward(dy, x, kern, out=bufs)
    assert dx is bufs[0] and dk is bufs[1]
    for got, want in zip((dx, dk, db), dense_backward(dy, x, kern)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "bad, error, words",
    [
        (np.empty((2, 7, 5, 4), np.float32), ValueError, r"out must be a float32 array of shape \(2, 7, 5, 5\)"),
        (np.empty((2, 7, 5, 5), np.float64), ValueError, "got float64"),
        (np.empty((2, 7, 5, 10), np.float32)[..., ::2], ValueError, "C-contiguous"),
        ([[0.0]], TypeError, "out must be a numpy array or None, got list"),
    ],
)
def test_an_out_that_does_not_fit_is_refused_by_name(bad, error, words):
    with pytest.raises(error, match=words):
        convlab.conv2d(_x(2, 9, 7, 3), _x(3, 3, 3, 5), out=bad)


def test_out_may_not_overlap_an_input():
    x = _x(4, 8)
    with pytest.raises(ValueError, match="out must not share memory"):
        dense(x, _x(8, 8), out=x[:, :8])
    with pytest.raises(TypeError, match=r"out must be None or a tuple \(dx, dkernel, dbias\)"):
        dense_backward(_x(4, 8), x, _x(8, 8), out=(None, None))
    read_only = np.empty((4, 8), np.float32)
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        dense(x, _x(8, 8), out=read_only)


# --------------------------------------------------------------------------- layers and training
def _model(seed=0):
    convlab.set_seed(seed)
    L = convlab.layers
    model = convlab.Sequential(
        [
            L.Conv2D(8, 3, activation="relu", input_shape=(12, 12, 1)),
            L.MaxPooling2D(2),
            L.Conv2D(16, 3, padding="same", activation="relu"),
            L.Flatten(),
            L.Dense(20, activation="relu"),
            L.ReLU(),
            L.Dense(4, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def test_training_with_reused_arrays_gives_the_same_weights_as_fresh_arrays(monkeypatch):
    x, y = RNG.random((3, 16, 12, 12, 1), dtype=np.float32), RNG.integers(0, 4, (3, 16))
    reused = _model()
    for xb, yb in zip(x, y):
        reused.train_on_batch(xb, yb)
    monkeypatch.setattr(Layer, "_buffer", lambda self, *args, **kwargs: None)  # every array fresh
    fresh = _model()
    for xb, yb in zip(x, y):
        fresh.train_on_batch(xb, yb)
    for a, b in zip(reused.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_layers_keep_their_arrays_between_steps_and_predict_returns_fresh_ones():
    model = _model()
    x, y = RNG.random((16, 12, 12, 1), dtype=np.float32), RNG.integers(0, 4, 16)
    model.train_on_batch(x, y)
    kept = {(layer.name, k): v for layer in model.layers for k, v in layer._buffers.items()}
    assert len(kept) >= 8  # conv z/y/dz, dense z/y/dz/dx/dkernel, ReLU y/dz …
    model.train_on_batch(x, y)
    again = {(layer.name, k): v for layer in model.layers for k, v in layer._buffers.items()}
    assert again.keys() == kept.keys() and all(again[k] is kept[k] for k in kept)
    p1, p2 = model.predict(x), model.predict(x)
    assert not np.shares_memory(p1, p2)
    assert not any(np.shares_memory(p1, b) for b in again.values())
    # a new batch size gets new arrays (the last, smaller batch of an epoch)
    model.train_on_batch(x[:5], y[:5])
    assert model.layers[0]._buffers["z"].shape[0] == 5


def test_a_training_step_allocates_no_feature_map():
    """After the first step, NumPy allocates nothing of a feature map's size in a step (tracemalloc sees NumPy's
    allocations): before the layers kept their arrays, every step allocated and faulted in each map again."""
    L = convlab.layers
    model = convlab.Sequential(
        [
            L.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(100, activation="relu"),
            L.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x, y = RNG.random((64, 28, 28, 1), dtype=np.float32), RNG.integers(0, 10, 64)
    model.train_on_batch(x, y)
    feature_map = 64 * 26 * 26 * 32 * 4  # 5.5 MB
    tracemalloc.start()
    try:
        model.train_on_batch(x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < feature_map / 4, f"a training step allocated {peak / 2**20:.1f} MiB at its peak"


# --------------------------------------------------------------------------- ReLU after max pooling
def test_relu_after_pooling_trains_bit_for_bit_like_the_layers_as_written(monkeypatch):
    """Sequential applies a convolution's ReLU after the max pooling that follows it (they commute); the
    weights after a few steps, ties, zeros, negatives and NaN-free data, equal those of the layers run in order."""
    from convlab.model.sequential import Sequential

    x = RNG.random((3, 16, 12, 12, 1), dtype=np.float32) - 0.5
    x[:, :, :4] = 0.0  # whole windows of equal values, and maxima that are exactly 0 after a zero kernel tap
    y = RNG.integers(0, 4, (3, 16))
    fused = _model()
    assert fused._relu_after_pooling() == {0}  # Conv2D(relu) → MaxPooling2D; the second conv has no pooling after it
    for xb, yb in zip(x, y):
        fused.train_on_batch(xb, yb)
    monkeypatch.setattr(Sequential, "_relu_after_pooling", lambda self: set())
    plain = _model()
    for xb, yb in zip(x, y):
        plain.train_on_batch(xb, yb)
    for a, b in zip(fused.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_max_pooling_commutes_with_relu_forward_and_backward():
    pool = convlab.layers.MaxPooling2D(2)
    z = RNG.standard_normal((2, 6, 6, 3)).astype(np.float32)
    z[0, :2, :2, 0] = [[0.0, -1.0], [-0.0, 0.0]]  # a window whose maximum is 0
    z[1, 2:4, 2:4, 1] = [[np.nan, 5.0], [1.0, np.nan]]  # NaN wins the maximum, gets no gradient through ReLU
    dy = RNG.standard_normal((2, 3, 3, 3)).astype(np.float32)
    want_y = convlab.max_pool2d(activations.relu(z), 2)
    want_dz = activations.relu_backward(convlab.max_pool2d_backward(dy, activations.relu(z), 2), z)
    got_y = pool.forward_relu(z, training=True)
    np.testing.assert_array_equal(got_y, want_y)
    got_dz = pool.backward_relu(dy)
    assert np.array_equal(got_dz.view(np.int32), want_dz.view(np.int32))  # same bits, signs of zeros included
    with pytest.raises(ValueError, match="must have the output's shape"):
        pool.backward_relu(dy[:1])
