"""The register-tile micro-kernel shared by the fast convolution kernels.

Why a hand-written micro-kernel?
--------------------------------
A convolution is, at heart, many small matrix products. The fastest way to do
one on a CPU is to keep a *tile* of outputs — here ``JB`` rows × ``FB`` filters
— in vector registers while streaming over the reduction (the ``KH·KW·C``
taps): each step loads ``FB`` kernel values as a few wide vectors, broadcasts
one input value per row and does ``JB`` fused multiply-adds (FMA) per vector.
Nothing is written to memory until the tile is finished.

Written as plain Python loops, whether Numba/LLVM actually produces that code
depends on the order of LLVM's unrolling and vectorising passes: the same loop
nest compiles to vector code at ``NUMBA_OPT=2`` and to scalar code, many times
slower, at Numba's default ``NUMBA_OPT=3`` — and a different tile shape the
other way round (numbers in ``benchmarks/README.md``). So the inner
loop is emitted here directly as LLVM IR with vector types ``<FB x float>``:
LLVM splits such a vector into whatever registers the CPU has (2 × 256-bit
``ymm`` for FB=16 float32 on AVX2, 1 × 512-bit ``zmm`` with AVX-512), so the
same code is right on both, whatever order the optimiser runs its passes
in. Everything around it (loops over images, rows, tiles, threads) stays
ordinary Numba.

The one operation, :func:`tile_fma`::

    for t in range(n_taps):                               # the reduction
        for jj in range(JB):                              # tile rows
            a = x[xbase + tapoff[t] + jj * xstep]         # one broadcast value
            acc[jj*FB:(jj+1)*FB] += a * k[kbase + t*kstep : ... + FB]   # FB-wide FMA

It serves three roles (see :mod:`convlab.kernels.conv`): the forward
convolution (rows = output columns, taps = ``(u, v, c)``), the input gradient
(a forward convolution of the upstream gradient with the flipped kernel) and
the kernel gradient (rows = input channels, taps = output pixels).

Numba's on-disk cache does not notice edits to this file: the kernels that use
these intrinsics (``conv.py``, ``winograd.py``, ``gemm.py``) keep their cached machine code
until their own source changes. After editing here, delete
``convlab/kernels/__pycache__`` (a clean clone, as in CI, has none).

Rounding: an FMA rounds once where ``a*b + c`` rounds twice, and the sum over
taps is taken in the same order as the reference loops, so results differ from
the reference backend only by float rounding (~1e-6 relative in float32).
"""

from __future__ import annotations

from collections.abc import Callable

import llvmlite.binding as _llvm
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.core.errors import TypingError
from numba.extending import intrinsic


# --------------------------------------------------------------------------- tile sizes
def _host_has_avx512() -> bool:
    try:
        feats = _llvm.get_host_cpu_features()
        return bool(feats.get("avx512f", False))
    except Exception:  # pragma: no cover - exotic platforms
        return False


HAS_AVX512 = _host_has_avx512()

#: Tile shape (FB filters × JB rows) per dtype. Chosen so the JB·FB accumulators
#: plus one row of kernel vectors and a broadcast fit in the vector registers:
#: AVX2 has 16 × 256-bit registers → 6 rows × 2 vectors = 12 accumulators;
#: AVX-512 has 32 × 512-bit registers → 4 rows × 4 vectors = 16 accumulators
#: (a 128-wide block would need all 32 registers for its accumulators alone, and spills).
if HAS_AVX512:
    TILE = {"float32": (64, 4), "float64": (32, 4)}
else:
    TILE = {"float32": (16, 6), "float64": (8, 6)}


def tile_for(dtype: np.dtype | type) -> tuple[int, int]:
    """``(FB, JB)`` for arrays of ``dtype`` (float32 or float64) on this CPU."""
    return TILE["float32" if np.dtype(dtype) == np.float32 else "float64"]


_BUILT: dict = {}


