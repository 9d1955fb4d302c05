"""Exercise 4 — a convolutional layer: several channels, several filters, stride, padding, bias.

What Keras' Conv2D computes (slides "Convolución 2D con 3 canales", lesson 04). Pad each image
with P zeros on every side (exercise 3), then for output row i, column j and filter f:

    y[n, i, j, f] = Σ_u Σ_v Σ_c xp[n, i·S + u, j·S + v, c] · kernel[u, v, c, f] + bias[f]

(xp is the padded batch; ⋆ without flipping, as in exercise 2). Output size per axis
T = (H + 2P − KH)/S + 1, U = (W + 2P − KW)/S + 1, rounded down (exercise 1).
The slides' example: x 5×5×3 (a batch of one: shape (1, 5, 5, 3)), P = 1, S = 2, two 3×3×3
filters W0, W1 stored as kernel[:, :, c, 0] = w0[:, :, c], kernel[:, :, c, 1] = w1[:, :, c]
(shape (3, 3, 3, 2)), bias [1, 0] → output (1, 3, 3, 2) with
o[:, :, 0] = [[2,3,3],[3,7,3],[8,10,-3]] and o[:, :, 1] = [[-8,-8,-3],[-3,1,0],[-3,-8,-5]].
o[0, 0, 0] = (−1) + 1 + 1 (the window's sums in channels 0, 1, 2) + b0 = 2: the bias is added
once per output number. You may copy your zero_pad from exercise 3 into this file.

Check it with: convlab check 4   (convlab check 4 --hint for a hint)
"""

import numpy as np


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int, padding: int) -> np.ndarray:
    """Multi-channel 2-D cross-correlation with stride, zero padding and bias (NHWC).

    Args:
        x: (N, H, W, C_in) batch of images.
        kernel: (KH, KW, C_in, C_out) filters, Keras' layout.
        bias: (C_out,) one number per filter.
        stride: S, an int ≥ 1 (the same along rows and columns).
        padding: P, an int ≥ 0 (zeros on each side).

    Returns:
        (N, (H + 2P − KH)//S + 1, (W + 2P − KW)//S + 1, C_out) float array.
    """
    raise NotImplementedError("exercise 4: write conv2d here")
