"""Depthwise and separable convolution: every backend equals the reference loops, the reference
equals TensorFlow (``tf.nn.depthwise_conv2d`` with dilations, ``tf.nn.separable_conv2d``, Keras'
layers) forward and backward, gradcheck in float64, and two cross-checks that use no depthwise
code: a depthwise convolution is an ordinary one with a block-diagonal kernel (dilation built
into the kernel as zeros), and a separable one is depthwise then a 1×1 ``conv2d``.
"""

from __future__ import annotations

import numpy as np
import pytest

from convlab.ops.conv import conv2d, conv2d_backward
from convlab.ops.depthwise import (
    depthwise_conv2d,
    depthwise_conv2d_backward,
    separable_conv2d,
    separable_conv2d_backward,
)
from convlab.ops.gradcheck import gradcheck
from convlab.shapes.sizes import resolve_padding

BACKENDS = ["numpy", "numba"]
DTYPES = [np.float32, np.float64]
TOL = {np.float32: 1e-5, np.float64: 1e-10}  # max |error| / max |reference|

# (N, H, W, C, M, (KH, KW), strides, padding, dilation_rate)
CASES = [
    (2, 7, 8, 3, 1, (3, 3), 1, "valid", 1),
    (1, 8, 8, 2, 2, (3, 3), 2, "same", 1),  # asymmetric "same" (pad 0 before, 1 after)
    (2, 9, 7, 3, 3, (3, 2), 1, "same", 2),  # "same" on the dilated 5×3 window
    (1, 10, 9, 2, 2, (2, 3), (2, 1), ((1, 2), (0, 1)), (2, 3)),  # explicit asymmetric pads
    (1, 6, 7, 4, 1, (1, 1), 2, "valid", 1),  # 1×1, stride 2: last row/col uncovered
    (2, 11, 10, 1, 3, (3, 3), 2, 1, 2),  # stride and dilation both 2, int padding
    (1, 5, 5, 2, 1, (5, 5), 1, "valid", 1),  # kernel = input
    (1, 9, 9, 2, 1, (3, 3), 3, "same", 2),
]
IDS = [f"case{i}" for i in range(len(CASES))]


def _data(case, dtype, seed=0, with_bias=True):
    n, h, w, c, m, ks, *_ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal(ks + (c, m)).astype(dtype)
    b = rng.standard_normal(c * m).astype(dtype) if with_bias else None
    return x, k, b


def _geometry(case):
    *_, strides, padding, dilation = case
    return {"strides": strides, "padding": padding, "dilation_rate": dilation}


def _close(actual, expected, dtype, what=""):
    scale = max(float(np.max(np.abs(expected))), 1e-30)
    err = float(np.max(np.abs(np.asarray(actual, np.float64) - np.asarray(expected, np.float64)))) / scale
    assert err <= TOL[dtype], f"{what}: max |error| / scale = {err:.3g} > {TOL[dtype]}"


# --------------------------------------------------------------------------- backends == reference
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_depthwise_backends_equal_reference(case, dtype):
    x, k, b = _data(case, dtype)
    geo = _geometry(case)
    y_ref = depthwise_conv2d(x, k, b, backend="reference", **geo)
    n, h, w, c, m = case[:5]
    assert y_ref.dtype == dtype and y_ref.shape[0] == n and y_ref.shape[3] == c * m
    dy = np.random.default_rng(1).standard_normal(y_ref.shape).astype(dtype)
    g_ref = depthwise_conv2d_backward(dy, x, k, backend="reference", **geo)
    for backend in BACKENDS:
        y = depthwise_conv2d(x, k, b, backend=backend, **geo)
        assert y.dtype == dtype and y.shape == y_ref.shape
        _close(y, y_ref, dtype, f"{backend} forward")
        grads = depthwise_conv2d_backward(dy, x, k, backend=backend, **geo)
        for name, g, gr in zip(("dx", "dkernel", "dbias"), grads, g_ref):
            assert g.dtype == dtype and g.shape == gr.shape
            _close(g, gr, dtype, f"{backend} {name}")
        dx_none, dk, db = depthwise_conv2d_backward(dy, x, k, backend=backend, need_dx=False, **geo)
        assert dx_none is None
        _close(dk, g_ref[1], dtype, f"{backend} dkernel (need_dx=False)")


