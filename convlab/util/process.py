"""What convlab changes in your process, why, and the one switch that turns it off.

convlab's kernels share two CPU cores with NumPy's BLAS on a small machine, and
a training loop allocates and frees the same few large arrays every step. Three
process-wide settings make that fast; each is applied only where it pays, and
all of them are skipped when the switch is off — ``CONVLAB_PROCESS_SETTINGS=0``
in the environment, or :func:`set_enabled` ``(False)`` before the first
computation.

1. **OpenMP workers do not spin** (:func:`quiet_openmp`, when the first compiled
   kernel is imported). After a parallel region, GNU libgomp's workers busy-wait
   for the next one; OpenBLAS's threads do the same, and when convolutions
   (Numba) and dense layers (BLAS) alternate, each library's spinning threads
   steal the cores the other needs. libgomp reads ``GOMP_SPINCOUNT`` once, when
   it is loaded, so convlab sets ``GOMP_SPINCOUNT=0`` just long enough for Numba
   to load its threading layer and then takes the variable out of
   ``os.environ`` again: child processes do not inherit it. A value you set
   yourself is left alone, and nothing changes if libgomp was already loaded
   (by another library imported earlier) or if Numba uses another threading
   layer (TBB, workqueue), which do not spin this way.
2. **BLAS on one thread while training** (:func:`training`, around the whole of
   ``fit`` — its validation passes included — and around each ``train_on_batch`` /
   ``compute_gradients`` call): the dense layers' products are small, and BLAS's
   second thread costs more in waking and contention than it gains. The
   previous limits come back when the call returns. Numbers change only
   in float rounding (BLAS splits its sums differently).
3. **Freed memory is kept for the next step** (:func:`keep_freed_memory`, once,
   when ``fit`` or ``train_on_batch`` first runs): glibc's ``malloc`` hands large
   freed blocks back to the operating system, so each step's arrays land on
   fresh pages that the kernel must fault in again. ``mallopt(M_MMAP_THRESHOLD,
   256 MiB)`` and ``mallopt(M_TRIM_THRESHOLD, 1 GiB)`` keep them mapped. The cost:
   the process keeps its peak memory until it exits, as a training process does
   anyway. Skipped where the C library is not glibc, and where
   ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` are set (yours win).

The measurements behind each choice are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from collections.abc import Iterator

__all__ = ["ENV_SWITCH", "enabled", "set_enabled", "quiet_openmp", "keep_freed_memory", "serial_blas", "training"]

#: The environment variable that turns every setting here off when it is ``0``, ``false``, ``off`` or ``no``.
ENV_SWITCH = "CONVLAB_PROCESS_SETTINGS"

#: What :func:`quiet_openmp` sets while libgomp loads.
OPENMP_ENV = {"GOMP_SPINCOUNT": "0"}

#: ``mallopt`` parameter numbers (glibc's <malloc.h>) and the values :func:`keep_freed_memory` sets, in bytes.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MALLOC_SETTINGS = {M_MMAP_THRESHOLD: 256 << 20, M_TRIM_THRESHOLD: 1 << 30}

_STATE: dict = {
    "enabled": os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "off", "no"),
    "openmp": None,  # None: not tried yet; else the settings that were in effect when libgomp loaded
    "malloc": None,  # None: not tried yet; else whether the settings are in effect
    "blas": None,  # the threadpoolctl controller, made once (building one scans the loaded libraries, ~1 ms)
}


def enabled() -> bool:
    """Whether convlab applies its process settings (default: yes, unless ``CONVLAB_PROCESS_SETTINGS=0``)."""
    return _STATE["enabled"]


def set_enabled(flag: bool) -> None:
    """Turn convlab's process settings on or off for the rest of the process.

    Settings already applied stay applied (libgomp has read its variable,
    ``mallopt`` has been called); call this before the first computation to
    keep the process untouched.

    Raises:
        TypeError: ``flag`` is not a bool.
    """
    if not isinstance(flag, bool):
        raise TypeError(f"flag must be True or False, got {flag!r}")
    _STATE["enabled"] = flag


def _libgomp_loaded() -> bool:
    """Whether the shared GNU libgomp (``libgomp.so.1``, the one Numba links) is already loaded.

    Linux only (``False`` where ``/proc/self/maps`` does not exist). Private copies
    that wheels bundle under hashed names (``libgomp-a34b3233.so.1``) do not count:
    Numba still loads, and configures, its own.
    """
    try:
        with open("/proc/self/maps") as maps:
            return any("/libgomp.so" in line for line in maps)
    except OSError:
        return False


def quiet_openmp() -> dict[str, str]:
    """Load Numba's threading layer with ``GOMP_SPINCOUNT=0``, leaving ``os.environ`` as it was.

    Called once by :mod:`convlab.kernels` at import, before any parallel
    launch; later calls return the first call's result.

    Returns:
        The variables of :data:`OPENMP_ENV` as libgomp read them when Numba
        loaded it (``{"GOMP_SPINCOUNT": "0"}``, or your own value if you set
        one); ``{}`` when the switch is off or libgomp was already loaded, so
        that setting the variable could not change anything.

    The variable is in ``os.environ`` only while ``numba.get_num_threads()``
    loads the threading layer; a subprocess started by another thread in that
    moment would inherit it.
    """
    if _STATE["openmp"] is not None:
        return _STATE["openmp"]
    if not _STATE["enabled"] or _libgomp_loaded():
        _STATE["openmp"] = {}
        return _STATE["openmp"]
    import numba

    added = [k for k in OPENMP_ENV if k not in os.environ]
    for k in added:
        os.environ[k] = OPENMP_ENV[k]
    try:
        _STATE["openmp"] = {k: os.environ[k] for k in OPENMP_ENV}
        numba.get_num_threads()  # loads the threading layer (libgomp reads its variables now)
    finally:
        for k in added:
            os.environ.pop(k, None)
    return _STATE["openmp"]


def keep_freed_memory() -> bool:
    """Apply :data:`MALLOC_SETTINGS` with glibc's ``mallopt`` once per process.

    Returns:
        Whether the settings are in effect: ``False`` when the switch is off,
        when ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` are set,
        or where the C library has no ``mallopt`` (not glibc).
    """
    if _STATE["malloc"] is not None:
        return _STATE["malloc"]
    if not _STATE["enabled"]:
        return False  # not remembered: turning the switch back on later may still apply them
    _STATE["malloc"] = False
    if any(k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _STATE["malloc"] = all(mallopt(param, value) == 1 for param, value in MALLOC_SETTINGS.items())
    return _STATE["malloc"]


@contextlib.contextmanager
def serial_blas() -> Iterator[None]:
    """A context in which NumPy's BLAS uses one thread; the previous limits come back on exit.

    Does nothing when the switch is off or threadpoolctl cannot inspect the
    loaded libraries (the step then runs with BLAS's own thread count).
    """
    if not _STATE["enabled"]:
        yield
        return
    ctl = _STATE["blas"]
    if ctl is None:
        try:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController()
        except Exception:  # threadpoolctl is a dependency, but never fail training over a thread limit
            ctl = False
        _STATE["blas"] = ctl
    if not ctl:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield


def training(*, keep_memory: bool = True) -> contextlib.AbstractContextManager[None]:
    """The context a training step runs in: BLAS on one thread and, when ``keep_memory``,
    freed memory kept for the next step (:func:`keep_freed_memory`).

    ``compute_gradients`` passes ``keep_memory=False``: it is also used for
    one-off comparisons (``compare_with_keras``), where changing the allocator
    for the rest of the process would not pay.
    """
    if keep_memory:
        keep_freed_memory()
    return serial_blas()
