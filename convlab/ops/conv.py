"""2-D convolution, as Keras' ``Conv2D`` computes it (cross-correlation), in three backends.

What a deep-learning "convolution" computes
-------------------------------------------
The slides (seeds/003) define the discrete convolution of ``f`` and ``g`` as::

    (f * g)[x, y] = Σ_{n1} Σ_{n2} f[n1, n2] · g[x − n1, y − n2]

— ``g`` is *flipped* before it slides. Keras' ``Conv2D`` (and TensorFlow's
``tf.nn.conv2d``, and PyTorch's ``Conv2d``) do not flip: they compute the
**cross-correlation**::

    y[n, i, j, f] = b[f] + Σ_{u, v, c} x_pad[n, i·S_h + u, j·S_w + v, c] · kernel[u, v, c, f]

For a learned kernel the difference does not matter (the network simply learns
the flipped kernel), so frameworks skip the flip. :func:`correlate2d` is what
Keras does; :func:`convolve2d` flips the kernel and is the slide's definition.
For a symmetric kernel (the slides' sharpen kernel) both agree.

Layouts (Keras): ``x (N, H, W, C_in)``, ``kernel (KH, KW, C_in, C_out)``,
``bias (C_out,)`` → ``y (N, OH, OW, C_out)`` with
``OH = floor((H + P_top + P_bottom − KH)/S_h) + 1`` (see :mod:`convlab.shapes`).

Dilation and groups (Keras' ``dilation_rate`` and ``groups``)
-------------------------------------------------------------
With dilation ``D`` the kernel's taps are ``D`` pixels apart (a dilated, or
*atrous*, convolution: a larger view for the same weights; Yu & Koltun 2016;
Dumoulin & Visin 2016, §5.1); with ``G`` groups the ``C_in`` input channels are
split into ``G`` blocks of ``C_g = C_in / G``, and filter ``f`` of group
``g = f // (C_out / G)`` sees only block ``g`` (ResNeXt; ``G = C_in`` is a
depthwise convolution). The kernel is then ``(KH, KW, C_in / G, C_out)``::

    y[n, i, j, f] = b[f] + Σ_{u, v, c} x_pad[n, i·S_h + u·D_h, j·S_w + v·D_w, g·C_g + c] · kernel[u, v, c, f]

The window spans ``K_eff = D·(K − 1) + 1`` pixels, so
``OH = floor((H + P_top + P_bottom − D_h·(KH − 1) − 1)/S_h) + 1`` and ``"same"`` pads for ``K_eff``.

Backward pass (:func:`conv2d_backward`)
---------------------------------------
Given the upstream gradient ``dy = ∂L/∂y`` (same shape as ``y``), the chain rule
applied to the formula above gives, summing over every output position
``(n, i, j)`` and filter ``f`` that used a number (``D = 1``, one group; with
dilation the offsets ``u``, ``v`` become ``u·D_h``, ``v·D_w``, with groups the
channel ``c`` of filter ``f`` is ``g·C_g + c``)::

    ∂L/∂kernel[u, v, c, f] = Σ_{n,i,j} x_pad[n, i·S_h + u, j·S_w + v, c] · dy[n, i, j, f]
    ∂L/∂x_pad[n, i·S_h + u, j·S_w + v, c] += kernel[u, v, c, f] · dy[n, i, j, f]
    ∂L/∂bias[f] = Σ_{n,i,j} dy[n, i, j, f]

and ``∂L/∂x`` is ``∂L/∂x_pad`` with the padding cropped off. With stride 1 the
first line is itself a cross-correlation (of the input with ``dy``) and the
second a "full" convolution of ``dy`` with the (flipped) kernel — lesson 07
computes both ways. Pixels that no window covers (when ``H + P − K`` is not a
multiple of the stride) get a zero gradient. Source: CS231n notes,
"Convolutional Networks"; Dumoulin & Visin, "A guide to convolution
arithmetic for deep learning" (2016), §4 (transposed convolution).

The input gradient is a transposed convolution
----------------------------------------------
Written as a matrix, the convolution is ``y = C·x`` (``C`` sparse, one row per
output number); the second line above is ``dx = Cᵀ·dy``: each ``dy`` number
scatters ``dy·kernel`` back over its window. That is exactly what
:func:`convlab.ops.conv_transpose.conv2d_transpose` computes (Dumoulin & Visin §4;
d2l.ai §14.10), so both share one implementation per backend,
:func:`conv2d_input_gradient`.

Backends (``backend=``):
- ``"reference"``: explicit loops over output pixels and filters — the specification;
- ``"numpy"``: im2col (every window copied into one row) + one matrix product per group;
- ``"numba"`` (default): compiled kernels in :mod:`convlab.kernels.conv` (and, with
  dilation, :mod:`convlab.kernels.conv_general`); one call per group.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from convlab.shapes.sizes import IntOrPair, Padding, pair, window_geometry
from convlab.util.arrays import crop_nhwc, pad_nhwc, windows
from convlab.util.checks import as_float_array, check_backend, check_bool, check_out, positive_int

__all__ = ["conv2d", "conv2d_backward", "correlate2d", "convolve2d", "im2col"]

#: ``(S_h, S_w)``, ``(D_h, D_w)`` and ``(top, bottom, left, right)``, once resolved.
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


# --------------------------------------------------------------------------- checks
def _check_channels(x_shape, kernel_shape, groups):
    """Keras' rules: ``groups`` divides ``C_in`` and ``C_out``; the kernel has ``C_in / groups`` input channels."""
    c_in = x_shape[3]
    kc, c_out = kernel_shape[2], kernel_shape[3]
    if groups == 1:
        if kc != c_in:
            raise ValueError(
                f"kernel has C_in={kc} input channels (kernel.shape={kernel_shape}) but x has "
                f"{c_in} channels (x.shape={x_shape})"
            )
        return
    if c_in % groups:
        raise ValueError(
            f"groups={groups} must divide the input channels, but x has C_in={c_in} (x.shape={x_shape}); "
            "Keras' Conv2D splits the channels into `groups` equal blocks"
        )
    if c_out % groups:
        raise ValueError(
            f"groups={groups} must divide the output channels, but the kernel has C_out={c_out} "
            f"(kernel.shape={kernel_shape})"
        )
    if kc != c_in // groups:
        raise ValueError(
            f"kernel must have C_in / groups = {c_in} / {groups} = {c_in // groups} input channels "
            f"(its shape is (KH, KW, C_in // groups, C_out), as Keras stores it), got kernel.shape={kernel_shape} "
            f"for x.shape={x_shape}"
        )


