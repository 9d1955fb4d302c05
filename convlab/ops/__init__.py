"""Level 3 — the operations: pure functions, arrays in, arrays out, forward and backward.

One module per idea (:mod:`.conv`, :mod:`.pooling`, :mod:`.activations`,
:mod:`.dense`, :mod:`.losses`, :mod:`.gradcheck`); inside each, the
``reference`` loops (the specification), the vectorised ``numpy`` form and the
compiled ``numba`` form (from :mod:`convlab.kernels`) side by side, chosen with
``backend=``.
"""
