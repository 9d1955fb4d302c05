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
        ValueError: an unknown name; TypeError: neither a name nor a convlab loss function.
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
        elif callable(identifier) and getattr(identifier, "__name__", None) in LOSS_NAMES.values():
            self.name = identifier.__name__
            self.identifier = self.name
        else:
            raise TypeError(
                f"loss must be a name such as 'sparse_categorical_crossentropy' or a convlab.losses "
                f"function, got {identifier!r}"
            )

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
