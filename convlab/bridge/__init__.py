"""Level 5 (edge) — the only place convlab imports TensorFlow/Keras (lazily,
inside functions, through :mod:`.optional`): :mod:`.keras` (to_keras,
from_keras, copy_weights), :mod:`.keras_compare` (the layer-by-layer parity
report) and :mod:`.vgg` (VGG16 and transfer learning trained by Keras).
"""
