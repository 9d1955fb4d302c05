"""The optional dependency: Keras 3 on TensorFlow, imported only when a function needs it.

``import convlab`` never imports TensorFlow (it takes seconds and is an extra:
``pip install -e ".[keras]"``). The edges that need it — the Keras bridge and
the VGG wrapper — call :func:`import_keras` / :func:`import_tensorflow` inside
their functions, and a missing or unsuitable install becomes one clear
``ImportError`` that says what to install.
"""

from __future__ import annotations

from types import ModuleType

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
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError(f"{who} needs TensorFlow, which is not installed; {INSTALL_HINT}") from exc
    return tf


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
