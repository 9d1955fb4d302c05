"""Output sizes of a transposed convolution (Keras' ``Conv2DTranspose``), and its forward-conv pads. No array code.

A transposed convolution maps an input of ``N`` pixels to an output of ``O``
pixels such that the ordinary convolution with the same kernel, stride, padding
and dilation maps ``O`` pixels back to ``N`` (Dumoulin & Visin 2016, "A guide to
convolution arithmetic for deep learning", §4). Several ``O`` do that when the
stride is > 1 (the forward convolution floors), so Keras fixes one (Keras 3,
``keras.src.backend.common.backend_utils._get_output_shape_given_tf_padding``),
with the effective kernel ``K_eff = D·(K − 1) + 1``:

- ``"valid"``, ``output_padding=None``: ``O = N·S + max(K_eff − S, 0)``;
- ``"same"``, ``output_padding=None``: ``O = N·S``;
- ``output_padding=A`` given: ``O = (N − 1)·S + K_eff − 2·P + A`` with ``P = 0`` for
  ``"valid"`` and ``P = K_eff // 2`` for ``"same"`` (so ``K_eff − 2P = K_eff mod 2``);
- convlab also takes explicit pads (an int ``P``, a pair, or ``((top, bottom), (left, right))``,
  which Keras' layer refuses): ``O = (N − 1)·S + K_eff − P_before − P_after + (A or 0)``
  — the guide's relationship 14, ``o' = s(i' − 1) + a + k − 2p``.

``output_padding`` picks among the sizes the forward convolution cannot tell apart,
so each value must be smaller than the stride (Keras 3's check, ``A < S``).

The pads of the *equivalent forward convolution* (the one whose input gradient the
transposed convolution is, as ``tf.nn.conv2d_transpose`` defines it) are
TensorFlow's ``"same"``/``"valid"`` rule applied to the output size ``O``, or the
explicit pads as given. One case differs from TensorFlow: ``"same"`` with an
even ``K_eff`` and ``output_padding=0`` gives ``O = (N − 1)·S``, on which
TensorFlow's ``"same"`` rule yields ``N − 1`` outputs, so ``tf.nn.conv2d_transpose``
(and Keras on the TensorFlow backend) refuses it; convlab pads ``K_eff / 2`` on each
side there, the pads Keras' JAX backend uses for that case
(``_convert_conv_transpose_padding_args_from_keras_to_jax``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from convlab.shapes.sizes import IntOrPair, Padding, pair, resolve_padding, window_geometry
from convlab.util.checks import INT64_MAX, is_int, shown

__all__ = ["conv_transpose_output_size", "transpose_geometry", "check_output_padding"]


def check_output_padding(output_padding: IntOrPair | None, strides: tuple[int, int]) -> tuple[int, int] | None:
    """``output_padding`` as ``(A_h, A_w)`` (or ``None``), each ``0 ≤ A < S`` (Keras 3's rule).

    Raises:
        TypeError: not None, an int or a pair of ints.
        ValueError: a negative value, or one not strictly less than the stride along its axis.
    """
    if output_padding is None:
        return None
    ah, aw = pair(output_padding, "output_padding", minimum=0)
    for axis, a, s in (("rows", ah, strides[0]), ("columns", aw, strides[1])):
        if a >= s:
            raise ValueError(
                f"output_padding must be strictly less than strides along every axis (Keras' rule: it picks "
                f"one of the S output sizes that the forward convolution maps to the same input size); "
                f"along the {axis} output_padding is {a} but strides is {s} "
                f"(got output_padding={shown(output_padding)}, strides={strides})"
            )
    return ah, aw


def _padding_form(padding: Padding) -> str | None:
    """``"valid"``/``"same"`` for those strings, ``None`` for explicit pads (which :func:`resolve_padding` checks)."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode in ("valid", "same"):
            return mode
        raise ValueError(
            f'padding must be "valid", "same", an int or ((top, bottom), (left, right)), got {shown(padding)}'
        )
    return None


def _axis_output(n: int, k_eff: int, s: int, mode: str | None, before: int, after: int, a: int | None) -> int:
    """Keras' output size along one axis (module docstring); ``before``/``after``: explicit pads."""
    if mode == "valid":
        return n * s + max(k_eff - s, 0) if a is None else (n - 1) * s + k_eff + a
    if mode == "same":
        return n * s if a is None else (n - 1) * s + k_eff % 2 + a
    return (n - 1) * s + k_eff - before - after + (0 if a is None else a)


def _axis_pads(n: int, o: int, k_eff: int, s: int, mode: str | None, before: int, after: int) -> tuple[int, int]:
    """Pads ``(before, after)`` of the forward convolution that maps ``o`` pixels back to ``n``."""
    if mode is None:
        return before, after
    before, after = resolve_padding((o, 1), (k_eff, 1), mode, (s, 1))[:2]  # TensorFlow's rule on the output size
    if (o + before + after - k_eff) // s + 1 != n:
        # Only "same" with an even K_eff and output_padding=0: O = (N − 1)·S, where TensorFlow's
        # rule gives N − 1 outputs. K_eff / 2 on each side maps O back to N (Keras' JAX backend).
        before = after = k_eff // 2
    return before, after


def _empty_message(padding: Padding, output_padding: Any, size: str, where: str) -> str:
    """Why the output would be empty: explicit pads cropping it all, or Keras' "same" rule on one pixel."""
    if isinstance(padding, str):
        return (
            f"padding={shown(padding)} with output_padding={shown(output_padding)} gives an empty output "
            f"({size}; Keras' rule (N − 1)·S + K_eff mod 2 + output_padding, {where}): "
            "use output_padding=None or a larger one"
        )
    return (
        f"padding={shown(padding)} crops more than the transposed convolution produces: "
        f"the output would be {size} ({where})"
    )


def _check_input_size(n: Any) -> int:
    if not is_int(n) or not 1 <= n <= INT64_MAX:
        raise ValueError(
            f"n must be a positive int up to 2**63 - 1 (one axis of the transposed convolution's input: call once "
            f"for H and once for W), got {shown(n)}"
        )
    return int(n)


def _one(value: Any, name: str, minimum: int = 1) -> int:
    rows, cols = pair(value, name, minimum=minimum)
    if rows != cols:
        raise ValueError(
            f"{name}={shown(value)} has different sizes for rows and columns, but this helper computes one axis: "
            f"call it once per axis ({name}={rows}, then {name}={cols})"
        )
    return rows


def conv_transpose_output_size(
    n: int,
    kernel_size: IntOrPair,
    padding: Padding = "valid",
    stride: IntOrPair = 1,
    *,
    output_padding: IntOrPair | None = None,
    dilation: IntOrPair = 1,
) -> int:
    """Output length of a transposed convolution along one axis, as Keras' ``Conv2DTranspose`` computes it.

    ``"valid"``: ``N·S + max(K_eff − S, 0)``; ``"same"``: ``N·S``; with ``output_padding=A``:
    ``(N − 1)·S + K_eff − 2P + A`` (``P = 0`` valid, ``K_eff // 2`` same, or the explicit pads),
    ``K_eff = D·(K − 1) + 1`` (module docstring; Keras 3, Dumoulin & Visin 2016 §4.6).

    Args:
        n: the input length ``N`` (an int ≥ 1).
        kernel_size: ``K``, an int ≥ 1 (or a pair of two equal ints).
        padding: ``"valid"``, ``"same"``, an int ``P`` or a pair form of
            :func:`convlab.shapes.sizes.resolve_padding` whose rows and columns agree.
        stride: ``S``, an int ≥ 1 (or two equal ints).
        output_padding: ``None`` (Keras' default) or ``A``, ``0 ≤ A < S``.
        dilation: ``D``, an int ≥ 1 (Keras' ``dilation_rate``).

    Returns:
        The output length (an exact int).

    Raises:
        ValueError: ``n`` not a positive int; kernel, stride or dilation < 1; a pair
            whose two values differ; ``output_padding`` ≥ ``stride`` or negative; an unknown
            or negative padding; explicit pads so large that the output would be empty.
        TypeError: a malformed kernel_size, stride, dilation, padding or output_padding.

    Example: Keras' ``Conv2DTranspose(f, 3, strides=2, padding="same")`` on 16 pixels
    gives 32; ``padding="valid"`` gives ``16·2 + 1 = 33``.
    """
    n = _check_input_size(n)
    k = _one(kernel_size, "kernel_size")
    s = _one(stride, "stride")
    d = _one(dilation, "dilation")
    a = None if output_padding is None else _one(output_padding, "output_padding", minimum=0)
    if a is not None:
        check_output_padding(a, (s, s))
    k_eff = d * (k - 1) + 1
    mode = _padding_form(padding)
    before = after = 0
    if mode is None:
        t, b, l, r = resolve_padding((1, 1), (1, 1), padding)
        if (t, b) != (l, r):
            raise ValueError(
                f"padding={shown(padding)} differs between rows and columns, but this helper computes one axis: "
                "call it once per axis with that axis' padding"
            )
        before, after = t, b
    o = _axis_output(n, k_eff, s, mode, before, after, a)
    if o < 1:
        raise ValueError(_empty_message(padding, output_padding, f"length {o}", f"n={n}, kernel_size={k}, stride={s}"))
    return o


def transpose_geometry(
    input_shape: Sequence[int],
    kernel_hw: IntOrPair,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    output_padding: IntOrPair | None = None,
    dilation: IntOrPair = 1,
    out_channels: int | None = None,
    itemsize: int = 8,
    *,
    window_name: str = "kernel",
) -> tuple[tuple[int, int], tuple[int, int, int, int]]:
    """Output size and equivalent forward-conv pads of a transposed convolution of ``x (N, H, W, C_in)``.

    Args:
        input_shape: ``x.shape``, ``(N, H, W, C_in)``.
        kernel_hw: ``(KH, KW)`` or an int.
        strides, padding, output_padding, dilation: as :func:`conv_transpose_output_size`
            (pairs allowed; explicit pads may differ between rows and columns).
        out_channels: ``C_out`` of the output (default: ``C_in``), for the size check.
        itemsize: bytes per element of the arrays.
        window_name: what the caller calls the kernel, in messages.

    Returns:
        ``((OH, OW), (top, bottom, left, right))``: Keras' output size, and the pads of the
        forward convolution (same kernel, stride, dilation) that maps an ``(OH, OW)`` input
        back to ``(H, W)`` — TensorFlow's rule on the output size, or the explicit pads
        (module docstring). Python ints.

    Raises:
        TypeError / ValueError naming the argument: as :func:`conv_transpose_output_size`,
        and ValueError naming ``padding``/``strides`` when the output or the padded output
        could not exist as an array.
    """
    n_img, h, w, c_in = map(int, input_shape)
    kh, kw = pair(kernel_hw, window_name)
    sh, sw = pair(strides, "strides")
    dh, dw = pair(dilation, "dilation_rate")
    ops = check_output_padding(output_padding, (sh, sw))
    ah, aw = (None, None) if ops is None else ops
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    mode = _padding_form(padding)
    given = (0, 0, 0, 0) if mode is not None else resolve_padding((1, 1), (1, 1), padding)
    oh = _axis_output(h, ekh, sh, mode, given[0], given[1], ah)
    ow = _axis_output(w, ekw, sw, mode, given[2], given[3], aw)
    if oh < 1 or ow < 1:
        where = f"x.shape={tuple(input_shape)}, {window_name} {kh}×{kw}, strides={(sh, sw)}"
        raise ValueError(_empty_message(padding, output_padding, f"{oh}×{ow}", where))
    top, bottom = _axis_pads(h, oh, ekh, sh, mode, given[0], given[1])
    left, right = _axis_pads(w, ow, ekw, sw, mode, given[2], given[3])
    pads = (top, bottom, left, right)
    # The forward convolution's geometry on the output: checks that the padded output and the
    # output can exist as arrays, and (an invariant of the rules above) maps them back to (H, W).
    _, _, _, back = window_geometry(
        (n_img, oh, ow, c_in if out_channels is None else out_channels),
        (kh, kw),
        (sh, sw),
        ((top, bottom), (left, right)),
        window_name=window_name,
        input_name="output",
        out_channels=c_in,
        itemsize=itemsize,
        dilation=(dh, dw),
    )
    assert back == (h, w), (back, (h, w))
    return (oh, ow), pads
