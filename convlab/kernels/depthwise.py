"""Numba depthwise-convolution kernels, forward and backward. Called by :mod:`convlab.ops.depthwise`.

Inputs arrive validated by :mod:`convlab.ops.depthwise`: C-contiguous arrays of one
float dtype (float32 or float64), ``strides = (sh, sw)``, ``dilation = (dh, dw)``,
resolved ``pads = (top, bottom, left, right)``.

The kernel ``(KH, KW, C, M)`` is used as ``(KH, KW, C·M)``: that flat last axis is
the output channel ``o = c·M + m`` (Keras' and TensorFlow's order), so for
``M = 1`` — MobileNet's case — the channels of ``x``, ``y`` and the kernel line up.

Why the kernels have the shape they have
----------------------------------------
A 3×3 depthwise convolution does 9 multiply-adds per number it reads: it is
limited by how fast the numbers move through the caches and memory, so the
work is arranged around that.

- **Vector tiles** (3×3 kernels, ``M = 1``, the channels in whole blocks of
  ``FB`` = one vector register, 8 float32 on AVX2): a tile is ``JB = 4`` output
  pixels of one row × every channel block. For each block, each ``x`` vector a
  tile needs is loaded once and multiplied into every tile pixel it is a tap of
  (column stride 1: 6 columns × 3 rows feed 4 pixels' 36 multiply-adds), the 9
  kernel vectors come from a repacked kernel at fixed offsets, the sums stay in
  registers and each output vector is stored once. Plain Numba loops do not
  compile to that reliably (see :mod:`convlab.kernels.tile`), so a tile is
  written as LLVM IR with vector types. Taps in the padding read a vector of
  zeros — the definition's zeros — so border pixels go in tiles too and no
  padded copy of ``x`` is made. Outputs of 8 MiB and more are written with
  non-temporal stores (no read of each line before it is overwritten: a third
  less memory traffic), and while a tile runs the same columns of the input row
  the next output row adds are prefetched (the hardware prefetchers do not
  follow this access pattern; measured on the benchmark's forward tiles, one
  thread: 2.2 → 1.4 ms).
- **Loops** (other kernel sizes, ``M > 1``, channels past the last whole block):
  per tap, the output columns it reaches inside ``x`` are computed (not tested
  per pixel) and the ``C·M`` products added into the output pixel, in L1.
- **forward**: the output rows are cut into a few runs per thread (``prange``).
- **input gradient**: ``dx[r, q, c] = Σ dy[i, j, c] · kernel[u, v, c]`` over the
  taps with ``i·sh + u·dh = r + top``: for stride 1 and ``M = 1`` that is the
  forward convolution of ``dy`` with the flipped kernel and pads
  ``(K − 1)·D − pad``, so it runs the forward kernel. Otherwise it is gathered,
  not scattered — one task per *input* row, each ``dx`` pixel summing the
  ``dy · kernel`` products of the windows that covered it, written by one task.
- **kernel gradient**: ``dk[u, v, o] = Σ_{n,i,j} x_pad[n, i·sh + u·dh, j·sw + v·dw, c] · dy[n, i, j, o]``
  is a reduction over every output pixel. The output rows are cut into a fixed
  number of chunks (:data:`DK_CHUNKS`, not the number of threads: the result is
  the same bits on every machine and thread count); each chunk adds into its
  own copy of ``dk`` and ``dbias`` (a few KB, in L1), and the copies are summed
  at the end in chunk order (no races, no atomics). A tile keeps the 3 sums of
  one kernel row for a block in registers while it runs over its pixels.

Rounding: the tiles use fused multiply-adds (one rounding where ``a·b + c``
rounds twice) and sum the taps in the order of the definition, bias last, so
the numbers differ from the reference backend by float rounding only (and are
closer to float64 than the numpy backend's: measured on the benchmark's shape).

Non-finite values
-----------------
The definition multiplies the pads' zeros too (``0·inf = NaN``; the reference
backend and TensorFlow do). The tiles do; the loops skip the pads, which is
exact only while those products are 0: so the forward pass takes an explicitly
padded copy of ``x`` when the kernel holds a non-finite weight (a check on a few
hundred numbers), and the kernel gradient is recomputed on a padded copy when
``dbias`` (``Σ dy``, non-finite whenever ``dy`` holds a NaN or an inf) is not
finite. The input gradient forms only products of the definition (its "pads" are
positions no window reached, not multiplied zeros), so it takes the forward
kernel's zeros only for a finite kernel. A fused multiply-add gives the same NaN
and inf as a multiply then an add.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from convlab.kernels.tile import HAS_AVX512

#: ``(rows, cols)`` and ``(top, bottom, left, right)``, already checked by :mod:`convlab.ops.depthwise`.
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]

#: Bytes in one vector register: a channel block is one register (8 float32 / 4 float64 on AVX2).
VEC_BYTES = 64 if HAS_AVX512 else 32

#: Output rows are split into this many chunks for the kernel gradient's partial sums (fewer
#: when there are fewer rows): fixed, so the sum's order does not depend on the thread count.
DK_CHUNKS = 32

#: Output columns per vector tile: JB accumulators + 3 kernel vectors + 1 input vector fit in
#: AVX2's 16 registers (the kernel gradient: 3 sums + JB ``dy`` vectors + 1 input vector).
JB = 4

#: Outputs at least this large are written by non-temporal (streaming) stores: they go to
#: memory without first reading each line into the cache, a third less memory traffic
#: (measured, the benchmark's 12.8 MB output, tiles alone on one thread: 2.9 → 2.2 ms).
#: Smaller outputs may stay in cache for the next layer; streaming a 3.2 MB one out was
#: 2.4× slower (measured).
STREAM_BYTES = 8 << 20


def block_width(dtype: np.dtype) -> int:
    """Channels in one vector block for ``dtype`` (8 float32 / 4 float64 on AVX2)."""
    return VEC_BYTES // np.dtype(dtype).itemsize


# --------------------------------------------------------------------------- vector intrinsics
# A tile is JB output pixels of one row (or 1, see ``mode``) × every channel block. Geometry
# modes, for tap ``(u, v)`` of tile pixel ``jj``:
#   1 — column stride 1: x column ``jj + v`` of the tile (``dw·C`` apart), so each loaded
#       ``x`` vector serves every pixel it is a tap of: JB + 2 loads per kernel row;
#   2 — column stride 2, no dilation: x column ``2·jj + v`` (C apart): 2·JB + 1 loads;
#   0 — anything else, one pixel: its 9 taps' offsets, or −1 for a tap in the padding.
# Offsets come from small int64 arrays (``xoffs``, ``yoffs``, see :func:`_vector_plan`).
# Taps accumulate in the order of the definition (u, then v) with fused multiply-adds.
def vector_setup(context, builder, dtype):
    T = context.get_value_type(dtype)
    align = context.get_abi_sizeof(T)
    fb = VEC_BYTES // align
    vec = ir.VectorType(T, fb)
    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{fb}{'f32' if align == 4 else 'f64'}"
    )
    intp = context.get_value_type(types.intp)

    def load(ptr, i):
        return builder.load(builder.bitcast(builder.gep(ptr, [i]), vec.as_pointer()), align=align)

    def store(v, ptr, i):
        builder.store(v, builder.bitcast(builder.gep(ptr, [i]), vec.as_pointer()), align=align)

    return vec, fma, intp, load, store, fb


def unpack_args(context, builder, signature, args):
    """Array arguments → data pointers, integer arguments → intp."""
    out = []
    for ty, v in zip(signature.args, args):
        if isinstance(ty, types.Array):
            out.append(context.make_array(ty)(context, builder, v).data)
        else:
            out.append(context.cast(builder, v, ty, types.intp))
    return out


def _tile_columns(mode, jb):
    """``[(q, [(jj, v), …]), …]``: for each ``x`` column ``q`` of a tile row, the (pixel, tap) pairs it serves."""
    cols = {}
    for jj in range(jb):
        for v in range(3):
            cols.setdefault(mode * jj + v, []).append((jj, v))
    return sorted(cols.items())


def tile_columns(mode: int) -> int:
    """``x`` columns a tile of ``mode`` 1 or 2 reads per kernel row (the length of a row of ``xoffs``)."""
    return len(_tile_columns(mode, JB))


def load_offsets(builder, arr, n, intp):
    """``arr[0 … n−1]`` (int64) as values: loaded from memory, so LLVM can not fold them into
    a chain of additions of one stride (it did when they were computed from the strides, and
    each load then waited for the previous address: the forward pass 1.4× slower, measured)."""
    return [builder.load(builder.gep(arr, [ir.Constant(intp, t)])) for t in range(n)]


def _tap_pointers(builder, taps, zp, xp, intp):
    """Mode 0: the 9 taps' pointers ``x + taps[t]``, or the zero vector where ``taps[t] < 0``
    (a tap in the padding: the definition multiplies a zero there)."""
    out = []
    for off in load_offsets(builder, taps, 9, intp):
        inside = builder.icmp_signed(">=", off, ir.Constant(intp, 0))
        out.append(builder.select(inside, builder.gep(xp, [off]), zp))
    return out


def _store_tile(builder, outs, idx, yp, streaming, vec, store):
    """Store the tile's vectors, non-temporally (aligned whole vectors, written around the
    caches) when ``streaming`` is non-zero."""
    zero = ir.Constant(streaming.type, 0)
    with builder.if_else(builder.icmp_signed("!=", streaming, zero)) as (nontemporal, cached):
        with nontemporal:
            for v, i in zip(outs, idx):
                st = builder.store(v, builder.bitcast(builder.gep(yp, [i]), vec.as_pointer()), align=VEC_BYTES)
                st.set_metadata("nontemporal", builder.module.add_metadata([ir.IntType(32)(1)]))
        with cached:
            for v, i in zip(outs, idx):
                store(v, yp, i)


def _prefetch_next(builder, base, ahead, block, o, offs):
    """Prefetch ``base[ahead + off + o]`` for each ``off``: this channel block of the tile's
    columns in the input row the next output row adds. Spread over the block loop, a few per
    64-byte line: issued all at once at the start of a tile (64 lines), they stalled the core
    waiting for free miss buffers (measured on the kernel gradient's tiles, one thread:
    3.1 ms with a burst per tile, 1.8 ms spread)."""
    fn = cgutils.get_or_insert_function(
        builder.module,
        ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()] + [ir.IntType(32)] * 3),
        "llvm.prefetch.p0",
    )
    i32 = ir.IntType(32)
    per_line = max(1, 64 // VEC_BYTES)  # blocks per 64-byte cache line: one prefetch per line
    first = builder.icmp_signed(
        "==", builder.srem(block, ir.Constant(block.type, per_line)), ir.Constant(block.type, 0)
    )
    with builder.if_then(first):
        for off in offs:
            ptr = builder.gep(base, [builder.add(builder.add(ahead, off), o)])
            builder.call(fn, [builder.bitcast(ptr, ir.IntType(8).as_pointer()), i32(0), i32(3), i32(1)])


def _choose(builder, first, second, use_second):
    """``second`` if ``use_second`` is non-zero else ``first`` (two pointers). Choosing inside the
    intrinsic, not in Numba code: an array chosen or returned there is reference-counted, which
    cost a quarter of the forward pass's time (measured)."""
    return builder.select(builder.icmp_signed("!=", use_second, ir.Constant(use_second.type, 0)), second, first)


