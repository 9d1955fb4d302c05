"""``Conv2D``: the 2-D convolution layer (Keras ``Conv2D``), on :func:`convlab.conv2d` and its backward."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from convlab.model.layers.base import Shape
from convlab.model.layers.conv_base import ConvLayer
from convlab.model.layers.validation import check_strides_dilation
from convlab.model.layers.weight_init import Initializer
from convlab.ops.conv import conv2d, conv2d_backward
from convlab.shapes.sizes import IntOrPair, Padding
from convlab.util.checks import positive_int

__all__ = ["Conv2D"]


class Conv2D(ConvLayer):
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
        dilation_rate: int or ``(DH, DW)`` (keyword): the kernel's taps are ``D`` pixels apart
            (atrous convolution; Dumoulin & Visin 2016 §5.1). Keras refuses ``strides > 1``
            together with ``dilation_rate > 1``, and so does convlab (same message).
        groups: int (keyword): the input channels are split into ``groups`` independent
            convolutions, each with ``F / groups`` filters (ResNeXt); ``C_in`` and ``F``
            must be multiples of it (Keras' rule and messages).
        kernel_initializer, bias_initializer (keyword): a Keras initialiser name (default
            ``"glorot_uniform"`` / ``"zeros"``; ``None`` means Glorot uniform, as in Keras)
            or a function ``f(shape, dtype)`` (:mod:`convlab.model.layers.initializers`).
        **keras_arguments: Keras' other arguments, only at the values convlab computes:
            ``data_format`` None/"channels_last", regularisers, constraints, ``lora_rank``
            and ``lora_alpha`` None (:mod:`.keras_arguments`).

    Shapes: input ``(N, H, W, C_in)`` → output ``(N, OH, OW, F)``,
    ``OH = floor((H + P − D·(KH − 1) − 1) / S) + 1``; ``kernel (KH, KW, C_in / groups, F)``
    (Glorot uniform by default: ``fan_in = KH·KW·C_in/groups``, ``fan_out = KH·KW·F``),
    ``bias (F,)`` (zeros); parameters ``F·KH·KW·C_in/groups + F``.

    Raises:
        TypeError / ValueError naming the argument for bad arguments (TypeError for
        an unknown one or a ``use_bias``/``trainable`` that is not a bool,
        UnsupportedArgumentError for a Keras value convlab lacks); ValueError at build
        time for a non-4-D input, input channels not a multiple of ``groups``, a dilated
        kernel larger than the padded input, or an output or kernel larger than any array can be.
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
        *,
        dilation_rate: IntOrPair = 1,
        groups: int = 1,
        kernel_initializer: Initializer | None = "glorot_uniform",
        bias_initializer: Initializer | None = "zeros",
        **keras_arguments: Any,
    ) -> None:
        self.filters = positive_int(filters, "filters")
        self.groups = positive_int(groups, "groups")
        if self.filters % self.groups:
            raise ValueError(
                "The number of filters must be evenly divisible by the number of groups. "
                f"Received: groups={self.groups}, filters={self.filters}."
            )
        self._window_arguments(
            kernel_size,
            strides,
            padding,
            dilation_rate,
            activation,
            use_bias,
            {"kernel_initializer": kernel_initializer, "bias_initializer": bias_initializer},
        )
        check_strides_dilation(self.strides, self.dilation_rate)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        oh, ow, c = self._window_output_shape(shape)
        if c % self.groups:
            raise ValueError(
                f"{self.name}: The number of input channels must be evenly divisible by the number of groups. "
                f"Received groups={self.groups}, but the input has {c} channels "
                f"(full input shape is {(None, *shape)})."
            )
        kh, kw = self.kernel_size
        self._new_weights(self._for_input(shape), kernel=(kh, kw, c // self.groups, self.filters), bias=(self.filters,))
        return (oh, ow, self.filters)

    def param_formula(self) -> str:
        kh, kw = self.kernel_size
        if self.built:
            c = self.input_shape[-1] // self.groups
        else:
            c = "C" if self.groups == 1 else f"C/{self.groups}"
        return f"{self.filters}·{kh}·{kw}·{c}" + (f" + {self.filters}" if self.use_bias else "")

    def _geometry(self) -> dict[str, Any]:
        return dict(super()._geometry(), groups=self.groups)

    def _op(self, x: np.ndarray) -> np.ndarray:
        out = self._buffer("z", (x.shape[0],) + tuple(self.output_shape[1:]))
        return conv2d(
            x, self.params["kernel"], self.params.get("bias"), backend=self.backend, out=out, **self._geometry()
        )

    def _op_backward(self, dz: np.ndarray, x: np.ndarray, need_dx: bool) -> tuple[np.ndarray | None, ...]:
        return conv2d_backward(dz, x, self.params["kernel"], backend=self.backend, need_dx=need_dx, **self._geometry())

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(filters=self.filters, groups=self.groups, **self._window_config())
        return cfg
