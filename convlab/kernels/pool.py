"""Numba pooling kernels (forward and backward). Called by :mod:`convlab.ops.pooling`.

Two paths:
- **tiled** (:func:`_max_forward_tiled`, :func:`_max_backward_tiled`): the
  common case of non-overlapping windows without padding (``strides == pool``,
  e.g. Keras' default ``MaxPooling2D(2)``). Every input pixel belongs to at most
  one window, so the backward pass writes each ``dx`` element exactly once
  (no zero-fill, no accumulation), and the loops run over channels innermost,
  where NHWC makes them contiguous, so they vectorise: the running maximum and
  its position are kept per channel in small arrays and updated with
  branch-free selects.
- **generic** (:func:`_max_forward`, :func:`_max_backward`): any pool size,
  stride and padding, with bounds checks; overlapping windows accumulate.

Which pixel gets a window's gradient (the rule of :mod:`convlab.ops.pooling`):
the first maximum in row-major order among the window's *real* pixels — pads
are never candidates — with NaN counting as larger than everything. So on ties
the first maximum (TensorFlow's CPU ``MaxPoolGrad``), a window of −inf values
and pads sends it to its first real pixel (TensorFlow too), and a NaN wins the
maximum (the forward returns NaN) and its first NaN gets the gradient.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: ``(rows, cols)`` and ``(top, bottom, left, right)``, already checked by :mod:`convlab.ops.pooling`.
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


@nb.njit(parallel=True, cache=True)
def _max_forward(x, ph, pw, sh, sw, top, left, y):
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = y.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p % oh
        for j in range(ow):
            for c in range(n_ch):
                best = -np.inf
                for r in range(max(i * sh - top, 0), min(i * sh - top + ph, h)):
                    for q in range(max(j * sw - left, 0), min(j * sw - left + pw, w)):
                        val = x[n, r, q, c]
                        if val > best or np.isnan(val):
                            best = val
                y[n, i, j, c] = best


@nb.njit(parallel=True, cache=True)
def _avg_forward(x, ph, pw, sh, sw, top, left, zero, y):
    """``zero``: a 1-element array of ``x``'s dtype, so each window is summed in that dtype (a
    float32 sum overflows to inf exactly where the reference's and TensorFlow's do)."""
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = y.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p % oh
        for j in range(ow):
            for c in range(n_ch):
                total = zero[0]
                count = 0
                for r in range(max(i * sh - top, 0), min(i * sh - top + ph, h)):
                    for q in range(max(j * sw - left, 0), min(j * sw - left + pw, w)):
                        total += x[n, r, q, c]
                        count += 1
                y[n, i, j, c] = total / count


# --------------------------------------------------------------------------- tiled (stride == pool, no pads)
@nb.njit(parallel=True, cache=True)
def _max_forward_tiled(x, ph, pw, y):
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = y.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p - n * oh
        r0 = i * ph
        best = np.empty(n_ch, dtype=x.dtype)  # running maximum per channel, stays in L1
        for j in range(ow):
            q0 = j * pw
            for c in range(n_ch):
                best[c] = x[n, r0, q0, c]
            for u in range(ph):
                for v in range(pw):
                    for c in range(n_ch):  # contiguous channels: vectorised compare-and-select
                        val = x[n, r0 + u, q0 + v, c]
                        take = (val > best[c]) | (np.isnan(val) & ~np.isnan(best[c]))
                        best[c] = val if take else best[c]
            for c in range(n_ch):
                y[n, i, j, c] = best[c]


@nb.njit(parallel=True, cache=True)
def _max_backward_tiled(dy, x, ph, pw, dx):
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = dy.shape
    for p in nb.prange(n_img * h):  # zero the rows no window covers (H mod ph)
        n = p // h
        r = p - n * h
        if r >= oh * ph:
            for q in range(w):
                for c in range(n_ch):
                    dx[n, r, q, c] = 0.0
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p - n * oh
        r0 = i * ph
        best = np.empty(n_ch, dtype=x.dtype)
        where = np.empty(n_ch, dtype=np.int64)  # window position of the first maximum
        for j in range(ow):
            q0 = j * pw
            for c in range(n_ch):
                best[c] = x[n, r0, q0, c]
                where[c] = 0
            for u in range(ph):
                for v in range(pw):
                    k = u * pw + v
                    for c in range(n_ch):
                        val = x[n, r0 + u, q0 + v, c]
                        take = (val > best[c]) | (np.isnan(val) & ~np.isnan(best[c]))
                        best[c] = val if take else best[c]
                        where[c] = k if take else where[c]
            for u in range(ph):
                for v in range(pw):
                    k = u * pw + v
                    for c in range(n_ch):
                        dx[n, r0 + u, q0 + v, c] = dy[n, i, j, c] if where[c] == k else 0.0
        for r in range(r0, r0 + ph):  # columns no window covers (W mod pw)
            for q in range(ow * pw, w):
                for c in range(n_ch):
                    dx[n, r, q, c] = 0.0


def _out(x, pool, strides, pads):
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    oh, ow = (hp - pool[0]) // strides[0] + 1, (wp - pool[1]) // strides[1] + 1
    return np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)


def _non_overlapping(pool, strides, pads):
    return tuple(pool) == tuple(strides) and not any(pads)


def max_pool2d_forward(x: np.ndarray, pool: Pair, strides: Pair, pads: Pads) -> np.ndarray:
    """``x (N,H,W,C)`` → ``(N,OH,OW,C)``: the maximum of each window (pads count as −inf)."""
    y = _out(x, pool, strides, pads)
    if _non_overlapping(pool, strides, pads):
        _max_forward_tiled(x, pool[0], pool[1], y)
    else:
        _max_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], y)
    return y


def avg_pool2d_forward(x: np.ndarray, pool: Pair, strides: Pair, pads: Pads) -> np.ndarray:
    """``x (N,H,W,C)`` → ``(N,OH,OW,C)``: the mean of each window over its real (non-pad) pixels."""
    y = _out(x, pool, strides, pads)
    _avg_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], np.zeros(1, dtype=x.dtype), y)
    return y


# --------------------------------------------------------------------------- backward (simple)
@nb.njit(parallel=True, cache=True)
def _max_backward(dy, x, ph, pw, sh, sw, top, left, dx):
    """Each window's gradient goes to its FIRST maximum (row-major), as TensorFlow's CPU kernel."""
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = dy.shape
    for n in nb.prange(n_img):  # one image per thread: overlapping windows accumulate safely
        for i in range(oh):
            for j in range(ow):
                for c in range(n_ch):
                    best = -np.inf
                    br = -1
                    bq = -1
                    for r in range(max(i * sh - top, 0), min(i * sh - top + ph, h)):
                        for q in range(max(j * sw - left, 0), min(j * sw - left + pw, w)):
                            val = x[n, r, q, c]
                            if br < 0 or val > best or (np.isnan(val) and not np.isnan(best)):
                                best = val
                                br = r
                                bq = q
                    if br >= 0:
                        dx[n, br, bq, c] += dy[n, i, j, c]


@nb.njit(parallel=True, cache=True)
def _avg_backward(dy, ph, pw, sh, sw, top, left, dx):
    n_img, h, w, n_ch = dx.shape
    _, oh, ow, _ = dy.shape
    for n in nb.prange(n_img):
        for i in range(oh):
            r0 = max(i * sh - top, 0)
            r1 = min(i * sh - top + ph, h)
            for j in range(ow):
                q0 = max(j * sw - left, 0)
                q1 = min(j * sw - left + pw, w)
                count = (r1 - r0) * (q1 - q0)
                if count <= 0:
                    continue
                for r in range(r0, r1):
                    for q in range(q0, q1):
                        for c in range(n_ch):
                            dx[n, r, q, c] += dy[n, i, j, c] / count


def max_pool2d_backward(dy: np.ndarray, x: np.ndarray, pool: Pair, strides: Pair, pads: Pads) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward`: ``dy (N,OH,OW,C)``, ``x (N,H,W,C)`` → ``dx (N,H,W,C)``.

    Each window sends its gradient to ONE position, the first maximum in
    row-major order inside the window (TensorFlow's CPU behaviour on ties);
    overlapping windows (stride < pool) accumulate.
    """
    if _non_overlapping(pool, strides, pads):
        dx = np.empty(x.shape, dtype=x.dtype)  # every element is written exactly once
        _max_backward_tiled(dy, x, pool[0], pool[1], dx)
        return dx
    dx = np.zeros(x.shape, dtype=x.dtype)
    _max_backward(dy, x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], dx)
    return dx


def avg_pool2d_backward(dy: np.ndarray, x: np.ndarray, pool: Pair, strides: Pair, pads: Pads) -> np.ndarray:
    """Gradient of :func:`avg_pool2d_forward`: each window's gradient divided by its count of real pixels."""
    dx = np.zeros(x.shape, dtype=x.dtype)
    _avg_backward(dy, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], dx)
    return dx