def _make_forward_tile(mode):
    jb = JB if mode else 1
    columns = _tile_columns(mode, jb) if mode else None

    @intrinsic
    def tile(typingctx, y, ybase, yoffs, bias, x, xbase, xoffs, xalt, use_alt, zero, kb, n_blocks, stream, ahead):
        sig = types.void(y, ybase, yoffs, bias, x, xbase, xoffs, xalt, use_alt, zero, kb, n_blocks, stream, ahead)

        def codegen(context, builder, signature, args):
            unpacked = unpack_args(context, builder, signature, args)
            yp, yb, yo, bp, xp, xb, xo, xa, alt, zp, kp, n_blk, streaming, xahead = unpacked
            xo = _choose(builder, xo, xa, alt)
            vec, fma, intp, load, store, fb = vector_setup(context, builder, signature.args[0].dtype)
            const = lambda v: ir.Constant(intp, v)  # noqa: E731
            yrow = builder.gep(yp, [yb])
            yoff = load_offsets(builder, yo, jb, intp)
            if mode:
                xrow = builder.gep(xp, [xb])
                xoff = load_offsets(builder, xo, 3 * len(columns), intp)
            else:
                taps = _tap_pointers(builder, xo, zp, xp, intp)
            with cgutils.for_range(builder, n_blk, intp=intp) as blk:
                o = builder.mul(blk.index, const(fb))
                kblk = builder.mul(blk.index, const(9 * fb))
                if mode:
                    _prefetch_next(builder, xrow, xahead, blk.index, o, xoff[: mode * jb])
                acc = [ir.Constant(vec, None)] * jb
                for u in range(3):
                    kv = [load(kp, builder.add(kblk, const((3 * u + v) * fb))) for v in range(3)]
                    if not mode:
                        for v in range(3):
                            acc[0] = builder.call(fma, [load(taps[3 * u + v], o), kv[v], acc[0]])
                        continue
                    for c, (_, pairs) in enumerate(columns):
                        xv = load(xrow, builder.add(o, xoff[u * len(columns) + c]))
                        for jj, v in pairs:
                            acc[jj] = builder.call(fma, [xv, kv[v], acc[jj]])
                bv = load(bp, o)
                outs = [builder.fadd(acc[jj], bv) for jj in range(jb)]
                idx = [builder.add(o, yoff[jj]) for jj in range(jb)]
                if mode:
                    _store_tile(builder, outs, idx, yrow, streaming, vec, store)
                else:  # one pixel, anywhere: ordinary stores
                    store(outs[0], yrow, idx[0])
            return context.get_dummy_value()

        return sig, codegen

    return tile


