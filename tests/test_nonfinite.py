"""NaN, +inf and −inf on every forced path, forward and backward, against the reference backend.

The README promises that NaN and ±inf propagate as IEEE arithmetic does. The
reference backend is the specification (the definitions in convlab/ops/conv.py
and convlab/ops/pooling.py: a conv pad is a zero that is multiplied, so
``0·inf = NaN``; a max-pool pad is −inf and never receives a gradient); every
other path must give the same NaN positions, the same +inf and −inf positions,
and close finite values. Paths are forced on small shapes by moving the
thresholds of convlab/kernels/conv.py (as tests/test_numba_kernels.py does):

- conv forward: numpy; numba direct loop, tiled serial (the small-layer path),
  tiled parallel, Winograd (its non-finite rows redone by the tiled kernel);
- conv backward: numpy; numba direct loop; dx as col2im (few channels), as a
  transposed convolution on the tiled kernel and on Winograd; tiled dkernel and dbias;
- pooling: numpy; numba generic and non-overlapping fast kernels; max and
  average, forward and backward.

Non-finite values sit in x, in the kernel, in the bias and in dy, one kind of
argument at a time. Also: big finite values that overflow only inside
Winograd's transforms, the issue's examples, and the max-pool rule against TensorFlow.
"""

import warnings

import numpy as np
import pytest

import convlab
from convlab.kernels import conv as nbconv
from convlab.kernels import winograd
from convlab.kernels.tile import tile_for

#: Finite values: max |error| relative to the largest finite |value| (Winograd's float32 rounding included).
RTOL = {np.float32: 2e-4, np.float64: 1e-10}
DTYPES = [np.float32, np.float64]

#: (DIRECT_MACS, SERIAL_MACS, WINOGRAD_MIN_C) forcing each numba path of convlab/kernels/conv.py.
NUMBA_PATHS = {
    "direct": (10**12, 10**12, 10**9),
    "tiled-serial": (0, 10**12, 10**9),
    "tiled-parallel": (0, 0, 10**9),
    "winograd": (0, 0, 1),
}


