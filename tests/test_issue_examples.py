"""Each example of the bad-input campaign (issue 11), verbatim, behaving as the README promises.

The kinds of failure they stand for are covered more widely elsewhere: every backend and
path with NaN/±inf in ``test_nonfinite.py``; generated bad values for every public
function in ``test_catalogue.py``; each kind of argument in ``test_bad_input.py`` and
``test_model_bad_input.py``; corrupted and hand-edited files in ``test_bad_files.py``;
the command line in ``test_cli.py``.
"""

import gzip
import struct

import numpy as np
import pytest

import convlab
from convlab import cli
from convlab.datasets import load_mnist, read_idx
from convlab.ops.conv import im2col

BACKENDS = ["reference", "numpy", "numba"]


# --------------------------------------------------------------------------- silent wrong answers
@pytest.mark.parametrize("backend", BACKENDS)
def test_an_inf_through_a_winograd_sized_layer_stays_inf(backend):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 16, 16))
    x[0, 5, 5, 3] = np.inf
    k = rng.standard_normal((3, 3, 16, 16))
    y = convlab.conv2d(x, k, backend=backend)
    hit = y[0, 3:6, 3:6, :]  # the 3×3 outputs whose windows hold the inf: ±inf, never NaN
    assert np.isinf(hit).all() and not np.isnan(y).any()
    assert np.array_equal(np.sign(hit), np.sign(k[::-1, ::-1, 3, :]))  # inf × each tap's sign
    assert np.isfinite(np.delete(y, 0, axis=0)).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_backward_on_minus_inf_windows_follows_tensorflow(backend):
    dx = convlab.max_pool2d_backward(np.ones((1, 3, 3, 1)), np.full((1, 5, 5, 1), -np.inf), 3, 2, "same", backend)
    # Each window's gradient goes to its first real pixel (TensorFlow's GradientTape gives the same nine 1s).
    expected = np.zeros((5, 5))
    for r in (0, 1, 3):
        for c in (0, 1, 3):
            expected[r, c] = 1
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


def _mnist_npz(path, **override):
    arrays = dict(
        x_train=np.zeros((2, 28, 28), np.uint8),
        y_train=np.zeros(2, np.uint8),
        x_test=np.zeros((1, 28, 28), np.uint8),
        y_test=np.zeros(1, np.uint8),
    )
    arrays.update(override)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "override, words",
    [
        (dict(x_train=np.full((2, 28, 28), 0.5, np.float32)), ["x_train", "float32"]),
        (dict(x_train=np.full((2, 28, 28), 300, np.int32)), ["x_train", "300"]),
        (dict(y_train=np.array([0.5, 1.0])), ["y_train", "0.5"]),
    ],
)
def test_load_mnist_refuses_what_it_cannot_keep(tmp_path, override, words):
    path = _mnist_npz(tmp_path / "mnist.npz", **override)
    with pytest.raises(ValueError) as info:
        load_mnist(path)
    for w in [str(path), *words]:
        assert w in str(info.value), (w, str(info.value))


# --------------------------------------------------------------------------- messages that name the argument
X = np.ones((1, 8, 8, 1))
K = np.ones((3, 3, 1, 1))


@pytest.mark.parametrize(
    "call, exc, words",
    [
        (lambda: convlab.conv2d(X, K, strides=2**70), ValueError, ["strides", "2**63 - 1"]),
        (lambda: convlab.conv2d(X, K, padding=2**40), ValueError, ["padding=1099511627776", "more than any array"]),
        (lambda: convlab.max_pool2d(X, 2, 2**70), ValueError, ["strides"]),
        (lambda: convlab.output_size_formula(10**400 + 1, 3, 0, 3), ValueError, ["n must be", "401 digits"]),
        (lambda: convlab.conv2d([[[[1.0]], [[2.0], [3.0]]]], K), ValueError, ["x must be", "ragged"]),
        (lambda: convlab.mean_squared_error([1.0, [2.0]], [1.0, 2.0]), ValueError, ["y_true", "ragged"]),
        (lambda: im2col(np.ones((1, 5, 5, 1)), 7), ValueError, ["kernel_size 7×7", "larger than the padded input"]),
        (lambda: convlab.pool_output_size(5, 0), ValueError, ["pool_size"]),
        (
            lambda: convlab.sparse_categorical_crossentropy(np.array([1e20]), np.array([[0.5, 0.5]])),
            ValueError,
            ["y_true", "1e+20"],
        ),
        (lambda: convlab.gradcheck(lambda x: 2 * x, lambda dy, x: 2 * dy, [np.ones(3)]), TypeError, ["inputs"]),
        (lambda: read_idx(None), TypeError, ["path"]),
    ],
)
def test_errors_name_the_argument(call, exc, words):
    with pytest.raises(exc) as info:
        call()
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert "-9223372036854775808" not in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("pool", [convlab.max_pool2d, convlab.avg_pool2d])
def test_a_pool_window_no_array_could_hold_is_refused_by_name(pool, backend):
    with pytest.raises(ValueError, match="padding=.*more than any array can hold"):
        pool(np.ones((1, 5, 5, 1)), 2**40, 1, "same", backend)


def test_a_huge_pool_window_visits_only_real_pixels():
    x = np.arange(25.0).reshape(1, 5, 5, 1)  # the numba loops never walk the 2**20 padded rows
    assert convlab.max_pool2d(x, 2**20, 2**20, "same")[0, 0, 0, 0] == 24.0
    assert convlab.avg_pool2d(x, 2**20, 2**20, "same")[0, 0, 0, 0] == 12.0


def test_read_idx_header_whose_dimensions_overflow(tmp_path):
    path = tmp_path / "huge-idx1-ubyte.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">III", 2**31, 2**31, 4) + b"\0" * 16)
    with pytest.raises(ValueError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_save_into_a_folder_names_the_users_path(tmp_path):
    model = convlab.Sequential([convlab.layers.Input((3,)), convlab.layers.Dense(2)])
    target = tmp_path / "model.npz"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as info:
        model.save(target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]  # nothing left behind


def test_the_cli_with_a_huge_size_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["size", str(10**400), "2", "--stride", "3"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1 and "Traceback" not in err
