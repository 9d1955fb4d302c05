"""The workloads of ``bench.py``, timed by one framework at a time: convlab, TensorFlow or PyTorch.

Each ``*_rows(workloads, reps, save, first_round)`` function imports only its own
framework, times every workload it is given and returns rows
``{"workload", "op", "impl", "time_s", "flops", "note"}``. ``save(key, **arrays)``
keeps the framework's outputs for fixed inputs (first round only), so the parent
can check them against convlab's outside any timing. float32 NHWC throughout;
flops = 2·N·OH·OW·F·KH·KW·C.

Operations, named alike for every framework so their times divide:

- ``forward``: the convolution with its bias (PyTorch under ``no_grad``, TF in a ``tf.function``);
- ``backward dx+dk``: the input and kernel gradients from a given ``dy``, each framework's own gradient
  ops alone (convlab ``conv2d_backward``; TF ``Conv2DBackpropInput`` + ``Conv2DBackpropFilter``;
  PyTorch ``aten.convolution_backward``, the op autograd runs);
- ``fwd+dx+dk``: forward and both gradients (TF ``GradientTape``, PyTorch ``y.backward(dy)``; convlab's
  row is the sum of its two timings);
- POOL ``forward`` and ``fwd+bwd``: 2×2 max pooling, then its input gradient, timed together;
- EPOCH ``1 epoch``: seeds/004's model, 60,000 28×28 images, batch 128, Adam, one epoch after a short
  warm-up: ``convlab.Sequential.fit``, Keras ``fit``, and an eager PyTorch loop (zero_grad, forward,
  cross-entropy, backward, Adam step, accuracy count).
"""

from __future__ import annotations

import os
import time

import numpy as np
from bench_machine import matmul_peak, timeit

WORKLOADS = {
    # name: (N, H, W, C, F, K, stride, padding)
    "W1": (128, 28, 28, 1, 32, 3, 1, "valid"),
    "W2": (64, 32, 32, 32, 64, 3, 1, "same"),
    "W3": (8, 56, 56, 128, 128, 3, 1, "same"),
    "W4": (1, 5, 5, 3, 2, 3, 2, 1),
}
POOL_SHAPE = (64, 32, 32, 64)  # W2's output
EPOCH_IMAGES, EPOCH_BATCH = 60_000, 128
ALL = ["W1", "W2", "W3", "W4", "POOL", "EPOCH"]


# --------------------------------------------------------------------------- inputs
def conv_inputs(name):
    """The fixed float32 inputs of a convolution workload: ``x, kernel (KH,KW,C,F), bias, dy``."""
    n, h, w, c, f, k, s, padding = WORKLOADS[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, h, w, c), dtype=np.float32)
    kern = rng.standard_normal((k, k, c, f), dtype=np.float32) * 0.1
    bias = np.zeros(f, np.float32)
    oh, ow = (_out(h, k, s, padding), _out(w, k, s, padding))
    dy = rng.standard_normal((n, oh, ow, f), dtype=np.float32)
    return x, kern, bias, dy


