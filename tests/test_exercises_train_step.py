"""Exercise 10 (a training step of a tiny CNN built from the learner's own functions): stub, grader, diagnoses.

A complete learner's folder is written into a temporary directory: exercises 4–9 solved as a student
solves them (loops + numpy, never convlab) and exercise 10 importing them, as the stub does. The correct
``train_step`` must pass every case, the training run included; each typical mistake (written into the
correct solution as a student would write it) must be named by its diagnosis code. The one-step cases are
checked in-process (fast: the learner's function called directly, then the grader's ``diagnose``); a few
solutions go through ``grade_exercise`` end to end, as ``convlab check 10`` runs them.
"""

from __future__ import annotations

import ast
import copy
import importlib.util
import itertools
import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import convlab.exercises
from convlab.exercises.case import Case
from convlab.exercises.compare import close
from convlab.exercises.grade import SEED, build_cases, grade_exercise
from convlab.exercises.graders import train_step as grader
from convlab.teach.exercise_catalogue import get_exercise

STUB = Path(convlab.exercises.__file__).parent / "stubs" / "ex10_train_step.py"

# ============================================================================ the learner's exercises 4–9

EX04 = """\
import numpy as np


def conv2d(x, kernel, bias, stride, padding):
    N, H, W, C = x.shape
    KH, KW, _, F = kernel.shape
    P, S = padding, stride
    xp = np.zeros((N, H + 2 * P, W + 2 * P, C))
    xp[:, P:P + H, P:P + W, :] = x
    T = (H + 2 * P - KH) // S + 1
    U = (W + 2 * P - KW) // S + 1
    out = np.zeros((N, T, U, F))
    for n in range(N):
        for i in range(T):
            for j in range(U):
                window = xp[n, i * S:i * S + KH, j * S:j * S + KW, :]
                for f in range(F):
                    out[n, i, j, f] = np.sum(window * kernel[:, :, :, f]) + bias[f]
    return out
"""

EX05 = """\
import numpy as np


def max_pool2d(x, pool_size, stride):
    if stride is None:
        stride = pool_size
    N, H, W, C = x.shape
    K, S = pool_size, stride
    T = (H - K) // S + 1
    U = (W - K) // S + 1
    out = np.zeros((N, T, U, C))
    for n in range(N):
        for i in range(T):
            for j in range(U):
                for c in range(C):
                    out[n, i, j, c] = np.max(x[n, i * S:i * S + K, j * S:j * S + K, c])
    return out
"""

EX06 = """\
import numpy as np


def relu(x):
    return np.maximum(x, 0)


def softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)
"""

EX07 = """\
import numpy as np


def flatten(x):
    N, H, W, C = x.shape
    out = np.zeros((N, H * W * C))
    for n in range(N):
        for i in range(H):
            for j in range(W):
                for c in range(C):
                    out[n, (i * W + j) * C + c] = x[n, i, j, c]
    return out


def dense(x, kernel, bias):
    return x @ kernel + bias
"""

EX08 = """\
import numpy as np


def conv2d_backward(dy, x, kernel, stride, padding):
    N, H, W, C = x.shape
    KH, KW, _, F = kernel.shape
    _, T, U, _ = dy.shape
    P, S = padding, stride
    xp = np.zeros((N, H + 2 * P, W + 2 * P, C))
    xp[:, P:P + H, P:P + W, :] = x
    dxp = np.zeros_like(xp)
    dkernel = np.zeros(kernel.shape)
    dbias = np.zeros(F)
    for n in range(N):
        for i in range(T):
            for j in range(U):
                for f in range(F):
                    g = dy[n, i, j, f]
                    dkernel[:, :, :, f] += xp[n, i * S:i * S + KH, j * S:j * S + KW, :] * g
                    dxp[n, i * S:i * S + KH, j * S:j * S + KW, :] += kernel[:, :, :, f] * g
                    dbias[f] += g
    return dxp[:, P:P + H, P:P + W, :], dkernel, dbias
"""

EX09 = """\
import numpy as np


def max_pool2d_backward(dy, x, pool_size, stride):
    if stride is None:
        stride = pool_size
    N, H, W, C = x.shape
    _, T, U, _ = dy.shape
    K, S = pool_size, stride
    dx = np.zeros(x.shape)
    for n in range(N):
        for i in range(T):
            for j in range(U):
                for c in range(C):
                    window = x[n, i * S:i * S + K, j * S:j * S + K, c]
                    k = np.argmax(window)  # the first maximum in row-major order, as TensorFlow
                    dx[n, i * S + k // K, j * S + k % K, c] += dy[n, i, j, c]
    return dx
"""

