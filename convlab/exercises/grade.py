"""Grade one exercise: run the learner's file on the grader's cases and judge every answer.

For exercise ``N`` the grader module (:mod:`convlab.exercises.graders`, one per
exercise) builds the cases — the slides' numbers first, then random shapes,
strides and paddings — with the answers of convlab's ``reference`` backend.
The learner's file runs in a child process (:mod:`convlab.exercises.sandbox`);
this module turns what came back into a :class:`CaseResult` per case, checking in
this order, so that the first thing the learner must fix is named first:

1. the file: missing, a syntax error, an exception at import, a missing function,
   a wrong signature — the file and line are named, never a grader traceback;
2. the call: an exception (with the learner's line), ``NotImplementedError``
   ("not implemented yet"), the time limit, the process exiting or crashing;
3. the answer's type (an array, a whole number, a tuple of the right length …);
4. inputs changed in place; NaN or infinity where the answer is finite;
5. the numbers: the largest relative error, and when it is too large the grader's
   diagnosis of the mistake (``diagnose``) or a generic one;
6. repeated calls that do not agree (gradients that accumulate across calls).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from convlab.exercises.case import Case, Diagnosis
from convlab.exercises.child import REPR_FAILED
from convlab.exercises.compare import first_wrong, format_index, format_number, relative_error
from convlab.exercises.learner_problems import ended_early, exception_diagnosis, load_problem
from convlab.exercises.sandbox import run_learner_file
from convlab.teach.exercise_catalogue import Exercise, get_exercise, parse_signature
from convlab.util.i18n import _, ngettext

__all__ = ["CaseResult", "ExerciseResult", "grade_exercise", "grader_module", "build_cases", "SEED"]

#: The random cases of exercise N come from ``numpy.random.default_rng(SEED + N)``: the same every run.
SEED = 1000

_OPAQUE = "__opaque__"


@dataclass
class CaseResult:
    """The verdict on one case.

    Attributes:
        case: the case.
        passed: whether the learner's answer is right.
        error: the largest relative error over the outputs (``None`` when there was nothing to compare).
        diagnosis: what went wrong (``None`` when it passed).
        got: the learner's answer (first call), as plain data; ``None`` when the call failed.
        seconds: how long the learner's function took.
    """

    case: Case
    passed: bool
    error: float | None = None
    diagnosis: Diagnosis | None = None
    got: Any = None
    seconds: float = 0.0


@dataclass
class ExerciseResult:
    """The verdict on one exercise.

    Attributes:
        exercise: the exercise.
        path: the learner's file.
        cases: one result per case, in order (empty when the file could not be used).
        problem: what stopped the file from being graded at all (missing, syntax error, …), else ``None``.
        stdout: the start of what the learner's code printed; ``stdout_bytes`` how much it printed in all.
        borrowed: libraries the learner's file imported that the exercise should not need (``convlab``,
            ``scipy`` …): allowed, and noted in the report.
        seconds: wall time of the learner's process.
    """

    exercise: Exercise
    path: Path
    cases: list[CaseResult] = field(default_factory=list)
    problem: Diagnosis | None = None
    stdout: str = ""
    stdout_bytes: int = 0
    seconds: float = 0.0
    borrowed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.problem is None and bool(self.cases) and all(c.passed for c in self.cases)

    @property
    def n_passed(self) -> int:
        return sum(c.passed for c in self.cases)

    def codes(self) -> list[str]:
        """The diagnosis codes: the file's problem, or those of the failing cases, in order."""
        if self.problem is not None:
            return [self.problem.code]
        return [
            c.diagnosis.code
            for c in self.cases
            if not c.passed and c.diagnosis is not None and c.diagnosis.code != "not_run"
        ]


def grader_module(exercise: Exercise) -> ModuleType:
    """The grader of ``exercise``: ``convlab.exercises.graders.<slug>``."""
    return importlib.import_module(f"convlab.exercises.graders.{exercise.slug}")


