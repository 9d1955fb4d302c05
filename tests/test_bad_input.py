"""Bad input: a clear ValueError/TypeError that names the argument — never a broadcast error."""

import numpy as np
import pytest

import convlab
import convlab.ops.activations
import convlab.ops.losses
from convlab.util.checks import as_float_array, check_real_dtype

X = np.ones((1, 5, 5, 3))
K = np.ones((3, 3, 3, 2))


@pytest.mark.parametrize(
    "kwargs,err,words",
    [
        (dict(x=np.ones((5, 5, 3)), kernel=K), ValueError, ["x", "4-D", "(5, 5, 3)"]),
        (dict(x=X, kernel=np.ones((3, 3, 3))), ValueError, ["kernel", "4-D"]),
        (dict(x=X, kernel=np.ones((3, 3, 2, 2))), ValueError, ["C_in=2", "3 channels"]),
        (dict(x=X, kernel=np.ones((7, 7, 3, 2))), ValueError, ["larger than the padded input"]),
        (dict(x=X, kernel=K, strides=0), ValueError, ["strides", ">= 1"]),
        (dict(x=X, kernel=K, strides=(1, -2)), ValueError, ["strides"]),
        (dict(x=X, kernel=K, strides=1.5), TypeError, ["strides"]),
        (dict(x=X, kernel=K, padding="full"), ValueError, ["padding", "'full'"]),
        (dict(x=X, kernel=K, padding=-1), ValueError, ["padding"]),
        (dict(x=X, kernel=K, padding=((1, 2, 3), (0, 0))), TypeError, ["padding"]),
        (dict(x=X, kernel=K, backend="cuda"), ValueError, ["backend", "'cuda'"]),
        (dict(x=X, kernel=K, bias=np.ones(3)), ValueError, ["bias", "(2,)", "(3,)"]),
        (dict(x=X.astype(complex), kernel=K), TypeError, ["x", "complex"]),
        (dict(x=np.array([["a"]]), kernel=K), TypeError, ["x"]),
        (dict(x=np.ones((0, 5, 5, 3)), kernel=K), ValueError, ["x", "empty"]),
        (dict(x=X, kernel=np.ones((3, 3, 3, 0))), ValueError, ["kernel", "empty"]),
    ],
)
def test_conv2d_errors(kwargs, err, words):
    x = kwargs.pop("x")
    kernel = kwargs.pop("kernel")
    with pytest.raises(err) as info:
        convlab.conv2d(x, kernel, **kwargs)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize(
    "kwargs,err,words",
    [
        (dict(pool_size=0), ValueError, ["pool_size"]),
        (dict(pool_size=(2, 0)), ValueError, ["pool_size"]),
        (dict(strides=0), ValueError, ["strides"]),
        (dict(pool_size=6), ValueError, ["pool_size", "larger"]),
        (dict(padding="circular"), ValueError, ["padding"]),
        (dict(pool_size=2, padding=2), ValueError, ["padding", "smaller than pool_size"]),
        (dict(backend="gpu"), ValueError, ["backend"]),
    ],
)
def test_pooling_errors(kwargs, err, words):
    for op in (convlab.max_pool2d, convlab.avg_pool2d):
        with pytest.raises(err) as info:
            op(X, **kwargs)
        for w in words:
            assert w in str(info.value)


def test_pooling_wrong_ndim():
    with pytest.raises(ValueError, match="x must be 4-D"):
        convlab.max_pool2d(np.ones((5, 5)))


