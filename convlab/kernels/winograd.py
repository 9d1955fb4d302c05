"""Winograd minimal filtering F(2×2, 3×3) and F(4×4, 3×3) for 3×3, stride-1 convolutions (Lavin & Gray 2015).

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

F(4×4, 3×3): a 4×4 block of outputs from a 6×6 input tile, 36 multiplications
instead of 144 (4× fewer). The matrices come from evaluating the polynomials at
5 points plus ∞ (Toom-Cook). Lavin & Gray use 0, ±1, ±2; we use **0, 1, −1, 1/2,
−2** (and ∞), the set Barabasz, Anderson, Soodhalter & Gregg found most accurate
for this size ("Error analysis and improving the accuracy of Winograd convolution
for deep neural networks", ACM TOMS 46(4), 2020, arXiv:1803.10986). Measured here
in float32 against a float64 direct computation (max error / max|y|, W3-shaped
random data): 0, ±1, ±2 gave 9.6e-6 — at the 1e-5 this project allows — and
0, ±1, 1/2, −2 gave 3.4e-6 (F(2×2, 3×3): 0.5e-6; the direct sum: 1.6e-6). The
matrices (:data:`BT4_MATRIX`, :data:`G4_MATRIX`, :data:`AT4_MATRIX`)::

    Bᵀ = [[1, −3/2, −2,   3/2,  1,   0],    G = [[1,       0,     0    ],
          [0, −1,    1/2, 5/2,  1,   0],         [1/3,     1/3,   1/3  ],
          [0,  1,   −5/2, 1/2,  1,   0],         [−1/3,    1/3,  −1/3  ],
          [0, −2,   −1,   2,    1,   0],         [−16/15, −8/15, −4/15 ],
          [0,  1/2, −1,  −1/2,  1,   0],         [1/15,   −2/15,  4/15 ],
          [0,  1,   −3/2, −2,   3/2, 1]]         [0,       0,     1    ]]

    Aᵀ = [[1, 1,  1, 1,     1,  0],
          [0, 1, −1, 1/2,  −2,  0],
          [0, 1,  1, 1/4,   4,  0],
          [0, 1, −1, 1/8,  −8,  1]]

``Bᵀ`` and ``Aᵀ`` hold only multiples of 1/8 (their products by a float are
exact up to one rounding, no division); the thirds and fifteenths are in ``G``,
applied once per call to the kernel in float64.

Over channels and filters, the ``⊙`` becomes ``n²`` (n = m + 2: 16 or 36)
independent matrix products (one per position ``ξ`` of the transformed tile)::

    M[ξ] (tiles × F) = V[ξ] (tiles × C) · U[ξ] (C × F)
    U = G g Gᵀ   per (c, f);   V = Bᵀ d B   per (tile, c);   Y = Aᵀ M A   per (tile, f)

so the multiplications go through the same register-tile micro-kernel as the
direct path (:func:`convlab.kernels.tile.tile_fma_to`), with rows = tiles and
taps = input channels.

How the work is split
---------------------
* The kernel is transformed once per call (:func:`_kernel_transform`, in
  float64, rounded once) and packed like
  :func:`convlab.kernels.conv._kernel_matrix`: ``(F_pad/FB, n², C, FB)`` — for
  each block of FB filters and each ``ξ`` one contiguous ``(C, FB)`` slab, which
  the micro-kernel streams with ``kstep = FB``.
* One parallel task = one image × one row of output tiles (m output rows;
  ``band`` rows of tiles with :data:`BAND` > 1 — measured no faster on W2/W3). It
  transforms its band of m + 2 input rows into a per-thread buffer
  ``V[n²][T][C]`` (``T`` = tiles in a row; W3 with F(4×4, 3×3): 36 × 14 × 128
  floats = 258 KB, L2-resident). The transformed input of the whole batch is
  never stored.
* Then, for each ``ξ``, for each filter block: ``M[ξ] = V[ξ]·U[ξ]`` in tiles of
  ``JB`` output tiles × ``FB`` filters (the ``(C, FB)`` slab stays in L1 across
  the row, ``V[ξ]`` across the filter blocks), stored straight from registers
  into a second per-thread buffer ``M`` (``n² × T × F_pad``, W3: 258 KB), turned
  into m×m output blocks (``Aᵀ M A`` + bias) at the end. (The other order,
  filter block by filter block with ``M`` of one block only, measured
  1.05–1.1× the time on W3 with either m, the same on W2: it reads ``V`` once
  per filter block.)
* Both transforms are emitted as LLVM vector code (:func:`input_transform`,
  :func:`output_transform`: vectors over channels / filters). Written as Numba
  loops they stayed scalar and cost more than the products together.
* Sizes that are not a multiple of m: the last row/column of tiles reads input
  rows/columns past the padded input as zeros (through a zeroed copy of the tile)
  and stores only the outputs that exist.
* Extra memory: ``U`` (n²·C·F_pad values) plus ``V`` and ``M`` per thread
  (:func:`scratch_bytes`).

Rounding: the transforms add and subtract input values before the products
and the products' sums after them, but each product's sum runs over C
channels only (the direct sum runs over 9·C taps). Measured against a float64
direct computation (max error / max|y|, float32; table in ``benchmarks/README.md``):
F(2×2, 3×3) stays below the direct sum's error; F(4×4, 3×3) is 2–4× above it —
on W2/W3 at most 3.4e-6 on random data and 6.0e-6 with a kernel of mean 0.1
(random ±0.02 around it). Most of it is the float32 sum over C of the products,
whose values the output transform then combines with weights up to 8, so it grew
with C (1.1e-5 at C = 256, 1.4e-5 at C = 512 with such a kernel, past the 1e-5
this project allows) until the sums ran in chunks of :data:`SUM_CHUNK` channels:
below 5.5e-6 up to C = 1024. Inputs with a large common offset (x = 1000 + noise)
cancel in the input transform (``Bᵀ`` of a constant is zero in all rows but
one) without losing more.

Speed: the transforms cost the same per pixel whatever the channel count, the
saved multiplications grow with it; below ~16 input channels the transforms
cost more than they save (``WINOGRAD_MIN_C`` in ``conv.py``, which also picks
m; timings in ``benchmarks/README.md``).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic

from convlab.kernels.tile import HAS_AVX512, specialised, tile_fma_to, tile_for

#: The filter transform G (4×3) of F(2, 3).
G_MATRIX = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
#: The input transform Bᵀ (4×4) and output transform Aᵀ (2×4), for reference (the kernels below hard-code them).
BT_MATRIX = np.array([[1.0, 0.0, -1.0, 0.0], [0.0, 1.0, 1.0, 0.0], [0.0, -1.0, 1.0, 0.0], [0.0, 1.0, 0.0, -1.0]])
AT_MATRIX = np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, -1.0, -1.0]])

#: F(4, 3) at the points 0, 1, −1, 1/2, −2, ∞ (see the module notes): G (6×3), Bᵀ (6×6), Aᵀ (4×6).
G4_MATRIX = np.array(
    [
        [1.0, 0.0, 0.0],
        [1 / 3, 1 / 3, 1 / 3],
        [-1 / 3, 1 / 3, -1 / 3],
        [-16 / 15, -8 / 15, -4 / 15],
        [1 / 15, -2 / 15, 4 / 15],
        [0.0, 0.0, 1.0],
    ]
)
BT4_MATRIX = np.array(
    [
        [1.0, -1.5, -2.0, 1.5, 1.0, 0.0],
        [0.0, -1.0, 0.5, 2.5, 1.0, 0.0],
        [0.0, 1.0, -2.5, 0.5, 1.0, 0.0],
        [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
        [0.0, 0.5, -1.0, -0.5, 1.0, 0.0],
        [0.0, 1.0, -1.5, -2.0, 1.5, 1.0],
    ]
)
AT4_MATRIX = np.array(
    [
        [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
        [0.0, 1.0, -1.0, 0.5, -2.0, 0.0],
        [0.0, 1.0, 1.0, 0.25, 4.0, 0.0],
        [0.0, 1.0, -1.0, 0.125, -8.0, 1.0],
    ]
)

#: The filter transform per output tile size m.
_G = {2: G_MATRIX, 4: G4_MATRIX}


@nb.njit(parallel=True, cache=True)
def _pack_u(kernel, gm, fb, u):
    """``u[f // fb, n·a + b, c, f % fb] = (G g Gᵀ)[a, b]`` with ``g = kernel[:, :, c, f]``, ``G = gm (n, 3)``,
    in float64, rounded once.

    One task per (channel, filter block), filters innermost (contiguous in ``kernel``
    and in each ``u`` slab) so that LLVM vectorises them. One (c, f) pair at a time
    with the n² values innermost ran scalar: 2.6 ms for W3's kernel with n = 6, a
    tenth of the whole forward; this takes 0.6 ms.
    """
    _, _, c_in, n_f = kernel.shape
    n = gm.shape[0]
    n_fb = u.shape[0]
    for p in nb.prange(c_in * n_fb):
        c = p // n_fb
        fbi = p - c * n_fb
        f0 = fbi * fb
        nf = min(fb, n_f - f0)
        g = np.zeros((3, 3, fb))
        for i in range(3):
            for j in range(3):
                for fo in range(nf):
                    g[i, j, fo] = kernel[i, j, c, f0 + fo]
        h = np.empty((n, 3, fb))  # G g
        for a in range(n):
            ga0, ga1, ga2 = gm[a, 0], gm[a, 1], gm[a, 2]
            for j in range(3):
                for fo in range(fb):
                    h[a, j, fo] = ga0 * g[0, j, fo] + ga1 * g[1, j, fo] + ga2 * g[2, j, fo]
        for a in range(n):  # (G g) Gᵀ
            for b in range(n):
                gb0, gb1, gb2 = gm[b, 0], gm[b, 1], gm[b, 2]
                dst = u[fbi, n * a + b, c]
                for fo in range(nf):
                    dst[fo] = h[a, 0, fo] * gb0 + h[a, 1, fo] * gb1 + h[a, 2, fo] * gb2


def _kernel_transform(kernel, fb, m=2):
    """``(3,3,C,F)`` → packed ``U`` as ``(F_pad/fb, n², C, fb)``: ``U[ξ=n·a+b] = (G g Gᵀ)[a, b]`` per (c, f),
    ``n = m + 2`` (``m``: 2 or 4, the output tile size).

    One contiguous ``(C, fb)`` slab per filter block and ``ξ`` (as
    :func:`convlab.kernels.conv._kernel_matrix` packs the direct kernel).
    Computed in float64 and rounded once to the kernel's dtype. Filters beyond
    ``F`` (up to ``F_pad``, a multiple of ``fb``) are zero.
    """
    _, _, c_in, n_f = kernel.shape
    gm = _G[m]
    n = gm.shape[0]
    fp = -(-n_f // fb) * fb
    u = np.empty((fp // fb, n * n, c_in, fb), dtype=kernel.dtype)
    if fp != n_f:
        u[-1] = 0.0
    _pack_u(kernel, gm, fb, u)
    return u, fp


#: Rows of m×m output tiles per parallel task (see :func:`winograd_forward`). More rows per task
#: measured no faster on W2/W3 (F(4×4, 3×3) on W2: 2 rows 1.1–1.2× the time of 1).
BAND = 1

#: Bytes in one vector register (the transforms' vector width: 8 float32 / 4 float64 on AVX2).
VEC_BYTES = 64 if HAS_AVX512 else 32


def _channel_loop(context, builder, n, dtype, body):
    """Emit ``for c in range(n): body(c, W)`` as a loop over vectors of ``W`` channels plus a scalar tail.

    Why not plain Numba loops? The transforms read n² values at n² runtime
    strides and write n²: LLVM's vectoriser then gives up (too many runtime
    alias checks, plus Numba's negative-index wraparound on every access), and
    the scalar code costs more than the products it feeds.
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


def _fma(context, builder, dtype):
    """``fma(c, a, b, W)`` = ``c·a + b`` rounded once (``llvm.fma``), ``c`` a Python float (exact in the dtype)."""
    T = context.get_value_type(dtype)
    suffix = "f32" if context.get_abi_sizeof(T) == 4 else "f64"

    def fma(c, a, b, W):
        ty = T if W == 1 else ir.VectorType(T, W)
        name = f"llvm.fma.{suffix}" if W == 1 else f"llvm.fma.v{W}{suffix}"
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ty, [ty, ty, ty]), name)
        cv = ir.Constant(ty, c) if W == 1 else ir.Constant(ty, [ir.Constant(T, c)] * W)
        return builder.call(fn, [cv, a, b])

    return fma


