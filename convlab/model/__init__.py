"""Level 4 — Keras-style training: layers, ``Sequential``, optimizers, saving.

The layers hold parameters, gradients and the forward cache and call the
operations of :mod:`convlab.ops`; they hold no maths of their own.
"""
from convlab.model import layers, optimizers
from convlab.model.sequential import History, NonFiniteLossError, Sequential, load_model

__all__ = ["layers", "optimizers", "Sequential", "History", "NonFiniteLossError", "load_model"]