def build_cases(exercise: Exercise) -> list[Case]:
    """The exercise's cases, the same on every run (seeded with :data:`SEED` + its number)."""
    return list(grader_module(exercise).cases(np.random.default_rng(SEED + exercise.number)))


# ------------------------------------------------------------------------------ the answer's type
def _kind(expected: Any) -> str:
    if isinstance(expected, np.ndarray):
        return "array"
    if isinstance(expected, (bool, np.bool_)):
        return "bool"
    if isinstance(expected, (int, np.integer)):
        return "int"
    if isinstance(expected, (float, np.floating)):
        return "float"
    if isinstance(expected, dict):
        return "dict"
    if isinstance(expected, (tuple, list)):
        return "tuple"
    return "other"


def _describe(got: Any) -> str:
    if isinstance(got, dict) and _OPAQUE in got:
        text = got["repr"] if got["repr"] != REPR_FAILED else _("<repr failed>")
        if "dtype" in got:
            return _("a {type} of dtype {dtype} ({repr})").format(type=got[_OPAQUE], dtype=got["dtype"], repr=text[:80])
        return _("a {type} ({repr})").format(type=got[_OPAQUE], repr=text[:80])
    if isinstance(got, np.ndarray):
        return _("an array of shape {shape} and dtype {dtype}").format(shape=got.shape, dtype=got.dtype)
    if got is None:
        return _("None (did you forget the return statement?)")
    if isinstance(got, (list, tuple)):
        text = ngettext("a {type} of {n} item", "a {type} of {n} items", len(got))
        return text.format(type=type(got).__name__, n=len(got))
    if isinstance(got, dict):
        return _("a dict with keys {keys}").format(keys=sorted(got))
    return f"{type(got).__name__} {got!r}"


def _wanted(expected: Any) -> str:
    kind = _kind(expected)
    if kind == "array":
        return _("a NumPy array of shape {shape}").format(shape=expected.shape)
    if kind == "int":
        return _("a whole number (int)")
    if kind == "float":
        return _("a number (float)")
    if kind == "dict":
        return _("a dict with keys {keys}").format(keys=sorted(expected))
    if kind == "tuple":
        return ngettext("a tuple of {n} item", "a tuple of {n} items", len(expected)).format(n=len(expected))
    return type(expected).__name__


def _type_ok(expected: Any, got: Any) -> bool:
    kind = _kind(expected)
    if isinstance(got, dict) and _OPAQUE in got:
        return False
    if kind == "array":  # real numbers: a complex array is not what any layer returns
        return isinstance(got, np.ndarray) and got.dtype.kind in "biuf"
    if kind == "int":
        return isinstance(got, int) and not isinstance(got, bool)
    if kind == "float":
        return (
            isinstance(got, (int, float))
            and not isinstance(got, bool)
            or (isinstance(got, np.ndarray) and got.shape in ((), (1,)) and got.dtype.kind in "biuf")
        )
    if kind == "dict":
        return (
            isinstance(got, dict) and set(got) == set(expected) and all(_type_ok(expected[k], got[k]) for k in expected)
        )
    if kind == "tuple":
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(expected)
            and all(_type_ok(e, g) for e, g in zip(expected, got))
        )
    return True


