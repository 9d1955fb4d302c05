"""Loss functions and their gradients, with Keras' names and numbers.

Every loss returns the **mean** over the batch — Keras' default reduction
``"sum_over_batch_size"``: the per-sample losses are summed and divided by
their count. For ``binary_crossentropy`` and ``mean_squared_error`` Keras first
averages over the last axis, so the result is the mean over every element.
Every ``*_backward`` returns ``∂(mean loss)/∂y_pred`` — the ``1/N`` of the mean
is included — with ``y_pred``'s shape and dtype.

Arguments, as Keras orders them: ``(y_true, y_pred, *, from_logits=False)`` for
every loss and its ``*_backward`` (``from_logits`` keyword-only), and
``(y_true, logits)`` for the fused forms :func:`softmax_crossentropy` and
:func:`sigmoid_binary_crossentropy` (which return the loss and the gradient).

Probabilities are clipped to ``[ε, 1 − ε]`` with ``ε = 1e-7`` (Keras'
``backend.epsilon()``) before the logarithm, exactly as Keras 3's TensorFlow
backend does (``keras/src/backend/tensorflow/nn.py``):

- ``categorical_crossentropy``: ``q = y_pred / Σ y_pred`` (renormalised over the
  last axis), then ``−Σ y_true · log(clip(q))``;
- ``sparse_categorical_crossentropy``: ``z = log(clip(y_pred))`` then the softmax
  cross-entropy of ``z``: ``−log(clip(p)_t / Σ clip(p))``;
- ``binary_crossentropy``: ``−[t·log(clip(p)) + (1 − t)·log(1 − clip(p))]``.

The gradients follow the same clipped formulas (a clipped probability gets
gradient 0, as through ``tf.clip_by_value``).

Keras and the softmax/sigmoid output layer (important for matching numbers)
--------------------------------------------------------------------------
In Keras 3 on TensorFlow, the ``softmax`` and ``sigmoid`` activations store the
logits on the output tensor (``output._keras_logits = x``,
``keras/src/activations/activations.py`` and ``backend/tensorflow/nn.py``), and
the cross-entropies look for them first (``_get_logits`` in
``backend/tensorflow/nn.py``): when present, the loss is computed **from the
logits** (``tf.nn.softmax_cross_entropy_with_logits`` /
``sigmoid_cross_entropy_with_logits``), with no clipping and no ε at all, as if
``from_logits=True``. So a Keras model ending in ``Dense(10, "softmax")`` with
``loss="categorical_crossentropy"`` trains on the exact, stable
``logsumexp(z) − z_t`` and its gradient ``softmax(z) − onehot`` (÷ N). A
convlab model whose last activation is softmax (or sigmoid) should therefore
call the fused :func:`softmax_crossentropy` (:func:`sigmoid_binary_crossentropy`)
on the logits — not the probability-space loss followed by the activation's
backward — to match Keras' numbers when a probability saturates. Calling
``keras.losses.categorical_crossentropy`` on a plain array of probabilities
(no ``_keras_logits``) uses the clipped formulas above, which is what the
probability-space functions here reproduce.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from convlab.ops.activations import sigmoid, softmax
from convlab.util.checks import as_float_array, check_bool, check_real_dtype, shown

__all__ = [
    "check_class_indices",
    "EPSILON",
    "categorical_crossentropy",
    "categorical_crossentropy_backward",
    "sparse_categorical_crossentropy",
    "sparse_categorical_crossentropy_backward",
    "binary_crossentropy",
    "binary_crossentropy_backward",
    "mean_squared_error",
    "mean_squared_error_backward",
    "softmax_crossentropy",
    "sigmoid_binary_crossentropy",
    "get",
    "get_backward",
]

EPSILON = 1e-7  # keras.backend.epsilon()

#: Every loss of the lookup table: ``f(y_true, y_pred, *, from_logits=False) -> float``.
Loss = Callable[..., float]
#: Its gradient: ``f(y_true, y_pred, *, from_logits=False) -> ∂ loss/∂ y_pred``.
LossBackward = Callable[..., np.ndarray]


# --------------------------------------------------------------------------- helpers
def _pred(y_pred, name="y_pred"):
    y = as_float_array(y_pred, name)
    if y.ndim < 1:
        raise ValueError(f"{name} must be at least 1-D, got shape {y.shape}")
    return y


def _same_shape(y_true, y_pred):
    """``y_true`` as ``y_pred``'s dtype and shape; ``(N,)`` against ``(N, 1)`` is expanded, as Keras does."""
    y_pred = _pred(y_pred)
    t = as_float_array(y_true, "y_true", dtype=y_pred.dtype)
    if t.shape != y_pred.shape:
        if t.ndim == y_pred.ndim - 1 and y_pred.shape[-1] == 1 and t.shape == y_pred.shape[:-1]:
            t = t[..., None]
        elif t.ndim == y_pred.ndim + 1 and t.shape[-1] == 1 and t.shape[:-1] == y_pred.shape:
            t = t[..., 0]
        else:
            raise ValueError(f"y_true must have the shape of y_pred {y_pred.shape}, got y_true.shape={t.shape}")
    return t, y_pred


