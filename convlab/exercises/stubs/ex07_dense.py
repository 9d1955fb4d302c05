"""Exercise 7 — Flatten and Dense, forward: the classifier at the end of the CNN.

flatten: each image (H, W, C) becomes one row of H·W·C numbers, in Keras' order — the
channel index changes fastest, then the column, then the row: x[n, i, j, c] goes to
column (i·W + j)·C + c. The slides' Conv2D(64, 3) on 28×28×1 gives (None, 26, 26, 64),
and Flatten gives (None, 43264): 26·26·64 = 43,264 numbers per image.

dense: every output unit is a weighted sum of all inputs plus its bias (Keras' Dense):

    y[n, k] = Σ_d x[n, d] · kernel[d, k] + bias[k]        (N, D) → (N, U)

Dense(10) on those 43,264 inputs has 43264·10 + 10 = 432,650 parameters (the slides'
model.summary()). No activation here (exercise 6 has them).

Check it with: convlab check 7   (convlab check 7 --hint for a hint)
"""

import numpy as np


def flatten(x: np.ndarray) -> np.ndarray:
    """Keras' Flatten.

    Args:
        x: (N, H, W, C) batch.

    Returns:
        (N, H·W·C) array; row n holds image n, channels fastest.
    """
    raise NotImplementedError("exercise 7: write flatten here")


def dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Keras' Dense layer without activation.

    Args:
        x: (N, D) inputs.
        kernel: (D, U) weights, Keras' layout.
        bias: (U,) one number per unit.

    Returns:
        (N, U) float array.
    """
    raise NotImplementedError("exercise 7: write dense here")