def _caster(context, builder):
    """``cast(value, numba_type)`` → the value as an LLVM ``intp``."""

    def cast(val, ty):
        return context.cast(builder, val, ty, types.intp)

    return cast


def _check_same_float(name, *arrays):
    dts = {a.dtype for a in arrays}
    if len(dts) != 1 or not isinstance(next(iter(dts)), types.Float):
        raise TypingError(f"{name}: arrays must share one float dtype")


def _literal_m(name, m):
    if not isinstance(m, types.IntegerLiteral) or m.literal_value not in (2, 4):
        raise TypingError(f"{name}: m must be the compile-time constant 2 or 4")
    return m.literal_value


def _bt_rows(m, d, add, sub, fma, W):
    """``Bᵀ d`` for one column ``d`` of n = m + 2 values: the n combinations, fewest operations first."""
    if m == 2:
        return [sub(d[0], d[2]), add(d[1], d[2]), sub(d[2], d[1]), sub(d[1], d[3])]
    p = sub(d[3], d[1])
    q = sub(d[4], d[2])
    return [
        fma(1.5, p, add(q, sub(d[0], d[2])), W),  # d0 − 3/2 d1 − 2 d2 + 3/2 d3 + d4
        fma(1.5, add(d[2], d[3]), add(p, q), W),  # −d1 + 1/2 d2 + 5/2 d3 + d4
        fma(1.5, sub(d[3], d[2]), sub(q, p), W),  # d1 − 5/2 d2 + 1/2 d3 + d4
        fma(2.0, p, q, W),  # −2 d1 − d2 + 2 d3 + d4
        fma(-0.5, p, q, W),  # 1/2 d1 − d2 − 1/2 d3 + d4
        fma(1.5, q, sub(sub(d[5], p), d[3]), W),  # d1 − 3/2 d2 − 2 d3 + 3/2 d4 + d5
    ]


