"""TensorFlow, imported through convlab, prints nothing of its own: not at import, not later.

A machine with a CUDA driver but no working GPU makes TensorFlow log "failed call to cuInit" the
first time it looks for devices. That happened mid-lesson on CI's machine (whose driver this
machine may lack), so the test makes such a driver: a tiny ``libcuda.so.1`` whose ``cuInit``
fails, found through ``LD_LIBRARY_PATH``. It needs a C compiler, and is skipped without one.
"""

import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("tensorflow")

pytestmark = pytest.mark.slow

FAILING_DRIVER = """
int cuInit(unsigned int flags) { return 303; }
int cuDriverGetVersion(int *version) { *version = 13000; return 0; }
int cuGetErrorString(int error, const char **text) { *text = "UNKNOWN ERROR (303)"; return 0; }
int cuGetErrorName(int error, const char **text) { *text = "CUDA_ERROR_UNKNOWN"; return 0; }
"""

#: Looks for devices and computes something, as a lesson does after importing Keras.
USE_DEVICES = "import tensorflow as tf; tf.config.list_physical_devices(); print(float(tf.constant(1.0) + 1))"


@pytest.fixture(scope="module")
def failing_driver(tmp_path_factory):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build a stand-in CUDA driver")
    folder = tmp_path_factory.mktemp("cuda")
    (folder / "driver.c").write_text(FAILING_DRIVER)
    subprocess.run(
        [compiler, "-shared", "-fPIC", "-o", str(folder / "libcuda.so.1"), str(folder / "driver.c")], check=True
    )
    return folder


def run_python(code, driver_folder):
    # TF_CPP_MIN_LOG_LEVEL=2 as a user (or a test suite) may set it: errors still pass at that level.
    env = dict(os.environ, LD_LIBRARY_PATH=str(driver_folder), TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_tensorflow_imported_by_convlab_keeps_the_failed_cuinit_to_itself(failing_driver):
    plain = run_python(USE_DEVICES, failing_driver)
    if "cuInit" not in plain.stderr:
        pytest.skip("this TensorFlow does not report the stand-in driver's failure")
    quiet = run_python(
        f"from convlab.bridge.optional import import_keras; import_keras('a test'); {USE_DEVICES}", failing_driver
    )
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "2.0"
    assert quiet.stderr == ""
