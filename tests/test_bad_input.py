"""Bad input: a clear ValueError/TypeError that names the argument — never a broadcast error."""

import numpy as np
import pytest

import convlab
import convlab.ops.activations
import convlab.ops.losses
from convlab.util.checks import as_float_array, check_real_dtype

X = np.ones((1, 5, 5, 3))
K = np.ones((3, 3, 3, 2))


@pytest.mark.parametrize(
    "kwargs,err,words",
    [
        (dict(x=np.ones((5, 5, 3)), kernel=K), ValueError, ["x", "4-D", "(5, 5, 3)"]),
        (dict(x=X, kernel=np.ones((3, 3, 3))), ValueError, ["kernel", "4-D"]),
        (dict(x=X, kernel=np.ones((3, 3, 2, 2))), ValueError, ["C_in=2", "3 channels"]),
        (dict(x=X, kernel=np.ones((7, 7, 3, 2))), ValueError, ["larger than the padded input"]),
        (dict(x=X, kernel=K, strides=0), ValueError, ["strides", ">= 1"]),
        (dict(x=X, kernel=K, strides=(1, -2)), ValueError, ["strides"]),
        (dict(x=X, kernel=K, strides=1.5), TypeError, ["strides"]),
        (dict(x=X, kernel=K, padding="full"), ValueError, ["padding", "'full'"]),
        (dict(x=X, kernel=K, padding=-1), ValueError, ["padding"]),
        (dict(x=X, kernel=K, padding=((1, 2, 3), (0, 0))), TypeError, ["padding"]),
        (dict(x=X, kernel=K, backend="cuda"), ValueError, ["backend", "'cuda'"]),
        (dict(x=X, kernel=K, bias=np.ones(3)), ValueError, ["bias", "(2,)", "(3,)"]),
        (dict(x=X.astype(complex), kernel=K), TypeError, ["x", "complex"]),
        (dict(x=np.array([["a"]]), kernel=K), TypeError, ["x"]),
        (dict(x=np.ones((0, 5, 5, 3)), kernel=K), ValueError, ["x", "empty"]),
        (dict(x=X, kernel=np.ones((3, 3, 3, 0))), ValueError, ["kernel", "empty"]),
    ],
)
def test_conv2d_errors(kwargs, err, words):
    x = kwargs.pop("x")
    kernel = kwargs.pop("kernel")
    with pytest.raises(err) as info:
        convlab.conv2d(x, kernel, **kwargs)
    for w in words:
        assert w in str(info.value), (w, str(info.value))


@pytest.mark.parametrize(
    "kwargs,err,words",
    [
        (dict(pool_size=0), ValueError, ["pool_size"]),
        (dict(pool_size=(2, 0)), ValueError, ["pool_size"]),
        (dict(strides=0), ValueError, ["strides"]),
        (dict(pool_size=6), ValueError, ["pool_size", "larger"]),
        (dict(padding="circular"), ValueError, ["padding"]),
        (dict(pool_size=2, padding=2), ValueError, ["padding", "smaller than pool_size"]),
        (dict(backend="gpu"), ValueError, ["backend"]),
    ],
)
def test_pooling_errors(kwargs, err, words):
    for op in (convlab.max_pool2d, convlab.avg_pool2d):
        with pytest.raises(err) as info:
            op(X, **kwargs)
        for w in words:
            assert w in str(info.value)


def test_pooling_wrong_ndim():
    with pytest.raises(ValueError, match="x must be 4-D"):
        convlab.max_pool2d(np.ones((5, 5)))