EARLIER = {
    "ex04_conv2d.py": EX04,
    "ex05_max_pool.py": EX05,
    "ex06_activations.py": EX06,
    "ex07_dense.py": EX07,
    "ex08_conv_backward.py": EX08,
    "ex09_max_pool_backward.py": EX09,
}

# ============================================================================ exercise 10

CORRECT = """\
import numpy as np
from ex04_conv2d import conv2d
from ex05_max_pool import max_pool2d
from ex06_activations import relu, softmax
from ex07_dense import dense, flatten
from ex08_conv_backward import conv2d_backward
from ex09_max_pool_backward import max_pool2d_backward


def train_step(params, x, y, learning_rate):
    K = params["conv_kernel"]
    b = params["conv_bias"]
    W = params["dense_kernel"]
    c = params["dense_bias"]
    N = x.shape[0]

    # forward
    z = conv2d(x, K, b, 1, 0)
    a = relu(z)
    m = max_pool2d(a, 2, 2)
    f = flatten(m)
    s = dense(f, W, c)
    p = softmax(s)
    loss = 0.0
    for n in range(N):
        loss -= np.log(p[n, y[n]])
    loss = loss / N

    # backward
    onehot = np.zeros((N, 10))
    for n in range(N):
        onehot[n, y[n]] = 1.0
    ds = (p - onehot) / N
    dW = f.T @ ds
    dc = ds.sum(axis=0)
    df = ds @ W.T
    dm = df.reshape(m.shape)
    da = max_pool2d_backward(dm, a, 2, 2)
    dz = da * (z > 0)
    dx, dK, db = conv2d_backward(dz, x, K, 1, 0)

    new_params = {
        "conv_kernel": K - learning_rate * dK,
        "conv_bias": b - learning_rate * db,
        "dense_kernel": W - learning_rate * dW,
        "dense_bias": c - learning_rate * dc,
    }
    return float(loss), new_params
"""

# A second correct style: vectorised loss and one-hot, an update loop over the keys.
CORRECT_VECTORISED = """\
import numpy as np
from ex04_conv2d import conv2d
from ex05_max_pool import max_pool2d
from ex06_activations import relu, softmax
from ex07_dense import dense, flatten
from ex08_conv_backward import conv2d_backward
from ex09_max_pool_backward import max_pool2d_backward


def train_step(params, x, y, learning_rate):
    N = len(x)
    z = conv2d(x, params["conv_kernel"], params["conv_bias"], 1, 0)
    a = relu(z)
    m = max_pool2d(a, 2, None)
    f = flatten(m)
    p = softmax(dense(f, params["dense_kernel"], params["dense_bias"]))
    loss = -np.mean(np.log(p[np.arange(N), y]))
    ds = p.copy()
    ds[np.arange(N), y] -= 1
    ds /= N
    grads = {"dense_kernel": f.T @ ds, "dense_bias": ds.sum(axis=0)}
    da = max_pool2d_backward((ds @ params["dense_kernel"].T).reshape(m.shape), a, 2, None)
    dz = np.where(z > 0, da, 0.0)
    _, grads["conv_kernel"], grads["conv_bias"] = conv2d_backward(dz, x, params["conv_kernel"], 1, 0)
    new = {}
    for key in params:
        new[key] = params[key] - learning_rate * grads[key]
    return loss, new
"""

UPDATES = """\
    new_params = {
        "conv_kernel": K - learning_rate * dK,
        "conv_bias": b - learning_rate * db,
        "dense_kernel": W - learning_rate * dW,
        "dense_bias": c - learning_rate * dc,
    }
"""