def _at_rows(m, s, add, sub, fma, W):
    """``Aᵀ s`` for one column ``s`` of n = m + 2 values: the m outputs."""
    if m == 2:
        return [add(add(s[0], s[1]), s[2]), sub(sub(s[1], s[2]), s[3])]
    a = add(s[1], s[2])
    b = sub(s[1], s[2])
    return [
        add(add(s[0], a), add(s[3], s[4])),
        fma(-2.0, s[4], fma(0.5, s[3], b, W), W),
        fma(4.0, s[4], fma(0.25, s[3], a, W), W),
        add(fma(-8.0, s[4], fma(0.125, s[3], b, W), W), s[5]),
    ]


@intrinsic
def input_transform(typingctx, v, vbase, vstride, x, xbase, rs, cs, n, m):
    """``v[vbase + ξ·vstride + c] = (Bᵀ d_c B)[ξ]`` for ``c < n``, ``d_c[a, b] = x[xbase + a·rs + b·cs + c]``.

    One (m+2)×(m+2) input tile, all its channels (``ξ = (m+2)·a + b``); ``m``
    (2 or 4) a compile-time constant. No bounds checks.
    """
    _check_same_float("input_transform", v, x)
    M = _literal_m("input_transform", m)
    N = M + 2
    sig = types.void(v, vbase, vstride, x, xbase, rs, cs, n, m)

    def codegen(context, builder, signature, args):
        aty = signature.args
        v_a, vbase_v, vstride_v, x_a, xbase_v, rs_v, cs_v, n_v, _ = args
        intp = context.get_value_type(types.intp)
        cast = _caster(context, builder)
        vp = context.make_array(aty[0])(context, builder, v_a).data
        xp = context.make_array(aty[3])(context, builder, x_a).data
        vbase_i, vstride_i = cast(vbase_v, aty[1]), cast(vstride_v, aty[2])
        xbase_i, rs_i, cs_i, n_i = cast(xbase_v, aty[4]), cast(rs_v, aty[5]), cast(cs_v, aty[6]), cast(n_v, aty[7])
        load, store = _vec_io(context, builder, aty[0].dtype)
        fma = _fma(context, builder, aty[0].dtype)
        xoff = [
            [
                builder.add(
                    xbase_i,
                    builder.add(builder.mul(ir.Constant(intp, a), rs_i), builder.mul(ir.Constant(intp, b), cs_i)),
                )
                for b in range(N)
            ]
            for a in range(N)
        ]
        voff = [builder.add(vbase_i, builder.mul(ir.Constant(intp, xi), vstride_i)) for xi in range(N * N)]
        sub, add = builder.fsub, builder.fadd

        def body(c, W):
            # Bᵀ d, column by column: e[b][a] = (Bᵀ d)[a, b]
            e = [
                _bt_rows(M, [load(xp, builder.add(xoff[a][b], c), W) for a in range(N)], add, sub, fma, W)
                for b in range(N)
            ]
            # (Bᵀ d) B: the same combination of columns, row by row.
            for a in range(N):
                out = _bt_rows(M, [e[b][a] for b in range(N)], add, sub, fma, W)
                for b in range(N):
                    store(out[b], vp, builder.add(voff[N * a + b], c), W)

        _channel_loop(context, builder, n_i, aty[0].dtype, body)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def output_transform(typingctx, y, ybase, ycs, yrs, mm, mbase, mstride, bias, bbase, n, m):
    """``y[ybase + a·yrs + b·ycs + f] = (Aᵀ M_f A)[a, b] + bias[bbase + f]`` for ``f < n``,
    with ``M_f[ξ] = mm[mbase + ξ·mstride + f]``.

    One tile's full m×m block of outputs (``m``, 2 or 4, a compile-time
    constant), for ``n`` consecutive filters. No bounds checks.
    """
    _check_same_float("output_transform", y, mm, bias)
    M = _literal_m("output_transform", m)
    N = M + 2
    sig = types.void(y, ybase, ycs, yrs, mm, mbase, mstride, bias, bbase, n, m)

    def codegen(context, builder, signature, args):
        aty = signature.args
        y_a, ybase_v, ycs_v, yrs_v, m_a, mbase_v, mstride_v, b_a, bbase_v, n_v, _ = args
        intp = context.get_value_type(types.intp)
        cast = _caster(context, builder)
        yp = context.make_array(aty[0])(context, builder, y_a).data
        mp = context.make_array(aty[4])(context, builder, m_a).data
        bp = context.make_array(aty[7])(context, builder, b_a).data
        ybase_i, ycs_i, yrs_i = cast(ybase_v, aty[1]), cast(ycs_v, aty[2]), cast(yrs_v, aty[3])
        mbase_i, mstride_i = cast(mbase_v, aty[5]), cast(mstride_v, aty[6])
        bbase_i, n_i = cast(bbase_v, aty[8]), cast(n_v, aty[9])
        load, store = _vec_io(context, builder, aty[0].dtype)
        fma = _fma(context, builder, aty[0].dtype)
        moff = [builder.add(mbase_i, builder.mul(ir.Constant(intp, xi), mstride_i)) for xi in range(N * N)]
        yoff = [
            [
                builder.add(
                    ybase_i,
                    builder.add(builder.mul(ir.Constant(intp, a), yrs_i), builder.mul(ir.Constant(intp, b), ycs_i)),
                )
                for b in range(M)
            ]
            for a in range(M)
        ]
        sub, add = builder.fsub, builder.fadd

        def body(f, W):
            # Aᵀ M, column by column: s[b][a] = (Aᵀ M)[a, b]; then the same on columns.
            s = [
                _at_rows(M, [load(mp, builder.add(moff[N * a + b], f), W) for a in range(N)], add, sub, fma, W)
                for b in range(N)
            ]
            bv = load(bp, builder.add(bbase_i, f), W)
            for a in range(M):
                out = _at_rows(M, [s[b][a] for b in range(N)], add, sub, fma, W)
                for b in range(M):
                    store(add(out[b], bv), yp, builder.add(yoff[a][b], f), W)

        _channel_loop(context, builder, n_i, aty[0].dtype, body)
        return context.get_dummy_value()

    return sig, codegen


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


