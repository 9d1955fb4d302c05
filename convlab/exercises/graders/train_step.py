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
learning rate, 0 not updated) and with the step a missing ReLU backward gives.
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

__all__ = ["HINTS", "KEYS", "TRAIN_STEPS", "TRAIN_BATCH", "TRAIN_LEARNING_RATE", "cases", "diagnose", "judge"]

HINTS: tuple[str, ...] = (
    "First get the loss right: run the forward pass with your functions of exercises 4–7 and take, for each "
    "image, −log of the probability of its OWN label, averaged over the batch; with small random weights it "
    "is close to ln 10 ≈ 2.30. Then walk backwards one layer at a time: every gradient has the shape of what "
    "it is the gradient of (∂L/∂W like W, ∂L/∂m like m, …).",
    "∂L/∂s = (p − onehot(y))/N (N, 10);  ∂L/∂W = fᵀ·∂L/∂s (9F, 10);  ∂L/∂c = ∂L/∂s summed over the batch (10,);  "
    "∂L/∂f = ∂L/∂s·Wᵀ (N, 9F), then back to (N, 3, 3, F);  max-pool backward (exercise 9) gives ∂L/∂a "
    "(N, 6, 6, F);  ∂L/∂z = ∂L/∂a where z > 0, else 0;  conv backward (exercise 8) gives ∂L/∂K (3, 3, 1, F) "
    "and ∂L/∂b (F,).  Then θ_new = θ − η·∂L/∂θ for all four.",
    "Keep what the backward pass needs from the forward pass: z (before the ReLU), a (after it, the pool's "
    "input), f (the dense layer's input) and p. The 1/N is applied once, in ∂L/∂s; after that every piece "
    "only sums. Build the new weights as new arrays (θ − η·g), one per key, and return them in a new dict: "
    "subtracting into the arrays you were given changes the caller's weights.",
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


def _loss_and_grads(params: dict, x: np.ndarray, y: np.ndarray, *, relu_mask: bool = True) -> tuple[float, dict]:
    """The mean cross-entropy and ∂L/∂θ for every key; ``relu_mask=False`` leaves out the ReLU backward."""
    fw = _forward(params, x)
    loss, ds = softmax_crossentropy(y, fw["s"])  # ds = (p − onehot)/N
    df, dw, dc = dense_backward(ds, fw["f"], params["dense_kernel"])
    da = max_pool2d_backward(df.reshape(fw["m"].shape), fw["a"], 2, 2, backend="reference")
    dz = relu_backward(da, fw["z"]) if relu_mask else da
    _, dk, db = conv2d_backward(
        dz, x, params["conv_kernel"], strides=1, padding="valid", backend="reference", need_dx=False
    )
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
        context={"grads": grads},
    )