def test_2d_helpers_errors():
    with pytest.raises(ValueError, match="image must be 2-D"):
        convlab.correlate2d(np.ones((5, 5, 1)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="kernel must be 2-D"):
        convlab.convolve2d(np.ones((5, 5)), np.ones((3, 3, 1)))


def test_dense_errors():
    with pytest.raises(ValueError, match="in_features=4"):
        convlab.dense(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError, match="bias"):
        convlab.dense(np.ones((2, 3)), np.ones((3, 5)), np.ones(4))


def test_activation_lookup_error():
    with pytest.raises(ValueError, match="activation must be one of"):
        convlab.ops.activations.get("swishy")


# --------------------------------------------------------------------------- one argument rule
# convlab.ops' rule: arrays positional, geometry as Keras writes it, backend= and every flag keyword-only.
def test_backend_is_keyword_only_where_the_geometry_is():
    x = np.ones((1, 4, 4, 1))
    dy = np.ones((1, 2, 2, 1))
    # Pooling: DESIGN.md's signature max_pool2d(x, pool_size, strides, padding, backend), callable as written.
    for op in (convlab.max_pool2d, convlab.avg_pool2d):
        np.testing.assert_array_equal(op(x, 2, None, "valid", backend="numpy"), op(x, 2))
        np.testing.assert_array_equal(op(x, 2, None, "valid", "reference"), op(x, 2))
    for op in (convlab.max_pool2d_backward, convlab.avg_pool2d_backward):
        np.testing.assert_array_equal(op(dy, x, 2, None, "valid", backend="numpy"), op(dy, x, 2))
        np.testing.assert_array_equal(op(dy, x, 2, None, "valid", "reference"), op(dy, x, 2))
    k = np.ones((3, 3, 1, 1))
    with pytest.raises(TypeError):
        convlab.conv2d(x, k, None, 1)  # strides, padding, backend are keyword-only after bias
    with pytest.raises(TypeError):
        convlab.conv2d_backward(np.ones((1, 2, 2, 1)), x, k, 1)
    with pytest.raises(TypeError):
        convlab.correlate2d(np.ones((4, 4)), np.ones((3, 3)), "valid", 1)


def test_flags_are_keyword_only():
    x, k = np.ones((1, 4, 4, 1)), np.ones((3, 3, 1, 1))
    dy = convlab.conv2d(x, k)
    with pytest.raises(TypeError):
        convlab.conv2d_backward(dy, x, k, 1, "valid", None, False)
    assert convlab.conv2d_backward(dy, x, k, need_dx=False)[0] is None
    L = convlab.ops.losses
    t, p = np.eye(3), np.full((3, 3), 1 / 3)
    for fn in (
        L.categorical_crossentropy,
        L.categorical_crossentropy_backward,
        L.binary_crossentropy,
        L.binary_crossentropy_backward,
        L.mean_squared_error,
        L.mean_squared_error_backward,
    ):
        with pytest.raises(TypeError):
            fn(t, p, True)
    labels = np.array([0, 1, 2])
    for fn in (L.sparse_categorical_crossentropy, L.sparse_categorical_crossentropy_backward):
        with pytest.raises(TypeError):
            fn(labels, p, True)
    with pytest.raises(TypeError):
        convlab.softmax_crossentropy(labels, p, False)


def test_mean_squared_error_refuses_from_logits():
    # every loss of losses.get() takes from_logits; mse has no logits form, so True is refused, not ignored
    assert convlab.mean_squared_error([1.0], [3.0], from_logits=False) == 4.0
    for fn in (convlab.mean_squared_error, convlab.ops.losses.mean_squared_error_backward):
        with pytest.raises(ValueError, match="from_logits"):
            fn([1.0], [3.0], from_logits=True)


def test_one_dtype_check_for_every_operation():
    a = np.arange(3, dtype=np.int8)
    assert check_real_dtype(a, "x") is a  # no copy, no conversion
    for bad in (np.array([1j]), np.array(["a"]), np.array([None], dtype=object)):
        with pytest.raises(TypeError, match="kernel must be a real numeric array"):
            check_real_dtype(bad, "kernel")
        with pytest.raises(TypeError, match="x must be a real numeric array"):
            as_float_array(bad, "x")
        with pytest.raises(TypeError, match="dy must be a real numeric array"):
            convlab.ops.activations.relu_backward(bad, np.ones(1))
    assert as_float_array(np.ones(2, np.float16), "x").dtype == np.float32
    assert as_float_array(np.ones(2, np.longdouble), "x").dtype == np.float64
    assert as_float_array([True, False], "x").dtype == np.float64


# --------------------------------------------------------------------------- issue 11: ints, ragged lists, names
BACKENDS = ("reference", "numpy", "numba")
X5 = np.ones((1, 5, 5, 1))
K3 = np.ones((3, 3, 1, 1))
HUGE = (2**63, 2**70, 10**400 + 1)


@pytest.mark.parametrize("value", HUGE)
@pytest.mark.parametrize(
    "call,name",
    [
        (lambda v, b: convlab.conv2d(X5, K3, strides=v, backend=b), "strides"),
        (lambda v, b: convlab.conv2d(X5, K3, strides=(1, v), backend=b), "strides"),
        (lambda v, b: convlab.conv2d(X5, K3, padding=v, backend=b), "padding"),
        (lambda v, b: convlab.conv2d(X5, K3, padding=((0, 0), (v, 0)), backend=b), "padding"),
        (lambda v, b: convlab.conv2d_backward(np.ones((1, 3, 3, 1)), X5, K3, strides=v, backend=b), "strides"),
        (lambda v, b: convlab.max_pool2d(X5, 2, v, backend=b), "strides"),
        (lambda v, b: convlab.max_pool2d(X5, v, backend=b), "pool_size"),
        (lambda v, b: convlab.avg_pool2d(X5, 2, (v, 1), backend=b), "strides"),
        (lambda v, b: convlab.max_pool2d_backward(np.ones((1, 2, 2, 1)), X5, 2, v, backend=b), "strides"),
    ],
)
@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_ints_in_ops_are_a_value_error_naming_the_argument(call, name, value, backend):
    # Numba kernels take int64: a larger int must not reach them (it was a Numba TypingError / OverflowError).
    with pytest.raises(ValueError, match=name):
        call(value, backend)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: convlab.output_size_formula(10**400 + 1, 3, 0, 3), "n"),
        (lambda: convlab.conv_output_size(2**63, 3), "n"),
        (lambda: convlab.conv_output_size(10, 2**63), "kernel_size"),
        (lambda: convlab.pool_output_size(10, 2**63), "pool_size"),
        (lambda: convlab.conv_output_size(10, 3, 2**70), "padding"),
        (lambda: convlab.conv_output_size(10, 3, 2**62), "padding"),  # fits, but the padded length does not
        (lambda: convlab.conv_output_size(10, 3, 0, 2**64), "stride"),
        (lambda: convlab.resolve_padding((5, 2**63), 3, "same", 1), "input_hw"),
        (lambda: convlab.conv2d_param_count(2**63, 3, 1), "filters"),
        (lambda: convlab.conv2d_param_count(2, (3, 2**64), 1), "kernel_size"),
        (lambda: convlab.dense_param_count(10, 2**70), "in_features"),
    ],
)
def test_huge_ints_in_shape_helpers_are_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_shape_helpers_take_any_int64_exactly():
    # exact integer arithmetic up to the int64 limit: no float on the way
    big = 2**63 - 1
    assert convlab.conv_output_size(big, 1) == big
    assert convlab.conv_output_size(big, 2, 0, 3) == (big - 2) // 3 + 1
    assert convlab.conv_output_size(big - 2, 3, "same", 2) == -(-(big - 2) // 2)  # padded to exactly 2**63 - 1
    with pytest.raises(ValueError, match="padding='same' makes the padded input"):
        convlab.conv_output_size(big, 3, "same", 2)  # "same" pads 2: one past int64
    text = convlab.output_size_formula(big, 2, 0, 3)
    assert text.endswith("not covered)") and f"→ floor → {(big - 2) // 3 + 1} " in text
    assert convlab.output_size_formula(6, 3, 0, 2) == (
        "T = (6 + 2·0 − 3)/2 + 1 = 3/2 + 1 = 2.5 → floor → 2  (not exact: Keras floors, so the last 1 "
        "row/column is not covered)"
    )
    assert convlab.conv2d_param_count(np.uint64(2), np.int8(3), np.int16(1)) == 20


@pytest.mark.parametrize(
    "value", [True, 2.0, np.float64(2.0), float("nan"), "2", None, np.array(2), (2, 2.5), (True, 1)]
)
def test_sizes_of_the_wrong_type_are_a_type_error_naming_the_argument(value):
    for call, name in [
        (lambda: convlab.conv2d(X5, K3, strides=value), "strides"),
        (lambda: convlab.max_pool2d(X5, value), "pool_size"),
        (lambda: convlab.conv_output_size(10, value), "kernel_size"),
        (lambda: convlab.pool_output_size(10, value), "pool_size"),
        (lambda: convlab.conv2d_param_count(value, 3, 1), "filters"),
    ]:
        if name == "filters" and isinstance(value, tuple):
            continue  # a pair is not a filter count: also a TypeError, tested in test_shapes
        with pytest.raises(TypeError, match=name):
            call()


def test_numpy_ints_are_sizes():
    y = convlab.conv2d(X5, K3, strides=np.int64(2), padding=np.uint8(1))
    assert y.shape == (1, 3, 3, 1)
    assert convlab.max_pool2d(X5, np.int32(2), (np.int8(1), np.uint64(2))).shape == (1, 4, 2, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_huge_padding_is_refused_before_allocation(backend):
    # each pad fits in int64, but the padded input (2**41 × 2**41) is no array NumPy can make
    for call in (
        lambda: convlab.conv2d(X5, K3, padding=2**40, backend=backend),
        lambda: convlab.conv2d_backward(np.ones((1, 1, 1, 1)), X5, K3, padding=2**40, backend=backend),
    ):
        with pytest.raises(ValueError, match="padding=1099511627776.*padded input"):
            call()


def test_the_numpy_backend_checks_its_im2col_matrix_too():
    # the padded input (2**29 × 2**29 float64, 2**61 bytes) could exist; 9 copies of it cannot
    with pytest.raises(ValueError, match="padding=268435456.*im2col"):
        convlab.conv2d(X5, K3, padding=2**28, backend="numpy")


def test_im2col_names_kernel_size():
    with pytest.raises(ValueError, match=r"kernel_size 7×7 is larger than the padded input of 5×5"):
        convlab.im2col(np.ones((1, 5, 5, 1)), 7)
    with pytest.raises(ValueError, match="strides"):
        convlab.im2col(np.ones((1, 5, 5, 1)), 3, 2**64)


def test_pool_output_size_names_pool_size():
    for call in (lambda: convlab.pool_output_size(5, 0), lambda: convlab.pool_output_size(5, 6)):
        with pytest.raises(ValueError, match="pool_size") as info:
            call()
        assert "kernel_size" not in str(info.value)


RAGGED = [[[[1.0]], [[2.0], [3.0]]]]


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: convlab.conv2d(RAGGED, K3), "x"),
        (lambda: convlab.conv2d(X5, [[1.0], [2.0, 3.0]]), "kernel"),
        (lambda: convlab.conv2d(X5, K3, [1.0, [2.0]]), "bias"),
        (lambda: convlab.conv2d_backward([[1.0], [1.0, 2.0]], X5, K3), "dy"),
        (lambda: convlab.max_pool2d(RAGGED), "x"),
        (lambda: convlab.correlate2d([[1.0], [2.0, 3.0]], np.ones((1, 1))), "image"),
        (lambda: convlab.dense([[1.0], [2.0, 3.0]], np.ones((2, 2))), "x"),
        (lambda: convlab.relu([1.0, [2.0]]), "x"),
        (lambda: convlab.relu_backward([1.0, [2.0]], [1.0, 2.0]), "dy"),
        (lambda: convlab.mean_squared_error([1.0, [2.0]], [1.0, 2.0]), "y_true"),
        (lambda: convlab.mean_squared_error([1.0, 2.0], [1.0, [2.0]]), "y_pred"),
        (lambda: convlab.sparse_categorical_crossentropy([0, [1]], np.full((2, 2), 0.5)), "y_true"),
        (lambda: convlab.softmax_crossentropy([0, 1], [[0.0], [1.0, 2.0]]), "logits"),
        (lambda: convlab.rel_error([1.0, [2.0]], [1.0, 2.0]), "analytic"),
        (lambda: convlab.gradcheck(lambda x: x, lambda dy, x: dy, {"x": [1.0, [2.0]]}), "inputs['x']"),
    ],
)
def test_ragged_lists_are_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match="ragged") as info:
        call()
    assert str(info.value).startswith(f"{name} must be a rectangular array"), str(info.value)


