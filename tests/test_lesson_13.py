"""Lesson 13 (batch normalization): its worked numbers are printed, and with TensorFlow it matches Keras.

tests/test_lessons.py already runs the lesson with ``--quick`` (which skips Keras); this run adds
``--keras`` so the comparison with ``keras.layers.BatchNormalization`` is exercised too.
"""

import json
from pathlib import Path

import pytest
from test_lessons import run_lesson

pytest.importorskip("tensorflow")

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "lessons" / "13_batch_normalization.py"

# Lines the lesson must print verbatim: the tiny batch's statistics, the moving-average steps,
# the layer's parameter count, and the graph's first backward node.
EXPECTED_LINES = [
    "  Σx  = 1 + 2 + 3 + 4 + 5 + 6 + 7 + 8 = 36",
    "  μ0  = 36/8 = 4.5",
    "  σ²0 = 42/8 = 5.25   (÷ m, the biased variance Keras uses)",
    "  σ²1 = 16/8 = 2   (÷ m, the biased variance Keras uses)",
    "  step 1, channel 0: mean 0.000000·0.99 + 4.5·0.01 = 0.045000",
    "                     var  1.000000·0.99 + 5.25·0.01 = 1.042500",
    "Total params: 128 (512.00 B)",
    "Non-trainable params: 64 (256.00 B)",
    "  8  dβ = Σdy = 2;  dγ = Σ dy·x̂ = 0.436394",
    "Why it matters: ResNet50, one of the pretrained networks the slides list,",
]


@pytest.mark.slow
@pytest.mark.tf
def test_lesson_13_prints_its_numbers_and_matches_keras(tmp_path):
    proc = run_lesson(LESSON, tmp_path, "--quick", "--keras", timeout=400)
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"
    for line in EXPECTED_LINES:
        assert line in proc.stdout, line
    # the five Keras checks ran (defaults, y in training mode, moving statistics, gradients, inference y)
    assert proc.stdout.count("✓ Keras") == 5, proc.stdout
    assert "skipped under --quick" not in proc.stdout
    # tolerances are printed only where they are the point: the float32 layer, the moving statistics'
    # remnant, the two central-difference checks and the four comparisons with Keras
    shown = [line for line in proc.stdout.splitlines() if "(atol=" in line]
    assert len(shown) == 8, shown
    summary = json.loads((tmp_path / LESSON.stem / "summary.json").read_text())
    assert summary["status"] == "passed" and summary["checks"] >= 45 and summary["figures"] == 2
    for name in ("training_curves.png", "moving_statistics.png"):
        png = tmp_path / LESSON.stem / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.stat().st_size < 1_000_000
