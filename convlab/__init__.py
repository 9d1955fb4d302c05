"""convlab — an educational convolution engine, from first principles.

Every number a Keras ``Conv2D``, ``MaxPooling2D`` and ``Dense`` computes,
step by step, in NumPy loops (the specification), vectorised NumPy and Numba.
Layout is Keras': images ``(N, H, W, C)``, kernels ``(KH, KW, C_in, C_out)``.

The package is built in levels, each importing only from those below it
(the contract is in ``pyproject.toml``, checked by ``lint-imports``)::

    convlab.cli                      the `convlab` command
    convlab.bridge                   the Keras bridge and the VGG wrapper (the only TensorFlow importers)
    convlab.data | convlab.teach     data sets and images | the lesson harness and figures
    convlab.model                    layers, Sequential, optimizers, saving
    convlab.ops                      operations: reference / numpy / numba backends
    convlab.kernels                  compiled Numba kernels
    convlab.shapes                   output sizes, padding, parameter counts
    convlab.util                     argument checks, array views, atomic writes, process settings

This module only re-exports the public names. TensorFlow is never imported by
``import convlab``; the Keras bridge imports it when one of its functions is called.
"""

from convlab import initializers, layers, losses, optimizers
from convlab._version import __version__
from convlab.bridge.keras import UnsupportedLayerError, copy_weights, from_keras, to_keras
from convlab.bridge.keras_compare import KerasComparison, compare_with_keras
from convlab.model.history import History, NonFiniteLossError
from convlab.model.layers import set_seed
from convlab.model.sequential import Sequential, load_model
from convlab.ops.activations import (
    linear_backward,
    relu,
    relu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    tanh,
    tanh_backward,
)
from convlab.ops.batch_norm import BatchNormOutput, batch_norm, batch_norm_backward
from convlab.ops.conv import conv2d, conv2d_backward, convolve2d, correlate2d, im2col
from convlab.ops.conv_transpose import conv2d_transpose, conv2d_transpose_backward
from convlab.ops.dense import dense, dense_backward
from convlab.ops.depthwise import (
    depthwise_conv2d,
    depthwise_conv2d_backward,
    separable_conv2d,
    separable_conv2d_backward,
)
from convlab.ops.global_pooling import (
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_max_pool2d,
    global_max_pool2d_backward,
)
from convlab.ops.gradcheck import GradcheckError, gradcheck, numeric_gradient, rel_error
from convlab.ops.losses import (
    binary_crossentropy,
    categorical_crossentropy,
    mean_squared_error,
    sigmoid_binary_crossentropy,
    softmax_crossentropy,
    sparse_categorical_crossentropy,
)
from convlab.ops.pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from convlab.shapes import (
    batch_norm_param_count,
    conv2d_param_count,
    conv2d_transpose_param_count,
    conv_output_size,
    conv_transpose_output_formula,
    conv_transpose_output_size,
    dense_param_count,
    depthwise_conv2d_param_count,
    output_size_formula,
    pool_output_size,
    resolve_padding,
    separable_conv2d_param_count,
)

__all__ = [
    "__version__",
    # operations, forward
    "conv2d",
    "correlate2d",
    "convolve2d",
    "im2col",
    "conv2d_transpose",
    "depthwise_conv2d",
    "separable_conv2d",
    "max_pool2d",
    "avg_pool2d",
    "global_avg_pool2d",
    "global_max_pool2d",
    "batch_norm",
    "BatchNormOutput",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "dense",
    # operations, backward
    "conv2d_backward",
    "conv2d_transpose_backward",
    "depthwise_conv2d_backward",
    "separable_conv2d_backward",
    "max_pool2d_backward",
    "avg_pool2d_backward",
    "global_avg_pool2d_backward",
    "global_max_pool2d_backward",
    "batch_norm_backward",
    "dense_backward",
    "relu_backward",
    "sigmoid_backward",
    "tanh_backward",
    "softmax_backward",
    "linear_backward",
    # losses and gradient checks
    "losses",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "softmax_crossentropy",
    "sigmoid_binary_crossentropy",
    "gradcheck",
    "numeric_gradient",
    "rel_error",
    "GradcheckError",
    # shape arithmetic
    "conv_output_size",
    "pool_output_size",
    "output_size_formula",
    "conv_transpose_output_size",
    "conv_transpose_output_formula",
    "conv2d_param_count",
    "conv2d_transpose_param_count",
    "depthwise_conv2d_param_count",
    "separable_conv2d_param_count",
    "batch_norm_param_count",
    "dense_param_count",
    "resolve_padding",
    # training
    "layers",
    "initializers",
    "optimizers",
    "datasets",
    "set_seed",
    "Sequential",
    "load_model",
    "History",
    "NonFiniteLossError",
    # the Keras bridge (imports TensorFlow when called)
    "UnsupportedLayerError",
    "to_keras",
    "from_keras",
    "copy_weights",
    "compare_with_keras",
    "KerasComparison",
]


def __getattr__(name):
    # datasets is imported on first use: it pulls in scikit-learn and gzip parsing.
    if name == "datasets":
        import importlib

        return importlib.import_module("convlab.datasets")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
