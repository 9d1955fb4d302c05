"""The fast max-pool paths (vector kernels, the recorded window positions, ``out=`` buffers and the
layer's reused arrays) against the reference backend, which is the specification.

Inputs hold ties (small integers), NaN and ±inf, so TensorFlow's tie rule (first maximum in
row-major window order) and the NaN rule (the first NaN wins and gets the gradient) are checked
bit for bit on every path.
"""

from __future__ import annotations

import numpy as np
import pytest

import convlab
from convlab.kernels import pool as nb_pool
from convlab.layers import AveragePooling2D, MaxPooling2D
from convlab.ops.pooling import max_pool2d_backward_from_index, max_pool2d_with_index

DTYPES = (np.float32, np.float64)
# (pool, channels): 2×2 unrolled, other windows looped; channels in whole vectors, partial, fewer than one
CASES = [((2, 2), 16), ((2, 2), 13), ((2, 2), 3), ((3, 3), 20), ((2, 3), 8), ((1, 1), 5), ((3, 1), 9), ((2, 2), 1)]


def _input(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3, 3, shape).astype(dtype)  # many ties
    m = rng.random(shape)
    x[m < 0.04] = np.nan
    x[(m >= 0.04) & (m < 0.08)] = -np.inf
    x[(m >= 0.08) & (m < 0.1)] = np.inf
    return x


