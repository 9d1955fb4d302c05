"""Gradient checks on every operation, and checks that the checker catches broken backward passes."""

from __future__ import annotations

import numpy as np
import pytest

import convlab as cl
from convlab import losses as L
from convlab.ops import activations as act
from convlab.ops.gradcheck import GradcheckError, gradcheck, numeric_gradient, rel_error

BACKENDS = ["reference", "numpy", "numba"]
RNG = np.random.default_rng(99)


def _distinct(shape, rng=RNG):
    """Values spaced 0.1 apart: no max-pool tie and no ReLU kink within h = 1e-5."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) - n // 2) * 0.1 + 0.033


# --------------------------------------------------------------------------- the checker itself
def test_rel_error_formula():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(2 / 4)
    assert rel_error([0.0], [0.0]) == 0.0  # 0/0 avoided by the floor
    assert rel_error([0.0], [1e-12]) == pytest.approx(1e-12 / 1e-8)
    # an element 1e7 times smaller than the largest: plain CS231n (scale=0) calls 1e-8 of noise an error
    assert rel_error([1.0, 1e-7], [1.0, 1.1e-7], scale=0) == pytest.approx(1e-8 / 2.1e-7)
    assert rel_error([1.0, 1e-7], [1.0, 1.1e-7]) == pytest.approx(1e-8 / 2e-3)
    assert rel_error([1.0, 1e-2], [1.0, 0.0]) > 0.5  # a wrong small element is still caught
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))


def test_numeric_gradient_of_known_functions_and_input_untouched():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    keep = x.copy()
    g = numeric_gradient(lambda v: np.sum(v**3), x)
    np.testing.assert_allclose(g, 3 * keep**2, rtol=1e-8)
    np.testing.assert_array_equal(x, keep)
    dy = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(numeric_gradient(np.sin, x, dy), dy * np.cos(x), rtol=1e-8)
    with pytest.raises(ValueError, match="h must be a finite float > 0"):
        numeric_gradient(np.sin, x, h=0)
    with pytest.raises(ValueError, match="dy must have the shape"):
        numeric_gradient(np.sin, x, np.ones(3))


def test_gradcheck_catches_broken_backward_passes():
    x = RNG.standard_normal((1, 5, 5, 2))
    k = RNG.standard_normal((3, 3, 2, 2))
    fwd = lambda x, kernel: cl.conv2d(x, kernel, strides=2, backend="numpy")  # noqa: E731

    def flipped_kernel_grad(dy, x, kernel):
        dx, dk, _ = cl.conv2d_backward(dy, x, kernel, strides=2, backend="numpy")
        return dx, dk[::-1, ::-1]

    def stride_forgotten(dy, x, kernel):  # the classic trap: backward computed as if stride were 1
        y1 = cl.conv2d(x, kernel, backend="numpy")
        dy1 = np.zeros_like(y1)
        dy1[:, : dy.shape[1], : dy.shape[2]] = dy
        return cl.conv2d_backward(dy1, x, kernel, backend="numpy")[:2]

    good = gradcheck(
        fwd,
        lambda dy, x, kernel: cl.conv2d_backward(dy, x, kernel, strides=2, backend="numpy")[:2],
        {"x": x, "kernel": k},
    )
    assert max(good.values()) < 1e-7
    for broken in (flipped_kernel_grad, stride_forgotten):
        with pytest.raises(GradcheckError, match="relative errors"):
            gradcheck(fwd, broken, {"x": x, "kernel": k})
        errors = gradcheck(fwd, broken, {"x": x, "kernel": k}, tol=None)
        assert max(errors.values()) > 1e-2

    xp = _distinct((1, 4, 4, 2))

    def accumulating():  # a backward that keeps adding into a buffer across calls
        buf = np.zeros_like(xp)

        def bwd(dy, x):
            buf[...] += cl.max_pool2d_backward(dy, x, backend="numpy")
            return buf

        return bwd

    bwd = accumulating()
    gradcheck(lambda x: cl.max_pool2d(x), bwd, {"x": xp})  # first call is right
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: cl.max_pool2d(x), bwd, {"x": xp})  # the second call is doubled


def test_gradcheck_argument_errors():
    fwd = lambda x: x * 2  # noqa: E731
    with pytest.raises(ValueError, match="wrt"):
        gradcheck(fwd, lambda dy, x: 2 * dy, {"x": np.ones(3)}, wrt=["y"])
    with pytest.raises(ValueError, match="shape"):
        gradcheck(fwd, lambda dy, x: np.ones(2), {"x": np.ones(3)})
    with pytest.raises(ValueError, match="gradients"):
        gradcheck(fwd, lambda dy, x: (dy, dy), {"x": np.ones(3)})
    assert gradcheck(fwd, lambda dy, x: {"x": 2 * dy}, {"x": np.ones(3)})["x"] < 1e-9


# --------------------------------------------------------------------------- every op
CONV = [
    ((2, 5, 6, 2), (3, 3, 2, 3), 2, "same"),
    ((1, 7, 6, 1), (2, 3, 1, 2), (3, 2), ((1, 0), (2, 1))),
    ((1, 4, 5, 3), (1, 1, 3, 1), 1, "valid"),
    ((1, 6, 6, 2), (3, 3, 2, 1), 2, "valid"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("xs,ks,s,p", CONV)
def test_gradcheck_conv2d(xs, ks, s, p, backend):
    x, k, b = RNG.standard_normal(xs), RNG.standard_normal(ks), RNG.standard_normal(ks[3])
    errors = gradcheck(
        lambda x, kernel, bias: cl.conv2d(x, kernel, bias, strides=s, padding=p, backend=backend),
        lambda dy, x, kernel, bias: cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend=backend),
        {"x": x, "kernel": k, "bias": b},
    )
    assert set(errors) == {"x", "kernel", "bias"} and max(errors.values()) < 1e-7


POOL = [((1, 4, 4, 2), 2, None, "valid"), ((1, 5, 5, 1), 3, 2, "same"), ((2, 5, 4, 1), (2, 3), 1, "same")]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("xs,pool,s,p", POOL)
def test_gradcheck_pooling(xs, pool, s, p, backend):
    x = _distinct(xs)
    for fwd, bwd in ((cl.max_pool2d, cl.max_pool2d_backward), (cl.avg_pool2d, cl.avg_pool2d_backward)):
        errors = gradcheck(
            lambda x, fwd=fwd: fwd(x, pool, s, p, backend=backend),
            lambda dy, x, bwd=bwd: bwd(dy, x, pool, s, p, backend=backend),
            {"x": x},
        )
        assert errors["x"] < 1e-7, (fwd.__name__, errors)


@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_gradcheck_activations(name):
    x = _distinct((3, 5)) * 3
    fwd, bwd = act.get(name), act.get_backward(name)
    assert gradcheck(lambda x: fwd(x), lambda dy, x: bwd(dy, x, fwd(x)), {"x": x})["x"] < 1e-7


def test_gradcheck_dense():
    x, k, b = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2)), RNG.standard_normal(2)
    errors = gradcheck(
        lambda x, kernel, bias: cl.dense(x, kernel, bias),
        lambda dy, x, kernel, bias: cl.dense_backward(dy, x, kernel),
        {"x": x, "kernel": k, "bias": b},
    )
    assert max(errors.values()) < 1e-7


@pytest.mark.parametrize(
    "name,from_logits",
    [
        ("categorical_crossentropy", False),
        ("categorical_crossentropy", True),
        ("sparse_categorical_crossentropy", False),
        ("sparse_categorical_crossentropy", True),
        ("binary_crossentropy", False),
        ("binary_crossentropy", True),
        ("mse", False),
    ],
)
def test_gradcheck_losses(name, from_logits):
    labels = np.array([0, 2, 1, 2])
    y_true = (
        labels
        if name.startswith("sparse")
        else (np.eye(3)[labels] if name.startswith("categorical") else RNG.random((4, 3)))
    )
    y_pred = RNG.standard_normal((4, 3)) if from_logits else RNG.uniform(0.05, 0.95, (4, 3))
    fwd, bwd = L.get(name), L.get_backward(name)
    errors = gradcheck(
        lambda p: fwd(y_true, p, from_logits=from_logits) if name != "mse" else fwd(y_true, p),
        lambda dy, p: dy * bwd(y_true, p, from_logits=from_logits),
        {"p": y_pred},
    )
    assert errors["p"] < 1e-7


def test_gradcheck_fused_losses():
    z = RNG.standard_normal((5, 4)) * 2
    labels = np.array([0, 3, 1, 1, 2])
    assert (
        gradcheck(
            lambda z: L.softmax_crossentropy(labels, z)[0],
            lambda dy, z: dy * L.softmax_crossentropy(labels, z)[1],
            {"z": z},
        )["z"]
        < 1e-7
    )
    t = RNG.random((5, 4))
    assert (
        gradcheck(
            lambda z: L.sigmoid_binary_crossentropy(t, z)[0],
            lambda dy, z: dy * L.sigmoid_binary_crossentropy(t, z)[1],
            {"z": z},
        )["z"]
        < 1e-7
    )


@pytest.mark.parametrize("seed", [0, 5])
def test_gradcheck_small_network_end_to_end(seed):
    """conv → relu → max pool → dense → softmax cross-entropy: the chain rule through every op."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 6, 6, 1))
    labels = np.array([1, 0])

    def forward(x, kernel, dense_kernel):
        h1 = cl.conv2d(x, kernel, strides=1, padding="same", backend="numpy")
        h2 = act.relu(h1)
        h3 = cl.max_pool2d(h2, 2, backend="numpy")
        return h1, h2, h3, L.softmax_crossentropy(labels, h3.reshape(2, -1) @ dense_kernel)

    def loss(x, kernel, dense_kernel):
        return forward(x, kernel, dense_kernel)[-1][0]

    def backward(dy, x, kernel, dense_kernel):
        h1, h2, h3, (_, dz) = forward(x, kernel, dense_kernel)
        dflat, ddense, _ = cl.dense_backward(dy * dz, h3.reshape(2, -1), dense_kernel)
        dh2 = cl.max_pool2d_backward(dflat.reshape(h3.shape), h2, 2, backend="numpy")
        dh1 = cl.relu_backward(dh2, h1, h2)
        dx, dk, _ = cl.conv2d_backward(dh1, x, kernel, padding="same", backend="numpy")
        return dx, dk, ddense

    errors = gradcheck(
        loss,
        backward,
        {"x": x, "kernel": rng.standard_normal((3, 3, 1, 2)), "dense_kernel": rng.standard_normal((18, 3))},
    )
    assert max(errors.values()) < 1e-6
