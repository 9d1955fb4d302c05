"""Learner files the exercise tests grade: a correct solution to build wrong ones from."""

#: A correct exercise 2 (correlate2d), written as a learner would: plain loops.
CORRELATE2D = """
import numpy as np

def correlate2d(image, kernel):
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out
"""
