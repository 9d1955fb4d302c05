"""Output sizes and padding: the slide's formula, Keras' floor, TensorFlow's "same". No array code.

Every backend and every helper in convlab resolves ``padding`` and ``strides``
through :func:`resolve_padding`, so they cannot disagree.

The output-size formula is the course slide's (seeds/003, "¿Cuál es el tamaño
del resultado?")::

    T = (N + 2·P − K) / S + 1

With a dilation ``D`` (Keras' ``dilation_rate``) the ``K`` taps of a window lie
``D`` pixels apart, so the window spans ``D·(K − 1) + 1`` pixels — its
*effective* size, which takes ``K``'s place everywhere, "same" included
(Dumoulin & Visin 2016, "A guide to convolution arithmetic for deep learning",
relationship 15; Keras ``conv_utils``)::

    T = (N + 2·P − D·(K − 1) − 1) / S + 1

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

Integers (one rule, :func:`convlab.util.checks.check_int`): every size, window,
stride and pad is a Python or NumPy int (a bool, a float or a string is a
``TypeError``) from its minimum up to ``2**63 − 1``: the compiled kernels take
int64. A padded length ``N + P_before + P_after`` beyond that is a ``ValueError``
naming ``padding``. Everything here is exact integer arithmetic. The operations
then ask :func:`window_geometry` whether the arrays they must create can exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Any

from convlab.util.checks import INT64_MAX, MAX_ARRAY_BYTES, check_array_fits, check_int, is_int, shown
from convlab.util.i18n import _, ngettext

__all__ = [
    "pair",
    "resolve_padding",
    "conv_output_size",
    "pool_output_size",
    "output_size_formula",
    "effective_kernel_size",
    "window_geometry",
]

#: An int or a pair of ints ``(rows, cols)``, as Keras accepts sizes and strides.
IntOrPair = int | Sequence[int]
#: What ``padding`` accepts: "valid", "same", an int, ``(ph, pw)`` or ``((top, bottom), (left, right))``.
Padding = str | int | Sequence[int] | Sequence[Sequence[int]]


def pair(value: IntOrPair, name: str, *, minimum: int = 1) -> tuple[int, int]:
    """Normalise an int or a pair of ints to ``(rows, cols)``, as Keras accepts.

    Args:
        value: an int, or a tuple/list of two ints (e.g. ``3`` or ``(3, 2)``).
        name: the argument's name, used in error messages.
        minimum: the smallest allowed value (1 for sizes and strides, 0 for pads).

    Returns:
        ``(int, int)``, Python ints.

    Raises:
        TypeError: ``value`` is neither an int nor a sequence of two ints (bools and
            floats are refused, as Keras does).
        ValueError: a value below ``minimum`` or above ``2**63 − 1`` (int64, what the
            kernels take; :func:`convlab.util.checks.check_int`).
    """
    # The common cases first, with no function call: this runs several times per operation call.
    if type(value) is int:
        if minimum <= value <= INT64_MAX:
            return (value, value)
    elif type(value) is tuple and len(value) == 2:
        a, b = value
        if type(a) is int and type(b) is int and minimum <= a <= INT64_MAX and minimum <= b <= INT64_MAX:
            return value
    if is_int(value):
        v = check_int(value, name, minimum=minimum, expected=f"an int >= {minimum} or a pair of them")
        return (v, v)
    if isinstance(value, (tuple, list)) and len(value) == 2 and is_int(value[0]) and is_int(value[1]):
        if min(value) < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {shown(value)}")
        return (check_int(value[0], name, minimum=minimum), check_int(value[1], name, minimum=minimum))
    raise TypeError(f"{name} must be an int or a pair of ints, got {shown(value)}")


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
        negative or malformed pad, or a padded length above ``2**63 − 1``; the
        errors of :func:`pair` for the sizes and ``strides``; TypeError when
        ``input_hw`` is a string (``padding`` given first by mistake: it comes third).
    """
    if isinstance(input_hw, str):
        raise TypeError(
            f"resolve_padding(input_hw, kernel_hw, padding, strides): input_hw must be (H, W), got {shown(input_hw)} "
            "(padding comes third, as in conv_output_size)"
        )
    h, w = pair(input_hw, "input_hw", minimum=0)
    kh, kw = pair(kernel_hw, "kernel_hw")
    sh, sw = pair(strides, "strides")
    return _resolve(h, w, kh, kw, sh, sw, padding)


