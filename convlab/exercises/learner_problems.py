"""What stopped the learner's file or process, told in the learner's terms: their file and line, never ours.

The child process (:mod:`convlab.exercises.child`) reports a syntax error, an
exception (with the frames that are in the learner's files), a missing function
or a wrong signature as data; :mod:`convlab.exercises.sandbox` says how the
process ended. These functions turn each into a :class:`~convlab.exercises.case.Diagnosis`.
"""

from __future__ import annotations

import signal
from pathlib import Path

from convlab.exercises.case import Diagnosis
from convlab.exercises.sandbox import SandboxRun
from convlab.teach.exercise_catalogue import Exercise, parse_signature

__all__ = ["exception_diagnosis", "load_problem", "ended_early"]


def _where(path: str | None, line: int | None) -> str:
    return f"{Path(path).name if path else '?'}, line {line}" if line else (Path(path).name if path else "?")


def exception_diagnosis(err: dict, exercise: Exercise) -> Diagnosis:
    """An exception raised by the learner's code, pointing at their line (not at the grader)."""
    if err["type"] == "NotImplementedError":
        where = Path(err["frames"][-1]["file"]).name if err["frames"] else exercise.file_name
        used = f" (which {exercise.file_name} uses)" if where != exercise.file_name else ""
        return Diagnosis(
            "not_implemented",
            f"not implemented yet: {where}{used} still raises NotImplementedError. Replace that line with your code.",
        )
    if err["type"] == "SystemExit":
        return Diagnosis(
            "exited",
            f"your code called sys.exit({err['exit_code']!r}) (or exit()/quit()): a function should return its "
            f"answer, not end the program.",
        )
    if err["type"] == "OSError" and "File too large" in err["message"]:
        return Diagnosis(
            "printed_too_much",
            "your code printed more than 64 MB, and the grader stopped it there: a print inside a loop that "
            "never ends? Print less, or only while you debug.",
        )
    frames = err["frames"]
    head = f"{err['type']}: {err['message']}" if err["message"] else err["type"]
    if not frames:
        return Diagnosis("exception", f"your code raised {head}")
    lines = [f"your code raised {head}"]
    for f in frames[-3:]:
        lines.append(f"  {_where(f['file'], f['line'])}, in {f['function']}:")
        if f["code"]:
            lines.append(f"      {f['code']}")
    raised = err.get("raised_in")
    if raised and frames and raised["file"] != frames[-1]["file"]:
        lines.append(f"  (raised inside {raised['function']}() of {Path(raised['file']).name}, called from your line)")
    return Diagnosis("exception", "\n".join(lines))


def load_problem(run: SandboxRun, exercise: Exercise, path: Path) -> Diagnosis:
    rec = run.load
    status = rec["status"]
    if status == "syntax_error":
        caret = ""
        if rec.get("text") and rec.get("offset"):
            text = rec["text"]
            stripped = text.lstrip()
            col = max(rec["offset"] - 1 - (len(text) - len(stripped)), 0)
            caret = f"\n      {stripped}\n      {' ' * col}^"
        return Diagnosis(
            "syntax_error",
            f"{_where(rec.get('file'), rec.get('line'))}: Python cannot read this line: {rec['message']}{caret}",
        )
    if status == "exception":
        d = exception_diagnosis(rec["error"], exercise)
        what = "when the file is loaded (at import, outside any function)"
        if d.code == "not_implemented":
            return d
        return Diagnosis("import_error" if d.code == "exception" else d.code, f"{d.message}\n  — {what}")
    if status == "missing_function":
        defined = ", ".join(rec["defined"]) or "no functions"
        wanted = next(s for s in exercise.functions if parse_signature(s)[0] == rec["function"])
        return Diagnosis(
            "missing_function",
            f"{path.name} has no function {rec['function']}: the grader calls {wanted}. The file defines: {defined}.",
        )
    if status == "wrong_signature":
        wanted = next(s for s in exercise.functions if parse_signature(s)[0] == rec["function"])
        n = len(parse_signature(wanted)[1])
        line = f" ({_where(str(path), rec['line'])})" if rec.get("line") else ""
        return Diagnosis(
            "wrong_signature",
            f"{rec['signature']}{line} cannot be called as {wanted}: the grader passes {n} positional "
            f"argument{'s' if n != 1 else ''}, in that order.",
        )
    return Diagnosis("load_error", f"{path.name} could not be loaded ({status})")


def ended_early(run: SandboxRun, exercise: Exercise, timeout: float) -> Diagnosis:
    if run.ended == "timeout":
        return Diagnosis(
            "timeout",
            f"no answer within {timeout:g} s (the time limit for all of exercise {exercise.number}'s cases): "
            f"an infinite loop? Check that every while-loop's condition changes, and that range() bounds are "
            f"the output's size, not the input's.",
        )
    if run.ended == "crashed":
        try:
            name = signal.Signals(-run.returncode).name
        except ValueError:
            name = f"signal {-run.returncode}"
        return Diagnosis("crashed", f"the Python process running your code crashed ({name}).")
    return Diagnosis(
        "exited",
        f"your code ended the Python process (exit status {run.returncode}) instead of returning: "
        f"os._exit(), or a library call that aborts?",
    )
