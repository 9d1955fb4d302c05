"""``convlab.images``, the documented import path; the code lives in :mod:`convlab.data.images`."""

from convlab.data.images import *  # noqa: F403
from convlab.data.images import __all__  # noqa: F401
