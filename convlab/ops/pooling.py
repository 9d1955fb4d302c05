"""2-D max and average pooling, as Keras' ``MaxPooling2D`` / ``AveragePooling2D``.

A pooling layer slides a ``pool_size`` window (stride = ``pool_size`` unless
given) over each channel separately and keeps the maximum (or the mean). The
slides (seeds/003): "a convolution with a stride equal to the kernel size that
computes the function over all the pixels" — 26×26×64 → 13×13×64, 75% fewer
activations.

Padding rules (TensorFlow's, which Keras follows):
- max pooling pads with −inf, so a pad never wins the maximum;
- average pooling with ``padding="same"`` divides by the number of *real*
  (non-pad) pixels in each window, not by the window size.

Layout: ``x (N, H, W, C)`` → ``(N, OH, OW, C)``; ``OH = floor((H + P − K)/S) + 1``.

Backward passes (:func:`max_pool2d_backward`, :func:`avg_pool2d_backward`):
- max: the maximum is a selection, so the gradient of an output goes to the
  single input pixel that was selected. On ties it goes to ONE position only:
  the **first maximum in row-major order among the window's real pixels**
  (smallest row, then smallest column; pads are never candidates) — what
  TensorFlow's CPU ``MaxPoolGrad`` does (checked against ``tf.GradientTape`` in
  ``tests/test_backward.py``). Some course code sends it to every tied maximum
  instead; that is not the gradient TF computes.
- average: each output is ``Σ window / count``, so every real pixel of the
  window receives ``dy / count`` (``count`` = real pixels with "same" padding).
- overlapping windows (stride < pool) add their contributions; pads are
  cropped; pixels no window covers get 0.
Backends: ``"reference"`` (loops), ``"numpy"`` (window views), ``"numba"`` (default).

Non-finite values (NaN, ±inf) — the same on every backend:
- max forward: a window holding a NaN gives NaN (NaN propagates, as ``np.max``
  and IEEE 754-2019's ``maximum``); a window whose real pixels are all −inf
  gives −inf. TensorFlow 2.21's CPU ``max_pool2d`` differs on both (measured):
  it skips NaN and returns the dtype's lowest finite value (−3.4e38 in float32)
  for an all −inf window; convlab keeps the README's promise that NaN
  propagates and returns the true maximum.
- max backward: NaN counts as larger than every number, so the rule above
  sends the gradient to the window's first NaN — the pixel whose value the
  forward returned. A window whose real pixels are all −inf sends it to its
  first real pixel (a tie of all of them), as TensorFlow does. (TensorFlow's
  backward, following its forward, gives a NaN the gradient only when it is
  the window's first real pixel.)
- average: sums are taken in the input's dtype, so NaN and ±inf propagate and
  a float32 sum overflows to inf where TensorFlow's does.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from convlab.shapes import pair
from convlab.shapes.sizes import IntOrPair, Padding, window_geometry
from convlab.util.arrays import crop_nhwc, pad_nhwc, windows
from convlab.util.checks import as_float_array, check_backend, check_out, shown

__all__ = ["max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward"]


def _prepare(x, pool_size, strides, padding, backend, name="x"):
    x = as_float_array(x, name, 4, shape_hint="(N, H, W, C)")
    backend = check_backend(backend)
    # The geometry every sliding-window operation shares (window larger than the padded input,
    # arrays that could not exist), then pooling's own rule.
    pool, strides, pads, _ = window_geometry(
        x.shape,
        pool_size,
        pool_size if strides is None else strides,
        padding,
        window_name="pool_size",
        input_name=name,
        itemsize=x.dtype.itemsize,
    )
    if max(pads[0], pads[1]) >= pool[0] or max(pads[2], pads[3]) >= pool[1]:
        raise ValueError(
            f"padding must be smaller than pool_size on each side (a window lying wholly in the padding "
            f"has no pixel to pool), got padding={shown(padding)} → pads {pads} with pool_size={pool}"
        )
    return x, pool, strides, pads, backend


def _out_hw(x, pool, strides, pads):
    hp, wp = x.shape[1] + pads[0] + pads[1], x.shape[2] + pads[2] + pads[3]
    return (hp - pool[0]) // strides[0] + 1, (wp - pool[1]) // strides[1] + 1


def _out_shape(x, pool, strides, pads):
    return (x.shape[0],) + _out_hw(x, pool, strides, pads) + (x.shape[3],)


# --------------------------------------------------------------------------- reference
def _max_pool_reference(x, pool, strides, pads):
    """For every image, output pixel and channel: the largest value in its window."""
    xp = pad_nhwc(x, pads, -np.inf)
    oh, ow = _out_hw(x, pool, strides, pads)
    n_img, _, _, n_ch = x.shape
    y = np.empty((n_img, oh, ow, n_ch), dtype=x.dtype)
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                for c in range(n_ch):
                    window = xp[
                        n, i * strides[0] : i * strides[0] + pool[0], j * strides[1] : j * strides[1] + pool[1], c
                    ]
                    y[n, i, j, c] = np.max(window)
    return y


def _avg_pool_reference(x, pool, strides, pads):
    """For every output pixel and channel: the mean of the real (non-pad) pixels of its window."""
    xp = pad_nhwc(x, pads)
    real = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), pads)  # 1 on real pixels, 0 on pads
    oh, ow = _out_hw(x, pool, strides, pads)
    n_img, _, _, n_ch = x.shape
    y = np.empty((n_img, oh, ow, n_ch), dtype=x.dtype)
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * strides[0], i * strides[0] + pool[0])
                cols = slice(j * strides[1], j * strides[1] + pool[1])
                count = np.sum(real[0, rows, cols, 0])
                for c in range(n_ch):
                    y[n, i, j, c] = np.sum(xp[n, rows, cols, c]) / count
    return y


# --------------------------------------------------------------------------- numpy
def _max_pool_numpy(x, pool, strides, pads):
    return windows(pad_nhwc(x, pads, -np.inf), pool, strides).max(axis=(4, 5))


def _avg_pool_numpy(x, pool, strides, pads):
    sums = windows(pad_nhwc(x, pads), pool, strides).sum(axis=(4, 5))
    real = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), pads)
    counts = windows(real, pool, strides).sum(axis=(4, 5))
    return (sums / counts).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------- numba
def _max_pool_numba(x, pool, strides, pads, out=None):
    from convlab.kernels import pool as nb_pool

    return nb_pool.max_pool2d_forward(x, pool, strides, pads, out=out)


def _avg_pool_numba(x, pool, strides, pads, out=None):
    from convlab.kernels import pool as nb_pool

    return nb_pool.avg_pool2d_forward(x, pool, strides, pads, out=out)


def _into(table, backend, out, *args):
    """``table[backend](*args)``, written into ``out`` when given: the numba kernels write it
    directly, the other backends' result is copied in."""
    if backend == "numba":
        return table[backend](*args, out=out)
    result = table[backend](*args)
    if out is None:
        return result
    np.copyto(out, result)
    return out


