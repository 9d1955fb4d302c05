"""Exercise 3 — zero padding: a ring of P zeros around every image of a batch.

The slides ("Convolución 2D - Padding") surround the 5×5 input with one ring of zeros
(P = 1) so that the 3×3 kernel gives a 5×5 output instead of 3×3:

    0   0   0   0   0   0   0
    0  60 113  56 139  85   0
    0  73 121  54  84 128   0        … and so on: 7×7, the original in the middle.

The batch x has Keras' layout (N, H, W, C): N images of H rows, W columns and C channels.
Pad only the rows and columns (P on top, bottom, left AND right), never the batch or the
channel axis: the result has shape (N, H + 2P, W + 2P, C), of x's dtype or a float array.
P = 0 gives an equal copy. Return a new array; do not change x.

Check it with: convlab check 3   (convlab check 3 --hint for a hint)
"""

import numpy as np


def zero_pad(x: np.ndarray, padding: int) -> np.ndarray:
    """Surround each image's rows and columns with ``padding`` zeros.

    Args:
        x: (N, H, W, C) array.
        padding: P, an int ≥ 0 (zeros on each side).

    Returns:
        (N, H + 2P, W + 2P, C) array: x's dtype, or float.
    """
    raise NotImplementedError("exercise 3: write zero_pad here")
