"""The text ``convlab check`` prints: one line per case, the slides' numbers, and what went wrong.

Written for an 80-column terminal: a line per case (✓ or ✗, its name, the largest
relative error), the learner's own output for the slides' cases (so a right
answer shows as the slide shows it: ``266 ✓``), then the diagnosis of the first
failing case in full, and the other failures by their first line.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from convlab.exercises.compare import format_index, format_matrix, format_number
from convlab.exercises.grade import CaseResult, ExerciseResult
from convlab.teach.exercise_catalogue import Exercise

__all__ = ["render_result", "render_hints", "render_summary", "WIDTH"]

#: The longest line of the report: an 80-column terminal, less the last column (a line that fills it
#: wraps in some terminals).
WIDTH = 79

_OK, _BAD = "✓", "✗"

#: Diagnoses explained first when any case has one: state kept between calls (or inputs changed in place)
#: also spoils the cases after it, whose own diagnoses are then only symptoms; the process stopping ends all.
_ROOT_CAUSES = ("accumulates", "modified_input", "timeout", "exited", "crashed", "printed_too_much")


def _error_text(err: float | None) -> str:
    if err is None:
        return ""
    return "exact" if err == 0 else f"rel. error {err:.1e}"


def _shown_output(got: Any, name: str) -> list[str]:
    """The learner's output of a slide case, as the slides print it (small arrays only)."""
    if isinstance(got, (int, float, np.integer, np.floating)) and not isinstance(got, bool):
        return [f"      {name} = {format_number(got)} {_OK}"]
    if not isinstance(got, np.ndarray) or got.size == 0 or got.size > 64:
        return []
    a = got
    while a.ndim > 2 and a.shape[0] == 1:  # a batch of one image
        a = a[0]
    if a.ndim == 1:
        a = a[None, :]
    lines = []
    if a.ndim == 2:
        first = format_index(name, (0,) * got.ndim)
        lines.append(f"      {first} = {format_number(got.reshape(-1)[0])} {_OK}")
        lines.append(format_matrix(a, indent="        "))
    elif a.ndim == 3 and a.shape[-1] <= 4:
        first = format_index(name, (0,) * got.ndim)
        lines.append(f"      {first} = {format_number(got.reshape(-1)[0])} {_OK}")
        for c in range(a.shape[-1]):
            lines.append(f"      channel {c}:")
            lines.append(format_matrix(a[..., c], indent="        "))
    return lines


def _case_line(c: CaseResult) -> str:
    mark = _OK if c.passed else _BAD
    if c.passed:
        right = _error_text(c.error)
    else:
        right = c.diagnosis.code.replace("_", " ") if c.diagnosis else "wrong"
        if c.error is not None and np.isfinite(c.error):  # the numbers were comparable: how far off
            right += f" · err {c.error:.2g}"
    name = c.case.name
    room = WIDTH - 6 - len(right)
    if len(name) > room:
        name = name[: room - 1] + "…"
    return f"  {mark} {name.ljust(room)}  {right}".rstrip()


def _short_path(path: Path) -> str:
    """The learner's file as they would type it: relative to the current folder when inside it, and
    shortened from the left when it would not fit the line."""
    try:
        text = str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        text = str(path)
    room = WIDTH - 4
    return text if len(text) <= room else "…" + text[-(room - 1) :]


def _indent(text: str, prefix: str = "      ") -> str:
    """``text`` indented by ``prefix`` and wrapped at :data:`WIDTH`; a line that starts with spaces (a matrix,
    a product sum) keeps its indentation and continues four columns further in."""
    out = []
    for line in text.splitlines() or [""]:
        if len(prefix + line) <= WIDTH:
            out.append(prefix + line)
            continue
        inner = line[: len(line) - len(line.lstrip(" "))]
        out.extend(
            textwrap.wrap(
                line.lstrip(" "),
                WIDTH,
                initial_indent=prefix + inner,
                subsequent_indent=prefix + inner + ("    " if inner else ""),
                break_on_hyphens=False,
            )
        )
    return "\n".join(out)