def _type_problem(case: Case, expected: Any, got: Any) -> Diagnosis:
    fn = case.function
    names = case.output_names
    if _kind(expected) == "tuple" and isinstance(got, (tuple, list)) and len(got) == len(expected):
        for name, e, g in zip(names, expected, got):
            if not _type_ok(e, g):
                message = _("{function} returned {name} as {got}; expected {wanted}.")
                return Diagnosis(
                    "wrong_type", message.format(function=fn, name=name, got=_describe(g), wanted=_wanted(e))
                )
    if _kind(expected) == "dict" and isinstance(got, dict) and _OPAQUE not in got:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        if missing or extra:
            if missing and extra:
                message = _(
                    "{function} returned a dict with missing {missing}, unexpected {extra}; expected keys {keys}."
                )
            elif missing:
                message = _("{function} returned a dict with missing {missing}; expected keys {keys}.")
            else:
                message = _("{function} returned a dict with unexpected {extra}; expected keys {keys}.")
            return Diagnosis(
                "wrong_type", message.format(function=fn, missing=missing, extra=extra, keys=sorted(expected))
            )
        for k in expected:
            if not _type_ok(expected[k], got[k]):
                message = _("{function} returned [{key}] as {got}; expected {wanted}.")
                return Diagnosis(
                    "wrong_type",
                    message.format(function=fn, key=repr(k), got=_describe(got[k]), wanted=_wanted(expected[k])),
                )
    what = ", ".join(names) if len(names) > 1 else ""
    message = _("{function} returned {got}; expected {wanted}.").format(
        function=fn, got=_describe(got), wanted=_wanted(expected)
    )
    if _kind(expected) == "array" and isinstance(got, list):
        message += " " + _("np.array(...) turns a list into an array; better, fill an array made with np.zeros(shape).")
    if _kind(expected) == "tuple":
        message += " " + _("Return them together: return {names}.").format(names=what)
    return Diagnosis("wrong_type", message)


# ------------------------------------------------------------------------------ the numbers
def _scalar(e: Any, g: Any) -> Any:
    """A one-element array where a float is expected, as that float (``np.float64(2.3)`` and ``[2.3]`` alike)."""
    if _kind(e) == "float" and isinstance(g, np.ndarray):
        return float(g.reshape(-1)[0])
    return g


def _pairs(case: Case, expected: Any, got: Any) -> list[tuple[str, Any, Any]]:
    """(name, expected, got) per output, in order; dict outputs give one pair per key."""
    return [(name, e, _scalar(e, g)) for name, e, g in _raw_pairs(case, expected, got)]


def _raw_pairs(case: Case, expected: Any, got: Any) -> list[tuple[str, Any, Any]]:
    kind = _kind(expected)
    if kind == "tuple":
        out = []
        for name, e, g in zip(case.output_names, expected, got):
            if isinstance(e, dict):
                out.extend((f"{name}[{k!r}]", e[k], g[k]) for k in e)
            else:
                out.append((name, e, g))
        return out
    if kind == "dict":
        return [(f"{case.output_names[0]}[{k!r}]", expected[k], got[k]) for k in expected]
    return [(case.output_names[0], expected, got)]


def _not_finite(case: Case, pairs) -> Diagnosis | None:
    for name, e, g in pairs:
        g = np.asarray(g, dtype=float)
        e = np.asarray(e, dtype=float)
        if g.shape == e.shape:
            bad = ~np.isfinite(g) & np.isfinite(e)
        else:
            bad = ~np.isfinite(g)
        if bad.any():
            idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(bad)), bad.shape))
            where = format_index(name, idx) if g.ndim else name
            n = int(bad.sum())
            value = format_number(g[idx] if g.ndim else g)
            if n > 1:
                message = ngettext(
                    "{where} is {value} (and {n} more) where a finite number was expected: a division by zero, or "
                    "exp() of a large number overflowing?",
                    "{where} is {value} (and {n} more) where a finite number was expected: a division by zero, or "
                    "exp() of a large number overflowing?",
                    n - 1,
                )
            else:
                message = _(
                    "{where} is {value} where a finite number was expected: a division by zero, or exp() of a large "
                    "number overflowing?"
                )
            return Diagnosis("not_finite", message.format(where=where, value=value, n=n - 1))
    return None


def _tolerance(case: Case, e: Any) -> float:
    return 0.0 if _kind(e) == "int" else case.tolerance


def _values_error(case: Case, pairs) -> tuple[float, bool]:
    worst, ok = 0.0, True
    for _name, e, g in pairs:
        err = relative_error(g, e)
        worst = max(worst, err)
        if err > _tolerance(case, e):
            ok = False
    return worst, ok


