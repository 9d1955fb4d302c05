"""Checks the convolution-operation tests share (``test_conv_dilated_grouped.py``, ``test_conv_transpose.py``).

Each applies to an operation ``op(x, kernel, bias, *, backend, **geometry)`` and its backward
``op_backward(dy, x, kernel, *, backend, **geometry) -> (dx, dkernel, dbias)``, as
:func:`convlab.conv2d` and :func:`convlab.conv2d_transpose` are.

Tests import these names (``from conv_helpers import ...``): pytest puts ``tests/`` on ``sys.path`` (no
``__init__.py`` there, "prepend" import mode), as for ``strategies.py``.
"""

import numpy as np
from conftest import BACKENDS, DTYPES

from convlab.ops.gradcheck import gradcheck

#: Largest error allowed against the float64 reference, relative to the reference's scale (:func:`rel_error`).
TOL = {np.float32: 2e-5, np.float64: 1e-12}


def rel_error(a, b):
    """Max abs error of ``a`` against ``b``, relative to ``b``'s scale (its largest magnitude)."""
    return float(np.abs(np.asarray(a, np.float64) - b).max() / max(np.abs(b).max(), 1e-300))


def backends_agree(op, op_backward, x, kernel, bias, *, dy_seed=1, **geometry):
    """Every backend and dtype against the float64 reference loops, forward and backward (dtype, shape, values)."""
    x64, k64, b64 = (a.astype(np.float64) for a in (x, kernel, bias))
    y_ref = op(x64, k64, b64, backend="reference", **geometry)
    dy = np.random.default_rng(dy_seed).standard_normal(y_ref.shape)
    grads_ref = op_backward(dy, x64, k64, backend="reference", **geometry)
    for backend in BACKENDS[1:]:
        for dtype in DTYPES:
            xc, kc, bc, dyc = (a.astype(dtype) for a in (x, kernel, bias, dy))
            y = op(xc, kc, bc, backend=backend, **geometry)
            assert y.dtype == dtype and y.shape == y_ref.shape
            assert rel_error(y, y_ref) < TOL[dtype], (backend, dtype)
            for got, want in zip(op_backward(dyc, xc, kc, backend=backend, **geometry), grads_ref):
                assert got.dtype == dtype and got.shape == want.shape
                assert rel_error(got, want) < TOL[dtype], (backend, dtype)


def gradcheck_errors(op, op_backward, x, kernel, bias, backend, **geometry):
    """:func:`convlab.ops.gradcheck.gradcheck` of ``backend``'s backward (forward on numpy), float64 inputs."""
    return gradcheck(
        lambda x, kernel, bias: op(x, kernel, bias, backend="numpy", **geometry),
        lambda dy, x, kernel, bias: op_backward(dy, x, kernel, backend=backend, **geometry),
        {"x": x, "kernel": kernel, "bias": bias},
    )
