"""Convolution arithmetic: dilated and transposed output sizes, their formulas, and Keras' parameter counts.

The worked sizes are those of Dumoulin & Visin 2016, "A guide to convolution
arithmetic for deep learning" (relationships and figures named per case), and of
d2l.ai §14.10 (transposed convolution). The ``tf``-marked tests compare every size
with Keras' own ``compute_output_shape`` on a grid (no data is run) and every
parameter count with Keras' ``count_params()`` after ``build``.
"""

import itertools

import pytest

from convlab import shapes
from convlab.shapes import (
    batch_norm_param_count,
    conv2d_param_count,
    conv2d_transpose_param_count,
    conv_output_size,
    conv_transpose_output_formula,
    conv_transpose_output_size,
    depthwise_conv2d_param_count,
    effective_kernel_size,
    output_size_formula,
    separable_conv2d_param_count,
)


@pytest.fixture(scope="module")
def keras():
    pytest.importorskip("tensorflow")
    return pytest.importorskip("keras")


def evaluate(formula: str) -> int:
    """The value of the substituted expression ``T = EXPR = ...`` (``/`` floored, as the text says Keras does)."""
    expr = formula.split("   [")[0].split(" = ")[1]
    return eval(expr.replace("·", "*").replace("−", "-").replace("/", "//"), {})


# --------------------------------------------------------------------------- the guide's worked sizes
@pytest.mark.parametrize(
    "i, k, p, s, d, o, where",
    [
        (4, 3, 0, 1, 1, 2, "relationship 1, figure 2.1: no padding, unit strides"),
        (5, 4, 2, 1, 1, 6, "relationship 2, figure 2.2: arbitrary padding"),
        (5, 3, 1, 1, 1, 5, "relationship 3, figure 2.3: half (same) padding"),
        (5, 3, 2, 1, 1, 7, "relationship 4, figure 2.4: full padding"),
        (5, 3, 0, 2, 1, 2, "relationship 5, figure 2.5: no padding, non-unit strides"),
        (5, 3, 1, 2, 1, 3, "relationship 6, figure 2.6: padding and strides"),
        (6, 3, 1, 2, 1, 3, "relationship 6, figure 2.7: padding and strides, the last column unused"),
        (7, 3, 0, 1, 2, 3, "relationship 15, figure 5.1: dilated"),
    ],
)
def test_the_guides_convolution_sizes(i, k, p, s, d, o, where):
    assert conv_output_size(i, k, p, s, dilation=d) == o, where
    assert evaluate(output_size_formula(i, k, p, s, dilation=d)) == o, where


@pytest.mark.parametrize(
    "i, k, p, s, a, o, where",
    [
        (2, 3, 0, 1, 0, 4, "relationship 8, figure 4.1: o' = i' + (k − 1)"),
        (2, 4, 0, 1, 0, 5, "relationship 8: i' = 2, k = 4"),
        (6, 4, 2, 1, 0, 5, "relationship 9, figure 4.2: o' = i' + (k − 1) − 2p"),
        (5, 3, 1, 1, 0, 5, "relationship 10, figure 4.3: half padding"),
        (7, 3, 2, 1, 0, 5, "relationship 11, figure 4.4: full padding, o' = i' − (k − 1)"),
        (2, 3, 0, 2, 0, 5, "relationship 12, figure 4.5: o' = s(i' − 1) + k"),
        (3, 3, 1, 2, 0, 5, "relationship 13, figure 4.6: o' = s(i' − 1) + k − 2p"),
        (3, 3, 1, 2, 1, 6, "relationship 14, figure 4.7: o' = s(i' − 1) + a + k − 2p"),
    ],
)
def test_the_guides_transposed_sizes(i, k, p, s, a, o, where):
    # the guide's p is the forward convolution's padding: an explicit int here (Keras' layer takes only words)
    assert conv_transpose_output_size(i, k, p, s, output_padding=a) == o, where
    text = conv_transpose_output_formula(i, k, p, s, output_padding=a)
    assert text.endswith(f" = {o}") and evaluate(text) == o, (where, text)
    # ... and the forward convolution maps the output back to the input (the point of the transposition)
    assert conv_output_size(o, k, p, s) == i, where