def _resolve(h: int, w: int, kh: int, kw: int, sh: int, sw: int, padding: Padding) -> tuple[int, int, int, int]:
    """:func:`resolve_padding` on checked sizes: explicit pads, and the padded length within int64."""
    pads = _explicit_pads(h, w, kh, kw, sh, sw, padding)
    if h + pads[0] + pads[1] > INT64_MAX or w + pads[2] + pads[3] > INT64_MAX:
        raise ValueError(
            f"padding={shown(padding)} makes the padded input {h + pads[0] + pads[1]}×{w + pads[2] + pads[3]}: "
            f"longer than 2**63 - 1 along an axis (int64, what the kernels take)"
        )
    return pads


def _explicit_pads(h: int, w: int, kh: int, kw: int, sh: int, sw: int, padding: Padding) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` for every accepted form of ``padding`` (see :func:`resolve_padding`)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0, 0, 0)
        if mode == "same":
            return _same_pads(h, kh, sh) + _same_pads(w, kw, sw)
        raise ValueError(
            f'padding must be "valid", "same", an int or ((top, bottom), (left, right)), got {shown(padding)}'
        )
    if is_int(padding):
        p = pair(padding, "padding", minimum=0)[0]
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
    raise TypeError(f'padding must be "valid", "same", an int or ((top, bottom), (left, right)), got {shown(padding)}')


# --------------------------------------------------------------------------- one axis
def _check_size(n: Any, name: str = "n") -> int:
    """``n`` as an int in ``[0, 2**63 − 1]``; anything else is a ValueError (the documented type for ``n``)."""
    if not is_int(n) or not 0 <= n <= INT64_MAX:
        raise ValueError(
            f"{name} must be a non-negative int up to 2**63 - 1 (one axis: call once for H and once for W), "
            f"got {shown(n)}"
        )
    return int(n)


def _one_axis(value: IntOrPair, name: str) -> int:
    """An int ≥ 1, or a pair of two equal ints, as one int; a pair of two different values is refused."""
    rows, cols = pair(value, name)  # TypeError (malformed) / ValueError (< 1) naming the argument
    if rows != cols:
        raise ValueError(
            f"{name}={shown(value)} has different sizes for rows and columns, but this helper computes one axis: "
            f"call it once per axis ({name}={rows}, then {name}={cols})"
        )
    return rows


def _axis_pads(n: int, k: int, padding: Padding, s: int) -> tuple[int, int]:
    """``(before, after)`` pads of one axis; a ``padding`` that differs between rows and columns is refused."""
    top, bottom, left, right = resolve_padding((n, n), (k, k), padding, (s, s))
    if (top, bottom) != (left, right):
        raise ValueError(
            f"padding={shown(padding)} differs between rows and columns, but this helper computes one axis: "
            "call it once per axis with that axis' padding"
        )
    return top, bottom


def effective_kernel_size(kernel_size: int, dilation: int) -> int:
    """The pixels a ``kernel_size``-tap window dilated by ``dilation`` spans: ``D·(K − 1) + 1``.

    Source: Dumoulin & Visin 2016, §5.1 (``k̂ = k + (k − 1)(d − 1)``); Keras ``conv_utils``.
    Plain ints, checked by the caller.
    """
    return dilation * (kernel_size - 1) + 1


def _axis(
    n: Any,
    kernel_size: IntOrPair,
    padding: Padding,
    stride: IntOrPair,
    window_name: str = "kernel_size",
    dilation: IntOrPair = 1,
) -> tuple[int, int, int, int, int, int]:
    """Validated ``(n, k, s, top, bottom, d)`` of one axis (errors as :func:`conv_output_size`).

    ``window_name`` is what the caller calls the window (``pool_size`` for pooling), for messages.
    Padding ("same") and the size check use the effective window ``D·(K − 1) + 1``.
    """
    n = _check_size(n)
    k = _one_axis(kernel_size, window_name)
    s = _one_axis(stride, "stride")
    d = _one_axis(dilation, "dilation")
    span = effective_kernel_size(k, d)
    top, bottom = _axis_pads(n, span, padding, s)
    if n + top + bottom < span:
        spans = "" if d == 1 else f" dilated by {d} (it spans {span} pixels)"
        raise ValueError(
            f"{window_name} {k}{spans} is larger than the padded input {n + top + bottom} "
            f"(n={n}, padding={shown(padding)})"
        )
    return n, k, s, top, bottom, d


def conv_output_size(
    n: int, kernel_size: IntOrPair, padding: Padding = 0, stride: IntOrPair = 1, *, dilation: IntOrPair = 1
) -> int:
    """Output length of a convolution along one axis: ``floor((N + 2P − D·(K − 1) − 1)/S) + 1``.

    With ``dilation=1`` this is the slides' ``floor((N + 2P − K)/S) + 1``.

    Args:
        n: input length ``N`` in pixels (an int ≥ 0).
        kernel_size: ``K``, an int ≥ 1 (or a pair of two equal ints).
        padding: ``P`` as an int (each side), ``"valid"`` (P = 0), ``"same"``
            (TensorFlow: ``ceil(N / S)``, padding for the effective window
            ``D·(K − 1) + 1``), or a pair form of :func:`resolve_padding` whose rows
            and columns agree.
        stride: ``S``, an int ≥ 1 (or a pair of two equal ints).
        dilation: keyword-only, ``D`` (Keras' ``dilation_rate``), an int ≥ 1 (or a
            pair of two equal ints): the taps of the window lie ``D`` pixels apart.

    Returns:
        The output length (int), floored as Keras does. Sources: course slides
        (seeds/003) ``T = (N + 2·P − K)/S + 1``; Dumoulin & Visin 2016, relationship 15
        (dilated); Keras ``conv_utils.conv_output_length`` / ``compute_conv_output_shape``.

    Raises:
        ValueError: a negative or non-int ``n``; a kernel, stride or dilation < 1; a
            pair whose two values differ (``kernel_size=(3, 5)``: call once per axis);
            a (dilated) kernel larger than the padded input; an unknown or negative padding.
        TypeError: a kernel_size, stride or dilation that is neither an int nor a pair of ints.
    """
    n, k, s, top, bottom, d = _axis(n, kernel_size, padding, stride, dilation=dilation)
    return (n + top + bottom - effective_kernel_size(k, d)) // s + 1


def pool_output_size(n: int, pool_size: IntOrPair, padding: Padding = "valid", stride: IntOrPair | None = None) -> int:
    """Output length of pooling along one axis; ``stride`` defaults to ``pool_size`` (Keras).

    Same formula, arguments and errors as :func:`conv_output_size`; the messages name ``pool_size``.
    """
    n, k, s, top, bottom, _ = _axis(n, pool_size, padding, pool_size if stride is None else stride, "pool_size")
    return (n + top + bottom - k) // s + 1


def _six_digits(num: int, den: int) -> str:
    """``num / den`` to 6 significant digits, as ``f"{x:g}"`` writes it, without a float: any int is exact."""
    with localcontext() as ctx:
        ctx.prec = 6
        return f"{Decimal(num) / Decimal(den):g}"


def output_size_formula(
    n: int,
    kernel_size: IntOrPair,
    padding: Padding = 0,
    stride: IntOrPair = 1,
    *,
    dilation: IntOrPair = 1,
    symbol: str = "T",
) -> str:
    """The slide's formula with the numbers substituted, e.g. ``T = (5 + 2·1 − 3)/2 + 1 = 3``.

    The notes are in convlab's language (:mod:`convlab.util.i18n`); the formula is the same in all.

    When ``(N + 2P − K)`` is not a multiple of ``S`` the text says so and that
    Keras floors the division (the last rows/columns are not covered). For
    ``"same"`` it gives TensorFlow's ``ceil(N/S)`` and the pads it implies; when
    those pads are unequal the text shows both (``P_top + P_bottom`` form).

    With ``dilation`` ``D ≠ 1`` the formula is ``(N + 2P − D·(K − 1) − 1)/S + 1``: the
    effective window ``D·(K − 1) + 1`` takes ``K``'s place, written out and explained, e.g.
    ``T = (7 + 2·0 − 2·(3 − 1) − 1)/1 + 1 = 3   [dilation 2: a 3-tap window dilated
    by 2 spans 2·(3 − 1) + 1 = 5 pixels]`` (Dumoulin & Visin 2016, relationship 15).

    Arguments and errors as :func:`conv_output_size`; ``symbol`` names the result.
    """
    n, k, s, top, bottom, d = _axis(n, kernel_size, padding, stride, dilation=dilation)
    k_eff = effective_kernel_size(k, d)
    span = n + top + bottom - k_eff
    out = span // s + 1
    pad_txt = f"2·{top}" if top == bottom else f"{top} + {bottom}"
    k_txt = str(k) if d == 1 else f"{d}·({k} − 1) − 1"  # the form: N + 2P − D·(K − 1) − 1
    text = f"{symbol} = ({n} + {pad_txt} − {k_txt})/{s} + 1"
    if span % s == 0:
        text += f" = {out}"
    else:
        text += f" = {span}/{s} + 1 = {_six_digits(span + s, s)} → floor → {out}" + ngettext(
            "  (not exact: Keras floors, so the last {n} row/column is not covered)",
            "  (not exact: Keras floors, so the last {n} rows/columns are not covered)",
            span % s,
        ).format(n=span % s)
    if d != 1:
        note = _("   [dilation {d}: a {k}-tap window dilated by {d} spans {d}·({k} − 1) + 1 = {k_eff} pixels]")
        text += note.format(d=d, k=k, k_eff=k_eff)
    if isinstance(padding, str) and padding.lower() == "same":
        note = _("   [padding='same': TensorFlow pads {top} before, {bottom} after → ceil({n}/{s}) = {out}]")
        text += note.format(top=top, bottom=bottom, n=n, s=s, out=out)
    return text


# --------------------------------------------------------------------------- an operation's geometry
def window_geometry(
    input_shape: Sequence[int],
    window: IntOrPair,
    strides: IntOrPair,
    padding: Padding,
    *,
    window_name: str = "kernel_size",
    input_name: str = "x",
    out_channels: int | None = None,
    itemsize: int = 8,
    windows_matrix: bool = False,
    dilation: IntOrPair = 1,
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int], tuple[int, int]]:
    """Everything a sliding-window operation on ``x (N, H, W, C)`` checks about its geometry, in one place.

    Resolves the window, ``strides`` and ``padding`` (:func:`pair`, :func:`resolve_padding`),
    refuses a window larger than the padded input, and refuses — before anything is
    allocated — a geometry whose arrays cannot exist (more bytes than NumPy can address):
    the padded input ``(N, H + P, W + P, C)``, the output ``(N, OH, OW, C_out)`` and, with
    ``windows_matrix``, the im2col matrix ``(N·OH·OW, KH·KW·C)``.

    Args:
        input_shape: ``x.shape``, ``(N, H, W, C)``.
        window: the window ``(KH, KW)`` or an int.
        strides, padding: as :func:`resolve_padding`.
        window_name: what the caller calls the window in messages: ``"kernel"`` (conv2d,
            whose window is the kernel array's shape), ``"kernel_size"`` (im2col), ``"pool_size"``.
        input_name: the input array's argument name, for messages.
        out_channels: ``C_out`` of the output (default: ``C``).
        itemsize: bytes per element of the arrays (``x.dtype.itemsize``).
        windows_matrix: also check the im2col matrix (the numpy backend builds it).
        dilation: int or ``(D_h, D_w)``, ≥ 1 — Keras' ``dilation_rate``: the window's taps are
            ``D`` pixels apart, so it spans ``D·(K − 1) + 1`` pixels (its *effective* size,
            which is what padding and the output size use; Dumoulin & Visin 2016, §5.1).

    Returns:
        ``((KH, KW), (SH, SW), (top, bottom, left, right), (OH, OW))``, Python ints;
        ``OH = floor((H + top + bottom − D·(KH − 1) − 1) / SH) + 1`` (the slides' formula
        with the effective window; Keras' floor). ``(KH, KW)`` is the window itself, not
        its effective size.

    Raises:
        TypeError / ValueError naming the argument: those of :func:`pair` and
        :func:`resolve_padding` (ints up to ``2**63 − 1``); ValueError naming
        ``window_name`` for a window larger than the padded input; ValueError naming
        ``padding`` (or the window, without padding) for an array that cannot exist.
    """
    n_img, h, w, c = map(int, input_shape)  # Python ints: the products below must not wrap around
    kh, kw = pair(window, window_name)
    sh, sw = pair(strides, "strides")
    dh, dw = pair(dilation, "dilation_rate")
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the span of a dilated window
    pads = _resolve(h, w, ekh, ekw, sh, sw, padding)
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    if ekh > hp or ekw > wp:
        spans = "" if (dh, dw) == (1, 1) else f" with dilation_rate {(dh, dw)} (it spans {ekh}×{ekw})"
        raise ValueError(
            f"{window_name} {kh}×{kw}{spans} is larger than the padded input of {hp}×{wp} "
            f"({input_name}.shape={tuple(input_shape)}, padding={shown(padding)})"
        )
    oh, ow = (hp - ekh) // sh + 1, (wp - ekw) // sw + 1
    c_out = c if out_channels is None else out_channels
    # Exact Python-int products, on every call; the messages are built only when one is too big.
    # Only padding can make these arrays larger than x (a window ≥ 1 and a stride ≥ 1 shrink it).
    if n_img * hp * wp * c * itemsize > MAX_ARRAY_BYTES:
        check_array_fits((n_img, hp, wp, c), itemsize, f"padding={shown(padding)}", "the padded input")
    if n_img * oh * ow * c_out * itemsize > MAX_ARRAY_BYTES:
        check_array_fits((n_img, oh, ow, c_out), itemsize, f"padding={shown(padding)}", "the output")
    if windows_matrix and n_img * oh * ow * kh * kw * c * itemsize > MAX_ARRAY_BYTES:
        blame = f"padding={shown(padding)}" if any(pads) else f"{window_name} {kh}×{kw}"
        check_array_fits((n_img * oh * ow, kh * kw * c), itemsize, blame, "the im2col matrix (one row per window)")
    return (kh, kw), (sh, sw), pads, (oh, ow)