# Each typical mistake: (text of the correct solution, what the student wrote instead).
MISTAKES: dict[str, tuple[str, str]] = {
    "wrong_sign": (UPDATES, UPDATES.replace(" - learning_rate", " + learning_rate")),
    "not_averaged": ("    ds = (p - onehot) / N\n", "    ds = p - onehot\n"),
    "learning_rate_ignored": (UPDATES, UPDATES.replace(" - learning_rate * ", " - ")),
    "bias_not_updated": (
        '        "conv_bias": b - learning_rate * db,\n',
        '        "conv_bias": b,\n',
    ),
    "not_updated": (
        '        "conv_kernel": K - learning_rate * dK,\n',
        '        "conv_kernel": K,\n',
    ),
    "relu_backward_missing": ("    dz = da * (z > 0)\n", "    dz = da\n"),
    # channels-first thinking: the flat vector read back as (N, F, 3, 3)
    "conv_update_wrong": (
        "    dm = df.reshape(m.shape)\n",
        "    dm = df.reshape(N, m.shape[3], 3, 3).transpose(0, 2, 3, 1)\n",
    ),
    # onehot[:, y] sets every listed label's column in every row
    "dense_update_wrong": (
        "    for n in range(N):\n        onehot[n, y[n]] = 1.0\n",
        "    onehot[:, y] = 1.0\n",
    ),
    "averaged_twice": ("    dc = ds.sum(axis=0)\n", "    dc = ds.mean(axis=0)\n"),
    "wrong_shape": ("    dc = ds.sum(axis=0)\n", "    dc = ds\n"),
    "loss_not_averaged": ("    loss = loss / N\n", ""),
    "loss_mismatch": ("    a = relu(z)\n", "    a = z\n"),
}

# Other wrong solutions and the code (and a phrase of the message) they must get.
MORE_MISTAKES: dict[str, tuple[tuple[str, str], ...]] = {
    "bias_not_updated": (
        ('        "conv_bias": b - learning_rate * db,\n', '        "conv_bias": b,\n'),
        ('        "dense_bias": c - learning_rate * dc,\n', '        "dense_bias": c,\n'),
    ),
    "loss_mismatch": (
        (
            "    loss = 0.0\n    for n in range(N):\n        loss -= np.log(p[n, y[n]])\n    loss = loss / N\n",
            "    loss = -np.mean(np.log(p[:, y]))\n",
        ),
    ),
}


def variant(source: str, *changes: tuple[str, str]) -> str:
    """``source`` with mistakes put in (each text to replace must be there)."""
    for old, new in changes:
        assert old in source, old
        source = source.replace(old, new)
    return source


def write_folder(folder: Path, ex10: str, earlier: dict[str, str] | None = None) -> Path:
    """The learner's folder: exercises 4–9 (``earlier`` replaces some of them) and exercise 10."""
    for name, text in {**EARLIER, **(earlier or {})}.items():
        (folder / name).write_text(text)
    (folder / get_exercise(10).file_name).write_text(ex10)
    return folder


_loaded = itertools.count()


def load_train_step(folder: Path, source: str, earlier: dict[str, str] | None = None):
    """The learner's ``train_step`` imported in this process, as the child process imports it."""
    write_folder(folder, source, earlier)
    sys.path.insert(0, str(folder))
    try:
        for name in EARLIER:
            sys.modules.pop(name[:-3], None)  # each test's folder has its own copies
        spec = importlib.util.spec_from_file_location(f"_ex10_{next(_loaded)}", folder / "ex10_train_step.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module.train_step


@pytest.fixture(scope="module")
def all_cases() -> list[Case]:
    return build_cases(get_exercise(10))


@pytest.fixture(scope="module")
def step_cases(all_cases) -> list[Case]:
    return [c for c in all_cases if c.chain is None]


def run_step(fn, case: Case):
    """The learner's answer on a one-step case, with the argument copies the framework makes."""
    params, x, y, lr = copy.deepcopy(case.args)
    loss, new = fn(params, x, y, lr)
    return float(loss), {k: np.asarray(v) for k, v in new.items()}


def step_passes(case: Case, got) -> bool:
    loss, new = got
    expected_loss, expected = case.expected
    return close(loss, expected_loss, case.tolerance) and all(
        np.shape(new[k]) == expected[k].shape and close(new[k], expected[k], case.tolerance) for k in expected
    )


# ============================================================================ the stub


def test_stub_is_a_stub():
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree)
    lines = doc.splitlines()
    assert lines[0].startswith("Exercise 10 — ")
    assert 5 <= len(lines) <= 20
    assert lines[-1] == "Check it with: convlab check 10   (convlab check 10 --hint for a hint)"
    imports = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [(a.name, a.asname) for a in imports[0].names] == [("numpy", "np")]
    modules = [n.module for n in imports[1:]]
    assert modules == [
        "ex04_conv2d",
        "ex05_max_pool",
        "ex06_activations",
        "ex07_dense",
        "ex08_conv_backward",
        "ex09_max_pool_backward",
    ]
    for module in modules:
        assert get_exercise(module).module_name == module  # the catalogue's file names
    funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert [f.name for f in funcs] == ["train_step"]
    assert [a.arg for a in funcs[0].args.args] == ["params", "x", "y", "learning_rate"]
    body = funcs[0].body
    assert len(body) == 2 and isinstance(body[1], ast.Raise)
    assert ast.unparse(body[1]) == "raise NotImplementedError('exercise 10: write train_step here')"
    assert "Returns:" in ast.get_docstring(funcs[0]) and "Args:" in ast.get_docstring(funcs[0])
    for node in ast.walk(tree):
        assert not isinstance(node, (ast.For, ast.While, ast.ListComp, ast.Lambda))
    text = STUB.read_text(encoding="utf-8")
    for word in ("np.log", "np.exp", "reshape", ".T @", "np.dot", "matmul", "np.zeros", "range(", "convlab."):
        assert word not in text, word


