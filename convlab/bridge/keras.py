"""The Keras bridge: the same network in convlab and in Keras 3, with its weights, both ways.

convlab promises a learner "these are exactly the numbers Keras computes".
This module converts one into the other in one call::

    keras_model = convlab.to_keras(model)          # or model.to_keras(): a keras.Sequential
    model2 = convlab.from_keras(keras_model)       # back to convlab, weights bit for bit
    convlab.copy_weights(keras_model, model)       # into an existing model (checked first)

The parity report (:func:`convlab.compare_with_keras`) is in :mod:`convlab.bridge.keras_compare`.

What is carried over, both ways: the layers in order with their Keras names,
their configuration (``filters``, ``kernel_size``, ``strides``, ``padding``,
``dilation_rate``, ``groups``, ``output_padding``, ``depth_multiplier``,
``activation``, ``use_bias``, ``pool_size``, ``keepdims``, ``rate``,
``momentum``, ``epsilon``, ``center``, ``scale``), the initialiser names
(``kernel_initializer``, ``depthwise_initializer``, ``gamma_initializer`` …),
``trainable``, the dtype (float32/float64), the input shape, every weight —
trainable and not: BatchNormalization's ``moving_mean`` and
``moving_variance`` too — (copied exactly: no value changes, so a round trip
is bit-for-bit) and, when the source model is compiled, the optimizer's
settings (a fresh optimizer: its step counter and moments are not copied), the
loss and the metrics.

Layers both sides have: ``Conv2D`` (with ``dilation_rate`` and ``groups``),
``Conv2DTranspose``, ``DepthwiseConv2D``, ``SeparableConv2D``,
``MaxPooling2D``, ``AveragePooling2D``, ``GlobalAveragePooling2D``,
``GlobalMaxPooling2D``, ``BatchNormalization``, ``Flatten``, ``Dense``,
``Dropout``, ``Activation``, ``ReLU``, ``Softmax``, with activations ``relu``,
``sigmoid``, ``tanh``, ``softmax``, ``linear``. Anything else — a Keras layer
convlab lacks (``LayerNormalization``…), or an option convlab lacks
(``data_format="channels_first"``, a BatchNormalization ``axis`` other than the
channels, ``renorm``, regularisers, constraints) — raises
:class:`UnsupportedLayerError` (a ``ValueError``) naming the layer and the
setting, before anything is created or changed. So does, in :func:`to_keras`,
what convlab computes and Keras cannot: an integer ``padding`` (Keras' layers
take only ``"valid"``/``"same"``), ``strides`` > 1 together with
``dilation_rate`` > 1 in ``Conv2D``/``Conv2DTranspose`` (Keras refuses it),
unequal strides in ``DepthwiseConv2D``/``SeparableConv2D`` (TensorFlow's
depthwise kernel computes only equal ones).

Initialisers only choose the first weights, which the bridge copies; they are
carried by name (``"he_normal"``) or, with arguments, as Keras' config
(``RandomNormal(stddev=0.02)`` ⇄ ``{"class_name": "RandomNormal", "config":
{"mean": 0.0, "stddev": 0.02}}``). A seed is dropped (convlab draws from one
generator); a Keras initialiser convlab lacks (``Orthogonal`` …) becomes the
convlab layer's default, and a convlab function initialiser Keras' default.
Nothing a converted model computes depends on them.

Which Keras arguments convlab honours, and with which values, is one table
shared with the layers' own checks:
:data:`convlab.model.layers.keras_arguments.KERAS_ARGUMENTS`.

TensorFlow stays optional: this module imports ``keras`` only inside its
functions (:func:`convlab.bridge.optional.import_keras`), and raises
``ImportError`` with the install command when it is missing
(``pip install -e ".[keras]"``). It needs Keras 3 on the
TensorFlow backend (``KERAS_BACKEND`` unset or ``tensorflow``).

Sources: Keras 3 ``keras.layers`` configs (``get_config``), ``Layer.get_weights``
/ ``set_weights`` (weights in Keras' order, as convlab's: kernel, bias;
depthwise_kernel, pointwise_kernel, bias; gamma, beta, moving_mean,
moving_variance), and ``tf.GradientTape`` for Keras' gradients.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from convlab.bridge.optional import import_keras
from convlab.model import layers as convlab_layers
from convlab.model import optimizers
from convlab.model.layers import initializers
from convlab.model.layers.keras_arguments import KERAS_ARGUMENTS, unsupported_arguments
from convlab.model.layers.randomness import get_rng
from convlab.model.layers.validation import check_activation
from convlab.model.sequential import Sequential

__all__ = [
    "to_keras",
    "from_keras",
    "copy_weights",
    "UnsupportedLayerError",
    "SUPPORTED_LAYERS",
    # used by the parity report (keras_compare.py)
    "import_keras_tf",
    "is_convlab",
    "require_convlab_built",
    "model_specs",
    "check_compatible",
]

#: Layer classes both convlab and Keras have (Keras' ``MaxPool2D``/``AvgPool2D`` are aliases):
#: the rows of :data:`convlab.model.layers.keras_arguments.KERAS_ARGUMENTS`.
SUPPORTED_LAYERS = tuple(KERAS_ARGUMENTS)
_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy", "mean_squared_error")
_WHO = "the Keras bridge"


class UnsupportedLayerError(ValueError):
    """A layer, or a layer setting, that only one of convlab and Keras has (the message names the layer)."""


def import_keras_tf() -> Any:
    """Keras 3 on TensorFlow, or ``ImportError`` with the install command."""
    return import_keras(_WHO)


def is_convlab(model: Any) -> bool:
    """True for a convlab ``Sequential``."""
    return isinstance(model, Sequential)


def _what(model: Any) -> str:
    return f"{'convlab' if is_convlab(model) else 'Keras'} model {getattr(model, 'name', '?')!r}"


# --------------------------------------------------------------------------- neutral layer specs
# A spec is a plain dict: {"class": "Conv2D", "name": ..., "trainable": ..., "dtype": "float32", **arguments}
# with the arguments of KERAS_ARGUMENTS[class] that convlab implements (settings and extra), each in one
# canonical form (_canonical). Both directions go through it, so convlab → Keras and Keras → convlab cannot
# disagree.
def _arguments(kind: str) -> tuple[str, ...]:
    table = KERAS_ARGUMENTS[kind]
    return table.settings + table.extra


def _is_initializer(key: str) -> bool:
    return key.endswith("_initializer")


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)  # type: ignore[return-value]
    return (int(value), int(value))


#: The canonical form of each argument's value (Keras writes pairs as tuples, convlab may keep lists…).
_CANONICAL: dict[str, Callable[[Any], Any]] = {
    "kernel_size": _pair,
    "pool_size": _pair,
    "dilation_rate": _pair,
    "output_padding": lambda v: None if v is None else _pair(v),
    "filters": int,
    "units": int,
    "groups": int,
    "depth_multiplier": int,
    "use_bias": bool,
    "center": bool,
    "scale": bool,
    "keepdims": bool,
    "rate": float,
    "momentum": float,
    "epsilon": float,
}


def _snake(name: str) -> str:
    """Keras' class name of an initialiser as its snake-case name: ``"GlorotUniform"`` → ``"glorot_uniform"``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _initializer_spec(value: Any) -> str | dict[str, Any] | None:
    """A convlab initialiser argument in the spec's form: a name, a Keras config dict, or ``None`` (a function).

    A layer keeps a Keras name (``"glorot_uniform"``), a Keras config dict (``{"class_name":
    "RandomNormal", "config": {"stddev": 0.02, ...}}``) or the user's function, which Keras
    cannot take: ``None``, so the Keras layer uses its default.
    """
    if isinstance(value, str):
        name = _snake(value)
        return name if name in initializers.NAMES else value
    if isinstance(value, Mapping):
        return {"class_name": value["class_name"], "config": dict(value.get("config") or {})}
    return None


