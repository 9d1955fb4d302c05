"""Activation functions, element-wise (softmax: over the last axis), as Keras defines them.

All take and return arrays of the same shape and float dtype (integers → float64).

Backward passes ``*_backward(dy, x, y)`` take the upstream gradient ``dy = ∂L/∂y``,
the forward input ``x`` and (optionally) the forward output ``y`` (recomputed
from ``x`` when ``None``) and return ``∂L/∂x`` of the same shape:

- relu: ``dy · [x > 0]`` (the kink at 0 gets gradient 0, as TensorFlow's ``ReluGrad``);
- sigmoid: ``dy · y · (1 − y)``;  tanh: ``dy · (1 − y²)``;  linear: ``dy``;
- softmax (over the last axis): the Jacobian ``∂y_i/∂x_j = y_i (δ_ij − y_j)``
  times ``dy`` without building the matrix: ``y · (dy − Σ_j dy_j y_j)``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import as_float_array, check_out, is_int

__all__ = [
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "linear",
    "get",
    "relu_backward",
    "sigmoid_backward",
    "tanh_backward",
    "softmax_backward",
    "linear_backward",
    "get_backward",
]


Activation = Callable[[ArrayLike], np.ndarray]
ActivationBackward = Callable[..., np.ndarray]


def _arr(x: ArrayLike) -> np.ndarray:
    """``x`` as a float32/float64 array (integers → float64); empty arrays are allowed here."""
    return as_float_array(x, "x", allow_empty=True)


#: From this many elements on, ReLU runs in the compiled, multi-core loops of
#: :mod:`convlab.kernels.elementwise` (same bits); below, NumPy is as fast.
_COMPILED_FROM = 1 << 16


def _compiled(*arrays) -> bool:
    return arrays[0].size >= _COMPILED_FROM and all(
        a.dtype in (np.float32, np.float64) and a.dtype == arrays[0].dtype and a.flags.c_contiguous for a in arrays
    )


def relu(x: ArrayLike, out: np.ndarray | None = None) -> np.ndarray:
    """``max(x, 0)`` element-wise (Keras ``relu``). NaN stays NaN.

    The definition is ``np.maximum(x, 0)``; large float arrays go through a
    compiled multi-core loop that gives the same bits (``np.maximum`` uses one
    core, and a training step spends a large share of its time in this ReLU;
    see :mod:`convlab.kernels.elementwise`).

    Args:
        x: any shape, float32/float64 (integers → float64).
        out: optional array of ``x``'s shape and dtype to write the result into
            (C-contiguous; it may be ``x`` itself); returned.

    Raises:
        TypeError / ValueError: a non-numeric ``x``; an ``out`` that does not fit (named).
    """
    x = _arr(x)
    out = check_out(out, x.shape, x.dtype)
    if _compiled(x):
        from convlab.kernels import elementwise

        if out is None:
            out = np.empty_like(x)
        elementwise.relu(x, out)
        return out
    return np.maximum(x, np.zeros((), x.dtype), out=out)


def sigmoid(x: ArrayLike) -> np.ndarray:
    """``1 / (1 + e^(−x))``, computed without overflow for large ``|x|`` (Keras ``sigmoid``).

    For ``x ≥ 0`` it evaluates ``1 / (1 + e^(−x))``, for ``x < 0`` the equal
    ``e^x / (1 + e^x)``: ``e`` is only ever raised to a non-positive power, so
    nothing overflows (``sigmoid(-1000)`` is 0, with no overflow warning). The one
    stable sigmoid of convlab: the losses use it too.
    """
    x = _arr(x)
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


def tanh(x: ArrayLike) -> np.ndarray:
    """Hyperbolic tangent element-wise (Keras ``tanh``)."""
    return np.tanh(_arr(x))


def linear(x: ArrayLike) -> np.ndarray:
    """The identity (Keras ``activation=None`` / ``"linear"``), as a float array."""
    return _arr(x)


def softmax(x: ArrayLike, axis: int = -1) -> np.ndarray:
    """``e^(x_i − max x) / Σ_j e^(x_j − max x)`` over ``axis`` (default: last, as Keras).

    Subtracting the maximum first makes it numerically stable: ``softmax([1000, 1000])``
    is ``[0.5, 0.5]``, not NaN. The result sums to 1 along ``axis``.

    Raises:
        TypeError: non-numeric ``x``; ``axis`` not an int (a bool is refused).
        ValueError: ``axis`` outside ``[−x.ndim, x.ndim)`` (a 0-d ``x`` has no axis).
    """
    x = _arr(x)
    if not is_int(axis):
        raise TypeError(f"axis must be an int, got {axis!r} ({type(axis).__name__})")
    if x.ndim == 0:
        raise ValueError("x must be at least 1-D: softmax normalises along an axis, and a 0-d x has none")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis must be in [-{x.ndim}, {x.ndim}) for x of shape {x.shape}, got {axis}")
    if x.shape[axis] == 0:  # no classes to normalise over: an empty result, as every activation on empty input
        return np.empty_like(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


_BY_NAME = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softmax": softmax, "linear": linear}


def get(name: str | Activation | None) -> Activation:
    """Look up an activation by its Keras name (``None`` → ``"linear"``; a callable is returned as is).

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


