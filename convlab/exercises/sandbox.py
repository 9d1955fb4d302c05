"""Run a learner's exercise file in its own process, with a time limit, and collect what it returned.

The learner's code may loop forever, call ``sys.exit``, crash the interpreter,
print megabytes or change its inputs; none of it may take the grader down or
leave it waiting. So the file runs in a child process (:mod:`convlab.exercises.child`)
that records each event to a file as it happens; this side waits at most
``timeout`` seconds, kills the child's whole process group if it must, and reads
back whatever was recorded. The expected answers never leave this process.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SandboxRun", "run_learner_file", "CHILD", "STDOUT_SHOWN"]

#: The script the child process runs.
CHILD = Path(__file__).with_name("child.py")

#: Bytes of the learner's printed output kept for the report; the rest is counted, not kept.
STDOUT_SHOWN = 4000


@dataclass
class SandboxRun:
    """What came back from one run of a learner's file.

    Attributes:
        load: the child's ``load`` record when the file could not be used (syntax error, exception at
            import, missing function, wrong signature), else ``None``.
        loaded: whether the file loaded and its functions were found.
        borrowed: the libraries the file imported that an exercise should not need (convlab, scipy, …).
        records: the ``result`` / ``error`` record of each call, by call index.
        running: the index of the call that started and never finished (time limit, exit, crash), or ``None``.
        ended: ``"done"`` (all calls ran), ``"timeout"``, ``"exited"`` (the process ended early with
            ``returncode``) or ``"crashed"`` (killed by signal ``-returncode``).
        returncode: the child's exit status (negative: the signal that killed it).
        stdout: the first :data:`STDOUT_SHOWN` bytes the learner's code printed (stdout and stderr together).
        stdout_bytes: how many bytes it printed in all.
        seconds: wall time of the run.
    """

    load: dict | None = None
    loaded: bool = False
    borrowed: list[str] = field(default_factory=list)
    records: dict[int, dict] = field(default_factory=dict)
    running: int | None = None
    ended: str = "done"
    returncode: int = 0
    stdout: str = ""
    stdout_bytes: int = 0
    seconds: float = 0.0


def _read_records(path: str) -> list[dict]:
    records = []
    with open(path, "rb") as f:
        while True:
            try:
                records.append(pickle.load(f))
            except EOFError:
                break
            except Exception:  # a record cut short when the process was killed mid-write, or one that names
                break  # a module only the child had (it should never: the child sends plain data)
    return records


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):  # AttributeError: no process groups (Windows)
        proc.kill()
    proc.wait()


def run_learner_file(
    path: Path,
    module_name: str,
    functions: dict[str, tuple[str, ...]],
    calls: list[dict[str, Any]],
    timeout: float,
) -> SandboxRun:
    """Run ``calls`` on the functions of the learner's file ``path`` in a child process.

    Args:
        path: the learner's file, e.g. ``convlab-exercises/ex02_correlate2d.py``.
        module_name: the name it is imported under (``ex02_correlate2d``).
        functions: each function the calls use, with its parameter names (the call passes that many
            positional arguments).
        calls: ``{"index", "function", "args", "repeat", "chain"}`` per call (``chain`` a dict of
            :class:`~convlab.exercises.case.Chain`'s fields, or ``None``).
        timeout: seconds for the whole run, import included.

    Returns:
        A :class:`SandboxRun`.
    """
    path = Path(path).resolve()
    with tempfile.TemporaryDirectory(prefix="convlab-check-") as tmp:
        calls_file = os.path.join(tmp, "calls.pickle")
        results_file = os.path.join(tmp, "results.pickle")
        out_file = os.path.join(tmp, "stdout.txt")
        with open(calls_file, "wb") as f:
            pickle.dump({"module": module_name, "functions": functions, "calls": calls}, f)
        open(results_file, "wb").close()
        env = dict(os.environ)
        env.update(PYTHONDONTWRITEBYTECODE="1", MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
        t0 = time.perf_counter()
        with open(out_file, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, str(CHILD), str(path), calls_file, results_file],
                cwd=str(path.parent),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its own process group: a learner's subprocesses die with it
            )
            timed_out = False
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill_group(proc)
            except BaseException:  # Ctrl-C in the grader: do not leave the child running
                _kill_group(proc)
                raise
            if not timed_out:  # processes the learner's code started and left running go with it
                _kill_group(proc)
        run = SandboxRun(seconds=time.perf_counter() - t0, returncode=proc.returncode)
        run.stdout_bytes = os.path.getsize(out_file)
        with open(out_file, "rb") as f:
            run.stdout = f.read(STDOUT_SHOWN).decode("utf-8", errors="replace")
        started = None
        done = False
        for rec in _read_records(results_file):
            kind = rec.get("kind")
            if kind == "load":
                run.load = rec
            elif kind == "loaded":
                run.loaded = True
                run.borrowed = list(rec.get("borrowed", []))
            elif kind == "start":
                started = rec["index"]
            elif kind in ("result", "error"):
                run.records[rec["index"]] = rec
                started = None
            elif kind == "done":
                done = True
        run.running = started
        if timed_out:
            run.ended = "timeout"
        elif done or run.load is not None:
            run.ended = "done"
        elif proc.returncode is not None and proc.returncode < 0:
            run.ended = "crashed"
        else:
            run.ended = "exited"
        return run
