"""Numba convolution kernels, forward and backward. Called by :mod:`convlab.ops.conv`.

Inputs arrive validated by :mod:`convlab.ops.conv`: C-contiguous arrays of one
float dtype (float32 or float64), ``strides = (sh, sw)``, resolved
``pads = (top, bottom, left, right)``; output size ``floor((H+P−K)/S)+1``.

The paths, and why each exists (numbers: ``benchmarks/README.md``)
------------------------------------------------------------------
1. **Tiny problems → one serial, direct loop** (:func:`_direct_forward`). A
   parallel region costs tens of microseconds to wake the threads; the
   slides' 5×5×3 example needs well under one. No padding copy either: the
   loop skips pad positions itself. Small problems (below ``SERIAL_MACS``)
   use the tiled kernel below compiled without ``parallel``.
2. **Everything else → the register-tiled kernel** (:func:`_make_forward`):
   the padded input is flattened, the kernel becomes a ``(KH·KW·C, F_pad)``
   matrix (``F_pad``: ``F`` rounded up to the tile width ``FB``) *packed* as one
   contiguous ``(KH·KW·C, FB)`` slab per filter block (:func:`_kernel_matrix`),
   and each task computes one output row for one filter block, in tiles of
   ``JB`` output columns × ``FB`` filters held in vector registers
   (:func:`convlab.kernels.tile.tile_fma`). The slab streams sequentially from
   L2 while the row's input windows stay in L1 (unpacked, every tap would touch
   a new cache line spread over the whole matrix).
   Pre-padding means the hot loop has no bounds checks; the tap offsets
   ``(u·Wp + v)·C + c`` are precomputed, so one loop walks all ``KH·KW·C``
   taps (C = 1 costs no inner-loop overhead). Columns that do not fill a tile
   (``OW mod JB``) use tiles of 3, 2 and 1 columns; filters beyond ``F`` are
   computed on zero weights and never stored.
   **3×3, stride 1, C ≥ 16 → Winograd** (:mod:`convlab.kernels.winograd`):
   F(4×4, 3×3), 36 multiplications per 4×4 outputs instead of 144, through the
   same micro-kernel; F(2×2, 3×3) (16 per 2×2) where the output is so small that
   4×4 tiles would waste more than they save, and past 128 input channels, where
   F(4×4)'s bigger transformed kernel no longer fits in cache and it measured no
   faster (:func:`winograd_tile`). The transforms cost a fixed amount per pixel,
   so Winograd pays only from :data:`WINOGRAD_MIN_C` input channels on.
3. **Input gradient** ``dx``: a *transposed convolution* of ``dy``, three ways:

   - stride 1: the forward tiled kernel (or Winograd, which reads the padding as
     zeros instead of copying ``dy`` into a padded array) applied to ``dy`` padded by
     ``K−1−pad``, with the kernel flipped and its channel axes swapped. Gathering
     instead of scattering reuses the fast forward kernel, and each ``dx``
     element is written by one task only.
   - stride ``S > 1``: spread out by the stride, ``dy`` would hold ``S − 1`` zeros
     between its values — ``S²`` times the multiply-adds. Instead, the *sub-pixel*
     decomposition (:func:`dx_subpixel`): output row ``r`` only meets the kernel
     rows ``u ≡ r + top (mod S)``, so each of the ``S_h·S_w`` output phases is a
     small stride-1 correlation of ``dy`` with its own sub-kernel ``k[ρ::S]``,
     written straight into its interleaved place (:func:`_make_phase_conv`, whose
     rows end in a 4-wide or a shifted full tile rather than narrow 3-, 2- and
     1-column ones).
   - few input channels (C < half a tile, e.g. MNIST's C = 1: the tile would be
     mostly padding) or a non-finite kernel: every window's gradient ``dy · kernelᵀ``
     (a tile of ``JB`` pixels × ``FB`` columns ``(u, v, c)``) is added into its
     pixels while still in cache — a matrix product fused with col2im
     (:func:`_make_dx_scatter`), which forms only the definition's products.
4. **Kernel gradient** ``dkernel``: for each kernel row ``u`` the reduction
   over all output pixels is a matrix product ``X_uᵀ · dy``; it is tiled with
   the same micro-kernel (tile rows = ``(v, c)`` pairs, which are contiguous in
   the input for a fixed pixel; taps = output pixels). Each thread streams its
   own chunk of output rows into a private copy of dkernel; the copies are added
   at the end. The bias gradient ``Σ dy`` is summed in the same pass.

Non-finite values
-----------------
NaN and ±inf follow IEEE arithmetic on the definition
``y = b + Σ x_pad · kernel``, as the reference backend computes it (and as
TensorFlow does, measured on 2.21): a pad is a zero that *is* multiplied
(``0·inf = NaN``), while a position no window covers contributes no product
at all. Three shortcuts above break that and are routed around, each at no
cost for finite data: the direct loops skip pad positions (given explicit
zeros when the kernel — forward — or ``dy`` — kernel gradient — is not
finite); the transposed convolution and the sub-pixel phases for ``dx``
multiply the kernel by zeros around ``dy`` that are no product of the
definition (a non-finite kernel takes the fused col2im path, which forms only
real products); Winograd subtracts
inputs before multiplying (``inf − inf``), so the rows of its output holding
a non-finite value — flagged by the Winograd kernel itself while they are in
cache — are recomputed by the tiled kernel (:func:`_redo_nonfinite_rows`). Where a finite result overflows only in some
summation orders, the backends may differ (so do any two BLAS libraries).

``parallel=True`` + ``prange`` over independent outputs only (no two threads
write the same element), ``cache=True`` everywhere so a second process loads
the compiled code from ``__pycache__`` instead of recompiling.
"""

from __future__ import annotations

import functools

import numba as nb
import numpy as np

from convlab.kernels import winograd
from convlab.kernels.tile import specialised, tile_fma, tile_fma_to, tile_for
from convlab.util.arrays import crop_nhwc

#: ``(rows, cols)`` and ``(top, bottom, left, right)``, already checked by :mod:`convlab.ops.conv`.
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]

