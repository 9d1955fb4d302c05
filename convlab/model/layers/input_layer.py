"""``Input(shape)``: declares a model's input shape (as ``keras.Input``); not listed in ``model.layers`` (Keras 3)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer
from convlab.model.layers.validation import as_shape, check_bool
from convlab.util.checks import as_float_array

__all__ = ["InputLayer", "Input"]


class InputLayer(Layer):
    """The model's input: holds the shape only (built at once for ``(None, *shape)``).

    Args:
        shape: one example's shape, without the batch axis, e.g. ``(28, 28, 1)``.
        name, dtype: as :class:`Layer`.

    Raises:
        TypeError / ValueError: ``shape`` is not a tuple of positive ints.
    """

    def __init__(
        self, shape: int | tuple[int, ...], *, name: str | None = None, dtype: DTypeLike | None = None
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        self.shape = as_shape(shape, "shape")
        if None in self.shape or not self.shape:
            raise ValueError(
                f"shape must be one example's shape, at least one size and no None (it excludes the batch axis), "
                f"got {shape!r}"
            )
        self.build((None,) + self.shape)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``x`` cast to the layer's dtype, shape ``(N, *shape)`` checked."""
        return self._input(x)

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy`` unchanged (the identity's gradient), in the layer's dtype; shape ``(N, *shape)``.

        Raises:
            TypeError / ValueError: ``dy`` is not a real array of that shape (as every layer's ``dy``).
        """
        check_bool(need_dx, "need_dx")
        dy = as_float_array(dy, f"{self.name}: dy", dtype=self.dtype, allow_empty=True)
        if dy.ndim != len(self.shape) + 1 or dy.shape[1:] != self.shape:
            raise ValueError(f"{self.name}: dy must have shape (N, {', '.join(map(str, self.shape))}), got {dy.shape}")
        return dy

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg["shape"] = list(self.shape)
        return cfg


def Input(shape: int | tuple[int, ...], name: str | None = None, dtype: DTypeLike | None = None) -> InputLayer:
    """Declare the input shape without the batch axis, e.g. ``Input((28, 28, 1))`` (as ``keras.Input``)."""
    return InputLayer(shape, name=name, dtype=dtype)
