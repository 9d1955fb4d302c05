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

Settings are checked when given and whenever ``learning_rate`` is changed
(:func:`convlab.model.layers.validation.check_float`): a bool, a string or
``None`` is a ``TypeError``; NaN, ±inf, ``learning_rate <= 0``, ``epsilon <= 0``
and ``momentum``/``beta_1``/``beta_2``/``rho`` outside ``[0, 1)`` are a
``ValueError`` naming the setting (Keras refuses these values too, at the
latest at the first step). Gradients, parameters and saved state go through
:mod:`convlab.util.checks` like every array.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from convlab.model.layers.validation import check_bool, check_float
from convlab.util.checks import as_float_array, check_int, check_real_dtype, shown

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "NonFiniteUpdateError", "get", "serialize", "deserialize"]


class NonFiniteUpdateError(FloatingPointError):
    """An update would have written NaN or inf into a parameter or the optimizer's state."""


def _positive_float(value: Any, name: str) -> float:
    """A finite float > 0 (``learning_rate``, ``epsilon``), or raise naming ``name``."""
    return check_float(value, name, low=0.0, low_open=True)


def _unit_float(value: Any, name: str) -> float:
    """A float in ``[0, 1)`` (``momentum``, ``beta_1``, ``beta_2``, ``rho``), or raise naming ``name``."""
    return check_float(value, name, low=0.0, high=1.0, high_open=True)


