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

Backward pass (:func:`conv2d_backward`)
---------------------------------------
Given the upstream gradient ``dy = ∂L/∂y`` (same shape as ``y``), the chain rule
applied to the formula above gives, summing over every output position
``(n, i, j)`` and filter ``f`` that used a number::

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

Backends (``backend=``):
- ``"reference"``: explicit loops over output pixels and filters — the specification;
- ``"numpy"``: im2col (every window copied into one row) + one matrix product;
- ``"numba"`` (default): compiled kernels in :mod:`convlab.kernels.conv`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from convlab.shapes.sizes import IntOrPair, Padding, window_geometry
from convlab.util.arrays import crop_nhwc, pad_nhwc, windows
from convlab.util.checks import as_float_array, check_backend, check_bool

__all__ = ["conv2d", "conv2d_backward", "correlate2d", "convolve2d", "im2col"]


# --------------------------------------------------------------------------- checks
def _prepare(x, kernel, bias, strides, padding, backend):
    """Validate the arguments of conv2d; return arrays and resolved geometry."""
    x = as_float_array(x, "x", 4, shape_hint="(N, H, W, C_in)")
    kernel = as_float_array(kernel, "kernel", 4, dtype=x.dtype, shape_hint="(KH, KW, C_in, C_out)")
    kh, kw, c_in, c_out = kernel.shape
    if c_in != x.shape[3]:
        raise ValueError(
            f"kernel has C_in={c_in} input channels (kernel.shape={kernel.shape}) but x has "
            f"{x.shape[3]} channels (x.shape={x.shape})"
        )
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(C_out,)")
        if bias.shape[0] != c_out:
            raise ValueError(f"bias must have shape ({c_out},) to match kernel C_out={c_out}, got {bias.shape}")
    backend = check_backend(backend)
    _, strides, pads, _ = window_geometry(
        x.shape,
        (kh, kw),
        strides,
        padding,
        window_name="kernel",
        out_channels=c_out,
        itemsize=x.dtype.itemsize,
        windows_matrix=backend == "numpy",
    )
    return x, kernel, bias, strides, pads, backend


# --------------------------------------------------------------------------- reference
def _conv2d_reference(x, kernel, bias, strides, pads):
    """The specification: one output number at a time, exactly as on the slides.

    For each image ``n``, output row ``i``, column ``j`` and filter ``f``: take the
    ``KH×KW×C_in`` window of the padded input that starts at ``(i·S_h, j·S_w)``,
    multiply it element by element with filter ``f`` and add everything up,
    plus the bias.
    """
    xp = pad_nhwc(x, pads)
    n_img, hp, wp, _ = xp.shape
    kh, kw, _, n_filters = kernel.shape
    sh, sw = strides
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    y = np.zeros((n_img, oh, ow, n_filters), dtype=x.dtype)
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                window = xp[n, i * sh : i * sh + kh, j * sw : j * sw + kw, :]  # (KH, KW, C_in)
                for f in range(n_filters):
                    y[n, i, j, f] = np.sum(window * kernel[:, :, :, f])
                    if bias is not None:
                        y[n, i, j, f] += bias[f]
    return y


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


def _conv2d_numpy(x, kernel, bias, strides, pads):
    kh, kw, c_in, n_filters = kernel.shape
    cols, (oh, ow) = _im2col(x, (kh, kw), strides, pads)
    y = cols @ kernel.reshape(kh * kw * c_in, n_filters)
    if bias is not None:
        y += bias
    return y.reshape(x.shape[0], oh, ow, n_filters)


# --------------------------------------------------------------------------- numba
def _conv2d_numba(x, kernel, bias, strides, pads):
    from convlab.kernels import conv as nb_conv

    return nb_conv.conv2d_forward(x, kernel, bias, strides, pads)


_FORWARD = {"reference": _conv2d_reference, "numpy": _conv2d_numpy, "numba": _conv2d_numba}


