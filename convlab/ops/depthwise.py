"""Depthwise and depthwise-separable 2-D convolution, as Keras' ``DepthwiseConv2D`` / ``SeparableConv2D``.

Depthwise convolution
---------------------
An ordinary convolution mixes every input channel into every output. A
*depthwise* one convolves each input channel on its own with ``M``
(``depth_multiplier``) filters of its own, and never mixes channels::

    y[n, i, j, c·M + m] = b[c·M + m] + Σ_{u, v} x_pad[n, i·S_h + u·D_h, j·S_w + v·D_w, c] · kernel[u, v, c, m]

Layouts (Keras, TensorFlow ``tf.nn.depthwise_conv2d``): ``x (N, H, W, C)``,
``kernel (KH, KW, C, M)``, ``bias (C·M,)`` → ``y (N, OH, OW, C·M)``; output channel
``c·M + m`` is filter ``m`` of input channel ``c``. ``D`` is ``dilation_rate`` (the
taps are ``D`` pixels apart) and ``OH = floor((H + P_top + P_bottom − D_h·(KH − 1) − 1)/S_h) + 1``
(Dumoulin & Visin, "A guide to convolution arithmetic for deep learning", 2016, §5.1).
It is :func:`convlab.ops.conv.conv2d` with ``groups = C`` — or with a block-diagonal
``(KH, KW, C, C·M)`` kernel that is zero wherever input channel ``c`` meets an output
channel that is not one of ``c``'s own ``M`` (the tests check both ways).

Separable convolution
---------------------
MobileNet's building block (Howard et al. 2017, "MobileNets"; Chollet 2017,
"Xception"): a depthwise convolution (strides, padding and dilation apply
here, no bias) followed by a 1×1 convolution that mixes the channels — the
*pointwise* kernel ``(1, 1, C·M, C_out)`` — and then the bias ``(C_out,)``::

    z = depthwise_conv2d(x, depthwise_kernel)                 (no bias in between)
    y = conv2d(z, pointwise_kernel) + bias

exactly Keras 3's ``SeparableConv2D.call`` (``ops.separable_conv``, then the bias)
and ``tf.nn.separable_conv2d``. A 3×3 layer from C to F channels costs
``9·C + C·F`` weights instead of ``9·C·F``.

Backward pass
-------------
The chain rule on the formula above, summing over every output that used a number::

    ∂L/∂kernel[u, v, c, m] = Σ_{n,i,j} x_pad[n, i·S_h + u·D_h, j·S_w + v·D_w, c] · dy[n, i, j, c·M + m]
    ∂L/∂x_pad[n, i·S_h + u·D_h, j·S_w + v·D_w, c] += Σ_m kernel[u, v, c, m] · dy[n, i, j, c·M + m]
    ∂L/∂bias[c·M + m] = Σ_{n,i,j} dy[n, i, j, c·M + m]

and ``∂L/∂x`` is ``∂L/∂x_pad`` with the padding cropped off (CS231n notes,
"Convolutional Networks", applied channel by channel). The separable backward
recomputes ``z`` and runs the two backward passes in turn (pointwise, then depthwise).

Non-finite values propagate as IEEE arithmetic on the formula, on every backend:
a pad is a zero that is multiplied (``0·inf = NaN``), as TensorFlow does.

Backends (``backend=``):
- ``"reference"``: loops over ``(n, i, j, c, m)``, one window of ``KH×KW`` taps each — the specification;
- ``"numpy"``: one vectorised multiply-add per tap ``(u, v)``: a strided slice of the padded
  input times ``kernel[u, v]`` broadcast over the pixels;
- ``"numba"`` (default): compiled kernels in :mod:`convlab.kernels.depthwise`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from convlab.ops.conv import conv2d, conv2d_backward
from convlab.shapes.sizes import IntOrPair, Padding, pair, window_geometry
from convlab.util.arrays import crop_nhwc, pad_nhwc
from convlab.util.checks import as_float_array, check_backend, check_bool

__all__ = ["depthwise_conv2d", "depthwise_conv2d_backward", "separable_conv2d", "separable_conv2d_backward"]


# --------------------------------------------------------------------------- checks
def _prepare(x, kernel, bias, strides, padding, dilation_rate, backend, kernel_name="kernel"):
    """Validate the arguments of depthwise_conv2d; return arrays and resolved geometry."""
    x = as_float_array(x, "x", 4, shape_hint="(N, H, W, C)")
    kernel = as_float_array(kernel, kernel_name, 4, dtype=x.dtype, shape_hint="(KH, KW, C, depth_multiplier)")
    kh, kw, c_in, mult = kernel.shape
    if c_in != x.shape[3]:
        raise ValueError(
            f"{kernel_name} has C={c_in} input channels ({kernel_name}.shape={kernel.shape}) but x has "
            f"{x.shape[3]} channels (x.shape={x.shape}); a depthwise kernel is (KH, KW, C, depth_multiplier)"
        )
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(C·depth_multiplier,)")
        if bias.shape[0] != c_in * mult:
            raise ValueError(
                f"bias must have shape ({c_in * mult},) = C·depth_multiplier = {c_in}·{mult}, got {bias.shape}"
            )
    backend = check_backend(backend)
    dilation = pair(dilation_rate, "dilation_rate")
    _, strides, pads, (oh, ow) = window_geometry(
        x.shape,
        (kh, kw),
        strides,
        padding,
        window_name=kernel_name,
        out_channels=c_in * mult,
        itemsize=x.dtype.itemsize,
        dilation=dilation,
    )
    return x, kernel, bias, strides, pads, dilation, (oh, ow), backend


def _check_dy(dy, x, expected, what, strides, padding, dilation):
    dy = as_float_array(dy, "dy", 4, dtype=x.dtype, shape_hint=what)
    if dy.shape != expected:
        raise ValueError(
            f"dy must have the forward output's shape {what} = {expected} for x.shape={x.shape}, "
            f"strides={strides}, padding={padding!r}, dilation_rate={dilation}; got dy.shape={dy.shape}"
        )
    return dy


# --------------------------------------------------------------------------- reference
def _depthwise_reference(x, kernel, bias, strides, pads, dilation):
    """The specification, one output number at a time.

    For each image ``n``, output pixel ``(i, j)``, input channel ``c`` and filter
    ``m``: the ``KH×KW`` taps of channel ``c`` that start at ``(i·S_h, j·S_w)``, ``D``
    pixels apart, times filter ``m`` of channel ``c``, summed, plus the bias.
    """
    xp = pad_nhwc(x, pads)
    kh, kw, n_ch, mult = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    n_img = x.shape[0]
    y = np.zeros((n_img, oh, ow, n_ch * mult), dtype=x.dtype)
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for c in range(n_ch):
                    # the taps x_pad[n, i·S_h + u·D_h, j·S_w + v·D_w, c] for u < KH, v < KW
                    window = xp[
                        n, i * sh : i * sh + dh * (kh - 1) + 1 : dh, j * sw : j * sw + dw * (kw - 1) + 1 : dw, c
                    ]
                    for m in range(mult):
                        y[n, i, j, c * mult + m] = np.sum(window * kernel[:, :, c, m])
                        if bias is not None:
                            y[n, i, j, c * mult + m] += bias[c * mult + m]
    return y


def _depthwise_backward_reference(dy, x, kernel, strides, pads, dilation, need_dx=True):
    """The chain rule, one output number at a time (the forward loop's mirror image).

    ``g = dy[n, i, j, c·M + m]`` goes to every weight it multiplied
    (``dkernel[:, :, c, m] += window · g``), to every tap of the window
    (``dx_pad[taps of channel c] += kernel[:, :, c, m] · g``) and to the bias.
    """
    xp = pad_nhwc(x, pads)
    dxp = np.zeros_like(xp)
    dkernel = np.zeros_like(kernel)
    kh, kw, n_ch, mult = kernel.shape
    dbias = np.zeros(n_ch * mult, dtype=x.dtype)
    (sh, sw), (dh, dw) = strides, dilation
    n_img, oh, ow, _ = dy.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                for c in range(n_ch):
                    window = xp[n, rows, cols, c]  # (KH, KW)
                    for m in range(mult):
                        g = dy[n, i, j, c * mult + m]
                        dkernel[:, :, c, m] += window * g
                        if need_dx:
                            dxp[n, rows, cols, c] += kernel[:, :, c, m] * g
                        dbias[c * mult + m] += g
    return (crop_nhwc(dxp, pads) if need_dx else None), dkernel, dbias


# --------------------------------------------------------------------------- numpy
def _tap(xp, u, v, strides, dilation, oh, ow):
    """Tap ``(u, v)`` of every window: ``x_pad[:, i·S_h + u·D_h, j·S_w + v·D_w, :]`` for all ``(i, j)``, a view."""
    (sh, sw), (dh, dw) = strides, dilation
    return xp[:, u * dh : u * dh + sh * (oh - 1) + 1 : sh, v * dw : v * dw + sw * (ow - 1) + 1 : sw, :]


def _depthwise_numpy(x, kernel, bias, strides, pads, dilation):
    xp = pad_nhwc(x, pads)
    kh, kw, n_ch, mult = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    oh = (xp.shape[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (xp.shape[2] - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((x.shape[0], oh, ow, n_ch, mult), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            y += _tap(xp, u, v, strides, dilation, oh, ow)[..., None] * kernel[u, v]  # (…, C, 1)·(C, M)
    y = y.reshape(x.shape[0], oh, ow, n_ch * mult)
    if bias is not None:
        y += bias
    return y


def _depthwise_backward_numpy(dy, x, kernel, strides, pads, dilation, need_dx=True):
    xp = pad_nhwc(x, pads)
    kh, kw, n_ch, mult = kernel.shape
    n_img, oh, ow, _ = dy.shape
    dy5 = dy.reshape(n_img, oh, ow, n_ch, mult)
    dkernel = np.empty_like(kernel)
    dxp = np.zeros_like(xp) if need_dx else None
    for u in range(kh):
        for v in range(kw):
            dkernel[u, v] = np.einsum("nijc,nijcm->cm", _tap(xp, u, v, strides, dilation, oh, ow), dy5)
            if need_dx:
                # a view of dx_pad: the tap's pixels receive Σ_m dy · kernel[u, v, c, m]
                _tap(dxp, u, v, strides, dilation, oh, ow)[...] += np.einsum("nijcm,cm->nijc", dy5, kernel[u, v])
    dbias = dy.reshape(-1, n_ch * mult).sum(axis=0)
    return (crop_nhwc(dxp, pads) if need_dx else None), dkernel, dbias


# --------------------------------------------------------------------------- numba
def _depthwise_numba(x, kernel, bias, strides, pads, dilation):
    from convlab.kernels import depthwise as nb_dw

    return nb_dw.depthwise_forward(x, kernel, bias, strides, pads, dilation)


def _depthwise_backward_numba(dy, x, kernel, strides, pads, dilation, need_dx=True):
    from convlab.kernels import depthwise as nb_dw

    return nb_dw.depthwise_backward(dy, x, kernel, strides, pads, dilation, need_dx=need_dx)


_FORWARD = {"reference": _depthwise_reference, "numpy": _depthwise_numpy, "numba": _depthwise_numba}
_BACKWARD = {
    "reference": _depthwise_backward_reference,
    "numpy": _depthwise_backward_numpy,
    "numba": _depthwise_backward_numba,
}


# --------------------------------------------------------------------------- public: depthwise
def depthwise_conv2d(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    dilation_rate: IntOrPair = 1,
    backend: str | None = None,
) -> np.ndarray:
    """Depthwise 2-D convolution — what Keras' ``DepthwiseConv2D`` computes (``tf.nn.depthwise_conv2d``).

    ``y[n, i, j, c·M + m] = b[c·M + m] + Σ_{u,v} x_pad[n, i·S_h + u·D_h, j·S_w + v·D_w, c] · kernel[u, v, c, m]``
    (the module docstring explains it).

    Args:
        x: ``(N, H, W, C)`` images (NHWC). float32/float64 keep their dtype; integers → float64.
        kernel: ``(KH, KW, C, M)``, ``M`` = Keras' ``depth_multiplier``; converted to ``x``'s dtype.
        bias: ``(C·M,)`` or ``None``.
        strides: int or ``(S_h, S_w)``, ≥ 1.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule on the dilated window
            ``D·(K − 1) + 1``: output ``ceil(H/S)``), an int, a pair or
            ``((top, bottom), (left, right))`` — as :func:`convlab.ops.conv.conv2d`.
        dilation_rate: int or ``(D_h, D_w)``, ≥ 1 (Keras' name): the taps are ``D`` pixels apart.
            Strides and dilation may both exceed 1: the formula still holds, and the result
            equals ``tf.nn.conv2d`` with the block-diagonal kernel (tested). Keras' layers
            refuse that combination, and ``tf.nn.depthwise_conv2d`` (TF 2.21) warns and
            returns other numbers for it (measured), so no Keras model contains it.
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` (default ``None`` → numba).

    Returns:
        ``y (N, OH, OW, C·M)`` of ``x``'s float dtype,
        ``OH = floor((H + P_top + P_bottom − D_h·(KH − 1) − 1)/S_h) + 1``.
        NaN/inf propagate as IEEE arithmetic on the formula (pads are multiplied zeros).

    Raises:
        ValueError: wrong ndim, empty array, ``kernel``'s third axis ≠ ``x``'s channels
            (the message names ``kernel``), bias not of length ``C·M`` (names ``bias``),
            the dilated kernel larger than the padded input, strides/dilation_rate ≤ 0,
            unknown padding or backend.
        TypeError: non-numeric dtype, malformed strides/padding/dilation_rate.
    """
    x, kernel, bias, strides, pads, dilation, _, backend = _prepare(
        x, kernel, bias, strides, padding, dilation_rate, backend
    )
    return _FORWARD[backend](x, kernel, bias, strides, pads, dilation)


def depthwise_conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    dilation_rate: IntOrPair = 1,
    backend: str | None = None,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`depthwise_conv2d` with respect to its input, kernel and bias.

    Args:
        dy: ``(N, OH, OW, C·M)`` — ``∂L/∂y``; exactly the forward output's shape
            (converted to ``x``'s dtype).
        x: ``(N, H, W, C)`` — the forward input; kernel: ``(KH, KW, C, M)``.
        strides, padding, dilation_rate, backend: exactly as given to :func:`depthwise_conv2d`.
        need_dx: ``False`` skips the input gradient and returns ``None`` in its place.

    Returns:
        ``(dx, dkernel, dbias)`` of ``x``'s dtype, shapes ``(N, H, W, C)``,
        ``(KH, KW, C, M)``, ``(C·M,)`` (formulas in the module docstring). Fresh arrays on
        every call; pixels no window covers get 0.

    Raises:
        ValueError: ``dy`` of the wrong shape (named, with both shapes), and every error
            of :func:`depthwise_conv2d`.
        TypeError: non-numeric dtype, malformed geometry, ``need_dx`` not a bool.
    """
    need_dx = check_bool(need_dx, "need_dx")
    x, kernel, _, strides, pads, dilation, (oh, ow), backend = _prepare(
        x, kernel, None, strides, padding, dilation_rate, backend
    )
    expected = (x.shape[0], oh, ow, kernel.shape[2] * kernel.shape[3])
    dy = _check_dy(dy, x, expected, "(N, OH, OW, C·M)", strides, padding, dilation)
    return _BACKWARD[backend](dy, x, kernel, strides, pads, dilation, need_dx=need_dx)


# --------------------------------------------------------------------------- public: separable
def _prepare_separable(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate, backend):
    x, dk, _, strides, pads, dilation, (oh, ow), backend = _prepare(
        x, depthwise_kernel, None, strides, padding, dilation_rate, backend, kernel_name="depthwise_kernel"
    )
    mid = dk.shape[2] * dk.shape[3]
    pk = as_float_array(pointwise_kernel, "pointwise_kernel", 4, dtype=x.dtype, shape_hint="(1, 1, C·M, C_out)")
    if pk.shape[:3] != (1, 1, mid):
        raise ValueError(
            f"pointwise_kernel must have shape (1, 1, C·depth_multiplier, C_out) = (1, 1, {mid}, C_out) "
            f"for depthwise_kernel.shape={dk.shape}, got {pk.shape}"
        )
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(C_out,)")
        if bias.shape[0] != pk.shape[3]:
            raise ValueError(
                f"bias must have shape ({pk.shape[3]},) to match pointwise_kernel C_out={pk.shape[3]}, got {bias.shape}"
            )
    return x, dk, pk, bias, strides, pads, dilation, (oh, ow), backend


def separable_conv2d(
    x: ArrayLike,
    depthwise_kernel: ArrayLike,
    pointwise_kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    dilation_rate: IntOrPair = 1,
    backend: str | None = None,
) -> np.ndarray:
    """Depthwise-separable 2-D convolution — Keras' ``SeparableConv2D`` (``tf.nn.separable_conv2d``).

    ``y = conv2d(depthwise_conv2d(x, depthwise_kernel), pointwise_kernel) + bias``: the
    depthwise step takes ``strides``, ``padding`` and ``dilation_rate`` and has no bias;
    the 1×1 pointwise step mixes the channels; the bias comes last (Keras 3's order).

    Args:
        x: ``(N, H, W, C)``; float32/float64 keep their dtype, integers → float64.
        depthwise_kernel: ``(KH, KW, C, M)``, ``M`` = ``depth_multiplier``.
        pointwise_kernel: ``(1, 1, C·M, C_out)``.
        bias: ``(C_out,)`` or ``None``.
        strides, padding, dilation_rate, backend: as :func:`depthwise_conv2d`.

    Returns:
        ``y (N, OH, OW, C_out)`` of ``x``'s dtype, ``OH`` as :func:`depthwise_conv2d`.

    Raises:
        ValueError: the errors of :func:`depthwise_conv2d` (naming ``depthwise_kernel``), a
            ``pointwise_kernel`` not ``(1, 1, C·M, C_out)`` or a ``bias`` not ``(C_out,)`` (named).
        TypeError: non-numeric dtype, malformed geometry.
    """
    x, dk, pk, bias, strides, pads, dilation, _, backend = _prepare_separable(
        x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation_rate, backend
    )
    z = _FORWARD[backend](x, dk, None, strides, pads, dilation)
    return conv2d(z, pk, bias, backend=backend)


def separable_conv2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    depthwise_kernel: ArrayLike,
    pointwise_kernel: ArrayLike,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    dilation_rate: IntOrPair = 1,
    backend: str | None = None,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`separable_conv2d`: the pointwise step's backward, then the depthwise one's.

    The depthwise output ``z`` is recomputed (it is not an argument); then
    ``(dz, d_pointwise, dbias) = conv2d_backward(dy, z, pointwise_kernel)`` and
    ``(dx, d_depthwise, _) = depthwise_conv2d_backward(dz, x, depthwise_kernel)``.

    Args:
        dy: ``(N, OH, OW, C_out)`` — ``∂L/∂y``, the forward output's shape.
        x, depthwise_kernel, pointwise_kernel: the forward inputs.
        strides, padding, dilation_rate, backend: exactly as given to :func:`separable_conv2d`.
        need_dx: ``False`` skips the input gradient (``None`` in its place).

    Returns:
        ``(dx, d_depthwise, d_pointwise, dbias)`` of ``x``'s dtype, shapes ``(N, H, W, C)``,
        ``(KH, KW, C, M)``, ``(1, 1, C·M, C_out)``, ``(C_out,)``.

    Raises:
        ValueError: ``dy`` of the wrong shape (named), and every error of :func:`separable_conv2d`.
        TypeError: as :func:`separable_conv2d`; ``need_dx`` not a bool.
    """
    need_dx = check_bool(need_dx, "need_dx")
    x, dk, pk, _, strides, pads, dilation, (oh, ow), backend = _prepare_separable(
        x, depthwise_kernel, pointwise_kernel, None, strides, padding, dilation_rate, backend
    )
    dy = _check_dy(dy, x, (x.shape[0], oh, ow, pk.shape[3]), "(N, OH, OW, C_out)", strides, padding, dilation)
    z = _FORWARD[backend](x, dk, None, strides, pads, dilation)
    dz, d_pointwise, dbias = conv2d_backward(dy, z, pk, backend=backend)
    dx, d_depthwise, _ = _BACKWARD[backend](dz, x, dk, strides, pads, dilation, need_dx=need_dx)
    return dx, d_depthwise, d_pointwise, dbias
