"""Numba pooling kernels (forward and backward). Called by :mod:`convlab.ops.pooling`.

Two paths:
- **non-overlapping** (:func:`_forward_rows`, :func:`_backward_rows`, :func:`_index_backward_rows`):
  windows without padding and ``strides == pool`` (Keras' default ``MaxPooling2D(2)``).
  Every input pixel belongs to at most one window, so the backward pass writes each
  ``dx`` element exactly once (no zero-fill, no accumulation). The channels, contiguous
  in NHWC, go through vector code written as LLVM IR (whole vector registers of ``fb``
  channels, :func:`convlab.kernels.depthwise.block_width`): per window the running maximum
  and the position of the first maximum are kept in registers and updated with
  branch-free selects; the 2×2 window's taps are unrolled. Channels past the last whole
  vector go through plain loops with the same rule. Ordinary stores, not non-temporal
  ones: streaming ``dx`` out while reading ``x`` ran 3–5× slower on the development
  machine (2 threads, the benchmark's 16.8 MB ``dx``: 1.0–1.3 ms with ordinary stores,
  4–7 ms streamed, whole 64-byte lines per tap or not). The forward pass can also record,
  per output, the position ``k = u·PW + v`` of the window's selected pixel (a ``uint8``
  per output, a quarter of ``y``'s bytes in float32 for 2×2), so a training step's
  backward pass reads that small array and ``dy`` instead of ``x`` again.
- **generic** (:func:`_max_forward`, :func:`_max_backward`): any pool size,
  stride and padding, with bounds checks; overlapping windows accumulate.

Which pixel gets a window's gradient (the rule of :mod:`convlab.ops.pooling`):
the first maximum in row-major order among the window's *real* pixels — pads
are never candidates — with NaN counting as larger than everything. So on ties
the first maximum (TensorFlow's CPU ``MaxPoolGrad``), a window of −inf values
and pads sends it to its first real pixel (TensorFlow too), and a NaN wins the
maximum (the forward returns NaN) and its first NaN gets the gradient. In the
vector code that is one select per tap: take the tap when ``!(tap <= best)``
(greater, or NaN) and ``best`` is not NaN yet.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from convlab.kernels.depthwise import (
    block_width,
    load_offsets,
    new_output,
    unpack_args,
    vector_setup,
)

#: ``(rows, cols)`` and ``(top, bottom, left, right)``, already checked by :mod:`convlab.ops.pooling`.
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]

#: Inputs smaller than this are pooled on the calling thread: waking the thread pool costs
#: tens of microseconds, more than the whole pass on a small map.
SERIAL_BYTES = 256 << 10

#: The window positions a ``uint8`` index can name: larger windows have no index path.
MAX_INDEX_TAPS = 256

#: Windows of this many taps (2×2) get vector code with the taps unrolled; others loop over them.
UNROLLED_TAPS = 4

#: dtype of the window-position index (see :func:`max_pool2d_forward`).
INDEX_DTYPE = np.uint8


# --------------------------------------------------------------------------- vector code (LLVM IR)
def _setup(context, builder, dtype):
    """``(vec, ivec, intp, load, store, fb)``: ``ivec`` is an integer vector of the float lanes' width."""
    vec, _, intp, load, store, fb = vector_setup(context, builder, dtype)
    ivec = ir.VectorType(ir.IntType(8 * context.get_abi_sizeof(vec.element)), fb)
    return vec, ivec, intp, load, store, fb


def _splat(builder, value, vty):
    """A vector of type ``vty`` with ``value`` (a scalar of its element type) in every lane."""
    i32 = ir.IntType(32)
    one = builder.insert_element(ir.Constant(vty, ir.Undefined), value, i32(0))
    return builder.shuffle_vector(one, ir.Constant(vty, ir.Undefined), ir.Constant(ir.VectorType(i32, vty.count), None))


def _take(builder, val, best):
    """Lanes where ``val`` replaces the running maximum ``best``: ``val`` greater or NaN
    (``!(val <= best)``), while ``best`` is not NaN — so the first NaN stays."""
    return builder.and_(builder.fcmp_unordered(">", val, best), builder.fcmp_ordered("ord", best, best))