def _keras_initializer_spec(value: Any, keras: Any) -> str | dict[str, Any] | None:
    """A Keras initialiser (a name, a serialised config or an object) in the spec's form, or ``None``.

    A convlab name when the class has one and Keras' default arguments, else ``{"class_name",
    "config"}`` when convlab has the class and takes those arguments (a seed only chooses the draw and
    is dropped; so are Keras' ``input_axes``/``output_axes`` when ``None``: the usual fans); ``None``
    when convlab has no such initialiser (``Orthogonal`` …): the convlab layer uses its default.
    """
    if value is None:
        return None
    try:
        obj = keras.initializers.get(value)
    except (ValueError, TypeError, KeyError):
        return None

    def arguments(config: dict[str, Any]) -> dict[str, Any]:
        return {
            k: v for k, v in config.items() if k != "seed" and not (k in ("input_axes", "output_axes") and v is None)
        }

    cls = type(obj).__name__
    config = arguments(obj.get_config())
    try:
        default = arguments(type(obj)().get_config())
    except (TypeError, ValueError, KeyError):
        default = None
    if _snake(cls) in initializers.NAMES and config == default:
        return _snake(cls)
    try:
        initializers.get({"class_name": cls, "config": config})
    except (ValueError, TypeError):
        return None
    return {"class_name": cls, "config": config}


