"""Numerical gradient checking (CS231n style): is an analytic backward pass right?

A backward pass can be subtly wrong and a model still "converge"; accuracy is
no test. The test is to compare the analytic gradient with a numerical one.

Numerical gradient (central differences, float64)
-------------------------------------------------
For an operation ``y = f(x)`` and an upstream gradient ``dy``, the scalar
``L(x) = Σ y · dy`` has ``∂L/∂x = backward(dy)``. Each element of ``x`` is
nudged by ``±h``::

    ∂L/∂x_i ≈ Σ [f(x + h·e_i) − f(x − h·e_i)] · dy / (2h)

The error is ``O(h²)`` (truncation) plus about ``ε_machine·|y|/h`` (rounding);
``h = 1e-5`` in float64 balances the two. The difference ``f(x+h) − f(x−h)`` is
taken element by element *before* the dot product with ``dy``, which keeps the
rounding error small. Everything is computed in float64: in float32 the
rounding term alone is ~1e-3 and the check says nothing.

Relative error (per input, the largest over its elements)
---------------------------------------------------------
CS231n's formula, with a guarded denominator::

    rel_error = max_i |a_i − n_i| / max(|a_i| + |n_i|,  scale · max_j (|a_j| + |n_j|),  floor)

with ``a`` the analytic and ``n`` the numerical gradient. ``scale`` (default
1e-3) is needed because the rounding error of a central difference is
*absolute* (about ``ε_machine·|L|/h`` ≈ 1e-10 for a loss of order 1): an
element whose true gradient is 1e-9 — a class the softmax gives almost no
probability — would otherwise show a "relative error" of 0.1 though both
numbers are right. A wrong element is still caught unless its gradient is far
below 1e-3 of the largest one. ``scale=0`` gives the plain CS231n formula
(``floor``, default 1e-8, only avoids 0/0). How to read it (CS231n, "Gradient
checks"; float64, h = 1e-5):

- ``< 1e-7``: correct — typical for smooth operations (conv, dense, pooling
  away from ties, sigmoid, tanh, softmax, the losses): 1e-8 to 1e-11;
- ``1e-7 … 1e-4``: suspicious for a smooth operation; acceptable only where a
  kink (ReLU at 0, a max-pool tie, a clipped probability) lies within ``h`` of
  an input — choose inputs away from kinks;
- ``> 1e-4`` (and certainly ``> 1e-2``): the backward pass is wrong.

:func:`gradcheck`'s default ``tol`` is ``1e-6``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import as_float_array, check_float, check_int

__all__ = ["rel_error", "numeric_gradient", "gradcheck", "GradcheckError", "DEFAULT_TOL"]

DEFAULT_TOL = 1e-6


class GradcheckError(AssertionError):
    """An analytic gradient differs from the numerical one by more than the tolerance."""


# --------------------------------------------------------------------------- argument checks
def _real(value: Any, name: str, *, positive: bool = False) -> float:
    """A finite real number ``> 0`` (``positive``) or ``>= 0``, as a float, or raise naming ``name``.

    NaN is refused (:func:`~convlab.util.checks.check_float`): every comparison with it is
    False, so a NaN tolerance would pass any gradient.
    """
    return check_float(value, name, low=0.0, low_open=positive)


def _callable(f: Any, name: str) -> None:
    if not callable(f):
        raise TypeError(f"{name} must be a function, got {f!r} ({type(f).__name__})")


def _float64(a: Any, name: str) -> np.ndarray:
    """A float64 copy of a real array-like (:func:`convlab.util.checks.as_float_array` names ``name``)."""
    return np.array(as_float_array(a, name, dtype=np.float64, allow_empty=True))


def rel_error(analytic: ArrayLike, numeric: ArrayLike, *, floor: float = 1e-8, scale: float = 1e-3) -> float:
    """``max_i |a_i − n_i| / max(|a_i| + |n_i|, scale·max_j(|a_j| + |n_j|), floor)``. Shapes must match.

    ``scale=0`` is CS231n's ``rel_error``; the default 1e-3 ignores rounding noise
    on elements whose gradient is tiny compared with the largest (module docstring).

    Returns:
        A float ≥ 0 (0.0 for identical arrays).

    Raises:
        ValueError: the two arrays have different shapes; ``floor``/``scale`` negative or not finite.
        TypeError: a non-numeric array, a non-number ``floor``/``scale``.
    """
    a = _float64(analytic, "analytic")
    n = _float64(numeric, "numeric")
    floor = _real(floor, "floor")
    scale = _real(scale, "scale")
    if a.shape != n.shape:
        raise ValueError(f"analytic and numeric gradients must have the same shape, got {a.shape} and {n.shape}")
    if a.size == 0:
        return 0.0
    mag = np.abs(a) + np.abs(n)
    denom = np.maximum(mag, max(scale * float(mag.max()), floor))
    return float(np.max(np.abs(a - n) / denom))


def numeric_gradient(
    f: Callable[[np.ndarray], Any], x: ArrayLike, dy: ArrayLike | None = None, *, h: float = 1e-5
) -> np.ndarray:
    """Central-difference gradient of ``L(x) = Σ f(x) · dy`` with respect to ``x``, in float64.

    Args:
        f: a function of one array returning an array (or a scalar).
        x: the point, any shape; copied to float64 (``x`` itself is not modified).
        dy: the upstream gradient, ``f(x)``'s shape; default 1 (for a scalar ``f``,
            the plain derivative).
        h: keyword-only, the step (default 1e-5).

    Returns:
        ``∂L/∂x``, float64, ``x``'s shape. Costs ``2·x.size`` calls of ``f``.

    Raises:
        ValueError: ``h`` not a finite number > 0, or ``dy`` of a different shape than ``f(x)``.
        TypeError: ``f`` not callable; ``x``, ``dy`` or ``f(x)`` not real numbers.
    """
    _callable(f, "f")
    h = _real(h, "h", positive=True)
    x = _float64(x, "x")  # a private copy
    y0 = _float64(f(x), "f(x)")
    dy = np.ones_like(y0) if dy is None else _float64(dy, "dy")
    if dy.shape != y0.shape:
        raise ValueError(f"dy must have the shape of f(x) {y0.shape}, got {dy.shape}")
    grad = np.zeros_like(x)
    flat = x.reshape(-1)  # a view: nudging flat nudges x
    gflat = grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        y_plus = _float64(f(x), "f(x)")  # a copy: f may return (a view of) its input
        flat[i] = old - h
        y_minus = _float64(f(x), "f(x)")
        flat[i] = old
        gflat[i] = np.sum((y_plus - y_minus) * dy) / (2 * h)
    return grad


def gradcheck(
    forward: Callable[..., Any],
    backward: Callable[..., Any],
    inputs: Mapping[str, Any],
    *,
    wrt: Sequence[str] | None = None,
    dy: ArrayLike | None = None,
    h: float = 1e-5,
    tol: float | None = DEFAULT_TOL,
    floor: float = 1e-8,
    scale: float = 1e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Check an operation's analytic backward pass against central differences.

    Args:
        forward: ``forward(**inputs) -> y`` (an array, or a scalar for a loss).
        backward: ``backward(dy, **inputs)`` returning the gradients of ``Σ y·dy``
            for the names in ``wrt``: a dict ``{name: grad}``, a tuple/list in the
            order of ``wrt``, or one array when ``wrt`` has one name.
        inputs: ``{name: array}``; arrays are converted to float64 copies.
            Non-array values (ints, strings, None) are passed through unchanged.
        wrt: the input names to check (default: every array input, in order).
        dy: the upstream gradient (default: standard normal numbers from
            ``numpy.random.default_rng(seed)``, or 1.0 for a scalar ``y``).
        h: the finite-difference step (float64).
        tol: raise :class:`GradcheckError` when an input's relative error exceeds it
            or is NaN (a NaN in either gradient) (default 1e-6); ``None``: only report.
        floor, scale: the relative-error guards (see :func:`rel_error`).
        seed: the seed of the default ``dy``.

    Returns:
        ``{name: max relative error}`` for each name in ``wrt``.

    Raises:
        GradcheckError: an error above ``tol`` (the message lists every input's error).
        ValueError: an unknown name in ``wrt``, a gradient of the wrong shape or count or
            missing from backward's dict; ``h`` not > 0, ``tol``/``floor``/``scale`` negative,
            any of them NaN or infinite.
        TypeError: ``forward``/``backward`` not callable, ``inputs`` not a mapping of names,
            ``wrt`` not a sequence of names, an array (input, ``dy``, forward's output, a
            gradient) that holds no real numbers, a non-number ``h``/``tol``/``floor``/``scale``
            or a non-int ``seed``.

    Example::

        gradcheck(lambda x, kernel: conv2d(x, kernel, strides=2),
                  lambda dy, x, kernel: conv2d_backward(dy, x, kernel, strides=2)[:2],
                  {"x": x, "kernel": k})   # → {"x": 3e-10, "kernel": 1e-10}
    """
    _callable(forward, "forward")
    _callable(backward, "backward")
    if not isinstance(inputs, Mapping):
        raise TypeError(
            f"inputs must be a mapping {{name: array}} of forward's keyword arguments, e.g. {{'x': x}}, "
            f"got {type(inputs).__name__}"
        )
    h = _real(h, "h", positive=True)
    if tol is not None:
        tol = _real(tol, "tol")
    floor, scale = _real(floor, "floor"), _real(scale, "scale")
    seed = check_int(seed, "seed")
    values = {}
    for name, v in inputs.items():
        if not isinstance(name, str):
            raise TypeError(f"inputs must be keyed by argument names (str), got key {name!r}")
        if isinstance(v, (np.ndarray, list, tuple)) or np.isscalar(v) and isinstance(v, float):
            values[name] = _float64(v, f"inputs[{name!r}]")
        else:
            values[name] = v
    if wrt is None:
        wrt = [k for k, v in values.items() if isinstance(v, np.ndarray)]
    elif isinstance(wrt, str):
        wrt = [wrt]  # one name
    elif not isinstance(wrt, Sequence):
        raise TypeError(f"wrt must be a list of input names, e.g. ['x'], got {wrt!r}")
    wrt = list(wrt)
    for name in wrt:
        if not isinstance(name, str) or name not in values or not isinstance(values[name], np.ndarray):
            raise ValueError(f"wrt names an input that is not an array in inputs: {name!r} (inputs: {list(inputs)})")

    y = _float64(forward(**values), "forward(**inputs)'s result")
    if dy is None:
        dy = np.ones_like(y) if y.ndim == 0 else np.random.default_rng(seed).standard_normal(y.shape)
    dy = _float64(dy, "dy")
    if dy.shape != y.shape:
        raise ValueError(f"dy must have the shape of forward(...) {y.shape}, got {dy.shape}")

    grads = backward(dy if dy.ndim else float(dy), **values)
    if isinstance(grads, Mapping):
        missing = [name for name in wrt if name not in grads]
        if missing:
            raise ValueError(f"backward returned a dict without a gradient for {missing} (wrt={wrt})")
        grads = [grads[name] for name in wrt]
    elif isinstance(grads, (tuple, list)):
        if len(grads) != len(wrt):
            raise ValueError(f"backward returned {len(grads)} gradients for wrt={wrt}")
    else:
        if len(wrt) != 1:
            raise ValueError(f"backward returned one array but wrt has {len(wrt)} names: {wrt}")
        grads = [grads]

    errors = {}
    for name, analytic in zip(wrt, grads):
        analytic = _float64(analytic, f"backward's gradient for {name!r}")
        if analytic.shape != values[name].shape:
            raise ValueError(f"gradient for {name!r} has shape {analytic.shape}, input has {values[name].shape}")

        def f_of(v, _name=name):
            return forward(**{**values, _name: v})

        numeric = numeric_gradient(f_of, values[name], dy, h=h)
        errors[name] = rel_error(analytic, numeric, floor=floor, scale=scale)
    # `not e <= tol`: a NaN error (a NaN in a gradient) fails the check; `e > tol` would pass it.
    if tol is not None and any(not e <= tol for e in errors.values()):
        detail = ", ".join(f"{k}: {e:.3g}" for k, e in errors.items())
        raise GradcheckError(f"gradient check failed (tol={tol:g}): relative errors {detail}")
    return errors
