"""What the explorer serves: the convlab model (or its training progress), the inputs pages refer to by id,
and page 4's Keras slot.

Threads: waitress serves requests on several threads. convlab's layers keep the
last forward pass for the backward pass (``Layer._cache``), so one model is never
run by two threads at once: every forward pass holds :attr:`ExplorerState.model_lock`.
The inputs a page refers to by id live in a bounded LRU (:class:`InputCache`).
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from convlab.model.sequential import Sequential
from convlab.util.i18n import _
from convlab.web import default_model
from convlab.web.errors import ApiError
from convlab.web.images import MAX_UPLOAD_BYTES
from convlab.web.keras_page import KerasSlot

__all__ = ["InputCache", "ExplorerState", "check_servable", "class_names_for"]


class InputCache:
    """The inputs pages refer to by id: a thread-safe LRU bounded by count and by bytes.

    Keys are ``input_id(x)`` = the first 16 hex digits of SHA-256 of the float32 input's bytes, so the
    same image always gets the same id. Values are ``(x, label)``, ``x`` read-only.
    """

    def __init__(self, max_items: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_items, self.max_bytes = int(max_items), int(max_bytes)
        self._items: OrderedDict[str, tuple[np.ndarray, int | None]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def input_id(x: np.ndarray) -> str:
        """First 16 hex digits of SHA-256 of ``x``'s float32 bytes (C order)."""
        return hashlib.sha256(np.ascontiguousarray(x, dtype=np.float32).tobytes()).hexdigest()[:16]

    def put(self, x: np.ndarray, label: int | None = None) -> str:
        """Keep ``x`` (float32 ``(H, W, C)``) and its true label; return its id. Evicts the least recently used."""
        x = np.array(x, dtype=np.float32, copy=True)
        x.setflags(write=False)
        key = self.input_id(x)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[0].nbytes
                label = old[1] if label is None else label
            self._items[key] = (x, label)
            self._bytes += x.nbytes
            while len(self._items) > self.max_items or (self._bytes > self.max_bytes and len(self._items) > 1):
                _key, (gone, _label) = self._items.popitem(last=False)
                self._bytes -= gone.nbytes
        return key

    def get(self, key: str) -> tuple[np.ndarray, int | None] | None:
        """``(x, label)`` for ``key`` (now the most recently used), or ``None`` when unknown or evicted."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held by the kept inputs."""
        with self._lock:
            return self._bytes


def check_servable(model: object) -> tuple[int, int, int]:
    """The ``(H, W, C)`` input of a convlab model the explorer can show, or ``ValueError`` saying why not.

    Pages 1–2 need a built ``Sequential`` that takes one image ``(H, W, C)`` with C = 1 or 3 and
    outputs one vector of class scores ``(K,)``.
    """
    if not isinstance(model, Sequential):
        raise ValueError(f"the model must be a convlab Sequential, got {type(model).__name__}")
    if not model.built:
        raise ValueError("the model is not built: give its first layer an Input or input_shape")
    shape = tuple(model.input_shape or ())
    if len(shape) != 4 or shape[3] not in (1, 3):
        raise ValueError(
            f"the model must take images (H, W, C) with C = 1 (greyscale) or 3 (RGB), got input shape {shape[1:]}"
        )
    out = tuple(model.output_shape or ())
    if len(out) != 2:
        raise ValueError(f"the model must output one vector of class scores (K,), got output shape {out[1:]}")
    return int(shape[1]), int(shape[2]), int(shape[3])


def class_names_for(outputs: int, classes: Sequence[str] | None, saved: Sequence[str] | None = None) -> list[str]:
    """Class names for a model with ``outputs`` outputs: ``classes`` (``--classes``) if given, else the names
    saved with the model, else ``"0"`` … ``"K-1"``.

    Raises:
        ValueError: ``classes`` has another count (the message names ``--classes``).
    """
    if classes is not None:
        names = [str(c) for c in classes]
        if len(names) != outputs:
            raise ValueError(
                f"--classes names {len(names)} classes ({', '.join(names)}) but the model has {outputs} outputs"
            )
        return names
    if saved is not None and len(saved) == outputs:
        return [str(c) for c in saved]
    return [str(i) for i in range(outputs)]


