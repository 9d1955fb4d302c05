"""``Conv2D``: the 2-D convolution layer (Keras ``Conv2D``), on :func:`convlab.conv2d` and its backward."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.randomness import glorot_uniform
from convlab.model.layers.validation import (
    check_activation,
    check_bool,
    check_padding,
    padding_config,
    window_output_shape,
)
from convlab.ops import activations
from convlab.ops.conv import conv2d, conv2d_backward
from convlab.shapes import pair
from convlab.shapes.sizes import IntOrPair, Padding
from convlab.util.checks import positive_int

__all__ = ["Conv2D"]


class Conv2D(Layer):
    """2-D convolution layer (Keras ``Conv2D``): ``activation(conv2d(x, kernel) + bias)``.

    Args:
        filters: number of filters ``F`` (output channels).
        kernel_size: int or ``(KH, KW)``.
        strides: int or ``(SH, SW)``.
        padding: ``"valid"`` or ``"same"`` (Keras), or what :func:`convlab.conv2d`
            also accepts (an int, pairs; Keras has no such option).
        activation: ``None``/``"linear"``, ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``.
        use_bias: add a bias per filter.
        input_shape: ``(H, W, C)`` without the batch axis, for the first layer.
        name, dtype, trainable: as :class:`Layer`.
        **keras_arguments: Keras' other arguments, only at the values convlab computes:
            ``data_format`` None/"channels_last", ``dilation_rate`` 1, ``groups`` 1,
            ``kernel_initializer`` "glorot_uniform"/None, ``bias_initializer`` "zeros",
            regularisers and constraints None (:mod:`.keras_arguments`).

    Shapes: input ``(N, H, W, C_in)`` → output ``(N, OH, OW, F)``;
    ``kernel (KH, KW, C_in, F)`` (Glorot uniform, ``fan_in = KH·KW·C_in``,
    ``fan_out = KH·KW·F``), ``bias (F,)`` (zeros); parameters ``F·KH·KW·C_in + F``.

    Raises:
        TypeError / ValueError naming the argument for bad arguments (TypeError for
        an unknown one or a ``use_bias``/``trainable`` that is not a bool,
        UnsupportedArgumentError for a Keras value convlab lacks); ValueError at build
        time for a non-4-D input, a kernel larger than the padded input, or an output
        or kernel larger than any array can be.
    """

    keras_class = "Conv2D"

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrPair,
        strides: IntOrPair = 1,
        padding: Padding = "valid",
        activation: str | None = None,
        use_bias: bool = True,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.filters = positive_int(filters, "filters")
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.strides = pair(strides, "strides")
        self.padding = check_padding(padding)
        self.activation = check_activation(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        oh, ow, c = window_output_shape(
            shape,
            self.kernel_size,
            self.strides,
            self.padding,
            layer=self.name,
            layer_type=type(self).__name__,
            what="kernel",
        )
        kh, kw = self.kernel_size
        self.params = OrderedDict(
            kernel=glorot_uniform(
                (kh, kw, c, self.filters), kh * kw * c, kh * kw * self.filters, self.dtype, name=self._for_input(shape)
            )
        )
        if self.use_bias:
            self.params["bias"] = np.zeros(self.filters, self.dtype)
        self.grads = OrderedDict()
        return (oh, ow, self.filters)

    def param_formula(self) -> str:
        kh, kw = self.kernel_size
        c = self.input_shape[-1] if self.built else "C"
        return f"{self.filters}·{kh}·{kw}·{c}" + (f" + {self.filters}" if self.use_bias else "")

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``(N, H, W, C_in)`` → ``(N, OH, OW, F)``; caches ``(x, z, y)``."""
        x = self._input(x)
        z = conv2d(
            x,
            self.params["kernel"],
            self.params.get("bias"),
            strides=self.strides,
            padding=self.padding,
            backend=self.backend,
        )
        y = activations.get(self.activation)(z) if self.activation != "linear" else z
        self._cache = (x, z, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """``dy (N, OH, OW, F)`` → ``dx (N, H, W, C_in)`` (``None`` with ``need_dx=False``); fills ``grads``."""
        dy = self._cached(dy, need_dx)
        return self.backward_from_preactivation(self._activation_backward(dy), need_dx=need_dx)

    def backward_from_preactivation(self, dz: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """As :meth:`backward` from ``dz = ∂L/∂z``: :func:`convlab.conv2d_backward` (which skips dx when not needed)."""
        dz = self._cached(dz, need_dx, "dz")
        x = self._cache[0]
        dx, dk, db = conv2d_backward(
            dz,
            x,
            self.params["kernel"],
            strides=self.strides,
            padding=self.padding,
            backend=self.backend,
            need_dx=need_dx,
        )
        self.grads = OrderedDict(kernel=dk)
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=padding_config(self.padding),
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer="glorot_uniform",
            bias_initializer="zeros",
        )
        return cfg
