"""Grader of exercise 1: ``output_size(n, kernel_size, padding, stride)`` → the output length T.

The slides (seeds/003, lesson 05) count ``T = (N + 2·P − K)/S + 1``; Keras floors the division
(``conv_utils.conv_output_length``); ``"valid"`` is P = 0 and ``"same"`` is TensorFlow's
``T = ⌈N/S⌉`` whatever K is. The expected value is :func:`convlab.shapes.conv_output_size`.
"""

from __future__ import annotations

import math

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.diagnosis import number_text, size_formula_text
from convlab.shapes.sizes import conv_output_size
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "cases", "diagnose"]

FUNCTION = "output_size"

HINTS: tuple[str, ...] = (
    N_(
        "Count the positions of the window: it starts at the first pixel and moves S pixels at a time until it no "
        "longer fits inside the padded input (N + 2P pixels). The answer is a whole number."
    ),
    N_(
        "T = (N + 2·P − K)/S + 1 with the division rounded DOWN (Keras floors it); P is added on both sides, hence "
        '2·P. "valid" means P = 0. "same" ignores K: T = N/S rounded UP (TensorFlow), so N = 7, S = 2 gives 4.'
    ),
    N_(
        'Handle the two strings first ("same" → the rounded-up N/S; "valid" → P = 0), then use the formula with an '
        "integer (floor) division for an int P."
    ),
)


def _case(n: int, k: int, padding: int | str, s: int, *, slide: bool = False, why: str = "") -> Case:
    """``why``: what the case is about, marked for the catalogs (``N_("floor")``), shown translated before its sizes."""
    name = f"N={n}, K={k}, padding={padding!r}, S={s}"
    if why:
        name = f"{_(why)}: {name}"
    return Case(
        name=name,
        function=FUNCTION,
        args=(n, k, padding, s),
        expected=int(conv_output_size(n, k, padding, s)),
        slide=slide,
        output_names=("T",),
        context={"n": n, "k": k, "padding": padding, "stride": s},
    )


