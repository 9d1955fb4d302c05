"""convlab — an educational convolution engine, from first principles.

Every number a Keras ``Conv2D``, ``MaxPooling2D`` and ``Dense`` computes,
step by step, in NumPy loops (the specification), vectorised NumPy and Numba.
Layout is Keras': images ``(N, H, W, C)``, kernels ``(KH, KW, C_in, C_out)``.

TensorFlow is never imported by ``import convlab``.
"""
from .activations import relu, sigmoid, softmax, tanh
from .conv import conv2d, convolve2d, correlate2d, im2col
from .dense import dense
from .pooling import avg_pool2d, max_pool2d
from .shapes import (
    conv2d_param_count,
    conv_output_size,
    dense_param_count,
    output_size_formula,
    pool_output_size,
    resolve_padding,
)

# --- backprop: backward passes, losses, gradcheck (issue 3)
from . import losses
from .activations import (
    linear_backward,
    relu_backward,
    sigmoid_backward,
    softmax_backward,
    tanh_backward,
)
from .conv import conv2d_backward
from .dense import dense_backward
from .gradcheck import GradcheckError, gradcheck, numeric_gradient, rel_error
from .losses import (
    binary_crossentropy,
    categorical_crossentropy,
    mean_squared_error,
    sigmoid_binary_crossentropy,
    softmax_crossentropy,
    sparse_categorical_crossentropy,
)
from .pooling import avg_pool2d_backward, max_pool2d_backward

_BACKPROP_ALL = [  # for the lead: add to __all__ below
    "conv2d_backward", "max_pool2d_backward", "avg_pool2d_backward", "dense_backward",
    "relu_backward", "sigmoid_backward", "tanh_backward", "softmax_backward", "linear_backward",
    "losses",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "mean_squared_error", "softmax_crossentropy", "sigmoid_binary_crossentropy",
    "gradcheck", "numeric_gradient", "rel_error", "GradcheckError",
]
# --- end backprop

# --- model: layers, Sequential, optimizers, datasets (issue 3)
from . import layers, optimizers  # noqa: E402
from .layers import set_seed  # noqa: E402
from .model import History, NonFiniteLossError, Sequential, load_model  # noqa: E402

_MODEL_ALL = [  # for the lead: add to __all__ below
    "layers", "optimizers", "datasets", "set_seed", "Sequential", "load_model", "History", "NonFiniteLossError",
]


def __getattr__(name):  # datasets is imported on first use (scikit-learn, gzip parsing)
    if name == "datasets":
        import importlib

        return importlib.import_module(".datasets", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
# --- end model

# --- keras bridge (issue 4)
# TensorFlow/Keras are imported only when one of these functions is called.
from . import keras_bridge  # noqa: E402
from .keras_bridge import KerasComparison, compare_with_keras, copy_weights, from_keras, to_keras  # noqa: E402

_KERAS_BRIDGE_ALL = [  # for the lead: add to __all__ below
    "keras_bridge", "to_keras", "from_keras", "copy_weights", "compare_with_keras", "KerasComparison",
]
# --- end keras bridge

__version__ = "0.1.0"

__all__ = [
    "conv2d", "correlate2d", "convolve2d", "im2col",
    "max_pool2d", "avg_pool2d",
    "relu", "sigmoid", "tanh", "softmax", "dense",
    "conv_output_size", "pool_output_size", "output_size_formula",
    "conv2d_param_count", "dense_param_count", "resolve_padding",
]
__all__ += _BACKPROP_ALL + _MODEL_ALL + _KERAS_BRIDGE_ALL
