"""``Sequential``: a stack of layers with Keras' ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

What one training step does (:meth:`Sequential._train_step`, the one place
that trains)::

    y_pred = forward(x_batch, training=True)           # every layer in order, caching
    loss, d = loss and its gradient w.r.t. the output  # mean over the batch, as Keras
    backward(d)                                         # every layer in reverse order, filling grads
    optimizer.apply_gradients(zip(grads, params))       # in place

The optimizer updates the trainable weights only (each layer's ``params``, of the
layers with ``trainable=True``); BatchNormalization's moving statistics (its
``state``) change in the forward pass of training mode and nowhere else.
``predict``, ``evaluate`` and ``model(x)`` run in inference mode (``training=False``).

The loss is computed from the logits when the last activation is softmax or
sigmoid (:mod:`convlab.model.loss_adapter`); metrics are in
:mod:`convlab.model.metrics`, ``History`` in :mod:`convlab.model.history`, the
file format in :mod:`convlab.model.saving`.

Reported numbers follow Keras: an epoch's ``loss`` is the mean of the batch
losses weighted by batch size, computed before each update; ``accuracy`` is
accumulated over the epoch; the last partial batch is used;
``validation_split`` takes the *last* fraction of the data, before shuffling.

Training is float32 (as Keras). Randomness (initialisation, shuffling,
dropout) comes from :func:`convlab.set_seed`'s generator.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.model import optimizers, saving
from convlab.model.history import History, NonFiniteLossError
from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.conv_base import ConvLayer
from convlab.model.layers.input_layer import InputLayer
from convlab.model.layers.naming import unique_name
from convlab.model.layers.pooling import MaxPooling2D
from convlab.model.layers.randomness import get_rng, set_seed
from convlab.model.layers.serialization import deserialize, serialize
from convlab.model.layers.validation import as_shape, check_bool, check_float
from convlab.model.loss_adapter import CompiledLoss
from convlab.model.metrics import Metric
from convlab.shapes import format_summary
from convlab.util import process
from convlab.util.checks import as_float_array, check_backend, check_int, check_real_dtype, positive_int, shown

__all__ = ["Sequential", "History", "NonFiniteLossError", "load_model"]


# --------------------------------------------------------------------------- the model
class Sequential:
    """A linear stack of layers (Keras ``Sequential``).

    Args:
        layers: optional list of layers (an :func:`convlab.layers.Input` first
            declares the input shape, as in Keras 3; it is not listed in ``layers``).
        name: model name (automatic: ``sequential``, ``sequential_1``…).
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` for every operation
            (``None`` → numba). Can be changed later: ``model.backend = "numpy"``.

    Raises:
        TypeError: ``layers`` is not a list or tuple of convlab layers, ``name`` not a str.
        ValueError: an unknown ``backend``, or layers that do not fit together (:meth:`add`).

    Example (seeds/004)::

        model = Sequential([Input((28, 28, 1)), Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
                            Flatten(), Dense(100, activation="relu"), Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x_train, y_train, epochs=10, batch_size=32)
    """

    def __init__(
        self, layers: Sequence[Layer] | None = None, name: str | None = None, *, backend: str | None = None
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty str or None, got {name!r}")
        self.name = name or unique_name("sequential")
        self._layers: list[Layer] = []
        self._input_shape: tuple[int, ...] | None = None  # without batch
        self._backend: str | None = None
        self.backend = backend
        self.optimizer: optimizers.Optimizer | None = None
        self.loss: CompiledLoss | None = None
        self.metrics: list[Metric] = []
        self._compile_config: dict[str, Any] | None = None
        self.history: History | None = None
        self.stop_training = False  # a callback sets it to end fit() early (Keras' attribute)
        self._class_names: tuple[str, ...] | None = None
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(f"layers must be a list of convlab layers or None, got {type(layers).__name__}")
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The layers in order (a copy of the list)."""
        return list(self._layers)

    @property
    def backend(self) -> str | None:
        """The backend of every layer's operations (``None`` → numba); setting it sets every layer's."""
        return self._backend

    @backend.setter
    def backend(self, value: str | None) -> None:
        if value is not None:
            check_backend(value)  # ValueError naming backend
        self._backend = value
        for layer in self._layers:
            layer.backend = value

    @property
    def built(self) -> bool:
        """Whether the model has layers and every layer is built."""
        return bool(self._layers) and all(layer.built for layer in self._layers)

    @property
    def input_shape(self) -> tuple[int | None, ...] | None:
        """``(None, …)`` once known."""
        return None if self._input_shape is None else (None,) + self._input_shape

    @property
    def output_shape(self) -> tuple[int | None, ...] | None:
        """The last layer's output shape ``(None, …)`` once built."""
        return self._layers[-1].output_shape if self.built else None

    @property
    def class_names(self) -> tuple[str, ...] | None:
        """The name of each output class, in output order (``None``: not named).

        Keras models carry no class names; convlab keeps them with the model so that
        :meth:`save` writes them and :func:`load_model` reads them back (the web explorer
        labels its bars with them). Set a list or tuple of non-empty str, one per output
        unit (the count is checked now if the model is built, else by :meth:`save`), or ``None``.

        Raises:
            TypeError: not a list/tuple of str, or None. ValueError: an empty name, or a count
            that differs from the model's output units.
        """
        return self._class_names

    @class_names.setter
    def class_names(self, value: Sequence[str] | None) -> None:
        self._class_names = None if value is None else saving.check_class_names(value, self._output_units())

    def _output_units(self) -> int | None:
        shape = self.output_shape
        return int(shape[-1]) if shape is not None and len(shape) == 2 and shape[-1] is not None else None

    def add(self, layer: Layer) -> None:
        """Append a layer (an ``InputLayer`` sets the input shape instead); builds it when the input shape is known.

        Raises:
            TypeError: not a convlab layer; ValueError: a duplicate layer name, an
            ``Input`` after other layers, or a layer that cannot take the previous
            output shape.
        """
        if not isinstance(layer, Layer):
            raise TypeError(f"layer must be a convlab layer (e.g. convlab.layers.Dense), got {type(layer).__name__}")
        if isinstance(layer, InputLayer):
            if self._layers or self._input_shape is not None:
                raise ValueError("layer: Input() must come first in a Sequential model")
            self._input_shape = layer.shape
            return
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"layer: the model already has a layer named {layer.name!r}; names must be unique")
        if not self._layers and self._input_shape is None and layer.declared_input_shape is not None:
            self._input_shape = layer.declared_input_shape
        layer.backend = self._backend
        if self._input_shape is not None:
            prev = self._layers[-1].output_shape if self._layers else (None,) + self._input_shape
            self._build_layer(layer, prev)
        self._layers.append(layer)

    @staticmethod
    def _build_layer(layer: Layer, input_shape: Shape) -> None:
        """Build ``layer`` for ``input_shape``; a layer built for another shape is an error (its weights stay)."""
        if not layer.built:
            layer.build(input_shape)
        elif layer.input_shape != tuple(input_shape):
            raise ValueError(
                f"layer {layer.name!r} is already built for inputs {layer.input_shape}, but here it "
                f"would receive {tuple(input_shape)}; use a new layer"
            )

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError("pop: the model has no layers")
        return self._layers.pop()

    def build(self, input_shape: Shape) -> None:
        """Build every layer for ``input_shape`` with the batch axis, e.g. ``(None, 28, 28, 1)`` (as Keras).

        Raises:
            ValueError: an empty model, a malformed shape, a layer that cannot take its
            input, or a layer already built for another shape (weights are never
            silently re-initialised).
        """
        if not self._layers:
            raise ValueError("build: the model has no layers")
        shape = as_shape(input_shape, "input_shape")
        if len(shape) < 2 or None in shape[1:]:
            raise ValueError(f"input_shape must include the batch axis, e.g. (None, 28, 28, 1), got {input_shape!r}")
        self._input_shape = shape[1:]
        prev = (None,) + self._input_shape
        for layer in self._layers:
            self._build_layer(layer, prev)
            prev = layer.output_shape

    def _require_built(self, what: str) -> None:
        if not self.built:
            raise ValueError(
                f"{self.name}: the model is not built; give an input shape (Input(...), "
                f"input_shape=..., build(...)) or call fit() before {what}"
            )

    def to_keras(self, *, compile: bool = True) -> Any:
        """A ``keras.Sequential`` with the same layers, settings and weights (see :func:`convlab.to_keras`).

        Needs TensorFlow/Keras 3 (``pip install -e ".[keras]"``); raises ``ImportError`` saying so otherwise.
        """
        from convlab.bridge.keras import to_keras

        return to_keras(self, compile=compile)

    def count_params(self, trainable: bool | None = None) -> int:
        """Number of weights (Keras ``count_params``): all (``None``), or only the trainable (``True``)
        or non-trainable ones (``False``), as the summary's totals split them (:meth:`Layer.count_params`)."""
        self._require_built("count_params()")
        return sum(layer.count_params(trainable) for layer in self._layers)

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        """The arrays ``fit`` trains, in order (Keras' property; the arrays themselves)."""
        return [w for layer in self._layers for w in layer.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        """The other weight arrays (moving statistics, frozen layers' weights), in order (Keras' property)."""
        return [w for layer in self._layers for w in layer.non_trainable_weights]

    def summary_text(self, show_formula: bool = False) -> str:
        """The Keras-like table of :func:`convlab.shapes.format_summary` as a string.

        One row per layer (its ``count_params()``: trainable and non-trainable weights),
        then Keras 3's totals with their sizes in bytes: ``Total params``, ``Trainable params``
        (the weights ``fit`` trains), ``Non-trainable params`` (moving statistics, and every
        weight of a layer with ``trainable=False``).
        """
        self._require_built("summary()")
        rows = [(l.name, type(l).__name__, l.output_shape, l.count_params(), l.param_formula()) for l in self._layers]
        trainable = self.count_params(trainable=True)
        nbytes = sum(w.nbytes for layer in self._layers for w in layer.weights)
        trainable_bytes = sum(w.nbytes for w in self.trainable_weights)
        return format_summary(
            rows,
            title=f'Model: "{self.name}"',
            show_formula=show_formula,
            trainable=trainable,
            nbytes=(nbytes, trainable_bytes),
        )

    def summary(self, print_fn: Callable[[str], Any] | None = None, show_formula: bool = False) -> None:
        """Print the summary table (``print_fn`` defaults to ``print``); ``show_formula`` adds each count's formula.

        Raises:
            TypeError: ``print_fn`` is not callable (or None), ``show_formula`` not a bool.
        """
        if print_fn is not None and not callable(print_fn):
            raise TypeError(f"print_fn must be a function taking a str, or None, got {type(print_fn).__name__}")
        (print_fn or print)(self.summary_text(show_formula=check_bool(show_formula, "show_formula")))

    # -- weights -----------------------------------------------------------------
    def _trainable(self) -> list[tuple[Layer, str]]:
        """``(layer, key)`` of every trainable weight (``params`` of trainable layers), in :meth:`get_weights` order."""
        return [(layer, k) for layer in self._layers if layer.trainable for k in layer.params]

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every layer's weights, trainable and not, in order (Keras ``get_weights``)."""
        self._require_built("get_weights()")
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Set every layer's weights from one list (Keras order); all shapes are checked before anything changes.

        Raises:
            TypeError: ``weights`` is not a list/tuple, or an array is not real numbers.
            ValueError: the wrong number of arrays, a ragged array, a shape that does not fit,
            or a finite value the weights' dtype cannot hold (naming the layer and the weight).
        """
        self._require_built("set_weights()")
        if not isinstance(weights, (list, tuple)):
            raise TypeError(
                f"weights must be a list of arrays (as get_weights() returns), got {type(weights).__name__}"
            )
        weights = list(weights)
        need = sum(len(layer.weights) for layer in self._layers)
        if len(weights) != need:
            raise ValueError(f"weights: the model {self.name!r} has {need} weight arrays, got {len(weights)}")
        checked, i = [], 0
        for layer in self._layers:
            n = len(layer.weights)
            checked.append(layer.checked_weights(weights[i : i + n]))
            i += n
        for layer, ws in zip(self._layers, checked):
            for p, w in zip(layer.weights, ws):
                np.copyto(p, w)

    # -- compile -----------------------------------------------------------------
    def compile(
        self,
        optimizer: str | optimizers.Optimizer = "rmsprop",
        loss: str | Callable | None = None,
        metrics: Sequence[str | Callable] | str | None = None,
    ) -> None:
        """Choose the optimizer, the loss and the metrics (Keras ``compile``).

        Args:
            optimizer: ``"sgd"``, ``"adam"``, ``"rmsprop"`` or an optimizer object
                from :mod:`convlab.optimizers`.
            loss: ``"binary_crossentropy"``, ``"categorical_crossentropy"``,
                ``"sparse_categorical_crossentropy"``, ``"mse"``/``"mean_squared_error"``
                or the matching :mod:`convlab.losses` function.
            metrics: ``None`` or a list of names: ``"accuracy"`` (resolved to
                binary, sparse categorical or categorical accuracy from the shapes,
                as Keras), ``"binary_accuracy"``, ``"categorical_accuracy"``,
                ``"sparse_categorical_accuracy"``, ``"mse"``, ``"mae"``; or functions
                ``f(y_true, y_pred)`` returning per-example values or a batch mean
                (reported under the function's ``__name__``, averaged over examples).

        Raises:
            ValueError / TypeError naming the argument; ValueError when two metrics
            would be reported under the same name (one would hide the other in the logs).
        """
        if loss is None:
            raise ValueError("loss must be given, e.g. loss='sparse_categorical_crossentropy'")
        opt = optimizers.get(optimizer)
        loss_obj = CompiledLoss(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list of names such as ['accuracy'], got {metrics!r}")
        metric_objs = [Metric(m) for m in metrics]
        names = [m.name for m in metric_objs]
        for m in names:
            if names.count(m) > 1 or m == "loss":
                raise ValueError(
                    f"metrics: two values would be reported as {m!r} in the logs, got metrics={shown(list(metrics))}"
                )
        self.optimizer, self.loss, self.metrics = opt, loss_obj, metric_objs
        self._compile_config = {
            "optimizer": optimizers.serialize(opt),
            "loss": loss_obj.identifier,
            "metrics": [m.name for m in metric_objs if m.fn is None],
        }  # functions: not saved

    def _require_compiled(self, what: str) -> None:
        if self.loss is None:
            raise ValueError(f"{self.name}: call compile(optimizer, loss, metrics) before {what}")

    # -- passes ------------------------------------------------------------------
    def _check_x(self, x: ArrayLike, name: str = "x") -> np.ndarray:
        """``x`` as a real array in the first layer's dtype (:func:`convlab.util.checks.as_float_array`:
        ragged lists, non-real dtypes, empty arrays and finite values the dtype cannot hold are refused,
        naming ``name``); builds the model on first use; checks the shape."""
        if not self._layers:
            raise ValueError(f"{self.name}: the model has no layers; add layers before passing {name}")
        arr = check_real_dtype(x, name)
        if arr.ndim < 2 or 0 in arr.shape:
            raise ValueError(f"{name} must be a non-empty batch (N, ...), got shape {arr.shape}")
        if not self.built:
            self.build((None,) + arr.shape[1:])
        if arr.shape[1:] != self._input_shape:
            raise ValueError(
                f"{name} must have shape (N, {', '.join(map(str, self._input_shape))}) for model "
                f"{self.name!r}, got {arr.shape}"
            )
        dtype = self._layers[0].dtype
        return arr if arr.dtype == dtype else as_float_array(arr, name, dtype=dtype)

    def _check_y(self, y: ArrayLike, n: int, name: str = "y", x_name: str = "x") -> np.ndarray:
        """``y`` as a real array with one entry per example, checked against the loss and the model's
        output (:meth:`convlab.model.loss_adapter.CompiledLoss.check_targets`) before any step."""
        arr = check_real_dtype(y, name)
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(f"{name} must have one entry per example of {x_name} ({n}), got shape {arr.shape}")
        return self.loss.check_targets(arr, self._layers[-1].output_shape, name)

    def _forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        relu_first = self._relu_after_pooling() if training else set()
        layers = self._layers
        i = 0
        while i < len(layers):
            if i in relu_first:  # ReLU after the pooling: a quarter of the values (see _relu_after_pooling)
                x = layers[i + 1].forward_relu(layers[i].forward_preactivation(x, training=True), training=True)
                i += 2
            else:
                x = layers[i].forward(x, training=training)
                i += 1
        return x

    def _relu_after_pooling(self) -> set[int]:
        """Indices ``i`` where layer ``i`` (a convolution) ends in ReLU and layer ``i + 1`` is max pooling.

        In training, those pairs compute ``relu(max_pool(z))`` instead of
        ``max_pool(relu(z))``: the same numbers, bit for bit (ReLU never decreases, so it
        commutes with a maximum; :meth:`MaxPooling2D.forward_relu` and
        :meth:`~MaxPooling2D.backward_relu` show why the gradients agree too), with the
        ReLU and its gradient on the pooled map, a quarter of the values for 2×2 windows.
        On seeds/004's model that took a training step from 16.0 to about 14 ms
        (``benchmarks/README.md``). ``predict`` and ``model(x)`` run every layer as written.
        """
        layers = self._layers
        return {
            i
            for i in range(len(layers) - 1)
            if isinstance(layers[i], ConvLayer)
            and layers[i].activation == "relu"
            and type(layers[i + 1]) is MaxPooling2D
        }

    def _fused(self) -> str | None:
        return self.loss.fused_with(self._layers[-1].activation)

    def _loss_value(self, y_true: np.ndarray, y_pred: np.ndarray) -> float:
        """The loss of a batch already passed forward (from the logits when fused)."""
        if self._fused():
            return self.loss.fused(y_true, self._layers[-1].preactivation())[0]
        return self.loss.forward(self._match(y_true, y_pred), y_pred)

    def _match(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """``y_true`` in ``y_pred``'s shape when they differ by a trailing axis of 1 (Keras squeezes/expands
        one rank; any other reshape could pair targets with the wrong outputs)."""
        return self.loss.match(y_true, y_pred)

    def _forward_backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """Forward (training=True), the loss, and backward through every layer; fills each layer's ``grads``.

        Returns ``(loss, y_pred)``; raises NonFiniteLossError (before any
        backward) when the loss is NaN/inf.
        """
        y_pred = self._forward(x, training=True)
        last = self._layers[-1]
        if self._fused():
            loss, d = self.loss.fused(y, last.preactivation())
        else:
            yt = self._match(y, y_pred)
            loss = self.loss.forward(yt, y_pred)
            d = self.loss.backward(yt, y_pred) if math.isfinite(loss) else None
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"loss is {loss}{_non_finite_data(x, y)}", loss=loss)
        d = np.asarray(d, dtype=last.dtype)
        layers = self._layers
        # Nothing before the first layer with weights learns, so that layer's input
        # gradient is never used (Conv2D then skips it: ~15 % of a step) and the
        # layers before it need no backward pass. Without any weights: all layers run.
        first = next((i for i, layer in enumerate(layers) if layer.params), 0)
        relu_first = self._relu_after_pooling()
        for i in range(len(layers) - 1, first - 1, -1):
            layer = layers[i]
            need_dx = i != first
            if i - 1 in relu_first:  # the pooling whose ReLU came after it (_forward): d becomes ∂L/∂z
                d = layer.backward_relu(d)
            elif (i == len(layers) - 1 and self._fused()) or i in relu_first:
                d = layer.backward_from_preactivation(d, need_dx=need_dx)
            else:
                d = layer.backward(d, need_dx=need_dx)
        return loss, y_pred

    def compute_gradients(self, x: ArrayLike, y: ArrayLike) -> tuple[float, list[np.ndarray]]:
        """The loss of one batch and d loss / d weight for every weight, without updating anything.

        Args:
            x, y: one batch, as for :meth:`fit` (``training=True``: dropout is on).

        Returns:
            ``(loss, grads)``: a float and a list of arrays, one per entry of each layer's
            ``params`` (every layer's, frozen ones too), in :meth:`get_weights` order without the
            non-trainable ``state`` (BatchNormalization's moving statistics have no gradient).

        The forward pass runs in training mode (BatchNormalization uses the batch's
        statistics), but nothing is updated: the moving statistics are put back afterwards.
        """
        self._require_compiled("compute_gradients()")
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        saved = self._state_copy()
        try:
            with process.training():  # the same numbers as a step of fit / train_on_batch
                loss, _ = self._forward_backward(x, y)
        finally:
            self._restore_state(saved)
        return loss, [layer.grads[k].copy() for layer in self._layers for k in layer.params]

    def _train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """One optimisation step on a batch; returns ``(loss, y_pred)``.

        Forward (training=True) → loss and d loss/d output (fused from the logits
        when the last activation is softmax/sigmoid with a cross-entropy) →
        backward through every layer → optimizer update. Nothing is updated when
        the loss or an update is NaN/inf (NonFiniteLossError).
        """
        saved = self._state_copy()  # a step that fails leaves every weight as it was, moving statistics too
        try:
            loss, y_pred = self._forward_backward(x, y)
            pairs = [(layer.grads[k], layer.params[k]) for layer, k in self._trainable()]
            if pairs:
                try:
                    self.optimizer.apply_gradients(pairs)
                except optimizers.NonFiniteUpdateError as exc:
                    raise NonFiniteLossError(f"{exc} (loss {loss:.6g})", loss=loss) from exc
        except NonFiniteLossError:
            self._restore_state(saved)
            raise
        return loss, y_pred

    def _state_copy(self) -> list[np.ndarray]:
        """Copies of every layer's non-trainable ``state`` (BatchNormalization's moving statistics; small)."""
        return [a.copy() for layer in self._layers for a in layer.state.values()]

    def _restore_state(self, saved: list[np.ndarray]) -> None:
        """Put back :meth:`_state_copy`'s arrays, in place."""
        arrays = [a for layer in self._layers for a in layer.state.values()]
        for a, b in zip(arrays, saved):
            np.copyto(a, b)

    def __call__(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """Forward pass of one batch (no batching), as ``model(x)`` in Keras; ``training`` must be a bool."""
        training = check_bool(training, "training")
        return self._forward(self._check_x(x), training=training)

    def train_on_batch(self, x: ArrayLike, y: ArrayLike) -> float | list[float]:
        """One step on one batch; returns the loss (a float) or ``[loss, metric…]`` for that batch (Keras)."""
        self._require_compiled("train_on_batch()")
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        with process.training():  # BLAS on one thread while training (see convlab.util.process); restored after
            loss, y_pred = self._train_step(x, y)
        if not self.metrics:
            return loss
        yt = self._match(y, y_pred)
        return [loss] + [float(m.values(yt, y_pred).mean()) for m in self.metrics]

    def predict(self, x: ArrayLike, batch_size: int = 32, verbose: int = 0) -> np.ndarray:
        """Outputs for ``x`` in batches (inference mode: dropout off).

        Args:
            x: ``(N, …)`` matching the model's input shape.
            batch_size: positive int.
            verbose: 0, 1, 2 or ``"auto"`` (Keras' values; predict shows no bar).

        Returns:
            ``(N, …)`` array of the last layer's outputs (the model's dtype, float32 by default).

        Raises:
            ValueError / TypeError naming the argument.
        """
        batch_size = positive_int(batch_size, "batch_size")
        _check_verbose(verbose)
        x = self._check_x(x)
        outs = []
        for start in range(0, x.shape[0], batch_size):
            outs.append(self._forward(x[start : start + batch_size], training=False))
        return np.concatenate(outs, axis=0)

    def evaluate(
        self, x: ArrayLike, y: ArrayLike, batch_size: int = 32, verbose: int = 1, return_dict: bool = False
    ) -> float | list[float] | dict[str, float]:
        """Loss and metrics on ``(x, y)`` in inference mode (Keras ``evaluate``).

        Returns:
            ``loss`` (float) when compiled without metrics, else ``[loss, metric…]``
            (or a dict with ``return_dict=True``). Batch losses are averaged
            weighted by batch size, as Keras.

        Raises:
            ValueError / TypeError naming the argument (``verbose``: 0, 1, 2 or ``"auto"``;
            ``return_dict``: a bool; ``y`` checked against the loss before any batch).
        """
        self._require_compiled("evaluate()")
        batch_size = positive_int(batch_size, "batch_size")
        verbose = _check_verbose(verbose)
        return_dict = check_bool(return_dict, "return_dict")
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        logs = self._run_eval(x, y, batch_size, verbose=verbose)
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def _run_eval(
        self, x: np.ndarray, y: np.ndarray, batch_size: int, verbose: int = 0, prefix: str = ""
    ) -> dict[str, float]:
        for m in self.metrics:
            m.reset()
        total, count = 0.0, 0
        n = x.shape[0]
        bar = self._bar(math.ceil(n / batch_size), "Evaluate", verbose == 1 and not prefix)
        for start in range(0, n, batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            y_pred = self._forward(xb, training=False)
            total += self._loss_value(yb, y_pred) * xb.shape[0]
            count += xb.shape[0]
            for m in self.metrics:
                m.update(self._match(yb, y_pred), y_pred)
            if bar is not None:
                bar.update(1)
        logs = {prefix + "loss": total / count}
        logs.update({prefix + m.name: m.result() for m in self.metrics})
        if bar is not None:
            bar.set_postfix_str(_fmt_logs(logs))
            bar.close()
        return logs

    @staticmethod
    def _bar(total: int, desc: str, enabled: bool) -> Any:
        if not enabled:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="step", file=sys.stdout, leave=True, dynamic_ncols=True)

    # -- fit ---------------------------------------------------------------------
    def fit(
        self,
        x: ArrayLike,
        y: ArrayLike,
        epochs: int = 1,
        batch_size: int = 32,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        validation_split: float = 0.0,
        shuffle: bool = True,
        verbose: int = 1,
        seed: int | None = None,
        callbacks: Sequence[Any] | None = None,
    ) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` (Keras ``fit``).

        Args:
            x: ``(N, …)`` inputs (cast to float32); y: ``(N,)`` integer labels for
                sparse cross-entropy, ``(N, classes)`` one-hot, or targets.
            epochs, batch_size: positive ints; the last partial batch is used.
            validation_data: optional ``(x_val, y_val)``.
            validation_split: fraction in [0, 1) held out from the *end* of
                ``(x, y)`` before shuffling (Keras); ignored when ``validation_data`` is given.
            shuffle: a bool: reshuffle the training examples every epoch.
            verbose: 0 silent, 1 a tqdm bar per epoch, 2 one line per epoch
                (``"auto"``: 1, as Keras).
            seed: optional int; if given, :func:`convlab.set_seed` is called first, once
                every argument is checked (shuffling and dropout then repeat exactly).
            callbacks: optional list of objects with any of Keras' callback methods, called
                as Keras calls them: ``on_train_begin(logs)``, ``on_epoch_begin(epoch, logs)``,
                ``on_train_batch_end(batch, logs)`` (``logs``: the epoch's running ``loss`` and
                metrics), ``on_epoch_end(epoch, logs)``, ``on_train_end(logs)``; ``epoch`` and
                ``batch`` count from 0. Each callback gets the model as ``callback.model``
                (through ``set_model(model)`` when it has one, as Keras); setting
                ``self.model.stop_training = True`` ends training after the current batch
                (Keras checks it after each batch too).

        Returns:
            :class:`History` (also kept as ``model.history``).

        Raises:
            ValueError / TypeError naming the argument, all checked before the first
            step (every target too, against the loss: a bad label anywhere leaves the
            weights untouched); NonFiniteLossError (a FloatingPointError) naming the epoch
            and batch when the loss or an update becomes NaN/inf — the weights are those
            of the last good step; the message says when the batch's data hold NaN/inf.
        """
        self._require_compiled("fit()")
        epochs = positive_int(epochs, "epochs")
        batch_size = positive_int(batch_size, "batch_size")
        verbose = _check_verbose(verbose)
        validation_split = check_float(validation_split, "validation_split", low=0.0, high=1.0, high_open=True)
        shuffle = check_bool(shuffle, "shuffle")
        if seed is not None:
            seed = check_int(seed, "seed", expected="a non-negative int or None")
        hooks = _Callbacks(callbacks, self)
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                what = f"{len(validation_data)} items" if isinstance(validation_data, (tuple, list)) else None
                raise ValueError(
                    f"validation_data must be a tuple (x_val, y_val), got {what or type(validation_data).__name__}"
                )
            xv = self._check_x(validation_data[0], "validation_data[0]")
            val = (xv, self._check_y(validation_data[1], xv.shape[0], "validation_data[1]", "validation_data[0]"))
        elif validation_split:
            split_at = int(math.floor(x.shape[0] * (1.0 - validation_split)))
            if split_at == 0 or split_at == x.shape[0]:
                raise ValueError(
                    f"validation_split={validation_split} leaves no training or no validation data "
                    f"for {x.shape[0]} examples"
                )
            val = (x[split_at:], y[split_at:])
            x, y = x[:split_at], y[:split_at]
        if seed is not None:
            set_seed(seed)
        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        history = History(self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.history = history
        rng = get_rng()
        self.stop_training = False
        hooks.call("on_train_begin", {})
        with process.training():  # BLAS on one thread while training (see convlab.util.process); restored after
            for epoch in range(epochs):
                if self.stop_training:
                    break
                hooks.call("on_epoch_begin", epoch, {})
                t0 = time.perf_counter()
                order = rng.permutation(n) if shuffle else None
                for m in self.metrics:
                    m.reset()
                total, count = 0.0, 0
                bar = self._bar(steps, f"Epoch {epoch + 1}/{epochs}", verbose == 1)
                try:
                    for b in range(steps):
                        sel = slice(b * batch_size, min(n, (b + 1) * batch_size))
                        if order is not None:
                            idx = order[sel]
                            xb, yb = x[idx], y[idx]
                        else:
                            xb, yb = x[sel], y[sel]
                        try:
                            loss, y_pred = self._train_step(xb, yb)
                        except NonFiniteLossError as exc:
                            hint = "" if _DATA_HINT in str(exc) else " (try a smaller learning_rate)"
                            raise NonFiniteLossError(
                                f"training stopped at epoch {epoch + 1}/{epochs}, batch {b + 1}/{steps}: {exc}; the "
                                f"weights are those of the last good step{hint}",
                                epoch=epoch + 1,
                                batch=b + 1,
                                loss=exc.loss,
                            ) from exc
                        total += loss * xb.shape[0]
                        count += xb.shape[0]
                        yt = self._match(yb, y_pred) if self.metrics else yb
                        for m in self.metrics:
                            m.update(yt, y_pred)
                        if bar is not None:
                            bar.update(1)
                            if b % 10 == 0 or b == steps - 1:
                                bar.set_postfix_str(_fmt_logs(self._logs(total, count)), refresh=False)
                        if hooks:
                            hooks.call("on_train_batch_end", b, self._logs(total, count))
                        if self.stop_training:
                            break
                    logs = self._logs(total, count)
                    if val is not None:
                        logs.update(self._run_eval(val[0], val[1], batch_size, prefix="val_"))
                    if bar is not None:
                        bar.set_postfix_str(_fmt_logs(logs))
                finally:
                    if bar is not None:
                        bar.close()
                history.append(epoch, logs)
                if verbose == 2:
                    print(
                        f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - t0:.1f}s - {_fmt_logs(logs)}", flush=True
                    )
                hooks.call("on_epoch_end", epoch, dict(logs))
        hooks.call("on_train_end", {k: v[-1] for k, v in history.history.items()})
        return history

    def _logs(self, total: float, count: int) -> dict[str, float]:
        logs = {"loss": total / max(count, 1)}
        logs.update({m.name: m.result() for m in self.metrics})
        return logs

    # -- config and files --------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """Keras-like ``{"name", "layers": [{"class_name", "config"}…], "build_input_shape"}``."""
        return {
            "name": self.name,
            "layers": [serialize(l) for l in self._layers],
            "build_input_shape": None if self._input_shape is None else [None, *self._input_shape],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], backend: str | None = None) -> Sequential:
        """Rebuild (untrained weights) from :meth:`get_config`'s dict. Raises ValueError for a bad config."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"config must be a dict with a 'layers' list, got {config!r}")
        model = cls(name=config.get("name"), backend=backend)
        for spec in config["layers"]:
            model.add(deserialize(spec))
        if config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model

    def _file_arrays(self, include_optimizer: bool = True) -> dict[str, np.ndarray]:
        state = self.optimizer.get_state() if include_optimizer and self.optimizer is not None else None
        return saving.pack(
            self.get_config(),
            self.get_weights(),
            compile_config=self._compile_config,
            backend=self._backend,
            optimizer_state=state,
            class_names=self._class_names,
        )

    def save(self, path: str | os.PathLike) -> None:
        """Save architecture (JSON), weights, compile config, optimizer state and class names to one ``.npz`` file.

        Metrics given as functions are not saved (compile again after loading to use them).
        The file is written atomically (:mod:`convlab.model.saving`): the archive is
        written to a hidden temporary file in the same folder, then renamed onto
        ``path``. Whatever goes wrong, nothing is left behind and an earlier file at
        ``path`` is unchanged.

        Raises:
            TypeError: ``path`` is not a str or ``os.PathLike``.
            ValueError: ``path`` does not end with ``.npz``, or the model is not built.
            OSError: the file cannot be written, with the class and ``errno`` of the
                failure and the message naming ``path`` — ``FileNotFoundError`` (the folder
                does not exist), ``IsADirectoryError`` (``path`` is a folder),
                ``PermissionError`` (the folder is not writable), ``OSError`` (a full disk…).
        """
        saving.check_npz_path(path)
        self._require_built("save()")
        if self._class_names is not None:
            saving.check_class_names(self._class_names, self._output_units())
        saving.write_npz(path, self._file_arrays())

    def save_weights(self, path: str | os.PathLike) -> None:
        """Save only the weights (and the architecture, for checks) to a ``.npz`` file, atomically.

        Raises: as :meth:`save`.
        """
        saving.check_npz_path(path)
        self._require_built("save_weights()")
        saving.write_npz(path, self._file_arrays(include_optimizer=False))

    def load_weights(self, path: str | os.PathLike) -> None:
        """Load weights saved by :meth:`save` / :meth:`save_weights` into this model.

        The file is read and checked whole (:func:`convlab.model.saving.read_npz`), and
        every array checked against this model's layers, before anything is assigned:
        a bad file leaves the model unchanged. The file is never modified.

        Raises:
            TypeError: ``path`` is not a str or ``os.PathLike``.
            ValueError: the model is not built; the file is truncated, corrupt, not a
                convlab file, or holds weights of another architecture (naming the file).
            FileNotFoundError, IsADirectoryError, PermissionError (``OSError``): the file cannot be opened.
        """
        self._require_built("load_weights()")
        meta, arrays = saving.read_npz(path, "weights")
        weights = saving.weights_from(meta, arrays, path)
        try:
            self.set_weights(weights)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{os.fspath(path)!r}: the weights do not fit model {self.name!r}: {exc}") from exc

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={[l.name for l in self._layers]}>"


