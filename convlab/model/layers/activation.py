"""Activations as layers: ``Activation(name)``, ``ReLU()``, ``Softmax()`` (Keras' names)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.validation import check_activation

__all__ = ["Activation", "ReLU", "Softmax"]


class Activation(Layer):
    """Apply an activation by name (Keras ``Activation``): ``relu``, ``sigmoid``, ``tanh``, ``softmax``, ``linear``.

    Shapes: any ``(N, …)`` → the same. Softmax is taken over the last axis.
    """

    keras_class = "Activation"

    def __init__(
        self,
        activation: str | None,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.activation = check_activation(activation)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """The activation of ``x``, element-wise (softmax: over the last axis)."""
        self._start_pass(training)
        x = self._input(x)
        y = self._activate(x)
        self._cache = (x, x, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy`` through the activation's derivative (shape of the input)."""
        dy = self._cached(dy, need_dx)
        return self._activation_backward(dy)

    def backward_from_preactivation(self, dz: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dz`` itself (checked as ``dy`` is: the output's shape, real numbers): the layer is only its activation."""
        return self._cached(dz, need_dx, "dz")

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        if type(self) is Activation:  # ReLU() and Softmax() take no activation argument
            cfg["activation"] = self.activation
        return cfg


class ReLU(Activation):
    """``max(x, 0)`` as a layer (Keras ``ReLU`` with ``max_value=None``, ``negative_slope=0``, ``threshold=0`` only)."""

    keras_class = "ReLU"
    _prefix = "re_lu"

    def __init__(
        self,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        super().__init__(
            "relu", input_shape=input_shape, name=name, dtype=dtype, trainable=trainable, **keras_arguments
        )


class Softmax(Activation):
    """Softmax over the last axis as a layer (Keras ``Softmax`` with ``axis=-1`` only)."""

    keras_class = "Softmax"

    def __init__(
        self,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        super().__init__(
            "softmax", input_shape=input_shape, name=name, dtype=dtype, trainable=trainable, **keras_arguments
        )