def _binary_targets(y_true, y_pred):
    """:func:`_same_shape` for the binary cross-entropies, whose targets are probabilities.

    Targets outside ``[0, 1]`` are refused: they have no meaning as a probability,
    and they are what swapped arguments (``(logits, y_true)``) look like. NaN
    passes through, as everywhere (IEEE arithmetic propagates it).
    """
    t, p = _same_shape(y_true, y_pred)
    if np.any(t < 0) or np.any(t > 1):
        raise ValueError(
            f"y_true must hold targets in [0, 1] (probabilities of the positive class), "
            f"got values from {float(np.nanmin(t))} to {float(np.nanmax(t))} (are y_true and the predictions swapped?)"
        )
    return t, p


def _clip_bounds(dtype):
    return np.asarray(EPSILON, dtype=dtype), np.asarray(1.0 - EPSILON, dtype=dtype)


def _in_range(q, lo, hi):
    """1 where ``clip`` lets the gradient through (``lo ≤ q ≤ hi``, as ``tf.clip_by_value``), else 0."""
    return ((q >= lo) & (q <= hi)).astype(q.dtype)


def _n_samples(y_pred):
    """Number of per-sample losses for a class axis at the end: the product of the leading axes."""
    return int(np.prod(y_pred.shape[:-1])) if y_pred.ndim > 1 else 1


def _log_softmax(z):
    m = np.max(z, axis=-1, keepdims=True)
    zs = z - m
    return zs - np.log(np.sum(np.exp(zs), axis=-1, keepdims=True))


def check_class_indices(y: np.ndarray, k: int, name: str, context: str = "") -> None:
    """Raise unless every value of ``y`` is a whole number in ``[0, k)``, naming ``name`` and the first bad value.

    The check runs on the values as given, before any cast to int64: a label of
    ``1e20`` or ``2**64 − 1`` is reported as itself, never as what a cast made of it.
    Float labels that hold whole numbers (``[0.0, 2.0]``) are class indices, as in Keras.

    Args:
        y: the labels, any real dtype and shape. k: the number of classes.
        name: the argument's name (``"y_true"``, ``"y"``); context: added after the range
            in the message (e.g. ``" (the model has 3 outputs)"``).

    Raises:
        TypeError: a value that is not a whole number (0.5, NaN, ±inf) is not a class index.
        ValueError: a whole number outside ``[0, k)``.
    """
    if y.dtype.kind == "f":
        bad = np.asarray(~(np.isfinite(y) & (y == np.round(y))))
        if bad.any():
            index = np.unravel_index(int(np.argmax(bad)), y.shape)
            raise TypeError(
                f"{name} must hold integer class indices, got {shown(y[index].item())} at {list(map(int, index))} "
                f"(dtype {y.dtype})"
            )
    if y.size:
        bad = np.asarray((y < 0) | (y >= k))
        if bad.any():
            index = np.unravel_index(int(np.argmax(bad)), y.shape)
            raise ValueError(
                f"{name} must hold class indices in [0, {k - 1}]{context}, got {shown(y[index].item())} "
                f"at {list(map(int, index))}"
            )


def _sparse_labels(y_true, y_pred):
    """Integer class labels of shape ``y_pred.shape[:-1]`` (a trailing axis of 1 is squeezed, as Keras)."""
    t = check_real_dtype(y_true, "y_true")
    if t.ndim == y_pred.ndim and t.ndim > 0 and t.shape[-1] == 1:
        t = t[..., 0]
    if t.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"y_true must have shape {y_pred.shape[:-1]} (y_pred.shape without the class axis), got {t.shape}"
            " (for one-hot targets use categorical_crossentropy, or sparse=False in softmax_crossentropy)"
        )
    check_class_indices(t, y_pred.shape[-1], "y_true")
    return t.astype(np.int64)


