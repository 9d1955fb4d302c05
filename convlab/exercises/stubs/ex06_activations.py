"""Exercise 6 — the activations of the course's CNN: ReLU and softmax.

relu(x) = max(0, x), number by number, any shape (Conv2D(..., activation="relu")).

softmax turns the last layer's scores z (one row per image, one column per class) into
probabilities, along the LAST axis (Dense(10, activation="softmax")):

    softmax(z)[n, k] = e^z[n, k] / Σ_j e^z[n, j]        each row is positive and sums to 1

softmax([1, 2, 3]) ≈ [0.0900, 0.2447, 0.6652]. It must be numerically stable: scores
like [1000, 1001, 1002] must give the same ≈ [0.0900, 0.2447, 0.6652], not nan —
np.exp(1000) is inf in float64. Return new arrays; do not change the inputs.

Check it with: convlab check 6   (convlab check 6 --hint for a hint)
"""

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """ReLU, element-wise.

    Args:
        x: array of any shape.

    Returns:
        array of x's shape: x where x > 0, else 0.
    """
    raise NotImplementedError("exercise 6: write relu here")


def softmax(z: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis.

    Args:
        z: (N, K) scores (any number of leading axes; softmax runs along the last one).

    Returns:
        array of z's shape; every slice along the last axis is positive and sums to 1.
    """
    raise NotImplementedError("exercise 6: write softmax here")