def _prepare(x, kernel, bias, strides, padding, dilation_rate, groups, backend):
    """Validate the arguments of conv2d; return arrays, resolved geometry and ``(OH, OW)``."""
    x = as_float_array(x, "x", 4, shape_hint="(N, H, W, C_in)")
    kernel = as_float_array(kernel, "kernel", 4, dtype=x.dtype, shape_hint="(KH, KW, C_in // groups, C_out)")
    groups = positive_int(groups, "groups")
    dilation = pair(dilation_rate, "dilation_rate")
    kh, kw, _, c_out = kernel.shape
    _check_channels(x.shape, kernel.shape, groups)
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(C_out,)")
        if bias.shape[0] != c_out:
            raise ValueError(f"bias must have shape ({c_out},) to match kernel C_out={c_out}, got {bias.shape}")
    backend = check_backend(backend)
    _, strides, pads, out_hw = window_geometry(
        x.shape,
        (kh, kw),
        strides,
        padding,
        window_name="kernel",
        out_channels=c_out,
        itemsize=x.dtype.itemsize,
        windows_matrix=backend == "numpy",
        dilation=dilation,
    )
    return x, kernel, bias, strides, pads, dilation, groups, backend, out_hw


def _group_slices(kernel_shape, groups, g):
    """Channel slices ``(inputs of group g, filters of group g)``."""
    cg, fg = kernel_shape[2], kernel_shape[3] // groups
    return slice(g * cg, (g + 1) * cg), slice(g * fg, (g + 1) * fg)


