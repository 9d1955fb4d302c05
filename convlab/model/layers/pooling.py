"""``MaxPooling2D`` and ``AveragePooling2D`` (Keras' names, and the aliases ``MaxPool2D``, ``AvgPool2D``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.validation import check_padding, padding_config, window_output_shape
from convlab.ops.pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from convlab.shapes import pair
from convlab.shapes.sizes import IntOrPair, Padding

__all__ = ["MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D"]


class _Pooling2D(Layer):
    """A pooling window slid over each channel; the subclasses choose the operation."""

    _forward_op = staticmethod(max_pool2d)
    _backward_op = staticmethod(max_pool2d_backward)

    def __init__(
        self,
        pool_size: IntOrPair = 2,
        strides: IntOrPair | None = None,
        padding: Padding = "valid",
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.pool_size = pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, "strides")
        self.padding = check_padding(padding)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        return window_output_shape(
            shape,
            self.pool_size,
            self.strides,
            self.padding,
            layer=self.name,
            layer_type=type(self).__name__,
            what="pool",
        )

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``(N, H, W, C)`` → ``(N, OH, OW, C)``; caches ``x``."""
        x = self._input(x)
        y = self._forward_op(x, self.pool_size, self.strides, self.padding, backend=self.backend)
        self._cache = (x, x, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy (N, OH, OW, C)`` → ``dx (N, H, W, C)`` (no parameters; ``need_dx`` changes nothing)."""
        dy = self._cached(dy, need_dx)
        return self._backward_op(dy, self._cache[0], self.pool_size, self.strides, self.padding, backend=self.backend)

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=padding_config(self.padding))
        return cfg


class MaxPooling2D(_Pooling2D):
    """Max pooling (Keras ``MaxPooling2D``): the largest value of each ``pool_size`` window, per channel.

    Args:
        pool_size: int or pair (default 2); strides: default ``pool_size`` (Keras);
        padding: ``"valid"``/``"same"`` ("same" pads count as −inf);
        input_shape, name, dtype, trainable: as :class:`Layer`;
        **keras_arguments: ``data_format`` None/"channels_last" only.

    Shapes: ``(N, H, W, C)`` → ``(N, OH, OW, C)``; no parameters. Backward sends
    each window's gradient to one maximum (TensorFlow's rule on ties; see
    :func:`convlab.max_pool2d_backward`).
    """

    keras_class = "MaxPooling2D"
    _prefix = "max_pooling2d"
    _forward_op = staticmethod(max_pool2d)
    _backward_op = staticmethod(max_pool2d_backward)


class AveragePooling2D(_Pooling2D):
    """Average pooling (Keras ``AveragePooling2D``); arguments and shapes as :class:`MaxPooling2D`.

    With ``padding="same"`` the padded positions are not counted (Keras' rule).
    """

    keras_class = "AveragePooling2D"
    _prefix = "average_pooling2d"
    _forward_op = staticmethod(avg_pool2d)
    _backward_op = staticmethod(avg_pool2d_backward)


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
