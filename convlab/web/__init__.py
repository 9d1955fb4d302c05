"""The convlab explorer: a local web app to draw a digit, watch it flow through the network, and click any
number to see its arithmetic (``convlab serve``).

Level: between ``bridge`` and ``cli`` (``pyproject.toml``'s import contract). TensorFlow is imported only
through :mod:`convlab.bridge.vgg`, inside functions, for page 4's Keras model.

Modules:
    images         decoding untrusted uploads and canvas payloads (never written to disk)
    digits         MNIST-style preprocessing; fitting an image to any model's input
    explain        every layer's output; how one number of a layer was computed
    arithmetic     the convolution-arithmetic page's numbers
    default_model  the cached default model (seeds/004's CNN), trained on first use
    lessons        the lesson pages the explorer's pages link to (read from the repository's lessons/)
    errors         ApiError: what the API answers on purpose (a status and a message)
    keras_page     page 4's Keras model, loaded lazily (TensorFlow only there)
    state          what is served: the model or its training, the inputs kept by id, the Keras slot
    language       the explorer's language (English or Spanish): gettext for templates and scripts
    app            the Flask app: pages, JSON API, errors, limits, headers
    server         serving it with waitress until Ctrl-C

``create_app``, ``ExplorerState`` and ``serve`` are importable from here; they are loaded on first
access, so ``import convlab.web.images`` does not import Flask. The explorer speaks one language per
server: ``create_app(state, lang="es")`` (``convlab serve --lang es``), else the one in use
(:mod:`convlab.util.i18n`: the locale's unless set).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "ExplorerState", "serve"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from convlab.web.app import create_app

        return create_app
    if name == "ExplorerState":
        from convlab.web.state import ExplorerState

        return ExplorerState
    if name == "serve":
        from convlab.web.server import serve

        return serve
    raise AttributeError(f"module 'convlab.web' has no attribute {name!r}")
