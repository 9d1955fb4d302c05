"""``Flatten``: each example to a vector, in NHWC order (channels fastest), as Keras."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape

__all__ = ["Flatten"]


class Flatten(Layer):
    """Flatten each example to a vector (Keras ``Flatten``), NHWC order: channels fastest.

    ``(N, H, W, C)`` → ``(N, H·W·C)``; element ``[n, i, j, c]`` goes to position
    ``(i·W + j)·C + c`` — exactly Keras' order, so a Dense kernel copied from Keras lines up.

    Args:
        input_shape, name, dtype, trainable: as :class:`Layer`;
        **keras_arguments: ``data_format`` None/"channels_last" only.
    """

    keras_class = "Flatten"

    def __init__(
        self,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int]:
        # math.prod is exact: np.prod would wrap around int64 for huge shapes and give a wrong size.
        return (math.prod(shape),)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``(N, …)`` → ``(N, product of …)`` (a view when ``x`` is contiguous)."""
        x = self._input(x)
        y = x.reshape(x.shape[0], -1)
        self._cache = (x.shape, None, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy (N, features)`` reshaped to the input's shape."""
        dy = self._cached(dy, need_dx)
        return dy.reshape(self._cache[0])
