"""The rest of convolution arithmetic, timed: depthwise, dilated and transposed convolution vs TensorFlow and PyTorch.

Run from the repository root::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_arith.py [--rounds 3] [--reps 9]

Each framework runs in **its own process** (``--worker``), alternating rounds
(convlab, TensorFlow, PyTorch, convlab, …): their thread pools in one process
disturb each other on a 2-core machine. A worker times every case and prints
its medians as JSON; the parent reports, per case and operation, the median
over rounds and ``convlab / min(TensorFlow, PyTorch)`` from the same run (the
target is ≤ 1.0). float32 NHWC throughout. Cases:

- DW: depthwise 3×3, ``N=8, 56×56×128``, stride 1, "same", depth_multiplier 1
  (a MobileNet layer);
- DIL: 3×3 convolution dilated by 2, ``N=64, 32×32×32 → 64``, "same" (W2's shape);
- TCONV: stride-2 transposed convolution with a 4×4 kernel (DCGAN's),
  ``N=32, 16×16×64 → 32×32×32``, "same".

"forward" is the operation; "backward" is its input and kernel gradients, each
framework's own gradient ops alone (TensorFlow: ``tf.raw_ops`` *Backprop* ops
in a ``tf.function``; PyTorch: ``aten.convolution_backward``; convlab: the
``*_backward`` function). Before timing, each worker writes its outputs for
fixed inputs and the parent checks them against convlab's reference backend
(a difference above 1e-3 of the output's scale marks the row "CHECK FAILED").
Outputs ``results/arith.md`` and ``results/arith.json`` (temporary file, then
rename) with the machine (CPU, ISA flags, cores, versions) beside the numbers.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from bench_machine import timeit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))

#: name → (N, H, W, C_in, kernel, C_out or depth multiplier, stride, dilation)
CASES = {
    "DW": dict(n=8, h=56, w=56, c=128, k=3, out=1, stride=1, dilation=1),
    "DIL": dict(n=64, h=32, w=32, c=32, k=3, out=64, stride=1, dilation=2),
    "TCONV": dict(n=32, h=16, w=16, c=64, k=4, out=32, stride=2, dilation=1),
}
FRAMEWORKS = ["convlab", "tensorflow", "pytorch"]
OPS = ["forward", "backward"]


def _inputs(name):
    """Fixed float32 inputs of a case: x, kernel in convlab's layout, and dy of the output's shape."""
    p = CASES[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((p["n"], p["h"], p["w"], p["c"]), dtype=np.float32)
    if name == "DW":
        kernel = rng.standard_normal((p["k"], p["k"], p["c"], p["out"]), dtype=np.float32) * 0.3
        oh, ow, co = p["h"], p["w"], p["c"] * p["out"]
    elif name == "DIL":
        kernel = rng.standard_normal((p["k"], p["k"], p["c"], p["out"]), dtype=np.float32) * 0.1
        oh, ow, co = p["h"], p["w"], p["out"]
    else:  # TCONV: Keras' Conv2DTranspose layout (KH, KW, C_out, C_in)
        kernel = rng.standard_normal((p["k"], p["k"], p["out"], p["c"]), dtype=np.float32) * 0.1
        oh, ow, co = p["h"] * p["stride"], p["w"] * p["stride"], p["out"]
    dy = rng.standard_normal((p["n"], oh, ow, co), dtype=np.float32)
    return x, kernel, dy


# --------------------------------------------------------------------------- the three workers
def _convlab_ops(name, x, kernel, dy):
    import convlab
    from convlab.ops.conv_transpose import conv2d_transpose, conv2d_transpose_backward
    from convlab.ops.depthwise import depthwise_conv2d, depthwise_conv2d_backward

    p = CASES[name]
    if name == "DW":
        return (
            lambda: depthwise_conv2d(x, kernel, padding="same"),
            lambda: depthwise_conv2d_backward(dy, x, kernel, padding="same")[:2],
        )
    if name == "DIL":
        return (
            lambda: convlab.conv2d(x, kernel, padding="same", dilation_rate=p["dilation"]),
            lambda: convlab.conv2d_backward(dy, x, kernel, padding="same", dilation_rate=p["dilation"])[:2],
        )
    return (
        lambda: conv2d_transpose(x, kernel, strides=p["stride"], padding="same"),
        lambda: conv2d_transpose_backward(dy, x, kernel, strides=p["stride"], padding="same")[:2],
    )


def _tf_ops(name, x, kernel, dy):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    p = CASES[name]
    xt, kt, dyt = tf.constant(x), tf.constant(kernel), tf.constant(dy)
    d, s = p["dilation"], p["stride"]
    if name == "DW":
        fwd = tf.function(lambda: tf.nn.depthwise_conv2d(xt, kt, [1, 1, 1, 1], "SAME"))
        bwd = tf.function(
            lambda: (
                tf.raw_ops.DepthwiseConv2dNativeBackpropInput(
                    input_sizes=x.shape, filter=kt, out_backprop=dyt, strides=[1, 1, 1, 1], padding="SAME"
                ),
                tf.raw_ops.DepthwiseConv2dNativeBackpropFilter(
                    input=xt, filter_sizes=kernel.shape, out_backprop=dyt, strides=[1, 1, 1, 1], padding="SAME"
                ),
            )
        )
    elif name == "DIL":
        # TensorFlow's CPU kernels have no dilated gradient ops: its gradient of a dilated convolution
        # (tf.nn.convolution) is space-to-batch, the undilated gradient ops, batch-to-space — timed here.
        p = d * (p["k"] - 1) // 2  # "same" for the effective kernel: equal pads at stride 1
        block, no_pad = [d, d], [[0, 0], [0, 0]]
        fwd = tf.function(lambda: tf.nn.conv2d(xt, kt, 1, "SAME", dilations=d))

        def dil_backward():
            xs = tf.space_to_batch_nd(tf.pad(xt, [[0, 0], [p, p], [p, p], [0, 0]]), block, no_pad)
            dys = tf.space_to_batch_nd(dyt, block, no_pad)
            one = [1, 1, 1, 1]
            dxs = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(xs), filter=kt, out_backprop=dys, strides=one, padding="VALID"
            )
            dk = tf.raw_ops.Conv2DBackpropFilter(
                input=xs, filter_sizes=kernel.shape, out_backprop=dys, strides=one, padding="VALID"
            )
            dx = tf.batch_to_space(dxs, block, no_pad)[:, p:-p, p:-p, :]
            return dx, dk

        bwd = tf.function(dil_backward)
    else:
        st = [1, s, s, 1]
        fwd = tf.function(lambda: tf.nn.conv2d_transpose(xt, kt, dy.shape, s, "SAME"))
        # The transposed convolution's gradients: dx is the forward convolution of dy, dkernel the
        # filter gradient with dy in the input's role.
        bwd = tf.function(
            lambda: (
                tf.nn.conv2d(dyt, kt, s, "SAME"),
                tf.raw_ops.Conv2DBackpropFilter(
                    input=dyt, filter_sizes=kernel.shape, out_backprop=xt, strides=st, padding="SAME"
                ),
            )
        )
    return (lambda: fwd().numpy(), lambda: [a.numpy() for a in bwd()])


def _torch_ops(name, x, kernel, dy):
    import torch
    import torch.nn.functional as F

    p = CASES[name]
    cl = torch.channels_last

    def nchw(a):
        return torch.from_numpy(a).permute(0, 3, 1, 2).contiguous(memory_format=cl)

    xt, dyt = nchw(x), nchw(dy)
    d, s, k = p["dilation"], p["stride"], p["k"]
    if name == "DW":  # (KH, KW, C, M) → (C·M, 1, KH, KW), groups = C
        c, m = kernel.shape[2], kernel.shape[3]
        wt = torch.from_numpy(kernel.reshape(k, k, c * m).transpose(2, 0, 1).copy())[:, None]
        args = dict(stride=[1, 1], padding=[1, 1], dilation=[1, 1], transposed=False, output_padding=[0, 0], groups=c)
        fwd = lambda: F.conv2d(xt, wt, padding=1, groups=c)  # noqa: E731
    elif name == "DIL":
        wt = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
        args = dict(stride=[1, 1], padding=[d, d], dilation=[d, d], transposed=False, output_padding=[0, 0], groups=1)
        fwd = lambda: F.conv2d(xt, wt, padding=d, dilation=d)  # noqa: E731
    else:  # (KH, KW, C_out, C_in) → PyTorch's transposed weight (C_in, C_out, KH, KW)
        wt = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())
        pad = (k - s) // 2  # "same" for k=4, s=2: TensorFlow pads 1 on each side
        args = dict(
            stride=[s, s], padding=[pad, pad], dilation=[1, 1], transposed=True, output_padding=[0, 0], groups=1
        )
        fwd = lambda: F.conv_transpose2d(xt, wt, stride=s, padding=pad)  # noqa: E731
    wt = wt.contiguous(memory_format=cl)
    back = torch.ops.aten.convolution_backward

    def bwd():
        dx, dw, _ = back(dyt, xt, wt, None, output_mask=[True, True, False], **args)
        return dx, dw

    def to_nhwc(t):
        return t.permute(0, 2, 3, 1).contiguous().numpy()

    def fwd_np():
        with torch.no_grad():
            return to_nhwc(fwd())

    def bwd_np():
        with torch.no_grad():
            dx, dw = bwd()
        if name == "DW":
            dk = dw[:, 0].permute(1, 2, 0).reshape(k, k, *kernel.shape[2:]).numpy()
        else:
            dk = dw.permute(2, 3, 1, 0).numpy()
        return [to_nhwc(dx), dk]

    return (fwd_np, bwd_np)


_WORKERS = {"convlab": _convlab_ops, "tensorflow": _tf_ops, "pytorch": _torch_ops}


def worker(framework, reps, check_dir):
    """Time every case in this process; print ``{case: {op: seconds}}`` as JSON on the last line."""
    out = {}
    for name in CASES:
        x, kernel, dy = _inputs(name)
        fwd, bwd = _WORKERS[framework](name, x, kernel, dy)
        if check_dir:
            y, grads = fwd(), bwd()
            np.savez(Path(check_dir) / f"{framework}-{name}.npz", y=np.asarray(y), dx=grads[0], dk=grads[1])
        out[name] = {"forward": timeit(fwd, reps, warmup=2), "backward": timeit(bwd, reps, warmup=2)}
    print(json.dumps(out))


# --------------------------------------------------------------------------- the parent
def _available(framework):
    module = {"convlab": "convlab", "tensorflow": "tensorflow", "pytorch": "torch"}[framework]
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def _reference(name):
    """convlab's reference backend on the case's inputs: the numbers every framework must give."""
    import convlab
    from convlab.ops.conv_transpose import conv2d_transpose, conv2d_transpose_backward
    from convlab.ops.depthwise import depthwise_conv2d, depthwise_conv2d_backward

    x, kernel, dy = (a.astype(np.float64) for a in _inputs(name))
    p, ref = CASES[name], "numpy"  # numpy equals the reference in the tests, and is quick at these sizes
    if name == "DW":
        y = depthwise_conv2d(x, kernel, padding="same", backend=ref)
        dx, dk, _ = depthwise_conv2d_backward(dy, x, kernel, padding="same", backend=ref)
    elif name == "DIL":
        y = convlab.conv2d(x, kernel, padding="same", dilation_rate=p["dilation"], backend=ref)
        dx, dk, _ = convlab.conv2d_backward(dy, x, kernel, padding="same", dilation_rate=p["dilation"], backend=ref)
    else:
        y = conv2d_transpose(x, kernel, strides=p["stride"], padding="same", backend=ref)
        dx, dk, _ = conv2d_transpose_backward(dy, x, kernel, strides=p["stride"], padding="same", backend=ref)
    return {"y": y, "dx": dx, "dk": dk}


def _check(check_dir, frameworks):
    """``{(framework, case): "" or "CHECK FAILED (...)"}`` against the float64 numbers."""
    notes = {}
    for name in CASES:
        want = _reference(name)
        for fw in frameworks:
            path = Path(check_dir) / f"{fw}-{name}.npz"
            if not path.exists():
                continue
            with np.load(path) as got:
                worst = max(
                    float(np.max(np.abs(got[key] - want[key])) / max(1.0, float(np.max(np.abs(want[key])))))
                    for key in ("y", "dx", "dk")
                )
            notes[fw, name] = "" if worst <= 1e-3 else f"CHECK FAILED (error {worst:.1e})"
    return notes


def main(argv=None):
    from bench_machine import machine_info  # the same machine record as bench.py

    from convlab.util.cli_args import OneLineArgumentParser
    from convlab.util.files import atomic_path

    ap = OneLineArgumentParser(prog="benchmarks/bench_arith.py", description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3, help="processes per framework, alternating (default 3)")
    ap.add_argument("--reps", type=int, default=9, help="timed runs per process (default 9)")
    ap.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results/)")
    ap.add_argument("--worker", choices=FRAMEWORKS, help=argparse_hidden())
    ap.add_argument("--check-dir", default=None, help=argparse_hidden())
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker, args.reps, args.check_dir)
        return 0
    frameworks = [fw for fw in FRAMEWORKS if _available(fw)]
    times = {fw: [] for fw in frameworks}
    with tempfile.TemporaryDirectory() as check_dir:
        for r in range(args.rounds):
            for fw in frameworks:
                cmd = [sys.executable, __file__, "--worker", fw, "--reps", str(args.reps)]
                if r == 0:
                    cmd += ["--check-dir", check_dir]
                print(f"... round {r + 1}/{args.rounds}: {fw}", flush=True)
                done = subprocess.run(
                    cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
                )
                if done.returncode != 0:
                    raise SystemExit(f"{fw} worker failed:\n{done.stderr[-3000:]}")
                times[fw].append(json.loads(done.stdout.strip().splitlines()[-1]))
        notes = _check(check_dir, frameworks)
    rows = []
    for name in CASES:
        for op in OPS:
            med = {fw: statistics.median(t[name][op] for t in times[fw]) for fw in frameworks}
            others = [med[fw] for fw in ("tensorflow", "pytorch") if fw in med]
            rows.append(
                {
                    "case": name,
                    "op": op,
                    **{f"{fw}_s": med[fw] for fw in frameworks},
                    "ratio_to_fastest_other": med["convlab"] / min(others) if others else None,
                    "notes": "; ".join(f"{fw}: {notes[fw, name]}" for fw in frameworks if notes.get((fw, name))),
                }
            )
    info = machine_info()
    md = _markdown(rows, frameworks, info, args)
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "arith.md") as tmp:
        Path(tmp).write_text(md)
    with atomic_path(out / "arith.json") as tmp:
        Path(tmp).write_text(
            json.dumps({"machine": info, "rounds": args.rounds, "reps": args.reps, "rows": rows}, indent=1)
        )
    print(f"wrote {out / 'arith.md'} and arith.json")
    return 0


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


def _markdown(rows, frameworks, info, args):
    head = "| case | op | " + " | ".join(frameworks) + " | convlab / min(TF, PyTorch) | notes |"
    lines = [
        "# Depthwise, dilated and transposed convolution (each framework in its own process)",
        "",
        f"Machine: {info.get('cpu')}, {info.get('cpu_count')} cores, {' '.join(info.get('isa', []))}; "
        f"numpy {info.get('numpy')}, numba {info.get('numba')}; {args.rounds} rounds × {args.reps} runs, medians.",
        "",
        head,
        "|" + "---|" * (head.count("|") - 1),
    ]
    for r in rows:
        ratio = r["ratio_to_fastest_other"]
        cells = [f"{r[f'{fw}_s'] * 1e3:.2f} ms" for fw in frameworks]
        lines.append(
            f"| {r['case']} | {r['op']} | "
            + " | ".join(cells)
            + f" | {'' if ratio is None else f'{ratio:.2f}'} | {r['notes']} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
