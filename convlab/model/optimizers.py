"""Optimizers with exactly Keras 3's update rules: SGD (momentum, Nesterov), Adam, RMSprop.

Each optimizer updates a list of parameter arrays **in place** from their
gradients. Its state (momenta, velocities, the step counter ``iterations``)
is created on the first call and kept by position, so the model must always
pass its parameters in the same order (``Sequential`` does).

The formulas are those of ``keras/src/optimizers/{sgd,adam,rmsprop}.py``
(Keras 3); ``t = iterations + 1`` is the step number, ``g`` the gradient:

- SGD: ``w −= lr·g``; with momentum ``m = momentum·m − lr·g`` then
  ``w += m`` or, Nesterov, ``w += momentum·m − lr·g``.
- Adam: ``α = lr·sqrt(1 − β2^t)/(1 − β1^t)``; ``m += (g − m)(1 − β1)``;
  ``v += (g² − v)(1 − β2)``; ``w −= α·m/(sqrt(v) + ε)``.
- RMSprop: ``v = ρ·v + (1 − ρ)·g²``; ``w −= lr·g/sqrt(v + ε)``.

An update is atomic: every new value is computed first, and if any is NaN or
inf a :class:`NonFiniteUpdateError` is raised and nothing (parameters, state,
``iterations``) changes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "NonFiniteUpdateError", "get", "serialize", "deserialize"]


class NonFiniteUpdateError(FloatingPointError):
    """An update would have written NaN or inf into a parameter or the optimizer's state."""