# --------------------------------------------------------------------------- reference
def _conv2d_reference(x, kernel, bias, strides, pads, dilation=(1, 1), groups=1):
    """The specification: one output number at a time, exactly as on the slides.

    For each image ``n``, output row ``i``, column ``j`` and filter ``f``: take the
    window of the padded input that starts at ``(i·S_h, j·S_w)`` — its ``KH×KW``
    taps ``D`` pixels apart, and only the ``C_in / groups`` channels of ``f``'s
    group — multiply it element by element with filter ``f`` and add everything
    up, plus the bias.
    """
    xp = pad_nhwc(x, pads)
    n_img, hp, wp, _ = xp.shape
    kh, kw, _, n_filters = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # the span of a dilated window
    oh, ow = (hp - ekh) // sh + 1, (wp - ekw) // sw + 1
    y = np.zeros((n_img, oh, ow, n_filters), dtype=x.dtype)
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                window = xp[n, i * sh : i * sh + ekh : dh, j * sw : j * sw + ekw : dw, :]  # (KH, KW, C_in)
                for f in range(n_filters):
                    channels, _ = _group_slices(kernel.shape, groups, f * groups // n_filters)
                    y[n, i, j, f] = np.sum(window[:, :, channels] * kernel[:, :, :, f])
                    if bias is not None:
                        y[n, i, j, f] += bias[f]
    return y


def _input_gradient_reference(dy, kernel, x_shape, strides, pads, dilation=(1, 1), groups=1):
    """The transposed convolution by its definition (d2l.ai §14.10, ``trans_conv``).

    Each number ``dy[n, i, j, f]`` scatters ``dy[n, i, j, f] · kernel[:, :, :, f]`` back over
    the window it came from (taps ``D`` apart, the channels of ``f``'s group) in the
    padded input; overlapping windows add up; the padding is cropped at the end.
    """
    n_img, h, w, c_in = x_shape
    t, b, l, r = pads
    dxp = np.zeros((n_img, h + t + b, w + l + r, c_in), dtype=dy.dtype)
    kh, kw, _, n_filters = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    _, oh, ow, _ = dy.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * sh, i * sh + ekh, dh)  # the stride and the dilation matter here too
                cols = slice(j * sw, j * sw + ekw, dw)
                for f in range(n_filters):
                    channels, _ = _group_slices(kernel.shape, groups, f * groups // n_filters)
                    dxp[n, rows, cols, channels] += kernel[:, :, :, f] * dy[n, i, j, f]
    return crop_nhwc(dxp, pads)


# --------------------------------------------------------------------------- numpy
def im2col(
    x: ArrayLike, kernel_size: IntOrPair, strides: IntOrPair = 1, padding: Padding = "valid"
) -> tuple[np.ndarray, tuple[int, int]]:
    """Copy every window of ``x (N, H, W, C)`` into one row: ``(N·OH·OW, KH·KW·C)``.

    Row order is ``(n, i, j)``; within a row the order is ``(u, v, c)`` — the
    same order as ``kernel.reshape(KH·KW·C, F)``, so a convolution is then one
    matrix product. Memory: ``KH·KW`` times the (padded) input. Source: Chellapilla
    et al., "High performance convolutional neural networks for document
    processing" (2006); CS231n notes, "Convolutional Networks" (im2col).

    Args:
        x: ``(N, H, W, C)``; float32/float64 keep their dtype, integers → float64.
        kernel_size, strides, padding: as :func:`conv2d` (``kernel_size`` an int or ``(KH, KW)``).

    Returns:
        ``(cols, (OH, OW))``, ``cols`` of ``x``'s float dtype.

    Raises:
        ValueError / TypeError naming the argument, as :func:`conv2d`.
    """
    x = as_float_array(x, "x", 4, shape_hint="(N, H, W, C)")
    window, strides, pads, _ = window_geometry(
        x.shape,
        kernel_size,
        strides,
        padding,
        window_name="kernel_size",
        itemsize=x.dtype.itemsize,
        windows_matrix=True,
    )
    return _im2col(x, window, strides, pads)


def _im2col(x, window, strides, pads, pad_value=0.0):
    v = windows(pad_nhwc(x, pads, pad_value), window, strides)  # (N, OH, OW, C, KH, KW)
    n, oh, ow, c, kh, kw = v.shape
    cols = v.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)
    return cols, (oh, ow)


