"""Global average and max pooling, as Keras' ``GlobalAveragePooling2D`` / ``GlobalMaxPooling2D``.

A global pooling layer reduces each channel of each image to one number: the
mean or the maximum over all ``H × W`` pixels. ``(N, H, W, C)`` → ``(N, C)``,
or ``(N, 1, 1, C)`` with ``keepdims=True`` (Keras' argument). It replaces
``Flatten`` before a network's classifier (Lin et al. 2013, "Network In
Network"; ResNet, MobileNet): the classifier's weights no longer depend on the
image size. Keras 3 computes them as ``ops.mean`` / ``ops.max`` over axes 1
and 2, i.e. ``tf.reduce_mean`` / ``tf.reduce_max``::

    avg: y[n, c] = (1 / (H·W)) · Σ_{h,w} x[n, h, w, c]
    max: y[n, c] = max_{h,w} x[n, h, w, c]

Backward passes
---------------
- average: every pixel receives the same share, ``dx[n, h, w, c] = dy[n, c] / (H·W)``.
- max: TensorFlow's gradient of ``reduce_max`` (``_MinOrMaxGrad`` in
  ``tensorflow/python/ops/math_grad.py``; measured with ``tf.GradientTape`` on
  ``keras.layers.GlobalMaxPooling2D`` and ``tf.reduce_max``, TF 2.21)::

      dx[n, h, w, c] = ([x[n, h, w, c] == y[n, c]] / count[n, c]) · dy[n, c]
      count[n, c]    = the number of pixels of channel c equal to its maximum

  so **tied maxima share the gradient equally** — unlike ``MaxPooling2D``'s
  gradient (:mod:`convlab.ops.pooling`), which sends each window's gradient to
  its first maximum only. Both are TensorFlow's rules; they differ because TF
  implements the two operations differently. A channel of only −inf values is a
  tie of all its pixels (each gets ``dy / (H·W)``).

Non-finite values (every backend; TensorFlow 2.21 gives the same, measured):
- forward: NaN propagates (a channel holding a NaN has maximum NaN and mean
  NaN); sums are taken in the input's dtype, so a float32 mean overflows to inf
  where its sum does.
- max backward, following the formula above in IEEE arithmetic: a NaN maximum
  equals no pixel, so ``count = 0`` and *every* pixel of that channel gets
  ``0/0 = NaN``; and a pixel that is not a maximum gets ``0 · dy``, which is NaN
  when ``dy`` is ±inf or NaN. convlab keeps these (it is TensorFlow's gradient,
  and a NaN gradient makes the NaN visible rather than sending it nowhere).

Backends: ``"reference"`` (loops over images and channels), ``"numpy"``
(reductions over axes 1 and 2), ``"numba"`` (default; :mod:`convlab.kernels.global_pool`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import as_float_array, check_backend, check_bool

__all__ = ["global_avg_pool2d", "global_max_pool2d", "global_avg_pool2d_backward", "global_max_pool2d_backward"]


# --------------------------------------------------------------------------- checks
def _prepare(x, keepdims, backend):
    x = as_float_array(x, "x", 4, shape_hint="(N, H, W, C)")
    return x, check_bool(keepdims, "keepdims"), check_backend(backend)


def _prepare_backward(dy, x, keepdims, backend):
    x, keepdims, backend = _prepare(x, keepdims, backend)
    n_img, _, _, n_ch = x.shape
    expected, hint = ((n_img, 1, 1, n_ch), "(N, 1, 1, C)") if keepdims else ((n_img, n_ch), "(N, C)")
    dy = as_float_array(dy, "dy", None, dtype=x.dtype)
    if dy.shape != expected:
        raise ValueError(
            f"dy must have the forward output's shape {hint} = {expected} for x.shape={x.shape} and "
            f"keepdims={keepdims}; got dy.shape={dy.shape}"
        )
    return dy.reshape(n_img, n_ch), x, keepdims, backend


def _shaped(y, keepdims):
    return y.reshape(y.shape[0], 1, 1, y.shape[1]) if keepdims else y


# --------------------------------------------------------------------------- reference
def _avg_reference(x):
    """For every image and channel: the sum of its ``H·W`` pixels, divided by ``H·W``."""
    n_img, h, w, n_ch = x.shape
    y = np.empty((n_img, n_ch), dtype=x.dtype)
    for n in range(n_img):
        for c in range(n_ch):
            y[n, c] = np.sum(x[n, :, :, c]) / x.dtype.type(h * w)
    return y


def _max_reference(x):
    """For every image and channel: the largest of its ``H·W`` pixels (NaN if one is NaN, as ``np.max``)."""
    n_img, _, _, n_ch = x.shape
    y = np.empty((n_img, n_ch), dtype=x.dtype)
    for n in range(n_img):
        for c in range(n_ch):
            y[n, c] = np.max(x[n, :, :, c])
    return y


def _avg_backward_reference(dy, x):
    """Every pixel of channel ``c`` of image ``n`` receives ``dy[n, c] / (H·W)``."""
    n_img, h, w, n_ch = x.shape
    dx = np.empty_like(x)
    for n in range(n_img):
        for c in range(n_ch):
            dx[n, :, :, c] = dy[n, c] / x.dtype.type(h * w)
    return dx


def _max_backward_reference(dy, x):
    """Every pixel equal to its channel's maximum receives ``dy / count`` (ties share), the
    others ``0 · dy`` — TensorFlow's ``(indicator / count) · dy``, in that order, in ``x``'s dtype."""
    n_img, h, w, n_ch = x.shape
    y = _max_reference(x)
    dx = np.empty_like(x)
    one, zero = x.dtype.type(1), x.dtype.type(0)
    with np.errstate(invalid="ignore", divide="ignore"):  # count 0 (a NaN maximum): 0/0 = NaN, as TF
        for n in range(n_img):
            for c in range(n_ch):
                count = x.dtype.type(np.sum(x[n, :, :, c] == y[n, c]))
                for r in range(h):
                    for q in range(w):
                        indicator = one if x[n, r, q, c] == y[n, c] else zero
                        dx[n, r, q, c] = (indicator / count) * dy[n, c]
    return dx


# --------------------------------------------------------------------------- numpy
def _avg_numpy(x):
    return x.sum(axis=(1, 2)) / x.dtype.type(x.shape[1] * x.shape[2])


def _max_numpy(x):
    return x.max(axis=(1, 2))


def _avg_backward_numpy(dy, x):
    share = dy / x.dtype.type(x.shape[1] * x.shape[2])
    return np.ascontiguousarray(np.broadcast_to(share[:, None, None, :], x.shape))


def _max_backward_numpy(dy, x):
    indicator = (x == x.max(axis=(1, 2), keepdims=True)).astype(x.dtype)
    count = indicator.sum(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (indicator / count) * dy[:, None, None, :]


# --------------------------------------------------------------------------- numba
def _avg_numba(x):
    from convlab.kernels import global_pool as nb_gp

    return nb_gp.global_avg_forward(x)


def _max_numba(x):
    from convlab.kernels import global_pool as nb_gp

    return nb_gp.global_max_forward(x)


def _avg_backward_numba(dy, x):
    from convlab.kernels import global_pool as nb_gp

    return nb_gp.global_avg_backward(np.ascontiguousarray(dy), x.shape)


def _max_backward_numba(dy, x):
    from convlab.kernels import global_pool as nb_gp

    return nb_gp.global_max_backward(np.ascontiguousarray(dy), x)


_AVG = {"reference": _avg_reference, "numpy": _avg_numpy, "numba": _avg_numba}
_MAX = {"reference": _max_reference, "numpy": _max_numpy, "numba": _max_numba}
_AVG_BACKWARD = {"reference": _avg_backward_reference, "numpy": _avg_backward_numpy, "numba": _avg_backward_numba}
_MAX_BACKWARD = {"reference": _max_backward_reference, "numpy": _max_backward_numpy, "numba": _max_backward_numba}


# --------------------------------------------------------------------------- public
def global_avg_pool2d(x: ArrayLike, *, keepdims: bool = False, backend: str | None = None) -> np.ndarray:
    """Mean of each channel over all pixels — Keras' ``GlobalAveragePooling2D``.

    ``y[n, c] = (1/(H·W)) · Σ_{h,w} x[n, h, w, c]`` (Keras 3: ``ops.mean(x, axis=[1, 2])``).

    Args:
        x: ``(N, H, W, C)``; float32/float64 keep their dtype, integers → float64.
        keepdims: keyword-only; ``False`` (Keras' default) → ``(N, C)``, ``True`` → ``(N, 1, 1, C)``.
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` (default ``None`` → numba).

    Returns:
        ``(N, C)`` or ``(N, 1, 1, C)`` of ``x``'s dtype. NaN/inf propagate (sums in ``x``'s dtype).

    Raises:
        ValueError: ``x`` not 4-D or empty, unknown backend.
        TypeError: non-numeric ``x``, ``keepdims`` not a bool.
    """
    x, keepdims, backend = _prepare(x, keepdims, backend)
    return _shaped(_AVG[backend](x), keepdims)


def global_max_pool2d(x: ArrayLike, *, keepdims: bool = False, backend: str | None = None) -> np.ndarray:
    """Maximum of each channel over all pixels — Keras' ``GlobalMaxPooling2D``.

    ``y[n, c] = max_{h,w} x[n, h, w, c]`` (Keras 3: ``ops.max(x, axis=[1, 2])``).
    Arguments, shapes and errors as :func:`global_avg_pool2d`; a channel holding a
    NaN gives NaN (as TensorFlow's ``reduce_max``, measured).
    """
    x, keepdims, backend = _prepare(x, keepdims, backend)
    return _shaped(_MAX[backend](x), keepdims)


def global_avg_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, *, keepdims: bool = False, backend: str | None = None
) -> np.ndarray:
    """Gradient of :func:`global_avg_pool2d`: ``dx[n, h, w, c] = dy[n, c] / (H·W)``.

    Args:
        dy: ``∂L/∂y``, the forward output's shape — ``(N, C)``, or ``(N, 1, 1, C)`` with
            ``keepdims=True``; converted to ``x``'s dtype.
        x: ``(N, H, W, C)``, the forward input (only its shape and dtype matter).
        keepdims, backend: exactly as given to the forward call.

    Returns:
        ``dx (N, H, W, C)`` of ``x``'s dtype.

    Raises:
        ValueError: ``dy`` of the wrong shape (named, with the expected shape), and the
            errors of :func:`global_avg_pool2d`.
        TypeError: non-numeric arrays, ``keepdims`` not a bool.
    """
    dy, x, _, backend = _prepare_backward(dy, x, keepdims, backend)
    return _AVG_BACKWARD[backend](dy, x)


def global_max_pool2d_backward(
    dy: ArrayLike, x: ArrayLike, *, keepdims: bool = False, backend: str | None = None
) -> np.ndarray:
    """Gradient of :func:`global_max_pool2d` — TensorFlow's rule for ``reduce_max``: ties share equally.

    ``dx[n, h, w, c] = ([x[n, h, w, c] == y[n, c]] / count[n, c]) · dy[n, c]`` with
    ``count[n, c]`` the number of pixels equal to the maximum ``y[n, c]`` (module
    docstring: why it differs from ``MaxPooling2D``'s first-maximum rule, and NaN: a
    channel whose maximum is NaN gets NaN everywhere, as in TensorFlow).

    Arguments, shapes and errors as :func:`global_avg_pool2d_backward` (here the values
    of ``x`` matter).
    """
    dy, x, _, backend = _prepare_backward(dy, x, keepdims, backend)
    return _MAX_BACKWARD[backend](dy, x)