#: Each product's sum over channels runs in chunks of this many, added at the end: F(4×4, 3×3)'s float32
#: error grows with the length of that sum (a kernel of mean 0.1 on C = 256: 1.1e-5 of max|y| in one
#: sum, 5.4e-6 in chunks of 128; C = 1024: 1.4e-5 → 4e-6). Layers up to 128 channels (W2, W3) run as
#: before; past that, one extra add per chunk per value of M.
SUM_CHUNK = 128


@nb.njit(inline="always")
def _tile(mf, acc, mrow, zb, vf, xb, xstep, uf, kb, tapoff, n_taps, width, FB, JB):
    """One micro-tile of ``width`` tiles × FB filters over ``n_taps`` channels, stored at ``mf[acc]``, rows
    ``mrow`` apart (``tile_fma_to`` needs the width as a constant: one call per width)."""
    if width == JB:
        tile_fma_to(mf, acc, mrow, zb, 0, vf, xb, xstep, uf, kb, FB, tapoff, n_taps, FB, JB)
    elif width == 4:
        tile_fma_to(mf, acc, mrow, zb, 0, vf, xb, xstep, uf, kb, FB, tapoff, n_taps, FB, 4)
    elif width == 3:
        tile_fma_to(mf, acc, mrow, zb, 0, vf, xb, xstep, uf, kb, FB, tapoff, n_taps, FB, 3)
    elif width == 2:
        tile_fma_to(mf, acc, mrow, zb, 0, vf, xb, xstep, uf, kb, FB, tapoff, n_taps, FB, 2)
    else:
        tile_fma_to(mf, acc, mrow, zb, 0, vf, xb, 0, uf, kb, FB, tapoff, n_taps, FB, 1)


