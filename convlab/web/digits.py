"""Turning a drawing or an upload into what a model expects: MNIST's own recipe for 28×28 digits.

MNIST's digits were not simply shrunk to 28×28. LeCun, Cortes and Burges describe
it on the MNIST page (http://yann.lecun.com/exdb/mnist/): "The original black and
white images from NIST were size normalized to fit in a 20x20 pixel box while
preserving their aspect ratio. The resulting images contain grey levels as a result
of the anti-aliasing technique used by the normalization algorithm. The images were
centered in a 28x28 image by computing the center of mass of the pixels, and
translating the image so as to position this point at the center of the 28x28
field." A drawing that skips these steps — a digit drawn small in a corner, or
black on white — looks nothing like what the network was trained on, and gets
wrong answers that say nothing about the network. :func:`mnist_preprocess` repeats
the recipe; :func:`fit_input` adapts an image to any other model's input.

Measured on the 5,000 digits of :func:`convlab.datasets.load_mnist`: every digit's
ink box has a longest side of exactly 20 pixels and its centre of mass lies within
half a pixel of (14, 14) in array indices — so the translation is a whole number of
pixels, rounded, and the target is index 14.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from convlab.util.i18n import _
from convlab.web.images import ImageError

__all__ = [
    "BlankImageError",
    "to_grey",
    "mnist_preprocess",
    "fit_input",
    "MNIST_BOX",
    "MNIST_SIZE",
    "MAX_INPUT_SIDE",
    "MAX_WORK_SIDE",
]

#: The digit's box (its longer side) and the frame, in pixels (MNIST).
MNIST_BOX = 20
MNIST_SIZE = 28
#: Where the centre of mass goes, in array indices (row, col): measured on MNIST (module docstring).
_TARGET = 14.0
#: The slides' greyscale weights (seeds/003): 0.3·R + 0.59·G + 0.11·B.
_GREY_WEIGHTS = np.array([0.3, 0.59, 0.11])
#: Less contrast than this (on a 0–1 scale) between the background and the darkest/brightest stroke is no ink.
_MIN_CONTRAST = 0.1
#: Pixels above this fraction of the stroke's intensity mark the ink's bounding box (photos have noisy paper).
_INK_THRESHOLD = 0.1


class BlankImageError(ImageError):
    """There is nothing to recognise: a blank canvas or a uniform image. The message says to draw a digit."""

    def __init__(self, message: str | None = None, status: int = 400) -> None:
        super().__init__(_("the canvas is blank — draw a digit first") if message is None else message, status)


#: Larger uint8 images are first reduced (box average, by a whole factor) to at most this side: the result is
#: 28×28 (or a model's input size) anyway, and a 9000×9000 upload as float64 would take gigabytes.
MAX_WORK_SIDE = 1024

#: The largest input side :func:`fit_input` resizes to. VGG takes 224; a side in the tens of thousands would
#: allocate gigabytes (float64) before any model could run on it, and one of 2**40 fails inside NumPy.
MAX_INPUT_SIDE = 4096


def _reduced(image: np.ndarray) -> np.ndarray:
    """``image`` (uint8) box-averaged by a whole factor so that its longer side is at most :data:`MAX_WORK_SIDE`."""
    longest = max(image.shape[:2])
    if image.dtype != np.uint8 or longest <= MAX_WORK_SIDE or image.ndim not in (2, 3):
        return image
    factor = -(-longest // MAX_WORK_SIDE)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] != 3:
        return image  # refused by _as_unit with its own message
    return np.asarray(Image.fromarray(np.ascontiguousarray(image)).reduce(factor))


def _as_unit(image: np.ndarray, name: str, *, keep_rgb: bool = False) -> np.ndarray:
    """``image`` (uint8 0–255, or floats in [0, 1]) as float64 in [0, 1], ``(H, W)``; ``(H, W, 3)`` becomes grey
    (slides' weights) unless ``keep_rgb``. ``(H, W, 1)`` is taken as ``(H, W)``."""
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (H, W) or (H, W, 3), got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or 0 in image.shape:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, 3) with H, W >= 1, got {image.shape}")
    if image.dtype == np.uint8:
        unit = _reduced(image).astype(np.float64) / 255.0
    elif image.dtype.kind == "f":
        unit = image.astype(np.float64)
        if not np.all(np.isfinite(unit)) or unit.min() < 0.0 or unit.max() > 1.0:
            raise ValueError(f"{name}: float pixels must be finite and in [0, 1]")
    else:
        raise TypeError(f"{name} must be uint8 (0–255) or float in [0, 1], got dtype {image.dtype}")
    if unit.ndim == 3 and not keep_rgb:
        unit = unit @ _GREY_WEIGHTS
    return unit


