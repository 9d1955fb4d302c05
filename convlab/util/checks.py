"""Input validation shared by every operation: clear errors that name the argument.

Rules (documented once here, applied everywhere):
- float32 and float64 arrays keep their dtype; integer and bool arrays are
  converted to float64 (so the slides' integer matrices give exact integer-valued
  floats); float16 is promoted to float32; anything else (complex, object,
  strings) is a ``TypeError``.
- empty arrays and wrong numbers of dimensions are ``ValueError``.
- NaN and inf are not checked: they propagate as IEEE arithmetic does.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np

BACKENDS = ("reference", "numpy", "numba")
DEFAULT_BACKEND = "numba"


def is_int(v) -> bool:
    """True for Python and NumPy integers, False for bools (which Keras refuses as sizes)."""
    # `type(v) is int` first: the abstract-class check costs about a microsecond, a
    # tenth of a whole 5×5×3 convolution (the benchmark's latency case W4).
    return type(v) is int or (isinstance(v, Integral) and not isinstance(v, bool))


def positive_int(value, name: str) -> int:
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


def as_float_array(a, name: str, ndim: int | None = None, dtype=None, shape_hint: str = "") -> np.ndarray:
    """Return ``a`` as a C-contiguous float32/float64 array, or raise naming ``name``.

    Args:
        a: array-like input.
        name: argument name for messages.
        ndim: required number of dimensions (``None``: any).
        dtype: force this float dtype (e.g. the dtype of ``x`` for ``kernel``).
        shape_hint: the expected layout, e.g. ``"(N, H, W, C_in)"``, for messages.

    Raises:
        TypeError: non-numeric dtype.
        ValueError: wrong ``ndim`` or an empty array.
    """
    arr = np.asarray(a)
    kind = arr.dtype.kind
    if kind not in "fiub":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must be {ndim}-D{hint}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if dtype is None:
        if kind == "f":
            dtype = np.float32 if arr.dtype.itemsize <= 4 else np.float64
        else:
            dtype = np.float64
        if arr.dtype == np.longdouble and arr.dtype != np.float64:
            dtype = np.float64
    return np.ascontiguousarray(arr, dtype=dtype)


def result_dtype(*arrays) -> np.dtype:
    """float64 if any input is float64 (or integer), else float32."""
    return np.result_type(*[a.dtype for a in arrays])


def check_backend(backend) -> str:
    """``None`` → the default (``"numba"``); an unknown name is a ``ValueError``."""
    if backend is None:
        return DEFAULT_BACKEND
    if not isinstance(backend, str) or backend.lower() not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None, got {backend!r}")
    return backend.lower()
