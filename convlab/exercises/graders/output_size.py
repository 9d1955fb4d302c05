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

__all__ = ["HINTS", "cases", "diagnose"]

FUNCTION = "output_size"

HINTS: tuple[str, ...] = (
    "Count the positions of the window: it starts at the first pixel and moves S pixels at a time until it no "
    "longer fits inside the padded input (N + 2P pixels). The answer is a whole number.",
    "T = (N + 2·P − K)/S + 1 with the division rounded DOWN (Keras floors it); P is added on both sides, hence 2·P. "
    '"valid" means P = 0. "same" ignores K: T = N/S rounded UP (TensorFlow), so N = 7, S = 2 gives 4.',
    'Handle the two strings first ("same" → the rounded-up N/S; "valid" → P = 0), then use the formula with an '
    "integer (floor) division for an int P.",
)


def _case(n: int, k: int, padding: int | str, s: int, *, slide: bool = False, why: str = "") -> Case:
    name = f"N={n}, K={k}, padding={padding!r}, S={s}"
    if why:
        name = f"{why}: {name}"
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
        _case(5, 3, 1, 2, slide=True, why="slide, 5×5×3 example"),
        _case(28, 3, 0, 1, slide=True, why="slide, MNIST conv"),
        _case(5, 3, 0, 1, slide=True, why="slide, sharpen, no padding"),
        _case(5, 3, 1, 1, slide=True, why="slide, sharpen, padding 1"),
    ]

    def draw(pred, ns=(5, 31), ks=(1, 6), ps=(0, 3), ss=(1, 4)):
        for _ in range(100_000):
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
    out.append(_case(n, k, p, s, why="floor"))
    # An int P > 0 at stride 1 (P counted twice shows).
    n, k, p, s = draw(lambda n, k, p, s: s == 1 and k > 1 and _int_distinct(n, k, p, s), ps=(2, 4))
    out.append(_case(n, k, p, s))
    # "valid" with a stride and a floor.
    n, k, _, s = draw(lambda n, k, p, s: s > 1 and (n - k) % s != 0 and k > 2 and n >= k and _valid_distinct(n, k, s))
    out.append(_case(n, k, "valid", s, why="valid"))
    # "same" at stride 1, at an odd N with stride 2 (ceil ≠ floor), and with an even kernel and stride 3.
    n, k, _, _ = draw(lambda n, k, p, s: k > 1)
    out.append(_case(n, k, "same", 1, why="same"))
    n, k, _, _ = draw(lambda n, k, p, s: n % 2 == 1 and k % 2 == 1 and k > 1)
    out.append(_case(n, k, "same", 2, why="same, stride 2"))
    n, k, _, _ = draw(lambda n, k, p, s: n % 3 != 0 and k % 2 == 0 and (n - 2) // 3 + 1 != -(-n // 3))
    out.append(_case(n, k, "same", 3, why="same, even kernel"))
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
            return f'T = N/S = {n}/{s} = {t} (TensorFlow\'s "same" ignores K)'
        return f'T = ⌈N/S⌉ = ⌈{n}/{s}⌉ = {t} (TensorFlow\'s "same" rounds up and ignores K)'
    p = 0 if padding == "valid" else int(padding)
    text = size_formula_text(n, k, p, s)
    return text + ' ("valid" means P = 0)' if padding == "valid" else text


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
            fix = (
                "np.ceil (like /) gives a float: round N/S up with integer arithmetic, or turn the rounded-up value "
                "into an int with int(...)"
                if same
                else "The division / always gives a float; use // (floor division), which Keras' floor also needs "
                "when (N + 2P − K) is not a multiple of S"
            )
            return Diagnosis(
                "no_floor",
                f"You returned {shown}, a float: the value is right, but a size is a whole number (int). {fix}: "
                f"{formula}.",
            )
        fix = " (or round N/S up with integer arithmetic, which needs no NumPy)" if same else ""
        return Diagnosis(
            "wrong_type",
            f"You returned {type(got).__name__} {shown}: the value is right, but return a plain Python int: "
            f"int(...) turns a NumPy number into one{fix}.",
        )

    mistakes = _same_mistakes(n, k, s, g, whole, shown, formula) if padding == "same" else []
    if padding != "same":
        mistakes = _int_mistake_matches(n, k, padding, s, g, whole, shown, formula, expected)
    if not mistakes:
        return Diagnosis("wrong_value", f"You returned {shown}; expected {expected}: {formula}.")
    code, message, _ = mistakes[0]
    others = [short for c, _, short in mistakes[1:] if c != code]
    if others:
        message += (
            f"\n(Here {shown} could also come from {'; or from '.join(others)}: the other cases tell these apart.)"
        )
    return Diagnosis(code, message)


Mistake = tuple[str, str, str]  # (code, message, a short description for "could also come from")


def _same_mistakes(n: int, k: int, s: int, g: float, whole: bool, shown: str, formula: str) -> list[Mistake]:
    """The mistakes with TensorFlow's "same" that give ``g``, most likely first."""
    out: list[Mistake] = []
    if s > 1 and _eq(g, n):
        out.append(
            (
                "stride_ignored",
                f'You returned {shown} = N: with "same" the output keeps N only at stride 1; with stride {s} '
                f"there are N/S positions, rounded up: {formula}.",
                "ignoring the stride",
            )
        )
    if _eq(g, n / s) and not whole:
        out.append(
            (
                "no_floor",
                f'You returned {shown} = N/S without rounding: "same" rounds N/S UP to a whole number: {formula}.',
                "not rounding N/S",
            )
        )
    if _eq(g, n // s):
        out.append(
            (
                "same_not_ceil",
                f'You returned {shown}, N/S rounded down; TensorFlow\'s "same" rounds it UP (a last, partial step '
                f"still gets an output, with extra zeros at the bottom/right): {formula}.",
                "rounding N/S down",
            )
        )
    for p_guess in sorted({(k - 1) // 2, k // 2}):
        if _eq(g, (n + 2 * p_guess - k) // s + 1):
            out.append(
                (
                    "same_padding_formula",
                    f'You returned {shown}, the formula with P = {p_guess} on both sides. For "same" TensorFlow '
                    f"does not use a fixed P: with an even kernel it pads one more pixel at the bottom/right, and "
                    f"the size is simply N/S rounded up: {formula}.",
                    f"the formula with P = {p_guess}",
                )
            )
            break
    if _eq(g, (n - k) // s + 1):
        out.append(
            (
                "padding_ignored",
                f'You returned {shown}, the size without any padding (that is "valid"). "same" pads so that the '
                f"output has N/S positions, rounded up: {formula}.",
                'treating "same" as "valid"',
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
                f"You returned {shown}: the division (N + 2P − K)/S was not rounded down. Keras floors it (the last "
                f"pixels that do not fill a whole step are not covered), so T is a whole number: {formula}.",
                "not flooring the division",
            )
        )
    if span % s and (_eq(g, -(-span // s) + 1) or _eq(g, round(span / s) + 1)):
        out.append(
            (
                "no_floor",
                f"You returned {shown}: (N + 2P − K)/S = {span}/{s} was rounded up or to the nearest whole number. "
                f"Keras rounds DOWN (floor), so the last pixels that do not fill a whole step are not covered: "
                f"{formula}.",
                "rounding the division up",
            )
        )
    if _eq(g, span // s) or (not whole and _eq(g, span / s)):
        out.append(
            (
                "forgot_plus_one",
                f"You returned {shown}, one too few: (N + 2P − K)/S counts the steps the window moves, and the "
                f"window's first position counts too, hence the + 1: {formula}.",
                "forgetting the + 1",
            )
        )
    if p > 0 and _eq(g, (n + p - k) // s + 1):
        out.append(
            (
                "padding_one_side",
                f"You returned {shown}, as if P were added once. The padding goes on both sides (P zeros before and "
                f"P after), so the padded length is N + 2·P: {formula}.",
                "adding P once instead of 2·P",
            )
        )
    if p > 0 and _eq(g, (n - k) // s + 1):
        out.append(
            (
                "padding_ignored",
                f"You returned {shown}, the size without padding; P = {p} zeros on each side make the input "
                f"N + 2·P = {n + 2 * p} long: {formula}.",
                "leaving P out",
            )
        )
    if s > 1 and _eq(g, span + 1):
        out.append(
            (
                "stride_ignored",
                f"You returned {shown}, the size at stride 1; the window moves S = {s} pixels at a time, so divide "
                f"(N + 2P − K) by S: {formula}.",
                "ignoring the stride",
            )
        )
    if padding == "valid":
        guesses = {n: "N itself", -(-n // s): 'what "same" gives'}
        guesses.update({(n + 2 * q - k) // s + 1: f"the size with P = {q}" for q in {(k - 1) // 2, k // 2} if q})
        for value, what in guesses.items():
            if _eq(g, value) and value != expected:
                out.append(
                    (
                        "valid_mishandled",
                        f'You returned {shown}, {what}. "valid" means no padding at all, P = 0: {formula}.',
                        f'treating "valid" wrongly ({what})',
                    )
                )
                break
    return out