@pytest.mark.parametrize(
    "y_true,shown",
    [
        (np.array([1e20, 0.0]), "1e+20"),
        (np.array([2**64 - 1, 0], dtype=np.uint64), "18446744073709551615"),
        (np.array([-(2**63), 0]), "-9223372036854775808"),
        ([3, 0], "3"),
    ],
)
def test_sparse_labels_out_of_range_show_their_real_value(y_true, shown):
    p = np.full((2, 3), 1 / 3)
    for fn in (
        convlab.sparse_categorical_crossentropy,
        convlab.ops.losses.sparse_categorical_crossentropy_backward,
        convlab.softmax_crossentropy,
    ):
        with pytest.raises(ValueError, match=r"y_true must hold class indices in \[0, 2\]") as info:
            fn(y_true, p)
        assert shown in str(info.value)


@pytest.mark.parametrize("label,shown", [(0.5, "0.5"), (np.nan, "nan"), (np.inf, "inf")])
def test_sparse_labels_that_are_not_whole_numbers_show_the_value(label, shown):
    with pytest.raises(TypeError, match=f"y_true must hold integer class indices, got {shown} at \\[1\\]"):
        convlab.sparse_categorical_crossentropy(np.array([0.0, label]), np.full((2, 3), 1 / 3))
    assert convlab.sparse_categorical_crossentropy(np.array([0.0, 2.0]), np.full((2, 3), 1 / 3)) > 0


