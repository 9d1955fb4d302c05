"""Weight initialisers by Keras name, with Keras 3's definitions, drawing from convlab's generator.

:func:`get` turns a Keras name (``"glorot_uniform"``, ``"HeNormal"`` …), a Keras
config dict or a function ``f(shape, dtype)`` into an :class:`Initializer`:
a callable ``init(shape, dtype, rng) -> np.ndarray``. Every random number comes
from ``rng`` — by default :func:`convlab.model.layers.randomness.get_rng`, the
one generator :func:`convlab.set_seed` seeds — so Keras' numbers are not
reproduced (another generator), only its distributions.

The definitions (Keras 3, ``keras/src/initializers/random_initializers.py``)
----------------------------------------------------------------------------
``compute_fans(shape)``: a dense kernel ``(in, out)`` has ``fan_in = in``,
``fan_out = out``; a kernel of more axes ``(..., in, out)`` multiplies both by the
receptive field, the product of all but the last two axes (a Conv2D kernel
``(KH, KW, C_in, C_out)``: ``fan_in = KH·KW·C_in``, ``fan_out = KH·KW·C_out``);
a vector ``(n,)`` has both ``n``; a scalar ``()`` both 1.

``VarianceScaling(scale, mode, distribution)``: ``n`` = ``fan_in``, ``fan_out`` or
``(fan_in + fan_out)/2`` by ``mode`` (at least 1), then

- ``"uniform"``: uniform in ``[−limit, limit]``, ``limit = sqrt(3·scale/n)``;
- ``"truncated_normal"`` (Keras' ``"normal"``): a normal of mean 0 and parameter
  ``stddev = sqrt(scale/n) / 0.87962566103423978``, every draw farther than 2
  ``stddev`` from the mean drawn again (TensorFlow's ``truncated_normal``). 0.8796…
  is the standard deviation of a standard normal cut at ±2, so the values' own
  standard deviation is ``sqrt(scale/n)``;
- ``"untruncated_normal"``: a normal of standard deviation ``sqrt(scale/n)``.

======================  =========  ============  ====================
name                    scale      mode          distribution
======================  =========  ============  ====================
``glorot_uniform``      1          ``fan_avg``   uniform — Glorot & Bengio 2010, Keras' default kernel initialiser
``glorot_normal``       1          ``fan_avg``   truncated normal
``he_normal``           2          ``fan_in``    truncated normal — He et al. 2015
``he_uniform``          2          ``fan_in``    uniform
``lecun_normal``        1          ``fan_in``    truncated normal — LeCun et al. 1998
``lecun_uniform``       1          ``fan_in``    uniform
======================  =========  ============  ====================

and ``zeros``, ``ones``, ``random_normal`` (mean 0, stddev 0.05, not truncated),
``random_uniform`` (``[−0.05, 0.05]``), ``truncated_normal`` (mean 0, stddev 0.05, cut at 2 stddev).

Numbers: every draw is float64 (as :func:`convlab.model.layers.randomness.glorot_uniform`
always drew), then rounded to the requested dtype, so float32 and float64 weights
from the same seed are the same numbers rounded. The uniform ``limit`` is computed
as ``sqrt(3·scale/n)``, the formula of Keras' docstring; Keras' code evaluates
``sqrt(3·(scale/n))``, which can differ in the last bit of a float64 and rounds
to the same float32 bound. Keras' ``seed`` is not supported: one generator,
seeded by :func:`convlab.set_seed`, draws everything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from convlab.model.layers.randomness import get_rng
from convlab.util.checks import as_float_array, check_array_fits, check_float, check_int, is_int, shown

__all__ = [
    "NAMES",
    "get",
    "compute_fans",
    "Initializer",
    "Zeros",
    "Ones",
    "Constant",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotUniform",
    "GlorotNormal",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
]

#: The standard deviation of a standard normal truncated to [−2, 2] (Keras' constant).
TRUNCATED_STD = 0.87962566103423978


# --------------------------------------------------------------------------- fans
def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape``, as Keras' ``compute_fans``.

    ``()`` → ``(1, 1)``; ``(n,)`` → ``(n, n)``; ``(in, out)`` → ``(in, out)``; more axes
    ``(..., in, out)`` → ``(in·r, out·r)`` with ``r`` the product of all but the last two
    axes (the receptive field). Examples: Conv2D ``(3, 3, 16, 32)`` → ``(144, 288)``;
    DepthwiseConv2D ``(3, 3, 32, 1)`` → ``(288, 9)``; Conv2DTranspose ``(3, 3, 16, 8)``
    (Keras stores ``(KH, KW, C_out, C_in)``, and the rule still reads the last axis as
    "out") → ``(144, 72)``; Dense ``(784, 10)`` → ``(784, 10)``.

    Raises:
        TypeError: ``shape`` not a tuple/list of ints; ValueError: a negative size.
    """
    shape = _check_shape(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = 1
    for d in shape[:-2]:
        receptive_field *= d
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def _check_shape(shape: Any) -> tuple[int, ...]:
    if is_int(shape):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be a tuple of ints, got {shown(shape)} ({type(shape).__name__})")
    return tuple(check_int(d, f"shape[{i}]", expected="a non-negative int") for i, d in enumerate(shape))


def _check_dtype(dtype: Any) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64, got {shown(dtype)}")
    return dt


# --------------------------------------------------------------------------- the initialisers
class Initializer:
    """A callable ``init(shape, dtype=np.float32, rng=None) -> np.ndarray`` (Keras' ``Initializer``).

    ``rng`` is the :class:`numpy.random.Generator` to draw from (``None``: convlab's,
    :func:`~convlab.model.layers.randomness.get_rng`). The result has ``shape`` and
    ``dtype`` (float32 or float64) and is a fresh array.

    Raises (every subclass): TypeError: ``shape`` not a tuple of ints, ``dtype`` not
    float32/float64; ValueError: a negative size, or an array larger than any can be
    (before anything is drawn).
    """

    #: Keras' class name, also the ``class_name`` of :meth:`get_config`'s dict.
    class_name = "Initializer"

    def __call__(self, shape: tuple[int, ...], dtype: DTypeLike = np.float32, rng: np.random.Generator | None = None):
        shape = _check_shape(shape)
        dtype = _check_dtype(dtype)
        check_array_fits(shape, 8, "shape", f"the array {self.class_name} draws")  # draws are float64
        return self._draw(shape, dtype, get_rng() if rng is None else rng)

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, as Keras' ``get_config`` (without ``seed``)."""
        return {}

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Every weight ``value`` (Keras ``Constant``, default 0). Draws nothing from ``rng``."""

    class_name = "Constant"

    def __init__(self, value: float = 0.0):
        self.value = check_float(value, "value")

    def _draw(self, shape, dtype, rng):
        return np.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class Zeros(Constant):
    """Every weight 0 (Keras ``Zeros``, the default bias and ``beta``/``moving_mean`` initialiser)."""

    class_name = "Zeros"

    def __init__(self):
        super().__init__(0.0)

    def get_config(self):
        return {}


class Ones(Constant):
    """Every weight 1 (Keras ``Ones``, the default ``gamma``/``moving_variance`` initialiser)."""

    class_name = "Ones"

    def __init__(self):
        super().__init__(1.0)

    def get_config(self):
        return {}


def _truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal draws, each with ``|z| ≥ 2`` drawn again until ``|z| < 2`` (TensorFlow's rule)."""
    z = rng.standard_normal(shape)
    flat = z.reshape(-1)
    bad = np.flatnonzero(np.abs(flat) >= 2.0)
    while bad.size:  # about 4.6% per round: a few rounds
        flat[bad] = rng.standard_normal(bad.size)
        bad = bad[np.abs(flat[bad]) >= 2.0]
    return z


class RandomNormal(Initializer):
    """Normal draws of ``mean`` and ``stddev`` (Keras ``RandomNormal``: 0 and 0.05), not truncated."""

    class_name = "RandomNormal"

    def __init__(self, mean: float = 0.0, stddev: float = 0.05):
        self.mean = check_float(mean, "mean")
        self.stddev = check_float(stddev, "stddev", low=0.0)

    def _draw(self, shape, dtype, rng):
        return rng.normal(self.mean, self.stddev, size=shape).astype(dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal draws of ``mean`` and ``stddev`` (Keras ``TruncatedNormal``: 0 and 0.05), each farther than
    2 ``stddev`` from the mean drawn again; the values' own standard deviation is ``0.8796·stddev``."""

    class_name = "TruncatedNormal"

    def _draw(self, shape, dtype, rng):
        return (self.mean + self.stddev * _truncated_standard_normal(rng, shape)).astype(dtype)


class RandomUniform(Initializer):
    """Uniform draws in ``[minval, maxval)`` (Keras ``RandomUniform``: −0.05 and 0.05)."""

    class_name = "RandomUniform"

    def __init__(self, minval: float = -0.05, maxval: float = 0.05):
        self.minval = check_float(minval, "minval")
        self.maxval = check_float(maxval, "maxval")
        if self.maxval < self.minval:
            raise ValueError(f"maxval must be >= minval, got minval={minval!r}, maxval={maxval!r}")

    def _draw(self, shape, dtype, rng):
        return rng.uniform(self.minval, self.maxval, size=shape).astype(dtype)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(Initializer):
    """Keras ``VarianceScaling``: draws whose variance is ``scale/n`` (module docstring).

    Args:
        scale: ``> 0``.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"`` (``n`` = that fan, the average for fan_avg).
        distribution: ``"truncated_normal"`` (also ``"normal"``, Keras' alias), ``"untruncated_normal"``
            or ``"uniform"``.

    Raises:
        ValueError: ``scale`` not > 0, an unknown ``mode`` or ``distribution`` (listing the known ones).
    """

    class_name = "VarianceScaling"

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal"):
        self.scale = check_float(scale, "scale", low=0.0, low_open=True)
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {shown(mode)}")
        if isinstance(distribution, str) and distribution.lower() == "normal":
            distribution = "truncated_normal"
        if not isinstance(distribution, str) or distribution.lower() not in _DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {_DISTRIBUTIONS} or 'normal', got {shown(distribution)}")
        self.mode = mode
        self.distribution = distribution.lower()

    def variance(self, fan_in: int, fan_out: int) -> float:
        """``scale / n``: the variance of the values for these fans."""
        return self.scale / self._n(fan_in, fan_out)

    def _n(self, fan_in, fan_out):
        if self.mode == "fan_in":
            return max(1.0, fan_in)
        if self.mode == "fan_out":
            return max(1.0, fan_out)
        return max(1.0, (fan_in + fan_out) / 2.0)

    def draw_with_fans(self, shape, fans: tuple[int, int], dtype, rng) -> np.ndarray:
        """Draw for ``shape`` with the given ``(fan_in, fan_out)`` instead of :func:`compute_fans`'.

        For layers that know their fans (and for
        :func:`convlab.model.layers.randomness.glorot_uniform`); ``shape``, ``dtype`` checked by the caller.
        """
        n = self._n(*fans)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * self.scale / n)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        if self.distribution == "truncated_normal":
            stddev = math.sqrt(self.scale / n) / TRUNCATED_STD
            return (stddev * _truncated_standard_normal(rng, shape)).astype(dtype)
        return rng.normal(0.0, math.sqrt(self.scale / n), size=shape).astype(dtype)

    def _draw(self, shape, dtype, rng):
        return self.draw_with_fans(shape, compute_fans(shape), dtype, rng)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class _NamedVarianceScaling(VarianceScaling):
    """A :class:`VarianceScaling` with fixed arguments and Keras' name (no constructor arguments)."""

    _args: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self):
        super().__init__(*self._args)

    def get_config(self):
        return {}