def _first_max(builder, load, xo, offs, toffs, n_taps, vec, ivec, intp):
    """``(best, where)`` over a window's taps at ``xo + offset``: the maximum (first NaN wins)
    and the tap number of its first occurrence, per lane. ``offs``: the taps' offsets, unrolled;
    ``None``: a loop over the ``n_taps`` offsets in ``toffs``."""
    best = load(xo, ir.Constant(intp, 0))  # tap 0 is (0, 0), at offset 0
    where = ir.Constant(ivec, None)
    if offs is not None:
        for t in range(1, len(offs)):
            val = load(xo, offs[t])
            take = _take(builder, val, best)
            best = builder.select(take, val, best)
            where = builder.select(take, ir.Constant(ivec, [t] * ivec.count), where)
        return best, where
    best_slot = cgutils.alloca_once(builder, vec)
    where_slot = cgutils.alloca_once(builder, ivec)
    builder.store(best, best_slot)
    builder.store(where, where_slot)
    with cgutils.for_range(builder, n_taps, start=ir.Constant(intp, 1), intp=intp) as tap:
        val = load(xo, builder.load(builder.gep(toffs, [tap.index])))
        cur = builder.load(best_slot)
        take = _take(builder, val, cur)
        builder.store(builder.select(take, val, cur), best_slot)
        t = _splat(builder, builder.trunc(tap.index, ivec.element), ivec)
        builder.store(builder.select(take, t, builder.load(where_slot)), where_slot)
    return builder.load(best_slot), builder.load(where_slot)


def _scatter(builder, dyv, where, dxp, o, offs, toffs, n_taps, vec, store, intp):
    """Write ``dyv`` to the tap ``where`` names and zeros to the others, lane by lane: every
    ``dx`` element of the window written once, with whole-vector stores."""
    zero = ir.Constant(vec, None)

    def out(t):
        return builder.select(builder.icmp_signed("==", where, t), dyv, zero)

    if offs is not None:
        for t, off in enumerate(offs):
            store(out(ir.Constant(where.type, [t] * vec.count)), dxp, builder.add(o, off))
        return
    with cgutils.for_range(builder, n_taps, intp=intp) as tap:
        t = _splat(builder, builder.trunc(tap.index, where.type.element), where.type)
        store(out(t), dxp, builder.add(o, builder.load(builder.gep(toffs, [tap.index]))))


def _pixel(builder, base, j, step):
    """``base + j·step``."""
    return builder.add(base, builder.mul(j, step))


def _blocks(builder, intp, nblk, fb, body):
    """Emit ``body(o)`` for each of a pixel's ``nblk`` channel vectors, ``o`` its first channel."""
    with cgutils.for_range(builder, nblk, intp=intp) as blk:
        body(builder.mul(blk.index, ir.Constant(intp, fb)))


def _make_forward_row(unrolled):
    """One output row of the non-overlapping max pool, channels ``[0, n_blk·fb)``: ``y`` (and the
    window position of each maximum into ``index`` when ``want_index`` is non-zero). ``unrolled``:
    the taps' count when they are unrolled (2×2), else 0 (a loop over ``n_taps``)."""

    @intrinsic
    def row(typingctx, y, ybase, index, want_index, x, xbase, toffs, n_taps, ow, jstep, n_ch, n_blk):
        sig = types.void(y, ybase, index, want_index, x, xbase, toffs, n_taps, ow, jstep, n_ch, n_blk)

        def codegen(context, builder, signature, args):
            yp, yb, ip, want, xp, xb, to, nt, n_cols, js, nch, nblk = unpack_args(context, builder, signature, args)
            vec, ivec, intp, load, store, fb = _setup(context, builder, signature.args[0].dtype)
            offs = load_offsets(builder, to, unrolled, intp) if unrolled else None
            bvec = ir.VectorType(ir.IntType(8), fb)
            with cgutils.for_range(builder, n_cols, intp=intp) as col:
                xpix = builder.gep(xp, [_pixel(builder, xb, col.index, js)])
                ypix = _pixel(builder, yb, col.index, nch)

                def body(o):
                    best, where = _first_max(builder, load, builder.gep(xpix, [o]), offs, to, nt, vec, ivec, intp)
                    at = builder.add(ypix, o)
                    store(best, yp, at)
                    with builder.if_then(builder.icmp_signed("!=", want, ir.Constant(want.type, 0))):
                        ptr = builder.bitcast(builder.gep(ip, [at]), bvec.as_pointer())
                        builder.store(builder.trunc(where, bvec), ptr, align=1)

                _blocks(builder, intp, nblk, fb, body)
            return context.get_dummy_value()

        return sig, codegen

    return row