def test_the_guides_transposed_sizes_in_keras_words():
    assert conv_transpose_output_size(2, 3, "valid", 2) == 5  # figure 4.5
    assert conv_transpose_output_size(5, 3, "same", 1) == 5  # figure 4.3
    assert conv_transpose_output_size(2, 3, "valid", 1) == 4  # figure 4.1
    assert conv_transpose_output_size(3, 3, "same", 2, output_padding=1) == 6  # figure 4.7, P = K // 2 = 1
    assert conv_transpose_output_size(3, 3, "same", 2, output_padding=0) == 5  # figure 4.6


def test_d2l_transposed_convolution_sizes():
    # d2l.ai §14.10: a 2×2 input and a 2×2 kernel
    assert conv_transpose_output_size(2, 2) == 3  # stride 1: 3×3
    assert conv_transpose_output_size(2, 2, 1) == 1  # padding 1 removes the first and last row/column: 1×1
    assert conv_transpose_output_size(2, 2, "valid", 2) == 4  # stride 2: 4×4
    # §14.10.3: Conv2d(10, 20, kernel_size=5, padding=2, stride=3) on 16×16, then its transpose back to 16×16
    y = conv_output_size(16, 5, 2, 3)
    assert y == 6 and conv_transpose_output_size(y, 5, 2, 3) == 16


def test_the_transposed_size_inverts_the_forward_one():
    # for every size, stride, dilation and padding: the forward convolution maps the transposed output back to N
    for n, k, s, d in itertools.product(range(1, 7), range(1, 6), range(1, 4), range(1, 3)):
        k_eff = effective_kernel_size(k, d)
        for padding in ("valid", "same", 0, 1, 2):
            for a in [None, *range(s)]:
                if padding == "same" and a == 0 and k_eff % 2 == 0:
                    continue  # (N − 1)·S: TensorFlow's "same" gives N − 1 there (convlab.shapes.transpose)
                try:
                    o = conv_transpose_output_size(n, k, padding, s, output_padding=a, dilation=d)
                except ValueError as e:  # only an empty output is refused
                    assert "empty output" in str(e) or "crops more than" in str(e), e
                    continue
                if isinstance(padding, int) and o + 2 * padding < k_eff:
                    continue  # the crop ate the window: no forward convolution to compare with
                back = conv_output_size(o, k, padding, s, dilation=d)
                assert back == n, (n, k, s, d, padding, a, o)


# --------------------------------------------------------------------------- the formulas' text
def test_dilated_formula_text():
    assert output_size_formula(7, 3, dilation=2) == (
        "T = (7 + 2·0 − 2·(3 − 1) − 1)/1 + 1 = 3   [dilation 2: a 3-tap window dilated by 2 spans "
        "2·(3 − 1) + 1 = 5 pixels]"
    )
    # dilation 1 is the slides' text, unchanged
    assert output_size_formula(7, 3, dilation=1) == output_size_formula(7, 3) == "T = (7 + 2·0 − 3)/1 + 1 = 5"
    same = output_size_formula(10, 3, "same", 2, dilation=2)
    assert "spans 2·(3 − 1) + 1 = 5 pixels" in same and "TensorFlow pads 1 before, 2 after → ceil(10/2) = 5" in same
    floored = output_size_formula(8, 3, 0, 2, dilation=2, symbol="U")
    assert floored.startswith("U = (8 + 2·0 − 2·(3 − 1) − 1)/2 + 1 = 3/2 + 1 = 2.5 → floor → 2")