def cases(rng: np.random.Generator) -> list[Case]:
    """One fixed step, two random steps, and a 30-step training run on real digits (see the module docstring)."""
    xs, ys = _digits()
    out = [
        _step_case(
            "one step: 4 filters, the first 16 digits, η = 0.1",
            _initial_params(np.random.default_rng(10), 4, dense_std=1 / 6, bias_std=0.1),
            xs[:16],
            ys[:16],
            0.1,
        )
    ]
    for filters, n, lr in ((3, 12, 0.05), (4, 20, 0.25)):
        pick = rng.choice(len(xs), size=n, replace=False)
        params = _initial_params(rng, filters, dense_std=1 / np.sqrt(9 * filters), bias_std=0.1)
        out.append(
            _step_case(f"one step: {filters} filters, {n} random digits, η = {lr:g}", params, xs[pick], ys[pick], lr)
        )

    order = rng.permutation(len(xs))[: TRAIN_STEPS * TRAIN_BATCH].reshape(TRAIN_STEPS, TRAIN_BATCH)
    params = _initial_params(np.random.default_rng(_TRAIN_SEED), 4, dense_std=0.01, bias_std=0.0)
    batches = tuple({1: xs[b], 2: ys[b]} for b in order)
    out.append(
        Case(
            name=f"training: {TRAIN_STEPS} steps of {TRAIN_BATCH} digits, η = {TRAIN_LEARNING_RATE:g}",
            function="train_step",
            args=(params, xs[order[0]], ys[order[0]], TRAIN_LEARNING_RATE),
            chain=Chain(steps=TRAIN_STEPS, feed=((0, 1),), collect=0, batches=batches),
            output_names=("loss",),
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
    where = (
        "Look at the forward pass in this order: exercises 4–7 must pass (convlab check 4 … 7); the chain is "
        "conv (stride 1, padding 0) → ReLU → 2×2 max pool (stride 2) → flatten → dense → softmax; then "
        "L = −(1/N) Σ_n log p[n, y_n], the natural logarithm of the probability of each image's own label."
    )
    if close(loss, n * ref, 1e-6):
        grads = case.context["grads"]
        also = ""
        if all(same_shape_and_close(new.get(k), params[k] - n * lr * grads[k]) for k in KEYS):
            also = f" Your gradients are {n}× too large as well: the 1/N belongs in ∂L/∂s = (p − onehot)/N."
        return Diagnosis(
            "loss_not_averaged",
            f"loss is {_num(loss)} = {n} × {_num(ref)}: you summed −log p[n, y_n] over the {n} images of the "
            f"batch instead of averaging (Keras' loss is the mean over the batch).{also}",
        )
    fw = _forward(params, x)
    s = fw["s"] - fw["s"].max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    s_nr = _forward(params, x, use_relu=False)["s"]
    s_nr = s_nr - s_nr.max(axis=1, keepdims=True)
    logp_nr = s_nr - np.log(np.exp(s_nr).sum(axis=1, keepdims=True))
    variants = (
        (-ref, "has the wrong sign: the loss is MINUS the mean of log p[n, y_n] (log of a probability is ≤ 0)"),
        (ref / 10, "is averaged over the 10 classes as well: average over the N images only"),
        (ref / np.log(10), "uses log₁₀: the cross-entropy uses the natural logarithm (np.log)"),
        (
            -float(logp[:, y].mean()),
            f"averages log p over all N×N = {n * n} pairs p[n, y_m]: p[:, y] takes every label's column for "
            "every image; take one number per image, the probability of its own label y_n",
        ),
        (-float(logp_nr[np.arange(n), y].mean()), "is what the network gives WITHOUT the ReLU after the conv"),
    )
    for value, why in variants:
        if close(loss, value, 1e-6):
            return Diagnosis("loss_mismatch", f"loss is {_num(loss)}; the reference gets {_num(ref)}. Your loss {why}.")
    return Diagnosis("loss_mismatch", f"loss is {_num(loss)}; the reference gets {_num(ref)} for this batch. {where}")


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
        return "wrong_sign", f"moved uphill: your step is +η·{g}; SGD goes downhill, θ − η·{g}"
    if _near(alpha, -float(n)):
        return "wrong_sign", (
            f"moved uphill AND {n}× too far: θ + η·N·{g}. Subtract the step, and divide by N once, in "
            "∂L/∂s = (p − onehot)/N"
        )
    if _near(alpha, float(n)):
        return "not_averaged", (
            f"moved {n}× too far (N = {n}): the gradient was summed over the batch, not averaged — "
            "∂L/∂s = (p − onehot)/N, the 1/N of the mean loss"
        )
    if _near(alpha, 1.0 / lr):
        return "learning_rate_ignored", (
            f"moved by the whole gradient, θ − {g}: the learning rate η = {lr:g} was not applied (θ − η·{g})"
        )
    if _near(alpha, -1.0 / lr):
        return "wrong_sign", f"moved uphill and without the learning rate: θ + {g}; use θ − η·{g}"
    if _near(alpha, 1.0 / n):
        return "averaged_twice", (
            f"moved {n}× too little: the 1/N was applied twice — it is already in ∂L/∂s = (p − onehot)/N, so "
            f"{g} only sums over the batch"
        )
    part = "dense" if key.startswith("dense") else "conv"
    return f"{part}_update_wrong", f"moved in the right direction but {alpha:.4g} times as far as θ − η·{g} goes"


def _generic(key: str, got: np.ndarray, expected: np.ndarray, old: np.ndarray, case: Case) -> str:
    lr = case.args[3]
    idx = first_wrong(got, expected, case.tolerance)
    if idx is None:  # not reached: the caller checked that they differ
        return "differs from θ − η·∂L/∂θ"
    step = expected[idx] - old[idx]
    return (
        f"wrong from {format_index(key, idx)} on: it is {_num(got[idx])}, expected {_num(expected[idx])} = "
        f"{_num(old[idx])} − {lr:g} · {number_text(-step / lr, in_sum=True, digits=6)} (θ − η·∂L/∂{_SYMBOL[key]}); "
        "your step there is "
        f"{_num(got[idx] - old[idx])}, the right one {_num(step)}"
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
            findings.append((key, code, "not updated: it is the value you were given", None))
            continue
        alpha = _factor(d_got, d_exp)
        if alpha is not None:
            code, words = _scaled(key, alpha, n, lr)
            findings.append((key, code, words, alpha))
            continue
        if key.startswith("conv"):
            _, no_mask = _loss_and_grads(params, x, y, relu_mask=False)
            if same_shape_and_close(got, old - lr * no_mask[key], case.tolerance):
                findings.append(
                    (
                        key,
                        "relu_backward_missing",
                        "what the step gives without the ReLU backward: ∂L/∂z = ∂L/∂a only where z > 0, "
                        "and 0 where the ReLU cut z to 0",
                        None,
                    )
                )
                continue
        part = "dense" if key.startswith("dense") else "conv"
        findings.append((key, f"{part}_update_wrong", _generic(key, got, exp, old, case), None))
    return findings


_DENSE_WHERE = (
    "The dense gradients come first in the backward pass: ∂L/∂s = (p − onehot(y))/N with onehot(y)[n, k] = 1 "
    "only for k = y_n, ∂L/∂W = fᵀ·∂L/∂s with f the dense layer's input, ∂L/∂c = ∂L/∂s summed over the batch. "
    "Fix these first: the conv gradients flow through them."
)
_CONV_WHERE = (
    "The dense update is right, so the mistake is between the dense layer and the conv: ∂L/∂f = ∂L/∂s·Wᵀ with W "
    "the OLD dense kernel, put back into the pooled shape (N, 3, 3, F) in flatten's order (channels fastest); "
    "max-pool backward with the pool's input a = relu(z); ∂L/∂z = ∂L/∂a where z > 0; conv backward with the "
    "network's input x."
)


def diagnose(case: Case, got) -> Diagnosis | None:
    """What a wrong single step means: a wrong shape, a wrong loss, then each parameter's step (see the module)."""
    if case.chain is not None:
        return None
    params, x, _, _ = case.args
    expected = case.expected[1]
    got_loss, new = got
    for key in KEYS:
        arr = np.asarray(new[key])
        if arr.shape != expected[key].shape:
            why = f"every new weight keeps its old shape, {key} {_SHAPE_TEXT[key]}"
            if key == "dense_bias" and arr.ndim == 2 and arr.shape[0] == len(x):
                why += ": ∂L/∂c sums ∂L/∂s over the batch (its N rows), one number per class"
            elif key == "conv_bias" and arr.ndim > 1:
                why += ": ∂L/∂b sums ∂L/∂z over the images and positions, one number per filter"
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
            "new_params holds the weights you were given, unchanged: return θ − η·∂L/∂θ for every key.",
        )
    code = codes[0]
    if code == "dense_update_wrong":
        # the conv gradients flow through the dense ones: only the dense part is worth reading first
        dense = [f for f in findings if f[0].startswith("dense")]
        lines = [f"new_params[{key!r}]: {words}." for key, _, words, _ in dense]
        if len(dense) < len(findings):
            lines.append("The conv weights are wrong too, but that may follow from these.")
        return Diagnosis(code, "\n".join([*lines, _DENSE_WHERE]))
    names = ", ".join(f"new_params[{key!r}]" for key, *_ in findings)
    if len(findings) == len(KEYS):
        names = f"all four weights ({', '.join(KEYS)})"
    alphas = [f[3] for f in findings]
    if len(findings) > 1 and len(set(codes)) == 1 and None not in alphas and _near(min(alphas), max(alphas)):
        lines = [f"{names}: {_scaled(findings[0][0], alphas[0], len(x), case.args[3], symbol='θ')[1]}."]
    elif len(findings) > 1 and len(set(codes)) == 1 and code != "conv_update_wrong":
        lines = [f"{names}: {findings[0][2]}."]
    else:
        lines = [f"new_params[{key!r}]: {words}." for key, _, words, _ in findings]
    if code == "conv_update_wrong" and not any(f[0].startswith("dense") for f in findings):
        lines.append(_CONV_WHERE)
    return Diagnosis(code, "\n".join(lines))


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
            "wrong_type", "train_step's loss must be one number (a float) at every step of the training run."
        )
    losses = [float(v.reshape(-1)[0]) for v in values]
    if len(losses) != TRAIN_STEPS:
        return False, Diagnosis("wrong_type", f"the training run returned {len(losses)} losses, not {TRAIN_STEPS}.")
    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
    if bad:
        k = bad[0]
        went_down = min(losses[1:k], default=np.inf) < 0.9 * losses[0]
        why = (
            "it never went down, so the steps climb the loss (θ + η·∂L/∂θ instead of θ − η·∂L/∂θ?) "
            "or are far too big (a gradient summed over the batch, N× too large?)"
            if not went_down
            else "the steps are far too big and the weights blew up (a gradient summed over the batch instead of "
            "averaged is N× too large)"
        )
        trail = ", ".join(_num(v) for v in losses[: min(k + 1, 6)])
        return False, Diagnosis(
            "not_finite",
            f"the loss became {_num(losses[k])} at step {k + 1} of {len(losses)} ({trail}): {why}. "
            "The one-step cases say which.",
        )
    first, last = losses[0], float(np.mean(losses[-_LAST:]))
    if last < TRAIN_TARGET * first:
        return True, None
    trail = ", ".join(_num(v) for v in losses[:3]) + ", …, " + ", ".join(_num(v) for v in losses[-3:])
    lines = [
        f"the loss did not go down enough: {_num(first)} at step 1, {_num(last)} on average over the last "
        f"{_LAST} steps; it must fall below {TRAIN_TARGET:g} × {_num(first)} = {_num(TRAIN_TARGET * first)}.",
        f"Your losses: {trail}.",
    ]
    try:
        ref = _reference_losses(case)
    except Exception:  # the explanation is extra; the verdict stands without it
        ref = []
    if ref:
        lines.append(
            f"The reference, on the same minibatches from the same weights, goes from {_num(ref[0])} to "
            f"{_num(float(np.mean(ref[-_LAST:])))}."
        )
    if ref and not close(first, ref[0], 1e-6):
        lines.append(
            f"Already your first loss differs from the reference's ({_num(ref[0])}): the forward pass or the loss "
            "is wrong — the one-step cases say more."
        )
    elif last > first:
        lines.append("It goes UP: the update climbs the loss — SGD subtracts the step, θ − η·∂L/∂θ.")
    elif abs(last - first) <= 1e-9 * max(abs(first), 1.0):
        lines.append(
            "It does not change at all: are the new weights computed, returned in new_params, and different from "
            "the ones you were given?"
        )
    else:
        lines.append(
            "It falls too slowly: steps too small (the learning rate or the 1/N applied twice?) or some weights "
            "not updated — the one-step cases say which."
        )
    return False, Diagnosis("loss_not_decreasing", "\n".join(lines))
