"""Weight initialisers (convlab.model.layers.initializers): Keras 3's definitions, drawn from convlab's generator.

Another generator than Keras', so the numbers differ: the tests check shapes, dtypes, exact
bounds, and the statistics of large draws against Keras' definition and against a Keras sample.
"""

import math

import numpy as np
import pytest

import convlab
from convlab.model.layers import initializers as init
from convlab.model.layers import randomness

CONV = (3, 3, 64, 128)  # fan_in 576, fan_out 1,152: 73,728 draws
DENSE = (784, 100)

#: name → (scale, mode, distribution) as Keras 3 defines it.
VARIANCE_SCALING = {
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "he_uniform": (2.0, "fan_in", "uniform"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
    "lecun_uniform": (1.0, "fan_in", "uniform"),
}


def _n(shape, mode):
    fan_in, fan_out = init.compute_fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def _expected_std(name, shape):
    """The standard deviation of the values Keras' definition gives (not the normal's parameter)."""
    if name in VARIANCE_SCALING:
        scale, mode, _ = VARIANCE_SCALING[name]
        return math.sqrt(scale / _n(shape, mode))
    truncated = 0.05 * init.TRUNCATED_STD  # the values' std: the normal's parameter times 0.8796…
    return {"random_normal": 0.05, "random_uniform": 0.1 / math.sqrt(12), "truncated_normal": truncated}[name]


# --------------------------------------------------------------------------- compute_fans
def test_compute_fans_by_hand():
    assert init.compute_fans(()) == (1, 1)
    assert init.compute_fans((7,)) == (7, 7)
    assert init.compute_fans((784, 10)) == (784, 10)
    assert init.compute_fans((3, 3, 16, 32)) == (144, 288)
    assert init.compute_fans((3, 3, 32, 1)) == (288, 9)  # depthwise
    assert init.compute_fans((3, 3, 16, 8)) == (144, 72)  # transpose: Keras reads the last axis as "out"
    assert init.compute_fans([2, 3, 4, 5, 6]) == (120, 144)  # 3-D conv kernel: receptive field 2·3·4 = 24


@pytest.mark.tf
def test_compute_fans_equals_keras():
    pytest.importorskip("keras")
    from keras.src.initializers.random_initializers import compute_fans

    for shape in [(), (5,), (784, 10), (3, 3, 32, 1), (3, 3, 16, 8), (5, 5, 3, 64), (1, 1, 96, 24), (2, 3, 4, 5, 6)]:
        assert init.compute_fans(shape) == compute_fans(shape), shape


# --------------------------------------------------------------------------- each name
@pytest.mark.parametrize("name", init.NAMES)
def test_shape_dtype_bounds_and_statistics(name):
    convlab.set_seed(0)
    f = init.get(name)
    for shape in (CONV, DENSE):
        for dtype in (np.float32, np.float64):
            w = f(shape, dtype)
            assert w.shape == shape and w.dtype == dtype and w.flags.c_contiguous
            if name in ("zeros", "ones"):
                assert np.all(w == (name == "ones"))
                continue
            std = _expected_std(name, shape)
            w64 = w.astype(np.float64)
            distribution = VARIANCE_SCALING.get(name, (None, None, name))[2]
            if distribution == "uniform" or name == "random_uniform":
                limit = math.sqrt(3.0) * std if name != "random_uniform" else 0.05
                assert np.abs(w64).max() <= float(dtype(limit))  # the bound, rounded to the dtype
                assert np.abs(w64).max() > 0.999 * limit  # the whole range is used
            elif distribution == "truncated_normal":
                two_sigma = 2 * std / 0.87962566103423978  # 2 × the normal's parameter
                assert np.abs(w64).max() <= float(dtype(two_sigma))
                assert np.abs(w64).max() > 0.99 * two_sigma
            else:  # random_normal is not truncated: about 4.6% lie beyond 2 standard deviations
                assert 0.04 < np.mean(np.abs(w64) > 2 * std) < 0.05
            assert abs(w64.mean()) < 5 * std / math.sqrt(w.size)
            assert w64.std() == pytest.approx(std, rel=0.02)


def test_variance_scaling_with_arguments():
    rng = np.random.default_rng(1)
    for scale, mode, distribution in [(0.5, "fan_out", "uniform"), (3.0, "fan_avg", "untruncated_normal")]:
        w = init.VarianceScaling(scale, mode, distribution)(CONV, np.float64, rng)
        assert w.std() == pytest.approx(math.sqrt(scale / _n(CONV, mode)), rel=0.02)
    assert init.VarianceScaling(distribution="normal").distribution == "truncated_normal"  # Keras' alias
    with pytest.raises(ValueError, match=r"scale must be a finite float > 0, got 0"):
        init.VarianceScaling(0)
    with pytest.raises(ValueError, match=r"mode must be one of .*fan_avg.*got 'fan'"):
        init.VarianceScaling(mode="fan")
    with pytest.raises(ValueError, match=r"distribution must be one of .*got 'cauchy'"):
        init.VarianceScaling(distribution="cauchy")


@pytest.mark.tf
@pytest.mark.parametrize("name", [n for n in init.NAMES if n not in ("zeros", "ones")])
def test_sample_std_matches_a_keras_sample(name):
    keras = pytest.importorskip("keras")
    for shape in (CONV, DENSE):
        theirs = np.asarray(keras.initializers.get(name)(shape, dtype="float32"))
        ours = init.get(name)(shape, np.float32, np.random.default_rng(2))
        assert ours.std() == pytest.approx(theirs.std(), rel=0.03)
        assert np.abs(ours).max() == pytest.approx(np.abs(theirs).max(), rel=0.05 if name != "random_normal" else 0.5)


# --------------------------------------------------------------------------- the generator
def test_draws_come_from_convlab_generator_and_repeat_with_the_seed():
    f = init.get("he_normal")
    convlab.set_seed(3)
    a = f(DENSE, np.float32)
    convlab.set_seed(3)
    b = f(DENSE, np.float64)
    assert np.array_equal(a, b.astype(np.float32))  # one float64 draw, rounded to the dtype
    c = f(DENSE, np.float32, np.random.default_rng(3))  # an explicit generator
    assert np.array_equal(a, c)


def test_glorot_uniform_numbers_are_the_ones_convlab_drew_before():
    """randomness.glorot_uniform (and get("glorot_uniform")) keep the numbers saved seeds rely on."""

    def before(shape, fan_in, fan_out, dtype, rng):
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-limit, limit, size=shape).astype(dtype)

    for shape in [(3, 3, 1, 32), (5, 5, 3, 7), (5408, 100), (41, 1), (3, 3, 16, 20)]:
        fan_in, fan_out = init.compute_fans(shape)
        for dtype in (np.float32, np.float64):
            old = before(shape, fan_in, fan_out, dtype, np.random.default_rng(11))
            convlab.set_seed(11)
            assert np.array_equal(randomness.glorot_uniform(shape, fan_in, fan_out, dtype), old)
            convlab.set_seed(11)
            assert np.array_equal(init.get("glorot_uniform")(shape, dtype), old)