class GlorotUniform(_NamedVarianceScaling):
    """Uniform in ``[−limit, limit]``, ``limit = sqrt(6/(fan_in + fan_out))`` (Glorot & Bengio 2010; Keras' default)."""

    class_name = "GlorotUniform"
    _args = (1.0, "fan_avg", "uniform")


class GlorotNormal(_NamedVarianceScaling):
    """Truncated normal, standard deviation ``sqrt(2/(fan_in + fan_out))`` (Glorot & Bengio 2010)."""

    class_name = "GlorotNormal"
    _args = (1.0, "fan_avg", "truncated_normal")


class HeNormal(_NamedVarianceScaling):
    """Truncated normal, standard deviation ``sqrt(2/fan_in)`` (He et al. 2015)."""

    class_name = "HeNormal"
    _args = (2.0, "fan_in", "truncated_normal")


class HeUniform(_NamedVarianceScaling):
    """Uniform in ``[−limit, limit]``, ``limit = sqrt(6/fan_in)`` (He et al. 2015)."""

    class_name = "HeUniform"
    _args = (2.0, "fan_in", "uniform")


class LecunNormal(_NamedVarianceScaling):
    """Truncated normal, standard deviation ``sqrt(1/fan_in)`` (LeCun et al. 1998)."""

    class_name = "LecunNormal"
    _args = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_NamedVarianceScaling):
    """Uniform in ``[−limit, limit]``, ``limit = sqrt(3/fan_in)`` (LeCun et al. 1998)."""

    class_name = "LecunUniform"
    _args = (1.0, "fan_in", "uniform")


