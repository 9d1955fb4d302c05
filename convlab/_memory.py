"""How convlab keeps a training loop from paying for fresh memory every step.

A training step of a small CNN allocates a few arrays of several MB (a batch of
feature maps, their gradients) and frees them again. glibc's ``malloc`` hands
such blocks back to the operating system when they are freed (``munmap``, or
trimming the top of the heap), so the next step gets *new* pages, and the
kernel must fault every 4 KB page in again on first touch. We measured seeds/004's
model at batch 128 taking ~1,040 page faults per step here, 2–3 ms of a ~22 ms
step (on a virtual machine a fault costs several µs); the planning prototype
measured ~7,300 faults per step (reference-numbers.md).

:func:`keep_freed_memory` asks glibc, once per process, to keep freed blocks
for reuse instead: ``mallopt(M_MMAP_THRESHOLD, 256 MiB)`` (blocks below that come
from the heap, not from ``mmap``) and ``mallopt(M_TRIM_THRESHOLD, 1 GiB)`` (the
heap is not shrunk until 1 GiB sits free at its top). The next step's arrays
then land on pages already mapped: 0 faults per step. The cost is that the
process keeps the memory it used at its peak until it exits, which a training
process does anyway. It is applied when training starts (:meth:`Sequential.fit`,
``train_on_batch``), not at import, so merely using convlab's functions changes
nothing. It is skipped where the C library is not glibc, and where the user
configured malloc through ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``
(their settings win).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

#: ``mallopt`` parameter numbers (glibc's <malloc.h>).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: What :func:`keep_freed_memory` sets, in bytes.
SETTINGS = {M_MMAP_THRESHOLD: 256 << 20, M_TRIM_THRESHOLD: 1 << 30}

_STATE = {"done": False, "applied": False}


def keep_freed_memory() -> bool:
    """Apply :data:`SETTINGS` once per process; return whether they are in effect."""
    if _STATE["done"]:
        return _STATE["applied"]
    _STATE["done"] = True
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _STATE["applied"] = all(mallopt(param, value) == 1 for param, value in SETTINGS.items())
    return _STATE["applied"]