@pytest.mark.slow
def test_untouched_stubs_fail_cleanly(tmp_path):
    """Exercise 10's stub next to the untouched stubs of 4–9: it loads, and says "not implemented yet"."""
    stubs = STUB.parent
    for number in range(4, 11):
        name = get_exercise(number).file_name
        (tmp_path / name).write_text((stubs / name).read_text(encoding="utf-8"))
    result = grade_exercise(10, tmp_path)
    assert not result.passed
    assert result.problem is None
    assert set(result.codes()) == {"not_implemented"}


def test_stub_calls_the_learners_earlier_files(tmp_path):
    """The stub's imports find the learner's files (the folder is on sys.path in the child)."""
    fn = load_train_step(tmp_path, STUB.read_text(encoding="utf-8"))
    with pytest.raises(NotImplementedError, match="exercise 10: write train_step here"):
        fn({}, np.zeros((1, 8, 8, 1)), np.zeros(1, dtype=int), 0.1)


# ============================================================================ the cases


def test_cases(all_cases):
    steps = [c for c in all_cases if c.chain is None]
    runs = [c for c in all_cases if c.chain is not None]
    assert len(steps) == 3 and len(runs) == 1
    for case in steps:
        params, x, y, lr = case.args
        n, filters = len(x), params["conv_kernel"].shape[3]
        assert x.shape == (n, 8, 8, 1) and x.dtype == np.float64 and 0 <= x.min() and x.max() <= 1
        assert y.shape == (n,) and set(np.unique(y)) <= set(range(10))
        assert params["dense_kernel"].shape == (9 * filters, 10)
        assert case.output_names == ("loss", "new_params") and case.repeat == 2
        loss, new = case.expected
        assert isinstance(loss, float) and 1.5 < loss < 4
        assert set(new) == set(grader.KEYS)
        # the factors the diagnosis tells apart must differ
        assert len({n, 1 / lr, 1.0, 1 / n}) == 4
    assert {c.args[0]["conv_kernel"].shape[3] for c in steps} == {3, 4}  # a hard-coded F = 4 shows
    # the first case is fixed: the first 16 digits of scikit-learn's set
    x0 = steps[0].args[1]
    assert x0.shape == (16, 8, 8, 1) and list(steps[0].args[2]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5]
    run = runs[0]
    assert run.chain.steps == grader.TRAIN_STEPS == len(run.chain.batches)
    assert run.chain.feed == ((0, 1),) and run.chain.collect == 0
    assert all(b[1].shape == (grader.TRAIN_BATCH, 8, 8, 1) for b in run.chain.batches)
    assert np.array_equal(run.args[1], run.chain.batches[0][1])


def test_cases_are_quick_to_build():
    t0 = time.perf_counter()
    grader.cases(np.random.default_rng(SEED + 10))
    assert time.perf_counter() - t0 < 10  # three reference steps; the training curve is only computed to explain


@pytest.mark.slow
def test_reference_training_lowers_the_loss_for_any_minibatch_order():
    """The run's threshold is safe: the reference clears it with room on several minibatch orders."""
    for seed in (SEED + 10, 1, 2):
        run = next(c for c in grader.cases(np.random.default_rng(seed)) if c.chain is not None)
        losses = grader._reference_losses(run)
        assert np.mean(losses[-5:]) < 0.6 * losses[0], (seed, losses)


