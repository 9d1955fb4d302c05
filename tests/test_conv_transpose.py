"""conv2d_transpose: d2l's and the conv_arithmetic guide's examples, Keras' output-size rule, every backend
against the reference scatter loops, the adjoint identity with conv2d, the input gradient it shares with
conv2d_backward, gradcheck, TensorFlow/Keras parity and the errors."""

import itertools

import numpy as np
import pytest
from conftest import BACKENDS, DTYPES
from conv_helpers import backends_agree, gradcheck_errors, rel_error
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convlab.ops.conv import conv2d, conv2d_backward
from convlab.ops.conv_transpose import conv2d_transpose, conv2d_transpose_backward
from convlab.shapes.sizes import window_geometry
from convlab.shapes.transpose import conv_transpose_output_size, transpose_geometry


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def _case(rng, n, h, w, c_in, c_out, kh, kw, dtype=np.float64):
    x = rng.standard_normal((n, h, w, c_in)).astype(dtype)
    k = rng.standard_normal((kh, kw, c_out, c_in)).astype(dtype)  # Keras' Conv2DTranspose layout
    b = rng.standard_normal(c_out).astype(dtype)
    return x, k, b


def _one(a):
    return np.asarray(a, np.float64)[None, :, :, None]


# --------------------------------------------------------------------------- worked examples
D2L_X = [[0.0, 1.0], [2.0, 3.0]]
D2L_K = [[0.0, 1.0], [2.0, 3.0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_d2l_worked_examples(backend, dtype):
    """d2l.ai §14.10: the basic operation, padding=1 and stride 2."""
    x, k = _one(D2L_X).astype(dtype), _one(D2L_K)[0, :, :, :, None].astype(dtype)
    y = conv2d_transpose(x, k, backend=backend)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y[0, :, :, 0], [[0, 0, 1], [0, 4, 6], [4, 12, 9]])
    np.testing.assert_array_equal(conv2d_transpose(x, k, padding=1, backend=backend)[0, :, :, 0], [[4]])
    np.testing.assert_array_equal(
        conv2d_transpose(x, k, strides=2, backend=backend)[0, :, :, 0],
        [[0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]],
    )


def test_d2l_shapes_round_trip():
    """d2l: a convolution (k=5, padding 2, stride 3) and its transpose map 16×16 back to 16×16."""
    x = np.random.default_rng(0).standard_normal((1, 16, 16, 10))
    k = np.random.default_rng(1).standard_normal((5, 5, 10, 20))
    y = conv2d(x, k, padding=2, strides=3)
    assert y.shape == (1, 6, 6, 20)
    assert conv2d_transpose(y, k, padding=2, strides=3).shape == x.shape


def test_d2l_matrix_transposition():
    """d2l: the convolution is y = W·x for a sparse W; the transposed convolution is Wᵀ·z."""
    k = np.array([[1.0, 2.0], [3.0, 4.0]])
    basis = np.eye(9).reshape(9, 1, 3, 3, 1)
    w = np.stack([conv2d(e, k[:, :, None, None]).ravel() for e in basis], axis=1)  # (4, 9)
    np.testing.assert_array_equal(w[0], [1, 2, 0, 3, 4, 0, 0, 0, 0])
    z = np.arange(4.0).reshape(1, 2, 2, 1)
    for backend in BACKENDS:
        np.testing.assert_array_equal(
            conv2d_transpose(z, k[:, :, None, None], backend=backend).ravel(), w.T @ z.ravel()
        )


# Dumoulin & Visin (2016), §4.1–4.6: the forward convolution (i, k, s, p) and its transpose, whose
# input is the convolution's output size i' and whose output is i again (with a = output_padding in §4.6).
GUIDE = [
    # i, k, s, padding, output_padding  (figure)
    (4, 3, 1, 0, None),  # 4.1: no padding, unit strides → o' = i' + (k − 1)
    (5, 4, 1, 2, None),  # 4.2: zero padding, unit strides
    (5, 3, 1, "same", None),  # 4.3: half padding
    (5, 3, 1, 2, None),  # 4.4: full padding
    (5, 3, 2, 0, None),  # 4.5: no padding, non-unit strides → o' = s(i' − 1) + k
    (5, 3, 2, 1, None),  # 4.6: zero padding, non-unit strides → o' = s(i' − 1) + k − 2p
    (6, 3, 2, 1, 1),  # 4.6 with a = (i + 2p − k) mod s = 1 → o' = s(i' − 1) + a + k − 2p
]


@pytest.mark.parametrize("i, k, s, padding, a", GUIDE)
def test_conv_arithmetic_guide_shapes(i, k, s, padding, a):
    x = np.random.default_rng(2).standard_normal((1, i, i, 1))
    kernel = np.ones((k, k, 1, 1))
    y = conv2d(x, kernel, strides=s, padding=padding)
    assert conv_transpose_output_size(y.shape[1], k, padding, s, output_padding=a) == i
    for backend in BACKENDS:
        assert (
            conv2d_transpose(y, kernel, strides=s, padding=padding, output_padding=a, backend=backend).shape == x.shape
        )


# --------------------------------------------------------------------------- Keras' output-size rule
@pytest.mark.tf
def test_output_size_is_keras_rule(tf):
    pytest.importorskip("keras")
    from keras.src.backend.common.backend_utils import compute_conv_transpose_output_shape

    for h, k, s, d, padding in itertools.product(range(1, 6), range(1, 5), range(1, 4), (1, 2), ("valid", "same")):
        for a in (None, *range(s)):
            want = compute_conv_transpose_output_shape((1, h, h, 1), (k, k), 1, s, padding, a, "channels_last", d)[1]
            if want < 1:  # "same", even kernel, output_padding 0, one pixel: nothing to produce
                with pytest.raises(ValueError, match="output_padding"):
                    conv_transpose_output_size(h, k, padding, s, output_padding=a, dilation=d)
                continue
            assert conv_transpose_output_size(h, k, padding, s, output_padding=a, dilation=d) == want


def test_same_with_even_kernel_and_output_padding_0():
    """O = (N − 1)·S, where TensorFlow refuses; convlab pads K_eff/2 each side (Keras' JAX backend)."""
    (oh, ow), pads = transpose_geometry((1, 3, 3, 1), 4, 2, "same", 0)
    assert (oh, ow) == (4, 4) and pads == (2, 2, 2, 2)
    x, k, _ = _case(np.random.default_rng(3), 1, 3, 3, 2, 2, 4, 4)
    y = conv2d_transpose(x, k, strides=2, padding="same", output_padding=0)
    dx, _, _ = conv2d_backward(x, np.zeros((1, 4, 4, 2)), k, strides=2, padding=2)
    np.testing.assert_array_equal(y, dx)


# --------------------------------------------------------------------------- backends agree
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(1, 2),
    h=st.integers(1, 6),
    w=st.integers(1, 6),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 3),
    sh=st.integers(1, 3),
    sw=st.integers(1, 2),
    dh=st.integers(1, 2),
    dw=st.integers(1, 3),
    padding=st.sampled_from(["valid", "same", 1, (0, 2), ((2, 0), (1, 1))]),
    a=st.sampled_from([None, 0, 1, 2]),
    seed=st.integers(0, 2**16),
)
def test_backends_agree_with_reference(n, h, w, c_in, c_out, kh, kw, sh, sw, dh, dw, padding, a, seed):
    x, k, b = _case(np.random.default_rng(seed), n, h, w, c_in, c_out, kh, kw)
    output_padding = None if a is None else (min(a, sh - 1), min(a, sw - 1))
    try:
        transpose_geometry(x.shape, (kh, kw), (sh, sw), padding, output_padding, (dh, dw))
    except ValueError:
        with pytest.raises(ValueError, match="padding"):
            conv2d_transpose(x, k, b, strides=(sh, sw), padding=padding, output_padding=output_padding)
        return
    geo = dict(strides=(sh, sw), padding=padding, output_padding=output_padding, dilation_rate=(dh, dw))
    backends_agree(conv2d_transpose, conv2d_transpose_backward, x, k, b, dy_seed=4, **geo)


