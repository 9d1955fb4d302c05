"""Fully connected layer, as Keras' ``Dense``: ``y = x @ kernel + bias``."""
from __future__ import annotations

from ._checks import as_float_array

__all__ = ["dense"]


def dense(x, kernel, bias=None):
    """Affine map of the last axis (Keras ``Dense``).

    Args:
        x: ``(N, in_features)`` (float32/float64; integers → float64).
        kernel: ``(in_features, units)`` — Keras' layout, converted to ``x``'s dtype.
        bias: ``(units,)`` or ``None``.

    Returns:
        ``(N, units)``.

    Raises:
        ValueError: wrong ndim, empty arrays, ``in_features`` or ``units`` mismatch.
        TypeError: non-numeric dtype.
    """
    x = as_float_array(x, "x", 2, shape_hint="(N, in_features)")
    kernel = as_float_array(kernel, "kernel", 2, dtype=x.dtype, shape_hint="(in_features, units)")
    if kernel.shape[0] != x.shape[1]:
        raise ValueError(
            f"kernel has in_features={kernel.shape[0]} (kernel.shape={kernel.shape}) but x has "
            f"{x.shape[1]} features (x.shape={x.shape})"
        )
    y = x @ kernel
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, dtype=x.dtype, shape_hint="(units,)")
        if bias.shape[0] != kernel.shape[1]:
            raise ValueError(f"bias must have shape ({kernel.shape[1]},) to match units, got {bias.shape}")
        y += bias
    return y
