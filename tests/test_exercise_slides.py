"""The slides' numbers the graders share (convlab/exercises/slides.py) are the slides' and cannot be changed."""

from __future__ import annotations

import numpy as np
import pytest

from convlab.exercises import slides
from convlab.exercises.diagnosis import size_formula_text, window_place_text
from convlab.ops.conv import conv2d, correlate2d

CONSTANTS = [name for name in slides.__all__ if name.isupper()]


def test_the_reference_engine_gives_the_slides_outputs():
    # reference-numbers.md: 5×5 ⋆ sharpen → [[266, −61, −30], …]; the 5×5×3 example, P = 1, S = 2 → o.
    assert np.array_equal(correlate2d(slides.IMAGE, slides.SHARPEN, backend="reference"), slides.SHARPEN_OUTPUT)
    o = conv2d(
        slides.one_image(slides.THREE_CHANNEL_INPUT),
        slides.THREE_CHANNEL_KERNEL,
        slides.THREE_CHANNEL_BIAS,
        strides=2,
        padding=1,
        backend="reference",
    )
    assert np.array_equal(o[0], slides.THREE_CHANNEL_OUTPUT)
    assert slides.THREE_CHANNEL_OUTPUT[:, :, 0].tolist() == [[2, 3, 3], [3, 7, 3], [8, 10, -3]]
    assert slides.THREE_CHANNEL_KERNEL[:, :, 2, 1].tolist() == [[-1, 1, -1], [0, -1, -1], [1, 0, 0]]  # w1[:, :, 2]


@pytest.mark.parametrize("name", CONSTANTS)
def test_constants_are_read_only_float64(name):
    a = getattr(slides, name)
    assert a.dtype == np.float64 and not a.flags.writeable
    with pytest.raises(ValueError):
        a[(0,) * a.ndim] = 1.0


def test_one_image_is_a_writable_copy():
    x = slides.one_image(slides.IMAGE)
    assert x.shape == (1, 5, 5, 1) and x.flags.writeable
    x[0, 0, 0, 0] = -1.0
    assert slides.IMAGE[0, 0] == 60
    assert slides.one_image(slides.THREE_CHANNEL_INPUT).shape == (1, 5, 5, 3)


def test_pooling_sizes_and_window_places():
    # The formulas' NO-BREAK SPACEs (the report never wraps inside an expression) read as spaces.
    assert size_formula_text(5, 2, None, 2).replace("\u00a0", " ") == "T = ⌊(5 − 2)/2⌋ + 1 = ⌊3/2⌋ + 1 = 2"
    assert size_formula_text(4, 2, None, 2, "U").replace("\u00a0", " ") == "U = (4 − 2)/2 + 1 = 2"
    stride2 = "rows 2–4 and columns 0–2 (stride 2: starting at row 2·1 = 2, column 2·0 = 0)"
    assert window_place_text(1, 0, 3, 3, 2) == stride2
    assert window_place_text(1, 2, 2, 3) == "rows 1–2 and columns 2–4"