def _out(size, k, s, padding):
    if padding == "same":
        return -(-size // s)
    pad = 0 if padding == "valid" else 2 * padding
    return (size + pad - k) // s + 1


def conv_flops(name):
    n, h, w, c, f, k, s, padding = WORKLOADS[name]
    return 2.0 * n * _out(h, k, s, padding) * _out(w, k, s, padding) * f * k * k * c


def pool_inputs():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(POOL_SHAPE, dtype=np.float32)
    n, h, w, c = POOL_SHAPE
    dy = rng.standard_normal((n, h // 2, w // 2, c), dtype=np.float32)
    return x, dy


def mnist_like(n=EPOCH_IMAGES):
    """Random 28×28 images and labels: only the time of an epoch matters here."""
    rng = np.random.default_rng(0)
    return rng.random((n, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, n)


def _min_time(name):
    return 0.2 if name == "W4" else 0.0  # W4 takes microseconds: repeat for at least 0.2 s


def _row(workload, op, impl, t, flops=0.0, note=""):
    return {"workload": workload, "op": op, "impl": impl, "time_s": t, "flops": flops, "note": note}


# --------------------------------------------------------------------------- convlab
def convlab_rows(workloads, reps, save, first_round=True, ref_max_images=2):
    """convlab's rows: ``numba`` (the default) every round; ``reference`` and ``numpy`` in the first round.

    The reference loops are timed on ``ref_max_images`` images and scaled (the
    note says so). PEAK (the matrix-product rate) is measured here too, since it
    needs only NumPy.
    """
    import convlab

    rows = []
    t, fl = matmul_peak(reps)
    rows.append(_row("PEAK", "matmul 2048³", "numpy", t, fl))
    for name in workloads:
        if name in WORKLOADS:
            rows += _convlab_conv(convlab, name, reps, save, first_round, ref_max_images)
        elif name == "POOL":
            rows += _convlab_pool(convlab, reps, save, first_round)
        elif name == "EPOCH":
            rows.append(_convlab_epoch(convlab))
    return rows


def _convlab_conv(convlab, name, reps, save, first_round, ref_max_images):
    x, kern, bias, dy = conv_inputs(name)
    s, padding = WORKLOADS[name][6:]
    flops, mt = conv_flops(name), _min_time(name)
    fwd = convlab.conv2d
    back = convlab.conv2d_backward
    rows = []
    if first_round:
        n = x.shape[0]
        n_ref = min(n, ref_max_images)
        t = timeit(lambda: fwd(x[:n_ref], kern, bias, strides=s, padding=padding, backend="reference"), 1, 0)
        note = "" if n_ref == n else f"timed on {n_ref}/{n} images, scaled ×{n / n_ref:g}"
        rows.append(_row(name, "forward", "reference", t * n / n_ref, flops, note))
        t = timeit(lambda: fwd(x, kern, bias, strides=s, padding=padding, backend="numpy"), reps)
        rows.append(_row(name, "forward", "numpy", t, flops))
        t = timeit(lambda: back(dy, x, kern, strides=s, padding=padding, backend="numpy"), max(1, reps // 2))
        rows.append(_row(name, "backward dx+dk", "numpy", t, 2 * flops))
    t_f = timeit(lambda: fwd(x, kern, bias, strides=s, padding=padding), reps, min_time=mt)
    t_b = timeit(lambda: back(dy, x, kern, strides=s, padding=padding), reps, min_time=mt)
    rows.append(_row(name, "forward", "numba", t_f, flops))
    rows.append(_row(name, "backward dx+dk", "numba", t_b, 2 * flops))
    rows.append(_row(name, "fwd+dx+dk", "numba", t_f + t_b, 3 * flops, "forward + backward timings"))
    y = fwd(x, kern, bias, strides=s, padding=padding)
    dx, dk, _ = back(dy, x, kern, strides=s, padding=padding)
    save(f"convlab-{name}", y=y, dx=dx, dk=dk)
    return rows


def _convlab_pool(convlab, reps, save, first_round):
    x, dy = pool_inputs()
    rows = []
    for impl, backend in (("numpy", "numpy"), ("numba", None)) if first_round else (("numba", None),):

        def both(backend=backend):
            convlab.max_pool2d(x, 2, backend=backend)
            return convlab.max_pool2d_backward(dy, x, 2, backend=backend)

        rows.append(_row("POOL", "forward", impl, timeit(lambda b=backend: convlab.max_pool2d(x, 2, backend=b), reps)))
        rows.append(_row("POOL", "fwd+bwd", impl, timeit(both, reps), note="max_pool2d, then max_pool2d_backward"))
    save("convlab-POOL", y=convlab.max_pool2d(x, 2), dx=convlab.max_pool2d_backward(dy, x, 2))
    return rows


def _convlab_epoch(convlab):
    x, y = mnist_like()
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
    model.fit(x[: 10 * EPOCH_BATCH], y[: 10 * EPOCH_BATCH], epochs=1, batch_size=EPOCH_BATCH, verbose=0)  # warm up
    t0 = time.perf_counter()
    model.fit(x, y, epochs=1, batch_size=EPOCH_BATCH, verbose=0)
    t = time.perf_counter() - t0
    return _row("EPOCH", "1 epoch", "numba", t, note="convlab.Sequential.fit, 60,000 images, batch 128")


# --------------------------------------------------------------------------- TensorFlow
def _tf_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    return [[0, 0], [padding, padding], [padding, padding], [0, 0]]


def tensorflow_rows(workloads, reps, save, first_round=True):
    """TensorFlow's rows (``tf.nn`` ops in ``tf.function``s; Keras ``fit`` for EPOCH)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    rows = []
    for name in workloads:
        if name in WORKLOADS:
            rows += _tf_conv(tf, name, reps, save)
        elif name == "POOL":
            rows += _tf_pool(tf, reps, save)
        elif name == "EPOCH":
            rows.append(_keras_epoch())
    return rows


def _tf_conv(tf, name, reps, save):
    x, kern, bias, dy = conv_inputs(name)
    s, padding = WORKLOADS[name][6:]
    flops, mt = conv_flops(name), _min_time(name)
    xt, kt, bt, dyt = (tf.constant(a) for a in (x, kern, bias, dy))
    pad = _tf_padding(padding)

    @tf.function
    def fwd():
        return tf.nn.bias_add(tf.nn.conv2d(xt, kt, s, pad), bt)

    @tf.function
    def fwd_bwd():
        # Forward *and* gradients: returning only the gradients would let TF prune the forward convolution.
        with tf.GradientTape() as tape:
            tape.watch([xt, kt])
            yy = tf.nn.conv2d(xt, kt, s, pad)
        gx, gk = tape.gradient(yy, [xt, kt], output_gradients=dyt)
        return yy, gx, gk

    # The backward pass alone: the two ops TensorFlow's Conv2D gradient runs, called directly.
    raw_pad, explicit = (pad, []) if isinstance(pad, str) else ("EXPLICIT", [v for pr in pad for v in pr])
    x_shape, k_shape = tf.constant(x.shape, tf.int32), tf.constant(kern.shape, tf.int32)
    strides = [1, s, s, 1]

    @tf.function
    def bwd():
        gx = tf.raw_ops.Conv2DBackpropInput(
            input_sizes=x_shape,
            filter=kt,
            out_backprop=dyt,
            strides=strides,
            padding=raw_pad,
            explicit_paddings=explicit,
        )
        gk = tf.raw_ops.Conv2DBackpropFilter(
            input=xt,
            filter_sizes=k_shape,
            out_backprop=dyt,
            strides=strides,
            padding=raw_pad,
            explicit_paddings=explicit,
        )
        return gx, gk

    gx, gk = bwd()
    _, ax, ak = fwd_bwd()
    save(f"tensorflow-{name}", y=fwd().numpy(), dx=gx.numpy(), dk=gk.numpy(), dx_tape=ax.numpy(), dk_tape=ak.numpy())
    return [
        _row(name, "forward", "tensorflow", timeit(lambda: fwd().numpy(), reps, min_time=mt), flops),
        _row(
            name,
            "backward dx+dk",
            "tensorflow",
            timeit(lambda: [a.numpy() for a in bwd()], reps, min_time=mt),
            2 * flops,
            "Conv2DBackpropInput + Conv2DBackpropFilter",
        ),
        _row(
            name,
            "fwd+dx+dk",
            "tensorflow",
            timeit(lambda: [a.numpy() for a in fwd_bwd()], reps, min_time=mt),
            3 * flops,
            "GradientTape",
        ),
    ]


def _tf_pool(tf, reps, save):
    x, dy = pool_inputs()
    xt, dyt = tf.constant(x), tf.constant(dy)

    @tf.function
    def fwd():
        return tf.nn.max_pool2d(xt, 2, 2, "VALID")

    @tf.function
    def fb():
        with tf.GradientTape() as tape:
            tape.watch(xt)
            yy = tf.nn.max_pool2d(xt, 2, 2, "VALID")
        return yy, tape.gradient(yy, xt, output_gradients=dyt)

    yy, gx = fb()
    save("tensorflow-POOL", y=yy.numpy(), dx=gx.numpy())
    return [
        _row("POOL", "forward", "tensorflow", timeit(lambda: fwd().numpy(), reps)),
        _row("POOL", "fwd+bwd", "tensorflow", timeit(lambda: [a.numpy() for a in fb()], reps), note="GradientTape"),
    ]


def _keras_epoch():
    import keras

    x, y = mnist_like()
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
    km.fit(x[: 10 * EPOCH_BATCH], y[: 10 * EPOCH_BATCH], epochs=1, batch_size=EPOCH_BATCH, verbose=0)
    t0 = time.perf_counter()
    km.fit(x, y, epochs=1, batch_size=EPOCH_BATCH, verbose=0)
    return _row("EPOCH", "1 epoch", "tensorflow", time.perf_counter() - t0, note="Keras fit on TF CPU")


# --------------------------------------------------------------------------- PyTorch
def _torch_padding(padding, stride, k, h, w):
    """PyTorch's ``padding`` for convlab's on an ``h``×``w`` input, or None where PyTorch cannot express it.

    ``"valid"`` → 0; an int → that int; ``"same"`` → TensorFlow's rule, total
    padding per axis ``max((ceil(size/stride) − 1)·stride + k − size, 0)``, which
    PyTorch can express only when that total is even (then half per side).
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


def pytorch_rows(workloads, reps, save, first_round=True):
    """PyTorch's rows (``torch.nn.functional`` on ``channels_last`` tensors; an eager training loop for EPOCH)."""
    import torch

    rows = []
    for name in workloads:
        if name in WORKLOADS:
            rows += _torch_conv(torch, name, reps, save)
        elif name == "POOL":
            rows += _torch_pool(torch, reps, save)
        elif name == "EPOCH":
            rows.append(_torch_epoch(torch))
    return rows


def _torch_conv(torch, name, reps, save):
    x, kern, bias, dy = conv_inputs(name)
    n, h, w, c, f, k, s, padding = WORKLOADS[name]
    tpad = _torch_padding(padding, s, k, h, w)
    if tpad is None:  # not one of the benchmark's workloads today; kept so a new one cannot compare wrongly
        print(f"({name}: PyTorch skipped: padding {padding!r} is asymmetric here)", flush=True)
        return []
    flops, mt = conv_flops(name), _min_time(name)
    F = torch.nn.functional
    xp, dyp = _nhwc_to_torch(torch, x), _nhwc_to_torch(torch, dy)
    kp = torch.from_numpy(np.ascontiguousarray(kern.transpose(3, 2, 0, 1)))  # (F, C, KH, KW)
    bp = torch.from_numpy(bias)
    xg = _nhwc_to_torch(torch, x, requires_grad=True)
    kg = kp.clone().requires_grad_(True)
    pad2 = [tpad, tpad] if isinstance(tpad, int) else list(tpad)

    def fwd():
        with torch.no_grad():
            return F.conv2d(xp, kp, bp, s, tpad)

    def bwd():  # the op autograd calls for a convolution's gradients
        with torch.no_grad():
            return torch.ops.aten.convolution_backward(
                dyp, xp, kp, None, [s, s], pad2, [1, 1], False, [0, 0], 1, [True, True, False]
            )[:2]

    def fwd_bwd():
        xg.grad = None  # repetitions must not accumulate
        kg.grad = None
        yy = F.conv2d(xg, kg, None, s, tpad)
        yy.backward(dyp)
        return yy

    gx, gk = bwd()
    fwd_bwd()
    save(
        f"pytorch-{name}",
        y=_torch_to_nhwc(fwd()),
        dx=_torch_to_nhwc(gx),
        dk=gk.permute(2, 3, 1, 0).numpy(),  # (F, C, KH, KW) → convlab's (KH, KW, C, F)
        dx_tape=_torch_to_nhwc(xg.grad),
        dk_tape=kg.grad.detach().permute(2, 3, 1, 0).numpy(),
    )
    return [
        _row(name, "forward", "pytorch", timeit(fwd, reps, min_time=mt), flops, "channels_last"),
        _row(name, "backward dx+dk", "pytorch", timeit(bwd, reps, min_time=mt), 2 * flops, "aten.convolution_backward"),
        _row(name, "fwd+dx+dk", "pytorch", timeit(fwd_bwd, reps, min_time=mt), 3 * flops, "y.backward(dy)"),
    ]


def _torch_pool(torch, reps, save):
    x, dy = pool_inputs()
    F = torch.nn.functional
    xp, xg, dyp = _nhwc_to_torch(torch, x), _nhwc_to_torch(torch, x, requires_grad=True), _nhwc_to_torch(torch, dy)

    def fwd():
        with torch.no_grad():
            return F.max_pool2d(xp, 2)

    def fwd_bwd():
        xg.grad = None
        yy = F.max_pool2d(xg, 2)
        yy.backward(dyp)
        return yy

    fwd_bwd()
    save("pytorch-POOL", y=_torch_to_nhwc(fwd()), dx=_torch_to_nhwc(xg.grad))
    return [
        _row("POOL", "forward", "pytorch", timeit(fwd, reps), note="channels_last"),
        _row("POOL", "fwd+bwd", "pytorch", timeit(fwd_bwd, reps), note="y.backward(dy)"),
    ]


def _torch_epoch(torch):
    """seeds/004's model as an eager PyTorch loop: what a PyTorch user writes for Keras' ``fit``."""
    nn = torch.nn
    x, y = mnist_like()
    xs = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()  # (N, 1, 28, 28): one channel, NCHW = NHWC bytes
    ys = torch.from_numpy(y)
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 13 * 13, 100),
        nn.ReLU(),
        nn.Linear(100, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()  # softmax + cross-entropy from the logits, as Keras and convlab fuse them

    def epoch(n):
        order = torch.randperm(n)
        correct = 0
        for start in range(0, n, EPOCH_BATCH):
            idx = order[start : start + EPOCH_BATCH]
            xb, yb = xs[idx], ys[idx]
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            correct += int((out.argmax(1) == yb).sum())  # the accuracy metric Keras and convlab report
        return correct

    epoch(10 * EPOCH_BATCH)  # warm-up
    t0 = time.perf_counter()
    epoch(len(x))
    return _row("EPOCH", "1 epoch", "pytorch", time.perf_counter() - t0, note="eager loop, Adam, batch 128")


RUNNERS = {"convlab": convlab_rows, "tensorflow": tensorflow_rows, "pytorch": pytorch_rows}
MODULES = {"convlab": "convlab", "tensorflow": "tensorflow", "pytorch": "torch"}


def framework_versions(framework):
    """``{"<framework>": version, "<framework>_threads": n}`` for the framework this process imported."""
    if framework == "tensorflow":
        import tensorflow as tf

        return {
            "tensorflow": tf.__version__,
            "tensorflow_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        }
    if framework == "pytorch":
        import torch

        return {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    import convlab

    return {"convlab": convlab.__version__}