@pytest.mark.parametrize("case", CASES[:4], ids=IDS[:4])
def test_separable_backends_equal_reference(case):
    dtype = np.float64
    x, dk, b = _data(case, dtype)
    c, m = case[3], case[4]
    rng = np.random.default_rng(2)
    pk = rng.standard_normal((1, 1, c * m, 5))
    b = rng.standard_normal(5)
    geo = _geometry(case)
    y_ref = separable_conv2d(x, dk, pk, b, backend="reference", **geo)
    dy = rng.standard_normal(y_ref.shape)
    g_ref = separable_conv2d_backward(dy, x, dk, pk, backend="reference", **geo)
    for backend in BACKENDS:
        _close(separable_conv2d(x, dk, pk, b, backend=backend, **geo), y_ref, dtype, backend)
        grads = separable_conv2d_backward(dy, x, dk, pk, backend=backend, **geo)
        for g, gr in zip(grads, g_ref):
            _close(g, gr, dtype, backend)


# --------------------------------------------------------------------------- cross-checks
def _block_diagonal(k, dilation):
    """The ordinary ``(KH_eff, KW_eff, C, C·M)`` kernel equal to the depthwise kernel ``(KH, KW, C, M)``:
    filter ``c·M + m`` reads channel ``c`` only; the dilation's holes are zero taps."""
    kh, kw, c, m = k.shape
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    full = np.zeros((dh * (kh - 1) + 1, dw * (kw - 1) + 1, c, c * m), dtype=k.dtype)
    for ch in range(c):
        for mm in range(m):
            full[::dh, ::dw, ch, ch * m + mm] = k[:, :, ch, mm]
    return full


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_depthwise_is_conv2d_with_block_diagonal_kernel(case):
    x, k, b = _data(case, np.float64)
    *_, strides, padding, dilation = case
    full = _block_diagonal(k, dilation)
    y = depthwise_conv2d(x, k, b, strides=strides, padding=padding, dilation_rate=dilation)
    np.testing.assert_allclose(y, conv2d(x, full, b, strides=strides, padding=padding, backend="numpy"), atol=1e-12)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    dx, dk, db = depthwise_conv2d_backward(dy, x, k, strides=strides, padding=padding, dilation_rate=dilation)
    dx_f, dk_f, db_f = conv2d_backward(dy, x, full, strides=strides, padding=padding, backend="numpy")
    np.testing.assert_allclose(dx, dx_f, atol=1e-12)
    np.testing.assert_allclose(db, db_f, atol=1e-12)
    # the block-diagonal kernel's gradient, read at the depthwise taps
    c, m = k.shape[2], k.shape[3]
    dh, dw = (dilation, dilation) if isinstance(dilation, int) else dilation
    for ch in range(c):
        for mm in range(m):
            np.testing.assert_allclose(dk[:, :, ch, mm], dk_f[::dh, ::dw, ch, ch * m + mm], atol=1e-12)


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
def test_separable_is_depthwise_then_pointwise(backend):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    dk = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    pk = rng.standard_normal((1, 1, 6, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    geo = {"strides": 2, "padding": "same", "dilation_rate": 1}
    z = depthwise_conv2d(x, dk, backend=backend, **geo)  # no bias in between
    y = separable_conv2d(x, dk, pk, b, backend=backend, **geo)
    assert y.dtype == np.float32 and y.shape == (2, 4, 3, 4)
    np.testing.assert_array_equal(y, conv2d(z, pk, b, backend=backend))
    np.testing.assert_allclose(y - b, separable_conv2d(x, dk, pk, backend=backend, **geo), atol=1e-5)


# --------------------------------------------------------------------------- gradcheck
GRADCHECK_CASES = [
    (1, 6, 5, 2, 2, (3, 2), 1, "same", 2),
    (1, 7, 6, 1, 2, (2, 3), (2, 1), ((1, 2), (0, 1)), (2, 3)),
    (1, 7, 7, 1, 2, (3, 3), 2, 1, 2),
]


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=["same-d2", "explicit-d23", "s2-d2"])
def test_gradcheck_depthwise(case, backend):
    x, k, b = _data(case, np.float64)
    geo = _geometry(case)
    errors = gradcheck(
        lambda x, kernel, bias: depthwise_conv2d(x, kernel, bias, backend=backend, **geo),
        lambda dy, x, kernel, bias: depthwise_conv2d_backward(dy, x, kernel, backend=backend, **geo),
        {"x": x, "kernel": k, "bias": b},
    )
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("backend", ["reference", "numba"])
def test_gradcheck_separable(backend):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 6, 5, 2))
    dk = rng.standard_normal((3, 3, 2, 2))
    pk = rng.standard_normal((1, 1, 4, 3))
    b = rng.standard_normal(3)
    geo = {"strides": (1, 2), "padding": "same", "dilation_rate": (2, 1)}
    errors = gradcheck(
        lambda x, dk, pk, b: separable_conv2d(x, dk, pk, b, backend=backend, **geo),
        lambda dy, x, dk, pk, b: separable_conv2d_backward(dy, x, dk, pk, backend=backend, **geo),
        {"x": x, "dk": dk, "pk": pk, "b": b},
    )
    assert max(errors.values()) < 1e-7, errors


