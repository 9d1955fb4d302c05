"""Numba kernels for dilated convolution (Keras' ``dilation_rate``), forward and backward.

Called by :mod:`convlab.ops.conv` (once per group). Inputs arrive validated:
C-contiguous arrays of one float dtype, ``strides = (sh, sw)``, ``pads = (top, bottom,
left, right)``, ``dilation = (dh, dw)``. With dilation ``D`` tap ``(u, v)`` of the window
of output ``(i, j)`` reads ``x_pad[i·sh + u·dh, j·sw + v·dw]``, and
``OH = floor((Hp − D·(KH − 1) − 1)/sh) + 1``. ``D = 1`` goes straight to
:mod:`convlab.kernels.conv`, unchanged.

The paths
---------
1. **Space-to-batch**, as TensorFlow runs atrous convolution (``tf.nn.atrous_conv2d``,
   ``tf.nn.convolution``; Yu & Koltun 2016): with stride 1 and ``i = a·D + p`` the taps
   of output ``i`` are ``x_pad[(a + u)·D + p]`` — an *undilated* convolution of the
   sub-grid of rows ``p, p + D, p + 2D…``. The padded input is split into ``D_h × D_w``
   sub-grids stacked along the batch axis (:func:`_subgrid_copy`, one parallel pass),
   the fast kernels of :mod:`convlab.kernels.conv` (tiled / Winograd) run once on the
   stack, and the outputs are interleaved back. Input gradient (stride 1, a finite kernel,
   enough channels): each sub-grid's own ``dy`` is copied straight into the zero-padded
   layout of the fast transposed convolution (one pass; a sub-grid with fewer outputs gets
   zeros, which only meet the finite kernel), one tiled / Winograd call on all of them,
   interleaved back (the sub-grids share no input pixel). Kernel gradient: the fast one on
   the sub-grids — when ``D`` divides ``OH`` and ``OW`` stacked into one call, whose pass
   also sums ``dbias``; otherwise one call per sub-grid, each with exactly its own
   outputs, so no made-up zero of ``dy`` meets a non-finite input.
2. **Everything else for ``dx``** (stride with dilation, few channels, a non-finite kernel):
   the fused product + col2im of :func:`convlab.kernels.conv.dx_scatter`, which takes the
   dilation itself and forms only the definition's products. **Stride > 1 with dilation
   > 1 along one axis** for the forward pass and ``dkernel`` (Keras' layers refuse it,
   ``tf.nn.conv2d`` takes it): the stride-1 dilated convolution by path 1, every
   ``S``-th output kept (``S²`` times the work, with the fast kernels); ``dkernel`` with
   ``dy`` spread out by the stride (zeros between). Those zeros are no product of the
   definition, so with a non-finite input path 3 runs instead.
3. **Small problems** (below :data:`convlab.kernels.conv.DIRECT_MACS` multiply-adds) and
   the non-finite cases above → serial direct loops on the definition
   (:func:`_forward_direct`, :func:`_dx_direct`, :func:`_dk_direct`). The ``dx`` loop
   has the loop order and float64 partial sums of the direct backward loop of
   :mod:`convlab.kernels.conv`, so with ``D = 1`` both give the same bits.
4. **Strided forward** for ``conv2d_transpose``'s input gradient (:func:`forward_strided`):
   the tiles of the tiled kernel, with rows ending in a 4-wide or shifted full tile.

Non-finite values follow IEEE arithmetic on the definition, as in :mod:`convlab.kernels.conv`:
the direct loops skip pad positions, so they are given explicit zeros when a pad
would meet a non-finite kernel (forward) or ``dy`` (kernel gradient).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from convlab.kernels import conv as fast
from convlab.kernels.tile import tile_for
from convlab.util.arrays import pad_nhwc

__all__ = ["conv2d_forward", "conv2d_dx", "conv2d_backward"]

Pair = tuple[int, int]
Pads = tuple[int, int, int, int]
NO_PADS = (0, 0, 0, 0)


# --------------------------------------------------------------------------- 3. direct loops
@nb.njit(cache=True)
def _forward_direct(x, kernel, bias, sh, sw, dh, dw, top, left, y):
    """``y[n, i, j, f] = b[f] + Σ_{u,v,c} x[n, i·sh + u·dh − top, j·sw + v·dw − left, c]·k[u, v, c, f]``.

    Pad positions are skipped: the caller pads explicitly when a pad meets a non-finite kernel.
    """
    n_img, h, w, c_in = x.shape
    _, oh, ow, n_f = y.shape
    kh, kw, _, _ = kernel.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for f in range(n_f):
                    y[n, i, j, f] = bias[f]
                for u in range(kh):
                    r = i * sh + u * dh - top
                    if r < 0 or r >= h:
                        continue
                    for v in range(kw):
                        q = j * sw + v * dw - left
                        if q < 0 or q >= w:
                            continue
                        for c in range(c_in):
                            xv = x[n, r, q, c]
                            for f in range(n_f):
                                y[n, i, j, f] += xv * kernel[u, v, c, f]


@nb.njit(cache=True)
def _dx_direct(dy, kernel, sh, sw, dh, dw, top, left, dx):
    """Scatter ``dy`` into ``dx``: ``dx[n, r, q, c] += Σ_f dy[n, i, j, f]·k[u, v, c, f]`` (pads dropped)."""
    _, h, w, c_in = dx.shape
    n_img, oh, ow, n_f = dy.shape
    kh, kw, _, _ = kernel.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for u in range(kh):
                    r = i * sh + u * dh - top
                    if r < 0 or r >= h:
                        continue
                    for v in range(kw):
                        q = j * sw + v * dw - left
                        if q < 0 or q >= w:
                            continue
                        for c in range(c_in):
                            s = 0.0
                            for f in range(n_f):
                                g = dy[n, i, j, f]
                                s += g * kernel[u, v, c, f]
                            dx[n, r, q, c] += s


@nb.njit(cache=True)
def _dk_direct(dy, x, sh, sw, dh, dw, top, left, dk):
    """``dk[u, v, c, f] = Σ_{n,i,j} x[n, i·sh + u·dh − top, j·sw + v·dw − left, c]·dy[n, i, j, f]`` (pads skipped)."""
    kh, kw, c_in, n_f = dk.shape
    n_img, h, w, _ = x.shape
    _, oh, ow, _ = dy.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for u in range(kh):
                    r = i * sh + u * dh - top
                    if r < 0 or r >= h:
                        continue
                    for v in range(kw):
                        q = j * sw + v * dw - left
                        if q < 0 or q >= w:
                            continue
                        for c in range(c_in):
                            xv = x[n, r, q, c]
                            for f in range(n_f):
                                dk[u, v, c, f] += xv * dy[n, i, j, f]


def _out_hw(x_shape, kernel_shape, strides, pads, dilation):
    kh, kw = kernel_shape[:2]
    t, b, l, r = pads
    oh = (x_shape[1] + t + b - dilation[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (x_shape[2] + l + r - dilation[1] * (kw - 1) - 1) // strides[1] + 1
    return oh, ow


def forward_direct(x, kernel, bias, strides, pads, dilation):
    """``y = conv2d(x, kernel) + bias`` with dilation, by the direct loop."""
    oh, ow = _out_hw(x.shape, kernel.shape, strides, pads, dilation)
    y = np.empty((x.shape[0], oh, ow, kernel.shape[3]), dtype=x.dtype)
    bb = np.zeros(kernel.shape[3], dtype=x.dtype) if bias is None else bias
    t, l = pads[0], pads[2]
    if any(pads) and not np.isfinite(kernel).all():  # a pad is a zero that is multiplied (0·inf = NaN)
        x, t, l = pad_nhwc(x, pads), 0, 0
    _forward_direct(x, kernel, bb, strides[0], strides[1], dilation[0], dilation[1], t, l, y)
    return y


def dx_direct(dy, x_shape, kernel, strides, pads, dilation):
    """``dx (N, H, W, C)`` by the direct scatter loop (pad positions skipped: they are cropped anyway)."""
    dx = np.zeros(x_shape, dtype=dy.dtype)
    _dx_direct(dy, kernel, strides[0], strides[1], dilation[0], dilation[1], pads[0], pads[2], dx)
    return dx


def dkernel_direct(dy, x, kernel_shape, strides, pads, dilation):
    """``dkernel`` by the direct loop."""
    dk = np.zeros(kernel_shape, dtype=x.dtype)
    t, l = pads[0], pads[2]
    if any(pads) and not np.isfinite(dy).all():  # dy meets the pads' zeros in the definition
        x, t, l = pad_nhwc(x, pads), 0, 0
    _dk_direct(dy, x, strides[0], strides[1], dilation[0], dilation[1], t, l, dk)
    return dk


# --------------------------------------------------------------------------- 1. space-to-batch
@nb.njit(parallel=True, cache=True)
def _subgrid_copy(full, sub, top, left, to_sub):
    """Between ``full (N, H, W, C)`` and its sub-grids ``sub (Dh, Dw, N, Hs, Ws, C)``.

    Pixel ``(r, q)`` of ``full`` sits at padded position ``(R, Q) = (r + top, q + left)``, i.e. in
    sub-grid ``(R mod Dh, Q mod Dw)`` at ``(R // Dh, Q // Dw)``. ``to_sub``: copy ``full`` into the
    (zeroed) ``sub``, dropping pixels past its end; else fill ``full`` from ``sub`` (0 past its end).
    """
    n_img, h, w, c = full.shape
    dh, dw, _, hs, ws, _ = sub.shape
    for p in nb.prange(n_img * h):
        n = p // h
        r = p - n * h
        rr = r + top
        a = rr // dh
        pr = rr - a * dh
        for q in range(w):
            qq = q + left
            b = qq // dw
            pq = qq - b * dw
            inside = a < hs and b < ws
            for k in range(c):
                if to_sub:
                    if inside:
                        sub[pr, pq, n, a, b, k] = full[n, r, q, k]
                else:
                    full[n, r, q, k] = sub[pr, pq, n, a, b, k] if inside else 0.0


def _subgrid_sizes(x_shape, kernel_shape, strides, pads, dilation):
    """``(OH, OW)``, each sub-grid's output counts ``(A, B)`` and input sizes ``(Hs, Ws)``.

    Along a dilated axis the stride is 1; along an undilated one the inner convolution keeps its stride.
    """
    oh, ow = _out_hw(x_shape, kernel_shape, strides, pads, dilation)
    (dh, dw), (sh, sw) = dilation, strides
    a, b = -(-oh // dh), -(-ow // dw)
    return (oh, ow), (a, b), ((a - 1) * sh + kernel_shape[0], (b - 1) * sw + kernel_shape[1])


def _split_input(x, pads, dilation, hs, ws):
    sub = np.zeros((dilation[0], dilation[1], x.shape[0], hs, ws, x.shape[3]), dtype=x.dtype)
    _subgrid_copy(x, sub, pads[0], pads[2], True)
    return sub


def _residues(dy, dilation):
    """``(p, q, dy[:, p::Dh, q::Dw])`` for every sub-grid with outputs: exactly its own ``dy``."""
    for p in range(dilation[0]):
        for q in range(dilation[1]):
            dy_pq = dy[:, p :: dilation[0], q :: dilation[1]]
            if dy_pq.size:  # more sub-grids than output rows/columns: this one has no output
                yield p, q, np.ascontiguousarray(dy_pq)


def forward_subgrids(x, kernel, bias, strides, pads, dilation):
    """Stride-1 dilated forward by space-to-batch: one fast convolution on all sub-grids."""
    (oh, ow), (a, b), (hs, ws) = _subgrid_sizes(x.shape, kernel.shape, strides, pads, dilation)
    dh, dw = dilation
    sub = _split_input(x, pads, dilation, hs, ws)
    ys = fast.conv2d_forward(sub.reshape(dh * dw * x.shape[0], hs, ws, x.shape[3]), kernel, bias, strides, NO_PADS)
    y = np.empty((x.shape[0], oh, ow, kernel.shape[3]), dtype=x.dtype)
    _subgrid_copy(y, ys.reshape(dh, dw, x.shape[0], a, b, kernel.shape[3]), 0, 0, False)
    return y


def _stacked(dy, dilation):
    """``dy`` as one batch of its sub-grids ``(Dh·Dw·N, OH/Dh, OW/Dw, F)`` when every sub-grid has as many
    outputs (``D`` divides ``OH`` and ``OW``), else ``None``: one fast call instead of ``Dh·Dw``."""
    (dh, dw), (n_img, oh, ow, n_f) = dilation, dy.shape
    if oh % dh or ow % dw:
        return None
    stack = np.empty((dh, dw, n_img, oh // dh, ow // dw, n_f), dtype=dy.dtype)
    _subgrid_copy(dy, stack, 0, 0, True)
    return stack.reshape(dh * dw * n_img, oh // dh, ow // dw, n_f)


def _real_span(top, n, d, k):
    """``(lo, count)``: the sub-grid rows that hold real (not pad) pixels along one axis, for all
    ``d`` sub-grids together — the only rows of the sub-grids' input gradient that are kept.
    ``lo`` is at most ``k − 1`` (so ``dy`` still fits in front of the placed layout)."""
    lo = min(max(0, -(-(top - p) // d)) for p in range(d))
    hi = max(-(-(top + n - p) // d) for p in range(d))
    lo = min(lo, k - 1)
    return lo, hi - lo


def dx_subgrids(dy, x_shape, kernel, pads, dilation):
    """Stride-1 dilated input gradient for a finite kernel: each sub-grid's own ``dy``, placed in zeros
    as :func:`convlab.kernels.conv.dx_of_placed` takes it (one copy), then one fast call on all of them.

    Only the sub-grid rows and columns that hold real pixels are computed (the pads' gradients would be
    cropped anyway: with "same" padding they are a fifth of the work). Sub-grids with fewer outputs than
    the others (``D`` not dividing ``OH``) get zeros in their place: products of zeros with the finite
    kernel, which add nothing.
    """
    (dh, dw), (n_img, h, w, c_in), (kh, kw) = dilation, x_shape, kernel.shape[:2]
    lo_h, hs = _real_span(pads[0], h, dh, kh)
    lo_w, ws = _real_span(pads[2], w, dw, kw)
    b = np.zeros((dh, dw, n_img, hs + kh - 1, ws + kw - 1, dy.shape[3]), dtype=dy.dtype)
    # dy pixel (r, q) goes to sub-grid (r mod Dh, q mod Dw) at (r // Dh + KH − 1 − lo_h, q // Dw + KW − 1 − lo_w).
    _subgrid_copy(dy, b, (kh - 1 - lo_h) * dh, (kw - 1 - lo_w) * dw, True)
    dsub = fast.dx_of_placed(b.reshape(dh * dw * n_img, hs + kh - 1, ws + kw - 1, dy.shape[3]), kernel)
    dx = np.empty(x_shape, dtype=dy.dtype)
    # Every real pixel's sub-grid row is at least lo_h, so these offsets stay inside dsub.
    _subgrid_copy(dx, dsub.reshape(dh, dw, n_img, hs, ws, c_in), pads[0] - lo_h * dh, pads[2] - lo_w * dw, False)
    return dx


def dkernel_subgrids(dy, x, kernel, strides, pads, dilation):
    """Stride-1 dilated ``(dkernel, dbias)``: the fast kernel gradient on the sub-grids — stacked, one call
    (``dbias`` rides along), or one call per sub-grid, summed (``dbias`` then summed by NumPy)."""
    _, _, (hs, ws) = _subgrid_sizes(x.shape, kernel.shape, strides, pads, dilation)
    sub = _split_input(x, pads, dilation, hs, ws)
    stack = _stacked(dy, dilation)
    if stack is not None:
        xs = sub.reshape(-1, hs, ws, x.shape[3])
        return fast.conv2d_backward(stack, xs, kernel, strides, NO_PADS, need_dx=False)[1:]
    dk = np.zeros(kernel.shape, dtype=x.dtype)
    for p, q, dy_pq in _residues(dy, dilation):
        dk += fast.conv2d_backward(dy_pq, sub[p, q], kernel, strides, NO_PADS, need_dx=False)[1]
    return dk, dy.reshape(-1, dy.shape[3]).sum(axis=0)


# --------------------------------------------------------------------------- 4. strided forward
def forward_strided(x, kernel, bias, strides, pads):
    """Undilated ``conv2d`` with stride > 1 for the parallel path: the tiles of
    :func:`convlab.kernels.conv._make_phase_conv` (one phase), whose rows end in a 4-wide or a
    shifted full tile instead of narrow 3-, 2- and 1-column ones — the same products in the same
    order as the tiled kernel, so the same bits. Other problems: :func:`convlab.kernels.conv.conv2d_forward`."""
    kh, kw, c_in, n_f = kernel.shape
    sh, sw = strides
    oh, ow = _out_hw(x.shape, kernel.shape, strides, pads, (1, 1))
    if (sh, sw) == (1, 1) or x.shape[0] * oh * ow * kh * kw * c_in * n_f < fast.SERIAL_MACS:
        return fast.conv2d_forward(x, kernel, bias, strides, pads)
    fb, jb = tile_for(x.dtype)
    xp = fast._padded(x, pads)
    _, hp, wp, _ = xp.shape
    km, fp = fast._kernel_matrix(kernel, fb)
    bb = np.zeros(fp, dtype=x.dtype)
    if bias is not None:
        bb[:n_f] = bias
    taps = fast._tap_offsets(kh, kw, c_in, wp)
    i64 = np.int64
    y = np.empty((x.shape[0], oh, ow, fp), dtype=x.dtype)  # filters padded to whole tiles, cropped after
    rows = np.stack([np.zeros(oh, i64), np.arange(oh, dtype=i64) * sh, np.arange(oh, dtype=i64)], axis=1)
    fast.specialised(fast._make_phase_conv, fb, jb, True)(
        xp.reshape(-1),
        hp,
        wp,
        c_in,
        km.reshape(-1),
        np.zeros(1, i64),
        taps,
        np.zeros(1, i64),
        np.array([taps.size], i64),
        rows,
        np.array([(0, 0, ow)], i64),
        sw * c_in,
        fp,
        bb,
        y,
    )
    return y if fp == n_f else np.ascontiguousarray(y[..., :n_f])


# --------------------------------------------------------------------------- 2. stride with dilation
def _split_strides(strides, dilation):
    """``(inner, outer)``: the stride kept inside space-to-batch (undilated axes) and the one applied after."""
    inner = tuple(1 if d > 1 else s for s, d in zip(strides, dilation))
    outer = tuple(s if d > 1 else 1 for s, d in zip(strides, dilation))
    return inner, outer


def _spread(dy, x_shape, kernel_shape, inner, outer, pads, dilation):
    """``dy`` of the strided convolution placed in the outputs of the inner (stride-1) one, zeros between."""
    oh1, ow1 = _out_hw(x_shape, kernel_shape, inner, pads, dilation)
    dy1 = np.zeros((dy.shape[0], oh1, ow1, dy.shape[3]), dtype=dy.dtype)
    dy1[:, : (dy.shape[1] - 1) * outer[0] + 1 : outer[0], : (dy.shape[2] - 1) * outer[1] + 1 : outer[1]] = dy
    return dy1


# --------------------------------------------------------------------------- dispatch
def _small(dy_shape, kernel_shape):
    """Below the direct-loop threshold of :mod:`convlab.kernels.conv` (the same count of multiply-adds)."""
    n_img, oh, ow, _ = dy_shape
    return n_img * oh * ow * int(np.prod(kernel_shape)) < fast.DIRECT_MACS


def conv2d_forward(
    x: np.ndarray, kernel: np.ndarray, bias, strides: Pair, pads: Pads, dilation: Pair, out: np.ndarray | None = None
) -> np.ndarray:
    """Dilated ``y = conv2d(x, kernel) + bias``: ``x (N, H, W, C)``, ``kernel (KH, KW, C, F)`` → ``(N, OH, OW, F)``.

    ``out``: an array of ``y``'s shape and dtype (checked by the caller) to write ``y`` into; returned.
    """
    if tuple(dilation) == (1, 1):
        return fast.conv2d_forward(x, kernel, bias, strides, pads, out=out)
    if out is not None:
        np.copyto(out, conv2d_forward(x, kernel, bias, strides, pads, dilation))
        return out
    oh, ow = _out_hw(x.shape, kernel.shape, strides, pads, dilation)
    if _small((x.shape[0], oh, ow, 0), kernel.shape):
        return forward_direct(x, kernel, bias, strides, pads, dilation)
    inner, outer = _split_strides(strides, dilation)
    y = forward_subgrids(x, kernel, bias, inner, pads, dilation)
    if outer == (1, 1):
        return y
    return np.ascontiguousarray(y[:, : (oh - 1) * outer[0] + 1 : outer[0], : (ow - 1) * outer[1] + 1 : outer[1]])


def conv2d_dx(dy: np.ndarray, x_shape, kernel: np.ndarray, strides: Pair, pads: Pads, dilation: Pair) -> np.ndarray:
    """``dx (N, H, W, C)`` of a (dilated) convolution: a transposed convolution of ``dy``.

    The one numba implementation behind ``conv2d_backward``'s ``dx`` and ``conv2d_transpose``.
    Small problems: the direct loop (for ``D = 1`` the same bits as the direct backward loop
    of :func:`convlab.kernels.conv.conv2d_backward`); otherwise :func:`convlab.kernels.conv.conv2d_dx`
    for ``D = 1``; for ``D > 1`` space-to-batch over its fast path (stride 1, a finite kernel and
    enough channels), else the fused product + col2im of :func:`convlab.kernels.conv.dx_scatter`,
    which takes the dilation itself and forms only the definition's products (module docstring).
    """
    x_shape = tuple(x_shape)
    if _small(dy.shape, kernel.shape):
        return dx_direct(dy, x_shape, kernel, strides, pads, dilation)
    if tuple(dilation) == (1, 1):
        return fast.conv2d_dx(dy, x_shape, kernel, strides, pads)
    fb = tile_for(dy.dtype)[0]
    if tuple(strides) == (1, 1) and 2 * x_shape[3] >= fb and np.isfinite(kernel).all():
        return dx_subgrids(dy, x_shape, kernel, pads, dilation)
    return fast.dx_scatter(dy, x_shape, kernel, strides, pads, dilation)


def conv2d_backward(
    dy: np.ndarray, x: np.ndarray, kernel: np.ndarray, strides: Pair, pads: Pads, dilation: Pair, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(dx or None, dkernel, dbias)`` of a (dilated) convolution; ``dx`` is :func:`conv2d_dx`."""
    if tuple(dilation) == (1, 1):
        return fast.conv2d_backward(dy, x, kernel, strides, pads, need_dx=need_dx)
    dx = conv2d_dx(dy, x.shape, kernel, strides, pads, dilation) if need_dx else None
    inner, outer = _split_strides(strides, dilation)
    if _small(dy.shape, kernel.shape) or (outer != (1, 1) and not np.isfinite(x).all()):
        db = dy.reshape(-1, dy.shape[3]).sum(axis=0)
        return dx, dkernel_direct(dy, x, kernel.shape, strides, pads, dilation), db
    if outer != (1, 1):
        dy = _spread(dy, x.shape, kernel.shape, inner, outer, pads, dilation)
    dk, db = dkernel_subgrids(dy, x, kernel, inner, pads, dilation)
    return dx, dk, db
