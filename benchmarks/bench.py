"""convlab's benchmark suite: convolution, pooling and a training epoch against TensorFlow (and PyTorch).

Run from the repository root, as users run it (the README explains why the
OpenBLAS variables some machines set are removed)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py [--quick] [--only W1,W2]
    convlab bench [--quick] [--only ...]          # the same, through the CLI

Everything runs in one process, float32 NHWC, with warm-up, several
repetitions and the median. Workloads (flops = 2·N·OH·OW·F·KH·KW·C):

- W1: N=128, 28×28×1 → 32, 3×3, valid (MNIST's first layer)
- W2: N=64, 32×32×32 → 64, 3×3, same
- W3: N=8, 56×56×128 → 128, 3×3, same
- W4: the slides' 5×5×3 → 2, 3×3, stride 2, pad 1 (latency)
- POOL: 2×2 max pooling forward + backward on W2's output
- EPOCH: one training epoch of seeds/004's model (Conv2D(32,3,relu) →
  MaxPool2D(2) → Flatten → Dense(100,relu) → Dense(10,softmax)) over 60,000
  28×28 images at batch 128, ``convlab.Sequential`` vs Keras' ``fit`` (skipped
  with ``--quick``)
- PEAK: a float32 2048³ matrix product through NumPy — the machine's practical peak.

PyTorch (optional, never required; ``--no-torch`` skips it): when ``torch`` is
importable, each conv workload also runs ``torch.nn.functional.conv2d`` on a
``channels_last`` input — forward, and forward + dx + dkernel through
``y.backward(dy)`` — and POOL runs ``F.max_pool2d`` the same way; PyTorch's
backward-only row calls ``aten.convolution_backward`` directly (TensorFlow's:
``Conv2DBackpropInput`` + ``Conv2DBackpropFilter``). Outputs and gradients are
checked against convlab's once, outside the timing.
The table's "ratio to TF" and "ratio to PyTorch" columns divide each row's time
by that framework's time for the same workload and operation.

Outputs: a table on stdout, and ``results.md``, ``results.json`` and
``results.png`` in ``--out`` (default ``benchmarks/results/``), each written to a
temporary file and renamed. Compile time: the first call of each Numba kernel
in this process, and the time a *fresh* process needs to load them from the
on-disk cache (``__pycache__``), are measured and reported too.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))

import convlab  # noqa: E402
from convlab.util import process  # noqa: E402
from convlab.util.cli_args import OneLineArgumentParser  # noqa: E402
from convlab.util.files import atomic_path  # noqa: E402

WORKLOADS = {
    # name: (N, H, W, C, F, K, stride, padding)
    "W1": (128, 28, 28, 1, 32, 3, 1, "valid"),
    "W2": (64, 32, 32, 32, 64, 3, 1, "same"),
    "W3": (8, 56, 56, 128, 128, 3, 1, "same"),
    "W4": (1, 5, 5, 3, 2, 3, 2, 1),
}
ALL = ["W1", "W2", "W3", "W4", "POOL", "EPOCH"]


# --------------------------------------------------------------------------- timing
def timeit(fn, reps, warmup=1, min_time=0.0):
    """Median wall time (seconds) of ``fn()`` over ``reps`` runs after ``warmup`` calls.

    A 0.3 s pause first lets the previous measurement's worker threads go idle:
    OpenBLAS's threads busy-wait for a while after a matrix product before they
    sleep, and a kernel timed right after the ``numpy`` backend would otherwise
    share the cores with them (README: "Measuring the frameworks' backward passes").
    """
    time.sleep(0.3)
    for _ in range(warmup):
        fn()
    times = []
    t_start = time.perf_counter()
    while len(times) < reps or (time.perf_counter() - t_start < min_time and len(times) < 50 * reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def conv_flops(n, oh, ow, f, kh, kw, c):
    return 2.0 * n * oh * ow * f * kh * kw * c


# --------------------------------------------------------------------------- machine
def machine_info():
    info = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import numba

        # The first get_num_threads() loads Numba's threading layer (libgomp). convlab loads it itself, with
        # GOMP_SPINCOUNT=0 (README, "What convlab changes in your process"); asking numba first would load it
        # without, and every parallel kernel measured after would spin (a 1-image predict: 8 ms instead of 0.4).
        process.quiet_openmp()
        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
        import llvmlite.binding

        # The kernels' register tiles follow the vector width (README: "How the Numba kernels got fast").
        info["avx512"] = bool(llvmlite.binding.get_host_cpu_features().get("avx512f", False))
    except Exception as exc:  # pragma: no cover
        info["numba"] = f"unavailable ({exc})"
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
    except Exception as exc:  # pragma: no cover
        info["blas"] = f"unknown ({exc})"
    info["openblas_env"] = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    return info


def matmul_peak(reps):
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    b = a.copy()
    t = timeit(lambda: a @ b, reps)
    return t, 2.0 * 2048**3


# --------------------------------------------------------------------------- frameworks
def load_tf():
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        return tf
    except Exception:
        return None


def load_torch():
    try:
        import torch

        return torch
    except Exception:
        return None


def _tf_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    return [[0, 0], [padding, padding], [padding, padding], [0, 0]]


def _torch_padding(padding, stride, k, h, w):
    """PyTorch's ``padding`` argument for convlab's ``padding`` on an ``h``×``w`` input, or None.

    ``"valid"`` → 0; an int → that int (the same on all four sides, as convlab and
    PyTorch both mean it); ``"same"`` → TensorFlow's rule, total padding per axis
    ``max((ceil(size/stride) − 1)·stride + k − size, 0)``, which PyTorch can only
    express when that total is even (symmetric): then half of it per side, an int
    when both axes agree. None where it is odd — the workload is then skipped for
    PyTorch rather than compared on a different problem.
    """
    if isinstance(padding, (int, np.integer)):
        return int(padding)
    if padding == "valid":
        return 0
    pads = []
    for size in (h, w):
        total = max((-(-size // stride) - 1) * stride + k - size, 0)
        if total % 2:
            return None
        pads.append(total // 2)
    return pads[0] if pads[0] == pads[1] else tuple(pads)


def _nhwc_to_torch(torch, a, requires_grad=False):
    """NHWC array → NCHW tensor in ``channels_last`` memory (the same bytes order as NHWC)."""
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
    return t.requires_grad_(True) if requires_grad else t


def _torch_to_nhwc(t):
    return t.detach().permute(0, 2, 3, 1).numpy()


def _compare(label, got, want, failures):
    """Append a message to ``failures`` where ``got`` and ``want`` differ by more than
    1e-3 × max(1, max |want|) anywhere (float32 sums over up to ~10⁵ terms: a purely
    absolute 1e-3 would flag rounding on the large kernel gradients)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    if got.shape != want.shape:
        failures.append(f"{label} shape {got.shape} ≠ convlab's {want.shape}")
        return
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    tol = 1e-3 * max(1.0, float(np.max(np.abs(want))) if want.size else 0.0)
    if not diff <= tol:  # also catches NaN
        failures.append(f"{label} differs from convlab's (max |Δ| = {diff:.3g} > {tol:.3g})")


