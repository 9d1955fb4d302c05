"""Grader of exercise 6: ``relu(x)`` and a numerically stable ``softmax(z)``.

``relu(x) = max(x, 0)`` element by element (Keras ``relu``); ``softmax(z)`` over the last axis,
``e^(z_i − max z) / Σ_j e^(z_j − max z)`` (Keras ``softmax``; subtracting the row's maximum does not
change the result and keeps ``e`` from overflowing). The expected answers come from convlab's
:func:`convlab.ops.activations.relu` and :func:`~convlab.ops.activations.softmax`.

The slides (seeds/003) show no worked softmax; ReLU's first case feeds the slides' 5×5 ⋆ sharpen output
(``[[266, −61, −30], …]``) through ReLU, and softmax's first case is a small readable one. A softmax case
with logits near ±1000 catches the unstable formula ``e^z / Σ e^z``, and one whose rows span 2000 catches a
shift by the row's minimum or mean (right on narrow rows, where nothing overflows): they give NaN there,
which the framework reports through :func:`explain_not_finite` rather than :func:`diagnose`.

Softmax inputs are float32-exact numbers, so a correct softmax computed in float32 (a learner who converts z)
passes as in every other exercise; a float32 answer that fails only by float32's rounding is told so
(``float32_precision``) rather than shown a first wrong number that looks right.
"""

from __future__ import annotations

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.compare import first_wrong, format_index, relative_error, same_shape_and_close
from convlab.exercises.diagnosis import number_text, shape_mismatch, shape_text, wrong_element
from convlab.ops.activations import relu as reference_relu
from convlab.ops.activations import softmax as reference_softmax
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "cases", "diagnose", "explain_not_finite"]

HINTS: tuple[str, ...] = (
    N_(
        "ReLU keeps a positive number and turns a negative one into 0. Softmax turns each row of scores into "
        "probabilities: positive numbers that add up to 1 along the last axis."
    ),
    N_(
        "relu(x) = max(x, 0) for every element, same shape as x. softmax: for each row z (last axis), "
        "out_i = e^(z_i − m) / Σ_j e^(z_j − m) with m = the largest z_j of that row. Subtracting m changes nothing "
        "mathematically, but keeps e^… from overflowing (e^1000 is inf in float64)."
    ),
    N_(
        "For softmax, work row by row along the last axis: find the row's maximum, exponentiate each entry minus "
        "that maximum, add those exponentials up, and divide each one by the sum. Never mix numbers of different "
        "rows (samples)."
    ),
)

# The slides' 5×5 image ⋆ sharpen kernel (seeds/003; exercise 2): negative and positive numbers to feed ReLU.
_SLIDE_CONV_OUTPUT = [[266, -61, -30], [116, -47, 295], [-135, 256, -128]]

# Above this, e^z overflows float64 (e^709.78 ≈ 1.8·10^308); below −745, e^z underflows to 0.
_EXP_OVERFLOW = 709.78
_EXP_UNDERFLOW = -745.0
# The same limits in float32 (e^88.72 ≈ 3.4·10^38; e^−103.9 is below the smallest subnormal), for a learner who
# computes in float32: (overflow, underflow, the type's name, its largest number in words).
_EXP_LIMITS = {
    np.dtype(np.float64): (_EXP_OVERFLOW, _EXP_UNDERFLOW, "float64", N_("about 1.8·10^308; e^710 already is")),
    np.dtype(np.float32): (88.72, -103.9, "float32", N_("about 3.4·10^38; e^89 already is")),
}
# A float32 answer is "right to float32 precision" when it is this close to the exact softmax of the
# float32-rounded inputs: float32's own arithmetic (exp, sum, division) adds ~1e-7, far below this.
_FLOAT32_TOLERANCE = 1e-5


def _relu_case(name: str, x: np.ndarray, slide: bool = False) -> Case:
    x = np.asarray(x, dtype=np.float64)
    return Case(name=name, function="relu", args=(x,), expected=reference_relu(x), slide=slide)


