"""Output sizes and padding: the slide's formula, Keras' floor, TensorFlow's "same". No array code.

Every backend and every helper in convlab resolves ``padding`` and ``strides``
through :func:`resolve_padding`, so they cannot disagree.

The output-size formula is the course slide's (seeds/003, "¿Cuál es el tamaño
del resultado?")::

    T = (N + 2·P − K) / S + 1

Keras floors the division when it is not exact: the last rows/columns of the
input that a window cannot fully cover are simply not used.

Argument order, the same in every helper: the input size, the window
(``kernel_size`` / ``pool_size``), ``padding``, the stride — the order of the
formula's letters ``N, K, P, S``.

One axis or two: :func:`resolve_padding` works on ``(H, W)`` and takes pairs
everywhere. :func:`conv_output_size`, :func:`pool_output_size` and
:func:`output_size_formula` compute one axis (the slide's ``T``) and return an
int: they accept a pair only when both values are equal (``(3, 3)`` is ``3``);
a pair with two different values (``kernel_size=(3, 5)``) is a ``ValueError``
that says to call the helper once per axis — never only one half of it used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from convlab.util.checks import is_int

__all__ = ["pair", "resolve_padding", "conv_output_size", "pool_output_size", "output_size_formula"]

#: An int or a pair of ints ``(rows, cols)``, as Keras accepts sizes and strides.
IntOrPair = int | Sequence[int]
#: What ``padding`` accepts: "valid", "same", an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``.
Padding = str | int | Sequence[int] | Sequence[Sequence[int]]


def pair(value: IntOrPair, name: str, *, minimum: int = 1) -> tuple[int, int]:
    """Normalise an int or a pair of ints to ``(rows, cols)``, as Keras accepts.

    Args:
        value: an int, or a sequence of two ints (e.g. ``3`` or ``(3, 2)``).
        name: the argument's name, used in error messages.
        minimum: the smallest allowed value (1 for sizes and strides, 0 for pads).

    Returns:
        ``(int, int)``.

    Raises:
        TypeError: ``value`` is neither an int nor a sequence of two ints.
        ValueError: a value is below ``minimum``.
    """
    if type(value) is int:  # the common case first: this runs on every call of every operation
        out = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and is_int(value[0]) and is_int(value[1]):
        out = (int(value[0]), int(value[1]))
    elif is_int(value):
        out = (int(value), int(value))
    else:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if out[0] < minimum or out[1] < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return out


def _same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow's "same" padding for one axis: output ceil(n/s); the odd pixel goes after.

    Source: TensorFlow docs, "Convolution" (tf.nn), padding="SAME":
    ``pad_total = max((ceil(n/s) − 1)·s + k − n, 0)``, ``pad_before = pad_total // 2``.
    """
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def resolve_padding(
    input_hw: IntOrPair, kernel_hw: IntOrPair, padding: Padding = "valid", strides: IntOrPair = 1
) -> tuple[int, int, int, int]:
    """Resolve any accepted ``padding`` into explicit ``(top, bottom, left, right)``.

    The arguments come in the order of the slide's formula ``(N + 2P − K)/S + 1``
    as every shape helper takes them: sizes, kernel, padding, stride.

    Args:
        input_hw: ``(H, W)`` of the input, in pixels (an int means a square input).
        kernel_hw: an int or ``(KH, KW)``: the window size.
        padding: ``"valid"`` (no padding), ``"same"`` (TensorFlow's rule: the output
            has ``ceil(n / s)`` rows/cols and an odd total pad puts the extra pixel
            at the bottom/right), an int ``P`` (``P`` on every side, as on the
            slides), a pair ``(ph, pw)``, or ``((top, bottom), (left, right))``.
            Strings are case-insensitive.
        strides: an int or ``(SH, SW)``.

    Returns:
        ``(top, bottom, left, right)`` in pixels.

    Raises:
        ValueError / TypeError naming ``padding`` for an unknown string or a
        negative or malformed pad; TypeError when ``input_hw`` is a string
        (``padding`` given first by mistake: it comes third).
    """
    if isinstance(input_hw, str):
        raise TypeError(
            f"resolve_padding(input_hw, kernel_hw, padding, strides): input_hw must be (H, W), got {input_hw!r} "
            "(padding comes third, as in conv_output_size)"
        )
    h, w = pair(input_hw, "input size", minimum=0)
    kh, kw = pair(kernel_hw, "kernel_size")
    sh, sw = pair(strides, "strides")
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            return _same_pads(h, kh, sh) + _same_pads(w, kw, sw)
        raise ValueError(f'padding must be "valid", "same", an int or ((top, bottom), (left, right)), got {padding!r}')
    if is_int(padding):
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding!r}")
        p = int(padding)
        return (p, p, p, p)
    if isinstance(padding, (tuple, list)) and len(padding) == 2:
        a, b = padding
        if is_int(a) and is_int(b):
            ph, pw = pair(padding, "padding", minimum=0)
            return (ph, ph, pw, pw)
        if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
            t, bt = pair(tuple(a), "padding (top, bottom)", minimum=0)
            l, r = pair(tuple(b), "padding (left, right)", minimum=0)
            return (t, bt, l, r)
    raise TypeError(f'padding must be "valid", "same", an int or ((top, bottom), (left, right)), got {padding!r}')


