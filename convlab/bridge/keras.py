"""The Keras bridge: the same network in convlab and in Keras 3, weights both ways, and a parity report.

convlab promises a learner "these are exactly the numbers Keras computes".
This module makes the promise checkable in one call::

    keras_model = convlab.to_keras(model)          # or model.to_keras(): a keras.Sequential
    model2 = convlab.from_keras(keras_model)       # back to convlab, weights bit for bit
    convlab.copy_weights(keras_model, model)       # into an existing model (checked first)
    report = convlab.compare_with_keras(model, x, y)   # per layer: activations, loss, gradients
    print(report.max_rel("gradient"))

What is carried over, both ways: the layers in order with their Keras names,
their configuration (``filters``, ``kernel_size``, ``strides``, ``padding``,
``activation``, ``use_bias``, ``pool_size``, ``rate``), ``trainable``, the
dtype (float32/float64), the input shape, the weights (copied exactly: no
value changes, so a round trip is bit-for-bit) and, when the source model is
compiled, the optimizer's settings (a fresh optimizer: its step counter and
moments are not copied), the loss and the metrics.

Layers both sides have: ``Conv2D``, ``MaxPooling2D``, ``AveragePooling2D``,
``Flatten``, ``Dense``, ``Dropout``, ``Activation``, ``ReLU``, ``Softmax``, with
activations ``relu``, ``sigmoid``, ``tanh``, ``softmax``, ``linear``. Anything
else — a Keras layer convlab lacks (``BatchNormalization``…), or an option
convlab lacks (``dilation_rate``, ``groups``, ``data_format="channels_first"``,
regularisers, constraints, an integer ``padding`` on the convlab side, which
Keras' ``Conv2D`` cannot express) — raises :class:`UnsupportedLayerError` (a
``ValueError``) naming the layer and the setting, before anything is created or
changed.

TensorFlow stays optional: this module imports ``keras``/``tensorflow`` only
inside its functions, and raises ``ImportError`` with the install command when
they are missing (``pip install -e ".[keras]"``). It needs Keras 3 on the
TensorFlow backend (``KERAS_BACKEND`` unset or ``tensorflow``).

Sources: Keras 3 ``keras.layers`` configs (``get_config``), ``Layer.get_weights``
/ ``set_weights`` (weights in the order kernel, bias, as convlab's), and
``tf.GradientTape`` for Keras' gradients.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from convlab.model import layers as _layers
from convlab.model import optimizers as _optimizers

__all__ = ["to_keras", "from_keras", "copy_weights", "compare_with_keras", "KerasComparison", "ParityRow",
           "UnsupportedLayerError", "INSTALL_HINT", "SUPPORTED_LAYERS"]

INSTALL_HINT = ('the Keras bridge needs Keras 3 on TensorFlow, which is not installed. '
                'Install it with:  pip install -e ".[keras]"   (or: pip install "tensorflow>=2.16")')

#: Layer classes both convlab and Keras have (Keras' ``MaxPool2D``/``AvgPool2D`` are aliases).
SUPPORTED_LAYERS = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dense", "Dropout", "Activation",
                    "ReLU", "Softmax")
_ACTIVATIONS = ("relu", "sigmoid", "tanh", "softmax", "linear")
_LOSSES = ("sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy",
           "mean_squared_error")


class UnsupportedLayerError(ValueError):
    """A layer, or a layer setting, that only one of convlab and Keras has (the message names the layer)."""


# --------------------------------------------------------------------------- lazy imports
def _keras():
    """Keras 3 on TensorFlow, or ImportError with the install command."""
    try:
        import keras
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    if int(keras.__version__.split(".")[0]) < 3:
        raise ImportError(f"the Keras bridge needs Keras 3, found keras {keras.__version__}. {INSTALL_HINT}")
    if keras.backend.backend() != "tensorflow":
        raise ImportError(f"the Keras bridge needs Keras' TensorFlow backend, but KERAS_BACKEND is "
                          f"{keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow before importing keras")
    return keras


def _tf():
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ImportError(INSTALL_HINT) from exc
    return tf


def _is_convlab(model) -> bool:
    from convlab.model.sequential import Sequential

    return isinstance(model, Sequential)


def _is_keras(model) -> bool:
    """True for a Keras model, without importing Keras when it was never imported."""
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, keras.Model)


def _what(model) -> str:
    return f"{'convlab' if _is_convlab(model) else 'Keras'} model {getattr(model, 'name', '?')!r}"


# --------------------------------------------------------------------------- neutral layer specs
# A spec is a plain dict: {"class": "Conv2D", "name": ..., "trainable": ..., "dtype": "float32", **settings}.
# Both directions go through it, so convlab → Keras and Keras → convlab cannot disagree.
_SETTINGS = {  # the settings that define what a layer computes (compared by copy_weights)
    "Conv2D": ("filters", "kernel_size", "strides", "padding", "activation", "use_bias"),
    "MaxPooling2D": ("pool_size", "strides", "padding"),
    "AveragePooling2D": ("pool_size", "strides", "padding"),
    "Flatten": (),
    "Dense": ("units", "activation", "use_bias"),
    "Dropout": ("rate",),
    "Activation": ("activation",),
    "ReLU": (),
    "Softmax": (),
}


def _spec_from_convlab(layer) -> dict:
    cls = type(layer).__name__
    if cls not in _SETTINGS or type(layer) is not getattr(_layers, cls, None):
        raise UnsupportedLayerError(f"convlab layer {layer.name!r} ({cls}) has no Keras counterpart in the bridge; "
                                    f"supported: {', '.join(SUPPORTED_LAYERS)}")
    spec = {"class": cls, "name": layer.name, "trainable": bool(layer.trainable), "dtype": layer.dtype.name}
    if cls in ("Conv2D", "MaxPooling2D", "AveragePooling2D") and layer.padding not in ("valid", "same"):
        raise UnsupportedLayerError(
            f"convlab layer {layer.name!r} ({cls}): padding={layer.padding!r} has no Keras {cls} equivalent "
            "(Keras accepts 'valid' or 'same'; put explicit pads in a keras.layers.ZeroPadding2D instead)")
    if cls == "Conv2D":
        spec.update(filters=layer.filters, kernel_size=tuple(layer.kernel_size), strides=tuple(layer.strides),
                    padding=layer.padding, activation=layer.activation, use_bias=layer.use_bias)
    elif cls in ("MaxPooling2D", "AveragePooling2D"):
        spec.update(pool_size=tuple(layer.pool_size), strides=tuple(layer.strides), padding=layer.padding)
    elif cls == "Dense":
        spec.update(units=layer.units, activation=layer.activation, use_bias=layer.use_bias)
    elif cls == "Dropout":
        spec.update(rate=layer.rate, seed=layer.seed)
    elif cls == "Activation":
        spec.update(activation=layer.activation)
    return spec


def _spec_from_keras(layer, keras) -> dict:
    cls = type(layer).__name__
    where = f"Keras layer {layer.name!r} ({cls})"
    KL = keras.layers
    known = {KL.Conv2D: "Conv2D", KL.MaxPooling2D: "MaxPooling2D", KL.AveragePooling2D: "AveragePooling2D",
             KL.Flatten: "Flatten", KL.Dense: "Dense", KL.Dropout: "Dropout", KL.Activation: "Activation",
             KL.ReLU: "ReLU", KL.Softmax: "Softmax"}
    kind = known.get(type(layer))
    if kind is None:
        raise UnsupportedLayerError(f"{where} is not supported by convlab; supported layers: "
                                    f"{', '.join(SUPPORTED_LAYERS)}")
    cfg = layer.get_config()

    def refuse(setting):
        raise UnsupportedLayerError(f"{where}: {setting} is not supported by convlab")

    policy = getattr(getattr(layer, "dtype_policy", None), "name", "float32")
    if policy not in ("float32", "float64"):
        refuse(f"dtype policy {policy!r} (convlab computes in float32 or float64)")
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                "bias_constraint", "lora_rank", "quantization_config", "noise_shape"):
        if cfg.get(key) is not None:
            refuse(f"{key}={cfg[key]!r}")
    if cfg.get("data_format", "channels_last") != "channels_last":
        refuse(f"data_format={cfg['data_format']!r} (convlab is NHWC: channels_last)")

    def activation(value):
        if not isinstance(value, str) or value.lower() not in _ACTIVATIONS:
            refuse(f"activation={value!r} (convlab has {', '.join(_ACTIVATIONS)})")
        return value.lower()

    spec = {"class": kind, "name": layer.name, "trainable": bool(layer.trainable), "dtype": policy}
    if kind in ("Conv2D", "MaxPooling2D", "AveragePooling2D"):
        padding = str(cfg["padding"]).lower()
        if padding not in ("valid", "same"):
            refuse(f"padding={cfg['padding']!r}")
    if kind == "Conv2D":
        if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
            refuse(f"dilation_rate={cfg['dilation_rate']!r}")
        if cfg.get("groups", 1) != 1:
            refuse(f"groups={cfg['groups']!r}")
        spec.update(filters=int(cfg["filters"]), kernel_size=tuple(cfg["kernel_size"]),
                    strides=tuple(cfg["strides"]), padding=padding, activation=activation(cfg["activation"]),
                    use_bias=bool(cfg["use_bias"]))
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        pool = tuple(cfg["pool_size"])
        strides = pool if cfg.get("strides") is None else tuple(cfg["strides"])
        spec.update(pool_size=pool, strides=strides, padding=padding)
    elif kind == "Dense":
        spec.update(units=int(cfg["units"]), activation=activation(cfg["activation"]), use_bias=bool(cfg["use_bias"]))
    elif kind == "Dropout":
        spec.update(rate=float(cfg["rate"]), seed=cfg.get("seed"))
    elif kind == "Activation":
        spec.update(activation=activation(cfg["activation"]))
    elif kind == "ReLU":
        if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) != 0 or cfg.get("threshold", 0) != 0:
            refuse(f"ReLU(max_value={cfg.get('max_value')}, negative_slope={cfg.get('negative_slope')}, "
                   f"threshold={cfg.get('threshold')}) (convlab's ReLU is max(x, 0))")
    elif kind == "Softmax":
        if cfg.get("axis", -1) not in (-1, [-1]):
            refuse(f"axis={cfg['axis']!r} (convlab's softmax is over the last axis)")
    return spec


def _convlab_layer(spec):
    s = dict(spec)
    cls = getattr(_layers, s.pop("class"))
    common = {"name": s.pop("name"), "trainable": s.pop("trainable"), "dtype": s.pop("dtype")}
    if cls is _layers.Conv2D:
        return cls(s["filters"], s["kernel_size"], strides=s["strides"], padding=s["padding"],
                   activation=s["activation"], use_bias=s["use_bias"], **common)
    if cls in (_layers.MaxPooling2D, _layers.AveragePooling2D):
        return cls(s["pool_size"], strides=s["strides"], padding=s["padding"], **common)
    if cls is _layers.Dense:
        return cls(s["units"], activation=s["activation"], use_bias=s["use_bias"], **common)
    if cls is _layers.Dropout:
        return cls(s["rate"], seed=s.get("seed"), **common)
    if cls is _layers.Activation:
        return cls(s["activation"], **common)
    return cls(**common)  # Flatten, ReLU, Softmax


def _keras_layer(spec, keras):
    s = dict(spec)
    cls = getattr(keras.layers, s.pop("class"))
    common = {"name": s.pop("name"), "trainable": s.pop("trainable"), "dtype": s.pop("dtype")}
    if cls is keras.layers.Conv2D:
        return cls(s["filters"], s["kernel_size"], strides=s["strides"], padding=s["padding"],
                   activation=s["activation"], use_bias=s["use_bias"], **common)
    if cls in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D):
        return cls(s["pool_size"], strides=s["strides"], padding=s["padding"], **common)
    if cls is keras.layers.Dense:
        return cls(s["units"], activation=s["activation"], use_bias=s["use_bias"], **common)
    if cls is keras.layers.Dropout:
        return cls(s["rate"], seed=s.get("seed"), **common)
    if cls is keras.layers.Activation:
        return cls(s["activation"], **common)
    return cls(**common)


# --------------------------------------------------------------------------- model-level helpers
def _require_convlab_built(model, what):
    if not _is_convlab(model):
        raise TypeError(f"model must be a convlab.Sequential, got {type(model).__name__}")
    if not model.built:
        raise ValueError(f"convlab model {model.name!r} is not built: give it an input shape (Input(...), "
                         f"input_shape=..., model.build(...)) before {what}")


def _require_keras_built(keras_model, keras, what):
    if not isinstance(keras_model, keras.Sequential):
        raise TypeError(f"keras_model must be a keras.Sequential (the bridge maps a linear stack of layers), "
                        f"got {type(keras_model).__name__}")
    try:
        shape = tuple(keras_model.input_shape)
    except (AttributeError, ValueError):
        shape = None
    if not keras_model.built or shape is None or None in shape[1:]:
        raise ValueError(f"Keras model {keras_model.name!r} is not built: give it keras.Input(shape) or call "
                         f"build((None, ...)) before {what}")
    if not keras_model.layers:
        raise ValueError(f"Keras model {keras_model.name!r} has no layers")
    return shape


def _specs(model, what):
    """Specs, per-layer weights and per-layer output shapes of a built convlab or Keras model."""
    if _is_convlab(model):
        _require_convlab_built(model, what)
        layers = model.layers
        return ([_spec_from_convlab(l) for l in layers], [l.get_weights() for l in layers],
                [tuple(l.output_shape) for l in layers], tuple(model.input_shape))
    keras = _keras()
    if not isinstance(model, keras.Model):
        raise TypeError(f"expected a convlab.Sequential or a keras.Sequential, got {type(model).__name__}")
    shape = _require_keras_built(model, keras, what)
    layers = model.layers
    return ([_spec_from_keras(l, keras) for l in layers], [l.get_weights() for l in layers],
            [tuple(l.output.shape) for l in layers], shape)


def _layer_title(spec):
    return f"{spec['name']!r} ({spec['class']})"


def _check_compatible(src, dst, src_model, dst_model, *, check_input=False):
    """Raise ValueError naming the first layer where two models differ (type, settings or weight shapes)."""
    s_specs, s_weights, _, s_in = src
    d_specs, d_weights, _, d_in = dst
    a, b = _what(src_model), _what(dst_model)
    if check_input and s_in[1:] != d_in[1:]:
        raise ValueError(f"input shapes differ: {a} takes {s_in}, {b} takes {d_in}")
    if len(s_specs) != len(d_specs):
        raise ValueError(f"{a} has {len(s_specs)} layers ({', '.join(s['name'] for s in s_specs)}), "
                         f"{b} has {len(d_specs)} ({', '.join(s['name'] for s in d_specs)})")
    for i, (s, d, sw, dw) in enumerate(zip(s_specs, d_specs, s_weights, d_weights)):
        where = f"layer {i}: {a} {_layer_title(s)} vs {b} {_layer_title(d)}"
        if s["class"] != d["class"]:
            raise ValueError(f"{where}: different layer types")
        for key in _SETTINGS[s["class"]]:
            if s[key] != d[key]:
                raise ValueError(f"{where}: {key} differs ({s[key]!r} vs {d[key]!r})")
        if len(sw) != len(dw):
            raise ValueError(f"{where}: {len(sw)} vs {len(dw)} weight arrays")
        for name, x, y in zip(("kernel", "bias"), sw, dw):
            if x.shape != y.shape:
                raise ValueError(f"{where}: incompatible shapes, {name} {x.shape} vs {y.shape}")


@contextlib.contextmanager
def _convlab_rng_untouched():
    """Building convlab layers draws Glorot weights that are overwritten at once; keep the generator's state."""
    bitgen = _layers.get_rng().bit_generator
    state = bitgen.state
    try:
        yield
    finally:
        bitgen.state = state


