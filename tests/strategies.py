"""The bad-input catalogue's vocabulary: kinds of argument → families of bad values (hypothesis strategies).

Used by ``tests/test_catalogue.py``, which holds the table of public functions
(function → its arguments → the kind of each). A *kind* (``"size"``,
``"padding"``, ``"array"``, …) lists the *families* of values that are wrong for
it: wrong types, bools, floats, huge and negative ints, ragged lists, wrong
shapes, non-finite values, exotic dtypes. Each family says what the promise is
(README, "Bad input raises a ValueError or TypeError that names the argument"):

- ``REFUSE``: the call must raise one of the function's documented exceptions,
  and the message must name the argument;
- ``EITHER``: the value may be meaningful (a huge stride gives a 1×1 output, NaN
  propagates); if the call refuses it, the same rules hold, and if it accepts it,
  every backend must agree with the reference backend;
- ``ACCEPT``: an odd but valid value (a NumPy integer as a size): it must be
  accepted, with the same numbers on every backend.

Valid-but-odd layouts (non-contiguous, Fortran-ordered, big-endian, read-only,
negative strides, other real dtypes) are in :data:`LAYOUTS`; they must give the
same numbers as a plain C-contiguous float64 array.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
from hypothesis import strategies as st

REFUSE = "refuse"
EITHER = "either"
ACCEPT = "accept"

INT64_MAX = 2**63 - 1


@dataclass(frozen=True, repr=False)
class Family:
    """A family of bad values: ``make(baseline)`` is a strategy (``baseline``: the argument's valid value)."""

    name: str
    make: Callable[[Any], st.SearchStrategy]
    outcome: str = REFUSE
    #: Whether the family applies to an argument whose valid value is ``baseline``.
    applies: Callable[[Any], bool] = lambda baseline: True

    def __repr__(self) -> str:  # hypothesis prints the falsifying example's arguments: keep it short
        return f"<family {self.name}>"


def values_of(*vs: Any) -> Callable[[Any], st.SearchStrategy]:
    """A family's ``make`` that draws from these values (whatever the baseline)."""
    return lambda _base: st.sampled_from(vs)


def _also(strategy: st.SearchStrategy, *vs: Any) -> Callable[[Any], st.SearchStrategy]:
    return lambda _base: st.one_of(st.sampled_from(vs), strategy)


# --------------------------------------------------------------------------- scalars
BOOLS = Family("bool", values_of(True, False, np.bool_(True)))
FLOATS = Family(
    "float",
    _also(st.floats(allow_nan=True, allow_infinity=True), 2.0, 1.5, math.nan, math.inf, np.float64(2.0), np.float32(3)),
)
NONPOSITIVE = Family("nonpositive", _also(st.integers(max_value=0), np.int64(-1), np.int8(0), -(2**70)))
NEGATIVE = Family("negative", _also(st.integers(max_value=-1), np.int64(-1), -(2**70)))
#: Ints no int64 can hold: refused, or (shape helpers: exact arithmetic) computed exactly.
HUGE = Family("huge", _also(st.integers(min_value=2**63, max_value=2**300), 2**63, 2**64, 10**400 + 1), EITHER)
#: Ints an int64 holds but no array of that size can exist: a valid 1×1 output (strides) or a ValueError.
BIG = Family("big", _also(st.integers(min_value=2**31, max_value=INT64_MAX), INT64_MAX, np.uint64(2**63 + 5)), EITHER)
NOT_AN_INT = Family("wrong_type", values_of("2", b"2", 2j, [2], {2: 2}, object(), Fraction(2), Decimal(2), print))
#: The valid int as a NumPy integer (``np.int64(3)`` for ``3``): Python's ``Integral``, so a valid size.
NUMPY_INT = Family(
    "numpy_int",
    lambda base: st.sampled_from([np.int64, np.int8, np.uint16, np.intp]).map(lambda t: t(base)),
    ACCEPT,
    applies=lambda base: type(base) is int,
)
ZERO_D = Family("zero_d_array", values_of(np.array(2), np.array(2.0), np.array([2])), EITHER)
BAD_PAIR = Family(
    "bad_pair",
    values_of((), (2,), (2, 2, 2), (2, "2"), (2.0, 2), (True, 2), (2, None), ((2,), 2), (2, 2**70), (2, -1), [2, 0]),
)

#: ``strides``, ``pool_size``, ``kernel_size``: an int ≥ 1 or a pair of them.
SIZE = (BOOLS, FLOATS, NONPOSITIVE, HUGE, BIG, NOT_AN_INT, ZERO_D, BAD_PAIR, NUMPY_INT)
#: An int ≥ 1, no pair (``filters``, ``units``, ``batch_size``…).
COUNT = (BOOLS, FLOATS, NONPOSITIVE, HUGE, BIG, NOT_AN_INT, ZERO_D, NUMPY_INT)
#: An int ≥ 0 (a size ``n``, a seed).
NONNEG = (BOOLS, FLOATS, NEGATIVE, HUGE, BIG, NOT_AN_INT, ZERO_D, NUMPY_INT)

PADDING = (
    Family(
        "bad_string",
        _also(
            st.text(max_size=8).filter(lambda s: s.lower() not in ("valid", "same")),
            "full",
            "",
            " same",
            "causal",
            "valid\x00",
        ),
    ),
    BOOLS,
    FLOATS,
    NEGATIVE,
    Family("huge", _also(st.integers(min_value=2**32, max_value=2**300), 2**40, 2**63, 10**400), EITHER),
    Family(
        "malformed",
        values_of(
            None,
            (1, 2, 3),
            ((1,), (2,)),
            ((1, 2), (3,)),
            ((1, 2), 3),
            ("a", 1),
            ((1, 2), ("a", 0)),
            (None, None),
            [[-1, 0], [0, 0]],
            ((0, 2**70), (0, 0)),
            {1: 2},
            ((1.5, 0), (0, 0)),
            ((True, 0), (0, 0)),
        ),
    ),
    Family("array", values_of(np.array([1, 1]), np.array(1)), EITHER),
)

BACKEND = (
    Family(
        "bad_string",
        _also(
            st.text(max_size=10).filter(lambda s: s.lower() not in ("reference", "numpy", "numba")), "cuda", "NUMBA "
        ),
    ),
    Family("wrong_type", values_of(1, True, b"numba", ["numba"], object(), np.str_("gpu"))),
)

#: Keyword-only switches (``need_dx``, ``from_logits``…): Python truth is accepted, nothing may crash.
FLAG = (Family("odd_truth", values_of("no", "False", None, 2, [], np.bool_(False), np.array([1, 2])), EITHER),)

NAME = (Family("bad_name", values_of("", 1, b"x", ["a"], object())),)
DTYPE = (
    Family("bad_dtype", values_of("float16", "int32", "complex64", "nonsense", object(), 1.5, np.uint8, "datetime64")),
)
ACTIVATION = (Family("bad_activation", values_of("swish", "", "Relu ", 1, ["relu"], np.maximum, b"relu")),)
SHAPE = (
    Family("bad_shape", values_of((0,), (-1, 2), (1.5, 2), "abc", (True, 2), ("1", 2), [[1], 2], object())),
    #: A rank the layer cannot take: refused when given, or when the layer is built.
    Family("rank", values_of((), (5,), (5, 5, 3, 1)), EITHER),
    Family(
        "huge", values_of((2**70,), (2**40, 2**40, 3), (INT64_MAX,), (None, 2**62), (None, 2**40, 2**40, 3)), EITHER
    ),
)


def float_param(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False) -> tuple[Family, ...]:
    """A float in ``[lo, hi]`` (bounds open or closed): bools, non-numbers, non-finite and out-of-range values."""
    outside = []
    if math.isfinite(lo):
        below = st.floats(max_value=lo, allow_nan=False, allow_infinity=False, exclude_max=not lo_open)
        outside.append(below)
    if math.isfinite(hi):
        outside.append(st.floats(min_value=hi, allow_nan=False, allow_infinity=False, exclude_min=not hi_open))
    return (
        BOOLS,
        Family("wrong_type", values_of("0.1", b"0.1", 1j, [0.1], object(), Decimal("0.1"))),
        Family("nonfinite", values_of(math.nan, math.inf, -math.inf, np.float32("nan"))),
        Family("out_of_range", lambda _b: st.one_of(*outside) if outside else st.nothing()),
    )


# --------------------------------------------------------------------------- arrays
EXOTIC_DTYPES = (
    np.complex64,
    np.complex128,
    "U3",
    "S3",
    object,
    "datetime64[s]",
    "timedelta64[s]",
    [("a", "f8"), ("b", "f8")],
    "V8",
)


def _exotic(base: Any) -> st.SearchStrategy:
    shape = np.shape(base) or (2,)
    return st.sampled_from(EXOTIC_DTYPES).map(lambda dt: np.zeros(shape, dtype=dt))


@st.composite
def _ragged(draw: Any, base: Any) -> list:
    """A nested list whose siblings differ in length at one drawn depth: no array has that shape."""
    depth = max(np.ndim(base), 1)
    cut = draw(st.integers(0, depth - 1))
    nested = np.ones((2,) * depth).tolist()
    node = nested
    for _ in range(cut):
        node = node[0]
    if cut == depth - 1:
        node[0] = [1.0]  # a list beside a number: [[1.0], 1.0]
    else:
        node[0].append(copy.deepcopy(node[0][0]))  # three children beside two
    return nested


@st.composite
def _wrong_ndim(draw: Any, base: Any) -> np.ndarray:
    ndim = draw(st.integers(0, 5).filter(lambda d: d != np.ndim(base)))
    shape = draw(st.tuples(*[st.integers(1, 3)] * ndim))
    return np.ones(shape)


@st.composite
def _wrong_shape(draw: Any, base: Any) -> np.ndarray:
    shape = draw(st.tuples(*[st.integers(1, 6)] * np.ndim(base)).filter(lambda s: s != np.shape(base)))
    return np.full(shape, 0.5)


@st.composite
def _empty(draw: Any, base: Any) -> np.ndarray:
    shape = list(np.shape(base)) or [0]
    shape[draw(st.integers(0, len(shape) - 1))] = 0
    return np.zeros(shape)


@st.composite
def nonfinite_like(draw: Any, base: Any, values: tuple = (math.nan, math.inf, -math.inf)) -> np.ndarray:
    """``base`` (as float64) with NaN/±inf written at a few drawn positions."""
    a = np.array(base, dtype=np.float64)
    if a.ndim == 0:
        return np.array(draw(st.sampled_from(values)))
    flat = a.reshape(-1)
    for _ in range(draw(st.integers(1, 3))):
        flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(values))
    return a


