"""Keras-named layers: parameters, gradients and the forward cache — no maths of their own.

Each layer calls the operations of level 2 (:func:`convlab.conv2d`,
:func:`convlab.max_pool2d`, :func:`convlab.dense`, :mod:`convlab.activations`
and their ``*_backward`` twins) and keeps what the backward pass needs::

    layer = Conv2D(32, 3, activation="relu")
    layer.build((None, 28, 28, 1))       # creates kernel (3, 3, 1, 32) and bias (32,)
    y = layer.forward(x, training=True)  # (N, 26, 26, 32); caches x, z = conv(x), y = relu(z)
    dx = layer.backward(dy)              # fills layer.grads["kernel"], layer.grads["bias"]

Conventions (as Keras):
- images NHWC ``(N, H, W, C)``, conv kernels ``(KH, KW, C_in, C_out)``, dense
  kernels ``(in_features, units)``; shapes given to :meth:`Layer.build` include
  the batch axis (``None`` or an int); ``input_shape=`` does not;
- parameters are float32 by default (``dtype="float64"`` for gradient checks);
  inputs are cast to the layer's dtype;
- initialisers are Keras' defaults: Glorot uniform for kernels
  (``limit = sqrt(6 / (fan_in + fan_out))``, conv ``fan_in = KH·KW·C_in``,
  ``fan_out = KH·KW·F``; source: Glorot & Bengio 2010, Keras
  ``GlorotUniform``) and zeros for biases; random numbers come from convlab's
  generator, which :func:`set_seed` resets;
- automatic names ``conv2d``, ``conv2d_1``, ``dense``, ``max_pooling2d``, … come
  from one counter per prefix (as ``keras.backend.get_uid``);
  :func:`reset_names` restarts them (as ``keras.backend.clear_session``);
- :meth:`Layer.backward` overwrites ``grads`` (it never accumulates), so calling
  it twice with the same ``dy`` gives the same gradients.
"""
from __future__ import annotations

import math
import re
from collections import OrderedDict

import numpy as np

from convlab.ops import activations as _act
from convlab.ops.conv import conv2d, conv2d_backward
from convlab.ops.dense import dense, dense_backward
from convlab.ops.pooling import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from convlab import shapes
from convlab.util.checks import is_int, positive_int

__all__ = [
    "Layer", "InputLayer", "Input", "Conv2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D",
    "AvgPool2D", "Flatten", "Dense", "Dropout", "Activation", "ReLU", "Softmax",
    "set_seed", "get_rng", "reset_names", "serialize", "deserialize",
]

# --------------------------------------------------------------------------- randomness
_RNG = {"rng": np.random.default_rng()}


def set_seed(seed) -> None:
    """Seed every random number convlab draws: weight initialisation, shuffling in
    ``fit`` and dropout masks (one :class:`numpy.random.Generator`).

    The same seed and the same calls give bit-for-bit identical weights after
    ``fit`` on the same machine and backend. NumPy's legacy global state
    (``np.random.seed``) and Python's ``random`` are not touched.

    Args:
        seed: a non-negative int.

    Raises:
        TypeError / ValueError: ``seed`` is not a non-negative int.
    """
    if not is_int(seed):
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    _RNG["rng"] = np.random.default_rng(int(seed))


def get_rng() -> np.random.Generator:
    """The generator convlab draws from (reset by :func:`set_seed`)."""
    return _RNG["rng"]


# --------------------------------------------------------------------------- names
_UIDS: dict[str, int] = {}


def unique_name(prefix: str) -> str:
    n = _UIDS.get(prefix, 0)
    _UIDS[prefix] = n + 1
    return prefix if n == 0 else f"{prefix}_{n}"


def reset_names() -> None:
    """Restart automatic layer/model names (``dense``, ``dense_1``…), as ``keras.backend.clear_session``."""
    _UIDS.clear()


