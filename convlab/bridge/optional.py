"""The optional dependency: Keras 3 on TensorFlow, imported only when a function needs it.

``import convlab`` never imports TensorFlow (it takes seconds and is an extra:
``pip install -e ".[keras]"``). The edges that need it — the Keras bridge and
the VGG wrapper — call :func:`import_keras` / :func:`import_tensorflow` inside
their functions, and a missing or unsuitable install becomes one clear
``ImportError`` that says what to install.

The import is quiet: TensorFlow's C++ start-up lines (absl's "All log messages
before absl::InitializeLog()", "Could not find cuda drivers", a failed
``cuInit``) are not convlab's output, and in a lesson they bury the numbers.
``TF_CPP_MIN_LOG_LEVEL`` defaults to 3 (errors only; a value you set is kept),
the native standard error is discarded for the length of the import
(:func:`convlab.util.quiet.native_stderr_silenced`), and absl's Python logger
is set to errors only.
"""

from __future__ import annotations

import os
from types import ModuleType

from convlab.util.quiet import native_stderr_silenced

__all__ = ["INSTALL_HINT", "import_keras", "import_tensorflow"]

INSTALL_HINT = 'install it with: pip install -e ".[keras]" (or pip install "tensorflow>=2.16")'


def import_tensorflow(who: str) -> ModuleType:
    """The ``tensorflow`` module, imported on first use.

    Args:
        who: what needs it, for the message (e.g. ``"convlab.vgg"``).

    Raises:
        ImportError: TensorFlow is not installed; the message names ``who`` and says how to install it.
    """
    try:
        _import_quietly()
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError(f"{who} needs TensorFlow, which is not installed; {INSTALL_HINT}") from exc
    return tf


def _import_quietly() -> None:
    """Import TensorFlow and Keras (if not imported yet) without their native start-up lines.

    Raises:
        ImportError: as the plain imports would (TensorFlow missing, or Keras missing once
            TensorFlow is there).
    """
    import sys

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with native_stderr_silenced():
            import tensorflow

            # Listing the devices loads the CUDA driver now, inside the silence. Where a driver
            # is installed but no GPU answers, its "failed call to cuInit" line comes at this
            # moment (any TF_CPP_MIN_LOG_LEVEL below 3 lets it through), or else mid-lesson.
            tensorflow.config.list_physical_devices()
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; without it there is nothing to quieten
        pass


def import_keras(who: str, *, tensorflow_backend: bool = True) -> ModuleType:
    """Keras 3 (on TensorFlow when ``tensorflow_backend``), or ``ImportError`` saying what is wrong.

    Args:
        who: what needs it, for the message (e.g. ``"the Keras bridge"``).
        tensorflow_backend: also require ``keras.backend.backend() == "tensorflow"``
            (the bridge compares against ``tf.GradientTape``).

    Raises:
        ImportError: Keras is missing, older than 3, or on another backend.
    """
    try:
        if tensorflow_backend or os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
            _import_quietly()
        import keras
    except ImportError as exc:
        raise ImportError(f"{who} needs Keras 3 on TensorFlow, which is not installed; {INSTALL_HINT}") from exc
    if int(keras.__version__.split(".")[0]) < 3:
        raise ImportError(f"{who} needs Keras 3, found keras {keras.__version__}; {INSTALL_HINT}")
    if tensorflow_backend and keras.backend.backend() != "tensorflow":
        raise ImportError(
            f"{who} needs Keras' TensorFlow backend, but KERAS_BACKEND is {keras.backend.backend()!r}; "
            "set KERAS_BACKEND=tensorflow before importing keras"
        )
    return keras
