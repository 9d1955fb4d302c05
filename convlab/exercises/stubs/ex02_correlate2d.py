"""Exercise 2 — cross-correlation of one channel, by hand (the slides' 5×5 example).

Slide the kernel over the image one pixel at a time (stride 1, no padding); each output
number is the sum of the products of the window and the kernel (lesson 03):

    y[i, j] = Σ_u Σ_v image[i + u, j + v] · kernel[u, v]        shape (H − KH + 1, W − KW + 1)

The kernel is NOT flipped: this is cross-correlation (⋆), what Keras' Conv2D computes; the
slides' definition of convolution flips it (lesson 02). The slides' sharpen kernel
[[0,-1,0],[-1,5,-1],[0,-1,0]] on the 5×5 input [[60,113,56,139,85], [73,121,54,84,128],
[131,99,70,129,127], [80,57,115,69,134], [104,126,123,95,130]] gives
[[266,-61,-30],[116,-47,295],[-135,256,-128]]; the first number is
60·0 + 113·(−1) + 56·0 + 73·(−1) + 121·5 + 54·(−1) + 131·0 + 99·(−1) + 70·0 = 266.
Images and kernels need not be square (H ≠ W, KH ≠ KW).

Check it with: convlab check 2   (convlab check 2 --hint for a hint)
"""

import numpy as np


def correlate2d(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Valid cross-correlation of one channel, stride 1.

    Args:
        image: (H, W) array of numbers.
        kernel: (KH, KW) array, KH ≤ H and KW ≤ W.

    Returns:
        (H − KH + 1, W − KW + 1) float array.
    """
    raise NotImplementedError("exercise 2: write correlate2d here")
