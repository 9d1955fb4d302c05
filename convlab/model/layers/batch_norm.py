"""``BatchNormalization`` (Keras' layer), on :func:`convlab.ops.batch_norm.batch_norm` and its backward.

Per channel ``c`` (the last axis; every other axis is averaged over)::

    y = gamma[c] · (x − mean[c]) / sqrt(variance[c] + epsilon) + beta[c]

(Ioffe & Szegedy 2015). In training mode ``mean``/``variance`` are the batch's, and
the moving statistics follow them:
``moving = moving·momentum + batch·(1 − momentum)`` (Keras 3's rule); in inference
mode the moving statistics are used and nothing changes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from convlab.model.layers.base import Layer, Shape
from convlab.model.layers.keras_arguments import check_keras_arguments
from convlab.model.layers.validation import check_bool, check_float
from convlab.model.layers.weight_init import Initializer, initializer_argument, make_weight
from convlab.ops.batch_norm import batch_norm, batch_norm_backward

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Batch normalisation layer (Keras ``BatchNormalization``), channels last.

    Args:
        axis: the channels' axis: only ``-1`` (the last; convlab is channels-last).
        momentum: of the moving statistics, a float in ``[0, 1]`` (Keras' default 0.99).
        epsilon: added to the variance, a float > 0 (Keras' default ``1e-3``).
        center: learn ``beta`` (an offset per channel); scale: learn ``gamma`` (a factor per channel).
            With either off, that weight is absent (not a constant), as in Keras.
        beta_initializer, gamma_initializer, moving_mean_initializer, moving_variance_initializer:
            Keras initialiser names (defaults ``"zeros"``, ``"ones"``, ``"zeros"``, ``"ones"``) or
            functions ``f(shape, dtype)``.
        input_shape, name, dtype, trainable (keyword): as :class:`Layer`. A layer with
            ``trainable=False`` runs in inference mode even when ``training=True`` (Keras 3's rule:
            a frozen BatchNormalization neither uses nor updates batch statistics).
        **keras_arguments: regularisers and constraints None, ``renorm`` False,
            ``renorm_clipping`` None, ``renorm_momentum`` any number, ``synchronized`` False.

    Shapes: ``(N, …, C)`` → the same shape (``(N, H, W, C)`` or ``(N, F)``). Weights, in Keras'
    ``get_weights`` order: ``gamma (C,)``, ``beta (C,)`` (trainable, in ``params``), then
    ``moving_mean (C,)``, ``moving_variance (C,)`` (non-trainable, in ``state``): ``4·C``
    parameters, ``2·C`` of them non-trainable (32 channels: 128, 64 non-trainable).

    Raises:
        TypeError / ValueError naming the argument; UnsupportedArgumentError for ``axis`` other
        than -1; ValueError at build time for an input with fewer than 2 axes.
    """

    keras_class = "BatchNormalization"

    def __init__(
        self,
        axis: int = -1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Initializer | None = "zeros",
        gamma_initializer: Initializer | None = "ones",
        moving_mean_initializer: Initializer | None = "zeros",
        moving_variance_initializer: Initializer | None = "ones",
        *,
        input_shape: Shape | None = None,
        name: str | None = None,
        dtype: DTypeLike | None = None,
        trainable: bool = True,
        **keras_arguments: Any,
    ) -> None:
        check_keras_arguments(self.keras_class, {"axis": axis}, who=type(self).__name__)
        self.axis = -1
        self.momentum = check_float(momentum, "momentum", low=0.0, high=1.0)
        self.epsilon = check_float(epsilon, "epsilon", low=0.0, low_open=True)
        self.center = check_bool(center, "center")
        self.scale = check_bool(scale, "scale")
        self.beta_initializer = initializer_argument(beta_initializer, "beta_initializer")
        self.gamma_initializer = initializer_argument(gamma_initializer, "gamma_initializer")
        self.moving_mean_initializer = initializer_argument(moving_mean_initializer, "moving_mean_initializer")
        self.moving_variance_initializer = initializer_argument(
            moving_variance_initializer, "moving_variance_initializer"
        )
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable, **keras_arguments)

    def _build(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        c = shape[-1]
        where = self._for_input(shape)

        def weight(key: str) -> np.ndarray:
            return make_weight(getattr(self, f"{key}_initializer"), (c,), self.dtype, layer=where, what=key)

        # Keras creates gamma before beta: get_weights() is [gamma, beta, moving_mean, moving_variance].
        self.params = OrderedDict()
        if self.scale:
            self.params["gamma"] = weight("gamma")
        if self.center:
            self.params["beta"] = weight("beta")
        self.state = OrderedDict(moving_mean=weight("moving_mean"), moving_variance=weight("moving_variance"))
        self.grads = OrderedDict()
        return shape

    def param_formula(self) -> str:
        c = self.input_shape[-1] if self.built else "C"
        n = len(self.params) if self.built else int(self.center) + int(self.scale)
        trained = f"{n}·{c} + " if n else ""
        return f"{trained}2·{c} (moving)"

    def forward(self, x: ArrayLike, training: bool = False) -> np.ndarray:
        """Normalise ``x (N, …, C)`` per channel; with ``training=True`` (and ``trainable``) by the
        batch's statistics, updating ``moving_mean``/``moving_variance`` in place; caches what backward needs."""
        x = self._input(x)
        batch_mode = bool(training) and self.trainable
        out = batch_norm(
            x,
            self.params.get("gamma"),
            self.params.get("beta"),
            moving_mean=self.state["moving_mean"],
            moving_variance=self.state["moving_variance"],
            training=batch_mode,
            momentum=self.momentum,
            epsilon=self.epsilon,
            backend=self.backend,
        )
        if batch_mode:
            np.copyto(self.state["moving_mean"], out.moving_mean)
            np.copyto(self.state["moving_variance"], out.moving_variance)
        # Inference mode's backward needs the statistics this forward pass used (copies: later passes may
        # update the moving ones in place before this backward runs).
        used = None if batch_mode else (out.mean, out.variance)
        self._cache = (x, (batch_mode, used), out.y)
        return out.y

    def backward(self, dy: ArrayLike, *, need_dx: bool = True) -> np.ndarray:
        """``dy`` → ``dx`` (the input's shape); fills ``grads`` (``gamma``, ``beta`` where present).

        Training mode: CS231n's simplified form through the batch statistics; inference mode:
        a per-channel affine map. ``dx`` is always computed (one pass; ``need_dx`` changes nothing).
        """
        dy = self._cached(dy, need_dx)
        x, (batch_mode, used), _ = self._cache
        dx, dgamma, dbeta = batch_norm_backward(
            dy,
            x,
            self.params.get("gamma"),
            training=batch_mode,
            moving_mean=None if used is None else used[0],
            moving_variance=None if used is None else used[1],
            epsilon=self.epsilon,
            backend=self.backend,
        )
        self.grads = OrderedDict()
        if self.scale:
            self.grads["gamma"] = dgamma
        if self.center:
            self.grads["beta"] = dbeta
        return dx

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(
            axis=self.axis,
            momentum=self.momentum,
            epsilon=self.epsilon,
            center=self.center,
            scale=self.scale,
            beta_initializer=self.beta_initializer,
            gamma_initializer=self.gamma_initializer,
            moving_mean_initializer=self.moving_mean_initializer,
            moving_variance_initializer=self.moving_variance_initializer,
        )
        return cfg
