"""``convlab.optimizers``, the documented import path; the code lives in :mod:`convlab.model.optimizers`."""

from convlab.model.optimizers import *  # noqa: F403
from convlab.model.optimizers import __all__  # noqa: F401