@st.composite
def _huge_values(draw: Any, base: Any) -> np.ndarray:
    """``base`` with ONE huge finite (or subnormal) value: every summation order then overflows alike."""
    a = np.array(base, dtype=np.float64)
    flat = a.reshape(-1)
    flat[draw(st.integers(0, max(flat.size - 1, 0)))] = draw(st.sampled_from([1e308, -1e308, 3e38, 5e-324]))
    return a


def array_families(*, ndim_fixed: bool = True, empty_ok: bool = False, squeeze_ok: bool = False) -> tuple[Family, ...]:
    """Bad values for an array argument (its baseline gives the valid shape).

    ``squeeze_ok``: another number of dimensions may be valid (a loss takes ``(N,)`` against ``(N, 1)``, as Keras).
    """
    fams = [
        Family("wrong_type", values_of("abc", b"abc", {"a": 1}, {1, 2}, object(), print)),
        Family("ragged", _ragged),
        Family("exotic_dtype", _exotic),
        Family("wrong_shape", _wrong_shape, EITHER),
        Family("nonfinite", nonfinite_like, EITHER),
        Family("huge_values", _huge_values, EITHER),
    ]
    if ndim_fixed:
        fams.append(Family("wrong_ndim", _wrong_ndim, EITHER if squeeze_ok else REFUSE))
    fams.append(Family("empty", _empty, EITHER if empty_ok else REFUSE))
    return tuple(fams)