def _f(x):
    return x * x


def _df(dy, x):
    return 2 * x * dy


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        (dict(inputs=[np.ones(3)]), TypeError, "inputs must be a mapping"),
        (dict(inputs=np.ones(3)), TypeError, "inputs must be a mapping"),
        (dict(inputs={0: np.ones(3)}), TypeError, "inputs must be keyed by argument names"),
        (dict(forward=None), TypeError, "forward must be a function"),
        (dict(backward="grad"), TypeError, "backward must be a function"),
        (dict(inputs={"x": np.ones(3, complex)}), TypeError, r"inputs\['x'\] must be a real numeric array"),
        (dict(h=0.0), ValueError, "h must be a finite float > 0"),
        (dict(h=10**400), ValueError, "h must be a finite float > 0"),
        (dict(h=float("nan")), ValueError, "h must be a finite float > 0"),
        (dict(h=float("inf")), ValueError, "h must be a finite float > 0"),
        (dict(h="1e-5"), TypeError, "h must be a finite float > 0"),
        (dict(tol=float("nan")), ValueError, "tol must be a finite float >= 0"),
        (dict(tol=-1.0), ValueError, "tol must be a finite float >= 0"),
        (dict(scale=True), TypeError, "scale"),
        (dict(seed=1.5), TypeError, "seed"),
        (dict(wrt=3), TypeError, "wrt must be a list of input names"),
        (dict(wrt=["y"]), ValueError, "wrt names an input"),
        (dict(backward=lambda dy, x: {"y": dy}), ValueError, r"without a gradient for \['x'\]"),
        (dict(backward=lambda dy, x: None), TypeError, "gradient for 'x'"),
        (dict(forward=lambda x: None), TypeError, "forward"),
        (dict(dy=np.array(["a", "b", "c"])), TypeError, "dy must be a real numeric array"),
    ],
)
def test_gradcheck_argument_errors_name_the_argument(kwargs, err, match):
    args = dict(forward=_f, backward=_df, inputs={"x": np.arange(1.0, 4.0)}) | kwargs
    with pytest.raises(err, match=match):
        convlab.gradcheck(args.pop("forward"), args.pop("backward"), args.pop("inputs"), **args)


