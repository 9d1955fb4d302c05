"""2-D max and average pooling, as Keras' ``MaxPooling2D`` / ``AveragePooling2D``.

A pooling layer slides a ``pool_size`` window (stride = ``pool_size`` unless
given) over each channel separately and keeps the maximum (or the mean). The
slides (seeds/003): "a convolution with a stride equal to the kernel size that
computes the function over all the pixels" — 26×26×64 → 13×13×64, 75% fewer
activations.

Padding rules (TensorFlow's, which Keras follows):
- max pooling pads with −inf, so a pad never wins the maximum;
- average pooling with ``padding="same"`` divides by the number of *real*
  (non-pad) pixels in each window, not by the window size.

Layout: ``x (N, H, W, C)`` → ``(N, OH, OW, C)``; ``OH = floor((H + P − K)/S) + 1``.
Backends: ``"reference"`` (loops), ``"numpy"`` (window views), ``"numba"`` (default).
"""
from __future__ import annotations

import numpy as np

from . import shapes
from ._arrays import pad_nhwc, windows
from ._checks import as_float_array, check_backend

__all__ = ["max_pool2d", "avg_pool2d"]


def _prepare(x, pool_size, strides, padding, backend, name="x"):
    x = as_float_array(x, name, 4, shape_hint="(N, H, W, C)")
    ph, pw = shapes.pair(pool_size, "pool_size")
    sh, sw = shapes.pair((ph, pw) if strides is None else strides, "strides")
    pads = shapes.resolve_padding(padding, x.shape[1:3], (ph, pw), (sh, sw))
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    if ph > hp or pw > wp:
        raise ValueError(
            f"pool_size {ph}×{pw} is larger than the padded input of {hp}×{wp} (x.shape={x.shape}, padding={padding!r})"
        )
    return x, (ph, pw), (sh, sw), pads, check_backend(backend)


def _out_hw(x, pool, strides, pads):
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    return (hp - pool[0]) // strides[0] + 1, (wp - pool[1]) // strides[1] + 1


# --------------------------------------------------------------------------- reference
def _max_pool_reference(x, pool, strides, pads):
    """For every image, output pixel and channel: the largest value in its window."""
    xp = pad_nhwc(x, pads, -np.inf)
    oh, ow = _out_hw(x, pool, strides, pads)
    n_img, _, _, n_ch = x.shape
    y = np.empty((n_img, oh, ow, n_ch), dtype=x.dtype)
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for c in range(n_ch):
                    window = xp[n, i * strides[0]:i * strides[0] + pool[0], j * strides[1]:j * strides[1] + pool[1], c]
                    y[n, i, j, c] = np.max(window)
    return y


def _avg_pool_reference(x, pool, strides, pads):
    """For every output pixel and channel: the mean of the real (non-pad) pixels of its window."""
    xp = pad_nhwc(x, pads)
    real = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), pads)  # 1 on real pixels, 0 on pads
    oh, ow = _out_hw(x, pool, strides, pads)
    n_img, _, _, n_ch = x.shape
    y = np.empty((n_img, oh, ow, n_ch), dtype=x.dtype)
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * strides[0], i * strides[0] + pool[0])
                cols = slice(j * strides[1], j * strides[1] + pool[1])
                count = np.sum(real[0, rows, cols, 0])
                for c in range(n_ch):
                    y[n, i, j, c] = np.sum(xp[n, rows, cols, c]) / count
    return y


# --------------------------------------------------------------------------- numpy
def _max_pool_numpy(x, pool, strides, pads):
    return windows(pad_nhwc(x, pads, -np.inf), pool, strides).max(axis=(4, 5))


def _avg_pool_numpy(x, pool, strides, pads):
    sums = windows(pad_nhwc(x, pads), pool, strides).sum(axis=(4, 5))
    real = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), pads)
    counts = windows(real, pool, strides).sum(axis=(4, 5))
    return (sums / counts).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- numba
def _max_pool_numba(x, pool, strides, pads):
    from ._numba import pool as nb_pool

    return nb_pool.max_pool2d_forward(x, pool, strides, pads)


def _avg_pool_numba(x, pool, strides, pads):
    from ._numba import pool as nb_pool

    return nb_pool.avg_pool2d_forward(x, pool, strides, pads)


_MAX = {"reference": _max_pool_reference, "numpy": _max_pool_numpy, "numba": _max_pool_numba}
_AVG = {"reference": _avg_pool_reference, "numpy": _avg_pool_numpy, "numba": _avg_pool_numba}


def max_pool2d(x, pool_size=2, strides=None, padding="valid", backend=None):
    """Max pooling over ``pool_size`` windows of each channel (Keras ``MaxPooling2D``).

    Args:
        x: ``(N, H, W, C)``; float32/float64 keep their dtype, integers → float64.
        pool_size: int or ``(PH, PW)``, ≥ 1.
        strides: int or pair; ``None`` → ``pool_size`` (Keras' default).
        padding: as :func:`convlab.conv2d`; pads count as −inf (never the max).
        backend: ``"reference"``, ``"numpy"``, ``"numba"`` (default).

    Returns:
        ``(N, OH, OW, C)``, ``OH = floor((H + P − PH)/S) + 1``. NaN propagates as in
        ``np.max`` for the reference/numpy backends (see tests for numba).

    Raises:
        ValueError/TypeError naming the argument (ndim, empty, pool_size/strides
        ≤ 0, pool larger than the padded input, unknown padding or backend).
    """
    x, pool, strides, pads, backend = _prepare(x, pool_size, strides, padding, backend)
    return _MAX[backend](x, pool, strides, pads)


def avg_pool2d(x, pool_size=2, strides=None, padding="valid", backend=None):
    """Average pooling (Keras ``AveragePooling2D``); with ``"same"`` pads are not counted.

    Arguments, shapes and errors as :func:`max_pool2d`.
    """
    x, pool, strides, pads, backend = _prepare(x, pool_size, strides, padding, backend)
    return _AVG[backend](x, pool, strides, pads)
