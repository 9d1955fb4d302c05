"""Numba convolution kernels (forward and backward). Called by :mod:`convlab.conv`."""
from __future__ import annotations

import numba as nb
import numpy as np

from .._arrays import pad_nhwc


@nb.njit(parallel=True, cache=True, fastmath=False)
def _forward_kernel(xp, kernel, bias, sh, sw, y):
    n_img, oh, ow, n_f = y.shape
    kh, kw, c_in, _ = kernel.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p % oh
        for j in range(ow):
            acc = np.zeros(n_f, dtype=y.dtype)
            for u in range(kh):
                for v in range(kw):
                    for c in range(c_in):
                        xv = xp[n, i * sh + u, j * sw + v, c]
                        for f in range(n_f):
                            acc[f] += xv * kernel[u, v, c, f]
            for f in range(n_f):
                y[n, i, j, f] = acc[f] + bias[f]


def conv2d_forward(x, kernel, bias, strides, pads):
    """``x (N,H,W,C)``, ``kernel (KH,KW,C,F)``, ``bias (F,)|None``, strides ``(sh, sw)``, pads ``(t,b,l,r)``."""
    xp = pad_nhwc(x, pads)
    kh, kw, _, n_f = kernel.shape
    sh, sw = strides
    oh, ow = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
    y = np.empty((x.shape[0], oh, ow, n_f), dtype=x.dtype)
    b = np.zeros(n_f, dtype=x.dtype) if bias is None else bias
    _forward_kernel(np.ascontiguousarray(xp), kernel, b, sh, sw, y)
    return y


# --------------------------------------------------------------------------- backward (simple)
@nb.njit(parallel=True, cache=True)
def _dx_scatter(dy, kernel, sh, sw, dxp):
    """dxp[n, i*sh+u, j*sw+v, c] += Σ_f dy[n,i,j,f]·kernel[u,v,c,f]; one image per thread."""
    n_img, oh, ow, n_f = dy.shape
    kh, kw, c_in, _ = kernel.shape
    for n in nb.prange(n_img):
        for i in range(oh):
            for j in range(ow):
                for u in range(kh):
                    for v in range(kw):
                        for c in range(c_in):
                            acc = 0.0
                            for f in range(n_f):
                                acc += dy[n, i, j, f] * kernel[u, v, c, f]
                            dxp[n, i * sh + u, j * sw + v, c] += acc


@nb.njit(parallel=True, cache=True)
def _dk_gather(dy, xp, sh, sw, dk):
    """dk[u,v,c,f] = Σ_{n,i,j} xp[n, i*sh+u, j*sw+v, c]·dy[n,i,j,f]; one (u,v,c) per thread."""
    n_img, oh, ow, n_f = dy.shape
    kh, kw, c_in, _ = dk.shape
    for p in nb.prange(kh * kw * c_in):
        u = p // (kw * c_in)
        v = (p // c_in) % kw
        c = p % c_in
        acc = np.zeros(n_f, dtype=dk.dtype)
        for n in range(n_img):
            for i in range(oh):
                for j in range(ow):
                    xv = xp[n, i * sh + u, j * sw + v, c]
                    for f in range(n_f):
                        acc[f] += xv * dy[n, i, j, f]
        for f in range(n_f):
            dk[u, v, c, f] = acc[f]


def conv2d_backward(dy, x, kernel, strides, pads):
    """Gradients of :func:`conv2d_forward`.

    Args:
        dy: ``(N, OH, OW, F)`` upstream gradient; x: ``(N, H, W, C)``; kernel ``(KH, KW, C, F)``;
            strides ``(sh, sw)``; pads ``(top, bottom, left, right)``. Same float dtype, C-contiguous.

    Returns:
        ``(dx (N,H,W,C), dkernel (KH,KW,C,F), dbias (F,))`` of ``x``'s dtype.
    """
    t, b, l, r = pads
    sh, sw = strides
    n_img, h, w, c_in = x.shape
    xp = np.ascontiguousarray(pad_nhwc(x, pads))
    dxp = np.zeros(xp.shape, dtype=x.dtype)
    _dx_scatter(dy, kernel, sh, sw, dxp)
    dx = np.ascontiguousarray(dxp[:, t:t + h, l:l + w, :])
    dk = np.empty(kernel.shape, dtype=x.dtype)
    _dk_gather(dy, xp, sh, sw, dk)
    db = dy.sum(axis=(0, 1, 2)).astype(x.dtype)
    return dx, dk, db
