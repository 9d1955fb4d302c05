"""Numba batch-normalisation kernels, forward and backward. Called by :mod:`convlab.ops.batch_norm`.

Inputs arrive validated by :mod:`convlab.ops.batch_norm` and flattened to two
axes: ``x (M, C)`` C-contiguous, ``M = N·H·W`` (every axis but the channels),
one float dtype (float32 or float64); the per-channel arrays ``(C,)`` share it.

Per-channel sums (:func:`moments`, :func:`backward_sums`)
---------------------------------------------------------
Each pass reads ``x`` once, row by row, and adds every row into ``C`` running
sums at once (the channels are contiguous, so the adds vectorise). The rows are
cut into fixed chunks of :data:`CHUNK_ROWS`; each parallel task sums one chunk
into its own row of a ``(chunks, C)`` float64 array (no two tasks write one
element), and the chunk sums are then added in chunk order. The chunking does
not depend on the number of threads, so the result is the same bits on every
machine and thread count. The accumulators are float64 for float32 input too:
a float32 running sum over 10⁶ numbers loses about 6 of its 24 bits.

The variance takes two passes, as ``tf.nn.moments`` (which Keras 3 calls): the
mean first, then the mean squared distance from it. The one-pass
``E[x²] − E[x]²`` cancels catastrophically when ``|mean| ≫ std``.

Element-wise passes (:func:`normalize`, :func:`backward_dx`) run in the input's
dtype, with the operations in the order of the ``numpy`` backend, so both give
the same bits. ``parallel=True`` + ``prange`` over chunks of rows everywhere;
``cache=True`` so a second process loads the compiled code.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: Rows per parallel task in every pass (16 KB of float32 for C = 8, 256 KB for C = 128).
CHUNK_ROWS = 512


def _chunks(m: int) -> int:
    return (m + CHUNK_ROWS - 1) // CHUNK_ROWS


@nb.njit(parallel=True, cache=True)
def _sum_rows(x, partial):
    """``partial[k, c] = Σ x[r, c]`` over the rows ``r`` of chunk ``k`` (float64)."""
    m, n_ch = x.shape
    for k in nb.prange(partial.shape[0]):
        acc = partial[k]
        for c in range(n_ch):
            acc[c] = 0.0
        for r in range(k * CHUNK_ROWS, min(m, (k + 1) * CHUNK_ROWS)):
            for c in range(n_ch):
                acc[c] += x[r, c]


@nb.njit(parallel=True, cache=True)
def _sum_squared_deviations(x, mean64, partial):
    """``partial[k, c] = Σ (x[r, c] − mean64[c])²`` over the rows of chunk ``k`` (float64)."""
    m, n_ch = x.shape
    for k in nb.prange(partial.shape[0]):
        acc = partial[k]
        for c in range(n_ch):
            acc[c] = 0.0
        for r in range(k * CHUNK_ROWS, min(m, (k + 1) * CHUNK_ROWS)):
            for c in range(n_ch):
                d = x[r, c] - mean64[c]  # float64: x is promoted before the subtraction
                acc[c] += d * d


def _add_chunks(partial: np.ndarray) -> np.ndarray:
    """Σ over the chunk axis, in a fixed order (the same bits on every thread count)."""
    return np.add.reduce(partial, axis=0)


def moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, variance)`` per channel of ``x (M, C)``, float64, the variance biased (÷ M), in two passes."""
    m, n_ch = x.shape
    partial = np.empty((_chunks(m), n_ch))
    _sum_rows(x, partial)
    mean64 = _add_chunks(partial) / m
    _sum_squared_deviations(x, mean64, partial)
    return mean64, _add_chunks(partial) / m


@nb.njit(parallel=True, cache=True)
def normalize(x, mean, inv_std, gamma, beta, y):
    """``y = gamma·((x − mean)·inv_std) + beta`` per channel, in ``x``'s dtype."""
    m, n_ch = x.shape
    for k in nb.prange((m + CHUNK_ROWS - 1) // CHUNK_ROWS):
        for r in range(k * CHUNK_ROWS, min(m, (k + 1) * CHUNK_ROWS)):
            for c in range(n_ch):
                y[r, c] = gamma[c] * ((x[r, c] - mean[c]) * inv_std[c]) + beta[c]


@nb.njit(parallel=True, cache=True)
def _backward_sums(dy, x, mean, inv_std, partial):
    """``partial[k, 0, c] = Σ dy``, ``partial[k, 1, c] = Σ dy·x̂`` over chunk ``k`` (float64 sums
    of products taken in ``x``'s dtype, ``x̂ = (x − mean)·inv_std``)."""
    m, n_ch = x.shape
    for k in nb.prange(partial.shape[0]):
        s_dy = partial[k, 0]
        s_dyxh = partial[k, 1]
        for c in range(n_ch):
            s_dy[c] = 0.0
            s_dyxh[c] = 0.0
        for r in range(k * CHUNK_ROWS, min(m, (k + 1) * CHUNK_ROWS)):
            for c in range(n_ch):
                g = dy[r, c]
                xhat = (x[r, c] - mean[c]) * inv_std[c]
                s_dy[c] += g
                s_dyxh[c] += g * xhat


def backward_sums(dy: np.ndarray, x: np.ndarray, mean: np.ndarray, inv_std: np.ndarray) -> tuple:
    """``(Σ dy, Σ dy·x̂)`` per channel over the rows of ``dy, x (M, C)``, float64 (= dbeta, dgamma)."""
    m, n_ch = x.shape
    partial = np.empty((_chunks(m), 2, n_ch))
    _backward_sums(dy, x, mean, inv_std, partial)
    sums = _add_chunks(partial.reshape(partial.shape[0], 2 * n_ch))
    return sums[:n_ch], sums[n_ch:]


@nb.njit(parallel=True, cache=True)
def backward_dx(dy, x, mean, inv_std, coef, sum_dy, sum_dy_xhat, m_value, training, dx):
    """``dx`` in ``x``'s dtype. Training: ``coef·(M·dy − Σdy − x̂·Σ(dy·x̂))`` with ``coef = gamma·inv_std/M``
    (CS231n's simplified form); inference: ``coef·dy`` with ``coef = gamma·inv_std``.
    ``m_value`` is ``M`` in ``x``'s dtype (so ``M·dy`` is not promoted to float64)."""
    m, n_ch = x.shape
    for k in nb.prange((m + CHUNK_ROWS - 1) // CHUNK_ROWS):
        for r in range(k * CHUNK_ROWS, min(m, (k + 1) * CHUNK_ROWS)):
            if training:
                for c in range(n_ch):
                    xhat = (x[r, c] - mean[c]) * inv_std[c]
                    dx[r, c] = coef[c] * (m_value * dy[r, c] - sum_dy[c] - xhat * sum_dy_xhat[c])
            else:
                for c in range(n_ch):
                    dx[r, c] = coef[c] * dy[r, c]