# --------------------------------------------------------------------------- compile settings
def _keras_compile_args(model, keras):
    opt = model.optimizer
    cfg = opt.get_config()
    cfg.pop("name", None)
    kopt = {"SGD": keras.optimizers.SGD, "Adam": keras.optimizers.Adam,
            "RMSprop": keras.optimizers.RMSprop}[type(opt).__name__](**cfg)
    return {"optimizer": kopt, "loss": model.loss.name, "metrics": [m.name for m in model.metrics] or None}


_KERAS_LOSS_CLASSES = {"SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
                       "CategoricalCrossentropy": "categorical_crossentropy",
                       "BinaryCrossentropy": "binary_crossentropy", "MeanSquaredError": "mean_squared_error"}
_LOSS_ALIASES = {"mse": "mean_squared_error", **{n: n for n in _LOSSES}}


def _convlab_compile_args(keras_model):
    """The convlab ``compile`` arguments equivalent to a compiled Keras model's, or ValueError naming what differs."""
    cc = keras_model.get_compile_config() or {}
    hint = " — pass compile=False to copy only the layers and weights"
    ospec = cc.get("optimizer")
    if isinstance(ospec, str):
        ospec = {"class_name": {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}.get(ospec.lower(), ospec),
                 "config": {}}
    name = (ospec or {}).get("class_name")
    ocfg = dict((ospec or {}).get("config") or {})
    keep = {"SGD": ("learning_rate", "momentum", "nesterov"), "Adam": ("learning_rate", "beta_1", "beta_2", "epsilon"),
            "RMSprop": ("learning_rate", "rho", "epsilon")}
    if name not in keep:
        raise ValueError(f"Keras model {keras_model.name!r}: optimizer {name!r} is not in convlab (SGD, Adam, "
                         f"RMSprop){hint}")
    defaults = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None, "use_ema": False,
                "loss_scale_factor": None, "gradient_accumulation_steps": None, "amsgrad": False, "centered": False,
                "momentum": 0.0, "ema_momentum": None, "ema_overwrite_frequency": None, "name": None}
    for key, value in ocfg.items():
        if key in keep[name] or key in ("name", "ema_momentum", "ema_overwrite_frequency"):
            continue
        if key in defaults and value == defaults[key]:
            continue
        raise ValueError(f"Keras model {keras_model.name!r}: optimizer {name} with {key}={value!r} is not in "
                         f"convlab{hint}")
    if not isinstance(ocfg.get("learning_rate", 0.001), (int, float)):
        raise ValueError(f"Keras model {keras_model.name!r}: a learning-rate schedule is not in convlab{hint}")
    optimizer = getattr(_optimizers, name)(**{k: ocfg[k] for k in keep[name] if k in ocfg})
    lspec = cc.get("loss")
    loss = None
    if isinstance(lspec, str):
        loss = _LOSS_ALIASES.get(lspec.lower())
    elif isinstance(lspec, dict):
        lcfg = lspec.get("config") or {}
        plain = (not lcfg.get("from_logits", False) and not lcfg.get("label_smoothing", 0)
                 and lcfg.get("ignore_class") is None and lcfg.get("axis", -1) == -1
                 and lcfg.get("reduction", "sum_over_batch_size") == "sum_over_batch_size")
        loss = _KERAS_LOSS_CLASSES.get(lspec.get("class_name")) if plain else None
    if loss is None:
        raise ValueError(f"Keras model {keras_model.name!r}: loss {lspec!r} is not in convlab (one of "
                         f"{', '.join(_LOSSES)} with default options){hint}")
    metrics = cc.get("metrics") or []
    if not all(isinstance(m, str) for m in metrics):
        raise ValueError(f"Keras model {keras_model.name!r}: metrics {metrics!r} — only metric names are "
                         f"carried over{hint}")
    return {"optimizer": optimizer, "loss": loss, "metrics": list(metrics)}


