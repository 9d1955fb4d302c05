"""``Conv2DTranspose``: the transposed 2-D convolution layer (Keras ``Conv2DTranspose``), on
:func:`convlab.conv2d_transpose` and its backward."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from convlab.model.layers.base import Shape
from convlab.model.layers.conv_base import ConvLayer
from convlab.model.layers.validation import check_strides_dilation
from convlab.model.layers.weight_init import Initializer
from convlab.ops.conv_transpose import conv2d_transpose, conv2d_transpose_backward
from convlab.shapes.sizes import IntOrPair, Padding
from convlab.shapes.transpose import check_output_padding, transpose_geometry
from convlab.util.checks import positive_int

__all__ = ["Conv2DTranspose"]


class Conv2DTranspose(ConvLayer):
    """Transposed convolution layer (Keras ``Conv2DTranspose``): ``activation(conv2d_transpose(x, kernel) + bias)``.

    It upsamples: each input pixel scatters a copy of the kernel, scaled by its value, onto
    the output, ``S`` pixels from its neighbour's copy. It is exactly the input gradient of
    the :class:`Conv2D` with the same kernel, strides, padding and dilation
    (``tf.nn.conv2d_transpose``; Dumoulin & Visin 2016 §4; d2l.ai §14.10).

    Args:
        filters: output channels ``F``.
        kernel_size, strides, padding: as :class:`Conv2D` (``padding`` also takes explicit pads).
        output_padding: ``None`` (Keras' default) or an int/pair ``A`` with ``0 ≤ A < S``:
            picks among the output sizes the forward convolution would map back to ``H``.
        dilation_rate, activation, use_bias, kernel_initializer, bias_initializer (keyword):
            as :class:`Conv2D` (Keras refuses ``strides > 1`` with ``dilation_rate > 1``: so does convlab).
        input_shape, name, dtype, trainable: as :class:`Layer`.
        **keras_arguments: ``data_format`` None/"channels_last", regularisers and constraints None.

    Shapes: ``(N, H, W, C_in)`` → ``(N, OH, OW, F)`` with Keras' sizes
    (:func:`convlab.shapes.transpose.conv_transpose_output_size`): ``"valid"``
    ``OH = H·S + max(K_eff − S, 0)``, ``"same"`` ``OH = H·S``, with ``output_padding``
    ``(H − 1)·S + K_eff − 2P + A``, ``K_eff = D·(K − 1) + 1``. ``kernel (KH, KW, F, C_in)``
    (Keras' layout: output channels before input channels), ``bias (F,)``; parameters
    ``KH·KW·F·C_in + F``.

    Raises:
        TypeError / ValueError naming the argument (``output_padding`` ≥ ``strides`` among them);
        ValueError at build time for a non-4-D input or an output no array can hold.
    """

    keras_class = "Conv2DTranspose"

    def __init__(
        self,
        filters: int,
        kernel_size: IntOrPair,
        strides: IntOrPair = 1,
        padding: Padding = "valid",
        output_padding: IntOrPair | None = None,
        *,
        dilation_rate: IntOrPair = 1,
        activation: str | None = None,
        use_bias: bool = True,
        kernel_initializer: Initializer | None = "glorot_uniform",
        bias_initializer: Initializer | None = "zeros",
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.filters = positive_int(filters, "filters")
        self._window_arguments(
            kernel_size,
            strides,
            padding,
            dilation_rate,
            activation,
            use_bias,
            {"kernel_initializer": kernel_initializer, "bias_initializer": bias_initializer},
        )
        self.output_padding = check_output_padding(output_padding, self.strides)
        check_strides_dilation(self.strides, self.dilation_rate)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        if len(shape) != 3:
            raise ValueError(
                f"{self.name}: {type(self).__name__} expects 4-D input (N, H, W, C), got input_shape "
                f"{(None,) + tuple(shape)}"
            )
        h, w, c = shape
        where = self._for_input(shape)
        try:
            (oh, ow), _ = transpose_geometry(
                (1, h, w, c),
                self.kernel_size,
                self.strides,
                self.padding,
                self.output_padding,
                self.dilation_rate,
                out_channels=self.filters,
                itemsize=self.dtype.itemsize,
            )
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        kh, kw = self.kernel_size
        self._new_weights(where, kernel=(kh, kw, self.filters, c), bias=(self.filters,))
        return (oh, ow, self.filters)

    def param_formula(self) -> str:
        kh, kw = self.kernel_size
        c = self.input_shape[-1] if self.built else "C"
        return f"{kh}·{kw}·{self.filters}·{c}" + (f" + {self.filters}" if self.use_bias else "")

    def _geometry(self) -> dict[str, Any]:
        return dict(super()._geometry(), output_padding=self.output_padding)

    def _op(self, x: np.ndarray) -> np.ndarray:
        return conv2d_transpose(
            x, self.params["kernel"], self.params.get("bias"), backend=self.backend, **self._geometry()
        )

    def _op_backward(self, dz: np.ndarray, x: np.ndarray, need_dx: bool) -> tuple[np.ndarray | None, ...]:
        return conv2d_transpose_backward(
            dz, x, self.params["kernel"], backend=self.backend, need_dx=need_dx, **self._geometry()
        )

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(
            filters=self.filters,
            output_padding=None if self.output_padding is None else list(self.output_padding),
            **self._window_config(),
        )
        return cfg
