"""A two-thread matrix product for the dense layers, built on the convolution's micro-kernel.

``C = op(A) @ op(B)`` for C-contiguous float32/float64 matrices, where ``op`` is
the identity or the transpose — the three products of a ``Dense`` layer:
``x @ W`` (forward), ``xᵀ @ dy`` (kernel gradient) and ``dy @ Wᵀ`` (input
gradient). Called by :mod:`convlab.ops.dense`.

Why not BLAS?
-------------
While training, BLAS runs on one thread (:func:`convlab.util.process.serial_blas`:
OpenBLAS's workers spin after each call and steal the cores the Numba kernels
need next). On one thread, OpenBLAS is near the core's peak; this kernel uses
both cores with Numba's threads, which sleep between parallel regions.

The blocking (Goto / BLIS)
--------------------------
- **Micro-kernel**: :func:`convlab.kernels.tile.tile_fma` / ``tile_fma_to``, a tile
  of ``JB`` rows × ``FB`` columns of ``C`` held in vector registers (6 × 16
  float32 on AVX2) while streaming over the reduction. ``A`` is read in place:
  row ``i``'s value for tap ``t`` is ``a[i·rs + t·cs]``, so ``Aᵀ`` is the same
  array with the strides swapped (the tap offsets ``t·cs`` are precomputed), and
  each tap broadcasts ``JB`` values of it.
- **B is packed**: per block of ``FB`` columns, one contiguous ``(kc, FB)`` slab
  (zero columns past ``N``), as :func:`convlab.kernels.conv._kernel_matrix`
  packs the convolution kernel: the micro-kernel then reads one sequential
  stream (16 KB for kc = 256 in float32) that stays in L1 while every row tile
  uses it. Packing also takes care of ``Bᵀ`` (read along its rows, written
  into slabs) and of the last, partial column block. The packing loops index
  with unsigned integers: Numba then drops its negative-index wrap-around,
  which made them 2–3× faster (0.67 → 0.25 ms for B = 5408 × 100, one thread).
- **The reduction is cut into chunks** of at most :data:`KC` taps, so a slab
  and a row tile of ``A`` fit in L1 together; partial sums then live in a
  scratch copy of the task's block of ``C`` (blocked ``[col block][row][FB]``,
  so that each tile is contiguous) and are copied out at the end. A single
  chunk writes straight into ``C`` (``tile_fma_to``), except the partial
  column block, which goes through a one-tile scratch. A partial block of at
  most ``FB/2`` columns (100 = 6 × 16 + 4) uses a tile half as wide, so it
  computes 8 columns instead of 16.
- **Rows are walked in blocks of** :data:`MC`, inside which every column block
  is done in turn: the block of ``A`` stays in L2 while the slabs rotate.
- **Two threads, equal work** (:func:`plan`): by column blocks when they split
  evenly (``dy @ Wᵀ``: 5408 columns = 338 blocks), else by the reduction when it
  is long and ``C`` small (``x @ W``: 128 rows × 7 column blocks cannot be
  halved, but 5408 taps can — each task then sums into its own copy of ``C``
  and the copies are added at the end, a 128 × 100 sum against 69 M
  multiply-adds), else by rows (``xᵀ @ dy``: 5408 rows). The work is cut into
  a few tasks per thread, and each thread takes the next one when it is done
  (an atomic counter, :func:`_take`): a thread slowed by another process on its
  core does fewer.

Numbers (2-core AVX2 EPYC, float32, shared with other jobs; ratios to
``np.matmul`` on one OpenBLAS thread, which runs these shapes at 60–90 GF/s;
the micro-kernel alone reaches ~100 GF/s per core from L1). Each thread's half
timed alone, interleaved with NumPy — the two-thread time on an otherwise idle
machine: ``x @ W`` (128×5408 · 5408×100) 0.49–0.62, ``xᵀ @ dy`` 0.50–0.61,
``dy @ Wᵀ`` 0.45–0.53, 128×3136 · 3136×128 0.55–0.57; one thread does the whole
product in 0.94–1.2× NumPy's time. While another process keeps one core busy,
the two threads get ~1.5 cores' worth and the kernel takes 1.0–1.3× NumPy's
time (still 0.1–0.4× that of two OpenBLAS threads, which spin). Float64
(8 × 6 tiles): 0.6–0.75.

Rounding and non-finite values: every output is a sum of the same products as
NumPy's, rounded once per fused multiply-add, in a different order (and with
the reduction split, as two partial sums): results agree with NumPy's to float
rounding, and NaN/±inf propagate as IEEE arithmetic says (a NaN or an
``inf + (−inf)`` anywhere in a sum gives NaN whatever the order; the zero
columns of the last slab meet ``A``'s infinities only in columns that are never
stored).
"""

