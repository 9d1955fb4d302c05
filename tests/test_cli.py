"""The ``convlab`` command line: size, tour, lesson, bench, help and errors."""

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from convlab import cli
from convlab.teach import lessons as teach_lessons

ROOT = Path(__file__).resolve().parents[1]


def run(capsys, *argv):
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


# ----------------------------------------------------------------------------------- size
@pytest.mark.parametrize(
    "argv, formula, size",
    [
        (["5", "3", "--padding", "1", "--stride", "2"], "T = (5 + 2·1 − 3)/2 + 1 = 3", 3),  # slides, 3-channel example
        (["28", "3"], "T = (28 + 2·0 − 3)/1 + 1 = 26", 26),  # slides, MNIST
        (["28", "3", "-p", "valid"], "T = (28 + 2·0 − 3)/1 + 1 = 26", 26),
        (["28", "3", "-p", "same", "-s", "2"], "TensorFlow pads 0 before, 1 after", 14),
        (["28", "3", "-s", "2"], "13.5 → floor → 13", 13),
    ],
)
def test_size_single_layer(capsys, argv, formula, size):
    rc, out, _ = run(capsys, "size", *argv)
    assert rc == 0
    assert formula in out
    assert f"output: {size} × {size}" in out


def test_size_layers(capsys):
    rc, out, _ = run(capsys, "size", "28", "--layers", "conv3", "pool2", "conv3", "pool2")
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0] == "input: 28 × 28"
    assert [line.rsplit("→ ", 1)[1] for line in lines[1:5]] == ["26 × 26", "13 × 13", "11 × 11", "5 × 5"]
    assert lines[-1] == "output: 5 × 5"
    rc, out, _ = run(capsys, "size", "28", "--layers", "conv3s2same", "conv5p2", "pool3s2", "POOL2SAME")
    assert rc == 0
    assert [line.rsplit("→ ", 1)[1] for line in out.strip().splitlines()[1:5]] == [
        "14 × 14",
        "14 × 14",
        "6 × 6",
        "3 × 3",
    ]


@pytest.mark.parametrize(
    "token, expected",
    [
        ("conv3", {"kind": "conv", "kernel": 3, "stride": 1, "padding": 0}),
        ("conv3s2p1", {"kind": "conv", "kernel": 3, "stride": 2, "padding": 1}),
        ("conv3same", {"kind": "conv", "kernel": 3, "stride": 1, "padding": "same"}),
        ("pool2", {"kind": "pool", "kernel": 2, "stride": 2, "padding": 0}),
        ("pool3s1", {"kind": "pool", "kernel": 3, "stride": 1, "padding": 0}),
    ],
)
def test_parse_layer(token, expected):
    assert cli.parse_layer(token) == expected


@pytest.mark.parametrize("token", ["conv", "conv3x", "dense10", "conv0", "conv3s0", "pool2p1", "3conv"])
def test_parse_layer_rejects(token):
    with pytest.raises(ValueError, match="layer"):
        cli.parse_layer(token)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["size", "28"], "give KERNEL"),
        (["size", "28", "3", "--layers", "conv3"], "not both"),
        (["size", "2", "3"], "larger than the padded input"),
        (["size", "28", "3", "--padding", "-1"], "padding must be an int >= 0"),
        (["size", "28", "3", "--padding", "half"], "padding must be an int >= 0"),
        (["size", "28", "0"], "KERNEL must be a positive int"),
        (["size", "28", "3", "--stride", "0"], "stride must be a positive int"),
        (["size", "x", "3"], "N must be an int"),
        (["size", "28", "--layers", "conv3", "conv9x"], "conv9x"),
        (["size", "5", "--layers", "conv3", "conv5"], "layer 2 (conv5)"),
        (["size", "28", "--layers", "conv3", "--stride", "2"], "write them in each layer"),
        (["size", "28", "3", "--bogus"], "unrecognized arguments: --bogus"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "required"),
        (["size", "9" * 5000, "3"], "(5000 characters)"),  # beyond Python's 4,300-digit int limit
        (["tour", "--timeout", "nan"], "--timeout must be a number of seconds > 0, got 'nan'"),
        (["tour", "--timeout", "-1"], "got '-1'"),
        (["size", "28", "3", "--padding", "1e3"], "got '1e3'"),
    ],
)
def test_bad_input_is_a_clear_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and err.endswith("--help`)\n"), err  # one line, pointing at the help