def _softmax_case(name: str, z: np.ndarray, slide: bool = False) -> Case:
    # float32-exact logits: a learner who converts z to float32 loses nothing in the conversion. Near ±800 that
    # conversion would move z by up to 3·10^−5 (float32 keeps ~7 digits) and the probabilities by ~10^−5, above
    # the 10^−6 tolerance — a correct float32 softmax would fail. With exact inputs, z − max z is exact too
    # (numbers within a factor 2 of each other subtract exactly) and e^(z − max z) loses only float32's ~10^−7
    # rounding, as every other exercise allows.
    z = np.asarray(z, dtype=np.float64).astype(np.float32).astype(np.float64)
    return Case(name=name, function="softmax", args=(z,), expected=reference_softmax(z), slide=slide)


def _with_zeros(rng: np.random.Generator, x: np.ndarray, count: int) -> np.ndarray:
    """``x`` with ``count`` entries set to exactly 0 (ReLU's kink: ``max(0, 0) = 0``)."""
    flat = x.reshape(-1).copy()
    flat[rng.choice(flat.size, size=min(count, flat.size), replace=False)] = 0.0
    return flat.reshape(x.shape)


def cases(rng: np.random.Generator) -> list[Case]:
    """ReLU cases, then softmax cases: readable numbers first, then random ones (tiny: pure-Python loops must be fast).

    ReLU: the slides' convolution output, then 1-D to 4-D (NHWC) arrays with exact zeros. Softmax
    (rows = samples, last axis = classes): a readable 2×3, logits near ±1000 (the stability test), rows
    spanning 2000 (only the row's MAXIMUM keeps every e^… finite: subtracting the minimum gives e^2000, the
    mean e^1000), one row, a square batch (catches a row sum that is not kept as a column), a 3-D array (the
    LAST axis), random batches.
    """
    out = [
        _relu_case(_("slides: the 5×5 ⋆ sharpen output through ReLU"), np.array(_SLIDE_CONV_OUTPUT), slide=True),
        _relu_case(_("readable: [[−2, −1, 0, 1, 2, 3]]"), np.array([[-2.0, -1.0, 0.0, 1.0, 2.0, 3.0]])),
        _relu_case(_("random (7,)"), _with_zeros(rng, rng.standard_normal(7) * 3, 1)),
        _relu_case(_("random (2, 5)"), _with_zeros(rng, rng.standard_normal((2, 5)) * 3, 2)),
        _relu_case(_("random NHWC (2, 4, 3, 3)"), _with_zeros(rng, rng.standard_normal((2, 4, 3, 3)), 3)),
        _relu_case(_("random NHWC (1, 5, 6, 2)"), _with_zeros(rng, rng.standard_normal((1, 5, 6, 2)) * 10, 2)),
        _softmax_case(
            _("readable: z = [[1, 2, 3], [1, 1, 1]]"), np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]]), slide=True
        ),
        _softmax_case(
            _("large logits: z = [[1000, 1001, 1002], [−1000, −999, −998]] (each row the same as [0, 1, 2])"),
            np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -998.0]]),
        ),
        # Rows spanning 2000: the narrow rows above hide a shift by the row's minimum or mean (e^(z − min) and
        # e^(z − mean) stay small there); here only the maximum keeps e^… finite. The second row tells the
        # mistakes apart: e^z underflows everywhere (0/0), e^(z − mean) overflows at its last entry only,
        # e^(z − min) at its last two.
        _softmax_case(
            _("wide rows: z = [[−1000, 0, 1000], [−3000, −2000, −1000]] (each row gives [0, 0, 1])"),
            np.array([[-1000.0, 0.0, 1000.0], [-3000.0, -2000.0, -1000.0]]),
        ),
        _softmax_case(_("random: one sample, 10 classes (1, 10)"), rng.standard_normal((1, 10)) * 2),
        _softmax_case(_("random: a square batch (3, 3)"), rng.standard_normal((3, 3)) * 2),
        _softmax_case(_("random (4, 5)"), rng.standard_normal((4, 5)) * 3),
        _softmax_case(_("random 3-D (2, 3, 4): softmax over the last axis"), rng.standard_normal((2, 3, 4)) * 2),
        _softmax_case(
            _("random (2, 6): logits near +800 and near −800"), rng.standard_normal((2, 6)) * 3 + [[800.0], [-800.0]]
        ),
    ]
    return out


