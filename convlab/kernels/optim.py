"""Numba kernel for the Adam update. Called by :class:`convlab.model.optimizers.Adam`.

The NumPy form in :mod:`convlab.model.optimizers` makes eleven passes over every
parameter array plus three ``isfinite`` checks, each reading the whole array
from memory again; on a model of half a million parameters that is a tenth of
a training step (numbers in ``benchmarks/README.md``). This loop does the
same float operations, in the same order and in the parameters' dtype (so the
same bits: Numba does not fuse multiply-adds unless asked), in one pass on
every core, and reports whether every new value is finite.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_BLOCK = 4096


@nb.njit(parallel=True, cache=True)
def adam(g, w, m, v, c1, c2, alpha, eps, w_out, m_out, v_out):
    """Write Adam's new ``w``, ``m``, ``v`` (flat, one float dtype; scalars of that dtype).

    ``m' = m + (g − m)·c1``, ``v' = v + (g² − v)·c2``, ``w' = w − m'·α / (sqrt(v') + ε)``
    with ``c1 = 1 − β1``, ``c2 = 1 − β2``. Returns ``True`` when every new value is finite.
    """
    n = g.size
    n_blocks = (n + _BLOCK - 1) // _BLOCK
    bad = np.zeros(n_blocks, dtype=np.int32)
    for b in nb.prange(n_blocks):
        # An integer OR, not a float sum: LLVM may not reorder a float reduction, so the loop would stay scalar.
        flag = 0
        for i in range(b * _BLOCK, min(n, (b + 1) * _BLOCK)):
            gi = g[i]
            mi = m[i]
            vi = v[i]
            mn = (gi - mi) * c1 + mi
            vn = (gi * gi - vi) * c2 + vi
            wn = w[i] - (mn * alpha) / (np.sqrt(vn) + eps)
            m_out[i] = mn
            v_out[i] = vn
            w_out[i] = wn
            # x − x is 0 for a finite x, NaN for NaN or ±inf
            flag |= np.int32((mn - mn) + (vn - vn) + (wn - wn) != 0)
        bad[b] = flag
    return not bad.any()