ARRAY = array_families()
ANY_ARRAY = array_families(ndim_fixed=False, empty_ok=True)
#: A loss' targets and predictions: ``(N,)`` against ``(N, 1)`` is valid.
LOSS_ARRAY = array_families(squeeze_ok=True)

#: Integer class labels in ``[0, K)``.
LABELS = LOSS_ARRAY + (
    Family("non_integral", values_of(np.array([0.5, 1.0]), np.array([1.0, 1e-9]))),
    Family("out_of_range", values_of(np.array([0, -1]), np.array([0, 3]), np.array([0, 1e20]), np.array([0, 2**62]))),
    Family("nonfinite_labels", values_of(np.array([0, np.nan]), np.array([np.inf, 0]))),
)
#: Targets that are probabilities, in ``[0, 1]``.
PROBABILITY_TARGETS = LOSS_ARRAY + (
    Family("out_of_range", values_of(np.array([[0.0], [2.0]]), np.array([[-1.0], [1.0]]))),
)

CALLABLE = (Family("not_callable", values_of(None, 1, "f", [print], np.ones(2))),)
MAPPING = (
    Family("not_a_mapping", values_of(None, "x", 3, [np.ones(2)], (("x", np.ones(2)),), np.ones(2))),
    Family("bad_entries", values_of({"x": [1.0, [2.0]]}, {"x": np.array(["a"])}, {"x": np.array([1j])})),
)

