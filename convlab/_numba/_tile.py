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
depends on the order of LLVM's unrolling and vectorising passes: we measured
the same loop nest compiling to ~200 GF/s vector code at ``NUMBA_OPT=2`` and to
scalar code (2–8 GF/s) at Numba's default ``NUMBA_OPT=3`` — and a different
tile shape flipping the other way (see ``benchmarks/README.md``). So the inner
loop is emitted here directly as LLVM IR with vector types ``<FB x float>``:
LLVM splits such a vector into whatever registers the CPU has (2 × 256-bit
``ymm`` for FB=16 float32 on AVX2, 1 × 512-bit ``zmm`` with AVX-512), so the
same code is right on both, and it no longer depends on the optimiser's
mood. Everything around it (loops over images, rows, tiles, threads) stays
ordinary Numba.

The one operation, :func:`tile_fma`::

    for t in range(n_taps):                               # the reduction
        for jj in range(JB):                              # tile rows
            a = x[xbase + tapoff[t] + jj * xstep]         # one broadcast value
            acc[jj*FB:(jj+1)*FB] += a * k[kbase + t*kstep : ... + FB]   # FB-wide FMA

It serves three roles (see :mod:`convlab._numba.conv`): the forward
convolution (rows = output columns, taps = ``(u, v, c)``), the input gradient
(a forward convolution of the upstream gradient with the flipped kernel) and
the kernel gradient (rows = input channels, taps = output pixels).

Rounding: an FMA rounds once where ``a*b + c`` rounds twice, and the sum over
taps is taken in the same order as the reference loops, so results differ from
the reference backend only by float rounding (~1e-6 relative in float32).
"""
from __future__ import annotations

import llvmlite.binding as _llvm
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
#: (128-wide blocks spilled registers in the planning prototype).
if HAS_AVX512:
    TILE = {"float32": (64, 4), "float64": (32, 4)}
else:
    TILE = {"float32": (16, 6), "float64": (8, 6)}


@intrinsic
def tile_fma(typingctx, acc, x, xbase, xstep, k, kbase, kstep, tapoff, n_taps, fb, jb):
    """``acc[jj*FB + f] += Σ_t x[xbase + tapoff[t] + jj*xstep] · k[kbase + t*kstep + f]``.

    ``acc``, ``x``, ``k``: 1-D C-contiguous arrays of one float dtype; ``tapoff``:
    1-D int64; ``fb``/``jb``: compile-time integer constants (FB, JB). No bounds
    checks: the caller guarantees every index is inside its array.
    """
    if not (isinstance(fb, types.IntegerLiteral) and isinstance(jb, types.IntegerLiteral)):
        raise TypingError("tile_fma: fb and jb must be compile-time integer constants")
    FB, JB = fb.literal_value, jb.literal_value
    sig = types.void(acc, x, xbase, xstep, k, kbase, kstep, tapoff, n_taps, fb, jb)

    def codegen(context, builder, signature, args):
        acc_v, x_v, xbase_v, xstep_v, k_v, kbase_v, kstep_v, tap_v, ntaps_v, _, _ = args
        aty = signature.args
        intp = context.get_value_type(types.intp)
        T = context.get_value_type(aty[0].dtype)
        vec = ir.VectorType(T, FB)
        vptr = vec.as_pointer()
        align = context.get_abi_sizeof(T)
        accp = context.make_array(aty[0])(context, builder, acc_v).data
        xp = context.make_array(aty[1])(context, builder, x_v).data
        kp = context.make_array(aty[4])(context, builder, k_v).data
        tp = context.make_array(aty[7])(context, builder, tap_v).data
        xbase_i = context.cast(builder, xbase_v, aty[2], types.intp)
        xstep_i = context.cast(builder, xstep_v, aty[3], types.intp)
        kbase_i = context.cast(builder, kbase_v, aty[5], types.intp)
        kstep_i = context.cast(builder, kstep_v, aty[6], types.intp)
        ntaps_i = context.cast(builder, ntaps_v, aty[8], types.intp)

        # The JB accumulators live in stack slots that LLVM's mem2reg turns into
        # registers (each slot is only ever loaded/stored as a whole vector).
        slots = []
        for jj in range(JB):
            slot = cgutils.alloca_once(builder, vec)
            src = builder.bitcast(builder.gep(accp, [ir.Constant(intp, jj * FB)]), vptr)
            builder.store(builder.load(src, align=align), slot)
            slots.append(slot)
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
                xv = builder.shuffle_vector(builder.insert_element(undef, xs, ir.Constant(ir.IntType(32), 0)), undef, zero_mask)
                builder.store(builder.call(fma, [xv, kv, builder.load(slots[jj])]), slots[jj])
        for jj in range(JB):
            dst = builder.bitcast(builder.gep(accp, [ir.Constant(intp, jj * FB)]), vptr)
            builder.store(builder.load(slots[jj]), dst, align=align)
        return context.get_dummy_value()

    return sig, codegen
