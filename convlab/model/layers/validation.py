"""Checks of the layers' own arguments and input shapes; each error names the argument (or the layer).

These validate the values of arguments convlab implements (``padding``,
``activation``, ``dtype``, shapes). Keras arguments convlab does *not*
implement are checked by :mod:`convlab.model.layers.keras_arguments`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from convlab.ops import activations
from convlab.shapes import resolve_padding
from convlab.shapes.sizes import Padding
from convlab.util.checks import is_int

__all__ = ["check_padding", "padding_config", "check_activation", "check_dtype", "as_shape", "window_output_shape"]


def check_padding(padding: Padding) -> Padding:
    """``padding`` as the operations accept it; strings are lower-cased (Keras accepts ``"SAME"``).

    Accepted: ``"valid"``, ``"same"`` (Keras), or what :func:`convlab.conv2d` also
    takes: an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``.

    Raises:
        ValueError / TypeError: anything else, naming ``padding``.
    """
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(
                f'padding must be "valid", "same", an int or ((top, bottom), (left, right)), got {padding!r}'
            )
        return padding.lower()
    resolve_padding((8, 8), (1, 1), padding, 1)  # raises naming padding
    if is_int(padding):
        return int(padding)
    return tuple(tuple(p) if isinstance(p, (list, tuple)) else p for p in padding)


def padding_config(padding: Padding) -> str | int | list:
    """``padding`` as JSON-ready data (pairs become lists)."""
    if isinstance(padding, (str, int)):
        return padding
    return [list(p) if isinstance(p, tuple) else p for p in padding]


def check_activation(activation: str | None) -> str:
    """An activation name, lower case (``None`` → ``"linear"``).

    Raises:
        TypeError: not a str or None (convlab layers take activations by name).
        ValueError: an unknown name, listing the known ones.
    """
    if activation is None:
        return "linear"
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name such as 'relu' or None, got {activation!r}")
    activations.get(activation)  # ValueError listing the known names
    return activation.lower()


def check_dtype(dtype: DTypeLike | None) -> np.dtype:
    """``np.dtype`` float32 (for ``None``) or float64.

    Raises:
        ValueError: any other dtype, naming ``dtype``.
    """
    d = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
    if d not in (np.float32, np.float64):
        raise ValueError(f'dtype must be "float32" or "float64", got {dtype!r}')
    return d


def as_shape(shape: int | Sequence[int | None], name: str) -> tuple[int | None, ...]:
    """``shape`` as a tuple of positive ints or ``None`` (callers allow ``None`` only for the batch axis).

    Raises:
        TypeError: not an int or a tuple/list; ValueError: an entry that is not a positive int or None.
    """
    if is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
    out = []
    for d in shape:
        if d is None:
            out.append(None)
        elif is_int(d) and d >= 1:
            out.append(int(d))
        else:
            raise ValueError(f"{name} must contain positive ints (or None for the batch), got {shape!r}")
    return tuple(out)


def window_output_shape(
    shape: tuple[int, ...],
    window: tuple[int, int],
    strides: tuple[int, int],
    padding: Padding,
    *,
    layer: str,
    layer_type: str,
    what: str,
) -> tuple[int, int, int]:
    """``(OH, OW, C)`` of a sliding-window layer (Conv2D, pooling) for one example of shape ``(H, W, C)``.

    ``OH = floor((H + P_top + P_bottom − KH) / S_h) + 1`` (the slides' formula; Keras floors).

    Args:
        shape: ``(H, W, C)``, without the batch axis.
        window: ``(KH, KW)``; strides: ``(S_h, S_w)``; padding: as :func:`check_padding` returns it.
        layer, layer_type: the layer's name and class name, for messages.
        what: ``"kernel"`` or ``"pool"``, for messages.

    Raises:
        ValueError: a non-4-D input or a window larger than the padded input, naming the layer.
    """
    if len(shape) != 3:
        raise ValueError(
            f"{layer}: {layer_type} expects 4-D input (N, H, W, C), got input_shape {(None,) + tuple(shape)}"
        )
    h, w, c = shape
    kh, kw = window
    t, b, l, r = resolve_padding((h, w), (kh, kw), padding, strides)
    if kh > h + t + b or kw > w + l + r:
        raise ValueError(
            f"{layer}: {what} {kh}×{kw} is larger than the padded input "
            f"{h + t + b}×{w + l + r} (input_shape {(None, h, w, c)}, padding={padding!r})"
        )
    return (h + t + b - kh) // strides[0] + 1, (w + l + r - kw) // strides[1] + 1, c