def test_2d_helpers_errors():
    with pytest.raises(ValueError, match="image must be 2-D"):
        convlab.correlate2d(np.ones((5, 5, 1)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="kernel must be 2-D"):
        convlab.convolve2d(np.ones((5, 5)), np.ones((3, 3, 1)))


def test_dense_errors():
    with pytest.raises(ValueError, match="in_features=4"):
        convlab.dense(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="bias"):
        convlab.dense(np.ones((2, 3)), np.ones((3, 5)), np.ones(4))


def test_activation_lookup_error():
    with pytest.raises(ValueError, match="activation must be one of"):
        convlab.ops.activations.get("swishy")


# --------------------------------------------------------------------------- one argument rule
# convlab.ops' rule: arrays positional, geometry as Keras writes it, backend= and every flag keyword-only.
def test_backend_is_keyword_only_where_the_geometry_is():
    x = np.ones((1, 4, 4, 1))
    dy = np.ones((1, 2, 2, 1))
    # Pooling: DESIGN.md's signature max_pool2d(x, pool_size, strides, padding, backend), callable as written.
    for op in (convlab.max_pool2d, convlab.avg_pool2d):
        np.testing.assert_array_equal(op(x, 2, None, "valid", backend="numpy"), op(x, 2))
        np.testing.assert_array_equal(op(x, 2, None, "valid", "reference"), op(x, 2))
    for op in (convlab.max_pool2d_backward, convlab.avg_pool2d_backward):
        np.testing.assert_array_equal(op(dy, x, 2, None, "valid", backend="numpy"), op(dy, x, 2))
        np.testing.assert_array_equal(op(dy, x, 2, None, "valid", "reference"), op(dy, x, 2))
    k = np.ones((3, 3, 1, 1))
    with pytest.raises(TypeError):
        convlab.conv2d(x, k, None, 1)  # strides, padding, backend are keyword-only after bias
    with pytest.raises(TypeError):
        convlab.conv2d_backward(np.ones((1, 2, 2, 1)), x, k, 1)
    with pytest.raises(TypeError):
        convlab.correlate2d(np.ones((4, 4)), np.ones((3, 3)), "valid", 1)


def test_flags_are_keyword_only():
    x, k = np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))
    dy = convlab.conv2d(x, k)
    with pytest.raises(TypeError):
        convlab.conv2d_backward(dy, x, k, 1, "valid", None, False)
    assert convlab.conv2d_backward(dy, x, k, need_dx=False)[0] is None
    L = convlab.ops.losses
    t, p = np.eye(3), np.full((3, 3), 1 / 3)
    for fn in (
        L.categorical_crossentropy,
        L.categorical_crossentropy_backward,
        L.binary_crossentropy,
        L.binary_crossentropy_backward,
        L.mean_squared_error,
        L.mean_squared_error_backward,
    ):
        with pytest.raises(TypeError):
            fn(t, p, True)
    labels = np.array([0, 1, 2])
    for fn in (L.sparse_categorical_crossentropy, L.sparse_categorical_crossentropy_backward):
        with pytest.raises(TypeError):
            fn(labels, p, True)
    with pytest.raises(TypeError):
        convlab.softmax_crossentropy(labels, p, False)


def test_mean_squared_error_refuses_from_logits():
    # every loss of losses.get() takes from_logits; mse has no logits form, so True is refused, not ignored
    assert convlab.mean_squared_error([1.0], [3.0], from_logits=False) == 4.0
    for fn in (convlab.mean_squared_error, convlab.ops.losses.mean_squared_error_backward):
        with pytest.raises(ValueError, match="from_logits"):
            fn([1.0], [3.0], from_logits=True)


def test_one_dtype_check_for_every_operation():
    a = np.arange(3, dtype=np.int8)
    assert check_real_dtype(a, "x") is a  # no copy, no conversion
    for bad in (np.array([1j]), np.array(["a"]), np.array([None], dtype=object)):
        with pytest.raises(TypeError, match="kernel must be a real numeric array"):
            check_real_dtype(bad, "kernel")
        with pytest.raises(TypeError, match="x must be a real numeric array"):
            as_float_array(bad, "x")
        with pytest.raises(TypeError, match="dy must be a real numeric array"):
            convlab.ops.activations.relu_backward(bad, np.ones(1))
    assert as_float_array(np.ones(2, np.float16), "x").dtype == np.float32
    assert as_float_array(np.ones(2, np.longdouble), "x").dtype == np.float64
    assert as_float_array([True, False], "x").dtype == np.float64