def _all_paths(x, dy, pool):
    y_ref = convlab.max_pool2d(x, pool, backend="reference")
    dx_ref = convlab.max_pool2d_backward(dy, x, pool, backend="reference")
    y, index = max_pool2d_with_index(x, pool)
    assert index is not None and index.dtype == np.uint8
    np.testing.assert_array_equal(convlab.max_pool2d(x, pool), y_ref)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(convlab.max_pool2d_backward(dy, x, pool), dx_ref)
    np.testing.assert_array_equal(max_pool2d_backward_from_index(dy, index, x.shape, pool), dx_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool,n_ch", CASES)
def test_vector_kernels_match_the_reference(pool, n_ch, dtype):
    # odd sizes: rows and columns no window covers get a zero gradient
    h, w = 3 * pool[0] - 1, 4 * pool[1] - 1
    x = _input((2, h, w, n_ch), dtype, seed=n_ch)
    dy = np.random.default_rng(1).standard_normal((2, h // pool[0], w // pool[1], n_ch)).astype(dtype)
    _all_paths(x, dy, pool)


@pytest.mark.parametrize("dtype", DTYPES)
def test_threaded_path_matches_the_reference(dtype, monkeypatch):
    monkeypatch.setattr(nb_pool, "SERIAL_BYTES", 0)  # every input on the thread pool, rows split in runs
    x = _input((3, 9, 11, 24), dtype, seed=7)
    dy = np.random.default_rng(2).standard_normal((3, 4, 5, 24)).astype(dtype)
    _all_paths(x, dy, 2)


def test_nan_and_ties_pick_the_first_in_row_major_order():
    x = np.array([[1.0, 1.0], [1.0, 1.0]]).reshape(1, 2, 2, 1) * np.ones((1, 1, 1, 8))
    x[..., 1] = [[2, 5], [5, 1]]  # tie between (0, 1) and (1, 0): the first
    x[..., 2] = [[1, np.nan], [np.nan, 9]]  # the first NaN wins over a larger number
    x[..., 3] = -np.inf  # all −inf: the first pixel
    dy = np.arange(1.0, 9.0).reshape(1, 1, 1, 8)
    for xx in (x, x.astype(np.float32)):
        y, index = max_pool2d_with_index(xx, 2)
        assert np.isnan(y[0, 0, 0, 2]) and y[0, 0, 0, 3] == -np.inf
        np.testing.assert_array_equal(index[0, 0, 0, :4], [0, 1, 1, 0])
        dx = max_pool2d_backward_from_index(dy.astype(xx.dtype), index, xx.shape, 2)
        assert dx[0, 0, 1, 1] == 2.0 and dx[0, 1, 0, 1] == 0.0 and dx[0, 0, 1, 2] == 3.0 and dx[0, 0, 0, 3] == 4.0


# --------------------------------------------------------------------------- out=
@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
@pytest.mark.parametrize("geometry", [(2, None, "valid"), (3, 2, "same")])
def test_out_is_written_and_returned(backend, geometry):
    pool, strides, padding = geometry
    x = np.random.default_rng(3).integers(-3, 3, (2, 7, 6, 5)).astype(np.float32)  # ties, finite
    for fwd, bwd in (
        (convlab.max_pool2d, convlab.max_pool2d_backward),
        (convlab.avg_pool2d, convlab.avg_pool2d_backward),
    ):
        want = fwd(x, pool, strides, padding, backend="reference")
        out = np.full(want.shape, np.nan, np.float32)  # garbage the kernels must overwrite
        assert fwd(x, pool, strides, padding, backend=backend, out=out) is out
        np.testing.assert_array_equal(out, want)
        dy = np.random.default_rng(4).standard_normal(want.shape).astype(np.float32)
        want_dx = bwd(dy, x, pool, strides, padding, backend="reference")
        dx = np.full(x.shape, np.nan, np.float32)
        assert bwd(dy, x, pool, strides, padding, backend=backend, out=dx) is dx
        np.testing.assert_allclose(dx, want_dx, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "out",
    [
        np.empty((2, 2, 2, 4), np.float32),  # shape
        np.empty((2, 2, 2, 3), np.float64),  # dtype
        np.empty((2, 2, 2, 6), np.float32)[..., ::2],  # not C-contiguous
    ],
    ids=["shape", "dtype", "strided"],
)
def test_out_is_checked(out):
    x = np.ones((2, 4, 4, 3), np.float32)
    with pytest.raises(ValueError, match="out"):
        convlab.max_pool2d(x, 2, out=out)


def test_out_is_checked_backward_and_read_only():
    x = np.ones((2, 4, 4, 3), np.float32)
    dy = np.ones((2, 2, 2, 3), np.float32)
    with pytest.raises(ValueError, match="out"):
        convlab.max_pool2d_backward(dy, x, 2, out=np.empty((2, 4, 4, 3), np.float64))
    with pytest.raises(ValueError, match="out"):
        convlab.max_pool2d_backward(dy, x, 2, out=x)  # overlaps the input
    ro = np.empty((2, 2, 2, 3), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out"):
        convlab.avg_pool2d(x, 2, out=ro)
    with pytest.raises(TypeError, match="out"):
        convlab.max_pool2d(x, 2, out=[[0.0]])


def test_index_helpers_check_their_arguments():
    x = np.ones((1, 4, 4, 2), np.float32)
    _, index = max_pool2d_with_index(x, 2)
    dy = np.ones((1, 2, 2, 2), np.float32)
    with pytest.raises(ValueError, match="index"):
        max_pool2d_backward_from_index(dy, index.astype(np.int64), x.shape, 2)
    with pytest.raises(ValueError, match="dy"):
        max_pool2d_backward_from_index(np.ones((1, 2, 3, 2), np.float32), index, x.shape, 2)
    with pytest.raises(ValueError, match="index_out"):
        max_pool2d_with_index(x, 2, index_out=np.empty((1, 2, 2, 2), np.int8))
    # no index path: overlapping or padded windows, other backends
    assert max_pool2d_with_index(x, 3, 1)[1] is None
    assert max_pool2d_with_index(x, 2, padding="same", strides=1)[1] is None
    assert max_pool2d_with_index(x, 2, backend="numpy")[1] is None


# --------------------------------------------------------------------------- the layer's reused arrays
@pytest.mark.parametrize("layer_cls", [MaxPooling2D, AveragePooling2D])
@pytest.mark.parametrize("backend", ["numba", "reference"])
def test_layer_reuses_its_arrays_while_training(layer_cls, backend):
    layer = layer_cls(2)
    layer.backend = backend
    xs = [np.random.default_rng(s).integers(-3, 3, (2, 6, 5, 3)).astype(np.float32) for s in range(3)]
    dy = np.random.default_rng(5).standard_normal((2, 3, 2, 3)).astype(np.float32)
    op, op_b = (
        (convlab.max_pool2d, convlab.max_pool2d_backward)
        if layer_cls is MaxPooling2D
        else (convlab.avg_pool2d, convlab.avg_pool2d_backward)
    )
    seen_y, seen_dx = set(), set()
    for x in xs:
        y = layer.forward(x, training=True)
        np.testing.assert_array_equal(y, op(x, 2, backend="reference"))
        dx = layer.backward(dy)
        np.testing.assert_allclose(dx, op_b(dy, x, 2, backend="reference"), rtol=1e-6)
        seen_y.add(id(y))
        seen_dx.add(id(dx))
    assert len(seen_y) == 1 and len(seen_dx) == 1  # the same arrays step after step
    kept = layer.forward(xs[0], training=True)
    fresh = layer.forward(xs[0])  # predict: a new array, not the kept one
    assert fresh is not kept and not np.shares_memory(fresh, kept)
    assert layer.backward(dy) is not layer.backward(dy)  # after a predict forward: new arrays
    other = layer.forward(np.ones((3, 6, 5, 3), np.float32), training=True)  # another batch size
    assert other.shape == (3, 3, 2, 3) and other is not kept


def test_layer_training_step_reads_no_new_pages():
    import resource

    layer = MaxPooling2D(2)
    x = _input((32, 32, 32, 32), np.float32, seed=11)  # 4 MB: fresh arrays this size are faulted in
    dy = np.ones((32, 16, 16, 32), np.float32)
    for _ in range(2):
        layer.forward(x, training=True)
        layer.backward(dy)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(5):
        layer.forward(x, training=True)
        layer.backward(dy)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 50
