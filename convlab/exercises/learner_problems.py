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
from convlab.exercises.child import NO_MESSAGE
from convlab.exercises.sandbox import SandboxRun
from convlab.teach.exercise_catalogue import Exercise, parse_signature
from convlab.util.i18n import _, ngettext

__all__ = ["exception_diagnosis", "load_problem", "ended_early"]


def _where(path: str | None, line: int | None) -> str:
    name = Path(path).name if path else "?"
    return _("{file}, line {line}").format(file=name, line=line) if line else name


def exception_diagnosis(err: dict, exercise: Exercise) -> Diagnosis:
    """An exception raised by the learner's code, pointing at their line (not at the grader)."""
    if err["type"] == "NotImplementedError":
        where = Path(err["frames"][-1]["file"]).name if err["frames"] else exercise.file_name
        if where != exercise.file_name:
            message = _(
                "not implemented yet: {file} (which {exercise_file} uses) still raises NotImplementedError. Replace "
                "that line with your code."
            )
        else:
            message = _(
                "not implemented yet: {file} still raises NotImplementedError. Replace that line with your code."
            )
        return Diagnosis("not_implemented", message.format(file=where, exercise_file=exercise.file_name))
    if err["type"] == "SystemExit":
        message = _(
            "your code called sys.exit({code}) (or exit()/quit()): a function should return its answer, not end "
            "the program."
        )
        return Diagnosis("exited", message.format(code=repr(err["exit_code"])))
    if err["type"] == "OSError" and "File too large" in err["message"]:
        return Diagnosis(
            "printed_too_much",
            _(
                "your code printed more than 64 MB, and the grader stopped it there: a print inside a loop that "
                "never ends? Print less, or only while you debug."
            ),
        )
    frames = err["frames"]
    text = err["message"] if err["message"] != NO_MESSAGE else _("<the exception's message could not be shown>")
    head = f"{err['type']}: {text}" if text else err["type"]
    raised_text = _("your code raised {exception}").format(exception=head)
    if not frames:
        return Diagnosis("exception", raised_text)
    lines = [raised_text]
    for f in frames[-3:]:
        lines.append(
            "  " + _("{place}, in {function}:").format(place=_where(f["file"], f["line"]), function=f["function"])
        )
        if f["code"]:
            lines.append(f"      {f['code']}")
    raised = err.get("raised_in")
    if raised and frames and raised["file"] != frames[-1]["file"]:
        inside = _("(raised inside {function}() of {file}, called from your line)")
        lines.append("  " + inside.format(function=raised["function"], file=Path(raised["file"]).name))
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
        message = _("{place}: Python cannot read this line: {message}").format(
            place=_where(rec.get("file"), rec.get("line")), message=rec["message"]
        )
        return Diagnosis("syntax_error", message + caret)
    if status == "exception":
        d = exception_diagnosis(rec["error"], exercise)
        if d.code == "not_implemented":
            return d
        message = _("{message}\n  — when the file is loaded (at import, outside any function)").format(
            message=d.message
        )
        return Diagnosis("import_error" if d.code == "exception" else d.code, message)
    if status == "missing_function":
        defined = ", ".join(rec["defined"]) or _("no functions")
        wanted = next(s for s in exercise.functions if parse_signature(s)[0] == rec["function"])
        message = _("{file} has no function {function}: the grader calls {wanted}. The file defines: {defined}.")
        return Diagnosis(
            "missing_function",
            message.format(file=path.name, function=rec["function"], wanted=wanted, defined=defined),
        )
    if status == "wrong_signature":
        wanted = next(s for s in exercise.functions if parse_signature(s)[0] == rec["function"])
        n = len(parse_signature(wanted)[1])
        line = f" ({_where(str(path), rec['line'])})" if rec.get("line") else ""
        message = ngettext(
            "{signature}{where} cannot be called as {wanted}: the grader passes {n} positional argument, in that "
            "order.",
            "{signature}{where} cannot be called as {wanted}: the grader passes {n} positional arguments, in that "
            "order.",
            n,
        )
        return Diagnosis("wrong_signature", message.format(signature=rec["signature"], where=line, wanted=wanted, n=n))
    return Diagnosis("load_error", _("{file} could not be loaded ({status})").format(file=path.name, status=status))


def ended_early(run: SandboxRun, exercise: Exercise, timeout: float) -> Diagnosis:
    if run.ended == "timeout":
        message = _(
            "no answer within {seconds:g} s (the time limit for all of exercise {number}'s cases): an infinite "
            "loop? Check that every while-loop's condition changes, and that range() bounds are the output's "
            "size, not the input's."
        )
        return Diagnosis("timeout", message.format(seconds=timeout, number=exercise.number))
    if run.ended == "crashed":
        try:
            name = signal.Signals(-run.returncode).name
        except ValueError:
            name = _("signal {number}").format(number=-run.returncode)
        return Diagnosis("crashed", _("the Python process running your code crashed ({signal}).").format(signal=name))
    message = _(
        "your code ended the Python process (exit status {status}) instead of returning: os._exit(), or a library "
        "call that aborts?"
    )
    return Diagnosis("exited", message.format(status=run.returncode))