def _dilated_windows(x, window, strides, pads, dilation):
    """A view ``(N, OH, OW, C, KH, KW)`` of every dilated window: the ``K_eff``-wide windows, every ``D``-th tap."""
    (kh, kw), (dh, dw) = window, dilation
    v = windows(pad_nhwc(x, pads), (dh * (kh - 1) + 1, dw * (kw - 1) + 1), strides)
    return v if (dh, dw) == (1, 1) else v[:, :, :, :, ::dh, ::dw]


def _group_cols(v, channels):
    """The im2col matrix ``(N·OH·OW, KH·KW·C_g)`` of the windows ``v`` restricted to ``channels``."""
    v = v[:, :, :, channels]
    n, oh, ow, c, kh, kw = v.shape
    return v.transpose(0, 1, 2, 4, 5, 3).reshape(n * oh * ow, kh * kw * c)


def _conv2d_numpy(x, kernel, bias, strides, pads, dilation=(1, 1), groups=1):
    kh, kw, c_group, n_filters = kernel.shape
    v = _dilated_windows(x, (kh, kw), strides, pads, dilation)
    n_img, oh, ow = v.shape[:3]
    if groups == 1:
        y = _group_cols(v, slice(None)) @ kernel.reshape(kh * kw * c_group, n_filters)
    else:
        y = np.empty((n_img * oh * ow, n_filters), dtype=x.dtype)
        for g in range(groups):  # one matrix product per group, on its own channels
            channels, filters = _group_slices(kernel.shape, groups, g)
            y[:, filters] = _group_cols(v, channels) @ kernel[..., filters].reshape(kh * kw * c_group, -1)
    if bias is not None:
        y += bias
    return y.reshape(n_img, oh, ow, n_filters)