#: Below this many multiply-adds: the direct serial loop (no padding copy, no tiling set-up).
DIRECT_MACS = 20_000
#: Below this many: the tiled kernel, but serial — waking the threads of a parallel
#: region costs tens of microseconds (much more on a busy machine), as much as the work.
SERIAL_MACS = 1_000_000
#: 3×3 stride-1 layers with at least this many input channels use Winograd
#: (:mod:`convlab.kernels.winograd`: F(4×4, 3×3), 4× fewer multiplications, or F(2×2, 3×3),
#: 2.25× fewer; :func:`winograd_tile` picks). The input and output transforms cost the same
#: per pixel whatever C is, while the saving grows with C: below ~16 channels the transforms
#: cost more than they save (the measured crossover is in ``benchmarks/README.md``, "How the
#: Numba kernels got fast", item 14).
WINOGRAD_MIN_C = 16
#: The Winograd output tile: ``None`` lets :func:`winograd_tile` choose from the output size;
#: 2 or 4 forces F(2×2, 3×3) or F(4×4, 3×3) (tests).
WINOGRAD_TILE = None
#: F(4×4, 3×3) only up to this many input channels. Past them it measured no faster than F(2×2, 3×3)
#: (N = 8: 28×28×256 → 256 0.93–1.1×, 14×14×512 → 512 1.08–1.4× its time): its transformed kernel,
#: 36·C·F values (38 MB at C = F = 512), streams from L3 or memory once per row of tiles, and a row
#: holds few tiles on such layers. (Rounding is not the limit: with the channel sums in chunks,
#: :data:`convlab.kernels.winograd.SUM_CHUNK`, its float32 error stays below 5.5e-6 of max|y| up to
#: C = 1024 on the data measured.)
WINOGRAD4_MAX_C = 128


# --------------------------------------------------------------------------- helpers
@nb.njit(parallel=True, cache=True)
def _pad_into(x, t, l, xp):
    """Copy ``x (N,H,W,C)`` into the zero-initialised ``xp`` at offset ``(t, l)``."""
    n_img, h, w, c = x.shape
    for p in nb.prange(n_img * h):
        n = p // h
        r = p - n * h
        for q in range(w):
            for k in range(c):
                xp[n, r + t, q + l, k] = x[n, r, q, k]


def _padded(x, pads):
    t, b, l, r = pads
    if not (t or b or l or r):
        return x
    n_img, h, w, c = x.shape
    xp = np.zeros((n_img, h + t + b, w + l + r, c), dtype=x.dtype)
    _pad_into(x, t, l, xp)
    return xp


@nb.njit(cache=True)
def _tap_offsets(kh, kw, c_in, wp):
    """Flat offset of tap ``(u, v, c)`` from a window's top-left corner in a padded NHWC image.

    ``(u·Wp + v)·C + c``, in the kernel's ``(u, v, c)`` order: the order of the
    rows of the kernel matrix, so tap ``t`` pairs ``x[corner + off[t]]`` with ``km[t]``.
    """
    off = np.empty(kh * kw * c_in, dtype=np.int64)
    t = 0
    for u in range(kh):
        for v in range(kw):
            for c in range(c_in):
                off[t] = (u * wp + v) * c_in + c
                t += 1
    return off