_MAX = {"reference": _max_pool_reference, "numpy": _max_pool_numpy, "numba": _max_pool_numba}
_AVG = {"reference": _avg_pool_reference, "numpy": _avg_pool_numpy, "numba": _avg_pool_numba}


# --------------------------------------------------------------------------- backward
def _prepare_backward(dy, x, pool_size, strides, padding, backend):
    x, pool, strides, pads, backend = _prepare(x, pool_size, strides, padding, backend)
    expected = (x.shape[0],) + _out_hw(x, pool, strides, pads) + (x.shape[3],)
    dy = as_float_array(dy, "dy", 4, dtype=x.dtype, shape_hint="(N, OH, OW, C)")
    if dy.shape != expected:
        raise ValueError(
            f"dy must have the forward output's shape (N, OH, OW, C) = {expected} for x.shape={x.shape}, "
            f"pool_size={pool}, strides={strides}, padding={padding!r}; got dy.shape={dy.shape}"
        )
    return dy, x, pool, strides, pads, backend


def _max_pool_backward_reference(dy, x, pool, strides, pads):
    """For every output number: find the first maximum (row-major) among the window's real
    pixels and send it ``dy`` there.

    The window is cut to its real (non-pad) pixels, so a pad never receives a
    gradient — it matters when every real pixel is −inf, which ties with the
    pads. ``np.argmax`` of the flattened window returns the first maximum in
    row-major order (TensorFlow's tie rule), or the first NaN. ``+=``, not ``=``:
    overlapping windows may pick the same pixel.
    """
    dx = np.zeros_like(x)
    n_img, oh, ow, n_ch = dy.shape
    h, w = x.shape[1:3]
    ph, pw = pool
    sh, sw = strides
    top, _, left, _ = pads
    for n in range(n_img):
        for i in range(oh):
            r0, r1 = max(i * sh - top, 0), min(i * sh - top + ph, h)  # the window's real rows
            for j in range(ow):
                q0, q1 = max(j * sw - left, 0), min(j * sw - left + pw, w)
                for c in range(n_ch):
                    k = int(np.argmax(x[n, r0:r1, q0:q1, c]))  # flat index of the first maximum
                    u, v = divmod(k, q1 - q0)
                    dx[n, r0 + u, q0 + v, c] += dy[n, i, j, c]
    return dx


