"""``convlab.viz``, the documented import path; the code lives in :mod:`convlab.teach.viz`."""

from convlab.teach.viz import *  # noqa: F403
from convlab.teach.viz import __all__  # noqa: F401
