"""Every lesson script runs headless with --quick, passes its checks and writes its summary.

Lessons are discovered by glob (``lessons/NN_*.py``), so lessons added later are
tested without editing this file.
"""

import gc
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from i18n_helpers import english_left, lesson_catalog, number_differences

from convlab.lesson import WIDTH
from convlab.teach.lesson import _count_steps

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
TIMEOUT = 300  # seconds per lesson: generous, the machine is shared
#: What the whole tour may write (issue 15: "the tour ... writes under 20 MB"): figures, a small model.
TOUR_BYTES = 20 * 1024 * 1024
#: What each lesson wrote in test_lesson_runs_quick, for the tour's total (test_the_tour_writes_under_20_mb).
WRITTEN: dict[str, int] = {}
#: What each lesson printed in test_lesson_runs_quick (English), for the Spanish tour's comparison.
PRINTED: dict[str, str] = {}

# Lines some lessons must print verbatim (the slides' numbers, seeds/003).
EXPECTED_LINES = {
    "03_convolution_by_hand": [  # as the slide writes them: one kernel row per line
        "60*0 + 113*(-1) + 56*0 +",
        "73*(-1) + 121*5 + 54*(-1) +",
        "131*0 + 99*(-1) + 70*0 = 266",
        "out[2,2]:  70*0    + 129*(-1) + 127*0    +",
        "115*(-1) +  69*5    + 134*(-1) +",
        "123*0    +  95*(-1) + 130*0    = -128",
    ],
    "04_channels_and_stride": ["o0[0,0] = (-1) + 1 + 1 + 1 = 2", "o1[2,2] = 0 + (-3) + (-2) + 0 = -5"],
    "05_output_sizes_and_parameters": [
        "T = (5 + 2·1 − 3)/2 + 1 = 3",
        "T = (28 + 2·0 − 3)/1 + 1 = 26",
        "Total params: 433,290",
        "Total params: 649,775",
        "Total params: 163,055",
        "Total params: 542,230",
    ],
    "06_pooling": ["43,264 → 10,816 values, 75% fewer"],
}