def _avg_pool_backward_reference(dy, x, pool, strides, pads):
    """Every real pixel of a window receives ``dy / count`` (count = real pixels in the window)."""
    real = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), pads)
    dxp = np.zeros((x.shape[0],) + real.shape[1:3] + (x.shape[3],), dtype=x.dtype)
    n_img, oh, ow, n_ch = dy.shape
    ph, pw = pool
    sh, sw = strides
    for n in range(n_img):
        for i in range(oh):
            for j in range(ow):
                rows = slice(i * sh, i * sh + ph)
                cols = slice(j * sw, j * sw + pw)
                # max(…, 1): a window made only of explicit pads (count 0) touches no real
                # pixel; its share lands on pads that are cropped below.
                count = max(np.sum(real[0, rows, cols, 0]), 1)
                for c in range(n_ch):
                    dxp[n, rows, cols, c] += dy[n, i, j, c] / count
    return crop_nhwc(dxp, pads)  # the pads' share is dropped here


def _scatter_taps(per_tap, shape_p, dtype, pool, strides, oh, ow):
    """Add ``per_tap(u, v) -> (N, OH, OW, C)`` into a padded gradient, one strided slice per tap."""
    dxp = np.zeros(shape_p, dtype=dtype)
    sh, sw = strides
    for u in range(pool[0]):
        for v in range(pool[1]):
            dxp[:, u : u + sh * (oh - 1) + 1 : sh, v : v + sw * (ow - 1) + 1 : sw, :] += per_tap(u, v)
    return dxp


def _max_pool_backward_numpy(dy, x, pool, strides, pads):
    xp = pad_nhwc(x, pads, -np.inf)
    v = windows(xp, pool, strides)  # (N, OH, OW, C, PH, PW)
    n_img, oh, ow, n_ch = dy.shape
    flat = v.reshape(n_img, oh, ow, n_ch, -1)
    arg = flat.argmax(axis=-1)  # first maximum (or first NaN), row-major
    if any(pads):
        # A window whose real pixels are all −inf ties with its −inf pads, and argmax may pick
        # a pad: the gradient goes to the window's first real pixel instead (the rule above).
        real = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), dtype=np.int8), pads)
        first_real = windows(real, pool, strides).reshape(1, oh, ow, 1, -1).argmax(axis=-1)
        arg = np.where(np.take_along_axis(flat, arg[..., None], axis=-1)[..., 0] == -np.inf, first_real, arg)
    pw = pool[1]
    zero = np.zeros((), dtype=dy.dtype)
    dxp = _scatter_taps(lambda u, w: np.where(arg == u * pw + w, dy, zero), xp.shape, x.dtype, pool, strides, oh, ow)
    return crop_nhwc(dxp, pads)


