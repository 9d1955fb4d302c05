"""Level 1 — shape arithmetic, no array code.

- :mod:`.sizes`: output sizes ``(N + 2P − D·(K − 1) − 1)/S + 1`` and padding resolution
  (:func:`pair`, :func:`resolve_padding`, :func:`conv_output_size`,
  :func:`pool_output_size`, :func:`output_size_formula`, :func:`effective_kernel_size`);
- :mod:`.transpose`: the transposed convolution's output size ``S·(N − 1) + K − 2P + A``
  as Keras computes it (:func:`conv_transpose_output_size`);
- :mod:`.transpose_formula`: that size as a worked formula (:func:`conv_transpose_output_formula`);
- :mod:`.params`: parameter counts as Keras counts them (:func:`conv2d_param_count`,
  :func:`conv2d_transpose_param_count`, :func:`depthwise_conv2d_param_count`,
  :func:`separable_conv2d_param_count`, :func:`batch_norm_param_count`, :func:`dense_param_count`);
- :mod:`.summary`: the Keras-like summary table (:func:`format_summary`).

Every operation and every helper resolves padding through
:func:`resolve_padding`, so they cannot disagree.
"""

from convlab.shapes.params import (
    batch_norm_param_count,
    conv2d_param_count,
    conv2d_transpose_param_count,
    dense_param_count,
    depthwise_conv2d_param_count,
    separable_conv2d_param_count,
)
from convlab.shapes.sizes import (
    conv_output_size,
    effective_kernel_size,
    output_size_formula,
    pair,
    pool_output_size,
    resolve_padding,
)
from convlab.shapes.summary import format_summary
from convlab.shapes.transpose import conv_transpose_output_size
from convlab.shapes.transpose_formula import conv_transpose_output_formula

__all__ = [
    "pair",
    "resolve_padding",
    "conv_output_size",
    "pool_output_size",
    "output_size_formula",
    "effective_kernel_size",
    "conv_transpose_output_size",
    "conv_transpose_output_formula",
    "conv2d_param_count",
    "conv2d_transpose_param_count",
    "depthwise_conv2d_param_count",
    "separable_conv2d_param_count",
    "batch_norm_param_count",
    "dense_param_count",
    "format_summary",
]