def _make_backward_row(unrolled):
    """One output row of the non-overlapping max pool's gradient from ``x``, channels
    ``[0, n_blk·fb)``: each window's ``dy`` to its first maximum, zeros elsewhere (``dx`` has
    ``x``'s layout, so ``xbase`` and ``toffs`` serve both)."""

    @intrinsic
    def row(typingctx, dx, dy, dybase, x, xbase, toffs, n_taps, ow, jstep, n_ch, n_blk):
        sig = types.void(dx, dy, dybase, x, xbase, toffs, n_taps, ow, jstep, n_ch, n_blk)

        def codegen(context, builder, signature, args):
            dxp, dyp, dyb, xp, xb, to, nt, n_cols, js, nch, nblk = unpack_args(context, builder, signature, args)
            vec, ivec, intp, load, store, fb = _setup(context, builder, signature.args[0].dtype)
            offs = load_offsets(builder, to, unrolled, intp) if unrolled else None
            with cgutils.for_range(builder, n_cols, intp=intp) as col:
                at = _pixel(builder, xb, col.index, js)
                xpix = builder.gep(xp, [at])
                dxpix = builder.gep(dxp, [at])
                dypix = _pixel(builder, dyb, col.index, nch)

                def body(o):
                    _, where = _first_max(builder, load, builder.gep(xpix, [o]), offs, to, nt, vec, ivec, intp)
                    dyv = load(dyp, builder.add(dypix, o))
                    _scatter(builder, dyv, where, dxpix, o, offs, to, nt, vec, store, intp)

                _blocks(builder, intp, nblk, fb, body)
            return context.get_dummy_value()

        return sig, codegen

    return row


def _make_index_backward_row(unrolled):
    """As :func:`_make_backward_row`, the window positions read from ``index`` (``dy``'s layout)."""

    @intrinsic
    def row(typingctx, dx, dxbase, dy, dybase, index, toffs, n_taps, ow, jstep, n_ch, n_blk):
        sig = types.void(dx, dxbase, dy, dybase, index, toffs, n_taps, ow, jstep, n_ch, n_blk)

        def codegen(context, builder, signature, args):
            dxp, dxb, dyp, dyb, ip, to, nt, n_cols, js, nch, nblk = unpack_args(context, builder, signature, args)
            vec, _, intp, load, store, fb = _setup(context, builder, signature.args[0].dtype)
            offs = load_offsets(builder, to, unrolled, intp) if unrolled else None
            bvec = ir.VectorType(ir.IntType(8), fb)
            with cgutils.for_range(builder, n_cols, intp=intp) as col:
                dxpix = builder.gep(dxp, [_pixel(builder, dxb, col.index, js)])
                dypix = _pixel(builder, dyb, col.index, nch)

                def body(o):
                    at = builder.add(dypix, o)
                    where = builder.load(builder.bitcast(builder.gep(ip, [at]), bvec.as_pointer()), align=1)
                    _scatter(builder, load(dyp, at), where, dxpix, o, offs, to, nt, vec, store, intp)

                _blocks(builder, intp, nblk, fb, body)
            return context.get_dummy_value()

        return sig, codegen

    return row


_fwd_row_2x2, _fwd_row_any = _make_forward_row(UNROLLED_TAPS), _make_forward_row(0)
_bwd_row_2x2, _bwd_row_any = _make_backward_row(UNROLLED_TAPS), _make_backward_row(0)
_idx_row_2x2, _idx_row_any = _make_index_backward_row(UNROLLED_TAPS), _make_index_backward_row(0)


