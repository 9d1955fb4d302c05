"""Compiled (Numba) kernels behind ``backend="numba"``. Every kernel uses ``cache=True``.

The operation modules (:mod:`convlab.conv`, :mod:`convlab.pooling`) validate
arguments and resolve padding; the functions here receive clean, C-contiguous
float32/float64 arrays and explicit ``(top, bottom, left, right)`` pads.
"""
