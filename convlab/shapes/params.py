"""Trainable parameter counts of the layers, as on the slides (and as Keras' ``model.summary()`` counts them)."""

from __future__ import annotations

from convlab.shapes.sizes import IntOrPair, pair
from convlab.util.checks import positive_int

__all__ = ["conv2d_param_count", "dense_param_count"]


def conv2d_param_count(filters: int, kernel_size: IntOrPair, in_channels: int, *, use_bias: bool = True) -> int:
    """Trainable parameters of ``Conv2D``: ``N_f·K_h·K_w·N_c + N_f`` (slides, seeds/003; Keras agrees).

    Args:
        filters: ``N_f``, an int ≥ 1.
        kernel_size: ``K`` or ``(K_h, K_w)`` (both values are used).
        in_channels: ``N_c``, the input's channels, an int ≥ 1.
        use_bias: keyword-only; ``False`` drops the ``+ N_f``.

    Raises:
        TypeError / ValueError naming the argument: not an int (or pair), or below 1.
    """
    kh, kw = pair(kernel_size, "kernel_size")
    f = positive_int(filters, "filters")
    c = positive_int(in_channels, "in_channels")
    return f * kh * kw * c + (f if use_bias else 0)


def dense_param_count(units: int, in_features: int, *, use_bias: bool = True) -> int:
    """Trainable parameters of ``Dense``: ``inputs·units + units`` (slides: 43264·15 + 15 = 648,975).

    Raises:
        TypeError / ValueError naming the argument: not an int, or below 1.
    """
    u = positive_int(units, "units")
    i = positive_int(in_features, "in_features")
    return i * u + (u if use_bias else 0)