def _keras_initializer(value: str | dict[str, Any], keras: Any) -> Any:
    """The Keras initialiser object of a spec's initialiser, or ``None`` if Keras cannot make it."""
    try:
        return keras.initializers.get(value)
    except (ValueError, TypeError, KeyError):
        return None


def _canonical(key: str, value: Any, cfg: dict[str, Any]) -> Any:
    """``value`` of argument ``key`` in the spec's form (``cfg``: the layer's other arguments, for ``strides``)."""
    if key == "strides":
        return _pair(cfg["pool_size"] if value is None else value)
    return _CANONICAL.get(key, lambda v: v)(value)


def _spec_from_convlab(layer: convlab_layers.Layer) -> dict[str, Any]:
    cls = type(layer).__name__
    if cls not in KERAS_ARGUMENTS or type(layer) is not getattr(convlab_layers, cls, None):
        raise UnsupportedLayerError(
            f"convlab layer {layer.name!r} ({cls}) has no Keras counterpart in the bridge; "
            f"supported: {', '.join(SUPPORTED_LAYERS)}"
        )
    spec = {"class": cls, "name": layer.name, "trainable": bool(layer.trainable), "dtype": layer.dtype.name}
    if "padding" in _arguments(cls) and layer.padding not in ("valid", "same"):
        raise UnsupportedLayerError(
            f"convlab layer {layer.name!r} ({cls}): padding={layer.padding!r} has no Keras {cls} equivalent "
            "(Keras accepts 'valid' or 'same'; put explicit pads in a keras.layers.ZeroPadding2D instead)"
        )
    values = {key: getattr(layer, key) for key in _arguments(cls)}
    for key, value in values.items():
        if _is_initializer(key):
            spec[key] = _initializer_spec(value)
        elif key in ("padding", "activation", "seed"):
            spec[key] = value
        else:
            spec[key] = _canonical(key, value, values)
    return spec


def _keras_axis(layer: Any, cfg: dict[str, Any]) -> None:
    """A BatchNormalization ``axis`` naming the last axis by its index (``3`` on 4-D inputs) is ``-1``."""
    axis = cfg.get("axis")
    try:
        rank = len(layer.input.shape)
    except (AttributeError, ValueError):
        return
    if isinstance(axis, int) and not isinstance(axis, bool) and axis == rank - 1:
        cfg["axis"] = -1


