"""``convlab.layers``, the documented import path; the code lives in :mod:`convlab.model.layers`."""

from convlab.model.layers import *  # noqa: F403
from convlab.model.layers import __all__  # noqa: F401
