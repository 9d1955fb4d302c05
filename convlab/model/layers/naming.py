"""Automatic layer and model names, as Keras gives them: ``conv2d``, ``conv2d_1``, ``dense``, ``max_pooling2d`` …

One counter per prefix (as ``keras.backend.get_uid``); :func:`reset_names`
restarts them all (as ``keras.backend.clear_session``).
"""

from __future__ import annotations

import re

__all__ = ["unique_name", "reset_names", "snake_case"]

_UIDS: dict[str, int] = {}


def unique_name(prefix: str) -> str:
    """``prefix`` the first time, then ``prefix_1``, ``prefix_2`` … (one counter per prefix)."""
    n = _UIDS.get(prefix, 0)
    _UIDS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Restart automatic layer/model names (``dense``, ``dense_1``…), as ``keras.backend.clear_session``."""
    _UIDS.clear()


def snake_case(name: str) -> str:
    """Keras' ``to_snake_case``: ``MaxPooling2D`` → ``max_pooling2d``, ``ReLU`` → ``re_lu``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()