def _spec_from_keras(layer: Any, keras: Any) -> dict[str, Any]:
    cls = type(layer).__name__
    where = f"Keras layer {layer.name!r} ({cls})"
    kind = {getattr(keras.layers, k): k for k in SUPPORTED_LAYERS}.get(type(layer))
    if kind is None:
        raise UnsupportedLayerError(
            f"{where} is not supported by convlab; supported layers: {', '.join(SUPPORTED_LAYERS)}"
        )

    def refuse(setting: str) -> None:
        raise UnsupportedLayerError(f"{where}: {setting} is not supported by convlab")

    policy = getattr(getattr(layer, "dtype_policy", None), "name", "float32")
    if policy not in ("float32", "float64"):
        refuse(f"dtype policy {policy!r} (convlab computes in float32 or float64)")
    cfg = {k: v for k, v in layer.get_config().items() if k not in ("name", "trainable", "dtype")}
    if getattr(layer, "activity_regularizer", None) is not None:  # not in every layer's config
        cfg.setdefault("activity_regularizer", layer.activity_regularizer)
    if kind == "BatchNormalization":
        _keras_axis(layer, cfg)
    unknown, refused = unsupported_arguments(kind, cfg, initial_only=False)
    if unknown:
        refuse(", ".join(f"{k}={v!r}" for k, v in unknown.items()))
    if refused:
        raise UnsupportedLayerError(f"{where}: {'; '.join(refused)}")

    spec = {"class": kind, "name": layer.name, "trainable": bool(layer.trainable), "dtype": policy}
    for key in _arguments(kind):
        value = cfg.get(key)
        if key == "activation":
            try:
                value = check_activation(value)
            except (TypeError, ValueError) as exc:
                refuse(f"activation={value!r} ({exc})")
        elif key == "padding":
            value = str(value).lower()
            if value not in ("valid", "same"):
                refuse(f"padding={cfg['padding']!r}")
        elif _is_initializer(key):
            value = _keras_initializer_spec(value, keras)
        elif key != "seed":
            value = _canonical(key, value, cfg)
        spec[key] = value
    return spec


