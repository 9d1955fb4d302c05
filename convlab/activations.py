"""Activation functions, element-wise (softmax: over the last axis), as Keras defines them.

All take and return arrays of the same shape and float dtype (integers → float64).
"""
from __future__ import annotations

import numpy as np

from ._checks import as_float_array

__all__ = ["relu", "sigmoid", "tanh", "softmax", "linear", "get"]


def _arr(x):
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"x must be a real numeric array, got dtype {arr.dtype}")
    return as_float_array(arr, "x") if arr.size else arr.astype(np.float64)


def relu(x):
    """``max(x, 0)`` element-wise (Keras ``relu``). NaN stays NaN."""
    x = _arr(x)
    return np.maximum(x, np.zeros((), x.dtype))


def sigmoid(x):
    """``1 / (1 + e^(−x))``, computed without overflow for large ``|x|``."""
    x = _arr(x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def tanh(x):
    """Hyperbolic tangent element-wise (Keras ``tanh``)."""
    return np.tanh(_arr(x))


def linear(x):
    """The identity (Keras ``activation=None`` / ``"linear"``)."""
    return _arr(x)


def softmax(x, axis=-1):
    """``e^(x_i − max x) / Σ_j e^(x_j − max x)`` over ``axis`` (default: last, as Keras).

    Subtracting the maximum first makes it numerically stable: ``softmax([1000, 1000])``
    is ``[0.5, 0.5]``, not NaN. The result sums to 1 along ``axis``.
    """
    x = _arr(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


_BY_NAME = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "linear": linear}


def get(name):
    """Look up an activation by its Keras name (``None`` → ``"linear"``).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if name is None:
        return linear
    if callable(name):
        return name
    if not isinstance(name, str) or name.lower() not in _BY_NAME:
        raise ValueError(f"activation must be one of {sorted(_BY_NAME)} or None, got {name!r}")
    return _BY_NAME[name.lower()]
