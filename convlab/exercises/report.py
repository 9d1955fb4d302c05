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
from convlab.util.i18n import N_, _

__all__ = ["render_result", "render_hints", "render_summary", "code_label", "CODE_LABELS", "WIDTH"]

#: The longest line of the report: an 80-column terminal, less the last column (a line that fills it
#: wraps in some terminals).
WIDTH = 79

_OK, _BAD = "✓", "✗"

#: Diagnoses explained first when any case has one: state kept between calls (or inputs changed in place)
#: also spoils the cases after it, whose own diagnoses are then only symptoms; the process stopping ends all.
_ROOT_CAUSES = ("accumulates", "modified_input", "timeout", "exited", "crashed", "printed_too_much")

#: How the report names each diagnosis code (in English the code itself, with spaces for the underscores).
CODE_LABELS = {
    "absolute_value": N_("absolute value"),
    "accumulates": N_("accumulates"),
    "activation_applied": N_("activation applied"),
    "average_instead_of_max": N_("average instead of max"),
    "averaged_twice": N_("averaged twice"),
    "batch_ignored": N_("batch ignored"),
    "batch_not_summed": N_("batch not summed"),
    "bias_missing": N_("bias missing"),
    "bias_not_updated": N_("bias not updated"),
    "bias_per_pixel": N_("bias per pixel"),
    "channels_first": N_("channels first"),
    "conv_update_wrong": N_("conv update wrong"),
    "crashed": N_("crashed"),
    "dbias_axes": N_("dbias axes"),
    "dense_update_wrong": N_("dense update wrong"),
    "dkernel_flipped": N_("dkernel flipped"),
    "dkernel_overwrites": N_("dkernel overwrites"),
    "dx_kernel_not_flipped": N_("dx kernel not flipped"),
    "dx_not_cropped": N_("dx not cropped"),
    "every_maximum": N_("every maximum"),
    "exception": N_("exception"),
    "exited": N_("exited"),
    "first_wrong": N_("first wrong"),
    "flatten_order": N_("flatten order"),
    "flipped_kernel": N_("flipped kernel"),
    "float32_precision": N_("float32 precision"),
    "forgot_plus_one": N_("forgot plus one"),
    "global_max": N_("global max"),
    "import_error": N_("import error"),
    "integer_output": N_("integer output"),
    "keepdims_missing": N_("keepdims missing"),
    "keeps_negatives": N_("keeps negatives"),
    "kernel_transposed": N_("kernel transposed"),
    "last_maximum": N_("last maximum"),
    "learning_rate_ignored": N_("learning rate ignored"),
    "leaky_relu": N_("leaky relu"),
    "load_error": N_("load error"),
    "log_epsilon": N_("log epsilon"),
    "log_softmax": N_("log softmax"),
    "loop_stops_early": N_("loop stops early"),
    "loss_mismatch": N_("loss mismatch"),
    "loss_not_averaged": N_("loss not averaged"),
    "loss_not_decreasing": N_("loss not decreasing"),
    "max_over_channels": N_("max over channels"),
    "max_starts_at_zero": N_("max starts at zero"),
    "min_instead_of_max": N_("min instead of max"),
    "missing_exp": N_("missing exp"),
    "missing_file": N_("missing file"),
    "missing_function": N_("missing function"),
    "modified_input": N_("modified input"),
    "no_floor": N_("no floor"),
    "nonzero_padding": N_("nonzero padding"),
    "not_averaged": N_("not averaged"),
    "not_finite": N_("not finite"),
    "not_implemented": N_("not implemented"),
    "not_normalised": N_("not normalised"),
    "not_run": N_("not run"),
    "not_updated": N_("not updated"),
    "one_channel_only": N_("one channel only"),
    "overlap_overwrites": N_("overlap overwrites"),
    "padded_every_axis": N_("padded every axis"),
    "padding_all_axes": N_("padding all axes"),
    "padding_ignored": N_("padding ignored"),
    "padding_one_axis": N_("padding one axis"),
    "padding_one_side": N_("padding one side"),
    "partial_windows": N_("partial windows"),
    "pool_stride_swapped": N_("pool stride swapped"),
    "printed_too_much": N_("printed too much"),
    "relu_backward_missing": N_("relu backward missing"),
    "relu_mask": N_("relu mask"),
    "rows_columns_swapped": N_("rows columns swapped"),
    "same_not_ceil": N_("same not ceil"),
    "same_padding_formula": N_("same padding formula"),
    "scaled": N_("scaled"),
    "shifted": N_("shifted"),
    "split_among_ties": N_("split among ties"),
    "stride_ignored": N_("stride ignored"),
    "sum_not_reset": N_("sum not reset"),
    "syntax_error": N_("syntax error"),
    "timeout": N_("timeout"),
    "unstable_softmax": N_("unstable softmax"),
    "valid_mishandled": N_("valid mishandled"),
    "whole_window": N_("whole window"),
    "wrong_axis": N_("wrong axis"),
    "wrong_shape": N_("wrong shape"),
    "wrong_sign": N_("wrong sign"),
    "wrong_signature": N_("wrong signature"),
    "wrong_type": N_("wrong type"),
    "wrong_value": N_("wrong value"),
}