def _make_dk_tile(mode):
    jb = JB if mode else 1
    columns = _tile_columns(mode, jb) if mode else None

    @intrinsic
    def tile(typingctx, pkb, pb, x, xbase, xoffs, xalt, use_alt, zero, dy, dybase, dyoffs, n_blocks, ahead, gahead):
        sig = types.void(pkb, pb, x, xbase, xoffs, xalt, use_alt, zero, dy, dybase, dyoffs, n_blocks, ahead, gahead)

        def codegen(context, builder, signature, args):
            unpacked = unpack_args(context, builder, signature, args)
            kp, bp, xp, xb, xo, xa, alt, zp, gp, gb, go, n_blk, xahead, gnext = unpacked
            xo = _choose(builder, xo, xa, alt)
            vec, fma, intp, load, store, fb = vector_setup(context, builder, signature.args[0].dtype)
            const = lambda v: ir.Constant(intp, v)  # noqa: E731
            grow = builder.gep(gp, [gb])
            goff = load_offsets(builder, go, jb, intp)
            if mode:
                xrow = builder.gep(xp, [xb])
                xoff = load_offsets(builder, xo, 3 * len(columns), intp)
            else:
                taps = _tap_pointers(builder, xo, zp, xp, intp)
            with cgutils.for_range(builder, n_blk, intp=intp) as blk:
                o = builder.mul(blk.index, const(fb))
                kblk = builder.mul(blk.index, const(9 * fb))
                if mode:
                    _prefetch_next(builder, xrow, xahead, blk.index, o, xoff[: mode * jb])
                    _prefetch_next(builder, grow, gnext, blk.index, o, goff)
                g = [load(grow, builder.add(o, goff[jj])) for jj in range(jb)]
                bsum = load(bp, o)
                for jj in range(jb):
                    bsum = builder.fadd(bsum, g[jj])
                store(bsum, bp, o)
                for u in range(3):
                    kidx = [builder.add(kblk, const((3 * u + v) * fb)) for v in range(3)]
                    acc = [load(kp, kidx[v]) for v in range(3)]
                    if not mode:
                        for v in range(3):
                            acc[v] = builder.call(fma, [load(taps[3 * u + v], o), g[0], acc[v]])
                    else:  # q ascending: each sum takes its pixels jj in ascending order
                        for c, (_, pairs) in enumerate(columns):
                            xv = load(xrow, builder.add(o, xoff[u * len(columns) + c]))
                            for jj, v in pairs:
                                acc[v] = builder.call(fma, [xv, g[jj], acc[v]])
                    for v in range(3):
                        store(acc[v], kp, kidx[v])
            return context.get_dummy_value()

        return sig, codegen

    return tile


