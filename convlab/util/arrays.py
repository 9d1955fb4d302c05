"""Small array helpers shared by the operations: padding and window views (NHWC)."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad_nhwc(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    """Pad the H and W axes of ``x (N, H, W, C)`` by ``pads = (top, bottom, left, right)``.

    ``value`` is 0 for convolution (zero padding, as on the slides) and −inf
    for max pooling (a pad never wins the max, as in TensorFlow).
    """
    t, b, l, r = pads
    if not (t or b or l or r):
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), mode="constant", constant_values=value)


def windows(xp: np.ndarray, window, strides) -> np.ndarray:
    """A read-only view ``(N, OH, OW, C, KH, KW)`` of every window of the padded ``xp``.

    No copy is made; ``OH = (Hp − KH)//SH + 1`` (floor, as Keras).
    """
    kh, kw = window
    sh, sw = strides
    v = sliding_window_view(xp, (kh, kw), axis=(1, 2))  # (N, Hp-KH+1, Wp-KW+1, C, KH, KW)
    return v[:, ::sh, ::sw]
