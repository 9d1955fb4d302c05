"""``Sequential``: a stack of layers with Keras' ``compile`` / ``fit`` / ``evaluate`` / ``predict``.

What one training step does (:meth:`Sequential._train_step`, the one place
that trains)::

    y_pred = forward(x_batch, training=True)           # every layer in order, caching
    loss, d = loss and its gradient w.r.t. the output  # mean over the batch, as Keras
    backward(d)                                         # every layer in reverse order, filling grads
    optimizer.apply_gradients(zip(grads, params))       # in place

As in Keras 3 on TensorFlow, when the last layer's activation is softmax
(sigmoid) and the loss is (sparse) categorical (binary) cross-entropy, the loss
and its gradient are computed from the pre-activation logits
(:func:`convlab.losses.softmax_crossentropy`,
:func:`convlab.losses.sigmoid_binary_crossentropy`): the numbers then match
Keras and stay finite when a probability rounds to 0.

Reported numbers follow Keras: an epoch's ``loss`` is the mean of the batch
losses weighted by batch size, computed before each update; ``accuracy`` is
accumulated over the epoch; the last partial batch is used;
``validation_split`` takes the *last* fraction of the data, before shuffling.

Training is float32 (as Keras). Randomness (initialisation, shuffling,
dropout) comes from :func:`convlab.set_seed`'s generator.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import tempfile
import time
import zipfile

import numpy as np

from convlab.util import process
from convlab.util.checks import positive_int
from convlab.model import layers as _layers
from convlab.model import optimizers as _optimizers
from convlab import shapes

__all__ = ["Sequential", "History", "NonFiniteLossError", "load_model"]

_FORMAT = "convlab.Sequential"
_UNSET = object()
_FORMAT_VERSION = 1


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or inf loss (or update); the weights are those of the last good step.

    Attributes: ``epoch`` (1-based or None), ``batch`` (1-based or None), ``loss`` (float or None).
    """

    def __init__(self, message, epoch=None, batch=None, loss=None):
        super().__init__(message)
        self.epoch, self.batch, self.loss = epoch, batch, loss


class History:
    """What ``fit`` returns (as ``keras.callbacks.History``).

    Attributes:
        history (dict[str, list[float]]): one value per epoch for ``loss``, each
            metric, and ``val_…`` when validating.
        epoch (list[int]): the epoch indices, from 0.
        params (dict): ``epochs``, ``steps`` (batches per epoch), ``verbose``.
        model: the model.
    """

    def __init__(self, model=None, params=None):
        self.model = model
        self.params = dict(params or {})
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def __repr__(self):
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"


# --------------------------------------------------------------------------- losses
_LOSS_NAMES = {
    "mse": "mean_squared_error", "mean_squared_error": "mean_squared_error",
    "binary_crossentropy": "binary_crossentropy",
    "categorical_crossentropy": "categorical_crossentropy",
    "sparse_categorical_crossentropy": "sparse_categorical_crossentropy",
}


def _losses():
    from convlab.ops import losses

    return losses


class _Loss:
    """A loss by name: forward ``f(y_true, y_pred)`` (mean), backward d loss/d y_pred, and the fused forms."""

    def __init__(self, identifier):
        if isinstance(identifier, str):
            key = identifier.lower()
            if key not in _LOSS_NAMES:
                raise ValueError(f"loss must be one of {sorted(_LOSS_NAMES)} or a convlab.losses function, "
                                 f"got {identifier!r}")
            self.name = _LOSS_NAMES[key]
            self.identifier = identifier
        elif callable(identifier) and getattr(identifier, "__name__", None) in _LOSS_NAMES.values():
            self.name = identifier.__name__
            self.identifier = self.name
        else:
            raise TypeError(f"loss must be a name such as 'sparse_categorical_crossentropy' or a convlab.losses "
                            f"function, got {identifier!r}")

    def forward(self, y_true, y_pred):
        return float(getattr(_losses(), self.name)(y_true, y_pred))

    def backward(self, y_true, y_pred):
        return getattr(_losses(), self.name + "_backward")(y_true, y_pred)

    def fused_with(self, activation):
        """``"softmax"``/``"sigmoid"`` when this loss is computed from that activation's logits."""
        if activation == "softmax" and self.name in ("categorical_crossentropy", "sparse_categorical_crossentropy"):
            return "softmax"
        if activation == "sigmoid" and self.name == "binary_crossentropy":
            return "sigmoid"
        return None

    def fused(self, logits, y_true):
        """``(loss, d loss / d logits)``."""
        L = _losses()
        if self.name == "binary_crossentropy":
            loss, d = L.sigmoid_binary_crossentropy(y_true, logits)
        else:
            loss, d = L.softmax_crossentropy(y_true, logits, sparse=self.name.startswith("sparse"))
        return float(loss), d

    def from_logits(self, logits, y_true):
        return self.fused(logits, y_true)[0]


