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
    app            the Flask app: pages, JSON API, errors, limits, headers
    server         serving it with waitress until Ctrl-C

``create_app``, ``ExplorerState`` and ``serve`` are importable from here; they are loaded on first
access, so ``import convlab.web.images`` does not import Flask.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "ExplorerState", "serve"]


def __getattr__(name: str) -> Any:
    if name in ("create_app", "ExplorerState"):
        from convlab.web import app

        return getattr(app, name)
    if name == "serve":
        from convlab.web.server import serve

        return serve
    raise AttributeError(f"module 'convlab.web' has no attribute {name!r}")
