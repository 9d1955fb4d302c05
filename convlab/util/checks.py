"""Input validation shared by every operation: clear errors that name the argument.

Rules (documented once here, applied everywhere):
- float32 and float64 arrays keep their dtype; integer and bool arrays are
  converted to float64 (so the slides' integer matrices give exact integer-valued
  floats); float16 is promoted to float32; anything else (complex, object,
  strings) is a ``TypeError`` (:func:`check_real_dtype`).
- ragged nested sequences (``[[1.0], [2.0, 3.0]]``), empty arrays and wrong numbers of
  dimensions are ``ValueError``; a finite value that a conversion to a narrower float
  would turn into ±inf (``1e300`` as float32) is a ``ValueError`` too, never a silent inf.
- every size, stride, pad and count is an int (a bool or a float is a ``TypeError``)
  from its minimum up to ``2**63 − 1`` (:data:`INT64_MAX`): the compiled kernels take
  int64, and no array can have a larger axis. Larger is a ``ValueError`` (:func:`check_int`).
- an array an operation would have to create with more bytes than NumPy can address
  is a ``ValueError`` naming the argument that asked for it (:func:`check_array_fits`),
  raised before anything is allocated.
- a flag (``need_dx``, ``from_logits``, ``use_bias``, ``shuffle``…) is a Python or NumPy
  bool (:func:`check_bool`): ``bool("False")`` is ``True``, so taking any value for its
  truth would silently do the opposite of what was written; a real-valued setting
  (``learning_rate``, ``rate``…) is a finite int or float in its range (:func:`check_float`).
- NaN and inf in arrays are not checked: they propagate as IEEE arithmetic does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = [
    "check_bool",
    "check_float",
    "BACKENDS",
    "DEFAULT_BACKEND",
    "INT64_MAX",
    "MAX_ARRAY_BYTES",
    "is_int",
    "check_int",
    "shown",
    "positive_int",
    "check_real_dtype",
    "as_float_array",
    "check_array_fits",
    "check_backend",
    "check_out",
]

BACKENDS = ("reference", "numpy", "numba")
DEFAULT_BACKEND = "numba"

#: ``dtype.kind`` codes of real numbers: float, signed and unsigned int, bool.
_REAL_KINDS = "fiub"

#: The largest size, stride, pad or count convlab accepts: the compiled kernels index with int64.
INT64_MAX = 2**63 - 1

#: The most bytes one NumPy array can hold (``arr.size * itemsize`` must fit in ``intp``).
MAX_ARRAY_BYTES = int(np.iinfo(np.intp).max)


def is_int(v: Any) -> bool:
    """True for Python and NumPy integers, False for bools (which Keras refuses as sizes)."""
    # `type(v) is int` first: every operation checks its sizes on every call, and the
    # abstract-class check alone costs a noticeable share of a small convolution.
    return type(v) is int or (isinstance(v, Integral) and not isinstance(v, bool))


def shown(value: Any) -> str:
    """``repr(value)`` for error messages, with ints beyond 30 digits abbreviated, also inside tuples and lists.

    Python refuses ``str()`` of an int over 4,300 digits (``sys.set_int_max_str_digits``), so an
    error message quoting such an argument would itself raise; a 400-digit number helps no one.
    """
    if is_int(value) and abs(int(value)).bit_length() > 100:
        v = int(value)
        digits = int(abs(v).bit_length() * 0.30103) + 1  # log10(2): the count without converting to str
        return f"{'-' if v < 0 else ''}<an int of about {digits} digits>"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(shown(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
    return repr(value)


def check_int(value: Any, name: str, *, minimum: int = 0, expected: str | None = None) -> int:
    """``value`` as a Python int in ``[minimum, INT64_MAX]``, or raise naming ``name``.

    The one rule for every size, stride, pad and count (module docstring). Python and
    NumPy integers are accepted; exact integer arithmetic, no float on the way.

    Args:
        value: the argument.
        name: its name, for messages.
        minimum: the smallest value allowed (keyword-only).
        expected: what to call a valid value in messages (default ``"an int >= minimum"``).

    Raises:
        TypeError: not an int (a bool, a float, a 0-d array, a string are refused).
        ValueError: below ``minimum`` or above ``2**63 − 1``.
    """
    if not is_int(value):
        what = expected or f"an int >= {minimum}"
        raise TypeError(f"{name} must be {what}, got {shown(value)} ({type(value).__name__})")
    v = int(value)
    if v < minimum:
        what = expected or f"an int >= {minimum}"
        raise ValueError(f"{name} must be {what}, got {shown(v)}")
    if v > INT64_MAX:
        raise ValueError(
            f"{name} must be at most 2**63 - 1 = {INT64_MAX} (int64, what the kernels take), got {shown(v)}"
        )
    return v


def positive_int(value: Any, name: str) -> int:
    """``value`` as an int in ``[1, 2**63 − 1]``, or raise naming ``name`` (:func:`check_int`).

    Raises:
        TypeError: not an int (a bool or a float is refused).
        ValueError: an int below 1, or above ``2**63 − 1``.
    """
    return check_int(value, name, minimum=1, expected="a positive int")


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a Python bool, or raise naming ``name``.

    Raises:
        TypeError: anything but ``True``/``False`` or a NumPy bool (``"False"``, ``0``,
            ``None`` and arrays are refused: their truth is not what was meant).
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {shown(value)} ({type(value).__name__})")


def check_float(
    value: Any,
    name: str,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a finite Python float in the given range, or raise naming ``name``.

    Args:
        value: a Python or NumPy int or float (not a bool).
        name: the argument's name, for messages.
        low, high: the bounds (keyword-only); ``low_open``/``high_open`` exclude them.

    Raises:
        TypeError: not a real number (a bool, a string, ``None``, a complex, a sequence).
        ValueError: NaN, ±inf, an int too large for a float, or outside the range.
    """
    lo, hi = "(" if low_open else "[", ")" if high_open else "]"
    if math.isinf(low) and math.isinf(high):
        expected = "a finite float"
    elif math.isinf(high):
        expected = f"a finite float {'>' if low_open else '>='} {low:g}"
    else:
        expected = f"a float in {lo}{low:g}, {high:g}{hi}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (Real, Integral)):
        raise TypeError(f"{name} must be {expected}, got {shown(value)} ({type(value).__name__})")
    try:
        v = float(value)
    except OverflowError:  # an int beyond the largest float
        raise ValueError(f"{name} must be {expected}, got {shown(value)}") from None
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low) or (high_open and v == high):
        raise ValueError(f"{name} must be {expected}, got {shown(value)}")
    return v