# --------------------------------------------------------------------------- metrics
class _Metric:
    """A mean over examples: ``accuracy`` (resolved as Keras does), ``*_accuracy``, ``mse``/``mae``."""

    _KNOWN = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
              "mse", "mean_squared_error", "mae", "mean_absolute_error")

    def __init__(self, identifier):
        if callable(identifier) and not isinstance(identifier, str):
            self.fn, self.name, self.kind = identifier, getattr(identifier, "__name__", "metric"), "callable"
        elif not isinstance(identifier, str) or identifier.lower() not in self._KNOWN:
            raise ValueError(f"metrics must be names from {list(self._KNOWN)} or functions f(y_true, y_pred), "
                             f"got {identifier!r}")
        else:
            self.fn, self.name, self.kind = None, identifier, identifier.lower()
        self.reset()

    def reset(self):
        self.total, self.count = 0.0, 0

    def _resolve(self, y_true, y_pred):
        """Keras' rule (``compile_utils.is_binary_or_sparse_categorical``) for ``"accuracy"``."""
        if self.kind not in ("accuracy", "acc"):
            return self.kind
        if y_pred.shape[-1] == 1:
            return "binary_accuracy"
        if y_true.ndim < y_pred.ndim or (y_true.shape[-1] == 1 and y_pred.shape[-1] > 1):
            return "sparse_categorical_accuracy"
        return "categorical_accuracy"

    def values(self, y_true, y_pred):
        """Per-example values (float64, length N)."""
        n = y_pred.shape[0]
        if self.fn is not None:  # a user's function: per-example values, or one mean for the batch
            v = np.asarray(self.fn(y_true, y_pred), dtype=np.float64)
            return np.broadcast_to(v.reshape(n, -1).mean(axis=1) if v.ndim and v.shape[0] == n else v, (n,))
        kind = self._resolve(y_true, y_pred)
        if kind == "sparse_categorical_accuracy":
            return (np.argmax(y_pred, axis=-1) == np.asarray(y_true).reshape(n)).astype(np.float64)
        if kind == "categorical_accuracy":
            return (np.argmax(y_pred, axis=-1) == np.argmax(y_true, axis=-1)).astype(np.float64)
        yt = np.asarray(y_true, dtype=np.float64).reshape(y_pred.shape)
        if kind == "binary_accuracy":
            return ((y_pred > 0.5) == (yt > 0.5)).reshape(n, -1).mean(axis=1)
        diff = y_pred.astype(np.float64) - yt
        err = np.square(diff) if kind in ("mse", "mean_squared_error") else np.abs(diff)
        return err.reshape(n, -1).mean(axis=1)

    def update(self, y_true, y_pred):
        v = self.values(y_true, y_pred)
        self.total += float(v.sum())
        self.count += v.size
        return float(v.mean())

    def result(self):
        return self.total / self.count if self.count else 0.0


# --------------------------------------------------------------------------- helpers
def _atomic_savez(path, arrays: dict):
    """Write ``arrays`` as one .npz at ``path`` via a temp file in the same folder, then rename."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".convlab-", suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _read_npz(path, what="model"):
    """Read every array of an .npz into memory; a clear ValueError for a truncated/corrupt file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no such file {path!r}")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as exc:
        raise ValueError(f"{path!r} is not a readable convlab {what} file (truncated or corrupt?): {exc}") from exc
    if "__convlab__" not in arrays:
        raise ValueError(f"{path!r} is not a convlab {what} file (no '__convlab__' entry)")
    try:
        meta = json.loads(str(arrays.pop("__convlab__")))
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path!r}: its architecture entry is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        raise ValueError(f"{path!r} is not a convlab Sequential file (format {meta.get('format')!r})")
    return meta, arrays


