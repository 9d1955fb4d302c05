"""conv2d with ``dilation_rate`` and ``groups``: every backend against the reference loops, against
TensorFlow (``tf.nn.conv2d(dilations=)``, grouped kernels, Keras ``Conv2D(groups=)``), gradcheck, and
the input gradient shared with the transposed convolution."""

import numpy as np
import pytest
from conftest import BACKENDS, DTYPES
from conv_helpers import backends_agree, gradcheck_errors, rel_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convlab.kernels import conv as fast
from convlab.ops.conv import conv2d, conv2d_backward, conv2d_input_gradient
from convlab.shapes.sizes import window_geometry

PADDINGS = ["valid", "same", 1, (2, 0), ((1, 0), (0, 2))]


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def _case(rng, n, h, w, c_in, c_out, kh, kw, groups, dtype=np.float64):
    x = rng.standard_normal((n, h, w, c_in)).astype(dtype)
    k = rng.standard_normal((kh, kw, c_in // groups, c_out)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    return x, k, b


# --------------------------------------------------------------------------- the definition
def test_reference_reads_like_the_formula():
    """One output number by hand: taps D apart, only the channels of the filter's group."""
    rng = np.random.default_rng(0)
    x, k, b = _case(rng, 1, 7, 8, 4, 6, 2, 3, groups=2)
    y = conv2d(x, k, b, strides=(2, 1), dilation_rate=(3, 2), groups=2, backend="reference")
    assert y.shape == (1, (7 - 3 * 1 - 1) // 2 + 1, 8 - 2 * 2, 6)
    i, j, f = 1, 2, 4  # filter 4 is in group 1: input channels 2, 3
    want = b[f] + sum(
        x[0, i * 2 + u * 3, j + v * 2, 2 + c] * k[u, v, c, f] for u in range(2) for v in range(3) for c in range(2)
    )
    assert y[0, i, j, f] == pytest.approx(want, rel=1e-12)


def test_dilation_is_a_kernel_with_zeros_between_its_taps():
    """Dumoulin & Visin §5.1: a D-dilated k×k kernel = a dense (D(k−1)+1)² kernel with holes."""
    rng = np.random.default_rng(2)
    x, k, b = _case(rng, 2, 11, 10, 3, 4, 3, 2, groups=1)
    dense = np.zeros((2 * 2 + 1, 3 * 1 + 1, 3, 4))
    dense[::2, ::3] = k
    for backend in BACKENDS:
        got = conv2d(x, k, b, padding="same", dilation_rate=(2, 3), backend=backend)
        assert rel_error(got, conv2d(x, dense, b, padding="same", backend="numpy")) < 1e-13


def test_groups_are_independent_convolutions():
    """groups = G is G convolutions on the channel blocks, concatenated (Keras' Conv2D(groups=))."""
    rng = np.random.default_rng(3)
    x, k, b = _case(rng, 2, 6, 7, 6, 9, 3, 3, groups=3)
    parts = [conv2d(x[..., 2 * g : 2 * g + 2], k[..., 3 * g : 3 * g + 3], b[3 * g : 3 * g + 3]) for g in range(3)]
    for backend in BACKENDS:
        assert rel_error(conv2d(x, k, b, groups=3, backend=backend), np.concatenate(parts, axis=3)) < 1e-13


def test_groups_equal_to_channels_is_depthwise():
    rng = np.random.default_rng(4)
    x, k, _ = _case(rng, 1, 5, 5, 4, 8, 3, 3, groups=4)  # depth multiplier 2: filters 2c, 2c + 1 see channel c
    y = conv2d(x, k, groups=4, padding="same", backend="numba")
    for c in range(4):
        alone = conv2d(x[..., c : c + 1], k[..., 2 * c : 2 * c + 2], padding="same", backend="reference")
        assert rel_error(y[..., 2 * c : 2 * c + 2], alone) < 1e-13


# --------------------------------------------------------------------------- backends agree
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 2),
    h=st.integers(1, 10),
    w=st.integers(1, 10),
    groups=st.sampled_from([1, 2, 3]),
    cg=st.integers(1, 3),
    fg=st.integers(1, 3),
    kh=st.integers(1, 3),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 2),
    dh=st.integers(1, 3),
    dw=st.integers(1, 3),
    padding=st.sampled_from(PADDINGS),
    seed=st.integers(0, 2**16),
)
def test_backends_agree_with_reference(n, h, w, groups, cg, fg, kh, kw, sh, sw, dh, dw, padding, seed):
    x, k, b = _case(np.random.default_rng(seed), n, h, w, cg * groups, fg * groups, kh, kw, groups)
    try:
        window_geometry(x.shape, (kh, kw), (sh, sw), padding, dilation=(dh, dw))
    except ValueError:
        with pytest.raises(ValueError, match="kernel"):
            conv2d(x, k, b, strides=(sh, sw), padding=padding, dilation_rate=(dh, dw), groups=groups)
        return
    geo = dict(strides=(sh, sw), padding=padding, dilation_rate=(dh, dw), groups=groups)
    backends_agree(conv2d, conv2d_backward, x, k, b, **geo)


