"""``Layer``: what every Keras-named layer has — name, build state, parameters, gradients, weights, config.

A layer holds parameters, their gradients and what the backward pass needs
from the forward pass; the maths is in the operations (:mod:`convlab.ops`)::

    layer = Conv2D(32, 3, activation="relu")
    layer.build((None, 28, 28, 1))       # creates kernel (3, 3, 1, 32) and bias (32,)
    y = layer.forward(x, training=True)  # (N, 26, 26, 32); caches x, z = conv(x), y = relu(z)
    dx = layer.backward(dy)              # fills layer.grads["kernel"], layer.grads["bias"]

Conventions (as Keras):
- images NHWC ``(N, H, W, C)``, conv kernels ``(KH, KW, C_in, C_out)``, dense
  kernels ``(in_features, units)``; shapes given to :meth:`Layer.build` include
  the batch axis (``None`` or an int); ``input_shape=`` does not;
- parameters are float32 by default (``dtype="float64"`` for gradient checks);
  inputs are cast to the layer's dtype;
- Keras' arguments by Keras' names, strictly (:mod:`.keras_arguments`);
- :meth:`Layer.backward` overwrites ``grads`` (it never accumulates), so calling
  it twice with the same ``dy`` gives the same gradients.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.keras_arguments import check_keras_arguments
from convlab.model.layers.naming import snake_case, unique_name
from convlab.model.layers.validation import as_shape, check_dtype
from convlab.ops import activations
from convlab.util.checks import as_float_array, check_real_dtype

__all__ = ["Layer", "Shape"]

#: A shape as given to layers: ints, with ``None`` for the batch axis where allowed.
Shape = Sequence[int | None]


class Layer:
    """Base class: name, build state, parameters, gradients, weights and config.

    Args (every layer, keyword-only):
        name: Keras-style name (automatic ``conv2d``, ``conv2d_1``… unless given).
        input_shape: the input shape without the batch axis, for a model's first layer.
        dtype: ``"float32"`` (default) or ``"float64"``.
        trainable: ``False`` freezes the layer's parameters in ``fit``.
        **keras_arguments: Keras arguments convlab does not implement, accepted
            only with the values that mean what convlab computes (see
            :mod:`convlab.model.layers.keras_arguments`).

    Attributes:
        name (str), trainable (bool), dtype (numpy.dtype): as given.
        built (bool): whether :meth:`build` ran.
        input_shape / output_shape (tuple): with ``None`` for the batch axis (after :meth:`build`).
        params / grads (OrderedDict): ``"kernel"``, ``"bias"`` → arrays (empty for
            layers without weights); ``grads`` is filled by :meth:`backward`.
        backend (str | None): passed to the operations (``None`` → numba).

    Raises:
        TypeError: an argument Keras does not have either ("Unrecognized keyword
            arguments passed to Conv2D: {'activaton': 'relu'}"), or a bad ``name``.
        UnsupportedArgumentError (a ValueError): a Keras argument with a value convlab does not implement.
        ValueError: a bad ``dtype`` or ``input_shape``.
    """

    #: Automatic-name prefix (default: the class name in snake case).
    _prefix: str | None = None
    #: The row of :data:`~convlab.model.layers.keras_arguments.KERAS_ARGUMENTS` this layer follows.
    keras_class: str | None = None
    #: The activation applied last (``"linear"``: none); Sequential fuses softmax/sigmoid with the loss.
    activation: str = "linear"

    def __init__(
        self,
        *,
        name: str | None = None,
        input_shape: Shape | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        if keras_arguments:
            if self.keras_class is None:
                raise TypeError(f"Unrecognized keyword arguments passed to {type(self).__name__}: {keras_arguments}")
            check_keras_arguments(self.keras_class, keras_arguments, who=type(self).__name__)
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty str or None, got {name!r}")
        self.dtype = check_dtype(dtype)
        declared = None if input_shape is None else as_shape(input_shape, "input_shape")
        if declared is not None and None in declared:
            raise ValueError(f"input_shape must not contain None (it excludes the batch axis), got {input_shape!r}")
        self.name = name or unique_name(self._prefix or snake_case(type(self).__name__))
        self.trainable = bool(trainable)
        self.backend: str | None = None
        self.built = False
        self.input_shape: tuple[int | None, ...] | None = None
        self.output_shape: tuple[int | None, ...] | None = None
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()
        self.declared_input_shape: tuple[int, ...] | None = declared
        self._cache: tuple | None = None

    # -- building ----------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Create the parameters for inputs of ``input_shape`` (batch axis included, e.g. ``(None, 28, 28, 1)``).

        Raises:
            ValueError: a shape this layer cannot take (wrong rank, a window larger
            than the input, …), naming the layer.
        """
        shape = as_shape(input_shape, "input_shape")
        if len(shape) < 2 or None in shape[1:]:
            raise ValueError(
                f"{self.name}: input_shape must be (batch, ...) with known sizes after the batch "
                f"axis, got {input_shape!r}"
            )
        self.input_shape = (None,) + shape[1:]
        self.output_shape = (None,) + tuple(self._build(shape[1:]))
        self.built = True

    def _build(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Create the parameters for one example of ``shape`` (no batch axis); return the output shape likewise."""
        return shape

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{self.name}: call build(input_shape) (or add the layer to a model with an input shape) before {what}"
            )

    def count_params(self) -> int:
        """Number of parameters (all weights). Raises ValueError before :meth:`build`."""
        self._require_built("count_params()")
        return int(sum(p.size for p in self.params.values()))

    def param_formula(self) -> str:
        """The parameter count as the slides write it, e.g. ``32·3·3·1 + 32`` (empty without weights)."""
        return ""

    # -- weights -----------------------------------------------------------------
    @property
    def weights(self) -> list[np.ndarray]:
        """The parameter arrays themselves, in Keras order (kernel, bias)."""
        return list(self.params.values())

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the parameters in Keras order (``[kernel, bias]``; ``[]`` without weights)."""
        return [p.copy() for p in self.params.values()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Replace the parameters (Keras order); every shape is checked before anything changes.

        Raises:
            ValueError: wrong number of arrays or a shape that differs, naming the layer.
            TypeError: a non-numeric array.
        """
        self._require_built("set_weights()")
        new = self.checked_weights(weights)
        for p, w in zip(self.params.values(), new):
            np.copyto(p, w)

    def checked_weights(self, weights: Sequence[ArrayLike]) -> list[np.ndarray]:
        """``weights`` as arrays of the parameters' shapes and dtype, checked; nothing is assigned.

        Raises:
            TypeError: not a list/tuple, or a non-numeric array; ValueError: the
            wrong number of arrays or a shape that differs (naming the layer and the weight).
        """
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"{self.name}: weights must be a list of arrays, got {type(weights).__name__}")
        if len(weights) != len(self.params):
            raise ValueError(
                f"{self.name}: expected {len(self.params)} weight arrays "
                f"({', '.join(self.params) or 'none'}), got {len(weights)}"
            )
        out = []
        for (key, p), w in zip(self.params.items(), weights):
            a = check_real_dtype(w, f"{self.name}: weight {key!r}")
            if a.shape != p.shape:
                raise ValueError(f"{self.name}: weight {key!r} must have shape {p.shape}, got {a.shape}")
            out.append(a.astype(p.dtype, copy=False))
        return out

    # -- passes ------------------------------------------------------------------
    def __call__(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """Same as :meth:`forward`."""
        return self.forward(x, training=training)

    def _input(self, x: ArrayLike) -> np.ndarray:
        """``x`` cast to the layer's dtype; builds the layer on first use; checks the shape."""
        x = check_real_dtype(x, f"{self.name}: x").astype(self.dtype, copy=False)
        if not self.built:
            self.build(x.shape)
        if x.shape[1:] != self.input_shape[1:]:
            raise ValueError(
                f"{self.name}: expected input of shape {self.input_shape} (None = any batch), got {x.shape}"
            )
        if x.shape[0] == 0:
            raise ValueError(f"{self.name}: x must not be empty, got shape {x.shape}")
        return x

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """The output for a batch ``x`` of shape ``input_shape`` (any batch size); caches what backward needs.

        ``training`` matters for Dropout only. Raises TypeError / ValueError for
        an input of the wrong dtype or shape, naming the layer.
        """
        raise NotImplementedError

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """``∂L/∂x`` given ``dy = ∂L/∂y`` for the output ``y`` of the last :meth:`forward` (same shape as ``y``).

        Fills ``grads`` (overwriting, never accumulating).

        Args:
            dy: the gradient of the loss w.r.t. the last output, shape ``(N, …)`` of that output.
            need_dx: ``False`` when the caller will not use ``∂L/∂x`` (the first layer
                with weights of a model: nothing before it learns). A layer that can
                skip that work then returns ``None`` (:class:`Conv2D` does: about 15 % of
                a training step on MNIST); the weight gradients are the same either way.

        Returns:
            ``∂L/∂x``, the shape of the last input (or ``None``, see ``need_dx``).

        Raises:
            ValueError: called before :meth:`forward`, or ``dy`` of the wrong shape.
        """
        raise NotImplementedError

    def _cached(self, dy: ArrayLike) -> np.ndarray:
        """``dy`` in the layer's dtype, checked against the cached output's shape."""
        if self._cache is None:
            raise ValueError(f"{self.name}: backward() called before forward()")
        dy = as_float_array(dy, f"{self.name}: dy", dtype=self.dtype, allow_empty=True)
        y = self._cache[-1]
        if dy.shape != y.shape:
            raise ValueError(f"{self.name}: dy must have the output's shape {y.shape}, got {dy.shape}")
        return dy

    # -- the activation (Sequential computes softmax/sigmoid cross-entropy from the logits) --
    def preactivation(self) -> np.ndarray:
        """``z``, the values the layer's activation was applied to in the last forward (the output's shape)."""
        if self._cache is None:
            raise ValueError(f"{self.name}: no forward pass cached")
        return self._cache[1]

    def backward_from_preactivation(self, dz: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """As :meth:`backward`, given ``dz = ∂L/∂z`` for the pre-activation ``z`` (the activation is skipped)."""
        raise NotImplementedError

    def _activation_backward(self, dy: np.ndarray) -> np.ndarray:
        """``∂L/∂z`` from ``∂L/∂y`` through the layer's activation (cache: ``(input, z, y)``)."""
        if self.activation == "linear":
            return dy
        _, z, y = self._cache
        return activations.get_backward(self.activation)(dy, z, y)

    # -- config ------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """A Keras-like dict of the constructor's arguments (enough to rebuild with :meth:`from_config`)."""
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.declared_input_shape is not None:
            cfg["input_shape"] = list(self.declared_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Rebuild a layer from :meth:`get_config`'s dict (JSON lists become tuples)."""
        config = dict(config)
        for key in ("kernel_size", "strides", "pool_size", "input_shape"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        if isinstance(config.get("padding"), list):
            config["padding"] = tuple(tuple(p) if isinstance(p, list) else p for p in config["padding"])
        return cls(**config)

    def __repr__(self) -> str:
        shape = f", output_shape={self.output_shape}" if self.built else ""
        return f"<{type(self).__name__} name={self.name!r}{shape}>"
