"""Transposed 2-D convolution, as Keras' ``Conv2DTranspose`` computes it, in three backends.

What it computes, and why it is the gradient of a convolution
-------------------------------------------------------------
Flatten the input and the output of an ordinary convolution: it is a matrix
product ``y = C·x``, with ``C`` sparse (row ``(i, j, f)`` holds the kernel's
weights where window ``(i, j)`` sits). Its input gradient is ``∂L/∂x = Cᵀ·∂L/∂y``
(the chain rule). A *transposed convolution* is that map ``Cᵀ`` used as a layer:
it takes something of the convolution's output size back to its input size —
upsampling with learned weights (Dumoulin & Visin 2016, "A guide to convolution
arithmetic for deep learning", §4: "transposed convolution … swaps the forward
and backward passes of a convolution"; d2l.ai §14.10 "Transposed Convolution").
Read directly, ``Cᵀ`` scatters: every input number multiplies the whole kernel and
is added into the output window it maps to (overlaps add up)::

    y_pad[n, i·S_h + u·D_h, j·S_w + v·D_w, f] += x[n, i, j, c] · kernel[u, v, f, c]
    y = crop(y_pad, pads) + bias

(d2l's ``trans_conv`` for one channel, ``Y[i:i + h, j:j + w] += X[i, j] * K``.) This is
exactly ``tf.nn.conv2d_transpose``: the input gradient of ``conv2d`` for an input of
the output's size, with the same kernel, stride, padding and dilation — and it is
what :func:`convlab.ops.conv.conv2d_backward` computes for ``dx``. Both call
:func:`convlab.ops.conv.conv2d_input_gradient`, one implementation per backend.

Layouts (Keras): ``x (N, H, W, C_in)``, ``kernel (KH, KW, C_out, C_in)`` (the
forward convolution's kernel, whose input channels are this layer's outputs),
``bias (C_out,)`` → ``y (N, OH, OW, C_out)``.

Output size (Keras 3, :func:`convlab.shapes.transpose.conv_transpose_output_size`), with ``K_eff = D·(K − 1) + 1``:

- ``"valid"``: ``OH = H·S + max(K_eff − S, 0)``; ``"same"``: ``OH = H·S``;
- with ``output_padding=A`` (``0 ≤ A < S``): ``OH = (H − 1)·S + K_eff − 2P + A``
  (``P = 0`` valid, ``K_eff // 2`` same; explicit pads ``P_top + P_bottom`` in place of ``2P``).

A stride-``S`` convolution maps ``S`` different input sizes to the same output size;
``output_padding`` chooses which one the transposed convolution produces.

Backward pass (:func:`conv2d_transpose_backward`)
------------------------------------------------
``y = Cᵀ·x`` is linear in ``x``, so ``∂L/∂x = C·∂L/∂y``: the ordinary (forward)
convolution of ``dy`` with the same kernel, stride, pads and dilation. In the
kernel, ``⟨dy, Cᵀ(k)·x⟩ = ⟨C(k)·dy, x⟩``, so ``∂L/∂kernel`` is the convolution's
kernel gradient with the roles swapped — ``dy`` as its input and ``x`` as its
upstream gradient. ``∂L/∂bias = Σ_{n,i,j} dy``.

Backends (``backend=``): ``"reference"`` (the scatter loops above — the
specification), ``"numpy"`` (matrix products + col2im), ``"numba"`` (the compiled
input-gradient kernels of :mod:`convlab.kernels.conv` / :mod:`convlab.kernels.conv_general`).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from convlab.ops.conv import conv2d_input_gradient, conv2d_kernel_gradient, conv2d_resolved
from convlab.shapes.sizes import IntOrPair, Padding, pair
from convlab.shapes.transpose import transpose_geometry
from convlab.util.checks import as_float_array, check_array_fits, check_backend, check_bool

__all__ = ["conv2d_transpose", "conv2d_transpose_backward"]


def _prepare(x, kernel, bias, strides, padding, output_padding, dilation_rate, backend):
    """Validate the arguments of conv2d_transpose; return arrays, resolved geometry and the output shape."""
    x = as_float_array(x, "x", 4, shape_hint="(N, H, W, C_in)")
    kernel = as_float_array(kernel, "kernel", 4, dtype=x.dtype, shape_hint="(KH, KW, C_out, C_in)")
    kh, kw, c_out, c_in = kernel.shape
    if c_in != x.shape[3]:
        raise ValueError(
            f"kernel has C_in={c_in} input channels on its last axis (kernel.shape={kernel.shape}; a transposed "
            f"convolution's kernel is (KH, KW, C_out, C_in), as Keras' Conv2DTranspose stores it) but x has "
            f"{x.shape[3]} channels (x.shape={x.shape})"
        )
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(C_out,)")
        if bias.shape[0] != c_out:
            raise ValueError(
                f"bias must have shape ({c_out},) to match the kernel's C_out={c_out} (kernel axis 2), got {bias.shape}"
            )
    backend = check_backend(backend)
    strides = pair(strides, "strides")
    dilation = pair(dilation_rate, "dilation_rate")
    (oh, ow), pads = transpose_geometry(
        x.shape, (kh, kw), strides, padding, output_padding, dilation, c_out, x.dtype.itemsize
    )
    n_img, h, w, _ = x.shape
    if backend == "numpy":  # every window's gradient as one row: (N·H·W, KH·KW·C_out)
        check_array_fits((n_img * h * w, kh * kw * c_out), x.dtype.itemsize, "kernel", "the im2col matrix")
    return x, kernel, bias, strides, pads, dilation, (n_img, oh, ow, c_out), backend


def conv2d_transpose(
    x: ArrayLike,
    kernel: ArrayLike,
    bias: ArrayLike | None = None,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    output_padding: IntOrPair | None = None,
    dilation_rate: IntOrPair = 1,
    backend: str | None = None,
) -> np.ndarray:
    """Transposed convolution with bias — what Keras' ``Conv2DTranspose`` computes.

    Args:
        x: ``(N, H, W, C_in)`` (NHWC). float32/float64 keep their dtype; integers → float64.
        kernel: ``(KH, KW, C_out, C_in)`` (Keras' layout), converted to ``x``'s dtype.
        bias: ``(C_out,)`` or ``None``.
        strides: int or ``(S_h, S_w)``, ≥ 1 — the upsampling factor.
        padding: ``"valid"``, ``"same"`` (Keras), or explicit pads as :func:`convlab.ops.conv.conv2d`
            takes them (an int, ``(P_h, P_w)``, ``((top, bottom), (left, right))``): the pads of
            the convolution this one is the transpose of, cropped from the output.
        output_padding: ``None`` or int / ``(A_h, A_w)`` with ``0 ≤ A < S`` (Keras): extra rows
            and columns that pick the output size (module docstring). With ``"valid"`` or explicit
            pads they come at the bottom/right; with ``"same"`` the crop follows TensorFlow's
            "same" rule on the output size, so the extra row can appear at the top/left.
        dilation_rate: int or ``(D_h, D_w)``, ≥ 1 (may be combined with a stride > 1, as the
            gradient of ``tf.nn.conv2d``; Keras' layer refuses that combination).
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` (default ``None`` → numba).

    Returns:
        ``y (N, OH, OW, C_out)`` of ``x``'s float dtype; ``OH`` per Keras' rule (module docstring,
        e.g. ``"same"``: ``H·S``). Equal to ``tf.nn.conv2d_transpose`` with Keras' output shape.

    Raises:
        ValueError: wrong ndim, empty input, the kernel's last axis ≠ ``C_in``, bias of the wrong
            length, ``output_padding`` ≥ ``strides`` (naming ``output_padding``), stride or
            dilation_rate < 1, pads that crop the whole output, unknown padding or backend.
        TypeError: non-numeric dtype, malformed strides/padding/output_padding/dilation_rate.

    Example (d2l.ai §14.10): ``X = [[0, 1], [2, 3]]``, ``K = [[0, 1], [2, 3]]``, stride 1, valid →
    ``[[0, 0, 1], [0, 4, 6], [4, 12, 9]]``.
    """
    x, kernel, bias, strides, pads, dilation, out_shape, backend = _prepare(
        x, kernel, bias, strides, padding, output_padding, dilation_rate, backend
    )
    # As the convolution's input gradient: x plays dy, kernel (KH, KW, C_out, C_in) is that convolution's.
    y = conv2d_input_gradient(x, kernel, out_shape, strides, pads, dilation, 1, backend)
    if bias is not None:
        y += bias
    return y


def conv2d_transpose_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    strides: IntOrPair = 1,
    padding: Padding = "valid",
    output_padding: IntOrPair | None = None,
    dilation_rate: IntOrPair = 1,
    backend: str | None = None,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_transpose` with respect to its input, kernel and bias.

    Args:
        dy: ``(N, OH, OW, C_out)`` — ``∂L/∂y``, exactly the shape :func:`conv2d_transpose` returns.
        x: ``(N, H, W, C_in)``; kernel: ``(KH, KW, C_out, C_in)`` — the forward arguments.
        strides, padding, output_padding, dilation_rate, backend: as given to :func:`conv2d_transpose`.
        need_dx: keyword-only; ``False`` skips the input gradient (returns ``None`` for it).

    Returns:
        ``(dx, dkernel, dbias)`` of ``x``'s dtype, shapes ``(N, H, W, C_in)``,
        ``(KH, KW, C_out, C_in)``, ``(C_out,)``: ``dx = conv2d(dy, kernel)`` (the forward
        convolution, same stride, pads and dilation), ``dkernel`` = the convolution's kernel
        gradient with ``dy`` as its input and ``x`` as its upstream gradient, ``dbias = Σ dy``
        (module docstring).

    Raises:
        ValueError: ``dy``'s shape differs from the forward output's (naming ``dy``), and every
            error :func:`conv2d_transpose` raises. TypeError: as :func:`conv2d_transpose`,
            ``need_dx`` not a bool.
    """
    need_dx = check_bool(need_dx, "need_dx")
    x, kernel, _, strides, pads, dilation, out_shape, backend = _prepare(
        x, kernel, None, strides, padding, output_padding, dilation_rate, backend
    )
    dy = as_float_array(dy, "dy", 4, dtype=x.dtype, shape_hint="(N, OH, OW, C_out)")
    if dy.shape != out_shape:
        raise ValueError(
            f"dy must have the forward output's shape (N, OH, OW, C_out) = {out_shape} for x.shape={x.shape}, "
            f"kernel.shape={kernel.shape}, strides={strides}, padding={padding!r}, output_padding={output_padding!r}"
            + ("" if dilation == (1, 1) else f", dilation_rate={dilation}")
            + f"; got dy.shape={dy.shape}"
        )
    dx = conv2d_resolved(dy, kernel, None, strides, pads, dilation, 1, backend) if need_dx else None
    dkernel, _ = conv2d_kernel_gradient(x, dy, kernel, strides, pads, dilation, 1, backend)
    dbias = _channel_sums(dy) if backend != "reference" else dy.reshape(-1, dy.shape[3]).sum(axis=0)
    return dx, dkernel, dbias


def _channel_sums(a):
    """``Σ_{n,i,j} a[n, i, j, :]``, in two passes over long rows: NumPy sums a ``(P, C)`` array along
    its first axis one short row at a time, ~5× slower than along a contiguous axis."""
    pixels = a.shape[0] * a.shape[1] * a.shape[2]
    chunks = math.gcd(pixels, 256)
    return a.reshape(chunks, -1).sum(axis=0).reshape(-1, a.shape[3]).sum(axis=0)