# --------------------------------------------------------------------------- conversions
def to_keras(model, *, compile=True):
    """A ``keras.Sequential`` computing exactly what the convlab ``model`` computes.

    Args:
        model: a built :class:`convlab.Sequential`.
        compile: when ``model`` is compiled, compile the Keras model with the same
            optimizer settings (a fresh optimizer), loss and metrics.

    Returns:
        A new ``keras.Sequential`` (Keras 3, TensorFlow backend) with a
        ``keras.Input`` of the model's input shape and, in order, the same layer
        types, names, settings, ``trainable`` flags, dtypes and weights (exact copies).
        ``model`` is not modified.

    Raises:
        ImportError: Keras/TensorFlow missing (with ``pip install -e ".[keras]"``).
        TypeError: ``model`` is not a convlab ``Sequential``.
        ValueError: the model is not built.
        UnsupportedLayerError: a layer or setting Keras cannot express (e.g. ``padding=1``), naming the layer.
    """
    _require_convlab_built(model, "to_keras()")
    specs, weights, shapes, input_shape = _specs(model, "to_keras()")  # every check before Keras is touched
    keras = _keras()
    dtype = specs[0]["dtype"]
    kmodel = keras.Sequential([keras.Input(shape=input_shape[1:], dtype=dtype)]
                              + [_keras_layer(s, keras) for s in specs], name=model.name)
    for spec, klayer, w, shape in zip(specs, kmodel.layers, weights, shapes):
        kshape = tuple(klayer.output.shape)
        if kshape != shape:  # would mean convlab's shape rules differ from Keras'
            raise ValueError(f"layer {_layer_title(spec)}: Keras computes output shape {kshape}, convlab {shape}")
        if w:
            klayer.set_weights(w)
    if compile and model.loss is not None:
        kmodel.compile(**_keras_compile_args(model, keras))
    return kmodel


