"""``convlab exercises`` and ``convlab check`` as a learner runs them, and the lessons that point at them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from exercise_solutions import CORRELATE2D

from convlab.cli import main
from convlab.teach.exercise_catalogue import EXERCISES, exercises_for_lesson, get_exercise
from convlab.teach.lesson import exercise_text

LESSONS = Path(__file__).resolve().parent.parent / "lessons"


def test_exercises_copies_every_stub_and_never_overwrites_without_force(tmp_path, capsys):
    folder = tmp_path / "mine"
    assert main(["exercises", "--dir", str(folder)]) == 0
    files = sorted(p.name for p in folder.glob("ex*.py"))
    assert files == sorted(ex.file_name for ex in EXERCISES)
    assert "convlab check 2" in capsys.readouterr().out

    work = folder / "ex02_correlate2d.py"
    work.write_text(CORRELATE2D)
    assert main(["exercises", "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert work.read_text() == CORRELATE2D
    assert "kept: your work" in out and "already there, untouched" in out

    assert main(["exercises", "--dir", str(folder), "--force"]) == 0
    assert "NotImplementedError" in work.read_text()
    assert (folder / "ex02_correlate2d.py.bak").read_text() == CORRELATE2D
    assert "replaced" in capsys.readouterr().out


def test_exercises_into_a_file_is_a_one_line_error(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["exercises", "--dir", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file" in err


@pytest.mark.slow
def test_check_all_on_untouched_stubs_fails_cleanly(tmp_path):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    run = [sys.executable, "-m", "convlab"]
    subprocess.run([*run, "exercises"], cwd=tmp_path, env=env, check=True, capture_output=True)
    p = subprocess.run([*run, "check", "all"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stdout + p.stderr
    for ex in EXERCISES:
        assert f"Exercise {ex.number}: {ex.title}" in p.stdout
    assert p.stdout.count("not implemented yet") == len(EXERCISES)
    assert "0 of 10 exercises pass." in p.stdout


def test_the_learners_first_steps(tmp_path, monkeypatch, capsys):
    """`convlab exercises && convlab check 2`, fill in the function, and get "266 ✓"."""
    monkeypatch.chdir(tmp_path)
    assert main(["exercises"]) == 0
    assert main(["check", "2"]) == 1
    out = capsys.readouterr().out
    assert "not implemented yet" in out and "convlab check 2 --hint" in out

    (tmp_path / "convlab-exercises" / "ex02_correlate2d.py").write_text(CORRELATE2D)
    assert main(["check", "2"]) == 0
    out = capsys.readouterr().out
    assert "266 ✓" in out and "exercise 2 passes" in out

    monkeypatch.chdir(tmp_path / "convlab-exercises")  # a learner who cd-ed into the folder
    assert main(["check", "correlate2d"]) == 0


def test_hints_come_one_at_a_time_and_never_give_the_code(tmp_path, capsys):
    main(["exercises", "--dir", str(tmp_path)])
    capsys.readouterr()
    seen = []
    for _ in range(4):
        assert main(["check", "2", "--dir", str(tmp_path), "--hint"]) == 1
        seen.append(capsys.readouterr().out)
    assert "Hint 1 of" in seen[0] and "Hint 2 of" not in seen[0]
    assert "Hint 2 of" in seen[1]
    assert seen[2].count("Hint ") == seen[3].count("Hint ")  # all shown: no more appear
    for text in seen:
        assert "def correlate2d" not in text and "np.sum(" not in text


def test_bad_invocations_are_one_line(tmp_path, capsys):
    for argv in (["exercises", "--dir", ""], ["check", "2", "--dir", ""], ["exercises", "--dir", "/proc/no/such"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "--dir" in err and err.count("\n") == 1
    assert main(["check", "11", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no exercise matches '11'" in err and err.count("\n") == 1
    assert main(["check", "2", "--dir", str(tmp_path / "nope")]) == 2
    assert "convlab exercises --dir" in capsys.readouterr().err


def test_a_file_in_the_folder_that_is_not_yours_is_reported_missing(tmp_path, capsys):
    main(["exercises", "--dir", str(tmp_path)])
    (tmp_path / "ex02_correlate2d.py").unlink()
    capsys.readouterr()
    assert main(["check", "2", "--dir", str(tmp_path)]) == 1
    out = " ".join(capsys.readouterr().out.split())
    assert "missing file" in out and "run `convlab exercises`" in out
    assert "--hint" not in out


def test_get_exercise_accepts_numbers_and_names():
    assert get_exercise("02").slug == "correlate2d"
    assert get_exercise("ex04_conv2d").number == 4
    assert get_exercise(10).slug == "train_step"
    with pytest.raises(ValueError, match="there are: 1 \\(output_size\\)"):
        get_exercise("conv3d")


def test_every_lesson_ends_by_naming_its_exercises():
    lessons = sorted(LESSONS.glob("[0-9][0-9]_*.py"))
    assert lessons
    for path in lessons:
        chosen = exercises_for_lesson(int(path.name[:2]))
        assert chosen, f"{path.name} has no exercise"
        text = exercise_text(path.stem)
        for ex in chosen:
            assert f"convlab check {ex.number}" in text
        assert "lesson.finish()" in path.read_text()  # where the text is printed
        assert all(len(line) < 80 for line in text.splitlines())


def test_the_report_fits_80_columns(tmp_path, capsys):
    flipped = textwrap.dedent(CORRELATE2D).replace("* kernel)", "* kernel[::-1, ::-1])")
    (tmp_path / "ex02_correlate2d.py").write_text(flipped)
    main(["check", "2", "--dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "flipped" in out
    # A line of exactly 80 wraps in some terminals. A command to copy, with the learner's own --dir, stays whole.
    assert max(len(line) for line in out.splitlines() if "--dir" not in line) < 80