def specialised(factory: Callable[[int, int, bool], Callable], fb: int, jb: int, parallel: bool) -> Callable:
    """``factory(fb, jb, parallel)`` — a kernel compiled for one tile shape — built once per process.

    The kernels take the tile shape as closure constants (the micro-kernel needs
    them at compile time), so each shape is its own function; this keeps one of each.
    """
    key = (factory, fb, jb, parallel)
    if key not in _BUILT:
        _BUILT[key] = factory(fb, jb, parallel)
    return _BUILT[key]


def _emit_taps(context, builder, FB, JB, T, slots, x_args, k_args, tap_args):
    """The reduction loop shared by the intrinsics below: for each tap, one FB-wide kernel
    vector and JB broadcasts of ``x``, JB fused multiply-adds into the register ``slots``."""
    intp = context.get_value_type(types.intp)
    vec = ir.VectorType(T, FB)
    vptr = vec.as_pointer()
    align = context.get_abi_sizeof(T)
    xp, xbase_i, xstep_i = x_args
    kp, kbase_i, kstep_i = k_args
    tp, ntaps_i = tap_args
    # llvm.fma.v<FB>f32 / .v<FB>f64: one rounding per multiply-add, vectorised.
    fma_name = f"llvm.fma.v{FB}{'f32' if align == 4 else 'f64'}"
    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec, vec, vec]), fma_name)
    zero_mask = ir.Constant(ir.VectorType(ir.IntType(32), FB), [0] * FB)
    undef = ir.Constant(vec, ir.Undefined)
    with cgutils.for_range(builder, ntaps_i, intp=intp) as loop:
        t = loop.index
        off = builder.add(xbase_i, builder.load(builder.gep(tp, [t])))
        kaddr = builder.gep(kp, [builder.add(kbase_i, builder.mul(t, kstep_i))])
        kv = builder.load(builder.bitcast(kaddr, vptr), align=align)
        for jj in range(JB):
            xi = builder.add(off, builder.mul(ir.Constant(intp, jj), xstep_i))
            xs = builder.load(builder.gep(xp, [xi]))
            xv = builder.shuffle_vector(
                builder.insert_element(undef, xs, ir.Constant(ir.IntType(32), 0)), undef, zero_mask
            )
            builder.store(builder.call(fma, [xv, kv, builder.load(slots[jj])]), slots[jj])


def _literal_tile(fb, jb):
    if not (isinstance(fb, types.IntegerLiteral) and isinstance(jb, types.IntegerLiteral)):
        raise TypingError("tile_fma: fb and jb must be compile-time integer constants")
    return fb.literal_value, jb.literal_value