# --------------------------------------------------------------------------- non-overlapping: rows of windows
@nb.njit(cache=True)
def _forward_rows(x, ph, pw, n_blk, fb, toffs, y, index, want_index, first, last):
    """Output rows ``[first, last)`` (flat ``n·OH + i``) of the non-overlapping max pool: channels
    ``[0, n_blk·fb)`` by the vector row, the rest by loops (same rule)."""
    _, h, w, n_ch = x.shape
    _, oh, ow, _ = y.shape
    taps = ph * pw
    xf = x.reshape(-1)
    yf = y.reshape(-1)
    idf = index.reshape(-1)
    c_vec = n_blk * fb
    for p in range(first, last):
        n = p // oh
        i = p - n * oh
        r0 = i * ph
        xbase = (n * h + r0) * w * n_ch
        if n_blk > 0:
            if taps == UNROLLED_TAPS:
                _fwd_row_2x2(yf, p * ow * n_ch, idf, want_index, xf, xbase, toffs, taps, ow, pw * n_ch, n_ch, n_blk)
            else:
                _fwd_row_any(yf, p * ow * n_ch, idf, want_index, xf, xbase, toffs, taps, ow, pw * n_ch, n_ch, n_blk)
        for j in range(ow):
            q0 = j * pw
            for c in range(c_vec, n_ch):
                best = x[n, r0, q0, c]
                k = 0
                for u in range(ph):
                    for v in range(pw):
                        val = x[n, r0 + u, q0 + v, c]
                        if (not val <= best) and not np.isnan(best):
                            best = val
                            k = u * pw + v
                y[n, i, j, c] = best
                if want_index:
                    index[n, i, j, c] = k


@nb.njit(cache=True)
def _zero_uncovered(n, i, oh, ph, pw, ow, dx):
    """Zero the ``dx`` pixels no window covers next to output row ``i`` of image ``n``: the columns
    past ``OW·PW`` in its rows, and the rows past ``OH·PH`` after the image's last output row."""
    _, h, w, n_ch = dx.shape
    for r in range(i * ph, i * ph + ph):
        for q in range(ow * pw, w):
            for c in range(n_ch):
                dx[n, r, q, c] = 0.0
    if i == oh - 1:
        for r in range(oh * ph, h):
            for q in range(w):
                for c in range(n_ch):
                    dx[n, r, q, c] = 0.0


@nb.njit(cache=True)
def _backward_rows(dy, x, ph, pw, n_blk, fb, toffs, dx, first, last):
    """Output rows ``[first, last)`` of the non-overlapping max pool's gradient, from ``x``."""
    _, h, w, n_ch = x.shape
    _, oh, ow, _ = dy.shape
    taps = ph * pw
    xf = x.reshape(-1)
    dyf = dy.reshape(-1)
    dxf = dx.reshape(-1)
    c_vec = n_blk * fb
    for p in range(first, last):
        n = p // oh
        i = p - n * oh
        r0 = i * ph
        xbase = (n * h + r0) * w * n_ch
        if n_blk > 0:
            if taps == UNROLLED_TAPS:
                _bwd_row_2x2(dxf, dyf, p * ow * n_ch, xf, xbase, toffs, taps, ow, pw * n_ch, n_ch, n_blk)
            else:
                _bwd_row_any(dxf, dyf, p * ow * n_ch, xf, xbase, toffs, taps, ow, pw * n_ch, n_ch, n_blk)
        for j in range(ow):
            q0 = j * pw
            for c in range(c_vec, n_ch):
                best = x[n, r0, q0, c]
                k = 0
                for u in range(ph):
                    for v in range(pw):
                        val = x[n, r0 + u, q0 + v, c]
                        if (not val <= best) and not np.isnan(best):
                            best = val
                            k = u * pw + v
                g = dy[n, i, j, c]
                for u in range(ph):
                    for v in range(pw):
                        dx[n, r0 + u, q0 + v, c] = g if u * pw + v == k else 0.0
        _zero_uncovered(n, i, oh, ph, pw, ow, dx)


