"""Pieces the layer tests share (``test_layers.py``, ``test_layers_new.py``).

- :data:`EVERY_LAYER`: a small instance of every layer class, by its Keras name;
- :func:`layer_gradcheck`: gradcheck of a float64 layer's backward, in ``x`` and each trainable weight.

Tests import these names (``from layer_helpers import ...``): pytest puts ``tests/`` on ``sys.path`` (no
``__init__.py`` there, "prepend" import mode), as for ``strategies.py``.
"""

from convlab.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Conv2DTranspose,
    Dense,
    DepthwiseConv2D,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
    ReLU,
    SeparableConv2D,
    Softmax,
)
from convlab.ops.gradcheck import gradcheck

#: Keras class name → ``make(**keyword_arguments)``, a layer of that class with its required arguments filled.
EVERY_LAYER = {
    "Conv2D": lambda **kw: Conv2D(2, 3, **kw),
    "MaxPooling2D": lambda **kw: MaxPooling2D(2, **kw),
    "AveragePooling2D": lambda **kw: AveragePooling2D(2, **kw),
    "Flatten": lambda **kw: Flatten(**kw),
    "Dense": lambda **kw: Dense(3, **kw),
    "Dropout": lambda **kw: Dropout(0.5, **kw),
    "Activation": lambda **kw: Activation("relu", **kw),
    "ReLU": lambda **kw: ReLU(**kw),
    "Softmax": lambda **kw: Softmax(**kw),
    "Conv2DTranspose": lambda **kw: Conv2DTranspose(2, 3, **kw),
    "DepthwiseConv2D": lambda **kw: DepthwiseConv2D(3, **kw),
    "SeparableConv2D": lambda **kw: SeparableConv2D(2, 3, **kw),
    "GlobalAveragePooling2D": lambda **kw: GlobalAveragePooling2D(**kw),
    "GlobalMaxPooling2D": lambda **kw: GlobalMaxPooling2D(**kw),
    "BatchNormalization": lambda **kw: BatchNormalization(**kw),
}


def layer_gradcheck(layer, x, tol=1e-6):
    """gradcheck d(Σ y·dy)/d(x, each trainable weight) of a float64 layer in training mode.

    The numpy backend avoids compiling float64 Numba kernels; the backends are checked against each other in the
    operations' own tests, and the float32 numba path through these layers in test_model.py (Keras parity).
    """
    layer.backend = "numpy"
    layer.forward(x)  # build
    names = list(layer.params)

    def fwd(x, **p):
        for k, v in p.items():
            layer.params[k][...] = v
        return layer.forward(x, training=True)

    def bwd(dy, x, **p):
        fwd(x, **p)
        dx = layer.backward(dy)
        return [dx] + [layer.grads[k] for k in names]

    inputs = {"x": x, **{k: layer.params[k].copy() for k in names}}
    return gradcheck(fwd, bwd, inputs, wrt=["x"] + names, tol=tol)
