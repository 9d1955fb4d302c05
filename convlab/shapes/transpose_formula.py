"""The transposed convolution's output size as a worked formula, numbers substituted. No array code.

The rule itself is :func:`convlab.shapes.transpose.conv_transpose_output_size`
(Keras' ``Conv2DTranspose``); this module only writes it out for a learner, in
the form of Dumoulin & Visin 2016 ("A guide to convolution arithmetic for deep
learning", §4.6, relationship 14) and d2l.ai §14.10::

    T = S·(N − 1) + K − 2P + A

``K`` is the effective kernel ``D·(K − 1) + 1`` when dilated, ``P`` the pads the
transposed convolution crops, ``A`` the output padding. The result printed is
always the rule's own number.
"""

from __future__ import annotations

from convlab.shapes.sizes import IntOrPair, Padding, effective_kernel_size, pair, resolve_padding
from convlab.shapes.transpose import conv_transpose_output_size
from convlab.util.i18n import _

__all__ = ["conv_transpose_output_formula"]


def conv_transpose_output_formula(
    n: int,
    kernel_size: IntOrPair,
    padding: Padding = "valid",
    stride: IntOrPair = 1,
    *,
    output_padding: IntOrPair | None = None,
    dilation: IntOrPair = 1,
    symbol: str = "T",
) -> str:
    """``T = S·(N − 1) + K − 2P + A`` with the numbers substituted, e.g. ``T = 2·(3 − 1) + 3 − 2·0 = 7``.

    Keras' cases (see :mod:`convlab.shapes.transpose`) are each written in this one form,
    with a note in brackets where Keras chooses a term:

    - ``"valid"``: ``P = 0``; with ``output_padding=None`` Keras takes ``A = max(S − K, 0)``
      (shown only when it is not 0: the output is then ``N·S``, so no input pixel is lost);
    - ``"same"``: with ``output_padding=A``, ``P = K // 2`` on each side; with
      ``output_padding=None`` the output is ``S·N`` (written so, with the reason);
    - explicit pads: ``P`` as given (``P_before + P_after`` when they differ);
    - ``dilation`` ``D ≠ 1``: ``K`` is written ``D·(K − 1) + 1``, with the span it makes.

    Args:
        n, kernel_size, padding, stride, output_padding, dilation: as
            :func:`convlab.shapes.transpose.conv_transpose_output_size` (one axis).
        symbol: the name of the result in the text.

    Returns:
        The formula as one line of text; its last number is
        ``conv_transpose_output_size(n, kernel_size, padding, stride, output_padding=..., dilation=...)``.

    Raises:
        The errors of :func:`convlab.shapes.transpose.conv_transpose_output_size` (ValueError /
        TypeError naming the argument, e.g. ``output_padding`` ≥ ``stride``).
    """
    out = conv_transpose_output_size(n, kernel_size, padding, stride, output_padding=output_padding, dilation=dilation)
    # Validated above: only the plain ints are needed now.
    k, s, d = pair(kernel_size, "kernel_size")[0], pair(stride, "stride")[0], pair(dilation, "dilation")[0]
    a = None if output_padding is None else pair(output_padding, "output_padding", minimum=0)[0]
    k_eff = effective_kernel_size(k, d)
    k_txt = str(k) if d == 1 else f"{d}·({k} − 1) + 1"
    notes = []
    if d != 1:
        note = _("dilation {d}: a {k}-tap window dilated by {d} spans {d}·({k} − 1) + 1 = {k_eff} pixels")
        notes.append(note.format(d=d, k=k, k_eff=k_eff))
    mode = padding.lower() if isinstance(padding, str) else None
    if mode == "same" and a is None:
        note = _(
            "padding='same', output_padding=None: Keras makes {symbol} = S·N, the size that a 'same' "
            "convolution with stride {s} maps back to {n} (ceil({out}/{s}) = {n})"
        )
        notes.append(note.format(symbol=symbol, s=s, n=n, out=out))
        return f"{symbol} = {s}·{n} = {out}" + "".join(f"   [{t}]" for t in notes)
    if mode == "same":
        before = after = k_eff // 2
        note = _(
            "padding='same': Keras' size rule subtracts 2·(K // 2) = {twice}; which rows are cropped "
            "is TensorFlow's 'same' rule on the output size (with A > 0, not always {before} on each side)"
        )
        notes.append(note.format(twice=2 * before, before=before))
    elif mode == "valid":
        before = after = 0
    else:
        before, after = resolve_padding((1, 1), (1, 1), padding)[:2]
    pad_txt = f"2·{before}" if before == after else f"({before} + {after})"
    text = f"{symbol} = {s}·({n} − 1) + {k_txt} − {pad_txt}"
    if a is None and mode == "valid" and s > k_eff:
        text += f" + {s - k_eff}"
        note = _(
            "output_padding=None with K = {k} < S = {s}: Keras adds A = S − K = {a}, so that "
            "{symbol} = N·S: each input pixel gets a full stride of output pixels"
        )
        notes.append(note.format(k=k_eff, s=s, a=s - k_eff, symbol=symbol))
    elif a is not None:
        text += f" + {a}"
    return f"{text} = {out}" + "".join(f"   [{t}]" for t in notes)