def _onehot(labels, k, dtype):
    out = np.zeros(labels.shape + (k,), dtype=dtype)
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


# --------------------------------------------------------------------------- categorical
def categorical_crossentropy(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False) -> float:
    """Mean categorical cross-entropy (Keras ``categorical_crossentropy``).

    Args:
        y_true: ``(N, K)`` one-hot (or soft) targets.
        y_pred: ``(N, K)`` probabilities (renormalised over the last axis, then
            clipped to ``[ε, 1−ε]``), or logits when ``from_logits=True``
            (then ``logsumexp(z) − Σ t·z`` per sample, exactly, no clipping).

    Returns:
        The mean over the ``N`` samples, a Python float.

    Raises:
        ValueError: shapes differ, empty arrays. TypeError: non-numeric input.
    """
    from_logits = check_bool(from_logits, "from_logits")
    t, p = _same_shape(y_true, y_pred)
    if from_logits:
        per = -np.sum(t * _log_softmax(p), axis=-1)
    else:
        lo, hi = _clip_bounds(p.dtype)
        q = np.clip(p / np.sum(p, axis=-1, keepdims=True), lo, hi)
        per = -np.sum(t * np.log(q), axis=-1)
    return float(np.mean(per))


def categorical_crossentropy_backward(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False) -> np.ndarray:
    """``∂ categorical_crossentropy / ∂ y_pred``, shape and dtype of ``y_pred``.

    Probabilities: with ``S = Σ_k p_k``, ``q = p / S`` and ``g_k = −t_k / clip(q_k)``
    (0 where ``q_k`` was clipped), ``∂L/∂p_j = (g_j − Σ_k g_k q_k) / S / N`` — for a
    one-hot ``t`` and ``Σp = 1`` this is ``(1 − t_j / p_j) / N``.
    Logits: ``(Σ_k t_k · softmax(z)_j − t_j) / N`` (``softmax − t`` for one-hot ``t``).
    Errors as :func:`categorical_crossentropy`.
    """
    from_logits = check_bool(from_logits, "from_logits")
    t, p = _same_shape(y_true, y_pred)
    n = _n_samples(p)
    if from_logits:
        return (np.sum(t, axis=-1, keepdims=True) * softmax(p) - t) / n
    lo, hi = _clip_bounds(p.dtype)
    s = np.sum(p, axis=-1, keepdims=True)
    q = p / s
    g = -t / np.clip(q, lo, hi) * _in_range(q, lo, hi)
    return ((g - np.sum(g * q, axis=-1, keepdims=True)) / s / n).astype(p.dtype, copy=False)


# --------------------------------------------------------------------------- sparse categorical
def sparse_categorical_crossentropy(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False) -> float:
    """Mean cross-entropy with integer labels (Keras ``sparse_categorical_crossentropy``).

    Args:
        y_true: ``(N,)`` (or ``(N, 1)``) integer class indices in ``[0, K)``.
        y_pred: ``(N, K)`` probabilities (clipped to ``[ε, 1−ε]``, then Keras takes
            ``log`` and a softmax cross-entropy, i.e. ``−log(clip(p)_t / Σ clip(p))``),
            or logits when ``from_logits=True`` (``logsumexp(z) − z_t``).

    Returns:
        The mean over the ``N`` samples, a Python float.

    Raises:
        ValueError: label shape or range. TypeError: non-integer labels, non-numeric input.
    """
    from_logits = check_bool(from_logits, "from_logits")
    p = _pred(y_pred)
    labels = _sparse_labels(y_true, p)
    z = p if from_logits else np.log(np.clip(p, *_clip_bounds(p.dtype)))
    per = -np.take_along_axis(_log_softmax(z), labels[..., None], axis=-1)[..., 0]
    return float(np.mean(per))


