"""What the explorer's API answers on purpose: :class:`ApiError` (a status and a message for the user)."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "shown"]


class ApiError(Exception):
    """An answer the API gives on purpose: ``status`` (4xx/503) and a message for the user; ``extra`` is
    merged into the JSON body (e.g. the training progress with a 503)."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = int(status), message, extra


def shown(value: object, limit: int = 40) -> str:
    """``repr`` of a user's value, cut to ``limit`` characters so an error message stays short."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
