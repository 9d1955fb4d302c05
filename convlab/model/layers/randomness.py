"""The one random generator convlab draws from, and Keras' default kernel initialiser (Glorot uniform).

Weight initialisation, shuffling in ``fit`` and dropout masks all draw from one
:class:`numpy.random.Generator`; :func:`set_seed` replaces it, so the same seed
and the same calls give bit-for-bit the same numbers on the same machine and
backend. NumPy's legacy global state (``np.random.seed``) and Python's
``random`` are not touched.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from convlab.util.checks import check_array_fits, check_int

__all__ = ["set_seed", "get_rng", "glorot_uniform"]

_RNG = {"rng": np.random.default_rng()}


def set_seed(seed: int) -> None:
    """Seed every random number convlab draws: weight initialisation, shuffling in
    ``fit`` and dropout masks (one :class:`numpy.random.Generator`).

    The same seed and the same calls give bit-for-bit identical weights after
    ``fit`` on the same machine and backend. NumPy's legacy global state
    (``np.random.seed``) and Python's ``random`` are not touched.

    Args:
        seed: an int in ``[0, 2**63 − 1]`` (the one int rule of
            :func:`convlab.util.checks.check_int`; NumPy would take any size, but a seed
            is saved in configs and compared with Keras', which are int64).

    Raises:
        TypeError: ``seed`` is not an int (bools and floats are refused).
        ValueError: ``seed`` is negative or above ``2**63 − 1``.
    """
    seed = check_int(seed, "seed", expected="a non-negative int")
    _RNG["rng"] = np.random.default_rng(seed)


def get_rng() -> np.random.Generator:
    """The generator convlab draws from (replaced by :func:`set_seed`)."""
    return _RNG["rng"]


def glorot_uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, dtype: DTypeLike, name: str = "kernel"
) -> np.ndarray:
    """Keras' default kernel initialiser: uniform in ``[-limit, limit]``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    Source: Glorot & Bengio 2010; Keras ``GlorotUniform``. For a conv kernel
    ``(KH, KW, C_in, F)``, ``fan_in = KH·KW·C_in`` and ``fan_out = KH·KW·F``; for
    a dense kernel ``(in, units)``, ``fan_in = in`` and ``fan_out = units``.
    The draw is :class:`convlab.model.layers.initializers.GlorotUniform`'s with these
    fans: one float64 uniform per weight, in row-major order, rounded to ``dtype``.

    Returns:
        An array of ``shape`` and ``dtype``, drawn from :func:`get_rng`.

    Raises:
        ValueError: a kernel larger than any array can be (naming ``name``, the layer),
        before anything is drawn; the draw itself is float64 (8 bytes per weight).
    """
    # Imported here: initializers draws from this module's generator, so it imports this module.
    from convlab.model.layers.initializers import GlorotUniform

    check_array_fits(shape, 8, name, "its kernel")
    return GlorotUniform().draw_with_fans(shape, (fan_in, fan_out), dtype, get_rng())
