"""Every Numba kernel path against the reference backend (the specification).

Paths covered (see convlab/kernels/conv.py and pool.py):
- conv forward: serial direct loop (tiny problems), the register-tiled kernel
  compiled serial and parallel, and Winograd F(2×2, 3×3) for 3×3 stride-1
  layers, all forced on the same shapes by moving the ``DIRECT_MACS`` /
  ``SERIAL_MACS`` / ``WINOGRAD_MIN_C`` thresholds (tests/test_winograd.py has its own);
- conv backward: serial direct loop; dx as a transposed convolution (tiled) and
  as a 1×1 tiled convolution + col2im (few input channels); tiled dkernel with one or several
  private chunks;
- pooling: the non-overlapping max-pool fast path and the generic kernels
  (overlapping windows, padding), ties and NaN, average pooling.
Shapes include sizes that are multiples of no tile, 1×1 kernels, C=1, F=1, N=1,
strides 1–3, every padding form, float32 and float64. No timing assertions.
"""

import numpy as np
import pytest

import convlab
from convlab.kernels import conv as nbconv
from convlab.kernels import pool as nbpool
from convlab.kernels import tile

RTOL = {np.float32: 2e-5, np.float64: 1e-12}

# (N, H, W, C, F, KH, KW, strides, padding)
CONV_CASES = [
    (2, 7, 6, 3, 5, 3, 3, 1, "same"),
    (1, 8, 9, 2, 4, 3, 2, (2, 3), ((0, 1), (2, 0))),
    (3, 5, 5, 1, 1, 1, 1, 1, "valid"),  # 1×1 kernel, C=1, F=1
    (2, 9, 7, 20, 37, 3, 3, 1, 1),  # F not a multiple of any tile, int padding
    (1, 10, 11, 9, 19, 5, 3, (2, 1), (2, 1)),  # N=1, pair padding, stride (2, 1)
    (2, 11, 10, 17, 17, 3, 3, 3, "valid"),  # stride 3, uncovered rows/cols (floor)
    (2, 8, 8, 12, 33, 3, 3, 2, "same"),  # "same" with stride 2: asymmetric pads
    (2, 6, 7, 24, 70, 1, 1, 1, "valid"),  # 1×1 kernel, F spanning several blocks
    (1, 12, 13, 1, 32, 3, 3, 1, "valid"),  # MNIST-like: C=1 (dx col2im path)
    (2, 6, 6, 40, 3, 2, 2, 2, ((3, 0), (1, 2))),  # F < tile, big explicit asymmetric pads
]


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _close(got, expected, dtype, what):
    scale = max(1.0, float(np.abs(expected).max()))
    err = float(np.abs(got - expected).max()) / scale
    assert got.shape == expected.shape, what
    assert got.dtype == np.dtype(dtype), what
    assert err <= RTOL[dtype] * 10, f"{what}: relative error {err:.2e}"


@pytest.fixture(params=["direct", "tiled-serial", "tiled-parallel", "parallel+winograd"])
def conv_path(request, monkeypatch):
    """Force the direct loop, the serial tiled kernel, the parallel tiled kernels, or the parallel
    kernels with Winograd for every 3×3 stride-1 layer (C ≥ 1), by moving the thresholds."""
    direct, serial, wino = {
        "direct": (10**12, 10**12, 10**9),
        "tiled-serial": (0, 10**12, 10**9),
        "tiled-parallel": (0, 0, 10**9),
        "parallel+winograd": (0, 0, 1),
    }[request.param]
    monkeypatch.setattr(nbconv, "DIRECT_MACS", direct)
    monkeypatch.setattr(nbconv, "SERIAL_MACS", serial)
    monkeypatch.setattr(nbconv, "WINOGRAD_MIN_C", wino)
    return request.param


_REFERENCE = {}


def _reference_conv(case_id, dtype):
    """Inputs and reference-backend results for one case, computed once for all three paths."""
    key = (case_id, np.dtype(dtype).name)
    if key not in _REFERENCE:
        n, h, w, c, f, kh, kw, strides, padding = CONV_CASES[case_id]
        rng = np.random.default_rng(case_id)
        x = _rand(rng, (n, h, w, c), dtype)
        k = _rand(rng, (kh, kw, c, f), dtype)
        b = _rand(rng, (f,), dtype)
        y_ref = convlab.conv2d(x, k, b, strides=strides, padding=padding, backend="reference")
        dy = _rand(rng, y_ref.shape, dtype)
        back = convlab.conv2d_backward(dy, x, k, strides=strides, padding=padding, backend="reference")
        _REFERENCE[key] = (x, k, b, dy, y_ref, back)
    return _REFERENCE[key]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case_id", range(len(CONV_CASES)), ids=[f"c{i}" for i in range(len(CONV_CASES))])