# --------------------------------------------------------------------------------------------- relu
def _diagnose_relu(case: Case, got: np.ndarray) -> Diagnosis | None:
    x = np.asarray(case.args[0], dtype=float)
    expected = np.asarray(case.expected, dtype=float)
    if got.shape != expected.shape:
        return shape_mismatch(
            "out",
            got.shape,
            expected.shape,
            _("ReLU works element by element, so its output has the shape of x {shape}.").format(
                shape=shape_text(x.shape)
            ),
        )
    neg = x < 0
    pos = x > 0
    if same_shape_and_close(got, x):
        message = _(
            "Your relu returns x unchanged: the negative numbers must become 0 (relu(x) = max(x, 0)), e.g. {example}."
        )
        return Diagnosis("keeps_negatives", message.format(example=_first_example(x, neg)))
    for mask, sign in (((x > 0), "> 0"), ((x >= 0), "≥ 0")):
        if same_shape_and_close(got, mask.astype(float)):
            message = _(
                "Your relu returns the mask x {sign} (1 where x {sign}, 0 elsewhere) instead of the values: a "
                "positive number must stay itself, not become 1; only negative numbers become 0, e.g. {example}."
            )
            return Diagnosis("relu_mask", message.format(sign=sign, example=_first_example(x, pos)))
    if same_shape_and_close(got, np.minimum(x, 0.0)):
        message = _(
            "Your relu keeps the negative numbers and zeroes the positive ones: that is min(x, 0). ReLU is max(x, 0): "
            "{example}."
        )
        return Diagnosis("min_instead_of_max", message.format(example=_first_example(x, pos)))
    if same_shape_and_close(got, np.abs(x)):
        message = _("Your relu returns |x|: a negative number must become 0, not change sign, e.g. {example}.")
        return Diagnosis("absolute_value", message.format(example=_first_example(x, neg)))
    if neg.any() and np.allclose(got[~neg], expected[~neg]):
        slope = got[neg] / x[neg]
        if np.allclose(slope, slope[0]) and 0 < abs(slope[0]) < 1:
            message = _(
                "Your relu multiplies negative numbers by {slope} (a leaky ReLU). Plain ReLU makes them exactly 0: "
                "{example}."
            )
            return Diagnosis(
                "leaky_relu", message.format(slope=number_text(slope[0], digits=4), example=_first_example(x, neg))
            )
    index = first_wrong(got, expected, case.tolerance)
    if index is None:
        return None
    v = x[index]
    xi = format_index("x", index)
    if v < 0:
        why = _("{index} = {value} is negative, so ReLU gives max({value}, 0) = 0.")
    else:
        why = _("{index} = {value} is not negative, so ReLU keeps it: max({value}, 0) = {result}.")
    why = why.format(index=xi, value=number_text(v), result=number_text(max(v, 0.0)))
    return wrong_element("out", index, got[index], expected[index], why)


def _first_example(x: np.ndarray, mask: np.ndarray) -> str:
    """``"x[0, 1] = −61 → 0"`` for the first element of ``mask`` (ReLU's answer for it)."""
    if not mask.any():
        return _("relu(−2) = 0 and relu(3) = 3")
    index = tuple(int(i) for i in np.argwhere(mask)[0])
    v = float(x[index])
    return f"{format_index('x', index)} = {number_text(v)} → {number_text(max(v, 0.0))}"