def _generic_wrong(case: Case, pairs) -> Diagnosis:
    for name, e, g in pairs:
        e_arr, g_arr = np.asarray(e, dtype=float), np.asarray(g, dtype=float)
        if e_arr.shape != g_arr.shape:
            message = _("{name} has shape {got}; expected {expected}.")
            return Diagnosis("wrong_shape", message.format(name=name, got=g_arr.shape, expected=e_arr.shape))
        if relative_error(g_arr, e_arr) > _tolerance(case, e):
            message = _("{name} is {got}; expected {expected}.")
            if e_arr.ndim == 0:
                return Diagnosis(
                    "first_wrong", message.format(name=name, got=format_number(g_arr), expected=format_number(e_arr))
                )
            idx = first_wrong(g_arr, e_arr, _tolerance(case, e))
            return Diagnosis(
                "first_wrong",
                message.format(
                    name=format_index(name, idx), got=format_number(g_arr[idx]), expected=format_number(e_arr[idx])
                ),
            )
    return Diagnosis("first_wrong", _("the answer differs from the reference."))


def _ask(grader: ModuleType, hook: str, case: Case, got: Any) -> Diagnosis | None:
    """A grader hook's diagnosis; a hook that fails is treated as having nothing to say."""
    fn = getattr(grader, hook, None)
    if fn is None:
        return None
    try:
        d = fn(case, got)
    except Exception:  # a grader meets every shape of wrong answer; one it did not foresee must not hide the verdict
        return None
    return d if isinstance(d, Diagnosis) else None


def _accumulation(case: Case, first: Any, later: Any) -> Diagnosis | None:
    pairs = _pairs(case, first, later) if _type_ok(first, later) else None
    if pairs is None:
        message = _("Calling {function} a second time with the same inputs returned {got}.")
        return Diagnosis("accumulates", message.format(function=case.function, got=_describe(later)))
    for name, a, b in pairs:
        if relative_error(b, a) > _tolerance(case, a):
            a_arr, b_arr = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
            if np.abs(a_arr).max(initial=0) > 0 and relative_error(b_arr, 2 * a_arr) <= 1e-6:
                message = _(
                    "The second call of {function} with the same inputs gave a different {name} ({name} came back "
                    "twice as large): your results accumulate across calls — an array kept between calls (a "
                    "module-level array, or a default argument such as out=np.zeros(...)) that you add into. Start "
                    "from fresh zeros inside the function on every call."
                )
            else:
                message = _(
                    "The second call of {function} with the same inputs gave a different {name}: your results "
                    "accumulate across calls — an array kept between calls (a module-level array, or a default "
                    "argument such as out=np.zeros(...)) that you add into. Start from fresh zeros inside the "
                    "function on every call."
                )
            return Diagnosis("accumulates", message.format(function=case.function, name=name))
    return None


def _judge(case: Case, grader: ModuleType, rec: dict, params: tuple[str, ...]) -> CaseResult:
    outputs = rec["outputs"]
    got = outputs[0]
    result = CaseResult(case, passed=False, got=got, seconds=rec.get("seconds", 0.0))
    if rec["mutated"]:
        names = ", ".join(
            f"`{params[i]}`" if i < len(params) else _("argument {number}").format(number=i + 1) for i in rec["mutated"]
        )
        message = _(
            "{function} changed its input {names} in place (e.g. `x[...] = ...` or `x += ...` on an argument). "
            "Keras' layers never change their inputs: work on a copy, or write into a new array."
        )
        result.diagnosis = Diagnosis("modified_input", message.format(function=case.function, names=names))
        return result
    if case.chain is not None:
        verdict = getattr(grader, "judge", None)
        try:
            ok, diagnosis = verdict(case, got) if verdict else (False, None)
        except Exception:  # as with diagnose: an answer the grader did not foresee is a fail, not a crash
            ok, diagnosis = False, None
        result.passed, result.diagnosis = bool(ok), (None if ok else diagnosis)
        return result
    expected = case.expected
    if not _type_ok(expected, got):
        # A number of the wrong kind (3.5 for a size) is a mistake in the maths, which the grader knows best.
        scalar = _kind(expected) in ("int", "float")
        result.diagnosis = (_ask(grader, "diagnose", case, got) if scalar else None) or _type_problem(
            case, expected, got
        )
        return result
    pairs = _pairs(case, expected, got)
    not_finite = _not_finite(case, pairs)
    if not_finite is not None:
        result.diagnosis = _ask(grader, "explain_not_finite", case, got) or not_finite
        return result
    result.error, ok = _values_error(case, pairs)
    if not ok:
        result.diagnosis = _ask(grader, "diagnose", case, got) or _generic_wrong(case, pairs)
        return result
    for later in outputs[1:]:
        d = _accumulation(case, got, later)
        if d is not None:
            result.diagnosis = d
            if _type_ok(expected, later):  # the error shown is the wrong call's, not the first (right) one's
                result.error = _values_error(case, _pairs(case, expected, later))[0]
            return result
    result.passed = True
    return result