def test_expected_step_matches_a_numerical_gradient(step_cases):
    """The expected new weights are θ − η·∂L/∂θ: check ∂L/∂θ against central differences on a few entries."""
    case = step_cases[0]
    params, x, y, lr = case.args
    loss0, grads = grader._loss_and_grads(params, x, y)
    assert loss0 == case.expected[0]
    rng = np.random.default_rng(0)
    for key in grader.KEYS:
        for _ in range(3):
            idx = tuple(int(rng.integers(d)) for d in params[key].shape)
            h = 1e-6
            plus, minus = copy.deepcopy(params), copy.deepcopy(params)
            plus[key][idx] += h
            minus[key][idx] -= h
            numeric = (grader._loss_and_grads(plus, x, y)[0] - grader._loss_and_grads(minus, x, y)[0]) / (2 * h)
            assert abs(numeric - grads[key][idx]) < 1e-6, (key, idx)
            assert np.isclose(case.expected[1][key][idx], params[key][idx] - lr * grads[key][idx])


# ============================================================================ one step, in-process


@pytest.mark.parametrize("source", [CORRECT, CORRECT_VECTORISED], ids=["loops", "vectorised"])
def test_correct_solutions_pass_the_step_cases(tmp_path, step_cases, source):
    fn = load_train_step(tmp_path, source)
    for case in step_cases:
        got = run_step(fn, case)
        assert step_passes(case, got), case.name
        assert grader.diagnose(case, got) is None or step_passes(case, got)


@pytest.mark.parametrize("code", sorted(MISTAKES))
def test_mistakes_are_diagnosed(tmp_path, step_cases, code):
    fn = load_train_step(tmp_path, variant(CORRECT, MISTAKES[code]))
    for case in step_cases:
        got = run_step(fn, case)
        assert not step_passes(case, got), case.name
        diagnosis = grader.diagnose(case, got)
        assert diagnosis is not None and diagnosis.code == code, (case.name, diagnosis)
        assert diagnosis.message


@pytest.mark.parametrize("code,changes", [(c, ch) for c, chs in MORE_MISTAKES.items() for ch in chs])
def test_more_mistakes_are_diagnosed(tmp_path, step_cases, code, changes):
    fn = load_train_step(tmp_path, variant(CORRECT, changes))
    case = step_cases[0]
    diagnosis = grader.diagnose(case, run_step(fn, case))
    assert diagnosis.code == code, diagnosis


def test_messages_name_the_factor_and_the_parameters(tmp_path, step_cases):
    case = step_cases[0]
    n = len(case.args[1])

    def message(code: str) -> str:
        return grader.diagnose(
            case, run_step(load_train_step(tmp_path, variant(CORRECT, MISTAKES[code])), case)
        ).message

    assert "uphill" in message("wrong_sign") and "θ − η" in message("wrong_sign")
    assert f"{n}×" in message("not_averaged") and "(p − onehot)/N" in message("not_averaged")
    assert "η = 0.1" in message("learning_rate_ignored")
    assert "conv_bias" in message("bias_not_updated") and "dense_bias" not in message("bias_not_updated")
    assert "conv_kernel" in message("not_updated")
    assert "z > 0" in message("relu_backward_missing")
    conv = message("conv_update_wrong")
    assert "conv_kernel" in conv and "dense update is right" in conv and "dense_kernel" not in conv.split("\n")[0]
    assert "onehot" in message("dense_update_wrong") and "dense_kernel" in message("dense_update_wrong")
    assert "1/N was applied twice" in message("averaged_twice")
    shape = message("wrong_shape")
    assert f"({n}, 10)" in shape and "(10,)" in shape and "over the batch" in shape
    ref = case.expected[0]
    assert f"{n} ×" in message("loss_not_averaged")
    assert "WITHOUT the ReLU" in message("loss_mismatch") and f"{ref:.6g}" in message("loss_mismatch")


