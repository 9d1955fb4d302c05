"""The small harness every script in ``lessons/`` uses: steps, checks, figures, the step-through.

A lesson prints each step with its numbers, checks them (a wrong number raises
:class:`LessonCheckError`, so the script fails) and saves its figures to an
output folder with matplotlib's headless Agg backend. Text fits an 80-column
terminal: :meth:`Lesson.say` wraps prose longer than :data:`WIDTH` at word
boundaries (lines laid out by hand, such as the slides' product lines, are
written to fit).

With ``--step`` the lesson pauses after each step (``[Enter] next · b back ·
q quit``): ``b`` shows the steps already run again (they are recorded, not
recomputed), ``q``, Ctrl-D or Ctrl-C at the prompt end the lesson with exit
code 0, and the last step waits too, so the end is not missed. ``--clear``
clears the screen between steps. Ctrl-C while a step computes ends the lesson
with one line instead of a traceback (exit code 130, as for any interrupted
command).

Usage in a lesson script::

    from convlab.lesson import Lesson

    lesson = Lesson(__file__, "Convolution by hand")
    lesson.step("The 5×5 input")
    lesson.check("top-left output", got, 266)
    fig = ...; lesson.savefig(fig, "window")
    lesson.finish()

Command-line options every lesson accepts (``python lessons/03_convolution_by_hand.py --help``):
``--step`` (pause between steps), ``--clear`` (the same, clearing the screen
between steps), ``--verbose`` (print every check's tolerance, not only where the
tolerance is the point), ``--out DIR`` (figure folder, default ``convlab-output/``),
``--quick`` (smaller runs, used by ``convlab tour`` and the tests). Lessons may
add their own options through ``extra_args``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import sys
import textwrap
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
from convlab.util.i18n import (
    LANGUAGES,
    N_,
    _,
    add_catalog,
    add_messages,
    language_in_argv,
    ngettext,
    set_language,
)

__all__ = [
    "Lesson",
    "LessonCheckError",
    "DEFAULT_OUT",
    "print_matrix",
    "product_term",
    "product_rows",
    "unbroken",
    "counted",
    "int_at_least",
    "exercise_text",
    "wrap_line",
    "WIDTH",
    "_",
    "N_",
    "ngettext",
    "notebook_options",
    "in_notebook",
]

DEFAULT_OUT = "convlab-output"

#: The widest line a lesson prints: an 80-column terminal shows every line whole.
WIDTH = 80

# A line that starts with a mark or a number ("✓ ", "- ", "• ", "2. ", "(a) ") continues under its text.
_HANGING = re.compile(r"(?:[-•*✓✗→]|\d+[.)]|\([a-z0-9]\))\s+|--- [^:]*:\s+")

_CLEAR_SCREEN = "\033[2J\033[H"


def wrap_line(line: str, width: int = WIDTH) -> list[str]:
    """``line`` cut at word boundaries into lines of at most ``width`` characters.

    A line that fits is returned as it is (aligned columns keep their spaces). A longer one
    keeps its leading spaces; its continuation lines start under the text when the line opens
    with a mark (``✓``, ``-``, ``•``, ``2.``, ``--- Step 3 of 7:``), else under the line's own
    indent. A single word longer than ``width`` (a long path) is not cut.
    """
    if len(line) <= width:
        return [line]
    text = line.lstrip(" ")
    indent = line[: len(line) - len(text)]
    mark = _HANGING.match(text)
    hang = indent + " " * (min(len(mark.group(0)), 8) if mark else 0)
    wrapper = textwrap.TextWrapper(
        width=width,
        initial_indent=indent,
        subsequent_indent=hang,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapper.wrap(text) or [line]


def _count_steps(file: str | os.PathLike) -> int:
    """How many ``lesson.step(...)`` calls the script ``file`` makes (0 if it cannot be read).

    The lessons call ``step`` at the top level of the script, once per step, so the count is
    the number of steps of a run (``tests/test_lessons.py`` checks it against the run's
    ``summary.json``).
    """
    try:
        tree = ast.parse(Path(file).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return 0
    return sum(
        1
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "step"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "lesson"
    )


class _Recorder:
    """``sys.stdout`` under ``--step``: writes through to the terminal and keeps each step's text.

    Page 0 is what comes before step 1 (the title); page k is step k. ``b`` at the prompt
    shows a page again from here: a step is never computed twice.
    """

    def __init__(self, real: Any) -> None:
        self.real = real
        self.pages: list[list[str]] = [[]]

    def write(self, text: str) -> int:
        self.pages[-1].append(text)
        return self.real.write(text)

    def flush(self) -> None:
        self.real.flush()

    def new_page(self) -> None:
        self.pages.append([])

    def page(self, k: int) -> str:
        return "".join(self.pages[k])

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding…: the terminal's
        return getattr(self.real, name)


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


def _number(v: float) -> str:
    """A number as the slides write it: ``5``, ``0.25``; a negative one in parentheses, ``(-1)``."""
    text = str(int(v)) if float(v).is_integer() else f"{float(v):g}"
    return f"({text})" if v < 0 else text


def unbroken(text: str) -> str:
    """``text`` with its spaces made no-break (U+00A0), so that :meth:`Lesson.say` never wraps inside it.

    For a short formula inside prose (``unbroken("T = 26")``): ``say`` wraps with :mod:`textwrap`,
    which breaks only at ordinary whitespace.
    """
    return text.replace(" ", "\u00a0")


def product_rows(window: ArrayLike, kernel: ArrayLike, result: float, label: str = "") -> list[str]:
    """A window's sum of products as the slides write it: one kernel row per line.

    Every line but the last ends with ``+``, the last with ``= result``; the columns are aligned
    on the ``*`` (the window's numbers right-aligned, the kernel's left-aligned), so the kernel's
    grid shows. For the slides' first window (seeds/003, "Convolución 2D")::

         60*0    + 113*(-1) + 56*0    +
         73*(-1) + 121*5    + 54*(-1) +
        131*0    +  99*(-1) + 70*0    = 266

    Args:
        window, kernel: ``(KH, KW)`` real numbers, the same shape.
        result: the sum, printed after ``=``.
        label: written before the first line (``"out[0,0]: "``); the other lines start under it.

    Returns:
        The lines, for the caller to print (and to check).

    Raises:
        ValueError: the two are not 2-D arrays of the same shape.
    """
    w, k = np.asarray(window), np.asarray(kernel)
    if w.ndim != 2 or w.shape != k.shape or w.size == 0:
        raise ValueError(f"window and kernel must be 2-D of one shape, got {w.shape} and {k.shape}")
    cells = [[(_number(p), _number(q)) for p, q in zip(wr, kr)] for wr, kr in zip(w, k)]
    left = [max(len(row[c][0]) for row in cells) for c in range(k.shape[1])]
    right = [max(len(row[c][1]) for row in cells) for c in range(k.shape[1])]
    rows = [" + ".join(f"{p:>{lw}}*{q:<{rw}}" for (p, q), lw, rw in zip(row, left, right)) for row in cells]
    rows = [row + " +" for row in rows[:-1]] + [rows[-1] + f" = {_number(result).strip('()')}"]
    return [(label if i == 0 else " " * len(label)) + row for i, row in enumerate(rows)]


class _Notebook:
    """The options of a lesson run inside a Jupyter kernel, where there is no command line to parse."""

    argv: list[str] = []
    steps: int = 0


def in_notebook() -> bool:
    """``True`` inside a Jupyter (IPython) kernel: a notebook runs the lesson, not ``python lessons/…``."""
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None) if shell is not None else None
    return bool(get is not None and get() is not None and "ipykernel" in sys.modules)


def notebook_options(
    *,
    lang: str | None = None,
    quick: bool = False,
    out: str | None = None,
    steps: int = 0,
    messages: dict[str, str] | None = None,
) -> None:
    """Set the options of the lessons a notebook runs (its setup cell calls this; ``convlab notebook`` writes it).

    Args:
        lang: ``"en"``, ``"es"`` or ``None`` (the locale's), as ``--lang``.
        quick: as ``--quick``: the smaller runs.
        out: as ``--out`` (default ``convlab-output/``).
        steps: how many steps the lesson has (a notebook has no script file to count them in).
        messages: translations into ``lang`` of the messages the lesson translates as it runs
            (``_(name)`` of a name marked ``N_``): the notebook carries them, away from the catalogs.

    Raises:
        ValueError: ``lang`` is not one of ``"en"``, ``"es"``.
    """
    if lang is not None and lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(map(repr, LANGUAGES))}, got {lang!r}")
    argv = ["--lang", lang] if lang else []
    argv += ["--quick"] if quick else []
    argv += ["--out", str(out)] if out else []
    _Notebook.argv, _Notebook.steps = argv, int(steps)
    if messages and lang:
        add_messages(lang, messages)


class LessonCheckError(AssertionError):
    """A number a lesson computed differs from the number it must reproduce."""


class Lesson:
    """One lesson run: its arguments, steps, checks and figures.

    Args:
        file: the lesson script's ``__file__``; its stem (``03_convolution_by_hand``)
            names the lesson, its figures and its translation catalog
            (``locale/<lang>/LC_MESSAGES/<stem>.po`` beside the script).
        title: the lesson's title in English, printed first (translated: extracted from this call).
        argv: arguments (default ``sys.argv[1:]``; in a notebook, those of :func:`notebook_options`).
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
        self.notebook = in_notebook()
        if argv is None:
            argv = list(_Notebook.argv) if self.notebook else sys.argv[1:]
        # The language comes first: the options' help is printed in it.
        self.language = set_language(language_in_argv(argv))
        add_catalog(Path(file).resolve().parent / "locale", self.name)
        self.title = title = _(title)
        parser = OneLineArgumentParser(prog=f"python lessons/{self.name}.py", description=title)
        parser.add_argument(
            "--step", action="store_true", help=_("pause after each step: [Enter] next · b back · q quit")
        )
        parser.add_argument("--clear", action="store_true", help=_("like --step, clearing the screen between steps"))
        parser.add_argument(
            "--verbose", action="store_true", help=_("print every check's tolerance, not only where it is the point")
        )
        parser.add_argument(
            "--out",
            default=os.environ.get("CONVLAB_OUT", DEFAULT_OUT),
            help=_("folder for figures and the run summary (default: {folder}/)").format(folder=DEFAULT_OUT),
        )
        parser.add_argument("--quick", action="store_true", help=_("smaller, faster runs (used by `convlab tour`)"))
        parser.add_argument(
            "--lang",
            choices=LANGUAGES,
            default=None,
            help=_("the language of the lesson's words: en or es (default: the locale's, LANG/LC_ALL)"),
        )
        if extra_args is not None:
            extra_args(parser)
        self.args = parser.parse_args(argv)
        self.quick = bool(self.args.quick)
        self.verbose = bool(self.args.verbose)
        self.stepping = bool(self.args.step or self.args.clear) and not self.notebook
        self.out = Path(self.args.out) / self.name
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            parser.error(
                _("--out {out!r} cannot hold the figures: {reason} ({file})").format(
                    out=self.args.out, reason=e.strerror, file=e.filename
                )
            )
        self.checks = 0
        self.figures: list[str] = []
        self._n_step = 0
        self._total = _count_steps(file) or (_Notebook.steps if self.notebook else 0)
        self._t0 = time.perf_counter()
        self._recorder: _Recorder | None = None
        if not self.notebook:  # the kernel has its own Ctrl-C (the interrupt button)
            self._install_interrupt_hook()
        if self.stepping:
            self._recorder = _Recorder(sys.stdout)
            sys.stdout = self._recorder
        import matplotlib

        if os.environ.get("MPLBACKEND") is None and not self.notebook:  # headless by default
            matplotlib.use("Agg")
        bar = "=" * WIDTH
        self.say("", bar, f"{self.name}: {title}", bar)

    # ------------------------------------------------------------------ steps
    def step(self, title: str) -> None:
        """Start a new step: under ``--step`` pause first (except before step 1); print "Step k of n: title"."""
        if self._n_step and self.stepping:
            self._pause()
        self._n_step += 1
        if self._recorder is not None:
            self._recorder.new_page()
            if self.args.clear:
                self._clear()
        self.say("", _("--- Step {where}: {title}").format(where=self._where(), title=title))

    def say(self, *lines: object) -> None:
        """Print explanatory text, each argument on its own line(s), wrapped to :data:`WIDTH` columns.

        An argument holding newlines is several lines. Lines that fit are printed as they are;
        longer ones are cut at word boundaries (:func:`wrap_line`).
        """
        for line in lines:
            for part in str(line).split("\n"):
                for piece in wrap_line(part):
                    print(piece)

    def _where(self) -> str:
        """``"3 of 7"`` (or ``"3"`` when the script's steps could not be counted)."""
        total = max(self._total, self._n_step)
        return _("{k} of {n}").format(k=self._n_step, n=total) if self._total else str(self._n_step)

    # ------------------------------------------------------------------ the step-through
    def _clear(self) -> None:
        real = self._recorder.real if self._recorder is not None else sys.stdout
        if getattr(real, "isatty", lambda: False)():
            real.write(_CLEAR_SCREEN)
            real.flush()

    def _ask(self, prompt: str) -> str:
        """One answer from the learner; the prompt is not recorded (it is shown again when it is due)."""
        real = self._recorder.real if self._recorder is not None else sys.stdout
        saved, sys.stdout = sys.stdout, real
        try:
            return input(prompt)
        finally:
            sys.stdout = saved

    def _show_page(self, k: int, total: int) -> None:
        """Show recorded page ``k`` again (``b``, or Enter on the way back to the newest step)."""
        real = self._recorder.real
        if self.args.clear and getattr(real, "isatty", lambda: False)():
            real.write(_CLEAR_SCREEN)
        else:
            where = _("the start") if k == 0 else _("step {k} of {n}").format(k=k, n=total)
            shown = _("{where} (shown again)").format(where=where)
            real.write(f"\n{'·' * 24} {shown} {'·' * 24}"[: WIDTH + 1] + "\n")
        real.write(self._recorder.page(k))
        real.flush()

    def _pause(self, *, end: bool = False) -> None:
        """Wait at the end of a step: Enter goes on, ``b`` goes back a step, ``q`` (or Ctrl-D, Ctrl-C) quits."""
        live = len(self._recorder.pages) - 1 if self._recorder is not None else 0
        view = live
        total = max(self._total, self._n_step)
        while True:
            nxt = _("finish") if end and view == live else _("next")
            back = _(" · b back") if view > 0 and self._recorder is not None else ""
            try:
                answer = self._ask(_("\n[Enter] {next}{back} · q quit ").format(next=nxt, back=back)).strip().lower()
            except (EOFError, KeyboardInterrupt):
                self._quit()
            if answer in ("q", "quit", "exit", "salir"):
                self._quit()
            if answer in ("b", "back", "atrás", "atras") and back:
                view -= 1
                self._show_page(view, total)
            elif answer == "" and view < live:
                view += 1
                self._show_page(view, total)
            elif answer == "":
                return
            else:
                print(_("  (press Enter to go on, b then Enter to go back, q then Enter to quit)"), file=self._stdout())

    def _stdout(self) -> Any:
        return self._recorder.real if self._recorder is not None else sys.stdout

    def _quit(self) -> None:
        out = self._stdout()
        out.write("\n" + _("{lesson}: stopped at step {where}.").format(lesson=self.name, where=self._where()) + "\n")
        out.flush()
        raise SystemExit(0)

    def _install_interrupt_hook(self) -> None:
        """Ctrl-C while a step computes: one line on stderr, not a traceback (the exit code stays 130)."""
        previous = sys.excepthook
        lesson = self

        def hook(kind, value, tb):  # type: ignore[no-untyped-def]
            if issubclass(kind, KeyboardInterrupt):
                text = _("{lesson}: interrupted (Ctrl-C) during step {where}.")
                sys.stderr.write("\n" + text.format(lesson=lesson.name, where=lesson._where()) + "\n")
                return
            previous(kind, value, tb)

        sys.excepthook = hook

    # ------------------------------------------------------------------ checks
    def check(
        self,
        what: str,
        got: ArrayLike,
        expected: ArrayLike,
        *,
        atol: float = 0.0,
        rtol: float = 0.0,
        show_tolerance: bool = False,
    ) -> None:
        """Check that ``got`` equals ``expected`` (exactly by default) and print ✓, or raise.

        Args:
            what: what is being checked, printed beside the mark.
            got, expected: numbers or arrays of the same shape.
            atol, rtol: tolerances as in ``numpy.allclose`` (0 = exact).
            show_tolerance: print ``(atol=…, rtol=…)`` beside the mark: for the checks where
                the tolerance is the lesson (float32 against float64, a finite-difference
                gradient). ``--verbose`` prints it for every check.

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
        shown = (show_tolerance or self.verbose) and not (atol == 0 and rtol == 0)
        self.say(f"  ✓ {what}" + (f" (atol={atol:g}, rtol={rtol:g})" if shown else ""))

    def check_true(self, what: str, condition: bool) -> None:
        """Check a condition (e.g. ``accuracy >= 0.945``); raise :class:`LessonCheckError` if false."""
        if not bool(condition):
            raise LessonCheckError(f"{self.name}: {what}: not satisfied")
        self.checks += 1
        self.say(f"  ✓ {what}")

    # ------------------------------------------------------------------ figures
    def savefig(self, fig: Any, name: str, **kwargs: Any) -> Path:
        """Save a matplotlib figure as ``<out>/<lesson>/<name>.png`` (atomically) and close it."""
        import matplotlib.pyplot as plt

        path = self.out / f"{name}.png"
        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format="png", dpi=kwargs.pop("dpi", 100), bbox_inches="tight", **kwargs)
            if self.notebook:
                _display_image(path)
        finally:
            plt.close(fig)
        self.figures.append(str(path))
        self.say(_("  [figure] {path}").format(path=_shown(path)))
        return path

    def save_file(self, write: Callable[[str], None], name: str) -> Path:
        """Write another artefact (e.g. a GIF) atomically: ``write(tmp_path)`` then rename to ``name``."""
        path = self.out / name
        with atomic_path(path) as tmp:  # ends like ``name``: writers pick the format from it
            write(tmp)
        if self.notebook and path.suffix.lower() in (".png", ".gif", ".jpg", ".jpeg"):
            _display_image(path)
        self.figures.append(str(path))
        self.say(_("  [figure] {path}").format(path=_shown(path)))
        return path

    # ------------------------------------------------------------------ end
    def skip(self, reason: str) -> None:
        """End the lesson early without failing (e.g. TensorFlow is not installed): say why, exit 0.

        The summary records ``status: "skipped"`` and the reason, so ``convlab tour`` shows it.
        """
        self.say("", _("{lesson}: skipped — {reason}").format(lesson=self.name, reason=reason))
        self._write_summary("skipped", reason)
        raise SystemExit(0)

    def _write_summary(self, status: str, reason: str = "") -> dict[str, Any]:
        summary = {
            "lesson": self.name,
            "title": self.title,
            "status": status,
            "reason": reason,
            "checks": self.checks,
            "steps": self._n_step,
            "figures": len(self.figures),
            "seconds": round(time.perf_counter() - self._t0, 2),
        }
        with atomic_path(self.out / "summary.json") as tmp:
            Path(tmp).write_text(json.dumps(summary, indent=2))
        return summary

    def finish(self) -> dict[str, Any]:
        """Print the lesson's totals and the exercises that go with it; write ``<out>/<lesson>/summary.json``
        (read by ``convlab tour``). Under ``--step``, wait once more, so the end can be read (and gone back from)."""
        summary = self._write_summary("passed")
        checks = ngettext("{n} check passed", "{n} checks passed", self.checks).format(n=self.checks)
        n_fig = len(self.figures)
        figures = (
            ngettext("{n} figure in {folder}/", "{n} figures in {folder}/", n_fig).format(
                n=n_fig, folder=_shown(self.out)
            )
            if self.figures
            else _("no figures")
        )
        seconds = unbroken(f"{summary['seconds']:.1f} s")
        self.say("", f"{self.name}: {checks}, {figures} ({seconds})")
        self.say(exercise_text(self.name))
        if self.stepping:
            self._pause(end=True)
        return summary


def counted(n: int, noun: str) -> str:
    """``"1 figure"``, ``"0 figures"``, ``"3 figures"``: a count with its English noun pluralised.

    English only (an ``s`` added); translated text uses ``ngettext`` instead.
    """
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _display_image(path: Path) -> None:
    """Show an image file in the notebook's output, under the cell that made it."""
    from IPython.display import Image, display

    display(Image(filename=str(path)))


def _shown(path: Path) -> str:
    """``path`` as the learner typed it: relative to the current folder when it lies inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


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
        _("Your turn: write it yourself; convlab grades it and says where it goes wrong."),
        _("  convlab exercises  (once: copies the exercises into convlab-exercises/)"),
    ]
    for ex in chosen:
        command = f"  convlab check {ex.number:<4} "
        title = textwrap.wrap(_(ex.title), WIDTH - len(command), break_long_words=False) or [""]
        lines.append(command + title[0])
        lines += [" " * len(command) + more for more in title[1:]]  # a long title continues under itself
    return "\n".join(lines)