# --------------------------------------------------------------------------- public
def conv2d(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    backend: str | None = None,
) -> np.ndarray:
    """Multi-channel 2-D cross-correlation with bias — what Keras' ``Conv2D`` computes.

    Args:
        x: ``(N, H, W, C_in)`` images (NHWC). float32 or float64 keep their dtype;
            integer input is converted to float64.
        kernel: ``(KH, KW, C_in, C_out)``, converted to ``x``'s dtype.
        bias: ``(C_out,)`` or ``None``.
        strides: int or ``(S_h, S_w)``, ≥ 1.
        padding: ``"valid"``, ``"same"`` (TensorFlow's rule: output ``ceil(H/S)``, the
            odd pad pixel at the bottom/right), an int ``P`` (``P`` zeros on each
            side, as the slides), ``(P_h, P_w)`` or ``((top, bottom), (left, right))``.
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` (default ``None`` → numba).

    Returns:
        ``y (N, OH, OW, C_out)`` of ``x``'s float dtype, with
        ``OH = floor((H + P_top + P_bottom − KH)/S_h) + 1`` (slides; Keras floors).
        NaN/inf in the inputs propagate as IEEE arithmetic does.

    Raises:
        ValueError: wrong ndim, empty input, channel mismatch, bias of the wrong
            length, kernel larger than the padded input, stride ≤ 0, unknown
            padding or backend.
        TypeError: non-numeric dtype, malformed strides/padding.

    Example (slides, seeds/003): the 5×5 input with the sharpen kernel gives
    ``[[266, -61, -30], [116, -47, 295], [-135, 256, -128]]``.
    """
    x, kernel, bias, strides, pads, backend = _prepare(x, kernel, bias, strides, padding, backend)
    return _FORWARD[backend](x, kernel, bias, strides, pads)


# --------------------------------------------------------------------------- backward
def _prepare_backward(dy, x, kernel, strides, padding, backend):
    """Validate the arguments of conv2d_backward; ``dy`` must have the forward output's shape."""
    x, kernel, _, strides, pads, backend = _prepare(x, kernel, None, strides, padding, backend)
    kh, kw, _, c_out = kernel.shape
    oh = (x.shape[1] + pads[0] + pads[1] - kh) // strides[0] + 1
    ow = (x.shape[2] + pads[2] + pads[3] - kw) // strides[1] + 1
    expected = (x.shape[0], oh, ow, c_out)
    dy = as_float_array(dy, "dy", 4, dtype=x.dtype, shape_hint="(N, OH, OW, C_out)")
    if dy.shape != expected:
        raise ValueError(
            f"dy must have the forward output's shape (N, OH, OW, C_out) = {expected} for "
            f"x.shape={x.shape}, kernel.shape={kernel.shape}, strides={strides}, padding={padding!r}; "
            f"got dy.shape={dy.shape}"
        )
    return dy, x, kernel, strides, pads, backend


def _conv2d_backward_reference(dy, x, kernel, strides, pads, need_dx=True):
    """The chain rule, one output number at a time (mirror image of the forward loop).

    The forward pass computed ``y[n, i, j, f] = Σ window · kernel[..., f] + b[f]``
    for the window of ``x_pad`` that starts at ``(i·S_h, j·S_w)``. So each output
    number sends its gradient ``g = dy[n, i, j, f]`` back to:
    - every kernel weight it multiplied: ``dkernel[..., f] += window · g``;
    - every input pixel of its window: ``dx_pad[window] += kernel[..., f] · g``;
    - the bias: ``dbias[f] += g``.
    At the end the padding is cropped from ``dx_pad`` (a pad is not an input).
    With ``need_dx=False`` the second line is skipped and ``dx`` is ``None``.
    """
    xp = pad_nhwc(x, pads)
    dxp = np.zeros_like(xp)  # fresh zeros on every call: nothing accumulates across calls
    dkernel = np.zeros_like(kernel)
    dbias = np.zeros(kernel.shape[3], dtype=x.dtype)
    kh, kw, _, n_filters = kernel.shape
    sh, sw = strides
    n_img, oh, ow, _ = dy.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * sh, i * sh + kh)  # the stride matters here too
                cols = slice(j * sw, j * sw + kw)
                window = xp[n, rows, cols, :]  # (KH, KW, C_in)
                for f in range(n_filters):
                    g = dy[n, i, j, f]
                    dkernel[:, :, :, f] += window * g
                    if need_dx:
                        dxp[n, rows, cols, :] += kernel[:, :, :, f] * g
                    dbias[f] += g
    return (crop_nhwc(dxp, pads) if need_dx else None), dkernel, dbias


