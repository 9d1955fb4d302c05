"""Compiled (Numba) kernels behind ``backend="numba"``. Every kernel uses ``cache=True``.

Level 2: imported only by the operations (:mod:`convlab.ops`) and the
optimizers. The operation modules (:mod:`convlab.ops.conv`, :mod:`convlab.ops.pooling`) validate
arguments and resolve padding; the functions here receive clean, C-contiguous
float32/float64 arrays and explicit ``(top, bottom, left, right)`` pads. Also
here, used without a ``backend`` switch because they give the same bits as the
NumPy definitions (or, for the matrix products, the same up to float rounding): ReLU
and its gradient on large arrays (:mod:`.elementwise`, from :mod:`convlab.ops.activations`),
Adam's update (:mod:`.optim`, from :mod:`convlab.model.optimizers`) and the dense
layers' large matrix products (:mod:`.gemm`, from :mod:`convlab.ops.dense`).

Kernels: :mod:`.conv` (direct, register-tiled, backward), :mod:`.winograd`
(F(4×4, 3×3) and F(2×2, 3×3)), :mod:`.tile` (the micro-kernel), :mod:`.gemm`
(matrix products on the micro-kernel), :mod:`.pool`, :mod:`.depthwise`.

Every kernel module is written for speed, not for reading, and the loops that
look alike are kept separate on purpose: the serial direct loops beside the
tiled kernels (tiny problems must not pay for padding copies or waking
threads), the full-filter-block tile beside the partial-block scratch tile, the
two micro-kernels :func:`.tile.tile_fma` / :func:`.tile.tile_fma_to`, the
kernel gradient beside the forward, pooling's non-overlapping path beside its
generic one. Merging them would add branches or runtime sizes to the innermost
loops, which then lose their registers or their vectorisation. Do not factor
them together. The readable forms are the ``reference`` and ``numpy`` backends
in :mod:`convlab.ops`, which the kernels are tested against.
"""

from convlab.util import process

# Before any kernel module can start a parallel region (see convlab.util.process).
process.quiet_openmp()