@nb.njit(cache=True)
def _index_backward_rows(dy, index, ph, pw, n_blk, fb, toffs, dx, first, last):
    """Output rows ``[first, last)`` of the non-overlapping max pool's gradient, from the window
    positions the forward pass recorded."""
    _, h, w, n_ch = dx.shape
    _, oh, ow, _ = dy.shape
    taps = ph * pw
    dyf = dy.reshape(-1)
    dxf = dx.reshape(-1)
    idf = index.reshape(-1)
    c_vec = n_blk * fb
    for p in range(first, last):
        n = p // oh
        i = p - n * oh
        r0 = i * ph
        dxbase = (n * h + r0) * w * n_ch
        if n_blk > 0:
            if taps == UNROLLED_TAPS:
                _idx_row_2x2(dxf, dxbase, dyf, p * ow * n_ch, idf, toffs, taps, ow, pw * n_ch, n_ch, n_blk)
            else:
                _idx_row_any(dxf, dxbase, dyf, p * ow * n_ch, idf, toffs, taps, ow, pw * n_ch, n_ch, n_blk)
        for j in range(ow):
            q0 = j * pw
            for c in range(c_vec, n_ch):
                g = dy[n, i, j, c]
                k = index[n, i, j, c]
                for u in range(ph):
                    for v in range(pw):
                        dx[n, r0 + u, q0 + v, c] = g if u * pw + v == k else 0.0
        _zero_uncovered(n, i, oh, ph, pw, ow, dx)


#: What :func:`_tasks` runs: :func:`_forward_rows`, :func:`_backward_rows`, :func:`_index_backward_rows`.
FORWARD, BACKWARD, INDEX_BACKWARD = 0, 1, 2


@nb.njit(parallel=True, cache=True)
def _tasks(kind, x, y, index, want_index, dy, dx, ph, pw, n_blk, fb, toffs, n_tasks):
    """The rows function ``kind`` over all output rows, cut into ``n_tasks`` runs of consecutive
    rows (arrays a kind does not use are placeholders of the same types). One parallel kernel
    for the three: each costs seconds to compile."""
    rows = y.shape[0] * y.shape[1]
    per_task = (rows + n_tasks - 1) // n_tasks
    for task in nb.prange(n_tasks):
        first, last = task * per_task, min(rows, (task + 1) * per_task)
        if kind == FORWARD:
            _forward_rows(x, ph, pw, n_blk, fb, toffs, y, index, want_index, first, last)
        elif kind == BACKWARD:
            _backward_rows(dy, x, ph, pw, n_blk, fb, toffs, dx, first, last)
        else:
            _index_backward_rows(dy, index, ph, pw, n_blk, fb, toffs, dx, first, last)


def _plan(x_shape, pool, dtype):
    """``(n_blk, fb, toffs)``: whole vectors of channels, the vector width, and each window tap's
    offset ``(u·W + v)·C`` from the window's first element, in row-major tap order."""
    _, _, w, n_ch = x_shape
    fb = block_width(dtype)
    taps = [(u * w + v) * n_ch for u in range(pool[0]) for v in range(pool[1])]
    return n_ch // fb, fb, np.array(taps, dtype=np.int64)


def _run(kind, x, y, index, want_index, dy, dx, pool, n_blk, fb, toffs):
    """:func:`_tasks` on the thread pool, or the rows function on this thread for small maps
    (``y`` has the output's shape: it counts the rows)."""
    rows = y.shape[0] * y.shape[1]
    if max(x.nbytes, dx.nbytes) < SERIAL_BYTES:
        if kind == FORWARD:
            _forward_rows(x, pool[0], pool[1], n_blk, fb, toffs, y, index, want_index, 0, rows)
        elif kind == BACKWARD:
            _backward_rows(dy, x, pool[0], pool[1], n_blk, fb, toffs, dx, 0, rows)
        else:
            _index_backward_rows(dy, index, pool[0], pool[1], n_blk, fb, toffs, dx, 0, rows)
        return
    n_tasks = max(1, min(rows, 4 * nb.get_num_threads()))
    _tasks(kind, x, y, index, want_index, dy, dx, pool[0], pool[1], n_blk, fb, toffs, n_tasks)


