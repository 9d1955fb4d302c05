"""``DepthwiseConv2D`` and ``SeparableConv2D`` (Keras' names), on :mod:`convlab.ops.depthwise`.

A depthwise convolution filters each input channel on its own with ``depth_multiplier``
filters of its own; a separable one follows it with a 1×1 convolution that mixes the
channels (MobileNet's block: Howard et al. 2017; Chollet 2017, "Xception").
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from convlab.model.layers.base import Shape
from convlab.model.layers.conv_base import ConvLayer
from convlab.model.layers.weight_init import Initializer
from convlab.ops.depthwise import (
    depthwise_conv2d,
    depthwise_conv2d_backward,
    separable_conv2d,
    separable_conv2d_backward,
)
from convlab.shapes.sizes import IntOrPair, Padding
from convlab.util.checks import positive_int

__all__ = ["DepthwiseConv2D", "SeparableConv2D"]


class DepthwiseConv2D(ConvLayer):
    """Depthwise convolution layer (Keras ``DepthwiseConv2D``): ``activation(depthwise_conv2d(x, kernel) + bias)``.

    Args:
        kernel_size, strides, padding: as :class:`Conv2D`.
        depth_multiplier: ``M``, filters per input channel (Keras' name; default 1).
        dilation_rate, activation, use_bias (keyword): as :class:`Conv2D`; unlike ``Conv2D``,
            Keras' ``DepthwiseConv2D`` accepts ``strides > 1`` with ``dilation_rate > 1``, and so does convlab.
        depthwise_initializer, bias_initializer (keyword): Keras initialiser names (default
            ``"glorot_uniform"`` / ``"zeros"``) or functions ``f(shape, dtype)``.
        input_shape, name, dtype, trainable: as :class:`Layer`.
        **keras_arguments: ``data_format`` None/"channels_last", regularisers and constraints None.

    Shapes: ``(N, H, W, C)`` → ``(N, OH, OW, C·M)`` (output channel ``c·M + m``: filter ``m``
    of channel ``c``, Keras/TensorFlow's order), ``OH`` as :class:`Conv2D`; ``kernel (KH, KW, C, M)``,
    ``bias (C·M,)``; parameters ``KH·KW·C·M + C·M`` (``DepthwiseConv2D(3)`` on 32 channels: 320).

    Raises:
        TypeError / ValueError naming the argument; ValueError at build time as :class:`Conv2D`.
    """

    keras_class = "DepthwiseConv2D"
    _weight_initializers = {"kernel": "depthwise_initializer", "bias": "bias_initializer"}

    def __init__(
        self,
        kernel_size: IntOrPair,
        strides: IntOrPair = 1,
        padding: Padding = "valid",
        depth_multiplier: int = 1,
        *,
        dilation_rate: IntOrPair = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: Initializer | None = "glorot_uniform",
        bias_initializer: Initializer | None = "zeros",
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier")
        self._window_arguments(
            kernel_size,
            strides,
            padding,
            dilation_rate,
            activation,
            use_bias,
            {"depthwise_initializer": depthwise_initializer, "bias_initializer": bias_initializer},
        )
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        oh, ow, c = self._window_output_shape(shape)
        kh, kw = self.kernel_size
        m = self.depth_multiplier
        self._new_weights(self._for_input(shape), kernel=(kh, kw, c, m), bias=(c * m,))
        return (oh, ow, c * m)

    def param_formula(self) -> str:
        kh, kw = self.kernel_size
        c = self.input_shape[-1] if self.built else "C"
        m = self.depth_multiplier
        cm = f"{c}" if m == 1 else f"{c}·{m}"
        return f"{kh}·{kw}·{cm}" + (f" + {cm}" if self.use_bias else "")

    def _op(self, x: np.ndarray) -> np.ndarray:
        return depthwise_conv2d(
            x, self.params["kernel"], self.params.get("bias"), backend=self.backend, **self._geometry()
        )

    def _op_backward(self, dz: np.ndarray, x: np.ndarray, need_dx: bool) -> tuple[np.ndarray | None, ...]:
        return depthwise_conv2d_backward(
            dz, x, self.params["kernel"], backend=self.backend, need_dx=need_dx, **self._geometry()
        )

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(depth_multiplier=self.depth_multiplier, **self._window_config())
        return cfg


class SeparableConv2D(ConvLayer):
    """Depthwise separable convolution layer (Keras ``SeparableConv2D``): a depthwise convolution, then a 1×1 one.

    ``y = activation(conv2d(depthwise_conv2d(x, depthwise_kernel), pointwise_kernel) + bias)``
    (Keras 3's ``SeparableConv2D.call``; strides, padding and dilation apply to the depthwise step).

    Args:
        filters: output channels ``F``.
        kernel_size, strides, padding: as :class:`Conv2D`.
        depth_multiplier, dilation_rate, activation, use_bias (keyword): as :class:`DepthwiseConv2D`.
        depthwise_initializer, pointwise_initializer, bias_initializer (keyword): Keras initialiser
            names (default ``"glorot_uniform"``, ``"glorot_uniform"``, ``"zeros"``) or functions.
        input_shape, name, dtype, trainable: as :class:`Layer`.
        **keras_arguments: ``data_format`` None/"channels_last", regularisers and constraints None.

    Shapes: ``(N, H, W, C)`` → ``(N, OH, OW, F)``; ``depthwise_kernel (KH, KW, C, M)``,
    ``pointwise_kernel (1, 1, C·M, F)``, ``bias (F,)``; parameters ``KH·KW·C·M + C·M·F + F``
    (``SeparableConv2D(64, 3)`` on 32 channels: 288 + 2,048 + 64 = 2,400, against 18,496 for ``Conv2D``).

    Raises:
        TypeError / ValueError naming the argument; ValueError at build time as :class:`Conv2D`.
    """

    keras_class = "SeparableConv2D"
    _weight_initializers = {
        "depthwise_kernel": "depthwise_initializer",
        "pointwise_kernel": "pointwise_initializer",
        "bias": "bias_initializer",
    }

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrPair,
        strides: IntOrPair = 1,
        padding: Padding = "valid",
        *,
        depth_multiplier: int = 1,
        dilation_rate: IntOrPair = 1,
        activation: str | None = None,
        use_bias: bool = True,
        depthwise_initializer: Initializer | None = "glorot_uniform",
        pointwise_initializer: Initializer | None = "glorot_uniform",
        bias_initializer: Initializer | None = "zeros",
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.filters = positive_int(filters, "filters")
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier")
        self._window_arguments(
            kernel_size,
            strides,
            padding,
            dilation_rate,
            activation,
            use_bias,
            {
                "depthwise_initializer": depthwise_initializer,
                "pointwise_initializer": pointwise_initializer,
                "bias_initializer": bias_initializer,
            },
        )
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        oh, ow, c = self._window_output_shape(shape)
        kh, kw = self.kernel_size
        m = self.depth_multiplier
        self._new_weights(
            self._for_input(shape),
            depthwise_kernel=(kh, kw, c, m),
            pointwise_kernel=(1, 1, c * m, self.filters),
            bias=(self.filters,),
        )
        return (oh, ow, self.filters)

    def param_formula(self) -> str:
        kh, kw = self.kernel_size
        c = self.input_shape[-1] if self.built else "C"
        m = self.depth_multiplier
        cm = f"{c}" if m == 1 else f"{c}·{m}"
        return f"{kh}·{kw}·{cm} + {cm}·{self.filters}" + (f" + {self.filters}" if self.use_bias else "")

    def _op(self, x: np.ndarray) -> np.ndarray:
        return separable_conv2d(
            x,
            self.params["depthwise_kernel"],
            self.params["pointwise_kernel"],
            self.params.get("bias"),
            backend=self.backend,
            **self._geometry(),
        )

    def _op_backward(self, dz: np.ndarray, x: np.ndarray, need_dx: bool) -> tuple[np.ndarray | None, ...]:
        return separable_conv2d_backward(
            dz,
            x,
            self.params["depthwise_kernel"],
            self.params["pointwise_kernel"],
            backend=self.backend,
            need_dx=need_dx,
            **self._geometry(),
        )

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(filters=self.filters, depth_multiplier=self.depth_multiplier, **self._window_config())
        return cfg