def test_every_wrong_sign_and_a_whole_unchanged_dict(tmp_path, step_cases):
    case = step_cases[1]
    got = run_step(load_train_step(tmp_path, variant(CORRECT, MISTAKES["wrong_sign"])), case)
    d = grader.diagnose(case, got)
    assert d.code == "wrong_sign" and all(k in d.message for k in grader.KEYS)
    unchanged = variant(CORRECT, ("    return float(loss), new_params\n", "    return float(loss), params\n"))
    d = grader.diagnose(case, run_step(load_train_step(tmp_path, unchanged), case))
    assert d.code == "not_updated" and "unchanged" in d.message


def test_loss_summed_and_gradients_summed_together(tmp_path, step_cases):
    source = variant(CORRECT, MISTAKES["loss_not_averaged"], MISTAKES["not_averaged"])
    case = step_cases[0]
    d = grader.diagnose(case, run_step(load_train_step(tmp_path, source), case))
    assert d.code == "loss_not_averaged" and "gradients are 16× too large" in d.message


def test_p_of_every_label_is_explained(tmp_path, step_cases):
    source = variant(CORRECT, MORE_MISTAKES["loss_mismatch"][0])
    d = grader.diagnose(step_cases[0], run_step(load_train_step(tmp_path, source), step_cases[0]))
    assert "p[:, y]" in d.message


_LOSS_LOOP = "        loss -= np.log(p[n, y[n]])\n"


@pytest.mark.parametrize(
    "changes",
    [
        ((_LOSS_LOOP, "        loss -= np.log(p[n, y[n]] + 1e-6)\n"),),
        ((_LOSS_LOOP, "        loss -= np.log(p[n, y[n]] + 1e-7)\n"),),
        ((_LOSS_LOOP, "        loss -= np.log(np.clip(p[n, y[n]], 1e-7, 1 - 1e-7))\n"),),
        ((_LOSS_LOOP, "        loss -= np.log(max(p[n, y[n]], 1e-6))\n"),),
    ],
    ids=["plus 1e-6", "plus 1e-7", "keras clip", "max 1e-6"],
)
def test_a_small_constant_inside_the_log_passes(tmp_path, all_cases, step_cases, changes):
    """log(p + 1e-6) guards against log 0 and moves the loss by ~1e-5: harmless, so it passes."""
    fn = load_train_step(tmp_path, variant(CORRECT, *changes))
    for case in step_cases:
        got = run_step(fn, case)
        assert step_passes(case, got), (case.name, got[0], case.expected[0], case.tolerance)
        assert case.tolerance < 2e-5  # the weights stay checked tightly: every step is 1e-3 or more
    # and the training run's explanation does not call its first loss wrong
    run = run_case(all_cases)
    params, x, y, lr = copy.deepcopy(run.args)
    first = float(fn(params, x, y, lr)[0])
    assert close(first, grader._loss_and_grads(run.args[0], x, y)[0], run.context["first_tolerance"])


def test_a_larger_constant_inside_the_log_is_named(tmp_path, step_cases):
    """A too-large guard is named as one, not blamed on the forward pass (exercises 4–7)."""
    case = step_cases[0]
    for eps, shown in (("1e-4", "ε = 1e-4"), ("3e-5", "ε ≈ 3e-5")):
        fn = load_train_step(tmp_path, variant(CORRECT, (_LOSS_LOOP, f"        loss -= np.log(p[n, y[n]] + {eps})\n")))
        got = run_step(fn, case)
        assert not step_passes(case, got)
        d = grader.diagnose(case, got)
        assert d.code == "log_epsilon", d
        assert shown in d.message and "1e-7 as Keras does" in d.message and "or none" in d.message
        assert "exercises 4–7" not in d.message and "forward pass is right" in d.message
    guarded = variant(CORRECT_VECTORISED, ("np.log(p[np.arange(N), y])", "np.log(p[np.arange(N), y] + 1e-3)"))
    got = run_step(load_train_step(tmp_path, guarded), case)
    d = grader.diagnose(case, got)
    assert d.code == "log_epsilon" and "ε = 1e-3" in d.message, d


def test_a_wrong_loss_with_right_weights_does_not_blame_the_forward_pass(tmp_path, step_cases):
    """Right weights mean a right forward pass: only the loss number is wrong (here: too high)."""
    case = step_cases[0]
    fn = load_train_step(tmp_path, variant(CORRECT, ("    loss = loss / N\n", "    loss = loss / N + 1e-3\n")))
    d = grader.diagnose(case, run_step(fn, case))
    assert d.code == "loss_mismatch" and "Every new weight is right" in d.message
    assert "must pass" not in d.message


