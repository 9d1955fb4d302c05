"""Numba pooling kernels (forward). Called by :mod:`convlab.pooling`."""
from __future__ import annotations

import numba as nb
import numpy as np


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
                for u in range(ph):
                    r = i * sh + u - top
                    if r < 0 or r >= h:
                        continue
                    for v in range(pw):
                        q = j * sw + v - left
                        if q < 0 or q >= w:
                            continue
                        val = x[n, r, q, c]
                        if val > best or np.isnan(val):
                            best = val
                y[n, i, j, c] = best


@nb.njit(parallel=True, cache=True)
def _avg_forward(x, ph, pw, sh, sw, top, left, y):
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = y.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p % oh
        for j in range(ow):
            for c in range(n_ch):
                total = 0.0
                count = 0
                for u in range(ph):
                    r = i * sh + u - top
                    if r < 0 or r >= h:
                        continue
                    for v in range(pw):
                        q = j * sw + v - left
                        if q < 0 or q >= w:
                            continue
                        total += x[n, r, q, c]
                        count += 1
                y[n, i, j, c] = total / count


def _out(x, pool, strides, pads):
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    oh, ow = (hp - pool[0]) // strides[0] + 1, (wp - pool[1]) // strides[1] + 1
    return np.empty((x.shape[0], oh, ow, x.shape[3]), dtype=x.dtype)


def max_pool2d_forward(x, pool, strides, pads):
    y = _out(x, pool, strides, pads)
    _max_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], y)
    return y


def avg_pool2d_forward(x, pool, strides, pads):
    y = _out(x, pool, strides, pads)
    _avg_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], y)
    return y
