"""Exercise 5 — max pooling, forward (Keras' MaxPooling2D, padding "valid").

The slides ("Capa de pooling", lesson 06): pooling is "a convolution with a stride equal to
the kernel size" that keeps a function of the window — here its largest number. Each
channel of each image is pooled on its own; there are no weights:

    y[n, i, j, c] = max over u, v < K of x[n, i·S + u, j·S + v, c]

Output size T = (H − K)/S + 1 rounded down (exercise 1 with P = 0), U likewise.
``stride=None`` means stride = pool_size (Keras' default). Lesson 06's 4×4 map
[[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]] with 2×2 windows gives [[6,8],[3,4]];
with 3×3 windows and stride 1 (overlapping) it gives [[7,8],[7,8]].

Check it with: convlab check 5   (convlab check 5 --hint for a hint)
"""

import numpy as np


def max_pool2d(x: np.ndarray, pool_size: int, stride: int | None) -> np.ndarray:
    """Max pooling over pool_size × pool_size windows, no padding.

    Args:
        x: (N, H, W, C) batch.
        pool_size: K, an int ≥ 1 (square windows).
        stride: S, an int ≥ 1, or None for S = K.

    Returns:
        (N, (H − K)//S + 1, (W − K)//S + 1, C) array.
    """
    raise NotImplementedError("exercise 5: write max_pool2d here")
