"""``convlab exercises`` and ``convlab check``: what each command does and prints.

``convlab exercises [--dir DIR] [--force]`` copies the stubs (:mod:`convlab.exercises.workspace`);
``convlab check [N|all] [--dir DIR] [--hint] [--timeout S]`` grades them
(:mod:`convlab.exercises.grade`) and prints the report (:mod:`convlab.exercises.report`).
The argument parsing lives in :mod:`convlab.cli`, which also sets the language (``--lang es|en``, else the
locale) before these run: the stubs' text and every word printed here come from the ``exercises`` catalog.
"""

from __future__ import annotations

import os
from pathlib import Path

from convlab.exercises.grade import grade_exercise, grader_module
from convlab.exercises.report import render_hints, render_result, render_summary
from convlab.exercises.workspace import copy_exercises, find_folder, hints_shown, record_hints_shown
from convlab.teach.exercise_catalogue import EXERCISES, Exercise, get_exercise
from convlab.util.i18n import LANG_VARIABLE, N_, _, get_language, language_from_environment, ngettext

__all__ = ["run_exercises", "run_check", "chosen_exercises", "lang_option"]

#: What ``convlab exercises`` says about each file, by :class:`~convlab.exercises.workspace.Copied` action.
_NOTES = {
    "created": N_("new"),
    "unchanged": N_("already there, untouched"),
    "translated": N_("still the blank stub: rewritten in this language"),
    "kept": N_("kept: your work (--force replaces it with the blank stub, saving yours as .bak)"),
    "replaced": N_("replaced by the blank stub; your old file is {backup}"),
}


def lang_option() -> str:
    """`` --lang es`` when the language in use is not the one the locale gives (it was chosen with ``--lang``),
    so that a command the text suggests answers in the same language; else ``""``."""
    lang = get_language()
    environ = {k: v for k, v in os.environ.items() if k != LANG_VARIABLE}
    return "" if lang == language_from_environment(environ) else f" --lang {lang}"


def run_exercises(folder: str | Path, *, force: bool = False) -> int:
    """Copy the exercise stubs into ``folder`` in the language in use; print what was written and what comes next.
    Returns 0.

    Raises:
        OSError: the folder or a file cannot be written.
    """
    done = copy_exercises(folder, force=force)
    folder = Path(folder)
    heading = ngettext(
        "convlab exercises: {n} exercise in {folder}/", "convlab exercises: {n} exercises in {folder}/", len(done)
    )
    print(heading.format(n=len(done), folder=folder))
    for c in done:
        note = _(_NOTES[c.action]).format(backup=c.backup.name if c.backup else "")
        print(f"  {c.exercise.file_name:<28} {note}")
    check_dir = "" if folder.resolve() == Path("convlab-exercises").resolve() else f" --dir {folder}"
    options = check_dir + lang_option()
    print()
    print(_("Open a file, read its task, write the function, then check it:"))
    print(f"  convlab check 2{options}          " + _("(one exercise; `all` checks every one)"))
    print(f"  convlab check 2 --hint{options}   " + _("(a hint, one more each time; never the answer)"))
    return 0


def chosen_exercises(which: str) -> list[Exercise]:
    """``"all"`` → every exercise; ``"2"``, ``"02"``, ``"correlate2d"`` → that one; ``"2,4"`` → those.

    Raises:
        ValueError: a token names no exercise (the message lists them).
    """
    if which.strip().lower() == "all":
        return list(EXERCISES)
    tokens = [t for t in which.split(",") if t.strip()]
    if not tokens:
        raise ValueError(_("expected an exercise number, a name or 'all', got {which}").format(which=repr(which)))
    chosen = []
    for t in tokens:
        ex = get_exercise(t)
        if ex not in chosen:
            chosen.append(ex)
    return chosen


def _dir_option(given: str | Path | None) -> str:
    """`` --dir D`` when the learner named a folder (and `` --lang L`` when one was chosen), so that a suggested
    command works, in the same language, when copied."""
    return ("" if given is None else f" --dir {given}") + lang_option()


def _hint(folder: Path, exercise: Exercise, dir_option: str) -> str:
    hints = tuple(getattr(grader_module(exercise), "HINTS", ()))
    if not hints:
        return "  " + _("(exercise {number} has no hints)").format(number=exercise.number)
    shown = min(hints_shown(folder, exercise) + 1, len(hints))
    record_hints_shown(folder, exercise, shown)
    return render_hints(exercise, hints, shown, dir_option)


def run_check(which: str, folder: str | Path | None, *, hint: bool = False, timeout: float | None = None) -> int:
    """Grade the chosen exercises in the learner's folder and print the report.

    Returns:
        0 when every chosen exercise passes, else 1.

    Raises:
        ValueError: ``which`` names no exercise.
        FileNotFoundError: no exercise folder (the message says to run ``convlab exercises``).
    """
    chosen = chosen_exercises(which)
    dir_option = _dir_option(folder)
    folder = find_folder(folder)
    results = []
    hint_given = False
    for i, ex in enumerate(chosen):
        if i:
            print()
        result = grade_exercise(ex, folder, timeout=timeout)
        results.append(result)
        print(render_result(result), flush=True)
        if not result.passed:
            if hint and not hint_given:
                print()
                print(_hint(folder, ex, dir_option))
                hint_given = True
            elif not hint and len(chosen) == 1 and result.problem is None:
                command = f"convlab check {ex.number} --hint{dir_option}"
                print("  " + _("Stuck? {command}").format(command=command))
    if len(chosen) > 1:
        print(render_summary(results))
    if hint and not hint_given:
        print("\n  " + _("Every exercise checked passes: no hint needed."))
    return 0 if all(r.passed for r in results) else 1
