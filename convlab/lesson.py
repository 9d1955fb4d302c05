"""``convlab.lesson``, the documented import path; the code lives in :mod:`convlab.teach.lesson`."""

from convlab.teach.lesson import *  # noqa: F403
from convlab.teach.lesson import __all__  # noqa: F401
