"""Grader of exercise 10: ``train_step(params, x, y, learning_rate)`` → ``(loss, new_params)``.

The network (lessons 08–13; the seeds/004 CNN in miniature) on real 8×8 digits (scikit-learn's,
:func:`convlab.data.datasets.load_digits`, pixels divided by 16), ``F`` filters::

    z = conv2d(x, K, b) 3×3 valid stride 1 (N, 6, 6, F) → a = relu(z) → m = max_pool2d(a) 2×2 (N, 3, 3, F)
      → f = flatten(m) (N, 9F) → s = dense(f, W, c) (N, 10) → p = softmax(s)
    L = −(1/N) Σ_n log p[n, y_n]
    ∂L/∂s = (p − onehot(y))/N;  ∂L/∂W = fᵀ·∂L/∂s;  ∂L/∂c = Σ_n ∂L/∂s;  ∂L/∂f = ∂L/∂s·Wᵀ → (N, 3, 3, F)
      → max-pool backward → · [z > 0] → conv backward → ∂L/∂K, ∂L/∂b
    θ_new = θ − η·∂L/∂θ   (plain SGD)

Cases: one step from fixed weights on the first 16 digits, then one step from random weights on
random digits (one with F = 3, so that a hard-coded 4 shows), then a training run (a
:class:`~convlab.exercises.case.Chain`): 30 steps over minibatches of 32 digits, the learner's
new weights fed back each time; :func:`judge` passes it when the loss falls clearly.
Expected answers come from convlab's ops (``backend="reference"`` for conv and pooling).
A wrong step is explained per parameter: its change ``got − θ`` is compared with the right
change ``−η·∂L/∂θ`` (a multiple of it names the factor: −1 uphill, N not averaged, 1/η no
learning rate, 0 not updated) and with the steps that a missing ReLU backward, a flipped ∂L/∂K
(exercise 8) or a pool backward that feeds every tied maximum (exercise 9) give.

A small constant inside the log, ``log(p + ε)`` or Keras' clip of p to [1e-7, 1 − 1e-7], guards
against log 0 and lowers the loss by about ε·mean(1/p[n, y_n]); up to ε = :data:`LOG_GUARD` passes
(each step case's tolerance is widened by exactly that shift, a few 1e-6 relative), a larger one is
named as such.
"""

from __future__ import annotations

import functools

import numpy as np

from convlab.data.datasets import load_digits
from convlab.exercises.case import Case, Chain, Diagnosis
from convlab.exercises.compare import close, first_wrong, format_index, same_shape_and_close
from convlab.exercises.diagnosis import number_text, shape_mismatch
from convlab.ops.activations import relu, relu_backward
from convlab.ops.conv import conv2d, conv2d_backward
from convlab.ops.dense import dense, dense_backward
from convlab.ops.losses import softmax_crossentropy
from convlab.ops.pooling import max_pool2d, max_pool2d_backward
from convlab.util.i18n import N_, _

__all__ = ["HINTS", "KEYS", "TRAIN_STEPS", "TRAIN_BATCH", "TRAIN_LEARNING_RATE", "cases", "diagnose", "judge"]

HINTS: tuple[str, ...] = (
    N_(
        "First get the loss right: run the forward pass with your functions of exercises 4–7 and take, for each "
        "image, −log of the probability of its OWN label, averaged over the batch; with small random weights it "
        "is close to ln 10 ≈ 2.30. Then walk backwards one layer at a time: every gradient has the shape of what "
        "it is the gradient of (∂L/∂W like W, ∂L/∂m like m, …)."
    ),
    N_(
        "∂L/∂s = (p − onehot(y))/N (N, 10);  ∂L/∂W = fᵀ·∂L/∂s (9F, 10);  ∂L/∂c = ∂L/∂s summed over the batch "
        "(10,);  ∂L/∂f = ∂L/∂s·Wᵀ (N, 9F), then back to (N, 3, 3, F);  max-pool backward (exercise 9) gives ∂L/∂a "
        "(N, 6, 6, F);  ∂L/∂z = ∂L/∂a where z > 0, else 0;  conv backward (exercise 8) gives ∂L/∂K (3, 3, 1, F) "
        "and ∂L/∂b (F,).  Then θ_new = θ − η·∂L/∂θ for all four."
    ),
    N_(
        "Keep what the backward pass needs from the forward pass: z (before the ReLU), a (after it, the pool's "
        "input), f (the dense layer's input) and p. The 1/N is applied once, in ∂L/∂s; after that every piece "
        "only sums. Build the new weights as new arrays (θ − η·g), one per key, and return them in a new dict: "
        "subtracting into the arrays you were given changes the caller's weights."
    ),
)