@nb.njit(inline="always")
def _products(mf, mb, mrow, vf, vb, c_in, uf, kb, zb, pt, tapoff, n_tiles, FB, JB):
    """``M[k] = V[k] · U`` for the ``n_tiles`` tiles of one ``ξ``: tiles of ``JB`` rows stored straight from
    registers; the leftover in widths of 4, 3, 2 (never a 1-wide tile while two can share the work: it has
    too few independent multiply-add chains to be fast). Channels past :data:`SUM_CHUNK` go through the
    scratch tile ``pt`` (JB·FB values) and are added in, one chunk at a time."""
    k0 = 0
    while k0 < n_tiles:
        rem = n_tiles - k0
        if rem == JB or rem >= JB + 4:
            width = JB
        elif rem >= 7:
            width = 4  # 7 → 4 + 3, 8 → 4 + 4, 9 → 4 + … (JB = 4 on AVX-512)
        elif rem == 5:
            width = 3
        else:
            width = min(rem, 4)
        acc = mb + k0 * mrow
        xb = vb + k0 * c_in
        _tile(mf, acc, mrow, zb, vf, xb, c_in, uf, kb, tapoff, min(c_in, SUM_CHUNK), width, FB, JB)
        c0 = SUM_CHUNK
        while c0 < c_in:
            _tile(pt, 0, FB, zb, vf, xb + c0, c_in, uf, kb + c0 * FB, tapoff, min(SUM_CHUNK, c_in - c0), width, FB, JB)
            for jj in range(width):
                row = mf[acc + jj * mrow : acc + jj * mrow + FB]
                part = pt[jj * FB : (jj + 1) * FB]
                for f in range(FB):
                    row[f] += part[f]
            c0 += SUM_CHUNK
        k0 += width


