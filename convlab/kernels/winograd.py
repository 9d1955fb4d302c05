"""Winograd minimal filtering F(2×2, 3×3) for 3×3, stride-1 convolutions (Lavin & Gray 2015).

The idea
--------
In one dimension, two outputs of a 3-tap cross-correlation,
``y0 = d0·g0 + d1·g1 + d2·g2`` and ``y1 = d1·g0 + d2·g1 + d3·g2``, need 6
multiplications done directly, but only 4 this way (Lavin & Gray's F(2, 3))::

    m1 = (d0 − d2)·g0                   m3 = (d2 − d1)·(g0 − g1 + g2)/2
    m2 = (d1 + d2)·(g0 + g1 + g2)/2     m4 = (d1 − d3)·g2
    y0 = m1 + m2 + m3                   y1 = m2 − m3 − m4

In matrix form ``y = Aᵀ[(G g) ⊙ (Bᵀ d)]`` with::

    Bᵀ = [[1, 0, −1, 0],     G = [[1,    0,   0 ],     Aᵀ = [[1, 1,  1,  0],
          [0, 1,  1, 0],          [1/2, 1/2, 1/2],           [0, 1, −1, −1]]
          [0, −1, 1, 0],          [1/2, −1/2, 1/2],
          [0, 1,  0, −1]]         [0,    0,   1 ]]

Nesting it with itself gives the 2-D version F(2×2, 3×3): a 2×2 block of outputs
from a 4×4 input tile ``d`` and the 3×3 filter ``g`` is
``Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`` — 16 multiplications instead of 36 (2.25× fewer).
The transforms are only additions (and halvings, exact in binary floating
point, for the filter).

Over channels and filters, the ``⊙`` becomes 16 independent matrix products
(one per position ``ξ`` of the 4×4 transformed tile)::

    M[ξ] (tiles × F) = V[ξ] (tiles × C) · U[ξ] (C × F)
    U = G g Gᵀ   per (c, f);   V = Bᵀ d B   per (tile, c);   Y = Aᵀ M A   per (tile, f)

so the multiplications go through the same register-tile micro-kernel as the
direct path (:func:`convlab.kernels.tile.tile_fma`), with rows = tiles and
taps = input channels.

How the work is split
---------------------
* The kernel is transformed once per call (:func:`_kernel_transform`, in
  float64, rounded once) and packed like
  :func:`convlab.kernels.conv._kernel_matrix`: ``(F_pad/FB, 16, C, FB)`` — for
  each block of FB filters and each ``ξ`` one contiguous ``(C, FB)`` slab, which
  ``tile_fma`` streams with ``kstep = FB``.
* One parallel task = one image × one row of output tiles (2 output rows;
  ``band`` rows with :data:`BAND` > 1 — measured no faster on W2/W3). It
  transforms its band of 4 input rows into a per-thread buffer
  ``V[16][T][C]`` (``T`` = tiles in a row; W3: 16 × 28 × 128 floats = 229 KB,
  L2-resident). The transformed input of the whole batch (4× the input) is
  never stored.
* Then, for each filter block: for each ``ξ``: ``M[ξ] = V[ξ]·U[ξ]`` in tiles of
  ``JB`` output tiles × ``FB`` filters (the ``(C, FB)`` slab stays in L1 across
  the row); ``M`` for that block only (``16 × T × FB``, W3: 28 KB) lives in a
  second per-thread buffer and is turned into 2×2 output blocks (``Aᵀ M A`` +
  bias) before the next block. (The other order — ``ξ`` outer, filter blocks
  inner, ``M`` for all filters — measured the same.)
* Both transforms are emitted as LLVM vector code (:func:`input_transform`,
  :func:`output_transform`: vectors over channels / filters). Written as Numba
  loops they stayed scalar and cost more than the 16 products together.
* Odd output sizes: the last row/column of tiles reads input rows/columns past
  the padded input as zeros and stores only the outputs that exist.
* Extra memory: ``U`` (16·C·F_pad values, 1 MB on W3 in float32) plus ``V`` and
  ``M`` per thread (:func:`scratch_bytes`: 1.57 MB in all on W3, 2 threads).

Rounding: the transforms add and subtract input values before the products
and the products' sums after them, but each product's sum runs over C
channels only (the direct sum runs over 9·C taps). Measured against a float64
direct computation: W3 (VGG block 3) in float32, max error 5.3e-7 of the
output's scale (the direct tiled kernel: 1.6e-6); float64 ~2e-15.

Speed: the transforms cost the same per pixel whatever the channel count, the
saved multiplications grow with it; below ~16 input channels the transforms
cost more than they save (``WINOGRAD_MIN_C`` in ``conv.py``; timings in
``benchmarks/README.md``).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from convlab.kernels.tile import HAS_AVX512, specialised, tile_fma, tile_for

#: The filter transform G (4×3) of F(2, 3).
G_MATRIX = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
#: The input transform Bᵀ (4×4) and output transform Aᵀ (2×4), for reference (the kernels below hard-code them).
BT_MATRIX = np.array([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]])
AT_MATRIX = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]])


@nb.njit(parallel=True, cache=True)
def _pack_u(kernel, fb, u):
    """``u[f // fb, 4a + b, c, f % fb] = (G g Gᵀ)[a, b]`` with ``g = kernel[:, :, c, f]``, in float64, rounded once."""
    _, _, c_in, n_f = kernel.shape
    for c in nb.prange(c_in):
        for f in range(n_f):
            fbi = f // fb
            fo = f - fbi * fb
            # G g: rows (g0, (g0 + g1 + g2)/2, (g0 − g1 + g2)/2, g2) of the 3×3 filter, for each column v.
            h = _g_times(
                kernel[0, 0, c, f],
                kernel[1, 0, c, f],
                kernel[2, 0, c, f],
                kernel[0, 1, c, f],
                kernel[1, 1, c, f],
                kernel[2, 1, c, f],
                kernel[0, 2, c, f],
                kernel[1, 2, c, f],
                kernel[2, 2, c, f],
            )
            # (G g) Gᵀ: the same combination of the three columns, for each of the 4 rows.
            _store_gt(u, fbi, c, fo, 0, h[0], h[1], h[2])
            _store_gt(u, fbi, c, fo, 4, h[3], h[4], h[5])
            _store_gt(u, fbi, c, fo, 8, h[6], h[7], h[8])
            _store_gt(u, fbi, c, fo, 12, h[9], h[10], h[11])


@nb.njit(inline="always")
def _store_gt(u, fbi, c, fo, xi0, h0, h1, h2):
    u[fbi, xi0, c, fo] = h0
    u[fbi, xi0 + 1, c, fo] = 0.5 * (h0 + h1 + h2)
    u[fbi, xi0 + 2, c, fo] = 0.5 * (h0 - h1 + h2)
    u[fbi, xi0 + 3, c, fo] = h2


@nb.njit(inline="always")
def _g_times(g00, g10, g20, g01, g11, g21, g02, g12, g22):
    """``G g`` of a 3×3 filter (given column by column) in float64, as 12 values in row-major (4, 3) order."""
    g00, g10, g20 = np.float64(g00), np.float64(g10), np.float64(g20)
    g01, g11, g21 = np.float64(g01), np.float64(g11), np.float64(g21)
    g02, g12, g22 = np.float64(g02), np.float64(g12), np.float64(g22)
    return (
        g00,
        g01,
        g02,
        0.5 * (g00 + g10 + g20),
        0.5 * (g01 + g11 + g21),
        0.5 * (g02 + g12 + g22),
        0.5 * (g00 - g10 + g20),
        0.5 * (g01 - g11 + g21),
        0.5 * (g02 - g12 + g22),
        g20,
        g21,
        g22,
    )


def _kernel_transform(kernel, fb):
    """``(3,3,C,F)`` → packed ``U`` as ``(F_pad/fb, 16, C, fb)``: ``U[ξ=4a+b] = (G g Gᵀ)[a, b]`` per (c, f).

    One contiguous ``(C, fb)`` slab per filter block and ``ξ`` (as
    :func:`convlab.kernels.conv._kernel_matrix` packs the direct kernel).
    Computed in float64 and rounded once to the kernel's dtype. Filters beyond
    ``F`` (up to ``F_pad``, a multiple of ``fb``) are zero.
    """
    _, _, c_in, n_f = kernel.shape
    fp = -(-n_f // fb) * fb
    u = np.empty((fp // fb, 16, c_in, fb), dtype=kernel.dtype)
    if fp != n_f:
        u[-1] = 0.0
    _pack_u(kernel, fb, u)
    return u, fp


#: Rows of 2×2 output tiles per parallel task (see :func:`winograd_forward`).
BAND = 1

#: Bytes in one vector register (the transforms' vector width: 8 float32 / 4 float64 on AVX2).
VEC_BYTES = 64 if HAS_AVX512 else 32


def _channel_loop(context, builder, n, dtype, body):
    """Emit ``for c in range(n): body(c, W)`` as a loop over vectors of ``W`` channels plus a scalar tail.

    Why not plain Numba loops? The transforms read 16 values at 16 runtime
    strides and write 16: LLVM's vectoriser then gives up (too many runtime
    alias checks, plus Numba's negative-index wraparound on every access), and
    the scalar code costs more than the 16 products it feeds.
    Emitting ``<W x float>`` arithmetic directly, as :mod:`.tile` does, fixes it.
    """
    intp = context.get_value_type(types.intp)
    T = context.get_value_type(dtype)
    W = max(1, VEC_BYTES // context.get_abi_sizeof(T))
    nvec = builder.sdiv(n, ir.Constant(intp, W))
    with cgutils.for_range(builder, nvec, intp=intp) as loop:
        body(builder.mul(loop.index, ir.Constant(intp, W)), W)
    with cgutils.for_range(builder, n, start=builder.mul(nvec, ir.Constant(intp, W)), intp=intp) as loop:
        body(loop.index, 1)


def _vec_io(context, builder, dtype):
    """``load(ptr, i, W)`` / ``store(value, ptr, i, W)``: W consecutive elements at ``ptr[i]`` (unaligned)."""
    T = context.get_value_type(dtype)
    align = context.get_abi_sizeof(T)

    def load(ptr, i, W):
        addr = builder.gep(ptr, [i])
        if W == 1:
            return builder.load(addr)
        return builder.load(builder.bitcast(addr, ir.VectorType(T, W).as_pointer()), align=align)

    def store(value, ptr, i, W):
        addr = builder.gep(ptr, [i])
        if W == 1:
            builder.store(value, addr)
        else:
            builder.store(value, builder.bitcast(addr, ir.VectorType(T, W).as_pointer()), align=align)

    return load, store


def _caster(context, builder):
    """``cast(value, numba_type)`` → the value as an LLVM ``intp``."""

    def cast(val, ty):
        return context.cast(builder, val, ty, types.intp)

    return cast


def _check_same_float(name, *arrays):
    dts = {a.dtype for a in arrays}
    if len(dts) != 1 or not isinstance(next(iter(dts)), types.Float):
        raise TypingError(f"{name}: arrays must share one float dtype")


@intrinsic
def input_transform(typingctx, v, vbase, vstride, x, xbase, rs, cs, n):
    """``v[vbase + ξ·vstride + c] = (Bᵀ d_c B)[ξ]`` for ``c < n``, ``d_c[a, b] = x[xbase + a·rs + b·cs + c]``.

    One 4×4 input tile, all its channels (``ξ = 4a + b``). No bounds checks.
    """
    _check_same_float("input_transform", v, x)
    sig = types.void(v, vbase, vstride, x, xbase, rs, cs, n)

    def codegen(context, builder, signature, args):
        aty = signature.args
        v_a, vbase_v, vstride_v, x_a, xbase_v, rs_v, cs_v, n_v = args
        intp = context.get_value_type(types.intp)
        cast = _caster(context, builder)
        vp = context.make_array(aty[0])(context, builder, v_a).data
        xp = context.make_array(aty[3])(context, builder, x_a).data
        vbase_i, vstride_i = cast(vbase_v, aty[1]), cast(vstride_v, aty[2])
        xbase_i, rs_i, cs_i, n_i = cast(xbase_v, aty[4]), cast(rs_v, aty[5]), cast(cs_v, aty[6]), cast(n_v, aty[7])
        load, store = _vec_io(context, builder, aty[0].dtype)
        xoff = [
            [
                builder.add(
                    xbase_i,
                    builder.add(builder.mul(ir.Constant(intp, a), rs_i), builder.mul(ir.Constant(intp, b), cs_i)),
                )
                for b in range(4)
            ]
            for a in range(4)
        ]
        voff = [builder.add(vbase_i, builder.mul(ir.Constant(intp, xi), vstride_i)) for xi in range(16)]
        sub, add = builder.fsub, builder.fadd

        def body(c, W):
            d = [[load(xp, builder.add(xoff[a][b], c), W) for b in range(4)] for a in range(4)]
            # Bᵀ d: rows (r0 − r2, r1 + r2, r2 − r1, r1 − r3), column by column.
            e = [
                [sub(d[0][b], d[2][b]) for b in range(4)],
                [add(d[1][b], d[2][b]) for b in range(4)],
                [sub(d[2][b], d[1][b]) for b in range(4)],
                [sub(d[1][b], d[3][b]) for b in range(4)],
            ]
            # (Bᵀ d) B: the same combination of columns, row by row.
            for a in range(4):
                r = e[a]
                out = (sub(r[0], r[2]), add(r[1], r[2]), sub(r[2], r[1]), sub(r[1], r[3]))
                for b in range(4):
                    store(out[b], vp, builder.add(voff[4 * a + b], c), W)

        _channel_loop(context, builder, n_i, aty[0].dtype, body)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def output_transform(typingctx, y, ybase, ycs, yrs, m, mbase, mstride, bias, bbase, n):
    """``y[ybase + a·yrs + b·ycs + f] = (Aᵀ M_f A)[a, b] + bias[bbase + f]`` for ``f < n``,
    with ``M_f[ξ] = m[mbase + ξ·mstride + f]``.

    One tile's full 2×2 block of outputs, for ``n`` consecutive filters. No bounds checks.
    """
    _check_same_float("output_transform", y, m, bias)
    sig = types.void(y, ybase, ycs, yrs, m, mbase, mstride, bias, bbase, n)

    def codegen(context, builder, signature, args):
        aty = signature.args
        y_a, ybase_v, ycs_v, yrs_v, m_a, mbase_v, mstride_v, b_a, bbase_v, n_v = args
        intp = context.get_value_type(types.intp)
        cast = _caster(context, builder)
        yp = context.make_array(aty[0])(context, builder, y_a).data
        mp = context.make_array(aty[4])(context, builder, m_a).data
        bp = context.make_array(aty[7])(context, builder, b_a).data
        ybase_i, ycs_i, yrs_i = cast(ybase_v, aty[1]), cast(ycs_v, aty[2]), cast(yrs_v, aty[3])
        mbase_i, mstride_i = cast(mbase_v, aty[5]), cast(mstride_v, aty[6])
        bbase_i, n_i = cast(bbase_v, aty[8]), cast(n_v, aty[9])
        load, store = _vec_io(context, builder, aty[0].dtype)
        moff = [builder.add(mbase_i, builder.mul(ir.Constant(intp, xi), mstride_i)) for xi in range(16)]
        yoff = [
            [
                builder.add(
                    ybase_i,
                    builder.add(builder.mul(ir.Constant(intp, a), yrs_i), builder.mul(ir.Constant(intp, b), ycs_i)),
                )
                for b in range(2)
            ]
            for a in range(2)
        ]
        sub, add = builder.fsub, builder.fadd

        def body(f, W):
            mm = [load(mp, builder.add(moff[xi], f), W) for xi in range(16)]
            # Aᵀ M: rows (r0 + r1 + r2, r1 − r2 − r3), column by column; then the same on columns.
            s = [
                [add(add(mm[b], mm[4 + b]), mm[8 + b]) for b in range(4)],
                [sub(sub(mm[4 + b], mm[8 + b]), mm[12 + b]) for b in range(4)],
            ]
            bv = load(bp, builder.add(bbase_i, f), W)
            for a in range(2):
                r = s[a]
                out = (add(add(add(r[0], r[1]), r[2]), bv), add(sub(sub(r[1], r[2]), r[3]), bv))
                for b in range(2):
                    store(out[b], yp, builder.add(yoff[a][b], f), W)

        _channel_loop(context, builder, n_i, aty[0].dtype, body)
        return context.get_dummy_value()

    return sig, codegen


@nb.njit(inline="always")
def _edge_output(yf, ybase, ycs, yrs, mf, mbase, mstride, bias, bbase, n, rows, cols):
    """:func:`output_transform` for a tile at the bottom/right edge: only ``rows`` × ``cols`` of its 2×2
    outputs exist."""
    for f in range(n):
        m = mf[mbase + f :]
        s0 = m[0] + m[4 * mstride] + m[8 * mstride]
        s1 = m[mstride] + m[5 * mstride] + m[9 * mstride]
        s2 = m[2 * mstride] + m[6 * mstride] + m[10 * mstride]
        s3 = m[3 * mstride] + m[7 * mstride] + m[11 * mstride]
        w0 = m[4 * mstride] - m[8 * mstride] - m[12 * mstride]
        w1 = m[5 * mstride] - m[9 * mstride] - m[13 * mstride]
        w2 = m[6 * mstride] - m[10 * mstride] - m[14 * mstride]
        w3 = m[7 * mstride] - m[11 * mstride] - m[15 * mstride]
        bf = bias[bbase + f]
        yf[ybase + f] = s0 + s1 + s2 + bf
        if cols == 2:
            yf[ybase + ycs + f] = s1 - s2 - s3 + bf
        if rows == 2:
            yf[ybase + yrs + f] = w0 + w1 + w2 + bf
            if cols == 2:
                yf[ybase + yrs + ycs + f] = w1 - w2 - w3 + bf


@nb.njit(cache=True, fastmath={"reassoc"})
def _any_nonfinite(a, start, stop):
    """Whether ``a[start:stop]`` (``start < stop``) holds a NaN or ±inf.

    ``v − v`` is 0 for a finite ``v`` and NaN for NaN and ±inf, so the sum of
    them is NaN exactly when one is not finite. ``reassoc`` only lets LLVM
    vectorise the sum (no ``nnan``/``ninf``, which would let it drop the test).
    """
    b = a[start:stop]  # indices from 0: no negative-index wraparound to hinder the vectoriser
    s = b[0] - b[0]
    for i in range(1, b.size):
        v = b[i]
        s += v - v
    return s != s


@nb.njit(cache=True)
def _band_task(
    xf, hp, wp, c_in, uf, bias, tapoff, n, tr0, n_rows, n_t, mstride, vstride, vf, mf, yf, oh, ow, n_f, bad, FB, JB
):
    """One task's work (see the module notes): input transform, products, output transform of one band.

    ``FB``/``JB`` (micro-tiles of ``JB`` output tiles × ``FB`` filters) must be
    compile-time constants for ``tile_fma``: ``literally`` makes Numba compile
    one version per value (the drivers pass their closure constants). A plain
    serial function shared by the serial and the parallel drivers: compiled once
    per tile shape, and the parallel region stays small (Numba compiles a big
    ``prange`` body slowly). Module-level rather than a closure so the drivers
    can be cached on disk (a closure over a dispatcher is not).

    ``bad[n·OH + i]`` is set for each output row ``i`` of the band: whether it
    holds a NaN or ±inf (see :func:`winograd_forward`), checked while the
    band's rows are still in cache.
    """
    nb.literally(FB)
    nb.literally(JB)
    rs = wp * c_in  # flat distance between input rows
    n_tiles = n_rows * n_t  # tile k = (row r, column t) with k = r·n_t + t
    n_fb = bias.shape[0] // FB
    # ---- input transform: V[ξ][k][:] = (Bᵀ d_k B)[ξ], all channels of a tile at once
    for r in range(n_rows):
        r0 = 2 * (tr0 + r)  # the tile row's first input row (padded coordinates)
        nrows = min(4, hp - r0)
        for t in range(n_t):
            base = (n * hp + r0) * rs + 2 * t * c_in
            vb = (r * n_t + t) * c_in
            if nrows == 4 and 2 * t + 3 < wp:
                input_transform(vf, vb, vstride, xf, base, rs, c_in, c_in)
            else:
                # Edge tile (odd output height/width): positions past the input are zeros.
                ncols = min(4, wp - 2 * t)
                d = np.zeros(16, dtype=xf.dtype)
                for c in range(c_in):  # one channel at a time through a zero-filled 4×4 tile
                    for a in range(nrows):
                        for b in range(ncols):
                            d[4 * a + b] = xf[base + a * rs + b * c_in + c]
                    input_transform(vf, vb + c, vstride, d, 0, 4, 1, 1)
    for fbi in range(n_fb):
        fb = fbi * FB
        nf = min(FB, n_f - fb)  # filters beyond F (zero weights) are computed, never stored
        # ---- 16 small products M[ξ] = V[ξ] (tiles × C) · U[ξ] (C × FB) for this filter block;
        # the (C, FB) slab of U[ξ] stays in L1 while all the band's tiles stream past it.
        for a in range(16 * mstride):
            mf[a] = 0.0
        for xi in range(16):
            kb = (fbi * 16 + xi) * c_in * FB
            vb = xi * vstride
            mb = xi * mstride
            k0 = 0
            while k0 < n_tiles:
                # JB tiles at a time; the leftover in 4, 3, 2, 1.
                rem = n_tiles - k0
                width = JB if rem >= JB else (4 if rem == 4 else min(3, rem))
                acc = mf[mb + k0 * FB :]
                xb = vb + k0 * c_in
                if width == JB:
                    tile_fma(acc, vf, xb, c_in, uf, kb, FB, tapoff, c_in, FB, JB)
                elif width == 4:
                    tile_fma(acc, vf, xb, c_in, uf, kb, FB, tapoff, c_in, FB, 4)
                elif width == 3:
                    tile_fma(acc, vf, xb, c_in, uf, kb, FB, tapoff, c_in, FB, 3)
                elif width == 2:
                    tile_fma(acc, vf, xb, c_in, uf, kb, FB, tapoff, c_in, FB, 2)
                else:
                    tile_fma(acc, vf, xb, 0, uf, kb, FB, tapoff, c_in, FB, 1)
                k0 += width
        # ---- output transform Y = Aᵀ M A + bias, 2×2 outputs per tile
        for r in range(n_rows):
            i0 = 2 * (tr0 + r)
            two_rows = i0 + 1 < oh
            for t in range(n_t):
                j0 = 2 * t
                y00 = ((n * oh + i0) * ow + j0) * n_f + fb
                mt = (r * n_t + t) * FB
                if two_rows and j0 + 1 < ow:
                    output_transform(yf, y00, n_f, ow * n_f, mf, mt, mstride, bias, fb, nf)
                else:
                    # Edge tile: only the outputs that exist.
                    _edge_output(
                        yf,
                        y00,
                        n_f,
                        ow * n_f,
                        mf,
                        mt,
                        mstride,
                        bias,
                        fb,
                        nf,
                        2 if two_rows else 1,
                        2 if j0 + 1 < ow else 1,
                    )
    # ---- the band's output rows, all filters written: flag those holding a non-finite value
    row = ow * n_f
    for i in range(2 * tr0, min(2 * (tr0 + n_rows), oh)):
        start = (n * oh + i) * row
        bad[n * oh + i] = row > 0 and _any_nonfinite(yf, start, start + row)


def _make_winograd(FB, JB, parallel):
    """The driver: tasks (image × band of tile rows) over threads, each with its thread's ``V``/``M`` buffers."""
    PARALLEL = parallel  # used below so that it is a closure constant (see the note)

    @nb.njit(parallel=parallel, cache=True)
    def winograd(xp, uf, bias, tapoff, band, vbuf, mbuf, y, bad):
        # Note: Numba's on-disk cache keys a closure by its code and the values of
        # the variables it closes over — not by the decorator's options. Without
        # this reference, the serial and the parallel builds would share one cache
        # entry, and a process could load the parallel code for the serial path.
        if not PARALLEL and y.size == 0:
            return
        n_img, hp, wp, c_in = xp.shape
        _, oh, ow, n_f = y.shape
        n_tr = (oh + 1) // 2  # rows of output tiles
        n_t = (ow + 1) // 2  # tiles per row
        n_bands = (n_tr + band - 1) // band
        xf = xp.reshape(-1)
        yf = y.reshape(-1)
        vstride = band * n_t * c_in  # between the ξ planes of V
        mstride = band * n_t * FB  # between the ξ planes of M
        # One task = one image × one band of `band` rows of output tiles.
        for p in nb.prange(n_img * n_bands):
            n = p // n_bands
            tr0 = (p - n * n_bands) * band
            tid = nb.get_thread_id() if PARALLEL else 0
            # vbuf[tid]: V[ξ][k][c] of the band; mbuf[tid]: M[ξ][k][f], one filter block at a time
            _band_task(
                xf,
                hp,
                wp,
                c_in,
                uf,
                bias,
                tapoff,
                n,
                tr0,
                min(band, n_tr - tr0),
                n_t,
                mstride,
                vstride,
                vbuf[tid],
                mbuf[tid],
                yf,
                oh,
                ow,
                n_f,
                bad,
                FB,
                JB,
            )

    return winograd


def _winograd_kernel(dtype, parallel):
    fb, jb = tile_for(dtype)
    return specialised(_make_winograd, fb, jb, parallel), fb


def _band(band, oh):
    return max(1, min(int(BAND if band is None else band), (oh + 1) // 2))


def scratch_bytes(
    xp_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    dtype: np.dtype | type,
    n_threads: int | None = None,
    band: int | None = None,
) -> int:
    """Bytes :func:`winograd_forward` allocates besides its output ``y``.

    The packed transformed kernel ``U`` (16·C·F_pad), the padded bias, the tap
    offsets and, per thread, ``V`` (16 × band·T × C) and ``M`` (16 × band·T × FB).
    W3 in float32 on 2 threads: 1.05 MB + 2 × (229 KB + 29 KB) ≈ 1.57 MB.
    """
    _, hp, wp, c_in = xp_shape
    n_f = kernel_shape[3]
    fb, _ = tile_for(dtype)
    fp = -(-n_f // fb) * fb
    n_t = (wp - 1) // 2
    rows = _band(band, hp - 2) * n_t
    nt = nb.get_num_threads() if n_threads is None else n_threads
    item = np.dtype(dtype).itemsize
    return item * (16 * c_in * fp + fp + nt * 16 * rows * (c_in + fb)) + 8 * c_in


def winograd_forward(
    xp: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    parallel: bool = True,
    band: int | None = None,
    nonfinite: np.ndarray | None = None,
) -> np.ndarray:
    """Valid 3×3 stride-1 cross-correlation of an already padded ``xp (N, Hp, Wp, C)`` with
    ``kernel (3, 3, C, F)``, plus ``bias (F,)`` or None → ``y (N, Hp-2, Wp-2, F)``, same dtype.

    Winograd F(2×2, 3×3) (see the module notes; Lavin & Gray 2015, arXiv:1509.09308).
    ``xp`` and ``kernel`` must be arrays of one float dtype (float32 or float64).
    ``parallel=False`` runs the same kernel on one thread; ``band`` (default
    :data:`BAND`) sets how many rows of 2×2 output tiles one parallel task handles.
    Called by :mod:`convlab.kernels.conv` for 3×3 stride-1 layers with enough
    input channels; the public entry point is :func:`convlab.conv2d`.

    Non-finite values: the transforms add and subtract inputs before the
    products, so an infinite input gives ``inf − inf = NaN`` in outputs the
    definition makes ±inf, and finite values near the dtype's largest can
    overflow here while the direct sum does not. Neither turns a non-finite value
    finite, and each output depends on exactly its window's inputs, so every
    output this gets wrong is non-finite. ``nonfinite``, a bool ``(N, Hp-2)``
    array, receives which output rows hold a NaN or ±inf (checked while each
    band is in cache: no extra pass over ``y``); the caller recomputes those
    rows directly (:func:`convlab.kernels.conv._valid_conv`).

    Raises:
        ValueError: ``kernel`` is not ``(3, 3, C, F)`` with ``xp``'s C, ``xp`` is
            smaller than 3×3, or ``nonfinite`` is not a C-contiguous bool ``(N, Hp-2)`` array.
        TypeError: ``xp`` is not float32/float64.
    """
    n_img, hp, wp, c_in = xp.shape
    kh, kw, kc, n_f = kernel.shape
    if (kh, kw) != (3, 3) or kc != c_in:
        raise ValueError(f"winograd_forward: need a (3, 3, {c_in}, F) kernel, got {kernel.shape}")
    if hp < 3 or wp < 3:
        raise ValueError(f"winograd_forward: padded input {hp}×{wp} is smaller than the 3×3 kernel")
    if nonfinite is None:
        nonfinite = np.zeros((n_img, hp - 2), dtype=np.bool_)
    elif nonfinite.shape != (n_img, hp - 2) or nonfinite.dtype != np.bool_ or not nonfinite.flags.c_contiguous:
        raise ValueError(f"winograd_forward: nonfinite must be a C-contiguous bool array of shape {(n_img, hp - 2)}")
    dtype = xp.dtype
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"winograd_forward: float32 or float64 input needed, got {dtype}")
    kern, fb = _winograd_kernel(dtype, parallel)
    xp = np.ascontiguousarray(xp)
    uf, fp = _kernel_transform(np.asarray(kernel, dtype=dtype), fb)
    b = np.zeros(fp, dtype=dtype)
    if bias is not None:
        b[:n_f] = bias
    oh, ow = hp - 2, wp - 2
    n_t = (ow + 1) // 2
    band = _band(band, oh)
    nt = nb.get_num_threads() if parallel else 1
    vbuf = np.empty((nt, 16 * band * n_t * c_in), dtype=dtype)
    mbuf = np.empty((nt, 16 * band * n_t * fb), dtype=dtype)
    y = np.empty((n_img, oh, ow, n_f), dtype=dtype)
    kern(xp, uf.reshape(-1), b, np.arange(c_in, dtype=np.int64), band, vbuf, mbuf, y, nonfinite.reshape(-1))
    return y
