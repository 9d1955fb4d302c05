"""Numba convolution kernels (forward). Called by :func:`convlab.conv.conv2d`."""
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