def sparse_categorical_crossentropy_backward(
    y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False
) -> np.ndarray:
    """``∂ sparse_categorical_crossentropy / ∂ y_pred``, shape and dtype of ``y_pred``.

    Logits: ``(softmax(z) − onehot) / N``. Probabilities: with ``c = clip(p)``,
    ``∂L/∂p_j = [1/Σc − onehot_j / c_j] / N`` where ``p_j`` was not clipped, else 0.
    Errors as :func:`sparse_categorical_crossentropy`.
    """
    from_logits = check_bool(from_logits, "from_logits")
    p = _pred(y_pred)
    labels = _sparse_labels(y_true, p)
    n = _n_samples(p)
    onehot = _onehot(labels, p.shape[-1], p.dtype)
    if from_logits:
        return (softmax(p) - onehot) / n
    lo, hi = _clip_bounds(p.dtype)
    c = np.clip(p, lo, hi)
    dz = c / np.sum(c, axis=-1, keepdims=True) - onehot  # softmax(log c) − onehot
    return (dz / c * _in_range(p, lo, hi) / n).astype(p.dtype, copy=False)


# --------------------------------------------------------------------------- binary
def _sigmoid_crossentropy_from_logits(t: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Element-wise ``−[t·log σ(z) + (1 − t)·log(1 − σ(z))]``, stable for any ``z``:
    ``max(z, 0) − z·t + log(1 + e^(−|z|))`` (TensorFlow's ``sigmoid_cross_entropy_with_logits``)."""
    return np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z)))


def binary_crossentropy(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False) -> float:
    """Mean binary cross-entropy over every element (Keras ``binary_crossentropy``).

    Args:
        y_true: targets in ``[0, 1]``, the shape of ``y_pred`` (``(N,)`` against
            ``(N, 1)`` is accepted, as Keras).
        y_pred: probabilities (clipped to ``[ε, 1−ε]``) or logits when ``from_logits=True``
            (then ``max(z, 0) − z·t + log(1 + e^(−|z|))``, TensorFlow's stable form).

    Returns:
        ``mean(−[t·log p + (1 − t)·log(1 − p)])``, a Python float.

    Raises:
        ValueError: shapes differ, empty arrays. TypeError: non-numeric input.
    """
    from_logits = check_bool(from_logits, "from_logits")
    t, p = _binary_targets(y_true, y_pred)
    if from_logits:
        per = _sigmoid_crossentropy_from_logits(t, p)
    else:
        c = np.clip(p, *_clip_bounds(p.dtype))
        per = -(t * np.log(c) + (1 - t) * np.log(1 - c))
    return float(np.mean(per))


def binary_crossentropy_backward(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False) -> np.ndarray:
    """``∂ binary_crossentropy / ∂ y_pred`` (``M`` = number of elements).

    Probabilities: ``(−t/c + (1 − t)/(1 − c)) / M`` with ``c = clip(p)``, 0 where
    clipped. Logits: ``(σ(z) − t) / M``. Shape and dtype of ``y_pred``.
    """
    from_logits = check_bool(from_logits, "from_logits")
    t, p = _binary_targets(y_true, y_pred)
    m = p.size
    if from_logits:
        return (sigmoid(p) - t) / m
    lo, hi = _clip_bounds(p.dtype)
    c = np.clip(p, lo, hi)
    return ((-t / c + (1 - t) / (1 - c)) * _in_range(p, lo, hi) / m).astype(p.dtype, copy=False)


# --------------------------------------------------------------------------- mse
def _no_logits(from_logits: bool) -> None:
    """Mean squared error has no logits form: ``from_logits=True`` would be silently meaningless."""
    if from_logits:
        raise ValueError("mean_squared_error has no logits form: from_logits must be False")


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False) -> float:
    """``mean((y_true − y_pred)²)`` over every element (Keras ``mean_squared_error``, ``"mse"``).

    Shapes equal (``(N,)`` against ``(N, 1)`` accepted); returns a Python float.
    ``from_logits`` exists so that every loss of :func:`get` takes the same
    arguments; it must be ``False``.

    Raises:
        ValueError: shapes differ, empty arrays, ``from_logits=True``. TypeError: non-numeric input.
    """
    from_logits = check_bool(from_logits, "from_logits")
    _no_logits(from_logits)
    t, p = _same_shape(y_true, y_pred)
    return float(np.mean((t - p) ** 2))


