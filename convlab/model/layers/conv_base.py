"""What the convolution layers share: window arguments, the activation pass and its backward, config.

:class:`Conv2D`, :class:`Conv2DTranspose`, :class:`DepthwiseConv2D` and
:class:`SeparableConv2D` each compute ``y = activation(z)`` with ``z`` from one
operation of :mod:`convlab.ops`; the subclasses say which operation (``_op`` and
``_op_backward``) and which weights. The forward pass caches ``(x, z, y)``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.model.layers.base import Layer
from convlab.model.layers.validation import check_activation, check_bool, check_padding, padding_config
from convlab.model.layers.weight_init import Initializer, initializer_argument
from convlab.ops import activations
from convlab.shapes import pair
from convlab.shapes.sizes import IntOrPair, Padding

__all__ = ["ConvLayer"]


class ConvLayer(Layer):
    """Base of the convolution layers (not used directly): window arguments, activation, bias, initialisers.

    Subclasses set ``_initializer_names`` (their initialiser arguments, Keras' names) and
    implement ``_op(x) -> z`` and ``_op_backward(dz, x, need_dx) -> (dx, grads)``.
    """

    #: The layer's initialiser arguments, in Keras' order.
    _initializer_names: tuple[str, ...] = ("kernel_initializer", "bias_initializer")

    def _window_arguments(
        self,
        kernel_size: IntOrPair,
        strides: IntOrPair,
        padding: Padding,
        dilation_rate: IntOrPair,
        activation: str | None,
        use_bias: bool,
        initializers: dict[str, Any],
    ) -> None:
        """Check and keep the arguments every convolution layer takes (each error names its argument)."""
        self.kernel_size = pair(kernel_size, "kernel_size")
        self.strides = pair(strides, "strides")
        self.padding = check_padding(padding)
        self.dilation_rate = pair(dilation_rate, "dilation_rate")
        self.activation = check_activation(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        for key in self._initializer_names:
            setattr(self, key, initializer_argument(initializers[key], key))

    def initializer(self, key: str) -> Initializer:
        """The initialiser kept for argument ``key`` (``"kernel_initializer"`` …)."""
        return getattr(self, key)

    # -- passes ------------------------------------------------------------------
    def _op(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _op_backward(
        self, dz: np.ndarray, x: np.ndarray, need_dx: bool
    ) -> tuple[np.ndarray | None, OrderedDict[str, np.ndarray]]:
        raise NotImplementedError

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``(N, H, W, C_in)`` → ``(N, OH, OW, C_out)``; caches ``(x, z, y)``."""
        x = self._input(x)
        z = self._op(x)
        y = activations.get(self.activation)(z) if self.activation != "linear" else z
        self._cache = (x, z, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """``dy`` of the output's shape → ``dx`` of the input's (``None`` with ``need_dx=False``); fills ``grads``."""
        dy = self._cached(dy, need_dx)
        return self.backward_from_preactivation(self._activation_backward(dy), need_dx=need_dx)

    def backward_from_preactivation(self, dz: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """As :meth:`backward` from ``dz = ∂L/∂z`` (the operation's backward, which skips dx when not needed)."""
        dz = self._cached(dz, need_dx, "dz")
        dx, grads = self._op_backward(dz, self._cache[0], need_dx)
        self.grads = grads
        return dx

    # -- config ------------------------------------------------------------------
    def _window_config(self) -> dict[str, Any]:
        """The shared part of :meth:`get_config`: window, activation, bias, initialisers."""
        return dict(
            kernel_size=list(self.kernel_size),
            strides=list(self.strides),
            padding=padding_config(self.padding),
            dilation_rate=list(self.dilation_rate),
            activation=self.activation,
            use_bias=self.use_bias,
            **{key: getattr(self, key) for key in self._initializer_names},
        )