# Sizes that take each numba path: the tiled transposed convolution (stride 1 and 2), col2im for few
# output channels, space-to-batch with dilation, the direct parallel loops (stride and dilation).
NUMBA_PATHS = [
    # n, h, w, c_in, c_out, k, strides, padding, output_padding, dilation
    (2, 8, 9, 16, 12, 3, 2, "same", None, 1),
    (1, 10, 9, 12, 20, 3, 1, "valid", None, 1),
    (2, 7, 8, 16, 1, 4, 2, "same", 1, 1),
    (1, 12, 11, 16, 16, 3, 1, "same", None, 2),
    (2, 9, 8, 10, 8, 3, (2, 3), 1, (1, 2), (2, 1)),
]


@pytest.mark.parametrize("case", NUMBA_PATHS)
def test_every_path_agrees_with_reference(case):
    n, h, w, c_in, c_out, k, strides, padding, output_padding, dilation = case
    x, kern, b = _case(np.random.default_rng(5), n, h, w, c_in, c_out, k, k)
    geo = dict(strides=strides, padding=padding, output_padding=output_padding, dilation_rate=dilation)
    backends_agree(conv2d_transpose, conv2d_transpose_backward, x, kern, b, dy_seed=4, **geo)


# --------------------------------------------------------------------------- the transpose of conv2d
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "strides, padding, dilation", [(1, "valid", 1), (2, "same", 1), (3, ((1, 2), (0, 1)), 1), (1, "same", 2), (2, 1, 2)]
)
def test_adjoint_of_conv2d(backend, strides, padding, dilation):
    """⟨conv2d(a, k), x⟩ = ⟨a, conv2d_transpose(x, k)⟩ for every a, x: the transpose of the matrix C."""
    rng = np.random.default_rng(6)
    a = rng.standard_normal((2, 11, 10, 3))  # the transposed convolution's output size
    k = rng.standard_normal((3, 2, 3, 4))
    y = conv2d(a, k, strides=strides, padding=padding, dilation_rate=dilation, backend=backend)
    x = rng.standard_normal(y.shape)
    _, (t, b_, l, r), _ = window_geometry(a.shape, (3, 2), strides, padding, dilation=dilation)[1:]
    sh, sw = (strides, strides) if isinstance(strides, int) else strides
    output_padding = ((11 + t + b_ - dilation * 2 - 1) % sh, (10 + l + r - dilation - 1) % sw)
    z = conv2d_transpose(
        x,
        k,
        strides=strides,
        padding=((t, b_), (l, r)),
        output_padding=output_padding,
        dilation_rate=dilation,
        backend=backend,
    )
    assert z.shape == a.shape
    assert np.vdot(y, x) == pytest.approx(np.vdot(a, z), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("size", [6, 15])  # the direct loops, then the fast kernels
@pytest.mark.parametrize("strides, dilation", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_conv2d_backward_dx_is_conv2d_transpose_of_dy(backend, size, strides, dilation):
    """The same numbers, bit for bit: both are conv2d_input_gradient."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, size, size + 2, 8))
    k = rng.standard_normal((3, 3, 8, 6))
    _, _, (t, b, l, r), (oh, ow) = window_geometry(x.shape, (3, 3), strides, "same", dilation=dilation)
    dy = rng.standard_normal((2, oh, ow, 6))
    dx, _, _ = conv2d_backward(dy, x, k, strides=strides, padding="same", dilation_rate=dilation, backend=backend)
    eff = 2 * dilation + 1
    a = ((size + t + b - eff) % strides, (size + 2 + l + r - eff) % strides)
    geo = dict(strides=strides, padding=((t, b), (l, r)), output_padding=a, dilation_rate=dilation)
    np.testing.assert_array_equal(dx, conv2d_transpose(dy, k, backend=backend, **geo))


# --------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "strides, padding, output_padding, dilation", [(2, "same", None, 1), (2, "valid", 1, 1), (1, 1, None, 2)]
)
def test_gradcheck(backend, strides, padding, output_padding, dilation):
    x, k, b = _case(np.random.default_rng(8), 1, 3, 4, 3, 2, 3, 2)
    geo = dict(strides=strides, padding=padding, output_padding=output_padding, dilation_rate=dilation)
    errors = gradcheck_errors(conv2d_transpose, conv2d_transpose_backward, x, k, b, backend, **geo)
    assert max(errors.values()) < 1e-7


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, kernel_shape, match",
    [
        (dict(strides=2, output_padding=2), (3, 3, 2, 4), "output_padding must be strictly less than strides"),
        (dict(output_padding=1), (3, 3, 2, 4), "output_padding is 1 but strides is 1"),
        (dict(strides=(2, 3), output_padding=(1, 3)), (3, 3, 2, 4), "along the columns output_padding is 3"),
        (dict(output_padding=-1), (3, 3, 2, 4), "output_padding"),
        (dict(), (3, 3, 4, 2), r"kernel has C_in=2 .*\(KH, KW, C_out, C_in\)"),
        (dict(padding=3), (3, 3, 2, 4), "padding=3 crops more than the transposed convolution produces"),
        (dict(dilation_rate=0), (3, 3, 2, 4), "dilation_rate"),
        (dict(strides=0), (3, 3, 2, 4), "strides"),
        (dict(padding="full"), (3, 3, 2, 4), "padding"),
    ],
)
def test_bad_arguments_are_named(kwargs, kernel_shape, match):
    x = np.zeros((1, 2, 2, 4))
    with pytest.raises(ValueError, match=match):
        conv2d_transpose(x, np.zeros(kernel_shape), **kwargs)
    with pytest.raises(ValueError, match=match):
        conv2d_transpose_backward(np.zeros((1, 4, 4, 2)), x, np.zeros(kernel_shape), **kwargs)


def test_bad_bias_and_dy_are_named():
    x, k = np.zeros((1, 2, 2, 4)), np.zeros((3, 3, 2, 4))
    with pytest.raises(ValueError, match=r"bias must have shape \(2,\)"):
        conv2d_transpose(x, k, np.zeros(4))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape .* \(1, 5, 5, 2\)"):
        conv2d_transpose_backward(np.zeros((1, 4, 4, 2)), x, k, strides=2, padding="valid", output_padding=None)
    with pytest.raises(TypeError, match="output_padding"):
        conv2d_transpose(x, k, strides=2, output_padding=0.5)
    with pytest.raises(TypeError, match="need_dx"):
        conv2d_transpose_backward(np.zeros((1, 4, 4, 2)), x, k, need_dx=1)


def test_need_dx_false():
    x, k, _ = _case(np.random.default_rng(9), 1, 3, 3, 2, 2, 3, 3)
    dy = np.ones((1, 5, 5, 2))
    full = conv2d_transpose_backward(dy, x, k)
    dx, dk, db = conv2d_transpose_backward(dy, x, k, need_dx=False)
    assert dx is None
    np.testing.assert_array_equal(dk, full[1])
    np.testing.assert_array_equal(db, full[2])


# --------------------------------------------------------------------------- TensorFlow / Keras
KERAS_CASES = [
    # h, w, c_in, c_out, k, strides, padding, output_padding
    (4, 5, 3, 2, 3, 2, "same", None),
    (4, 5, 3, 2, 3, 2, "valid", None),
    (3, 3, 2, 4, 2, 2, "same", 1),
    (5, 4, 3, 3, 4, 3, "valid", 2),
    (6, 5, 16, 12, 3, 2, "same", 1),
    (5, 5, 4, 3, 2, 3, "valid", None),
]


@pytest.mark.tf
@pytest.mark.parametrize("case", KERAS_CASES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_matches_keras_conv2d_transpose(tf, case, dtype):
    """Keras' Conv2DTranspose (which calls tf.nn.conv2d_transpose): forward and the three gradients."""
    keras = pytest.importorskip("keras")
    h, w, c_in, c_out, k, strides, padding, a = case
    x, kern, b = _case(np.random.default_rng(10), 2, h, w, c_in, c_out, k, k, dtype)
    layer = keras.layers.Conv2DTranspose(c_out, k, strides=strides, padding=padding, output_padding=a, dtype=dtype)
    layer.build(x.shape)
    layer.set_weights([kern, b])
    xt = tf.Variable(x)
    with tf.GradientTape() as tape:
        yt = layer(xt)
        dy = np.random.default_rng(11).standard_normal(yt.shape).astype(dtype)
        loss = tf.reduce_sum(yt * dy)
    want = [yt.numpy(), *(g.numpy() for g in tape.gradient(loss, [xt, *layer.trainable_weights]))]
    geo = dict(strides=strides, padding=padding, output_padding=a)
    for backend in BACKENDS:
        got = [
            conv2d_transpose(x, kern, b, backend=backend, **geo),
            *conv2d_transpose_backward(dy, x, kern, backend=backend, **geo),
        ]
        for g, wnt in zip(got, want):
            assert g.dtype == dtype and g.shape == wnt.shape
            assert rel_error(g, wnt) < (1e-5 if dtype == np.float32 else 1e-12), backend


@pytest.mark.tf
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("strides, padding, dilation", [(2, "SAME", 1), (1, "SAME", 2), (1, "VALID", (2, 3))])
def test_matches_tensorflow_gradient_of_conv2d(tf, dtype, strides, padding, dilation):
    """The definition, by TensorFlow: the input gradient of a convolution (tf.nn.conv2d_transpose
    without dilation; with dilation, the CPU has no dilated transposed kernel, so GradientTape of
    tf.nn.convolution, which dilates by space-to-batch) and the kernel gradient."""
    rng = np.random.default_rng(12)
    x, k, _ = _case(rng, 2, 5, 6, 4, 3, 3, 3, dtype)
    geo = dict(strides=strides, padding=padding.lower(), dilation_rate=dilation)
    (oh, ow), _ = transpose_geometry(x.shape, (3, 3), strides, padding.lower(), None, dilation)
    a = tf.Variable(np.zeros((2, oh, ow, 3), dtype))
    kt = tf.Variable(k)
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        conv = tf.nn.convolution(a, kt, strides=strides, padding=padding, dilations=dilation)
        assert tuple(conv.shape) == x.shape
        inner = tf.reduce_sum(conv * xt)  # ⟨C·a, x⟩ = ⟨a, Cᵀ·x⟩: its gradient in a is Cᵀ·x
    want = tape.gradient(inner, a).numpy()
    if dilation == 1:
        direct = tf.nn.conv2d_transpose(x, k, (2, oh, ow, 3), strides, padding).numpy()
        assert rel_error(direct, want) < 1e-6
    dy = rng.standard_normal((2, oh, ow, 3)).astype(dtype)
    at = tf.Variable(dy)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.convolution(at, kt, strides=strides, padding=padding, dilations=dilation) * xt)
    dk_want = tape.gradient(loss, kt).numpy()  # ⟨dy, Cᵀ(k)·x⟩ = ⟨C(k)·dy, x⟩
    dx_want = tf.nn.convolution(dy, k, strides=strides, padding=padding, dilations=dilation).numpy()
    for backend in BACKENDS:
        y = conv2d_transpose(x, k, backend=backend, **geo)
        assert rel_error(y, want) < (1e-5 if dtype == np.float32 else 1e-12)
        dx, dk, db = conv2d_transpose_backward(dy, x, k, backend=backend, **geo)
        assert rel_error(dx, dx_want) < (1e-5 if dtype == np.float32 else 1e-12)
        assert rel_error(dk, dk_want) < (1e-5 if dtype == np.float32 else 1e-12)


def test_large_transposed_convolution_takes_the_phase_kernel_and_equals_numpy():
    """Above a million multiply-adds the numba backend splits the output into stride phases."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 16, 16, 32))
    k = rng.standard_normal((4, 4, 16, 32))  # (KH, KW, C_out, C_in): 2·16·16·32·16·16 ≈ 4.2M multiply-adds
    b = rng.standard_normal(16)
    for padding in ("same", "valid"):
        want = conv2d_transpose(x, k, b, strides=2, padding=padding, backend="numpy")
        got = conv2d_transpose(x, k, b, strides=2, padding=padding, backend="numba")
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_input_gradient_of_one_image_with_one_channel_equals_the_reference():
    """N = 1, C_in = 1 (MNIST's first layer, one image): the numba input gradient splits rows into bands."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 29, 31, 1))
    k = rng.standard_normal((3, 3, 1, 8))
    for strides in (1, 2):
        dy = rng.standard_normal(conv2d(x, k, strides=strides).shape)
        want = conv2d_backward(dy, x, k, strides=strides, backend="reference")[0]
        got = conv2d_backward(dy, x, k, strides=strides, backend="numba")[0]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
