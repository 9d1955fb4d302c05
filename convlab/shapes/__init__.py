"""Level 1 — shape arithmetic, no array code.

- :mod:`.sizes`: output sizes ``(N + 2P − K)/S + 1`` and padding resolution
  (:func:`pair`, :func:`resolve_padding`, :func:`conv_output_size`,
  :func:`pool_output_size`, :func:`output_size_formula`);
- :mod:`.params`: parameter counts (:func:`conv2d_param_count`, :func:`dense_param_count`);
- :mod:`.summary`: the Keras-like summary table (:func:`format_summary`).

Every operation and every helper resolves padding through
:func:`resolve_padding`, so they cannot disagree.
"""

from convlab.shapes.params import conv2d_param_count, dense_param_count
from convlab.shapes.sizes import conv_output_size, output_size_formula, pair, pool_output_size, resolve_padding
from convlab.shapes.summary import format_summary

__all__ = [
    "pair",
    "resolve_padding",
    "conv_output_size",
    "pool_output_size",
    "output_size_formula",
    "conv2d_param_count",
    "dense_param_count",
    "format_summary",
]