def test_transposed_formula_text():
    f = conv_transpose_output_formula
    assert f(2, 3, "valid", 2) == "T = 2·(2 − 1) + 3 − 2·0 = 5"
    assert f(2, 3, "valid", 2, output_padding=1) == "T = 2·(2 − 1) + 3 − 2·0 + 1 = 6"
    assert f(3, 3, 1, 2, output_padding=1, symbol="O") == "O = 2·(3 − 1) + 3 − 2·1 + 1 = 6"
    assert f(3, 3, ((0, 1), (0, 1)), 2) == "T = 2·(3 − 1) + 3 − (0 + 1) = 6"
    same = f(16, 3, "same", 2)
    assert same.startswith("T = 2·16 = 32   [padding='same', output_padding=None: Keras makes T = S·N")
    assert f(3, 4, "same", 2, output_padding=1).startswith(
        "T = 2·(3 − 1) + 4 − 2·2 + 1 = 5   [padding='same': Keras' size rule subtracts 2·(K // 2) = 4; which rows "
        "are cropped is TensorFlow's 'same' rule on the output size (with A > 0, not always 2 on each side)]"
    )
    small = f(3, 1, "valid", 2)  # K < S: Keras' implicit output padding S − K
    assert small.startswith("T = 2·(3 − 1) + 1 − 2·0 + 1 = 6   [output_padding=None with K = 1 < S = 2")
    assert f(5, 3, dilation=2) == (
        "T = 1·(5 − 1) + 2·(3 − 1) + 1 − 2·0 = 9   [dilation 2: a 3-tap window dilated by 2 spans "
        "2·(3 − 1) + 1 = 5 pixels]"
    )


