"""Silencing what native libraries write straight to the process' standard error.

TensorFlow's C++ core logs through absl before Python can configure it: on a
machine without a GPU, ``import tensorflow`` prints "All log messages before
absl::InitializeLog() is called are written to STDERR" and "Could not find cuda
drivers", which no Python setting reaches. Those lines are not convlab's output
and, in a lesson, they bury the numbers a student is reading; so the one place
convlab imports TensorFlow (:mod:`convlab.bridge.optional`) points file
descriptor 2 at ``/dev/null`` for the length of the import.

A Python exception raised inside the block is not lost: it propagates and is
printed after the descriptor is restored.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["native_stderr_silenced"]


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Within the block, whatever anything (C, C++ or Python) writes to file descriptor 2 is discarded.

    ``sys.stderr`` is flushed first, so Python's own earlier messages are not lost. Where file
    descriptor 2 cannot be duplicated (it is closed, or the platform refuses), the block runs
    unchanged.
    """
    try:
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        pass
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
