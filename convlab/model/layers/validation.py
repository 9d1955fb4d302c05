"""Checks of the model level's own arguments; each error names the argument (or the layer).

These validate the values of arguments convlab implements (``padding``,
``activation``, ``dtype``, shapes, flags, real-valued settings). Keras arguments
convlab does *not* implement are checked by :mod:`convlab.model.layers.keras_arguments`.
Arrays, sizes and counts go through :mod:`convlab.util.checks` (one int rule:
:func:`~convlab.util.checks.check_int`); the two kinds of scalar the layers
take most (:func:`~convlab.util.checks.check_bool`, :func:`~convlab.util.checks.check_float`,
re-exported here) live there too, because the operations' flags follow the same rule:

- a **flag** (``use_bias``, ``trainable``, ``shuffle``, ``training``…) is a Python or
  NumPy bool (:func:`check_bool`). ``"False"``, ``0``, ``None`` or an array are a
  ``TypeError``: ``bool("False")`` is ``True``, so taking any value for its truth
  would silently do the opposite of what was written;
- a **real setting** (``learning_rate``, ``rate``, ``momentum``, ``validation_split``…)
  is a Python or NumPy int or float, not a bool (:func:`check_float`); NaN, ±inf and
  values outside its range are a ``ValueError``, an int too large for a float too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

from convlab.ops import activations
from convlab.shapes import resolve_padding
from convlab.shapes.sizes import Padding
from convlab.util.checks import check_array_fits, check_bool, check_float, check_int, is_int, shown

__all__ = [
    "check_bool",
    "check_float",
    "check_padding",
    "padding_config",
    "check_activation",
    "check_dtype",
    "as_shape",
    "check_shape_fits",
    "window_output_shape",
    "check_strides_dilation",
]


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

    Accepted: ``None``, a name (``"float32"``), a type (``np.float64``, ``float``) or an
    ``np.dtype``. Keras takes dtypes by name; a value (``np.float64(2.0)``, an array)
    is not a dtype, even though NumPy would read its ``.dtype``.

    Raises:
        TypeError: not a name, type or ``np.dtype``, or a name NumPy does not know, naming ``dtype``.
        ValueError: a dtype other than float32 and float64, naming ``dtype``.
    """
    if dtype is None:
        return np.dtype(np.float32)
    if not isinstance(dtype, (str, type, np.dtype)):
        raise TypeError(f'dtype must be "float32" or "float64", got {shown(dtype)} ({type(dtype).__name__})')
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f'dtype must be "float32" or "float64", got {dtype!r} (not a dtype)') from None
    if d not in (np.float32, np.float64):
        raise ValueError(f'dtype must be "float32" or "float64", got {dtype!r}')
    return d


def as_shape(shape: int | Sequence[int | None], name: str) -> tuple[int | None, ...]:
    """``shape`` as a tuple of positive ints or ``None`` (callers allow ``None`` only for the batch axis).

    Every size follows the one int rule (:func:`convlab.util.checks.check_int`): an int
    from 1 up to ``2**63 − 1``, no axis of an array can be longer.

    Raises:
        TypeError: not an int or a tuple/list, or an entry that is not an int or None
            (a bool, a float, a string); ValueError: an entry below 1 or above ``2**63 − 1``.
    """
    if is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {shown(shape)} ({type(shape).__name__})")
    out = []
    for i, d in enumerate(shape):
        if d is None:
            out.append(None)
            continue
        try:
            out.append(check_int(d, f"{name}[{i}]", minimum=1, expected="a positive int (or None for the batch)"))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc}, in {name}={shown(shape)}") from None
    return tuple(out)


def check_shape_fits(shape: Sequence[int], dtype: np.dtype, layer: str, what: str) -> None:
    """Raise naming ``layer`` when an array of ``shape`` (one example, or a weight) cannot exist.

    A layer's output shape is computed exactly from any sizes it accepts; an
    output or a weight larger than any array can be (more than ``2**63 − 1``
    elements along an axis, or more bytes than NumPy can address) is refused when
    the layer is built, before anything is allocated
    (:func:`convlab.util.checks.check_array_fits`).

    Raises:
        ValueError: naming the layer and ``what`` (``"output (one example)"``, ``"kernel"``).
    """
    for d in shape:
        if d > np.iinfo(np.int64).max:
            raise ValueError(
                f"{layer}: its {what} would have shape {shown(tuple(shape))}: an axis longer than 2**63 - 1, "
                "which no array can have (check the input shape, padding and strides)"
            )
    check_array_fits(tuple(shape), np.dtype(dtype).itemsize, layer, f"its {what}")


def window_output_shape(
    shape: tuple[int, ...],
    window: tuple[int, int],
    strides: tuple[int, int],
    padding: Padding,
    *,
    layer: str,
    layer_type: str,
    what: str,
    dilation: tuple[int, int] = (1, 1),
) -> tuple[int, int, int]:
    """``(OH, OW, C)`` of a sliding-window layer (Conv2D, pooling) for one example of shape ``(H, W, C)``.

    ``OH = floor((H + P_top + P_bottom − D·(KH − 1) − 1) / S_h) + 1`` (the slides' formula with
    the dilated window's span ``D·(K − 1) + 1``, Dumoulin & Visin 2016 §5.1; Keras floors).

    Args:
        shape: ``(H, W, C)``, without the batch axis.
        window: ``(KH, KW)``; strides: ``(S_h, S_w)``; padding: as :func:`check_padding` returns it.
        layer, layer_type: the layer's name and class name, for messages.
        what: ``"kernel"`` or ``"pool"``, for messages.
        dilation: ``(D_h, D_w)``, Keras' ``dilation_rate`` (1: no gaps).

    Raises:
        ValueError: a non-4-D input or a window larger than the padded input, naming the layer.
    """
    if len(shape) != 3:
        raise ValueError(
            f"{layer}: {layer_type} expects 4-D input (N, H, W, C), got input_shape {(None,) + tuple(shape)}"
        )
    h, w, c = shape
    kh, kw = window
    ekh, ekw = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    t, b, l, r = resolve_padding((h, w), (ekh, ekw), padding, strides)
    if ekh > h + t + b or ekw > w + l + r:
        spans = "" if tuple(dilation) == (1, 1) else f" with dilation_rate {tuple(dilation)} (it spans {ekh}×{ekw})"
        raise ValueError(
            f"{layer}: {what} {kh}×{kw}{spans} is larger than the padded input "
            f"{h + t + b}×{w + l + r} (input_shape {(None, h, w, c)}, padding={padding!r})"
        )
    return (h + t + b - ekh) // strides[0] + 1, (w + l + r - ekw) // strides[1] + 1, c


def check_strides_dilation(strides: tuple[int, int], dilation: tuple[int, int]) -> None:
    """Refuse ``strides > 1`` with ``dilation_rate > 1``, as Keras' ``Conv2D`` and ``Conv2DTranspose`` do.

    Keras' own words (``keras.src.layers.convolutional.base_conv``). The arithmetic would be defined,
    but the Keras layer refuses the pair, so a convlab model with it could not be compared with Keras.

    Raises:
        ValueError: both above 1.
    """
    if max(strides) > 1 and max(dilation) > 1:
        raise ValueError(
            "`strides > 1` not supported in conjunction with `dilation_rate > 1`. "
            f"Received: strides={tuple(strides)} and dilation_rate={tuple(dilation)}"
        )