def _col2im(dcols, x_shape, window, strides, pads):
    """Inverse bookkeeping of im2col: scatter-add ``dcols (N, OH, OW, KH, KW, C)`` into the padded input.

    One vectorised add per kernel tap ``(u, v)``: tap ``(u, v)`` of output ``(i, j)``
    touched ``x_pad[i·S_h + u, j·S_w + v]``, so it is a strided slice. Windows that
    overlap (stride < kernel) add up, as the chain rule requires.
    """
    n_img, h, w, c = x_shape
    t, b, l, r = pads
    kh, kw = window
    sh, sw = strides
    _, oh, ow = dcols.shape[:3]
    dxp = np.zeros((n_img, h + t + b, w + l + r, c), dtype=dcols.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, u : u + sh * (oh - 1) + 1 : sh, v : v + sw * (ow - 1) + 1 : sw, :] += dcols[:, :, :, u, v, :]
    return crop_nhwc(dxp, pads)


def _conv2d_backward_numpy(dy, x, kernel, strides, pads, need_dx=True):
    kh, kw, c_in, n_filters = kernel.shape
    cols, (oh, ow) = _im2col(x, (kh, kw), strides, pads)  # (N·OH·OW, KH·KW·C_in)
    dy2d = dy.reshape(-1, n_filters)  # (N·OH·OW, C_out)
    dkernel = (cols.T @ dy2d).reshape(kh, kw, c_in, n_filters)
    if not need_dx:
        return None, dkernel, dy2d.sum(axis=0)
    dcols = (dy2d @ kernel.reshape(kh * kw * c_in, n_filters).T).reshape(x.shape[0], oh, ow, kh, kw, c_in)
    dx = _col2im(dcols, x.shape, (kh, kw), strides, pads)
    return dx, dkernel, dy2d.sum(axis=0)


def _conv2d_backward_numba(dy, x, kernel, strides, pads, need_dx=True):
    from convlab.kernels import conv as nb_conv

    return nb_conv.conv2d_backward(dy, x, kernel, strides, pads, need_dx=need_dx)


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
    backend: str | None = None,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` with respect to its input, kernel and bias.

    Args:
        dy: ``(N, OH, OW, C_out)`` — ``∂L/∂y``, the upstream gradient; it must have
            exactly the shape ``conv2d(x, kernel, strides=…, padding=…)`` returns.
            Converted to ``x``'s dtype.
        x: ``(N, H, W, C_in)`` — the forward input (float32/float64; integers → float64).
        kernel: ``(KH, KW, C_in, C_out)`` — the forward kernel.
        strides, padding, backend: exactly as given to :func:`conv2d`.
        need_dx: keyword-only. ``True`` (default) computes the input gradient. ``False`` skips it
            and returns ``None`` in its place — e.g. for a network's first layer,
            whose input (the images) needs no gradient; it costs about as much as
            the kernel gradient. ``dkernel`` and ``dbias`` are the same either way.

    Returns:
        ``(dx, dkernel, dbias)`` of ``x``'s dtype with shapes ``(N, H, W, C_in)``,
        ``(KH, KW, C_in, C_out)`` and ``(C_out,)`` (``dx`` is ``None`` when
        ``need_dx=False``). The bias does not affect any
        gradient, so it is not an argument. Every call returns fresh arrays (no
        accumulation across calls); pixels no window covers get 0.

    Raises:
        ValueError: ``dy``'s shape differs from the forward output's (the message
            names ``dy`` and both shapes), and every error :func:`conv2d` raises.
        TypeError: non-numeric dtype, malformed strides/padding, ``need_dx`` not a bool.

    Formulas: see the module docstring (chain rule on Keras' cross-correlation).
    """
    need_dx = check_bool(need_dx, "need_dx")
    dy, x, kernel, strides, pads, backend = _prepare_backward(dy, x, kernel, strides, padding, backend)
    return _BACKWARD[backend](dy, x, kernel, strides, pads, need_dx=need_dx)


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
