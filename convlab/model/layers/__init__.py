"""Keras-named layers (``convlab.layers``): ``Conv2D``, ``MaxPooling2D``, ``Dense`` …"""
from convlab.model.layers.layers import *  # noqa: F401,F403
from convlab.model.layers.layers import __all__  # noqa: F401
from convlab.model.layers.layers import as_shape, unique_name  # noqa: F401  (used by Sequential)
