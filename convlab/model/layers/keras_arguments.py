"""THE table of Keras arguments per layer: what convlab implements, and what it accepts only at Keras' default.

convlab's layers take Keras' arguments by Keras' names, strictly:

- an argument Keras does not have either (a typo such as ``activaton``) is a
  ``TypeError`` worded as Keras words it: ``Unrecognized keyword arguments
  passed to Conv2D: {'activaton': 'relu'}``;
- an argument Keras has and convlab does not implement (``data_format``,
  regularisers, constraints, …) is accepted only with a value that means
  what convlab computes (``data_format="channels_last"``,
  ``kernel_regularizer=None`` …); any other value is an
  :class:`UnsupportedArgumentError` (a ``ValueError``) naming the layer, the
  argument and the value — never silently ignored.

The Keras bridge (:mod:`convlab.bridge.keras`) reads this same table to decide
which Keras layers and settings it can convert, so the two checks cannot
disagree. The table follows Keras 3's signatures (``keras.layers.Conv2D`` …)
and the arguments of the Keras ``Layer`` base class (``name``, ``dtype``,
``trainable``, ``input_shape``, ``input_dim``, ``activity_regularizer``,
``autocast``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from convlab.util.checks import is_int

__all__ = [
    "UnsupportedArgumentError",
    "KerasOnly",
    "LayerArguments",
    "BASE_ARGUMENTS",
    "KERAS_ARGUMENTS",
    "check_keras_arguments",
    "unsupported_arguments",
]


class UnsupportedArgumentError(ValueError):
    """A Keras argument convlab does not implement, given a value other than the one convlab computes with."""


@dataclass(frozen=True)
class KerasOnly:
    """A Keras argument convlab does not implement: only the values meaning what convlab computes are accepted.

    Attributes:
        accepts: ``accepts(value) -> bool``: the value means what convlab does.
        means: what convlab does instead, for the error message.
        initial_only: the argument only chooses initial weights (an initialiser):
            it does not change what a layer with given weights computes, so the
            Keras bridge, which copies the weights, need not check it.
    """

    accepts: Callable[[Any], bool]
    means: str
    initial_only: bool = False


@dataclass(frozen=True)
class LayerArguments:
    """One layer's Keras arguments.

    Attributes:
        settings: arguments convlab implements that define what the layer computes
            (the Keras bridge carries them over and compares them in ``copy_weights``).
        extra: arguments convlab implements that do not change the function (Dropout's ``seed``).
        keras_only: arguments convlab does not implement, with the values it accepts.
    """

    settings: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    keras_only: Mapping[str, KerasOnly] = field(default_factory=dict)

    def names(self) -> set[str]:
        """Every Keras argument name of this layer (its own and the base ``Layer``'s)."""
        return set(self.settings) | set(self.extra) | set(self.keras_only) | set(BASE_ARGUMENTS)


# --------------------------------------------------------------------------- accepted values
def _is_none(v: Any) -> bool:
    return v is None


def _is_number(v: Any, target: float) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == target


def _channels_last(v: Any) -> bool:
    return v is None or (isinstance(v, str) and v.lower() == "channels_last")


def _last_axis(v: Any) -> bool:
    return (is_int(v) and v == -1) or (isinstance(v, (tuple, list)) and len(v) == 1 and is_int(v[0]) and v[0] == -1)


_NONE = KerasOnly(_is_none, "convlab has no such option: only None")
_NHWC = KerasOnly(_channels_last, "convlab is NHWC: only 'channels_last' or None")
_REGULARIZERS = {
    k: KerasOnly(_is_none, "convlab has no regularisers: only None") for k in ("kernel_regularizer", "bias_regularizer")
}
_CONSTRAINTS = {
    k: KerasOnly(_is_none, "convlab has no weight constraints: only None")
    for k in ("kernel_constraint", "bias_constraint")
}
_DEPTHWISE_REGULARIZERS = {
    k: KerasOnly(_is_none, "convlab has no regularisers: only None")
    for k in ("depthwise_regularizer", "pointwise_regularizer")
}
_DEPTHWISE_CONSTRAINTS = {
    k: KerasOnly(_is_none, "convlab has no weight constraints: only None")
    for k in ("depthwise_constraint", "pointwise_constraint")
}
_LORA = {"lora_rank": _NONE, "lora_alpha": _NONE}

#: Arguments of Keras' ``Layer`` base class, on every layer. ``name``, ``dtype``,
#: ``trainable`` and ``input_shape`` are implemented by :class:`convlab.layers.Layer`.
BASE_ARGUMENTS: dict[str, KerasOnly | None] = {
    "name": None,
    "dtype": None,
    "trainable": None,
    "input_shape": None,
    "input_dim": KerasOnly(_is_none, "give input_shape=(input_dim,) instead: only None"),
    "activity_regularizer": KerasOnly(_is_none, "convlab has no regularisers: only None"),
    "autocast": KerasOnly(lambda v: v is True, "convlab always casts inputs to the layer's dtype: only True"),
}

_POOLING = LayerArguments(settings=("pool_size", "strides", "padding"), keras_only={"data_format": _NHWC})
_GLOBAL_POOLING = LayerArguments(settings=("keepdims",), keras_only={"data_format": _NHWC})
#: Initialisers choose the first weights only: convlab implements them, and they do not change
#: what a layer with given weights computes (the Keras bridge copies weights, so it need not compare them).
_KERNEL_INITIALIZERS = ("kernel_initializer", "bias_initializer")

#: Per convlab layer class name: its Keras arguments (Keras 3 signatures).
KERAS_ARGUMENTS: dict[str, LayerArguments] = {
    "Conv2D": LayerArguments(
        settings=("filters", "kernel_size", "strides", "padding", "dilation_rate", "groups", "activation", "use_bias"),
        extra=_KERNEL_INITIALIZERS,
        keras_only={"data_format": _NHWC, **_REGULARIZERS, **_CONSTRAINTS, **_LORA},
    ),
    "Conv2DTranspose": LayerArguments(
        settings=(
            "filters",
            "kernel_size",
            "strides",
            "padding",
            "output_padding",
            "dilation_rate",
            "activation",
            "use_bias",
        ),
        extra=_KERNEL_INITIALIZERS,
        keras_only={"data_format": _NHWC, **_REGULARIZERS, **_CONSTRAINTS},
    ),
    "DepthwiseConv2D": LayerArguments(
        settings=("kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate", "activation", "use_bias"),
        extra=("depthwise_initializer", "bias_initializer"),
        keras_only={
            "data_format": _NHWC,
            "depthwise_regularizer": _REGULARIZERS["kernel_regularizer"],
            "bias_regularizer": _REGULARIZERS["bias_regularizer"],
            "depthwise_constraint": _CONSTRAINTS["kernel_constraint"],
            "bias_constraint": _CONSTRAINTS["bias_constraint"],
        },
    ),
    "SeparableConv2D": LayerArguments(
        settings=(
            "filters",
            "kernel_size",
            "strides",
            "padding",
            "depth_multiplier",
            "dilation_rate",
            "activation",
            "use_bias",
        ),
        extra=("depthwise_initializer", "pointwise_initializer", "bias_initializer"),
        keras_only={
            "data_format": _NHWC,
            **_DEPTHWISE_REGULARIZERS,
            "bias_regularizer": _REGULARIZERS["bias_regularizer"],
            **_DEPTHWISE_CONSTRAINTS,
            "bias_constraint": _CONSTRAINTS["bias_constraint"],
        },
    ),
    "MaxPooling2D": _POOLING,
    "AveragePooling2D": _POOLING,
    "GlobalAveragePooling2D": _GLOBAL_POOLING,
    "GlobalMaxPooling2D": _GLOBAL_POOLING,
    "BatchNormalization": LayerArguments(
        settings=("momentum", "epsilon", "center", "scale"),
        extra=("beta_initializer", "gamma_initializer", "moving_mean_initializer", "moving_variance_initializer"),
        keras_only={
            # convlab's BatchNormalization takes axis itself and checks it with this same rule.
            "axis": KerasOnly(_last_axis, "convlab normalises the channels, the last axis: only -1"),
            **{
                k: KerasOnly(_is_none, "convlab has no regularisers: only None")
                for k in ("beta_regularizer", "gamma_regularizer")
            },
            **{
                k: KerasOnly(_is_none, "convlab has no weight constraints: only None")
                for k in ("beta_constraint", "gamma_constraint")
            },
            "renorm": KerasOnly(lambda v: v is False, "convlab has no batch renormalisation: only False"),
            "renorm_clipping": KerasOnly(_is_none, "convlab has no batch renormalisation: only None"),
            # Only read when renorm=True, which is refused: any number means the same.
            "renorm_momentum": KerasOnly(
                lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
                "a number (unused without renorm)",
            ),
            "synchronized": KerasOnly(
                lambda v: v is False, "convlab computes on one device, statistics of the batch given: only False"
            ),
        },
    ),
    "Flatten": LayerArguments(keras_only={"data_format": _NHWC}),
    "Dense": LayerArguments(
        settings=("units", "activation", "use_bias"),
        extra=_KERNEL_INITIALIZERS,
        keras_only={**_REGULARIZERS, **_CONSTRAINTS, **_LORA, "quantization_config": _NONE},
    ),
    "Dropout": LayerArguments(settings=("rate",), extra=("seed",), keras_only={"noise_shape": _NONE}),
    "Activation": LayerArguments(settings=("activation",)),
    "ReLU": LayerArguments(
        keras_only={
            "max_value": KerasOnly(_is_none, "convlab's ReLU is max(x, 0): only None"),
            "negative_slope": KerasOnly(lambda v: _is_number(v, 0), "convlab's ReLU is max(x, 0): only 0"),
            "threshold": KerasOnly(lambda v: _is_number(v, 0), "convlab's ReLU is max(x, 0): only 0"),
        }
    ),
    "Softmax": LayerArguments(
        keras_only={
            "axis": KerasOnly(_last_axis, "convlab's softmax is over the last axis: only -1"),
        }
    ),
}


# --------------------------------------------------------------------------- the checks
def unsupported_arguments(
    layer_class: str, arguments: Mapping[str, Any], *, initial_only: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """What in ``arguments`` (Keras-only arguments and their values) convlab cannot honour.

    Args:
        layer_class: a key of :data:`KERAS_ARGUMENTS` (``"Conv2D"`` …).
        arguments: argument name → value; convlab's own arguments may be included
            (they are not judged here: the layer validates their values).
        initial_only: also judge initialisers (``False`` in the Keras bridge, which copies weights).

    Returns:
        ``(unknown, refused)``: the arguments Keras' layer does not have either
        (name → value), and one message per Keras-only argument with a value
        convlab does not implement (``"data_format='channels_first' is not
        supported by convlab (convlab is NHWC: …)"``).
    """
    table = KERAS_ARGUMENTS[layer_class]
    known = table.names()
    unknown = {k: v for k, v in arguments.items() if k not in known}
    refused = []
    for key, value in arguments.items():
        rule = table.keras_only.get(key) or BASE_ARGUMENTS.get(key)
        if rule is None or (rule.initial_only and not initial_only):
            continue
        if not rule.accepts(value):
            refused.append(f"{key}={value!r} is not supported by convlab ({rule.means})")
    return unknown, refused


def check_keras_arguments(layer_class: str, arguments: Mapping[str, Any], *, who: str) -> None:
    """Raise unless every argument in ``arguments`` is a Keras argument convlab honours with this value.

    Args:
        layer_class: a key of :data:`KERAS_ARGUMENTS`.
        arguments: the keyword arguments the layer's constructor did not take itself.
        who: the class name for messages (``type(layer).__name__``).

    Raises:
        TypeError: arguments the Keras layer does not have either, as Keras words it:
            ``Unrecognized keyword arguments passed to Conv2D: {'activaton': 'relu'}``.
        UnsupportedArgumentError: a Keras argument with a value convlab does not implement,
            naming the layer, the argument and the value.
    """
    unknown, refused = unsupported_arguments(layer_class, arguments)
    if unknown:
        raise TypeError(f"Unrecognized keyword arguments passed to {who}: {unknown}")
    if refused:
        raise UnsupportedArgumentError(f"{who}: {'; '.join(refused)}")