class _FunctionInitializer(Initializer):
    """A user's function ``f(shape, dtype) -> array`` as an :class:`Initializer` (it draws as it likes)."""

    def __init__(self, function: Callable[..., Any]):
        self.function = function
        self.class_name = getattr(function, "__name__", type(function).__name__)

    def _draw(self, shape, dtype, rng):
        what = f"the array the initializer {self.class_name!r} returned"
        a = as_float_array(self.function(shape, dtype), what, dtype=dtype, allow_empty=True)
        if a.shape != shape:
            raise ValueError(f"{what} has shape {a.shape}, expected {shape}")
        return np.array(a, dtype=dtype, copy=True)

    def get_config(self):
        return {"function": self.function}


# --------------------------------------------------------------------------- lookup
#: The names :func:`get` takes without arguments, Keras' snake-case spelling.
NAMES = (
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "zeros",
    "ones",
    "random_normal",
    "random_uniform",
    "truncated_normal",
)

_CLASSES: dict[str, type[Initializer]] = {
    cls.class_name: cls
    for cls in (
        GlorotUniform,
        GlorotNormal,
        HeNormal,
        HeUniform,
        LecunNormal,
        LecunUniform,
        Zeros,
        Ones,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        Constant,
    )
}
# Keras' aliases (keras.initializers.ALL_OBJECTS_DICT): "normal", "uniform", "one", "zero".
_ALIASES = {"normal": "RandomNormal", "uniform": "RandomUniform", "one": "Ones", "zero": "Zeros"}


