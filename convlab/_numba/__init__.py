"""Compiled (Numba) kernels behind ``backend="numba"``. Every kernel uses ``cache=True``.

The operation modules (:mod:`convlab.conv`, :mod:`convlab.pooling`) validate
arguments and resolve padding; the functions here receive clean, C-contiguous
float32/float64 arrays and explicit ``(top, bottom, left, right)`` pads. Also
here, used without a ``backend`` switch because they give the same bits as the
NumPy definitions: ReLU and its gradient on large arrays (:mod:`.elementwise`,
from :mod:`convlab.activations`) and Adam's update (:mod:`.optim`, from
:mod:`convlab.optimizers`). Each module imports :mod:`._threads` first.

Kernels: :mod:`.conv` (direct, register-tiled, backward), :mod:`.winograd`
(F(2×2, 3×3)), :mod:`._tile` (the micro-kernel), :mod:`.pool`.
"""