def from_keras(keras_model, *, compile=True, backend=None):
    """A convlab :class:`~convlab.Sequential` computing exactly what ``keras_model`` computes.

    Args:
        keras_model: a built ``keras.Sequential`` (with ``keras.Input`` or after ``build``).
        compile: when ``keras_model`` is compiled, compile the convlab model with the
            same optimizer settings (a fresh optimizer), loss and metrics.
        backend: convlab backend for the new model (``None`` → numba).

    Returns:
        A new built convlab ``Sequential`` with the same layer types, names,
        settings, ``trainable`` flags, dtypes and weights (exact copies), named as
        the Keras model. Neither ``keras_model`` nor convlab's random generator
        (:func:`convlab.set_seed`) is changed.

    Raises:
        ImportError: Keras/TensorFlow missing (with ``pip install -e ".[keras]"``).
        TypeError: not a ``keras.Sequential``.
        ValueError: the model is not built; a layer convlab cannot take with its
            input shape (naming it); with ``compile=True``, an optimizer, loss or
            metric convlab lacks (the message suggests ``compile=False``).
        UnsupportedLayerError: a Keras layer or setting convlab lacks, naming the layer.
    """
    from convlab.model.sequential import Sequential

    keras = _keras()
    if not isinstance(keras_model, keras.Model):
        raise TypeError(f"keras_model must be a keras.Sequential, got {type(keras_model).__name__}")
    specs, weights, shapes, input_shape = _specs(keras_model, "from_keras()")
    compile_args = _convlab_compile_args(keras_model) if compile and keras_model.compiled else None
    with _convlab_rng_untouched():
        layers = [_layers.Input(input_shape[1:], dtype=specs[0]["dtype"])]
        for spec in specs:
            layers.append(_convlab_layer(spec))
        model = Sequential(layers, name=keras_model.name, backend=backend)
    for spec, layer, shape in zip(specs, model.layers, shapes):
        if tuple(layer.output_shape) != shape:
            raise ValueError(f"layer {_layer_title(spec)}: convlab computes output shape {layer.output_shape}, "
                             f"Keras {shape}")
    model.set_weights([w for ws in weights for w in ws])
    if compile_args is not None:
        model.compile(**compile_args)
    return model