from __future__ import annotations

import threading

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from convlab.kernels.tile import specialised, tile_fma, tile_fma_to, tile_for

__all__ = ["matmul", "plan", "n_threads", "KC", "MC", "SPLIT_K_MAX_MN"]

#: Longest reduction chunk: a (KC, FB) slab of B (16 KB in float32) and a row tile of A (6 KB) fit in L1.
KC = 256
#: Rows of A per block: a block (MC × kc) stays in L2 while every column block of the task uses it.
MC = 128
#: Largest C (elements) whose partial products the threads may each keep (then added) to split the reduction.
SPLIT_K_MAX_MN = 65536
#: Tasks per thread (see :func:`plan`).
TASKS_PER_THREAD = 4


@intrinsic
def _take(typingctx, counter):
    """``counter[0] += 1`` atomically; returns the value before (the next task to do)."""
    sig = types.int64(counter)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.atomic_rmw("add", data, ir.Constant(ir.IntType(64), 1), "monotonic")

    return sig, codegen


def _make_gemm(FB, JB, parallel):
    """Build the blocked product for a ``JB × FB`` register tile (compile-time constants)."""

    PARALLEL = parallel
    U = np.uint64
    FBH = FB // 2

    @nb.njit(parallel=parallel, cache=True)
    def gemm(a, a_rs, a_cs, b, b_rs, b_cs, m, n, k, c, tasks, ksplit, kc_max, mc, tapoff, bpack, part, zb, counter):
        # The serial and the parallel builds must differ in their closed-over values,
        # or Numba's on-disk cache would give both the same entry (README item 7).
        if not PARALLEL and m == 0:
            return
        n_tasks = tasks.shape[0]
        n_workers = bpack.shape[0]
        counter[0] = 0
        # Each worker takes the next task until none is left (an atomic counter):
        # prange alone would hand out the tasks in fixed shares.
        for w in nb.prange(n_workers):
            bp = bpack[w]
            acc = np.empty(JB * FB, dtype=c.dtype)
            while True:
                p = _take(counter)
                if p >= n_tasks:
                    break
                r0 = tasks[p, 0]
                r1 = tasks[p, 1]
                cb0 = tasks[p, 2]
                cb1 = tasks[p, 3]
                k0 = tasks[p, 4]
                k1 = tasks[p, 5]
                ncb = cb1 - cb0
                rows = r1 - r0
                nchunks = (k1 - k0 + kc_max - 1) // kc_max
                kc = (k1 - k0 + nchunks - 1) // nchunks
                direct = nchunks == 1 and not ksplit
                sc = part[p]
                if not direct:
                    for q in range(rows * ncb * FB):
                        sc[q] = 0.0
                for ci in range(nchunks):
                    kk = k0 + ci * kc
                    kn = min(kc, k1 - kk)
                    # Pack B[kk:kk+kn, the task's columns] as one (kn, FB) slab per column block
                    # (unsigned indices: Numba then skips its negative-index wrap-around, which
                    # makes these loops several times faster).
                    for cbl in range(ncb):
                        n0 = (cb0 + cbl) * FB
                        nf = min(FB, n - n0)
                        base = cbl * kn * FB
                        if b_cs == 1:
                            for t in range(kn):
                                src = U((kk + t) * b_rs + n0)
                                dst = U(base + t * FB)
                                if nf == FB:
                                    for f in range(FB):
                                        bp[dst + U(f)] = b[src + U(f)]
                                else:
                                    for f in range(nf):
                                        bp[dst + U(f)] = b[src + U(f)]
                                    for f in range(nf, FB):
                                        bp[dst + U(f)] = 0.0
                        else:
                            # Bᵀ: a column of the slab is a contiguous run of b.
                            for f in range(nf):
                                src = U(kk * b_rs + (n0 + f) * b_cs)
                                dst = U(base + f)
                                for t in range(kn):
                                    bp[dst + U(t * FB)] = b[src + U(t * b_rs)]
                            for f in range(nf, FB):
                                for t in range(kn):
                                    bp[U(base + t * FB + f)] = 0.0
                    for rb0 in range(r0, r1, mc):
                        rb1 = min(r1, rb0 + mc)
                        for cbl in range(ncb):
                            n0 = (cb0 + cbl) * FB
                            nf = min(FB, n - n0)
                            kbase = cbl * kn * FB
                            i = rb0
                            while i < rb1:
                                rem = rb1 - i
                                # Tiles of JB rows; the leftover in tiles of 3, 2 and 1.
                                width = JB if rem >= JB else (3 if rem >= 3 else (2 if rem == 2 else 1))
                                xb = i * a_rs + kk * a_cs
                                if direct and nf == FB:
                                    yb = i * n + n0
                                    if width == JB:
                                        tile_fma_to(c, yb, n, zb, 0, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, JB)
                                    elif width == 3:
                                        tile_fma_to(c, yb, n, zb, 0, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, 3)
                                    elif width == 2:
                                        tile_fma_to(c, yb, n, zb, 0, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, 2)
                                    else:
                                        tile_fma_to(c, yb, n, zb, 0, a, xb, 0, bp, kbase, FB, tapoff, kn, FB, 1)
                                elif direct:
                                    # The last, partial column block: a scratch tile, nf columns copied out;
                                    # half as wide when that covers them (n = 100: 4 columns, not 16).
                                    ld = FBH if nf <= FBH else FB
                                    for q in range(width * ld):
                                        acc[q] = 0.0
                                    if ld == FBH:
                                        if width == JB:
                                            tile_fma(acc, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FBH, JB)
                                        elif width == 3:
                                            tile_fma(acc, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FBH, 3)
                                        elif width == 2:
                                            tile_fma(acc, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FBH, 2)
                                        else:
                                            tile_fma(acc, a, xb, 0, bp, kbase, FB, tapoff, kn, FBH, 1)
                                    elif width == JB:
                                        tile_fma(acc, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, JB)
                                    elif width == 3:
                                        tile_fma(acc, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, 3)
                                    elif width == 2:
                                        tile_fma(acc, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, 2)
                                    else:
                                        tile_fma(acc, a, xb, 0, bp, kbase, FB, tapoff, kn, FB, 1)
                                    for jj in range(width):
                                        yb = (i + jj) * n + n0
                                        for f in range(nf):
                                            c[yb + f] = acc[jj * ld + f]
                                else:
                                    # Scratch rows are ld wide: FB, or FBH in a partial block that fits it.
                                    ld = FBH if nf <= FBH else FB
                                    tile = sc[cbl * rows * FB + (i - r0) * ld :]
                                    if ld == FBH:
                                        if width == JB:
                                            tile_fma(tile, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FBH, JB)
                                        elif width == 3:
                                            tile_fma(tile, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FBH, 3)
                                        elif width == 2:
                                            tile_fma(tile, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FBH, 2)
                                        else:
                                            tile_fma(tile, a, xb, 0, bp, kbase, FB, tapoff, kn, FBH, 1)
                                    elif width == JB:
                                        tile_fma(tile, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, JB)
                                    elif width == 3:
                                        tile_fma(tile, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, 3)
                                    elif width == 2:
                                        tile_fma(tile, a, xb, a_rs, bp, kbase, FB, tapoff, kn, FB, 2)
                                    else:
                                        tile_fma(tile, a, xb, 0, bp, kbase, FB, tapoff, kn, FB, 1)
                                i += width
                if not direct and not ksplit:
                    for cbl in range(ncb):
                        n0 = (cb0 + cbl) * FB
                        nf = min(FB, n - n0)
                        ld = FBH if nf <= FBH else FB
                        for i in range(r0, r1):
                            s = cbl * rows * FB + (i - r0) * ld
                            yb = i * n + n0
                            for f in range(nf):
                                c[yb + f] = sc[s + f]
        if ksplit:
            # Every task covered all of C for its share of the reduction: add the shares.
            ncb = (n + FB - 1) // FB
            for i in range(m):
                for cb in range(ncb):
                    n0 = cb * FB
                    nf = min(FB, n - n0)
                    s = cb * m * FB + i * (FBH if nf <= FBH else FB)
                    yb = i * n + n0
                    for f in range(nf):
                        v = part[0, s + f]
                        for q in range(1, n_tasks):
                            v += part[q, s + f]
                        c[yb + f] = v

    return gemm