@nb.njit(inline="always")
def _outputs(yf, mf, yt, bias, n_f, mrow, mstride, n, tr0, n_rows, n_t, oh, ow, M):
    """``Y = Aᵀ M A + bias`` for the band's tiles (M×M outputs each, ``n_f`` filters; ``M[ξ][k]`` holds
    ``mrow`` values per tile)."""
    for r in range(n_rows):
        i0 = M * (tr0 + r)
        nr = min(M, oh - i0)
        for t in range(n_t):
            j0 = M * t
            nc = min(M, ow - j0)
            y00 = ((n * oh + i0) * ow + j0) * n_f
            mt = (r * n_t + t) * mrow
            if nr == M and nc == M:
                output_transform(yf, y00, n_f, ow * n_f, mf, mt, mstride, bias, 0, n_f, M)
            else:
                # Edge tile: the whole block into scratch, then only the outputs that exist.
                output_transform(yt, 0, mrow, M * mrow, mf, mt, mstride, bias, 0, n_f, M)
                for a in range(nr):
                    for b in range(nc):
                        for f in range(n_f):
                            yf[y00 + (a * ow + b) * n_f + f] = yt[(a * M + b) * mrow + f]


@nb.njit(cache=True)
def _band_task(
    xf, h, w, c_in, top, left, uf, bias, zb, tapoff, n, tr0, n_rows, n_t, mstride, vstride, vf, mf, dt, yt, yf, oh, ow,
    n_f, bad, FB, JB, M,
):  # fmt: skip
    """One task's work (see the module notes): input transform, products, output transform of one band.

    ``FB``/``JB`` (micro-tiles of ``JB`` output tiles × ``FB`` filters) and
    ``M`` (the output tile, 2 or 4) must be compile-time constants for the
    intrinsics: ``literally`` makes Numba compile one version per value (the
    drivers pass their closure constants). A plain serial function shared by the
    serial and the parallel drivers: compiled once per tile shape, and the
    parallel region stays small (Numba compiles a big ``prange`` body slowly).
    Module-level rather than a closure so the drivers can be cached on disk (a
    closure over a dispatcher is not).

    ``xf`` is the unpadded input ``(N, h, w, C)``, flat; the padding (``top``, ``left``
    and whatever lies past the input) is read as zeros. ``dt`` (``(M+2)²·C``) and
    ``yt`` (``M²·F_pad``) are the thread's scratch for edge tiles; ``zb`` is ``FB``
    zeros (the micro-kernel's "bias" when it stores ``M``).
    ``bad[n·OH + i]`` is set for each output row ``i`` of the band: whether it
    holds a NaN or ±inf (see :func:`winograd_forward`), checked while the
    band's rows are still in cache.
    """
    nb.literally(FB)
    nb.literally(JB)
    nb.literally(M)
    N = M + 2  # input tile size
    NX = N * N  # products per tile
    rs = w * c_in  # flat distance between input rows
    n_tiles = n_rows * n_t  # tile k = (row r, column t) with k = r·n_t + t
    n_fb = bias.shape[0] // FB
    # ---- input transform: V[ξ][k][:] = (Bᵀ d_k B)[ξ], all channels of a tile at once
    for r in range(n_rows):
        r0 = M * (tr0 + r) - top  # the tile row's first input row (negative: in the padding)
        for t in range(n_t):
            q0 = M * t - left
            vb = (r * n_t + t) * c_in
            if r0 >= 0 and r0 + N <= h and q0 >= 0 and q0 + N <= w:
                input_transform(vf, vb, vstride, xf, ((n * h + r0) * w + q0) * c_in, rs, c_in, c_in, M)
            else:
                # Edge tile: a copy with zeros for the padding (and past the input), row by row as
                # contiguous slices (copies LLVM vectorises).
                b0 = max(0, -q0) * c_in  # the row's columns inside the input, as a flat range
                b1 = max(b0, min(N, w - q0) * c_in)
                for a in range(N):
                    drow = dt[a * N * c_in : (a + 1) * N * c_in]
                    if 0 <= r0 + a < h:
                        src = ((n * h + r0 + a) * w + q0) * c_in
                        drow[:b0] = 0.0
                        drow[b0:b1] = xf[src + b0 : src + b1]
                        drow[b1:] = 0.0
                    else:
                        drow[:] = 0.0
                input_transform(vf, vb, vstride, dt, 0, N * c_in, c_in, c_in, M)
    # ---- products M[ξ] (tiles × F_pad) = V[ξ] (tiles × C) · U[ξ] (C × F_pad), ξ by ξ, filter block by
    # filter block: V[ξ] stays in L1 across the blocks, each (C, FB) slab of U[ξ] while the tiles stream past.
    fp = n_fb * FB
    pt = np.empty(JB * FB, dtype=mf.dtype)
    for xi in range(NX):
        for fbi in range(n_fb):
            kb = (fbi * NX + xi) * c_in * FB
            _products(mf, xi * mstride + fbi * FB, fp, vf, xi * vstride, c_in, uf, kb, zb, pt, tapoff, n_tiles, FB, JB)
    # ---- output transform Y = Aᵀ M A + bias, M×M outputs per tile, all filters
    _outputs(yf, mf, yt, bias, n_f, fp, mstride, n, tr0, n_rows, n_t, oh, ow, M)
    # ---- the band's output rows, all filters written: flag those holding a non-finite value
    row = ow * n_f
    for i in range(M * tr0, min(M * (tr0 + n_rows), oh)):
        start = (n * oh + i) * row
        bad[n * oh + i] = row > 0 and _any_nonfinite(yf, start, start + row)


