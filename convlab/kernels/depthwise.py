"""Numba depthwise-convolution kernels, forward and backward. Called by :mod:`convlab.ops.depthwise`.

Inputs arrive validated by :mod:`convlab.ops.depthwise`: C-contiguous arrays of one
float dtype (float32 or float64), ``strides = (sh, sw)``, ``dilation = (dh, dw)``,
resolved ``pads = (top, bottom, left, right)``.

The kernel ``(KH, KW, C, M)`` is used as ``(KH, KW, C·M)``: that flat last axis is
the output channel ``o = c·M + m`` (Keras' and TensorFlow's order), so for
``M = 1`` — MobileNet's case — every inner loop runs over one contiguous axis of
``x``, ``y`` and the kernel at once, and LLVM turns it into vector instructions.
With ``M > 1`` the inner loop runs over ``m`` for one input channel ``c``.

Why each kernel has the shape it has
------------------------------------
- **forward**: one task per output row ``(n, i)`` (``prange``); for each output
  pixel its ``C·M`` outputs (a few hundred bytes, in L1) receive the ``KH·KW``
  taps one after the other. Taps that fall in the padding are skipped, so no
  padded copy of the input is made (it would cost half as much as the convolution).
- **input gradient**: gathered, not scattered — one task per *input* row; each
  ``dx`` pixel sums the ``dy · kernel`` products of the windows that covered it
  (the transposed convolution). Each ``dx`` element is written by one task only,
  so no two threads race.
- **kernel gradient**: ``dk[u, v, o] = Σ_{n,i,j} x_pad[n, i·sh + u·dh, j·sw + v·dw, c] · dy[n, i, j, o]``
  is a reduction over every output pixel: each thread takes a chunk of output
  rows and adds into its own copy of ``dk`` (``KH·KW·C·M`` numbers, in L1) and of
  ``dbias``; the copies are summed at the end (no races, no atomics).

Non-finite values
-----------------
The definition multiplies the pads' zeros too (``0·inf = NaN``; the reference
backend and TensorFlow do). Skipping the pads drops those products, which is
exact only while they are 0: so the forward pass takes an explicitly padded copy
of ``x`` when the kernel holds a non-finite weight (a check on a few hundred
numbers), and the kernel gradient is recomputed on a padded copy when ``dbias``
(``Σ dy``, a sum that is non-finite whenever ``dy`` holds a NaN or an inf) is not
finite. The input gradient forms only products of the definition.
"""

from __future__ import annotations

import numba as nb
import numpy as np

#: ``(rows, cols)`` and ``(top, bottom, left, right)``, already checked by :mod:`convlab.ops.depthwise`.
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]


@nb.njit(parallel=True, cache=True)
def _forward(x, k, bias, mult, sh, sw, dh, dw, top, left, y):
    """``y[n, i, j, o] = bias[o] + Σ_{u,v} x[n, i·sh + u·dh − top, j·sw + v·dw − left, o // M] · k[u, v, o]``,
    taps outside ``x`` skipped."""
    n_img, h, w, n_ch = x.shape
    kh, kw, _ = k.shape
    _, oh, ow, n_out = y.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p - n * oh
        for j in range(ow):
            yo = y[n, i, j]
            for o in range(n_out):
                yo[o] = bias[o]
            for u in range(kh):
                r = i * sh + u * dh - top
                if r < 0 or r >= h:
                    continue
                xr = x[n, r]
                for v in range(kw):
                    q = j * sw + v * dw - left
                    if q < 0 or q >= w:
                        continue
                    xv = xr[q]
                    kv = k[u, v]
                    if mult == 1:
                        for c in range(n_ch):
                            yo[c] += xv[c] * kv[c]
                    else:
                        for c in range(n_ch):
                            a = xv[c]
                            for m in range(mult):
                                yo[c * mult + m] += a * kv[c * mult + m]