def test_conv_forward_and_backward_match_reference(case_id, dtype, conv_path):
    strides, padding = CONV_CASES[case_id][7:]
    x, k, b, dy, y_ref, ref = _reference_conv(case_id, dtype)
    y = convlab.conv2d(x, k, b, strides=strides, padding=padding, backend="numba")
    _close(y, y_ref, dtype, "forward")
    got = convlab.conv2d_backward(dy, x, k, strides=strides, padding=padding, backend="numba")
    for g, r, what in zip(got, ref, ("dx", "dkernel", "dbias")):
        _close(g, r, dtype, what)


def test_backward_is_idempotent_and_does_not_touch_inputs():
    rng = np.random.default_rng(3)
    x = _rand(rng, (3, 9, 9, 16), np.float32)
    k = _rand(rng, (3, 3, 16, 24), np.float32)
    dy = _rand(rng, (3, 9, 9, 24), np.float32)
    copies = [a.copy() for a in (x, k, dy)]
    first = convlab.conv2d_backward(dy, x, k, padding="same")
    second = convlab.conv2d_backward(dy, x, k, padding="same")
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    for a, b in zip((x, k, dy), copies):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("direct", [True, False])
def test_need_dx_false_skips_dx_only(direct, monkeypatch):
    monkeypatch.setattr(nbconv, "DIRECT_MACS", 10**12 if direct else 0)
    rng = np.random.default_rng(5)
    x = _rand(rng, (2, 6, 6, 3), np.float64)
    k = _rand(rng, (3, 3, 3, 4), np.float64)
    dy = _rand(rng, (2, 4, 4, 4), np.float64)
    full = nbconv.conv2d_backward(dy, x, k, (1, 1), (0, 0, 0, 0))
    dx, dk, db = nbconv.conv2d_backward(dy, x, k, (1, 1), (0, 0, 0, 0), need_dx=False)
    assert dx is None
    np.testing.assert_allclose(dk, full[1], rtol=1e-12)
    np.testing.assert_allclose(db, full[2], rtol=1e-12)


def test_winograd_is_the_path_for_big_3x3_stride_1_layers(monkeypatch):
    """conv2d and the transposed convolution inside conv2d_backward reach Winograd at the default thresholds."""
    from convlab.kernels import winograd

    calls = []
    real = winograd.winograd_forward
    monkeypatch.setattr(winograd, "winograd_forward", lambda *a, **k: calls.append(a[1].shape) or real(*a, **k))
    rng = np.random.default_rng(11)
    x = _rand(rng, (4, 12, 12, 16), np.float32)
    k = _rand(rng, (3, 3, 16, 32), np.float32)
    y = convlab.conv2d(x, k, padding="same")
    dx, _, _ = convlab.conv2d_backward(np.ones_like(y), x, k, padding="same")
    assert calls == [(3, 3, 16, 32), (3, 3, 32, 16)]  # forward; dx (flipped kernel, channels swapped)
    _close(y, convlab.conv2d(x, k, padding="same", backend="reference"), np.float32, "forward")
    _close(dx, convlab.conv2d_backward(np.ones_like(y), x, k, padding="same", backend="reference")[0], np.float32, "dx")


def test_dx_both_tiled_and_dot_paths_are_exercised():
    """C below half a tile uses the col2im dx path, larger C the transposed tiled conv."""
    fb32, _ = tile.TILE["float32"]
    assert 2 * 1 < fb32 <= 2 * 20  # CONV_CASES hold C=1 (dot) and C=20 (tiled) in float32


@pytest.mark.parametrize("n_img", [1, 5])
def test_dkernel_private_chunks_sum_correctly(n_img, monkeypatch):
    """Fewer output rows than threads, and many rows split into chunks: same dkernel."""
    monkeypatch.setattr(nbconv, "DIRECT_MACS", 0)
    rng = np.random.default_rng(7)
    x = _rand(rng, (n_img, 4, 5, 7), np.float64)
    k = _rand(rng, (3, 3, 7, 9), np.float64)
    dy = _rand(rng, (n_img, 2, 3, 9), np.float64)
    got = convlab.conv2d_backward(dy, x, k, backend="numba")
    ref = convlab.conv2d_backward(dy, x, k, backend="reference")
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-12)


