"""Parameter counts of the layers, as on the slides and as Keras' ``model.summary()`` counts them.

Every count is the number of values in the layer's weights, in Keras 3's shapes
(``layer.count_params()`` after ``build``; checked in ``tests/test_shapes_arithmetic.py``):

- ``Conv2D``: kernel ``(K_h, K_w, N_c / groups, N_f)`` + bias ``(N_f,)``;
- ``Conv2DTranspose``: kernel ``(K_h, K_w, N_f, N_c)`` + bias ``(N_f,)``;
- ``DepthwiseConv2D``: kernel ``(K_h, K_w, N_c, M)`` + bias ``(N_c·M,)``;
- ``SeparableConv2D``: depthwise ``(K_h, K_w, N_c, M)`` + pointwise ``(1, 1, N_c·M, N_f)`` + bias ``(N_f,)``;
- ``BatchNormalization``: gamma and beta ``(C,)`` (trainable, when ``scale``/``center``)
  + moving mean and variance ``(C,)`` (non-trainable, always);
- ``Dense``: kernel ``(inputs, units)`` + bias ``(units,)``.

``use_bias``, ``center`` and ``scale`` are keyword-only: a bare ``True``/``False`` in a
call says nothing about what it switches.
"""

from __future__ import annotations

from convlab.shapes.sizes import IntOrPair, pair
from convlab.util.checks import check_bool, positive_int, shown

__all__ = [
    "conv2d_param_count",
    "conv2d_transpose_param_count",
    "depthwise_conv2d_param_count",
    "separable_conv2d_param_count",
    "batch_norm_param_count",
    "dense_param_count",
]