@nb.njit(parallel=True, cache=True)
def _backward_input(dy, k, mult, sh, sw, dh, dw, top, left, dx):
    """``dx[n, r, q, c] = Σ dy[n, i, j, c·M + m] · k[u, v, c·M + m]`` over the taps with
    ``i·sh + u·dh = r + top`` and ``j·sw + v·dw = q + left`` (``dx`` zero on entry)."""
    n_img, h, w, n_ch = dx.shape
    kh, kw, _ = k.shape
    _, oh, ow, _ = dy.shape
    for p in nb.prange(n_img * h):
        n = p // h
        r = p - n * h
        for u in range(kh):
            t = r + top - u * dh
            if t < 0 or t % sh != 0 or t // sh >= oh:
                continue
            dyr = dy[n, t // sh]
            for q in range(w):
                dxo = dx[n, r, q]
                for v in range(kw):
                    s = q + left - v * dw
                    if s < 0 or s % sw != 0 or s // sw >= ow:
                        continue
                    g = dyr[s // sw]
                    kv = k[u, v]
                    if mult == 1:
                        for c in range(n_ch):
                            dxo[c] += g[c] * kv[c]
                    else:
                        for c in range(n_ch):
                            acc = dxo[c]
                            for m in range(mult):
                                acc += g[c * mult + m] * kv[c * mult + m]
                            dxo[c] = acc


@nb.njit(parallel=True, cache=True)
def _backward_kernel(dy, x, mult, sh, sw, dh, dw, top, left, part, dbpart):
    """Per chunk of output rows: ``part[chunk, u, v, o] += x[…, o // M] · dy[…, o]`` over the taps
    inside ``x`` and ``dbpart[chunk, o] += dy[…, o]`` (both zero on entry; the caller sums the chunks)."""
    n_chunks, kh, kw, _ = part.shape
    _, h, w, n_ch = x.shape
    n_img, oh, ow, n_out = dy.shape
    rows = n_img * oh
    per_chunk = (rows + n_chunks - 1) // n_chunks
    for chunk in nb.prange(n_chunks):
        pk = part[chunk]
        pb = dbpart[chunk]
        for p in range(chunk * per_chunk, min(rows, (chunk + 1) * per_chunk)):
            n = p // oh
            i = p - n * oh
            for j in range(ow):
                g = dy[n, i, j]
                for o in range(n_out):
                    pb[o] += g[o]
                for u in range(kh):
                    r = i * sh + u * dh - top
                    if r < 0 or r >= h:
                        continue
                    xr = x[n, r]
                    for v in range(kw):
                        q = j * sw + v * dw - left
                        if q < 0 or q >= w:
                            continue
                        xv = xr[q]
                        kv = pk[u, v]
                        if mult == 1:
                            for c in range(n_ch):
                                kv[c] += xv[c] * g[c]
                        else:
                            for c in range(n_ch):
                                a = xv[c]
                                for m in range(mult):
                                    kv[c * mult + m] += a * g[c * mult + m]


def _padded(x: np.ndarray, pads: Pads) -> np.ndarray:
    t, b, l, r = pads
    if not (t or b or l or r):
        return x
    xp = np.zeros((x.shape[0], x.shape[1] + t + b, x.shape[2] + l + r, x.shape[3]), dtype=x.dtype)
    xp[:, t : t + x.shape[1], l : l + x.shape[2], :] = x
    return xp


def depthwise_forward(
    x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides: Pair, pads: Pads, dilation: Pair
) -> np.ndarray:
    """``y (N, OH, OW, C·M)`` of :func:`convlab.ops.depthwise.depthwise_conv2d` for ``kernel (KH, KW, C, M)``."""
    kh, kw, n_ch, mult = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    oh = (x.shape[1] + pads[0] + pads[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[2] + pads[2] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    y = np.empty((x.shape[0], oh, ow, n_ch * mult), dtype=x.dtype)
    b = np.zeros(n_ch * mult, dtype=x.dtype) if bias is None else bias
    xs, top, left = x, pads[0], pads[2]
    if any(pads) and not np.isfinite(kernel).all():
        # Skipping the pads drops their products 0·kernel, which are NaN for an infinite weight.
        xs, top, left = _padded(x, pads), 0, 0
    _forward(xs, kernel.reshape(kh, kw, n_ch * mult), b, mult, sh, sw, dh, dw, top, left, y)
    return y


def _kernel_gradient(dy, x, kernel_shape, strides, pads, dilation):
    kh, kw, n_ch, mult = kernel_shape
    n_chunks = max(1, min(nb.get_num_threads(), dy.shape[0] * dy.shape[1]))
    part = np.zeros((n_chunks, kh, kw, n_ch * mult), dtype=x.dtype)
    dbpart = np.zeros((n_chunks, n_ch * mult), dtype=x.dtype)
    _backward_kernel(dy, x, mult, *strides, *dilation, pads[0], pads[2], part, dbpart)
    return part.sum(axis=0).reshape(kernel_shape), dbpart.sum(axis=0)


def depthwise_backward(
    dy: np.ndarray,
    x: np.ndarray,
    kernel: np.ndarray,
    strides: Pair,
    pads: Pads,
    dilation: Pair,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(dx (N,H,W,C) or None, dkernel (KH,KW,C,M), dbias (C·M,))``; ``dy (N, OH, OW, C·M)``.

    Input pixels no window covers get 0.
    """
    kh, kw, n_ch, mult = kernel.shape
    dx = None
    if need_dx:
        dx = np.zeros(x.shape, dtype=x.dtype)
        _backward_input(dy, kernel.reshape(kh, kw, n_ch * mult), mult, *strides, *dilation, pads[0], pads[2], dx)
    dk, db = _kernel_gradient(dy, x, kernel.shape, strides, pads, dilation)
    if any(pads) and not np.isfinite(db).all():
        # dy holds a NaN or an inf (or its sum overflowed): the skipped pad products 0·dy
        # may be NaN, so redo the reduction on explicitly padded zeros.
        dk, db = _kernel_gradient(dy, _padded(x, pads), kernel.shape, strides, (0, 0, 0, 0), dilation)
    return dx, dk, db