def cases(rng: np.random.Generator) -> list[Case]:
    """The slides' sizes first, then random ones: floors, "valid", "same" with strides and even kernels."""
    out = [
        _case(5, 3, 1, 2, slide=True, why=N_("slide, 5×5×3 example")),
        _case(28, 3, 0, 1, slide=True, why=N_("slide, MNIST conv")),
        _case(5, 3, 0, 1, slide=True, why=N_("slide, sharpen, no padding")),
        _case(5, 3, 1, 1, slide=True, why=N_("slide, sharpen, padding 1")),
    ]

    def draw(pred, ns=(5, 31), ks=(1, 6), ps=(0, 3), ss=(1, 4)):
        for _attempt in range(100_000):
            n = int(rng.integers(*ns))
            k = int(rng.integers(*ks))
            p = int(rng.integers(*ps))
            s = int(rng.integers(*ss))
            if n + 2 * p >= k and pred(n, k, p, s):
                return n, k, p, s
        raise AssertionError("no size satisfies the case's condition")  # a bug in the condition, not in a learner

    # An int P > 0 with a stride that does not divide (N + 2P − K): the floor matters, and P, S and +1 all show.
    n, k, p, s = draw(
        lambda n, k, p, s: 0 < p < k and s > 1 and (n + 2 * p - k) % s != 0 and _int_distinct(n, k, p, s),
        ps=(3, 5),
        ss=(2, 3),
    )
    out.append(_case(n, k, p, s, why=N_("floor")))
    # An int P > 0 at stride 1 (P counted twice shows).
    n, k, p, s = draw(lambda n, k, p, s: s == 1 and k > 1 and _int_distinct(n, k, p, s), ps=(2, 4))
    out.append(_case(n, k, p, s))
    # "valid" with a stride and a floor.
    n, k, *_rest, s = draw(
        lambda n, k, p, s: s > 1 and (n - k) % s != 0 and k > 2 and n >= k and _valid_distinct(n, k, s)
    )
    out.append(_case(n, k, "valid", s, why=N_("valid")))
    # "same" at stride 1, at an odd N with stride 2 (ceil ≠ floor), and with an even kernel and stride 3.
    n, k, *_rest = draw(lambda n, k, p, s: k > 1)
    out.append(_case(n, k, "same", 1, why=N_("same")))
    n, k, *_rest = draw(lambda n, k, p, s: n % 2 == 1 and k % 2 == 1 and k > 1)
    out.append(_case(n, k, "same", 2, why=N_("same, stride 2")))
    n, k, *_rest = draw(lambda n, k, p, s: n % 3 != 0 and k % 2 == 0 and (n - 2) // 3 + 1 != -(-n // 3))
    out.append(_case(n, k, "same", 3, why=N_("same, even kernel")))
    # An int P with a stride that divides exactly.
    n, k, p, s = draw(
        lambda n, k, p, s: 0 < p < k and s > 1 and (n + 2 * p - k) % s == 0 and _int_distinct(n, k, p, s),
        ps=(3, 5),
        ss=(2, 3),
    )
    out.append(_case(n, k, p, s))
    return out


def _int_mistakes(n: int, k: int, p: int, s: int) -> list[int]:
    """The sizes the usual mistakes give for an int P: no +1, P once, P ignored, stride ignored, rounded up."""
    span = n + 2 * p - k
    out = [span // s, (n + p - k) // s + 1, (n - k) // s + 1]
    if s > 1:
        out.append(span + 1)
    if span % s:
        out.append(-(-span // s) + 1)
    return out


def _int_distinct(n: int, k: int, p: int, s: int) -> bool:
    """Whether each usual mistake gives its own size here, different from the answer (so each is named)."""
    values = [(n + 2 * p - k) // s + 1, *_int_mistakes(n, k, p, s)]
    return len(set(values)) == len(values)


def _valid_distinct(n: int, k: int, s: int) -> bool:
    """Whether the usual mistakes with "valid" (N, ⌈N/S⌉, a P from K) give sizes no other mistake gives."""
    span = n - k
    generic = {span // s + 1, span // s, -(-span // s) + 1, round(span / s) + 1, span + 1}
    valid_mistakes = {n, -(-n // s), (n + 2 * ((k - 1) // 2) - k) // s + 1}
    return not (generic & valid_mistakes)


def _formula(n: int, k: int, padding: int | str, s: int) -> str:
    if padding == "same":
        t = -(-n // s)
        if n % s == 0:
            return _('T = N/S = {n}/{s} = {t} (TensorFlow\'s "same" ignores K)').format(n=n, s=s, t=t)
        return _('T = ⌈N/S⌉ = ⌈{n}/{s}⌉ = {t} (TensorFlow\'s "same" rounds up and ignores K)').format(n=n, s=s, t=t)
    p = 0 if padding == "valid" else int(padding)
    text = size_formula_text(n, k, p, s)
    return _('{formula} ("valid" means P = 0)').format(formula=text) if padding == "valid" else text


def _eq(got, value) -> bool:
    return math.isclose(float(got), float(value), rel_tol=0, abs_tol=1e-9)


def diagnose(case: Case, got) -> Diagnosis | None:
    """Name the mistake that gives ``got``: no floor, no +1, P once, stride or padding ignored, "same"/"valid" wrong."""
    n, k, padding, s = case.args
    expected = case.expected
    formula = _formula(n, k, padding, s)
    if isinstance(got, np.ndarray) and got.shape in ((), (1,)):
        got = got.reshape(-1)[0]
    if isinstance(got, bool) or not isinstance(got, (int, float, np.integer, np.floating)):
        return None
    g = float(got)
    is_float = isinstance(got, (float, np.floating))
    whole = g.is_integer()
    shown = repr(g) if is_float else number_text(g)
    if whole and _eq(g, expected):
        # "same" rounds N/S UP: "use //" (a floor) would be wrong advice; the fix is a whole number from a ceiling.
        same = padding == "same"
        if is_float:
            if same:
                message = _(
                    "You returned {shown}, a float: the value is right, but a size is a whole number (int). np.ceil "
                    "(like /) gives a float: round N/S up with integer arithmetic, or turn the rounded-up value into "
                    "an int with int(...): {formula}."
                )
            else:
                message = _(
                    "You returned {shown}, a float: the value is right, but a size is a whole number (int). The "
                    "division / always gives a float; use // (floor division), which Keras' floor also needs when "
                    "(N + 2P − K) is not a multiple of S: {formula}."
                )
            return Diagnosis("no_floor", message.format(shown=shown, formula=formula))
        if same:
            message = _(
                "You returned {type} {shown}: the value is right, but return a plain Python int: int(...) turns a "
                "NumPy number into one (or round N/S up with integer arithmetic, which needs no NumPy)."
            )
        else:
            message = _(
                "You returned {type} {shown}: the value is right, but return a plain Python int: int(...) turns a "
                "NumPy number into one."
            )
        return Diagnosis("wrong_type", message.format(type=type(got).__name__, shown=shown))

    mistakes = _same_mistakes(n, k, s, g, whole, shown, formula) if padding == "same" else []
    if padding != "same":
        mistakes = _int_mistake_matches(n, k, padding, s, g, whole, shown, formula, expected)
    if not mistakes:
        message = _("You returned {shown}; expected {expected}: {formula}.")
        return Diagnosis("wrong_value", message.format(shown=shown, expected=expected, formula=formula))
    code, message, _short = mistakes[0]
    others = [short for c, _message, short in mistakes[1:] if c != code]
    if others:
        either = others[0]
        for short in others[1:]:
            either = _("{first}; or from {second}").format(first=either, second=short)
        also = _("(Here {shown} could also come from {mistakes}: the other cases tell these apart.)")
        message += "\n" + also.format(shown=shown, mistakes=either)
    return Diagnosis(code, message)


Mistake = tuple[str, str, str]  # (code, message, a short description for "could also come from")


def _same_mistakes(n: int, k: int, s: int, g: float, whole: bool, shown: str, formula: str) -> list[Mistake]:
    """The mistakes with TensorFlow's "same" that give ``g``, most likely first."""
    out: list[Mistake] = []
    if s > 1 and _eq(g, n):
        out.append(
            (
                "stride_ignored",
                _(
                    'You returned {shown} = N: with "same" the output keeps N only at stride 1; with stride {s} there '
                    "are N/S positions, rounded up: {formula}."
                ).format(shown=shown, s=s, formula=formula),
                _("ignoring the stride"),
            )
        )
    if _eq(g, n / s) and not whole:
        out.append(
            (
                "no_floor",
                _(
                    'You returned {shown} = N/S without rounding: "same" rounds N/S UP to a whole number: {formula}.'
                ).format(shown=shown, formula=formula),
                _("not rounding N/S"),
            )
        )
    if _eq(g, n // s):
        out.append(
            (
                "same_not_ceil",
                _(
                    'You returned {shown}, N/S rounded down; TensorFlow\'s "same" rounds it UP (a last, partial step '
                    "still gets an output, with extra zeros at the bottom/right): {formula}."
                ).format(shown=shown, formula=formula),
                _("rounding N/S down"),
            )
        )
    for p_guess in sorted({(k - 1) // 2, k // 2}):
        if _eq(g, (n + 2 * p_guess - k) // s + 1):
            out.append(
                (
                    "same_padding_formula",
                    _(
                        'You returned {shown}, the formula with P = {p} on both sides. For "same" TensorFlow does not '
                        "use a fixed P: with an even kernel it pads one more pixel at the bottom/right, and the size "
                        "is simply N/S rounded up: {formula}."
                    ).format(shown=shown, p=p_guess, formula=formula),
                    _("the formula with P = {p}").format(p=p_guess),
                )
            )
            break
    if _eq(g, (n - k) // s + 1):
        out.append(
            (
                "padding_ignored",
                _(
                    'You returned {shown}, the size without any padding (that is "valid"). "same" pads so that the '
                    "output has N/S positions, rounded up: {formula}."
                ).format(shown=shown, formula=formula),
                _('treating "same" as "valid"'),
            )
        )
    return out


def _int_mistake_matches(
    n: int, k: int, padding: int | str, s: int, g: float, whole: bool, shown: str, formula: str, expected: int
) -> list[Mistake]:
    """The mistakes with an int P (or "valid", P = 0) that give ``g``, most likely first."""
    p = 0 if padding == "valid" else int(padding)
    span = n + 2 * p - k
    out: list[Mistake] = []
    if not whole or (_eq(g, span / s + 1) and span % s):
        out.append(
            (
                "no_floor",
                _(
                    "You returned {shown}: the division (N + 2P − K)/S was not rounded down. Keras floors it (the "
                    "last pixels that do not fill a whole step are not covered), so T is a whole number: {formula}."
                ).format(shown=shown, formula=formula),
                _("not flooring the division"),
            )
        )
    if span % s and (_eq(g, -(-span // s) + 1) or _eq(g, round(span / s) + 1)):
        out.append(
            (
                "no_floor",
                _(
                    "You returned {shown}: (N + 2P − K)/S = {span}/{s} was rounded up or to the nearest whole number. "
                    "Keras rounds DOWN (floor), so the last pixels that do not fill a whole step are not covered: "
                    "{formula}."
                ).format(shown=shown, span=span, s=s, formula=formula),
                _("rounding the division up"),
            )
        )
    if _eq(g, span // s) or (not whole and _eq(g, span / s)):
        out.append(
            (
                "forgot_plus_one",
                _(
                    "You returned {shown}, one too few: (N + 2P − K)/S counts the steps the window moves, and the "
                    "window's first position counts too, hence the + 1: {formula}."
                ).format(shown=shown, formula=formula),
                _("forgetting the + 1"),
            )
        )
    if p > 0 and _eq(g, (n + p - k) // s + 1):
        out.append(
            (
                "padding_one_side",
                _(
                    "You returned {shown}, as if P were added once. The padding goes on both sides (P zeros before "
                    "and P after), so the padded length is N + 2·P: {formula}."
                ).format(shown=shown, formula=formula),
                _("adding P once instead of 2·P"),
            )
        )
    if p > 0 and _eq(g, (n - k) // s + 1):
        out.append(
            (
                "padding_ignored",
                _(
                    "You returned {shown}, the size without padding; P = {p} zeros on each side make the input "
                    "N + 2·P = {length} long: {formula}."
                ).format(shown=shown, p=p, length=n + 2 * p, formula=formula),
                _("leaving P out"),
            )
        )
    if s > 1 and _eq(g, span + 1):
        out.append(
            (
                "stride_ignored",
                _(
                    "You returned {shown}, the size at stride 1; the window moves S = {s} pixels at a time, so "
                    "divide (N + 2P − K) by S: {formula}."
                ).format(shown=shown, s=s, formula=formula),
                _("ignoring the stride"),
            )
        )
    if padding == "valid":
        guesses = {n: _("N itself"), -(-n // s): _('what "same" gives')}
        guesses.update(
            {(n + 2 * q - k) // s + 1: _("the size with P = {p}").format(p=q) for q in {(k - 1) // 2, k // 2} if q}
        )
        for value, what in guesses.items():
            if _eq(g, value) and value != expected:
                out.append(
                    (
                        "valid_mishandled",
                        _('You returned {shown}, {what}. "valid" means no padding at all, P = 0: {formula}.').format(
                            shown=shown, what=what, formula=formula
                        ),
                        _('treating "valid" wrongly ({what})').format(what=what),
                    )
                )
                break
    return out