def _layer_arguments(spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(class name, constructor keywords)`` of a spec: the same keywords build the convlab and the Keras layer.

    An initialiser without a name on the other side (``None`` in the spec) is left out: that side's default.
    """
    s = {k: v for k, v in spec.items() if not (_is_initializer(k) and v is None)}
    kind = s.pop("class")
    return kind, s


def _convlab_layer(spec: dict[str, Any]) -> convlab_layers.Layer:
    kind, kwargs = _layer_arguments(spec)
    return getattr(convlab_layers, kind)(**kwargs)


def _keras_layer(spec: dict[str, Any], keras: Any) -> Any:
    kind, kwargs = _layer_arguments(spec)
    where = f"convlab layer {_layer_title(spec)}"
    strides, dilation = kwargs.get("strides", (1, 1)), kwargs.get("dilation_rate", (1, 1))
    if kind in ("Conv2D", "Conv2DTranspose") and max(strides) > 1 and max(dilation) > 1:
        raise UnsupportedLayerError(
            f"{where}: strides={strides} with dilation_rate={dilation} has no Keras equivalent "
            f"(Keras' {kind} refuses strides > 1 together with dilation_rate > 1)"
        )
    if kind == "Conv2DTranspose" and kwargs.get("padding") == "same" and kwargs.get("output_padding") is not None:
        # Keras sizes the output as S·(N − 1) + K_eff − 2·(K_eff // 2) + A; TensorFlow's "same" convolution of
        # that size gives back N only when K_eff is odd or A ≥ 1, and otherwise refuses to run the layer.
        k_eff = [d * (k - 1) + 1 for k, d in zip(kwargs["kernel_size"], dilation)]
        if any(k % 2 == 0 and a == 0 for k, a in zip(k_eff, kwargs["output_padding"])):
            raise UnsupportedLayerError(
                f"{where}: padding='same' with output_padding={kwargs['output_padding']} and an even (effective) "
                f"kernel {tuple(k_eff)} on an axis whose output padding is 0 cannot run on Keras' TensorFlow "
                "backend (the output size Keras computes is not one TensorFlow's 'same' rule maps back to the input)"
            )
    if kind in ("DepthwiseConv2D", "SeparableConv2D") and strides[0] != strides[1]:
        raise UnsupportedLayerError(
            f"{where}: strides={strides} has no Keras equivalent (TensorFlow's depthwise convolution "
            "computes only equal strides in height and width)"
        )
    for key in [k for k in kwargs if _is_initializer(k)]:
        kwargs[key] = _keras_initializer(kwargs[key], keras)
        if kwargs[key] is None:
            del kwargs[key]
    try:
        return getattr(keras.layers, kind)(**kwargs)
    except ValueError as exc:  # any other setting Keras' constructor refuses
        raise UnsupportedLayerError(f"{where}: Keras refuses its settings: {exc}") from None


def _weight_names(spec: dict[str, Any]) -> list[str]:
    """The names of a layer's weights in Keras' ``get_weights`` order, from its spec."""
    kind = spec["class"]
    bias = ["bias"] if spec.get("use_bias") else []
    if kind == "SeparableConv2D":
        return ["depthwise_kernel", "pointwise_kernel", *bias]
    if kind == "BatchNormalization":
        return ["gamma"] * spec["scale"] + ["beta"] * spec["center"] + ["moving_mean", "moving_variance"]
    if kind in ("Conv2D", "Conv2DTranspose", "DepthwiseConv2D", "Dense"):
        return ["kernel", *bias]
    return []


# --------------------------------------------------------------------------- model-level helpers
def require_convlab_built(model: Any, what: str) -> None:
    """Raise unless ``model`` is a built convlab ``Sequential`` (TypeError / ValueError naming it)."""
    if not is_convlab(model):
        raise TypeError(f"model must be a convlab.Sequential, got {type(model).__name__}")
    if not model.built:
        raise ValueError(
            f"convlab model {model.name!r} is not built: give it an input shape (Input(...), "
            f"input_shape=..., model.build(...)) before {what}"
        )


def _require_keras_built(keras_model: Any, keras: Any, what: str) -> tuple:
    if not isinstance(keras_model, keras.Sequential):
        raise TypeError(
            f"keras_model must be a keras.Sequential (the bridge maps a linear stack of layers), "
            f"got {type(keras_model).__name__}"
        )
    try:
        shape = tuple(keras_model.input_shape)
    except (AttributeError, ValueError):
        shape = None
    if not keras_model.built or shape is None or None in shape[1:]:
        raise ValueError(
            f"Keras model {keras_model.name!r} is not built: give it keras.Input(shape) or call "
            f"build((None, ...)) before {what}"
        )
    if not keras_model.layers:
        raise ValueError(f"Keras model {keras_model.name!r} has no layers")
    return shape


def model_specs(
    model: Any, what: str, arg: str = "model"
) -> tuple[list[dict], list[list[np.ndarray]], list[tuple], tuple]:
    """``(specs, weights, output shapes, input shape)`` of a built convlab or Keras model, one entry per layer.

    ``what`` is the calling function (``"copy_weights()"``) and ``arg`` the argument
    ``model`` was passed as (``"source"``), both named in the messages.

    Raises:
        TypeError / ValueError: not such a model, or not built; UnsupportedLayerError: a layer the bridge cannot map.
    """
    if is_convlab(model):
        require_convlab_built(model, what)
        layers = model.layers
        return (
            [_spec_from_convlab(l) for l in layers],
            [l.get_weights() for l in layers],
            [tuple(l.output_shape) for l in layers],
            tuple(model.input_shape),
        )
    keras = import_keras_tf()
    if not isinstance(model, keras.Model):
        raise TypeError(f"{what}: {arg} must be a convlab.Sequential or a keras.Sequential, got {type(model).__name__}")
    shape = _require_keras_built(model, keras, what)
    layers = model.layers
    return (
        [_spec_from_keras(l, keras) for l in layers],
        [l.get_weights() for l in layers],
        [tuple(l.output.shape) for l in layers],
        shape,
    )


def _layer_title(spec: dict[str, Any]) -> str:
    return f"{spec['name']!r} ({spec['class']})"


def check_compatible(src: tuple, dst: tuple, src_model: Any, dst_model: Any, *, check_input: bool = False) -> None:
    """Raise ValueError naming the first layer where two models differ (type, settings or weight shapes).

    ``src`` and ``dst`` are :func:`model_specs` of ``src_model`` and ``dst_model``. The settings are
    the arguments that change what a layer computes; initialisers, names and ``Dropout``'s seed may differ.
    """
    s_specs, s_weights, _, s_in = src
    d_specs, d_weights, _, d_in = dst
    a, b = _what(src_model), _what(dst_model)
    if check_input and s_in[1:] != d_in[1:]:
        raise ValueError(f"input shapes differ: {a} takes {s_in}, {b} takes {d_in}")
    if len(s_specs) != len(d_specs):
        raise ValueError(
            f"{a} has {len(s_specs)} layers ({', '.join(s['name'] for s in s_specs)}), "
            f"{b} has {len(d_specs)} ({', '.join(s['name'] for s in d_specs)})"
        )
    for i, (s, d, sw, dw) in enumerate(zip(s_specs, d_specs, s_weights, d_weights)):
        where = f"layer {i}: {a} {_layer_title(s)} vs {b} {_layer_title(d)}"
        if s["class"] != d["class"]:
            raise ValueError(f"{where}: different layer types")
        for key in KERAS_ARGUMENTS[s["class"]].settings:
            if s[key] != d[key]:
                raise ValueError(f"{where}: {key} differs ({s[key]!r} vs {d[key]!r})")
        if len(sw) != len(dw):
            raise ValueError(f"{where}: {len(sw)} vs {len(dw)} weight arrays")
        for name, x, y in zip(_weight_names(s), sw, dw):
            if x.shape != y.shape:
                raise ValueError(f"{where}: incompatible shapes, {name} {x.shape} vs {y.shape}")


@contextlib.contextmanager
def _convlab_rng_untouched() -> Iterator[None]:
    """Building convlab layers draws Glorot weights that are overwritten at once; keep the generator's state."""
    bitgen = get_rng().bit_generator
    state = bitgen.state
    try:
        yield
    finally:
        bitgen.state = state


# --------------------------------------------------------------------------- compile settings
def _keras_compile_args(model: Any, keras: Any) -> dict[str, Any]:
    opt = model.optimizer
    cfg = opt.get_config()
    cfg.pop("name", None)
    kopt = {"SGD": keras.optimizers.SGD, "Adam": keras.optimizers.Adam, "RMSprop": keras.optimizers.RMSprop}[
        type(opt).__name__
    ](**cfg)
    return {"optimizer": kopt, "loss": model.loss.name, "metrics": [m.name for m in model.metrics] or None}


_KERAS_LOSS_CLASSES = {
    "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "CategoricalCrossentropy": "categorical_crossentropy",
    "BinaryCrossentropy": "binary_crossentropy",
    "MeanSquaredError": "mean_squared_error",
}
_LOSS_ALIASES = {"mse": "mean_squared_error", **{n: n for n in _LOSSES}}


def _convlab_compile_args(keras_model: Any) -> dict[str, Any]:
    """The convlab ``compile`` arguments equivalent to a compiled Keras model's, or ValueError naming what differs."""
    cc = keras_model.get_compile_config() or {}
    hint = " — pass compile=False to copy only the layers and weights"
    ospec = cc.get("optimizer")
    if isinstance(ospec, str):
        ospec = {
            "class_name": {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}.get(ospec.lower(), ospec),
            "config": {},
        }
    name = (ospec or {}).get("class_name")
    ocfg = dict((ospec or {}).get("config") or {})
    keep = {
        "SGD": ("learning_rate", "momentum", "nesterov"),
        "Adam": ("learning_rate", "beta_1", "beta_2", "epsilon"),
        "RMSprop": ("learning_rate", "rho", "epsilon"),
    }
    if name not in keep:
        raise ValueError(
            f"Keras model {keras_model.name!r}: optimizer {name!r} is not in convlab (SGD, Adam, RMSprop){hint}"
        )
    defaults = {
        "weight_decay": None,
        "clipnorm": None,
        "global_clipnorm": None,
        "clipvalue": None,
        "use_ema": False,
        "loss_scale_factor": None,
        "gradient_accumulation_steps": None,
        "amsgrad": False,
        "centered": False,
        "momentum": 0.0,
        "ema_momentum": None,
        "ema_overwrite_frequency": None,
        "name": None,
    }
    for key, value in ocfg.items():
        if key in keep[name] or key in ("name", "ema_momentum", "ema_overwrite_frequency"):
            continue
        if key in defaults and value == defaults[key]:
            continue
        raise ValueError(
            f"Keras model {keras_model.name!r}: optimizer {name} with {key}={value!r} is not in convlab{hint}"
        )
    if not isinstance(ocfg.get("learning_rate", 0.001), (int, float)):
        raise ValueError(f"Keras model {keras_model.name!r}: a learning-rate schedule is not in convlab{hint}")
    optimizer = getattr(optimizers, name)(**{k: ocfg[k] for k in keep[name] if k in ocfg})
    lspec = cc.get("loss")
    loss = None
    if isinstance(lspec, str):
        loss = _LOSS_ALIASES.get(lspec.lower())
    elif isinstance(lspec, dict):
        lcfg = lspec.get("config") or {}
        plain = (
            not lcfg.get("from_logits", False)
            and not lcfg.get("label_smoothing", 0)
            and lcfg.get("ignore_class") is None
            and lcfg.get("axis", -1) == -1
            and lcfg.get("reduction", "sum_over_batch_size") == "sum_over_batch_size"
        )
        loss = _KERAS_LOSS_CLASSES.get(lspec.get("class_name")) if plain else None
    if loss is None:
        raise ValueError(
            f"Keras model {keras_model.name!r}: loss {lspec!r} is not in convlab (one of "
            f"{', '.join(_LOSSES)} with default options){hint}"
        )
    metrics = cc.get("metrics") or []
    if not all(isinstance(m, str) for m in metrics):
        raise ValueError(
            f"Keras model {keras_model.name!r}: metrics {metrics!r} — only metric names are carried over{hint}"
        )
    return {"optimizer": optimizer, "loss": loss, "metrics": list(metrics)}


# --------------------------------------------------------------------------- conversions
def to_keras(model: Sequential, *, compile: bool = True) -> Any:
    """A ``keras.Sequential`` computing exactly what the convlab ``model`` computes.

    Args:
        model: a built :class:`convlab.Sequential`.
        compile: when ``model`` is compiled, compile the Keras model with the same
            optimizer settings (a fresh optimizer), loss and metrics.

    Returns:
        A new ``keras.Sequential`` (Keras 3, TensorFlow backend) with a
        ``keras.Input`` of the model's input shape and, in order, the same layer
        types, names, settings, initialiser names, ``trainable`` flags, dtypes and
        weights (exact copies, BatchNormalization's moving statistics included).
        ``model`` is not modified.

    Raises:
        ImportError: Keras/TensorFlow missing (with ``pip install -e ".[keras]"``).
        TypeError: ``model`` is not a convlab ``Sequential``.
        ValueError: the model is not built.
        UnsupportedLayerError: a layer or setting Keras cannot express (``padding=1``; ``strides`` > 1 with
            ``dilation_rate`` > 1 in ``Conv2D``/``Conv2DTranspose``; unequal strides in a depthwise or
            separable convolution), naming the layer.

    Note:
        TensorFlow's CPU kernels cannot run a ``Conv2DTranspose`` with ``dilation_rate`` > 1
        (a GPU can): the Keras model is made, but calling it on a CPU fails inside TensorFlow.
    """
    require_convlab_built(model, "to_keras()")
    specs, weights, shapes, input_shape = model_specs(model, "to_keras()")  # every check before Keras is touched
    keras = import_keras_tf()
    dtype = specs[0]["dtype"]
    kmodel = keras.Sequential(
        [keras.Input(shape=input_shape[1:], dtype=dtype)] + [_keras_layer(s, keras) for s in specs], name=model.name
    )
    for spec, klayer, w, shape in zip(specs, kmodel.layers, weights, shapes):
        kshape = tuple(klayer.output.shape)
        if kshape != shape:  # would mean convlab's shape rules differ from Keras'
            raise ValueError(f"layer {_layer_title(spec)}: Keras computes output shape {kshape}, convlab {shape}")
        if w:
            klayer.set_weights(w)
    if compile and model.loss is not None:
        kmodel.compile(**_keras_compile_args(model, keras))
    return kmodel


def from_keras(keras_model: Any, *, compile: bool = True, backend: str | None = None) -> Sequential:
    """A convlab :class:`~convlab.Sequential` computing exactly what ``keras_model`` computes.

    Args:
        keras_model: a built ``keras.Sequential`` (with ``keras.Input`` or after ``build``).
        compile: when ``keras_model`` is compiled, compile the convlab model with the
            same optimizer settings (a fresh optimizer), loss and metrics.
        backend: convlab backend for the new model (``None`` → numba).

    Returns:
        A new built convlab ``Sequential`` with the same layer types, names,
        settings, initialiser names (where convlab has the initialiser), ``trainable``
        flags, dtypes and weights (exact copies, BatchNormalization's moving statistics
        included), named as the Keras model. Neither ``keras_model`` nor convlab's random generator
        (:func:`convlab.set_seed`) is changed.

    Raises:
        ImportError: Keras/TensorFlow missing (with ``pip install -e ".[keras]"``).
        TypeError: not a ``keras.Sequential``.
        ValueError: the model is not built; a layer convlab cannot take with its
            input shape (naming it); with ``compile=True``, an optimizer, loss or
            metric convlab lacks (the message suggests ``compile=False``).
        UnsupportedLayerError: a Keras layer or setting convlab lacks, naming the layer.
    """
    keras = import_keras_tf()
    if not isinstance(keras_model, keras.Model):
        raise TypeError(f"keras_model must be a keras.Sequential, got {type(keras_model).__name__}")
    specs, weights, shapes, input_shape = model_specs(keras_model, "from_keras()", "keras_model")
    compile_args = _convlab_compile_args(keras_model) if compile and keras_model.compiled else None
    with _convlab_rng_untouched():
        layers = [convlab_layers.Input(input_shape[1:], dtype=specs[0]["dtype"])]
        for spec in specs:
            layers.append(_convlab_layer(spec))
        model = Sequential(layers, name=keras_model.name, backend=backend)
    for spec, layer, shape in zip(specs, model.layers, shapes):
        if tuple(layer.output_shape) != shape:
            raise ValueError(
                f"layer {_layer_title(spec)}: convlab computes output shape {layer.output_shape}, Keras {shape}"
            )
    model.set_weights([w for ws in weights for w in ws])
    if compile_args is not None:
        model.compile(**compile_args)
    return model


def copy_weights(source: Any, target: Any) -> None:
    """Copy every weight of ``source`` into ``target`` (convlab → Keras, Keras → convlab, or same kind).

    The two models must have the same layers in the same order: same types,
    same settings (``filters``, ``kernel_size``, ``strides``, ``padding``,
    ``dilation_rate``, ``groups``, ``output_padding``, ``depth_multiplier``,
    ``activation``, ``use_bias``, ``pool_size``, ``keepdims``, ``rate``,
    ``momentum``, ``epsilon``, ``center``, ``scale``) and the same weight shapes;
    names and initialisers may differ. Every weight is copied, the non-trainable
    ones too (BatchNormalization's ``moving_mean`` and ``moving_variance``).
    Everything is checked before anything is written, so on error ``target`` is
    unchanged. Values are copied exactly (cast to the target's dtype if the
    dtypes differ).

    Raises:
        TypeError: a model that is neither a convlab nor a Keras ``Sequential``.
        ValueError: a model that is not built, or the first layer where the models
            differ, naming both layers and the shapes.
        UnsupportedLayerError: a layer the bridge cannot map, naming it.
    """
    src = model_specs(source, "copy_weights()", "source")
    dst = model_specs(target, "copy_weights()", "target")
    check_compatible(src, dst, source, target)
    weights = src[1]
    if is_convlab(target):
        target.set_weights([w for ws in weights for w in ws])  # checks all, then writes
        return
    saved = [l.get_weights() for l in target.layers]
    try:
        for layer, ws in zip(target.layers, weights):
            if ws:
                layer.set_weights(ws)
    except Exception:
        for layer, ws in zip(target.layers, saved):
            if ws:
                layer.set_weights(ws)
        raise