def assert_same_ieee(got, want, what):
    """Same shape and dtype, NaN/+inf/−inf at the same positions, finite values close."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    for kind, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        g, w = test(got), test(want)
        if not np.array_equal(g, w):
            at = [tuple(i) for i in np.argwhere(g != w)[:4].tolist()]
            raise AssertionError(
                f"{what}: {kind} positions differ ({int(g.sum())} vs {int(w.sum())} expected); "
                f"first at {at}: got {[got[i] for i in at]}, want {[want[i] for i in at]}"
            )
    fin = np.isfinite(want)
    if fin.any():
        scale = max(1.0, float(np.abs(want[fin]).max()))
        err = float(np.abs(got[fin].astype(np.float64) - want[fin]).max()) / scale
        assert err <= RTOL[want.dtype.type], f"{what}: finite values differ, relative error {err:.2e}"


def _reference(fn, *args, **kwargs):
    with np.errstate(all="ignore"):  # inf − inf, 0·inf: the point of these tests
        return fn(*args, backend="reference", **kwargs)


def _run(fn, *args, **kwargs):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------- convolution
def _wide(dtype):
    """Enough input channels for dx's transposed convolution (2·C ≥ the tile's FB), whatever the CPU."""
    return tile_for(dtype)[0] // 2 + 1


# name: (N, H, W, C, F, KH, KW, strides, padding); C=None → _wide(dtype)
GEOMETRIES = {
    "3x3s1-same-C3": (2, 7, 6, 3, 5, 3, 3, 1, "same"),  # Winograd-shaped, odd output, dx via col2im
    "3x3s1-same-wide": (2, 6, 7, None, 4, 3, 3, 1, "same"),  # dx as a transposed conv (tiled or Winograd)
    "3x3s2-same-wide": (1, 8, 7, None, 3, 3, 3, 2, "same"),  # strided: spread dy, asymmetric pads
    "2x3-pads-C2": (2, 6, 7, 2, 3, 2, 3, (2, 1), ((1, 0), (2, 1))),  # explicit asymmetric pads
}

WHERE = ["x", "kernel", "bias", "dy"]


def _conv_case(geometry, dtype, where):
    n, h, w, c, f, kh, kw, strides, padding = GEOMETRIES[geometry]
    c = _wide(dtype) if c is None else c
    rng = np.random.default_rng(sorted(GEOMETRIES).index(geometry) * 10 + WHERE.index(where))
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((kh, kw, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    y = _reference(convlab.conv2d, x, k, b, strides=strides, padding=padding)
    dy = rng.standard_normal(y.shape).astype(dtype)
    if where == "x":  # three pixels, far enough apart that their windows mostly differ
        x[0, 1, 1, 0], x[n - 1, h - 2, w - 1, c - 1], x[0, h - 1, 2, c // 2] = np.inf, -np.inf, np.nan
    elif where == "kernel":  # the corner tap meets the pads: 0·inf = NaN there, ±inf elsewhere
        k[0, 0, 0, 0], k[kh - 1, kw - 1, c - 1, 1], k[kh // 2, 0, 0, f - 1] = np.inf, -np.inf, np.nan
    elif where == "bias":
        b[0], b[1], b[f - 1] = np.nan, np.inf, -np.inf
    else:
        dy[0, 0, 0, 0], dy[-1, -1, -1, f - 1], dy[0, -1, 0, 1] = np.inf, -np.inf, np.nan
    return x, k, b, dy, strides, padding


@pytest.fixture(params=list(NUMBA_PATHS))
def numba_path(request, monkeypatch):
    direct, serial, wino = NUMBA_PATHS[request.param]
    monkeypatch.setattr(nbconv, "DIRECT_MACS", direct)
    monkeypatch.setattr(nbconv, "SERIAL_MACS", serial)
    monkeypatch.setattr(nbconv, "WINOGRAD_MIN_C", wino)
    return request.param


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_conv_numpy_backend_keeps_ieee(geometry, dtype, where):
    x, k, b, dy, strides, padding = _conv_case(geometry, dtype, where)
    kw = dict(strides=strides, padding=padding)
    if where != "dy":
        want = _reference(convlab.conv2d, x, k, b, **kw)
        assert_same_ieee(_run(convlab.conv2d, x, k, b, backend="numpy", **kw), want, "forward")
    ref = _reference(convlab.conv2d_backward, dy, x, k, **kw)
    got = _run(convlab.conv2d_backward, dy, x, k, backend="numpy", **kw)
    for g, r, what in zip(got, ref, ("dx", "dkernel", "dbias")):
        assert_same_ieee(g, r, what)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("geometry", list(GEOMETRIES))
def test_conv_every_numba_path_keeps_ieee(geometry, dtype, where, numba_path):
    x, k, b, dy, strides, padding = _conv_case(geometry, dtype, where)
    kw = dict(strides=strides, padding=padding)
    if where != "dy":
        want = _reference(convlab.conv2d, x, k, b, **kw)
        assert_same_ieee(_run(convlab.conv2d, x, k, b, **kw), want, f"forward on {numba_path}")
    if where == "bias":
        return  # the bias is no argument of the backward pass
    ref = _reference(convlab.conv2d_backward, dy, x, k, **kw)
    got = _run(convlab.conv2d_backward, dy, x, k, **kw)
    for g, r, what in zip(got, ref, ("dx", "dkernel", "dbias")):
        assert_same_ieee(g, r, f"{what} on {numba_path}")


def test_every_dx_path_is_exercised():
    """The geometries above reach both dx paths of the tiled kernels (col2im and transposed conv)."""
    for dtype in DTYPES:
        fb = tile_for(dtype)[0]
        assert 2 * 3 < fb <= 2 * _wide(dtype)


def test_issue_example_winograd_inf_at_default_thresholds(monkeypatch):
    """The issue's repro: an inf in a 3×3 stride-1 layer with 16 channels, on the default (Winograd) path."""
    calls = []
    real = winograd.winograd_forward
    monkeypatch.setattr(winograd, "winograd_forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 16, 16, 16))
    x[0, 5, 5, 3] = np.inf
    k = rng.standard_normal((3, 3, 16, 16))
    got = _run(convlab.conv2d, x, k)
    assert calls, "the default path for this layer should be Winograd"
    want = _reference(convlab.conv2d, x, k)
    assert np.isinf(want).sum() == 9 * 16 and not np.isnan(want).any()  # the 3×3 × 16 outputs that saw it
    assert_same_ieee(got, want, "forward")
    dy = rng.standard_normal(got.shape)
    dy[1, 7, 7, 5] = -np.inf
    ref = _reference(convlab.conv2d_backward, dy, x, k)
    for g, r, what in zip(_run(convlab.conv2d_backward, dy, x, k), ref, ("dx", "dkernel", "dbias")):
        assert_same_ieee(g, r, what)


@pytest.mark.parametrize("big", ["x", "kernel"])
def test_winograd_overflow_of_big_finite_values_is_redone(big, numba_path):
    """float32 values near the largest: Winograd's transforms (d0 − d2, g0 + g1 + g2) overflow where the
    definition's products and sums stay finite; the result must be the finite one."""
    rng = np.random.default_rng(7)
    sign = np.where(rng.random((2, 6, 7, 4)) < 0.5, -1.0, 1.0)
    small_x = rng.standard_normal((2, 6, 7, 4)) * 1e-3
    small_k = rng.standard_normal((3, 3, 4, 5)) * 1e-3
    x = (sign * 2e38 if big == "x" else small_x).astype(np.float32)
    k = (np.sign(rng.standard_normal((3, 3, 4, 5))) * 3e38 if big == "kernel" else small_k).astype(np.float32)
    want = _reference(convlab.conv2d, x, k, padding="same")
    assert np.isfinite(want).all()  # every |product| ≤ 6e35 and ≤ 36 of them per output
    assert_same_ieee(_run(convlab.conv2d, x, k, padding="same"), want, f"forward on {numba_path}")
    # dx reuses the forward kernels (Winograd on the transposed conv): a tiny dy keeps the definition finite
    dy = (rng.standard_normal(want.shape) * 1e-6).astype(np.float32)
    ref = _reference(convlab.conv2d_backward, dy, x, k, padding="same")
    got = _run(convlab.conv2d_backward, dy, x, k, padding="same")
    assert np.isfinite(ref[0]).all()
    assert_same_ieee(got[0], ref[0], f"dx on {numba_path}")


def test_reference_follows_the_definition_by_hand():
    """The specification itself, on numbers small enough to check by hand: a pad multiplies (0·inf = NaN)."""
    x = np.ones((1, 2, 2, 1))
    k = np.ones((3, 3, 1, 1))
    k[0, 0, 0, 0] = np.inf  # the top-left tap: over a pad for every output of a 2×2 "same" conv except (1, 1)
    want = np.array([[np.nan, np.nan], [np.nan, np.inf]]).reshape(1, 2, 2, 1)
    for backend in ("reference", "numpy", "numba"):
        np.testing.assert_array_equal(_run(convlab.conv2d, x, k, padding="same", backend=backend), want)
    x[0, 1, 0, 0] = -np.inf  # −inf times a finite tap of output (1, 1)'s window: inf − inf = NaN there too
    for backend in ("reference", "numpy", "numba"):
        assert np.isnan(_run(convlab.conv2d, x, k, padding="same", backend=backend)).all()


# --------------------------------------------------------------------------- pooling
# (pool_size, strides, padding): the numba fast path (non-overlapping, no pads) and the generic kernel
POOLS = [
    (2, None, "valid"),  # fast path
    ((2, 3), None, "valid"),  # fast path, rectangular, uncovered last row/column
    (2, None, "same"),  # generic: odd sizes give pads
    (3, 2, "same"),  # generic: overlapping windows and pads on both sides
    (3, 1, "valid"),  # generic: overlapping, stride 1
    ((2, 3), (1, 2), ((1, 0), (0, 2))),  # generic: explicit asymmetric pads
]


def _pool_input(dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 7, 8, 4))
    x[rng.random(x.shape) < 0.08] = np.nan
    x[rng.random(x.shape) < 0.08] = np.inf
    x[rng.random(x.shape) < 0.3] = -np.inf
    x[1] = -np.inf  # whole image: every window is −inf, with pads where there are any
    x[2, :, :, 1] = np.round(x[2, :, :, 1])  # ties
    x[2, :, :, 2] = np.abs(x[2, :, :, 2])  # no NaN…
    x[2, :, :, 2][~np.isfinite(x[2, :, :, 2])] = 0.0  # …and no inf in one channel: plain values
    return x.astype(dtype)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("pool,strides,padding", POOLS)