def test_slide_three_channel_example_on_both_paths(monkeypatch):
    from conftest import three_channel_example

    x, w, b, expected = three_channel_example()[:4]
    for direct, serial in ((10**12, 10**12), (0, 10**12), (0, 0)):
        monkeypatch.setattr(nbconv, "DIRECT_MACS", direct)
        monkeypatch.setattr(nbconv, "SERIAL_MACS", serial)
        y = convlab.conv2d(x[None], w, b, strides=2, padding=1, backend="numba")
        np.testing.assert_array_equal(y[0], expected)


# --------------------------------------------------------------------------- pooling
# (N, H, W, C, pool, strides, padding)
POOL_CASES = [
    (2, 8, 8, 3, 2, None, "valid"),  # non-overlapping fast path
    (2, 9, 7, 5, 2, None, "valid"),  # fast path, uncovered last row/column
    (1, 7, 8, 17, (3, 2), None, "valid"),  # fast path, rectangular pool
    (2, 7, 7, 4, 3, 2, "same"),  # overlapping windows + padding (generic)
    (2, 6, 6, 3, 2, 1, "same"),  # stride 1, asymmetric "same" pad
    (1, 5, 5, 2, 3, (1, 2), "valid"),  # overlapping, mixed strides
    (1, 5, 6, 1, 2, None, "same"),  # odd sizes with "same": pads on the fast shape
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES, ids=[f"p{i}" for i in range(len(POOL_CASES))])
def test_max_pool_matches_reference_with_ties(case, dtype):
    n, h, w, c, pool, strides, padding = case
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, (n, h, w, c)).astype(dtype)  # few distinct values: many ties
    y = convlab.max_pool2d(x, pool, strides, padding, backend="numba")
    np.testing.assert_array_equal(y, convlab.max_pool2d(x, pool, strides, padding, backend="reference"))
    dy = _rand(rng, y.shape, dtype)
    dx = convlab.max_pool2d_backward(dy, x, pool, strides, padding, backend="numba")
    ref = convlab.max_pool2d_backward(dy, x, pool, strides, padding, backend="reference")
    np.testing.assert_allclose(dx, ref, rtol=RTOL[dtype], atol=RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES, ids=[f"p{i}" for i in range(len(POOL_CASES))])
def test_avg_pool_matches_reference(case, dtype):
    n, h, w, c, pool, strides, padding = case
    rng = np.random.default_rng(12)
    x = _rand(rng, (n, h, w, c), dtype)
    y = convlab.avg_pool2d(x, pool, strides, padding, backend="numba")
    _close(y, convlab.avg_pool2d(x, pool, strides, padding, backend="reference"), dtype, "avg forward")
    dy = _rand(rng, y.shape, dtype)
    dx = convlab.avg_pool2d_backward(dy, x, pool, strides, padding, backend="numba")
    _close(dx, convlab.avg_pool2d_backward(dy, x, pool, strides, padding, backend="reference"), dtype, "avg backward")


def test_max_pool_tie_goes_to_first_maximum_in_row_major_order():
    x = np.array([[1.0, 3.0], [3.0, 3.0]]).reshape(1, 2, 2, 1)
    for pads, strides in (((0, 0, 0, 0), (2, 2)), ((0, 1, 0, 1), (1, 1))):
        dx = (
            nbpool.max_pool2d_backward(np.ones((1, 1, 1, 1)), x, (2, 2), strides, pads)
            if pads == (0, 0, 0, 0)
            else nbpool.max_pool2d_backward(np.ones((1, 2, 2, 1)), x, (2, 2), strides, pads)
        )
        assert dx[0, 0, 1, 0] >= 1.0 and dx[0, 0, 0, 0] == 0.0
    # one window, the fast path: only (0, 1) gets the gradient
    dx = nbpool.max_pool2d_backward(np.full((1, 1, 1, 1), 5.0), x, (2, 2), (2, 2), (0, 0, 0, 0))
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 5.0], [0.0, 0.0]])


def test_max_pool_overlapping_windows_accumulate():
    x = np.zeros((1, 3, 3, 1))
    x[0, 1, 1, 0] = 9.0  # the centre wins all four overlapping 2×2 windows
    dx = nbpool.max_pool2d_backward(np.ones((1, 2, 2, 1)), x, (2, 2), (1, 1), (0, 0, 0, 0))
    assert dx[0, 1, 1, 0] == 4.0 and dx.sum() == 4.0