# --------------------------------------------------------------------------- non-finite values
@pytest.mark.parametrize("backend", BACKENDS)
def test_nonfinite_values_propagate_as_the_reference(backend):
    """A pad is a multiplied zero (0·inf = NaN), as in the formula — also where numba skips the pads."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 5, 6, 2))
    x[0, 2, 3, 1] = np.nan
    k = rng.standard_normal((3, 3, 2, 2))
    k[0, 0, 0, 1] = np.inf
    geo = {"strides": 1, "padding": "same", "dilation_rate": 1}
    with np.errstate(invalid="ignore"):  # 0·inf and NaN arithmetic: the point of this test
        y_ref = depthwise_conv2d(x, k, backend="reference", **geo)
        y = depthwise_conv2d(x, k, backend=backend, **geo)
    assert np.isnan(y_ref).any() and np.isinf(y_ref).any()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(y_ref))
    np.testing.assert_allclose(y, y_ref, rtol=1e-12)
    dy = rng.standard_normal(y.shape)
    dy[0, 0, 0, 1] = np.inf  # its window touches the top-left pads: 0·inf reaches dkernel
    k_finite = rng.standard_normal(k.shape)
    with np.errstate(invalid="ignore"):
        got_all = depthwise_conv2d_backward(dy, x, k_finite, backend=backend, **geo)
        want_all = depthwise_conv2d_backward(dy, x, k_finite, backend="reference", **geo)
    assert np.isnan(want_all[1]).any()
    for got, want in zip(got_all, want_all):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_allclose(got, want, rtol=1e-12)


# --------------------------------------------------------------------------- errors name the argument
def test_errors_name_the_argument():
    x = np.zeros((1, 5, 5, 3))
    with pytest.raises(ValueError, match=r"kernel has C=2 .*x has 3 channels"):
        depthwise_conv2d(x, np.zeros((3, 3, 2, 1)))
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        depthwise_conv2d(x, np.zeros((3, 3, 3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"kernel must be 4-D"):
        depthwise_conv2d(x, np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="dilation_rate"):
        depthwise_conv2d(x, np.zeros((3, 3, 3, 1)), dilation_rate=0)
    with pytest.raises(ValueError, match=r"kernel 3×3 with dilation_rate \(3, 3\)"):
        depthwise_conv2d(x, np.zeros((3, 3, 3, 1)), dilation_rate=3)
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape"):
        depthwise_conv2d_backward(np.zeros((1, 3, 3, 2)), x, np.zeros((3, 3, 3, 1)))
    with pytest.raises(TypeError, match="need_dx"):
        depthwise_conv2d_backward(np.zeros((1, 3, 3, 3)), x, np.zeros((3, 3, 3, 1)), need_dx=1)
    with pytest.raises(ValueError, match="backend"):
        depthwise_conv2d(x, np.zeros((3, 3, 3, 1)), backend="cuda")
    dk = np.zeros((3, 3, 3, 2))
    with pytest.raises(ValueError, match=r"depthwise_kernel has C=2"):
        separable_conv2d(x, np.zeros((3, 3, 2, 1)), np.zeros((1, 1, 2, 4)))
    with pytest.raises(
        ValueError, match=r"pointwise_kernel must have shape \(1, 1, C·depth_multiplier, C_out\) = \(1, 1, 6"
    ):
        separable_conv2d(x, dk, np.zeros((1, 1, 3, 4)))
    with pytest.raises(ValueError, match=r"pointwise_kernel must have shape"):
        separable_conv2d(x, dk, np.zeros((3, 3, 6, 4)))
    with pytest.raises(ValueError, match=r"pointwise_kernel must be 4-D"):
        separable_conv2d(x, dk, np.zeros((6, 4)))
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\) to match pointwise_kernel C_out=4"):
        separable_conv2d(x, dk, np.zeros((1, 1, 6, 4)), np.zeros(6))
    with pytest.raises(ValueError, match=r"dy must have the forward output's shape \(N, OH, OW, C_out\)"):
        separable_conv2d_backward(np.zeros((1, 3, 3, 6)), x, dk, np.zeros((1, 1, 6, 4)))


def test_dtypes():
    x = np.arange(2 * 4 * 4 * 2).reshape(2, 4, 4, 2)  # integers → float64
    assert depthwise_conv2d(x, np.ones((2, 2, 2, 1))).dtype == np.float64
    y = depthwise_conv2d(x.astype(np.float32), np.ones((2, 2, 2, 1)))  # kernel follows x
    assert y.dtype == np.float32
    # Each output adds its 2×2 window: channel 0 of pixel (0, 0) is 0 + 2 + 8 + 10.
    assert y[0, 0, 0, 0] == 20.0


# --------------------------------------------------------------------------- TensorFlow
def _tf():
    return pytest.importorskip("tensorflow")


def _pairs(strides, dilation):
    return (strides, strides) if isinstance(strides, int) else strides, (
        (dilation, dilation) if isinstance(dilation, int) else dilation
    )


def _tf_depthwise(tf, x, k, b, strides, padding, dilation):
    """Our geometry in TensorFlow's terms; explicit padding as tf.pad inside the graph (so dx is x's)."""
    (sh, sw), (dh, dw) = _pairs(strides, dilation)
    if not isinstance(padding, str):
        t, bo, l, r = resolve_padding(tuple(x.shape[1:3]), tuple(k.shape[:2]), padding, (sh, sw))
        x = tf.pad(x, [[0, 0], [t, bo], [l, r], [0, 0]])
        padding = "valid"
    if sh == sw and (sh == 1 or (dh, dw) == (1, 1)):
        y = tf.nn.depthwise_conv2d(x, k, [1, sh, sw, 1], padding.upper(), dilations=[dh, dw])
    else:
        # TF's depthwise CPU kernel refuses unequal strides, and with strides and dilation both
        # > 1 it warns and computes something else; its CPU conv2d gradient refuses dilation.
        # The same function, in TF: tf.nn.conv2d with the block-diagonal kernel, holes included:
        # full[u·dh, v·dw, c, d·M + m] = k[u, v, c, m]·[c = d].
        kh, kw, c, m = k.shape
        place_h = np.zeros((dh * (kh - 1) + 1, kh), dtype=k.dtype.as_numpy_dtype)
        place_h[np.arange(kh) * dh, np.arange(kh)] = 1
        place_w = np.zeros((dw * (kw - 1) + 1, kw), dtype=k.dtype.as_numpy_dtype)
        place_w[np.arange(kw) * dw, np.arange(kw)] = 1
        full = tf.einsum("uvcm,cd,pu,qv->pqcdm", k, tf.eye(c, dtype=k.dtype), place_h, place_w)
        full = tf.reshape(full, (place_h.shape[0], place_w.shape[0], c, c * m))
        y = tf.nn.conv2d(x, full, [1, sh, sw, 1], padding.upper())
    return y if b is None else tf.nn.bias_add(y, b)


@pytest.mark.tf
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_depthwise_matches_tensorflow(case, dtype):
    tf = _tf()
    x, k, b = _data(case, dtype)
    *_, strides, padding, dilation = case
    geo = _geometry(case)
    xt, kt, bt = (tf.constant(a) for a in (x, k, b))
    with tf.GradientTape() as tape:
        tape.watch([xt, kt, bt])
        yt = _tf_depthwise(tf, xt, kt, bt, strides, padding, dilation)
        dy = np.random.default_rng(7).standard_normal(yt.shape).astype(dtype)
        loss = tf.reduce_sum(yt * dy)
    grads_tf = tape.gradient(loss, [xt, kt, bt])
    y_ref = depthwise_conv2d(x, k, b, backend="reference", **geo)
    assert y_ref.shape == tuple(yt.shape)
    _close(y_ref, yt.numpy(), dtype, "forward")
    _close(depthwise_conv2d(x, k, b, **geo), yt.numpy(), dtype, "numba forward")
    for backend in ("reference", "numba"):
        for name, g, gt in zip(
            ("dx", "dkernel", "dbias"), depthwise_conv2d_backward(dy, x, k, backend=backend, **geo), grads_tf
        ):
            _close(g, gt.numpy(), dtype, f"{backend} {name}")


@pytest.mark.tf
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES[:4], ids=IDS[:4])
def test_separable_matches_tensorflow(case, dtype):
    tf = _tf()
    x, dk, _ = _data(case, dtype)
    c, m = case[3], case[4]
    rng = np.random.default_rng(8)
    pk = rng.standard_normal((1, 1, c * m, 4)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    *_, strides, padding, dilation = case
    geo = _geometry(case)
    (sh, sw), (dh, dw) = _pairs(strides, dilation)
    xt, dkt, pkt, bt = (tf.constant(a) for a in (x, dk, pk, b))
    with tf.GradientTape() as tape:
        tape.watch([xt, dkt, pkt, bt])
        if isinstance(padding, str) and sh == sw and (sh == 1 or (dh, dw) == (1, 1)):
            yt = tf.nn.separable_conv2d(xt, dkt, pkt, [1, sh, sw, 1], padding.upper(), dilations=[dh, dw])
        else:
            z = _tf_depthwise(tf, xt, dkt, None, strides, padding, dilation)
            yt = tf.nn.conv2d(z, pkt, 1, "VALID")
        yt = tf.nn.bias_add(yt, bt)
        dy = rng.standard_normal(yt.shape).astype(dtype)
        loss = tf.reduce_sum(yt * dy)
    grads_tf = tape.gradient(loss, [xt, dkt, pkt, bt])
    for backend in ("reference", "numba"):
        _close(separable_conv2d(x, dk, pk, b, backend=backend, **geo), yt.numpy(), dtype, f"{backend} forward")
        grads = separable_conv2d_backward(dy, x, dk, pk, backend=backend, **geo)
        for name, g, gt in zip(("dx", "d_depthwise", "d_pointwise", "dbias"), grads, grads_tf):
            _close(g, gt.numpy(), dtype, f"{backend} {name}")


@pytest.mark.tf
def test_keras_layers_agree():
    """Keras' own layers (weights set from ours): the kernel layouts, the output-channel order
    ``c·M + m`` and SeparableConv2D's bias after the pointwise step."""
    _tf()
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 9, 8, 3)).astype(np.float32)
    dk = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    bias_dw = rng.standard_normal(6).astype(np.float32)
    layer = keras.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, dilation_rate=2)
    layer.build(x.shape)
    layer.set_weights([dk, bias_dw])
    y = depthwise_conv2d(x, dk, bias_dw, padding="same", dilation_rate=2)
    _close(y, np.asarray(layer(x)), np.float32, "DepthwiseConv2D")
    pk = rng.standard_normal((1, 1, 6, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    sep = keras.layers.SeparableConv2D(5, 3, strides=2, padding="valid", depth_multiplier=2)
    sep.build(x.shape)
    sep.set_weights([dk, pk, b])
    _close(separable_conv2d(x, dk, pk, b, strides=2), np.asarray(sep(x)), np.float32, "SeparableConv2D")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("strides,padding", [(1, "same"), (2, "valid"), (1, ((2, 0), (1, 1)))])
def test_many_channels_take_the_vector_tiles_and_equal_the_reference(dtype, strides, padding):
    """3×3 with ≥ 8 channels runs the numba backend's vector tiles (8 channels × 4 pixels): same numbers."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 11, 13, 24)).astype(dtype)
    k = rng.standard_normal((3, 3, 24, 1)).astype(dtype)
    b = rng.standard_normal(24).astype(dtype)
    want = depthwise_conv2d(x, k, b, strides=strides, padding=padding, backend="reference")
    got = depthwise_conv2d(x, k, b, strides=strides, padding=padding, backend="numba")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    dy = rng.standard_normal(want.shape).astype(dtype)
    ref = depthwise_conv2d_backward(dy, x, k, strides=strides, padding=padding, backend="reference")
    fast = depthwise_conv2d_backward(dy, x, k, strides=strides, padding=padding, backend="numba")
    for g, w in zip(fast, ref):
        np.testing.assert_allclose(g, w, rtol=tol * 10, atol=tol * 10)