def _check_npz_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
    if not os.fspath(path).endswith(".npz"):
        raise ValueError(f"path must end with '.npz', got {os.fspath(path)!r}")


# --------------------------------------------------------------------------- the model
class Sequential:
    """A linear stack of layers (Keras ``Sequential``).

    Args:
        layers: optional list of layers (an :func:`convlab.layers.Input` first
            declares the input shape, as in Keras 3; it is not listed in ``layers``).
        name: model name (automatic: ``sequential``, ``sequential_1``…).
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` for every operation
            (``None`` → numba). Can be changed later: ``model.backend = "numpy"``.

    Example (seeds/004)::

        model = Sequential([Input((28, 28, 1)), Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
                            Flatten(), Dense(100, activation="relu"), Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x_train, y_train, epochs=10, batch_size=32)
    """

    def __init__(self, layers=None, name=None, *, backend=None):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty str or None, got {name!r}")
        self.name = name or _layers.unique_name("sequential")
        self._layers: list = []
        self._input_shape = None  # without batch
        self._backend = None
        self.backend = backend
        self.optimizer = None
        self.loss = None
        self.metrics: list = []
        self._compile_config = None
        self.history = None
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------
    @property
    def layers(self) -> list:
        """The layers in order (a copy of the list)."""
        return list(self._layers)

    @property
    def backend(self):
        return self._backend

    @backend.setter
    def backend(self, value):
        from convlab.util.checks import check_backend

        if value is not None:
            check_backend(value)  # ValueError naming backend
        self._backend = value
        for layer in self._layers:
            layer.backend = value

    @property
    def built(self) -> bool:
        return bool(self._layers) and all(layer.built for layer in self._layers)

    @property
    def input_shape(self):
        """``(None, …)`` once known."""
        return None if self._input_shape is None else (None,) + self._input_shape

    @property
    def output_shape(self):
        return self._layers[-1].output_shape if self.built else None

    def add(self, layer) -> None:
        """Append a layer (an ``InputLayer`` sets the input shape instead); builds it when the input shape is known.

        Raises:
            TypeError: not a convlab layer; ValueError: a duplicate layer name, an
            ``Input`` after other layers, or a layer that cannot take the previous
            output shape.
        """
        if not isinstance(layer, _layers.Layer):
            raise TypeError(f"layer must be a convlab layer (e.g. convlab.layers.Dense), got {type(layer).__name__}")
        if isinstance(layer, _layers.InputLayer):
            if self._layers or self._input_shape is not None:
                raise ValueError("layer: Input() must come first in a Sequential model")
            self._input_shape = layer.shape
            return
        if any(l.name == layer.name for l in self._layers):
            raise ValueError(f"layer: the model already has a layer named {layer.name!r}; names must be unique")
        if not self._layers and self._input_shape is None and layer._declared_input_shape is not None:
            self._input_shape = layer._declared_input_shape
        layer.backend = self._backend
        if self._input_shape is not None:
            prev = self._layers[-1].output_shape if self._layers else (None,) + self._input_shape
            self._build_layer(layer, prev)
        self._layers.append(layer)

    @staticmethod
    def _build_layer(layer, input_shape):
        """Build ``layer`` for ``input_shape``; a layer built for another shape is an error (its weights stay)."""
        if not layer.built:
            layer.build(input_shape)
        elif layer.input_shape != tuple(input_shape):
            raise ValueError(f"layer {layer.name!r} is already built for inputs {layer.input_shape}, but here it "
                             f"would receive {tuple(input_shape)}; use a new layer")

    def pop(self):
        """Remove and return the last layer."""
        if not self._layers:
            raise ValueError("pop: the model has no layers")
        return self._layers.pop()

    def build(self, input_shape) -> None:
        """Build every layer for ``input_shape`` with the batch axis, e.g. ``(None, 28, 28, 1)`` (as Keras).

        Raises:
            ValueError: an empty model, a malformed shape, a layer that cannot take its
            input, or a layer already built for another shape (weights are never
            silently re-initialised).
        """
        if not self._layers:
            raise ValueError("build: the model has no layers")
        shape = _layers.as_shape(input_shape, "input_shape")
        if len(shape) < 2 or None in shape[1:]:
            raise ValueError(f"input_shape must include the batch axis, e.g. (None, 28, 28, 1), got {input_shape!r}")
        self._input_shape = shape[1:]
        prev = (None,) + self._input_shape
        for layer in self._layers:
            self._build_layer(layer, prev)
            prev = layer.output_shape

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{self.name}: the model is not built; give an input shape (Input(...), "
                             f"input_shape=..., build(...)) or call fit() before {what}")

    def to_keras(self, *, compile=True):
        """A ``keras.Sequential`` with the same layers, settings and weights (see :func:`convlab.keras_bridge.to_keras`).

        Needs TensorFlow/Keras 3 (``pip install -e ".[keras]"``); raises ``ImportError`` saying so otherwise.
        """
        from convlab.bridge.keras import to_keras

        return to_keras(self, compile=compile)

    def count_params(self) -> int:
        """Total parameters (Keras ``count_params``)."""
        self._require_built("count_params()")
        return sum(layer.count_params() for layer in self._layers)

    def summary_text(self, show_formula=False) -> str:
        """The Keras-like table of :func:`convlab.shapes.format_summary` as a string."""
        self._require_built("summary()")
        rows = [(l.name, type(l).__name__, l.output_shape, l.count_params(), l.param_formula())
                for l in self._layers]
        trainable = sum(l.count_params() for l in self._layers if l.trainable)
        return shapes.format_summary(rows, title=f'Model: "{self.name}"', show_formula=show_formula,
                                     trainable=trainable)

    def summary(self, print_fn=None, show_formula=False) -> None:
        """Print the summary table (``print_fn`` defaults to ``print``); ``show_formula`` adds each count's formula."""
        (print_fn or print)(self.summary_text(show_formula=show_formula))

    # -- weights -----------------------------------------------------------------
    def _trainable(self):
        return [(layer, k) for layer in self._layers if layer.trainable for k in layer.params]

    def get_weights(self) -> list:
        """Copies of every layer's weights, in order (Keras ``get_weights``)."""
        self._require_built("get_weights()")
        return [w for layer in self._layers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Set every layer's weights from one list (Keras order); all shapes are checked before anything changes.

        Raises:
            ValueError: the wrong number of arrays or a shape that does not fit (naming the layer).
        """
        self._require_built("set_weights()")
        weights = list(weights)
        need = sum(len(layer.params) for layer in self._layers)
        if len(weights) != need:
            raise ValueError(f"weights: the model {self.name!r} has {need} weight arrays, got {len(weights)}")
        checked, i = [], 0
        for layer in self._layers:
            n = len(layer.params)
            checked.append(layer._checked_weights(weights[i:i + n]))
            i += n
        for layer, ws in zip(self._layers, checked):
            for p, w in zip(layer.params.values(), ws):
                np.copyto(p, w)

    # -- compile -----------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None) -> None:
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
            ValueError / TypeError naming the argument.
        """
        if loss is None:
            raise ValueError("loss must be given, e.g. loss='sparse_categorical_crossentropy'")
        opt = _optimizers.get(optimizer)
        loss_obj = _Loss(loss)
        if metrics is None:
            metrics = []
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, (list, tuple)):
            raise TypeError(f"metrics must be a list of names such as ['accuracy'], got {metrics!r}")
        metric_objs = [_Metric(m) for m in metrics]
        self.optimizer, self.loss, self.metrics = opt, loss_obj, metric_objs
        self._compile_config = {"optimizer": _optimizers.serialize(opt), "loss": loss_obj.identifier,
                                "metrics": [m.name for m in metric_objs if m.fn is None]}  # functions: not saved

    def _require_compiled(self, what):
        if self.loss is None:
            raise ValueError(f"{self.name}: call compile(optimizer, loss, metrics) before {what}")

    # -- passes ------------------------------------------------------------------
    def _check_x(self, x, name="x"):
        arr = np.asarray(x)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
        if arr.ndim < 2 or arr.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty batch (N, ...), got shape {arr.shape}")
        if not self.built:
            self.build((None,) + arr.shape[1:])
        if arr.shape[1:] != self._input_shape:
            raise ValueError(f"{name} must have shape (N, {', '.join(map(str, self._input_shape))}) for model "
                             f"{self.name!r}, got {arr.shape}")
        dtype = self._layers[0].dtype
        return arr.astype(dtype, copy=False)

    def _check_y(self, y, n, name="y"):
        arr = np.asarray(y)
        if arr.dtype.kind not in "fiub":
            raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
        if arr.ndim == 0 or arr.shape[0] != n:
            raise ValueError(f"{name} must have one entry per example ({n}), got shape {arr.shape}")
        return arr

    def _forward(self, x, training=False):
        for layer in self._layers:
            x = layer.forward(x, training=training)
        return x

    def _fused(self):
        return self.loss.fused_with(self._layers[-1].activation)

    def _loss_value(self, y_true, y_pred):
        """The loss of a batch already passed forward (from the logits when fused)."""
        if self._fused():
            return self.loss.from_logits(self._layers[-1].preactivation(), y_true)
        return self.loss.forward(self._match(y_true, y_pred), y_pred)

    def _match(self, y_true, y_pred):
        """Reshape ``y_true`` to ``y_pred``'s shape for element-wise losses (Keras squeezes/expands ranks)."""
        if self.loss.name != "sparse_categorical_crossentropy" and y_true.shape != y_pred.shape \
                and y_true.size == y_pred.size:
            return y_true.reshape(y_pred.shape)
        return y_true

    def _forward_backward(self, x, y):
        """Forward (training=True), the loss, and backward through every layer; fills each layer's ``grads``.

        Returns ``(loss, y_pred)``; raises NonFiniteLossError (before any
        backward) when the loss is NaN/inf.
        """
        y_pred = self._forward(x, training=True)
        last = self._layers[-1]
        if self._fused():
            loss, d = self.loss.fused(last.preactivation(), y)
        else:
            yt = self._match(y, y_pred)
            loss = self.loss.forward(yt, y_pred)
            d = self.loss.backward(yt, y_pred) if math.isfinite(loss) else None
        if not math.isfinite(loss):
            raise NonFiniteLossError(f"loss is {loss}", loss=loss)
        d = np.asarray(d, dtype=last.dtype)
        layers = self._layers
        # Nothing before the first layer with weights learns, so that layer's input
        # gradient is never used (Conv2D then skips it: ~15 % of a step) and the
        # layers before it need no backward pass. Without any weights: all layers run.
        first = next((i for i, layer in enumerate(layers) if layer.params), 0)
        for i in range(len(layers) - 1, first - 1, -1):
            layer = layers[i]
            if i == first:  # for this call only; the user's setting (if any) comes back below
                saved = layer.__dict__.get("compute_input_grad", _UNSET)
                layer.compute_input_grad = False
            try:
                if i == len(layers) - 1:
                    d = layer.backward_from_preactivation(d) if self._fused() else layer.backward(d)
                else:
                    d = layer.backward(d)
            finally:
                if i == first:
                    if saved is _UNSET:
                        del layer.compute_input_grad
                    else:
                        layer.compute_input_grad = saved
        return loss, y_pred

    def compute_gradients(self, x, y):
        """The loss of one batch and d loss / d weight for every weight, without updating anything.

        Args:
            x, y: one batch, as for :meth:`fit` (``training=True``: dropout is on).

        Returns:
            ``(loss, grads)``: a float and a list of arrays in :meth:`get_weights` order.
        """
        self._require_compiled("compute_gradients()")
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        with process.training(keep_memory=False):  # the same numbers as a step of fit / train_on_batch
            loss, _ = self._forward_backward(x, y)
        return loss, [layer.grads[k].copy() for layer in self._layers for k in layer.params]

    def _train_step(self, x, y):
        """One optimisation step on a batch; returns ``(loss, y_pred)``.

        Forward (training=True) → loss and d loss/d output (fused from the logits
        when the last activation is softmax/sigmoid with a cross-entropy) →
        backward through every layer → optimizer update. Nothing is updated when
        the loss or an update is NaN/inf (NonFiniteLossError).
        """
        loss, y_pred = self._forward_backward(x, y)
        pairs = [(layer.grads[k], layer.params[k]) for layer, k in self._trainable()]
        if pairs:
            try:
                self.optimizer.apply_gradients(pairs)
            except _optimizers.NonFiniteUpdateError as exc:
                raise NonFiniteLossError(f"{exc} (loss {loss:.6g})", loss=loss) from exc
        return loss, y_pred

    def __call__(self, x, training=False):
        """Forward pass of one batch (no batching), as ``model(x)`` in Keras."""
        return self._forward(self._check_x(x), training=training)

    def train_on_batch(self, x, y):
        """One step on one batch; returns the loss (a float) or ``[loss, metric…]`` for that batch (Keras)."""
        self._require_compiled("train_on_batch()")
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        with process.training():  # BLAS on one thread while training (see convlab.util.process); restored after
            loss, y_pred = self._train_step(x, y)
        if not self.metrics:
            return loss
        return [loss] + [float(m.values(y, y_pred).mean()) for m in self.metrics]

    def predict(self, x, batch_size=32, verbose=0):
        """Outputs for ``x`` in batches (inference mode: dropout off).

        Args:
            x: ``(N, …)`` matching the model's input shape.
            batch_size: positive int.

        Returns:
            ``(N, …)`` array of the last layer's outputs (float32).
        """
        batch_size = positive_int(batch_size, "batch_size")
        x = self._check_x(x)
        outs = []
        for start in range(0, x.shape[0], batch_size):
            outs.append(self._forward(x[start:start + batch_size], training=False))
        return np.concatenate(outs, axis=0)

    def evaluate(self, x, y, batch_size=32, verbose=1, return_dict=False):
        """Loss and metrics on ``(x, y)`` in inference mode (Keras ``evaluate``).

        Returns:
            ``loss`` (float) when compiled without metrics, else ``[loss, metric…]``
            (or a dict with ``return_dict=True``). Batch losses are averaged
            weighted by batch size, as Keras.
        """
        self._require_compiled("evaluate()")
        batch_size = positive_int(batch_size, "batch_size")
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        logs = self._run_eval(x, y, batch_size, verbose=verbose)
        if return_dict:
            return logs
        vals = list(logs.values())
        return vals[0] if len(vals) == 1 else vals

    def _run_eval(self, x, y, batch_size, verbose=0, prefix=""):
        for m in self.metrics:
            m.reset()
        total, count = 0.0, 0
        n = x.shape[0]
        bar = self._bar(math.ceil(n / batch_size), "Evaluate", verbose == 1 and not prefix)
        for start in range(0, n, batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            y_pred = self._forward(xb, training=False)
            total += self._loss_value(yb, y_pred) * xb.shape[0]
            count += xb.shape[0]
            for m in self.metrics:
                m.update(yb, y_pred)
            if bar is not None:
                bar.update(1)
        logs = {prefix + "loss": total / count}
        logs.update({prefix + m.name: m.result() for m in self.metrics})
        if bar is not None:
            bar.set_postfix_str(_fmt_logs(logs))
            bar.close()
        return logs

    @staticmethod
    def _bar(total, desc, enabled):
        if not enabled:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit="step", file=sys.stdout, leave=True, dynamic_ncols=True)

    # -- fit ---------------------------------------------------------------------
    def fit(self, x, y, epochs=1, batch_size=32, validation_data=None, validation_split=0.0, shuffle=True,
            verbose=1, seed=None) -> History:
        """Train for ``epochs`` passes over ``(x, y)`` (Keras ``fit``).

        Args:
            x: ``(N, …)`` inputs (cast to float32); y: ``(N,)`` integer labels for
                sparse cross-entropy, ``(N, classes)`` one-hot, or targets.
            epochs, batch_size: positive ints; the last partial batch is used.
            validation_data: optional ``(x_val, y_val)``.
            validation_split: fraction in [0, 1) held out from the *end* of
                ``(x, y)`` before shuffling (Keras); ignored when ``validation_data`` is given.
            shuffle: reshuffle the training examples every epoch.
            verbose: 0 silent, 1 a tqdm bar per epoch, 2 one line per epoch.
            seed: optional int; if given, :func:`convlab.set_seed` is called first
                (shuffling and dropout then repeat exactly).

        Returns:
            :class:`History` (also kept as ``model.history``).

        Raises:
            ValueError / TypeError naming the argument; NonFiniteLossError (a
            FloatingPointError) naming the epoch and batch when the loss or an
            update becomes NaN/inf — the weights are those of the last good step.
        """
        self._require_compiled("fit()")
        epochs = positive_int(epochs, "epochs")
        batch_size = positive_int(batch_size, "batch_size")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
        if isinstance(validation_split, bool) or not isinstance(validation_split, (int, float)) \
                or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be a float in [0, 1), got {validation_split!r}")
        if seed is not None:
            _layers.set_seed(seed)
        x = self._check_x(x)
        y = self._check_y(y, x.shape[0])
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            xv = self._check_x(validation_data[0], "validation_data[0]")
            val = (xv, self._check_y(validation_data[1], xv.shape[0], "validation_data[1]"))
        elif validation_split:
            split_at = int(math.floor(x.shape[0] * (1.0 - validation_split)))
            if split_at == 0 or split_at == x.shape[0]:
                raise ValueError(f"validation_split={validation_split} leaves no training or no validation data "
                                 f"for {x.shape[0]} examples")
            val = (x[split_at:], y[split_at:])
            x, y = x[:split_at], y[:split_at]
        n = x.shape[0]
        steps = math.ceil(n / batch_size)
        history = History(self, {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.history = history
        rng = _layers.get_rng()
        with process.training():  # BLAS on one thread while training (see convlab.util.process); restored after
            for epoch in range(epochs):
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
                            raise NonFiniteLossError(
                                f"training stopped at epoch {epoch + 1}/{epochs}, batch {b + 1}/{steps}: {exc}; the "
                                "weights are those of the last good step (try a smaller learning_rate)",
                                epoch=epoch + 1, batch=b + 1, loss=exc.loss) from exc
                        total += loss * xb.shape[0]
                        count += xb.shape[0]
                        for m in self.metrics:
                            m.update(yb, y_pred)
                        if bar is not None:
                            bar.update(1)
                            if b % 10 == 0 or b == steps - 1:
                                bar.set_postfix_str(_fmt_logs(self._logs(total, count)), refresh=False)
                    logs = self._logs(total, count)
                    if val is not None:
                        logs.update(self._run_eval(val[0], val[1], batch_size, prefix="val_"))
                    if bar is not None:
                        bar.set_postfix_str(_fmt_logs(logs))
                finally:
                    if bar is not None:
                        bar.close()
                history._append(epoch, logs)
                if verbose == 2:
                    print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - t0:.1f}s - {_fmt_logs(logs)}",
                          flush=True)
        return history

    def _logs(self, total, count):
        logs = {"loss": total / max(count, 1)}
        logs.update({m.name: m.result() for m in self.metrics})
        return logs

    # -- config and files --------------------------------------------------------
    def get_config(self) -> dict:
        """Keras-like ``{"name", "layers": [{"class_name", "config"}…], "build_input_shape"}``."""
        return {"name": self.name, "layers": [_layers.serialize(l) for l in self._layers],
                "build_input_shape": None if self._input_shape is None else [None, *self._input_shape]}

    @classmethod
    def from_config(cls, config: dict, backend=None) -> "Sequential":
        """Rebuild (untrained weights) from :meth:`get_config`'s dict. Raises ValueError for a bad config."""
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError(f"config must be a dict with a 'layers' list, got {config!r}")
        model = cls(name=config.get("name"), backend=backend)
        for spec in config["layers"]:
            layer = _layers.deserialize(spec)
            model.add(layer)
        if config.get("build_input_shape") is not None:
            model.build(tuple(config["build_input_shape"]))
        return model

    def _file_arrays(self, include_optimizer=True):
        meta = {"format": _FORMAT, "version": _FORMAT_VERSION, "config": self.get_config(),
                "compile_config": self._compile_config, "backend": self._backend,
                "n_weights": sum(len(l.params) for l in self._layers)}
        arrays = {f"weight_{i:04d}": w for i, w in enumerate(self.get_weights())}
        if include_optimizer and self.optimizer is not None:
            state = self.optimizer.get_state()
            meta["n_optimizer_state"] = len(state)
            arrays.update({f"optimizer_{i:04d}": s for i, s in enumerate(state)})
        arrays["__convlab__"] = np.array(json.dumps(meta))
        return arrays

    def save(self, path) -> None:
        """Save architecture (JSON), weights, compile config and optimizer state to one ``.npz`` file.

        Metrics given as functions are not saved (compile again after loading to use them).

        Written to a temp file in the same folder, then renamed: an interrupted
        save never leaves a half-written file at ``path``.

        Raises:
            ValueError: ``path`` does not end with ``.npz`` or the model is not built.
        """
        _check_npz_path(path)
        self._require_built("save()")
        _atomic_savez(path, self._file_arrays())

    def save_weights(self, path) -> None:
        """Save only the weights (and architecture, for checks) to a ``.npz`` file, atomically."""
        _check_npz_path(path)
        self._require_built("save_weights()")
        _atomic_savez(path, self._file_arrays(include_optimizer=False))

    def load_weights(self, path) -> None:
        """Load weights saved by :meth:`save` / :meth:`save_weights` into this model.

        The file is read and every array checked against this model's layers before
        anything is assigned: a truncated file or weights of another architecture
        raise ``ValueError`` and leave the model unchanged.
        """
        self._require_built("load_weights()")
        meta, arrays = _read_npz(path, "weights")
        weights = _weights_from(meta, arrays, path)
        try:
            self.set_weights(weights)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{os.fspath(path)!r}: the weights do not fit model {self.name!r}: {exc}") from exc

    def __repr__(self):
        return f"<Sequential name={self.name!r} layers={[l.name for l in self._layers]}>"