def code_label(code: str) -> str:
    """A diagnosis code as the report shows it: ``"flipped_kernel"`` → ``"flipped kernel"`` (translated)."""
    label = CODE_LABELS.get(code)
    return _(label) if label is not None else code.replace("_", " ")


def _error_text(err: float | None) -> str:
    if err is None:
        return ""
    return _("exact") if err == 0 else _("rel. error {error:.1e}").format(error=err)


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
            lines.append("      " + _("channel {channel}:").format(channel=c))
            lines.append(format_matrix(a[..., c], indent="        "))
    return lines


def _case_line(c: CaseResult) -> str:
    mark = _OK if c.passed else _BAD
    if c.passed:
        right = _error_text(c.error)
    else:
        right = code_label(c.diagnosis.code) if c.diagnosis else _("wrong")
        if c.error is not None and np.isfinite(c.error):  # the numbers were comparable: how far off
            right = _("{label} · err {error:.2g}").format(label=right, error=c.error)
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
    heading = _("Your code printed:")
    if result.stdout_bytes > len(result.stdout.encode()) or len(text) > 10:
        if len(shown) == 1:
            heading = _("Your code printed (the first line of {total:,} bytes):")
        else:
            heading = _("Your code printed (the first {n} lines of {total:,} bytes):")
    lines = ["  " + heading.format(n=len(shown), total=result.stdout_bytes)]
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
    lines = [
        _("Exercise {number}: {title}").format(number=ex.number, title=_(ex.title)),
        f"  {_short_path(result.path)}",
    ]
    if result.problem is not None:
        lines.append(f"  {_BAD} {code_label(result.problem.code)}")
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
        how = _("every answer exact") if worst == 0 else _("largest rel. error {error:.1e}").format(error=worst)
        passes = _("exercise {number} passes: all {total} cases ({how})").format(number=ex.number, total=total, how=how)
        lines.append(f"  {_OK} {passes}")
    else:
        lines.append("  " + _("{passed} of {total} cases pass.").format(passed=result.n_passed, total=total))
        first = _most_telling(failed)
        lines.append("")
        name = first.case.name
        heading = _("What went wrong in “{name}”:")
        room = WIDTH - len("  " + heading.format(name=""))
        lines.append("  " + heading.format(name=name if len(name) <= room else name[: room - 1] + "…"))
        lines.append(_indent(first.diagnosis.message if first.diagnosis else _("the answer is wrong")))
    lines += _printed(result)
    if result.borrowed:
        lines.append(
            _indent(
                _(
                    "Note: your file imports {modules}. The grader allows it, but the exercise is to write the "
                    "computation yourself, with NumPy."
                ).format(modules=", ".join(result.borrowed)),
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
        lines.append("  " + _("Hint {number} of {total}:").format(number=i + 1, total=len(hints)))
        lines.append(_indent(_(hints[i])))  # the graders' HINTS are marked N_("…")
    if shown < len(hints):
        command = f"convlab check {exercise.number} --hint{dir_option}"
        lines.append("  " + _("(run `{command}` again for the next hint)").format(command=command))
    return "\n".join(lines)


def render_summary(results: list[ExerciseResult]) -> str:
    """One line per exercise, for ``convlab check all``."""
    lines = ["", _("Summary:")]
    for r in results:
        mark = _OK if r.passed else _BAD
        if r.problem is not None:
            state = code_label(r.problem.code)
        else:
            state = _("{passed} of {total} cases").format(passed=r.n_passed, total=len(r.cases))
        lines.append(f"  {mark} {r.exercise.number:>2}  {r.exercise.file_name:<28} {state}")
    done = sum(r.passed for r in results)
    lines.append("  " + _("{passed} of {total} exercises pass.").format(passed=done, total=len(results)))
    return "\n".join(lines)