# --------------------------------------------------------------------------- one axis
def _check_size(n: Any, name: str = "n") -> int:
    if not is_int(n) or n < 0:
        raise ValueError(f"{name} must be a non-negative int (one axis: call once for H and once for W), got {n!r}")
    return int(n)


def _one_axis(value: IntOrPair, name: str) -> int:
    """An int ≥ 1, or a pair of two equal ints, as one int; a pair of two different values is refused."""
    rows, cols = pair(value, name)  # TypeError (malformed) / ValueError (< 1) naming the argument
    if rows != cols:
        raise ValueError(
            f"{name}={value!r} has different sizes for rows and columns, but this helper computes one axis: "
            f"call it once per axis ({name}={rows}, then {name}={cols})"
        )
    return rows


def _axis_pads(n: int, k: int, padding: Padding, s: int) -> tuple[int, int]:
    """``(before, after)`` pads of one axis; a ``padding`` that differs between rows and columns is refused."""
    top, bottom, left, right = resolve_padding((n, n), (k, k), padding, (s, s))
    if (top, bottom) != (left, right):
        raise ValueError(
            f"padding={padding!r} differs between rows and columns, but this helper computes one axis: "
            "call it once per axis with that axis' padding"
        )
    return top, bottom


def _axis(n: Any, kernel_size: IntOrPair, padding: Padding, stride: IntOrPair) -> tuple[int, int, int, int, int]:
    """Validated ``(n, k, s, top, bottom)`` of one axis (errors as :func:`conv_output_size`)."""
    n = _check_size(n)
    k = _one_axis(kernel_size, "kernel_size")
    s = _one_axis(stride, "stride")
    top, bottom = _axis_pads(n, k, padding, s)
    if n + top + bottom < k:
        raise ValueError(
            f"kernel_size {k} is larger than the padded input {n + top + bottom} (n={n}, padding={padding!r})"
        )
    return n, k, s, top, bottom


def conv_output_size(n: int, kernel_size: IntOrPair, padding: Padding = 0, stride: IntOrPair = 1) -> int:
    """Output length of a convolution along one axis: ``floor((N + 2P − K)/S) + 1``.

    Args:
        n: input length ``N`` in pixels (an int ≥ 0).
        kernel_size: ``K``, an int ≥ 1 (or a pair of two equal ints).
        padding: ``P`` as an int (each side), ``"valid"`` (P = 0), ``"same"``
            (TensorFlow: ``ceil(N / S)``), or a pair form of :func:`resolve_padding`
            whose rows and columns agree.
        stride: ``S``, an int ≥ 1 (or a pair of two equal ints).

    Returns:
        The output length (int), floored as Keras does. Source: course slides
        (seeds/003) ``T = (N + 2·P − K)/S + 1``; Keras ``conv_utils.conv_output_length``.

    Raises:
        ValueError: a negative or non-int ``n``, kernel or stride < 1, a pair whose
            two values differ (``kernel_size=(3, 5)``: call once per axis), a kernel
            larger than the padded input, an unknown or negative padding.
        TypeError: a kernel_size or stride that is neither an int nor a pair of ints.
    """
    n, k, s, top, bottom = _axis(n, kernel_size, padding, stride)
    return (n + top + bottom - k) // s + 1


def pool_output_size(n: int, pool_size: IntOrPair, padding: Padding = "valid", stride: IntOrPair | None = None) -> int:
    """Output length of pooling along one axis; ``stride`` defaults to ``pool_size`` (Keras).

    Same formula, arguments and errors as :func:`conv_output_size`.
    """
    return conv_output_size(n, pool_size, padding, pool_size if stride is None else stride)


def output_size_formula(
    n: int, kernel_size: IntOrPair, padding: Padding = 0, stride: IntOrPair = 1, *, symbol: str = "T"
) -> str:
    """The slide's formula with the numbers substituted, e.g. ``T = (5 + 2·1 − 3)/2 + 1 = 3``.

    When ``(N + 2P − K)`` is not a multiple of ``S`` the text says so and that
    Keras floors the division (the last rows/columns are not covered). For
    ``"same"`` it gives TensorFlow's ``ceil(N/S)`` and the pads it implies; when
    those pads are unequal the text shows both (``P_top + P_bottom`` form).
    Arguments and errors as :func:`conv_output_size`; ``symbol`` names the result.
    """
    n, k, s, top, bottom = _axis(n, kernel_size, padding, stride)
    span = n + top + bottom - k
    out = span // s + 1
    pad_txt = f"2·{top}" if top == bottom else f"{top} + {bottom}"
    text = f"{symbol} = ({n} + {pad_txt} − {k})/{s} + 1"
    if span % s == 0:
        text += f" = {out}"
    else:
        text += (
            f" = {span}/{s} + 1 = {span / s + 1:g} → floor → {out}"
            f"  (not exact: Keras floors, so the last {span % s} row(s)/column(s) are not covered)"
        )
    if isinstance(padding, str) and padding.lower() == "same":
        text += f"   [padding='same': TensorFlow pads {top} before, {bottom} after → ceil({n}/{s}) = {out}]"
    return text