class _Callbacks:
    """Keras-style callbacks: each object may define any of the hook methods; the others are skipped."""

    _HOOKS = ("on_train_begin", "on_epoch_begin", "on_train_batch_end", "on_epoch_end", "on_train_end")

    def __init__(self, callbacks: Sequence[Any] | None, model: Any) -> None:
        if callbacks is None:
            callbacks = []
        if not isinstance(callbacks, (list, tuple)):
            raise TypeError(f"callbacks must be a list of callback objects or None, got {type(callbacks).__name__}")
        for i, cb in enumerate(callbacks):
            if isinstance(cb, type):  # the class, not an object of it: its hooks would get the epoch as `self`
                raise TypeError(
                    f"callbacks[{i}] must be a callback object, got the class {cb.__name__}: write {cb.__name__}()"
                )
            if not any(callable(getattr(cb, hook, None)) for hook in self._HOOKS):
                raise TypeError(
                    f"callbacks[{i}] must have at least one of the methods {', '.join(self._HOOKS)}, got {cb!r}"
                )
        self._callbacks = list(callbacks)
        for cb in self._callbacks:  # as Keras: a callback reaches the model as self.model (self.model.stop_training)
            if callable(getattr(cb, "set_model", None)):
                cb.set_model(model)
            else:
                try:
                    cb.model = model
                except AttributeError:  # __slots__ or a read-only property: the callback does without
                    pass

    def __bool__(self) -> bool:
        return bool(self._callbacks)

    def call(self, hook: str, *args: Any) -> None:
        for cb in self._callbacks:
            method = getattr(cb, hook, None)
            if callable(method):
                method(*args)


