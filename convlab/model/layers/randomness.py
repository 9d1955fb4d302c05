"""The one random generator convlab draws from, and Keras' default kernel initialiser.

Weight initialisation, shuffling in ``fit`` and dropout masks all draw from one
:class:`numpy.random.Generator`; :func:`set_seed` replaces it, so the same seed
and the same calls give bit-for-bit the same numbers on the same machine and
backend. NumPy's legacy global state (``np.random.seed``) and Python's
``random`` are not touched.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import DTypeLike

from convlab.util.checks import is_int

__all__ = ["set_seed", "get_rng", "glorot_uniform"]

_RNG = {"rng": np.random.default_rng()}


def set_seed(seed: int) -> None:
    """Seed every random number convlab draws: weight initialisation, shuffling in
    ``fit`` and dropout masks (one :class:`numpy.random.Generator`).

    The same seed and the same calls give bit-for-bit identical weights after
    ``fit`` on the same machine and backend. NumPy's legacy global state
    (``np.random.seed``) and Python's ``random`` are not touched.

    Args:
        seed: a non-negative int.

    Raises:
        TypeError: ``seed`` is not an int (bools are refused).
        ValueError: ``seed`` is negative.
    """
    if not is_int(seed):
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    _RNG["rng"] = np.random.default_rng(int(seed))


def get_rng() -> np.random.Generator:
    """The generator convlab draws from (replaced by :func:`set_seed`)."""
    return _RNG["rng"]


def glorot_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, dtype: DTypeLike) -> np.ndarray:
    """Keras' default kernel initialiser: uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Source: Glorot & Bengio 2010; Keras ``GlorotUniform``. For a conv kernel
    ``(KH, KW, C_in, F)``, ``fan_in = KH·KW·C_in`` and ``fan_out = KH·KW·F``; for
    a dense kernel ``(in, units)``, ``fan_in = in`` and ``fan_out = units``.

    Returns:
        An array of ``shape`` and ``dtype``, drawn from :func:`get_rng`.
    """
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return get_rng().uniform(-limit, limit, size=shape).astype(dtype)