#: The parameters, in the order the backward pass reaches them.
KEYS = ("dense_kernel", "dense_bias", "conv_kernel", "conv_bias")
_SHAPE_TEXT = {
    "conv_kernel": "(3, 3, 1, F)",
    "conv_bias": "(F,)",
    "dense_kernel": "(9·F, 10)",
    "dense_bias": "(10,)",
}
_SYMBOL = {"conv_kernel": "K", "conv_bias": "b", "dense_kernel": "W", "dense_bias": "c"}

TRAIN_STEPS = 30
TRAIN_BATCH = 32
TRAIN_LEARNING_RATE = 0.5
#: The training run passes when the mean loss of its last 5 steps is below this fraction of the first.
TRAIN_TARGET = 0.7
_LAST = 5
#: The training run's initial weights come from this seed; the minibatches from the grader's rng. With these
#: weights the reference's last-5 mean is 0.4–0.5 of the first loss for every minibatch order tried.
_TRAIN_SEED = 0
#: The largest constant inside the log, ``log(p + ε)``, that the loss tolerance admits (Keras uses 1e-7).
LOG_GUARD = 1e-6


# ------------------------------------------------------------------------------ the reference network
@functools.lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as the network reads them: x (1797, 8, 8, 1) float64 in [0, 1], y (1797,) int64."""
    x, y = load_digits()
    return (x.astype(np.float64) / 16.0)[..., None], y.astype(np.int64)


def _forward(params: dict, x: np.ndarray, *, use_relu: bool = True) -> dict:
    """The forward pass; every intermediate the backward pass or a diagnosis needs."""
    z = conv2d(x, params["conv_kernel"], params["conv_bias"], strides=1, padding="valid", backend="reference")
    a = relu(z) if use_relu else z
    m = max_pool2d(a, 2, 2, backend="reference")
    f = m.reshape(len(x), -1)  # C order of (N, 3, 3, F): channels fastest, Keras' Flatten
    s = dense(f, params["dense_kernel"], params["dense_bias"])
    return {"z": z, "a": a, "m": m, "f": f, "s": s}


def _label_probs(s: np.ndarray, y: np.ndarray) -> np.ndarray:
    """p[n, y_n] (N,): the softmax probability of each image's own label, from the scores ``s`` (N, 10)."""
    s = s - s.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    return np.exp(logp[np.arange(len(y)), y])


def _guard_shift(p_true: np.ndarray, eps: float) -> float:
    """How far ``−mean log(p + ε)`` lies below ``−mean log p`` (≥ 0; about ε·mean(1/p))."""
    return float(np.mean(np.log1p(eps / p_true)))


def _loss_tolerance(params: dict, x: np.ndarray, y: np.ndarray) -> float:
    """The default 1e-6, widened by what ``log(p + LOG_GUARD)`` moves this batch's loss (relative to max(|L|, 1)).

    The weights are compared with the same tolerance (the framework has one per case): it stays far
    below every step η·∂L/∂θ (1e-3 to 1e-1 here), so no wrong update hides in it.
    """
    p_true = _label_probs(_forward(params, x)["s"], y)
    loss = -float(np.mean(np.log(p_true)))
    return 1e-6 + _guard_shift(p_true, LOG_GUARD) / max(abs(loss), 1.0)


