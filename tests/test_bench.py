"""benchmarks/bench.py: each framework in its own process, both ratios, the machine, the correctness check."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))  # the benchmark's own modules (bench.py runs the same way)

import bench
import bench_report as report


def _row(workload, op, impl, t):
    return {"workload": workload, "op": op, "impl": impl, "time_s": t, "flops": 0.0, "note": ""}


def test_rounds_combine_into_medians_and_ratios_to_each_framework():
    rounds = [
        [_row("W2", "forward", "numba", 3.0), _row("PEAK", "matmul 2048³", "numpy", 1.0)],
        [_row("W2", "forward", "tensorflow", 8.0)],
        [_row("W2", "forward", "pytorch", 4.0)],
        [_row("W2", "forward", "numba", 1.0), _row("PEAK", "matmul 2048³", "numpy", 1.0)],
        [_row("W2", "forward", "tensorflow", 10.0)],
        [_row("W2", "forward", "pytorch", 6.0)],
        [_row("W2", "forward", "numba", 2.0), _row("PEAK", "matmul 2048³", "numpy", 1.0)],
    ]
    rows = report.add_ratios(report.combine_rounds(rounds), 1e11)
    numba = next(r for r in rows if r["impl"] == "numba")
    assert numba["round_times"] == [3.0, 1.0, 2.0] and numba["time_s"] == 2.0  # the median of the rounds
    assert numba["ratio_to_tf"] == pytest.approx(2.0 / 9.0) and numba["ratio_to_torch"] == pytest.approx(2.0 / 5.0)
    (s,) = [s for s in report.summary(rows) if s["workload"] == "W2"]
    assert s["ratio_to_faster"] == pytest.approx(0.4) and s["target"] == 0.8 and s["met"] is True
    md = report.to_markdown(rows, {"cpu": "X", "cpu_count": 2, "isa": ["avx2"]}, 1e11, None, {}, "How.")
    assert "| W2 | forward | 2.00 s | 9.00 s | 5.00 s | 0.22 | 0.40 | 0.40 | ≤ 0.8 ✓ |" in md


def test_a_framework_that_computes_something_else_is_flagged(tmp_path):
    y = np.ones((2, 3, 3, 4), np.float32)
    np.savez(tmp_path / "convlab-W2.npz", y=y, dx=y, dk=y)
    np.savez(tmp_path / "pytorch-W2.npz", y=y, dx=y + 0.5, dk=y, dx_tape=y)
    np.savez(tmp_path / "tensorflow-W2.npz", y=y + 1e-6, dx=y, dk=y)
    notes = bench.check_outputs(tmp_path, ["W2"], ["convlab", "tensorflow", "pytorch"])
    assert list(notes) == [("pytorch", "W2")] and "dx differs" in notes["pytorch", "W2"]


@pytest.mark.slow
def test_bench_runs_each_framework_in_its_own_process(tmp_path):
    """W4 and the peak, one round, one repetition: the real script, as `convlab bench` runs it."""
    cmd = [sys.executable, str(BENCH / "bench.py"), "--only", "W4", "--reps", "1", "--rounds", "1"]
    cmd += ["--no-compile-check", "--no-tf", "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "... round 1/1: convlab" in done.stdout
    result = json.loads((tmp_path / "results.json").read_text())
    assert result["machine"]["method"] == "isolated processes" and result["machine"]["cpu_count"] >= 1
    assert "isa" in result["machine"] and result["peak_flops_s"] > 0
    impls = {r["impl"] for r in result["rows"] if r["workload"] == "W4"}
    assert {"reference", "numpy", "numba"} <= impls and "tensorflow" not in impls
    (fwd,) = [s for s in result["summary"] if (s["workload"], s["op"]) == ("W4", "forward")]
    assert fwd["convlab_s"] > 0 and fwd["target"] == 0.5
    if importlib.util.find_spec("torch") is not None:
        assert "pytorch" in impls and fwd["ratio_to_torch"] > 0
        assert not any("CHECK FAILED" in r["note"] for r in result["rows"])
    md = (tmp_path / "results.md").read_text()
    assert "| workload | operation | convlab | TensorFlow | PyTorch | / TF | / PyTorch | / faster | target |" in md
