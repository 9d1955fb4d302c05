"""``Dropout``: inverted dropout (Keras ``Dropout``): scale the kept values in training, identity at inference."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.randomness import get_rng
from convlab.model.layers.validation import check_bool, check_float
from convlab.util.checks import check_int

__all__ = ["Dropout"]


class Dropout(Layer):
    """Inverted dropout (Keras ``Dropout``).

    In training each value is kept with probability ``1 − rate`` and scaled by
    ``1/(1 − rate)`` (so the expected value is unchanged); at inference it is the
    identity. Masks come from a generator seeded by ``seed`` if given, else from
    convlab's generator (:func:`convlab.set_seed`). Keras' own random numbers cannot be
    reproduced, only the rule.

    Args:
        rate: fraction dropped, a float with ``0 <= rate < 1`` (TypeError for a bool or a
            non-number, ValueError outside the range or NaN).
        seed: optional int in ``[0, 2**63 − 1]`` for this layer's own generator (the one
            int rule, :func:`convlab.util.checks.check_int`: TypeError for a bool or a float).
        input_shape, name, dtype, trainable: as :class:`Layer`;
        **keras_arguments: ``noise_shape`` None only.

    Shapes: any ``(N, …)`` → the same.
    """

    keras_class = "Dropout"

    def __init__(
        self,
        rate: float,
        seed: int | None = None,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        self.rate = check_float(rate, "rate", low=0.0, high=1.0, high_open=True)
        self.seed = None if seed is None else check_int(seed, "seed", expected="a non-negative int or None")
        self._rng = None if seed is None else np.random.default_rng(seed)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """``x · mask / (1 − rate)`` in training (``mask`` ~ Bernoulli(1 − rate)), ``x`` otherwise."""
        x = self._input(x)
        if check_bool(training, "training") and self.rate > 0:
            rng = self._rng if self._rng is not None else get_rng()
            mask = (rng.random(x.shape, dtype=np.float32) >= self.rate).astype(self.dtype)
            mask *= self.dtype.type(1.0 / (1.0 - self.rate))
            y = x * mask
        else:
            mask = None
            y = x
        self._cache = (mask, None, y)
        return y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy`` times the last forward's scaled mask (``dy`` itself at inference)."""
        dy = self._cached(dy, need_dx)
        mask = self._cache[0]
        return dy if mask is None else dy * mask

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg
