"""Keras-named layers (``convlab.layers``): parameters, gradients and the forward cache — no maths of their own.

One file per idea:

- :mod:`.base`: :class:`Layer` (name, build, weights, config, the backward contract);
- :mod:`.input_layer`: :func:`Input`; :mod:`.conv`: :class:`Conv2D`;
  :mod:`.pooling`: :class:`MaxPooling2D`, :class:`AveragePooling2D`;
  :mod:`.flatten`, :mod:`.dense`, :mod:`.dropout`, :mod:`.activation`: the others;
- :mod:`.keras_arguments`: the one table of Keras arguments (shared with the Keras bridge);
- :mod:`.validation`: checks of convlab's own arguments; :mod:`.naming`: automatic names;
- :mod:`.randomness`: :func:`set_seed`, the generator, Glorot initialisation;
- :mod:`.serialization`: :func:`serialize` / :func:`deserialize`.
"""

from convlab.model.layers.activation import Activation, ReLU, Softmax
from convlab.model.layers.base import Layer
from convlab.model.layers.conv import Conv2D
from convlab.model.layers.dense import Dense
from convlab.model.layers.dropout import Dropout
from convlab.model.layers.flatten import Flatten
from convlab.model.layers.input_layer import Input, InputLayer
from convlab.model.layers.keras_arguments import UnsupportedArgumentError
from convlab.model.layers.naming import reset_names
from convlab.model.layers.pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D
from convlab.model.layers.randomness import get_rng, set_seed
from convlab.model.layers.serialization import deserialize, serialize

__all__ = [
    "Layer",
    "InputLayer",
    "Input",
    "Conv2D",
    "MaxPooling2D",
    "MaxPool2D",
    "AveragePooling2D",
    "AvgPool2D",
    "Flatten",
    "Dense",
    "Dropout",
    "Activation",
    "ReLU",
    "Softmax",
    "set_seed",
    "get_rng",
    "reset_names",
    "serialize",
    "deserialize",
    "UnsupportedArgumentError",
]