# --------------------------------------------------------------------------- backward
def _grads(dy, x, y, forward):
    """Validate ``dy``/``x``/``y`` (same shape, ``x``'s dtype); compute ``y`` if missing."""
    x = _arr(x)
    dy = as_float_array(dy, "dy", dtype=x.dtype, allow_empty=True)
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got dy.shape={dy.shape}")
    if y is None:
        y = forward(x)
    else:
        y = as_float_array(y, "y", dtype=x.dtype, allow_empty=True)
        if y.shape != x.shape:
            raise ValueError(f"y must have the shape of x {x.shape}, got y.shape={y.shape}")
    return dy, x, y


_INT_OF = {np.dtype(np.float32): np.dtype(np.int32), np.dtype(np.float64): np.dtype(np.int64)}


def _keep_where(mask, values):
    """``np.where(mask, values, 0)`` bit for bit (masked-off entries are +0.0, even where ``values``
    is NaN or inf), without a branch per element: ``np.where`` mispredicts a branch on a random
    mask (ReLU's), which makes it several times slower than this bit mask.

    A float's bits AND all ones (``True`` → ``-1``) is the float; AND 0 is +0.0.
    """
    ibits = _INT_OF.get(values.dtype)
    if ibits is None or values.ndim == 0:  # 0-d: the ufuncs below would return scalars, not arrays
        return np.where(mask, values, np.zeros((), values.dtype))
    keep = np.negative(mask.view(np.int8), dtype=ibits)  # True → -1 (all bits set), False → 0
    return np.bitwise_and(values.view(ibits), keep, out=keep).view(values.dtype)


def relu_backward(dy: ArrayLike, x: ArrayLike, y: ArrayLike | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """``∂L/∂x = dy · [x > 0]`` (0 at ``x = 0``, as TensorFlow). Shapes: all equal; dtype of ``x``.

    Where ``x ≤ 0`` (or NaN) the result is exactly +0.0, whatever ``dy`` is there.
    ``y`` is only checked (shape, type): the mask comes from ``x``. ``out``: optional
    array of ``x``'s shape and dtype to write the result into (it may be ``dy``); returned.

    Raises ValueError (shape mismatch, an ``out`` that does not fit) / TypeError (non-numeric), naming the argument.
    """
    x = _arr(x)
    dy, x, _ = _grads(dy, x, x if y is None else y, relu)  # C-contiguous, x's dtype and shape (0-d stays 0-d)
    out = check_out(out, x.shape, x.dtype, inputs=(x,))
    if _compiled(x, dy):
        from convlab.kernels import elementwise

        if out is None:
            out = np.empty_like(x)
        elementwise.relu_backward(dy, x, out)
        return out
    result = _keep_where(x > 0, dy)
    if out is None:
        return result
    np.copyto(out, result)
    return out


def sigmoid_backward(dy: ArrayLike, x: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
    """``∂L/∂x = dy · y · (1 − y)`` with ``y = sigmoid(x)``. Same shapes and errors as :func:`relu_backward`."""
    dy, x, y = _grads(dy, x, y, sigmoid)
    return dy * y * (1 - y)


def tanh_backward(dy: ArrayLike, x: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
    """``∂L/∂x = dy · (1 − y²)`` with ``y = tanh(x)``. Same shapes and errors as :func:`relu_backward`."""
    dy, x, y = _grads(dy, x, y, tanh)
    return dy * (1 - y * y)


def linear_backward(dy: ArrayLike, x: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
    """``∂L/∂x = dy`` (a copy, in ``x``'s dtype). Same shapes and errors as :func:`relu_backward`."""
    dy, _, _ = _grads(dy, x, x if y is None else y, linear)
    return dy.copy()


def softmax_backward(dy: ArrayLike, x: ArrayLike, y: ArrayLike | None = None) -> np.ndarray:
    """Jacobian-vector product of :func:`softmax` over the last axis.

    With ``y = softmax(x)``, ``∂y_i/∂x_j = y_i (δ_ij − y_j)``, so
    ``∂L/∂x_j = Σ_i dy_i y_i (δ_ij − y_j) = y_j · (dy_j − Σ_i dy_i y_i)``.
    Shapes ``(..., K)``; same errors as :func:`relu_backward`.
    """
    dy, x, y = _grads(dy, x, y, softmax)
    return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))


_BACKWARD_BY_NAME = {
    "relu": relu_backward,
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "softmax": softmax_backward,
    "linear": linear_backward,
}
_BACKWARD_OF = {
    relu: relu_backward,
    sigmoid: sigmoid_backward,
    tanh: tanh_backward,
    softmax: softmax_backward,
    linear: linear_backward,
}


def get_backward(name: str | Activation | None) -> ActivationBackward:
    """The backward function of an activation, by Keras name or forward function (``None`` → linear).

    Raises:
        ValueError: an unknown name, or a callable that is not one of this module's activations.
    """
    if name is None:
        return linear_backward
    if callable(name):
        if name in _BACKWARD_OF:
            return _BACKWARD_OF[name]
        if name in _BACKWARD_OF.values():
            return name
        raise ValueError(f"activation {name!r} has no known backward; use one of {sorted(_BACKWARD_BY_NAME)}")
    if not isinstance(name, str) or name.lower() not in _BACKWARD_BY_NAME:
        raise ValueError(f"activation must be one of {sorted(_BACKWARD_BY_NAME)} or None, got {name!r}")
    return _BACKWARD_BY_NAME[name.lower()]