def _call_spec(index: int, case: Case) -> dict:
    chain = None
    if case.chain is not None:
        chain = {
            "steps": case.chain.steps,
            "feed": tuple(case.chain.feed),
            "collect": case.chain.collect,
            "batches": tuple(case.chain.batches),
        }
    return {"index": index, "function": case.function, "args": case.args, "repeat": case.repeat, "chain": chain}


def grade_exercise(
    exercise: Exercise | int | str, folder: str | Path, *, timeout: float | None = None
) -> ExerciseResult:
    """Grade the learner's file for ``exercise`` in ``folder``, as ``convlab check N`` does.

    Args:
        exercise: an :class:`Exercise`, its number or its name.
        folder: the learner's folder (the one ``convlab exercises`` filled).
        timeout: seconds for all of the exercise's cases together (default: the catalogue's, e.g. 20 s).

    Returns:
        An :class:`ExerciseResult`; ``.passed`` is true when every case passes.

    Raises:
        ValueError: ``exercise`` names no exercise.
    """
    if not isinstance(exercise, Exercise):
        exercise = get_exercise(exercise)
    path = Path(folder) / exercise.file_name
    result = ExerciseResult(exercise, path)
    if not path.is_file():
        message = _("there is no {path}: run `convlab exercises` to get the exercise files.")
        result.problem = Diagnosis("missing_file", message.format(path=path))
        return result
    limit = float(timeout if timeout is not None else exercise.timeout)
    grader = grader_module(exercise)
    cases = build_cases(exercise)
    signatures = dict(parse_signature(s) for s in exercise.functions)
    used = {c.function for c in cases}
    run = run_learner_file(
        path,
        exercise.module_name,
        {name: params for name, params in signatures.items() if name in used},
        [_call_spec(i, c) for i, c in enumerate(cases)],
        limit,
    )
    result.stdout, result.stdout_bytes, result.seconds = run.stdout, run.stdout_bytes, run.seconds
    result.borrowed = run.borrowed
    if run.load is not None:
        result.problem = load_problem(run, exercise, path)
        return result
    if not run.loaded:
        result.problem = ended_early(run, exercise, limit)
        return result
    stopped = None  # the case the process stopped in: the time limit, an exit or a crash
    for i, case in enumerate(cases):
        rec = run.records.get(i)
        if rec is None:
            if stopped is None:
                stopped = ended_early(run, exercise, limit)
                result.cases.append(CaseResult(case, passed=False, diagnosis=stopped))
            else:
                result.cases.append(
                    CaseResult(case, passed=False, diagnosis=Diagnosis("not_run", _("not run (see the case above)")))
                )
            continue
        if rec["kind"] == "error":
            d = exception_diagnosis(rec["error"], exercise)
            result.cases.append(CaseResult(case, passed=False, diagnosis=d, seconds=rec.get("seconds", 0.0)))
            continue
        result.cases.append(_judge(case, grader, rec, signatures[case.function]))
    return result