@pytest.mark.parametrize(
    "argv, message",
    [
        (["size", str(10**400), "2", "--stride", "3"], "up to 2**63 - 1"),
        (["size", "28", "--layers", "conv3", f"conv{2**70}"], "layer 2"),
        (["tour", "--only", "01,99"], "no lesson matches '99'"),
        (["tour", "--out", "/proc/no/such/folder", "--only", "01"], "--out '/proc/no/such/folder' cannot hold"),
    ],
)
def test_bad_values_found_after_parsing_are_one_line(capsys, argv, message):
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # found while parsing
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_internal_error_is_one_line_with_a_hint(capsys, monkeypatch):
    def broken(args, parser):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(cli, "_run_size", broken)
    rc, _, err = run(capsys, "size", "28", "3")
    assert rc == 1
    assert err.count("\n") == 1 and "internal error: RuntimeError: boom second line" in err
    assert "please report it" in err and "CONVLAB_TRACEBACK=1" in err
    monkeypatch.setenv("CONVLAB_TRACEBACK", "1")  # a maintainer asks for the traceback
    with pytest.raises(RuntimeError, match="boom"):
        cli.main(["size", "28", "3"])


def test_interrupt_exits_130(capsys, monkeypatch):
    def interrupted(args, parser):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_run_size", interrupted)
    rc, _, err = run(capsys, "size", "28", "3")
    assert rc == 130 and err == "convlab size: interrupted\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--out", "/proc/no/such/folder"], "--out '/proc/no/such/folder' cannot hold the figures"),
    ],
)
def test_lesson_usage_errors_are_one_line(capfd, extra, message):
    rc = cli.main(["lesson", "1", *extra])
    err = capfd.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1, err


# ----------------------------------------------------------------------------------- help
@pytest.mark.parametrize(
    "argv, words",
    [
        (["--help"], ["tour", "lesson", "size", "bench"]),
        (["tour", "--help"], ["--only", "--full", "--out"]),
        (["lesson", "--help"], ["--step", "N"]),
        (["size", "--help"], ["--padding", "--stride", "--layers", "conv3s2", "poolK"]),
    ],
)
def test_help(capsys, argv, words):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for w in words:
        assert w in out


def test_bench_help_lists_passthrough(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "bench" in capsys.readouterr().out


# ----------------------------------------------------------------------------------- lessons
def fake_lessons(folder: Path, bad: bool = True) -> Path:
    """A folder with a passing lesson, optionally a failing one, and a non-lesson file."""
    folder.mkdir(parents=True, exist_ok=True)
    ok = textwrap.dedent("""
        import sys
        from convlab.lesson import Lesson
        lesson = Lesson(__file__, "ok")
        lesson.step("only step")
        print("ARGV", sys.argv[1:])
        lesson.check("two", 1 + 1, 2)
        lesson.finish()
    """)
    (folder / "01_ok.py").write_text(ok)
    if bad:
        (folder / "02_bad.py").write_text(ok.replace('lesson.check("two", 1 + 1, 2)', 'lesson.check("two", 1 + 1, 3)'))
    (folder / "helpers.py").write_text("raise SystemExit('not a lesson')\n")
    return folder


def test_find_and_resolve_lessons(tmp_path):
    folder = fake_lessons(tmp_path / "lessons")
    lessons = cli.find_lessons(folder)
    assert [p.stem for p in lessons] == ["01_ok", "02_bad"]
    for token in ("1", "01", "01_ok", "ok", "01_ok.py"):
        assert cli.resolve_lesson(token, lessons).stem == "01_ok"
    with pytest.raises(ValueError, match="no lesson matches '7'.*01_ok, 02_bad"):
        cli.resolve_lesson("7", lessons)


def test_real_lessons_resolve():
    lessons = cli.find_lessons(cli.lessons_dir())
    assert cli.resolve_lesson("3", lessons).stem == "03_convolution_by_hand"
    assert cli.resolve_lesson("03", lessons).stem == "03_convolution_by_hand"
    assert cli.resolve_lesson("convolution_by_hand", lessons).stem == "03_convolution_by_hand"


def test_missing_lessons_folder_is_a_clear_error(capsys, tmp_path, monkeypatch):
    rc, _, err = run(capsys, "tour", "--lessons", str(tmp_path / "nowhere"))
    assert rc == 2 and "no lessons folder" in err and "pip install -e ." in err
    monkeypatch.setattr(teach_lessons, "repo_root", lambda: tmp_path)  # an installed package without the repository
    rc, _, err = run(capsys, "lesson", "3")
    assert rc == 2 and "no lessons folder at" in err


@pytest.mark.slow
def test_tour_only_03(capfd, tmp_path):
    rc = cli.main(["tour", "--only", "03", "--out", str(tmp_path)])
    out = capfd.readouterr().out
    assert rc == 0, out[-3000:]
    assert "60*0 + 113*(-1)" in out  # the lesson's own output is shown
    table = out[out.rindex("lesson  ") :]
    row = next(line for line in table.splitlines() if line.startswith("03_convolution_by_hand"))
    name, checks, figures, seconds, status = row.split()
    assert int(checks) > 0 and int(figures) == 3 and float(seconds) > 0 and status == "ok"
    assert "1 lesson: 1 passed, 0 failed" in out
    summary = json.loads((tmp_path / "03_convolution_by_hand" / "summary.json").read_text())
    assert summary["checks"] == int(checks)
    assert not (tmp_path / "01_image_as_matrix").exists()


@pytest.mark.slow
def test_tour_reports_a_failing_lesson(capfd, tmp_path):
    folder = fake_lessons(tmp_path / "lessons")
    out_dir = tmp_path / "out"
    (out_dir / "02_bad").mkdir(parents=True)
    (out_dir / "02_bad" / "summary.json").write_text('{"checks": 9, "figures": 0}')  # stale, from an old run
    rc = cli.main(["tour", "--lessons", str(folder), "--out", str(out_dir)])
    out = capfd.readouterr().out
    assert rc == 1
    assert f"ARGV ['--out', '{out_dir}', '--lang', 'en', '--quick']" in out  # the tour's language, passed on
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("01_ok", "02_bad"))}
    assert rows["01_ok"].split()[1] == "1" and rows["01_ok"].endswith("ok")
    assert "FAILED (exit 1)" in rows["02_bad"]
    assert "2 lessons: 1 passed, 1 failed" in out