def _printed(result: ExerciseResult) -> list[str]:
    if not result.stdout_bytes:
        return []
    text = result.stdout.rstrip("\n").splitlines()
    shown = text[:10]
    more = ""
    if result.stdout_bytes > len(result.stdout.encode()) or len(text) > 10:
        lines_word = "line" if len(shown) == 1 else f"{len(shown)} lines"
        more = f" (the first {lines_word} of {result.stdout_bytes:,} bytes)"
    lines = [f"  Your code printed{more}:"]
    lines += ["    │ " + line[: WIDTH - 6] for line in shown]
    return lines


def _most_telling(failed: list[CaseResult]) -> CaseResult:
    """The failing case to explain in full: one with the most common diagnosis, the first such.

    A small slide case can fit several mistakes at once (T = 2 for N=5, K=3, P=1, S=2 is what both
    "forgot the +1" and "counted P once" give); the random cases then agree on the real one.
    """
    codes = [c.diagnosis.code if c.diagnosis else "" for c in failed]
    for code in _ROOT_CAUSES:  # a mistake that spoils the other cases too is the one to fix first
        if code in codes:
            return failed[codes.index(code)]
    told = [code for code in codes if code != "not_run"] or codes  # "not run" only points at the case above
    best = max(told, key=told.count)
    return failed[codes.index(best)]


def render_result(result: ExerciseResult) -> str:
    """The report for one exercise, as ``convlab check N`` prints it."""
    ex = result.exercise
    lines = [f"Exercise {ex.number}: {ex.title}", f"  {_short_path(result.path)}"]
    if result.problem is not None:
        lines.append(f"  {_BAD} {result.problem.code.replace('_', ' ')}")
        lines.append(_indent(result.problem.message))
        lines += _printed(result)
        return "\n".join(lines)
    for c in result.cases:
        lines.append(_case_line(c))
        if c.passed and c.case.slide:
            name = c.case.output_names[0] if len(c.case.output_names) == 1 else c.case.output_names[0]
            got = c.got[0] if isinstance(c.got, (tuple, list)) and len(c.case.output_names) > 1 else c.got
            lines += _shown_output(got, name)
    failed = [c for c in result.cases if not c.passed]
    total = len(result.cases)
    if not failed:
        worst = max((c.error or 0.0 for c in result.cases), default=0.0)
        how = "every answer exact" if worst == 0 else f"largest rel. error {worst:.1e}"
        lines.append(f"  {_OK} exercise {ex.number} passes: all {total} cases ({how})")
    else:
        lines.append(f"  {result.n_passed} of {total} cases pass.")
        first = _most_telling(failed)
        lines.append("")
        name = first.case.name
        room = WIDTH - len("  What went wrong in “”:")
        lines.append(f"  What went wrong in “{name if len(name) <= room else name[: room - 1] + '…'}”:")
        lines.append(_indent(first.diagnosis.message if first.diagnosis else "the answer is wrong"))
    lines += _printed(result)
    if result.borrowed:
        lines.append(
            _indent(
                f"Note: your file imports {', '.join(result.borrowed)}. The grader allows it, but the "
                f"exercise is to write the computation yourself, with NumPy.",
                "  ",
            )
        )
    return "\n".join(lines)


def render_hints(exercise: Exercise, hints: tuple[str, ...], shown: int, dir_option: str = "") -> str:
    """Hints 1…``shown`` of ``exercise`` (a nudge first, then the formula), never the solution.

    ``dir_option`` (``" --dir D"`` or ``""``) is repeated in the command the text suggests."""
    shown = max(1, min(shown, len(hints)))
    lines = []
    for i in range(shown):
        lines.append(f"  Hint {i + 1} of {len(hints)}:")
        lines.append(_indent(hints[i]))
    if shown < len(hints):
        lines.append(f"  (run `convlab check {exercise.number} --hint{dir_option}` again for the next hint)")
    return "\n".join(lines)


def render_summary(results: list[ExerciseResult]) -> str:
    """One line per exercise, for ``convlab check all``."""
    lines = ["", "Summary:"]
    for r in results:
        mark = _OK if r.passed else _BAD
        if r.problem is not None:
            state = r.problem.code.replace("_", " ")
        else:
            state = f"{r.n_passed} of {len(r.cases)} cases"
        lines.append(f"  {mark} {r.exercise.number:>2}  {r.exercise.file_name:<28} {state}")
    done = sum(r.passed for r in results)
    lines.append(f"  {done} of {len(results)} exercises pass.")
    return "\n".join(lines)
