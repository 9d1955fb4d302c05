"""Level 5 (edge) — what the lessons share: :mod:`.lesson` (the step/check/figure
harness) and :mod:`.viz` (matplotlib figures of matrices, kernels and windows).
"""