def _pool_backward_every_max(dm: np.ndarray, a: np.ndarray) -> np.ndarray:
    """2×2, stride-2 max-pool backward of ``dm`` (N, H/2, W/2, F) onto ``a`` (N, H, W, F), every tied maximum fed.

    Exercise 9's ``every_maximum`` mistake (TensorFlow, and the reference, feed the first one only). Ties
    happen here where the digit is blank: a window's four z are all the bias. The other wrong tie rules
    (the last maximum, say) give the same step on these cases, as a blank window's x is 0 (∂L/∂K gets
    nothing from it) and ∂L/∂b only sums; they are left to exercise 9.
    """
    n, h, w, f = a.shape
    win = a.reshape(n, h // 2, 2, w // 2, 2, f).transpose(0, 1, 3, 5, 2, 4).reshape(n, h // 2, w // 2, f, 4)
    routed = (win == win.max(axis=-1, keepdims=True)) * dm[..., None]
    return routed.reshape(n, h // 2, w // 2, f, 2, 2).transpose(0, 1, 4, 2, 5, 3).reshape(n, h, w, f)


def _loss_and_grads(
    params: dict, x: np.ndarray, y: np.ndarray, *, relu_mask: bool = True, every_max: bool = False
) -> tuple[float, dict]:
    """The mean cross-entropy and ∂L/∂θ for every key.

    ``relu_mask=False`` leaves out the ReLU backward; ``every_max=True`` feeds every tied maximum in the
    pool backward (see :func:`_pool_backward_every_max`).
    """
    fw = _forward(params, x)
    loss, ds = softmax_crossentropy(y, fw["s"])  # ds = (p − onehot)/N
    df, dw, dc = dense_backward(ds, fw["f"], params["dense_kernel"])
    dm = df.reshape(fw["m"].shape)
    if every_max:
        da = _pool_backward_every_max(dm, fw["a"])
    else:
        da = max_pool2d_backward(dm, fw["a"], 2, 2, backend="reference")
    dz = relu_backward(da, fw["z"]) if relu_mask else da
    dk, db = conv2d_backward(
        dz, x, params["conv_kernel"], strides=1, padding="valid", backend="reference", need_dx=False
    )[1:]
    return float(loss), {"conv_kernel": dk, "conv_bias": db, "dense_kernel": dw, "dense_bias": dc}


def _step(params: dict, grads: dict, learning_rate: float) -> dict:
    return {k: params[k] - learning_rate * grads[k] for k in params}


def _initial_params(rng: np.random.Generator, filters: int, *, dense_std: float, bias_std: float) -> dict:
    """He-normal conv filters (fan-in 9), small normal dense weights, biases ~ N(0, bias_std)."""
    return {
        "conv_kernel": rng.normal(0.0, np.sqrt(2.0 / 9.0), (3, 3, 1, filters)),
        "conv_bias": rng.normal(0.0, bias_std, filters) if bias_std else np.zeros(filters),
        "dense_kernel": rng.normal(0.0, dense_std, (9 * filters, 10)),
        "dense_bias": rng.normal(0.0, bias_std, 10) if bias_std else np.zeros(10),
    }


def _step_case(name: str, params: dict, x: np.ndarray, y: np.ndarray, learning_rate: float) -> Case:
    loss, grads = _loss_and_grads(params, x, y)
    return Case(
        name=name,
        function="train_step",
        args=(params, x, y, float(learning_rate)),
        expected=(loss, _step(params, grads, learning_rate)),
        output_names=("loss", "new_params"),
        repeat=2,
        tolerance=_loss_tolerance(params, x, y),
        context={"grads": grads},
    )


def cases(rng: np.random.Generator) -> list[Case]:
    """One fixed step, two random steps, and a 30-step training run on real digits (see the module docstring)."""
    xs, ys = _digits()
    out = [
        _step_case(
            _("one step: 4 filters, the first 16 digits, η = 0.1"),
            _initial_params(np.random.default_rng(10), 4, dense_std=1 / 6, bias_std=0.1),
            xs[:16],
            ys[:16],
            0.1,
        )
    ]
    for filters, n, lr in ((3, 12, 0.05), (4, 20, 0.25)):
        pick = rng.choice(len(xs), size=n, replace=False)
        params = _initial_params(rng, filters, dense_std=1 / np.sqrt(9 * filters), bias_std=0.1)
        name = _("one step: {filters} filters, {n} random digits, η = {lr:g}").format(filters=filters, n=n, lr=lr)
        out.append(_step_case(name, params, xs[pick], ys[pick], lr))

    order = rng.permutation(len(xs))[: TRAIN_STEPS * TRAIN_BATCH].reshape(TRAIN_STEPS, TRAIN_BATCH)
    params = _initial_params(np.random.default_rng(_TRAIN_SEED), 4, dense_std=0.01, bias_std=0.0)
    batches = tuple({1: xs[b], 2: ys[b]} for b in order)
    out.append(
        Case(
            name=_("training: {steps} steps of {batch} digits, η = {lr:g}").format(
                steps=TRAIN_STEPS, batch=TRAIN_BATCH, lr=TRAIN_LEARNING_RATE
            ),
            function="train_step",
            args=(params, xs[order[0]], ys[order[0]], TRAIN_LEARNING_RATE),
            chain=Chain(steps=TRAIN_STEPS, feed=((0, 1),), collect=0, batches=batches),
            output_names=("loss",),
            context={"first_tolerance": _loss_tolerance(params, xs[order[0]], ys[order[0]])},
        )
    )
    return out


# ------------------------------------------------------------------------------ diagnosis of one step
def _num(v: float) -> str:
    return number_text(v, digits=6)


def _loss_value(got_loss) -> float | None:
    try:
        v = np.asarray(got_loss, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    return float(v[0]) if v.size == 1 else None


def _loss_diagnosis(case: Case, loss: float, new: dict) -> Diagnosis:
    params, x, y, lr = case.args
    ref = float(case.expected[0])
    n = len(x)
    if close(loss, n * ref, 1e-6):
        grads = case.context["grads"]
        message = _(
            "loss is {loss} = {n} × {ref}: you summed −log p[n, y_n] over the {n} images of the batch instead of "
            "averaging (Keras' loss is the mean over the batch)."
        ).format(loss=_num(loss), n=n, ref=_num(ref))
        if all(same_shape_and_close(new.get(k), params[k] - n * lr * grads[k]) for k in KEYS):
            message += " " + _(
                "Your gradients are {n}× too large as well: the 1/N belongs in ∂L/∂s = (p − onehot)/N."
            ).format(n=n)
        return Diagnosis("loss_not_averaged", message)
    fw = _forward(params, x)
    s = fw["s"] - fw["s"].max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    p_true = np.exp(logp[np.arange(n), y])
    s_nr = _forward(params, x, use_relu=False)["s"]
    s_nr = s_nr - s_nr.max(axis=1, keepdims=True)
    logp_nr = s_nr - np.log(np.exp(s_nr).sum(axis=1, keepdims=True))
    variants = (
        (
            -ref,
            N_(
                "Your loss has the wrong sign: the loss is MINUS the mean of log p[n, y_n] (log of a probability is "
                "≤ 0)."
            ),
        ),
        (ref / 10, N_("Your loss is averaged over the 10 classes as well: average over the N images only.")),
        (ref / np.log(10), N_("Your loss uses log₁₀: the cross-entropy uses the natural logarithm (np.log).")),
        (
            -float(logp[:, y].mean()),
            N_(
                "Your loss averages log p over all N×N = {pairs} pairs p[n, y_m]: p[:, y] takes every label's column "
                "for every image; take one number per image, the probability of its own label y_n."
            ),
        ),
        (
            -float(logp_nr[np.arange(n), y].mean()),
            N_("Your loss is what the network gives WITHOUT the ReLU after the conv."),
        ),
    )
    for value, why in variants:
        if close(loss, value, 1e-6):
            head = _("loss is {loss}; the reference gets {ref}.").format(loss=_num(loss), ref=_num(ref))
            return Diagnosis("loss_mismatch", head + " " + _(why).format(pairs=n * n))
    weights_right = not _param_findings(case, new)
    guard = _log_guard(loss, ref, p_true, weights_right=weights_right)
    if guard is not None:
        return guard
    if weights_right:
        where = _(
            "Every new weight is right, so your forward pass (exercises 4–7) and your gradients are right: only the "
            "number returned as the loss differs. It is L = −(1/N) Σ_n log p[n, y_n], the natural logarithm of the "
            "probability of each image's own label, averaged over the N images."
        )
    else:
        where = _(
            "Look at the forward pass in this order: exercises 4–7 must pass (convlab check 4 … 7); the chain is "
            "conv (stride 1, padding 0) → ReLU → 2×2 max pool (stride 2) → flatten → dense → softmax; then "
            "L = −(1/N) Σ_n log p[n, y_n], the natural logarithm of the probability of each image's own label."
        )
    head = _("loss is {loss}; the reference gets {ref} for this batch.").format(loss=_num(loss), ref=_num(ref))
    return Diagnosis("loss_mismatch", head + " " + where)


def _log_guard(loss: float, ref: float, p_true: np.ndarray, *, weights_right: bool) -> Diagnosis | None:
    """``log_epsilon`` when the loss is what a constant ε > LOG_GUARD inside the log gives, else ``None``.

    A known ε (1e-5 … 1e-2, added or as a clip) is named whatever the weights; otherwise, when every new
    weight is right (so the forward pass is) and the loss is a little low, the ε that explains it.
    """
    eps = None
    for e in (1e-5, 1e-4, 1e-3, 1e-2):
        clipped = -float(np.mean(np.log(np.clip(p_true, e, 1.0 - e))))
        if close(loss, ref - _guard_shift(p_true, e), 1e-6) or close(loss, clipped, 1e-6):
            eps = e
            break
    if eps is None and weights_right and 0 < ref - loss <= 0.05 * max(abs(ref), 1.0):
        lo, hi = -12.0, 0.0  # log10 ε; the shift grows with ε
        for _halving in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _guard_shift(p_true, 10.0**mid) < ref - loss else (lo, mid)
        eps = 10.0**lo
    if eps is None:
        return None
    shown = f"ε = {_eps_text(eps)}" if eps in (1e-5, 1e-4, 1e-3, 1e-2) else f"ε ≈ {_eps_text(eps)}"
    message = _(
        "loss is {loss}; the reference gets {ref}: yours is {lower} lower, what a small constant inside the log "
        "gives: log(p + ε) with {eps} raises each log p by about ε/p. Your forward pass is right; the constant is "
        "too big. Use 1e-7 as Keras does (it clips p to [1e-7, 1 − 1e-7]), or none: up to {guard} passes (it moves "
        "this loss by {shift})."
    )
    return Diagnosis(
        "log_epsilon",
        message.format(
            loss=_num(loss),
            ref=_num(ref),
            lower=_num(ref - loss),
            eps=shown,
            guard=_eps_text(LOG_GUARD),
            shift=_num(_guard_shift(p_true, LOG_GUARD)),
        ),
    )


def _eps_text(eps: float) -> str:
    """``1e-5``, ``3e-5``: a small constant as one writes it in code."""
    return f"{eps:.0e}".replace("e-0", "e-")


def _factor(d_got: np.ndarray, d_exp: np.ndarray) -> float | None:
    """α when ``d_got`` is α·``d_exp`` (to rounding), else ``None``."""
    denom = float(np.sum(d_exp * d_exp))
    if denom == 0.0:
        return None
    alpha = float(np.sum(d_got * d_exp)) / denom
    scale = max(float(np.max(np.abs(alpha * d_exp))), float(np.max(np.abs(d_got))), 1e-300)
    return alpha if float(np.max(np.abs(d_got - alpha * d_exp))) <= 1e-6 * scale else None


def _near(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(abs(b), 1e-12)


def _scaled(key: str, alpha: float, n: int, lr: float, symbol: str | None = None) -> tuple[str, str]:
    """The code and words for a step of ``key`` that is ``alpha`` times the right one (∂L/∂``symbol``)."""
    g = f"∂L/∂{symbol or _SYMBOL[key]}"
    if _near(alpha, -1.0):
        return "wrong_sign", _("moved uphill: your step is +η·{g}; SGD goes downhill, θ − η·{g}").format(g=g)
    if _near(alpha, -float(n)):
        return "wrong_sign", _(
            "moved uphill AND {n}× too far: θ + η·N·{g}. Subtract the step, and divide by N once, in "
            "∂L/∂s = (p − onehot)/N"
        ).format(n=n, g=g)
    if _near(alpha, float(n)):
        return "not_averaged", _(
            "moved {n}× too far (N = {n}): the gradient was summed over the batch, not averaged — "
            "∂L/∂s = (p − onehot)/N, the 1/N of the mean loss"
        ).format(n=n)
    if _near(alpha, 1.0 / lr):
        return "learning_rate_ignored", _(
            "moved by the whole gradient, θ − {g}: the learning rate η = {lr:g} was not applied (θ − η·{g})"
        ).format(g=g, lr=lr)
    if _near(alpha, -1.0 / lr):
        return "wrong_sign", _("moved uphill and without the learning rate: θ + {g}; use θ − η·{g}").format(g=g)
    if _near(alpha, 1.0 / n):
        return "averaged_twice", _(
            "moved {n}× too little: the 1/N was applied twice — it is already in ∂L/∂s = (p − onehot)/N, so {g} "
            "only sums over the batch"
        ).format(n=n, g=g)
    part = "dense" if key.startswith("dense") else "conv"
    words = _("moved in the right direction but {alpha:.4g} times as far as θ − η·{g} goes").format(alpha=alpha, g=g)
    return f"{part}_update_wrong", words


def _generic(key: str, got: np.ndarray, expected: np.ndarray, old: np.ndarray, case: Case) -> str:
    lr = case.args[3]
    idx = first_wrong(got, expected, case.tolerance)
    if idx is None:  # not reached: the caller checked that they differ
        return _("differs from θ − η·∂L/∂θ")
    step = expected[idx] - old[idx]
    return _(
        "wrong from {index} on: it is {got}, expected {expected} = {old} − {lr:g} · {gradient} (θ − η·∂L/∂{symbol}); "
        "your step there is {step}, the right one {right}"
    ).format(
        index=format_index(key, idx),
        got=_num(got[idx]),
        expected=_num(expected[idx]),
        old=_num(old[idx]),
        lr=lr,
        gradient=number_text(-step / lr, in_sum=True, digits=6),
        symbol=_SYMBOL[key],
        step=_num(got[idx] - old[idx]),
        right=_num(step),
    )


def _param_findings(case: Case, new: dict) -> list[tuple[str, str, str, float | None]]:
    """(key, code, words, factor) for every parameter whose new value is wrong, in backward order.

    ``factor`` is α when the learner's step is α times the right one, else ``None``.
    """
    params, x, y, lr = case.args
    n = len(x)
    expected = case.expected[1]
    findings = []
    for key in KEYS:
        old, exp = params[key], expected[key]
        got = np.asarray(new[key], dtype=float)
        if got.shape == exp.shape and close(got, exp, case.tolerance):
            continue
        if got.shape != exp.shape:
            findings.append((key, "wrong_shape", "", None))
            continue
        d_got, d_exp = got - old, exp - old
        if np.max(np.abs(d_got)) <= 1e-12 * max(float(np.max(np.abs(old))), 1.0):
            code = "bias_not_updated" if key.endswith("bias") else "not_updated"
            findings.append((key, code, _("not updated: it is the value you were given"), None))
            continue
        alpha = _factor(d_got, d_exp)
        if alpha is not None:
            code, words = _scaled(key, alpha, n, lr)
            findings.append((key, code, words, alpha))
            continue
        if key.startswith("conv"):
            found = _backward_piece(case, key, got, exp)
            if found is not None:
                findings.append((key, *found, None))
                continue
        part = "dense" if key.startswith("dense") else "conv"
        findings.append((key, f"{part}_update_wrong", _generic(key, got, exp, old, case), None))
    return findings


#: The conv-side mistakes of the learner's own backward pieces: (code, candidate gradients, words).
_PIECES = (
    (
        "relu_backward_missing",
        {"relu_mask": False},
        N_(
            "what the step gives without the ReLU backward: ∂L/∂z = ∂L/∂a only where z > 0, and 0 where the ReLU cut "
            "z to 0"
        ),
    ),
    (
        "dkernel_flipped",
        None,  # ∂L/∂K turned by 180°, ∂L/∂b unchanged
        N_(
            "what ∂L/∂K turned by 180° gives (∂L/∂K[2 − a, 2 − b] in the place of ∂L/∂K[a, b]): the dkernel of your "
            "conv2d_backward (exercise 8) is flipped, ∂L/∂K[a, b, c, f] = Σ x[n, i + a, j + b, c]·∂L/∂z[n, i, j, f] "
            "correlates x with ∂L/∂z — run convlab check 8 first"
        ),
    ),
    (
        "every_maximum",
        {"every_max": True},
        N_(
            "what the step gives when the pool backward sends a window's gradient to EVERY tied maximum: your "
            "max_pool2d_backward (exercise 9) must send it to the first one only, in row-major window order, as "
            "TensorFlow does. Ties are common here: where the digit is blank, all four z of a window are the bias "
            "alone — run convlab check 9 first"
        ),
    ),
)


def _backward_piece(case: Case, key: str, got: np.ndarray, expected: np.ndarray) -> tuple[str, str] | None:
    """(code, words) when the conv weight ``key`` took the step of a known mistake in a backward piece."""
    params, x, y, lr = case.args
    for code, options, words in _PIECES:
        if options is None:
            if key != "conv_kernel":
                continue
            grad = case.context["grads"][key][::-1, ::-1]
        else:
            grad = _loss_and_grads(params, x, y, **options)[1][key]
        candidate = params[key] - lr * grad
        # a mistake that changes nothing on this batch (no ties, say) names nothing
        if not same_shape_and_close(candidate, expected, case.tolerance) and same_shape_and_close(
            got, candidate, case.tolerance
        ):
            return code, _(words)
    return None


_DENSE_WHERE = N_(
    "The dense gradients come first in the backward pass: ∂L/∂s = (p − onehot(y))/N with onehot(y)[n, k] = 1 "
    "only for k = y_n, ∂L/∂W = fᵀ·∂L/∂s with f the dense layer's input, ∂L/∂c = ∂L/∂s summed over the batch. "
    "Fix these first: the conv gradients flow through them."
)
_CONV_WHERE = N_(
    "The dense update is right, so the mistake is between the dense layer and the conv, in the backward pieces. "
    "Your conv2d_backward (exercise 8) and max_pool2d_backward (exercise 9) do this part: run convlab check 8 and "
    "convlab check 9 first. If both pass, check what you give them: ∂L/∂f = ∂L/∂s·Wᵀ with W the OLD dense kernel, "
    "put back into the pooled shape (N, 3, 3, F) in flatten's order (channels fastest); max-pool backward with the "
    "pool's input a = relu(z); the ReLU backward, ∂L/∂z = ∂L/∂a where z > 0 and 0 elsewhere; conv backward with "
    "the network's input x."
)


def diagnose(case: Case, got) -> Diagnosis | None:
    """What a wrong single step means: a wrong shape, a wrong loss, then each parameter's step (see the module)."""
    if case.chain is not None:
        return None
    x = case.args[1]
    expected = case.expected[1]
    got_loss, new = got
    for key in KEYS:
        arr = np.asarray(new[key])
        if arr.shape != expected[key].shape:
            if key == "dense_bias" and arr.ndim == 2 and arr.shape[0] == len(x):
                why = _(
                    "every new weight keeps its old shape, {key} {shape}: ∂L/∂c sums ∂L/∂s over the batch (its N "
                    "rows), one number per class"
                )
            elif key == "conv_bias" and arr.ndim > 1:
                why = _(
                    "every new weight keeps its old shape, {key} {shape}: ∂L/∂b sums ∂L/∂z over the images and "
                    "positions, one number per filter"
                )
            else:
                why = _("every new weight keeps its old shape, {key} {shape}")
            why = why.format(key=key, shape=_SHAPE_TEXT[key])
            return shape_mismatch(f"new_params[{key!r}]", arr.shape, expected[key].shape, why)
    loss = _loss_value(got_loss)
    if loss is None:
        return None
    if not close(loss, float(case.expected[0]), case.tolerance):
        return _loss_diagnosis(case, loss, new)
    findings = _param_findings(case, new)
    if not findings:
        return None
    codes = [f[1] for f in findings]
    if len(codes) == len(KEYS) and all(c in ("not_updated", "bias_not_updated") for c in codes):
        return Diagnosis(
            "not_updated",
            _("new_params holds the weights you were given, unchanged: return θ − η·∂L/∂θ for every key."),
        )
    code = codes[0]
    if code == "dense_update_wrong":
        # the conv gradients flow through the dense ones: only the dense part is worth reading first
        dense = [f for f in findings if f[0].startswith("dense")]
        lines = [_finding_line(f"new_params[{f[0]!r}]", f[2]) for f in dense]
        if len(dense) < len(findings):
            lines.append(_("The conv weights are wrong too, but that may follow from these."))
        return Diagnosis(code, "\n".join([*lines, _(_DENSE_WHERE)]))
    names = ", ".join(f"new_params[{f[0]!r}]" for f in findings)
    if len(findings) == len(KEYS):
        names = _("all four weights ({keys})").format(keys=", ".join(KEYS))
    alphas = [f[3] for f in findings]
    if len(findings) > 1 and len(set(codes)) == 1 and None not in alphas and _near(min(alphas), max(alphas)):
        lines = [_finding_line(names, _scaled(findings[0][0], alphas[0], len(x), case.args[3], symbol="θ")[1])]
    elif len(findings) > 1 and len(set(codes)) == 1 and code != "conv_update_wrong":
        lines = [_finding_line(names, findings[0][2])]
    else:
        lines = [_finding_line(f"new_params[{f[0]!r}]", f[2]) for f in findings]
    if code == "conv_update_wrong" and not any(f[0].startswith("dense") for f in findings):
        lines.append(_(_CONV_WHERE))
    return Diagnosis(code, "\n".join(lines))


def _finding_line(what: str, words: str) -> str:
    """``"new_params['dense_bias']: moved uphill: …."``: the weights, then what happened to them (translated)."""
    return _("{weights}: {finding}.").format(weights=what, finding=words)


# ------------------------------------------------------------------------------ the training run
_REFERENCE_RUNS: dict[int, tuple[Case, list[float]]] = {}


def _reference_losses(case: Case) -> list[float]:
    """The losses the reference gets on the run's minibatches (computed only to explain a failure: a few seconds)."""
    cached = _REFERENCE_RUNS.get(id(case))
    if cached is not None and cached[0] is case:
        return cached[1]
    params, lr = case.args[0], case.args[3]
    losses = []
    for batch in case.chain.batches:
        loss, grads = _loss_and_grads(params, batch[1], batch[2])
        losses.append(loss)
        params = _step(params, grads, lr)
    _REFERENCE_RUNS.clear()  # one run kept: the grader builds its cases once per check
    _REFERENCE_RUNS[id(case)] = (case, losses)
    return losses


def judge(case: Case, got) -> tuple[bool, Diagnosis | None]:
    """The training run passes when the mean loss of the last 5 steps is below 0.7 × the first step's loss.

    ``got`` is the list of the losses the learner's ``train_step`` returned, one per step. Never raises
    (the framework calls it unguarded): a failure to explain still fails, with the plain numbers.
    """
    try:
        values = [np.asarray(v, dtype=float) for v in got]
    except (TypeError, ValueError):
        values = None
    if values is None or any(v.size != 1 for v in values):
        return False, Diagnosis(
            "wrong_type", _("train_step's loss must be one number (a float) at every step of the training run.")
        )
    losses = [float(v.reshape(-1)[0]) for v in values]
    if len(losses) != TRAIN_STEPS:
        message = _("the training run returned {n} losses, not {steps}.")
        return False, Diagnosis("wrong_type", message.format(n=len(losses), steps=TRAIN_STEPS))
    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
    if bad:
        k = bad[0]
        went_down = min(losses[1:k], default=np.inf) < 0.9 * losses[0]
        if not went_down:
            message = _(
                "the loss became {value} at step {step} of {steps} ({trail}): it never went down, so the steps climb "
                "the loss (θ + η·∂L/∂θ instead of θ − η·∂L/∂θ?) or are far too big (a gradient summed over the "
                "batch, N× too large?). The one-step cases say which."
            )
        else:
            message = _(
                "the loss became {value} at step {step} of {steps} ({trail}): the steps are far too big and the "
                "weights blew up (a gradient summed over the batch instead of averaged is N× too large). The "
                "one-step cases say which."
            )
        trail = ", ".join(_num(v) for v in losses[: min(k + 1, 6)])
        return False, Diagnosis(
            "not_finite", message.format(value=_num(losses[k]), step=k + 1, steps=len(losses), trail=trail)
        )
    first, last = losses[0], float(np.mean(losses[-_LAST:]))
    if last < TRAIN_TARGET * first:
        return True, None
    trail = ", ".join(_num(v) for v in losses[:3]) + ", …, " + ", ".join(_num(v) for v in losses[-3:])
    lines = [
        _(
            "the loss did not go down enough: {first} at step 1, {last} on average over the last {n} steps; it must "
            "fall below {target:g} × {first} = {limit}."
        ).format(first=_num(first), last=_num(last), n=_LAST, target=TRAIN_TARGET, limit=_num(TRAIN_TARGET * first)),
        _("Your losses: {trail}.").format(trail=trail),
    ]
    try:
        ref = _reference_losses(case)
    except Exception:  # the explanation is extra; the verdict stands without it
        ref = []
    if ref:
        lines.append(
            _("The reference, on the same minibatches from the same weights, goes from {first} to {last}.").format(
                first=_num(ref[0]), last=_num(float(np.mean(ref[-_LAST:])))
            )
        )
    if ref and not close(first, ref[0], case.context.get("first_tolerance", 1e-6)):
        lines.append(
            _(
                "Already your first loss differs from the reference's ({first}): the forward pass or the loss is "
                "wrong — the one-step cases say more."
            ).format(first=_num(ref[0]))
        )
    elif last > first:
        lines.append(_("It goes UP: the update climbs the loss — SGD subtracts the step, θ − η·∂L/∂θ."))
    elif abs(last - first) <= 1e-9 * max(abs(first), 1.0):
        lines.append(
            _(
                "It does not change at all: are the new weights computed, returned in new_params, and different from "
                "the ones you were given?"
            )
        )
    else:
        lines.append(
            _(
                "It falls too slowly: steps too small (the learning rate or the 1/N applied twice?) or some weights "
                "not updated — the one-step cases say which."
            )
        )
    return False, Diagnosis("loss_not_decreasing", "\n".join(lines))
