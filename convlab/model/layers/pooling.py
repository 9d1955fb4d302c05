"""``MaxPooling2D`` and ``AveragePooling2D`` (Keras' names, and the aliases ``MaxPool2D``, ``AvgPool2D``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.validation import check_padding, padding_config, window_output_shape
from convlab.ops import activations
from convlab.ops.pooling import (
    avg_pool2d,
    avg_pool2d_backward,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_backward_from_index,
    max_pool2d_with_index,
)
from convlab.shapes import pair
from convlab.shapes.sizes import IntOrPair, Padding
from convlab.util.checks import as_float_array

__all__ = ["MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D"]


class _Pooling2D(Layer):
    """A pooling window slid over each channel; the subclasses choose the operation.

    Training reuses memory: ``forward(x, training=True)`` writes its output into an array the
    layer keeps, and ``backward`` after it its ``dx``, the same arrays step after step while the
    input's shape and dtype stay the same (new ones when they change). So the array a training
    forward returned is overwritten by the next training step (Keras' layers promise nothing
    else either); copy it to keep it. ``training=False`` (predict, evaluate) returns new arrays,
    and so does ``backward`` after such a forward.
    """

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
        self._index: np.ndarray | None = None  # MaxPooling2D: each maximum's window position, from forward

    def _pool(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(y, index)``: the subclass's operation (``index``: what its backward needs besides ``dy``)."""
        out = self._buffer("y", self._batch_output_shape(x), avoid=(x,))
        return self._forward_op(x, self.pool_size, self.strides, self.padding, backend=self.backend, out=out), None

    def _pool_backward(self, dy: np.ndarray) -> np.ndarray:
        x = self._cache[0]
        out = self._buffer("dx", x.shape, avoid=(dy, x))
        return self._backward_op(dy, x, self.pool_size, self.strides, self.padding, backend=self.backend, out=out)

    def _batch_output_shape(self, x: np.ndarray) -> tuple[int, ...]:
        return (x.shape[0],) + tuple(self.output_shape[1:])

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
        """``(N, H, W, C)`` → ``(N, OH, OW, C)``; caches ``x``. With ``training=True`` the output is an
        array the layer keeps and overwrites at the next training step (see the class notes)."""
        self._start_pass(training)
        x = self._input(x)
        y, self._index = self._pool(x)
        self._cache = (x, x, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy (N, OH, OW, C)`` → ``dx (N, H, W, C)`` (no parameters; ``need_dx`` changes nothing).
        After a training forward, ``dx`` is an array the layer keeps (see the class notes)."""
        dy = self._cached(dy, need_dx)
        return self._pool_backward(dy)

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
    :func:`convlab.max_pool2d_backward`); on the numba backend with non-overlapping windows
    the forward pass records each maximum's position, and backward reads that, not ``x``.

    Training reuses memory: the array ``forward(x, training=True)`` returns (and ``backward``'s
    ``dx`` after it) is overwritten by the next training step of the same input shape — copy it
    to keep it. ``training=False`` returns new arrays.
    """

    keras_class = "MaxPooling2D"
    _prefix = "max_pooling2d"
    _forward_op = staticmethod(max_pool2d)
    _backward_op = staticmethod(max_pool2d_backward)

    def forward_relu(self, z: ArrayLike, training: bool = False) -> np.ndarray:
        """``max_pool(relu(z))`` computed as ``relu(max_pool(z))``: the ReLU on the pooled map.

        The two are equal, bit for bit: ReLU never decreases, so it commutes with the
        maximum of a window (``max(relu(a), relu(b)) = relu(max(a, b))``, NaN included), and
        pooling first leaves a quarter of the values (2×2 windows) for the ReLU. Used by
        ``Sequential`` when this layer follows a layer whose activation is ReLU
        (:meth:`convlab.model.layers.conv_base.ConvLayer.forward_preactivation`); the
        backward pass is :meth:`backward_relu`.
        """
        p = self.forward(z, training=training)
        y = activations.relu(p, out=self._buffer("relu", p.shape))
        self._relu_cache = (p, y)
        return y

    def backward_relu(self, dy: ArrayLike) -> np.ndarray:
        """``∂L/∂z`` through :meth:`forward_relu`: ReLU's gradient on the pooled map, then the pooling's.

        Equal, bit for bit, to the ReLU's gradient applied after the pooling's: the
        gradient of a window reaches only its maximum ``z_max``, and ReLU's derivative
        there, ``[z_max > 0]``, is the pooled map's ``[p > 0]``. Where the window's
        maximum is 0, negative or NaN, every pixel of it gets +0.0 either way.
        """
        if getattr(self, "_relu_cache", None) is None:
            raise ValueError(f"{self.name}: backward_relu() called before forward_relu()")
        p, y = self._relu_cache
        dy = as_float_array(dy, f"{self.name}: dy", dtype=self.dtype, allow_empty=True)
        if dy.shape != y.shape:
            raise ValueError(f"{self.name}: dy must have the output's shape {y.shape}, got {dy.shape}")
        dp = activations.relu_backward(dy, p, out=self._buffer("drelu", p.shape, avoid=(dy,)))
        return self.backward(dp)

    def _pool(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        # The window position of each maximum (a uint8 per output, where the numba backend has
        # one): the backward pass then reads it and dy, not x again.
        shape = self._batch_output_shape(x)
        out = self._buffer("y", shape, avoid=(x,))
        index_out = self._buffer("index", shape, np.uint8, avoid=(x,))  # max_pool2d_with_index's index dtype
        return max_pool2d_with_index(
            x, self.pool_size, self.strides, self.padding, backend=self.backend, out=out, index_out=index_out
        )

    def _pool_backward(self, dy: np.ndarray) -> np.ndarray:
        if self._index is None:
            return super()._pool_backward(dy)
        out = self._buffer("dx", self._cache[0].shape, avoid=(dy, self._index))
        return max_pool2d_backward_from_index(dy, self._index, self._cache[0].shape, self.pool_size, out=out)


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
