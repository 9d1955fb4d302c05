"""Forward pass: the slides' numbers on every backend and dtype, backends against the
reference on random shapes, and the reference against TensorFlow."""

import numpy as np
import pytest
from conftest import SHARPEN, SLIDE_INPUT, SLIDE_PAD1, SLIDE_VALID, three_channel_example
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convlab


# ----------------------------------------------------------------- slide numbers, exactly
def test_slide_sharpen_valid(backend, dtype):
    got = convlab.correlate2d(SLIDE_INPUT.astype(dtype), SHARPEN, backend=backend)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, SLIDE_VALID)


def test_slide_sharpen_padding_1(backend, dtype):
    got = convlab.correlate2d(SLIDE_INPUT.astype(dtype), SHARPEN, padding=1, backend=backend)
    np.testing.assert_array_equal(got, SLIDE_PAD1)
    # the sharpen kernel is symmetric, so true convolution gives the same numbers
    conv = convlab.convolve2d(SLIDE_INPUT.astype(dtype), SHARPEN, 1, backend=backend)
    np.testing.assert_array_equal(conv, SLIDE_PAD1)


def test_slide_first_value_by_hand():
    # 60*0 + 113*(-1) + 56*0 + 73*(-1) + 121*5 + 54*(-1) + 131*0 + 99*(-1) + 70*0 = 266
    assert int(np.sum(SLIDE_INPUT[:3, :3] * SHARPEN)) == 266


def test_slide_three_channels_stride_2(backend, dtype):
    x, w, b, o = three_channel_example()
    got = convlab.conv2d(x[None].astype(dtype), w, b, strides=2, padding=1, backend=backend)
    assert got.shape == (1, 3, 3, 2) and got.dtype == dtype
    np.testing.assert_array_equal(got[0], o)


def test_integer_input_becomes_float64(backend):
    got = convlab.correlate2d(SLIDE_INPUT, SHARPEN, backend=backend)
    assert got.dtype == np.float64


def test_convolve2d_flips_the_kernel(backend):
    k = np.array([[1, 1, 1], [0, 0, 0], [-1, -1, -1]])  # not symmetric: the sign flips
    corr = convlab.correlate2d(SLIDE_INPUT, k, backend=backend)
    conv = convlab.convolve2d(SLIDE_INPUT, k, backend=backend)
    np.testing.assert_array_equal(conv, -corr)
    scipy_signal = pytest.importorskip("scipy.signal")
    np.testing.assert_array_equal(conv, scipy_signal.convolve2d(SLIDE_INPUT, k, mode="valid"))
    np.testing.assert_array_equal(corr, scipy_signal.correlate2d(SLIDE_INPUT, k, mode="valid"))


# ----------------------------------------------------------------- random shapes vs the reference
def _random_case(rng, n, h, w, c, f, kh, kw):
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((kh, kw, c, f))
    b = rng.standard_normal(f)
    return x, k, b


PADDINGS = ["valid", "same", 0, 1, 2, (1, 0), ((0, 2), (1, 0)), ((2, 1), (0, 3))]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 2),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    c=st.integers(1, 4),
    f=st.integers(1, 5),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    padding=st.sampled_from(PADDINGS),
    seed=st.integers(0, 2**16),
)
def test_backends_agree_with_reference(n, h, w, c, f, kh, kw, sh, sw, padding, seed):
    rng = np.random.default_rng(seed)
    x, k, b = _random_case(rng, n, h, w, c, f, kh, kw)
    try:
        ref = convlab.conv2d(x, k, b, strides=(sh, sw), padding=padding, backend="reference")
    except ValueError:
        with pytest.raises(ValueError):
            convlab.conv2d(x, k, b, strides=(sh, sw), padding=padding, backend="numba")
        return
    for backend in ("numpy", "numba"):
        for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-4)):
            got = convlab.conv2d(
                x.astype(dtype), k.astype(dtype), b.astype(dtype), strides=(sh, sw), padding=padding, backend=backend
            )
            assert got.dtype == dtype and got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * 10)