def test_every_formula_evaluates_to_its_size():
    for n, k, s, d in itertools.product(range(1, 8), range(1, 6), range(1, 4), range(1, 3)):
        for padding in ("valid", "same", 0, 1, 2):
            try:
                o = conv_output_size(n, k, padding, s, dilation=d)
            except ValueError:
                o = None
            if o is not None:
                text = output_size_formula(n, k, padding, s, dilation=d)
                assert evaluate(text) == o, text
                assert text.split("   [")[0].endswith(f" = {o}") or f"→ floor → {o}  (not exact" in text, text
            for a in [None, *range(s)]:
                try:
                    o = conv_transpose_output_size(n, k, padding, s, output_padding=a, dilation=d)
                except ValueError:
                    continue
                text = conv_transpose_output_formula(n, k, padding, s, output_padding=a, dilation=d)
                assert text.split("   [")[0].endswith(f" = {o}") and evaluate(text) == o, text


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "call, error, name",
    [
        (lambda: conv_output_size(7, 3, dilation=0), ValueError, "dilation"),
        (lambda: conv_output_size(7, 3, dilation=(2, 3)), ValueError, "dilation"),
        (lambda: conv_output_size(7, 3, dilation=2.0), TypeError, "dilation"),
        (lambda: output_size_formula(7, 3, dilation=0), ValueError, "dilation"),
        (lambda: conv_output_size(4, 3, dilation=2), ValueError, "dilated by 2 .it spans 5 pixels"),
        (lambda: conv_transpose_output_size(3, 3, "valid", 2, output_padding=2), ValueError, "output_padding"),
        (lambda: conv_transpose_output_formula(3, 3, "same", 1, output_padding=1), ValueError, "output_padding"),
        (lambda: conv_transpose_output_formula(3, 3, dilation=0), ValueError, "dilation"),
        (lambda: conv_transpose_output_formula(0, 3), ValueError, "n must be"),
        (lambda: conv2d_param_count(8, 3, 6, groups=4), ValueError, "groups"),
        (lambda: conv2d_param_count(6, 3, 8, groups=4), ValueError, "groups"),
        (lambda: conv2d_param_count(8, 3, 8, groups=0), ValueError, "groups"),
        (lambda: conv2d_param_count(8, 3, 8, use_bias=1), TypeError, "use_bias"),
        (lambda: depthwise_conv2d_param_count(3, 32, 0), ValueError, "depth_multiplier"),
        (lambda: depthwise_conv2d_param_count(3, 32, 1, True), TypeError, "positional"),
        (lambda: separable_conv2d_param_count(64, 3, 0), ValueError, "channels"),
        (lambda: batch_norm_param_count(0), ValueError, "channels"),
        (lambda: batch_norm_param_count(32, center="yes"), TypeError, "center"),
        (lambda: batch_norm_param_count(32, trainable=1), TypeError, "trainable"),
    ],
)
def test_bad_input_names_the_argument(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_dilation_one_keeps_the_slides_and_pooling_unchanged():
    assert conv_output_size(28, 3) == conv_output_size(28, 3, dilation=1) == conv_output_size(28, 3, dilation=(1, 1))
    assert shapes.pool_output_size(27, 2) == 13
    assert effective_kernel_size(3, 1) == 3 and effective_kernel_size(3, 2) == 5 and effective_kernel_size(1, 7) == 1
    big = 2**63 - 1  # exact integers up to int64, dilation included
    assert conv_output_size(big, 2, 0, 3, dilation=5) == (big - 6) // 3 + 1


# --------------------------------------------------------------------------- parameter counts
def test_param_counts_of_the_issue():
    assert depthwise_conv2d_param_count(3, 32) == 320
    assert separable_conv2d_param_count(64, 3, 32) == 2400
    assert batch_norm_param_count(32) == 128
    assert batch_norm_param_count(32, trainable=False) == 64 and batch_norm_param_count(32, trainable=True) == 64
    assert batch_norm_param_count(32, center=False, trainable=True) == 32
    assert batch_norm_param_count(32, center=False, scale=False) == 64
    assert conv2d_param_count(64, 3, 32) == 18496 and conv2d_param_count(64, 3, 32, groups=4) == 3 * 3 * 8 * 64 + 64
    assert conv2d_transpose_param_count(16, (3, 5), 8) == 3 * 5 * 16 * 8 + 16
    assert depthwise_conv2d_param_count((3, 5), 4, depth_multiplier=2, use_bias=False) == 3 * 5 * 4 * 2
    # MobileNet's saving: the separable layer has about 1/N_f + 1/K² of the ordinary one's weights
    assert separable_conv2d_param_count(64, 3, 32, use_bias=False) / conv2d_param_count(64, 3, 32, use_bias=False) == (
        pytest.approx(1 / 64 + 1 / 9)
    )


@pytest.mark.tf
def test_param_counts_equal_keras(keras):
    L = keras.layers

    def count(layer, shape):
        layer.build((None, *shape))
        return layer.count_params()

    for f, k, c, g, bias in [(8, 3, 4, 1, True), (8, (3, 2), 4, 2, True), (6, 1, 6, 3, False), (4, 5, 8, 4, True)]:
        keras_n = count(L.Conv2D(f, k, groups=g, use_bias=bias), (9, 9, c))
        assert conv2d_param_count(f, k, c, groups=g, use_bias=bias) == keras_n
    for f, k, c, bias in [(8, 3, 4, True), (3, (2, 4), 5, False)]:
        keras_n = count(L.Conv2DTranspose(f, k, use_bias=bias), (5, 5, c))
        assert conv2d_transpose_param_count(f, k, c, use_bias=bias) == keras_n
    for k, c, m, bias in [(3, 32, 1, True), ((3, 5), 4, 3, True), (1, 7, 2, False)]:
        keras_n = count(L.DepthwiseConv2D(k, depth_multiplier=m, use_bias=bias), (9, 9, c))
        assert depthwise_conv2d_param_count(k, c, m, use_bias=bias) == keras_n
    for f, k, c, m, bias in [(64, 3, 32, 1, True), (5, (3, 2), 4, 2, False), (3, 1, 2, 3, True)]:
        keras_n = count(L.SeparableConv2D(f, k, depth_multiplier=m, use_bias=bias), (9, 9, c))
        assert separable_conv2d_param_count(f, k, c, m, use_bias=bias) == keras_n
    for c, center, scale in itertools.product((32, 5), (True, False), (True, False)):
        bn = L.BatchNormalization(center=center, scale=scale)
        bn.build((None, 4, 4, c))
        trainable = sum(int(w.numpy().size) for w in bn.trainable_weights)
        frozen = sum(int(w.numpy().size) for w in bn.non_trainable_weights)
        assert batch_norm_param_count(c, center=center, scale=scale) == bn.count_params()
        assert batch_norm_param_count(c, center=center, scale=scale, trainable=True) == trainable
        assert batch_norm_param_count(c, center=center, scale=scale, trainable=False) == frozen
    assert batch_norm_param_count(32) == 128 and count(L.BatchNormalization(), (4, 4, 32)) == 128


# --------------------------------------------------------------------------- Keras' output shapes
@pytest.mark.tf
def test_dilated_sizes_equal_keras(keras):
    L = keras.layers
    for k, s, d, padding in itertools.product(range(1, 6), range(1, 4), range(1, 4), ("valid", "same")):
        if s > 1 and d > 1:
            continue  # Keras refuses strides > 1 with dilation_rate > 1; the formula does not (tested above)
        layers = [
            L.Conv2D(2, k, strides=s, padding=padding, dilation_rate=d),
            L.DepthwiseConv2D(k, strides=s, padding=padding, dilation_rate=d),
            L.SeparableConv2D(2, k, strides=s, padding=padding, dilation_rate=d),
        ]
        for n in range(1, 12):
            for layer in layers:
                try:
                    keras_n = layer.compute_output_shape((1, n, n, 3))[1]
                except ValueError:  # Keras: "Computed output size would be zero or negative"
                    keras_n = None
                if keras_n is None:
                    with pytest.raises(ValueError, match="larger than the padded input"):
                        conv_output_size(n, k, padding, s, dilation=d)
                else:
                    assert conv_output_size(n, k, padding, s, dilation=d) == keras_n, (layer, n, k, s, d, padding)


@pytest.mark.tf
def test_transposed_sizes_equal_keras(keras):
    L = keras.layers
    for k, s, d, padding in itertools.product(range(1, 6), range(1, 4), range(1, 3), ("valid", "same")):
        if s > 1 and d > 1:
            continue  # Keras refuses strides > 1 with dilation_rate > 1
        for a in [None, *range(s)]:
            layer = L.Conv2DTranspose(2, k, strides=s, padding=padding, output_padding=a, dilation_rate=d)
            for n in range(1, 9):
                keras_n = layer.compute_output_shape((1, n, n, 3))[1]
                if keras_n < 1:  # Keras' shape rule says 0 ("same", one pixel, even K, A = 0): refused here
                    with pytest.raises(ValueError, match="empty output"):
                        conv_transpose_output_size(n, k, padding, s, output_padding=a, dilation=d)
                    continue
                ours = conv_transpose_output_size(n, k, padding, s, output_padding=a, dilation=d)
                assert ours == keras_n, (n, k, s, d, padding, a)
                text = conv_transpose_output_formula(n, k, padding, s, output_padding=a, dilation=d)
                assert evaluate(text) == keras_n, text
    # and the odd shapes: a rectangular input along each axis
    layer = L.Conv2DTranspose(2, (3, 4), strides=(2, 3), padding="same", output_padding=(1, 2))
    assert tuple(layer.compute_output_shape((1, 5, 7, 1))[1:3]) == (
        conv_transpose_output_size(5, 3, "same", 2, output_padding=1),
        conv_transpose_output_size(7, 4, "same", 3, output_padding=2),
    )


@pytest.mark.tf
def test_keras_refuses_what_we_refuse(keras):
    L = keras.layers
    with pytest.raises(ValueError, match="output_padding"):
        L.Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="output_padding"):
        conv_transpose_output_size(4, 3, "valid", 2, output_padding=2)
    with pytest.raises(ValueError, match="dilation_rate"):
        L.Conv2D(2, 3, dilation_rate=0)
    with pytest.raises(ValueError, match="dilation"):
        conv_output_size(4, 3, dilation=0)


@pytest.mark.tf
def test_global_pooling_ends_the_spatial_chain_in_keras(keras):
    # what `convlab size --layers ... gap` says: (N, C), or (N, 1, 1, C) with keepdims
    L = keras.layers
    assert tuple(L.GlobalAveragePooling2D().compute_output_shape((1, 7, 7, 3))) == (1, 3)
    assert tuple(L.GlobalMaxPooling2D(keepdims=True).compute_output_shape((1, 7, 7, 3))) == (1, 1, 1, 3)
