"""Level 1 — shape arithmetic, no array code: output sizes ``(N + 2P − K)/S + 1``,
padding resolution, parameter counts and the summary table.

Every operation and every helper resolves padding through
:func:`resolve_padding`, so they cannot disagree.
"""
from convlab.shapes.arithmetic import *  # noqa: F401,F403
from convlab.shapes.arithmetic import __all__  # noqa: F401
