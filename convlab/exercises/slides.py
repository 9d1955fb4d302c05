"""The course slides' worked numbers, typed out once for every grader that checks against them.

Source: the convolution slides (seeds/003, "Convolución 2D") as transcribed in
/work/shared/reference-numbers.md. The one-channel example is the 5×5 image ⋆ the sharpen
kernel (valid, stride 1 → :data:`SHARPEN_OUTPUT`; the slide prints each step,
``60·0 + 113·(−1) + … = 266``); the three-channel example is a 5×5×3 input, zero padding 1,
stride 2 and two 3×3×3 filters with biases 1 and 0 → the 3×3×2 output :data:`THREE_CHANNEL_OUTPUT`.

Layout is Keras': images ``(H, W, C)``, kernels ``(KH, KW, C_in, C_out)``. Every constant is a
read-only float64 array (a grader that changed one would change every later case): index or copy
it, and build a case's arguments with :func:`one_image` or ``np.array(...)``, which copy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "IMAGE",
    "SHARPEN",
    "SHARPEN_OUTPUT",
    "HORIZONTAL_EDGES",
    "DIAGONAL",
    "THREE_CHANNEL_INPUT",
    "THREE_CHANNEL_KERNEL",
    "THREE_CHANNEL_BIAS",
    "THREE_CHANNEL_OUTPUT",
    "one_image",
]


def _frozen(values: Any) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.flags.writeable = False
    return a


def _planes(planes: Any) -> np.ndarray:
    """Channel planes as the slides print them, ``[plane 0, plane 1, …]`` → ``(H, W, C)``."""
    return np.stack([np.asarray(p, dtype=np.float64) for p in planes], axis=-1)


#: The slides' 5×5 one-channel input, ``(5, 5)``.
IMAGE = _frozen(
    [
        [60, 113, 56, 139, 85],
        [73, 121, 54, 84, 128],
        [131, 99, 70, 129, 127],
        [80, 57, 115, 69, 134],
        [104, 126, 123, 95, 130],
    ]
)
#: The sharpen kernel, ``(3, 3)``; symmetric, so a flipped kernel gives the same answer with it.
SHARPEN = _frozen([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
#: :data:`IMAGE` ⋆ :data:`SHARPEN`, valid, stride 1, ``(3, 3)``.
SHARPEN_OUTPUT = _frozen([[266, -61, -30], [116, -47, 295], [-135, 256, -128]])
#: The slides' horizontal-edge filter, ``(3, 3)``.
HORIZONTAL_EDGES = _frozen([[1, 1, 1], [0, 0, 0], [-1, -1, -1]])
#: The slides' first diagonal filter, ``(2, 2)``; not symmetric, so flips and transposes show.
DIAGONAL = _frozen([[-1, 0], [0, 1]])

#: The three-channel example's input, ``(5, 5, 3)``.
THREE_CHANNEL_INPUT = _frozen(
    _planes(
        [
            [[0, 0, 1, 0, 2], [1, 0, 2, 0, 1], [1, 0, 2, 2, 0], [2, 0, 0, 2, 0], [2, 1, 2, 2, 0]],
            [[2, 1, 2, 1, 1], [2, 1, 2, 0, 1], [0, 2, 1, 0, 1], [1, 2, 2, 2, 2], [0, 1, 2, 0, 1]],
            [[2, 1, 1, 2, 0], [1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 0, 2, 1, 0], [2, 2, 1, 1, 1]],
        ]
    )
)
#: Its two 3×3×3 filters ``w0`` and ``w1`` in Keras' layout, ``(3, 3, 3, 2)``.
THREE_CHANNEL_KERNEL = _frozen(
    np.stack(
        [
            _planes(
                [
                    [[-1, 0, 1], [0, 0, 1], [1, -1, 1]],
                    [[-1, 0, 1], [1, -1, 1], [0, 1, 0]],
                    [[-1, 1, 1], [1, 1, 0], [0, -1, 0]],
                ]
            ),
            _planes(
                [
                    [[0, 1, -1], [0, -1, 0], [0, -1, 1]],
                    [[-1, 0, 0], [1, -1, 0], [1, -1, 0]],
                    [[-1, 1, -1], [0, -1, -1], [1, 0, 0]],
                ]
            ),
        ],
        axis=-1,
    )
)
#: Their biases ``b0 = 1``, ``b1 = 0``, ``(2,)``.
THREE_CHANNEL_BIAS = _frozen([1, 0])
#: The output ``o`` (zero padding 1, stride 2), ``(3, 3, 2)``.
THREE_CHANNEL_OUTPUT = _frozen(_planes([[[2, 3, 3], [3, 7, 3], [8, 10, -3]], [[-8, -8, -3], [-3, 1, 0], [-3, -8, -5]]]))


def one_image(a: Any) -> np.ndarray:
    """A new, writable batch of one image: ``(H, W)`` → ``(1, H, W, 1)``; ``(H, W, C)`` → ``(1, H, W, C)``."""
    a = np.array(a, dtype=np.float64)
    return a[None, :, :, None] if a.ndim == 2 else a[None]