def _torch_timeit(fn, reps, min_time=0.0, what=""):
    """``timeit`` for the optional PyTorch rows: None (and a warning) where PyTorch raises, so an
    unexpected PyTorch version costs its rows, not the whole benchmark."""
    try:
        return timeit(fn, reps, min_time=min_time)
    except Exception as exc:
        print(f"WARNING: PyTorch {what} not timed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return None


def _check_note(failures, workload, impl="pytorch"):
    """The note for a row whose result was checked against convlab ('' when it matched); prints a warning."""
    if not failures:
        return ""
    msg = "; ".join(failures)
    print(f"WARNING: {workload} {impl}: {msg}", file=sys.stderr, flush=True)
    return "CHECK FAILED: " + msg


# --------------------------------------------------------------------------- one conv workload
def bench_conv(name, reps, tf, torch, rows, ref_max_images):
    n, h, w, c, f, k, s, padding = WORKLOADS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    kern = rng.standard_normal((k, k, c, f), dtype=np.float32) * 0.1
    bias = np.zeros(f, np.float32)
    y = convlab.conv2d(x, kern, bias, strides=s, padding=padding)
    oh, ow = y.shape[1:3]
    flops = conv_flops(n, oh, ow, f, k, k, c)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    res = {}

    def add(op, impl, t, fl, note=""):
        rows.append({"workload": name, "op": op, "impl": impl, "time_s": t, "flops": fl, "note": note})
        res[(op, impl)] = t

    # reference: explicit loops — subsampled to a few images where it would take too long
    n_ref = min(n, ref_max_images)
    t = timeit(lambda: convlab.conv2d(x[:n_ref], kern, bias, strides=s, padding=padding, backend="reference"), 1, 0)
    add(
        "forward",
        "reference",
        t * n / n_ref,
        flops,
        "" if n_ref == n else f"timed on {n_ref}/{n} images, scaled ×{n / n_ref:g}",
    )
    t = timeit(lambda: convlab.conv2d(x, kern, bias, strides=s, padding=padding, backend="numpy"), reps)
    add("forward", "numpy", t, flops)
    add(
        "forward",
        "numba",
        timeit(
            lambda: convlab.conv2d(x, kern, bias, strides=s, padding=padding),
            reps,
            min_time=0.2 if name == "W4" else 0.0,
        ),
        flops,
    )
    back = convlab.conv2d_backward
    t = timeit(lambda: back(dy, x, kern, strides=s, padding=padding, backend="numpy"), max(1, reps // 2))
    add("backward dx+dk", "numpy", t, 2 * flops)
    t = timeit(lambda: back(dy, x, kern, strides=s, padding=padding), reps, min_time=0.2 if name == "W4" else 0.0)
    add("backward dx+dk", "numba", t, 2 * flops)

    if tf is not None:
        xt, kt, bt, dyt = (tf.constant(a) for a in (x, kern, bias, dy))
        pad = _tf_padding(padding)

        @tf.function
        def fwd():
            return tf.nn.bias_add(tf.nn.conv2d(xt, kt, s, pad), bt)

        @tf.function
        def fwd_bwd():
            # forward *and* gradients: returning only the gradients would let TF
            # prune the forward convolution; returning y keeps it.
            with tf.GradientTape() as tape:
                tape.watch([xt, kt])
                yy = tf.nn.conv2d(xt, kt, s, pad)
            gx, gk = tape.gradient(yy, [xt, kt], output_gradients=dyt)
            return yy, gx, gk

        # The backward pass alone: the two ops TensorFlow's Conv2D gradient runs (dx by
        # Conv2DBackpropInput, dkernel by Conv2DBackpropFilter), called directly.
        raw_pad, explicit = (pad, []) if isinstance(pad, str) else ("EXPLICIT", [v for pr in pad for v in pr])
        x_shape, k_shape = tf.constant(x.shape, tf.int32), tf.constant(kern.shape, tf.int32)

        @tf.function
        def bwd():
            gx = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=x_shape,
                filter=kt,
                out_backprop=dyt,
                strides=[1, s, s, 1],
                padding=raw_pad,
                explicit_paddings=explicit,
            )
            gk = tf.raw_ops.Conv2DBackpropFilter(
                input=xt,
                filter_sizes=k_shape,
                out_backprop=dyt,
                strides=[1, s, s, 1],
                padding=raw_pad,
                explicit_paddings=explicit,
            )
            return gx, gk

        add("forward", "tensorflow", timeit(lambda: fwd().numpy(), reps, min_time=0.2 if name == "W4" else 0.0), flops)
        add("fwd+dx+dk", "tensorflow", timeit(lambda: [a.numpy() for a in fwd_bwd()], reps), 3 * flops)
        tf_fail = []  # once, outside the timing: the ops compute what convlab computes
        gx, gk = bwd()
        dx, dk, _ = back(dy, x, kern, strides=s, padding=padding)
        _compare("dx", gx.numpy(), dx, tf_fail)
        _compare("dkernel", gk.numpy(), dk, tf_fail)
        note = "Conv2DBackpropInput + Conv2DBackpropFilter"
        tf_note = _check_note(tf_fail, name, "tensorflow")
        add(
            "backward dx+dk",
            "tensorflow",
            timeit(lambda: [a.numpy() for a in bwd()], reps, min_time=0.2 if name == "W4" else 0.0),
            2 * flops,
            note + (f"; {tf_note}" if tf_note else ""),
        )
    if torch is not None:
        tpad = _torch_padding(padding, s, k, h, w)
        if tpad is None:
            print(
                f"({name}: PyTorch skipped — padding {padding!r} at stride {s} is asymmetric here, "
                "which torch.nn.functional.conv2d cannot express)",
                flush=True,
            )
        else:
            bench_torch_conv(name, torch, x, kern, bias, dy, s, tpad, padding, flops, reps, add)
    add(
        "fwd+dx+dk",
        "numba",
        res[("forward", "numba")] + res[("backward dx+dk", "numba")],
        3 * flops,
        "forward + backward timings",
    )
    return res


def bench_torch_conv(name, torch, x, kern, bias, dy, s, tpad, padding, flops, reps, add):
    """PyTorch's CPU convolution on one workload: forward, and forward + dx + dkernel.

    The input is NCHW in ``channels_last`` memory (NHWC bytes, like convlab's), the
    weight ``(F, C, KH, KW)``. The forward is timed under ``no_grad`` (with the
    bias, like convlab's and TF's forward rows); "fwd+dx+dk" runs ``conv2d`` on
    tensors with ``requires_grad`` and ``y.backward(dy)``, clearing ``.grad`` first
    so repetitions do not accumulate — the same work as TF's GradientTape row.
    Before timing, once, the output and both gradients are compared with
    convlab's; a mismatch is printed and written into the rows' notes.
    """
    F = torch.nn.functional
    tiny = name == "W4"
    xp = _nhwc_to_torch(torch, x)
    kp = torch.from_numpy(np.ascontiguousarray(kern.transpose(3, 2, 0, 1)))
    bp = torch.from_numpy(bias)
    dyp = _nhwc_to_torch(torch, dy)
    xg = _nhwc_to_torch(torch, x, requires_grad=True)
    kg = kp.clone().requires_grad_(True)

    def tfwd():
        with torch.no_grad():
            return F.conv2d(xp, kp, bp, s, tpad)

    def tfwd_bwd():
        xg.grad = None
        kg.grad = None
        yy = F.conv2d(xg, kg, None, s, tpad)
        yy.backward(dyp)
        return yy

    # correctness, once, outside the timed loops
    fwd_fail, bwd_fail = [], []
    try:
        _compare(
            "forward output",
            _torch_to_nhwc(tfwd()),
            convlab.conv2d(x, kern, bias, strides=s, padding=padding),
            fwd_fail,
        )
    except Exception as exc:  # report, keep benchmarking
        fwd_fail.append(f"check raised {type(exc).__name__}: {exc}")
    try:
        yy = tfwd_bwd()
        _compare(
            "forward output (grad mode)",
            _torch_to_nhwc(yy),
            convlab.conv2d(x, kern, None, strides=s, padding=padding),
            bwd_fail,
        )
        dx, dk, _ = convlab.conv2d_backward(dy, x, kern, strides=s, padding=padding)
        _compare("dx", _torch_to_nhwc(xg.grad), dx, bwd_fail)
        # weight gradient (F, C, KH, KW) → convlab's (KH, KW, C, F)
        _compare("dkernel", kg.grad.detach().permute(2, 3, 1, 0).numpy(), dk, bwd_fail)
    except Exception as exc:
        bwd_fail.append(f"check raised {type(exc).__name__}: {exc}")
    fwd_note = _check_note(fwd_fail, name)
    bwd_note = _check_note(bwd_fail, name)
    t = _torch_timeit(tfwd, reps, min_time=0.2 if tiny else 0.0, what=f"{name} forward")
    if t is not None:
        add("forward", "pytorch", t, flops, "channels_last" + (f"; {fwd_note}" if fwd_note else ""))
    t = _torch_timeit(tfwd_bwd, reps, min_time=0.2 if tiny else 0.0, what=f"{name} fwd+dx+dk")
    if t is not None:
        add(
            "fwd+dx+dk",
            "pytorch",
            t,
            3 * flops,
            "channels_last, y.backward(dy)" + (f"; {bwd_note}" if bwd_note else ""),
        )

    # The backward pass alone: the op autograd calls for a convolution's gradients.
    pad2 = [tpad, tpad] if isinstance(tpad, int) else list(tpad)

    def tbwd():
        with torch.no_grad():
            return torch.ops.aten.convolution_backward(
                dyp, xp, kp, None, [s, s], pad2, [1, 1], False, [0, 0], 1, [True, True, False]
            )[:2]

    direct_fail = []
    try:
        gx, gk = tbwd()
        dx, dk, _ = convlab.conv2d_backward(dy, x, kern, strides=s, padding=padding)
        _compare("dx", _torch_to_nhwc(gx), dx, direct_fail)
        _compare("dkernel", gk.permute(2, 3, 1, 0).numpy(), dk, direct_fail)
    except Exception as exc:
        direct_fail.append(f"check raised {type(exc).__name__}: {exc}")
    direct_note = _check_note(direct_fail, name)
    t = _torch_timeit(tbwd, reps, min_time=0.2 if tiny else 0.0, what=f"{name} backward")
    if t is not None:
        add(
            "backward dx+dk",
            "pytorch",
            t,
            2 * flops,
            "aten.convolution_backward" + (f"; {direct_note}" if direct_note else ""),
        )


def bench_torch_pool(torch, x, dy, reps, rows):
    """PyTorch's 2×2 max pooling (``F.max_pool2d``, channels_last): forward, and forward + backward."""
    F = torch.nn.functional
    xp = _nhwc_to_torch(torch, x)
    xg = _nhwc_to_torch(torch, x, requires_grad=True)
    dyp = _nhwc_to_torch(torch, dy)

    def tfwd():
        with torch.no_grad():
            return F.max_pool2d(xp, 2)

    def tfwd_bwd():
        xg.grad = None
        yy = F.max_pool2d(xg, 2)
        yy.backward(dyp)
        return yy

    fwd_fail, bwd_fail = [], []
    try:
        _compare("forward output", _torch_to_nhwc(tfwd()), convlab.max_pool2d(x, 2), fwd_fail)
    except Exception as exc:
        fwd_fail.append(f"check raised {type(exc).__name__}: {exc}")
    try:
        tfwd_bwd()
        _compare("dx", _torch_to_nhwc(xg.grad), convlab.max_pool2d_backward(dy, x, 2), bwd_fail)
    except Exception as exc:
        bwd_fail.append(f"check raised {type(exc).__name__}: {exc}")
    fwd_note = _check_note(fwd_fail, "POOL")
    bwd_note = _check_note(bwd_fail, "POOL")
    t = _torch_timeit(tfwd, reps, what="POOL forward")
    if t is not None:
        rows.append(
            {
                "workload": "POOL",
                "op": "forward",
                "impl": "pytorch",
                "time_s": t,
                "flops": 0.0,
                "note": "channels_last" + (f"; {fwd_note}" if fwd_note else ""),
            }
        )
    t = _torch_timeit(tfwd_bwd, reps, what="POOL fwd+bwd")
    if t is not None:
        rows.append(
            {
                "workload": "POOL",
                "op": "fwd+bwd",
                "impl": "pytorch",
                "time_s": t,
                "flops": 0.0,
                "note": "channels_last, y.backward(dy)" + (f"; {bwd_note}" if bwd_note else ""),
            }
        )


def bench_pool(reps, tf, rows, torch=None):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 32, 64), dtype=np.float32)
    y = convlab.max_pool2d(x, 2)
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    for impl, backend in (("numpy", "numpy"), ("numba", None)):
        t_f = timeit(lambda backend=backend: convlab.max_pool2d(x, 2, backend=backend), reps)
        rows.append({"workload": "POOL", "op": "forward", "impl": impl, "time_s": t_f, "flops": 0.0, "note": ""})
        t_b = timeit(lambda backend=backend: convlab.max_pool2d_backward(dy, x, 2, backend=backend), reps)
        rows.append(
            {
                "workload": "POOL",
                "op": "fwd+bwd",
                "impl": impl,
                "time_s": t_f + t_b,
                "flops": 0.0,
                "note": "forward + backward timings",
            }
        )
    if tf is not None:
        xt, dyt = tf.constant(x), tf.constant(dy)

        @tf.function
        def fb():
            with tf.GradientTape() as tape:
                tape.watch(xt)
                yy = tf.nn.max_pool2d(xt, 2, 2, "VALID")
            return yy, tape.gradient(yy, xt, output_gradients=dyt)

        rows.append(
            {
                "workload": "POOL",
                "op": "forward",
                "impl": "tensorflow",
                "time_s": timeit(lambda: tf.nn.max_pool2d(xt, 2, 2, "VALID").numpy(), reps),
                "flops": 0.0,
                "note": "",
            }
        )
        rows.append(
            {
                "workload": "POOL",
                "op": "fwd+bwd",
                "impl": "tensorflow",
                "time_s": timeit(lambda: [a.numpy() for a in fb()], reps),
                "flops": 0.0,
                "note": "",
            }
        )
    if torch is not None:
        bench_torch_pool(torch, x, dy, reps, rows)