def test_gradcheck_fails_a_nan_gradient():
    # rel_error is NaN there; `NaN > tol` is False, so it used to pass
    with pytest.raises(convlab.GradcheckError, match="nan"):
        convlab.gradcheck(_f, lambda dy, x: _df(dy, x) * np.nan, {"x": np.arange(1.0, 4.0)})
    assert convlab.gradcheck(_f, _df, {"x": np.arange(1.0, 4.0)}, wrt="x")["x"] < 1e-8  # one name as a str


def test_numeric_gradient_and_rel_error_check_their_arguments():
    with pytest.raises(TypeError, match="f must be a function"):
        convlab.numeric_gradient(None, np.ones(2))
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        convlab.numeric_gradient(_f, np.ones(2, complex))  # was a ComplexWarning and a wrong answer
    with pytest.raises(TypeError, match=r"f\(x\) must be a real numeric array"):
        convlab.numeric_gradient(lambda x: None, np.ones(2))
    with pytest.raises(ValueError, match="floor must be a finite float >= 0"):
        convlab.rel_error(np.ones(2), np.ones(2), floor=-1.0)


@pytest.mark.parametrize(
    "call,name",
    [
        (lambda: convlab.conv2d(np.ones((1, 3, 3, 1), np.float32), np.full((1, 1, 1, 1), 1e300)), "kernel"),
        (lambda: convlab.dense(np.ones((1, 1), np.float32), np.ones((1, 1)), np.array([-1e39])), "bias"),
        (lambda: convlab.relu(np.full(2, np.longdouble("1e4000"))), "x"),
        (lambda: convlab.relu_backward(np.array([1e300]), np.ones(1, np.float32)), "dy"),
        (lambda: convlab.mean_squared_error(np.array([1e300]), np.ones(1, np.float32)), "y_true"),
    ],
)
def test_a_finite_value_beyond_the_target_dtype_is_refused_not_made_inf(call, name):
    with pytest.raises(ValueError, match=f"{name} holds .* beyond the range of float"):
        call()