# Broken backward pieces of exercises 8 and 9 (the learner's own files), as a student writes them.
_DK = "                    dkernel[:, :, :, f] += xp[n, i * S:i * S + KH, j * S:j * S + KW, :] * g\n"
_ARGMAX = (
    "                    k = np.argmax(window)  # the first maximum in row-major order, as TensorFlow\n"
    "                    dx[n, i * S + k // K, j * S + k % K, c] += dy[n, i, j, c]\n"
)
BROKEN_PIECES = {
    "dkernel_flipped": {
        "ex08_conv_backward.py": variant(EX08, (_DK, _DK.replace("dkernel[:, :, :, f]", "dkernel[::-1, ::-1, :, f]")))
    },
    "conv_update_wrong": {  # the window read with rows and columns swapped
        "ex08_conv_backward.py": variant(EX08, (_DK, _DK.replace(", :] * g", ", :].transpose(1, 0, 2) * g")))
    },
    "every_maximum": {
        "ex09_max_pool_backward.py": variant(
            EX09,
            (
                _ARGMAX,
                "                    dx[n, i * S:i * S + K, j * S:j * S + K, c] += "
                "(window == window.max()) * dy[n, i, j, c]\n",
            ),
        )
    },
}


@pytest.mark.parametrize("code", sorted(BROKEN_PIECES))
def test_broken_exercise_8_or_9_points_at_them(tmp_path, step_cases, code):
    """A right dense update but wrong conv weights: the message sends the learner to convlab check 8 and 9."""
    fn = load_train_step(tmp_path, CORRECT, BROKEN_PIECES[code])
    failed = 0
    for case in step_cases:
        got = run_step(fn, case)
        if step_passes(case, got):  # a tie-rule mistake shows only where a pool window has tied maxima
            assert code.endswith("_maximum"), case.name
            continue
        failed += 1
        d = grader.diagnose(case, got)
        assert d.code == code, (case.name, d)
        advice = {"dkernel_flipped": "convlab check 8 first", "every_maximum": "convlab check 9 first"}
        assert advice.get(code, "convlab check 8 and convlab check 9 first") in d.message, d.message
        assert "dense_kernel" not in d.message and "dense_bias" not in d.message
        if code == "conv_update_wrong":
            assert "exercise 8" in d.message and "exercise 9" in d.message and "ReLU backward" in d.message
    assert failed >= 1 and not step_passes(step_cases[0], run_step(fn, step_cases[0]))  # the first 16 digits tie


def test_pool_backward_to_every_maximum_routes_each_window():
    a = np.zeros((1, 4, 2, 2))
    a[0, 1, :, 0] = 1.0  # window (0, 0) of channel 0: two tied maxima, (1, 0) and (1, 1)
    a[0, 2, 1, 1] = 2.0  # window (1, 0) of channel 1: one maximum
    dm = np.arange(1.0, 5.0).reshape(1, 2, 1, 2)
    da = grader._pool_backward_every_max(dm, a)
    assert da[0, :2, :, 0].tolist() == [[0, 0], [1, 1]]
    assert da[0, 2:, :, 1].tolist() == [[0, 4], [0, 0]]
    assert da[0, :2, :, 1].tolist() == [[2, 2], [2, 2]]  # all four zeros tie


def test_diagnose_leaves_the_training_run_to_judge(all_cases):
    run = next(c for c in all_cases if c.chain is not None)
    assert grader.diagnose(run, [2.3] * grader.TRAIN_STEPS) is None


def test_hints_are_graded_and_hold_no_code():
    assert 2 <= len(grader.HINTS) <= 3
    assert "2.30" in grader.HINTS[0]
    assert "(p − onehot(y))/N" in grader.HINTS[1]
    for hint in grader.HINTS:
        for word in ("np.", "reshape", "def ", "range(", "[:, ", "return new", "lambda"):
            assert word not in hint, (word, hint)
        assert not re.search(r"\bfor \w+ in\b", hint), hint


# ============================================================================ the training run's judge


def run_case(all_cases) -> Case:
    return next(c for c in all_cases if c.chain is not None)


def test_judge_passes_a_falling_loss(all_cases):
    losses = list(np.linspace(2.3, 0.8, grader.TRAIN_STEPS))
    assert grader.judge(run_case(all_cases), losses) == (True, None)


