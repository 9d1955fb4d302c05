"""Exercise 8 — convolution backward: the gradients dx, dkernel and dbias, with stride and padding.

The forward pass is exercise 4: y[n, i, j, f] = Σ_u Σ_v Σ_c xp[n, i·S + u, j·S + v, c]·kernel[u, v, c, f]
+ bias[f], xp = x padded with P zeros. Given dy = ∂L/∂y, the chain rule (lesson 07) adds up,
over every output number, what each weight, bias and pixel contributed to it:
  - kernel[u, v, c, f] multiplied xp[n, i·S + u, j·S + v, c] in output y[n, i, j, f];
  - bias[f] was added once to every output number of filter f, in every image;
  - pixel xp[n, p, q, c] was used by every window that covers it; dx is x's shape (N, H, W, C_in):
    the padding zeros are not inputs, and pixels no window covers get 0.
Lesson 07's example: the sharpen kernel on the 5×5 input, stride 1, P = 0, dy all ones (3×3)
→ dbias = [9], dkernel = [[777,865,872],[800,798,910],[905,883,992]] (each number the sum of one
3×3 block of the input), dx row 0 = [0,-1,-1,-1,0], row 1 = [-1,3,2,3,-1].
Every call must return new arrays computed from its arguments only (nothing kept between calls).

Check it with: convlab check 8   (convlab check 8 --hint for a hint)
"""

import numpy as np


def conv2d_backward(
    dy: np.ndarray, x: np.ndarray, kernel: np.ndarray, stride: int, padding: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of conv2d(x, kernel, bias, stride, padding) with respect to x, kernel and bias.

    Args:
        dy: (N, T, U, C_out) gradient of the loss with respect to the output.
        x: (N, H, W, C_in) the forward input.
        kernel: (KH, KW, C_in, C_out) the forward filters.
        stride: S, an int ≥ 1.
        padding: P, an int ≥ 0 (zeros on each side in the forward pass).

    Returns:
        (dx, dkernel, dbias) with shapes (N, H, W, C_in), (KH, KW, C_in, C_out) and (C_out,).
    """
    raise NotImplementedError("exercise 8: write conv2d_backward here")
