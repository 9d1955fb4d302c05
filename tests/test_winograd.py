"""Winograd F(2×2, 3×3) and F(4×4, 3×3) (convlab/kernels/winograd.py) against the reference backend,
the tiled kernel and a float64 computation.

Shapes cover output sizes that are and are not multiples of the tile (the last
row/column of 2×2 or 4×4 tiles is partial), outputs 1 and 2 wide/high, C = 1, 3
and channel counts that are a multiple of nothing, F = 1, 17 and 70 (several
filter blocks, a partial last block), N = 1 and 3, with and without bias,
float32 and float64, the serial and the parallel build, both tile sizes m. Also:
the rounding error bound (1e-5 of the output's scale in float32, also on inputs
with a large common offset), non-finite inputs through ``conv2d`` on the F(4×4)
path, and the ``out=`` arrays. No timing assertions.
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


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("with_bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "x".join(map(str, c)))
def test_matches_reference(case, with_bias, dtype, m):
    n, h, w, c, f, pad = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    x = rng.standard_normal((n, h, w, c)).astype(dtype)
    k = rng.standard_normal((3, 3, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if with_bias else None
    ref = _ref(x, k, b, pad)
    xp = np.ascontiguousarray(_pad(x, pad))
    _check(wg.winograd_forward(xp, k, b, m=m), ref, dtype)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", [(2, 13, 11, 24, 40), (3, 6, 34, 9, 8), (1, 19, 23, 18, 21)])
def test_matches_tiled_kernel_serial_and_parallel(shape, dtype, m):
    """Both builds, several bands."""
    n, hp, wp, c, f = shape
    rng = np.random.default_rng(7)
    xp = rng.standard_normal((n, hp, wp, c)).astype(dtype)
    k = rng.standard_normal((3, 3, c, f)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    ref = nbconv._forward_tiled(xp, k, b, (1, 1))
    for parallel in (True, False):
        for band in (None, 1, 2, 3):
            _check(wg.winograd_forward(xp, k, b, parallel=parallel, band=band, m=m), ref, dtype)
    first = wg.winograd_forward(xp, k, b, m=m)
    for band in (2, 3):  # the same products and sums for each tile: the same bits
        np.testing.assert_array_equal(wg.winograd_forward(xp, k, b, m=m, band=band), first)


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
    # F(4×4, 3×3)'s kernel transform holds thirds and fifteenths: close, not exact.
    np.testing.assert_allclose(wg.winograd_forward(x, w, b, m=4), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


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


def test_kernel_transform_f4_is_g_g_gt():
    rng = np.random.default_rng(4)
    k = rng.standard_normal((3, 3, 3, 20))
    fb, _ = wg.tile_for(np.float64)
    u, fp = wg._kernel_transform(k, fb, 4)
    assert u.shape == (fp // fb, 36, 3, fb)
    G = wg.G4_MATRIX
    for c in range(3):
        for f in range(20):
            expected = (G @ k[:, :, c, f] @ G.T).reshape(36)
            np.testing.assert_allclose(u[f // fb, :, c, f % fb], expected, rtol=1e-13, atol=1e-14)


def test_one_dimensional_identity():
    """Aᵀ[(G g) ⊙ (Bᵀ d)] is the 2-output, 3-tap cross-correlation (Lavin & Gray, F(2, 3))."""
    rng = np.random.default_rng(5)
    d, g = rng.standard_normal(4), rng.standard_normal(3)
    y = wg.AT_MATRIX @ ((wg.G_MATRIX @ g) * (wg.BT_MATRIX @ d))
    np.testing.assert_allclose(y, [d[0:3] @ g, d[1:4] @ g], rtol=1e-14)


def test_one_dimensional_identity_f4():
    """The same for F(4, 3) at the points 0, 1, −1, 1/2, −2, ∞: 4 outputs from 6 inputs, 6 products."""
    rng = np.random.default_rng(6)
    for _ in range(5):
        d, g = rng.standard_normal(6), rng.standard_normal(3)
        y = wg.AT4_MATRIX @ ((wg.G4_MATRIX @ g) * (wg.BT4_MATRIX @ d))
        np.testing.assert_allclose(y, [d[i : i + 3] @ g for i in range(4)], rtol=1e-13, atol=1e-13)
    # Bᵀ and Aᵀ hold multiples of 1/8 only (exact products), G the thirds and fifteenths.
    assert np.array_equal(wg.BT4_MATRIX * 8, np.round(wg.BT4_MATRIX * 8))
    assert np.array_equal(wg.AT4_MATRIX * 8, np.round(wg.AT4_MATRIX * 8))


def test_input_and_output_transforms_match_the_matrices():
    """The vector code of F(4×4, 3×3)'s transforms computes Bᵀ d B and Aᵀ M A (one tile, several channels)."""
    import numba as nb

    @nb.njit
    def run(d, m):
        v = np.empty(36 * d.shape[2], dtype=d.dtype)
        wg.input_transform(v, 0, d.shape[2], d.reshape(-1), 0, 6 * d.shape[2], d.shape[2], d.shape[2], 4)
        y = np.empty(16 * m.shape[2], dtype=m.dtype)
        zero = np.zeros(m.shape[2], dtype=m.dtype)
        wg.output_transform(y, 0, m.shape[2], 4 * m.shape[2], m.reshape(-1), 0, m.shape[2], zero, 0, m.shape[2], 4)
        return v.reshape(6, 6, d.shape[2]), y.reshape(4, 4, m.shape[2])

    rng = np.random.default_rng(8)
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-13)):
        d = rng.standard_normal((6, 6, 11)).astype(dtype)  # 11 channels: one vector and a scalar tail
        mm = rng.standard_normal((6, 6, 11)).astype(dtype)
        v, y = run(d, mm)
        bt, at = wg.BT4_MATRIX, wg.AT4_MATRIX
        np.testing.assert_allclose(v, np.einsum("ab,bcq,dc->adq", bt, d.astype(np.float64), bt), atol=tol * 20)
        np.testing.assert_allclose(y, np.einsum("ab,bcq,dc->adq", at, mm.astype(np.float64), at), atol=tol * 50)


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
    with pytest.raises(ValueError, match="m"):
        wg.winograd_forward(x, np.zeros((3, 3, 2, 1), np.float32), None, m=3)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("parallel", [True, False], ids=["parallel", "serial"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_nonfinite_rows_are_flagged(dtype, parallel, m):
    """``nonfinite`` marks exactly the output rows that hold a NaN or ±inf (what conv.py recomputes)."""
    rng = np.random.default_rng(9)
    xp = rng.standard_normal((3, 9, 8, 5)).astype(dtype)  # odd output height: a partial last band
    k = rng.standard_normal((3, 3, 5, 19)).astype(dtype)
    flags = np.ones((3, 7), np.bool_)
    y = wg.winograd_forward(xp, k, None, parallel=parallel, nonfinite=flags, m=m)
    assert not flags.any()
    xp[1, 4, 2, 3], xp[2, 8, 7, 0] = np.inf, np.nan  # rows 2–4 of image 1; the last row of image 2
    with np.errstate(invalid="ignore"):
        y = wg.winograd_forward(xp, k, None, parallel=parallel, nonfinite=flags, m=m)
    np.testing.assert_array_equal(flags, ~np.isfinite(y).all(axis=(2, 3)))
    # The window's rows at least. F(4×4)'s transforms spread an inf to other rows of its tile (as NaN: flagged
    # and recomputed like the others): input row 4 is row 4 of the first 6×6 tile, which every Bᵀ row reads.
    assert flags[1, 2:5].all() and flags[2, 6]
    assert flags.sum() == (4 if m == 2 else 8)


# --------------------------------------------------------------------------- rounding error against float64
def _direct64(xp, k, b):
    """The valid 3×3 correlation in float64 (nine matrix products)."""
    n, hp, wp, c = xp.shape
    oh, ow = hp - 2, wp - 2
    x64, k64 = xp.astype(np.float64), k.astype(np.float64)
    y = np.zeros((n, oh, ow, k.shape[3])) + b.astype(np.float64)
    for u in range(3):
        for v in range(3):
            y += x64[:, u : u + oh, v : v + ow] @ k64[u, v]
    return y


def _rel_error(got, ref):
    return float(np.abs(got.astype(np.float64) - ref).max() / np.abs(ref).max())


@pytest.mark.parametrize("offset", [0.0, 1000.0], ids=["centred", "offset1000"])
@pytest.mark.parametrize("shape", [(2, 32, 32, 64), (1, 56, 128, 128)], ids=["W2-like", "W3-like"])
def test_float32_error_within_1e5_of_the_scale(shape, offset):
    """F(4×4, 3×3) in float32 on W2/W3-shaped data (fewer images): max error ≤ 1e-5 · max|y| against float64,
    also with a large common offset in x (cancels in the input transform). He-scaled random kernels."""
    n, h, c, f = shape
    rng = np.random.default_rng(21)
    x = (offset + rng.standard_normal((n, h, h, c))).astype(np.float32)
    xp = _pad(x, 1)
    k = (rng.standard_normal((3, 3, c, f)) * np.sqrt(2 / (9 * c))).astype(np.float32)
    b = (0.1 * rng.standard_normal(f)).astype(np.float32)
    ref = _direct64(xp, k, b)
    errs = {m: _rel_error(wg.winograd_forward(xp, k, b, m=m), ref) for m in (2, 4)}
    assert errs[4] <= 1e-5, errs
    assert errs[2] <= errs[4] * 1.5 + 1e-7, errs  # the smaller tile is the more accurate one


@pytest.mark.parametrize("m", [2, 4])
def test_float32_error_with_more_channels_than_one_sum_chunk(m):
    """C = 300: three chunks of the channel sum (128, 128, 44) — still the convolution, and within 1e-5 of
    max|y| with a kernel of mean 0.1 (where one long float32 sum came to 1.1e-5 at C = 256)."""
    assert 2 * wg.SUM_CHUNK < 300 < 3 * wg.SUM_CHUNK
    rng = np.random.default_rng(29)
    x = rng.standard_normal((1, 13, 14, 300)).astype(np.float32)
    k = (0.1 + rng.standard_normal((3, 3, 300, 21)) * np.sqrt(2 / 2700)).astype(np.float32)
    b = np.zeros(21, np.float32)
    err = _rel_error(wg.winograd_forward(x, k, b, m=m, pads=(1, 1, 1, 1)), _direct64(_pad(x, 1), k, b))
    assert err <= 1e-5


# --------------------------------------------------------------------------- through conv2d: the path, inf, out=
@pytest.fixture
def force_winograd(monkeypatch):
    """Winograd for every 3×3 stride-1 layer (C ≥ 1, any size), with the tile given as the fixture's argument."""

    def force(m):
        monkeypatch.setattr(nbconv, "DIRECT_MACS", 0)
        monkeypatch.setattr(nbconv, "SERIAL_MACS", 0)
        monkeypatch.setattr(nbconv, "WINOGRAD_MIN_C", 1)
        monkeypatch.setattr(nbconv, "WINOGRAD_TILE", m)

    return force


def test_tile_choice():
    tile = nbconv.winograd_tile
    assert tile(32, 32, 32) == 4 and tile(56, 56, 128) == 4 and tile(7, 7, 64) == 4  # W2, W3
    assert tile(2, 100, 64) == 2 and tile(1, 1, 64) == 2 and tile(6, 6, 64) == 2  # 4×4 tiles would waste work
    assert tile(56, 56, 256) == 2  # F(4×4)'s rounding grows with C


@pytest.mark.parametrize("m", [2, 4])
def test_conv2d_with_inf_keeps_ieee_on_the_winograd_path(force_winograd, m):
    """An inf in x (and a NaN) through conv2d and conv2d_backward's dx on the Winograd path: the definition's ±inf
    and NaN at the same places as the reference, never a NaN from the transforms' inf − inf."""
    force_winograd(m)
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 11, 13, 6))
    x[0, 5, 6, 2] = np.inf
    x[1, 0, 12, 1] = -np.inf
    x[1, 9, 3, 0] = np.nan
    k = rng.standard_normal((3, 3, 6, 9))
    with np.errstate(all="ignore"):
        got = convlab.conv2d(x, k, padding="same")
        want = convlab.conv2d(x, k, padding="same", backend="reference")
        for test in (np.isnan, np.isposinf, np.isneginf):
            np.testing.assert_array_equal(test(got), test(want))
        fin = np.isfinite(want)
        assert np.abs(got[fin] - want[fin]).max() <= 1e-10 * np.abs(want[fin]).max()
        assert np.isposinf(want).any() and np.isneginf(want).any()  # the inf reached outputs as ±inf
        dy = rng.standard_normal(want.shape)
        dy[0, 3, 3, 4] = np.inf
        dx = convlab.conv2d_backward(dy, np.nan_to_num(x), k, padding="same")[0]
        dx_ref = convlab.conv2d_backward(dy, np.nan_to_num(x), k, padding="same", backend="reference")[0]
    for test in (np.isnan, np.isposinf, np.isneginf):
        np.testing.assert_array_equal(test(dx), test(dx_ref))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("m", [2, 4])