def conv2d_param_count(
    filters: int, kernel_size: IntOrPair, in_channels: int, *, use_bias: bool = True, groups: int = 1
) -> int:
    """Parameters of ``Conv2D``: ``N_f·K_h·K_w·(N_c / groups) + N_f`` (slides, seeds/003; Keras agrees).

    With ``groups`` G the input channels split into G groups, each convolved with its own
    ``N_f / G`` filters that see only that group's ``N_c / G`` channels (Keras' ``Conv2D(groups=)``;
    ResNeXt): the kernel is ``(K_h, K_w, N_c / G, N_f)``, G times smaller than ungrouped.

    Args:
        filters: ``N_f``, an int ≥ 1.
        kernel_size: ``K`` or ``(K_h, K_w)`` (both values are used).
        in_channels: ``N_c``, the input's channels, an int ≥ 1.
        use_bias: keyword-only; ``False`` drops the ``+ N_f``.
        groups: keyword-only, an int ≥ 1 that divides both ``in_channels`` and ``filters`` (Keras).

    Raises:
        TypeError / ValueError naming the argument: not an int (or pair), or below 1; ValueError
        naming ``groups`` when it does not divide ``in_channels`` or ``filters``.
    """
    kh, kw = pair(kernel_size, "kernel_size")
    f = positive_int(filters, "filters")
    c = positive_int(in_channels, "in_channels")
    g = positive_int(groups, "groups")
    if c % g or f % g:
        raise ValueError(
            f"groups={g} must divide both in_channels and filters (Keras), got in_channels={c}, filters={f}"
        )
    return f * kh * kw * (c // g) + (f if check_bool(use_bias, "use_bias") else 0)


def conv2d_transpose_param_count(
    filters: int, kernel_size: IntOrPair, in_channels: int, *, use_bias: bool = True
) -> int:
    """Parameters of ``Conv2DTranspose``: ``K_h·K_w·N_f·N_c + N_f`` — a kernel ``(K_h, K_w, N_f, N_c)`` (Keras).

    As many as the ``Conv2D`` it transposes: the same weights, used the other way round.

    Args:
        filters: ``N_f``, the output channels, an int ≥ 1.
        kernel_size: ``K`` or ``(K_h, K_w)``.
        in_channels: ``N_c``, the input's channels, an int ≥ 1.
        use_bias: keyword-only; ``False`` drops the ``+ N_f``.

    Raises:
        TypeError / ValueError naming the argument: not an int (or pair), or below 1.
    """
    return conv2d_param_count(filters, kernel_size, in_channels, use_bias=use_bias)


def depthwise_conv2d_param_count(
    kernel_size: IntOrPair, channels: int, depth_multiplier: int = 1, *, use_bias: bool = True
) -> int:
    """Parameters of ``DepthwiseConv2D``: ``K_h·K_w·C·M + C·M`` (Keras; ``DepthwiseConv2D(3)`` on 32 channels: 320).

    Each input channel has its own ``M`` filters of ``K_h × K_w`` (no sum over channels), so
    the output has ``C·M`` channels, each with a bias.

    Args:
        kernel_size: ``K`` or ``(K_h, K_w)``.
        channels: ``C``, the input's channels, an int ≥ 1.
        depth_multiplier: ``M``, an int ≥ 1 (Keras' default 1).
        use_bias: keyword-only; ``False`` drops the ``+ C·M``.

    Raises:
        TypeError / ValueError naming the argument: not an int (or pair), or below 1.
    """
    kh, kw = pair(kernel_size, "kernel_size")
    c = positive_int(channels, "channels")
    m = positive_int(depth_multiplier, "depth_multiplier")
    return kh * kw * c * m + (c * m if check_bool(use_bias, "use_bias") else 0)


def separable_conv2d_param_count(
    filters: int, kernel_size: IntOrPair, channels: int, depth_multiplier: int = 1, *, use_bias: bool = True
) -> int:
    """Parameters of ``SeparableConv2D``: ``K_h·K_w·C·M + C·M·N_f + N_f`` (Keras).

    A depthwise ``K_h × K_w`` convolution (no bias of its own) then a pointwise ``1 × 1``
    convolution to ``N_f`` filters: ``SeparableConv2D(64, 3)`` on 32 channels has
    ``9·32 + 32·64 + 64 = 2,400``, against ``Conv2D(64, 3)``'s 18,496 (MobileNet's saving).

    Args:
        filters: ``N_f``, an int ≥ 1.
        kernel_size: ``K`` or ``(K_h, K_w)``.
        channels: ``C``, the input's channels, an int ≥ 1.
        depth_multiplier: ``M``, an int ≥ 1 (Keras' default 1).
        use_bias: keyword-only; ``False`` drops the ``+ N_f``.

    Raises:
        TypeError / ValueError naming the argument: not an int (or pair), or below 1.
    """
    kh, kw = pair(kernel_size, "kernel_size")
    f = positive_int(filters, "filters")
    c = positive_int(channels, "channels")
    m = positive_int(depth_multiplier, "depth_multiplier")
    return kh * kw * c * m + c * m * f + (f if check_bool(use_bias, "use_bias") else 0)


def batch_norm_param_count(
    channels: int, *, center: bool = True, scale: bool = True, trainable: bool | None = None
) -> int:
    """Parameters of ``BatchNormalization`` over ``channels`` features (Keras: 32 channels → 128, 64 non-trainable).

    Trainable: ``gamma`` (when ``scale``) and ``beta`` (when ``center``), ``C`` each.
    Non-trainable: the moving mean and moving variance, ``C`` each — always there, updated
    by training but not by gradients. Keras' ``count_params()`` and ``summary()``'s total
    count both kinds, as ``trainable=None`` does here.

    Args:
        channels: ``C``, the size of the normalised (last) axis, an int ≥ 1.
        center, scale: keyword-only, Keras' switches for ``beta`` and ``gamma``.
        trainable: keyword-only: ``None`` (default) counts all, ``True`` only the trainable
            ones, ``False`` only the non-trainable ones (as ``layer.count_params(trainable=...)``).

    Raises:
        TypeError / ValueError naming the argument: ``channels`` not an int ≥ 1; a switch
        that is not a bool.
    """
    c = positive_int(channels, "channels")
    learned = c * (check_bool(center, "center") + check_bool(scale, "scale"))
    moving = 2 * c
    if trainable is None:
        return learned + moving
    if not isinstance(trainable, bool):
        raise TypeError(f"trainable must be None, True or False, got {shown(trainable)} ({type(trainable).__name__})")
    return learned if trainable else moving


def dense_param_count(units: int, in_features: int, *, use_bias: bool = True) -> int:
    """Trainable parameters of ``Dense``: ``inputs·units + units`` (slides: 43264·15 + 15 = 648,975).

    Raises:
        TypeError / ValueError naming the argument: not an int, or below 1.
    """
    u = positive_int(units, "units")
    i = positive_int(in_features, "in_features")
    return i * u + (u if use_bias else 0)
