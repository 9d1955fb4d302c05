"""Input validation shared by every operation: clear errors that name the argument.

Rules (documented once here, applied everywhere):
- float32 and float64 arrays keep their dtype; integer and bool arrays are
  converted to float64 (so the slides' integer matrices give exact integer-valued
  floats); float16 is promoted to float32; anything else (complex, object,
  strings) is a ``TypeError`` (:func:`check_real_dtype`).
- empty arrays and wrong numbers of dimensions are ``ValueError``.
- NaN and inf are not checked: they propagate as IEEE arithmetic does.
"""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "BACKENDS",
    "DEFAULT_BACKEND",
    "is_int",
    "positive_int",
    "check_real_dtype",
    "as_float_array",
    "check_backend",
]

BACKENDS = ("reference", "numpy", "numba")
DEFAULT_BACKEND = "numba"

#: ``dtype.kind`` codes of real numbers: float, signed and unsigned int, bool.
_REAL_KINDS = "fiub"


def is_int(v: Any) -> bool:
    """True for Python and NumPy integers, False for bools (which Keras refuses as sizes)."""
    # `type(v) is int` first: every operation checks its sizes on every call, and the
    # abstract-class check alone costs a noticeable share of a small convolution.
    return type(v) is int or (isinstance(v, Integral) and not isinstance(v, bool))


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int ≥ 1, or raise naming ``name``.

    Raises:
        TypeError: not an int (a bool or a float is refused).
        ValueError: an int below 1.
    """
    if not is_int(value):
        raise TypeError(f"{name} must be a positive int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def check_real_dtype(a: ArrayLike, name: str) -> np.ndarray:
    """``np.asarray(a)`` if it holds real numbers (float, int, uint or bool), else raise naming ``name``.

    No conversion, no copy: the dtype and shape are those of ``a``. Use
    :func:`as_float_array` to also get a float array of a checked ``ndim``.

    Raises:
        TypeError: complex, object, string or other non-real dtype.
    """
    arr = np.asarray(a)
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr


def as_float_array(
    a: ArrayLike, name: str, ndim: int | None = None, dtype: DTypeLike | None = None, shape_hint: str = ""
) -> np.ndarray:
    """Return ``a`` as a C-contiguous float32/float64 array, or raise naming ``name``.

    Args:
        a: array-like input.
        name: argument name for messages.
        ndim: required number of dimensions (``None``: any).
        dtype: force this float dtype (e.g. the dtype of ``x`` for ``kernel``).
        shape_hint: the expected layout, e.g. ``"(N, H, W, C_in)"``, for messages.

    Returns:
        The array in ``dtype``, else float32 for float16/float32 input and float64
        for everything else (float64, long double, integers, bools).

    Raises:
        TypeError: non-numeric dtype (:func:`check_real_dtype`).
        ValueError: wrong ``ndim`` or an empty array.
    """
    arr = check_real_dtype(a, name)
    if ndim is not None and arr.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must be {ndim}-D{hint}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if dtype is None:
        dtype = np.float32 if arr.dtype.kind == "f" and arr.dtype.itemsize <= 4 else np.float64
    return np.ascontiguousarray(arr, dtype=dtype)


def check_backend(backend: str | None) -> str:
    """The backend's name in lower case; ``None`` → the default (``"numba"``).

    Raises:
        ValueError: not one of :data:`BACKENDS` (or ``None``).
    """
    if backend is None:
        return DEFAULT_BACKEND
    if not isinstance(backend, str) or backend.lower() not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None, got {backend!r}")
    return backend.lower()