def _make_winograd(FB, JB, parallel, M):
    """The driver: tasks (image × band of tile rows) over threads, each with its thread's scratch buffers."""
    PARALLEL = parallel  # used below so that it is a closure constant (see the note)

    @nb.njit(parallel=parallel, cache=True)
    def winograd(x, top, left, uf, bias, tapoff, band, vbuf, mbuf, dbuf, ybuf, y, bad):
        # Note: Numba's on-disk cache keys a closure by its code and the values of
        # the variables it closes over — not by the decorator's options. Without
        # this reference, the serial and the parallel builds would share one cache
        # entry, and a process could load the parallel code for the serial path.
        if not PARALLEL and y.size == 0:
            return
        n_img, h, w, c_in = x.shape
        _, oh, ow, n_f = y.shape
        n_tr = (oh + M - 1) // M  # rows of output tiles
        n_t = (ow + M - 1) // M  # tiles per row
        n_bands = (n_tr + band - 1) // band
        xf = x.reshape(-1)
        yf = y.reshape(-1)
        zb = np.zeros(FB, dtype=y.dtype)
        vstride = band * n_t * c_in  # between the ξ planes of V
        mstride = band * n_t * bias.shape[0]  # between the ξ planes of M
        # One task = one image × one band of `band` rows of output tiles.
        for p in nb.prange(n_img * n_bands):
            n = p // n_bands
            tr0 = (p - n * n_bands) * band
            tid = nb.get_thread_id() if PARALLEL else 0
            # vbuf[tid]: V[ξ][k][c] of the band; mbuf[tid]: M[ξ][k][f], one filter block at a time
            _band_task(
                xf, h, w, c_in, top, left, uf, bias, zb, tapoff, n, tr0, min(band, n_tr - tr0), n_t, mstride,
                vstride, vbuf[tid], mbuf[tid], dbuf[tid], ybuf[tid], yf, oh, ow, n_f, bad, FB, JB, M,
            )  # fmt: skip

    return winograd


def _make_winograd_2(FB, JB, parallel):
    return _make_winograd(FB, JB, parallel, 2)


def _make_winograd_4(FB, JB, parallel):
    return _make_winograd(FB, JB, parallel, 4)


_FACTORY = {2: _make_winograd_2, 4: _make_winograd_4}


def _winograd_kernel(dtype, parallel, m=2):
    fb, jb = tile_for(dtype)
    return specialised(_FACTORY[m], fb, jb, parallel), fb


