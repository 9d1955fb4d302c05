"""Bad input: a clear ValueError/TypeError that names the argument — never a broadcast error."""
import numpy as np
import pytest

import convlab
import convlab.ops.activations

X = np.ones((1, 5, 5, 3))
K = np.ones((3, 3, 3, 2))


@pytest.mark.parametrize("kwargs,err,words", [
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
])
def test_conv2d_errors(kwargs, err, words):
    x = kwargs.pop("x")
    kernel = kwargs.pop("kernel")
    with pytest.raises(err) as info:
        convlab.conv2d(x, kernel, **kwargs)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize("kwargs,err,words", [
    (dict(pool_size=0), ValueError, ["pool_size"]),
    (dict(pool_size=(2, 0)), ValueError, ["pool_size"]),
    (dict(strides=0), ValueError, ["strides"]),
    (dict(pool_size=6), ValueError, ["pool_size", "larger"]),
    (dict(padding="circular"), ValueError, ["padding"]),
    (dict(pool_size=2, padding=2), ValueError, ["padding", "smaller than pool_size"]),
    (dict(backend="gpu"), ValueError, ["backend"]),
])
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