def _fmt_logs(logs: dict[str, float]) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def _check_verbose(verbose: Any) -> int:
    """``verbose`` as 0, 1 or 2 (``"auto"`` → 1, as Keras); a bool or a float is refused (TypeError)."""
    if isinstance(verbose, str) and verbose == "auto":
        return 1
    if isinstance(verbose, (bool, np.bool_)) or not isinstance(verbose, (int, np.integer)):
        raise TypeError(f"verbose must be 0, 1, 2 or 'auto', got {shown(verbose)} ({type(verbose).__name__})")
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {shown(verbose)}")
    return int(verbose)


#: What a NonFiniteLossError says when the batch's own data hold NaN/inf (no learning rate would help).
_DATA_HINT = "NaN/inf propagate from the data"


def _non_finite_data(x: np.ndarray, y: np.ndarray) -> str:
    """Where a batch's ``x`` or ``y`` holds NaN/inf, for the message of a non-finite loss ("" when nowhere).

    Only computed once the loss is already NaN/inf, so normal training never pays for it.
    """
    for name, a in (("x", x), ("y", y)):
        bad = ~np.isfinite(a) if a.dtype.kind == "f" else None
        if bad is not None and bad.any():
            index = np.unravel_index(int(np.argmax(bad)), a.shape)
            return (
                f": {name} holds {a[index]} at index {list(map(int, index))} of this batch "
                f"({_DATA_HINT} to the loss, as IEEE arithmetic does)"
            )
    return ""


