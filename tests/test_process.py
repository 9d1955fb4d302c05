"""What convlab changes in the process (convlab.util.process): applied where it pays, never leaked, switchable.

The settings are process-wide and happen once, so every check that needs a
process of its own runs a fresh interpreter (``python -c``).
"""

import json
import os
import subprocess
import sys

import pytest

from convlab.util import process

# A layer well above the kernels' serial threshold, so the first call starts Numba's threads
# (libgomp reads GOMP_SPINCOUNT then); afterwards: what this process and a child see.
_SCRIPT = r"""
import json, os, subprocess, sys
import numpy as np
import convlab
from convlab.util import process

x = np.random.default_rng(0).standard_normal((8, 32, 32, 16)).astype(np.float32)
k = np.random.default_rng(1).standard_normal((3, 3, 16, 32)).astype(np.float32)
convlab.conv2d(x, k, padding="same")

import numba

child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('GOMP_SPINCOUNT'))"],
                       capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps({
    "environ": os.environ.get("GOMP_SPINCOUNT"),
    "child": child,
    "quiet_openmp": process.quiet_openmp(),
    "enabled": process.enabled(),
    "layer": numba.threading_layer(),
}))
"""


def _run(**env_changes):
    """Run _SCRIPT in a fresh interpreter with ``env_changes`` (None removes a variable); (report, stderr)."""
    env = dict(os.environ)
    for key in ("GOMP_SPINCOUNT", process.ENV_SWITCH):
        env.pop(key, None)
    env["OMP_DISPLAY_ENV"] = "verbose"  # libgomp prints the settings it read when it loads (stderr)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def _libgomp_spincount(stderr):
    """The GOMP_SPINCOUNT that libgomp reports having read (OMP_DISPLAY_ENV=verbose), or None."""
    for line in stderr.splitlines():
        if line.strip().startswith("GOMP_SPINCOUNT ="):
            return line.split("=", 1)[1].strip().strip("'")
    return None


@pytest.mark.slow
@pytest.mark.slow
def test_spincount_reaches_libgomp_but_not_the_environment():
    report, stderr = _run()
    assert report["enabled"] is True
    assert report["quiet_openmp"] == {"GOMP_SPINCOUNT": "0"}
    assert report["environ"] is None, "GOMP_SPINCOUNT was left in os.environ"
    assert report["child"] == "None", "a child process inherited GOMP_SPINCOUNT"
    if report["layer"] == "omp":
        assert _libgomp_spincount(stderr) == "0", stderr[-2000:]


@pytest.mark.slow
@pytest.mark.slow
@pytest.mark.parametrize("value", ["0", "off"])
def test_switch_off_applies_nothing(value):
    report, stderr = _run(**{process.ENV_SWITCH: value})
    assert report["enabled"] is False
    assert report["quiet_openmp"] == {}
    assert report["environ"] is None and report["child"] == "None"
    if report["layer"] == "omp":
        assert _libgomp_spincount(stderr) not in (None, "0"), stderr[-2000:]


@pytest.mark.slow
@pytest.mark.slow
def test_users_own_spincount_is_kept():
    report, stderr = _run(GOMP_SPINCOUNT="1234")
    assert report["quiet_openmp"] == {"GOMP_SPINCOUNT": "1234"}
    assert report["environ"] == "1234"
    assert report["child"] == "1234"
    if report["layer"] == "omp":
        assert _libgomp_spincount(stderr) == "1234"


@pytest.mark.parametrize("flag", [0, 1, "no", "false", None, 0.0])
def test_set_enabled_refuses_non_bools(flag):
    before = process.enabled()
    with pytest.raises(TypeError, match="True or False"):
        process.set_enabled(flag)
    assert process.enabled() is before


def test_set_enabled_switches_serial_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas_threads():
        return [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"]

    before = blas_threads()
    was = process.enabled()
    try:
        process.set_enabled(True)
        with process.serial_blas():
            assert all(n == 1 for n in blas_threads())
        assert blas_threads() == before
        process.set_enabled(False)
        with process.serial_blas():
            assert blas_threads() == before
    finally:
        process.set_enabled(was)
