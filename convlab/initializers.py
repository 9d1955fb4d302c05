"""``convlab.initializers`` (as Keras' ``keras.initializers``); the code lives in :mod:`.model.layers.initializers`."""

from convlab.model.layers.initializers import *  # noqa: F403
from convlab.model.layers.initializers import __all__  # noqa: F401