# Sizes that take each numba path (above the direct loop's DIRECT_MACS): space-to-batch with the
# tiled kernel and with Winograd (3×3, C ≥ 16), dilation along one axis with a stride along the
# other, the direct parallel loops (stride and dilation on one axis), groups, odd sizes.
NUMBA_PATHS = [
    # n, h, w, c_in, c_out, kh, kw, strides, padding, dilation, groups
    (2, 17, 19, 16, 24, 3, 3, 1, "same", 2, 1),
    (1, 20, 21, 6, 8, 3, 2, 1, "valid", (2, 3), 1),
    (2, 15, 16, 6, 10, 3, 2, (1, 2), "same", (3, 1), 1),
    (2, 18, 17, 8, 12, 3, 3, 2, "same", 2, 1),
    (2, 14, 13, 12, 12, 3, 3, 1, ((2, 1), (0, 3)), 1, 3),
    (1, 16, 15, 32, 32, 3, 3, 1, 1, 2, 2),
    (1, 9, 9, 4, 4, 3, 3, 1, "valid", 2, 4),
    (2, 16, 12, 8, 8, 3, 3, 1, "same", (2, 3), 1),  # D divides OH and OW: the sub-grids in one call
]


@pytest.mark.parametrize("case", NUMBA_PATHS)
def test_every_path_agrees_with_reference(case):
    n, h, w, c_in, c_out, kh, kw, strides, padding, dilation, groups = case
    x, k, b = _case(np.random.default_rng(5), n, h, w, c_in, c_out, kh, kw, groups)
    geo = dict(strides=strides, padding=padding, dilation_rate=dilation, groups=groups)
    backends_agree(conv2d, conv2d_backward, x, k, b, **geo)


def test_dilation_1_groups_1_is_the_fast_kernel_unchanged():
    """The default path calls the same kernels as before, with no copy: the same bits."""
    x, k, b = _case(np.random.default_rng(6), 2, 12, 12, 16, 8, 3, 3, groups=1, dtype=np.float32)
    y = conv2d(x, k, b, padding="same", backend="numba")
    assert np.array_equal(y, fast.conv2d_forward(x, k, b, (1, 1), (1, 1, 1, 1)))
    dy = np.ones_like(y)
    for got, want in zip(
        conv2d_backward(dy, x, k, padding="same"), fast.conv2d_backward(dy, x, k, (1, 1), (1, 1, 1, 1))
    ):
        assert np.array_equal(got, want)


