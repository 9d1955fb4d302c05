"""What convlab changes in your process, why, and the one switch that turns it off.

convlab's kernels share two CPU cores with NumPy's BLAS on a small machine. Two
process-wide settings make that fast; each is applied only where it pays, and
both are skipped when the switch is off — ``CONVLAB_PROCESS_SETTINGS=0``
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
The memory allocator is left as it is: a training loop allocates nothing per
step because the layers keep their arrays and the operations write into them
(``out=``; :meth:`convlab.model.layers.base.Layer._buffer`), so no page is
faulted in again step after step without changing ``malloc``'s settings.

The measurements behind each choice are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["ENV_SWITCH", "enabled", "set_enabled", "quiet_openmp", "serial_blas", "training"]

#: The environment variable that turns every setting here off when it is ``0``, ``false``, ``off`` or ``no``.
ENV_SWITCH = "CONVLAB_PROCESS_SETTINGS"

#: What :func:`quiet_openmp` sets while libgomp loads.
OPENMP_ENV = {"GOMP_SPINCOUNT": "0"}

#: Packages that load a BLAS of their own when imported.
_BLAS_CARRIERS = ("numpy", "scipy", "torch", "tensorflow", "sklearn")

_STATE: dict = {
    "enabled": os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "off", "no"),
    "openmp": None,  # None: not tried yet; else the settings that were in effect when libgomp loaded
    "blas": None,  # (threadpoolctl controller, the packages it saw); a scan of the loaded libraries costs ~1 ms
}


def enabled() -> bool:
    """Whether convlab applies its process settings (default: yes, unless ``CONVLAB_PROCESS_SETTINGS=0``)."""
    return _STATE["enabled"]


def set_enabled(flag: bool) -> None:
    """Turn convlab's process settings on or off for the rest of the process.

    Settings already applied stay applied (libgomp has read its variable);
    call this before the first computation to keep the process untouched.

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


@contextlib.contextmanager
def serial_blas() -> Iterator[None]:
    """A context in which NumPy's BLAS uses one thread; the previous limits come back on exit.

    Does nothing when the switch is off or threadpoolctl cannot inspect the
    loaded libraries (the step then runs with BLAS's own thread count).
    """
    if not _STATE["enabled"]:
        yield
        return
    # The controller knows the libraries loaded when it was made; a package imported since
    # (Numba imports SciPy, which brings its own OpenBLAS) means a new scan.
    loaded = frozenset(m for m in _BLAS_CARRIERS if m in sys.modules)
    ctl, seen = _STATE["blas"] or (None, None)
    if ctl is None or seen != loaded:
        try:
            from threadpoolctl import ThreadpoolController

            ctl = ThreadpoolController()
        except Exception:  # threadpoolctl is a dependency, but never fail training over a thread limit
            ctl = False
        _STATE["blas"] = (ctl, loaded)
    if not ctl:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield


def training() -> contextlib.AbstractContextManager[None]:
    """The context a training step runs in: BLAS on one thread (:func:`serial_blas`)."""
    return serial_blas()
