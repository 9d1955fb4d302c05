"""The small harness every script in ``lessons/`` uses: steps, checks, figures.

A lesson prints each step with its numbers, checks them (a wrong number raises
:class:`LessonCheckError`, so the script fails), saves its figures to an
output folder with matplotlib's headless Agg backend, and, with ``--step``,
pauses between steps until Enter is pressed.

Usage in a lesson script::

    from convlab.lesson import Lesson

    lesson = Lesson(__file__, "Convolution by hand")
    lesson.step("The 5×5 input")
    lesson.check("top-left output", got, 266)
    fig = ...; lesson.savefig(fig, "window")
    lesson.finish()

Command-line options every lesson accepts (``python lessons/03_convolution_by_hand.py --help``):
``--step`` (pause between steps), ``--out DIR`` (figure folder, default
``convlab-output/``), ``--quick`` (smaller runs, used by ``convlab tour`` and the tests).
Lessons may add their own options through ``extra_args``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.teach.exercise_catalogue import exercises_for_lesson
from convlab.util.checks import check_real_dtype
from convlab.util.cli_args import OneLineArgumentParser, int_at_least
from convlab.util.files import atomic_path

__all__ = [
    "Lesson",
    "LessonCheckError",
    "DEFAULT_OUT",
    "print_matrix",
    "product_term",
    "int_at_least",
    "exercise_text",
]

DEFAULT_OUT = "convlab-output"


def print_matrix(m: ArrayLike, indent: str = "    ") -> None:
    """Print an integer-valued matrix as the slides do: one row per line, columns right-aligned.

    Args:
        m: ``(rows, cols)``, real numbers (printed as ints).

    Raises:
        TypeError: ``m`` is not real numbers. ValueError: not a non-empty 2-D matrix.
    """
    m = check_real_dtype(m, "m")
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"m must be a non-empty 2-D matrix, got shape {m.shape}")
    width = max(len(str(int(v))) for v in m.ravel())
    for row in m:
        print(indent + " ".join(f"{int(v):>{width}}" for v in row))


def product_term(p: float, q: float) -> str:
    """One product as the slides write it, negative factors in parentheses: ``113*(-1)``."""
    return f"{int(p)}*{int(q)}" if q >= 0 else f"{int(p)}*({int(q)})"


class LessonCheckError(AssertionError):
    """A number a lesson computed differs from the number it must reproduce."""


class Lesson:
    """One lesson run: its arguments, steps, checks and figures.

    Args:
        file: the lesson script's ``__file__``; its stem (``03_convolution_by_hand``)
            names the lesson and its figures.
        title: the lesson's title, printed first.
        argv: arguments (default ``sys.argv[1:]``).
        extra_args: an optional ``callable(parser)`` adding lesson-specific options.

    Attributes:
        args: the parsed ``argparse.Namespace``.
        out: ``Path`` of this lesson's figure folder (created).
        quick: ``True`` under ``--quick``.
    """

    def __init__(
        self,
        file: str | os.PathLike,
        title: str,
        argv: Sequence[str] | None = None,
        extra_args: Callable[[argparse.ArgumentParser], None] | None = None,
    ) -> None:
        self.name = Path(file).stem
        self.title = title
        parser = OneLineArgumentParser(prog=f"python lessons/{self.name}.py", description=title)
        parser.add_argument("--step", action="store_true", help="pause after each step until Enter is pressed")
        parser.add_argument(
            "--out",
            default=os.environ.get("CONVLAB_OUT", DEFAULT_OUT),
            help=f"folder for figures and the run summary (default: {DEFAULT_OUT}/)",
        )
        parser.add_argument("--quick", action="store_true", help="smaller, faster runs (used by `convlab tour`)")
        if extra_args is not None:
            extra_args(parser)
        self.args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        self.quick = bool(self.args.quick)
        self.out = Path(self.args.out) / self.name
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            parser.error(f"--out {self.args.out!r} cannot hold the figures: {e.strerror} ({e.filename})")
        self.checks = 0
        self.figures: list[str] = []
        self._n_step = 0
        self._t0 = time.perf_counter()
        import matplotlib

        if os.environ.get("MPLBACKEND") is None:  # headless by default
            matplotlib.use("Agg")
        print(f"\n{'=' * 72}\n{self.name}: {title}\n{'=' * 72}")

    # ------------------------------------------------------------------ steps
    def step(self, title: str) -> None:
        """Start a new step: pause first under ``--step`` (except before step 1), then print its title."""
        if self._n_step and self.args.step:
            try:
                input("\n[Enter] next step ")
            except EOFError:
                pass
        self._n_step += 1
        print(f"\n--- Step {self._n_step}: {title}")

    def say(self, *lines: object) -> None:
        """Print explanatory text (each argument on its own line)."""
        for line in lines:
            print(line)

    # ------------------------------------------------------------------ checks
    def check(self, what: str, got: ArrayLike, expected: ArrayLike, *, atol: float = 0.0, rtol: float = 0.0) -> None:
        """Check that ``got`` equals ``expected`` (exactly by default) and print ✓, or raise.

        Args:
            what: what is being checked, printed beside the mark.
            got, expected: numbers or arrays of the same shape.
            atol, rtol: tolerances as in ``numpy.allclose`` (0 = exact).

        Raises:
            LessonCheckError: shapes differ or any value is outside the tolerance.
        """
        g, e = np.asarray(got), np.asarray(expected)
        if g.shape != e.shape:
            raise LessonCheckError(f"{self.name}: {what}: shape {g.shape} != expected {e.shape}")
        ok = np.array_equal(g, e) if atol == 0 and rtol == 0 else np.allclose(g, e, atol=atol, rtol=rtol)
        if not ok:
            raise LessonCheckError(f"{self.name}: {what}: got\n{g}\nexpected\n{e}")
        self.checks += 1
        tol = "" if atol == 0 and rtol == 0 else f" (atol={atol:g}, rtol={rtol:g})"
        print(f"  ✓ {what}{tol}")

    def check_true(self, what: str, condition: bool) -> None:
        """Check a condition (e.g. ``accuracy >= 0.945``); raise :class:`LessonCheckError` if false."""
        if not bool(condition):
            raise LessonCheckError(f"{self.name}: {what}: not satisfied")
        self.checks += 1
        print(f"  ✓ {what}")

    # ------------------------------------------------------------------ figures
    def savefig(self, fig: Any, name: str, **kwargs: Any) -> Path:
        """Save a matplotlib figure as ``<out>/<lesson>/<name>.png`` (atomically) and close it."""
        import matplotlib.pyplot as plt

        path = self.out / f"{name}.png"
        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=kwargs.pop("dpi", 100), bbox_inches="tight", **kwargs)
        finally:
            plt.close(fig)
        self.figures.append(str(path))
        print(f"  [figure] {path}")
        return path

    def save_file(self, write: Callable[[str], None], name: str) -> Path:
        """Write another artefact (e.g. a GIF) atomically: ``write(tmp_path)`` then rename to ``name``."""
        path = self.out / name
        with atomic_path(path) as tmp:  # ends like ``name``: writers pick the format from it
            write(tmp)
        self.figures.append(str(path))
        print(f"  [figure] {path}")
        return path

    # ------------------------------------------------------------------ end
    def skip(self, reason: str) -> None:
        """End the lesson early without failing (e.g. TensorFlow is not installed): say why, exit 0.

        The summary records ``status: "skipped"`` and the reason, so ``convlab tour`` shows it.
        """
        print(f"\n{self.name}: skipped — {reason}")
        self._write_summary("skipped", reason)
        raise SystemExit(0)

    def _write_summary(self, status: str, reason: str = "") -> dict[str, Any]:
        summary = {
            "lesson": self.name,
            "title": self.title,
            "status": status,
            "reason": reason,
            "checks": self.checks,
            "figures": len(self.figures),
            "seconds": round(time.perf_counter() - self._t0, 2),
        }
        with atomic_path(self.out / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2))
        return summary

    def finish(self) -> dict[str, Any]:
        """Print the lesson's totals and the exercises that go with it; write ``<out>/<lesson>/summary.json``
        (read by ``convlab tour``)."""
        summary = self._write_summary("passed")
        print(
            f"\n{self.name}: {self.checks} checks passed, {len(self.figures)} figures in {self.out}/ "
            f"({summary['seconds']:.1f} s)"
        )
        print(exercise_text(self.name))
        return summary


def exercise_text(lesson_name: str) -> str:
    """The closing lines of lesson ``lesson_name`` (``03_convolution_by_hand``): its exercises, and how to
    get and check them; ``""`` for a lesson with none (the catalogue, ``convlab.teach.exercise_catalogue``,
    says which go with which lesson)."""
    number = int(lesson_name[:2]) if lesson_name[:2].isdigit() else None
    chosen = exercises_for_lesson(number) if number is not None else ()
    if not chosen:
        return ""
    lines = [
        "",
        "Your turn: write it yourself; convlab grades it and says where it goes wrong.",
        "  convlab exercises  (once: copies the exercises into convlab-exercises/)",
    ]
    for ex in chosen:
        lines.append(f"  convlab check {ex.number:<4} {ex.title}")
    return "\n".join(lines)
