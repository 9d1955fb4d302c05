"""Layers to JSON-ready dicts and back: ``{"class_name": "Conv2D", "config": {...}}`` (Keras' shape of it)."""

from __future__ import annotations

from typing import Any

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
from convlab.model.layers.input_layer import InputLayer
from convlab.model.layers.pooling import AveragePooling2D, AvgPool2D, MaxPool2D, MaxPooling2D
from convlab.model.layers.validation import as_shape
from convlab.util.checks import shown

__all__ = ["serialize", "deserialize"]

_CLASSES: dict[str, type[Layer]] = {
    c.__name__: c
    for c in (
        InputLayer,
        Conv2D,
        Conv2DTranspose,
        DepthwiseConv2D,
        SeparableConv2D,
        MaxPooling2D,
        AveragePooling2D,
        GlobalAveragePooling2D,
        GlobalMaxPooling2D,
        BatchNormalization,
        Flatten,
        Dense,
        Dropout,
        Activation,
        ReLU,
        Softmax,
    )
}
_CLASSES.update(
    MaxPool2D=MaxPool2D, AvgPool2D=AvgPool2D, GlobalAvgPool2D=GlobalAvgPool2D, GlobalMaxPool2D=GlobalMaxPool2D
)


def serialize(layer: Layer) -> dict[str, Any]:
    """``{"class_name": ..., "config": ...}`` for a layer (JSON-ready, except an initialiser given as a
    function, which stays the function: such a config rebuilds the layer in memory but cannot be saved).

    Raises:
        TypeError: not a convlab layer.
    """
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a convlab layer, got {type(layer).__name__}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec: dict[str, Any]) -> Layer:
    """Rebuild a layer from :func:`serialize`'s dict (new weights: the config holds none).

    Raises:
        ValueError: ``spec`` is not such a dict (a ``class_name`` that is not a known
        layer's name, a ``config`` that is not a dict), or a config the class does not
        accept (an unknown argument, a bad value: the layer's message is included).
    """
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"spec must be a dict with 'class_name' and 'config', got {shown(spec)}")
    name = spec["class_name"]
    cls = _CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown layer class_name {shown(name)}; known: {sorted(_CLASSES)}")
    config = spec.get("config", {})
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise ValueError(f"{name}: config must be a dict of argument names to values, got {shown(config)}")
    config = dict(config)
    try:
        if config.get("input_shape") is not None:
            config["input_shape"] = as_shape(config["input_shape"], "input_shape")
        if cls is InputLayer:
            if "shape" not in config:
                raise ValueError("an InputLayer config needs 'shape'")
            config["shape"] = as_shape(config.pop("shape"), "shape")
            config.pop("input_shape", None)
            config.pop("trainable", None)
        return cls.from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cannot rebuild {name} from config {shown(config)}: {exc}") from exc
