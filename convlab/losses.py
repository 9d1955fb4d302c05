"""``convlab.losses``, the documented import path; the code lives in :mod:`convlab.ops.losses`."""

from convlab.ops.losses import *  # noqa: F403
from convlab.ops.losses import __all__  # noqa: F401