def _col2im(dcols, x_shape, window, strides, pads, dilation=(1, 1)):
    """Inverse bookkeeping of im2col: scatter-add ``dcols (N, OH, OW, KH, KW, C)`` into the padded input.

    One vectorised add per kernel tap ``(u, v)``: tap ``(u, v)`` of output ``(i, j)``
    touched ``x_pad[i·S_h + u·D_h, j·S_w + v·D_w]``, so it is a strided slice. Windows that
    overlap (stride < kernel) add up, as the chain rule requires.
    """
    n_img, h, w, c = x_shape
    t, b, l, r = pads
    kh, kw = window
    (sh, sw), (dh, dw) = strides, dilation
    _, oh, ow = dcols.shape[:3]
    dxp = np.zeros((n_img, h + t + b, w + l + r, c), dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            r0, c0 = u * dh, v * dw
            dxp[:, r0 : r0 + sh * (oh - 1) + 1 : sh, c0 : c0 + sw * (ow - 1) + 1 : sw, :] += dcols[:, :, :, u, v, :]
    return crop_nhwc(dxp, pads)


def _input_gradient_numpy(dy, kernel, x_shape, strides, pads, dilation=(1, 1), groups=1):
    """Every window's gradient ``dy · kernelᵀ`` (one matrix product per group), added back by col2im."""
    kh, kw, c_group, n_filters = kernel.shape
    n_img, oh, ow, _ = dy.shape
    dy2d = dy.reshape(-1, n_filters)
    if groups == 1:
        dcols = (dy2d @ kernel.reshape(kh * kw * c_group, n_filters).T).reshape(n_img, oh, ow, kh, kw, c_group)
    else:
        dcols = np.empty((n_img, oh, ow, kh, kw, x_shape[3]), dtype=dy.dtype)
        for g in range(groups):
            channels, filters = _group_slices(kernel.shape, groups, g)
            kg = kernel[..., filters].reshape(kh * kw * c_group, -1)
            dcols[..., channels] = (dy2d[:, filters] @ kg.T).reshape(n_img, oh, ow, kh, kw, c_group)
    return _col2im(dcols, x_shape, (kh, kw), strides, pads, dilation)


# --------------------------------------------------------------------------- numba
def _per_group(groups, run, axes=None):
    """``run(g)`` for every group, concatenated along the channel axis (``axes``: one per returned array)."""
    outs = [run(g) for g in range(groups)]
    if axes is None:
        return np.concatenate(outs, axis=3)
    return tuple(None if parts[0] is None else np.concatenate(parts, axis=a) for parts, a in zip(zip(*outs), axes))


def _slice(a, index):
    return np.ascontiguousarray(a[index])


def _conv2d_numba(x, kernel, bias, strides, pads, dilation=(1, 1), groups=1):
    from convlab.kernels import conv_general as nb_conv

    if groups == 1:  # D = 1: exactly the fast kernels' call (conv_general hands it on)
        return nb_conv.conv2d_forward(x, kernel, bias, strides, pads, dilation)

    def one(g):
        channels, filters = _group_slices(kernel.shape, groups, g)
        b = None if bias is None else _slice(bias, filters)
        return nb_conv.conv2d_forward(
            _slice(x, (..., channels)), _slice(kernel, (..., filters)), b, strides, pads, dilation
        )

    return _per_group(groups, one)


def _input_gradient_numba(dy, kernel, x_shape, strides, pads, dilation=(1, 1), groups=1):
    from convlab.kernels import conv_general as nb_conv

    if groups == 1:
        return nb_conv.conv2d_dx(dy, x_shape, kernel, strides, pads, dilation)
    group_shape = x_shape[:3] + (kernel.shape[2],)

    def one(g):
        _, filters = _group_slices(kernel.shape, groups, g)
        return nb_conv.conv2d_dx(
            _slice(dy, (..., filters)), group_shape, _slice(kernel, (..., filters)), strides, pads, dilation
        )

    return _per_group(groups, one)


_FORWARD = {"reference": _conv2d_reference, "numpy": _conv2d_numpy, "numba": _conv2d_numba}
_INPUT_GRADIENT = {
    "reference": _input_gradient_reference,
    "numpy": _input_gradient_numpy,
    "numba": _input_gradient_numba,
}


# --------------------------------------------------------------------------- public
def conv2d(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    dilation_rate: IntOrPair = 1,
    groups: int = 1,
    backend: str | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Multi-channel 2-D cross-correlation with bias — what Keras' ``Conv2D`` computes.

    Args:
        x: ``(N, H, W, C_in)`` images (NHWC). float32 or float64 keep their dtype;
            integer input is converted to float64.
        kernel: ``(KH, KW, C_in // groups, C_out)``, converted to ``x``'s dtype.
        bias: ``(C_out,)`` or ``None``.
        strides: int or ``(S_h, S_w)``, ≥ 1.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule: output ``ceil(H/S)``, the
            odd pad pixel at the bottom/right), an int ``P`` (``P`` zeros on each
            side, as the slides), ``(P_h, P_w)`` or ``((top, bottom), (left, right))``.
        dilation_rate: int or ``(D_h, D_w)``, ≥ 1: the kernel's taps are ``D`` pixels apart
            (Keras' ``dilation_rate``, ``tf.nn.conv2d(dilations=)``). Unlike Keras' layer,
            it may be combined with a stride > 1, as ``tf.nn.conv2d`` allows.
        groups: int ≥ 1 dividing ``C_in`` and ``C_out`` (Keras' ``groups``): filter ``f``
            sees only the ``C_in / groups`` input channels of its group ``f // (C_out / groups)``.
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` (default ``None`` → numba).
        out: optional ``(N, OH, OW, C_out)`` array of ``x``'s dtype to write ``y`` into
            (C-contiguous, not overlapping the inputs), as NumPy's ``out=``: a training
            loop passes the same array every step, so no memory is allocated for ``y``.

    Returns:
        ``y (N, OH, OW, C_out)`` (``out`` when given) of ``x``'s float dtype, with
        ``OH = floor((H + P_top + P_bottom − D_h·(KH − 1) − 1)/S_h) + 1`` (slides' formula
        with the dilated window; Keras floors). NaN/inf in the inputs propagate as IEEE
        arithmetic does.

    Raises:
        ValueError: wrong ndim, empty input, channel mismatch (the kernel must have
            ``C_in // groups`` input channels), ``groups`` not dividing ``C_in`` or ``C_out``,
            bias of the wrong length, (dilated) kernel larger than the padded input,
            stride, dilation_rate or groups ≤ 0, unknown padding or backend, an ``out``
            of another shape or dtype.
        TypeError: non-numeric dtype, malformed strides/padding/dilation_rate/groups, ``out`` not an array.

    Example (slides, seeds/003): the 5×5 input with the sharpen kernel gives
    ``[[266, -61, -30], [116, -47, 295], [-135, 256, -128]]``.
    """
    x, kernel, bias, strides, pads, dilation, groups, backend, (oh, ow) = _prepare(
        x, kernel, bias, strides, padding, dilation_rate, groups, backend
    )
    out = check_out(out, (x.shape[0], oh, ow, kernel.shape[3]), x.dtype, inputs=(x, kernel, bias))
    if out is not None and backend == "numba" and groups == 1:
        from convlab.kernels import conv_general as nb_conv

        return nb_conv.conv2d_forward(x, kernel, bias, strides, pads, dilation, out=out)
    y = _FORWARD[backend](x, kernel, bias, strides, pads, dilation, groups)
    if out is None:
        return y
    np.copyto(out, y)
    return out


def conv2d_input_gradient(
    dy: np.ndarray,
    kernel: np.ndarray,
    input_shape: tuple[int, int, int, int],
    strides: Pair,
    pads: Pads,
    dilation: Pair = (1, 1),
    groups: int = 1,
    backend: str = "numba",
) -> np.ndarray:
    """``∂L/∂x`` of :func:`conv2d` for an input of ``input_shape`` — a transposed convolution of ``dy``.

    The one implementation per backend behind :func:`conv2d_backward`'s ``dx`` and
    :func:`convlab.ops.conv_transpose.conv2d_transpose` (module docstring: ``dx = Cᵀ·dy``).
    Takes *resolved*, already checked arguments (the public operations check them):
    ``dy (N, OH, OW, C_out)`` and ``kernel (KH, KW, C_in // groups, C_out)`` of one float
    dtype, C-contiguous; ``strides``/``dilation`` pairs; ``pads = (top, bottom, left, right)``
    of the forward convolution; ``backend`` a name. Returns ``(N, H, W, C_in)``; pixels no
    window covers get 0.
    """
    return _INPUT_GRADIENT[backend](dy, kernel, tuple(int(d) for d in input_shape), strides, pads, dilation, groups)


def conv2d_resolved(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    strides: Pair,
    pads: Pads,
    dilation: Pair = (1, 1),
    groups: int = 1,
    backend: str = "numba",
) -> np.ndarray:
    """:func:`conv2d` on *resolved*, already checked arguments (as :func:`conv2d_input_gradient`).

    For operations built on the convolution (``conv2d_transpose``'s backward pass) that have
    checked their own arguments; ``pads = (top, bottom, left, right)``. Same numbers as :func:`conv2d`
    (numba, stride > 1: the same products in the same order, by a kernel without narrow edge tiles).
    """
    if backend == "numba" and groups == 1 and tuple(dilation) == (1, 1):
        from convlab.kernels import conv_general as nb_conv

        return nb_conv.forward_strided(x, kernel, bias, strides, pads)
    return _FORWARD[backend](x, kernel, bias, strides, pads, dilation, groups)


def conv2d_kernel_gradient(
    dy: np.ndarray,
    x: np.ndarray,
    kernel: np.ndarray,
    strides: Pair,
    pads: Pads,
    dilation: Pair = (1, 1),
    groups: int = 1,
    backend: str = "numba",
) -> tuple[np.ndarray, np.ndarray]:
    """``(dkernel, dbias)`` of :func:`conv2d` on *resolved*, already checked arguments (no ``dx``)."""
    _, dkernel, dbias = _BACKWARD[backend](dy, x, kernel, strides, pads, dilation, groups, need_dx=False)
    return dkernel, dbias


# --------------------------------------------------------------------------- backward
def _prepare_backward(dy, x, kernel, strides, padding, dilation_rate, groups, backend):
    """Validate the arguments of conv2d_backward; ``dy`` must have the forward output's shape."""
    x, kernel, _, strides, pads, dilation, groups, backend, (oh, ow) = _prepare(
        x, kernel, None, strides, padding, dilation_rate, groups, backend
    )
    expected = (x.shape[0], oh, ow, kernel.shape[3])
    dy = as_float_array(dy, "dy", 4, dtype=x.dtype, shape_hint="(N, OH, OW, C_out)")
    if dy.shape != expected:
        raise ValueError(
            f"dy must have the forward output's shape (N, OH, OW, C_out) = {expected} for "
            f"x.shape={x.shape}, kernel.shape={kernel.shape}, strides={strides}, padding={padding!r}"
            + ("" if dilation == (1, 1) else f", dilation_rate={dilation}")
            + f"; got dy.shape={dy.shape}"
        )
    return dy, x, kernel, strides, pads, dilation, groups, backend


def _conv2d_backward_reference(dy, x, kernel, strides, pads, dilation=(1, 1), groups=1, need_dx=True):
    """The chain rule, one output number at a time (mirror image of the forward loop).

    The forward pass computed ``y[n, i, j, f] = Σ window · kernel[..., f] + b[f]``
    for the window of ``x_pad`` that starts at ``(i·S_h, j·S_w)`` (taps ``D`` apart,
    the channels of ``f``'s group). So each output number sends its gradient
    ``g = dy[n, i, j, f]`` back to:
    - every kernel weight it multiplied: ``dkernel[..., f] += window · g``;
    - every input pixel of its window: ``dx_pad[window] += kernel[..., f] · g``
      (:func:`_input_gradient_reference`, the transposed convolution);
    - the bias: ``dbias[f] += g``.
    With ``need_dx=False`` the second line is skipped and ``dx`` is ``None``.
    """
    xp = pad_nhwc(x, pads)
    dkernel = np.zeros_like(kernel)  # fresh zeros on every call: nothing accumulates across calls
    dbias = np.zeros(kernel.shape[3], dtype=x.dtype)
    kh, kw, _, n_filters = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1
    n_img, oh, ow, _ = dy.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                window = xp[n, i * sh : i * sh + ekh : dh, j * sw : j * sw + ekw : dw, :]  # (KH, KW, C_in)
                for f in range(n_filters):
                    channels, _ = _group_slices(kernel.shape, groups, f * groups // n_filters)
                    g = dy[n, i, j, f]
                    dkernel[:, :, :, f] += window[:, :, channels] * g
                    dbias[f] += g
    dx = _input_gradient_reference(dy, kernel, x.shape, strides, pads, dilation, groups) if need_dx else None
    return dx, dkernel, dbias


def _conv2d_backward_numpy(dy, x, kernel, strides, pads, dilation=(1, 1), groups=1, need_dx=True):
    kh, kw, c_group, n_filters = kernel.shape
    v = _dilated_windows(x, (kh, kw), strides, pads, dilation)  # (N, OH, OW, C_in, KH, KW), a view
    dy2d = dy.reshape(-1, n_filters)  # (N·OH·OW, C_out)
    if groups == 1:
        dkernel = (_group_cols(v, slice(None)).T @ dy2d).reshape(kh, kw, c_group, n_filters)
    else:
        dkernel = np.empty_like(kernel)
        for g in range(groups):
            channels, filters = _group_slices(kernel.shape, groups, g)
            dkernel[..., filters] = (_group_cols(v, channels).T @ dy2d[:, filters]).reshape(kh, kw, c_group, -1)
    dx = _input_gradient_numpy(dy, kernel, x.shape, strides, pads, dilation, groups) if need_dx else None
    return dx, dkernel, dy2d.sum(axis=0)


def _conv2d_backward_numba(dy, x, kernel, strides, pads, dilation=(1, 1), groups=1, need_dx=True):
    from convlab.kernels import conv_general as nb_conv

    if groups == 1:  # D = 1: exactly the fast kernels' call (conv_general hands it on)
        return nb_conv.conv2d_backward(dy, x, kernel, strides, pads, dilation, need_dx=need_dx)

    def one(g):
        channels, filters = _group_slices(kernel.shape, groups, g)
        return nb_conv.conv2d_backward(
            _slice(dy, (..., filters)),
            _slice(x, (..., channels)),
            _slice(kernel, (..., filters)),
            strides,
            pads,
            dilation,
            need_dx=need_dx,
        )

    return _per_group(groups, one, axes=(3, 3, 0))


_BACKWARD = {
    "reference": _conv2d_backward_reference,
    "numpy": _conv2d_backward_numpy,
    "numba": _conv2d_backward_numba,
}


def conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    dilation_rate: IntOrPair = 1,
    groups: int = 1,
    backend: str | None = None,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` with respect to its input, kernel and bias.

    Args:
        dy: ``(N, OH, OW, C_out)`` — ``∂L/∂y``, the upstream gradient; it must have
            exactly the shape ``conv2d(x, kernel, strides=…, padding=…)`` returns.
            Converted to ``x``'s dtype.
        x: ``(N, H, W, C_in)`` — the forward input (float32/float64; integers → float64).
        kernel: ``(KH, KW, C_in // groups, C_out)`` — the forward kernel.
        strides, padding, dilation_rate, groups, backend: exactly as given to :func:`conv2d`.
        need_dx: keyword-only. ``True`` (default) computes the input gradient. ``False`` skips it
            and returns ``None`` in its place — e.g. for a network's first layer,
            whose input (the images) needs no gradient; it costs about as much as
            the kernel gradient. ``dkernel`` and ``dbias`` are the same either way.

    Returns:
        ``(dx, dkernel, dbias)`` of ``x``'s dtype with shapes ``(N, H, W, C_in)``,
        ``(KH, KW, C_in // groups, C_out)`` and ``(C_out,)`` (``dx`` is ``None`` when
        ``need_dx=False``). The bias does not affect any
        gradient, so it is not an argument. Every call returns fresh arrays (no
        accumulation across calls); pixels no window covers get 0. ``dx`` is the
        transposed convolution of ``dy`` (:func:`conv2d_input_gradient`): the same
        numbers as ``conv2d_transpose(dy, kernel, …)`` for an output of ``x``'s size.

    Raises:
        ValueError: ``dy``'s shape differs from the forward output's (the message
            names ``dy`` and both shapes), and every error :func:`conv2d` raises.
        TypeError: non-numeric dtype, malformed strides/padding, ``need_dx`` not a bool.

    Formulas: see the module docstring (chain rule on Keras' cross-correlation).
    """
    need_dx = check_bool(need_dx, "need_dx")
    dy, x, kernel, strides, pads, dilation, groups, backend = _prepare_backward(
        dy, x, kernel, strides, padding, dilation_rate, groups, backend
    )
    return _BACKWARD[backend](dy, x, kernel, strides, pads, dilation, groups, need_dx=need_dx)


def _as_image(image, name="image"):
    return as_float_array(image, name, 2, shape_hint="(H, W)")


def correlate2d(
    image: ArrayLike,
    kernel: ArrayLike,
    padding: Padding = "valid",
    *,
    strides: IntOrPair = 1,
    backend: str | None = None,
) -> np.ndarray:
    """Single-channel 2-D cross-correlation (no flip): what Keras calls convolution.

    Args:
        image: ``(H, W)``; kernel: ``(KH, KW)``; padding/strides as :func:`conv2d`.

    Returns:
        ``(OH, OW)`` array of the image's float dtype (integers → float64).

    Raises:
        ValueError / TypeError as :func:`conv2d`, naming ``image`` or ``kernel``.
    """
    img = _as_image(image)
    k = as_float_array(kernel, "kernel", 2, dtype=img.dtype, shape_hint="(KH, KW)")
    y = conv2d(img[None, :, :, None], k[:, :, None, None], strides=strides, padding=padding, backend=backend)
    return y[0, :, :, 0]


def convolve2d(
    image: ArrayLike,
    kernel: ArrayLike,
    padding: Padding = "valid",
    *,
    strides: IntOrPair = 1,
    backend: str | None = None,
) -> np.ndarray:
    """True 2-D convolution as the slides define it: the kernel is flipped first.

    ``(f * g)[x, y] = Σ f[n1, n2] · g[x − n1, y − n2]`` — equal to
    :func:`correlate2d` with ``kernel[::-1, ::-1]``. Same arguments, shapes and
    errors as :func:`correlate2d`; with ``padding="valid"`` this equals
    ``scipy.signal.convolve2d(image, kernel, mode="valid")``.
    """
    k = as_float_array(kernel, "kernel", 2, shape_hint="(KH, KW)")
    return correlate2d(image, k[::-1, ::-1], padding, strides=strides, backend=backend)
