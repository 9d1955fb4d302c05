"""Fully connected layer, as Keras' ``Dense``: ``y = x @ kernel + bias``.

Backward (:func:`dense_backward`), from ``y[n, k] = Σ_i x[n, i]·W[i, k] + b[k]``::

    dx = dy @ Wᵀ        dW = xᵀ @ dy        db = Σ_n dy[n, :]
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import as_float_array

__all__ = ["dense", "dense_backward"]


def _prepare(x, kernel):
    """Validate ``x (N, in_features)`` and ``kernel (in_features, units)``; kernel in ``x``'s dtype."""
    x = as_float_array(x, "x", 2, shape_hint="(N, in_features)")
    kernel = as_float_array(kernel, "kernel", 2, dtype=x.dtype, shape_hint="(in_features, units)")
    if kernel.shape[0] != x.shape[1]:
        raise ValueError(
            f"kernel has in_features={kernel.shape[0]} (kernel.shape={kernel.shape}) but x has "
            f"{x.shape[1]} features (x.shape={x.shape})"
        )
    return x, kernel


def dense(x: ArrayLike, kernel: ArrayLike, bias: ArrayLike | None = None) -> np.ndarray:
    """Affine map of the last axis (Keras ``Dense``).

    Args:
        x: ``(N, in_features)`` (float32/float64; integers → float64).
        kernel: ``(in_features, units)`` — Keras' layout, converted to ``x``'s dtype.
        bias: ``(units,)`` or ``None``.

    Returns:
        ``(N, units)`` of ``x``'s float dtype.

    Raises:
        ValueError: wrong ndim, empty arrays, ``in_features`` or ``units`` mismatch.
        TypeError: non-numeric dtype.
    """
    x, kernel = _prepare(x, kernel)
    y = x @ kernel
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(units,)")
        if bias.shape[0] != kernel.shape[1]:
            raise ValueError(f"bias must have shape ({kernel.shape[1]},) to match units, got {bias.shape}")
        y += bias
    return y


def dense_backward(dy: ArrayLike, x: ArrayLike, kernel: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`dense` with respect to ``x``, ``kernel`` and ``bias``.

    Args:
        dy: ``(N, units)`` — ``∂L/∂y`` (converted to ``x``'s dtype).
        x: ``(N, in_features)`` — the forward input.
        kernel: ``(in_features, units)`` — the forward kernel.

    Returns:
        ``(dx (N, in_features), dkernel (in_features, units), dbias (units,))`` of
        ``x``'s dtype: ``dy @ kernelᵀ``, ``xᵀ @ dy``, ``dy.sum(axis=0)``.

    Raises:
        ValueError: wrong ndim, empty arrays, mismatched ``in_features``, or ``dy``
            not of shape ``(N, units)`` (named).
        TypeError: non-numeric dtype.
    """
    x, kernel = _prepare(x, kernel)
    dy = as_float_array(dy, "dy", 2, dtype=x.dtype, shape_hint="(N, units)")
    expected = (x.shape[0], kernel.shape[1])
    if dy.shape != expected:
        raise ValueError(f"dy must have the forward output's shape (N, units) = {expected}, got dy.shape={dy.shape}")
    return dy @ kernel.T, x.T @ dy, dy.sum(axis=0)
