"""The one place convlab's version is written (setup.cfg and ``convlab.__version__`` read it)."""

__version__ = "0.9.0"