def copy_weights(source, target) -> None:
    """Copy every weight of ``source`` into ``target`` (convlab → Keras, Keras → convlab, or same kind).

    The two models must have the same layers in the same order: same types,
    same settings (``filters``, ``kernel_size``, ``strides``, ``padding``,
    ``activation``, ``use_bias``, ``pool_size``, ``rate``) and the same weight
    shapes; names may differ. Everything is checked before anything is written,
    so on error ``target`` is unchanged. Values are copied exactly (cast to the
    target's dtype if the dtypes differ).

    Raises:
        TypeError: a model that is neither a convlab nor a Keras ``Sequential``.
        ValueError: a model that is not built, or the first layer where the models
            differ, naming both layers and the shapes.
        UnsupportedLayerError: a layer the bridge cannot map, naming it.
    """
    src = _specs(source, "copy_weights()")
    dst = _specs(target, "copy_weights()")
    _check_compatible(src, dst, source, target)
    weights = src[1]
    if _is_convlab(target):
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


# --------------------------------------------------------------------------- parity report
@dataclass(frozen=True)
class ParityRow:
    """One compared quantity.

    Attributes:
        kind: ``"activation"`` (a layer's output), ``"loss"`` or ``"gradient"`` (d loss / d weight).
        layer: the layer's name (the loss's name for the loss row).
        layer_type: ``"Conv2D"``…, ``"loss"`` for the loss row.
        quantity: ``"output"``, ``"kernel"``, ``"bias"`` or ``"value"``.
        shape: the compared array's shape (``()`` for the loss).
        max_abs: ``max |convlab − keras|``.
        max_rel: ``max |convlab − keras| / max |keras|`` (the largest difference
            relative to the largest magnitude of the Keras array; for the loss, the
            ordinary relative difference; 0 when both are all zeros).
    """

    kind: str
    layer: str
    layer_type: str
    quantity: str
    shape: tuple
    max_abs: float
    max_rel: float