def check_array_fits(shape: tuple[int, ...], itemsize: int, name: str, what: str) -> None:
    """Raise naming ``name`` when an array of ``shape`` and ``itemsize`` bytes per element cannot exist.

    NumPy refuses arrays of more than ``np.iinfo(np.intp).max`` bytes ("array is too
    big"); this says which argument asked for one, before any allocation. An array
    that could exist but does not fit in memory is left to the allocator (``MemoryError``).

    Args:
        shape: the array's shape (Python ints, any size: the product is exact).
        itemsize: bytes per element.
        name: the argument that made the array this big (e.g. ``"padding"``).
        what: the array, for the message (e.g. ``"the padded input"``).

    Raises:
        ValueError: ``prod(shape) · itemsize`` exceeds NumPy's limit.
    """
    n_bytes = itemsize
    for d in shape:
        n_bytes *= int(d)
    if n_bytes > MAX_ARRAY_BYTES:
        raise ValueError(
            f"{name}: {what} would have shape {tuple(int(d) for d in shape)}, {n_bytes} bytes: more than any "
            f"array can hold ({MAX_ARRAY_BYTES} bytes)"
        )


def _describe_non_real(arr: np.ndarray) -> str:
    """Why ``arr`` is not a real numeric array, for the message: its dtype and, for an object array,
    the first element that is not a real number (an int beyond 64 bits, ``None``, a string…)."""
    text = f"dtype {arr.dtype}"
    if arr.dtype.kind == "O":
        for index, v in zip(np.ndindex(arr.shape), arr.flat):
            if is_int(v) and not -(2**63) <= v < 2**64:
                return f"{text}: element {list(index)} is {shown(v)}, an int beyond 64 bits (no NumPy dtype holds it)"
            if not isinstance(v, (Integral, float, np.floating)):
                return f"{text}: element {list(index)} is {v!r} ({type(v).__name__})"
        return f"{text}: numbers that no single NumPy dtype holds together (e.g. 2**64 - 1 and -1)"
    return text


