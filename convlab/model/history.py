"""What ``fit`` returns (``History``) and the error it raises when training diverges (``NonFiniteLossError``)."""

from __future__ import annotations

from typing import Any

__all__ = ["History", "NonFiniteLossError"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or inf loss (or update); the weights are those of the last good step.

    Attributes:
        epoch (int | None): 1-based epoch, when raised by ``fit``.
        batch (int | None): 1-based batch within the epoch, when raised by ``fit``.
        loss (float | None): the loss of the failing step.
    """

    def __init__(
        self, message: str, epoch: int | None = None, batch: int | None = None, loss: float | None = None
    ) -> None:
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

    def __init__(self, model: Any = None, params: dict[str, Any] | None = None) -> None:
        self.model = model
        self.params = dict(params or {})
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        """Record one epoch's ``logs`` (name → value)."""
        self.epoch.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, []).append(float(v))

    def __repr__(self) -> str:
        return f"<History epochs={len(self.epoch)} keys={list(self.history)}>"