@dataclass
class KerasComparison:
    """What :func:`compare_with_keras` measured: one :class:`ParityRow` per layer output, loss and weight gradient.

    Attributes:
        rows: the rows, activations first (layer order), then the loss, then the gradients.
        dtype: ``"float32"`` or ``"float64"``.
        n_examples: the batch size compared.
        loss: ``(convlab loss, Keras loss)`` or ``None`` without ``y``.
        versions: ``"Keras x.y.z, TensorFlow a.b.c"``.
    """

    rows: list = field(default_factory=list)
    dtype: str = "float32"
    n_examples: int = 0
    loss: tuple | None = None
    versions: str = ""

    def _select(self, kind):
        if kind not in (None, "activation", "loss", "gradient"):
            raise ValueError(f"kind must be None, 'activation', 'loss' or 'gradient', got {kind!r}")
        return [r for r in self.rows if kind is None or r.kind == kind]

    def max_abs(self, kind=None) -> float:
        """The largest ``max_abs`` over the rows of ``kind`` (all rows for ``None``; 0.0 when there are none)."""
        return max((r.max_abs for r in self._select(kind)), default=0.0)

    def max_rel(self, kind=None) -> float:
        """The largest ``max_rel`` over the rows of ``kind`` (all rows for ``None``; 0.0 when there are none)."""
        return max((r.max_rel for r in self._select(kind)), default=0.0)

    def table(self) -> str:
        """The report as a text table (what :func:`compare_with_keras` prints)."""
        head = ("layer (type)", "compared", "shape", "max |Δ|", "max rel")
        body = []
        for r in self.rows:
            what = {"activation": "output", "loss": "loss", "gradient": f"∂loss/∂{r.quantity}"}[r.kind]
            name = f"{r.layer} ({r.layer_type})"
            body.append((name, what, str(r.shape), f"{r.max_abs:.2e}", f"{r.max_rel:.2e}"))
        widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]

        def fmt(cells):
            return "  ".join(c.rjust(w) if i >= 3 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        bar = "=" * len(fmt(head))
        lines = [f"convlab vs {self.versions}: {self.n_examples} examples, {self.dtype}", fmt(head), bar]
        lines += [fmt(b) for b in body] + [bar]
        if self.loss is not None:
            lines.append(f"loss: convlab {self.loss[0]:.9g}, Keras {self.loss[1]:.9g}")
        lines.append(f"largest relative difference: activations {self.max_rel('activation'):.2e}"
                     + (f", loss {self.max_rel('loss'):.2e}, gradients {self.max_rel('gradient'):.2e}"
                        if self.loss is not None else ""))
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _diff(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    if scale == 0.0:
        scale = float(np.max(np.abs(a))) if a.size else 0.0
    return d, (d / scale if scale > 0 else 0.0)


@contextlib.contextmanager
def _dropout_off(model):
    """Dropout at inference on both sides: set convlab's Dropout rates to 0 for the gradient pass, then restore."""
    saved = [(l, l.rate) for l in model.layers if isinstance(l, _layers.Dropout)]
    try:
        for l, _ in saved:
            l.rate = 0.0
        yield
    finally:
        for l, rate in saved:
            l.rate = rate


def _keras_loss(name, keras, dtype):
    """Keras' loss object; its ``dtype`` must be the model's (Keras casts to float32 by default)."""
    return {"sparse_categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
            "categorical_crossentropy": keras.losses.CategoricalCrossentropy,
            "binary_crossentropy": keras.losses.BinaryCrossentropy,
            "mean_squared_error": keras.losses.MeanSquaredError}[name](dtype=dtype)


def compare_with_keras(model, x, y=None, *, keras_model=None, verbose=True) -> KerasComparison:
    """Run ``model`` and its Keras twin on the same batch and report the differences, layer by layer.

    Both run in inference mode (Dropout is the identity). For every layer the
    outputs are compared; when ``y`` is given, also the loss (the model's
    compiled loss; Keras computes cross-entropy after a softmax/sigmoid output
    from the kept logits, convlab from the fused form) and d loss / d weight for
    every weight (convlab: :meth:`Sequential.compute_gradients`, with Dropout
    rates set to 0 for the pass and restored; Keras: ``tf.GradientTape``).

    Args:
        model: a built convlab ``Sequential`` (compiled when ``y`` is given).
        x: a batch ``(N, …)`` of the model's input shape (cast to the model's dtype).
        y: optional targets, as for ``fit``.
        keras_model: the Keras model to compare with (same layers; checked first);
            default: ``to_keras(model)``.
        verbose: print the table.

    Returns:
        :class:`KerasComparison` (rows with max absolute and relative differences).

    Raises:
        ImportError: Keras/TensorFlow missing (with ``pip install -e ".[keras]"``).
        ValueError / TypeError: model not built, ``x`` of the wrong shape, ``y``
            without a compiled model, or a ``keras_model`` whose layers differ (naming the layer).
    """
    keras, tf = _keras(), _tf()
    _require_convlab_built(model, "compare_with_keras()")
    if keras_model is None:
        keras_model = to_keras(model, compile=False)
    else:
        _check_compatible(_specs(model, "compare_with_keras()"), _specs(keras_model, "compare_with_keras()"),
                          model, keras_model, check_input=True)
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"x must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim < 2 or arr.shape[1:] != tuple(model.input_shape[1:]) or arr.shape[0] == 0:
        raise ValueError(f"x must have shape (N, {', '.join(map(str, model.input_shape[1:]))}) for model "
                         f"{model.name!r}, got {arr.shape}")
    if y is not None and model.loss is None:
        raise ValueError(f"convlab model {model.name!r}: compile() it (the loss is the compiled one) before "
                         "compare_with_keras(model, x, y)")
    layers = model.layers
    dtype = layers[0].dtype
    arr = arr.astype(dtype, copy=False)

    ours, h = [], arr
    for layer in layers:
        h = layer.forward(h, training=False)
        ours.append(np.array(h, copy=True))

    kvars = [[getattr(v, "value", v) for v in kl.weights] for kl in keras_model.layers]  # the tf.Variables
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        for vs in kvars:
            for v in vs:
                tape.watch(v)
        t = tf.constant(arr)
        theirs = []
        for kl in keras_model.layers:
            t = kl(t, training=False)
            theirs.append(t)
        kloss = None
        if y is not None:
            kloss = _keras_loss(model.loss.name, keras, dtype.name)(tf.constant(np.asarray(y)), t)

    report = KerasComparison(dtype=dtype.name, n_examples=int(arr.shape[0]),
                             versions=f"Keras {keras.__version__}, TensorFlow {tf.__version__}")
    for layer, a, b in zip(layers, ours, theirs):
        report.rows.append(ParityRow("activation", layer.name, type(layer).__name__, "output", a.shape,
                                     *_diff(a, b.numpy())))
    if y is not None:
        kgrads = tape.gradient(kloss, [v for vs in kvars for v in vs])
        with _dropout_off(model):
            loss, grads = model.compute_gradients(arr, y)
        kl_value = float(kloss.numpy())
        report.loss = (float(loss), kl_value)
        report.rows.append(ParityRow("loss", model.loss.name, "loss", "value", (), *_diff(loss, kl_value)))
        gi = 0
        for layer in layers:
            for key in layer.params:
                g, kg = grads[gi], kgrads[gi]
                kg = np.zeros(g.shape) if kg is None else np.asarray(tf.convert_to_tensor(kg).numpy())
                report.rows.append(ParityRow("gradient", layer.name, type(layer).__name__, key, g.shape,
                                             *_diff(g, kg)))
                gi += 1
    if verbose:
        print(report.table())
    return report
