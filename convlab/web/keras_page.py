"""Page 4, "Your model": a Keras ``.keras`` classifier (``convlab serve --model my.keras``), loaded lazily.

TensorFlow is imported only to load the model (through :mod:`convlab.bridge.vgg`, inside functions), so
the other pages start and run without it; :meth:`KerasSlot.status` says how to install it when it is missing.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from convlab.util.i18n import _, ngettext
from convlab.web.errors import ApiError

__all__ = ["KERAS_INSTALL", "KerasSlot", "photo_for", "tensorflow_installed"]

KERAS_INSTALL = 'pip install "convlab[keras]"'


@functools.lru_cache(maxsize=1)
def tensorflow_installed() -> bool:
    """Whether TensorFlow and Keras could be imported (found without importing them: that takes seconds).
    Asked once per process: /api/status is polled every second while the model trains."""
    try:
        return importlib.util.find_spec("tensorflow") is not None and importlib.util.find_spec("keras") is not None
    except (ImportError, ValueError):
        return False


def photo_for(image: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
    """A decoded photo as a Keras image model reads it: uint8 ``(h, w, c)``, as :func:`convlab.vgg.predict_image`
    reads a file (:func:`convlab.data.images.load_image`: RGB, or ``rgb2gray`` for c = 1; bilinear resize
    with anti-aliasing).

    Args:
        image: uint8 ``(H, W)`` or ``(H, W, 3)`` from :func:`convlab.web.images.decode_upload`.
        shape: the model's ``(h, w, c)``, c = 1 or 3.
    """
    from skimage import color, transform

    h, w, c = shape
    img = np.asarray(image)
    if c == 3 and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    elif c == 1:
        if img.ndim == 3:
            img = np.round(color.rgb2gray(img) * 255).astype(np.uint8)
        img = img[..., None]
    if img.shape[:2] != (h, w):
        img = transform.resize(img, (h, w, img.shape[2]), order=1, anti_aliasing=True, preserve_range=True)
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img, dtype=np.uint8)


class KerasSlot:
    """Page 4's Keras model: given as a ``.keras`` path (loaded on first use, or by :meth:`start_loading`
    in a thread) or as a loaded model object; TensorFlow is imported only to load it.

    Args:
        path: the ``.keras`` file (``--model x.keras``) or ``None``.
        classes: ``--classes`` when they apply to this model; else the names saved in the file
            (:func:`convlab.vgg.save_model` ``class_names=``), else "class 0" … "class K-1".
        model: an already loaded model (tests; anything with ``input_shape``, ``output_shape`` and
            ``predict(x, verbose=0)``, as Keras models have).
    """

    def __init__(self, path: str | os.PathLike | None = None, classes: Sequence[str] | None = None, model: Any = None):
        self.path = None if path is None else Path(path)
        self.given_classes = None if classes is None else [str(c) for c in classes]
        self.saved_classes: list[str] | None = None  # read from the file (vgg.save_model(class_names=...))
        self.model = None
        self.classes: list[str] = []
        self.shape: tuple[int, int, int] | None = None
        self.error: str | None = None
        self.loading = False
        self._load_lock = threading.Lock()  # one load at a time; a request waits for a load in progress
        self._predict_lock = threading.Lock()
        if model is not None:
            self._adopt(model)

    @staticmethod
    def saved_class_names(path: str | os.PathLike) -> list[str] | None:
        """The class names stored in a ``.keras`` file by :func:`convlab.vgg.save_model`, or ``None``.

        Reads the zip archive only (no TensorFlow). Raises FileNotFoundError / ValueError (not a zip
        archive, bad names) naming the file, as :func:`convlab.vgg.class_names_of`.
        """
        from convlab.bridge import vgg

        names = vgg.class_names_of(path)
        return None if names is None else list(names)

    def _adopt(self, model: Any) -> None:
        shape = tuple(model.input_shape)
        if len(shape) != 4 or any(d is None for d in shape[1:]) or shape[3] not in (1, 3):
            raise ValueError(f"the Keras model must take images (None, H, W, 1 or 3), got input_shape {shape}")
        outputs = int(model.output_shape[-1])
        if self.given_classes is not None:
            if len(self.given_classes) != outputs:
                raise ValueError(
                    f"--classes names {len(self.given_classes)} classes ({', '.join(self.given_classes)}) but the "
                    f"Keras model has {outputs} outputs"
                )
            names = list(self.given_classes)
        elif self.saved_classes is not None and len(self.saved_classes) == outputs:
            names = list(self.saved_classes)
        else:
            names = [_("class {i}").format(i=i) for i in range(outputs)]
        # shape and classes first: other threads take a model that is not None as ready to use
        self.classes, self.shape = names, (int(shape[1]), int(shape[2]), int(shape[3]))
        self.model = model

    def load(self) -> Any:
        """The model, loading it now if needed (once; a second caller waits). Records an error instead of raising."""
        if self.model is not None or self.error is not None or self.path is None:
            return self.model
        with self._load_lock:
            if self.model is not None or self.error is not None:
                return self.model
            if not tensorflow_installed():
                self.error = _("this page needs TensorFlow, which is not installed: {install}").format(
                    install=KERAS_INSTALL
                )
                return None
            self.loading = True
            try:
                from convlab.bridge import vgg

                self.saved_classes = self.saved_class_names(self.path)
                self._adopt(vgg.load_model(self.path))
            except Exception as exc:  # a bad file, TensorFlow's own errors: shown on the page, not a 500
                self.error = _("cannot load --model {file}: {error}").format(
                    file=self.path.name, error=" ".join(str(exc).split())[:500]
                )
                print(f"convlab serve: {self.error}", file=sys.stderr, flush=True)
            finally:
                self.loading = False
        return self.model

    def start_loading(self) -> threading.Thread | None:
        """Load in a daemon thread (TensorFlow takes seconds to import); ``None`` when there is nothing to load."""
        if self.path is None or self.model is not None:
            return None
        self.loading = True  # seen by /api/status before the thread runs
        thread = threading.Thread(target=self.load, name="convlab-keras-load", daemon=True)
        thread.start()
        return thread

    def status(self) -> dict[str, Any]:
        """``{"available", "state", "message", "classes", "input_shape", "file"}`` — never imports TensorFlow."""
        out: dict[str, Any] = {
            "available": False,
            "state": "none",
            "message": "",
            "classes": list(self.classes),
            "input_shape": None if self.shape is None else list(self.shape),
            "file": None if self.path is None else self.path.name,
        }
        if self.model is not None:
            h, w, c = self.shape
            listed = ", ".join(self.classes[:10]) + (", …" if len(self.classes) > 10 else "")
            message = ngettext(
                "{file}: {n} class ({classes}), photos resized to {size}",
                "{file}: {n} classes ({classes}), photos resized to {size}",
                len(self.classes),
            ).format(file=out["file"] or _("Keras model"), n=len(self.classes), classes=listed, size=f"{h}×{w}")
            out.update(available=True, state="ready", message=message)
        elif self.error is not None:
            out.update(state="error", message=self.error)
        elif not tensorflow_installed():
            out.update(
                state="no-tensorflow",
                message=_(
                    "this page runs a Keras model, which needs TensorFlow; it is not installed: {install}, then start "
                    "with `convlab serve --model my.keras`"
                ).format(install=KERAS_INSTALL),
            )
        elif self.path is None:
            out.update(
                message=_(
                    "no Keras model: start the explorer with `convlab serve --model my.keras` (a model saved with "
                    "convlab.vgg.save_model, e.g. by lessons/11) to classify your photos here"
                ),
            )
        else:
            out.update(
                available=True,
                state="loading",
                message=_("loading {file} (TensorFlow starts)…").format(file=self.path.name),
            )
        return out

    def predict(self, image: np.ndarray, top: int = 3) -> dict[str, Any]:
        """The ``top`` most probable classes for a decoded photo, as :func:`convlab.vgg.predict_image`.

        Raises:
            ApiError: 503 with the how-to when there is no usable model.
        """
        model = self.load()
        if model is None:
            raise ApiError(503, self.status()["message"])
        from convlab.bridge import vgg

        x = photo_for(image, self.shape)
        with self._predict_lock:
            ranked = vgg.predict_image(model, x, self.classes, top=top, verbose=False)
        return {
            "top": [{"class": name, "probability": p} for name, p in ranked],
            "input_shape": list(self.shape),
            "classes": list(self.classes),
        }
