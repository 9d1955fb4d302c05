"""Exercise 1 — the output size of a convolution or pooling layer along one axis.

A window of K pixels slides over N pixels (plus P zeros on each side), S pixels at a
time. The slides ("¿Cuál es el tamaño del resultado?", lesson 05) count the outputs:

    T = (N + 2·P − K)/S + 1        e.g. (5 + 2·1 − 3)/2 + 1 = 3   and   (28 + 0 − 3)/1 + 1 = 26

When (N + 2P − K) is not a multiple of S, Keras rounds the division DOWN (the last
pixels are not covered): N=6, K=3, P=0, S=2 → ⌊3/2⌋ + 1 = 2.
``padding`` is an int P, or Keras' strings: "valid" means P = 0; "same" means
TensorFlow's rule T = ⌈N/S⌉ whatever K is (N=28, S=2 → 14; N=7, S=2 → 4).
Plain integers: no numpy needed.

Check it with: convlab check 1   (convlab check 1 --hint for a hint)
"""


def output_size(n: int, kernel_size: int, padding: int | str, stride: int) -> int:
    """Number of outputs along one axis.

    Args:
        n: input length N (pixels), an int ≥ 1.
        kernel_size: window length K, an int ≥ 1.
        padding: P (an int ≥ 0, zeros on EACH side), "valid" or "same".
        stride: S, an int ≥ 1.

    Returns:
        T, an int.
    """
    raise NotImplementedError("exercise 1: write output_size here")