@pytest.mark.parametrize("pool", [1, 2, 3, (2, 3)])
@pytest.mark.parametrize("strides", [None, 1, 2, (1, 3)])
@pytest.mark.parametrize("padding", ["valid", "same", 1])
def test_pooling_backends_agree(pool, strides, padding):
    if padding == 1 and pool == 1:
        pytest.skip("a pad as wide as the window is rejected (see test_bad_input)")
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 7, 6, 3))
    for op in (convlab.max_pool2d, convlab.avg_pool2d):
        ref = op(x, pool, strides, padding, backend="reference")
        for backend in ("numpy", "numba"):
            for dtype in (np.float32, np.float64):
                got = op(x.astype(dtype), pool, strides, padding, backend=backend)
                assert got.dtype == dtype
                np.testing.assert_allclose(got, ref, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_nan_and_inf_propagate(backend):
    x = np.ones((1, 4, 4, 1))
    x[0, 0, 0, 0] = np.nan
    x[0, 3, 3, 0] = np.inf
    y = convlab.conv2d(x, np.ones((2, 2, 1, 1)), backend=backend)
    assert np.isnan(y[0, 0, 0, 0]) and np.isinf(y[0, 2, 2, 0]) and y[0, 1, 1, 0] == 4
    p = convlab.max_pool2d(x, 2, backend=backend)
    assert np.isnan(p[0, 0, 0, 0]) and np.isinf(p[0, 1, 1, 0])


def test_same_padding_stride_2_even_input_is_asymmetric(backend):
    """Trap from DESIGN.md: TF pads 0 before and 1 after here; a symmetric pad gives other numbers."""
    x = np.arange(36, dtype=float).reshape(1, 6, 6, 1)
    k = np.arange(9, dtype=float).reshape(3, 3, 1, 1)
    same = convlab.conv2d(x, k, strides=2, padding="same", backend=backend)
    explicit = convlab.conv2d(x, k, strides=2, padding=((0, 1), (0, 1)), backend=backend)
    symmetric = convlab.conv2d(x, k, strides=2, padding=1, backend=backend)
    np.testing.assert_array_equal(same, explicit)
    assert same.shape == (1, 3, 3, 1) and not np.array_equal(same, symmetric)


def test_same_max_pool_pads_with_minus_inf(backend):
    x = -np.ones((1, 3, 3, 1))
    y = convlab.max_pool2d(x, 2, padding="same", backend=backend)
    np.testing.assert_array_equal(y, -np.ones((1, 2, 2, 1)))  # zero padding would give 0 on the edge


# ----------------------------------------------------------------- against TensorFlow
# Asked for inside each test: a module-level importorskip would skip every test above too.
def _tf():
    return pytest.importorskip("tensorflow")


def _tf_pad(padding, pads):
    if isinstance(padding, str):
        return padding.upper()
    t, b, l, r = pads
    return [[0, 0], [t, b], [l, r], [0, 0]]


@pytest.mark.parametrize(
    "case",
    [
        # (N, H, W, C, F, KH, KW, strides, padding)
        (2, 7, 7, 3, 4, 3, 3, 1, "valid"),
        (2, 8, 8, 3, 4, 3, 3, 2, "same"),
        (1, 9, 6, 2, 5, 3, 2, (2, 3), "same"),
        (3, 10, 11, 1, 2, 5, 5, 3, "valid"),  # (H − K) not a multiple of the stride
        (2, 6, 7, 4, 3, 3, 3, 2, 1),
        (1, 5, 5, 3, 2, 3, 3, 2, ((0, 2), (1, 0))),
        (2, 4, 4, 2, 3, 1, 1, 1, "same"),
    ],
)
@pytest.mark.tf
def test_conv2d_matches_tensorflow(case, backend):
    tf = _tf()
    n, h, w, c, f, kh, kw, strides, padding = case
    rng = np.random.default_rng(3)
    x, k, b = _random_case(rng, n, h, w, c, f, kh, kw)
    pads = convlab.resolve_padding((h, w), (kh, kw), padding, strides)
    s = convlab.shapes.pair(strides, "strides")
    want = tf.nn.conv2d(x, k, strides=[1, *s, 1], padding=_tf_pad(padding, pads)).numpy() + b
    got = convlab.conv2d(x, k, b, strides=strides, padding=padding, backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    got32 = convlab.conv2d(x.astype(np.float32), k, b, strides=strides, padding=padding, backend=backend)
    np.testing.assert_allclose(got32, want, rtol=1e-5, atol=1e-5)


# Large enough for the numba backend's fast paths (convlab/kernels/conv.py): every case above is small
# enough to run on its direct loop, which would hide a stride bug in the tiled kernels.
# Output widths leave 3-, 2- and 1-column tiles after the full ones (JB = 6 or 4), F gives full and
# partial filter blocks. (N, H, W, C, F, KH, KW, strides, the path both paddings must take)
FAST_PATH_CASES = [
    (2, 15, 21, 5, 12, 3, 3, 2, "tiled-serial"),
    (4, 33, 33, 16, 24, 3, 3, 2, "tiled-parallel"),
    (3, 30, 32, 12, 20, 5, 3, (2, 3), "tiled-parallel"),  # rectangular kernel, unequal strides
    (2, 18, 17, 16, 20, 3, 3, 1, "winograd"),  # 3×3 stride 1, C ≥ WINOGRAD_MIN_C
]


def _numba_path(macs, c, kh, kw, strides):
    from convlab.kernels import conv as nbconv

    if macs < nbconv.DIRECT_MACS:
        return "direct"
    if macs < nbconv.SERIAL_MACS:
        return "tiled-serial"
    if (kh, kw, strides) == (3, 3, (1, 1)) and c >= nbconv.WINOGRAD_MIN_C:
        return "winograd"
    return "tiled-parallel"


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("case", FAST_PATH_CASES, ids=[c[-1] + "-" + str(i) for i, c in enumerate(FAST_PATH_CASES)])
@pytest.mark.tf
def test_conv2d_fast_paths_match_tensorflow(case, backend, padding):
    tf = _tf()
    n, h, w, c, f, kh, kw, strides, path = case
    s = convlab.shapes.pair(strides, "strides")
    pads = convlab.resolve_padding((h, w), (kh, kw), padding, s)
    oh, ow = (h + pads[0] + pads[1] - kh) // s[0] + 1, (w + pads[2] + pads[3] - kw) // s[1] + 1
    assert _numba_path(n * oh * ow * kh * kw * c * f, c, kh, kw, s) == path  # the case still reaches its path
    x, k, b = _random_case(np.random.default_rng(8), n, h, w, c, f, kh, kw)
    want = tf.nn.conv2d(x, k, strides=[1, *s, 1], padding=padding.upper()).numpy() + b
    got = convlab.conv2d(x, k, b, strides=strides, padding=padding, backend=backend)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    got32 = convlab.conv2d(
        x.astype(np.float32), k.astype(np.float32), b, strides=strides, padding=padding, backend=backend
    )
    np.testing.assert_allclose(got32, want, rtol=1e-4, atol=1e-4 * float(np.abs(want).max()))


@pytest.mark.parametrize(
    "pool,strides,padding",
    [(2, None, "VALID"), (2, None, "SAME"), (3, 2, "SAME"), ((2, 3), (1, 2), "VALID"), (3, 1, "SAME")],
)
@pytest.mark.tf
def test_pooling_matches_tensorflow(pool, strides, padding, backend):
    tf = _tf()
    x = np.random.default_rng(5).standard_normal((2, 7, 8, 3))
    s = pool if strides is None else strides
    want_max = tf.nn.max_pool2d(x, pool, s, padding).numpy()
    want_avg = tf.nn.avg_pool2d(x, pool, s, padding).numpy()
    np.testing.assert_allclose(convlab.max_pool2d(x, pool, strides, padding.lower(), backend=backend), want_max)
    np.testing.assert_allclose(
        convlab.avg_pool2d(x, pool, strides, padding.lower(), backend=backend), want_avg, rtol=1e-12
    )


@pytest.mark.tf
def test_activations_and_dense_match_tensorflow():
    tf = _tf()
    x = np.random.default_rng(1).standard_normal((4, 6)) * 5
    np.testing.assert_allclose(convlab.relu(x), tf.nn.relu(x).numpy())
    np.testing.assert_allclose(convlab.sigmoid(x), tf.math.sigmoid(x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(convlab.tanh(x), tf.math.tanh(x).numpy(), rtol=1e-12)
    np.testing.assert_allclose(convlab.softmax(x), tf.nn.softmax(x).numpy(), rtol=1e-12)
    k = np.random.default_rng(2).standard_normal((6, 3))
    np.testing.assert_allclose(convlab.dense(x, k, np.arange(3.0)), x @ k + np.arange(3.0))


def test_softmax_is_stable():
    np.testing.assert_allclose(convlab.softmax(np.array([[1000.0, 1000.0], [-1000.0, 0.0]])), [[0.5, 0.5], [0.0, 1.0]])
    assert np.all(np.isfinite(convlab.sigmoid(np.array([-1000.0, 1000.0]))))