def test_conv2d_forward_and_dx_match_reference_through_each_tile(force_winograd, m, dtype):
    """conv2d and the transposed convolution of conv2d_backward on F(2×2) and F(4×4), odd sizes, N = 1."""
    force_winograd(m)
    rng = np.random.default_rng(17)
    for n, h, w, c, f in [(1, 9, 7, 17, 23), (3, 14, 10, 5, 40)]:
        x = rng.standard_normal((n, h, w, c)).astype(dtype)
        k = rng.standard_normal((3, 3, c, f)).astype(dtype)
        b = rng.standard_normal(f).astype(dtype)
        y = convlab.conv2d(x, k, b, padding="same")
        _check(y, _ref(x, k, b, 1), dtype)
        dy = rng.standard_normal(y.shape).astype(dtype)
        got = convlab.conv2d_backward(dy, x, k, padding="same")
        want = convlab.conv2d_backward(dy, x, k, padding="same", backend="reference")
        for g, r in zip(got, want):
            _check(g, r, dtype)


@pytest.mark.parametrize("path", ["direct", "tiled-serial", "tiled", "winograd2", "winograd4"])
def test_conv2d_forward_writes_into_out(monkeypatch, path):
    """``out=`` on every path of conv2d_forward: the result lands in (and is) the given array."""
    direct, serial, min_c, tile = {
        "direct": (10**12, 10**12, 10**9, None),
        "tiled-serial": (0, 10**12, 10**9, None),
        "tiled": (0, 0, 10**9, None),
        "winograd2": (0, 0, 1, 2),
        "winograd4": (0, 0, 1, 4),
    }[path]
    monkeypatch.setattr(nbconv, "DIRECT_MACS", direct)
    monkeypatch.setattr(nbconv, "SERIAL_MACS", serial)
    monkeypatch.setattr(nbconv, "WINOGRAD_MIN_C", min_c)
    monkeypatch.setattr(nbconv, "WINOGRAD_TILE", tile)
    rng = np.random.default_rng(19)
    x = rng.standard_normal((2, 10, 9, 4)).astype(np.float32)
    k = rng.standard_normal((3, 3, 4, 18)).astype(np.float32)
    b = rng.standard_normal(18).astype(np.float32)
    want = nbconv.conv2d_forward(x, k, b, (1, 1), (1, 1, 1, 1))
    out = np.full(want.shape, np.nan, np.float32)
    got = nbconv.conv2d_forward(x, k, b, (1, 1), (1, 1, 1, 1), out=out)
    assert got is out
    np.testing.assert_array_equal(out, want)
    _check(out, _ref(x, k, b, 1), np.float32)


def test_winograd_forward_writes_into_out():
    rng = np.random.default_rng(23)
    xp = rng.standard_normal((2, 12, 11, 20)).astype(np.float32)
    k = rng.standard_normal((3, 3, 20, 7)).astype(np.float32)
    for m in (2, 4):
        out = np.full((2, 10, 9, 7), np.nan, np.float32)
        assert wg.winograd_forward(xp, k, None, m=m, out=out) is out
        np.testing.assert_array_equal(out, wg.winograd_forward(xp, k, None, m=m))
