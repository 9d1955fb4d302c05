"""Shape helpers: the slides' formula, Keras' floor, TensorFlow's "same", parameter counts."""

import numpy as np
import pytest

import convlab
from convlab import shapes


def test_slide_output_sizes():
    assert convlab.conv_output_size(5, 3, padding=1, stride=2) == 3  # (5 + 2·1 − 3)/2 + 1
    assert convlab.conv_output_size(28, 3) == 26  # (28 + 0 − 3)/1 + 1
    assert convlab.pool_output_size(26, 2) == 13


def test_formula_text():
    assert convlab.output_size_formula(5, 3, 1, 2) == "T = (5 + 2·1 − 3)/2 + 1 = 3"
    assert convlab.output_size_formula(28, 3) == "T = (28 + 2·0 − 3)/1 + 1 = 26"
    text = convlab.output_size_formula(6, 3, 0, 2)
    assert "not exact" in text and "floor" in text and text.split("→ floor → ")[1].startswith("2")
    same = convlab.output_size_formula(6, 3, "same", 2)
    assert "0 before, 1 after" in same and same.endswith("= 3]")


@pytest.mark.parametrize("n", range(1, 13))
@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("s", [1, 2, 3])
def test_floor_and_same_rules(n, k, s):
    if k <= n:
        assert convlab.conv_output_size(n, k, "valid", s) == (n - k) // s + 1
    assert convlab.conv_output_size(n, k, "same", s) == -(-n // s)
    t, b, _, _ = convlab.resolve_padding((n, n), k, "same", s)
    assert b - t in (0, 1)  # the odd pixel goes after (bottom/right)


def test_resolve_padding_forms():
    assert convlab.resolve_padding((5, 5), 3, "valid") == (0, 0, 0, 0)
    assert convlab.resolve_padding((5, 5), 3, "SAME") == (1, 1, 1, 1)
    assert convlab.resolve_padding((5, 5), 3, 2) == (2, 2, 2, 2)
    assert convlab.resolve_padding((5, 5), 3, (1, 2)) == (1, 1, 2, 2)
    assert convlab.resolve_padding((5, 5), 3, ((0, 1), (2, 3))) == (0, 1, 2, 3)
    assert convlab.resolve_padding((6, 6), 3, "same", 2) == (0, 1, 0, 1)


def test_param_counts_from_the_slides():
    assert convlab.conv2d_param_count(64, 3, 1) == 640
    assert 64 * 26 * 26 == 43264
    assert convlab.dense_param_count(10, 43264) == 432650
    assert convlab.dense_param_count(15, 43264) == 648975
    assert convlab.dense_param_count(10, 15) == 160
    assert convlab.dense_param_count(15, 13 * 13 * 64) == 162255
    assert (
        convlab.conv2d_param_count(32, 3, 1)
        + convlab.dense_param_count(100, 13 * 13 * 32)
        + convlab.dense_param_count(10, 100)
        == 542230
    )


def test_format_summary_table():
    rows = [
        ("conv2d", "Conv2D", (None, 26, 26, 64), 640, "64·3·3·1 + 64"),
        ("flatten", "Flatten", (None, 43264), 0, ""),
        ("dense", "Dense", (None, 10), 432650, "43264·10 + 10"),
    ]
    text = shapes.format_summary(rows, show_formula=True)
    assert "(None, 26, 26, 64)" in text and "432,650" in text and "Total params: 433,290" in text
    assert "64·3·3·1 + 64" in text


@pytest.mark.parametrize(
    "bad,err",
    [
        (dict(n=-1, kernel_size=3), ValueError),
        (dict(n=5, kernel_size=0), ValueError),
        (dict(n=5, kernel_size=3, stride=0), ValueError),
        (dict(n=2, kernel_size=3), ValueError),
        (dict(n=5, kernel_size=3, padding="full"), ValueError),
        (dict(n=5, kernel_size=3, padding=-1), ValueError),
        (dict(n=5.0, kernel_size=3), ValueError),
    ],
)
def test_shape_errors(bad, err):
    with pytest.raises(err):
        convlab.conv_output_size(**bad)


@pytest.mark.tf
def test_keras_agrees_on_param_counts():
    keras = pytest.importorskip("keras")
    L = keras.layers
    models = {
        433290: [L.Conv2D(64, 3, activation="relu"), L.Flatten(), L.Dense(10, activation="softmax")],
        649775: [
            L.Conv2D(64, 3, activation="relu"),
            L.Flatten(),
            L.Dense(15, activation="tanh"),
            L.Dense(10, activation="softmax"),
        ],
        163055: [
            L.Conv2D(64, 3, activation="relu"),
            L.MaxPooling2D((2, 2)),
            L.Flatten(),
            L.Dense(15, activation="tanh"),
            L.Dense(10, activation="softmax"),
        ],
        542230: [
            L.Conv2D(32, 3, activation="relu"),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(100, activation="relu"),
            L.Dense(10, activation="softmax"),
        ],
    }
    for total, layers in models.items():
        m = keras.Sequential([keras.Input((28, 28, 1))] + layers)
        assert m.count_params() == total
        shape = (28, 28, 1)
        ours = 0
        for layer in layers:
            if isinstance(layer, L.Conv2D):
                ours += convlab.conv2d_param_count(layer.filters, layer.kernel_size, shape[2])
                shape = (convlab.conv_output_size(shape[0], 3), convlab.conv_output_size(shape[1], 3), layer.filters)
            elif isinstance(layer, L.MaxPooling2D):
                shape = (convlab.pool_output_size(shape[0], 2), convlab.pool_output_size(shape[1], 2), shape[2])
            elif isinstance(layer, L.Flatten):
                shape = (int(np.prod(shape)),)
            else:
                ours += convlab.dense_param_count(layer.units, shape[0])
                shape = (layer.units,)
        assert ours == total


# --------------------------------------------------------------------------- pairs: honoured or refused
@pytest.mark.parametrize("fn", [convlab.conv_output_size, convlab.pool_output_size, convlab.output_size_formula])
def test_one_axis_helpers_refuse_a_pair_with_two_different_values(fn):
    # conv_output_size(28, (3, 5)) must not quietly use the 3: the helper works on one axis.
    window = "pool_size" if fn is convlab.pool_output_size else "kernel_size"  # each names its own argument
    with pytest.raises(ValueError, match=rf"{window}=\(3, 5\).*once per axis"):
        fn(28, (3, 5))
    with pytest.raises(ValueError, match=r"stride=\[1, 2\].*once per axis"):
        fn(28, 3, 0, [1, 2])
    with pytest.raises(ValueError, match=r"padding=\(1, 2\) differs between rows and columns"):
        fn(28, 3, (1, 2))
    with pytest.raises(ValueError, match="padding=.*differs between rows and columns"):
        fn(28, 3, ((0, 1), (1, 1)))
    with pytest.raises(ValueError, match="n must be a non-negative int"):
        fn((28, 28), 3)


def test_one_axis_helpers_accept_a_pair_of_equal_values():
    assert convlab.conv_output_size(28, (3, 3)) == convlab.conv_output_size(28, 3) == 26
    assert convlab.conv_output_size(5, [3, 3], (1, 1), (2, 2)) == 3
    assert convlab.conv_output_size(6, 3, ((0, 1), (0, 1)), 2) == 3
    assert convlab.pool_output_size(26, (2, 2)) == 13
    assert convlab.output_size_formula(5, (3, 3), 1, (2, 2)) == "T = (5 + 2·1 − 3)/2 + 1 = 3"


def test_conv2d_param_count_uses_both_kernel_sizes_and_refuses_pairs_elsewhere():
    assert convlab.conv2d_param_count(8, (3, 5), 2) == 8 * 3 * 5 * 2 + 8
    assert convlab.conv2d_param_count(8, (3, 5), 2, use_bias=False) == 8 * 3 * 5 * 2
    assert convlab.conv2d_param_count(np.int64(8), 3, np.int32(1)) == 80
    with pytest.raises(TypeError, match="filters"):
        convlab.conv2d_param_count((8, 4), 3, 1)  # a pair of filter counts was half used before
    with pytest.raises(TypeError, match="in_features"):
        convlab.dense_param_count(10, (5, 5))
    with pytest.raises(ValueError, match="units"):
        convlab.dense_param_count(0, 5)


def test_use_bias_is_keyword_only():
    with pytest.raises(TypeError):
        convlab.conv2d_param_count(8, 3, 1, False)
    with pytest.raises(TypeError):
        convlab.dense_param_count(10, 5, False)
    assert convlab.dense_param_count(10, 5, use_bias=False) == 50


def test_shapes_package_exports_the_same_names():
    assert shapes.__all__ == [
        "pair",
        "resolve_padding",
        "conv_output_size",
        "pool_output_size",
        "output_size_formula",
        "effective_kernel_size",
        "conv_transpose_output_size",
        "conv_transpose_output_formula",
        "conv2d_param_count",
        "conv2d_transpose_param_count",
        "depthwise_conv2d_param_count",
        "separable_conv2d_param_count",
        "batch_norm_param_count",
        "dense_param_count",
        "format_summary",
    ]
    for name in shapes.__all__:
        if hasattr(convlab, name):  # pair and effective_kernel_size are only in convlab.shapes
            assert getattr(convlab, name) is getattr(shapes, name)