@pytest.mark.parametrize("fast", [True, False])
def test_max_pool_nan_wins_and_gets_the_gradient(fast):
    x = np.array([[1.0, np.nan], [7.0, np.nan]]).reshape(1, 2, 2, 1)
    strides, pads = ((2, 2), (0, 0, 0, 0)) if fast else ((1, 1), (0, 1, 0, 1))
    y = nbpool.max_pool2d_forward(x, (2, 2), strides, pads)
    assert np.isnan(y[0, 0, 0, 0])
    dy = np.ones(y.shape)
    dx = nbpool.max_pool2d_backward(dy, x, (2, 2), strides, pads)
    # the first NaN in row-major order takes each window's gradient; 7.0 never does
    assert dx[0, 1, 0, 0] == 0.0 and dx[0, 0, 0, 0] == 0.0
    assert dx.sum() == dy.sum() and dx[0, 0, 1, 0] >= 1.0


# --------------------------------------------------------------------------- element-wise ReLU
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_relu_gives_numpys_bits(dtype):
    """Above the size threshold, relu/relu_backward run compiled; the bits must equal the NumPy definition."""
    from convlab.ops import activations as act

    rng = np.random.default_rng(7)
    n = act._COMPILED_FROM + 123  # not a multiple of the kernel's block
    x = rng.standard_normal(n).astype(dtype)
    x[:6] = [np.nan, -0.0, 0.0, np.inf, -np.inf, -np.nan]
    dy = rng.standard_normal(n).astype(dtype)
    dy[6:9] = [np.nan, np.inf, -np.inf]
    x[6:9] = [-1.0, -2.0, 3.0]  # masked NaN/inf gradients must become +0.0; a kept one stays
    ints = np.int32 if dtype == np.float32 else np.int64
    assert act._compiled(x)
    np.testing.assert_array_equal(act.relu(x).view(ints), np.maximum(x, dtype(0)).view(ints))
    np.testing.assert_array_equal(act.relu_backward(dy, x).view(ints), np.where(x > 0, dy, dtype(0)).view(ints))
    # the same through a 4-D feature map
    x4 = x[: 8 * 16 * 16 * 32].reshape(8, 16, 16, 32)
    np.testing.assert_array_equal(act.relu(x4).view(ints), np.maximum(x4, dtype(0)).view(ints))


# --------------------------------------------------------------------------- Adam
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_adam_gives_the_numpy_updates_bits(dtype, monkeypatch):
    """Large parameter arrays are updated by convlab.kernels.optim.adam: same bits as the NumPy form."""
    from convlab.model import optimizers

    rng = np.random.default_rng(3)
    shape = (130, 131)  # 17,030 ≥ the threshold, not a multiple of the kernel's block
    assert np.prod(shape) >= optimizers._COMPILED_FROM
    w0 = rng.standard_normal(shape).astype(dtype)
    grads = [rng.standard_normal(shape).astype(dtype) * 10.0**-k for k in range(4)]

    def run(threshold):
        monkeypatch.setattr(optimizers, "_COMPILED_FROM", threshold)
        w = w0.copy()
        opt = optimizers.Adam(learning_rate=0.01)
        for g in grads:
            opt.apply_gradients([(g, w)])
        return w, [s.copy() for s in opt.get_state()[1:]]

    w_fast, st_fast = run(1)
    w_ref, st_ref = run(10**12)
    ints = np.int32 if dtype == np.float32 else np.int64
    np.testing.assert_array_equal(w_fast.view(ints), w_ref.view(ints))
    for a, b in zip(st_fast, st_ref):
        np.testing.assert_array_equal(a.view(ints), b.view(ints))


def test_compiled_adam_refuses_a_non_finite_update(monkeypatch):
    from convlab.model import optimizers

    monkeypatch.setattr(optimizers, "_COMPILED_FROM", 1)
    w = np.ones(5000, np.float32)
    g = np.ones(5000, np.float32)
    g[4321] = np.inf
    with pytest.raises(optimizers.NonFiniteUpdateError):
        optimizers.Adam().apply_gradients([(g, w)])
    assert (w == 1).all()  # nothing changed


@pytest.mark.parametrize("bad", [np.array([1, 2]), 1, "False", None])
def test_need_dx_must_be_a_bool(bad):
    """The one rule for flags (convlab.util.checks.check_bool): a TypeError naming need_dx, on every backend."""
    x, k, dy = np.ones((1, 5, 5, 1)), np.ones((3, 3, 1, 1)), np.ones((1, 3, 3, 1))
    for backend in ("reference", "numpy", "numba"):
        with pytest.raises(TypeError, match="need_dx"):
            convlab.conv2d_backward(dy, x, k, need_dx=bad, backend=backend)
