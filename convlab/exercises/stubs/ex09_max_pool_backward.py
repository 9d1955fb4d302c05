"""Exercise 9 — max pooling backward, with TensorFlow's rule for ties.

Forward (exercise 5), y[n, i, j, c] is the largest number of window (i, j); only that pixel
affected it, so dy[n, i, j, c] goes back to that ONE pixel and every other pixel of the
window gets nothing from it. The rules (TensorFlow's MaxPoolGrad, what Keras trains with):
  - ties: when a window's maximum appears several times, the gradient goes only to the
    FIRST one in row-major order (along the window's top row first, left to right);
  - overlapping windows (stride < pool_size): a pixel that is the maximum of several windows
    receives the SUM of their gradients; pixels that are no window's maximum get 0.
``stride=None`` means stride = pool_size. Lesson 06's map x = [[1,1,2,4],[5,6,7,8],[3,2,1,0],[1,2,3,4]]
with 2×2 windows and dy = [[1,2],[3,4]] gives dx = [[0,0,0,0],[0,1,0,2],[3,0,0,0],[0,0,0,4]];
with 3×3 windows, stride 1, the same dy gives dx[1, 2] = 1 + 3 = 4, dx[1, 3] = 2 + 4 = 6, all
else 0. The window [[5,5],[1,5]] sends its gradient to its top-left 5 only.

Check it with: convlab check 9   (convlab check 9 --hint for a hint)
"""

import numpy as np


def max_pool2d_backward(dy: np.ndarray, x: np.ndarray, pool_size: int, stride: int | None) -> np.ndarray:
    """Gradient of max_pool2d(x, pool_size, stride) with respect to x.

    Args:
        dy: (N, T, U, C) gradient of the loss with respect to the pooled output.
        x: (N, H, W, C) the forward input.
        pool_size: K, an int ≥ 1 (square windows).
        stride: S, an int ≥ 1, or None for S = K.

    Returns:
        dx, (N, H, W, C): a new array, x's shape.
    """
    raise NotImplementedError("exercise 9: write max_pool2d_backward here")