def _kernel_matrix(kernel, fb):
    """``(KH,KW,C,F)`` → packed ``(F_pad/fb, KH·KW·C, fb)``: one contiguous slab per block of ``fb`` filters.

    ``F_pad`` is ``F`` rounded up to a multiple of ``fb`` (zero filters after ``F``).
    Packing matters: in the plain ``(KH·KW·C, F)`` matrix a block of ``fb``
    filters is ``fb`` numbers out of every row, so the micro-kernel would touch
    a new cache line per tap spread over the whole matrix (590 KB on VGG's
    block 3, more than a 512 KB L2 per core); packed, a block is one
    sequential stream the prefetcher keeps ahead of.
    """
    kh, kw, c_in, n_f = kernel.shape
    fp = -(-n_f // fb) * fb
    km = kernel.reshape(kh * kw * c_in, n_f)
    if fp != n_f:
        km = np.concatenate([km, np.zeros((km.shape[0], fp - n_f), dtype=kernel.dtype)], axis=1)
    return np.ascontiguousarray(km.reshape(km.shape[0], fp // fb, fb).transpose(1, 0, 2)), fp


# --------------------------------------------------------------------------- 1. tiny: serial direct loop
@nb.njit(cache=True)
def all_finite(a):
    """Whether every value of ``a`` (C-contiguous) is finite: for the tiny direct paths, where
    ``np.isfinite(a).all()`` (two ufunc calls, ~3.7 µs) cost a sixth of the slides' whole 5×5×3 layer."""
    for v in a.reshape(-1):
        if not np.isfinite(v):
            return False
    return True


@nb.njit(cache=True)
def _direct_forward(x, kernel, bias, sh, sw, top, left, y):
    """The definition, looped directly: skips pad positions instead of copying a padded input."""
    n_img, h, w, c_in = x.shape
    _, oh, ow, n_f = y.shape
    kh, kw, _, _ = kernel.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for f in range(n_f):
                    y[n, i, j, f] = bias[f]
                for u in range(kh):
                    r = i * sh + u - top
                    if r < 0 or r >= h:
                        continue
                    for v in range(kw):
                        q = j * sw + v - left
                        if q < 0 or q >= w:
                            continue
                        for c in range(c_in):
                            xv = x[n, r, q, c]
                            for f in range(n_f):
                                y[n, i, j, f] += xv * kernel[u, v, c, f]


# --------------------------------------------------------------------------- 2. the tiled kernel
def _make_forward(FB, JB, parallel):
    """Build the tiled forward kernel for a tile of ``JB`` columns × ``FB`` filters.

    ``FB``/``JB`` are closure constants, so Numba compiles them in as literals
    (the micro-kernel's vector width and unroll factor must be known at compile
    time); ``cache=True`` keys the on-disk cache by them too.
    """

    PARALLEL = parallel

    @nb.njit(parallel=parallel, cache=True)
    def forward_tiled(xf, hp, wp, c_in, km, bias, sh, sw, tapoff, y):
        # Note: Numba's on-disk cache keys a closure by its code and the values of
        # the variables it closes over — not by the decorator's options. Without
        # this reference, the serial and the parallel builds would share one cache
        # entry, and a process could load the parallel code for the serial path.
        if not PARALLEL and y.size == 0:
            return
        n_img, oh, ow, n_f = y.shape
        n_fb, n_taps, _ = km.shape
        kf = km.reshape(-1)
        yf = y.reshape(-1)
        xstep = sw * c_in  # flat distance between the windows of neighbouring output columns
        # One task = one output row × one block of FB filters. The block's slab of
        # the packed kernel (n_taps·FB values) streams from L2 while the row's
        # input windows stay in L1, reused by every tile of the row.
        for p in nb.prange(n_img * oh * n_fb):
            fbi = p % n_fb
            q = p // n_fb
            n = q // oh
            i = q - n * oh
            fb = fbi * FB
            nf = min(FB, n_f - fb)  # filters beyond F (zero padding) are computed, never stored
            kbase = fbi * n_taps * FB
            acc = np.empty(JB * FB, dtype=y.dtype)
            row = (n * hp + i * sh) * wp * c_in  # flat index of the row's first window corner
            yrow = (n * oh + i) * ow * n_f
            j = 0
            while j < ow:
                # Tiles of JB output columns; the OW mod JB leftover in narrower
                # tiles of 3, 2 and 1 (a 1-column tile has too few independent FMA
                # chains to be fast, so it is the last resort).
                rem = ow - j
                width = JB if rem >= JB else (3 if rem >= 3 else (2 if rem == 2 else 1))
                xb = row + j * xstep
                yb0 = yrow + j * n_f + fb
                if nf == FB:
                    # A full block of filters: accumulate in registers, add the bias and
                    # store straight into y (same bits as the scratch-tile path below).
                    if width == JB:
                        tile_fma_to(yf, yb0, n_f, bias, fb, xf, xb, xstep, kf, kbase, FB, tapoff, n_taps, FB, JB)
                    elif width == 3:
                        tile_fma_to(yf, yb0, n_f, bias, fb, xf, xb, xstep, kf, kbase, FB, tapoff, n_taps, FB, 3)
                    elif width == 2:
                        tile_fma_to(yf, yb0, n_f, bias, fb, xf, xb, xstep, kf, kbase, FB, tapoff, n_taps, FB, 2)
                    else:
                        tile_fma_to(yf, yb0, n_f, bias, fb, xf, xb, 0, kf, kbase, FB, tapoff, n_taps, FB, 1)
                    j += width
                    continue
                # The last, partial block (F not a multiple of FB): a scratch tile, of
                # which only the nf real filters are copied out.
                for a in range(width * FB):
                    acc[a] = 0.0
                if width == JB:
                    tile_fma(acc, xf, xb, xstep, kf, kbase, FB, tapoff, n_taps, FB, JB)
                elif width == 3:
                    tile_fma(acc, xf, xb, xstep, kf, kbase, FB, tapoff, n_taps, FB, 3)
                elif width == 2:
                    tile_fma(acc, xf, xb, xstep, kf, kbase, FB, tapoff, n_taps, FB, 2)
                else:
                    tile_fma(acc, xf, xb, 0, kf, kbase, FB, tapoff, n_taps, FB, 1)
                for jj in range(width):
                    yb = yb0 + jj * n_f
                    for f in range(nf):
                        yf[yb + f] = acc[jj * FB + f] + bias[fb + f]
                j += width

    return forward_tiled


def _forward_kernel(dtype, parallel):
    fb, jb = tile_for(dtype)
    return specialised(_make_forward, fb, jb, parallel), fb


def _forward_tiled(xp, kernel, bias, strides, parallel=True, out=None):
    """Valid (already padded) convolution of ``xp`` with the tiled kernel (serial or parallel), into ``out``
    (C-contiguous, the output's shape and dtype) when given."""
    n_img, hp, wp, c_in = xp.shape
    kh, kw, _, n_f = kernel.shape
    sh, sw = strides
    oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    kern, fb = _forward_kernel(xp.dtype, parallel)
    km, fp = _kernel_matrix(kernel, fb)
    b = np.zeros(fp, dtype=xp.dtype)
    if bias is not None:
        b[:n_f] = bias
    y = np.empty((n_img, oh, ow, n_f), dtype=xp.dtype) if out is None else out
    kern(xp.reshape(-1), hp, wp, c_in, km, b, sh, sw, _tap_offsets(kh, kw, c_in, wp), y)
    return y


def _redo_nonfinite_rows(y, xp, kernel, bias, bad):
    """Recompute, with the tiled kernel, the rows of a Winograd result ``y`` flagged in ``bad (N, OH)``.

    Why: Winograd's transforms add and subtract inputs *before* the products
    (``d0 − d2``, ``g0 + g1 + g2``…). With an infinite input that gives ``inf − inf =
    NaN`` where the definition gives ±inf, and finite values near the dtype's
    largest can overflow in a transform while the direct sum stays finite. Neither
    can turn a non-finite value finite (the transforms only add, subtract and
    halve, and Winograd's outputs depend on exactly the inputs of their windows),
    so every output Winograd gets wrong this way is non-finite: the kernel flags
    the rows holding one (``bad``, see :func:`.winograd.winograd_forward`) and
    recomputing them restores IEEE arithmetic on the definition. ``y`` is
    corrected in place; finite data pays only ``bad.any()``.
    """
    if not bad.any():
        return
    halo = kernel.shape[0] - 1  # input rows below an output row's first one
    spans = []  # per image: from its first flagged row to its last
    for n in np.flatnonzero(bad.any(axis=1)):
        rows = np.flatnonzero(bad[n])
        spans.append((int(n), int(rows[0]), int(rows[-1]) + 1))
    if 2 * sum(i1 - i0 for _, i0, i1 in spans) > bad.size:  # most of y (e.g. a NaN kernel): one call
        y[...] = _forward_tiled(xp, kernel, bias, (1, 1))
        return
    for n, i0, i1 in spans:
        y[n, i0:i1] = _forward_tiled(xp[n : n + 1, i0 : i1 + halo], kernel, bias, (1, 1))[0]


def winograd_tile(oh: int, ow: int, c_in: int) -> int:
    """The Winograd output tile m (2 or 4) for an ``oh × ow`` output of a layer with ``c_in`` input
    channels: :data:`WINOGRAD_TILE` if set; else 2 past :data:`WINOGRAD4_MAX_C` channels
    or where F(4×4, 3×3)'s tiles, rounded up to the output's edges, would need at least as many
    multiplications as F(2×2, 3×3)'s (36 per 4×4 tile against 16 per 2×2 tile: outputs up to 2
    wide or high, or about 5–6 wide and high); else 4."""
    if WINOGRAD_TILE is not None:
        return int(WINOGRAD_TILE)
    if c_in > WINOGRAD4_MAX_C:
        return 2
    return 4 if 36 * (-(-oh // 4)) * (-(-ow // 4)) < 16 * (-(-oh // 2)) * (-(-ow // 2)) else 2


def _valid_conv(x, kernel, bias, strides, parallel=True, out=None, pads=(0, 0, 0, 0)):
    """Valid convolution of ``x`` padded by ``pads``: Winograd where it pays (see
    :data:`WINOGRAD_MIN_C`, :func:`winograd_tile`; it reads the padding as zeros without copying),
    with its non-finite rows redone by the tiled kernel (:func:`_redo_nonfinite_rows`), else the
    tiled kernel on a padded copy. Other arguments as :func:`_forward_tiled`."""
    kh, kw, c_in, _ = kernel.shape
    if parallel and kh == 3 and kw == 3 and tuple(strides) == (1, 1) and c_in >= WINOGRAD_MIN_C:
        t, b, l, r = pads
        oh, ow = x.shape[1] + t + b - 2, x.shape[2] + l + r - 2
        bad = np.zeros((x.shape[0], oh), dtype=np.bool_)
        y = winograd.winograd_forward(x, kernel, bias, nonfinite=bad, m=winograd_tile(oh, ow, c_in), out=out, pads=pads)
        if bad.any():
            _redo_nonfinite_rows(y, _padded(x, pads), kernel, bias, bad)
        return y
    return _forward_tiled(_padded(x, pads), kernel, bias, strides, parallel, out)


def _macs(n_img, oh, ow, kernel):
    kh, kw, c_in, n_f = kernel.shape
    return n_img * oh * ow * kh * kw * c_in * n_f


def conv2d_forward(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None,
    strides: Pair,
    pads: Pads,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """``y = conv2d(x, kernel) + bias`` (cross-correlation, as Keras).

    Args:
        x: ``(N, H, W, C)`` float32/float64, C-contiguous.
        kernel: ``(KH, KW, C, F)``, same dtype.
        bias: ``(F,)`` or ``None``.
        strides: ``(sh, sw)``; pads: ``(top, bottom, left, right)``.
        out: ``None``, or a C-contiguous ``(N, OH, OW, F)`` array of ``x``'s dtype to write ``y``
            into (a training loop's reused buffer; the caller checks it, this does not).

    Returns:
        ``y (N, OH, OW, F)``, ``OH = (H + top + bottom − KH)//sh + 1`` — ``out`` itself when given.
    """
    kh, kw, _, n_f = kernel.shape
    sh, sw = strides
    t, b, l, r = pads
    oh = (x.shape[1] + t + b - kh) // sh + 1
    ow = (x.shape[2] + l + r - kw) // sw + 1
    macs = _macs(x.shape[0], oh, ow, kernel)
    if macs < DIRECT_MACS:
        y = np.empty((x.shape[0], oh, ow, n_f), dtype=x.dtype) if out is None else out
        bb = np.zeros(n_f, dtype=x.dtype) if bias is None else bias
        if any(pads) and not all_finite(kernel):
            # The direct loop skips pad positions; a pad is a zero of x_pad, and 0·inf = NaN
            # must reach the output as in the definition: give it the zeros explicitly.
            x, t, l = _padded(x, pads), 0, 0
        _direct_forward(x, kernel, bb, sh, sw, t, l, y)
        return y
    return _valid_conv(x, kernel, bias, strides, parallel=macs >= SERIAL_MACS, out=out, pads=pads)


# --------------------------------------------------------------------------- 3. dx
@nb.njit(parallel=True, cache=True)
def _spread_dy(dy, sh, sw, r0, c0, b):
    """``b[n, r0 + i·sh, c0 + j·sw, :] = dy[n, i, j, :]`` (``b`` zeroed; rows/cols outside ``b`` dropped)."""
    n_img, oh, ow, n_f = dy.shape
    _, bh, bw, _ = b.shape
    for p in nb.prange(n_img * oh):
        n = p // oh
        i = p - n * oh
        r = r0 + i * sh
        if r < 0 or r >= bh:
            continue
        for j in range(ow):
            q = c0 + j * sw
            if q < 0 or q >= bw:
                continue
            for f in range(n_f):
                b[n, r, q, f] = dy[n, i, j, f]


def _make_phase_conv(FB, JB, parallel):
    """Tiled correlation whose output rows and columns are each listed (a strided sub-grid of ``y``).

    Row ``g`` of ``rows`` is ``(phase_h, input corner row, output row)``; ``cols[pw]`` is
    ``(input corner column, output column, count)`` of the outputs of column phase ``pw``; the
    next output of a row is ``ys`` further in ``y`` and reads windows ``xs`` further in ``x``
    (flat). Phase ``(ph, pw)`` has its own taps ``tapoff[tofs[φ]:][:ntaps[φ]]`` and packed kernel
    ``km[kofs[φ]:]`` (``(n_cb, taps, FB)``), ``φ = ph·n_pw + pw``; ``y``'s channels are a multiple
    of ``FB`` (callers pad and crop). Every listed output is stored whole, plus ``bias``, with no
    read of ``y``: a row's leftover past its full tiles is a 4-wide tile, or its last full tile
    moved back to end at the row's end (recomputing a few columns to the same bits) — narrow
    3-, 2-, 1-column tiles, which have too few independent multiply-add chains, only for rows
    narrower than a tile.
    """

    PARALLEL = parallel

    @nb.njit(parallel=parallel, cache=True)
    def phase_conv(xf, hp, wp, c_x, km, kofs, tapoff, tofs, ntaps, rows, cols, xs, ys, bias, y):
        if not PARALLEL and y.size == 0:
            return
        n_img, h, w, c_y = y.shape
        n_rows = rows.shape[0]
        n_pw = cols.shape[0]
        n_cb = c_y // FB
        yf = y.reshape(-1)
        for task in nb.prange(n_img * n_rows):
            n = task // n_rows
            g = task - n * n_rows
            ph = rows[g, 0]
            for pw in range(n_pw):
                phi = ph * n_pw + pw
                nbw = cols[pw, 2]
                nt = ntaps[phi]
                tap = tapoff[tofs[phi] :]
                xrow = ((n * hp + rows[g, 1]) * wp + cols[pw, 0]) * c_x
                yrow = ((n * h + rows[g, 2]) * w + cols[pw, 1]) * c_y
                for cb in range(n_cb):
                    kb = kofs[phi] + cb * nt * FB
                    c0 = cb * FB
                    b = 0
                    while b < nbw:
                        rem = nbw - b
                        if rem >= JB or rem == 4:
                            width, start = min(rem, JB), b
                        elif nbw >= JB:
                            width, start = JB, nbw - JB
                        else:
                            width, start = (3 if rem >= 3 else (2 if rem == 2 else 1)), b
                        xb = xrow + start * xs
                        yb = yrow + start * ys + c0
                        b = start + width
                        if width == JB:
                            tile_fma_to(yf, yb, ys, bias, c0, xf, xb, xs, km, kb, FB, tap, nt, FB, JB)
                        elif width == 4:
                            tile_fma_to(yf, yb, ys, bias, c0, xf, xb, xs, km, kb, FB, tap, nt, FB, 4)
                        elif width == 3:
                            tile_fma_to(yf, yb, ys, bias, c0, xf, xb, xs, km, kb, FB, tap, nt, FB, 3)
                        elif width == 2:
                            tile_fma_to(yf, yb, ys, bias, c0, xf, xb, xs, km, kb, FB, tap, nt, FB, 2)
                        else:
                            tile_fma_to(yf, yb, ys, bias, c0, xf, xb, 0, km, kb, FB, tap, nt, FB, 1)

    return phase_conv


def _phase_sizes(n, k, s, t):
    """Per phase ``ρ < s`` of one axis: ``(first output, its corner A, count, taps M)``.

    Output ``r`` (padded position ``R = r + t = s·A + ρ``) gets ``Σ_m dy[A − m]·k[ρ + s·m]``.
    """
    out = []
    for rho in range(s):
        r0 = (rho - t) % s
        out.append((r0, (r0 + t - rho) // s, max(0, -(-(n - r0) // s)), max(0, -(-(k - rho) // s))))
    return out


@functools.lru_cache(maxsize=64)
def _subpixel_plan(dy_hw, x_hw, kernel_hw, n_f, strides, top_left):
    """The geometry of :func:`dx_subpixel` (no data): padded ``dy`` size and offset, and the
    index arrays of :func:`_make_phase_conv` — the same for every call of a layer, so cached."""
    (oh, ow), (h, w), (kh, kw), (sh, sw) = dy_hw, x_hw, kernel_hw, strides
    ph_h, ph_w = _phase_sizes(h, kh, sh, top_left[0]), _phase_sizes(w, kw, sw, top_left[1])
    # dy is padded by M − 1 zeros in front (tap m reads dy[A − m]) and to the last corner behind.
    ph, pw = max(1, max(m for *_, m in ph_h)) - 1, max(1, max(m for *_, m in ph_w)) - 1
    hp = ph + max(oh, max(a + c for _, a, c, _ in ph_h))
    wp = pw + max(ow, max(b + c for _, b, c, _ in ph_w))
    taps, tofs, ntaps = [], [], []
    for rh in range(sh):
        for rw in range(sw):
            mh, mw = ph_h[rh][3], ph_w[rw][3]
            tofs.append(sum(ntaps))
            ntaps.append(mh * mw * n_f)
            m_h = np.arange(mh).reshape(-1, 1, 1)
            m_w = np.arange(mw).reshape(1, -1, 1)
            taps.append((((ph - m_h) * wp + (pw - m_w)) * n_f + np.arange(n_f)).reshape(-1))
    i64 = np.int64
    rows = [(rh, a0 + a, r0 + a * sh) for rh, (r0, a0, cnt, _) in enumerate(ph_h) for a in range(cnt)]
    return (
        (hp, wp, ph, pw),
        np.concatenate(taps + [np.zeros(1, i64)]).astype(i64),
        np.array(tofs, i64),
        np.array(ntaps, i64),
        np.array(rows, i64).reshape(-1, 3),
        np.array([(b0, q0, cnt) for q0, b0, cnt, _ in ph_w], i64),
    )


def dx_subpixel(dy, x_shape, kernel, strides, pads):
    """``dx`` of a strided convolution as ``S_h·S_w`` small convolutions, one per output phase
    (sub-pixel decomposition): output ``r ≡ ρ − top (mod S)`` only meets the taps ``u ≡ ρ (mod S)``,
    so each phase correlates ``dy`` (zero-padded) with its own sub-kernel ``k[ρ::S]`` flipped — the
    real products, plus products of the kernel with ``dy``'s padding (so a finite kernel only)."""
    n_img, oh, ow, n_f = dy.shape
    c_in = x_shape[3]
    kh, kw = kernel.shape[:2]
    sh, sw = strides
    fb, jb = tile_for(dy.dtype)
    (hp, wp, ph, pw), taps, tofs, ntaps, rows, cols = _subpixel_plan(
        (oh, ow), tuple(x_shape[1:3]), (kh, kw), n_f, (sh, sw), (pads[0], pads[2])
    )
    dyp = np.zeros((n_img, hp, wp, n_f), dtype=dy.dtype)
    _pad_into(dy, ph, pw, dyp)
    # Phase (ρh, ρw)'s kernel matrix: taps (m_h, m_w, f) × channels, packed in blocks of FB channels.
    kms = [
        _kernel_matrix(kernel[rh::sh, rw::sw].transpose(0, 1, 3, 2).reshape(1, 1, -1, c_in), fb)[0].reshape(-1)
        for rh in range(sh)
        for rw in range(sw)
    ]
    kofs = np.cumsum([0] + [k.size for k in kms[:-1]]).astype(np.int64)
    cp = -(-c_in // fb) * fb  # channels padded to whole tiles, cropped after
    dx = np.empty(tuple(x_shape[:3]) + (cp,), dtype=dy.dtype)
    kern = specialised(_make_phase_conv, fb, jb, True)
    zb = np.zeros(cp, dy.dtype)  # the bias: none
    kern(dyp.reshape(-1), hp, wp, n_f, np.concatenate(kms), kofs, taps, tofs, ntaps, rows, cols, n_f, sw * cp, zb, dx)
    return dx if cp == c_in else np.ascontiguousarray(dx[..., :c_in])


def _make_dx_scatter(FB, JB, parallel):
    """Fused "matrix product + col2im" input gradient: only the real multiply-adds, no ``g`` in memory.

    ``dxp[n, i·sh + u·dh, j·sw + v·dw, c] += g[n, i, j, (u, v, c)]`` into the padded gradient ``dxp``,
    large enough for every window (no bounds checks; the caller crops the pads off), where
    ``g[n, i, j, (u, v, c)] = Σ_f dy[n, i, j, f]·kernel[u, v, c, f]`` is computed a tile at a time:
    ``JB`` pixels of ``dy`` (consecutive in the flat pixel order, so rows need no leftover tiles) ×
    ``FB`` columns ``(u, v, c)`` of the packed ``(n_gb, F, FB)`` kernel matrix ``km`` (column
    ``col`` lands ``col_off[col]`` from the window's corner), then added into ``dxp`` while in
    cache. One task = one image × one block of ``FB`` channels (when ``C`` is a multiple of ``FB``,
    else all of them) × one band of ``band`` dy rows; the bands ``phase``, ``phase + step``, … run
    at once: with ``step = 2`` and bands at least as tall as a window's reach, no two tasks add
    into the same element.
    """

    PARALLEL = parallel

    @nb.njit(parallel=parallel, cache=True)
    def dx_scatter(dyf, oh, ow, n_f, km, tapoff, col_off, zb, n_cols, sh, sw, band, phase, step, dxp):
        if not PARALLEL and dxp.size == 0:
            return
        n_img, hp, wp, c_in = dxp.shape
        n_gb = km.shape[0]
        kf = km.reshape(-1)
        dxf = dxp.reshape(-1)
        aligned = c_in % FB == 0  # a block of FB columns is FB channels of one tap (u, v)
        n_cb = c_in // FB if aligned else 1
        n_my = n_gb // n_cb
        n_bands = (oh + band - 1) // band
        n_bb = (n_bands - phase + step - 1) // step
        for task in nb.prange(n_img * n_cb * n_bb):
            bi = task % n_bb
            rest = task // n_bb
            cb = rest % n_cb
            n = rest // n_cb
            b = phase + bi * step
            p_hi = min(oh, (b + 1) * band) * ow
            acc = np.empty(JB * FB, dtype=dxp.dtype)
            corner = np.empty(JB, dtype=np.int64)  # the tile's pixels: window corners in dxp
            p0 = b * band * ow
            i = p0 // ow
            j = p0 - i * ow
            while p0 < p_hi:
                rem = p_hi - p0
                width = JB if rem >= JB else 1  # a band's last few pixels one at a time
                for jj in range(width):
                    corner[jj] = ((n * hp + i * sh) * wp + j * sw) * c_in
                    j += 1
                    if j == ow:
                        i += 1
                        j = 0
                xb = (n * oh * ow + p0) * n_f
                for m in range(n_my):
                    gb = m * n_cb + cb
                    kb = gb * n_f * FB
                    # The tile's products, stored (not added) into the scratch acc: zb is zeros.
                    if width == JB:
                        tile_fma_to(acc, 0, FB, zb, 0, dyf, xb, n_f, kf, kb, FB, tapoff, n_f, FB, JB)
                    else:
                        tile_fma_to(acc, 0, FB, zb, 0, dyf, xb, 0, kf, kb, FB, tapoff, n_f, FB, 1)
                    c0 = gb * FB
                    if aligned:
                        off = col_off[c0]
                        for jj in range(width):
                            base = corner[jj] + off
                            for f in range(FB):
                                dxf[base + f] += acc[jj * FB + f]
                    else:
                        nc = min(FB, n_cols - c0)
                        for jj in range(width):
                            base = corner[jj]
                            for f in range(nc):
                                dxf[base + col_off[c0 + f]] += acc[jj * FB + f]
                p0 += width

    return dx_scatter


@functools.lru_cache(maxsize=64)
def _scatter_offsets(kh, kw, c_in, dh, dw, wp, n_f):
    """``(tapoff, col_off)`` of :func:`_make_dx_scatter`: tap ``f`` is ``dy``'s channel ``f``; column
    ``(u, v, c)`` of the kernel matrix lands ``(u·dh·Wp + v·dw)·C + c`` from a window's corner."""
    u, v, c = np.meshgrid(np.arange(kh), np.arange(kw), np.arange(c_in), indexing="ij")
    return np.arange(n_f, dtype=np.int64), ((u * dh * wp + v * dw) * c_in + c).reshape(-1).astype(np.int64)


def dx_scatter(dy, x_shape, kernel, strides, pads, dilation=(1, 1)):
    """``dx`` by :func:`_make_dx_scatter`: every product ``dy · kernel`` that the definition forms, and no other.

    Also for dilation (``dilation = (dh, dw)``: tap ``(u, v)`` lands ``u·dh, v·dw`` from the corner).
    """
    n_img, oh, ow, n_f = dy.shape
    _, h, w, c_in = x_shape
    kh, kw, _, _ = kernel.shape
    sh, sw = strides
    dh, dw = dilation
    top, left = pads[0], pads[2]
    fb, jb = tile_for(dy.dtype)
    kmat = kernel.reshape(kh * kw * c_in, n_f).T.reshape(1, 1, n_f, kh * kw * c_in)
    km, _ = _kernel_matrix(np.ascontiguousarray(kmat), fb)
    # Padded so that every window fits: the pads' sums are cropped off at the end.
    hp = max(top + h, (oh - 1) * sh + (kh - 1) * dh + 1)
    wp = max(left + w, (ow - 1) * sw + (kw - 1) * dw + 1)
    dxp = np.zeros((n_img, hp, wp, c_in), dtype=dy.dtype)
    n_cb = c_in // fb if c_in % fb == 0 else 1
    threads = nb.get_num_threads()
    # Bands of dy rows only when images × channel blocks do not keep every thread busy. Two bands
    # two apart never meet when a band is at least as tall as a window's reach in dy rows.
    reach = -(-((kh - 1) * dh + 1) // sh)
    band = oh
    if n_img * n_cb < 2 * threads and oh > 2 * reach:
        band = max(reach, -(-oh // (4 * threads)))
    kern = specialised(_make_dx_scatter, fb, jb, True)
    args = (*_scatter_offsets(kh, kw, c_in, dh, dw, wp, n_f), np.zeros(fb, dy.dtype), kh * kw * c_in, sh, sw, band)
    dyf = dy.reshape(-1)
    if band >= oh:
        kern(dyf, oh, ow, n_f, km, *args, 0, 1, dxp)
    else:
        kern(dyf, oh, ow, n_f, km, *args, 0, 2, dxp)
        kern(dyf, oh, ow, n_f, km, *args, 1, 2, dxp)
    if (hp, wp) == (h, w):
        return dxp
    return np.ascontiguousarray(dxp[:, top : top + h, left : left + w])


def conv2d_dx(
    dy: np.ndarray, x_shape: tuple[int, int, int, int], kernel: np.ndarray, strides: Pair, pads: Pads
) -> np.ndarray:
    """``dx (N, H, W, C)``: the input gradient of :func:`conv2d_forward` — a transposed convolution of ``dy``.

    Shared by :func:`conv2d_backward` and, through :func:`convlab.kernels.conv_general.conv2d_dx`,
    by ``conv2d_transpose`` (:mod:`convlab.ops.conv_transpose`), which *is* this operation with
    ``x`` in the role of ``dy`` (path 3 of the module docstring).
    ``dy (N, OH, OW, F)``, ``kernel (KH, KW, C, F)``, one float dtype, C-contiguous; pixels no
    window covers get 0.
    """
    n_img, h, w, c_in = x_shape
    kh, kw, _, n_f = kernel.shape
    sh, sw = strides
    t, _, l, _ = pads
    fb, _ = tile_for(dy.dtype)
    finite = np.isfinite(kernel).all()
    if 2 * c_in < fb or not finite:
        # Few input channels (MNIST: C = 1): a tile of FB output channels would hold only C
        # useful ones. A non-finite kernel: the paths below multiply it by zeros around (and,
        # spread, between) dy's values, which are no product of the definition (0·inf = NaN
        # where the reference adds nothing). The fused product + col2im forms only real products.
        return dx_scatter(dy, x_shape, kernel, strides, pads)
    if sh > 1 or sw > 1:
        # Spread out by the stride, dy would hold S − 1 zeros between its values (S² times
        # the multiply-adds): one small convolution per output phase instead.
        return dx_subpixel(dy, x_shape, kernel, strides, pads)
    # dy placed so that a *valid* correlation of b with the flipped kernel gives dx
    # directly: dx[r] = Σ_u b[r+u]·k[KH−1−u].
    top, left = kh - 1 - t, kw - 1 - l
    bottom, right = h + kh - 1 - dy.shape[1] - top, w + kw - 1 - dy.shape[2] - left
    if min(top, bottom, left, right) >= 0:
        # b is dy padded by these zeros: the kernels pad it themselves (Winograd without a copy).
        kt = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
        return _valid_conv(dy, kt, None, (1, 1), pads=(top, bottom, left, right))
    b = np.zeros((n_img, h + kh - 1, w + kw - 1, n_f), dtype=dy.dtype)
    _spread_dy(dy, sh, sw, top, left, b)
    return dx_of_placed(b, kernel)


def dx_of_placed(b: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``dx (N, H, W, C)`` from ``dy`` already placed in the zeros of ``b (N, H + KH − 1, W + KW − 1, F)``
    (at offset ``(KH − 1 − top, KW − 1 − left)``, stride 1): the valid correlation of ``b`` with the
    flipped kernel, channel axes swapped — tiled or Winograd. Only for a finite kernel (the zeros
    around ``dy`` are no product of the definition)."""
    kt = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))  # (KH, KW, F, C): flipped, F plays C_in
    return _valid_conv(b, kt, None, (1, 1))


# --------------------------------------------------------------------------- 4. dkernel
def _make_dkernel(FB, JB, parallel):
    """Tiled kernel gradient: ``dk[u, (v,c), f] = Σ_{n,i,j} x[n, i·sh+u, j·sw+v, c] · dy[n, i, j, f]``.

    Each thread takes a chunk of output rows ``(n, i)`` and accumulates into its
    own private copy of dkernel (``part[chunk]``, a few hundred KB at most, in
    L2), so the rows of ``x`` and ``dy`` it streams are read once, while hot.
    """

    PARALLEL = parallel

    @nb.njit(parallel=parallel, cache=True)
    def dkernel_tiled(xf, hp, wp, c_in, dyf, fp, oh, ow, sh, kh, n_img, pixoff, part, dbpart, one, zoff):
        if not PARALLEL and part.size == 0:
            return
        # part: (n_chunks, KH, n_rb, n_fb, JB, FB): tiles of JB (v, c)-rows × FB filters,
        # stored contiguously so tile_fma can accumulate straight into them.
        n_chunks, _, n_rb, n_fb, _, _ = part.shape
        rows_total = n_img * oh
        per_chunk = (rows_total + n_chunks - 1) // n_chunks
        for chunk in nb.prange(n_chunks):
            pc = part[chunk].reshape(-1)
            for p in range(chunk * per_chunk, min(rows_total, (chunk + 1) * per_chunk)):
                n = p // oh
                i = p - n * oh
                kbase0 = p * ow * fp  # flat index of dy[n, i, 0, 0]
                # dbias rides along: this row of dy is being read anyway, while a
                # separate NumPy sum would read all of dy again, on one core. It is a
                # 1-row tile whose "input" is always 1.0 (an FMA with 1.0 rounds as an
                # add, so the same bits as a sum) because a plain loop here compiles
                # to scalar code.
                for fbi in range(n_fb):
                    tile_fma(dbpart[chunk, fbi * FB :], one, 0, 0, dyf, kbase0 + fbi * FB, fp, zoff, ow, FB, 1)
                for u in range(kh):
                    xbase0 = ((n * hp + i * sh + u) * wp) * c_in  # x[n, i·sh+u, 0, 0]
                    for rb in range(n_rb):
                        for fbi in range(n_fb):
                            tile = pc[((u * n_rb + rb) * n_fb + fbi) * JB * FB :]
                            # taps = the OW output pixels of this row; rows = JB consecutive (v, c)
                            tile_fma(tile, xf, xbase0 + rb * JB, 1, dyf, kbase0 + fbi * FB, fp, pixoff, ow, FB, JB)

    return dkernel_tiled


def _conv2d_dkernel(dy, x, pads, kernel_shape, strides):
    """``(dkernel (KH,KW,C,F), dbias (F,))`` with the tiled kernel (see :func:`_make_dkernel`)."""
    kh, kw, c_in, n_f = kernel_shape
    t, b, l, r = pads
    n_img, h, w, _ = x.shape
    hp, wp = h + t + b, w + l + r
    _, oh, ow, _ = dy.shape
    sh, sw = strides
    fb, jb = tile_for(dy.dtype)
    if 2 * kw * c_in <= jb:
        # Few (v, c) rows (MNIST's first layer: KW·C = 3): a tile half as tall wastes
        # no multiply-adds on rows past KW·C.
        jb //= 2
    fp = -(-n_f // fb) * fb
    dyp = dy if fp == n_f else np.concatenate([dy, np.zeros(dy.shape[:3] + (fp - n_f,), dy.dtype)], axis=3)
    # The last tile of (v, c)-rows may run past KW·C: it then reads the next pixels'
    # values (results discarded). `jb` spare zeros at the end keep those reads in bounds.
    xflat = np.zeros(n_img * hp * wp * c_in + jb, dtype=x.dtype)
    _pad_into(x, t, l, xflat[: n_img * hp * wp * c_in].reshape(n_img, hp, wp, c_in))
    n_rb = -(-(kw * c_in) // jb)
    n_chunks = max(1, min(nb.get_num_threads(), n_img * oh))
    part = np.zeros((n_chunks, kh, n_rb, fp // fb, jb, fb), dtype=dy.dtype)
    dbpart = np.zeros((n_chunks, fp), dtype=dy.dtype)
    pixoff = np.arange(ow, dtype=np.int64) * sw * c_in
    specialised(_make_dkernel, fb, jb, True)(
        xflat,
        hp,
        wp,
        c_in,
        np.ascontiguousarray(dyp).reshape(-1),
        fp,
        oh,
        ow,
        sh,
        kh,
        n_img,
        pixoff,
        part,
        dbpart,
        np.ones(1, dy.dtype),
        np.zeros(ow, np.int64),
    )
    blocked = part[0] if n_chunks == 1 else part.sum(axis=0)  # (KH, n_rb, n_fb, JB, FB)
    dk = blocked.transpose(0, 1, 3, 2, 4).reshape(kh, n_rb * jb, fp)[:, : kw * c_in, :n_f]
    db = dbpart[0] if n_chunks == 1 else dbpart.sum(axis=0)
    return np.ascontiguousarray(dk.reshape(kh, kw, c_in, n_f)), np.ascontiguousarray(db[:n_f])


# --------------------------------------------------------------------------- tiny backward: serial direct
@nb.njit(cache=True)
def _direct_backward(dy, x, kernel, sh, sw, top, left, dx, dk):
    n_img, h, w, c_in = x.shape
    _, oh, ow, n_f = dy.shape
    kh, kw, _, _ = kernel.shape
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for u in range(kh):
                    r = i * sh + u - top
                    if r < 0 or r >= h:
                        continue
                    for v in range(kw):
                        q = j * sw + v - left
                        if q < 0 or q >= w:
                            continue
                        for c in range(c_in):
                            xv = x[n, r, q, c]
                            s = 0.0
                            for f in range(n_f):
                                g = dy[n, i, j, f]
                                s += g * kernel[u, v, c, f]
                                dk[u, v, c, f] += xv * g
                            dx[n, r, q, c] += s


def conv2d_backward(
    dy: np.ndarray, x: np.ndarray, kernel: np.ndarray, strides: Pair, pads: Pads, need_dx: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d_forward` with respect to its inputs.

    Args:
        dy: ``(N, OH, OW, F)`` gradient of the loss with respect to ``y``.
        x: ``(N, H, W, C)``; kernel: ``(KH, KW, C, F)``; strides ``(sh, sw)``;
            pads ``(top, bottom, left, right)`` — as in the forward call.
            One float dtype, C-contiguous.

        need_dx: ``False`` skips the input gradient and returns ``None`` for it —
            a network's first layer never needs it (nothing upstream learns), and
            it costs as much as the kernel gradient.

    Returns:
        ``(dx (N,H,W,C) or None, dkernel (KH,KW,C,F), dbias (F,))`` of ``x``'s dtype.
        Input pixels no window covers (floor in the output size) get 0.
    """
    n_img, oh, ow, n_f = dy.shape
    sh, sw = strides
    if _macs(n_img, oh, ow, kernel) < DIRECT_MACS:
        top, left, xd = pads[0], pads[2], x
        if any(pads) and not all_finite(dy):
            # The direct loop skips pad positions, but dkernel multiplies the pads' zeros
            # by dy (0·inf = NaN in the definition): give it the zeros explicitly.
            xd, top, left = _padded(x, pads), 0, 0
        dx = np.zeros(xd.shape, dtype=x.dtype)
        dk = np.zeros(kernel.shape, dtype=x.dtype)
        _direct_backward(dy, xd, kernel, sh, sw, top, left, dx, dk)
        dx = None if not need_dx else (dx if xd is x else crop_nhwc(dx, pads))
        db = dy.reshape(-1, n_f).sum(axis=0, dtype=x.dtype)
    else:
        dx = conv2d_dx(dy, x.shape, kernel, strides, pads) if need_dx else None
        dk, db = _conv2d_dkernel(dy, x, pads, kernel.shape, strides)
    return dx, dk, db
