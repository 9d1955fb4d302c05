"""The machine a benchmark ran on, recorded beside its numbers, and the timing helper every benchmark uses.

Machines here differ from day to day (AVX2 or AVX-512, a quiet or a busy host),
so a time means little without the CPU, its vector extensions, the core count
and the practical peak measured in the same run (a float32 2048³ matrix
product through NumPy's BLAS). Only ratios from one run compare.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

#: The CPU flags that decide which code the kernels and the frameworks run (``/proc/cpuinfo`` names).
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
)


def timeit(fn, reps, warmup=1, min_time=0.0):
    """Median wall time (seconds) of ``fn()`` over ``reps`` runs after ``warmup`` calls.

    A 0.3 s pause first lets the previous measurement's worker threads go idle:
    OpenBLAS's threads busy-wait for a while after a matrix product before they
    sleep, and a kernel timed right after the ``numpy`` backend would otherwise
    share the cores with them (README: "Measuring the frameworks' backward passes").
    ``min_time`` (seconds) keeps repeating, up to ``50 × reps`` runs, for
    latency-sized workloads whose single runs are too short to time alone.
    """
    time.sleep(0.3)
    for _ in range(warmup):
        fn()
    times = []
    t_start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - t_start < min_time and len(times) < 50 * reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """Which of :data:`ISA_FLAGS` the CPU reports (Linux ``/proc/cpuinfo``; empty list elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ISA_FLAGS if f in have]
    except OSError:
        pass
    return []


def matmul_peak(reps):
    """``(seconds, flops)`` of a float32 2048³ NumPy matrix product: the machine's practical peak."""
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    b = a.copy()
    t = timeit(lambda: a @ b, reps)
    return t, 2.0 * 2048**3


def machine_info():
    """A dict describing this machine and this process' libraries (JSON-serialisable)."""
    from convlab.util import process

    info = {
        "cpu": cpu_model(),
        "isa": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    try:
        import numba

        # The first get_num_threads() loads Numba's threading layer (libgomp). convlab loads it itself, with
        # GOMP_SPINCOUNT=0 (README, "What convlab changes in your process"); asking numba first would load it
        # without, and every parallel kernel measured after would spin (a 1-image predict: 8 ms instead of 0.4).
        process.quiet_openmp()
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
        import llvmlite.binding

        # The kernels' register tiles follow the vector width (README: "How the Numba kernels got fast").
        info["avx512"] = bool(llvmlite.binding.get_host_cpu_features().get("avx512f", False))
    except Exception as exc:  # pragma: no cover
        info["numba"] = f"unavailable ({exc})"
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
    except Exception as exc:  # pragma: no cover
        info["blas"] = f"unknown ({exc})"
    info["openblas_env"] = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return info
