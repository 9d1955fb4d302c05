"""``convlab.datasets``, the documented import path; the code lives in :mod:`convlab.data.datasets`."""

from convlab.data.datasets import *  # noqa: F403
from convlab.data.datasets import __all__  # noqa: F401
