"""The lesson harness (``convlab.lesson``): step numbers, 80-column text, tolerances, and the
``--step`` step-through driven as a student drives it, through a pseudo-terminal.

The pseudo-terminal tests use a three-step lesson written into ``tmp_path`` (fast, and the
same harness every lesson uses) and, once, a real lesson through ``convlab lesson 3 --step``.
"""

import json
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from convlab.lesson import WIDTH, Lesson, wrap_line
from convlab.teach.lesson import _count_steps

pexpect = pytest.importorskip("pexpect")

ROOT = Path(__file__).resolve().parents[1]
PROMPT = r"\[Enter\] next · b back · q quit"
FAKE = textwrap.dedent(
    """
    import time
    from convlab.lesson import Lesson

    lesson = Lesson(__file__, "three steps", extra_args=lambda p: p.add_argument("--sleep", type=float, default=0))
    lesson.say("the start")
    lesson.step("one")
    lesson.say("alpha")
    lesson.step("two")
    lesson.say("beta")
    time.sleep(lesson.args.sleep)
    lesson.step("three")
    lesson.say("gamma")
    lesson.finish()
    """
)


@pytest.fixture
def fake(tmp_path):
    path = tmp_path / "99_fake.py"
    path.write_text(FAKE)
    return path


def spawn(script, *args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    return pexpect.spawn(
        sys.executable,
        [str(script), "--out", "o", *args],
        cwd=str(cwd),
        env=env,
        encoding="utf-8",
        dimensions=(24, 80),
        timeout=60,
    )


def ended(child):
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, child.signalstatus


# ----------------------------------------------------------------------------- plain harness
def test_wrap_line_fits_80_columns_and_hangs_under_marks():
    assert wrap_line("short line") == ["short line"]
    aligned = "    60 113  56 139  85"
    assert wrap_line(aligned) == [aligned]  # a line that fits keeps its spaces
    prose = "word " * 40
    lines = wrap_line(prose.strip())
    assert len(lines) > 1 and all(len(line) <= WIDTH for line in lines)
    assert not lines[1].startswith(" ")
    check = wrap_line("  ✓ " + "checked " * 15)
    assert all(len(line) <= WIDTH for line in check)
    assert check[0].startswith("  ✓ ") and all(line.startswith("    ") for line in check[1:])
    step = wrap_line("--- Step 3 of 7: " + "title " * 20)
    assert all(line.startswith("        ") for line in step[1:])
    path = "/" + "x" * 100
    assert wrap_line(path) == [path]  # one word longer than the width is not cut


def test_steps_are_counted_from_the_script(fake, tmp_path):
    assert _count_steps(fake) == 3
    assert _count_steps(tmp_path / "missing.py") == 0
    for lesson in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py")):
        assert _count_steps(lesson) >= 2, lesson.name


def test_step_headers_tolerance_and_wrapping(tmp_path, capsys):
    lesson = Lesson(tmp_path / "98_two.py", "headers", argv=["--out", str(tmp_path)])
    lesson._total = 2
    lesson.step("first")
    lesson.check("exact", 1, 1)
    lesson.check("close", 1.0, 1.0 + 1e-9, atol=1e-6)
    lesson.check("float32 against float64", 1.0, 1.0 + 1e-9, atol=1e-6, show_tolerance=True)
    lesson.say("a " * 60)
    out = capsys.readouterr().out
    assert "--- Step 1 of 2: first" in out
    assert "✓ exact\n" in out and "✓ close\n" in out
    assert "✓ float32 against float64 (atol=1e-06, rtol=0)" in out
    assert all(len(line) <= WIDTH for line in out.splitlines())
    verbose = Lesson(tmp_path / "98_two.py", "headers", argv=["--out", str(tmp_path), "--verbose"])
    verbose.check("close", 1.0, 1.0 + 1e-9, atol=1e-6)
    assert "✓ close (atol=1e-06, rtol=0)" in capsys.readouterr().out


def test_skip_writes_a_skipped_summary(tmp_path, capsys):
    lesson = Lesson(tmp_path / "97_needs_tf.py", "skips", argv=["--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exc:
        lesson.skip("needs TensorFlow")
    assert exc.value.code == 0
    summary = json.loads((tmp_path / "97_needs_tf" / "summary.json").read_text())
    assert summary["status"] == "skipped" and summary["reason"] == "needs TensorFlow"
    assert "97_needs_tf: skipped — needs TensorFlow" in capsys.readouterr().out


# ----------------------------------------------------------------------------- the step-through
def test_step_mode_goes_on_back_and_pauses_at_the_end(fake, tmp_path):
    child = spawn(fake, "--step", cwd=tmp_path)
    child.expect("Step 1 of 3: one")
    child.expect(PROMPT)
    child.sendline("")
    child.expect("Step 2 of 3: two")
    child.expect(PROMPT)
    child.sendline("b")  # step 1 again, from the record: alpha, not beta
    child.expect("step 1 of 3 \\(shown again\\)")
    child.expect("alpha")
    child.expect(PROMPT)
    child.sendline("b")
    child.expect("the start \\(shown again\\)")
    child.expect("the start")
    child.expect(r"\[Enter\] next · q quit")  # nothing before the start
    child.sendline("")
    child.expect("alpha")
    child.sendline("")
    child.expect("beta")  # back at the newest step
    child.expect(PROMPT)
    child.sendline("what")
    child.expect("press Enter to go on")
    child.sendline("")
    child.expect("Step 3 of 3: three")
    child.expect("gamma")
    child.expect("3 checks passed|0 checks passed")
    child.expect(r"\[Enter\] finish · b back · q quit")  # the end waits too
    child.sendline("")
    assert ended(child) == (0, None)
    summary = json.loads((tmp_path / "o" / "99_fake" / "summary.json").read_text())
    assert summary["status"] == "passed" and summary["steps"] == 3


@pytest.mark.parametrize("how", ["q", "quit", "ctrl-c", "ctrl-d"])
def test_step_mode_quits_cleanly_at_any_prompt(fake, tmp_path, how):
    child = spawn(fake, "--step", cwd=tmp_path)
    child.expect(PROMPT)
    child.sendline("")
    child.expect(PROMPT)
    if how == "ctrl-c":
        child.sendintr()
    elif how == "ctrl-d":
        child.sendeof()
    else:
        child.sendline(how)
    child.expect("99_fake: stopped at step 2 of 3.")
    assert ended(child) == (0, None)
    assert "Traceback" not in child.before
    assert "gamma" not in child.before


def test_clear_clears_the_screen_between_steps(fake, tmp_path):
    child = spawn(fake, "--clear", cwd=tmp_path)
    child.expect(PROMPT)
    child.sendline("")
    child.expect("\x1b\\[2J\x1b\\[H")
    child.expect("Step 2 of 3: two")
    child.sendline("q")
    assert ended(child) == (0, None)


def test_ctrl_c_while_a_step_computes_is_one_line_not_a_traceback(fake, tmp_path):
    child = spawn(fake, "--sleep", "60", cwd=tmp_path)
    child.expect("beta")
    child.sendintr()
    child.expect("99_fake: interrupted \\(Ctrl-C\\) during step 2 of 3.")
    status, sig = ended(child)
    assert sig == signal.SIGINT or status == 130  # the usual exit of an interrupted command
    assert "Traceback" not in child.before


@pytest.mark.slow
def test_convlab_lesson_step_quits_with_q_and_ctrl_c(tmp_path):
    """A real lesson, through the ``convlab`` command, as the README tells a student to run it."""
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    for quit_key in ("q", "ctrl-c"):
        child = pexpect.spawn(
            "convlab",
            ["lesson", "3", "--step", "--out", "o", "--quick"],
            cwd=str(tmp_path),
            env=env,
            encoding="utf-8",
            dimensions=(24, 80),
            timeout=120,
        )
        child.expect("Step 1 of ")
        child.expect(PROMPT)
        child.sendline("")
        child.expect(PROMPT)
        child.sendline("q") if quit_key == "q" else child.sendintr()
        child.expect("03_convolution_by_hand: stopped at step 2 of ")
        assert ended(child) == (0, None), quit_key
        assert "Traceback" not in child.before and "interrupted" not in child.before
