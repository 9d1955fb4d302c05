"""Shared fixtures: the slides' numbers (../shared/reference-numbers.md, seeds/003)."""

import os

import numpy as np
import pytest
from hypothesis import settings

# --------------------------------------------------------------------------- hypothesis profiles
# "ci" (the default) is deterministic: the same examples on every run and machine, no example
# database, no deadline (a shared 2-core machine has slow moments); a failure prints the blob that
# reproduces it (@reproduce_failure). HYPOTHESIS_PROFILE=explore draws new random examples locally.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True, max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# --------------------------------------------------------------------------- the language
# The tests read English text unless they ask for Spanish (--lang es): whatever the machine's LANG, this
# process and the lessons, tours and learner processes it starts speak English by default.
os.environ["CONVLAB_LANG"] = "en"

BACKENDS = ["reference", "numpy", "numba"]
DTYPES = [np.float32, np.float64]

SLIDE_INPUT = np.array(
    [
        [60, 113, 56, 139, 85],
        [73, 121, 54, 84, 128],
        [131, 99, 70, 129, 127],
        [80, 57, 115, 69, 134],
        [104, 126, 123, 95, 130],
    ]
)
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
SLIDE_VALID = np.array([[266, -61, -30], [116, -47, 295], [-135, 256, -128]])
SLIDE_PAD1 = np.array(
    [
        [114, 328, -26, 470, 158],
        [53, 266, -61, -30, 344],
        [403, 116, -47, 295, 244],
        [108, -135, 256, -128, 344],
        [314, 346, 279, 153, 421],
    ]
)


def three_channel_example():
    """The slide's 5×5×3 input, two 3×3×3 filters, biases (1, 0), and the 3×3×2 output."""
    x = np.zeros((5, 5, 3))
    x[:, :, 0] = [[0, 0, 1, 0, 2], [1, 0, 2, 0, 1], [1, 0, 2, 2, 0], [2, 0, 0, 2, 0], [2, 1, 2, 2, 0]]
    x[:, :, 1] = [[2, 1, 2, 1, 1], [2, 1, 2, 0, 1], [0, 2, 1, 0, 1], [1, 2, 2, 2, 2], [0, 1, 2, 0, 1]]
    x[:, :, 2] = [[2, 1, 1, 2, 0], [1, 0, 0, 1, 0], [0, 1, 0, 0, 0], [1, 0, 2, 1, 0], [2, 2, 1, 1, 1]]
    w = np.zeros((3, 3, 3, 2))
    w[:, :, 0, 0] = [[-1, 0, 1], [0, 0, 1], [1, -1, 1]]
    w[:, :, 1, 0] = [[-1, 0, 1], [1, -1, 1], [0, 1, 0]]
    w[:, :, 2, 0] = [[-1, 1, 1], [1, 1, 0], [0, -1, 0]]
    w[:, :, 0, 1] = [[0, 1, -1], [0, -1, 0], [0, -1, 1]]
    w[:, :, 1, 1] = [[-1, 0, 0], [1, -1, 0], [1, -1, 0]]
    w[:, :, 2, 1] = [[-1, 1, -1], [0, -1, -1], [1, 0, 0]]
    b = np.array([1.0, 0.0])
    o = np.zeros((3, 3, 2))
    o[:, :, 0] = [[2, 3, 3], [3, 7, 3], [8, 10, -3]]
    o[:, :, 1] = [[-8, -8, -3], [-3, 1, 0], [-3, -8, -5]]
    return x, w, b, o


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param


@pytest.fixture
def english_afterwards():
    """A test that changes convlab's language leaves the process as it found it: English, and the
    ``CONVLAB_LANG`` the next test's child processes inherit as it was."""
    from convlab.util import i18n

    saved = os.environ.get(i18n.LANG_VARIABLE)
    yield
    i18n.set_language("en")
    if saved is None:
        os.environ.pop(i18n.LANG_VARIABLE, None)
    else:
        os.environ[i18n.LANG_VARIABLE] = saved