def _weights_from(meta, arrays, path):
    n = meta.get("n_weights")
    keys = [f"weight_{i:04d}" for i in range(n if isinstance(n, int) else 0)]
    missing = [k for k in keys if k not in arrays]
    if not isinstance(n, int) or missing:
        raise ValueError(f"{os.fspath(path)!r}: weights missing from the file ({missing[:3]}…)")
    return [arrays[k] for k in keys]


def _fmt_logs(logs):
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def load_model(path, backend=None) -> Sequential:
    """Load a model written by :meth:`Sequential.save`: architecture, weights, compile config, optimizer state.

    Args:
        path: the ``.npz`` file (never modified).
        backend: override the saved backend.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a truncated/corrupt file, not a convlab model, or weights that
        do not fit the architecture.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {path!r}")
    meta, arrays = _read_npz(path)
    try:
        model = Sequential.from_config(meta["config"], backend=backend or meta.get("backend"))
        model.set_weights(_weights_from(meta, arrays, path))
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{os.fspath(path)!r}: cannot rebuild the model: {exc}") from exc
    cc = meta.get("compile_config")
    if cc:
        model.compile(_optimizers.deserialize(cc["optimizer"]), cc["loss"], cc.get("metrics"))
        n = meta.get("n_optimizer_state")
        if n:
            state = [arrays[f"optimizer_{i:04d}"] for i in range(n)]
            variables = [layer.params[k] for layer, k in model._trainable()]
            try:
                model.optimizer.set_state(state, variables)
            except ValueError as exc:
                raise ValueError(f"{os.fspath(path)!r}: optimizer state does not fit: {exc}") from exc
    return model
