"""A layer's initialiser arguments: checked and named when the layer is made, drawn when it is built.

Every layer with weights takes Keras' initialiser arguments (``kernel_initializer``,
``bias_initializer``, ``depthwise_initializer``, ``gamma_initializer`` …) by
Keras' names; :mod:`convlab.model.layers.initializers` defines them. Here:

- :func:`initializer_argument` checks one argument and gives what the layer keeps
  (and writes in its config): the Keras snake-case name for a name
  (``"GlorotUniform"`` → ``"glorot_uniform"``), a Keras config dict for an initialiser
  with arguments, the function itself for a function.
  ``None`` means ``"glorot_uniform"``, for every weight: Keras' ``add_weight`` draws a
  float weight given no initialiser from Glorot uniform (so ``bias_initializer=None``
  gives a random bias in Keras too);
- :func:`make_weight` draws one weight of a shape, refusing a weight larger than any
  array can be before anything is drawn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from convlab.model.layers import initializers
from convlab.model.layers.randomness import get_rng
from convlab.util.checks import as_float_array, check_array_fits

__all__ = ["Initializer", "initializer_argument", "make_weight"]

#: What a layer keeps for an initialiser argument: a Keras name, a Keras config dict, or a function.
Initializer = str | dict | Callable[..., Any]


def _key(name: str) -> str:
    return name.replace("_", "").lower()


def _named(name: str) -> str | None:
    """The snake-case name of :data:`~convlab.model.layers.initializers.NAMES` ``name`` spells, if any."""
    for known in initializers.NAMES:
        if _key(known) == _key(name):
            return known
    return None


def initializer_argument(value: Any, name: str) -> Initializer:
    """What a layer keeps (and writes in its config) for initialiser argument ``name``.

    Args:
        value: a Keras initialiser name (any case, with or without underscores: ``"he_normal"``,
            ``"HeNormal"``; Keras' aliases such as ``"uniform"``), ``None`` (Glorot uniform,
            Keras' rule), a Keras config dict (``{"class_name": "VarianceScaling", "config": {...}}``),
            an initialiser object or class of :mod:`convlab.model.layers.initializers`, or a
            function ``f(shape, dtype) -> array``.
        name: the argument's name, for messages (``"kernel_initializer"``).

    Returns:
        JSON-ready data where possible: the snake-case name of :data:`initializers.NAMES`
        (a name, or an object/class with no arguments), the name as given (an alias or another
        class name), ``{"class_name": ..., "config": {...}}`` (an object with arguments, or a
        dict); a function stays the function (such a layer cannot be saved to a file).

    Raises:
        ValueError: an unknown name or config (listing the known names); TypeError: anything
        else — each naming the argument.
    """
    if value is None:
        return "glorot_uniform"
    try:
        init = initializers.get(value)  # every check of the identifier, by the module that defines them
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    if isinstance(value, str):
        return _named(value) or value
    if isinstance(value, Mapping):
        return {"class_name": value["class_name"], "config": dict(value.get("config") or {})}
    if isinstance(init, initializers.Initializer) and (value is init or isinstance(value, type)):
        config = init.get_config()
        named = None if config else _named(init.class_name)
        return named or {"class_name": init.class_name, "config": config}
    return value


def make_weight(
    initializer: Initializer, shape: tuple[int, ...], dtype: DTypeLike, *, layer: str, what: str
) -> np.ndarray:
    """A new weight of ``shape`` and ``dtype`` drawn by ``initializer`` (from :func:`get_rng`'s generator).

    Args:
        initializer: as :func:`initializer_argument` returns it.
        shape: the weight's shape (Keras' fans come from it: :func:`initializers.compute_fans`).
        dtype: float32 or float64.
        layer: the layer and its input shape, for messages; what: the weight's name.

    Raises:
        ValueError: a weight larger than any array can be (naming the layer and the weight), before
        anything is drawn; or a function initialiser that returns an array of another shape or
        values the dtype cannot hold. TypeError: a function that returns something not numeric.
    """
    check_array_fits(tuple(shape), 8, layer, f"its {what}")  # the draw may be float64: 8 bytes a weight
    a = initializers.get(initializer)(tuple(shape), np.dtype(dtype), get_rng())
    a = as_float_array(a, f"{layer}: the {what} initialiser's result", dtype=dtype, allow_empty=True)
    if a.shape != tuple(shape):
        raise ValueError(f"{layer}: the {what} initialiser returned shape {a.shape}, expected {tuple(shape)}")
    return np.ascontiguousarray(a)
