"""Fully connected layer, as Keras' ``Dense``: ``y = x @ kernel + bias``.

Backward (:func:`dense_backward`), from ``y[n, k] = Σ_i x[n, i]·W[i, k] + b[k]``::

    dx = dy @ Wᵀ        dW = xᵀ @ dy        db = Σ_n dy[n, :]

The three products go to :func:`convlab.kernels.gemm.matmul` (two threads, Numba's
micro-kernel) for C-contiguous float32/float64 operands with at least
:data:`GEMM_MIN_MACS` multiply-adds, and to NumPy's ``@`` (BLAS) otherwise: while
training, BLAS runs on one thread (:func:`convlab.util.process.training`), and for
the large dense layers two of Numba's threads are faster. Results differ from
``@``'s only in float rounding (another summation order).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import as_float_array, check_out

__all__ = ["dense", "dense_backward", "GEMM_MIN_MACS"]

#: Products with at least this many multiply-adds use :mod:`convlab.kernels.gemm`; smaller ones
#: take NumPy's ``@``, for which waking a second thread costs more than it saves. ``None``: always NumPy.
GEMM_MIN_MACS: int | None = 8_000_000


def _matmul(a, b, out, trans_a=False, trans_b=False):
    """``op(a) @ op(b)`` into ``out`` (or a new array), ``op`` the transpose where asked."""
    m = a.shape[1] if trans_a else a.shape[0]
    n = b.shape[0] if trans_b else b.shape[1]
    if (
        GEMM_MIN_MACS is not None
        and m * n * (a.shape[0] if trans_a else a.shape[1]) >= GEMM_MIN_MACS
        and a.dtype in (np.float32, np.float64)
        and a.flags.c_contiguous
        and b.flags.c_contiguous
    ):
        from convlab.kernels import gemm

        # On one thread, BLAS is as fast as the kernel or faster: the kernel pays only with two.
        if gemm.n_threads() >= 2:
            if out is None:
                out = np.empty((m, n), dtype=a.dtype)
            return gemm.matmul(a, b, out, trans_a=trans_a, trans_b=trans_b)
    return np.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)


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


def dense(
    x: ArrayLike, kernel: ArrayLike, bias: ArrayLike | None = None, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Affine map of the last axis (Keras ``Dense``).

    Args:
        x: ``(N, in_features)`` (float32/float64; integers → float64).
        kernel: ``(in_features, units)`` — Keras' layout, converted to ``x``'s dtype.
        bias: ``(units,)`` or ``None``.
        out: optional ``(N, units)`` array of ``x``'s dtype to write the result into
            (C-contiguous, not overlapping the inputs); returned.

    Returns:
        ``(N, units)`` of ``x``'s float dtype.

    Raises:
        ValueError: wrong ndim, empty arrays, ``in_features`` or ``units`` mismatch, an ``out`` that does not fit.
        TypeError: non-numeric dtype.
    """
    x, kernel = _prepare(x, kernel)
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(units,)")
        if bias.shape[0] != kernel.shape[1]:
            raise ValueError(f"bias must have shape ({kernel.shape[1]},) to match units, got {bias.shape}")
    out = check_out(out, (x.shape[0], kernel.shape[1]), x.dtype, inputs=(x, kernel, bias))
    y = _matmul(x, kernel, out)
    if bias is not None:
        y += bias
    return y


def dense_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    out: tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`dense` with respect to ``x``, ``kernel`` and ``bias``.

    Args:
        dy: ``(N, units)`` — ``∂L/∂y`` (converted to ``x``'s dtype).
        x: ``(N, in_features)`` — the forward input.
        kernel: ``(in_features, units)`` — the forward kernel.
        out: optional ``(dx, dkernel, dbias)`` arrays to write the gradients into,
            each ``None`` (allocate it) or of the gradient's shape and ``x``'s dtype.

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
    if out is not None and (not isinstance(out, (tuple, list)) or len(out) != 3):
        raise TypeError(f"out must be None or a tuple (dx, dkernel, dbias) of arrays or None, got {out!r:.80}")
    dx_out, dk_out, db_out = (None, None, None) if out is None else out
    inputs = (dy, x, kernel)
    dx_out = check_out(dx_out, x.shape, x.dtype, "out[0] (dx)", inputs)
    dk_out = check_out(dk_out, kernel.shape, x.dtype, "out[1] (dkernel)", inputs)
    db_out = check_out(db_out, (kernel.shape[1],), x.dtype, "out[2] (dbias)", inputs)
    return (
        _matmul(dy, kernel, dx_out, trans_b=True),
        _matmul(x, dy, dk_out, trans_a=True),
        np.sum(dy, axis=0, out=db_out),
    )