def _snake(name: str) -> str:
    """Keras' ``to_snake_case``: ``MaxPooling2D`` → ``max_pooling2d``, ``ReLU`` → ``re_lu``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


# --------------------------------------------------------------------------- helpers
def _check_padding(padding):
    """Accept what the operations accept; normalise strings to lower case (Keras)."""
    if isinstance(padding, str):
        if padding.lower() not in ("valid", "same"):
            raise ValueError(f'padding must be "valid", "same", an int or ((top, bottom), (left, right)), '
                             f"got {padding!r}")
        return padding.lower()
    shapes.resolve_padding((8, 8), (1, 1), padding, 1)  # raises naming padding
    if is_int(padding):
        return int(padding)
    return tuple(tuple(p) if isinstance(p, (list, tuple)) else p for p in padding)


def _padding_config(padding):
    """``padding`` as JSON-ready data (pairs become lists)."""
    if isinstance(padding, (str, int)):
        return padding
    return [list(p) if isinstance(p, tuple) else p for p in padding]


def _check_activation(activation):
    if activation is None:
        return "linear"
    if not isinstance(activation, str):
        raise TypeError(f"activation must be a name such as 'relu' or None, got {activation!r}")
    _act.get(activation)  # ValueError listing the known names
    return activation.lower()


def _check_dtype(dtype):
    d = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
    if d not in (np.float32, np.float64):
        raise ValueError(f'dtype must be "float32" or "float64", got {dtype!r}')
    return d


def as_shape(shape, name):
    """A tuple of positive ints (``None`` allowed only for the batch axis by callers)."""
    if is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
    out = []
    for d in shape:
        if d is None:
            out.append(None)
        elif is_int(d) and d >= 1:
            out.append(int(d))
        else:
            raise ValueError(f"{name} must contain positive ints (or None for the batch), got {shape!r}")
    return tuple(out)


def _window_output_shape(layer, shape, window, what):
    """``(OH, OW, C)`` of a sliding-window layer (Conv2D, pooling) for input ``shape = (H, W, C)``.

    ``OH = floor((H + P_top + P_bottom − KH)/S_h) + 1`` (slides; Keras floors). Raises ``ValueError``
    naming the layer for a non-4-D input or a window larger than the padded input.
    """
    if len(shape) != 3:
        raise ValueError(f"{layer.name}: {type(layer).__name__} expects 4-D input (N, H, W, C), got input_shape "
                         f"{(None,) + tuple(shape)}")
    h, w, c = shape
    kh, kw = window
    t, b, l, r = shapes.resolve_padding((h, w), (kh, kw), layer.padding, layer.strides)
    if kh > h + t + b or kw > w + l + r:
        raise ValueError(f"{layer.name}: {what} {kh}×{kw} is larger than the padded input {h + t + b}×{w + l + r} "
                         f"(input_shape {(None, h, w, c)}, padding={layer.padding!r})")
    return (h + t + b - kh) // layer.strides[0] + 1, (w + l + r - kw) // layer.strides[1] + 1, c


def _glorot_uniform(shape, fan_in, fan_out, dtype):
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return get_rng().uniform(-limit, limit, size=shape).astype(dtype)


# --------------------------------------------------------------------------- base
class Layer:
    """Base class: name, build state, parameters, gradients, weights and config.

    Attributes:
        name (str): Keras-style name (automatic unless given).
        built (bool): whether :meth:`build` ran.
        input_shape / output_shape (tuple): with ``None`` for the batch axis.
        params / grads (OrderedDict): ``"kernel"``, ``"bias"`` → arrays (empty for
            layers without weights); ``grads`` is filled by :meth:`backward`.
        trainable (bool): ``False`` freezes the layer's parameters in ``fit``.
        backend (str | None): passed to the operations (``None`` → numba).
        dtype (numpy.dtype): float32 (default) or float64.
        compute_input_grad (bool): ``True`` (default): :meth:`backward` returns
            ``∂L/∂x``. :class:`Sequential` sets it to ``False`` on its first layer
            with weights *during its own backward pass only* (and restores it),
            because nothing upstream uses that gradient; :class:`Conv2D` then
            skips it and returns ``None`` (≈15 % of a training step on MNIST).
            The weight gradients are the same either way.
    """

    _prefix: str | None = None
    compute_input_grad = True

    def __init__(self, *, name=None, input_shape=None, dtype=None, trainable=True):
        if name is not None and (not isinstance(name, str) or not name):
            raise TypeError(f"name must be a non-empty str or None, got {name!r}")
        self.name = name or unique_name(self._prefix or _snake(type(self).__name__))
        self.dtype = _check_dtype(dtype)
        self.trainable = bool(trainable)
        self.backend = None
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self.params: OrderedDict[str, np.ndarray] = OrderedDict()
        self.grads: OrderedDict[str, np.ndarray] = OrderedDict()
        self._declared_input_shape = None if input_shape is None else as_shape(input_shape, "input_shape")
        if self._declared_input_shape is not None and None in self._declared_input_shape:
            raise ValueError(f"input_shape must not contain None (it excludes the batch axis), got {input_shape!r}")
        self._cache = None

    # -- building ----------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create the parameters for inputs of ``input_shape`` (batch axis included, e.g. ``(None, 28, 28, 1)``).

        Raises:
            ValueError: a shape this layer cannot take (wrong rank, a window larger
            than the input, …), naming the layer.
        """
        shape = as_shape(input_shape, "input_shape")
        if len(shape) < 2 or None in shape[1:]:
            raise ValueError(f"{self.name}: input_shape must be (batch, ...) with known sizes after the batch "
                             f"axis, got {input_shape!r}")
        self.input_shape = (None,) + shape[1:]
        self.output_shape = (None,) + tuple(self._build(shape[1:]))
        self.built = True

    def _build(self, shape):  # returns the output shape without batch
        return shape

    def _require_built(self, what):
        if not self.built:
            raise ValueError(f"{self.name}: call build(input_shape) (or add the layer to a model with an "
                             f"input shape) before {what}")

    def count_params(self) -> int:
        """Number of parameters (all weights). Raises ValueError before :meth:`build`."""
        self._require_built("count_params()")
        return int(sum(p.size for p in self.params.values()))

    def param_formula(self) -> str:
        """The parameter count as the slides write it, e.g. ``32·3·3·1 + 32`` (empty without weights)."""
        return ""

    # -- weights -----------------------------------------------------------------
    @property
    def weights(self) -> list:
        """The parameter arrays themselves, in Keras order (kernel, bias)."""
        return list(self.params.values())

    def get_weights(self) -> list:
        """Copies of the parameters in Keras order (``[kernel, bias]``; ``[]`` without weights)."""
        return [p.copy() for p in self.params.values()]

    def set_weights(self, weights) -> None:
        """Replace the parameters (Keras order); every shape is checked before anything changes.

        Raises:
            ValueError: wrong number of arrays or a shape that differs, naming the layer.
            TypeError: a non-numeric array.
        """
        self._require_built("set_weights()")
        new = self._checked_weights(weights)
        for p, w in zip(self.params.values(), new):
            np.copyto(p, w)

    def _checked_weights(self, weights):
        if not isinstance(weights, (list, tuple)):
            raise TypeError(f"{self.name}: weights must be a list of arrays, got {type(weights).__name__}")
        if len(weights) != len(self.params):
            raise ValueError(f"{self.name}: expected {len(self.params)} weight arrays "
                             f"({', '.join(self.params) or 'none'}), got {len(weights)}")
        out = []
        for (key, p), w in zip(self.params.items(), weights):
            a = np.asarray(w)
            if a.dtype.kind not in "fiub":
                raise TypeError(f"{self.name}: weight {key!r} must be numeric, got dtype {a.dtype}")
            if a.shape != p.shape:
                raise ValueError(f"{self.name}: weight {key!r} must have shape {p.shape}, got {a.shape}")
            out.append(a.astype(p.dtype, copy=False))
        return out

    # -- passes ------------------------------------------------------------------
    def __call__(self, x, training=False):
        return self.forward(x, training=training)

    def _input(self, x):
        """Cast ``x`` to the layer's dtype, build on first use, check the shape."""
        x = np.asarray(x)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{self.name}: x must be a real numeric array, got dtype {x.dtype}")
        x = x.astype(self.dtype, copy=False)
        if not self.built:
            self.build(x.shape)
        if x.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"{self.name}: expected input of shape {self.input_shape} (None = any batch), "
                             f"got {x.shape}")
        if x.shape[0] == 0:
            raise ValueError(f"{self.name}: x must not be empty, got shape {x.shape}")
        return x

    def forward(self, x, training=False):
        """Compute the output of a batch ``x`` (``training`` matters for Dropout) and cache what backward needs."""
        raise NotImplementedError

    def backward(self, dy):
        """Gradient of the loss w.r.t. the input, given ``dy`` = d loss / d output of the last :meth:`forward`.

        Fills ``grads`` (overwriting). Raises ValueError if called before forward
        or with ``dy`` of the wrong shape.
        """
        raise NotImplementedError

    def _cached(self, dy):
        if self._cache is None:
            raise ValueError(f"{self.name}: backward() called before forward()")
        dy = np.asarray(dy, dtype=self.dtype)
        y = self._cache[-1]
        if dy.shape != y.shape:
            raise ValueError(f"{self.name}: dy must have the output's shape {y.shape}, got {dy.shape}")
        return dy

    # -- activation hooks (used by Sequential for the fused softmax/sigmoid losses) --
    activation = "linear"

    def preactivation(self):
        """``z``, the values the layer's activation was applied to in the last forward."""
        if self._cache is None:
            raise ValueError(f"{self.name}: no forward pass cached")
        return self._cache[1]

    def backward_from_preactivation(self, dz):
        """Backward pass given ``dz`` = d loss / d z (the pre-activation), skipping the activation."""
        raise NotImplementedError

    def _activation_backward(self, dy):
        if self.activation == "linear":
            return dy
        _, x_act, y = self._cache
        return _act.get_backward(self.activation)(dy, x_act, y)

    # -- config ------------------------------------------------------------------
    def get_config(self) -> dict:
        """A Keras-like dict of the constructor's arguments (enough to rebuild with :meth:`from_config`)."""
        cfg = {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}
        if self._declared_input_shape is not None:
            cfg["input_shape"] = list(self._declared_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict):
        """Rebuild a layer from :meth:`get_config`'s dict (JSON lists become tuples)."""
        config = dict(config)
        config.pop("kernel_initializer", None)
        config.pop("bias_initializer", None)
        for key in ("kernel_size", "strides", "pool_size", "input_shape"):
            if isinstance(config.get(key), list):
                config[key] = tuple(config[key])
        if isinstance(config.get("padding"), list):
            config["padding"] = tuple(tuple(p) if isinstance(p, list) else p for p in config["padding"])
        return cls(**config)

    def __repr__(self):
        shape = f", output_shape={self.output_shape}" if self.built else ""
        return f"<{type(self).__name__} name={self.name!r}{shape}>"


