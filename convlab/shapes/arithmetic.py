"""Shape arithmetic: output sizes, padding, parameter counts. No array code.

Every backend and every helper in convlab resolves ``padding`` and ``strides``
through this module, so they cannot disagree.

The output-size formula is the course slide's (seeds/003, "¿Cuál es el tamaño
del resultado?")::

    T = (N + 2·P − K) / S + 1

Keras floors the division when it is not exact: the last rows/columns of the
input that a window cannot fully cover are simply not used.
"""
from __future__ import annotations

from typing import Iterable, Sequence

from convlab.util.checks import is_int

__all__ = [
    "pair",
    "resolve_padding",
    "conv_output_size",
    "pool_output_size",
    "output_size_formula",
    "conv2d_param_count",
    "dense_param_count",
    "format_summary",
]


def pair(value, name: str, *, minimum: int = 1) -> tuple[int, int]:
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
    if type(value) is int:  # the common cases first: this runs on every call of every operation
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


def resolve_padding(input_hw, kernel_hw, padding="valid", strides=1) -> tuple[int, int, int, int]:
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
        negative or malformed pad; TypeError when ``input_hw`` is a string (the
        argument order before convlab 0.2.0 put ``padding`` first).
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


def _check_size(n, name="n"):
    if not is_int(n) or n < 0:
        raise ValueError(f"{name} must be a non-negative int, got {n!r}")
    return int(n)


def conv_output_size(n, kernel_size, padding=0, stride=1) -> int:
    """Output length of a convolution along one axis: ``floor((N + 2P − K)/S) + 1``.

    Args:
        n: input length ``N`` in pixels.
        kernel_size: ``K``.
        padding: ``P`` as an int (each side), ``"valid"`` (P = 0) or ``"same"``
            (TensorFlow: ``ceil(N / S)``).
        stride: ``S``.

    Returns:
        The output length (int), floored as Keras does. Source: course slides
        (seeds/003) ``T = (N + 2·P − K)/S + 1``; Keras ``conv_utils.conv_output_length``.

    Raises:
        ValueError: negative sizes, stride or kernel < 1, or a kernel larger than
        the padded input.
    """
    n = _check_size(n)
    k = pair(kernel_size, "kernel_size")[0] if not is_int(kernel_size) else kernel_size
    if not is_int(k) or k < 1:
        raise ValueError(f"kernel_size must be a positive int, got {kernel_size!r}")
    if not is_int(stride) or stride < 1:
        raise ValueError(f"stride must be a positive int, got {stride!r}")
    top, bottom, _, _ = resolve_padding((n, n), (k, k), padding, (stride, stride))
    span = n + top + bottom - k
    if span < 0:
        raise ValueError(
            f"kernel_size {k} is larger than the padded input {n + top + bottom} (n={n}, padding={padding!r})"
        )
    return span // stride + 1


def pool_output_size(n, pool_size, padding="valid", stride=None) -> int:
    """Output length of pooling along one axis; ``stride`` defaults to ``pool_size`` (Keras).

    Same formula and errors as :func:`conv_output_size`.
    """
    return conv_output_size(n, pool_size, padding, pool_size if stride is None else stride)


def output_size_formula(n, kernel_size, padding=0, stride=1, *, symbol="T") -> str:
    """The slide's formula with the numbers substituted, e.g. ``T = (5 + 2·1 − 3)/2 + 1 = 3``.

    When ``(N + 2P − K)`` is not a multiple of ``S`` the text says so and that
    Keras floors the division (the last rows/columns are not covered). For
    ``"same"`` it gives TensorFlow's ``ceil(N/S)`` and the pads it implies; when
    those pads are unequal the text shows both (``P_top + P_bottom`` form).
    """
    out = conv_output_size(n, kernel_size, padding, stride)
    k = kernel_size if is_int(kernel_size) else pair(kernel_size, "kernel_size")[0]
    top, bottom, _, _ = resolve_padding((n, n), (k, k), padding, (stride, stride))
    pad_txt = f"2·{top}" if top == bottom else f"{top} + {bottom}"
    span = n + top + bottom - k
    text = f"{symbol} = ({n} + {pad_txt} − {k})/{stride} + 1"
    if span % stride == 0:
        text += f" = {span // stride + 1}"
    else:
        text += (
            f" = {span}/{stride} + 1 = {span / stride + 1:g} → floor → {out}"
            f"  (not exact: Keras floors, so the last {span % stride} row(s)/column(s) are not covered)"
        )
    if isinstance(padding, str) and padding.lower() == "same":
        text += f"   [padding='same': TensorFlow pads {top} before, {bottom} after → ceil({n}/{stride}) = {out}]"
    return text


def conv2d_param_count(filters: int, kernel_size, in_channels: int, use_bias: bool = True) -> int:
    """Trainable parameters of ``Conv2D``: ``N_f·K·K·N_c + N_f`` (slides, seeds/003; Keras agrees)."""
    kh, kw = pair(kernel_size, "kernel_size")
    f = pair(filters, "filters")[0]
    c = pair(in_channels, "in_channels")[0]
    return f * kh * kw * c + (f if use_bias else 0)


def dense_param_count(units: int, in_features: int, use_bias: bool = True) -> int:
    """Trainable parameters of ``Dense``: ``inputs·units + units`` (e.g. 43264·15 + 15 = 648,975)."""
    u = pair(units, "units")[0]
    i = pair(in_features, "in_features")[0]
    return i * u + (u if use_bias else 0)


def _fmt_shape(shape: Sequence) -> str:
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    if len(shape) == 1:
        inner += ","
    return f"({inner})"


def format_summary(rows: Iterable[Sequence], *, title: str | None = None, show_formula: bool = False,
                   trainable: int | None = None) -> str:
    """A Keras-like ``model.summary()`` table.

    Args:
        rows: sequences ``(name, layer_type, output_shape, params)`` or
            ``(name, layer_type, output_shape, params, formula)``; ``output_shape``
            includes the batch dimension as ``None``.
        title: optional heading (e.g. ``'Model: "sequential"'``).
        show_formula: add a column with each row's parameter formula.
        trainable: trainable parameter count (defaults to the total).

    Returns:
        The table as one string (no trailing newline).
    """
    rows = [tuple(r) for r in rows]
    head = ["Layer (type)", "Output Shape", "Param #"] + (["Formula"] if show_formula else [])
    body = []
    for r in rows:
        name, typ, shape, params = r[:4]
        line = [f"{name} ({typ})", _fmt_shape(shape), f"{params:,}"]
        if show_formula:
            line.append(r[4] if len(r) > 4 else "")
        body.append(line)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i != 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    total = sum(int(r[3]) for r in rows)
    bar = "=" * (sum(widths) + 2 * (len(widths) - 1))
    out = [title] if title else []
    out += [fmt(head), bar] + [fmt(b) for b in body] + [bar]
    tr = total if trainable is None else trainable
    out += [f"Total params: {total:,}", f"Trainable params: {tr:,}", f"Non-trainable params: {total - tr:,}"]
    return "\n".join(out)
