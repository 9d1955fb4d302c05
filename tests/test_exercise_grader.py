"""The grader survives whatever a learner's file does, and says what happened in the learner's terms.

Each test writes a learner file for exercise 2 (``correlate2d``) or 1
(``output_size``) into a temporary folder and grades it in a child process, as
``convlab check`` does.
"""

from __future__ import annotations

import textwrap

import pytest
from exercise_solutions import CORRELATE2D

from convlab.exercises.grade import grade_exercise
from convlab.exercises.report import render_result

CORRECT = CORRELATE2D


def grade(tmp_path, source, number=2, **kw):
    names = {1: "ex01_output_size.py", 2: "ex02_correlate2d.py"}
    (tmp_path / names[number]).write_text(textwrap.dedent(source))
    return grade_exercise(number, tmp_path, **kw)


def test_a_correct_solution_passes_and_the_report_shows_the_slide(tmp_path):
    r = grade(tmp_path, CORRECT)
    assert r.passed, r.codes()
    assert all(c.error is not None and c.error <= 1e-12 for c in r.cases)
    text = render_result(r)
    assert "266 ✓" in text and "-61" in text
    assert "exercise 2 passes" in text


def test_syntax_error_names_the_file_and_line(tmp_path):
    r = grade(tmp_path, "import numpy as np\n\ndef correlate2d(image, kernel)\n    return image\n")
    assert r.codes() == ["syntax_error"]
    assert "ex02_correlate2d.py, line 3" in r.problem.message
    assert "Traceback" not in render_result(r)


def test_missing_function_lists_what_the_file_defines(tmp_path):
    r = grade(tmp_path, "def correlate(image, kernel):\n    return image\n")
    assert r.codes() == ["missing_function"]
    assert "correlate2d(image, kernel)" in r.problem.message and "correlate" in r.problem.message


def test_wrong_signature(tmp_path):
    r = grade(tmp_path, "def correlate2d(image):\n    return image\n")
    assert r.codes() == ["wrong_signature"]
    assert "correlate2d(image)" in r.problem.message and "line 1" in r.problem.message


def test_exception_points_at_the_learners_line(tmp_path):
    src = """
    import numpy as np

    def correlate2d(image, kernel):
        out = np.zeros((2, 2))
        out[0, 0] = np.sum(image * kernel)
        return out
    """
    r = grade(tmp_path, src)
    assert r.codes()[0] == "exception"
    msg = r.cases[0].diagnosis.message
    assert "ValueError" in msg and "ex02_correlate2d.py, line 6" in msg
    assert "np.sum(image * kernel)" in msg
    assert "convlab/exercises" not in msg  # no grader frames


def test_exception_at_import_time(tmp_path):
    r = grade(tmp_path, "import numpy as np\nx = 1 / 0\n\ndef correlate2d(image, kernel):\n    return image\n")
    assert r.codes() == ["import_error"]
    assert "ZeroDivisionError" in r.problem.message and "line 2" in r.problem.message


def test_untouched_stub_is_not_implemented(tmp_path):
    r = grade(tmp_path, "def correlate2d(image, kernel):\n    raise NotImplementedError('exercise 2')\n")
    assert set(r.codes()) == {"not_implemented"}
    assert "not implemented yet" in r.cases[0].diagnosis.message


def test_wrong_return_type(tmp_path):
    r = grade(tmp_path, "def correlate2d(image, kernel):\n    return [[1, 2], [3, 4]]\n")
    assert set(r.codes()) == {"wrong_type"}
    assert "a list" in r.cases[0].diagnosis.message
    r = grade(tmp_path, "def correlate2d(image, kernel):\n    image.sum()\n")
    assert "forget the return" in r.cases[0].diagnosis.message


def test_a_learners_class_comes_back_as_a_description_not_an_object(tmp_path):
    r = grade(tmp_path, "class Box:\n    pass\n\ndef correlate2d(image, kernel):\n    return Box()\n")
    assert set(r.codes()) == {"wrong_type"}
    assert "Box" in r.cases[0].diagnosis.message


def test_nan_in_the_output(tmp_path):
    src = CORRECT.replace("    return out", "    out[-1, -1] = np.nan\n    return out")
    r = grade(tmp_path, src)
    assert set(r.codes()) == {"not_finite"}
    assert "nan" in r.cases[0].diagnosis.message


def test_infinite_loop_hits_the_time_limit_and_names_the_case(tmp_path):
    src = CORRECT.replace("    return out", "    while out.shape[0] == 3:\n        pass\n    return out")
    r = grade(tmp_path, src, timeout=3)
    assert r.codes()[0] == "timeout"
    stuck = next(c for c in r.cases if not c.passed)
    assert "3 s" in stuck.diagnosis.message
    assert r.seconds < 15


def test_sys_exit_inside_the_function(tmp_path):
    r = grade(tmp_path, "import sys\n\ndef correlate2d(image, kernel):\n    sys.exit(3)\n")
    assert set(r.codes()) == {"exited"}
    assert "sys.exit(3)" in r.cases[0].diagnosis.message


@pytest.mark.parametrize("end", ["os._exit(0)", "os.abort()", "ctypes.string_at(0)"])
def test_the_process_ending_or_crashing(tmp_path, end):
    r = grade(tmp_path, f"import ctypes\nimport os\n\ndef correlate2d(image, kernel):\n    {end}\n")
    assert r.codes()[0] == ("exited" if "_exit" in end else "crashed")
    assert r.cases[0].diagnosis is not None
    assert all(not c.passed for c in r.cases)


