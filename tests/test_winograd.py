"""Winograd F(2×2, 3×3) (convlab/kernels/winograd.py) against the reference backend and the tiled kernel.

Shapes cover odd and even output sizes (the last row/column of 2×2 tiles is
partial), outputs 1 and 2 wide/high, C = 1, 3 and channel counts that are a
multiple of nothing, F = 1, 17 and 70 (several filter blocks, a partial last
block), N = 1 and 3, with and without bias, float32 and float64, the serial
and the parallel build. No timing assertions.
"""

import numpy as np
import pytest

import convlab
from convlab.kernels import conv as nbconv
from convlab.kernels import winograd as wg

#: Max |error| allowed, relative to the largest |output|.
RTOL = {np.float32: 1e-4, np.float64: 1e-10}

# (N, H, W, C, F, padding) — H, W: unpadded input; output (H+2P−2) × (W+2P−2)
CASES = [
    (1, 3, 3, 1, 1, 0),  # a single output pixel, C = 1, F = 1
    (1, 4, 4, 1, 1, 0),  # one full 2×2 tile
    (2, 4, 3, 3, 17, 0),  # 2 × 1 output, F = 17 (one full block + 1 filter)
    (3, 3, 4, 3, 2, 0),  # 1 × 2 output, N = 3
    (2, 7, 8, 3, 5, 1),  # "same": odd height, even width
    (1, 8, 7, 5, 70, 1),  # even height, odd width, several filter blocks
    (3, 9, 9, 13, 17, 0),  # odd × odd, C a multiple of nothing
    (1, 5, 30, 20, 33, 0),  # one band of 14 tiles: full JB micro-tiles plus a leftover
    (2, 10, 19, 7, 70, 1),  # wide odd rows, 70 filters
    (1, 16, 16, 32, 16, 1),  # a small VGG-like layer
]


def _ref(x, k, b, pad):
    return convlab.conv2d(x, k, b, padding=pad, backend="reference")


def _pad(x, p):
    return np.pad(x, ((0, 0), (p, p), (p, p), (0, 0))) if p else x


def _check(got, ref, dtype):
    assert got.shape == ref.shape
    assert got.dtype == np.dtype(dtype)
    scale = float(np.abs(ref).max())
    err = float(np.abs(got - ref).max())
    assert err <= RTOL[dtype] * scale, f"max error {err:.3e} vs scale {scale:.3e}"


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_matches_reference(case, with_bias, dtype):
    n, h, w, c, f, pad = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((3, 3, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if with_bias else None
    ref = _ref(x, k, b, pad)
    xp = np.ascontiguousarray(_pad(x, pad))
    _check(wg.winograd_forward(xp, k, b), ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 13, 11, 24, 40), (3, 6, 34, 9, 8)])
def test_matches_tiled_kernel_serial_and_parallel(shape, dtype):
    n, hp, wp, c, f = shape
    rng = np.random.default_rng(7)
    xp = rng.standard_normal((n, hp, wp, c)).astype(dtype)
    k = rng.standard_normal((3, 3, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    ref = nbconv._forward_tiled(xp, k, b, (1, 1))
    for parallel in (True, False):
        _check(wg.winograd_forward(xp, k, b, parallel=parallel), ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_slide_integer_example(dtype):
    """The slides' 5×5×3 input with two 3×3×3 integer filters, stride 1: exact small integers."""
    from conftest import three_channel_example

    x, w, b, _ = three_channel_example()
    x = x[None].astype(dtype)
    w, b = w.astype(dtype), b.astype(dtype)
    ref = _ref(x, w, b, 0)
    got = wg.winograd_forward(x, w, b)
    assert got.shape == (1, 3, 3, 2)
    # Small integers: the transforms (halvings included) are exact, so is the result.
    np.testing.assert_array_equal(got, ref)


def test_kernel_transform_is_g_g_gt():
    rng = np.random.default_rng(3)
    k = rng.standard_normal((3, 3, 5, 11))
    fb, _ = wg.tile_for(np.float64)
    u, fp = wg._kernel_transform(k, fb)
    assert fp % fb == 0 and fp >= 11
    assert u.shape == (fp // fb, 16, 5, fb) and u.flags.c_contiguous
    G = wg.G_MATRIX
    for c in range(5):
        for f in range(11):
            expected = (G @ k[:, :, c, f] @ G.T).reshape(16)
            np.testing.assert_allclose(u[f // fb, :, c, f % fb], expected, rtol=1e-14, atol=1e-14)
    by_filter = u.transpose(1, 2, 0, 3).reshape(16, 5, fp)  # (ξ, c, f)
    assert not by_filter[:, :, 11:].any()  # padding filters are zero


def test_one_dimensional_identity():
    """Aᵀ[(G g) ⊙ (Bᵀ d)] is the 2-output, 3-tap cross-correlation (Lavin & Gray, F(2, 3))."""
    rng = np.random.default_rng(5)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    y = wg.AT_MATRIX @ ((wg.G_MATRIX @ g) * (wg.BT_MATRIX @ d))
    np.testing.assert_allclose(y, [d[0:3] @ g, d[1:4] @ g], rtol=1e-14)


def test_rejects_bad_shapes():
    x = np.zeros((1, 5, 5, 2), np.float32)
    with pytest.raises(ValueError):
        wg.winograd_forward(x, np.zeros((5, 5, 2, 1), np.float32), None)
    with pytest.raises(ValueError):
        wg.winograd_forward(x, np.zeros((3, 3, 3, 1), np.float32), None)
    with pytest.raises(ValueError):
        wg.winograd_forward(x[:, :2], np.zeros((3, 3, 2, 1), np.float32), None)
    with pytest.raises(ValueError, match="nonfinite"):
        wg.winograd_forward(x, np.zeros((3, 3, 2, 1), np.float32), None, nonfinite=np.zeros((1, 2), np.bool_))


@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "serial"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_nonfinite_rows_are_flagged(dtype, parallel):
    """``nonfinite`` marks exactly the output rows that hold a NaN or ±inf (what conv.py recomputes)."""
    rng = np.random.default_rng(9)
    xp = rng.standard_normal((3, 9, 8, 5)).astype(dtype)  # odd output height: a partial last band
    k = rng.standard_normal((3, 3, 5, 19)).astype(dtype)
    flags = np.ones((3, 7), np.bool_)
    y = wg.winograd_forward(xp, k, None, parallel=parallel, nonfinite=flags)
    assert not flags.any()
    xp[1, 4, 2, 3], xp[2, 8, 7, 0] = np.inf, np.nan  # rows 2–4 of image 1; the last row of image 2
    with np.errstate(invalid="ignore"):
        y = wg.winograd_forward(xp, k, None, parallel=parallel, nonfinite=flags)
    np.testing.assert_array_equal(flags, ~np.isfinite(y).all(axis=(2, 3)))
    assert flags[1, 2:5].all() and flags[2, 6] and flags.sum() == 4