@intrinsic
def tile_fma(typingctx, acc, x, xbase, xstep, k, kbase, kstep, tapoff, n_taps, fb, jb):
    """``acc[jj*FB + f] += Σ_t x[xbase + tapoff[t] + jj*xstep] · k[kbase + t*kstep + f]``.

    ``acc``, ``x``, ``k``: 1-D C-contiguous arrays of one float dtype; ``tapoff``:
    1-D int64; ``fb``/``jb``: compile-time integer constants (FB, JB). No bounds
    checks: the caller guarantees every index is inside its array.
    """
    FB, JB = _literal_tile(fb, jb)
    sig = types.void(acc, x, xbase, xstep, k, kbase, kstep, tapoff, n_taps, fb, jb)

    def codegen(context, builder, signature, args):
        acc_v, x_v, xbase_v, xstep_v, k_v, kbase_v, kstep_v, tap_v, ntaps_v, _, _ = args
        aty = signature.args
        intp = context.get_value_type(types.intp)
        T = context.get_value_type(aty[0].dtype)
        vptr = ir.VectorType(T, FB).as_pointer()
        align = context.get_abi_sizeof(T)
        arr = lambda i, v: context.make_array(aty[i])(context, builder, v).data  # noqa: E731
        idx = lambda i, v: context.cast(builder, v, aty[i], types.intp)  # noqa: E731
        accp = arr(0, acc_v)
        # The JB accumulators live in stack slots that LLVM's mem2reg turns into
        # registers (each slot is only ever loaded/stored as a whole vector).
        slots = []
        for jj in range(JB):
            slot = cgutils.alloca_once(builder, ir.VectorType(T, FB))
            src = builder.bitcast(builder.gep(accp, [ir.Constant(intp, jj * FB)]), vptr)
            builder.store(builder.load(src, align=align), slot)
            slots.append(slot)
        _emit_taps(
            context,
            builder,
            FB,
            JB,
            T,
            slots,
            (arr(1, x_v), idx(2, xbase_v), idx(3, xstep_v)),
            (arr(4, k_v), idx(5, kbase_v), idx(6, kstep_v)),
            (arr(7, tap_v), idx(8, ntaps_v)),
        )
        for jj in range(JB):
            dst = builder.bitcast(builder.gep(accp, [ir.Constant(intp, jj * FB)]), vptr)
            builder.store(builder.load(slots[jj]), dst, align=align)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def tile_fma_to(typingctx, y, ybase, ystep, bias, bbase, x, xbase, xstep, k, kbase, kstep, tapoff, n_taps, fb, jb):
    """``y[ybase + jj*ystep + f] = (Σ_t x[xbase + tapoff[t] + jj*xstep] · k[kbase + t*kstep + f]) + bias[bbase + f]``.

    :func:`tile_fma` for a whole output tile in one go: the accumulators start
    at zero in registers and, plus the bias, are stored straight into the output
    rows (``ystep`` apart) — no scratch tile to zero, load and copy out, which
    for short reductions such as MNIST's 3×3×1 windows (9 taps) is as much work
    as the multiply-adds. Same operations in the same order as :func:`tile_fma`
    on a zeroed tile followed by ``+ bias``, so the same bits. Every ``y``
    element written must exist (full filter blocks only).
    """
    FB, JB = _literal_tile(fb, jb)
    sig = types.void(y, ybase, ystep, bias, bbase, x, xbase, xstep, k, kbase, kstep, tapoff, n_taps, fb, jb)

    def codegen(context, builder, signature, args):
        (y_v, ybase_v, ystep_v, b_v, bbase_v, x_v, xbase_v, xstep_v, k_v, kbase_v, kstep_v, tap_v, ntaps_v, _, _) = args
        aty = signature.args
        T = context.get_value_type(aty[0].dtype)
        vptr = ir.VectorType(T, FB).as_pointer()
        align = context.get_abi_sizeof(T)
        arr = lambda i, v: context.make_array(aty[i])(context, builder, v).data  # noqa: E731
        idx = lambda i, v: context.cast(builder, v, aty[i], types.intp)  # noqa: E731
        yp, ybase_i, ystep_i = arr(0, y_v), idx(1, ybase_v), idx(2, ystep_v)
        bv = builder.load(builder.bitcast(builder.gep(arr(3, b_v), [idx(4, bbase_v)]), vptr), align=align)
        zero = ir.Constant(ir.VectorType(T, FB), [ir.Constant(T, 0.0)] * FB)
        slots = []
        for _ in range(JB):
            slot = cgutils.alloca_once(builder, ir.VectorType(T, FB))
            builder.store(zero, slot)
            slots.append(slot)
        _emit_taps(
            context,
            builder,
            FB,
            JB,
            T,
            slots,
            (arr(5, x_v), idx(6, xbase_v), idx(7, xstep_v)),
            (arr(8, k_v), idx(9, kbase_v), idx(10, kstep_v)),
            (arr(11, tap_v), idx(12, ntaps_v)),
        )
        intp = context.get_value_type(types.intp)
        for jj in range(JB):
            yi = builder.add(ybase_i, builder.mul(ir.Constant(intp, jj), ystep_i))
            dst = builder.bitcast(builder.gep(yp, [yi]), vptr)
            builder.store(builder.fadd(builder.load(slots[jj]), bv), dst, align=align)
        return context.get_dummy_value()

    return sig, codegen