@pytest.mark.slow
def test_judge_explains_a_rising_loss(all_cases):
    case = run_case(all_cases)
    ref = grader._reference_losses(case)
    losses = [ref[0] * (1 + 0.05 * i) for i in range(grader.TRAIN_STEPS)]
    ok, d = grader.judge(case, losses)
    assert not ok and d.code == "loss_not_decreasing"
    assert "goes UP" in d.message and "The reference" in d.message


@pytest.mark.slow
def test_judge_explains_a_flat_loss_and_a_wrong_first_loss(all_cases):
    case = run_case(all_cases)
    ok, d = grader.judge(case, [5.0] * grader.TRAIN_STEPS)
    assert not ok and d.code == "loss_not_decreasing" and "differs from the reference" in d.message
    ref0 = grader._reference_losses(case)[0]
    ok, d = grader.judge(case, [ref0] * grader.TRAIN_STEPS)
    assert not ok and "does not change at all" in d.message
    ok, d = grader.judge(case, [ref0 * (1 - 0.005 * i) for i in range(grader.TRAIN_STEPS)])
    assert not ok and "too slowly" in d.message


def test_judge_names_a_blow_up_and_odd_answers(all_cases):
    case = run_case(all_cases)
    losses = [2.3, 5.0, 80.0] + [float("nan")] * (grader.TRAIN_STEPS - 3)
    ok, d = grader.judge(case, losses)
    assert not ok and d.code == "not_finite" and "step 4" in d.message and "climb the loss" in d.message
    ok, d = grader.judge(case, [2.3, 1.9, 2.1, float("inf")] + [float("nan")] * (grader.TRAIN_STEPS - 4))
    assert not ok and d.code == "not_finite" and "blew up" in d.message
    ok, d = grader.judge(case, [np.ones(3)] * grader.TRAIN_STEPS)
    assert not ok and d.code == "wrong_type"
    ok, d = grader.judge(case, [{"__opaque__": "X", "repr": "X()"}] * grader.TRAIN_STEPS)
    assert not ok and d.code == "wrong_type"
    ok, d = grader.judge(case, [2.3])
    assert not ok and d.code == "wrong_type"


# ============================================================================ end to end (a subprocess each)


@pytest.mark.slow
def test_correct_solution_passes_end_to_end(tmp_path):
    write_folder(tmp_path, CORRECT)
    t0 = time.perf_counter()
    result = grade_exercise(10, tmp_path)
    seconds = time.perf_counter() - t0
    assert result.passed, [(c.case.name, c.diagnosis) for c in result.cases]
    assert len(result.cases) == 4
    assert seconds < 60  # about 5–10 s on a quiet 2-core machine; the limit for the learner is the catalogue's


@pytest.mark.slow
def test_uphill_fails_every_case_end_to_end(tmp_path):
    write_folder(tmp_path, variant(CORRECT, MISTAKES["wrong_sign"]))
    result = grade_exercise(10, tmp_path)
    codes = result.codes()
    assert codes[:3] == ["wrong_sign"] * 3
    # uphill, the true label's probability reaches 0 and −log of it inf, or the loss just rises
    assert codes[3:] in (["not_finite"], ["loss_not_decreasing"])
    message = result.cases[-1].diagnosis.message
    assert "goes UP" in message or "climb the loss" in message


@pytest.mark.slow
def test_not_averaged_end_to_end(tmp_path):
    write_folder(tmp_path, variant(CORRECT, MISTAKES["not_averaged"]))
    result = grade_exercise(10, tmp_path)
    codes = result.codes()
    assert codes[:3] == ["not_averaged"] * 3
    assert codes[3:] in (["not_finite"], ["loss_not_decreasing"])


@pytest.mark.slow
def test_in_place_update_is_caught_end_to_end(tmp_path):
    in_place = variant(
        CORRECT,
        (
            UPDATES + "    return float(loss), new_params\n",
            '    params["conv_kernel"] -= learning_rate * dK\n'
            '    params["conv_bias"] -= learning_rate * db\n'
            '    params["dense_kernel"] -= learning_rate * dW\n'
            '    params["dense_bias"] -= learning_rate * dc\n'
            "    return float(loss), params\n",
        ),
    )
    write_folder(tmp_path, in_place)
    result = grade_exercise(10, tmp_path)
    assert set(result.codes()) == {"modified_input"}
