"""Level 5 (edge) — the only place convlab imports TensorFlow/Keras (lazily,
inside functions): :mod:`.keras` (weights both ways, parity report) and
:mod:`.vgg` (VGG16 and transfer learning trained by Keras).
"""
