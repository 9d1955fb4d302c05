"""``convlab.vgg``, the documented import path; the code lives in :mod:`convlab.bridge.vgg`."""

from convlab.bridge.vgg import *  # noqa: F403
from convlab.bridge.vgg import __all__  # noqa: F401
