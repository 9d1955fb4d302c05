"""Exercise 10 — one training step of a tiny CNN built from YOUR functions of exercises 4–9.

On a batch of N real 8×8 digits x (N, 8, 8, 1), pixels in [0, 1], labels y (N,) in 0–9, F filters
(the course's CNN in miniature, lessons 08–13):
    z = conv2d(x, K, b), 3×3, stride 1, padding 0   (N, 6, 6, F)    6 = (8 + 0 − 3)/1 + 1
    a = relu(z);  m = max_pool2d(a), 2×2, stride 2  (N, 3, 3, F)
    f = flatten(m) (N, 9F);  s = dense(f, W, c) (N, 10);  p = softmax(s) (N, 10)
    L = −(1/N) Σ_n log p[n, y_n]                     the mean cross-entropy, a float
Backward (lesson 07); each gradient has the shape of what it is the gradient of:
∂L/∂s = (p − onehot(y)) / N, where onehot(y)[n, k] = 1 if k = y_n else 0; dense backward:
∂L/∂W = fᵀ·∂L/∂s, ∂L/∂c = Σ_n ∂L/∂s[n, :], ∂L/∂f = ∂L/∂s·Wᵀ; ∂L/∂m is ∂L/∂f put back into m's
shape (flatten's order, undone); ∂L/∂a from max_pool2d_backward (exercise 9); ReLU backward:
∂L/∂z = ∂L/∂a where z > 0, else 0; ∂L/∂K and ∂L/∂b from conv2d_backward (exercise 8).
Plain SGD (learning rate η), for every parameter θ:  θ_new = θ − η · ∂L/∂θ.
With small random weights the first loss is close to ln 10 ≈ 2.30; repeated steps lower it.

Check it with: convlab check 10   (convlab check 10 --hint for a hint)
"""

import numpy as np

# your own functions of exercises 4–9, from the files next to this one
from ex04_conv2d import conv2d
from ex05_max_pool import max_pool2d
from ex06_activations import relu, softmax
from ex07_dense import dense, flatten
from ex08_conv_backward import conv2d_backward
from ex09_max_pool_backward import max_pool2d_backward


def train_step(params: dict, x: np.ndarray, y: np.ndarray, learning_rate: float) -> tuple[float, dict]:
    """One step of plain SGD on the mean cross-entropy of the batch (x, y).

    Args:
        params: the network's weights, a dict of arrays (F filters):
            "conv_kernel" (3, 3, 1, F), "conv_bias" (F,), "dense_kernel" (9·F, 10), "dense_bias" (10,).
        x: (N, 8, 8, 1) float images, pixels in [0, 1].
        y: (N,) int labels 0–9.
        learning_rate: η, a float > 0.

    Returns:
        (loss, new_params): the loss L of the batch BEFORE the step, as a float, and a NEW dict with
        the same keys and shapes holding θ − η·∂L/∂θ. The arrays in ``params`` must stay unchanged.
    """
    raise NotImplementedError("exercise 10: write train_step here")