# ------------------------------------------------------------------------------------------ softmax
def _softmax_axis(z: np.ndarray, axis: int | None) -> np.ndarray:
    """Stable softmax over ``axis`` (``None``: over the whole array)."""
    m = np.max(z, axis=axis, keepdims=True)
    e = np.exp(z - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def _wrong_axis_text(axis: int | None, ndim: int) -> str:
    if axis is None:
        message = _(
            "You normalised over the whole array (all samples together), so only the grand total is 1. Softmax "
            "works on each sample separately: along the last axis (the classes), every row must sum to 1 — take "
            "the max and the sum along the last axis only."
        )
    elif axis == 0:
        message = _(
            "You normalised over axis 0, the batch axis: each column (one class across the samples) sums to 1. "
            "Softmax works on each sample separately: along the last axis (the classes), every row must sum to 1 — "
            "take the max and the sum along the last axis only."
        )
    else:
        message = _(
            "You normalised over axis {axis} instead of the last axis ({last}). Softmax works on each sample "
            "separately: along the last axis (the classes), every row must sum to 1 — take the max and the sum "
            "along the last axis only."
        )
    return message.format(axis=axis, last=ndim - 1)


def _diagnose_softmax(case: Case, got: np.ndarray, dtype: np.dtype) -> Diagnosis | None:
    z = np.asarray(case.args[0], dtype=float)
    expected = np.asarray(case.expected, dtype=float)
    k = z.shape[-1]
    if got.shape != expected.shape:
        if got.shape == z.shape[:-1] or got.shape == z.shape[:-1] + (1,):
            why = _(
                "one number per sample is not enough: softmax gives a probability for each of the K = {k} classes, "
                "the same shape as z {shape} (the sum over the last axis is only the denominator)."
            ).format(k=k, shape=shape_text(z.shape))
        else:
            why = _(
                "softmax keeps the shape of z {shape}: a probability for each of the K = {k} classes (last axis) of "
                "each sample."
            ).format(k=k, shape=shape_text(z.shape))
        return shape_mismatch("out", got.shape, expected.shape, why)
    if dtype == np.float32:
        z32 = z.astype(np.float32).astype(float)  # what the learner computed from
        if same_shape_and_close(got, _softmax_axis(z32, -1), _FLOAT32_TOLERANCE):
            return _float32_precision(case, got, z, z32, expected)
        z = z32  # the mistakes below, as a float32 learner makes them
    for axis in [a for a in range(z.ndim - 1)] + [None]:
        if z.ndim == 1 and axis is None:
            continue
        if same_shape_and_close(got, _softmax_axis(z, axis)):
            return Diagnosis("wrong_axis", _wrong_axis_text(axis, z.ndim))
    m = np.max(z, axis=-1, keepdims=True)
    e = np.exp(z - m)
    with np.errstate(all="ignore"):  # inf/NaN candidates (e^z beyond 709, rows summing to 0) match no finite answer
        plain_exp = np.exp(z)
        no_exp = (z / np.sum(z, axis=-1, keepdims=True), (z - m) / np.sum(z - m, axis=-1, keepdims=True))
        square = z.ndim >= 2 and z.shape[-1] == z.shape[-2]
        # The row sums without keepdims have shape (..., K): dividing broadcasts them along the rows.
        unkept = (e / np.sum(e, axis=-1), plain_exp / np.sum(plain_exp, axis=-1)) if square else ()
    if square:
        if any(same_shape_and_close(got, candidate) for candidate in unkept):
            return Diagnosis(
                "keepdims_missing",
                _(
                    "You divided element [i, j] by the sum of row j instead of row i: the row sums form a 1-D array, "
                    "and dividing the (rows, K) array by it lines the sums up with the columns (NumPy broadcasting; "
                    "with a non-square batch it raises an error). Keep the sums as a column (one per row) before "
                    "dividing."
                ),
            )
    for candidate in no_exp:
        if same_shape_and_close(got, candidate):
            return Diagnosis(
                "missing_exp",
                _(
                    "You divided the scores by their sum without exponentiating them first: softmax divides e^(z_i "
                    "− max z) by the sum of those exponentials, which makes every output positive."
                ),
            )
    if same_shape_and_close(got, e) or same_shape_and_close(got, plain_exp):
        return Diagnosis(
            "not_normalised",
            _(
                "You exponentiated but did not divide by the sum: each row of the output must add up to 1 — divide "
                "each e^(z_i − max z) by the sum of the row's exponentials."
            ),
        )
    log_softmax = z - m - np.log(np.sum(e, axis=-1, keepdims=True))
    if same_shape_and_close(got, log_softmax):
        return Diagnosis(
            "log_softmax",
            _(
                "You returned the logarithm of softmax (z_i − max z − log Σ e^(z_j − max z)): softmax is the "
                "probabilities themselves, e^(z_i − max z) / Σ_j e^(z_j − max z)."
            ),
        )
    index = first_wrong(got, expected, case.tolerance)
    if index is None:
        return None
    g, x = _distinct_texts(float(got[index]), float(expected[index]))
    first = _("{index} is {got} but should be {expected} (the first wrong number).").format(
        index=format_index("out", index), got=g, expected=x
    )
    return Diagnosis("first_wrong", first + "\n" + _softmax_formula(z, index, expected[index]))


def _distinct_texts(got: float, expected: float) -> tuple[str, str]:
    """The two numbers with just enough significant digits (6 at least) to show that they differ."""
    for digits in range(6, 17):
        a, b = number_text(got, digits=digits), number_text(expected, digits=digits)
        if a != b:
            return a, b
    return number_text(got, digits=17), number_text(expected, digits=17)


def _float32_precision(case: Case, got: np.ndarray, z: np.ndarray, z32: np.ndarray, expected: np.ndarray) -> Diagnosis:
    """A float32 answer that is right for z rounded to float32: only the rounding is off."""
    index = first_wrong(got, expected, case.tolerance)
    if index is None:  # not reached: diagnose is called for wrong answers only
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(got - expected))), got.shape))
    row = index[:-1]  # the wrong number's row: its largest rounding of z
    zi = (*row, int(np.argmax(np.abs(z32[row] - z[row]))))
    g, x = _distinct_texts(float(got[index]), float(expected[index]))
    shift = float(abs(z32[zi] - z[zi]))
    if shift > 0:
        message = _(
            "{index} is {got} but should be {expected}: your softmax is right, but it works in float32 (your output's "
            "dtype), which keeps only about 7 significant digits: rounding z to float32 moved {z_index} = {z_value} "
            "by {shift:.1e}, and the probabilities are off by {error:.1e}, more than the {tolerance:g} allowed. Keep "
            "the numbers in float64 (the dtype of z): do not convert z, or the array you fill, to float32."
        )
    else:
        message = _(
            "{index} is {got} but should be {expected}: your softmax is right, but it works in float32 (your output's "
            "dtype), which keeps only about 7 significant digits: the probabilities are off by {error:.1e}, more than "
            "the {tolerance:g} allowed. Keep the numbers in float64 (the dtype of z): do not convert z, or the array "
            "you fill, to float32."
        )
    return Diagnosis(
        "float32_precision",
        message.format(
            index=format_index("out", index),
            got=g,
            expected=x,
            z_index=format_index("z", zi),
            z_value=number_text(float(z[zi]), digits=8),
            shift=shift,
            error=relative_error(got, expected),
            tolerance=case.tolerance,
        ),
    )


