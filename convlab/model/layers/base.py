"""``Layer``: what every Keras-named layer has — name, build state, parameters, gradients, weights, config.

A layer holds parameters, their gradients and what the backward pass needs
from the forward pass; the maths is in the operations (:mod:`convlab.ops`)::

    layer = Conv2D(32, 3, activation="relu")
    layer.build((None, 28, 28, 1))       # creates kernel (3, 3, 1, 32) and bias (32,)
    y = layer.forward(x, training=True)  # (N, 26, 26, 32); caches x, z = conv(x), y = relu(z)
    dx = layer.backward(dy)              # fills layer.grads["kernel"], layer.grads["bias"]

Weights, as Keras splits them:
- ``params``: the trainable weights (kernel, bias, gamma, beta), each with its
  gradient in ``grads``; the optimizer updates these and only these;
- ``state``: the non-trainable weights (BatchNormalization's ``moving_mean`` and
  ``moving_variance``), which the forward pass itself updates in training mode;
  empty for the other layers.
``get_weights`` / ``set_weights`` / ``count_params`` and saved files cover both, in
Keras 3's order (``params`` then ``state``: gamma, beta, moving_mean, moving_variance).
A layer with ``trainable=False`` keeps its ``params`` but counts them as
non-trainable, and ``fit`` leaves them alone (Keras' rule).

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
from convlab.model.layers.validation import as_shape, check_bool, check_dtype, check_shape_fits
from convlab.ops import activations
from convlab.util.checks import as_float_array, check_backend, check_real_dtype, shown

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
        params / grads (OrderedDict): the trainable weights, ``"kernel"``, ``"bias"`` …
            → arrays (empty for layers without weights); ``grads`` is filled by :meth:`backward`.
        state (OrderedDict): the non-trainable weights (``"moving_mean"``,
            ``"moving_variance"`` of BatchNormalization; empty for other layers).
        backend (str | None): passed to the operations (``None`` → numba).

    Raises:
        TypeError: an argument Keras does not have either ("Unrecognized keyword
            arguments passed to Conv2D: {'activaton': 'relu'}"), a bad ``name``, a
            ``trainable`` that is not a bool, an ``input_shape`` entry that is not an int.
        UnsupportedArgumentError (a ValueError): a Keras argument with a value convlab does not implement.
        ValueError: a bad ``dtype`` or ``input_shape`` (sizes from 1 to ``2**63 − 1``).
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
        if declared is not None and (None in declared or not declared):
            raise ValueError(
                f"input_shape must be one example's shape, at least one size and no None (it excludes the "
                f"batch axis), got {shown(input_shape)}"
            )
        self.name = name or unique_name(self._prefix or snake_case(type(self).__name__))
        self.trainable = check_bool(trainable, "trainable")
        self._backend: str | None = None
        self.built = False
        self.input_shape: tuple[int | None, ...] | None = None
        self.output_shape: tuple[int | None, ...] | None = None
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()
        self.state: OrderedDict[str, np.ndarray] = OrderedDict()
        self.declared_input_shape: tuple[int, ...] | None = declared
        self._cache: tuple | None = None
        self._buffers: dict[str, np.ndarray] = {}
        self._reuse = False

    @property
    def backend(self) -> str | None:
        """The backend of the layer's operations (``None`` → numba); checked when set (ValueError)."""
        return self._backend

    @backend.setter
    def backend(self, value: str | None) -> None:
        if value is not None:
            check_backend(value)  # ValueError naming backend
        self._backend = value

    # -- building ----------------------------------------------------------------
    def build(self, input_shape: Shape) -> None:
        """Create the parameters for inputs of ``input_shape`` (batch axis included, e.g. ``(None, 28, 28, 1)``).

        Raises:
            TypeError: ``input_shape`` is not a tuple of ints (and ``None``).
            ValueError: a shape this layer cannot take (wrong rank, a window larger
            than the input, an output or a weight larger than any array can be, …),
            naming the layer.
        """
        shape = as_shape(input_shape, "input_shape")
        if len(shape) < 2 or None in shape[1:]:
            raise ValueError(
                f"{self.name}: input_shape must be (batch, ...) with known sizes after the batch "
                f"axis, got {shown(input_shape)}"
            )
        out = tuple(self._build(shape[1:]))
        # Sizes are exact ints: an output no array can hold is refused here, not by NumPy at the first call.
        check_shape_fits(out, self.dtype, self._for_input(shape[1:]), "output (one example)")
        self.input_shape = (None,) + shape[1:]
        self.output_shape = (None,) + out
        self.built = True

    def _for_input(self, shape: tuple[int, ...]) -> str:
        """The layer and the ``input_shape`` it is built for, to name both when a size is refused."""
        return f"{self.name} (input_shape={shown((None, *shape))})"

    def _build(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """Create the parameters for one example of ``shape`` (no batch axis); return the output shape likewise."""
        return shape

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{self.name}: call build(input_shape) (or add the layer to a model with an input shape) before {what}"
            )

    def count_params(self, trainable: bool | None = None) -> int:
        """Number of weights (Keras' ``count_params``; its summary's ``Param #``).

        Args:
            trainable: ``None`` (default): every weight, trainable and not (Keras); ``True``:
                those ``fit`` trains (``params``, none when ``trainable=False``); ``False``:
                the others (``state``, and the ``params`` of a frozen layer).

        Raises:
            ValueError: before :meth:`build`; TypeError: ``trainable`` not a bool or None.
        """
        self._require_built("count_params()")
        if trainable is None:
            arrays = self.weights
        else:
            arrays = self.trainable_weights if check_bool(trainable, "trainable") else self.non_trainable_weights
        return int(sum(a.size for a in arrays))

    def param_formula(self) -> str:
        """The parameter count as the slides write it, e.g. ``32·3·3·1 + 32`` (empty without weights)."""
        return ""

    # -- weights -----------------------------------------------------------------
    def weight_items(self) -> list[tuple[str, np.ndarray]]:
        """``(name, array)`` of every weight in Keras 3's ``get_weights`` order: ``params``, then ``state``."""
        return list(self.params.items()) + list(self.state.items())

    @property
    def weights(self) -> list[np.ndarray]:
        """Every weight array itself (not a copy), in Keras order (kernel, bias; gamma, beta, moving_mean, …)."""
        return [a for _, a in self.weight_items()]

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The arrays ``fit`` trains: ``params`` (none when ``trainable=False``), as Keras' property."""
        return list(self.params.values()) if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The other arrays: ``state`` (after ``params`` when ``trainable=False``), as Keras' property."""
        return ([] if self.trainable else list(self.params.values())) + list(self.state.values())

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight in Keras order (``[kernel, bias]``; BatchNormalization
        ``[gamma, beta, moving_mean, moving_variance]``; ``[]`` without weights)."""
        return [a.copy() for a in self.weights]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Replace every weight (Keras order, as :meth:`get_weights`); every shape is checked before anything changes.

        Raises:
            ValueError: wrong number of arrays or a shape that differs, naming the layer.
            TypeError: a non-numeric array.
        """
        self._require_built("set_weights()")
        new = self.checked_weights(weights)
        for p, w in zip(self.weights, new):
            np.copyto(p, w)

    def checked_weights(self, weights: Sequence[ArrayLike]) -> list[np.ndarray]:
        """``weights`` as arrays of the weights' shapes and dtype (:meth:`get_weights` order), checked, unassigned.

        Raises:
            TypeError: not a list/tuple, or a non-numeric array; ValueError: the
            wrong number of arrays, a ragged array, a shape that differs, or a finite value
            the layer's dtype cannot hold (``1e300`` for float32: never silently inf),
            naming the layer and the weight. NaN and inf are kept (Keras does too).
        """
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"{self.name}: weights must be a list of arrays, got {type(weights).__name__}")
        items = self.weight_items()
        if len(weights) != len(items):
            raise ValueError(
                f"{self.name}: expected {len(items)} weight arrays "
                f"({', '.join(k for k, _ in items) or 'none'}), got {len(weights)}"
            )
        out = []
        for (key, p), w in zip(items, weights):
            what = f"{self.name}: weight {key!r}"
            a = check_real_dtype(w, what)
            if a.shape != p.shape:
                raise ValueError(f"{what} must have shape {p.shape}, got {a.shape}")
            out.append(as_float_array(a, what, dtype=p.dtype, allow_empty=True))
        return out

    # -- passes ------------------------------------------------------------------
    def __call__(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """Same as :meth:`forward` (``training`` must be a bool)."""
        return self.forward(x, training=check_bool(training, "training"))

    def _input(self, x: ArrayLike) -> np.ndarray:
        """``x`` in the layer's dtype (:func:`convlab.util.checks.as_float_array`: a finite value the
        dtype cannot hold is a ValueError, never a silent inf); builds the layer on first use; checks the shape."""
        name = f"{self.name}: x"
        x = check_real_dtype(x, name)
        if x.dtype != self.dtype:
            x = as_float_array(x, name, dtype=self.dtype, allow_empty=True)
        if x.ndim < 2 or 0 in x.shape:
            expected = "(N, ...)" if not self.built else f"{self.input_shape} (None = any batch)"
            raise ValueError(f"{name} must be a non-empty batch of shape {expected}, got shape {x.shape}")
        if not self.built:
            if self.declared_input_shape is not None:  # the user's promise: x is checked against it below
                self.build((None,) + self.declared_input_shape)
            else:
                try:
                    self.build(x.shape)
                except ValueError as exc:  # the shape came from x: say so
                    raise ValueError(f"{name} of shape {x.shape} does not fit the layer: {exc}") from None
        if x.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"{name} must have shape {self.input_shape} (None = any batch), got {x.shape}")
        return x

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """The output for a batch ``x`` of shape ``input_shape`` (any batch size); caches what backward needs.

        ``training`` matters for Dropout (drops only then) and BatchNormalization (batch
        statistics, and moving statistics updated, only then). Raises TypeError / ValueError for
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

    def _cached(self, dy: ArrayLike, need_dx: bool = True, name: str = "dy") -> np.ndarray:
        """``dy`` in the layer's dtype, checked against the cached output's shape; ``need_dx`` must be a bool.

        ``name``: ``"dy"`` for :meth:`backward`, ``"dz"`` for :meth:`backward_from_preactivation`
        (``z`` has the output's shape).
        """
        if self._cache is None:
            raise ValueError(f"{self.name}: backward() called before forward()")
        check_bool(need_dx, "need_dx")
        dy = as_float_array(dy, f"{self.name}: {name}", dtype=self.dtype, allow_empty=True)
        y = self._cache[-1]
        if dy.shape != y.shape:
            raise ValueError(f"{self.name}: {name} must have the output's shape {y.shape}, got {dy.shape}")
        return dy

    # -- the activation (Sequential computes softmax/sigmoid cross-entropy from the logits) --
    def preactivation(self) -> np.ndarray:
        """``z``, the values the layer's activation was applied to in the last forward (the output's shape).

        A layer without an activation (``"linear"``: Flatten, pooling, Dropout…) returns its output.
        """
        if self._cache is None:
            raise ValueError(f"{self.name}: no forward pass cached")
        return self._cache[-1] if self.activation == "linear" else self._cache[1]

    def backward_from_preactivation(self, dz: ArrayLike, *, need_dx: bool = True) -> np.ndarray | None:
        """As :meth:`backward`, given ``dz = ∂L/∂z`` for the pre-activation ``z`` (the activation is skipped).

        Without an activation ``z`` is the output, so this is :meth:`backward`; layers with one override it.
        """
        if self.activation == "linear":
            return self.backward(dz, need_dx=need_dx)
        raise NotImplementedError

    def _activation_backward(self, dy: np.ndarray) -> np.ndarray:
        """``∂L/∂z`` from ``∂L/∂y`` through the layer's activation (cache: ``(input, z, y)``)."""
        if self.activation == "linear":
            return dy
        _, z, y = self._cache
        if self.activation == "relu":
            return activations.relu_backward(dy, z, y, out=self._buffer("dz", z.shape))
        return activations.get_backward(self.activation)(dy, z, y)

    def _activate(self, z: np.ndarray) -> np.ndarray:
        """``y = activation(z)``; ``z`` itself for ``"linear"``."""
        if self.activation == "linear":
            return z
        if self.activation == "relu":
            return activations.relu(z, out=self._buffer("y", z.shape))
        return activations.get(self.activation)(z)

    # -- buffers reused between training steps -------------------------------------
    def _start_pass(self, training: bool) -> None:
        """Called first by ``forward``: a training pass reuses the layer's arrays (:meth:`_buffer`)."""
        self._reuse = bool(training)

    def _buffer(
        self, key: str, shape: tuple[int, ...], dtype: DTypeLike | None = None, avoid: tuple = ()
    ) -> np.ndarray | None:
        """The layer's array ``key`` of ``shape`` to write a result into, or ``None`` (allocate a fresh one).

        In a training pass (``forward(x, training=True)`` and the ``backward`` after
        it) each layer keeps its outputs and gradients between steps and the
        operations write into them (their ``out=``): a training loop of one batch
        shape then allocates nothing per step, so no memory is faulted in again
        step after step (``benchmarks/README.md``, "Page faults"). The price: an
        array a training pass returned is overwritten by the next training pass
        of that layer (Keras' layers promise nothing else either); ``predict``
        and ``forward(x)`` (``training=False``) return fresh arrays, which a caller keeps.
        ``avoid``: the operation's inputs; a kept array that shares memory with one of them
        (a layer fed its own output) is not used this time.
        """
        if not self._reuse:
            return None
        dtype = self.dtype if dtype is None else np.dtype(dtype)
        buf = self._buffers.get(key)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = self._buffers[key] = np.empty(shape, dtype)
        if any(a is not None and np.may_share_memory(buf, a) for a in avoid):
            return None
        return buf

    # -- config ------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """A Keras-like dict of the constructor's arguments (enough to rebuild with :meth:`from_config`)."""
        cfg: dict[str, Any] = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self.declared_input_shape is not None:
            cfg["input_shape"] = list(self.declared_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        """Rebuild a layer from :meth:`get_config`'s dict (JSON lists become tuples).

        Raises:
            TypeError: ``config`` is not a dict with str keys, or holds an argument the layer does not take;
            ValueError / TypeError: a value the layer refuses (naming the argument).
        """
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise TypeError(f"config must be a dict of argument names to values, got {shown(config)}")
        config = dict(config)
        for key in ("kernel_size", "strides", "pool_size", "input_shape", "dilation_rate", "output_padding"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        if isinstance(config.get("padding"), list):
            config["padding"] = tuple(tuple(p) if isinstance(p, list) else p for p in config["padding"])
        return cls(**config)

    def __repr__(self) -> str:
        shape = f", output_shape={self.output_shape}" if self.built else ""
        return f"<{type(self).__name__} name={self.name!r}{shape}>"