def _key(name: str) -> str:
    """Case and underscores ignored: ``"GlorotUniform"``, ``"glorot_uniform"`` → ``"glorotuniform"``."""
    return name.replace("_", "").lower()


_BY_KEY = {_key(name): cls for name, cls in _CLASSES.items()}
_BY_KEY.update({_key(alias): _CLASSES[target] for alias, target in _ALIASES.items()})


def _known() -> str:
    return ", ".join(NAMES) + " (or their Keras class names: " + ", ".join(_CLASSES) + ")"


def get(identifier: str | Mapping[str, Any] | Callable[..., Any] | Initializer) -> Initializer:
    """The initialiser ``identifier`` names, as a callable ``init(shape, dtype, rng) -> np.ndarray``.

    Args:
        identifier: one of

            - a Keras name: :data:`NAMES` in snake case or Keras' class names
              (``"GlorotUniform"``, ``"VarianceScaling"``, ``"Constant"`` — those two with
              Keras' default arguments) and Keras' aliases ``"normal"``, ``"uniform"``,
              ``"one"``, ``"zero"``; case and underscores are ignored;
            - a Keras config dict ``{"class_name": "VarianceScaling", "config": {"scale": 2.0, ...}}``
              (``"seed": None`` accepted, any other seed refused);
            - an :class:`Initializer` (returned as is) or one of its classes (made with no arguments);
            - a function ``f(shape, dtype) -> array``: wrapped; its result is checked for
              shape and converted to ``dtype`` (``rng`` is not passed to it).

    Returns:
        An :class:`Initializer`.

    Raises:
        ValueError: an unknown name or ``class_name`` (naming it and listing the known names),
            a config with arguments the class does not take or a seed.
        TypeError: anything else (``None``, a number, a class that is no :class:`Initializer`).
    """
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, type):
        if issubclass(identifier, Initializer) and identifier not in (Initializer, _NamedVarianceScaling):
            return identifier()
        raise TypeError(
            f"initializer must be a name ({_known()}) or a function f(shape, dtype), got the class {identifier!r}"
        )
    if isinstance(identifier, str):
        cls = _BY_KEY.get(_key(identifier))
        if cls is None:
            raise ValueError(
                f"unknown initializer {identifier!r}: use one of {_known()}, or a function f(shape, dtype)"
            )
        return cls()
    if isinstance(identifier, Mapping):
        return _from_config(identifier)
    if callable(identifier):
        return _FunctionInitializer(identifier)
    raise TypeError(
        f"initializer must be a name ({_known()}) or a function f(shape, dtype), "
        f"got {shown(identifier)} ({type(identifier).__name__})"
    )


def _from_config(config: Mapping[str, Any]) -> Initializer:
    name = config.get("class_name")
    if not isinstance(name, str) or _key(name) not in _BY_KEY:
        raise ValueError(f"unknown initializer class_name {name!r} in {dict(config)!r}: use one of {_known()}")
    args = dict(config.get("config") or {})
    seed = args.pop("seed", None)
    if seed is not None:
        raise ValueError(
            f"initializer {name!r}: seed={seed!r} is not supported: convlab draws every weight from one "
            f"generator, seeded by convlab.set_seed"
        )
    cls = _BY_KEY[_key(name)]
    try:
        return cls(**args)
    except TypeError:
        raise ValueError(f"initializer {name!r} does not take the arguments {sorted(args)}") from None
