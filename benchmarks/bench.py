"""convlab's benchmark suite: convolution, pooling and a training epoch against TensorFlow and PyTorch.

Run from the repository root, as users run it (the README explains why the
OpenBLAS variables some machines set are removed)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench.py [--quick] [--only W1,W2]
    convlab bench [--quick] [--only ...]          # the same, through the CLI

Each framework runs in **its own process** (``--worker``), in alternating rounds
(convlab, TensorFlow, PyTorch, convlab, …): TensorFlow's, PyTorch's, OpenBLAS'
and Numba's thread pools in one process disturb each other on a 2-core machine.
A worker times every workload (median of ``--reps`` runs after a warm-up) and
prints its rows as JSON; the parent reports the median over rounds and, per
row, the ratio to TensorFlow and to PyTorch from the same run.
``--in-process`` runs everything in this one process instead (the old method,
kept to see the interference). Workloads (float32 NHWC; flops = 2·N·OH·OW·F·KH·KW·C):

- W1: N=128, 28×28×1 → 32, 3×3, valid (MNIST's first layer)
- W2: N=64, 32×32×32 → 64, 3×3, same
- W3: N=8, 56×56×128 → 128, 3×3, same
- W4: the slides' 5×5×3 → 2, 3×3, stride 2, pad 1 (latency)
- POOL: 2×2 max pooling forward + backward on W2's output
- EPOCH: one training epoch of seeds/004's model (Conv2D(32,3,relu) →
  MaxPool2D(2) → Flatten → Dense(100,relu) → Dense(10,softmax)) over 60,000
  28×28 images at batch 128: ``convlab.Sequential.fit``, Keras ``fit``, and an
  eager PyTorch training loop (skipped with ``--quick``)
- PEAK: a float32 2048³ matrix product through NumPy — the machine's practical peak.

TensorFlow and PyTorch are optional (a framework that is not installed, or
``--no-tf`` / ``--no-torch``, has no rows). What each framework's rows time:
``benchmarks/bench_workloads.py``. Before timing, each worker saves its outputs and
gradients for the fixed inputs (first round); the parent compares them with
convlab's, and a difference above 1e-3 × max(1, max |convlab's value|) puts
"CHECK FAILED" in the row's note.

Outputs: the tables on stdout, and ``results.md``, ``results.json`` and
``results.png`` in ``--out`` (default ``benchmarks/results/``), each written to a
temporary file and renamed, with the machine (CPU, ISA flags, cores, the
matrix-product rate, library versions and threads) beside the numbers. Also
measured: the kernels' start-up in a fresh process and the peak memory of one W3
call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (str(ROOT), str(HERE)):  # run from a source checkout without installing; the sibling modules
    if p not in sys.path:
        sys.path.insert(0, p)

import bench_report as report  # noqa: E402
import bench_workloads  # noqa: E402
from bench_machine import machine_info  # noqa: E402

from convlab.util.cli_args import OneLineArgumentParser  # noqa: E402
from convlab.util.files import atomic_path  # noqa: E402

ALL = bench_workloads.ALL
FRAMEWORKS = list(bench_workloads.RUNNERS)


# --------------------------------------------------------------------------- correctness
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


def check_outputs(check_dir, workloads, names):
    """``{(impl, workload): "" | "CHECK FAILED: …"}``: each framework's saved outputs against convlab's.

    ``dx_tape``/``dk_tape`` (the GradientTape / autograd gradients) are compared
    with convlab's ``dx``/``dk`` too. A mismatch is also printed to stderr.
    """
    notes = {}
    for w in workloads:
        path = Path(check_dir) / f"convlab-{w}.npz"
        if not path.exists():
            continue
        with np.load(path) as want:
            for impl in names:
                other = Path(check_dir) / f"{impl}-{w}.npz"
                if impl == "convlab" or not other.exists():
                    continue
                failures = []
                with np.load(other) as got:
                    for key in got.files:
                        _compare(key, got[key], want[key.replace("_tape", "")], failures)
                if failures:
                    msg = "CHECK FAILED: " + "; ".join(failures)
                    print(f"WARNING: {w} {impl}: {msg}", file=sys.stderr, flush=True)
                    notes[impl, w] = msg
    return notes


def _saver(check_dir):
    if not check_dir:
        return lambda key, **arrays: None

    def save(key, **arrays):
        np.savez(Path(check_dir) / f"{key}.npz", **{k: np.asarray(v) for k, v in arrays.items()})

    return save


# --------------------------------------------------------------------------- processes
def worker(framework, workloads, reps, check_dir, first_round, ref_max_images):
    """Time ``workloads`` with one framework in this process; print ``{"rows", "info"}`` as JSON on the last line."""
    if framework == "convlab":
        from convlab.util import process

        process.quiet_openmp()  # before anything loads Numba's threading layer (see machine_info)
    runner = bench_workloads.RUNNERS[framework]
    extra = {"ref_max_images": ref_max_images} if framework == "convlab" else {}
    rows = runner(workloads, reps, _saver(check_dir), first_round, **extra)
    print(json.dumps({"rows": rows, "info": bench_workloads.framework_versions(framework)}))


def available(framework):
    """Whether ``framework``'s module is installed (asked in a child, so this process imports nothing)."""
    module = bench_workloads.MODULES[framework]
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def run_isolated(names, workloads, rounds, reps, check_dir, ref_max_images):
    """Every framework in its own process, ``rounds`` times, alternating; returns (rounds' rows, versions)."""
    all_rows, versions = [], {}
    for r in range(rounds):
        for fw in names:
            cmd = [sys.executable, __file__, "--worker", fw, "--only", ",".join(workloads), "--reps", str(reps)]
            cmd += ["--ref-images", str(ref_max_images)]
            if r == 0:
                cmd += ["--check-dir", check_dir, "--first-round"]
            print(f"... round {r + 1}/{rounds}: {fw}", flush=True)
            done = subprocess.run(
                cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            )
            if done.returncode != 0:
                raise SystemExit(f"{fw} worker failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            all_rows.append(result["rows"])
            versions.update(result["info"])
    return all_rows, versions


def run_in_process(names, workloads, reps, check_dir, ref_max_images):
    """Every framework in this process, one after the other (the frameworks' thread pools meet)."""
    from convlab.util import process

    process.quiet_openmp()
    save = _saver(check_dir)
    all_rows, versions = [], {}
    for fw in names:
        print(f"... {fw}", flush=True)
        extra = {"ref_max_images": ref_max_images} if fw == "convlab" else {}
        all_rows.append(bench_workloads.RUNNERS[fw](workloads, reps, save, True, **extra))
        versions.update(bench_workloads.framework_versions(fw))
    return all_rows, versions


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


# --------------------------------------------------------------------------- page faults per training step
_FAULTS_SNIPPET = r"""
import ctypes, resource, sys, time
import numpy as np
import convlab

if sys.argv[1] == "mallopt":  # glibc keeps freed blocks mapped: what convlab's fit once did (benchmarks/README.md)
    libc = ctypes.CDLL("libc.so.6")
    assert libc.mallopt(-3, 256 << 20) == 1 and libc.mallopt(-1, 1 << 30) == 1  # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD
rng = np.random.default_rng(0)
steps, batch = int(sys.argv[2]), 128
x = rng.random((steps * batch, 28, 28, 1), dtype=np.float32)
y = rng.integers(0, 10, len(x))
L = convlab.layers
model = convlab.Sequential([L.Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), L.MaxPooling2D(2),
                            L.Flatten(), L.Dense(100, activation="relu"), L.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x[: 10 * batch], y[: 10 * batch], epochs=1, batch_size=batch, verbose=0)  # compile, allocate
faults = []
for i in range(steps):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    model.train_on_batch(x[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch])
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(float(np.median(faults)), float(np.mean(faults)))
"""


def faults_per_step(steps=60):
    """Minor page faults per training step of seeds/004's model (batch 128), in fresh processes.

    ``{"plain": (median, mean), "mallopt": (median, mean)}``: glibc's allocator as
    it comes, and with ``mallopt`` told to keep freed memory mapped (which convlab's
    ``fit`` no longer does: the layers reuse their arrays instead). ``{}`` where
    ``resource`` or glibc is missing.
    """
    out = {}
    for mode in ("plain", "mallopt"):
        try:
            r = subprocess.run(
                [sys.executable, "-c", _FAULTS_SNIPPET, mode, str(steps)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=300,
            )
            if r.returncode == 0:
                median, mean = (float(v) for v in r.stdout.split()[-2:])
                out[mode] = (median, mean)
        except Exception:
            pass
    return out


# --------------------------------------------------------------------------- main
def main(argv=None):
    ap = OneLineArgumentParser(prog="benchmarks/bench.py", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one round, fewer repetitions, no training epoch")
    ap.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(ALL)} (PEAK always runs)")
    ap.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results/)")
    ap.add_argument("--reps", type=int, default=None, help="timed runs per process (default 9, 3 with --quick)")
    ap.add_argument(
        "--rounds", type=int, default=None, help="processes per framework, alternating (default 3, 1 with --quick)"
    )
    ap.add_argument(
        "--in-process", action="store_true", help="run every framework in this one process (they disturb each other)"
    )
    ap.add_argument("--no-tf", action="store_true", help="do not run TensorFlow")
    ap.add_argument("--no-torch", action="store_true", help="do not run PyTorch (as if it were not installed)")
    ap.add_argument("--no-compile-check", action="store_true", help="skip the fresh-process compile/load timing")
    ap.add_argument("--worker", choices=FRAMEWORKS, help=argparse_hidden())
    ap.add_argument("--check-dir", default=None, help=argparse_hidden())
    ap.add_argument("--first-round", action="store_true", help=argparse_hidden())
    ap.add_argument("--ref-images", type=int, default=2, help=argparse_hidden())
    args = ap.parse_args(argv)
    reps = args.reps or (3 if args.quick else 9)
    rounds = args.rounds or (1 if args.quick else 3)
    if reps < 1 or rounds < 1:
        ap.error(f"--reps and --rounds must be at least 1, got {reps} and {rounds}")
    only = ALL if args.only is None else [w.strip().upper() for w in args.only.split(",") if w.strip()]
    bad = [w for w in only if w not in ALL]
    if bad:
        ap.error(f"unknown workload(s) {bad}; choose from {ALL}")
    if args.worker:
        worker(args.worker, only, reps, args.check_dir, args.first_round, args.ref_images)
        return 0
    if args.quick and args.only is None:
        only = [w for w in only if w != "EPOCH"]
    ref_images = 1 if args.quick else 2

    out = Path(args.out)
    compile_info = None if args.no_compile_check else compile_times()
    names = ["convlab"] + [
        fw for fw, off in (("tensorflow", args.no_tf), ("pytorch", args.no_torch)) if not off and available(fw)
    ]
    with tempfile.TemporaryDirectory() as check_dir:
        if args.in_process:
            all_rows, versions = run_in_process(names, only, reps, check_dir, ref_images)
            how = f"Every framework in one process (--in-process), median of {reps} runs."
        else:
            all_rows, versions = run_isolated(names, only, rounds, reps, check_dir, ref_images)
            how = (
                f"Each framework in its own process, {rounds} alternating round(s) × {reps} runs, "
                "median of the medians."
            )
        notes = check_outputs(check_dir, only, names)
    rows = report.combine_rounds(all_rows)
    for r in rows:
        msg = notes.get((r["impl"] if r["impl"] in names else "convlab", r["workload"]))
        if msg and r["impl"] in ("tensorflow", "pytorch"):
            r["note"] = f"{r['note']}; {msg}" if r["note"] else msg
    peak_row = next(r for r in rows if r["workload"] == "PEAK")
    peak = peak_row["flops"] / peak_row["time_s"]
    rows = report.add_ratios(rows, peak)
    info = {**machine_info(), **versions, "method": "in-process" if args.in_process else "isolated processes"}
    info.update(rounds=1 if args.in_process else rounds, reps=reps)
    memory = {} if args.quick or args.only is not None and "W3" not in only else memory_w3()
    faults = faults_per_step() if "EPOCH" in only else {}
    md = report.to_markdown(rows, info, peak, compile_info, memory, how, faults)
    print(md)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "results.md") as tmp:
        Path(tmp).write_text(md)
    with atomic_path(out / "results.json") as tmp:
        payload = {
            "machine": info,
            "peak_flops_s": peak,
            "compile": compile_info,
            "memory_w3": memory,
            "faults_per_step": faults,
            "summary": report.summary(rows),
            "rows": rows,
        }
        Path(tmp).write_text(json.dumps(payload, indent=1, default=str))
    try:
        report.plot(rows, peak, out / "results.png")
    except Exception as exc:  # the numbers matter more than the picture
        print(f"(plot skipped: {exc})")
    print(f"wrote {out / 'results.md'}, results.json, results.png")
    return 0


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    sys.exit(main())