@pytest.mark.slow
def test_tour_says_skipped_and_why_and_exits_0(capfd, tmp_path):
    """A lesson that cannot run here (e.g. TensorFlow is missing) is skipped, not passed nor failed."""
    folder = fake_lessons(tmp_path / "lessons", bad=False)
    skip = (
        "from convlab.lesson import Lesson\n"
        "Lesson(__file__, 'needs TF').skip('needs TensorFlow, which is not installed')\n"
    )
    (folder / "02_needs_tf.py").write_text(skip)
    rc = cli.main(["tour", "--lessons", str(folder), "--out", str(tmp_path / "o")])
    out = capfd.readouterr().out
    assert rc == 0, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith(("01_ok", "02_needs_tf"))}
    assert rows["01_ok"].endswith("ok") and rows["02_needs_tf"].endswith("skipped")
    assert "02_needs_tf skipped: needs TensorFlow, which is not installed" in out
    assert "2 lessons: 1 passed, 1 skipped, 0 failed" in out


@pytest.mark.slow
def test_tour_full_and_only_by_name(capfd, tmp_path):
    folder = fake_lessons(tmp_path / "lessons", bad=False)
    rc = cli.main(["tour", "--lessons", str(folder), "--out", str(tmp_path / "o"), "--full", "--only", "ok"])
    out = capfd.readouterr().out
    assert rc == 0
    assert "ARGV ['--out', '%s', '--lang', 'en']" % (tmp_path / "o") in out  # no --quick under --full


@pytest.mark.slow
def test_lesson_passes_arguments_through(capfd, tmp_path):
    folder = fake_lessons(tmp_path / "lessons")
    rc = cli.main(["lesson", "1", "--lessons", str(folder), "--step", "--quick", "--out", str(tmp_path / "o")])
    out = capfd.readouterr().out
    assert rc == 0
    assert "ARGV ['--lang', 'en', '--step', '--quick', '--out', '%s']" % (tmp_path / "o") in out
    assert cli.main(["lesson", "bad", "--lessons", str(folder), "--out", str(tmp_path / "o")]) == 1
    capfd.readouterr()
    assert cli.main(["lesson", "5", "--lessons", str(folder)]) == 2
    assert "no lesson matches '5'" in capfd.readouterr().err


def test_only_with_unknown_lesson(capsys):
    rc, _, err = run(capsys, "tour", "--only", "01,99")
    assert rc == 2 and "no lesson matches '99'" in err


