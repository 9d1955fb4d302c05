"""Numba element-wise kernels for ReLU, forward and backward. Called by :mod:`convlab.ops.activations`.

NumPy's ``np.maximum`` runs on one core, and ``np.where`` on ReLU's random mask
mispredicts a branch per element; in a training step of seeds/004's model the
ReLU after the first convolution (128 × 26 × 26 × 32 floats, 11 MB) cost more
than the convolution itself. These loops run on every core and compile to
branch-free vector selects (the values are loaded unconditionally, so LLVM may
pick between them without a jump). Results are bit for bit those of the NumPy
definitions in :mod:`convlab.ops.activations` (``np.maximum(x, 0)``; ``dy`` where
``x > 0`` else +0.0), NaN, inf and −0.0 included — tests check it.
"""

from __future__ import annotations

import numba as nb

#: Elements per parallel task: 16 KB of float32, big enough to amortise scheduling.
_BLOCK = 4096


@nb.njit(parallel=True, cache=True)
def relu(x, out):
    """``out = max(x, 0)`` (NaN stays NaN, −0.0 becomes +0.0, as ``np.maximum``); any shape, C-contiguous."""
    xf = x.reshape(-1)
    of = out.reshape(-1)
    n = xf.size
    for b in nb.prange((n + _BLOCK - 1) // _BLOCK):
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            v = xf[i]
            of[i] = v if (v > 0 or v != v) else 0.0


@nb.njit(parallel=True, cache=True)
def relu_backward(dy, x, out):
    """``out = dy`` where ``x > 0``, else +0.0 (also where ``x`` is NaN); C-contiguous, one shape."""
    xf = x.reshape(-1)
    df = dy.reshape(-1)
    of = out.reshape(-1)
    n = xf.size
    for b in nb.prange((n + _BLOCK - 1) // _BLOCK):
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            d = df[i]  # loaded unconditionally: the select below needs no branch
            of[i] = d if xf[i] > 0 else 0.0