def run_lesson(path, out, *args, timeout=TIMEOUT):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run(
        [sys.executable, str(path), "--out", str(out), *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        cwd=ROOT,
    )


def tail(proc, n=4000):
    return f"--- stdout (end) ---\n{proc.stdout[-n:]}\n--- stderr (end) ---\n{proc.stderr[-n:]}"


def test_lessons_are_found():
    names = [p.stem for p in LESSONS]
    for expected in (
        "01_image_as_matrix",
        "02_spatial_filters",
        "03_convolution_by_hand",
        "04_channels_and_stride",
        "05_output_sizes_and_parameters",
        "06_pooling",
    ):
        assert expected in names


@pytest.mark.slow
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs_quick(path, tmp_path, spanish_tour):
    proc = run_lesson(path, tmp_path, "--quick")
    assert proc.returncode == 0, tail(proc)
    summary_file = tmp_path / path.stem / "summary.json"
    assert summary_file.is_file(), tail(proc)
    summary = json.loads(summary_file.read_text())
    assert summary["lesson"] == path.stem
    assert summary["checks"] > 0
    assert "✓" in proc.stdout
    # every figure the summary counts exists (written atomically: no temporary leftovers)
    files = [f for f in (tmp_path / path.stem).iterdir() if f.name != "summary.json"]
    assert len(files) >= summary["figures"], sorted(f.name for f in files)
    assert not [f for f in files if ".tmp" in f.name]
    for line in EXPECTED_LINES.get(path.stem, []):
        assert line in proc.stdout, line
    # fits an 80-column terminal (the lines naming the --out folder excepted: its length is the user's)
    wide = [line for line in proc.stdout.splitlines() if len(line) > WIDTH and str(tmp_path) not in line]
    assert not wide, "\n".join(wide)
    # no third-party noise (TensorFlow's absl/CUDA start-up lines, NumPy or Keras warnings)
    assert proc.stderr.strip() == "", tail(proc)
    # "Step k of n": n is counted from the script, and a run makes exactly those steps
    assert summary["steps"] == _count_steps(path)
    assert f"--- Step {summary['steps']} of {summary['steps']}:" in proc.stdout
    # files with the usual permissions (not mkstemp's 0600), and the lesson's share of the tour's 20 MB
    umask = os.umask(0)
    os.umask(umask)
    for f in files:
        assert f.stat().st_mode & 0o777 == 0o666 & ~umask, f
    WRITTEN[path.stem] = sum(f.stat().st_size for f in (tmp_path / path.stem).rglob("*") if f.is_file())
    PRINTED[path.stem] = proc.stdout
    if path.stem == "03_convolution_by_hand":
        gif = tmp_path / path.stem / "sliding_window_pad0.gif"
        assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


@pytest.mark.slow
def test_the_tour_writes_under_20_mb():
    """The sum over the lessons run above (all of them, or this test has nothing to add up)."""
    if set(WRITTEN) != {p.stem for p in LESSONS}:
        pytest.skip("runs after test_lesson_runs_quick for every lesson")
    assert sum(WRITTEN.values()) < TOUR_BYTES, WRITTEN


def _per_lesson(output: str) -> dict[str, str]:
    """The tour's output cut into each lesson's part (a lesson starts with its ``NN_name: title`` banner)."""
    parts: dict[str, list[str]] = {}
    current = None
    lines = output.splitlines()
    for n, line in enumerate(lines):
        if line.startswith("=====") and n + 1 < len(lines) and lines[n + 1].split()[:1] in (["lesson"], ["lección"]):
            break  # the tour's closing table
        head = re.match(r"^(\d\d_\w+): ", line)
        if head and n > 0 and lines[n - 1].startswith("====="):
            current = head.group(1)
            parts[current] = []
        if current is not None:
            parts[current].append(line)
    return {k: "\n".join(v) for k, v in parts.items()}


def _tour_command(lang, out, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("LC_ALL", "LC_MESSAGES", "CONVLAB_LANG")}
    cmd = [sys.executable, "-m", "convlab", "tour", "--lang", lang, "--out", str(out), *args]
    return cmd, {**env, "MPLBACKEND": "Agg", "LANG": "C.UTF-8"}


@pytest.fixture(scope="module")
def spanish_tour(request, tmp_path_factory):
    """``convlab tour --lang es``, started in the background as soon as a lesson test of this module runs,
    when the Spanish tour's test is among the tests chosen: it runs beside the English lessons (two cores;
    each lesson mostly keeps one busy). Yields a function that waits for it and returns
    ``(exit code, stdout, stderr, out folder)``; ``None`` when the Spanish test is not chosen."""
    chosen = any(
        getattr(item, "originalname", "") == "test_the_tour_in_spanish_prints_the_same_numbers"
        for item in request.session.items
    )
    if not chosen:
        yield None
        return
    folder = tmp_path_factory.mktemp("spanish_tour")
    cmd, env = _tour_command("es", folder / "out")
    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=ROOT)

    def finished():
        try:
            rc = proc.wait(timeout=len(LESSONS) * TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        return rc, (folder / "stdout").read_text(), (folder / "stderr").read_text(), folder / "out"

    yield finished
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.mark.slow
def test_the_tour_in_spanish_prints_the_same_numbers(tmp_path, spanish_tour):
    """``convlab tour --lang es`` (issue 16): every lesson passes with the checks of the English run, the
    numbers of every step are the English run's, no English sentence of the lessons' or convlab's catalogs
    is left, and every line fits 80 columns. The English outputs are test_lesson_runs_quick's (or, when
    those did not all run, an English tour's)."""
    rc, stdout, stderr, out = spanish_tour()
    assert rc == 0, f"{stdout[-4000:]}\n--- stderr ---\n{stderr[-4000:]}"
    assert stderr.strip() == "", stderr[-4000:]
    spanish = _per_lesson(stdout)
    english = dict(PRINTED) if set(PRINTED) == {p.stem for p in LESSONS} else None
    if english is None:
        cmd, env = _tour_command("en", tmp_path / "en")
        en = subprocess.run(cmd, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, cwd=ROOT)
        assert en.returncode == 0, tail(en)
        english = _per_lesson(en.stdout)
    assert sorted(spanish) == sorted(english) == [p.stem for p in LESSONS]
    problems = []
    for name in sorted(english):
        problems += [f"{name}: {d}" for d in number_differences(english[name], spanish[name])]
        problems += [f"{name}: English left: {s!r}" for s in english_left(spanish[name], lesson_catalog(name))]
    package = ROOT / "convlab" / "locale" / "es" / "LC_MESSAGES" / "convlab.po"
    problems += [f"convlab: English left: {s!r}" for s in english_left(stdout, package)]
    assert not problems, "\n".join(problems)
    checks = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\d\d_\w+)\s+(\d+)\s", stdout, re.M)}
    for name, text in english.items():  # the Spanish table's checks column: the English run's counts
        passed = re.search(r"(\d+) checks? passed", text)
        assert passed and checks[name] == int(passed.group(1)), (name, checks.get(name))
    assert "--- Parte 1 de " in stdout and "comprobaciones superadas" in stdout
    wide = [line for line in stdout.splitlines() if len(line) > WIDTH and str(out) not in line]
    assert not wide, "\n".join(wide)


# A sitecustomize that makes TensorFlow and Keras impossible to import, as on a machine where only
# `pip install -e .` was run: ``sys.modules[name] = None`` is Python's own way to block an import
# (``import tensorflow`` raises ModuleNotFoundError).
NO_TF = """
import sys
for name in ("tensorflow", "keras", "tf_keras"):
    sys.modules[name] = None
"""


