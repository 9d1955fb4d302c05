"""Lesson 12 (beyond the slides) and its figure helpers: conv_arithmetic_animation, save_gif.

The generic test in tests/test_lessons.py runs every lesson with --quick; here the
animation helper is checked against the operations it draws, and the lesson's key
lines and files are checked once (slow), with Keras when TensorFlow is installed.
"""

import gc
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import convlab
from convlab import viz
from convlab.ops.conv_transpose import conv2d_transpose

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "lessons" / "12_beyond_the_slides.py"

pytestmark = pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")
    gc.collect()


def _nhwc(a):
    return np.asarray(a, float)[None, :, :, None]


def _k4(k):
    return np.asarray(k, float)[:, :, None, None]


@pytest.mark.parametrize(
    "shape, k, strides, padding, dilation",
    [((7, 7), 3, 1, 0, 2), ((6, 5), 3, 2, 1, 1), ((9, 8), 2, 3, 2, 3), ((4, 4), 1, 1, 0, 1)],
)
def test_forward_animation_equals_conv2d(shape, k, strides, padding, dilation):
    rng = np.random.default_rng(0)
    x, kernel = rng.integers(-5, 6, shape), rng.integers(-3, 4, (k, k))
    anim, out = viz.conv_arithmetic_animation(x, kernel, strides=strides, padding=padding, dilation=dilation)
    expected = convlab.conv2d(_nhwc(x), _k4(kernel), strides=strides, padding=padding, dilation_rate=dilation)
    np.testing.assert_array_equal(out, expected[0, :, :, 0])
    assert anim.frame_count == out.size == len(list(anim.new_frame_seq()))


@pytest.mark.parametrize(
    "shape, k, strides, padding, output_padding, dilation",
    [
        ((2, 2), 3, 2, 0, 0, 1),
        ((2, 2), 2, 2, 0, 0, 1),
        ((3, 2), 3, 2, 1, 1, 1),
        ((2, 3), 3, 3, 2, 2, 1),
        ((3, 3), 3, 1, 1, 0, 2),
        ((2, 2), 2, 2, 1, 1, 2),
    ],
)
def test_transposed_animation_equals_conv2d_transpose(shape, k, strides, padding, output_padding, dilation):
    """Dumoulin & Visin's stretched-input picture gives exactly Keras' Conv2DTranspose numbers."""
    rng = np.random.default_rng(1)
    x, kernel = rng.integers(-5, 6, shape), rng.integers(-3, 4, (k, k))
    _, out = viz.conv_arithmetic_animation(
        x,
        kernel,
        strides=strides,
        padding=padding,
        dilation=dilation,
        transposed=True,
        output_padding=output_padding,
    )
    expected = conv2d_transpose(
        _nhwc(x),
        _k4(kernel),
        strides=strides,
        padding=padding,
        output_padding=output_padding if strides > 1 else None,
        dilation_rate=dilation,
    )
    np.testing.assert_array_equal(out, expected[0, :, :, 0])


def test_save_gif_writes_one_frame_per_output(tmp_path):
    from PIL import Image

    anim, out = viz.conv_arithmetic_animation([[0, 1], [2, 3]], [[0, 1], [2, 3]], strides=2, transposed=True)
    path = tmp_path / "t.gif"
    viz.save_gif(anim, str(path), fps=2, dpi=40)
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == out.size == 16
        assert im.info["duration"] == 500 and im.info["loop"] == 0
    anim, _ = viz.sliding_window_animation(np.eye(3), np.ones((2, 2)))  # any other animation: PillowWriter
    viz.save_gif(anim, str(tmp_path / "s.gif"), dpi=30)
    with Image.open(tmp_path / "s.gif") as im:
        assert im.n_frames == 4


def test_animation_rejects_bad_arguments():
    x, k = np.zeros((4, 4)), np.ones((3, 3))
    with pytest.raises(ValueError, match="strides must be an int >= 1"):
        viz.conv_arithmetic_animation(x, k, strides=0)
    with pytest.raises(TypeError, match="dilation must be an int"):
        viz.conv_arithmetic_animation(x, k, dilation=1.5)
    with pytest.raises(ValueError, match="output_padding is for a transposed convolution only"):
        viz.conv_arithmetic_animation(x, k, strides=2, output_padding=1)
    with pytest.raises(ValueError, match="output_padding must be smaller than strides=2"):
        viz.conv_arithmetic_animation(x, k, strides=2, output_padding=2, transposed=True)
    with pytest.raises(ValueError, match=r"padding must be at most D·\(K − 1\) = 2"):
        viz.conv_arithmetic_animation(x, k, padding=3, transposed=True)
    with pytest.raises(ValueError, match="dilated by 3 spans 7×7, larger than the padded input of 4×4"):
        viz.conv_arithmetic_animation(x, k, dilation=3)
    with pytest.raises(ValueError, match="x must be a non-empty 2-D array"):
        viz.conv_arithmetic_animation(np.zeros((1, 4, 4)), k)
    with pytest.raises(TypeError, match="transposed must be"):
        viz.conv_arithmetic_animation(x, k, transposed="yes")
    anim, _ = viz.conv_arithmetic_animation(x, k)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        viz.save_gif(anim, "unused.gif", fps=0)


def _run(out, *args):
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, str(LESSON), "--out", str(out), "--quick", *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=300,
        cwd=ROOT,
    )


@pytest.mark.slow
def test_lesson_12_prints_and_writes_its_numbers(tmp_path):
    from PIL import Image

    proc = _run(tmp_path, "--no-keras")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for line in (
        "Why it matters: the pretrained networks the slides list after VGG16",
        # the product sum as the slides lay it out: one kernel row per line
        "  out[0,0] = 4*1 + 7*0 + 0*(-1) +",
        "             2*2 + 6*0 + 0*(-2) +\n             1*1 + 1*0 + 9*(-1) = 0",
        "✓ 2×2 → 3×3 by hand (d2l's result)",
        "✓ stride 2: 2×2 → 4×4 by hand (d2l's result)",
        "T = 2·(2 − 1) + 2 − 2·0 = 4",
        "✓ three dilated 3×3 layers (1, 2, 4): 1 + 2 + 4 + 8 = 15",
        "✓ SeparableConv2D(64, 3) on 32 channels: 2,400 parameters",
        "= 73/576 ≈ 0.1267 = 1/N_f + 1/K² = 1/64 + 1/9",
        "✓ Cᵀ · X == conv2d_transpose(X, W)",
        "(skipped under --no-keras)",
    ):
        assert line in proc.stdout, line
    # tolerances are shown only where they are the point (the float32 comparison with Keras, not run here)
    assert "(atol=" not in proc.stdout
    folder = tmp_path / "12_beyond_the_slides"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "passed" and summary["checks"] >= 80
    for name, frames in (("dilation_d2.gif", 9), ("transposed_s2.gif", 25)):
        with Image.open(folder / name) as im:
            assert im.n_frames == frames
    assert sum(f.stat().st_size for f in folder.iterdir()) < 1_000_000


@pytest.mark.slow
@pytest.mark.tf
@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")
def test_lesson_12_agrees_with_keras(tmp_path):
    proc = _run(tmp_path, "--keras")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    keras_checks = [line for line in proc.stdout.splitlines() if line.startswith("  ✓ Keras")]
    assert len(keras_checks) == 17, keras_checks
    # the six value comparisons (Keras float32 against convlab float64) show their tolerance, and say why
    assert sum(line.endswith("(atol=0.0001, rtol=0)") for line in keras_checks) == 6, keras_checks
    assert "Keras computes in float32" in proc.stdout