def test_zeros_and_ones_draw_nothing():
    rng = np.random.default_rng(4)
    state = rng.bit_generator.state
    init.get("zeros")((3, 4), np.float32, rng)
    init.get("ones")((3, 4), np.float64, rng)
    assert rng.bit_generator.state == state


def test_truncated_normal_redraws_outside_two_sigma():
    w = init.TruncatedNormal(mean=1.0, stddev=2.0)((200_000,), np.float64, np.random.default_rng(5))
    assert np.all(np.abs(w - 1.0) < 4.0)
    assert (w - 1.0).std() == pytest.approx(2.0 * 0.87962566103423978, rel=0.01)


# --------------------------------------------------------------------------- get
def test_get_accepts_keras_spellings():
    for name in init.NAMES:
        camel = "".join(part.capitalize() for part in name.split("_"))
        assert type(init.get(name)) is type(init.get(camel))
    assert isinstance(init.get("GlorotUniform"), init.GlorotUniform)
    assert isinstance(init.get("normal"), init.RandomNormal) and isinstance(init.get("zero"), init.Zeros)
    assert isinstance(init.get(init.HeNormal), init.HeNormal)
    he = init.HeNormal()
    assert init.get(he) is he
    vs = init.get({"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out", "seed": None}})
    assert vs == init.VarianceScaling(2.0, "fan_out")
    assert init.get({"class_name": "Constant", "config": {"value": 3}})((2,), np.float32).tolist() == [3.0, 3.0]


def test_get_wraps_a_function():
    f = init.get(lambda shape, dtype: np.full(shape, 2, dtype=dtype))
    w = f((2, 3), np.float32)
    assert w.dtype == np.float32 and np.all(w == 2)
    assert init.get(lambda shape, dtype: np.ones(shape))((2,), np.float32).dtype == np.float32  # converted
    with pytest.raises(ValueError, match=r"has shape \(3,\), expected \(2,\)"):
        init.get(lambda shape, dtype: np.ones(3))((2,), np.float64)


def test_get_errors_name_the_identifier_and_list_the_names():
    with pytest.raises(ValueError, match=r"unknown initializer 'glorot'.*glorot_uniform, glorot_normal, he_normal"):
        init.get("glorot")
    with pytest.raises(ValueError, match=r"unknown initializer class_name 'Orthogonal'.*lecun_uniform"):
        init.get({"class_name": "Orthogonal", "config": {}})
    with pytest.raises(ValueError, match=r"seed=7 is not supported.*convlab.set_seed"):
        init.get({"class_name": "HeNormal", "config": {"seed": 7}})
    with pytest.raises(ValueError, match=r"'RandomNormal' does not take the arguments \['sigma'\]"):
        init.get({"class_name": "RandomNormal", "config": {"sigma": 1}})
    for bad in (None, 3, 1.5):
        with pytest.raises(TypeError, match=r"initializer must be a name \(glorot_uniform.*or a function"):
            init.get(bad)
    with pytest.raises(TypeError, match=r"got the class <class 'int'>"):
        init.get(int)


def test_call_errors_name_the_argument():
    f = init.get("he_uniform")
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64, got 'int32'"):
        f((2, 2), "int32")
    with pytest.raises(ValueError, match=r"shape\[1\] must be a non-negative int, got -2"):
        f((2, -2), np.float32)
    with pytest.raises(TypeError, match=r"shape\[0\] must be a non-negative int, got 2.0"):
        f((2.0, 2), np.float32)
    with pytest.raises(ValueError, match=r"shape: the array HeUniform draws would have shape"):
        f((2**40, 2**40), np.float32)