class ExplorerState:
    """What the app serves: the convlab model (or its training progress), the inputs, the Keras slot.

    Args:
        model: a convlab ``Sequential`` (see :func:`check_servable`), or ``None`` while the
            default model trains (:meth:`train_default_in_background`).
        classes: class names (``--classes``); default: the model's saved ``class_names``, else "0"…"K-1".
        source: ``"default"`` (the explorer's own MNIST CNN) or ``"file"`` (``--model x.npz``).
        description: one line for the status bar (e.g. "trained on 4,000 MNIST digits").
        file: the model file's name, shown on the pages (only the name, never the folder).
        test_digits: ``(x uint8 (N, 28, 28), y (N,))`` for ``{"test_index": i}``; default: the
            MNIST-5k protocol's 1,000 held-out digits (read on first use).
        keras: the Keras slot (default: an empty one).
        max_inputs: how many inputs the LRU keeps.

    Raises:
        ValueError: the model cannot be served, or ``classes`` does not fit it.
    """

    def __init__(
        self,
        model: Sequential | None = None,
        *,
        classes: Sequence[str] | None = None,
        source: str = "file",
        description: str = "",
        file: str | None = None,
        test_digits: tuple[np.ndarray, np.ndarray] | None = None,
        keras: KerasSlot | None = None,
        max_inputs: int = 256,
    ) -> None:
        self._lock = threading.Lock()
        #: Held by every forward pass through the convlab model (the layers cache their last pass).
        self.model_lock = threading.Lock()
        self.inputs = InputCache(max_inputs)
        self.keras = keras if keras is not None else KerasSlot()
        self._test_digits = test_digits
        self._given_classes = None if classes is None else list(classes)
        self.model: Sequential | None = None
        self.classes: list[str] = []
        self.input_shape: tuple[int, int, int] | None = None
        self.source, self.description, self.file = source, description, file
        self._training: dict[str, Any] | None = None
        self.training_error: str | None = None
        if model is not None:
            self.set_model(model, classes=classes, source=source, description=description, file=file)

    # -- the model
    def set_model(
        self,
        model: Sequential,
        *,
        classes: Sequence[str] | None = None,
        source: str | None = None,
        description: str | None = None,
        file: str | None = None,
    ) -> None:
        """Serve ``model`` from now on (ends the training state). Raises ValueError as the constructor."""
        shape = check_servable(model)
        classes = self._given_classes if classes is None else list(classes)
        names = class_names_for(int(model.output_shape[-1]), classes, getattr(model, "class_names", None))
        with self._lock:
            self.model, self.classes, self.input_shape = model, names, shape
            if source is not None:
                self.source = source
            if description is not None:
                self.description = description
            if file is not None:
                self.file = file
            self._training = None
            self.training_error = None

    @property
    def ready(self) -> bool:
        """Whether a convlab model is being served."""
        return self.model is not None

    def served(self) -> tuple[Sequential, list[str], tuple[int, int, int]]:
        """``(model, classes, input_shape)``, or ApiError 503 saying why there is none (training, failed)."""
        with self._lock:
            model, classes, shape, training, error = (
                self.model,
                self.classes,
                self.input_shape,
                self._training,
                self.training_error,
            )
        if model is not None:
            return model, classes, shape
        if training is not None:
            raise ApiError(
                503,
                _(
                    "the model is still training (epoch {epoch}/{epochs}); this page goes on by itself when it is ready"
                ).format(epoch=training["epoch"], epochs=training["epochs"]),
                training=training,
            )
        if error is not None:
            raise ApiError(503, error)
        raise ApiError(503, _("no model is loaded: start the explorer with `convlab serve`"))

    # -- training
    def begin_training(self, epochs: int, batches: int = 0, message: str | None = None) -> None:
        """Enter the training state (predict/layers/explain answer 503 with the progress); ``message``: the
        status line's (default "training the model…", translated)."""
        message = _("training the model…") if message is None else message
        with self._lock:
            self._training = {
                "epoch": 0,
                "epochs": int(epochs),
                "batch": 0,
                "batches": int(batches),
                "loss": None,
                "accuracy": None,
                "message": message,
            }
            self.training_error = None

    def update_training(self, progress: dict[str, Any]) -> None:
        """Record training progress (``{"epoch", "epochs", "batch", "batches", "loss", "accuracy", "message"}``)."""
        with self._lock:
            if self._training is None:
                self._training = {}
            self._training.update({k: v for k, v in progress.items() if k in _TRAINING_KEYS})

    def training_failed(self, message: str) -> None:
        """Leave the training state with an error the API shows (503)."""
        with self._lock:
            self._training = None
            self.training_error = message

    @property
    def training(self) -> dict[str, Any] | None:
        """A copy of the training progress, or ``None`` when not training."""
        with self._lock:
            return None if self._training is None else dict(self._training)

    def train_default_in_background(
        self,
        plan: default_model.TrainingPlan | None = None,
        *,
        stop: threading.Event | None = None,
        save_to: str | os.PathLike | None = None,
        log: Callable[[str], None] | None = print,
    ) -> threading.Thread:
        """Train the default model in a daemon thread, save it (``save_to``, default the cache file) and serve it.

        The thread reports progress to :attr:`training`; a failure becomes :attr:`training_error`
        (the API's 503 message) and a line on stderr. A model that cannot be saved is still served.
        """
        plan = plan or default_model.training_plan()
        self.begin_training(plan.epochs, -(-plan.train_size // default_model.BATCH_SIZE))

        def run() -> None:
            try:
                model = default_model.train(self.update_training, plan=plan, stop=stop, log=log)
            except default_model.TrainingStopped:
                return
            except Exception as exc:  # shown on the pages and in the terminal; the server keeps running
                self.training_failed(
                    _("training the model failed: {error}").format(
                        error=f"{type(exc).__name__}: {' '.join(str(exc).split())}"
                    )
                )
                print(f"convlab serve: {self.training_error}", file=sys.stderr, flush=True)
                return
            try:
                path = default_model.save(model, save_to)
                if log:
                    log(_("saved the model to {path}; later starts reuse it").format(path=path))
            except OSError as exc:
                warning = _("warning: cannot save the model ({error}); it is served now and trained again next time")
                print(f"convlab serve: {warning.format(error=exc)}", file=sys.stderr, flush=True)
            self.set_model(
                model,
                source="default",
                description=default_model.describe(model, plan),
                file=default_model.FILENAME,
            )
            if log:
                log(_("the model is ready: reload the page if it does not update by itself"))

        thread = threading.Thread(target=run, name="convlab-train", daemon=True)
        thread.start()
        return thread

    # -- inputs
    def test_digit(self, index: int) -> tuple[np.ndarray, int]:
        """Held-out digit ``index``: ``(uint8 (28, 28), label)``. Raises ApiError 400 out of range."""
        if self._test_digits is None:
            *_train, x_test, y_test = default_model.mnist_split()
            self._test_digits = (x_test, y_test)
        x, y = self._test_digits
        if not 0 <= index < len(x):
            raise ApiError(
                400, _("test_index must be an int in [0, {last}], got {value}").format(last=len(x) - 1, value=index)
            )
        return np.asarray(x[index]), int(y[index])

    def status(self) -> dict[str, Any]:
        """The body of ``GET /api/status``."""
        with self._lock:
            model, training, error = self.model, self._training, self.training_error
            classes, shape = list(self.classes), self.input_shape
        info = None
        if model is not None:
            info = {
                "source": self.source,
                "file": self.file,
                "description": self.description,
                "input_shape": list(shape),
                "classes": classes,
                "params": int(model.count_params()),
                "layers": [
                    {
                        "index": i,
                        "name": layer.name,
                        "class_name": type(layer).__name__,
                        "output_shape": [int(d) for d in layer.output_shape[1:]],
                        "params": int(layer.count_params()),  # all weights, as Keras' Param #
                    }
                    for i, layer in enumerate(model.layers)
                ],
            }
        return {
            "ready": model is not None,
            "training": None if training is None else dict(training),
            "error": error,
            "model": info,
            "keras": self.keras.status(),
            "max_upload_bytes": MAX_UPLOAD_BYTES,
            "inputs_kept": len(self.inputs),
        }


_TRAINING_KEYS = ("epoch", "epochs", "batch", "batches", "loss", "accuracy", "message")
