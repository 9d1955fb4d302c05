"""The loss ``compile`` was given, by name: its value, its gradient, and the fused softmax/sigmoid forms.

As in Keras 3 on TensorFlow, when the last layer's activation is softmax
(sigmoid) and the loss is (sparse) categorical (binary) cross-entropy, the loss
and its gradient are computed from the pre-activation logits
(:func:`convlab.losses.softmax_crossentropy`,
:func:`convlab.losses.sigmoid_binary_crossentropy`): the numbers then match
Keras and stay finite when a probability rounds to 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from convlab.ops import losses

__all__ = ["LOSS_NAMES", "CompiledLoss"]

#: Accepted names (Keras') → the :mod:`convlab.losses` function.
LOSS_NAMES = {
    "mse": "mean_squared_error",
    "mean_squared_error": "mean_squared_error",
    "binary_crossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
}


class CompiledLoss:
    """A loss by name: ``forward(y_true, y_pred)`` (the batch mean), ``backward`` (∂loss/∂y_pred), and the fused forms.

    Args:
        identifier: a name of :data:`LOSS_NAMES` or the matching :mod:`convlab.losses` function.

    Attributes:
        name (str): the :mod:`convlab.losses` function's name (``"mse"`` → ``"mean_squared_error"``).
        identifier (str): as given (what ``compile`` saves).

    Raises:
        ValueError: an unknown name; TypeError: neither a name nor one of the
        :mod:`convlab.losses` functions themselves (a user's function that merely shares
        the name, ``def mean_squared_error(a, b): …``, is refused: it would never be called).
    """

    def __init__(self, identifier: str | Callable) -> None:
        if isinstance(identifier, str):
            key = identifier.lower()
            if key not in LOSS_NAMES:
                raise ValueError(
                    f"loss must be one of {sorted(LOSS_NAMES)} or a convlab.losses function, got {identifier!r}"
                )
            self.name = LOSS_NAMES[key]
            self.identifier = identifier
        elif (
            callable(identifier)
            and getattr(identifier, "__name__", None) in LOSS_NAMES.values()
            and getattr(losses, identifier.__name__) is identifier
        ):
            self.name = identifier.__name__
            self.identifier = self.name
        else:
            raise TypeError(
                f"loss must be a name such as 'sparse_categorical_crossentropy' or a convlab.losses "
                f"function, got {identifier!r}"
            )

    def check_targets(self, y: np.ndarray, output_shape: tuple[int | None, ...], name: str) -> np.ndarray:
        """Check the targets of a whole data set against the model's output, before any training step.

        The rules are the loss functions' own (:mod:`convlab.ops.losses`), applied to
        every example at once and worded for the argument the user gave (``y``,
        ``validation_data[1]``): a bad label in the last batch is refused before the
        first step changes any weight, never after.

        - sparse categorical cross-entropy: class indices of shape ``(N, …)`` (a trailing
          axis of 1 allowed, as Keras); integral values in ``[0, K)``, ``K`` the output's
          last axis; a float label must be a whole number (``2.0``), NaN is no class;
        - the others: ``y_pred``'s shape ``(N, …)``, or that shape with a trailing axis of 1
          added or removed (Keras' ``squeeze_or_expand_to_same_rank``); binary
          cross-entropy targets in ``[0, 1]``.

        Args:
            y: the targets, a real array with one entry per example (already checked).
            output_shape: the model's output shape, ``(None, …)``.
            name: the argument, for messages.

        Returns:
            ``y`` unchanged.

        Raises:
            TypeError: a non-integral class index; ValueError: a wrong shape or an index out of range.
        """
        out = tuple(output_shape[1:])
        n = y.shape[0]
        if self.name == "sparse_categorical_crossentropy":
            k = out[-1]
            shape = y.shape[1:-1] if y.ndim == len(out) + 1 and y.shape[-1] == 1 else y.shape[1:]
            if shape != out[:-1]:
                raise ValueError(
                    f"{name} must hold one class index per example, shape {(n, *out[:-1])} for outputs "
                    f"{(n, *out)} (for one-hot targets use categorical_crossentropy), got shape {y.shape}"
                )
            losses.check_class_indices(y, k, name, f" (the model has {k} outputs)")
            return y
        if y.shape[1:] != out and not _same_but_trailing_one(y.shape[1:], out):
            raise ValueError(
                f"{name} must have the outputs' shape {(n, *out)} for loss {self.identifier!r}, got shape {y.shape}"
            )
        if self.name == "binary_crossentropy" and y.size and (np.any(y < 0) or np.any(y > 1)):
            raise ValueError(
                f"{name} must hold targets in [0, 1] for binary_crossentropy (probabilities of the positive "
                f"class), got values from {np.nanmin(y)} to {np.nanmax(y)}"
            )
        return y

    def match(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """``y_true`` reshaped to ``y_pred``'s shape when they differ by a trailing axis of 1 (Keras'
        ``squeeze_or_expand_to_same_rank``); any other shape is left for the loss to refuse.
        Sparse labels are left as they are (the loss squeezes them itself)."""
        if self.name != "sparse_categorical_crossentropy" and _same_but_trailing_one(y_true.shape, y_pred.shape):
            return y_true.reshape(y_pred.shape)
        return y_true

    def forward(self, y_true: ArrayLike, y_pred: np.ndarray) -> float:
        """The mean loss over the batch; ``y_pred (N, …)``, ``y_true`` as the loss function takes it."""
        return float(getattr(losses, self.name)(y_true, y_pred))

    def backward(self, y_true: ArrayLike, y_pred: np.ndarray) -> np.ndarray:
        """``∂loss/∂y_pred``, the shape of ``y_pred`` (the mean's ``1/N`` included)."""
        return getattr(losses, self.name + "_backward")(y_true, y_pred)

    def fused_with(self, activation: str) -> str | None:
        """``"softmax"``/``"sigmoid"`` when this loss is computed from that activation's logits, else ``None``."""
        if activation == "softmax" and self.name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            return "softmax"
        if activation == "sigmoid" and self.name == "binary_crossentropy":
            return "sigmoid"
        return None

    def fused(self, y_true: ArrayLike, logits: np.ndarray) -> tuple[float, np.ndarray]:
        """``(loss, ∂loss/∂logits)`` from the logits ``(N, K)`` of the activation this loss is fused with."""
        if self.name == "binary_crossentropy":
            loss, d = losses.sigmoid_binary_crossentropy(y_true, logits)
        else:
            loss, d = losses.softmax_crossentropy(y_true, logits, sparse=self.name.startswith("sparse"))
        return float(loss), d


def _same_but_trailing_one(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """Whether shapes ``a`` and ``b`` differ only by a trailing axis of 1 on one side."""
    return (len(a) == len(b) + 1 and a[-1] == 1 and a[:-1] == b) or (
        len(b) == len(a) + 1 and b[-1] == 1 and b[:-1] == a
    )
