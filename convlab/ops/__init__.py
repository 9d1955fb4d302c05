"""Level 3 — the operations: pure functions, arrays in, arrays out, forward and backward.

One module per idea (:mod:`.conv` — with dilation and groups —,
:mod:`.conv_transpose`, :mod:`.depthwise` — depthwise and separable —,
:mod:`.pooling`, :mod:`.global_pooling`, :mod:`.batch_norm`,
:mod:`.activations`, :mod:`.dense`, :mod:`.losses`, :mod:`.gradcheck`); inside each, the
``reference`` loops (the specification), the vectorised ``numpy`` form and the
compiled ``numba`` form (from :mod:`convlab.kernels`) side by side, chosen with
``backend=``.

How the arguments are passed — one rule for every public operation
------------------------------------------------------------------
1. **Arrays first, positional**, in the order the maths reads them: the
   upstream gradient ``dy`` before the forward inputs in a backward pass
   (``conv2d_backward(dy, x, kernel)``), ``y_true`` before ``y_pred`` (or
   ``logits``) in every loss, as Keras.
2. **Geometry as Keras writes it**: ``max_pool2d(x, pool_size, strides, padding)``
   and ``correlate2d(image, kernel, padding)`` may be given by position, as
   Keras' ``MaxPooling2D`` and SciPy do; ``conv2d``'s ``strides`` and
   ``padding`` are keyword-only after the optional ``bias`` array (so
   ``conv2d(x, k, 1)`` cannot mistake a stride for a bias).
3. **``backend`` comes last.** Where the geometry is keyword-only it is too
   (``conv2d(x, k, b, strides=2, backend="numpy")``); where the whole geometry
   is positional, as in pooling, ``backend`` may follow it by position, exactly
   as ``../shared/DESIGN.md`` writes ``max_pool2d(x, pool_size=2, strides=None,
   padding="valid", backend=None)`` — outside checks call these signatures as
   written.
4. **Flags and tuning options are keyword-only**: every boolean flag
   (``need_dx``, ``from_logits``, ``sparse``) and every tuning option (``h``,
   ``tol``, ``floor``, ``scale`` of the gradient checker), so that
   ``conv2d_backward(dy, x, k, need_dx=False)`` says what it means.

The shape helpers of :mod:`convlab.shapes` share one order, the order of the
slide's formula ``(N + 2P − K)/S + 1``: size, window, padding, stride.
"""
