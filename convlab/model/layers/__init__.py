"""Keras-named layers (``convlab.layers``): parameters, gradients and the forward cache — no maths of their own.

One file per idea:

- :mod:`.base`: :class:`Layer` (name, build, weights, config, the backward contract);
- :mod:`.input_layer`: :func:`Input`; :mod:`.conv`: :class:`Conv2D`;
  :mod:`.conv_transpose`: :class:`Conv2DTranspose`; :mod:`.depthwise`:
  :class:`DepthwiseConv2D`, :class:`SeparableConv2D` (:mod:`.conv_base`: what the
  convolution layers share); :mod:`.pooling`: :class:`MaxPooling2D`, :class:`AveragePooling2D`;
  :mod:`.global_pooling`: :class:`GlobalAveragePooling2D`, :class:`GlobalMaxPooling2D`;
  :mod:`.batch_norm`: :class:`BatchNormalization` (non-trainable weights: ``layer.state``);
  :mod:`.flatten`, :mod:`.dense`, :mod:`.dropout`, :mod:`.activation`: the others;
- :mod:`.keras_arguments`: the one table of Keras arguments (shared with the Keras bridge);
- :mod:`.validation`: checks of convlab's own arguments; :mod:`.naming`: automatic names;
- :mod:`.randomness`: :func:`set_seed`, the generator; :mod:`.initializers`: Keras'
  initialisers by name; :mod:`.weight_init`: a layer's initialiser arguments and its new weights;
- :mod:`.serialization`: :func:`serialize` / :func:`deserialize`.
"""

from convlab.model.layers.activation import Activation, ReLU, Softmax
from convlab.model.layers.base import Layer
from convlab.model.layers.batch_norm import BatchNormalization
from convlab.model.layers.conv import Conv2D
from convlab.model.layers.conv_transpose import Conv2DTranspose
from convlab.model.layers.dense import Dense
from convlab.model.layers.depthwise import DepthwiseConv2D, SeparableConv2D
from convlab.model.layers.dropout import Dropout
from convlab.model.layers.flatten import Flatten
from convlab.model.layers.global_pooling import (
    GlobalAveragePooling2D,
    GlobalAvgPool2D,
    GlobalMaxPool2D,
    GlobalMaxPooling2D,
)
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
    "Conv2DTranspose",
    "DepthwiseConv2D",
    "SeparableConv2D",
    "MaxPooling2D",
    "MaxPool2D",
    "AveragePooling2D",
    "AvgPool2D",
    "GlobalAveragePooling2D",
    "GlobalAvgPool2D",
    "GlobalMaxPooling2D",
    "GlobalMaxPool2D",
    "BatchNormalization",
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
