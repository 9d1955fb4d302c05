"""Metrics ``compile`` accepts: means over examples, accumulated over an epoch (as Keras reports them)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import as_float_array, check_real_dtype

__all__ = ["Metric"]


class Metric:
    """A mean over examples: ``accuracy`` (resolved as Keras does), ``*_accuracy``, ``mse``/``mae``, or a function.

    Args:
        identifier: a name of :attr:`KNOWN`, or a function ``f(y_true, y_pred)``
            returning per-example values ``(N,)`` (or ``(N, …)``, averaged per
            example) or one mean for the batch; reported under its ``__name__``.

    Attributes:
        name (str): the name reported in logs; fn: the user's function or None.

    Raises:
        ValueError: an unknown name.
    """

    KNOWN = (
        "accuracy",
        "acc",
        "binary_accuracy",
        "categorical_accuracy",
        "sparse_categorical_accuracy",
        "mse",
        "mean_squared_error",
        "mae",
        "mean_absolute_error",
    )

    def __init__(self, identifier: str | Callable) -> None:
        if callable(identifier) and not isinstance(identifier, str):
            self.fn, self.name, self.kind = identifier, getattr(identifier, "__name__", "metric"), "callable"
        elif not isinstance(identifier, str) or identifier.lower() not in self.KNOWN:
            raise ValueError(
                f"metrics must be names from {list(self.KNOWN)} or functions f(y_true, y_pred), got {identifier!r}"
            )
        else:
            self.fn, self.name, self.kind = None, identifier, identifier.lower()
        self.reset()

    def reset(self) -> None:
        """Forget what :meth:`update` accumulated (at the start of each epoch)."""
        self.total, self.count = 0.0, 0

    def _resolve(self, y_true: np.ndarray, y_pred: np.ndarray) -> str:
        """Keras' rule (``compile_utils.is_binary_or_sparse_categorical``) for ``"accuracy"``."""
        if self.kind not in ("accuracy", "acc"):
            return self.kind
        if y_pred.shape[-1] == 1:
            return "binary_accuracy"
        if y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
            return "sparse_categorical_accuracy"
        return "categorical_accuracy"

    def values(self, y_true: ArrayLike, y_pred: np.ndarray) -> np.ndarray:
        """Per-example values, float64 ``(N,)`` for ``y_pred (N, …)``.

        Raises:
            TypeError / ValueError: ``y_true`` is not a rectangular real array; a user's function
            returned something other than real numbers, one per example (``(N, …)``) or one for
            the batch (naming the metric and what it returned).
        """
        n = y_pred.shape[0]
        if self.fn is not None:  # a user's function: per-example values, or one mean for the batch
            what = f"metric {self.name!r}: the value returned by {self.name}(y_true, y_pred)"
            v = as_float_array(self.fn(y_true, y_pred), what, dtype=np.float64)
            if v.ndim and v.shape[0] == n:
                return v.reshape(n, -1).mean(axis=1)
            if v.size == 1:
                return np.broadcast_to(v.reshape(()), (n,))
            raise ValueError(
                f"{what} must be one value per example ({n}, …) or one value for the batch, got shape {v.shape}"
            )
        y_true = check_real_dtype(y_true, "y_true")
        kind = self._resolve(y_true, y_pred)
        if kind == "sparse_categorical_accuracy":
            return (np.argmax(y_pred, axis=-1) == y_true.reshape(n)).astype(np.float64)
        if kind == "categorical_accuracy":
            return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)
        yt = y_true.astype(np.float64).reshape(y_pred.shape)
        if kind == "binary_accuracy":
            return ((y_pred > 0.5) == (yt > 0.5)).reshape(n, -1).mean(axis=1)
        diff = y_pred.astype(np.float64) - yt
        err = np.square(diff) if kind in ("mse", "mean_squared_error") else np.abs(diff)
        return err.reshape(n, -1).mean(axis=1)

    def update(self, y_true: ArrayLike, y_pred: np.ndarray) -> float:
        """Accumulate a batch; returns the batch's mean."""
        v = self.values(y_true, y_pred)
        self.total += float(v.sum())
        self.count += v.size
        return float(v.mean())

    def result(self) -> float:
        """The mean over every example since :meth:`reset` (0.0 before any)."""
        return self.total / self.count if self.count else 0.0