# --------------------------------------------------------------------------- valid but odd layouts


def _noncontiguous(a: np.ndarray) -> np.ndarray:
    big = np.zeros(tuple(2 * s for s in a.shape) or (), dtype=a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)]
    view[...] = a
    return view


def _readonly(a: np.ndarray) -> np.ndarray:
    out = a.copy()
    out.flags.writeable = False
    return out


def _negative_strides(a: np.ndarray) -> np.ndarray:
    if a.ndim == 0:
        return a.copy()
    return np.flip(a.copy(), axis=0).copy()[::-1]


#: name → transform; each keeps the values (exactly, for the small integers the baselines hold).
LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "noncontiguous": _noncontiguous,
    "fortran": np.asfortranarray,
    "big_endian": lambda a: a.astype(a.dtype.newbyteorder(">")),
    "readonly": _readonly,
    "negative_strides": _negative_strides,
    "float16": lambda a: a.astype(np.float16),
    "longdouble": lambda a: a.astype(np.longdouble),
    "int64": lambda a: a.astype(np.int64) if np.all(a == np.round(a)) else a,
    "uint8": lambda a: a.astype(np.uint8) if np.all((a == np.round(a)) & (a >= 0)) else a,
    "uint64": lambda a: a.astype(np.uint64) if np.all((a == np.round(a)) & (a >= 0)) else a,
}


# --------------------------------------------------------------------------- the web explorer's arguments
#: A property's six examples draw every value of a ``sampled_from`` of at most six (hypothesis 6.155, derandomized);
#: of more, only some. Lists of crafted values, each a case of its own, are cut into families of at most this many.
PER_FAMILY = 6


def families(name: str, *vs: Any, outcome: str = REFUSE) -> tuple[Family, ...]:
    """Families that together draw every one of ``vs`` (``name_1``, ``name_2``… when there are more than six)."""
    return split_families(name, lambda _base: list(vs), len(vs), outcome=outcome)


def split_families(name: str, make: Callable[[Any], list], count: int, *, outcome: str = REFUSE) -> tuple[Family, ...]:
    """As :func:`families`, for ``count`` values made when a case runs: ``make(baseline)`` gives the list."""

    def chunk(base: Any, start: int) -> st.SearchStrategy:
        values = make(base)
        assert len(values) == count, f"family {name}: {len(values)} values, declared {count}"
        return st.sampled_from(values[start : start + PER_FAMILY])

    starts = range(0, count, PER_FAMILY)
    return tuple(
        Family(name if len(starts) == 1 else f"{name}_{j + 1}", functools.partial(chunk, start=start), outcome)
        for j, start in enumerate(starts)
    )


#: A query value that is not a whole number (the explorer's functions take ints as the query string gives them).
BAD_TEXT = Family(
    "bad_text",
    _also(
        st.text(max_size=8).filter(lambda s: not s.strip().lstrip("+-").isdigit()),
        "",
        " ",
        "abc",
        "1.5",
        "0x1",
        "1e2",
        "+-1",
        "1_0",
        "9" * 70,
        "1\x00",
    ),
)


def query_text(*valid: str) -> Family:
    """A whole number written as a query string gives it (``"3"``, ``" 3 "``, ``"+3"``): accepted as that int."""
    return Family("query_text", values_of(*valid), ACCEPT)


#: ``NOT_AN_INT`` without the decimal string (which a query-facing function reads as the int).
NOT_AN_INT_NOR_TEXT = Family("wrong_type", values_of(b"2", 2j, [2], {2: 2}, object(), Fraction(2), Decimal(2), print))


def index_families(valid: int, high: int) -> tuple[Family, ...]:
    """An index in ``[0, high]`` given as an int or a query string (``explain``'s layer, row, col, channel, unit)."""
    return (
        BOOLS,
        FLOATS,
        NEGATIVE,
        HUGE,
        BIG,
        NOT_AN_INT_NOR_TEXT,
        ZERO_D,
        NUMPY_INT,
        Family("missing", values_of(None)),
        Family("out_of_range", _also(st.integers(min_value=high + 1, max_value=2**62), high + 1, str(high + 1), "-1")),
        BAD_TEXT,
        query_text(str(valid), f" {valid} ", f"+{valid}", f"0{valid}"),
    )