_fwd_tile0, _fwd_tile1, _fwd_tile2 = (_make_forward_tile(m) for m in range(3))
_dk_tile0, _dk_tile1, _dk_tile2 = (_make_dk_tile(m) for m in range(3))


@intrinsic
def _store_fence(typingctx):
    """A full memory fence: the non-temporal stores are visible before the thread reports its
    rows done (x86 does not order them with its other stores)."""
    sig = types.void()

    def codegen(context, builder, signature, args):
        builder.fence("seq_cst")
        return context.get_dummy_value()

    return sig, codegen


# --------------------------------------------------------------------------- geometry helpers
@nb.njit(cache=True)
def _col_range(ja, jb, v, sw, dw, left, w):
    """The columns ``j`` in ``[ja, jb)`` whose tap ``v`` lands inside ``x``: ``0 ≤ j·sw + v·dw − left < w``."""
    lo = -((v * dw - left) // sw)  # ceil((left − v·dw) / sw)
    hi = (w - 1 + left - v * dw) // sw + 1
    return max(ja, lo), min(jb, hi)


@nb.njit(cache=True)
def _interior(ow, kw, sw, dw, left, w):
    """``[j0, j1)``: the output columns whose every tap lands inside ``x``."""
    j0 = min(ow, max(0, (left + sw - 1) // sw))
    j1 = min(ow, (w - 1 + left - (kw - 1) * dw) // sw + 1)
    return j0, max(j0, j1)


@nb.njit(cache=True)
def _pixel_taps(n, i, j, h, w, n_ch, sh, sw, dh, dw, top, left, out):
    """``out[3u + v]``: flat index in ``x`` of tap ``(u, v)`` of output pixel ``(n, i, j)``, or −1 in the padding."""
    for u in range(3):
        r = i * sh + u * dh - top
        for v in range(3):
            q = j * sw + v * dw - left
            out[3 * u + v] = ((n * h + r) * w + q) * n_ch if 0 <= r < h and 0 <= q < w else -1


# --------------------------------------------------------------------------- one output row, 3×3, M = 1
# A row's pixels go in tiles of JB pixels: column stride 1 — the columns ``≡ r (mod dw)`` are each
# other's taps, so each residue ``r`` is one sequence of tiles ``dw`` apart; stride 2 undilated —
# JB adjacent pixels. A tap in the padding reads the zero vector: the tile's offset for it is
# redirected there (``zoff``: where ``zero`` is, counted from ``x``'s first element). Leftovers
# of a sequence (its length mod JB) go one pixel at a time — the forward pass instead repeats
# its last tile shifted back (the overlapped pixels get the same numbers twice) — and so do
# all pixels when the stride allows no multi-pixel tile. While a tile runs, the same columns of
# the input row that the next output row adds are prefetched (the hardware prefetchers do not
# follow this access pattern: measured).
@nb.njit(cache=True)
def _tile_mode(sw, dw):
    """1 (column stride 1), 2 (stride 2, no dilation) or 0 (no multi-pixel tiles)."""
    return 1 if sw == 1 else (2 if sw == 2 and dw == 1 else 0)


@nb.njit(cache=True)
def _row_plan(i, geo, redirect, overlap, starts, cols):
    """Output row ``i``: ``(r0, mode, n_tiles, n_single)`` — its first input row, the tile mode,
    the first columns of its JB-pixel tiles in ``starts[:n_tiles]`` and the columns left to
    one-pixel tiles in ``cols[:n_single]``. Without ``redirect`` (``x`` misaligned for it) only
    interior pixels, whose taps are all inside ``x``, go in JB-pixel tiles. ``overlap``: repeat
    a sequence's last tile shifted back instead of leaving leftovers (forward pass only)."""
    h, w, n_ch, oh, ow, sh, sw, dh, dw, top, left = geo
    mode = _tile_mode(sw, dw)
    r0 = i * sh - top
    j0, j1 = 0, ow
    if not redirect:
        j0, j1 = _interior(ow, 3, sw, dw, left, w)
        if r0 < 0 or r0 + 2 * dh >= h:
            j1 = j0
    n_tiles = 0
    n_single = 0
    for j in range(j0):
        cols[n_single] = j
        n_single += 1
    if mode == 0:
        for j in range(j0, j1):
            cols[n_single] = j
            n_single += 1
    else:
        step = dw if mode == 1 else 1  # columns between a sequence's pixels
        for r in range(min(step, j1 - j0)):
            cnt = (j1 - j0 - r + step - 1) // step
            for t in range(0, cnt - JB + 1, JB):
                starts[n_tiles] = j0 + r + t * step
                n_tiles += 1
            rest = cnt % JB
            if rest and overlap and cnt >= JB:
                starts[n_tiles] = j0 + r + (cnt - JB) * step
                n_tiles += 1
            elif rest:
                for t in range(cnt - rest, cnt):
                    cols[n_single] = j0 + r + t * step
                    n_single += 1
    for j in range(j1, ow):
        cols[n_single] = j
        n_single += 1
    return r0, mode, n_tiles, n_single


@nb.njit(cache=True)
def _tile_redirect(j, r0, xb, geo, mode, xoffs, zoff, scratch):
    """Whether the tile whose first pixel is output column ``j`` (``xb``: the ``x`` index of its
    first tap) has a tap in the padding; if so, ``scratch`` receives its ``xoffs`` with the
    entries outside ``x`` pointing at the zero vector."""
    h, w, n_ch, oh, ow, sh, sw, dh, dw, top, left = geo
    ncols = xoffs.size // 3
    step = dw if mode == 1 else 1
    q0 = j * sw - left
    if r0 >= 0 and r0 + 2 * dh < h and q0 >= 0 and q0 + (ncols - 1) * step < w:
        return False
    for u in range(3):
        r = r0 + u * dh
        for c in range(ncols):
            q = q0 + c * step
            inside = 0 <= r < h and 0 <= q < w
            scratch[u * ncols + c] = xoffs[u * ncols + c] if inside else zoff - xb
    return True


@nb.njit(cache=True)
def _fwd_row3(yf, bias, xf, vec, work, n, i, geo, stream):
    """Output row ``(n, i)``, channels ``[0, c_vec)``, by vector tiles (see above).
    ``geo = (h, w, C, OH, OW, sh, sw, dh, dw, top, left)``; ``vec``: :func:`_vector_plan`;
    ``work``: :func:`_scratch`."""
    c_vec, fb, kb, zero, xoffs, yoffs, zoff, redirect = vec
    taps, starts, cols, scratch = work
    h, w, n_ch, oh, ow, sh, sw, dh, dw, top, left = geo
    n_blocks = c_vec // fb
    r0, mode, n_tiles, n_single = _row_plan(i, geo, redirect, True, starts, cols)
    ybase = ((n * oh + i) * ow) * n_ch
    xbase = ((n * h + r0) * w - left) * n_ch  # + j·sw·C: x index of tap (0, 0) of pixel j
    ahead = (2 * dh + sh) * w * n_ch  # the input row the next output row adds
    for s in range(n_tiles):
        j = starts[s]
        xb = xbase + j * sw * n_ch
        alt = _tile_redirect(j, r0, xb, geo, mode, xoffs, zoff, scratch)
        yb = ybase + j * n_ch
        if mode == 1:
            _fwd_tile1(yf, yb, yoffs, bias, xf, xb, xoffs, scratch, alt, zero, kb, n_blocks, stream, ahead)
        else:
            _fwd_tile2(yf, yb, yoffs, bias, xf, xb, xoffs, scratch, alt, zero, kb, n_blocks, stream, ahead)
    for s in range(n_single):
        j = cols[s]
        _pixel_taps(n, i, j, h, w, n_ch, sh, sw, dh, dw, top, left, taps)
        _fwd_tile0(yf, ybase + j * n_ch, yoffs, bias, xf, 0, taps, taps, False, zero, kb, n_blocks, 0, 0)


@nb.njit(cache=True)
def _dk_row3(pkb, pb, xf, dyf, vec, work, n, i, geo):
    """:func:`_fwd_row3` for the kernel gradient: output row ``(n, i)`` adds ``x[tap] · dy[n, i, j]``
    into ``pkb`` (:func:`_vector_plan`'s kernel layout) and ``dy`` into ``pb``."""
    c_vec, fb, kb, zero, xoffs, yoffs, zoff, redirect = vec
    taps, starts, cols, scratch = work
    h, w, n_ch, oh, ow, sh, sw, dh, dw, top, left = geo
    n_blocks = c_vec // fb
    r0, mode, n_tiles, n_single = _row_plan(i, geo, redirect, False, starts, cols)
    gbase = ((n * oh + i) * ow) * n_ch
    xbase = ((n * h + r0) * w - left) * n_ch
    ahead = (2 * dh + sh) * w * n_ch
    for s in range(n_tiles):
        j = starts[s]
        xb, gb = xbase + j * sw * n_ch, gbase + j * n_ch
        alt = _tile_redirect(j, r0, xb, geo, mode, xoffs, zoff, scratch)
        if mode == 1:
            _dk_tile1(pkb, pb, xf, xb, xoffs, scratch, alt, zero, dyf, gb, yoffs, n_blocks, ahead, ow * n_ch)
        else:
            _dk_tile2(pkb, pb, xf, xb, xoffs, scratch, alt, zero, dyf, gb, yoffs, n_blocks, ahead, ow * n_ch)
    for s in range(n_single):
        j = cols[s]
        _pixel_taps(n, i, j, h, w, n_ch, sh, sw, dh, dw, top, left, taps)
        _dk_tile0(pkb, pb, xf, 0, taps, taps, False, zero, dyf, gbase + j * n_ch, yoffs, n_blocks, 0, 0)


@nb.njit(cache=True)
def _scratch(ow, xoffs):
    """Per-task scratch of the row functions: a pixel's 9 tap offsets, a row's tile starts and
    one-pixel columns, a tile's redirected ``xoffs``."""
    return (
        np.empty(9, dtype=np.int64),
        np.empty(ow, dtype=np.int64),
        np.empty(ow, dtype=np.int64),
        np.empty(xoffs.size, dtype=np.int64),
    )


# --------------------------------------------------------------------------- forward
@nb.njit(cache=True)
def _fwd_cols(x, k, bias, mult, sh, sw, dh, dw, top, left, n, i, oa, ob, y):
    """Output row ``(n, i)``, output channels ``[oa, ob)`` (all of them if ``M > 1``), any kernel:
    ``y = (Σ_taps x · k) + bias``, taps outside ``x`` skipped (per tap, the range of columns it
    reaches is computed, not tested per pixel)."""
    _, h, w, n_ch = x.shape
    kh, kw, _ = k.shape
    ow = y.shape[2]
    yr = y[n, i]
    for j in range(ow):
        for o in range(oa, ob):
            yr[j, o] = 0
    for u in range(kh):
        r = i * sh + u * dh - top
        if r < 0 or r >= h:
            continue
        xr = x[n, r]
        for v in range(kw):
            lo, hi = _col_range(0, ow, v, sw, dw, left, w)
            kv = k[u, v]
            for j in range(lo, hi):
                xv = xr[j * sw + v * dw - left]
                yo = yr[j]
                if mult == 1:
                    for o in range(oa, ob):
                        yo[o] += xv[o] * kv[o]
                else:
                    for c in range(n_ch):
                        a = xv[c]
                        for m in range(mult):
                            yo[c * mult + m] += a * kv[c * mult + m]
    for j in range(ow):
        for o in range(oa, ob):
            yr[j, o] += bias[o]


@nb.njit(cache=True)
def _fwd_rows(x, k, bias, vec, mult, sh, sw, dh, dw, top, left, stream, first, last, y):
    """Output rows ``[first, last)`` (flat ``n·OH + i``) of :func:`_forward`: channels ``[0, c_vec)``
    by vector tiles, the rest by loops. (The parallel loop's body is this one call: Numba then
    compiles it several seconds faster.)"""
    c_vec = vec[0]
    _, h, w, n_ch = x.shape
    _, oh, ow, n_out = y.shape
    geo = (h, w, n_ch, oh, ow, sh, sw, dh, dw, top, left)
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    work = _scratch(ow, vec[4])
    for p in range(first, last):
        n = p // oh
        i = p - n * oh
        if c_vec > 0:
            _fwd_row3(yf, bias, xf, vec, work, n, i, geo, stream)
        if c_vec < n_out:
            _fwd_cols(x, k, bias, mult, sh, sw, dh, dw, top, left, n, i, c_vec, n_out, y)
    if stream:
        _store_fence()


@nb.njit(parallel=True, cache=True)
def _forward(
    x, k, bias, c_vec, fb, kb, zero, xoffs, yoffs, zoff, redirect, mult, sh, sw, dh, dw, top, left, stream, n_tasks, y
):
    """``y[n, i, j, o] = (Σ_{u,v} x[n, i·sh + u·dh − top, j·sw + v·dw − left, o // M] · k[u, v, o]) + bias[o]``,
    a tap outside ``x`` a zero (vector tiles) or skipped (:func:`_fwd_cols`) — the same for a
    finite kernel. ``c_vec … redirect``: :func:`_vector_plan`;
    ``stream``: the vector tiles write with non-temporal stores (``y`` 64-byte aligned,
    ``C % fb == 0``, see :func:`new_output`); ``n_tasks``: the output rows are cut into this
    many runs of consecutive rows (any number: each output is computed the same way whoever
    computes it). The vector plan comes as separate arguments, not as one tuple: Numba types
    a tuple of arrays in Python at every call (0.1 ms, measured)."""
    vec = (c_vec, fb, kb, zero, xoffs, yoffs, zoff, redirect)
    rows = y.shape[0] * y.shape[1]
    per_task = (rows + n_tasks - 1) // n_tasks
    for task in nb.prange(n_tasks):
        first, last = task * per_task, min(rows, (task + 1) * per_task)
        _fwd_rows(x, k, bias, vec, mult, sh, sw, dh, dw, top, left, stream, first, last, y)


# --------------------------------------------------------------------------- input gradient (strided or M > 1)
@nb.njit(parallel=True, cache=True)
def _backward_input(dy, k, mult, sh, sw, dh, dw, top, left, dx):
    """``dx[n, r, q, c] = Σ dy[n, i, j, c·M + m] · k[u, v, c·M + m]`` over the taps with
    ``i·sh + u·dh = r + top`` and ``j·sw + v·dw = q + left`` (``dx`` zero on entry)."""
    n_img, h, w, n_ch = dx.shape
    kh, kw, _ = k.shape
    _, oh, ow, _ = dy.shape
    for p in nb.prange(n_img * h):
        n = p // h
        r = p - n * h
        for u in range(kh):
            t = r + top - u * dh
            if t < 0 or t % sh != 0 or t // sh >= oh:
                continue
            dyr = dy[n, t // sh]
            for q in range(w):
                dxo = dx[n, r, q]
                for v in range(kw):
                    s = q + left - v * dw
                    if s < 0 or s % sw != 0 or s // sw >= ow:
                        continue
                    g = dyr[s // sw]
                    kv = k[u, v]
                    if mult == 1:
                        for c in range(n_ch):
                            dxo[c] += g[c] * kv[c]
                    else:
                        for c in range(n_ch):
                            acc = dxo[c]
                            for m in range(mult):
                                acc += g[c * mult + m] * kv[c * mult + m]
                            dxo[c] = acc


# --------------------------------------------------------------------------- kernel gradient
@nb.njit(cache=True)
def _dk_cols(dy, x, mult, sh, sw, dh, dw, top, left, n, i, oa, ob, pk, pb):
    """Output row ``(n, i)``, output channels ``[oa, ob)`` (all if ``M > 1``), any kernel:
    ``pk[u, v, o] += x[…, o // M] · dy[n, i, j, o]`` over the taps inside ``x``, ``pb[o] += dy[n, i, j, o]``."""
    _, h, w, n_ch = x.shape
    kh, kw, _ = pk.shape
    ow = dy.shape[2]
    dyr = dy[n, i]
    for j in range(ow):
        g = dyr[j]
        for o in range(oa, ob):
            pb[o] += g[o]
    for u in range(kh):
        r = i * sh + u * dh - top
        if r < 0 or r >= h:
            continue
        xr = x[n, r]
        for v in range(kw):
            lo, hi = _col_range(0, ow, v, sw, dw, left, w)
            kv = pk[u, v]
            for j in range(lo, hi):
                xv = xr[j * sw + v * dw - left]
                g = dyr[j]
                if mult == 1:
                    for o in range(oa, ob):
                        kv[o] += xv[o] * g[o]
                else:
                    for c in range(n_ch):
                        a = xv[c]
                        for m in range(mult):
                            kv[c * mult + m] += a * g[c * mult + m]


@nb.njit(cache=True)
def _dk_rows(dy, x, vec, mult, sh, sw, dh, dw, top, left, first, last, pk, pkb, pb):
    """Output rows ``[first, last)`` (flat ``n·OH + i``) of :func:`_backward_kernel` into one chunk's sums."""
    c_vec = vec[0]
    _, h, w, n_ch = x.shape
    _, oh, ow, n_out = dy.shape
    geo = (h, w, n_ch, oh, ow, sh, sw, dh, dw, top, left)
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    work = _scratch(ow, vec[4])
    for p in range(first, last):
        n = p // oh
        i = p - n * oh
        if c_vec > 0:
            _dk_row3(pkb, pb, xf, dyf, vec, work, n, i, geo)
        if c_vec < n_out:
            _dk_cols(dy, x, mult, sh, sw, dh, dw, top, left, n, i, c_vec, n_out, pk, pb)


@nb.njit(parallel=True, cache=True)
def _backward_kernel(
    dy, x, c_vec, fb, kb, zero, xoffs, yoffs, zoff, redirect, mult, sh, sw, dh, dw, top, left, part, partb, dbpart
):
    """Per chunk of output rows: ``part[chunk, u, v, o] += x[…, o // M] · dy[…, o]`` for the
    channels ``o ≥ c_vec``, the same for ``o < c_vec`` (3×3, ``M = 1``: the vector tiles) into
    ``partb[chunk]`` in :func:`_vector_plan`'s kernel layout, and ``dbpart[chunk, o] += dy[…, o]``
    (all zero on entry; the caller sums the chunks). The vector tiles multiply the padding's
    zeros, :func:`_dk_cols` skips them (the caller redoes the sum on a padded ``x`` when that
    could differ: a non-finite ``dy``)."""
    vec = (c_vec, fb, kb, zero, xoffs, yoffs, zoff, redirect)
    n_chunks = part.shape[0]
    rows = dy.shape[0] * dy.shape[1]
    per_chunk = (rows + n_chunks - 1) // n_chunks
    for chunk in nb.prange(n_chunks):
        first, last = chunk * per_chunk, min(rows, (chunk + 1) * per_chunk)
        _dk_rows(dy, x, vec, mult, sh, sw, dh, dw, top, left, first, last, part[chunk], partb[chunk], dbpart[chunk])


# --------------------------------------------------------------------------- entry points
def _padded(x: np.ndarray, pads: Pads) -> np.ndarray:
    t, b, l, r = pads
    if not (t or b or l or r):
        return x
    xp = np.zeros((x.shape[0], x.shape[1] + t + b, x.shape[2] + l + r, x.shape[3]), dtype=x.dtype)
    xp[:, t : t + x.shape[1], l : l + x.shape[2], :] = x
    return xp


def new_output(shape: tuple[int, ...], dtype: np.dtype, mult: int) -> tuple[np.ndarray, bool]:
    """An uninitialised array, 64-byte aligned, and whether the vector tiles may write it with
    non-temporal stores (whole aligned vectors: ``M = 1``, ``C`` a multiple of the block)."""
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    buf = np.empty(size + 64 // dtype.itemsize, dtype=dtype)
    start = (-_address(buf)) % 64 // dtype.itemsize
    out = buf[start : start + size].reshape(shape)
    stream = mult == 1 and shape[-1] % block_width(dtype) == 0 and out.nbytes >= STREAM_BYTES
    return out, stream


def _tasks(y: np.ndarray) -> int:
    """Runs of output rows for :func:`_forward`: a few per thread (balance), not one per row
    (each run ends with a store fence, which waits for its streamed rows to reach memory)."""
    return max(1, min(y.shape[0] * y.shape[1], 4 * nb.get_num_threads()))


def _vector_plan(k: np.ndarray, mult: int, x: np.ndarray, strides: Pair, dilation: Pair):
    """What the vector tiles need, for the kernel ``k (KH, KW, C·M)`` on the input ``x`` (the array
    the tiles read taps from): ``(c_vec, fb, kb, zero, xoffs, yoffs, zoff, redirect)``.

    - ``c_vec``: the channels the tiles compute — whole blocks of ``fb`` (:func:`block_width`),
      3×3 kernels with ``M = 1`` only (0 otherwise: everything by :func:`_fwd_cols`);
    - ``kb``: the kernel as ``(c_vec / fb, 9, fb)``, flat — a block's 9 tap vectors side by
      side, at constant offsets from one pointer;
    - ``zero``: ``c_vec`` zeros, what a tap in the padding reads; ``zoff``: its place counted
      in elements from ``x``'s first one; ``redirect``: whether that count is whole (else the
      pixels with taps in the padding go one at a time);
    - ``xoffs (3, ncols)``, flat: offset of kernel row ``u``, tile column ``c`` from the tile's
      first tap in ``x``; ``yoffs (JB,)``: offset of tile pixel ``jj`` from the first in ``y`` /
      ``dy`` (placeholders when the stride allows no multi-pixel tile).
    """
    kh, kw, n_out = k.shape
    fb = block_width(k.dtype)
    c_vec = n_out - n_out % fb if (kh == 3 and kw == 3 and mult == 1) else 0
    kb = k.reshape(kh * kw, n_out)[:, :c_vec].reshape(-1, max(c_vec // fb, 1), fb).transpose(1, 0, 2).ravel()
    (_, sw), (dh, dw) = strides, dilation
    mode = 1 if sw == 1 else (2 if sw == 2 and dw == 1 else 0)
    step = dw * n_out if mode == 1 else n_out
    rows, cols = _TAP_GRID[mode]
    xoffs = rows * (dh * x.shape[2] * x.shape[3]) + cols * step
    yoffs = _PIXELS * step
    zero = np.zeros(max(c_vec, 1), dtype=k.dtype)
    gap = _address(zero) - _address(x)
    return c_vec, fb, kb, zero, xoffs, yoffs, gap // x.itemsize, gap % x.itemsize == 0


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


#: Per tile mode, ``(u, c)`` flat over the 3 kernel rows × the tile's ``x`` columns: ``xoffs = u·row + c·step``.
_TAP_GRID = {
    m: tuple(g.ravel() for g in np.meshgrid(np.arange(3), np.arange(tile_columns(m) if m else 1), indexing="ij"))
    for m in range(3)
}
_PIXELS = np.arange(JB, dtype=np.int64)


def depthwise_forward(
    x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None, strides: Pair, pads: Pads, dilation: Pair
) -> np.ndarray:
    """``y (N, OH, OW, C·M)`` of :func:`convlab.ops.depthwise.depthwise_conv2d` for ``kernel (KH, KW, C, M)``."""
    kh, kw, n_ch, mult = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    oh = (x.shape[1] + pads[0] + pads[1] - dh * (kh - 1) - 1) // sh + 1
    ow = (x.shape[2] + pads[2] + pads[3] - dw * (kw - 1) - 1) // sw + 1
    y, stream = new_output((x.shape[0], oh, ow, n_ch * mult), x.dtype, mult)
    b = np.zeros(n_ch * mult, dtype=x.dtype) if bias is None else bias
    xs, top, left = x, pads[0], pads[2]
    if any(pads) and not np.isfinite(kernel).all():
        # Skipping the pads drops their products 0·kernel, which are NaN for an infinite weight.
        xs, top, left = _padded(x, pads), 0, 0
    k = kernel.reshape(kh, kw, n_ch * mult)
    vec = _vector_plan(k, mult, xs, strides, dilation)
    _forward(xs, k, b, *vec, mult, sh, sw, dh, dw, top, left, stream, _tasks(y), y)
    return y


def _kernel_gradient(dy, x, kernel, strides, pads, dilation):
    kh, kw, n_ch, mult = kernel.shape
    vec = _vector_plan(kernel.reshape(kh, kw, n_ch * mult), mult, x, strides, dilation)
    c_vec, fb = vec[0], vec[1]
    n_chunks = max(1, min(DK_CHUNKS, dy.shape[0] * dy.shape[1]))
    part = np.zeros((n_chunks, kh, kw, n_ch * mult), dtype=x.dtype)
    partb = np.zeros((n_chunks, c_vec * 9), dtype=x.dtype)
    dbpart = np.zeros((n_chunks, n_ch * mult), dtype=x.dtype)
    _backward_kernel(dy, x, *vec, mult, *strides, *dilation, pads[0], pads[2], part, partb, dbpart)
    dk = part.sum(axis=0)
    if c_vec:  # (block, tap, lane) → (tap, channel)
        blocks = partb.sum(axis=0).reshape(c_vec // fb, 9, fb)
        dk[:, :, :c_vec] = blocks.transpose(1, 0, 2).reshape(3, 3, c_vec)
    return dk.reshape(kernel.shape), dbpart.sum(axis=0)


def _input_gradient(dy, x, kernel, strides, pads, dilation):
    kh, kw, n_ch, mult = kernel.shape
    (sh, sw), (dh, dw) = strides, dilation
    k = kernel.reshape(kh, kw, n_ch * mult)
    if mult == 1 and sh == 1 and sw == 1 and np.isfinite(k).all():
        # dx[r, q] = Σ_{u,v} dy[r + top − u·dh, q + left − v·dw] · k[u, v]: with u' = KH − 1 − u it is
        # the forward convolution of dy with the flipped kernel, top' = (KH − 1)·dh − top. The
        # forward multiplies zeros where dy has no entry: exact for a finite kernel only (0·inf).
        dx, stream = new_output(x.shape, x.dtype, 1)
        flipped = np.ascontiguousarray(k[::-1, ::-1])
        zero = np.zeros(n_ch, dtype=x.dtype)
        top, left = (kh - 1) * dh - pads[0], (kw - 1) * dw - pads[2]
        vec = _vector_plan(flipped, 1, dy, strides, dilation)
        _forward(dy, flipped, zero, *vec, 1, 1, 1, dh, dw, top, left, stream, _tasks(dx), dx)
        return dx
    dx = np.zeros(x.shape, dtype=x.dtype)
    _backward_input(dy, k, mult, sh, sw, dh, dw, pads[0], pads[2], dx)
    return dx


def depthwise_backward(
    dy: np.ndarray,
    x: np.ndarray,
    kernel: np.ndarray,
    strides: Pair,
    pads: Pads,
    dilation: Pair,
    need_dx: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """``(dx (N,H,W,C) or None, dkernel (KH,KW,C,M), dbias (C·M,))``; ``dy (N, OH, OW, C·M)``.

    Input pixels no window covers get 0.
    """
    dx = _input_gradient(dy, x, kernel, strides, pads, dilation) if need_dx else None
    dk, db = _kernel_gradient(dy, x, kernel, strides, pads, dilation)
    if any(pads) and not np.isfinite(db).all():
        # dy holds a NaN or an inf (or its sum overflowed): the skipped pad products 0·dy
        # may be NaN, so redo the reduction on explicitly padded zeros.
        dk, db = _kernel_gradient(dy, _padded(x, pads), kernel, strides, (0, 0, 0, 0), dilation)
    return dx, dk, db