def _no_index():
    return np.zeros((1, 1, 1, 1), dtype=INDEX_DTYPE)


def _empty(shape, dtype):
    """An uninitialised array, 64-byte aligned (whole vectors never straddle a cache line)."""
    return new_output(tuple(shape), np.dtype(dtype), 1)[0]


# --------------------------------------------------------------------------- generic (any window)
@nb.njit(parallel=True, cache=True)
def _max_forward(x, ph, pw, sh, sw, top, left, y):
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = y.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p % oh
        for j in range(ow):
            for c in range(n_ch):
                best = -np.inf
                for r in range(max(i * sh - top, 0), min(i * sh - top + ph, h)):
                    for q in range(max(j * sw - left, 0), min(j * sw - left + pw, w)):
                        val = x[n, r, q, c]
                        if val > best or np.isnan(val):
                            best = val
                y[n, i, j, c] = best


@nb.njit(parallel=True, cache=True)
def _avg_forward(x, ph, pw, sh, sw, top, left, zero, y):
    """``zero``: a 1-element array of ``x``'s dtype, so each window is summed in that dtype (a
    float32 sum overflows to inf exactly where the reference's and TensorFlow's do)."""
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = y.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p % oh
        for j in range(ow):
            for c in range(n_ch):
                total = zero[0]
                count = 0
                for r in range(max(i * sh - top, 0), min(i * sh - top + ph, h)):
                    for q in range(max(j * sw - left, 0), min(j * sw - left + pw, w)):
                        total += x[n, r, q, c]
                        count += 1
                y[n, i, j, c] = total / count


def _out(x, pool, strides, pads):
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    oh, ow = (hp - pool[0]) // strides[0] + 1, (wp - pool[1]) // strides[1] + 1
    return _empty((x.shape[0], oh, ow, x.shape[3]), x.dtype)


def _non_overlapping(pool, strides, pads):
    return tuple(pool) == tuple(strides) and not any(pads)


def has_index(pool: Pair, strides: Pair, pads: Pads) -> bool:
    """Whether :func:`max_pool2d_forward` can record window positions for this geometry."""
    return _non_overlapping(pool, strides, pads) and pool[0] * pool[1] <= MAX_INDEX_TAPS


def max_pool2d_forward(
    x: np.ndarray,
    pool: Pair,
    strides: Pair,
    pads: Pads,
    out: np.ndarray | None = None,
    index: np.ndarray | None = None,
) -> np.ndarray:
    """``x (N,H,W,C)`` → ``(N,OH,OW,C)``: the maximum of each window (pads count as −inf).

    ``out``: the output array to write (checked by the caller: shape, dtype, C order), else a new
    one. ``index``: a ``uint8`` array of the output's shape that receives, per output, the
    position ``u·PW + v`` of the window pixel the backward pass sends its gradient to (only
    where :func:`has_index`), for :func:`max_pool2d_backward_index`.
    """
    y = _out(x, pool, strides, pads) if out is None else out
    if _non_overlapping(pool, strides, pads):
        n_blk, fb, toffs = _plan(x.shape, pool, x.dtype)
        want = index is not None
        idx = index if want else _no_index()
        _run(FORWARD, x, y, idx, want, y, y, pool, n_blk, fb, toffs)
    else:
        if index is not None:
            raise ValueError("index: only for non-overlapping windows without padding")
        _max_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], y)
    return y


def avg_pool2d_forward(
    x: np.ndarray, pool: Pair, strides: Pair, pads: Pads, out: np.ndarray | None = None
) -> np.ndarray:
    """``x (N,H,W,C)`` → ``(N,OH,OW,C)``: the mean of each window over its real (non-pad) pixels."""
    y = _out(x, pool, strides, pads) if out is None else out
    _avg_forward(x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], np.zeros(1, dtype=x.dtype), y)
    return y