def load_model(path: str | os.PathLike, backend: str | None = None) -> Sequential:
    """Load a model written by :meth:`Sequential.save`: architecture, weights, compile config, optimizer state
    and class names.

    The whole file is read and checked against the format
    (:func:`convlab.model.saving.read_npz`) before anything is built; the model is
    then rebuilt, and any part of the file the layers, optimizer or loss refuse
    (an unknown name, a bad value, weights of the wrong shape) is reported as a
    ``ValueError`` naming the file.

    Args:
        path: the ``.npz`` file (never modified).
        backend: override the saved backend (``None``: the saved one).

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike``.
        ValueError: ``backend`` unknown; a truncated/corrupt file, not a convlab model,
            metadata of the wrong form, missing or extra entries, or weights and
            optimizer state that do not fit the architecture (the message names the file).
        FileNotFoundError, IsADirectoryError, PermissionError (``OSError``): the file cannot be opened.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
    if backend is not None:
        check_backend(backend)
    meta, arrays = saving.read_npz(path)
    where = os.fspath(path)
    # The metadata's form is checked; what the layers, optimizer and loss accept is theirs to say
    # (they raise ValueError/TypeError naming the setting). MemoryError: a config that asks for
    # weights larger than memory, which no saved model could hold.
    try:
        model = Sequential.from_config(meta["config"], backend=backend or meta.get("backend"))
        model.set_weights(saving.weights_from(meta, arrays, path))
        model.class_names = meta.get("class_names")
    except (ValueError, TypeError, KeyError, MemoryError) as exc:
        raise ValueError(f"{where!r}: cannot rebuild the model: {exc}") from exc
    cc = meta.get("compile_config")
    if cc is not None:
        try:
            model.compile(optimizers.deserialize(cc["optimizer"]), cc["loss"], cc.get("metrics"))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{where!r}: cannot restore the compile config: {exc}") from exc
        state = saving.optimizer_state_from(meta, arrays, path)
        if state is not None:
            variables = [layer.params[k] for layer, k in model._trainable()]
            try:
                model.optimizer.set_state(state, variables)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{where!r}: optimizer state does not fit: {exc}") from exc
    return model