def mean_squared_error_backward(y_true: ArrayLike, y_pred: ArrayLike, *, from_logits: bool = False) -> np.ndarray:
    """``2 (y_pred − y_true) / M`` (``M`` = number of elements), shape and dtype of ``y_pred``.

    Errors as :func:`mean_squared_error`.
    """
    from_logits = check_bool(from_logits, "from_logits")
    _no_logits(from_logits)
    t, p = _same_shape(y_true, y_pred)
    return 2 * (p - t) / p.size


# --------------------------------------------------------------------------- fused, stable
def softmax_crossentropy(y_true: ArrayLike, logits: ArrayLike, *, sparse: bool = True) -> tuple[float, np.ndarray]:
    """Softmax followed by cross-entropy, fused: ``(loss, dlogits)`` in one stable pass.

    ``loss = mean_n [logsumexp(z_n) − Σ_k t_nk z_nk]`` and
    ``dlogits = (softmax(z) · Σ_k t_k − t) / N`` — ``(softmax − onehot) / N`` for
    one-hot or integer labels. No clipping: this is what Keras computes when the
    model's last activation is softmax (see the module docstring).

    Args:
        y_true: ``(N,)`` integer labels if ``sparse`` (default), else ``(N, K)`` targets.
        logits: ``(N, K)`` pre-softmax scores.
        sparse: keyword-only; ``False`` for one-hot/probability targets.

    Returns:
        ``(loss: float, dlogits: ndarray (N, K) of logits' dtype)``.

    Raises:
        ValueError / TypeError as :func:`sparse_categorical_crossentropy` /
        :func:`categorical_crossentropy`.
    """
    sparse = check_bool(sparse, "sparse")
    z = _pred(logits, "logits")
    if sparse:
        t = _onehot(_sparse_labels(y_true, z), z.shape[-1], z.dtype)
    else:
        t, z = _same_shape(y_true, z)
    n = _n_samples(z)
    logp = _log_softmax(z)
    loss = float(np.mean(-np.sum(t * logp, axis=-1)))
    dlogits = (np.exp(logp) * np.sum(t, axis=-1, keepdims=True) - t) / n
    return loss, dlogits.astype(z.dtype, copy=False)


def sigmoid_binary_crossentropy(y_true: ArrayLike, logits: ArrayLike) -> tuple[float, np.ndarray]:
    """Sigmoid followed by binary cross-entropy, fused: ``(loss, dlogits)``.

    ``loss = mean(max(z, 0) − z·t + log(1 + e^(−|z|)))`` (TensorFlow's
    ``sigmoid_cross_entropy_with_logits``), ``dlogits = (σ(z) − t) / M`` with
    ``M`` the number of elements. Shapes as :func:`binary_crossentropy`.
    """
    t, z = _binary_targets(y_true, _pred(logits, "logits"))
    loss = float(np.mean(_sigmoid_crossentropy_from_logits(t, z)))
    return loss, ((sigmoid(z) - t) / z.size).astype(z.dtype, copy=False)


# --------------------------------------------------------------------------- lookup
_BY_NAME = {
    "categorical_crossentropy": (categorical_crossentropy, categorical_crossentropy_backward),
    "sparse_categorical_crossentropy": (sparse_categorical_crossentropy, sparse_categorical_crossentropy_backward),
    "binary_crossentropy": (binary_crossentropy, binary_crossentropy_backward),
    "mean_squared_error": (mean_squared_error, mean_squared_error_backward),
    "mse": (mean_squared_error, mean_squared_error_backward),
}
for _fwd, _bwd in _BY_NAME.values():
    _fwd.backward = _bwd  # losses.get("mse").backward(y_true, y_pred)


def _lookup(name):
    if callable(name):
        for fwd, bwd in _BY_NAME.values():
            if name is fwd or name is bwd:
                return fwd, bwd
    if isinstance(name, str) and name.lower() in _BY_NAME:
        return _BY_NAME[name.lower()]
    raise ValueError(f"loss must be one of {sorted(_BY_NAME)}, got {name!r}")


def get(name: str | Loss) -> Loss:
    """The loss function for a Keras name (or one of this module's functions).

    Each returned function has a ``.backward`` attribute with its gradient.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    return _lookup(name)[0]


def get_backward(name: str | Loss) -> LossBackward:
    """The gradient function ``(y_true, y_pred, *, from_logits=False) -> dL/dy_pred`` for a loss name.

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    return _lookup(name)[1]