def to_grey(image: np.ndarray) -> np.ndarray:
    """Greyscale in [0, 1] (float64) from ``(H, W)`` or ``(H, W, 3)`` uint8 (or floats in [0, 1]).

    RGB uses the slides' weights (seeds/003): ``0.3·R + 0.59·G + 0.11·B``.
    Raises TypeError / ValueError naming ``image`` for another shape or dtype.
    """
    return _as_unit(image, "image")


def _border(grey: np.ndarray) -> np.ndarray:
    """The outermost ring of pixels (the background of a digit drawn or photographed in the middle)."""
    return np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])


def mnist_preprocess(grey: np.ndarray, *, invert: bool | None = None) -> np.ndarray:
    """Make a 28×28 MNIST-style digit from a drawing or a photo of one (LeCun et al.'s recipe).

    Steps:
      1. greyscale in [0, 1] (RGB with the slides' weights);
      2. white ink on black: ``invert=None`` decides from the border (a light background,
         median above 0.5, is inverted — paper photos and black-on-white drawings);
      3. the background level (the border's median) becomes 0 and the strongest ink 1;
      4. the ink's bounding box (pixels above 0.1) is cut out and scaled so that its longer
         side is 20 pixels, keeping the aspect ratio, with anti-aliasing (Pillow's box filter
         when shrinking: each new pixel is the mean of the area it covers — the grey edges
         MNIST's digits have; bilinear when enlarging a tiny drawing);
      5. it is pasted into a black 28×28 frame with its centre of mass on pixel (14, 14)
         (a whole-pixel shift, as MNIST; the box is kept inside the frame, so for a very
         lopsided shape the centre may end up a little off).

    Args:
        grey: ``(H, W)`` (or ``(H, W, 3)``) uint8 0–255, or floats in [0, 1].
        invert: ``True``/``False`` to force (not) inverting; ``None`` decides from the border.

    Returns:
        ``(28, 28)`` float32 in [0, 1], white ink on black.

    Raises:
        BlankImageError: no ink — a blank canvas or a uniform image.
        TypeError / ValueError: ``grey`` of another shape or dtype, or a non-bool ``invert``.

    Round trip: a real MNIST digit enlarged 10× (nearest neighbour) comes back close to itself (within 0.1
    per pixel on all 5,000 digits; most come back exactly).
    """
    if invert is not None and not isinstance(invert, (bool, np.bool_)):
        raise TypeError(f"invert must be True, False or None, got {invert!r}")
    g = _as_unit(grey, "grey")
    border = _border(g)
    if invert is None:
        invert = bool(np.median(border) > 0.5)
    if invert:
        g = 1.0 - g
        border = 1.0 - border
    background = float(np.median(border))
    peak = float(g.max())
    if peak - background < _MIN_CONTRAST:
        if g.size and float(g.max() - g.min()) < _MIN_CONTRAST:
            raise BlankImageError(_("the image is blank (one uniform colour): draw a digit first"))
        raise BlankImageError(_("no ink found: the strokes are as faint as the background — draw a digit first"))
    ink = np.clip((g - background) / (peak - background), 0.0, 1.0)
    rows = np.flatnonzero((ink > _INK_THRESHOLD).any(axis=1))
    cols = np.flatnonzero((ink > _INK_THRESHOLD).any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].astype(np.float32)
    h, w = crop.shape
    scale = MNIST_BOX / max(h, w)
    nh, nw = max(1, min(MNIST_BOX, round(h * scale))), max(1, min(MNIST_BOX, round(w * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    small = np.asarray(Image.fromarray(crop).resize((nw, nh), resample), dtype=np.float32)
    small = np.clip(small, 0.0, 1.0)
    mass = float(small.sum())
    if mass <= 0.0:  # cannot happen after the threshold above; guards the division
        raise BlankImageError()
    cy = float(small.sum(axis=1) @ np.arange(nh)) / mass  # the centre of mass, in array indices
    cx = float(small.sum(axis=0) @ np.arange(nw)) / mass
    top = int(np.clip(round(_TARGET - cy), 0, MNIST_SIZE - nh))
    left = int(np.clip(round(_TARGET - cx), 0, MNIST_SIZE - nw))
    out = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    out[top : top + nh, left : left + nw] = small
    return out


def _check_input_shape(input_shape: Sequence[int]) -> tuple[int, int, int]:
    """``(H, W, C)`` as ints ≥ 1 with C in {1, 3}; ValueError / TypeError naming ``input_shape``."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be (H, W, C), got {input_shape!r}") from None
    if len(shape) == 4 and shape[0] is None:  # a model's input_shape with its batch axis
        shape = shape[1:]
    if len(shape) != 3 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in shape):
        raise TypeError(f"input_shape must be (H, W, C) of ints, got {input_shape!r}")
    h, w, c = (int(v) for v in shape)
    if not (1 <= h <= MAX_INPUT_SIDE and 1 <= w <= MAX_INPUT_SIDE):
        raise ValueError(f"input_shape must have H, W >= 1 and <= {MAX_INPUT_SIDE}, got {input_shape!r:.80}")
    if c not in (1, 3):
        raise ValueError(
            f"input_shape must have C = 1 (greyscale) or 3 (RGB) channels to take an image, got C = {c} "
            f"(input_shape {input_shape!r})"
        )
    return h, w, c


def fit_input(image: np.ndarray, input_shape: Sequence[int]) -> np.ndarray:
    """Make ``image`` what a model with inputs of ``input_shape`` sees, scaled to [0, 1].

    - 28×28×1 (an MNIST model): an image that is already 28×28 greyscale is used as it
      is (inverted if its background is light: it is already MNIST's size, and
      re-centring it would change a real MNIST digit); anything else — a drawing, an
      upload — goes through :func:`mnist_preprocess`.
    - any other size: resized to ``(H, W)`` (bilinear with anti-aliasing,
      ``skimage.transform.resize``, as :func:`convlab.data.images.load_image`; the aspect
      ratio is not kept, as Keras' ``load_img(target_size=…)``), greyscale repeated to 3
      channels for an RGB model, RGB to greyscale (the slides' weights) for a 1-channel one.

    Args:
        image: ``(H, W)`` or ``(H, W, 3)`` uint8 (0–255) (or floats in [0, 1]).
        input_shape: the model's ``(H_in, W_in, C_in)`` (a leading ``None`` batch axis is allowed).

    Returns:
        ``(H_in, W_in, C_in)`` float32 in [0, 1].

    Raises:
        ValueError: ``C_in`` not 1 or 3, ``H_in`` or ``W_in`` not in ``[1, MAX_INPUT_SIDE]``, a bad
            ``image`` shape or float range; TypeError:
            a bad dtype or ``input_shape``; BlankImageError (28×28×1 models): no ink.
    """
    h, w, c = _check_input_shape(input_shape)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array (H, W) or (H, W, 3), got {type(image).__name__}")
    if (h, w, c) == (MNIST_SIZE, MNIST_SIZE, 1):
        grey = _as_unit(image, "image")
        if grey.shape == (MNIST_SIZE, MNIST_SIZE):
            if np.median(_border(grey)) > 0.5:
                grey = 1.0 - grey
            if float(grey.max() - grey.min()) < _MIN_CONTRAST:
                raise BlankImageError(_("the image is blank (one uniform colour): draw a digit first"))
            return grey.astype(np.float32)[:, :, None]
        return mnist_preprocess(grey)[:, :, None]
    unit = _as_unit(image, "image", keep_rgb=c == 3)  # (H, W), or (H, W, 3) for an RGB model given RGB
    # Much larger than the target: box-average by a whole factor first (to about 4× the target), so that the
    # Gaussian anti-aliasing filter below runs on a small array (0.5 s → a few ms for a photo; same picture).
    factor = min(unit.shape[0] // (4 * h), unit.shape[1] // (4 * w))
    if factor >= 2:
        hh, ww = unit.shape[0] // factor * factor, unit.shape[1] // factor * factor
        unit = unit[:hh, :ww].reshape(hh // factor, factor, ww // factor, factor, *unit.shape[2:]).mean(axis=(1, 3))
    if unit.shape[:2] != (h, w):
        from skimage import transform  # here: importing it takes a quarter of a second, MNIST models never need it

        unit = transform.resize(unit, (h, w) + unit.shape[2:], order=1, anti_aliasing=True, preserve_range=True)
    unit = np.clip(unit, 0.0, 1.0)
    if unit.ndim == 2:
        unit = np.repeat(unit[:, :, None], c, axis=2)
    return np.ascontiguousarray(unit, dtype=np.float32)