@pytest.mark.parametrize("size", [5, 16])  # the direct loops, then the fast kernels (space-to-batch)
@pytest.mark.parametrize("strides", [1, 2])
@pytest.mark.parametrize("groups", [1, 2])
def test_dx_is_the_shared_transposed_convolution(size, strides, groups):
    """conv2d_backward's dx and conv2d_input_gradient (conv2d_transpose's kernel) give the same bits."""
    x, k, _ = _case(np.random.default_rng(7), 2, size, size + 1, 8, 6, 3, 3, groups)
    _, st_, pads, (oh, ow) = window_geometry(x.shape, (3, 3), strides, "same", dilation=2)
    dy = np.random.default_rng(8).standard_normal((2, oh, ow, 6))
    for backend in BACKENDS:
        dx, _, _ = conv2d_backward(
            dy, x, k, strides=strides, padding="same", dilation_rate=2, groups=groups, backend=backend
        )
        assert np.array_equal(dx, conv2d_input_gradient(dy, k, x.shape, st_, pads, (2, 2), groups, backend))


@pytest.mark.parametrize("backend", BACKENDS)
# The direct loops; space-to-batch with sub-grids of unequal and of equal sizes; stride with dilation.
@pytest.mark.parametrize("strides, size", [(1, 5), (1, 13), (1, 16), (2, 25)])
def test_nonfinite_values_propagate_as_in_the_reference(backend, strides, size):
    """IEEE on the definition: a pad is a multiplied zero; no made-up zero meets an inf."""
    x, k, b = _case(np.random.default_rng(9), 1, size, size, 4, 5, 3, 3, groups=1)
    x[0, 3, 2, 1] = np.inf
    k[1, 2, 0, 3] = np.nan
    oh = ow = -(-size // strides)
    dy = np.random.default_rng(10).standard_normal((1, oh, ow, 5))
    dy[0, oh - 2, ow - 2, 2] = -np.inf
    geo = dict(strides=strides, padding="same", dilation_rate=2)
    with np.errstate(all="ignore"):  # inf − inf, 0·inf: the point of this test
        want = [conv2d(x, k, b, backend="reference", **geo), *conv2d_backward(dy, x, k, backend="reference", **geo)]
        got = [conv2d(x, k, b, backend=backend, **geo), *conv2d_backward(dy, x, k, backend=backend, **geo)]
    for g, w in zip(got, want):
        scale = np.abs(w[np.isfinite(w)]).max()
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-13 * scale)  # same NaN/inf places, values to rounding


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("strides, dilation, groups", [(1, 2, 1), (2, (2, 3), 2), ((1, 2), (3, 1), 4)])
def test_gradcheck(backend, strides, dilation, groups):
    x, k, b = _case(np.random.default_rng(11), 1, 7, 8, 4, 4, 2, 2, groups)
    geo = dict(strides=strides, padding="same", dilation_rate=dilation, groups=groups)
    errors = gradcheck_errors(conv2d, conv2d_backward, x, k, b, backend, **geo)
    assert max(errors.values()) < 1e-7


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, kernel_shape, match",
    [
        (dict(groups=3), (3, 3, 1, 6), "groups=3 must divide the input channels"),
        (dict(groups=2), (3, 3, 2, 5), "groups=2 must divide the output channels"),
        (dict(groups=2), (3, 3, 4, 6), r"kernel must have C_in / groups = 4 / 2 = 2"),
        (dict(groups=1), (3, 3, 2, 6), "kernel has C_in=2"),
        (dict(groups=0), (3, 3, 4, 6), "groups must be a positive int"),
        (dict(dilation_rate=0), (3, 3, 4, 6), "dilation_rate must be an int >= 1"),
        (dict(dilation_rate=(1, -2)), (3, 3, 4, 6), "dilation_rate"),
        (dict(dilation_rate=5), (3, 3, 4, 6), r"kernel 3×3 with dilation_rate \(5, 5\) \(it spans 11×11\)"),
    ],
)
def test_bad_arguments_are_named(kwargs, kernel_shape, match):
    x = np.zeros((1, 9, 9, 4))
    with pytest.raises(ValueError, match=match):
        conv2d(x, np.zeros(kernel_shape), **kwargs)
    with pytest.raises(ValueError, match=match):
        conv2d_backward(np.zeros((1, 7, 7, kernel_shape[3])), x, np.zeros(kernel_shape), **kwargs)


