"""Small array helpers shared by the operations: padding, cropping and window views (NHWC)."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["pad_nhwc", "crop_nhwc", "windows"]

Pads = tuple[int, int, int, int]


def pad_nhwc(x: np.ndarray, pads: Pads, value: float = 0.0) -> np.ndarray:
    """Pad the H and W axes of ``x (N, H, W, C)`` by ``pads = (top, bottom, left, right)``.

    ``value`` is 0 for convolution (zero padding, as on the slides) and −inf
    for max pooling (a pad never wins the max, as in TensorFlow). Returns ``x``
    itself when every pad is 0, else a new ``(N, H + top + bottom, W + left + right, C)``
    array of ``x``'s dtype.
    """
    t, b, l, r = pads
    if not (t or b or l or r):
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), mode="constant", constant_values=value)


def crop_nhwc(xp: np.ndarray, pads: Pads) -> np.ndarray:
    """The inverse of :func:`pad_nhwc`: drop ``pads = (top, bottom, left, right)`` from ``xp (N, Hp, Wp, C)``.

    Used by the backward passes to turn the gradient of the padded input into
    the gradient of the input (a pad is not an input). Returns a C-contiguous
    ``(N, Hp − top − bottom, Wp − left − right, C)`` array (a copy unless nothing is cropped).
    """
    t, b, l, r = pads
    return np.ascontiguousarray(xp[:, t : xp.shape[1] - b, l : xp.shape[2] - r, :])


def windows(xp: np.ndarray, window: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """A read-only view ``(N, OH, OW, C, KH, KW)`` of every window of the padded ``xp (N, Hp, Wp, C)``.

    No copy is made; ``OH = (Hp − KH)//SH + 1`` (floor, as Keras).
    """
    kh, kw = window
    sh, sw = strides
    v = sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (N, Hp-KH+1, Wp-KW+1, C, KH, KW)
    return v[:, ::sh, ::sw]