def _avg_pool_backward_numpy(dy, x, pool, strides, pads):
    real = pad_nhwc(np.ones((1,) + x.shape[1:3] + (1,), dtype=x.dtype), pads)
    counts = windows(real, pool, strides).sum(axis=(4, 5))  # (1, OH, OW, 1)
    share = dy / np.maximum(counts, 1)  # count 0 only for all-pad windows, whose share is cropped
    n_img, oh, ow, n_ch = dy.shape
    shape_p = (n_img,) + real.shape[1:3] + (n_ch,)
    dxp = _scatter_taps(lambda u, w: share, shape_p, x.dtype, pool, strides, oh, ow)
    return crop_nhwc(dxp, pads)


def _max_pool_backward_numba(dy, x, pool, strides, pads, out=None):
    from convlab.kernels import pool as nb_pool

    return nb_pool.max_pool2d_backward(dy, x, pool, strides, pads, out=out)


def _avg_pool_backward_numba(dy, x, pool, strides, pads, out=None):
    from convlab.kernels import pool as nb_pool

    return nb_pool.avg_pool2d_backward(dy, x, pool, strides, pads, out=out)


_MAX_BACKWARD = {
    "reference": _max_pool_backward_reference,
    "numpy": _max_pool_backward_numpy,
    "numba": _max_pool_backward_numba,
}
_AVG_BACKWARD = {
    "reference": _avg_pool_backward_reference,
    "numpy": _avg_pool_backward_numpy,
    "numba": _avg_pool_backward_numba,
}


def max_pool2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    pool_size: IntOrPair = 2,
    strides: IntOrPair | None = None,
    padding: Padding = "valid",
    backend: str | None = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`max_pool2d` with respect to ``x``.

    Args:
        dy: ``(N, OH, OW, C)`` — ``∂L/∂y``; must have the forward output's shape
            (converted to ``x``'s dtype).
        x: ``(N, H, W, C)`` — the forward input.
        pool_size, strides, padding, backend: exactly as given to :func:`max_pool2d`.
        out: optional ``(N, H, W, C)`` array of ``x``'s dtype to write ``dx`` into (C-contiguous,
            writeable, not overlapping ``dy`` or ``x``), as NumPy's ``out=``: a training loop passes
            the same array every step, so no memory is allocated (or faulted in) for ``dx``.

    Returns:
        ``dx (N, H, W, C)`` (``out`` when given) of ``x``'s dtype. Each ``dy[n, i, j, c]`` goes to ONE
        pixel: the first maximum in row-major order among its window's real
        (non-pad) pixels, NaN counting as the largest (TensorFlow's CPU
        ``MaxPoolGrad`` rule on ties and on all −inf windows; the module notes
        give the NaN rule); overlapping windows add up.

    Raises:
        ValueError: ``dy`` of the wrong shape (named), an ``out`` of another shape or dtype, not
            C-contiguous, read-only or overlapping the inputs, and every error of :func:`max_pool2d`.
        TypeError: non-numeric dtype, malformed pool_size/strides/padding, ``out`` not an array.
    """
    dy, x, pool, strides, pads, backend = _prepare_backward(dy, x, pool_size, strides, padding, backend)
    out = check_out(out, x.shape, x.dtype, inputs=(dy, x))
    return _into(_MAX_BACKWARD, backend, out, dy, x, pool, strides, pads)


def avg_pool2d_backward(
    dy: ArrayLike,
    x: ArrayLike,
    pool_size: IntOrPair = 2,
    strides: IntOrPair | None = None,
    padding: Padding = "valid",
    backend: str | None = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d` with respect to ``x``: each real pixel gets ``dy / count``.

    ``count`` is the number of real (non-pad) pixels in the window, as in the
    forward pass (TensorFlow's "same" rule). Arguments (``out`` included), shapes and errors as
    :func:`max_pool2d_backward`. The values of ``x`` do not matter, only its shape.
    """
    dy, x, pool, strides, pads, backend = _prepare_backward(dy, x, pool_size, strides, padding, backend)
    out = check_out(out, x.shape, x.dtype, inputs=(dy, x))
    return _into(_AVG_BACKWARD, backend, out, dy, x, pool, strides, pads)