def _band(band, oh, m=2):
    return max(1, min(int(BAND if band is None else band), (oh + m - 1) // m))


def _check_m(m):
    if m not in (2, 4):
        raise ValueError(f"winograd_forward: m (the output tile) must be 2 or 4, got {m!r}")


def scratch_bytes(
    xp_shape: tuple[int, ...],
    kernel_shape: tuple[int, ...],
    dtype: np.dtype | type,
    n_threads: int | None = None,
    band: int | None = None,
    m: int = 2,
) -> int:
    """Bytes :func:`winograd_forward` (output tile ``m``) allocates besides its output ``y``, for a padded
    input of shape ``xp_shape`` (the padding itself is never copied).

    The packed transformed kernel ``U`` (n²·C·F_pad, n = m + 2), the padded bias,
    the tap offsets and, per thread, ``V`` (n² × band·T × C), ``M`` (n² × band·T ×
    F_pad) and the edge tiles' scratch. W3 in
    float32 on 2 threads, m = 4: 2.36 MB + 2 × (258 + 258 + 26) KB ≈ 3.4 MB (m = 2:
    ≈ 2.0 MB); the padded copy of the input that this does without is 13.8 MB.
    """
    _check_m(m)
    _, hp, wp, c_in = xp_shape
    n_f = kernel_shape[3]
    fb, _ = tile_for(dtype)
    fp = -(-n_f // fb) * fb
    nx = (m + 2) ** 2
    n_t = (wp - 2 + m - 1) // m
    nt = nb.get_num_threads() if n_threads is None else n_threads
    rows = _band(band, hp - 2, m) * n_t
    item = np.dtype(dtype).itemsize
    per_thread = nx * rows * (c_in + fp) + nx * c_in + m * m * fp
    return item * (nx * c_in * fp + fp + fb + nt * per_thread) + 8 * c_in


def winograd_forward(
    xp: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    parallel: bool = True,
    band: int | None = None,
    nonfinite: np.ndarray | None = None,
    m: int = 2,
    out: np.ndarray | None = None,
    pads: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> np.ndarray:
    """Valid 3×3 stride-1 cross-correlation of ``xp (N, H, W, C)`` padded by ``pads = (top, bottom,
    left, right)`` zeros (``Hp = H + top + bottom``, ``Wp`` likewise) with ``kernel (3, 3, C, F)``, plus
    ``bias (F,)`` or None → ``y (N, Hp-2, Wp-2, F)``, same dtype.

    Winograd F(m×m, 3×3), ``m`` = 2 or 4 (see the module notes; Lavin & Gray 2015,
    arXiv:1509.09308). ``xp`` and ``kernel`` must be arrays of one float dtype
    (float32 or float64). ``parallel=False`` runs the same kernel on one thread;
    ``band`` sets how many rows of m×m output tiles one parallel task handles
    (default :data:`BAND`).
    The padding is never copied: tiles that reach into it read it as zeros.
    ``out``: a C-contiguous ``(N, Hp-2, Wp-2, F)`` array of the dtype to write
    ``y`` into (returned); the caller checks it. Called by
    :mod:`convlab.kernels.conv` for 3×3 stride-1 layers with enough input
    channels, which chooses ``m``; the public entry point is :func:`convlab.conv2d`.

    Non-finite values: the transforms add and subtract inputs before the
    products, so an infinite input gives ``inf − inf = NaN`` in outputs the
    definition makes ±inf, and finite values near the dtype's largest can
    overflow here while the direct sum does not. Neither turns a non-finite value
    finite, so every output this gets wrong is non-finite. ``nonfinite``, a bool
    ``(N, Hp-2)`` array, receives which output rows hold a NaN or ±inf (checked
    while each band is in cache: no extra pass over ``y``); the caller recomputes
    those rows directly (:func:`convlab.kernels.conv._valid_conv`).

    Raises:
        ValueError: ``kernel`` is not ``(3, 3, C, F)`` with ``xp``'s C, ``xp`` is
            smaller than 3×3, ``m`` is not 2 or 4, or ``nonfinite`` is not a
            C-contiguous bool ``(N, Hp-2)`` array.
        TypeError: ``xp`` is not float32/float64.
    """
    n_img, h, w, c_in = xp.shape
    top, bottom, left, right = (int(p) for p in pads)
    hp, wp = h + top + bottom, w + left + right
    kh, kw, kc, n_f = kernel.shape
    _check_m(m)
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
    xp = np.ascontiguousarray(xp)
    fb, _ = tile_for(dtype)
    uf, fp = _kernel_transform(np.asarray(kernel, dtype=dtype), fb, m)
    b = np.zeros(fp, dtype=dtype)
    if bias is not None:
        b[:n_f] = bias
    oh, ow = hp - 2, wp - 2
    nx = (m + 2) ** 2
    n_t = (ow + m - 1) // m
    nt = nb.get_num_threads() if parallel else 1
    band = _band(band, oh, m)
    kern, _ = _winograd_kernel(dtype, parallel, m)
    vbuf = np.empty((nt, nx * band * n_t * c_in), dtype=dtype)
    mbuf = np.empty((nt, nx * band * n_t * fp), dtype=dtype)
    dbuf = np.empty((nt, nx * c_in), dtype=dtype)
    ybuf = np.empty((nt, m * m * fp), dtype=dtype)
    y = np.empty((n_img, oh, ow, n_f), dtype=dtype) if out is None else out
    args = (uf.reshape(-1), b, np.arange(c_in, dtype=np.int64), band, vbuf, mbuf, dbuf, ybuf, y, nonfinite.reshape(-1))
    kern(xp, top, left, *args)
    return y