def check_real_dtype(a: ArrayLike, name: str) -> np.ndarray:
    """``np.asarray(a)`` if it holds real numbers (float, int, uint or bool), else raise naming ``name``.

    No conversion, no copy: the dtype and shape are those of ``a``. Use
    :func:`as_float_array` to also get a float array of a checked ``ndim``.
    Every public operation converts its array arguments here, so this is the one
    place where nested lists become arrays.

    Raises:
        TypeError: complex, object (e.g. ``None`` or an int beyond 64 bits inside a
            list), string, datetime, structured or other non-real dtype.
        ValueError: a ragged nested sequence (rows of different lengths), which is
            no array: ``[[1.0], [2.0, 3.0]]``.
    """
    try:
        arr = np.asarray(a)
    except ValueError as e:
        # NumPy's "inhomogeneous shape" (ragged lists) or a value it cannot convert: say which argument.
        kind = "a ragged nested sequence (rows of different lengths)" if "inhomogeneous" in str(e) else "no array"
        raise ValueError(f"{name} must be a rectangular array of real numbers, got {kind}: {e}") from None
    if arr.dtype.kind not in _REAL_KINDS:
        raise TypeError(f"{name} must be a real numeric array, got {_describe_non_real(arr)}")
    return arr


def as_float_array(
    a: ArrayLike,
    name: str,
    ndim: int | None = None,
    dtype: DTypeLike | None = None,
    shape_hint: str = "",
    *,
    allow_empty: bool = False,
) -> np.ndarray:
    """Return ``a`` as a C-contiguous float32/float64 array, or raise naming ``name``.

    Args:
        a: array-like input.
        name: argument name for messages.
        ndim: required number of dimensions (``None``: any).
        dtype: force this float dtype (e.g. the dtype of ``x`` for ``kernel``).
        shape_hint: the expected layout, e.g. ``"(N, H, W, C_in)"``, for messages.
        allow_empty: keyword-only; accept an array with no element (element-wise operations do).

    Returns:
        The array in ``dtype``, else float32 for float16/float32 input and float64
        for everything else (float64, long double, integers, bools), with ``a``'s
        shape (a 0-d input stays 0-d). It may be ``a`` itself (already of that dtype
        and contiguous): callers never write into it.

    Raises:
        TypeError: non-numeric dtype (:func:`check_real_dtype`).
        ValueError: a ragged sequence, wrong ``ndim``, an empty array, or a finite
            value beyond the range of the target dtype (``1e300`` → float32 would be inf).
    """
    arr = check_real_dtype(a, name)
    if ndim is not None and arr.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must be {ndim}-D{hint}, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if dtype is None:
        dtype = np.float32 if arr.dtype.kind == "f" and arr.dtype.itemsize <= 4 else np.float64
    if arr.dtype.kind == "f" and arr.dtype != dtype and arr.dtype.itemsize > np.dtype(dtype).itemsize:
        # Narrowing (float64 → float32, long double → float64) overflows big finite values to ±inf.
        with np.errstate(over="ignore"):
            out = np.asarray(arr, dtype=dtype, order="C")
        _check_no_new_inf(arr, out, name)
        return out
    # not np.ascontiguousarray: it turns a 0-d array into shape (1,)
    return np.asarray(arr, dtype=dtype, order="C")


def _check_no_new_inf(arr: np.ndarray, out: np.ndarray, name: str) -> None:
    """Raise when converting ``arr`` to ``out``'s dtype turned a finite value into ±inf."""
    new_inf = np.isinf(out)
    if new_inf.any():
        new_inf &= np.isfinite(arr)
        if new_inf.any():
            index = np.unravel_index(int(np.argmax(new_inf)), arr.shape)
            raise ValueError(
                f"{name} holds {arr[index]} at {list(map(int, index))}, beyond the range of {out.dtype} "
                f"(largest {np.finfo(out.dtype).max}): converting it would give inf"
            )


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


def check_out(
    out: Any, shape: tuple[int, ...], dtype: DTypeLike, name: str = "out", inputs: Sequence[np.ndarray] = ()
) -> np.ndarray | None:
    """Check a caller's preallocated output array (NumPy's ``out=`` convention); ``None`` passes through.

    A training loop passes the same arrays step after step so that no memory is
    allocated, and none faulted in, per step (``convlab.model``'s layers do).

    Args:
        out: ``None``, or the array to write the result into.
        shape, dtype: what the result will be.
        name: the argument's name in the error messages.
        inputs: the operation's input arrays; ``out`` may not share memory with
            them (the kernels read their inputs while they write ``out``).

    Returns:
        ``out`` itself (or ``None``).

    Raises:
        TypeError: ``out`` is not a NumPy array.
        ValueError: a shape or dtype other than the result's, not C-contiguous, read-only,
            or overlapping one of ``inputs`` — each named, with what was expected.
    """
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or None, got {type(out).__name__}")
    dtype = np.dtype(dtype)
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{name} must be a {dtype} array of shape {tuple(shape)} (the result's), got {out.dtype} {out.shape}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be C-contiguous and writeable")
    for a in inputs:
        if a is not None and np.may_share_memory(out, a):
            raise ValueError(f"{name} must not share memory with the operation's inputs")
    return out