def _mnist_like(n=60000):
    rng = np.random.default_rng(0)
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return x, y


def bench_epoch(tf, rows):
    """One epoch of seeds/004's model at batch 128, timed after a short warm-up fit (kernels compiled)."""
    x, y = _mnist_like()
    L = convlab.layers
    model = convlab.Sequential(
        [
            L.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)),
            L.MaxPooling2D(2),
            L.Flatten(),
            L.Dense(100, activation="relu"),
            L.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:1280], y[:1280], epochs=1, batch_size=128, verbose=0)  # compile the kernels
    t0 = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=128, verbose=0)
    rows.append(
        {
            "workload": "EPOCH",
            "op": "fit 1 epoch",
            "impl": "numba",
            "time_s": time.perf_counter() - t0,
            "flops": 0.0,
            "note": "convlab.Sequential, 60,000 images, batch 128",
        }
    )
    if tf is not None:
        import keras

        km = keras.Sequential(
            [
                keras.Input((28, 28, 1)),
                keras.layers.Conv2D(32, 3, activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dense(100, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        km.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        km.fit(x[:1280], y[:1280], epochs=1, batch_size=128, verbose=0)
        t0 = time.perf_counter()
        km.fit(x, y, epochs=1, batch_size=128, verbose=0)
        rows.append(
            {
                "workload": "EPOCH",
                "op": "fit 1 epoch",
                "impl": "tensorflow",
                "time_s": time.perf_counter() - t0,
                "flops": 0.0,
                "note": "Keras fit on TF CPU",
            }
        )


# --------------------------------------------------------------------------- compile time
_COMPILE_SNIPPET = r"""
import time, numpy as np
t0 = time.perf_counter()
import convlab
t1 = time.perf_counter()
x = np.ones((4, 12, 12, 16), np.float32); k = np.ones((3, 3, 16, 32), np.float32)
y = convlab.conv2d(x, k, padding="same")
convlab.conv2d_backward(np.ones_like(y), x, k, padding="same")
convlab.conv2d_backward(np.ones((2, 26, 26, 32), np.float32), np.ones((2, 28, 28, 1), np.float32),
                        np.ones((3, 3, 1, 32), np.float32))
p = convlab.max_pool2d(y, 2)
convlab.max_pool2d_backward(np.ones_like(p), y, 2)
t2 = time.perf_counter()
print(f"{t1 - t0:.4f} {t2 - t1:.4f}")
"""


def compile_times():
    """(first, second): seconds for a fresh process to get the kernels ready, twice in a row.

    The first run may compile (empty cache) or load; we clear nothing, so to see a
    true first compile delete ``convlab/kernels/__pycache__`` before running.
    """
    out = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            return None
        out.append([float(v) for v in r.stdout.split()[-2:]])
    return out


# --------------------------------------------------------------------------- memory
_MEMORY_SNIPPET = r"""
import sys, numpy as np
import convlab

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None

backend = sys.argv[1]
n, h, w, c, f = 8, 56, 56, 128, 128
x = np.random.default_rng(0).standard_normal((n, h, w, c), dtype=np.float32)
k = np.random.default_rng(1).standard_normal((3, 3, c, f), dtype=np.float32)
convlab.conv2d(x[:1, :8, :8], k, padding="same", backend=backend)  # load/compile kernels first
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak-RSS mark (VmHWM) to the current RSS
    fh.write("5")
before = status("VmRSS")
y = convlab.conv2d(x, k, padding="same", backend=backend)
peak = status("VmHWM")
print(peak - before, x.nbytes + y.nbytes + k.nbytes, x.nbytes + k.nbytes)
"""


def memory_w3():
    """Peak extra resident memory of one W3 ``conv2d`` call, per backend, in a fresh process.

    Method: Linux ``/proc/self/status``. After the kernels are loaded, the peak
    resident-set mark is reset (``/proc/self/clear_refs`` ← 5); the call's cost is
    ``VmHWM − VmRSS`` measured around it. RSS sees every allocation, NumPy's and
    Numba's alike (the kernels allocate through the same C heap). Returns
    ``{backend: (peak_extra_bytes, input+output+kernel bytes, input+kernel bytes)}`` or ``{}`` where
    ``/proc`` is unavailable.
    """
    out = {}
    for backend in ("numba", "numpy"):
        try:
            r = subprocess.run(
                [sys.executable, "-c", _MEMORY_SNIPPET, backend], capture_output=True, text=True, cwd=ROOT, timeout=300
            )
            if r.returncode == 0:
                extra, base, inputs = (int(v) for v in r.stdout.split()[-3:])
                out[backend] = (extra, base, inputs)
        except Exception:
            pass
    return out


# --------------------------------------------------------------------------- report
def build_table(rows, peak_flops_s):
    tf_time = {(r["workload"], r["op"]): r["time_s"] for r in rows if r["impl"] == "tensorflow"}
    torch_time = {(r["workload"], r["op"]): r["time_s"] for r in rows if r["impl"] == "pytorch"}
    lines = []
    for r in rows:
        gf = r["flops"] / r["time_s"] / 1e9 if r["flops"] else None
        tf_t = tf_time.get((r["workload"], r["op"]))
        torch_t = torch_time.get((r["workload"], r["op"]))
        r["gflops"] = gf
        r["ratio_to_tf"] = r["time_s"] / tf_t if tf_t else None
        r["ratio_to_torch"] = r["time_s"] / torch_t if torch_t else None
        r["pct_peak"] = 100 * gf * 1e9 / peak_flops_s if gf and peak_flops_s else None
        lines.append(r)
    return lines


def fmt_time(t):
    if t >= 1:
        return f"{t:.2f} s"
    if t >= 1e-3:
        return f"{t * 1e3:.2f} ms"
    return f"{t * 1e6:.1f} µs"


def to_markdown(rows, info, peak, compile_info, memory=None):
    out = [
        "# convlab benchmark",
        "",
        "float32, NHWC, median of several runs in one process. Ratio = time / TensorFlow's (or PyTorch's) "
        "time for the same operation in the same run (< 1: faster than it; empty where that framework did "
        "not run). Timings on a shared machine are noisy.",
        "",
        "| workload | operation | implementation | time | GFLOP/s | ratio to TF | ratio to PyTorch | % of peak "
        "| note |",
        "|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        out.append(
            "| {workload} | {op} | {impl} | {t} | {gf} | {ratio} | {ratio_pt} | {pct} | {note} |".format(
                workload=r["workload"],
                op=r["op"],
                impl=r["impl"],
                t=fmt_time(r["time_s"]),
                gf=f"{r['gflops']:.1f}" if r["gflops"] else "",
                ratio=f"{r['ratio_to_tf']:.2f}" if r["ratio_to_tf"] else "",
                ratio_pt=f"{r['ratio_to_torch']:.2f}" if r.get("ratio_to_torch") else "",
                pct=f"{r['pct_peak']:.0f}%" if r["pct_peak"] else "",
                note=r["note"],
            )
        )
    out += ["", f"Practical peak (NumPy float32 2048³ matmul): {peak / 1e9:.0f} GFLOP/s.", ""]
    if memory:
        out += [
            "Peak memory of one W3 conv2d call (fresh process, peak RSS above the RSS before the call; "
            "input + output + kernel = the arrays the call must hold anyway):",
            "",
        ]
        for backend, (extra, base, inputs) in memory.items():
            out.append(
                f"- {backend}: {extra / 2**20:.1f} MiB allocated by the call (output included); peak with the "
                f"inputs {(extra + inputs) / 2**20:.1f} MiB = {(extra + inputs) / base:.2f} × (input + output + "
                f"kernel = {base / 2**20:.1f} MiB)"
            )
        out.append("")
    if compile_info:
        (imp1, k1), (imp2, k2) = compile_info
        out += [
            f"Kernel start-up in a fresh process: first run {k1:.2f} s (import {imp1:.2f} s), "
            f"second run {k2:.2f} s (import {imp2:.2f} s) — the second loads the compiled kernels from "
            "the on-disk cache (`cache=True`).",
            "",
        ]
    out += ["## Machine", "", "```", json.dumps(info, indent=1, default=str), "```", ""]
    return "\n".join(out)


def plot(rows, peak, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conv = [r for r in rows if r["workload"] in ("W1", "W2", "W3") and r["op"] == "forward" and r["gflops"]]
    impls = sorted({r["impl"] for r in conv}, key=["reference", "numpy", "numba", "tensorflow", "pytorch"].index)
    wls = [w for w in ("W1", "W2", "W3") if any(r["workload"] == w for r in conv)]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(1, len(impls))
    for i, impl in enumerate(impls):
        vals = [next((r["gflops"] for r in conv if r["workload"] == w and r["impl"] == impl), 0) for w in wls]
        ax.bar(np.arange(len(wls)) + i * width, vals, width, label=impl)
    ax.axhline(peak / 1e9, color="k", ls="--", lw=1, label="matmul peak")
    ax.set_xticks(np.arange(len(wls)) + width * (len(impls) - 1) / 2)
    ax.set_xticklabels(wls)
    ax.set_ylabel("GFLOP/s (float32)")
    ax.set_yscale("log")
    ax.set_title("conv2d forward: convlab backends vs TensorFlow and PyTorch")
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
    finally:
        plt.close(fig)


def main(argv=None):
    ap = OneLineArgumentParser(prog="benchmarks/bench.py", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions, skip the training epoch")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(ALL)} (PEAK always runs)")
    ap.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results/)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per timing (default 7, 3 with --quick)")
    ap.add_argument("--no-tf", action="store_true", help="do not import TensorFlow")
    ap.add_argument("--no-torch", action="store_true", help="do not import PyTorch (as if it were not installed)")
    ap.add_argument("--no-compile-check", action="store_true", help="skip the fresh-process compile/load timing")
    args = ap.parse_args(argv)
    reps = args.reps or (3 if args.quick else 7)
    only = ALL if args.only is None else [w.strip().upper() for w in args.only.split(",") if w.strip()]
    bad = [w for w in only if w not in ALL]
    if bad:
        ap.error(f"unknown workload(s) {bad}; choose from {ALL}")
    if args.quick and args.only is None:
        only = [w for w in only if w != "EPOCH"]

    out = Path(args.out)
    compile_info = None if args.no_compile_check else compile_times()
    info = machine_info()
    tf = None if args.no_tf else load_tf()
    torch = None if args.no_torch else load_torch()
    info["tensorflow"] = getattr(tf, "__version__", None)
    info["torch"] = getattr(torch, "__version__", None)
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    t_peak, fl_peak = matmul_peak(reps)
    peak = fl_peak / t_peak
    rows = [{"workload": "PEAK", "op": "matmul 2048³", "impl": "numpy", "time_s": t_peak, "flops": fl_peak, "note": ""}]
    for w in only:
        print(f"... {w}", flush=True)
        if w in WORKLOADS:
            bench_conv(w, reps, tf, torch, rows, ref_max_images=1 if args.quick else 2)
        elif w == "POOL":
            bench_pool(reps, tf, rows, torch)
        elif w == "EPOCH":
            bench_epoch(tf, rows)
    rows = build_table(rows, peak)
    memory = {} if args.quick or args.only is not None and "W3" not in only else memory_w3()
    md = to_markdown(rows, info, peak, compile_info, memory)
    print(md)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "results.md") as tmp:
        Path(tmp).write_text(md)
    with atomic_path(out / "results.json") as tmp:
        Path(tmp).write_text(
            json.dumps(
                {"machine": info, "peak_flops_s": peak, "compile": compile_info, "memory_w3": memory, "rows": rows},
                indent=1,
                default=str,
            )
        )
    try:
        plot(rows, peak, out / "results.png")
    except Exception as exc:  # the numbers matter more than the picture
        print(f"(plot skipped: {exc})")
    print(f"wrote {out / 'results.md'}, results.json, results.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
