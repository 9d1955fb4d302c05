"""Numba global pooling kernels (forward and backward). Called by :mod:`convlab.ops.global_pooling`.

Inputs arrive validated: C-contiguous ``x (N, H, W, C)`` of one float dtype,
``dy``/``y`` as ``(N, C)``. One task per image (``prange``); inside it the loops
run over the channels innermost, where NHWC makes them contiguous, so they
vectorise. Sums are taken in ``x``'s dtype, as the reference backend's.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(parallel=True, cache=True)
def _avg_forward(x, count, y):
    """``y[n, c] = Σ_{r,q} x[n, r, q, c] / count`` (``y`` zero on entry; ``count``: a 1-element array of x's dtype)."""
    n_img, h, w, n_ch = x.shape
    for n in nb.prange(n_img):
        acc = y[n]
        for r in range(h):
            for q in range(w):
                xv = x[n, r, q]
                for c in range(n_ch):
                    acc[c] += xv[c]
        for c in range(n_ch):
            acc[c] = acc[c] / count[0]


@nb.njit(parallel=True, cache=True)
def _max_forward(x, y):
    """``y[n, c] = max_{r,q} x[n, r, q, c]``, NaN if any is NaN (``y`` = −inf on entry)."""
    n_img, h, w, n_ch = x.shape
    for n in nb.prange(n_img):
        best = y[n]
        for r in range(h):
            for q in range(w):
                xv = x[n, r, q]
                for c in range(n_ch):
                    val = xv[c]
                    if val > best[c] or np.isnan(val):
                        best[c] = val


@nb.njit(parallel=True, cache=True)
def _avg_backward(dy, count, dx):
    """``dx[n, r, q, c] = dy[n, c] / count``."""
    n_img, h, w, n_ch = dx.shape
    for n in nb.prange(n_img):
        share = dy[n] / count[0]
        for r in range(h):
            for q in range(w):
                dxo = dx[n, r, q]
                for c in range(n_ch):
                    dxo[c] = share[c]


# error_model="numpy": 0/0 is NaN (IEEE), as in TensorFlow's rule, instead of a ZeroDivisionError.
@nb.njit(parallel=True, cache=True, error_model="numpy")
def _max_backward(dy, x, y, dx):
    """``dx[n, r, q, c] = ([x[n, r, q, c] == y[n, c]] / count[n, c]) · dy[n, c]``,
    ``count[n, c]`` = the number of pixels equal to the maximum (``dx`` of any content on entry)."""
    n_img, h, w, n_ch = x.shape
    for n in nb.prange(n_img):
        yn = y[n]
        count = np.zeros(n_ch, dtype=x.dtype)
        for r in range(h):
            for q in range(w):
                xv = x[n, r, q]
                for c in range(n_ch):
                    if xv[c] == yn[c]:
                        count[c] += 1
        # TensorFlow's order of operations, in x's dtype: (indicator / count) · dy. For a count
        # of 0 (the maximum is NaN, which equals nothing) both shares are 0/0 = NaN.
        hit = np.ones(n_ch, dtype=x.dtype) / count
        miss = np.zeros(n_ch, dtype=x.dtype) / count
        g = dy[n]
        for r in range(h):
            for q in range(w):
                xv = x[n, r, q]
                dxo = dx[n, r, q]
                for c in range(n_ch):
                    dxo[c] = (hit[c] if xv[c] == yn[c] else miss[c]) * g[c]


def global_avg_forward(x: np.ndarray) -> np.ndarray:
    """``(N, C)`` means over H and W."""
    y = np.zeros((x.shape[0], x.shape[3]), dtype=x.dtype)
    _avg_forward(x, np.array([x.shape[1] * x.shape[2]], dtype=x.dtype), y)
    return y


def global_max_forward(x: np.ndarray) -> np.ndarray:
    """``(N, C)`` maxima over H and W (NaN propagates)."""
    y = np.full((x.shape[0], x.shape[3]), -np.inf, dtype=x.dtype)
    _max_forward(x, y)
    return y


def global_avg_backward(dy: np.ndarray, x_shape: tuple[int, int, int, int]) -> np.ndarray:
    """``dx (N, H, W, C)`` for ``dy (N, C)``."""
    dx = np.empty(x_shape, dtype=dy.dtype)
    _avg_backward(dy, np.array([x_shape[1] * x_shape[2]], dtype=dy.dtype), dx)
    return dx


def global_max_backward(dy: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``dx (N, H, W, C)`` for ``dy (N, C)``: TensorFlow's ``reduce_max`` rule (ties share equally)."""
    dx = np.empty(x.shape, dtype=x.dtype)
    _max_backward(dy, x, global_max_forward(x), dx)
    return dx