def test_a_solution_that_prints_a_lot(tmp_path):
    src = CORRECT.replace("    return out", "    for _ in range(20000):\n        print('x' * 100)\n    return out")
    r = grade(tmp_path, src)
    assert r.passed
    assert r.stdout_bytes > 1_000_000 and len(r.stdout) <= 4000
    text = render_result(r)
    assert "Your code printed (the first 10 lines" in text
    assert len(text.splitlines()) < 40


def test_a_solution_that_modifies_its_input(tmp_path):
    src = CORRECT.replace("    return out", "    image -= image.mean()\n    return out")
    r = grade(tmp_path, src)
    assert set(r.codes()) == {"modified_input"}
    assert "`image`" in r.cases[0].diagnosis.message


def test_modified_inputs_do_not_spoil_the_next_case(tmp_path):
    # Changing the kernel in place after using it: every case still gets the grader's own kernel.
    src = CORRECT.replace("    return out", "    kernel[...] = 0\n    return out")
    r = grade(tmp_path, src)
    assert set(r.codes()) == {"modified_input"}
    assert all(c.error is None or c.error <= 1e-12 for c in r.cases)


def test_float_for_an_integer_answer_reaches_the_grader(tmp_path):
    src = """
    def output_size(n, kernel_size, padding, stride):
        if padding == "same":
            return -(-n // stride)
        p = 0 if padding == "valid" else padding
        return (n + 2 * p - kernel_size) / stride + 1
    """
    r = grade(tmp_path, src, number=1)
    assert not r.passed
    assert all(code != "exception" for code in r.codes())


def test_memory_is_limited(tmp_path):
    # np.empty does not touch its pages: the address-space limit, not the machine's memory, stops it, at once.
    src = "import numpy as np\n\ndef correlate2d(image, kernel):\n    return [np.empty(1 << 27) for _ in range(100)]\n"
    r = grade(tmp_path, src, timeout=30)
    assert r.codes()[0] == "exception"
    assert "MemoryError" in r.cases[0].diagnosis.message


def test_missing_file(tmp_path):
    r = grade_exercise(2, tmp_path)
    assert r.codes() == ["missing_file"]
    assert "convlab exercises" in r.problem.message


def test_the_report_explains_a_timeout_not_the_cases_after_it(tmp_path):
    src = CORRECT.replace("    return out", "    while out.shape[0] == 3:\n        pass\n    return out")
    r = grade(tmp_path, src, timeout=3)
    text = render_result(r)
    assert "no answer within 3 s" in text
    assert "not run (see the case above)" not in text


def test_endless_printing_is_stopped_before_it_fills_the_disk(tmp_path):
    src = "def correlate2d(image, kernel):\n    while True:\n        print('x' * 10000)\n"
    r = grade(tmp_path, src, timeout=60)
    assert r.codes()[0] == "printed_too_much"
    assert r.seconds < 30
    assert "64 MB" in render_result(r)


def test_a_thread_left_running_does_not_hold_the_grader(tmp_path):
    src = "import threading\nimport time\n\nthreading.Thread(target=time.sleep, args=(1000,)).start()\n" + CORRECT
    r = grade(tmp_path, src, timeout=20)
    assert r.passed
    assert r.seconds < 10


def test_an_import_error_shows_only_the_learners_frames(tmp_path):
    r = grade(tmp_path, "import numpy as np\nundefined_name\n\ndef correlate2d(image, kernel):\n    return image\n")
    assert r.codes() == ["import_error"]
    assert "NameError" in r.problem.message and "line 2" in r.problem.message
    assert "frozen" not in r.problem.message


def test_odd_return_values(tmp_path):
    src = "class Size(int):\n    pass\n\n\ndef output_size(n, k, p, s):\n    return Size(3)\n"
    r = grade(tmp_path, src, 1)
    assert not r.passed and r.problem is None  # graded (3 is right on some cases), not an internal error
    assert any(c.passed for c in r.cases)
    r = grade(tmp_path, CORRECT.replace("    return out", "    return out + 0j"))
    assert set(r.codes()) == {"wrong_type"}


def test_borrowing_the_answer_is_noted(tmp_path):
    src = "import scipy.signal\n\ndef correlate2d(image, kernel):\n"
    src += "    return scipy.signal.correlate2d(image, kernel, 'valid')\n"
    r = grade(tmp_path, src)
    assert r.passed
    assert r.borrowed == ["scipy"]
    assert "Note: your file imports scipy" in render_result(r)


def test_state_kept_between_calls_is_explained_first(tmp_path):
    src = """
    import numpy as np

    dx = None

    def max_pool2d_backward(dy, x, pool_size, stride):
        global dx
        s = stride or pool_size
        if dx is None or dx.shape != x.shape:
            dx = np.zeros(x.shape)
        n, oh, ow, c = dy.shape
        for b in range(n):
            for i in range(oh):
                for j in range(ow):
                    for ch in range(c):
                        w = x[b, i * s:i * s + pool_size, j * s:j * s + pool_size, ch]
                        u, v = np.unravel_index(np.argmax(w), w.shape)
                        dx[b, i * s + u, j * s + v, ch] += dy[b, i, j, ch]
        return dx
    """
    (tmp_path / "ex09_max_pool_backward.py").write_text(textwrap.dedent(src))
    r = grade_exercise(9, tmp_path)
    assert "accumulates" in r.codes()
    assert "accumulate across calls" in " ".join(render_result(r).split())