def plan(m: int, n: int, k: int, fb: int, jb: int, n_threads: int) -> tuple[np.ndarray, bool]:
    """Split ``C (m, n) = A (m, k) @ B (k, n)`` into tasks of equal work for ``n_threads`` threads.

    ``TASKS_PER_THREAD`` tasks per thread (fewer where the dimension split is too
    short), which the threads take in turn as they finish: a thread slowed by
    another process on its core does fewer.

    Returns ``(tasks, ksplit)``: ``tasks`` is ``(n_tasks, 6)`` int64 rows
    ``(r0, r1, cb0, cb1, k0, k1)`` — rows, column blocks of ``fb`` and reduction
    range; ``ksplit`` says the tasks share all of ``C`` and split the reduction.
    """
    ncb = -(-n // fb)
    row_tiles = -(-m // jb)
    t = n_threads
    if t <= 1:
        return np.array([[0, m, 0, ncb, 0, k]], dtype=np.int64), False
    want = t * TASKS_PER_THREAD
    if ncb % t == 0 or ncb >= 4 * t:
        # Column blocks: each task packs only its own share of B.
        q = min(want, ncb)
        edges = [ncb * i // q for i in range(q + 1)]
        return np.array([[0, m, edges[i], edges[i + 1], 0, k] for i in range(q)], dtype=np.int64), False
    if (k >= 4 * KC * t and m * n <= SPLIT_K_MAX_MN) or not (row_tiles >= 8 * t or k < 2 * KC):
        # A long reduction and a small C (x @ W: 128 × 100 from 5408 taps): each task takes
        # part of the reduction for all of C, so A and B are read once; the partial products are added.
        q = t * max(1, min(2, k // (KC * t)))  # each task adds one more copy of C to the final sum: fewer
        edges = [k * i // q for i in range(q + 1)]
        return np.array([[0, m, 0, ncb, edges[i], edges[i + 1]] for i in range(q)], dtype=np.int64), True
    # Rows, at tile boundaries: B (few columns) is packed by each task, A is read once; at least
    # 16 row tiles per task, or packing B again would cost more than the better balance saves.
    q = min(want, max(t, t * (row_tiles // (16 * t))))
    edges = [min(m, jb * (row_tiles * i // q)) for i in range(q + 1)]
    edges[-1] = m
    return np.array([[edges[i], edges[i + 1], 0, ncb, 0, k] for i in range(q)], dtype=np.int64), False


def n_threads() -> int:
    """How many threads :func:`matmul` splits its work between (Numba's current setting)."""
    return nb.get_num_threads()


_WORK = threading.local()


def _buffers(dtype, n_workers, n_tasks, pack_len, part_len):
    """Workspaces, kept between calls (one set per calling thread): no page faults in a training loop.

    ``(bpack (n_workers, ≥ pack_len), part (n_tasks, ≥ part_len), counter (1,) int64)``.
    """
    key = (np.dtype(dtype).str, n_workers, n_tasks)
    bufs = getattr(_WORK, "bufs", None)
    if bufs is None:
        bufs = _WORK.bufs = {}
    have = bufs.get(key)
    if have is None or have[0].shape[1] < pack_len or have[1].shape[1] < part_len:
        old_p = 0 if have is None else have[0].shape[1]
        old_s = 0 if have is None else have[1].shape[1]
        have = (
            np.empty((n_workers, max(pack_len, old_p)), dtype=dtype),
            np.empty((n_tasks, max(part_len, old_s, 1)), dtype=dtype),
            np.zeros(1, dtype=np.int64),
        )
        bufs[key] = have
    return have


_SETUPS: dict = {}


def _setup(dtype, m, n, k, lda, trans_a, trans_b, n_threads):
    """What :func:`matmul` derives from the shapes alone (kept per shape: a training loop repeats them)."""
    fb, jb = tile_for(dtype)
    a_rs, a_cs = (1, lda) if trans_a else (lda, 1)
    b_rs, b_cs = (1, k) if trans_b else (n, 1)
    tasks, ksplit = plan(m, n, k, fb, jb, n_threads)
    kmax = int((tasks[:, 5] - tasks[:, 4]).max())
    nchunks = -(-kmax // KC)
    kc_max = -(-kmax // nchunks)
    ncb_max = int((tasks[:, 3] - tasks[:, 2]).max())
    rows_max = int((tasks[:, 1] - tasks[:, 0]).max())
    direct = nchunks == 1 and not ksplit
    pack_len = ncb_max * kc_max * fb
    part_len = 0 if direct else rows_max * ncb_max * fb
    tapoff = np.arange(kc_max, dtype=np.int64) * a_cs
    if len(_SETUPS) > 64:
        _SETUPS.clear()
    return fb, jb, a_rs, a_cs, b_rs, b_cs, tasks, ksplit, tapoff, np.zeros(fb, dtype), pack_len, part_len


def matmul(
    a: np.ndarray,
    b: np.ndarray,
    out: np.ndarray,
    *,
    trans_a: bool = False,
    trans_b: bool = False,
    parallel: bool = True,
) -> np.ndarray:
    """``out = op(a) @ op(b)``, ``op`` the transpose where ``trans_a`` / ``trans_b``.

    Args:
        a: C-contiguous 2-D float32/float64; ``(m, k)``, or ``(k, m)`` with ``trans_a``.
        b: C-contiguous 2-D, ``a``'s dtype; ``(k, n)``, or ``(n, k)`` with ``trans_b``.
        out: C-contiguous ``(m, n)`` of ``a``'s dtype, not overlapping ``a`` or ``b``; returned.
        parallel: split the work between Numba's threads (``False``: one thread, no
            parallel region to wake — for small products).

    No argument checking beyond asserts: :mod:`convlab.ops.dense` validates.
    """
    m, k = (a.shape[1], a.shape[0]) if trans_a else a.shape
    n = b.shape[0] if trans_b else b.shape[1]
    assert (b.shape[1] if trans_b else b.shape[0]) == k and out.shape == (m, n)
    assert a.flags.c_contiguous and b.flags.c_contiguous and out.flags.c_contiguous
    if m == 0 or n == 0:
        return out
    if k == 0:
        out[...] = 0
        return out
    lda = a.shape[1]
    n_threads = nb.get_num_threads() if parallel else 1
    key = (a.dtype.char, m, n, k, lda, trans_a, trans_b, n_threads)
    setup = _SETUPS.get(key)
    if setup is None:
        setup = _SETUPS[key] = _setup(a.dtype, m, n, k, lda, trans_a, trans_b, n_threads)
    fb, jb, a_rs, a_cs, b_rs, b_cs, tasks, ksplit, tapoff, zb, pack_len, part_len = setup
    bpack, part, counter = _buffers(a.dtype, min(n_threads, tasks.shape[0]), tasks.shape[0], pack_len, part_len)
    kern = specialised(_make_gemm, fb, jb, parallel)
    kern(
        a.reshape(-1),
        a_rs,
        a_cs,
        b.reshape(-1),
        b_rs,
        b_cs,
        m,
        n,
        k,
        out.reshape(-1),
        tasks,
        ksplit,
        KC,
        MC,
        tapoff,
        bpack,
        part,
        zb,
        counter,
    )
    return out