@pytest.mark.slow
def test_the_tour_without_tensorflow_skips_what_needs_it(tmp_path):
    """The README's promise: without TensorFlow, lessons that need it say so and are skipped, and
    the tour exits 0 (lessons that only compare with Keras run, with a note)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_TF)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "ModuleNotFoundError" in probe.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "convlab", "tour", "--only", "05,09,11", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=3 * TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode == 0, tail(proc)
    rows = {line.split()[0]: line for line in proc.stdout.splitlines() if line[:2] in ("05", "09", "11")}
    assert rows["05_output_sizes_and_parameters"].rstrip().endswith("ok"), rows
    for name in ("09_same_network_twice", "11_vgg_transfer"):
        assert rows[name].rstrip().endswith("skipped"), rows
        assert f"{name} skipped: " in proc.stdout and "TensorFlow" in proc.stdout
    assert "1 passed, 2 skipped, 0 failed" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_wrong_check_fails_the_script(tmp_path):
    script = tmp_path / "99_wrong.py"
    script.write_text(
        textwrap.dedent("""
        from convlab.lesson import Lesson
        lesson = Lesson(__file__, "a lesson with a wrong number")
        lesson.step("one step")
        lesson.check("right", 266, 266)
        lesson.check("wrong on purpose", 2 + 2, 5)
        lesson.finish()
    """)
    )
    proc = run_lesson(script, tmp_path / "out", "--quick", timeout=120)
    assert proc.returncode != 0
    assert "LessonCheckError" in proc.stderr and "wrong on purpose" in proc.stderr
    assert "✓ right" in proc.stdout
    assert not (tmp_path / "out" / "99_wrong" / "summary.json").exists()


def test_check_true_fails_on_a_false_condition(tmp_path, capsys):
    from convlab.lesson import Lesson, LessonCheckError

    lesson = Lesson(__file__, "checks", argv=["--out", str(tmp_path)])
    lesson.check_true("2 + 2 == 4", 2 + 2 == 4)
    with pytest.raises(LessonCheckError, match="accuracy >= 0.945: not satisfied"):
        lesson.check_true("accuracy >= 0.945", 0.9 >= 0.945)
    with pytest.raises(LessonCheckError, match="an empty array"):
        lesson.check_true("an empty array", np.array([]).size)
    out = capsys.readouterr().out
    assert "✓ 2 + 2 == 4" in out and "✓ accuracy" not in out and "✓ an empty" not in out
    assert lesson.checks == 1


@pytest.mark.slow
@pytest.mark.tf
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_lesson_05_matches_keras_summary(tmp_path):
    """Lesson 05 (also under --quick, as in the tour) builds the slides' models in Keras and checks count_params."""
    proc = run_lesson(ROOT / "lessons" / "05_output_sizes_and_parameters.py", tmp_path, "--quick")
    assert proc.returncode == 0, tail(proc)
    assert proc.stdout.count("✓ Keras count_params() = convlab total") == 4
    assert "total: 138,357,544" in proc.stdout


# ----------------------------------------------------------------------------- figure helpers (convlab.viz)
@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")
def test_viz_helpers_draw_and_reject_bad_input():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from convlab import viz

    x = np.array(
        [
            [60, 113, 56, 139, 85],
            [73, 121, 54, 84, 128],
            [131, 99, 70, 129, 127],
            [80, 57, 115, 69, 134],
            [104, 126, 123, 95, 130],
        ]
    )
    k = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
    anim, out = viz.sliding_window_animation(x, k)
    assert out.tolist() == [[266, -61, -30], [116, -47, 295], [-135, 256, -128]]
    assert len(list(anim.new_frame_seq())) == 9  # one frame per output value (lesson 03's test saves a GIF)
    anim, out = viz.sliding_window_animation(x, k, padding=1, strides=2, expression=False)
    assert out.tolist() == [[114, -26, 158], [403, -47, 244], [314, 279, 421]]
    fig = viz.matrices_figure([x, k, out], ["input", "kernel", "output"])
    assert len(fig.axes) == 3 and fig.axes[0].get_title() == "input"
    assert len(viz.kernels_figure(np.zeros((3, 3, 3, 2))).axes) == 6
    assert len(viz.grid_figure(np.zeros((8, 8, 5))).axes) == 8  # 2 rows of 4, 3 left blank
    assert len(viz.channels_figure(np.zeros((4, 6, 3), np.uint8)).axes) == 4
    plt.close("all")
    with pytest.raises(ValueError, match="m must be a non-empty 2-D array"):
        viz.draw_matrix(plt.gca(), np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match=r"image must be \(H, W, 3\)"):
        viz.channels_figure(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="titles must have 2 entries"):
        viz.matrices_figure([x, k], ["one"])
    with pytest.raises(ValueError, match="maps must hold at least one"):
        viz.grid_figure([])
    with pytest.raises(ValueError, match="padding must be an int >= 0"):
        viz.sliding_window_animation(x, k, padding=-1)
    with pytest.raises(ValueError, match="larger than the padded input"):
        viz.sliding_window_animation(k, x)
    with pytest.raises(TypeError, match="m must be a real numeric array"):
        viz.draw_matrix(plt.gca(), np.array([["a", "b"]]))
    plt.close("all")
    del anim
    gc.collect()  # the unsaved animations warn when collected: let that happen under this test's filter
