"""Level 4 — Keras-style training: layers, ``Sequential``, optimizers, saving.

The layers hold parameters, gradients and the forward cache and call the
operations of :mod:`convlab.ops`; they hold no maths of their own.

- :mod:`.layers`: the Keras-named layers (one file each) and the table of Keras arguments;
- :mod:`.sequential`: ``Sequential`` (compile / fit / evaluate / predict) and ``load_model``;
- :mod:`.loss_adapter`, :mod:`.metrics`: what ``compile`` accepts;
- :mod:`.optimizers`: SGD, Adam, RMSprop; :mod:`.history`: ``History``, ``NonFiniteLossError``;
- :mod:`.saving`: the ``.npz`` file format.
"""

from convlab.model import layers, optimizers
from convlab.model.history import History, NonFiniteLossError
from convlab.model.sequential import Sequential, load_model

__all__ = ["layers", "optimizers", "Sequential", "History", "NonFiniteLossError", "load_model"]
