"""``GlobalAveragePooling2D`` and ``GlobalMaxPooling2D`` (Keras' names, and the aliases ``GlobalAvgPool2D``,
``GlobalMaxPool2D``), on :mod:`convlab.ops.global_pooling`."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.validation import check_bool
from convlab.ops.global_pooling import (
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_max_pool2d,
    global_max_pool2d_backward,
)

__all__ = ["GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D"]


class _GlobalPooling2D(Layer):
    """One number per channel from the whole image; the subclasses choose the operation."""

    _forward_op = staticmethod(global_avg_pool2d)
    _backward_op = staticmethod(global_avg_pool2d_backward)

    def __init__(
        self,
        *,
        keepdims: bool = False,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.keepdims = check_bool(keepdims, "keepdims")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(shape) != 3:
            raise ValueError(
                f"{self.name}: {type(self).__name__} expects 4-D input (N, H, W, C), got input_shape "
                f"{(None,) + tuple(shape)}"
            )
        c = shape[-1]
        return (1, 1, c) if self.keepdims else (c,)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``(N, H, W, C)`` → ``(N, C)`` (``(N, 1, 1, C)`` with ``keepdims``); caches ``x``."""
        x = self._input(x)
        y = self._forward_op(x, keepdims=self.keepdims, backend=self.backend)
        self._cache = (x, x, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy`` of the output's shape → ``dx (N, H, W, C)`` (no parameters; ``need_dx`` changes nothing)."""
        dy = self._cached(dy, need_dx)
        return self._backward_op(dy, self._cache[0], keepdims=self.keepdims, backend=self.backend)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(keepdims=self.keepdims)
        return cfg


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Global average pooling (Keras ``GlobalAveragePooling2D``): the mean of each channel over ``H × W``.

    Args:
        keepdims (keyword): keep the spatial axes as size 1, ``(N, 1, 1, C)`` (Keras' option).
            Keyword-only: Keras' first positional argument is ``data_format``.
        input_shape, name, dtype, trainable: as :class:`Layer`;
        **keras_arguments: ``data_format`` None/"channels_last" only.

    Shapes: ``(N, H, W, C)`` → ``(N, C)`` or ``(N, 1, 1, C)``; no parameters. Backward spreads
    each ``dy`` evenly, ``dy / (H·W)`` to every pixel of its channel.
    """

    keras_class = "GlobalAveragePooling2D"
    _prefix = "global_average_pooling2d"
    _forward_op = staticmethod(global_avg_pool2d)
    _backward_op = staticmethod(global_avg_pool2d_backward)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Global max pooling (Keras ``GlobalMaxPooling2D``): the largest value of each channel over ``H × W``.

    Arguments and shapes as :class:`GlobalAveragePooling2D`. Backward follows TensorFlow's
    ``reduce_max`` gradient (see :func:`convlab.ops.global_pooling.global_max_pool2d_backward`, ties included).
    """

    keras_class = "GlobalMaxPooling2D"
    _prefix = "global_max_pooling2d"
    _forward_op = staticmethod(global_max_pool2d)
    _backward_op = staticmethod(global_max_pool2d_backward)


GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