def _softmax_formula(z: np.ndarray, index: tuple[int, ...], value: float) -> str:
    """``out[0, 1] = e^(2 − 3) / (e^(1 − 3) + e^(2 − 3) + e^(3 − 3)) = 0.2447`` (short rows in full)."""
    row = z[index[:-1]]
    m = float(np.max(row))
    zi = float(row[index[-1]])
    mt = number_text(m, in_sum=True, digits=4)

    def term(v: float) -> str:
        return f"e^({number_text(v, digits=4)} − {mt})"

    if row.size <= 6:
        denominator = " + ".join(term(float(v)) for v in row)
    else:
        denominator = _("{first} + … + {last} ({n} terms)").format(
            first=term(float(row[0])), last=term(float(row[-1])), n=row.size
        )
    return _("With the row {row} and its max {max}: {index} = {term} / ({denominator}) = {value}.").format(
        row=format_index("z", index[:-1]),
        max=number_text(m, digits=4),
        index=format_index("out", index),
        term=term(zi),
        denominator=denominator,
        value=number_text(value, digits=4),
    )


def _shifted_softmax(z: np.ndarray, shift: np.ndarray | float) -> np.ndarray:
    """``e^(z − shift) / Σ e^(z − shift)`` in z's dtype, overflowing as the learner's would."""
    with np.errstate(all="ignore"):
        e = np.exp(z - shift)
        return e / np.sum(e, axis=-1, keepdims=True)


def _naive_softmax(z: np.ndarray) -> np.ndarray:
    return _shifted_softmax(z, 0.0)