# --------------------------------------------------------------------------- backward (simple)
@nb.njit(parallel=True, cache=True)
def _max_backward(dy, x, ph, pw, sh, sw, top, left, dx):
    """Each window's gradient goes to its FIRST maximum (row-major), as TensorFlow's CPU kernel."""
    n_img, h, w, n_ch = x.shape
    _, oh, ow, _ = dy.shape
    for n in nb.prange(n_img):  # one image per thread: overlapping windows accumulate safely
        for i in range(oh):
            for j in range(ow):
                for c in range(n_ch):
                    best = -np.inf
                    br = -1
                    bq = -1
                    for r in range(max(i * sh - top, 0), min(i * sh - top + ph, h)):
                        for q in range(max(j * sw - left, 0), min(j * sw - left + pw, w)):
                            val = x[n, r, q, c]
                            if br < 0 or val > best or (np.isnan(val) and not np.isnan(best)):
                                best = val
                                br = r
                                bq = q
                    if br >= 0:
                        dx[n, br, bq, c] += dy[n, i, j, c]


@nb.njit(parallel=True, cache=True)
def _avg_backward(dy, ph, pw, sh, sw, top, left, dx):
    n_img, h, w, n_ch = dx.shape
    _, oh, ow, _ = dy.shape
    for n in nb.prange(n_img):
        for i in range(oh):
            r0 = max(i * sh - top, 0)
            r1 = min(i * sh - top + ph, h)
            for j in range(ow):
                q0 = max(j * sw - left, 0)
                q1 = min(j * sw - left + pw, w)
                count = (r1 - r0) * (q1 - q0)
                if count <= 0:
                    continue
                for r in range(r0, r1):
                    for q in range(q0, q1):
                        for c in range(n_ch):
                            dx[n, r, q, c] += dy[n, i, j, c] / count


def max_pool2d_backward(
    dy: np.ndarray, x: np.ndarray, pool: Pair, strides: Pair, pads: Pads, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward`: ``dy (N,OH,OW,C)``, ``x (N,H,W,C)`` → ``dx (N,H,W,C)``
    (into ``out`` when given).

    Each window sends its gradient to ONE position, the first maximum in
    row-major order inside the window (TensorFlow's CPU behaviour on ties);
    overlapping windows (stride < pool) accumulate.
    """
    if _non_overlapping(pool, strides, pads):
        dx = _empty(x.shape, x.dtype) if out is None else out  # every element is written exactly once
        n_blk, fb, toffs = _plan(x.shape, pool, x.dtype)
        _run(BACKWARD, x, dy, _no_index(), False, dy, dx, pool, n_blk, fb, toffs)
        return dx
    dx = np.zeros(x.shape, dtype=x.dtype) if out is None else out
    if out is not None:
        dx.fill(0)
    _max_backward(dy, x, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], dx)
    return dx


def max_pool2d_backward_index(
    dy: np.ndarray, index: np.ndarray, x_shape: tuple[int, ...], pool: Pair, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of :func:`max_pool2d_forward` from the window positions it recorded in ``index``
    (non-overlapping windows, see :func:`has_index`): ``dy (N,OH,OW,C)``, ``index`` of ``dy``'s
    shape → ``dx`` of shape ``x_shape``, ``dy``'s dtype (into ``out`` when given). The same numbers
    as :func:`max_pool2d_backward` on the forward's ``x``."""
    dx = _empty(x_shape, dy.dtype) if out is None else out
    n_blk, fb, toffs = _plan(x_shape, pool, dy.dtype)
    _run(INDEX_BACKWARD, dx, dy, index, False, dy, dx, pool, n_blk, fb, toffs)
    return dx


def avg_pool2d_backward(
    dy: np.ndarray, x: np.ndarray, pool: Pair, strides: Pair, pads: Pads, out: np.ndarray | None = None
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d_forward`: each window's gradient divided by its count of real pixels."""
    dx = np.zeros(x.shape, dtype=x.dtype) if out is None else out
    if out is not None:
        dx.fill(0)
    _avg_backward(dy, pool[0], pool[1], strides[0], strides[1], pads[0], pads[2], dx)
    return dx