@st.composite
def _with_ink(draw: Any, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 image of ``shape``: a grey background, and a white stroke and a black dot at drawn places."""
    a = np.full(shape, draw(st.integers(0, 255)), dtype=np.uint8)
    h, w = shape[:2]
    r, c = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
    a[r:, c] = 255
    a[draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))] = 0
    return a


@st.composite
def _odd_geometry(draw: Any, _base: Any) -> np.ndarray:
    """Images of any size the explorer may meet: 1×1, thin lines, tall strips, big uploads, (H, W, 1), RGB."""
    h = draw(st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 1500, 3000])))
    w = draw(st.one_of(st.integers(1, 40), st.sampled_from([1, 2, 1500])))
    if h * w > 2_000_000:
        w = max(1, 2_000_000 // h)
    channels = draw(st.sampled_from([(), (1,), (3,)]))
    return draw(_with_ink((h, w) + channels))


def _uniform(base: Any) -> st.SearchStrategy:
    shape = np.shape(base)
    return st.one_of(
        st.integers(0, 255).map(lambda v: np.full(shape, v, dtype=np.uint8)),
        st.floats(0, 1).map(lambda v: np.full(shape, v)),
    )


def _image_layouts(base: np.ndarray) -> list[np.ndarray]:
    """The same picture otherwise stored: odd layouts, floats in [0, 1], ``(H, W, 1)``, three equal channels."""
    same = [LAYOUTS[k](base) for k in ("noncontiguous", "fortran", "readonly", "negative_strides")]
    return same + [
        base / 255.0,
        (base / 255.0).astype(np.float32),
        base[:, :, None],
        np.repeat(base[:, :, None], 3, axis=2),
    ]


#: An image argument: ``(H, W)`` or ``(H, W, 3)`` uint8 (0–255) or floats in [0, 1] (the baseline: a uint8 drawing).
IMAGE = array_families()[:6] + (
    Family(
        "wrong_ndim",
        lambda base: st.sampled_from([np.zeros(()), np.zeros(5), np.zeros((2, 2, 2, 2)), np.zeros((4, 4, 2))]),
    ),
    Family("empty", _empty),
    Family(
        "int_dtype",
        lambda base: st.sampled_from([np.int64, np.int16, np.uint16, np.bool_, np.int8]).map(base.astype),
    ),
    Family("float_out_of_range", lambda base: st.sampled_from([base * 1.0, base / 255.0 - 0.5, base / 127.0])),
    Family("blank", _uniform),
    Family("odd_geometry", _odd_geometry, EITHER),
    *split_families("same_picture", _image_layouts, 8, outcome=ACCEPT),
)


class _Hooks:
    """A Keras-style callback with every hook (records nothing: the catalogue only checks the arguments)."""

    def on_train_begin(self, logs: Any = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: Any = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Any = None) -> None: ...
    def on_train_end(self, logs: Any = None) -> None: ...


class _EpochEnd:
    """A callback with one hook."""

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None: ...


class _NotCallableHook:
    on_epoch_end = 1


#: ``fit(callbacks=)``: a list or tuple of objects with Keras hook methods, or None.
CALLBACKS = (
    *families("wrong_type", "abc", 1, object(), _Hooks(), {"on_epoch_end": print}, iter([_Hooks()]), b"", True),
    *families(
        "bad_item", [1], [None], ["on_epoch_end"], [object()], [print], [_NotCallableHook()], (_Hooks(), 1), [_Hooks]
    ),
    Family("callbacks", values_of([], (), [_Hooks()], (_EpochEnd(), _Hooks()), [_EpochEnd()]), ACCEPT),
)


def class_names_families(n: int) -> tuple[Family, ...]:
    """``class_names`` of a model with ``n`` output units: a list or tuple of ``n`` non-empty str, or None."""
    names = [f"c{i}" for i in range(n)]
    return (
        *families(
            "wrong_type",
            "abc",
            b"abc",
            3,
            set(names),
            dict.fromkeys(names),
            np.array(names),
            object(),
            range(n),
            iter(names),
        ),
        Family(
            "bad_item",
            values_of(
                [1] * n,
                names[:-1] + [None],
                names[:-1] + [""],
                [b"a"] + names[1:],
                names[:-1] + [["x"]],
                tuple(names[:-1]) + (3.0,),
            ),
        ),
        Family("wrong_count", values_of([], names[:1], names[:-1], names + ["extra"], ["x"] * 1000)),
        Family(
            "names",
            values_of(
                None, tuple(names), [str(i) for i in range(n)], [np.str_("a")] + names[1:], ["é", "名"] + names[2:]
            ),
            ACCEPT,
        ),
    )
