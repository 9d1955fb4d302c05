"""``convlab exercises`` and ``convlab check``: what each command does and prints.

``convlab exercises [--dir DIR] [--force]`` copies the stubs (:mod:`convlab.exercises.workspace`);
``convlab check [N|all] [--dir DIR] [--hint] [--timeout S]`` grades them
(:mod:`convlab.exercises.grade`) and prints the report (:mod:`convlab.exercises.report`).
The argument parsing lives in :mod:`convlab.cli`.
"""

from __future__ import annotations

from pathlib import Path

from convlab.exercises.grade import grade_exercise, grader_module
from convlab.exercises.report import render_hints, render_result, render_summary
from convlab.exercises.workspace import copy_exercises, find_folder, hints_shown, record_hints_shown
from convlab.teach.exercise_catalogue import EXERCISES, Exercise, get_exercise

__all__ = ["run_exercises", "run_check", "chosen_exercises"]


def run_exercises(folder: str | Path, *, force: bool = False) -> int:
    """Copy the exercise stubs into ``folder``; print what was written and what comes next. Returns 0.

    Raises:
        OSError: the folder or a file cannot be written.
    """
    done = copy_exercises(folder, force=force)
    folder = Path(folder)
    print(f"convlab exercises: {len(done)} exercises in {folder}/")
    notes = {
        "created": "new",
        "unchanged": "already there, untouched",
        "kept": "kept: your work (--force replaces it with the blank stub, saving yours as .bak)",
        "replaced": "replaced by the blank stub; your old file is {backup}",
    }
    for c in done:
        note = notes[c.action].format(backup=c.backup.name if c.backup else "")
        print(f"  {c.exercise.file_name:<28} {note}")
    check_dir = "" if folder.resolve() == Path("convlab-exercises").resolve() else f" --dir {folder}"
    print()
    print("Open a file, read its task, write the function, then check it:")
    print(f"  convlab check 2{check_dir}          (one exercise; `all` checks every one)")
    print(f"  convlab check 2 --hint{check_dir}   (a hint, one more each time; never the answer)")
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
        raise ValueError(f"expected an exercise number, a name or 'all', got {which!r}")
    chosen = []
    for t in tokens:
        ex = get_exercise(t)
        if ex not in chosen:
            chosen.append(ex)
    return chosen


def _dir_option(given: str | Path | None) -> str:
    """`` --dir D`` when the learner named a folder, so that a suggested command works when copied."""
    return "" if given is None else f" --dir {given}"


def _hint(folder: Path, exercise: Exercise, dir_option: str) -> str:
    hints = tuple(getattr(grader_module(exercise), "HINTS", ()))
    if not hints:
        return f"  (exercise {exercise.number} has no hints)"
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
                print(f"  Stuck? convlab check {ex.number} --hint{dir_option}")
    if len(chosen) > 1:
        print(render_summary(results))
    if hint and not hint_given:
        print("\n  Every exercise checked passes: no hint needed.")
    return 0 if all(r.passed for r in results) else 1