# ----------------------------------------------------------------------------------- bench
def test_bench_missing_script_is_a_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "_repo_root", lambda: tmp_path)
    rc, _, err = run(capsys, "bench", "--quick")
    assert rc == 2 and "no benchmark script at" in err


@pytest.mark.slow
def test_bench_runs_the_script_with_its_arguments(capfd, tmp_path, monkeypatch):
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "bench.py").write_text(
        "import os, sys\nprint('BENCH', sys.argv[1:], os.getcwd())\nsys.exit(3 if '--fail' in sys.argv else 0)\n"
    )
    monkeypatch.setattr(cli, "_repo_root", lambda: tmp_path)
    assert cli.main(["bench", "--help", "--repeat", "2"]) == 0
    assert f"BENCH ['--help', '--repeat', '2'] {tmp_path}" in capfd.readouterr().out
    assert cli.main(["bench", "--fail"]) == 3


# ----------------------------------------------------------------------------------- entry point
@pytest.mark.slow
@pytest.mark.skipif(shutil.which("convlab") is None, reason="console script not installed")
def test_console_script():
    proc = subprocess.run(
        ["convlab", "size", "5", "3", "--padding", "1", "--stride", "2"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "T = (5 + 2·1 − 3)/2 + 1 = 3" in proc.stdout


@pytest.mark.slow
def test_module_runs_as_script():
    proc = subprocess.run(
        [sys.executable, "-m", "convlab.cli", "size", "28", "3"], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stderr
    assert "output: 26 × 26" in proc.stdout


# ------------------------------------------------------------------- size: dilation, transposed, new layers
@pytest.mark.parametrize(
    "argv, lines",
    [
        (
            ["7", "3", "--dilation", "2"],
            [
                "N = 7, K = 3, padding = 0, S = 1, D = 2",
                "T = (7 + 2·0 − 2·(3 − 1) − 1)/1 + 1 = 3   [dilation 2: a 3-tap window dilated by 2 spans "
                "2·(3 − 1) + 1 = 5 pixels]",
                "output: 3 × 3",
            ],
        ),
        (
            ["2", "3", "--transpose", "--stride", "2"],  # Dumoulin & Visin, figure 4.5
            [
                "transposed convolution: N = 2, K = 3, padding = 'valid', S = 2, output_padding = None",
                "T = 2·(2 − 1) + 3 − 2·0 = 5",
                "output: 5 × 5",
            ],
        ),
        (
            ["3", "3", "-t", "-s", "2", "-p", "1", "--output-padding", "1"],  # figure 4.7
            [
                "transposed convolution: N = 3, K = 3, padding = 1, S = 2, output_padding = 1",
                "T = 2·(3 − 1) + 3 − 2·1 + 1 = 6",
                "output: 6 × 6",
            ],
        ),
    ],
)
def test_size_dilated_and_transposed(capsys, argv, lines):
    rc, out, err = run(capsys, "size", *argv)
    assert rc == 0, err
    assert out.splitlines() == lines


def test_size_transposed_same_and_dilated(capsys):
    rc, out, _ = run(capsys, "size", "16", "3", "--transpose", "--stride", "2", "--padding", "same")
    assert rc == 0 and "T = 2·16 = 32" in out and "output: 32 × 32" in out
    rc, out, _ = run(capsys, "size", "5", "3", "-t", "-d", "2")
    assert rc == 0 and "T = 1·(5 − 1) + 2·(3 − 1) + 1 − 2·0 = 9" in out and "output: 9 × 9" in out


def test_size_layers_new_kinds(capsys):
    rc, out, err = run(capsys, "size", "7", "--layers", "conv3s2same", "tconv3s2sameop1", "dw3same", "gap")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert [line.rsplit("→ ", 1)[1] for line in lines[1:5]] == ["4 × 4", "8 × 8", "8 × 8", "1 × 1"]
    assert "T = 2·(4 − 1) + 3 − 2·1 + 1 = 8" in lines[2]
    assert "global average pooling" in lines[4] and "the spatial chain ends here" in lines[4]
    assert lines[-1].startswith("output: 1 × 1") and "(N, C)" in lines[-1]
    rc, out, err = run(capsys, "size", "9", "--layers", "conv3d2", "CONV3S1D2SAME", "sep3", "dw3s2", "tconv2s3", "gmp")
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert [line.rsplit("→ ", 1)[1] for line in lines[1:7]] == ["5 × 5", "5 × 5", "3 × 3", "1 × 1", "3 × 3", "1 × 1"]
    assert "spans 2·(3 − 1) + 1 = 5 pixels" in lines[1] and "global maximum pooling" in lines[6]


@pytest.mark.parametrize(
    "token, expected",
    [
        ("conv3d2", {"kind": "conv", "kernel": 3, "stride": 1, "padding": 0, "dilation": 2}),
        ("conv3s1d2same", {"kind": "conv", "kernel": 3, "stride": 1, "padding": "same", "dilation": 2}),
        ("conv3d2s1same", {"kind": "conv", "kernel": 3, "stride": 1, "padding": "same", "dilation": 2}),
        ("conv3valid", {"kind": "conv", "kernel": 3, "stride": 1, "padding": 0}),
        ("tconv3s2", {"kind": "tconv", "kernel": 3, "stride": 2, "padding": "valid"}),
        ("tconv3s2op1", {"kind": "tconv", "kernel": 3, "stride": 2, "padding": "valid", "output_padding": 1}),
        ("tconv4s2p1op1", {"kind": "tconv", "kernel": 4, "stride": 2, "padding": 1, "output_padding": 1}),
        ("tconv3s2sameop1", {"kind": "tconv", "kernel": 3, "stride": 2, "padding": "same", "output_padding": 1}),
        ("dw3", {"kind": "dw", "kernel": 3, "stride": 1, "padding": 0}),
        ("dw3s2", {"kind": "dw", "kernel": 3, "stride": 2, "padding": 0}),
        ("sep3d2same", {"kind": "sep", "kernel": 3, "stride": 1, "padding": "same", "dilation": 2}),
        ("pool2same", {"kind": "pool", "kernel": 2, "stride": 2, "padding": "same"}),
        ("gap", {"kind": "gap"}),
        ("GMP", {"kind": "gmp"}),
    ],
)
def test_parse_layer_new_notation(token, expected):
    assert cli.parse_layer(token) == expected


@pytest.mark.parametrize(
    "token, message",
    [
        ("conv3op1", "conv takes no output padding"),
        ("pool2d2", "pool takes no dilation"),
        ("dw3op1", "dw takes no output padding"),
        ("gap7", "gap takes no size or suffix"),
        ("gmps2", "gmp takes no size or suffix"),
        ("conv3d0", "dilation must be >= 1"),
        ("conv3s2s1", "'s' given twice"),
        ("conv3p1same", "padding given twice"),
        ("tconv", "needs the window size"),
        ("conv3d", "is not a suffix"),
        ("sep3x", "is not a suffix"),
    ],
)
def test_parse_layer_rejects_new_notation(token, message):
    with pytest.raises(ValueError, match=message):
        cli.parse_layer(token)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["size", "7", "3", "--dilation", "0"], "dilation must be a positive int"),
        (["size", "4", "3", "--dilation", "2"], "dilated by 2 (it spans 5 pixels) is larger than the padded input"),
        (["size", "7", "3", "--output-padding", "1"], "add --transpose"),
        (["size", "7", "3", "-t", "-s", "2", "--output-padding", "2"], "output_padding must be strictly less"),
        (["size", "7", "3", "-t", "--output-padding", "-1"], "output-padding must be an int >= 0"),
        (["size", "7", "--layers", "conv3", "--dilation", "2"], "write them in each layer"),
        (["size", "7", "--layers", "conv3", "--transpose"], "write tconvK"),
        (["size", "9", "--layers", "gap", "conv3"], "layer 2 (conv3) follows layer 1 (gap)"),
        (["size", "9", "--layers", "tconv3s2op2"], "layer 1 (tconv3s2op2): output_padding"),
        (["size", "0", "--layers", "gmp"], "global pooling needs a non-empty input"),
        (["size", "9", "--layers", "pool2d2"], "pool takes no dilation"),
    ],
)
def test_size_new_options_bad_input_is_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.endswith("--help`)\n"), err


def test_size_help_documents_the_new_notation(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["size", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in ["--dilation", "--transpose", "--output-padding", "conv3d2", "tconv3s2op1", "dwK", "sepK", "gap, gmp"]:
        assert word in out, word
    assert "D·(K − 1) + 1" in out and "S·(N − 1) + K − 2P + A" in out and "spatial chain ends" in out
