"""How convlab's parallel kernels wait: politely, so they do not fight NumPy's BLAS threads.

Numba's default threading layer on Linux is OpenMP (GNU libgomp). After a
parallel region, libgomp's worker threads *spin* — busy-wait on the CPU for a
while — in case another region follows. OpenBLAS (NumPy's matrix products)
keeps its own threads and spins too. In a training step the two alternate
(convolution in Numba, dense layers in BLAS), and on a 2-core machine each
library's spinning threads steal the cores the other one needs: the planning
prototype measured an epoch of seeds/004's model at 18 s this way, and ~3 s
without the spinning (reference-numbers.md). We measured 11.1 s → 5.9 s on a
6,400-image epoch here.

So, before libgomp is loaded (it is loaded by Numba at the first parallel
launch), convlab asks it not to spin: ``GOMP_SPINCOUNT=0`` — idle workers sleep
at once and are woken by the next region (a few microseconds; tiny problems
never start a region at all, see ``SERIAL_MACS``). This is set with
``os.environ.setdefault``: a value the user set explicitly wins, and nothing is
changed if libgomp was already loaded by the time convlab's kernels are
imported. It affects only libgomp (not OpenBLAS, TensorFlow or PyTorch's own
OpenMP runtime, which use other variables or a different copy of the library).
"""
from __future__ import annotations

import os

#: What convlab sets (only where the environment does not say otherwise).
DEFAULTS = {"GOMP_SPINCOUNT": "0"}


def configure() -> dict:
    """Apply :data:`DEFAULTS` with ``setdefault``; return the values now in effect."""
    return {k: os.environ.setdefault(k, v) for k, v in DEFAULTS.items()}


configure()
