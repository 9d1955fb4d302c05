"""``Dense``: the fully connected layer (Keras ``Dense``), on :func:`convlab.dense` and its backward."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.validation import check_activation, check_bool
from convlab.model.layers.weight_init import Initializer, initializer_argument, make_weight
from convlab.ops.dense import dense, dense_backward
from convlab.util.checks import positive_int

__all__ = ["Dense"]


class Dense(Layer):
    """Fully connected layer (Keras ``Dense``): ``activation(x @ kernel + bias)``.

    Args:
        units: output features.
        activation, use_bias, input_shape, name, dtype, trainable: as :class:`Conv2D`.
        kernel_initializer, bias_initializer (keyword): a Keras initialiser name (default
            ``"glorot_uniform"`` / ``"zeros"``; ``None`` means Glorot uniform, as in Keras)
            or a function ``f(shape, dtype)`` (:mod:`convlab.model.layers.initializers`).
        **keras_arguments: Keras' other arguments, only at the values convlab computes:
            regularisers, constraints, ``lora_rank``, ``lora_alpha``, ``quantization_config`` None.

    Shapes: ``(N, in_features)`` → ``(N, units)``; ``kernel (in_features, units)``
    (Glorot uniform by default), ``bias (units,)`` (zeros); parameters ``in_features·units + units``.
    Only 2-D input (put a :class:`Flatten` before it), otherwise ValueError at build time
    (also for a kernel larger than any array can be). ``use_bias``/``trainable``: bools (TypeError otherwise).
    """

    keras_class = "Dense"

    def __init__(
        self,
        units: int,
        activation: str | None = None,
        use_bias: bool = True,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        *,
        kernel_initializer: Initializer | None = "glorot_uniform",
        bias_initializer: Initializer | None = "zeros",
        **keras_arguments: Any,
    ) -> None:
        self.units = positive_int(units, "units")
        self.activation = check_activation(activation)
        self.use_bias = check_bool(use_bias, "use_bias")
        self.kernel_initializer = initializer_argument(kernel_initializer, "kernel_initializer")
        self.bias_initializer = initializer_argument(bias_initializer, "bias_initializer")
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int]:
        if len(shape) != 1:
            raise ValueError(
                f"{self.name}: Dense expects 2-D input (N, features), got input_shape "
                f"{(None,) + tuple(shape)}; add a Flatten() layer before it"
            )
        n_in = shape[0]
        where = self._for_input(shape)
        self.params = OrderedDict(
            kernel=make_weight(self.kernel_initializer, (n_in, self.units), self.dtype, layer=where, what="kernel")
        )
        if self.use_bias:
            self.params["bias"] = make_weight(
                self.bias_initializer, (self.units,), self.dtype, layer=where, what="bias"
            )
        self.grads = OrderedDict()
        return (self.units,)

    def param_formula(self) -> str:
        n_in = self.input_shape[-1] if self.built else "in"
        return f"{n_in}·{self.units}" + (f" + {self.units}" if self.use_bias else "")

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``(N, in_features)`` → ``(N, units)``; caches ``(x, z, y)``."""
        self._start_pass(training)
        x = self._input(x)
        z = dense(x, self.params["kernel"], self.params.get("bias"), out=self._buffer("z", (x.shape[0], self.units)))
        y = self._activate(z)
        self._cache = (x, z, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy (N, units)`` → ``dx (N, in_features)``; fills ``grads``.

        ``dx = dz @ kernelᵀ`` is one small product, computed even with ``need_dx=False``.
        """
        dy = self._cached(dy, need_dx)
        return self.backward_from_preactivation(self._activation_backward(dy), need_dx=need_dx)

    def backward_from_preactivation(self, dz: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """As :meth:`backward` from ``dz = ∂L/∂z`` (:func:`convlab.dense_backward`)."""
        dz = self._cached(dz, need_dx, "dz")
        x, kernel = self._cache[0], self.params["kernel"]
        out = (self._buffer("dx", x.shape), self._buffer("dkernel", kernel.shape), None)
        dx, dk, db = dense_backward(dz, x, kernel, out=out)
        self.grads = OrderedDict(kernel=dk)
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(
            units=self.units,
            activation=self.activation,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
        )
        return cfg
