"""Level 5 (edge) — real data from installed packages, never downloaded:
:mod:`.datasets` (MNIST-5k, scikit-learn digits, Fashion-MNIST) and
:mod:`.images` (folder-per-class photo sets).
"""