@pytest.mark.parametrize("value, name", [(1.5, "groups"), ("2", "groups"), (True, "groups"), (2.0, "dilation_rate")])
def test_bad_types_are_named(value, name):
    with pytest.raises(TypeError, match=name):
        conv2d(np.zeros((1, 5, 5, 2)), np.zeros((3, 3, 2, 2)), **{name: value})


def test_dy_shape_names_the_dilation():
    with pytest.raises(ValueError, match=r"dy must have .* \(1, 5, 5, 2\).*dilation_rate=\(2, 2\)"):
        conv2d_backward(np.zeros((1, 7, 7, 2)), np.zeros((1, 9, 9, 2)), np.zeros((3, 3, 2, 2)), dilation_rate=2)


# --------------------------------------------------------------------------- TensorFlow
TF_CASES = [
    # h, w, c_in, c_out, kh, kw, strides, padding, dilation, groups
    (9, 10, 3, 4, 3, 3, 1, "SAME", 2, 1),
    (11, 9, 4, 6, 3, 2, 1, "VALID", (3, 2), 1),
    (10, 11, 3, 5, 3, 3, 2, "SAME", 2, 1),  # stride > 1 with dilation: tf.nn.conv2d takes it
    (8, 9, 6, 4, 3, 3, 1, "SAME", 1, 2),
    (16, 15, 16, 16, 3, 3, 1, "SAME", 2, 4),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", TF_CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_matches_tensorflow(tf, case, dtype):
    """Forward (tf.nn.conv2d) and all three gradients (GradientTape) for every backend.

    TensorFlow 2.21's CPU kernels have no dilated and no grouped Conv2DBackpropInput, so the
    gradients are taken through tf.nn.convolution, which runs dilation as space-to-batch
    (it refuses stride > 1 with dilation > 1: there only the forward is compared), one call
    per group on tf.split channel blocks, concatenated (the forward also as one grouped
    tf.nn.conv2d, which the CPU supports).
    """
    h, w, c_in, c_out, kh, kw, strides, padding, dilation, groups = case
    x, k, b = _case(np.random.default_rng(12), 2, h, w, c_in, c_out, kh, kw, groups, dtype)
    xt, kt, bt = (tf.Variable(a) for a in (x, k, b))
    y_tf = tf.nn.conv2d(xt, kt, strides=strides, padding=padding, dilations=dilation) + bt
    dy = np.random.default_rng(13).standard_normal(y_tf.shape).astype(dtype)
    want = [y_tf.numpy()]
    if strides == 1 or dilation == 1:
        with tf.GradientTape() as tape:
            parts = [
                tf.nn.convolution(xg, kg, strides=strides, padding=padding, dilations=dilation)
                for xg, kg in zip(tf.split(xt, groups, axis=3), tf.split(kt, groups, axis=3))
            ]
            yt = tf.concat(parts, axis=3) + bt
            loss = tf.reduce_sum(yt * dy)
        assert rel_error(yt.numpy(), want[0]) < 1e-5
        want += [g.numpy() for g in tape.gradient(loss, [xt, kt, bt])]
    geo = dict(strides=strides, padding=padding.lower(), dilation_rate=dilation, groups=groups)
    for backend in BACKENDS:
        got = [conv2d(x, k, b, backend=backend, **geo), *conv2d_backward(dy, x, k, backend=backend, **geo)]
        for g, wnt in zip(got, want):
            assert g.dtype == dtype
            assert rel_error(g, wnt) < (1e-5 if dtype == np.float32 else 1e-12), backend


@pytest.mark.tf
def test_matches_keras_conv2d_groups_and_dilation(tf):
    keras = pytest.importorskip("keras")
    x, k, b = _case(np.random.default_rng(14), 2, 12, 12, 6, 9, 3, 3, groups=3)
    layer = keras.layers.Conv2D(9, 3, padding="same", dilation_rate=2, groups=3, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([k, b])
    want = layer(x).numpy()
    for backend in BACKENDS:
        got = conv2d(x, k, b, padding="same", dilation_rate=2, groups=3, backend=backend)
        assert rel_error(got, want) < 1e-12
