"""Backward passes: every backend equals the reference loops, the reference equals TensorFlow.

Covers DESIGN.md's traps: the stride in the backward pass, uncovered rows when
(H + P − K) is not a multiple of the stride, asymmetric "same" with stride 2 on
even sizes, −inf padding in max pooling, max-pool ties (TensorFlow sends the
gradient to ONE position, the first maximum in row-major order), overlapping
windows, idempotence (no accumulation across calls), a swapped/reversed weight
gradient.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import convlab as cl
from convlab.ops import activations as act

BACKENDS = ["numpy", "numba"]

# (N, H, W, C_in, C_out, (KH, KW), strides, padding)
CONV_CASES = [
    (1, 5, 5, 1, 1, (3, 3), 1, "valid"),
    (2, 7, 6, 3, 2, (3, 3), 2, "valid"),  # (7−3) % 2 == 0, (6−3) % 2 == 1: last column uncovered
    (1, 8, 8, 2, 3, (3, 3), 2, "same"),  # asymmetric "same": pad 0 before, 1 after
    (2, 6, 7, 2, 1, (2, 3), 3, "same"),
    (1, 5, 7, 1, 4, (1, 1), 2, "valid"),  # 1×1 kernel, stride 2
    (1, 9, 8, 2, 2, (3, 2), (3, 2), 1),  # int padding, non-square kernel and strides
    (2, 6, 5, 3, 2, (3, 3), 1, (2, 1)),  # (ph, pw)
    (1, 7, 6, 2, 2, (3, 3), 2, ((1, 0), (2, 1))),  # asymmetric explicit pairs
    (1, 4, 4, 1, 1, (4, 4), 1, "valid"),  # kernel = input
    (3, 5, 4, 1, 2, (2, 2), 3, ((0, 2), (1, 0))),
]

# (N, H, W, C, pool, strides, padding)
POOL_CASES = [
    (1, 4, 4, 1, 2, None, "valid"),
    (2, 5, 7, 3, 2, None, "valid"),  # odd sizes: last row/col uncovered
    (1, 6, 6, 2, 3, 2, "same"),  # overlapping windows, asymmetric same
    (2, 5, 5, 1, 3, 1, "same"),
    (1, 7, 5, 2, (2, 3), (1, 2), "valid"),
    (1, 8, 8, 1, 2, 3, "same"),  # stride > pool: gaps
    (1, 6, 5, 2, 3, 2, ((1, 0), (0, 1))),
    (1, 3, 3, 1, 3, 1, "valid"),
]

_RNG = np.random.default_rng(12345)


def _conv_data(case, dtype=np.float64, rng=_RNG):
    n, h, w, c, f, k, s, p = case
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    kernel = rng.standard_normal(k + (c, f)).astype(dtype)
    y = cl.conv2d(x, kernel, strides=s, padding=p, backend="numpy")
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, kernel, dy, s, p


def _pool_data(case, dtype=np.float64, rng=_RNG, ties=False):
    n, h, w, c, pool, s, p = case
    if ties:
        x = rng.integers(-2, 3, size=(n, h, w, c)).astype(dtype)
    else:
        x = rng.permutation(n * h * w * c).reshape(n, h, w, c).astype(dtype) / 7.0 - 3.0  # distinct
    y = cl.max_pool2d(x, pool, s, p, backend="numpy")
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, dy, pool, s, p


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- backends vs reference
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_backends_match_reference(case, dtype):
    x, kernel, dy, s, p = _conv_data(case, dtype)
    ref = cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend="reference")
    assert [g.shape for g in ref] == [x.shape, kernel.shape, (kernel.shape[3],)]
    for backend in BACKENDS:
        got = cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend=backend)
        for name, g, r in zip(("dx", "dkernel", "dbias"), got, ref):
            assert g.dtype == dtype, (backend, name)
            assert g.shape == r.shape, (backend, name)
            np.testing.assert_allclose(g, r, **_tol(dtype), err_msg=f"{backend} {name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES)
@pytest.mark.parametrize("ties", [False, True])
def test_pool_backward_backends_match_reference(case, dtype, ties):
    x, dy, pool, s, p = _pool_data(case, dtype, ties=ties)
    for fn in (cl.max_pool2d_backward, cl.avg_pool2d_backward):
        ref = fn(dy, x, pool, s, p, backend="reference")
        assert ref.shape == x.shape and ref.dtype == dtype
        for backend in BACKENDS:
            got = fn(dy, x, pool, s, p, backend=backend)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, ref, **_tol(dtype), err_msg=f"{fn.__name__} {backend}")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 2),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    c=st.integers(1, 3),
    f=st.integers(1, 3),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    pads=st.one_of(
        st.sampled_from(["valid", "same"]),
        st.tuples(st.tuples(st.integers(0, 2), st.integers(0, 2)), st.tuples(st.integers(0, 2), st.integers(0, 2))),
    ),
    seed=st.integers(0, 2**31 - 1),
)
def test_conv_backward_random_shapes(n, h, w, c, f, kh, kw, sh, sw, pads, seed):
    t, b, l, r = cl.resolve_padding((h, w), (kh, kw), pads, (sh, sw))
    if kh > h + t + b or kw > w + l + r:
        return
    case = (n, h, w, c, f, (kh, kw), (sh, sw), pads)
    x, kernel, dy, s, p = _conv_data(case, np.float64, np.random.default_rng(seed))
    ref = cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend="reference")
    for backend in BACKENDS:
        got = cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend=backend)
        for g, rr in zip(got, ref):
            np.testing.assert_allclose(g, rr, rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    c=st.integers(1, 2),
    ph=st.integers(1, 3),
    pw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same"]),
    ties=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_pool_backward_random_shapes(h, w, c, ph, pw, sh, sw, padding, ties, seed):
    t, b, l, r = cl.resolve_padding((h, w), (ph, pw), padding, (sh, sw))
    if ph > h + t + b or pw > w + l + r:
        return
    case = (2, h, w, c, (ph, pw), (sh, sw), padding)
    x, dy, pool, s, p = _pool_data(case, np.float64, np.random.default_rng(seed), ties=ties)
    for fn in (cl.max_pool2d_backward, cl.avg_pool2d_backward):
        ref = fn(dy, x, pool, s, p, backend="reference")
        for backend in BACKENDS:
            np.testing.assert_allclose(fn(dy, x, pool, s, p, backend=backend), ref, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- hand-checked traps
def test_conv_backward_stride_and_uncovered_rows_get_zero():
    # 6×6 input, 3×3 kernel, stride 2, valid: windows start at 0 and 2 → rows/cols 5 never used.
    x = np.arange(36.0).reshape(1, 6, 6, 1)
    k = np.ones((3, 3, 1, 1))
    dy = np.ones((1, 2, 2, 1))
    for backend in ["reference"] + BACKENDS:
        dx, dk, db = cl.conv2d_backward(dy, x, k, strides=2, backend=backend)
        counts = np.outer([1, 1, 2, 1, 1, 0], [1, 1, 2, 1, 1, 0])  # how many windows cover each pixel
        np.testing.assert_array_equal(dx[0, :, :, 0], counts, err_msg=backend)
        # dkernel[u, v] = Σ over the 4 windows of x[2i + u, 2j + v]
        want = sum(x[0, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3, 0] for i in range(2) for j in range(2))
        np.testing.assert_array_equal(dk[:, :, 0, 0], want, err_msg=backend)
        assert db.tolist() == [4.0]


def test_conv_backward_weight_gradient_not_flipped_or_swapped():
    # A non-symmetric input and dy: dkernel = correlate(x, dy), not its flip nor correlate(dy, x).
    x = np.arange(1.0, 17.0).reshape(1, 4, 4, 1)
    k = np.zeros((3, 3, 1, 1))
    dy = np.array([[1.0, 0.0], [0.0, 0.0]]).reshape(1, 2, 2, 1)  # only output (0, 0) matters
    for backend in ["reference"] + BACKENDS:
        _, dk, _ = cl.conv2d_backward(dy, x, k, backend=backend)
        np.testing.assert_array_equal(dk[:, :, 0, 0], x[0, :3, :3, 0], err_msg=backend)


def test_conv_backward_same_stride2_even_is_asymmetric():
    # 4×4, K=3, S=2, "same": TF pads 0 before and 1 after → output (0,0) reads x[0:2, 0:2] at taps (0..1).
    x = np.zeros((1, 4, 4, 1))
    k = np.arange(1.0, 10.0).reshape(3, 3, 1, 1)
    dy = np.zeros((1, 2, 2, 1))
    dy[0, 0, 0, 0] = 1.0
    for backend in ["reference"] + BACKENDS:
        dx, _, _ = cl.conv2d_backward(dy, x, k, strides=2, padding="same", backend=backend)
        want = np.zeros((4, 4))
        want[0:3, 0:3] = k[:, :, 0, 0]  # no padding before: the kernel's top-left tap sits on x[0, 0]
        np.testing.assert_array_equal(dx[0, :, :, 0], want, err_msg=backend)


def test_max_pool_backward_ties_go_to_first_max_row_major():
    x = np.array([[1, 3, 3, 0], [3, 3, 2, 3], [0, 0, 5, 5], [0, 0, 5, 5]], float)[None, :, :, None]
    dy = np.array([[1.0, 2.0], [3.0, 4.0]])[None, :, :, None]
    want = np.array([[0, 1, 2, 0], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]], float)
    for backend in ["reference"] + BACKENDS:
        dx = cl.max_pool2d_backward(dy, x, 2, backend=backend)
        np.testing.assert_array_equal(dx[0, :, :, 0], want, err_msg=backend)
        assert dx.sum() == dy.sum()  # one position per window, never all the tied ones


def test_max_pool_backward_same_pads_with_minus_inf():
    # All-negative input: with zero padding a pad would "win"; with −inf the real pixel wins.
    x = -np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    dy = np.ones((1, 2, 2, 1))
    for backend in ["reference"] + BACKENDS:
        dx = cl.max_pool2d_backward(dy, x, 2, 2, "same", backend=backend)
        assert dx.sum() == 4.0, backend  # every window's gradient lands on a real pixel
        want = np.zeros((3, 3))
        want[0, 0] = want[0, 2] = want[2, 0] = want[2, 2] = 1.0
        np.testing.assert_array_equal(dx[0, :, :, 0], want, err_msg=backend)


def test_max_pool_backward_overlapping_windows_accumulate_and_visit_all():
    # A single large pixel is the max of all 4 overlapping 2×2 windows (stride 1) → gets Σ dy.
    x = np.zeros((1, 3, 3, 2))
    x[0, 1, 1, :] = 9.0
    dy = np.arange(1.0, 9.0).reshape(1, 2, 2, 2)
    for backend in ["reference"] + BACKENDS:
        dx = cl.max_pool2d_backward(dy, x, 2, 1, backend=backend)
        assert dx[0, 1, 1, 0] == 1 + 3 + 5 + 7 and dx[0, 1, 1, 1] == 2 + 4 + 6 + 8, backend
        assert dx.sum() == dy.sum()


def test_avg_pool_backward_same_divides_by_real_pixels():
    # 3×3, pool 2, stride 2, same → pads 0 before, 1 after; window (1,1) holds 1 real pixel.
    x = np.zeros((1, 3, 3, 1))
    dy = np.ones((1, 2, 2, 1))
    want = np.array([[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])
    for backend in ["reference"] + BACKENDS:
        dx = cl.avg_pool2d_backward(dy, x, 2, 2, "same", backend=backend)
        np.testing.assert_allclose(dx[0, :, :, 0], want, rtol=0, atol=1e-15, err_msg=backend)


@pytest.mark.parametrize("backend", ["reference"] + BACKENDS)
def test_backward_is_idempotent_and_does_not_modify_inputs(backend):
    x, kernel, dy, s, p = _conv_data(CONV_CASES[2])
    copies = [a.copy() for a in (x, kernel, dy)]
    first = cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend=backend)
    second = cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend=backend)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    for a, b in zip((x, kernel, dy), copies):
        np.testing.assert_array_equal(a, b)
    xp, dyp, pool, sp, pp = _pool_data(POOL_CASES[2])
    for fn in (cl.max_pool2d_backward, cl.avg_pool2d_backward):
        np.testing.assert_array_equal(
            fn(dyp, xp, pool, sp, pp, backend=backend), fn(dyp, xp, pool, sp, pp, backend=backend)
        )


def test_conv_backward_integer_inputs_give_float64():
    x = np.arange(25).reshape(1, 5, 5, 1)
    k = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]).reshape(3, 3, 1, 1)
    dx, dk, db = cl.conv2d_backward(np.ones((1, 3, 3, 1), int), x, k, backend="reference")
    assert dx.dtype == dk.dtype == db.dtype == np.float64


# --------------------------------------------------------------------------- bad input
def test_conv_backward_errors_name_the_argument():
    x = np.zeros((1, 5, 5, 2))
    k = np.zeros((3, 3, 2, 4))
    with pytest.raises(ValueError, match=r"dy.*\(1, 3, 3, 4\).*\(1, 3, 3, 3\)"):
        cl.conv2d_backward(np.zeros((1, 3, 3, 3)), x, k)
    with pytest.raises(ValueError, match=r"dy.*\(1, 2, 2, 4\)"):
        cl.conv2d_backward(np.zeros((1, 3, 3, 4)), x, k, strides=2)
    with pytest.raises(ValueError, match="dy must be 4-D"):
        cl.conv2d_backward(np.zeros((3, 3, 4)), x, k)
    with pytest.raises(TypeError, match="dy"):
        cl.conv2d_backward(np.full((1, 3, 3, 4), "a"), x, k)
    with pytest.raises(ValueError, match="kernel has C_in"):
        cl.conv2d_backward(np.zeros((1, 3, 3, 4)), x, np.zeros((3, 3, 1, 4)))
    with pytest.raises(ValueError, match="backend"):
        cl.conv2d_backward(np.zeros((1, 3, 3, 4)), x, k, backend="cuda")
    with pytest.raises(ValueError, match="padding"):
        cl.conv2d_backward(np.zeros((1, 3, 3, 4)), x, k, padding="full")


def test_pool_backward_errors_name_the_argument():
    x = np.zeros((1, 4, 4, 2))
    for fn in (cl.max_pool2d_backward, cl.avg_pool2d_backward):
        with pytest.raises(ValueError, match=r"dy.*\(1, 2, 2, 2\)"):
            fn(np.zeros((1, 3, 3, 2)), x)
        with pytest.raises(ValueError, match="dy must be 4-D"):
            fn(np.zeros((2, 2, 2)), x)
        with pytest.raises(ValueError, match="pool_size"):
            fn(np.zeros((1, 2, 2, 2)), x, 0)
        with pytest.raises(ValueError, match="backend"):
            fn(np.zeros((1, 2, 2, 2)), x, backend="gpu")


def test_dense_and_activation_backward_errors():
    with pytest.raises(ValueError, match=r"dy.*\(2, 3\)"):
        cl.dense_backward(np.zeros((2, 4)), np.zeros((2, 5)), np.zeros((5, 3)))
    with pytest.raises(ValueError, match="kernel has in_features"):
        cl.dense_backward(np.zeros((2, 3)), np.zeros((2, 5)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="dy must have the shape of x"):
        cl.relu_backward(np.zeros(3), np.zeros(4), None)
    with pytest.raises(ValueError, match="y must have the shape of x"):
        cl.sigmoid_backward(np.zeros(3), np.zeros(3), np.zeros(2))
    with pytest.raises(TypeError, match="dy"):
        cl.tanh_backward(np.array(["a"]), np.zeros(1), None)
    with pytest.raises(ValueError, match="activation"):
        act.get_backward("swish")


# --------------------------------------------------------------------------- activations, dense
def test_activation_backward_formulas():
    x = np.array([[-2.0, 0.0, 0.5, 3.0]])
    dy = np.array([[1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(cl.relu_backward(dy, x, None), [[0, 0, 3, 4]])  # 0 at the kink, as TF
    np.testing.assert_array_equal(cl.relu_backward(dy, x, act.relu(x)), [[0, 0, 3, 4]])
    s = act.sigmoid(x)
    np.testing.assert_allclose(cl.sigmoid_backward(dy, x, None), dy * s * (1 - s))
    np.testing.assert_allclose(cl.tanh_backward(dy, x, np.tanh(x)), dy * (1 - np.tanh(x) ** 2))
    np.testing.assert_array_equal(cl.linear_backward(dy, x, None), dy)
    sm = act.softmax(x)
    jac = np.diag(sm[0]) - np.outer(sm[0], sm[0])
    np.testing.assert_allclose(cl.softmax_backward(dy, x, sm)[0], jac.T @ dy[0], rtol=1e-14)
    for name in ("relu", "sigmoid", "tanh", "softmax", "linear", None):
        fb = act.get_backward(name)
        assert fb is act.get_backward(act.get(name))
    assert cl.sigmoid_backward(dy.astype(np.float32), x.astype(np.float32), None).dtype == np.float32


def test_dense_backward_formulas():
    rng = np.random.default_rng(3)
    x, k, dy = rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal((4, 3))
    dx, dk, db = cl.dense_backward(dy, x, k)
    np.testing.assert_allclose(dx, dy @ k.T)
    np.testing.assert_allclose(dk, x.T @ dy)
    np.testing.assert_allclose(db, dy.sum(0))


# --------------------------------------------------------------------------- against TensorFlow
def _tf():
    return pytest.importorskip("tensorflow")


def _tf_pads(pads):
    t, b, l, r = pads
    return [[0, 0], [t, b], [l, r], [0, 0]]


@pytest.mark.tf
@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_backward_matches_tensorflow(case):
    tf = _tf()
    x, kernel, dy, s, p = _conv_data(case)
    sh, sw = cl.shapes.pair(s, "strides")
    pads = cl.resolve_padding(x.shape[1:3], kernel.shape[:2], p, (sh, sw))
    xt, kt = tf.constant(x), tf.constant(kernel)
    tf_padding = p.upper() if isinstance(p, str) else _tf_pads(pads)
    with tf.GradientTape() as tape:
        tape.watch([xt, kt])
        y = tf.nn.conv2d(xt, kt, strides=[1, sh, sw, 1], padding=tf_padding)
    dx_tf, dk_tf = tape.gradient(y, [xt, kt], output_gradients=tf.constant(dy))
    dx, dk, db = cl.conv2d_backward(dy, x, kernel, strides=s, padding=p, backend="reference")
    np.testing.assert_allclose(dx, dx_tf.numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(dk, dk_tf.numpy(), rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(db, dy.sum(axis=(0, 1, 2)), rtol=1e-12)


@pytest.mark.tf
@pytest.mark.parametrize("case", [c for c in POOL_CASES if isinstance(c[6], str)])
@pytest.mark.parametrize("ties", [False, True])
def test_pool_backward_matches_tensorflow(case, ties):
    tf = _tf()
    x, dy, pool, s, p = _pool_data(case, ties=ties)
    ph, pw = cl.shapes.pair(pool, "pool_size")
    sh, sw = cl.shapes.pair((ph, pw) if s is None else s, "strides")
    xt = tf.constant(x)
    for tf_fn, fn in ((tf.nn.max_pool2d, cl.max_pool2d_backward), (tf.nn.avg_pool2d, cl.avg_pool2d_backward)):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf_fn(xt, ksize=[ph, pw], strides=[sh, sw], padding=p.upper())
        assert tuple(y.shape) == dy.shape
        want = tape.gradient(y, xt, output_gradients=tf.constant(dy)).numpy()
        got = fn(dy, x, pool, s, p, backend="reference")
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12, err_msg=f"{fn.__name__} ties={ties}")


@pytest.mark.tf
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_max_pool_tie_rule_is_tensorflows(dtype):
    """TensorFlow's CPU MaxPoolGrad sends a tied window's gradient to its first maximum (row-major)."""
    tf = _tf()
    rng = np.random.default_rng(7)
    x = rng.integers(0, 2, size=(2, 6, 6, 3)).astype(dtype)  # many ties, all-equal windows too
    for pool, s, p in [(2, 2, "VALID"), (3, 1, "VALID"), (3, 2, "SAME"), (2, 2, "SAME")]:
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = tf.nn.max_pool2d(xt, pool, s, p)
        dy = rng.standard_normal(tuple(y.shape)).astype(dtype)
        want = tape.gradient(y, xt, output_gradients=tf.constant(dy)).numpy()
        for backend in ["reference"] + BACKENDS:
            got = cl.max_pool2d_backward(dy, x, pool, s, p.lower(), backend=backend)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=f"{backend} {pool} {s} {p}")


@pytest.mark.tf
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "softmax", "linear"])
def test_activation_backward_matches_tensorflow(name):
    tf = _tf()
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5)) * 3
    x[0, 0] = 0.0  # ReLU's kink: TF's gradient there is 0
    dy = rng.standard_normal(x.shape)
    tf_fn = {
        "relu": tf.nn.relu,
        "sigmoid": tf.nn.sigmoid,
        "tanh": tf.nn.tanh,
        "softmax": tf.nn.softmax,
        "linear": tf.identity,
    }[name]
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = tf_fn(xt)
    want = tape.gradient(y, xt, output_gradients=tf.constant(dy)).numpy()
    got = act.get_backward(name)(dy, x, act.get(name)(x))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


@pytest.mark.tf
def test_dense_backward_matches_tensorflow():
    tf = _tf()
    rng = np.random.default_rng(5)
    x, k, b = rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), rng.standard_normal(3)
    dy = rng.standard_normal((4, 3))
    xt, kt, bt = tf.constant(x), tf.constant(k), tf.constant(b)
    with tf.GradientTape() as tape:
        tape.watch([xt, kt, bt])
        y = tf.matmul(xt, kt) + bt
    want = tape.gradient(y, [xt, kt, bt], output_gradients=tf.constant(dy))
    for g, w in zip(cl.dense_backward(dy, x, k), want):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
def test_conv2d_backward_without_dx_gives_the_same_kernel_gradients(backend):
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 7, 6, 3))
    k = rng.standard_normal((3, 3, 3, 4))
    dy = rng.standard_normal((2, 4, 3, 4))
    dx, dk, db = cl.conv2d_backward(dy, x, k, strides=(2, 2), padding="same", backend=backend)
    none, dk2, db2 = cl.conv2d_backward(dy, x, k, strides=(2, 2), padding="same", backend=backend, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dk, dk2)
    np.testing.assert_array_equal(db, db2)


def test_crop_nhwc_undoes_pad_nhwc():
    from convlab.util.arrays import crop_nhwc, pad_nhwc

    x = np.random.default_rng(0).standard_normal((2, 5, 4, 3))
    for pads in [(0, 0, 0, 0), (1, 0, 0, 2), (2, 1, 3, 0), (1, 1, 1, 1)]:
        xp = pad_nhwc(x, pads)
        assert xp.shape == (2, 5 + pads[0] + pads[1], 4 + pads[2] + pads[3], 3)
        back = crop_nhwc(xp, pads)
        np.testing.assert_array_equal(back, x)
        assert back.flags.c_contiguous