class Optimizer:
    """Base class. Subclasses define ``_slots`` (state arrays per parameter) and ``_update``.

    Attributes:
        learning_rate (float): step size (may be changed between steps; checked when set).
        iterations (int): number of updates applied so far (Keras' ``iterations``).
    """

    _slots: tuple = ()

    def __init__(self, learning_rate: float) -> None:
        self.learning_rate = learning_rate
        self.iterations = 0
        self._state: list[dict] | None = None
        self._shapes: list | None = None

    @property
    def learning_rate(self) -> float:
        """The step size, a finite float > 0 (TypeError / ValueError naming ``learning_rate`` when set otherwise)."""
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._learning_rate = _positive_float(value, "learning_rate")

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
                parameter a writeable float32/float64 NumPy array (updated in place),
                every gradient a real array of its shape (converted to its dtype).
                Always the same parameters in the same order.

        Raises:
            TypeError: not an iterable of pairs, a parameter that is not a writeable
                float array, a gradient that is not real numbers.
            ValueError: a ragged gradient, one of the wrong shape, a finite gradient
                value the parameter's dtype cannot hold, or parameters that differ
                from those seen at the first call.
            NonFiniteUpdateError: an update would produce NaN/inf (nothing changed).
        """
        try:
            pairs = list(grads_and_vars)
        except TypeError:
            raise TypeError(
                f"grads_and_vars must be an iterable of (gradient, parameter) pairs, got {shown(grads_and_vars)}"
            ) from None
        grads, variables = [], []
        for i, pair in enumerate(pairs):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"grads_and_vars[{i}] must be a (gradient, parameter) pair, got {type(pair).__name__}")
            g, v = pair
            if not isinstance(v, np.ndarray) or v.dtype not in (np.float32, np.float64) or not v.flags.writeable:
                raise TypeError(
                    f"grads_and_vars[{i}]: the parameter must be a writeable float32/float64 NumPy array "
                    f"(it is updated in place), got {type(v).__name__}"
                    + (f" of dtype {v.dtype}" if isinstance(v, np.ndarray) else "")
                )
            g = as_float_array(g, f"grads_and_vars[{i}]: gradient", dtype=v.dtype, allow_empty=True)
            if g.shape != v.shape:
                raise ValueError(f"apply_gradients: gradient {i} has shape {g.shape}, parameter has {v.shape}")
            grads.append(g)
            variables.append(v)
        if self._state is None:
            self.build(variables)
        if [(v.shape, v.dtype) for v in variables] != self._shapes:
            raise ValueError(
                "apply_gradients: the parameters differ from those this optimizer was built for "
                f"({len(self._shapes)} arrays); use a new optimizer for a new model"
            )
        t = self.iterations + 1
        for g, v, st, out in zip(grads, variables, self._state, self._scratch):
            finite = self._update(g, v, st, t, out)
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
        """Restore :meth:`get_state`'s list for these parameter arrays; everything is checked before anything changes.

        ``state[0]`` is ``iterations``: an int in ``[0, 2**63 − 1]`` (a Python/NumPy int or
        a 0-d integer array, as :meth:`get_state` gives; a float such as ``2.5`` is refused,
        never truncated). The other entries are real arrays of the parameters' shapes,
        converted to their dtypes (:func:`convlab.util.checks.as_float_array`).

        Raises:
            TypeError: ``state`` or ``variables`` is not a list, ``iterations`` is not an int,
                an entry is not real numbers.
            ValueError: the list does not fit the parameters (count, shapes), a negative or
                huge ``iterations``, a ragged entry, or a value the dtype cannot hold.
        """
        if not isinstance(state, (list, tuple)) or not isinstance(variables, (list, tuple)):
            raise TypeError(
                f"state and variables must be lists of arrays, got {type(state).__name__} and "
                f"{type(variables).__name__}"
            )
        state = list(state)
        variables = list(variables)
        if not state:
            raise ValueError("optimizer state must hold at least iterations (state[0]), got an empty list")
        iterations = self._check_iterations(state[0])
        if len(state) == 1:
            self._state, self._shapes, self.iterations = None, None, iterations
            return
        need = 1 + len(variables) * len(self._slots)
        if len(state) != need:
            raise ValueError(
                f"optimizer state has {len(state)} arrays, {need} expected for {len(variables)} parameters"
            )
        arrays, k = [], 1
        for v in variables:
            for _ in self._slots:
                a = check_real_dtype(state[k], f"optimizer state[{k}]")
                if a.shape != np.shape(v):
                    raise ValueError(f"optimizer state array {k} has shape {a.shape}, parameter has {np.shape(v)}")
                arrays.append(as_float_array(a, f"optimizer state[{k}]", dtype=v.dtype, allow_empty=True))
                k += 1
        self.build(variables)
        k = 0
        for st in self._state:
            for s in self._slots:
                np.copyto(st[s], arrays[k])
                k += 1
        self.iterations = iterations

    @staticmethod
    def _check_iterations(value: Any) -> int:
        """``state[0]`` as an int (a 0-d or one-element integer array is accepted), or raise."""
        name = "optimizer state[0] (iterations)"
        if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iu":
            value = value.reshape(()).item()
        return check_int(value, name, expected="a non-negative int")

    def get_config(self) -> dict[str, Any]:
        """Keras-like config (constructor arguments)."""
        return {"name": self.name, "learning_rate": self.learning_rate}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """Rebuild from :meth:`get_config`'s dict.

        Raises:
            TypeError: ``config`` is not a dict of names, or names a setting the optimizer does not have;
            ValueError / TypeError: a bad value (naming the setting).
        """
        if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
            raise TypeError(f"{cls.__name__}: config must be a dict of setting names to values, got {shown(config)}")
        config = dict(config)
        config.pop("name", None)
        try:
            return cls(**config)
        except TypeError as exc:
            if "unexpected keyword" not in str(exc):
                raise
            raise TypeError(f"{cls.__name__}: config holds a setting it does not have: {sorted(config)}") from None

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
        self.nesterov = check_bool(nesterov, "nesterov")
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
    """Rebuild from :func:`serialize`'s dict (``config`` may be left out: Keras' defaults).

    Raises:
        ValueError: not a dict with a known ``class_name`` (``"SGD"``, ``"Adam"``, ``"RMSprop"``).
        TypeError / ValueError: a bad config (:meth:`Optimizer.from_config`).
    """
    name = spec.get("class_name") if isinstance(spec, dict) else None
    cls = {c.__name__: c for c in (SGD, Adam, RMSprop)}.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(
            f"unknown optimizer spec {shown(spec)}: expected "
            "{'class_name': 'SGD' | 'Adam' | 'RMSprop', 'config': {...}}"
        )
    return cls.from_config(spec.get("config", {}))
