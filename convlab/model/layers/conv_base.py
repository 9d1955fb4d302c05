"""What the convolution layers share: window arguments, weights, the activation pass and its backward, config.

:class:`Conv2D`, :class:`Conv2DTranspose`, :class:`DepthwiseConv2D` and
:class:`SeparableConv2D` each compute ``y = activation(z)`` with ``z`` from one
operation of :mod:`convlab.ops`; the subclasses say which operation (``_op`` and
``_op_backward``) and the shapes of their weights. The forward pass caches ``(x, z, y)``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.model.layers.base import Layer
from convlab.model.layers.validation import (
    check_activation,
    check_bool,
    check_padding,
    padding_config,
    window_output_shape,
)
from convlab.model.layers.weight_init import Initializer, initializer_argument, make_weight
from convlab.shapes import pair
from convlab.shapes.sizes import IntOrPair, Padding

__all__ = ["ConvLayer"]


class ConvLayer(Layer):
    """Base of the convolution layers (not used directly): window arguments, activation, weights, initialisers.

    Subclasses set ``_weight_initializers`` (each weight and its initialiser argument) and
    implement ``_build`` (with :meth:`_new_weights`), ``_op(x) -> z`` and
    ``_op_backward(dz, x, need_dx) -> (dx, d_weight, ...)``.
    """

    #: Each weight's name → the initialiser argument that draws it (Keras' names), in Keras'
    #: ``get_weights`` order, the bias last. The operations of :mod:`convlab.ops` return their
    #: gradients in this order too: ``(dx, dkernel, ..., dbias)``.
    _weight_initializers: dict[str, str] = {"kernel": "kernel_initializer", "bias": "bias_initializer"}

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
        for key in self._weight_initializers.values():
            setattr(self, key, initializer_argument(initializers[key], key))

    def initializer(self, key: str) -> Initializer:
        """The initialiser kept for argument ``key`` (``"kernel_initializer"`` …)."""
        return getattr(self, key)

    # -- building ----------------------------------------------------------------
    def _window_output_shape(self, shape: tuple[int, ...]) -> tuple[int, int, int]:
        """``(OH, OW, C_in)`` of a forward window over one example ``(H, W, C_in)``; creates nothing.

        Raises:
            ValueError: a non-4-D input or a dilated kernel larger than the padded input, naming the layer.
        """
        return window_output_shape(
            shape,
            self.kernel_size,
            self.strides,
            self.padding,
            layer=self.name,
            layer_type=type(self).__name__,
            what="kernel",
            dilation=self.dilation_rate,
        )

    def _new_weights(self, where: str, **shapes: tuple[int, ...]) -> None:
        """Draw ``params``: each weight of ``shapes`` (name → shape) with its initialiser, in Keras' order.

        The bias only when ``use_bias``; ``grads`` starts empty. ``where`` names the layer and
        its input shape in messages (:meth:`Layer._for_input`).
        """
        self.params = OrderedDict()
        for name, key in self._weight_initializers.items():
            if name != "bias" or self.use_bias:
                self.params[name] = make_weight(getattr(self, key), shapes[name], self.dtype, layer=where, what=name)
        self.grads = OrderedDict()

    # -- passes ------------------------------------------------------------------
    def _geometry(self) -> dict[str, Any]:
        """The window arguments the layer's operation takes (subclasses add theirs)."""
        return dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate)

    def _op(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _op_backward(self, dz: np.ndarray, x: np.ndarray, need_dx: bool) -> tuple[np.ndarray | None, ...]:
        raise NotImplementedError

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``(N, H, W, C_in)`` → ``(N, OH, OW, C_out)``; caches ``(x, z, y)``."""
        self._start_pass(training)
        x = self._input(x)
        z = self._op(x)
        y = self._activate(z)
        self._cache = (x, z, y)
        return y

    def forward_preactivation(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``z``, the operation's output before the activation, without applying it (caches ``(x, z, z)``).

        For a model that applies this layer's ReLU after the next layer's max pooling
        instead (``Sequential`` in training: the two commute, see
        :meth:`convlab.model.layers.pooling.MaxPooling2D.forward_relu`); backward then
        starts from :meth:`backward_from_preactivation`.
        """
        self._start_pass(training)
        x = self._input(x)
        z = self._op(x)
        self._cache = (x, z, z)
        return z

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """``dy`` of the output's shape → ``dx`` of the input's (``None`` with ``need_dx=False``); fills ``grads``."""
        dy = self._cached(dy, need_dx)
        return self.backward_from_preactivation(self._activation_backward(dy), need_dx=need_dx)

    def backward_from_preactivation(self, dz: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """As :meth:`backward` from ``dz = ∂L/∂z`` (the operation's backward, which skips dx when not needed)."""
        dz = self._cached(dz, need_dx, "dz")
        dx, *weight_grads = self._op_backward(dz, self._cache[0], need_dx)
        # The operation's gradients come in the weights' order; its dbias is dropped for a layer without a bias.
        pairs = zip(self._weight_initializers, weight_grads, strict=True)
        self.grads = OrderedDict((name, g) for name, g in pairs if name in self.params)
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
            **{key: getattr(self, key) for key in self._weight_initializers.values()},
        )