def _global_max_softmax(z: np.ndarray) -> np.ndarray:
    return _shifted_softmax(z, np.max(z))


def _same_with_nonfinite(got: np.ndarray, candidate: np.ndarray, tolerance: float = 1e-6) -> bool:
    """Same shape, NaN/inf in the same places (and the same infs), finite values close."""
    if got.shape != candidate.shape:
        return False
    g_fin, c_fin = np.isfinite(got), np.isfinite(candidate)
    if not np.array_equal(g_fin, c_fin):
        return False
    if not np.array_equal(np.isnan(got), np.isnan(candidate)):
        return False
    if not np.array_equal(got[np.isinf(got)], candidate[np.isinf(candidate)]):
        return False
    return same_shape_and_close(got[g_fin], candidate[c_fin], tolerance)


def _explain_softmax_not_finite(case: Case, got: np.ndarray, dtype: np.dtype) -> Diagnosis | None:
    limit_over, limit_under, type_name, largest = _EXP_LIMITS.get(dtype, _EXP_LIMITS[np.dtype(np.float64)])
    largest = _(largest)
    z = np.asarray(case.args[0], dtype=dtype if dtype in _EXP_LIMITS else float)  # overflow as the learner's did
    bad = ~np.isfinite(got)
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    row = z[index[:-1]]
    row_text = "[" + ", ".join(number_text(v, digits=4) for v in row[:6]) + (", …]" if row.size > 6 else "]")
    # What every message starts from: which output is not finite, and its row of z.
    where = {
        "index": format_index("out", index),
        "value": number_text(got[index]),
        "row": format_index("z", index[:-1]),
        "values": row_text,
    }
    with np.errstate(all="ignore"):
        no_exp = z / np.sum(z, axis=-1, keepdims=True)
    if _same_with_nonfinite(got, no_exp):
        message = _(
            "{index} is {value} for the row {row} = {values}: you divided the scores by their sum without "
            "exponentiating them first, and this row sums to {total}, so the division fails. Softmax divides "
            "e^(z_i − max z) by the sum of those exponentials, which is never 0 (its largest term is e^0 = 1) and "
            "makes every output positive."
        )
        return Diagnosis("missing_exp", message.format(total=number_text(float(np.sum(row))), **where))
    naive = _same_with_nonfinite(got, _naive_softmax(z))
    if not naive:
        shifts = (
            (
                N_(
                    "{index} is {value} for the row {row} = {values}: you subtracted each row's minimum ({shift} "
                    "here) instead of its maximum. That changes nothing mathematically, and on rows whose numbers are "
                    "close together it works, but here the largest term is e^({top} − {shift_in_sum}) = e^{power}, "
                    "larger than the largest {type} ({largest}), so it becomes inf, and inf/inf is NaN. Subtract the "
                    "row's MAXIMUM: then every exponent is ≤ 0, the largest term is e^0 = 1, and nothing can overflow."
                ),
                np.min(z, axis=-1, keepdims=True),
            ),
            (
                N_(
                    "{index} is {value} for the row {row} = {values}: you subtracted each row's mean ({shift} here) "
                    "instead of its maximum. That changes nothing mathematically, and on rows whose numbers are close "
                    "together it works, but here the largest term is e^({top} − {shift_in_sum}) = e^{power}, larger "
                    "than the largest {type} ({largest}), so it becomes inf, and inf/inf is NaN. Subtract the row's "
                    "MAXIMUM: then every exponent is ≤ 0, the largest term is e^0 = 1, and nothing can overflow."
                ),
                np.mean(z, axis=-1, keepdims=True),
            ),
        )
        for message, shift in shifts:
            if _same_with_nonfinite(got, _shifted_softmax(z, shift)):
                s = float(shift[index[:-1]][0])
                top = float(np.max(row)) - s
                return Diagnosis(
                    "unstable_softmax",
                    _(message).format(
                        shift=number_text(s, digits=6),
                        top=number_text(float(np.max(row)), digits=6),
                        shift_in_sum=number_text(s, in_sum=True, digits=6),
                        power=number_text(top, digits=6),
                        type=type_name,
                        largest=largest,
                        **where,
                    ),
                )
    overflow, underflow = float(np.max(row)) > limit_over, bool(np.all(row < limit_under))
    if _same_with_nonfinite(got, _global_max_softmax(z)) and not naive:
        message = _(
            "{index} is {value}: you subtracted the largest number of the whole array ({max}) instead of each row's "
            "own maximum. For the row {row} = {values} every e^(z − {max}) underflows to 0, and 0/0 is NaN. Subtract "
            "the max of each row (along the last axis): then each row's largest term is e^0 = 1."
        )
        return Diagnosis("global_max", message.format(max=number_text(float(np.max(z))), **where))
    if not (overflow or underflow or np.max(np.abs(z)) > limit_over):
        return None  # moderate logits: NaN comes from elsewhere; the framework's generic message fits
    if overflow:
        why = _(
            "e^{power} is larger than the largest {type} ({largest}), so it becomes inf, and inf/inf is NaN"
        ).format(power=number_text(float(np.max(row))), type=type_name, largest=largest)
    elif underflow:
        why = _(
            "e^({power}) is smaller than the smallest {type}, so every term of the row becomes 0, and 0/0 is NaN"
        ).format(power=number_text(float(np.max(row))), type=type_name)
    else:
        why = _("e^z overflows to inf (or underflows to 0) for logits this large, and inf/inf or 0/0 is NaN")
    if naive:
        message = _(
            "{index} is {value} for the row {row} = {values}: you computed e^z / Σ e^z directly, and {why}. Subtract "
            "the max of each row first, e^(z_i − max z) / Σ_j e^(z_j − max z): the result is the same (the factor "
            "e^(−max z) cancels), but the largest exponential is e^0 = 1, so nothing overflows."
        )
    else:
        message = _(
            "{index} is {value} for the row {row} = {values}: probably {why}. Subtract the max of each row first, "
            "e^(z_i − max z) / Σ_j e^(z_j − max z): the result is the same (the factor e^(−max z) cancels), but the "
            "largest exponential is e^0 = 1, so nothing overflows."
        )
    return Diagnosis("unstable_softmax", message.format(why=why, **where))