def test_inf_already_in_the_input_converts_as_inf():
    # only values that the conversion itself would overflow are refused: IEEE inf/NaN propagate
    y = convlab.conv2d(np.ones((1, 3, 3, 1), np.float32), np.array([np.inf, 2.0])[None, None, None, :1])
    assert y.dtype == np.float32 and np.isposinf(y).all()


@pytest.mark.parametrize(
    "bad,words",
    [
        ([[[[2**70]]]], ["x", "beyond 64 bits"]),
        ([[[[None]]]], ["x", "None"]),
        (np.array([[[[np.datetime64(1, "s")]]]]), ["x", "datetime64"]),
        (np.zeros((1, 1, 1, 1), dtype=[("a", "f8")]), ["x", "dtype"]),
        (np.ones((1, 1, 1, 1), np.timedelta64), ["x", "timedelta64"]),
    ],
)
def test_non_real_arrays_say_what_is_wrong(bad, words):
    with pytest.raises(TypeError) as info:
        convlab.conv2d(bad, np.ones((1, 1, 1, 1)))
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_odd_but_valid_arrays_are_accepted_and_left_alone():
    x = np.arange(2 * 6 * 6 * 2, dtype=">f8").reshape(2, 6, 6, 2)[:, ::2, ::2, :]  # big-endian, non-contiguous
    x.flags.writeable = False
    k = np.ones((2, 2, 2, 1), np.float16)
    ref = convlab.conv2d(np.ascontiguousarray(x, "<f8"), k.astype(np.float64), backend="reference")
    for backend in BACKENDS:
        np.testing.assert_allclose(convlab.conv2d(x, k, backend=backend), ref, rtol=1e-12)
    assert not x.flags.writeable and x.dtype == np.dtype(">f8")
    assert convlab.relu(np.ones((3, 4), np.uint64)).dtype == np.float64
    assert convlab.relu(np.ones(0, np.float32)).dtype == np.float32  # empty keeps the float32 rule too


@pytest.mark.parametrize("fn", [convlab.relu, convlab.sigmoid, convlab.tanh])
def test_zero_d_arrays_keep_their_shape(fn):
    assert fn(np.float64(-2.0)).shape == ()
    assert convlab.relu_backward(np.float64(3.0), np.float64(1.0)).shape == ()
    assert fn(np.array(2, np.float32)).dtype == np.float32


def test_softmax_axis_is_checked():
    with pytest.raises(ValueError, match=r"axis must be in \[-2, 2\)"):
        convlab.softmax(np.ones((2, 3)), 2)
    with pytest.raises(TypeError, match="axis must be an int"):
        convlab.softmax(np.ones((2, 3)), True)
    with pytest.raises(ValueError, match="x must be at least 1-D"):
        convlab.softmax(np.float64(1.0))


def test_huge_ints_are_abbreviated_in_messages():
    # str() of an int over 4,300 digits raises in Python: the message itself must not fail
    for call in (
        lambda: convlab.conv_output_size(10**5000, 3),
        lambda: convlab.conv2d(X5, K3, padding=((0, 0), (-(10**5000), 1))),
        lambda: convlab.conv2d([[[[10**5000]]]], K3),
    ):
        with pytest.raises((ValueError, TypeError), match="an int of about 5001 digits"):
            call()
    with pytest.raises(ValueError, match="got 1180591620717411303424$"):
        convlab.conv2d(X5, K3, strides=2**70)  # up to 30 digits: in full