def max_pool2d(
    x: ArrayLike,
    pool_size: IntOrPair = 2,
    strides: IntOrPair | None = None,
    padding: Padding = "valid",
    backend: str | None = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Max pooling over ``pool_size`` windows of each channel (Keras ``MaxPooling2D``).

    Args:
        x: ``(N, H, W, C)``; float32/float64 keep their dtype, integers → float64.
        pool_size: int or ``(PH, PW)``, ≥ 1.
        strides: int or pair; ``None`` → ``pool_size`` (Keras' default).
        padding: as :func:`convlab.conv2d`; pads count as −inf (never the max).
        backend: ``"reference"``, ``"numpy"``, ``"numba"`` (default).
        out: optional ``(N, OH, OW, C)`` array of ``x``'s dtype to write the result into
            (C-contiguous, writeable, not overlapping ``x``), as NumPy's ``out=``: a training loop
            passes the same array every step, so no memory is allocated (or faulted in) for it.

    Returns:
        ``(N, OH, OW, C)`` (``out`` when given), ``OH = floor((H + P − PH)/S) + 1``. A window holding a NaN
        gives NaN, on every backend (as ``np.max``; TensorFlow skips NaN — see the module notes).

    Raises:
        ValueError/TypeError naming the argument (ndim, empty, pool_size/strides
        ≤ 0, pool larger than the padded input, unknown padding or backend; an ``out``
        of another shape or dtype, not C-contiguous, read-only or overlapping ``x``:
        ValueError, not an array: TypeError).
    """
    x, pool, strides, pads, backend = _prepare(x, pool_size, strides, padding, backend)
    out = check_out(out, _out_shape(x, pool, strides, pads), x.dtype, inputs=(x,))
    return _into(_MAX, backend, out, x, pool, strides, pads)


def avg_pool2d(
    x: ArrayLike,
    pool_size: IntOrPair = 2,
    strides: IntOrPair | None = None,
    padding: Padding = "valid",
    backend: str | None = None,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Average pooling (Keras ``AveragePooling2D``); with ``"same"`` pads are not counted.

    Arguments (``out`` included), shapes and errors as :func:`max_pool2d`.
    """
    x, pool, strides, pads, backend = _prepare(x, pool_size, strides, padding, backend)
    out = check_out(out, _out_shape(x, pool, strides, pads), x.dtype, inputs=(x,))
    return _into(_AVG, backend, out, x, pool, strides, pads)


# --------------------------------------------------------------------------- training: the maximum's position
def max_pool2d_with_index(
    x: ArrayLike,
    pool_size: IntOrPair = 2,
    strides: IntOrPair | None = None,
    padding: Padding = "valid",
    backend: str | None = None,
    *,
    out: np.ndarray | None = None,
    index_out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`max_pool2d`, also saying which window pixel each output's gradient goes to.

    For a training step (``MaxPooling2D`` uses it): its backward pass,
    :func:`max_pool2d_backward_from_index`, then reads this small array and ``dy``
    instead of reading ``x`` again (in float32 a 2×2 window's index is a sixteenth of
    ``x``'s bytes).

    Args:
        x, pool_size, strides, padding, backend, out: as :func:`max_pool2d`.
        index_out: optional ``uint8`` array of the output's shape for the index (checked as ``out``).

    Returns:
        ``(y, index)``: ``y`` as :func:`max_pool2d`; ``index (N, OH, OW, C)`` ``uint8``, the
        position ``u·PW + v`` in its window of the pixel :func:`max_pool2d_backward` sends
        ``dy[n, i, j, c]`` to — or ``None`` where there is no index path: backends other than
        numba, overlapping or padded windows, windows of more than 256 pixels (then use
        :func:`max_pool2d_backward` with ``x``).

    Raises:
        As :func:`max_pool2d`; ``index_out`` as ``out``.
    """
    from convlab.kernels import pool as nb_pool

    x, pool, strides, pads, backend = _prepare(x, pool_size, strides, padding, backend)
    shape = _out_shape(x, pool, strides, pads)
    out = check_out(out, shape, x.dtype, inputs=(x,))
    if backend != "numba" or not nb_pool.has_index(pool, strides, pads):
        return _into(_MAX, backend, out, x, pool, strides, pads), None
    inputs = (x,) if out is None else (x, out)
    index = check_out(index_out, shape, nb_pool.INDEX_DTYPE, name="index_out", inputs=inputs)
    if index is None:
        index = np.empty(shape, dtype=nb_pool.INDEX_DTYPE)
    return nb_pool.max_pool2d_forward(x, pool, strides, pads, out=out, index=index), index


def max_pool2d_backward_from_index(
    dy: ArrayLike,
    index: np.ndarray,
    input_shape: tuple[int, int, int, int],
    pool_size: IntOrPair = 2,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient of :func:`max_pool2d` from the ``index`` :func:`max_pool2d_with_index` returned:
    the same numbers as :func:`max_pool2d_backward` with that forward's ``x``.

    Args:
        dy: ``(N, OH, OW, C)``, converted to a float dtype (float32 stays float32).
        index: the ``uint8`` index, ``dy``'s shape.
        input_shape: the forward input's shape ``(N, H, W, C)``.
        pool_size: as given to the forward (its strides were ``pool_size``, no padding).
        out: optional array for ``dx`` (``input_shape``, ``dy``'s dtype), checked as in
            :func:`max_pool2d_backward`.

    Returns:
        ``dx`` of shape ``input_shape`` and ``dy``'s dtype (``out`` when given).

    Raises:
        ValueError: ``dy`` or ``index`` not of the forward output's shape, an ``index`` that is not
            a C-contiguous ``uint8`` array, ``out`` as in :func:`max_pool2d_backward`.
    """
    from convlab.kernels import pool as nb_pool

    pool = pair(pool_size, "pool_size")
    input_shape = tuple(int(d) for d in input_shape)
    dy = as_float_array(dy, "dy", 4, shape_hint="(N, OH, OW, C)")
    n_img, h, w, n_ch = input_shape
    expected = (n_img, h // pool[0], w // pool[1], n_ch)
    if dy.shape != expected:
        raise ValueError(
            f"dy must have the forward output's shape {expected} for input_shape={input_shape}, "
            f"pool_size={pool}; got dy.shape={dy.shape}"
        )
    if not (
        isinstance(index, np.ndarray)
        and index.dtype == nb_pool.INDEX_DTYPE
        and index.shape == expected
        and index.flags.c_contiguous
    ):
        raise ValueError(
            f"index must be the C-contiguous uint8 array of shape {expected} that max_pool2d_with_index "
            f"returned, got {type(index).__name__} {getattr(index, 'dtype', '')} {getattr(index, 'shape', '')}"
        )
    out = check_out(out, input_shape, dy.dtype, inputs=(dy, index))
    return nb_pool.max_pool2d_backward_index(dy, index, input_shape, pool, out=out)