# --------------------------------------------------------------------------- input
class InputLayer(Layer):
    """The model's input (``Input(shape)``): holds the shape only; not listed in ``model.layers`` (Keras 3)."""

    def __init__(self, shape, *, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.shape = as_shape(shape, "shape")
        if None in self.shape:
            raise ValueError(f"shape must not contain None (it excludes the batch axis), got {shape!r}")
        self.build((None,) + self.shape)

    def forward(self, x, training=False):
        return self._input(x)

    def backward(self, dy):
        return np.asarray(dy)

    def get_config(self):
        cfg = super().get_config()
        cfg["shape"] = list(self.shape)
        return cfg


def Input(shape, name=None, dtype=None) -> InputLayer:
    """Declare the input shape without the batch axis, e.g. ``Input((28, 28, 1))`` (as ``keras.Input``)."""
    return InputLayer(shape, name=name, dtype=dtype)


# --------------------------------------------------------------------------- conv
class Conv2D(Layer):
    """2-D convolution layer (Keras ``Conv2D``): ``activation(conv2d(x, kernel) + bias)``.

    Args:
        filters: number of filters ``F`` (output channels).
        kernel_size: int or ``(KH, KW)``.
        strides: int or ``(SH, SW)``.
        padding: ``"valid"`` or ``"same"`` (Keras), or what :func:`convlab.conv2d`
            also accepts (an int, pairs; Keras has no such option).
        activation: ``None``/``"linear"``, ``"relu"``, ``"sigmoid"``, ``"tanh"``, ``"softmax"``.
        use_bias: add a bias per filter.
        input_shape: ``(H, W, C)`` without the batch axis, for the first layer.
        name, dtype, trainable: as :class:`Layer`.

    Shapes: input ``(N, H, W, C_in)`` → output ``(N, OH, OW, F)``;
    ``kernel (KH, KW, C_in, F)``, ``bias (F,)``; parameters ``F·KH·KW·C_in + F``.

    Raises:
        TypeError / ValueError naming the argument for bad arguments; ValueError at
        build time for a non-4-D input or a kernel larger than the padded input.
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", activation=None, use_bias=True,
                 input_shape=None, name=None, dtype=None, trainable=True, **_keras_ignored):
        self.filters = positive_int(filters, "filters")
        self.kernel_size = shapes.pair(kernel_size, "kernel_size")
        self.strides = shapes.pair(strides, "strides")
        self.padding = _check_padding(padding)
        self.activation = _check_activation(activation)
        self.use_bias = bool(use_bias)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable)

    def _build(self, shape):
        oh, ow, c = _window_output_shape(self, shape, self.kernel_size, "kernel")
        kh, kw = self.kernel_size
        self.params = OrderedDict(kernel=_glorot_uniform((kh, kw, c, self.filters), kh * kw * c,
                                                         kh * kw * self.filters, self.dtype))
        if self.use_bias:
            self.params["bias"] = np.zeros(self.filters, self.dtype)
        self.grads = OrderedDict()
        return (oh, ow, self.filters)

    def param_formula(self):
        kh, kw = self.kernel_size
        c = self.input_shape[-1] if self.built else "C"
        return f"{self.filters}·{kh}·{kw}·{c}" + (f" + {self.filters}" if self.use_bias else "")

    def forward(self, x, training=False):
        x = self._input(x)
        z = conv2d(x, self.params["kernel"], self.params.get("bias"), strides=self.strides,
                   padding=self.padding, backend=self.backend)
        y = _act.get(self.activation)(z) if self.activation != "linear" else z
        self._cache = (x, z, y)
        return y

    def backward(self, dy):
        dy = self._cached(dy)
        return self.backward_from_preactivation(self._activation_backward(dy))

    def backward_from_preactivation(self, dz):
        x = self._cache[0]
        dx, dk, db = conv2d_backward(dz, x, self.params["kernel"], strides=self.strides, padding=self.padding,
                                     backend=self.backend, need_dx=self.compute_input_grad)
        self.grads = OrderedDict(kernel=dk)
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_size=list(self.kernel_size), strides=list(self.strides),
                   padding=_padding_config(self.padding), activation=self.activation, use_bias=self.use_bias,
                   kernel_initializer="glorot_uniform", bias_initializer="zeros")
        return cfg



# --------------------------------------------------------------------------- pooling
class _Pooling2D(Layer):
    _kind = "max"

    def __init__(self, pool_size=2, strides=None, padding="valid", input_shape=None, name=None, dtype=None,
                 trainable=True, **_keras_ignored):
        self.pool_size = shapes.pair(pool_size, "pool_size")
        self.strides = self.pool_size if strides is None else shapes.pair(strides, "strides")
        self.padding = _check_padding(padding)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable)

    def _build(self, shape):
        return _window_output_shape(self, shape, self.pool_size, "pool")

    def _ops(self):
        if self._kind == "max":
            return max_pool2d, max_pool2d_backward
        return avg_pool2d, avg_pool2d_backward

    def forward(self, x, training=False):
        x = self._input(x)
        y = self._ops()[0](x, self.pool_size, self.strides, self.padding, backend=self.backend)
        self._cache = (x, x, y)
        return y

    def backward(self, dy):
        dy = self._cached(dy)
        x = self._cache[0]
        return self._ops()[1](dy, x, self.pool_size, self.strides, self.padding, backend=self.backend)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(pool_size=list(self.pool_size), strides=list(self.strides), padding=_padding_config(self.padding))
        return cfg



class MaxPooling2D(_Pooling2D):
    """Max pooling (Keras ``MaxPooling2D``): the largest value of each ``pool_size`` window, per channel.

    Args:
        pool_size: int or pair (default 2); strides: default ``pool_size`` (Keras);
        padding: ``"valid"``/``"same"`` ("same" pads count as −inf).

    Shapes: ``(N, H, W, C)`` → ``(N, OH, OW, C)``; no parameters. Backward sends
    each window's gradient to one maximum (TensorFlow's rule on ties; see
    :func:`convlab.max_pool2d_backward`).
    """

    _prefix = "max_pooling2d"
    _kind = "max"


class AveragePooling2D(_Pooling2D):
    """Average pooling (Keras ``AveragePooling2D``); arguments and shapes as :class:`MaxPooling2D`."""

    _prefix = "average_pooling2d"
    _kind = "avg"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D


# --------------------------------------------------------------------------- flatten
class Flatten(Layer):
    """Flatten each example to a vector (Keras ``Flatten``), NHWC order: channels fastest.

    ``(N, H, W, C)`` → ``(N, H·W·C)``; element ``[n, i, j, c]`` goes to position
    ``(i·W + j)·C + c`` — exactly Keras' order, so a Dense kernel copied from Keras lines up.
    """

    def __init__(self, input_shape=None, name=None, dtype=None, trainable=True, **_keras_ignored):
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable)

    def _build(self, shape):
        return (int(np.prod(shape)),)

    def forward(self, x, training=False):
        x = self._input(x)
        y = x.reshape(x.shape[0], -1)
        self._cache = (x.shape, None, y)
        return y

    def backward(self, dy):
        dy = self._cached(dy)
        return dy.reshape(self._cache[0])


# --------------------------------------------------------------------------- dense
class Dense(Layer):
    """Fully connected layer (Keras ``Dense``): ``activation(x @ kernel + bias)``.

    Args:
        units: output features.
        activation, use_bias, input_shape, name, dtype, trainable: as :class:`Conv2D`.

    Shapes: ``(N, in_features)`` → ``(N, units)``; ``kernel (in_features, units)``,
    ``bias (units,)``; parameters ``in_features·units + units``. Only 2-D input
    (put a :class:`Flatten` before it), otherwise ValueError at build time.
    """

    def __init__(self, units, activation=None, use_bias=True, input_shape=None, name=None, dtype=None,
                 trainable=True, **_keras_ignored):
        self.units = positive_int(units, "units")
        self.activation = _check_activation(activation)
        self.use_bias = bool(use_bias)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable)

    def _build(self, shape):
        if len(shape) != 1:
            raise ValueError(f"{self.name}: Dense expects 2-D input (N, features), got input_shape "
                             f"{(None,) + tuple(shape)}; add a Flatten() layer before it")
        n_in = shape[0]
        self.params = OrderedDict(kernel=_glorot_uniform((n_in, self.units), n_in, self.units, self.dtype))
        if self.use_bias:
            self.params["bias"] = np.zeros(self.units, self.dtype)
        self.grads = OrderedDict()
        return (self.units,)

    def param_formula(self):
        n_in = self.input_shape[-1] if self.built else "in"
        return f"{n_in}·{self.units}" + (f" + {self.units}" if self.use_bias else "")

    def forward(self, x, training=False):
        x = self._input(x)
        z = dense(x, self.params["kernel"], self.params.get("bias"))
        y = _act.get(self.activation)(z) if self.activation != "linear" else z
        self._cache = (x, z, y)
        return y

    def backward(self, dy):
        dy = self._cached(dy)
        return self.backward_from_preactivation(self._activation_backward(dy))

    def backward_from_preactivation(self, dz):
        dx, dk, db = dense_backward(dz, self._cache[0], self.params["kernel"])
        self.grads = OrderedDict(kernel=dk)
        if self.use_bias:
            self.grads["bias"] = db
        return dx

    def get_config(self):
        cfg = super().get_config()
        cfg.update(units=self.units, activation=self.activation, use_bias=self.use_bias,
                   kernel_initializer="glorot_uniform", bias_initializer="zeros")
        return cfg



# --------------------------------------------------------------------------- dropout
class Dropout(Layer):
    """Inverted dropout (Keras ``Dropout``).

    In training each value is kept with probability ``1 − rate`` and scaled by
    ``1/(1 − rate)`` (so the expected value is unchanged); at inference it is the
    identity. Masks come from a generator seeded by ``seed`` if given, else from
    convlab's generator (:func:`set_seed`). Keras' own random numbers cannot be
    reproduced, only the rule.

    Args:
        rate: fraction dropped, ``0 <= rate < 1``.
        seed: optional int for this layer's own generator.
    """

    def __init__(self, rate, seed=None, input_shape=None, name=None, dtype=None, trainable=True, **_keras_ignored):
        if isinstance(rate, bool) or not isinstance(rate, (int, float, np.floating, np.integer)):
            raise TypeError(f"rate must be a float in [0, 1), got {rate!r}")
        if not 0 <= float(rate) < 1:
            raise ValueError(f"rate must be a float in [0, 1), got {rate!r}")
        if seed is not None and (not is_int(seed) or seed < 0):
            raise ValueError(f"seed must be a non-negative int or None, got {seed!r}")
        self.rate = float(rate)
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable)

    def forward(self, x, training=False):
        x = self._input(x)
        if training and self.rate > 0:
            rng = self._rng if self._rng is not None else get_rng()
            mask = (rng.random(x.shape, dtype=np.float32) >= self.rate).astype(self.dtype)
            mask *= self.dtype.type(1.0 / (1.0 - self.rate))
            y = x * mask
        else:
            mask = None
            y = x
        self._cache = (mask, None, y)
        return y

    def backward(self, dy):
        dy = self._cached(dy)
        mask = self._cache[0]
        return dy if mask is None else dy * mask

    def get_config(self):
        cfg = super().get_config()
        cfg.update(rate=self.rate, seed=self.seed)
        return cfg


# --------------------------------------------------------------------------- activations
class Activation(Layer):
    """Apply an activation by name (Keras ``Activation``): ``relu``, ``sigmoid``, ``tanh``, ``softmax``, ``linear``.

    Shapes: any → the same. Softmax is taken over the last axis.
    """

    def __init__(self, activation, input_shape=None, name=None, dtype=None, trainable=True, **_keras_ignored):
        self.activation = _check_activation(activation)
        super().__init__(name=name, input_shape=input_shape, dtype=dtype, trainable=trainable)

    def forward(self, x, training=False):
        x = self._input(x)
        y = _act.get(self.activation)(x)
        self._cache = (x, x, y)
        return y

    def backward(self, dy):
        dy = self._cached(dy)
        return self._activation_backward(dy)

    def backward_from_preactivation(self, dz):
        return np.asarray(dz, dtype=self.dtype)

    def get_config(self):
        cfg = super().get_config()
        if type(self) is Activation:  # ReLU() and Softmax() take no activation argument
            cfg["activation"] = self.activation
        return cfg


class ReLU(Activation):
    """``max(x, 0)`` as a layer (Keras ``ReLU`` with its default arguments only)."""

    _prefix = "re_lu"

    def __init__(self, input_shape=None, name=None, dtype=None, trainable=True, **_keras_ignored):
        super().__init__("relu", input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)


class Softmax(Activation):
    """Softmax over the last axis as a layer (Keras ``Softmax``, ``axis=-1`` only)."""

    def __init__(self, input_shape=None, name=None, dtype=None, trainable=True, **_keras_ignored):
        super().__init__("softmax", input_shape=input_shape, name=name, dtype=dtype, trainable=trainable)


# --------------------------------------------------------------------------- (de)serialisation
_CLASSES = {c.__name__: c for c in (InputLayer, Conv2D, MaxPooling2D, AveragePooling2D, Flatten, Dense, Dropout,
                                      Activation, ReLU, Softmax)}
_CLASSES.update(MaxPool2D=MaxPooling2D, AvgPool2D=AveragePooling2D)


def serialize(layer: Layer) -> dict:
    """``{"class_name": ..., "config": ...}`` for a layer (JSON-ready)."""
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a convlab layer, got {type(layer).__name__}")
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec: dict) -> Layer:
    """Rebuild a layer from :func:`serialize`'s dict.

    Raises:
        ValueError: an unknown ``class_name`` or a config the class does not accept.
    """
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"spec must be a dict with 'class_name' and 'config', got {spec!r}")
    cls = _CLASSES.get(spec["class_name"])
    if cls is None:
        raise ValueError(f"unknown layer class_name {spec['class_name']!r}; known: {sorted(_CLASSES)}")
    config = dict(spec.get("config", {}))
    if "input_shape" in config and config["input_shape"] is not None:
        config["input_shape"] = tuple(config["input_shape"])
    if cls is InputLayer:
        config["shape"] = tuple(config.pop("shape"))
        config.pop("input_shape", None)
        config.pop("trainable", None)
    try:
        return cls.from_config(config)
    except TypeError as exc:
        raise ValueError(f"cannot rebuild {spec['class_name']} from config {config!r}: {exc}") from exc