def _positive_float(value: Any, name: str, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a float, got {value!r}")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite float {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return v


def _unit_float(value: Any, name: str) -> float:
    v = _positive_float(value, name, allow_zero=True)
    if not v < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return v


class Optimizer:
    """Base class. Subclasses define ``_slots`` (state arrays per parameter) and ``_update``.

    Attributes:
        learning_rate (float): step size (may be changed between steps).
        iterations (int): number of updates applied so far (Keras' ``iterations``).
    """

    _slots: tuple = ()

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = _positive_float(learning_rate, "learning_rate")
        self.iterations = 0
        self._state: list[dict] | None = None
        self._shapes: list | None = None

    @property
    def name(self) -> str:
        """Keras' name: the class name in lower case."""
        return type(self).__name__.lower()

    def build(self, variables: Sequence[np.ndarray]) -> None:
        """Create zero state for each parameter array (done automatically on the first update)."""
        variables = list(variables)
        self._shapes = [(v.shape, v.dtype) for v in variables]
        self._state = [{s: np.zeros_like(v) for s in self._slots} for v in variables]
        # Scratch buffers, reused every step: the new values are computed here, checked, then committed.
        self._scratch = [{k: np.empty_like(v) for k in ("w", "tmp") + self._slots} for v in variables]
        self.iterations = 0

    def apply_gradients(self, grads_and_vars: Iterable[tuple[np.ndarray, np.ndarray]]) -> None:
        """Update each parameter in place from its gradient (Keras' ``apply_gradients``).

        Args:
            grads_and_vars: iterable of ``(gradient, parameter)`` pairs; every
                gradient has its parameter's shape. Always the same parameters in
                the same order.

        Raises:
            ValueError: a gradient of the wrong shape, or parameters that differ
                from those seen at the first call.
            NonFiniteUpdateError: an update would produce NaN/inf (nothing changed).
        """
        pairs = list(grads_and_vars)
        grads = [np.asarray(g) for g, _ in pairs]
        variables = [v for _, v in pairs]
        if self._state is None:
            self.build(variables)
        if [(v.shape, v.dtype) for v in variables] != self._shapes:
            raise ValueError(
                "apply_gradients: the parameters differ from those this optimizer was built for "
                f"({len(self._shapes)} arrays); use a new optimizer for a new model"
            )
        for i, (g, v) in enumerate(zip(grads, variables)):
            if g.shape != v.shape:
                raise ValueError(f"apply_gradients: gradient {i} has shape {g.shape}, parameter has {v.shape}")
        t = self.iterations + 1
        for g, v, st, out in zip(grads, variables, self._state, self._scratch):
            finite = self._update(g.astype(v.dtype, copy=False), v, st, t, out)
            if finite is None:  # the update did not check: look at the new values
                finite = all(np.isfinite(out[k]).all() for k in ("w",) + self._slots)
            if not finite:
                raise NonFiniteUpdateError(
                    f"{type(self).__name__} step {t}: the update would make a parameter NaN or inf "
                    f"(learning_rate={self.learning_rate:g}); nothing was changed"
                )
        for v, st, out in zip(variables, self._state, self._scratch):
            np.copyto(v, out["w"])
            for k in self._slots:  # swap: the scratch becomes the state, the old state the next scratch
                st[k], out[k] = out[k], st[k]
        self.iterations = t

    def _update(self, g, w, state, t, out):
        """Write the new parameter into ``out["w"]`` and each new slot into ``out[slot]``
        (``out["tmp"]`` is free scratch); ``w`` and ``state`` must not change.

        Returns ``None``, or whether every new value is finite when the update checked it itself."""
        raise NotImplementedError

    # -- state and config --------------------------------------------------------
    def get_state(self) -> list[np.ndarray]:
        """``[iterations, slot arrays…]`` (copies), for saving; ``[0]`` before the first update."""
        out = [np.asarray(self.iterations, dtype=np.int64)]
        for st in self._state or []:
            out += [st[s].copy() for s in self._slots]
        return out

    def set_state(self, state: Sequence[np.ndarray], variables: Sequence[np.ndarray]) -> None:
        """Restore :meth:`get_state`'s list for these parameter arrays (shapes checked first).

        Raises:
            ValueError: the list does not fit the parameters.
        """
        state = list(state)
        variables = list(variables)
        if len(state) == 1:
            self._state, self._shapes, self.iterations = None, None, int(state[0])
            return
        need = 1 + len(variables) * len(self._slots)
        if len(state) != need:
            raise ValueError(
                f"optimizer state has {len(state)} arrays, {need} expected for {len(variables)} parameters"
            )
        k = 1
        for v in variables:
            for _ in self._slots:
                if np.shape(state[k]) != v.shape:
                    raise ValueError(
                        f"optimizer state array {k} has shape {np.shape(state[k])}, parameter has {v.shape}"
                    )
                k += 1
        self.build(variables)
        k = 1
        for st in self._state:
            for s in self._slots:
                np.copyto(st[s], np.asarray(state[k]))
                k += 1
        self.iterations = int(state[0])

    def get_config(self) -> dict[str, Any]:
        """Keras-like config (constructor arguments)."""
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Rebuild from :meth:`get_config`'s dict."""
        config = dict(config)
        config.pop("name", None)
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum (Keras ``SGD``).

    Args:
        learning_rate: > 0 (default 0.01, as Keras).
        momentum: in [0, 1) (default 0).
        nesterov: Nesterov momentum.
    """

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, nesterov: bool = False) -> None:
        super().__init__(learning_rate)
        self.momentum = _unit_float(momentum, "momentum")
        self.nesterov = bool(nesterov)
        self._slots = ("momentum",) if self.momentum != 0 else ()

    def _update(self, g, w, state, t, out):
        lr = w.dtype.type(self.learning_rate)
        glr = np.multiply(g, lr, out=out["tmp"])  # lr·g
        if not self._slots:
            np.subtract(w, glr, out=out["w"])  # w − lr·g
            return
        mom = w.dtype.type(self.momentum)
        m = np.multiply(state["momentum"], mom, out=out["momentum"])
        m -= glr  # m = momentum·m − lr·g
        if self.nesterov:
            np.multiply(m, mom, out=out["w"])
            out["w"] -= glr
            np.add(w, out["w"], out=out["w"])  # w + (momentum·m − lr·g)
        else:
            np.add(w, m, out=out["w"])  # w + m

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


#: From this many parameters in one array on, Adam updates it in a compiled loop.
_COMPILED_FROM = 1 << 14


class Adam(Optimizer):
    """Adam (Keras ``Adam``, ``amsgrad=False``); Kingma & Ba 2014, in Keras' form with ε outside the root.

    Args:
        learning_rate: > 0 (default 0.001); beta_1, beta_2: in [0, 1) (0.9, 0.999);
        epsilon: > 0 (1e-7, Keras' default).
    """

    _slots = ("m", "v")

    def __init__(
        self, learning_rate: float = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7
    ) -> None:
        super().__init__(learning_rate)
        self.beta_1 = _unit_float(beta_1, "beta_1")
        self.beta_2 = _unit_float(beta_2, "beta_2")
        self.epsilon = _positive_float(epsilon, "epsilon")

    def _update(self, g, w, state, t, out):
        f = w.dtype.type
        # Keras computes these powers in the variable's dtype (float32 for float32 weights).
        b1t = f(self.beta_1) ** f(t)
        b2t = f(self.beta_2) ** f(t)
        alpha = f(self.learning_rate) * np.sqrt(f(1) - b2t) / (f(1) - b1t)
        if (
            g.size >= _COMPILED_FROM
            and g.dtype in (np.float32, np.float64)
            and all(a.flags.c_contiguous for a in (g, w, state["m"], state["v"]))
        ):
            # The same operations in one compiled pass on every core (same bits; convlab.kernels.optim).
            from convlab.kernels import optim

            return optim.adam(
                g.reshape(-1),
                w.reshape(-1),
                state["m"].reshape(-1),
                state["v"].reshape(-1),
                f(1 - self.beta_1),
                f(1 - self.beta_2),
                f(alpha),
                f(self.epsilon),
                out["w"].reshape(-1),
                out["m"].reshape(-1),
                out["v"].reshape(-1),
            )
        m = np.subtract(g, state["m"], out=out["m"])
        m *= f(1 - self.beta_1)
        m += state["m"]  # m + (g − m)(1 − β1)
        v = np.square(g, out=out["v"])
        v -= state["v"]
        v *= f(1 - self.beta_2)
        v += state["v"]  # v + (g² − v)(1 − β2)
        den = np.sqrt(v, out=out["w"])
        den += f(self.epsilon)  # sqrt(v) + ε
        step = np.multiply(m, alpha, out=out["tmp"])  # m·α
        np.divide(step, den, out=out["w"])
        np.subtract(w, out["w"], out=out["w"])  # w − m·α/(sqrt(v) + ε)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class RMSprop(Optimizer):
    """RMSprop (Keras ``RMSprop`` with ``momentum=0``, ``centered=False``); Hinton's lecture 6e.

    Args:
        learning_rate: > 0 (default 0.001); rho: in [0, 1) (0.9); epsilon: > 0 (1e-7).
    """

    _slots = ("velocity",)

    def __init__(self, learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-7) -> None:
        super().__init__(learning_rate)
        self.rho = _unit_float(rho, "rho")
        self.epsilon = _positive_float(epsilon, "epsilon")

    def _update(self, g, w, state, t, out):
        f = w.dtype.type
        vel = np.multiply(state["velocity"], f(self.rho), out=out["velocity"])
        g2 = np.square(g, out=out["tmp"])
        g2 *= f(1 - self.rho)
        vel += g2  # ρ·v + (1 − ρ)·g²
        den = np.add(vel, f(self.epsilon), out=out["w"])
        np.sqrt(den, out=den)  # sqrt(v + ε)
        num = np.multiply(g, f(self.learning_rate), out=out["tmp"])
        np.divide(num, den, out=out["w"])
        np.subtract(w, out["w"], out=out["w"])  # w − lr·g/sqrt(v + ε)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier: str | Optimizer) -> Optimizer:
    """``"sgd"``, ``"adam"``, ``"rmsprop"`` (case-insensitive, Keras' defaults) or an optimizer object.

    Raises:
        ValueError: an unknown name; TypeError: anything else.
    """
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"optimizer must be one of {sorted(_BY_NAME)} or an Optimizer, got {identifier!r}")
        return cls()
    raise TypeError(f"optimizer must be a name such as 'adam' or an Optimizer object, got {identifier!r}")


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """``{"class_name": "Adam", "config": {...}}``."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(spec: dict[str, Any]) -> Optimizer:
    """Rebuild from :func:`serialize`'s dict. Raises ValueError for an unknown class."""
    cls = {c.__name__: c for c in (SGD, Adam, RMSprop)}.get(spec.get("class_name") if isinstance(spec, dict) else None)
    if cls is None:
        raise ValueError(f"unknown optimizer spec {spec!r}")
    return cls.from_config(spec.get("config", {}))