# ------------------------------------------------------------------------------------------- shared
def diagnose(case: Case, got) -> Diagnosis | None:
    """Why the learner's ``relu``/``softmax`` output is wrong (called for finite, wrong outputs of the right type).

    relu: wrong_shape, keeps_negatives (identity), relu_mask (returns ``x > 0``), min_instead_of_max,
    absolute_value, leaky_relu, else first_wrong with ``max(v, 0)`` spelled out. softmax: wrong_shape,
    wrong_axis (normalised over the batch axis, another axis, or the whole array), keepdims_missing (row sums
    broadcast along the rows: square batches), missing_exp, not_normalised, log_softmax, else first_wrong with
    the element's formula. A float32 output that is right for z rounded to float32 (off only by float32's
    rounding): float32_precision; a float32 output's mistakes are looked for on the float32-rounded z.
    """
    dtype = np.asarray(got).dtype
    got = np.asarray(got, dtype=float)
    if same_shape_and_close(got, case.expected, case.tolerance):
        return None  # right after all (a mistake that changes nothing on this case's numbers)
    if case.function == "relu":
        return _diagnose_relu(case, got)
    if case.function == "softmax":
        return _diagnose_softmax(case, got, dtype)
    return None


def explain_not_finite(case: Case, got) -> Diagnosis | None:
    """Why the learner's output holds NaN or inf, where this exercise can tell (the framework's hook).

    softmax: ``missing_exp`` (the scores divided by their sum, which is 0 for a row), ``unstable_softmax`` (e^z
    of logits beyond ±709 — ±88 in float32 — overflows or underflows, or each row's minimum or mean was
    subtracted instead of its maximum: a row spanning more than ~709 overflows; subtract each row's max) or
    ``global_max`` (the max of the whole array subtracted: a row far below it underflows to 0/0). ``None``
    otherwise (the framework's generic not_finite message).
    """
    if case.function != "softmax":
        return None
    try:
        dtype = np.asarray(got).dtype
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return None
    if got.shape != np.shape(case.expected) or np.all(np.isfinite(got)):
        return None
    return _explain_softmax_not_finite(case, got, dtype)
