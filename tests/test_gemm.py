"""The dense layers' matrix product (convlab/kernels/gemm.py) and its use in convlab/ops/dense.py.

Every way the work is split (by column blocks, by rows, by the reduction), one
and several reduction chunks, partial column blocks (half-width and full),
tiles of 6, 3, 2 and 1 rows, the transposed operands, float32 and float64,
serial and parallel — against a float64 product, with an error relative to
the output's scale, and against NumPy's float32 ``@``. Non-finite inputs give
NaN and ±inf in the same places as NumPy's product.
"""

import numpy as np
import pytest

from convlab.kernels import gemm
from convlab.ops import dense as dense_mod
from convlab.ops.dense import dense, dense_backward

DTYPES = [np.float32, np.float64]
#: max |error| / max |exact| against the float64 product.
RTOL = {np.float32: 1e-5, np.float64: 1e-13}

#: (m, n, k): a column split (n = 64), rows (m = 100, 3 column blocks), the reduction (k = 2100),
#: several chunks in one task (k = 600), tiny products, n and m leaving every kind of edge.
SHAPES = [(10, 64, 30), (100, 40, 70), (20, 30, 2100), (13, 17, 600), (1, 1, 1), (5, 9, 3), (50, 100, 77)]


def _operands(rng, m, n, k, dtype, trans_a, trans_b):
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    return a, b, (a.T if trans_a else a), (b.T if trans_b else b)


@pytest.mark.parametrize(
    "dtype, parallel",
    # Each build compiles for ~8 s in a clean clone; the serial float64 one only runs with the slow tests.
    [
        (np.float32, True),
        (np.float64, True),
        (np.float32, False),
        pytest.param(np.float64, False, marks=pytest.mark.slow),
    ],
)
def test_matmul_matches_float64_product(dtype, parallel):
    rng = np.random.default_rng(17)
    for m, n, k in SHAPES:
        for trans_a in (False, True):
            for trans_b in (False, True):
                a, b, A, B = _operands(rng, m, n, k, dtype, trans_a, trans_b)
                out = np.full((m, n), np.nan, dtype)
                got = gemm.matmul(a, b, out, trans_a=trans_a, trans_b=trans_b, parallel=parallel)
                assert got is out
                exact = A.astype(np.float64) @ B.astype(np.float64)
                err = np.abs(out - exact).max() / np.abs(exact).max()
                assert err < RTOL[dtype], (m, n, k, trans_a, trans_b, err)
                if dtype == np.float32:
                    ref = A @ B
                    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max(), (m, n, k, trans_a, trans_b)


def test_plan_splits_the_dense_layer_products_evenly():
    # x @ W (128 × 100 from 5408): the reduction; xᵀ @ dy (5408 rows): rows; dy @ Wᵀ (338 column blocks): columns.
    for (m, n, k), mode in [((128, 100, 5408), "k"), ((5408, 100, 128), "rows"), ((128, 5408, 100), "cols")]:
        tasks, ksplit = gemm.plan(m, n, k, 16, 6, 2)
        assert len(tasks) == (4 if mode == "k" else 2 * gemm.TASKS_PER_THREAD) and ksplit == (mode == "k")
        size = {"rows": tasks[:, 1] - tasks[:, 0], "cols": tasks[:, 3] - tasks[:, 2], "k": tasks[:, 5] - tasks[:, 4]}
        assert size[mode].max() <= 1.1 * size[mode].min(), (mode, tasks)
    for m, n, k in SHAPES + [(128, 100, 5408), (7, 1000, 9)]:
        for t in (1, 2, 3, 4):
            tasks, ksplit = gemm.plan(m, n, k, 16, 6, t)
            covered = np.zeros((m, -(-n // 16), k), dtype=int)
            for r0, r1, c0, c1, k0, k1 in tasks:
                covered[r0:r1, c0:c1, k0:k1] += 1
            assert (covered == 1).all(), (m, n, k, t)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dense_through_gemm_matches_numpy_and_writes_into_out(dtype, monkeypatch):
    monkeypatch.setattr(dense_mod, "GEMM_MIN_MACS", 0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 300)).astype(dtype)
    w = rng.standard_normal((300, 21)).astype(dtype)
    bias = rng.standard_normal(21).astype(dtype)
    dy = rng.standard_normal((37, 21)).astype(dtype)
    y = np.empty((37, 21), dtype)
    assert dense(x, w, bias, out=y) is y
    x64, w64, dy64 = (v.astype(np.float64) for v in (x, w, dy))
    exact = (x64 @ w64 + bias, dy64 @ w64.T, x64.T @ dy64, dy64.sum(axis=0))
    outs = (np.empty_like(x), np.empty_like(w), np.empty(21, dtype))
    grads = dense_backward(dy, x, w, out=outs)
    for got, want in zip((y, *grads), exact):
        assert np.abs(got - want).max() <= RTOL[dtype] * np.abs(want).max()
    assert all(g is o for g, o in zip(grads, outs))
    # Without out=, new arrays of the right shapes.
    assert dense(x, w).shape == (37, 21)
    assert [g.shape for g in dense_backward(dy, x, w)] == [(37, 300), (300, 21), (21,)]


def test_small_products_stay_on_numpy_and_any_layout_works():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((8, 30)).astype(np.float32)
    w = rng.standard_normal((30, 5)).astype(np.float32)
    assert np.array_equal(dense(x, w), x @ w)  # below GEMM_MIN_MACS: NumPy's bits
    w_f = np.asfortranarray(rng.standard_normal((3000, 60)).astype(np.float32))
    xb = rng.standard_normal((64, 3000)).astype(np.float32)
    ref = xb @ w_f  # dense copies a Fortran-ordered kernel to C order, then takes the kernel
    assert np.abs(dense(xb, w_f) - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite_values_land_where_numpy_puts_them(dtype, monkeypatch):
    monkeypatch.setattr(dense_mod, "GEMM_MIN_MACS", 0)
    rng = np.random.default_rng(5)
    for n_img, n_in, units in [(20, 2100, 30), (40, 70, 100)]:  # the reduction split; rows and a partial block
        x = rng.standard_normal((n_img, n_in)).astype(dtype)
        w = rng.standard_normal((n_in, units)).astype(dtype)
        dy = rng.standard_normal((n_img, units)).astype(dtype)
        x[3, 5], x[7, 9] = np.nan, np.inf
        w[2, 4], w[11, 6] = np.nan, -np.inf
        dy[1, 2], dy[4, 8] = np.inf, np.nan
        with np.errstate(invalid="ignore"):  # NumPy's product warns about inf·0 and inf − inf
            pairs = [(dense(x, w), x @ w)]
            pairs += list(zip(dense_backward(dy, x, w)[:2], (dy @ w.T, x.T @ dy)))
        for got, want in pairs:
            assert np.array_equal(np.isnan(got), np.isnan(want))
            assert np.array_equal(np.isposinf(got), np.isposinf(want))
            assert np.array_equal(np.isneginf(got), np.isneginf(want))
            fin = np.isfinite(want)
            assert np.abs(got[fin] - want[fin]).max() <= 1e-4 * np.abs(want[fin]).max()
