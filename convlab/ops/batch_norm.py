"""Batch normalisation, as Keras 3's ``BatchNormalization`` computes it, in three backends.

What it computes (Ioffe & Szegedy 2015, "Batch Normalization: Accelerating Deep
Network Training by Reducing Internal Covariate Shift", Algorithm 1)
-------------------------------------------------------------------------------
Per channel ``c`` (the last axis), over every other axis — ``N, H, W`` for
images ``(N, H, W, C)``, ``N`` for features ``(N, F)`` — that is over
``M = N·H·W`` numbers::

    μ_c  = (1/M) Σ x[..., c]                       batch mean
    σ²_c = (1/M) Σ (x[..., c] − μ_c)²              batch variance (biased: ÷ M)
    x̂    = (x − μ_c) / sqrt(σ²_c + ε)              normalised
    y    = γ_c · x̂ + β_c                           scaled and shifted

- **Training** (``training=True``) normalises with the batch statistics and
  updates the moving ones, Keras' rule (``BatchNormalization.call``)::

      moving_mean     ← moving_mean · momentum + μ  · (1 − momentum)
      moving_variance ← moving_variance · momentum + σ² · (1 − momentum)

  The variance is the *biased* one (÷ M) both to normalise and in the moving
  update: Keras 3 takes both from ``ops.moments`` (``tf.nn.moments``:
  ``mean((x − mean(x))²)``), with no ``M/(M − 1)`` correction (PyTorch's
  ``BatchNorm2d`` applies one to its running variance; Keras 3 does not).
- **Inference** (``training=False``) normalises with the moving statistics,
  which stay as they are.

``γ`` (``gamma``, Keras' ``scale=True``) and ``β`` (``beta``, ``center=True``)
are optional: ``None`` is Keras' ``scale=False`` / ``center=False`` (γ = 1, β = 0).
Defaults are Keras': ``momentum=0.99``, ``epsilon=1e-3``.

Precision (float32)
-------------------
The statistics are accumulated in float64 on every backend — sums over ``M``
numbers in float32 would lose bits as ``M`` grows — and rounded once to ``x``'s
dtype: those are the mean and variance returned. The moving update is then
computed in ``x``'s dtype, as Keras' expression: ``moving·T(momentum) +
batch·T(1 − momentum)`` with ``T`` the dtype and ``1 − momentum`` taken in Python
floats first. The numpy and numba backends normalise in ``x``'s dtype, as
Keras; the reference in float64 from the rounded statistics, rounded once.
TensorFlow sums in float32 with a tree reduction, so in float32 the statistics
agree with Keras' to about one unit in the last place, not bit for bit.

Backward pass (:func:`batch_norm_backward`; CS231n, assignment 2 and the
"Batch Normalization" lecture notes)
------------------------------------
In training mode ``μ`` and ``σ²`` depend on every ``x`` of the channel, so the
gradient flows through them too. Back-propagating the graph above step by step
and simplifying gives, per channel, with ``σ = sqrt(σ²_c + ε)``::

    ∂L/∂β = Σ dy          ∂L/∂γ = Σ dy · x̂
    ∂L/∂x = (γ / (M·σ)) · (M·dy − Σ dy − x̂ · Σ(dy · x̂))

In inference mode the statistics are constants: ``∂L/∂x = dy · γ / sqrt(moving_variance + ε)``
and ``x̂`` uses the moving statistics.

Backends (``backend=``):
- ``"reference"``: explicit loops per channel that follow the formulas step by
  step (forward: mean, variance, normalise, scale and shift; backward: the
  computational graph's steps, one local derivative at a time, in float64) —
  the specification;
- ``"numpy"``: vectorised over all channels, the backward in the simplified form;
- ``"numba"`` (default): the kernels in :mod:`convlab.kernels.batch_norm`
  (one pass over ``x`` per set of sums, all channels at once, parallel).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import as_float_array, check_backend, check_bool, check_float

__all__ = ["batch_norm", "batch_norm_backward", "BatchNormOutput"]


class BatchNormOutput(NamedTuple):
    """What :func:`batch_norm` returns.

    Attributes:
        y: the normalised, scaled and shifted ``x`` (``x``'s shape and dtype).
        mean, variance: ``(C,)`` — the statistics used: the batch's (training) or the
            moving ones (inference). The variance is the biased one (÷ M).
        moving_mean, moving_variance: ``(C,)`` — the updated moving statistics
            (training), the given ones unchanged (inference); ``None`` where none
            was given in training mode.
    """

    y: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    moving_mean: np.ndarray | None
    moving_variance: np.ndarray | None


# --------------------------------------------------------------------------- checks
def _channel_array(a, name, x):
    """A ``(C,)`` array of ``x``'s dtype, or ``None``."""
    if a is None:
        return None
    n_ch = x.shape[-1]
    arr = as_float_array(a, name, 1, dtype=x.dtype, shape_hint="(C,)")
    if arr.shape != (n_ch,):
        raise ValueError(
            f"{name} must have shape (C,) = ({n_ch},) to match the {n_ch} channels of x (x.shape={x.shape}), "
            f"got {name}.shape={arr.shape}"
        )
    return arr


def _check_x(x, name="x"):
    x = as_float_array(x, name, shape_hint="(N, H, W, C) or (N, F)")
    if x.ndim < 2:
        raise ValueError(
            f"{name} must be at least 2-D, (N, H, W, C) or (N, F): the statistics are taken over every axis "
            f"but the last (the channels), got shape {x.shape}"
        )
    return x


def _require_moving(moving_mean, moving_variance):
    """Inference normalises with the moving statistics: both must be given."""
    for value, name in ((moving_mean, "moving_mean"), (moving_variance, "moving_variance")):
        if value is None:
            raise ValueError(
                f"{name} is required when training=False: inference normalises with the moving statistics "
                f"(pass the layer's moving_mean and moving_variance, shape (C,)), got None"
            )


def _inv_std(variance, epsilon):
    """``1 / sqrt(variance + ε)`` in the variance's dtype (ε rounded to it, as TensorFlow does)."""
    dt = variance.dtype.type
    with np.errstate(invalid="ignore", divide="ignore"):  # a negative moving variance gives NaN, as IEEE sqrt
        return dt(1) / np.sqrt(variance + dt(epsilon))


# --------------------------------------------------------------------------- reference
def _sqrt(v: float) -> np.float64:
    """IEEE square root, as a NumPy float so that what divides by it follows IEEE too: NaN for a
    negative number (a moving variance below −ε), ±inf for a division by 0 (``math.sqrt`` and Python's
    ``/`` would raise instead)."""
    return np.float64(math.sqrt(v) if v >= 0 else math.nan)


def _moments_reference(x2):
    """Batch mean and (biased) variance of each channel of ``x2 (M, C)``, with explicit loops in float64."""
    m, n_ch = x2.shape
    means = np.empty(n_ch)
    variances = np.empty(n_ch)
    for c in range(n_ch):
        # 1. the mean of channel c over every image and pixel
        total = 0.0
        for p in range(m):
            total += float(x2[p, c])
        mu = total / m
        # 2. the variance: the mean squared distance from that mean (÷ M, as Keras)
        total = 0.0
        for p in range(m):
            d = float(x2[p, c]) - mu
            total += d * d
        means[c] = mu
        variances[c] = total / m
    return means, variances


@np.errstate(divide="ignore", invalid="ignore", over="ignore")  # IEEE results (inf, NaN), as the other backends
def _normalize_reference(x2, mean, variance, gamma, beta, epsilon):
    """``y = γ·(x − μ)/sqrt(σ² + ε) + β``, one number at a time (float64, rounded once to ``x``'s dtype)."""
    m, n_ch = x2.shape
    y = np.empty_like(x2)
    for c in range(n_ch):
        std = _sqrt(float(variance[c]) + epsilon)
        g = 1.0 if gamma is None else float(gamma[c])
        b = 0.0 if beta is None else float(beta[c])
        for p in range(m):
            xhat = (float(x2[p, c]) - float(mean[c])) / std  # 3. normalise
            y[p, c] = g * xhat + b  # 4. scale and shift
    return y


@np.errstate(divide="ignore", invalid="ignore", over="ignore")  # IEEE results (inf, NaN), as the other backends
def _normalize_numpy(x2, mean, variance, gamma, beta, epsilon):
    y = (x2 - mean) * _inv_std(variance, epsilon)
    if gamma is not None:
        y *= gamma
    if beta is not None:
        y += beta
    return y


@np.errstate(divide="ignore", invalid="ignore", over="ignore")  # IEEE results (inf, NaN), as the other backends
def _moments_numpy(x2):
    mean64 = np.sum(x2, axis=0, dtype=np.float64) / x2.shape[0]
    return mean64, np.sum(np.square(x2 - mean64), axis=0) / x2.shape[0]


def _moments_numba(x2):
    from convlab.kernels import batch_norm as nb_bn

    return nb_bn.moments(x2)


def _normalize_numba(x2, mean, variance, gamma, beta, epsilon):
    from convlab.kernels import batch_norm as nb_bn

    n_ch = x2.shape[1]
    gamma = np.ones(n_ch, x2.dtype) if gamma is None else gamma
    beta = np.zeros(n_ch, x2.dtype) if beta is None else beta
    y = np.empty_like(x2)
    nb_bn.normalize(x2, mean, _inv_std(variance, epsilon), gamma, beta, y)
    return y


_MOMENTS = {"reference": _moments_reference, "numpy": _moments_numpy, "numba": _moments_numba}
_NORMALIZE = {"reference": _normalize_reference, "numpy": _normalize_numpy, "numba": _normalize_numba}


# --------------------------------------------------------------------------- public
def batch_norm(
    x: ArrayLike,
    gamma: ArrayLike | None = None,
    beta: ArrayLike | None = None,
    *,
    moving_mean: ArrayLike | None = None,
    moving_variance: ArrayLike | None = None,
    training: bool = False,
    momentum: float = 0.99,
    epsilon: float = 1e-3,
    backend: str | None = None,
) -> BatchNormOutput:
    """Batch normalisation over every axis but the last — what Keras 3's ``BatchNormalization`` computes.

    Args:
        x: ``(N, H, W, C)`` images or ``(N, F)`` features (any array of at least 2
            axes; the last is the channel axis). float32/float64 keep their dtype,
            integers → float64.
        gamma: ``(C,)`` scale ``γ``, or ``None`` (Keras ``scale=False``: γ = 1).
        beta: ``(C,)`` offset ``β``, or ``None`` (Keras ``center=False``: β = 0).
        moving_mean, moving_variance: ``(C,)`` moving statistics (keyword-only).
            Required when ``training=False``; optional when training (then the
            updated ones are ``None`` in the result).
        training: ``True``: normalise with the batch statistics and update the
            moving ones; ``False`` (default, Keras' inference): use the moving ones.
        momentum: in ``[0, 1]``, Keras' default 0.99 (the weight of the old moving value).
        epsilon: ``> 0``, added to the variance (Keras' default 1e-3).
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` (default ``None`` → numba).

    Returns:
        :class:`BatchNormOutput` ``(y, mean, variance, moving_mean, moving_variance)``,
        every array of ``x``'s dtype and a fresh array; see the module docstring for the
        formulas. NaN/inf propagate (a NaN in a channel makes its batch statistics NaN).

    Raises:
        ValueError: ``x`` with fewer than 2 axes or empty; ``gamma``, ``beta``,
            ``moving_mean`` or ``moving_variance`` not of shape ``(C,)``; a moving statistic
            missing when ``training=False``; ``epsilon`` not > 0; ``momentum`` outside
            ``[0, 1]``, NaN or inf; an unknown backend.
        TypeError: a non-numeric array, ``training`` not a bool, ``momentum``/``epsilon``
            not a real number.

    Source: Ioffe & Szegedy 2015 (Algorithm 1); Keras 3 ``BatchNormalization.call``
    and ``ops.moments`` (the biased variance, also for the moving update).
    """
    x = _check_x(x)
    gamma = _channel_array(gamma, "gamma", x)
    beta = _channel_array(beta, "beta", x)
    moving_mean = _channel_array(moving_mean, "moving_mean", x)
    moving_variance = _channel_array(moving_variance, "moving_variance", x)
    training = check_bool(training, "training")
    momentum = check_float(momentum, "momentum", low=0.0, high=1.0)
    epsilon = check_float(epsilon, "epsilon", low=0.0, low_open=True)
    backend = check_backend(backend)
    if not training:
        _require_moving(moving_mean, moving_variance)
    x2 = x.reshape(-1, x.shape[-1])
    dt = x.dtype.type
    if training:
        mean64, variance64 = _MOMENTS[backend](x2)
        mean, variance = mean64.astype(x.dtype), variance64.astype(x.dtype)
        # Keras: moving * momentum + batch * (1.0 - momentum), both factors rounded to the dtype.
        keep, take = dt(momentum), dt(1.0 - momentum)
        new_mean = None if moving_mean is None else moving_mean * keep + mean * take
        new_variance = None if moving_variance is None else moving_variance * keep + variance * take
    else:
        mean, variance = moving_mean.copy(), moving_variance.copy()
        new_mean, new_variance = moving_mean.copy(), moving_variance.copy()
    y = _NORMALIZE[backend](x2, mean, variance, gamma, beta, epsilon).reshape(x.shape)
    return BatchNormOutput(y, mean, variance, new_mean, new_variance)


# --------------------------------------------------------------------------- backward
@np.errstate(divide="ignore", invalid="ignore", over="ignore")  # IEEE results (inf, NaN), as the other backends
def _backward_reference(dy2, x2, gamma, mean, variance, epsilon, training):
    """The computational graph of the forward pass, back-propagated one node at a time (CS231n).

    Forward graph per channel (M numbers): ``μ = (1/M)Σx``; ``xμ = x − μ``;
    ``sq = xμ²``; ``σ² = (1/M)Σsq``; ``std = sqrt(σ² + ε)``; ``istd = 1/std``;
    ``x̂ = xμ·istd``; ``y = γ·x̂ + β``. Each step below is the local derivative of
    one node times the gradient arriving at it; a node used twice (``xμ``) sums
    the gradients of its two uses. In inference ``μ`` and ``σ²`` are constants,
    so only the path through ``xμ·istd`` remains. All in float64, rounded once.
    """
    m, n_ch = x2.shape
    dx = np.empty_like(x2)
    dgamma = np.empty(n_ch, x2.dtype)
    dbeta = np.empty(n_ch, x2.dtype)
    for c in range(n_ch):
        g = 1.0 if gamma is None else float(gamma[c])
        mu = float(mean[c])
        xmu = [float(x2[p, c]) - mu for p in range(m)]
        std = _sqrt(float(variance[c]) + epsilon)
        istd = 1.0 / std
        xhat = [v * istd for v in xmu]
        d_y = [float(dy2[p, c]) for p in range(m)]
        # y = γ·x̂ + β
        dbeta[c] = sum(d_y)
        dgamma[c] = sum(d_y[p] * xhat[p] for p in range(m))
        dxhat = [d_y[p] * g for p in range(m)]
        # x̂ = xμ·istd: to xμ (first use) and to istd
        dxmu = [dxhat[p] * istd for p in range(m)]
        if training:
            distd = sum(dxhat[p] * xmu[p] for p in range(m))
            dstd = -distd / std**2  # istd = 1/std
            dvar = 0.5 / std * dstd  # std = sqrt(σ² + ε)
            dsq = dvar / m  # σ² = (1/M) Σ sq: each sq gets 1/M of it
            dxmu = [dxmu[p] + 2.0 * xmu[p] * dsq for p in range(m)]  # sq = xμ² (second use of xμ)
            dmu = -sum(dxmu)  # xμ = x − μ: to μ
            dxs = [dxmu[p] + dmu / m for p in range(m)]  # μ = (1/M) Σ x, and xμ = x − μ: to x
        else:
            dxs = dxmu  # μ is a constant: xμ = x − μ passes the gradient to x unchanged
        for p in range(m):
            dx[p, c] = dxs[p]
    return dx, dgamma, dbeta


@np.errstate(divide="ignore", invalid="ignore", over="ignore")  # IEEE results (inf, NaN), as the other backends
def _backward_numpy(dy2, x2, gamma, mean, variance, epsilon, training):
    dt = x2.dtype.type
    inv_std = _inv_std(variance, epsilon)
    g = np.ones_like(inv_std) if gamma is None else gamma
    xhat = (x2 - mean) * inv_std
    sum_dy = np.sum(dy2, axis=0, dtype=np.float64).astype(x2.dtype)
    sum_dy_xhat = np.sum(dy2 * xhat, axis=0, dtype=np.float64).astype(x2.dtype)
    if training:
        m = dt(x2.shape[0])
        dx = (g * inv_std / m) * (m * dy2 - sum_dy - xhat * sum_dy_xhat)
    else:
        dx = (g * inv_std) * dy2
    return dx, sum_dy_xhat, sum_dy


def _backward_numba(dy2, x2, gamma, mean, variance, epsilon, training):
    from convlab.kernels import batch_norm as nb_bn

    dt = x2.dtype.type
    inv_std = _inv_std(variance, epsilon)
    g = np.ones_like(inv_std) if gamma is None else gamma
    sum_dy, sum_dy_xhat = (s.astype(x2.dtype) for s in nb_bn.backward_sums(dy2, x2, mean, inv_std))
    m = dt(x2.shape[0])
    coef = g * inv_std / m if training else g * inv_std
    dx = np.empty_like(x2)
    nb_bn.backward_dx(dy2, x2, mean, inv_std, coef, sum_dy, sum_dy_xhat, m, training, dx)
    return dx, sum_dy_xhat, sum_dy


_BACKWARD = {"reference": _backward_reference, "numpy": _backward_numpy, "numba": _backward_numba}


def batch_norm_backward(
    dy: ArrayLike,
    x: ArrayLike,
    gamma: ArrayLike | None = None,
    *,
    training: bool = True,
    moving_mean: ArrayLike | None = None,
    moving_variance: ArrayLike | None = None,
    epsilon: float = 1e-3,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batch_norm` with respect to ``x``, ``gamma`` and ``beta``.

    Args:
        dy: ``∂L/∂y``, the shape of ``x`` (converted to ``x``'s dtype).
        x: the forward input, ``(N, H, W, C)`` or ``(N, F)``.
        gamma: ``(C,)`` as given to the forward, or ``None`` (``scale=False``: γ = 1).
        training: keyword-only; ``True`` (default): the forward used the batch
            statistics, recomputed here from ``x``; ``False``: it used the moving ones.
        moving_mean, moving_variance: ``(C,)`` — required when ``training=False``
            (``moving_mean`` only for ``dgamma``'s ``x̂``); ignored when training.
        epsilon: ``> 0``, as given to the forward.
        backend: ``"reference"``, ``"numpy"`` or ``"numba"`` (default ``None`` → numba).

    Returns:
        ``(dx, dgamma, dbeta)`` of ``x``'s dtype, shapes ``x.shape``, ``(C,)``, ``(C,)``.
        ``dgamma = Σ dy·x̂`` and ``dbeta = Σ dy`` are returned also when ``gamma`` is
        ``None`` (the gradient a γ of ones, a β of zeros would get); ``β`` itself does
        not affect any gradient, so it is not an argument. Training:
        ``dx = (γ/(M·σ))·(M·dy − Σdy − x̂·Σ(dy·x̂))``, ``σ = sqrt(σ²_batch + ε)``
        (CS231n's simplified form, ``M = N·H·W``); inference:
        ``dx = dy·γ/sqrt(moving_variance + ε)``. Sums in float64, as the forward.

    Raises:
        ValueError: ``dy``'s shape differs from ``x``'s; the errors of :func:`batch_norm`
            (``gamma``/moving statistics not ``(C,)``, a moving statistic missing when
            ``training=False``, ``epsilon`` not > 0, unknown backend).
        TypeError: a non-numeric array, ``training`` not a bool, ``epsilon`` not a number.
    """
    x = _check_x(x)
    dy = as_float_array(dy, "dy", dtype=x.dtype, shape_hint="the shape of x")
    if dy.shape != x.shape:
        raise ValueError(f"dy must have the shape of x {x.shape}, got dy.shape={dy.shape}")
    gamma = _channel_array(gamma, "gamma", x)
    training = check_bool(training, "training")
    epsilon = check_float(epsilon, "epsilon", low=0.0, low_open=True)
    backend = check_backend(backend)
    n_ch = x.shape[-1]
    x2, dy2 = x.reshape(-1, n_ch), dy.reshape(-1, n_ch)
    if training:
        mean64, variance64 = _MOMENTS[backend](x2)
        mean, variance = mean64.astype(x.dtype), variance64.astype(x.dtype)
    else:
        mean = _channel_array(moving_mean, "moving_mean", x)
        variance = _channel_array(moving_variance, "moving_variance", x)
        _require_moving(mean, variance)
    dx, dgamma, dbeta = _BACKWARD[backend](dy2, x2, gamma, mean, variance, epsilon, training)
    return dx.reshape(x.shape), dgamma, dbeta