def test_pooling_keeps_ieee_forward_and_backward(pool, strides, padding, dtype, backend):
    x = _pool_input(dtype, 1)
    args = (pool, strides, padding)
    for fwd, bwd in (
        (convlab.max_pool2d, convlab.max_pool2d_backward),
        (convlab.avg_pool2d, convlab.avg_pool2d_backward),
    ):
        want = _reference(fwd, x, *args)
        assert_same_ieee(_run(fwd, x, *args, backend=backend), want, f"{fwd.__name__}")
        rng = np.random.default_rng(2)
        dy = rng.standard_normal(want.shape).astype(dtype)
        dy[0, 0, 0, 0], dy[0, -1, -1, 3], dy[2, 1, 0, 0] = np.inf, -np.inf, np.nan
        ref = _reference(bwd, dy, x, *args)
        assert_same_ieee(_run(bwd, dy, x, *args, backend=backend), ref, f"{bwd.__name__}")


def test_max_pool_backward_issue_example_all_minus_inf():
    """Windows holding only −inf and pads: each sends its gradient to its first real pixel (TensorFlow's rule,
    measured on 2.21 with GradientTape: the same nine 1s)."""
    want = np.array(
        [[1, 1, 0, 1, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 0, 1, 0], [0, 0, 0, 0, 0]], dtype=float
    ).reshape(1, 5, 5, 1)
    for backend in ("reference", "numpy", "numba"):
        got = convlab.max_pool2d_backward(np.ones((1, 3, 3, 1)), np.full((1, 5, 5, 1), -np.inf), 3, 2, "same", backend)
        np.testing.assert_array_equal(got, want, err_msg=backend)
        y = convlab.max_pool2d(np.full((1, 5, 5, 1), -np.inf), 3, 2, "same", backend)
        assert np.isneginf(y).all(), backend  # the true maximum (TensorFlow returns −3.4e38 in float32)


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
def test_max_pool_nan_wins_and_its_first_nan_gets_the_gradient(backend):
    x = np.array([[5.0, np.nan, 1.0, 1.0], [np.nan, 9.0, 1.0, 2.0]]).reshape(1, 2, 4, 1)
    y = convlab.max_pool2d(x, 2, backend=backend)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 0, 1, 0] == 2.0
    dx = convlab.max_pool2d_backward(np.array([3.0, 4.0]).reshape(1, 1, 2, 1), x, 2, backend=backend)
    np.testing.assert_array_equal(dx[0, :, :, 0], [[0.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 4.0]])


@pytest.mark.tf
@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
def test_max_pool_backward_follows_tensorflow_on_minus_inf_windows_and_ties(backend):
    """Where TensorFlow has a rule (no NaN involved: there its forward drops NaN and convlab propagates it)."""
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(4)
    x = np.round(rng.standard_normal((2, 7, 6, 3)))  # many ties
    x[rng.random(x.shape) < 0.4] = -np.inf
    x[1, :, :, 0] = -np.inf
    for pool, strides, padding in ((3, 2, "SAME"), (2, 2, "SAME"), (3, 1, "VALID"), (2, 2, "VALID")):
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            yt = tf.nn.max_pool2d(xt, pool, strides, padding)
        dy = rng.standard_normal(yt.shape)
        want = tape.gradient(yt, xt, output_gradients=tf.constant(dy)).numpy()
        got = convlab.max_pool2d_backward(dy, x, pool, strides, padding.lower(), backend=backend)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{pool} {strides} {padding}")
